//! Snapshots of what the user sees for each error path of SOM.md: exit status, stdout and
//! stderr (message and SOM backtrace). Review changes with `cargo insta review`.

mod common;

use common::som;

fn transcript(program: &str) -> String {
    let run = som(&[program]);
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.status, run.stdout, run.stderr
    )
}

macro_rules! error_snapshot {
    ($($name:ident => $program:literal,)*) => {$(
        #[test]
        fn $name() {
            insta::assert_snapshot!(transcript($program));
        }
    )*};
}

error_snapshot! {
    syntax_error => "tests/programs/SyntaxError.som",
    not_som_syntax => "tests/programs/NotSomSyntax.som",
    unknown_class => "tests/programs/UnknownClass.som",
    error_call => "tests/programs/ErrorCall.som",
    unknown_message => "tests/programs/UnknownMessage.som",
    wrong_primitive_argument => "tests/programs/WrongPrimitiveArg.som",
    index_out_of_bounds => "tests/programs/IndexOutOfBounds.som",
    division_by_zero => "tests/programs/DivisionByZero.som",
    escaped_block => "tests/programs/EscapedBlock.som",
}

#[test]
fn command_line_errors_are_messages_with_status_1() {
    for (args, needle) in [
        (vec!["tests/programs/NoSuchProgram.som"], "no such file"),
        (vec!["README.md"], "ending in .som"),
        (
            vec!["--engine", "nonsense", "examples/Hello.som"],
            "nonsense",
        ),
        (
            vec!["--no-such-flag", "examples/Hello.som"],
            "--no-such-flag",
        ),
        (vec![], "Usage"),
    ] {
        let run = som(&args);
        assert_eq!(run.status, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn help_describes_the_command_line() {
    let run = som(&["--help"]);
    assert_eq!(run.status, 0);
    for option in [
        "--classpath",
        "--engine",
        "--gc-stress",
        "--gc-stats",
        "--dump",
        "<FILE>",
    ] {
        assert!(
            run.stdout.contains(option),
            "--help lacks {option}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn dump_prints_the_parsed_methods_then_runs() {
    let run = som(&["--engine", "ast", "-d", "examples/Hello.som"]);
    assert_eq!(run.status, 0);
    assert_eq!(
        run.stdout,
        "class Hello\n  (method run (println 'Hello, World!'))\nHello, World!\n"
    );
}

#[test]
fn dump_prints_the_bytecode_then_runs() {
    let run = som(&["--engine", "bc", "-d", "examples/Hello.som"]);
    assert_eq!(run.status, 0);
    // `'Hello, World!' println`, then the method answers self (`^self` is `return_slot 0`).
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert!(
        lines[0].starts_with("Hello>>run — params 0"),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].contains("push_const") && lines[1].contains("'Hello, World!'"),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].contains("send") && lines[2].contains("#println"),
        "{}",
        run.stdout
    );
    assert!(lines[3].ends_with("pop"), "{}", run.stdout);
    assert!(
        lines[4].contains("return_slot") && lines[4].ends_with('0'),
        "{}",
        run.stdout
    );
    assert_eq!(lines[5], "Hello, World!");
}

/// `--dispatch` picks the bytecode engine's dispatch; on the AST engine it is an error.
#[test]
fn dispatch_needs_the_bytecode_engine() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_som"))
        .args([
            "--engine",
            "ast",
            "--dispatch",
            "table",
            "examples/Hello.som",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("som runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--dispatch") && stderr.contains("--engine bc"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// `--fixed-clock`: `system ticks` counts reads, one microsecond each, so a program's output
/// cannot depend on timing.
#[test]
fn fixed_clock_advances_one_microsecond_per_read() {
    let dir = std::env::temp_dir().join(format!("somlab-clock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("Clock.som");
    std::fs::write(
        &file,
        "Clock = ( run = ( | a b | a := system ticks. b := system ticks. a println. b println ) )\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_som"))
        .arg("--fixed-clock")
        .arg(&file)
        .output()
        .expect("som runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n1\n");
}
