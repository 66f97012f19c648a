//! `measurements`: somlab's experiment runners and the derivation of their results.
//!
//! Owns: running the Are We Fast Yet suite on the `som` binary as child processes
//! ([`awfy`]), the raw data those runs produce (CSV, one row per measured iteration —
//! [`record`]), and everything derived from raw data ([`summary`]). Contract 6 of DESIGN.md:
//! raw data is written first and is the source of truth; a summary is always re-derivable from
//! the CSV alone. [`counters`]: one API over perf-event hardware and software counters and
//! callgrind's exact instruction counts, with detection of what this machine offers.
//! [`static_dispatch`]: normalized disassembly of one function of a binary (dispatch code).
//! Must never: link an engine or `lang` — the runner measures the `som` binary
//! exactly as a user runs it; report a failed process as a time.

pub mod awfy;
pub mod counters;
pub mod dispatch;
pub mod harness;
pub mod machine;
pub mod micro;
pub mod process;
pub mod record;
pub mod static_dispatch;
pub mod suite;
pub mod summary;
