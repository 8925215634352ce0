//! The harness measures what it says: transfers verify every byte, goodput
//! is bytes over time, runs are deterministic per seed, handshakes and idle
//! connections do what they claim, two stacks' repetitions alternate.
//! Exercised with smoltcp (and synack beside it); no timed asserts.

use synack_bench::bulk::{BulkConfig, bulk_once};
use synack_bench::handshake::{
    HANDSHAKE_BUFFERS, HandshakeConfig, HandshakeRun, handshake_point,
    handshake_points_alternating, one_handshake,
};
use synack_bench::stack::{CLIENT_ADDR, SERVER_ADDR};
use synack_bench::transfer::{Path, TransferConfig, transfer};
use synack_bench::{BenchStack, Buffers, HostConfig, Pair, SmolStack, SynackStack, TcpState};
use synack_proto::Duration;

fn pair(capacity: usize, buffers: Buffers) -> Pair<SmolStack> {
    let host = |addr, seed| HostConfig {
        buffers,
        seed,
        capacity,
        ..HostConfig::new(addr)
    };
    Pair::new(&host(CLIENT_ADDR, 1), &host(SERVER_ADDR, 2))
}

#[test]
fn in_memory_bulk_delivers_every_byte_at_both_mtus() {
    for mtu in [1500, 65535] {
        let mut cfg = BulkConfig::new(mtu);
        cfg.bytes = 3 << 20;
        let r = bulk_once::<SmolStack>(&cfg).unwrap();
        assert!(r.intact, "MTU {mtu}: {r:?}");
        assert_eq!(r.bytes, 3 << 20);
        // Segments are at most MTU - 40 bytes: at least this many frames.
        assert!(
            r.frames >= (3 << 20) / (mtu as u64 - 40),
            "MTU {mtu}: {r:?}"
        );
        let expect = r.bytes as f64 * 8.0 / r.seconds / 1e9;
        assert!((r.gbps - expect).abs() <= 1e-9 * expect.max(1.0), "{r:?}");
    }
}

#[test]
fn simulated_transfer_checks_bytes_and_reports_bytes_over_virtual_time() {
    let path = Path::new(10_000_000, Duration::from_millis(10), 0.0);
    let cfg = TransferConfig::new(1 << 20, path, 7);
    let r = transfer::<SmolStack>(&cfg).unwrap();
    assert!(r.completed && r.intact, "{r:?}");
    assert_eq!(r.bytes, 1 << 20);
    assert_eq!(r.goodput_bps, r.bytes as f64 * 8.0 / r.seconds);
    // No stack beats the link: 1 MiB at 10 Mbit/s takes at least 0.84 s.
    assert!(r.seconds >= (1u64 << 20) as f64 * 8.0 / 10e6, "{r:?}");
    assert!(r.goodput_bps <= 10e6, "{r:?}");
    assert_eq!(r.lost_frames, 0);
}

#[test]
fn a_lossy_transfer_replays_exactly_from_its_seed() {
    let path = Path::new(100_000_000, Duration::from_millis(20), 0.02);
    let run = |seed| transfer::<SmolStack>(&TransferConfig::new(512 << 10, path, seed)).unwrap();
    let (a, b, c) = (run(3), run(3), run(4));
    assert_eq!(a, b, "same seed, same run");
    assert!(a.completed && a.intact && c.completed && c.intact);
    assert!(
        a.lost_frames > 0,
        "2% loss over ~360 frames loses some: {a:?}"
    );
    assert_ne!(a, c, "another seed, another loss pattern");
}

#[test]
fn one_byte_buffers_still_carry_data() {
    // `memory` measures smoltcp with 1-byte buffers and calls them working.
    let path = Path::new(10_000_000, Duration::from_millis(2), 0.0);
    let mut cfg = TransferConfig::new(300, path, 1);
    cfg.buffers = Buffers::both(1);
    let r = transfer::<SmolStack>(&cfg).unwrap();
    assert!(r.completed && r.intact, "{r:?}");
}

