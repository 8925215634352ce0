//! The network layer of a host: martians and hostile datagrams (RFC 1122
//! §3.2.1.3, RFC 1812 §5.3.7), ICMP echo and errors (RFC 792, RFC 1122
//! §3.2.2, RFC 5927), fragment reassembly (RFC 791 §3.2, RFC 5722) and
//! outbound fragmentation.

use super::*;
use crate::ip::Ipv4Cidr;
use crate::ip::icmp::IcmpErrno;
use crate::tcp::conn::ConnError;
use crate::wire::checksum;

const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

/// A datagram with its IP header rewritten by `f` (the checksum of the
/// first 20 bytes refreshed).
fn mangled(mut d: Vec<u8>, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    f(&mut d);
    d[10..12].copy_from_slice(&[0, 0]);
    let sum = checksum::finish(checksum::data(&d[..20]));
    d[10..12].copy_from_slice(&sum.to_be_bytes());
    d
}

#[test]
fn martians_and_hostile_datagrams_are_dropped_and_counted() {
    let mut s = stack(B, 1);
    s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 8)
        .unwrap();
    let t = Instant::from_millis(1);
    let martian_sources = [
        Ipv4Addr::new(224, 0, 0, 5),   // multicast
        Ipv4Addr::BROADCAST,           // limited broadcast
        Ipv4Addr::new(192, 0, 2, 255), // our subnet's broadcast
        Ipv4Addr::new(0, 1, 2, 3),     // "this network"
        Ipv4Addr::new(127, 0, 0, 1),   // loopback on a real interface
        Ipv4Addr::new(240, 0, 0, 1),   // class E
        B,                             // ourselves: a land attack (src = dst)
    ];
    for src in martian_sources {
        s.handle_frame(t, &syn_between(src, B));
    }
    assert_eq!(s.stats().ip.in_martian_src, martian_sources.len() as u64);
    s.handle_frame(t, &syn_between(A, Ipv4Addr::new(127, 0, 0, 1)));
    assert_eq!(s.stats().ip.in_martian_dst, 1);
    // Not for us: a host does not forward.
    s.handle_frame(t, &syn_between(A, Ipv4Addr::new(192, 0, 2, 77)));
    assert_eq!(s.stats().ip.in_addr_errors, 1);
    // TCP to a broadcast address is never taken.
    s.handle_frame(t, &syn_between(A, Ipv4Addr::new(192, 0, 2, 255)));
    assert_eq!(s.stats().ip.in_bcast_pkts, 1);
    assert_eq!(s.stats().ip.in_discards, 1);
    // Bad header lengths.
    let good = syn_between(A, B);
    let short_ihl = mangled(good.clone(), |d| d[0] = 0x44);
    s.handle_frame(t, &short_ihl);
    let long_ihl = mangled(good.clone(), |d| d[0] = 0x4f);
    s.handle_frame(t, &long_ihl);
    let total_too_big = mangled(good.clone(), |d| {
        d[2..4].copy_from_slice(&2000u16.to_be_bytes())
    });
    s.handle_frame(t, &total_too_big);
    let total_too_small = mangled(good.clone(), |d| {
        d[2..4].copy_from_slice(&12u16.to_be_bytes())
    });
    s.handle_frame(t, &total_too_small);
    let v6 = mangled(good.clone(), |d| d[0] = 0x65);
    s.handle_frame(t, &v6);
    assert_eq!(s.stats().ip.in_hdr_errors, 4);
    assert_eq!(s.stats().ip.in_truncated_pkts, 1);
    assert!(drain_raw(&mut s, t).is_empty(), "none of it is answered");
    assert_eq!(s.stats().tcp.in_segs, 0);
    // The same SYN from a real neighbour is.
    s.handle_frame(t, &good);
    assert_eq!(drain(&mut s, t)[0].flags, TcpFlags::SYN | TcpFlags::ACK);
}

#[test]
fn an_accepted_address_pair_is_checked_again_once_an_interface_is_added() {
    // The checks of a datagram's addresses are remembered for the last
    // accepted pair; a new interface can change their answer (here it makes
    // the peer's address ours: a looped frame or a land attack).
    let mut s = stack(B, 1);
    s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 8)
        .unwrap();
    let t = Instant::from_millis(1);
    let syn = |port: u16| {
        packet(
            SocketAddrV4::new(A, port),
            SocketAddrV4::new(B, 80),
            TcpFlags::SYN,
            7,
            None,
            b"",
        )
    };
    s.handle_frame(t, &syn(1000));
    s.handle_frame(t, &syn(1001));
    assert_eq!(s.stats().ip.in_delivers, 2);
    // A martian between two datagrams of the pair is still caught.
    s.handle_frame(t, &syn_between(Ipv4Addr::new(127, 0, 0, 1), B));
    assert_eq!(s.stats().ip.in_martian_src, 1);
    s.handle_frame(t, &syn(1002));
    assert_eq!(s.stats().ip.in_delivers, 3);
    s.add_interface(Interface::ip(A, 32));
    s.handle_frame(t, &syn(1003));
    assert_eq!(s.stats().ip.in_martian_src, 2, "the source is ours now");
    assert_eq!(s.stats().ip.in_delivers, 3);
}

