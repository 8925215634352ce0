//! Ethernet hosts: ARP (RFC 826) announcements, resolution, answering,
//! failed next hops; routing decisions (RFC 1122 §3.3.1); link-layer
//! hygiene.

use super::*;
use crate::ip::Ipv4Cidr;
use crate::ip::icmp::IcmpErrno;
use crate::ip::route::{NextHop, RouteError};
use crate::tcp::conn::ConnError;

const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const FAR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);

fn two_hosts() -> Lan {
    Lan::new(vec![eth_stack(A, 1, config(1)), eth_stack(B, 2, config(2))])
}

#[test]
fn an_ethernet_interface_announces_itself_with_a_gratuitous_arp() {
    let mut s = eth_stack(A, 1, config(1));
    let out = drain_seen(&mut s, Instant::ZERO);
    // RFC 5227 §3: a broadcast request with sender and target both ours.
    assert_eq!(
        out,
        [Seen::Arp {
            op: ArpOperation::Request,
            sender: A,
            target: A,
            dst_mac: EthernetAddress::BROADCAST,
        }]
    );
    assert!(drain_seen(&mut s, Instant::ZERO).is_empty(), "once");
    assert_eq!(s.stats().eth.out_arp_requests, 1);
}

#[test]
fn the_first_packet_to_a_neighbour_waits_for_arp_then_flows() {
    let mut lan = two_hosts();
    lan.hosts[1]
        .tcp_listen(SocketAddrV4::new(B, 80), 8)
        .unwrap();
    lan.run_until(10);
    lan.log.clear();
    let c = lan.hosts[0]
        .tcp_connect(lan.now, SocketAddrV4::new(B, 80), ConnectOptions::default())
        .unwrap();
    lan.run_for(50);
    assert_eq!(lan.hosts[0].tcp_state(c), TcpState::Established);
    let ladder: Vec<(usize, String)> = lan.ladder();
    assert_eq!(
        ladder,
        [
            (0, "arp who-has 192.0.2.2".to_string()),
            (1, "arp 192.0.2.2 is-at".to_string()),
            (0, "tcp S 0".to_string()),
            // B learned A's address from the request (RFC 826: it was the
            // target), so it answers without asking.
            (1, "tcp S. 0".to_string()),
            (0, "tcp . 0".to_string()),
        ]
    );
    // The reply went to A alone; the SYN to B's address.
    match Seen::parse(&lan.log[1].2, true) {
        Seen::Arp { dst_mac, .. } => assert_eq!(dst_mac, mac(1)),
        other => panic!("{other:?}"),
    }
    match Seen::parse(&lan.log[2].2, true) {
        Seen::Tcp { dst_mac, .. } => assert_eq!(dst_mac, Some(mac(2))),
        other => panic!("{other:?}"),
    }
    assert_eq!(lan.hosts[0].arp_entries(IfaceId(0)), [(B, Some(mac(2)))]);
    assert_eq!(lan.hosts[1].arp_entries(IfaceId(0)), [(A, Some(mac(1)))]);
}

#[test]
fn an_unreachable_next_hop_fails_a_connect_with_ehostunreach() {
    let mut lan = two_hosts();
    lan.run_until(10);
    let nobody = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 99), 80);
    let c = lan.hosts[0]
        .tcp_connect(lan.now, nobody, ConnectOptions::default())
        .unwrap();
    lan.run_for(2_500);
    assert_eq!(lan.hosts[0].tcp_state(c), TcpState::SynSent, "still asking");
    lan.run_for(1_000);
    // Three requests a second apart (arp_mcast_solicit), then Linux's
    // EHOSTUNREACH ("No route to host") about 3 s after connect().
    let asked = lan
        .ladder()
        .iter()
        .filter(|(h, l)| *h == 0 && l == "arp who-has 192.0.2.99")
        .count();
    assert_eq!(asked, 3);
    assert_eq!(lan.hosts[0].tcp_state(c), TcpState::Closed);
    let ev = events(&mut lan.hosts[0]);
    assert!(ev.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Unreachable(IcmpErrno::HostUnreachable),
    }));
    let mut buf = [0u8; 4];
    assert_eq!(
        lan.hosts[0].tcp_recv(lan.now, c, &mut buf),
        Err(RecvError::Connection(ConnError::Unreachable(
            IcmpErrno::HostUnreachable
        )))
    );
    let arp = lan.hosts[0].arp_stats(IfaceId(0)).unwrap();
    assert_eq!(arp.res_failed, 1);
    assert!(
        arp.unresolved_discards >= 1,
        "the SYNs waiting were dropped"
    );
}

