//! The trace IR: one recorded loop iteration as a list of typed SSA instructions.
//!
//! Owns: the operation set (the `ir_ops!` table below, from which the `Op` enum, mnemonics,
//! operand shapes, result types and effect flags are generated), instructions, snapshots and
//! the `Trace` that holds them. Must never: optimize or compile (passes live in `opt`, the
//! backend elsewhere).
//!
//! A trace is straight-line code: instructions before `loop` run once (the entry), those
//! after it are the loop body, and the final `jump` goes back to `loop`. Every value is an
//! instruction's result, named by its index (`%3`). Loop-carried values work as in LuaJIT: the
//! body refers to a value defined before `loop` (`%left`) to mean its value in the current
//! iteration, and `phi %left %right` at the end of the body says that the next iteration
//! starts with `%left` = `%right`. A value defined before `loop` that is no phi's left and does
//! not depend on one is loop-invariant; the body may use only such values, phi lefts, and its
//! own. Guards leave the trace when their condition fails, through the snapshot they name:
//! the frames and slot values the engine needs to resume exactly there.

use std::fmt;

/// The small integers: what `Type::Int` values must stay within to be boxed as a tagged
/// value: 63 bits, the same bounds as `lang::runtime::value::SMALL_INT_MIN`/`MAX`.
pub const SMALL_INT_MIN: i64 = i64::MIN >> 1;
pub const SMALL_INT_MAX: i64 = i64::MAX >> 1;

/// The type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// No value (guards, stores, control).
    Void,
    /// An unboxed 64-bit integer (a small integer's value).
    Int,
    /// An unboxed double.
    Double,
    /// The outcome of a comparison.
    Bool,
    /// A tagged SOM value (small integer, immediate double or heap reference).
    Ref,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Void => "void",
            Type::Int => "int",
            Type::Double => "double",
            Type::Bool => "bool",
            Type::Ref => "ref",
        }
    }
}

/// What an operation does besides computing its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing: the result depends only on the operands (folding and CSE may touch it).
    Pure,
    /// May leave the trace through its snapshot; otherwise pure.
    Guard,
    /// Reads the heap (a later store may change the answer).
    Load,
    /// Writes the heap.
    Store,
    /// Allocates (a fresh object each time).
    Alloc,
    /// Calls into the runtime: may read and write anything, and leave through its snapshot.
    Call,
    /// Loop structure.
    Control,
}

/// How many value operands an operation takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Fixed(usize),
    Variadic,
}

macro_rules! ir_ops {
    ($( $op:ident = $mnemonic:literal ($arity:expr, imm: $imm:literal) -> $ty:ident, $effect:ident, $doc:literal; )*) => {
        /// An IR operation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $( #[doc = $doc] $op, )*
        }

        impl Op {
            pub const ALL: &'static [Op] = &[ $( Op::$op, )* ];

            pub fn mnemonic(self) -> &'static str {
                match self { $( Op::$op => $mnemonic, )* }
            }
            /// Value operands.
            pub fn arity(self) -> Arity {
                match self { $( Op::$op => $arity, )* }
            }
            /// Whether the instruction carries an immediate (a constant, slot, field index,
            /// class word or primitive number).
            pub fn has_immediate(self) -> bool {
                match self { $( Op::$op => $imm, )* }
            }
            pub fn result(self) -> Type {
                match self { $( Op::$op => Type::$ty, )* }
            }
            pub fn effect(self) -> Effect {
                match self { $( Op::$op => Effect::$effect, )* }
            }
            pub fn doc(self) -> &'static str {
                match self { $( Op::$op => $doc, )* }
            }
            pub fn from_mnemonic(s: &str) -> Option<Op> {
                match s { $( $mnemonic => Some(Op::$op), )* _ => None }
            }
        }
    };
}

use Arity::{Fixed, Variadic};

