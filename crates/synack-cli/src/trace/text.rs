//! Human-readable text for packets: a TCP segment's arrow label in
//! packetdrill's notation with tcpdump's option names, and one line for each
//! packet that is not TCP.
//!
//! A segment reads `P. 1:101(100) ack 1 win 502 <nop,nop,TS val 7 ecr 3>`:
//! flags as tcpdump prints them, then `start:end(length)` of the payload,
//! `ack` only when the ACK flag is on, the raw window field, `urg` only with
//! URG, and the options in wire order. Words that belong together (`ack 1`,
//! `TS val 7 ecr 3`) are joined by no-break spaces so a ladder never splits
//! them when it wraps a label.

use std::fmt::Write as _;

use synack_proto::wire::{ArpOperation, TcpOption, TcpOptionIter};

use crate::ladder::NBSP;

use super::decode::{Arp, Body, Tcp};

/// Maps sequence numbers for display: relative to a base, or as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqView {
    /// Subtracted (modulo 2^32) from the segment's own sequence numbers.
    pub seq_base: Option<u32>,
    /// Subtracted from the acknowledgment number and SACK edges, which are
    /// in the peer's sequence space.
    pub ack_base: Option<u32>,
}

impl SeqView {
    fn seq(&self, v: u32) -> u32 {
        v.wrapping_sub(self.seq_base.unwrap_or(0))
    }

    fn ack(&self, v: u32) -> u32 {
        v.wrapping_sub(self.ack_base.unwrap_or(0))
    }
}

/// The label of a segment's arrow.
pub fn segment_label(tcp: &Tcp<'_>, view: SeqView) -> String {
    let start = view.seq(tcp.seq);
    let end = start.wrapping_add(tcp.len);
    let mut s = format!("{} {start}:{end}({})", tcp.flags, tcp.len);
    if tcp.flags.ack() {
        let _ = write!(s, " ack{NBSP}{}", view.ack(tcp.ack));
    }
    let _ = write!(s, " win{NBSP}{}", tcp.win);
    if tcp.flags.contains(synack_proto::wire::TcpFlags::URG) {
        let _ = write!(s, " urg{NBSP}{}", tcp.urgent);
    }
    let options = options_text(tcp.options, view);
    if !options.is_empty() {
        s.push(' ');
        s.push_str(&options);
    }
    s
}

/// `<mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>`, or "" without options.
/// SACK edges go through `view.ack`. An option that cannot be parsed ends
/// the list as `bad opt`.
pub fn options_text(options: &[u8], view: SeqView) -> String {
    let mut parts: Vec<String> = Vec::new();
    for option in TcpOptionIter::new(options) {
        parts.push(match option {
            Ok(TcpOption::EndOfList) => "eol".into(),
            Ok(TcpOption::NoOperation) => "nop".into(),
            Ok(TcpOption::MaxSegmentSize(mss)) => format!("mss{NBSP}{mss}"),
            Ok(TcpOption::WindowScale(shift)) => format!("wscale{NBSP}{shift}"),
            Ok(TcpOption::SackPermitted) => "sackOK".into(),
            Ok(TcpOption::Sack(blocks)) => {
                // Blocks may go on separate lines; the first stays with "sack".
                let mut s = String::from("sack");
                for (i, (left, right)) in blocks.iter().enumerate() {
                    let sep = if i == 0 { NBSP } else { ' ' };
                    let _ = write!(s, "{sep}{}:{}", view.ack(left.0), view.ack(right.0));
                }
                s
            }
            Ok(TcpOption::Timestamp { tsval, tsecr }) => {
                format!("TS{NBSP}val{NBSP}{tsval}{NBSP}ecr{NBSP}{tsecr}")
            }
            Ok(TcpOption::FastOpen(cookie)) => fast_open("tfo", cookie),
            Ok(TcpOption::FastOpenExp(cookie)) => fast_open("tfo-exp", cookie),
            Ok(TcpOption::Unknown { kind, data }) => {
                let mut s = format!("opt-{kind}");
                if !data.is_empty() {
                    s.push(NBSP);
                    s.push_str("0x");
                    s.push_str(&hex(data));
                }
                s
            }
            Err(_) => format!("bad{NBSP}opt"),
        });
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("<{}>", parts.join(","))
    }
}

/// tcpdump's words: `tfo cookiereq` for an empty option (RFC 7413 §4.1.1),
/// `tfo cookie 0123abcd` otherwise.
fn fast_open(name: &str, cookie: &[u8]) -> String {
    if cookie.is_empty() {
        format!("{name}{NBSP}cookiereq")
    } else {
        format!("{name}{NBSP}cookie{NBSP}{}", hex(cookie))
    }
}

