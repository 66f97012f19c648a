//! One loop iteration being recorded: the shadow of the loop frame and of the activations
//! inlined into it (which trace value each slot and operand-stack position holds), and the
//! runtime-level operations engines record.
//!
//! Owns: shadows, the stack of inlined activations, snapshots built from them (one frame per
//! activation), the IR for small-integer arithmetic and comparisons, for the conditions that
//! steer a branch, for class guards, fields and elements, and turning the finished recording
//! into compiled code. Positions are counted from the loop frame's first slot: its slots, its
//! operand stack, then each inlined activation's slots and operand stack, in the order the
//! engine's value stack holds them. Engines name slots relative to the running activation
//! (`read(k)` is slot `k` of the innermost frame). Must never: guess a value — every guard
//! records the concrete outcome the interpreter is about to act on.

use std::rc::Rc;
use std::time::Instant;

use jit::backend::CompiledTrace;
use jit::ir::{AllocShape, Op, Snapshot, SnapshotFrame, SnapshotId, ValueId};
use jit::recorder::{Abort, Recorder};

use super::stats::TraceLog;
use super::{JitOptions, JitStats};
use crate::gc::Kind;
use crate::runtime::class::Class;
use crate::runtime::method::Method;
use crate::runtime::universe::Universe;
use crate::runtime::value::Value;

/// What the trace knows about one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shadow {
    /// Not touched yet: the value the position had when the trace was entered.
    Entry,
    /// A tagged value of the trace.
    Value(ValueId),
    /// A Boolean not materialized as an object: the outcome of a comparison (a `bool` of
    /// the trace), whether it held while recording, and the snapshot of the comparison (to
    /// resume there, so that the interpreter compares and branches again).
    Cond {
        cond: ValueId,
        holds: bool,
        resume: SnapshotId,
    },
}

/// A comparison of two numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
    Equal,
}

impl Compare {
    /// Whether it holds for `x` and `y`.
    pub fn holds<T: PartialOrd>(self, x: T, y: T) -> bool {
        match self {
            Compare::Less => x < y,
            Compare::Greater => x > y,
            Compare::LessOrEqual => x <= y,
            Compare::GreaterOrEqual => x >= y,
            Compare::Equal => x == y,
        }
    }
}

/// An activation the recording is in: the loop's, or one inlined into it.
#[derive(Clone, Copy, Debug)]
pub struct RecordedFrame {
    pub method: &'static Method,
    /// Its slot 0's position in the shadow.
    pub base: usize,
    /// While an inlined callee runs: the engine's position of the send that called it.
    pub call_position: u32,
}

/// The most activations a recording inlines (the loop's included).
pub const MAX_INLINED_FRAMES: usize = 16;

/// Back edges of inner loops a recording may follow (unrolling them into the trace).
pub const MAX_UNROLLED: u32 = 40;

/// What a recording does at another iteration of an inner loop it follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerLoop {
    /// Records the iteration: the inner loop is unrolled into the trace.
    Unroll,
    /// Ends the trace with an exit at the inner loop's header, in the loop's own activation:
    /// the inner loop's trace takes over there once it has one (until then, the interpreter
    /// counts its iterations there and compiles it).
    EndAtHeader,
    /// Ends the trace with a `leave` at the header of an inner loop in an inlined activation
    /// (traces are entered only in their loop's activation): the interpreter runs the inner
    /// loop, and its trace.
    LeaveAtHeader,
}

pub struct Recording {
    pub recorder: Recorder,
    pub method: &'static Method,
    /// The engine's number of the loop header (its key in the method's `Loops`).
    pub header: u32,
    /// The snapshot position that resumes the loop frame at the header (the bytecode
    /// engine: `[header]`; the AST engine: the loop node's header state).
    pub header_position: Vec<u32>,
    /// The engine's position of the loop's back edge (the body lies between the two).
    pub end: u32,
    /// The engine's own anchor of the loop frame (the bytecode engine: its frame pointer).
    pub origin: usize,
    /// Positions at the header (slots and operand stack): the trace's entry state.
    pub depth: usize,
    pub shadow: Vec<Shadow>,
    /// The loop's activation, then the inlined ones, innermost last.
    pub frames: Vec<RecordedFrame>,
    /// For a side trace: the exit it starts at (the loop's trace number, the snapshot).
    pub side_of: Option<(u32, u32)>,
    /// Where the recording ends when not at its own loop's back edge: another loop header in
    /// the loop's frame (the trace then ends in an `exit` there).
    pub target: Option<Vec<u32>>,
    /// Where the trace leaves for the interpreter to do what it cannot (`leave`), when it
    /// ends so.
    pub leaving: Option<SnapshotId>,
    /// Instructions recorded so far.
    pub instructions: usize,
    /// Back edges of inner loops followed (unrolled) so far.
    pub unrolled: u32,
    nil: Value,
    true_: Value,
    false_: Value,
    /// Where a safepoint request at the back edge leaves: the header, with the values the
    /// next iteration starts from (a side trace has no loop, and none).
    loop_snapshot: Option<SnapshotId>,
    started: Instant,
}

