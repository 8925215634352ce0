//! The network-layer building blocks composed the way a `Stack` uses them:
//! routing and ARP on the way out, reassembly, UDP demux, ICMP errors and
//! echo on the way in. Two hosts, A (192.0.2.1) and B (192.0.2.2), on one
//! Ethernet segment with a gateway (192.0.2.254); bytes go between them by
//! hand. Each test is one story; together they show the call order.

use std::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::ip::addr::{Destination, check_martian, classify_destination};
use synack_proto::ip::arp::{self, ArpCache, ArpConfig, Resolution};
use synack_proto::ip::frag::{FragOutcome, Reassembler};
use synack_proto::ip::icmp::{self, ErrorMessage, IcmpErrno, IcmpRateLimiter, ReplyIp};
use synack_proto::ip::route::{NextHop, RoutingTable};
use synack_proto::ip::{IfaceId, Ipv4Cidr};
use synack_proto::siphash::SipKey;
use synack_proto::udp::{UdpError, UdpInput, UdpSockets};
use synack_proto::wire::{
    ArpOperation, Checksum, DstUnreachable, EthernetAddress, Icmpv4Packet, Icmpv4Repr, IpProtocol,
    Ipv4Packet, Ipv4Repr,
};
use synack_proto::{Config, Duration, Instant, Rng};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const FAR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
const A_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const GW_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xfe]);
const ETH0: IfaceId = IfaceId(0);
const T0: Instant = Instant::from_secs(1);

fn cidr(s: &str) -> Ipv4Cidr {
    s.parse().unwrap()
}

/// An IPv4 datagram around `payload`.
fn ip_datagram(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: proto,
        payload_len: payload.len() as u16,
        ttl: 64,
        dscp_ecn: 0,
        ident: 0x4242,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let mut buf = vec![0xAA; repr.buffer_len()];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), Checksum::Full);
    buf[20..].copy_from_slice(payload);
    buf
}

fn parse_ip(datagram: &[u8]) -> (Ipv4Repr, &[u8]) {
    let p = Ipv4Packet::new_checked(datagram).unwrap();
    let repr = Ipv4Repr::parse(&p, Checksum::Full).unwrap();
    let hl = usize::from(p.header_len());
    (repr, &datagram[hl..usize::from(p.total_len())])
}

#[test]
fn a_packet_to_a_remote_host_waits_for_the_gateways_address() {
    let config = Config::default();
    let mut routes = RoutingTable::new();
    routes.add_connected(ETH0, cidr("192.0.2.1/24")).unwrap();
    routes.set_default_gateway(GW).unwrap();
    let mut arp_cache = ArpCache::new(ArpConfig::from_config(&config), SipKey([1; 16]));

    // Output: route, then resolve the next hop.
    let route = routes.lookup(FAR).unwrap();
    assert_eq!(route.next_hop, NextHop::Gateway(GW));
    let src = route.src_hint.unwrap();
    let datagram = ip_datagram(src, FAR, IpProtocol::Udp, b"hello");
    assert_eq!(
        arp_cache.resolve_or_queue(T0, route.next_hop.addr(), &datagram, false),
        Resolution::Queued
    );
    // The request the stack broadcasts.
    let req = arp_cache.poll_request().unwrap();
    assert_eq!((req.target, req.unicast), (GW, None));
    let request = arp::request(A_MAC, src, req.target);
    assert_eq!(request.operation, ArpOperation::Request);

    // The gateway answers; the queued datagram comes out, unchanged.
    let answer = arp::reply(&request, GW_MAC);
    let reply_as_seen_by_a = synack_proto::wire::ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: GW_MAC,
        source_protocol_addr: GW,
        target_hardware_addr: A_MAC,
        target_protocol_addr: A,
    };
    assert_eq!(answer.source_protocol_addr, GW);
    let for_us = reply_as_seen_by_a.target_protocol_addr == A;
    // Sent to A's own hardware address: it confirms the gateway.
    let _ = arp_cache.handle_arp(T0, &reply_as_seen_by_a, for_us, true);
    let mut buf = [0u8; 1500];
    let released = arp_cache.poll_queued(&mut buf).unwrap();
    assert_eq!((released.mac, released.next_hop), (GW_MAC, GW));
    assert_eq!(&buf[..released.len], &datagram[..]);
    assert!(arp_cache.poll_queued(&mut buf).is_none());
    // Later packets go straight out.
    assert_eq!(
        arp_cache.resolve_or_queue(T0, GW, &datagram, false),
        Resolution::Ready(GW_MAC)
    );
}

