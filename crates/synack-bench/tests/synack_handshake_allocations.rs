//! Short connections reuse what the ones before them allocated: a
//! handshake (connect, one byte each way, close) allocates no new buffer
//! rings, data blocks, loss-recovery episode, data counters or HyStart
//! state once the stacks have spares (`storage::SpareRings`,
//! `conn::Spares`). Alone in its own test binary: the counting allocator
//! sees every thread.

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
fn a_handshake_allocates_nothing_once_the_stacks_have_spares() {
    // One test only: the counting allocator sees every thread, so a second
    // test running beside it would count its allocations here.
    // The first run also pays for the process's lazily made statics.
    allocated_by(10);
    let small = allocated_by(100);
    let large = allocated_by(1_100);
    let per_handshake = large.saturating_sub(small) / 1_000;
    // Each side has a send and a receive buffer with a 1 KiB ring (the
    // smallest allocation): 4 KiB a handshake when every connection makes
    // its own. The connection's boxed state comes from the stack's spares
    // too: its data blocks, its loss-recovery episode with the
    // scoreboard's first record buffer (464 and 160 bytes), its data
    // counters (72) and its HyStart++ state (128): 1,656 bytes a handshake
    // were still allocated before those four, 0 now. Any one of them made
    // anew on one side would break this bound (a few bytes of amortised
    // growth of the stacks' tables may remain).
    assert!(
        per_handshake < 64,
        "{per_handshake} B a handshake (100: {small} B, 1,100: {large} B)"
    );
}
