//! The bytecode engine: compiles `lang`'s resolved code to a compact bytecode, verifies it
//! once, and runs it in a dispatch loop over an explicit stack of activations.
//!
//! Owns: the bytecode set (`bytecode`, one table), compiled methods (`method`), the compiler
//! (`compiler`), the verifier (`verifier`), the interpreter (`interp`: activations and
//! unwinding; `handlers`: one function per bytecode; `dispatch_loop`: the dispatch variants),
//! the JIT's hooks (`record`: what a recorded iteration becomes; `traces`: hot loops and
//! running compiled traces) and the disassembler
//! (`disasm`). Must never: implement anything the AST engine needs too — values, lookup,
//! primitives, the GC, inlining decisions and error wording live in `lang`.

pub mod bytecode;
pub mod compiler;
#[cfg(feature = "dispatch-counts")]
pub mod counts;
pub mod disasm;
mod dispatch_loop;
mod handlers;
mod interp;
pub mod method;
mod record;
mod traces;
pub mod verifier;

use lang::runtime::engine::{Engine, Result};
use lang::runtime::method::Method;
use lang::runtime::universe::Universe;
use lang::runtime::value::Value;

/// How the interpreter gets from one instruction to the next (`som --dispatch`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dispatch {
    /// A central `match` on the opcode (a jump table, replicated into the handlers).
    #[default]
    Match,
    /// A table of handler functions, one indirect call per instruction.
    Table,
}

pub struct BcEngine {
    pub u: Universe,
    /// The dispatch variant the loop runs with.
    pub dispatch: Dispatch,
    /// The frame depth at which the running dispatch loop returns.
    entry: usize,
    /// The loop iteration being recorded, if any (`record`).
    recording: Option<lang::tracing::Recording>,
    /// Where the next dispatch loop starts when one loop hands over to another mid-method
    /// (entering or leaving recording): the pc of the instruction not yet executed.
    resume_at: Option<usize>,
    /// Buffers for a compiled trace's slots and exit values, reused from run to run.
    trace_slots: Vec<u64>,
    trace_exit_values: Vec<u64>,
    /// Compiled methods, by `Method::engine_index - 1`.
    compiled: Vec<&'static method::BcMethod>,
    /// By primitive index: whether it is a block evaluation (`value`, `value:`,
    /// `value:with:`), which the interpreter runs as a new activation, without recursion.
    block_primitives: Vec<bool>,
    #[cfg(feature = "dispatch-counts")]
    pub counts: counts::DispatchCounts,
    plus: Value,
    less_or_equal: Value,
    greater_or_equal: Value,
}

/// Maps a recorded pc to its source line, for backtraces.
fn pc_to_line(method: &'static Method, pc: u32) -> u32 {
    method
        .engine_code
        .get()
        .and_then(|c| c.downcast_ref::<method::BcMethod>())
        .and_then(|m| m.lines.get(pc as usize).copied())
        .unwrap_or(0)
}

impl BcEngine {
    pub fn new(mut u: Universe) -> BcEngine {
        u.pc_to_line = pc_to_line;
        let block_primitives = (0..lang::primitives::PRIMITIVES.len())
            .map(lang::primitives::evaluates_block)
            .collect();
        let plus = u.intern("+");
        let less_or_equal = u.intern("<=");
        let greater_or_equal = u.intern(">=");
        BcEngine {
            u,
            dispatch: Dispatch::default(),
            entry: 0,
            recording: None,
            resume_at: None,
            trace_slots: Vec::new(),
            trace_exit_values: Vec::new(),
            compiled: Vec::new(),
            #[cfg(feature = "dispatch-counts")]
            counts: Default::default(),
            block_primitives,
            plus,
            less_or_equal,
            greater_or_equal,
        }
    }

    /// The disassembly of a method (compiling it if needed).
    pub fn disassemble(&mut self, method: &'static Method) -> Result<String> {
        Ok(disasm::disassemble(self.code_of(method)?))
    }
}

impl Engine for BcEngine {
    fn universe(&mut self) -> &mut Universe {
        &mut self.u
    }

    fn run_code(&mut self, method: &'static Method, nargs: usize) -> Result<Value> {
        self.execute(method, nargs)
    }
}
