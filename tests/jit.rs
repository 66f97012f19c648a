//! The tracing JIT runs: hot integer loops are compiled and entered, guards leave them, and
//! what the JIT cannot compile yet is counted as an abort. (That the output is exactly the
//! interpreters' is checked for every program in `programs.rs`, whose configurations include
//! the JIT compiling after one iteration.)

mod common;

use common::som;

/// The number on the `--jit-summary` line that starts with `label`.
fn summary_number(stderr: &str, label: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stderr}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number on {line:?}"))
}

/// The number in `(N side traces)` on the summary's `traces compiled` line.
fn side_traces(stderr: &str) -> u64 {
    stderr
        .split(" side traces)")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no side trace count in:\n{stderr}"))
}

/// Runs `program` on `engine` with the JIT and its summary.
fn with_jit_summary(engine: &str, program: &str) -> common::Run {
    som(&["--engine", engine, "--jit", "--jit-summary", program])
}

#[test]
fn integer_loops_are_compiled_and_run_as_traces() {
    for engine in ["bc", "ast"] {
        let run = with_jit_summary(engine, "tests/programs/JitIntLoops.som");
        assert_eq!(run.status, 0, "{engine}: {}", run.stderr);
        // Six loops, every one compiled (the last two contain conditionals: the branch that
        // flips halfway becomes a side trace).
        let compiled = summary_number(&run.stderr, "traces compiled");
        let sides = side_traces(&run.stderr);
        assert_eq!(compiled - sides, 6, "{engine}: {}", run.stderr);
        assert!(sides >= 1, "{engine}: {}", run.stderr);
        let entries = summary_number(&run.stderr, "trace entries");
        assert!(entries >= 6, "{engine}: {}", run.stderr);
        assert!(
            summary_number(&run.stderr, "guards") > 0,
            "{engine}: {}",
            run.stderr
        );
    }
}

#[test]
fn the_jit_is_on_by_default_and_no_jit_turns_it_off() {
    let loops = "tests/programs/JitIntLoops.som";
    let recorded = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--jit-summary", loops]);
        let run = som(&all);
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
        summary_number(&run.stderr, "loops recorded")
    };
    assert!(
        recorded(&[]) >= 6,
        "the default compiles JitIntLoops' six loops"
    );
    assert_eq!(recorded(&["--no-jit"]), 0);
    // The last of the two flags counts.
    assert_eq!(recorded(&["--jit", "--no-jit"]), 0);
    assert!(recorded(&["--no-jit", "--jit"]) >= 6);
}