#[test]
fn an_established_connection_keeps_a_failed_arp_as_a_soft_error() {
    let cfg = Config {
        tcp_retries2: 6,
        ..config(1)
    };
    let mut lan = Lan::new(vec![eth_stack(A, 1, cfg), eth_stack(B, 2, config(2))]);
    lan.hosts[1]
        .tcp_listen(SocketAddrV4::new(B, 80), 8)
        .unwrap();
    let c = lan.hosts[0]
        .tcp_connect(lan.now, SocketAddrV4::new(B, 80), ConnectOptions::default())
        .unwrap();
    lan.run_until(100);
    assert_eq!(lan.hosts[0].tcp_state(c), TcpState::Established);
    // B vanishes; A's entry ages out (60 s reachable, 60 s stale).
    lan.drop = Box::new(|from, _| from == 1);
    lan.run_for(200_000);
    let now = lan.now;
    lan.hosts[0].tcp_send(now, c, b"anyone?").unwrap();
    lan.run_for(3_500);
    assert_eq!(
        lan.hosts[0].full_scans(),
        1,
        "the failed resolution was handed out"
    );
    assert_eq!(
        lan.hosts[0].tcp_state(c),
        TcpState::Established,
        "a soft error: the connection keeps retrying (RFC 1122 §4.2.3.9)"
    );
    lan.run_for(60_000);
    // When it times out, the soft error explains why (Linux sk_err_soft).
    assert_eq!(lan.hosts[0].tcp_state(c), TcpState::Closed);
    let mut buf = [0u8; 4];
    assert_eq!(
        lan.hosts[0].tcp_recv(lan.now, c, &mut buf),
        Err(RecvError::Connection(ConnError::Unreachable(
            IcmpErrno::HostUnreachable
        )))
    );
}

#[test]
fn arp_requests_for_our_address_are_answered_and_conflicts_ignored() {
    let mut s = eth_stack(A, 1, config(1));
    let _ = drain_seen(&mut s, Instant::ZERO);
    let t = Instant::from_millis(5);
    let request = |sender: Ipv4Addr, target: Ipv4Addr| {
        let mut arp = [0xAAu8; 28];
        crate::ip::arp::request(mac(7), sender, target)
            .emit(&mut ArpPacket::new_unchecked(&mut arp[..]));
        eth_frame(EthernetAddress::BROADCAST, mac(7), EtherType::Arp, &arp)
    };
    let peer = Ipv4Addr::new(192, 0, 2, 7);
    s.handle_frame(t, &request(peer, A));
    assert_eq!(
        drain_seen(&mut s, t),
        [Seen::Arp {
            op: ArpOperation::Reply,
            sender: A,
            target: peer,
            dst_mac: mac(7),
        }]
    );
    // Not for us: learned nothing, said nothing (RFC 826).
    s.handle_frame(t, &request(peer, Ipv4Addr::new(192, 0, 2, 8)));
    assert!(drain_seen(&mut s, t).is_empty());
    // Someone claiming our own address: a conflict, never learned.
    s.handle_frame(t, &request(A, peer));
    assert!(drain_seen(&mut s, t).is_empty());
    assert_eq!(s.stats().eth.in_arp_conflicts, 1);
    assert_eq!(s.arp_entries(IfaceId(0)), [(peer, Some(mac(7)))]);
}

