//! Primitives of System: globals, class loading, output, exit, time and the GC.

use crate::runtime::engine::{Engine, Result, Unwind};
use crate::runtime::value::Value;

use super::{index_arg, text_arg};

fn symbol_arg(e: &mut dyn Engine, what: &str, v: Value) -> Result<Value> {
    let s = text_arg(e, what, v)?;
    Ok(e.universe().intern(s))
}

pub fn global(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let name = symbol_arg(e, "System>>global:", a[1])?;
    let u = e.universe();
    Ok(u.global(name).unwrap_or(u.nil))
}

pub fn global_put(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let name = symbol_arg(e, "System>>global:put:", a[1])?;
    e.universe().set_global(name, a[2]);
    Ok(a[2])
}

pub fn has_global(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let name = symbol_arg(e, "System>>hasGlobal:", a[1])?;
    let u = e.universe();
    Ok(u.boolean(u.global(name).is_some()))
}

/// The contents of a file as a String, or nil when it cannot be read. Only regular files:
/// reading `/dev/zero` would never end, a FIFO would block.
pub fn load_file(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let path = text_arg(e, "System>>loadFile:", a[1])?;
    if !std::path::Path::new(path).is_file() {
        return Ok(e.universe().nil);
    }
    match std::fs::read_to_string(path) {
        Ok(text) => e.universe().new_string(&text),
        Err(_) => Ok(e.universe().nil),
    }
}

/// Loads a class from the classpath; answers it, or nil when there is no such class file.
pub fn load(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let name = text_arg(e, "System>>load:", a[1])?;
    let u = e.universe();
    match u.load_class(name)? {
        Some(c) => Ok(c.as_value()),
        None => Ok(u.nil),
    }
}

pub fn exit(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let code = index_arg(e, "System>>exit:", a[1])?;
    Err(Unwind::Exit(
        code.clamp(i32::MIN as i64, i32::MAX as i64) as i32
    ))
}

pub fn print_string(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let s = text_arg(e, "System>>printString:", a[1])?;
    e.universe().print(s);
    Ok(a[0])
}

pub fn print_newline(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    e.universe().print("\n");
    Ok(a[0])
}

pub fn error_print(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let s = text_arg(e, "System>>errorPrint:", a[1])?;
    e.universe().flush();
    super::to_stderr(s);
    Ok(a[0])
}

pub fn error_println(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let s = text_arg(e, "System>>errorPrintln:", a[1])?;
    e.universe().flush();
    super::to_stderr(&format!("{s}\n"));
    Ok(a[0])
}

/// Prints the SOM backtrace of the running program on stderr.
pub fn print_stack_trace(e: &mut dyn Engine, a: &[Value]) -> Result<Value> {
    let u = e.universe();
    u.flush();
    let frames = u.backtrace();
    super::to_stderr(&crate::runtime::engine::format_backtrace(&frames));
    Ok(a[0])
}

/// Milliseconds since start.
pub fn time(e: &mut dyn Engine, _a: &[Value]) -> Result<Value> {
    Ok(Value::small_int(
        (e.universe().elapsed_micros() / 1000) as i64,
    ))
}

/// Microseconds since start (monotonic).
pub fn ticks(e: &mut dyn Engine, _a: &[Value]) -> Result<Value> {
    Ok(Value::small_int(e.universe().elapsed_micros() as i64))
}

/// A full collection now (this primitive is a safepoint); answers true.
pub fn full_gc(e: &mut dyn Engine, _a: &[Value]) -> Result<Value> {
    let u = e.universe();
    u.collect(true);
    Ok(u.true_)
}

/// `#(collections gcTimeMs allocatedBytes)`.
pub fn gc_stats(e: &mut dyn Engine, _a: &[Value]) -> Result<Value> {
    let u = e.universe();
    let s = &u.heap.stats;
    let items = [
        Value::small_int(s.collections() as i64),
        Value::small_int(s.total_pause().as_millis() as i64),
        Value::small_int(s.bytes_allocated.min(i64::MAX as u64 >> 2) as i64),
    ];
    u.new_array_from(&items)
}

/// Milliseconds spent compiling (no JIT yet: 0).
pub fn total_compilation_time(_e: &mut dyn Engine, _a: &[Value]) -> Result<Value> {
    Ok(Value::small_int(0))
}
