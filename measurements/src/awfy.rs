//! The AWFY runner: the matrix engines × benchmarks × invocations, run on the `som` binary.
//!
//! Owns: the order of the runs (interleaved: for each invocation, for each benchmark, for
//! each engine, so that slow drifts of the machine spread over all configurations alike),
//! the command line of one run, turning one measured process into CSV rows, the progress
//! bar, and the files of a run: `<name>.csv` (raw rows, flushed after every process),
//! `<name>-meta.txt` (machine and build), `<name>-failures.log` (output of failed processes,
//! only if any) and `<name>-summary.md` (derived from the CSV as written). Must never: record
//! a time for a process that failed, timed out or printed incomplete harness output.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::harness;
use crate::machine::{self, Meta};
use crate::process::{self, Measured};
use crate::record::{self, CsvSink, Row};
use crate::suite;
use crate::summary::{self, Column, Source, Summary};

/// One benchmark to run, at one inner count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub benchmark: String,
    pub inner: u64,
}

/// Everything a run needs, resolved from the command line.
#[derive(Clone, Debug)]
pub struct Plan {
    pub som: PathBuf,
    /// The suite directory (`measurements/benchmarks/awfy`).
    pub awfy: PathBuf,
    pub engines: Vec<String>,
    pub jobs: Vec<Job>,
    pub invocations: u32,
    /// Outer iterations per process.
    pub iterations: u32,
    /// Extra `som` arguments (before the program file), e.g. `--gc-stress`.
    pub extra_args: Vec<String>,
    pub timeout: Option<Duration>,
    /// The CSV to write.
    pub out: PathBuf,
}

/// The `configuration` column: the extra arguments joined by spaces, or `default`.
pub fn configuration(extra_args: &[String]) -> String {
    if extra_args.is_empty() {
        "default".to_string()
    } else {
        extra_args.join(" ")
    }
}

/// The order of the runs: for each invocation, for each benchmark, for each engine.
pub fn schedule(plan: &Plan) -> Vec<(u32, &Job, &str)> {
    let mut order = Vec::new();
    for invocation in 1..=plan.invocations {
        for job in &plan.jobs {
            for engine in &plan.engines {
                order.push((invocation, job, engine.as_str()));
            }
        }
    }
    order
}

/// The `som` command of one run: `som <engine's arguments> <extra> -cp Core:<dir>
/// Core/Harness.som <Name> <iterations> <inner>`.
pub fn command(plan: &Plan, engine: &str, job: &Job) -> Command {
    let classpath: Vec<String> = suite::classpath(&plan.awfy, &job.benchmark)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut cmd = Command::new(&plan.som);
    cmd.args(suite::engine_args(engine).expect("engines are checked when planning"))
        .args(&plan.extra_args)
        .arg("-cp")
        .arg(classpath.join(":"))
        .arg(suite::harness(&plan.awfy))
        .arg(&job.benchmark)
        .arg(plan.iterations.to_string())
        .arg(job.inner.to_string());
    cmd
}

