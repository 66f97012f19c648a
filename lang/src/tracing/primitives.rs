//! What a recording makes of a send that reaches a primitive.
//!
//! Owns: the primitives a trace does itself (array elements and size, identity, the class of
//! a value, small-integer arithmetic and comparisons) and their guards, with the concrete
//! checks that make the recorded path the one the primitive is about to take; every other
//! primitive the table marks `InTrace::Call` becomes a call (`call_primitive`) that leaves
//! the trace at the send when the primitive fails. Must never: record as IR a primitive
//! whose outcome it has not checked on the concrete arguments — when the primitive would
//! fail (an index out of bounds, a wrong argument), the recording stops and the interpreter
//! reports the error.

use std::sync::OnceLock;

use jit::ir::{Op, SnapshotId};
use jit::recorder::Abort;

use super::recording::{Compare, Recording, Shadow};
use crate::gc::Kind;
use crate::primitives::{string, InTrace, IN_TRACE, PRIMITIVES};
use crate::runtime::class::Class;
use crate::runtime::object;
use crate::runtime::universe::Universe;
use crate::runtime::value::Value;

/// `Class>>selector` of every primitive, for abort reasons.
fn name(index: usize) -> &'static str {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        PRIMITIVES
            .iter()
            .map(|(class, selector, _)| {
                &*Box::leak(format!("primitive {class}>>{selector}").into_boxed_str())
            })
            .collect()
    })[index]
}

