//! Counters: one API over the ways this machine can count what a program executes.
//!
//! Owns: hardware counters through perf-event ([`perf`]: instructions, cycles, branches,
//! branch misses, read as one group), software counters through perf-event (task-clock, page
//! faults), and exact instruction counts through callgrind ([`callgrind`]: a driver that runs
//! a command under `valgrind --tool=callgrind --collect-atstart=no` and parses the totals of
//! every dump, named regions included — the regions are marked in the measured program with
//! the `probe` crate's client requests). [`detect`] says which backends work here and why the
//! others do not; [`count_command`] counts a command with the best one.
//!
//! Must never: report a count it did not get. A backend that cannot count says so with a
//! [`CounterError`] carrying the reason (on a machine without a PMU, opening a hardware
//! counter fails and the answer is [`CounterError::NoPmu`]) — never a silent zero.

pub mod callgrind;
pub mod perf;

use std::fmt;
use std::process::Command;
use std::time::Duration;

pub use callgrind::{Callgrind, CallgrindRun, Dump};
pub use perf::{HardwareCounts, SoftwareCounts};

/// Why a counter backend cannot count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterError {
    /// The CPU's performance monitoring unit is absent or hidden (typical in VMs and
    /// containers): no hardware event can be opened.
    NoPmu { reason: String },
    /// perf-event exists but the kernel refuses us (`perf_event_paranoid`, seccomp, …).
    PerfDenied { reason: String },
    /// Another perf-event failure.
    Perf { reason: String },
    /// `valgrind` cannot be run.
    NoValgrind { reason: String },
    /// The measured command could not be started, or failed.
    Command { reason: String },
    /// A callgrind output file did not have the expected shape.
    Parse { reason: String },
}

impl fmt::Display for CounterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CounterError::NoPmu { reason } => {
                write!(f, "hardware counters unsupported (no PMU): {reason}")
            }
            CounterError::PerfDenied { reason } => {
                write!(f, "perf-event denied: {reason}")
            }
            CounterError::Perf { reason } => write!(f, "perf-event failed: {reason}"),
            CounterError::NoValgrind { reason } => write!(f, "valgrind unavailable: {reason}"),
            CounterError::Command { reason } => write!(f, "measured command: {reason}"),
            CounterError::Parse { reason } => write!(f, "callgrind output: {reason}"),
        }
    }
}

impl std::error::Error for CounterError {}

/// Where an instruction count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Hardware counters (retired instructions, cycles, …) through perf-event.
    PerfHardware,
    /// Exact, deterministic instruction counts from Valgrind's callgrind.
    Callgrind,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::PerfHardware => "perf-event hardware counters",
            Backend::Callgrind => "callgrind (exact instruction counts)",
        })
    }
}

/// What this machine offers, each backend with its reason when it is missing.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Hardware counters: `Ok` if a group of instructions and cycles opens.
    pub hardware: Result<(), CounterError>,
    /// Software counters (task-clock, page faults).
    pub software: Result<(), CounterError>,
    /// Valgrind: its version string.
    pub valgrind: Result<String, CounterError>,
}

impl Detection {
    /// The backend instruction counts come from, and a note when it is a fallback.
    pub fn instruction_backend(&self) -> Result<(Backend, Option<String>), CounterError> {
        match (&self.hardware, &self.valgrind) {
            (Ok(()), _) => Ok((Backend::PerfHardware, None)),
            (Err(hw), Ok(_)) => Ok((
                Backend::Callgrind,
                Some(format!(
                    "{hw}: falling back to callgrind instruction counts"
                )),
            )),
            (Err(hw), Err(vg)) => Err(CounterError::Command {
                reason: format!("no instruction counter: {hw}; {vg}"),
            }),
        }
    }

    /// A human-readable report, one line per backend.
    pub fn report(&self) -> String {
        let line = |name: &str, r: Result<String, &CounterError>| match r {
            Ok(s) => format!("{name:<20} available{s}\n"),
            Err(e) => format!("{name:<20} unavailable — {e}\n"),
        };
        let mut out = String::new();
        out += &line(
            "hardware (perf)",
            self.hardware.as_ref().map(|()| String::new()),
        );
        out += &line(
            "software (perf)",
            self.software
                .as_ref()
                .map(|()| " (task-clock, page faults)".to_string()),
        );
        out += &line(
            "callgrind",
            self.valgrind.as_ref().map(|v| format!(" ({v})")),
        );
        match self.instruction_backend() {
            Ok((backend, note)) => {
                out += &format!("instructions from    {backend}\n");
                if let Some(note) = note {
                    out += &format!("note                 {note}\n");
                }
            }
            Err(e) => out += &format!("instructions from    nothing — {e}\n"),
        }
        out
    }
}

/// Probes every backend (opens and closes counters, runs `valgrind --version`).
pub fn detect() -> Detection {
    Detection {
        hardware: perf::detect_hardware(),
        software: perf::detect_software(),
        valgrind: callgrind::valgrind_version(),
    }
}

