//! `lang`: everything both SOM engines share — the front end, the runtime (values, objects,
//! classes, the universe, class loading, message sending), the garbage collector, the
//! primitives, the embedded core library, and the runtime side of the tracing JIT (`tracing`).
//!
//! Must never: depend on an engine. Engines implement `runtime::engine::Engine`.

pub mod compile;
pub mod core_lib;
pub mod gc;
pub mod primitives;
pub mod runtime;
pub mod syntax;
pub mod tracing;
