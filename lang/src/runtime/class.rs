//! Classes and metaclasses: permanent objects holding names, the superclass link, field
//! layouts, method dictionaries and (for a class object) its class-side field values.
//!
//! Owns: the `Class` structure and method lookup along the superclass chain. Must never:
//! load source (that is `loader`) or cache lookups across classes (that is `dispatch`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

/// Fixed-key hashing: the same program executes the same instructions on every run (exact
/// instruction counts under callgrind must be reproducible).
type Fixed = BuildHasherDefault<DefaultHasher>;

use crate::gc::Header;
use crate::runtime::method::Method;
use crate::runtime::object;
use crate::runtime::value::Value;

/// A class or metaclass. Allocated once, never moved or freed: compiled code and inline
/// caches hold `&'static Class`.
#[repr(C)]
pub struct Class {
    /// Heap header: its class word is this class's metaclass (or `Metaclass` for a metaclass).
    pub header: Header,
    /// A symbol: `Foo`, or `Foo class` for a metaclass.
    pub name: Value,
    pub superclass: Cell<Option<&'static Class>>,
    /// Instance field names (symbols), inherited ones first.
    pub instance_fields: RefCell<Vec<Value>>,
    methods: RefCell<HashMap<Value, &'static Method, Fixed>>,
    /// Methods in definition order, for `Class>>methods`.
    method_list: RefCell<Vec<&'static Method>>,
    /// The values of this class object's own fields: the class-side fields that its metaclass
    /// declares (inherited ones first). Roots of every collection.
    pub class_side_values: RefCell<Vec<Value>>,
    pub is_metaclass: bool,
    /// The file this class was loaded from, for backtraces (`-` for none).
    pub source_name: RefCell<String>,
    /// Set once the class has its methods (bootstrap classes exist before they are loaded).
    pub loaded: Cell<bool>,
}

impl Class {
    pub fn new(name: Value, is_metaclass: bool) -> Class {
        Class {
            header: Header::new(
                0,
                crate::gc::Kind::Class,
                crate::gc::header::OLD | crate::gc::header::PERMANENT,
                0,
            ),
            name,
            superclass: Cell::new(None),
            instance_fields: RefCell::new(Vec::new()),
            methods: RefCell::new(HashMap::default()),
            method_list: RefCell::new(Vec::new()),
            class_side_values: RefCell::new(Vec::new()),
            is_metaclass,
            source_name: RefCell::new("-".into()),
            loaded: Cell::new(false),
        }
    }

    pub fn as_value(&'static self) -> Value {
        Value::from_ptr(self as *const Class)
    }

    /// The class a value refers to; the value must be a class (kind `Class`).
    pub fn from_value(v: Value) -> &'static Class {
        Class::try_from_value(v).expect("a class value")
    }

    pub fn try_from_value(v: Value) -> Option<&'static Class> {
        if v.is_ref() && object::kind(v) == crate::gc::Kind::Class {
            Some(class_from_word(v.raw()))
        } else {
            None
        }
    }

    /// The class of this class object: its metaclass, or `Metaclass` for a metaclass.
    pub fn class(&self) -> &'static Class {
        class_from_word(self.header.class_word())
    }

    pub fn name_str(&self) -> &'static str {
        object::str(self.name)
    }

    pub fn add_method(&self, m: &'static Method) {
        let old = self.methods.borrow_mut().insert(m.signature, m);
        let mut list = self.method_list.borrow_mut();
        match old {
            Some(old) => {
                if let Some(slot) = list.iter_mut().find(|x| std::ptr::eq(**x, old)) {
                    *slot = m;
                }
            }
            None => list.push(m),
        }
    }

    pub fn local_method(&self, selector: Value) -> Option<&'static Method> {
        self.methods.borrow().get(&selector).copied()
    }

    pub fn methods(&self) -> Vec<&'static Method> {
        self.method_list.borrow().clone()
    }

    /// Looks `selector` up here and then along the superclass chain.
    pub fn lookup(&self, selector: Value) -> Option<&'static Method> {
        let mut c: Option<&Class> = Some(self);
        while let Some(class) = c {
            if let Some(m) = class.local_method(selector) {
                return Some(m);
            }
            c = class.superclass.get();
        }
        None
    }

    pub fn is_subclass_of(&self, other: &Class) -> bool {
        let mut c: Option<&Class> = Some(self);
        while let Some(class) = c {
            if std::ptr::eq(class, other) {
                return true;
            }
            c = class.superclass.get();
        }
        false
    }
}

/// The `Class` a header class word designates.
#[inline(always)]
pub fn class_from_word(word: u64) -> &'static Class {
    object::permanent_class(word)
}
