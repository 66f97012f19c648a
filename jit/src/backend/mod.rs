//! The backend: machine code for an optimized trace, and running it.
//!
//! Owns: `CompiledTrace` (the code and what it needs to run), the calling convention between
//! an engine and a trace — the engine passes the frame's slots (tagged values), receives the
//! number of the snapshot the trace left through and that snapshot's values in slot order,
//! frames outermost first — and the safe entry point. Must never: let an engine call machine
//! code without the checks `CompiledTrace::run` makes (slot count, exit buffer size).
//!
//! `x64` generates the code: values in a few registers and stack slots (a simple whole-trace
//! allocation), integer, double, comparison, boxing, guard, field, element, allocation,
//! call and loop operations; a trace with another operation is refused (`Unsupported`), and
//! the JIT counts that as an abort.

pub mod x64;

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
    pub safepoint: u64,
    /// In code compiled with `stress`: decremented at every guard, which leaves when it
    /// reaches zero.
    pub countdown: u64,
    /// The write barrier's slow path, `remember(runtime, object)`: called by a store of a
    /// reference into an old object not yet remembered.
    pub remember: extern "sysv64" fn(*mut std::ffi::c_void, u64),
    /// A `*mut &mut dyn TraceRuntime`, valid while the trace runs.
    pub runtime: *mut std::ffi::c_void,
    /// The nursery's bump pointer and its limit (`TraceRuntime::nursery`).
    pub nursery_top: *mut usize,
    pub nursery_limit: *const usize,
    /// Bytes the trace allocated (reported to the runtime when it leaves).
    pub allocated: u64,
    /// The entry address of the trace running (traces linked to each other jump between
    /// themselves: this says which one left).
    pub current: u64,
    /// How many values the exit wrote.
    pub exit_count: u64,
}

/// The size, in values, of the slot and exit buffers every run gets: linked traces swap
/// the two, so both must hold any linked trace's slots and exit values. The backend refuses
/// traces that need more.
pub const TRACE_BUFFER: usize = 256;

/// The nursery's bump pointer and its limit, where compiled code allocates: it moves the
/// pointer past what it allocates, and leaves the trace when an object would pass the limit.
#[derive(Clone, Copy, Debug)]
pub struct NurseryWindow {
    top: *mut usize,
    limit: *const usize,
}

impl NurseryWindow {
    /// # Safety
    /// `top` must be valid for reads and writes and `limit` for reads for as long as a trace
    /// given this window runs, such that every address in `[*top, *limit)` is free, 8-aligned
    /// nursery memory the runtime treats as allocated once `*top` moves past it; and while a
    /// trace runs, nothing the runtime does for it (`TraceRuntime::remember`,
    /// `TraceRuntime::call_primitive`) may move or free an object, or change the window other
    /// than by allocating in it the same way.
    pub unsafe fn new(top: *mut usize, limit: *const usize) -> NurseryWindow {
        NurseryWindow { top, limit }
    }
}

/// What compiled code needs from the runtime while it runs. (What makes running a trace
/// memory-safe is the promise `NurseryWindow::new` asks of whoever makes the runtime's window.)
pub trait TraceRuntime {
    /// Whether a safepoint is requested (a trace then leaves at its first back edge).
    fn safepoint_requested(&self) -> bool;
    /// The write barrier's slow path: remember the old object at `object`.
    fn remember(&mut self, object: u64);
    /// Where the trace allocates.
    fn nursery(&mut self) -> NurseryWindow;
    /// The trace left, having allocated `bytes` (for the runtime's statistics).
    fn finished(&mut self, bytes: u64);
    /// Primitive number `index` on `args` (tagged values, the receiver first): its tagged
    /// result, or `None` when it failed (having changed nothing: the trace leaves before
    /// the send, and the interpreter sends it again). It may allocate — moving the nursery's
    /// bump pointer, which the code reads again at each of its own allocations.
    fn call_primitive(&mut self, index: u32, args: &[u64]) -> Option<u64>;
}

/// The trampoline the machine code calls for `TraceContext::remember`.
extern "sysv64" fn remember_trampoline(runtime: *mut std::ffi::c_void, object: u64) {
    // SAFETY: `runtime` points to the `&mut dyn TraceRuntime` that `CompiledTrace::run` keeps
    // on its stack for the duration of the call that reaches here; nothing else uses it
    // meanwhile (the machine code only passes it on).
    let runtime = unsafe { &mut *(runtime as *mut &mut dyn TraceRuntime) };
    runtime.remember(object);
}

