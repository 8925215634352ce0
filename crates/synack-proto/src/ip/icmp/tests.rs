//! The ICMP policy's tests: error conversion, quoting, the rules for
//! sending, echo replies and the rate limiter.

use super::*;
use crate::wire::test_util::junk;

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// A UDP datagram 198.51.100.7:40000 -> 192.0.2.1:53 with 4 bytes of
/// data, as received (TOS 0x10, ident 0x1234, DF, TTL 61).
const UDP_DATAGRAM: [u8; 32] = [
    0x45, 0x10, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x3d, 0x11, 0x00, 0x00, 198, 51, 100, 7, 192,
    0, 2, 1, // IP header (checksum not checked by the quoter)
    0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, b'a', b'b', b'c', b'd',
];

fn reply_ip() -> ReplyIp {
    ReplyIp {
        src: US,
        ttl: 64,
        ident: 0x0102,
    }
}

fn quoted_udp() -> Ipv4Repr {
    Ipv4Repr {
        src_addr: US,
        dst_addr: PEER,
        protocol: IpProtocol::Udp,
        payload_len: 12,
        ttl: 64,
        dscp_ecn: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    }
}

fn dst_unreach(reason: DstUnreachable) -> IcmpError {
    IcmpError::from_dst_unreachable(reason, 0).unwrap()
}

#[test]
fn dst_unreachable_codes_convert_like_linux() {
    use DstUnreachable::*;
    let table = [
        (NetUnreachable, IcmpErrno::NetUnreachable, false),
        (HostUnreachable, IcmpErrno::HostUnreachable, false),
        (ProtoUnreachable, IcmpErrno::ProtocolUnreachable, true),
        (PortUnreachable, IcmpErrno::ConnectionRefused, true),
        (FragRequired, IcmpErrno::MessageTooLong, false),
        (SrcRouteFailed, IcmpErrno::SourceRouteFailed, false),
        (DstNetUnknown, IcmpErrno::NetUnreachable, true),
        (DstHostUnknown, IcmpErrno::HostDown, true),
        (SrcHostIsolated, IcmpErrno::NoNetwork, true),
        (NetProhibited, IcmpErrno::NetUnreachable, true),
        (HostProhibited, IcmpErrno::HostUnreachable, true),
        (NetUnreachToS, IcmpErrno::NetUnreachable, false),
        (HostUnreachToS, IcmpErrno::HostUnreachable, false),
        (CommProhibited, IcmpErrno::HostUnreachable, true),
        (HostPrecedenceViolation, IcmpErrno::HostUnreachable, true),
        (PrecedenceCutoff, IcmpErrno::HostUnreachable, true),
    ];
    for (code, (reason, errno, fatal)) in table.into_iter().enumerate() {
        assert_eq!(DstUnreachable::from(code as u8), reason);
        let e = dst_unreach(reason);
        assert_eq!((e.errno, e.fatal), (errno, fatal), "{reason:?}");
    }
    assert_eq!(IcmpError::from_dst_unreachable(Other(16), 0), None);
    assert_eq!(IcmpErrno::ConnectionRefused.linux_errno(), 111);
}

#[test]
fn errors_parse_with_ports_and_tcp_sequence() {
    let data = [0x9c, 0x40, 0x00, 0x50, 0xde, 0xad, 0xbe, 0xef];
    let tcp = Ipv4Repr {
        protocol: IpProtocol::Tcp,
        ..quoted_udp()
    };
    let repr = Icmpv4Repr::DstUnreachable {
        reason: DstUnreachable::FragRequired,
        next_hop_mtu: 1400,
        header: tcp,
        data: &data,
    };
    let e = parse_error(&repr).unwrap();
    assert_eq!(
        e.error.kind,
        IcmpErrorKind::FragNeeded { next_hop_mtu: 1400 }
    );
    assert_eq!(e.ports(), Some((40000, 80)));
    assert_eq!(e.tcp_seq(), Some(SeqNum::new(0xdeadbeef)));
    let te = Icmpv4Repr::TimeExceeded {
        reason: TimeExceeded::TtlExpired,
        header: quoted_udp(),
        data: &data,
    };
    let e = parse_error(&te).unwrap();
    assert_eq!(
        (e.error.errno, e.error.fatal),
        (IcmpErrno::HostUnreachable, false)
    );
    assert_eq!(e.tcp_seq(), None, "not TCP");
}