/// A SYN from `src` to `dst`, port 80 to 80.
fn syn_between(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    packet(
        SocketAddrV4::new(src, 80),
        SocketAddrV4::new(dst, 80),
        TcpFlags::SYN,
        7,
        None,
        b"",
    )
}

#[test]
fn an_echo_request_is_answered_with_its_own_identifier_sequence_and_data() {
    let mut s = stack(B, 1);
    let t = Instant::from_millis(1);
    let request = icmp(A, B, 8, 0, [0x12, 0x34, 0x00, 0x07], b"ping data");
    s.handle_frame(t, &request);
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let reply = &out[0];
    let ip = Ipv4Repr::parse(
        &Ipv4Packet::new_checked(&reply[..]).unwrap(),
        Checksum::Full,
    )
    .unwrap();
    assert_eq!(
        (ip.src_addr, ip.dst_addr, ip.protocol),
        (B, A, IpProtocol::Icmp)
    );
    let icmp_bytes = &reply[20..];
    assert_eq!(icmp_bytes[..2], [0, 0], "echo reply, code 0");
    assert_eq!(
        &icmp_bytes[4..],
        &[
            0x12, 0x34, 0x00, 0x07, b'p', b'i', b'n', b'g', b' ', b'd', b'a', b't', b'a'
        ]
    );
    assert!(checksum::is_valid(checksum::data(icmp_bytes)));
    assert_eq!(
        (s.stats().icmp.in_echos, s.stats().icmp.out_echo_reps),
        (1, 1)
    );
    // RFC 1122 §3.2.2.6: a broadcast ping may go unanswered (Linux's default).
    let broadcast = icmp(A, Ipv4Addr::new(192, 0, 2, 255), 8, 0, [0, 1, 0, 1], b"x");
    s.handle_frame(t, &broadcast);
    assert!(drain_raw(&mut s, t).is_empty());
    // A corrupted message is counted, not answered.
    let mut bad = icmp(A, B, 8, 0, [0, 1, 0, 2], b"y");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    s.handle_frame(t, &bad);
    assert!(drain_raw(&mut s, t).is_empty());
    assert_eq!(s.stats().icmp.in_csum_errors, 1);
}

pub(super) fn udp_datagram(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8 + payload.len()];
    crate::wire::udp::UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        payload,
    }
    .emit(
        &mut crate::wire::udp::UdpPacket::new_unchecked(&mut u[..]),
        *src.ip(),
        *dst.ip(),
        Checksum::Full,
    );
    ip_datagram(*src.ip(), *dst.ip(), IpProtocol::Udp, &u)
}

#[test]
fn udp_to_a_closed_port_draws_port_unreachable_within_the_rate_limit() {
    let mut s = stack(B, 1);
    let t = Instant::from_secs(1);
    let from = SocketAddrV4::new(A, 5353);
    let datagram = udp_datagram(from, SocketAddrV4::new(B, 9), b"hello?");
    for _ in 0..10 {
        s.handle_frame(t, &datagram);
    }
    let out: Vec<Seen> = drain_raw(&mut s, t)
        .iter()
        .map(|f| Seen::parse(f, false))
        .collect();
    // Linux: a burst of 6 per destination, then one per icmp_ratelimit.
    assert_eq!(out.len(), 6);
    match &out[0] {
        Seen::Icmp {
            src,
            dst,
            ty,
            code,
            body,
        } => {
            assert_eq!((*src, *dst, *ty, *code), (B, A, 3, 3));
            assert_eq!(&body[..], &datagram[..], "the whole datagram is quoted");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.udp_stats().no_ports, 10);
    assert_eq!(s.stats().icmp.out_rate_limit_host, 4);
    assert_eq!(s.stats().icmp.out_dest_unreachs, 6);
    s.handle_frame(t + Duration::from_millis(1000), &datagram);
    assert_eq!(drain_raw(&mut s, t + Duration::from_millis(1000)).len(), 1);
    // Never for a broadcast (RFC 1122 §3.2.2).
    let broadcast = udp_datagram(
        from,
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 255), 9),
        b"?",
    );
    s.handle_frame(t + Duration::from_secs(5), &broadcast);
    assert!(drain_raw(&mut s, t + Duration::from_secs(5)).is_empty());
    assert_eq!(s.udp_stats().ignored_multi, 1);
}

