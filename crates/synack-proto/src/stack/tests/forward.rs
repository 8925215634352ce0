//! Forwarding (`stack/forward.rs`; RFC 1812 §5.2-5.3): a stack with
//! `ip_forward` on between two links, A on one and B on the other, each
//! with a default route through it. TCP and UDP across it, TTL expiry,
//! no route, don't-fragment against a smaller MTU (and TCP's path MTU
//! following it), fragments, redirects, and source and record routes.

use super::*;
use crate::ip::Ipv4Cidr;
use crate::ip::options::kind;
use crate::udp::{UdpError, UdpHandle};

use super::source_route::lsrr;

/// B, on the router's second link.
pub(super) const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The router's addresses on A's link and on B's.
pub(super) const R_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
pub(super) const R_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 254);
/// Another router on A's link, towards 203.0.113.0/24.
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

fn default_route() -> Ipv4Cidr {
    Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0).unwrap()
}

/// A host at `addr/24` whose default route is `gateway`.
fn host(addr: Ipv4Addr, gateway: Ipv4Addr, config: Config) -> Stack {
    let mut s = Stack::new(config, Interface::ip(addr, 24));
    s.set_default_gateway(gateway).unwrap();
    s
}

/// A, the router and B; frames cross at once.
pub(super) struct Net {
    pub(super) a: Stack,
    pub(super) r: Stack,
    pub(super) b: Stack,
    pub(super) now: Instant,
    /// What the router sent out of each link, as sent.
    pub(super) r_out: Vec<(u16, Vec<u8>)>,
}

impl Net {
    pub(super) fn new(r_config: Config, host_config: Config) -> Net {
        Net::with_b_link(r_config, host_config, None)
    }

    /// [`Net::new`], the router's link to B with an MTU of its own.
    pub(super) fn with_b_link(r_config: Config, host_config: Config, b_mtu: Option<u16>) -> Net {
        let mut r = Stack::new(
            Config {
                ip_forward: true,
                ..r_config
            },
            Interface::ip(R_A, 24),
        );
        let b_link = Interface::ip(R_B, 24);
        r.add_interface(match b_mtu {
            Some(mtu) => b_link.with_mtu(mtu),
            None => b_link,
        });
        // Only its two links: nothing else has a route.
        r.remove_route(default_route()).unwrap();
        Net {
            a: host(A, R_A, host_config.clone()),
            r,
            b: host(
                FAR,
                R_B,
                Config {
                    seed: 3,
                    ..host_config
                },
            ),
            now: Instant::ZERO,
            r_out: Vec::new(),
        }
    }