#[test]
fn frames_for_other_stations_and_from_group_addresses_are_dropped() {
    let mut s = eth_stack(A, 1, config(1));
    let _ = drain_seen(&mut s, Instant::ZERO);
    let t = Instant::from_millis(5);
    let syn = packet(
        SocketAddrV4::new(B, 4000),
        SocketAddrV4::new(A, 9),
        TcpFlags::SYN,
        1,
        None,
        b"",
    );
    s.handle_frame(t, &eth_frame(mac(9), mac(2), EtherType::Ipv4, &syn));
    assert_eq!(s.stats().eth.in_other_host, 1);
    let group = EthernetAddress([0x03, 0, 0, 0, 0, 2]);
    s.handle_frame(t, &eth_frame(mac(1), group, EtherType::Ipv4, &syn));
    s.handle_frame(
        t,
        &eth_frame(mac(1), EthernetAddress::BROADCAST, EtherType::Ipv4, &syn),
    );
    assert_eq!(s.stats().eth.in_bad_source, 2);
    s.handle_frame(t, &eth_frame(mac(1), mac(2), EtherType::Ipv6, &syn));
    assert_eq!(s.stats().eth.in_unknown_ethertype, 1);
    s.handle_frame(t, &[0u8; 10]);
    assert_eq!(s.stats().eth.in_truncated, 1);
    assert!(drain_seen(&mut s, t).is_empty());
    assert_eq!(s.stats().ip.in_receives, 0, "none reached IP");
    // The same SYN, properly addressed, is answered (with an ARP first).
    s.handle_frame(t, &eth_frame(mac(1), mac(2), EtherType::Ipv4, &syn));
    let out = drain_seen(&mut s, t);
    assert_eq!(out[0].label(), "arp who-has 192.0.2.2");
}

/// RFC 1122 §3.2.2: no ICMP error for a datagram that came as a
/// link-layer broadcast, even one addressed to our unicast address. The
/// frame's broadcast mark reaches IP with the payload `handle_ethernet`
/// hands back; the same datagram in a frame to our MAC draws the error.
#[test]
fn a_link_layer_broadcast_draws_no_icmp_error_and_a_unicast_frame_does() {
    let mut s = eth_stack(A, 1, config(1));
    let _ = drain_seen(&mut s, Instant::ZERO);
    let t = Instant::from_millis(5);
    // An unknown protocol to our own address: protocol unreachable.
    let datagram = ip_datagram(B, A, IpProtocol::Unknown(99), b"anything");
    s.handle_frame(
        t,
        &eth_frame(
            EthernetAddress::BROADCAST,
            mac(2),
            EtherType::Ipv4,
            &datagram,
        ),
    );
    assert_eq!(s.stats().ip.in_unknown_protos, 1, "it reached IP");
    assert!(drain_seen(&mut s, t).is_empty(), "no error, no ARP for it");
    s.handle_frame(t, &eth_frame(mac(1), mac(2), EtherType::Ipv4, &datagram));
    assert_eq!(s.stats().ip.in_unknown_protos, 2);
    // The error waits for B's address: the request is what leaves.
    let out = drain_seen(&mut s, t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].label(), "arp who-has 192.0.2.2");
    assert_eq!(s.stats().icmp.out_dest_unreachs, 1);
}

#[test]
fn the_queue_per_unresolved_next_hop_is_bounded() {
    let cfg = Config {
        arp_unres_qlen: 3,
        ..config(1)
    };
    let mut s = eth_stack(A, 1, cfg);
    let _ = drain_seen(&mut s, Instant::ZERO);
    let u = s.udp_open();
    let t = Instant::from_millis(1);
    for _ in 0..10 {
        s.udp_send_to(t, u, SocketAddrV4::new(B, 9), b"x").unwrap();
    }
    let out = drain_seen(&mut s, t);
    assert_eq!(out.len(), 1, "one request, the datagrams wait");
    let arp = s.arp_stats(IfaceId(0)).unwrap();
    assert_eq!(arp.unresolved_discards, 7, "the oldest go first");
    // The reply releases the three newest, in order.
    let mut reply = [0u8; 28];
    ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: mac(2),
        source_protocol_addr: B,
        target_hardware_addr: mac(1),
        target_protocol_addr: A,
    }
    .emit(&mut ArpPacket::new_unchecked(&mut reply[..]));
    s.handle_frame(t, &eth_frame(mac(1), mac(2), EtherType::Arp, &reply));
    let out = drain_seen(&mut s, t);
    assert_eq!(out.iter().filter(|f| f.label() == "udp 1").count(), 3);
}

