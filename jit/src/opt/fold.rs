//! Constant folding and algebraic simplification.
//!
//! Owns: rewriting an instruction whose operands are known constants into a constant, the
//! identities that make an instruction its own operand (`x + 0`, `x * 1`, `unbox(box x)`),
//! and dropping guards whose outcome is known (a type guard on a constant or on a value the
//! trace itself boxed, a condition folded to true). Must never: fold an instruction whose
//! result would leave the trace (an overflowing `add_ov`, a condition folded to false stays
//! as a guard that always fails), or remove an instruction with an effect other than a guard.
//! Instructions made useless are left for `dce`. A loop-carried value is known only before
//! `loop`.

use std::collections::HashMap;

use crate::ir::{Inst, Op, Renaming, Trace, ValueId, SMALL_INT_MAX, SMALL_INT_MIN};

/// What is known about a value of the output trace.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Known {
    Int(i64),
    Double(f64),
    Bool(bool),
}

/// The result of looking at one instruction.
enum Rewrite {
    /// Emit it (with remapped operands).
    Keep,
    /// It is this earlier value.
    Same(ValueId),
    /// It is this constant.
    Int(i64),
    Double(f64),
    /// A guard known to pass.
    Drop,
}

fn small(i: i64) -> Option<i64> {
    (SMALL_INT_MIN..=SMALL_INT_MAX).contains(&i).then_some(i)
}

fn rewrite(out: &Trace, known: &HashMap<ValueId, Known>, inst: &Inst) -> Rewrite {
    let k = |i: usize| inst.args.get(i).and_then(|a| known.get(a)).copied();
    let int = |i: usize| match k(i) {
        Some(Known::Int(v)) => Some(v),
        _ => None,
    };
    let double = |i: usize| match k(i) {
        Some(Known::Double(v)) => Some(v),
        _ => None,
    };
    let def = |i: usize| out.inst(inst.args[i]);
    match inst.op {
        Op::AddOv | Op::SubOv | Op::MulOv => {
            if let (Some(a), Some(b)) = (int(0), int(1)) {
                let r = match inst.op {
                    Op::AddOv => a.checked_add(b),
                    Op::SubOv => a.checked_sub(b),
                    _ => a.checked_mul(b),
                };
                return match r.and_then(small) {
                    Some(r) => Rewrite::Int(r),
                    None => Rewrite::Keep, // always overflows: it stays and leaves the trace
                };
            }
            match (inst.op, int(0), int(1)) {
                (Op::AddOv, _, Some(0)) | (Op::SubOv, _, Some(0)) | (Op::MulOv, _, Some(1)) => {
                    Rewrite::Same(inst.args[0])
                }
                (Op::AddOv, Some(0), _) | (Op::MulOv, Some(1), _) => Rewrite::Same(inst.args[1]),
                _ => Rewrite::Keep,
            }
        }
        Op::AddDouble | Op::SubDouble | Op::MulDouble | Op::DivDouble => {
            match (double(0), double(1)) {
                (Some(a), Some(b)) => Rewrite::Double(match inst.op {
                    Op::AddDouble => a + b,
                    Op::SubDouble => a - b,
                    Op::MulDouble => a * b,
                    _ => a / b,
                }),
                _ => Rewrite::Keep,
            }
        }
        Op::UnboxInt if def(0).op == Op::BoxInt => Rewrite::Same(def(0).args[0]),
        // A tagged constant that is a small integer: `(i << 1) | 1`.
        Op::UnboxInt if def(0).op == Op::ConstRef && def(0).imm & 1 == 1 => {
            Rewrite::Int(def(0).imm >> 1)
        }
        Op::GuardInt if def(0).op == Op::ConstRef && def(0).imm & 1 == 1 => Rewrite::Drop,
        Op::UnboxDouble if def(0).op == Op::BoxDouble => Rewrite::Same(def(0).args[0]),
        Op::GuardDouble if def(0).op == Op::BoxDouble => Rewrite::Drop,
        Op::BoxInt if def(0).op == Op::UnboxInt => Rewrite::Same(def(0).args[0]),
        Op::GuardInt if def(0).op == Op::BoxInt => Rewrite::Drop,
        Op::GuardTrue | Op::GuardFalse => match k(0) {
            Some(Known::Bool(b)) if b == (inst.op == Op::GuardTrue) => Rewrite::Drop,
            _ => Rewrite::Keep,
        },
        _ => Rewrite::Keep,
    }
}

