//! Pair tests: two synack stacks on a simulated link, every behaviour of
//! issue 3 end to end, on virtual time.

use std::net::SocketAddrV4;

use synack_proto::stack::{ConnHandle, ConnectOptions, Event, Trace};
use synack_proto::tcp::TcpState;
use synack_proto::tcp::conn::{
    CloseReason, ConnError, RecvError, SendError, Shutdown, SocketOption,
};
use synack_proto::wire::TcpFlags;
use synack_proto::{Config, Duration, Instant};
use synack_sim::apps::{BulkReceiver, BulkSender, Finish, Pattern};
use synack_sim::scenario::{CLIENT, Pair, SERVER, SERVER_ADDR, Side};
use synack_sim::{Dir, FilterAction, LinkConfig, StackNode};

const RTT_LINK: Duration = Duration::from_millis(10);

fn link() -> LinkConfig {
    LinkConfig::new().delay(RTT_LINK)
}

/// A pair whose nodes keep every event, with state tracing on.
fn traced(seed: u64, client: Config, server: Config, link: LinkConfig) -> Pair {
    let mut p = Pair::with_nodes(
        seed,
        |s| StackNode::new(s).keeping_events(),
        |s| StackNode::new(s).keeping_events(),
        client,
        server,
        link,
    );
    let trace = Trace {
        states: true,
        segments: true,
        congestion: false,
    };
    p.client().set_trace(trace);
    p.server().set_trace(trace);
    p
}

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

/// Listens, connects, runs until both ends are established and accepted.
fn connect(p: &mut Pair) -> (ConnHandle, ConnHandle) {
    let l = p.server().tcp_listen(SERVER_ADDR, 16).unwrap();
    let now = p.now();
    let c = p
        .client()
        .tcp_connect(now, SERVER_ADDR, ConnectOptions::default())
        .unwrap();
    let deadline = p.now() + Duration::from_secs(200);
    p.run_until(
        |p| {
            p.server_ref()
                .sockets()
                .any(|s| s.state == TcpState::Listen && s.recv_q > 0)
        },
        deadline,
    )
    .expect("the handshake completes");
    let s = p.server().tcp_accept(l).unwrap();
    assert_eq!(p.client_ref().tcp_state(c), TcpState::Established);
    (c, s)
}

