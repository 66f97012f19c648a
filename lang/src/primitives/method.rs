//! Primitives of Method and Primitive: reflection and invocation.

use crate::gc::Kind;
use crate::runtime::dispatch;
use crate::runtime::engine::{Engine, Result};
use crate::runtime::object;
use crate::runtime::value::Value;

use super::{method_receiver, wrong_argument};

pub fn signature(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    Ok(method_receiver(e, "Method>>signature", a[0])?.signature)
}

pub fn holder(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let m = method_receiver(e, "Method>>holder", a[0])?;
    let nil = e.universe().nil;
    Ok(m.holder.get().map(|c| c.as_value()).unwrap_or(nil))
}

/// `aMethod invokeOn: receiver with: argumentsArray`.
pub fn invoke_on_with(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let m = method_receiver(e, "Method>>invokeOn:with:", a[0])?;
    let args = a[2];
    if !(args.is_ref() && object::kind(args) == Kind::Array) {
        return Err(wrong_argument(
            e,
            "Method>>invokeOn:with:",
            "an Array of arguments",
            args,
        ));
    }
    let args = object::values(args).to_vec();
    if args.len() != m.params {
        return Err(e.universe().error(format!(
            "Method>>invokeOn:with: {} takes {} argument(s) but was given {}",
            m.display_name(),
            m.params,
            args.len()
        )));
    }
    let u = e.universe();
    if let Some(holder) = m.holder.get() {
        let class = u.class_of(a[1]);
        if !class.is_subclass_of(holder) {
            let msg = format!(
                "Method>>invokeOn:with: {} cannot run on an instance of {}",
                m.display_name(),
                class.name_str()
            );
            return Err(u.error(msg));
        }
    }
    u.stack.push(a[1]);
    u.stack.extend_from_slice(&args);
    dispatch::invoke(e, m, args.len())
}