ir_ops! {
    // Constants and inputs.
    ConstInt = "const_int" (Fixed(0), imm: true) -> Int, Pure, "An integer constant.";
    ConstDouble = "const_double" (Fixed(0), imm: true) -> Double, Pure, "A double constant (the immediate holds its bits).";
    ConstRef = "const_ref" (Fixed(0), imm: true) -> Ref, Pure, "A tagged constant (a permanent object or an immediate value).";
    Input = "input" (Fixed(0), imm: true) -> Ref, Pure, "The value of frame slot `imm` when the trace is entered.";
    // Type and value guards.
    GuardInt = "guard_int" (Fixed(1), imm: false) -> Void, Guard, "Leave unless the value is a small integer.";
    GuardDouble = "guard_double" (Fixed(1), imm: false) -> Void, Guard, "Leave unless the value is an immediate double.";
    GuardClass = "guard_class" (Fixed(1), imm: true) -> Void, Guard, "Leave unless the value's class is the class `imm`.";
    GuardKind = "guard_kind" (Fixed(1), imm: true) -> Void, Guard, "Leave unless the heap object (after guard_class) has the representation `imm` (the runtime's kind number).";
    GuardTrue = "guard_true" (Fixed(1), imm: false) -> Void, Guard, "Leave unless the condition holds.";
    GuardFalse = "guard_false" (Fixed(1), imm: false) -> Void, Guard, "Leave if the condition holds.";
    GuardSame = "guard_same" (Fixed(2), imm: false) -> Void, Guard, "Leave unless both are the same value (identity).";
    GuardIndex = "guard_index" (Fixed(2), imm: false) -> Void, Guard, "Leave unless 1 <= index <= size of the array (SOM indexes from 1).";
    // Boxing.
    UnboxInt = "unbox_int" (Fixed(1), imm: false) -> Int, Pure, "The integer of a small-integer value (after guard_int).";
    BoxInt = "box_int" (Fixed(1), imm: false) -> Ref, Pure, "The small-integer value of an integer known to fit.";
    UnboxDouble = "unbox_double" (Fixed(1), imm: false) -> Double, Pure, "The double of an immediate-double value (after guard_double).";
    BoxDouble = "box_double" (Fixed(1), imm: false) -> Ref, Guard, "The immediate-double value of a double; leave when the double has no immediate encoding (the interpreter boxes it).";
    IntToDouble = "int_to_double" (Fixed(1), imm: false) -> Double, Pure, "The double nearest to an integer.";
    DoubleToInt = "double_to_int" (Fixed(1), imm: false) -> Int, Guard, "The integer part (toward zero) of a double; leave unless it is a small integer (NaN and infinities are not).";
    // Integer arithmetic: leaves the trace on overflow out of the small integers.
    AddOv = "add_ov" (Fixed(2), imm: false) -> Int, Guard, "Integer addition; leave on overflow.";
    SubOv = "sub_ov" (Fixed(2), imm: false) -> Int, Guard, "Integer subtraction; leave on overflow.";
    MulOv = "mul_ov" (Fixed(2), imm: false) -> Int, Guard, "Integer multiplication; leave on overflow.";
    DivInt = "div_int" (Fixed(2), imm: false) -> Int, Guard, "Integer division rounding down (SOM `/`); leave when dividing by 0 or on overflow.";
    ModInt = "mod_int" (Fixed(2), imm: false) -> Int, Guard, "The modulo with the divisor's sign (SOM `%`); leave when dividing by 0.";
    RemInt = "rem_int" (Fixed(2), imm: false) -> Int, Guard, "The remainder with the dividend's sign (SOM `rem:`); leave when dividing by 0.";
    // Double arithmetic.
    AddDouble = "add_double" (Fixed(2), imm: false) -> Double, Pure, "Double addition.";
    SubDouble = "sub_double" (Fixed(2), imm: false) -> Double, Pure, "Double subtraction.";
    MulDouble = "mul_double" (Fixed(2), imm: false) -> Double, Pure, "Double multiplication.";
    DivDouble = "div_double" (Fixed(2), imm: false) -> Double, Pure, "Double division.";
    SqrtDouble = "sqrt_double" (Fixed(1), imm: false) -> Double, Pure, "Double square root.";
    // Bitwise operations on small integers (the result is one too).
    AndInt = "and_int" (Fixed(2), imm: false) -> Int, Pure, "Bitwise and.";
    ShlOv = "shl_ov" (Fixed(2), imm: false) -> Int, Guard, "Shift left; leave unless the count is 0..=62 and the result a small integer.";
    SarInt = "sar_int" (Fixed(2), imm: false) -> Int, Guard, "Arithmetic shift right; leave unless the count is 0..=63.";
    XorInt = "xor_int" (Fixed(2), imm: false) -> Int, Pure, "Bitwise exclusive or.";
    // Comparisons.
    LtInt = "lt_int" (Fixed(2), imm: false) -> Bool, Pure, "Integer <.";
    LeInt = "le_int" (Fixed(2), imm: false) -> Bool, Pure, "Integer <=.";
    EqInt = "eq_int" (Fixed(2), imm: false) -> Bool, Pure, "Integer =.";
    LtDouble = "lt_double" (Fixed(2), imm: false) -> Bool, Pure, "Double <.";
    LeDouble = "le_double" (Fixed(2), imm: false) -> Bool, Pure, "Double <=.";
    EqDouble = "eq_double" (Fixed(2), imm: false) -> Bool, Pure, "Double =.";
    EqRef = "eq_ref" (Fixed(2), imm: false) -> Bool, Pure, "Identity of two tagged values (`==`).";
    // The heap.
    LoadGlobal = "load_global" (Fixed(0), imm: true) -> Ref, Load, "The value in the global's cell at address `imm` (cells never move).";
    StoreGlobal = "store_global" (Fixed(1), imm: true) -> Void, Store, "Store into the cell at address `imm` (a GC root, such as a class-side field: no barrier).";
    LoadField = "load_field" (Fixed(1), imm: true) -> Ref, Load, "Field `imm` (from 0) of an object.";
    StoreField = "store_field" (Fixed(2), imm: true) -> Void, Store, "Store into field `imm` of an object (with the write barrier).";
    ArraySize = "array_size" (Fixed(1), imm: false) -> Int, Pure, "The number of elements of an array (sizes never change).";
    LoadElement = "load_element" (Fixed(2), imm: false) -> Ref, Load, "Element `index` (from 1, checked by guard_index) of an array.";
    StoreElement = "store_element" (Fixed(3), imm: false) -> Void, Store, "Store into element `index` of an array (with the write barrier).";
    NewObject = "new_object" (Fixed(0), imm: true) -> Ref, Alloc, "A new object of the shape `imm` (`AllocShape`: class, kind, fields), fields nil; leaves when the nursery's chunk is full.";
    NewArray = "new_array" (Fixed(1), imm: true) -> Ref, Alloc, "A new array of class `imm` and the given size, elements nil; leaves when the size is negative or large, or the nursery's chunk is full.";
    // Everything else the runtime does.
    CallPrimitive = "call_primitive" (Variadic, imm: true) -> Ref, Call, "Calls primitive number `imm` on the receiver and arguments (tagged values) and answers its result; leaves through the snapshot (at the send) when the primitive fails, having changed nothing.";
    // Loop structure.
    Loop = "loop" (Fixed(0), imm: false) -> Void, Control, "The loop header: the body follows.";
    Phi = "phi" (Fixed(2), imm: false) -> Void, Control, "At the back edge, the loop-carried %left (defined before `loop`) takes the value %right.";
    Jump = "jump" (Fixed(0), imm: false) -> Void, Control, "Back to `loop` (after the phis).";
    Exit = "exit" (Fixed(0), imm: false) -> Void, Control, "Leave through the snapshot: the end of a side trace, which has no loop (it ends where its loop's trace starts).";
    CallPure = "call_pure" (Fixed(1), imm: true) -> Ref, Call, "Calls the `extern \"C\"` function at address `imm` on a tagged value and answers the tagged value it returns (primitives a trace calls: they neither allocate nor fail, their receiver's class guarded).";
    Leave = "leave" (Fixed(0), imm: false) -> Void, Control, "Leave through the snapshot for the interpreter to do what the trace cannot (a non-local return, doesNotUnderstand:): ends a trace without a loop, like `exit`.";
}

