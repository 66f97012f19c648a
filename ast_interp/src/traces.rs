//! The AST engine's compiled loops: loop nodes at their header, recording an iteration, and
//! running a loop's trace — resuming where it left, in the middle of an expression and
//! inside the activations it had inlined.
//!
//! Owns: when a loop node counts an iteration, starts a recording (one iteration evaluated in
//! recording mode, back to the plain evaluator at the header) or runs its trace; where a
//! recording ends; rebuilding an exit's activations and resuming each along its snapshot's
//! node path. Must never: run a trace on a frame without the positions it reads, or start a
//! recording while code of another one is still on the Rust stack.

use std::rc::Rc;

use jit::backend::{CompiledTrace, ExitFrame};
use jit::recorder::Abort;
use lang::runtime::engine::{Result, Unwind};
use lang::runtime::method::Method;
use lang::runtime::value::Value;
use lang::tracing::{self, InnerLoop, RecordedFrame, Recording, METHOD_ENTRY};

use crate::eval::{code_of, LoopAt, Mode, Plain, Recorded};
use crate::node::{AstMethod, LoopJit, Node, AT_HEADER, EVALUATE};
use crate::record::AstRecording;
use crate::AstEngine;

/// How a loop node goes on at its header.
pub(crate) enum Header {
    /// Run the next iteration.
    Iterate,
    /// Compiled code ran: go on from there.
    Continue(LoopAt),
    /// The loop is over and answered this.
    Done(Value),
    /// Go on in the plain evaluator (a recording-mode loop whose recording is over).
    Plain,
}

/// Whether `position` lies in an iteration of the loop at `path` of `code` (its header,
/// condition or body; not the operands a loop node evaluates once before it starts).
fn in_iteration(code: &AstMethod, path: &[u32], position: &[u32]) -> bool {
    if path.is_empty() {
        return true; // the method's body (`[]` is only ever the entry's path)
    }
    let Some(rest) = position.strip_prefix(path) else {
        return false;
    };
    match (code.node_at(path), rest.first()) {
        (_, Some(&AT_HEADER)) => true,
        (Some(Node::While(_)), Some(_)) => true,
        (Some(Node::ToDo(_)), Some(&c)) => c == 3,
        (Some(Node::TimesRepeat(_)), Some(&c)) => c == 1,
        _ => false,
    }
}

/// Where compiled code left: the trace and the exit's snapshot (its activations), their
/// values, and — when the exit is hot enough for a side trace — the exit and the loop whose
/// trace left (its key; empty otherwise).
pub(crate) struct Left {
    trace: Rc<CompiledTrace>,
    snapshot: u32,
    values: Vec<u64>,
    owner: Vec<u32>,
    side_of: Option<(u32, u32)>,
}

impl Left {
    /// The exit's activations, outermost first.
    fn frames(&self) -> &[ExitFrame] {
        self.trace.exit_frames(self.snapshot)
    }
}

impl AstEngine {
    /// The loop `node` (whose JIT state is `jit`) of the frame at `fp` is at its header.
    #[inline(always)]
    pub(crate) fn at_header<M: Mode>(
        &mut self,
        node: &Node,
        jit: &LoopJit,
        fp: usize,
    ) -> Result<Header> {
        if M::RECORDING {
            return Ok(self.recording_header(node, jit, fp));
        }
        if !self.u.options.jit.enabled {
            return Ok(Header::Iterate);
        }
        let header = self.jit_header(node, jit, fp);
        let resumed = self.resumed_here((node, jit), fp, header)?;
        Ok(resumed.unwrap_or_else(|header| header))
    }

    /// `result`, unless compiled code run for this loop (`node`, `jit`, at `fp`) left
    /// somewhere else in it and the evaluation unwound to here: then where it goes on from
    /// there (which may unwind to here again).
    pub(crate) fn resumed_here<T>(
        &mut self,
        (node, jit): (&Node, &LoopJit),
        fp: usize,
        mut result: Result<T>,
    ) -> Result<std::result::Result<T, Header>> {
        loop {
            match result {
                Err(Unwind::ToLoop { fp: at, number }) if at == fp && number == jit.number => {
                    let left = self.left.take().expect("an exit to resume");
                    match self.resume_left((node, jit), fp, left) {
                        Ok(header) => return Ok(Err(header)),
                        Err(e) => result = Err(e),
                    }
                }
                other => return other.map(Ok),
            }
        }
    }

