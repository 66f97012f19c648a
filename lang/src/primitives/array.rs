//! Primitives of Array: fixed-size, 1-based, bounds-checked.

use crate::runtime::engine::{Engine, Result};
use crate::runtime::object;
use crate::runtime::value::Value;

use super::{array_receiver, index_arg, wrong_argument};

/// The 0-based element index for a 1-based SOM index, or an out-of-bounds error.
#[inline]
fn element(e: &mut dyn Engine, what: &str, array: Value, index: Value) -> Result<usize> {
    let array = array_receiver(e, what, array)?;
    let len = object::value_count(array);
    match index.as_small_int() {
        Some(i) if i >= 1 && i as usize <= len => Ok(i as usize - 1),
        Some(i) => Err(e.universe().error(format!(
            "{what} index {i} is out of bounds for an Array of length {len}"
        ))),
        None => match e.universe().as_bigint(index) {
            Some(big) => Err(e.universe().error(format!(
                "{what} index {big} is out of bounds for an Array of length {len}"
            ))),
            None => Err(wrong_argument(e, what, "an Integer index", index)),
        },
    }
}

pub fn at(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let i = element(e, "Array>>at:", a[0], a[1])?;
    Ok(object::value_at(a[0], i))
}

pub fn at_put(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let i = element(e, "Array>>at:put:", a[0], a[1])?;
    e.universe().store(a[0], i, a[2]);
    Ok(a[2])
}

pub fn length(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let array = array_receiver(e, "Array>>length", a[0])?;
    Ok(Value::small_int(object::value_count(array) as i64))
}

pub fn new(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let n = index_arg(e, "Array class>>new:", a[1])?;
    if n < 0 {
        return Err(e
            .universe()
            .error(format!("Array class>>new: length {n} is negative")));
    }
    e.universe().new_array(n as usize)
}