/// What `new_object` allocates, packed into its immediate: the class word (an address below
/// 2^48), the runtime's kind number of the representation, and the number of fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocShape {
    pub class_word: u64,
    pub kind: u8,
    pub fields: u32,
}

impl AllocShape {
    /// The most fields a shape can say.
    pub const MAX_FIELDS: u32 = (1 << 12) - 1;

    /// `None` if the class word or the field count does not fit.
    pub fn encode(self) -> Option<i64> {
        let fits = self.class_word < (1 << 48) && self.kind < 16 && self.fields <= Self::MAX_FIELDS;
        fits.then_some(
            (self.class_word | (self.kind as u64) << 48 | (self.fields as u64) << 52) as i64,
        )
    }

    pub fn decode(imm: i64) -> AllocShape {
        let imm = imm as u64;
        AllocShape {
            class_word: imm & ((1 << 48) - 1),
            kind: ((imm >> 48) & 15) as u8,
            fields: (imm >> 52) as u32,
        }
    }
}

/// A value: the index of the instruction that computes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// A snapshot's index in `Trace::snapshots`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SnapshotId(pub u32);

/// One instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Inst {
    pub op: Op,
    pub args: Vec<ValueId>,
    /// The immediate, if the op has one (0 otherwise).
    pub imm: i64,
    /// Where a guard (or call) leaves the trace.
    pub snapshot: Option<SnapshotId>,
}

impl Inst {
    pub fn new(op: Op, args: Vec<ValueId>, imm: i64) -> Inst {
        Inst {
            op,
            args,
            imm,
            snapshot: None,
        }
    }
}

