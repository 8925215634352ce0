//! Path MTU discovery for datagram sockets (`stack/datagram_pmtu.rs`; RFC
//! 1191, Linux's IP_MTU_DISCOVER and IP_MTU) across a router whose link to
//! B carries 1280 bytes: DF as each mode says, "fragmentation needed"
//! learned for the destination and reported (but to `Dont`), later
//! datagrams refused (`Do`) or cut to the path MTU (`Want`), ping's the
//! same.

use super::forward::{FAR, Net};
use super::*;
use crate::ip::icmp::IcmpErrno;
use crate::ip::pmtu::PmtuDiscovery;
use crate::ping::PingError;
use crate::udp::{UdpError, UdpHandle};

/// A's frames as they leave it, handed to the router; then everything
/// settles. Each as (length, DF).
fn a_sends(n: &mut Net) -> Vec<(usize, bool)> {
    let mut buf = vec![0u8; 70_000];
    let mut sent = Vec::new();
    while let Some(len) = n.a.poll_transmit(n.now, &mut buf) {
        let ip = Ipv4Packet::new_checked(&buf[..len]).unwrap();
        sent.push((len, ip.dont_frag()));
        n.r.handle_frame_on(n.now, IfaceId(0), &buf[..len]);
    }
    n.settle();
    sent
}

fn bound(s: &mut Stack, addr: SocketAddrV4) -> UdpHandle {
    let u = s.udp_open();
    s.udp_bind(u, addr).unwrap();
    u
}

#[test]
fn a_udp_socket_learns_the_path_mtu_and_each_mode_follows_it() {
    let mut n = Net::with_b_link(config(1), config(2), Some(1280));
    let far = SocketAddrV4::new(FAR, 53);
    let b = bound(&mut n.b, far);
    let a = bound(&mut n.a, SocketAddrV4::new(A, 4000));
    n.a.udp_connect(a, far).unwrap();
    assert_eq!(n.a.udp_pmtu_discovery(a), Ok(PmtuDiscovery::Want));
    assert_eq!(n.a.udp_path_mtu(a), Ok(1500));
    let mut buf = [0u8; 4000];
    let now = n.now;

    // Want: a datagram that fits A's link leaves whole with DF; the
    // router's next link is smaller, so it answers "fragmentation needed".
    n.a.udp_send(now, a, &[1; 1400]).unwrap();
    assert_eq!(a_sends(&mut n), vec![(1428, true)]);
    assert_eq!(n.b.udp_recv(b, &mut buf), Err(UdpError::WouldBlock));
    // Learned for the destination, and told to the connected socket once.
    assert_eq!(n.a.udp_path_mtu(a), Ok(1280));
    assert_eq!(n.a.path_mtu(FAR), Some(1280));
    assert_eq!(n.a.link_mtu(FAR), Some(1500), "what Probe is bounded by");
    assert_eq!(
        n.a.udp_recv(a, &mut buf),
        Err(UdpError::Icmp(IcmpErrno::MessageTooLong))
    );
    // Now it goes in fragments of the path MTU, without DF, and arrives.
    n.a.udp_send(now, a, &[2; 1400]).unwrap();
    let sent = a_sends(&mut n);
    assert!(
        sent.len() == 2 && sent.iter().all(|&(len, df)| len <= 1280 && !df),
        "{sent:?}"
    );
    assert_eq!(n.b.udp_recv(b, &mut buf), Ok(1400));
    // What fits still has DF.
    n.a.udp_send(now, a, &[3; 1000]).unwrap();
    assert_eq!(a_sends(&mut n), vec![(1028, true)]);
    assert_eq!(n.b.udp_recv(b, &mut buf), Ok(1000));

    // Do: larger than the path MTU is refused (EMSGSIZE), nothing sent.
    n.a.udp_set_pmtu_discovery(a, PmtuDiscovery::Do).unwrap();
    assert_eq!(
        n.a.udp_send(now, a, &[4; 1400]),
        Err(UdpError::MessageTooLong)
    );
    assert_eq!(n.a.udp_send(now, a, &[4; 1252]), Ok(1252));
    assert_eq!(a_sends(&mut n), vec![(1280, true)]);
    assert_eq!(n.b.udp_recv(b, &mut buf), Ok(1252));

    // Probe: bounded by the link, not the path: DF and too big for the
    // router's next link again. A socket set to Dont when the report
    // comes is not told of it.
    n.a.udp_set_pmtu_discovery(a, PmtuDiscovery::Probe).unwrap();
    assert_eq!(
        n.a.udp_send(now, a, &[5; 1473]),
        Err(UdpError::MessageTooLong)
    );
    n.a.udp_send(now, a, &[5; 1472]).unwrap();
    let frag_fails = n.r.stats().ip.frag_fails;
    n.a.udp_set_pmtu_discovery(a, PmtuDiscovery::Dont).unwrap();
    assert_eq!(a_sends(&mut n), vec![(1500, true)]);
    assert_eq!(n.r.stats().ip.frag_fails, frag_fails + 1);
    assert_eq!(n.a.udp_recv(a, &mut buf), Err(UdpError::WouldBlock));
    // Dont: never DF, cut to the path MTU all the same.
    n.a.udp_send(now, a, &[6; 1400]).unwrap();
    let sent = a_sends(&mut n);
    assert!(sent.iter().all(|&(len, df)| len <= 1280 && !df), "{sent:?}");
    assert_eq!(n.b.udp_recv(b, &mut buf), Ok(1400));
    n.a.udp_disconnect(a).unwrap();
    assert_eq!(n.a.udp_path_mtu(a), Err(UdpError::NotConnected));
}

