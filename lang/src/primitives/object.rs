//! Primitives of Object: identity, class, hashing, reflection on fields, `perform:`.

use crate::gc::Kind;
use crate::runtime::class::Class;
use crate::runtime::dispatch;
use crate::runtime::engine::{Engine, Result};
use crate::runtime::object;
use crate::runtime::value::Value;

use super::{index_arg, text_arg, wrong_argument};

pub fn class(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    Ok(e.universe().class_of(a[0]).as_value())
}

pub fn object_size(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let _ = e;
    let bytes = if a[0].is_ref() {
        object::header(a[0]).size_words().max(2) * 8
    } else {
        8
    };
    Ok(Value::small_int(bytes as i64))
}

pub fn identical(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    Ok(e.universe().boolean(a[0] == a[1]))
}

/// Identity hash: the integer itself, the bits of a double, and for heap objects a number
/// kept in the header (addresses change when objects move).
pub fn hashcode(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let u = e.universe();
    let v = a[0];
    if let Some(i) = v.as_small_int() {
        return Ok(Value::small_int(i));
    }
    if let Some(d) = u.as_double(v) {
        let bits = d.to_bits();
        return Ok(Value::small_int(
            ((bits ^ (bits >> 32)) & 0x3fff_ffff) as i64,
        ));
    }
    Ok(Value::small_int(u.identity_hash(v) as i64))
}

pub fn inspect(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let u = e.universe();
    let class = u.class_of(a[0]);
    let mut s = format!("an instance of {}", class.name_str());
    if a[0].is_ref() && object::kind(a[0]) == Kind::Instance {
        let names: Vec<String> = class
            .instance_fields
            .borrow()
            .iter()
            .map(|f| object::str(*f).to_string())
            .collect();
        for (i, n) in names.iter().enumerate() {
            let v = object::value_at(a[0], i);
            s.push_str(&format!("\n  {n}: {}", u.class_of(v).name_str()));
        }
    }
    s.push('\n');
    u.print(&s);
    Ok(a[0])
}

pub fn halt(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let u = e.universe();
    u.flush();
    super::to_stderr(&format!(
        "halt: {} (execution continues)\n",
        u.class_of(a[0]).name_str()
    ));
    Ok(a[0])
}

fn selector_arg(e: &mut dyn Engine, v: Value) -> Result<Value> {
    if v.is_ref() && object::kind(v) == Kind::Symbol {
        Ok(v)
    } else {
        Err(wrong_argument(e, "perform:", "a Symbol", v))
    }
}

/// Pushes the receiver and the elements of `args_array` and sends `selector`.
fn perform_with(
    e: &mut dyn Engine,
    receiver: Value,
    selector: Value,
    args_array: Option<Value>,
    class: Option<&'static Class>,
) -> Result<Value> {
    let selector = selector_arg(e, selector)?;
    let args: Vec<Value> = match args_array {
        Some(arr) if arr.is_ref() && object::kind(arr) == Kind::Array => {
            object::values(arr).to_vec()
        }
        Some(other) => {
            return Err(wrong_argument(
                e,
                "perform:withArguments:",
                "an Array",
                other,
            ))
        }
        None => Vec::new(),
    };
    let expected = object::str(selector).chars().filter(|c| *c == ':').count();
    let expected =
        if expected == 0 && !object::str(selector).starts_with(|c: char| c.is_alphabetic()) {
            1
        } else {
            expected
        };
    if expected != args.len() {
        return Err(e.universe().error(format!(
            "perform: {} expects {} argument(s) but was given {}",
            object::str(selector),
            expected,
            args.len()
        )));
    }
    let u = e.universe();
    if let Some(c) = class {
        let rc = u.class_of(receiver);
        if !rc.is_subclass_of(c) {
            let msg = format!(
                "perform:inSuperclass: {} is not a superclass of {}",
                c.name_str(),
                rc.name_str()
            );
            return Err(u.error(msg));
        }
    }
    u.stack.push(receiver);
    u.stack.extend_from_slice(&args);
    match class {
        Some(c) => dispatch::send_to_class(e, c, selector, args.len()),
        None => dispatch::send(e, selector, args.len()),
    }
}

fn class_arg(e: &mut dyn Engine, v: Value) -> Result<&'static Class> {
    Class::try_from_value(v).ok_or_else(|| wrong_argument(e, "perform:inSuperclass:", "a Class", v))
}

pub fn perform(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    perform_with(e, a[0], a[1], None, None)
}

pub fn perform_with_arguments(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    perform_with(e, a[0], a[1], Some(a[2]), None)
}

pub fn perform_in_superclass(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let c = class_arg(e, a[2])?;
    perform_with(e, a[0], a[1], None, Some(c))
}

pub fn perform_with_arguments_in_superclass(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let c = class_arg(e, a[3])?;
    perform_with(e, a[0], a[1], Some(a[2]), Some(c))
}

/// The field values of an ordinary object or of a class object (its class-side fields).
fn field_index(e: &mut dyn Engine, what: &str, receiver: Value, index: Value) -> Result<usize> {
    let i = index_arg(e, what, index)?;
    let count = field_count(e, receiver);
    if i < 1 || i as usize > count {
        let class = e.universe().class_of(receiver).name_str();
        return Err(e.universe().error(format!(
            "{what}: index {i} out of bounds: {class} has {count} field(s)"
        )));
    }
    Ok(i as usize - 1)
}

fn field_count(e: &mut dyn Engine, receiver: Value) -> usize {
    if !receiver.is_ref() {
        return 0;
    }
    match object::kind(receiver) {
        Kind::Instance => object::value_count(receiver),
        Kind::Class => Class::from_value(receiver).class_side_values.borrow().len(),
        _ => {
            let _ = e;
            0
        }
    }
}

pub fn inst_var_at(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let i = field_index(e, "instVarAt:", a[0], a[1])?;
    Ok(read_field(a[0], i))
}

pub(crate) fn read_field(receiver: Value, i: usize) -> Value {
    match object::kind(receiver) {
        Kind::Class => Class::from_value(receiver).class_side_values.borrow()[i],
        _ => object::value_at(receiver, i),
    }
}

pub fn inst_var_at_put(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let i = field_index(e, "instVarAt:put:", a[0], a[1])?;
    match object::kind(a[0]) {
        Kind::Class => Class::from_value(a[0]).class_side_values.borrow_mut()[i] = a[2],
        _ => e.universe().store(a[0], i, a[2]),
    }
    Ok(a[2])
}

pub fn inst_var_named(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let name = text_arg(e, "instVarNamed:", a[1])?;
    let u = e.universe();
    let class = u.class_of(a[0]);
    let fields = class.instance_fields.borrow().clone();
    match fields.iter().position(|f| object::str(*f) == name) {
        Some(i) if field_count(e, a[0]) > i => Ok(read_field(a[0], i)),
        _ => {
            let cname = e.universe().class_of(a[0]).name_str();
            Err(e
                .universe()
                .error(format!("instVarNamed: {cname} has no field named {name}")))
        }
    }
}