#[test]
fn udp_to_a_closed_port_comes_back_as_connection_refused() {
    let config = Config::default();
    let mut a_udp = UdpSockets::new(&config, Rng::from_seed(1), SipKey([2; 16]));
    let mut b_udp = UdpSockets::new(&config, Rng::from_seed(2), SipKey([3; 16]));
    let mut b_limiter = IcmpRateLimiter::new(&config, SipKey([4; 16]), Rng::from_seed(3));
    let b_iface = [cidr("192.0.2.2/24")];

    // A: a connected socket sends a query.
    let sock = a_udp.open();
    a_udp
        .connect(sock, SocketAddrV4::new(B, 9), Some(A))
        .unwrap();
    let out = a_udp.send(sock, 5, |_| Some(A)).unwrap();
    let mut udp_bytes = [0u8; 13];
    let n = out.emit(b"query", Checksum::Full, &mut udp_bytes).unwrap();
    let sent = ip_datagram(
        *out.src.ip(),
        *out.dst.ip(),
        IpProtocol::Udp,
        &udp_bytes[..n],
    );

    // B: checks the addresses, finds no socket, answers port unreachable.
    let (ip, udp) = parse_ip(&sent);
    check_martian(ip.src_addr, ip.dst_addr, b_iface, false, ip.src_addr == B).unwrap();
    let dst = classify_destination(ip.dst_addr, b_iface, ip.dst_addr == B);
    assert_eq!(dst, Destination::Local);
    assert_eq!(
        b_udp.handle_datagram(&ip, udp, dst.is_broadcast_or_multicast(), Checksum::Full),
        UdpInput::NoPort
    );
    icmp::may_send_error(&ip, udp, dst, false, false).unwrap();
    b_limiter.allow(T0, ip.src_addr, 3, 3).unwrap();
    let mut reply = [0u8; 576];
    let msg = ErrorMessage::DstUnreachable {
        reason: DstUnreachable::PortUnreachable,
        next_hop_mtu: 0,
    };
    let ip_reply = ReplyIp {
        src: ip.dst_addr,
        ttl: config.ip_default_ttl,
        ident: 1,
    };
    let n = icmp::emit_error(msg, &sent, ip_reply, &mut reply).unwrap();
    assert_eq!(b_udp.stats().no_ports, 1);

    // A: the error reaches the socket and refuses its next call.
    let (ip, payload) = parse_ip(&reply[..n]);
    assert_eq!(
        (ip.src_addr, ip.dst_addr, ip.protocol),
        (B, A, IpProtocol::Icmp)
    );
    let repr =
        Icmpv4Repr::parse(&Icmpv4Packet::new_checked(payload).unwrap(), Checksum::Full).unwrap();
    let error = icmp::parse_error(&repr).unwrap();
    assert_eq!(
        a_udp.handle_transport_error(ip.src_addr, &error),
        Some(sock)
    );
    let mut buf = [0u8; 64];
    assert_eq!(
        a_udp.recv(sock, &mut buf),
        Err(UdpError::Icmp(IcmpErrno::ConnectionRefused))
    );
    // ... and it would also tell TCP, in SYN-SENT, to give up.
    assert_eq!(
        icmp::tcp_action(&error.error, icmp::TcpContext::SynSent),
        icmp::TcpIcmpAction::Abort(IcmpErrno::ConnectionRefused)
    );
}

#[test]
fn a_fragmented_udp_datagram_is_reassembled_and_delivered() {
    let config = Config::default();
    let mut reasm = Reassembler::new(
        config.ipfrag_high_thresh,
        config.ipfrag_time,
        SipKey([5; 16]),
    );
    let mut b_udp = UdpSockets::new(&config, Rng::from_seed(4), SipKey([6; 16]));
    let sock = b_udp.open();
    b_udp
        .bind(sock, SocketAddrV4::new(B, 5000), |a| a == B)
        .unwrap();

    // A 3000-byte UDP payload, fragmented at 1480 bytes by A.
    let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let out = synack_proto::udp::Outgoing {
        src: SocketAddrV4::new(A, 40000),
        dst: SocketAddrV4::new(B, 5000),
    };
    let mut udp_bytes = vec![0u8; 3008];
    out.emit(&payload, Checksum::Full, &mut udp_bytes).unwrap();
    let mut fragments = Vec::new();
    for offset in (0..udp_bytes.len()).step_by(1480) {
        let end = (offset + 1480).min(udp_bytes.len());
        let repr = Ipv4Repr {
            src_addr: A,
            dst_addr: B,
            protocol: IpProtocol::Udp,
            payload_len: (end - offset) as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 99,
            dont_frag: false,
            more_frags: end < udp_bytes.len(),
            frag_offset: offset as u16,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), Checksum::Full);
        buf[20..].copy_from_slice(&udp_bytes[offset..end]);
        fragments.push(buf);
    }
    fragments.reverse();

    let mut delivered = None;
    for f in &fragments {
        if let FragOutcome::Complete(d) = reasm.handle_fragment(T0, f) {
            // The reassembled datagram goes through the normal input path.
            let (ip, udp) = parse_ip(d.datagram);
            delivered = Some(b_udp.handle_datagram(&ip, udp, false, Checksum::Full));
        }
    }
    assert_eq!(delivered, Some(UdpInput::Delivered(sock)));
    let mut buf = vec![0u8; 4000];
    let got = b_udp.recv_from(sock, &mut buf).unwrap();
    assert_eq!(&buf[..got.len], &payload[..]);
    assert_eq!(got.src, SocketAddrV4::new(A, 40000));
    assert_eq!(reasm.stats().get("ReasmOKs"), Some(1));
}

