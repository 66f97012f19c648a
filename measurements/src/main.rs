//! `measurements`: the command line of somlab's experiment runners.
//!
//! Owns: parsing and checking the command line, resolving defaults (the `som` binary, the
//! suite directory, the output file), and the exit status. Must never: measure or compute —
//! that is the library (`measurements::awfy`, `measurements::summary`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};
use measurements::awfy::{self, Job, Plan};
use measurements::machine;
use measurements::suite;

/// somlab's benchmark runner: runs the Are We Fast Yet suite on the `som` binary, writes raw
/// CSV (one row per iteration) and derives a summary from it.
#[derive(Parser, Debug)]
#[command(name = "measurements", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run engines × benchmarks × invocations, interleaved; write CSV, metadata and summary.
    /// Exits with status 1 if any process failed (a failed process never counts as a time).
    Awfy(AwfyArgs),
    /// Re-derive the summary from existing CSV files (the raw data is the source of truth).
    Summarize {
        /// CSV files written by `measurements awfy`.
        #[arg(required = true)]
        csv: Vec<PathBuf>,
        /// Also write the Markdown summary here (default: next to the CSV when there is
        /// exactly one, as `<name>-summary.md`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
struct AwfyArgs {
    /// Engines to compare (`som --engine`); the first is the baseline of the ratios.
    #[arg(long, value_delimiter = ',', default_value = "ast,bc")]
    engines: Vec<String>,
    /// Benchmarks to run (default: all 14, micro then macro).
    #[arg(long, value_delimiter = ',')]
    benchmarks: Vec<String>,
    /// Processes per engine and benchmark [default: 3, or 1 with --quick].
    #[arg(long)]
    invocations: Option<u32>,
    /// Outer iterations per process [default: 1].
    #[arg(long)]
    iterations: Option<u32>,
    /// Inner iterations for some benchmarks, e.g. `Richards=10,Json=5` (default: SOM.md's
    /// interpreter values; with --quick, each benchmark's smallest verifying value).
    #[arg(long, value_delimiter = ',', value_name = "NAME=N")]
    inner: Vec<String>,
    /// Smoke run: 1 invocation, 1 iteration, the smallest inner count that verifies.
    #[arg(long)]
    quick: bool,
    /// The CSV to write [default: measurements/results/awfy-<UTC timestamp>.csv].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Extra arguments for every `som` process, e.g. `--extra-args=--gc-stress`; they name
    /// the configuration in the CSV.
    #[arg(long, allow_hyphen_values = true, value_name = "ARGS")]
    extra_args: Option<String>,
    /// Kill a process after this many seconds (recorded as `timeout`, no time); 0: never.
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    timeout: u64,
    /// The `som` binary [default: `som` next to this executable, i.e. target/release/som].
    #[arg(long)]
    som: Option<PathBuf>,
    /// The suite directory [default: measurements/benchmarks/awfy of this source tree].
    #[arg(long)]
    awfy_dir: Option<PathBuf>,
    /// Do not draw the progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// A command-line or setup problem: reported, exit status 2.
type SetupResult<T> = Result<T, String>;

fn plan_of(args: &AwfyArgs) -> SetupResult<Plan> {
    let som = match &args.som {
        Some(path) => path.clone(),
        None => awfy::default_som().ok_or("cannot locate this executable to find `som`")?,
    };
    if !som.is_file() {
        return Err(format!(
            "no som binary at {}: build it with `cargo build --release` (or pass --som PATH)",
            som.display()
        ));
    }
    let som = som.canonicalize().unwrap_or(som);
    let awfy_dir = args
        .awfy_dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/awfy"));
    if !suite::harness(&awfy_dir).is_file() {
        return Err(format!(
            "{} is not the AWFY suite directory (no Core/Harness.som)",
            awfy_dir.display()
        ));
    }

    for engine in &args.engines {
        if !suite::ENGINES.contains(&engine.as_str()) {
            return Err(format!(
                "unknown engine `{engine}` (known: {})",
                suite::ENGINES.join(", ")
            ));
        }
    }
    let mut engines = args.engines.clone();
    engines.dedup();
    if engines.is_empty() {
        return Err("no engine given".into());
    }

    let benchmarks: Vec<suite::Benchmark> = if args.benchmarks.is_empty() {
        suite::BENCHMARKS.to_vec()
    } else {
        let mut chosen = Vec::new();
        for name in &args.benchmarks {
            let b = suite::find(name).ok_or_else(|| unknown_benchmark(name))?;
            if !chosen.contains(&b) {
                chosen.push(b);
            }
        }
        chosen
    };
    let mut jobs: Vec<Job> = benchmarks
        .iter()
        .map(|b| Job {
            benchmark: b.name.to_string(),
            inner: if args.quick {
                b.quick_inner
            } else {
                b.interpreter_inner
            },
        })
        .collect();
    for setting in &args.inner {
        let (name, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("--inner takes NAME=N, not `{setting}`"))?;
        suite::find(name).ok_or_else(|| unknown_benchmark(name))?;
        let inner: u64 = value
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("--inner {name}: `{value}` is not a positive integer"))?;
        match jobs.iter_mut().find(|j| j.benchmark == name) {
            Some(job) => job.inner = inner,
            None => {
                return Err(format!(
                    "--inner {name}: {name} is not among the benchmarks"
                ))
            }
        }
    }

    let invocations = args.invocations.unwrap_or(if args.quick { 1 } else { 3 });
    let iterations = args.iterations.unwrap_or(1);
    if invocations == 0 || iterations == 0 {
        return Err("--invocations and --iterations must be at least 1".into());
    }

    let out = match &args.out {
        Some(path) => {
            if path.exists() {
                return Err(format!(
                    "{} exists; raw data is never overwritten — choose another --out",
                    path.display()
                ));
            }
            path.clone()
        }
        None => default_out(),
    };

    Ok(Plan {
        som,
        awfy: awfy_dir,
        engines,
        jobs,
        invocations,
        iterations,
        extra_args: args
            .extra_args
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect(),
        timeout: (args.timeout > 0).then(|| Duration::from_secs(args.timeout)),
        out,
    })
}

fn unknown_benchmark(name: &str) -> String {
    let known: Vec<&str> = suite::BENCHMARKS.iter().map(|b| b.name).collect();
    format!("unknown benchmark `{name}` (known: {})", known.join(", "))
}

/// `measurements/results/awfy-<timestamp>.csv`, with a suffix if that exists already.
fn default_out() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let stamp = awfy::timestamp(SystemTime::now());
    let mut path = dir.join(format!("awfy-{stamp}.csv"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("awfy-{stamp}-{n}.csv"));
        n += 1;
    }
    path
}

