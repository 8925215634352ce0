//! The ping socket table on its own: identifiers, the message check,
//! replies by identifier and address, and ICMP errors with and without
//! IP_RECVERR (Linux `ping_err`).

use super::*;
use crate::ip::icmp::{IcmpError, IcmpErrorKind};
use crate::wire::icmpv4::{DstUnreachable, TimeExceeded};
use crate::wire::ipv4::Ipv4Repr;

const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

fn table() -> PingSockets {
    PingSockets::new(&Config::default(), Rng::from_seed(7))
}

fn ours(a: Ipv4Addr) -> bool {
    a == ME || a == OTHER
}

/// An echo request header with `seq`, then `data`.
fn request(seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0, 0];
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    m
}

fn send(t: &mut PingSockets, h: PingHandle, dst: Ipv4Addr) -> Result<Outgoing, PingError> {
    t.send_to(
        h,
        Some(dst),
        &request(1, b"x"),
        |_| Some(ME),
        |d| d.is_broadcast(),
    )
}

/// An echo reply's addresses, as the stack hands them over.
fn reply(t: &mut PingSockets, dst: Ipv4Addr, ident: u16, data: &[u8]) -> PingInput {
    let mut m = vec![0, 0, 0, 0];
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(data);
    let to = crate::udp::rx::Arrived {
        dst,
        ttl: 63,
        tos: 0,
        iface: crate::ip::IfaceId(0),
    };
    t.handle_reply(PEER, to, ident, &[], &m)
}

/// An error about our echo request from `src` to `dst` with `ident` and
/// `seq` (the quote's first 8 bytes are the request's header).
fn error_about(
    error: IcmpError,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    ident: u16,
    seq: u16,
    quoted: &mut [u8; 8],
) -> TransportError<'_> {
    *quoted = [8, 0, 0xAB, 0xCD, 0, 0, 0, 0];
    quoted[4..6].copy_from_slice(&ident.to_be_bytes());
    quoted[6..8].copy_from_slice(&seq.to_be_bytes());
    TransportError {
        error,
        quoted: Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            protocol: IpProtocol::Icmp,
            payload_len: 9,
            ttl: 1,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        },
        quoted_data: &quoted[..],
    }
}

fn ttl_exceeded() -> IcmpError {
    IcmpError {
        kind: IcmpErrorKind::TimeExceeded(TimeExceeded::TtlExpired),
        errno: IcmpErrno::HostUnreachable,
        fatal: false,
    }
}

#[test]
fn one_socket_per_identifier_and_zero_picks_a_free_one() {
    let mut t = table();
    let a = t.open();
    assert_eq!(t.bind(a, ME, 7, ours), Ok(7));
    assert_eq!(
        t.bind(a, ME, 8, ours),
        Err(PingError::InvalidInput),
        "bound"
    );
    let b = t.open();
    // Linux `ping_get_port`: the identifier, whatever the address.
    assert_eq!(t.bind(b, OTHER, 7, ours), Err(PingError::AddrInUse));
    assert_eq!(
        t.bind(b, Ipv4Addr::new(10, 0, 0, 1), 9, ours),
        Err(PingError::AddrNotAvailable)
    );
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let h = t.open();
        let ident = t.bind(h, Ipv4Addr::UNSPECIFIED, 0, ours).unwrap();
        assert!(ident != 0 && ident != 7 && seen.insert(ident), "{ident}");
    }
    // Closing frees the identifier.
    t.close(a).unwrap();
    assert_eq!(t.bind(b, ME, 7, ours), Ok(7));
    assert_eq!(t.close(a), Err(PingError::InvalidHandle));
}

#[test]
fn every_identifier_taken_is_an_error_not_a_loop() {
    let mut t = table();
    for ident in 1..=u16::MAX {
        let h = t.open();
        t.bind(h, ME, ident, ours).unwrap();
    }
    let h = t.open();
    assert_eq!(
        t.bind(h, Ipv4Addr::UNSPECIFIED, 0, ours),
        Err(PingError::NoIdentifiers)
    );
    assert_eq!(send(&mut t, h, PEER), Err(PingError::NoIdentifiers));
}

#[test]
fn only_an_echo_request_header_is_sent() {
    let mut t = table();
    let h = t.open();
    let route = |_| Some(ME);
    let no = |_| false;
    for bad in [
        &[8u8, 0, 0, 0, 0, 0, 0][..],
        &[0, 0, 0, 0, 0, 0, 0, 0],
        &[8, 1, 0, 0, 0, 0, 0, 0],
        &[],
    ] {
        assert_eq!(
            t.send_to(h, Some(PEER), bad, route, no),
            Err(PingError::InvalidInput),
            "{bad:?}"
        );
    }
    let huge = request(1, &vec![0; MAX_MESSAGE]);
    assert_eq!(
        t.send_to(h, Some(PEER), &huge, route, no),
        Err(PingError::MessageTooLong)
    );
    assert_eq!(
        t.send_to(h, None, &request(1, b""), route, no),
        Err(PingError::NotConnected)
    );
    assert_eq!(t.local(h), Ok(None), "nothing sent, nothing bound");
    // The smallest message: a header and no data.
    let out = t
        .send_to(h, Some(PEER), &request(9, b""), route, no)
        .unwrap();
    assert_eq!((out.src, out.dst, out.ttl), (ME, PEER, None));
    assert_eq!(t.local(h), Ok(Some((Ipv4Addr::UNSPECIFIED, out.ident))));
    assert_eq!(t.stats().out_requests, 1);
}

