//! The two-word header at the start of every heap object.
//!
//! Owns: the header layout (class word, kind, GC flags, size) and the object kinds the
//! collector must tell apart. Must never: interpret an object's payload beyond "these words
//! are values" — layouts belong to `runtime::object`.

use std::cell::Cell;

/// What an object's payload holds, as far as the collector is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Payload: named fields, all values.
    Instance = 0,
    /// Payload: elements, all values.
    Array = 1,
    /// Payload: an activation's captured variables, all values (outer context first).
    Context = 2,
    /// Payload: a closure's method, outer context, receiver and home marker, all values.
    Block = 3,
    /// Payload: byte length, character count, UTF-8 bytes. No values.
    String = 4,
    /// Like `String`, interned and permanent.
    Symbol = 5,
    /// Payload: sign and limb count, then 64-bit limbs. No values.
    BigInt = 6,
    /// Payload: one f64. No values.
    Double = 7,
    /// A permanent Rust `Class` structure; its values are roots, not scanned as payload.
    Class = 8,
    /// A permanent Rust `Method` structure; holds only permanent values.
    Method = 9,
}

impl Kind {
    /// True when every payload word is a value the collector must trace.
    #[inline(always)]
    pub fn payload_is_values(self) -> bool {
        (self as u8) <= Kind::Block as u8
    }
    fn from_u8(b: u8) -> Kind {
        match b {
            0 => Kind::Instance,
            1 => Kind::Array,
            2 => Kind::Context,
            3 => Kind::Block,
            4 => Kind::String,
            5 => Kind::Symbol,
            6 => Kind::BigInt,
            7 => Kind::Double,
            8 => Kind::Class,
            _ => Kind::Method,
        }
    }
}

/// Lives outside the nursery (promoted, allocated large, or permanent).
pub const OLD: u64 = 1 << 8;
/// Reached in the current major collection's mark phase.
pub const MARKED: u64 = 1 << 9;
/// Already in the remembered set (an old object that may point into the nursery).
pub const REMEMBERED: u64 = 1 << 10;
/// Evacuated: the class word holds the new address.
pub const FORWARDED: u64 = 1 << 11;
/// Never freed, never moved: classes, methods, symbols, literals.
pub const PERMANENT: u64 = 1 << 12;

/// The size in words (header included) is the meta word's high 32 bits (the JIT's code
/// reads it there too: `tracing::layout`).
pub const SIZE_SHIFT: u32 = 32;
/// Bits 13..32 of `meta` hold the identity hash (0: not assigned yet).
const HASH_SHIFT: u32 = 13;
const HASH_MASK: u64 = (1 << 19) - 1;

/// The header. `class_word` is the address of the object's `Class` (or, while forwarded,
/// the object's new address); `meta` packs kind, flags and the size in words (header included).
#[repr(C)]
pub struct Header {
    class_word: Cell<u64>,
    meta: Cell<u64>,
}

pub const HEADER_WORDS: usize = 2;

impl Header {
    pub fn new(class_word: u64, kind: Kind, flags: u64, size_words: usize) -> Header {
        Header {
            class_word: Cell::new(class_word),
            meta: Cell::new(kind as u64 | flags | ((size_words as u64) << SIZE_SHIFT)),
        }
    }
    #[inline(always)]
    pub fn class_word(&self) -> u64 {
        self.class_word.get()
    }
    #[inline(always)]
    pub fn set_class_word(&self, w: u64) {
        self.class_word.set(w)
    }
    #[inline(always)]
    pub fn kind(&self) -> Kind {
        Kind::from_u8(self.meta.get() as u8)
    }
    #[inline(always)]
    pub fn size_words(&self) -> usize {
        (self.meta.get() >> SIZE_SHIFT) as usize
    }
    pub fn identity_hash(&self) -> u32 {
        ((self.meta.get() >> HASH_SHIFT) & HASH_MASK) as u32
    }
    /// Keeps the low 19 bits of `hash` (never 0 once assigned).
    pub fn set_identity_hash(&self, hash: u32) {
        let bits = (hash as u64 & HASH_MASK).max(1);
        self.meta
            .set((self.meta.get() & !(HASH_MASK << HASH_SHIFT)) | (bits << HASH_SHIFT));
    }
    #[inline(always)]
    pub fn has(&self, flag: u64) -> bool {
        self.meta.get() & flag != 0
    }
    #[inline(always)]
    pub fn set(&self, flag: u64) {
        self.meta.set(self.meta.get() | flag)
    }
    #[inline(always)]
    pub fn clear(&self, flag: u64) {
        self.meta.set(self.meta.get() & !flag)
    }
}