/// State histories from kept events, per 4-tuple side.
fn states_of(node: &StackNode) -> Vec<TcpState> {
    node.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

fn read_all(p: &mut Pair, c: ConnHandle, server: bool) -> Vec<u8> {
    let now = p.now();
    let stack = if server { p.server() } else { p.client() };
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stack.tcp_recv(now, c, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn syn_flags(frame: &[u8]) -> Option<TcpFlags> {
    frame.get(33).map(|&f| TcpFlags(f))
}

#[test]
fn a_connection_lives_its_whole_life_on_a_clean_link() {
    let mut p = traced(1, Config::default(), Config::default(), link());
    let (c, s) = connect(&mut p);
    let now = p.now();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    while sent < data.len() {
        match p.client().tcp_send(now, c, &data[sent..]) {
            Ok(n) => sent += n,
            Err(SendError::WouldBlock) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let mut got = Vec::new();
    while got.len() < data.len() {
        p.run_for(Duration::from_millis(5)).unwrap();
        got.extend(read_all(&mut p, s, true));
        let now = p.now();
        while sent < data.len() {
            match p.client().tcp_send(now, c, &data[sent..]) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        assert!(p.now() < secs(10));
    }
    assert_eq!(got, data);
    let now = p.now();
    p.client().tcp_close(now, c);
    p.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(read_all(&mut p, s, true), b"", "end of stream");
    let now = p.now();
    p.server().tcp_close(now, s);
    p.run_until(|p| p.client_ref().connection_count() == (0, 0), secs(100))
        .unwrap();
    let client = p.world.node::<StackNode>(p.client);
    let server = p.world.node::<StackNode>(p.server);
    use TcpState::*;
    assert_eq!(
        states_of(client),
        [SynSent, Established, FinWait1, FinWait2, TimeWait, Closed]
    );
    assert_eq!(
        states_of(server),
        [SynReceived, Established, CloseWait, LastAck, Closed]
    );
    // TIME-WAIT lasted 2 MSL.
    let tw = |to| {
        client
            .events
            .iter()
            .find_map(|(t, e)| {
                matches!(e, Event::StateChanged { to: x, .. } if *x == to).then_some(*t)
            })
            .unwrap()
    };
    assert_eq!(tw(Closed) - tw(TimeWait), Duration::from_secs(60));
    let info_rtt = p.client_ref().stats().tcp.retrans_segs;
    assert_eq!(info_rtt, 0, "no loss, no retransmission");
}

#[test]
fn a_lost_syn_is_retransmitted_one_second_later() {
    let mut p = traced(2, Config::default(), Config::default(), link());
    let mut dropped = false;
    p.world.set_filter(p.link, Dir::AToB, move |_, frame| {
        if !dropped && syn_flags(frame) == Some(TcpFlags::SYN) {
            dropped = true;
            return FilterAction::Drop;
        }
        FilterAction::Pass
    });
    let (c, _) = connect(&mut p);
    let established = p.now();
    assert!(established >= secs(1) && established < secs(1) + Duration::from_millis(50));
    // The SYN-ACK's timestamp echo names the retransmitted SYN (RFC 7323
    // §4.1), so the handshake still measured the RTT: 2 x 10 ms.
    let info = p.client_ref().tcp_info(c).unwrap();
    assert_eq!(info.rtt, 20_000);
    assert_eq!(p.client_ref().stats().tcp_ext.tcp_syn_retrans, 1);
}

#[test]
fn a_lost_syn_ack_is_retransmitted_one_second_later() {
    let mut p = traced(3, Config::default(), Config::default(), link());
    let mut dropped = false;
    p.world.set_filter(p.link, Dir::BToA, move |_, frame| {
        if !dropped && syn_flags(frame) == Some(TcpFlags::SYN | TcpFlags::ACK) {
            dropped = true;
            return FilterAction::Drop;
        }
        FilterAction::Pass
    });
    let (_, s) = connect(&mut p);
    assert!(p.now() >= secs(1));
    // The client's SYN retransmission (at 1 s) and the server's own SYN-ACK
    // timer (at 1 s) race; either way the server sent its SYN-ACK again.
    assert!(p.server_ref().stats().tcp.out_segs >= 2);
    assert_eq!(p.server_ref().tcp_state(s), TcpState::Established);
}

#[test]
fn connecting_to_a_silent_host_fails_after_127_seconds() {
    let mut p = traced(
        4,
        Config::default(),
        Config::default(),
        link().random_loss(1.0),
    );
    let now = p.now();
    let c = p
        .client()
        .tcp_connect(now, SERVER_ADDR, ConnectOptions::default())
        .unwrap();
    let at = p
        .run_until(
            |p| p.client_ref().tcp_state(c) == TcpState::Closed,
            secs(300),
        )
        .unwrap();
    assert_eq!(at, secs(127));
    let mut buf = [0u8; 1];
    assert_eq!(
        p.client().tcp_recv(at, c, &mut buf),
        Err(RecvError::Connection(ConnError::TimedOut))
    );
    assert_eq!(p.client_ref().stats().tcp_ext.tcp_syn_retrans, 6);
}

#[test]
fn a_closed_port_refuses_the_connection() {
    let mut p = traced(5, Config::default(), Config::default(), link());
    let now = p.now();
    let c = p
        .client()
        .tcp_connect(now, SocketAddrV4::new(SERVER, 9), ConnectOptions::default())
        .unwrap();
    p.run_for(Duration::from_millis(100)).unwrap();
    let events = &p.world.node::<StackNode>(p.client).events;
    assert!(events.iter().any(|(_, e)| *e
        == Event::Closed {
            conn: c,
            reason: CloseReason::Refused
        }));
    assert_eq!(p.server_ref().stats().tcp.out_rsts, 1);
}

#[test]
fn data_for_a_forgotten_connection_is_reset() {
    let mut p = traced(6, Config::default(), Config::default(), link());
    let (c, _) = connect(&mut p);
    // The server "reboots": a fresh stack knows nothing of the connection.
    let fresh = synack_proto::Stack::new(
        Config {
            seed: 99,
            ..Config::default()
        },
        synack_proto::stack::Interface::ip(SERVER, 24),
    );
    p.server_node().stack = fresh;
    let now = p.now();
    p.client().tcp_send(now, c, b"anyone there?").unwrap();
    p.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(p.client_ref().tcp_state(c), TcpState::Closed);
    let mut buf = [0u8; 4];
    assert_eq!(
        p.client().tcp_recv(now, c, &mut buf),
        Err(RecvError::Connection(ConnError::Reset))
    );
}

#[test]
fn simultaneous_open_establishes_one_connection() {
    let mut p = traced(7, Config::default(), Config::default(), link());
    let (a_port, b_port) = (5000, 6000);
    let now = p.now();
    let a = p
        .client()
        .tcp_connect(
            now,
            SocketAddrV4::new(SERVER, b_port),
            ConnectOptions {
                local_port: Some(a_port),
                ..ConnectOptions::default()
            },
        )
        .unwrap();
    let b = p
        .server()
        .tcp_connect(
            now,
            SocketAddrV4::new(CLIENT, a_port),
            ConnectOptions {
                local_port: Some(b_port),
                ..ConnectOptions::default()
            },
        )
        .unwrap();
    p.run_for(Duration::from_millis(200)).unwrap();
    assert_eq!(p.client_ref().tcp_state(a), TcpState::Established);
    assert_eq!(p.server_ref().tcp_state(b), TcpState::Established);
    use TcpState::*;
    assert_eq!(
        states_of(p.world.node::<StackNode>(p.client)),
        [SynSent, SynReceived, Established]
    );
    let now = p.now();
    p.client().tcp_send(now, a, b"crossed").unwrap();
    p.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(read_all(&mut p, b, true), b"crossed");
}

#[test]
fn simultaneous_close_goes_through_closing_on_both_sides() {
    let mut p = traced(8, Config::default(), Config::default(), link());
    let (c, s) = connect(&mut p);
    let now = p.now();
    p.client().tcp_shutdown(now, c, Shutdown::Write).unwrap();
    p.server().tcp_shutdown(now, s, Shutdown::Write).unwrap();
    p.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(p.client_ref().tcp_state(c), TcpState::TimeWait);
    assert_eq!(p.server_ref().tcp_state(s), TcpState::TimeWait);
    for node in [p.client, p.server] {
        let states = states_of(p.world.node::<StackNode>(node));
        assert!(states.contains(&TcpState::Closing), "{states:?}");
    }
}

#[test]
fn half_close_lets_data_flow_the_other_way() {
    let mut p = traced(9, Config::default(), Config::default(), link());
    let (c, s) = connect(&mut p);
    let now = p.now();
    p.client().tcp_send(now, c, b"request").unwrap();
    p.client().tcp_shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(read_all(&mut p, s, true), b"request", "then end of stream");
    assert_eq!(p.server_ref().tcp_state(s), TcpState::CloseWait);
    let now = p.now();
    p.server().tcp_send(now, s, b"response").unwrap();
    p.server().tcp_close(now, s);
    p.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(read_all(&mut p, c, false), b"response");
    let mut buf = [0u8; 1];
    assert_eq!(p.client().tcp_recv(now, c, &mut buf), Ok(0));
    assert_eq!(p.client_ref().tcp_state(c), TcpState::TimeWait);
    assert_eq!(
        p.client().tcp_send(now, c, b"x"),
        Err(SendError::WriteShutdown)
    );
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    let mut p = traced(10, Config::default(), Config::default(), link());
    let (c, s) = connect(&mut p);
    let now = p.now();
    p.client().tcp_send(now, c, b"never read").unwrap();
    p.run_for(Duration::from_millis(100)).unwrap();
    let now = p.now();
    p.server().tcp_close(now, s);
    p.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(p.client_ref().tcp_state(c), TcpState::Closed);
    assert_eq!(p.server_ref().stats().tcp_ext.tcp_abort_on_close, 1);
    let events = &p.world.node::<StackNode>(p.client).events;
    assert!(events.iter().any(|(_, e)| *e
        == Event::Closed {
            conn: c,
            reason: CloseReason::Reset
        }));
    assert_eq!(p.server_ref().connection_count(), (0, 0), "no TIME-WAIT");
}

#[test]
fn linger_zero_resets_instead_of_a_graceful_close() {
    let mut p = traced(11, Config::default(), Config::default(), link());
    let (c, s) = connect(&mut p);
    let now = p.now();
    p.client()
        .tcp_set_option(now, c, SocketOption::Linger(Some(Duration::ZERO)))
        .unwrap();
    p.client().tcp_close(now, c);
    p.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(p.client_ref().connection_count(), (0, 0), "no TIME-WAIT");
    assert_eq!(p.server_ref().tcp_state(s), TcpState::Closed);
}

#[test]
fn a_newer_syn_reopens_a_time_wait_four_tuple() {
    let mut p = traced(12, Config::default(), Config::default(), link());
    let l = p.server().tcp_listen(SERVER_ADDR, 8).unwrap();
    let opts = ConnectOptions {
        local_port: Some(41_000),
        ..ConnectOptions::default()
    };
    let now = p.now();
    let c = p
        .client()
        .tcp_connect(now, SERVER_ADDR, opts.clone())
        .unwrap();
    p.run_for(Duration::from_millis(100)).unwrap();
    let s = p.server().tcp_accept(l).unwrap();
    // The server closes first: its side ends in TIME-WAIT.
    let now = p.now();
    p.server().tcp_close(now, s);
    p.run_for(Duration::from_millis(100)).unwrap();
    let now = p.now();
    p.client().tcp_close(now, c);
    p.run_for(Duration::from_secs(5)).unwrap();
    assert_eq!(p.server_ref().connection_count(), (0, 1), "TIME-WAIT");
    // Same 4-tuple, later: the client's ISN clock has moved on (RFC 6528).
    let now = p.now();
    let c2 = p.client().tcp_connect(now, SERVER_ADDR, opts).unwrap();
    p.run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(p.client_ref().tcp_state(c2), TcpState::Established);
    assert_eq!(p.server_ref().stats().tcp_ext.tw_recycled, 1);
    assert!(p.server().tcp_accept(l).is_ok());
}

#[test]
fn a_slow_reader_closes_the_window_and_persist_probes_keep_the_sender_waiting() {
    let pattern = Pattern::new(13);
    let mut rx_config = Config::default();
    rx_config.tcp_rmem.default = 16 * 1024;
    let mut p = Pair::with_nodes(
        13,
        |s| {
            StackNode::with_app(
                s,
                BulkSender::new(SERVER_ADDR, 200_000, pattern, Finish::Close),
            )
        },
        |s| {
            let mut rx = BulkReceiver::new(SERVER_ADDR, pattern);
            rx.reading = false;
            StackNode::with_app(s, rx)
        },
        Config::default(),
        rx_config,
        link(),
    );
    p.run_for(Duration::from_secs(30)).unwrap();
    let client = p.client;
    let stalled = p
        .world
        .node::<StackNode>(client)
        .app::<BulkSender>()
        .unwrap();
    let conn = stalled.conn.unwrap();
    assert_eq!(
        p.client_ref().tcp_info(conn).unwrap().snd_wnd,
        0,
        "zero window"
    );
    let probes = p.client_ref().stats().tcp_ext.tcp_win_probe;
    assert!(probes >= 3, "{probes} probes in 30 s");
    assert_eq!(p.client_ref().tcp_state(conn), TcpState::Established);
    // The reader wakes up: a window update, and the rest flows.
    p.server_node().app_mut::<BulkReceiver>().unwrap().reading = true;
    let _ = p.server();
    p.run_until(|p| p.bulk_receiver().eof_at.is_some(), secs(300))
        .unwrap();
    let rx = p.bulk_receiver();
    assert_eq!((rx.received, rx.mismatch), (200_000, None));
}

#[test]
fn window_scaling_keeps_a_long_fat_pipe_full() {
    let pattern = Pattern::new(14);
    let mut config = Config::default();
    config.tcp_rmem.default = 4 << 20;
    let long_fat = LinkConfig::new()
        .delay(Duration::from_millis(50))
        .bandwidth(1_000_000_000)
        .queue_limit(16 << 20);
    let bytes = 32 << 20;
    let mut p = Pair::bulk(14, bytes, pattern, config.clone(), config, long_fat);
    let client = p.client;
    let done = p
        .run_until(|p| p.bulk_receiver().eof_at.is_some(), secs(120))
        .unwrap();
    let rx = p.bulk_receiver();
    assert_eq!((rx.received, rx.mismatch), (bytes, None));
    // Without scaling the window caps throughput at 64 KiB per 100 ms RTT
    // (5 Mbit/s, over 50 s for 32 MiB); with it, a few seconds.
    assert!(done < secs(10), "took {done:?}");
    let tx = p
        .world
        .node::<StackNode>(client)
        .app::<BulkSender>()
        .unwrap();
    let _ = tx;
}

#[test]
fn keepalive_finds_a_dead_peer_and_keeps_a_live_one() {
    let mut p = traced(15, Config::default(), Config::default(), link());
    let (c, _s) = connect(&mut p);
    let now = p.now();
    for opt in [
        SocketOption::KeepAlive(true),
        SocketOption::KeepIdle(Duration::from_secs(10)),
        SocketOption::KeepInterval(Duration::from_secs(2)),
        SocketOption::KeepCount(3),
    ] {
        p.client().tcp_set_option(now, c, opt).unwrap();
    }
    // A live peer answers: still established after minutes.
    p.run_for(Duration::from_secs(120)).unwrap();
    assert_eq!(p.client_ref().tcp_state(c), TcpState::Established);
    assert!(p.client_ref().stats().tcp_ext.tcp_keep_alive >= 10);
    // The peer goes silent.
    let mut cfg = p.world.link_config(p.link, Dir::BToA).clone();
    cfg = cfg.random_loss(1.0);
    p.world.set_link_config(p.link, Dir::BToA, cfg);
    let dead_at = p.now();
    let at = p
        .run_until(
            |p| p.client_ref().tcp_state(c) == TcpState::Closed,
            dead_at + Duration::from_secs(60),
        )
        .unwrap();
    // At most one idle period, then three probes 2 s apart, then the end.
    assert!(
        at - dead_at <= Duration::from_secs(10 + 8),
        "{:?}",
        at - dead_at
    );
    let mut buf = [0u8; 1];
    assert_eq!(
        p.client().tcp_recv(at, c, &mut buf),
        Err(RecvError::Connection(ConnError::TimedOut))
    );
}

#[test]
fn retransmissions_give_up_after_tcp_retries2_or_the_user_timeout() {
    let config = Config {
        tcp_retries2: 5,
        ..Config::default()
    };
    let mut p = traced(16, config.clone(), config, link());
    let (c, _s) = connect(&mut p);
    p.world
        .set_link_config(p.link, Dir::AToB, link().random_loss(1.0));
    let start = p.now();
    p.client().tcp_send(start, c, b"lost forever").unwrap();
    let at = p
        .run_until(
            |p| p.client_ref().tcp_state(c) == TcpState::Closed,
            start + Duration::from_secs(100),
        )
        .unwrap();
    // tcp_model_timeout(5, 200 ms) = 12.6 s, checked when the timer fires.
    let took = at - start;
    assert!(
        took >= Duration::from_millis(12_600) && took < Duration::from_secs(30),
        "{took:?}"
    );
    assert_eq!(p.client_ref().stats().tcp_ext.tcp_abort_on_timeout, 1);
}

#[test]
fn an_injected_in_window_reset_draws_a_challenge_ack_and_changes_nothing() {
    let mut p = traced(17, Config::default(), Config::default(), link());
    let (c, s) = connect(&mut p);
    // Forge a RST from the server, in the client's window but not at RCV.NXT.
    let (local, remote) = p.client_ref().tcp_addrs(c).unwrap();
    // The server's next sequence number: that of its last segment (a bare ACK).
    let server_next = p
        .world
        .node::<StackNode>(p.client)
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            Event::Segment {
                dir: synack_proto::stack::Direction::In,
                segment,
                ..
            } => Some(segment.seq),
            _ => None,
        })
        .unwrap();
    let forged = forge_rst(remote, local, server_next.raw().wrapping_add(1000));
    let now = p.now();
    p.client().handle_frame(now, &forged);
    p.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(p.client_ref().tcp_state(c), TcpState::Established);
    assert_eq!(p.client_ref().stats().tcp_ext.tcp_challenge_ack, 1);
    let now = p.now();
    p.client().tcp_send(now, c, b"still here").unwrap();
    p.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(read_all(&mut p, s, true), b"still here");
}

fn forge_rst(src: SocketAddrV4, dst: SocketAddrV4, seq: u32) -> Vec<u8> {
    use synack_proto::tcp::segment::{SegmentHeader, write_segment};
    use synack_proto::wire::{Checksum, IpProtocol, Ipv4Packet, Ipv4Repr, TcpOptions};
    let mut buf = vec![0u8; 40];
    let header = SegmentHeader {
        seq: synack_proto::SeqNum(seq),
        ack: None,
        flags: TcpFlags::RST,
        window: 0,
        options: TcpOptions::default(),
    };
    let n = write_segment(&mut buf[20..], src, dst, &header, (&[], &[])).unwrap();
    Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        protocol: IpProtocol::Tcp,
        payload_len: n as u16,
        ttl: 64,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    }
    .emit(
        &mut Ipv4Packet::new_unchecked(&mut buf[..20]),
        Checksum::Full,
    );
    buf
}

#[test]
fn nagle_coalesces_small_writes_and_nodelay_sends_each() {
    for nodelay in [false, true] {
        let mut p = traced(18, Config::default(), Config::default(), link());
        let (c, s) = connect(&mut p);
        let now = p.now();
        if nodelay {
            p.client()
                .tcp_set_option(now, c, SocketOption::NoDelay(true))
                .unwrap();
        }
        let before = p.client_ref().stats().tcp.out_segs;
        for _ in 0..10 {
            let now = p.now();
            p.client().tcp_send(now, c, b"0123456789").unwrap();
            p.run_for(Duration::from_millis(1)).unwrap();
        }
        p.run_for(Duration::from_millis(200)).unwrap();
        assert_eq!(read_all(&mut p, s, true).len(), 100);
        let segments = p.client_ref().stats().tcp.out_segs - before;
        if nodelay {
            assert_eq!(segments, 10, "one segment per write");
        } else {
            assert!(
                segments <= 3,
                "Nagle: the first alone, the rest together: {segments}"
            );
        }
    }
}

#[test]
fn the_mss_follows_the_smaller_mtu_and_timestamps() {
    let small = Config {
        mtu: 1000,
        ..Config::default()
    };
    let mut p = traced(19, Config::default(), small, link());
    let (c, s) = connect(&mut p);
    let info = p.client_ref().tcp_info(c).unwrap();
    assert_eq!(
        info.snd_mss,
        960 - 12,
        "the server's MSS, minus 12 bytes of timestamps"
    );
    assert_eq!(p.server_ref().tcp_info(s).unwrap().snd_mss, 948);
    let now = p.now();
    p.client().tcp_send(now, c, &[7; 5000]).unwrap();
    p.run_for(Duration::from_millis(100)).unwrap();
    let biggest = p
        .world
        .node::<StackNode>(p.client)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Segment { segment, .. } => Some(segment.len),
            _ => None,
        })
        .max()
        .unwrap();
    assert_eq!(biggest, 948);
}

#[test]
fn timestamps_measure_the_round_trip_time() {
    let mut p = traced(20, Config::default(), Config::default(), link());
    let (c, _) = connect(&mut p);
    let now = p.now();
    p.client().tcp_send(now, c, &[1; 50_000]).unwrap();
    p.run_for(Duration::from_secs(1)).unwrap();
    let info = p.client_ref().tcp_info(c).unwrap();
    // 2 x 10 ms of propagation, plus delayed-ACK effects at most.
    assert!((20_000..70_000).contains(&info.rtt), "srtt {} µs", info.rtt);
    assert!(info.min_rtt >= 20_000);
    assert_eq!(info.options & 1, 1, "timestamps on");
}

#[test]
fn reordering_and_duplication_alone_lose_and_repeat_nothing() {
    let pattern = Pattern::new(21);
    let bytes = 2 << 20;
    let link = link()
        .reorder(0.2, Duration::from_millis(4))
        .duplicate(0.2, Duration::from_micros(100));
    let mut p = Pair::bulk(
        21,
        bytes,
        pattern,
        Config::default(),
        Config::default(),
        link,
    );
    p.run_until(|p| p.bulk_receiver().eof_at.is_some(), secs(120))
        .unwrap();
    let rx = p.bulk_receiver();
    assert_eq!((rx.received, rx.mismatch), (bytes, None));
    let stats = p.server_ref().stats();
    assert!(
        stats.tcp_ext.tcp_ofo_queue > 0,
        "out-of-order data was queued"
    );
    assert!(
        stats.tcp_ext.tcp_dsack_old_sent > 0,
        "duplicates were seen and dropped"
    );
}

#[test]
fn corrupted_frames_are_dropped_counted_and_repaired() {
    let pattern = Pattern::new(22);
    let bytes = 1 << 20;
    let mut p = Pair::bulk(
        22,
        bytes,
        pattern,
        Config::default(),
        Config::default(),
        link().corrupt(0.05),
    );
    p.run_until(|p| p.bulk_receiver().eof_at.is_some(), secs(300))
        .unwrap();
    let rx = p.bulk_receiver();
    assert_eq!((rx.received, rx.mismatch), (bytes, None));
    let link = *p.world.link_stats(p.link, Dir::AToB);
    let s = p.server_ref().stats();
    assert!(link.corrupted > 10);
    assert_eq!(
        s.tcp.in_errs + s.ip.in_hdr_errors + s.ip.in_truncated_pkts,
        link.corrupted + link.duplicated_corrupted
    );
    assert!(s.tcp.in_csum_errors > 0);
}

#[test]
fn a_capture_of_the_link_reads_back_as_raw_ip() {
    use synack_sim::pcap::{LinkType, SharedBuf};
    let mut p = traced(23, Config::default(), Config::default(), link());
    let buf = SharedBuf::new();
    p.world
        .capture_to(
            p.link,
            buf.clone(),
            LinkType::Raw,
            synack_sim::CapturePoint::Sent,
        )
        .unwrap();
    let (c, _) = connect(&mut p);
    let now = p.now();
    p.client().tcp_close(now, c);
    p.run_for(Duration::from_millis(200)).unwrap();
    p.world.flush_captures().unwrap();
    let bytes = buf.contents();
    let reader = synack_proto::wire::pcap::PcapReader::new(&bytes).unwrap();
    let mut count = 0;
    for record in reader {
        let record = record.unwrap();
        let ip = synack_proto::wire::Ipv4Packet::new_checked(record.data).unwrap();
        assert_eq!(ip.version(), 4);
        count += 1;
    }
    assert!(count >= 5, "SYN, SYN-ACK, ACK, FIN, ACK: {count}");
}

#[test]
fn scenario_helpers_run_until_established_and_until_bytes_arrive() {
    let mut p = Pair::new(24, Config::default(), Config::default(), link());
    let l = p.server().tcp_listen(SERVER_ADDR, 4).unwrap();
    let now = p.now();
    let c = p
        .client()
        .tcp_connect(now, SERVER_ADDR, ConnectOptions::default())
        .unwrap();
    let at = p.run_until_established(Side::Client, c, secs(5)).unwrap();
    assert_eq!(at, Instant::from_millis(20), "one round trip");
    p.run_for(Duration::from_millis(20)).unwrap();
    let s = p.server().tcp_accept(l).unwrap();
    let now = p.now();
    p.client().tcp_send(now, c, b"0123456789").unwrap();
    let got = p.recv_exact(Side::Server, s, 10, secs(5)).unwrap();
    assert_eq!(got, b"0123456789");
    // A connection that cannot be established is reported, not waited for.
    let now = p.now();
    let refused = p
        .client()
        .tcp_connect(now, SocketAddrV4::new(SERVER, 7), ConnectOptions::default())
        .unwrap();
    assert!(
        p.run_until_established(Side::Client, refused, secs(10))
            .is_err()
    );
}
