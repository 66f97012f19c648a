//! Redundant load removal (heap caching within a trace).
//!
//! Owns: answering a `load_field` or `load_element` from what the trace already knows about
//! that memory — the value an earlier load read or an earlier store wrote to the same object
//! and field (or array and index), as long as nothing in between may have changed it.
//! Must never: assume two different objects are distinct (a store to field `i` of any object
//! forgets field `i` of all others; a store to any element forgets all elements), keep
//! anything across a call (a primitive may write anything), or across `loop` (the body's
//! loads are answered within the body).

use std::collections::HashMap;

use crate::ir::{Effect, Op, Renaming, Trace, ValueId};

/// What is known about memory: (object, field) → value, and (array, index) → value.
#[derive(Default)]
struct Heap {
    fields: HashMap<(ValueId, i64), ValueId>,
    elements: HashMap<(ValueId, ValueId), ValueId>,
}

pub fn loads(trace: &Trace) -> Trace {
    let mut out = Trace::default();
    let mut map = Renaming::new(trace);
    let mut heap = Heap::default();
    for (i, inst) in trace.insts.iter().enumerate() {
        let inst = map.inst(inst);
        match inst.op {
            Op::LoadField => {
                let key = (inst.args[0], inst.imm);
                if let Some(v) = heap.fields.get(&key) {
                    map.set(i, *v);
                    continue;
                }
                let v = out.push(inst);
                heap.fields.insert(key, v);
                map.set(i, v);
            }
            Op::LoadElement => {
                let key = (inst.args[0], inst.args[1]);
                if let Some(v) = heap.elements.get(&key) {
                    map.set(i, *v);
                    continue;
                }
                let v = out.push(inst);
                heap.elements.insert(key, v);
                map.set(i, v);
            }
            Op::StoreField => {
                let (object, value, field) = (inst.args[0], inst.args[1], inst.imm);
                heap.fields.retain(|(_, f), _| *f != field);
                heap.fields.insert((object, field), value);
                map.set(i, out.push(inst));
            }
            Op::StoreElement => {
                let (array, index, value) = (inst.args[0], inst.args[1], inst.args[2]);
                heap.elements.clear();
                heap.elements.insert((array, index), value);
                map.set(i, out.push(inst));
            }
            op => {
                if op.effect() == Effect::Call || op == Op::Loop {
                    heap = Heap::default();
                }
                map.set(i, out.push(inst));
            }
        }
    }
    out.snapshots = map.snapshots(trace);
    out
}

#[cfg(test)]
mod tests {
    #[track_caller]
    fn removes(input: &str, expected: &str) {
        crate::opt::assert_pass(super::loads, input, expected);
    }

    #[test]
    fn a_load_after_a_load_or_a_store_of_the_same_field_is_known() {
        removes(
            "%0 = input #0\n%1 = input #1\n%2 = load_field %0 #3\n%3 = load_field %0 #3\nstore_field %0 %1 #4\n%5 = load_field %0 #4\n@0: 0x10 [0] %2 %3 %5\n",
            "%0 = input #0\n%1 = input #1\n%2 = load_field %0 #3\nstore_field %0 %1 #4\n@0: 0x10 [0] %2 %2 %1\n",
        );
    }

    #[test]
    fn stores_that_may_alias_and_calls_forget() {
        // %1 may be the same object as %0: its store to field 3 forgets %0's field 3, not
        // field 2; a call forgets everything.
        let text = "%0 = input #0\n%1 = input #1\n%2 = load_field %0 #3\n%3 = load_field %0 #2\nstore_field %1 %0 #3\n%5 = load_field %0 #3\n%6 = load_field %0 #2\n%7 = call_primitive %0 #1 @0\n%8 = load_field %0 #2\n";
        removes(
            text,
            "%0 = input #0\n%1 = input #1\n%2 = load_field %0 #3\n%3 = load_field %0 #2\nstore_field %1 %0 #3\n%5 = load_field %0 #3\n%6 = call_primitive %0 #1 @0\n%7 = load_field %0 #2\n",
        );
    }

    #[test]
    fn elements_by_array_and_index() {
        removes(
            "%0 = input #0\n%1 = const_int #1\n%2 = load_element %0 %1\n%3 = load_element %0 %1\n%4 = input #2\nstore_element %0 %1 %4\n%6 = load_element %0 %1\n@0: 0x10 [0] %3 %6\n",
            "%0 = input #0\n%1 = const_int #1\n%2 = load_element %0 %1\n%3 = input #2\nstore_element %0 %1 %3\n@0: 0x10 [0] %2 %3\n",
        );
    }
}