impl Recording {
    /// Starts recording the loop at `header` of `method` (resumed at `header_position`),
    /// whose frame has `depth` positions.
    pub fn new(
        u: &Universe,
        method: &'static Method,
        header_and_end: (u32, u32),
        header_position: Vec<u32>,
        origin: usize,
        depth: usize,
    ) -> Recording {
        let frames = vec![RecordedFrame {
            method,
            base: 0,
            call_position: 0,
        }];
        let mut rec = Recording::fresh(u, method, header_and_end, origin, depth, frames, depth);
        rec.header_position = header_position;
        let slots: Vec<ValueId> = (0..depth).map(|k| rec.recorder.input(k as u32)).collect();
        rec.loop_snapshot = Some(rec.recorder.snapshot(Snapshot {
            frames: vec![SnapshotFrame {
                method: method.as_value().raw(),
                position: rec.header_position.clone(),
                slots,
            }],
        }));
        rec
    }

    /// Starts recording a side trace from the exit `side_of` of a trace of the loop at
    /// `header` (and `end`) of `method`, whose entry state at the header has `depth`
    /// positions. The engine resumed in `frames` (the loop's first, then the inlined ones it
    /// rebuilt, with their bases and call positions), whose positions number `len`: the side
    /// trace's inputs, in that order (and no others: it has no loop, so no header snapshot).
    #[allow(clippy::too_many_arguments)]
    pub fn side(
        u: &Universe,
        method: &'static Method,
        header_and_end: (u32, u32),
        header_position: Vec<u32>,
        origin: usize,
        depth: usize,
        frames: Vec<RecordedFrame>,
        len: usize,
        side_of: (u32, u32),
    ) -> Recording {
        let mut rec = Recording::fresh(u, method, header_and_end, origin, depth, frames, len);
        rec.header_position = header_position;
        rec.side_of = Some(side_of);
        rec
    }

    /// A recording with nothing recorded yet, whose shadow has `len` untouched positions.
    fn fresh(
        u: &Universe,
        method: &'static Method,
        (header, end): (u32, u32),
        origin: usize,
        depth: usize,
        frames: Vec<RecordedFrame>,
        len: usize,
    ) -> Recording {
        Recording {
            recorder: Recorder::new(u.options.jit.max_trace),
            method,
            header,
            header_position: vec![header],
            end,
            origin,
            depth,
            shadow: vec![Shadow::Entry; len],
            frames,
            side_of: None,
            target: None,
            leaving: None,
            instructions: 0,
            unrolled: 0,
            nil: u.nil,
            true_: u.true_,
            false_: u.false_,
            loop_snapshot: None,
            started: Instant::now(),
        }
    }

    pub fn abort(&mut self, reason: Abort) {
        self.recorder.abort(reason);
    }

    pub fn aborted(&self) -> Option<Abort> {
        self.recorder.aborted()
    }

    /// The tagged value at a position: a condition becomes the Boolean object it came out
    /// as, behind a guard that it comes out so again.
    fn tagged(&mut self, position: usize, s: Shadow) -> ValueId {
        match s {
            Shadow::Entry => self.recorder.input(position as u32),
            Shadow::Value(v) => v,
            Shadow::Cond { holds, .. } => {
                self.guard_condition(s);
                let b = if holds { self.true_ } else { self.false_ };
                self.recorder.const_ref(b.raw())
            }
        }
    }

    /// The tagged value of `s` (a condition materialized as in `tagged`).
    pub fn value(&mut self, s: Shadow) -> ValueId {
        match s {
            Shadow::Entry => {
                self.abort(Abort::Unsupported("an unread position"));
                self.recorder.const_ref(self.nil.raw())
            }
            s => self.tagged(0, s),
        }
    }

    /// The innermost activation.
    pub fn frame(&self) -> RecordedFrame {
        *self.frames.last().expect("the loop's frame")
    }

    /// The shadow of absolute position `k`.
    fn read_at(&mut self, k: usize) -> Shadow {
        match self.shadow.get(k).copied() {
            Some(Shadow::Entry) => Shadow::Value(self.recorder.input(k as u32)),
            Some(s) => s,
            None => {
                self.abort(Abort::Unsupported("a position outside the recorded frames"));
                Shadow::Entry
            }
        }
    }

    /// The shadow of position `k`, counted from the loop frame's first slot.
    pub fn read_position(&mut self, k: usize) -> Shadow {
        self.read_at(k)
    }