#[test]
fn a_broadcast_needs_so_broadcast_and_a_route_gives_the_source() {
    let mut t = table();
    let h = t.open();
    let all = Ipv4Addr::BROADCAST;
    assert_eq!(send(&mut t, h, all), Err(PingError::PermissionDenied));
    t.set_broadcast(h, true).unwrap();
    assert_eq!(send(&mut t, h, all).map(|o| o.dst), Ok(all));
    let msg = request(1, b"");
    assert_eq!(
        t.send_to(h, Some(PEER), &msg, |_| None, |_| false),
        Err(PingError::NetworkUnreachable)
    );
    t.set_ttl(h, Some(3)).unwrap();
    assert_eq!(t.set_ttl(h, Some(0)), Err(PingError::InvalidInput));
    assert_eq!(send(&mut t, h, PEER).map(|o| o.ttl), Ok(Some(3)));
}

#[test]
fn connect_binds_fixes_the_address_and_is_the_default_destination() {
    let mut t = table();
    let h = t.open();
    assert_eq!(t.connect(h, PEER, None), Err(PingError::NetworkUnreachable));
    let (addr, ident) = t.connect(h, PEER, Some(ME)).unwrap();
    assert_eq!(addr, ME);
    assert_eq!(t.peer(h), Ok(Some(PEER)));
    let out = t
        .send_to(h, None, &request(2, b""), |_| None, |_| false)
        .unwrap();
    assert_eq!((out.src, out.dst, out.ident), (ME, PEER, ident));
    // A group may be the peer too (Linux's `ip4_datagram_connect`), and
    // its requests take IP_MULTICAST_TTL; 0.0.0.0 may not.
    let group = Ipv4Addr::new(224, 0, 0, 1);
    assert_eq!(
        t.connect(h, Ipv4Addr::UNSPECIFIED, Some(ME)),
        Err(PingError::InvalidInput)
    );
    t.connect(h, group, Some(ME)).unwrap();
    t.set_multicast_ttl(h, 3).unwrap();
    let out = t
        .send_to(h, None, &request(3, b""), |_| None, |_| false)
        .unwrap();
    assert_eq!((out.dst, out.multicast_ttl, out.ttl), (group, 3, None));
}

#[test]
fn replies_go_by_identifier_and_bound_address_and_read_as_they_came() {
    let mut t = table();
    let wild = t.open();
    t.bind(wild, Ipv4Addr::UNSPECIFIED, 100, ours).unwrap();
    let bound = t.open();
    t.bind(bound, ME, 200, ours).unwrap();
    assert_eq!(reply(&mut t, ME, 100, b"a"), PingInput::Delivered(wild));
    assert_eq!(reply(&mut t, OTHER, 100, b"b"), PingInput::Queued);
    assert_eq!(reply(&mut t, OTHER, 200, b"c"), PingInput::NoSocket);
    assert_eq!(reply(&mut t, ME, 200, b"d"), PingInput::Delivered(bound));
    assert_eq!(reply(&mut t, ME, 300, b"e"), PingInput::NoSocket);
    let mut buf = [0u8; 64];
    let got = t.recv_from(wild, &mut buf).unwrap();
    assert_eq!((got.src, got.dst, got.ttl, got.len), (PEER, ME, 63, 9));
    assert_eq!(&buf[..got.len], &[0, 0, 0, 0, 0, 100, 0, 1, b'a']);
    // Truncated: the rest is gone, the next reply intact.
    let mut short = [0u8; 4];
    let got = t.recv_from(wild, &mut short).unwrap();
    assert!(got.truncated && got.len == 4 && got.dst == OTHER);
    assert_eq!(t.recv_from(wild, &mut buf), Err(PingError::WouldBlock));
    assert_eq!(t.is_readable(bound), Ok(true));
    assert_eq!((t.stats().in_replies, t.stats().no_socket), (3, 2));
}

#[test]
fn a_full_queue_drops_and_counts() {
    let mut t = table();
    let h = t.open();
    t.bind(h, ME, 5, ours).unwrap();
    t.set_recv_buffer_size(h, 3 * (DATAGRAM_OVERHEAD + 108))
        .unwrap();
    let outcomes: Vec<_> = (0..5).map(|_| reply(&mut t, ME, 5, &[0; 100])).collect();
    assert_eq!(outcomes[3], PingInput::RcvbufFull);
    assert_eq!(t.recv_queue(h).unwrap().0, 3);
    assert_eq!(t.stats().rcvbuf_errors, 2);
}

