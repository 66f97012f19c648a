//! Message sending, shared by both engines and the primitives: method lookup with a global
//! cache, inline caches for send sites, invocation of primitives and code, and the
//! `doesNotUnderstand:arguments:` protocol.
//!
//! Owns: what a send means. Must never: walk method bodies (engines do that).

use std::cell::Cell;

use crate::compile::hir::Trivial;
use crate::gc::Kind;
use crate::runtime::class::Class;
use crate::runtime::engine::{Engine, Result};
use crate::runtime::method::{Method, MethodBody};
use crate::runtime::object;
use crate::runtime::universe::Universe;
use crate::runtime::value::Value;

/// The most arguments a primitive takes, receiver included (`perform:withArguments:inSuperclass:`).
pub const MAX_PRIMITIVE_ARGS: usize = 4;

/// A send site's polymorphic inline cache: a few (class, method) pairs, then megamorphic.
pub struct InlineCache {
    entries: [Cell<Option<(&'static Class, &'static Method)>>; INLINE_CACHE_SIZE],
    megamorphic: Cell<bool>,
}

pub const INLINE_CACHE_SIZE: usize = 4;

impl Default for InlineCache {
    fn default() -> Self {
        InlineCache {
            entries: Default::default(),
            megamorphic: Cell::new(false),
        }
    }
}

impl InlineCache {
    /// The method `selector` names for receivers of `class`, from the cache or by lookup
    /// (filling the cache). `None`: the class does not understand the selector.
    #[inline(always)]
    pub fn lookup(
        &self,
        u: &mut Universe,
        class: &'static Class,
        selector: Value,
    ) -> Option<&'static Method> {
        for e in &self.entries {
            match e.get() {
                Some((c, m)) if std::ptr::eq(c, class) => return Some(m),
                Some(_) => continue,
                None => break,
            }
        }
        self.miss(u, class, selector)
    }

    #[inline(never)]
    fn miss(
        &self,
        u: &mut Universe,
        class: &'static Class,
        selector: Value,
    ) -> Option<&'static Method> {
        let m = u.lookup(class, selector)?;
        if !self.megamorphic.get() {
            match self.entries.iter().find(|e| e.get().is_none()) {
                Some(free) => free.set(Some((class, m))),
                None => self.megamorphic.set(true),
            }
        }
        Some(m)
    }

    pub fn is_megamorphic(&self) -> bool {
        self.megamorphic.get()
    }

    /// Forgets every entry (after methods were added to a class).
    pub fn flush(&self) {
        for e in &self.entries {
            e.set(None);
        }
        self.megamorphic.set(false);
    }
}

/// Invokes `method` with the receiver and `nargs` arguments on top of the stack (consumed).
#[inline]
pub fn invoke<E: Engine + AsDynEngine + ?Sized>(
    engine: &mut E,
    method: &'static Method,
    nargs: usize,
) -> Result<Value> {
    match &method.body {
        MethodBody::Code(_) => engine.run_code(method, nargs),
        MethodBody::Primitive(f, _) => {
            let u = engine.universe();
            let sp = u.stack.len();
            let base = sp - nargs - 1;
            let mut args = [Value::EMPTY; MAX_PRIMITIVE_ARGS];
            args[..=nargs].copy_from_slice(&u.stack[base..sp]);
            let result = f(engine.as_dyn(), &args[..=nargs]);
            engine.universe().stack.truncate(base);
            result
        }
        MethodBody::MissingPrimitive => {
            let u = engine.universe();
            let sp = u.stack.len();
            u.stack.truncate(sp - nargs - 1);
            Err(u.error(format!(
                "primitive {} is declared but not implemented by this runtime",
                method.display_name()
            )))
        }
    }
}

/// Lets generic code hand an engine to primitives, which take `&mut dyn Engine`.
pub trait AsDynEngine {
    fn as_dyn(&mut self) -> &mut dyn Engine;
}
impl<E: Engine> AsDynEngine for E {
    fn as_dyn(&mut self) -> &mut dyn Engine {
        self
    }
}
impl AsDynEngine for dyn Engine + '_ {
    fn as_dyn(&mut self) -> &mut dyn Engine {
        self
    }
}

/// Sends `selector` to the receiver below `nargs` arguments on top of the stack (consumed).
pub fn send<E: Engine + AsDynEngine + ?Sized>(
    engine: &mut E,
    selector: Value,
    nargs: usize,
) -> Result<Value> {
    let u = engine.universe();
    let receiver = u.stack[u.stack.len() - nargs - 1];
    let class = u.class_of(receiver);
    match u.lookup(class, selector) {
        Some(m) => invoke(engine, m, nargs),
        None => does_not_understand(engine, selector, nargs),
    }
}

/// Sends `selector` to the receiver on the stack, starting lookup at `class` (super sends).
pub fn send_to_class<E: Engine + AsDynEngine + ?Sized>(
    engine: &mut E,
    class: &'static Class,
    selector: Value,
    nargs: usize,
) -> Result<Value> {
    let u = engine.universe();
    match u.lookup(class, selector) {
        Some(m) => invoke(engine, m, nargs),
        None => does_not_understand(engine, selector, nargs),
    }
}

/// Replaces the receiver and arguments on the stack by `receiver selector argsArray` and
/// sends `doesNotUnderstand:arguments:`.
#[inline(never)]
pub fn does_not_understand<E: Engine + AsDynEngine + ?Sized>(
    engine: &mut E,
    selector: Value,
    nargs: usize,
) -> Result<Value> {
    let u = engine.universe();
    let base = u.stack.len() - nargs - 1;
    let array = u.new_array(nargs)?;
    for i in 0..nargs {
        object::init_value_at(array, i, u.stack[base + 1 + i]);
    }
    u.stack.truncate(base + 1);
    u.stack.push(selector);
    u.stack.push(array);
    let receiver = u.stack[base];
    let class = u.class_of(receiver);
    let dnu = u.symbols.does_not_understand;
    match u.lookup(class, dnu) {
        Some(m) => invoke(engine, m, 2),
        None => {
            let u = engine.universe();
            u.stack.truncate(base);
            Err(u.error(format!(
                "{} does not understand {} (and has no doesNotUnderstand:arguments:)",
                class.name_str(),
                object::str(selector)
            )))
        }
    }
}

