//! The text form of a trace: a printer and a parser, so that tests state a pass's input and
//! expected output as text.
//!
//! Owns: the syntax. One instruction per line; an instruction with a value is written
//! `%n = op operands`, one without just `op operands`, and every line counts as an index, so
//! `%n` is always the n-th line of the body. Operands are values (`%3`), one immediate (`#5`,
//! `#-1`, `#0x10`; `const_double` writes its value, `1.5`) and a snapshot (`@0`). After the
//! body, each snapshot: `@0: 0x1000 [4] %1 %2 | 0x2000 [9] %5` — per frame, outermost first,
//! the method, the engine position and the slot values. `;` starts a comment.
//! Must never: accept a trace that `Trace::check` rejects.

use std::fmt::Write as _;

use crate::ir::{
    Arity, Inst, IrError, Op, Snapshot, SnapshotFrame, SnapshotId, Trace, Type, ValueId,
};

/// The text of a trace.
pub fn print(trace: &Trace) -> String {
    let mut out = String::new();
    for (i, inst) in trace.insts.iter().enumerate() {
        if inst.op.result() != Type::Void {
            let _ = write!(out, "%{i} = ");
        }
        out.push_str(inst.op.mnemonic());
        for a in &inst.args {
            let _ = write!(out, " {a}");
        }
        if inst.op.has_immediate() {
            if inst.op == Op::ConstDouble {
                let _ = write!(out, " {:?}", f64::from_bits(inst.imm as u64));
            } else if inst.op == Op::ConstRef
                || inst.op == Op::GuardClass
                || inst.op == Op::NewObject
            {
                let _ = write!(out, " #{:#x}", inst.imm);
            } else {
                let _ = write!(out, " #{}", inst.imm);
            }
        }
        if let Some(s) = inst.snapshot {
            let _ = write!(out, " @{}", s.0);
        }
        out.push('\n');
    }
    for (i, s) in trace.snapshots.iter().enumerate() {
        if s.frames.is_empty() {
            continue; // implied by the instructions that name it
        }
        let _ = write!(out, "@{i}:");
        for (n, f) in s.frames.iter().enumerate() {
            if n > 0 {
                out.push_str(" |");
            }
            let position: Vec<String> = f.position.iter().map(|p| p.to_string()).collect();
            let _ = write!(out, " {:#x} [{}]", f.method, position.join(" "));
            for v in &f.slots {
                let _ = write!(out, " {v}");
            }
        }
        out.push('\n');
    }
    out
}

fn value(word: &str, line: usize) -> Result<ValueId, IrError> {
    word.strip_prefix('%')
        .and_then(|n| n.parse().ok())
        .map(ValueId)
        .ok_or_else(|| IrError(format!("line {line}: `{word}` is not a value (%n)")))
}

fn immediate(word: &str, line: usize) -> Result<i64, IrError> {
    let body = word.strip_prefix('#').unwrap_or(word);
    let (negative, digits) = match body.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, body),
    };
    let magnitude = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).map(|v| v as i64),
        None => digits.parse::<i64>(),
    }
    .map_err(|_| IrError(format!("line {line}: `{word}` is not an immediate")))?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Parses the text form (see the module comment).
