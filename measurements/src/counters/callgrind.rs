//! Exact instruction counts: a driver for `valgrind --tool=callgrind` and a parser of its
//! output files.
//!
//! Owns: the valgrind command line (`--collect-atstart`, `--toggle-collect=<fn>`,
//! `--dump-instr=no`, one output file per dump in a private temporary directory), and reading
//! back every dump: its part number, its trigger, the region name when the trigger is a
//! client request (`desc: Trigger: Client Request: <name>`, written by the `probe` crate's
//! `dump_stats_at`) and its instruction count (the `Ir` column of the `totals:` line).
//!
//! Behaviour of valgrind 3.19 this relies on, checked by experiment: with
//! `--callgrind-out-file=<dir>/cg.%p.out`, each client-request dump `n` goes to
//! `cg.<pid>.out.<n>` (`part: n`) and the dump at program termination to `cg.<pid>.out`
//! (the last part). Each dump's `totals:` holds the events since the previous dump, so the
//! parts add up to the whole run. (After a client-request dump, the termination file's
//! `summary:` line can be garbage — a negative number printed unsigned — so the count is taken
//! from `totals:`, and from `summary:` only when a file has no `totals:`.)
//!
//! Must never: guess a count — a missing file or line is a [`CounterError::Parse`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::CounterError;
use crate::process;

/// How to run a command under callgrind.
#[derive(Debug, Clone)]
pub struct Callgrind {
    /// The valgrind executable.
    pub valgrind: PathBuf,
    /// Collect events from the start (`--collect-atstart=yes`): the whole process is counted.
    /// Off (the default), only regions count: functions named in `toggle_collect`, or regions
    /// the program marks with client requests (`som --callgrind-region`).
    pub collect_atstart: bool,
    /// `--toggle-collect=<fn>` for each: collection is toggled on entry and exit of `fn`.
    pub toggle_collect: Vec<String>,
    /// Further valgrind options, before the command.
    pub extra_args: Vec<String>,
    /// Kill the run after this long.
    pub timeout: Option<Duration>,
    /// `--dump-instr=yes`: keep each dump's instructions per machine-code address
    /// ([`Dump::by_address`]), for attributing counts to a piece of code.
    pub by_address: bool,
}

impl Default for Callgrind {
    fn default() -> Self {
        Callgrind {
            valgrind: PathBuf::from("valgrind"),
            collect_atstart: false,
            toggle_collect: Vec::new(),
            extra_args: Vec::new(),
            timeout: None,
            by_address: false,
        }
    }
}

/// One callgrind dump (one output file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub pid: u32,
    /// 1, 2, … in the order the dumps were written.
    pub part: u32,
    /// The `desc: Trigger:` text, e.g. `Program termination`, `Client Request: program`.
    pub trigger: String,
    /// The region name of a client-request dump.
    pub region: Option<String>,
    /// Instructions executed (event `Ir`) since the previous dump.
    pub instructions: u64,
    /// With `Callgrind::by_address`: instructions executed at each address (self cost; a
    /// call's inclusive cost is not added to the call instruction). Empty otherwise.
    pub by_address: BTreeMap<u64, u64>,
}

/// A finished callgrind run.
#[derive(Debug, Clone)]
pub struct CallgrindRun {
    /// Every dump of the measured process, in order.
    pub dumps: Vec<Dump>,
    /// Whether the command exited with status 0.
    pub success: bool,
    pub stdout: String,
    /// The command's and valgrind's stderr.
    pub stderr: String,
}

impl CallgrindRun {
    /// Instructions of the whole run as collected: the sum over all dumps.
    pub fn total(&self) -> u64 {
        self.dumps.iter().map(|d| d.instructions).sum()
    }

    /// Instructions of the region dumped under `name` (summed if it was dumped several
    /// times); `None` if no dump has that name.
    pub fn region(&self, name: &str) -> Option<u64> {
        let mut found = self
            .dumps
            .iter()
            .filter(|d| d.region.as_deref() == Some(name))
            .peekable();
        found.peek()?;
        Some(found.map(|d| d.instructions).sum())
    }
}

/// `valgrind --version`, or why valgrind cannot be run.
pub fn valgrind_version() -> Result<String, CounterError> {
    let out = Command::new("valgrind")
        .arg("--version")
        .output()
        .map_err(|e| CounterError::NoValgrind {
            reason: format!("cannot run `valgrind --version`: {e} (install the valgrind package)"),
        })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version.is_empty() {
        return Err(CounterError::NoValgrind {
            reason: format!("`valgrind --version` failed ({})", out.status),
        });
    }
    Ok(version)
}

/// A fresh private directory for one run's output files.
fn scratch_dir() -> Result<PathBuf, CounterError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "somlab-callgrind-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir(&dir).map_err(|e| CounterError::Command {
        reason: format!("cannot create {}: {e}", dir.display()),
    })?;
    Ok(dir)
}