#[test]
fn parameter_problem_is_a_hard_protocol_error() {
    let mut body = vec![20, 0, 0, 0];
    let mut quoted = junk(28);
    quoted_udp().emit(
        &mut Ipv4Packet::new_unchecked(&mut quoted[..]),
        Checksum::Full,
    );
    body.extend_from_slice(&quoted);
    let repr = Icmpv4Repr::Other {
        msg_type: 12,
        code: 0,
        body: &body,
    };
    let e = parse_error(&repr).unwrap();
    assert_eq!(e.error.kind, IcmpErrorKind::ParamProblem { pointer: 20 });
    assert_eq!(
        (e.error.errno, e.error.fatal),
        (IcmpErrno::ProtocolError, true)
    );
    assert_eq!(e.quoted, quoted_udp());
    // Too short a quote: not an error anyone can act on.
    let short = Icmpv4Repr::Other {
        msg_type: 12,
        code: 0,
        body: &body[..30],
    };
    assert_eq!(parse_error(&short), None);
}

#[test]
fn redirects_of_every_code_name_their_gateway_and_quote() {
    let quoted = &UDP_DATAGRAM[..28];
    let gateway = Ipv4Addr::new(192, 0, 2, 253);
    for code in 0..=4u8 {
        let mut body = gateway.octets().to_vec();
        body.extend_from_slice(quoted);
        let repr = Icmpv4Repr::Other {
            msg_type: msg_type::REDIRECT,
            code,
            body: &body,
        };
        let got = parse_redirect(&repr);
        if code <= 3 {
            let r = got.expect("codes 0-3 are redirects");
            assert_eq!((r.gateway, r.quoted), (gateway, udp_header()));
        } else {
            assert_eq!(got, None, "code {code}");
        }
        // Too short to hold a quote: not taken.
        let short = Icmpv4Repr::Other {
            msg_type: msg_type::REDIRECT,
            code,
            body: &body[..20],
        };
        assert_eq!(parse_redirect(&short), None);
    }
}

#[test]
fn queries_quench_redirects_and_later_fragments_are_not_transport_errors() {
    let data = [0u8; 8];
    assert_eq!(
        parse_error(&Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 1,
            data: &data
        }),
        None
    );
    for t in [4u8, 5, 9, 13] {
        let body = [0u8; 40];
        let repr = Icmpv4Repr::Other {
            msg_type: t,
            code: 0,
            body: &body,
        };
        assert_eq!(parse_error(&repr), None, "type {t}");
    }
    let later = Ipv4Repr {
        frag_offset: 1480,
        ..quoted_udp()
    };
    let repr = Icmpv4Repr::DstUnreachable {
        reason: DstUnreachable::PortUnreachable,
        next_hop_mtu: 0,
        header: later,
        data: &data,
    };
    assert_eq!(parse_error(&repr), None);
}

