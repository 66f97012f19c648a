//! The dispatch experiment: how many instructions each engine spends on dispatch, per
//! bytecode, per AST node, per microbenchmark operation and per Are We Fast Yet benchmark.
//!
//! Owns: which function holds each configuration's dispatch and which of its instructions
//! are the dispatch sequence ([`dispatch_sequence`]); attributing callgrind's per-address
//! counts to that sequence; and the rows of the experiment's raw CSV files. The sequences:
//! - bytecode engine, `match` variant: `dispatch_loop_match`, from the loop head (the label
//!   most branches in the function go to) to the indirect `jmp` through the opcode table;
//! - bytecode engine, `table` variant: `dispatch_loop_table`, from the loop head to the
//!   indirect `call` of the handler;
//! - AST engine: `eval`, from its entry to the indirect `jmp` on the node kind.
//!
//! A dispatch sequence's instructions executed (callgrind, by address) divided by the number
//! of bytecodes or nodes executed (the `dispatch-counts` build) is the dynamic dispatch cost
//! per bytecode or node. Must never: count code outside the extracted sequence as dispatch,
//! or report a number from a run that failed.

use std::collections::BTreeMap;
use std::path::Path;

use iced_x86::{FlowControl, Mnemonic, OpKind};

use crate::static_dispatch::{self, Insn, Listing};

/// One measured configuration: an engine and, for the bytecode engine, a dispatch variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Its name in the CSV files: `ast`, `bc` (the `match` variant) or `bc-table`.
    pub name: &'static str,
    /// The `som` options that select it.
    pub som_args: &'static [&'static str],
    /// The function that holds its dispatch (demangled, without hash).
    pub function: &'static str,
    /// Where its dispatch sequence starts.
    pub start: SequenceStart,
}

/// Where a dispatch sequence starts; it always ends at the first indirect jump or call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceStart {
    /// The label most branches of the function go to (a dispatch loop's head).
    LoopHead,
    /// The basic block of the function's indirect call (a loop that calls its handlers).
    CallBlock,
    /// The function's entry (a recursive evaluator).
    Entry,
}

pub const CONFIGS: [Config; 3] = [
    Config {
        name: "bc",
        som_args: &["--engine", "bc", "--dispatch", "match", "--no-jit"],
        function: "bc_interp::dispatch_loop::<impl bc_interp::BcEngine>::dispatch_loop_match",
        start: SequenceStart::LoopHead,
    },
    Config {
        name: "bc-table",
        som_args: &["--engine", "bc", "--dispatch", "table", "--no-jit"],
        function: "bc_interp::dispatch_loop::<impl bc_interp::BcEngine>::dispatch_loop_table",
        start: SequenceStart::CallBlock,
    },
    Config {
        name: "ast",
        som_args: &["--engine", "ast", "--no-jit"],
        function: "ast_interp::eval::<impl ast_interp::AstEngine>::eval",
        start: SequenceStart::Entry,
    },
];

pub fn config(name: &str) -> Option<Config> {
    CONFIGS.iter().copied().find(|c| c.name == name)
}

/// A configuration's dispatch code as found in the binary.
#[derive(Clone, Debug)]
pub struct StaticDispatch {
    pub config: Config,
    /// The whole function, normalized.
    pub listing: Listing,
    /// Indices into `listing.instructions` of the dispatch sequence, in address order.
    pub sequence: Vec<usize>,
}

impl StaticDispatch {
    /// The addresses of the dispatch sequence's instructions.
    pub fn addresses(&self) -> Vec<u64> {
        self.sequence
            .iter()
            .map(|&i| self.listing.instructions[i].address)
            .collect()
    }

    /// The sequence as text, one normalized instruction per line. Branch labels (`L17`) are
    /// numbered over the whole function, so they would change with unrelated code: here they
    /// all read `label`.
    pub fn text(&self) -> String {
        self.sequence
            .iter()
            .map(|&i| format!("{}\n", without_labels(&self.listing.instructions[i].text)))
            .collect()
    }

    /// How many basic blocks the sequence spans.
    pub fn blocks(&self) -> usize {
        let starts: Vec<usize> = self.listing.blocks.iter().map(|b| b.start_index).collect();
        self.sequence
            .iter()
            .filter(|i| starts.contains(i))
            .count()
            .max(1)
    }

