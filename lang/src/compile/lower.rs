//! Lowering of one method (and the blocks inside it) to `hir::Code`.
//!
//! Variables captured by a real (not inlined) block live in a heap context; all others in
//! frame slots. Which variables are captured is found by a dry run of the same lowering,
//! so the walk that decides scoping and inlining exists exactly once.
//!
//! A literal block whose own parameters or locals are captured by a closure is not inlined:
//! each evaluation of it must have fresh variables (`1 to: 3 do: [:i | blocks add: [i]]`
//! collects three different `i`s), which a real block activation gives. Not inlining a block
//! changes which activation owns its variables, so dry runs repeat until that set is stable.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, DefaultHasher};

/// Fixed-key hashing: the same program executes the same instructions on every run (exact
/// instruction counts under callgrind must be reproducible).
type Fixed = BuildHasherDefault<DefaultHasher>;

use crate::compile::hir::{Code, Expr, If, Send, Test, ToDo, Var};
use crate::runtime::method::MethodBody;
use crate::runtime::universe::Universe;
use crate::runtime::value::Value;
use crate::syntax::ast::{self, ExprKind, Literal, Span};
use crate::syntax::SyntaxError;

/// Byte offset to line number, for a source text.
pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(source: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i as u32 + 1));
        LineIndex { starts }
    }
    pub fn line(&self, offset: u32) -> u32 {
        match self.starts.binary_search(&offset) {
            Ok(i) => i as u32 + 1,
            Err(i) => i as u32,
        }
    }
}

/// What a method's body can see of its class.
pub struct ClassScope<'a> {
    /// Field names visible to the method: instance fields, or class-side fields for a
    /// class-side method.
    pub fields: &'a [String],
    pub lines: &'a LineIndex,
    /// The class that will hold the method (blocks are given the same holder).
    pub holder: &'static crate::runtime::class::Class,
}

/// Lowers a method with code (not a primitive).
pub fn lower_method(
    u: &mut Universe,
    scope: &ClassScope,
    def: &ast::MethodDef,
    body: &ast::Body,
) -> Result<Code, SyntaxError> {
    // Dry runs: learn which variables are captured, which activations need a context, and
    // which literal blocks must stay real blocks.
    let mut not_inlined = HashSet::default();
    loop {
        let mut dry = Lowerer::new(u, scope, true, Captures::default(), not_inlined.clone());
        dry.method(def, body)?;
        let found = std::mem::take(&mut dry.found);
        let before = not_inlined.len();
        for (block, decls) in &dry.inlined_blocks {
            if decls.iter().any(|d| found.vars.contains(d)) {
                not_inlined.insert(*block);
            }
        }
        if not_inlined.len() == before {
            let mut real = Lowerer::new(u, scope, false, found, not_inlined);
            return real.method(def, body);
        }
    }
}

#[derive(Default)]
struct Captures {
    /// Declarations (by span start of the declaring identifier) read or written from an
    /// activation other than their own.
    vars: HashSet<u32, Fixed>,
    /// Activations (by span start of their body) that own at least one captured variable.
    activations: HashSet<u32, Fixed>,
}

enum Storage {
    Slot(u32),
    Context(u32),
}

struct Binding {
    name: String,
    decl: u32,
    activation: usize,
    storage: Storage,
}

struct Activation {
    key: u32,
    is_block: bool,
    has_context: bool,
    next_slot: u32,
    next_context: u32,
    captured_params: Vec<(u32, u32)>,
}

struct Lowerer<'u, 'a> {
    u: &'u mut Universe,
    scope: &'a ClassScope<'a>,
    dry: bool,
    known: Captures,
    found: Captures,
    bindings: Vec<Binding>,
    activations: Vec<Activation>,
    /// The selector of the method being lowered (blocks are named after it).
    current_selector: Value,
    /// Literal blocks (by span start) that must not be inlined.
    not_inlined: HashSet<u32, Fixed>,
    /// Each inlined block (by span start) with the declarations it introduced.
    inlined_blocks: Vec<(u32, Vec<u32>)>,
}

fn err(message: impl Into<String>, span: Span) -> SyntaxError {
    SyntaxError {
        message: message.into(),
        span,
    }
}

