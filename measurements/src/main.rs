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
use measurements::counters;
use measurements::machine;
use measurements::micro;
use measurements::static_dispatch;
use measurements::suite;

/// somlab's benchmark runner: runs the Are We Fast Yet suite on the `som` binary, writes raw
/// CSV (one row per iteration) and derives a summary from it.
/// `print!` to stdout that ignores a closed pipe (`measurements disasm … | head`): output
/// nobody reads is not an error, and must not be a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!` to stdout that ignores a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

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
    /// Instructions per interpreter operation by the k/2k method: each microbenchmark of
    /// benchmarks/micro under callgrind with loop bodies of k and 2k repetitions.
    Micro(MicroArgs),
    /// Print which counter backends work on this machine, and why the others do not.
    Counters,
    /// Count a command: instructions with the best backend (perf-event hardware counters if
    /// there is a PMU, else callgrind), plus software counters (task-clock, page faults).
    /// Example: `measurements count -- target/x86_64-unknown-linux-gnu/release/som examples/Hello.som`.
    Count(CountArgs),
    /// Print the normalized disassembly of one function of a binary (labels for branch
    /// targets, `disp`/`data`/`table` for addresses), its instruction and basic-block counts.
    /// Example: `measurements disasm --symbol
    /// 'bc_interp::dispatch_loop::<impl bc_interp::BcEngine>::dispatch_loop_match'`.
    Disasm(DisasmArgs),
    /// The dispatch experiment: each engine's dispatch sequence from the release binary,
    /// instructions per operation and dispatch instructions per bytecode or AST node on the
    /// microbenchmarks (k/2k, callgrind by address), and the dispatch share of every Are We
    /// Fast Yet benchmark. Builds the counting `som` (`--features dispatch-counts`) itself,
    /// into target/dispatch-counts. Writes `<out>-static.csv`, `-micro.csv`, `-awfy.csv`,
    /// `-awfy-ops.csv`, `-static.md` and `-summary.md`.
    Dispatch(DispatchArgs),
}