/// The SYN a fresh connection from A to B:80 sends: (handle, SYN datagram).
fn connecting(s: &mut Stack) -> (ConnHandle, Vec<u8>) {
    let c = s
        .tcp_connect(
            Instant::ZERO,
            SocketAddrV4::new(B, 80),
            ConnectOptions::default(),
        )
        .unwrap();
    let out = drain_raw(s, Instant::ZERO);
    (c, out.into_iter().last().unwrap())
}

/// An ICMP destination unreachable about `quoted` (as routers quote it:
/// header and the first 8 bytes), sent by `from` to A.
fn unreachable(from: Ipv4Addr, code: u8, mtu: u16, quoted: &[u8]) -> Vec<u8> {
    let [hi, lo] = mtu.to_be_bytes();
    icmp(from, A, 3, code, [0, 0, hi, lo], &quoted[..28])
}

#[test]
fn icmp_errors_while_connecting_are_hard_as_in_linux() {
    let mut s = stack(A, 1);
    let t = Instant::from_millis(5);
    // Port unreachable from the destination: ECONNREFUSED.
    let (c, syn) = connecting(&mut s);
    s.handle_frame(t, &unreachable(B, 3, 0, &syn));
    assert_eq!(s.tcp_state(c), TcpState::Closed);
    assert!(events(&mut s).contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Refused
    }));
    // Host unreachable from a router: EHOSTUNREACH (RFC 5461).
    let (c, syn) = connecting(&mut s);
    s.handle_frame(t, &unreachable(ROUTER, 1, 0, &syn));
    let mut buf = [0u8; 1];
    assert_eq!(
        s.tcp_recv(t, c, &mut buf),
        Err(RecvError::Connection(ConnError::Unreachable(
            IcmpErrno::HostUnreachable
        )))
    );
    // RFC 5927 §4.1: a quoted sequence number we never sent is ignored.
    let (c, syn) = connecting(&mut s);
    let mut forged = syn.clone();
    forged[24] ^= 0x80;
    s.handle_frame(t, &unreachable(ROUTER, 1, 0, &forged));
    assert_eq!(s.tcp_state(c), TcpState::SynSent);
    assert_eq!(s.stats().tcp_ext.out_of_window_icmps, 1);
    // An error quoting someone else's datagram is nobody's business.
    let mut foreign = syn.clone();
    foreign[12..16].copy_from_slice(&[192, 0, 2, 9]);
    s.handle_frame(t, &unreachable(ROUTER, 1, 0, &foreign));
    assert_eq!(s.tcp_state(c), TcpState::SynSent);
    assert_eq!(s.stats().icmp.in_dest_unreachs, 4);
}

/// A connected pair with `len` bytes sent from A and not yet delivered:
/// (wire, A's handle, B's handle, the data segments A sent).
fn sending(len: usize) -> (Wire, ConnHandle, ConnHandle, Vec<Vec<u8>>) {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let now = w.now;
    assert_eq!(w.a.tcp_send(now, c, &vec![7u8; len]), Ok(len));
    let out = drain_raw(&mut w.a, now);
    (w, c, s, out)
}

#[test]
fn an_established_connection_takes_icmp_errors_as_soft() {
    let (mut w, c, _, segs) = sending(100);
    let now = w.now;
    w.a.handle_frame(now, &unreachable(B, 3, 0, &segs[0]));
    assert_eq!(w.a.tcp_state(c), TcpState::Established, "RFC 5927 §5.2");
    w.a.handle_frame(now, &unreachable(ROUTER, 0, 0, &segs[0]));
    assert_eq!(w.a.tcp_state(c), TcpState::Established);
}