/// Lower-case hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// One line for a packet that is not TCP, tcpdump-like:
/// `ARP who-has 192.0.2.2 tell 192.0.2.1`, `ICMP 192.0.2.1 > 192.0.2.2 echo
/// request id 7 seq 1`, `UDP 192.0.2.1:5000 > 192.0.2.2:53 len 32`.
pub fn summary(body: &Body<'_>) -> String {
    match body {
        Body::Tcp(tcp) => format!(
            "TCP {} > {} {}",
            tcp.src,
            tcp.dst,
            segment_label(tcp, SeqView::default()).replace(NBSP, " ")
        ),
        Body::Udp { src, dst, len } => format!("UDP {src} > {dst} len {len}"),
        Body::Icmp {
            src,
            dst,
            kind,
            code,
            echo,
            quote,
        } => {
            let mut s = format!("ICMP {src} > {dst} {}", icmp_name(*kind, *code));
            if let Some((id, seq)) = echo {
                let _ = write!(s, " id {id} seq {seq}");
            }
            if let Some(q) = quote {
                let _ = match q.ports {
                    Some((sp, dp)) => {
                        write!(s, " for {} {}:{sp} > {}:{dp}", q.protocol, q.src, q.dst)
                    }
                    None => write!(s, " for {} {} > {}", q.protocol, q.src, q.dst),
                };
            }
            s
        }
        Body::Arp(arp) => arp_text(arp),
        Body::Other { ips, what } => match ips {
            Some((src, dst)) => format!("IP {src} > {dst} {what}"),
            None => what.clone(),
        },
    }
}

fn arp_text(arp: &Arp) -> String {
    let Some(a) = arp.addrs else {
        return format!("ARP {} (not Ethernet/IPv4)", u16::from(arp.op));
    };
    match arp.op {
        ArpOperation::Request if a.sender_ip == a.target_ip => {
            format!("ARP announcement {} is-at {}", a.sender_ip, a.sender_mac)
        }
        ArpOperation::Request => format!("ARP who-has {} tell {}", a.target_ip, a.sender_ip),
        ArpOperation::Reply => format!("ARP reply {} is-at {}", a.sender_ip, a.sender_mac),
        ArpOperation::Unknown(op) => {
            format!("ARP op {op} {} > {}", a.sender_ip, a.target_ip)
        }
    }
}

