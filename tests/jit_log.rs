//! `som --jit-log`: the optimized IR and the machine code of a small loop, pinned as
//! snapshots (addresses, which change from run to run, normalized to `<addr>`). A change of
//! the recorder, the passes or the backend shows here; review it with `cargo insta review`.

mod common;

use common::som;

/// `text` with every hexadecimal number of 5 digits or more (an address) replaced.
fn without_addresses(text: &str) -> String {
    let mut out = String::new();
    for token in text.split_inclusive(|c: char| !c.is_ascii_alphanumeric()) {
        let word = token.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        let rest = &token[word.len()..];
        let hex = word
            .strip_prefix("0x")
            .map(|h| (h, ""))
            .or_else(|| word.strip_suffix('h').map(|h| (h, "")));
        match hex {
            Some((digits, _))
                if digits.len() >= 5 && digits.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                out.push_str("<addr>");
            }
            _ => out.push_str(word),
        }
        out.push_str(rest);
    }
    out
}

/// The optimized IR and the machine code of the trace of `loop_name` (as `--jit-log` names
/// it) in the log of `program`, run with `--jit-threshold threshold`; checks its output.
fn trace_of(program: &str, threshold: &str, loop_name: &str, stdout: &str) -> (String, String) {
    let name = std::path::Path::new(program)
        .file_stem()
        .unwrap()
        .to_string_lossy();
    let log = std::env::temp_dir().join(format!("somlab-{name}-{}.txt", std::process::id()));
    let log_arg = log.to_string_lossy().into_owned();
    let run = som(&["--jit-threshold", threshold, "--jit-log", &log_arg, program]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, stdout),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(&log).expect("the log was written");
    let _ = std::fs::remove_file(&log);
    let header = format!(": {loop_name}\n");
    let trace = text
        .split("=== trace ")
        .find(|t| t.contains(&header))
        .unwrap_or_else(|| panic!("no trace of {loop_name} in:\n{text}"));
    let optimized = trace
        .split("--- optimized\n")
        .nth(1)
        .and_then(|t| t.split("--- machine code").next())
        .expect("an optimized trace");
    let code = trace
        .split("--- machine code")
        .nth(1)
        .expect("machine code");
    (without_addresses(optimized), without_addresses(code))
}

#[test]
fn a_sum_loop_s_trace_is_pinned() {
    let (ir, code) = trace_of(
        "tests/jit/SumLoop.som",
        "100",
        "SumLoop>>run at 4",
        "499500\n",
    );
    insta::assert_snapshot!("sum_loop_optimized_ir", ir);
    insta::assert_snapshot!("sum_loop_machine_code", code);
}

#[test]
fn an_array_loop_s_trace_is_pinned() {
    let (ir, code) = trace_of(
        "tests/jit/ArraySumLoop.som",
        "10",
        "ArraySumLoop>>run at 30",
        "5050\n",
    );
    insta::assert_snapshot!("array_sum_loop_optimized_ir", ir);
    insta::assert_snapshot!("array_sum_loop_machine_code", code);
}

#[test]
fn a_double_loop_s_trace_is_pinned() {
    let (ir, code) = trace_of(
        "tests/jit/DoubleLoop.som",
        "10",
        "DoubleLoop>>run at 9",
        "2.0\n",
    );
    insta::assert_snapshot!("double_loop_optimized_ir", ir);
    insta::assert_snapshot!("double_loop_machine_code", code);
}

/// The loop body (from `loop` to `jump`) of the first optimized trace in `engine`'s
/// `--jit-log` of `program`, value numbers renamed in order of appearance.
fn loop_body(engine: &str, program: &str) -> String {
    let log = std::env::temp_dir().join(format!(
        "somlab-jit-log-{engine}-{}.txt",
        std::process::id()
    ));
    let log_arg = log.to_string_lossy().into_owned();
    let run = som(&["--engine", engine, "--jit", "--jit-log", &log_arg, program]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&log).expect("the log was written");
    let _ = std::fs::remove_file(&log);
    let optimized = text
        .split("--- optimized\n")
        .nth(1)
        .expect("an optimized trace");
    let body = optimized
        .split("\nloop\n")
        .nth(1)
        .and_then(|t| t.split("\njump\n").next())
        .expect("a loop");
    // Value numbers differ with what comes before the loop: number them afresh, and drop
    // snapshot numbers (engine positions differ).
    let mut names = std::collections::HashMap::new();
    let mut renamed = Vec::new();
    for word in body.split_whitespace() {
        let word = match word.strip_prefix('%') {
            Some(n) => {
                let next = names.len();
                format!("v{}", names.entry(n.to_string()).or_insert(next))
            }
            None if word.starts_with('@') => "@".to_string(),
            None => word.to_string(),
        };
        renamed.push(word);
    }
    renamed.join(" ")
}

#[test]
fn both_engines_compile_the_sum_loop_to_the_same_loop_body() {
    let ast = loop_body("ast", "tests/jit/SumLoop.som");
    let bc = loop_body("bc", "tests/jit/SumLoop.som");
    assert_eq!(ast, bc);
    // And it is the loop it should be: two integer guards, the test, two additions.
    assert_eq!(ast.matches("guard_int").count(), 2, "{ast}");
    assert_eq!(ast.matches("add_ov").count(), 2, "{ast}");
}

#[test]
fn addresses_are_normalized() {
    assert_eq!(
        without_addresses("@0: 0x7f13c004fc20 [6] %0\nmov rax,7F13C004FC20h\nmov ecx,3\n"),
        "@0: <addr> [6] %0\nmov rax,<addr>\nmov ecx,3\n"
    );
}

#[test]
fn both_engines_log_where_a_recording_stopped() {
    for engine in ["bc", "ast"] {
        let log = std::env::temp_dir().join(format!(
            "somlab-jit-log-aborts-{engine}-{}.txt",
            std::process::id()
        ));
        let log_arg = log.to_string_lossy().into_owned();
        let program = "tests/jit/Unsupported.som";
        let args = [
            "--engine",
            engine,
            "--jit-threshold",
            "2",
            "--jit-log",
            &log_arg,
            program,
        ];
        let run = som(&args);
        assert_eq!(
            (run.status, run.stdout.as_str()),
            (0, "100\n"),
            "{}",
            run.stderr
        );
        let text = std::fs::read_to_string(&log).expect("the log was written");
        let _ = std::fs::remove_file(&log);
        // The loop's recordings stop at `system fullGC`, line 8 of Unsupported>>run.
        let stopped = text
            .lines()
            .filter(|l| l.starts_with("--- not compiled: unsupported: primitive System>>fullGC"))
            .filter(|l| l.contains("Unsupported>>run") && l.contains("(line 8)"))
            .count();
        assert_eq!(stopped, 5, "{engine}:\n{text}");
    }
}
