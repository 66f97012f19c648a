//! Primitives of String and Symbol: immutable Unicode text, lengths and indices counted in
//! characters (1-based).

use crate::gc::Kind;
use crate::runtime::engine::{Engine, Result};
use crate::runtime::object;
use crate::runtime::value::Value;

use super::{index_arg, text_arg, text_receiver};

pub fn concatenate(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let this = text_receiver(e, "String>>concatenate:", a[0])?;
    let other = text_arg(e, "String>>concatenate:", a[1])?;
    let mut s = String::with_capacity(this.len() + other.len());
    s.push_str(this);
    s.push_str(other);
    e.universe().new_string(&s)
}

pub fn as_symbol(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let text = text_receiver(e, "String>>asSymbol", a[0])?;
    Ok(e.universe().intern(text))
}

pub fn symbol_as_string(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let text = text_receiver(e, "Symbol>>asString", a[0])?;
    e.universe().new_string(text)
}

/// FNV-1a over the bytes, folded to a non-negative small integer: equal strings hash alike.
pub fn hashcode(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    Ok(text_hash(text_receiver(e, "String>>hashcode", a[0])?))
}

fn text_hash(text: &str) -> Value {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    Value::small_int((h & 0x3fff_ffff) as i64)
}

pub fn length(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    text_receiver(e, "String>>length", a[0])?;
    Ok(Value::small_int(object::char_count(a[0]) as i64))
}

/// `String>>hashcode` as compiled code calls it (`call_pure`): the receiver, a tagged String
/// or Symbol (the trace guards its class), to its tagged hash.
pub extern "C" fn hashcode_for_trace(receiver: u64) -> u64 {
    let text = super::text_of(Value::from_raw(receiver)).unwrap_or_default();
    text_hash(text).raw()
}

/// `String>>length` as compiled code calls it (as `hashcode_for_trace`).
pub extern "C" fn length_for_trace(receiver: u64) -> u64 {
    let v = Value::from_raw(receiver);
    let count = super::text_of(v).map_or(0, |_| object::char_count(v));
    Value::small_int(count as i64).raw()
}

fn all_chars(e: &mut dyn Engine, a: &[Value], what: &str, pred: fn(char) -> bool) -> Result<Value> {
    let s = text_receiver(e, what, a[0])?;
    Ok(e.universe().boolean(!s.is_empty() && s.chars().all(pred)))
}

pub fn is_white_space(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    all_chars(e, a, "String>>isWhiteSpace", char::is_whitespace)
}
pub fn is_letters(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    all_chars(e, a, "String>>isLetters", char::is_alphabetic)
}
pub fn is_digits(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    all_chars(e, a, "String>>isDigits", |c| c.is_ascii_digit())
}

/// Equal text; a String and a Symbol with the same characters are equal.
pub fn equal(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let this = text_receiver(e, "String>>=", a[0])?;
    let u = e.universe();
    if a[0] == a[1] {
        return Ok(u.true_);
    }
    let other = a[1];
    let same = other.is_ref()
        && matches!(object::kind(other), Kind::String | Kind::Symbol)
        && object::str(other) == this;
    Ok(u.boolean(same))
}

/// Characters `from` to `to`, 1-based and inclusive; `to = from - 1` gives ''.
pub fn substring(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let s = text_receiver(e, "String>>primSubstringFrom:to:", a[0])?;
    let from = index_arg(e, "String>>primSubstringFrom:to:", a[1])?;
    let to = index_arg(e, "String>>primSubstringFrom:to:", a[2])?;
    let len = object::char_count(a[0]) as i64;
    if from < 1 || to > len || to < from - 1 {
        return Err(e.universe().error(format!(
            "String>>primSubstringFrom:to: range {from} to {to} is out of bounds for a string of length {len}"
        )));
    }
    let sub: &str = if s.len() as i64 == len {
        &s[(from - 1) as usize..to as usize]
    } else {
        let start = s
            .char_indices()
            .nth((from - 1) as usize)
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        let end = s
            .char_indices()
            .nth(to as usize)
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        &s[start..end]
    };
    let sub = sub.to_string();
    e.universe().new_string(&sub)
}