fn run_awfy(args: &AwfyArgs) -> ExitCode {
    let plan = match plan_of(args) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("measurements awfy: {message}");
            return ExitCode::from(2);
        }
    };
    let mut meta = machine::describe(&plan.som, awfy::repository_root());
    meta.push(
        "started",
        format!("{} UTC", awfy::timestamp(SystemTime::now())),
    );
    meta.push("command", std::env::args().collect::<Vec<_>>().join(" "));
    let processes = plan.invocations as usize * plan.jobs.len() * plan.engines.len();
    eprintln!(
        "measurements awfy: {processes} processes ({} invocation(s) × {} benchmark(s) × {} \
         engine(s)), writing {}",
        plan.invocations,
        plan.jobs.len(),
        plan.engines.len(),
        plan.out.display()
    );
    let outcome = match awfy::run(&plan, meta, !args.no_progress) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("measurements awfy: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", outcome.markdown);
    eprintln!(
        "raw data: {}\nsummary:  {}",
        outcome.csv.display(),
        outcome.summary_path.display()
    );
    if outcome.summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "measurements awfy: {} process(es) failed (no time recorded); their output is in {}",
            outcome.summary.failures.len(),
            machine::sibling(&outcome.csv, "failures.log").display()
        );
        ExitCode::from(1)
    }
}

fn run_summarize(csvs: &[PathBuf], out: Option<&Path>) -> ExitCode {
    let (_, markdown) = match awfy::summarize_files(csvs) {
        Ok(done) => done,
        Err(e) => {
            eprintln!("measurements summarize: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{markdown}");
    let target = match (out, csvs) {
        (Some(out), _) => Some(out.to_path_buf()),
        (None, [csv]) => Some(machine::sibling(csv, "summary.md")),
        (None, _) => None,
    };
    if let Some(target) = target {
        if let Err(e) = std::fs::write(&target, &markdown) {
            eprintln!("measurements summarize: {}: {e}", target.display());
            return ExitCode::from(2);
        }
        eprintln!("summary: {}", target.display());
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Cmd::Awfy(args) => run_awfy(args),
        Cmd::Summarize { csv, out } => run_summarize(csv, out.as_deref()),
    }
}
