//! x86-64 code for a trace, through dynasmrt.
//!
//! Owns: the instruction selection for every supported IR operation, where values live (the
//! five most used — uses in the loop body weigh more — in callee-saved registers for the
//! whole trace, the others in their own 8-byte stack slots; `rbx` holds the context), guard
//! exits (one stub per snapshot writing its values to the exit buffer), the loop's back edge
//! (phis as a parallel copy, then the safepoint check) and the value encodings the code relies
//! on: small integers are `(i << 1) | 1`, immediate doubles as `lang::runtime::value` says,
//! doubles as their bits, a `bool` is 0 or 1. Must never: emit code for an operation it does
//! not fully implement — it refuses the trace instead.

use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

use super::{BackendError, CompiledTrace, ExitFrame, Layout};
use crate::ir::{Op, Trace, Type};

/// The exponent offset of immediate doubles (767), in place in the rotated bits.
const DOUBLE_EXP_BIAS: i64 = 767 << 53;

const CTX_SLOTS: i32 = 0;
const CTX_EXIT_VALUES: i32 = 8;
const CTX_SAFEPOINT: i32 = 16;
const CTX_COUNTDOWN: i32 = 24;
const CTX_REMEMBER: i32 = 32;
const CTX_RUNTIME: i32 = 40;
const CTX_NURSERY_TOP: i32 = 48;
const CTX_NURSERY_LIMIT: i32 = 56;
const CTX_ALLOCATED: i32 = 64;
const CTX_CURRENT: i32 = 72;
const CTX_EXIT_COUNT: i32 = 80;

/// The stack slot of value `i`.
fn slot(i: usize) -> i32 {
    (8 * i) as i32
}

/// Where a value lives while the trace runs: one of the callee-saved registers the
/// allocator hands out, or its own stack slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Reg(u8),
    Stack(i32),
}

/// The registers values may live in (callee-saved: they survive the write barrier's call
/// into the runtime): rbp, r12, r13, r14, r15. Scratch registers (rax, rcx, rdx, rsi, rdi,
/// r8, r9) hold operands within one instruction only; rbx holds the context.
const VALUE_REGISTERS: [u8; 5] = [5, 12, 13, 14, 15];

/// Gives the value registers to the values used most, a use in the loop body counting as
/// many uses before it (the body runs many times); the others stay in their stack slots.
/// A register holds its value for the whole trace, so no liveness analysis is needed.
fn allocate_registers(trace: &Trace) -> Vec<Home> {
    let n = trace.insts.len();
    let body_start = trace.loop_index().map_or(0, |l| l + 1);
    let mut weight = vec![0u64; n];
    for (i, inst) in trace.insts.iter().enumerate() {
        let w = if i >= body_start && trace.loop_index().is_some() {
            16
        } else {
            1
        };
        for a in &inst.args {
            weight[a.0 as usize] += w;
        }
    }
    let mut candidates: Vec<usize> = (0..n)
        .filter(|&i| trace.insts[i].op.result() != Type::Void && weight[i] > 1)
        .collect();
    candidates.sort_by_key(|&i| std::cmp::Reverse(weight[i]));
    let mut homes: Vec<Home> = (0..n).map(|i| Home::Stack(slot(i))).collect();
    for (reg, &i) in VALUE_REGISTERS.iter().zip(&candidates) {
        homes[i] = Home::Reg(*reg);
    }
    homes
}

/// `scratch` := the value whose home is `home`.
fn load(ops: &mut dynasmrt::x64::Assembler, scratch: u8, home: Home) {
    match home {
        Home::Reg(r) => dynasm!(ops ; .arch x64 ; mov Rq(scratch), Rq(r)),
        Home::Stack(s) => dynasm!(ops ; .arch x64 ; mov Rq(scratch), [rsp + s]),
    }
}

/// The value whose home is `home` := `scratch`.
fn store(ops: &mut dynasmrt::x64::Assembler, home: Home, scratch: u8) {
    match home {
        Home::Reg(r) => dynasm!(ops ; .arch x64 ; mov Rq(r), Rq(scratch)),
        Home::Stack(s) => dynasm!(ops ; .arch x64 ; mov [rsp + s], Rq(scratch)),
    }
}

// Scratch register numbers.
const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;
const RDI: u8 = 7;
const R9: u8 = 9;

