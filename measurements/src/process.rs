//! Running one child process and measuring it.
//!
//! Owns: spawning a command with captured stdout and stderr, an optional timeout, the
//! process's wall time and its peak resident set size. Must never: interpret the output.
//!
//! Peak RSS comes from the kernel: the child is reaped with `wait4`, whose `rusage` holds
//! `ru_maxrss` (KiB on Linux) of exactly that process — not an approximation by polling
//! `/proc`. The timeout is enforced by a watchdog thread that kills the child only while the
//! child is known not to be reaped: the waiting side first waits with `WNOWAIT` (the child
//! becomes a zombie but keeps its pid), records under a lock that it has exited, and only
//! then reaps it. So a kill can never reach a recycled pid. The raw calls (`waitid`,
//! `wait4`) are the crate's only `unsafe` and live in [`wait_exited_then_reap`].
//! Output is read on two threads while the child runs; once it has exited, readers get
//! [`DRAIN_GRACE`] to reach the end of the pipes (a grandchild holding a pipe open cannot
//! keep the runner waiting).

use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How a measured process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Exited by itself with this status code.
    Exited(i32),
    /// Killed by this signal (not by us).
    Signaled(i32),
    /// Ran past the timeout and was killed by the runner.
    TimedOut,
}

impl Ending {
    /// The text of the CSV's `exit_status` column: `0`, `1`, …, `signal 11`, `timeout`.
    pub fn as_column(&self) -> String {
        match self {
            Ending::Exited(code) => code.to_string(),
            Ending::Signaled(sig) => format!("signal {sig}"),
            Ending::TimedOut => "timeout".to_string(),
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Ending::Exited(0))
    }
}

/// Everything measured about one process.
#[derive(Clone, Debug)]
pub struct Measured {
    pub ending: Ending,
    pub stdout: String,
    pub stderr: String,
    /// From just before spawning to the moment the child had exited (before reaping).
    pub wall: Duration,
    /// Peak resident set size in KiB (`ru_maxrss`), if the kernel reported one.
    pub peak_rss_kb: Option<u64>,
}

/// What the waiting side and the watchdog share.
#[derive(Default)]
struct Watch {
    /// The child has exited (it may be a zombie, but its pid is still ours).
    exited: bool,
    /// The watchdog killed it.
    killed: bool,
}

/// Runs `command` to completion (or until `timeout`), capturing its output.
pub fn run(mut command: Command, timeout: Option<Duration>) -> io::Result<Measured> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    let stdout = Drain::start(child.stdout.take().expect("stdout is piped"));
    let stderr = Drain::start(child.stderr.take().expect("stderr is piped"));
    let child = Arc::new(Mutex::new(child));
    let watch = Arc::new((Mutex::new(Watch::default()), Condvar::new()));

    let watchdog = timeout.map(|limit| {
        let (child, watch) = (Arc::clone(&child), Arc::clone(&watch));
        thread::spawn(move || watchdog(&child, &watch, start + limit))
    });

    let waited = wait_exited_then_reap(pid, || {
        let (lock, wake) = &*watch;
        lock.lock().unwrap().exited = true;
        wake.notify_all();
    });
    let wall = start.elapsed();
    if let Some(handle) = watchdog {
        handle.join().expect("watchdog thread panicked");
    }
    let (status, rusage) = waited?;
    let killed = watch.0.lock().unwrap().killed;
    let status = ExitStatus::from_raw(status);
    let ending = if killed {
        Ending::TimedOut
    } else if let Some(code) = status.code() {
        Ending::Exited(code)
    } else {
        Ending::Signaled(status.signal().unwrap_or(0))
    };
    drop(child);
    let grace = Instant::now() + DRAIN_GRACE;
    Ok(Measured {
        ending,
        stdout: stdout.finish(grace),
        stderr: stderr.finish(grace),
        wall,
        peak_rss_kb: u64::try_from(rusage.ru_maxrss).ok().filter(|&kb| kb > 0),
    })
}

