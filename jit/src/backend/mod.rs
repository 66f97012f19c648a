//! The backend: machine code for an optimized trace, and running it.
//!
//! Owns: `CompiledTrace` (the code and what it needs to run), the calling convention between
//! an engine and a trace — the engine passes the frame's slots (tagged values), receives the
//! number of the snapshot the trace left through and that snapshot's values in slot order,
//! frames outermost first — and the safe entry point. Must never: let an engine call machine
//! code without the checks `CompiledTrace::run` makes (slot count, exit buffer size).
//!
//! `x64` generates the code. This first backend keeps every value in its own stack slot (no
//! register allocation yet) and supports the integer, double, comparison, boxing, guard and
//! loop operations; a trace with another operation is refused (`Unsupported`), and the JIT
//! counts that as an abort.

pub mod x64;

use std::cell::Cell;

/// Where a compiled trace left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The snapshot it left through (a failed guard, or the loop header when a safepoint
    /// was requested).
    pub snapshot: u32,
}

/// What the machine code reads and writes: laid out for it (`repr(C)`), built by `run`.
#[repr(C)]
pub(crate) struct TraceContext {
    /// The frame's slots (tagged values), read by `input`.
    pub slots: *mut u64,
    /// Where an exit writes its snapshot's values.
    pub exit_values: *mut u64,
    /// Non-zero when the runtime wants a safepoint: checked at every back edge.
    pub safepoint: *const u8,
    /// In code compiled with `stress`: decremented at every guard, which leaves when it
    /// reaches zero.
    pub countdown: u64,
}

/// Machine code for one trace.
pub struct CompiledTrace {
    pub(crate) code: dynasmrt::ExecutableBuffer,
    pub(crate) entry: dynasmrt::AssemblyOffset,
    /// One more than the highest slot any `input` reads.
    pub(crate) slots_read: usize,
    /// The most values any snapshot holds.
    pub(crate) exit_size: usize,
    /// For each snapshot, how many values each of its frames holds (to split the exit values).
    pub(crate) snapshot_shapes: Vec<Vec<usize>>,
    /// For each snapshot, the engine position of its innermost frame.
    pub(crate) positions: Vec<Vec<u32>>,
}

impl CompiledTrace {
    /// The size of the machine code in bytes.
    pub fn code_size(&self) -> usize {
        self.code.len()
    }

    /// The machine code (for disassembly: `som --jit-log`).
    pub fn code_bytes(&self) -> &[u8] {
        &self.code
    }

    /// The address of the code's first byte.
    pub fn code_address(&self) -> u64 {
        self.code.ptr(dynasmrt::AssemblyOffset(0)) as u64
    }

    /// Runs the trace on a frame whose slots are `slots` until it leaves; `exit_values` is
    /// filled with the exit's snapshot values (all frames', outermost first; see
    /// `frame_sizes`). `safepoint` is read at every back edge: when it is set, the trace
    /// leaves through its loop-header snapshot. In code compiled with `stress`, the guard
    /// that finds `countdown` guards before it spent leaves, whatever its condition.
    ///
    /// Panics if `slots` is shorter than the slots the trace reads.
    pub fn run(
        &self,
        slots: &mut [u64],
        exit_values: &mut Vec<u64>,
        safepoint: &Cell<u8>,
        countdown: u64,
    ) -> Exit {
        assert!(
            slots.len() >= self.slots_read,
            "the trace reads {} slots, the frame has {}",
            self.slots_read,
            slots.len()
        );
        exit_values.clear();
        exit_values.resize(self.exit_size.max(1), 0);
        let mut context = TraceContext {
            slots: slots.as_mut_ptr(),
            exit_values: exit_values.as_mut_ptr(),
            safepoint: safepoint.as_ptr(),
            countdown,
        };
        let entry = self.code.ptr(self.entry);
        // SAFETY: `entry` is the start of a function that `x64::compile` generated for the
        // System V calling convention, taking one pointer argument and returning the exit's
        // snapshot number. It reads `slots[0..slots_read]` (checked above), writes at most
        // `exit_size` values to `exit_values` (sized above), reads `safepoint`, and reads the
        // fields `load_field` names of objects it got from those slots or its constants. The
        // first three live for the whole call. For the objects, the trace is trusted: the
        // runtime records `load_field` only on a value that is an object of a class with that
        // field in every execution that reaches it (the receiver of the loop's method, which
        // the slot holds on every entry), and no object moves or dies while a trace runs (it
        // neither allocates nor calls).
        let snapshot = unsafe {
            let f: extern "sysv64" fn(*mut TraceContext) -> u32 = std::mem::transmute(entry);
            f(&mut context)
        };
        let size: usize = self.snapshot_shapes[snapshot as usize].iter().sum();
        exit_values.truncate(size);
        Exit { snapshot }
    }

    /// The engine position where execution resumes after leaving through `snapshot` (its
    /// innermost frame's).
    pub fn position(&self, snapshot: u32) -> &[u32] {
        &self.positions[snapshot as usize]
    }

    /// The number of values of each frame of `snapshot`, outermost first.
    pub fn frame_sizes(&self, snapshot: u32) -> &[usize] {
        &self.snapshot_shapes[snapshot as usize]
    }
}

/// What the code needs to know about the runtime's objects.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Bytes from an object's address to its first field (past the header).
    pub payload_offset: i32,
}

/// Why a trace was not compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendError {
    Unsupported(&'static str),
    Assembler(String),
}
