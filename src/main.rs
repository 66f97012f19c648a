//! `som`: runs a SOM program on the engine of choice.
//!
//! Owns: the command line (SOM's conventions: `-cp`, the program file's directory first on the
//! classpath, program arguments after the file), turning the program's outcome into output
//! and an exit status, and the thread the engines run on. Must never: implement language
//! behaviour — that is `lang` and the engines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use lang::gc::GcConfig;
use lang::runtime::engine::Unwind;
use lang::runtime::universe::{Options, Universe};

/// Stack of the thread that runs SOM code: the AST engine recurses once per activation.
const ENGINE_THREAD_STACK: usize = 512 << 20;
/// What the AST engine may use of it; the rest is a margin for the deepest Rust calls.
const AST_RECURSION_BUDGET: usize = ENGINE_THREAD_STACK - (32 << 20);

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EngineKind {
    /// The AST interpreter (self-optimizing node tree).
    Ast,
    /// The bytecode interpreter (verified bytecode, explicit frame stack).
    Bc,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DispatchKind {
    /// A central `match` on the opcode: a jump table, replicated into the handlers.
    Match,
    /// A table of handler functions: one indirect call per bytecode.
    Table,
}

/// Runs a SOM program. The program file's directory comes first on the classpath, then the
/// -cp directories in order, then the core library embedded in this binary.
#[derive(Parser, Debug)]
#[command(
    name = "som",
    version,
    about,
    after_help = "Exit status: 0, or n after `system exit: n`, or 1 after an error.\n\
Example: som examples/Hello.som\n         som -cp lib:more/lib path/Main.som arg1 arg2"
)]
struct Cli {
    /// Class path: directories searched for class files, separated by ':' (also `-cp`).
    #[arg(long = "classpath", visible_alias = "cp", value_name = "DIRS")]
    classpath: Option<String>,

    /// Execution engine. The default is the faster one on our Are We Fast Yet measurements
    /// (see README).
    #[arg(long, value_enum, default_value_t = EngineKind::Bc)]
    engine: EngineKind,

    /// How the bytecode engine dispatches (with `--engine bc` only).
    #[arg(long, value_enum, value_name = "VARIANT")]
    dispatch: Option<DispatchKind>,

    /// Collect garbage at every safepoint and poison evacuated memory (finds GC bugs). On
    /// very deep stacks, every k-th safepoint, so the cost per safepoint stays bounded.
    #[arg(long)]
    gc_stress: bool,

    /// Print garbage-collector statistics on stderr at exit.
    #[arg(long)]
    gc_stats: bool,

    /// Compile hot loops and often-called methods with the tracing JIT (both engines record
    /// into the same JIT) [the default]. What a trace cannot contain is counted as an abort
    /// in --jit-summary, and such loops stay interpreted.
    #[arg(long, overrides_with = "no_jit")]
    jit: bool,

    /// Interpret only: no loop or method is recorded or compiled (what the interpreter
    /// measurements use). The last of --jit and --no-jit counts.
    #[arg(long, overrides_with = "jit")]
    no_jit: bool,

