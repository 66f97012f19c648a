//! Primitives of Double: IEEE-754 binary64 arithmetic (division by zero gives infinity or
//! NaN), and printing as the shortest text that reads back to the same value.

use num_bigint::BigInt;
use num_traits::FromPrimitive;

use crate::runtime::engine::{Engine, Result};
use crate::runtime::value::Value;

use super::integer::{num_arg, to_f64, Num};
use super::{text_arg, wrong_argument};

fn receiver(e: &mut dyn Engine, what: &str, v: Value) -> Result<f64> {
    match e.universe().as_double(v) {
        Some(d) => Ok(d),
        None => Err(wrong_argument(e, what, "a Double receiver", v)),
    }
}

fn operands(e: &mut dyn Engine, a: &[Value], what: &str) -> Result<(f64, f64)> {
    if a[0].is_immediate_double() && a[1].is_immediate_double() {
        return Ok((
            a[0].immediate_double_unchecked(),
            a[1].immediate_double_unchecked(),
        ));
    }
    let x = receiver(e, what, a[0])?;
    let y = match num_arg(e, what, a[1])? {
        Num::Int(i) => to_f64(&i),
        Num::Double(d) => d,
    };
    Ok((x, y))
}

fn arith(e: &mut dyn Engine, a: &[Value], what: &str, op: fn(f64, f64) -> f64) -> Result<Value> {
    let (x, y) = operands(e, a, what)?;
    Ok(e.universe().double(op(x, y)))
}

pub fn add(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    arith(e, a, "Double>>+", |x, y| x + y)
}
pub fn subtract(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    arith(e, a, "Double>>-", |x, y| x - y)
}
pub fn multiply(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    arith(e, a, "Double>>*", |x, y| x * y)
}
pub fn divide(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    arith(e, a, "Double>>//", |x, y| x / y)
}
/// fmod: the result has the sign of the dividend.
pub fn modulo(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    arith(e, a, "Double>>%", |x, y| x % y)
}

fn unary(e: &mut dyn Engine, a: &[Value], what: &str, op: fn(f64) -> f64) -> Result<Value> {
    let x = receiver(e, what, a[0])?;
    Ok(e.universe().double(op(x)))
}

pub fn sqrt(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    unary(e, a, "Double>>sqrt", f64::sqrt)
}
pub fn cos(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    unary(e, a, "Double>>cos", f64::cos)
}
pub fn sin(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    unary(e, a, "Double>>sin", f64::sin)
}

fn to_integer(e: &mut dyn Engine, what: &str, d: f64) -> Result<Value> {
    match BigInt::from_f64(d) {
        Some(i) if d.is_finite() => e.universe().integer(&i),
        _ => Err(e
            .universe()
            .error(format!("{what}: {} has no integer value", format_double(d)))),
    }
}

/// Rounds half away from zero.
pub fn round(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = receiver(e, "Double>>round", a[0])?;
    to_integer(e, "Double>>round", x.round())
}

/// Truncates toward zero.
pub fn as_integer(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = receiver(e, "Double>>asInteger", a[0])?;
    to_integer(e, "Double>>asInteger", x.trunc())
}

pub fn equal(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = receiver(e, "Double>>=", a[0])?;
    let u = e.universe();
    let y = match (u.as_double(a[1]), u.as_bigint(a[1])) {
        (Some(d), _) => Some(d),
        (None, Some(i)) => Some(to_f64(&i)),
        _ => None,
    };
    Ok(u.boolean(y == Some(x)))
}

pub fn less(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let (x, y) = operands(e, a, "Double>><")?;
    Ok(e.universe().boolean(x < y))
}

/// The shortest text that reads back to `d`, always with a fraction or exponent:
/// `1.0`, `0.5`, `1.152921504606847e18`, `1.0e-7`, `NaN`, `inf`, `-inf`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's Debug formatting is the shortest round-trip text, switching to exponent form
    // for very large and very small magnitudes.
    let s = format!("{d:?}");
    match s.find('e') {
        Some(i) if !s[..i].contains('.') => format!("{}.0{}", &s[..i], &s[i..]),
        _ => s,
    }
}

pub fn as_string(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = receiver(e, "Double>>asString", a[0])?;
    e.universe().new_string(&format_double(x))
}

pub fn positive_infinity(e: &mut dyn Engine, _a: &[Value]) -> Result<Value> {
    Ok(e.universe().double(f64::INFINITY))
}

/// `Double fromString: '2.5'`; nil when the text is not a number.
pub fn from_string(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let s = text_arg(e, "Double class>>fromString:", a[1])?;
    match s.trim().parse::<f64>() {
        Ok(d) => Ok(e.universe().double(d)),
        Err(_) => Ok(e.universe().nil),
    }
}

#[cfg(test)]
mod tests {
    use super::format_double;

    #[test]
    fn doubles_print_as_som_md_decides() {
        assert_eq!(format_double(1.0), "1.0");
        assert_eq!(format_double(0.5), "0.5");
        assert_eq!(format_double(1.152921504606847e18), "1.152921504606847e18");
        assert_eq!(format_double(1e18), "1.0e18");
        assert_eq!(format_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_double(-0.16907495402506745), "-0.16907495402506745");
        assert_eq!(format_double(f64::NAN), "NaN");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
    }
}
