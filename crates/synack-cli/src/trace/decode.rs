//! One captured frame to one [`Packet`]: which protocol, which endpoints,
//! and for TCP every header field `synack trace` prints.
//!
//! Decoding is lenient where tcpdump is: a frame cut by the capture's snap
//! length still shows its headers, and a TCP segment's length comes from the
//! IPv4 total length, not from the bytes kept. Anything that cannot be read
//! as ARP, ICMP, UDP or TCP over IPv4 becomes [`Body::Other`] with a short
//! reason; nothing here panics on any input.

use std::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::wire::pcap::{LinkType, PcapRecord};
use synack_proto::wire::{
    ArpOperation, ArpPacket, EtherType, EthernetAddress, EthernetFrame, Icmpv4Packet, IpProtocol,
    SllPacket, SllVersion, TcpFlags, TcpPacket, UdpPacket,
};

/// A frame, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The capture's timestamp, microseconds since its zero (the Unix epoch
    /// for real captures, the simulation's start for synack's own).
    pub ts_micros: u64,
    pub body: Body<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    Tcp(Tcp<'a>),
    Udp {
        src: SocketAddrV4,
        dst: SocketAddrV4,
        /// Payload length from the UDP length field.
        len: u16,
    },
    Icmp {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        kind: u8,
        code: u8,
        /// Identifier and sequence number of an echo request or reply.
        echo: Option<(u16, u16)>,
        /// The datagram an error message quotes (RFC 792: its IP header
        /// and first 8 bytes): protocol, source and destination.
        quote: Option<Quote>,
    },
    Arp(Arp),
    Other {
        /// Addresses when the frame was IPv4.
        ips: Option<(Ipv4Addr, Ipv4Addr)>,
        /// What it is, or why it could not be decoded: "IPv6",
        /// "ethertype 0x88cc", "IPv4 protocol 47", "truncated TCP header".
        what: String,
    },
}

/// What an ICMP error says about the datagram that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub protocol: IpProtocol,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Ports, for TCP and UDP.
    pub ports: Option<(u16, u16)>,
}

/// An ARP packet; addresses only for Ethernet/IPv4 ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: ArpOperation,
    /// Sender and target hardware and protocol addresses (RFC 826).
    pub addrs: Option<ArpAddrs>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpAddrs {
    pub sender_mac: EthernetAddress,
    pub sender_ip: Ipv4Addr,
    pub target_mac: EthernetAddress,
    pub target_ip: Ipv4Addr,
}

/// A TCP segment's header, as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp<'a> {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub seq: u32,
    /// The acknowledgment field, meaningful only with ACK set.
    pub ack: u32,
    pub flags: TcpFlags,
    /// The raw window field (unscaled).
    pub win: u16,
    pub urgent: u16,
    /// Payload length: IPv4 total length minus both headers.
    pub len: u32,
    /// Raw option bytes, padding included; walk them with `TcpOptionIter`.
    pub options: &'a [u8],
}

/// Whether `synack trace` can read frames of this link type.
pub fn supported(link: LinkType) -> bool {
    !matches!(link, LinkType::Unknown(_))
}

/// Decodes one record of a capture whose frames are of type `link`.
pub fn decode<'a>(link: LinkType, rec: &PcapRecord<'a>) -> Packet<'a> {
    Packet {
        ts_micros: rec.ts_micros,
        body: decode_link(link, rec.data),
    }
}

fn other(what: impl Into<String>) -> Body<'static> {
    Body::Other {
        ips: None,
        what: what.into(),
    }
}