pub fn parse(text: &str) -> Result<Trace, IrError> {
    let mut trace = Trace::default();
    let mut snapshots: Vec<(usize, Snapshot)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let code = raw.split(';').next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        if let Some(rest) = code.strip_prefix('@') {
            let (id, frames) = rest
                .split_once(':')
                .ok_or_else(|| IrError(format!("line {line}: a snapshot is `@n: frames`")))?;
            let id: usize = id
                .trim()
                .parse()
                .map_err(|_| IrError(format!("line {line}: bad snapshot number")))?;
            let mut snapshot = Snapshot::default();
            for frame in frames.split('|').filter(|f| !f.trim().is_empty()) {
                let (method, rest) = frame.trim().split_once('[').ok_or_else(|| {
                    IrError(format!("line {line}: a frame is `method [pos] slots`"))
                })?;
                let (position, slots) = rest
                    .split_once(']')
                    .ok_or_else(|| IrError(format!("line {line}: missing `]`")))?;
                snapshot.frames.push(SnapshotFrame {
                    method: immediate(method.trim(), line)? as u64,
                    position: position
                        .split_whitespace()
                        .map(|p| {
                            p.parse()
                                .map_err(|_| IrError(format!("line {line}: bad position `{p}`")))
                        })
                        .collect::<Result<_, _>>()?,
                    slots: slots
                        .split_whitespace()
                        .map(|w| value(w, line))
                        .collect::<Result<_, _>>()?,
                });
            }
            snapshots.push((id, snapshot));
            continue;
        }
        let index = trace.insts.len();
        let (named, body) = match code.split_once('=') {
            Some((name, body)) => (Some(value(name.trim(), line)?), body.trim()),
            None => (None, code),
        };
        let mut words = body.split_whitespace();
        let mnemonic = words.next().unwrap_or_default();
        let op = Op::from_mnemonic(mnemonic)
            .ok_or_else(|| IrError(format!("line {line}: unknown operation `{mnemonic}`")))?;
        match (named, op.result()) {
            (Some(v), t) if t != Type::Void && v.0 as usize != index => {
                return Err(IrError(format!("line {line}: this is %{index}, not {v}")))
            }
            (Some(_), Type::Void) => {
                return Err(IrError(format!(
                    "line {line}: {mnemonic} has no value to name"
                )))
            }
            (None, t) if t != Type::Void => {
                return Err(IrError(format!(
                    "line {line}: name the value: `%{index} = {mnemonic} …`"
                )))
            }
            _ => {}
        }
        let mut inst = Inst::new(op, Vec::new(), 0);
        let mut seen_immediate = false;
        for w in words {
            if w.starts_with('%') {
                inst.args.push(value(w, line)?);
            } else if let Some(s) = w.strip_prefix('@') {
                let s = s
                    .parse()
                    .map_err(|_| IrError(format!("line {line}: bad snapshot `{w}`")))?;
                inst.snapshot = Some(SnapshotId(s));
            } else if op.has_immediate() && !seen_immediate {
                seen_immediate = true;
                inst.imm = if op == Op::ConstDouble {
                    let d: f64 = w
                        .parse()
                        .map_err(|_| IrError(format!("line {line}: `{w}` is not a double")))?;
                    d.to_bits() as i64
                } else {
                    immediate(w, line)?
                };
            } else {
                return Err(IrError(format!("line {line}: unexpected `{w}`")));
            }
        }
        if op.has_immediate() && !seen_immediate {
            return Err(IrError(format!(
                "line {line}: {mnemonic} needs an immediate"
            )));
        }
        if let Arity::Fixed(k) = op.arity() {
            if inst.args.len() != k {
                return Err(IrError(format!(
                    "line {line}: {mnemonic} takes {k} operands"
                )));
            }
        }
        trace.push(inst);
    }
    // Snapshots named by instructions but not written out are empty.
    let count = trace
        .insts
        .iter()
        .filter_map(|i| i.snapshot)
        .map(|s| s.0 as usize + 1)
        .chain(snapshots.iter().map(|(id, _)| id + 1))
        .max()
        .unwrap_or(0);
    trace.snapshots = vec![Snapshot::default(); count];
    for (id, s) in snapshots {
        if !trace.snapshots[id].frames.is_empty() {
            return Err(IrError(format!("snapshot @{id} is written twice")));
        }
        trace.snapshots[id] = s;
    }
    trace.check()?;
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUM_LOOP: &str = "\
%0 = input #1
guard_int %0 @0
%2 = unbox_int %0
%3 = const_int #1
loop
%5 = add_ov %2 %3 @0
%6 = const_double 2.5
%7 = new_object #0x1000
%8 = call_primitive %7 %0 #12 @2
phi %2 %5
jump
@0: 0x2000 [3] %0
@2: 0x2000 [7] %0 | 0x3000 [1 2] %7
";

    #[test]
    fn print_reproduces_parsed_text() {
        let trace = parse(SUM_LOOP).unwrap();
        assert_eq!(print(&trace), SUM_LOOP);
        assert_eq!(trace.insts[8].args, vec![ValueId(7), ValueId(0)]);
        assert_eq!(trace.insts[8].imm, 12);
        assert_eq!(trace.snapshots[2].frames[1].position, vec![1, 2]);
        assert!(trace.snapshots[1].frames.is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("%0 = nonsense", "line 1: unknown operation"),
            ("%1 = const_int #1", "line 1: this is %0, not %1"),
            ("const_int #1", "name the value"),
            ("%0 = const_int", "needs an immediate"),
            ("%0 = const_int #1\n%1 = add_ov %0", "takes 2 operands"),
            ("%0 = const_int #1\n%1 = add_ov %0 %7", "not defined before"),
            ("%0 = const_int #x", "not an immediate"),
        ];
        for (text, message) in cases {
            let err = parse(text).unwrap_err().0;
            assert!(err.contains(message), "{text:?}: {err}");
        }
    }
}