#[test]
fn fragmentation_needed_shrinks_segments_down_to_the_floor() {
    let (mut w, c, s, segs) = sending(10_000);
    assert!(segs.len() >= 6 && segs[..6].iter().all(|s| s.len() == 1500));
    let now = w.now;
    // RFC 1191: the path's MTU is 1280; what was in flight goes again,
    // in segments that fit (1280 - 40 - 12 bytes of timestamps).
    w.a.handle_frame(now, &unreachable(ROUTER, 4, 1280, &segs[0]));
    let again = drain_raw(&mut w.a, now);
    assert!(!again.is_empty());
    assert!(
        again.iter().all(|s| s.len() <= 1280),
        "{:?}",
        again.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(again[0].len(), 1280);
    assert_eq!(w.a.tcp_info(c).unwrap().snd_mss, 1228);
    // A report not below the quoted datagram's size cannot be true
    // (RFC 5927 §7.2): ignored.
    w.a.handle_frame(now, &unreachable(ROUTER, 4, 1500, &again[0]));
    assert_eq!(w.a.tcp_info(c).unwrap().snd_mss, 1228);
    // Never below route.min_pmtu (552): a forged 68 cannot shrink us to
    // 28-byte segments (RFC 5927 §7.1).
    w.a.handle_frame(now, &unreachable(ROUTER, 4, 68, &again[0]));
    assert_eq!(w.a.tcp_info(c).unwrap().snd_mss, 552 - 40 - 12);
    let smaller = drain_raw(&mut w.a, now);
    assert!(smaller.iter().all(|s| s.len() <= 552));
    // Everything still arrives.
    w.run_until(5_000);
    let mut buf = vec![0u8; 20_000];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(10_000));
}

#[test]
fn a_learned_path_mtu_is_where_the_next_connection_there_starts() {
    // RFC 1191 §5 (Linux's route cache exceptions): the path MTU one
    // connection learned is kept for its destination, for
    // `route.mtu_expires` (600 s), so the next connection there sends
    // segments that fit from its first one.
    let (mut w, c, _, segs) = sending(10_000);
    let now = w.now;
    w.a.handle_frame(now, &unreachable(ROUTER, 4, 1280, &segs[0]));
    assert_eq!(w.a.tcp_info(c).unwrap().snd_mss, 1228);
    w.run_until(1_000);
    let mss_of_a_new_connection = |w: &mut Wire, port: u16| {
        let l = w.b.tcp_listen(SocketAddrV4::new(B, port), 8).unwrap();
        let now = w.now;
        let c =
            w.a.tcp_connect(now, SocketAddrV4::new(B, port), ConnectOptions::default())
                .unwrap();
        w.run_until(w.now.total_millis() + 100);
        let s = w.b.tcp_accept(l).unwrap();
        // Its first data goes in segments of that size, with no report.
        let now = w.now;
        w.a.tcp_send(now, c, &[1u8; 5000]).unwrap();
        let out = drain_raw(&mut w.a, now);
        let largest = out.iter().map(Vec::len).max().unwrap();
        for frame in &out {
            w.b.handle_frame(now, frame);
        }
        w.run_until(w.now.total_millis() + 100);
        let mut buf = [0u8; 6000];
        assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(5000));
        (w.a.tcp_info(c).unwrap().snd_mss, largest)
    };
    assert_eq!(mss_of_a_new_connection(&mut w, 81), (1228, 1280));
    assert_eq!(w.a.stats().icmp.in_dest_unreachs, 1, "learned once");
    // Ten minutes on, the interface's MTU applies again.
    let later = w.now.total_millis() + 600_000;
    w.run_until(later);
    assert_eq!(mss_of_a_new_connection(&mut w, 82), (1448, 1500));
}

/// A UDP datagram from A to B:9 cut into fragments of `chunk` payload
/// bytes (a multiple of 8), all with IP identification `ident`.
fn fragments(payload_len: usize, chunk: usize, ident: u16) -> (Vec<u8>, Vec<Vec<u8>>) {
    let data: Vec<u8> = (0..payload_len).map(|i| (i * 7) as u8).collect();
    let whole = udp_datagram(SocketAddrV4::new(A, 4000), SocketAddrV4::new(B, 9), &data);
    let ip_payload = &whole[20..];
    let mut out = Vec::new();
    let mut off = 0;
    while off < ip_payload.len() {
        let end = (off + chunk).min(ip_payload.len());
        let repr = Ipv4Repr {
            src_addr: A,
            dst_addr: B,
            protocol: IpProtocol::Udp,
            payload_len: (end - off) as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident,
            dont_frag: false,
            more_frags: end < ip_payload.len(),
            frag_offset: off as u16,
        };
        let mut f = vec![0u8; 20 + end - off];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut f[..20]), Checksum::Full);
        f[20..].copy_from_slice(&ip_payload[off..end]);
        out.push(f);
        off = end;
    }
    (data, out)
}

