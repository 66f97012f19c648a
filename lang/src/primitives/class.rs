//! Primitives of Class: name, instantiation, superclass, fields and methods.

use crate::runtime::class::Class;
use crate::runtime::engine::{Engine, Result};
use crate::runtime::value::Value;

fn receiver(a: &[Value]) -> &'static Class {
    Class::from_value(a[0])
}

pub fn name(_e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    Ok(receiver(a).name)
}

/// Instances of classes whose objects have a special representation (numbers, strings,
/// arrays, blocks, methods, classes) cannot be made with `new`.
pub fn new(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let class = receiver(a);
    let u = e.universe();
    let core = &u.core;
    let special = [
        core.integer,
        core.double,
        core.string,
        core.array,
        core.block,
        core.method,
        core.primitive,
        core.class,
    ];
    if let Some(s) = special.iter().find(|s| class.is_subclass_of(s)) {
        let msg = format!(
            "cannot create an instance of {} with new ({} objects are made by the runtime)",
            class.name_str(),
            s.name_str()
        );
        return Err(u.error(msg));
    }
    u.new_instance(class)
}

pub fn superclass(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let nil = e.universe().nil;
    Ok(receiver(a)
        .superclass
        .get()
        .map(|c| c.as_value())
        .unwrap_or(nil))
}

pub fn fields(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let names = receiver(a).instance_fields.borrow().clone();
    e.universe().new_array_from(&names)
}

pub fn methods(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let ms: Vec<Value> = receiver(a).methods().iter().map(|m| m.as_value()).collect();
    e.universe().new_array_from(&ms)
}
