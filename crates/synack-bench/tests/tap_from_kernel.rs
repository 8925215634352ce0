//! Root only (skipped otherwise): the Linux kernel sends to synack over a
//! plain TAP (no virtio-net header, no offloads) in a fresh network
//! namespace (TEST-NET-2, 198.51.100.0/24). Proves that every byte arrives
//! intact and in order through the bench driver's batched receive (frames
//! handed to the stack in batches, where software GRO merges them).

use synack_bench::tap::{FromKernelRun, kernel_to_synack_verified};
use synack_tap::netns;

#[test]
fn the_kernel_sends_to_synack_over_a_plain_tap_byte_for_byte() {
    if netns::skip_unless_supported("the_kernel_sends_to_synack_over_a_plain_tap_byte_for_byte") {
        return;
    }
    let bytes = 32 << 20;
    let run: FromKernelRun = netns::run_in_fresh(|| kernel_to_synack_verified(bytes, false))
        .expect("a fresh namespace")
        .expect("a verified transfer");
    // 32 MiB in segments of at most 1448 bytes (MSS 1460 less timestamps),
    // each counted once however the driver batched them.
    assert!(run.data_segs_in >= bytes / 1448, "{run:?}");
    assert!(run.data_segs_in < bytes / 1000, "{run:?}");
}
