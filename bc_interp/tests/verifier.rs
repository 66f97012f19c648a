//! The verifier rejects broken bytecode with a message that names the problem.
//!
//! Each test compiles a real method of `tests/programs/Disasm*.som`, checks that it verifies
//! as compiled, breaks one thing in it, and expects `verify` to fail saying what is wrong.
//! The last test compiles and verifies every method of the embedded core library.

mod common;

use bc_interp::bytecode::{Instr, Op, Operand};
use bc_interp::method::BcMethod;
use bc_interp::verifier::verify;
use bc_interp::BcEngine;
use common::{blocks, compile, engine, engine_with, instructions, load, method};
use lang::runtime::method::Method;

/// A freshly compiled method of class `class` (`class` side when `class_side`), checked to
/// verify as the compiler produced it.
fn compiled(e: &mut BcEngine, class: &str, class_side: bool, selector: &str) -> BcMethod {
    let c = load(e, class);
    let holder = if class_side { c.class() } else { c };
    let m = method(e, holder, selector);
    checked(e, m)
}

fn checked(e: &mut BcEngine, m: &'static Method) -> BcMethod {
    let bc = compile(e, m);
    if let Err(err) = verify(&bc) {
        panic!("{} as compiled fails verification: {err}", m.display_name());
    }
    bc
}

/// The first block that `class>>selector` creates, compiled and checked.
fn block_of(e: &mut BcEngine, class: &str, class_side: bool, selector: &str) -> BcMethod {
    let outer = compiled(e, class, class_side, selector);
    let block = blocks(&outer)[0];
    checked(e, block)
}

/// The pc and operands of the `n`th instruction with opcode `op`.
fn nth(bc: &BcMethod, op: Op, n: usize) -> (usize, Vec<usize>) {
    instructions(bc)
        .into_iter()
        .filter(|(_, o, _)| *o == op)
        .map(|(pc, _, operands)| (pc, operands))
        .nth(n)
        .unwrap_or_else(|| panic!("no {} number {n}", op.mnemonic()))
}

fn first(bc: &BcMethod, op: Op) -> (usize, Vec<usize>) {
    nth(bc, op, 0)
}

/// Overwrites operand `i` of the instruction at `pc`.
fn set_operand(bc: &mut BcMethod, pc: usize, i: usize, value: usize) {
    bc.code[pc].set_operand(i, value);
}

/// Replaces `instrs.len()` instructions at `pc` (keeping the line table's length).
fn overwrite(bc: &mut BcMethod, pc: usize, instrs: &[Instr]) {
    bc.code[pc..pc + instrs.len()].copy_from_slice(instrs);
}

#[track_caller]
fn rejected(bc: &BcMethod, needles: &[&str]) -> String {
    let err = match verify(bc) {
        Ok(()) => panic!(
            "the broken method verifies:\n{}",
            bc_interp::disasm::disassemble(bc)
        ),
        Err(err) => err,
    };
    for needle in needles {
        assert!(
            err.contains(needle),
            "the error {err:?} does not mention {needle:?}"
        );
    }
    err
}

// ---- unmodified code -------------------------------------------------------------------------------

#[test]
fn unmodified_methods_verify() {
    let mut e = engine();
    for class in ["Disasm", "DisasmSub", "DisasmClassSide"] {
        let c = load(&mut e, class);
        for holder in [c, c.class()] {
            for m in holder.methods() {
                if m.code().is_some() {
                    let bc = checked(&mut e, m);
                    for b in blocks(&bc) {
                        checked(&mut e, b);
                    }
                }
            }
        }
    }
}

#[test]
fn line_table_must_cover_the_code() {
    let mut e = engine();
    let mut bc = compiled(&mut e, "Disasm", false, "argsAndLocals:with:");
    bc.lines.pop();
    rejected(&bc, &["line table"]);
}

// ---- operands -------------------------------------------------------------------------------

