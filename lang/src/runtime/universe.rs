//! The universe: everything one running SOM program has — heap, symbols, globals, classes,
//! the value stack and activation records, output, options.
//!
//! Owns: object creation (`new_*`), the class of a value, cached method lookup, interning,
//! globals, the frame records used for backtraces, and safepoints (the only place that
//! collects). Must never: execute SOM code — that is an engine's job.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

/// Fixed-key hashing: the same program executes the same instructions on every run (exact
/// instruction counts under callgrind must be reproducible).
type Fixed = BuildHasherDefault<DefaultHasher>;
use std::io::Write;
use std::time::Instant;

use num_bigint::{BigInt, Sign};
use num_traits::ToPrimitive;

use crate::gc::{GcConfig, Heap, Kind, HEADER_WORDS};
use crate::runtime::class::{class_from_word, Class};
use crate::runtime::engine::{RuntimeError, Unwind};
use crate::runtime::method::{Method, MethodBody};
use crate::runtime::object;
use crate::runtime::value::Value;

/// The classes the runtime itself needs to know.
pub struct CoreClasses {
    pub object: &'static Class,
    pub class: &'static Class,
    pub metaclass: &'static Class,
    pub nil: &'static Class,
    pub boolean: &'static Class,
    pub true_: &'static Class,
    pub false_: &'static Class,
    pub integer: &'static Class,
    pub double: &'static Class,
    pub string: &'static Class,
    pub symbol: &'static Class,
    pub array: &'static Class,
    pub block: &'static Class,
    pub blocks: [&'static Class; 3],
    pub method: &'static Class,
    pub primitive: &'static Class,
    pub system: &'static Class,
}

/// Names of the classes created before any source is read, in load order.
pub const BOOTSTRAP_CLASSES: &[&str] = &[
    "Object",
    "Class",
    "Metaclass",
    "Nil",
    "Boolean",
    "True",
    "False",
    "Integer",
    "Double",
    "String",
    "Symbol",
    "Array",
    "Block",
    "Block1",
    "Block2",
    "Block3",
    "Method",
    "Primitive",
    "System",
];

pub struct Symbols {
    table: HashMap<String, Value, Fixed>,
    pub does_not_understand: Value,
    pub unknown_global: Value,
    pub escaped_block: Value,
    pub initialize: Value,
}

/// One activation, as far as backtraces and non-local returns need to know it.
#[derive(Clone, Copy)]
pub struct Frame {
    pub method: &'static Method,
    /// The source line being executed, kept current at sends and before errors…
    pub line: u32,
    /// …unless the engine records a code position instead (`NO_PC` otherwise), which
    /// `Universe::pc_to_line` maps to a line when a backtrace is made.
    pub pc: u32,
    /// Unique per activation: non-local returns find their home by it.
    pub id: u64,
    /// Where the activation's slots start on the value stack (slot 0: receiver or block).
    pub base: usize,
}

pub const NO_PC: u32 = u32::MAX;

/// The most activations a program may have at once, on every engine (SOM.md asks for at
/// least 10 000); one more is the SOM error "stack exhausted".
pub const MAX_ACTIVATIONS: usize = 100_000;

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub gc_stats: bool,
    /// `system time` and `system ticks` read a counter that advances by one microsecond per
    /// read instead of the clock, so that nothing a program does depends on timing: exact
    /// instruction counts then reproduce (`som --fixed-clock`).
    pub fixed_clock: bool,
    /// The tracing JIT (`som --jit`, …).
    pub jit: crate::tracing::JitOptions,
}

