//! synack goes through the harness exactly as smoltcp does: the same bulk,
//! transfer, idle-connection and handshake code, every byte verified. These
//! tests prove the adapter, not performance (no timed asserts).

use synack_bench::bulk::{BulkConfig, bulk_once};
use synack_bench::handshake::{HandshakeConfig, handshake_point, one_handshake};
use synack_bench::stack::{CLIENT_ADDR, SERVER_ADDR};
use synack_bench::transfer::{Path, TransferConfig, transfer};
use synack_bench::{BenchStack, Buffers, HostConfig, Pair, SynackStack, TcpState};
use synack_proto::Duration;

fn pair(buffers: Buffers) -> Pair<SynackStack> {
    let host = |addr, seed| HostConfig {
        buffers,
        seed,
        ..HostConfig::new(addr)
    };
    Pair::new(&host(CLIENT_ADDR, 1), &host(SERVER_ADDR, 2))
}

#[test]
fn in_memory_bulk_delivers_every_byte_at_both_mtus() {
    for mtu in [1500, 65535] {
        let mut cfg = BulkConfig::new(mtu);
        cfg.bytes = 3 << 20;
        let r = bulk_once::<SynackStack>(&cfg).unwrap();
        assert!(r.intact, "MTU {mtu}: {r:?}");
        assert_eq!(r.bytes, 3 << 20);
        assert!(
            r.frames >= (3 << 20) / (mtu as u64 - 40),
            "MTU {mtu}: {r:?}"
        );
        // Each turn of the loop moves at most what the buffers hold, so
        // the turns `count.sh bulk-footprint` divides by are counted.
        let per_turn = (cfg.buffers.tx + cfg.buffers.rx) as u64;
        assert!(r.steps >= (3 << 20) / per_turn, "MTU {mtu}: {r:?}");
        // The receiver keeps the frames it is handed (zero-copy receive):
        // nearly every data frame, since the application reads everything
        // each turn.
        let data_frames = (3 << 20) / (mtu as u64 - 52);
        assert!(r.frames_kept >= data_frames * 9 / 10, "MTU {mtu}: {r:?}");
    }
}

#[test]
fn lossy_simulated_transfer_is_intact_and_replays_from_its_seed() {
    let path = Path::new(100_000_000, Duration::from_millis(20), 0.02);
    let run = |seed| transfer::<SynackStack>(&TransferConfig::new(512 << 10, path, seed)).unwrap();
    let (a, b) = (run(3), run(3));
    assert_eq!(a, b, "same seed, same run");
    assert!(a.completed && a.intact, "{a:?}");
    assert!(
        a.lost_frames > 0,
        "2% loss over 512 KiB loses something: {a:?}"
    );
}

#[test]
fn handshakes_pass_through_time_wait_without_keeping_it() {
    let mut p = pair(Buffers::both(4096));
    for i in 0..50 {
        one_handshake(&mut p, 2000 + i).unwrap();
    }
    let server = p.b.stack();
    assert_eq!(server.stats().tcp.passive_opens, 50);
    let client = p.a.stack();
    // The active closer reaches TIME-WAIT, and the adapter keeps no table
    // (tcp_max_tw_buckets = 0, as smoltcp's side reuses its sockets).
    assert_eq!(client.stats().tcp_ext.tcp_time_wait_overflow, 50);
    assert_eq!(client.connection_count(), (0, 0));
}

#[test]
fn a_client_port_is_reusable_at_once_as_the_handshake_loop_needs() {
    let mut p = pair(Buffers::both(4096));
    // The handshake loop wraps around its 8,976 ports well within 60 s.
    for _ in 0..3 {
        one_handshake(&mut p, 2000).unwrap();
    }
    assert_eq!(p.b.stack().stats().tcp.passive_opens, 3);
}

#[test]
fn idle_connections_are_established_and_a_handshake_point_counts() {
    let mut p = pair(Buffers::both(4096));
    let conns = SynackStack::open_idle(&mut p, 300, 10_000).unwrap();
    assert_eq!(conns.len(), 300);
    for &(c, s) in &conns {
        assert_eq!(p.a.state(c), TcpState::Established);
        assert_eq!(p.b.state(s), TcpState::Established);
    }
    let cfg = HandshakeConfig {
        idle: 20,
        per_rep: 25,
        reps: 2,
        time_cap: std::time::Duration::from_secs(60),
        buffers: Buffers::both(512),
    };
    let point = handshake_point::<SynackStack>(&cfg).unwrap();
    assert_eq!(point.handshakes(), 50);
}