    /// Sets the shadow of position `k`, counted from the loop frame's first slot.
    pub fn write_position(&mut self, k: usize, s: Shadow) {
        match self.shadow.get_mut(k) {
            Some(slot) => *slot = s,
            None => self.abort(Abort::Unsupported("a position outside the recorded frames")),
        }
    }

    /// The tagged value of slot `k` of the innermost activation (a condition stays one).
    pub fn read(&mut self, k: usize) -> Shadow {
        let at = self.frame().base + k;
        self.read_at(at)
    }

    pub fn write(&mut self, k: usize, s: Shadow) {
        let at = self.frame().base + k;
        if let Some(slot) = self.shadow.get_mut(at) {
            *slot = s;
        } else {
            self.abort(Abort::Unsupported("a position outside the recorded frames"));
        }
    }

    /// The shadow `n` positions below the top of the stack (0: the top).
    pub fn peek(&mut self, n: usize) -> Shadow {
        match self.shadow.len().checked_sub(n + 1) {
            Some(k) => self.read_at(k),
            None => {
                self.abort(Abort::Unsupported("a position outside the recorded frames"));
                Shadow::Entry
            }
        }
    }

    /// Drops the top `n` positions.
    pub fn drop_top(&mut self, n: usize) {
        let keep = self.shadow.len().saturating_sub(n);
        self.shadow.truncate(keep);
    }

    /// The recording follows a send into `method`, whose activation starts at the receiver,
    /// `nargs` positions below the top, and has `frame_slots` slots (the ones past the
    /// arguments start as nil). `call_position` is the send's position in the caller.
    pub fn enter_frame(
        &mut self,
        method: &'static Method,
        nargs: usize,
        frame_slots: usize,
        call_position: u32,
    ) {
        if self.frames.len() >= MAX_INLINED_FRAMES {
            self.abort(Abort::TooDeep);
            return;
        }
        let Some(base) = self.shadow.len().checked_sub(nargs + 1) else {
            self.abort(Abort::Unsupported("a send without its receiver"));
            return;
        };
        if let Some(caller) = self.frames.last_mut() {
            caller.call_position = call_position;
        }
        let nil = self.constant(self.nil);
        self.shadow.resize(base + frame_slots.max(nargs + 1), nil);
        self.frames.push(RecordedFrame {
            method,
            base,
            call_position: 0,
        });
    }

    /// The innermost inlined activation returns `result`: its positions go, the result is
    /// pushed in the caller. Returning from the loop's activation leaves the loop.
    pub fn leave_frame(&mut self, result: Shadow) {
        if self.frames.len() == 1 {
            self.abort(Abort::LeftLoop);
            return;
        }
        let frame = self.frames.pop().expect("an inlined frame");
        self.shadow.truncate(frame.base);
        self.shadow.push(result);
    }

    pub fn push(&mut self, s: Shadow) {
        self.shadow.push(s);
    }

    pub fn pop(&mut self) -> Shadow {
        let s = self.peek(0);
        self.shadow.pop();
        s
    }

    pub fn top(&mut self) -> Shadow {
        self.peek(0)
    }

    /// A constant tagged value.
    pub fn constant(&mut self, v: Value) -> Shadow {
        Shadow::Value(self.recorder.const_ref(v.raw()))
    }

    /// A snapshot of every activation as it is now, the innermost to resume at `position`;
    /// only the first `len` positions count (the rest are operands the resumed instruction
    /// has not pushed).
    pub fn snapshot(&mut self, position: u32, len: usize) -> SnapshotId {
        let positions: Vec<Vec<u32>> = (0..self.frames.len())
            .map(|f| match self.frames.get(f + 1) {
                Some(_) => vec![self.frames[f].call_position],
                None => vec![position],
            })
            .collect();
        self.snapshot_at(positions, len)
    }

    /// A snapshot of every activation as it is now, each at its position in `positions`
    /// (one per activation, the loop's first: for the innermost where to resume, for the
    /// others the send that called the next); only the first `len` positions count.
    pub fn snapshot_at(&mut self, mut positions: Vec<Vec<u32>>, len: usize) -> SnapshotId {
        debug_assert_eq!(positions.len(), self.frames.len());
        let len = len.min(self.shadow.len());
        let mut frames = Vec::with_capacity(self.frames.len());
        for (f, position) in positions.iter_mut().enumerate() {
            let frame = self.frames[f];
            let innermost = f + 1 == self.frames.len();
            let end = if innermost {
                len
            } else {
                self.frames[f + 1].base.min(len)
            };
            let mut slots = Vec::with_capacity(end.saturating_sub(frame.base));
            for k in frame.base..end {
                let s = self.shadow[k];
                slots.push(self.tagged(k, s));
            }
            frames.push(SnapshotFrame {
                method: frame.method.as_value().raw(),
                position: std::mem::take(position),
                slots,
            });
        }
        self.recorder.snapshot(Snapshot { frames })
    }