pub struct Universe {
    pub heap: Heap,
    pub symbols: Symbols,
    globals: HashMap<Value, &'static Cell<Value>, Fixed>,
    /// Every class and metaclass: their class-side values are roots.
    pub all_classes: Vec<&'static Class>,
    pub core: CoreClasses,
    pub nil: Value,
    pub true_: Value,
    pub false_: Value,
    pub system: Value,
    /// Directories searched for class files, in order; the embedded library comes after.
    pub classpath: Vec<std::path::PathBuf>,
    /// The value stack: arguments, locals and temporaries of every activation. A root.
    pub stack: crate::runtime::stack::ValueStack,
    pub frames: Vec<Frame>,
    next_frame_id: u64,
    lookup_cache: Vec<Option<(&'static Class, Value, &'static Method)>>,
    /// Bumped whenever a method dictionary changes, so engines can flush their caches.
    pub method_epoch: Cell<u64>,
    pub out: std::io::BufWriter<std::io::Stdout>,
    pub start: Instant,
    /// With `Options::fixed_clock`: the microseconds the next clock read answers.
    fixed_clock: Option<Cell<u64>>,
    pub options: Options,
    /// What the JIT did (`--jit-summary`).
    pub jit_stats: crate::tracing::JitStats,
    /// Maps an engine's recorded code position to a source line (set by engines with a pc).
    pub pc_to_line: fn(&'static Method, u32) -> u32,
    /// Classes being loaded right now (to report cyclic superclass chains).
    pub(crate) loading: std::collections::HashSet<String, Fixed>,
    random_state: u64,
    identity_hash_state: u32,
}

const LOOKUP_CACHE_SIZE: usize = 1024;

impl Symbols {
    fn intern_new(&mut self, heap: &mut Heap, symbol_class: u64, s: &str) -> Value {
        if let Some(&v) = self.table.get(s) {
            return v;
        }
        let h = heap
            .alloc_old(
                symbol_class,
                Kind::Symbol,
                object::string_words(s.len()),
                true,
            )
            .expect("out of memory allocating a symbol");
        let v = Value::from_ptr(h);
        object::init_string(v, s);
        self.table.insert(s.to_string(), v);
        v
    }
}

fn leak_class(c: Class) -> &'static Class {
    Box::leak(Box::new(c))
}