/// Compiles `trace`; `loop_snapshot` is where a safepoint request at the back edge leaves (its
/// values must be the loop-carried ones, which at that point hold the next iteration's start).
/// With `stress`, every guard first counts down the context's `countdown` and leaves when it
/// reaches zero (so that tests take every exit path).
pub fn compile(
    trace: &Trace,
    loop_snapshot: Option<u32>,
    stress: bool,
    layout: &Layout,
) -> Result<CompiledTrace, BackendError> {
    trace
        .check()
        .map_err(|_| BackendError::Unsupported("an ill-formed trace"))?;
    let n = trace.insts.len();
    let homes = allocate_registers(trace);
    let home = |v: crate::ir::ValueId| homes[v.0 as usize];
    let phis: Vec<(usize, usize)> = trace
        .insts
        .iter()
        .filter(|i| i.op == Op::Phi)
        .map(|i| (i.args[0].0 as usize, i.args[1].0 as usize))
        .collect();
    // Values, then the phis' temporaries. After the return address and six pushes rsp is
    // 8 off a multiple of 16: the frame's extra 8 bytes align it for the barrier's call.
    let frame = ((8 * (n + phis.len())).div_ceil(16) * 16 + 8) as i32;
    let temp = |k: usize| slot(n + k);

    let mut ops =
        dynasmrt::x64::Assembler::new().map_err(|e| BackendError::Assembler(e.to_string()))?;
    let exits: Vec<dynasmrt::DynamicLabel> = trace
        .snapshots
        .iter()
        .map(|_| ops.new_dynamic_label())
        .collect();
    let loop_label = ops.new_dynamic_label();
    let epilogue = ops.new_dynamic_label();
    let entry_label = ops.new_dynamic_label();
    let entry = ops.offset();
    let links: Box<[std::cell::Cell<u64>]> = trace
        .snapshots
        .iter()
        .map(|_| std::cell::Cell::new(0))
        .collect();
    let links_address = links.as_ptr() as i64;
    // rbx: the context.
    dynasm!(ops
        ; .arch x64
        ; =>entry_label
        ; push rbx
        ; push rbp
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, frame
        ; mov rbx, rdi
        ; lea rax, [=>entry_label]
        ; mov [rbx + CTX_CURRENT], rax
    );
    let mut slots_read = 0;
    let mut closing_exit = None;
    let mut leaving_exit = None;
    for (i, inst) in trace.insts.iter().enumerate() {
        let a = |k: usize| home(inst.args[k]);
        let r = homes[i];
        let exit = inst.snapshot.map(|s| exits[s.0 as usize]);
        let need_exit = || exit.ok_or(BackendError::Unsupported("a guard without a snapshot"));
        let leaves = inst.op.effect() == crate::ir::Effect::Guard || inst.op == Op::CallPrimitive;
        if stress && leaves {
            let e = need_exit()?;
            dynasm!(ops ; .arch x64 ; sub QWORD [rbx + CTX_COUNTDOWN], 1 ; jz =>e);
        }
        match inst.op {
            Op::ConstInt | Op::ConstRef | Op::ConstDouble => {
                dynasm!(ops ; .arch x64 ; mov rax, QWORD inst.imm);
                store(&mut ops, r, RAX);
            }
            Op::Input => {
                let s = inst.imm as i32;
                slots_read = slots_read.max(inst.imm as usize + 1);
                dynasm!(ops
                    ; .arch x64
                    ; mov rcx, [rbx + CTX_SLOTS]
                    ; mov rax, [rcx + 8 * s]
                );
                store(&mut ops, r, RAX);
            }
            Op::GuardInt => {
                let e = need_exit()?;
                load(&mut ops, RAX, a(0));
                dynasm!(ops ; .arch x64 ; test al, 1 ; jz =>e);
            }
            Op::GuardDouble => {
                let e = need_exit()?;
                load(&mut ops, RAX, a(0));
                dynasm!(ops
                    ; .arch x64
                    ; and eax, 3
                    ; cmp eax, 2
                    ; jne =>e
                );
            }
            Op::GuardClass => {
                // A heap reference (low three bits clear; 0 is never a value) whose header's
                // class word is `imm`.
                let e = need_exit()?;
                load(&mut ops, RAX, a(0));
                dynasm!(ops
                    ; .arch x64
                    ; test al, 7
                    ; jnz =>e
                    ; mov rcx, QWORD inst.imm
                    ; cmp [rax], rcx
                    ; jne =>e
                );
            }
            Op::GuardKind => {
                // The kind is the meta word's low byte.
                let e = need_exit()?;
                load(&mut ops, RAX, a(0));
                dynasm!(ops
                    ; .arch x64
                    ; movzx ecx, BYTE [rax + layout.meta_offset]
                    ; cmp ecx, inst.imm as i32
                    ; jne =>e
                );
            }
            Op::GuardTrue | Op::GuardFalse => {
                let e = need_exit()?;
                load(&mut ops, RAX, a(0));
                dynasm!(ops ; .arch x64 ; test rax, rax);
                if inst.op == Op::GuardTrue {
                    dynasm!(ops ; .arch x64 ; je =>e);
                } else {
                    dynasm!(ops ; .arch x64 ; jne =>e);
                }
            }
            Op::GuardSame => {
                let e = need_exit()?;
                load(&mut ops, RAX, a(0));
                load(&mut ops, RCX, a(1));
                dynasm!(ops ; .arch x64 ; cmp rax, rcx ; jne =>e);
            }
            Op::UnboxInt => {
                load(&mut ops, RAX, a(0));
                dynasm!(ops ; .arch x64 ; sar rax, 1);
                store(&mut ops, r, RAX);
            }
            Op::BoxInt => {
                load(&mut ops, RAX, a(0));
                dynasm!(ops ; .arch x64 ; lea rax, [rax + rax + 1]);
                store(&mut ops, r, RAX);
            }
            Op::AddOv | Op::SubOv | Op::MulOv => {
                let e = need_exit()?;
                load(&mut ops, RAX, a(0));
                load(&mut ops, RCX, a(1));
                match inst.op {
                    Op::AddOv => dynasm!(ops ; .arch x64 ; add rax, rcx),
                    Op::SubOv => dynasm!(ops ; .arch x64 ; sub rax, rcx),
                    _ => dynasm!(ops ; .arch x64 ; imul rax, rcx),
                }
                // Overflow of 64 bits, then of the 63 bits of a small integer (doubling
                // overflows exactly when the value is outside them).
                dynasm!(ops
                    ; .arch x64
                    ; jo =>e
                    ; mov rdx, rax
                    ; add rdx, rdx
                    ; jo =>e
                );
                store(&mut ops, r, RAX);
            }
            Op::UnboxDouble => {
                // The immediate encoding (see `lang::runtime::value`): the IEEE bits rotated
                // left by one, the exponent re-biased by -767 unless the rotated bits are 0
                // or 1 (zeros), shifted left by two under the tag.
                load(&mut ops, RAX, a(0));
                dynasm!(ops
                    ; .arch x64
                    ; shr rax, 2
                    ; mov rcx, QWORD DOUBLE_EXP_BIAS
                    ; xor edx, edx
                    ; cmp rax, 1
                    ; cmova rdx, rcx
                    ; add rax, rdx
                    ; ror rax, 1
                );
                store(&mut ops, r, RAX);
            }
            Op::BoxDouble => {
                let e = need_exit()?;
                let zero = ops.new_dynamic_label();
                load(&mut ops, RAX, a(0));
                dynasm!(ops
                    ; .arch x64
                    ; rol rax, 1
                    ; cmp rax, 1
                    ; jbe =>zero
                    // The exponent must lie in 768..=1278 to have an immediate encoding.
                    ; mov rcx, rax
                    ; shr rcx, 53
                    ; sub rcx, 768
                    ; cmp rcx, 510
                    ; ja =>e
                    ; mov rcx, QWORD DOUBLE_EXP_BIAS
                    ; sub rax, rcx
                    ; =>zero
                    ; shl rax, 2
                    ; or rax, 2
                );
                store(&mut ops, r, RAX);
            }
            Op::IntToDouble => {
                load(&mut ops, RAX, a(0));
                dynasm!(ops ; .arch x64 ; cvtsi2sd xmm0, rax ; movq rax, xmm0);
                store(&mut ops, r, RAX);
            }
            Op::DoubleToInt => {
                // cvttsd2si truncates; out of range (and NaN) gives i64::MIN, which is no
                // small integer either.
                let e = need_exit()?;
                load(&mut ops, RAX, a(0));
                dynasm!(ops
                    ; .arch x64
                    ; movq xmm0, rax
                    ; cvttsd2si rax, xmm0
                    ; mov rdx, rax
                    ; add rdx, rdx
                    ; jo =>e
                );
                store(&mut ops, r, RAX);
            }
            Op::SqrtDouble => {
                load(&mut ops, RAX, a(0));
                dynasm!(ops ; .arch x64 ; movq xmm0, rax ; sqrtsd xmm0, xmm0 ; movq rax, xmm0);
                store(&mut ops, r, RAX);
            }
            Op::ShlOv | Op::SarInt => {
                let e = need_exit()?;
                let most = if inst.op == Op::ShlOv { 62 } else { 63 };
                load(&mut ops, RAX, a(0));
                load(&mut ops, RCX, a(1));
                dynasm!(ops
                    ; .arch x64
                    ; cmp rcx, most
                    ; ja =>e // unsigned: negative counts too
                );
                if inst.op == Op::ShlOv {
                    // Exact when shifting back gives the operand, and small when doubling
                    // does not overflow.
                    dynasm!(ops
                        ; .arch x64
                        ; mov rdx, rax
                        ; shl rdx, cl
                        ; mov r8, rdx
                        ; sar r8, cl
                        ; cmp r8, rax
                        ; jne =>e
                        ; mov r8, rdx
                        ; add r8, r8
                        ; jo =>e
                    );
                    store(&mut ops, r, RDX);
                } else {
                    dynasm!(ops ; .arch x64 ; sar rax, cl);
                    store(&mut ops, r, RAX);
                }
            }
            Op::AndInt | Op::XorInt => {
                load(&mut ops, RAX, a(0));
                load(&mut ops, RCX, a(1));
                if inst.op == Op::AndInt {
                    dynasm!(ops ; .arch x64 ; and rax, rcx);
                } else {
                    dynasm!(ops ; .arch x64 ; xor rax, rcx);
                }
                store(&mut ops, r, RAX);
            }
            Op::DivInt | Op::ModInt | Op::RemInt => {
                // Operands are small integers (63 bits), so `idiv` cannot trap on
                // i64::MIN / -1; only the zero divisor must leave first.
                let e = need_exit()?;
                let exact = ops.new_dynamic_label();
                load(&mut ops, RAX, a(0));
                load(&mut ops, RCX, a(1));
                dynasm!(ops
                    ; .arch x64
                    ; test rcx, rcx
                    ; jz =>e
                    ; cqo
                    ; idiv rcx
                );
                match inst.op {
                    // Truncated to floored: when the remainder is non-zero and its sign
                    // differs from the divisor's, the quotient is one less and the modulo
                    // one divisor more.
                    Op::DivInt => {
                        dynasm!(ops
                            ; .arch x64
                            ; test rdx, rdx
                            ; jz =>exact
                            ; xor rdx, rcx
                            ; jns =>exact
                            ; dec rax
                            ; =>exact
                            ; mov rdx, rax
                            ; add rdx, rdx
                            ; jo =>e
                        );
                        store(&mut ops, r, RAX);
                    }
                    Op::ModInt => {
                        dynasm!(ops
                            ; .arch x64
                            ; test rdx, rdx
                            ; jz =>exact
                            ; mov r8, rdx
                            ; xor r8, rcx
                            ; jns =>exact
                            ; add rdx, rcx
                            ; =>exact
                        );
                        store(&mut ops, r, RDX);
                    }
                    _ => {
                        dynasm!(ops ; .arch x64 ; =>exact);
                        store(&mut ops, r, RDX);
                    }
                }
            }
            Op::AddDouble | Op::SubDouble | Op::MulDouble | Op::DivDouble => {
                load(&mut ops, RAX, a(0));
                load(&mut ops, RCX, a(1));
                dynasm!(ops ; .arch x64 ; movq xmm0, rax ; movq xmm1, rcx);
                match inst.op {
                    Op::AddDouble => dynasm!(ops ; .arch x64 ; addsd xmm0, xmm1),
                    Op::SubDouble => dynasm!(ops ; .arch x64 ; subsd xmm0, xmm1),
                    Op::MulDouble => dynasm!(ops ; .arch x64 ; mulsd xmm0, xmm1),
                    _ => dynasm!(ops ; .arch x64 ; divsd xmm0, xmm1),
                }
                dynasm!(ops ; .arch x64 ; movq rax, xmm0);
                store(&mut ops, r, RAX);
            }
            Op::LtInt | Op::LeInt | Op::EqInt | Op::EqRef => {
                load(&mut ops, RAX, a(0));
                load(&mut ops, RDX, a(1));
                dynasm!(ops ; .arch x64 ; xor ecx, ecx ; cmp rax, rdx);
                match inst.op {
                    Op::LtInt => dynasm!(ops ; .arch x64 ; setl cl),
                    Op::LeInt => dynasm!(ops ; .arch x64 ; setle cl),
                    _ => dynasm!(ops ; .arch x64 ; sete cl),
                }
                store(&mut ops, r, RCX);
            }
            Op::LtDouble | Op::LeDouble => {
                // a < b is b > a: `seta` after comparing b with a is 0 when unordered (NaN).
                load(&mut ops, RAX, a(0));
                load(&mut ops, RDX, a(1));
                dynasm!(ops
                    ; .arch x64
                    ; movq xmm0, rdx
                    ; movq xmm1, rax
                    ; xor ecx, ecx
                    ; ucomisd xmm0, xmm1
                );
                if inst.op == Op::LtDouble {
                    dynasm!(ops ; .arch x64 ; seta cl);
                } else {
                    dynasm!(ops ; .arch x64 ; setae cl);
                }
                store(&mut ops, r, RCX);
            }
            Op::EqDouble => {
                load(&mut ops, RAX, a(0));
                load(&mut ops, RDX, a(1));
                dynasm!(ops
                    ; .arch x64
                    ; movq xmm0, rax
                    ; movq xmm1, rdx
                    ; ucomisd xmm0, xmm1
                    ; sete al
                    ; setnp cl
                    ; and al, cl
                    ; movzx eax, al
                );
                store(&mut ops, r, RAX);
            }
            Op::StoreField => {
                let offset = layout.payload_offset + 8 * inst.imm as i32;
                load(&mut ops, RAX, a(0));
                load(&mut ops, RCX, a(1));
                dynasm!(ops ; .arch x64 ; mov [rax + offset], rcx);
                write_barrier(&mut ops, layout);
            }
            Op::ArraySize => {
                load(&mut ops, RAX, a(0));
                array_size(&mut ops, layout);
                store(&mut ops, r, RAX);
            }
            Op::GuardIndex => {
                let e = need_exit()?;
                load(&mut ops, RAX, a(0));
                array_size(&mut ops, layout);
                load(&mut ops, RCX, a(1));
                dynasm!(ops
                    ; .arch x64
                    ; cmp rcx, 1
                    ; jl =>e
                    ; cmp rcx, rax
                    ; jg =>e
                );
            }
            Op::LoadElement => {
                let first = layout.payload_offset - 8; // element 1 is the first
                load(&mut ops, RAX, a(0));
                load(&mut ops, RCX, a(1));
                dynasm!(ops ; .arch x64 ; mov rax, [rax + rcx * 8 + first]);
                store(&mut ops, r, RAX);
            }
            Op::StoreElement => {
                let first = layout.payload_offset - 8;
                load(&mut ops, RAX, a(0));
                load(&mut ops, RDX, a(1));
                load(&mut ops, RCX, a(2));
                dynasm!(ops ; .arch x64 ; mov [rax + rdx * 8 + first], rcx);
                write_barrier(&mut ops, layout);
            }
            Op::NewObject => {
                let e = need_exit()?;
                let shape = crate::ir::AllocShape::decode(inst.imm);
                let words = 2 + shape.fields as i32; // the header's two, then the fields
                if words * 8 >= layout.max_nursery_object as i32 {
                    return Err(BackendError::Unsupported(
                        "an object too large for the nursery",
                    ));
                }
                dynasm!(ops
                    ; .arch x64
                    ; mov rsi, words * 8
                );
                bump_allocate(&mut ops, e);
                let meta = shape.kind as i64 | ((words as i64) << layout.size_shift);
                dynasm!(ops
                    ; .arch x64
                    ; mov rcx, QWORD shape.class_word as i64
                    ; mov [rax], rcx
                    ; mov rcx, QWORD meta
                    ; mov [rax + layout.meta_offset], rcx
                    ; mov rcx, QWORD layout.nil as i64
                );
                for k in 0..shape.fields as i32 {
                    dynasm!(ops ; .arch x64 ; mov [rax + layout.payload_offset + 8 * k], rcx);
                }
                store(&mut ops, r, RAX);
            }
            Op::NewArray => {
                let e = need_exit()?;
                let most = (layout.max_nursery_object as i32 - 1) / 8 - 2;
                let fill = ops.new_dynamic_label();
                let filled = ops.new_dynamic_label();
                load(&mut ops, R9, a(0));
                dynasm!(ops
                    ; .arch x64
                    ; cmp r9, 0
                    ; jl =>e
                    ; cmp r9, most
                    ; jg =>e
                    ; lea rsi, [r9 * 8 + 16]
                );
                bump_allocate(&mut ops, e);
                let shape = crate::ir::AllocShape::decode(inst.imm);
                dynasm!(ops
                    ; .arch x64
                    ; mov rcx, QWORD shape.class_word as i64
                    ; mov [rax], rcx
                    ; lea rcx, [r9 + 2]
                    ; shl rcx, layout.size_shift as i8
                    ; or rcx, shape.kind as i32
                    ; mov [rax + layout.meta_offset], rcx
                    ; mov rcx, QWORD layout.nil as i64
                    ; lea rdi, [rax + layout.payload_offset]
                    ; =>fill
                    ; test r9, r9
                    ; jz =>filled
                    ; mov [rdi], rcx
                    ; add rdi, 8
                    ; dec r9
                    ; jmp =>fill
                    ; =>filled
                );
                store(&mut ops, r, RAX);
            }
            Op::LoadGlobal => {
                dynasm!(ops
                    ; .arch x64
                    ; mov rax, QWORD inst.imm
                    ; mov rax, [rax]
                );
                store(&mut ops, r, RAX);
            }
            Op::CallPure => {
                // Values live in callee-saved registers or the frame: the call keeps them.
                load(&mut ops, RDI, a(0));
                dynasm!(ops
                    ; .arch x64
                    ; mov rax, QWORD inst.imm
                    ; call rax
                );
                store(&mut ops, r, RAX);
            }
            Op::CallPrimitive => {
                // The receiver and arguments go to the exit buffer (free until an exit
                // writes it); values live in callee-saved registers or the frame.
                let e = need_exit()?;
                let count = inst.args.len();
                if count > super::MAX_PRIMITIVE_ARGS {
                    return Err(BackendError::Unsupported("a primitive with many arguments"));
                }
                dynasm!(ops ; .arch x64 ; mov rcx, [rbx + CTX_EXIT_VALUES]);
                for k in 0..count {
                    load(&mut ops, RAX, a(k));
                    dynasm!(ops ; .arch x64 ; mov [rcx + 8 * k as i32], rax);
                }
                dynasm!(ops
                    ; .arch x64
                    ; mov rdi, rbx
                    ; mov rsi, QWORD inst.imm
                    ; mov edx, count as i32
                    ; mov rax, QWORD super::primitive_trampoline as *const () as i64
                    ; call rax
                    ; test rax, rax
                    ; jz =>e
                );
                store(&mut ops, r, RAX);
            }
            Op::StoreGlobal => {
                load(&mut ops, RCX, a(0));
                dynasm!(ops
                    ; .arch x64
                    ; mov rax, QWORD inst.imm
                    ; mov [rax], rcx
                );
            }
            Op::LoadField => {
                let offset = layout.payload_offset + 8 * inst.imm as i32;
                load(&mut ops, RAX, a(0));
                dynasm!(ops ; .arch x64 ; mov rax, [rax + offset]);
                store(&mut ops, r, RAX);
            }
            Op::Loop => {
                dynasm!(ops ; .arch x64 ; =>loop_label);
            }
            Op::Phi => {} // all phis are copied together at the jump
            Op::Exit => {
                let e = need_exit()?;
                closing_exit = inst.snapshot.map(|s| s.0);
                dynasm!(ops ; .arch x64 ; jmp =>e);
            }
            Op::Leave => {
                let e = need_exit()?;
                leaving_exit = inst.snapshot.map(|s| s.0);
                dynasm!(ops ; .arch x64 ; jmp =>e);
            }
            Op::Jump => {
                // A parallel copy through temporaries: a phi's right may be another's left.
                for (k, (_, right)) in phis.iter().enumerate() {
                    load(&mut ops, RAX, homes[*right]);
                    dynasm!(ops ; .arch x64 ; mov [rsp + temp(k)], rax);
                }
                for (k, (left, _)) in phis.iter().enumerate() {
                    dynasm!(ops ; .arch x64 ; mov rax, [rsp + temp(k)]);
                    store(&mut ops, homes[*left], RAX);
                }
                if let Some(s) = loop_snapshot {
                    let e = exits[s as usize];
                    dynasm!(ops
                        ; .arch x64
                        ; cmp QWORD [rbx + CTX_SAFEPOINT], 0
                        ; jne =>e
                    );
                }
                dynasm!(ops ; .arch x64 ; jmp =>loop_label);
            }
        }
    }
    // A trace ends in its loop's jump or in an exit: it must not fall off its end.
    if trace.loop_index().is_none() && closing_exit.is_none() && leaving_exit.is_none() {
        return Err(BackendError::Unsupported(
            "a trace without a loop or an exit",
        ));
    }
    let mut exit_size = 0;
    // Snapshots with many values (deeply inlined activations) share one exit path that a
    // runtime function fills the exit buffer from (`write_exit_values`, reading the homes
    // from `exit_homes`); the others write their values inline, which is faster (the exits a
    // linked trace takes every iteration are small) but costs code per value per exit.
    let shared_exit = ops.new_dynamic_label();
    let mut exit_homes: Vec<Box<[i32]>> = Vec::with_capacity(trace.snapshots.len());
    let mut any_shared = false;
    for (s, snapshot) in trace.snapshots.iter().enumerate() {
        let values: Vec<crate::ir::ValueId> = snapshot
            .frames
            .iter()
            .flat_map(|f| f.slots.iter().copied())
            .collect();
        if values.iter().any(|v| trace.type_of(*v) != Type::Ref) {
            return Err(BackendError::Unsupported(
                "a snapshot value that is not a tagged value",
            ));
        }
        exit_size = exit_size.max(values.len());
        dynasm!(ops ; .arch x64 ; =>exits[s]);
        if values.len() > INLINE_EXIT_VALUES {
            any_shared = true;
            exit_homes.push(values.iter().map(|v| encode_home(home(*v))).collect());
            dynasm!(ops ; .arch x64 ; mov esi, s as i32 ; jmp =>shared_exit);
            continue;
        }
        exit_homes.push(Box::new([]));
        dynasm!(ops ; .arch x64 ; mov rcx, [rbx + CTX_EXIT_VALUES]);
        for (k, v) in values.iter().enumerate() {
            load(&mut ops, RAX, home(*v));
            dynasm!(ops ; .arch x64 ; mov [rcx + 8 * k as i32], rax);
        }
        let k = values.len() as i32;
        dynasm!(ops
            ; .arch x64
            ; mov QWORD [rbx + CTX_EXIT_COUNT], k
            ; mov rax, QWORD links_address + 8 * s as i64
            ; mov rax, [rax]
        );
        follow_link(&mut ops, frame, epilogue, Some(s as i32));
    }
    let exit_homes: Box<[Box<[i32]>]> = exit_homes.into_boxed_slice();
    if any_shared {
        // esi: the snapshot. The value registers are saved below the frame (with esi, six
        // words: rsp stays 16-aligned for the call), then the runtime function writes the
        // exit buffer; the exit continues as an inline one would, the snapshot in rsi.
        dynasm!(ops
            ; .arch x64
            ; =>shared_exit
            ; push rsi
            ; push r15
            ; push r14
            ; push r13
            ; push r12
            ; push rbp
            ; mov rdi, rbx
            ; mov rdx, rsp
            ; mov rcx, QWORD exit_homes.as_ptr() as i64
            ; mov rax, QWORD super::write_exit_values as *const () as i64
            ; call rax
            ; add rsp, 40
            ; pop rsi
            ; mov rax, QWORD links_address
            ; mov rax, [rax + rsi * 8]
        );
        follow_link(&mut ops, frame, epilogue, None);
    }
    if exit_size > super::TRACE_BUFFER || slots_read > super::TRACE_BUFFER {
        return Err(BackendError::Unsupported(
            "a snapshot larger than the trace buffers",
        ));
    }
    dynasm!(ops ; .arch x64 ; =>epilogue);
    leave_frame(&mut ops, frame);
    dynasm!(ops ; .arch x64 ; ret);
    let code = ops
        .finalize()
        .map_err(|_| BackendError::Assembler("finalizing the code".into()))?;
    let exits = trace
        .snapshots
        .iter()
        .map(|s| {
            s.frames
                .iter()
                .map(|f| ExitFrame {
                    method: f.method,
                    position: f.position.clone(),
                    size: f.slots.len(),
                })
                .collect()
        })
        .collect();
    Ok(CompiledTrace {
        code,
        entry,
        slots_read,
        exits,
        closing_exit,
        leaving_exit,
        links,
        linked: Default::default(),
        exit_homes,
    })
}

