//! The AST engine: runs SOM methods by walking a self-optimizing node tree.
//!
//! Owns: activations on the Rust stack (one `run_code` per SOM activation, its slots on the
//! shared value stack), the stack-depth guard, and node evaluation (`eval`) over trees built
//! from `lang`'s resolved code (`node`). Must never: implement anything the bytecode engine
//! would need too — values, lookup, primitives, the GC and inlining decisions live in `lang`.

pub mod counts;
mod eval;
pub mod node;
mod record;
mod traces;

use lang::runtime::engine::{Engine, Result, Unwind};
use lang::runtime::method::Method;
use lang::runtime::object;
use lang::runtime::universe::Universe;
use lang::runtime::value::Value;

pub struct AstEngine {
    pub u: Universe,
    /// The address below which the Rust stack may not grow (SOM recursion is Rust recursion
    /// here); beyond it a send fails with a SOM error instead of overflowing the stack.
    stack_limit: usize,
    /// Node trees built so far, by `Method::engine_index - 1`.
    built: Vec<&'static node::AstMethod>,
    /// The loop iteration being recorded, if any.
    recording: Option<Box<record::AstRecording>>,
    /// Set when a recording-mode loop returns to the plain evaluator at its header.
    back_at_header: bool,
    /// Where compiled code left, while the evaluation unwinds to the loop that resumes there.
    left: Option<traces::Left>,
    /// Buffers for running traces, reused.
    trace_slots: Vec<u64>,
    trace_exit_values: Vec<u64>,
    /// Evaluations per node kind (`som --count-dispatch`).
    #[cfg(feature = "dispatch-counts")]
    pub counts: counts::NodeCounts,
}

/// An address on the current Rust stack, without unsafe code.
#[inline(always)]
fn stack_address() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

impl AstEngine {
    /// An engine whose recursion may use up to `stack_bytes` of the current thread's stack,
    /// counted from here (the caller's thread must have that much, plus a margin).
    pub fn new(u: Universe, stack_bytes: usize) -> AstEngine {
        AstEngine {
            u,
            stack_limit: stack_address().saturating_sub(stack_bytes),
            built: Vec::new(),
            recording: None,
            back_at_header: false,
            left: None,
            trace_slots: Vec::new(),
            trace_exit_values: Vec::new(),
            #[cfg(feature = "dispatch-counts")]
            counts: Default::default(),
        }
    }
}

impl AstEngine {
    /// Gives an activation whose variables blocks capture its context, with the captured
    /// parameters copied in.
    fn make_context(&mut self, code: &node::AstMethod, base: usize) -> Result<()> {
        if code.context_size == 0 {
            return Ok(());
        }
        let outer = if code.is_block {
            object::value_at(self.u.stack[base], object::BLOCK_OUTER)
        } else {
            self.u.nil
        };
        let ctx = self.u.new_context(outer, code.context_size)?;
        for &(slot, index) in code.captured_params.iter() {
            object::init_value_at(ctx, index as usize, self.u.stack[base + slot as usize]);
        }
        self.u.stack[base + code.context_slot] = ctx;
        Ok(())
    }
}

impl Engine for AstEngine {
    fn universe(&mut self) -> &mut Universe {
        &mut self.u
    }

    fn run_code(&mut self, method: &'static Method, nargs: usize) -> Result<Value> {
        let base = self.u.stack.len() - nargs - 1;
        if stack_address() < self.stack_limit {
            let depth = self.u.frames.len();
            let e = self.u.error(format!(
                "stack exhausted: {depth} nested activations (deep or infinite recursion)"
            ));
            self.u.stack.truncate(base);
            return Err(e);
        }
        let code = eval::code_of(self, method);
        debug_assert_eq!(code.params, nargs);
        self.u.safepoint();
        let id = match self.u.push_frame(method, code.line, base) {
            Ok(id) => id,
            Err(e) => {
                self.u.stack.truncate(base);
                return Err(e);
            }
        };
        let nil = self.u.nil;
        self.u.stack.resize(base + code.frame_slots, nil);
        let result = match self.make_context(code, base) {
            // Once a recording has stopped, new activations run plainly.
            Ok(())
                if self
                    .recording
                    .as_ref()
                    .is_some_and(|r| r.rec.aborted().is_none()) =>
            {
                self.eval_recording(&code.body, base)
            }
            // A method called often may run as a trace, or be recorded.
            Ok(()) if self.u.options.jit.enabled && self.recording.is_none() => {
                match self.method_entry(code, base) {
                    Some(result) => result,
                    None => self.eval(&code.body, base),
                }
            }
            Ok(()) => self.eval(&code.body, base),
            Err(e) => Err(e),
        };
        let result = match result {
            Err(Unwind::ToLoop { .. }) => self.body_resumed(code, base, result),
            result => result,
        };
        self.u.pop_frame();
        self.u.stack.truncate(base);
        match result {
            Err(Unwind::NonLocalReturn { home, value }) if home == id => Ok(value),
            other => other,
        }
    }
}
