//! The shared runtime: values, object layouts, classes, methods, the universe, loading,
//! message sending and the engine interface. See each module's header for what it owns.

pub mod class;
pub mod control;
pub mod dispatch;
pub mod engine;
pub mod loader;
pub mod method;
pub mod object;
pub mod program;
pub mod stack;
pub mod universe;
pub mod value;
