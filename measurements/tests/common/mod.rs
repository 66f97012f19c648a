//! What the measurement tests share: where the `som` binary is.

#![allow(dead_code)]

use std::path::PathBuf;

/// The runner binary under test.
pub fn runner() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_measurements"))
}

/// The `som` binary next to the runner (`cargo test --workspace` builds it); a clear failure
/// when it is missing.
pub fn som() -> PathBuf {
    let som = runner().parent().unwrap().join("som");
    assert!(
        som.is_file(),
        "no som binary at {}: build it first with `cargo build -p som` (or run \
         `cargo test --workspace`, which builds it)",
        som.display()
    );
    som
}
