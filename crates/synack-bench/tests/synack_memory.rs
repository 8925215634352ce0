//! synack's idle connections hold no buffer memory, whatever their limits.
//! Alone in its own test binary: the counting allocator sees every thread.

use synack_bench::memory::memory_once;
use synack_bench::{Buffers, SynackStack};

#[test]
fn idle_connections_cost_the_same_whatever_their_buffer_limits() {
    let small = memory_once::<SynackStack>(500, Buffers::both(4 << 10)).unwrap();
    let large = memory_once::<SynackStack>(500, Buffers::both(4 << 20)).unwrap();
    assert_eq!(small.connections, 500);
    // 4 KiB or 4 MiB limits each way: if an idle connection held even one
    // buffer at its limit, the large run would cost gigabytes more. The
    // harness's clock is wall time, so timer-wheel slots allocated on first
    // use vary a little between runs: allow 64 bytes per endpoint of noise.
    let diff = large.total_bytes.abs_diff(small.total_bytes);
    assert!(diff < 64 * 1000, "small {small:?} large {large:?}");
    assert!(large.bytes_per_connection < 4096.0, "{large:?}");
}
