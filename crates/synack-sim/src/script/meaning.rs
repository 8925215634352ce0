//! What the numbers in a scripted TCP packet refer to.
//!
//! A script plays the remote host; synack is the local stack. Scripts write
//! sequence numbers relative to each side's initial sequence number, so the
//! same script works whatever ISN synack picks (RFC 6528). The rules are
//! packetdrill's (run_packet.c `map_inbound_packet`,
//! `map_outbound_live_packet`, socket.h `*_seq_*_offset`):
//!
//! - A packet's `seq` is in its sender's space (remote for `<`, local for
//!   `>`); its `ack` and SACK blocks are in the receiver's space.
//! - In a packet without SYN, numbers are offsets from that side's ISN:
//!   `1` is ISN + 1.
//! - In a packet with SYN (SYN, SYN-ACK), numbers name the ISN as the script
//!   sees it. The remote side's is literal: `< S 1428932:1428932(0)` sends
//!   ISN 1428932. The local side's is whatever the script wrote in synack's
//!   SYN (usually 0); the runner maps it onto synack's live ISN:
//!   live = live_isn + (n − script_isn).
//! - `ack` is mapped only when the ACK flag is set; otherwise it is sent (or
//!   compared) as written.
//! - Timestamps: an inbound `val` is the script host's clock, as written.
//!   An inbound `ecr` (with ACK) names one of synack's TS vals in script
//!   terms: the runner replaces it with the live val it saw for that script
//!   val ([`TsMap`]). An outbound `val` is compared after moving synack's
//!   clock onto the script's by the first outbound TS of the connection; an
//!   outbound `ecr` is not compared (packetdrill does not).
//! - `win` is the raw 16-bit field, unscaled. Omitted on an outbound packet,
//!   it is not checked.

use std::collections::HashMap;

use synack_proto::SeqNum;

use super::packet::{
    Direction, IcmpEchoed, IcmpPacket, Packet, TcpFlags, TcpOptionKind, TcpOptions,
};

/// Whose sequence space a number lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// synack, the stack under test.
    Local,
    /// The host the script plays.
    Remote,
}

/// How a number relates to its side's ISN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// ISN + n (packets without SYN).
    Isn,
    /// n names the ISN as the script sees it (packets with SYN).
    ScriptIsn,
}

/// The ISNs of one connection, as the runner learns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Isns {
    /// synack's ISN, from its SYN or SYN-ACK.
    pub local_live: SeqNum,
    /// What the script wrote as the seq of synack's SYN or SYN-ACK.
    pub local_script: u32,
    /// The script host's ISN: the seq written in its SYN, sent as is.
    pub remote: SeqNum,
}

/// A sequence number as the script wrote it, with what it is relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqRef {
    pub value: u32,
    pub side: Side,
    pub anchor: Anchor,
}

impl SeqRef {
    /// The number on the wire.
    pub fn to_wire(self, isns: &Isns) -> SeqNum {
        match (self.side, self.anchor) {
            (Side::Local, Anchor::Isn) => isns.local_live + self.value,
            (Side::Local, Anchor::ScriptIsn) => {
                isns.local_live + self.value.wrapping_sub(isns.local_script)
            }
            (Side::Remote, Anchor::Isn) => isns.remote + self.value,
            (Side::Remote, Anchor::ScriptIsn) => SeqNum::new(self.value),
        }
    }

    /// The script's number for `wire`, in `side`'s space with `anchor`: how
    /// a packet synack sent reads in the script's terms.
    pub fn from_wire(wire: SeqNum, side: Side, anchor: Anchor, isns: &Isns) -> SeqRef {
        let value = match (side, anchor) {
            (Side::Local, Anchor::Isn) => wire.raw().wrapping_sub(isns.local_live.raw()),
            (Side::Local, Anchor::ScriptIsn) => wire
                .raw()
                .wrapping_sub(isns.local_live.raw())
                .wrapping_add(isns.local_script),
            (Side::Remote, Anchor::Isn) => wire.raw().wrapping_sub(isns.remote.raw()),
            (Side::Remote, Anchor::ScriptIsn) => wire.raw(),
        };
        SeqRef {
            value,
            side,
            anchor,
        }
    }
}

/// The acknowledgment field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckMeaning {
    /// ACK flag set: a number in the receiver's space.
    Mapped(SeqRef),
    /// ACK flag clear: the raw field, as written (0 when omitted).
    Raw(u32),
}

