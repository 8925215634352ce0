//! Heap accounting through a counting global allocator.
//!
//! With the `counting-allocator` feature (on by default) this crate installs
//! [`cap::Cap`] around the system allocator as the global allocator of every
//! binary that links it. `Cap` keeps one atomic count of the bytes currently
//! allocated (the sizes asked for, not what malloc rounds them up to). The
//! `unsafe` this needs lives in `cap`; this crate has none.

#[cfg(feature = "counting-allocator")]
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Heap bytes currently allocated by the whole process, or `None` when the
/// counting allocator is not installed.
pub fn allocated() -> Option<usize> {
    #[cfg(feature = "counting-allocator")]
    {
        Some(ALLOCATOR.allocated())
    }
    #[cfg(not(feature = "counting-allocator"))]
    {
        None
    }
}

/// The counting allocator itself, for tests that read more of `cap`'s
/// statistics (its `stats` feature, on for this crate's tests).
#[cfg(feature = "counting-allocator")]
pub fn allocator() -> &'static cap::Cap<std::alloc::System> {
    &ALLOCATOR
}

#[cfg(all(test, feature = "counting-allocator"))]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_shows_in_the_count() {
        // Other tests allocate on other threads, so compare with a margin far
        // below the allocation's size.
        let before = allocated().unwrap();
        let v = vec![1u8; 64 << 20];
        let during = allocated().unwrap();
        assert!(during >= before + (60 << 20), "{before} -> {during}");
        drop(v);
    }
}