/// Records the primitive `index` on `args` (receiver first, concrete values) whose shadows
/// are the top `args.len()` positions; `snapshot` resumes at the send. The receiver's class
/// is already guarded. Answers the result's shadow (the caller replaces the receiver and
/// arguments by it), or `None` after stopping the recording.
pub fn record(
    rec: &mut Recording,
    u: &Universe,
    index: usize,
    args: &[Value],
    snapshot: SnapshotId,
) -> Option<Shadow> {
    let (class, selector, _) = PRIMITIVES[index];
    let n = args.len();
    let shadow = |rec: &mut Recording, k: usize| rec.peek(n - 1 - k);
    let result = match (class, selector) {
        ("Array", "at:") | ("Array", "at:put:") | ("Array", "length") => {
            let array = args[0];
            if !(array.is_ref() && object::kind(array) == Kind::Array) {
                return call(rec, index, args.len(), snapshot);
            }
            if selector != "length" {
                let size = object::value_count(array) as i64;
                if !args[1].as_small_int().is_some_and(|i| 1 <= i && i <= size) {
                    return call(rec, index, args.len(), snapshot);
                }
            }
            let a = shadow(rec, 0);
            let av = rec.value(a);
            rec.recorder
                .emit_exit(Op::GuardKind, &[av], Kind::Array as i64, snapshot);
            match selector {
                "at:" => {
                    let i = shadow(rec, 1);
                    rec.load_element(a, i, snapshot)
                }
                "at:put:" => {
                    let (i, v) = (shadow(rec, 1), shadow(rec, 2));
                    rec.store_element(a, i, v, snapshot);
                    v
                }
                _ => rec.array_size(a),
            }
        }
        ("Object", "==") => {
            let (l, r) = (shadow(rec, 0), shadow(rec, 1));
            rec.identical(l, r, args[0] == args[1], snapshot)
        }
        ("Object", "class") => rec.constant(u.class_of(args[0]).as_value()),
        // Called from the trace (the receiver's class, guarded, keeps it a String or Symbol).
        ("String", "hashcode") | ("String", "length") => {
            if crate::primitives::text_of(args[0]).is_none() {
                return call(rec, index, args.len(), snapshot);
            }
            let function = match selector {
                "hashcode" => string::hashcode_for_trace as *const () as usize,
                _ => string::length_for_trace as *const () as usize,
            };
            let receiver = shadow(rec, 0);
            let r = rec.value(receiver);
            Shadow::Value(rec.recorder.emit(Op::CallPure, &[r], function as i64))
        }
        ("Class", "new") => {
            let Some(class) = Class::try_from_value(args[0]) else {
                return call(rec, index, args.len(), snapshot);
            };
            if crate::primitives::class::made_by_the_runtime(u, class).is_some() {
                return call(rec, index, args.len(), snapshot);
            }
            // The class is the receiver itself: guarded by identity, since metaclasses may
            // be shared by a library's arrangement.
            let receiver = shadow(rec, 0);
            rec.guard_same(receiver, args[0], snapshot);
            let fields = class.instance_fields.borrow().len();
            rec.new_object(class, Kind::Instance, fields, snapshot)
        }
        ("Array class", "new:") => {
            // The primitive makes an Array whatever the receiver (the class guard on it
            // already fixed the method).
            let fits = args[1].as_small_int().is_some_and(|n| {
                n >= 0 && (n as usize + crate::gc::HEADER_WORDS) * 8 < crate::gc::LARGE_OBJECT_BYTES
            });
            if !fits {
                return call(rec, index, args.len(), snapshot);
            }
            let size = shadow(rec, 1);
            rec.new_array(u.core.array, size, snapshot)
        }
        ("Integer", "+") | ("Integer", "-") | ("Integer", "*") => {
            let op = match selector {
                "+" => Op::AddOv,
                "-" => Op::SubOv,
                _ => Op::MulOv,
            };
            let fits = match (args[0].as_small_int(), args[1].as_small_int()) {
                (Some(x), Some(y)) => Recording::small_int_result(op, x, y),
                _ => false,
            };
            if !fits {
                return call(rec, index, args.len(), snapshot);
            }
            let (l, r) = (shadow(rec, 0), shadow(rec, 1));
            rec.int_arithmetic(op, l, r, snapshot)
        }
        ("Integer", "/") | ("Integer", "%") | ("Integer", "rem:") => {
            let (Some(x), Some(y)) = (args[0].as_small_int(), args[1].as_small_int()) else {
                return call(rec, index, args.len(), snapshot);
            };
            let op = match selector {
                "/" => Op::DivInt,
                "%" => Op::ModInt,
                _ => Op::RemInt,
            };
            // The primitive's small-integer path: a non-zero divisor and a small quotient
            // (which the trace's own checks keep).
            if y == 0
                || (op == Op::DivInt
                    && Value::try_small_int(num_integer::Integer::div_floor(&x, &y)).is_none())
            {
                return call(rec, index, args.len(), snapshot);
            }
            let (l, r) = (shadow(rec, 0), shadow(rec, 1));
            rec.int_arithmetic(op, l, r, snapshot)
        }
        ("Integer", "<<") | ("Integer", ">>>") => {
            let (Some(x), Some(n)) = (args[0].as_small_int(), args[1].as_small_int()) else {
                return call(rec, index, args.len(), snapshot);
            };
            let (op, exact) = if selector == "<<" {
                let shifted = (0..=62)
                    .contains(&n)
                    .then(|| x.checked_mul(1 << n))
                    .flatten();
                (Op::ShlOv, shifted.and_then(Value::try_small_int).is_some())
            } else {
                (Op::SarInt, (0..64).contains(&n))
            };
            if !exact {
                return call(rec, index, args.len(), snapshot);
            }
            let (l, r) = (shadow(rec, 0), shadow(rec, 1));
            rec.int_arithmetic(op, l, r, snapshot)
        }
        ("Integer", "&") | ("Integer", "bitXor:") => {
            if !(args[0].is_small_int() && args[1].is_small_int()) {
                return call(rec, index, args.len(), snapshot);
            }
            let op = if selector == "&" {
                Op::AndInt
            } else {
                Op::XorInt
            };
            let (l, r) = (shadow(rec, 0), shadow(rec, 1));
            rec.int_arithmetic(op, l, r, snapshot)
        }
        ("Double", "+") | ("Double", "-") | ("Double", "*") | ("Double", "//") => {
            let (op, f): (Op, fn(f64, f64) -> f64) = match selector {
                "+" => (Op::AddDouble, |x, y| x + y),
                "-" => (Op::SubDouble, |x, y| x - y),
                "*" => (Op::MulDouble, |x, y| x * y),
                _ => (Op::DivDouble, |x, y| x / y),
            };
            let (Some(x), Some(y)) = (number(args[0]), number(args[1])) else {
                return call(rec, index, args.len(), snapshot);
            };
            if Value::try_immediate_double(f(x, y)).is_none() {
                return call(rec, index, args.len(), snapshot);
            }
            let operands = (shadow(rec, 0), shadow(rec, 1));
            rec.double_arithmetic(op, operands, (args[0], args[1]), snapshot)
        }
        ("Double", "<") => {
            let (Some(x), Some(y)) = (number(args[0]), number(args[1])) else {
                return call(rec, index, args.len(), snapshot);
            };
            let operands = (shadow(rec, 0), shadow(rec, 1));
            rec.double_compare(Compare::Less, operands, (args[0], args[1]), x < y, snapshot)
        }
        ("Double", "=") => {
            let (Some(x), Some(y)) = (number(args[0]), number(args[1])) else {
                return call(rec, index, args.len(), snapshot);
            };
            let operands = (shadow(rec, 0), shadow(rec, 1));
            rec.double_compare(
                Compare::Equal,
                operands,
                (args[0], args[1]),
                x == y,
                snapshot,
            )
        }
        ("Double", "asInteger") => {
            let Some(x) = number(args[0]) else {
                return call(rec, index, args.len(), snapshot);
            };
            let t = x.trunc();
            if !(t.is_finite() && t.abs() < 4.0e18) {
                return call(rec, index, args.len(), snapshot);
            }
            let s = shadow(rec, 0);
            let d = rec.to_double(s, args[0], snapshot)?;
            let i = rec.recorder.emit_exit(Op::DoubleToInt, &[d], 0, snapshot);
            Shadow::Value(rec.recorder.emit(Op::BoxInt, &[i], 0))
        }
        ("Double", "sqrt") => {
            let Some(x) = number(args[0]) else {
                return call(rec, index, args.len(), snapshot);
            };
            if Value::try_immediate_double(x.sqrt()).is_none() {
                return call(rec, index, args.len(), snapshot);
            }
            let s = shadow(rec, 0);
            rec.double_unary(Op::SqrtDouble, s, args[0], snapshot)
        }
        ("Integer", "<") | ("Integer", "=") => {
            let (Some(x), Some(y)) = (args[0].as_small_int(), args[1].as_small_int()) else {
                return call(rec, index, args.len(), snapshot);
            };
            let (compare, holds) = if selector == "<" {
                (Compare::Less, x < y)
            } else {
                (Compare::Equal, x == y)
            };
            let (l, r) = (shadow(rec, 0), shadow(rec, 1));
            rec.int_compare(compare, l, r, holds, snapshot)
        }
        _ => return call(rec, index, n, snapshot),
    };
    Some(result)
}

/// A primitive the trace does not do itself (or not on these arguments): called, if the
/// table allows it (it then fails only before any effect, and the trace leaves at the send
/// for the interpreter to send it again); else the recording stops.
fn call(rec: &mut Recording, index: usize, n: usize, snapshot: SnapshotId) -> Option<Shadow> {
    if IN_TRACE[index] != InTrace::Call || n > jit::backend::MAX_PRIMITIVE_ARGS {
        return stop(rec, index);
    }
    let mut values = Vec::with_capacity(n);
    for k in 0..n {
        let s = rec.peek(n - 1 - k);
        values.push(rec.value(s));
    }
    let result = rec
        .recorder
        .emit_exit(Op::CallPrimitive, &values, index as i64, snapshot);
    Some(Shadow::Value(result))
}

/// The double of a small integer or an immediate double (what a trace computes with).
fn number(v: Value) -> Option<f64> {
    if v.is_small_int() {
        Some(v.small_int_unchecked() as f64)
    } else if v.is_immediate_double() {
        Some(v.immediate_double_unchecked())
    } else {
        None
    }
}

fn stop(rec: &mut Recording, index: usize) -> Option<Shadow> {
    rec.abort(Abort::Unsupported(name(index)));
    None
}
