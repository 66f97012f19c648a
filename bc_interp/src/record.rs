//! The bytecode engine's side of the JIT: hot loops, recording each instruction of one
//! iteration, and running compiled traces.
//!
//! Owns: counting back edges per loop header, starting and ending a recording, what each
//! bytecode records (through `lang::tracing::Recording`, which owns the IR of every
//! runtime-level operation), and entering a trace at a header and resuming at the pc of its
//! exit. Must never: record an instruction after executing it (recording happens before, with
//! the concrete values the handler is about to use), or let a trace run when the loop frame
//! does not have the positions the trace reads.

use jit::ir::Op as IrOp;
use jit::recorder::Abort;
use lang::runtime::value::Value;
use lang::tracing::recording::Compare;
use lang::tracing::{Recording, Shadow};

use crate::bytecode::{Instr, Op};
use crate::handlers::{Flow, Regs};
use crate::method::BcMethod;
use crate::BcEngine;
use lang::runtime::engine::Result;

impl BcEngine {
    /// At a loop header `header` of `code`, reached by a back edge: runs the loop's trace if
    /// it has one, or counts the iteration and starts recording when the loop is hot.
    /// Answers how the dispatch loop goes on and at which pc. (Registers are passed by value
    /// so that the dispatch loop keeps its own in machine registers.)
    #[inline(never)]
    pub(crate) fn back_edge(
        &mut self,
        code: &'static BcMethod,
        fp: usize,
        header: usize,
    ) -> Result<(Flow, usize)> {
        if self.recording.is_some() {
            return Ok((Flow::Goto, header)); // `record` saw this back edge already
        }
        let options = self.u.options.jit;
        let trace = {
            let mut loops = code.loops.borrow_mut();
            let state = loops.entry(header).or_default();
            if let Some(t) = &state.trace {
                Some(t.clone())
            } else if state.hot(&options) {
                None
            } else {
                return Ok((Flow::Goto, header));
            }
        };
        match trace {
            Some(trace) => Ok((Flow::Goto, self.run_trace(fp, &trace))),
            None => {
                let depth = self.u.stack.len() - fp;
                self.recording = Some(Recording::new(code.method, header as u32, depth, &options));
                self.u.jit_stats.recordings += 1;
                Ok((Flow::Switch, header))
            }
        }
    }

    /// Runs a compiled trace on the loop frame at `fp`; answers the pc where it left.
    fn run_trace(&mut self, fp: usize, trace: &jit::backend::CompiledTrace) -> usize {
        let mut slots: Vec<u64> = (fp..self.u.stack.len())
            .map(|i| self.u.stack[i].raw())
            .collect();
        let mut exit_values = Vec::new();
        let safepoint = std::cell::Cell::new(0);
        self.u.jit_stats.entries += 1;
        // Under --jit-stress-guards, leave at the 1st, 2nd, … 7th guard in turn.
        let countdown = 1 + self.u.jit_stats.entries % 7;
        let exit = trace.run(&mut slots, &mut exit_values, &safepoint, countdown);
        self.u.jit_stats.exits += 1;
        // The trace's exit values are the loop frame's positions, slots then operands.
        self.u.stack.truncate(fp);
        for raw in exit_values.iter() {
            self.u.stack.push(Value::from_raw(*raw));
        }
        trace.position(exit.snapshot)[0] as usize
    }

    /// Ends the recording: compiled, or aborted for `reason` (counted per loop).
    fn end_recording(&mut self, reason: Option<Abort>) {
        let Some(recording) = self.recording.take() else {
            return;
        };
        let header = recording.header as usize;
        let method = recording.method;
        let options = self.u.options.jit;
        let result = match reason {
            Some(reason) => Err(reason.describe()),
            None => recording.finish(&options, &mut self.u.jit_stats),
        };
        let code = self.compiled[method.engine_index.get() as usize - 1];
        let mut loops = code.loops.borrow_mut();
        let state = loops.entry(header).or_default();
        match result {
            Ok(trace) => state.trace = Some(trace),
            Err(reason) => {
                self.u.jit_stats.abort(reason);
                state.aborted(&options, &mut self.u.jit_stats);
            }
        }
    }

