//! The bytecode interpreter: one dispatch loop over an explicit stack of activations.
//!
//! Owns: frame entry and exit, the handlers of every bytecode, and unwinding (non-local
//! return, errors, exit). A SOM send to a method with code, or an evaluation of a block,
//! pushes a frame and continues the same loop — no Rust recursion per SOM call. Only
//! primitives that call back into SOM (`perform:`, `doesNotUnderstand:` handling, …) nest a
//! new loop through `Engine::run_code`. Must never: keep a value in a Rust local across a
//! send or a safepoint (the GC moves objects); values live on the value stack.

use lang::compile::hir::Code;
use lang::runtime::control;
use lang::runtime::dispatch::{self, MAX_PRIMITIVE_ARGS};
use lang::runtime::engine::{Result, Unwind};
use lang::runtime::method::{Method, MethodBody};
use lang::runtime::object;
use lang::runtime::universe::NO_PC;
use lang::runtime::value::Value;

use crate::bytecode::Op;
use crate::dispatch_loop::LoopEnd;
use crate::handlers::Regs;
use crate::method::BcMethod;
use crate::{BcEngine, Dispatch};

/// Where execution continues in a caller: after the send at the recorded pc.
const RESUME_AFTER_SEND: usize = 1;

impl BcEngine {
    /// The verified bytecode of a method, compiled on its first call.
    #[inline(always)]
    pub(crate) fn code_of(&mut self, method: &'static Method) -> Result<&'static BcMethod> {
        match method.engine_index.get() {
            0 => self.compile(method),
            i => Ok(self.compiled[i as usize - 1]),
        }
    }

    #[inline(never)]
    fn compile(&mut self, method: &'static Method) -> Result<&'static BcMethod> {
        let code: &Code = method.code().expect("only methods with code are compiled");
        let compiled =
            crate::compiler::compile(&mut self.u, method, code).map_err(|e| self.u.error(e.0))?;
        if let Err(e) = crate::verifier::verify(&compiled) {
            return Err(self.u.error(format!(
                "internal error: {} failed verification: {e}",
                method.display_name()
            )));
        }
        let any = method.engine_code.get_or_init(|| Box::new(compiled));
        let code: &'static BcMethod = any
            .downcast_ref()
            .expect("bytecode on a method run by the bytecode engine");
        self.compiled.push(code);
        method.engine_index.set(self.compiled.len() as u32);
        Ok(code)
    }

    /// Pushes an activation of `method` whose receiver (or block) and arguments are the top
    /// `nargs + 1` values of the stack.
    fn enter(&mut self, method: &'static Method, nargs: usize) -> Result<()> {
        let fp = self.u.stack.len() - nargs - 1;
        let code = match self.code_of(method) {
            Ok(c) => c,
            Err(e) => {
                self.u.stack.truncate(fp);
                return Err(e);
            }
        };
        self.u.safepoint();
        if let Err(e) = self.u.push_frame(method, code.line, fp) {
            self.u.stack.truncate(fp);
            return Err(e);
        }
        let nil = self.u.nil;
        self.u.stack.resize(fp + code.frame_slots, nil);
        if code.is_block {
            let block = self.u.stack[fp];
            self.u.stack[fp + code.self_slot] = object::value_at(block, object::BLOCK_RECEIVER);
            if code.context_size == 0 {
                self.u.stack[fp + code.head_slot] = object::value_at(block, object::BLOCK_OUTER);
            }
        }
        if code.context_size > 0 {
            let outer = if code.is_block {
                object::value_at(self.u.stack[fp], object::BLOCK_OUTER)
            } else {
                nil
            };
            let ctx = self.u.new_context(outer, code.context_size)?;
            for &(slot, index) in &code.captured_params {
                object::init_value_at(ctx, index as usize, self.u.stack[fp + slot as usize]);
            }
            self.u.stack[fp + code.context_slot] = ctx;
        }
        Ok(())
    }

    /// Pops the current activation; its value stack ends at its frame pointer.
    pub(crate) fn leave(&mut self) {
        let base = self.u.frames.last().expect("a frame to leave").base;
        self.u.pop_frame();
        self.u.stack.truncate(base);
    }

    /// Runs `method` to completion: the entry point for sends from the runtime.
    pub(crate) fn execute(&mut self, method: &'static Method, nargs: usize) -> Result<Value> {
        let entry = self.u.frames.len();
        let base = self.u.stack.len() - nargs - 1;
        self.enter(method, nargs)?;
        loop {
            match self.run(entry) {
                Ok(v) => return Ok(v),
                Err(Unwind::NonLocalReturn { home, value }) => {
                    match self.u.frames[entry..].iter().rposition(|f| f.id == home) {
                        Some(i) => {
                            // The home activation returns `value` to its caller.
                            let home_index = entry + i;
                            while self.u.frames.len() > home_index {
                                self.leave();
                            }
                            if home_index == entry {
                                return Ok(value);
                            }
                            self.u.stack.push(value);
                        }
                        None => {
                            self.unwind_to(entry, base);
                            return Err(Unwind::NonLocalReturn { home, value });
                        }
                    }
                }
                Err(e) => {
                    self.unwind_to(entry, base);
                    return Err(e);
                }
            }
        }
    }

    fn unwind_to(&mut self, entry: usize, base: usize) {
        while self.u.frames.len() > entry {
            self.u.pop_frame();
        }
        self.u.stack.truncate(base);
    }

    /// The error for a non-Boolean reaching an inlined test at `pc`.
    pub(crate) fn not_boolean(&mut self, code: &BcMethod, pc: usize, v: Value) -> Unwind {
        let line = code.lines[pc];
        control::not_boolean(&mut self.u, v, code.jump_selector(pc), line)
    }

    /// Runs until the activation at depth `entry` returns, with the dispatch variant chosen
    /// at start-up.
    fn run(&mut self, entry: usize) -> Result<Value> {
        let outer = std::mem::replace(&mut self.entry, entry);
        let result = loop {
            let end = if self.recording.is_some() {
                self.dispatch_loop_recording()
            } else {
                match self.dispatch {
                    Dispatch::Match => self.dispatch_loop_match(),
                    Dispatch::Table => self.dispatch_loop_table(),
                }
            };
            match end {
                Ok(LoopEnd::Returned(v)) => break Ok(v),
                Ok(LoopEnd::Switch) => continue,
                Err(e) => {
                    self.abandon_recording();
                    break Err(e);
                }
            }
        };
        self.entry = outer;
        result
    }

    /// The registers of the activation on top: a new one starts at 0, a caller continues
    /// after the send it recorded.
    #[inline(always)]
    pub(crate) fn top_regs(&mut self) -> Regs {
        let f = *self.u.frames.last().expect("a frame to run");
        let code = self.compiled[f.method.engine_index.get() as usize - 1];
        let pc = match self.resume_at.take() {
            Some(pc) => pc,
            None if f.pc == NO_PC => 0,
            None => f.pc as usize + RESUME_AFTER_SEND,
        };
        Regs {
            code,
            instrs: &code.code,
            fp: f.base,
            pc,
        }
    }

    /// Ends a dispatch loop so that another continues at `r.pc`.
    pub(crate) fn hand_over(&mut self, pc: usize) -> LoopEnd {
        self.resume_at = Some(pc);
        LoopEnd::Switch
    }

    /// The end of every send: runs the method found, or `doesNotUnderstand:arguments:`.
    /// Answers true when a new activation was pushed.
    #[inline(always)]
    pub(crate) fn perform(
        &mut self,
        method: Option<&'static Method>,
        selector: Value,
        nargs: usize,
    ) -> Result<bool> {
        match method {
            Some(m) => self.call(m, nargs),
            None => {
                let v = dispatch::does_not_understand(self, selector, nargs)?;
                self.u.stack.push(v);
                Ok(false)
            }
        }
    }

    /// Invokes `m` for a send whose receiver and arguments are on the stack. Answers true when
    /// a new activation was pushed (the loop continues in it), false when the result is
    /// already on the stack (primitives).
    #[inline]
    fn call(&mut self, m: &'static Method, nargs: usize) -> Result<bool> {
        if let Some(v) = dispatch::run_trivial(&mut self.u, m, nargs) {
            self.u.stack.push(v);
            return Ok(false);
        }
        match &m.body {
            MethodBody::Code(_) => {
                self.enter(m, nargs)?;
                Ok(true)
            }
            // Only a real block: a library on the classpath may give other receivers the
            // block primitives (`Integer = Block (...)`), and the primitive reports that.
            MethodBody::Primitive(_, index)
                if self.block_primitives[*index] && {
                    let receiver = self.u.stack[self.u.stack.len() - nargs - 1];
                    receiver.is_ref() && object::kind(receiver) == lang::gc::Kind::Block
                } =>
            {
                let block = self.u.stack[self.u.stack.len() - nargs - 1];
                let method = Method::from_value(object::value_at(block, object::BLOCK_METHOD));
                if method.params != nargs {
                    // The runtime words the arity error the same way for every engine.
                    let v = dispatch::call_block(self, nargs)?;
                    self.u.stack.push(v);
                    return Ok(false);
                }
                self.enter(method, nargs)?;
                Ok(true)
            }
            _ => {
                debug_assert!(nargs < MAX_PRIMITIVE_ARGS);
                let v = dispatch::invoke(self, m, nargs)?;
                self.u.stack.push(v);
                Ok(false)
            }
        }
    }

    /// The context at `level` from this activation's chain head.
    #[inline(always)]
    pub(crate) fn context(&self, code: &BcMethod, fp: usize, level: usize) -> Value {
        let mut ctx = self.u.stack[fp + code.head_slot];
        for _ in 0..level {
            ctx = object::value_at(ctx, object::CONTEXT_OUTER);
        }
        ctx
    }

    /// Arithmetic and comparisons on small integers and immediate doubles, as the primitives
    /// would compute them; `None` means "send the message".
    #[inline(always)]
    pub(crate) fn compute(
        &mut self,
        op: Op,
        int_fast: bool,
        double_fast: bool,
        l: Value,
        r: Value,
    ) -> Option<Value> {
        if int_fast && l.is_small_int() && r.is_small_int() {
            let (x, y) = (l.small_int_unchecked(), r.small_int_unchecked());
            return Some(match op {
                Op::Add => l.small_add(r)?,
                Op::Subtract => l.small_sub(r)?,
                Op::Multiply => Value::try_small_int(x.checked_mul(y)?)?,
                Op::LessThan => self.u.boolean(x < y),
                Op::GreaterThan => self.u.boolean(x > y),
                Op::LessOrEqual => self.u.boolean(x <= y),
                Op::GreaterOrEqual => self.u.boolean(x >= y),
                _ => self.u.boolean(x == y),
            });
        }
        if double_fast && l.is_immediate_double() && r.is_immediate_double() {
            let (x, y) = (
                l.immediate_double_unchecked(),
                r.immediate_double_unchecked(),
            );
            return Some(match op {
                Op::Add => self.u.double(x + y),
                Op::Subtract => self.u.double(x - y),
                Op::Multiply => self.u.double(x * y),
                Op::LessThan => self.u.boolean(x < y),
                Op::GreaterThan => self.u.boolean(x > y),
                Op::LessOrEqual => self.u.boolean(x <= y),
                Op::GreaterOrEqual => self.u.boolean(x >= y),
                _ => self.u.boolean(x == y),
            });
        }
        None
    }

    /// The loop test of an inlined `to:do:` over numbers other than small integers: by
    /// sends of `<=` (or `>=` for a negative step), as the AST engine does.
    pub(crate) fn generic_loop_test(&mut self, c: usize, line: u32) -> Result<bool> {
        let (i, end, step) = (self.u.stack[c], self.u.stack[c + 1], self.u.stack[c + 2]);
        let descending = control::step_descends(&mut self.u, step, line)?;
        self.u.stack.push(i);
        self.u.stack.push(end);
        let sel = if descending {
            self.greater_or_equal
        } else {
            self.less_or_equal
        };
        let answer = dispatch::send(self, sel, 1)?;
        Ok(answer == self.u.true_)
    }
}