/// Folds what can be folded; see the module comment.
pub fn fold(trace: &Trace) -> Trace {
    let mut out = Trace::default();
    let mut map = Renaming::new(trace);
    let mut known: HashMap<ValueId, Known> = HashMap::new();
    let mut int_constants: HashMap<i64, ValueId> = HashMap::new();
    let carried = trace.carried();
    for (i, inst) in trace.insts.iter().enumerate() {
        if inst.op == Op::Loop {
            // In the body a carried value is whatever the last iteration made it: forget
            // what was known of its first value, and do not reuse it as a constant.
            for c in &carried {
                if let Some(v) = map.get(*c) {
                    known.remove(&v);
                    int_constants.retain(|_, k| *k != v);
                }
            }
        }
        let inst = map.inst(inst);
        match rewrite(&out, &known, &inst) {
            Rewrite::Same(v) => map.set(i, v),
            Rewrite::Drop => {}
            Rewrite::Int(c) => {
                let v = *int_constants
                    .entry(c)
                    .or_insert_with(|| out.push(Inst::new(Op::ConstInt, vec![], c)));
                known.insert(v, Known::Int(c));
                map.set(i, v);
            }
            Rewrite::Double(d) => {
                let v = out.push(Inst::new(Op::ConstDouble, vec![], d.to_bits() as i64));
                known.insert(v, Known::Double(d));
                map.set(i, v);
            }
            Rewrite::Keep => {
                let facts = match inst.op {
                    Op::ConstInt => Some(Known::Int(inst.imm)),
                    Op::ConstDouble => Some(Known::Double(f64::from_bits(inst.imm as u64))),
                    Op::LtInt | Op::LeInt | Op::EqInt => {
                        let ints: Vec<Option<i64>> = inst
                            .args
                            .iter()
                            .map(|a| match known.get(a) {
                                Some(Known::Int(v)) => Some(*v),
                                _ => None,
                            })
                            .collect();
                        match (ints[0], ints[1]) {
                            (Some(a), Some(b)) => Some(Known::Bool(match inst.op {
                                Op::LtInt => a < b,
                                Op::LeInt => a <= b,
                                _ => a == b,
                            })),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let (Op::ConstInt, Some(v)) = (inst.op, int_constants.get(&inst.imm)) {
                    map.set(i, *v);
                    continue;
                }
                let v = out.push(inst.clone());
                if inst.op == Op::ConstInt {
                    int_constants.insert(inst.imm, v);
                }
                if let Some(f) = facts {
                    known.insert(v, f);
                }
                map.set(i, v);
            }
        }
    }
    out.snapshots = map.snapshots(trace);
    out
}

#[cfg(test)]
mod tests {
    #[track_caller]
    fn folds(input: &str, expected: &str) {
        crate::opt::assert_pass(super::fold, input, expected);
    }

    #[test]
    fn integer_arithmetic_on_constants() {
        folds(
            "%0 = const_int #2\n%1 = const_int #3\n%2 = add_ov %0 %1\n%3 = mul_ov %2 %2\n",
            "%0 = const_int #2\n%1 = const_int #3\n%2 = const_int #5\n%3 = const_int #25\n",
        );
    }

    #[test]
    fn overflow_out_of_the_small_integers_is_not_folded() {
        let text = "%0 = const_int #4611686018427387903\n%1 = const_int #1\n%2 = add_ov %0 %1 @0\n";
        folds(text, text);
    }

    // The snapshot's slots show what each value was renamed to.
    #[test]
    fn identities() {
        // x + 0 is x, and box(unbox x) is x.
        folds(
            "%0 = input #1\n%1 = unbox_int %0\n%2 = const_int #0\n%3 = add_ov %1 %2\n%4 = box_int %3\nguard_int %0 @0\n@0: 0x10 [0] %3 %4\n",
            "%0 = input #1\n%1 = unbox_int %0\n%2 = const_int #0\nguard_int %0 @0\n@0: 0x10 [0] %1 %0\n",
        );
        // A value the trace boxed itself needs no type guard, and unboxes to its integer
        // (the box is left for dead-code elimination).
        folds(
            "%0 = const_int #7\n%1 = box_int %0\nguard_int %1 @0\n%3 = unbox_int %1\nguard_int %1 @0\n@0: 0x10 [0] %3\n",
            "%0 = const_int #7\n%1 = box_int %0\n@0: 0x10 [0] %0\n",
        );
    }

    #[test]
    fn tagged_small_integer_constants() {
        // #0xb is the small integer 5; #0x1000 is a pointer, whose guard stays.
        folds(
            "%0 = const_ref #0xb\nguard_int %0 @0\n%2 = unbox_int %0\n%3 = const_ref #0x1000\nguard_int %3 @0\n@0: 0x10 [0] %0\n",
            "%0 = const_ref #0xb\n%1 = const_int #5\n%2 = const_ref #0x1000\nguard_int %2 @0\n@0: 0x10 [0] %0\n",
        );
    }

    #[test]
    fn guards_with_known_outcomes() {
        // 1 < 2 holds: its guard_true goes; guard_false of it always fails and stays.
        folds(
            "%0 = const_int #1\n%1 = const_int #2\n%2 = lt_int %0 %1\nguard_true %2 @0\nguard_false %2 @0\n",
            "%0 = const_int #1\n%1 = const_int #2\n%2 = lt_int %0 %1\nguard_false %2 @0\n",
        );
    }

    #[test]
    fn a_double_the_trace_boxed_needs_no_type_guard() {
        // box_double leaves when the double has no immediate encoding: past it, the value
        // is an immediate double, and unboxing it gives back the double.
        folds(
            "%0 = input #0\n%1 = unbox_double %0\n%2 = box_double %1 @0\nguard_double %2 @0\n%4 = unbox_double %2\n%5 = add_double %4 %4\n@0: 0x10 [1] %0\n",
            "%0 = input #0\n%1 = unbox_double %0\n%2 = box_double %1 @0\n%3 = add_double %1 %1\n@0: 0x10 [1] %0\n",
        );
    }

    #[test]
    fn doubles_and_snapshots_follow_the_renaming() {
        folds(
            "%0 = const_double 1.5\n%1 = const_double 2.0\n%2 = mul_double %0 %1\n%3 = input #0\nguard_int %3 @0\n@0: 0x10 [1] %2 %3\n",
            "%0 = const_double 1.5\n%1 = const_double 2.0\n%2 = const_double 3.0\n%3 = input #0\nguard_int %3 @0\n@0: 0x10 [1] %2 %3\n",
        );
    }

    #[test]
    fn carried_values_are_not_constants_in_the_body() {
        // i starts at 0 but changes every iteration: i + 1 in the body is not 1. The constant
        // 1 before the loop is invariant and is reused for the body's 1.
        folds(
            "%0 = const_int #0\n%1 = const_int #1\n%2 = add_ov %0 %1\nloop\n%4 = const_int #1\n%5 = add_ov %0 %4 @0\nphi %0 %5\njump\n",
            "%0 = const_int #0\n%1 = const_int #1\nloop\n%3 = add_ov %0 %1 @0\nphi %0 %3\njump\n",
        );
    }
}