#[test]
fn slot_operand_beyond_the_frame() {
    let mut e = engine();
    for op in [Op::PushSlot, Op::StoreSlot] {
        let mut bc = compiled(&mut e, "Disasm", false, "argsAndLocals:with:");
        let (pc, _) = first(&bc, op);
        let value = bc.frame_slots - 1;
        set_operand(&mut bc, pc, 0, value);
        verify(&bc).expect("the last frame slot is a valid operand");
        let value = bc.frame_slots;
        set_operand(&mut bc, pc, 0, value);
        rejected(
            &bc,
            &[
                op.mnemonic(),
                "Slot",
                "operand",
                &bc.frame_slots.to_string(),
            ],
        );
    }
    // The hidden slots of loops: pop_slot, for_test, for_next, times_init, times_test.
    for (selector, op) in [
        ("sumTo:", Op::PopSlot),
        ("sumTo:", Op::ForTest),
        ("sumTo:", Op::ForNext),
        ("repeat:", Op::TimesInit),
        ("repeat:", Op::TimesTest),
    ] {
        let mut bc = compiled(&mut e, "Disasm", false, selector);
        let (pc, _) = first(&bc, op);
        let value = bc.frame_slots;
        set_operand(&mut bc, pc, 0, value);
        rejected(&bc, &[op.mnemonic(), "Slot", "operand"]);
    }
}

#[test]
fn literal_index_out_of_range() {
    let mut e = engine();
    let mut bc = compiled(&mut e, "Disasm", false, "literals");
    let (pc, _) = first(&bc, Op::PushConst);
    let value = bc.literals.len() - 1;
    set_operand(&mut bc, pc, 0, value);
    verify(&bc).expect("the last literal is a valid operand");
    let value = bc.literals.len();
    set_operand(&mut bc, pc, 0, value);
    rejected(&bc, &["push_const", "Literal", "operand"]);

    let mut bc = compiled(&mut e, "Disasm", false, "adder");
    let (pc, _) = first(&bc, Op::PushBlock);
    let value = bc.literals.len();
    set_operand(&mut bc, pc, 0, value);
    rejected(&bc, &["push_block", "Literal", "operand"]);
}

#[test]
fn site_index_out_of_range() {
    let mut e = engine();
    for (class, selector, op) in [
        ("Disasm", "sends", Op::Send),
        ("DisasmSub", "printString", Op::SuperSend),
        ("Disasm", "arith:with:", Op::Add),
        ("Disasm", "compare:with:", Op::Equal),
    ] {
        let mut bc = compiled(&mut e, class, false, selector);
        let (pc, _) = first(&bc, op);
        let value = bc.sites.len();
        set_operand(&mut bc, pc, 0, value);
        rejected(&bc, &[op.mnemonic(), "Site", "operand"]);
    }
}

#[test]
fn global_index_out_of_range() {
    let mut e = engine();
    let mut bc = compiled(&mut e, "Disasm", false, "globals");
    let (pc, _) = first(&bc, Op::PushGlobal);
    let value = bc.globals.len();
    set_operand(&mut bc, pc, 0, value);
    rejected(&bc, &["push_global", "Global", "operand"]);
}

