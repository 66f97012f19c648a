//! The bytecode verifier: every compiled method is checked once before it first runs.
//!
//! Owns: the guarantees the interpreter relies on instead of checking at run time — every
//! instruction has a line, every operand indexes an existing slot, literal, site or
//! field, every jump lands on an instruction, the operand stack never goes below empty or
//! above `max_stack` on any path, merging paths agree on its depth, and no path falls off
//! the end. Must never: modify the method.

use lang::gc::Kind;
use lang::runtime::object;

use crate::bytecode::{Op, Operand, StackEffect};
use crate::method::BcMethod;

pub fn verify(m: &BcMethod) -> Result<(), String> {
    if m.lines.len() != m.code.len() {
        return Err("the line table does not cover the code".into());
    }
    check_operands(m)?;
    check_stack(m)
}

/// Where a jump at `pc` with distance `offset` lands (`None` before the start).
fn jump_target(pc: usize, offset: usize, kind: Operand) -> Option<usize> {
    let next = pc + 1;
    match kind {
        Operand::Forward => Some(next + offset),
        _ => next.checked_sub(offset),
    }
}

fn check_operands(m: &BcMethod) -> Result<(), String> {
    let fields = m
        .method
        .holder
        .get()
        .map(|h| h.instance_fields.borrow().len())
        .unwrap_or(0);
    for (pc, instr) in m.code.iter().enumerate() {
        let op = instr.op;
        let values = instr.operands();
        for (kind, &v) in op.operands().iter().zip(&values) {
            let ok = match kind {
                Operand::Slot => v < m.frame_slots,
                Operand::Literal => v < m.literals.len(),
                Operand::Site => v < m.sites.len(),
                Operand::Global => v < m.globals.len(),
                Operand::Index => match op {
                    Op::PushField
                    | Op::StoreField
                    | Op::PopField
                    | Op::PushFieldOf
                    | Op::StoreFieldOf => v < fields,
                    // A context's value 0 is its outer link; level 0 with an own context is
                    // checkable here, outer contexts belong to enclosing methods.
                    _ => v >= 1 && (values[0] != 0 || m.context_size == 0 || v < m.context_size),
                },
                // A method's only context is its own; a block may reach enclosing ones.
                Operand::Level => m.is_block || (m.context_size > 0 && v == 0),
                Operand::Forward | Operand::Backward => {
                    matches!(jump_target(pc, v, *kind), Some(t) if t < m.code.len())
                }
            };
            if !ok {
                return Err(format!(
                    "{pc}: {} has an invalid {kind:?} operand {v}",
                    op.mnemonic()
                ));
            }
        }
        // Direct field access reads slot 0 as an ordinary object: only in instance-side
        // methods, where slot 0 is the receiver (blocks and class methods use *_field_of).
        let class_side = m.method.holder.get().is_some_and(|h| h.is_metaclass);
        if matches!(op, Op::PushField | Op::StoreField | Op::PopField) && (m.is_block || class_side)
        {
            return Err(format!(
                "{pc}: {} outside an instance-side method",
                op.mnemonic()
            ));
        }
        if op == Op::PushBlock {
            let lit = m.literals[values[0]];
            let is_block_method = lit.is_ref()
                && object::kind(lit) == Kind::Method
                && lang::runtime::method::Method::from_value(lit).is_block();
            if !is_block_method {
                return Err(format!(
                    "{pc}: push_block of a literal that is not a block method"
                ));
            }
        }
        if matches!(op, Op::Send | Op::SuperSend) && m.sites[values[0]].nargs > 255 {
            return Err(format!("{pc}: send with too many arguments"));
        }
    }
    Ok(())
}

/// Abstract interpretation of the operand stack depth over the control-flow graph.
fn check_stack(m: &BcMethod) -> Result<(), String> {
    let mut depth_at: Vec<Option<usize>> = vec![None; m.code.len()];
    let mut work = vec![(0usize, 0usize)];
    while let Some((pc, depth)) = work.pop() {
        if pc >= m.code.len() {
            return Err("a path runs off the end of the code without returning".into());
        }
        match depth_at[pc] {
            Some(d) if d == depth => continue,
            Some(d) => {
                return Err(format!(
                    "{pc}: paths arrive with stack depths {d} and {depth}"
                ))
            }
            None => depth_at[pc] = Some(depth),
        }
        let op = m.code[pc].op;
        let values = m.code[pc].operands();
        let (pops, pushes) = match op.stack_effect() {
            StackEffect::Fixed { pops, pushes } => (pops as usize, pushes as usize),
            StackEffect::Send => (m.sites[values[0]].nargs + 1, 1),
            StackEffect::Return { pops } => (pops as usize, 0),
        };
        if depth < pops {
            return Err(format!(
                "{pc}: {} pops {pops} from a stack of {depth}",
                op.mnemonic()
            ));
        }
        let after = depth - pops + pushes;
        if after > m.max_stack {
            return Err(format!(
                "{pc}: stack depth {after} exceeds the maximum {}",
                m.max_stack
            ));
        }
        let next = pc + 1;
        match op {
            Op::Return | Op::ReturnNonLocal | Op::ReturnSlot => {}
            Op::Jump | Op::JumpBack => {
                let kind = op.operands()[0];
                work.push((jump_target(pc, values[0], kind).unwrap(), after));
            }
            _ => {
                if let Some(i) = op
                    .operands()
                    .iter()
                    .position(|o| matches!(o, Operand::Forward | Operand::Backward))
                {
                    work.push((jump_target(pc, values[i], op.operands()[i]).unwrap(), after));
                }
                work.push((next, after));
            }
        }
    }
    Ok(())
}
