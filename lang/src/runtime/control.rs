//! The errors of inlined control structures, worded once for every engine: when a
//! non-Boolean reaches an inlined `ifTrue:`/`whileTrue:`/`and:`…, a non-Integer reaches an
//! inlined `timesRepeat:`, or an inlined `to:by:do:` has a zero step.
//!
//! Must never: decide control flow itself (engines do); only make the errors.

use crate::runtime::engine::Unwind;
use crate::runtime::universe::Universe;
use crate::runtime::value::Value;

/// `selector` (as written) was inlined, and its receiver or condition `v` is not a Boolean.
pub fn not_boolean(u: &mut Universe, v: Value, selector: &str, line: u32) -> Unwind {
    u.set_line(line);
    let class = u.class_of(v).name_str();
    u.error(format!(
        "{selector} was sent to an instance of {class}, but its inlined form needs a Boolean"
    ))
}

pub fn times_repeat_not_integer(u: &mut Universe, v: Value, line: u32) -> Unwind {
    u.set_line(line);
    if let Some(big) = u.as_bigint(v) {
        return u.error(format!(
            "timesRepeat: {big} repetitions are more than an inlined loop can count"
        ));
    }
    let class = u.class_of(v).name_str();
    u.error(format!(
        "timesRepeat: needs an Integer receiver, not an instance of {class}"
    ))
}

pub fn zero_step(u: &mut Universe, line: u32) -> Unwind {
    u.set_line(line);
    u.error("to:by:do: with a step of 0 would never end".into())
}

/// The selector an inlined loop or conditional was written with, for error messages.
pub fn while_selector(while_true: bool) -> &'static str {
    if while_true {
        "whileTrue:"
    } else {
        "whileFalse:"
    }
}

pub fn and_or_selector(and: bool) -> &'static str {
    if and {
        "and:"
    } else {
        "or:"
    }
}

/// Whether an inlined `to:by:do:` over numbers other than small integers counts down, from
/// its step. A zero step (`0` or `0.0`) would never end: that is the zero-step error.
pub fn step_descends(u: &mut Universe, step: Value, line: u32) -> Result<bool, Unwind> {
    if let Some(s) = step.as_small_int() {
        return if s == 0 {
            Err(zero_step(u, line))
        } else {
            Ok(s < 0)
        };
    }
    if let Some(d) = u.as_double(step) {
        return if d == 0.0 {
            Err(zero_step(u, line))
        } else {
            Ok(d < 0.0)
        };
    }
    // Big integers are never zero; other objects decide through the `<=` they answer to.
    Ok(u.as_bigint(step)
        .is_some_and(|b| b.sign() == num_bigint::Sign::Minus))
}