/// A TCP timestamp option (RFC 7323 §3) in a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimestampMeaning {
    /// `<`: `val` is sent as written. `ecr` is a synack TS val in script
    /// terms when the packet has ACK (map it with [`TsMap::inbound_ecr`]),
    /// otherwise sent as written.
    Inbound {
        val: u32,
        ecr: u32,
        ecr_mapped: bool,
    },
    /// `>`: `val` is checked after [`TsMap::record_outbound`] moves synack's
    /// value onto the script's clock; `ecr` is not checked.
    Outbound { val: u32, ecr: u32 },
}

/// One TCP option with its numbers explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionMeaning {
    /// SACK blocks `(left, right)`, in the receiver's space like `ack`.
    Sack(Vec<(SeqRef, SeqRef)>),
    Timestamp(TimestampMeaning),
    /// Any other option: sent as written, or compared byte for byte.
    Plain(TcpOptionKind),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionsMeaning {
    /// Exactly these options, in this order.
    Exact(Vec<OptionMeaning>),
    /// `<...>`: any options.
    Any,
}

/// A scripted TCP packet, with each number's reference made explicit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentMeaning {
    pub direction: Direction,
    pub flags: TcpFlags,
    /// In the sender's space.
    pub seq: SeqRef,
    pub payload_len: u16,
    pub ack: AckMeaning,
    /// The raw window field; `None` only on outbound packets ("don't check").
    pub window: Option<u16>,
    pub urg_ptr: u16,
    pub options: OptionsMeaning,
}

impl SegmentMeaning {
    /// The meaning of a TCP packet; `None` for UDP and ICMP.
    pub fn of(packet: &Packet) -> Option<SegmentMeaning> {
        let tcp = packet.tcp()?;
        let flags = tcp.flags.value;
        let (sender, receiver) = match packet.direction {
            Direction::Inbound => (Side::Remote, Side::Local),
            Direction::Outbound => (Side::Local, Side::Remote),
        };
        let anchor = if flags.syn {
            Anchor::ScriptIsn
        } else {
            Anchor::Isn
        };
        let in_receiver = |value: u32| SeqRef {
            value,
            side: receiver,
            anchor,
        };
        let ack_value = tcp.ack.map_or(0, |a| a.value);
        let ack = if flags.ack {
            AckMeaning::Mapped(in_receiver(ack_value))
        } else {
            AckMeaning::Raw(ack_value)
        };
        let options = match &tcp.options {
            TcpOptions::Any(_) => OptionsMeaning::Any,
            TcpOptions::Exact(list) => OptionsMeaning::Exact(
                list.iter()
                    .map(|o| match &o.kind {
                        TcpOptionKind::Sack(blocks) => OptionMeaning::Sack(
                            blocks
                                .iter()
                                .map(|b| (in_receiver(b.left), in_receiver(b.right)))
                                .collect(),
                        ),
                        TcpOptionKind::Timestamp { val, ecr } => {
                            OptionMeaning::Timestamp(match packet.direction {
                                Direction::Inbound => TimestampMeaning::Inbound {
                                    val: *val,
                                    ecr: *ecr,
                                    ecr_mapped: flags.ack,
                                },
                                Direction::Outbound => TimestampMeaning::Outbound {
                                    val: *val,
                                    ecr: *ecr,
                                },
                            })
                        }
                        other => OptionMeaning::Plain(other.clone()),
                    })
                    .collect(),
            ),
        };
        Some(SegmentMeaning {
            direction: packet.direction,
            flags,
            seq: SeqRef {
                value: tcp.seq.value.start,
                side: sender,
                anchor,
            },
            payload_len: tcp.seq.value.len,
            ack,
            window: tcp.window.map(|w| w.value),
            urg_ptr: tcp.urg_ptr.map_or(0, |u| u.value),
            options,
        })
    }
}

/// The TCP sequence number an inbound ICMP error quotes: synack's, relative
/// to its ISN (run_packet.c `map_inbound_icmp_tcp_packet`).
pub fn icmp_echoed_seq(icmp: &IcmpPacket) -> Option<SeqRef> {
    match icmp.echoed? {
        IcmpEchoed::Tcp(r) => Some(SeqRef {
            value: r.start,
            side: Side::Local,
            anchor: Anchor::Isn,
        }),
        IcmpEchoed::Udp(_) | IcmpEchoed::Raw(_) => None,
    }
}

/// Per-connection mapping between synack's TS vals and the script's.
#[derive(Clone, Debug, Default)]
pub struct TsMap {
    /// (script val, live val) of the first outbound timestamp.
    first: Option<(u32, u32)>,
    /// Script val → the live val synack sent for it.
    vals: HashMap<u32, u32>,
}

