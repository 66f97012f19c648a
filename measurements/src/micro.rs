//! The interpreter microbenchmarks and the k/2k method: instructions per operation.
//!
//! Owns: the list of operations (`benchmarks/micro/operations.txt`, written by `gen.py` with
//! the programs), running each program under callgrind with loop bodies of k and 2k
//! repetitions of its operation, the arithmetic, and the CSV and table of a run.
//!
//! Instructions per operation are `((count(2k) − count(k)) − (setup(2k) − setup(k))) / (k ×
//! iterations)`: start-up, the loop and its per-iteration check are the same in the k and 2k
//! runs and cancel; what does not cancel is the one-time cost of compiling the longer body
//! (the bytecode compiler and verifier, or the node tree, scale with its length — about 1.8
//! instructions per operation for the bytecode engine at 1000 iterations), so both are also
//! run with 0 iterations (`setup`, the same code compiled but never looped) and that
//! difference is subtracted. Must never: report a count of a
//! process that failed or whose program did not verify its result.
//!
//! Counting goes through the shared callgrind driver (`counters::callgrind`).

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::counters::callgrind::Callgrind;

/// One operation on one engine: the raw counts and the derived cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MicroRow {
    pub engine: String,
    pub operation: String,
    pub k: u64,
    pub iterations: u64,
    pub instructions_k: u64,
    pub instructions_2k: u64,
    pub instructions_per_op: f64,
    /// The same runs with 0 iterations: start-up and compiling the body, no loop.
    pub setup_k: u64,
    pub setup_2k: u64,
}

/// What `measurements micro` runs.
#[derive(Clone, Debug)]
pub struct MicroPlan {
    pub som: PathBuf,
    /// The directory of the generated programs (`benchmarks/micro`).
    pub dir: PathBuf,
    pub engines: Vec<String>,
    pub operations: Vec<String>,
    /// The smaller body; the other has 2k repetitions (both must be generated).
    pub k: u64,
    pub iterations: u64,
    pub valgrind: PathBuf,
}

/// Instructions per operation by the k/2k method, less the difference in one-time setup.
pub fn instructions_per_op(
    (instructions_k, instructions_2k): (u64, u64),
    (setup_k, setup_2k): (u64, u64),
    k: u64,
    iterations: u64,
) -> f64 {
    let looped = instructions_2k as f64 - instructions_k as f64;
    let setup = setup_2k as f64 - setup_k as f64;
    (looped - setup) / (k as f64 * iterations as f64)
}

/// The operations in `dir/operations.txt` (name, then a tab and the unit's description).
pub fn operations(dir: &Path) -> io::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(dir.join("operations.txt"))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('\t') {
            Some((name, unit)) => (name.trim().to_string(), unit.trim().to_string()),
            None => (l.trim().to_string(), String::new()),
        })
        .collect())
}

/// The command that runs one program: `som <engine's arguments> dir/Op.som K ITERATIONS`.
pub fn som_command(
    som: &Path,
    dir: &Path,
    engine: &str,
    operation: &str,
    k: u64,
    iterations: u64,
) -> Command {
    let mut c = Command::new(som);
    c.args(crate::suite::engine_args(engine).expect("engines are checked when planning"))
        .arg(dir.join(format!("{operation}.som")))
        .arg(k.to_string())
        .arg(iterations.to_string());
    c
}

/// Runs `command` under callgrind (the shared driver, whole process) and returns its exact
/// instruction count. The program must exit with status 0 and print its `: ok` line.
fn callgrind_instructions(valgrind: &Path, command: &Command) -> Result<u64, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let shown = format!("{program} {}", args.join(" "));
    let run = Callgrind {
        valgrind: valgrind.to_path_buf(),
        collect_atstart: true,
        ..Callgrind::default()
    }
    .run(&program, &args)
    .map_err(|e| format!("{shown}: {e}"))?;
    if !run.success || !run.stdout.contains(": ok") {
        return Err(format!("{shown} failed:\n{}{}", run.stdout, run.stderr));
    }
    Ok(run.total())
}