    /// Runs the loop's trace if it has one for this many positions, or counts the iteration
    /// and records the next one when the loop is hot.
    #[inline(never)]
    fn jit_header(&mut self, node: &Node, jit: &LoopJit, fp: usize) -> Result<Header> {
        let options = self.u.options.jit;
        let depth = self.u.stack.len() - fp;
        let mut state = jit.state.borrow_mut();
        let trace = match &state.trace {
            Some(t) if state.depth == depth => t.clone(),
            Some(_) => return Ok(Header::Iterate),
            None => {
                let hot = state.hot(&options);
                drop(state);
                return match hot && self.may_record() {
                    true => self.record_iteration(node, jit, fp),
                    false => Ok(Header::Iterate),
                };
            }
        };
        drop(state);
        self.run_trace(node, jit, fp, trace)
    }

    /// At the entry of an activation of `code` at `fp` (its context made): runs the
    /// method's trace if it has one, or counts the call and records this activation when the
    /// method is hot. Answers the body's value (`None`: the engine evaluates the body).
    #[inline(never)]
    pub(crate) fn method_entry(&mut self, code: &AstMethod, fp: usize) -> Option<Result<Value>> {
        let options = self.u.options.jit;
        let depth = self.u.stack.len() - fp;
        let jit = &code.entry;
        let mut state = jit.state.borrow_mut();
        let trace = match state.trace.clone() {
            Some(t) if state.depth == depth => t,
            Some(_) => return None,
            None => {
                let hot = state.hot(&options);
                drop(state);
                return (hot && self.may_record()).then(|| self.record_method(code, fp));
            }
        };
        drop(state);
        Some(match self.run_trace(&code.body, jit, fp, trace) {
            Ok(Header::Done(v)) => Ok(v),
            Ok(_) => unreachable!("a method's trace resumes to the method's end"),
            Err(e) => Err(e),
        })
    }

    /// Records an activation of `code` at `fp` from its entry to its return.
    fn record_method(&mut self, code: &AstMethod, fp: usize) -> Result<Value> {
        let depth = self.u.stack.len() - fp;
        let header = (METHOD_ENTRY, 0);
        let jit = &code.entry;
        let position = vec![EVALUATE];
        let rec = Recording::new(&self.u, code.method, header, position, fp, depth);
        let mut recording = AstRecording::new(rec, &code.body, &jit.key());
        recording.fresh = false;
        recording.in_method = true;
        self.recording = Some(Box::new(recording));
        self.u.jit_stats.recordings += 1;
        let result = self.eval_recording(&code.body, fp);
        if result.is_ok() {
            self.rec_method_end();
        }
        self.end_unclosed_recording();
        result
    }

    /// Records one iteration of the loop: evaluates it in recording mode, which comes back
    /// here at the header (the recording closed, or stopped early) or when the loop ends.
    fn record_iteration(&mut self, node: &Node, jit: &LoopJit, fp: usize) -> Result<Header> {
        let frame = self.u.frames.last().expect("a loop runs in an activation");
        let method = frame.method;
        let depth = self.u.stack.len() - fp;
        let header = (jit.number, 0);
        let rec = Recording::new(&self.u, method, header, jit.header_position(), fp, depth);
        let mut recording = AstRecording::new(rec, node, &jit.key());
        recording.paths = vec![jit.path().to_vec()];
        self.recording = Some(Box::new(recording));
        self.u.jit_stats.recordings += 1;
        let result = self.loop_at::<Recorded>(node, fp, LoopAt::Header);
        let back_at_header = std::mem::take(&mut self.back_at_header);
        if let Some(recording) = self.recording.take() {
            // Not closed at the header: ended at another loop's; or stopped, or the loop
            // ended or was left.
            let reason = match (recording.rec.aborted(), &result) {
                (None, _) if recording.closed => None,
                (Some(reason), _) => Some(reason),
                (None, Ok(_)) if !back_at_header => Some(Abort::LoopEnded),
                (None, _) => Some(Abort::LeftLoop),
            };
            self.end_recording(recording, reason);
        }
        match result {
            Ok(_) if back_at_header => Ok(Header::Continue(LoopAt::Header)),
            Ok(v) => Ok(Header::Done(v)),
            Err(e) => Err(e),
        }
    }

