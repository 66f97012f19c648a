//! The summary derived from raw rows: medians, ratios, their geometric mean, failures.
//!
//! Owns: the statistics of a run and their Markdown rendering. Works only from
//! [`Row`]s (what the CSV holds), so `awfy` at the end of a run and `summarize` on old CSVs
//! produce the same summary. Must never: give a time for a cell that had a failed process —
//! such a cell is shown as failed, has no median, and takes no part in any ratio.
//!
//! A *column* is one configuration of the runner: an engine with its extra `som` arguments.
//! A *cell* is one benchmark (at one inner count) in one column; its time is the median of all
//! iterations of all its processes. Ratios are a column's median over the first column's
//! (the baseline: the first configuration that appears in the data), so below 1 is faster
//! than the baseline; their geometric mean is over the benchmarks where both cells have a
//! time.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use crate::machine::Meta;
use crate::record::Row;

/// One configuration: an engine and the extra arguments it ran with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Column {
    pub engine: String,
    pub configuration: String,
}

impl Column {
    /// `ast`, or `ast --gc-stress` for a non-default configuration.
    pub fn label(&self) -> String {
        if self.configuration == "default" {
            self.engine.clone()
        } else {
            format!("{} {}", self.engine, self.configuration)
        }
    }
}

/// A process that produced no time.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub column: Column,
    pub benchmark: String,
    pub inner: u64,
    pub invocation: u32,
    pub exit_status: String,
}

impl Failure {
    pub fn describe(&self) -> String {
        let why = match self.exit_status.as_str() {
            "0" => "exited 0 but its output lacked the harness's lines".to_string(),
            "timeout" => "timed out (killed by the runner)".to_string(),
            s if s.starts_with("signal") => format!("killed by {s}"),
            s => format!("exit status {s}"),
        };
        format!(
            "{} on {}, inner {}, invocation {}: {why}",
            self.benchmark,
            self.column.label(),
            self.inner,
            self.invocation
        )
    }
}

/// The state of one cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Nothing ran for this benchmark in this column.
    Missing,
    /// `failed` of `processes` processes failed: no time.
    Failed { failed: usize, processes: usize },
    /// All processes succeeded.
    Median {
        /// Median iteration time in microseconds.
        micros: f64,
        iterations: usize,
        processes: usize,
    },
}

impl Cell {
    pub fn median(&self) -> Option<f64> {
        match self {
            Cell::Median { micros, .. } => Some(*micros),
            _ => None,
        }
    }
}

/// One benchmark at one inner count.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchmarkLine {
    pub benchmark: String,
    pub inner: u64,
    /// One per column, in column order.
    pub cells: Vec<Cell>,
    /// One per non-baseline column: its median over the baseline's.
    pub ratios: Vec<Option<f64>>,
}

/// The geometric mean of one non-baseline column's ratios.
#[derive(Clone, Debug, PartialEq)]
pub struct GeoMean {
    pub value: Option<f64>,
    /// How many benchmarks took part.
    pub count: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// In order of first appearance; the first is the baseline.
    pub columns: Vec<Column>,
    pub lines: Vec<BenchmarkLine>,
    /// One per non-baseline column.
    pub geomeans: Vec<GeoMean>,
    pub failures: Vec<Failure>,
    /// Distinct processes in the data.
    pub processes: usize,
}

/// The median of `values` (mean of the two middle ones for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// The geometric mean of positive `values`; `None` if empty.
pub fn geometric_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let log_sum: f64 = values.iter().map(|v| v.ln()).sum();
    Some((log_sum / values.len() as f64).exp())
}

/// What is gathered per cell while reading rows.
#[derive(Default)]
struct Gathered {
    times: Vec<f64>,
    /// (source, invocation) of every process.
    processes: BTreeSet<(usize, u32)>,
    failed: BTreeSet<(usize, u32)>,
}