#[test]
fn tcp_aborts_connection_attempts_but_only_softens_established_ones() {
    let port = dst_unreach(DstUnreachable::PortUnreachable);
    let host = dst_unreach(DstUnreachable::HostUnreachable);
    assert_eq!(
        tcp_action(&port, TcpContext::SynSent),
        TcpIcmpAction::Abort(IcmpErrno::ConnectionRefused)
    );
    assert_eq!(
        tcp_action(&host, TcpContext::SynSent),
        TcpIcmpAction::Abort(IcmpErrno::HostUnreachable),
        "RFC 5461: soft errors abort a connection attempt"
    );
    assert_eq!(
        tcp_action(&port, TcpContext::Synchronized),
        TcpIcmpAction::SoftError(IcmpErrno::ConnectionRefused),
        "RFC 5927 §5.2: hard errors are soft once synchronized"
    );
    assert_eq!(
        tcp_action(&host, TcpContext::Synchronized),
        TcpIcmpAction::SoftError(IcmpErrno::HostUnreachable)
    );
    assert_eq!(
        tcp_action(&host, TcpContext::SynQueue),
        TcpIcmpAction::Abort(IcmpErrno::HostUnreachable)
    );
    assert_eq!(
        tcp_action(&port, TcpContext::SynQueue),
        TcpIcmpAction::Ignore
    );
    let frag = IcmpError::from_dst_unreachable(DstUnreachable::FragRequired, 1280).unwrap();
    for ctx in [
        TcpContext::SynSent,
        TcpContext::SynQueue,
        TcpContext::Synchronized,
    ] {
        assert_eq!(
            tcp_action(&frag, ctx),
            TcpIcmpAction::PathMtu { next_hop_mtu: 1280 }
        );
    }
}

#[test]
fn connected_udp_sockets_see_only_hard_errors() {
    assert_eq!(
        udp_error(&dst_unreach(DstUnreachable::PortUnreachable)),
        Some(IcmpErrno::ConnectionRefused)
    );
    assert_eq!(
        udp_error(&dst_unreach(DstUnreachable::HostUnreachable)),
        None
    );
    assert_eq!(
        udp_error(&dst_unreach(DstUnreachable::NetUnreachable)),
        None
    );
    assert_eq!(
        udp_error(&dst_unreach(DstUnreachable::FragRequired)),
        Some(IcmpErrno::MessageTooLong)
    );
}

#[test]
fn path_mtu_only_shrinks_and_never_below_the_floor() {
    assert_eq!(
        pmtu_update(1400, 1500, 1500, 552),
        Some(PmtuUpdate {
            mtu: 1400,
            clamped: false
        })
    );
    assert_eq!(pmtu_update(1400, 1500, 1400, 552), None, "no change");
    assert_eq!(pmtu_update(1400, 1500, 1280, 552), None, "no increase");
    assert_eq!(
        pmtu_update(300, 1500, 1500, 552),
        Some(PmtuUpdate {
            mtu: 552,
            clamped: true
        })
    );
    assert_eq!(
        pmtu_update(10, 1500, 1500, 0),
        Some(PmtuUpdate {
            mtu: 68,
            clamped: true
        }),
        "RFC 791 minimum even with no configured floor"
    );
    assert_eq!(
        pmtu_update(552, 552, 1500, 552),
        None,
        "552 bytes would have fit"
    );
    assert_eq!(
        pmtu_update(1600, 1500, 9000, 552),
        None,
        "bogus: larger than the datagram"
    );
}

#[test]
fn zero_next_hop_mtu_uses_the_rfc_1191_plateaus() {
    let up = |total| pmtu_update(0, total, 65535, 68).map(|u| u.mtu);
    assert_eq!(up(1500), Some(1492));
    assert_eq!(up(1492), Some(1006));
    assert_eq!(up(9000), Some(8166));
    assert_eq!(up(576), Some(508));
    assert_eq!(up(68), Some(68));
    assert_eq!(pmtu_update(0, 1500, 1500, 552).map(|u| u.mtu), Some(1492));
}

fn udp_header() -> Ipv4Repr {
    Ipv4Repr::parse(
        &Ipv4Packet::new_checked(&UDP_DATAGRAM[..]).unwrap(),
        Checksum::Offload,
    )
    .unwrap()
}

