//! Constructors the grammar's actions call to build the parse tree.
//!
//! Owns: span arithmetic, selector assembly, number conversion and the checks that the
//! grammar expresses better in code than in productions (a `^` only as the last statement).
//! Must never: look at tokens or decide precedence — the grammar has already done that.

use std::str::FromStr;

use lalrpop_util::ParseError;

use super::ast::*;
use super::diagnostics::SyntaxError;
use super::lexer::Tok;

/// The result of a fallible grammar action.
pub type Fallible<'input, T> = Result<T, ParseError<usize, Tok<'input>, SyntaxError>>;

/// Hands an action's own error to the parser, which stops there.
pub fn user<'input, T>(result: Result<T, SyntaxError>) -> Fallible<'input, T> {
    result.map_err(|error| ParseError::User { error })
}

pub fn ident(name: &str, start: usize, end: usize) -> Ident {
    Ident {
        name: name.to_string(),
        span: Span::new(start, end),
    }
}

/// The depth of an expression of `kind`: one more than its deepest direct sub-expression.
fn depth_of(kind: &ExprKind) -> u32 {
    let deepest = |exprs: &[Expr]| exprs.iter().map(|e| e.depth).max().unwrap_or(0);
    let below = match kind {
        ExprKind::Variable(_) | ExprKind::Literal(_) => 0,
        ExprKind::Assign { value, .. } => value.depth,
        ExprKind::Send { receiver, args, .. } => receiver.depth.max(deepest(args)),
        ExprKind::Block(block) => deepest(&block.body.statements),
        ExprKind::Return(value) => value.depth,
    };
    below.saturating_add(1)
}

/// An expression node, or the error that it nests deeper than [`MAX_NESTING`]: every
/// constructor of a node with sub-expressions goes through here, so the parser stops at the
/// first node that crosses the limit and no deeper tree is ever built (or dropped).
fn node(kind: ExprKind, span: Span) -> Result<Expr, SyntaxError> {
    let depth = depth_of(&kind);
    if depth > MAX_NESTING {
        // Point at the part of this node that added the level: the selector of a send, the
        // start of anything else.
        let at = match &kind {
            ExprKind::Send { selector_span, .. } => *selector_span,
            _ => Span {
                start: span.start,
                end: span.start.saturating_add(1),
            },
        };
        return Err(SyntaxError {
            message: format!(
                "expression nested too deeply (more than {MAX_NESTING} levels): split it into \
                 several statements or methods"
            ),
            span: at,
        });
    }
    Ok(Expr { kind, span, depth })
}

pub fn expr(kind: ExprKind, start: usize, end: usize) -> Result<Expr, SyntaxError> {
    node(kind, Span::new(start, end))
}

/// A variable read: a leaf.
pub fn variable(name: Ident) -> Expr {
    Expr {
        kind: ExprKind::Variable(name.name),
        span: name.span,
        depth: 1,
    }
}

/// A parenthesised expression keeps its node; only its span grows to cover the parentheses,
/// so a send whose receiver is `(a + b)` starts at the `(`.
pub fn parenthesised(mut inner: Expr, start: usize, end: usize) -> Expr {
    inner.span = Span::new(start, end);
    inner
}

pub fn integer(digits: &str, negative: bool) -> Literal {
    let value = super::number::parse_integer(digits).expect("the lexer only passes ASCII digits");
    Literal::Integer(if negative { -value } else { value })
}

pub fn double(text: &str, negative: bool) -> Literal {
    let value = f64::from_str(text).expect("the lexer only passes digits '.' digits");
    Literal::Double(if negative { -value } else { value })
}

pub fn unary_send(receiver: Expr, selector: Ident) -> Result<Expr, SyntaxError> {
    let span = receiver.span.to(selector.span);
    node(
        ExprKind::Send {
            receiver: Box::new(receiver),
            selector: selector.name,
            selector_span: selector.span,
            args: Vec::new(),
        },
        span,
    )
}

pub fn binary_send(receiver: Expr, selector: Ident, arg: Expr) -> Result<Expr, SyntaxError> {
    let span = receiver.span.to(arg.span);
    node(
        ExprKind::Send {
            receiver: Box::new(receiver),
            selector: selector.name,
            selector_span: selector.span,
            args: vec![arg],
        },
        span,
    )
}