impl Callgrind {
    /// The full valgrind argument list for `program args…`, output files in `dir`.
    pub fn arguments(&self, dir: &Path, program: &str, args: &[String]) -> Vec<String> {
        let mut v = vec![
            "--tool=callgrind".to_string(),
            format!(
                "--collect-atstart={}",
                if self.collect_atstart { "yes" } else { "no" }
            ),
            format!(
                "--dump-instr={}",
                if self.by_address { "yes" } else { "no" }
            ),
            format!("--callgrind-out-file={}/cg.%p.out", dir.display()),
        ];
        v.extend(
            self.toggle_collect
                .iter()
                .map(|f| format!("--toggle-collect={f}")),
        );
        v.extend(self.extra_args.iter().cloned());
        v.push(program.to_string());
        v.extend(args.iter().cloned());
        v
    }

    /// Runs `program args…` under callgrind and reads back every dump.
    pub fn run(&self, program: &str, args: &[String]) -> Result<CallgrindRun, CounterError> {
        let dir = scratch_dir()?;
        let result = self.run_in(&dir, program, args);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn run_in(
        &self,
        dir: &Path,
        program: &str,
        args: &[String],
    ) -> Result<CallgrindRun, CounterError> {
        let mut command = Command::new(&self.valgrind);
        command.args(self.arguments(dir, program, args));
        let measured =
            process::run(command, self.timeout).map_err(|e| CounterError::NoValgrind {
                reason: format!("cannot run {}: {e}", self.valgrind.display()),
            })?;
        let mut dumps = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| CounterError::Parse {
            reason: format!("{}: {e}", dir.display()),
        })?;
        for entry in entries {
            let path = entry
                .map_err(|e| CounterError::Parse {
                    reason: format!("{}: {e}", dir.display()),
                })?
                .path();
            let text = std::fs::read_to_string(&path).map_err(|e| CounterError::Parse {
                reason: format!("{}: {e}", path.display()),
            })?;
            let mut dump = parse_dump(&text).map_err(|e| CounterError::Parse {
                reason: format!("{}: {e}", path.display()),
            })?;
            if self.by_address {
                dump.by_address = parse_by_address(&text).map_err(|e| CounterError::Parse {
                    reason: format!("{}: {e}", path.display()),
                })?;
            }
            dumps.push(dump);
        }
        if dumps.is_empty() {
            return Err(CounterError::Command {
                reason: format!(
                    "callgrind wrote no output ({}); stderr:\n{}",
                    measured.ending.as_column(),
                    measured.stderr
                ),
            });
        }
        // Only the measured process (children are not traced, but be strict).
        let first_pid = dumps.iter().map(|d| d.pid).min().unwrap_or(0);
        dumps.retain(|d| d.pid == first_pid);
        dumps.sort_by_key(|d| d.part);
        Ok(CallgrindRun {
            dumps,
            success: measured.ending.is_success(),
            stdout: measured.stdout,
            stderr: measured.stderr,
        })
    }
}

