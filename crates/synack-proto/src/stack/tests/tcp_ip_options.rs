//! IP options on TCP segments (`stack/tcp_ip_options.rs`; RFC 1122
//! §4.2.3.8): a connection's own, through a router that forwards by source
//! route; the answer a passive open keeps for its SYN's and a reply gives
//! a segment's; options set on a live connection; what is refused.

use std::cell::RefCell;
use std::rc::Rc;

use super::ip_options::{listening_and_a_syn, with_options};
use super::source_route::{accepting, lsrr};
use super::*;
use crate::ip::options::{MAX_LEN, SendOptions, kind};
use crate::tcp::conn::SetOptionError;
use crate::wire::checksum;

/// A router on the link between A and B.
const R: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

/// An empty record route of `slots` slots, padded.
fn record_route(slots: usize) -> Vec<u8> {
    let mut o = vec![kind::RECORD_ROUTE, 3 + 4 * slots as u8, 4];
    o.resize(o.len() + 4 * slots, 0);
    o.resize(o.len().next_multiple_of(4), kind::END);
    o
}

/// R as RFC 791 has a router take a source route: a datagram addressed to
/// it goes on to the hop its route's pointer names, with R recorded in
/// that slot and the pointer past it. Anything else passes untouched.
fn route_through_r(_to_b: bool, frame: &mut [u8]) {
    if frame[16..20] != R.octets() {
        return;
    }
    let header_len = usize::from(frame[0] & 0x0F) * 4;
    let mut at = 20;
    while at < header_len {
        match frame[at] {
            kind::END => return,
            kind::NOP => at += 1,
            kind::LOOSE_SOURCE_ROUTE | kind::STRICT_SOURCE_ROUTE => {
                let (len, pointer) = (usize::from(frame[at + 1]), usize::from(frame[at + 2]));
                assert!(pointer + 3 <= len, "a route that ends at R");
                let slot = at + pointer - 1;
                let next: [u8; 4] = frame[slot..slot + 4].try_into().unwrap();
                frame[slot..slot + 4].copy_from_slice(&R.octets());
                frame[at + 2] += 4;
                frame[16..20].copy_from_slice(&next);
                frame[10..12].copy_from_slice(&[0, 0]);
                let sum = checksum::finish(checksum::data(&frame[..header_len]));
                frame[10..12].copy_from_slice(&sum.to_be_bytes());
                return;
            }
            _ => at += usize::from(frame[at + 1]),
        }
    }
}

/// Every frame sent, as it left (towards B?).
type Seen = Rc<RefCell<Vec<(bool, Vec<u8>)>>>;

/// A and B, both taking source routes, with R between them, and what they
/// send.
fn routed_wire() -> (Wire, Seen) {
    let mut w = Wire::new();
    w.a = accepting(A, 1);
    w.b = accepting(B, 2);
    w.relay = Some(Box::new(route_through_r));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    w.drop = Box::new(move |to_b, frame| {
        log.borrow_mut().push((to_b, frame.to_vec()));
        false
    });
    (w, seen)
}

/// The options a connection reads back (IP_OPTIONS' `getsockopt`).
fn read_back(s: &Stack, c: ConnHandle) -> Vec<u8> {
    let mut out = [0; MAX_LEN];
    let n = s.tcp_ip_options(c).map_or(0, |o| o.as_set(&mut out));
    out[..n].to_vec()
}

/// A datagram's header checked whole, its options, and its TCP segment
/// checked against `peer`, the final destination.
fn routed_segment(datagram: &[u8], peer: Ipv4Addr) -> (Ipv4Addr, Vec<u8>, TcpRepr<'_>) {
    let ip = Ipv4Packet::new_checked(datagram).unwrap();
    let header_len = usize::from(ip.header_len());
    assert!(checksum::is_valid(checksum::data(&datagram[..header_len])));
    assert_eq!(usize::from(ip.total_len()), datagram.len());
    let tcp = TcpPacket::new_checked(&datagram[header_len..]).unwrap();
    let seg = TcpRepr::parse(&tcp, ip.src_addr(), peer, Checksum::Full)
        .expect("the checksum covers the final destination");
    (ip.dst_addr(), datagram[20..header_len].to_vec(), seg)
}