/// The most values an exit writes with inline code; bigger snapshots share one exit path.
const INLINE_EXIT_VALUES: usize = 24;

/// A value's home for `write_exit_values`: a register as `-1 - k` (k: its place among the
/// registers the shared exit pushes: rbp, r12, r13, r14, r15), a stack slot as its offset.
fn encode_home(home: Home) -> i32 {
    match home {
        Home::Reg(r) => {
            let k = [5u8, 12, 13, 14, 15].iter().position(|x| *x == r);
            -1 - k.expect("values live in the value registers") as i32
        }
        Home::Stack(offset) => offset,
    }
}

/// The end of an exit whose values are written, `rax` the entry of the trace it is linked to
/// (0: none). A linked exit swaps the slot and exit buffers, leaves this trace's frame and
/// jumps to the linked trace's entry (which finds the context in rdi again); an unlinked one
/// returns the snapshot's number (`number`, or in esi) to the engine.
fn follow_link(
    ops: &mut dynasmrt::x64::Assembler,
    frame: i32,
    epilogue: dynasmrt::DynamicLabel,
    number: Option<i32>,
) {
    let unlinked = ops.new_dynamic_label();
    dynasm!(ops
        ; .arch x64
        ; test rax, rax
        ; jz =>unlinked
        ; mov rcx, [rbx + CTX_SLOTS]
        ; mov rdx, [rbx + CTX_EXIT_VALUES]
        ; mov [rbx + CTX_SLOTS], rdx
        ; mov [rbx + CTX_EXIT_VALUES], rcx
        ; mov rdi, rbx
    );
    leave_frame(ops, frame);
    dynasm!(ops ; .arch x64 ; jmp rax ; =>unlinked);
    match number {
        Some(n) => dynasm!(ops ; .arch x64 ; mov eax, n),
        None => dynasm!(ops ; .arch x64 ; mov eax, esi),
    }
    dynasm!(ops ; .arch x64 ; jmp =>epilogue);
}

