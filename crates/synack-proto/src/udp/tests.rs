use super::*;
use crate::ip::icmp::{self, ErrorMessage, ReplyIp};
use crate::wire::icmpv4::{DstUnreachable, Icmpv4Packet, Icmpv4Repr};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::test_util::junk;

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const US2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

fn ours(a: Ipv4Addr) -> bool {
    a == US || a == US2
}

fn route(_dst: Ipv4Addr) -> Option<Ipv4Addr> {
    Some(US)
}

fn table() -> UdpSockets {
    UdpSockets::new(&Config::default(), Rng::from_seed(1), SipKey([9; 16]))
}

fn ip_to(dst: Ipv4Addr, from: Ipv4Addr, udp_len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src_addr: from,
        dst_addr: dst,
        protocol: IpProtocol::Udp,
        payload_len: udp_len as u16,
        ttl: 64,
        dscp_ecn: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    }
}

/// A datagram `from` -> `to` with `payload`, checksummed.
fn datagram(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> (Ipv4Repr, Vec<u8>) {
    let out = Outgoing { src: from, dst: to };
    let mut buf = junk(Outgoing::udp_len(payload.len()));
    let n = out.emit(payload, Checksum::Full, &mut buf).unwrap();
    (ip_to(*to.ip(), *from.ip(), n), buf)
}

fn deliver(t: &mut UdpSockets, from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> UdpInput {
    let (ip, udp) = datagram(from, to, payload);
    t.handle_datagram(&ip, &udp, false, Checksum::Full)
}

fn recv(t: &mut UdpSockets, h: UdpHandle) -> Result<(Vec<u8>, SocketAddrV4), UdpError> {
    let mut buf = [0u8; 2048];
    let r = t.recv_from(h, &mut buf)?;
    Ok((buf[..r.len].to_vec(), r.src))
}

#[test]
fn so_reuseport_sockets_split_unicast_flows_and_each_take_broadcast() {
    let mut t = table();
    let group: Vec<UdpHandle> = (0..3)
        .map(|_| {
            let h = t.open();
            t.set_reuse_port(h, true).unwrap();
            t.bind(h, sa(WILDCARD, 443), ours).unwrap();
            h
        })
        .collect();
    // One without it may not join; SO_REUSEADDR alone does not do.
    let other = t.open();
    t.set_reuse_addr(other, true).unwrap();
    assert_eq!(
        t.bind(other, sa(WILDCARD, 443), ours),
        Err(UdpError::AddrInUse)
    );
    // 90 flows: spread over the three, each flow always to one socket.
    let mut per = [0usize; 3];
    for port in 40_000..40_090 {
        let from = sa(PEER, port);
        let UdpInput::Delivered(h) = deliver(&mut t, from, sa(US, 443), b"q") else {
            panic!("not delivered");
        };
        assert_eq!(
            deliver(&mut t, from, sa(US, 443), b"q"),
            UdpInput::Delivered(h)
        );
        per[group.iter().position(|&g| g == h).unwrap()] += 1;
    }
    assert!(per.iter().all(|&n| n >= 20), "{per:?}");
    // A broadcast to each of them.
    let (ip, udp) = datagram(sa(US2, 9), sa(Ipv4Addr::BROADCAST, 443), b"all");
    let got = t.handle_datagram(&ip, &udp, true, Checksum::Full);
    assert_eq!(got, UdpInput::DeliveredToMany(3));
}

#[test]
fn so_reuseaddr_sockets_share_a_port_one_takes_unicast_all_take_broadcast() {
    let mut t = table();
    let open_bound = |t: &mut UdpSockets, reuse: bool, addr: SocketAddrV4| {
        let h = t.open();
        t.set_reuse_addr(h, reuse).unwrap();
        t.bind(h, addr, ours).map(|_| h)
    };
    let first = open_bound(&mut t, true, sa(WILDCARD, 5353)).unwrap();
    // Without it, on the shared port: refused, either way round.
    assert_eq!(
        open_bound(&mut t, false, sa(WILDCARD, 5353)),
        Err(UdpError::AddrInUse)
    );
    assert_eq!(
        open_bound(&mut t, false, sa(US, 5353)),
        Err(UdpError::AddrInUse)
    );
    let second = open_bound(&mut t, true, sa(WILDCARD, 5353)).unwrap();
    let specific = open_bound(&mut t, true, sa(US, 5353)).unwrap();
    let plain = open_bound(&mut t, false, sa(US, 7000)).unwrap();
    let t2 = open_bound(&mut t, true, sa(US, 7000));
    assert_eq!(t2, Err(UdpError::AddrInUse), "the holder did not set it");
    let _ = plain;
    // Unicast: the one bound to the address beats the wildcard ones...
    let from = sa(PEER, 9);
    assert_eq!(
        deliver(&mut t, from, sa(US, 5353), b"u1"),
        UdpInput::Delivered(specific)
    );
    // ...to another of our addresses, the newest wildcard one...
    assert_eq!(
        deliver(&mut t, from, sa(US2, 5353), b"u2"),
        UdpInput::Delivered(second)
    );
    // ...and one connected to the source beats both.
    t.connect(first, from, Some(US)).unwrap();
    assert_eq!(
        deliver(&mut t, from, sa(US, 5353), b"u3"),
        UdpInput::Delivered(first)
    );
    // Broadcast: every one bound to the wildcard (or to the broadcast
    // address) that takes it: `second` only, as `first`'s connect fixed
    // its address to US (Linux's), where `specific` is too.
    let (ip, udp) = datagram(sa(US2, 9), sa(Ipv4Addr::BROADCAST, 5353), b"all");
    let got = t.handle_datagram(&ip, &udp, true, Checksum::Full);
    assert_eq!(got, UdpInput::DeliveredToMany(1));
    let mut readable = Vec::new();
    t.drain_readable(|h| readable.push(h));
    // `second` already held a datagram: only newly readable ones count.
    assert!(readable.is_empty(), "{readable:?}");
    let mut buf = [0u8; 8];
    assert_eq!(t.recv(second, &mut buf), Ok(2));
    assert_eq!(t.recv(second, &mut buf), Ok(3));
    // The newest goes: the older one on its address takes over, and
    // once nothing is shared the single lookup is back.
    t.close(second).unwrap();
    t.disconnect(first).unwrap();
    assert_eq!(
        deliver(&mut t, from, sa(US2, 5353), b"u4"),
        UdpInput::Delivered(first)
    );
    t.close(specific).unwrap();
    assert_eq!(t.shared, 0);
    assert_eq!(
        deliver(&mut t, from, sa(US, 5353), b"u5"),
        UdpInput::Delivered(first)
    );
}

#[test]
fn bind_conflicts_follow_std_and_linux() {
    let mut t = table();
    let a = t.open();
    assert_eq!(t.bind(a, sa(US, 5353), ours), Ok(sa(US, 5353)));
    let b = t.open();
    assert_eq!(t.bind(b, sa(US, 5353), ours), Err(UdpError::AddrInUse));
    assert_eq!(
        t.bind(b, sa(WILDCARD, 5353), ours),
        Err(UdpError::AddrInUse)
    );
    assert_eq!(
        t.bind(b, sa(US2, 5353), ours),
        Ok(sa(US2, 5353)),
        "other address, same port"
    );
    let c = t.open();
    assert_eq!(
        t.bind(c, sa(PEER, 53), ours),
        Err(UdpError::AddrNotAvailable)
    );
    assert_eq!(t.bind(c, sa(WILDCARD, 53), ours), Ok(sa(WILDCARD, 53)));
    let d = t.open();
    assert_eq!(
        t.bind(d, sa(US, 53), ours),
        Err(UdpError::AddrInUse),
        "wildcard holds it"
    );
    assert_eq!(
        t.bind(c, sa(WILDCARD, 54), ours),
        Err(UdpError::InvalidInput),
        "already bound"
    );
    // Closing frees the port.
    t.close(c).unwrap();
    assert_eq!(t.bind(d, sa(US, 53), ours), Ok(sa(US, 53)));
    assert_eq!(t.local_addr(c), Err(UdpError::InvalidHandle));
}

#[test]
fn port_zero_picks_a_random_free_ephemeral_port() {
    let mut t = table();
    let mut ports = std::collections::HashSet::new();
    for _ in 0..200 {
        let h = t.open();
        let local = t.bind(h, sa(WILDCARD, 0), ours).unwrap();
        assert!((32768..=60999).contains(&local.port()));
        assert!(ports.insert(local.port()), "port reused while bound");
    }
    // Random, not sequential (RFC 6056 §3.3.1).
    let mut sorted: Vec<u16> = ports.into_iter().collect();
    sorted.sort();
    let sequential = sorted.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert!(sequential < 20, "{sequential} consecutive pairs");
}

#[test]
fn exhausting_the_range_fails_cleanly() {
    let config = Config {
        ip_local_port_range: (40000, 40002),
        ..Config::default()
    };
    let mut t = UdpSockets::new(&config, Rng::from_seed(2), SipKey([0; 16]));
    let mut got = Vec::new();
    for _ in 0..3 {
        let h = t.open();
        got.push(t.bind(h, sa(US, 0), ours).unwrap().port());
    }
    got.sort();
    assert_eq!(got, [40000, 40001, 40002]);
    let h = t.open();
    assert_eq!(t.bind(h, sa(US, 0), ours), Err(UdpError::NoEphemeralPorts));
    assert_eq!(
        t.send_to(h, Some(sa(PEER, 53)), 1, route),
        Err(UdpError::NoEphemeralPorts)
    );
    // Another address still has every port... but a wildcard bind needs
    // the port free on every address.
    assert!(t.bind(h, sa(US2, 0), ours).is_ok());
}

#[test]
fn send_to_autobinds_and_uses_the_route_source() {
    let mut t = table();
    let h = t.open();
    let out = t.send_to(h, Some(sa(PEER, 53)), 4, route).unwrap();
    assert_eq!(*out.src.ip(), US);
    assert_eq!(out.dst, sa(PEER, 53));
    let local = t.local_addr(h).unwrap().unwrap();
    assert_eq!((*local.ip(), local.port()), (WILDCARD, out.src.port()));
    assert_eq!(
        t.send_to(h, Some(sa(PEER, 53)), 4, |_| None),
        Err(UdpError::NetworkUnreachable)
    );
    assert_eq!(t.send_to(h, None, 4, route), Err(UdpError::NotConnected));
    assert_eq!(
        t.send_to(h, Some(sa(PEER, 0)), 4, route),
        Err(UdpError::InvalidInput)
    );
    assert_eq!(
        t.send_to(h, Some(sa(PEER, 53)), 65_508, route),
        Err(UdpError::MessageTooLong)
    );
    assert!(t.send_to(h, Some(sa(PEER, 53)), 65_507, route).is_ok());
    assert_eq!(t.stats().out_datagrams, 2);
    // A socket bound to a specific address sends from it whatever the route.
    let b = t.open();
    t.bind(b, sa(US2, 7000), ours).unwrap();
    let out = t.send_to(b, Some(sa(PEER, 53)), 0, route).unwrap();
    assert_eq!(out.src, sa(US2, 7000));
}

#[test]
fn emit_writes_a_checksummed_datagram_over_junk() {
    let out = Outgoing {
        src: sa(Ipv4Addr::new(192, 0, 2, 1), 40000),
        dst: sa(Ipv4Addr::new(192, 0, 2, 2), 53),
    };
    let mut buf = junk(20);
    assert_eq!(out.emit(b"ping", Checksum::Full, &mut buf), Some(12));
    // RFC 768 checksum over the pseudo-header, computed by hand.
    assert_eq!(
        &buf[..12],
        &[
            0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x8c, b'p', b'i', b'n', b'g'
        ]
    );
    assert_eq!(&buf[12..], &[0xAA; 8], "nothing past the datagram");
    assert_eq!(out.emit(b"ping", Checksum::Full, &mut junk(11)), None);
}

#[test]
fn connect_records_the_peer_and_filters_what_is_received() {
    let mut t = table();
    let h = t.open();
    t.bind(h, sa(WILDCARD, 9000), ours).unwrap();
    let local = t.connect(h, sa(PEER, 53), Some(US)).unwrap();
    assert_eq!(
        local,
        sa(US, 9000),
        "the wildcard address became the route's"
    );
    assert_eq!(t.peer_addr(h).unwrap(), Some(sa(PEER, 53)));
    let out = t
        .send(h, 3, |_| panic!("no route lookup for a fixed source"))
        .unwrap();
    assert_eq!((out.src, out.dst), (sa(US, 9000), sa(PEER, 53)));
    assert_eq!(
        deliver(&mut t, sa(PEER, 53), sa(US, 9000), b"yes"),
        UdpInput::Delivered(h)
    );
    assert_eq!(
        deliver(&mut t, sa(PEER, 54), sa(US, 9000), b"no"),
        UdpInput::NoPort
    );
    let stranger = Ipv4Addr::new(203, 0, 113, 10);
    assert_eq!(
        deliver(&mut t, sa(stranger, 53), sa(US, 9000), b"no"),
        UdpInput::NoPort
    );
    assert_eq!(recv(&mut t, h), Ok((b"yes".to_vec(), sa(PEER, 53))));
    assert_eq!(recv(&mut t, h), Err(UdpError::WouldBlock));
    // Connect again: a new peer.
    t.connect(h, sa(stranger, 53), Some(US)).unwrap();
    assert_eq!(
        deliver(&mut t, sa(stranger, 53), sa(US, 9000), b"new"),
        UdpInput::Delivered(h)
    );
    assert_eq!(
        deliver(&mut t, sa(PEER, 53), sa(US, 9000), b"old"),
        UdpInput::NoPort
    );
    // Disconnect: anyone again, on the wildcard address again.
    t.disconnect(h).unwrap();
    assert_eq!(t.local_addr(h).unwrap(), Some(sa(WILDCARD, 9000)));
    assert_eq!(
        deliver(&mut t, sa(PEER, 53), sa(US2, 9000), b"any"),
        UdpInput::Delivered(h)
    );
    assert_eq!(
        t.connect(h, sa(PEER, 53), None),
        Err(UdpError::NetworkUnreachable)
    );
    assert_eq!(
        t.connect(h, sa(PEER, 0), Some(US)),
        Err(UdpError::InvalidInput)
    );
}

#[test]
fn disconnect_forgets_an_automatic_binding() {
    let mut t = table();
    let h = t.open();
    let local = t.connect(h, sa(PEER, 53), Some(US)).unwrap();
    assert_eq!(*local.ip(), US);
    assert!(t.bound.contains_key(&local));
    t.disconnect(h).unwrap();
    assert_eq!(t.local_addr(h).unwrap(), None, "the port was automatic");
    assert!(t.bound.is_empty() && t.port_users.is_empty());
    // An explicit address survives a disconnect, an automatic port not.
    let b = t.open();
    t.bind(b, sa(US2, 0), ours).unwrap();
    t.connect(b, sa(PEER, 53), Some(US)).unwrap();
    t.disconnect(b).unwrap();
    assert_eq!(t.local_addr(b).unwrap(), None);
    let out = t.send_to(b, Some(sa(PEER, 53)), 1, route).unwrap();
    assert_eq!(
        *out.src.ip(),
        US2,
        "sends from the bound address, not the route's"
    );
    // An explicit port survives too.
    let c = t.open();
    t.bind(c, sa(WILDCARD, 4444), ours).unwrap();
    t.connect(c, sa(PEER, 53), Some(US)).unwrap();
    t.disconnect(c).unwrap();
    assert_eq!(t.local_addr(c).unwrap(), Some(sa(WILDCARD, 4444)));
}

#[test]
fn specific_binding_wins_over_wildcard_and_broadcast_goes_to_wildcard() {
    let mut t = table();
    let any = t.open();
    t.bind(any, sa(US2, 67), ours).unwrap();
    let specific = t.open();
    t.bind(specific, sa(US, 68), ours).unwrap();
    let wild = t.open();
    t.bind(wild, sa(WILDCARD, 69), ours).unwrap();
    assert_eq!(
        deliver(&mut t, sa(PEER, 1), sa(US, 68), b"x"),
        UdpInput::Delivered(specific)
    );
    assert_eq!(
        deliver(&mut t, sa(PEER, 1), sa(US2, 68), b"x"),
        UdpInput::NoPort
    );
    assert_eq!(
        deliver(&mut t, sa(PEER, 1), sa(US2, 69), b"x"),
        UdpInput::Delivered(wild)
    );
    let (ip, udp) = datagram(sa(PEER, 1), sa(Ipv4Addr::BROADCAST, 69), b"b");
    assert_eq!(
        t.handle_datagram(&ip, &udp, true, Checksum::Full),
        UdpInput::Delivered(wild)
    );
    let (ip, udp) = datagram(sa(PEER, 1), sa(Ipv4Addr::BROADCAST, 68), b"b");
    assert_eq!(
        t.handle_datagram(&ip, &udp, true, Checksum::Full),
        UdpInput::Ignored
    );
    assert_eq!((t.stats().no_ports, t.stats().ignored_multi), (1, 1));
    let mut buf = [0u8; 8];
    let r = t.recv_from(wild, &mut buf).unwrap();
    assert_eq!(r.dst, US2);
    let r = t.recv_from(wild, &mut buf).unwrap();
    assert_eq!(r.dst, Ipv4Addr::BROADCAST);
}

#[test]
fn a_full_receive_queue_drops_and_counts() {
    let mut t = table();
    let h = t.open();
    t.bind(h, sa(US, 7), ours).unwrap();
    t.set_recv_buffer_size(h, 3 * (100 + DATAGRAM_OVERHEAD))
        .unwrap();
    for i in 0..3u8 {
        assert_eq!(
            deliver(&mut t, sa(PEER, 1), sa(US, 7), &[i; 100]),
            UdpInput::Delivered(h)
        );
    }
    assert_eq!(
        deliver(&mut t, sa(PEER, 1), sa(US, 7), &[9; 100]),
        UdpInput::Dropped(UdpDrop::RcvbufFull)
    );
    // Empty datagrams are charged too: the count is bounded.
    assert_eq!(
        deliver(&mut t, sa(PEER, 1), sa(US, 7), &[]),
        UdpInput::Dropped(UdpDrop::RcvbufFull)
    );
    let s = t.stats();
    assert_eq!((s.in_datagrams, s.rcvbuf_errors, s.in_errors), (3, 2, 2));
    assert_eq!(t.recv_queue(h).unwrap(), (3, 300));
    assert_eq!(recv(&mut t, h).unwrap().0, vec![0; 100]);
    assert_eq!(
        deliver(&mut t, sa(PEER, 1), sa(US, 7), &[3; 100]),
        UdpInput::Delivered(h)
    );
    for i in 1..4u8 {
        assert_eq!(recv(&mut t, h).unwrap().0, vec![i; 100], "in order");
    }
}

#[test]
fn a_short_buffer_truncates_and_discards_the_rest() {
    let mut t = table();
    let h = t.open();
    t.bind(h, sa(US, 7), ours).unwrap();
    let _ = deliver(&mut t, sa(PEER, 1), sa(US, 7), b"0123456789");
    let _ = deliver(&mut t, sa(PEER, 1), sa(US, 7), b"next");
    let mut buf = [0u8; 4];
    let r = t.recv_from(h, &mut buf).unwrap();
    assert_eq!((r.len, r.truncated, &buf), (4, true, b"0123"));
    let r = t.recv_from(h, &mut buf).unwrap();
    assert_eq!((r.len, r.truncated, &buf), (4, false, b"next"));
}

#[test]
fn checksums_are_verified_and_zero_means_none() {
    let mut t = table();
    let h = t.open();
    t.bind(h, sa(US, 7), ours).unwrap();
    let (ip, mut udp) = datagram(sa(PEER, 1), sa(US, 7), b"data");
    udp[9] ^= 1;
    assert_eq!(
        t.handle_datagram(&ip, &udp, false, Checksum::Full),
        UdpInput::Dropped(UdpDrop::BadChecksum)
    );
    assert_eq!((t.stats().in_csum_errors, t.stats().in_errors), (1, 1));
    // Offloaded: trusted.
    assert_eq!(
        t.handle_datagram(&ip, &udp, false, Checksum::Offload),
        UdpInput::Delivered(h)
    );
    // Checksum zero: none (RFC 768).
    udp[6..8].copy_from_slice(&[0, 0]);
    assert_eq!(
        t.handle_datagram(&ip, &udp, false, Checksum::Full),
        UdpInput::Delivered(h)
    );
    // A bad checksum to a closed port is an error, not NoPorts.
    let (ip, mut udp) = datagram(sa(PEER, 1), sa(US, 8), b"data");
    udp[9] ^= 1;
    assert_eq!(
        t.handle_datagram(&ip, &udp, false, Checksum::Full),
        UdpInput::Dropped(UdpDrop::BadChecksum)
    );
    assert_eq!(t.stats().no_ports, 0);
    // Malformed lengths.
    assert_eq!(
        t.handle_datagram(&ip, &udp[..7], false, Checksum::Full),
        UdpInput::Dropped(UdpDrop::Malformed)
    );
    let mut long = udp.clone();
    long[4..6].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(
        t.handle_datagram(&ip, &long, false, Checksum::Full),
        UdpInput::Dropped(UdpDrop::Malformed)
    );
}

/// Builds the ICMP port unreachable a peer would send about `sent`.
fn port_unreachable_about(sent_from: SocketAddrV4, sent_to: SocketAddrV4) -> Vec<u8> {
    let (ip, udp) = datagram(sent_from, sent_to, b"query");
    let mut offending = junk(20 + udp.len());
    ip.emit(
        &mut Ipv4Packet::new_unchecked(&mut offending[..]),
        Checksum::Full,
    );
    offending[20..].copy_from_slice(&udp);
    let mut buf = junk(600);
    let reply = ReplyIp {
        src: *sent_to.ip(),
        ttl: 64,
        ident: 0,
    };
    let msg = ErrorMessage::DstUnreachable {
        reason: DstUnreachable::PortUnreachable,
        next_hop_mtu: 0,
    };
    let n = icmp::emit_error(msg, &offending, reply, &mut buf).unwrap();
    buf[20..n].to_vec()
}

#[test]
fn port_unreachable_refuses_the_next_call_of_a_connected_socket_once() {
    let mut t = table();
    let h = t.open();
    let local = t.connect(h, sa(PEER, 53), Some(US)).unwrap();
    let icmp_bytes = port_unreachable_about(local, sa(PEER, 53));
    let repr = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(&icmp_bytes[..]).unwrap(),
        Checksum::Full,
    )
    .unwrap();
    let err = icmp::parse_error(&repr).unwrap();
    assert_eq!(t.handle_transport_error(PEER, &err), Some(h));
    assert_eq!(t.is_readable(h), Ok(true));
    assert_eq!(
        t.send(h, 1, route),
        Err(UdpError::Icmp(IcmpErrno::ConnectionRefused))
    );
    assert!(t.send(h, 1, route).is_ok(), "reported once");
    assert_eq!(t.handle_transport_error(PEER, &err), Some(h));
    let mut buf = [0u8; 8];
    assert_eq!(
        t.recv(h, &mut buf),
        Err(UdpError::Icmp(IcmpErrno::ConnectionRefused))
    );
    assert_eq!(t.recv(h, &mut buf), Err(UdpError::WouldBlock));
}

#[test]
fn unconnected_sockets_and_soft_errors_stay_silent() {
    let mut t = table();
    let h = t.open();
    let out = t.send_to(h, Some(sa(PEER, 53)), 1, route).unwrap();
    let port = IcmpError::from_dst_unreachable(DstUnreachable::PortUnreachable, 0).unwrap();
    assert_eq!(t.handle_icmp_error(PEER, out.src, out.dst, &port), None);
    assert_eq!(t.take_error(h), Ok(None));
    let c = t.open();
    let local = t.connect(c, sa(PEER, 53), Some(US)).unwrap();
    let host = IcmpError::from_dst_unreachable(DstUnreachable::HostUnreachable, 0).unwrap();
    assert_eq!(
        t.handle_icmp_error(PEER, local, sa(PEER, 53), &host),
        None,
        "soft"
    );
    assert_eq!(
        t.handle_icmp_error(PEER, local, sa(PEER, 54), &port),
        None,
        "another peer"
    );
    assert_eq!(
        t.handle_icmp_error(PEER, local, sa(PEER, 53), &port),
        Some(c)
    );
    assert_eq!(t.take_error(c), Ok(Some(IcmpErrno::ConnectionRefused)));
    assert_eq!(t.take_error(c), Ok(None));
}

#[test]
fn recverr_queues_every_error_for_any_socket_with_its_sender() {
    let mut t = table();
    let h = t.open();
    let out = t.send_to(h, Some(sa(PEER, 33434)), 1, route).unwrap();
    t.set_recv_error(h, true).unwrap();
    let router = Ipv4Addr::new(192, 0, 2, 254);
    let expired = IcmpError {
        kind: icmp::IcmpErrorKind::TimeExceeded(crate::wire::icmpv4::TimeExceeded::TtlExpired),
        errno: IcmpErrno::HostUnreachable,
        fatal: false,
    };
    let port = IcmpError::from_dst_unreachable(DstUnreachable::PortUnreachable, 0).unwrap();
    // Unconnected and soft: queued all the same, in order.
    assert_eq!(
        t.handle_icmp_error(router, out.src, out.dst, &expired),
        Some(h)
    );
    assert_eq!(t.handle_icmp_error(PEER, out.src, out.dst, &port), Some(h));
    assert_eq!(t.is_readable(h), Ok(true));
    let first = t.recv_error(h).unwrap().unwrap();
    assert_eq!((first.offender, first.dst), (router, out.dst));
    assert_eq!(first.icmp_type_code(), (11, 0));
    // The pending error is the next report's, then none.
    assert_eq!(t.take_error(h), Ok(Some(IcmpErrno::ConnectionRefused)));
    let second = t.recv_error(h).unwrap().unwrap();
    assert_eq!((second.offender, second.icmp_type_code()), (PEER, (3, 3)));
    assert_eq!(t.recv_error(h), Ok(None));
    assert_eq!(t.is_readable(h), Ok(false));
    // Bounded by the receive buffer; dropped when IP_RECVERR goes off.
    for _ in 0..10_000 {
        t.handle_icmp_error(router, out.src, out.dst, &expired);
    }
    let queued = core::iter::from_fn(|| t.recv_error(h).unwrap()).count();
    assert_eq!(queued, t.rcvbuf / DATAGRAM_OVERHEAD);
    t.handle_icmp_error(router, out.src, out.dst, &expired);
    t.set_recv_error(h, false).unwrap();
    assert_eq!(t.recv_error(h), Ok(None));
    // Off again: an unconnected socket hears nothing.
    t.take_error(h).unwrap();
    assert_eq!(t.handle_icmp_error(PEER, out.src, out.dst, &port), None);
}

#[test]
fn summaries_list_bound_sockets_with_their_peers_and_memory() {
    let mut t = table();
    let _unbound = t.open();
    let server = t.open();
    t.bind(server, sa(Ipv4Addr::UNSPECIFIED, 53), |_| true)
        .unwrap();
    let client = t.open();
    let local = t.connect(client, sa(PEER, 53), Some(US)).unwrap();
    deliver(&mut t, sa(PEER, 9), sa(US, 53), b"hello");
    let rows: Vec<_> = t.summaries().collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].handle, rows[0].local, rows[0].peer),
        (server, sa(Ipv4Addr::UNSPECIFIED, 53), None)
    );
    assert_eq!(rows[0].rmem, 5 + DATAGRAM_OVERHEAD);
    assert_eq!(
        (rows[1].local, rows[1].peer, rows[1].rmem),
        (local, Some(sa(PEER, 53)), 0)
    );
}