    /// A loop header reached while recording: the loop the recording runs in closes the
    /// recording (or, the first time, starts the iteration); another loop's, in the same
    /// activation and with a trace, ends it there (that trace takes over); any other loop is
    /// unrolled into the trace a few times, then the trace ends at its header
    /// (`Recording::inner_loop`).
    fn recording_header(&mut self, node: &Node, jit: &LoopJit, fp: usize) -> Header {
        let Some(r) = self.recording.as_mut() else {
            return Header::Plain;
        };
        let is_recorded_loop =
            std::ptr::eq(node, r.loop_node) && fp == r.rec.origin && r.rec.frames.len() == 1;
        if is_recorded_loop {
            if r.fresh {
                r.fresh = false;
                return Header::Iterate;
            }
            self.back_at_header = true;
            if r.rec.aborted().is_none() {
                let recording = self.recording.take().expect("a recording");
                self.end_recording(recording, None);
            }
            return Header::Done(self.u.nil);
        }
        if !r.live() {
            return Header::Plain;
        }
        let depth = self.u.stack.len() - fp;
        let state = jit.state.borrow();
        let takes_over = state.trace.is_some() && state.depth == depth;
        if takes_over && r.rec.frames.len() == 1 && fp == r.rec.origin && !r.fresh {
            // The iteration goes on; the trace is compiled at its end.
            r.rec.target = Some(jit.header_position());
            r.closed = true;
            return Header::Plain;
        }
        drop(state);
        // An inner loop without a trace of its own: unrolled into this one, a few times;
        // beyond that, the trace ends at its header.
        let r = self.recording.as_mut().expect("a recording");
        let in_loop_frame = fp == r.rec.origin;
        match r.rec.inner_loop() {
            InnerLoop::Unroll => return Header::Iterate,
            InnerLoop::EndAtHeader if in_loop_frame => {
                r.rec.target = Some(jit.header_position());
                r.closed = true;
            }
            InnerLoop::EndAtHeader | InnerLoop::LeaveAtHeader => self.rec_leave(&[AT_HEADER]),
        }
        Header::Plain
    }

    /// The body of `code`'s activation at `fp` answered `result`: unless compiled code run
    /// in it left outside its loops and the evaluation unwound to here, where the body goes
    /// on from there.
    pub(crate) fn body_resumed(
        &mut self,
        code: &AstMethod,
        fp: usize,
        result: Result<Value>,
    ) -> Result<Value> {
        match self.resumed_here((&code.body, &code.entry), fp, result)? {
            Ok(v) | Err(Header::Done(v)) => Ok(v),
            Err(_) => unreachable!("a method's body resumes to its end"),
        }
    }

    /// Whether a recording may start: none is recording (one that has stopped or ended
    /// while code it evaluated is still running is ended now — its owner is found by key).
    fn may_record(&mut self) -> bool {
        match &self.recording {
            None => true,
            Some(r) if !r.live() => {
                self.end_unclosed_recording();
                true
            }
            Some(_) => false,
        }
    }

    /// Ends the recording if the evaluation it was in is over and it is still there: compiled
    /// if it ended where the trace ends (`closed`), else aborted (when it was left, by an
    /// error or an unwind).
    fn end_unclosed_recording(&mut self) {
        if let Some(recording) = self.recording.take() {
            let reason = match recording.rec.aborted() {
                None if recording.closed => None,
                reason => Some(reason.unwrap_or(Abort::LeftLoop)),
            };
            self.end_recording(recording, reason);
        }
    }