    /// How `--jit-log` names this recording's method (and, for a side trace, the exit it
    /// starts at: trace 0 is the loop's own, k its side trace k).
    pub fn log_name(&self) -> String {
        match self.side_of {
            Some((trace, exit)) => format!(
                "{} (side trace of trace {trace}'s exit {exit})",
                self.method.display_name()
            ),
            None => self.method.display_name(),
        }
    }

    /// The recording follows an inner loop (one it does not close) to another iteration:
    /// answers whether to unroll it into the trace, a few times, or where the trace ends.
    pub fn inner_loop(&mut self) -> InnerLoop {
        if self.unrolled < MAX_UNROLLED {
            self.unrolled += 1;
            InnerLoop::Unroll
        } else if self.frames.len() == 1 {
            InnerLoop::EndAtHeader
        } else {
            InnerLoop::LeaveAtHeader
        }
    }

    /// Ends the recording here: the trace leaves through `snapshot` (which re-executes what
    /// it cannot do — a non-local return, `doesNotUnderstand:` — in the interpreter).
    pub fn leave(&mut self, snapshot: SnapshotId) {
        if self.leaving.is_none() {
            self.leaving = Some(snapshot);
        }
    }

    /// Guards that `s`, whose value while recording is `seen`, keeps `seen`'s class (a
    /// small integer, an immediate double, or a heap object of `class`), leaving through
    /// `snapshot`. Answers its tagged value.
    pub fn guard_class(
        &mut self,
        s: Shadow,
        seen: Value,
        class: &'static Class,
        snapshot: SnapshotId,
    ) -> ValueId {
        let v = self.value(s);
        if seen.is_small_int() {
            self.recorder.emit_exit(Op::GuardInt, &[v], 0, snapshot);
        } else if seen.is_immediate_double() {
            self.recorder.emit_exit(Op::GuardDouble, &[v], 0, snapshot);
        } else if !matches!(s, Shadow::Cond { .. }) {
            let word = class as *const Class as u64;
            self.recorder
                .emit_exit(Op::GuardClass, &[v], word as i64, snapshot);
        }
        v
    }

    /// Guards that `s` is the value `expected` (leaving through `snapshot`).
    pub fn guard_same(&mut self, s: Shadow, expected: Value, snapshot: SnapshotId) {
        let v = self.value(s);
        let c = self.recorder.const_ref(expected.raw());
        self.recorder.emit_exit(Op::GuardSame, &[v, c], 0, snapshot);
    }

    /// Field `index` of `object`, which a guard (or the method's receiver) makes an object
    /// with that field.
    pub fn load_field(&mut self, object: Shadow, index: usize) -> Shadow {
        let v = self.value(object);
        Shadow::Value(self.recorder.emit(Op::LoadField, &[v], index as i64))
    }

    /// Stores `value` into field `index` of `object` (as `load_field`), with the barrier.
    pub fn store_field(&mut self, object: Shadow, index: usize, value: Shadow) {
        let o = self.value(object);
        let v = self.value(value);
        self.recorder.emit(Op::StoreField, &[o, v], index as i64);
    }

    /// Class-side field `index` of `class`, the value of `receiver` (guarded to stay that
    /// class: each class has its own class-side values, a GC root that never moves once the
    /// class is loaded), leaving through `snapshot` otherwise.
    pub fn load_class_field(
        &mut self,
        receiver: Shadow,
        class: &'static Class,
        index: usize,
        snapshot: SnapshotId,
    ) -> Shadow {
        let Some(address) = self.class_field_address(receiver, class, index, snapshot) else {
            return Shadow::Entry;
        };
        Shadow::Value(self.recorder.emit(Op::LoadGlobal, &[], address))
    }

    /// Stores `value` into class-side field `index` of `class` (as `load_class_field`).
    pub fn store_class_field(
        &mut self,
        receiver: Shadow,
        class: &'static Class,
        (index, value): (usize, Shadow),
        snapshot: SnapshotId,
    ) {
        if let Some(address) = self.class_field_address(receiver, class, index, snapshot) {
            let v = self.value(value);
            self.recorder.emit(Op::StoreGlobal, &[v], address);
        }
    }

    fn class_field_address(
        &mut self,
        receiver: Shadow,
        class: &'static Class,
        index: usize,
        snapshot: SnapshotId,
    ) -> Option<i64> {
        let values = class.class_side_values.borrow();
        if index >= values.len() {
            self.abort(Abort::Unsupported("a class-side field out of range"));
            return None;
        }
        let address = values.as_ptr().wrapping_add(index) as i64;
        drop(values);
        self.guard_same(receiver, class.as_value(), snapshot);
        Some(address)
    }

