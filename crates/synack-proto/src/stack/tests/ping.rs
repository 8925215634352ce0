//! Ping sockets through the stack (RFC 792 echo, Linux's `IPPROTO_ICMP`
//! datagram sockets): a request out and its reply in, by identifier, to a
//! broadcast address, over the loopback, in fragments, through a router
//! whose time exceeded comes back by IP_RECVERR, with a record route
//! (IP_OPTIONS and IP_RECVOPTS, `ping -R`), and a hard error on a
//! connected socket.

use super::forward::{FAR, Net, R_A, R_B};
use super::*;
use crate::ip::icmp::IcmpErrno;
use crate::ping::{PingError, PingHandle};

/// An echo request message: header with `seq` (identifier and checksum
/// left to the stack), then `data`.
fn request(seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0xFF, 0xFF, 0xFF, 0xFF];
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    m
}

/// The reply's identifier, sequence number and data.
fn parts(message: &[u8]) -> (u16, u16, &[u8]) {
    assert_eq!(&message[..2], &[0, 0], "an echo reply");
    let ident = u16::from_be_bytes([message[4], message[5]]);
    let seq = u16::from_be_bytes([message[6], message[7]]);
    (ident, seq, &message[8..])
}

fn ident_of(s: &Stack, h: PingHandle) -> u16 {
    s.ping_local(h).unwrap().unwrap().1
}

#[test]
fn a_ping_is_answered_and_read_with_its_source_ttl_and_identifier() {
    let mut w = Wire::new();
    let h = w.a.ping_open();
    let now = w.now;
    assert_eq!(w.a.ping_send_to(now, h, B, &request(1, b"hello")), Ok(13));
    // What went out: our identifier over the application's 0xFFFF, a
    // valid checksum, the application's sequence number and data.
    let mut buf = [0u8; 128];
    let n = w.a.poll_transmit(now, &mut buf).unwrap();
    let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
    let ipr = Ipv4Repr::parse(&ip, Checksum::Full).unwrap();
    assert_eq!(
        (ipr.src_addr, ipr.dst_addr, ipr.protocol, ipr.ttl),
        (A, B, IpProtocol::Icmp, 64)
    );
    let icmp = crate::wire::icmpv4::Icmpv4Packet::new_checked(ip.payload()).unwrap();
    let sent = crate::wire::icmpv4::Icmpv4Repr::parse(&icmp, Checksum::Full).unwrap();
    let ident = ident_of(&w.a, h);
    assert_eq!(
        sent,
        crate::wire::icmpv4::Icmpv4Repr::EchoRequest {
            ident,
            seq_no: 1,
            data: b"hello"
        }
    );
    w.b.handle_frame(now, &buf[..n]);
    w.run_until(100);
    assert!(events(&mut w.a).contains(&Event::PingReadable(h)));
    let got = w.a.ping_recv_from(h, &mut buf).unwrap();
    assert_eq!(
        (got.src, got.dst, got.ttl, got.truncated),
        (B, A, 64, false)
    );
    assert_eq!(parts(&buf[..got.len]), (ident, 1, &b"hello"[..]));
    assert_eq!(w.a.ping_recv_from(h, &mut buf), Err(PingError::WouldBlock));
    let (a, b) = (&w.a.stats().icmp, &w.b.stats().icmp);
    assert_eq!((a.out_echos, a.in_echo_reps), (1, 1));
    assert_eq!((b.in_echos, b.out_echo_reps), (1, 1));
    assert_eq!(w.a.ping_stats().in_replies, 1);
}

#[test]
fn a_request_carries_the_sockets_tos_and_its_reply_comes_back_with_it() {
    // IP_TOS (`ping -Q`): the request's TOS byte, which the answering
    // host's echo reply mirrors (as Linux's `icmp_reply`), read back with
    // IP_RECVTOS.
    let mut w = Wire::new();
    let h = w.a.ping_open();
    assert_eq!(w.a.ping_tos(h), Ok(0));
    w.a.ping_set_tos(h, 0xB8 | 0b01).unwrap();
    assert_eq!(w.a.ping_tos(h), Ok(0xB9));
    let now = w.now;
    w.a.ping_send_to(now, h, B, &request(1, b"qos")).unwrap();
    let mut buf = [0u8; 128];
    let n = w.a.poll_transmit(now, &mut buf).unwrap();
    let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(ip.dscp_ecn(), 0xB9);
    w.b.handle_frame(now, &buf[..n]);
    w.run_until(100);
    let got = w.a.ping_recv_from(h, &mut buf).unwrap();
    assert_eq!((got.src, got.tos), (B, 0xB9));
    assert_eq!(parts(&buf[..got.len]).2, b"qos");
    w.a.ping_close(h).unwrap();
    assert!(w.a.ping_set_tos(h, 0).is_err());
}

