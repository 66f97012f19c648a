//! The AST engine's recording: what each node records when evaluated in recording mode.
//!
//! Owns: the node path of every recorded activation (a snapshot's position: child numbers
//! from the activation's root — the loop node for the loop's own — to where it resumes), the
//! shadow of the value the last node answered, and the calls into `lang::tracing` each node
//! makes. The evaluator calls these hooks before it acts, with the concrete values it is about
//! to act on (`eval::Mode`). Must never: end a recording (that happens at the loop header, in
//! `traces`), or panic on a recording that has stopped — hooks then do nothing.

use jit::ir::{Op as IrOp, SnapshotId};
use jit::recorder::Abort;
use lang::runtime::class::Class;
use lang::runtime::method::Method;
use lang::runtime::object;
use lang::runtime::value::Value;
use lang::tracing::arith::{self, Binary, Outcome};
use lang::tracing::calls::{self, Call};
use lang::tracing::recording::Compare;
use lang::tracing::{Recording, Shadow};

use crate::eval::code_of;
use crate::node::{ArithNode, ArithOp, GlobalNode, Head, Node, Place, AT_HEADER, EVALUATE};
use crate::AstEngine;

/// A call the recording follows into an activation.
#[derive(Clone, Copy)]
pub(crate) struct Inlined {
    /// Recorded activations with the callee's.
    pub frames: usize,
    /// Whether it evaluates the receiver, a block (which the engine then calls directly, as
    /// the recording laid out its activation, not through the evaluation primitive).
    pub block: bool,
}

/// A recording in progress, with what the AST engine needs besides the shared `Recording`.
pub(crate) struct AstRecording {
    pub rec: Recording,
    /// Per recorded activation (the loop's first): the path to the node being evaluated.
    pub paths: Vec<Vec<u32>>,
    /// The shadow of the value the last evaluated node answered.
    pub last: Shadow,
    /// The loop node recorded (compared, never followed).
    pub loop_node: *const Node,
    /// Whether the recording has not passed the loop's header yet.
    pub fresh: bool,
    /// Whether it runs in a method's body from its entry (not in a loop): it ends where the
    /// method returns.
    pub in_method: bool,
    /// The path of the loop whose state keeps the outcome: the recorded loop's, or, for a
    /// side trace, the loop whose trace's exit it starts at.
    pub owner: Box<[u32]>,
    /// Where the recording stopped, for `--jit-log`.
    pub stopped_at: Option<String>,
    /// Whether the recording ended at another loop's header (`rec.target`), before the
    /// iteration it is in did: it is compiled when the iteration is over.
    pub closed: bool,
}

impl AstRecording {
    pub fn new(rec: Recording, loop_node: &Node, owner: &[u32]) -> AstRecording {
        AstRecording {
            rec,
            paths: vec![Vec::new()],
            last: Shadow::Entry,
            loop_node,
            fresh: true,
            in_method: false,
            owner: owner.into(),
            stopped_at: None,
            closed: false,
        }
    }

    /// Whether the recording still records (it has neither stopped nor ended).
    pub fn live(&self) -> bool {
        self.rec.aborted().is_none() && !self.closed
    }

    /// A snapshot that resumes at `tail` after the current path of the innermost activation
    /// (the others at their sends), with `completed` pushed as the value the innermost's
    /// child answered.
    fn snapshot(&mut self, tail: &[u32], completed: Option<Shadow>) -> SnapshotId {
        if self.paths.len() != self.rec.frames.len() {
            self.rec.abort(Abort::Unsupported("node paths out of step"));
        }
        let mut positions = self.paths.clone();
        positions.truncate(self.rec.frames.len());
        positions.resize(self.rec.frames.len(), Vec::new());
        if let Some(innermost) = positions.last_mut() {
            innermost.extend_from_slice(tail);
        }
        if let Some(s) = completed {
            self.rec.push(s);
        }
        let len = self.rec.shadow.len();
        let snapshot = self.rec.snapshot_at(positions, len);
        if completed.is_some() {
            self.rec.drop_top(1);
        }
        snapshot
    }

    /// Ends the recording at `tail` after the loop frame's current path, where the last
    /// value was answered (it is the snapshot's last value).
    fn close_with_last(&mut self, tail: &[u32]) {
        let mut target = self.paths[0].clone();
        target.extend_from_slice(tail);
        self.rec.push(self.last);
        self.rec.target = Some(target);
        self.closed = true;
    }

    /// The snapshot after child `c` of the node being evaluated answered the last value.
    fn after(&mut self, c: u32) -> SnapshotId {
        let last = self.last;
        self.snapshot(&[c], Some(last))
    }
}

