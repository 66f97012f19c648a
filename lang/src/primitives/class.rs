//! Primitives of Class: name, instantiation, superclass, fields and methods.

use crate::runtime::class::Class;
use crate::runtime::engine::{Engine, Result};
use crate::runtime::universe::Universe;
use crate::runtime::value::Value;

use super::class_receiver;

pub fn name(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    Ok(class_receiver(e, "Class>>name", a[0])?.name)
}

/// Instances of classes whose objects have a special representation (numbers, strings,
/// arrays, blocks, methods, classes) cannot be made with `new`.
pub fn new(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let class = class_receiver(e, "Class>>new", a[0])?;
    let u = e.universe();
    if let Some(s) = made_by_the_runtime(u, class) {
        let msg = format!(
            "cannot create an instance of {} with new ({} objects are made by the runtime)",
            class.name_str(),
            s.name_str()
        );
        return Err(u.error(msg));
    }
    u.new_instance(class)
}

/// The core class whose objects the runtime makes (so `new` refuses), if `class` is one or
/// inherits from one.
pub(crate) fn made_by_the_runtime(u: &Universe, class: &'static Class) -> Option<&'static Class> {
    let core = &u.core;
    // Subclasses included; the ones that are subclasses of others in the core library are
    // listed too, for a library on the classpath that arranges them differently.
    let special = [
        core.integer,
        core.double,
        core.string,
        core.symbol,
        core.array,
        core.block,
        core.blocks[0],
        core.blocks[1],
        core.blocks[2],
        core.method,
        core.primitive,
        core.class,
        core.metaclass,
    ];
    special.into_iter().find(|s| class.is_subclass_of(s))
}

pub fn superclass(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let class = class_receiver(e, "Class>>superclass", a[0])?;
    let nil = e.universe().nil;
    Ok(class.superclass.get().map(|c| c.as_value()).unwrap_or(nil))
}

pub fn fields(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let names = class_receiver(e, "Class>>fields", a[0])?
        .instance_fields
        .borrow()
        .clone();
    e.universe().new_array_from(&names)
}

pub fn methods(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let class = class_receiver(e, "Class>>methods", a[0])?;
    let ms: Vec<Value> = class.methods().iter().map(|m| m.as_value()).collect();
    e.universe().new_array_from(&ms)
}
