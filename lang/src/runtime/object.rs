//! Object layouts: how each kind of heap object lays out its payload, and typed access to it.
//!
//! Owns: the payload formats of instances, arrays, contexts, blocks, strings, symbols, big
//! integers and boxed doubles. Every raw pointer dereference of an object's payload is here.
//! Must never: allocate or decide when to collect (that is `gc`), or know what a class means.
//!
//! Payload formats (after the two-word header):
//! - Instance, Array, Context: values. A context's first value is its outer context (or nil).
//! - Block: `[method, outer context, receiver, home activation id]`.
//! - String/Symbol: `[byte length, char count, UTF-8 bytes padded to words]`.
//! - BigInt: `[sign (-1 or 1), limb count, little-endian u64 limbs]` (never zero, never small).
//! - Double: `[f64 bits]` (only doubles that are not immediate).

use crate::gc::{Header, Kind, HEADER_WORDS};
use crate::runtime::value::Value;

pub const BLOCK_METHOD: usize = 0;
pub const BLOCK_OUTER: usize = 1;
pub const BLOCK_RECEIVER: usize = 2;
pub const BLOCK_HOME: usize = 3;
pub const BLOCK_WORDS: usize = 4;

pub const CONTEXT_OUTER: usize = 0;

#[inline(always)]
pub fn header<'a>(v: Value) -> &'a Header {
    debug_assert!(v.is_ref());
    // SAFETY: `v` is a heap reference (checked by the caller); every heap object starts with a
    // header, and objects reachable from live values are live.
    unsafe { &*v.as_ptr::<Header>() }
}

#[inline(always)]
pub fn kind(v: Value) -> Kind {
    header(v).kind()
}

#[inline(always)]
fn payload_ptr(v: Value) -> *mut u64 {
    // SAFETY: the payload starts right after the two-word header of the object `v`.
    unsafe { v.as_ptr::<u64>().add(HEADER_WORDS) }
}

/// The values of an instance, array, context or block.
#[inline(always)]
pub fn values<'a>(v: Value) -> &'a mut [Value] {
    let h = header(v);
    debug_assert!(h.kind().payload_is_values());
    // SAFETY: for these kinds the whole payload is `size - HEADER_WORDS` initialised values.
    unsafe {
        std::slice::from_raw_parts_mut(payload_ptr(v) as *mut Value, h.size_words() - HEADER_WORDS)
    }
}

#[inline(always)]
pub fn value_at(v: Value, index: usize) -> Value {
    debug_assert!(index < header(v).size_words() - HEADER_WORDS);
    // SAFETY: index is within the value payload (callers check bounds or use fixed layouts).
    unsafe { *(payload_ptr(v).add(index) as *const Value) }
}

/// Stores without the write barrier: only for objects just allocated (no safepoint since).
#[inline(always)]
pub fn init_value_at(v: Value, index: usize, x: Value) {
    debug_assert!(index < header(v).size_words() - HEADER_WORDS);
    // SAFETY: index is within the value payload.
    unsafe { *(payload_ptr(v).add(index) as *mut Value) = x }
}

pub fn value_count(v: Value) -> usize {
    header(v).size_words() - HEADER_WORDS
}

// ---- strings and symbols ------------------------------------------------------------------

pub fn string_words(byte_len: usize) -> usize {
    HEADER_WORDS + 2 + byte_len.div_ceil(8)
}

/// Fills a fresh String/Symbol object of `string_words(s.len())` words.
pub fn init_string(v: Value, s: &str) {
    let p = payload_ptr(v);
    // SAFETY: the object was allocated with room for two words plus the padded bytes.
    unsafe {
        *p = s.len() as u64;
        *p.add(1) = s.chars().count() as u64;
        std::ptr::copy_nonoverlapping(s.as_ptr(), p.add(2) as *mut u8, s.len());
    }
}

pub fn str<'a>(v: Value) -> &'a str {
    debug_assert!(matches!(kind(v), Kind::String | Kind::Symbol));
    let p = payload_ptr(v);
    // SAFETY: String/Symbol payloads hold their byte length then valid UTF-8 written by
    // `init_string`; strings are immutable.
    unsafe {
        let len = *p as usize;
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(p.add(2) as *const u8, len))
    }
}

pub fn char_count(v: Value) -> usize {
    // SAFETY: String/Symbol payloads hold the character count in their second word.
    unsafe { *payload_ptr(v).add(1) as usize }
}

// ---- boxed doubles and big integers -------------------------------------------------------

pub fn init_boxed_double(v: Value, d: f64) {
    // SAFETY: a Double object has one payload word.
    unsafe { *payload_ptr(v) = d.to_bits() }
}

pub fn boxed_double(v: Value) -> f64 {
    // SAFETY: a Double object has one payload word holding the bits.
    unsafe { f64::from_bits(*payload_ptr(v)) }
}

pub fn bigint_words(limbs: usize) -> usize {
    HEADER_WORDS + 2 + limbs
}

pub fn init_bigint(v: Value, negative: bool, limbs: &[u64]) {
    let p = payload_ptr(v);
    // SAFETY: the object was allocated with `bigint_words(limbs.len())` words.
    unsafe {
        *p = if negative { u64::MAX } else { 1 };
        *p.add(1) = limbs.len() as u64;
        std::ptr::copy_nonoverlapping(limbs.as_ptr(), p.add(2), limbs.len());
    }
}

/// (negative, limbs) of a big integer object.
pub fn bigint_parts<'a>(v: Value) -> (bool, &'a [u64]) {
    let p = payload_ptr(v);
    // SAFETY: BigInt payloads are sign, limb count, limbs (see `init_bigint`).
    unsafe {
        (
            *p == u64::MAX,
            std::slice::from_raw_parts(p.add(2), *p.add(1) as usize),
        )
    }
}

// ---- permanent Rust structures behind values ---------------------------------------------

/// The `Class` a header class word (or a class value's bits) designates.
#[inline(always)]
pub fn permanent_class(word: u64) -> &'static crate::runtime::class::Class {
    debug_assert!(word != 0, "object with no class");
    // SAFETY: class words always hold the address of a permanent (leaked) `Class`; classes
    // are never freed or moved.
    unsafe { &*(word as *const crate::runtime::class::Class) }
}

/// The `Method` a value of kind `Method` designates.
#[inline(always)]
pub fn permanent_method(v: Value) -> &'static crate::runtime::method::Method {
    debug_assert!(kind(v) == Kind::Method);
    // SAFETY: values of kind Method point at permanent, leaked `Method` structures.
    unsafe { &*(v.as_ptr::<crate::runtime::method::Method>()) }
}
