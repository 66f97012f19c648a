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
use lang::tracing::{self, RecordedFrame, Recording};

use crate::eval::{code_of, LoopAt, Mode, Plain, Recorded};
use crate::node::{LoopJit, Node, AT_HEADER};
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

/// Back edges of inner loops a recording may follow (unrolling them into the trace).
const MAX_UNROLLED: u32 = 40;

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
        self.jit_header(node, jit, fp)
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
                let hot = !self.in_recorded_code && state.hot(&options);
                drop(state);
                return match hot {
                    true => self.record_iteration(node, jit, fp),
                    false => Ok(Header::Iterate),
                };
            }
        };
        drop(state);
        self.run_trace(node, jit, fp, trace)
    }

    /// Records one iteration of the loop: evaluates it in recording mode, which comes back
    /// here at the header (the recording closed, or stopped early) or when the loop ends.
    fn record_iteration(&mut self, node: &Node, jit: &LoopJit, fp: usize) -> Result<Header> {
        let method = self
            .u
            .frames
            .last()
            .expect("a loop runs in an activation")
            .method;
        let depth = self.u.stack.len() - fp;
        let header = (jit.number, 0);
        let rec = Recording::new(&self.u, method, header, vec![AT_HEADER], fp, depth);
        self.recording = Some(Box::new(AstRecording::new(rec, node)));
        self.u.jit_stats.recordings += 1;
        self.in_recorded_code = true;
        let result = self.loop_at::<Recorded>(node, fp, LoopAt::Header);
        self.in_recorded_code = false;
        let back_at_header = std::mem::take(&mut self.back_at_header);
        if let Some(recording) = self.recording.take() {
            // Not closed at the header: stopped, or the loop ended or was left.
            let reason = match (recording.rec.aborted(), &result) {
                (Some(reason), _) => reason,
                (None, Ok(_)) if !back_at_header => Abort::LoopEnded,
                (None, _) => Abort::LeftLoop,
            };
            self.end_recording(jit, recording, Some(reason));
        }
        match result {
            Ok(_) if back_at_header => Ok(Header::Continue(LoopAt::Header)),
            Ok(v) => Ok(Header::Done(v)),
            Err(e) => Err(e),
        }
    }

    /// A loop header reached while recording: the recorded loop's closes the recording (or,
    /// the first time, starts the iteration); another loop's is unrolled into the trace.
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
                self.end_recording(jit, recording, None);
            }
            return Header::Done(self.u.nil);
        }
        if r.rec.aborted().is_some() {
            return Header::Plain;
        }
        if r.rec.unrolled < MAX_UNROLLED {
            r.rec.unrolled += 1;
            return Header::Iterate;
        }
        r.rec.abort(Abort::Unsupported("an inner loop"));
        Header::Plain
    }

    /// Ends a recording of the loop `jit`: compiled, or aborted for `reason`.
    fn end_recording(
        &mut self,
        jit: &LoopJit,
        recording: Box<AstRecording>,
        reason: Option<Abort>,
    ) {
        let options = self.u.options.jit;
        let depth = recording.rec.depth;
        let method = recording.rec.method;
        let side_of = recording.rec.side_of;
        let result = match reason {
            Some(reason) => {
                let why = match &recording.stopped_at {
                    Some(at) => format!("{} ({at})", reason.describe()),
                    None => reason.describe().to_string(),
                };
                let name = method.display_name();
                self.u.jit_stats.log_abort(name, jit.number, why);
                Err(reason.describe())
            }
            None => recording.rec.finish(&options, &mut self.u.jit_stats),
        };
        let ended = reason == Some(Abort::LoopEnded);
        let stats = &mut self.u.jit_stats;
        jit.state
            .borrow_mut()
            .keep(result, ended, (depth, side_of), &options, stats);
    }

    /// Runs the loop's trace on the frame at `fp`, and the side traces its exits lead to,
    /// until an exit without one; resumes where that exit left (a hot exit: recording a side
    /// trace from there). Answers where the loop goes on.
    fn run_trace(
        &mut self,
        node: &Node,
        jit: &LoopJit,
        fp: usize,
        root: Rc<CompiledTrace>,
    ) -> Result<Header> {
        let mut slots = std::mem::take(&mut self.trace_slots);
        let mut exit_values = std::mem::take(&mut self.trace_exit_values);
        slots.clear();
        slots.extend((fp..self.u.stack.len()).map(|i| self.u.stack[i].raw()));
        let options = self.u.options.jit;
        let (mut number, mut trace) = (0u32, root.clone());
        let (exit, record_side) = loop {
            let (chain, exit) = tracing::run(&mut self.u, &trace, &mut slots, &mut exit_values);
            let mut state = jit.state.borrow_mut();
            if chain.trace != trace.entry_address() {
                // Linked traces ran on: another one of this loop's left.
                let found = state.find(chain.trace);
                (number, trace) = found.expect("traces link only to traces of their loop");
            }
            if Some(exit.snapshot) == trace.closing_exit() {
                // A side trace ended at the header: the loop's trace takes over, unless a
                // collection is due (the interpreter then runs an iteration, and collects).
                if self.u.heap.wants_collection() {
                    break (exit, None);
                }
                trace.link(exit.snapshot, &root);
                std::mem::swap(&mut slots, &mut exit_values);
                (number, trace) = (0, root.clone());
                continue;
            }
            if let Some(side) = state.side_trace_at((number, &trace), exit.snapshot) {
                std::mem::swap(&mut slots, &mut exit_values);
                (number, trace) = side;
                continue;
            }
            // Back to the interpreter. An exit where the loop ends is not worth a side trace.
            let depth = state.depth;
            let frames = trace.exit_frames(exit.snapshot);
            let ends_loop = frames.len() == 1 && frames[0].position == [AT_HEADER];
            let exit_state = state.exit(number, exit.snapshot);
            let hot = !ends_loop && !self.in_recorded_code && exit_state.hot(&options);
            break (exit, hot.then_some(((number, exit.snapshot), depth)));
        };
        // The exit values are each activation's positions, the loop frame's first.
        self.u.stack.truncate(fp);
        let frames = trace.exit_frames(exit.snapshot);
        let mut values = exit_values.iter();
        let mut bases = Vec::with_capacity(frames.len());
        for (k, frame) in frames.iter().enumerate() {
            let base = self.u.stack.len();
            if k > 0 {
                let method = Method::from_value(Value::from_raw(frame.method));
                let code = code_of(self, method);
                if let Err(e) = self.u.push_frame(method, code.line, base) {
                    for _ in 1..k {
                        self.u.pop_frame();
                    }
                    self.u.stack.truncate(fp);
                    self.trace_slots = slots;
                    self.trace_exit_values = exit_values;
                    return Err(e);
                }
            }
            bases.push(base);
            for raw in values.by_ref().take(frame.size) {
                self.u.stack.push(Value::from_raw(*raw));
            }
        }
        if frames.len() > 1 {
            self.u.jit_stats.inlined_exits += 1;
        }
        let frames = frames.to_vec();
        self.trace_slots = slots;
        self.trace_exit_values = exit_values;
        match record_side {
            Some((side_of, depth)) => {
                self.record_side(node, jit, fp, (&frames, &bases), side_of, depth)
            }
            None => self.resume_exit::<Plain>(node, fp, &frames, &bases),
        }
    }

    /// Goes on from an exit whose activations (`frames`, at `bases` on the stack) were
    /// rebuilt: the inlined ones, innermost first, each answering the send of the one around
    /// it, then the loop's, whose path starts at the loop node.
    fn resume_exit<M: Mode>(
        &mut self,
        node: &Node,
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
                self.rec_resume_frame(k);
            }
            let result = match completed {
                Ok(value) => {
                    self.resume_path::<M>(&code.body, bases[k], &frames[k].position, value)
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
        if M::RECORDING {
            self.rec_resume_frame(0);
            // The loop goes on in recording mode until its header, where the side trace ends.
            let result = match frames[0].position.as_slice() {
                [AT_HEADER] => self.loop_at::<Recorded>(node, fp, LoopAt::Test),
                path => self.resume_path::<Recorded>(node, fp, path, completed),
            };
            return result.map(|v| match std::mem::take(&mut self.back_at_header) {
                true => Header::Continue(LoopAt::Header),
                false => Header::Done(v),
            });
        }
        let at = match frames[0].position.as_slice() {
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

    /// Records a side trace from the exit `side_of` (trace number, snapshot) of the loop,
    /// whose activations were rebuilt: resumes there in recording mode, up to the header.
    fn record_side(
        &mut self,
        node: &Node,
        jit: &LoopJit,
        fp: usize,
        (frames, bases): (&[ExitFrame], &[usize]),
        side_of: (u32, u32),
        depth: usize,
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
        let method = recorded_frames_method(frames);
        let len = self.u.stack.len() - fp;
        let rec = Recording::side(
            &self.u,
            method,
            (jit.number, 0),
            vec![AT_HEADER],
            fp,
            depth,
            recorded_frames,
            len,
            side_of,
        );
        let mut recording = AstRecording::new(rec, node);
        recording.fresh = false;
        recording.paths = frames.iter().map(|f| f.position.clone()).collect();
        self.recording = Some(Box::new(recording));
        self.u.jit_stats.recordings += 1;
        self.in_recorded_code = true;
        self.back_at_header = false;
        let result = self.resume_exit::<Recorded>(node, fp, frames, bases);
        self.in_recorded_code = false;
        self.back_at_header = false;
        if let Some(recording) = self.recording.take() {
            let reason = recording.rec.aborted().unwrap_or(Abort::LeftLoop);
            self.end_recording(jit, recording, Some(reason));
        }
        result
    }
}

/// The method of an exit's loop activation.
fn recorded_frames_method(frames: &[ExitFrame]) -> &'static Method {
    Method::from_value(Value::from_raw(frames[0].method))
}
