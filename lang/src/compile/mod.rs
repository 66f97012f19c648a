//! From parse tree to resolved code (`hir`), shared by both engines.
//!
//! Owns: name resolution, the decision which sends with literal blocks are inlined, the
//! placement of variables (frame slot or captured context), literal construction.
//! Must never: produce engine-specific code.

pub mod hir;
mod lower;

pub use lower::{lower_method, ClassScope, LineIndex};
