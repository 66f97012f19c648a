//! `probe`: Callgrind client requests, so that a region of a running program can be counted
//! exactly (instructions executed, under `valgrind --tool=callgrind`).
//!
//! Owns: the client-request protocol — on x86-64 a special instruction sequence (rotate `rdi`
//! by 3, 13, 61 and 51 bits, i.e. twice all the way round, then `xchg rbx, rbx`) with `rax`
//! pointing at a six-word request array `[code, arg1, …, arg5]` and the result in `rdx`.
//! Natively the sequence changes nothing but the flags; Valgrind's JIT recognises it and
//! performs the request. On other targets every function here is a no-op that returns the
//! default. Must never: depend on anything (it sits below every other crate), or hold
//! `unsafe` outside the one block per request below — this crate is the one exception to the
//! house rule that `unsafe` lives only in the GC, the value representation and the JIT
//! backend.
//!
//! How a region is counted: run the program under
//! `valgrind --tool=callgrind --collect-atstart=no …` (the `measurements` crate's callgrind
//! driver does) and wrap the region in [`region`]: collection is switched on for exactly the
//! region, and the counts are dumped under the region's name (a file
//! `callgrind.out.<pid>.<n>` whose `desc: Trigger: Client Request: <name>` line names it).

/// Callgrind's request codes: `VG_USERREQ_TOOL_BASE('C', 'T')` and the order of callgrind.h's
/// request enum.
const CALLGRIND_BASE: usize = ((b'C' as usize) << 24) | ((b'T' as usize) << 16);
const DUMP_STATS: usize = CALLGRIND_BASE;
const ZERO_STATS: usize = CALLGRIND_BASE + 1;
const TOGGLE_COLLECT: usize = CALLGRIND_BASE + 2;
const DUMP_STATS_AT: usize = CALLGRIND_BASE + 3;
const START_INSTRUMENTATION: usize = CALLGRIND_BASE + 4;
const STOP_INSTRUMENTATION: usize = CALLGRIND_BASE + 5;
/// The core request `VG_USERREQ__RUNNING_ON_VALGRIND`: answers the number of Valgrind layers.
const RUNNING_ON_VALGRIND: usize = 0x1001;

/// Sends one client request; answers Valgrind's result, or `default` when not under Valgrind.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn request(default: usize, code: usize, arg1: usize) -> usize {
    let args: [usize; 6] = [code, arg1, 0, 0, 0, 0];
    let result: usize;
    // SAFETY: natively this sequence is a no-op apart from the flags: `rdi` is rotated by
    // 128 bits in total (back to its value) and `xchg rbx, rbx` swaps a register with itself.
    // It reads no memory natively; under Valgrind, the tool reads the six words at `rax`,
    // which point at `args`, alive on our stack for the whole block, and any string argument
    // the caller put there (a NUL-terminated buffer the caller keeps alive). It writes only
    // `rdx`, declared as an output. No stack is used. Flags are clobbered (the default).
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") default => result,
            options(nostack),
        );
    }
    result
}

/// Not x86-64: client requests are not implemented; every request answers its default.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn request(default: usize, _code: usize, _arg1: usize) -> usize {
    default
}

/// Whether this process runs under Valgrind (any tool).
pub fn running_on_valgrind() -> bool {
    request(0, RUNNING_ON_VALGRIND, 0) != 0
}

/// `CALLGRIND_START_INSTRUMENTATION`: instrument from here on (for runs started with
/// `--instr-atstart=no`; a no-op when already instrumenting).
pub fn start_instrumentation() {
    request(0, START_INSTRUMENTATION, 0);
}

/// `CALLGRIND_STOP_INSTRUMENTATION`: stop instrumenting (nothing is counted until the next
/// start; the rest of the run is faster).
pub fn stop_instrumentation() {
    request(0, STOP_INSTRUMENTATION, 0);
}

/// `CALLGRIND_TOGGLE_COLLECT`: switch event collection on if off, off if on.
pub fn toggle_collect() {
    request(0, TOGGLE_COLLECT, 0);
}

/// `CALLGRIND_ZERO_STATS`: discard the counts collected since the last dump.
pub fn zero_stats() {
    request(0, ZERO_STATS, 0);
}

/// `CALLGRIND_DUMP_STATS`: write the counts collected since the last dump to a new file.
pub fn dump_stats() {
    request(0, DUMP_STATS, 0);
}

/// `CALLGRIND_DUMP_STATS_AT(name)`: like [`dump_stats`], with `name` as the dump's trigger
/// (`desc: Trigger: Client Request: <name>`). A NUL in `name` ends it early.
pub fn dump_stats_at(name: &str) {
    let mut bytes: Vec<u8> = name.bytes().take_while(|&b| b != 0).collect();
    bytes.push(0);
    request(0, DUMP_STATS_AT, bytes.as_ptr() as usize);
    drop(bytes);
}

/// Counts `f` as the region `name`: starts instrumentation, switches collection on (the run
/// must start with `--collect-atstart=no`), runs `f`, switches collection off and dumps the
/// region's counts under `name`, then stops instrumentation. When `enabled` is false, or not
/// under Valgrind, just runs `f`.
pub fn region<T>(enabled: bool, name: &str, f: impl FnOnce() -> T) -> T {
    if !enabled || !running_on_valgrind() {
        return f();
    }
    start_instrumentation();
    zero_stats();
    toggle_collect();
    let result = f();
    toggle_collect();
    dump_stats_at(name);
    stop_instrumentation();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_no_ops_natively() {
        // Under `cargo test` nobody runs us under Valgrind: every request must fall through.
        assert!(!running_on_valgrind());
        start_instrumentation();
        zero_stats();
        toggle_collect();
        toggle_collect();
        dump_stats_at("test");
        dump_stats();
        stop_instrumentation();
        assert_eq!(region(true, "r", || 41 + 1), 42);
        assert_eq!(region(false, "r", || 7), 7);
    }

    #[test]
    fn request_codes_match_callgrind_h() {
        assert_eq!(DUMP_STATS, 0x4354_0000);
        assert_eq!(STOP_INSTRUMENTATION, 0x4354_0005);
    }
}
