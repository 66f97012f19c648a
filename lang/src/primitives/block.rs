//! Primitives of the Block classes: evaluation with 0, 1 or 2 arguments.

use crate::runtime::dispatch;
use crate::runtime::engine::{Engine, Result};
use crate::runtime::value::Value;

use super::block_receiver;

/// Re-pushes the block and its arguments and runs it (the caller's copies may move).
fn evaluate(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    block_receiver(e, "Block>>value", a[0])?;
    e.universe().stack.extend_from_slice(a);
    dispatch::call_block(e, a.len() - 1)
}

pub fn value(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    evaluate(e, a)
}
pub fn value_1(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    evaluate(e, a)
}
pub fn value_2(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    evaluate(e, a)
}

pub fn restart(e: &mut dyn Engine, _a: &[Value]) -> Result<Value> {
    Err(e.universe().error(
        "Block>>restart is not supported: loops are written with whileTrue: and friends".into(),
    ))
}