fn decode_link(link: LinkType, data: &[u8]) -> Body<'_> {
    match link {
        LinkType::Ethernet => {
            let Ok(frame) = EthernetFrame::new_checked(data) else {
                return other("truncated Ethernet header");
            };
            // The view's accessors borrow the view; slice the frame itself.
            let (mut ethertype, mut payload) = (frame.ethertype(), &data[14..]);
            // IEEE 802.1Q / 802.1ad tags (at most two: QinQ): four bytes
            // each, the real EtherType after them.
            for _ in 0..2 {
                let EtherType::Unknown(0x8100 | 0x88a8) = ethertype else {
                    break;
                };
                let Some(tag) = payload.get(..4) else {
                    return other("truncated VLAN tag");
                };
                ethertype = EtherType::from(u16::from_be_bytes([tag[2], tag[3]]));
                payload = &payload[4..];
            }
            decode_ethertype(ethertype, payload)
        }
        LinkType::LinuxSll | LinkType::LinuxSll2 => {
            let version = if link == LinkType::LinuxSll {
                SllVersion::V1
            } else {
                SllVersion::V2
            };
            match SllPacket::new_checked(data, version) {
                Ok(p) => decode_ethertype(p.protocol(), &data[version.header_len()..]),
                Err(_) => other("truncated Linux cooked header"),
            }
        }
        LinkType::Raw | LinkType::Ipv4 => match data.first().map(|b| b >> 4) {
            Some(4) => decode_ipv4(data),
            Some(6) if link == LinkType::Raw => other("IPv6"),
            _ => other("not an IP packet"),
        },
        LinkType::Null => {
            // BSD loopback: the address family in the writer's byte order.
            let Some(af) = data.get(..4) else {
                return other("truncated loopback header");
            };
            let af = u32::from_le_bytes([af[0], af[1], af[2], af[3]]);
            match (af, af.swap_bytes()) {
                (2, _) | (_, 2) => decode_ipv4(&data[4..]),
                // AF_INET6 is 10 on Linux, 24, 28 or 30 on the BSDs.
                (10 | 24 | 28 | 30, _) | (_, 10 | 24 | 28 | 30) => other("IPv6"),
                _ => other(format!("address family {af}")),
            }
        }
        LinkType::Unknown(n) => other(format!("link type {n}")),
    }
}

fn decode_ethertype(ethertype: EtherType, payload: &[u8]) -> Body<'_> {
    match ethertype {
        EtherType::Ipv4 => decode_ipv4(payload),
        EtherType::Arp => decode_arp(payload),
        EtherType::Ipv6 => other("IPv6"),
        EtherType::Unknown(t) => other(format!("ethertype 0x{t:04x}")),
    }
}

fn decode_arp(payload: &[u8]) -> Body<'_> {
    let Ok(p) = ArpPacket::new_checked(payload) else {
        return other("truncated ARP");
    };
    // The address accessors read the Ethernet/IPv4 layout (RFC 826 with
    // hardware length 6 and protocol length 4): use them only then.
    let ethernet_ipv4 = p.hardware_type() == 1
        && p.protocol_type() == 0x0800
        && p.hardware_len() == 6
        && p.protocol_len() == 4;
    let addrs = ethernet_ipv4.then(|| ArpAddrs {
        sender_mac: p.source_hardware_addr(),
        sender_ip: p.source_protocol_addr(),
        target_mac: p.target_hardware_addr(),
        target_ip: p.target_protocol_addr(),
    });
    Body::Arp(Arp {
        op: p.operation(),
        addrs,
    })
}

fn decode_ipv4(data: &[u8]) -> Body<'_> {
    // RFC 791 §3.1, read by hand rather than with `Ipv4Packet::new_checked`,
    // which (rightly, for a stack) refuses a datagram longer than the bytes
    // at hand: a capture's snap length cuts datagrams all the time.
    if data.len() < 20 {
        return other("truncated IPv4 header");
    }
    let ihl = usize::from(data[0] & 0x0f) * 4;
    if data[0] >> 4 != 4 || ihl < 20 || ihl > data.len() {
        return other("malformed IPv4 header");
    }
    let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
    let ips = Some((src, dst));
    let total = usize::from(u16::from_be_bytes([data[2], data[3]]));
    // Linux's BIG TCP and captures of TSO super-segments write 0 when the
    // datagram outgrows the field: the frame is the datagram then.
    let total = if total == 0 { data.len() } else { total };
    if total < ihl {
        return Body::Other {
            ips,
            what: "malformed IPv4 header".into(),
        };
    }
    let frag = u16::from_be_bytes([data[6], data[7]]);
    let protocol = IpProtocol::from(data[9]);
    if frag & 0x1fff != 0 {
        // A later fragment carries no transport header.
        return Body::Other {
            ips,
            what: format!("IPv4 fragment ({protocol})"),
        };
    }
    // What was kept of the payload, and how long it really was.
    let kept = &data[ihl..total.min(data.len())];
    let full_len = total - ihl;
    let fail = |what: &str| Body::Other {
        ips,
        what: what.into(),
    };
    match protocol {
        IpProtocol::Tcp => match TcpPacket::new_checked(kept) {
            Ok(tcp) => {
                let header_len = usize::from(tcp.header_len());
                Body::Tcp(Tcp {
                    src: SocketAddrV4::new(src, tcp.src_port()),
                    dst: SocketAddrV4::new(dst, tcp.dst_port()),
                    seq: tcp.seq_number().0,
                    ack: tcp.ack_number().0,
                    flags: tcp.flags(),
                    win: tcp.window_len(),
                    urgent: tcp.urgent_at(),
                    len: u32::try_from(full_len.saturating_sub(header_len)).unwrap_or(u32::MAX),
                    options: &kept[20..header_len],
                })
            }
            Err(synack_proto::wire::WireError::Truncated) => fail("truncated TCP header"),
            Err(_) => fail("malformed TCP header"),
        },
        IpProtocol::Udp => {
            // Not `UdpPacket::new_checked`: it wants the whole datagram.
            if kept.len() < 8 {
                return fail("truncated UDP header");
            }
            let udp = UdpPacket::new_unchecked(kept);
            Body::Udp {
                src: SocketAddrV4::new(src, udp.src_port()),
                dst: SocketAddrV4::new(dst, udp.dst_port()),
                len: udp.len().saturating_sub(8),
            }
        }
        IpProtocol::Icmp => match Icmpv4Packet::new_checked(kept) {
            Ok(icmp) => {
                let (kind, code) = (icmp.msg_type(), icmp.msg_code());
                // RFC 792: echo reply (0) and echo request (8).
                let echo = matches!(kind, 0 | 8).then(|| (icmp.echo_ident(), icmp.echo_seq_no()));
                // Destination unreachable (3), time exceeded (11) and
                // parameter problem (12) quote the offending datagram.
                let quote = matches!(kind, 3 | 11 | 12)
                    .then(|| quote(icmp.data()))
                    .flatten();
                Body::Icmp {
                    src,
                    dst,
                    kind,
                    code,
                    echo,
                    quote,
                }
            }
            Err(_) => fail("truncated ICMP header"),
        },
        IpProtocol::Igmp => Body::Other {
            ips,
            what: igmp(kept),
        },
        IpProtocol::Unknown(p) => Body::Other {
            ips,
            what: format!("IPv4 protocol {p}"),
        },
    }
}