#[test]
fn field_index_beyond_the_holders_fields() {
    let mut e = engine();
    // Disasm has the fields x and y.
    let mut bc = compiled(&mut e, "Disasm", false, "swap");
    let (pc, _) = first(&bc, Op::PushField);
    set_operand(&mut bc, pc, 0, 1);
    verify(&bc).expect("field 1 (y) exists");
    set_operand(&mut bc, pc, 0, 2);
    rejected(&bc, &["push_field", "Index", "operand 2"]);

    let mut bc = compiled(&mut e, "Disasm", false, "setX:");
    let (pc, _) = first(&bc, Op::StoreField);
    set_operand(&mut bc, pc, 0, 2);
    rejected(&bc, &["store_field", "Index", "operand 2"]);

    let mut bc = compiled(&mut e, "Disasm", false, "swap");
    let (pc, _) = first(&bc, Op::PopField);
    set_operand(&mut bc, pc, 0, 2);
    rejected(&bc, &["pop_field", "Index", "operand 2"]);

    // DisasmSub adds z: field 2 is its own, 3 does not exist.
    let mut bc = compiled(&mut e, "DisasmSub", false, "setAll");
    let (pc, operands) = nth(&bc, Op::PopField, 2);
    assert_eq!(operands, [2]);
    set_operand(&mut bc, pc, 0, 3);
    rejected(&bc, &["pop_field", "operand 3"]);

    // In a block, through self: the holder's fields too.
    for op in [Op::PushFieldOf, Op::StoreFieldOf] {
        let mut bc = block_of(&mut e, "Disasm", false, "fieldBlock");
        let (pc, _) = first(&bc, op);
        set_operand(&mut bc, pc, 0, 2);
        rejected(&bc, &[op.mnemonic(), "Index", "operand 2"]);
    }

    // On the class side the holder is the metaclass: its fields are the class-side ones
    // (count and last).
    let mut bc = compiled(&mut e, "DisasmClassSide", true, "count");
    let (pc, _) = first(&bc, Op::PushFieldOf);
    set_operand(&mut bc, pc, 0, 1);
    verify(&bc).expect("class-side field 1 (last) exists");
    set_operand(&mut bc, pc, 0, 2);
    rejected(&bc, &["push_field_of", "operand 2"]);
}

#[test]
fn context_index_outside_the_own_context() {
    let mut e = engine();
    // Disasm>>counter has a context of 2 values: the outer link (0) and n (1).
    for index in [0, 2] {
        let mut bc = compiled(&mut e, "Disasm", false, "counter");
        assert_eq!(bc.context_size, 2);
        let (pc, operands) = first(&bc, Op::StoreContext);
        assert_eq!(operands, [0, 1]);
        set_operand(&mut bc, pc, 1, index);
        rejected(
            &bc,
            &["store_context", "Index", &format!("operand {index}")],
        );
    }
}

#[test]
fn push_block_of_a_literal_that_is_not_a_block() {
    let mut e = engine();
    // Disasm>>counter: literal 0 is the integer 0, literal 1 the block.
    let mut bc = compiled(&mut e, "Disasm", false, "counter");
    let (pc, operands) = first(&bc, Op::PushBlock);
    assert_eq!(operands, [1]);
    set_operand(&mut bc, pc, 0, 0);
    rejected(&bc, &["push_block", "not a block"]);
}

// ---- jumps ----------------------------------------------------------------------------------

#[test]
fn jump_past_the_end() {
    let mut e = engine();
    for op in [Op::JumpIfFalse, Op::Jump] {
        let mut bc = compiled(&mut e, "Disasm", false, "globals");
        let (pc, _) = first(&bc, op);
        let next = pc + 1;
        // Exactly at the end, and far beyond it.
        for target in [bc.code.len(), bc.code.len() + 1000] {
            let value = target - next;
            set_operand(&mut bc, pc, 0, value);
            rejected(&bc, &[op.mnemonic(), "Forward", "operand"]);
        }
    }
    for op in [Op::JumpIfTrue, Op::JumpIfNil, Op::JumpIfNotNil] {
        let (selector, n) = match op {
            Op::JumpIfTrue => ("choose:", 0),
            _ => ("nilTests:", 0),
        };
        let mut bc = compiled(&mut e, "Disasm", false, selector);
        let (pc, _) = nth(&bc, op, n);
        let value = bc.code.len();
        set_operand(&mut bc, pc, 0, value);
        rejected(&bc, &[op.mnemonic(), "Forward", "operand"]);
    }
    // Backward before the start of the code.
    let mut bc = compiled(&mut e, "Disasm", false, "loops:");
    let (pc, _) = first(&bc, Op::JumpBack);
    let value = pc + 2;
    set_operand(&mut bc, pc, 0, value);
    rejected(&bc, &["jump_back", "Backward", "operand"]);
}