    /// Ends a recording: compiled, or aborted for `reason`; kept in the state of the loop
    /// whose trace or exit it started from.
    fn end_recording(&mut self, recording: Box<AstRecording>, reason: Option<Abort>) {
        let options = self.u.options.jit;
        let depth = recording.rec.depth;
        let method = recording.rec.method;
        let side_of = recording.rec.side_of;
        let code = code_of(self, method);
        let Some(owner) = code.loop_at(&recording.owner) else {
            unreachable!("a recording's loop is a loop node of its method");
        };
        let result = match reason {
            Some(reason) => {
                let why = match &recording.stopped_at {
                    Some(at) => format!("{} ({at})", reason.describe()),
                    None => reason.describe().to_string(),
                };
                let name = recording.rec.log_name();
                self.u.jit_stats.log_abort(name, owner.number, why);
                Err(reason.describe())
            }
            None => recording.rec.finish(&options, &mut self.u.jit_stats),
        };
        let ended = reason == Some(Abort::LoopEnded);
        let stats = &mut self.u.jit_stats;
        owner
            .state
            .borrow_mut()
            .keep(result, ended, (depth, side_of), &options, stats);
    }

    /// Runs the trace of the loop `node` (`jit`) on the frame at `fp`, and the traces its
    /// exits lead to — side traces, and the traces of the loops whose headers traces end
    /// at — until an exit without one; resumes where that exit left (a hot exit: recording a
    /// side trace from there). Answers where the loop goes on. Linked traces may leave inside
    /// a loop around this one: the evaluation then unwinds to that loop, which resumes.
    fn run_trace(
        &mut self,
        node: &Node,
        jit: &LoopJit,
        fp: usize,
        root: Rc<CompiledTrace>,
    ) -> Result<Header> {
        let method = self.u.frames.last().expect("a loop's activation").method;
        let code = code_of(self, method);
        let mut slots = std::mem::take(&mut self.trace_slots);
        let mut exit_values = std::mem::take(&mut self.trace_exit_values);
        slots.clear();
        slots.extend((fp..self.u.stack.len()).map(|i| self.u.stack[i].raw()));
        let options = self.u.options.jit;
        // The loop whose trace runs, the trace's number.
        let (mut owner, mut number, mut trace) = (jit, 0u32, root);
        let (exit, record_side) = loop {
            let (chain, exit) = tracing::run(&mut self.u, &trace, &mut slots, &mut exit_values);
            if chain.trace != trace.entry_address() {
                // Linked traces ran on: another one of this method's left.
                let found = code.all_loops().find_map(|(_, l)| {
                    let (number, trace) = l.state.borrow().find(chain.trace)?;
                    Some((l, number, trace))
                });
                (owner, number, trace) = found.expect("traces link only to their method's");
            }
            let frames = trace.exit_frames(exit.snapshot);
            if Some(exit.snapshot) == trace.leaving_exit() {
                break (exit, None); // for the interpreter to do what the trace cannot
            }
            if Some(exit.snapshot) == trace.closing_exit() {
                // The trace ended at a loop header: that loop's trace takes over, unless a
                // collection is due (the interpreter then goes on there, and collects).
                let target_loop = match frames[0].position.split_last() {
                    Some((&AT_HEADER, path)) => code.loop_at(path),
                    // Where the method returns (a method's trace): the interpreter returns.
                    _ => break (exit, None),
                };
                let target_loop = target_loop.expect("a loop header");
                owner = target_loop;
                let next = target_loop.state.borrow().trace.clone();
                match next {
                    Some(next) if !self.u.heap.wants_collection() => {
                        trace.link(exit.snapshot, &next);
                        std::mem::swap(&mut slots, &mut exit_values);
                        (number, trace) = (0, next);
                        continue;
                    }
                    _ => break (exit, None),
                }
            }
            let mut state = owner.state.borrow_mut();
            if let Some(side) = state.side_trace_at((number, &trace), exit.snapshot) {
                std::mem::swap(&mut slots, &mut exit_values);
                (number, trace) = side;
                continue;
            }
            // Back to the interpreter. An exit where the loop it was entered from ends is not
            // worth a side trace.
            let ends_loop = frames.len() == 1 && jit.is_header(&frames[0].position);
            let hot = !ends_loop && state.exit_is_hot(number, exit.snapshot, &options);
            break (exit, hot.then_some((number, exit.snapshot)));
        };
        // (State borrows are over: ending a stopped recording updates its loop's.)
        let record_side = record_side.filter(|_| self.may_record());
        // (The exit values go with `left`; `resume_left` gives the buffer back.)
        let left = Left {
            trace,
            snapshot: exit.snapshot,
            values: exit_values,
            owner: record_side.map_or_else(Vec::new, |_| owner.key()),
            side_of: record_side,
        };
        self.trace_slots = slots;
        let position = &left.frames()[0].position;
        if !in_iteration(code, jit.path(), position) {
            // Outside this loop's iterations (a linked trace recorded from a loop around it
            // ran on): the innermost loop around it where it left resumes.
            // (None: outside every loop, where the method's activation resumes — a side trace
            // recorded from the method's entry ran on to its return.)
            let around = code
                .loops
                .iter()
                .filter(|p| jit.path().starts_with(p) && in_iteration(code, p, position))
                .max_by_key(|p| p.len());
            let number = match around {
                Some(path) => code.loop_at(path).expect("a loop node").number,
                None => METHOD_ENTRY,
            };
            self.left = Some(left);
            return Err(Unwind::ToLoop { fp, number });
        }
        self.resume_left((node, jit), fp, left)
    }

