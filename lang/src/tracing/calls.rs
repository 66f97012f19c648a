//! What a recording makes of a call, for every engine: the method a send found (its
//! receiver's class already guarded) runs as a trivial method, as a block evaluation, as a
//! primitive, or as an activation the engine inlines.
//!
//! Owns: the order of those cases (the same as `dispatch::run_trivial` then the engines'
//! calls), the IR of trivial methods, the guard on an evaluated block's method, and handing
//! primitives to `tracing::primitives`. Must never: lay out an activation — entering the
//! inlined method is the engine's part (its frame layout is its own).

use jit::ir::SnapshotId;
use jit::recorder::Abort;

use super::recording::{Recording, Shadow};
use crate::compile::hir::Trivial;
use crate::gc::Kind;
use crate::primitives::evaluates_block;
use crate::runtime::method::{Method, MethodBody};
use crate::runtime::object;
use crate::runtime::universe::Universe;
use crate::runtime::value::Value;

/// What became of a call.
pub enum Call {
    /// Recorded: the receiver and arguments on the shadow were replaced by the result.
    Done,
    /// The engine must follow the call into an activation of this method (a method with
    /// code, or an evaluated block's method), with the receiver and arguments in place.
    Inline(&'static Method),
    /// The recording stopped.
    Stopped,
}

/// Records a call of `m` on `args` (the receiver and arguments, concrete, the top
/// `args.len()` positions of the shadow), about to happen; `snapshot` resumes at the send.
pub fn record_call(
    rec: &mut Recording,
    u: &Universe,
    m: &'static Method,
    args: &[Value],
    snapshot: SnapshotId,
) -> Call {
    let nargs = args.len() - 1;
    if let Some(trivial) = m.code().and_then(|c| c.trivial) {
        let receiver = rec.peek(nargs);
        let result = match trivial {
            Trivial::Field(i) => rec.load_field(receiver, i as usize),
            Trivial::SetField(i) => {
                let v = rec.peek(0);
                rec.store_field(receiver, i as usize, v);
                receiver
            }
            Trivial::Constant(v) => rec.constant(v),
            Trivial::Receiver => receiver,
        };
        return replace_by(rec, nargs, result);
    }
    let receiver = args[0];
    match &m.body {
        MethodBody::Code(_) => Call::Inline(m),
        // Only a real block: a library may give other receivers the block primitives.
        MethodBody::Primitive(_, index)
            if evaluates_block(*index)
                && receiver.is_ref()
                && object::kind(receiver) == Kind::Block =>
        {
            let method = Method::from_value(object::value_at(receiver, object::BLOCK_METHOD));
            if method.params != nargs {
                rec.abort(Abort::Unsupported("a block called with the wrong arity"));
                return Call::Stopped;
            }
            let block = rec.peek(nargs);
            let block_method = rec.load_field(block, object::BLOCK_METHOD);
            rec.guard_same(block_method, method.as_value(), snapshot);
            Call::Inline(method)
        }
        MethodBody::Primitive(_, index) => {
            match super::primitives::record(rec, u, *index, args, snapshot) {
                Some(result) => replace_by(rec, nargs, result),
                None => Call::Stopped,
            }
        }
        MethodBody::MissingPrimitive => {
            rec.abort(Abort::Unsupported("a missing primitive"));
            Call::Stopped
        }
    }
}

fn replace_by(rec: &mut Recording, nargs: usize, result: Shadow) -> Call {
    rec.drop_top(nargs + 1);
    rec.push(result);
    Call::Done
}
