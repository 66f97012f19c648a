//! Starting a program: `system initialize: #('Class' args…)`, the entry point SOM.md fixes.
//! Shared by both engines. Must never: print or exit (the command line decides that).

use crate::runtime::dispatch::{self, AsDynEngine};
use crate::runtime::engine::{Engine, Result};
use crate::runtime::value::Value;

/// Loads the core classes, then sends `initialize:` to `system` with the program's arguments
/// (the class name first).
pub fn run<E: Engine + AsDynEngine>(engine: &mut E, args: &[String]) -> Result<Value> {
    let u = engine.universe();
    u.load_bootstrap_classes()?;
    let mut strings = Vec::with_capacity(args.len());
    for a in args {
        strings.push(u.new_string(a)?);
    }
    let array = u.new_array_from(&strings)?;
    let system = u.system;
    let selector = u.symbols.initialize;
    u.stack.push(system);
    u.stack.push(array);
    dispatch::send(engine, selector, 1)
}