#[test]
fn a_lost_last_fragment_times_out_into_icmp_time_exceeded() {
    let config = Config::default();
    let mut reasm = Reassembler::new(1 << 20, config.ipfrag_time, SipKey([7; 16]));
    let first = {
        let repr = Ipv4Repr {
            src_addr: A,
            dst_addr: B,
            protocol: IpProtocol::Udp,
            payload_len: 16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 5,
            dont_frag: false,
            more_frags: true,
            frag_offset: 0,
        };
        let mut buf = vec![0x11u8; repr.buffer_len()];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), Checksum::Full);
        buf
    };
    assert_eq!(reasm.handle_fragment(T0, &first), FragOutcome::Queued);
    let deadline = reasm.poll_timeout().unwrap();
    assert_eq!(deadline, T0 + Duration::from_secs(30));
    let expired = reasm.poll_expired(deadline).unwrap();
    let mut out = [0u8; 576];
    let ip = ReplyIp {
        src: B,
        ttl: 64,
        ident: 2,
    };
    let msg = ErrorMessage::TimeExceeded(synack_proto::wire::TimeExceeded::FragExpired);
    let n = icmp::emit_error(msg, expired.first_fragment, ip, &mut out).unwrap();
    let (outer, payload) = parse_ip(&out[..n]);
    assert_eq!((outer.src_addr, outer.dst_addr), (B, A));
    assert_eq!(&payload[..2], &[11, 1]);
    assert_eq!(&payload[8..], &first[..], "fragment 0 quoted whole");
}

#[test]
fn echo_requests_are_answered_but_not_broadcast_ones() {
    let config = Config::default();
    let iface = [cidr("192.0.2.2/24")];
    let request = Icmpv4Repr::EchoRequest {
        ident: 0x77,
        seq_no: 3,
        data: b"ping data",
    };
    let mut icmp_bytes = vec![0u8; request.buffer_len()];
    request.emit(
        &mut Icmpv4Packet::new_unchecked(&mut icmp_bytes[..]),
        Checksum::Full,
    );
    for (dst, answered) in [(B, true), (Ipv4Addr::new(192, 0, 2, 255), false)] {
        let datagram = ip_datagram(A, dst, IpProtocol::Icmp, &icmp_bytes);
        let (ip, payload) = parse_ip(&datagram);
        let class = classify_destination(ip.dst_addr, iface, ip.dst_addr == B);
        let answer = icmp::may_answer_echo(class, config.icmp_echo_ignore_broadcasts);
        assert_eq!(answer, answered, "{dst}");
        if !answer {
            continue;
        }
        let repr = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(payload).unwrap(), Checksum::Full)
            .unwrap();
        let Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } = repr
        else {
            panic!("not an echo request");
        };
        let mut out = [0u8; 128];
        let reply_ip = ReplyIp {
            src: ip.dst_addr,
            ttl: 64,
            ident: 9,
        };
        let n = icmp::emit_echo_reply(&ip, &[], ident, seq_no, data, reply_ip, &mut out).unwrap();
        let (outer, payload) = parse_ip(&out[..n]);
        assert_eq!((outer.src_addr, outer.dst_addr), (B, A));
        let reply = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(payload).unwrap(), Checksum::Full)
            .unwrap();
        assert_eq!(
            reply,
            Icmpv4Repr::EchoReply {
                ident: 0x77,
                seq_no: 3,
                data: b"ping data"
            }
        );
    }
}
