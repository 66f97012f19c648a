//! The dispatch code of each engine, pinned: the normalized dispatch sequence extracted from
//! the release `som` (the code users run) must match its snapshot, and the bytecode loop's
//! dispatch must stay within its budget — at most 6 instructions per bytecode, counting the
//! handler's jump back to the loop head, and no check of the opcode's range.
//!
//! A change of the instruction sequence fails here; review it with `cargo insta review`
//! (or `INSTA_UPDATE=always cargo test -p measurements --test dispatch_asm` and `git diff`).
//! The code depends on the compiler: a new Rust release may change a snapshot.
//!
//! The test builds the release binary first (`cargo build --release -p som`, a no-op when it
//! is up to date).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use measurements::dispatch::{self, has_opcode_range_check, StaticDispatch};

/// The release `som`, built once per test process.
fn release_som() -> &'static PathBuf {
    static SOM: OnceLock<PathBuf> = OnceLock::new();
    SOM.get_or_init(|| {
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("measurements sits in the workspace")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&workspace)
            .args(["build", "--release", "-p", "som"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --release -p som failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let som = target.join("x86_64-unknown-linux-gnu/release/som");
        assert!(som.is_file(), "no release som at {}", som.display());
        som
    })
}

fn extracted(name: &str) -> StaticDispatch {
    let config = dispatch::config(name).expect("a known configuration");
    dispatch::extract(release_som(), config).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn bytecode_match_dispatch_is_pinned_and_within_budget() {
    let d = extracted("bc");
    insta::assert_snapshot!("bc_match_dispatch", d.text());
    assert!(
        d.instructions_per_dispatch() <= 6,
        "the bytecode dispatch takes {} instructions (budget 6):\n{}",
        d.instructions_per_dispatch(),
        d.text()
    );
    assert!(
        !has_opcode_range_check(&d),
        "the bytecode dispatch checks the opcode's range:\n{}",
        d.text()
    );
    let last = d.text().lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("jmp ") && last.contains("table"), "{last}");
}

#[test]
fn bytecode_table_dispatch_is_pinned() {
    let d = extracted("bc-table");
    insta::assert_snapshot!("bc_table_dispatch", d.text());
    let last = d.text().lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("call "),
        "the table variant calls its handler: {last}"
    );
}

#[test]
fn ast_node_dispatch_is_pinned() {
    let d = extracted("ast");
    insta::assert_snapshot!("ast_node_dispatch", d.text());
    let last = d.text().lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("jmp "),
        "the node dispatch ends in a jump: {last}"
    );
}

/// The range-check detector itself: it must see a `cmp`/`ja` between the opcode load and
/// the jump (what a `match` with a default arm compiles to), and not see one in our loop.
#[test]
fn range_check_detector_sees_a_range_check() {
    let mut d = extracted("bc");
    assert!(!has_opcode_range_check(&d));
    // Re-point the sequence at the AST dispatch's instructions would not be a test of the
    // detector; instead insert a conditional branch of the same listing before the jump.
    let branch = d
        .listing
        .instructions
        .iter()
        .position(|i| i.instruction.flow_control() == iced_x86::FlowControl::ConditionalBranch)
        .expect("the loop has conditional branches");
    let jump = d.sequence.pop().expect("a sequence");
    d.sequence.push(branch);
    d.sequence.push(jump);
    assert!(has_opcode_range_check(&d));
}
