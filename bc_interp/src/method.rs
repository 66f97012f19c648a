//! A compiled method: bytecode plus the tables its instructions index.
//!
//! Owns: the layout of compiled code (literals, send sites with their inline caches, global
//! sites, a line per instruction, frame slot assignments). Must never: change after
//! verification, except the caches inside sites.

use lang::runtime::dispatch::{GlobalCache, InlineCache, SuperCache};
use lang::runtime::method::Method;
use lang::runtime::value::Value;

use crate::bytecode::Instr;

/// A send site: the selector, its argument count and its inline cache.
pub struct SendSite {
    pub selector: Value,
    pub nargs: usize,
    pub cache: InlineCache,
    /// For super sends: the method found from the holder's superclass.
    pub super_cache: SuperCache,
    /// For arithmetic bytecodes: whether the small-integer and double shortcuts apply.
    pub int_fast: bool,
    pub double_fast: bool,
}

pub struct BcMethod {
    pub method: &'static Method,
    pub code: Vec<Instr>,
    /// The source line of the construct each instruction belongs to.
    pub lines: Vec<u32>,
    pub literals: Vec<Value>,
    pub sites: Vec<SendSite>,
    pub globals: Vec<GlobalCache>,
    /// For conditional jumps that test Booleans: the selector they were inlined from.
    pub jump_selectors: Vec<(u32, &'static str)>,
    pub params: usize,
    /// All frame slots: receiver (or block), parameters, locals, context, hidden slots.
    pub frame_slots: usize,
    pub context_size: usize,
    pub context_slot: usize,
    pub captured_params: Vec<(u32, u32)>,
    pub is_block: bool,
    /// The slot holding `self` (0 in a method; a hidden slot in a block).
    pub self_slot: usize,
    /// The slot holding the head of the context chain (own context, or the block's outer).
    pub head_slot: usize,
    /// The deepest the operand stack gets above the frame slots.
    pub max_stack: usize,
    pub line: u32,
    /// The JIT's state of each loop, by header pc (created at the first back edge).
    pub loops: std::cell::RefCell<lang::tracing::Loops>,
}

impl BcMethod {
    pub fn jump_selector(&self, pc: usize) -> &'static str {
        self.jump_selectors
            .iter()
            .find(|(p, _)| *p as usize == pc)
            .map(|(_, s)| *s)
            .unwrap_or("ifTrue:")
    }
}