impl AstEngine {
    /// The live recording, if any, whose innermost activation is the frame at `fp`.
    fn live_recording(&mut self, fp: usize) -> Option<&mut AstRecording> {
        self.live()?;
        let r = self.recording.as_deref_mut()?;
        if fp != r.rec.origin + r.rec.frame().base {
            r.rec
                .abort(Abort::Unsupported("a frame the recording did not follow"));
            return None;
        }
        Some(r)
    }

    /// The live recording, if any. (The first hook to find a recording stopped notes where:
    /// the activation it is in, for `--jit-log`.)
    fn live(&mut self) -> Option<&mut AstRecording> {
        let r = self.recording.as_deref_mut()?;
        if r.live() {
            return Some(r);
        }
        if r.rec.aborted().is_some() && r.stopped_at.is_none() {
            r.stopped_at = Some(place_now(&self.u));
        }
        None
    }

    pub(crate) fn rec_enter_child(&mut self, c: u32) {
        if let Some(path) = self
            .recording
            .as_deref_mut()
            .and_then(|r| r.paths.last_mut())
        {
            path.push(c);
        }
    }

    pub(crate) fn rec_leave_child(&mut self) {
        if let Some(path) = self
            .recording
            .as_deref_mut()
            .and_then(|r| r.paths.last_mut())
        {
            path.pop();
        }
    }

    /// Stops the recording: the evaluation reached something it does not record.
    pub(crate) fn rec_stop(&mut self, what: &'static str) {
        let place = place_now(&self.u);
        if let Some(r) = self.live() {
            r.rec.abort(Abort::Unsupported(what));
            r.stopped_at = Some(place);
        }
    }

    /// Ends the recording: the trace leaves at `tail` after the current path (all
    /// activations as they are) for the interpreter to do what it cannot.
    pub(crate) fn rec_leave(&mut self, tail: &[u32]) {
        if let Some(r) = self.live() {
            let snapshot = r.snapshot(tail, None);
            r.rec.leave(snapshot);
            r.closed = true;
        }
    }

    pub(crate) fn rec_constant(&mut self, v: Value) {
        if let Some(r) = self.live() {
            r.last = r.rec.constant(v);
        }
    }

    pub(crate) fn rec_push_last(&mut self) {
        if let Some(r) = self.live() {
            r.rec.push(r.last);
        }
    }

    pub(crate) fn rec_pop_last(&mut self) {
        if let Some(r) = self.live() {
            r.last = r.rec.pop();
        }
    }

    /// Pushes a copy of the value at stack index `at`.
    pub(crate) fn rec_push_copy(&mut self, at: usize) {
        if let Some(r) = self.live() {
            let s = r.rec.read_position(at - r.rec.origin);
            r.rec.push(s);
        }
    }

    /// Drops the positions from stack index `at` up; the one at `at` was the last value.
    pub(crate) fn rec_pop_to(&mut self, at: usize) {
        if let Some(r) = self.live() {
            let k = at - r.rec.origin;
            r.last = r.rec.read_position(k);
            let n = r.rec.shadow.len().saturating_sub(k);
            r.rec.drop_top(n);
        }
    }

    /// The receiver of the frame's method (a block's, from the block).
    fn receiver_shadow(r: &mut AstRecording, in_block: bool) -> Shadow {
        let slot0 = r.rec.read(0);
        if in_block {
            r.rec.load_field(slot0, object::BLOCK_RECEIVER)
        } else {
            slot0
        }
    }

    /// The context a place's chain starts at, followed `level` times outward.
    fn context_shadow(&self, r: &mut AstRecording, head: Head, level: u32) -> Shadow {
        let mut context = match head {
            Head::Own(slot) => r.rec.read(slot as usize),
            Head::BlockOuter => {
                let block = r.rec.read(0);
                r.rec.load_field(block, object::BLOCK_OUTER)
            }
            Head::Nil => r.rec.constant(self.u.nil),
        };
        for _ in 0..level {
            context = r.rec.load_field(context, object::CONTEXT_OUTER);
        }
        context
    }

    pub(crate) fn rec_receiver(&mut self, fp: usize, in_block: bool) {
        if let Some(r) = self.live_recording(fp) {
            r.last = Self::receiver_shadow(r, in_block);
        }
    }

    pub(crate) fn rec_read(&mut self, fp: usize, place: Place) {
        let Some(mut r) = self.recording.take() else {
            return;
        };
        if r.live() && fp == r.rec.origin + r.rec.frame().base {
            r.last = match place {
                Place::Slot(s) => r.rec.read(s as usize),
                Place::Context { head, level, index } => {
                    let context = self.context_shadow(&mut r, head, level);
                    r.rec.load_field(context, index as usize)
                }
            };
        } else if r.live() {
            r.rec
                .abort(Abort::Unsupported("a frame the recording did not follow"));
        }
        self.recording = Some(r);
    }