    /// Instructions per bytecode or node on the path through the sequence, plus the jump a
    /// handler needs to get back to it (a handler that is not laid out just before the loop
    /// head ends in `jmp head`): the static dispatch cost. For the AST engine the sequence is
    /// the callee's side only (entry to jump); the call, the saving of registers that is not
    /// in the sequence and the return are counted dynamically, not here.
    pub fn instructions_per_dispatch(&self) -> usize {
        match self.config.name {
            "ast" => self.sequence.len(),
            _ => self.sequence.len() + 1,
        }
    }
}

/// `text` with every label `L<digits>` (a whole word) replaced by `label`.
fn without_labels(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('L') {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let digits = from[1..].chars().take_while(|c| c.is_ascii_digit()).count();
        let starts_word = !before.ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let ends_word = !from[1 + digits..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
        if digits > 0 && starts_word && ends_word {
            out.push_str("label");
        } else {
            out.push_str(&from[..1 + digits]);
        }
        rest = &from[1 + digits..];
    }
    out.push_str(rest);
    out
}

/// Loads `config`'s function from `binary` and extracts its dispatch sequence.
pub fn extract(binary: &Path, config: Config) -> Result<StaticDispatch, String> {
    let function = static_dispatch::load_function(binary, config.function)?;
    let listing = static_dispatch::disassemble(&function);
    let sequence = dispatch_sequence(&listing, config.start)?;
    Ok(StaticDispatch {
        config,
        listing,
        sequence,
    })
}

fn near_target(insn: &Insn) -> Option<u64> {
    let i = &insn.instruction;
    match i.flow_control() {
        FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
            if i.op0_kind() == OpKind::NearBranch64 =>
        {
            Some(i.near_branch64())
        }
        _ => None,
    }
}

/// The dispatch sequence of a listing: from `start` along the fall-through path to the first
/// indirect jump or call, inclusive. The loop head is the instruction that most branches
/// inside the function target.
pub fn dispatch_sequence(listing: &Listing, start: SequenceStart) -> Result<Vec<usize>, String> {
    let insns = &listing.instructions;
    let index_of: BTreeMap<u64, usize> = insns
        .iter()
        .enumerate()
        .map(|(i, x)| (x.address, i))
        .collect();
    let start = if start == SequenceStart::Entry {
        0
    } else if start == SequenceStart::CallBlock {
        let call = insns
            .iter()
            .position(|i| i.instruction.flow_control() == FlowControl::IndirectCall)
            .ok_or_else(|| format!("{}: no indirect call", listing.name))?;
        listing
            .blocks
            .iter()
            .find(|b| b.start_index <= call && call <= b.end_index)
            .map(|b| b.start_index)
            .ok_or_else(|| format!("{}: the call is in no block", listing.name))?
    } else {
        let mut incoming: BTreeMap<usize, usize> = BTreeMap::new();
        for insn in insns {
            if let Some(i) = near_target(insn).and_then(|t| index_of.get(&t)) {
                *incoming.entry(*i).or_insert(0) += 1;
            }
        }
        // The most targeted label; of equals, the first.
        let most = incoming
            .values()
            .copied()
            .max()
            .ok_or("no branches in the function")?;
        *incoming
            .iter()
            .find(|(_, n)| **n == most)
            .map(|(i, _)| i)
            .expect("a maximum exists")
    };
    let mut sequence = Vec::new();
    let mut i = start;
    loop {
        let insn = insns
            .get(i)
            .ok_or_else(|| format!("{}: no indirect jump after the loop head", listing.name))?;
        sequence.push(i);
        match insn.instruction.flow_control() {
            FlowControl::IndirectBranch | FlowControl::IndirectCall => return Ok(sequence),
            FlowControl::UnconditionalBranch => {
                // Follow a direct jump (the head may be laid out apart from its jump).
                let target = near_target(insn).and_then(|t| index_of.get(&t).copied());
                i = target.ok_or_else(|| {
                    format!("{}: the dispatch path leaves the function", listing.name)
                })?;
                if sequence.contains(&i) {
                    return Err(format!("{}: the dispatch path loops", listing.name));
                }
            }
            FlowControl::Return | FlowControl::Exception | FlowControl::Interrupt => {
                return Err(format!(
                    "{}: the dispatch path ends before an indirect jump",
                    listing.name
                ))
            }
            _ => i += 1,
        }
        if sequence.len() > 64 {
            return Err(format!(
                "{}: no indirect jump near the loop head",
                listing.name
            ));
        }
    }
}

/// Whether the dispatch checks the opcode's range: a compare of the register that indexes the
/// jump table, or a conditional branch, between loading the opcode and jumping.
pub fn has_opcode_range_check(d: &StaticDispatch) -> bool {
    let insns = &d.listing.instructions;
    let Some(&last) = d.sequence.last() else {
        return false;
    };
    let jump = &insns[last].instruction;
    let index = jump.memory_index();
    // The instruction in the sequence that writes the index register: the opcode load.
    let load = d.sequence.iter().rposition(|&i| {
        let x = &insns[i].instruction;
        i != last && x.op_count() > 0 && x.op0_kind() == OpKind::Register && {
            let r = x.op0_register().full_register();
            r == index.full_register()
        }
    });
    let Some(load) = load else {
        return true; // no visible opcode load: refuse to call it unchecked
    };
    d.sequence[load + 1..].iter().any(|&i| {
        let x = &insns[i].instruction;
        x.flow_control() == FlowControl::ConditionalBranch
            || (x.mnemonic() == Mnemonic::Cmp
                && x.op0_kind() == OpKind::Register
                && x.op0_register().full_register() == index.full_register())
    })
}

/// The instructions executed at `addresses`, from callgrind's counts by address.
pub fn executed_at(by_address: &BTreeMap<u64, u64>, addresses: &[u64]) -> u64 {
    addresses
        .iter()
        .map(|a| by_address.get(a).copied().unwrap_or(0))
        .sum()
}

/// The total of a `som --count-dispatch` CSV: executions of every op (or node kind), and
/// the executions by op. (Pair rows, `pair,…`, are not summed.)
pub fn parse_counts(csv: &str) -> Result<(u64, Vec<(String, u64)>), String> {
    let mut total = 0;
    let mut by_op = Vec::new();
    for (n, line) in csv.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 4 {
            return Err(format!("counts line {}: {line:?}", n + 1));
        }
        if fields[0] != "pair" {
            let count: u64 = fields[3]
                .parse()
                .map_err(|e| format!("counts line {}: {e}", n + 1))?;
            total += count;
            by_op.push((fields[1].to_string(), count));
        }
    }
    Ok((total, by_op))
}