/// The function the machine code calls for `call_primitive`: primitive `index` on the
/// `count` values the code wrote to the start of the exit buffer. Answers the result, or 0
/// (no tagged value) when the primitive failed. Afterwards the context's safepoint flag says
/// whether the runtime now wants a collection (a primitive that allocated may ask for one),
/// so that the trace leaves at its next back edge.
pub(crate) extern "sysv64" fn primitive_trampoline(
    context: *mut TraceContext,
    index: u64,
    count: u64,
) -> u64 {
    let mut args = [0u64; MAX_PRIMITIVE_ARGS];
    let count = (count as usize).min(MAX_PRIMITIVE_ARGS);
    // SAFETY: `context` is the `TraceContext` that `CompiledTrace::run_linked` keeps on its
    // stack while the code runs; the code passes it on (in rbx) and is paused in this call.
    // Its exit buffer has room for `TRACE_BUFFER` values, of which the code wrote `count`
    // (at most `MAX_PRIMITIVE_ARGS`, which the backend checks). `runtime` points to the
    // `&mut dyn TraceRuntime` of the same call (as in `remember_trampoline`).
    let (context, runtime) = unsafe {
        let context = &mut *context;
        args[..count].copy_from_slice(std::slice::from_raw_parts(context.exit_values, count));
        let runtime = &mut *(context.runtime as *mut &mut dyn TraceRuntime);
        (context, runtime)
    };
    let result = runtime.call_primitive(index as u32, &args[..count]);
    context.safepoint = runtime.safepoint_requested() as u64;
    result.unwrap_or(0)
}

/// The function the shared exit path calls: writes snapshot `snapshot`'s values to the exit
/// buffer and their count to the context. `saved` points to the value registers the path
/// pushed (rbp, r12, r13, r14, r15, then the snapshot number), just below the trace's frame,
/// whose stack slots follow; `homes` is the trace's `exit_homes`.
pub(crate) extern "sysv64" fn write_exit_values(
    context: *mut TraceContext,
    snapshot: u64,
    saved: *const u64,
    homes: *const Box<[i32]>,
) {
    const SAVED_WORDS: isize = 6;
    // SAFETY: the machine code calls this from its shared exit path with the context it was
    // given (`run_linked` keeps it alive), `homes` the address of its `CompiledTrace`'s
    // `exit_homes` (alive while its code runs) holding an entry for every snapshot, and
    // `saved` its stack pointer after pushing six words, below the trace's frame: a register
    // home indexes the pushed words, a stack home is a byte offset into the frame, which
    // `x64::compile` sized to hold every value's slot. The exit buffer has room for
    // `TRACE_BUFFER` values, no fewer than any snapshot of a compiled trace has.
    unsafe {
        let context = &mut *context;
        let homes = &*homes.add(snapshot as usize);
        for (k, &home) in homes.iter().enumerate() {
            let value = if home < 0 {
                *saved.offset(-1 - home as isize)
            } else {
                *saved.offset(SAVED_WORDS + home as isize / 8)
            };
            *context.exit_values.add(k) = value;
        }
        context.exit_count = homes.len() as u64;
    }
}

/// The most values (receiver and arguments) a `call_primitive` passes.
pub const MAX_PRIMITIVE_ARGS: usize = 8;

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
    /// For each snapshot, its activations (to split the exit values and resume).
    pub(crate) exits: Vec<Vec<ExitFrame>>,
    /// A side trace's final `exit` (where its loop's trace takes over).
    pub(crate) closing_exit: Option<u32>,
    /// A final `leave` (where the interpreter does what the trace cannot).
    pub(crate) leaving_exit: Option<u32>,
    /// Per snapshot: the entry address of the trace its exit jumps to (0: none, the exit
    /// returns to the engine). The machine code reads these cells.
    pub(crate) links: Box<[std::cell::Cell<u64>]>,
    /// The traces linked to, kept alive as long as this one.
    pub(crate) linked: std::cell::RefCell<Vec<std::rc::Rc<CompiledTrace>>>,
    /// Per snapshot that exits through the shared exit path: where each of its values lives
    /// (`x64::encode_home`); empty for the snapshots whose stubs write their values
    /// themselves. The machine code passes its address to `write_exit_values`.
    #[allow(dead_code)] // read by the machine code, through the address it holds
    pub(crate) exit_homes: Box<[Box<[i32]>]>,
}

