//! Common-subexpression elimination, and removal of guards already passed.
//!
//! Owns: replacing a pure instruction by an earlier identical one (same op, operands and
//! immediate), and dropping a guard identical to one earlier on the path (if it had failed,
//! the trace would have left there). Must never: reuse in the loop body a value computed
//! before `loop` from a loop-carried value (it belongs to the first iteration only), or merge
//! loads, allocations or calls (`loads` handles loads).

use std::collections::HashMap;

use crate::ir::{Effect, Op, Renaming, Trace, ValueId};

pub fn cse(trace: &Trace) -> Trace {
    let varying = trace.varying_before_loop();
    let mut out = Trace::default();
    let mut map = Renaming::new(trace);
    // Key → the output value (or, for guards, the output index) computing it.
    let mut seen: HashMap<(Op, Vec<ValueId>, i64), Option<ValueId>> = HashMap::new();
    for (i, inst) in trace.insts.iter().enumerate() {
        let inst = map.inst(inst);
        if inst.op == Op::Loop {
            // Entries from before the loop that vary between iterations are not available
            // in the body.
            seen.retain(|_, v| v.is_none_or(|v| !varying_in_out(&map, &varying, v)));
            // A guard before the loop on a varying value must be checked again each time.
            seen.retain(|(op, args, _), v| {
                v.is_some()
                    || op.effect() != Effect::Guard
                    || args.iter().all(|a| !varying_in_out(&map, &varying, *a))
            });
        }
        let key = (inst.op, inst.args.clone(), inst.imm);
        match inst.op.effect() {
            Effect::Pure => {
                if let Some(Some(v)) = seen.get(&key) {
                    map.set(i, *v);
                    continue;
                }
                let v = out.push(inst);
                seen.insert(key, Some(v));
                map.set(i, v);
            }
            Effect::Guard if inst.op.result() == crate::ir::Type::Void => {
                if seen.contains_key(&key) {
                    continue;
                }
                out.push(inst);
                seen.insert(key, None);
            }
            _ => map.set(i, out.push(inst)),
        }
    }
    out.snapshots = map.snapshots(trace);
    out
}

/// Whether output value `v` is the image of an input value that varies before the loop.
fn varying_in_out(map: &Renaming, varying: &[bool], v: ValueId) -> bool {
    map.sources(v)
        .any(|i| varying.get(i).copied().unwrap_or(false))
}

#[cfg(test)]
mod tests {
    #[track_caller]
    fn eliminates(input: &str, expected: &str) {
        crate::opt::assert_pass(super::cse, input, expected);
    }

    #[test]
    fn identical_pure_instructions_merge() {
        eliminates(
            "%0 = input #1\n%1 = unbox_int %0\n%2 = unbox_int %0\n%3 = lt_int %1 %2\nguard_true %3 @0\n@0: 0x10 [0] %2\n",
            "%0 = input #1\n%1 = unbox_int %0\n%2 = lt_int %1 %1\nguard_true %2 @0\n@0: 0x10 [0] %1\n",
        );
    }

    #[test]
    fn a_guard_already_passed_goes() {
        eliminates(
            "%0 = input #1\nguard_class %0 #0x40 @0\nguard_int %0 @0\nguard_class %0 #0x40 @1\nguard_class %0 #0x80 @1\n",
            "%0 = input #1\nguard_class %0 #0x40 @0\nguard_int %0 @0\nguard_class %0 #0x80 @1\n",
        );
    }

    #[test]
    fn loads_and_calls_are_not_merged() {
        let text = "%0 = input #1\n%1 = load_field %0 #2\n%2 = load_field %0 #2\n%3 = call_primitive %0 #7 @0\n%4 = call_primitive %0 #7 @0\n";
        eliminates(text, text);
    }

    #[test]
    fn first_iteration_values_are_not_reused_in_the_body() {
        // %2 (= i + 1 for the first i) must be recomputed in the body; the invariant unbox
        // of the input is reused.
        eliminates(
            "%0 = input #0\n%1 = unbox_int %0\n%2 = const_int #1\n%3 = add_ov %1 %2 @0\nloop\n%5 = unbox_int %0\n%6 = add_ov %3 %2 @0\n%7 = add_ov %6 %5 @0\nphi %3 %7\njump\n",
            "%0 = input #0\n%1 = unbox_int %0\n%2 = const_int #1\n%3 = add_ov %1 %2 @0\nloop\n%5 = add_ov %3 %2 @0\n%6 = add_ov %5 %1 @0\nphi %3 %6\njump\n",
        );
    }
}
