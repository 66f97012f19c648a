//! Running the `som` binary from integration tests, in every engine and GC configuration.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The engine and GC configurations every program must behave identically in: each
/// interpreter alone (`--no-jit`), and with the JIT compiling after one iteration.
pub const CONFIGURATIONS: &[&[&str]] = &[
    &["--engine", "ast", "--no-jit"],
    &["--engine", "ast", "--no-jit", "--gc-stress"],
    &["--engine", "bc", "--no-jit"],
    &["--engine", "bc", "--no-jit", "--gc-stress"],
    &["--engine", "bc", "--no-jit", "--dispatch", "table"],
    &["--engine", "bc", "--jit", "--jit-threshold", "1"],
    &[
        "--engine",
        "bc",
        "--jit",
        "--jit-threshold",
        "1",
        "--jit-stress-guards",
    ],
    &[
        "--engine",
        "bc",
        "--jit",
        "--jit-threshold",
        "1",
        "--gc-stress",
    ],
    &["--engine", "ast", "--jit", "--jit-threshold", "1"],
    &[
        "--engine",
        "ast",
        "--jit",
        "--jit-threshold",
        "1",
        "--jit-stress-guards",
    ],
    &[
        "--engine",
        "ast",
        "--jit",
        "--jit-threshold",
        "1",
        "--gc-stress",
    ],
];

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `som` with `args` from the repository root.
pub fn som(args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_som"))
        .args(args)
        .current_dir(repo())
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the som binary runs");
    let run = Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "som {args:?} panicked:\n{}",
        run.stderr
    );
    run
}

/// Runs `som` in one configuration on `program` with `program_args`.
pub fn som_in(config: &[&str], program: &Path, program_args: &[&str]) -> Run {
    let program = program.to_string_lossy().into_owned();
    let mut args: Vec<&str> = config.to_vec();
    args.push(&program);
    args.extend_from_slice(program_args);
    som(&args)
}
