//! Primitives of Integer: arbitrary precision with transparent promotion and demotion.
//! Small operands take the 63-bit fast path; overflow and big operands go through num-bigint;
//! a Double argument makes the result a Double. Division decisions (SOM.md): `/` floors,
//! `%` takes the divisor's sign, `rem:` the dividend's, `//` answers a Double.

use num_bigint::BigInt;
use num_integer::Integer as _;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::runtime::engine::{Engine, Result};
use crate::runtime::value::Value;

use super::{text_arg, wrong_argument};

/// A numeric operand.
pub(crate) enum Num {
    Int(BigInt),
    Double(f64),
}

pub(crate) fn num_arg(e: &mut dyn Engine, what: &str, v: Value) -> Result<Num> {
    let u = e.universe();
    if let Some(i) = u.as_bigint(v) {
        return Ok(Num::Int(i));
    }
    if let Some(d) = u.as_double(v) {
        return Ok(Num::Double(d));
    }
    Err(wrong_argument(e, what, "a number", v))
}

fn int_receiver(e: &mut dyn Engine, what: &str, v: Value) -> Result<BigInt> {
    match e.universe().as_bigint(v) {
        Some(i) => Ok(i),
        None => Err(wrong_argument(e, what, "an Integer receiver", v)),
    }
}

pub(crate) fn to_f64(i: &BigInt) -> f64 {
    i.to_f64().unwrap_or(f64::NAN)
}

fn int_result(e: &mut dyn Engine, i: BigInt) -> Result<Value> {
    e.universe().integer(&i)
}

fn double_result(e: &mut dyn Engine, d: f64) -> Result<Value> {
    Ok(e.universe().double(d))
}

/// Applies an arithmetic operation with the small-integer fast path first.
fn arith(
    e: &mut dyn Engine,
    a: &[Value],
    what: &str,
    small: fn(i64, i64) -> Option<i64>,
    big: fn(&BigInt, &BigInt) -> BigInt,
    double: fn(f64, f64) -> f64,
) -> Result<Value> {
    if let (Some(x), Some(y)) = (a[0].as_small_int(), a[1].as_small_int()) {
        if let Some(r) = small(x, y).and_then(Value::try_small_int) {
            return Ok(r);
        }
    }
    let x = int_receiver(e, what, a[0])?;
    match num_arg(e, what, a[1])? {
        Num::Int(y) => int_result(e, big(&x, &y)),
        Num::Double(y) => double_result(e, double(to_f64(&x), y)),
    }
}

pub fn add(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    arith(
        e,
        a,
        "Integer>>+",
        i64::checked_add,
        |x, y| x + y,
        |x, y| x + y,
    )
}

pub fn subtract(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    arith(
        e,
        a,
        "Integer>>-",
        i64::checked_sub,
        |x, y| x - y,
        |x, y| x - y,
    )
}

pub fn multiply(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    arith(
        e,
        a,
        "Integer>>*",
        i64::checked_mul,
        |x, y| x * y,
        |x, y| x * y,
    )
}

fn division_by_zero(e: &mut dyn Engine, op: &str) -> crate::runtime::engine::Unwind {
    e.universe()
        .error(format!("Integer>>{op}: division by zero"))
}

/// Integer division with the given rounding; a Double argument divides as doubles.
fn divide_with(
    e: &mut dyn Engine,
    a: &[Value],
    op: &str,
    int_op: fn(&BigInt, &BigInt) -> BigInt,
    double_op: fn(f64, f64) -> f64,
) -> Result<Value> {
    let what = format!("Integer>>{op}");
    let x = int_receiver(e, &what, a[0])?;
    match num_arg(e, &what, a[1])? {
        Num::Int(y) if y.is_zero() => Err(division_by_zero(e, op)),
        Num::Int(y) => int_result(e, int_op(&x, &y)),
        Num::Double(y) => double_result(e, double_op(to_f64(&x), y)),
    }
}

pub fn divide(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    if let (Some(x), Some(y)) = (a[0].as_small_int(), a[1].as_small_int()) {
        // SMALL_INT_MIN / -1 is not small: it takes the big path below.
        if y != 0 {
            if let Some(q) = Value::try_small_int(num_integer::Integer::div_floor(&x, &y)) {
                return Ok(q);
            }
        }
    }
    divide_with(e, a, "/", |x, y| x.div_floor(y), |x, y| x / y)
}

pub fn modulo(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    if let (Some(x), Some(y)) = (a[0].as_small_int(), a[1].as_small_int()) {
        if y != 0 {
            return Ok(Value::small_int(num_integer::Integer::mod_floor(&x, &y)));
        }
    }
    divide_with(e, a, "%", |x, y| x.mod_floor(y), |x, y| x % y)
}

pub fn remainder(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    if let (Some(x), Some(y)) = (a[0].as_small_int(), a[1].as_small_int()) {
        if y != 0 {
            return Ok(Value::small_int(x % y));
        }
    }
    divide_with(e, a, "rem:", |x, y| x % y, |x, y| x % y)
}

pub fn divide_to_double(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = int_receiver(e, "Integer>>//", a[0])?;
    let y = match num_arg(e, "Integer>>//", a[1])? {
        Num::Int(y) => to_f64(&y),
        Num::Double(y) => y,
    };
    double_result(e, to_f64(&x) / y)
}

