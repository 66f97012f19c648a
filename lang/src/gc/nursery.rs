//! The nursery: bump-pointer allocation in chunks.
//!
//! Owns: the chunks young objects live in and the bump pointer. A full chunk never triggers a
//! collection here — the nursery takes another chunk and reports that a collection is due; the
//! collection itself happens at the next safepoint. Must never: move or scan objects.

use std::collections::VecDeque;

/// Poisoned chunks wait this many collections before reuse, so a pointer that went stale
/// up to that many collections ago still reads poison.
const QUARANTINE: usize = 4;
const POISON: u64 = 0xDEAD_BEEF_DEAD_BEE8; // a non-canonical address: dereferencing it faults

pub struct Nursery {
    chunk_words: usize,
    /// Chunks in use since the last collection; the last one is being bumped into.
    chunks: Vec<Box<[u64]>>,
    /// Spare chunks kept across collections so that a steady state allocates no memory.
    /// Under stress they are poisoned and reused only after `QUARANTINE` more collections.
    spares: VecDeque<Box<[u64]>>,
    top: usize,
    limit: usize,
}

impl Nursery {
    pub fn new(chunk_bytes: usize) -> Nursery {
        let chunk_words = chunk_bytes / 8;
        let mut n = Nursery {
            chunk_words,
            chunks: Vec::new(),
            spares: VecDeque::new(),
            top: 0,
            limit: 0,
        };
        n.add_chunk();
        n
    }

    /// Bump-allocates `bytes` (a multiple of 8). `None` when the current chunk is full.
    #[inline(always)]
    pub fn try_alloc(&mut self, bytes: usize) -> Option<*mut u8> {
        let new_top = self.top + bytes;
        if new_top <= self.limit {
            let p = self.top;
            self.top = new_top;
            Some(p as *mut u8)
        } else {
            None
        }
    }

    /// The addresses of the bump pointer and the limit, for compiled code that allocates by
    /// bumping the pointer itself (see `gc::TraceHeap`).
    pub fn bump_window(&mut self) -> (*mut usize, *const usize) {
        (&mut self.top, &self.limit)
    }

    /// Starts a fresh chunk; the caller requests a collection.
    pub fn add_chunk(&mut self) {
        self.add_chunk_from_spares(0);
    }

    /// Starts a chunk, reusing a spare only if more than `keep` spares wait.
    fn add_chunk_from_spares(&mut self, keep: usize) {
        let chunk = if self.spares.len() > keep {
            self.spares.pop_front()
        } else {
            None
        }
        .unwrap_or_else(|| vec![0u64; self.chunk_words].into_boxed_slice());
        self.top = chunk.as_ptr() as usize;
        self.limit = self.top + self.chunk_words * 8;
        self.chunks.push(chunk);
    }

    pub fn bytes_in_use(&self) -> usize {
        (self.chunks.len() - 1) * self.chunk_words * 8
            + (self.top - (self.limit - self.chunk_words * 8))
    }

    /// After evacuation: all young objects are dead or moved. With `poison`, the evacuated
    /// memory is overwritten so a stale pointer faults instead of reading a moved object, and
    /// the next allocations go to a different chunk than the one just evacuated.
    pub fn reset(&mut self, poison: bool) {
        let mut chunks = std::mem::take(&mut self.chunks);
        if poison {
            for c in chunks.iter_mut() {
                c.fill(POISON);
            }
            self.spares.extend(chunks.drain(..).take(QUARANTINE));
            while self.spares.len() > QUARANTINE + 1 {
                self.spares.pop_front();
            }
            self.add_chunk_from_spares(QUARANTINE);
        } else {
            // Keep one chunk; the others are dropped: the nursery shrinks back to one chunk.
            self.spares.extend(chunks.pop());
            self.spares.truncate(1);
            self.add_chunk_from_spares(0);
        }
    }
}
