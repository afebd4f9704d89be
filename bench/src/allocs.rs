//! Allocations counted (feature `count-allocs`): every allocation and reallocation of the
//! process passes through [`Counting`] on its way to the real allocator (the system's, or
//! mimalloc with `--features mimalloc`), which bumps one counter. The bench reads it around
//! the timed part, in the client and (asked over its stdin) in the server, and reports
//! allocations per call. The counter is one shared atomic, so a counting build runs a little
//! slower: its calls/s are not the ones to quote.
#![allow(unsafe_code)] // `GlobalAlloc` is an unsafe trait; each call is passed on unchanged.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// An allocator that counts the allocations it passes to `A`.
pub(crate) struct Counting<A>(pub(crate) A);

// SAFETY: every method forwards its arguments to the inner allocator as it got them, so the
// inner allocator's guarantees are this one's.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}

/// Allocations (and reallocations) of this process so far.
pub(crate) fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}