#[test]
fn idle_connections_are_all_established_in_order_across_batches() {
    let mut p = pair(400, Buffers::both(64));
    // 300 crosses smoltcp's 256-connection staging batch.
    let conns = SmolStack::open_idle(&mut p, 300, 10_000).unwrap();
    assert_eq!(conns.len(), 300);
    for (i, &(c, s)) in conns.iter().enumerate() {
        assert_eq!(p.a.state(c), TcpState::Established, "client {i}");
        assert_eq!(p.b.state(s), TcpState::Established, "server {i}");
        let want = 10_000 + i as u16;
        assert_eq!(p.a.socket(c).local_endpoint().unwrap().port, want);
        assert_eq!(p.b.socket(s).remote_endpoint().unwrap().port, want);
    }
    assert_eq!(p.a.socket_count(), 300);
    assert_eq!(p.b.socket_count(), 300);
    // Idle: nothing left to send.
    assert_eq!(p.step(), 0);
}

#[test]
fn a_handshake_ends_with_client_in_time_wait_and_sockets_reused() {
    let mut p = pair(8, Buffers::both(4096));
    for i in 0..50 {
        one_handshake(&mut p, 2000 + i).unwrap();
    }
    // The released listener and client sockets were reused every time.
    assert_eq!(p.a.socket_count(), 1);
    assert_eq!(p.b.socket_count(), 1);
    let (_, sockets) = p.a.parts();
    let states: Vec<_> = sockets
        .iter()
        .filter_map(|(_, s)| match s {
            smoltcp::socket::Socket::Tcp(t) => Some(t.state()),
            #[allow(unreachable_patterns)]
            _ => None,
        })
        .collect();
    assert_eq!(states, [smoltcp::socket::tcp::State::TimeWait]);
    let (_, sockets) = p.b.parts();
    assert!(sockets.iter().all(|(_, s)| match s {
        smoltcp::socket::Socket::Tcp(t) => t.state() == smoltcp::socket::tcp::State::Closed,
        #[allow(unreachable_patterns)]
        _ => false,
    }));
}

#[test]
fn a_handshake_point_counts_what_it_did() {
    let cfg = HandshakeConfig {
        idle: 20,
        per_rep: 25,
        reps: 3,
        time_cap: std::time::Duration::from_secs(60),
        buffers: Buffers::both(512),
    };
    let p = handshake_point::<SmolStack>(&cfg).unwrap();
    assert_eq!(p.idle, 20);
    assert_eq!(p.runs.len(), 3);
    assert_eq!(p.handshakes(), 75);
    for r in &p.runs {
        assert_eq!(r.per_sec, r.handshakes as f64 / r.seconds);
    }
}

#[test]
fn a_point_of_two_stacks_alternates_their_repetitions() {
    let cfg = HandshakeConfig {
        idle: 20,
        per_rep: 25,
        reps: 3,
        time_cap: std::time::Duration::from_secs(60),
        buffers: HANDSHAKE_BUFFERS,
    };
    let (a, b) = handshake_points_alternating::<SmolStack, SynackStack>(&cfg).unwrap();
    assert_eq!((a.idle, b.idle), (20, 20));
    assert_eq!((a.handshakes(), b.handshakes()), (75, 75));
    assert_eq!((a.runs.len(), b.runs.len()), (3, 3));
    // Interleaved in time: each repetition ends before the other stack's
    // next one starts (1 µs of slack for the float conversions).
    let end = |r: &HandshakeRun| r.started + r.seconds - 1e-6;
    for i in 0..3 {
        assert!(end(&a.runs[i]) <= b.runs[i].started, "{a:?} {b:?}");
        if let Some(next) = a.runs.get(i + 1) {
            assert!(end(&b.runs[i]) <= next.started, "{a:?} {b:?}");
        }
    }
}