#[derive(Args, Debug)]
struct DispatchArgs {
    /// Configurations for the microbenchmarks (`bc`, `bc-table`, `ast`).
    #[arg(long, value_delimiter = ',', default_value = "bc,bc-table,ast")]
    micro_configs: Vec<String>,
    /// Configurations for the Are We Fast Yet benchmarks.
    #[arg(long, value_delimiter = ',', default_value = "bc,ast")]
    awfy_configs: Vec<String>,
    /// Operations (default: all in benchmarks/micro/operations.txt).
    #[arg(long, value_delimiter = ',')]
    operations: Vec<String>,
    /// Benchmarks (default: all 14, each at its smallest verifying inner count, except
    /// Mandelbrot 500, NBody 250000 and DeltaBlue 200, which do almost nothing below).
    #[arg(long, value_delimiter = ',')]
    benchmarks: Vec<String>,
    /// Inner counts for some benchmarks, e.g. `Richards=10,Json=5`.
    #[arg(long, value_delimiter = ',')]
    inner: Vec<String>,
    /// Repetitions in the smaller loop body (k and 2k must both be generated).
    #[arg(long, default_value_t = 100)]
    k: u64,
    /// Loop iterations per microbenchmark run.
    #[arg(long, default_value_t = 1000)]
    iterations: u64,
    /// Path prefix of the files to write [default: measurements/results/dispatch-<UTC timestamp>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// The `som` binary measured [default: `som` next to this executable].
    #[arg(long)]
    som: Option<PathBuf>,
    /// The counting `som` [default: built by this command into target/dispatch-counts].
    #[arg(long)]
    counting_som: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct DisasmArgs {
    /// The ELF binary [default: `som` next to this executable].
    #[arg(long)]
    binary: Option<PathBuf>,
    /// The function: its demangled name without the `::h<hash>` suffix; when several
    /// different functions have that name, `NAME@0xADDRESS` chooses one.
    #[arg(long)]
    symbol: String,
}

#[derive(Args, Debug)]
struct CountArgs {
    /// Force a backend: `perf` (hardware counters) or `callgrind` [default: the best
    /// available].
    #[arg(long, value_parser = ["perf", "callgrind"])]
    backend: Option<String>,
    /// Callgrind: collect only inside this function (`--toggle-collect`); repeatable.
    #[arg(long, value_name = "FN")]
    toggle_collect: Vec<String>,
    /// Callgrind: collect only the regions the program marks with client requests (e.g.
    /// `som --callgrind-region`), not the whole process.
    #[arg(long)]
    regions_only: bool,
    /// Kill the command after this many seconds; 0: never.
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    timeout: u64,
    /// The command and its arguments (after `--`).
    #[arg(required = true, last = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
struct MicroArgs {
    /// Engines: `ast`, `bc` (the interpreters, `--no-jit`), `ast+jit`, `bc+jit`.
    #[arg(long, value_delimiter = ',', default_value = "ast,bc")]
    engines: Vec<String>,
    /// Operations (default: all in benchmarks/micro/operations.txt).
    #[arg(long, value_delimiter = ',')]
    operations: Vec<String>,
    /// Repetitions of the operation in the smaller loop body (gen.py writes 10, 20, 50, 100,
    /// 200; k and 2k must both be among them).
    #[arg(long, default_value_t = 100)]
    k: u64,
    /// Loop iterations per run.
    #[arg(long, default_value_t = 1000)]
    iterations: u64,
    /// The CSV to write [default: measurements/results/micro-<UTC timestamp>.csv].
    #[arg(long)]
    out: Option<PathBuf>,
    /// The `som` binary [default: `som` next to this executable].
    #[arg(long)]
    som: Option<PathBuf>,
    /// The valgrind executable.
    #[arg(long, default_value = "valgrind")]
    valgrind: PathBuf,
}

#[derive(Args, Debug)]
struct AwfyArgs {
    /// Engines to compare: `ast` and `bc` (the interpreters, `--no-jit`), `ast+jit` and
    /// `bc+jit` (the same with the tracing JIT); the first is the baseline of the ratios.
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
    /// The `som` binary [default: `som` next to this executable, i.e. target/x86_64-unknown-linux-gnu/release/som].
    #[arg(long)]
    som: Option<PathBuf>,
    /// The suite directory [default: measurements/benchmarks/awfy of this source tree].
    #[arg(long)]
    awfy_dir: Option<PathBuf>,
    /// Do not draw the progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// A command-line or setup problem: reported, exit status 1.
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
        suite::check_engine(engine)?;
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
    for (name, inner) in parse_inner(&args.inner)? {
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
            return ExitCode::from(1);
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
            return ExitCode::from(1);
        }
    };
    outln!("{}", outcome.markdown);
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
            return ExitCode::from(1);
        }
    };
    out!("{markdown}");
    let target = match (out, csvs) {
        (Some(out), _) => Some(out.to_path_buf()),
        (None, [csv]) => Some(machine::sibling(csv, "summary.md")),
        (None, _) => None,
    };
    if let Some(target) = target {
        if let Err(e) = std::fs::write(&target, &markdown) {
            eprintln!("measurements summarize: {}: {e}", target.display());
            return ExitCode::from(1);
        }
        eprintln!("summary: {}", target.display());
    }
    ExitCode::SUCCESS
}

fn run_micro(args: &MicroArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("measurements micro: {message}");
        ExitCode::from(1)
    };
    let som = match args.som.clone().or_else(awfy::default_som) {
        Some(som) if som.is_file() => som,
        _ => {
            return fail(
                "no som binary: build it with `cargo build --release` (or pass --som)".into(),
            )
        }
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/micro");
    let units = match micro::operations(&dir) {
        Ok(units) => units,
        Err(e) => return fail(format!("{}: {e}", dir.join("operations.txt").display())),
    };
    let operations = if args.operations.is_empty() {
        units.iter().map(|(name, _)| name.clone()).collect()
    } else {
        for op in &args.operations {
            if !units.iter().any(|(name, _)| name == op) {
                let known: Vec<&str> = units.iter().map(|(n, _)| n.as_str()).collect();
                return fail(format!(
                    "unknown operation `{op}` (known: {})",
                    known.join(", ")
                ));
            }
        }
        args.operations.clone()
    };
    if args.k == 0 || args.iterations == 0 {
        return fail("--k and --iterations must be at least 1".into());
    }
    for engine in &args.engines {
        if let Err(e) = suite::check_engine(engine) {
            return fail(e);
        }
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let stamp = awfy::timestamp(SystemTime::now());
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("results/micro-{stamp}.csv"))
    });
    if out.exists() {
        return fail(format!(
            "{} exists; raw data is never overwritten",
            out.display()
        ));
    }
    let plan = micro::MicroPlan {
        som,
        dir,
        engines: args.engines.clone(),
        operations,
        k: args.k,
        iterations: args.iterations,
        valgrind: args.valgrind.clone(),
    };
    let rows = micro::run(&plan, |r| {
        eprintln!(
            "{} {}: {} → {} instructions, {:.2} per operation",
            r.engine, r.operation, r.instructions_k, r.instructions_2k, r.instructions_per_op
        )
    });
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => return fail(e),
    };
    let written = std::fs::File::create(&out)
        .map_err(|e| e.to_string())
        .and_then(|f| micro::write_csv(f, &rows).map_err(|e| e.to_string()));
    if let Err(e) = written {
        return fail(format!("{}: {e}", out.display()));
    }
    let markdown = micro::table(&rows, &units);
    outln!("{markdown}");
    let summary = machine::sibling(&out, "summary.md");
    if let Err(e) = std::fs::write(&summary, &markdown) {
        return fail(format!("{}: {e}", summary.display()));
    }
    eprintln!(
        "raw data: {}\nsummary:  {}",
        out.display(),
        summary.display()
    );
    ExitCode::SUCCESS
}

