//! The SOM-level test suite (`tests/som`, written in SOM) on every engine and GC mode.

mod common;

use common::{som, CONFIGURATIONS};

#[test]
fn som_suite_passes_in_every_configuration() {
    for config in CONFIGURATIONS {
        let mut args: Vec<&str> = config.to_vec();
        args.extend(["-cp", "tests/som", "tests/som/TestRunner.som"]);
        let run = som(&args);
        let summary = run.stdout.lines().last().unwrap_or_default().to_string();
        let failures: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect();
        assert!(
            run.status == 0 && summary.ends_with(" passed, 0 failed") && failures.is_empty(),
            "suite failed under {config:?} (status {}):\n{}\n{}\n{}",
            run.status,
            failures.join("\n"),
            summary,
            run.stderr
        );
        let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
        assert!(
            passed >= 250,
            "the suite ran only {passed} tests under {config:?}"
        );
    }
}

#[test]
fn runner_reports_failures_with_status_1() {
    let run = som(&[
        "-cp",
        "tests/som:tests/som_failing",
        "tests/som/TestRunner.som",
        "DeliberateFailure",
    ]);
    assert_eq!(run.status, 1, "stdout:\n{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("FAIL DeliberateFailure>>testFails")),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().last(), Some("1 passed, 1 failed"));
}
