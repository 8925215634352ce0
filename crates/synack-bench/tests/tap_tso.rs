//! Root only (skipped otherwise): synack sends to a Linux socket over a TAP
//! with TSO, in a fresh network namespace (TEST-NET-2, 198.51.100.0/24).
//! Proves that the kernel accepts synack's super-segments with partial
//! checksums and that every byte arrives intact and in order.

use synack_bench::tap::{ToKernelRun, synack_to_kernel_verified};
use synack_tap::netns;

#[test]
fn synack_sends_tso_super_segments_the_kernel_reads_byte_for_byte() {
    if netns::skip_unless_supported(
        "synack_sends_tso_super_segments_the_kernel_reads_byte_for_byte",
    ) {
        return;
    }
    let bytes = 32 << 20;
    let run: ToKernelRun = netns::run_in_fresh(|| synack_to_kernel_verified(bytes, true))
        .expect("a fresh namespace")
        .expect("a verified transfer");
    assert!(
        run.super_segments > 100,
        "synack wrote {} super-segments",
        run.super_segments
    );
    // 64 KB a write already: the kernel's default receive path.
    assert!(!run.threaded_napi);
}

#[test]
fn without_offloads_synack_writes_no_super_segments() {
    if netns::skip_unless_supported("without_offloads_synack_writes_no_super_segments") {
        return;
    }
    let run = netns::run_in_fresh(|| synack_to_kernel_verified(4 << 20, false))
        .expect("a fresh namespace")
        .expect("a verified transfer");
    assert_eq!(run.super_segments, 0);
    // The plain TAP hands the kernel's receive path to a NAPI thread.
    assert!(run.threaded_napi);
}
