//! Execution counts per bytecode and per adjacent pair of bytecodes, behind the
//! `dispatch-counts` feature (when it is off, nothing here is compiled into the loop).
//!
//! Owns: the counters and their report. Must never: change what the interpreter does.

use crate::bytecode::Op;

pub struct DispatchCounts {
    ops: Vec<u64>,
    pairs: Vec<u64>,
    previous: usize,
}

impl Default for DispatchCounts {
    fn default() -> Self {
        let n = Op::ALL.len();
        DispatchCounts {
            ops: vec![0; n],
            pairs: vec![0; n * n],
            previous: 0,
        }
    }
}

impl DispatchCounts {
    #[inline(always)]
    pub fn record(&mut self, op: Op) {
        let i = op as usize;
        self.ops[i] += 1;
        self.pairs[self.previous * Op::ALL.len() + i] += 1;
        self.previous = i;
    }

    /// CSV: `kind,first,second,count` for every executed bytecode and pair, most frequent first.
    pub fn report(&self) -> String {
        let n = Op::ALL.len();
        let mut rows: Vec<(u64, String)> = Vec::new();
        for (i, &c) in self.ops.iter().enumerate().filter(|(_, c)| **c > 0) {
            rows.push((c, format!("op,{},,{c}", Op::ALL[i].mnemonic())));
        }
        for (i, &c) in self.pairs.iter().enumerate().filter(|(_, c)| **c > 0) {
            let (a, b) = (Op::ALL[i / n].mnemonic(), Op::ALL[i % n].mnemonic());
            rows.push((c, format!("pair,{a},{b},{c}")));
        }
        rows.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        let mut out = String::from("kind,first,second,count\n");
        for (_, r) in rows {
            out.push_str(&r);
            out.push('\n');
        }
        out
    }
}
