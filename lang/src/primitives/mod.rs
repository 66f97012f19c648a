//! The built-in methods of SOM's core classes, written once for both engines.
//!
//! Owns: every `*` method of SOM.md's protocol, as a function over the runtime, and the one
//! table (`PRIMITIVES`) that binds them to `(class, selector)`. A source method declared
//! `= primitive` is bound through this table when its class loads. Primitives that must run
//! SOM code (block evaluation, `perform:`, `invokeOn:with:`) ask the engine through `Engine`.
//! Must never: keep a value in a Rust local across a call back into SOM code (the GC may move
//! it): arguments are re-pushed on the value stack before such a call.

mod array;
mod block;
pub(crate) mod class;
mod double;
mod integer;
mod method;
mod object;
pub(crate) mod string;
mod system;

use crate::gc::Kind;
use crate::runtime::class::Class;
use crate::runtime::engine::{Engine, Result};
use crate::runtime::method::Method;
use crate::runtime::object as layout;
use crate::runtime::value::Value;

/// A primitive: `args[0]` is the receiver, the rest its arguments.
pub type PrimitiveFn = fn(&mut dyn Engine, &[Value]) -> Result<Value>;

/// What compiled code may do with a primitive that the recorder does not turn into IR of
/// its own (`tracing::primitives`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InTrace {
    /// The trace calls it (`call_primitive`): it runs no SOM code, reaches no safepoint (it
    /// may allocate: only safepoints collect), does not look at the activations, and when it
    /// fails it has changed nothing — the trace then leaves before the send, and the
    /// interpreter sends it again and reports the error.
    Call,
    /// A recording stops at it: it runs SOM code (blocks, `perform:`), collects, exits,
    /// loads classes, reads the activations — or is for debugging (`halt`, `inspect`).
    Never,
}

/// Defines the primitive table once; lookups and the documentation list derive from it.
macro_rules! primitive_table {
    ($( $class:literal $selector:literal => $f:path, $trace:ident; )*) => {
        /// Every primitive: (class name, selector, implementation).
        pub static PRIMITIVES: &[(&str, &str, PrimitiveFn)] = &[ $( ($class, $selector, $f), )* ];
        /// Per primitive (as `PRIMITIVES`): what a trace may do with it.
        pub static IN_TRACE: &[InTrace] = &[ $( InTrace::$trace, )* ];
    };
}

