//! The garbage collector: precise, generational, collecting only at safepoints.
//!
//! Owns: allocation (nursery bump pointer, old space for large and permanent objects), the
//! write barrier and remembered set, minor collections (copy nursery survivors into the old
//! space) and major collections (mark-sweep of the old space), and statistics.
//! Must never: collect inside an allocation — a full nursery takes another chunk and sets
//! `collect_requested`; the runtime collects at its next safepoint, when every live value is in
//! a root the runtime hands to `Evacuator::visit` / `Marker::visit`.

pub mod header;
mod nursery;
mod old_space;
pub mod stats;

use std::time::Instant;

pub use header::{Header, Kind, HEADER_WORDS};
use header::{FORWARDED, MARKED, OLD, PERMANENT, REMEMBERED};
use nursery::Nursery;
use old_space::OldSpace;
pub use stats::GcStats;

use crate::runtime::value::Value;

/// Objects at least this large go straight to the old space.
pub const LARGE_OBJECT_BYTES: usize = 64 * 1024;
/// Refuse single objects beyond this: a SOM error, not an abort.
pub const MAX_OBJECT_BYTES: usize = 1 << 32;
/// Refuse to grow the old space beyond this (the machines have 24 GiB): a program that keeps
/// allocating gets the SOM error "cannot allocate", not the system's out-of-memory killer.
pub const MAX_OLD_SPACE_BYTES: u64 = 12 << 30;
const DEFAULT_NURSERY_BYTES: usize = 8 << 20;
const MIN_MAJOR_THRESHOLD: u64 = 64 << 20;
const STRESS_NURSERY_BYTES: usize = 64 << 10;
/// Under stress, every this many collections is a major one.
const STRESS_MAJOR_EVERY: u64 = 256;
/// Under stress, roots scanned per safepoint on average: with a deep value stack, stress
/// collects every k-th safepoint (k = stack size / this) so that deep recursion does not turn
/// quadratic; at ordinary depths k = 1, every safepoint.
const STRESS_ROOTS_PER_SAFEPOINT: usize = 256;

pub struct GcConfig {
    pub nursery_bytes: usize,
    /// Collect at every safepoint and poison evacuated and freed memory.
    pub stress: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            nursery_bytes: DEFAULT_NURSERY_BYTES,
            stress: false,
        }
    }
}

pub struct Heap {
    nursery: Nursery,
    old: OldSpace,
    /// Old objects that may hold nursery references (each has the REMEMBERED flag).
    remembered: Vec<*mut Header>,
    /// Permanent objects whose payload holds values (literal arrays): roots of every collection.
    permanent_with_values: Vec<*mut Header>,
    /// Set when the nursery overflowed: the next safepoint collects.
    pub collect_requested: bool,
    major_threshold: u64,
    stress: bool,
    stress_counter: u64,
    stress_skipped: usize,
    pub stats: GcStats,
}

impl Heap {
    pub fn new(config: GcConfig) -> Heap {
        // Under stress every safepoint collects and poisons the nursery: keep it small so
        // that costs little, while any stale pointer still lands in poisoned memory.
        // A chunk must hold any object below the large-object size: `alloc` puts those in the
        // nursery and assumes a fresh chunk fits them.
        let nursery_bytes = if config.stress {
            STRESS_NURSERY_BYTES
        } else {
            config.nursery_bytes.max(LARGE_OBJECT_BYTES)
        };
        Heap {
            nursery: Nursery::new(nursery_bytes),
            old: OldSpace::default(),
            remembered: Vec::new(),
            permanent_with_values: Vec::new(),
            collect_requested: false,
            major_threshold: MIN_MAJOR_THRESHOLD,
            stress: config.stress,
            stress_counter: 0,
            stress_skipped: 0,
            stats: GcStats::default(),
        }
    }

    pub fn is_stress(&self) -> bool {
        self.stress
    }

    pub fn old_bytes(&self) -> u64 {
        self.old.bytes
    }

    /// How many old objects are in the remembered set right now (old objects the write
    /// barrier saw receive a reference since the last minor collection). For tests.
    pub fn remembered_count(&self) -> usize {
        self.remembered.len()
    }

