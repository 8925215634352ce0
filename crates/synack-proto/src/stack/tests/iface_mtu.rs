//! Interfaces with an MTU of their own (`Interface::with_mtu`): a host on
//! a standard link and a jumbo-frame one. TCP's MSS and UDP's fragments
//! follow the interface a route leaves by (RFC 9293 §3.7.1, RFC 791 §3.2).

use super::*;

/// On the jumbo link.
const JUMBO: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const JUMBO_PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// A host at B on a 1,500-byte link (the configured MTU) and at JUMBO on a
/// 9,000-byte one.
fn two_links() -> Stack {
    let mut s = stack(B, 1);
    s.add_interface(Interface::ip(JUMBO, 24).with_mtu(9000));
    s
}

/// Every frame out, with the interface it leaves by.
fn drain_on(s: &mut Stack, now: Instant) -> Vec<(u16, Vec<u8>)> {
    let mut buf = vec![0u8; 10_000];
    let mut out = Vec::new();
    while let Some((iface, n)) = s.poll_transmit_on(now, &mut buf) {
        out.push((iface.0, buf[..n].to_vec()));
    }
    out
}

/// The MSS option of a SYN or SYN-ACK datagram.
fn mss_of(datagram: &[u8]) -> Option<u16> {
    let ip = Ipv4Packet::new_checked(datagram).unwrap();
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    let seg = TcpRepr::parse(&tcp, ip.src_addr(), ip.dst_addr(), Checksum::Full).unwrap();
    seg.options.mss
}

#[test]
fn tcp_advertises_and_sends_by_the_mtu_of_the_link_it_uses() {
    let mut s = two_links();
    let t = Instant::from_millis(1);
    let to = |ip| SocketAddrV4::new(ip, 80);
    s.tcp_connect(t, to(JUMBO_PEER), ConnectOptions::default())
        .unwrap();
    s.tcp_connect(t, to(A), ConnectOptions::default()).unwrap();
    let out = drain_on(&mut s, t);
    let syns: Vec<_> = out.iter().map(|(i, f)| (*i, mss_of(f))).collect();
    assert_eq!(syns, [(1, Some(8960)), (0, Some(1460))]);
    // A SYN from the jumbo link is answered for it too.
    s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 81), 8)
        .unwrap();
    let syn = packet(
        SocketAddrV4::new(JUMBO_PEER, 4000),
        SocketAddrV4::new(JUMBO, 81),
        TcpFlags::SYN,
        7,
        None,
        b"",
    );
    s.handle_frame_on(t, IfaceId(1), &syn);
    let out = drain_on(&mut s, t);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, mss_of(&out[0].1)), (1, Some(8960)));
}

#[test]
fn a_connection_over_the_jumbo_link_fills_its_frames() {
    // Two hosts on a 9,000-byte link; each also has a standard one.
    let mut w = Wire::new();
    w.a = stack(A, 1);
    w.a.add_interface(Interface::ip(JUMBO_PEER, 24).with_mtu(9000));
    w.b = two_links();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(0usize));
    let largest = std::rc::Rc::clone(&seen);
    w.drop = Box::new(move |_, frame| {
        let mut l = largest.borrow_mut();
        *l = (*l).max(frame.len());
        false
    });
    let l = w.b.tcp_listen(SocketAddrV4::new(JUMBO, 80), 8).unwrap();
    let c =
        w.a.tcp_connect(
            w.now,
            SocketAddrV4::new(JUMBO, 80),
            ConnectOptions::default(),
        )
        .unwrap();
    w.run_until(100);
    let s = w.b.tcp_accept(l).unwrap();
    w.transfer(true, c, s, &[0x3C; 100_000]);
    assert_eq!(*seen.borrow(), 9000, "8,948 bytes of data a segment");
    assert_eq!(w.a.tcp_info(c).unwrap().snd_mss, 8948);
}

#[test]
fn udp_is_fragmented_to_the_mtu_of_the_link_it_leaves_by() {
    let mut s = two_links();
    let t = Instant::from_millis(1);
    let u = s.udp_open();
    s.udp_bind(u, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000))
        .unwrap();
    let data = [0x77; 5000];
    s.udp_send_to(t, u, SocketAddrV4::new(JUMBO_PEER, 53), &data)
        .unwrap();
    s.udp_send_to(t, u, SocketAddrV4::new(A, 53), &data)
        .unwrap();
    let out = drain_on(&mut s, t);
    let sizes: Vec<_> = out.iter().map(|(i, f)| (*i, f.len())).collect();
    assert_eq!(
        sizes,
        [(1, 5028), (0, 1500), (0, 1500), (0, 1500), (0, 588)],
        "whole on the jumbo link, in four on the standard one"
    );
}