/// RFC 792 names for the common ICMP messages.
fn icmp_name(kind: u8, code: u8) -> String {
    match (kind, code) {
        (0, _) => "echo reply".into(),
        (8, _) => "echo request".into(),
        (3, 0) => "net unreachable".into(),
        (3, 1) => "host unreachable".into(),
        (3, 2) => "protocol unreachable".into(),
        (3, 3) => "port unreachable".into(),
        (3, 4) => "fragmentation needed".into(),
        (3, c) => format!("unreachable code {c}"),
        (11, 0) => "time exceeded in transit".into(),
        (11, 1) => "fragment reassembly time exceeded".into(),
        (t, c) => format!("type {t} code {c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_proto::wire::TcpFlags;

    /// Labels as a ladder draws them.
    fn plain(s: String) -> String {
        s.replace(NBSP, " ")
    }

    fn tcp(flags: TcpFlags, options: &[u8]) -> Tcp<'_> {
        Tcp {
            src: "192.0.2.1:40000".parse().unwrap(),
            dst: "192.0.2.2:80".parse().unwrap(),
            seq: 1000,
            ack: 5000,
            flags,
            win: 502,
            urgent: 9,
            len: 100,
            options,
        }
    }

    #[test]
    fn segments_read_like_packetdrill() {
        let view = SeqView {
            seq_base: Some(999),
            ack_base: Some(4999),
        };
        let pa = tcp(
            TcpFlags::PSH | TcpFlags::ACK,
            &[1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 3],
        );
        assert_eq!(
            plain(segment_label(&pa, view)),
            "P. 1:101(100) ack 1 win 502 <nop,nop,TS val 7 ecr 3>"
        );
        // Absolute, no ACK flag: no ack shown; URG shows the pointer.
        let s = tcp(TcpFlags::SYN | TcpFlags::URG, &[]);
        assert_eq!(
            plain(segment_label(&s, SeqView::default())),
            "SU 1000:1100(100) win 502 urg 9"
        );
        // Relative numbers wrap modulo 2^32.
        let wrap = SeqView {
            seq_base: Some(1001),
            ack_base: None,
        };
        assert_eq!(
            plain(segment_label(&tcp(TcpFlags::RST, &[]), wrap)),
            "R 4294967295:99(100) win 502"
        );
    }

    #[test]
    fn every_option_has_its_tcpdump_name() {
        let view = SeqView {
            seq_base: None,
            ack_base: Some(100),
        };
        let opts = [
            2, 4, 0x05, 0xb4, // mss 1460
            4, 2, // sackOK
            8, 10, 0, 0, 0, 1, 0, 0, 0, 0, // TS val 1 ecr 0
            1, // nop
            3, 3, 7, // wscale 7
            5, 18, 0, 0, 0, 101, 0, 0, 0, 201, 0, 0, 1, 45, 0, 0, 1, 145, // sack
        ];
        assert_eq!(
            plain(options_text(&opts, view)),
            "<mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7,sack 1:101 201:301>"
        );
        let fo = [
            34, 2, 34, 6, 0xde, 0xad, 0xbe, 0xef, 254, 4, 0xf9, 0x89, 254, 5, 0xf9, 0x89, 0xab, 76,
            3, 0x0f, 0, 0xff,
        ];
        assert_eq!(
            plain(options_text(&fo, view)),
            "<tfo cookiereq,tfo cookie deadbeef,tfo-exp cookiereq,tfo-exp cookie ab,opt-76 0x0f,eol>"
        );
    }

    #[test]
    fn a_malformed_option_ends_the_list() {
        // nop, then an MSS option of length 3.
        assert_eq!(
            plain(options_text(&[1, 2, 3, 5, 0], SeqView::default())),
            "<nop,bad opt>"
        );
        assert_eq!(options_text(&[], SeqView::default()), "");
    }

    #[test]
    fn other_packets_get_one_line() {
        let ip = |s: &str| s.parse().unwrap();
        let mac = synack_proto::wire::EthernetAddress([2, 0, 0, 0, 0, 1]);
        let addrs = super::super::decode::ArpAddrs {
            sender_mac: mac,
            sender_ip: ip("192.0.2.1"),
            target_mac: synack_proto::wire::EthernetAddress([0; 6]),
            target_ip: ip("192.0.2.2"),
        };
        let arp = |op, addrs| {
            summary(&Body::Arp(Arp {
                op,
                addrs: Some(addrs),
            }))
        };
        assert_eq!(
            arp(ArpOperation::Request, addrs),
            "ARP who-has 192.0.2.2 tell 192.0.2.1"
        );
        assert_eq!(
            arp(ArpOperation::Reply, addrs),
            "ARP reply 192.0.2.1 is-at 02:00:00:00:00:01"
        );
        let gratuitous = super::super::decode::ArpAddrs {
            target_ip: ip("192.0.2.1"),
            ..addrs
        };
        assert_eq!(
            arp(ArpOperation::Request, gratuitous),
            "ARP announcement 192.0.2.1 is-at 02:00:00:00:00:01"
        );
        assert_eq!(
            summary(&Body::Arp(Arp {
                op: ArpOperation::Unknown(3),
                addrs: None
            })),
            "ARP 3 (not Ethernet/IPv4)"
        );
        assert_eq!(
            summary(&Body::Icmp {
                src: ip("192.0.2.1"),
                dst: ip("192.0.2.2"),
                kind: 8,
                code: 0,
                echo: Some((7, 1)),
                quote: None,
            }),
            "ICMP 192.0.2.1 > 192.0.2.2 echo request id 7 seq 1"
        );
        assert_eq!(
            summary(&Body::Icmp {
                src: ip("192.0.2.2"),
                dst: ip("192.0.2.1"),
                kind: 3,
                code: 3,
                echo: None,
                quote: Some(super::super::decode::Quote {
                    protocol: synack_proto::wire::IpProtocol::Udp,
                    src: ip("192.0.2.1"),
                    dst: ip("192.0.2.2"),
                    ports: Some((5353, 53)),
                }),
            }),
            "ICMP 192.0.2.2 > 192.0.2.1 port unreachable for UDP 192.0.2.1:5353 > 192.0.2.2:53"
        );
        assert_eq!(
            summary(&Body::Icmp {
                src: ip("192.0.2.9"),
                dst: ip("192.0.2.1"),
                kind: 11,
                code: 0,
                echo: None,
                quote: Some(super::super::decode::Quote {
                    protocol: synack_proto::wire::IpProtocol::Unknown(47),
                    src: ip("192.0.2.1"),
                    dst: ip("198.51.100.7"),
                    ports: None,
                }),
            }),
            "ICMP 192.0.2.9 > 192.0.2.1 time exceeded in transit for proto 47 192.0.2.1 > 198.51.100.7"
        );
        assert_eq!(
            summary(&Body::Udp {
                src: "192.0.2.1:5000".parse().unwrap(),
                dst: "192.0.2.2:53".parse().unwrap(),
                len: 32
            }),
            "UDP 192.0.2.1:5000 > 192.0.2.2:53 len 32"
        );
        assert_eq!(
            summary(&Body::Other {
                ips: Some((ip("192.0.2.1"), ip("192.0.2.2"))),
                what: "IPv4 protocol 47".into()
            }),
            "IP 192.0.2.1 > 192.0.2.2 IPv4 protocol 47"
        );
    }
}