#[test]
fn a_connection_by_a_loose_route_runs_both_ways_along_it() {
    let (mut w, seen) = routed_wire();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let route = lsrr(4, &[R]);
    let opts = ConnectOptions {
        ip_options: Some(Box::new(SendOptions::new(&route).unwrap())),
        ..ConnectOptions::default()
    };
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), opts)
            .unwrap();
    w.run_until(100);
    assert_eq!(w.a.tcp_state(c), TcpState::Established);
    let s = w.b.tcp_accept(l).unwrap();
    // 30 kB each way, then both close.
    let data: Vec<u8> = (0..30_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    w.transfer(true, c, s, &data);
    w.transfer(false, s, c, &data);
    // A reads back what it set; B the route back it answers with.
    assert_eq!(read_back(&w.a, c), route);
    assert_eq!(read_back(&w.b, s), lsrr(4, &[R]));
    w.a.tcp_close(w.now, c);
    w.b.tcp_close(w.now, s);
    w.run_until(w.now.total_millis() + 1_000);
    assert_eq!(w.b.tcp_state(s), TcpState::Closed);
    // Every segment went to R, the route naming the other end last; the
    // largest filled the MTU, the options taken from its data.
    let seen = seen.borrow();
    let mut largest = 0;
    for (to_b, frame) in seen.iter() {
        let (peer, back) = if *to_b { (B, A) } else { (A, B) };
        let (dst, options, seg) = routed_segment(frame, peer);
        assert_eq!(dst, R);
        assert_eq!(options, lsrr(4, &[peer]), "towards {peer}");
        assert!(frame.len() <= 1500);
        assert_ne!(seg.flags, TcpFlags::RST, "from {back}");
        largest = largest.max(frame.len());
    }
    assert_eq!(largest, 1500);
    assert!(seen.iter().filter(|(to_b, _)| !to_b).count() > 20);
    assert_eq!(w.b.stats().ip.in_source_routed, 0);
}

#[test]
fn a_syn_by_a_route_is_answered_along_it_reversed() {
    let mut s = accepting(B, 1);
    let t = Instant::from_millis(1);
    let l = s
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 8)
        .unwrap();
    let (_, syn) = listening_and_a_syn();
    // From A by way of R and R2, both recorded.
    let r2 = Ipv4Addr::new(192, 0, 2, 8);
    s.handle_frame(t, &with_options(&syn, &lsrr(12, &[R, r2])));
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let (dst, options, seg) = routed_segment(&out[0], A);
    assert_eq!(seg.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(dst, r2, "the last hop recorded first");
    assert_eq!(options, lsrr(4, &[R, A]));
    let ack = seg.seq + 1u32;
    let mut ack_seg = packet(
        SocketAddrV4::new(A, 1000),
        SocketAddrV4::new(B, 80),
        TcpFlags::ACK,
        8,
        Some(ack.raw()),
        b"",
    );
    ack_seg = with_options(&ack_seg, &lsrr(12, &[R, r2]));
    s.handle_frame(t, &ack_seg);
    let c = s.tcp_accept(l).unwrap();
    assert_eq!(read_back(&s, c), lsrr(4, &[r2, R]));
    // A segment without the route changes nothing (RFC 1122's "SHOULD
    // override" is not followed, as Linux does not): data goes back by it.
    s.handle_frame(
        t,
        &packet(
            SocketAddrV4::new(A, 1000),
            SocketAddrV4::new(B, 80),
            TcpFlags::ACK | TcpFlags::PSH,
            8,
            Some(ack.raw()),
            b"hello",
        ),
    );
    s.tcp_send(t, c, &[0x55; 3000]).unwrap();
    let out = drain_raw(&mut s, t);
    let mut sizes = Vec::new();
    for frame in &out {
        let (dst, options, seg) = routed_segment(frame, A);
        assert_eq!((dst, options), (r2, lsrr(4, &[R, A])));
        sizes.push(seg.payload.len());
    }
    // A's SYN had no MSS option (536): the 12 bytes of options come out
    // of each segment's data (the rest of A's 1000-byte window waits for
    // Nagle).
    assert_eq!(sizes, [524]);
    assert_eq!(s.stats().ip.in_source_routed, 0);
}

#[test]
fn a_reset_and_a_cookie_syn_ack_answer_a_routed_segment_along_the_route() {
    let config = Config {
        seed: 1,
        accept_source_route: true,
        tcp_syncookies: crate::config::SynCookieMode::Always,
        ..Config::default()
    };
    let mut s = Stack::new(config, Interface::ip(B, 24));
    let t = Instant::from_millis(1);
    // No listener on port 80: the reset goes back by R.
    let (_, syn) = listening_and_a_syn();
    s.handle_frame(t, &with_options(&syn, &lsrr(8, &[R])));
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let (dst, options, seg) = routed_segment(&out[0], A);
    assert!(seg.flags.contains(TcpFlags::RST));
    assert_eq!((dst, options), (R, lsrr(4, &[A])));
    assert_eq!(s.stats().tcp.out_rsts, 1);
    // With SYN cookies for every SYN, the SYN-ACK keeps nothing but goes
    // back the same way, and the ACK that returns the cookie makes a
    // connection that keeps the route.
    let l = s
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 8)
        .unwrap();
    s.handle_frame(t, &with_options(&syn, &lsrr(8, &[R])));
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let (dst, options, seg) = routed_segment(&out[0], A);
    assert_eq!(seg.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!((dst, options), (R, lsrr(4, &[A])));
    assert_eq!(s.stats().tcp_ext.syncookies_sent, 1);
    let ack = packet(
        SocketAddrV4::new(A, 1000),
        SocketAddrV4::new(B, 80),
        TcpFlags::ACK,
        8,
        Some((seg.seq + 1u32).raw()),
        b"",
    );
    s.handle_frame(t, &with_options(&ack, &lsrr(8, &[R])));
    let c = s.tcp_accept(l).unwrap();
    assert_eq!(read_back(&s, c), lsrr(4, &[R]));
}

