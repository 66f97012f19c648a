//! Disassembly snapshots of small methods that together use every bytecode.
//!
//! The SOM sources are `tests/programs/Disasm*.som`. Each snapshot was checked by hand
//! against its source (jump targets, slots, stack bounds): when one changes, check the new
//! text the same way before accepting it. `every_bytecode_is_covered` fails when a bytecode
//! is added without a method here that uses it.

mod common;

use std::collections::BTreeSet;

use bc_interp::bytecode::Op;
use bc_interp::{disasm, verifier, BcEngine};
use common::{blocks, compile, engine, instructions, load};
use lang::runtime::method::Method;

const CLASSES: &[&str] = &["Disasm", "DisasmSub", "DisasmClassSide"];

/// Disassembles `m` and then, depth first, the blocks it creates; records the ops used.
fn disassemble_into(e: &mut BcEngine, m: &'static Method, text: &mut String, ops: &mut Vec<Op>) {
    let bc = compile(e, m);
    if let Err(err) = verifier::verify(&bc) {
        panic!("{} fails verification: {err}", m.display_name());
    }
    text.push_str(&disasm::disassemble(&bc));
    ops.extend(instructions(&bc).into_iter().map(|(_, op, _)| op));
    for block in blocks(&bc) {
        disassemble_into(e, block, text, ops);
    }
}

/// The disassembly of every method (instance side, then class side) of class `name`.
fn disassemble_class(e: &mut BcEngine, name: &str, ops: &mut Vec<Op>) -> String {
    let class = load(e, name);
    let mut text = String::new();
    for holder in [class, class.class()] {
        for m in holder.methods() {
            if m.code().is_some() {
                disassemble_into(e, m, &mut text, ops);
                text.push('\n');
            }
        }
    }
    text
}

#[test]
fn every_bytecode_is_covered() {
    let mut e = engine();
    let mut ops = Vec::new();
    for name in CLASSES {
        disassemble_class(&mut e, name, &mut ops);
    }
    let used: BTreeSet<u8> = ops.iter().map(|op| *op as u8).collect();
    let missing: Vec<&str> = Op::ALL
        .iter()
        .filter(|op| !used.contains(&(**op as u8)))
        .map(|op| op.mnemonic())
        .collect();
    assert!(
        missing.is_empty(),
        "bytecodes no method in tests/programs/Disasm*.som uses: {missing:?}"
    );
}

/// The text `BcEngine::disassemble` gives (compiled and verified by the engine) is the text
/// of the snapshots.
#[test]
fn engine_disassembly_matches() {
    let mut e = engine();
    let class = load(&mut e, "Disasm");
    for m in class.methods() {
        let bc = compile(&mut e, m);
        let expected = disasm::disassemble(&bc);
        let text = e
            .disassemble(m)
            .unwrap_or_else(|err| panic!("{}", common::describe(&err)));
        assert_eq!(text, expected);
    }
}

#[test]
fn disasm() {
    let mut e = engine();
    insta::assert_snapshot!(disassemble_class(&mut e, "Disasm", &mut Vec::new()));
}

#[test]
fn disasm_sub() {
    let mut e = engine();
    insta::assert_snapshot!(disassemble_class(&mut e, "DisasmSub", &mut Vec::new()));
}

#[test]
fn disasm_class_side() {
    let mut e = engine();
    insta::assert_snapshot!(disassemble_class(
        &mut e,
        "DisasmClassSide",
        &mut Vec::new()
    ));
}

/// The disassembly does not show where a super send starts its lookup: the holder's
/// superclass, for methods and blocks, on both sides.
#[test]
fn super_sends_look_up_from_the_holders_superclass() {
    let mut e = engine();
    let disasm = load(&mut e, "Disasm");
    let sub = load(&mut e, "DisasmSub");
    let class_side = load(&mut e, "DisasmClassSide");
    let object = load(&mut e, "Object");
    let super_block = common::method(&mut e, sub, "superBlock");
    let super_block = blocks(&compile(&mut e, super_block))[0];
    let cases: [(&'static Method, &'static lang::runtime::class::Class); 4] = [
        (common::method(&mut e, sub, "printString"), disasm),
        (common::method(&mut e, sub, "arith:with:"), disasm),
        (super_block, disasm),
        (
            common::method(&mut e, class_side.class(), "new"),
            object.class(),
        ),
    ];
    for (m, expected) in cases {
        let bc = compile(&mut e, m);
        let supers: Vec<_> = instructions(&bc)
            .into_iter()
            .filter(|(_, op, _)| *op == Op::SuperSend)
            .map(|(_, _, operands)| &bc.sites[operands[0]])
            .collect();
        assert_eq!(supers.len(), 1, "{}", m.display_name());
        let start = supers[0]
            .super_cache
            .lookup_class()
            .expect("a super send site has a start class");
        assert!(
            std::ptr::eq(start, expected),
            "{}: lookup starts in {}, not {}",
            m.display_name(),
            start.name_str(),
            expected.name_str()
        );
    }
}
