//! The `Recorder`: what an engine and the shared runtime call while one loop iteration runs,
//! to write it down as a trace.
//!
//! Owns: building a well-formed `Trace` (constants shared, snapshots attached to guards),
//! the limit on a trace's length, and the reason a recording stops early (`Abort`). Must
//! never: look at SOM objects — callers pass the facts (a class word, a field index, a
//! primitive number) — or decide what to record: that is the caller's knowledge of the
//! operation it is executing.

use std::collections::HashMap;

use crate::ir::{Inst, Op, Snapshot, SnapshotId, Trace, ValueId};

/// Why a recording stopped without a trace. Counted per reason (`--jit-summary`); a loop
/// that keeps aborting is blacklisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Abort {
    /// More instructions than the limit.
    TooLong,
    /// An operation the recorder has no IR for (named).
    Unsupported(&'static str),
    /// The recorded code left the loop (a return from the loop's method, a non-local return
    /// through it, an error).
    LeftLoop,
    /// Sends nested deeper than the inlining limit.
    TooDeep,
    /// The loop ended in the iteration being recorded (its test failed): not the loop's
    /// fault, so it is recorded again at its next back edge rather than counted against it.
    LoopEnded,
}

impl Abort {
    pub fn describe(self) -> String {
        match self {
            Abort::TooLong => "trace too long".into(),
            Abort::Unsupported(what) => format!("unsupported: {what}"),
            Abort::LeftLoop => "left the loop".into(),
            Abort::TooDeep => "inlining too deep".into(),
            Abort::LoopEnded => "the loop ended while recording".into(),
        }
    }
}

/// A recording in progress.
pub struct Recorder {
    trace: Trace,
    limit: usize,
    int_constants: HashMap<i64, ValueId>,
    ref_constants: HashMap<i64, ValueId>,
    inputs: HashMap<u32, ValueId>,
    aborted: Option<Abort>,
}

impl Recorder {
    /// A recording of at most `limit` instructions; the loop header comes after the inputs,
    /// which `input` adds as the iteration first reads them.
    pub fn new(limit: usize) -> Recorder {
        Recorder {
            trace: Trace::default(),
            limit,
            int_constants: HashMap::new(),
            ref_constants: HashMap::new(),
            inputs: HashMap::new(),
            aborted: None,
        }
    }

    pub fn aborted(&self) -> Option<Abort> {
        self.aborted
    }

    /// Stops the recording (the first reason counts).
    pub fn abort(&mut self, reason: Abort) {
        self.aborted.get_or_insert(reason);
    }

    /// The number of instructions so far.
    pub fn len(&self) -> usize {
        self.trace.insts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trace.insts.is_empty()
    }

    fn push(&mut self, inst: Inst) -> ValueId {
        if self.trace.insts.len() >= self.limit {
            self.abort(Abort::TooLong);
        }
        self.trace.push(inst)
    }

    /// Appends an instruction with value operands `args` and immediate `imm`.
    pub fn emit(&mut self, op: Op, args: &[ValueId], imm: i64) -> ValueId {
        self.push(Inst::new(op, args.to_vec(), imm))
    }

    /// Appends a guard (or a call) that leaves through `snapshot`.
    pub fn emit_exit(
        &mut self,
        op: Op,
        args: &[ValueId],
        imm: i64,
        snapshot: SnapshotId,
    ) -> ValueId {
        let mut inst = Inst::new(op, args.to_vec(), imm);
        inst.snapshot = Some(snapshot);
        self.push(inst)
    }

    /// Registers a snapshot for the guards that follow.
    pub fn snapshot(&mut self, snapshot: Snapshot) -> SnapshotId {
        self.trace.snapshots.push(snapshot);
        SnapshotId(self.trace.snapshots.len() as u32 - 1)
    }

    pub fn const_int(&mut self, i: i64) -> ValueId {
        if let Some(v) = self.int_constants.get(&i) {
            return *v;
        }
        let v = self.emit(Op::ConstInt, &[], i);
        self.int_constants.insert(i, v);
        v
    }

    /// A tagged constant (its word).
    pub fn const_ref(&mut self, word: u64) -> ValueId {
        if let Some(v) = self.ref_constants.get(&(word as i64)) {
            return *v;
        }
        let v = self.emit(Op::ConstRef, &[], word as i64);
        self.ref_constants.insert(word as i64, v);
        v
    }

    /// Whether `v` is a tagged constant (`const_ref`).
    pub fn is_const_ref(&self, v: ValueId) -> bool {
        self.trace.insts[v.0 as usize].op == Op::ConstRef
    }

    /// A double constant.
    pub fn const_double(&mut self, d: f64) -> ValueId {
        self.emit(Op::ConstDouble, &[], d.to_bits() as i64)
    }