proptest::proptest! {
    /// Arbitrary bytes as a UDP datagram: never a panic, and every
    /// outcome is counted exactly once.
    #[test]
    fn arbitrary_datagrams_never_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        broadcast in proptest::prelude::any::<bool>(),
    ) {
        let mut t = table();
        let h = t.open();
        t.bind(h, sa(WILDCARD, 0x3030), ours).unwrap();
        let ip = ip_to(US, PEER, bytes.len());
        let _ = t.handle_datagram(&ip, &bytes, broadcast, Checksum::Full);
        let s = t.stats();
        proptest::prop_assert_eq!(s.in_datagrams + s.no_ports + s.ignored_multi + s.in_errors, 1);
    }
}

#[test]
fn stale_handles_are_rejected_after_slot_reuse() {
    let mut t = table();
    let a = t.open();
    t.close(a).unwrap();
    let b = t.open();
    assert_ne!(a, b);
    assert_eq!(t.bind(a, sa(US, 1), ours), Err(UdpError::InvalidHandle));
    assert_eq!(t.close(a), Err(UdpError::InvalidHandle));
    assert!(t.bind(b, sa(US, 1), ours).is_ok());
    assert_eq!(t.len(), 1);
}

/// What a step of [`random_walk`] does, by the draw that picks it.
#[derive(Clone, Copy)]
enum Step {
    Open,
    Bind,
    Connect,
    Disconnect,
    Close,
    Nothing,
}