#[test]
fn fragments_in_any_order_are_reassembled_and_delivered() {
    let mut s = stack(B, 1);
    let u = s.udp_open();
    s.udp_bind(u, SocketAddrV4::new(B, 9)).unwrap();
    let (data, frags) = fragments(3000, 1480, 1);
    assert_eq!(frags.len(), 3);
    let t = Instant::from_millis(1);
    for f in frags.iter().rev() {
        s.handle_frame(t, f);
    }
    // A duplicate of a piece already in does no harm.
    let mut buf = vec![0u8; 4000];
    let got = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!((got.len, got.src), (3000, SocketAddrV4::new(A, 4000)));
    assert_eq!(&buf[..3000], &data[..]);
    assert_eq!(s.reasm_stats().reasm_oks, 1);
    assert_eq!(s.reasm_stats().reasm_reqds, 3);
    assert!(events(&mut s).contains(&Event::UdpReadable(u)));
}

#[test]
fn conflicting_overlaps_discard_the_whole_datagram() {
    let mut s = stack(B, 1);
    let u = s.udp_open();
    s.udp_bind(u, SocketAddrV4::new(B, 9)).unwrap();
    let (_, frags) = fragments(3000, 1480, 2);
    let t = Instant::from_millis(1);
    s.handle_frame(t, &frags[0]);
    // The same bytes again, differently cut: a harmless duplicate.
    let (_, recut) = fragments(3000, 736, 2);
    s.handle_frame(t, &recut[1]);
    assert_eq!(s.reasm_stats().reasm_overlaps, 0);
    // A second version of bytes 736..1472 that disagrees: RFC 5722, drop
    // the whole datagram (never pick one version).
    let mut evil = recut[1].clone();
    let last = evil.len() - 1;
    evil[last] ^= 0xFF;
    s.handle_frame(t, &evil);
    assert_eq!(s.reasm_stats().reasm_overlaps, 1);
    s.handle_frame(t, &frags[1]);
    s.handle_frame(t, &frags[2]);
    let mut buf = vec![0u8; 4000];
    assert_eq!(
        s.udp_recv(u, &mut buf),
        Err(crate::udp::UdpError::WouldBlock),
        "nothing delivered: fragment 0 went with the datagram"
    );
}

#[test]
fn an_incomplete_datagram_times_out_with_time_exceeded_if_fragment_0_came() {
    let mut s = stack(B, 1);
    let (_, frags) = fragments(3000, 1480, 3);
    let t = Instant::from_secs(1);
    s.handle_frame(t, &frags[0]);
    s.handle_frame(t, &frags[2]);
    let (_, others) = fragments(3000, 1480, 4);
    s.handle_frame(t, &others[1]);
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(30)));
    s.handle_timeout(t + Duration::from_secs(30));
    let out: Vec<Seen> = drain_raw(&mut s, t + Duration::from_secs(30))
        .iter()
        .map(|f| Seen::parse(f, false))
        .collect();
    // RFC 1122 §3.3.2: only the datagram whose fragment 0 arrived is
    // reported, quoting that fragment.
    assert_eq!(out.len(), 1);
    match &out[0] {
        Seen::Icmp {
            dst,
            ty,
            code,
            body,
            ..
        } => {
            assert_eq!((*dst, *ty, *code), (A, 11, 1));
            assert_eq!(&body[..28], &frags[0][..28]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.reasm_stats().reasm_timeout, 2);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_datagram_larger_than_the_mtu_leaves_in_fragments_and_arrives_whole() {
    let mut w = Wire::new();
    let ub = w.b.udp_open();
    w.b.udp_bind(ub, SocketAddrV4::new(B, 9)).unwrap();
    let ua = w.a.udp_open();
    let data: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    let now = w.now;
    assert_eq!(
        w.a.udp_send_to(now, ua, SocketAddrV4::new(B, 9), &data),
        Ok(4000)
    );
    let frames = drain_raw(&mut w.a, now);
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.len() <= 1500));
    for f in &frames {
        w.b.handle_frame(now, f);
    }
    let mut buf = vec![0u8; 5000];
    let got = w.b.udp_recv_from(ub, &mut buf).unwrap();
    assert_eq!(got.len, 4000);
    assert_eq!(&buf[..4000], &data[..]);
    assert_eq!(*got.src.ip(), A);
}