/// The CSV rows of one measured process, and why it failed if it did.
pub fn rows_of(
    plan: &Plan,
    engine: &str,
    job: &Job,
    invocation: u32,
    measured: &Measured,
) -> (Vec<Row>, Option<String>) {
    let base = Row {
        engine: engine.to_string(),
        configuration: configuration(&plan.extra_args),
        benchmark: job.benchmark.clone(),
        inner: job.inner,
        invocation,
        iteration: None,
        microseconds: None,
        process_wall_ms: Some((measured.wall.as_secs_f64() * 1e6).round() / 1e3),
        peak_rss_kb: measured.peak_rss_kb,
        exit_status: measured.ending.as_column(),
    };
    let parsed = harness::parse(&job.benchmark, plan.iterations, &measured.stdout);
    match (measured.ending.is_success(), parsed) {
        (true, Ok(times)) => {
            let rows = times
                .into_iter()
                .zip(1..)
                .map(|(us, iteration)| Row {
                    iteration: Some(iteration),
                    microseconds: Some(us),
                    ..base.clone()
                })
                .collect();
            (rows, None)
        }
        (true, Err(why)) => (vec![base], Some(format!("exited 0, but {why}"))),
        (false, _) => {
            let why = match measured.ending {
                process::Ending::TimedOut => "timed out".to_string(),
                process::Ending::Signaled(sig) => format!("killed by signal {sig}"),
                process::Ending::Exited(code) => format!("exit status {code}"),
            };
            (vec![base], Some(why))
        }
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What a finished run produced.
pub struct Outcome {
    pub csv: PathBuf,
    pub summary_path: PathBuf,
    pub summary: Summary,
    pub markdown: String,
}

/// `YYYYMMDD-HHMMSS` (UTC) of `time`.
pub fn timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (mut days, rest) = (secs / 86_400, secs % 86_400);
    let mut year = 1970;
    loop {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let length = if leap { 366 } else { 365 };
        if days < length {
            break;
        }
        days -= length;
        year += 1;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_lengths = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 1;
    for length in month_lengths {
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    format!(
        "{year:04}{month:02}{:02}-{:02}{:02}{:02}",
        days + 1,
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Runs the plan, writing the CSV, metadata, failure log and summary; `describe` is the
/// run's metadata (machine, build, command line).
pub fn run(plan: &Plan, describe: Meta, show_progress: bool) -> io::Result<Outcome> {
    if let Some(dir) = plan.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let meta_path = machine::meta_path(&plan.out);
    let failures_log = machine::sibling(&plan.out, "failures.log");
    let summary_path = machine::sibling(&plan.out, "summary.md");
    let mut meta = describe;
    meta.push("csv", plan.out.display().to_string());
    meta.push(
        "plan",
        format!(
            "{} invocation(s), {} iteration(s), engines {}, configuration {}",
            plan.invocations,
            plan.iterations,
            plan.engines.join(","),
            configuration(&plan.extra_args)
        ),
    );
    meta.push(
        "inner",
        plan.jobs
            .iter()
            .map(|j| format!("{}={}", j.benchmark, j.inner))
            .collect::<Vec<_>>()
            .join(","),
    );
    meta.write(&meta_path)?;
    let _ = fs::remove_file(&failures_log);

    let mut sink = CsvSink::create(&plan.out)?;
    let order = schedule(plan);
    let bar = ProgressBar::new(order.len() as u64);
    if show_progress {
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} (eta {eta}) {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }

    for (invocation, job, engine) in order {
        bar.set_message(format!(
            "{} on {engine}, invocation {invocation}/{}",
            job.benchmark, plan.invocations
        ));
        let cmd = command(plan, engine, job);
        let shown = format!("{cmd:?}");
        let measured = process::run(cmd, plan.timeout)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {shown}: {e}")))?;
        let (rows, failure) = rows_of(plan, engine, job, invocation, &measured);
        sink.write_process(&rows)?;
        if let Some(why) = failure {
            let label = Column {
                engine: engine.to_string(),
                configuration: configuration(&plan.extra_args),
            }
            .label();
            bar.println(format!(
                "FAILED: {} on {label}, invocation {invocation}: {why}; no time recorded\n{}",
                job.benchmark,
                tail(&format!("{}\n{}", measured.stdout, measured.stderr), 6)
            ));
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&failures_log)?;
            writeln!(
                log,
                "== {} on {label}, invocation {invocation}: {why}\n$ {shown}\n\
                 -- stdout:\n{}\n-- stderr:\n{}\n",
                job.benchmark, measured.stdout, measured.stderr
            )?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    drop(sink);

    // The summary is derived from the CSV as written, exactly as `summarize` derives it.
    let (summary, markdown) =
        summarize_files(std::slice::from_ref(&plan.out)).map_err(io::Error::other)?;
    fs::write(&summary_path, &markdown)?;
    Ok(Outcome {
        csv: plan.out.clone(),
        summary_path,
        summary,
        markdown,
    })
}

/// Reads CSV files and derives their summary (the `summarize` subcommand, also used at the
/// end of a run).
pub fn summarize_files(csvs: &[PathBuf]) -> Result<(Summary, String), String> {
    let mut sources = Vec::new();
    let mut rows = Vec::new();
    for csv in csvs {
        rows.push(record::read(csv)?);
        sources.push(Source {
            name: csv
                .file_name()
                .map_or_else(|| csv.display().to_string(), |n| n.to_string_lossy().into()),
            meta: Meta::read_beside(csv),
        });
    }
    let summary = summary::summarize(&rows);
    let markdown = summary::render_markdown(&summary, &sources);
    Ok((summary, markdown))
}

/// The `som` next to the runner's own executable (`target/x86_64-unknown-linux-gnu/release/som` for
/// `target/x86_64-unknown-linux-gnu/release/measurements`).
pub fn default_som() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join("som"))
}

/// The repository root (for `git`), from this crate's source location.
pub fn repository_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("measurements sits inside the workspace")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::Ending;

    fn plan() -> Plan {
        Plan {
            som: PathBuf::from("/x/som"),
            awfy: Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/awfy"),
            engines: vec!["ast".into(), "bc".into()],
            jobs: vec![
                Job {
                    benchmark: "Sieve".into(),
                    inner: 3,
                },
                Job {
                    benchmark: "Richards".into(),
                    inner: 1,
                },
            ],
            invocations: 2,
            iterations: 2,
            extra_args: vec![],
            timeout: None,
            out: PathBuf::from("/tmp/x.csv"),
        }
    }

    fn measured(ending: Ending, stdout: &str) -> Measured {
        Measured {
            ending,
            stdout: stdout.into(),
            stderr: String::new(),
            wall: Duration::from_micros(12_345_678),
            peak_rss_kb: Some(4242),
        }
    }

    #[test]
    fn runs_are_interleaved() {
        let p = plan();
        let order: Vec<String> = schedule(&p)
            .iter()
            .map(|(i, j, e)| format!("{i}{}{e}", j.benchmark))
            .collect();
        assert_eq!(
            order,
            [
                "1Sieveast",
                "1Sievebc",
                "1Richardsast",
                "1Richardsbc",
                "2Sieveast",
                "2Sievebc",
                "2Richardsast",
                "2Richardsbc"
            ]
        );
    }

    #[test]
    fn command_line_of_a_run() {
        let mut p = plan();
        p.extra_args = vec!["--gc-stress".into()];
        let cmd = command(&p, "bc", &p.jobs[1]);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let awfy = p.awfy.display().to_string();
        assert_eq!(
            args,
            [
                "--engine".to_string(),
                "bc".into(),
                "--no-jit".into(),
                "--gc-stress".into(),
                "-cp".into(),
                format!("{awfy}/Core:{awfy}/Richards"),
                format!("{awfy}/Core/Harness.som"),
                "Richards".into(),
                "2".into(),
                "1".into()
            ]
        );
        assert_eq!(configuration(&p.extra_args), "--gc-stress");
        assert_eq!(configuration(&[]), "default");
    }

    #[test]
    fn a_good_process_gives_one_row_per_iteration() {
        let p = plan();
        let out = "Sieve: iterations=1 runtime: 10us\nSieve: iterations=1 runtime: 20us\n\
                   Sieve: iterations=2 average: 15us total: 30us\n\nTotal Runtime: 30us\n";
        let (rows, failure) = rows_of(&p, "ast", &p.jobs[0], 2, &measured(Ending::Exited(0), out));
        assert_eq!(failure, None);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].iteration, Some(2));
        assert_eq!(rows[1].microseconds, Some(20));
        assert_eq!(rows[1].invocation, 2);
        assert_eq!(rows[1].inner, 3);
        assert_eq!(rows[1].process_wall_ms, Some(12345.678));
        assert_eq!(rows[1].peak_rss_kb, Some(4242));
        assert_eq!(rows[1].exit_status, "0");
    }

    #[test]
    fn a_failed_process_gives_one_row_without_time() {
        let p = plan();
        let good = "Sieve: iterations=1 runtime: 10us\nSieve: iterations=1 runtime: 20us\n\
                    Sieve: iterations=2 average: 15us total: 30us\n\nTotal Runtime: 30us\n";
        for (ending, stdout, status) in [
            (Ending::Exited(1), good, "1"),
            (Ending::TimedOut, good, "timeout"),
            (Ending::Signaled(11), "", "signal 11"),
            (
                Ending::Exited(0),
                "Sieve: iterations=1 runtime: 10us\n",
                "0",
            ),
        ] {
            let (rows, failure) = rows_of(&p, "bc", &p.jobs[0], 1, &measured(ending, stdout));
            assert!(failure.is_some());
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].microseconds, None);
            assert_eq!(rows[0].iteration, None);
            assert_eq!(rows[0].exit_status, status);
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101-000000");
        // 2024-02-29 13:14:15 UTC = 1709212455
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(1_709_212_455)),
            "20240229-131415"
        );
        // 2000-12-31 23:59:59 UTC = 978307199
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(978_307_199)),
            "20001231-235959"
        );
    }
}