/// Counts of one command by the best backends available.
#[derive(Debug, Clone)]
pub struct CommandCounts {
    /// Where `instructions` came from.
    pub backend: Backend,
    /// Why the backend is not the first choice, if it is not.
    pub fallback_note: Option<String>,
    /// Instructions executed: retired (perf) or exact (callgrind, whole process).
    pub instructions: u64,
    /// Cycles, branches and branch misses, when hardware counters exist.
    pub hardware: Option<HardwareCounts>,
    /// Named callgrind dumps (regions marked with the `probe` crate), in order.
    pub regions: Vec<(String, u64)>,
    /// Software counters of a separate native run (callgrind's would measure Valgrind).
    pub software: Result<SoftwareCounts, CounterError>,
    /// Whether the command succeeded (every run of it).
    pub success: bool,
}

/// How to count a command.
#[derive(Debug, Clone, Default)]
pub struct CountOptions {
    /// Force a backend; `None` picks the best available ([`Detection::instruction_backend`]).
    pub backend: Option<Backend>,
    /// Callgrind only: `--toggle-collect=<fn>` for each (implies collecting only inside them).
    pub toggle_collect: Vec<String>,
    /// Callgrind only: collect just the regions the program marks with client requests
    /// (`som --callgrind-region`), not the whole process.
    pub regions_only: bool,
    /// Kill each run after this long.
    pub timeout: Option<Duration>,
}

/// Counts `program args…`: instructions (and, with a PMU, cycles and branches) with the best
/// backend, plus software counters. With the callgrind backend the command runs twice: under
/// callgrind (by default collecting from the start, so regions the program dumps and the rest
/// add up to the whole process) and natively for the software counters.
pub fn count_command(
    program: &str,
    args: &[String],
    options: &CountOptions,
) -> Result<CommandCounts, CounterError> {
    let detection = detect();
    let (backend, fallback_note) = match options.backend {
        None => detection.instruction_backend()?,
        Some(Backend::PerfHardware) => {
            detection.hardware.clone()?;
            (Backend::PerfHardware, None)
        }
        Some(Backend::Callgrind) => {
            detection.valgrind.clone()?;
            (Backend::Callgrind, None)
        }
    };
    let timeout = options.timeout;
    let command = || {
        let mut c = Command::new(program);
        c.args(args);
        c
    };
    match backend {
        Backend::PerfHardware => {
            let (hw, sw, success) = perf::count_command(command(), timeout)?;
            Ok(CommandCounts {
                backend,
                fallback_note,
                instructions: hw.instructions,
                hardware: Some(hw),
                regions: Vec::new(),
                software: Ok(sw),
                success,
            })
        }
        Backend::Callgrind => {
            let run = Callgrind {
                collect_atstart: !options.regions_only && options.toggle_collect.is_empty(),
                toggle_collect: options.toggle_collect.clone(),
                timeout,
                ..Callgrind::default()
            }
            .run(program, args)?;
            if !options.regions_only && run.dumps.iter().any(|d| d.region.is_some()) {
                // The program toggled collection itself (`probe::region` switches it on for
                // its region, assuming `--collect-atstart=no`): a whole-process total would
                // silently miss the region.
                return Err(CounterError::Command {
                    reason: "the program marks regions with client requests (e.g. `som \
                             --callgrind-region`), which assumes collection off at start: \
                             count it with --regions-only"
                        .into(),
                });
            }
            let software = perf::count_command_software(command(), timeout);
            let native_success = software.as_ref().map_or(true, |(_, ok)| *ok);
            Ok(CommandCounts {
                backend,
                fallback_note,
                instructions: run.total(),
                hardware: None,
                regions: run
                    .dumps
                    .iter()
                    .filter_map(|d| d.region.clone().map(|r| (r, d.instructions)))
                    .collect(),
                software: software.map(|(sw, _)| sw),
                success: run.success && native_success,
            })
        }
    }
}

impl CommandCounts {
    /// A human-readable report.
    pub fn report(&self) -> String {
        let mut out = format!("backend         {}\n", self.backend);
        if let Some(note) = &self.fallback_note {
            out += &format!("note            {note}\n");
        }
        out += &format!("instructions    {}\n", self.instructions);
        if let Some(hw) = &self.hardware {
            out += &format!("cycles          {}\n", hw.cycles);
            out += &format!("branches        {}\n", hw.branches);
            out += &format!("branch-misses   {}\n", hw.branch_misses);
        }
        for (name, n) in &self.regions {
            out += &format!("region {name:<8} {n} instructions\n");
        }
        match &self.software {
            Ok(sw) => {
                out += &format!("task-clock      {:.3} ms\n", sw.task_clock_ns as f64 / 1e6);
                out += &format!("page-faults     {}\n", sw.page_faults);
            }
            Err(e) => out += &format!("software        unavailable — {e}\n"),
        }
        if !self.success {
            out += "status          the command FAILED (counts are of a failed run)\n";
        }
        out
    }
}