    /// Abandons a recording because execution left it by an error or an unwind.
    pub(crate) fn abandon_recording(&mut self) {
        if self.recording.is_some() {
            self.end_recording(Some(Abort::LeftLoop));
        }
    }

    /// Records `instr`, about to be executed at `r.pc`. Answers false when the recording has
    /// ended (closed or aborted): the instruction then runs in the other dispatch loop.
    pub(crate) fn record(&mut self, r: &Regs, instr: Instr) -> bool {
        let Some(mut rec) = self.recording.take() else {
            return false;
        };
        let closes = self.record_instruction(&mut rec, r, instr);
        let aborted = rec.aborted();
        self.recording = Some(rec);
        match (closes, aborted) {
            (_, Some(reason)) => {
                self.end_recording(Some(reason));
                false
            }
            (true, None) => {
                self.end_recording(None);
                false
            }
            (false, None) => true,
        }
    }

    /// Writes down one instruction; answers whether it closes the loop.
    fn record_instruction(&mut self, rec: &mut Recording, r: &Regs, instr: Instr) -> bool {
        let pc = r.pc;
        let fp = r.fp;
        let len = self.u.stack.len() - fp;
        if !std::ptr::eq(r.code.method, rec.method) {
            rec.abort(Abort::LeftLoop);
            return false;
        }
        let (a, b) = (instr.a as usize, instr.b as usize);
        let concrete = |e: &BcEngine, from_top: usize| e.u.stack[e.u.stack.len() - 1 - from_top];
        match instr.op {
            Op::PushSlot => {
                let s = rec.read(a);
                rec.push(s);
            }
            Op::StoreSlot => {
                let s = rec.top();
                rec.write(a, s);
            }
            Op::PopSlot => {
                let s = rec.pop();
                rec.write(a, s);
            }
            Op::PushConst => {
                let s = rec.constant(r.code.literals[b]);
                rec.push(s);
            }
            Op::PushNil | Op::PushTrue | Op::PushFalse => {
                let v = match instr.op {
                    Op::PushNil => self.u.nil,
                    Op::PushTrue => self.u.true_,
                    _ => self.u.false_,
                };
                let s = rec.constant(v);
                rec.push(s);
            }
            Op::Pop => {
                rec.pop();
            }
            Op::Dup => {
                let s = rec.top();
                rec.push(s);
            }
            Op::Jump => {}
            // An instance-side method's receiver (slot 0) is an object of the method's holder
            // (or a subclass) on every execution, so its fields need no guard.
            Op::PushField => {
                let receiver = rec.read(0);
                let s = rec.receiver_field(receiver, a);
                rec.push(s);
            }
            Op::Add | Op::Subtract | Op::Multiply => {
                let (left, right) = (concrete(self, 1), concrete(self, 0));
                let site = &r.code.sites[b];
                let op = match instr.op {
                    Op::Add => IrOp::AddOv,
                    Op::Subtract => IrOp::SubOv,
                    _ => IrOp::MulOv,
                };
                let fits = small_ints_fit(op, left, right);
                if !(site.int_fast && fits) {
                    rec.abort(Abort::Unsupported(
                        "arithmetic other than on small integers",
                    ));
                    return false;
                }
                let snapshot = rec.snapshot(pc as u32, len);
                let right = rec.pop();
                let left = rec.pop();
                let s = rec.int_arithmetic(op, left, right, snapshot);
                rec.push(s);
            }
            Op::LessThan | Op::GreaterThan | Op::LessOrEqual | Op::GreaterOrEqual | Op::Equal => {
                let (left, right) = (concrete(self, 1), concrete(self, 0));
                let site = &r.code.sites[b];
                let (Some(x), Some(y), true) =
                    (left.as_small_int(), right.as_small_int(), site.int_fast)
                else {
                    rec.abort(Abort::Unsupported(
                        "a comparison other than of small integers",
                    ));
                    return false;
                };
                let (compare, holds) = match instr.op {
                    Op::LessThan => (Compare::Less, x < y),
                    Op::GreaterThan => (Compare::Greater, x > y),
                    Op::LessOrEqual => (Compare::LessOrEqual, x <= y),
                    Op::GreaterOrEqual => (Compare::GreaterOrEqual, x >= y),
                    _ => (Compare::Equal, x == y),
                };
                let snapshot = rec.snapshot(pc as u32, len);
                let right = rec.pop();
                let left = rec.pop();
                let s = rec.int_compare(compare, left, right, holds, snapshot);
                rec.push(s);
            }
            Op::JumpIfTrue | Op::JumpIfFalse => {
                let seen = concrete(self, 0);
                if seen != self.u.true_ && seen != self.u.false_ {
                    rec.abort(Abort::Unsupported("a test of a non-Boolean"));
                    return false;
                }
                let s = rec.top();
                // A condition is not a value a snapshot can hold: it is popped first (its
                // guard resumes at the comparison); a Boolean value stays on the stack in the
                // snapshot of the branch itself.
                let at_branch = match s {
                    Shadow::Cond { resume, .. } => resume,
                    _ => rec.snapshot(pc as u32, len),
                };
                rec.pop();
                rec.branch(s, seen, at_branch);
            }
            Op::JumpBack => {
                return self.closes(rec, pc + 1 - b);
            }
            Op::ForTest => {
                let c = a;
                let values = [
                    self.u.stack[fp + c],
                    self.u.stack[fp + c + 1],
                    self.u.stack[fp + c + 2],
                ];
                let (Some(i), Some(end), Some(step)) = (
                    values[0].as_small_int(),
                    values[1].as_small_int(),
                    values[2].as_small_int(),
                ) else {
                    rec.abort(Abort::Unsupported(
                        "a to:do: loop over other than small integers",
                    ));
                    return false;
                };
                let go = (step > 0 && i <= end) || (step < 0 && i >= end);
                if step == 0 || !go {
                    rec.abort(Abort::LeftLoop);
                    return false;
                }
                let snapshot = rec.snapshot(pc as u32, len);
                let (counter, limit, by) = (rec.read(c), rec.read(c + 1), rec.read(c + 2));
                rec.counting_loop_test(counter, limit, by, step > 0, snapshot);
            }
            Op::ForNext => {
                let c = a;
                let (i, step) = (self.u.stack[fp + c], self.u.stack[fp + c + 2]);
                if !small_ints_fit(IrOp::AddOv, i, step) {
                    rec.abort(Abort::Unsupported(
                        "a to:do: counter beyond the small integers",
                    ));
                    return false;
                }
                let snapshot = rec.snapshot(pc as u32, len);
                let (counter, by) = (rec.read(c), rec.read(c + 2));
                let next = rec.int_arithmetic(IrOp::AddOv, counter, by, snapshot);
                rec.write(c, next);
                return self.closes(rec, pc + 1 - b);
            }
            Op::IncrementSlot => {
                let v = self.u.stack[fp + a];
                if !small_ints_fit(IrOp::AddOv, v, Value::small_int(1)) {
                    rec.abort(Abort::Unsupported("an increment beyond the small integers"));
                    return false;
                }
                let snapshot = rec.snapshot(pc as u32, len);
                let counter = rec.read(a);
                let one = rec.constant(Value::small_int(1));
                let next = rec.int_arithmetic(IrOp::AddOv, counter, one, snapshot);
                rec.write(a, next);
            }
            Op::TimesTest => {
                let left = self.u.stack[fp + a].as_small_int().unwrap_or(0);
                if left <= 0 {
                    rec.abort(Abort::LeftLoop);
                    return false;
                }
                let snapshot = rec.snapshot(pc as u32, len);
                let count = rec.read(a);
                let next = rec.count_down(count, snapshot);
                rec.write(a, next);
            }
            op => rec.abort(Abort::Unsupported(op.mnemonic())),
        }
        false
    }

    /// A back edge to `target` while recording: the end of the iteration if it is the
    /// recorded loop's header; another loop inside it is not recorded (yet).
    fn closes(&self, rec: &mut Recording, target: usize) -> bool {
        if target == rec.header as usize {
            return true;
        }
        rec.abort(Abort::Unsupported("an inner loop"));
        false
    }
}

/// Whether `op` on two values gives a small integer from two small integers (what a trace
/// records; anything else is a send the recording does not follow).
fn small_ints_fit(op: IrOp, left: Value, right: Value) -> bool {
    match (left.as_small_int(), right.as_small_int()) {
        (Some(x), Some(y)) => Recording::small_int_result(op, x, y),
        _ => false,
    }
}