/// What the engine needs to resume at a guard: for each activation, outermost first, the
/// method, an engine-defined position and the values of its slots (trace values, or the
/// trace's entry values).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub frames: Vec<SnapshotFrame>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFrame {
    /// The method's address (permanent objects do not move).
    pub method: u64,
    /// Engine-defined: a bytecode pc, or an AST node path.
    pub position: Vec<u32>,
    pub slots: Vec<ValueId>,
}

/// A recorded trace.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Trace {
    pub insts: Vec<Inst>,
    pub snapshots: Vec<Snapshot>,
}

/// How a pass's output names the values of its input: the output value each input value
/// became (`None`: dropped, or not reached yet).
pub struct Renaming(Vec<Option<ValueId>>);

impl Renaming {
    pub fn new(input: &Trace) -> Renaming {
        Renaming(vec![None; input.insts.len()])
    }

    pub fn set(&mut self, old: usize, new: ValueId) {
        self.0[old] = Some(new);
    }

    pub fn get(&self, old: ValueId) -> Option<ValueId> {
        self.0[old.0 as usize]
    }

    /// Which input values became `new`.
    pub fn sources(&self, new: ValueId) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(move |(_, m)| **m == Some(new))
            .map(|(i, _)| i)
    }

    /// `inst` with its operands renamed (they come before it, so they are renamed already).
    pub fn inst(&self, inst: &Inst) -> Inst {
        let mut inst = inst.clone();
        for a in &mut inst.args {
            *a = self
                .get(*a)
                .expect("operands come first and produce values");
        }
        inst
    }

    /// The input's snapshots with their values renamed; every value they name must have an
    /// image.
    pub fn snapshots(&self, input: &Trace) -> Vec<Snapshot> {
        let mut snapshots = input.snapshots.clone();
        for s in &mut snapshots {
            for f in &mut s.frames {
                for v in &mut f.slots {
                    *v = self
                        .get(*v)
                        .expect("snapshot values are produced by the trace");
                }
            }
        }
        snapshots
    }
}

/// Why a trace is not well-formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrError(pub String);

impl Trace {
    /// Appends an instruction and returns its value.
    pub fn push(&mut self, inst: Inst) -> ValueId {
        self.insts.push(inst);
        ValueId(self.insts.len() as u32 - 1)
    }

    pub fn inst(&self, v: ValueId) -> &Inst {
        &self.insts[v.0 as usize]
    }

    pub fn type_of(&self, v: ValueId) -> Type {
        self.inst(v).op.result()
    }

    /// The index of the `loop` instruction, if the trace has one.
    pub fn loop_index(&self) -> Option<usize> {
        self.insts.iter().position(|i| i.op == Op::Loop)
    }

    /// The loop-carried values: the left operands of the phis.
    pub fn carried(&self) -> Vec<ValueId> {
        self.insts
            .iter()
            .filter(|i| i.op == Op::Phi)
            .map(|i| i.args[0])
            .collect()
    }

    /// For every value defined before `loop`: whether it varies between iterations (a phi's
    /// left, or computed from one). Values of the body are not in the answer's domain.
    pub fn varying_before_loop(&self) -> Vec<bool> {
        let end = self.loop_index().unwrap_or(self.insts.len());
        let mut varying = vec![false; self.insts.len()];
        for v in self.carried() {
            varying[v.0 as usize] = true;
        }
        for i in 0..end {
            if self.insts[i].args.iter().any(|a| varying[a.0 as usize]) {
                varying[i] = true;
            }
        }
        varying
    }

