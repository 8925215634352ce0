//! IP options on the way in (RFC 791 §3.1, RFC 1122 §3.2.1.8): checked, a
//! malformed one answered with a parameter problem (RFC 1122 §3.2.2.5),
//! source routes dropped (by default; `source_route.rs` takes them), and an
//! echo request's record route and timestamp carried into the reply with
//! this host's entry (RFC 1122 §3.2.2.6).

use super::*;
use crate::ip::options::kind;
use crate::wire::checksum;

/// `datagram` with `options` (whole words) inserted after its fixed header:
/// the header length, total length and header checksum follow.
pub(super) fn with_options(datagram: &[u8], options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut d = datagram[..20].to_vec();
    d.extend_from_slice(options);
    d.extend_from_slice(&datagram[20..]);
    d[0] = 0x40 | ((20 + options.len()) / 4) as u8;
    let total = d.len() as u16;
    d[2..4].copy_from_slice(&total.to_be_bytes());
    d[10..12].copy_from_slice(&[0, 0]);
    let header_len = 20 + options.len();
    let sum = checksum::finish(checksum::data(&d[..header_len]));
    d[10..12].copy_from_slice(&sum.to_be_bytes());
    d
}

/// A stack at B listening on port 80, and a SYN to it from A.
pub(super) fn listening_and_a_syn() -> (Stack, Vec<u8>) {
    let mut s = stack(B, 1);
    s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 8)
        .unwrap();
    let syn = packet(
        SocketAddrV4::new(A, 1000),
        SocketAddrV4::new(B, 80),
        TcpFlags::SYN,
        7,
        None,
        b"",
    );
    (s, syn)
}

/// A reply's header checked whole (its sum covers the options), and its
/// options and ICMP message.
pub(super) fn split_reply(reply: &[u8]) -> (&[u8], &[u8]) {
    let header_len = usize::from(reply[0] & 0x0F) * 4;
    assert!(checksum::is_valid(checksum::data(&reply[..header_len])));
    assert_eq!(
        usize::from(u16::from_be_bytes([reply[2], reply[3]])),
        reply.len()
    );
    let icmp = &reply[header_len..];
    assert!(checksum::is_valid(checksum::data(icmp)));
    (&reply[20..header_len], icmp)
}

/// `ping -R`'s option as Linux sends it: NOP, then a record route of nine
/// slots with the sender's address in the first.
fn record_route_from_a() -> Vec<u8> {
    let mut o = vec![kind::NOP, kind::RECORD_ROUTE, 39, 8];
    o.extend_from_slice(&A.octets());
    o.resize(40, 0);
    o
}

#[test]
fn an_echo_reply_carries_the_record_route_with_this_host_in_it() {
    let mut s = stack(B, 1);
    let t = Instant::from_millis(1);
    let request = icmp(A, B, 8, 0, [0, 7, 0, 1], b"route");
    s.handle_frame(t, &with_options(&request, &record_route_from_a()));
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1, "answered");
    let (options, icmp) = split_reply(&out[0]);
    assert_eq!(options.len(), 40);
    assert_eq!(&options[..3], &[kind::RECORD_ROUTE, 39, 12]);
    assert_eq!(&options[3..7], &A.octets());
    assert_eq!(&options[7..11], &B.octets(), "this host, once");
    assert_eq!(&icmp[..2], &[0, 0]);
    assert_eq!(&icmp[4..], &[0, 7, 0, 1, b'r', b'o', b'u', b't', b'e']);
    assert_eq!(s.stats().icmp.out_echo_reps, 1);
}