    /// Whether two values are the same object (`==`), as a condition that held or not.
    pub fn identical(
        &mut self,
        left: Shadow,
        right: Shadow,
        holds: bool,
        snapshot: SnapshotId,
    ) -> Shadow {
        let (l, r) = (self.value(left), self.value(right));
        Shadow::Cond {
            cond: self.recorder.emit(Op::EqRef, &[l, r], 0),
            holds,
            resume: snapshot,
        }
    }

    /// A new object of `class` and `kind` with `fields` fields, all nil; leaves through
    /// `snapshot` (the instruction that allocates) when the nursery's chunk is full.
    pub fn new_object(
        &mut self,
        class: &'static Class,
        kind: Kind,
        fields: usize,
        snapshot: SnapshotId,
    ) -> Shadow {
        let shape = AllocShape {
            class_word: class as *const Class as u64,
            kind: kind as u8,
            fields: fields as u32,
        };
        let fits = (crate::gc::HEADER_WORDS + fields) * 8 < crate::gc::LARGE_OBJECT_BYTES;
        match shape.encode().filter(|_| fits) {
            Some(imm) => Shadow::Value(self.recorder.emit_exit(Op::NewObject, &[], imm, snapshot)),
            None => {
                self.abort(Abort::Unsupported("an object too large for the nursery"));
                Shadow::Entry
            }
        }
    }

    /// A new array of `class` with `size` (a small integer) elements, all nil; leaves
    /// through `snapshot` when the size is negative or too large for the nursery, or the
    /// nursery's chunk is full.
    pub fn new_array(
        &mut self,
        class: &'static Class,
        size: Shadow,
        snapshot: SnapshotId,
    ) -> Shadow {
        let shape = AllocShape {
            class_word: class as *const Class as u64,
            kind: Kind::Array as u8,
            fields: 0,
        };
        let Some(imm) = shape.encode() else {
            self.abort(Abort::Unsupported("a class at an unusual address"));
            return Shadow::Entry;
        };
        let size = self.value(size);
        self.recorder.emit_exit(Op::GuardInt, &[size], 0, snapshot);
        let n = self.recorder.emit(Op::UnboxInt, &[size], 0);
        Shadow::Value(self.recorder.emit_exit(Op::NewArray, &[n], imm, snapshot))
    }

    /// The array `array`'s element `index` (a small integer), guarded to be within its
    /// bounds (leaving through `snapshot`, the send, otherwise).
    pub fn load_element(&mut self, array: Shadow, index: Shadow, snapshot: SnapshotId) -> Shadow {
        let Some((a, i)) = self.array_index(array, index, snapshot) else {
            return Shadow::Entry;
        };
        Shadow::Value(self.recorder.emit(Op::LoadElement, &[a, i], 0))
    }

    /// Stores `value` into the array's element `index`, as `load_element` reads it.
    pub fn store_element(
        &mut self,
        array: Shadow,
        index: Shadow,
        value: Shadow,
        snapshot: SnapshotId,
    ) {
        let Some((a, i)) = self.array_index(array, index, snapshot) else {
            return;
        };
        let v = self.value(value);
        self.recorder.emit(Op::StoreElement, &[a, i, v], 0);
    }

    /// The number of elements of an array, as a small integer.
    pub fn array_size(&mut self, array: Shadow) -> Shadow {
        let a = self.value(array);
        let n = self.recorder.emit(Op::ArraySize, &[a], 0);
        Shadow::Value(self.recorder.emit(Op::BoxInt, &[n], 0))
    }

    fn array_index(
        &mut self,
        array: Shadow,
        index: Shadow,
        snapshot: SnapshotId,
    ) -> Option<(ValueId, ValueId)> {
        let a = self.value(array);
        let index = self.value(index);
        self.recorder.emit_exit(Op::GuardInt, &[index], 0, snapshot);
        let i = self.recorder.emit(Op::UnboxInt, &[index], 0);
        self.recorder
            .emit_exit(Op::GuardIndex, &[a, i], 0, snapshot);
        Some((a, i))
    }

    /// Whether `op` (`add_ov`, `sub_ov`, `mul_ov`) of two small integers gives a small
    /// integer: the only case a trace records (otherwise the interpreter sends the message).
    pub fn small_int_result(op: Op, x: i64, y: i64) -> bool {
        let result = match op {
            Op::AddOv => x.checked_add(y),
            Op::SubOv => x.checked_sub(y),
            _ => x.checked_mul(y),
        };
        result.and_then(Value::try_small_int).is_some()
    }

