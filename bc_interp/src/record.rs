//! The bytecode engine's recording: what each instruction of a recorded iteration becomes.
//!
//! Owns: what each bytecode records (through `lang::tracing::Recording`, which owns the IR of
//! every runtime-level operation), following sends into the methods and blocks they run (the
//! recording inlines them), where a recording ends (its loop's back edge, another loop's
//! header, a return), and storing the result in the loop's state. Must never: record an
//! instruction after executing it (recording happens before, with the concrete values the
//! handler is about to use).

use jit::ir::{Op as IrOp, SnapshotId};
use jit::recorder::Abort;
use lang::runtime::class::Class;
use lang::runtime::method::Method;
use lang::runtime::object;
use lang::runtime::value::Value;
use lang::tracing::arith::{self, Binary, Outcome};
use lang::tracing::calls::{self, Call};
use lang::tracing::recording::Compare;
use lang::tracing::{InnerLoop, Recording, Shadow, METHOD_ENTRY};

use crate::bytecode::{Instr, Op};
use crate::handlers::Regs;
use crate::method::BcMethod;
use crate::BcEngine;

impl BcEngine {
    /// Ends the recording: compiled, or aborted for `reason` (counted per loop, or per exit
    /// for a side trace) at the instruction `at` describes (for `--jit-log`).
    fn end_recording(&mut self, reason: Option<Abort>, at: &str) {
        let Some(recording) = self.recording.take() else {
            return;
        };
        let header = recording.header as usize;
        let method = recording.method;
        let side_of = recording.side_of;
        let depth = recording.depth;
        let options = self.u.options.jit;
        let result = match reason {
            Some(reason) => {
                let why = format!("{} ({at})", reason.describe());
                let name = recording.log_name();
                self.u.jit_stats.log_abort(name, header as u32, why);
                Err(reason.describe())
            }
            None => recording.finish(&options, &mut self.u.jit_stats),
        };
        let code = self.compiled[method.engine_index.get() as usize - 1];
        let mut loops = code.loops.borrow_mut();
        let ended = reason == Some(Abort::LoopEnded);
        let stats = &mut self.u.jit_stats;
        loops
            .at(header as u32)
            .keep(result, ended, (depth, side_of), &options, stats);
    }

    /// Abandons a recording because execution left it by an error or an unwind.
    pub(crate) fn abandon_recording(&mut self) {
        if self.recording.is_some() {
            self.end_recording(Some(Abort::LeftLoop), "an error or a non-local return");
        }
    }

    /// Records `instr`, about to be executed at `r.pc`. Answers false when the recording has
    /// ended (closed or aborted): the instruction then runs in the other dispatch loop.
    pub(crate) fn record(&mut self, r: &Regs, instr: Instr) -> bool {
        let Some(mut rec) = self.recording.take() else {
            return false;
        };
        // Another loop's header in the loop's frame, whose trace can take over: the
        // recording ends there (after at least one instruction of its own).
        if rec.frames.len() == 1
            && rec.instructions > 0
            && r.pc != rec.header as usize
            && r.fp == rec.origin
        {
            let depth = self.u.stack.len() - rec.origin;
            let target = code_loops_trace_depth(r.code, r.pc);
            if let Some(target_depth) = target {
                if target_depth == depth {
                    rec.target = Some(vec![r.pc as u32]);
                    self.recording = Some(rec);
                    self.end_recording(None, "");
                    return false;
                }
            }
        }
        rec.instructions += 1;
        let closes = self.record_instruction(&mut rec, r, instr) || rec.leaving.is_some();
        let aborted = rec.aborted();
        self.recording = Some(rec);
        match (closes, aborted) {
            (_, Some(reason)) => {
                let at = format!(
                    "at {} in {}, pc {} (line {})",
                    instr.op.mnemonic(),
                    r.code.method.display_name(),
                    r.pc,
                    r.code.lines[r.pc]
                );
                self.end_recording(Some(reason), &at);
                false
            }
            (true, None) => {
                self.end_recording(None, "");
                false
            }
            (false, None) => true,
        }
    }

