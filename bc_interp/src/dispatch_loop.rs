//! The dispatch loops: fetch an instruction, advance `pc`, jump to its handler.
//!
//! Owns: the two dispatch variants `som --dispatch` chooses between, and the loop that runs
//! while the JIT records, all generated from the one op-to-handler list in `handlers`:
//! - `match`: a central `match` on the opcode, every handler inlined into one function,
//!   which LLVM compiles to a jump table and replicates at the end of each handler;
//! - `table`: a table of handler functions indexed by opcode, one indirect call per
//!   instruction ("call threading").
//!
//! The functions are `#[inline(never)]` and named `dispatch_loop_*` so that the measurements
//! find them in the release binary and pin their code (`measurements disasm`, the dispatch
//! snapshots). Must never: do an instruction's work here; the fetch is all this file does.

use lang::runtime::engine::Result;
use lang::runtime::value::Value;

use crate::bytecode::{Instr, Op};
use crate::handlers::{Flow, Handler, Regs};
use crate::BcEngine;

/// What every dispatch loop does with a handler's `Flow`.
macro_rules! after_handler {
    ($engine:ident, $r:ident, $flow:expr) => {
        match $flow {
            Ok(Flow::Next) => $r.pc += 1,
            Ok(Flow::Goto) => {}
            Ok(Flow::Done(v)) => return Ok(LoopEnd::Returned(v)),
            Ok(Flow::Switch) => return Ok($engine.hand_over($r.pc)),
            Err(e) => return Err(e),
        }
    };
}

macro_rules! generate_dispatch_loops {
    ($($op:ident => $handler:ident,)*) => {
        /// The handler of every op, indexed by opcode byte, for the `table` variant: 256
        /// entries, so that indexing with a `u8` needs no bounds check; the entries past the
        /// last op are never reached (opcodes are typed) and report an internal error.
        static HANDLERS: [Handler; 256] = {
            // The ops' entries are all overwritten below: the `match` in
            // `dispatch_loop_match`, built from the same list, does not compile unless the
            // list names every op.
            let mut table = [BcEngine::no_such_op as Handler; 256];
            $( table[Op::$op as usize] = BcEngine::$handler; )*
            table
        };

        impl BcEngine {
            /// The `match` variant. Runs until the activation at depth `self.entry` returns.
            #[inline(never)]
            pub(crate) fn dispatch_loop_match(&mut self) -> Result<LoopEnd> {
                let mut r = self.top_regs();
                loop {
                    // Only the opcode is fetched here: each handler loads its own operands
                    // (the same word, already bounds-checked), so that the dispatch sequence
                    // is the advance, the fetch and the jump.
                    let op = r.instrs[r.pc].op;
                    #[cfg(feature = "dispatch-counts")]
                    self.counts.record(op);
                    let flow = match op {
                        $( Op::$op => { let instr = r.instrs[r.pc]; self.$handler(&mut r, instr) } )*
                    };
                    after_handler!(self, r, flow);
                }
            }

            /// The `table` variant: the same handlers, called through `HANDLERS`.
            #[inline(never)]
            pub(crate) fn dispatch_loop_table(&mut self) -> Result<LoopEnd> {
                let mut r = self.top_regs();
                loop {
                    let instr = r.instrs[r.pc];
                    #[cfg(feature = "dispatch-counts")]
                    self.counts.record(instr.op);
                    let flow = HANDLERS[instr.op as u8 as usize](self, &mut r, instr);
                    after_handler!(self, r, flow);
                }
            }

            /// The loop that records: each instruction is first written down as IR
            /// (`record`), then executed by the same handlers. Hands back to the chosen
            /// variant when the recording ends.
            #[inline(never)]
            pub(crate) fn dispatch_loop_recording(&mut self) -> Result<LoopEnd> {
                let mut r = self.top_regs();
                loop {
                    let instr = r.instrs[r.pc];
                    if !self.record(&r, instr) {
                        return Ok(self.hand_over(r.pc));
                    }
                    let flow = match instr.op {
                        $( Op::$op => self.$handler(&mut r, instr), )*
                    };
                    after_handler!(self, r, flow);
                }
            }
        }
    };
}

crate::with_handlers!(generate_dispatch_loops);

/// Why a dispatch loop returned.
pub(crate) enum LoopEnd {
    /// The activation it was started for returned this value.
    Returned(Value),
    /// Another loop goes on (recording started or ended) at `BcEngine::resume_at`.
    Switch,
}

impl BcEngine {
    /// The `table` entries that no op uses.
    fn no_such_op(&mut self, _: &mut Regs, i: Instr) -> Result<Flow> {
        Err(self.u.error(format!(
            "internal error: no handler for opcode {}",
            i.op as u8
        )))
    }
}