#[test]
fn path_that_falls_off_the_end() {
    let mut e = engine();
    // Cut the final instruction (a `return_slot` here, two bytes).
    let mut bc = compiled(&mut e, "Disasm", false, "argsAndLocals:with:");
    let (last, _) = first(&bc, Op::ReturnSlot);
    assert_eq!(last + 1, bc.code.len());
    bc.code.truncate(last);
    bc.lines.truncate(last);
    rejected(&bc, &["off the end"]);

    // Only one branch falls off: Disasm>>max:with: whose last `return_slot 2` becomes
    // `push_slot 2` (a jump lands on it), where the other path returns early.
    let mut bc = compiled(&mut e, "Disasm", false, "max:with:");
    bc.max_stack += 1;
    let (last, _) = nth(&bc, Op::ReturnSlot, 1);
    assert_eq!(last + 1, bc.code.len());
    bc.code[last].op = Op::PushSlot;
    rejected(&bc, &["off the end"]);
}

// ---- the operand stack ----------------------------------------------------------------------

#[test]
fn stack_underflow() {
    let mut e = engine();
    let mut bc = compiled(&mut e, "Disasm", false, "argsAndLocals:with:");
    bc.code.insert(0, Instr::new(Op::Pop, &[]));
    bc.lines.insert(0, bc.line);
    let err = rejected(&bc, &["pop", "stack of 0"]);
    assert!(err.starts_with("0:"), "{err}");

    // A send whose site takes more arguments than the stack holds: Disasm>>sends'
    // `printString` site made to take 1 argument.
    let mut bc = compiled(&mut e, "Disasm", false, "sends");
    let (pc, operands) = first(&bc, Op::Send);
    bc.sites[operands[0]].nargs = 1;
    let err = rejected(&bc, &["send", "pops 2", "stack of 1"]);
    assert!(err.starts_with(&format!("{pc}:")), "{err}");
}

#[test]
fn merge_with_different_depths() {
    let mut e = engine();
    // Disasm>>choose: ends with `^c ifTrue: [ 1 ] ifFalse: [ 2 ]`: replace the then-branch's
    // closing `jump` by `push_nil`, so that it falls into the else-branch one value deeper
    // than the conditional jump arrives there.
    let mut bc = compiled(&mut e, "Disasm", false, "choose:");
    bc.max_stack += 10;
    let (pc, _) = first(&bc, Op::Jump);
    overwrite(&mut bc, pc, &[Instr::new(Op::PushNil, &[])]);
    let err = rejected(&bc, &["paths arrive with stack depths"]);
    assert!(err.starts_with(&format!("{}:", pc + 1)), "{err}");

    // A loop whose body leaves values on the stack: Disasm>>loops:, the first body's
    // `increment_slot` becomes `push_nil`: the back edge arrives deeper than the loop's
    // entry.
    let mut bc = compiled(&mut e, "Disasm", false, "loops:");
    bc.max_stack += 10;
    let (jump, _) = first(&bc, Op::JumpBack);
    assert_eq!(bc.code[jump - 1].op, Op::IncrementSlot);
    overwrite(&mut bc, jump - 1, &[Instr::new(Op::PushNil, &[])]);
    rejected(&bc, &["depth"]);
}

#[test]
fn max_stack_too_small() {
    let mut e = engine();
    for (class, selector) in [
        ("Disasm", "sends"),
        ("Disasm", "sumTo:"),
        ("Disasm", "repeat:"),
        ("Disasm", "nilTests:"),
        ("DisasmClassSide", "id"),
    ] {
        let mut bc = compiled(&mut e, class, false, selector);
        let max = bc.max_stack;
        bc.max_stack -= 1;
        rejected(&bc, &["exceeds the maximum", &(max - 1).to_string()]);
    }
}

