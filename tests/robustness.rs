//! Robustness: no input makes `som` panic, abort, overflow its stack or hang (SOM.md, "Errors
//! (decision)"). A deterministic mutation fuzzer — small random edits of real SOM sources,
//! from a fixed seed — feeds the parser directly, then runs `som` on a sample of mutated
//! programs, test classes and core-library classes in every engine and GC configuration.
//! Then, by hand: the command-line edge cases that `error_messages.rs` does not cover, and
//! core classes on the classpath arranged so as to mislead the runtime.
//!
//! A failure names the mutant and leaves it under `target/tmp/robustness*/` to reproduce.
//! `SOM_FUZZ_MUTANTS=3000 SOM_FUZZ_SEED=7 cargo test --test robustness som_survives` explores
//! further (other seeds, more mutants; timeouts are then reported, not counted).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo, CONFIGURATIONS};

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What the insertion mutation inserts: SOM's punctuation, pieces of tokens, tokens of other
/// languages, odd literals and names.
#[rustfmt::skip]
const TOKENS: &[&str] = &[
    "[", "]", "(", ")", "^", ":=", ".", "|", "#", "'", "\"", "-", "----", ":", ";", "#(",
    "[:x |", "[:a :b :c |", "x", "self", "super", "nil", "true", "primitive", "thisContext",
    "0", "-1", "3.5", "100000000000000000000", "4611686018427387903", "-4611686018427387904",
    "9223372036854775808", "1e5", "16r1F", "$a", "{", "}", "value",
    "value:", "foo:", "at:put:", "+", "<=", "==", " ", "\n", "\t", "€", "\\", "'\\q'", "#foo",
    "#at:put:", "=", "Object", "Zork", "ifTrue:", "whileTrue:", "to:do:",
    "doesNotUnderstand:arguments:", "system exit: 0", "!",
];

/// Names the word-replacing mutation uses besides the file's own: every core class (a
/// superclass or a global changes), and selectors of primitives.
#[rustfmt::skip]
const NAMES: &[&str] = &[
    "Object", "Class", "Metaclass", "Nil", "Boolean", "True", "False", "Integer", "Double",
    "String", "Symbol", "Array", "Block", "Block1", "Block2", "Block3", "Method", "Primitive",
    "System", "Vector", "Dictionary", "Set", "Pair", "Hashtable", "nil", "self", "super",
    "system", "value", "length", "asString", "asSymbol", "signature", "new", "name",
    "superclass", "fields", "methods", "hashcode", "sqrt", "printNewline", "fullGC",
];

