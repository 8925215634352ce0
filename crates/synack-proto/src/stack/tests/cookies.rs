//! SYN cookies (RFC 4987 §3.6) through the stack: stateless SYN-ACKs,
//! options carried in the timestamp, connections made from a valid ACK,
//! forged ACKs, the three `tcp_syncookies` modes, and the per-source SYN
//! rate limit.

use super::*;
use crate::Rng;
use crate::config::SynCookieMode;
use crate::tcp::segment::SegmentHeader;
use crate::wire::tcp::TcpTimestamp;

const SERVER: SocketAddrV4 = SocketAddrV4::new(B, 80);
const T: Instant = Instant::from_secs(100);

fn client(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(A, port)
}

fn server(mode: SynCookieMode, syn_backlog: usize) -> (Stack, ListenerHandle) {
    let mut s = Stack::new(
        Config {
            seed: 9,
            tcp_syncookies: mode,
            tcp_max_syn_backlog: syn_backlog,
            ..Config::default()
        },
        Interface::ip(B, 24),
    );
    let l = s.tcp_listen(SERVER, 16).unwrap();
    (s, l)
}

/// A segment from `from` to the server, as an IP datagram.
fn seg(
    from: SocketAddrV4,
    flags: TcpFlags,
    seq: u32,
    ack: Option<u32>,
    options: TcpOptions,
) -> Vec<u8> {
    let header = SegmentHeader {
        seq: SeqNum(seq),
        ack: ack.map(SeqNum),
        flags,
        window: 502,
        options,
    };
    ip_datagram(
        *from.ip(),
        *SERVER.ip(),
        IpProtocol::Tcp,
        &tcp_bytes(from, SERVER, &header, b""),
    )
}

fn syn_options(ts: Option<u32>) -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: ts.map(|tsval| TcpTimestamp { tsval, tsecr: 0 }),
        ..TcpOptions::default()
    }
}