// ---- gaps: the verifier's promise, not (yet) kept ---------------------------------------------

/// `push_field` reads slot 0 as the receiver, but in a block slot 0 holds the block.
#[test]
fn direct_field_access_in_a_block() {
    let mut e = engine();
    // Disasm>>fieldBlock's block: `push_slot 1; push_field_of 1` becomes
    // `push_field 1; jump +0` (same stack effect).
    let mut bc = block_of(&mut e, "Disasm", false, "fieldBlock");
    assert_eq!(bc.code[1].op, Op::PushFieldOf);
    overwrite(
        &mut bc,
        0,
        &[Instr::new(Op::PushField, &[1]), Instr::new(Op::Jump, &[0])],
    );
    rejected(&bc, &["push_field"]);
}

/// On the class side slot 0 is a class object, whose fields are not object fields.
#[test]
fn direct_field_access_on_the_class_side() {
    let mut e = engine();
    let mut bc = compiled(&mut e, "DisasmClassSide", true, "count");
    assert_eq!(bc.code[1].op, Op::PushFieldOf);
    overwrite(
        &mut bc,
        0,
        &[Instr::new(Op::PushField, &[0]), Instr::new(Op::Jump, &[0])],
    );
    rejected(&bc, &["push_field"]);
}

/// A method without its own context has no context chain: its "head slot" is a temporary
/// (or the operand stack).
#[test]
fn context_access_in_a_method_without_a_context() {
    let mut e = engine();
    let mut bc = compiled(&mut e, "Disasm", false, "literals");
    assert_eq!(bc.context_size, 0);
    let (pc, _) = first(&bc, Op::PushConst);
    overwrite(&mut bc, pc, &[Instr::new(Op::PushContext, &[0, 1])]);
    rejected(&bc, &["push_context"]);
}

/// The literal of `push_block` is a method, but not a block: run as one, its `self` slot
/// would be the closure.
#[test]
fn push_block_of_a_method_that_is_not_a_block() {
    let mut e = engine();
    let mut bc = compiled(&mut e, "Disasm", false, "adder");
    bc.literals[0] = bc.method.as_value();
    rejected(&bc, &["push_block", "not a block"]);
}

// ---- the core library -----------------------------------------------------------------------

/// Compiles (through the engine, which verifies) `m` and the blocks it creates.
fn disassemble_all(e: &mut BcEngine, m: &'static Method, count: &mut usize) {
    if let Err(err) = e.disassemble(m) {
        panic!("{}: {}", m.display_name(), common::describe(&err));
    }
    *count += 1;
    for block in blocks(&compile(e, m)) {
        disassemble_all(e, block, count);
    }
}

#[test]
fn every_core_library_method_compiles_and_verifies() {
    // No classpath: every class comes from the embedded library.
    let mut e = engine_with(Vec::new());
    let mut count = 0;
    let names: Vec<&str> = lang::core_lib::class_names().collect();
    assert!(names.contains(&"Object") && names.contains(&"Integer"));
    for name in names {
        let class = load(&mut e, name);
        for holder in [class, class.class()] {
            for m in holder.methods() {
                if m.code().is_some() {
                    disassemble_all(&mut e, m, &mut count);
                }
            }
        }
    }
    assert!(count > 100, "only {count} methods and blocks with code");
}

/// `Operand` kinds the tests above break, so a new kind gets a test too.
#[test]
fn every_operand_kind_is_broken_above() {
    let covered = [
        Operand::Slot,
        Operand::Level,
        Operand::Index,
        Operand::Literal,
        Operand::Site,
        Operand::Global,
        Operand::Forward,
        Operand::Backward,
    ];
    for op in Op::ALL {
        for kind in op.operands() {
            assert!(covered.contains(kind), "{kind:?} of {}", op.mnemonic());
        }
    }
}
