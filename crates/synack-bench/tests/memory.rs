//! `memory` counts what a connection holds. Alone in its test binary: the
//! counting allocator sees every thread.

use synack_bench::memory::memory_once;
use synack_bench::smol::socket_slot_size;
use synack_bench::{Buffers, SmolStack};

#[test]
fn smoltcp_idle_connection_costs_its_slot_plus_its_buffers() {
    for (n, buf) in [(1000, 1usize), (600, 100)] {
        let m = memory_once::<SmolStack>(n, Buffers::both(buf)).unwrap();
        let expected = (socket_slot_size() + 2 * buf) as f64;
        // The two interfaces' fixed heap, spread over 2n endpoints, is all
        // the difference there may be.
        assert!(
            m.bytes_per_connection >= expected && m.bytes_per_connection <= expected + 4.0,
            "n {n}, buffers {buf}: {m:?}, expected {expected}"
        );
        assert_eq!(m.connections, n);
    }
}