primitive_table! {
    "Object" "class" => object::class, Call;
    "Object" "objectSize" => object::object_size, Call;
    "Object" "==" => object::identical, Call;
    "Object" "hashcode" => object::hashcode, Call;
    "Object" "inspect" => object::inspect, Never;
    "Object" "halt" => object::halt, Never;
    "Object" "perform:" => object::perform, Never;
    "Object" "perform:withArguments:" => object::perform_with_arguments, Never;
    "Object" "perform:inSuperclass:" => object::perform_in_superclass, Never;
    "Object" "perform:withArguments:inSuperclass:" => object::perform_with_arguments_in_superclass, Never;
    "Object" "instVarAt:" => object::inst_var_at, Call;
    "Object" "instVarAt:put:" => object::inst_var_at_put, Call;
    "Object" "instVarNamed:" => object::inst_var_named, Call;
    "Class" "name" => class::name, Call;
    "Class" "new" => class::new, Call;
    "Class" "superclass" => class::superclass, Call;
    "Class" "fields" => class::fields, Call;
    "Class" "methods" => class::methods, Call;
    "Integer" "+" => integer::add, Call;
    "Integer" "-" => integer::subtract, Call;
    "Integer" "*" => integer::multiply, Call;
    "Integer" "/" => integer::divide, Call;
    "Integer" "//" => integer::divide_to_double, Call;
    "Integer" "%" => integer::modulo, Call;
    "Integer" "rem:" => integer::remainder, Call;
    "Integer" "&" => integer::bit_and, Call;
    "Integer" "<<" => integer::shift_left, Call;
    "Integer" ">>>" => integer::shift_right, Call;
    "Integer" "bitXor:" => integer::bit_xor, Call;
    "Integer" "sqrt" => integer::sqrt, Call;
    "Integer" "atRandom" => integer::at_random, Call;
    "Integer" "=" => integer::equal, Call;
    "Integer" "<" => integer::less, Call;
    "Integer" "asString" => integer::as_string, Call;
    "Integer" "as32BitSignedValue" => integer::as_32bit_signed, Call;
    "Integer" "as32BitUnsignedValue" => integer::as_32bit_unsigned, Call;
    "Integer" "asDouble" => integer::as_double, Call;
    "Integer class" "fromString:" => integer::from_string, Call;
    "Double" "+" => double::add, Call;
    "Double" "-" => double::subtract, Call;
    "Double" "*" => double::multiply, Call;
    "Double" "//" => double::divide, Call;
    "Double" "%" => double::modulo, Call;
    "Double" "sqrt" => double::sqrt, Call;
    "Double" "round" => double::round, Call;
    "Double" "asInteger" => double::as_integer, Call;
    "Double" "cos" => double::cos, Call;
    "Double" "sin" => double::sin, Call;
    "Double" "=" => double::equal, Call;
    "Double" "<" => double::less, Call;
    "Double" "asString" => double::as_string, Call;
    "Double class" "PositiveInfinity" => double::positive_infinity, Call;
    "Double class" "fromString:" => double::from_string, Call;
    "String" "concatenate:" => string::concatenate, Call;
    "String" "asSymbol" => string::as_symbol, Call;
    "String" "hashcode" => string::hashcode, Call;
    "String" "length" => string::length, Call;
    "String" "isWhiteSpace" => string::is_white_space, Call;
    "String" "isLetters" => string::is_letters, Call;
    "String" "isDigits" => string::is_digits, Call;
    "String" "=" => string::equal, Call;
    "String" "primSubstringFrom:to:" => string::substring, Call;
    "Symbol" "asString" => string::symbol_as_string, Call;
    "Array" "at:" => array::at, Call;
    "Array" "at:put:" => array::at_put, Call;
    "Array" "length" => array::length, Call;
    "Array class" "new:" => array::new, Call;
    "Block" "value" => block::value, Never;
    "Block" "restart" => block::restart, Never;
    "Block1" "value" => block::value, Never;
    "Block2" "value:" => block::value_1, Never;
    "Block3" "value:with:" => block::value_2, Never;
    "Method" "signature" => method::signature, Call;
    "Method" "holder" => method::holder, Call;
    "Method" "invokeOn:with:" => method::invoke_on_with, Never;
    "Primitive" "signature" => method::signature, Call;
    "Primitive" "holder" => method::holder, Call;
    "Primitive" "invokeOn:with:" => method::invoke_on_with, Never;
    "System" "global:" => system::global, Call;
    "System" "global:put:" => system::global_put, Call;
    "System" "hasGlobal:" => system::has_global, Call;
    "System" "loadFile:" => system::load_file, Never;
    "System" "load:" => system::load, Never;
    "System" "exit:" => system::exit, Never;
    "System" "printString:" => system::print_string, Call;
    "System" "printNewline" => system::print_newline, Call;
    "System" "errorPrintln:" => system::error_println, Call;
    "System" "errorPrint:" => system::error_print, Call;
    "System" "printStackTrace" => system::print_stack_trace, Never;
    "System" "time" => system::time, Call;
    "System" "ticks" => system::ticks, Call;
    "System" "fullGC" => system::full_gc, Never;
    "System" "gcStats" => system::gc_stats, Call;
    "System" "totalCompilationTime" => system::total_compilation_time, Call;
}

/// Whether primitive `index` evaluates a block (`value`, `value:`, …): engines run the
/// block's method as an activation of their own instead.
pub fn evaluates_block(index: usize) -> bool {
    let (class, selector, _) = PRIMITIVES[index];
    class.starts_with("Block") && selector.starts_with("value")
}

/// The primitive for `selector` in class `class_name` (`Foo class` for the class side).
pub fn lookup(class_name: &str, selector: &str) -> Option<(PrimitiveFn, usize)> {
    PRIMITIVES
        .iter()
        .position(|(c, s, _)| *c == class_name && *s == selector)
        .map(|i| (PRIMITIVES[i].2, i))
}