/// A on 192.0.2.0/24 with a gateway at .254 (answering ARP as `mac(254)`).
fn routed_host() -> Stack {
    let mut s = eth_stack(A, 1, config(1));
    s.add_arp_entry(IfaceId(0), GW, mac(254));
    s
}

#[test]
fn routing_takes_the_longest_prefix_and_the_default_gateway() {
    let mut s = routed_host();
    assert_eq!(
        s.add_route(Ipv4Cidr::new(FAR, 24).unwrap(), FAR),
        Err(RouteError::GatewayUnreachable),
        "a gateway must be on-link"
    );
    // Nothing for 203.0.113.0/24 yet.
    let far = SocketAddrV4::new(FAR, 80);
    assert_eq!(
        s.tcp_connect(Instant::ZERO, far, ConnectOptions::default()),
        Err(ConnectError::NetworkUnreachable)
    );
    s.set_default_gateway(GW).unwrap();
    let r = s.route(FAR).unwrap();
    assert_eq!((r.next_hop, r.dest.prefix_len()), (NextHop::Gateway(GW), 0));
    // A neighbour is on-link: "same subnet" by masking both addresses.
    assert_eq!(s.route(B).unwrap().next_hop, NextHop::Direct(B));
    let second_gw = Ipv4Addr::new(192, 0, 2, 253);
    s.add_arp_entry(IfaceId(0), second_gw, mac(253));
    s.add_route(
        Ipv4Cidr::new(Ipv4Addr::new(203, 0, 113, 0), 25).unwrap(),
        second_gw,
    )
    .unwrap();
    assert_eq!(s.route(FAR).unwrap().next_hop, NextHop::Gateway(second_gw));
    assert_eq!(
        s.route(Ipv4Addr::new(203, 0, 113, 200)).unwrap().next_hop,
        NextHop::Gateway(GW),
        "the /25 covers .0-.127 only"
    );
    // The SYN to FAR goes to the /25's gateway's address, from our address.
    let c = s
        .tcp_connect(Instant::ZERO, far, ConnectOptions::default())
        .unwrap();
    let out = drain_seen(&mut s, Instant::ZERO);
    let syn = out.iter().find(|f| matches!(f, Seen::Tcp { .. })).unwrap();
    match syn {
        Seen::Tcp {
            src, dst, dst_mac, ..
        } => {
            assert_eq!((*src.ip(), *dst), (A, far));
            assert_eq!(*dst_mac, Some(mac(253)));
        }
        _ => unreachable!(),
    }
    assert_eq!(s.tcp_addrs(c).unwrap().0.ip(), &A);
    s.remove_route(Ipv4Cidr::new(Ipv4Addr::new(203, 0, 113, 0), 25).unwrap())
        .unwrap();
    assert_eq!(s.route(FAR).unwrap().next_hop, NextHop::Gateway(GW));
}

/// `routed_host` with its default route through GW and a second gateway
/// on the link, .253 (answering ARP as `mac(253)`), which it returns.
fn host_with_two_gateways() -> (Stack, Ipv4Addr) {
    let mut s = routed_host();
    s.set_default_gateway(GW).unwrap();
    let second_gw = Ipv4Addr::new(192, 0, 2, 253);
    s.add_arp_entry(IfaceId(0), second_gw, mac(253));
    (s, second_gw)
}

/// The destination MAC of each TCP segment a drain at `now` gives.
fn tcp_macs(s: &mut Stack, now: Instant) -> Vec<Option<EthernetAddress>> {
    drain_seen(s, now)
        .iter()
        .filter_map(|f| match f {
            Seen::Tcp { dst_mac, .. } => Some(*dst_mac),
            _ => None,
        })
        .collect()
}

