//! Nothing from the wire panics the host: random frames aimed at every
//! ingress path of an Ethernet host with sockets open (ARP, IPv4 with bad
//! headers, fragments, ICMP errors quoting anything, UDP, TCP), and the
//! output always parses.

use super::*;
use proptest::prelude::*;

const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

/// A host on Ethernet with a listener, a UDP socket and a connection of
/// its own, its peer's address known.
fn host() -> (Stack, crate::udp::UdpHandle) {
    let mut s = eth_stack(B, 2, config(7));
    s.add_arp_entry(IfaceId(0), PEER, mac(7));
    s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 8)
        .unwrap();
    let u = s.udp_open();
    s.udp_bind(u, SocketAddrV4::new(B, 53)).unwrap();
    s.tcp_connect(
        Instant::ZERO,
        SocketAddrV4::new(PEER, 80),
        ConnectOptions::default(),
    )
    .unwrap();
    (s, u)
}

/// An IPv4 payload of some protocol, possibly a fragment, with fields the
/// strategy picks.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(1u8), Just(6), Just(17), any::<u8>()],
        prop_oneof![Just(PEER), Just(B), any::<u32>().prop_map(Ipv4Addr::from)],
        prop_oneof![
            Just(B),
            Just(Ipv4Addr::new(192, 0, 2, 255)),
            any::<u32>().prop_map(Ipv4Addr::from)
        ],
        proptest::collection::vec(any::<u8>(), 0..600),
        (any::<bool>(), 0u16..200, any::<u16>()),
        proptest::option::of((0usize..40, any::<u8>())),
    )
        .prop_map(|(proto, src, dst, payload, (mf, off, ident), flip)| {
            let repr = Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                protocol: IpProtocol::from(proto),
                payload_len: payload.len() as u16,
                ttl: 64,
                dscp_ecn: 0,
                ident,
                dont_frag: false,
                more_frags: mf,
                frag_offset: off * 8,
            };
            let mut d = vec![0u8; 20 + payload.len()];
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut d[..20]), Checksum::Full);
            d[20..].copy_from_slice(&payload);
            if let Some((at, byte)) = flip {
                let at = at % d.len();
                d[at] = byte;
            }
            d
        })
}

/// An ICMP error from PEER quoting a random datagram "from" us.
fn icmp_error() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(3u8), Just(11), Just(12), any::<u8>()],
        0u8..16,
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 28..80),
    )
        .prop_map(|(ty, code, mtu, mut quoted)| {
            // A plausible quoted header from us.
            quoted[0] = 0x45;
            quoted[9] = if code % 2 == 0 { 6 } else { 17 };
            quoted[12..16].copy_from_slice(&B.octets());
            let [hi, lo] = mtu.to_be_bytes();
            let mut m = vec![ty, code, 0, 0, 0, 0, hi, lo];
            m.extend_from_slice(&quoted);
            let sum = crate::wire::checksum::finish(crate::wire::checksum::data(&m));
            m[2..4].copy_from_slice(&sum.to_be_bytes());
            ip_datagram(PEER, B, IpProtocol::Icmp, &m)
        })
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        datagram().prop_map(|d| eth_frame(mac(2), mac(7), EtherType::Ipv4, &d)),
        icmp_error().prop_map(|d| eth_frame(mac(2), mac(7), EtherType::Ipv4, &d)),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|p| eth_frame(
            EthernetAddress::BROADCAST,
            mac(7),
            EtherType::Arp,
            &p
        )),
        proptest::collection::vec(any::<u8>(), 0..100),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_frames_never_panic_a_host_and_its_output_parses(
        frames in proptest::collection::vec((0u64..3_000, frame()), 1..60)
    ) {
        let (mut s, u) = host();
        let mut now = Instant::ZERO;
        let mut buf = [0xAAu8; 1600];
        let mut read = [0u8; 2048];
        for (advance, f) in frames {
            now += Duration::from_millis(advance);
            s.handle_timeout(now);
            s.handle_frame(now, &f);
            while let Some(n) = s.poll_transmit(now, &mut buf) {
                let _ = Seen::parse(&buf[..n], true);
            }
            while let Some(e) = s.poll_event() {
                if let Event::AcceptReady(l) = e {
                    while let Ok(c) = s.tcp_accept(l) {
                        let _ = s.tcp_send(now, c, b"hi");
                    }
                }
            }
            while s.udp_recv(u, &mut read).is_ok() {}
        }
        s.handle_timeout(now + Duration::from_secs(120));
        while let Some(n) = s.poll_transmit(now + Duration::from_secs(120), &mut buf) {
            let _ = Seen::parse(&buf[..n], true);
        }
    }
}
