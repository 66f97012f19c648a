//! Decimal integers of any length, in time close to linear.
//!
//! Owns: the conversion of decimal digit strings to `BigInt` for integer literals and
//! `Integer class>>fromString:`. num-bigint converts digit by digit, which is quadratic: a
//! source file holding one literal of a few million digits would take minutes to load.
//! Splitting the digits in halves and combining with one multiplication by a power of ten
//! makes the cost that of a few big multiplications. Must never: accept what `str::parse`
//! for `BigInt` rejects, or the reverse.

use num_bigint::{BigInt, BigUint};
use num_traits::Pow;

/// Below this many digits num-bigint's own conversion is fast enough.
const DIRECT: usize = 1_000;

/// Parses an optionally signed (`+`/`-`) decimal integer whose digits may be separated by
/// underscores (not leading ones), exactly as `text.parse::<BigInt>()` does.
pub fn parse_integer(text: &str) -> Option<BigInt> {
    if text.len() <= DIRECT {
        return text.parse().ok();
    }
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest.starts_with('_') {
        return None;
    }
    let mut digits = Vec::with_capacity(rest.len());
    for b in rest.bytes() {
        match b {
            b'0'..=b'9' => digits.push(b),
            b'_' => {}
            _ => return None,
        }
    }
    if digits.is_empty() {
        return None;
    }
    let magnitude = BigInt::from(digits_value(&digits));
    Some(if negative { -magnitude } else { magnitude })
}

/// The value of ASCII decimal digits: the high half times 10^(digits in the low half) plus
/// the low half.
fn digits_value(digits: &[u8]) -> BigUint {
    if digits.len() <= DIRECT {
        return BigUint::parse_bytes(digits, 10).expect("ASCII digits");
    }
    let (high, low) = digits.split_at(digits.len() / 2);
    digits_value(high) * BigUint::from(10u32).pow(low.len()) + digits_value(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_num_bigint() {
        let long: String = (0..5000)
            .map(|i| char::from(b'0' + (i * 7 % 10) as u8))
            .collect();
        for text in [
            "0",
            "-17",
            "+42",
            "1_000",
            "_1",
            "",
            "-",
            "12a",
            long.as_str(),
            &format!("-{long}"),
            &format!("+{long}"),
            &format!("{long}_1"),
            &format!("_{long}"),
            &format!("{long}x"),
            &format!("000{long}"),
        ] {
            assert_eq!(
                parse_integer(text),
                text.parse::<BigInt>().ok(),
                "{text:.20}"
            );
        }
    }

    #[test]
    fn millions_of_digits_are_fast() {
        let text = "7".repeat(3_000_000);
        let started = std::time::Instant::now();
        let n = parse_integer(&text).unwrap();
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        // 77…7 (k digits) is 7 (10^k - 1) / 9.
        let ten_to_k = BigInt::from(10u32).pow(3_000_000u32);
        assert_eq!(n * 9u32 / 7u32 + 1u32, ten_to_k);
    }
}