    /// The test of an inlined `to:do:`, with a step of the sign `ascending` says, whose
    /// loop went on (`goes_on`) or ended while recording: guards that the step keeps its sign
    /// and the counter is (or is not) past the limit, leaving through `snapshot` (the test
    /// itself).
    pub fn counting_loop_test(
        &mut self,
        counter: Shadow,
        limit: Shadow,
        step: Shadow,
        ascending: bool,
        goes_on: bool,
        snapshot: SnapshotId,
    ) {
        let zero = self.constant(Value::small_int(0));
        let (sign, within) = if ascending {
            (
                self.int_compare(Compare::Less, zero, step, true, snapshot),
                self.int_compare(Compare::LessOrEqual, counter, limit, goes_on, snapshot),
            )
        } else {
            (
                self.int_compare(Compare::Less, step, zero, true, snapshot),
                self.int_compare(Compare::GreaterOrEqual, counter, limit, goes_on, snapshot),
            )
        };
        self.guard_condition(sign);
        self.guard_condition(within);
    }

    /// The test of an inlined `timesRepeat:` whose loop ended while recording: guards that
    /// `count` is not positive.
    pub fn count_ended(&mut self, count: Shadow, snapshot: SnapshotId) {
        let zero = self.constant(Value::small_int(0));
        let more = self.int_compare(Compare::Greater, count, zero, false, snapshot);
        self.guard_condition(more);
    }

    /// The test of an inlined `timesRepeat:` whose loop went on while recording: guards that
    /// `count` is positive and answers it less one.
    pub fn count_down(&mut self, count: Shadow, snapshot: SnapshotId) -> Shadow {
        let zero = self.constant(Value::small_int(0));
        let more = self.int_compare(Compare::Greater, count, zero, true, snapshot);
        self.guard_condition(more);
        let one = self.constant(Value::small_int(1));
        self.int_arithmetic(Op::SubOv, count, one, snapshot)
    }

    /// The integers of two tagged values, guarded to be small integers (leaving through
    /// `snapshot` otherwise). Shadows come from `read`, `pop` or `top`, never `Entry`.
    fn small_ints(
        &mut self,
        left: Shadow,
        right: Shadow,
        snapshot: SnapshotId,
    ) -> Option<(ValueId, ValueId)> {
        let mut unboxed = [ValueId(0); 2];
        for (k, s) in [left, right].into_iter().enumerate() {
            let Shadow::Value(v) = s else {
                self.abort(Abort::Unsupported("arithmetic on a Boolean"));
                return None;
            };
            self.recorder.emit_exit(Op::GuardInt, &[v], 0, snapshot);
            unboxed[k] = self.recorder.emit(Op::UnboxInt, &[v], 0);
        }
        Some((unboxed[0], unboxed[1]))
    }

    /// The double of a number that was `seen` while recording (a small integer or an
    /// immediate double), guarded to stay of that kind (leaving through `snapshot`).
    pub fn to_double(&mut self, s: Shadow, seen: Value, snapshot: SnapshotId) -> Option<ValueId> {
        let v = self.value(s);
        if self.recorder.is_const_ref(v) && (seen.is_small_int() || seen.is_immediate_double()) {
            // A literal: its double, without a guard (a constant keeps its kind).
            let d = match seen.as_small_int() {
                Some(i) => i as f64,
                None => seen.immediate_double_unchecked(),
            };
            return Some(self.recorder.const_double(d));
        }
        if seen.is_small_int() {
            self.recorder.emit_exit(Op::GuardInt, &[v], 0, snapshot);
            let i = self.recorder.emit(Op::UnboxInt, &[v], 0);
            Some(self.recorder.emit(Op::IntToDouble, &[i], 0))
        } else if seen.is_immediate_double() {
            self.recorder.emit_exit(Op::GuardDouble, &[v], 0, snapshot);
            Some(self.recorder.emit(Op::UnboxDouble, &[v], 0))
        } else {
            self.abort(Abort::Unsupported("arithmetic on a boxed number"));
            None
        }
    }

    /// `op` (`add_double` … `div_double`) of two numbers that were `seen` (at least one an
    /// immediate double, the other one or a small integer); leaves through `snapshot` (the
    /// instruction) when an operand changes kind or the result has no immediate encoding.
    pub fn double_arithmetic(
        &mut self,
        op: Op,
        (left, right): (Shadow, Shadow),
        (x, y): (Value, Value),
        snapshot: SnapshotId,
    ) -> Shadow {
        let (Some(l), Some(r)) = (
            self.to_double(left, x, snapshot),
            self.to_double(right, y, snapshot),
        ) else {
            return Shadow::Entry;
        };
        let d = self.recorder.emit(op, &[l, r], 0);
        Shadow::Value(self.recorder.emit_exit(Op::BoxDouble, &[d], 0, snapshot))
    }