/// Derives the summary of the rows of one or more CSV files (`sources`; invocation numbers
/// are per source).
pub fn summarize(sources: &[Vec<Row>]) -> Summary {
    let mut columns: Vec<Column> = Vec::new();
    let mut benchmarks: Vec<(String, u64)> = Vec::new();
    let mut cells: HashMap<(usize, usize), Gathered> = HashMap::new();
    let mut failures = Vec::new();
    let mut processes = BTreeSet::new();

    for (source, rows) in sources.iter().enumerate() {
        for row in rows {
            let column = Column {
                engine: row.engine.clone(),
                configuration: row.configuration.clone(),
            };
            let c = index_of(&mut columns, column.clone());
            let b = index_of(&mut benchmarks, (row.benchmark.clone(), row.inner));
            let cell = cells.entry((b, c)).or_default();
            let process = (source, row.invocation);
            cell.processes.insert(process);
            processes.insert((source, c, b, row.invocation));
            match row.microseconds {
                Some(us) => cell.times.push(us as f64),
                None => {
                    if cell.failed.insert(process) {
                        failures.push(Failure {
                            column,
                            benchmark: row.benchmark.clone(),
                            inner: row.inner,
                            invocation: row.invocation,
                            exit_status: row.exit_status.clone(),
                        });
                    }
                }
            }
        }
    }

    let lines: Vec<BenchmarkLine> = benchmarks
        .iter()
        .enumerate()
        .map(|(b, (benchmark, inner))| {
            let cells: Vec<Cell> = (0..columns.len())
                .map(|c| match cells.get(&(b, c)) {
                    None => Cell::Missing,
                    Some(g) if !g.failed.is_empty() => Cell::Failed {
                        failed: g.failed.len(),
                        processes: g.processes.len(),
                    },
                    Some(g) => Cell::Median {
                        micros: median(&g.times).expect("a successful process has times"),
                        iterations: g.times.len(),
                        processes: g.processes.len(),
                    },
                })
                .collect();
            let ratios = cells
                .iter()
                .skip(1)
                .map(|cell| Some(cell.median()? / cells[0].median()?))
                .collect();
            BenchmarkLine {
                benchmark: benchmark.clone(),
                inner: *inner,
                cells,
                ratios,
            }
        })
        .collect();

    let geomeans = (0..columns.len().saturating_sub(1))
        .map(|j| {
            let ratios: Vec<f64> = lines.iter().filter_map(|l| l.ratios[j]).collect();
            GeoMean {
                value: geometric_mean(&ratios),
                count: ratios.len(),
            }
        })
        .collect();

    Summary {
        columns,
        lines,
        geomeans,
        failures,
        processes: processes.len(),
    }
}

/// The index of `item` in `list`, appending it if new.
fn index_of<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

/// `1 process`, `3 processes`, `2 iterations`.
fn plural(n: usize, noun: &str) -> String {
    match (n, noun.ends_with('s')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
}

/// Milliseconds with a precision that suits the magnitude.
fn format_ms(micros: f64) -> String {
    let ms = micros / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.1}")
    } else if ms >= 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

/// A CSV the summary was derived from.
pub struct Source {
    pub name: String,
    pub meta: Option<Meta>,
}