    /// Loop iterations (or calls of a method) before the JIT records the loop (or method).
    #[arg(long, value_name = "N", default_value_t = lang::tracing::JitOptions::default().threshold,
          value_parser = clap::value_parser!(u32).range(1..))]
    jit_threshold: u32,

    /// Make compiled guards leave early and often, whatever their condition, so that every
    /// path back into the interpreter runs (a test mode).
    #[arg(long)]
    jit_stress_guards: bool,

    /// Write every trace the JIT compiled (or the backend refused) to FILE at exit: its IR as
    /// recorded and as optimized, and its machine code, disassembled; and every recording
    /// that aborted, with the reason and the instruction it stopped at.
    #[arg(long, value_name = "FILE")]
    jit_log: Option<PathBuf>,

    /// Print what the JIT did on stderr at exit: recordings, traces and side traces compiled,
    /// IR before and after optimization, guards, trace runs and exits, aborts by reason,
    /// blacklisted loops and exits, time spent.
    #[arg(long)]
    jit_summary: bool,

    /// `system time` and `system ticks` advance by one microsecond per call instead of
    /// following the clock, so the program's behaviour and output (benchmark times!) do not
    /// depend on timing and exact instruction counts reproduce.
    #[arg(long)]
    fixed_clock: bool,

    /// Write execution counts (CSV) to FILE at exit: per bytecode and bytecode pair with
    /// `--engine bc`, per AST node kind with `--engine ast` (needs a build with
    /// `--features dispatch-counts`). Only what the interpreter runs is counted: add
    /// --no-jit to count every operation of the program.
    #[arg(long, value_name = "FILE")]
    count_dispatch: Option<PathBuf>,

    /// Print the program class's methods as the engine sees them — parse trees for `ast`,
    /// bytecode for `bc` — then run it.
    #[arg(short = 'd', long = "dump")]
    dump: bool,

    /// Under `valgrind --tool=callgrind --collect-atstart=no`: count exactly the program's
    /// run (after bootstrap) and dump it as the region "program" (client requests; a no-op
    /// otherwise).
    #[arg(long)]
    callgrind_region: bool,

    /// The program: a class file, `path/Name.som`, whose class `Name` is run.
    file: PathBuf,

    /// Arguments handed to the program (after the class name).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// SOM's single-dash `-cp` spelling, accepted before clap sees the arguments, and a `--`
/// before the program file so that every argument after it goes to the program.
/// An argument that is not valid Unicode is an error (SOM strings are Unicode).
fn normalize_args() -> Result<Vec<String>, String> {
    let takes_value = options_with_values();
    let mut out = Vec::new();
    let mut seen_file = false;
    for (i, a) in std::env::args_os().enumerate() {
        let a = a.into_string().map_err(|bad| {
            format!(
                "argument {i} ({}) is not valid UTF-8",
                bad.to_string_lossy()
            )
        })?;
        if i > 0 && !seen_file {
            if a == "-cp" {
                out.push("--classpath".to_string());
                continue;
            }
            if a == "--" {
                seen_file = true;
            } else if !a.starts_with('-')
                && out
                    .last()
                    .is_some_and(|p: &String| !takes_value.contains(p))
            {
                seen_file = true;
                // The file and everything after it are positional: the program's arguments
                // may look like options (`som Prog.som -d --engine x`).
                out.push("--".to_string());
            }
        }
        out.push(a);
    }
    Ok(out)
}

/// The `--long` spellings of the options that take a value, from clap's definition.
fn options_with_values() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command()
        .get_arguments()
        .filter(|a| !a.is_positional() && a.get_action().takes_values())
        .flat_map(|a| {
            let longs = a
                .get_long()
                .into_iter()
                .chain(a.get_visible_aliases().unwrap_or_default());
            longs.map(|l| format!("--{l}")).collect::<Vec<_>>()
        })
        .collect()
}

fn fail(message: &str) -> ExitCode {
    to_stderr(&format!("som: {message}\n"));
    ExitCode::from(1)
}

/// Writes to stderr or stdout, ignoring failure: a closed or broken pipe (`som P.som 2>&1 |
/// head -1`) must not become a panic, which `eprint!` and `print!` would make it.
fn to_stderr(s: &str) {
    let _ = std::io::stderr().write_all(s.as_bytes());
}

fn to_stdout(s: &str) {
    let mut out = std::io::stdout();
    let _ = out.write_all(s.as_bytes()).and_then(|()| out.flush());
}