/// A software GSO packet's later pieces go where its first went
/// (`egress::PieceHop`, the route not asked again) only while no route or
/// interface changes: a route added between two pieces sends the next
/// ones by it, and each piece still goes the piece way.
#[test]
fn a_route_change_between_a_packets_pieces_moves_the_rest() {
    let mut w = Wire::new();
    // A short path: Linux's packets of up to 64 KB (`gso_max_segments`).
    w.delay = Duration::from_micros(50);
    let (c, _s) = connected(&mut w);
    let data = vec![5u8; 20_000];
    assert_eq!(w.a.tcp_send(w.now, c, &data), Ok(data.len()));
    let mut buf = [0u8; 2000];
    let mut out = |a: &mut Stack| {
        let (iface, n) = a.poll_transmit_on(w.now, &mut buf).expect("a piece");
        assert!(n > 1000, "a data segment");
        iface
    };
    assert_eq!(out(&mut w.a), IfaceId(0), "the first piece");
    let pieces = w.a.piece_polls;
    assert_eq!(out(&mut w.a), IfaceId(0), "the second piece");
    assert_eq!(w.a.piece_polls, pieces + 1, "went the piece way");
    assert!(w.a.piece_key.get().is_some(), "the packet is under way");
    // B, more specific, by a second interface.
    let other =
        w.a.add_interface(Interface::ip(Ipv4Addr::new(198, 51, 100, 1), 24));
    assert_eq!(w.a.stats().ip.out_no_routes, 0);
    w.a.add_device_route(crate::ip::Ipv4Cidr::new(B, 32).unwrap(), other)
        .unwrap();
    assert!(w.a.piece_key.get().is_some(), "the packet is under way");
    assert_eq!(
        out(&mut w.a),
        other,
        "the third piece follows the new route"
    );
    assert_eq!(w.a.piece_polls, pieces + 2, "went the piece way");
    assert_eq!(out(&mut w.a), other);
}

/// A host behind ROUTER (its default gateway) that also knows GW2 (a
/// route to 198.51.100.0/24 through it), and a redirect from `from` for
/// a datagram of `src` to `dst`, naming `gateway`.
const GW2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 253);

fn behind_two_gateways() -> Stack {
    let mut s = stack(A, 1);
    s.set_default_gateway(ROUTER).unwrap();
    s.add_route("198.51.100.0/24".parse().unwrap(), GW2)
        .unwrap();
    s
}

fn redirect(from: Ipv4Addr, src: Ipv4Addr, dst: Ipv4Addr, gateway: Ipv4Addr) -> Vec<u8> {
    let quoted = udp_datagram(
        SocketAddrV4::new(src, 4000),
        SocketAddrV4::new(dst, 53),
        b"q",
    );
    // Code 1, a host redirect (RFC 1812 §5.2.7.2: all routers send).
    icmp(from, A, 5, 1, gateway.octets(), &quoted[..28])
}

fn gateway_to(s: &Stack, dst: Ipv4Addr) -> Option<crate::ip::route::NextHop> {
    s.route(dst).map(|r| r.next_hop)
}

#[test]
fn a_redirect_from_the_first_hop_routes_its_destination_through_the_new_gateway() {
    use crate::ip::route::NextHop::Gateway;
    let far = Ipv4Addr::new(203, 0, 113, 9);
    let mut s = behind_two_gateways();
    let t = Instant::from_millis(1);
    assert_eq!(gateway_to(&s, far), Some(Gateway(ROUTER)));
    // RFC 1122 §3.2.2.2: the first hop says GW2 is better for `far`.
    s.handle_frame(t, &redirect(ROUTER, A, far, GW2));
    assert_eq!(gateway_to(&s, far), Some(Gateway(GW2)));
    let route = s.route(far).unwrap();
    assert_eq!(route.dest, Ipv4Cidr::host(far), "a host route only");
    let near = Ipv4Addr::new(203, 0, 113, 10);
    assert_eq!(gateway_to(&s, near), Some(Gateway(ROUTER)));
    assert_eq!(s.stats().icmp.in_redirects, 1);
    // Datagrams to `far` now leave with GW2 as their next hop: on this
    // point-to-point interface the route is what shows it.
    let u = s.udp_open();
    s.udp_send_to(t, u, SocketAddrV4::new(far, 7), b"x")
        .unwrap();
    assert_eq!(drain_raw(&mut s, t).len(), 1);
}