#[test]
fn replies_find_their_sockets_by_identifier() {
    let mut w = Wire::new();
    let first = w.a.ping_open();
    assert_eq!(w.a.ping_bind(first, A, 4242), Ok(4242));
    let second = w.a.ping_open();
    assert_eq!(w.a.ping_bind(second, A, 4242), Err(PingError::AddrInUse));
    w.a.ping_connect(second, B).unwrap();
    let now = w.now;
    for seq in 0..3 {
        w.a.ping_send_to(now, first, B, &request(seq, b"1"))
            .unwrap();
        w.a.ping_send(now, second, &request(100 + seq, b"2"))
            .unwrap();
    }
    w.run_until(100);
    let mut buf = [0u8; 64];
    for (h, base, data) in [(first, 0, b"1"), (second, 100, b"2")] {
        let ident = ident_of(&w.a, h);
        for seq in 0..3 {
            let got = w.a.ping_recv_from(h, &mut buf).unwrap();
            assert_eq!(parts(&buf[..got.len]), (ident, base + seq, &data[..]));
        }
        assert_eq!(w.a.ping_recv_from(h, &mut buf), Err(PingError::WouldBlock));
    }
    // Closed, its identifier's replies are nobody's, and it is free again.
    w.a.ping_close(first).unwrap();
    w.b.handle_frame(w.now, &icmp(B, A, 0, 0, [0x10, 0x92, 0, 1], b""));
    assert_eq!(w.a.ping_stats().no_socket, 0, "B's frame was for B");
    w.a.handle_frame(w.now, &icmp(B, A, 0, 0, [0x10, 0x92, 0, 1], b""));
    assert_eq!(w.a.ping_stats().no_socket, 1);
    let again = w.a.ping_open();
    assert_eq!(w.a.ping_bind(again, Ipv4Addr::UNSPECIFIED, 4242), Ok(4242));
}

#[test]
fn a_broadcast_ping_needs_so_broadcast() {
    let mut w = Wire::new();
    w.b.set_sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "0")
        .unwrap();
    let h = w.a.ping_open();
    let now = w.now;
    let subnet = Ipv4Addr::new(192, 0, 2, 255);
    for dst in [subnet, Ipv4Addr::BROADCAST] {
        let refused = w.a.ping_send_to(now, h, dst, &request(1, b""));
        assert_eq!(refused, Err(PingError::PermissionDenied), "{dst}");
    }
    w.a.ping_set_broadcast(h, true).unwrap();
    w.a.ping_send_to(now, h, subnet, &request(2, b"all"))
        .unwrap();
    w.run_until(100);
    let mut buf = [0u8; 64];
    // B answers from its own address; A ignores broadcast echoes (its
    // default), so B's is the only reply.
    let got = w.a.ping_recv_from(h, &mut buf).unwrap();
    assert_eq!(got.src, B);
    assert_eq!(parts(&buf[..got.len]).2, b"all");
    assert_eq!(w.a.ping_recv_from(h, &mut buf), Err(PingError::WouldBlock));
}