/// One microbenchmark operation in one configuration (raw counts and derived costs).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MicroDispatchRow {
    pub config: String,
    pub operation: String,
    pub k: u64,
    pub iterations: u64,
    pub instructions_k: u64,
    pub instructions_2k: u64,
    pub dispatch_instructions_k: u64,
    pub dispatch_instructions_2k: u64,
    pub executions_k: u64,
    pub executions_2k: u64,
    /// Derived: bytecodes (or nodes) executed per operation.
    pub executions_per_op: f64,
    /// Derived: all instructions per operation (k/2k).
    pub instructions_per_op: f64,
    /// Derived: dispatch instructions per operation (k/2k).
    pub dispatch_per_op: f64,
    /// Derived: dispatch instructions per bytecode or node.
    pub dispatch_per_execution: f64,
}

impl MicroDispatchRow {
    pub fn derive(mut self) -> Self {
        let ops = (self.k * self.iterations) as f64;
        let d = |a: u64, b: u64| b as f64 - a as f64;
        self.executions_per_op = d(self.executions_k, self.executions_2k) / ops;
        self.instructions_per_op = d(self.instructions_k, self.instructions_2k) / ops;
        self.dispatch_per_op = d(self.dispatch_instructions_k, self.dispatch_instructions_2k) / ops;
        self.dispatch_per_execution = if self.executions_per_op > 0.0 {
            self.dispatch_per_op / self.executions_per_op
        } else {
            0.0
        };
        self
    }
}

/// One Are We Fast Yet benchmark in one configuration.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BenchmarkDispatchRow {
    pub config: String,
    pub benchmark: String,
    pub inner: u64,
    /// Instructions of the program's run (the `program` region: after bootstrap).
    pub instructions: u64,
    /// Of those, executed in the dispatch sequence.
    pub dispatch_instructions: u64,
    /// Bytecodes or nodes executed (whole run, from the counting build).
    pub executions: u64,
    /// Derived: `dispatch_instructions / instructions`.
    pub dispatch_share: f64,
    /// Derived: `dispatch_instructions / executions`.
    pub dispatch_per_execution: f64,
}