#[test]
fn a_syn_with_a_record_route_is_answered_with_it_and_this_host_in_it() {
    let (mut s, syn) = listening_and_a_syn();
    let t = Instant::from_millis(1);
    // A recorded itself in the first of three slots.
    let mut rr = record_route(3);
    rr[3..7].copy_from_slice(&A.octets());
    rr[2] = 8;
    s.handle_frame(t, &with_options(&syn, &rr));
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let (dst, options, seg) = routed_segment(&out[0], A);
    assert_eq!(seg.flags, TcpFlags::SYN | TcpFlags::ACK);
    // Straight back to A, the route so far with B next (Linux's echo).
    assert_eq!(dst, A);
    let mut want = rr.clone();
    want[7..11].copy_from_slice(&B.octets());
    want[2] = 12;
    assert_eq!(options, want);
}

#[test]
fn options_set_on_a_live_connection_take_room_from_its_segments() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let full = |w: &mut Wire| {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = Rc::clone(&seen);
        w.drop = Box::new(move |to_b, frame| {
            if to_b {
                log.borrow_mut().push(frame.to_vec());
            }
            false
        });
        let data = vec![0xA5; 20_000];
        w.transfer(true, c, s, &data);
        seen.borrow().clone()
    };
    // Nine empty record-route slots: 40 bytes with the NOP before them.
    let mut rr = vec![kind::NOP];
    rr.extend_from_slice(&record_route(9)[..39]);
    w.a.tcp_set_ip_options(w.now, c, &rr).unwrap();
    let frames = full(&mut w);
    for frame in &frames {
        let (dst, options, _) = routed_segment(frame, B);
        assert_eq!(dst, B);
        assert_eq!(options.len(), 40);
        assert_eq!(&options[..4], &[kind::NOP, kind::RECORD_ROUTE, 39, 8]);
        assert_eq!(&options[4..8], &A.octets(), "A recorded first");
    }
    let largest = frames.iter().map(Vec::len).max().unwrap();
    assert_eq!(largest, 1500, "1408 bytes of data after 92 of headers");
    assert_eq!(read_back(&w.a, c), rr);
    // Cleared: 20-byte headers and full segments again.
    w.a.tcp_set_ip_options(w.now, c, &[]).unwrap();
    let frames = full(&mut w);
    assert!(frames.iter().all(|f| f[0] == 0x45));
    assert_eq!(frames.iter().map(Vec::len).max(), Some(1500));
    assert_eq!(w.a.tcp_ip_options(c), None);
}

#[test]
fn malformed_options_and_an_off_link_strict_route_are_refused() {
    let mut w = Wire::new();
    let (c, _) = connected(&mut w);
    let now = w.now;
    let bad_pointer = [kind::RECORD_ROUTE, 7, 2, 0, 0, 0, 0];
    assert_eq!(
        w.a.tcp_set_ip_options(now, c, &bad_pointer),
        Err(SetOptionError::InvalidValue)
    );
    assert_eq!(
        w.a.tcp_set_ip_options(now, c, &[kind::NOP; 41]),
        Err(SetOptionError::InvalidValue)
    );
    assert_eq!(
        w.a.tcp_set_ip_options(
            now,
            ConnHandle(Key {
                index: 99,
                generation: 0
            }),
            &[]
        ),
        Err(SetOptionError::InvalidHandle)
    );
    // A strict route must start on the link; a loose one may start off it.
    let far = Ipv4Addr::new(198, 51, 100, 9);
    let mut route = lsrr(4, &[far]);
    route[0] = kind::STRICT_SOURCE_ROUTE;
    let opts = |route: &[u8]| ConnectOptions {
        ip_options: Some(Box::new(SendOptions::new(route).unwrap())),
        ..ConnectOptions::default()
    };
    let to = SocketAddrV4::new(B, 81);
    w.a.add_route(
        crate::ip::Ipv4Cidr::new(Ipv4Addr::new(198, 51, 100, 0), 24).unwrap(),
        R,
    )
    .unwrap();
    assert_eq!(
        w.a.tcp_connect(now, to, opts(&route)),
        Err(ConnectError::NetworkUnreachable),
        "by R, not on the link"
    );
    route[0] = kind::LOOSE_SOURCE_ROUTE;
    let loose = w.a.tcp_connect(now, to, opts(&route)).unwrap();
    let out = drain_raw(&mut w.a, now);
    assert_eq!(out.len(), 1);
    let (dst, options, seg) = routed_segment(&out[0], B);
    assert_eq!((dst, seg.flags), (far, TcpFlags::SYN));
    assert_eq!(options, lsrr(4, &[B]));
    // Gone with its connection.
    w.a.tcp_abort(now, loose);
    drain_raw(&mut w.a, now);
    assert!(w.a.tcp_ip_options.is_empty());
}