/// The SYN-ACK the server sends now: (seq, ack, options).
fn syn_ack(s: &mut Stack, now: Instant) -> (u32, u32, TcpOptions) {
    let out = drain_seen(s, now);
    assert_eq!(out.len(), 1, "{out:?}");
    match &out[0] {
        Seen::Tcp {
            flags,
            seq,
            ack,
            options,
            ..
        } if *flags == TcpFlags::SYN | TcpFlags::ACK => (*seq, ack.unwrap(), *options),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_cookie_syn_ack_keeps_nothing_and_carries_the_options_in_its_timestamp() {
    let (mut s, l) = server(SynCookieMode::Always, 1024);
    s.handle_frame(
        T,
        &seg(
            client(40000),
            TcpFlags::SYN,
            1000,
            None,
            syn_options(Some(100)),
        ),
    );
    let (cookie, ack, opts) = syn_ack(&mut s, T);
    assert_eq!(ack, 1001);
    assert_eq!(opts.mss, Some(1460));
    assert!(opts.sack_permitted);
    assert_eq!(opts.window_scale, Some(7), "ours, as the peer offered one");
    let ts = opts.timestamp.unwrap();
    assert_eq!(ts.tsecr, 100);
    // Linux `cookie_init_timestamp`: wscale 7 in bits 0-3, SACK in bit 4.
    assert_eq!(ts.tsval & 0x3F, 7 | 0x10);
    // No memory per SYN, and nothing is ever retransmitted.
    assert_eq!(s.connection_count(), (0, 0));
    assert_eq!(s.tcp_listener_queues(l), Some((0, 0)));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.stats().tcp_ext.syncookies_sent, 1);
    // The ACK makes the connection, with what the cookie carried.
    let options = TcpOptions {
        timestamp: Some(TcpTimestamp {
            tsval: 101,
            tsecr: ts.tsval,
        }),
        ..TcpOptions::default()
    };
    let t = T + Duration::from_millis(10);
    s.handle_frame(
        t,
        &seg(
            client(40000),
            TcpFlags::ACK,
            1001,
            Some(cookie + 1),
            options,
        ),
    );
    assert!(
        drain_seen(&mut s, t).is_empty(),
        "no reset: the cookie is good"
    );
    assert_eq!(s.stats().tcp_ext.syncookies_recv, 1);
    assert!(events(&mut s).contains(&Event::AcceptReady(l)));
    let c = s.tcp_accept(l).unwrap();
    assert_eq!(s.tcp_state(c), TcpState::Established);
    let info = s.tcp_info(c).unwrap();
    assert_eq!(
        info.snd_mss,
        1460 - 12,
        "the cookie's MSS, less the timestamps"
    );
    assert_eq!((info.snd_wscale, info.rcv_wscale), (7, 7));
    assert_ne!(info.options & crate::tcp::conn::tcpi_options::SACK, 0);
}

#[test]
fn without_timestamps_a_cookie_carries_only_the_mss() {
    let (mut s, l) = server(SynCookieMode::Always, 1024);
    let mut o = syn_options(None);
    o.mss = Some(1000);
    s.handle_frame(T, &seg(client(40001), TcpFlags::SYN, 5, None, o));
    let (cookie, _, opts) = syn_ack(&mut s, T);
    assert_eq!(
        (opts.window_scale, opts.sack_permitted, opts.timestamp),
        (None, false, None),
        "Linux clears the other options"
    );
    s.handle_frame(
        T,
        &seg(
            client(40001),
            TcpFlags::ACK,
            6,
            Some(cookie + 1),
            TcpOptions::default(),
        ),
    );
    let c = s.tcp_accept(l).unwrap();
    let info = s.tcp_info(c).unwrap();
    assert_eq!(info.snd_mss, 536, "1000 encodes as the table's 536");
    assert_eq!((info.snd_wscale, info.options), (0, 0));
}

#[test]
fn a_cookie_syn_ack_offers_the_listeners_tcp_maxseg() {
    // mss-setsockopt-tcp_maxseg-server.pkt with cookies: the listener's
    // TCP_MAXSEG bounds the MSS a stateless SYN-ACK offers and the peer's
    // MSS the cookie keeps, as it does a connection's.
    let (mut s, l) = server(SynCookieMode::Always, 1024);
    s.tcp_listener_set_options(
        l,
        crate::tcp::conn::SocketOptions {
            max_segment: 1100,
            ..Default::default()
        },
    )
    .unwrap();
    let mut o = syn_options(None);
    o.mss = Some(1300);
    s.handle_frame(T, &seg(client(40002), TcpFlags::SYN, 5, None, o));
    let (cookie, _, opts) = syn_ack(&mut s, T);
    assert_eq!(opts.mss, Some(1100), "TCP_MAXSEG, not the MTU's 1460");
    s.handle_frame(
        T,
        &seg(
            client(40002),
            TcpFlags::ACK,
            6,
            Some(cookie + 1),
            TcpOptions::default(),
        ),
    );
    let c = s.tcp_accept(l).unwrap();
    let info = s.tcp_info(c).unwrap();
    assert_eq!(info.advmss, 1100);
    assert!(
        info.snd_mss <= 1100,
        "the cookie keeps at most TCP_MAXSEG: {}",
        info.snd_mss
    );
}

#[test]
fn mode_1_uses_cookies_only_once_the_syn_queue_is_full() {
    let (mut s, l) = server(SynCookieMode::Overflow, 2);
    for port in [1, 2] {
        s.handle_frame(
            T,
            &seg(client(port), TcpFlags::SYN, 7, None, syn_options(None)),
        );
    }
    let _ = drain_seen(&mut s, T);
    assert_eq!(s.tcp_listener_queues(l), Some((2, 0)));
    // An ACK that is no cookie, before any cookie was sent: just a reset.
    s.handle_frame(
        T,
        &seg(client(9), TcpFlags::ACK, 1, Some(1), TcpOptions::default()),
    );
    assert_eq!(drain_seen(&mut s, T)[0].label(), "tcp R 0");
    assert_eq!(s.stats().tcp_ext.syncookies_failed, 0);
    s.handle_frame(
        T,
        &seg(client(3), TcpFlags::SYN, 7, None, syn_options(None)),
    );
    let (cookie, _, _) = syn_ack(&mut s, T);
    assert_eq!(s.tcp_listener_queues(l), Some((2, 0)), "no entry for it");
    assert_eq!(s.stats().tcp_ext.tcp_req_q_full_do_cookies, 1);
    s.handle_frame(
        T,
        &seg(
            client(3),
            TcpFlags::ACK,
            8,
            Some(cookie + 1),
            TcpOptions::default(),
        ),
    );
    assert_eq!(s.tcp_listener_queues(l), Some((2, 1)));
    // A cookie lives two minutes at most.
    s.handle_frame(
        T,
        &seg(client(4), TcpFlags::SYN, 7, None, syn_options(None)),
    );
    let (old, _, _) = syn_ack(&mut s, T);
    let late = T + Duration::from_secs(121);
    s.handle_frame(
        late,
        &seg(
            client(4),
            TcpFlags::ACK,
            8,
            Some(old + 1),
            TcpOptions::default(),
        ),
    );
    assert_eq!(drain_seen(&mut s, late)[0].label(), "tcp R 0");
    assert_eq!(s.tcp_listener_queues(l).unwrap().1, 1);
}

#[test]
fn mode_0_drops_syns_beyond_the_syn_queue() {
    let (mut s, l) = server(SynCookieMode::Never, 2);
    for port in [1, 2, 3] {
        s.handle_frame(
            T,
            &seg(client(port), TcpFlags::SYN, 7, None, syn_options(None)),
        );
    }
    assert_eq!(drain_seen(&mut s, T).len(), 2);
    assert_eq!(s.tcp_listener_queues(l), Some((2, 0)));
    assert_eq!(s.stats().tcp_ext.tcp_req_q_full_drop, 1);
    assert_eq!(s.stats().tcp_ext.syncookies_sent, 0);
}

#[test]
fn a_cookie_ack_finding_the_accept_queue_full_is_dropped() {
    let mut s = Stack::new(
        Config {
            seed: 9,
            tcp_syncookies: SynCookieMode::Always,
            ..Config::default()
        },
        Interface::ip(B, 24),
    );
    // Backlog 0: room for one (Linux: backlog + 1).
    let l = s.tcp_listen(SERVER, 0).unwrap();
    let mut cookies = Vec::new();
    for port in [1, 2] {
        s.handle_frame(
            T,
            &seg(client(port), TcpFlags::SYN, 7, None, syn_options(None)),
        );
        cookies.push(syn_ack(&mut s, T).0);
    }
    for (port, cookie) in [(1, cookies[0]), (2, cookies[1])] {
        s.handle_frame(
            T,
            &seg(
                client(port),
                TcpFlags::ACK,
                8,
                Some(cookie + 1),
                TcpOptions::default(),
            ),
        );
    }
    assert_eq!(s.tcp_listener_queues(l), Some((0, 1)));
    assert_eq!(s.stats().tcp_ext.listen_overflows, 1);
    assert_eq!(s.connection_count(), (1, 0));
    // Later the client's retransmission still carries a valid cookie.
    s.tcp_accept(l).unwrap();
    s.handle_frame(
        T,
        &seg(
            client(2),
            TcpFlags::ACK,
            8,
            Some(cookies[1] + 1),
            TcpOptions::default(),
        ),
    );
    assert_eq!(s.tcp_listener_queues(l), Some((0, 1)));
}

/// `n` ACKs with random addresses, ports, sequence and acknowledgment
/// numbers; returns the connections they made.
fn forge(s: &mut Stack, n: u32, seed: u64) -> usize {
    let mut rng = Rng::from_seed(seed);
    let mut buf = [0u8; 1600];
    for i in 0..n {
        let src = Ipv4Addr::new(198, 51, 100, (rng.u32() % 250) as u8 + 1);
        let from = SocketAddrV4::new(src, (rng.u32() % 60_000) as u16 + 1024);
        let frame = seg(
            from,
            TcpFlags::ACK,
            rng.u32(),
            Some(rng.u32()),
            TcpOptions::default(),
        );
        s.handle_frame(T, &frame);
        if i % 512 == 0 {
            while s.poll_transmit(T, &mut buf).is_some() {}
        }
    }
    while s.poll_transmit(T, &mut buf).is_some() {}
    s.connection_count().0
}

#[test]
fn forged_acks_make_no_connection_outside_cookie_mode_and_essentially_none_in_it() {
    // Cookie mode: a cookie was just sent, so ACKs are checked as cookies.
    // 2^22 check bits x 2 ticks x 4 MSS values: a blind guess succeeds with
    // probability 2^-29, so 1,000,000 tries make one with probability 0.2%.
    let (mut s, _) = server(SynCookieMode::Always, 1024);
    s.handle_frame(
        T,
        &seg(client(1), TcpFlags::SYN, 7, None, syn_options(None)),
    );
    let _ = drain_seen(&mut s, T);
    let n = 1_000_000;
    assert_eq!(forge(&mut s, n, 77), 0);
    assert_eq!(s.stats().tcp_ext.syncookies_failed, u64::from(n));
    // Outside cookie mode no ACK is even checked: each draws a reset.
    let (mut s, _) = server(SynCookieMode::Overflow, 1024);
    assert_eq!(forge(&mut s, 100_000, 78), 0);
    assert_eq!(s.stats().tcp_ext.syncookies_failed, 0);
    assert_eq!(s.stats().tcp.out_rsts, 100_000);
}

#[test]
fn a_per_source_syn_rate_limit_spares_other_sources() {
    let mut s = Stack::new(
        Config {
            seed: 9,
            tcp_syn_source_ratelimit: 2,
            ..Config::default()
        },
        Interface::ip(B, 24),
    );
    let l = s.tcp_listen(SERVER, 16).unwrap();
    for port in [1, 2, 3] {
        s.handle_frame(
            T,
            &seg(client(port), TcpFlags::SYN, 7, None, syn_options(None)),
        );
    }
    let other = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 77), 5);
    s.handle_frame(T, &seg(other, TcpFlags::SYN, 7, None, syn_options(None)));
    assert_eq!(s.tcp_listener_queues(l), Some((3, 0)));
    assert_eq!(s.stats().tcp_ext.tcp_syn_rate_limited, 1);
    // Half a second later the source may send one more.
    let later = T + Duration::from_millis(500);
    s.handle_frame(
        later,
        &seg(client(4), TcpFlags::SYN, 7, None, syn_options(None)),
    );
    assert_eq!(s.tcp_listener_queues(l), Some((4, 0)));
}

#[test]
fn children_inherit_the_listeners_socket_options() {
    // mss-setsockopt-tcp_maxseg-server.pkt: TCP_MAXSEG on the listener
    // shapes the SYN-ACK of every child that follows (Linux clones it).
    let (mut s, l) = server(SynCookieMode::Never, 16);
    let socket = crate::tcp::conn::SocketOptions {
        max_segment: 1100,
        ..Default::default()
    };
    s.tcp_listener_set_options(l, socket).unwrap();
    s.handle_frame(
        T,
        &seg(client(1), TcpFlags::SYN, 7, None, syn_options(None)),
    );
    assert_eq!(syn_ack(&mut s, T).2.mss, Some(1100));
    s.tcp_listener_set_options(l, Default::default()).unwrap();
    s.handle_frame(
        T,
        &seg(client(2), TcpFlags::SYN, 7, None, syn_options(None)),
    );
    assert_eq!(syn_ack(&mut s, T).2.mss, Some(1460));
}
