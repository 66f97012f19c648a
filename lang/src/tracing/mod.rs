//! The runtime's side of the tracing JIT, shared by both engines: options, statistics, the
//! per-loop state (hotness counter, compiled trace, aborts), and the recording of runtime-level
//! operations (slot reads and writes, small-integer arithmetic and comparisons, conditions)
//! through `jit::recorder`.
//!
//! Owns: when a loop is hot, when it is blacklisted, what a recorded operation becomes in the
//! IR, and how a recording becomes compiled code (optimize, then the backend), with the
//! counts `--jit-summary` prints. Must never: know an engine's code positions beyond the
//! opaque numbers it is given, or run machine code without `jit::backend`'s safe entry.

pub mod arith;
pub mod calls;
pub mod primitives;
pub mod recording;
pub mod runtime;
pub mod stats;

use std::rc::Rc;

pub use recording::{InnerLoop, RecordedFrame, Recording, Shadow, MAX_UNROLLED};
pub use stats::JitStats;

/// The header key of a method's entry (never a code position): a method called often is
/// recorded from its entry to its return, as a loop is from its header.
pub const METHOD_ENTRY: u32 = u32::MAX;

/// The fewest optimized IR instructions a method's trace must have to be kept: a call of a
/// shorter method costs less interpreted than entering and leaving its trace (measured on
/// Json, whose accessors and constructors ran slower compiled).
pub const MIN_METHOD_TRACE: usize = 15;

/// Why a method's recording was not compiled when it was shorter than that; the method is
/// not recorded again (neither an abort nor a blacklisting in `--jit-summary`).
pub const TOO_SHORT: &str = "a method too short to be worth a trace";

/// How `--jit-summary` and `--jit-log` name the loop at `header` of `method`.
pub fn place(method: &str, header: u32) -> String {
    match header {
        METHOD_ENTRY => format!("{method} (method entry)"),
        header => format!("{method} at {header}"),
    }
}

/// Runs `trace` on `slots` (following links into other traces) until it leaves, counting
/// the entry and the exit; under `--jit-stress-guards` it leaves at the 1st, 2nd, … 7th guard
/// in turn.
pub fn run(
    u: &mut crate::runtime::universe::Universe,
    trace: &jit::backend::CompiledTrace,
    slots: &mut Vec<u64>,
    exit_values: &mut Vec<u64>,
) -> (jit::backend::ChainExit, jit::backend::Exit) {
    u.jit_stats.entries += 1;
    let countdown = 1 + u.jit_stats.entries % 7;
    let left = trace.run_linked(
        slots,
        exit_values,
        countdown,
        &mut runtime::TraceUniverse { u: &mut *u },
    );
    u.jit_stats.exits += 1;
    left
}

/// The object layout the JIT's code relies on (see `gc::header`).
pub fn layout(nil: crate::runtime::value::Value) -> jit::backend::Layout {
    jit::backend::Layout {
        payload_offset: (crate::gc::HEADER_WORDS * 8) as i32,
        meta_offset: 8,
        old_flag: crate::gc::header::OLD as u32,
        remembered_flag: crate::gc::header::REMEMBERED as u32,
        size_shift: crate::gc::header::SIZE_SHIFT as u8,
        nil: nil.raw(),
        max_nursery_object: crate::gc::LARGE_OBJECT_BYTES as u32,
    }
}

/// How the JIT behaves (`som --jit`, `--jit-threshold`).
#[derive(Clone, Copy, Debug)]
pub struct JitOptions {
    pub enabled: bool,
    /// Iterations of a loop before it is recorded.
    pub threshold: u32,
    /// The most IR instructions one recording may have.
    pub max_trace: usize,
    /// Aborted recordings of one loop after which it is never recorded again.
    pub blacklist_after: u32,
    /// Compiled guards leave early and often, whatever their condition, so that every exit
    /// path runs (a test mode: `som --jit-stress-guards`).
    pub stress_guards: bool,
}

impl Default for JitOptions {
    fn default() -> Self {
        JitOptions {
            enabled: false,
            threshold: 100,
            max_trace: 4000,
            blacklist_after: 5,
            stress_guards: false,
        }
    }
}

/// What the JIT knows about one loop (one header in one method).
#[derive(Default)]
pub struct LoopState {
    /// Back edges taken since the last recording attempt.
    pub count: u32,
    /// The loop's trace (trace number 0)…
    pub trace: Option<Rc<jit::backend::CompiledTrace>>,
    /// …its entry state's size (positions of the loop frame at the header)…
    pub depth: usize,
    /// …and its side traces, numbered from 1.
    pub sides: Vec<Rc<jit::backend::CompiledTrace>>,
    /// Per exit of a trace (`[trace number][snapshot]`): how hot it is, and its side trace.
    pub exits: Vec<Vec<ExitState>>,
    pub aborts: u32,
    /// Recordings that ended with the loop (not counted as aborts, but a loop that never
    /// runs a whole iteration after the first is given up after `ENDED_LIMIT`).
    pub ended: u32,
    pub blacklisted: bool,
}