fn int_args(e: &mut dyn Engine, a: &[Value], what: &str) -> Result<(BigInt, BigInt)> {
    let x = int_receiver(e, what, a[0])?;
    let y = e.universe().as_bigint(a[1]);
    match y {
        Some(y) => Ok((x, y)),
        None => Err(wrong_argument(e, what, "an Integer", a[1])),
    }
}

pub fn bit_and(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    if let (Some(x), Some(y)) = (a[0].as_small_int(), a[1].as_small_int()) {
        return Ok(Value::small_int(x & y));
    }
    let (x, y) = int_args(e, a, "Integer>>&")?;
    int_result(e, x & y)
}

pub fn bit_xor(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    if let (Some(x), Some(y)) = (a[0].as_small_int(), a[1].as_small_int()) {
        return Ok(Value::small_int(x ^ y));
    }
    let (x, y) = int_args(e, a, "Integer>>bitXor:")?;
    int_result(e, x ^ y)
}

/// The longest left shift: its result grows with the shift (2^24 bits is 2 MiB).
const MAX_SHIFT: i64 = 1 << 24;

/// `x` shifted left by `by` bits, or right for a negative `by` (rounding toward negative
/// infinity). A right shift of any size is fine — beyond the number's width it gives 0 or
/// -1 — but a left shift beyond `MAX_SHIFT` of a non-zero number is an error.
fn shift(e: &mut dyn Engine, what: &str, x: BigInt, by: &BigInt) -> Result<Value> {
    if by.is_negative() {
        let width = x.bits() + 1;
        let s = (-by).to_u64().map_or(width, |s| s.min(width));
        return int_result(e, x >> s as usize);
    }
    match by.to_i64() {
        Some(s) if s <= MAX_SHIFT => int_result(e, x << s as usize),
        _ if x.is_zero() => int_result(e, x),
        _ => Err(e
            .universe()
            .error(format!("{what}: shift by {by} is out of range"))),
    }
}

pub fn shift_left(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let (x, y) = int_args(e, a, "Integer>><<")?;
    shift(e, "Integer>><<", x, &y)
}

/// Shift right, rounding toward negative infinity.
pub fn shift_right(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    if let (Some(x), Some(s)) = (a[0].as_small_int(), a[1].as_small_int()) {
        if (0..64).contains(&s) {
            return Ok(Value::small_int(x >> s));
        }
    }
    let (x, y) = int_args(e, a, "Integer>>>>>")?;
    shift(e, "Integer>>>>>", x, &-y)
}

/// An Integer for exact squares, a Double otherwise.
pub fn sqrt(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = int_receiver(e, "Integer>>sqrt", a[0])?;
    if x.is_negative() {
        return double_result(e, f64::NAN);
    }
    let r = x.sqrt();
    if &r * &r == x {
        int_result(e, r)
    } else {
        double_result(e, to_f64(&x).sqrt())
    }
}

/// A pseudo-random integer from 1 to the receiver (deterministic across runs).
pub fn at_random(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = int_receiver(e, "Integer>>atRandom", a[0])?;
    let Some(n) = a[0].as_small_int().filter(|n| *n > 0) else {
        return Err(e.universe().error(format!(
            "Integer>>atRandom: receiver must be a positive small integer, not {x}"
        )));
    };
    let r = e.universe().next_random();
    Ok(Value::small_int((r % n as u64) as i64 + 1))
}

pub fn equal(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    if let (Some(x), Some(y)) = (a[0].as_small_int(), a[1].as_small_int()) {
        return Ok(e.universe().boolean(x == y));
    }
    let u = e.universe();
    let result = match (u.as_bigint(a[0]), u.as_bigint(a[1]), u.as_double(a[1])) {
        (Some(x), Some(y), _) => x == y,
        (Some(x), None, Some(d)) => to_f64(&x) == d,
        _ => false,
    };
    Ok(u.boolean(result))
}

pub fn less(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    if let (Some(x), Some(y)) = (a[0].as_small_int(), a[1].as_small_int()) {
        return Ok(e.universe().boolean(x < y));
    }
    let x = int_receiver(e, "Integer>><", a[0])?;
    let r = match num_arg(e, "Integer>><", a[1])? {
        Num::Int(y) => x < y,
        Num::Double(y) => to_f64(&x) < y,
    };
    Ok(e.universe().boolean(r))
}

pub fn as_string(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = int_receiver(e, "Integer>>asString", a[0])?;
    e.universe().new_string(&x.to_string())
}

fn low_32_bits(x: &BigInt) -> u32 {
    // Two's complement low word, also for negative numbers.
    let m: BigInt = x.mod_floor(&(BigInt::one() << 32));
    m.to_u32().unwrap_or(0)
}

pub fn as_32bit_signed(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = int_receiver(e, "Integer>>as32BitSignedValue", a[0])?;
    Ok(Value::small_int(low_32_bits(&x) as i32 as i64))
}

pub fn as_32bit_unsigned(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = int_receiver(e, "Integer>>as32BitUnsignedValue", a[0])?;
    Ok(Value::small_int(low_32_bits(&x) as i64))
}

pub fn as_double(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let x = int_receiver(e, "Integer>>asDouble", a[0])?;
    double_result(e, to_f64(&x))
}

/// `Integer fromString: '123'`; nil when the text is not an integer.
pub fn from_string(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let s = text_arg(e, "Integer class>>fromString:", a[1])?;
    match crate::syntax::number::parse_integer(s.trim()) {
        Some(i) => int_result(e, i),
        None => Ok(e.universe().nil),
    }
}
