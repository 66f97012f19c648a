//! Checked programs (`tests/programs/NAME.som` + `NAME.expected`): complete stdout (or required
//! substrings), required stderr substrings and exit status, in every configuration — and the
//! same stdout, stderr and status in all of them. The format is in `tests/programs/README.md`.

mod common;

use std::path::{Path, PathBuf};

use common::{repo, som_in, Run, CONFIGURATIONS};

/// Programs too slow for every configuration of the test run: they run once, in release, as
/// the GC's memory-bound checks (see the README).
const LONG_RUNNING: &[&str] = &["Allocation", "LargeHeap"];

#[derive(Debug, Default)]
struct Expected {
    exit: i32,
    args: Vec<String>,
    stdout: Option<String>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
}

fn parse_expected(path: &Path) -> Expected {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut e = Expected::default();
    let mut section: Option<&str> = None;
    let mut stdout = String::new();
    let mut saw_exit = false;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("--- ") {
            section = Some(match name.trim() {
                "stdout" => "stdout",
                "stdout-contains" => "stdout-contains",
                "stderr-contains" => "stderr-contains",
                other => panic!("{}: unknown section {other}", path.display()),
            });
            continue;
        }
        match section {
            None => {
                if let Some(v) = line.strip_prefix("exit:") {
                    e.exit = v.trim().parse().expect("exit status");
                    saw_exit = true;
                } else if let Some(v) = line.strip_prefix("args:") {
                    e.args = v.split_whitespace().map(String::from).collect();
                }
            }
            Some("stdout") => {
                stdout.push_str(line);
                stdout.push('\n');
            }
            Some("stdout-contains") if !line.is_empty() => e.stdout_contains.push(line.to_string()),
            Some("stderr-contains") if !line.is_empty() => e.stderr_contains.push(line.to_string()),
            _ => {}
        }
    }
    assert!(saw_exit, "{}: no exit: line", path.display());
    if text.contains("--- stdout\n") {
        e.stdout = Some(stdout);
    }
    e
}

fn programs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/programs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "som"))
        .collect();
    v.sort();
    v
}

fn check(name: &str, config: &[&str], run: &Run, e: &Expected) -> Vec<String> {
    let mut problems = Vec::new();
    if run.status != e.exit {
        problems.push(format!("exit status {} (expected {})", run.status, e.exit));
    }
    if let Some(out) = &e.stdout {
        if &run.stdout != out {
            problems.push(format!("stdout:\n{}--- expected:\n{}", run.stdout, out));
        }
    }
    for s in &e.stdout_contains {
        if !run.stdout.contains(s.as_str()) {
            problems.push(format!("stdout lacks {s:?}:\n{}", run.stdout));
        }
    }
    for s in &e.stderr_contains {
        if !run.stderr.contains(s.as_str()) {
            problems.push(format!("stderr lacks {s:?}:\n{}", run.stderr));
        }
    }
    problems
        .into_iter()
        .map(|p| format!("{name} {config:?}: {p}"))
        .collect()
}

#[test]
fn checked_programs_behave_as_expected_in_every_configuration() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for program in programs() {
        let name = program.file_stem().unwrap().to_string_lossy().into_owned();
        if LONG_RUNNING.contains(&name.as_str()) {
            continue;
        }
        let e = parse_expected(&program.with_extension("expected"));
        let args: Vec<&str> = e.args.iter().map(String::as_str).collect();
        let relative = program.strip_prefix(repo()).unwrap().to_path_buf();
        let mut first: Option<Run> = None;
        for config in CONFIGURATIONS {
            let run = som_in(config, &relative, &args);
            problems.extend(check(&name, config, &run, &e));
            if let Some(f) = &first {
                if (f.status, &f.stdout, &f.stderr) != (run.status, &run.stdout, &run.stderr) {
                    problems.push(format!(
                        "{name}: {config:?} differs from {:?}",
                        CONFIGURATIONS[0]
                    ));
                }
            } else {
                first = Some(run);
            }
        }
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} programs found");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn examples_run() {
    let hello = common::som(&["examples/Hello.som"]);
    assert_eq!(
        (hello.status, hello.stdout.as_str()),
        (0, "Hello, World!\n")
    );
    let shapes = common::som(&["examples/Shapes/Shapes.som"]);
    let expected = std::fs::read_to_string(repo().join("examples/Shapes/expected.txt")).unwrap();
    assert_eq!((shapes.status, shapes.stdout), (0, expected));
}