/// An IGMP message in tcpdump's words.
fn igmp(data: &[u8]) -> String {
    use synack_proto::wire::Checksum;
    use synack_proto::wire::igmp::{IgmpRepr, parse_v3_report};
    match IgmpRepr::parse(data, Checksum::Full) {
        Ok(IgmpRepr::Query {
            max_resp_tenths,
            group,
            v3: Some(q),
        }) => {
            let time = f64::from(max_resp_tenths) / 10.0;
            let mut what = format!("igmp query v3 [max resp time {time:.1}s]");
            match q.sources().len() {
                _ if group.is_unspecified() => {}
                0 => what += &format!(" [gaddr {group}]"),
                n => what += &format!(" [gaddr {group}, {n} source(s)]"),
            }
            what
        }
        Ok(IgmpRepr::Query {
            max_resp_tenths,
            group,
            v3: None,
        }) => {
            let tenths = if max_resp_tenths == 0 {
                100
            } else {
                max_resp_tenths
            };
            let what = if group.is_unspecified() {
                String::from("igmp query")
            } else {
                format!("igmp query {group}")
            };
            format!("{what} [max resp time {:.1}]", f64::from(tenths) / 10.0)
        }
        Ok(IgmpRepr::Report { version, group }) => format!("igmp v{version} report {group}"),
        Ok(IgmpRepr::Leave { group }) => format!("igmp leave {group}"),
        Err(e) => match parse_v3_report(data, Checksum::Full) {
            Ok(records) => format!("igmp v3 report, {} group record(s)", records.len()),
            Err(_) => format!("igmp ({e})"),
        },
    }
}