impl TsMap {
    /// Records an outbound packet's TS val (the script's and synack's) and
    /// returns synack's val on the script's clock, to compare with the
    /// script's (see [`super::timing::TimingConfig::ts_val_ok`]).
    pub fn record_outbound(&mut self, script_val: u32, live_val: u32) -> u32 {
        self.vals.insert(script_val, live_val);
        let (first_script, first_live) = *self.first.get_or_insert((script_val, live_val));
        first_script.wrapping_add(live_val.wrapping_sub(first_live))
    }

    /// The live ecr for a scripted inbound ecr: the live val recorded for
    /// that script val, else (with `--tcp_ts_ecr_scaled`) interpolated from
    /// the first outbound timestamp.
    pub fn inbound_ecr(&self, script_ecr: u32, ecr_scaled: bool) -> Result<u32, String> {
        if let Some(live) = self.vals.get(&script_ecr) {
            return Ok(*live);
        }
        match self.first {
            Some((first_script, first_live)) if ecr_scaled => Ok(script_ecr
                .wrapping_sub(first_script)
                .wrapping_add(first_live)),
            _ => Err(format!(
                "unable to infer live TS ecr for script TS ecr {script_ecr}; \
                 no matching or preceding outbound TS val"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Action, parse_script};

    fn meaning(line: &str) -> SegmentMeaning {
        let s = parse_script(line, "t.pkt").unwrap();
        let Action::Packet(p) = &s.events[0].action else {
            panic!("not a packet")
        };
        SegmentMeaning::of(p).unwrap()
    }

    const ISNS: Isns = Isns {
        local_live: SeqNum(0xffff_fff0),
        local_script: 0,
        remote: SeqNum(1_428_932),
    };

    fn local(value: u32, anchor: Anchor) -> SeqRef {
        SeqRef {
            value,
            side: Side::Local,
            anchor,
        }
    }

    fn remote(value: u32, anchor: Anchor) -> SeqRef {
        SeqRef {
            value,
            side: Side::Remote,
            anchor,
        }
    }

    #[test]
    fn inbound_syn_sends_its_isn_literally() {
        let m = meaning("0 < S 1428932:1428932(0) win 10000");
        assert_eq!(m.seq, remote(1_428_932, Anchor::ScriptIsn));
        assert_eq!(m.seq.to_wire(&ISNS), SeqNum(1_428_932));
        assert_eq!(m.ack, AckMeaning::Raw(0));
        assert_eq!(m.window, Some(10_000));
    }

    #[test]
    fn outbound_syn_ack_names_synacks_isn_and_acks_literally() {
        let m = meaning("0 > S. 0:0(0) ack 1428933 <mss 1460>");
        assert_eq!(m.seq, local(0, Anchor::ScriptIsn));
        assert_eq!(m.seq.to_wire(&ISNS), SeqNum(0xffff_fff0));
        assert_eq!(
            m.ack,
            AckMeaning::Mapped(remote(1_428_933, Anchor::ScriptIsn))
        );
        assert_eq!(m.window, None);
        assert_eq!(
            m.options,
            OptionsMeaning::Exact(vec![OptionMeaning::Plain(TcpOptionKind::Mss(1460))])
        );
    }

    #[test]
    fn data_segments_count_from_each_sides_isn() {
        let m = meaning("0 < P. 1:1001(1000) ack 1 win 257");
        assert_eq!(m.seq.to_wire(&ISNS), SeqNum(1_428_933));
        let AckMeaning::Mapped(ack) = m.ack else {
            panic!()
        };
        assert_eq!(ack, local(1, Anchor::Isn));
        // synack's ISN + 1 wraps past zero.
        assert_eq!(ack.to_wire(&ISNS), SeqNum(0xffff_fff1));
        let m = meaning("0 > . 1:1(0) ack 1001");
        assert_eq!(m.seq, local(1, Anchor::Isn));
        assert_eq!(m.ack, AckMeaning::Mapped(remote(1001, Anchor::Isn)));
        assert_eq!(m.payload_len, 0);
    }

    #[test]
    fn inbound_syn_ack_acks_relative_to_the_scripts_name_for_synacks_isn() {
        let isns = Isns {
            local_script: 100,
            ..ISNS
        };
        let m = meaning("0 < S. 0:0(0) ack 101 win 5792");
        let AckMeaning::Mapped(ack) = m.ack else {
            panic!()
        };
        assert_eq!(ack, local(101, Anchor::ScriptIsn));
        assert_eq!(ack.to_wire(&isns), SeqNum(0xffff_fff1));
    }

    #[test]
    fn ack_without_the_ack_flag_is_raw() {
        assert_eq!(meaning("0 > R 1:1(0)").ack, AckMeaning::Raw(0));
        assert_eq!(meaning("0 < R 0:0(0) ack 5 win 0").ack, AckMeaning::Raw(5));
    }

    #[test]
    fn sack_blocks_live_in_the_ack_space() {
        let m = meaning("0 < . 1:1(0) ack 1 win 257 <sack 3001:5001,nop,nop>");
        let OptionsMeaning::Exact(opts) = m.options else {
            panic!()
        };
        assert_eq!(
            opts[0],
            OptionMeaning::Sack(vec![(local(3001, Anchor::Isn), local(5001, Anchor::Isn))])
        );
        let m = meaning("0 > . 1001:1001(0) ack 1 <nop,nop,sack 0:1>");
        let OptionsMeaning::Exact(opts) = m.options else {
            panic!()
        };
        assert_eq!(
            opts[2],
            OptionMeaning::Sack(vec![(remote(0, Anchor::Isn), remote(1, Anchor::Isn))])
        );
    }

    #[test]
    fn timestamps_say_which_parts_are_mapped() {
        let ts = |line: &str| {
            let OptionsMeaning::Exact(o) = meaning(line).options else {
                panic!()
            };
            o.into_iter()
                .find_map(|o| match o {
                    OptionMeaning::Timestamp(t) => Some(t),
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(
            ts("0 < S 0:0(0) win 1 <mss 1000,sackOK,TS val 100 ecr 0>"),
            TimestampMeaning::Inbound {
                val: 100,
                ecr: 0,
                ecr_mapped: false
            }
        );
        assert_eq!(
            ts("0 < . 1:1(0) ack 1 win 1 <nop,nop,TS val 200 ecr 100>"),
            TimestampMeaning::Inbound {
                val: 200,
                ecr: 100,
                ecr_mapped: true
            }
        );
        assert_eq!(
            ts("0 > . 1:1(0) ack 1 <nop,nop,TS val 300 ecr 800>"),
            TimestampMeaning::Outbound { val: 300, ecr: 800 }
        );
        assert_eq!(meaning("0 > S 0:0(0) <...>").options, OptionsMeaning::Any);
    }

    #[test]
    fn wire_numbers_read_back_in_script_terms() {
        for anchor in [Anchor::Isn, Anchor::ScriptIsn] {
            for side in [Side::Local, Side::Remote] {
                for value in [0, 1, 1001, u32::MAX] {
                    let r = SeqRef {
                        value,
                        side,
                        anchor,
                    };
                    assert_eq!(SeqRef::from_wire(r.to_wire(&ISNS), side, anchor, &ISNS), r);
                }
            }
        }
        let isns = Isns {
            local_script: 1234,
            ..ISNS
        };
        assert_eq!(
            local(1234, Anchor::ScriptIsn).to_wire(&isns),
            SeqNum(0xffff_fff0)
        );
    }

    #[test]
    fn icmp_quotes_synacks_sequence_number() {
        let s = parse_script(
            "0 < icmp unreachable frag_needed mtu 1000 [1:1461(1460)]",
            "t",
        )
        .unwrap();
        let Action::Packet(p) = &s.events[0].action else {
            panic!()
        };
        let crate::script::PacketBody::Icmp(i) = &p.body else {
            panic!()
        };
        assert_eq!(icmp_echoed_seq(i), Some(local(1, Anchor::Isn)));
        assert!(SegmentMeaning::of(p).is_none());
    }

    #[test]
    fn ts_map_moves_synacks_clock_onto_the_scripts() {
        let mut m = TsMap::default();
        // First outbound: script says 100, synack sent 9000.
        assert_eq!(m.record_outbound(100, 9_000), 100);
        // 200 ticks later synack sends 9200: script terms 300.
        assert_eq!(m.record_outbound(300, 9_200), 300);
        assert_eq!(m.record_outbound(301, 9_205), 305);
        assert_eq!(m.inbound_ecr(300, false), Ok(9_200));
        assert!(
            m.inbound_ecr(250, false)
                .unwrap_err()
                .contains("script TS ecr 250")
        );
        assert_eq!(m.inbound_ecr(250, true), Ok(9_150));
        assert!(TsMap::default().inbound_ecr(1, true).is_err());
    }
}
