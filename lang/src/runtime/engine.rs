//! The interface between the shared runtime and an execution engine, and the ways control
//! leaves a computation abnormally.
//!
//! Owns: the `Engine` trait (what primitives may ask of whichever engine runs them), `Unwind`
//! (non-local return, runtime error, exit) and runtime errors with their SOM backtrace.
//! Must never: contain engine-specific execution logic.

use crate::runtime::method::Method;
use crate::runtime::universe::Universe;
use crate::runtime::value::Value;

/// Why a computation stops before producing a value.
#[derive(Debug)]
pub enum Unwind {
    /// `^` in a block: unwinds to the activation with this id, which answers `value`.
    NonLocalReturn { home: u64, value: Value },
    /// An error SOM code did not handle: the program ends with status 1.
    Error(Box<RuntimeError>),
    /// `system exit: n`.
    Exit(i32),
    /// Compiled code entered by an AST loop node left somewhere inside a loop around it (the
    /// loop numbered `number` of the activation whose slots start at `fp`): that loop's
    /// evaluation resumes there (`ast_interp::traces`). Never leaves the engine.
    ToLoop { fp: usize, number: u32 },
}

pub type Result<T> = std::result::Result<T, Unwind>;

#[derive(Debug)]
pub struct RuntimeError {
    pub message: String,
    /// Innermost activation first: `Class>>selector (File.som:line)`.
    pub backtrace: Vec<String>,
    /// A syntax or compile error found while loading a class: the message is the complete
    /// rendered diagnostic.
    pub is_compile_error: bool,
}

impl RuntimeError {
    /// The text printed on stderr: the message and (for runtime errors) the backtrace,
    /// shortened in the middle when very deep.
    pub fn report(&self) -> String {
        if self.is_compile_error {
            return self.message.clone();
        }
        let mut s = format!("Error: {}\n", self.message);
        s.push_str(&format_backtrace(&self.backtrace));
        s
    }
}

pub fn format_backtrace(frames: &[String]) -> String {
    const HEAD: usize = 20;
    const TAIL: usize = 10;
    let mut s = String::new();
    if frames.len() <= HEAD + TAIL {
        for f in frames {
            s.push_str(&format!("  at {f}\n"));
        }
    } else {
        for f in &frames[..HEAD] {
            s.push_str(&format!("  at {f}\n"));
        }
        s.push_str(&format!(
            "  ... {} more activations ...\n",
            frames.len() - HEAD - TAIL
        ));
        for f in &frames[frames.len() - TAIL..] {
            s.push_str(&format!("  at {f}\n"));
        }
    }
    s
}

/// What the runtime's primitives need from the engine that runs them.
pub trait Engine {
    fn universe(&mut self) -> &mut Universe;

    /// Runs the SOM code of `method` (a method or a block body). The receiver (for a block:
    /// the block) and `nargs` arguments are the top `nargs + 1` values of the value stack;
    /// the call consumes them.
    fn run_code(&mut self, method: &'static Method, nargs: usize) -> Result<Value>;
}