#[test]
fn redirects_that_fail_a_check_change_nothing() {
    use crate::ip::route::NextHop::Gateway;
    let far = Ipv4Addr::new(203, 0, 113, 9);
    let t = Instant::from_millis(1);
    let unknown = Ipv4Addr::new(192, 0, 2, 77);
    let cases = [
        // Not from the gateway our route uses (RFC 1122 §3.2.2.2).
        ("not the first hop", redirect(GW2, A, far, GW2)),
        // A new gateway off our link.
        (
            "off-link",
            redirect(ROUTER, A, far, Ipv4Addr::new(10, 0, 0, 1)),
        ),
        // The link's broadcast address, ourselves, the sender again.
        (
            "broadcast",
            redirect(ROUTER, A, far, Ipv4Addr::new(192, 0, 2, 255)),
        ),
        ("ourselves", redirect(ROUTER, A, far, A)),
        ("the same", redirect(ROUTER, A, far, ROUTER)),
        // A datagram we never sent.
        ("not ours", redirect(ROUTER, B, far, GW2)),
        // `secure_redirects`: a gateway the table does not use.
        ("unknown gateway", redirect(ROUTER, A, far, unknown)),
        // A destination on our own link has no first-hop gateway.
        ("on-link", redirect(ROUTER, A, B, GW2)),
    ];
    for (what, frame) in &cases {
        let mut s = behind_two_gateways();
        s.handle_frame(t, frame);
        assert_eq!(s.stats().icmp.in_redirects, 1, "{what}");
        let dst = if *what == "on-link" { B } else { far };
        let want = if *what == "on-link" {
            Some(crate::ip::route::NextHop::Direct(B))
        } else {
            Some(Gateway(ROUTER))
        };
        assert_eq!(gateway_to(&s, dst), want, "{what}");
    }
    // Without `secure_redirects` the unknown gateway is taken; without
    // `accept_redirects` nothing is.
    let mut s = behind_two_gateways();
    s.set_sysctl("conf.all.secure_redirects", "0").unwrap();
    s.handle_frame(t, &cases[6].1);
    assert_eq!(gateway_to(&s, far), Some(Gateway(unknown)));
    let mut s = behind_two_gateways();
    s.set_sysctl("net.ipv4.conf.all.accept_redirects", "0")
        .unwrap();
    s.handle_frame(t, &redirect(ROUTER, A, far, GW2));
    assert_eq!(gateway_to(&s, far), Some(Gateway(ROUTER)));
    // A route the user set for exactly that destination stays theirs.
    let mut s = behind_two_gateways();
    s.add_route(Ipv4Cidr::host(far), ROUTER).unwrap();
    s.handle_frame(t, &redirect(ROUTER, A, far, GW2));
    assert_eq!(gateway_to(&s, far), Some(Gateway(ROUTER)));
}

#[test]
fn redirected_routes_are_bounded_the_oldest_going_first() {
    use crate::ip::route::NextHop::Gateway;
    let mut s = behind_two_gateways();
    let t = Instant::from_millis(1);
    let dst = |i: u32| Ipv4Addr::from_bits(0xCB00_7100 + i);
    let n = super::super::redirect::MAX_REDIRECTED as u32;
    for i in 0..=n {
        s.handle_frame(t, &redirect(ROUTER, A, dst(i), GW2));
    }
    assert_eq!(
        gateway_to(&s, dst(0)),
        Some(Gateway(ROUTER)),
        "the oldest went"
    );
    assert_eq!(gateway_to(&s, dst(1)), Some(Gateway(GW2)));
    assert_eq!(gateway_to(&s, dst(n)), Some(Gateway(GW2)));
    // Redirected again (by its new first hop, back to ROUTER), a
    // destination's route moves to the back, and is in once: the next
    // new destination pushes out the one after it.
    s.handle_frame(t, &redirect(GW2, A, dst(1), ROUTER));
    s.handle_frame(t, &redirect(ROUTER, A, dst(n + 1), GW2));
    let prefix = |s: &Stack, d| s.route(d).unwrap().dest.prefix_len();
    assert_eq!(
        (gateway_to(&s, dst(1)), prefix(&s, dst(1))),
        (Some(Gateway(ROUTER)), 32)
    );
    assert_eq!(prefix(&s, dst(2)), 0, "back on the default route");
    assert_eq!(prefix(&s, dst(n + 1)), 32);
}

