//! What a run was measured on: the machine and the `som` build.
//!
//! Owns: collecting that description when a run starts and keeping it next to the raw CSV
//! (`<name>-meta.txt`, `key: value` lines), so that a summary derived later from the CSV
//! describes the machine that produced the data, not the machine doing the deriving.
//! Must never: fail a run because some description is unavailable — it says `unknown`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Ordered `key: value` pairs describing a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub entries: Vec<(String, String)>,
}

impl Meta {
    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        self.entries.push((key.to_string(), value.into()));
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn to_text(&self) -> String {
        self.entries
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", v.replace('\n', " ")))
            .collect()
    }

    pub fn parse(text: &str) -> Meta {
        let mut meta = Meta::default();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once(": ") {
                meta.push(k.trim(), v.trim());
            }
        }
        meta
    }

    pub fn write(&self, path: &Path) -> io::Result<()> {
        fs::write(path, self.to_text())
    }

    /// The metadata kept next to `csv`, if there is any.
    pub fn read_beside(csv: &Path) -> Option<Meta> {
        fs::read_to_string(meta_path(csv))
            .ok()
            .map(|t| Meta::parse(&t))
    }
}

/// `dir/awfy-X.csv` → `dir/awfy-X-<suffix>`.
pub fn sibling(csv: &Path, suffix: &str) -> PathBuf {
    let stem = csv
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    csv.with_file_name(format!("{stem}-{suffix}"))
}

/// Where the metadata of `csv` lives.
pub fn meta_path(csv: &Path) -> PathBuf {
    sibling(csv, "meta.txt")
}

/// Trimmed stdout of a command that succeeded, else `None`.
fn output_of(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// `uname -srm`.
pub fn os() -> String {
    output_of("uname", &["-srm"], None).unwrap_or_else(|| "unknown".into())
}

/// The CPU model (`model name` in /proc/cpuinfo).
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Logical CPUs available to this process.
pub fn cores() -> String {
    std::thread::available_parallelism()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// `git rev-parse --short HEAD` of the repository holding `dir`, with `(uncommitted changes)`
/// when tracked files differ from HEAD.
pub fn commit(dir: &Path) -> String {
    let Some(head) = output_of("git", &["rev-parse", "--short", "HEAD"], Some(dir)) else {
        return "unknown".into();
    };
    match output_of(
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
        Some(dir),
    ) {
        Some(_) => format!("{head} (uncommitted changes)"),
        None => head,
    }
}

/// `som --version`.
pub fn som_version(som: &Path) -> String {
    output_of(&som.to_string_lossy(), &["--version"], None).unwrap_or_else(|| "unknown".into())
}

/// The description of the machine and of the `som` at `som`, built from the sources in
/// `repo`.
pub fn describe(som: &Path, repo: &Path) -> Meta {
    let mut meta = Meta::default();
    meta.push("machine", os());
    meta.push("cpu", cpu_model());
    meta.push("cores", cores());
    meta.push("som", som_version(som));
    meta.push("som_path", som.display().to_string());
    // The commit describes the source tree now; the binary may be older than it.
    let built = fs::metadata(som)
        .and_then(|m| m.modified())
        .map(|t| format!("{} UTC", crate::awfy::timestamp(t)))
        .unwrap_or_else(|_| "unknown".into());
    meta.push("som_built", built);
    meta.push("commit", commit(repo));
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_sits_beside_the_csv() {
        let mut m = Meta::default();
        m.push("machine", "Linux 6.1 x86_64");
        m.push("cpu", "Some: CPU");
        let back = Meta::parse(&m.to_text());
        assert_eq!(back, m);
        assert_eq!(back.get("cpu"), Some("Some: CPU"));
        assert_eq!(
            meta_path(Path::new("/r/awfy-1.csv")),
            Path::new("/r/awfy-1-meta.txt")
        );
        assert_eq!(
            sibling(Path::new("/r/awfy-1.csv"), "summary.md"),
            Path::new("/r/awfy-1-summary.md")
        );
    }

    #[test]
    fn describing_the_machine_never_fails() {
        let m = describe(Path::new("/nonexistent/som"), Path::new("/"));
        assert_eq!(m.get("som"), Some("unknown"));
        assert!(m.get("machine").is_some());
    }
}