#[test]
fn a_route_change_steers_the_next_segment_of_a_connection() {
    let (mut s, second_gw) = host_with_two_gateways();
    let far = SocketAddrV4::new(FAR, 80);
    s.tcp_connect(Instant::ZERO, far, ConnectOptions::default())
        .unwrap();
    // Each SYN (first, then retransmissions) goes to the gateway's MAC
    // that the routes of the moment name.
    let syn_to = |s: &mut Stack| {
        let now = s.poll_timeout().unwrap_or(Instant::ZERO);
        s.handle_timeout(now);
        let macs = tcp_macs(s, now);
        assert_eq!(macs.len(), 1, "one SYN per round: {macs:?}");
        macs[0]
    };
    assert_eq!(syn_to(&mut s), Some(mac(254)));
    let half = Ipv4Cidr::new(Ipv4Addr::new(203, 0, 113, 0), 25).unwrap();
    s.add_route(half, second_gw).unwrap();
    assert_eq!(syn_to(&mut s), Some(mac(253)), "the new /25 wins");
    s.remove_route(half).unwrap();
    assert_eq!(syn_to(&mut s), Some(mac(254)), "back to the default");
}

#[test]
fn two_interfaces_each_source_their_own_subnet() {
    let mut s = eth_stack(A, 1, config(1));
    let other = Ipv4Addr::new(198, 51, 100, 1);
    let eth1 = s.add_interface(Interface::ethernet(mac(11), other, 24));
    assert_eq!(eth1, IfaceId(1));
    let peer = Ipv4Addr::new(198, 51, 100, 7);
    s.add_arp_entry(eth1, peer, mac(77));
    let c = s
        .tcp_connect(
            Instant::ZERO,
            SocketAddrV4::new(peer, 80),
            ConnectOptions::default(),
        )
        .unwrap();
    assert_eq!(s.tcp_addrs(c).unwrap().0.ip(), &other);
    let mut buf = [0u8; 1600];
    let mut sent = Vec::new();
    while let Some((iface, n)) = s.poll_transmit_on(Instant::ZERO, &mut buf) {
        sent.push((iface, Seen::parse(&buf[..n], true).label()));
    }
    assert_eq!(
        sent,
        [
            (IfaceId(0), "arp announce 192.0.2.1".to_string()),
            (IfaceId(1), "arp announce 198.51.100.1".to_string()),
            (IfaceId(1), "tcp S 0".to_string()),
        ]
    );
    // Binding to an address that is not ours fails as std does.
    assert_eq!(
        s.tcp_connect(
            Instant::ZERO,
            SocketAddrV4::new(peer, 81),
            ConnectOptions {
                local_addr: Some(Ipv4Addr::new(10, 0, 0, 1)),
                ..ConnectOptions::default()
            }
        ),
        Err(ConnectError::AddrNotAvailable)
    );
}

