//! The one-word tagged value that every engine, primitive and the GC pass around.
//!
//! Owns: the bit encoding of small integers, immediate doubles and heap references.
//! Must never: know object layouts (that is `object`) or allocate (that is `gc`).
//!
//! Encoding (low bits of the 64-bit word):
//! - `…1`   small integer, 63 bits, two's complement, value = word >> 1 (arithmetic).
//! - `…10`  immediate double: the IEEE bits rotated left by one (sign to bit 0) with the
//!   exponent re-biased so that exponents of magnitude up to about 2^±255 fit in the
//!   remaining 62 bits. Zeros fit too. Everything else (inf, NaN, huge, tiny) is boxed.
//! - `…000` a pointer to an 8-byte aligned heap object header (never 0).

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Value(u64);

/// The exponent offset of immediate doubles: exponents `OFFSET+1 ..= OFFSET+511` fit.
const DOUBLE_EXP_OFFSET: u64 = 767;
const DOUBLE_TAG: u64 = 0b10;

pub const SMALL_INT_MIN: i64 = i64::MIN >> 1;
pub const SMALL_INT_MAX: i64 = i64::MAX >> 1;

impl Value {
    /// A word that is no value: empty slots before initialisation, never seen by SOM code.
    pub const EMPTY: Value = Value(0);

    #[inline(always)]
    pub fn raw(self) -> u64 {
        self.0
    }
    #[inline(always)]
    pub fn from_raw(raw: u64) -> Value {
        Value(raw)
    }

    // ---- small integers -------------------------------------------------------------------

    #[inline(always)]
    pub fn is_small_int(self) -> bool {
        self.0 & 1 == 1
    }
    /// A small integer if `i` fits in 63 bits.
    #[inline(always)]
    pub fn try_small_int(i: i64) -> Option<Value> {
        if (SMALL_INT_MIN..=SMALL_INT_MAX).contains(&i) {
            Some(Value(((i as u64) << 1) | 1))
        } else {
            None
        }
    }
    /// `i` must fit in 63 bits (callers with arbitrary integers use `Universe::integer`).
    #[inline(always)]
    pub fn small_int(i: i64) -> Value {
        debug_assert!((SMALL_INT_MIN..=SMALL_INT_MAX).contains(&i));
        Value(((i as u64) << 1) | 1)
    }
    #[inline(always)]
    pub fn as_small_int(self) -> Option<i64> {
        if self.is_small_int() {
            Some(self.small_int_unchecked())
        } else {
            None
        }
    }
    #[inline(always)]
    pub fn small_int_unchecked(self) -> i64 {
        (self.0 as i64) >> 1
    }

    /// Adds two small integers on their tagged words; `None` on 63-bit overflow.
    #[inline(always)]
    pub fn small_add(self, other: Value) -> Option<Value> {
        (self.0 as i64 - 1)
            .checked_add(other.0 as i64)
            .map(|w| Value(w as u64))
    }
    #[inline(always)]
    pub fn small_sub(self, other: Value) -> Option<Value> {
        (self.0 as i64)
            .checked_sub(other.0 as i64 - 1)
            .map(|w| Value(w as u64))
    }

    // ---- immediate doubles ----------------------------------------------------------------

    #[inline(always)]
    pub fn is_immediate_double(self) -> bool {
        self.0 & 0b11 == DOUBLE_TAG
    }
    /// The immediate encoding of `d`, if its exponent is in range (or it is a zero).
    #[inline(always)]
    pub fn try_immediate_double(d: f64) -> Option<Value> {
        let rotated = d.to_bits().rotate_left(1);
        if rotated <= 1 {
            return Some(Value((rotated << 2) | DOUBLE_TAG));
        }
        let exp = rotated >> 53;
        if exp > DOUBLE_EXP_OFFSET && exp <= DOUBLE_EXP_OFFSET + 511 {
            Some(Value(
                ((rotated - (DOUBLE_EXP_OFFSET << 53)) << 2) | DOUBLE_TAG,
            ))
        } else {
            None
        }
    }
    #[inline(always)]
    pub fn immediate_double_unchecked(self) -> f64 {
        let shifted = self.0 >> 2;
        let rotated = if shifted <= 1 {
            shifted
        } else {
            shifted + (DOUBLE_EXP_OFFSET << 53)
        };
        f64::from_bits(rotated.rotate_right(1))
    }

    // ---- heap references ------------------------------------------------------------------

    #[inline(always)]
    pub fn is_ref(self) -> bool {
        self.0 & 0b111 == 0 && self.0 != 0
    }
    #[inline(always)]
    pub fn from_ptr<T>(p: *const T) -> Value {
        debug_assert!(p as u64 & 0b111 == 0 && !p.is_null());
        Value(p as u64)
    }
    #[inline(always)]
    pub fn as_ptr<T>(self) -> *mut T {
        self.0 as *mut T
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.as_small_int() {
            write!(f, "Int({i})")
        } else if self.is_immediate_double() {
            write!(f, "Double({})", self.immediate_double_unchecked())
        } else {
            write!(f, "Ref({:#x})", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ints_round_trip_and_detect_overflow() {
        for i in [0, 1, -1, 42, SMALL_INT_MAX, SMALL_INT_MIN] {
            assert_eq!(Value::small_int(i).as_small_int(), Some(i));
        }
        assert!(Value::try_small_int(SMALL_INT_MAX + 1).is_none());
        let max = Value::small_int(SMALL_INT_MAX);
        assert!(max.small_add(Value::small_int(1)).is_none());
        assert_eq!(
            Value::small_int(-5).small_add(Value::small_int(7)),
            Some(Value::small_int(2))
        );
        assert_eq!(
            Value::small_int(-5).small_sub(Value::small_int(7)),
            Some(Value::small_int(-12))
        );
        assert!(Value::small_int(SMALL_INT_MIN)
            .small_sub(Value::small_int(1))
            .is_none());
    }

    #[test]
    fn common_doubles_are_immediate_and_exact() {
        for d in [
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            2.718281828459045e-3,
            1e-70,
            1e70,
            -2.5e-10,
            1.152921504606847e18,
        ] {
            let v = Value::try_immediate_double(d).expect("immediate");
            assert!(v.is_immediate_double() && !v.is_small_int() && !v.is_ref());
            assert_eq!(v.immediate_double_unchecked().to_bits(), d.to_bits());
        }
    }

    #[test]
    fn extreme_doubles_are_not_immediate() {
        for d in [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e300,
            1e-300,
            f64::MIN_POSITIVE,
        ] {
            assert!(Value::try_immediate_double(d).is_none(), "{d}");
        }
    }
}
