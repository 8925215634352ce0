//! `synack trace --json`: one JSON object per packet, one per line.
//!
//! The format (keys always in this order):
//!
//! ```text
//! {"t":1.234567,"proto":"tcp","src":"192.0.2.1:40000","dst":"192.0.2.2:80",
//!  "flags":["SYN","ACK"],"seq":123,"ack":456,"win":65535,"len":0,"options":[...]}
//! {"t":…,"proto":"udp","src":"192.0.2.1:5000","dst":"192.0.2.2:53","len":32}
//! {"t":…,"proto":"icmp","src":"192.0.2.1","dst":"192.0.2.2","type":8,"code":0}
//! {"t":…,"proto":"arp","op":"request","src":"192.0.2.1","dst":"192.0.2.2"}
//! {"t":…,"proto":"other","info":"IPv6"}          (+ "src"/"dst" when IPv4)
//! ```
//!
//! - `t`: the packet's pcap timestamp in seconds, always six decimals (the
//!   file's own clock, not relative to the first packet: the Unix epoch for
//!   tcpdump's captures, the simulation's zero for synack's own, so those
//!   read `1.234567`). Written from integers, so no float rounding; tools
//!   that compare with tshark use `frame.time_epoch` truncated to µs.
//! - TCP: `flags` in the order FIN, SYN, RST, PSH, ACK, URG, ECE, CWR;
//!   `seq`/`ack` absolute, `ack` null when the ACK flag is off; `win` the raw
//!   header field; `len` the payload length (from the IPv4 total length, so
//!   right even when the capture cut the payload); `options` in wire order:
//!   `{"kind":"nop"}`, `{"kind":"eol"}`, `{"kind":"mss","value":1460}`,
//!   `{"kind":"window_scale","value":7}`, `{"kind":"sack_permitted"}`,
//!   `{"kind":"sack","blocks":[[1,2]]}`, `{"kind":"timestamp","val":1,"ecr":0}`,
//!   `{"kind":"fastopen","cookie":"hex or empty"}`,
//!   `{"kind":"fastopen_exp","cookie":"..."}`,
//!   `{"kind":"unknown","number":N,"len":L}` (L is the option's length
//!   byte). EOL ends the list (what follows it is padding). An option that
//!   cannot be parsed (length 0 or 1, overrunning the header, a known kind
//!   with the wrong length) ends the list as `{"kind":"malformed"}`, after
//!   every option parsed before it.
//! - ARP: `op` is `request`, `reply` or the number; `src`/`dst` the sender's
//!   and target's IPv4 addresses (absent for non-Ethernet/IPv4 ARP).
//! - UDP: `len` is the payload length from the UDP length field.
//! - Anything else: `proto` `other` and `info` saying what it is.

use std::fmt::Write as _;

use synack_proto::wire::{ArpOperation, TcpFlags, TcpOption, TcpOptionIter};

use super::decode::{Body, Packet, Tcp};
use super::text::hex;

/// Flag names in the order the JSON lists them.
const FLAG_NAMES: [(TcpFlags, &str); 8] = [
    (TcpFlags::FIN, "FIN"),
    (TcpFlags::SYN, "SYN"),
    (TcpFlags::RST, "RST"),
    (TcpFlags::PSH, "PSH"),
    (TcpFlags::ACK, "ACK"),
    (TcpFlags::URG, "URG"),
    (TcpFlags::ECE, "ECE"),
    (TcpFlags::CWR, "CWR"),
];

