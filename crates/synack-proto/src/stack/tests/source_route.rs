//! Source routes with `accept_source_route` on (RFC 1122 §3.2.1.8(c): a
//! host is a route's final destination, reverses the route for its reply,
//! and originates routes): what is taken and what is refused, the echo
//! reply and a UDP reply sent back along the route (IP_RETOPTS, then
//! IP_OPTIONS), and a socket's own route on the wire. TCP's routes:
//! `tcp_ip_options.rs`.

use super::ip_options::{listening_and_a_syn, split_reply, udp_socket, udp_to_b, with_options};
use super::*;
use crate::ip::options::kind;
use crate::udp::UdpError;
use crate::wire::udp::{UdpPacket, UdpRepr};

/// Two hops on the link the route went through, A -> R1 -> R2 -> B.
const R1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
const R2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 8);

/// A host at `addr` that takes source routes.
pub(super) fn accepting(addr: Ipv4Addr, seed: u64) -> Stack {
    let config = Config {
        seed,
        accept_source_route: true,
        ..Config::default()
    };
    Stack::new(config, Interface::ip(addr, 24))
}

/// A loose route option, `pointer`, the `slots`, padded to whole words.
pub(super) fn lsrr(pointer: u8, slots: &[Ipv4Addr]) -> Vec<u8> {
    let mut o = crate::ip::options::source_route::loose(pointer, slots);
    o.resize(o.len().next_multiple_of(4), kind::END);
    o
}

#[test]
fn an_echo_request_by_a_route_is_answered_back_along_it_reversed() {
    let mut s = accepting(B, 1);
    let t = Instant::from_millis(1);
    // A by way of R1 then R2: both recorded, the pointer past the end.
    let ping = icmp(A, B, 8, 0, [0, 7, 0, 1], b"route");
    s.handle_frame(t, &with_options(&ping, &lsrr(12, &[R1, R2])));
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let reply = &out[0];
    // To R2 first; the route lists R1, then A, pointer at the first.
    let ip = Ipv4Packet::new_checked(&reply[..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (B, R2));
    let (options, icmp) = split_reply(reply);
    assert_eq!(options, &lsrr(4, &[R1, A])[..]);
    assert_eq!(&icmp[..2], &[0, 0], "echo reply");
    assert_eq!(&icmp[8..], b"route");
    assert_eq!(s.stats().ip.in_source_routed, 0);
}

#[test]
fn a_route_that_goes_on_is_refused_with_source_route_failed() {
    let mut s = accepting(B, 1);
    let t = Instant::from_millis(1);
    let u = udp_socket(&mut s, SocketAddrV4::new(B, 53));
    // B is a hop, R2 still to come: for forwarding, which a host does not.
    let onward = with_options(&udp_to_b(b"on"), &lsrr(4, &[R2]));
    s.handle_frame(t, &onward);
    let mut buf = [0u8; 8];
    assert_eq!(s.udp_recv(u, &mut buf), Err(UdpError::WouldBlock));
    assert_eq!(s.stats().ip.in_source_routed, 1);
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let (_, icmp) = split_reply(&out[0]);
    assert_eq!(
        &icmp[..2],
        &[3, 5],
        "destination unreachable, source route failed"
    );
    // A hop that is B itself is passed at once: the route ends here.
    let here = with_options(&udp_to_b(b"here"), &lsrr(4, &[B]));
    s.handle_frame(t, &here);
    assert_eq!(s.udp_recv(u, &mut buf), Ok(4));
    // A TCP segment whose route goes on is refused the same way.
    let (_, syn) = listening_and_a_syn();
    s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 8)
        .unwrap();
    s.handle_frame(t, &with_options(&syn, &lsrr(4, &[R2])));
    assert_eq!(s.stats().ip.in_source_routed, 2);
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    assert_eq!(&split_reply(&out[0]).1[..2], &[3, 5]);
    // Off (the default), nothing by a route is taken.
    let mut off = stack(B, 1);
    let v = udp_socket(&mut off, SocketAddrV4::new(B, 53));
    off.handle_frame(t, &with_options(&udp_to_b(b"x"), &lsrr(12, &[R1, R2])));
    assert_eq!(off.udp_recv(v, &mut buf), Err(UdpError::WouldBlock));
    assert_eq!(off.stats().ip.in_source_routed, 1);
}

