//! The counting global allocator the allocation tests install
//! (`#[global_allocator] static GLOBAL: Counting = Counting;`): it forwards
//! every call to the system allocator and counts. Each test binary that uses
//! it runs one test, so no other thread allocates while it counts.
//!
//! `unsafe impl GlobalAlloc` is the one unsafe thing the tests need (the
//! library forbids unsafe code); the binaries that include this allow it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

pub struct Counting;

/// Allocations and reallocations made (`no_alloc`: none per segment).
pub static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// Allocations made minus allocations freed (`no_leak`: back to where it
/// started once the stacks are dropped).
pub static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // One block replaced by one: a new allocation, none more live.
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
