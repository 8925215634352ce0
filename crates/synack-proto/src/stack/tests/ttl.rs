//! IP_TTL on a TCP connection (`tcp_set_ttl`; RFC 1122 §3.2.1.7): every
//! segment after it carries the TTL, software GSO's pieces included; the
//! peer's keep the default. Until set, a segment takes `ip_default_ttl` as
//! it is when the segment is sent; a listener's IP_TTL goes to the
//! connections it accepts and to its SYN-cookie SYN-ACKs.

use super::*;
use crate::tcp::conn::SetOptionError;

#[test]
fn a_connections_ttl_goes_on_every_segment_it_sends() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    assert_eq!(w.a.tcp_ttl(c), Some(64));
    w.a.tcp_set_ttl(c, 9).unwrap();
    assert_eq!(w.a.tcp_ttl(c), Some(9));
    let ttls = record(&mut w, |to_b, frame| (to_b, frame[8]));
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    w.transfer(true, c, s, &data);
    w.transfer(false, s, c, &data[..10_000]);
    let ttls = ttls.borrow();
    assert!(ttls.iter().filter(|(to_b, _)| *to_b).count() > 200);
    assert!(
        ttls.iter()
            .all(|&(to_b, ttl)| ttl == if to_b { 9 } else { 64 })
    );
    // Software GSO wrote most of A's segments as pieces of larger packets.
    assert!(w.a.piece_polls > 100, "{}", w.a.piece_polls);
    assert_eq!(w.a.tcp_set_ttl(c, 0), Err(SetOptionError::InvalidValue));
    w.a.tcp_abort(w.now, c);
    assert_eq!(w.a.tcp_set_ttl(c, 5), Err(SetOptionError::InvalidHandle));
    assert_eq!(w.a.tcp_ttl(c), None);
}

type Log = Record<(bool, u8, u8)>;

/// Records every frame's direction (towards B), TTL and TCP flags byte
/// (the wire's datagrams have no IP options here: the header is 20 bytes).
fn log_ttls(w: &mut Wire) -> Log {
    record(w, |to_b, frame| (to_b, frame[8], frame[33]))
}

/// The TTLs seen each way since the log was last emptied, emptying it.
fn ttls_each_way(log: &Log) -> (Vec<u8>, Vec<u8>) {
    let seen: Vec<_> = log.borrow_mut().drain(..).collect();
    let way = |to_b: bool| {
        let mut t: Vec<u8> = seen.iter().filter(|s| s.0 == to_b).map(|s| s.1).collect();
        t.dedup();
        t
    };
    (way(true), way(false))
}

#[test]
fn an_unset_ttl_is_the_default_as_each_segment_is_sent() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let log = log_ttls(&mut w);
    // Linux reads `ip_default_ttl` per packet for a socket without IP_TTL:
    // a change reaches connections already open.
    w.a.set_sysctl("net.ipv4.ip_default_ttl", "20").unwrap();
    assert_eq!(w.a.tcp_ttl(c), Some(20));
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    w.transfer(true, c, s, &data);
    assert_eq!(ttls_each_way(&log), (vec![20], vec![64]));
    // Once set, the connection's own; a later default does not move it.
    w.a.tcp_set_ttl(c, 9).unwrap();
    w.a.set_sysctl("ip_default_ttl", "30").unwrap();
    w.transfer(true, c, s, &data);
    assert_eq!(ttls_each_way(&log), (vec![9], vec![64]));
    assert_eq!(w.a.tcp_ttl(c), Some(9));
    // Linux's range is 1 to 255.
    assert!(w.a.set_sysctl("ip_default_ttl", "0").is_err());
}

/// A listener with IP_TTL 7 on B; A connects, B accepts, 30 kB go each
/// way. Returns the TTLs each way and the flags of B's first segment.
fn accepted_from_listener_with_ttl(w: &mut Wire) -> ((Vec<u8>, Vec<u8>), u8, ConnHandle) {
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    assert_eq!(w.b.tcp_listener_ttl(l), Some(64));
    assert_eq!(
        w.b.tcp_listener_set_ttl(l, 0),
        Err(SetOptionError::InvalidValue)
    );
    w.b.tcp_listener_set_ttl(l, 7).unwrap();
    assert_eq!(w.b.tcp_listener_ttl(l), Some(7));
    let log = log_ttls(w);
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    let s = w.b.tcp_accept(l).unwrap();
    assert_eq!(w.b.tcp_ttl(s), Some(7));
    let first_from_b = log.borrow().iter().find(|f| !f.0).map(|f| f.2).unwrap();
    let data: Vec<u8> = (0..30_000u32).map(|i| (i % 241) as u8).collect();
    w.transfer(true, c, s, &data);
    w.transfer(false, s, c, &data);
    // The listener's TTL is the child's from its start; the child's own
    // setting is its own.
    w.b.tcp_set_ttl(s, 3).unwrap();
    assert_eq!(w.b.tcp_listener_ttl(l), Some(7));
    w.b.tcp_close_listener(w.now, l);
    assert_eq!(
        w.b.tcp_listener_set_ttl(l, 5),
        Err(SetOptionError::InvalidHandle)
    );
    assert_eq!(w.b.tcp_listener_ttl(l), None);
    (ttls_each_way(&log), first_from_b, s)
}

#[test]
fn a_listeners_ttl_goes_to_the_connections_it_accepts() {
    let mut w = Wire::new();
    let (ttls, first_from_b, s) = accepted_from_listener_with_ttl(&mut w);
    // Its SYN-ACK included: Linux's child clones the listener's `uc_ttl`.
    assert_eq!(first_from_b, 0x12, "B's first segment is its SYN-ACK");
    assert_eq!(ttls, (vec![64], vec![7]));
    assert_eq!(w.b.tcp_ttl(s), Some(3));
    assert_eq!(w.b.stats().tcp_ext.syncookies_sent, 0);
}

#[test]
fn a_syn_cookie_syn_ack_and_its_connection_carry_the_listeners_ttl() {
    let mut w = Wire::new();
    // Cookies for every SYN: the SYN-ACK is sent with no connection kept,
    // and the connection is made from the ACK that brings the cookie back.
    w.b.set_sysctl("tcp_syncookies", "2").unwrap();
    let (ttls, first_from_b, _) = accepted_from_listener_with_ttl(&mut w);
    assert_eq!(first_from_b, 0x12);
    assert_eq!(ttls, (vec![64], vec![7]));
    assert_eq!(w.b.stats().tcp_ext.syncookies_sent, 1);
}
