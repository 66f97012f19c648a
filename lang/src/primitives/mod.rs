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

/// Defines the primitive table once; lookups and the documentation list derive from it.
macro_rules! primitive_table {
    ($( $class:literal $selector:literal => $f:path; )*) => {
        /// Every primitive: (class name, selector, implementation).
        pub static PRIMITIVES: &[(&str, &str, PrimitiveFn)] = &[ $( ($class, $selector, $f), )* ];
    };
}

primitive_table! {
    "Object" "class" => object::class;
    "Object" "objectSize" => object::object_size;
    "Object" "==" => object::identical;
    "Object" "hashcode" => object::hashcode;
    "Object" "inspect" => object::inspect;
    "Object" "halt" => object::halt;
    "Object" "perform:" => object::perform;
    "Object" "perform:withArguments:" => object::perform_with_arguments;
    "Object" "perform:inSuperclass:" => object::perform_in_superclass;
    "Object" "perform:withArguments:inSuperclass:" => object::perform_with_arguments_in_superclass;
    "Object" "instVarAt:" => object::inst_var_at;
    "Object" "instVarAt:put:" => object::inst_var_at_put;
    "Object" "instVarNamed:" => object::inst_var_named;
    "Class" "name" => class::name;
    "Class" "new" => class::new;
    "Class" "superclass" => class::superclass;
    "Class" "fields" => class::fields;
    "Class" "methods" => class::methods;
    "Integer" "+" => integer::add;
    "Integer" "-" => integer::subtract;
    "Integer" "*" => integer::multiply;
    "Integer" "/" => integer::divide;
    "Integer" "//" => integer::divide_to_double;
    "Integer" "%" => integer::modulo;
    "Integer" "rem:" => integer::remainder;
    "Integer" "&" => integer::bit_and;
    "Integer" "<<" => integer::shift_left;
    "Integer" ">>>" => integer::shift_right;
    "Integer" "bitXor:" => integer::bit_xor;
    "Integer" "sqrt" => integer::sqrt;
    "Integer" "atRandom" => integer::at_random;
    "Integer" "=" => integer::equal;
    "Integer" "<" => integer::less;
    "Integer" "asString" => integer::as_string;
    "Integer" "as32BitSignedValue" => integer::as_32bit_signed;
    "Integer" "as32BitUnsignedValue" => integer::as_32bit_unsigned;
    "Integer" "asDouble" => integer::as_double;
    "Integer class" "fromString:" => integer::from_string;
    "Double" "+" => double::add;
    "Double" "-" => double::subtract;
    "Double" "*" => double::multiply;
    "Double" "//" => double::divide;
    "Double" "%" => double::modulo;
    "Double" "sqrt" => double::sqrt;
    "Double" "round" => double::round;
    "Double" "asInteger" => double::as_integer;
    "Double" "cos" => double::cos;
    "Double" "sin" => double::sin;
    "Double" "=" => double::equal;
    "Double" "<" => double::less;
    "Double" "asString" => double::as_string;
    "Double class" "PositiveInfinity" => double::positive_infinity;
    "Double class" "fromString:" => double::from_string;
    "String" "concatenate:" => string::concatenate;
    "String" "asSymbol" => string::as_symbol;
    "String" "hashcode" => string::hashcode;
    "String" "length" => string::length;
    "String" "isWhiteSpace" => string::is_white_space;
    "String" "isLetters" => string::is_letters;
    "String" "isDigits" => string::is_digits;
    "String" "=" => string::equal;
    "String" "primSubstringFrom:to:" => string::substring;
    "Symbol" "asString" => string::symbol_as_string;
    "Array" "at:" => array::at;
    "Array" "at:put:" => array::at_put;
    "Array" "length" => array::length;
    "Array class" "new:" => array::new;
    "Block" "value" => block::value;
    "Block" "restart" => block::restart;
    "Block1" "value" => block::value;
    "Block2" "value:" => block::value_1;
    "Block3" "value:with:" => block::value_2;
    "Method" "signature" => method::signature;
    "Method" "holder" => method::holder;
    "Method" "invokeOn:with:" => method::invoke_on_with;
    "Primitive" "signature" => method::signature;
    "Primitive" "holder" => method::holder;
    "Primitive" "invokeOn:with:" => method::invoke_on_with;
    "System" "global:" => system::global;
    "System" "global:put:" => system::global_put;
    "System" "hasGlobal:" => system::has_global;
    "System" "loadFile:" => system::load_file;
    "System" "load:" => system::load;
    "System" "exit:" => system::exit;
    "System" "printString:" => system::print_string;
    "System" "printNewline" => system::print_newline;
    "System" "errorPrintln:" => system::error_println;
    "System" "errorPrint:" => system::error_print;
    "System" "printStackTrace" => system::print_stack_trace;
    "System" "time" => system::time;
    "System" "ticks" => system::ticks;
    "System" "fullGC" => system::full_gc;
    "System" "gcStats" => system::gc_stats;
    "System" "totalCompilationTime" => system::total_compilation_time;
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