/// The IPv4 header (and ports) at the start of an ICMP error's data.
fn quote(data: &[u8]) -> Option<Quote> {
    let ihl = usize::from(*data.first()? & 0x0f) * 4;
    if data[0] >> 4 != 4 || ihl < 20 || data.len() < ihl {
        return None;
    }
    let protocol = IpProtocol::from(data[9]);
    let ports = match (protocol, data.get(ihl..ihl + 4)) {
        (IpProtocol::Tcp | IpProtocol::Udp, Some(p)) => Some((
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        )),
        _ => None,
    };
    Some(Quote {
        protocol,
        src: Ipv4Addr::new(data[12], data[13], data[14], data[15]),
        dst: Ipv4Addr::new(data[16], data[17], data[18], data[19]),
        ports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: &[u8]) -> PcapRecord<'_> {
        PcapRecord {
            ts_micros: 1_234_567,
            orig_len: data.len() as u32,
            data,
        }
    }

    /// IPv4 header (20 bytes) + TCP SYN with MSS, from 192.0.2.1:40000 to
    /// 192.0.2.2:80, seq 1, window 64240, total length 44 (checksums zero:
    /// the trace does not judge them).
    const IP_TCP_SYN: [u8; 44] = [
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, //
        192, 0, 2, 1, 192, 0, 2, 2, //
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, //
        0x60, 0x02, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];

    fn syn() -> Tcp<'static> {
        Tcp {
            src: "192.0.2.1:40000".parse().unwrap(),
            dst: "192.0.2.2:80".parse().unwrap(),
            seq: 1,
            ack: 0,
            flags: TcpFlags::SYN,
            win: 64240,
            urgent: 0,
            len: 0,
            options: &IP_TCP_SYN[40..44],
        }
    }

    #[test]
    fn raw_ip_tcp_segment_decodes_every_field() {
        let p = decode(LinkType::Raw, &record(&IP_TCP_SYN));
        assert_eq!(p.ts_micros, 1_234_567);
        assert_eq!(p.body, Body::Tcp(syn()));
    }

    #[test]
    fn the_same_segment_under_every_link_layer() {
        let mut eth = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        eth.extend_from_slice(&IP_TCP_SYN);
        let mut vlan = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x07];
        vlan.extend_from_slice(&[0x08, 0x00]);
        vlan.extend_from_slice(&IP_TCP_SYN);
        let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&IP_TCP_SYN);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        sll2.extend_from_slice(&IP_TCP_SYN);
        let mut null_le = vec![2, 0, 0, 0];
        null_le.extend_from_slice(&IP_TCP_SYN);
        let mut null_be = vec![0, 0, 0, 2];
        null_be.extend_from_slice(&IP_TCP_SYN);
        for (link, frame) in [
            (LinkType::Ethernet, &eth),
            (LinkType::Ethernet, &vlan),
            (LinkType::LinuxSll, &sll),
            (LinkType::LinuxSll2, &sll2),
            (LinkType::Null, &null_le),
            (LinkType::Null, &null_be),
            (LinkType::Ipv4, &IP_TCP_SYN.to_vec()),
        ] {
            assert_eq!(
                decode(link, &record(frame)).body,
                Body::Tcp(syn()),
                "{link:?}"
            );
        }
    }

    #[test]
    fn a_cut_frame_keeps_its_headers_and_its_real_length() {
        // Total length says 1044: 1000 bytes of payload, none of it kept.
        let mut cut = IP_TCP_SYN;
        cut[2..4].copy_from_slice(&1044u16.to_be_bytes());
        let Body::Tcp(tcp) = decode(LinkType::Raw, &record(&cut)).body else {
            panic!("not TCP");
        };
        assert_eq!(tcp.len, 1000);
        // Cut inside the TCP options: the header is unreadable.
        assert_eq!(
            decode(LinkType::Raw, &record(&cut[..42])).body,
            Body::Other {
                ips: Some(("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap())),
                what: "truncated TCP header".into()
            }
        );
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut padded = IP_TCP_SYN.to_vec();
        padded.extend_from_slice(&[0; 6]);
        let Body::Tcp(tcp) = decode(LinkType::Raw, &record(&padded)).body else {
            panic!("not TCP");
        };
        assert_eq!(tcp.len, 0);
    }

    #[test]
    fn what_is_not_tcp_says_what_it_is() {
        let what = |link, data: &[u8]| match decode(link, &record(data)).body {
            Body::Other { what, .. } => what,
            b => panic!("{b:?}"),
        };
        assert_eq!(what(LinkType::Raw, &[0x60, 0, 0, 0]), "IPv6");
        assert_eq!(what(LinkType::Raw, &[]), "not an IP packet");
        assert_eq!(
            what(LinkType::Ethernet, &[0; 13]),
            "truncated Ethernet header"
        );
        let mut lldp = [0u8; 20];
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        assert_eq!(what(LinkType::Ethernet, &lldp), "ethertype 0x88cc");
        let mut gre = IP_TCP_SYN;
        gre[9] = 47;
        assert_eq!(what(LinkType::Raw, &gre), "IPv4 protocol 47");
        let mut frag = IP_TCP_SYN;
        frag[6..8].copy_from_slice(&[0x00, 0xb9]);
        assert_eq!(what(LinkType::Raw, &frag), "IPv4 fragment (TCP)");
        let mut bad_offset = IP_TCP_SYN;
        bad_offset[32] = 0x40;
        assert_eq!(what(LinkType::Raw, &bad_offset), "malformed TCP header");
        let mut bad_ihl = IP_TCP_SYN;
        bad_ihl[0] = 0x44;
        assert_eq!(what(LinkType::Raw, &bad_ihl), "malformed IPv4 header");
        assert_eq!(what(LinkType::Null, &[7, 0, 0, 0]), "address family 7");
        assert_eq!(what(LinkType::Unknown(105), &[1]), "link type 105");
    }

    #[test]
    fn icmp_errors_name_the_datagram_they_quote() {
        // Port unreachable from 192.0.2.2 quoting UDP 192.0.2.1:5353 > :53.
        let mut icmp = vec![
            0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1, //
            3, 3, 0, 0, 0, 0, 0, 0, //
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, //
        ];
        icmp.extend_from_slice(&[0x14, 0xe9, 0x00, 0x35, 0, 20, 0, 0]);
        let Body::Icmp { quote, .. } = decode(LinkType::Raw, &record(&icmp)).body else {
            panic!("not ICMP");
        };
        assert_eq!(
            quote,
            Some(Quote {
                protocol: IpProtocol::Udp,
                src: "192.0.2.1".parse().unwrap(),
                dst: "192.0.2.2".parse().unwrap(),
                ports: Some((5353, 53)),
            })
        );
        // Quoting only an IP header: no ports. Quoting garbage: no quote.
        assert_eq!(quote_of(&icmp[..48]).unwrap().ports, None);
        icmp[28] = 0x60;
        assert_eq!(quote_of(&icmp), None);
    }

    fn quote_of(ip: &[u8]) -> Option<Quote> {
        let mut ip = ip.to_vec();
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        match decode(LinkType::Raw, &record(&ip)).body {
            Body::Icmp { quote, .. } => quote,
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn every_prefix_is_tcp_exactly_when_the_whole_header_is_there() {
        let mut eth = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        eth.extend_from_slice(&IP_TCP_SYN);
        for (link, frame, header_end) in [
            (LinkType::Ethernet, &eth[..], 14 + 44),
            (LinkType::Raw, &IP_TCP_SYN[..], 44),
        ] {
            for len in 0..=frame.len() {
                let body = decode(link, &record(&frame[..len])).body;
                assert_eq!(
                    matches!(body, Body::Tcp(_)),
                    len >= header_end,
                    "{link:?} {len}: {body:?}"
                );
            }
        }
        // Other link types read the same bytes differently, never panicking.
        for link in [LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Null] {
            for len in 0..=eth.len() {
                let _ = decode(link, &record(&eth[..len]));
            }
        }
    }

    #[test]
    fn igmp_messages_are_named_as_tcpdump_names_them() {
        use synack_proto::wire::igmp::IgmpRepr;
        let group = Ipv4Addr::new(239, 1, 2, 3);
        let cases = [
            (
                IgmpRepr::Query {
                    max_resp_tenths: 100,
                    group: Ipv4Addr::UNSPECIFIED,
                    v3: None,
                },
                "igmp query [max resp time 10.0]",
            ),
            (
                IgmpRepr::Query {
                    max_resp_tenths: 0,
                    group,
                    v3: None,
                },
                "igmp query 239.1.2.3 [max resp time 10.0]",
            ),
            (
                IgmpRepr::Report { version: 2, group },
                "igmp v2 report 239.1.2.3",
            ),
            (IgmpRepr::Leave { group }, "igmp leave 239.1.2.3"),
        ];
        for (repr, want) in cases {
            assert_eq!(igmp(&repr.to_bytes()), want);
        }
        assert!(igmp(&[0x16, 0, 0]).starts_with("igmp ("), "truncated");
        // Version 3, as tcpdump 4.99 prints them.
        use synack_proto::wire::igmp::{GroupRecord, RecordType, v3_query_bytes, v3_report_bytes};
        let source = Ipv4Addr::new(198, 51, 100, 1);
        let general = v3_query_bytes(20, Ipv4Addr::UNSPECIFIED, 2, 125, &[]);
        assert_eq!(igmp(&general), "igmp query v3 [max resp time 2.0s]");
        let specific = v3_query_bytes(224, group, 2, 125, &[]);
        assert_eq!(
            igmp(&specific),
            "igmp query v3 [max resp time 22.4s] [gaddr 239.1.2.3]"
        );
        let with_source = v3_query_bytes(10, group, 2, 125, &[source]);
        assert_eq!(
            igmp(&with_source),
            "igmp query v3 [max resp time 1.0s] [gaddr 239.1.2.3, 1 source(s)]"
        );
        let report = v3_report_bytes(&[GroupRecord {
            kind: RecordType::AllowNewSources,
            group,
            sources: vec![source],
        }]);
        assert_eq!(igmp(&report), "igmp v3 report, 1 group record(s)");
    }
}
