//! UDP sockets through the stack (RFC 768, RFC 1122 §4.1.3): bind, connect
//! semantics, send and receive, checksums, the bounded queue, port
//! unreachable both ways.

use super::*;
use crate::ip::icmp::IcmpErrno;
use crate::udp::UdpError;

#[test]
fn bind_explicit_and_ephemeral_with_std_errors() {
    let mut s = stack(A, 1);
    let u = s.udp_open();
    assert_eq!(
        s.udp_bind(u, SocketAddrV4::new(A, 53)),
        Ok(SocketAddrV4::new(A, 53))
    );
    assert_eq!(
        s.udp_bind(u, SocketAddrV4::new(A, 54)),
        Err(UdpError::InvalidInput),
        "already bound"
    );
    let v = s.udp_open();
    assert_eq!(
        s.udp_bind(v, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 53)),
        Err(UdpError::AddrInUse)
    );
    assert_eq!(
        s.udp_bind(v, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 53)),
        Err(UdpError::AddrNotAvailable)
    );
    let eph = s
        .udp_bind(v, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
        .unwrap();
    assert!((32768..=60999).contains(&eph.port()));
    // TCP's ports are another space.
    s.tcp_listen(SocketAddrV4::new(A, 53), 1).unwrap();
}

#[test]
fn datagrams_flow_both_ways_with_their_sources() {
    let mut w = Wire::new();
    let server = w.b.udp_open();
    w.b.udp_bind(server, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7))
        .unwrap();
    let client = w.a.udp_open();
    let now = w.now;
    w.a.udp_send_to(now, client, SocketAddrV4::new(B, 7), b"ping")
        .unwrap();
    let local = w.a.udp_local_addr(client).unwrap().unwrap();
    assert_eq!(
        *local.ip(),
        Ipv4Addr::UNSPECIFIED,
        "sending bound it, on any address"
    );
    w.run_until(100);
    assert!(events(&mut w.b).contains(&Event::UdpReadable(server)));
    let mut buf = [0u8; 16];
    let got = w.b.udp_recv_from(server, &mut buf).unwrap();
    assert_eq!(&buf[..got.len], b"ping");
    assert_eq!(got.src, SocketAddrV4::new(A, local.port()));
    assert_eq!(got.dst, B);
    let now = w.now;
    w.b.udp_send_to(now, server, got.src, b"pong").unwrap();
    w.run_until(200);
    assert_eq!(w.a.udp_recv(client, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"pong");
    assert_eq!(w.a.udp_recv(client, &mut buf), Err(UdpError::WouldBlock));
    assert_eq!(
        (w.b.udp_stats().in_datagrams, w.b.udp_stats().out_datagrams),
        (1, 1)
    );
}

