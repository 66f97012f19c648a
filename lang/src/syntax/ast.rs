//! The parse tree of a SOM class file, as the parser produces it.
//!
//! Owns: the syntactic shape of classes, methods, blocks, expressions and literals, each with
//! the source span it came from. Must never: resolve names, decide inlining or touch the
//! runtime — that is `lang::compile`'s job, so both engines see the same decisions.

/// A byte range in one source file. `start..end`, both byte offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A name together with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `Name = Super ( |fields| methods ---- |class fields| class methods )`
#[derive(Clone, Debug, PartialEq)]
pub struct ClassDef {
    pub name: Ident,
    /// `None` means the default superclass `Object`; `Some("nil")` makes a root class.
    pub superclass: Option<Ident>,
    pub instance_fields: Vec<Ident>,
    pub instance_methods: Vec<MethodDef>,
    pub class_fields: Vec<Ident>,
    pub class_methods: Vec<MethodDef>,
    pub span: Span,
}

/// The kind of a message pattern, from the shape of its selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternKind {
    Unary,
    Binary,
    Keyword,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MethodDef {
    /// The full selector: `foo`, `+`, `at:put:`.
    pub selector: String,
    pub kind: PatternKind,
    pub params: Vec<Ident>,
    pub body: MethodBody,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MethodBody {
    /// `= primitive`: supplied by the runtime.
    Primitive,
    Code(Body),
}

/// Locals and statements of a method or block body.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    pub locals: Vec<Ident>,
    pub statements: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub params: Vec<Ident>,
    pub body: Body,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Integer(num_bigint::BigInt),
    Double(f64),
    String(String),
    Symbol(String),
    Array(Vec<Literal>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A variable read: `x`, `self`, `super`, `nil`, `true`, `false`, `system`, a global.
    Variable(String),
    /// `a := b := expr`: targets in source order.
    Assign {
        targets: Vec<Ident>,
        value: Box<Expr>,
    },
    /// A message send. `selector` is the full selector (`at:put:`).
    Send {
        receiver: Box<Expr>,
        selector: String,
        selector_span: Span,
        args: Vec<Expr>,
    },
    Block(Block),
    Literal(Literal),
    /// `^ expr`, only as the last statement of a body.
    Return(Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// How deeply nested this expression is: 1 for a variable or literal, one more than its
    /// deepest sub-expression otherwise (a block counts its statements). Computed by the
    /// parser, which refuses trees deeper than [`MAX_NESTING`].
    pub depth: u32,
}

/// The deepest expression nesting (and bracket nesting) the parser accepts. Everything after
/// the parser — lowering, engines, printing, dropping the tree — recurses over the tree, so
/// an unbounded depth would overflow the Rust stack; real programs stay far below this.
pub const MAX_NESTING: u32 = 10_000;
