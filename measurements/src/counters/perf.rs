//! Hardware and software counters through Linux perf-event (the `perf-event2` crate).
//!
//! Owns: opening the counters, classifying why they cannot be opened, and reading them around
//! a closure (as one group: all members cover exactly the same instructions) or around a
//! child process (counters on the runner's thread with `inherit`, so the child and its
//! threads are folded in when they exit; the kernel cannot read an inherited *group*, so
//! each counter is read on its own there — they still span the same process lifetime).
//!
//! Must never: turn a failure to open a counter into a zero. Hardware counters are user-space
//! only (`exclude_kernel`, perf-event2's default), which works at `perf_event_paranoid` 2.

use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use perf_event::events::{Event, Hardware, Software};
use perf_event::{Builder, Counter, Group};

use super::CounterError;
use crate::process;

/// One group read of the hardware counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardwareCounts {
    pub instructions: u64,
    pub cycles: u64,
    pub branches: u64,
    pub branch_misses: u64,
}

/// Software counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftwareCounts {
    /// CPU time of the measured task(s), nanoseconds.
    pub task_clock_ns: u64,
    pub page_faults: u64,
}

/// Why `open` of a hardware event failed, in words.
fn classify(err: io::Error, what: &str, hardware: bool) -> CounterError {
    let code = err.raw_os_error().unwrap_or(0);
    let pmu = if Path::new("/sys/bus/event_source/devices/cpu").exists() {
        "a `cpu` PMU is listed in /sys/bus/event_source/devices"
    } else {
        "no `cpu` PMU in /sys/bus/event_source/devices"
    };
    let reason = format!("opening {what} failed: {err} ({pmu})");
    match code {
        libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP | libc::EINVAL if hardware => {
            CounterError::NoPmu { reason }
        }
        libc::EACCES | libc::EPERM => {
            let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".into());
            CounterError::PerfDenied {
                reason: format!("{reason}; kernel.perf_event_paranoid = {paranoid}"),
            }
        }
        _ => CounterError::Perf { reason },
    }
}

fn perf_err(err: io::Error, doing: &str) -> CounterError {
    CounterError::Perf {
        reason: format!("{doing}: {err}"),
    }
}

/// The hardware group: instructions, cycles, branches, branch misses.
pub struct HardwareGroup {
    group: Group,
    instructions: Counter,
    cycles: Counter,
    branches: Counter,
    branch_misses: Counter,
}

impl HardwareGroup {
    /// Opens the group on the calling thread (disabled). On a machine without a PMU this is
    /// [`CounterError::NoPmu`].
    pub fn open() -> Result<HardwareGroup, CounterError> {
        let mut group = Group::new().map_err(|e| classify(e, "a perf-event group", false))?;
        let mut add = |event: Hardware, name: &str| {
            group
                .add(&Builder::new(event))
                .map_err(|e| classify(e, name, true))
        };
        let instructions = add(Hardware::INSTRUCTIONS, "PERF_COUNT_HW_INSTRUCTIONS")?;
        let cycles = add(Hardware::CPU_CYCLES, "PERF_COUNT_HW_CPU_CYCLES")?;
        let branches = add(
            Hardware::BRANCH_INSTRUCTIONS,
            "PERF_COUNT_HW_BRANCH_INSTRUCTIONS",
        )?;
        let branch_misses = add(Hardware::BRANCH_MISSES, "PERF_COUNT_HW_BRANCH_MISSES")?;
        Ok(HardwareGroup {
            group,
            instructions,
            cycles,
            branches,
            branch_misses,
        })
    }

    /// Counts `f` (user-space instructions of the calling thread).
    pub fn measure<T>(
        &mut self,
        f: impl FnOnce() -> T,
    ) -> Result<(T, HardwareCounts), CounterError> {
        self.group.reset().map_err(|e| perf_err(e, "reset"))?;
        self.group.enable().map_err(|e| perf_err(e, "enable"))?;
        let value = f();
        self.group.disable().map_err(|e| perf_err(e, "disable"))?;
        let data = self.group.read().map_err(|e| perf_err(e, "read"))?;
        if data.time_running() == Some(Duration::ZERO) {
            return Err(CounterError::Perf {
                reason: "the hardware group was never scheduled on a PMU".into(),
            });
        }
        let counts = HardwareCounts {
            instructions: data[&self.instructions],
            cycles: data[&self.cycles],
            branches: data[&self.branches],
            branch_misses: data[&self.branch_misses],
        };
        Ok((value, counts))
    }
}

/// The software group: task-clock and page faults.
pub struct SoftwareGroup {
    group: Group,
    task_clock: Counter,
    page_faults: Counter,
}