    /// Allocates an object of `size_words` (header included) and writes its header. The
    /// payload is uninitialised: the caller fills it before the next safepoint. `None` only if
    /// the size is absurd or the system is out of memory.
    #[inline]
    pub fn alloc(&mut self, class_word: u64, kind: Kind, size_words: usize) -> Option<*mut Header> {
        let bytes = size_words * 8;
        self.stats.bytes_allocated += bytes as u64;
        if bytes < LARGE_OBJECT_BYTES {
            let p = match self.nursery.try_alloc(bytes) {
                Some(p) => p,
                None => self.alloc_after_full_chunk(bytes),
            };
            let h = p as *mut Header;
            // SAFETY: `p` is fresh, 8-aligned nursery memory of at least two words.
            unsafe { h.write(Header::new(class_word, kind, 0, size_words)) };
            Some(h)
        } else {
            let h = self.alloc_old(class_word, kind, size_words, false)?;
            // A large object is born old, but its creator fills the payload without the
            // barrier (that is how fresh objects are initialised), possibly with nursery
            // references: remember it, so the next minor collection scans that payload.
            if kind.payload_is_values() {
                self.remember(h);
            }
            Some(h)
        }
    }

    #[cold]
    fn alloc_after_full_chunk(&mut self, bytes: usize) -> *mut u8 {
        self.collect_requested = true;
        self.nursery.add_chunk();
        let in_use = self.nursery.bytes_in_use() as u64;
        self.stats.peak_nursery_bytes = self.stats.peak_nursery_bytes.max(in_use);
        self.nursery
            .try_alloc(bytes)
            .expect("a fresh chunk holds any small object")
    }

    /// Allocates directly in the old space (large objects) or as permanent (never collected,
    /// never moved: classes' literals, symbols).
    pub fn alloc_old(
        &mut self,
        class_word: u64,
        kind: Kind,
        size_words: usize,
        permanent: bool,
    ) -> Option<*mut Header> {
        let bytes = size_words * 8;
        if bytes > MAX_OBJECT_BYTES || self.old.bytes + bytes as u64 > MAX_OLD_SPACE_BYTES {
            return None;
        }
        let p = self.old.alloc(bytes, permanent);
        if p.is_null() {
            return None;
        }
        if !permanent && self.old.bytes > self.major_threshold {
            self.collect_requested = true;
        }
        self.stats.peak_old_bytes = self.stats.peak_old_bytes.max(self.old.bytes);
        let flags = if permanent { OLD | PERMANENT } else { OLD };
        let h = p as *mut Header;
        // SAFETY: `p` is fresh memory of `bytes` >= 16, 8-aligned.
        unsafe { h.write(Header::new(class_word, kind, flags, size_words)) };
        if permanent && kind.payload_is_values() {
            self.permanent_with_values.push(h);
        }
        Some(h)
    }

    /// The write barrier: call after storing a value into a field or element of `obj`.
    /// Old objects are remembered so the next minor collection treats them as roots.
    #[inline(always)]
    pub fn write_barrier(&mut self, obj: Value, stored: Value) {
        if stored.is_ref() {
            let h = crate::runtime::object::header(obj);
            if h.has(OLD) && !h.has(REMEMBERED) {
                self.remember(obj.as_ptr());
            }
        }
    }

    /// The heap as a compiled trace uses it while it runs.
    pub fn for_trace(&mut self) -> TraceHeap<'_> {
        TraceHeap { heap: self }
    }

    #[cold]
    fn remember(&mut self, obj: *mut Header) {
        // SAFETY: as in `write_barrier`.
        unsafe { (*obj).set(REMEMBERED) };
        self.remembered.push(obj);
    }

    /// Whether a collection should run at this safepoint.
    #[inline(always)]
    pub fn wants_collection(&self) -> bool {
        self.collect_requested || self.stress
    }

    /// Whether a collection is due at this safepoint, given the number of stack roots.
    /// Under stress that is every safepoint, amortized on deep stacks (see
    /// `STRESS_ROOTS_PER_SAFEPOINT`).
    pub fn collection_due(&mut self, stack_roots: usize) -> bool {
        if self.collect_requested {
            return true;
        }
        if !self.stress {
            return false;
        }
        self.stress_skipped += 1;
        if self.stress_skipped * STRESS_ROOTS_PER_SAFEPOINT >= stack_roots {
            self.stress_skipped = 0;
            true
        } else {
            false
        }
    }

    /// Whether the collection about to run should be a major one.
    pub fn wants_major(&mut self) -> bool {
        if self.stress {
            self.stress_counter += 1;
            return self.stress_counter.is_multiple_of(STRESS_MAJOR_EVERY);
        }
        self.old.bytes > self.major_threshold
    }

    /// Starts a minor collection. Visit every root with `Evacuator::visit`, then `finish`.
    pub fn begin_minor(&mut self) -> Evacuator<'_> {
        Evacuator {
            heap: self,
            worklist: Vec::new(),
            promoted: 0,
            started: Instant::now(),
        }
    }

    /// Starts a major collection; the nursery must be empty (run a minor collection first).
    /// Visit every root with `Marker::visit`, then `finish`.
    pub fn begin_major(&mut self) -> Marker<'_> {
        Marker {
            heap: self,
            stack: Vec::new(),
            started: Instant::now(),
        }
    }
}