    /// Checks the rules every pass may rely on: operands are earlier values of the right
    /// number and a non-void type; one `loop` at most; phis and `jump` only at the end of the
    /// body, in that order, a phi's left defined before `loop` (once) with its right's type;
    /// the body uses of earlier values only invariant ones and phi lefts; snapshots exist.
    pub fn check(&self) -> Result<(), IrError> {
        let loop_at = self.loop_index();
        if self.insts.iter().filter(|i| i.op == Op::Loop).count() > 1 {
            return Err(IrError("more than one loop header".into()));
        }
        for (i, inst) in self.insts.iter().enumerate() {
            if let Some(a) = inst.args.iter().find(|a| a.0 as usize >= i) {
                return Err(IrError(format!(
                    "%{i} ({}): operand {a} is not defined before",
                    inst.op.mnemonic()
                )));
            }
        }
        let varying = self.varying_before_loop();
        let carried = self.carried();
        let mut lefts = std::collections::HashSet::new();
        let mut in_tail = false; // past the first phi
        for (i, inst) in self.insts.iter().enumerate() {
            let at = |m: String| IrError(format!("%{i} ({}): {m}", inst.op.mnemonic()));
            if let Arity::Fixed(n) = inst.op.arity() {
                if inst.args.len() != n {
                    return Err(at(format!("{} operands, expected {n}", inst.args.len())));
                }
            }
            for a in &inst.args {
                if a.0 as usize >= i {
                    return Err(at(format!("operand {a} is not defined before")));
                }
                if self.type_of(*a) == Type::Void {
                    return Err(at(format!("operand {a} has no value")));
                }
                let in_body = loop_at.is_some_and(|l| i > l);
                let from_before = loop_at.is_some_and(|l| (a.0 as usize) < l);
                let phi_left = inst.op == Op::Phi && inst.args[0] == *a;
                if in_body
                    && from_before
                    && !phi_left
                    && varying[a.0 as usize]
                    && !carried.contains(a)
                {
                    return Err(at(format!(
                        "operand {a} changes between iterations: the body must compute it"
                    )));
                }
            }
            if let Some(s) = inst.snapshot {
                if s.0 as usize >= self.snapshots.len() {
                    return Err(at(format!("no snapshot {}", s.0)));
                }
            }
            match inst.op {
                Op::Phi => {
                    let (left, right) = (inst.args[0], inst.args[1]);
                    if !loop_at.is_some_and(|l| i > l && (left.0 as usize) < l) {
                        return Err(at(
                            "a phi's left is defined before `loop`, the phi after it".into(),
                        ));
                    }
                    if !lefts.insert(left) {
                        return Err(at(format!("{left} is carried twice")));
                    }
                    if self.type_of(left) != self.type_of(right) {
                        return Err(at("left and right have different types".into()));
                    }
                    in_tail = true;
                }
                Op::Jump if i + 1 != self.insts.len() || loop_at.is_none() => {
                    return Err(at("jump ends a trace with a loop".into()));
                }
                Op::Exit | Op::Leave if i + 1 != self.insts.len() || loop_at.is_some() => {
                    return Err(at(format!(
                        "{} ends a trace without a loop",
                        inst.op.mnemonic()
                    )));
                }
                Op::Exit | Op::Leave if inst.snapshot.is_none() => {
                    return Err(at(format!("{} needs a snapshot", inst.op.mnemonic())));
                }
                Op::Jump => {}
                _ if in_tail => return Err(at("only phis and the jump follow a phi".into())),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for op in Op::ALL {
            assert!(seen.insert(op.mnemonic()), "{}", op.mnemonic());
            assert_eq!(Op::from_mnemonic(op.mnemonic()), Some(*op));
        }
    }

    #[test]
    fn check_rejects_bad_operands() {
        let mut t = Trace::default();
        let a = t.push(Inst::new(Op::ConstInt, vec![], 1));
        t.push(Inst::new(Op::AddOv, vec![a], 0));
        assert!(t.check().unwrap_err().0.contains("1 operands, expected 2"));

        let mut t = Trace::default();
        t.push(Inst::new(Op::AddOv, vec![ValueId(0), ValueId(0)], 0));
        assert!(t.check().unwrap_err().0.contains("not defined before"));

        let mut t = Trace::default();
        let g = t.push(Inst::new(Op::Loop, vec![], 0));
        t.push(Inst::new(Op::GuardTrue, vec![g], 0));
        assert!(t.check().unwrap_err().0.contains("has no value"));
    }

    #[test]
    fn check_knows_loop_carried_values() {
        use crate::text::parse;
        // The body may use a phi's left and invariant values...
        parse("%0 = input #1\n%1 = const_int #1\n%2 = unbox_int %0\nloop\n%4 = add_ov %2 %1\nphi %2 %4\njump\n")
            .unwrap();
        // ...but not a value computed before the loop from a carried one.
        let err = parse("%0 = const_int #0\n%1 = const_int #1\n%2 = add_ov %0 %1\nloop\n%4 = add_ov %2 %1\nphi %0 %4\njump\n")
            .unwrap_err();
        assert!(err.0.contains("changes between iterations"), "{}", err.0);
        let err =
            parse("%0 = const_int #0\nloop\n%2 = const_int #1\nphi %2 %0\njump\n").unwrap_err();
        assert!(err.0.contains("defined before `loop`"), "{}", err.0);
        let err =
            parse("%0 = const_int #0\nloop\nphi %0 %0\n%3 = const_int #1\njump\n").unwrap_err();
        assert!(err.0.contains("only phis"), "{}", err.0);
    }
}