    /// A comparison of two numbers that were `seen` (as `double_arithmetic`), whose outcome
    /// while recording was `holds`.
    pub fn double_compare(
        &mut self,
        compare: Compare,
        (left, right): (Shadow, Shadow),
        (x, y): (Value, Value),
        holds: bool,
        snapshot: SnapshotId,
    ) -> Shadow {
        let (Some(l), Some(r)) = (
            self.to_double(left, x, snapshot),
            self.to_double(right, y, snapshot),
        ) else {
            return Shadow::Entry;
        };
        let ops = (Op::LtDouble, Op::LeDouble, Op::EqDouble);
        self.condition(compare, ops, (l, r), holds, snapshot)
    }

    /// `op` on the double of a number that was `seen` (`sqrt_double`).
    pub fn double_unary(&mut self, op: Op, s: Shadow, seen: Value, snapshot: SnapshotId) -> Shadow {
        let Some(d) = self.to_double(s, seen, snapshot) else {
            return Shadow::Entry;
        };
        let r = self.recorder.emit(op, &[d], 0);
        Shadow::Value(self.recorder.emit_exit(Op::BoxDouble, &[r], 0, snapshot))
    }

    /// An integer operation `op` on two small integers, with a small-integer result: `+`,
    /// `-`, `*`, division, modulo, remainder, shifts (guards: they leave through `snapshot`,
    /// the instruction with its operands, on overflow, a zero divisor or a shift out of
    /// range) and the bitwise operations (which cannot fail). Either operand not being a
    /// small integer leaves through `snapshot` too.
    pub fn int_arithmetic(
        &mut self,
        op: Op,
        left: Shadow,
        right: Shadow,
        snapshot: SnapshotId,
    ) -> Shadow {
        let Some((l, r)) = self.small_ints(left, right, snapshot) else {
            return Shadow::Entry;
        };
        let result = if op.effect() == jit::ir::Effect::Guard {
            self.recorder.emit_exit(op, &[l, r], 0, snapshot)
        } else {
            self.recorder.emit(op, &[l, r], 0)
        };
        Shadow::Value(self.recorder.emit(Op::BoxInt, &[result], 0))
    }

    /// A comparison of two small integers whose outcome while recording was `holds`.
    pub fn int_compare(
        &mut self,
        compare: Compare,
        left: Shadow,
        right: Shadow,
        holds: bool,
        snapshot: SnapshotId,
    ) -> Shadow {
        let Some((l, r)) = self.small_ints(left, right, snapshot) else {
            return Shadow::Entry;
        };
        let ops = (Op::LtInt, Op::LeInt, Op::EqInt);
        self.condition(compare, ops, (l, r), holds, snapshot)
    }

    /// The condition `compare` of `l` and `r` with the IR comparisons `(lt, le, eq)` (greater
    /// ones swap the operands), which `holds` while recording; it resumes at `snapshot`.
    fn condition(
        &mut self,
        compare: Compare,
        (lt, le, eq): (Op, Op, Op),
        (l, r): (ValueId, ValueId),
        holds: bool,
        snapshot: SnapshotId,
    ) -> Shadow {
        let (op, a, b) = match compare {
            Compare::Less => (lt, l, r),
            Compare::Greater => (lt, r, l),
            Compare::LessOrEqual => (le, l, r),
            Compare::GreaterOrEqual => (le, r, l),
            Compare::Equal => (eq, l, r),
        };
        Shadow::Cond {
            cond: self.recorder.emit(op, &[a, b], 0),
            holds,
            resume: snapshot,
        }
    }

    /// The condition of a branch: the trace continues the way the interpreter goes, whose
    /// test saw `seen` (the object `true` or `false`). Otherwise it leaves and the interpreter
    /// decides again: at the comparison for a condition, else through `at_branch` (the branch
    /// with its operand on the stack). Every guard's snapshot re-executes the guarded
    /// instruction, so leaving early is always correct (`--jit-stress-guards` relies on it).
    pub fn branch(&mut self, s: Shadow, seen: Value, at_branch: SnapshotId) {
        match s {
            Shadow::Cond { .. } => self.guard_condition(s),
            Shadow::Value(v) => {
                let expected = self.recorder.const_ref(seen.raw());
                self.recorder
                    .emit_exit(Op::GuardSame, &[v, expected], 0, at_branch);
            }
            Shadow::Entry => self.abort(Abort::Unsupported("a branch on an unread position")),
        }
    }

    /// Guards that a comparison comes out as it did while recording (leaving at the
    /// comparison otherwise).
    fn guard_condition(&mut self, s: Shadow) {
        if let Shadow::Cond {
            cond,
            holds,
            resume,
        } = s
        {
            let op = if holds { Op::GuardTrue } else { Op::GuardFalse };
            self.recorder.emit_exit(op, &[cond], 0, resume);
        }
    }

