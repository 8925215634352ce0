//! Short connections reuse the rings of the ones before them: a handshake
//! (connect, one byte each way, close) allocates no new buffer rings once
//! the stacks have spares (`storage::SpareRings`). Alone in its own test
//! binary: the counting allocator sees every thread.

use std::time::Duration;

use synack_bench::SynackStack;
use synack_bench::alloc::allocator;
use synack_bench::handshake::{HANDSHAKE_BUFFERS, HandshakeConfig, handshake_point};

/// Heap bytes allocated (ever, not net) by a run of `count` handshakes,
/// with the pair and its stacks made in the run.
fn allocated_by(count: u64) -> usize {
    let cfg = HandshakeConfig {
        idle: 0,
        per_rep: count,
        reps: 1,
        // Far more than the run needs: the run is exactly `count` handshakes.
        time_cap: Duration::from_secs(3_600),
        buffers: HANDSHAKE_BUFFERS,
    };
    let before = allocator().total_allocated();
    let point = handshake_point::<SynackStack>(&cfg).unwrap();
    let after = allocator().total_allocated();
    assert_eq!(point.handshakes(), count, "{point:?}");
    after - before
}

#[test]
fn a_handshake_allocates_no_new_rings_once_the_stacks_have_spares() {
    // The first run also pays for the process's lazily made statics.
    allocated_by(10);
    let small = allocated_by(100);
    let large = allocated_by(1_100);
    let per_handshake = large.saturating_sub(small) / 1_000;
    // Each side has a send and a receive buffer with a 1 KiB ring (the
    // smallest allocation): 4 KiB a handshake when every connection makes
    // its own. What is left is the connection's small boxed blocks (data
    // blocks, loss-recovery episode, HyStart, counters), well under that.
    assert!(
        per_handshake < 4 * 1024,
        "{per_handshake} B a handshake (100: {small} B, 1,100: {large} B)"
    );
}

#[test]
fn a_handshake_allocates_no_episode_scoreboard_or_counters_once_the_stacks_have_spares() {
    allocated_by(10);
    let small = allocated_by(100);
    let large = allocated_by(1_100);
    let per_handshake = large.saturating_sub(small) / 1_000;
    // The loss-recovery episode with its scoreboard's first record buffer
    // (464 and 160 bytes) and the data counters (72 bytes) come from the
    // stack's spares too (1,656 bytes a handshake before, 264 after): what
    // is left is each side's HyStart++ state (128 bytes, boxed for the
    // initial slow start) and a few bytes of amortised growth. Either of
    // the others made anew on one side would break this bound.
    assert!(
        per_handshake < 2 * 128 + 64,
        "{per_handshake} B a handshake (100: {small} B, 1,100: {large} B)"
    );
}
