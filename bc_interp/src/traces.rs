//! The bytecode engine's compiled loops: hot back edges, and running traces.
//!
//! Owns: counting back edges per loop header and starting a recording when a loop is hot,
//! running a loop's trace and what its exits lead to (side traces, the traces of the loop
//! headers traces end at), resuming where the last one left — rebuilding the activations of
//! inlined methods the exit was in — and starting a side trace's recording at a hot exit.
//! Must never: let a trace run when the loop frame does not have the positions it reads, or
//! run traces past a pending collection without going back to the interpreter.

use std::rc::Rc;

use jit::backend::CompiledTrace;
use lang::runtime::engine::Result;
use lang::runtime::method::Method;
use lang::runtime::value::Value;
use lang::tracing::{self, RecordedFrame, Recording, METHOD_ENTRY};

use crate::bytecode::Op;
use crate::handlers::Flow;
use crate::method::BcMethod;
use crate::BcEngine;

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
            let state = loops.at(header as u32);
            if let Some(t) = &state.trace {
                Some(t.clone())
            } else if state.hot(&options) {
                None
            } else {
                return Ok((Flow::Goto, header));
            }
        };
        match trace {
            Some(trace) => self.run_trace(code, fp, header, trace),
            None => {
                let depth = self.u.stack.len() - fp;
                self.recording = Some(Recording::new(
                    &self.u,
                    code.method,
                    (header as u32, loop_end(code, header) as u32),
                    vec![header as u32],
                    fp,
                    depth,
                ));
                self.u.jit_stats.recordings += 1;
                Ok((Flow::Switch, header))
            }
        }
    }

    /// At the entry of an activation of `code` at `fp`, pushed by a send: runs the method's
    /// trace if it has one, or counts the call and starts recording when the method is hot
    /// (a method is recorded from its entry to its return, as a loop is from its header).
    #[inline(never)]
    pub(crate) fn method_entry(
        &mut self,
        code: &'static BcMethod,
        fp: usize,
    ) -> Result<(Flow, usize)> {
        if self.recording.is_some() {
            return Ok((Flow::Goto, 0)); // the recording follows the call
        }
        let options = self.u.options.jit;
        let depth = self.u.stack.len() - fp;
        let trace = {
            let mut loops = code.loops.borrow_mut();
            let state = loops.at(METHOD_ENTRY);
            match state.trace.clone() {
                Some(t) if state.depth == depth => Some(t),
                Some(_) => return Ok((Flow::Goto, 0)),
                None if state.hot(&options) => None,
                None => return Ok((Flow::Goto, 0)),
            }
        };
        match trace {
            Some(trace) => self.run_trace(code, fp, METHOD_ENTRY as usize, trace),
            None => {
                let end = code.code.len() as u32;
                self.recording = Some(Recording::new(
                    &self.u,
                    code.method,
                    (METHOD_ENTRY, end),
                    vec![0],
                    fp,
                    depth,
                ));
                self.u.jit_stats.recordings += 1;
                Ok((Flow::Switch, 0))
            }
        }
    }

    /// Runs the loop at `header`'s trace on the loop frame at `fp`, and the traces its exits
    /// lead to — side traces, and the traces of the loop headers traces end at — until an
    /// exit without one. Answers how the dispatch loop goes on where that exit resumes: in
    /// the loop frame, or (`Flow::Switch`, so that the loop takes the new top frame's
    /// registers) in an inlined activation the exit rebuilt. A hot exit starts the recording
    /// of a side trace there; a trace ending at a loop header without a trace counts an
    /// iteration of that loop, as its back edge would.
    fn run_trace(
        &mut self,
        code: &'static BcMethod,
        fp: usize,
        header: usize,
        root: Rc<CompiledTrace>,
    ) -> Result<(Flow, usize)> {
        // Buffers reused from run to run.
        let mut slots = std::mem::take(&mut self.trace_slots);
        let mut exit_values = std::mem::take(&mut self.trace_exit_values);
        slots.clear();
        slots.extend((fp..self.u.stack.len()).map(|i| self.u.stack[i].raw()));
        let (mut header, mut number, mut trace) = (header, 0u32, root);
        let options = self.u.options.jit;
        let (exit, record_side) = loop {
            let (chain, exit) = tracing::run(&mut self.u, &trace, &mut slots, &mut exit_values);
            let mut loops = code.loops.borrow_mut();
            if chain.trace != trace.entry_address() {
                // Linked traces ran on: another one of this method's left.
                match loops.find(chain.trace) {
                    Some(found) => (header, number, trace) = found,
                    None => unreachable!("traces link only to traces of their method"),
                }
            }
            if Some(exit.snapshot) == trace.leaving_exit() {
                break (exit, None); // for the interpreter to do what the trace cannot
            }
            let closing = Some(exit.snapshot) == trace.closing_exit();
            let target = trace.exit_frames(exit.snapshot)[0].position[0] as usize;
            if closing && is_return(code, target) {
                // A side trace that ends where the loop's method returns.
                break (exit, None);
            }
            if closing {
                // The trace ended at a loop header (of its own loop or another in this
                // frame): that loop's trace takes over, unless a collection is due.
                let next = loops.at(target as u32).trace.clone();
                match next {
                    Some(next) if !self.u.heap.wants_collection() => {
                        trace.link(exit.snapshot, &next);
                        std::mem::swap(&mut slots, &mut exit_values);
                        (header, number, trace) = (target, 0, next);
                        continue;
                    }
                    // The interpreter goes on at the header: it collects at its next
                    // safepoint, and enters the trace again at the next back edge.
                    Some(_) => break (exit, None),
                    // Count the iteration, as the header's back edge would.
                    None => break (exit, Some(None)),
                }
            }
            let state = loops.at(header as u32);
            if let Some(side) = state.side_trace_at((number, &trace), exit.snapshot) {
                std::mem::swap(&mut slots, &mut exit_values);
                (number, trace) = side;
                continue;
            }
            let key = (number, exit.snapshot);
            let hot = state.exit_is_hot(number, exit.snapshot, &options);
            break (exit, hot.then_some(Some((key, state.depth))));
        };
        // The exit values are each activation's positions (slots, then operands), the loop
        // frame's first; each inlined one is rebuilt on top of its caller, which resumes
        // after the send that called it.
        self.u.stack.truncate(fp);
        let frames = trace.exit_frames(exit.snapshot);
        let mut values = exit_values.iter();
        // The activations as a side trace's recording sees them (only for one).
        let recording_side = matches!(record_side, Some(Some(_)));
        let mut recorded_frames = Vec::new();
        for (k, frame) in frames.iter().enumerate() {
            let method = Method::from_value(Value::from_raw(frame.method));
            if k > 0 {
                let callee = self.code_of(method)?;
                self.u.set_pc(frames[k - 1].position[0]);
                let base = self.u.stack.len();
                self.u.push_frame(method, callee.line, base)?;
            }
            if recording_side {
                recorded_frames.push(RecordedFrame {
                    method,
                    base: self.u.stack.len() - fp,
                    call_position: frames.get(k + 1).map_or(0, |_| frame.position[0]),
                });
            }
            for raw in values.by_ref().take(frame.size) {
                self.u.stack.push(Value::from_raw(*raw));
            }
        }
        let pc = frames.last().expect("an exit has a frame").position[0] as usize;
        if frames.len() > 1 {
            self.u.jit_stats.inlined_exits += 1;
        }
        self.trace_slots = slots;
        self.trace_exit_values = exit_values;
        if let Some(None) = record_side {
            // At a loop header without a trace, as after its back edge.
            return self.back_edge(code, fp, pc);
        }
        if let Some(Some((side_of, depth))) = record_side {
            let len = self.u.stack.len() - fp;
            self.recording = Some(Recording::side(
                &self.u,
                code.method,
                (header as u32, loop_end(code, header) as u32),
                vec![header as u32],
                fp,
                depth,
                recorded_frames,
                len,
                side_of,
            ));
            self.u.jit_stats.recordings += 1;
            return Ok((Flow::Switch, pc));
        }
        let flow = if frames.len() == 1 {
            Flow::Goto
        } else {
            Flow::Switch
        };
        Ok((flow, pc))
    }
}

/// The back edge of the loop at `header`: the first backward jump to it (the loops the
/// compiler makes are nested, so the body lies between the two).
fn loop_end(code: &BcMethod, header: usize) -> usize {
    (header..code.code.len())
        .find(|&pc| {
            let i = code.code[pc];
            matches!(i.op, Op::JumpBack | Op::ForNext) && pc + 1 - i.b as usize == header
        })
        .unwrap_or(code.code.len())
}

/// Whether the instruction at `pc` returns from the method.
fn is_return(code: &BcMethod, pc: usize) -> bool {
    matches!(code.code[pc].op, Op::Return | Op::ReturnSlot)
}