#[test]
fn connect_records_the_peer_and_can_be_changed_or_undone() {
    let mut w = Wire::new();
    let b1 = w.b.udp_open();
    w.b.udp_bind(b1, SocketAddrV4::new(B, 1000)).unwrap();
    let b2 = w.b.udp_open();
    w.b.udp_bind(b2, SocketAddrV4::new(B, 2000)).unwrap();
    let a = w.a.udp_open();
    // connect binds an ephemeral port on the route's source address and
    // sends nothing.
    let local = w.a.udp_connect(a, SocketAddrV4::new(B, 1000)).unwrap();
    assert_eq!(*local.ip(), A);
    assert!(drain(&mut w.a, w.now).is_empty());
    let now = w.now;
    assert_eq!(w.a.udp_send(now, a, b"one"), Ok(3));
    // Connected to a different peer now.
    w.a.udp_connect(a, SocketAddrV4::new(B, 2000)).unwrap();
    assert_eq!(w.a.udp_send(now, a, b"two"), Ok(3));
    w.run_until(100);
    let mut buf = [0u8; 8];
    assert_eq!(w.b.udp_recv(b1, &mut buf), Ok(3));
    assert_eq!(w.b.udp_recv(b2, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"two");
    // A connected socket only hears its peer.
    let now = w.now;
    w.b.udp_send_to(now, b1, local, b"not your peer").unwrap();
    w.run_until(200);
    assert_eq!(w.a.udp_recv(a, &mut buf), Err(UdpError::WouldBlock));
    // Undone: no default destination, any source heard again; the
    // automatic port is given up (Linux `__udp_disconnect`).
    w.a.udp_disconnect(a).unwrap();
    assert_eq!(w.a.udp_send(w.now, a, b"x"), Err(UdpError::NotConnected));
    assert_eq!(w.a.udp_local_addr(a), Ok(None));
}

#[test]
fn a_bad_checksum_is_dropped_and_counted() {
    let mut s = stack(B, 1);
    let u = s.udp_open();
    s.udp_bind(u, SocketAddrV4::new(B, 9)).unwrap();
    let mut d = vec![0u8; 8 + 4];
    crate::wire::udp::UdpRepr {
        src_port: 4000,
        dst_port: 9,
        payload: b"data",
    }
    .emit(
        &mut crate::wire::udp::UdpPacket::new_unchecked(&mut d[..]),
        A,
        B,
        Checksum::Full,
    );
    d[11] ^= 1;
    let t = Instant::from_millis(1);
    s.handle_frame(t, &ip_datagram(A, B, IpProtocol::Udp, &d));
    assert_eq!(s.udp_stats().in_csum_errors, 1);
    let mut buf = [0u8; 8];
    assert_eq!(s.udp_recv(u, &mut buf), Err(UdpError::WouldBlock));
    assert!(
        drain(&mut s, t).is_empty(),
        "no port unreachable for a bad datagram"
    );
}

#[test]
fn the_receive_queue_is_bounded_and_drops_are_counted() {
    let mut w = Wire::new();
    let b = w.b.udp_open();
    w.b.udp_bind(b, SocketAddrV4::new(B, 9)).unwrap();
    // Room for 3 datagrams of 100 bytes (each charged 100 + 256).
    w.b.udp_set_recv_buffer(b, 3 * 356).unwrap();
    let a = w.a.udp_open();
    let now = w.now;
    for _ in 0..5 {
        w.a.udp_send_to(now, a, SocketAddrV4::new(B, 9), &[1u8; 100])
            .unwrap();
    }
    w.run_until(100);
    assert_eq!(w.b.udp_recv_queue(b), Ok((3, 300)));
    assert_eq!(w.b.udp_stats().rcvbuf_errors, 2);
    assert_eq!(w.b.udp_stats().in_errors, 2);
}

#[test]
fn port_unreachable_both_ways_reaches_a_connected_socket_once() {
    let mut w = Wire::new();
    let a = w.a.udp_open();
    w.a.udp_connect(a, SocketAddrV4::new(B, 9)).unwrap();
    let now = w.now;
    w.a.udp_send(now, a, b"anyone?").unwrap();
    w.run_until(100);
    // B answered with ICMP port unreachable; A's connected socket reports
    // ECONNREFUSED on its next call, once (RFC 1122 §4.1.3.3).
    assert_eq!(w.b.udp_stats().no_ports, 1);
    assert!(events(&mut w.a).contains(&Event::UdpReadable(a)));
    let mut buf = [0u8; 8];
    assert_eq!(
        w.a.udp_recv(a, &mut buf),
        Err(UdpError::Icmp(IcmpErrno::ConnectionRefused))
    );
    assert_eq!(w.a.udp_recv(a, &mut buf), Err(UdpError::WouldBlock));
    // An unconnected socket never sees ICMP errors (no IP_RECVERR).
    let u = w.a.udp_open();
    let now = w.now;
    w.a.udp_send_to(now, u, SocketAddrV4::new(B, 9), b"?")
        .unwrap();
    w.run_until(200);
    assert_eq!(w.a.udp_recv(u, &mut buf), Err(UdpError::WouldBlock));
}

#[test]
fn a_multicast_datagram_leaves_with_the_sockets_multicast_ttl() {
    // RFC 1112 §6.1: one hop unless the socket asks for more
    // (IP_MULTICAST_TTL); a unicast datagram keeps `ip_default_ttl`.
    let mut s = stack(A, 3);
    let u = s.udp_open();
    let group = SocketAddrV4::new(Ipv4Addr::new(239, 1, 2, 3), 5353);
    let ttl_of_next = |s: &mut Stack, to: SocketAddrV4| {
        s.udp_send_to(Instant::ZERO, u, to, b"hello").unwrap();
        let mut buf = [0u8; 2000];
        let n = s.poll_transmit(Instant::ZERO, &mut buf).expect("a frame");
        assert_eq!(s.poll_transmit(Instant::ZERO, &mut buf), None);
        let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        assert!(ip.verify_checksum());
        (ip.dst_addr(), ip.ttl())
    };
    assert_eq!(ttl_of_next(&mut s, group), (*group.ip(), 1));
    assert_eq!(ttl_of_next(&mut s, SocketAddrV4::new(B, 53)), (B, 64));
    s.udp_set_multicast_ttl(u, 32).unwrap();
    assert_eq!(ttl_of_next(&mut s, group), (*group.ip(), 32));
    // IP_TTL sets the unicast one (RFC 1122 §3.2.1.7), not the group's.
    assert_eq!(s.udp_ttl(u), Ok(64));
    s.udp_set_ttl(u, 1).unwrap();
    assert_eq!(ttl_of_next(&mut s, SocketAddrV4::new(B, 53)), (B, 1));
    assert_eq!(ttl_of_next(&mut s, group), (*group.ip(), 32));
    assert_eq!(s.udp_ttl(u), Ok(1));
    assert_eq!(s.udp_set_ttl(u, 0), Err(UdpError::InvalidInput));
    // 0: this host only, where no socket is a member: nothing leaves.
    s.udp_set_multicast_ttl(u, 0).unwrap();
    assert_eq!(s.udp_send_to(Instant::ZERO, u, group, b"x"), Ok(1));
    assert_eq!(s.poll_transmit(Instant::ZERO, &mut [0u8; 2000]), None);
}

#[test]
fn a_datagram_leaves_with_the_sockets_whole_tos_and_is_read_with_the_one_it_came_with() {
    // IP_TOS on a datagram socket is the whole byte, its ECN field too
    // (RFC 3168 §6: the transport's; QUIC sets it so), and IP_RECVTOS
    // reports each datagram's as it arrived.
    let mut w = Wire::new();
    let (a, b) = (w.a.udp_open(), w.b.udp_open());
    w.a.udp_bind(a, SocketAddrV4::new(A, 4000)).unwrap();
    w.b.udp_bind(b, SocketAddrV4::new(B, 5000)).unwrap();
    assert_eq!(w.a.udp_tos(a), Ok(0));
    let to_b = SocketAddrV4::new(B, 5000);
    let mut buf = [0u8; 2000];
    let mut tos_sent = Vec::new();
    for tos in [0xB8 | 0b10, 0x88 | 0b01, 0] {
        w.a.udp_set_tos(a, tos).unwrap();
        assert_eq!(w.a.udp_tos(a), Ok(tos));
        let now = w.now;
        w.a.udp_send_to(now, a, to_b, b"marked").unwrap();
        let n = w.a.poll_transmit(now, &mut buf).expect("a datagram");
        let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        assert!(ip.verify_checksum());
        tos_sent.push(ip.dscp_ecn());
        w.b.handle_frame(now, &buf[..n]);
        let got = w.b.udp_recv_from(b, &mut buf).unwrap();
        assert_eq!(
            (got.src, got.tos, got.len),
            (SocketAddrV4::new(A, 4000), tos, 6)
        );
    }
    assert_eq!(tos_sent, vec![0xBA, 0x89, 0]);
    // The socket's TTL rides beside it, unchanged.
    w.a.udp_set_ttl(a, 9).unwrap();
    w.a.udp_set_tos(a, 0x28).unwrap();
    let now = w.now;
    w.a.udp_send_to(now, a, to_b, b"x").unwrap();
    let n = w.a.poll_transmit(now, &mut buf).unwrap();
    let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!((ip.dscp_ecn(), ip.ttl()), (0x28, 9));
    w.a.udp_close(a).unwrap();
    assert_eq!(w.a.udp_set_tos(a, 1), Err(UdpError::InvalidHandle));
}

/// The second interface's address, beside A's.
const SECOND: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// A stack at A and [`SECOND`] (two interfaces) with a UDP socket bound to
/// 0.0.0.0:53.
fn two_interface_server() -> (Stack, crate::udp::UdpHandle) {
    let mut s = stack(A, 7);
    s.add_interface(crate::stack::Interface::ip(SECOND, 24));
    let u = s.udp_open();
    s.udp_bind(u, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 53))
        .unwrap();
    (s, u)
}