#[test]
fn an_echo_reply_timestamps_by_the_time_of_day_when_the_stack_knows_it() {
    let ts_only = [kind::TIMESTAMP, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let request = icmp(A, B, 8, 0, [0, 7, 0, 2], b"");
    let stamp = |s: &mut Stack, t: Instant| {
        s.handle_frame(t, &with_options(&request, &ts_only));
        let out = drain_raw(s, t);
        let (options, _) = split_reply(&out[0]);
        assert_eq!(&options[..4], &[kind::TIMESTAMP, 12, 9, 0]);
        u32::from_be_bytes(options[4..8].try_into().unwrap())
    };
    let mut s = stack(B, 1);
    // Without the time of day: any clock, marked non-standard.
    let t = Instant::from_millis(1_500);
    assert_eq!(stamp(&mut s, t), 0x8000_0000 | 1_500);
    // 12:00:00.000 UT at 1 s; 1.5 s is half a second later.
    let noon = 1_795_608_000_000;
    s.set_time_of_day(Instant::from_millis(1_000), noon);
    assert_eq!(stamp(&mut s, t), 12 * 3_600_000 + 500);
}

#[test]
fn a_malformed_option_is_a_header_error_answered_with_a_parameter_problem() {
    let (mut s, syn) = listening_and_a_syn();
    let t = Instant::from_millis(1);
    // A record route whose pointer (octet 22 of the header) is below 4.
    let bad = with_options(&syn, &[kind::RECORD_ROUTE, 7, 3, 0, 0, 0, 0, 0]);
    s.handle_frame(t, &bad);
    assert_eq!(s.stats().ip.in_hdr_errors, 1);
    assert_eq!(s.stats().tcp.in_segs, 0, "TCP never sees it");
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let (options, icmp) = split_reply(&out[0]);
    assert!(options.is_empty());
    assert_eq!(&icmp[..2], &[12, 0], "parameter problem, code 0");
    assert_eq!(&icmp[4..8], &[22, 0, 0, 0], "the pointer");
    assert_eq!(&icmp[8..], &bad[..], "the datagram quoted");
    assert_eq!(s.stats().icmp.out_parm_probs, 1);
    // The same SYN with a well-formed record route is TCP's, options
    // ignored (RFC 1122 §4.2.3.8).
    let good = with_options(&syn, &[kind::RECORD_ROUTE, 7, 4, 0, 0, 0, 0, 0]);
    s.handle_frame(t, &good);
    assert_eq!(drain(&mut s, t)[0].flags, TcpFlags::SYN | TcpFlags::ACK);
}

#[test]
fn source_routed_datagrams_are_dropped_unanswered() {
    let (mut s, syn) = listening_and_a_syn();
    let t = Instant::from_millis(1);
    // A completed loose source route (A via 198.51.100.1 to B), and a
    // strict one with a hop to go.
    let loose = [kind::LOOSE_SOURCE_ROUTE, 7, 8, 198, 51, 100, 1, kind::END];
    let strict = [kind::STRICT_SOURCE_ROUTE, 7, 4, 198, 51, 100, 1, kind::END];
    s.handle_frame(t, &with_options(&syn, &loose));
    s.handle_frame(t, &with_options(&syn, &strict));
    let ping = icmp(A, B, 8, 0, [0, 1, 0, 1], b"");
    s.handle_frame(t, &with_options(&ping, &loose));
    assert_eq!(s.stats().ip.in_source_routed, 3);
    assert_eq!(s.stats().ip.in_hdr_errors, 0);
    assert!(drain_raw(&mut s, t).is_empty());
    assert_eq!((s.stats().tcp.in_segs, s.stats().icmp.in_msgs), (0, 0));
}

#[test]
fn options_the_host_ignores_let_the_datagram_through() {
    let mut s = stack(B, 1);
    let t = Instant::from_millis(1);
    let u = s.udp_open();
    s.udp_bind(u, SocketAddrV4::new(B, 53)).unwrap();
    let datagram = udp_to_b(b"dns?");
    // Router alert, a stream identifier, an unknown kind 30.
    let options = [
        kind::ROUTER_ALERT,
        4,
        0,
        0,
        kind::STREAM_ID,
        4,
        0,
        9,
        30,
        3,
        0,
        kind::END,
    ];
    s.handle_frame(t, &with_options(&datagram, &options));
    let mut buf = [0u8; 16];
    let got = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!(
        (&buf[..got.len], got.src),
        (&b"dns?"[..], SocketAddrV4::new(A, 99))
    );
}

/// A UDP datagram from A:99 to B:53 carrying `payload`, no checksum.
pub(super) fn udp_to_b(payload: &[u8]) -> Vec<u8> {
    let mut udp = vec![0, 99, 0, 53];
    udp.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    ip_datagram(A, B, IpProtocol::Udp, &udp)
}

/// A UDP socket of `s` bound to `addr`.
pub(super) fn udp_socket(s: &mut Stack, addr: SocketAddrV4) -> crate::udp::UdpHandle {
    let u = s.udp_open();
    s.udp_bind(u, addr).unwrap();
    u
}

#[test]
fn a_sockets_ip_options_go_on_its_datagrams_with_this_host_recorded() {
    let mut s = stack(B, 1);
    let t = Instant::from_millis(1);
    let u = udp_socket(&mut s, SocketAddrV4::new(B, 5000));
    // An empty record route of nine slots, as `ping -R` sets it.
    let mut route = vec![kind::NOP, kind::RECORD_ROUTE, 39, 4];
    route.resize(40, 0);
    s.udp_set_ip_options(u, &route).unwrap();
    s.udp_send_to(t, u, SocketAddrV4::new(A, 53), b"query")
        .unwrap();
    let out = drain_raw(&mut s, t);
    assert_eq!(out.len(), 1);
    let d = &out[0];
    let header_len = usize::from(d[0] & 0x0F) * 4;
    assert_eq!(header_len, 60);
    assert!(checksum::is_valid(checksum::data(&d[..60])));
    assert_eq!(
        &d[20..28],
        &[kind::NOP, kind::RECORD_ROUTE, 39, 8, 192, 0, 2, 2]
    );
    assert_eq!(usize::from(u16::from_be_bytes([d[2], d[3]])), d.len());
    // The peer takes it, options and all.
    let mut peer = stack(A, 2);
    let p = udp_socket(&mut peer, SocketAddrV4::new(A, 53));
    peer.handle_frame(t, d);
    let mut buf = [0u8; 16];
    let got = peer.udp_recv_from(p, &mut buf).unwrap();
    assert_eq!(
        (&buf[..got.len], got.src),
        (&b"query"[..], SocketAddrV4::new(B, 5000))
    );
    // Cleared: plain 20-byte headers again.
    s.udp_set_ip_options(u, &[]).unwrap();
    s.udp_send_to(t, u, SocketAddrV4::new(A, 53), b"again")
        .unwrap();
    assert_eq!(drain_raw(&mut s, t)[0][0], 0x45);
}

#[test]
fn options_a_socket_may_not_send_are_refused() {
    let mut s = stack(B, 1);
    let u = udp_socket(&mut s, SocketAddrV4::new(B, 5000));
    let refused = [
        vec![kind::NOP; 41],
        vec![kind::RECORD_ROUTE, 9, 4, 0],
        // A source route as received, not as an application writes one.
        vec![kind::LOOSE_SOURCE_ROUTE, 7, 8, 198, 51, 100, 1],
    ];
    for options in refused {
        assert_eq!(
            s.udp_set_ip_options(u, &options),
            Err(crate::udp::UdpError::InvalidInput),
            "{options:?}"
        );
    }
}

#[test]
fn fragments_after_the_first_carry_only_the_options_marked_copied() {
    let mut s = stack(B, 1);
    let t = Instant::from_millis(1);
    let u = udp_socket(&mut s, SocketAddrV4::new(B, 5000));
    // Router alert (copied into every fragment) and a record route (the
    // first fragment only): 12 bytes of options.
    let options = [
        kind::ROUTER_ALERT,
        4,
        0,
        0,
        kind::RECORD_ROUTE,
        7,
        4,
        0,
        0,
        0,
        0,
        kind::END,
    ];
    s.udp_set_ip_options(u, &options).unwrap();
    let data: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
    s.udp_send_to(t, u, SocketAddrV4::new(A, 53), &data)
        .unwrap();
    let frags = drain_raw(&mut s, t);
    assert_eq!(frags.len(), 3);
    for (i, f) in frags.iter().enumerate() {
        assert!(f.len() <= 1500, "fragment {i}: {} bytes", f.len());
        let header_len = usize::from(f[0] & 0x0F) * 4;
        assert!(checksum::is_valid(checksum::data(&f[..header_len])));
        if i == 0 {
            assert_eq!(header_len, 32);
            assert_eq!(&f[20..31], &[148, 4, 0, 0, 7, 7, 8, 192, 0, 2, 2]);
        } else {
            assert_eq!(header_len, 24, "fragment {i}");
            assert_eq!(&f[20..24], &[148, 4, 0, 0]);
        }
    }
    // The peer reassembles the whole datagram.
    let mut peer = stack(A, 2);
    let p = udp_socket(&mut peer, SocketAddrV4::new(A, 53));
    for f in &frags {
        peer.handle_frame(t, f);
    }
    let mut buf = vec![0u8; 5000];
    let got = peer.udp_recv_from(p, &mut buf).unwrap();
    assert_eq!(&buf[..got.len], &data[..]);
}

#[test]
fn a_socket_that_asks_gets_each_datagrams_ip_options() {
    let mut s = stack(B, 1);
    let t = Instant::from_millis(1);
    let u = udp_socket(&mut s, SocketAddrV4::new(B, 53));
    let options = [kind::ROUTER_ALERT, 4, 0, 0, kind::STREAM_ID, 4, 0, 9];
    let datagram = |payload: &[u8]| with_options(&udp_to_b(payload), &options);
    let mut buf = [0u8; 16];
    let mut got = [0u8; 40];
    // Not asked: none kept.
    s.handle_frame(t, &datagram(b"one"));
    let (r, n) = s.udp_recv_msg(u, &mut buf, &mut got).unwrap();
    assert_eq!((&buf[..r.len], n), (&b"one"[..], 0));
    // Asked (IP_RECVOPTS): each datagram's own, as received, even when the
    // payload is cut short for the buffer; `recv_from` drops them.
    s.udp_set_recv_ip_options(u, true).unwrap();
    s.handle_frame(t, &datagram(b"two"));
    s.handle_frame(t, &datagram(b"a longer datagram"));
    s.handle_frame(t, &datagram(b"four"));
    let (r, n) = s.udp_recv_msg(u, &mut buf, &mut got).unwrap();
    assert_eq!((&buf[..r.len], &got[..n]), (&b"two"[..], &options[..]));
    let (r, n) = s.udp_recv_msg(u, &mut buf[..8], &mut got).unwrap();
    assert!(r.truncated);
    assert_eq!((&buf[..r.len], &got[..n]), (&b"a longer"[..], &options[..]));
    let r = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!(&buf[..r.len], b"four");
    assert_eq!(s.udp_recv_queue(u).unwrap(), (0, 0), "nothing left behind");
}