/// Pops the trace's frame and the registers its entry saved (the reverse of the prologue).
fn leave_frame(ops: &mut dynasmrt::x64::Assembler, frame: i32) {
    dynasm!(ops
        ; .arch x64
        ; add rsp, frame
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbp
        ; pop rbx
    );
}

/// The write barrier after storing `rcx` into the object at `rax`: a reference stored into
/// an old object not yet remembered calls the runtime to remember it.
fn write_barrier(ops: &mut dynasmrt::x64::Assembler, layout: &Layout) {
    let done = ops.new_dynamic_label();
    let old = layout.old_flag as i32;
    let both = (layout.old_flag | layout.remembered_flag) as i32;
    dynasm!(ops
        ; .arch x64
        ; test cl, 7
        ; jnz =>done
        ; mov edx, [rax + layout.meta_offset]
        ; and edx, both
        ; cmp edx, old
        ; jne =>done
        ; mov rdi, [rbx + CTX_RUNTIME]
        ; mov rsi, rax
        ; call QWORD [rbx + CTX_REMEMBER]
        ; =>done
    );
}

/// `rax` := `rsi` bytes from the nursery (the bump pointer moves past them), or leave through
/// `exit` when they do not fit below the limit. Counts the bytes in the context.
fn bump_allocate(ops: &mut dynasmrt::x64::Assembler, exit: dynasmrt::DynamicLabel) {
    dynasm!(ops
        ; .arch x64
        ; mov rdx, [rbx + CTX_NURSERY_TOP]
        ; mov rax, [rdx]
        ; lea rcx, [rax + rsi]
        ; mov r8, [rbx + CTX_NURSERY_LIMIT]
        ; cmp rcx, [r8]
        ; ja =>exit
        ; mov [rdx], rcx
        ; add [rbx + CTX_ALLOCATED], rsi
    );
}