/// 5,000 random steps on a table, `steps` mapping each draw to a step;
/// with `reuse`, an opened socket sets SO_REUSEADDR and SO_REUSEPORT at
/// random. `check` looks at the table after each step.
fn random_walk(
    seed: u64,
    ports: (u16, u16),
    table: (u64, u8),
    steps: &[Step],
    reuse: bool,
    mut check: impl FnMut(&UdpSockets, usize),
) {
    let mut rng = Rng::from_seed(seed);
    let config = Config {
        ip_local_port_range: ports,
        ..Config::default()
    };
    let mut t = UdpSockets::new(&config, Rng::from_seed(table.0), SipKey([table.1; 16]));
    let mut open: Vec<UdpHandle> = Vec::new();
    for step in 0..5000 {
        let pick = |rng: &mut Rng, v: &Vec<UdpHandle>| v[rng.below(v.len() as u64) as usize];
        match steps[rng.below(steps.len() as u64) as usize] {
            Step::Open => {
                let h = t.open();
                if reuse {
                    t.set_reuse_addr(h, rng.below(3) == 0).unwrap();
                    t.set_reuse_port(h, rng.below(3) == 0).unwrap();
                }
                open.push(h);
            }
            Step::Bind if !open.is_empty() => {
                let h = pick(&mut rng, &open);
                let addr = [WILDCARD, US, US2][rng.below(3) as usize];
                let port = [0, 50000, 50001][rng.below(3) as usize];
                let _ = t.bind(h, sa(addr, port), ours);
            }
            Step::Connect if !open.is_empty() => {
                let h = pick(&mut rng, &open);
                let _ = t.connect(h, sa(PEER, 53), Some([US, US2][rng.below(2) as usize]));
            }
            Step::Disconnect if !open.is_empty() => {
                let _ = t.disconnect(pick(&mut rng, &open));
            }
            Step::Close if !open.is_empty() => {
                let i = rng.below(open.len() as u64) as usize;
                t.close(open.swap_remove(i)).unwrap();
            }
            _ => {}
        }
        check(&t, step);
    }
}

