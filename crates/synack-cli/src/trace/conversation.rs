//! TCP conversations: the segments of one connection, in capture order,
//! drawn as one two-column ladder each.
//!
//! Decisions (documented in `synack trace --help` too):
//! - One ladder per conversation, not one ladder with a column per endpoint:
//!   two columns keep every arrow short and readable, and a capture with many
//!   connections stays a list of small diagrams.
//! - A conversation is the set of segments between two endpoints (ip:port
//!   pairs), either direction. A SYN without ACK whose sequence number
//!   differs from the SYN that side already sent starts a new conversation
//!   on the same endpoints (a reused 4-tuple, e.g. after TIME-WAIT).
//! - The left column is the side that sent the conversation's first segment,
//!   unless that segment is a SYN-ACK: then its receiver (the client) is.
//! - Relative sequence numbers (the default) count from each side's initial
//!   sequence number: its SYN's, or, when the capture has no SYN from it,
//!   the first sequence number seen from it, or acknowledged to it if the
//!   peer speaks first (one less when that acknowledgment is a SYN-ACK's).
//!   Acknowledgments and SACK edges count from the peer's. So a handshake
//!   reads `S 0:0(0)`, `S. 0:0(0) ack 1`, `. 1:1(0) ack 1`, as in tcpdump
//!   and packetdrill.

use std::collections::HashMap;
use std::net::SocketAddrV4;

use crate::ladder::{Ladder, Row};

use super::decode::{Body, Packet, Tcp};
use super::text::{SeqView, segment_label};

/// One connection's segments, indices into the decoded packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// `[left, right]`.
    pub ends: [SocketAddrV4; 2],
    /// Packet indices, in capture order.
    pub packets: Vec<usize>,
    /// The sequence number of the SYN each side sent, once seen.
    syn: [Option<u32>; 2],
}

impl Conversation {
    fn side_of(&self, tcp: &Tcp<'_>) -> usize {
        usize::from(tcp.src != self.ends[0])
    }
}

