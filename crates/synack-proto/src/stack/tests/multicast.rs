//! Multicast groups and IGMPv2 (`stack/multicast.rs`, `ip/igmp`): what a
//! join, a leave and a query put on the wire (RFC 2236, the host pinned to
//! version 2 by `force_igmp_version`), which datagrams to a group are
//! delivered (RFC 1112 §7.2), and the multicast loop. Version 3 and source
//! filters: `igmpv3.rs`.

use super::*;
use crate::ip::Ipv4Cidr;
use crate::ip::igmp::Message;
use crate::udp::UdpError;
use crate::wire::igmp::{IgmpRepr, parse_v3_report};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
const OTHER: Ipv4Addr = Ipv4Addr::new(239, 7, 7, 7);
pub(super) const PORT: u16 = 5000;

/// A host on Ethernet with a route for 224.0.0.0/4 on its interface (as
/// Linux needs one, or IP_MULTICAST_IF, to send to a group), speaking
/// IGMPv3 (the default).
pub(super) fn host(addr: Ipv4Addr, n: u8) -> Stack {
    host_with(addr, n, config(u64::from(n)))
}

/// [`host`] pinned to IGMPv2 (`force_igmp_version` 2).
fn host_v2(addr: Ipv4Addr, n: u8) -> Stack {
    let c = Config {
        force_igmp_version: 2,
        ..config(u64::from(n))
    };
    host_with(addr, n, c)
}

fn host_with(addr: Ipv4Addr, n: u8, c: Config) -> Stack {
    let mut s = eth_stack(addr, n, c);
    let multicast = Ipv4Cidr::new(Ipv4Addr::new(224, 0, 0, 0), 4).unwrap();
    s.add_device_route(multicast, IfaceId(0)).unwrap();
    s
}

/// The IGMP messages in `frames` (Ethernet), with the IP destination,
/// after checking what RFC 2236 §2 and RFC 3376 §4 ask of each: TTL 1, the
/// Router Alert option, the group's MAC address, both checksums.
pub(super) fn igmp_in(frames: &[Vec<u8>]) -> Vec<(Ipv4Addr, Message)> {
    let mut out = Vec::new();
    for f in frames {
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        if eth.ethertype() != EtherType::Ipv4 {
            continue;
        }
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        if ip.protocol() != IpProtocol::Igmp {
            continue;
        }
        assert!(ip.verify_checksum());
        assert_eq!(ip.ttl(), 1);
        assert_eq!(ip.header_len(), 24);
        assert_eq!(&eth.payload()[20..24], &[0x94, 0x04, 0, 0], "Router Alert");
        let g = ip.dst_addr().octets();
        let mac = EthernetAddress([0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3]]);
        assert_eq!(eth.dst_addr(), mac, "RFC 1112 §6.4");
        let message = match IgmpRepr::parse(ip.payload(), Checksum::Full) {
            Ok(IgmpRepr::Report { version, group }) => Message::Report { version, group },
            Ok(IgmpRepr::Leave { group }) => Message::Leave { group },
            Ok(q @ IgmpRepr::Query { .. }) => panic!("a host sent a query: {q:?}"),
            Err(_) => Message::V3Report(parse_v3_report(ip.payload(), Checksum::Full).unwrap()),
        };
        out.push((ip.dst_addr(), message));
    }
    out
}

/// Every frame `s` sends now.
pub(super) fn frames(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    // As a driver does: the timers due first (a membership change's
    // report waits for IGMP's interface timer, due at once).
    // (`now` may be behind the stack's own time; the timers run at its.)
    let at = now.max(s.now);
    if s.poll_timeout().is_some_and(|t| t <= at) {
        s.handle_timeout(at);
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 1600];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// Runs `s`'s timers up to `ms`, collecting its frames.
pub(super) fn run(s: &mut Stack, from: Instant, ms: u64) -> Vec<(Instant, Vec<u8>)> {
    let mut out: Vec<_> = frames(s, from).into_iter().map(|f| (from, f)).collect();
    while let Some(t) = s.poll_timeout().filter(|&t| t <= Instant::from_millis(ms)) {
        let t = t.max(from);
        s.handle_timeout(t);
        out.extend(frames(s, t).into_iter().map(|f| (t, f)));
        if s.poll_timeout() == Some(t) {
            break;
        }
    }
    out
}

/// A UDP datagram to `dst`:`PORT` from 192.0.2.2, in an Ethernet frame to
/// the group's MAC address.
fn to_group(dst: Ipv4Addr, proto: IpProtocol, payload: &[u8]) -> Vec<u8> {
    to_group_from(B, dst, proto, payload)
}

/// [`to_group`] from `src`.
pub(super) fn to_group_from(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: IpProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let udp = if proto == IpProtocol::Udp {
        let mut u = vec![0u8; 8 + payload.len()];
        u[0..2].copy_from_slice(&4000u16.to_be_bytes());
        u[2..4].copy_from_slice(&PORT.to_be_bytes());
        let len = u.len() as u16;
        u[4..6].copy_from_slice(&len.to_be_bytes());
        u[8..].copy_from_slice(payload);
        u
    } else {
        payload.to_vec()
    };
    let ip = ip_datagram(src, dst, proto, &udp);
    let g = dst.octets();
    let mac_dst = EthernetAddress([0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3]]);
    eth_frame(mac_dst, mac(2), EtherType::Ipv4, &ip)
}