/// Executions of one op (or node kind) in one benchmark and configuration.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct OpCountRow {
    pub config: String,
    pub benchmark: String,
    pub operation: String,
    pub executions: u64,
}

/// What `measurements dispatch` runs.
pub struct DispatchPlan {
    /// The `som` binary measured (a release build without the counting feature).
    pub som: std::path::PathBuf,
    /// The same source built with `--features dispatch-counts`, for execution counts.
    pub counting_som: std::path::PathBuf,
    pub micro_dir: std::path::PathBuf,
    pub awfy_dir: std::path::PathBuf,
    pub micro_configs: Vec<Config>,
    pub operations: Vec<String>,
    pub k: u64,
    pub iterations: u64,
    pub awfy_configs: Vec<Config>,
    pub benchmarks: Vec<(String, u64)>,
}

/// Everything one experiment produces (the raw rows; tables are derived from them).
pub struct DispatchResult {
    pub statics: Vec<StaticDispatch>,
    pub micro: Vec<MicroDispatchRow>,
    pub benchmarks: Vec<BenchmarkDispatchRow>,
    pub op_counts: Vec<OpCountRow>,
}

fn callgrind_by_address(
    program: &Path,
    args: &[String],
    region: bool,
) -> Result<(u64, BTreeMap<u64, u64>), String> {
    let cg = crate::counters::callgrind::Callgrind {
        collect_atstart: !region,
        by_address: true,
        ..Default::default()
    };
    let run = cg
        .run(&program.to_string_lossy(), args)
        .map_err(|e| e.to_string())?;
    if !run.success {
        return Err(format!(
            "{} {} failed:\n{}{}",
            program.display(),
            args.join(" "),
            run.stdout,
            run.stderr
        ));
    }
    let dumps: Vec<_> = if region {
        run.dumps
            .iter()
            .filter(|d| d.region.as_deref() == Some("program"))
            .collect()
    } else {
        run.dumps.iter().collect()
    };
    if dumps.is_empty() {
        return Err(format!(
            "{}: no `program` region was dumped",
            args.join(" ")
        ));
    }
    let mut by_address = BTreeMap::new();
    for d in &dumps {
        for (a, c) in &d.by_address {
            *by_address.entry(*a).or_insert(0) += c;
        }
    }
    Ok((dumps.iter().map(|d| d.instructions).sum(), by_address))
}