#[test]
fn errors_are_never_sent_about_errors_broadcasts_or_later_fragments() {
    let h = udp_header();
    let p = &UDP_DATAGRAM[20..];
    assert_eq!(
        may_send_error(&h, p, Destination::Local, false, false),
        Ok(())
    );
    assert_eq!(
        may_send_error(&h, p, Destination::Broadcast, false, false),
        Err(Suppressed::Broadcast)
    );
    assert_eq!(
        may_send_error(&h, p, Destination::Multicast, false, false),
        Err(Suppressed::Broadcast)
    );
    assert_eq!(
        may_send_error(&h, p, Destination::Local, true, false),
        Err(Suppressed::LinkBroadcast)
    );
    let later = Ipv4Repr {
        frag_offset: 8,
        ..h
    };
    assert_eq!(
        may_send_error(&later, p, Destination::Local, false, false),
        Err(Suppressed::NonInitialFragment)
    );
    for src in [
        "0.0.0.0",
        "127.0.0.1",
        "255.255.255.255",
        "224.0.0.9",
        "240.0.0.1",
    ] {
        let bad = Ipv4Repr {
            src_addr: src.parse().unwrap(),
            ..h
        };
        assert_eq!(
            may_send_error(&bad, p, Destination::Local, false, false),
            Err(Suppressed::BadSource),
            "{src}"
        );
    }
    // Over the loopback, 127.0.0.1 is this host: answered (Linux on lo).
    let local = Ipv4Repr {
        src_addr: Ipv4Addr::LOCALHOST,
        dst_addr: Ipv4Addr::LOCALHOST,
        ..h
    };
    assert_eq!(
        may_send_error(&local, p, Destination::Local, false, true),
        Ok(())
    );
    let icmp = Ipv4Repr {
        protocol: IpProtocol::Icmp,
        ..h
    };
    for (t, ok) in [
        (8u8, true),
        (0, true),
        (13, true),
        (3, false),
        (11, false),
        (42, false),
    ] {
        let got = may_send_error(&icmp, &[t, 0, 0, 0], Destination::Local, false, false);
        assert_eq!(got.is_ok(), ok, "ICMP type {t}");
    }
    assert_eq!(
        may_send_error(&icmp, &[], Destination::Local, false, false),
        Err(Suppressed::IcmpError)
    );
}

#[test]
fn echo_to_broadcast_is_ignored_by_default() {
    assert!(may_answer_echo(Destination::Local, true));
    assert!(!may_answer_echo(Destination::Broadcast, true));
    assert!(!may_answer_echo(Destination::Multicast, true));
    assert!(may_answer_echo(Destination::Broadcast, false));
    assert!(!may_answer_echo(Destination::NotOurs, false));
}

#[test]
fn echo_reply_mirrors_the_request() {
    let request = Ipv4Repr {
        src_addr: PEER,
        dst_addr: US,
        protocol: IpProtocol::Icmp,
        payload_len: 12,
        ttl: 61,
        dscp_ecn: 0x10,
        ident: 0x9999,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    let mut buf = junk(64);
    let len = emit_echo_reply(&request, &[], 0x1234, 1, b"abcd", reply_ip(), &mut buf).unwrap();
    assert_eq!(len, 32);
    #[rustfmt::skip]
    let expected: [u8; 32] = [
        0x45, 0x10, 0x00, 0x20, 0x01, 0x02, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00,
        192, 0, 2, 1, 198, 51, 100, 7,
        0x00, 0x00, 0x29, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];
    // The IP checksum is checked by parsing; the rest byte for byte.
    assert_eq!(buf[..10], expected[..10]);
    assert_eq!(buf[12..len], expected[12..]);
    let p = Ipv4Packet::new_checked(&buf[..len]).unwrap();
    assert!(p.verify_checksum());
    assert_eq!(
        emit_echo_reply(&request, &[], 1, 1, b"abcd", reply_ip(), &mut junk(31)),
        None
    );
}

#[test]
fn port_unreachable_quotes_the_datagram_byte_for_byte() {
    let mut buf = junk(600);
    let msg = ErrorMessage::DstUnreachable {
        reason: DstUnreachable::PortUnreachable,
        next_hop_mtu: 1234,
    };
    let len = emit_error(msg, &UDP_DATAGRAM, reply_ip(), &mut buf).unwrap();
    assert_eq!(len, 20 + 8 + 32);
    let p = Ipv4Packet::new_checked(&buf[..len]).unwrap();
    assert!(p.verify_checksum());
    assert_eq!((p.src_addr(), p.dst_addr()), (US, PEER));
    assert_eq!(p.dscp_ecn(), 0xD0, "internetwork control plus the TOS bits");
    assert_eq!((p.ttl(), p.ident(), p.dont_frag()), (64, 0x0102, false));
    let icmp = Icmpv4Packet::new_checked(p.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!((icmp.msg_type(), icmp.msg_code()), (3, 3));
    assert_eq!(&p.payload()[4..8], &[0, 0, 0, 0], "MTU only for code 4");
    assert_eq!(icmp.data(), &UDP_DATAGRAM[..]);
    let parsed = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(p.payload()).unwrap(),
        Checksum::Full,
    )
    .unwrap();
    assert!(matches!(
        parsed,
        Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            ..
        }
    ));
}

