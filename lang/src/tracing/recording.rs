//! One loop iteration being recorded: the shadow of the loop frame (which trace value each
//! slot and operand-stack position holds) and the runtime-level operations engines record.
//!
//! Owns: shadows, snapshots built from them, the IR for small-integer arithmetic and
//! comparisons and for the conditions that steer a branch, and turning the finished
//! recording into compiled code. Positions are counted from the loop frame's first slot
//! (`stack[fp + k]`): its slots first, then its operand stack. Must never: guess a value —
//! every guard records the concrete outcome the interpreter is about to act on.

use std::rc::Rc;
use std::time::Instant;

use jit::backend::CompiledTrace;
use jit::ir::{Op, Snapshot, SnapshotFrame, SnapshotId, ValueId};
use jit::recorder::{Abort, Recorder};

use super::stats::TraceLog;
use super::{JitOptions, JitStats};
use crate::runtime::method::Method;
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

/// A comparison of two small integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
    Equal,
}

pub struct Recording {
    pub recorder: Recorder,
    pub method: &'static Method,
    /// The engine's position of the loop header.
    pub header: u32,
    /// Positions at the header (slots and operand stack): the trace's entry state.
    pub depth: usize,
    pub shadow: Vec<Shadow>,
    /// Where a safepoint request at the back edge leaves: the header, with the values the
    /// next iteration starts from.
    loop_snapshot: SnapshotId,
    started: Instant,
}

impl Recording {
    /// Starts recording the loop at `header` of `method`, whose frame has `depth` positions.
    pub fn new(
        method: &'static Method,
        header: u32,
        depth: usize,
        options: &JitOptions,
    ) -> Recording {
        let mut recorder = Recorder::new(options.max_trace);
        let slots: Vec<ValueId> = (0..depth).map(|k| recorder.input(k as u32)).collect();
        let loop_snapshot = recorder.snapshot(Snapshot {
            frames: vec![SnapshotFrame {
                method: method as *const Method as u64,
                position: vec![header],
                slots,
            }],
        });
        Recording {
            recorder,
            method,
            header,
            depth,
            shadow: vec![Shadow::Entry; depth],
            loop_snapshot,
            started: Instant::now(),
        }
    }

    pub fn abort(&mut self, reason: Abort) {
        self.recorder.abort(reason);
    }

    pub fn aborted(&self) -> Option<Abort> {
        self.recorder.aborted()
    }

    /// The tagged value at a position (`None` for a condition not materialized).
    fn tagged(&mut self, position: usize, s: Shadow) -> Option<ValueId> {
        match s {
            Shadow::Entry => Some(self.recorder.input(position as u32)),
            Shadow::Value(v) => Some(v),
            Shadow::Cond { .. } => None,
        }
    }

    /// The tagged value of position `k`; a condition there stops the recording.
    pub fn read(&mut self, k: usize) -> Shadow {
        match self.shadow.get(k).copied() {
            Some(Shadow::Entry) => Shadow::Value(self.recorder.input(k as u32)),
            Some(s) => s,
            None => {
                self.abort(Abort::Unsupported("a position outside the loop frame"));
                Shadow::Entry
            }
        }
    }

    pub fn write(&mut self, k: usize, s: Shadow) {
        if let Some(slot) = self.shadow.get_mut(k) {
            *slot = s;
        } else {
            self.abort(Abort::Unsupported("a position outside the loop frame"));
        }
    }

    pub fn push(&mut self, s: Shadow) {
        self.shadow.push(s);
    }

    pub fn pop(&mut self) -> Shadow {
        let k = self.shadow.len().saturating_sub(1);
        let s = self.read(k);
        self.shadow.pop();
        s
    }

    pub fn top(&mut self) -> Shadow {
        let k = self.shadow.len().saturating_sub(1);
        self.read(k)
    }

    /// A constant tagged value.
    pub fn constant(&mut self, v: Value) -> Shadow {
        Shadow::Value(self.recorder.const_ref(v.raw()))
    }