fn main() -> ExitCode {
    let args = match normalize_args() {
        Ok(args) => args,
        Err(message) => return fail(&message),
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.file.extension().is_none_or(|x| x != "som") {
        return fail(&format!(
            "{}: a program is a class file ending in .som",
            cli.file.display()
        ));
    }
    if !cli.file.is_file() {
        return fail(&format!("{}: no such file", cli.file.display()));
    }
    let Some(class_name) = cli
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
    else {
        return fail("the program file has no name");
    };
    let dir = cli
        .file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut classpath = vec![dir];
    if let Some(cp) = &cli.classpath {
        classpath.extend(cp.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
    }
    let mut args = vec![class_name];
    args.extend(cli.args.iter().cloned());
    let gc = GcConfig {
        stress: cli.gc_stress,
        ..GcConfig::default()
    };
    if cli.count_dispatch.is_some() && !cfg!(feature = "dispatch-counts") {
        return fail("--count-dispatch needs a som built with `cargo build --release --features dispatch-counts`");
    }
    let engine = cli.engine;
    if cli.dispatch.is_some() && matches!(engine, EngineKind::Ast) {
        return fail("--dispatch chooses the bytecode engine's dispatch; it needs --engine bc");
    }
    let dump_file = cli.dump.then(|| cli.file.clone());
    let options = RunOptions {
        engine,
        dispatch: match cli.dispatch.unwrap_or(DispatchKind::Match) {
            DispatchKind::Match => bc_interp::Dispatch::Match,
            DispatchKind::Table => bc_interp::Dispatch::Table,
        },
        classpath,
        gc,
        gc_stats: cli.gc_stats,
        fixed_clock: cli.fixed_clock,
        jit: lang::tracing::JitOptions {
            enabled: !cli.no_jit,
            threshold: cli.jit_threshold,
            stress_guards: cli.jit_stress_guards,
            ..Default::default()
        },
        jit_summary: cli.jit_summary,
        jit_log: cli.jit_log.clone(),
        disassemble: cli.dump && matches!(engine, EngineKind::Bc),
        count_dispatch: cli.count_dispatch.clone(),
        callgrind_region: cli.callgrind_region,
    };
    // Parsing and running recurse over deeply nested code: both happen on a large stack.
    let runner = std::thread::Builder::new()
        .name("som-engine".into())
        .stack_size(ENGINE_THREAD_STACK)
        .spawn(move || {
            // `-d` on the AST engine prints parse trees; the bytecode engine disassembles
            // inside `run`, once the classes are loaded.
            if let (EngineKind::Ast, Some(file)) = (engine, &dump_file) {
                if dump(file).is_err() {
                    return 1;
                }
            }
            run(options, &args)
        });
    match runner.map(|t| t.join()) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(_)) => fail("internal error: the engine thread panicked (this is a bug in somlab)"),
        Err(e) => fail(&format!("cannot start the engine thread: {e}")),
    }
}

/// What the engine thread needs to run a program.
struct RunOptions {
    engine: EngineKind,
    dispatch: bc_interp::Dispatch,
    classpath: Vec<PathBuf>,
    gc: GcConfig,
    gc_stats: bool,
    fixed_clock: bool,
    jit: lang::tracing::JitOptions,
    jit_summary: bool,
    jit_log: Option<PathBuf>,
    /// Print the bytecode of the program's class first (`-d` with `--engine bc`).
    disassemble: bool,
    count_dispatch: Option<PathBuf>,
    callgrind_region: bool,
}

fn run(options: RunOptions, args: &[String]) -> u8 {
    let RunOptions {
        engine,
        dispatch,
        classpath,
        gc,
        gc_stats,
        fixed_clock,
        jit,
        jit_summary,
        jit_log,
        disassemble,
        count_dispatch,
        callgrind_region,
    } = options;
    let _ = &count_dispatch; // used only with the dispatch-counts feature
    let mut u = Universe::new(
        classpath,
        gc,
        Options {
            gc_stats,
            fixed_clock,
            jit,
        },
    );
    if jit_log.is_some() {
        u.jit_stats.log = Some(Vec::new());
    }
    let (outcome, mut u) = match engine {
        EngineKind::Ast => {
            let mut e = ast_interp::AstEngine::new(u, AST_RECURSION_BUDGET);
            let outcome = probe::region(callgrind_region, "program", || {
                lang::runtime::program::run(&mut e, args)
            });
            #[cfg(feature = "dispatch-counts")]
            write_counts(&count_dispatch, || e.counts.report());
            (outcome, e.u)
        }
        EngineKind::Bc => {
            let mut e = bc_interp::BcEngine::new(u);
            e.dispatch = dispatch;
            let outcome = match disassemble {
                true => disassemble_program(&mut e, &args[0]),
                false => Ok(()),
            }
            .and_then(|()| {
                probe::region(callgrind_region, "program", || {
                    lang::runtime::program::run(&mut e, args)
                })
            });
            #[cfg(feature = "dispatch-counts")]
            write_counts(&count_dispatch, || e.counts.report());
            (outcome, e.u)
        }
    };
    u.flush();
    let code = match outcome {
        Ok(_) => 0,
        Err(Unwind::Exit(n)) => (n & 0xff) as u8,
        Err(Unwind::Error(e)) => {
            to_stderr(&e.report());
            1
        }
        Err(Unwind::NonLocalReturn { .. }) => {
            to_stderr("Error: a non-local return reached the top level\n");
            1
        }
        Err(Unwind::ToLoop { .. }) => {
            to_stderr("Error (internal): compiled code left at a loop that was not running\n");
            1
        }
    };
    if gc_stats {
        to_stderr(&u.heap.stats.report(u.heap.old_bytes()));
    }
    if jit_summary {
        to_stderr(&u.jit_stats.report());
    }
    if let (Some(path), Some(log)) = (&jit_log, &u.jit_stats.log) {
        if let Err(e) = std::fs::write(path, jit_log_text(log)) {
            to_stderr(&format!("som: cannot write {}: {e}\n", path.display()));
            return 1;
        }
    }
    code
}