impl SoftwareGroup {
    /// Opens the group on the calling thread (disabled).
    pub fn open() -> Result<SoftwareGroup, CounterError> {
        let mut group = Group::new().map_err(|e| classify(e, "a perf-event group", false))?;
        let task_clock = group
            .add(&Builder::new(Software::TASK_CLOCK))
            .map_err(|e| classify(e, "PERF_COUNT_SW_TASK_CLOCK", false))?;
        let page_faults = group
            .add(&Builder::new(Software::PAGE_FAULTS))
            .map_err(|e| classify(e, "PERF_COUNT_SW_PAGE_FAULTS", false))?;
        Ok(SoftwareGroup {
            group,
            task_clock,
            page_faults,
        })
    }

    /// Counts `f` on the calling thread.
    pub fn measure<T>(
        &mut self,
        f: impl FnOnce() -> T,
    ) -> Result<(T, SoftwareCounts), CounterError> {
        self.group.reset().map_err(|e| perf_err(e, "reset"))?;
        self.group.enable().map_err(|e| perf_err(e, "enable"))?;
        let value = f();
        self.group.disable().map_err(|e| perf_err(e, "disable"))?;
        let data = self.group.read().map_err(|e| perf_err(e, "read"))?;
        Ok((
            value,
            SoftwareCounts {
                task_clock_ns: data[&self.task_clock],
                page_faults: data[&self.page_faults],
            },
        ))
    }
}

/// Whether the hardware group opens here.
pub fn detect_hardware() -> Result<(), CounterError> {
    HardwareGroup::open().map(drop)
}

/// Whether the software group opens here.
pub fn detect_software() -> Result<(), CounterError> {
    SoftwareGroup::open().map(drop)
}

/// One counter on the calling thread that also counts the children it starts.
fn inherited(event: impl Event, name: &str, hardware: bool) -> Result<Counter, CounterError> {
    Builder::new(event)
        .inherit(true)
        .build()
        .map_err(|e| classify(e, name, hardware))
}

/// Runs `command` to completion with `counters` enabled; answers whether it succeeded.
fn around_child(
    counters: &mut [Counter],
    command: Command,
    timeout: Option<Duration>,
) -> Result<bool, CounterError> {
    for c in counters.iter_mut() {
        c.reset().map_err(|e| perf_err(e, "reset"))?;
        c.enable().map_err(|e| perf_err(e, "enable"))?;
    }
    let outcome = process::run(command, timeout);
    for c in counters.iter_mut() {
        c.disable().map_err(|e| perf_err(e, "disable"))?;
    }
    let measured = outcome.map_err(|e| CounterError::Command {
        reason: format!("cannot run: {e}"),
    })?;
    Ok(measured.ending.is_success())
}

fn read_all(counters: &mut [Counter]) -> Result<Vec<u64>, CounterError> {
    counters
        .iter_mut()
        .map(|c| c.read().map_err(|e| perf_err(e, "read")))
        .collect()
}

/// Software counters of a child process (and the runner's few waiting instructions);
/// answers them and whether the command succeeded.
pub fn count_command_software(
    command: Command,
    timeout: Option<Duration>,
) -> Result<(SoftwareCounts, bool), CounterError> {
    let mut counters = vec![
        inherited(Software::TASK_CLOCK, "PERF_COUNT_SW_TASK_CLOCK", false)?,
        inherited(Software::PAGE_FAULTS, "PERF_COUNT_SW_PAGE_FAULTS", false)?,
    ];
    let success = around_child(&mut counters, command, timeout)?;
    let v = read_all(&mut counters)?;
    Ok((
        SoftwareCounts {
            task_clock_ns: v[0],
            page_faults: v[1],
        },
        success,
    ))
}

/// Hardware and software counters of a child process; answers them and whether the command
/// succeeded. [`CounterError::NoPmu`] without a PMU.
pub fn count_command(
    command: Command,
    timeout: Option<Duration>,
) -> Result<(HardwareCounts, SoftwareCounts, bool), CounterError> {
    let mut counters = vec![
        inherited(Hardware::INSTRUCTIONS, "PERF_COUNT_HW_INSTRUCTIONS", true)?,
        inherited(Hardware::CPU_CYCLES, "PERF_COUNT_HW_CPU_CYCLES", true)?,
        inherited(
            Hardware::BRANCH_INSTRUCTIONS,
            "PERF_COUNT_HW_BRANCH_INSTRUCTIONS",
            true,
        )?,
        inherited(Hardware::BRANCH_MISSES, "PERF_COUNT_HW_BRANCH_MISSES", true)?,
        inherited(Software::TASK_CLOCK, "PERF_COUNT_SW_TASK_CLOCK", false)?,
        inherited(Software::PAGE_FAULTS, "PERF_COUNT_SW_PAGE_FAULTS", false)?,
    ];
    let success = around_child(&mut counters, command, timeout)?;
    let v = read_all(&mut counters)?;
    Ok((
        HardwareCounts {
            instructions: v[0],
            cycles: v[1],
            branches: v[2],
            branch_misses: v[3],
        },
        SoftwareCounts {
            task_clock_ns: v[4],
            page_faults: v[5],
        },
        success,
    ))
}