/// The summary as Markdown: provenance, the table, the geometric means, the failures.
pub fn render_markdown(summary: &Summary, sources: &[Source]) -> String {
    let mut out = String::new();
    out.push_str("# Are We Fast Yet: summary\n\n");
    let names: Vec<String> = sources.iter().map(|s| format!("`{}`", s.name)).collect();
    let _ = writeln!(
        out,
        "Derived from {} (the raw data; re-derive with `measurements summarize`).\n",
        names.join(", ")
    );
    let metas: Vec<&Option<Meta>> = sources.iter().map(|s| &s.meta).collect();
    let same_meta = metas.windows(2).all(|w| w[0] == w[1]);
    for (i, source) in sources.iter().enumerate() {
        if same_meta && i > 0 {
            break;
        }
        if !same_meta {
            let _ = writeln!(out, "`{}`:", source.name);
        }
        match &source.meta {
            Some(meta) => {
                let get = |k| meta.get(k).unwrap_or("unknown");
                let _ = writeln!(
                    out,
                    "- machine: {}; CPU: {}; {} cores",
                    get("machine"),
                    get("cpu"),
                    get("cores")
                );
                let _ = writeln!(
                    out,
                    "- som: {} (binary built {}), source tree at commit {}",
                    get("som"),
                    get("som_built"),
                    get("commit")
                );
                if let Some(started) = meta.get("started") {
                    let _ = writeln!(out, "- started: {started}");
                }
                if let Some(command) = meta.get("command") {
                    let _ = writeln!(out, "- command: `{command}`");
                }
            }
            None => out.push_str("- machine and som build: not recorded (no -meta.txt)\n"),
        }
    }
    out.push('\n');

    if summary.columns.is_empty() {
        out.push_str("No data.\n");
        return out;
    }

    // Table header.
    let baseline = summary.columns[0].label();
    out.push_str("| Benchmark | inner |");
    for column in &summary.columns {
        let _ = write!(out, " {} (ms) |", column.label());
    }
    for column in &summary.columns[1..] {
        let _ = write!(out, " {} / {baseline} |", column.label());
    }
    out.push_str("\n|:--|--:|");
    for _ in 0..summary.columns.len() * 2 - 1 {
        out.push_str("--:|");
    }
    out.push('\n');

    for line in &summary.lines {
        let _ = write!(out, "| {} | {} |", line.benchmark, line.inner);
        for cell in &line.cells {
            let text = match cell {
                Cell::Missing => "—".to_string(),
                Cell::Failed { failed, processes } => {
                    format!("FAILED ({failed} of {processes})")
                }
                Cell::Median { micros, .. } => format_ms(*micros),
            };
            let _ = write!(out, " {text} |");
        }
        for ratio in &line.ratios {
            match ratio {
                Some(r) => {
                    let _ = write!(out, " {r:.3} |");
                }
                None => out.push_str(" — |"),
            }
        }
        out.push('\n');
    }
    if !summary.geomeans.is_empty() {
        out.push_str("| **geometric mean** | |");
        for _ in &summary.columns {
            out.push_str(" |");
        }
        for g in &summary.geomeans {
            match g.value {
                Some(v) => {
                    let _ = write!(out, " **{v:.3}** ({} benchmarks) |", g.count);
                }
                None => out.push_str(" — |"),
            }
        }
        out.push('\n');
    }

    let samples: BTreeSet<(usize, usize)> = summary
        .lines
        .iter()
        .flat_map(|l| &l.cells)
        .filter_map(|c| match c {
            Cell::Median {
                iterations,
                processes,
                ..
            } => Some((*processes, *iterations)),
            _ => None,
        })
        .collect();
    let samples = match samples.iter().collect::<Vec<_>>().as_slice() {
        [(p, i)] => format!(
            "{} from {} per cell",
            plural(*i, "iteration"),
            plural(*p, "process")
        ),
        [] => "no successful cell".to_string(),
        _ => "the number of iterations differs between cells (see the CSV)".to_string(),
    };
    let _ = writeln!(
        out,
        "\nEach time is the median iteration time ({samples}); a ratio is the median over \
         the {baseline} median (below 1: faster than {baseline}). A cell with a failed \
         process has no time and no ratio."
    );

    let _ = writeln!(
        out,
        "\n{}, {} failed.",
        plural(summary.processes, "process"),
        summary.failures.len()
    );
    if !summary.failures.is_empty() {
        out.push_str("\n## Failures\n\n");
        for failure in &summary.failures {
            let _ = writeln!(out, "- {}", failure.describe());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(engine: &str, bench: &str, invocation: u32, iteration: u32, us: u64) -> Row {
        Row {
            engine: engine.into(),
            configuration: "default".into(),
            benchmark: bench.into(),
            inner: 10,
            invocation,
            iteration: Some(iteration),
            microseconds: Some(us),
            process_wall_ms: Some(1.0),
            peak_rss_kb: Some(1000),
            exit_status: "0".into(),
        }
    }

    fn failed(engine: &str, bench: &str, invocation: u32, status: &str) -> Row {
        Row {
            iteration: None,
            microseconds: None,
            exit_status: status.into(),
            ..row(engine, bench, invocation, 1, 0)
        }
    }

    #[test]
    fn median_and_geometric_mean_by_hand() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[300.0, 100.0, 200.0]), Some(200.0));
        assert_eq!(median(&[80.0, 50.0, 70.0, 60.0]), Some(65.0));
        // sqrt(0.5 * 8) = 2
        assert!((geometric_mean(&[0.5, 8.0]).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(geometric_mean(&[]), None);
    }

    /// Sieve: ast 100, 300, 200 µs (3 processes) → median 200; bc 50, 70 | 60, 80
    /// (2 processes × 2 iterations) → median (60 + 70) / 2 = 65; ratio 65 / 200 = 0.325.
    /// Towers: ast 400, 1000 → median 700; bc 1400 → ratio 2.0.
    /// Json: bc failed in one of its processes → no time, no ratio.
    /// Geometric mean: sqrt(0.325 × 2.0) = sqrt(0.65) = 0.806225774829855.
    fn example() -> Vec<Row> {
        vec![
            row("ast", "Sieve", 1, 1, 100),
            row("bc", "Sieve", 1, 1, 50),
            row("bc", "Sieve", 1, 2, 70),
            row("ast", "Towers", 1, 1, 400),
            row("bc", "Towers", 1, 1, 1400),
            row("ast", "Json", 1, 1, 5000),
            row("bc", "Json", 1, 1, 2500),
            row("ast", "Sieve", 2, 1, 300),
            row("bc", "Sieve", 2, 1, 60),
            row("bc", "Sieve", 2, 2, 80),
            row("ast", "Towers", 2, 1, 1000),
            row("ast", "Json", 2, 1, 5000),
            failed("bc", "Json", 2, "1"),
            row("ast", "Sieve", 3, 1, 200),
        ]
    }

    #[test]
    fn summary_of_a_hand_computed_example() {
        let s = summarize(&[example()]);
        assert_eq!(
            s.columns.iter().map(Column::label).collect::<Vec<_>>(),
            ["ast", "bc"]
        );
        let names: Vec<_> = s.lines.iter().map(|l| l.benchmark.as_str()).collect();
        assert_eq!(names, ["Sieve", "Towers", "Json"]);

        let sieve = &s.lines[0];
        assert_eq!(
            sieve.cells[0],
            Cell::Median {
                micros: 200.0,
                iterations: 3,
                processes: 3
            }
        );
        assert_eq!(
            sieve.cells[1],
            Cell::Median {
                micros: 65.0,
                iterations: 4,
                processes: 2
            }
        );
        assert!((sieve.ratios[0].unwrap() - 0.325).abs() < 1e-12);

        let towers = &s.lines[1];
        assert_eq!(towers.cells[0].median(), Some(700.0));
        assert_eq!(towers.ratios, vec![Some(2.0)]);

        let json = &s.lines[2];
        assert_eq!(json.cells[0].median(), Some(5000.0));
        assert_eq!(
            json.cells[1],
            Cell::Failed {
                failed: 1,
                processes: 2
            }
        );
        assert_eq!(json.ratios, vec![None]);

        assert_eq!(s.geomeans.len(), 1);
        assert_eq!(s.geomeans[0].count, 2);
        assert!((s.geomeans[0].value.unwrap() - 0.806225774829855).abs() < 1e-12);
        assert_eq!(s.processes, 3 + 2 + 2 + 1 + 2 + 2);
        assert_eq!(s.failures.len(), 1);
        assert_eq!(
            s.failures[0].describe(),
            "Json on bc, inner 10, invocation 2: exit status 1"
        );
    }

    #[test]
    fn markdown_shows_failures_never_as_times() {
        let s = summarize(&[example()]);
        let md = render_markdown(
            &s,
            &[Source {
                name: "x.csv".into(),
                meta: None,
            }],
        );
        assert!(
            md.contains("| Benchmark | inner | ast (ms) | bc (ms) | bc / ast |"),
            "{md}"
        );
        assert!(
            md.contains("| Sieve | 10 | 0.200 | 0.065 | 0.325 |"),
            "{md}"
        );
        assert!(
            md.contains("| Towers | 10 | 0.700 | 1.400 | 2.000 |"),
            "{md}"
        );
        assert!(
            md.contains("| Json | 10 | 5.000 | FAILED (1 of 2) | — |"),
            "{md}"
        );
        assert!(md.contains("**0.806** (2 benchmarks)"), "{md}");
        assert!(md.contains("## Failures"), "{md}");
        assert!(md.contains("not recorded"), "{md}");
    }

    #[test]
    fn invocations_of_different_sources_are_different_processes() {
        let a = vec![row("ast", "Sieve", 1, 1, 100)];
        let b = vec![row("ast", "Sieve", 1, 1, 300)];
        let s = summarize(&[a, b]);
        assert_eq!(
            s.lines[0].cells[0],
            Cell::Median {
                micros: 200.0,
                iterations: 2,
                processes: 2
            }
        );
        assert!(s.geomeans.is_empty());
    }

    #[test]
    fn timeouts_and_bad_output_are_described() {
        let s = summarize(&[vec![
            failed("ast", "Sieve", 1, "timeout"),
            failed("ast", "Sieve", 2, "0"),
            failed("ast", "Sieve", 3, "signal 11"),
        ]]);
        assert_eq!(
            s.lines[0].cells[0],
            Cell::Failed {
                failed: 3,
                processes: 3
            }
        );
        let text: Vec<_> = s.failures.iter().map(Failure::describe).collect();
        assert!(text[0].ends_with("timed out (killed by the runner)"));
        assert!(text[1].ends_with("exited 0 but its output lacked the harness's lines"));
        assert!(text[2].ends_with("killed by signal 11"));
    }
}