/// Groups the TCP segments of `packets` into conversations, in the order
/// of each conversation's first segment.
pub fn conversations(packets: &[Packet<'_>]) -> Vec<Conversation> {
    let mut convs: Vec<Conversation> = Vec::new();
    // Endpoints (ordered) to the conversation currently using them.
    let mut current: HashMap<(SocketAddrV4, SocketAddrV4), usize> = HashMap::new();
    for (i, p) in packets.iter().enumerate() {
        let Body::Tcp(tcp) = &p.body else { continue };
        let key = if tcp.src <= tcp.dst {
            (tcp.src, tcp.dst)
        } else {
            (tcp.dst, tcp.src)
        };
        let pure_syn = tcp.flags.syn() && !tcp.flags.ack();
        let reuse = current.get(&key).copied().filter(|&c| {
            let conv = &convs[c];
            let side = conv.side_of(tcp);
            !(pure_syn && conv.syn[side].is_some_and(|isn| isn != tcp.seq))
        });
        let c = match reuse {
            Some(c) => c,
            None => {
                // A SYN-ACK first: the capture began after the SYN, and
                // the client is the SYN-ACK's receiver.
                let client_first = tcp.flags.syn() && tcp.flags.ack();
                let ends = if client_first {
                    [tcp.dst, tcp.src]
                } else {
                    [tcp.src, tcp.dst]
                };
                convs.push(Conversation {
                    ends,
                    packets: Vec::new(),
                    syn: [None; 2],
                });
                current.insert(key, convs.len() - 1);
                convs.len() - 1
            }
        };
        let conv = &mut convs[c];
        let side = conv.side_of(tcp);
        if tcp.flags.syn() && conv.syn[side].is_none() {
            conv.syn[side] = Some(tcp.seq);
        }
        conv.packets.push(i);
    }
    convs
}

/// The conversation as a ladder. `t0` is the time zero of the time column
/// (the capture's first packet), `absolute` keeps raw sequence numbers.
pub fn ladder(conv: &Conversation, packets: &[Packet<'_>], t0: u64, absolute: bool) -> Ladder {
    let mut ladder = Ladder::new(conv.ends.iter().map(ToString::to_string));
    // Each side's initial sequence number, as far as the capture tells.
    let mut base: [Option<u32>; 2] = [None; 2];
    for &i in &conv.packets {
        let p = &packets[i];
        let Body::Tcp(tcp) = &p.body else { continue };
        let side = conv.side_of(tcp);
        let peer = 1 - side;
        // A side's SYN anywhere in the conversation fixes its base for
        // every row; without one, the first evidence does.
        if base[side].is_none() {
            base[side] = Some(conv.syn[side].unwrap_or(tcp.seq));
        }
        if base[peer].is_none() {
            base[peer] = conv.syn[peer].or_else(|| {
                // A SYN-ACK acknowledges the peer's SYN: the ISN is one less.
                let syn_acked = u32::from(tcp.flags.syn());
                tcp.flags.ack().then(|| tcp.ack.wrapping_sub(syn_acked))
            });
        }
        let view = if absolute {
            SeqView::default()
        } else {
            SeqView {
                seq_base: base[side],
                ack_base: base[peer],
            }
        };
        let label = segment_label(tcp, view);
        ladder.push(Row::arrow(seconds(p.ts_micros, t0), side, peer, label));
    }
    ladder
}

/// `micros - t0` as seconds with six decimals; earlier packets (a capture
/// out of order) show a minus sign.
pub fn seconds(micros: u64, t0: u64) -> String {
    let (sign, d) = if micros >= t0 {
        ("", micros - t0)
    } else {
        ("-", t0 - micros)
    };
    format!("{sign}{}.{:06}", d / 1_000_000, d % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::Style;
    use synack_proto::wire::TcpFlags;

    const A: &str = "192.0.2.1:40000";
    const B: &str = "192.0.2.2:80";

    fn seg(ts: u64, src: &str, dst: &str, flags: TcpFlags, seq: u32, ack: u32) -> Packet<'static> {
        Packet {
            ts_micros: ts,
            body: Body::Tcp(Tcp {
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                seq,
                ack,
                flags,
                win: 100,
                urgent: 0,
                len: 0,
                options: &[],
            }),
        }
    }

    const SYN: TcpFlags = TcpFlags::SYN;
    const SYN_ACK: TcpFlags = TcpFlags(0x12);
    const ACK: TcpFlags = TcpFlags::ACK;

    /// The arrow labels of the packets' only conversation, each with its
    /// direction: `>` for left to right, `<` for right to left.
    fn labels(packets: &[Packet<'_>], absolute: bool) -> Vec<String> {
        let convs = conversations(packets);
        assert_eq!(convs.len(), 1);
        let text = ladder(&convs[0], packets, 0, absolute).render(&Style {
            width: 100,
            unicode: false,
        });
        text.lines()
            .skip(2)
            .map(|l| {
                let (dir, rest) = match l.split_once("|--- ") {
                    Some((_, rest)) => ('>', rest),
                    None => ('<', l.split_once("|<-- ").expect(l).1),
                };
                format!("{dir} {}", rest.split(" --").next().unwrap())
            })
            .collect()
    }

    #[test]
    fn handshake_counts_from_each_isn() {
        let p = [
            seg(10, A, B, SYN, 1000, 0),
            seg(20, B, A, SYN_ACK, 5000, 1001),
            seg(30, A, B, ACK, 1001, 5001),
        ];
        assert_eq!(
            labels(&p, false),
            [
                "> S 0:0(0) win 100",
                "< S. 0:0(0) ack 1 win 100",
                "> . 1:1(0) ack 1 win 100",
            ]
        );
        assert_eq!(labels(&p, true)[1], "< S. 5000:5000(0) ack 1001 win 100");
    }

    #[test]
    fn mid_stream_capture_counts_from_first_seen() {
        // B speaks first; A's base comes from B's ack.
        let p = [
            seg(10, B, A, ACK, 7000, 3000),
            seg(20, A, B, ACK, 3000, 7000),
        ];
        let convs = conversations(&p);
        assert_eq!(convs[0].ends, [B.parse().unwrap(), A.parse().unwrap()]);
        assert_eq!(
            labels(&p, false),
            ["> . 0:0(0) ack 0 win 100", "< . 0:0(0) ack 0 win 100",]
        );
    }

    #[test]
    fn a_syn_ack_first_puts_the_client_left() {
        let p = [
            seg(0, B, A, SYN_ACK, 5000, 1001),
            seg(1, A, B, ACK, 1001, 5001),
        ];
        let convs = conversations(&p);
        assert_eq!(convs[0].ends, [A.parse().unwrap(), B.parse().unwrap()]);
        // The client's SYN is not in the capture, but the SYN-ACK's
        // acknowledgment tells its ISN.
        assert_eq!(
            labels(&p, false),
            ["< S. 0:0(0) ack 1 win 100", "> . 1:1(0) ack 1 win 100",]
        );
    }

    #[test]
    fn a_sides_syn_fixes_its_base_even_for_earlier_rows() {
        // The server's SYN-ACK retransmission is captured after an ACK of
        // its first copy (capture reordering): numbering stays the same.
        let p = [
            seg(10, A, B, SYN, 1000, 0),
            seg(20, A, B, ACK, 1001, 5001),
            seg(30, B, A, SYN_ACK, 5000, 1001),
        ];
        assert_eq!(
            labels(&p, false),
            [
                "> S 0:0(0) win 100",
                "> . 1:1(0) ack 1 win 100",
                "< S. 0:0(0) ack 1 win 100",
            ]
        );
    }

    #[test]
    fn a_new_syn_on_the_same_endpoints_is_a_new_conversation() {
        let p = [
            seg(0, A, B, SYN, 1000, 0),
            seg(1, A, B, SYN, 1000, 0), // retransmission: same conversation
            seg(2, B, A, SYN_ACK, 5000, 1001),
            seg(3, A, B, SYN, 9000, 0), // new ISN: new conversation
            seg(4, C, B, SYN, 1, 0),
        ];
        let convs = conversations(&p);
        assert_eq!(
            convs.iter().map(|c| c.packets.clone()).collect::<Vec<_>>(),
            vec![vec![0, 1, 2], vec![3], vec![4]]
        );
    }

    const C: &str = "192.0.2.3:40000";

    #[test]
    fn seconds_have_six_decimals() {
        assert_eq!(seconds(1_500_000, 0), "1.500000");
        assert_eq!(seconds(10, 10), "0.000000");
        assert_eq!(seconds(5, 10), "-0.000005");
    }
}