/// Payload words of an object that the collector traces, as a slice.
///
/// # Safety
/// `h` must point to a live, initialised object whose kind stores values in its payload.
unsafe fn value_payload<'a>(h: *mut Header) -> &'a mut [Value] {
    let words = (*h).size_words() - HEADER_WORDS;
    // SAFETY: the payload follows the header and is `words` values long (caller's contract).
    std::slice::from_raw_parts_mut((h as *mut u64).add(HEADER_WORDS) as *mut Value, words)
}

/// A minor collection in progress: copies reachable nursery objects into the old space.
pub struct Evacuator<'h> {
    heap: &'h mut Heap,
    worklist: Vec<*mut Header>,
    promoted: u64,
    started: Instant,
}

impl Evacuator<'_> {
    /// Updates one root: if it refers to a nursery object, the object moves (once) and the
    /// root is redirected to the copy.
    #[inline]
    pub fn visit(&mut self, slot: &mut Value) {
        if !slot.is_ref() {
            return;
        }
        let h: *mut Header = slot.as_ptr();
        // SAFETY: roots and traced payloads hold only valid object references (the GC
        // contract: at a safepoint every live value is visible and correct).
        let header = unsafe { &*h };
        if header.has(OLD) {
            return;
        }
        if header.has(FORWARDED) {
            *slot = Value::from_raw(header.class_word());
            return;
        }
        let size = header.size_words();
        let bytes = size * 8;
        let new = self.heap.old.alloc(bytes, false);
        assert!(
            !new.is_null(),
            "out of memory while promoting nursery survivors"
        );
        // SAFETY: `h` is a live nursery object of `bytes`; `new` is fresh memory of that size.
        unsafe { std::ptr::copy_nonoverlapping(h as *const u8, new, bytes) };
        let new_h = new as *mut Header;
        // SAFETY: `new_h` now holds a copy of a valid header.
        unsafe { (*new_h).set(OLD) };
        header.set(FORWARDED);
        header.set_class_word(new as u64);
        self.promoted += bytes as u64;
        if header.kind().payload_is_values() {
            self.worklist.push(new_h);
        }
        *slot = Value::from_ptr(new_h);
    }

    /// Traces the remembered set and everything promoted, then empties the nursery.
    pub fn finish(mut self) {
        for h in std::mem::take(&mut self.heap.permanent_with_values) {
            // SAFETY: permanent objects with value payloads stay valid for the program's life.
            for slot in unsafe { value_payload(h) } {
                self.visit(slot);
            }
            self.heap.permanent_with_values.push(h);
        }
        for h in std::mem::take(&mut self.heap.remembered) {
            // SAFETY: remembered objects are live old objects (the set is rebuilt each minor
            // collection and old objects are only freed by a major one, which clears it).
            unsafe {
                (*h).clear(REMEMBERED);
                if (*h).kind().payload_is_values() {
                    for slot in value_payload(h) {
                        self.visit(slot);
                    }
                }
            }
        }
        while let Some(h) = self.worklist.pop() {
            // SAFETY: `h` is a just-promoted copy of a value-payload object.
            for slot in unsafe { value_payload(h) } {
                self.visit(slot);
            }
        }
        let heap = self.heap;
        heap.nursery.reset(heap.stress);
        heap.collect_requested = heap.old.bytes > heap.major_threshold;
        heap.stats.minor_collections += 1;
        heap.stats.bytes_promoted += self.promoted;
        heap.stats.peak_old_bytes = heap.stats.peak_old_bytes.max(heap.old.bytes);
        let pause = self.started.elapsed();
        heap.stats.minor_pause += pause;
        heap.stats.max_pause = heap.stats.max_pause.max(pause);
    }
}