/// The loops of one method, by header (a method has few: a list is faster than hashing).
#[derive(Default)]
pub struct Loops(Vec<(u32, LoopState)>);

impl Loops {
    /// The state of the loop at `header` (created on first use).
    pub fn at(&mut self, header: u32) -> &mut LoopState {
        let i = match self.0.iter().position(|(h, _)| *h == header) {
            Some(i) => i,
            None => {
                self.0.push((header, LoopState::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    /// The trace whose entry is at `entry`: its loop's header, its number (0: the loop's
    /// own, k: side trace k) and the trace.
    pub fn find(&self, entry: u64) -> Option<(usize, u32, Rc<jit::backend::CompiledTrace>)> {
        self.0.iter().find_map(|(header, state)| {
            let (number, trace) = state.find(entry)?;
            Some((*header as usize, number, trace))
        })
    }

    /// The state of the loop at `header`, if it was ever counted.
    pub fn get(&self, header: u32) -> Option<&LoopState> {
        self.0.iter().find(|(h, _)| *h == header).map(|(_, s)| s)
    }
}

impl LoopState {
    /// The trace of this loop whose entry is at `entry`: its number and the trace.
    pub fn find(&self, entry: u64) -> Option<(u32, Rc<jit::backend::CompiledTrace>)> {
        let traces = self.trace.iter().chain(&self.sides);
        let mut numbered = traces.enumerate();
        let (number, trace) = numbered.find(|(_, t)| t.entry_address() == entry)?;
        Some((number as u32, trace.clone()))
    }

    /// The side trace exit `snapshot` of trace `number` (`trace`) leads to, if it has one:
    /// its number and the trace, linked to the exit (the machine code jumps there next).
    pub fn side_trace_at(
        &mut self,
        (number, trace): (u32, &jit::backend::CompiledTrace),
        snapshot: u32,
    ) -> Option<(u32, Rc<jit::backend::CompiledTrace>)> {
        let side = self.exit(number, snapshot).side?;
        let side_trace = self.sides[side as usize - 1].clone();
        trace.link(snapshot, &side_trace);
        Some((side, side_trace))
    }

    /// Counts exit `snapshot` of trace `number` being taken; answers whether to record a side
    /// trace from it now (never once the loop has `MAX_SIDE_TRACES`).
    pub fn exit_is_hot(&mut self, number: u32, snapshot: u32, options: &JitOptions) -> bool {
        self.sides.len() < MAX_SIDE_TRACES && self.exit(number, snapshot).hot(options)
    }

    /// The state of exit `snapshot` of trace `trace` (0: the loop's, k: side trace k).
    pub fn exit(&mut self, trace: u32, snapshot: u32) -> &mut ExitState {
        let (t, s) = (trace as usize, snapshot as usize);
        if self.exits.len() <= t {
            self.exits.resize_with(t + 1, Vec::new);
        }
        let exits = &mut self.exits[t];
        if exits.len() <= s {
            exits.resize_with(s + 1, ExitState::default);
        }
        &mut exits[s]
    }
}

/// The most side traces one loop's traces grow (as LuaJIT's `maxside`): branchy code whose
/// exits keep spawning side traces stays interpreted at the exits beyond (CD grew more than a
/// hundred per loop, hundreds of megabytes of code).
pub const MAX_SIDE_TRACES: usize = 100;

/// Recordings of a loop that may end with the loop before it is blacklisted.
const ENDED_LIMIT: u32 = 20;

/// What the JIT knows about one exit of a compiled trace.
#[derive(Default)]
pub struct ExitState {
    /// Times taken since the last recording attempt.
    pub count: u32,
    /// The side trace that continues from it (its number in `LoopState::sides`).
    pub side: Option<u32>,
    pub aborts: u32,
    pub blacklisted: bool,
}

impl ExitState {
    /// Counts the exit being taken; answers whether to record a side trace from it now. An
    /// exit becomes hot after as many exits as a loop needs iterations (at most 10).
    pub fn hot(&mut self, options: &JitOptions) -> bool {
        if self.blacklisted || self.side.is_some() {
            return false;
        }
        self.count += 1;
        if self.count >= options.threshold.min(10) {
            self.count = 0;
            return true;
        }
        false
    }

    /// Counts an aborted side recording.
    pub fn aborted(&mut self, options: &JitOptions, stats: &mut JitStats) {
        self.aborts += 1;
        if self.aborts >= options.blacklist_after && !self.blacklisted {
            self.blacklisted = true;
            stats.blacklisted_exits += 1;
        }
    }
}

impl LoopState {
    /// Keeps what a recording of this loop came to, `depth` positions at its header: its
    /// trace, or the side trace of exit `side_of` (trace number, snapshot); or the reason it
    /// failed, counted against the loop or the exit (`ended`: the recording ended with the
    /// loop, which is not held against it).
    pub fn keep(
        &mut self,
        outcome: Result<Rc<jit::backend::CompiledTrace>, String>,
        ended: bool,
        (depth, side_of): (usize, Option<(u32, u32)>),
        options: &JitOptions,
        stats: &mut JitStats,
    ) {
        match (outcome, side_of) {
            (Ok(trace), Some((number, snapshot))) => {
                self.sides.push(trace);
                let side = self.sides.len() as u32;
                self.exit(number, snapshot).side = Some(side);
            }
            (Err(reason), Some((number, snapshot))) => {
                stats.abort(reason);
                self.exit(number, snapshot).aborted(options, stats);
            }
            (Ok(trace), None) => {
                self.trace = Some(trace);
                self.depth = depth;
            }
            // Not a failure: the method is left to the interpreter (and not counted).
            (Err(reason), None) if reason == TOO_SHORT => self.blacklisted = true,
            (Err(reason), None) if ended => {
                stats.abort(reason);
                self.ended(options, stats);
            }
            (Err(reason), None) => {
                stats.abort(reason);
                self.aborted(options, stats);
            }
        }
    }

    /// Counts a back edge; answers whether to record the loop now.
    pub fn hot(&mut self, options: &JitOptions) -> bool {
        if self.blacklisted || self.trace.is_some() {
            return false;
        }
        self.count += 1;
        if self.count >= options.threshold {
            self.count = 0;
            return true;
        }
        false
    }

    /// Counts an aborted recording (or a trace the backend refused).
    pub fn aborted(&mut self, options: &JitOptions, stats: &mut JitStats) {
        self.aborts += 1;
        if self.aborts >= options.blacklist_after {
            self.blacklist(stats);
        }
    }

    /// Counts a recording that ended with the loop. The next one starts half a threshold
    /// later, so that a loop whose invocations run a multiple of the threshold iterations
    /// is not caught at its last iteration every time.
    pub fn ended(&mut self, options: &JitOptions, stats: &mut JitStats) {
        self.ended += 1;
        self.count = options.threshold / 2;
        if self.ended >= ENDED_LIMIT {
            self.blacklist(stats);
        }
    }

    fn blacklist(&mut self, stats: &mut JitStats) {
        if !self.blacklisted {
            self.blacklisted = true;
            stats.blacklisted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::gc::GcConfig;
    use crate::runtime::universe::{Options, Universe};
    use crate::runtime::value::Value;

    /// Runs a trace that doubles an immediate double (leaving through @0 when the result has
    /// no immediate encoding, through @1 with it otherwise).
    fn doubled_by_compiled_code(x: Value) -> Option<Value> {
        let text = "\
%0 = input #0
guard_double %0 @0
%2 = unbox_double %0
%3 = add_double %2 %2
%4 = box_double %3 @0
exit @1
@0: 0x1 [0] %0
@1: 0x1 [1] %4
";
        let trace = jit::text::parse(text).unwrap();
        let code =
            jit::backend::x64::compile(&trace, None, false, &super::layout(Value::EMPTY)).unwrap();
        let mut u = Universe::new(Vec::new(), GcConfig::default(), Options::default());
        let mut exit = Vec::new();
        let mut runtime = super::runtime::TraceUniverse { u: &mut u };
        let e = code.run(&mut vec![x.raw()], &mut exit, 0, &mut runtime);
        (e.snapshot == 1).then(|| Value::from_raw(exit[0]))
    }

    #[test]
    fn compiled_code_encodes_doubles_as_the_runtime_does() {
        for d in [
            0.0,
            -0.0,
            1.5,
            -2.75,
            1e-70,
            -1e70,
            std::f64::consts::PI,
            2f64.powi(255),
            2f64.powi(-250),
        ] {
            let x = Value::try_immediate_double(d).expect("an immediate double");
            assert_eq!(
                doubled_by_compiled_code(x),
                Value::try_immediate_double(d + d),
                "{d} + {d}"
            );
        }
    }
}
