//! Ping sockets between two runtimes on an in-memory link, and a runtime
//! pinging itself (no privileges needed).

mod common;

use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use synack::net::{PingEvent, PingSocket};

fn reply(event: PingEvent) -> synack::net::PingReply {
    match event {
        PingEvent::Reply(r) => r,
        PingEvent::Error(e) => panic!("an error where a reply was due: {e:?}"),
    }
}

#[test]
fn echoes_cross_the_link_with_their_sequence_numbers_and_data() {
    let (a, _b) = pair();
    let ping = PingSocket::open(&a).unwrap();
    ping.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for seq in 1..=3u16 {
        let data = vec![seq as u8; usize::from(seq) * 100];
        ping.send_echo(B, seq, &data).unwrap();
        let mut buf = [0u8; 512];
        let r = reply(ping.recv(&mut buf).unwrap());
        let ident = ping.local_addr().unwrap().1;
        assert_eq!((r.src, r.ttl, r.ident, r.seq), (B, 64, ident, seq));
        assert_eq!((r.len, r.truncated), (8 + data.len(), false));
        assert_eq!(&buf[8..r.len], &data[..]);
    }
    // Nothing more: the timeout says so, as std's sockets do.
    ping.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        ping.recv(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    ping.set_nonblocking(true).unwrap();
    assert_eq!(
        ping.recv_from(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[test]
fn two_sockets_of_one_runtime_each_hear_their_own_replies() {
    let (a, _b) = pair();
    let first = PingSocket::bind(&a, Ipv4Addr::UNSPECIFIED, 1000).unwrap();
    let taken = PingSocket::bind(&a, A, 1000).unwrap_err();
    assert_eq!(taken.kind(), ErrorKind::AddrInUse);
    let second = PingSocket::open(&a).unwrap();
    second.connect(B).unwrap();
    first.send_echo(B, 1, b"first").unwrap();
    second.send(&[8, 0, 0, 0, 0, 0, 0, 2, b's']).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = second.recv_from(&mut buf).unwrap();
    assert_eq!((from, &buf[6..n]), (B, &[0, 2, b's'][..]));
    let r = reply(first.recv(&mut buf).unwrap());
    assert_eq!((r.ident, r.seq, &buf[8..r.len]), (1000, 1, &b"first"[..]));
    // Not an echo request: refused before anything is sent.
    let bad = second.send(&[0, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
    let zero = first.set_ttl(0).unwrap_err();
    assert_eq!(zero.kind(), ErrorKind::InvalidInput);
    // Closed, its identifier is free again.
    drop(first);
    PingSocket::bind(&a, A, 1000).unwrap();
}

#[test]
fn a_runtime_pings_itself_without_the_device() {
    let (a, _b) = pair();
    let start = a.stats();
    let ping = PingSocket::open(&a).unwrap();
    ping.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for (seq, dst) in [(1, A), (2, Ipv4Addr::LOCALHOST)] {
        ping.send_echo(dst, seq, b"me").unwrap();
        let mut buf = [0u8; 64];
        let r = reply(ping.recv(&mut buf).unwrap());
        assert_eq!((r.src, r.seq), (dst, seq));
    }
    assert_eq!(a.stats().driver.frames_out, start.driver.frames_out);
}

#[test]
fn a_broadcast_needs_so_broadcast() {
    let (a, _b) = pair();
    let ping = PingSocket::open(&a).unwrap();
    let all = Ipv4Addr::new(192, 0, 2, 255);
    let denied = ping.send_echo(all, 1, b"").unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
    ping.set_broadcast(true).unwrap();
    ping.send_echo(all, 2, b"").unwrap();
}