pub(super) fn bound(s: &mut Stack) -> crate::udp::UdpHandle {
    let u = s.udp_open();
    s.udp_bind(u, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
        .unwrap();
    u
}

#[test]
fn a_join_reports_the_group_at_once_and_again_within_ten_seconds() {
    let mut s = host_v2(A, 1);
    frames(&mut s, Instant::ZERO);
    let u = s.udp_open();
    s.udp_join_multicast(Instant::ZERO, u, GROUP, A).unwrap();
    let report = (
        GROUP,
        Message::Report {
            version: 2,
            group: GROUP,
        },
    );
    assert_eq!(
        igmp_in(&frames(&mut s, Instant::ZERO)),
        core::slice::from_ref(&report)
    );
    let later = run(&mut s, Instant::ZERO, 20_000);
    assert_eq!(later.len(), 1);
    assert!(later[0].0 <= Instant::from_secs(10));
    assert_eq!(igmp_in(&[later[0].1.clone()]), [report]);
    assert_eq!(s.multicast_groups(IfaceId(0)), [(GROUP, 1)]);
    assert_eq!(s.stats().igmp.out_reports, 2);
    // The socket's second join of it is refused; a bad group too.
    assert_eq!(
        s.udp_join_multicast(Instant::ZERO, u, GROUP, A),
        Err(UdpError::AddrInUse)
    );
    assert_eq!(
        s.udp_join_multicast(Instant::ZERO, u, B, A),
        Err(UdpError::InvalidInput)
    );
    assert_eq!(
        s.udp_join_multicast(Instant::ZERO, u, OTHER, B),
        Err(UdpError::AddrNotAvailable)
    );
}

#[test]
fn only_the_groups_joined_are_received() {
    let mut s = host(A, 1);
    let u = bound(&mut s);
    let mut buf = [0u8; 64];
    let t = Instant::from_millis(5);
    // Not joined: dropped, as an address this host does not take.
    let errors = s.stats().ip.in_addr_errors;
    s.handle_frame(t, &to_group(GROUP, IpProtocol::Udp, b"early"));
    assert_eq!(s.udp_recv(u, &mut buf), Err(UdpError::WouldBlock));
    assert_eq!(s.stats().ip.in_addr_errors, errors + 1);
    // The all-hosts group always.
    s.handle_frame(
        t,
        &to_group(Ipv4Addr::new(224, 0, 0, 1), IpProtocol::Udp, b"all"),
    );
    assert_eq!(s.udp_recv(u, &mut buf), Ok(3));
    // Joined (by any socket: membership is the interface's).
    let member = s.udp_open();
    s.udp_join_multicast(t, member, GROUP, Ipv4Addr::UNSPECIFIED)
        .unwrap();
    s.handle_frame(t, &to_group(GROUP, IpProtocol::Udp, b"hello"));
    assert_eq!(s.udp_recv(u, &mut buf), Ok(5));
    s.handle_frame(t, &to_group(OTHER, IpProtocol::Udp, b"other"));
    assert_eq!(s.udp_recv(u, &mut buf), Err(UdpError::WouldBlock));
    // Left: dropped again; closing the member would have done the same.
    s.udp_leave_multicast(t, member, GROUP, Ipv4Addr::UNSPECIFIED)
        .unwrap();
    assert_eq!(
        s.udp_leave_multicast(t, member, GROUP, Ipv4Addr::UNSPECIFIED),
        Err(UdpError::AddrNotAvailable)
    );
    s.handle_frame(t, &to_group(GROUP, IpProtocol::Udp, b"late"));
    assert_eq!(s.udp_recv(u, &mut buf), Err(UdpError::WouldBlock));
    assert!(s.multicast_groups(IfaceId(0)).is_empty());
}

#[test]
fn leaving_or_closing_sends_a_leave_group_to_all_routers() {
    let mut s = host_v2(A, 1);
    frames(&mut s, Instant::ZERO);
    let (u, v) = (s.udp_open(), s.udp_open());
    s.udp_join_multicast(Instant::ZERO, u, GROUP, A).unwrap();
    s.udp_join_multicast(Instant::ZERO, v, GROUP, A).unwrap();
    frames(&mut s, Instant::ZERO);
    // One of two members leaves: nothing said.
    s.udp_close(u).unwrap();
    assert!(igmp_in(&frames(&mut s, Instant::ZERO)).is_empty());
    assert_eq!(s.multicast_groups(IfaceId(0)), [(GROUP, 1)]);
    // The last one closes: RFC 2236 §3, to 224.0.0.2.
    s.udp_close(v).unwrap();
    assert_eq!(
        igmp_in(&frames(&mut s, Instant::ZERO)),
        [(Ipv4Addr::new(224, 0, 0, 2), Message::Leave { group: GROUP })]
    );
    assert_eq!(s.stats().igmp.out_leaves, 1);
    assert_eq!(s.poll_timeout(), None, "no report left to repeat");
}

#[test]
fn a_query_is_answered_within_its_max_response_time_unless_another_member_answers() {
    let mut s = host_v2(A, 1);
    let u = s.udp_open();
    s.udp_join_multicast(Instant::ZERO, u, GROUP, A).unwrap();
    s.udp_join_multicast(Instant::ZERO, u, OTHER, A).unwrap();
    run(&mut s, Instant::ZERO, 20_000);
    let query = IgmpRepr::Query {
        max_resp_tenths: 30,
        group: Ipv4Addr::UNSPECIFIED,
        v3: None,
    }
    .to_bytes();
    let at = Instant::from_secs(30);
    s.handle_frame(
        at,
        &to_group(Ipv4Addr::new(224, 0, 0, 1), IpProtocol::Igmp, &query),
    );
    // Another host on the link answers for OTHER first.
    let theirs = IgmpRepr::Report {
        version: 2,
        group: OTHER,
    }
    .to_bytes();
    s.handle_frame(at, &to_group(OTHER, IpProtocol::Igmp, &theirs));
    let sent = run(&mut s, at, 40_000);
    assert_eq!(sent.len(), 1, "GROUP's report only");
    assert!(sent[0].0 > at && sent[0].0 <= at + Duration::from_secs(3));
    let frames: Vec<_> = sent.into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        igmp_in(&frames),
        [(
            GROUP,
            Message::Report {
                version: 2,
                group: GROUP
            }
        )]
    );
    let igmp = &s.stats().igmp;
    assert_eq!((igmp.in_msgs, igmp.in_queries, igmp.in_reports), (2, 1, 1));
    // A bad checksum is counted and changes nothing.
    let mut bad = query;
    bad[7] ^= 0xFF;
    s.handle_frame(
        at,
        &to_group(Ipv4Addr::new(224, 0, 0, 1), IpProtocol::Igmp, &bad),
    );
    assert_eq!(s.stats().igmp.in_errors, 1);
}

