//! The bytecode set, defined once.
//!
//! Owns: the table below, and everything derived from it by `bytecodes!`: the `Op` enum, each
//! op's mnemonic, operand layout and stack effect, decoding from bytes, and the lengths the
//! compiler, verifier, disassembler and interpreter rely on. Adding a bytecode means adding
//! one row here and its handler in `interp`. Must never: execute or compile anything.
//!
//! Operands follow the opcode byte: `u8` operands take one byte, `u16` two (little endian).
//! Jump offsets are relative to the address of the next instruction: forward for `JUMP*`,
//! backward for `JUMP_BACK` and `FOR_NEXT`.

/// How an instruction changes the operand stack depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackEffect {
    /// Pops `pops`, then pushes `pushes`.
    Fixed { pops: u8, pushes: u8 },
    /// A send: pops the receiver and the site's arguments, pushes the result.
    Send,
    /// Pops `pops` and leaves the frame (nothing falls through).
    Return { pops: u8 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A frame slot.
    Slot,
    /// A context level (hops outward from the chain head).
    Level,
    /// A value index inside a context, or a field index.
    Index,
    /// An index into the method's literals.
    Literal,
    /// An index into the method's send sites.
    Site,
    /// An index into the method's global sites.
    Global,
    /// A forward jump distance.
    Forward,
    /// A backward jump distance.
    Backward,
}

impl Operand {
    pub const fn size(self) -> usize {
        match self {
            Operand::Slot | Operand::Level | Operand::Index => 1,
            _ => 2,
        }
    }
}

const fn fixed(pops: u8, pushes: u8) -> StackEffect {
    StackEffect::Fixed { pops, pushes }
}

macro_rules! bytecodes {
    ($( $op:ident = $mnemonic:literal [$($operand:ident),*] $effect:expr, $doc:literal; )*) => {
        /// A bytecode operation (the first byte of an instruction).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Op {
            $( #[doc = $doc] $op, )*
            /// Not an opcode: what every other byte decodes to. The verifier rejects it, so
            /// the interpreter never meets it.
            Invalid = 255,
        }

        impl Op {
            pub const ALL: &'static [Op] = &[ $( Op::$op, )* ];

            pub fn mnemonic(self) -> &'static str {
                match self { $( Op::$op => $mnemonic, )* Op::Invalid => "invalid" }
            }
            pub fn operands(self) -> &'static [Operand] {
                match self { $( Op::$op => &[$( Operand::$operand ),*], )* Op::Invalid => &[] }
            }
            pub fn stack_effect(self) -> StackEffect {
                match self { $( Op::$op => $effect, )* Op::Invalid => fixed(0, 0) }
            }
            pub fn doc(self) -> &'static str {
                match self { $( Op::$op => $doc, )* Op::Invalid => "not an opcode" }
            }
            /// The instruction's length in bytes, opcode included (a constant per op, so
            /// the dispatch loop advances `pc` without looking at the operand table).
            #[inline(always)]
            pub const fn length(self) -> usize {
                match self { $( Op::$op => 1 $( + Operand::$operand.size() )*, )* Op::Invalid => 1 }
            }
        }
    };
}