#[test]
fn ip_retopts_hands_back_the_route_that_ip_options_sends_the_reply_by() {
    let mut s = accepting(B, 1);
    let t = Instant::from_millis(1);
    let u = udp_socket(&mut s, SocketAddrV4::new(B, 53));
    s.udp_set_return_ip_options(u, true).unwrap();
    s.handle_frame(t, &with_options(&udp_to_b(b"ask"), &lsrr(12, &[R1, R2])));
    let mut buf = [0u8; 8];
    let mut options = [0u8; 40];
    let (got, n) = s.udp_recv_msg(u, &mut buf, &mut options).unwrap();
    assert_eq!(got.src, SocketAddrV4::new(A, 99));
    // The way back, as an application sets it: R2, then R1.
    assert_eq!(&options[..n], &lsrr(4, &[R2, R1])[..]);
    // Set as IP_OPTIONS, the reply goes to R2 with R1 and A to come, and
    // its UDP checksum covers A, the final destination (RFC 1122 §4.1.3.4).
    s.udp_set_ip_options(u, &options[..n]).unwrap();
    s.udp_send_to(t, u, got.src, b"answer").unwrap();
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let ip = Ipv4Packet::new_checked(&out[0][..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (B, R2));
    let header_len = usize::from(ip.header_len());
    assert_eq!(&out[0][20..header_len], &lsrr(4, &[R1, A])[..]);
    let udp = UdpPacket::new_checked(&out[0][header_len..]).unwrap();
    let repr = UdpRepr::parse(&udp, B, A, Checksum::Full).unwrap();
    assert_eq!(repr.payload, b"answer");
    assert!(UdpRepr::parse(&udp, B, R2, Checksum::Full).is_err());
    // IP_RECVOPTS instead: the options as they came.
    s.udp_set_recv_ip_options(u, true).unwrap();
    s.handle_frame(t, &with_options(&udp_to_b(b"raw"), &lsrr(12, &[R1, R2])));
    let (_, n) = s.udp_recv_msg(u, &mut buf, &mut options).unwrap();
    assert_eq!(&options[..n], &lsrr(12, &[R1, R2])[..]);
}

#[test]
fn a_strict_route_must_start_on_the_link() {
    let mut s = stack(B, 1);
    let t = Instant::from_millis(1);
    s.add_route(
        crate::ip::Ipv4Cidr::new(Ipv4Addr::new(198, 51, 100, 0), 24).unwrap(),
        R1,
    )
    .unwrap();
    let u = udp_socket(&mut s, SocketAddrV4::new(B, 5000));
    let far = Ipv4Addr::new(198, 51, 100, 9);
    let mut strict = lsrr(4, &[far]);
    strict[0] = kind::STRICT_SOURCE_ROUTE;
    s.udp_set_ip_options(u, &strict).unwrap();
    assert_eq!(
        s.udp_send_to(t, u, SocketAddrV4::new(A, 53), b"x"),
        Err(UdpError::NetworkUnreachable),
        "198.51.100.9 is behind a gateway"
    );
    // Loose, the same first hop is fine: by way of the gateway.
    s.udp_set_ip_options(u, &lsrr(4, &[far])).unwrap();
    assert_eq!(s.udp_send_to(t, u, SocketAddrV4::new(A, 53), b"x"), Ok(1));
    let out = drain_raw(&mut s, t);
    let ip = Ipv4Packet::new_checked(&out[0][..]).unwrap();
    assert_eq!(ip.dst_addr(), far);
}