    /// Moves frames until none is left.
    pub(super) fn settle(&mut self) {
        let mut buf = vec![0u8; 70_000];
        for _ in 0..100_000 {
            let mut moved = false;
            while let Some(n) = self.a.poll_transmit(self.now, &mut buf) {
                self.r.handle_frame_on(self.now, IfaceId(0), &buf[..n]);
                moved = true;
            }
            while let Some(n) = self.b.poll_transmit(self.now, &mut buf) {
                self.r.handle_frame_on(self.now, IfaceId(1), &buf[..n]);
                moved = true;
            }
            while let Some((iface, n)) = self.r.poll_transmit_on(self.now, &mut buf) {
                self.r_out.push((iface.0, buf[..n].to_vec()));
                match iface.0 {
                    0 => self.a.handle_frame(self.now, &buf[..n]),
                    _ => self.b.handle_frame(self.now, &buf[..n]),
                }
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Sends `data` from connection `from` on A (`from_a`) or B and reads
    /// it at `to` on the other, 5 ms at a time, until all of it arrived
    /// unchanged.
    fn transfer(&mut self, from_a: bool, from: ConnHandle, to: ConnHandle, data: &[u8]) {
        let (mut sent, mut got) = (0, Vec::new());
        let mut buf = vec![0u8; 65_536];
        for _ in 0..10_000 {
            let (tx, rx) = if from_a {
                (&mut self.a, &mut self.b)
            } else {
                (&mut self.b, &mut self.a)
            };
            sent += tx.tcp_send(self.now, from, &data[sent..]).unwrap_or(0);
            while let Ok(k @ 1..) = rx.tcp_recv(self.now, to, &mut buf) {
                got.extend_from_slice(&buf[..k]);
            }
            if got.len() == data.len() {
                assert!(got == data, "the bytes arrived changed");
                return;
            }
            self.run_until(self.now.total_millis() + 5);
        }
        panic!("{} of {} bytes arrived", got.len(), data.len());
    }

    /// Runs frames and timers up to `ms`.
    fn run_until(&mut self, ms: u64) {
        let end = Instant::from_millis(ms);
        loop {
            self.settle();
            let next = [
                self.a.poll_timeout(),
                self.r.poll_timeout(),
                self.b.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.r.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
    }

    /// The router's frames out of link `iface` that are ICMP, as
    /// (destination, type, code, the four octets after the checksum).
    fn icmp_out(&self, iface: u16) -> Vec<(Ipv4Addr, u8, u8, [u8; 4])> {
        self.r_out
            .iter()
            .filter(|(i, f)| *i == iface && f[9] == 1)
            .map(|(_, f)| {
                let ip = Ipv4Packet::new_checked(&f[..]).unwrap();
                let icmp = &f[usize::from(ip.header_len())..];
                let rest = [icmp[4], icmp[5], icmp[6], icmp[7]];
                (ip.dst_addr(), icmp[0], icmp[1], rest)
            })
            .collect()
    }
}

fn udp_bound(s: &mut Stack, addr: SocketAddrV4) -> UdpHandle {
    let u = s.udp_open();
    s.udp_bind(u, addr).unwrap();
    u
}

/// A datagram from A to `dst` with `ttl`, as A's link carries it.
fn udp_from_a(dst: Ipv4Addr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut d = ip_datagram(A, dst, IpProtocol::Udp, &udp_bytes(A, dst, payload));
    d[8] = ttl;
    refill_checksum(&mut d);
    d
}

/// A UDP header and `payload` from A:99 to `dst`:53, summed.
fn udp_bytes(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    use crate::wire::udp::{UdpPacket, UdpRepr};
    let repr = UdpRepr {
        src_port: 99,
        dst_port: 53,
        payload,
    };
    let mut b = vec![0u8; 8 + payload.len()];
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut b[..]),
        src,
        dst,
        Checksum::Full,
    );
    b
}

fn refill_checksum(d: &mut [u8]) {
    let header_len = usize::from(d[0] & 0x0F) * 4;
    Ipv4Packet::new_unchecked(&mut d[..header_len]).fill_checksum();
}

#[test]
fn a_tcp_connection_crosses_the_router_both_ways() {
    let mut n = Net::new(config(1), config(2));
    let l = n.b.tcp_listen(SocketAddrV4::new(FAR, 80), 8).unwrap();
    let c =
        n.a.tcp_connect(n.now, SocketAddrV4::new(FAR, 80), ConnectOptions::default())
            .unwrap();
    n.run_until(50);
    assert_eq!(n.a.tcp_state(c), TcpState::Established);
    let s = n.b.tcp_accept(l).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    n.transfer(true, c, s, &data);
    let forwarded = n.r.stats().ip.forw_datagrams;
    // 139 full segments, the handshake, the ACKs and the close's start.
    assert!(forwarded >= 139 + 3, "{forwarded}");
    // One hop less on the far side; the router's own counters untouched.
    let to_b = n.r_out.iter().find(|(i, f)| *i == 1 && f[9] == 6).unwrap();
    assert_eq!(to_b.1[8], 63);
    assert_eq!(n.r.stats().ip.in_delivers, 0);
    assert_eq!(n.r.stats().ip.in_addr_errors, 0);
    assert_eq!(n.a.stats().tcp.retrans_segs, 0);
}

#[test]
fn a_ttl_that_runs_out_is_answered_with_time_exceeded() {
    let mut n = Net::new(config(1), config(2));
    n.r.handle_frame_on(n.now, IfaceId(0), &udp_from_a(FAR, 1, b"trace"));
    n.settle();
    // From the router's address on A's link: how traceroute names a hop.
    let icmp = n.icmp_out(0);
    assert_eq!(icmp.len(), 1);
    assert_eq!(icmp[0].0, A);
    assert_eq!((icmp[0].1, icmp[0].2), (11, 0));
    let from = Ipv4Packet::new_checked(&n.r_out[0].1[..])
        .unwrap()
        .src_addr();
    assert_eq!(from, R_A);
    assert_eq!(n.r.stats().ip.in_hdr_errors, 1);
    assert_eq!(n.r.stats().ip.forw_datagrams, 0);
    // TTL 2 goes on to B with 1 left (and B's port unreachable comes back
    // to A through the router).
    n.r_out.clear();
    n.r.handle_frame_on(n.now, IfaceId(0), &udp_from_a(FAR, 2, b"trace"));
    n.settle();
    let to_b: Vec<_> = n.r_out.iter().filter(|(i, _)| *i == 1).collect();
    assert_eq!(to_b.len(), 1);
    assert_eq!(to_b[0].1[8], 1);
    assert_eq!(n.a.stats().icmp.in_dest_unreachs, 1);
}

#[test]
fn no_route_is_network_unreachable_and_a_host_does_not_forward() {
    let mut r_config = config(1);
    r_config.send_redirects = false;
    let mut n = Net::new(r_config, config(2));
    let nowhere = Ipv4Addr::new(203, 0, 113, 9);
    n.r.handle_frame_on(n.now, IfaceId(0), &udp_from_a(nowhere, 64, b"x"));
    n.settle();
    assert_eq!(n.icmp_out(0), [(A, 3, 0, [0; 4])]);
    assert_eq!(n.r.stats().ip.out_no_routes, 1);
    // Forwarding off: a host's InAddrErrors, nothing sent.
    n.r.set_sysctl("net.ipv4.ip_forward", "0").unwrap();
    n.r_out.clear();
    n.r.handle_frame_on(n.now, IfaceId(0), &udp_from_a(FAR, 64, b"x"));
    n.settle();
    assert!(n.r_out.is_empty());
    assert_eq!(n.r.stats().ip.in_addr_errors, 1);
    assert_eq!(n.r.stats().ip.forw_datagrams, 0);
}

#[test]
fn a_broadcast_to_the_routers_other_subnet_is_its_own_and_not_forwarded() {
    // Linux's local table has a broadcast route for each interface's
    // subnet: a datagram to B's link's broadcast address that comes in on
    // A's link is a broadcast to the router, not forwarded (Linux forwards
    // one only with `bc_forwarding`, off by default), and one from that
    // address is a martian.
    let mut n = Net::new(config(1), config(2));
    let u = udp_bound(&mut n.r, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 53));
    let b_broadcast = Ipv4Addr::new(198, 51, 100, 255);
    n.r.handle_frame_on(n.now, IfaceId(0), &udp_from_a(b_broadcast, 64, b"all"));
    n.settle();
    let mut buf = [0u8; 8];
    assert_eq!(n.r.udp_recv(u, &mut buf), Ok(3));
    let ip = &n.r.stats().ip;
    assert_eq!((ip.in_bcast_pkts, ip.forw_datagrams), (1, 0));
    assert!(
        n.r_out.iter().all(|(iface, _)| *iface == 0),
        "nothing on B's link"
    );
    let from_broadcast = ip_datagram(
        b_broadcast,
        R_A,
        IpProtocol::Udp,
        &udp_bytes(b_broadcast, R_A, b"x"),
    );
    n.r.handle_frame_on(n.now, IfaceId(0), &from_broadcast);
    assert_eq!(n.r.stats().ip.in_martian_src, 1);
    assert_eq!(
        n.r.udp_recv(u, &mut buf),
        Err(crate::udp::UdpError::WouldBlock)
    );
}

#[test]
fn dont_fragment_meets_a_smaller_mtu_and_tcp_follows_it() {
    // The router's link to B carries 1280 bytes; every other 1500.
    let mut n = Net::with_b_link(config(1), config(2), Some(1280));
    let l = n.b.tcp_listen(SocketAddrV4::new(FAR, 80), 8).unwrap();
    let c =
        n.a.tcp_connect(n.now, SocketAddrV4::new(FAR, 80), ConnectOptions::default())
            .unwrap();
    n.run_until(50);
    let s = n.b.tcp_accept(l).unwrap();
    n.transfer(true, c, s, &[0x5A; 50_000]);
    // Fragmentation needed, with the next hop's MTU (RFC 1191 §4).
    let needed: Vec<_> = n.icmp_out(0).into_iter().filter(|m| m.1 == 3).collect();
    assert!(!needed.is_empty());
    assert!(needed.iter().all(|m| m.2 == 4 && m.3 == [0, 0, 0x05, 0x00]));
    assert!(n.r.stats().ip.frag_fails >= 1);
    assert_eq!(n.a.tcp_info(c).unwrap().pmtu, 1280);
    assert!(n.r_out.iter().all(|(i, f)| *i == 0 || f.len() <= 1280));
    // B's segments to A are 1500 bytes on the way, and went whole.
    n.r_out.clear();
    n.transfer(false, s, c, &[0xA5; 20_000]);
    let largest = n.r_out.iter().map(|(_, f)| f.len()).max().unwrap();
    assert_eq!(largest, 1500);
    // A datagram that may be fragmented goes on in pieces, reassembled at B.
    let u = udp_bound(&mut n.b, SocketAddrV4::new(FAR, 53));
    n.r.handle_frame_on(n.now, IfaceId(0), &udp_from_a(FAR, 64, &[7; 3000]));
    n.settle();
    let mut big = [0u8; 4000];
    assert_eq!(n.b.udp_recv(u, &mut big), Ok(3000));
}

#[test]
fn a_fragment_forwarded_onto_a_smaller_mtu_is_cut_again_in_place() {
    let mut n = Net::with_b_link(config(1), config(2), Some(576));
    let u = udp_bound(&mut n.b, SocketAddrV4::new(FAR, 53));
    // A's datagram of 2000 bytes, cut at 1500 on A's link: two fragments,
    // the first cut again to 576 by the router.
    let whole = udp_from_a(FAR, 64, &(0..1992u32).map(|i| i as u8).collect::<Vec<_>>());
    let payload = &whole[20..];
    let mut first = whole[..20].to_vec();
    first.extend_from_slice(&payload[..1480]);
    let mut second = whole[..20].to_vec();
    second.extend_from_slice(&payload[1480..]);
    for (f, offset, more) in [(&mut first, 0u16, true), (&mut second, 1480, false)] {
        let len = f.len() as u16;
        let mut ip = Ipv4Packet::new_unchecked(&mut f[..]);
        ip.set_total_len(len);
        ip.set_frag(false, more, offset);
        ip.fill_checksum();
    }
    n.r.handle_frame_on(n.now, IfaceId(0), &first);
    n.r.handle_frame_on(n.now, IfaceId(0), &second);
    n.settle();
    let pieces: Vec<_> = n.r_out.iter().filter(|(i, _)| *i == 1).collect();
    assert_eq!(pieces.len(), 4, "1480 in three, 520 as it is");
    let mut buf = [0u8; 3000];
    assert_eq!(n.b.udp_recv(u, &mut buf), Ok(1992));
    assert!(buf[..1992].iter().enumerate().all(|(i, &b)| b == i as u8));
    // A fragment that would reach past 65,535 bytes is a header error,
    // never cut again.
    let mut far_out = second.clone();
    let len = far_out.len() as u16;
    let mut ip = Ipv4Packet::new_unchecked(&mut far_out[..]);
    ip.set_total_len(len);
    ip.set_frag(false, false, 65_528);
    ip.fill_checksum();
    n.r_out.clear();
    n.r.handle_frame_on(n.now, IfaceId(0), &far_out);
    n.settle();
    assert!(n.r_out.is_empty());
    assert_eq!(n.r.stats().ip.in_hdr_errors, 1);
}

#[test]
fn sent_back_out_of_its_link_a_datagram_earns_its_sender_a_redirect() {
    let mut n = Net::new(config(1), config(2));
    n.r.add_route(
        Ipv4Cidr::new(Ipv4Addr::new(203, 0, 113, 0), 24).unwrap(),
        OTHER,
    )
    .unwrap();
    let far_net = Ipv4Addr::new(203, 0, 113, 9);
    n.r.handle_frame_on(n.now, IfaceId(0), &udp_from_a(far_net, 64, b"x"));
    n.settle();
    // Forwarded back onto A's link, and A told to use 192.0.2.7.
    let forwarded = n
        .r_out
        .iter()
        .filter(|(i, f)| *i == 0 && f[9] == 17)
        .count();
    assert_eq!(forwarded, 1);
    assert_eq!(n.icmp_out(0), [(A, 5, 1, OTHER.octets())]);
    // A (secure_redirects: the gateway is on its link) takes it.
    assert_eq!(n.a.stats().icmp.in_redirects, 1);
    // A sender that goes on through the router is not redirected again
    // within the backoff's first 40 ms (`ip::redirect_limit`).
    for _ in 0..20 {
        n.r.handle_frame_on(n.now, IfaceId(0), &udp_from_a(far_net, 64, b"x"));
    }
    n.settle();
    assert_eq!(n.icmp_out(0).len(), 1);
    assert_eq!(n.r.stats().ip.forw_datagrams, 21);
    // By a route with no gateway (a point-to-point link's), no redirect.
    n.r.remove_route(Ipv4Cidr::new(Ipv4Addr::new(203, 0, 113, 0), 24).unwrap())
        .unwrap();
    n.r.add_device_route(
        Ipv4Cidr::new(Ipv4Addr::new(203, 0, 113, 0), 24).unwrap(),
        IfaceId(0),
    )
    .unwrap();
    n.r_out.clear();
    n.now += Duration::from_secs(30);
    n.r.handle_frame_on(n.now, IfaceId(0), &udp_from_a(far_net, 64, b"y"));
    n.settle();
    assert_eq!(n.r_out.len(), 1, "forwarded, nothing else");
    assert_eq!(n.r.stats().ip.forw_datagrams, 22);
}

#[test]
fn a_source_route_through_the_router_is_passed_on_and_comes_back_reversed() {
    let routes = Config {
        accept_source_route: true,
        ..config(1)
    };
    let mut n = Net::new(routes.clone(), routes);
    let server = udp_bound(&mut n.b, SocketAddrV4::new(FAR, 53));
    n.b.udp_set_return_ip_options(server, true).unwrap();
    let client = udp_bound(&mut n.a, SocketAddrV4::new(A, 99));
    // By way of the router's address on A's link.
    n.a.udp_set_ip_options(client, &lsrr(4, &[R_A])).unwrap();
    n.a.udp_send_to(n.now, client, SocketAddrV4::new(FAR, 53), b"ask")
        .unwrap();
    n.settle();
    // The router recorded the address it left by and sent it on to B.
    let on = &n.r_out.iter().find(|(i, _)| *i == 1).unwrap().1;
    let ip = Ipv4Packet::new_checked(&on[..]).unwrap();
    assert_eq!((ip.dst_addr(), ip.ttl()), (FAR, 63));
    assert_eq!(&on[20..28], &lsrr(8, &[R_B])[..]);
    let mut buf = [0u8; 16];
    let mut options = [0u8; 40];
    let (got, k) = n.b.udp_recv_msg(server, &mut buf, &mut options).unwrap();
    assert_eq!(&buf[..got.len], b"ask");
    // The way back is by R_B; set on B's socket, the reply takes it.
    assert_eq!(&options[..k], &lsrr(4, &[R_B])[..]);
    n.b.udp_set_ip_options(server, &options[..k]).unwrap();
    n.b.udp_send_to(n.now, server, got.src, b"answer").unwrap();
    n.settle();
    let mut reply = [0u8; 16];
    assert_eq!(n.a.udp_recv(client, &mut reply), Ok(6));
    assert_eq!(n.r.stats().ip.forw_datagrams, 2);
    assert_eq!(n.r.stats().ip.in_source_routed, 0);
    // A strict route in transit should not have come here: a parameter
    // problem at the destination address.
    let mut strict = lsrr(4, &[FAR]);
    strict[0] = kind::STRICT_SOURCE_ROUTE;
    let d = super::ip_options::with_options(&udp_from_a(FAR, 64, b"s"), &strict);
    n.r.handle_frame_on(n.now, IfaceId(0), &d);
    n.settle();
    let last = n.icmp_out(0).pop().unwrap();
    assert_eq!((last.1, last.2, last.3[0]), (12, 0, 16));
}

#[test]
fn the_router_records_itself_in_a_record_route_it_forwards() {
    let mut n = Net::new(config(1), config(2));
    let server = udp_bound(&mut n.b, SocketAddrV4::new(FAR, 53));
    n.b.udp_set_recv_ip_options(server, true).unwrap();
    let client = udp_bound(&mut n.a, SocketAddrV4::new(A, 99));
    n.a.udp_set_ip_options(client, &[kind::RECORD_ROUTE, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    n.a.udp_send_to(n.now, client, SocketAddrV4::new(FAR, 53), b"rr")
        .unwrap();
    n.settle();
    let mut buf = [0u8; 8];
    let mut options = [0u8; 40];
    let (_, k) = n.b.udp_recv_msg(server, &mut buf, &mut options).unwrap();
    // A as it sent, then the router by the address it left by.
    let mut want = vec![kind::RECORD_ROUTE, 11, 12];
    want.extend_from_slice(&A.octets());
    want.extend_from_slice(&R_B.octets());
    want.push(kind::END);
    assert_eq!(&options[..k], &want[..]);
}

#[test]
fn a_udp_traceroute_hears_the_router_then_the_far_hosts_port_unreachable() {
    // traceroute's way: UDP probes to an unused port, TTL 1 then 2, on a
    // socket with IP_RECVERR.
    let mut n = Net::new(config(1), config(2));
    let probe = n.a.udp_open();
    n.a.udp_set_recv_error(probe, true).unwrap();
    let target = SocketAddrV4::new(FAR, 33434);
    let mut heard = Vec::new();
    for ttl in [1, 2] {
        n.a.udp_set_ttl(probe, ttl).unwrap();
        n.a.udp_send_to(n.now, probe, target, b"probe").unwrap();
        n.settle();
        // Read before the next probe: the report is also the pending
        // error, which a send would report instead (as Linux's does).
        heard.push(n.a.udp_recv_error(probe).unwrap().unwrap());
    }
    let [hop, end] = heard[..] else {
        unreachable!()
    };
    assert_eq!(
        (hop.offender, hop.dst, hop.icmp_type_code()),
        (R_A, target, (11, 0))
    );
    assert_eq!(
        (end.offender, end.dst, end.icmp_type_code()),
        (FAR, target, (3, 3))
    );
    assert_eq!(n.a.udp_recv_error(probe), Ok(None));
    // Unread, the pending error fails the next send, once.
    n.a.udp_send_to(n.now, probe, target, b"probe").unwrap();
    n.settle();
    let refused = n.a.udp_send_to(n.now, probe, target, b"probe");
    assert_eq!(
        refused,
        Err(UdpError::Icmp(
            crate::ip::icmp::IcmpErrno::ConnectionRefused
        ))
    );
    assert!(n.a.udp_send_to(n.now, probe, target, b"probe").is_ok());
}