    /// Writes down one instruction; answers whether it closes the loop.
    fn record_instruction(&mut self, rec: &mut Recording, r: &Regs, instr: Instr) -> bool {
        let pc = r.pc;
        let fp = r.fp;
        // Positions from the loop frame's first slot: what a snapshot keeps.
        let len = self.u.stack.len() - rec.origin;
        let frame = rec.frame();
        if !std::ptr::eq(r.code.method, frame.method) || fp != rec.origin + frame.base {
            // The interpreter is not where the recording followed it: the loop's method
            // returned, or an error or non-local return unwound.
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
            // A method's receiver (slot 0) is an object of the method's holder (or a
            // subclass) on every execution, so its fields need no guard.
            Op::PushField => {
                let receiver = rec.read(0);
                let s = rec.load_field(receiver, a);
                rec.push(s);
            }
            Op::StoreField | Op::PopField => {
                let receiver = rec.read(0);
                let v = if instr.op == Op::PopField {
                    rec.pop()
                } else {
                    rec.top()
                };
                rec.store_field(receiver, a, v);
            }
            Op::PushFieldOf | Op::StoreFieldOf => {
                let object = concrete(self, 0);
                let snapshot = rec.snapshot(pc as u32, len);
                if let Some(class) = Class::try_from_value(object) {
                    // A class-side field (of a class method's receiver).
                    let o = rec.pop();
                    if instr.op == Op::PushFieldOf {
                        let s = rec.load_class_field(o, class, a, snapshot);
                        rec.push(s);
                    } else {
                        let v = rec.top();
                        rec.store_class_field(o, class, (a, v), snapshot);
                    }
                    return false;
                }
                if !object.is_ref() {
                    rec.abort(Abort::Unsupported("a field of a non-object"));
                    return false;
                }
                let class = self.u.class_of(object);
                let o = rec.pop();
                rec.guard_class(o, object, class, snapshot);
                if instr.op == Op::PushFieldOf {
                    let s = rec.load_field(o, a);
                    rec.push(s);
                } else {
                    let v = rec.top();
                    rec.store_field(o, a, v);
                }
            }
            Op::PushContext | Op::StoreContext => {
                let mut context = rec.read(r.code.head_slot);
                for _ in 0..a {
                    context = rec.load_field(context, object::CONTEXT_OUTER);
                }
                if instr.op == Op::PushContext {
                    let s = rec.load_field(context, b);
                    rec.push(s);
                } else {
                    let v = rec.top();
                    rec.store_field(context, b, v);
                }
            }
            Op::PushGlobal => {
                let cache = &r.code.globals[b];
                if cache.read(&mut self.u).is_none() {
                    rec.abort(Abort::Unsupported("an undefined global"));
                    return false;
                }
                let cell = cache.cell(&mut self.u) as *const _ as i64;
                let s = Shadow::Value(rec.recorder.emit(IrOp::LoadGlobal, &[], cell));
                rec.push(s);
            }
            Op::Send | Op::SuperSend => self.record_send(rec, r, instr, len),
            Op::PushBlock => {
                let method = Method::from_value(r.code.literals[b]);
                let snapshot = rec.snapshot(pc as u32, len);
                if !calls::block_is_recordable(method) {
                    // Its home activation may not exist outside the trace: the trace leaves,
                    // and the interpreter makes the block.
                    rec.leave(snapshot);
                    return false;
                }
                let code = r.code;
                let outer = if code.context_size > 0 || code.is_block {
                    rec.read(code.head_slot)
                } else {
                    rec.constant(self.u.nil)
                };
                let receiver = rec.read(code.self_slot);
                let block = calls::record_block(rec, &self.u, method, (outer, receiver), snapshot);
                rec.push(block);
            }
            // A return from the loop's own method: a side trace or a method's recording ends
            // there (the interpreter returns); for a loop's own recording, the loop ended in
            // this iteration.
            Op::Return | Op::ReturnSlot if rec.frames.len() == 1 => {
                if rec.side_of.is_none() && rec.header != METHOD_ENTRY {
                    rec.abort(Abort::LoopEnded);
                    return false;
                }
                rec.target = Some(vec![pc as u32]);
                return true;
            }
            Op::Return => {
                let v = rec.pop();
                rec.leave_frame(v);
            }
            Op::ReturnSlot => {
                let v = rec.read(a);
                rec.leave_frame(v);
            }
            Op::Add
            | Op::Subtract
            | Op::Multiply
            | Op::LessThan
            | Op::GreaterThan
            | Op::LessOrEqual
            | Op::GreaterOrEqual
            | Op::Equal => {
                let (left, right) = (concrete(self, 1), concrete(self, 0));
                let site = &r.code.sites[b];
                let binary = match instr.op {
                    Op::Add => Binary::Add,
                    Op::Subtract => Binary::Subtract,
                    Op::Multiply => Binary::Multiply,
                    Op::LessThan => Binary::Compare(Compare::Less),
                    Op::GreaterThan => Binary::Compare(Compare::Greater),
                    Op::LessOrEqual => Binary::Compare(Compare::LessOrEqual),
                    Op::GreaterOrEqual => Binary::Compare(Compare::GreaterOrEqual),
                    _ => Binary::Compare(Compare::Equal),
                };
                let fast = (site.int_fast, site.double_fast);
                let snapshot = |rec: &mut Recording| rec.snapshot(pc as u32, len);
                if arith::record_binary(rec, binary, (left, right), fast, snapshot) == Outcome::Send
                {
                    let class = self.u.class_of(left);
                    self.record_send_at(rec, r.pc, site, class, len);
                }
            }
            Op::JumpIfTrue | Op::JumpIfFalse => {
                let seen = concrete(self, 0);
                if seen != self.u.true_ && seen != self.u.false_ {
                    rec.abort(Abort::Unsupported("a test of a non-Boolean"));
                    return false;
                }
                let jumps = (seen == self.u.true_) == (instr.op == Op::JumpIfTrue);
                if jumps && leaves_recorded_loop(rec, pc + 1 + b) {
                    rec.abort(Abort::LoopEnded);
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
                return self.closes(rec, r.code, pc + 1 - b);
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
                if step == 0 || (!go && leaves_recorded_loop(rec, pc + 1 + b)) {
                    rec.abort(Abort::LoopEnded);
                    return false;
                }
                // An inner loop (unrolled into the trace) may end here.
                let snapshot = rec.snapshot(pc as u32, len);
                let (counter, limit, by) = (rec.read(c), rec.read(c + 1), rec.read(c + 2));
                rec.counting_loop_test(counter, limit, by, step > 0, go, snapshot);
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
                return self.closes(rec, r.code, pc + 1 - b);
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
            Op::TimesInit => {
                let count = concrete(self, 0);
                if !count.is_small_int() {
                    rec.abort(Abort::Unsupported("timesRepeat: on a non-integer"));
                    return false;
                }
                let snapshot = rec.snapshot(pc as u32, len);
                let s = rec.pop();
                let integer = self.u.core.integer;
                rec.guard_class(s, count, integer, snapshot);
                rec.write(a, s);
            }
            Op::TimesTest => {
                let left = self.u.stack[fp + a].as_small_int().unwrap_or(0);
                if left <= 0 && leaves_recorded_loop(rec, pc + 1 + b) {
                    rec.abort(Abort::LoopEnded);
                    return false;
                }
                let snapshot = rec.snapshot(pc as u32, len);
                let count = rec.read(a);
                if left > 0 {
                    let next = rec.count_down(count, snapshot);
                    rec.write(a, next);
                } else {
                    rec.count_ended(count, snapshot);
                }
            }
            // The trace leaves: the interpreter returns (or sends escapedBlock:).
            Op::ReturnNonLocal => {
                let snapshot = rec.snapshot(pc as u32, len);
                rec.leave(snapshot);
            }
            op => rec.abort(Abort::Unsupported(op.mnemonic())),
        }
        false
    }

    /// A back edge to `target` while recording: the end of the iteration if it is the
    /// recorded loop's header; a side trace ends at any loop header in the loop's frame (a
    /// loop that it left, or the one around it). A loop inside the recorded one whose trace
    /// does not exist yet is unrolled a few times, then the trace ends at its header
    /// (`Recording::inner_loop`).
    fn closes(&self, rec: &mut Recording, code: &BcMethod, target: usize) -> bool {
        let in_loop_frame = rec.frames.len() == 1;
        if in_loop_frame && target == rec.header as usize {
            return true;
        }
        let has_trace = code_loops_trace_depth(code, target).is_some();
        if in_loop_frame && rec.side_of.is_some() && has_trace {
            rec.target = Some(vec![target as u32]);
            return true;
        }
        // An inner loop without a trace of its own: unrolled into this one, a few times;
        // beyond that, the trace ends at its header.
        match rec.inner_loop() {
            InnerLoop::Unroll => return false,
            InnerLoop::EndAtHeader => rec.target = Some(vec![target as u32]),
            InnerLoop::LeaveAtHeader => {
                let len = self.u.stack.len() - rec.origin;
                let at_header = rec.snapshot(target as u32, len);
                rec.leave(at_header);
            }
        }
        true
    }

    /// A send (or super send) about to run: guards the receiver's class (so that the method
    /// found is the one the trace follows) and records what the call will do.
    fn record_send(&mut self, rec: &mut Recording, r: &Regs, instr: Instr, len: usize) {
        let site = &r.code.sites[instr.b as usize];
        if instr.op == Op::SuperSend {
            let snapshot = rec.snapshot(r.pc as u32, len);
            match site.super_cache.lookup(&mut self.u, site.selector) {
                Some(m) => self.record_call(rec, r.pc, m, site.nargs, snapshot),
                None => rec.leave(snapshot), // the interpreter sends doesNotUnderstand:
            }
            return;
        }
        let receiver = self.u.stack[self.u.stack.len() - site.nargs - 1];
        let class = self.u.class_of(receiver);
        self.record_send_at(rec, r.pc, site, class, len);
    }

    /// The send of `site` at `pc` to a receiver of `class`: guards the class and records the
    /// call of the method found.
    fn record_send_at(
        &mut self,
        rec: &mut Recording,
        pc: usize,
        site: &crate::method::SendSite,
        class: &'static Class,
        len: usize,
    ) {
        let nargs = site.nargs;
        let receiver = self.u.stack[self.u.stack.len() - nargs - 1];
        let snapshot = rec.snapshot(pc as u32, len);
        let s = rec.peek(nargs);
        rec.guard_class(s, receiver, class, snapshot);
        match self.u.lookup(class, site.selector) {
            Some(m) => self.record_call(rec, pc, m, nargs, snapshot),
            None => rec.leave(snapshot), // the interpreter sends doesNotUnderstand:
        }
    }

    /// What `call` will do with `m` on the receiver and `nargs` arguments on the stack, in
    /// the same order of cases: a trivial method, a method with code (inlined), a block's
    /// evaluation (inlined, behind a guard on the block's method), another primitive.
    fn record_call(
        &mut self,
        rec: &mut Recording,
        pc: usize,
        m: &'static Method,
        nargs: usize,
        snapshot: SnapshotId,
    ) {
        let base = self.u.stack.len() - nargs - 1;
        let args: Vec<Value> = (base..self.u.stack.len())
            .map(|i| self.u.stack[i])
            .collect();
        match lang::tracing::calls::record_call(rec, &self.u, m, &args, snapshot) {
            Call::Inline(method) => self.record_entry(rec, method, nargs, pc, snapshot),
            Call::Done | Call::Stopped => {}
        }
    }

    /// The recording follows `enter`: an activation of `method` on the receiver (or block)
    /// and `nargs` arguments on the stack, by the send at `pc` (whose `snapshot` an
    /// allocation of the activation's context leaves through).
    fn record_entry(
        &mut self,
        rec: &mut Recording,
        method: &'static Method,
        nargs: usize,
        pc: usize,
        snapshot: SnapshotId,
    ) {
        let Ok(code) = self.code_of(method) else {
            rec.abort(Abort::Unsupported("a method that does not compile"));
            return;
        };
        let Some(hir) = method.code() else {
            rec.abort(Abort::Unsupported("a method without code"));
            return;
        };
        let context = calls::record_context(rec, &self.u, hir, nargs, snapshot);
        rec.enter_frame(method, nargs, code.frame_slots, pc as u32);
        if code.is_block {
            let block = rec.read(0);
            let receiver = rec.load_field(block, object::BLOCK_RECEIVER);
            rec.write(code.self_slot, receiver);
            if code.context_size == 0 {
                let outer = rec.load_field(block, object::BLOCK_OUTER);
                rec.write(code.head_slot, outer);
            }
        }
        if let Some(context) = context {
            rec.write(code.context_slot, context);
        }
    }
}

/// Whether a jump to `target` leaves the loop a root recording follows (past its back edge,
/// in the loop's activation): the loop ended in the iteration being recorded. (A side trace
/// may leave it: it goes on to the header of the loop around.)
fn leaves_recorded_loop(rec: &Recording, target: usize) -> bool {
    rec.side_of.is_none() && rec.frames.len() == 1 && target > rec.end as usize
}

/// The entry depth of the trace of the loop at `header` of `code`, if it has one.
fn code_loops_trace_depth(code: &BcMethod, header: usize) -> Option<usize> {
    let loops = code.loops.borrow();
    let state = loops.get(header as u32)?;
    state.trace.as_ref().map(|_| state.depth)
}

/// Whether `op` on two values gives a small integer from two small integers (what a trace
/// records; anything else is a send the recording does not follow).
fn small_ints_fit(op: IrOp, left: Value, right: Value) -> bool {
    match (left.as_small_int(), right.as_small_int()) {
        (Some(x), Some(y)) => Recording::small_int_result(op, x, y),
        _ => false,
    }
}