#[test]
fn a_segment_that_waits_for_arp_is_built_plain_not_as_a_tso_super_segment() {
    let mut lan = two_hosts();
    let l = lan.hosts[1]
        .tcp_listen(SocketAddrV4::new(B, 80), 8)
        .unwrap();
    lan.run_until(10);
    let c = lan.hosts[0]
        .tcp_connect(lan.now, SocketAddrV4::new(B, 80), ConnectOptions::default())
        .unwrap();
    lan.run_for(50);
    let s = lan.hosts[1].tcp_accept(l).unwrap();
    lan.hosts[0].set_offloads(
        IfaceId(0),
        Offloads {
            tso: true,
            csum: true,
        },
    );
    // Idle past REACHABLE and STALE: A forgets B's address.
    lan.run_for(200_000);
    assert!(lan.hosts[0].arp_entries(IfaceId(0)).is_empty());

    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(lan.hosts[0].tcp_send(lan.now, c, &data), Ok(data.len()));
    // What the offloading driver gets now: the ARP request only; the data
    // waits in the ARP queue, which keeps no offload metadata.
    let mut buf = vec![0xAAu8; 70_000];
    let mut early = Vec::new();
    while let Some(t) = lan.hosts[0].poll_transmit_offloaded(lan.now, &mut buf) {
        assert_eq!(t.offload, None);
        early.push(buf[..t.len].to_vec());
    }
    for frame in &early {
        lan.hosts[1].handle_frame(lan.now, frame);
    }
    lan.run_for(1_000);

    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = lan.hosts[1].tcp_recv(lan.now, s, &mut chunk) {
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(got, data, "every byte, first time");
    assert_eq!(lan.hosts[1].stats().tcp.in_csum_errors, 0);
    assert_eq!(lan.hosts[0].tcp_info(c).unwrap().total_retrans, 0);
}

#[test]
fn a_redirect_sends_the_next_segment_to_the_new_gateways_station() {
    // RFC 1122 §3.2.2.2: the first-hop gateway redirects FAR to another
    // gateway on the link; the SYN's next retransmission goes to that
    // gateway's MAC address.
    let (mut s, second_gw) = host_with_two_gateways();
    // `secure_redirects`: the new gateway must be one the table uses.
    s.add_route("198.51.100.0/24".parse().unwrap(), second_gw)
        .unwrap();
    let far = SocketAddrV4::new(FAR, 80);
    s.tcp_connect(Instant::ZERO, far, ConnectOptions::default())
        .unwrap();
    assert_eq!(tcp_macs(&mut s, Instant::ZERO), vec![Some(mac(254))]);
    // The redirect (type 5, code 1) quotes a datagram of ours to FAR: its
    // header and 8 bytes.
    let quoted = ip_datagram(A, FAR, IpProtocol::Tcp, &[0u8; 8]);
    let datagram = icmp(GW, A, 5, 1, second_gw.octets(), &quoted);
    let t = Instant::from_millis(10);
    s.handle_frame(t, &eth_frame(mac(1), mac(254), EtherType::Ipv4, &datagram));
    assert_eq!(s.route(FAR).unwrap().next_hop, NextHop::Gateway(second_gw));
    let now = s.poll_timeout().unwrap();
    s.handle_timeout(now);
    assert_eq!(tcp_macs(&mut s, now), vec![Some(mac(253))]);
}

/// The ARP requests in `lan.log`, as (sender, unicast to).
fn arp_requests(lan: &Lan) -> Vec<(usize, EthernetAddress)> {
    lan.log
        .iter()
        .filter_map(|(_, from, f)| match Seen::parse(f, true) {
            Seen::Arp {
                op: ArpOperation::Request,
                dst_mac,
                ..
            } => Some((*from, dst_mac)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_connection_making_progress_keeps_its_neighbour_reachable_without_probes() {
    // RFC 1122 §2.3.2.1 "Advice from higher layers": an ACK of new data
    // shows the peer hears us (Linux `sk_dst_confirm`, `neigh_confirm`).
    let mut lan = two_hosts();
    let (c, s) = lan.connected(80);
    let mut buf = [0u8; 64];
    let mut exchange = |lan: &mut Lan, from: usize, conn: ConnHandle, to_conn: ConnHandle| {
        let now = lan.now;
        assert_eq!(lan.hosts[from].tcp_send(now, conn, b"ping"), Ok(4));
        lan.run_for(100);
        let now = lan.now;
        assert_eq!(lan.hosts[1 - from].tcp_recv(now, to_conn, &mut buf), Ok(4));
    };
    // Ten minutes of requests and answers, one every 10 s: each host's
    // data is acknowledged, so neither ever probes the other.
    lan.log.clear();
    for _ in 0..60 {
        exchange(&mut lan, 0, c, s);
        exchange(&mut lan, 1, s, c);
        lan.run_for(9_800);
    }
    assert_eq!(arp_requests(&lan), [], "ten minutes, no ARP request");
    // Ten minutes of A's data alone: B's ACKs acknowledge nothing of its
    // own, so B's entry for A goes stale and is probed (unicast, after
    // DELAY) each cycle, while A's for B stays confirmed.
    lan.log.clear();
    for _ in 0..60 {
        exchange(&mut lan, 0, c, s);
        lan.run_for(9_900);
    }
    let requests = arp_requests(&lan);
    assert!(
        requests.iter().all(|&r| r == (1, mac(1))),
        "only B's probes, unicast to A: {requests:?}"
    );
    assert!((7..=10).contains(&requests.len()), "{requests:?}");
}