/// Reads one callgrind output file's header and totals.
pub fn parse_dump(text: &str) -> Result<Dump, String> {
    let mut pid = None;
    let mut part = None;
    let mut trigger = None;
    let mut events: Option<Vec<&str>> = None;
    let mut totals = None;
    let mut summary = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("pid:") {
            pid = rest.trim().parse::<u32>().ok();
        } else if let Some(rest) = line.strip_prefix("part:") {
            part = rest.trim().parse::<u32>().ok();
        } else if let Some(rest) = line.strip_prefix("desc: Trigger:") {
            trigger = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("events:") {
            events = Some(rest.split_whitespace().collect());
        } else if let Some(rest) = line.strip_prefix("totals:") {
            totals = Some(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("summary:") {
            summary = Some(rest.to_string());
        }
    }
    let events = events.ok_or("no `events:` line")?;
    let column = events
        .iter()
        .position(|&e| e == "Ir")
        .ok_or("no `Ir` event (instruction counts)")?;
    let counts = totals
        .or(summary)
        .ok_or("no `totals:` or `summary:` line")?;
    let instructions = counts
        .split_whitespace()
        .nth(column)
        .ok_or("the totals line has no `Ir` column")?
        .parse::<u64>()
        .map_err(|e| format!("the `Ir` total is not a count: {e}"))?;
    let trigger = trigger.ok_or("no `desc: Trigger:` line")?;
    let region = trigger
        .strip_prefix("Client Request:")
        .map(|name| name.trim().to_string());
    Ok(Dump {
        pid: pid.ok_or("no `pid:` line")?,
        part: part.unwrap_or(1),
        trigger,
        region,
        instructions,
        by_address: BTreeMap::new(),
    })
}

/// The self cost (`Ir`) of every instruction address in a dump written with
/// `--dump-instr=yes` (`positions: instr line`). Cost lines start with the address: absolute
/// (`0x…`), relative to the previous one (`+n`, `-n`) or the same (`*`); the cost line after
/// a `calls=` line is the call's inclusive cost and is skipped.
pub fn parse_by_address(text: &str) -> Result<BTreeMap<u64, u64>, String> {
    let mut costs = BTreeMap::new();
    let mut positions_are_instr = false;
    let mut ir_column = None;
    let mut address: u64 = 0;
    let mut after_calls = false;
    for (n, line) in text.lines().enumerate() {
        let at = || format!("line {}", n + 1);
        if let Some(rest) = line.strip_prefix("positions:") {
            positions_are_instr = rest.split_whitespace().next() == Some("instr");
            continue;
        }
        if let Some(rest) = line.strip_prefix("events:") {
            ir_column = rest.split_whitespace().position(|e| e == "Ir");
            continue;
        }
        if line.starts_with("calls=") {
            after_calls = true;
            continue;
        }
        let first = line.as_bytes().first().copied();
        if !matches!(first, Some(b'0'..=b'9' | b'+' | b'-' | b'*')) {
            continue;
        }
        if !positions_are_instr {
            return Err("the dump has no instruction addresses (`--dump-instr=yes`)".into());
        }
        let mut fields = line.split_whitespace();
        let position = fields
            .next()
            .ok_or_else(|| format!("{}: empty cost line", at()))?;
        address = if let Some(hex) = position.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).map_err(|e| format!("{}: {e}", at()))?
        } else if let Some(d) = position.strip_prefix('+') {
            address + d.parse::<u64>().map_err(|e| format!("{}: {e}", at()))?
        } else if let Some(d) = position.strip_prefix('-') {
            address - d.parse::<u64>().map_err(|e| format!("{}: {e}", at()))?
        } else if position == "*" {
            address
        } else {
            position.parse().map_err(|e| format!("{}: {e}", at()))?
        };
        if std::mem::take(&mut after_calls) {
            continue;
        }
        // The line position comes next, then the events.
        let column = ir_column.ok_or_else(|| format!("{}: cost before `events:`", at()))?;
        let cost = fields
            .nth(1 + column)
            .map(|c| c.parse::<u64>().map_err(|e| format!("{}: {e}", at())))
            .transpose()?
            .unwrap_or(0);
        *costs.entry(address).or_insert(0) += cost;
    }
    Ok(costs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGION: &str = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\n\
pid: 23282\ncmd:  som --callgrind-region Hello.som\npart: 1\n\
desc: Timerange: Basic block 0 - 1722426\ndesc: Trigger: Client Request: program\n\
positions: line\nevents: Ir\nsummary: 8708396\n\nfn=(1) main\n3 17\n\ntotals: 8708396\n";

    const END: &str = "# callgrind format\nversion: 1\npid: 23282\npart: 2\n\
desc: Trigger: Program termination\npositions: line\nevents: Ir\n\
summary: 18446744073700843220\ntotals: 0\n";

    #[test]
    fn costs_by_address_follow_the_compressed_positions_and_skip_calls() {
        let text = "positions: instr line\nevents: Ir\nfn=(1) f\n\
0x1000 10 3\n+4 * 2\n* 11 1\ncalls=1 0x2000 5\n+2 12 900\n+3 * 7\n-9 * 5\n\
fn=(2) g\n0x2000 1 4\n";
        // 0x1000: 3; 0x1004: 2 + 1; the call's inclusive 900 at 0x1006 skipped; 0x1009: 7;
        // back at 0x1000 (-9): 5 more; 0x2000: 4.
        let want: BTreeMap<u64, u64> = [(0x1000, 8), (0x1004, 3), (0x1009, 7), (0x2000, 4)]
            .into_iter()
            .collect();
        assert_eq!(parse_by_address(text).unwrap(), want);
    }

    #[test]
    fn parses_a_client_request_dump() {
        let d = parse_dump(REGION).unwrap();
        assert_eq!(d.pid, 23282);
        assert_eq!(d.part, 1);
        assert_eq!(d.region.as_deref(), Some("program"));
        assert_eq!(d.instructions, 8_708_396);
    }

    #[test]
    fn totals_win_over_a_garbage_summary() {
        let d = parse_dump(END).unwrap();
        assert_eq!(d.region, None);
        assert_eq!(d.trigger, "Program termination");
        assert_eq!(d.instructions, 0);
    }

    #[test]
    fn picks_the_ir_column_and_refuses_a_missing_one() {
        let text = "pid: 1\ndesc: Trigger: Program termination\nevents: Bc Ir\ntotals: 5 42\n";
        assert_eq!(parse_dump(text).unwrap().instructions, 42);
        assert!(parse_dump("pid: 1\ndesc: Trigger: x\nevents: Ir\n").is_err());
        assert!(parse_dump("pid: 1\ndesc: Trigger: x\nevents: Bc\ntotals: 3\n").is_err());
    }

    #[test]
    fn arguments_name_the_options() {
        let cg = Callgrind {
            toggle_collect: vec!["main".into()],
            ..Callgrind::default()
        };
        let args = cg.arguments(Path::new("/d"), "som", &["x.som".into()]);
        assert_eq!(
            args,
            [
                "--tool=callgrind",
                "--collect-atstart=no",
                "--dump-instr=no",
                "--callgrind-out-file=/d/cg.%p.out",
                "--toggle-collect=main",
                "som",
                "x.som"
            ]
        );
    }
}
