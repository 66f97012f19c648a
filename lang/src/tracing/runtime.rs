//! The runtime as compiled code sees it while it runs: the heap (through `gc::TraceHeap`)
//! and the primitives a trace calls (`call_primitive`).
//!
//! Owns: running a primitive for a trace — on the universe alone, with an engine that runs
//! no SOM code. Must never: call a primitive that is not `InTrace::Call` (the recorder only
//! records those), or let a primitive's error escape: a failure is the trace's exit before the
//! send, and the interpreter sends again and reports it.

use jit::backend::TraceRuntime;

use crate::primitives::{InTrace, IN_TRACE, PRIMITIVES};
use crate::runtime::engine::{Engine, Result};
use crate::runtime::method::Method;
use crate::runtime::universe::Universe;
use crate::runtime::value::Value;

/// The universe while a trace runs.
pub struct TraceUniverse<'a> {
    pub u: &'a mut Universe,
}

impl TraceRuntime for TraceUniverse<'_> {
    fn safepoint_requested(&self) -> bool {
        self.u.heap.wants_collection()
    }

    fn remember(&mut self, object: u64) {
        self.u.heap.for_trace().remember(object);
    }

    fn nursery(&mut self) -> jit::backend::NurseryWindow {
        self.u.heap.for_trace().nursery()
    }

    fn finished(&mut self, bytes: u64) {
        self.u.heap.for_trace().finished(bytes);
    }

    fn call_primitive(&mut self, index: u32, args: &[u64]) -> Option<u64> {
        let index = index as usize;
        if IN_TRACE.get(index) != Some(&InTrace::Call) {
            return None; // not recorded so: leave, and let the interpreter send
        }
        let mut values = [Value::from_raw(0); jit::backend::MAX_PRIMITIVE_ARGS];
        for (v, raw) in values.iter_mut().zip(args) {
            *v = Value::from_raw(*raw);
        }
        let mut engine = NoCode { u: self.u };
        (PRIMITIVES[index].2)(&mut engine, &values[..args.len()])
            .ok()
            .map(Value::raw)
    }
}

/// The engine a primitive called from a trace sees: the universe, and no way to run code.
struct NoCode<'a> {
    u: &'a mut Universe,
}

impl Engine for NoCode<'_> {
    fn universe(&mut self) -> &mut Universe {
        self.u
    }

    /// Never reached (`InTrace::Call` primitives run no SOM code); if it were, the call
    /// fails and the interpreter sends again.
    fn run_code(&mut self, _method: &'static Method, _nargs: usize) -> Result<Value> {
        Err(self
            .u
            .error("internal: a primitive called from compiled code ran SOM code".into()))
    }
}