/// `rax` := the number of elements of the array at `rax` (its size in words, header
/// excluded).
fn array_size(ops: &mut dynasmrt::x64::Assembler, layout: &Layout) {
    let header_words = layout.payload_offset / 8;
    dynasm!(ops
        ; .arch x64
        ; mov rax, [rax + layout.meta_offset]
        ; shr rax, 32
        ; sub rax, header_words
    );
}

#[cfg(test)]
mod tests {
    use super::compile;
    use crate::backend::{Layout, NurseryWindow, TraceRuntime};
    use crate::text::parse;

    const OLD: u32 = 1 << 8;
    const REMEMBERED: u32 = 1 << 10;
    const NIL: u64 = 0x7770;
    const LAYOUT: Layout = Layout {
        payload_offset: 16,
        meta_offset: 8,
        old_flag: OLD,
        remembered_flag: REMEMBERED,
        size_shift: 32,
        nil: NIL,
        max_nursery_object: 1024,
    };

    /// A runtime for tests: a small nursery, a list of remembered objects, and a safepoint
    /// flag.
    struct Fake {
        nursery: Vec<u64>,
        top: usize,
        limit: usize,
        remembered: Vec<u64>,
        allocated: u64,
        safepoint: bool,
        /// `call_primitive`s seen: the primitive number and the arguments.
        calls: Vec<(u32, Vec<u64>)>,
        /// The fake primitive's sum from which it fails, and after how many calls it asks
        /// for a safepoint.
        fail_from: i64,
        safepoint_after: usize,
    }

    impl Fake {
        fn new(nursery_words: usize) -> Fake {
            let nursery = vec![0u64; nursery_words];
            let top = nursery.as_ptr() as usize;
            Fake {
                top,
                limit: top + 8 * nursery_words,
                nursery,
                remembered: Vec::new(),
                allocated: 0,
                safepoint: false,
                calls: Vec::new(),
                fail_from: i64::MAX,
                safepoint_after: usize::MAX,
            }
        }
    }

    impl TraceRuntime for Fake {
        fn safepoint_requested(&self) -> bool {
            self.safepoint
        }
        fn remember(&mut self, object: u64) {
            self.remembered.push(object);
        }
        fn nursery(&mut self) -> NurseryWindow {
            // SAFETY: the bump pointer and limit are fields of `self`, `[top, limit)` lies in
            // `self.nursery`, which is not otherwise used while a trace runs, and nothing
            // `Fake` does moves anything.
            unsafe { NurseryWindow::new(&mut self.top, &self.limit) }
        }
        fn finished(&mut self, bytes: u64) {
            self.allocated += bytes;
        }
        /// Every primitive adds its small-integer arguments (receiver included), and fails
        /// when the sum reaches `fail_from`.
        fn call_primitive(&mut self, index: u32, args: &[u64]) -> Option<u64> {
            self.calls.push((index, args.to_vec()));
            if self.calls.len() >= self.safepoint_after {
                self.safepoint = true;
            }
            let sum: i64 = args.iter().map(|a| (*a as i64) >> 1).sum();
            (sum < self.fail_from).then_some(int(sum))
        }
    }

    /// A fake heap object: the class word, the meta word (`flags`, the size in words), then
    /// `payload`.
    fn object(class: u64, flags: u32, payload: &[u64]) -> Vec<u64> {
        let mut words = vec![class, flags as u64 | (((payload.len() + 2) as u64) << 32)];
        words.extend_from_slice(payload);
        words
    }

    fn int(i: i64) -> u64 {
        ((i << 1) | 1) as u64
    }

    /// `[i < n] whileTrue: [i := i + 1]` on slots 1 (i) and 2 (n).
    const COUNT: &str = "\
%0 = input #1
%1 = input #2
%2 = const_int #1
loop
guard_int %0 @0
%5 = unbox_int %0
guard_int %1 @0
%7 = unbox_int %1
%8 = lt_int %5 %7
guard_true %8 @0
%10 = add_ov %5 %2 @0
%11 = box_int %10
phi %0 %11
jump
@0: 0x100 [0] %0 %1
";

    #[test]
    fn a_counting_loop_runs_to_its_exit() {
        let code = compile(&parse(COUNT).unwrap(), None, false, &LAYOUT).unwrap();
        let mut slots = vec![0, int(3), int(1000)];
        let mut exit = Vec::new();
        let e = code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        assert_eq!(e.snapshot, 0);
        assert_eq!(exit, vec![int(1000), int(1000)]);
        assert_eq!(code.frame_sizes(0), &[2]);
    }

    #[test]
    fn a_type_guard_leaves_at_once() {
        let code = compile(&parse(COUNT).unwrap(), None, false, &LAYOUT).unwrap();
        let not_an_int = 0x1000u64; // a pointer
        let mut slots = vec![0, not_an_int, int(5)];
        let mut exit = Vec::new();
        assert_eq!(
            code.run(&mut slots, &mut exit, 0, &mut Fake::new(0))
                .snapshot,
            0
        );
        assert_eq!(exit, vec![not_an_int, int(5)]);
    }

    #[test]
    fn overflow_out_of_the_small_integers_leaves_before_the_add() {
        let max = crate::ir::SMALL_INT_MAX;
        let code = compile(&parse(COUNT).unwrap(), None, false, &LAYOUT).unwrap();
        let mut slots = vec![0, int(max - 2), int(max)];
        let mut exit = Vec::new();
        code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        // i went max-2 → max-1, then max-1 + 1 = max fits, then i = max is not < n: exit with
        // i = max. With n beyond the small integers it would have overflowed instead.
        assert_eq!(exit, vec![int(max), int(max)]);
    }

    #[test]
    fn a_safepoint_request_leaves_at_the_back_edge() {
        let text = format!("{COUNT}@1: 0x100 [9] %0 %1\n");
        let code = compile(&parse(&text).unwrap(), Some(1), false, &LAYOUT).unwrap();
        let mut slots = vec![0, int(0), int(1000)];
        let mut exit = Vec::new();
        let mut runtime = Fake::new(0);
        runtime.safepoint = true;
        let e = code.run(&mut slots, &mut exit, 0, &mut runtime);
        // One iteration ran, then the back edge saw the request.
        assert_eq!(e.snapshot, 1);
        assert_eq!(exit, vec![int(1), int(1000)]);
    }

    #[test]
    fn doubles_and_their_comparisons() {
        // x := x * 1.5 while x < 100.0, x an unboxed double carried by a phi; an integer
        // counter (tagged, so that the snapshot can hold it) counts the iterations.
        let text = "\
%0 = input #0
%1 = const_double 1.5
%2 = const_double 100.0
%3 = const_double 1.0
%4 = const_int #1
loop
%6 = mul_double %3 %1
%7 = lt_double %6 %2
guard_true %7 @0
guard_int %0 @0
%10 = unbox_int %0
%11 = add_ov %10 %4 @0
%12 = box_int %11
phi %3 %6
phi %0 %12
jump
@0: 0x1 [0] %0
";
        let code = compile(&parse(text).unwrap(), None, false, &LAYOUT).unwrap();
        let mut slots = vec![int(0)];
        let mut exit = Vec::new();
        code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        // 1.5^k < 100 for k = 1..=11, so 11 iterations complete.
        assert_eq!(exit, vec![int(11)]);
    }