#[test]
fn the_quote_stops_at_the_datagrams_total_length() {
    let mut padded = UDP_DATAGRAM.to_vec();
    padded.extend_from_slice(&[0; 14]); // Ethernet minimum-frame padding
    let mut buf = junk(600);
    let msg = ErrorMessage::TimeExceeded(TimeExceeded::TtlExpired);
    let n = emit_error(msg, &padded, reply_ip(), &mut buf).unwrap();
    assert_eq!(n, 20 + 8 + UDP_DATAGRAM.len());
    assert_eq!(&buf[28..n], &UDP_DATAGRAM[..]);
    // A quote cut short (less than its total length) is quoted as is.
    let n = emit_error(msg, &UDP_DATAGRAM[..28], reply_ip(), &mut buf).unwrap();
    assert_eq!(n, 20 + 8 + 28);
}

#[test]
fn errors_are_capped_at_576_bytes() {
    let mut big = junk(1500);
    big[..20].copy_from_slice(&UDP_DATAGRAM[..20]);
    big[2..4].copy_from_slice(&1500u16.to_be_bytes());
    let mut buf = junk(1600);
    let msg = ErrorMessage::TimeExceeded(TimeExceeded::FragExpired);
    let len = emit_error(msg, &big, reply_ip(), &mut buf).unwrap();
    assert_eq!(len, MAX_ERROR_DATAGRAM);
    assert_eq!(&buf[20..22], &[11, 1]);
    assert_eq!(&buf[28..576], &big[..548]);
    assert_eq!(emit_error(msg, &big, reply_ip(), &mut junk(575)), None);
    assert_eq!(emit_error(msg, &big[..19], reply_ip(), &mut buf), None);
    let mut v6 = UDP_DATAGRAM;
    v6[0] = 0x60;
    assert_eq!(emit_error(msg, &v6, reply_ip(), &mut buf), None);
}

fn limiter(config: &Config) -> IcmpRateLimiter {
    IcmpRateLimiter::new(config, SipKey([7; 16]), Rng::from_seed(1))
}

const UNREACH: u8 = msg_type::DST_UNREACHABLE;

#[test]
fn one_destination_gets_a_burst_of_six_then_one_per_second() {
    let config = Config {
        icmp_msgs_per_sec: 0, // global limit off: test the host bucket alone
        ..Config::default()
    };
    let mut l = limiter(&config);
    let t0 = Instant::from_secs(100);
    let sent = (0..20)
        .filter(|_| l.allow(t0, PEER, UNREACH, 3).is_ok())
        .count();
    assert_eq!(sent, 6);
    assert_eq!(l.allow(t0, PEER, UNREACH, 3), Err(RateLimited::Host));
    let t1 = t0 + Duration::from_millis(999);
    assert_eq!(l.allow(t1, PEER, UNREACH, 3), Err(RateLimited::Host));
    let t2 = t0 + Duration::from_secs(1);
    assert_eq!(l.allow(t2, PEER, UNREACH, 3), Ok(()));
    assert_eq!(l.allow(t2, PEER, UNREACH, 3), Err(RateLimited::Host));
    // Another destination has its own bucket.
    assert_eq!(
        l.allow(t2, Ipv4Addr::new(203, 0, 113, 5), UNREACH, 3),
        Ok(())
    );
}

