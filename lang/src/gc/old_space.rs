//! The old space: non-moving storage for promoted, large and permanent objects.
//!
//! Owns: the memory of old objects and the list the sweeper walks. Objects are allocated one
//! by one from the system allocator; that keeps the space simple and non-moving, which is what
//! compiled code and the write barrier rely on. Must never: decide what is live.

use std::alloc::{alloc, dealloc, Layout};

use super::header::{Header, MARKED, PERMANENT};

#[derive(Default)]
pub struct OldSpace {
    /// Every collectable old object (not the permanent ones).
    objects: Vec<*mut Header>,
    pub bytes: u64,
}

fn layout(bytes: usize) -> Layout {
    Layout::from_size_align(bytes, 8).expect("object size checked by the allocator's caller")
}

impl OldSpace {
    /// Allocates uninitialised memory for an object of `bytes`; null if the system is out of
    /// memory. Permanent objects are not tracked for sweeping.
    pub fn alloc(&mut self, bytes: usize, permanent: bool) -> *mut u8 {
        // SAFETY: the layout has non-zero size (every object has a header).
        let p = unsafe { alloc(layout(bytes)) };
        if !p.is_null() && !permanent {
            self.objects.push(p as *mut Header);
            self.bytes += bytes as u64;
        }
        p
    }

    /// Frees every unmarked collectable object, clears the marks of the rest, and answers the
    /// bytes freed. With `poison`, freed memory is overwritten first.
    pub fn sweep(&mut self, poison: bool) -> u64 {
        let mut freed = 0u64;
        self.objects.retain(|&obj| {
            // SAFETY: `objects` holds only live allocations made by `alloc` above.
            let header = unsafe { &*obj };
            debug_assert!(!header.has(PERMANENT));
            if header.has(MARKED) {
                header.clear(MARKED);
                true
            } else {
                let bytes = header.size_words() * 8;
                freed += bytes as u64;
                // SAFETY: the object is unreachable (unmarked after a full mark), so no value
                // refers to it any more; its size and alignment are those it was allocated with.
                unsafe {
                    if poison {
                        std::ptr::write_bytes(obj as *mut u8, 0xAB, bytes);
                    }
                    dealloc(obj as *mut u8, layout(bytes));
                }
                false
            }
        });
        self.bytes -= freed;
        freed
    }
}

impl Drop for OldSpace {
    fn drop(&mut self) {
        for &obj in &self.objects {
            // SAFETY: each object was allocated by `alloc` with its header's size.
            unsafe {
                let bytes = (*obj).size_words() * 8;
                dealloc(obj as *mut u8, layout(bytes));
            }
        }
    }
}
