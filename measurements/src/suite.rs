//! The Are We Fast Yet suite as the runner sees it: the 14 benchmarks, their inner-iteration
//! counts, and where each benchmark's classes live.
//!
//! Owns: the table of benchmark names and inner values (SOM.md, "Are We Fast Yet"), and
//! the classpath of one benchmark. Must never: run anything.

use std::path::{Path, PathBuf};

/// One benchmark of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Benchmark {
    /// The class name the harness loads (`Harness.som <name> …`).
    pub name: &'static str,
    /// Inner iterations for interpreter runs (SOM.md: "Inner iterations for interpreter runs
    /// in this field").
    pub interpreter_inner: u64,
    /// The smallest inner count whose result the benchmark verifies: the `--quick` value.
    /// Benchmarks whose result does not depend on `inner` verify every run, so 1; Mandelbrot,
    /// NBody, CD and Havlak verify only the counts they have a known result for.
    pub quick_inner: u64,
}

const fn bench(name: &'static str, interpreter_inner: u64, quick_inner: u64) -> Benchmark {
    Benchmark {
        name,
        interpreter_inner,
        quick_inner,
    }
}

/// All 14 benchmarks, micro then macro, in the order the runner runs them by default.
pub const BENCHMARKS: [Benchmark; 14] = [
    bench("Bounce", 1500, 1),
    bench("List", 1500, 1),
    bench("Mandelbrot", 500, 1),
    bench("NBody", 250_000, 1),
    bench("Permute", 1000, 1),
    bench("Queens", 1000, 1),
    bench("Sieve", 3000, 1),
    bench("Storage", 1000, 1),
    bench("Towers", 600, 1),
    bench("CD", 250, 2),
    bench("DeltaBlue", 12_000, 1),
    bench("Havlak", 1500, 1),
    bench("Json", 100, 1),
    bench("Richards", 100, 1),
];

/// The engine configurations the runners measure (the `engine` column): each interpreter
/// alone, and each with the tracing JIT.
pub const ENGINES: [&str; 4] = ["ast", "bc", "ast+jit", "bc+jit"];

/// The `som` arguments that select `engine` (one of `ENGINES`): `ast` and `bc` are the
/// interpreters alone (`--no-jit`; the JIT is on by default), `ast+jit` and `bc+jit` the same
/// engines with the JIT.
pub fn engine_args(engine: &str) -> Option<[&'static str; 3]> {
    Some(match engine {
        "ast" => ["--engine", "ast", "--no-jit"],
        "bc" => ["--engine", "bc", "--no-jit"],
        "ast+jit" => ["--engine", "ast", "--jit"],
        "bc+jit" => ["--engine", "bc", "--jit"],
        _ => return None,
    })
}

/// An unknown engine configuration, named with the known ones.
pub fn check_engine(engine: &str) -> Result<(), String> {
    match engine_args(engine) {
        Some(_) => Ok(()),
        None => Err(format!(
            "unknown engine `{engine}` (known: {})",
            ENGINES.join(", ")
        )),
    }
}

/// The benchmark called `name` (exact, case-sensitive: it is a SOM class name).
pub fn find(name: &str) -> Option<Benchmark> {
    BENCHMARKS.iter().copied().find(|b| b.name == name)
}

/// The classpath for running `name` from the suite directory `awfy`: `Core` (harness and
/// collection library), then the benchmark's own directory when it has one (multi-class
/// benchmarks, `awfy/Richards/`), else `awfy` itself (single-class benchmarks live there
/// directly, `awfy/Sieve.som`).
pub fn classpath(awfy: &Path, name: &str) -> Vec<PathBuf> {
    let own = awfy.join(name);
    let benchmark_dir = if own.is_dir() {
        own
    } else {
        awfy.to_path_buf()
    };
    vec![awfy.join("Core"), benchmark_dir]
}

/// The harness program file.
pub fn harness(awfy: &Path) -> PathBuf {
    awfy.join("Core").join("Harness.som")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_unique() {
        let mut names: Vec<_> = BENCHMARKS.iter().map(|b| b.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 14);
        assert_eq!(find("Richards").unwrap().interpreter_inner, 100);
        assert_eq!(find("CD").unwrap().quick_inner, 2);
        assert!(find("richards").is_none());
    }

    #[test]
    fn every_benchmark_has_its_class_on_its_classpath() {
        let awfy = Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/awfy");
        for b in BENCHMARKS {
            let cp = classpath(&awfy, b.name);
            assert!(
                cp.iter()
                    .any(|d| d.join(format!("{}.som", b.name)).is_file()),
                "{} not found on {cp:?}",
                b.name
            );
        }
        assert!(harness(&awfy).is_file());
    }
}