fn literal_block(e: &ast::Expr, params: usize) -> Option<&ast::Block> {
    match &e.kind {
        ExprKind::Block(b) if b.params.len() == params => Some(b),
        _ => None,
    }
}

impl<'u, 'a> Lowerer<'u, 'a> {
    fn new(
        u: &'u mut Universe,
        scope: &'a ClassScope<'a>,
        dry: bool,
        known: Captures,
        not_inlined: HashSet<u32, Fixed>,
    ) -> Self {
        Lowerer {
            u,
            scope,
            dry,
            known,
            found: Captures::default(),
            bindings: Vec::new(),
            activations: Vec::new(),
            current_selector: Value::EMPTY,
            not_inlined,
            inlined_blocks: Vec::new(),
        }
    }

    /// `e` as a literal block with `params` parameters that may be inlined.
    fn inlinable<'e>(&self, e: &'e ast::Expr, params: usize) -> Option<&'e ast::Block> {
        literal_block(e, params).filter(|b| !self.not_inlined.contains(&b.span.start))
    }

    fn line(&self, span: Span) -> u32 {
        self.scope.lines.line(span.start)
    }

    // ---- activations and variables ------------------------------------------------------------

    fn enter_activation(&mut self, key: u32, is_block: bool) {
        let has_context = self.known.activations.contains(&key);
        self.activations.push(Activation {
            key,
            is_block,
            has_context,
            next_slot: 1,
            next_context: 1, // value 0 of a context is its outer link
            captured_params: Vec::new(),
        });
    }

    /// Declares a variable in the current activation; answers its storage.
    fn declare(&mut self, ident: &ast::Ident, is_param: bool) -> Result<Var, SyntaxError> {
        if matches!(
            ident.name.as_str(),
            "self" | "super" | "nil" | "true" | "false"
        ) {
            return Err(err(
                format!("'{}' is a reserved name and cannot be declared", ident.name),
                ident.span,
            ));
        }
        let activation = self.activations.len() - 1;
        let act = self.activations.last_mut().unwrap();
        let slot = act.next_slot;
        act.next_slot += 1;
        let storage = if self.known.vars.contains(&ident.span.start) {
            let index = act.next_context;
            act.next_context += 1;
            if is_param {
                act.captured_params.push((slot, index));
            }
            Storage::Context(index)
        } else {
            Storage::Slot(slot)
        };
        let var = match storage {
            Storage::Slot(s) => Var::Slot(s),
            Storage::Context(index) => Var::Context { level: 0, index },
        };
        self.bindings.push(Binding {
            name: ident.name.clone(),
            decl: ident.span.start,
            activation,
            storage,
        });
        Ok(var)
    }

    fn resolve(&mut self, name: &str) -> Option<Var> {
        let b = self.bindings.iter().rev().find(|b| b.name == name)?;
        let current = self.activations.len() - 1;
        if b.activation != current {
            self.found.vars.insert(b.decl);
            self.found
                .activations
                .insert(self.activations[b.activation].key);
        }
        Some(match b.storage {
            Storage::Slot(s) if b.activation == current => Var::Slot(s),
            // Only reached in the dry run (the real run knows the variable is captured).
            Storage::Slot(s) => Var::Slot(s),
            Storage::Context(index) => {
                // One hop outward per activation between here and the owner that has its own
                // context (each such context's outer link leads toward the owner's).
                let level = self.activations[b.activation + 1..=current]
                    .iter()
                    .filter(|a| a.has_context)
                    .count();
                Var::Context {
                    level: level as u32,
                    index,
                }
            }
        })
    }

    fn in_block(&self) -> bool {
        self.activations.last().is_some_and(|a| a.is_block)
    }

    // ---- methods and blocks ---------------------------------------------------------------------

    fn method(&mut self, def: &ast::MethodDef, body: &ast::Body) -> Result<Code, SyntaxError> {
        self.current_selector = self.u.intern(&def.selector);
        self.enter_activation(body.span.start, false);
        for p in &def.params {
            self.declare(p, true)?;
        }
        let mut stmts = self.body_statements(body)?;
        match stmts.pop() {
            Some(Expr::Return(e)) => stmts.push(*e),
            Some(last) => {
                stmts.push(last);
                stmts.push(Expr::SelfRef);
            }
            None => stmts.push(Expr::SelfRef),
        }
        let act = self.activations.pop().unwrap();
        self.bindings.clear();
        let mut code = Code {
            params: def.params.len() as u32,
            locals: act.next_slot - 1 - def.params.len() as u32,
            context_size: if act.has_context { act.next_context } else { 0 },
            captured_params: act.captured_params,
            body: seq(stmts),
            is_block: false,
            line: self.line(def.span),
            trivial: None,
        };
        // Class-side methods read fields of a class object, not of an ordinary one: they are
        // never treated as trivial, so the shortcut only ever touches ordinary objects.
        if !self.scope.holder.is_metaclass {
            code.trivial = code.classify_trivial();
        }
        Ok(code)
    }

    fn block(&mut self, b: &ast::Block) -> Result<Expr, SyntaxError> {
        self.enter_activation(b.span.start, true);
        let mark = self.bindings.len();
        for p in &b.params {
            self.declare(p, true)?;
        }
        let mut stmts = self.body_statements(&b.body)?;
        if stmts.is_empty() {
            stmts.push(Expr::Const(self.u.nil));
        }
        self.bindings.truncate(mark);
        let act = self.activations.pop().unwrap();
        if self.dry {
            return Ok(Expr::Const(self.u.nil));
        }
        let code = Code {
            params: b.params.len() as u32,
            locals: act.next_slot - 1 - b.params.len() as u32,
            context_size: if act.has_context { act.next_context } else { 0 },
            captured_params: act.captured_params,
            body: seq(stmts),
            is_block: true,
            line: self.line(b.span),
            trivial: None,
        };
        // A block's signature is its home method's selector, for backtraces.
        let signature = self.current_selector;
        let m = self
            .u
            .new_method(signature, b.params.len(), MethodBody::Code(code));
        m.holder.set(Some(self.scope.holder));
        Ok(Expr::Block(m))
    }

    /// Declares the locals of a body and lowers its statements.
    fn body_statements(&mut self, body: &ast::Body) -> Result<Vec<Expr>, SyntaxError> {
        for l in &body.locals {
            self.declare(l, false)?;
        }
        body.statements.iter().map(|s| self.expr(s)).collect()
    }

    /// The body of a literal block that is inlined into the current activation: its
    /// parameters become variables of this activation (`param_vars` receives them), its
    /// locals are reset to nil on every entry.
    fn inlined(&mut self, b: &ast::Block, param_vars: &mut Vec<Var>) -> Result<Expr, SyntaxError> {
        let mark = self.bindings.len();
        let decls = b
            .params
            .iter()
            .chain(&b.body.locals)
            .map(|i| i.span.start)
            .collect();
        self.inlined_blocks.push((b.span.start, decls));
        for p in &b.params {
            let v = self.declare(p, false)?;
            param_vars.push(v);
        }
        let mut stmts = Vec::new();
        for l in &b.body.locals {
            let v = self.declare(l, false)?;
            stmts.push(Expr::Write(v, Box::new(Expr::Const(self.u.nil))));
        }
        for s in &b.body.statements {
            stmts.push(self.expr(s)?);
        }
        if b.body.statements.is_empty() {
            stmts.push(Expr::Const(self.u.nil));
        }
        self.bindings.truncate(mark);
        Ok(seq(stmts))
    }

    fn inlined0(&mut self, b: &ast::Block) -> Result<Expr, SyntaxError> {
        self.inlined(b, &mut Vec::new())
    }

    // ---- expressions ------------------------------------------------------------------------------

    fn expr(&mut self, e: &ast::Expr) -> Result<Expr, SyntaxError> {
        Ok(match &e.kind {
            ExprKind::Variable(name) => self.variable(name, e.span),
            ExprKind::Assign { targets, value } => {
                let mut result = self.expr(value)?;
                for t in targets.iter().rev() {
                    result = self.assign(t, result)?;
                }
                result
            }
            ExprKind::Literal(l) => Expr::Const(self.literal(l)),
            ExprKind::Block(b) => self.block(b)?,
            ExprKind::Return(v) => {
                let v = Box::new(self.expr(v)?);
                if self.in_block() {
                    Expr::NonLocalReturn(v, self.line(e.span))
                } else {
                    Expr::Return(v)
                }
            }
            ExprKind::Send {
                receiver,
                selector,
                args,
                ..
            } => self.send(e, receiver, selector, args)?,
        })
    }

    fn variable(&mut self, name: &str, span: Span) -> Expr {
        match name {
            "self" | "super" => return Expr::SelfRef,
            "nil" => return Expr::Const(self.u.nil),
            "true" => return Expr::Const(self.u.true_),
            "false" => return Expr::Const(self.u.false_),
            _ => {}
        }
        if let Some(v) = self.resolve(name) {
            return Expr::Read(v);
        }
        if let Some(i) = self.scope.fields.iter().rposition(|f| f == name) {
            return Expr::ReadField(i as u32);
        }
        Expr::Global(self.u.intern(name), self.line(span))
    }

    fn assign(&mut self, target: &ast::Ident, value: Expr) -> Result<Expr, SyntaxError> {
        let name = target.name.as_str();
        if matches!(name, "self" | "super" | "nil" | "true" | "false") {
            return Err(err(format!("cannot assign to '{name}'"), target.span));
        }
        if let Some(v) = self.resolve(name) {
            return Ok(Expr::Write(v, Box::new(value)));
        }
        if let Some(i) = self.scope.fields.iter().rposition(|f| f == name) {
            return Ok(Expr::WriteField(i as u32, Box::new(value)));
        }
        Err(err(format!("cannot assign to '{name}': it is not a local, argument or field (globals are read-only)"), target.span))
    }

    fn literal(&mut self, l: &Literal) -> Value {
        match l {
            Literal::Integer(i) => self.u.permanent_integer(i),
            Literal::Double(d) => self.u.permanent_double(*d),
            Literal::String(s) => self.u.new_permanent_string(s),
            Literal::Symbol(s) => self.u.intern(s),
            Literal::Array(items) => {
                let values: Vec<Value> = items.iter().map(|i| self.literal(i)).collect();
                self.u.new_permanent_array(&values)
            }
        }
    }

    fn send(
        &mut self,
        e: &ast::Expr,
        receiver: &ast::Expr,
        selector: &str,
        args: &[ast::Expr],
    ) -> Result<Expr, SyntaxError> {
        let line = self.line(e.span);
        if let Some(inlined) = self.try_inline(receiver, selector, args, line)? {
            return Ok(inlined);
        }
        let is_super = matches!(&receiver.kind, ExprKind::Variable(n) if n == "super");
        let receiver = if is_super {
            None
        } else {
            Some(self.expr(receiver)?)
        };
        let args = args
            .iter()
            .map(|a| self.expr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let selector = self.u.intern(selector);
        Ok(Expr::Send(Box::new(Send {
            selector,
            receiver,
            args,
            line,
        })))
    }

    /// Control structures with literal block arguments become dedicated constructs.
    fn try_inline(
        &mut self,
        receiver: &ast::Expr,
        selector: &str,
        args: &[ast::Expr],
        line: u32,
    ) -> Result<Option<Expr>, SyntaxError> {
        let test = |s: &str| match s {
            "ifTrue:" => Some(Test::IsTrue),
            "ifFalse:" => Some(Test::IsFalse),
            "ifNil:" => Some(Test::IsNil),
            "ifNotNil:" => Some(Test::NotNil),
            _ => None,
        };
        let sel = self.u.intern(selector);
        Ok(Some(match selector {
            "ifTrue:" | "ifFalse:" | "ifNil:" => {
                let Some(b) = self.inlinable(&args[0], 0) else {
                    return Ok(None);
                };
                let value = self.expr(receiver)?;
                let then = self.inlined0(b)?;
                Expr::If(Box::new(If {
                    value,
                    test: test(selector).unwrap(),
                    bind: None,
                    then,
                    otherwise: None,
                    selector: sel,
                    line,
                }))
            }
            "ifNotNil:" => {
                let Some(b) = self
                    .inlinable(&args[0], 0)
                    .or_else(|| self.inlinable(&args[0], 1))
                else {
                    return Ok(None);
                };
                let value = self.expr(receiver)?;
                let mut vars = Vec::new();
                let then = self.inlined(b, &mut vars)?;
                Expr::If(Box::new(If {
                    value,
                    test: Test::NotNil,
                    bind: vars.pop(),
                    then,
                    otherwise: None,
                    selector: sel,
                    line,
                }))
            }
            "ifTrue:ifFalse:" | "ifFalse:ifTrue:" | "ifNil:ifNotNil:" | "ifNotNil:ifNil:" => {
                let first = &selector[..selector.find(':').unwrap() + 1];
                let not_nil_first = first == "ifNotNil:";
                let not_nil_arg = if selector == "ifNil:ifNotNil:" { 1 } else { 0 };
                let takes_value =
                    |i: usize| (selector == "ifNil:ifNotNil:" || not_nil_first) && i == not_nil_arg;
                let ok = (0..2).all(|i| {
                    self.inlinable(&args[i], 0).is_some()
                        || (takes_value(i) && self.inlinable(&args[i], 1).is_some())
                });
                if !ok {
                    return Ok(None);
                }
                let value = self.expr(receiver)?;
                let mut vars = Vec::new();
                let b0 = self
                    .inlinable(&args[0], 0)
                    .or_else(|| self.inlinable(&args[0], 1))
                    .unwrap();
                let b1 = self
                    .inlinable(&args[1], 0)
                    .or_else(|| self.inlinable(&args[1], 1))
                    .unwrap();
                let then = self.inlined(b0, &mut vars)?;
                let otherwise = self.inlined(b1, &mut vars)?;
                Expr::If(Box::new(If {
                    value,
                    test: test(first).unwrap(),
                    bind: vars.pop(),
                    then,
                    otherwise: Some(otherwise),
                    selector: sel,
                    line,
                }))
            }
            "whileTrue:" | "whileFalse:" => {
                let (Some(c), Some(b)) = (self.inlinable(receiver, 0), self.inlinable(&args[0], 0))
                else {
                    return Ok(None);
                };
                let cond = self.inlined0(c)?;
                let body = self.inlined0(b)?;
                Expr::While {
                    cond: Box::new(cond),
                    line,
                    while_true: selector == "whileTrue:",
                    body: Box::new(body),
                }
            }
            "to:do:" | "downTo:do:" | "to:by:do:" => {
                let last = args.len() - 1;
                let Some(b) = self.inlinable(&args[last], 1) else {
                    return Ok(None);
                };
                let from = self.expr(receiver)?;
                let to = self.expr(&args[0])?;
                let by = if selector == "to:by:do:" {
                    Some(self.expr(&args[1])?)
                } else {
                    None
                };
                let down = selector == "downTo:do:";
                let by = if down {
                    Some(Expr::Const(Value::small_int(-1)))
                } else {
                    by
                };
                let mut vars = Vec::new();
                let body = self.inlined(b, &mut vars)?;
                Expr::ToDo(Box::new(ToDo {
                    var: vars[0],
                    from,
                    to,
                    by,
                    down,
                    body,
                    line,
                }))
            }
            "timesRepeat:" => {
                let Some(b) = self.inlinable(&args[0], 0) else {
                    return Ok(None);
                };
                let count = self.expr(receiver)?;
                let body = self.inlined0(b)?;
                Expr::TimesRepeat {
                    count: Box::new(count),
                    line,
                    body: Box::new(body),
                }
            }
            "and:" | "or:" | "&&" | "||" => {
                let Some(b) = self.inlinable(&args[0], 0) else {
                    return Ok(None);
                };
                let left = self.expr(receiver)?;
                let right = self.inlined0(b)?;
                Expr::AndOr {
                    left: Box::new(left),
                    line,
                    right: Box::new(right),
                    and: selector == "and:" || selector == "&&",
                }
            }
            _ => return Ok(None),
        }))
    }
}

fn seq(mut stmts: Vec<Expr>) -> Expr {
    if stmts.len() == 1 {
        stmts.pop().unwrap()
    } else {
        Expr::Seq(stmts)
    }
}