bytecodes! {
    PushSlot = "push_slot" [Slot] fixed(0, 1), "Push a frame slot (receiver, argument, local or temporary).";
    StoreSlot = "store_slot" [Slot] fixed(1, 1), "Store the top of stack into a frame slot, keeping it.";
    PopSlot = "pop_slot" [Slot] fixed(1, 0), "Pop the top of stack into a frame slot.";
    PushContext = "push_context" [Level, Index] fixed(0, 1), "Push a captured variable: `level` hops out from the context chain head.";
    StoreContext = "store_context" [Level, Index] fixed(1, 1), "Store the top of stack into a captured variable, keeping it.";
    PushField = "push_field" [Index] fixed(0, 1), "Push a field of the method's receiver (an ordinary object).";
    StoreField = "store_field" [Index] fixed(1, 1), "Store the top of stack into a field of the receiver, keeping it.";
    PushFieldOf = "push_field_of" [Index] fixed(1, 1), "Replace an object (or class) on the stack by one of its fields.";
    StoreFieldOf = "store_field_of" [Index] fixed(2, 1), "Pop an object, store the value below it into its field, keep the value.";
    PushConst = "push_const" [Literal] fixed(0, 1), "Push a literal.";
    PushNil = "push_nil" [] fixed(0, 1), "Push nil.";
    PushTrue = "push_true" [] fixed(0, 1), "Push true.";
    PushFalse = "push_false" [] fixed(0, 1), "Push false.";
    PushGlobal = "push_global" [Global] fixed(0, 1), "Push a global (sending unknownGlobal: when it is undefined).";
    PushBlock = "push_block" [Literal] fixed(0, 1), "Push a new closure of a block method over this activation.";
    Pop = "pop" [] fixed(1, 0), "Drop the top of stack.";
    Dup = "dup" [] fixed(1, 2), "Duplicate the top of stack.";
    Send = "send" [Site] StackEffect::Send, "Send through the site's inline cache.";
    SuperSend = "super_send" [Site] StackEffect::Send, "Send to self, looking up from the holder's superclass.";
    Add = "add" [Site] fixed(2, 1), "`+`: small integers and doubles directly, else the site's send.";
    Subtract = "subtract" [Site] fixed(2, 1), "`-`: small integers and doubles directly, else the site's send.";
    Multiply = "multiply" [Site] fixed(2, 1), "`*`: small integers and doubles directly, else the site's send.";
    LessThan = "less_than" [Site] fixed(2, 1), "`<` on numbers directly, else the site's send.";
    GreaterThan = "greater_than" [Site] fixed(2, 1), "`>` on numbers directly, else the site's send.";
    LessOrEqual = "less_or_equal" [Site] fixed(2, 1), "`<=` on numbers directly, else the site's send.";
    GreaterOrEqual = "greater_or_equal" [Site] fixed(2, 1), "`>=` on numbers directly, else the site's send.";
    Equal = "equal" [Site] fixed(2, 1), "`=` on small integers directly, else the site's send.";
    Return = "return" [] StackEffect::Return { pops: 1 }, "Return the top of stack from this activation.";
    ReturnNonLocal = "return_non_local" [] StackEffect::Return { pops: 1 }, "Return the top of stack from the block's home method.";
    Jump = "jump" [Forward] fixed(0, 0), "Jump forward.";
    JumpBack = "jump_back" [Backward] fixed(0, 0), "Jump backward (a loop back-edge: a safepoint).";
    JumpIfTrue = "jump_if_true" [Forward] fixed(1, 0), "Pop a Boolean; jump if true (error if not a Boolean).";
    JumpIfFalse = "jump_if_false" [Forward] fixed(1, 0), "Pop a Boolean; jump if false (error if not a Boolean).";
    JumpIfNil = "jump_if_nil" [Forward] fixed(1, 0), "Pop; jump if nil.";
    JumpIfNotNil = "jump_if_not_nil" [Forward] fixed(1, 0), "Pop; jump if not nil.";
    ForTest = "for_test" [Slot, Forward] fixed(0, 0), "Loop test of an inlined to:do: over slots counter, limit, step: jump out when done.";
    ForNext = "for_next" [Slot, Backward] fixed(0, 0), "Advance the to:do: counter by its step and jump back (a safepoint).";
    TimesInit = "times_init" [Slot] fixed(1, 0), "Pop the count of an inlined timesRepeat: into a slot (error if not an Integer).";
    TimesTest = "times_test" [Slot, Forward] fixed(0, 0), "Jump out when the timesRepeat: count is spent, else count down.";
    // Super-instructions (see SUPERINSTRUCTIONS.md for what each one bought).
    PopField = "pop_field" [Index] fixed(1, 0), "Super-instruction store_field + pop: pop into a field of the receiver.";
    ReturnSlot = "return_slot" [Slot] StackEffect::Return { pops: 0 }, "Super-instruction push_slot + return: return a slot (`^self`, `^local`).";
    IncrementSlot = "increment_slot" [Slot, Site] fixed(0, 0), "Super-instruction for `x := x + 1`: small integers directly, else the site's send of `+`.";
}

/// Every byte's operation: the dispatch loop decodes with one load and no range check.
pub static DECODE: [Op; 256] = {
    let mut table = [Op::Invalid; 256];
    let mut i = 0;
    while i < Op::ALL.len() {
        table[Op::ALL[i] as usize] = Op::ALL[i];
        i += 1;
    }
    table
};

impl Op {
    /// Decodes an opcode byte (`None` for a byte that is no opcode).
    pub fn from_byte(b: u8) -> Option<Op> {
        match DECODE[b as usize] {
            Op::Invalid => None,
            op => Some(op),
        }
    }
}

/// Reads the operands of the instruction at `pc` (whose opcode is `op`).
pub fn operands_at(code: &[u8], pc: usize, op: Op) -> Vec<usize> {
    let mut at = pc + 1;
    op.operands()
        .iter()
        .map(|o| {
            let v = match o.size() {
                1 => code[at] as usize,
                _ => u16::from_le_bytes([code[at], code[at + 1]]) as usize,
            };
            at += o.size();
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_decode_to_themselves_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
            assert_eq!(Op::from_byte(i as u8), Some(*op));
            assert!(
                names.insert(op.mnemonic()),
                "duplicate mnemonic {}",
                op.mnemonic()
            );
        }
        assert_eq!(Op::from_byte(Op::ALL.len() as u8), None);
    }

    #[test]
    fn lengths_follow_operand_sizes() {
        assert_eq!(Op::Pop.length(), 1);
        assert_eq!(Op::PushSlot.length(), 2);
        assert_eq!(Op::PushContext.length(), 3);
        assert_eq!(Op::Send.length(), 3);
        assert_eq!(Op::ForTest.length(), 4);
    }
}