#[test]
fn a_hosts_datagram_to_a_group_it_joined_comes_back_to_it_unless_told_not_to() {
    // RFC 1112 §6.1, IP_MULTICAST_LOOP (on by default): the sender's own
    // members get a copy through the loopback, and the link gets one too.
    let mut lan = Lan::new(vec![host(A, 1), host(B, 2)]);
    lan.run_until(10);
    let here = bound(&mut lan.hosts[0]);
    let there = bound(&mut lan.hosts[1]);
    let now = lan.now;
    lan.hosts[0]
        .udp_join_multicast(now, here, GROUP, A)
        .unwrap();
    lan.hosts[1]
        .udp_join_multicast(now, there, GROUP, B)
        .unwrap();
    let sender = lan.hosts[0].udp_open();
    let to = SocketAddrV4::new(GROUP, PORT);
    lan.hosts[0].udp_send_to(now, sender, to, b"one").unwrap();
    lan.run_for(10);
    let mut buf = [0u8; 16];
    assert_eq!(lan.hosts[0].udp_recv(here, &mut buf), Ok(3), "looped");
    assert_eq!(lan.hosts[1].udp_recv(there, &mut buf), Ok(3), "the link");
    // Loop off: the link only.
    lan.hosts[0].udp_set_multicast_loop(sender, false).unwrap();
    let now = lan.now;
    lan.hosts[0].udp_send_to(now, sender, to, b"two").unwrap();
    lan.run_for(10);
    assert_eq!(
        lan.hosts[0].udp_recv(here, &mut buf),
        Err(UdpError::WouldBlock)
    );
    assert_eq!(lan.hosts[1].udp_recv(there, &mut buf), Ok(3));
    // TTL 0, loop on: this host only.
    lan.hosts[0].udp_set_multicast_loop(sender, true).unwrap();
    lan.hosts[0].udp_set_multicast_ttl(sender, 0).unwrap();
    let now = lan.now;
    lan.hosts[0].udp_send_to(now, sender, to, b"three").unwrap();
    lan.run_for(10);
    assert_eq!(lan.hosts[0].udp_recv(here, &mut buf), Ok(5));
    assert_eq!(
        lan.hosts[1].udp_recv(there, &mut buf),
        Err(UdpError::WouldBlock)
    );
}