#[test]
fn unmasked_types_frag_needed_and_loopback_are_not_limited() {
    let mut l = limiter(&Config::default());
    let t = Instant::from_secs(1);
    for _ in 0..100 {
        assert_eq!(l.allow(t, PEER, msg_type::ECHO_REPLY, 0), Ok(()));
        assert_eq!(l.allow(t, PEER, UNREACH, 4), Ok(()));
    }
    let lo = Ipv4Addr::LOCALHOST;
    let sent = (0..40)
        .filter(|_| l.allow(t, lo, UNREACH, 3).is_ok())
        .count();
    assert!(
        sent > 6,
        "loopback has no host limit, only the global one: {sent}"
    );
}

#[test]
fn global_bucket_holds_the_rate_under_a_spoofed_flood() {
    let mut l = limiter(&Config::default());
    let mut rng = Rng::from_seed(9);
    let mut sent = 0u64;
    let mut global = 0u64;
    // 10 s of 20,000 errors per second, each to a random source.
    for i in 0..200_000u64 {
        let now = Instant::from_micros(i * 50);
        let dst = Ipv4Addr::from_bits(rng.u32());
        match l.allow(now, dst, UNREACH, 3) {
            Ok(()) => sent += 1,
            Err(RateLimited::Global) => global += 1,
            Err(RateLimited::Host) => {}
        }
    }
    // 1000/s for 10 s plus the 50 burst, give or take the random costs.
    assert!((9_000..=11_500).contains(&sent), "sent {sent}");
    assert!(global > 180_000, "global drops {global}");
}

#[test]
fn random_costs_make_the_global_count_unpredictable_but_seeded() {
    let run = |seed| {
        let mut l = IcmpRateLimiter::new(&Config::default(), SipKey([1; 16]), Rng::from_seed(seed));
        (0..200u32)
            .filter(|&i| {
                l.allow(Instant::from_secs(1), Ipv4Addr::from_bits(i), UNREACH, 3)
                    .is_ok()
            })
            .count()
    };
    assert_eq!(run(5), run(5), "same seed, same answers");
    let counts: std::collections::HashSet<usize> = (0..8).map(run).collect();
    assert!(
        counts.len() > 1,
        "the burst size varies with the seed: {counts:?}"
    );
    assert!(
        counts.iter().all(|&c| (20..=200).contains(&c)),
        "{counts:?}"
    );
}

proptest::proptest! {
    /// Whatever arrives, conversion and quoting never panic, and an
    /// error we build always parses back.
    #[test]
    fn arbitrary_icmp_and_offending_bytes_never_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700),
    ) {
        if let Ok(p) = Icmpv4Packet::new_checked(&bytes[..])
            && let Ok(repr) = Icmpv4Repr::parse(&p, Checksum::Offload)
                && let Some(e) = parse_error(&repr) {
                    let _ = (e.ports(), e.tcp_seq());
                    for ctx in [TcpContext::SynSent, TcpContext::SynQueue, TcpContext::Synchronized] {
                        let _ = tcp_action(&e.error, ctx);
                    }
                    let _ = udp_error(&e.error);
                }
        let mut buf = [0u8; 600];
        let msg = ErrorMessage::DstUnreachable { reason: DstUnreachable::ProtoUnreachable, next_hop_mtu: 0 };
        if let Some(n) = emit_error(msg, &bytes, reply_ip(), &mut buf) {
            proptest::prop_assert!(n <= MAX_ERROR_DATAGRAM);
            let p = Ipv4Packet::new_checked(&buf[..n]).unwrap();
            let icmp = Icmpv4Packet::new_checked(p.payload()).unwrap();
            proptest::prop_assert!(icmp.verify_checksum());
        }
    }
}

#[test]
fn zero_ratelimit_disables_the_host_bucket() {
    let config = Config {
        icmp_ratelimit: Duration::ZERO,
        icmp_msgs_per_sec: 0,
        ..Config::default()
    };
    let mut l = limiter(&config);
    let t = Instant::from_secs(1);
    assert!((0..100).all(|_| l.allow(t, PEER, UNREACH, 3).is_ok()));
}
