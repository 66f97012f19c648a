//! End to end: the real runner binary on the real `som` binary, into a temporary directory.
//!
//! `som` is looked for next to the runner (`target/debug/som` under `cargo test`, as the
//! runner itself does by default). `cargo test --workspace` builds it; `cargo test -p
//! measurements` alone does not — then this test fails and says how to build it.

mod common;

use common::{runner, som};

use std::process::Command;

use measurements::record;

#[test]
fn quick_run_writes_csv_with_times_and_a_summary() {
    let som = som();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("results").join("smoke.csv");
    let out = Command::new(runner())
        .args([
            "awfy",
            "--quick",
            "--benchmarks",
            "Sieve,Towers",
            "--engines",
            "ast",
        ])
        .arg("--som")
        .arg(&som)
        .arg("--out")
        .arg(&csv)
        .arg("--no-progress")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "runner failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let rows = record::read(&csv).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, name) in rows.iter().zip(["Sieve", "Towers"]) {
        assert_eq!(row.benchmark, name);
        assert_eq!(row.engine, "ast");
        assert_eq!(row.configuration, "default");
        assert_eq!(row.inner, 1);
        assert_eq!((row.invocation, row.iteration), (1, Some(1)));
        assert!(row.microseconds.is_some(), "{row:?}");
        assert!(row.process_wall_ms.unwrap() > 0.0);
        assert!(row.peak_rss_kb.unwrap() > 0);
        assert_eq!(row.exit_status, "0");
    }
    let header = std::fs::read_to_string(&csv).unwrap();
    assert!(header.starts_with(
        "engine,configuration,benchmark,inner,invocation,iteration,microseconds,\
         process_wall_ms,peak_rss_kb,exit_status\n"
    ));

    let summary = std::fs::read_to_string(dir.path().join("results/smoke-summary.md")).unwrap();
    assert!(summary.contains("| Sieve | 1 |"), "{summary}");
    assert!(summary.contains("2 processes, 0 failed."), "{summary}");
    assert_eq!(stdout.trim(), summary.trim());
    assert!(dir.path().join("results/smoke-meta.txt").is_file());

    // `summarize` re-derives the same summary from the CSV alone.
    let again = Command::new(runner())
        .arg("summarize")
        .arg(&csv)
        .arg("--out")
        .arg(dir.path().join("again.md"))
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("again.md")).unwrap(),
        summary
    );
}

#[test]
fn a_failing_benchmark_is_recorded_without_time_and_fails_the_run() {
    let som = som();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fail.csv");
    // Mandelbrot has no known result for 3 inner iterations: the harness exits 1.
    let out = Command::new(runner())
        .args([
            "awfy",
            "--quick",
            "--benchmarks",
            "Mandelbrot",
            "--engines",
            "bc",
        ])
        .args(["--inner", "Mandelbrot=3", "--no-progress"])
        .arg("--som")
        .arg(&som)
        .arg("--out")
        .arg(&csv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let rows = record::read(&csv).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].microseconds, None);
    assert_eq!(rows[0].exit_status, "1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAILED (1 of 1)"), "{stdout}");
    assert!(dir.path().join("fail-failures.log").is_file());
}

#[test]
fn a_missing_som_is_reported_with_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(runner())
        .args(["awfy", "--quick", "--som"])
        .arg(dir.path().join("no-som"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cargo build --release"), "{stderr}");
}