    #[test]
    fn stress_mode_leaves_at_the_guard_the_countdown_names() {
        // The loop's first guard is guard_int %0: with a countdown of 1 it leaves at once,
        // before the first iteration, with the entry values.
        let code = compile(&parse(COUNT).unwrap(), None, true, &LAYOUT).unwrap();
        let mut slots = vec![0, int(3), int(1000)];
        let mut exit = Vec::new();
        assert_eq!(
            code.run(&mut slots, &mut exit, 1, &mut Fake::new(0))
                .snapshot,
            0
        );
        assert_eq!(exit, vec![int(3), int(1000)]);
        // Four guards per iteration: a countdown of 9 leaves at the first guard of the
        // third iteration, after two increments.
        code.run(&mut slots, &mut exit, 9, &mut Fake::new(0));
        assert_eq!(exit, vec![int(5), int(1000)]);
    }

    extern "C" fn plus_one_tagged(v: u64) -> u64 {
        int(((v >> 1) + 1) as i64)
    }

    #[test]
    fn a_pure_function_is_called_with_a_tagged_value() {
        let address = plus_one_tagged as *const () as usize;
        let text = format!(
            "%0 = input #0\n%1 = call_pure %0 #{address}\n%2 = call_pure %1 #{address}\n\
             exit @0\n@0: 0x1 [0] %2\n"
        );
        let code = compile(&parse(&text).unwrap(), None, false, &LAYOUT).unwrap();
        let mut slots = vec![int(40)];
        let mut exit = Vec::new();
        code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        assert_eq!(exit, vec![int(42)]);
    }

    #[test]
    fn a_cell_is_written_and_read_back() {
        // A root cell (a class-side field): the loop adds 3 to it until it reaches 30.
        let cell = std::cell::Cell::new(int(0));
        let address = cell.as_ptr() as u64;
        let text = format!(
            "\
%0 = input #0
loop
%2 = load_global #{address}
%3 = unbox_int %2
%4 = const_int #3
%5 = add_ov %3 %4 @0
%6 = box_int %5
store_global %6 #{address}
%8 = const_int #30
%9 = lt_int %5 %8
guard_true %9 @0
jump
@0: 0x1 [0] %0
"
        );
        let code = compile(&parse(&text).unwrap(), None, false, &LAYOUT).unwrap();
        let mut slots = vec![int(0)];
        let mut exit = Vec::new();
        code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        assert_eq!(cell.get(), int(30));
    }

    #[test]
    fn fields_are_read_past_the_header() {
        // An "object": two header words, then fields 0 and 1 (small integers 20 and 22).
        let object: Vec<u64> = vec![0, 0, int(20), int(22)];
        let address = object.as_ptr() as u64;
        let text = "\
%0 = input #0
%1 = input #1
loop
%3 = load_field %0 #1
guard_int %3 @0
%5 = unbox_int %3
%6 = unbox_int %1
%7 = add_ov %6 %5 @0
%8 = box_int %7
%9 = const_int #100
%10 = lt_int %7 %9
guard_true %10 @0
phi %1 %8
jump
@0: 0x1 [0] %0 %1
";
        let code = compile(&parse(text).unwrap(), None, false, &LAYOUT).unwrap();
        let mut slots = vec![address, int(0)];
        let mut exit = Vec::new();
        code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        // 22, 44, 66, 88 stay below 100; 110 leaves (with the last value below, 88 + 22).
        assert_eq!(exit, vec![address, int(88)]);
        drop(object);
    }

    /// Slot 1 := primitive #9 on (slot 1, slot 0), for ever: the fake primitive adds.
    const CALLS: &str = "\
%0 = input #0
%1 = input #1
loop
%3 = call_primitive %1 %0 #9 @0
phi %1 %3
jump
@0: 0x1 [0] %0 %1
";

    #[test]
    fn primitives_are_called_with_their_arguments_and_a_failure_leaves_before_the_call() {
        let code = compile(&parse(CALLS).unwrap(), Some(0), false, &LAYOUT).unwrap();
        let mut runtime = Fake::new(0);
        runtime.fail_from = 20;
        let (mut slots, mut exit) = (vec![int(7), int(0)], Vec::new());
        let left = code.run(&mut slots, &mut exit, 0, &mut runtime);
        // 0+7, 7+7, 14+7 = 21 fails: the exit has the values before that call.
        assert_eq!(left.snapshot, 0);
        assert_eq!(exit, vec![int(7), int(14)]);
        let seen: Vec<(u32, Vec<u64>)> = [0, 7, 14]
            .iter()
            .map(|&x| (9, vec![int(x), int(7)]))
            .collect();
        assert_eq!(runtime.calls, seen);
    }

    #[test]
    fn a_primitive_that_asks_for_a_collection_makes_the_trace_leave_at_its_back_edge() {
        let code = compile(&parse(CALLS).unwrap(), Some(0), false, &LAYOUT).unwrap();
        let mut runtime = Fake::new(0);
        runtime.safepoint_after = 2;
        let (mut slots, mut exit) = (vec![int(1), int(0)], Vec::new());
        code.run(&mut slots, &mut exit, 0, &mut runtime);
        // The second call asks; its iteration ends and the trace leaves with its result.
        assert_eq!(runtime.calls.len(), 2);
        assert_eq!(exit, vec![int(1), int(2)]);
    }

    #[test]
    fn under_stress_a_call_can_leave_before_it_runs() {
        let code = compile(&parse(CALLS).unwrap(), Some(0), true, &LAYOUT).unwrap();
        let mut runtime = Fake::new(0);
        let (mut slots, mut exit) = (vec![int(1), int(0)], Vec::new());
        code.run(&mut slots, &mut exit, 3, &mut runtime);
        assert_eq!(runtime.calls.len(), 2);
        assert_eq!(exit, vec![int(1), int(2)]);
    }

    /// Stores field 0 of the object in slot 0 from slot 1 (once per iteration), counting
    /// iterations in slot 2 up to 3.
    const STORE: &str = "\
%0 = input #0
%1 = input #1
%2 = input #2
%3 = const_int #3
%4 = const_int #1
loop
store_field %0 %1 #0
guard_int %2 @0
%8 = unbox_int %2
%9 = add_ov %8 %4 @0
%10 = box_int %9
%11 = lt_int %9 %3
guard_true %11 @1
phi %2 %10
jump
@0: 0x1 [0] %0 %1 %2
@1: 0x1 [1] %0 %1 %10
";

    #[test]
    fn a_stored_reference_remembers_an_old_object_through_the_barrier() {
        let code = compile(&parse(STORE).unwrap(), None, false, &LAYOUT).unwrap();
        let referenced = object(0x40, 0, &[]);
        let reference = referenced.as_ptr() as u64;
        for (flags, stored, remembered) in [
            (OLD, reference, true),               // old, not yet remembered: call
            (OLD | REMEMBERED, reference, false), // already remembered
            (0, reference, false),                // young
            (OLD, int(7), false),                 // not a reference
        ] {
            let target = object(0x40, flags, &[int(0)]);
            let address = target.as_ptr() as u64;
            let mut slots = vec![address, stored, int(0)];
            let mut exit = Vec::new();
            let mut runtime = Fake::new(0);
            let e = code.run(&mut slots, &mut exit, 0, &mut runtime);
            let calls = runtime.remembered;
            assert_eq!(e.snapshot, 1);
            assert_eq!(exit, vec![address, stored, int(3)]);
            assert_eq!(target[2], stored, "the field holds the stored value");
            // The code does not set the flag (the runtime does): so each iteration calls.
            let expected = if remembered { vec![address; 3] } else { vec![] };
            assert_eq!(calls, expected, "flags {flags:#x}, stored {stored:#x}");
        }
    }

