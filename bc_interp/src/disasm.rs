//! The disassembler: a compiled method as text, one instruction per line.
//!
//! Owns: the textual form used by `som -d` and by the snapshot tests. Must never: be needed
//! to run code.

use std::fmt::Write;

use lang::runtime::method::Method;
use lang::runtime::object;
use lang::runtime::value::Value;

use crate::bytecode::Operand;
use crate::method::BcMethod;

fn describe(v: Value) -> String {
    if let Some(i) = v.as_small_int() {
        return i.to_string();
    }
    if v.is_immediate_double() {
        return format!("{:?}", v.immediate_double_unchecked());
    }
    match object::kind(v) {
        lang::gc::Kind::String => format!("'{}'", object::str(v)),
        lang::gc::Kind::Symbol => format!("#{}", object::str(v)),
        lang::gc::Kind::Method => format!("block({} params)", Method::from_value(v).params),
        kind => format!("<{kind:?}>"),
    }
}

/// The method's header and instructions: `offset  mnemonic  operands  ; comment`.
pub fn disassemble(m: &BcMethod) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — params {}, frame slots {}, max stack {}, context {}",
        m.method.display_name(),
        m.params,
        m.frame_slots,
        m.max_stack,
        m.context_size
    );
    for (pc, instr) in m.code.iter().enumerate() {
        let op = instr.op;
        let values = instr.operands();
        let mut text = format!("  {pc:04}  {:<17}", op.mnemonic());
        let mut comment = String::new();
        for (kind, v) in op.operands().iter().zip(&values) {
            match kind {
                Operand::Forward => text.push_str(&format!(" ->{:04}", pc + 1 + v)),
                Operand::Backward => text.push_str(&format!(" ->{:04}", pc + 1 - v)),
                _ => text.push_str(&format!(" {v}")),
            }
            match kind {
                Operand::Literal => comment = describe(m.literals[*v]),
                Operand::Site => {
                    let s = &m.sites[*v];
                    comment = format!("#{} ({} args)", object::str(s.selector), s.nargs);
                }
                Operand::Global => comment = object::str(m.globals[*v].name).to_string(),
                _ => {}
            }
        }
        if comment.is_empty() {
            let _ = writeln!(out, "{}", text.trim_end());
        } else {
            let _ = writeln!(out, "{text:<40} ; {comment}");
        }
    }
    out
}
