//! The collector's behaviour seen from a running program, through `--gc-stats` (counts, not
//! times: collections and space sizes are deterministic for a given program).

mod common;

use common::som;

fn stat(stderr: &str, label: &str) -> f64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{stderr}"));
    let value = line[label.len()..].split_whitespace().next().unwrap();
    value.parse().unwrap()
}

#[test]
fn short_lived_allocation_collects_in_the_nursery_and_stays_small() {
    // 2·10⁷ short-lived arrays (~600 MiB allocated in all), none of them kept.
    let run = som(&["--gc-stats", "tests/gc/ShortLived.som"]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "20000000\n"),
        "{}",
        run.stderr
    );
    let allocated = stat(&run.stderr, "gc: allocated");
    let minors = stat(&run.stderr, "gc: minor collections");
    assert!(allocated > 500.0, "allocated only {allocated} MiB");
    assert!(
        minors >= 60.0,
        "only {minors} minor collections for {allocated} MiB"
    );
    let old_peak: f64 = run
        .stderr
        .lines()
        .find(|l| l.starts_with("gc: old space now / peak"))
        .and_then(|l| l.split('/').nth(2))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("old space peak");
    assert!(
        old_peak < 4.0,
        "short-lived objects were promoted: old space peaked at {old_peak} MiB"
    );
    assert!(
        stat(&run.stderr, "gc: nursery peak") <= 8.5,
        "{}",
        run.stderr
    );
}

#[test]
fn full_gc_answers_true_and_keeps_live_data() {
    let run = som(&["tests/gc/FullGc.som"]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "true\n500500\n"),
        "{}",
        run.stderr
    );
}