/// Evaluates the block on the stack below `nargs` arguments (consumed), checking arity.
pub fn call_block<E: Engine + AsDynEngine + ?Sized>(engine: &mut E, nargs: usize) -> Result<Value> {
    let u = engine.universe();
    let block = u.stack[u.stack.len() - nargs - 1];
    debug_assert!(block.is_ref() && object::kind(block) == Kind::Block);
    let method = Method::from_value(object::value_at(block, object::BLOCK_METHOD));
    if method.params != nargs {
        let base = u.stack.len() - nargs - 1;
        u.stack.truncate(base);
        return Err(u.error(format!(
            "a block with {} parameter(s) was called with {} argument(s)",
            method.params, nargs
        )));
    }
    engine.run_code(method, nargs)
}

/// For a binary send of `selector`: whether an engine may compute it directly on small
/// integers (`.0`) and on doubles (`.1`). Only while the receiver class's method is the
/// primitive that the shortcut mirrors (a classpath may supply its own Integer or Double);
/// the comparisons `>`, `<=`, `>=` count as mirrored when `<` is the primitive.
pub fn arithmetic_shortcuts(u: &mut Universe, selector: &str) -> (bool, bool) {
    if !matches!(selector, "+" | "-" | "*" | "<" | ">" | "<=" | ">=" | "=") {
        return (false, false);
    }
    let primitive = match selector {
        ">" | "<=" | ">=" => "<",
        s => s,
    };
    let sym = u.intern(primitive);
    let is_primitive = |class: &Class| {
        class
            .lookup(sym)
            .and_then(|m| m.primitive_name())
            .is_some_and(|(_, s)| s == primitive)
    };
    let (integer, double) = (u.core.integer, u.core.double);
    (
        is_primitive(integer),
        is_primitive(double) && selector != "=",
    )
}

/// Runs a trivial method (`hir::Trivial`: a getter, a setter, a constant or `self`) without
/// an activation, on the receiver and `nargs` arguments on top of the stack (consumed).
/// `None`: the method is not trivial, the stack is untouched. Trivial methods cannot fail,
/// send or reach a safepoint, so skipping the activation is not observable.
#[inline(always)]
pub fn run_trivial(u: &mut Universe, m: &Method, nargs: usize) -> Option<Value> {
    let MethodBody::Code(code) = &m.body else {
        return None;
    };
    let trivial = code.trivial?;
    let base = u.stack.len() - nargs - 1;
    let receiver = u.stack[base];
    let answer = match trivial {
        Trivial::Field(i) => object::value_at(receiver, i as usize),
        Trivial::SetField(i) => {
            let v = u.stack[base + 1];
            u.store(receiver, i as usize, v);
            receiver
        }
        Trivial::Constant(v) => v,
        Trivial::Receiver => receiver,
    };
    u.stack.truncate(base);
    Some(answer)
}

/// A global read site's cache: the global's cell, found on first use (cells never move, and
/// a later definition of the global fills the same cell).
pub struct GlobalCache {
    pub name: Value,
    cell: Cell<Option<&'static Cell<Value>>>,
}

impl GlobalCache {
    pub fn new(name: Value) -> GlobalCache {
        GlobalCache {
            name,
            cell: Cell::new(None),
        }
    }

    /// The global's value; `None` while it is undefined (then the engine sends
    /// `unknownGlobal:` through `unknown_global`).
    #[inline(always)]
    pub fn read(&self, u: &mut Universe) -> Option<Value> {
        Some(self.cell(u).get()).filter(|v| *v != Value::EMPTY)
    }

    /// The global's cell (a defined global stays defined; its value may change).
    #[inline(always)]
    pub fn cell(&self, u: &mut Universe) -> &'static Cell<Value> {
        match self.cell.get() {
            Some(c) => c,
            None => {
                let c = u.global_cell(self.name);
                self.cell.set(Some(c));
                c
            }
        }
    }
}

/// Sends `unknownGlobal: name` to `receiver` (the reader's self) and answers the result.
pub fn unknown_global<E: Engine + AsDynEngine + ?Sized>(
    engine: &mut E,
    receiver: Value,
    name: Value,
) -> Result<Value> {
    let u = engine.universe();
    u.stack.push(receiver);
    u.stack.push(name);
    let selector = u.symbols.unknown_global;
    send(engine, selector, 1)
}

/// A super send site's cache: lookup starts at the superclass of the lexically enclosing
/// method's holder, so the method found never changes once classes are loaded.
pub struct SuperCache {
    lookup_class: Option<&'static Class>,
    method: Cell<Option<&'static Method>>,
}

impl SuperCache {
    pub fn new(lookup_class: Option<&'static Class>) -> SuperCache {
        SuperCache {
            lookup_class,
            method: Cell::new(None),
        }
    }

    pub fn lookup_class(&self) -> Option<&'static Class> {
        self.lookup_class
    }

    #[inline(always)]
    pub fn lookup(&self, u: &mut Universe, selector: Value) -> Option<&'static Method> {
        if let Some(m) = self.method.get() {
            return Some(m);
        }
        let m = self.lookup_class.and_then(|c| u.lookup(c, selector));
        self.method.set(m);
        m
    }
}