    #[test]
    fn class_and_double_guards_tell_values_apart() {
        let text = "\
%0 = input #0
loop
guard_class %0 #64 @0
jump
@0: 0x1 [0] %0
";
        let code = compile(&parse(text).unwrap(), None, false, &LAYOUT).unwrap();
        let other = object(0x80, 0, &[]);
        // A small integer, an immediate double (tag 10) and an object of another class all
        // leave at once (an object of class 0x40 would loop forever).
        for v in [int(5), 0b110, other.as_ptr() as u64] {
            let mut slots = vec![v];
            let mut exit = Vec::new();
            code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
            assert_eq!(exit, vec![v]);
        }
        let text = "%0 = input #0\nloop\nguard_double %0 @0\njump\n@0: 0x1 [0] %0\n";
        let code = compile(&parse(text).unwrap(), None, false, &LAYOUT).unwrap();
        for v in [int(5), other.as_ptr() as u64] {
            let mut slots = vec![v];
            let mut exit = Vec::new();
            code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
            assert_eq!(exit, vec![v]);
        }
    }

    #[test]
    fn elements_are_read_and_written_within_the_bounds() {
        // i := 1. [array at: i put: (array at: i) + 10. i := i + 1] forever, leaving at the
        // index guard when i passes the size (3).
        let text = "\
%0 = input #0
%1 = input #1
%2 = const_int #1
%3 = const_int #10
loop
guard_int %1 @0
%6 = unbox_int %1
guard_index %0 %6 @0
%8 = load_element %0 %6
guard_int %8 @0
%10 = unbox_int %8
%11 = add_ov %10 %3 @0
%12 = box_int %11
store_element %0 %6 %12
%14 = add_ov %6 %2 @0
%15 = box_int %14
phi %1 %15
jump
@0: 0x1 [0] %0 %1
";
        let code = compile(&parse(text).unwrap(), None, false, &LAYOUT).unwrap();
        let array = object(0x40, 0, &[int(1), int(2), int(3)]);
        let mut slots = vec![array.as_ptr() as u64, int(1)];
        let mut exit = Vec::new();
        code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        assert_eq!(&array[2..], &[int(11), int(12), int(13)]);
        assert_eq!(exit, vec![array.as_ptr() as u64, int(4)]);
        // Index 0 is out of bounds too.
        let mut slots = vec![array.as_ptr() as u64, int(0)];
        code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        assert_eq!(&array[2..], &[int(11), int(12), int(13)]);
        assert_eq!(exit, vec![array.as_ptr() as u64, int(0)]);
    }

    #[test]
    fn objects_and_arrays_are_bump_allocated_until_the_nursery_is_full() {
        // Each iteration allocates an object of shape (class 0x40, kind 0, 2 fields) and an
        // array of slot 1's size (kind 1), keeping the last of each in slots 2 and 3.
        let object_shape = crate::ir::AllocShape {
            class_word: 0x40,
            kind: 0,
            fields: 2,
        }
        .encode()
        .unwrap();
        let array_shape = crate::ir::AllocShape {
            class_word: 0x80,
            kind: 1,
            fields: 0,
        }
        .encode()
        .unwrap();
        let text = format!(
            "%0 = input #0\n%1 = input #1\n%2 = input #2\n%3 = input #3\nloop\n\
             %5 = new_object #{object_shape} @0\nguard_int %1 @0\n%7 = unbox_int %1\n\
             %8 = new_array %7 #{array_shape} @0\nphi %2 %5\nphi %3 %8\njump\n\
             @0: 0x1 [0] %0 %1 %2 %3\n"
        );
        let code = compile(&crate::text::parse(&text).unwrap(), None, false, &LAYOUT).unwrap();
        // 4 (object) + 5 (array of 3) words per iteration: a nursery of 40 words takes four
        // iterations and the fifth's object; its array does not fit, and the trace leaves
        // with the fourth iteration's values (the fifth object is garbage).
        let mut runtime = Fake::new(40);
        let start = runtime.top as u64;
        let mut slots = vec![0, int(3), 0, 0];
        let mut exit = Vec::new();
        code.run(&mut slots, &mut exit, 0, &mut runtime);
        assert_eq!(runtime.allocated, 40 * 8);
        assert_eq!(runtime.top as u64, start + 40 * 8);
        let (object, array) = (exit[2], exit[3]);
        assert_eq!(object, start + 3 * 9 * 8, "the fourth iteration's object");
        assert_eq!(array, object + 4 * 8);
        let words = |address: u64, n: usize| -> Vec<u64> {
            let k = ((address - start) / 8) as usize;
            runtime.nursery[k..k + n].to_vec()
        };
        assert_eq!(words(object, 4), vec![0x40, 4 << 32, NIL, NIL]);
        assert_eq!(words(array, 5), vec![0x80, 1 | 5 << 32, NIL, NIL, NIL]);
        // A negative or too large size leaves before allocating.
        for size in [-1, 1000] {
            let mut runtime = Fake::new(40);
            let mut slots = vec![0, int(size), 0, 0];
            code.run(&mut slots, &mut exit, 0, &mut runtime);
            assert_eq!(runtime.allocated, 4 * 8, "size {size}: only the object");
        }
    }

    #[test]
    fn an_array_s_size_is_its_element_count() {
        // Counts slot 1 up while it is below the array's size.
        let text = "\
%0 = input #0
%1 = input #1
%2 = const_int #1
loop
%4 = array_size %0
guard_int %1 @0
%6 = unbox_int %1
%7 = lt_int %6 %4
guard_true %7 @0
%9 = add_ov %6 %2 @0
%10 = box_int %9
phi %1 %10
jump
@0: 0x1 [0] %0 %1
";
        let code = compile(&parse(text).unwrap(), None, false, &LAYOUT).unwrap();
        let array = object(0x40, 0, &[int(0); 7]);
        let mut slots = vec![array.as_ptr() as u64, int(0)];
        let mut exit = Vec::new();
        code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        assert_eq!(exit, vec![array.as_ptr() as u64, int(7)]);
    }

    #[test]
    fn a_side_trace_runs_once_to_its_exit() {
        // No loop: doubles slot 0 and leaves through the closing exit, or through @0 when the
        // slot is not a small integer.
        let text = "\
%0 = input #0
guard_int %0 @0
%2 = unbox_int %0
%3 = add_ov %2 %2 @0
%4 = box_int %3
exit @1
@0: 0x1 [3] %0
@1: 0x1 [0] %4
";
        let code = compile(&parse(text).unwrap(), None, false, &LAYOUT).unwrap();
        assert_eq!(code.closing_exit(), Some(1));
        let mut exit = Vec::new();
        let e = code.run(&mut vec![int(21)], &mut exit, 0, &mut Fake::new(0));
        assert_eq!((e.snapshot, exit.clone()), (1, vec![int(42)]));
        let e = code.run(&mut vec![0x1000], &mut exit, 0, &mut Fake::new(0));
        assert_eq!((e.snapshot, exit), (0, vec![0x1000]));
        // Without its exit, such a trace would fall off its end.
        let text = "%0 = input #0\nguard_int %0 @0\n@0: 0x1 [3] %0\n";
        assert!(compile(&parse(text).unwrap(), None, false, &LAYOUT).is_err());
    }

    #[test]
    fn division_rounds_as_som_does() {
        // Slot 0 op slot 1, leaving through @1 with the result (or @0 on a zero divisor).
        let max = crate::ir::SMALL_INT_MAX;
        let min = crate::ir::SMALL_INT_MIN;
        let cases: [(i64, i64); 9] = [
            (7, 2),
            (-7, 2),
            (7, -2),
            (-7, -2),
            (6, 3),
            (-6, 3),
            (max, -1),
            (min, 7),
            (min, -1),
        ];
        for op in ["div_int", "mod_int", "rem_int"] {
            let text = format!(
                "%0 = input #0\n%1 = input #1\n%2 = unbox_int %0\n%3 = unbox_int %1\n\
                 %4 = {op} %2 %3 @0\n%5 = box_int %4\nexit @1\n\
                 @0: 0x1 [0] %0 %1\n@1: 0x1 [1] %5\n"
            );
            let code = compile(&parse(&text).unwrap(), None, false, &LAYOUT).unwrap();
            for (x, y) in cases {
                let expected = match op {
                    "div_int" => num_floor_div(x, y),
                    "mod_int" => num_floor_div(x, y).map(|q| x - y * q),
                    _ => Some(x % y),
                }
                .filter(|q| (min..=max).contains(q));
                let mut exit = Vec::new();
                let e = code.run(&mut vec![int(x), int(y)], &mut exit, 0, &mut Fake::new(0));
                match expected {
                    Some(q) => assert_eq!((e.snapshot, exit), (1, vec![int(q)]), "{x} {op} {y}"),
                    None => assert_eq!(e.snapshot, 0, "{x} {op} {y} leaves"),
                }
            }
            let mut exit = Vec::new();
            let e = code.run(&mut vec![int(1), int(0)], &mut exit, 0, &mut Fake::new(0));
            assert_eq!(e.snapshot, 0, "{op} by zero leaves");
        }
    }