/// Runs the counting build with `--count-dispatch` and reads the counts back.
fn execution_counts(
    counting_som: &Path,
    args: &[String],
) -> Result<(u64, Vec<(String, u64)>), String> {
    let file = std::env::temp_dir().join(format!(
        "somlab-counts-{}-{}.csv",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let output = std::process::Command::new(counting_som)
        .arg("--count-dispatch")
        .arg(&file)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", counting_som.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} {} failed:\n{}",
            counting_som.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let _ = std::fs::remove_file(&file);
    parse_counts(&text)
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The `som` options of every measured run: a clock that does not depend on timing (the
/// harness prints run times; their digits would change the counts), so that every count
/// reproduces exactly.
const EXACT: [&str; 1] = ["--fixed-clock"];

/// Runs the whole experiment; `progress` hears one line per finished measurement.
pub fn run(plan: &DispatchPlan, mut progress: impl FnMut(&str)) -> Result<DispatchResult, String> {
    let mut statics = Vec::new();
    for config in CONFIGS {
        let s = extract(&plan.som, config)?;
        progress(&format!(
            "{}: dispatch sequence of {} instructions ({} per dispatch)",
            config.name,
            s.sequence.len(),
            s.instructions_per_dispatch()
        ));
        statics.push(s);
    }
    let addresses = |config: &Config| -> Vec<u64> {
        statics
            .iter()
            .find(|s| s.config == *config)
            .map(|s| s.addresses())
            .unwrap_or_default()
    };
    let mut micro = Vec::new();
    for operation in &plan.operations {
        for config in &plan.micro_configs {
            let args = |k: u64| -> Vec<String> {
                let mut a: Vec<String> = EXACT.iter().map(|s| s.to_string()).collect();
                a.extend(config.som_args.iter().map(|s| s.to_string()));
                a.push(
                    plan.micro_dir
                        .join(format!("{operation}.som"))
                        .to_string_lossy()
                        .into(),
                );
                a.push(k.to_string());
                a.push(plan.iterations.to_string());
                a
            };
            let at = addresses(config);
            let with_region = |k: u64| {
                let mut a = vec!["--callgrind-region".to_string()];
                a.extend(args(k));
                a
            };
            let (instructions_k, by_k) =
                callgrind_by_address(&plan.som, &with_region(plan.k), true)?;
            let (instructions_2k, by_2k) =
                callgrind_by_address(&plan.som, &with_region(2 * plan.k), true)?;
            let (executions_k, _) = execution_counts(&plan.counting_som, &args(plan.k))?;
            let (executions_2k, _) = execution_counts(&plan.counting_som, &args(2 * plan.k))?;
            let row = MicroDispatchRow {
                config: config.name.to_string(),
                operation: operation.clone(),
                k: plan.k,
                iterations: plan.iterations,
                instructions_k,
                instructions_2k,
                dispatch_instructions_k: executed_at(&by_k, &at),
                dispatch_instructions_2k: executed_at(&by_2k, &at),
                executions_k,
                executions_2k,
                executions_per_op: 0.0,
                instructions_per_op: 0.0,
                dispatch_per_op: 0.0,
                dispatch_per_execution: 0.0,
            }
            .derive();
            progress(&format!(
                "{} {}: {:.1} instructions, {:.2} executions, {:.1} dispatch instructions per operation ({:.2} per execution)",
                row.config, row.operation, row.instructions_per_op, row.executions_per_op,
                row.dispatch_per_op, row.dispatch_per_execution
            ));
            micro.push(row);
        }
    }
    let mut benchmarks = Vec::new();
    let mut op_counts = Vec::new();
    for (name, inner) in &plan.benchmarks {
        for config in &plan.awfy_configs {
            let cp: Vec<String> = crate::suite::classpath(&plan.awfy_dir, name)
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let mut args: Vec<String> = EXACT.iter().map(|s| s.to_string()).collect();
            args.extend(config.som_args.iter().map(|s| s.to_string()));
            args.extend(["-cp".to_string(), cp.join(":")]);
            args.push(
                crate::suite::harness(&plan.awfy_dir)
                    .to_string_lossy()
                    .into(),
            );
            args.extend([name.clone(), "1".to_string(), inner.to_string()]);
            let mut region_args = vec!["--callgrind-region".to_string()];
            region_args.extend(args.iter().cloned());
            let (instructions, by_address) = callgrind_by_address(&plan.som, &region_args, true)?;
            let dispatch_instructions = executed_at(&by_address, &addresses(config));
            let (executions, by_op) = execution_counts(&plan.counting_som, &args)?;
            let row = BenchmarkDispatchRow {
                config: config.name.to_string(),
                benchmark: name.clone(),
                inner: *inner,
                instructions,
                dispatch_instructions,
                executions,
                dispatch_share: dispatch_instructions as f64 / instructions.max(1) as f64,
                dispatch_per_execution: dispatch_instructions as f64 / executions.max(1) as f64,
            };
            progress(&format!(
                "{} {name} {inner}: {instructions} instructions, {:.1}% dispatch",
                row.config,
                100.0 * row.dispatch_share
            ));
            benchmarks.push(row);
            op_counts.extend(by_op.into_iter().map(|(operation, executions)| OpCountRow {
                config: config.name.to_string(),
                benchmark: name.clone(),
                operation,
                executions,
            }));
        }
    }
    Ok(DispatchResult {
        statics,
        micro,
        benchmarks,
        op_counts,
    })
}

fn csv_of<T: serde::Serialize>(rows: &[T]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| e.to_string())?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

impl DispatchResult {
    /// The raw files: `(suffix, contents)`, e.g. `("micro.csv", …)`.
    pub fn files(&self) -> Result<Vec<(&'static str, String)>, String> {
        let mut statics = String::from("config,function,sequence_instructions,instructions_per_dispatch,blocks,opcode_range_check\n");
        let mut listings = String::new();
        for s in &self.statics {
            statics.push_str(&format!(
                "{},{},{},{},{},{}\n",
                s.config.name,
                s.config.function.replace(',', ";"),
                s.sequence.len(),
                s.instructions_per_dispatch(),
                s.blocks(),
                s.config.name != "ast" && has_opcode_range_check(s)
            ));
            listings.push_str(&format!(
                "## {} ({})\n\n```\n{}```\n\n",
                s.config.name,
                s.config.function,
                s.text()
            ));
        }
        Ok(vec![
            ("static.csv", statics),
            ("static.md", listings),
            ("micro.csv", csv_of(&self.micro)?),
            ("awfy.csv", csv_of(&self.benchmarks)?),
            ("awfy-ops.csv", csv_of(&self.op_counts)?),
        ])
    }

    /// Tables per engine, derived from the rows.
    pub fn tables(&self) -> String {
        let mut out = String::new();
        for s in &self.statics {
            out.push_str(&format!(
                "- `{}`: dispatch sequence of {} instructions, {} per dispatch{}\n",
                s.config.name,
                s.sequence.len(),
                s.instructions_per_dispatch(),
                if s.config.name == "ast" {
                    " (callee side: entry to jump)"
                } else {
                    ""
                }
            ));
        }
        out.push('\n');
        let configs: Vec<&str> = {
            let mut v: Vec<&str> = Vec::new();
            for r in self
                .micro
                .iter()
                .map(|r| r.config.as_str())
                .chain(self.benchmarks.iter().map(|r| r.config.as_str()))
            {
                if !v.contains(&r) {
                    v.push(r);
                }
            }
            v
        };
        for config in configs {
            out.push_str(&format!("### {config}\n\n"));
            let micro: Vec<_> = self.micro.iter().filter(|r| r.config == config).collect();
            if !micro.is_empty() {
                out.push_str("| operation | executions per op | instructions per op | dispatch instructions per op | per execution | dispatch share |\n|---|---:|---:|---:|---:|---:|\n");
                for r in micro {
                    out.push_str(&format!(
                        "| {} | {:.2} | {:.1} | {:.1} | {:.2} | {:.1}% |\n",
                        r.operation,
                        r.executions_per_op,
                        r.instructions_per_op,
                        r.dispatch_per_op,
                        r.dispatch_per_execution,
                        100.0 * r.dispatch_per_op / r.instructions_per_op.max(f64::MIN_POSITIVE)
                    ));
                }
                out.push('\n');
            }
            let benches: Vec<_> = self
                .benchmarks
                .iter()
                .filter(|r| r.config == config)
                .collect();
            if !benches.is_empty() {
                out.push_str("| benchmark | inner | executions | instructions | dispatch instructions | per execution | dispatch share |\n|---|---:|---:|---:|---:|---:|---:|\n");
                for r in benches {
                    out.push_str(&format!(
                        "| {} | {} | {} | {} | {} | {:.2} | {:.1}% |\n",
                        r.benchmark,
                        r.inner,
                        r.executions,
                        r.instructions,
                        r.dispatch_instructions,
                        r.dispatch_per_execution,
                        100.0 * r.dispatch_share
                    ));
                }
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_hidden_but_names_kept() {
        assert_eq!(without_labels("jae L225"), "jae label");
        assert_eq!(without_labels("jmp L3"), "jmp label");
        assert_eq!(without_labels("call Lib::L2x"), "call Lib::L2x");
        assert_eq!(without_labels("mov r15,[r10+L]"), "mov r15,[r10+L]");
    }

    #[test]
    fn counts_sum_ops_but_not_pairs() {
        let csv = "kind,first,second,count\nop,push_slot,,10\npair,push_slot,pop,7\nop,pop,,5\n";
        let (total, by_op) = parse_counts(csv).unwrap();
        assert_eq!(total, 15);
        assert_eq!(
            by_op,
            vec![("push_slot".to_string(), 10), ("pop".to_string(), 5)]
        );
        assert!(parse_counts("h\nop,x,,notanumber\n").is_err());
    }

    #[test]
    fn micro_rows_derive_costs_per_operation_and_per_bytecode() {
        let row = MicroDispatchRow {
            config: "bc".into(),
            operation: "LocalRead".into(),
            k: 10,
            iterations: 100,
            instructions_k: 100_000,
            instructions_2k: 130_000,
            dispatch_instructions_k: 20_000,
            dispatch_instructions_2k: 32_000,
            executions_k: 5_000,
            executions_2k: 7_000,
            executions_per_op: 0.0,
            instructions_per_op: 0.0,
            dispatch_per_op: 0.0,
            dispatch_per_execution: 0.0,
        }
        .derive();
        assert_eq!(row.instructions_per_op, 30.0);
        assert_eq!(row.dispatch_per_op, 12.0);
        assert_eq!(row.executions_per_op, 2.0);
        assert_eq!(row.dispatch_per_execution, 6.0);
    }
}
