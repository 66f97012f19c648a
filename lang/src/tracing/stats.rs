//! What the JIT did, for `som --jit-summary`.
//!
//! Owns: the counters and times, and their report. Must never: influence a decision.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// One recording for `--jit-log`: the loop, the IR before and after optimization, and the
/// machine code — or why there is none.
#[derive(Debug, Clone)]
pub struct TraceLog {
    pub method: String,
    pub header: u32,
    pub recorded: String,
    pub optimized: String,
    pub code: Vec<u8>,
    pub code_address: u64,
    pub abort: Option<String>,
}

impl JitStats {
    /// With `--jit-log`: a recording that stopped, and why (with where).
    pub fn log_abort(&mut self, method: String, header: u32, why: String) {
        if let Some(log) = &mut self.log {
            log.push(TraceLog {
                method,
                header,
                recorded: String::new(),
                optimized: String::new(),
                code: Vec::new(),
                code_address: 0,
                abort: Some(why),
            });
        }
    }
}

#[derive(Default, Debug)]
pub struct JitStats {
    /// With `--jit-log`: every recording that reached the optimizer.
    pub log: Option<Vec<TraceLog>>,
    /// Recordings started.
    pub recordings: u64,
    /// Traces compiled to machine code…
    pub compiled: u64,
    /// …of which side traces (from a hot exit of another trace back to the loop header).
    pub side_traces: u64,
    pub ops_recorded: u64,
    pub ops_optimized: u64,
    pub guards: u64,
    pub code_bytes: u64,
    /// Aborted recordings (and traces the backend refused) by reason.
    pub aborts: BTreeMap<String, u64>,
    pub blacklisted: u64,
    /// Exits whose side recordings kept aborting.
    pub blacklisted_exits: u64,
    /// Times compiled code was entered, and left through a guard or a safepoint request.
    pub entries: u64,
    pub exits: u64,
    /// Exits inside an inlined activation (the engine rebuilt its frames).
    pub inlined_exits: u64,
    pub tracing_time: Duration,
    pub backend_time: Duration,
    /// Per loop (`Class>>method at position`): its traces compiled (the loop's own and side
    /// traces), for the summary's list of what was compiled.
    pub compiled_loops: BTreeMap<String, (u64, u64)>,
}

impl JitStats {
    pub fn abort(&mut self, reason: String) {
        *self.aborts.entry(reason).or_insert(0) += 1;
    }

    pub fn report(&self) -> String {
        let mut out = String::from("JIT summary\n");
        let _ = writeln!(out, "  loops recorded       {}", self.recordings);
        let _ = writeln!(
            out,
            "  traces compiled      {} ({} side traces)",
            self.compiled, self.side_traces
        );
        for (place, (own, sides)) in &self.compiled_loops {
            let _ = writeln!(out, "    {place}: {own} trace(s), {sides} side trace(s)");
        }
        let _ = writeln!(
            out,
            "  IR instructions      {} recorded, {} after optimization",
            self.ops_recorded, self.ops_optimized
        );
        let _ = writeln!(out, "  guards               {}", self.guards);
        let _ = writeln!(out, "  machine code         {} bytes", self.code_bytes);
        let _ = writeln!(
            out,
            "  trace entries        {} ({} exits, {} inside inlined activations)",
            self.entries, self.exits, self.inlined_exits
        );
        let aborted: u64 = self.aborts.values().sum();
        let _ = writeln!(
            out,
            "  aborts               {aborted} ({} loops blacklisted, {} exits blacklisted)",
            self.blacklisted, self.blacklisted_exits
        );
        for (reason, n) in &self.aborts {
            let _ = writeln!(out, "    {n:>6}  {reason}");
        }
        let _ = writeln!(
            out,
            "  time                 {:.3} ms recording, {:.3} ms optimizing and compiling",
            self.tracing_time.as_secs_f64() * 1e3,
            self.backend_time.as_secs_f64() * 1e3
        );
        out
    }
}