/// Writes `--count-dispatch`'s CSV, if asked for.
#[cfg(feature = "dispatch-counts")]
fn write_counts(path: &Option<PathBuf>, report: impl FnOnce() -> String) {
    if let Some(path) = path {
        if let Err(err) = std::fs::write(path, report()) {
            eprintln!("som: cannot write {}: {err}", path.display());
        }
    }
}

/// Prints the bytecode of every method of the program's class (`-d` with `--engine bc`).
fn disassemble_program(e: &mut bc_interp::BcEngine, class_name: &str) -> Result<(), Unwind> {
    e.u.load_bootstrap_classes()?;
    let Some(class) = e.u.load_class(class_name)? else {
        return Ok(()); // running reports the missing class
    };
    let mut text = String::new();
    for holder in [class, class.class()] {
        for m in holder.methods() {
            if m.code().is_some() {
                text.push_str(&e.disassemble(m)?);
            }
        }
    }
    e.u.print(&text);
    Ok(())
}

/// Prints the parse tree of the program's class file (`-d`).
fn dump(file: &Path) -> Result<(), ()> {
    let source = std::fs::read_to_string(file).map_err(|e| {
        fail(&format!("{}: {e}", file.display()));
    })?;
    match lang::syntax::parse_class(&source) {
        Ok(class) => {
            to_stdout(&lang::syntax::printer::dump(&class));
            Ok(())
        }
        Err(e) => {
            to_stderr(&e.render(&file.display().to_string(), &source));
            Err(())
        }
    }
}

/// The text of `--jit-log`: per trace, the IR as recorded and optimized, and the machine code
/// (offsets from the code's start, so that logs of two runs compare).
fn jit_log_text(log: &[lang::tracing::stats::TraceLog]) -> String {
    use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
    let mut out = String::new();
    for (n, t) in log.iter().enumerate() {
        let place = lang::tracing::place(&t.method, t.header);
        out.push_str(&format!("=== trace {n}: {place}\n"));
        out.push_str("--- recorded\n");
        out.push_str(&t.recorded);
        out.push_str("--- optimized\n");
        out.push_str(&t.optimized);
        match &t.abort {
            Some(reason) => out.push_str(&format!("--- not compiled: {reason}\n")),
            None => {
                out.push_str(&format!("--- machine code ({} bytes)\n", t.code.len()));
                let mut decoder =
                    Decoder::with_ip(64, &t.code, t.code_address, DecoderOptions::NONE);
                let mut formatter = IntelFormatter::new();
                let mut text = String::new();
                for instruction in &mut decoder {
                    text.clear();
                    formatter.format(&instruction, &mut text);
                    out.push_str(&format!(
                        "{:6x}  {text}\n",
                        instruction.ip() - t.code_address
                    ));
                }
            }
        }
    }
    out
}
