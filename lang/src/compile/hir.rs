//! The resolved method body both engines execute or compile: names resolved to slots,
//! context positions, fields and globals; control structures with literal blocks inlined.
//!
//! Owns: the shape of resolved code. Deciding it once here is what makes the two engines
//! comparable: they inline the same sends and store the same variables in the same places.
//! Must never: hold engine-specific state (inline caches and the like live in the engines).

use crate::runtime::method::Method;
use crate::runtime::value::Value;

/// Where a variable lives, seen from the activation that uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    /// A slot of the current activation's frame: 1..=params are the arguments, then locals.
    Slot(u32),
    /// A captured variable: follow `level` outer links from the current activation's context
    /// chain head (level 0 = the chain head itself), then take value `index`.
    Context { level: u32, index: u32 },
}

/// Which inlined conditional.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    IsTrue,
    IsFalse,
    IsNil,
    NotNil,
}

#[derive(Debug)]
pub enum Expr {
    /// A literal or pseudo-variable constant (nil, true, false, numbers, strings, symbols,
    /// literal arrays): a permanent value.
    Const(Value),
    /// `self` (in a block: the receiver of the home method).
    SelfRef,
    Read(Var),
    Write(Var, Box<Expr>),
    /// An instance field of self (class-side fields when `self` is a class).
    ReadField(u32),
    WriteField(u32, Box<Expr>),
    /// A global by name (and the line, for the `unknownGlobal:` send of an unknown one).
    Global(Value, u32),
    Send(Box<Send>),
    /// A closure over the current activation.
    Block(&'static Method),
    /// Return from the current method (not allowed inside a real block: see `NonLocalReturn`).
    Return(Box<Expr>),
    /// `^` inside a block: returns from the block's home method (the line is where the
    /// `escapedBlock:` send comes from when the home has returned).
    NonLocalReturn(Box<Expr>, u32),
    /// Statements; the value is the last one's (a `Seq` is never empty).
    Seq(Vec<Expr>),
    /// `c ifTrue: [..]`, `c ifFalse: [..] ifTrue: [..]`, `x ifNil: [..]`, …
    /// `then` runs when `test` holds of the value; `otherwise` when it does not (`None`:
    /// the value is nil for the boolean tests, the tested value itself for `IsNil`/`NotNil`).
    /// `bind`: the slot that receives the tested value (for `ifNotNil: [:x | ..]`).
    If(Box<If>),
    /// `[cond] whileTrue: [body]` (`while_true == false` for `whileFalse:`). Answers nil.
    While {
        cond: Box<Expr>,
        line: u32,
        while_true: bool,
        body: Box<Expr>,
    },
    /// `from to: to do: [:var | body]`, `to:by:do:`, `downTo:do:`. Answers `from`.
    ToDo(Box<ToDo>),
    /// `count timesRepeat: [body]`. Answers the count.
    TimesRepeat {
        count: Box<Expr>,
        line: u32,
        body: Box<Expr>,
    },
    /// `a and: [b]`, `a && [b]` (and: true) / `a or: [b]`, `a || [b]` (and: false).
    AndOr {
        left: Box<Expr>,
        line: u32,
        right: Box<Expr>,
        and: bool,
    },
}

#[derive(Debug)]
pub struct Send {
    pub selector: Value,
    /// `None` for a super send (the receiver is self, lookup starts above the holder).
    pub receiver: Option<Expr>,
    pub args: Vec<Expr>,
    pub line: u32,
}

#[derive(Debug)]
pub struct If {
    pub value: Expr,
    pub test: Test,
    pub bind: Option<Var>,
    pub then: Expr,
    pub otherwise: Option<Expr>,
    /// The selector as written, for the error when a non-Boolean reaches a boolean test.
    pub selector: Value,
    pub line: u32,
}

#[derive(Debug)]
pub struct ToDo {
    pub var: Var,
    pub from: Expr,
    pub to: Expr,
    /// `None` means 1; `downTo:do:` has `Some(Const(-1))` and `down = true`.
    pub by: Option<Expr>,
    pub down: bool,
    pub body: Expr,
    pub line: u32,
}

/// A method so simple that engines run it without an activation: it cannot fail, send,
/// allocate or reach a safepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trivial {
    /// `foo = ( ^field )`
    Field(u32),
    /// `foo: x = ( field := x )` (answers self)
    SetField(u32),
    /// `foo = ( ^42 )`, `^nil`, `^#sym`, …
    Constant(Value),
    /// `foo = ( )` or `foo = ( ^self )`
    Receiver,
}

/// The resolved code of a method or block.
#[derive(Debug)]
pub struct Code {
    pub params: u32,
    /// Frame slots after the parameters: declared locals and the variables of inlined blocks.
    pub locals: u32,
    /// Values in this activation's own context (0: it has none, its chain head is inherited).
    pub context_size: u32,
    /// Parameters that blocks capture: (parameter slot, context index) copied at entry.
    pub captured_params: Vec<(u32, u32)>,
    pub body: Expr,
    pub is_block: bool,
    /// Source line of the method or block start.
    pub line: u32,
    /// Set when the method is trivial (never for blocks).
    pub trivial: Option<Trivial>,
}

impl Code {
    /// Classifies a method body as trivial, given its parameter count and whether it has a
    /// context (a method whose variables are captured is never trivial).
    pub fn classify_trivial(&self) -> Option<Trivial> {
        if self.is_block || self.context_size > 0 || self.locals > 0 {
            return None;
        }
        match (&self.body, self.params) {
            (Expr::ReadField(i), 0) => Some(Trivial::Field(*i)),
            (Expr::Const(v), 0) => Some(Trivial::Constant(*v)),
            (Expr::SelfRef, 0) => Some(Trivial::Receiver),
            (Expr::Seq(items), 1) => match items.as_slice() {
                [Expr::WriteField(i, value), Expr::SelfRef]
                    if matches!(**value, Expr::Read(Var::Slot(1))) =>
                {
                    Some(Trivial::SetField(*i))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Frame slots: the receiver (or the block), parameters, locals, and one for the context.
    pub fn frame_slots(&self) -> usize {
        1 + self.params as usize + self.locals as usize + usize::from(self.context_size > 0)
    }
    /// The slot that holds this activation's own context, when it has one.
    pub fn context_slot(&self) -> usize {
        1 + self.params as usize + self.locals as usize
    }
}