/// A major collection in progress: marks the old space from the roots, then sweeps it.
pub struct Marker<'h> {
    heap: &'h mut Heap,
    stack: Vec<*mut Header>,
    started: Instant,
}

impl Marker<'_> {
    #[inline]
    pub fn visit(&mut self, slot: &mut Value) {
        self.mark(*slot);
    }

    fn mark(&mut self, v: Value) {
        if !v.is_ref() {
            return;
        }
        let h: *mut Header = v.as_ptr();
        // SAFETY: as for `Evacuator::visit`; after the preceding minor collection every
        // reachable object is old.
        let header = unsafe { &*h };
        debug_assert!(header.has(OLD), "major collection found a nursery object");
        if header.has(PERMANENT) || header.has(MARKED) {
            return;
        }
        header.set(MARKED);
        if header.kind().payload_is_values() {
            self.stack.push(h);
        }
    }

    pub fn finish(mut self) {
        for h in self.heap.permanent_with_values.clone() {
            // SAFETY: permanent objects stay valid for the program's life.
            for v in unsafe { value_payload(h) }.iter().copied() {
                self.mark(v);
            }
        }
        while let Some(h) = self.stack.pop() {
            // SAFETY: marked objects are live old objects with value payloads.
            let payload: &[Value] = unsafe { value_payload(h) };
            for &v in payload {
                self.mark(v);
            }
        }
        let heap = self.heap;
        // The remembered set may name objects about to be freed; it is empty after a minor
        // collection anyway, and the barrier rebuilds it.
        for h in heap.remembered.drain(..) {
            // SAFETY: remembered objects are still allocated (the sweep comes after).
            unsafe { (*h).clear(REMEMBERED) };
        }
        let freed = heap.old.sweep(heap.stress);
        heap.stats.bytes_freed_by_major += freed;
        heap.major_threshold = MIN_MAJOR_THRESHOLD.max(heap.old.bytes * 2);
        heap.collect_requested = false;
        heap.stats.major_collections += 1;
        let pause = self.started.elapsed();
        heap.stats.major_pause += pause;
        heap.stats.max_pause = heap.stats.max_pause.max(pause);
    }
}

/// The heap as a compiled trace uses it while it runs: the nursery's bump pointer (the
/// trace allocates by moving it, and leaves when an object does not fit before the limit),
/// the write barrier's slow path, and the safepoint request.
pub struct TraceHeap<'a> {
    heap: &'a mut Heap,
}

impl TraceHeap<'_> {
    /// The write barrier's slow path for an old object a trace stored a reference into: it
    /// only sets a flag and records the object.
    pub fn remember(&mut self, object: u64) {
        let obj = Value::from_raw(object);
        self.heap.write_barrier(obj, obj);
    }

    /// The nursery's own bump pointer and limit, where a trace allocates.
    pub fn nursery(&mut self) -> jit::backend::NurseryWindow {
        let (top, limit) = self.heap.nursery.bump_window();
        // SAFETY: `top` and `limit` are the nursery's own fields, which live as long as the
        // heap (the universe outlives every trace it runs); the memory between them is the
        // current chunk's free space, and the nursery counts everything below the pointer as
        // allocated (a collection scans only from the roots, so an object the trace
        // allocated and dropped is simply garbage). Objects move or die only in a
        // collection, which happens only at a safepoint: nothing reaches one while a trace
        // runs — `remember` only records the object, and traces call only primitives that
        // reach none (`InTrace::Call`), which allocate through this same bump pointer (a new
        // chunk changes the pointer and the limit in place).
        unsafe { jit::backend::NurseryWindow::new(top, limit) }
    }

    pub fn finished(&mut self, bytes: u64) {
        self.heap.stats.bytes_allocated += bytes;
    }
}
