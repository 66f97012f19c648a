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
    /// The write barrier's slow path, `remember(env, object)`: called by a store of a
    /// reference into an old object not yet remembered.
    pub remember: extern "sysv64" fn(*mut std::ffi::c_void, u64),
    /// A `*mut &mut RememberFn`, valid while the trace runs.
    pub remember_env: *mut std::ffi::c_void,
}

/// What the engine does when a trace stores a reference into an old object that is not yet
/// in the remembered set: remember it (the runtime's write barrier, slow path).
pub type RememberFn<'a> = dyn FnMut(u64) + 'a;

/// The trampoline the machine code calls for `TraceContext::remember`.
extern "sysv64" fn remember_trampoline(env: *mut std::ffi::c_void, object: u64) {
    // SAFETY: `env` points to the `&mut RememberFn` that `CompiledTrace::run` keeps on its
    // stack for the duration of the call that reaches here; nothing else uses it meanwhile.
    let remember = unsafe { &mut *(env as *mut &mut RememberFn) };
    remember(object);
}

/// One activation of an exit's snapshot, outermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitFrame {
    /// The method (the address of its permanent object).
    pub method: u64,
    /// The engine's position in it: where to resume for the innermost frame, the send that
    /// called the next frame for the others.
    pub position: Vec<u32>,
    /// How many of the exit values are this frame's (they follow the outer frames').
    pub size: usize,
}

/// Machine code for one trace.
pub struct CompiledTrace {
    pub(crate) code: dynasmrt::ExecutableBuffer,
    pub(crate) entry: dynasmrt::AssemblyOffset,
    /// One more than the highest slot any `input` reads.
    pub(crate) slots_read: usize,
    /// The most values any snapshot holds.
    pub(crate) exit_size: usize,
    /// For each snapshot, its activations (to split the exit values and resume).
    pub(crate) exits: Vec<Vec<ExitFrame>>,
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
        remember: &mut RememberFn,
    ) -> Exit {
        assert!(
            slots.len() >= self.slots_read,
            "the trace reads {} slots, the frame has {}",
            self.slots_read,
            slots.len()
        );
        exit_values.clear();
        exit_values.resize(self.exit_size.max(1), 0);
        let mut remember: &mut RememberFn = remember;
        let mut context = TraceContext {
            slots: slots.as_mut_ptr(),
            exit_values: exit_values.as_mut_ptr(),
            safepoint: safepoint.as_ptr(),
            countdown,
            remember: remember_trampoline,
            remember_env: &mut remember as *mut &mut RememberFn as *mut std::ffi::c_void,
        };
        let entry = self.code.ptr(self.entry);
        // SAFETY: `entry` is the start of a function that `x64::compile` generated for the
        // System V calling convention, taking one pointer argument and returning the exit's
        // snapshot number. It reads `slots[0..slots_read]` (checked above), writes at most
        // `exit_size` values to `exit_values` (sized above), reads `safepoint`, and reads the
        // fields `load_field` names of objects it got from those slots or its constants. The
        // first three live for the whole call, and so does `remember`, which the code calls
        // through the trampoline only during this call. For the objects, the trace is
        // trusted: the runtime records field and element accesses only behind guards that
        // make the object one of a class with that field (or an array with that index) in
        // every execution that reaches it, and no object moves or dies while a trace runs
        // (it does not allocate, and `remember` only records an object).
        let snapshot = unsafe {
            let f: extern "sysv64" fn(*mut TraceContext) -> u32 = std::mem::transmute(entry);
            f(&mut context)
        };
        let size: usize = self.exits[snapshot as usize].iter().map(|f| f.size).sum();
        exit_values.truncate(size);
        Exit { snapshot }
    }

    /// The activations of `snapshot`, outermost first.
    pub fn exit_frames(&self, snapshot: u32) -> &[ExitFrame] {
        &self.exits[snapshot as usize]
    }

    /// The number of values of each frame of `snapshot`, outermost first.
    pub fn frame_sizes(&self, snapshot: u32) -> Vec<usize> {
        self.exit_frames(snapshot).iter().map(|f| f.size).collect()
    }
}

/// What the code needs to know about the runtime's objects: a header of a class word (the
/// address of the class) and a meta word (flags, and the size in words, header included, in
/// the high 32 bits), then the payload.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Bytes from an object's address to its first field (past the header).
    pub payload_offset: i32,
    /// Bytes from an object's address to its meta word.
    pub meta_offset: i32,
    /// The meta word's flag of objects outside the nursery…
    pub old_flag: u32,
    /// …and of old objects already in the remembered set.
    pub remembered_flag: u32,
}

/// Why a trace was not compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendError {
    Unsupported(&'static str),
    Assembler(String),
}
