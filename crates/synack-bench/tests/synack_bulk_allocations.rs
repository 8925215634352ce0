//! A bulk transfer allocates once per busy period, not once per segment.
//! Alone in its own test binary: the counting allocator sees every thread.

use synack_bench::SynackStack;
use synack_bench::alloc::allocator;
use synack_bench::bulk::{BulkConfig, BulkRun, bulk_once};

/// Heap bytes allocated (ever, not net) by one transfer of `bytes`.
fn allocated_by(bytes: u64) -> (usize, BulkRun) {
    let cfg = BulkConfig {
        bytes,
        ..BulkConfig::new(1500)
    };
    let before = allocator().total_allocated();
    let run = bulk_once::<SynackStack>(&cfg).unwrap();
    let after = allocator().total_allocated();
    assert!(run.intact, "{run:?}");
    (after - before, run)
}

#[test]
fn a_bulk_transfer_allocates_the_same_whatever_its_length() {
    // The first run also pays for the process's lazily made statics.
    allocated_by(1 << 20);
    let (small, small_run) = allocated_by(4 << 20);
    let (large, large_run) = allocated_by(32 << 20);
    // 28 MiB more: about 20,000 more data segments and their ACKs.
    let extra_frames = large_run.frames - small_run.frames;
    assert!(extra_frames > 20_000, "{small_run:?} {large_run:?}");
    // Both runs make the same hosts, sockets, buffers and blocks (a few
    // hundred KiB). One allocation per segment, even of a few bytes, would
    // add at least that many bytes per extra frame.
    let extra = large.saturating_sub(small);
    assert!(
        (extra as u64) < extra_frames / 8,
        "small {small} B, large {large} B for {extra_frames} more frames"
    );
}