/// Where a run of linked traces left: the exit's snapshot, and which trace it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainExit {
    pub snapshot: u32,
    /// The entry address of the trace that left (`CompiledTrace::entry_address`).
    pub trace: u64,
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

    /// The address of the trace's entry (what `ChainExit::trace` names).
    pub fn entry_address(&self) -> u64 {
        self.code.ptr(self.entry) as u64
    }

    /// Makes the exit through `snapshot` jump straight to `target`, with the exit's values
    /// as `target`'s slots. Refused (false) when `target` reads more slots than the exit
    /// has values.
    pub fn link(&self, snapshot: u32, target: &std::rc::Rc<CompiledTrace>) -> bool {
        let values: usize = self.exits[snapshot as usize].iter().map(|f| f.size).sum();
        if target.slots_read > values {
            return false;
        }
        self.linked.borrow_mut().push(target.clone());
        self.links[snapshot as usize].set(target.entry_address());
        true
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
        slots: &mut Vec<u64>,
        exit_values: &mut Vec<u64>,
        countdown: u64,
        runtime: &mut dyn TraceRuntime,
    ) -> Exit {
        self.run_linked(slots, exit_values, countdown, runtime).1
    }

    /// `run`, following links: answers which trace left (and where). `slots` may come back
    /// with other contents (linked traces use it as their exit buffer).
    pub fn run_linked(
        &self,
        slots: &mut Vec<u64>,
        exit_values: &mut Vec<u64>,
        countdown: u64,
        runtime: &mut dyn TraceRuntime,
    ) -> (ChainExit, Exit) {
        assert!(
            slots.len() >= self.slots_read,
            "the trace reads {} slots, the frame has {}",
            self.slots_read,
            slots.len()
        );
        // Room for `TRACE_BUFFER` values in both buffers, without zeroing it on every run:
        // the machine code writes what lies past a buffer's length before anything reads it.
        slots.reserve(TRACE_BUFFER.saturating_sub(slots.len()));
        exit_values.reserve(TRACE_BUFFER.saturating_sub(exit_values.len()));
        let NurseryWindow {
            top: nursery_top,
            limit: nursery_limit,
        } = runtime.nursery();
        let safepoint = runtime.safepoint_requested() as u64;
        let mut runtime: &mut dyn TraceRuntime = runtime;
        let mut context = TraceContext {
            slots: slots.as_mut_ptr(),
            exit_values: exit_values.as_mut_ptr(),
            safepoint,
            countdown,
            remember: remember_trampoline,
            runtime: &mut runtime as *mut &mut dyn TraceRuntime as *mut std::ffi::c_void,
            nursery_top,
            nursery_limit,
            allocated: 0,
            current: 0,
            exit_count: 0,
        };
        let entry = self.code.ptr(self.entry);
        // SAFETY: `entry` is the start of a function that `x64::compile` generated for the
        // System V calling convention, taking one pointer argument and returning the exit's
        // snapshot number. It reads `slots[0..slots_read]` (checked above), writes at most
        // `exit_size` values to `exit_values` (both buffers have room for `TRACE_BUFFER`
        // values, which bounds every compiled trace's `slots_read` and `exit_size`). An exit
        // with a link swaps the two buffers and jumps to the linked trace, which `link`
        // checked reads no more slots than the exit wrote and keeps alive in `linked`; so
        // every trace of a chain meets the same conditions, and reads only values written. It calls `remember` with `runtime`
        // (both live for the whole call) and `primitive_trampoline` with the context (a
        // primitive may allocate, never collect), and allocates by bumping the nursery pointer below
        // its limit (valid while it runs, as `NurseryWindow::new` requires), filling
        // every word it allocates. It reads and writes the fields and elements its guards
        // establish: the runtime records those accesses only behind guards that make the
        // object one of a class with that field (or an array with that index) in every
        // execution that reaches them. No object moves or dies while a trace runs: it
        // allocates only in the nursery's free space and never collects.
        let snapshot = unsafe {
            let f: extern "sysv64" fn(*mut TraceContext) -> u32 = std::mem::transmute(entry);
            f(&mut context)
        };
        runtime.finished(context.allocated);
        if context.exit_values == slots.as_mut_ptr() {
            // The chain swapped the buffers an odd number of times.
            std::mem::swap(slots, exit_values);
        }
        // SAFETY: the exit that ended the chain wrote its `exit_count` values (at most
        // `TRACE_BUFFER`, within the room reserved above) to the start of this buffer.
        unsafe { exit_values.set_len(context.exit_count as usize) };
        let chain = ChainExit {
            snapshot,
            trace: context.current,
        };
        (chain, Exit { snapshot })
    }

    /// For a side trace: the snapshot of its final `exit`, at its loop's header.
    pub fn closing_exit(&self) -> Option<u32> {
        self.closing_exit
    }

    /// The snapshot of the trace's final `leave`, if it ends in one: the interpreter goes on
    /// there (it is no place for a side trace).
    pub fn leaving_exit(&self) -> Option<u32> {
        self.leaving_exit
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
    /// Where the meta word keeps the size in words (header included): bits from this shift.
    pub size_shift: u8,
    /// The value new objects' fields start with.
    pub nil: u64,
    /// The largest object (in bytes, header included) the nursery takes.
    pub max_nursery_object: u32,
}

/// Why a trace was not compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendError {
    Unsupported(&'static str),
    Assembler(String),
}
