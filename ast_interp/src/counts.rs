//! Execution counts per node kind, for `som --engine ast --count-dispatch FILE`.
//!
//! The counter lives on the engine and `eval` records into it only with the
//! `dispatch-counts` feature; when that is off, nothing here is compiled into evaluation
//! (this module is, so that its report is tested in every build).
//!
//! The report has the bytecode engine's format (`kind,first,second,count`) with one `op` row
//! per executed node kind (`first` is the kind's name from `node::NODE_KINDS`). It has no
//! `pair` rows: in a tree walk, neither the previously evaluated node (pre-order) nor the
//! parent is a dispatch predecessor the way the previous bytecode is, and no
//! super-instruction-like choice depends on it.
//!
//! Owns: the counters and their report. Must never: change what the interpreter does.

use crate::node::NODE_KINDS;

pub struct NodeCounts {
    kinds: Vec<u64>,
}

impl Default for NodeCounts {
    fn default() -> Self {
        NodeCounts {
            kinds: vec![0; NODE_KINDS.len()],
        }
    }
}

impl NodeCounts {
    /// One evaluation of a node of kind `kind` (`Node::kind_index`).
    #[inline(always)]
    pub fn record(&mut self, kind: usize) {
        self.kinds[kind] += 1;
    }

    /// How many nodes of this kind were evaluated.
    pub fn count(&self, kind: usize) -> u64 {
        self.kinds[kind]
    }

    /// CSV: `kind,first,second,count`, one `op` row per evaluated node kind, most frequent
    /// first (ties by name).
    pub fn report(&self) -> String {
        let mut rows: Vec<(u64, &str)> = self
            .kinds
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| (c, NODE_KINDS[i]))
            .collect();
        rows.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(y.1)));
        let mut out = String::from("kind,first,second,count\n");
        for (c, name) in rows {
            out.push_str(&format!("op,{name},,{c}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Node, Place};
    use std::collections::HashSet;

    #[test]
    fn node_kind_names_are_distinct_csv_safe_and_indexed() {
        let names: HashSet<&str> = NODE_KINDS.iter().copied().collect();
        assert_eq!(names.len(), NODE_KINDS.len(), "duplicate node kind name");
        for name in NODE_KINDS {
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "node kind name `{name}` is not a plain lower-case identifier"
            );
        }
        let read = Node::Read(Place::Slot(1));
        assert_eq!(read.kind_name(), "read");
        assert_eq!(NODE_KINDS[read.kind_index()], "read");
        let seq =
            Node::Seq(vec![read, Node::Const(lang::runtime::value::Value::small_int(3))].into());
        assert_eq!(seq.kind_name(), "seq");
        let Node::Seq(items) = &seq else {
            unreachable!()
        };
        assert_eq!(items[1].kind_name(), "const");
    }

    #[test]
    fn report_lists_executed_kinds_most_frequent_first() {
        let mut c = NodeCounts::default();
        let index = |name: &str| NODE_KINDS.iter().position(|n| *n == name).unwrap();
        for _ in 0..3 {
            c.record(index("read"));
        }
        c.record(index("send"));
        c.record(index("arith"));
        c.record(index("arith"));
        c.record(index("const"));
        assert_eq!(c.count(index("read")), 3);
        assert_eq!(
            c.report(),
            "kind,first,second,count\n\
             op,read,,3\n\
             op,arith,,2\n\
             op,const,,1\n\
             op,send,,1\n"
        );
    }

    #[test]
    fn empty_report_is_just_the_header() {
        assert_eq!(NodeCounts::default().report(), "kind,first,second,count\n");
    }
}