#[test]
fn a_report_for_no_socket_teaches_nothing() {
    // A "fragmentation needed" quoting a datagram no socket sent (as a
    // forger would write it) leaves the path MTU alone, as Linux's
    // `__udp4_lib_err` finds no socket and returns.
    let mut n = Net::with_b_link(config(1), config(2), Some(1280));
    let a = bound(&mut n.a, SocketAddrV4::new(A, 4000));
    n.a.udp_send_to(n.now, a, SocketAddrV4::new(FAR, 53), &[1; 1400])
        .unwrap();
    let mut buf = vec![0u8; 2000];
    let len = n.a.poll_transmit(n.now, &mut buf).unwrap();
    n.a.udp_close(a).unwrap();
    n.r.handle_frame_on(n.now, IfaceId(0), &buf[..len]);
    n.settle();
    assert!(n.r.stats().ip.frag_fails >= 1);
    assert_eq!(n.a.path_mtu(FAR), Some(1500));
}

/// An echo request message: type 8, code 0, `seq`, then `data`.
fn request(seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0, 0];
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    m
}

#[test]
fn a_ping_socket_learns_the_path_mtu_as_udp_does() {
    let mut n = Net::with_b_link(config(1), config(2), Some(1280));
    let p = n.a.ping_open();
    n.a.ping_set_recv_error(p, true).unwrap();
    n.a.ping_set_pmtu_discovery(p, PmtuDiscovery::Do).unwrap();
    assert_eq!(n.a.ping_pmtu_discovery(p), Ok(PmtuDiscovery::Do));
    let now = n.now;
    // `ping -M do -s 1472`: whole with DF, and the router's answer.
    n.a.ping_send_to(now, p, FAR, &request(1, &[7; 1472]))
        .unwrap();
    assert_eq!(a_sends(&mut n), vec![(1500, true)]);
    let report = n.a.ping_recv_error(p).unwrap().unwrap();
    assert_eq!((report.icmp_type_code(), report.seq), ((3, 4), 1));
    assert_eq!(n.a.path_mtu(FAR), Some(1280));
    // Refused from now on; `Want` goes in fragments and is answered.
    assert_eq!(
        n.a.ping_send_to(now, p, FAR, &request(2, &[7; 1472])),
        Err(PingError::MessageTooLong)
    );
    n.a.ping_set_pmtu_discovery(p, PmtuDiscovery::Want).unwrap();
    n.a.ping_send_to(now, p, FAR, &request(3, &[7; 1472]))
        .unwrap();
    let sent = a_sends(&mut n);
    assert!(
        sent.len() == 2 && sent.iter().all(|&(len, df)| len <= 1280 && !df),
        "{sent:?}"
    );
    let mut buf = [0u8; 2000];
    let got = n.a.ping_recv_from(p, &mut buf).unwrap();
    assert_eq!((got.src, got.len), (FAR, 1480));
}
