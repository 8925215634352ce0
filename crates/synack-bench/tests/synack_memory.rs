//! synack's idle connections hold no buffer memory, whatever their limits.
//! Alone in its own test binary: the counting allocator sees every thread.

use synack_bench::memory::memory_once;
use synack_bench::{Buffers, SynackStack};

#[test]
fn idle_connections_cost_the_same_whatever_their_buffer_limits() {
    let small = memory_once::<SynackStack>(500, Buffers::both(4 << 10)).unwrap();
    let large = memory_once::<SynackStack>(500, Buffers::both(4 << 20)).unwrap();
    assert_eq!(small.connections, 500);
    // 4 KiB or 4 MiB limits each way: an idle connection holds none of it,
    // so the totals differ by at most a few bytes of bookkeeping.
    let diff = large.total_bytes.abs_diff(small.total_bytes);
    assert!(diff < 1024, "small {small:?} large {large:?}");
    assert!(large.bytes_per_connection < 4096.0, "{large:?}");
}