    /// Rebuilds the activations compiled code `left` in — the loop frame at `fp` (whose
    /// values come first), then each inlined activation on top of its caller — and goes on
    /// from there in the loop `node` (`jit`) the evaluation is at.
    fn resume_left(
        &mut self,
        (node, jit): (&Node, &LoopJit),
        fp: usize,
        mut left: Left,
    ) -> Result<Header> {
        self.u.stack.truncate(fp);
        let mut values = left.values.iter();
        let mut bases = Vec::with_capacity(left.frames().len());
        for (k, frame) in left.frames().iter().enumerate() {
            let base = self.u.stack.len();
            if k > 0 {
                let method = Method::from_value(Value::from_raw(frame.method));
                let code = code_of(self, method);
                if let Err(e) = self.u.push_frame(method, code.line, base) {
                    for _ in 1..k {
                        self.u.pop_frame();
                    }
                    self.u.stack.truncate(fp);
                    return Err(e);
                }
            }
            bases.push(base);
            for raw in values.by_ref().take(frame.size) {
                self.u.stack.push(Value::from_raw(*raw));
            }
        }
        if left.frames().len() > 1 {
            self.u.jit_stats.inlined_exits += 1;
        }
        let mut buffer = std::mem::take(&mut left.values);
        buffer.clear();
        if self.trace_exit_values.capacity() == 0 {
            self.trace_exit_values = buffer;
        }
        let owner = std::mem::take(&mut left.owner);
        match left.side_of {
            Some(side_of) => {
                self.record_side((node, jit), fp, (left.frames(), &bases), owner, side_of)
            }
            None => self.resume_exit::<Plain>((node, jit), fp, left.frames(), &bases),
        }
    }