    /// Writes the last value to `place`.
    pub(crate) fn rec_write(&mut self, fp: usize, place: Place) {
        if let Some(r) = self.recording.as_deref() {
            let last = r.last;
            self.rec_write_shadow(fp, place, last);
        }
    }

    /// Writes the value at stack index `at` to `place`.
    pub(crate) fn rec_write_from(&mut self, fp: usize, place: Place, at: usize) {
        if let Some(r) = self.live() {
            let s = r.rec.read_position(at - r.rec.origin);
            self.rec_write_shadow(fp, place, s);
        }
    }

    fn rec_write_shadow(&mut self, fp: usize, place: Place, value: Shadow) {
        let Some(mut r) = self.recording.take() else {
            return;
        };
        if r.live() && fp == r.rec.origin + r.rec.frame().base {
            match place {
                Place::Slot(s) => r.rec.write(s as usize, value),
                Place::Context { head, level, index } => {
                    let context = self.context_shadow(&mut r, head, level);
                    r.rec.store_field(context, index as usize, value);
                }
            }
        } else if r.live() {
            r.rec
                .abort(Abort::Unsupported("a frame the recording did not follow"));
        }
        self.recording = Some(r);
    }

    // A method's receiver is an object of the method's holder (or a subclass) on every
    // execution, so its fields need no guard.
    // (Class-side fields: the receiver is a class, guarded to stay the one seen.)
    pub(crate) fn rec_read_field(&mut self, fp: usize, index: u32, in_block: bool, class: bool) {
        let seen = self.class_receiver(fp, in_block, class);
        if let Some(r) = self.live_recording(fp) {
            let receiver = Self::receiver_shadow(r, in_block);
            r.last = match seen {
                Some(class) => {
                    let snapshot = r.snapshot(&[EVALUATE], None);
                    r.rec
                        .load_class_field(receiver, class, index as usize, snapshot)
                }
                None => r.rec.load_field(receiver, index as usize),
            };
        }
    }

    /// Stores the last value into field `index` of the receiver.
    pub(crate) fn rec_write_field(&mut self, fp: usize, index: u32, in_block: bool, class: bool) {
        let seen = self.class_receiver(fp, in_block, class);
        if let Some(r) = self.live_recording(fp) {
            let receiver = Self::receiver_shadow(r, in_block);
            let value = r.last;
            match seen {
                Some(class) => {
                    let snapshot = r.after(0);
                    let field = (index as usize, value);
                    r.rec.store_class_field(receiver, class, field, snapshot);
                }
                None => r.rec.store_field(receiver, index as usize, value),
            }
        }
    }