#[test]
fn a_redirects_route_expires_after_route_gc_timeout() {
    // Linux keeps a redirect's exception `route.gc_timeout` (300 s); a
    // new redirect for the destination starts it again.
    use crate::ip::route::NextHop::Gateway;
    let far = Ipv4Addr::new(203, 0, 113, 9);
    let mut s = behind_two_gateways();
    let t = Instant::from_millis(1);
    s.handle_frame(t, &redirect(ROUTER, A, far, GW2));
    assert_eq!(gateway_to(&s, far), Some(Gateway(GW2)));
    let expires = t + Duration::from_secs(300);
    assert_eq!(s.poll_timeout(), Some(expires));
    // Redirected again at 200 s: 300 s from then.
    let again = Instant::from_secs(200);
    s.handle_timeout(again);
    s.handle_frame(again, &redirect(GW2, A, far, ROUTER));
    s.handle_frame(again, &redirect(ROUTER, A, far, GW2));
    s.handle_timeout(expires);
    assert_eq!(gateway_to(&s, far), Some(Gateway(GW2)), "restarted");
    let expires = again + Duration::from_secs(300);
    assert_eq!(s.poll_timeout(), Some(expires));
    s.handle_timeout(expires);
    assert_eq!(gateway_to(&s, far), Some(Gateway(ROUTER)), "expired");
    assert_eq!(s.poll_timeout(), None, "nothing left to time");
    // The hop a datagram takes follows (no stale memory of the route).
    let u = s.udp_open();
    s.udp_send_to(expires, u, SocketAddrV4::new(far, 7), b"x")
        .unwrap();
    assert_eq!(drain_raw(&mut s, expires).len(), 1);
    let mut c = Config::default();
    c.set_sysctl("net.ipv4.route.gc_timeout", "60").unwrap();
    assert_eq!(c.route_gc_timeout, Duration::from_secs(60));
}

#[test]
fn fragmentation_needed_for_a_path_mtu_probe_bounds_the_search() {
    // `tcp_mtu_probing` 2: A's segments start at `tcp_base_mss` (1,024
    // bytes, 1,076 on the wire) and, once cwnd holds 11 segments, one
    // probe of (1,076 + 1,500) / 2 = 1,288 bytes goes. A router on the way
    // takes no more than 1,280 and drops it (its report is fed below).
    use std::cell::RefCell;
    use std::rc::Rc;
    let mut w = Wire::new();
    w.a.set_sysctl("tcp_mtu_probing", "2").unwrap();
    let (c, s) = connected(&mut w);
    assert_eq!(w.a.tcp_info(c).unwrap().snd_mss, 1024);
    // The first probe is dropped, and everything A sends after it until
    // the report is fed (so nothing else tells A of its loss).
    let dropped: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let seen = Rc::clone(&dropped);
    w.drop = Box::new(move |to_b, f: &[u8]| {
        if to_b && f.len() > 1280 {
            seen.borrow_mut().push(f.to_vec());
        }
        to_b && !seen.borrow().is_empty()
    });
    let mut buf = vec![0u8; 1 << 20];
    let mut delivered = 0;
    for _ in 0..20 {
        let now = w.now;
        w.a.tcp_send(now, c, &vec![7u8; 64 * 1024]).unwrap();
        w.pump();
        if !dropped.borrow().is_empty() {
            break;
        }
        w.run_until(w.now.total_millis() + 100);
        delivered += w.b.tcp_recv(w.now, s, &mut buf).unwrap();
    }
    let probe = dropped.borrow()[0].clone();
    assert_eq!(probe.len(), 1288, "a probe once cwnd grew");
    assert_eq!(dropped.borrow().len(), 1);
    // The report: the probe is lost, the search's upper bound falls to
    // 1,280 (RFC 1191 §6.1 with RFC 4821 §7.5), the segments stay at
    // 1,076 bytes, and what was in flight goes again, as small.
    let now = w.now;
    w.a.handle_frame(now, &unreachable(ROUTER, 4, 1280, &probe));
    assert_eq!(w.a.stats().tcp_ext.tcp_mtup_fail, 1);
    let info = w.a.tcp_info(c).unwrap();
    assert_eq!((info.snd_mss, info.pmtu), (1024, 1280));
    let seen = Rc::clone(&dropped);
    seen.borrow_mut().clear();
    w.drop = Box::new(move |to_b, f: &[u8]| {
        let big = to_b && f.len() > 1280;
        if big {
            seen.borrow_mut().push(f.to_vec());
        }
        big
    });
    // The search goes on below the report: everything arrives, and the
    // segments end within `tcp_probe_threshold` of 1,280.
    for _ in 0..100 {
        let now = w.now;
        let _ = w.a.tcp_send(now, c, &vec![7u8; 64 * 1024]);
        w.run_until(w.now.total_millis() + 50);
        delivered += w.b.tcp_recv(w.now, s, &mut buf).unwrap();
    }
    assert_eq!(dropped.borrow().len(), 0, "no probe above 1,280 again");
    assert!(delivered > 1_000_000, "{delivered}");
    let mss = w.a.tcp_info(c).unwrap().snd_mss;
    assert!((1280 - 8 - 52..=1280 - 52).contains(&mss), "{mss}");
    assert!(w.a.stats().tcp_ext.tcp_mtup_success >= 2);
    assert_eq!(w.a.tcp_info(c).unwrap().pmtu, 1280);
}
