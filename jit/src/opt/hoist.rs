//! Constants before the loop.
//!
//! Owns: moving every constant to the trace's entry (once per value: duplicates merge), so
//! that the loop body does not materialize them on every iteration. Must never: move
//! anything but constants (everything else may depend on the iteration).

use std::collections::HashMap;

use crate::ir::{Op, Renaming, Trace, ValueId};

fn is_constant(op: Op) -> bool {
    matches!(op, Op::ConstInt | Op::ConstDouble | Op::ConstRef)
}

pub fn hoist(trace: &Trace) -> Trace {
    let mut out = Trace::default();
    let mut map = Renaming::new(trace);
    let mut seen: HashMap<(Op, i64), ValueId> = HashMap::new();
    for (i, inst) in trace.insts.iter().enumerate() {
        if is_constant(inst.op) {
            let v = *seen
                .entry((inst.op, inst.imm))
                .or_insert_with(|| out.push(inst.clone()));
            map.set(i, v);
        }
    }
    for (i, inst) in trace.insts.iter().enumerate() {
        if is_constant(inst.op) {
            continue;
        }
        let inst = map.inst(inst);
        map.set(i, out.push(inst));
    }
    out.snapshots = map.snapshots(trace);
    out
}

#[cfg(test)]
mod tests {
    #[track_caller]
    fn hoists(input: &str, expected: &str) {
        crate::opt::assert_pass(super::hoist, input, expected);
    }

    #[test]
    fn constants_move_to_the_entry_and_merge() {
        hoists(
            "%0 = input #0\nloop\n%2 = unbox_int %0\n%3 = const_int #1\n%4 = add_ov %2 %3 @0\n%5 = const_int #1\n%6 = add_ov %4 %5 @0\n%7 = box_int %6\nphi %0 %7\njump\n",
            "%0 = const_int #1\n%1 = input #0\nloop\n%3 = unbox_int %1\n%4 = add_ov %3 %0 @0\n%5 = add_ov %4 %0 @0\n%6 = box_int %5\nphi %1 %6\njump\n",
        );
    }
}