#[test]
fn a_wildcard_server_answers_from_the_address_a_request_came_to() {
    // Two interfaces: 192.0.2.1 and 198.51.100.1. A request to the second
    // arrives from 192.0.2.9 (on the first's link, as asymmetric paths
    // make it); the route back leaves by the first, whose address a plain
    // reply would carry. IP_PKTINFO's source keeps the one asked.
    let (mut s, u) = two_interface_server();
    let client = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 9), 5300);
    let now = Instant::ZERO;
    let request = super::ip::udp_datagram(client, SocketAddrV4::new(SECOND, 53), b"query");
    s.handle_frame(now, &request);
    let mut buf = [0u8; 2000];
    let got = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!((got.src, got.dst), (client, SECOND));
    let sent_from = |s: &mut Stack| {
        let mut frame = [0u8; 2000];
        let (iface, n) = s.poll_transmit_on(now, &mut frame).expect("a reply");
        let ip = Ipv4Packet::new_checked(&frame[..n]).unwrap();
        let ipr = Ipv4Repr::parse(&ip, Checksum::Full).unwrap();
        let udp = crate::wire::udp::UdpPacket::new_checked(ip.payload()).unwrap();
        // The checksum covers the source written.
        crate::wire::udp::UdpRepr::parse(&udp, ipr.src_addr, ipr.dst_addr, Checksum::Full)
            .expect("a valid UDP checksum");
        (iface.0, ipr.src_addr)
    };
    s.udp_send_to(now, u, client, b"plain").unwrap();
    assert_eq!(sent_from(&mut s), (0, A));
    s.udp_send_from(now, u, Some(client), got.dst, b"answer")
        .unwrap();
    assert_eq!(sent_from(&mut s), (0, SECOND));
    // Not this host's, or 127/8 off the host: Linux's EINVAL.
    for bad in [Ipv4Addr::new(203, 0, 113, 5), Ipv4Addr::LOCALHOST] {
        assert_eq!(
            s.udp_send_from(now, u, Some(client), bad, b"x"),
            Err(UdpError::InvalidInput)
        );
    }
    assert_eq!(s.poll_transmit_on(now, &mut buf), None);
}

/// IP_PKTINFO's interface: each datagram reports the interface it came in
/// on (Linux's `ipi_ifindex`), whatever address it was sent to.
#[test]
fn each_datagram_reports_the_interface_it_came_in_on() {
    let (mut s, u) = two_interface_server();
    let now = Instant::ZERO;
    let mut buf = [0u8; 64];
    for (iface, from, to) in [
        (0, Ipv4Addr::new(192, 0, 2, 9), A),
        (1, Ipv4Addr::new(198, 51, 100, 9), SECOND),
        // Sent to the first's address, in by the second.
        (1, Ipv4Addr::new(198, 51, 100, 9), A),
    ] {
        let client = SocketAddrV4::new(from, 5300);
        let request = super::ip::udp_datagram(client, SocketAddrV4::new(to, 53), b"q");
        s.handle_frame_on(now, IfaceId(iface), &request);
        let got = s.udp_recv_from(u, &mut buf).unwrap();
        assert_eq!((got.iface, got.dst), (IfaceId(iface), to));
    }
}
