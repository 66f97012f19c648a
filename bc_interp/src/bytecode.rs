//! The bytecode set, defined once, and the instruction format.
//!
//! Owns: the table below, and everything derived from it by `bytecodes!`: the `Op` enum, each
//! op's mnemonic, operand layout and stack effect; and `Instr`, the fixed 32-bit instruction
//! word the compiler emits and the interpreter executes. Adding a bytecode means adding one
//! row here and its handler in `handlers`. Must never: execute or compile anything.
//!
//! An instruction is one 32-bit word, as in LuaJIT: the opcode byte, an 8-bit operand `a` and
//! a 16-bit operand `b`. An op with two operands puts the first in `a` and the second in `b`;
//! an op with one operand puts it in `a` if it is a one-byte kind (slot, level, index), else
//! in `b`. Fixed-width words are what keep the dispatch short: the opcode is a typed `Op`
//! (so a `match` on it needs no range check) and `pc` advances by one without a length
//! lookup. Jump distances count instructions and are relative to the next instruction:
//! forward for `JUMP*`, backward for `JUMP_BACK` and `FOR_NEXT`.

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
    /// The operand's width in bytes, which bounds its value (one byte: at most 255).
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
        /// A bytecode operation (the opcode byte of an instruction).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Op {
            $( #[doc = $doc] $op, )*
        }

        impl Op {
            pub const ALL: &'static [Op] = &[ $( Op::$op, )* ];

            pub fn mnemonic(self) -> &'static str {
                match self { $( Op::$op => $mnemonic, )* }
            }
            pub fn operands(self) -> &'static [Operand] {
                match self { $( Op::$op => &[$( Operand::$operand ),*], )* }
            }
            pub fn stack_effect(self) -> StackEffect {
                match self { $( Op::$op => $effect, )* }
            }
            pub fn doc(self) -> &'static str {
                match self { $( Op::$op => $doc, )* }
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

/// Where an operand lives in the instruction word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    A,
    B,
}

impl Op {
    /// The field holding operand `i` of this op (see the module comment for the rule).
    pub fn field(self, i: usize) -> Field {
        let operands = self.operands();
        match (operands.len(), i) {
            (2, 0) => Field::A,
            (2, _) => Field::B,
            _ if operands[0].size() == 1 => Field::A,
            _ => Field::B,
        }
    }
}

/// One instruction: the opcode and its operand fields in a 32-bit word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(4))]
pub struct Instr {
    pub op: Op,
    pub a: u8,
    pub b: u16,
}

impl Instr {
    /// An instruction with `operands` in the order of `op.operands()`. The caller checks the
    /// operand limits (`Operand::size`); a value too wide for its field is truncated.
    pub fn new(op: Op, operands: &[usize]) -> Instr {
        assert_eq!(operands.len(), op.operands().len(), "{}", op.mnemonic());
        let mut instr = Instr { op, a: 0, b: 0 };
        for (i, &v) in operands.iter().enumerate() {
            instr.set_operand(i, v);
        }
        instr
    }

    /// Operand `i` (in the order of `op.operands()`).
    #[inline(always)]
    pub fn operand(self, i: usize) -> usize {
        match self.op.field(i) {
            Field::A => self.a as usize,
            Field::B => self.b as usize,
        }
    }

    pub fn set_operand(&mut self, i: usize, v: usize) {
        match self.op.field(i) {
            Field::A => self.a = v as u8,
            Field::B => self.b = v as u16,
        }
    }

    /// All operands, in the order of `op.operands()`.
    pub fn operands(self) -> Vec<usize> {
        (0..self.op.operands().len())
            .map(|i| self.operand(i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_are_dense_and_names_unique() {
        let mut names = std::collections::HashSet::new();
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
            assert!(
                names.insert(op.mnemonic()),
                "duplicate mnemonic {}",
                op.mnemonic()
            );
        }
    }

    #[test]
    fn every_operand_layout_fits_the_word() {
        assert_eq!(std::mem::size_of::<Instr>(), 4);
        for op in Op::ALL {
            let kinds = op.operands();
            assert!(kinds.len() <= 2, "{}", op.mnemonic());
            if kinds.len() == 2 {
                assert_eq!(
                    kinds[0].size(),
                    1,
                    "{}: first of two operands in `a`",
                    op.mnemonic()
                );
            }
        }
    }

    #[test]
    fn operands_go_to_their_fields() {
        let i = Instr::new(Op::PushSlot, &[7]);
        assert_eq!((i.a, i.b), (7, 0));
        let i = Instr::new(Op::Send, &[300]);
        assert_eq!((i.a, i.b), (0, 300));
        let i = Instr::new(Op::ForTest, &[3, 1000]);
        assert_eq!((i.a, i.b), (3, 1000));
        assert_eq!(i.operands(), vec![3, 1000]);
        let i = Instr::new(Op::PushContext, &[2, 9]);
        assert_eq!((i.a, i.b), (2, 9));
    }
}