/// Runs every operation on every engine at k and 2k; `progress` is told about each row.
pub fn run(plan: &MicroPlan, mut progress: impl FnMut(&MicroRow)) -> Result<Vec<MicroRow>, String> {
    let mut rows = Vec::new();
    for operation in &plan.operations {
        for engine in &plan.engines {
            let count = |k, iterations| {
                let c = som_command(&plan.som, &plan.dir, engine, operation, k, iterations);
                callgrind_instructions(&plan.valgrind, &c)
            };
            let instructions_k = count(plan.k, plan.iterations)?;
            let instructions_2k = count(2 * plan.k, plan.iterations)?;
            let setup_k = count(plan.k, 0)?;
            let setup_2k = count(2 * plan.k, 0)?;
            let row = MicroRow {
                engine: engine.clone(),
                operation: operation.clone(),
                k: plan.k,
                iterations: plan.iterations,
                instructions_k,
                instructions_2k,
                instructions_per_op: instructions_per_op(
                    (instructions_k, instructions_2k),
                    (setup_k, setup_2k),
                    plan.k,
                    plan.iterations,
                ),
                setup_k,
                setup_2k,
            };
            progress(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

pub fn write_csv(out: impl io::Write, rows: &[MicroRow]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for row in rows {
        w.serialize(row)?;
    }
    w.flush()?;
    Ok(())
}

pub fn read_csv(input: impl io::Read) -> Result<Vec<MicroRow>, String> {
    csv::Reader::from_reader(input)
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// A Markdown table: one line per operation, one column per engine (instructions per
/// operation), in the order of first appearance; `units` describes each operation.
pub fn table(rows: &[MicroRow], units: &[(String, String)]) -> String {
    let mut engines: Vec<&str> = Vec::new();
    let mut operations: Vec<&str> = Vec::new();
    for r in rows {
        if !engines.contains(&r.engine.as_str()) {
            engines.push(&r.engine);
        }
        if !operations.contains(&r.operation.as_str()) {
            operations.push(&r.operation);
        }
    }
    let mut out = String::from("| operation |");
    for e in &engines {
        let _ = write!(out, " {e} |");
    }
    out.push_str(" unit |\n|---|");
    for _ in &engines {
        out.push_str("---:|");
    }
    out.push_str("---|\n");
    for op in operations {
        let _ = write!(out, "| {op} |");
        for e in &engines {
            match rows.iter().find(|r| r.operation == op && r.engine == *e) {
                Some(r) => {
                    let _ = write!(out, " {:.2} |", r.instructions_per_op);
                }
                None => out.push_str(" – |"),
            }
        }
        let unit = units
            .iter()
            .find(|(n, _)| n == op)
            .map(|(_, u)| u.as_str())
            .unwrap_or("");
        let _ = writeln!(out, " {} |", unit.replace('|', "\\|"));
    }
    if let Some(r) = rows.first() {
        let _ = writeln!(
            out,
            "\nInstructions per operation (callgrind, exact): ((count(2k) − count(k)) − \
             (setup(2k) − setup(k))) / (k × iterations), setup = the same run with 0 \
             iterations; k = {}, iterations = {}.",
            r.k, r.iterations
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_2k_arithmetic_by_hand() {
        // Start-up 1 000 000, the loop 50 per iteration, the operation 12 per execution:
        // k = 10, 100 iterations: 1 000 000 + 100 × (50 + 10 × 12) = 1 017 000;
        // 2k = 20:                1 000 000 + 100 × (50 + 20 × 12) = 1 029 000.
        // Compiling the longer body costs 3 000 more once, measured with 0 iterations
        // (setup 1 000 000 and 1 003 000; the looped runs include it too).
        assert_eq!(
            instructions_per_op((1_017_000, 1_032_000), (1_000_000, 1_003_000), 10, 100),
            12.0
        );
        // Without a setup difference, it is the plain k/2k difference over k × iterations.
        assert_eq!(
            instructions_per_op((1_017_000, 1_029_000), (1_000_000, 1_000_000), 10, 100),
            12.0
        );
        // Not a whole number: 1 500 more over 10 × 100 executions.
        assert_eq!(
            instructions_per_op((2_000_000, 2_001_500), (7, 7), 10, 100),
            1.5
        );
    }

    #[test]
    fn csv_round_trips_with_the_documented_header() {
        let rows = vec![MicroRow {
            engine: "bc".into(),
            operation: "LocalRead".into(),
            k: 100,
            iterations: 1000,
            instructions_k: 10_000_000,
            instructions_2k: 10_500_000,
            instructions_per_op: 5.0,
            setup_k: 1_000_000,
            setup_2k: 1_000_000,
        }];
        let mut buf = Vec::new();
        write_csv(&mut buf, &rows).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.starts_with(
            "engine,operation,k,iterations,instructions_k,instructions_2k,instructions_per_op,\
             setup_k,setup_2k\n"
        ));
        assert_eq!(read_csv(&buf[..]).unwrap(), rows);
        let t = table(
            &rows,
            &[("LocalRead".into(), "read a local: `s := x`".into())],
        );
        assert!(
            t.contains("| LocalRead | 5.00 | read a local: `s := x` |"),
            "{t}"
        );
    }
}