impl Universe {
    pub fn new(classpath: Vec<std::path::PathBuf>, gc: GcConfig, options: Options) -> Universe {
        let mut heap = Heap::new(gc);
        let mut table = Symbols {
            table: HashMap::default(),
            does_not_understand: Value::EMPTY,
            unknown_global: Value::EMPTY,
            escaped_block: Value::EMPTY,
            initialize: Value::EMPTY,
        };
        // Symbols need the Symbol class for their headers and classes need symbols for their
        // names: intern the names with no class first, then patch the class word.
        let idx = |n: &str| BOOTSTRAP_CLASSES.iter().position(|x| *x == n).unwrap();
        let mut named: Vec<(&'static Class, &'static Class)> = Vec::new();
        for name in BOOTSTRAP_CLASSES {
            let cn = table.intern_new(&mut heap, 0, name);
            let mn = table.intern_new(&mut heap, 0, &format!("{name} class"));
            named.push((
                leak_class(Class::new(cn, false)),
                leak_class(Class::new(mn, true)),
            ));
        }
        let real_symbol_class = named[idx("Symbol")].0 as *const Class as u64;
        let real_metaclass = named[idx("Metaclass")].0;
        for v in table.table.values() {
            object::header(*v).set_class_word(real_symbol_class);
        }
        for &(c, m) in &named {
            c.header.set_class_word(m as *const Class as u64);
            m.header
                .set_class_word(real_metaclass as *const Class as u64);
        }
        let get = |n: &str| named[idx(n)].0;
        let core = CoreClasses {
            object: get("Object"),
            class: get("Class"),
            metaclass: get("Metaclass"),
            nil: get("Nil"),
            boolean: get("Boolean"),
            true_: get("True"),
            false_: get("False"),
            integer: get("Integer"),
            double: get("Double"),
            string: get("String"),
            symbol: get("Symbol"),
            array: get("Array"),
            block: get("Block"),
            blocks: [get("Block1"), get("Block2"), get("Block3")],
            method: get("Method"),
            primitive: get("Primitive"),
            system: get("System"),
        };
        let singleton = |heap: &mut Heap, class: &'static Class| {
            let h = heap
                .alloc_old(
                    class as *const Class as u64,
                    Kind::Instance,
                    HEADER_WORDS,
                    true,
                )
                .expect("out of memory at start-up");
            Value::from_ptr(h)
        };
        let nil = singleton(&mut heap, core.nil);
        let true_ = singleton(&mut heap, core.true_);
        let false_ = singleton(&mut heap, core.false_);
        let system = singleton(&mut heap, core.system);
        table.does_not_understand =
            table.intern_new(&mut heap, real_symbol_class, "doesNotUnderstand:arguments:");
        table.unknown_global = table.intern_new(&mut heap, real_symbol_class, "unknownGlobal:");
        table.escaped_block = table.intern_new(&mut heap, real_symbol_class, "escapedBlock:");
        table.initialize = table.intern_new(&mut heap, real_symbol_class, "initialize:");
        let mut u = Universe {
            heap,
            symbols: table,
            globals: HashMap::default(),
            all_classes: Vec::new(),
            core,
            nil,
            true_,
            false_,
            system,
            classpath,
            stack: crate::runtime::stack::ValueStack::with_capacity(1 << 16),
            frames: Vec::with_capacity(1 << 12),
            next_frame_id: 1,
            lookup_cache: vec![None; LOOKUP_CACHE_SIZE],
            method_epoch: Cell::new(0),
            out: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()),
            start: Instant::now(),
            fixed_clock: options.fixed_clock.then(|| Cell::new(0)),
            options,
            jit_stats: Default::default(),
            pc_to_line: |_, pc| pc,
            loading: Default::default(),
            random_state: 0x2545_f491_4f6c_dd1d,
            identity_hash_state: 0,
        };
        for &(c, m) in &named {
            u.all_classes.push(c);
            u.all_classes.push(m);
            c.class_side_values.borrow_mut().clear();
            let name = c.name;
            u.set_global(name, c.as_value());
        }
        for (name, v) in [
            ("nil", nil),
            ("true", true_),
            ("false", false_),
            ("system", system),
        ] {
            let s = u.intern(name);
            u.set_global(s, v);
        }
        u
    }

    // ---- symbols and globals ----------------------------------------------------------------

    pub fn intern(&mut self, s: &str) -> Value {
        let class = self.core.symbol as *const Class as u64;
        self.symbols.intern_new(&mut self.heap, class, s)
    }

    /// The cell of a global (created empty if unknown): send sites may cache it.
    pub fn global_cell(&mut self, name: Value) -> &'static Cell<Value> {
        self.globals
            .entry(name)
            .or_insert_with(|| Box::leak(Box::new(Cell::new(Value::EMPTY))))
    }

    pub fn global(&self, name: Value) -> Option<Value> {
        self.globals
            .get(&name)
            .map(|c| c.get())
            .filter(|v| *v != Value::EMPTY)
    }

    pub fn set_global(&mut self, name: Value, v: Value) {
        self.global_cell(name).set(v);
    }

    // ---- classes and lookup -------------------------------------------------------------------

    #[inline(always)]
    pub fn class_of(&self, v: Value) -> &'static Class {
        if v.is_small_int() {
            self.core.integer
        } else if v.is_immediate_double() {
            self.core.double
        } else {
            class_from_word(object::header(v).class_word())
        }
    }

    /// Looks a selector up from `class`, through a global cache.
    #[inline]
    pub fn lookup(&mut self, class: &'static Class, selector: Value) -> Option<&'static Method> {
        let h = ((class as *const Class as usize >> 4) ^ (selector.raw() as usize >> 3))
            % LOOKUP_CACHE_SIZE;
        if let Some((c, s, m)) = self.lookup_cache[h] {
            if std::ptr::eq(c, class) && s == selector {
                return Some(m);
            }
        }
        let m = class.lookup(selector)?;
        self.lookup_cache[h] = Some((class, selector, m));
        Some(m)
    }

    /// Installs a method, invalidating every lookup cache.
    pub fn install_method(&mut self, class: &'static Class, m: &'static Method) {
        m.holder.set(Some(class));
        class.add_method(m);
        self.lookup_cache.iter_mut().for_each(|e| *e = None);
        self.method_epoch.set(self.method_epoch.get() + 1);
    }

    pub fn new_method(
        &mut self,
        signature: Value,
        params: usize,
        body: MethodBody,
    ) -> &'static Method {
        let class = match body {
            MethodBody::Primitive(..) | MethodBody::MissingPrimitive => self.core.primitive,
            MethodBody::Code(_) => self.core.method,
        };
        Box::leak(Box::new(Method {
            header: crate::gc::Header::new(
                class as *const Class as u64,
                Kind::Method,
                crate::gc::header::OLD | crate::gc::header::PERMANENT,
                0,
            ),
            signature,
            holder: Cell::new(None),
            params,
            body,
            engine_code: Default::default(),
            engine_index: Cell::new(0),
        }))
    }

    /// A new class and its metaclass, registered as roots (not yet a global).
    pub fn new_class_pair(&mut self, name: &str) -> &'static Class {
        let cn = self.intern(name);
        let mn = self.intern(&format!("{name} class"));
        let c = leak_class(Class::new(cn, false));
        let m = leak_class(Class::new(mn, true));
        c.header.set_class_word(m as *const Class as u64);
        m.header
            .set_class_word(self.core.metaclass as *const Class as u64);
        self.all_classes.push(c);
        self.all_classes.push(m);
        c
    }

    // ---- allocation -----------------------------------------------------------------------------

    fn out_of_memory(&self, what: &str) -> Unwind {
        self.error(format!(
            "cannot allocate {what}: too large or out of memory"
        ))
    }

    pub fn new_instance(&mut self, class: &'static Class) -> Result<Value, Unwind> {
        let n = class.instance_fields.borrow().len();
        let h = self
            .heap
            .alloc(
                class as *const Class as u64,
                Kind::Instance,
                HEADER_WORDS + n,
            )
            .ok_or_else(|| self.out_of_memory("an object"))?;
        let v = Value::from_ptr(h);
        object::values(v).fill(self.nil);
        Ok(v)
    }

    pub fn new_array(&mut self, n: usize) -> Result<Value, Unwind> {
        self.new_array_filled(n, self.nil)
    }

    pub fn new_array_filled(&mut self, n: usize, fill: Value) -> Result<Value, Unwind> {
        let class = self.core.array as *const Class as u64;
        let words = n
            .checked_add(HEADER_WORDS)
            .filter(|w| *w <= crate::gc::MAX_OBJECT_BYTES / 8);
        let h = words
            .and_then(|w| self.heap.alloc(class, Kind::Array, w))
            .ok_or_else(|| self.out_of_memory(&format!("an Array of {n} elements")))?;
        let v = Value::from_ptr(h);
        object::values(v).fill(fill);
        Ok(v)
    }

    pub fn new_array_from(&mut self, items: &[Value]) -> Result<Value, Unwind> {
        let a = self.new_array(items.len())?;
        object::values(a).copy_from_slice(items);
        Ok(a)
    }

    /// A permanent array (a literal): never moved or freed, its elements are roots.
    pub fn new_permanent_array(&mut self, items: &[Value]) -> Value {
        let class = self.core.array as *const Class as u64;
        let h = self
            .heap
            .alloc_old(class, Kind::Array, HEADER_WORDS + items.len(), true)
            .expect("out of memory for a literal array");
        let v = Value::from_ptr(h);
        object::values(v).copy_from_slice(items);
        v
    }

    pub fn new_string(&mut self, s: &str) -> Result<Value, Unwind> {
        let class = self.core.string as *const Class as u64;
        let h = self
            .heap
            .alloc(class, Kind::String, object::string_words(s.len()))
            .ok_or_else(|| self.out_of_memory("a String"))?;
        let v = Value::from_ptr(h);
        object::init_string(v, s);
        Ok(v)
    }

    pub fn new_permanent_string(&mut self, s: &str) -> Value {
        let class = self.core.string as *const Class as u64;
        let h = self
            .heap
            .alloc_old(class, Kind::String, object::string_words(s.len()), true)
            .expect("out of memory for a literal string");
        let v = Value::from_ptr(h);
        object::init_string(v, s);
        v
    }

    /// A double: immediate when possible, otherwise boxed.
    #[inline]
    pub fn double(&mut self, d: f64) -> Value {
        match Value::try_immediate_double(d) {
            Some(v) => v,
            None => self.boxed_double(d, false),
        }
    }

    pub fn permanent_double(&mut self, d: f64) -> Value {
        match Value::try_immediate_double(d) {
            Some(v) => v,
            None => self.boxed_double(d, true),
        }
    }

    fn boxed_double(&mut self, d: f64, permanent: bool) -> Value {
        let class = self.core.double as *const Class as u64;
        let h = if permanent {
            self.heap
                .alloc_old(class, Kind::Double, HEADER_WORDS + 1, true)
        } else {
            self.heap.alloc(class, Kind::Double, HEADER_WORDS + 1)
        }
        .expect("out of memory for a Double");
        let v = Value::from_ptr(h);
        object::init_boxed_double(v, d);
        v
    }

    /// The f64 of a Double value (immediate or boxed), `None` for anything else.
    #[inline]
    pub fn as_double(&self, v: Value) -> Option<f64> {
        if v.is_immediate_double() {
            Some(v.immediate_double_unchecked())
        } else if v.is_ref() && object::kind(v) == Kind::Double {
            Some(object::boxed_double(v))
        } else {
            None
        }
    }

    /// An Integer: small when it fits, big otherwise (big integers never hold small values).
    pub fn integer(&mut self, i: &BigInt) -> Result<Value, Unwind> {
        if let Some(v) = i.to_i64().and_then(Value::try_small_int) {
            return Ok(v);
        }
        self.new_bigint(i, false)
            .ok_or_else(|| self.out_of_memory("an Integer"))
    }

    pub fn permanent_integer(&mut self, i: &BigInt) -> Value {
        if let Some(v) = i.to_i64().and_then(Value::try_small_int) {
            return v;
        }
        self.new_bigint(i, true)
            .expect("out of memory for an integer literal")
    }

    fn new_bigint(&mut self, i: &BigInt, permanent: bool) -> Option<Value> {
        let (sign, limbs) = i.to_u64_digits();
        let class = self.core.integer as *const Class as u64;
        let words = object::bigint_words(limbs.len());
        let h = if permanent {
            self.heap.alloc_old(class, Kind::BigInt, words, true)
        } else {
            self.heap.alloc(class, Kind::BigInt, words)
        }?;
        let v = Value::from_ptr(h);
        object::init_bigint(v, sign == Sign::Minus, &limbs);
        Some(v)
    }

    /// The integer value of a small or big Integer, `None` for anything else.
    pub fn as_bigint(&self, v: Value) -> Option<BigInt> {
        if let Some(i) = v.as_small_int() {
            Some(BigInt::from(i))
        } else if v.is_ref() && object::kind(v) == Kind::BigInt {
            let (neg, limbs) = object::bigint_parts(v);
            let magnitude = num_bigint::BigUint::from_slice(
                &limbs
                    .iter()
                    .flat_map(|l| [*l as u32, (*l >> 32) as u32])
                    .collect::<Vec<u32>>(),
            );
            Some(BigInt::from_biguint(
                if neg { Sign::Minus } else { Sign::Plus },
                magnitude,
            ))
        } else {
            None
        }
    }

    pub fn is_integer(&self, v: Value) -> bool {
        v.is_small_int() || (v.is_ref() && object::kind(v) == Kind::BigInt)
    }

    pub fn boolean(&self, b: bool) -> Value {
        if b {
            self.true_
        } else {
            self.false_
        }
    }

    pub fn new_block(
        &mut self,
        method: &'static Method,
        outer: Value,
        receiver: Value,
        home: u64,
    ) -> Result<Value, Unwind> {
        let class = self.core.blocks[method.params.min(2)] as *const Class as u64;
        let h = self
            .heap
            .alloc(class, Kind::Block, HEADER_WORDS + object::BLOCK_WORDS)
            .ok_or_else(|| self.out_of_memory("a Block"))?;
        let v = Value::from_ptr(h);
        object::init_value_at(v, object::BLOCK_METHOD, method.as_value());
        object::init_value_at(v, object::BLOCK_OUTER, outer);
        object::init_value_at(v, object::BLOCK_RECEIVER, receiver);
        object::init_value_at(v, object::BLOCK_HOME, Value::small_int(home as i64));
        Ok(v)
    }

    /// A context of `size` values, the first being the outer link.
    pub fn new_context(&mut self, outer: Value, size: usize) -> Result<Value, Unwind> {
        let class = self.core.object as *const Class as u64;
        let h = self
            .heap
            .alloc(class, Kind::Context, HEADER_WORDS + size)
            .ok_or_else(|| self.out_of_memory("a context"))?;
        let v = Value::from_ptr(h);
        let vals = object::values(v);
        vals.fill(self.nil);
        vals[object::CONTEXT_OUTER] = outer;
        Ok(v)
    }

    /// Stores into a field/element/context slot of `obj`, with the write barrier.
    #[inline(always)]
    pub fn store(&mut self, obj: Value, index: usize, v: Value) {
        object::values(obj)[index] = v;
        self.heap.write_barrier(obj, v);
    }

    // ---- frames, errors, output -----------------------------------------------------------------

    /// Records a new activation of `method`, starting at source line `line`; fails with the
    /// "stack exhausted" error beyond `MAX_ACTIVATIONS`.
    #[inline(always)]
    pub fn push_frame(
        &mut self,
        method: &'static Method,
        line: u32,
        base: usize,
    ) -> Result<u64, Unwind> {
        if self.frames.len() >= MAX_ACTIVATIONS {
            return Err(self.stack_exhausted());
        }
        let id = self.next_frame_id;
        self.next_frame_id += 1;
        self.frames.push(Frame {
            method,
            line,
            pc: NO_PC,
            id,
            base,
        });
        Ok(id)
    }

    #[cold]
    pub fn stack_exhausted(&self) -> Unwind {
        self.error(format!(
            "stack exhausted: {} nested activations (deep or infinite recursion)",
            self.frames.len()
        ))
    }

    #[inline(always)]
    pub fn pop_frame(&mut self) {
        self.frames.pop();
    }

    #[inline(always)]
    pub fn set_line(&mut self, line: u32) {
        if let Some(f) = self.frames.last_mut() {
            f.line = line;
            f.pc = NO_PC;
        }
    }

    /// Records the code position of the current activation (engines that keep a pc).
    #[inline(always)]
    pub fn set_pc(&mut self, pc: u32) {
        if let Some(f) = self.frames.last_mut() {
            f.pc = pc;
        }
    }

    /// Whether the activation `id` is still running. Ids grow from the bottom of the frame
    /// stack to the top, so this is a binary search: a scan would make a chain of escaped
    /// blocks (`escapedBlock:` evaluating the block again) quadratic in the stack depth.
    pub fn frame_alive(&self, id: u64) -> bool {
        self.frames.binary_search_by_key(&id, |f| f.id).is_ok()
    }

    /// The SOM backtrace, innermost activation first.
    pub fn backtrace(&self) -> Vec<String> {
        self.frames
            .iter()
            .rev()
            .map(|f| {
                let file = f
                    .method
                    .holder
                    .get()
                    .map(|c| c.source_name.borrow().clone())
                    .unwrap_or_default();
                let line = if f.pc == NO_PC {
                    f.line
                } else {
                    (self.pc_to_line)(f.method, f.pc)
                };
                format!("{} ({}:{})", f.method.display_name(), file, line)
            })
            .collect()
    }

    /// A runtime error at the current point of execution.
    pub fn error(&self, message: String) -> Unwind {
        Unwind::Error(Box::new(RuntimeError {
            message,
            backtrace: self.backtrace(),
            is_compile_error: false,
        }))
    }

    pub fn print(&mut self, s: &str) {
        let _ = self.out.write_all(s.as_bytes());
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    // ---- safepoints ---------------------------------------------------------------------------------

    /// A safepoint: collects if the nursery overflowed (or always, under `--gc-stress`).
    /// Every live value must be in a root: the value stack, globals, class-side fields.
    #[inline(always)]
    pub fn safepoint(&mut self) {
        if self.heap.wants_collection() {
            self.safepoint_slow();
        }
    }

    #[inline(never)]
    fn safepoint_slow(&mut self) {
        if self.heap.collection_due(self.stack.len()) {
            self.collect(false);
        }
    }

    /// Collects now: a minor collection, followed by a major one when due or `full`.
    #[inline(never)]
    pub fn collect(&mut self, full: bool) {
        let Universe {
            heap,
            stack,
            globals,
            all_classes,
            ..
        } = self;
        let mut ev = heap.begin_minor();
        for v in stack.live_mut().iter_mut() {
            ev.visit(v);
        }
        for cell in globals.values() {
            let mut v = cell.get();
            ev.visit(&mut v);
            cell.set(v);
        }
        for c in all_classes.iter() {
            for v in c.class_side_values.borrow_mut().iter_mut() {
                ev.visit(v);
            }
        }
        ev.finish();
        if full || heap.wants_major() {
            let mut mk = heap.begin_major();
            for v in stack.live_mut().iter_mut() {
                mk.visit(v);
            }
            for cell in globals.values() {
                let mut v = cell.get();
                mk.visit(&mut v);
            }
            for c in all_classes.iter() {
                for v in c.class_side_values.borrow_mut().iter_mut() {
                    mk.visit(v);
                }
            }
            mk.finish();
        }
    }

    /// The identity hash of a heap object, assigned on first request and kept in its header
    /// (an address would change when the object moves).
    pub fn identity_hash(&mut self, v: Value) -> u32 {
        let h = object::header(v);
        let existing = h.identity_hash();
        if existing != 0 {
            return existing;
        }
        self.identity_hash_state = self
            .identity_hash_state
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        let hash = (self.identity_hash_state >> 13).max(1);
        h.set_identity_hash(hash);
        h.identity_hash()
    }

    /// Deterministic pseudo-random numbers (xorshift64*) for `Integer>>atRandom`.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.random_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random_state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 1
    }

    /// Microseconds since start-up (or, with a fixed clock, the number of earlier reads).
    pub fn elapsed_micros(&self) -> u64 {
        match &self.fixed_clock {
            Some(reads) => {
                let t = reads.get();
                reads.set(t + 1);
                t
            }
            None => self.start.elapsed().as_micros() as u64,
        }
    }
}
