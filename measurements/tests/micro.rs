//! The interpreter microbenchmarks run and verify their result on both engines, at a small k
//! and with the debug `som` next to the runner (`cargo test --workspace` builds it).

mod common;

use common::som;

use std::path::{Path, PathBuf};
use std::process::Command;

use measurements::micro;

fn micro_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/micro")
}

#[test]
fn every_microbenchmark_verifies_on_both_engines() {
    let som = som();
    let dir = micro_dir();
    let operations = micro::operations(&dir).unwrap();
    assert!(operations.len() >= 15, "{operations:?}");
    for (operation, _) in &operations {
        for engine in ["ast", "bc"] {
            for k in [10, 20] {
                let out = micro::som_command(&som, &dir, engine, operation, k, 3)
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success()
                        && stdout.trim() == format!("{operation} k={k} iterations=3: ok"),
                    "{operation} on {engine} at k={k}: {}\n{stdout}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

#[test]
fn an_unknown_k_is_refused() {
    let out = micro::som_command(&som(), &micro_dir(), "bc", "LocalRead", 30, 1)
        .output()
        .unwrap();
    // The program's own `system exit: 2`.
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no body for K=30"));
}

#[test]
fn micro_refuses_an_unknown_operation() {
    let out = Command::new(env!("CARGO_BIN_EXE_measurements"))
        .args(["micro", "--operations", "NoSuchThing", "--som"])
        .arg(som())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown operation `NoSuchThing`"));
}

#[test]
fn dispatch_refuses_an_unknown_operation_before_building_anything() {
    let out = Command::new(env!("CARGO_BIN_EXE_measurements"))
        .args(["dispatch", "--operations", "NoSuchThing", "--som"])
        .arg(som())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown operation `NoSuchThing`"),
        "{stderr}"
    );
    assert!(!stderr.contains("building the counting som"), "{stderr}");
}
