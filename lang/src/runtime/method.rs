//! Methods: permanent objects pairing a selector with either a primitive or resolved code.
//!
//! Owns: the `Method` structure, including the slot in which an engine keeps its own
//! executable form of the code. Must never: execute anything.

use std::any::Any;
use std::cell::{Cell, OnceCell};

use crate::compile::hir::Code;
use crate::gc::Header;
use crate::primitives::PrimitiveFn;
use crate::runtime::class::Class;
use crate::runtime::object;
use crate::runtime::value::Value;

pub enum MethodBody {
    /// A primitive and its index in `primitives::PRIMITIVES` (which names it).
    Primitive(PrimitiveFn, usize),
    /// Declared `primitive` in source, but the runtime has no such primitive.
    MissingPrimitive,
    Code(Code),
}

#[repr(C)]
pub struct Method {
    /// Heap header: class `Method` (code), `Primitive`, or `Method` for block bodies.
    pub header: Header,
    /// A symbol: `at:put:`, or `value:` for a block body.
    pub signature: Value,
    /// The class whose method dictionary holds this (for a block: its home method's holder).
    pub holder: Cell<Option<&'static Class>>,
    pub params: usize,
    pub body: MethodBody,
    /// The engine's executable form, built on first call (engines downcast to their type).
    pub engine_code: OnceCell<Box<dyn Any>>,
    /// A number the running engine may give the method to find its executable form fast
    /// (0: none yet). Only one engine runs per process.
    pub engine_index: Cell<u32>,
}

impl Method {
    pub fn as_value(&'static self) -> Value {
        Value::from_ptr(self as *const Method)
    }

    pub fn from_value(v: Value) -> &'static Method {
        object::permanent_method(v)
    }

    pub fn selector_str(&self) -> &'static str {
        object::str(self.signature)
    }

    pub fn holder(&self) -> &'static Class {
        self.holder
            .get()
            .expect("every installed method has a holder")
    }

    pub fn code(&self) -> Option<&Code> {
        match &self.body {
            MethodBody::Code(c) => Some(c),
            _ => None,
        }
    }

    /// `(class, selector)` of the primitive this method runs, if it is one.
    pub fn primitive_name(&self) -> Option<(&'static str, &'static str)> {
        match &self.body {
            MethodBody::Primitive(_, i) => crate::primitives::PRIMITIVES
                .get(*i)
                .map(|(c, s, _)| (*c, *s)),
            _ => None,
        }
    }

    pub fn is_block(&self) -> bool {
        matches!(&self.body, MethodBody::Code(c) if c.is_block)
    }

    /// `Foo>>bar`, `Foo class>>bar`, `Foo>>bar [block]` for backtraces.
    pub fn display_name(&self) -> String {
        let holder = self.holder.get().map(|c| c.name_str()).unwrap_or("?");
        if self.is_block() {
            format!("{holder}>>{} (block)", self.selector_str())
        } else {
            format!("{holder}>>{}", self.selector_str())
        }
    }
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Method({})", self.display_name())
    }
}