/// A request to a group (RFC 1112 §6.1): IP_MULTICAST_TTL's TTL, 1 until
/// set, the group's MAC address, and a reply from each member that answers
/// (B, with `icmp_echo_ignore_broadcasts` 0); A's own copy looped back is
/// not answered (its default ignores group echoes), as Linux's.
#[test]
fn a_ping_to_a_group_is_answered_by_its_members() {
    let mut lan = Lan::new(vec![
        super::multicast::host(A, 1),
        super::multicast::host(B, 2),
    ]);
    lan.hosts[1]
        .set_sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "0")
        .unwrap();
    lan.run_until(10);
    let all_hosts = Ipv4Addr::new(224, 0, 0, 1);
    let h = lan.hosts[0].ping_open();
    assert_eq!(lan.hosts[0].ping_multicast_ttl(h), Ok(1));
    let now = lan.now;
    lan.hosts[0]
        .ping_send_to(now, h, all_hosts, &request(1, b"all"))
        .unwrap();
    let sent = drain_raw(&mut lan.hosts[0], now);
    let request_frame = sent.iter().find(|f| f[14 + 9] == 1).expect("the request");
    assert_eq!(
        &request_frame[..6],
        &[0x01, 0x00, 0x5e, 0, 0, 1],
        "the group's MAC"
    );
    assert_eq!(request_frame[14 + 8], 1, "IP_MULTICAST_TTL's 1");
    for f in &sent {
        lan.hosts[1].handle_frame(now, f);
    }
    lan.run_for(100);
    let mut buf = [0u8; 64];
    let got = lan.hosts[0].ping_recv_from(h, &mut buf).unwrap();
    assert_eq!((got.src, got.iface), (B, IfaceId(0)));
    assert_eq!(parts(&buf[..got.len]).2, b"all");
    assert_eq!(
        lan.hosts[0].ping_recv_from(h, &mut buf),
        Err(PingError::WouldBlock)
    );
    lan.hosts[0].ping_set_multicast_ttl(h, 5).unwrap();
    assert_eq!(lan.hosts[0].ping_multicast_ttl(h), Ok(5));
}

#[test]
fn a_stack_pings_its_own_addresses_over_the_loopback() {
    let mut s = stack(A, 1);
    let h = s.ping_open();
    let now = Instant::ZERO;
    let lo = Ipv4Addr::new(127, 0, 0, 1);
    s.ping_send_to(now, h, A, &request(1, b"me")).unwrap();
    s.ping_send_to(now, h, lo, &request(2, b"lo")).unwrap();
    let mut buf = [0u8; 128];
    assert_eq!(s.poll_transmit(now, &mut buf), None, "nothing on the wire");
    for (seq, src) in [(1, A), (2, lo)] {
        let got = s.ping_recv_from(h, &mut buf).unwrap();
        assert_eq!(got.src, src);
        assert_eq!(parts(&buf[..got.len]).1, seq);
    }
    // Bound to 127.0.0.1, it may not ping anyone else.
    let local = s.ping_open();
    s.ping_bind(local, lo, 0).unwrap();
    assert_eq!(
        s.ping_send_to(now, local, B, &request(3, b"")),
        Err(PingError::InvalidInput)
    );
}

#[test]
fn time_exceeded_names_each_router_to_a_socket_that_asked_with_recverr() {
    let mut n = Net::new(config(1), config(2));
    let h = n.a.ping_open();
    n.a.ping_set_ttl(h, 1).unwrap();
    assert_eq!(n.a.ping_ttl(h), Ok(1));
    let now = n.now;
    // Without IP_RECVERR an unconnected socket hears nothing of it.
    n.a.ping_send_to(now, h, FAR, &request(1, b"")).unwrap();
    n.settle();
    assert_eq!(n.a.stats().icmp.in_time_excds, 1);
    assert_eq!(n.a.ping_is_readable(h), Ok(false));
    n.a.ping_set_recv_error(h, true).unwrap();
    n.a.ping_send_to(now, h, FAR, &request(2, b"")).unwrap();
    n.settle();
    assert!(events(&mut n.a).contains(&Event::PingReadable(h)));
    let report = n.a.ping_recv_error(h).unwrap().unwrap();
    assert_eq!((report.offender, report.dst, report.seq), (R_A, FAR, 2));
    assert_eq!(report.icmp_type_code(), (11, 0));
    assert_eq!(report.error.errno, IcmpErrno::HostUnreachable);
    // One hop more reaches the far host, whose reply has crossed the
    // router: its TTL one less.
    n.a.ping_set_ttl(h, 2).unwrap();
    n.a.ping_send_to(now, h, FAR, &request(3, b"far")).unwrap();
    n.settle();
    let mut buf = [0u8; 64];
    let got = n.a.ping_recv_from(h, &mut buf).unwrap();
    assert_eq!((got.src, got.ttl), (FAR, 63));
    assert_eq!(parts(&buf[..got.len]).1, 3);
}