    /// A snapshot of the loop frame as it is now, to resume at `position`; only the first
    /// `len` positions count (the rest are operands the resumed instruction has not pushed).
    pub fn snapshot(&mut self, position: u32, len: usize) -> SnapshotId {
        let mut slots = Vec::with_capacity(len);
        for k in 0..len.min(self.shadow.len()) {
            let s = self.shadow[k];
            match self.tagged(k, s) {
                Some(v) => slots.push(v),
                None => {
                    self.abort(Abort::Unsupported("a Boolean condition in a snapshot"));
                    slots.push(self.recorder.input(k as u32));
                }
            }
        }
        self.recorder.snapshot(Snapshot {
            frames: vec![SnapshotFrame {
                method: self.method as *const Method as u64,
                position: vec![position],
                slots,
            }],
        })
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

    /// The test of an inlined `to:do:` whose loop went on while recording, with a step of
    /// the sign `ascending` says: guards that the step keeps its sign and the counter has
    /// not passed the limit (leaving through `snapshot`, the test itself).
    pub fn counting_loop_test(
        &mut self,
        counter: Shadow,
        limit: Shadow,
        step: Shadow,
        ascending: bool,
        snapshot: SnapshotId,
    ) {
        let zero = self.constant(Value::small_int(0));
        let (sign, within) = if ascending {
            (
                self.int_compare(Compare::Less, zero, step, true, snapshot),
                self.int_compare(Compare::LessOrEqual, counter, limit, true, snapshot),
            )
        } else {
            (
                self.int_compare(Compare::Less, step, zero, true, snapshot),
                self.int_compare(Compare::GreaterOrEqual, counter, limit, true, snapshot),
            )
        };
        self.guard_condition(sign);
        self.guard_condition(within);
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

    /// Field `index` of `object`, which must be an object of a class with that field in every
    /// execution of the trace (the receiver of the method that holds the loop).
    pub fn receiver_field(&mut self, object: Shadow, index: usize) -> Shadow {
        let Shadow::Value(v) = object else {
            self.abort(Abort::Unsupported("a field of a Boolean condition"));
            return Shadow::Entry;
        };
        Shadow::Value(self.recorder.emit(Op::LoadField, &[v], index as i64))
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
                self.abort(Abort::Unsupported("arithmetic on a Boolean condition"));
                return None;
            };
            self.recorder.emit_exit(Op::GuardInt, &[v], 0, snapshot);
            unboxed[k] = self.recorder.emit(Op::UnboxInt, &[v], 0);
        }
        Some((unboxed[0], unboxed[1]))
    }

    /// `+`, `-` or `*` of two small integers; leaves through `snapshot` (the instruction,
    /// operands on the stack) if either is not one or the result is not one.
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
        let result = self.recorder.emit_exit(op, &[l, r], 0, snapshot);
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
        let (op, a, b) = match compare {
            Compare::Less => (Op::LtInt, l, r),
            Compare::Greater => (Op::LtInt, r, l),
            Compare::LessOrEqual => (Op::LeInt, l, r),
            Compare::GreaterOrEqual => (Op::LeInt, r, l),
            Compare::Equal => (Op::EqInt, l, r),
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
        if self.shadow.len() != self.depth {
            return Err("the operand stack differs at the back edge".into());
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
                Shadow::Cond { .. } => return Err("a Boolean condition stays in a slot".into()),
            }
        }
        let recorded = self.recorder.len();
        let trace = self
            .recorder
            .close_loop(&carried)
            .map_err(|a| a.describe())?;
        let started = Instant::now();
        let optimized = jit::opt::optimize(&trace);
        let compiled = jit::backend::x64::compile(
            &optimized,
            Some(self.loop_snapshot.0),
            options.stress_guards,
            &jit::backend::Layout {
                payload_offset: (crate::gc::HEADER_WORDS * 8) as i32,
            },
        );
        stats.backend_time += started.elapsed();
        let compiled = compiled.map_err(|e| match e {
            jit::backend::BackendError::Unsupported(what) => format!("backend: {what}"),
            jit::backend::BackendError::Assembler(what) => format!("backend: {what}"),
        });
        if let Some(log) = &mut stats.log {
            log.push(TraceLog {
                method: self.method.display_name(),
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