    /// The value of frame slot `slot` at trace entry (one `input` per slot).
    pub fn input(&mut self, slot: u32) -> ValueId {
        if let Some(v) = self.inputs.get(&slot) {
            return *v;
        }
        let v = self.emit(Op::Input, &[], slot as i64);
        self.inputs.insert(slot, v);
        v
    }

    /// Ends a side trace: it runs once, from its inputs to its last instruction (an `exit`).
    pub fn finish_linear(mut self) -> Result<Trace, Abort> {
        if let Some(reason) = self.aborted {
            return Err(reason);
        }
        let trace = std::mem::take(&mut self.trace);
        trace
            .check()
            .map_err(|_| Abort::Unsupported("an ill-formed recording"))?;
        Ok(trace)
    }

    /// Ends the iteration: the inputs and constants move before `loop` (they are the entry;
    /// constants are invariant), everything else is the body, and every `(value at entry,
    /// value at the end)` pair of a loop-carried slot becomes a phi before the jump.
    pub fn close_loop(mut self, carried: &[(ValueId, ValueId)]) -> Result<Trace, Abort> {
        if let Some(reason) = self.aborted {
            return Err(reason);
        }
        let head: Vec<usize> = (0..self.trace.insts.len())
            .filter(|&i| {
                matches!(
                    self.trace.insts[i].op,
                    Op::Input | Op::ConstInt | Op::ConstRef | Op::ConstDouble
                )
            })
            .collect();
        let mut order: Vec<usize> = head.clone();
        order.extend((0..self.trace.insts.len()).filter(|i| !head.contains(i)));
        let mut map = vec![ValueId(0); self.trace.insts.len()];
        let mut out = Trace::default();
        for (n, &i) in order.iter().enumerate() {
            if n == head.len() {
                out.push(Inst::new(Op::Loop, vec![], 0));
            }
            let mut inst = self.trace.insts[i].clone();
            for a in &mut inst.args {
                *a = map[a.0 as usize];
            }
            map[i] = out.push(inst);
        }
        if order.len() == head.len() {
            out.push(Inst::new(Op::Loop, vec![], 0));
        }
        for &(entry, end) in carried {
            if entry != end {
                out.push(Inst::new(
                    Op::Phi,
                    vec![map[entry.0 as usize], map[end.0 as usize]],
                    0,
                ));
            }
        }
        out.push(Inst::new(Op::Jump, vec![], 0));
        out.snapshots = std::mem::take(&mut self.trace.snapshots);
        for s in &mut out.snapshots {
            for f in &mut s.frames {
                for v in &mut f.slots {
                    *v = map[v.0 as usize];
                }
            }
        }
        out.check()
            .map_err(|_| Abort::Unsupported("an ill-formed recording"))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::SnapshotFrame;
    use crate::text::print;

    #[test]
    fn a_counting_loop_records_inputs_first_then_the_body_and_phis() {
        // while (i < n) { i := i + 1 } with i in slot 1 and n in slot 2.
        let mut r = Recorder::new(100);
        let i = r.input(1);
        let n = r.input(2);
        let s = r.snapshot(Snapshot {
            frames: vec![SnapshotFrame {
                method: 0x100,
                position: vec![0],
                slots: vec![i, n],
            }],
        });
        r.emit_exit(Op::GuardInt, &[i], 0, s);
        let iu = r.emit(Op::UnboxInt, &[i], 0);
        r.emit_exit(Op::GuardInt, &[n], 0, s);
        let nu = r.emit(Op::UnboxInt, &[n], 0);
        let lt = r.emit(Op::LtInt, &[iu, nu], 0);
        r.emit_exit(Op::GuardTrue, &[lt], 0, s);
        let one = r.const_int(1);
        let next = r.emit_exit(Op::AddOv, &[iu, one], 0, s);
        let boxed = r.emit(Op::BoxInt, &[next], 0);
        assert_eq!(r.const_int(1), one, "constants are shared");
        let trace = r.close_loop(&[(i, boxed), (n, n)]).unwrap();
        assert_eq!(
            print(&trace),
            "\
%0 = input #1
%1 = input #2
%2 = const_int #1
loop
guard_int %0 @0
%5 = unbox_int %0
guard_int %1 @0
%7 = unbox_int %1
%8 = lt_int %5 %7
guard_true %8 @0
%10 = add_ov %5 %2 @0
%11 = box_int %10
phi %0 %11
jump
@0: 0x100 [0] %0 %1
"
        );
    }

    #[test]
    fn the_length_limit_aborts() {
        let mut r = Recorder::new(3);
        let a = r.input(0);
        for _ in 0..5 {
            r.emit(Op::UnboxInt, &[a], 0);
        }
        assert_eq!(r.aborted(), Some(Abort::TooLong));
        assert_eq!(r.close_loop(&[]).unwrap_err(), Abort::TooLong);
    }
}