#[test]
fn unbound_port_numbers_stay_consistent_under_random_operations() {
    use Step::*;
    let steps = [Open, Bind, Connect, Disconnect, Close, Nothing];
    random_walk(77, (50000, 50015), (3, 4), &steps, false, |t, step| {
        // Invariants: every binding is a distinct open socket's address;
        // port counts match; no address is shadowed by a wildcard unless
        // Linux's rehash rules allow it.
        let mut per_port: HashMap<u16, u32> = HashMap::new();
        for (addr, &i) in &t.bound {
            let s = t.slots[i as usize]
                .socket
                .as_ref()
                .expect("bound socket is open");
            assert_eq!(s.local, Some(*addr), "step {step}");
            *per_port.entry(addr.port()).or_default() += 1;
        }
        let users: HashMap<u16, u32> = t
            .port_users
            .iter()
            .map(|(&p, b)| (p, b.len() as u32))
            .collect();
        assert_eq!(per_port, users, "step {step}");
        assert_eq!(t.shared, 0, "nothing shared without SO_REUSEADDR");
    });
}

#[test]
fn shared_bindings_stay_consistent_under_random_operations() {
    // The same walk with SO_REUSEADDR and SO_REUSEPORT set at random:
    // every open bound socket is in its port's list once; `bound` holds
    // the newest on each address; `shared` counts the others; and no
    // two sockets share an address unless both set one of the two.
    use Step::*;
    let steps = [Open, Bind, Bind, Connect, Disconnect, Close, Nothing];
    random_walk(78, (50000, 50007), (4, 5), &steps, true, |t, step| {
        let mut listed = 0;
        let mut extra = 0;
        for (&port, users) in &t.port_users {
            assert!(!users.is_empty(), "step {step}");
            for (k, b) in users.iter().enumerate() {
                let s = t.slots[b.index as usize].socket.as_ref().expect("open");
                assert_eq!(s.local, Some(sa(b.addr, port)), "step {step}");
                listed += 1;
                let newer = users[k + 1..].iter().any(|o| o.addr == b.addr);
                let local = sa(b.addr, port);
                if newer {
                    extra += 1;
                    assert_ne!(t.bound.get(&local), Some(&b.index), "step {step}");
                } else {
                    assert_eq!(t.bound.get(&local), Some(&b.index), "step {step}");
                }
                // Connect may move a wildcard socket onto an address
                // (Linux rehashes without a bind check), so only two on
                // the same address are held to SO_REUSEADDR.
                for o in users[k + 1..].iter().filter(|o| o.addr == b.addr) {
                    assert!(b.shares_with(o.reuse_addr, o.reuse_port), "step {step}");
                }
            }
        }
        assert_eq!(t.shared, extra, "step {step}");
        assert_eq!(t.bound.len() + extra, listed, "step {step}");
    });
}
