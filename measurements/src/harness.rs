//! Reading the AWFY harness's output.
//!
//! Owns: turning the stdout of one `Harness.som <Name> <iterations> <inner>` process into the
//! per-iteration times, and deciding whether that output is complete. Must never: accept
//! output that lacks any expected line — a partial run yields no times at all.
//!
//! The harness prints, per outer iteration, `<Name>: iterations=1 runtime: <µs>us`, then
//! `<Name>: iterations=<n> average: <µs>us total: <µs>us` and `Total Runtime: <µs>us`.
//! Other lines (a benchmark may print) are ignored.

use std::fmt;

/// Why an output does not count as a complete run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputError {
    /// Fewer or more `runtime:` lines than outer iterations.
    IterationCount { expected: u32, found: usize },
    /// No `<Name>: iterations=<n> average: … total: …` line.
    MissingAverage,
    /// No `Total Runtime: …` line.
    MissingTotal,
    /// A line of the harness's own format that does not parse, or disagrees with the others.
    Inconsistent(String),
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::IterationCount { expected, found } => {
                write!(f, "expected {expected} `runtime:` line(s), found {found}")
            }
            OutputError::MissingAverage => write!(f, "no `iterations=… average:` line"),
            OutputError::MissingTotal => write!(f, "no `Total Runtime:` line"),
            OutputError::Inconsistent(why) => write!(f, "inconsistent harness output: {why}"),
        }
    }
}

/// `"<digits>us"` → the number.
fn micros(text: &str) -> Option<u64> {
    let digits = text.strip_suffix("us")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The per-iteration times (µs, in order) of a complete run of benchmark `name` with
/// `iterations` outer iterations, or why the output is not a complete run. Complete means:
/// exactly `iterations` runtime lines, the summary line with `iterations=<iterations>` and a
/// total equal to the sum of the runtimes, and the `Total Runtime:` line with the same total.
pub fn parse(name: &str, iterations: u32, stdout: &str) -> Result<Vec<u64>, OutputError> {
    let prefix = format!("{name}: iterations=");
    let mut times = Vec::new();
    let mut summary_total = None;
    let mut total_runtime = None;
    for line in stdout.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix(&prefix) {
            let words: Vec<&str> = rest.split(' ').collect();
            match words.as_slice() {
                ["1", "runtime:", t] => {
                    let t = micros(t).ok_or_else(|| {
                        OutputError::Inconsistent(format!("unreadable runtime in `{line}`"))
                    })?;
                    times.push(t);
                }
                [n, "average:", _avg, "total:", t] => {
                    if summary_total.is_some() {
                        return Err(OutputError::Inconsistent("two average lines".into()));
                    }
                    if n.parse::<u32>().ok() != Some(iterations) {
                        return Err(OutputError::Inconsistent(format!(
                            "`{line}` does not report {iterations} iteration(s)"
                        )));
                    }
                    summary_total = Some(micros(t).ok_or_else(|| {
                        OutputError::Inconsistent(format!("unreadable total in `{line}`"))
                    })?);
                }
                _ => {
                    return Err(OutputError::Inconsistent(format!(
                        "unrecognized harness line `{line}`"
                    )))
                }
            }
        } else if let Some(t) = line.strip_prefix("Total Runtime: ") {
            if total_runtime.is_some() {
                return Err(OutputError::Inconsistent(
                    "two `Total Runtime:` lines".into(),
                ));
            }
            total_runtime = Some(micros(t).ok_or_else(|| {
                OutputError::Inconsistent(format!("unreadable total in `{line}`"))
            })?);
        }
    }
    if times.len() != iterations as usize {
        return Err(OutputError::IterationCount {
            expected: iterations,
            found: times.len(),
        });
    }
    let summary_total = summary_total.ok_or(OutputError::MissingAverage)?;
    let total_runtime = total_runtime.ok_or(OutputError::MissingTotal)?;
    let sum: u64 = times.iter().sum();
    if summary_total != sum || total_runtime != sum {
        return Err(OutputError::Inconsistent(format!(
            "runtimes sum to {sum}us, but the harness reports totals {summary_total}us and \
             {total_runtime}us"
        )));
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "Sieve: iterations=1 runtime: 9864us\n\
                       Sieve: iterations=1 runtime: 1621us\n\
                       Sieve: iterations=2 average: 5742us total: 11485us\n\
                       \n\
                       Total Runtime: 11485us\n";

    #[test]
    fn complete_output_gives_one_time_per_iteration() {
        assert_eq!(parse("Sieve", 2, TWO), Ok(vec![9864, 1621]));
    }

    #[test]
    fn lines_printed_by_the_benchmark_are_ignored() {
        let out = format!("some output\nSieve: hello\n{TWO}");
        // `Sieve: hello` does not start with `Sieve: iterations=`, so it is not ours.
        assert_eq!(parse("Sieve", 2, &out), Ok(vec![9864, 1621]));
    }

    #[test]
    fn missing_iteration_line_gives_no_time() {
        let out = TWO.replacen("Sieve: iterations=1 runtime: 1621us\n", "", 1);
        assert_eq!(
            parse("Sieve", 2, &out),
            Err(OutputError::IterationCount {
                expected: 2,
                found: 1
            })
        );
    }

    #[test]
    fn crash_after_some_iterations_gives_no_time() {
        let out = "Sieve: iterations=1 runtime: 9864us\n\nERROR: Benchmark failed\n";
        assert!(parse("Sieve", 2, out).is_err());
        // Even when the one line present would be all the iterations asked for.
        assert_eq!(parse("Sieve", 1, out), Err(OutputError::MissingAverage));
    }

    #[test]
    fn empty_or_garbled_output_gives_no_time() {
        assert!(parse("Sieve", 1, "").is_err());
        assert!(parse("Sieve", 1, "\u{fffd}\u{fffd}garbage\n").is_err());
        let garbled = "Sieve: iterations=1 runtime: 98x4us\n\
                       Sieve: iterations=1 average: 9864us total: 9864us\n\
                       Total Runtime: 9864us\n";
        assert!(matches!(
            parse("Sieve", 1, garbled),
            Err(OutputError::Inconsistent(_))
        ));
    }

    #[test]
    fn totals_must_agree_with_the_iterations() {
        let out = TWO.replace("Total Runtime: 11485us", "Total Runtime: 11484us");
        assert!(matches!(
            parse("Sieve", 2, &out),
            Err(OutputError::Inconsistent(_))
        ));
        let out = TWO.replace("iterations=2 average", "iterations=3 average");
        assert!(parse("Sieve", 2, &out).is_err());
    }

    #[test]
    fn another_benchmarks_lines_do_not_count() {
        assert!(parse("Towers", 2, TWO).is_err());
    }
}