#[test]
fn guards_leave_traces() {
    let run = som(&[
        "--jit",
        "--jit-threshold",
        "2",
        "--jit-summary",
        "tests/programs/JitExits.som",
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    // The program's four loops are compiled; their values leave the small integers (or
    // change type), so their guards fail and the interpreter goes on.
    assert!(
        summary_number(&run.stderr, "traces compiled") >= 4,
        "{}",
        run.stderr
    );
    assert!(
        summary_number(&run.stderr, "trace entries") > 0,
        "{}",
        run.stderr
    );
}

#[test]
fn guards_fail_inside_inlined_methods_and_blocks() {
    // JitInlining's loops inline sends and a block up to depth 3, and a guard fails at each
    // depth (the program's output, checked in every configuration by `programs.rs`, shows
    // that the interpreter went on correctly in the rebuilt activations) — in both engines.
    for engine in ["bc", "ast"] {
        let run = with_jit_summary(engine, "tests/programs/JitInlining.som");
        assert_eq!(run.status, 0, "{engine}: {}", run.stderr);
        // Its six loops are compiled (methods called often may be compiled too, from their
        // entry: listed apart).
        let loops = run.stderr.matches("JitInlining>>run at ").count();
        assert_eq!(loops, 6, "{engine}: {}", run.stderr);
        let inlined_exits: u64 = run
            .stderr
            .split(" inside inlined activations")
            .next()
            .and_then(|s| s.rsplit(", ").next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no inlined exit count in:\n{}", run.stderr));
        assert!(inlined_exits >= 3, "{engine}: {}", run.stderr);
    }
}

#[test]
fn unsupported_loops_abort_and_are_blacklisted() {
    let run = som(&[
        "--jit",
        "--jit-threshold",
        "2",
        "--jit-summary",
        "tests/jit/Unsupported.som",
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "100\n");
    // Five recordings of the loop abort at the primitive.
    let aborts: u64 = run
        .stderr
        .lines()
        .find(|l| l.ends_with("unsupported: primitive System>>fullGC"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no fullGC aborts in:\n{}", run.stderr));
    assert!(aborts >= 5, "{}", run.stderr);
    // Blacklisted: the program's loop (and any of the library's that abort as often).
    let blacklisted: u64 = run
        .stderr
        .split(" loops blacklisted")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no blacklist count in:\n{}", run.stderr));
    assert!(blacklisted >= 1, "{}", run.stderr);
}

#[test]
fn the_threshold_must_be_positive() {
    let run = som(&["--jit", "--jit-threshold", "0", "examples/Hello.som"]);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("--jit-threshold"), "{}", run.stderr);
}

#[test]
fn non_local_returns_and_unknown_messages_leave_traces() {
    // JitLeave's loops return from a block inlined into them and send a message nobody
    // understands: the traces leave there for the interpreter, and nothing aborts.
    for engine in ["bc", "ast"] {
        let run = with_jit_summary(engine, "tests/programs/JitLeave.som");
        assert_eq!(run.stdout, "84570\n300\n", "{engine}: {}", run.stderr);
        assert!(
            summary_number(&run.stderr, "traces compiled") >= 2,
            "{engine}: {}",
            run.stderr
        );
        assert_eq!(
            summary_number(&run.stderr, "aborts"),
            0,
            "{engine}: {}",
            run.stderr
        );
    }
}

/// The reasons on the summary's abort lines (`   N  reason`, after the `aborts` line).
fn abort_reasons(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("aborts"))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("time"))
        .filter_map(|l| {
            l.trim_start()
                .split_once("  ")
                .map(|(_, r)| r.trim().to_string())
        })
        .collect()
}

#[test]
fn primitives_that_allocate_or_fail_are_called_from_traces() {
    // Big integers, Double>>cos, string concatenation and substrings: every primitive is
    // called from the traces, none stops a recording (the checked program's output, with a
    // primitive failing inside a trace, is compared in every configuration by programs.rs).
    for engine in ["bc", "ast"] {
        let program = "tests/programs/JitPrimitiveCalls.som";
        let run = som(&[
            "--engine",
            engine,
            "--jit-threshold",
            "5",
            "--jit-summary",
            program,
        ]);
        assert_eq!(run.status, 1, "{engine}: {}", run.stderr);
        assert!(
            summary_number(&run.stderr, "traces compiled") >= 2,
            "{engine}: {}",
            run.stderr
        );
        let reasons = abort_reasons(&run.stderr);
        assert!(
            reasons.iter().all(|r| !r.contains("primitive")),
            "{engine}: {reasons:?}"
        );
    }
}

#[test]
fn loops_with_long_inner_loops_are_compiled() {
    // Inner loops of 100 iterations, in a called method and in the loop's own body: the
    // outer loops' traces end at the inner loops' headers instead of aborting.
    for engine in ["bc", "ast"] {
        let run = with_jit_summary(engine, "tests/programs/JitLongInnerLoops.som");
        assert_eq!(run.stdout, "3020000\n3020000\n", "{engine}: {}", run.stderr);
        let reasons = abort_reasons(&run.stderr);
        assert!(
            reasons
                .iter()
                .all(|r| r == "the loop ended while recording"),
            "{engine}: {reasons:?}"
        );
        let traced_loops = run.stderr.lines().filter(|l| l.contains(" at ")).count();
        assert!(traced_loops >= 3, "{engine}: {}", run.stderr);
    }
}
