//! UDP sockets between two runtimes on an in-memory link.

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::*;
use synack::net::{FilterMode, UdpSocket};
use synack::{Builder, Medium, Pipe};

#[test]
fn datagrams_go_both_ways_with_their_sources() {
    let (a, b) = pair();
    let server = UdpSocket::bind(&b, "0.0.0.0:7").unwrap();
    let client = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    let local = client.local_addr().unwrap();
    assert!(local.port() >= 1024, "{local}");
    client.send_to(b"ping", addr(B, 7)).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from.port(), local.port());
    server.send_to(b"pong", from).unwrap();
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"pong"[..], addr(B, 7)));
}

#[test]
fn a_connected_socket_sends_receives_and_hears_port_unreachable() {
    let (a, b) = pair();
    let server = UdpSocket::bind(&b, "0.0.0.0:9").unwrap();
    let c = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    c.connect(addr(B, 9)).unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr(B, 9));
    c.send(b"hello").unwrap();
    let mut buf = [0u8; 3];
    // A datagram longer than the buffer is cut (std's recv does the same).
    assert_eq!(server.recv(&mut buf).unwrap(), 3);
    drop(server);
    // Nobody on port 9 now: the ICMP port unreachable comes back as ECONNREFUSED.
    c.send(b"anyone?").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let err = c.recv(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn bind_conflicts_timeouts_and_nonblocking() {
    let (_a, b) = pair();
    let s = UdpSocket::bind(&b, "0.0.0.0:53").unwrap();
    assert_eq!(
        UdpSocket::bind(&b, "0.0.0.0:53").unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    assert_eq!(
        UdpSocket::bind(&b, "198.51.100.1:53").unwrap_err().kind(),
        ErrorKind::AddrNotAvailable
    );
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    assert_eq!(
        s.recv(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    s.set_nonblocking(true).unwrap();
    assert_eq!(
        s.recv(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // Unconnected: send needs a destination.
    assert_eq!(s.send(b"x").unwrap_err().kind(), ErrorKind::NotConnected);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_udp_echo() {
    let (a, b) = pair();
    let server = synack::tokio::UdpSocket::bind(&b, "0.0.0.0:7")
        .await
        .unwrap();
    let echo = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        server.send_to(&buf[..n], from).await.unwrap();
    });
    let client = synack::tokio::UdpSocket::bind(&a, "0.0.0.0:0")
        .await
        .unwrap();
    client.connect(addr(B, 7)).await.unwrap();
    client.send(b"async datagram").await.unwrap();
    let mut buf = [0u8; 64];
    let n = client.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"async datagram");
    echo.await.unwrap();
}

#[test]
fn a_joined_group_is_received_until_it_is_left() {
    // IP_ADD_MEMBERSHIP and friends, as std names them, on an Ethernet
    // link (the group's MAC address; the route is each side's default).
    // Both hosts speak IGMPv2 (`force_igmp_version`), so each hears the
    // other's reports and one of them sends a Leave Group.
    const GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 1, 2, 3);
    let any = std::net::Ipv4Addr::UNSPECIFIED;
    let (da, db) = Pipe::pollable_pair(Medium::Ethernet, 1500).unwrap();
    let v2 = || synack_proto::Config {
        force_igmp_version: 2,
        ..Default::default()
    };
    let a = Builder::new(A, 24).gateway(B).seed(1).config(v2());
    let b = Builder::new(B, 24).gateway(A).seed(2).config(v2());
    let (a, b) = (a.start(da).unwrap(), b.start(db).unwrap());
    let member = UdpSocket::bind(&b, "0.0.0.0:5000").unwrap();
    member
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    member.join_multicast_v4(&GROUP, &any).unwrap();
    assert_eq!(
        member.join_multicast_v4(&GROUP, &any).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    let sender = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    sender.set_multicast_if_v4(&A).unwrap();
    sender.set_multicast_ttl_v4(2).unwrap();
    assert_eq!(
        sender.set_multicast_ttl_v4(256).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // IP_TTL (std's `set_ttl`) is the unicast one: 64 until set, 1 to 255.
    assert_eq!(sender.ttl().unwrap(), 64);
    sender.set_ttl(9).unwrap();
    assert_eq!(sender.ttl().unwrap(), 9);
    assert_eq!(
        sender.set_ttl(0).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    sender.send_to(b"to the group", addr(GROUP, 5000)).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = member.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"to the group");
    assert_eq!(from.ip(), std::net::IpAddr::V4(A));
    // A has taken B's report before it joins (B's frames reach A in order,
    // and this datagram after the report): otherwise a loaded machine may
    // have A hear it only once a member, and neither host would then be
    // the last reporter that sends the Leave Group checked below.
    let probe = UdpSocket::bind(&a, "0.0.0.0:5010").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    member.send_to(b"sync", addr(A, 5010)).unwrap();
    assert_eq!(probe.recv(&mut buf).unwrap(), 4);
    // The sender's own member gets it too (IP_MULTICAST_LOOP), unless off.
    let own = UdpSocket::bind(&a, "0.0.0.0:5000").unwrap();
    own.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    own.join_multicast_v4(&GROUP, &A).unwrap();
    sender.send_to(b"looped", addr(GROUP, 5000)).unwrap();
    assert_eq!(own.recv(&mut buf).unwrap(), 6);
    assert_eq!(member.recv(&mut buf).unwrap(), 6);
    sender.set_multicast_loop_v4(false).unwrap();
    sender.send_to(b"not looped", addr(GROUP, 5000)).unwrap();
    assert_eq!(member.recv(&mut buf).unwrap(), 10);
    assert_eq!(
        own.recv(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // Left: no longer received.
    member.leave_multicast_v4(&GROUP, &any).unwrap();
    sender.send_to(b"late", addr(GROUP, 5000)).unwrap();
    assert_eq!(
        member.recv(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // RFC 2236 §3: the Leave Group is the last reporter's to send. Which
    // host reported last depends on when the joins' repeats fell (wall
    // clock here); at least one of the two did, so it says it.
    own.leave_multicast_v4(&GROUP, &A).unwrap();
    let (ia, ib) = (a.stats().stack.igmp, b.stats().stack.igmp);
    assert!(ia.out_reports >= 1 && ib.out_reports >= 1, "{ia:?} {ib:?}");
    assert!(ib.in_reports >= 1, "{ib:?}");
    assert!(ia.out_leaves + ib.out_leaves >= 1, "{ia:?} {ib:?}");
}

#[test]
fn a_source_specific_join_receives_only_its_source() {
    // IP_ADD_SOURCE_MEMBERSHIP and the block calls (socket2's names) with
    // IGMPv3, the default. Two sources: A across the link, and B itself
    // (its own datagrams come back over the loopback only when B's filter
    // takes B, as Linux's `ip_mc_output` checks).
    const SSM: std::net::Ipv4Addr = std::net::Ipv4Addr::new(232, 1, 2, 3);
    let (da, db) = Pipe::pollable_pair(Medium::Ethernet, 1500).unwrap();
    let a = Builder::new(A, 24).gateway(B).seed(1).start(da).unwrap();
    let b = Builder::new(B, 24).gateway(A).seed(2).start(db).unwrap();
    let member = UdpSocket::bind(&b, "0.0.0.0:5001").unwrap();
    member
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    member.join_ssm_v4(&A, &SSM, &B).unwrap();
    assert_eq!(
        member.join_ssm_v4(&A, &SSM, &B).unwrap_err().kind(),
        ErrorKind::AddrNotAvailable
    );
    assert_eq!(
        member.block_source_v4(&B, &SSM, &B).unwrap_err().kind(),
        ErrorKind::InvalidInput,
        "an INCLUDE filter blocks nothing"
    );
    let from_a = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    from_a.set_multicast_if_v4(&A).unwrap();
    let from_b = UdpSocket::bind(&b, "0.0.0.0:0").unwrap();
    from_b.set_multicast_if_v4(&B).unwrap();
    // Each round: B's datagram (looped, or not), then A's, then a unicast
    // one from A that B must get: the link keeps A's frames in order, so
    // by then B has taken or dropped A's datagram to the group. The
    // sources received, in address order.
    let probe = UdpSocket::bind(&b, "0.0.0.0:5002").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let mut round = |member: &UdpSocket| -> Vec<std::net::IpAddr> {
        from_b.send_to(b"from b", addr(SSM, 5001)).unwrap();
        from_a.send_to(b"from a", addr(SSM, 5001)).unwrap();
        from_a.send_to(b"sync", addr(B, 5002)).unwrap();
        assert_eq!(probe.recv(&mut buf).unwrap(), 4);
        member.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        while let Ok((n, from)) = member.recv_from(&mut buf) {
            assert_eq!(n, 6);
            got.push(from.ip());
        }
        member.set_nonblocking(false).unwrap();
        got.sort();
        got
    };
    let (ip_a, ip_b) = (std::net::IpAddr::V4(A), std::net::IpAddr::V4(B));
    assert_eq!(round(&member), [ip_a]);
    // B too, then A no longer.
    member.join_ssm_v4(&B, &SSM, &B).unwrap();
    assert_eq!(round(&member), [ip_a, ip_b]);
    member.leave_ssm_v4(&A, &SSM, &B).unwrap();
    assert_eq!(round(&member), [ip_b]);
    member.leave_ssm_v4(&B, &SSM, &B).unwrap();
    assert!(round(&member).is_empty());
    // Any source, but B blocked; then unblocked.
    member.join_multicast_v4(&SSM, &B).unwrap();
    member.block_source_v4(&B, &SSM, &B).unwrap();
    assert_eq!(round(&member), [ip_a]);
    member.unblock_source_v4(&B, &SSM, &B).unwrap();
    assert_eq!(round(&member), [ip_a, ip_b]);
    // The full-state call (IP_MSFILTER): B only, at once; read back.
    member
        .set_source_filter_v4(&SSM, &B, FilterMode::Include, &[B])
        .unwrap();
    assert_eq!(round(&member), [ip_b]);
    assert_eq!(
        member.source_filter_v4(&SSM, &B).unwrap(),
        (FilterMode::Include, vec![B])
    );
    // Version 3 reports, one at least per moment of change (seven: the
    // join and the block just after it may go in one report, as Linux's
    // interface timer sends them), none heard by A as a report (they go to
    // 224.0.0.22, which hosts do not join), and no Leave Group.
    let (ia, ib) = (a.stats().stack.igmp, b.stats().stack.igmp);
    assert!(ib.out_reports >= 7, "{ib:?}");
    assert_eq!((ia.in_reports, ib.out_leaves), (0, 0), "{ia:?} {ib:?}");
}

#[test]
fn receivers_sharing_a_port_each_get_the_groups_datagrams() {
    // SO_REUSEADDR before bind (socket2's `set_reuse_address`): two
    // receivers of one group on one port each get every datagram; a
    // socket without it may not join them there.
    const GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 2, 2, 2);
    let (da, db) = Pipe::pollable_pair(Medium::Ethernet, 1500).unwrap();
    let a = Builder::new(A, 24).gateway(B).seed(1).start(da).unwrap();
    let b = Builder::new(B, 24).gateway(A).seed(2).start(db).unwrap();
    let receivers = [
        UdpSocket::bind_reuse_addr(&b, "0.0.0.0:5003").unwrap(),
        UdpSocket::bind_reuse_addr(&b, "0.0.0.0:5003").unwrap(),
    ];
    assert_eq!(
        UdpSocket::bind(&b, "0.0.0.0:5003").unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    for r in &receivers {
        r.join_multicast_v4(&GROUP, &B).unwrap();
        r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let sender = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    sender.set_multicast_if_v4(&A).unwrap();
    sender.send_to(b"to both", addr(GROUP, 5003)).unwrap();
    let mut buf = [0u8; 16];
    for r in &receivers {
        let (n, from) = r.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from.ip()),
            (&b"to both"[..], std::net::IpAddr::V4(A))
        );
    }
}

#[test]
fn reuseport_sockets_split_the_flows_to_a_port() {
    // SO_REUSEPORT before bind: each client's datagrams go to one of the
    // two servers, always the same one, and both get some clients.
    let (a, b) = pair();
    let servers = [
        UdpSocket::bind_reuse_port(&b, "0.0.0.0:5004").unwrap(),
        UdpSocket::bind_reuse_port(&b, "0.0.0.0:5004").unwrap(),
    ];
    assert_eq!(
        UdpSocket::bind_reuse_addr(&b, "0.0.0.0:5004")
            .unwrap_err()
            .kind(),
        ErrorKind::AddrInUse
    );
    let clients: Vec<_> = (0..20)
        .map(|_| UdpSocket::bind(&a, "0.0.0.0:0").unwrap())
        .collect();
    for round in 0..2u8 {
        for c in &clients {
            c.send_to(&[round], addr(B, 5004)).unwrap();
        }
    }
    let mut seen: Vec<Vec<u16>> = vec![Vec::new(), Vec::new()];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4];
    while seen.iter().map(Vec::len).sum::<usize>() < 40 && std::time::Instant::now() < deadline {
        for (s, got) in servers.iter().zip(&mut seen) {
            s.set_nonblocking(true).unwrap();
            while let Ok((_, from)) = s.recv_from(&mut buf) {
                got.push(from.port());
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(seen[0].len() + seen[1].len(), 40, "{seen:?}");
    assert!(!seen[0].is_empty() && !seen[1].is_empty(), "{seen:?}");
    for port in &seen[0] {
        assert!(!seen[1].contains(port), "one flow, one socket: {seen:?}");
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn a_tokio_socket_joins_a_group() {
    // tokio's names, by value: the async socket receives a group's
    // datagrams once it joined, and not after it left.
    const GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 4, 5, 6);
    let any = std::net::Ipv4Addr::UNSPECIFIED;
    let (da, db) = Pipe::pollable_pair(Medium::Ethernet, 1500).unwrap();
    let a = Builder::new(A, 24).gateway(B).seed(1).start(da).unwrap();
    let b = Builder::new(B, 24).gateway(A).seed(2).start(db).unwrap();
    let member = synack::tokio::UdpSocket::bind(&b, "0.0.0.0:6000")
        .await
        .unwrap();
    member.join_multicast_v4(GROUP, any).unwrap();
    let sender = synack::tokio::UdpSocket::bind(&a, "0.0.0.0:0")
        .await
        .unwrap();
    sender.set_multicast_ttl_v4(1).unwrap();
    sender.set_multicast_loop_v4(false).unwrap();
    sender
        .send_to(b"async group", addr(GROUP, 6000))
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = member.recv_from(&mut buf).await.unwrap();
    assert_eq!(
        (&buf[..n], from.ip()),
        (&b"async group"[..], std::net::IpAddr::V4(A))
    );
    member.leave_multicast_v4(GROUP, any).unwrap();
    assert_eq!(
        member.leave_multicast_v4(GROUP, any).unwrap_err().kind(),
        ErrorKind::AddrNotAvailable
    );
    // Source-specific, by tokio's by-value convention: A's datagrams only.
    member.join_ssm_v4(A, GROUP, any).unwrap();
    member.block_source_v4(A, GROUP, any).unwrap_err();
    sender.send_to(b"ssm", addr(GROUP, 6000)).await.unwrap();
    let (n, _) = member.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"ssm");
    member.leave_ssm_v4(A, GROUP, any).unwrap();
    member.join_multicast_v4(GROUP, any).unwrap();
    member.block_source_v4(A, GROUP, any).unwrap();
    member.unblock_source_v4(A, GROUP, any).unwrap();
    member
        .set_source_filter_v4(GROUP, any, FilterMode::Exclude, &[A])
        .unwrap();
    assert_eq!(
        member.source_filter_v4(GROUP, any).unwrap(),
        (FilterMode::Exclude, vec![A])
    );
}

#[test]
fn recverr_hands_an_unconnected_socket_its_errors() {
    let (a, _b) = pair();
    let probe = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    probe.set_recv_error(true).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for port in [33434, 33435] {
        probe.send_to(b"probe", addr(B, port)).unwrap();
        // B has nothing on the port: its port unreachable, from B.
        let report = probe.recv_error().unwrap();
        assert_eq!(report.offender, B);
        assert_eq!(report.dst, std::net::SocketAddrV4::new(B, port));
        assert_eq!(report.icmp_type_code(), (3, 3));
    }
    probe
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    assert_eq!(
        probe.recv_error().unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[test]
fn a_wildcard_server_reads_where_a_request_went_and_answers_from_there() {
    // `recv_msg` is recvmsg with IP_PKTINFO, IP_RECVTTL and IP_RECVTOS;
    // `send_to_from` is sendmsg with IP_PKTINFO's source.
    let (a, b) = pair();
    let server = UdpSocket::bind(&b, "0.0.0.0:7").unwrap();
    let client = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.set_tos(0x28).unwrap();
    client.send_to(b"where", addr(B, 7)).unwrap();
    let mut buf = [0u8; 64];
    let got = server.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..got.len], b"where");
    assert_eq!(
        (got.dst, got.ttl, got.tos, got.truncated),
        (B, 64, 0x28, false)
    );
    let from = std::net::SocketAddr::V4(got.src);
    server.send_to_from(b"here", from, got.dst).unwrap();
    let (n, src) = client.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], src), (&b"here"[..], addr(B, 7)));
    // Another host's address is no source of ours.
    let e = server.send_to_from(b"x", from, A).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}