    /// Closes the loop and compiles it: every position whose value changed becomes
    /// loop-carried. Counts what happened in `stats`.
    pub fn finish(
        mut self,
        options: &JitOptions,
        stats: &mut JitStats,
    ) -> Result<Rc<CompiledTrace>, String> {
        stats.tracing_time += self.started.elapsed();
        // A linear trace ends in its last exit: where the interpreter goes on for what the
        // trace cannot do (`leave`), at another loop's header, whose trace takes over (the
        // engine checked that it expects this many positions), or — a side trace — where its
        // loop's trace begins.
        let last_exit = if let Some(snapshot) = self.leaving {
            Some((Op::Leave, snapshot))
        } else if let Some(target) = self.target.take().filter(|_| self.frames.len() == 1) {
            let len = self.shadow.len();
            Some((Op::Exit, self.snapshot_at(vec![target], len)))
        } else if self.frames.len() != 1 || self.shadow.len() != self.depth {
            return Err("the operand stack differs at the back edge".into());
        } else if self.side_of.is_some() {
            let at_header = vec![self.header_position.clone()];
            Some((Op::Exit, self.snapshot_at(at_header, self.depth)))
        } else {
            None
        };
        if let Some((op, snapshot)) = last_exit {
            self.recorder.emit_exit(op, &[], 0, snapshot);
            let recorded = self.recorder.len();
            let trace = self
                .take_recorder()
                .finish_linear()
                .map_err(|a| a.describe())?;
            return self.compile(trace, recorded, None, options, stats);
        }
        let mut carried = Vec::new();
        for k in 0..self.depth {
            match self.shadow[k] {
                Shadow::Entry => {}
                Shadow::Value(v) => {
                    let entry = self.recorder.input(k as u32);
                    if v != entry {
                        carried.push((entry, v));
                    }
                }
                s @ Shadow::Cond { .. } => {
                    let entry = self.recorder.input(k as u32);
                    let v = self.tagged(k, s);
                    carried.push((entry, v));
                }
            }
        }
        let recorded = self.recorder.len();
        let trace = self
            .take_recorder()
            .close_loop(&carried)
            .map_err(|a| a.describe())?;
        let loop_snapshot = self.loop_snapshot.map(|s| s.0);
        self.compile(trace, recorded, loop_snapshot, options, stats)
    }

    fn take_recorder(&mut self) -> Recorder {
        std::mem::replace(&mut self.recorder, Recorder::new(0))
    }

    /// Optimizes and compiles a closed recording (`recorded` instructions long).
    fn compile(
        &self,
        trace: jit::ir::Trace,
        recorded: usize,
        loop_snapshot: Option<u32>,
        options: &JitOptions,
        stats: &mut JitStats,
    ) -> Result<Rc<CompiledTrace>, String> {
        let started = Instant::now();
        let optimized = jit::opt::optimize(&trace);
        if self.header == super::METHOD_ENTRY
            && self.side_of.is_none()
            && optimized.insts.len() < super::MIN_METHOD_TRACE
        {
            // Entering and leaving a trace costs more than interpreting so little.
            stats.backend_time += started.elapsed();
            return Err(super::TOO_SHORT.into());
        }
        let compiled = jit::backend::x64::compile(
            &optimized,
            loop_snapshot,
            options.stress_guards,
            &super::layout(self.nil),
        );
        stats.backend_time += started.elapsed();
        let compiled = compiled.map_err(|e| match e {
            jit::backend::BackendError::Unsupported(what) => format!("backend: {what}"),
            jit::backend::BackendError::Assembler(what) => format!("backend: {what}"),
        });
        if let Some(log) = &mut stats.log {
            log.push(TraceLog {
                method: self.log_name(),
                header: self.header,
                recorded: jit::text::print(&trace),
                optimized: jit::text::print(&optimized),
                code: compiled
                    .as_ref()
                    .map(|c| c.code_bytes().to_vec())
                    .unwrap_or_default(),
                code_address: compiled.as_ref().map(|c| c.code_address()).unwrap_or(0),
                abort: compiled.as_ref().err().cloned(),
            });
        }
        let compiled = compiled?;
        stats.compiled += 1;
        let place = super::place(&self.method.display_name(), self.header);
        let counts = stats.compiled_loops.entry(place).or_default();
        if self.side_of.is_some() {
            stats.side_traces += 1;
            counts.1 += 1;
        } else {
            counts.0 += 1;
        }
        stats.ops_recorded += recorded as u64;
        stats.ops_optimized += optimized.insts.len() as u64;
        stats.guards += optimized
            .insts
            .iter()
            .filter(|i| i.op.effect() == jit::ir::Effect::Guard)
            .count() as u64;
        stats.code_bytes += compiled.code_size() as u64;
        Ok(Rc::new(compiled))
    }
}