/// `parts` are the keywords with their arguments in order; the selector span runs from the
/// first keyword to the last.
pub fn keyword_send(receiver: Expr, parts: Vec<(Ident, Expr)>) -> Result<Expr, SyntaxError> {
    let first = parts
        .first()
        .expect("the grammar gives at least one keyword")
        .0
        .span;
    let last = parts.last().expect("at least one").0.span;
    let mut selector = String::new();
    let mut args = Vec::with_capacity(parts.len());
    for (keyword, arg) in parts {
        selector.push_str(&keyword.name);
        args.push(arg);
    }
    let end = args.last().map_or(last, |a| a.span);
    let span = receiver.span.to(end);
    node(
        ExprKind::Send {
            receiver: Box::new(receiver),
            selector,
            selector_span: first.to(last),
            args,
        },
        span,
    )
}

pub fn assign(targets: Vec<Ident>, value: Expr) -> Result<Expr, SyntaxError> {
    let span = targets
        .first()
        .map_or(value.span, |t| t.span)
        .to(value.span);
    node(
        ExprKind::Assign {
            targets,
            value: Box::new(value),
        },
        span,
    )
}

/// Builds a body and rejects a `^` that is not the last statement. Accepting `^` anywhere in
/// the grammar and checking here gives that mistake its own message instead of a bare
/// "unexpected token".
pub fn body(
    locals: Vec<Ident>,
    statements: Vec<Expr>,
    start: usize,
    end: usize,
) -> Result<Body, SyntaxError> {
    let before_last = statements.len().saturating_sub(1);
    if let Some(misplaced) = statements[..before_last]
        .iter()
        .find(|s| matches!(s.kind, ExprKind::Return(_)))
    {
        let at = misplaced.span.start;
        return Err(SyntaxError {
            message: "a return (`^`) must be the last statement of a body".into(),
            span: Span {
                start: at,
                end: at + 1,
            },
        });
    }
    Ok(Body {
        locals,
        statements,
        span: Span::new(start, end),
    })
}

/// A method pattern before its body is known: selector, kind, parameters and where it starts.
pub struct Pattern {
    pub selector: String,
    pub kind: PatternKind,
    pub params: Vec<Ident>,
    pub start: usize,
}

pub fn unary_pattern(name: Ident) -> Pattern {
    Pattern {
        start: name.span.start as usize,
        selector: name.name,
        kind: PatternKind::Unary,
        params: Vec::new(),
    }
}

pub fn binary_pattern(op: Ident, param: Ident) -> Pattern {
    Pattern {
        start: op.span.start as usize,
        selector: op.name,
        kind: PatternKind::Binary,
        params: vec![param],
    }
}

pub fn keyword_pattern(parts: Vec<(Ident, Ident)>) -> Pattern {
    let start = parts.first().map_or(0, |(k, _)| k.span.start as usize);
    let mut selector = String::new();
    let mut params = Vec::with_capacity(parts.len());
    for (keyword, param) in parts {
        selector.push_str(&keyword.name);
        params.push(param);
    }
    Pattern {
        selector,
        kind: PatternKind::Keyword,
        params,
        start,
    }
}

pub fn method(pattern: Pattern, body: MethodBody, end: usize) -> MethodDef {
    MethodDef {
        selector: pattern.selector,
        kind: pattern.kind,
        params: pattern.params,
        body,
        span: Span::new(pattern.start, end),
    }
}

/// One side of a class: its fields and methods.
pub type Side = (Vec<Ident>, Vec<MethodDef>);

pub fn class(
    name: Ident,
    superclass: Option<Ident>,
    instance: Side,
    class_side: Option<Side>,
    end: usize,
) -> ClassDef {
    let (class_fields, class_methods) = class_side.unwrap_or_default();
    let span = Span::new(name.span.start as usize, end);
    ClassDef {
        name,
        superclass,
        instance_fields: instance.0,
        instance_methods: instance.1,
        class_fields,
        class_methods,
        span,
    }
}
