//! The raw data: one CSV row per measured iteration.
//!
//! Owns: the row type, its columns, writing rows incrementally (flushed after every process,
//! so an interrupted run keeps what it measured) and reading them back. Must never: compute
//! anything from the rows — that is [`crate::summary`].
//!
//! A process that did not complete (non-zero exit, signal, timeout, or output lacking the
//! harness's lines) is one row with its `exit_status` and empty `iteration` and
//! `microseconds`: a failed run never has a time.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The CSV header, in order.
pub const COLUMNS: [&str; 10] = [
    "engine",
    "configuration",
    "benchmark",
    "inner",
    "invocation",
    "iteration",
    "microseconds",
    "process_wall_ms",
    "peak_rss_kb",
    "exit_status",
];

/// One row. Field order and names are the CSV's columns ([`COLUMNS`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `som --engine` value.
    pub engine: String,
    /// The extra `som` arguments joined by spaces, or `default`.
    pub configuration: String,
    pub benchmark: String,
    /// Inner iterations (the harness's third argument).
    pub inner: u64,
    /// Which process of this (engine, configuration, benchmark): 1, 2, …
    pub invocation: u32,
    /// Outer iteration within the process, 1-based; empty for a failed process.
    pub iteration: Option<u32>,
    /// The harness's time for this iteration; empty for a failed process.
    pub microseconds: Option<u64>,
    /// Wall time of the whole process (startup, all iterations, exit), same on every row of
    /// one process.
    pub process_wall_ms: Option<f64>,
    /// Peak resident set size of the process (`ru_maxrss`).
    pub peak_rss_kb: Option<u64>,
    /// `0`, another exit code, `signal N`, or `timeout`.
    pub exit_status: String,
}

impl Row {
    /// A row that carries a time.
    pub fn is_measurement(&self) -> bool {
        self.microseconds.is_some()
    }
}

/// Appends rows to a CSV file, header first, flushing after each process.
pub struct CsvSink {
    writer: csv::Writer<File>,
}

impl CsvSink {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path) -> io::Result<CsvSink> {
        let file = File::create(path)?;
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        writer.write_record(COLUMNS).map_err(io::Error::from)?;
        writer.flush()?;
        Ok(CsvSink { writer })
    }

    /// Writes the rows of one process and flushes them to the file.
    pub fn write_process(&mut self, rows: &[Row]) -> io::Result<()> {
        for row in rows {
            self.writer.serialize(row).map_err(io::Error::from)?;
        }
        self.writer.flush()?;
        self.writer.get_ref().sync_data()
    }
}

/// Writes `rows` as a complete CSV document to `out` (header and rows).
pub fn write_all(out: impl Write, rows: &[Row]) -> csv::Result<()> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    writer.write_record(COLUMNS)?;
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    Ok(())
}

/// Reads the rows of a CSV written by [`CsvSink`]; the header must be exactly [`COLUMNS`].
pub fn read(path: &Path) -> Result<Vec<Row>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read_from(file).map_err(|e| format!("{}: {e}", path.display()))
}

/// [`read`] from any reader.
pub fn read_from(input: impl io::Read) -> Result<Vec<Row>, String> {
    let mut reader = csv::Reader::from_reader(input);
    let header = reader.headers().map_err(|e| e.to_string())?;
    if !header.iter().eq(COLUMNS.iter().copied()) {
        return Err(format!(
            "unexpected header `{}` (expected `{}`)",
            header.iter().collect::<Vec<_>>().join(","),
            COLUMNS.join(",")
        ));
    }
    reader
        .deserialize()
        .map(|row| row.map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured() -> Row {
        Row {
            engine: "ast".into(),
            configuration: "default".into(),
            benchmark: "Sieve".into(),
            inner: 3000,
            invocation: 2,
            iteration: Some(1),
            microseconds: Some(123_456),
            process_wall_ms: Some(130.5),
            peak_rss_kb: Some(10_240),
            exit_status: "0".into(),
        }
    }

    fn failed() -> Row {
        Row {
            engine: "bc".into(),
            configuration: "--gc-stress".into(),
            benchmark: "Json".into(),
            inner: 100,
            invocation: 1,
            iteration: None,
            microseconds: None,
            process_wall_ms: Some(12.25),
            peak_rss_kb: Some(8000),
            exit_status: "1".into(),
        }
    }

    #[test]
    fn header_and_rows_are_written_exactly() {
        let mut out = Vec::new();
        write_all(&mut out, &[measured(), failed()]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "engine,configuration,benchmark,inner,invocation,iteration,microseconds,\
             process_wall_ms,peak_rss_kb,exit_status\n\
             ast,default,Sieve,3000,2,1,123456,130.5,10240,0\n\
             bc,--gc-stress,Json,100,1,,,12.25,8000,1\n"
        );
    }

    #[test]
    fn sink_writes_header_at_once_and_rows_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut sink = CsvSink::create(&path).unwrap();
        assert_eq!(read(&path).unwrap(), vec![]);
        sink.write_process(&[measured()]).unwrap();
        // Flushed: readable while the sink is still open.
        assert_eq!(read(&path).unwrap(), vec![measured()]);
        sink.write_process(&[failed()]).unwrap();
        let rows = read(&path).unwrap();
        assert_eq!(rows, vec![measured(), failed()]);
        assert!(rows[0].is_measurement());
        assert!(!rows[1].is_measurement());
    }

    #[test]
    fn wrong_header_is_refused() {
        let err = read_from("engine,benchmark\nast,Sieve\n".as_bytes()).unwrap_err();
        assert!(err.contains("unexpected header"), "{err}");
    }
}