/// The identifier-like words of `t` (byte ranges).
fn words(t: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        if t[i].is_ascii_alphabetic() && (i == 0 || !t[i - 1].is_ascii_alphanumeric()) {
            let end = i + t[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            out.push((i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// One to three edits: delete, duplicate or move a byte range, insert a token, or replace
/// a word by another word of the file or a core name.
fn mutate(rng: &mut Rng, source: &[u8]) -> Vec<u8> {
    let mut t = source.to_vec();
    for _ in 0..1 + rng.below(3) {
        let a = rng.below(t.len() + 1);
        let b = (a + 1 + rng.below(16)).min(t.len());
        match rng.below(6) {
            0 => {
                t.drain(a..b);
            }
            1 => {
                let piece = t[a..b].to_vec();
                let at = rng.below(t.len() + 1);
                t.splice(at..at, piece);
            }
            2 => {
                let piece: Vec<u8> = t.drain(a..b).collect();
                let at = rng.below(t.len() + 1);
                t.splice(at..at, piece);
            }
            3 | 4 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                t.splice(a..a, token.iter().copied());
            }
            _ => {
                let ws = words(&t);
                if ws.is_empty() {
                    continue;
                }
                let (start, end) = ws[rng.below(ws.len())];
                let by: Vec<u8> = if rng.below(2) == 0 {
                    NAMES[rng.below(NAMES.len())].as_bytes().to_vec()
                } else {
                    let (s, e) = ws[rng.below(ws.len())];
                    t[s..e].to_vec()
                };
                t.splice(start..end, by);
            }
        }
    }
    t
}

fn som_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "som"))
        .collect();
    v.sort();
    v
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Parses `text`: `Ok(true)` for a tree, `Ok(false)` for a well-formed `SyntaxError` (a
/// message, a span inside the text on character boundaries, a rendering that names the
/// position), `Err` for anything else.
fn check_parse(text: &str) -> Result<bool, String> {
    let Err(e) = lang::syntax::parse_class(text) else {
        return Ok(true);
    };
    let (start, end) = (e.span.start as usize, e.span.end as usize);
    if start > end
        || end > text.len()
        || !text.is_char_boundary(start)
        || !text.is_char_boundary(end)
    {
        return Err(format!(
            "span {start}..{end} is not a range of characters of the {}-byte text: {}",
            text.len(),
            e.message
        ));
    }
    if e.message.is_empty() {
        return Err("a syntax error without a message".into());
    }
    let (line, column) = e.line_col(text);
    let rendered = e.render("M.som", text);
    if !rendered.contains(&format!("M.som:{line}:{column}")) {
        return Err(format!("the rendering lacks the position:\n{rendered}"));
    }
    Ok(false)
}

/// Mutants of every class file the repository has: the parser answers a tree or a
/// `SyntaxError` whose span lies inside the text (and renders), and never panics.
#[test]
fn parser_survives_mutated_sources() {
    const MUTANTS_PER_FILE: usize = 300;
    let keep = scratch("robustness-parser");
    // A big stack, so that the test measures the parser's own limits, not the test thread's.
    let outcome = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut files = som_files("lang/core-lib");
            files.extend(som_files("tests/som"));
            files.extend(som_files("tests/programs"));
            files.extend(som_files("examples"));
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let (mut parsed, mut rejected) = (0, 0);
            let mut problems = Vec::new();
            for file in &files {
                let original = std::fs::read(file).unwrap();
                for i in 0..MUTANTS_PER_FILE {
                    let text = String::from_utf8_lossy(&mutate(&mut rng, &original)).into_owned();
                    let problem = match std::panic::catch_unwind(|| check_parse(&text)) {
                        Ok(Ok(true)) => {
                            parsed += 1;
                            continue;
                        }
                        Ok(Ok(false)) => {
                            rejected += 1;
                            continue;
                        }
                        Ok(Err(problem)) => problem,
                        Err(_) => "the parser panicked".to_string(),
                    };
                    let stem = file.file_stem().unwrap().to_string_lossy();
                    let path = keep.join(format!("{stem}-{i}.som"));
                    std::fs::write(&path, &text).unwrap();
                    problems.push(format!("{}: {problem}", path.display()));
                }
            }
            (parsed, rejected, problems)
        })
        .unwrap()
        .join();
    let (parsed, rejected, problems) = outcome.expect("the fuzzing thread itself failed");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The mutations must exercise both outcomes, or the test proves little.
    assert!(
        parsed > 1000 && rejected > 1000,
        "{parsed} parsed, {rejected} rejected"
    );
}

/// The result of one `som` run; output beyond a cap is read and dropped (a looping program
/// may print without end).
struct Outcome {
    /// `None`: killed by a signal (or by us, on a timeout).
    status: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

const TIMEOUT: Duration = Duration::from_secs(10);
const OUTPUT_CAP: usize = 1 << 16;

fn drain(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let (mut kept, mut buf) = (Vec::new(), [0u8; 8192]);
        while let Ok(n @ 1..) = from.read(&mut buf) {
            let room = OUTPUT_CAP.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

fn run_som(args: &[String]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_som"))
        .args(args)
        .current_dir(repo())
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the som binary runs");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        status: status.code(),
        timed_out,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Exit statuses a run may legitimately end with: 0, 1, and `n` (mod 256) for every
/// `exit: n` written in the sources involved.
fn allowed_statuses(sources: &[String]) -> Vec<i32> {
    let mut allowed = vec![0, 1];
    for s in sources {
        for (at, _) in s.match_indices("exit:") {
            let rest = s[at + 5..].trim_start();
            let (sign, rest) = match rest.strip_prefix('-') {
                Some(r) => (-1, r),
                None => (1, rest),
            };
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<i64>() {
                allowed.push((sign * n).rem_euclid(256) as i32);
            }
        }
    }
    allowed
}

/// A mutated program, ready to run.
struct Mutant {
    label: String,
    args: Vec<String>,
    /// The texts of the files it runs, for `allowed_statuses`.
    sources: Vec<String>,
}

/// The test classes `TestRunner` runs.
const SUITE_CLASSES: &[&str] = &[
    "FrameworkTest",
    "IntegerTest",
    "DoubleTest",
    "StringTest",
    "SymbolTest",
    "ArrayTest",
    "BlockTest",
    "NonLocalReturnTest",
    "SuperTest",
    "ClassFieldTest",
    "ReflectionTest",
    "ControlTest",
    "CollectionTest",
];

/// Programs whose whole purpose is to run long (see `tests/programs/README.md`).
const LONG_RUNNING: &[&str] = &["Allocation", "LargeHeap"];

/// Mutants of three kinds, each in its own directory:
/// - a checked program (`tests/programs`, `examples/Hello.som`), run on its own;
/// - a class of the SOM test suite, run by the suite's runner with `-cp tests/som`;
/// - a core-library class, put on the classpath ahead of the embedded library (SOM.md:
///   classpath order wins, bootstrap classes included) under the whole test suite.
///
/// Most mutants parse (those reach the loader and the engines); one in five does not
/// (syntax errors met at start-up or while loading lazily).
fn mutants(count: usize, rng: &mut Rng, root: &Path) -> Vec<Mutant> {
    let mut programs: Vec<PathBuf> = som_files("tests/programs")
        .into_iter()
        .filter(|p| !LONG_RUNNING.iter().any(|l| p.ends_with(format!("{l}.som"))))
        .collect();
    programs.push(repo().join("examples/Hello.som"));
    let suite = som_files("tests/som");
    let library = som_files("lang/core-lib");
    let runner = std::fs::read_to_string(repo().join("tests/som/TestRunner.som")).unwrap();
    let kinds: [&[PathBuf]; 3] = [&programs, &suite, &library];

    let mut out = Vec::new();
    let mut unparsable = 0;
    let mut attempt = 0;
    while out.len() < count {
        attempt += 1;
        assert!(attempt < count * 100, "mutants keep failing to parse");
        let kind = attempt % 3;
        let file = &kinds[kind][rng.below(kinds[kind].len())];
        let text =
            String::from_utf8_lossy(&mutate(rng, &std::fs::read(file).unwrap())).into_owned();
        let parses = lang::syntax::parse_class(&text).is_ok();
        if !parses {
            if unparsable * 5 >= out.len() {
                continue;
            }
            unparsable += 1;
        }
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let dir = root.join(format!(
            "{:03}-{}",
            out.len(),
            name.trim_end_matches(".som")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(&name), &text).unwrap();
        let config = CONFIGURATIONS[out.len() % CONFIGURATIONS.len()];
        let mut args: Vec<String> = config.iter().map(|s| s.to_string()).collect();
        let mut sources = vec![text];
        if kind == 0 {
            args.push(dir.join(&name).to_string_lossy().into_owned());
            if name == "Args.som" {
                args.extend(["one".into(), "two".into()]);
            }
        } else {
            if name != "TestRunner.som" {
                std::fs::write(dir.join("TestRunner.som"), &runner).unwrap();
                sources.push(runner.clone());
            }
            args.extend(["-cp".into(), "tests/som".into()]);
            args.push(dir.join("TestRunner.som").to_string_lossy().into_owned());
            // The whole suite takes seconds under --gc-stress: there, one test class (the
            // mutated one, if it is a test class).
            if config.contains(&"--gc-stress") {
                let class = match name.strip_suffix(".som") {
                    Some(test) if test.ends_with("Test") => test,
                    _ => SUITE_CLASSES[rng.below(SUITE_CLASSES.len())],
                };
                args.push(class.into());
            }
        }
        out.push(Mutant {
            label: format!("{} ({})", dir.display(), config.join(" ")),
            args,
            sources,
        });
    }
    out
}

/// Runs `som` on mutated programs: no panic or internal error, no death by a signal, an exit
/// status the program could have asked for, an error message whenever the status is 1, and
/// few timeouts (a mutant may legitimately loop forever: an edited loop condition).
#[test]
fn som_survives_mutated_programs() {
    // `SOM_FUZZ_MUTANTS` and `SOM_FUZZ_SEED` explore further than the fixed sample (timeouts
    // are then only reported); the test itself always uses the defaults.
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let explore = env("SOM_FUZZ_MUTANTS").is_some() || env("SOM_FUZZ_SEED").is_some();
    let mutant_count = env("SOM_FUZZ_MUTANTS").map_or(200, |n| n as usize);
    let max_timeouts = if explore { usize::MAX } else { 3 };
    let root = scratch("robustness");
    let mut rng = Rng(env("SOM_FUZZ_SEED").unwrap_or(0x0123_4567_89ab_cdef) | 1);
    let mut problems = Vec::new();
    let mut timeouts = Vec::new();
    let mut statuses = [0usize; 2];
    for m in mutants(mutant_count, &mut rng, &root) {
        let run = run_som(&m.args);
        let mut problem =
            |p: String| problems.push(format!("{}: {p}\nstderr:\n{}", m.label, run.stderr));
        if run.stderr.contains("panicked") || run.stderr.contains("internal error") {
            problem("a panic or an internal error".into());
        }
        if run.timed_out {
            timeouts.push(m.label.clone());
            continue;
        }
        match run.status {
            None => problem("killed by a signal".into()),
            Some(s) if !allowed_statuses(&m.sources).contains(&s) => {
                problem(format!("exit status {s}"))
            }
            Some(1) => {
                statuses[1] += 1;
                let explained = !run.stderr.trim().is_empty()
                    || run
                        .stdout
                        .lines()
                        .any(|l| l.contains("ERROR") || l.starts_with("FAIL"));
                if !explained {
                    problem(format!(
                        "status 1 without an error message; stdout:\n{}",
                        run.stdout
                    ));
                }
            }
            Some(_) => statuses[0] += 1,
        }
    }
    eprintln!(
        "{mutant_count} mutants: {} ended with 0 or exit:, {} with an error, {} timed out\n{}",
        statuses[0],
        statuses[1],
        timeouts.len(),
        timeouts.join("\n")
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(
        timeouts.len() <= max_timeouts,
        "{} mutants ran for more than {TIMEOUT:?}:\n{}",
        timeouts.len(),
        timeouts.join("\n")
    );
    // Both outcomes must occur, or the sample proves little.
    assert!(
        explore || (statuses[0] >= 20 && statuses[1] >= 20),
        "{statuses:?}"
    );
}

/// The command line: whatever the arguments, a message and status 1 (or the program runs).
#[test]
fn command_line_edge_cases() {
    let dir = scratch("robustness-cli");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    std::fs::create_dir_all(dir.join("Dir.som")).unwrap();
    std::fs::write(dir.join("Empty.som"), "").unwrap();
    std::fs::write(
        dir.join("Latin1.som"),
        b"Latin1 = ( run = ( 'caf\xe9' println ) )",
    )
    .unwrap();
    std::fs::write(
        dir.join("Echo.som"),
        "Echo = ( run: args = ( args do: [ :a | a println ] ) )",
    )
    .unwrap();
    let echo = s(&dir.join("Echo.som"));
    let failing: Vec<(Vec<String>, &str)> = vec![
        (vec!["-cp".into()], "value"),
        (vec!["--classpath".into()], "value"),
        (vec!["--engine".into()], "value"),
        (vec![s(&dir.join("Dir.som"))], "no such file"),
        (vec![s(&dir)], ".som"),
        (vec![s(&dir.join("Empty.som"))], "end of file"),
        (vec![s(&dir.join("Latin1.som"))], "UTF-8"),
        (vec!["-d".into(), s(&dir.join("Latin1.som"))], "UTF-8"),
        (vec![".som".into()], ".som"),
    ];
    for (args, needle) in failing {
        let run = run_som(&args);
        assert_eq!(run.status, Some(1), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(needle) && !run.stderr.contains("panicked"),
            "{args:?}: stderr lacks {needle:?}:\n{}",
            run.stderr
        );
    }
    // Arguments after the program file are the program's, even when they look like options.
    for extra in [
        vec!["-d", "--engine", "nonsense", "--", "--help", "-cp"],
        vec!["--version", "x"],
    ] {
        let mut args = vec![echo.clone()];
        args.extend(extra.iter().map(|a| a.to_string()));
        let run = run_som(&args);
        let mut expected = String::from("Echo\n");
        for a in &extra {
            expected.push_str(a);
            expected.push('\n');
        }
        assert_eq!(
            (run.status, run.stdout.as_str()),
            (Some(0), expected.as_str()),
            "{args:?}: {}",
            run.stderr
        );
    }
    // A reader that goes away (`som P.som | head -1`, `som P.som 2>&1 | head -1`) does not
    // turn printing into a panic: the program runs to its end, here an error (status 1).
    std::fs::write(
        dir.join("Loud.som"),
        "Loud = ( run = ( 1 to: 3000 do: [ :i | i println. system errorPrintln: 'e' ]. \
         self error: 'done' ) )",
    )
    .unwrap();
    for closed in ["stdout", "stderr"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_som"))
            .arg(dir.join("Loud.som"))
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let kept = if closed == "stdout" {
            drop(out);
            drain(err)
        } else {
            drop(err);
            drain(out)
        };
        let status = child.wait().unwrap();
        let kept = kept.join().unwrap();
        assert_eq!(status.code(), Some(1), "{closed} closed: {kept:.300}");
        assert!(!kept.contains("panicked"), "{closed} closed: {kept:.300}");
    }
    // An argument that is not Unicode is reported, not a panic.
    #[cfg(unix)]
    {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        for args in [
            vec![OsStr::new(&echo), OsStr::from_bytes(b"\xff")],
            vec![OsStr::from_bytes(b"\xff.som")],
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_som"))
                .args(&args)
                .current_dir(repo())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains("UTF-8") && !stderr.contains("panicked"),
                "{stderr}"
            );
        }
    }
}

/// A core class on the classpath shadows the embedded one (SOM.md), so a program's library
/// can rearrange the hierarchy or give a class fields. Where that would make the runtime
/// misread an object — a primitive handed a receiver without the representation it works
/// on, a field read from an object made by the runtime without fields — it is a SOM error
/// with a message instead.
#[test]
fn a_library_on_the_classpath_cannot_break_the_runtime() {
    let core = |name: &str| {
        std::fs::read_to_string(repo().join(format!("lang/core-lib/{name}.som"))).unwrap()
    };
    // The core class `name` with its header `from` replaced by `to`.
    let edited = |name: &str, from: &str, to: &str| {
        let text = core(name);
        assert!(text.contains(from), "{name}.som has no {from:?}");
        text.replacen(from, to, 1)
    };
    let integer_under = |superclass: &str| {
        edited(
            "Integer",
            "Integer = Object (",
            &format!("Integer = {superclass} ("),
        )
    };
    // (the body of Main>>run, the class files beside Main.som, what stderr must contain)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "3 getX println",
            vec![(
                "Integer",
                edited(
                    "Integer",
                    "Integer = Object (",
                    "Integer = Object ( |x| getX = ( ^x )",
                ),
            )],
            "cannot declare instance fields",
        ),
        (
            "Integer getA println",
            vec![
                (
                    "Class",
                    edited("Class", "Class = Object (", "Class = Fielded ("),
                ),
                ("Fielded", "Fielded = ( |a| getA = ( ^a ) )".into()),
            ],
            "cannot have instance fields",
        ),
        (
            "nil inspect",
            vec![(
                "Nil",
                edited("Nil", "Nil = Object (", "Nil = Object ( |a b| "),
            )],
            "cannot declare instance fields",
        ),
        (
            "nil getX println",
            vec![(
                "Object",
                edited(
                    "Object",
                    "Object = nil (",
                    "Object = nil ( |x| getX = ( ^x ) ",
                ),
            )],
            "cannot declare instance fields",
        ),
        (
            "('abc' at: 1) println",
            vec![(
                "String",
                edited("String", "String = Object (", "String = Array ("),
            )],
            "the receiver must be an Array",
        ),
        (
            "3 length println",
            vec![("Integer", integer_under("String"))],
            "the receiver must be a String",
        ),
        (
            "3 isDigits println",
            vec![("Integer", integer_under("Symbol"))],
            "the receiver must be a String",
        ),
        (
            "3 value println",
            vec![("Integer", integer_under("Block"))],
            "the receiver must be a Block",
        ),
        (
            "3 signature println",
            vec![("Integer", integer_under("Method"))],
            "the receiver must be a Method",
        ),
        (
            "3 name println",
            vec![("Integer", integer_under("Class"))],
            "the receiver must be a class",
        ),
        (
            "Block1 new value println",
            vec![("Block1", "Block1 = Object ( value = primitive )".into())],
            "cannot create an instance of Block1",
        ),
        (
            "Symbol new asString println",
            vec![("Symbol", "Symbol = Object ( asString = primitive )".into())],
            "cannot create an instance of Symbol",
        ),
    ];
    let root = scratch("robustness-library");
    for (i, (body, classes, needle)) in cases.into_iter().enumerate() {
        let dir = root.join(format!("case{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Main.som"), format!("Main = ( run = ( {body} ) )")).unwrap();
        for (name, text) in &classes {
            std::fs::write(dir.join(format!("{name}.som")), text).unwrap();
        }
        for config in CONFIGURATIONS {
            let mut args: Vec<String> = config.iter().map(|s| s.to_string()).collect();
            args.push(dir.join("Main.som").to_string_lossy().into_owned());
            let run = run_som(&args);
            assert!(
                run.status == Some(1)
                    && run.stderr.contains(needle)
                    && !run.stderr.contains("panicked"),
                "{body} with {:?} ({config:?}): status {:?}, stderr:\n{}",
                classes.iter().map(|c| c.0).collect::<Vec<_>>(),
                run.status,
                run.stderr
            );
        }
    }
    // A class file that is not UTF-8 is an error when it is loaded, not "unknown class".
    let dir = root.join("latin1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Main.som"),
        "Main = ( run = ( 'before' println. Latin new ) )",
    )
    .unwrap();
    std::fs::write(dir.join("Latin.som"), b"Latin = ( name = ( ^'caf\xe9' ) )").unwrap();
    let run = run_som(&[dir.join("Main.som").to_string_lossy().into_owned()]);
    assert_eq!(run.status, Some(1), "{}", run.stderr);
    assert_eq!(run.stdout, "before\n");
    assert!(
        run.stderr.contains("Latin.som is not UTF-8"),
        "{}",
        run.stderr
    );
}