    /// Goes on from an exit whose activations (`frames`, at `bases` on the stack) were
    /// rebuilt: the inlined ones, innermost first, each answering the send of the one around
    /// it, then the loop's — from the loop node `node` (`jit`) the evaluation is at.
    fn resume_exit<M: Mode>(
        &mut self,
        (node, jit): (&Node, &LoopJit),
        fp: usize,
        frames: &[ExitFrame],
        bases: &[usize],
    ) -> Result<Header> {
        let mut completed: Result<Option<Value>> = Ok(None);
        for k in (1..frames.len()).rev() {
            let method = Method::from_value(Value::from_raw(frames[k].method));
            let code = code_of(self, method);
            let id = self.u.frames.last().expect("a rebuilt activation").id;
            if M::RECORDING {
                self.rec_resume_frame(k, &[]);
            }
            let result = match completed {
                Ok(value) => {
                    let result =
                        self.resume_path::<M>(&code.body, bases[k], &frames[k].position, value);
                    // (Compiled code run inside it may leave outside its loops.)
                    self.body_resumed(code, bases[k], result)
                }
                Err(e) => Err(e),
            };
            self.u.pop_frame();
            self.u.stack.truncate(bases[k]);
            completed = match result {
                Ok(v) => Ok(Some(v)),
                Err(Unwind::NonLocalReturn { home, value }) if home == id => Ok(Some(value)),
                Err(e) => Err(e),
            };
            if M::RECORDING {
                self.rec_frame_resumed(completed.is_ok());
            }
        }
        let completed = completed?;
        if jit.number == METHOD_ENTRY {
            // The method's body goes on to its end (a recording up to its return).
            if M::RECORDING {
                self.rec_resume_frame(0, &[]);
            }
            let v = self.resume_path::<M>(node, fp, &frames[0].position, completed)?;
            if M::RECORDING {
                self.rec_method_end();
            }
            return Ok(Header::Done(v));
        }
        // The loop frame's position, from the loop node.
        let Some(position) = frames[0].position.strip_prefix(jit.path()) else {
            unreachable!("an exit inside the loop it was entered from");
        };
        if M::RECORDING {
            self.rec_resume_frame(0, jit.path());
            // The loop goes on in recording mode until its header, where the side trace ends.
            let result = match position {
                [AT_HEADER] => self.loop_at::<Recorded>(node, fp, LoopAt::Test),
                path => self.resume_path::<Recorded>(node, fp, path, completed),
            };
            return result.map(|v| match std::mem::take(&mut self.back_at_header) {
                true => Header::Continue(LoopAt::Header),
                false => Header::Done(v),
            });
        }
        let at = match position {
            // Tested again here, not by the trace that just left there.
            [AT_HEADER] => LoopAt::Test,
            [c] => {
                let v = completed.unwrap_or_else(|| self.u.stack.pop().expect("a value"));
                LoopAt::After(*c, v)
            }
            [c, rest @ ..] => {
                let child = node
                    .child(*c)
                    .expect("a snapshot's path leads through children");
                let v = self.resume_path::<Plain>(child, fp, rest, completed)?;
                LoopAt::After(*c, v)
            }
            [] => unreachable!("an exit inside the loop node"),
        };
        Ok(Header::Continue(at))
    }

    /// Records a side trace from the exit `side_of` (trace number, snapshot) of a trace of
    /// the loop at `owner`, whose activations were rebuilt: resumes there in recording mode,
    /// up to the header of the loop `node` (`jit`) the evaluation is at.
    fn record_side(
        &mut self,
        (node, jit): (&Node, &LoopJit),
        fp: usize,
        (frames, bases): (&[ExitFrame], &[usize]),
        owner: Vec<u32>,
        side_of: (u32, u32),
    ) -> Result<Header> {
        let recorded_frames = frames
            .iter()
            .zip(bases)
            .map(|(f, base)| RecordedFrame {
                method: Method::from_value(Value::from_raw(f.method)),
                base: base - fp,
                call_position: 0,
            })
            .collect();
        let method = Method::from_value(Value::from_raw(frames[0].method));
        let len = self.u.stack.len() - fp;
        let depth = jit.state.borrow().depth;
        let header = (
            code_of(self, method)
                .loop_at(&owner)
                .map_or(0, |l| l.number),
            0,
        );
        let rec = Recording::side(
            &self.u,
            method,
            header,
            jit.header_position(),
            fp,
            depth,
            recorded_frames,
            len,
            side_of,
        );
        let mut recording = AstRecording::new(rec, node, &owner);
        recording.fresh = false;
        recording.in_method = jit.number == METHOD_ENTRY;
        recording.paths = frames.iter().map(|f| f.position.clone()).collect();
        self.recording = Some(Box::new(recording));
        self.u.jit_stats.recordings += 1;
        self.back_at_header = false;
        let result = self.resume_exit::<Recorded>((node, jit), fp, frames, bases);
        self.back_at_header = false;
        self.end_unclosed_recording();
        result
    }
}