/// The packet's line, without the newline.
pub fn line(p: &Packet<'_>) -> String {
    let mut s = format!(
        "{{\"t\":{}.{:06}",
        p.ts_micros / 1_000_000,
        p.ts_micros % 1_000_000
    );
    match &p.body {
        Body::Tcp(tcp) => tcp_fields(&mut s, tcp),
        Body::Udp { src, dst, len } => {
            let _ = write!(
                s,
                r#","proto":"udp","src":"{src}","dst":"{dst}","len":{len}"#
            );
        }
        Body::Icmp {
            src,
            dst,
            kind,
            code,
            ..
        } => {
            let _ = write!(
                s,
                r#","proto":"icmp","src":"{src}","dst":"{dst}","type":{kind},"code":{code}"#
            );
        }
        Body::Arp(arp) => {
            let op = match arp.op {
                ArpOperation::Request => "\"request\"".to_string(),
                ArpOperation::Reply => "\"reply\"".to_string(),
                ArpOperation::Unknown(n) => n.to_string(),
            };
            let _ = write!(s, r#","proto":"arp","op":{op}"#);
            if let Some(a) = arp.addrs {
                let _ = write!(s, r#","src":"{}","dst":"{}""#, a.sender_ip, a.target_ip);
            }
        }
        Body::Other { ips, what } => {
            s.push_str(r#","proto":"other""#);
            if let Some((src, dst)) = ips {
                let _ = write!(s, r#","src":"{src}","dst":"{dst}""#);
            }
            // `what` is ours, but quote it properly all the same.
            let quoted = serde_json::to_string(what).unwrap_or_else(|_| "\"\"".into());
            let _ = write!(s, r#","info":{quoted}"#);
        }
    }
    s.push('}');
    s
}

fn tcp_fields(s: &mut String, tcp: &Tcp<'_>) {
    let _ = write!(
        s,
        r#","proto":"tcp","src":"{}","dst":"{}","flags":["#,
        tcp.src, tcp.dst
    );
    let names = FLAG_NAMES
        .iter()
        .filter(|(f, _)| tcp.flags.contains(*f))
        .map(|(_, n)| format!("\"{n}\""));
    s.push_str(&names.collect::<Vec<_>>().join(","));
    let _ = write!(s, r#"],"seq":{},"ack":"#, tcp.seq);
    if tcp.flags.ack() {
        let _ = write!(s, "{}", tcp.ack);
    } else {
        s.push_str("null");
    }
    let _ = write!(s, r#","win":{},"len":{},"options":["#, tcp.win, tcp.len);
    let mut first = true;
    for option in TcpOptionIter::new(tcp.options) {
        if !first {
            s.push(',');
        }
        first = false;
        option_object(s, option.ok());
    }
    s.push(']');
}

/// One option; `None` is the malformed one that ended the list.
fn option_object(s: &mut String, option: Option<TcpOption<'_>>) {
    let Some(option) = option else {
        s.push_str(r#"{"kind":"malformed"}"#);
        return;
    };
    let _ = match option {
        TcpOption::EndOfList => write!(s, r#"{{"kind":"eol"}}"#),
        TcpOption::NoOperation => write!(s, r#"{{"kind":"nop"}}"#),
        TcpOption::MaxSegmentSize(v) => write!(s, r#"{{"kind":"mss","value":{v}}}"#),
        TcpOption::WindowScale(v) => write!(s, r#"{{"kind":"window_scale","value":{v}}}"#),
        TcpOption::SackPermitted => write!(s, r#"{{"kind":"sack_permitted"}}"#),
        TcpOption::Sack(blocks) => {
            let blocks: Vec<String> = blocks
                .iter()
                .map(|(l, r)| format!("[{},{}]", l.0, r.0))
                .collect();
            write!(s, r#"{{"kind":"sack","blocks":[{}]}}"#, blocks.join(","))
        }
        TcpOption::Timestamp { tsval, tsecr } => {
            write!(s, r#"{{"kind":"timestamp","val":{tsval},"ecr":{tsecr}}}"#)
        }
        TcpOption::FastOpen(cookie) => {
            write!(s, r#"{{"kind":"fastopen","cookie":"{}"}}"#, hex(cookie))
        }
        TcpOption::FastOpenExp(cookie) => {
            write!(s, r#"{{"kind":"fastopen_exp","cookie":"{}"}}"#, hex(cookie))
        }
        TcpOption::Unknown { kind, data } => write!(
            s,
            r#"{{"kind":"unknown","number":{kind},"len":{}}}"#,
            data.len() + 2
        ),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::decode::{Arp, ArpAddrs};
    use synack_proto::wire::EthernetAddress;

    fn tcp(flags: TcpFlags, options: &[u8]) -> Packet<'_> {
        Packet {
            ts_micros: 1_234_567,
            body: Body::Tcp(Tcp {
                src: "192.0.2.1:40000".parse().unwrap(),
                dst: "192.0.2.2:80".parse().unwrap(),
                seq: 123,
                ack: 456,
                flags,
                win: 65535,
                urgent: 0,
                len: 0,
                options,
            }),
        }
    }

    #[test]
    fn a_syn_ack_is_exactly_the_documented_line() {
        assert_eq!(
            line(&tcp(TcpFlags::SYN | TcpFlags::ACK, &[])),
            r#"{"t":1.234567,"proto":"tcp","src":"192.0.2.1:40000","dst":"192.0.2.2:80","flags":["SYN","ACK"],"seq":123,"ack":456,"win":65535,"len":0,"options":[]}"#
        );
    }

    #[test]
    fn flags_in_fixed_order_and_ack_null_without_ack() {
        let all = line(&tcp(TcpFlags(0xff), &[]));
        assert!(
            all.contains(
                r#""flags":["FIN","SYN","RST","PSH","ACK","URG","ECE","CWR"],"seq":123,"ack":456,"#
            ),
            "{all}"
        );
        let rst = line(&tcp(TcpFlags::RST, &[]));
        assert!(
            rst.contains(r#""flags":["RST"],"seq":123,"ack":null,"#),
            "{rst}"
        );
        let none = line(&tcp(TcpFlags::empty(), &[]));
        assert!(none.contains(r#""flags":[],"#), "{none}");
    }

    #[test]
    fn every_option_kind_in_wire_order() {
        let opts = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7, //
            5, 10, 0, 0, 0, 1, 0, 0, 0, 2, //
            34, 2, 34, 6, 0xde, 0xad, 0xbe, 0xef, 254, 6, 0xf9, 0x89, 1, 2, //
            76, 3, 9, 0, 0xff,
        ];
        let l = line(&tcp(TcpFlags::SYN, &opts));
        let options = l.split(r#""options":"#).nth(1).unwrap();
        assert_eq!(
            options,
            concat!(
                r#"[{"kind":"mss","value":1460},{"kind":"sack_permitted"},"#,
                r#"{"kind":"timestamp","val":1,"ecr":0},{"kind":"nop"},"#,
                r#"{"kind":"window_scale","value":7},{"kind":"sack","blocks":[[1,2]]},"#,
                r#"{"kind":"fastopen","cookie":""},{"kind":"fastopen","cookie":"deadbeef"},"#,
                r#"{"kind":"fastopen_exp","cookie":"0102"},{"kind":"unknown","number":76,"len":3},"#,
                r#"{"kind":"eol"}]}"#
            )
        );
    }

    #[test]
    fn a_malformed_option_follows_what_parsed() {
        // nop, then MSS with length 3.
        let l = line(&tcp(TcpFlags::SYN, &[1, 2, 3, 5, 0]));
        assert!(
            l.ends_with(r#""options":[{"kind":"nop"},{"kind":"malformed"}]}"#),
            "{l}"
        );
    }

    #[test]
    fn other_protocols_carry_their_endpoints() {
        let ip = |s: &str| s.parse().unwrap();
        let at = |body| Packet {
            ts_micros: 5_000_001,
            body,
        };
        assert_eq!(
            line(&at(Body::Udp {
                src: "192.0.2.1:5000".parse().unwrap(),
                dst: "192.0.2.2:53".parse().unwrap(),
                len: 32
            })),
            r#"{"t":5.000001,"proto":"udp","src":"192.0.2.1:5000","dst":"192.0.2.2:53","len":32}"#
        );
        assert_eq!(
            line(&at(Body::Icmp {
                src: ip("192.0.2.2"),
                dst: ip("192.0.2.1"),
                kind: 3,
                code: 3,
                echo: None,
                quote: None,
            })),
            r#"{"t":5.000001,"proto":"icmp","src":"192.0.2.2","dst":"192.0.2.1","type":3,"code":3}"#
        );
        let addrs = ArpAddrs {
            sender_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
            sender_ip: ip("192.0.2.1"),
            target_mac: EthernetAddress([0; 6]),
            target_ip: ip("192.0.2.2"),
        };
        assert_eq!(
            line(&at(Body::Arp(Arp {
                op: ArpOperation::Reply,
                addrs: Some(addrs)
            }))),
            r#"{"t":5.000001,"proto":"arp","op":"reply","src":"192.0.2.1","dst":"192.0.2.2"}"#
        );
        assert_eq!(
            line(&at(Body::Arp(Arp {
                op: ArpOperation::Unknown(8),
                addrs: None
            }))),
            r#"{"t":5.000001,"proto":"arp","op":8}"#
        );
        assert_eq!(
            line(&at(Body::Other {
                ips: None,
                what: "say \"hi\"".into()
            })),
            r#"{"t":5.000001,"proto":"other","info":"say \"hi\""}"#
        );
    }

    #[test]
    fn lines_are_valid_json() {
        let l = line(&tcp(TcpFlags::ACK, &[5, 10, 0, 0, 0, 1, 0, 0, 0, 2]));
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["t"].as_f64(), Some(1.234567));
        assert_eq!(v["options"][0]["blocks"][0][1], 2);
    }
}