#[test]
fn two_members_on_a_link_share_the_answer_to_a_query() {
    // RFC 2236 §3: each hears the other's report and cancels its own, so
    // a general query draws one report per group from the link.
    let mut lan = Lan::new(vec![host_v2(A, 1), host_v2(B, 2)]);
    lan.run_until(10);
    for (i, addr) in [(0, A), (1, B)] {
        let u = lan.hosts[i].udp_open();
        let now = lan.now;
        lan.hosts[i]
            .udp_join_multicast(now, u, GROUP, addr)
            .unwrap();
    }
    lan.run_for(20_000);
    lan.log.clear();
    let query = IgmpRepr::Query {
        max_resp_tenths: 100,
        group: Ipv4Addr::UNSPECIFIED,
        v3: None,
    }
    .to_bytes();
    let frame = to_group(Ipv4Addr::new(224, 0, 0, 1), IpProtocol::Igmp, &query);
    let now = lan.now;
    for h in &mut lan.hosts {
        h.handle_frame(now, &frame);
    }
    lan.run_for(15_000);
    let reports: Vec<Vec<u8>> = lan.log.iter().map(|(_, _, f)| f.clone()).collect();
    assert_eq!(igmp_in(&reports).len(), 1, "{:?}", lan.ladder());
}

#[test]
fn multicast_if_sends_by_its_interface_without_a_route() {
    // No route for 224.0.0.0/4: a group cannot be reached (ENETUNREACH)
    // until IP_MULTICAST_IF names the interface.
    let mut s = eth_stack(A, 1, config(1));
    frames(&mut s, Instant::ZERO);
    let u = s.udp_open();
    let to = SocketAddrV4::new(GROUP, PORT);
    assert_eq!(
        s.udp_send_to(Instant::ZERO, u, to, b"x"),
        Err(UdpError::NetworkUnreachable)
    );
    assert_eq!(
        s.udp_set_multicast_if(u, B),
        Err(UdpError::AddrNotAvailable)
    );
    s.udp_set_multicast_if(u, A).unwrap();
    assert_eq!(s.udp_send_to(Instant::ZERO, u, to, b"x"), Ok(1));
    let out = frames(&mut s, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let eth = EthernetFrame::new_checked(&out[0][..]).unwrap();
    assert_eq!(eth.dst_addr(), EthernetAddress([0x01, 0, 0x5e, 1, 2, 3]));
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.ttl()), (A, GROUP, 1));
    // IP_MTU_DISCOVER by the interface's MTU, not a route's (there is
    // none): DF under `want`, and `do` refuses more than it.
    assert!(ip.dont_frag());
    s.udp_set_pmtu_discovery(u, crate::ip::pmtu::PmtuDiscovery::Do)
        .unwrap();
    assert_eq!(
        s.udp_send_to(Instant::ZERO, u, to, &[0; 1500]),
        Err(UdpError::MessageTooLong)
    );
    s.udp_set_pmtu_discovery(u, crate::ip::pmtu::PmtuDiscovery::Want)
        .unwrap();
    // Back to the routes: unreachable again.
    s.udp_set_multicast_if(u, Ipv4Addr::UNSPECIFIED).unwrap();
    assert_eq!(
        s.udp_send_to(Instant::ZERO, u, to, b"x"),
        Err(UdpError::NetworkUnreachable)
    );
}
