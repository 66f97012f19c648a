//! The tracing JIT both engines feed: a typed SSA trace IR (`ir`), its text form (`text`:
//! printer and parser, so that passes are tested as IR in, IR out), and the optimizer passes
//! (`opt`), each in its own module; the `recorder` that engines and the runtime write traces
//! with; the `backend` that turns an optimized trace into x86-64 code (dynasmrt) and runs it.
//!
//! Owns: everything about traces once recorded — what an operation means, how a trace is
//! written down, and how it is rewritten. Must never: know which engine recorded a trace (a
//! resume position is an opaque engine-defined value), or touch a SOM heap object itself —
//! the recorder in `lang` and the backend are the only places that meet real objects.

pub mod backend;
pub mod ir;
pub mod opt;
pub mod recorder;
pub mod text;
