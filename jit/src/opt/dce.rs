//! Dead-code elimination.
//!
//! Owns: removing instructions whose results nobody uses and whose execution nobody could
//! observe — pure computations, loads and allocations. Must never: remove a guard, a store, a
//! call or loop structure, a value a kept snapshot names (the engine needs it to resume), or
//! an input (the loop header's snapshot, which the backend's safepoint exit uses without an
//! instruction naming it, holds every input).

use crate::ir::{Effect, Op, Renaming, Trace};

pub fn dce(trace: &Trace) -> Trace {
    let n = trace.insts.len();
    let mut live = vec![false; n];
    for i in (0..n).rev() {
        let inst = &trace.insts[i];
        let observable = inst.op == Op::Input
            || !matches!(
                inst.op.effect(),
                Effect::Pure | Effect::Load | Effect::Alloc
            );
        if !(observable || live[i]) {
            continue;
        }
        live[i] = true;
        for a in &inst.args {
            live[a.0 as usize] = true;
        }
        if let Some(s) = inst.snapshot {
            for f in &trace.snapshots[s.0 as usize].frames {
                for v in &f.slots {
                    live[v.0 as usize] = true;
                }
            }
        }
    }
    let mut out = Trace::default();
    let mut map = Renaming::new(trace);
    for (i, inst) in trace.insts.iter().enumerate() {
        if live[i] {
            let inst = map.inst(inst);
            map.set(i, out.push(inst));
        }
    }
    // Snapshots that no kept instruction names may mention removed values: they are dropped
    // to empty ones (the numbering stays).
    out.snapshots = trace
        .snapshots
        .iter()
        .map(|s| {
            let mut s = s.clone();
            let all_live = s
                .frames
                .iter()
                .all(|f| f.slots.iter().all(|v| map.get(*v).is_some()));
            if !all_live {
                s.frames.clear();
            }
            for f in &mut s.frames {
                for v in &mut f.slots {
                    *v = map.get(*v).expect("checked above");
                }
            }
            s
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    #[track_caller]
    fn removes(input: &str, expected: &str) {
        crate::opt::assert_pass(super::dce, input, expected);
    }

    #[test]
    fn unused_pure_values_loads_and_allocations_go() {
        removes(
            "%0 = input #0\n%1 = const_int #5\n%2 = load_field %0 #1\n%3 = new_object #0x40\n%4 = unbox_int %0\nguard_int %0 @0\n",
            "%0 = input #0\nguard_int %0 @0\n",
        );
    }

    #[test]
    fn guards_stores_calls_and_what_snapshots_name_stay() {
        removes(
            "%0 = input #0\n%1 = const_int #5\n%2 = box_int %1\n%3 = const_int #9\nstore_field %0 %2 #0\n%5 = call_primitive %0 #3 @0\n@0: 0x10 [2] %3\n",
            "%0 = input #0\n%1 = const_int #5\n%2 = box_int %1\n%3 = const_int #9\nstore_field %0 %2 #0\n%5 = call_primitive %0 #3 @0\n@0: 0x10 [2] %3\n",
        );
    }

    #[test]
    fn loop_carried_values_stay() {
        removes(
            "%0 = const_int #0\n%1 = const_int #1\nloop\n%3 = add_ov %0 %1 @0\n%4 = mul_ov %3 %3 @0\nphi %0 %3\njump\n",
            "%0 = const_int #0\n%1 = const_int #1\nloop\n%3 = add_ov %0 %1 @0\n%4 = mul_ov %3 %3 @0\nphi %0 %3\njump\n",
        );
    }
}