/// Writes to stderr, ignoring failure: a closed or broken stderr (`som P.som 2>&1 | head`)
/// must not turn into a panic, which `eprint!` would.
pub(crate) fn to_stderr(s: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(s.as_bytes());
}

/// A runtime error for a primitive that was handed an argument of the wrong kind.
pub(crate) fn wrong_argument(
    e: &mut dyn Engine,
    what: &str,
    expected: &str,
    got: Value,
) -> crate::runtime::engine::Unwind {
    let u = e.universe();
    let class = u.class_of(got).name_str();
    u.error(format!(
        "{what}: expected {expected} but got an instance of {class}"
    ))
}

/// The text of a String or Symbol.
pub(crate) fn text_of(v: Value) -> Option<&'static str> {
    (is_kind(v, Kind::String) || is_kind(v, Kind::Symbol)).then(|| layout::str(v))
}

/// The text of a String or Symbol argument, or a wrong-argument error.
pub(crate) fn text_arg(e: &mut dyn Engine, what: &str, v: Value) -> Result<&'static str> {
    text_of(v).ok_or_else(|| wrong_argument(e, what, "a String", v))
}

/// A small integer argument (an index, a count, a status); a big Integer is out of range.
pub(crate) fn index_arg(e: &mut dyn Engine, what: &str, v: Value) -> Result<i64> {
    if let Some(i) = v.as_small_int() {
        return Ok(i);
    }
    let u = e.universe();
    match u.as_bigint(v) {
        Some(big) => Err(u.error(format!("{what}: {big} is out of range"))),
        None => Err(wrong_argument(e, what, "an Integer", v)),
    }
}

/// Whether `v` is a heap object of `kind`.
pub(crate) fn is_kind(v: Value, kind: Kind) -> bool {
    v.is_ref() && layout::kind(v) == kind
}

// Receivers. A primitive is bound to a class whose instances have the representation it
// works on (String, Array, Block, Method, Class), but a library on the classpath may
// rearrange the hierarchy (`String = Array (...)`, `Block1 = Object (value = primitive)`),
// so a primitive that reads its receiver's representation checks it first: a SOM error, not
// a misread object.

/// The error for a receiver without the representation a primitive needs.
pub(crate) fn wrong_receiver(
    e: &mut dyn Engine,
    what: &str,
    expected: &str,
    got: Value,
) -> crate::runtime::engine::Unwind {
    let u = e.universe();
    let class = u.class_of(got).name_str();
    u.error(format!(
        "{what}: the receiver must be {expected}, not an instance of {class}"
    ))
}

/// The text of a String or Symbol receiver.
pub(crate) fn text_receiver(e: &mut dyn Engine, what: &str, v: Value) -> Result<&'static str> {
    text_of(v).ok_or_else(|| wrong_receiver(e, what, "a String or Symbol", v))
}

/// An Array receiver.
pub(crate) fn array_receiver(e: &mut dyn Engine, what: &str, v: Value) -> Result<Value> {
    if is_kind(v, Kind::Array) {
        Ok(v)
    } else {
        Err(wrong_receiver(e, what, "an Array", v))
    }
}

/// A Block receiver.
pub(crate) fn block_receiver(e: &mut dyn Engine, what: &str, v: Value) -> Result<Value> {
    if is_kind(v, Kind::Block) {
        Ok(v)
    } else {
        Err(wrong_receiver(e, what, "a Block", v))
    }
}

/// A Method or Primitive receiver.
pub(crate) fn method_receiver(e: &mut dyn Engine, what: &str, v: Value) -> Result<&'static Method> {
    if is_kind(v, Kind::Method) {
        Ok(Method::from_value(v))
    } else {
        Err(wrong_receiver(e, what, "a Method or Primitive", v))
    }
}

/// A class (or metaclass) receiver.
pub(crate) fn class_receiver(e: &mut dyn Engine, what: &str, v: Value) -> Result<&'static Class> {
    Class::try_from_value(v).ok_or_else(|| wrong_receiver(e, what, "a class", v))
}