    /// Division rounding toward negative infinity.
    fn num_floor_div(x: i64, y: i64) -> Option<i64> {
        let q = x.checked_div(y)?;
        Some(if (x % y != 0) && ((x < 0) != (y < 0)) {
            q - 1
        } else {
            q
        })
    }

    #[test]
    fn shifts_leave_when_the_result_is_not_a_small_integer() {
        let max = crate::ir::SMALL_INT_MAX;
        for op in ["shl_ov", "sar_int"] {
            let text = format!(
                "%0 = input #0\n%1 = input #1\n%2 = unbox_int %0\n%3 = unbox_int %1\n\
                 %4 = {op} %2 %3 @0\n%5 = box_int %4\nexit @1\n\
                 @0: 0x1 [0] %0 %1\n@1: 0x1 [1] %5\n"
            );
            let code = compile(&parse(&text).unwrap(), None, false, &LAYOUT).unwrap();
            let cases: [(i64, i64); 7] = [
                (3, 4),
                (-3, 4),
                (1, 61),
                (1, 62),
                (-1, 62),
                (max, 1),
                (5, -1),
            ];
            for (x, n) in cases {
                let expected = match op {
                    "shl_ov" if (0..=62).contains(&n) => x
                        .checked_mul(1 << n)
                        .filter(|v| (crate::ir::SMALL_INT_MIN..=max).contains(v)),
                    "sar_int" if (0..=63).contains(&n) => Some(x >> n),
                    _ => None,
                };
                let mut exit = Vec::new();
                let e = code.run(&mut vec![int(x), int(n)], &mut exit, 0, &mut Fake::new(0));
                match expected {
                    Some(v) => assert_eq!((e.snapshot, exit), (1, vec![int(v)]), "{x} {op} {n}"),
                    None => assert_eq!(e.snapshot, 0, "{x} {op} {n} leaves"),
                }
            }
        }
    }

    #[test]
    fn doubles_truncate_to_small_integers_or_leave() {
        let text = "%0 = input #0\n%1 = double_to_int %0 @0\n%2 = box_int %1\nexit @1\n\
                    @0: 0x1 [0] %0\n@1: 0x1 [1] %2\n";
        // The input slot holds a double's bits here (no unboxing: the op's operand is one).
        let code = compile(&parse(text).unwrap(), None, false, &LAYOUT).unwrap();
        for (d, expected) in [
            (2.75, Some(2)),
            (-2.75, Some(-2)),
            (0.0, Some(0)),
            (4.0e18, Some(4_000_000_000_000_000_000)),
            (5.0e18, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ] {
            let mut exit = Vec::new();
            let e = code.run(&mut vec![d.to_bits()], &mut exit, 0, &mut Fake::new(0));
            match expected {
                Some(i) => assert_eq!((e.snapshot, exit), (1, vec![int(i)]), "{d}"),
                None => assert_eq!(e.snapshot, 0, "{d} leaves"),
            }
        }
    }

    #[test]
    fn a_linked_exit_jumps_to_the_next_trace() {
        // The counting loop leaves at i = n through @0 with [i, n]; linked to a trace that
        // doubles its slot 0, the run ends in that trace's exit with 2n.
        let counting = compile(&parse(COUNT).unwrap(), None, false, &LAYOUT).unwrap();
        let doubling = "%0 = input #0\nguard_int %0 @0\n%2 = unbox_int %0\n%3 = add_ov %2 %2 @0\n\
                        %4 = box_int %3\nexit @1\n@0: 0x1 [3] %0\n@1: 0x1 [0] %4\n";
        let doubling =
            std::rc::Rc::new(compile(&parse(doubling).unwrap(), None, false, &LAYOUT).unwrap());
        assert!(counting.link(0, &doubling));
        let mut slots = vec![0, int(3), int(10)];
        let mut exit = Vec::new();
        let (chain, e) = counting.run_linked(&mut slots, &mut exit, 0, &mut Fake::new(0));
        assert_eq!(chain.trace, doubling.entry_address());
        assert_eq!(e.snapshot, 1);
        assert_eq!(exit, vec![int(20)]);
        // A trace that reads more slots than an exit has values cannot follow it.
        let wide = "%0 = input #5\nexit @0\n@0: 0x1 [0] %0\n";
        let wide = std::rc::Rc::new(compile(&parse(wide).unwrap(), None, false, &LAYOUT).unwrap());
        assert!(!doubling.link(1, &wide));
    }

    /// A loop over 30 slots: slot 0 counts up to slot 1; every iteration adds slot 0 to
    /// each of slots 2..30 (so that values live in registers and in stack slots alike). Its
    /// exits have 30 values: more than an inline stub writes.
    fn wide_loop() -> String {
        let mut t = String::new();
        for k in 0..30 {
            t += &format!("%{k} = input #{k}\n");
        }
        t += "loop\nguard_int %0 @0\n%32 = unbox_int %0\n%33 = const_int #1\n\
              %34 = add_ov %32 %33 @0\n%35 = box_int %34\n";
        let mut next = 36;
        let mut phis = String::new();
        for k in 2..30 {
            t += &format!("guard_int %{k} @0\n%{} = unbox_int %{k}\n", next + 1);
            t += &format!(
                "%{} = add_ov %{} %34 @0\n%{} = box_int %{}\n",
                next + 2,
                next + 1,
                next + 3,
                next + 2
            );
            phis += &format!("phi %{k} %{}\n", next + 3);
            next += 4;
        }
        t += &format!(
            "guard_int %1 @0\n%{a} = unbox_int %1\n%{b} = lt_int %34 %{a}\nguard_true %{b} @0\n",
            a = next + 1,
            b = next + 2
        );
        t += "phi %0 %35\n";
        t += &phis;
        t += "jump\n@0: 0x1 [0]";
        for k in 0..30 {
            t += &format!(" %{k}");
        }
        t += "\n";
        t
    }

    #[test]
    fn exits_with_many_values_write_them_through_the_shared_path() {
        let text = wide_loop();
        let code = compile(&parse(&text).unwrap(), Some(0), false, &LAYOUT).unwrap();
        let mut slots: Vec<u64> = vec![int(0), int(5)];
        slots.extend((2..30).map(|k| int(k * 100)));
        let mut exit = Vec::new();
        let e = code.run(&mut slots, &mut exit, 0, &mut Fake::new(0));
        assert_eq!(e.snapshot, 0);
        // Iterations with i = 1..4 pass (1 + 2 + 3 + 4 = 10 added to each); i = 5 leaves
        // with the values at that iteration's start.
        let mut expected = vec![int(4), int(5)];
        expected.extend((2..30).map(|k| int(k * 100 + 10)));
        assert_eq!(exit, expected);
    }

    #[test]
    fn an_exit_through_the_shared_path_can_be_linked() {
        let text = wide_loop();
        let code = compile(&parse(&text).unwrap(), Some(0), false, &LAYOUT).unwrap();
        // Linked to a trace that leaves at once with slots 0 and 29.
        let next = "%0 = input #0\n%1 = input #29\nexit @0\n@0: 0x1 [0] %0 %1\n";
        let next = std::rc::Rc::new(compile(&parse(next).unwrap(), None, false, &LAYOUT).unwrap());
        assert!(code.link(0, &next));
        let mut slots: Vec<u64> = vec![int(0), int(3)];
        slots.extend((2..30).map(int));
        let mut exit = Vec::new();
        let (chain, _) = code.run_linked(&mut slots, &mut exit, 0, &mut Fake::new(0));
        assert_eq!(chain.trace, next.entry_address());
        assert_eq!(exit, vec![int(2), int(29 + 3)]);
    }
}
