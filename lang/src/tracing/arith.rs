//! Recorded arithmetic and comparisons of two numbers, the way both engines run them without a
//! send: small integers, or immediate doubles, while the core library's definitions are the
//! primitives (the engine says so per site with `int_fast` and `double_fast`).
//!
//! Owns: which of those cases a recording turns into IR, and when it records the send
//! instead (an overflow into a big integer, or a double that needs a box: the send calls
//! the primitive, which is what the fast path means). Must never: record a case the
//! interpreter would not run the same way.

use jit::ir::{Op, SnapshotId};

use super::recording::{Compare, Recording, Shadow};
use crate::runtime::value::Value;

/// A binary operation with a fast path in both engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Subtract,
    Multiply,
    Compare(Compare),
}

/// What the recording made of a binary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded: the two operands on the shadow were replaced by the result.
    Done,
    /// The interpreter sends the message (or the send calls the primitive): the engine
    /// records the send (the operands are still on the shadow).
    Send,
}

/// An arithmetic operation's IR on small integers and on doubles, and what it computes.
type ArithmeticOps = (Op, Op, fn(f64, f64) -> f64);

impl Binary {
    fn ops(self) -> Option<ArithmeticOps> {
        Some(match self {
            Binary::Add => (Op::AddOv, Op::AddDouble, |x, y| x + y),
            Binary::Subtract => (Op::SubOv, Op::SubDouble, |x, y| x - y),
            Binary::Multiply => (Op::MulOv, Op::MulDouble, |x, y| x * y),
            Binary::Compare(_) => return None,
        })
    }
}

/// Records `binary` on `left` and `right` (concrete, and the top two positions of the
/// shadow), about to run at a site with the fast paths `int_fast` and `double_fast`;
/// `snapshot` makes the snapshot that resumes at the operation, operands in place.
pub fn record_binary(
    rec: &mut Recording,
    binary: Binary,
    (left, right): (Value, Value),
    (int_fast, double_fast): (bool, bool),
    snapshot: impl FnOnce(&mut Recording) -> SnapshotId,
) -> Outcome {
    let doubles = left.is_immediate_double() && right.is_immediate_double();
    let ints = left.as_small_int().zip(right.as_small_int());
    match (binary.ops(), binary) {
        (Some((op, double_op, f)), _) => {
            if let (Some((x, y)), true) = (ints, int_fast) {
                if !Recording::small_int_result(op, x, y) {
                    // A big integer: recorded as the send (a call of the primitive).
                    return Outcome::Send;
                }
                let snapshot = snapshot(rec);
                return replace_operands(rec, |rec, l, r| rec.int_arithmetic(op, l, r, snapshot));
            }
            if double_fast && doubles {
                let (x, y) = (
                    left.immediate_double_unchecked(),
                    right.immediate_double_unchecked(),
                );
                if Value::try_immediate_double(f(x, y)).is_none() {
                    return Outcome::Send; // a boxed double: as a big integer
                }
                let snapshot = snapshot(rec);
                return replace_operands(rec, |rec, l, r| {
                    rec.double_arithmetic(double_op, (l, r), (left, right), snapshot)
                });
            }
            Outcome::Send
        }
        (None, Binary::Compare(compare)) => {
            if let (Some((x, y)), true) = (ints, int_fast) {
                let snapshot = snapshot(rec);
                let holds = compare.holds(x, y);
                return replace_operands(rec, |rec, l, r| {
                    rec.int_compare(compare, l, r, holds, snapshot)
                });
            }
            if double_fast && doubles {
                let (x, y) = (
                    left.immediate_double_unchecked(),
                    right.immediate_double_unchecked(),
                );
                let snapshot = snapshot(rec);
                let holds = compare.holds(x, y);
                return replace_operands(rec, |rec, l, r| {
                    rec.double_compare(compare, (l, r), (left, right), holds, snapshot)
                });
            }
            Outcome::Send
        }
        (None, _) => unreachable!("only comparisons have no arithmetic ops"),
    }
}

/// Replaces the two operands on top of the shadow by what `record` makes of them.
fn replace_operands(
    rec: &mut Recording,
    record: impl FnOnce(&mut Recording, Shadow, Shadow) -> Shadow,
) -> Outcome {
    let r = rec.pop();
    let l = rec.pop();
    let s = record(rec, l, r);
    rec.push(s);
    Outcome::Done
}