    /// The receiver, a class, when a field node reads its class-side fields.
    fn class_receiver(
        &self,
        fp: usize,
        in_block: bool,
        class_side: bool,
    ) -> Option<&'static Class> {
        let slot0 = self.u.stack[fp];
        let receiver = match in_block {
            true => object::value_at(slot0, object::BLOCK_RECEIVER),
            false => slot0,
        };
        class_side.then(|| Class::from_value(receiver))
    }

    pub(crate) fn rec_global(&mut self, g: &GlobalNode) {
        let cell = g.cache.cell(&mut self.u) as *const _ as i64;
        if let Some(r) = self.live() {
            r.last = Shadow::Value(r.rec.recorder.emit(IrOp::LoadGlobal, &[], cell));
        }
    }

    pub(crate) fn rec_block(
        &mut self,
        fp: usize,
        method: &'static Method,
        head: Head,
        in_block: bool,
    ) {
        if !calls::block_is_recordable(method) {
            // Its home activation may not exist outside the trace: the trace leaves, and
            // the interpreter makes the block.
            return self.rec_leave(&[EVALUATE]);
        }
        let Some(mut r) = self.recording.take() else {
            return;
        };
        if r.live() && fp == r.rec.origin + r.rec.frame().base {
            let snapshot = r.snapshot(&[EVALUATE], None);
            let outer = match head {
                Head::Nil => r.rec.constant(self.u.nil),
                head => self.context_shadow(&mut r, head, 0),
            };
            let receiver = Self::receiver_shadow(&mut r, in_block);
            r.last = calls::record_block(&mut r.rec, &self.u, method, (outer, receiver), snapshot);
        }
        self.recording = Some(r);
    }

    /// A send of `found` (None: not understood) to the receiver and `nargs` arguments on the
    /// stack — of `class`, guarded, unless a super send. Answers, when the recording follows
    /// the call into an activation, how the engine makes it.
    pub(crate) fn rec_send(
        &mut self,
        found: Option<&'static Method>,
        class: Option<&'static Class>,
        nargs: usize,
    ) -> Option<Inlined> {
        let Some(m) = found else {
            // The trace leaves at the send: the interpreter sends doesNotUnderstand:.
            self.rec_leave(&[nargs as u32]);
            return None;
        };
        let mut r = self.recording.take()?;
        let inlined = if r.live() {
            self.record_send(&mut r, m, class, nargs)
        } else {
            None
        };
        self.recording = Some(r);
        inlined
    }

    fn record_send(
        &mut self,
        r: &mut AstRecording,
        m: &'static Method,
        class: Option<&'static Class>,
        nargs: usize,
    ) -> Option<Inlined> {
        let snapshot = r.snapshot(&[nargs as u32], None);
        let base = self.u.stack.len() - nargs - 1;
        if let Some(class) = class {
            let s = r.rec.peek(nargs);
            r.rec.guard_class(s, self.u.stack[base], class, snapshot);
        }
        let args: Vec<Value> = (base..self.u.stack.len())
            .map(|i| self.u.stack[i])
            .collect();
        match calls::record_call(&mut r.rec, &self.u, m, &args, snapshot) {
            Call::Inline(method) => {
                let code = code_of(self, method);
                let Some(hir) = method.code() else {
                    r.rec.abort(Abort::Unsupported("a method without code"));
                    return None;
                };
                let context = calls::record_context(&mut r.rec, &self.u, hir, nargs, snapshot);
                r.rec.enter_frame(method, nargs, code.frame_slots, 0);
                if let Some(context) = context {
                    r.rec.write(code.context_slot, context);
                }
                r.paths.push(Vec::new());
                Some(Inlined {
                    frames: r.rec.frames.len(),
                    block: !std::ptr::eq(method, m),
                })
            }
            Call::Done | Call::Stopped => None,
        }
    }

    /// The send recorded by `rec_send` is over (`ok`: it answered a value).
    pub(crate) fn rec_sent(&mut self, inlined: Option<Inlined>, ok: bool) {
        let Some(r) = self.live() else {
            return;
        };
        if !ok {
            r.rec.abort(Abort::LeftLoop);
            return;
        }
        if let Some(Inlined { frames, .. }) = inlined {
            if r.rec.frames.len() != frames {
                r.rec.abort(Abort::Unsupported("activations out of step"));
                return;
            }
            r.paths.pop();
            let result = r.last;
            r.rec.leave_frame(result);
        }
        r.last = r.rec.pop();
    }

    /// A side recording resumes rebuilt activation `k` (0: the loop's) from the node at
    /// `root` (its body, or the loop node the evaluation is at): the ones inside it are over.
    pub(crate) fn rec_resume_frame(&mut self, k: usize, root: &[u32]) {
        if let Some(r) = self.recording.as_deref_mut() {
            r.paths.truncate(k + 1);
            if let Some(path) = r.paths.get_mut(k) {
                path.clear();
                path.extend_from_slice(root);
            }
        }
    }

    /// A rebuilt inlined activation answered the last value (`ok`), or unwound.
    pub(crate) fn rec_frame_resumed(&mut self, ok: bool) {
        let Some(r) = self.live() else {
            return;
        };
        if !ok {
            r.rec.abort(Abort::LeftLoop);
            return;
        }
        r.paths.pop();
        let result = r.last;
        r.rec.leave_frame(result);
    }

    /// A method's `^`: from an inlined activation it answers the last value; from the
    /// loop's own method it leaves the loop.
    pub(crate) fn rec_return(&mut self) {
        if let Some(r) = self.live() {
            if r.rec.frames.len() == 1 {
                match r.in_method {
                    // A method's recording ends where it returns: after the `^`'s value.
                    true => r.close_with_last(&[0]),
                    false => r.rec.abort(Abort::LoopEnded),
                }
            }
        }
    }

    /// The body of a method being recorded from its entry answered the last value (it has
    /// no `^` at its end): the recording ends there.
    pub(crate) fn rec_method_end(&mut self) {
        if let Some(r) = self.live() {
            if r.rec.frames.len() == 1 && r.in_method {
                r.close_with_last(&[]);
            }
        }
    }

    /// Arithmetic of `l` (on the stack) and `r` (the last value): answers whether it was
    /// recorded as IR (otherwise the send is recorded as the interpreter makes it).
    pub(crate) fn rec_arith(&mut self, a: &ArithNode, l: Value, right: Value) -> bool {
        let Some(r) = self.live() else {
            return false;
        };
        let binary = match a.op {
            ArithOp::Add => Binary::Add,
            ArithOp::Sub => Binary::Subtract,
            ArithOp::Mul => Binary::Multiply,
            ArithOp::Lt => Binary::Compare(Compare::Less),
            ArithOp::Gt => Binary::Compare(Compare::Greater),
            ArithOp::Le => Binary::Compare(Compare::LessOrEqual),
            ArithOp::Ge => Binary::Compare(Compare::GreaterOrEqual),
            ArithOp::Eq => Binary::Compare(Compare::Equal),
        };
        let snapshot = r.after(1);
        r.rec.push(r.last);
        let fast = (a.int_fast, a.double_fast);
        let outcome = arith::record_binary(&mut r.rec, binary, (l, right), fast, |_| snapshot);
        r.last = r.rec.pop();
        outcome == Outcome::Done
    }

    /// The test of an `if`, `and:`/`or:` or `while` on `seen`, the last value (child 0 of
    /// the node): a Boolean, or (`nil_test`) whether it is nil.
    pub(crate) fn rec_test(&mut self, seen: Value, nil_test: bool) {
        let nil = self.u.nil;
        let Some(r) = self.live() else {
            return;
        };
        let s = r.last;
        let at_test = r.after(0);
        if nil_test {
            let nil_shadow = r.rec.constant(nil);
            let cond = r.rec.identical(s, nil_shadow, seen == nil, at_test);
            r.rec.branch(cond, seen, at_test);
            return;
        }
        let at_branch = match s {
            Shadow::Cond { resume, .. } => resume,
            _ => at_test,
        };
        r.rec.branch(s, seen, at_branch);
    }

    /// A loop's test, which `goes_on` or not: the recorded loop ending ends the recording.
    pub(crate) fn rec_loop_test(
        &mut self,
        node: &Node,
        fp: usize,
        goes_on: bool,
        record: impl FnOnce(&mut AstEngine),
    ) {
        let Some(r) = self.live() else {
            return;
        };
        if !goes_on && std::ptr::eq(node, r.loop_node) && fp == r.rec.origin {
            r.rec.abort(Abort::LoopEnded);
            return;
        }
        record(self);
    }

    /// The test of a `to:do:` whose from, to, by and counter are at stack index `base`.
    pub(crate) fn rec_counting_test(&mut self, base: usize, ascending: bool, goes_on: bool) {
        if let Some(r) = self.live() {
            let snapshot = r.snapshot(&[AT_HEADER], None);
            let k = base - r.rec.origin;
            let (limit, by) = (r.rec.read_position(k + 1), r.rec.read_position(k + 2));
            let counter = r.rec.read_position(k + 3);
            r.rec
                .counting_loop_test(counter, limit, by, ascending, goes_on, snapshot);
        }
    }

    /// A `to:do:`'s counter advances (its body, child 3, answered the last value).
    pub(crate) fn rec_count_up(&mut self, base: usize) {
        if let Some(r) = self.live() {
            let snapshot = r.after(3);
            let k = base - r.rec.origin;
            let (by, counter) = (r.rec.read_position(k + 2), r.rec.read_position(k + 3));
            let next = r.rec.int_arithmetic(IrOp::AddOv, counter, by, snapshot);
            r.rec.write_position(k + 3, next);
        }
    }

    /// The test of a `timesRepeat:` whose count and iterations left are at `base`.
    pub(crate) fn rec_count_down(&mut self, base: usize, more: bool) {
        if let Some(r) = self.live() {
            let snapshot = r.snapshot(&[AT_HEADER], None);
            let k = base + 1 - r.rec.origin;
            let left = r.rec.read_position(k);
            if more {
                let next = r.rec.count_down(left, snapshot);
                r.rec.write_position(k, next);
            } else {
                r.rec.count_ended(left, snapshot);
            }
        }
    }

    /// A `timesRepeat:`'s count, the last value (child 0), is a small integer.
    pub(crate) fn rec_guard_integer(&mut self, seen: Value) {
        let integer = self.u.core.integer;
        if let Some(r) = self.live() {
            let snapshot = r.after(0);
            let s = r.last;
            r.rec.guard_class(s, seen, integer, snapshot);
        }
    }
}

/// Where the evaluation is, for an abort's place in `--jit-log`: the innermost activation's
/// method and line.
fn place_now(u: &lang::runtime::universe::Universe) -> String {
    match u.frames.last() {
        Some(f) => format!("in {} (line {})", f.method.display_name(), f.line),
        None => "outside every activation".into(),
    }
}