#[test]
fn a_connected_socket_hears_a_hard_error_once() {
    let mut w = Wire::new();
    let h = w.a.ping_open();
    w.a.ping_connect(h, B).unwrap();
    let now = w.now;
    w.a.ping_send(now, h, &request(7, b"x")).unwrap();
    let mut buf = [0u8; 128];
    let n = w.a.poll_transmit(now, &mut buf).unwrap();
    let sent = buf[..n].to_vec();
    // B (as if it spoke no ICMP) answers protocol unreachable, quoting
    // the request's header and first 8 bytes.
    let refusal = icmp(B, A, 3, 2, [0; 4], &sent[..28]);
    w.a.handle_frame(now, &refusal);
    assert!(events(&mut w.a).contains(&Event::PingReadable(h)));
    let refused = PingError::Icmp(IcmpErrno::ProtocolUnreachable);
    assert_eq!(w.a.ping_recv_from(h, &mut buf), Err(refused));
    assert_eq!(w.a.ping_recv_from(h, &mut buf), Err(PingError::WouldBlock));
    // A soft one (host unreachable) is not reported without IP_RECVERR.
    let soft = icmp(B, A, 3, 1, [0; 4], &sent[..28]);
    w.a.handle_frame(now, &soft);
    assert_eq!(w.a.stats().icmp.in_dest_unreachs, 2);
    assert_eq!(w.a.ping_take_error(h), Ok(None));
}

#[test]
fn a_ping_larger_than_the_mtu_goes_and_comes_back_in_fragments() {
    let mut w = Wire::new();
    let h = w.a.ping_open();
    let data: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
    let now = w.now;
    w.a.ping_send_to(now, h, B, &request(9, &data)).unwrap();
    w.run_until(100);
    let mut buf = vec![0u8; 8192];
    let got = w.a.ping_recv_from(h, &mut buf).unwrap();
    assert_eq!(parts(&buf[..got.len]), (ident_of(&w.a, h), 9, &data[..]));
    // 4,008 bytes of ICMP in 1,500-byte datagrams: three fragments each
    // way, each side reassembling the other's.
    assert_eq!(w.b.reasm_stats().reasm_reqds, 3);
    assert_eq!(w.a.reasm_stats().reasm_reqds, 3);
    assert_eq!(
        (w.a.reasm_stats().reasm_oks, w.b.reasm_stats().reasm_oks),
        (1, 1)
    );
}

#[test]
fn a_record_route_comes_back_with_every_hop_there_and_back() {
    // ping -R: IP_OPTIONS with an empty record route of nine slots, and
    // IP_RECVOPTS to read the reply's.
    let mut n = Net::new(config(1), config(2));
    let h = n.a.ping_open();
    let mut rr = vec![7, 39, 4];
    rr.resize(39, 0);
    n.a.ping_set_ip_options(h, &rr).unwrap();
    n.a.ping_set_recv_ip_options(h, true).unwrap();
    let now = n.now;
    n.a.ping_send_to(now, h, FAR, &request(1, b"route"))
        .unwrap();
    n.settle();
    let mut buf = [0u8; 64];
    let mut options = [0u8; 40];
    let (got, len) = n.a.ping_recv_msg(h, &mut buf, &mut options).unwrap();
    assert_eq!((got.src, parts(&buf[..got.len]).2), (FAR, &b"route"[..]));
    // Ours as it left, the router's on the far link, the far host's as it
    // answered, the router's on ours on the way back.
    assert_eq!(len, 40);
    assert_eq!((options[0], options[1], options[2]), (7, 39, 4 + 4 * 4));
    let hops: Vec<Ipv4Addr> = options[3..19]
        .chunks(4)
        .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        .collect();
    assert_eq!(hops, [A, R_B, FAR, R_A]);
    // Without IP_RECVOPTS, none; malformed options are refused.
    n.a.ping_set_recv_ip_options(h, false).unwrap();
    n.a.ping_send_to(now, h, FAR, &request(2, b"")).unwrap();
    n.settle();
    assert_eq!(n.a.ping_recv_msg(h, &mut buf, &mut options).unwrap().1, 0);
    assert_eq!(
        n.a.ping_set_ip_options(h, &[7, 2]),
        Err(PingError::InvalidInput)
    );
}
