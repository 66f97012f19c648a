//! Every Are We Fast Yet benchmark verifies its result on every engine at its smallest
//! verifying inner value, and with the JIT compiling after one iteration — normally, with
//! guards failing deliberately, and under GC stress (correctness only: no timing is
//! asserted).

mod common;

use common::som;

const AWFY: &str = "measurements/benchmarks/awfy";
/// The configurations of `common` but the interpreter-only variants that the other tests
/// cover (the table dispatch, GC stress without the JIT): too slow for every benchmark.
fn configurations() -> impl Iterator<Item = &'static [&'static str]> {
    common::CONFIGURATIONS.iter().copied().filter(|c| {
        !c.contains(&"--dispatch") && (c.contains(&"--jit") || !c.contains(&"--gc-stress"))
    })
}

/// Benchmarks too slow for `--gc-stress` in a test build: Havlak at inner 1 collects at
/// every one of its safepoints for over five minutes (with or without the JIT); its traces
/// run under GC stress in the other programs and benchmarks.
const NOT_UNDER_GC_STRESS: &[&str] = &["Havlak"];

fn verifies(benchmark: &str, inner: u32) {
    let dir = format!("{AWFY}/{benchmark}");
    let classpath = if std::path::Path::new(&common::repo().join(&dir)).is_dir() {
        format!("{AWFY}/Core:{dir}")
    } else {
        format!("{AWFY}/Core:{AWFY}")
    };
    let harness = format!("{AWFY}/Core/Harness.som");
    let inner = inner.to_string();
    for configuration in configurations() {
        if configuration.contains(&"--gc-stress") && NOT_UNDER_GC_STRESS.contains(&benchmark) {
            continue;
        }
        let mut args = configuration.to_vec();
        args.extend(["-cp", &classpath, &harness, benchmark, "1", &inner]);
        let run = som(&args);
        let average = format!("{benchmark}: iterations=1 average: ");
        assert!(
            run.status == 0
                && run.stdout.contains(&average)
                && run.stdout.contains("Total Runtime: "),
            "{benchmark} {inner} with {configuration:?}: status {}\n{}\n{}",
            run.status,
            run.stdout,
            run.stderr
        );
    }
}

macro_rules! benchmarks {
    ($($test:ident: $name:literal $inner:literal,)*) => {$(
        #[test]
        fn $test() {
            verifies($name, $inner);
        }
    )*};
}

benchmarks! {
    bounce: "Bounce" 1,
    list: "List" 1,
    mandelbrot: "Mandelbrot" 1,
    nbody: "NBody" 1,
    permute: "Permute" 1,
    queens: "Queens" 1,
    sieve: "Sieve" 1,
    storage: "Storage" 1,
    towers: "Towers" 1,
    cd: "CD" 2,
    deltablue: "DeltaBlue" 2,
    havlak: "Havlak" 1,
    json: "Json" 1,
    richards: "Richards" 1,
}

#[test]
fn a_wrong_result_fails_the_run() {
    // Mandelbrot verifies only the inner values SOM.md lists: 2 has no expected result.
    let run = som(&[
        "-cp",
        &format!("{AWFY}/Core:{AWFY}"),
        &format!("{AWFY}/Core/Harness.som"),
        "Mandelbrot",
        "1",
        "2",
    ]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(!run.stdout.contains("Total Runtime"), "{}", run.stdout);
}