fn run_count(args: &CountArgs) -> ExitCode {
    let options = counters::CountOptions {
        backend: args.backend.as_deref().map(|b| match b {
            "perf" => counters::Backend::PerfHardware,
            _ => counters::Backend::Callgrind,
        }),
        toggle_collect: args.toggle_collect.clone(),
        regions_only: args.regions_only,
        timeout: (args.timeout > 0).then(|| Duration::from_secs(args.timeout)),
    };
    match counters::count_command(&args.command[0], &args.command[1..], &options) {
        Ok(counts) => {
            out!("{}", counts.report());
            if counts.success {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("measurements count: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_disasm(args: &DisasmArgs) -> ExitCode {
    let Some(binary) = args.binary.clone().or_else(awfy::default_som) else {
        eprintln!("measurements disasm: cannot locate this executable to find `som`");
        return ExitCode::from(1);
    };
    match static_dispatch::load_function(&binary, &args.symbol) {
        Ok(function) => {
            let listing = static_dispatch::disassemble(&function);
            out!("{}", listing.to_text());
            outln!("; {}", listing.name);
            outln!("; instructions: {}", listing.instructions.len());
            outln!("; basic blocks: {}", listing.blocks.len());
            let jumps = static_dispatch::indirect_jumps(&listing).len();
            outln!("; indirect jumps: {jumps}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("measurements disasm: {}: {e}", binary.display());
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    // Usage errors exit with status 1 like every other error (clap's default is 2).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(1);
        }
        Err(e) => {
            let _ = e.print(); // --help, --version
            return ExitCode::SUCCESS;
        }
    };
    match &cli.command {
        Cmd::Awfy(args) => run_awfy(args),
        Cmd::Summarize { csv, out } => run_summarize(csv, out.as_deref()),
        Cmd::Micro(args) => run_micro(args),
        Cmd::Counters => {
            out!("{}", counters::detect().report());
            ExitCode::SUCCESS
        }
        Cmd::Count(args) => run_count(args),
        Cmd::Disasm(args) => run_disasm(args),
        Cmd::Dispatch(args) => run_dispatch(args),
    }
}

/// `--inner NAME=N,…` settings, each checked: a known benchmark and a positive count.
fn parse_inner(settings: &[String]) -> Result<Vec<(String, u64)>, String> {
    settings
        .iter()
        .map(|setting| {
            let (name, value) = setting
                .split_once('=')
                .ok_or_else(|| format!("--inner takes NAME=N, not `{setting}`"))?;
            suite::find(name).ok_or_else(|| unknown_benchmark(name))?;
            let inner: u64 =
                value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("--inner {name}: `{value}` is not a positive integer")
                })?;
            Ok((name.to_string(), inner))
        })
        .collect()
}

/// The dispatch experiment's inner counts where the smallest verifying one does almost no
/// work (Mandelbrot and NBody verify only at 1 and at their interpreter values).
const DISPATCH_INNER: [(&str, u64); 3] =
    [("Mandelbrot", 500), ("NBody", 250_000), ("DeltaBlue", 200)];

fn run_dispatch(args: &DispatchArgs) -> ExitCode {
    use measurements::dispatch;
    let fail = |message: String| {
        eprintln!("measurements dispatch: {message}");
        ExitCode::from(1)
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let som = match args.som.clone().or_else(awfy::default_som) {
        Some(som) if som.is_file() => som,
        _ => {
            return fail(
                "no som binary: build it with `cargo build --release` (or pass --som)".into(),
            )
        }
    };
    let configs = |names: &[String]| -> Result<Vec<dispatch::Config>, String> {
        names
            .iter()
            .map(|n| {
                dispatch::config(n).ok_or_else(|| {
                    format!("unknown configuration `{n}` (known: bc, bc-table, ast)")
                })
            })
            .collect()
    };
    let (micro_configs, awfy_configs) =
        match (configs(&args.micro_configs), configs(&args.awfy_configs)) {
            (Ok(m), Ok(a)) => (m, a),
            (Err(e), _) | (_, Err(e)) => return fail(e),
        };
    let micro_dir = root.join("benchmarks/micro");
    let known: Vec<String> = match micro::operations(&micro_dir) {
        Ok(units) => units.into_iter().map(|(n, _)| n).collect(),
        Err(e) => return fail(format!("{}: {e}", micro_dir.display())),
    };
    if let Some(op) = args.operations.iter().find(|op| !known.contains(op)) {
        return fail(format!(
            "unknown operation `{op}` (known: {})",
            known.join(", ")
        ));
    }
    let operations = if args.operations.is_empty() {
        known
    } else {
        args.operations.clone()
    };
    let mut benchmarks = Vec::new();
    for b in measurements::suite::BENCHMARKS {
        if args.benchmarks.is_empty() || args.benchmarks.iter().any(|n| n == b.name) {
            let inner = DISPATCH_INNER
                .iter()
                .find(|(n, _)| *n == b.name)
                .map_or(b.quick_inner, |(_, i)| *i);
            benchmarks.push((b.name.to_string(), inner));
        }
    }
    match parse_inner(&args.inner) {
        Ok(settings) => {
            for (name, inner) in settings {
                match benchmarks.iter_mut().find(|(n, _)| *n == name) {
                    Some(b) => b.1 = inner,
                    None => {
                        return fail(format!(
                            "--inner {name}: {name} is not among the benchmarks"
                        ))
                    }
                }
            }
        }
        Err(e) => return fail(e),
    }
    if let Some(unknown) = args
        .benchmarks
        .iter()
        .find(|n| measurements::suite::find(n).is_none())
    {
        return fail(format!("unknown benchmark `{unknown}`"));
    }
    let prefix = args.out.clone().unwrap_or_else(|| {
        root.join(format!(
            "results/dispatch-{}",
            awfy::timestamp(SystemTime::now())
        ))
    });
    let counting_som = match &args.counting_som {
        Some(p) => p.clone(),
        None => {
            let workspace = root.parent().expect("measurements sits in the workspace");
            let target_dir = workspace.join("target/dispatch-counts");
            eprintln!("building the counting som into {}", target_dir.display());
            let status = std::process::Command::new(
                std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
            )
            .current_dir(workspace)
            .args([
                "build",
                "--release",
                "-p",
                "som",
                "--features",
                "dispatch-counts",
                "--target-dir",
            ])
            .arg(&target_dir)
            .status();
            match status {
                Ok(s) if s.success() => {}
                _ => return fail("building the counting som failed".into()),
            }
            let triple = target_dir.join("x86_64-unknown-linux-gnu/release/som");
            if triple.is_file() {
                triple
            } else {
                target_dir.join("release/som")
            }
        }
    };
    let plan = dispatch::DispatchPlan {
        som,
        counting_som,
        micro_dir,
        awfy_dir: root.join("benchmarks/awfy"),
        micro_configs,
        operations,
        k: args.k,
        iterations: args.iterations,
        awfy_configs,
        benchmarks,
    };
    let result = match dispatch::run(&plan, |line| eprintln!("{line}")) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let files = match result.files() {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    for (suffix, text) in files {
        let path = PathBuf::from(format!("{}-{suffix}", prefix.display()));
        if path.exists() {
            return fail(format!(
                "{} exists; raw data is never overwritten",
                path.display()
            ));
        }
        if let Err(e) = std::fs::write(&path, text) {
            return fail(format!("{}: {e}", path.display()));
        }
    }
    let tables = result.tables();
    outln!("{tables}");
    let summary = PathBuf::from(format!("{}-summary.md", prefix.display()));
    if let Err(e) = std::fs::write(&summary, tables) {
        return fail(format!("{}: {e}", summary.display()));
    }
    ExitCode::SUCCESS
}