/// Kills the child at `deadline` unless it exited before.
fn watchdog(child: &Mutex<Child>, watch: &(Mutex<Watch>, Condvar), deadline: Instant) {
    let (lock, wake) = watch;
    let mut state = lock.lock().unwrap();
    loop {
        if state.exited {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        state = wake.wait_timeout(state, deadline - now).unwrap().0;
    }
    // Not yet exited while we hold the lock: the pid is still this child's.
    if child.lock().unwrap().kill().is_ok() {
        state.killed = true;
    }
}

/// How long output is still collected after the child has exited: a grandchild that
/// inherited a pipe could keep it open forever, but everything the child itself wrote is in
/// the pipe when it exits, so readers that have not reached the end by then are abandoned.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// A pipe being read to its end on a thread of its own (so neither pipe can fill and block
/// the child).
struct Drain {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Drain {
    fn start(mut pipe: impl Read + Send + 'static) -> Drain {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (tell, done) = mpsc::channel();
        let sink = Arc::clone(&bytes);
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let _ = tell.send(());
        });
        Drain { bytes, done }
    }

    /// What was read, once the pipe is at its end or at `deadline`, decoded lossily.
    fn finish(self, deadline: Instant) -> String {
        let _ = self
            .done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let bytes = self.bytes.lock().unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Waits until process `pid` (our child, not yet reaped) has exited, calls `on_exited` while
/// the pid still belongs to it, then reaps it. Answers the raw wait status and the child's
/// resource usage.
fn wait_exited_then_reap(
    pid: libc::pid_t,
    on_exited: impl FnOnce(),
) -> io::Result<(i32, libc::rusage)> {
    loop {
        // SAFETY: `info` is a valid, writable `siginfo_t` for the duration of the call; an
        // all-zero `siginfo_t` is a valid value (plain C data). WNOWAIT leaves the child
        // waitable, so the `wait4` below still reaps it.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    on_exited();
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` and `usage` are valid, writable locals for the duration of the
        // call; an all-zero `rusage` is a valid value (plain C data).
        let (rc, usage) = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            let rc = libc::wait4(pid, &mut status, 0, &mut usage);
            (rc, usage)
        };
        if rc == pid {
            return Ok((status, usage));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn captures_output_and_status() {
        let m = run(sh("echo out; echo err >&2; exit 3"), None).unwrap();
        assert_eq!(m.ending, Ending::Exited(3));
        assert_eq!(m.stdout, "out\n");
        assert_eq!(m.stderr, "err\n");
        assert!(m.peak_rss_kb.unwrap() > 0);
        assert_eq!(m.ending.as_column(), "3");
    }

    #[test]
    fn timeout_kills_and_says_so() {
        let start = Instant::now();
        let m = run(
            sh("echo started; exec sleep 5"),
            Some(Duration::from_millis(100)),
        )
        .unwrap();
        assert_eq!(m.ending, Ending::TimedOut);
        assert_eq!(m.ending.as_column(), "timeout");
        assert_eq!(m.stdout, "started\n");
        assert!(m.wall < Duration::from_secs(1), "{:?}", m.wall);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_grandchild_holding_the_pipes_does_not_hold_the_runner() {
        // The shell is killed; its `sleep` child keeps stdout open for 10 s more.
        let start = Instant::now();
        let m = run(
            sh("echo started; sleep 10; true"),
            Some(Duration::from_millis(100)),
        )
        .unwrap();
        assert_eq!(m.ending, Ending::TimedOut);
        assert_eq!(m.stdout, "started\n");
        assert!(start.elapsed() < DRAIN_GRACE + Duration::from_secs(2));
    }

    #[test]
    fn fast_process_within_timeout_is_not_killed() {
        let m = run(sh("exit 0"), Some(Duration::from_secs(30))).unwrap();
        assert!(m.ending.is_success());
    }

    #[test]
    fn death_by_signal_is_reported() {
        let m = run(sh("kill -SEGV $$"), None).unwrap();
        assert_eq!(m.ending, Ending::Signaled(libc::SIGSEGV));
        assert_eq!(m.ending.as_column(), "signal 11");
    }

    #[test]
    fn peak_rss_sees_a_large_allocation() {
        // The shell holds a 20 MB string in a variable: its peak RSS must exceed that.
        let m = run(
            sh("x=$(head -c 20000000 /dev/zero | tr '\\0' x); echo ${#x}"),
            None,
        )
        .unwrap();
        assert_eq!(m.stdout, "20000000\n");
        assert!(m.peak_rss_kb.unwrap() > 20_000, "{:?}", m.peak_rss_kb);
    }
}
