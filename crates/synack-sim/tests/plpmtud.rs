//! RFC 4821 path MTU discovery by probing (`tcp_mtu_probing` 2, and 1
//! after black hole detection): the sender finds how large its segments
//! may be by sending one larger segment now and then, over paths that
//! carry 1,500 bytes, or silently drop what exceeds a smaller MTU (no ICMP
//! comes back from these links).

use proptest::prelude::*;
use synack_proto::{Config, Duration, Instant};
use synack_sim::apps::{BulkSender, Finish, Pattern};
use synack_sim::scenario::Pair;
use synack_sim::{Dir, LinkConfig, StackNode};

/// Enough data for the search to finish: the first probe waits for a
/// congestion window of 11 segments.
const BYTES: u64 = 4_000_000;

/// Bytes a segment adds to its payload with timestamps: IP, TCP, options.
const HEADERS: u32 = 52;

/// A sender with `tcp_mtu_probing` at `mode`, sending [`BYTES`] over a
/// 10 ms link that drops every datagram above `path_mtu` bytes; the
/// interfaces' MTU is 1,500.
fn pair(seed: u64, path_mtu: usize, mode: &str) -> Pair {
    let link = LinkConfig::new()
        .delay(Duration::from_millis(10))
        .mtu(path_mtu);
    pair_over(seed, BYTES, link, mode)
}

/// [`pair`] over any `link`, for `bytes`; the sender keeps its
/// connection open to be asked.
fn pair_over(seed: u64, bytes: u64, link: LinkConfig, mode: &str) -> Pair {
    let mut sender = Config::default();
    sender.set_sysctl("tcp_mtu_probing", mode).unwrap();
    let pattern = Pattern::new(seed);
    Pair::bulk_then(
        seed,
        bytes,
        pattern,
        Finish::Nothing,
        sender,
        Config::default(),
        link,
    )
}

/// The sender's connection's send MSS.
fn sender_mss(p: &mut Pair) -> u32 {
    sender_info(p).snd_mss
}

/// The sender's connection's `tcp_info`.
fn sender_info(p: &mut Pair) -> synack_proto::tcp::conn::TcpInfo {
    let client = p.client;
    let conn = p
        .world
        .node::<StackNode>(client)
        .app::<BulkSender>()
        .and_then(|a| a.conn)
        .expect("the sender's connection");
    p.client_ref().tcp_info(conn).expect("tcp_info")
}

/// Runs until everything arrived (at most 60 s), checks it arrived
/// intact, and returns the sender's MSS then.
fn finish(p: &mut Pair) -> u32 {
    p.run_until(
        |p| p.bulk_receiver().received == BYTES,
        Instant::from_secs(60),
    )
    .unwrap();
    let rx = p.bulk_receiver();
    assert_eq!((rx.received, rx.mismatch), (BYTES, None));
    sender_mss(p)
}

#[test]
fn mode_2_starts_at_the_base_mss_and_climbs_to_the_path() {
    let mut p = pair(1, 1500, "2");
    p.run_until(|p| p.bulk_receiver().received > 0, Instant::from_secs(5))
        .unwrap();
    let info = sender_info(&mut p);
    assert_eq!(info.snd_mss, 1024, "tcp_base_mss first");
    assert_eq!(info.pmtu, 1500, "the path MTU it may grow to");
    let mss = finish(&mut p);
    // The binary search stops within `tcp_probe_threshold` (8 bytes) of
    // 1,500: 1,288, 1,394, 1,447, 1,473, 1,486 and 1,493 all pass.
    assert_eq!(mss, 1493 - HEADERS);
    let ext = &p.client_ref().stats().tcp_ext;
    assert_eq!((ext.tcp_mtup_success, ext.tcp_mtup_fail), (6, 0));
    assert_eq!(p.world.link_stats(p.link, Dir::AToB).dropped_mtu, 0);
}

#[test]
fn a_lost_probe_bounds_the_search_without_congestion_recovery() {
    // 1,394, 1,340, 1,313 and 1,306 exceed the 1,300-byte path and vanish;
    // 1,288 and 1,300 pass. Each loss is found by the SACKs of the
    // segments after the probe and costs no window reduction.
    let mut p = pair(2, 1300, "2");
    let mss = finish(&mut p);
    assert_eq!(mss, 1300 - HEADERS, "the path's own MTU");
    let ext = &p.client_ref().stats().tcp_ext;
    assert_eq!((ext.tcp_mtup_success, ext.tcp_mtup_fail), (2, 4));
    assert_eq!(p.world.link_stats(p.link, Dir::AToB).dropped_mtu, 4);
    assert_eq!(
        (ext.tcp_sack_recovery, ext.tcp_timeouts),
        (0, 0),
        "no fast recovery, no timeout: the probes' losses were not congestion"
    );
}

#[test]
fn mode_0_never_probes() {
    let mut p = pair(3, 1500, "0");
    assert_eq!(finish(&mut p), 1448);
    let ext = &p.client_ref().stats().tcp_ext;
    assert_eq!((ext.tcp_mtup_success, ext.tcp_mtup_fail), (0, 0));
}

#[test]
fn black_hole_detection_then_climbs_back_towards_the_path() {
    // Mode 1 over a 1,200-byte black hole: 1,448-byte segments vanish
    // until detection falls back to 1,024; then the search climbs to
    // within 8 bytes of 1,200.
    let mut p = pair(4, 1200, "1");
    p.run_until(|p| p.bulk_receiver().received > 0, Instant::from_secs(30))
        .unwrap();
    assert_eq!(sender_mss(&mut p), 1024);
    let mss = finish(&mut p);
    assert!(
        (1200 - 8 - HEADERS..=1200 - HEADERS).contains(&mss),
        "{mss}"
    );
    assert!(p.client_ref().stats().tcp_ext.tcp_mtup_success > 0);
}

proptest! {
    // A fixed seed: CI runs the same cases every time (a wider random
    // search found the stall `black_hole.rs` now pins down).
    #![proptest_config(ProptestConfig {
        cases: 48,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x4821),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the path's MTU, delay and random loss, a searching sender
    /// (either mode) delivers everything intact, and its segments never
    /// stay larger than the path carries: a probe's loss, a congestion
    /// loss beside it, or a timeout never leave the MSS above the path.
    #[test]
    fn the_search_never_settles_above_the_path_and_loses_nothing(
        seed in any::<u64>(),
        path_mtu in 600usize..=1500,
        delay_ms in 1u64..40,
        loss in prop_oneof![Just(0.0f64), 0.0f64..0.02],
        mode in prop_oneof![Just("1"), Just("2")],
    ) {
        let bytes = 1_000_000;
        let link = LinkConfig::new()
            .delay(Duration::from_millis(delay_ms))
            .random_loss(loss)
            .mtu(path_mtu);
        let mut p = pair_over(seed, bytes, link, mode);
        p.run_until(|p| p.bulk_receiver().received == bytes, Instant::from_secs(300))
            .unwrap();
        let rx = p.bulk_receiver();
        prop_assert_eq!((rx.received, rx.mismatch), (bytes, None));
        let mss = sender_mss(&mut p);
        prop_assert!(mss + HEADERS <= path_mtu as u32, "MSS {} over a {}-byte path", mss, path_mtu);
    }
}
