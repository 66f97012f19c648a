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
use crate::compile::hir::{Code, Expr, Trivial};
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

/// Whether a block created from `method` may be recorded: its home activation may not exist
/// outside the trace, so only blocks that never look at it — no `^`, and no nested block
/// that could — are.
pub fn block_is_recordable(method: &'static Method) -> bool {
    fn looks_at_home(e: &Expr) -> bool {
        match e {
            Expr::Const(_) | Expr::SelfRef | Expr::Read(_) | Expr::ReadField(_) => false,
            Expr::Global(..) => false,
            Expr::Block(_) | Expr::NonLocalReturn(..) => true,
            Expr::Write(_, e) | Expr::WriteField(_, e) | Expr::Return(e) => looks_at_home(e),
            Expr::Send(s) => {
                s.receiver.as_ref().is_some_and(looks_at_home) || s.args.iter().any(looks_at_home)
            }
            Expr::Seq(items) => items.iter().any(looks_at_home),
            Expr::If(i) => {
                looks_at_home(&i.value)
                    || looks_at_home(&i.then)
                    || i.otherwise.as_ref().is_some_and(looks_at_home)
            }
            Expr::While { cond, body, .. } => looks_at_home(cond) || looks_at_home(body),
            Expr::ToDo(t) => {
                looks_at_home(&t.from)
                    || looks_at_home(&t.to)
                    || t.by.as_ref().is_some_and(looks_at_home)
                    || looks_at_home(&t.body)
            }
            Expr::TimesRepeat { count, body, .. } => looks_at_home(count) || looks_at_home(body),
            Expr::AndOr { left, right, .. } => looks_at_home(left) || looks_at_home(right),
        }
    }
    method.code().is_some_and(|code| !looks_at_home(&code.body))
}

/// Records the creation of a block of `method` over the context `outer`, with `receiver`
/// (its home is never looked at: see `block_is_recordable`); leaves through `snapshot` when
/// the nursery's chunk is full.
pub fn record_block(
    rec: &mut Recording,
    u: &Universe,
    method: &'static Method,
    (outer, receiver): (Shadow, Shadow),
    snapshot: SnapshotId,
) -> Shadow {
    let class = u.core.blocks[method.params.min(2)];
    let block = rec.new_object(class, Kind::Block, object::BLOCK_WORDS, snapshot);
    let method_value = rec.constant(method.as_value());
    let unused_home = rec.constant(Value::small_int(0));
    rec.store_field(block, object::BLOCK_METHOD, method_value);
    rec.store_field(block, object::BLOCK_OUTER, outer);
    rec.store_field(block, object::BLOCK_RECEIVER, receiver);
    rec.store_field(block, object::BLOCK_HOME, unused_home);
    block
}

/// The context an activation of `code` allocates on entry, if it has one: its outer context
/// is the block's (the receiver, `nargs` positions below the top of the shadow) for a block,
/// nil for a method; captured arguments are copied in. Leaves through `snapshot` (the send)
/// when the nursery's chunk is full.
pub fn record_context(
    rec: &mut Recording,
    u: &Universe,
    code: &Code,
    nargs: usize,
    snapshot: SnapshotId,
) -> Option<Shadow> {
    if code.context_size == 0 {
        return None;
    }
    let outer = if code.is_block {
        let block = rec.peek(nargs);
        rec.load_field(block, object::BLOCK_OUTER)
    } else {
        rec.constant(u.nil)
    };
    let size = code.context_size as usize;
    let context = rec.new_object(u.core.object, Kind::Context, size, snapshot);
    rec.store_field(context, object::CONTEXT_OUTER, outer);
    // Captured arguments start in the context (other slots start nil, as it is).
    for &(slot, index) in &code.captured_params {
        if let Some(from_top) = nargs.checked_sub(slot as usize) {
            let value = rec.peek(from_top);
            rec.store_field(context, index as usize, value);
        }
    }
    Some(context)
}