#[test]
fn without_recverr_only_a_connected_socket_hears_a_hard_error() {
    let mut t = table();
    let h = t.open();
    let ident = t.bind(h, ME, 0, ours).unwrap();
    let mut q = [0; 8];
    let soft = error_about(ttl_exceeded(), (ME, PEER), ident, 1, &mut q);
    assert_eq!(t.handle_error(ROUTER, &soft), None);
    let refused = IcmpError::from_dst_unreachable(DstUnreachable::ProtoUnreachable, 0).unwrap();
    let mut q = [0; 8];
    let hard = error_about(refused, (ME, PEER), ident, 1, &mut q);
    assert_eq!(t.handle_error(PEER, &hard), None, "not connected");
    t.connect(h, PEER, Some(ME)).unwrap();
    let mut q = [0; 8];
    let soft = error_about(ttl_exceeded(), (ME, PEER), ident, 1, &mut q);
    assert_eq!(t.handle_error(ROUTER, &soft), None, "soft");
    let mut q = [0; 8];
    let hard = error_about(refused, (ME, PEER), ident, 1, &mut q);
    assert_eq!(t.handle_error(PEER, &hard), Some(h));
    let mut buf = [0; 16];
    let unreachable = PingError::Icmp(IcmpErrno::ProtocolUnreachable);
    assert_eq!(t.recv_from(h, &mut buf), Err(unreachable), "once");
    assert_eq!(t.recv_from(h, &mut buf), Err(PingError::WouldBlock));
    assert_eq!(
        t.recv_error(h),
        Ok(None),
        "nothing queued without IP_RECVERR"
    );
}

#[test]
fn recverr_queues_every_error_with_its_offender_and_sequence() {
    let mut t = table();
    let h = t.open();
    let ident = t.bind(h, Ipv4Addr::UNSPECIFIED, 0, ours).unwrap();
    t.set_recv_error(h, true).unwrap();
    for seq in [1, 2] {
        let mut q = [0; 8];
        let e = error_about(ttl_exceeded(), (ME, PEER), ident, seq, &mut q);
        assert_eq!(t.handle_error(ROUTER, &e), Some(h));
    }
    assert_eq!(t.take_error(h), Ok(Some(IcmpErrno::HostUnreachable)));
    let first = t.recv_error(h).unwrap().unwrap();
    assert_eq!((first.offender, first.dst, first.seq), (ROUTER, PEER, 1));
    assert_eq!(first.icmp_type_code(), (11, 0));
    // Reading one leaves the next one's errno pending (Linux
    // `sock_dequeue_err_skb`).
    let mut buf = [0; 16];
    let pending = PingError::Icmp(IcmpErrno::HostUnreachable);
    assert_eq!(t.recv_from(h, &mut buf), Err(pending));
    assert_eq!(t.recv_error(h).unwrap().map(|r| r.seq), Some(2));
    assert_eq!(t.take_error(h), Ok(None));
    assert_eq!(t.recv_error(h), Ok(None));
    // Other identifiers, other sources, quotes that are not our echo
    // requests: nobody's.
    let mut q = [0; 8];
    let other = error_about(ttl_exceeded(), (ME, PEER), ident.wrapping_add(1), 1, &mut q);
    assert_eq!(t.handle_error(ROUTER, &other), None);
    let mut q = [0; 8];
    let mut reply_quote = error_about(ttl_exceeded(), (ME, PEER), ident, 1, &mut q);
    let reply_bytes = [0, 0, 0, 0, (ident >> 8) as u8, ident as u8, 0, 1];
    reply_quote.quoted_data = &reply_bytes;
    assert_eq!(t.handle_error(ROUTER, &reply_quote), None);
    // The queue is bounded, and dropped when IP_RECVERR goes off.
    for _ in 0..10_000 {
        let mut q = [0; 8];
        let e = error_about(ttl_exceeded(), (ME, PEER), ident, 3, &mut q);
        t.handle_error(ROUTER, &e);
    }
    let queued = core::iter::from_fn(|| t.recv_error(h).unwrap()).count();
    assert_eq!(queued, Config::default().rmem_default / DATAGRAM_OVERHEAD);
    let mut q = [0; 8];
    let e = error_about(ttl_exceeded(), (ME, PEER), ident, 4, &mut q);
    t.handle_error(ROUTER, &e);
    t.set_recv_error(h, false).unwrap();
    assert_eq!(t.recv_error(h), Ok(None));
}

#[test]
fn a_socket_bound_to_one_address_hears_errors_about_its_requests_only() {
    let mut t = table();
    let h = t.open();
    let ident = t.bind(h, OTHER, 0, ours).unwrap();
    t.set_recv_error(h, true).unwrap();
    let mut q = [0; 8];
    let e = error_about(ttl_exceeded(), (ME, PEER), ident, 1, &mut q);
    assert_eq!(t.handle_error(ROUTER, &e), None);
    let mut q = [0; 8];
    let e = error_about(ttl_exceeded(), (OTHER, PEER), ident, 1, &mut q);
    assert_eq!(t.handle_error(ROUTER, &e), Some(h));
    assert_eq!(t.stats().in_errors, 1);
}
