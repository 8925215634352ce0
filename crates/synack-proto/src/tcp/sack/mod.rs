//! Selective acknowledgments (RFC 2018) and duplicate SACKs (RFC 2883),
//! both ways.
//!
//! Read first: RFC 2018 §3-4 (the option, and which blocks a receiver
//! reports), RFC 2883 §4 (D-SACK: the first block reports a duplicate),
//! RFC 6675 §3-4 (the sender's scoreboard: IsLost, pipe, NextSeg).
//!
//! - [`receiver`]: the blocks our ACKs carry: the block that holds the
//!   latest segment first, then the most recently reported ones, a D-SACK
//!   block first when a duplicate arrived.
//! - [`scoreboard`]: the sender's record of every segment in flight: what
//!   the peer SACKed, what is lost, what was retransmitted and when each
//!   was last sent (for RACK). Bounded, O(log n) per SACK block plus the
//!   segments newly SACKed.
//! - [`validate`]: which SACK blocks from the wire the sender believes.

pub mod receiver;
pub mod scoreboard;

pub use receiver::SackReceiver;
pub use scoreboard::Scoreboard;

use crate::SeqNum;

/// What one SACK block from the peer is (Linux `tcp_is_sackblock_valid`,
/// RFC 2883 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// Within SND.UNA..SND.NXT: selectively acknowledged data.
    Sack,
    /// RFC 2883: a duplicate reported by the receiver, below SND.UNA or
    /// inside the next block.
    Dsack,
    /// Reversed, empty, beyond SND.NXT or otherwise impossible: ignored.
    Invalid,
}

/// Classifies the blocks of one ACK. `ack` is the segment's cumulative ACK,
/// `una`/`nxt` the sender's SND.UNA (before the ACK) and SND.NXT.
///
/// RFC 2883 §4: "If the first SACK block is below the cumulative
/// acknowledgement ... or is a subset of the second SACK block, it is a
/// D-SACK block." Only the first block can be one. Every block must lie in
/// the sequence space sent so far: blocks that are reversed or empty, end
/// beyond SND.NXT, or (not being a D-SACK) start before SND.UNA are
/// invalid, which covers hostile and wrapped blocks (sequence comparisons
/// are modulo 2^32 over half the space).
pub fn validate(
    blocks: &[(SeqNum, SeqNum)],
    ack: SeqNum,
    una: SeqNum,
    nxt: SeqNum,
    out: &mut [BlockKind; 4],
) {
    for (i, &(start, end)) in blocks.iter().take(4).enumerate() {
        let reversed_or_empty = !end.after(start);
        let beyond = end.after(nxt);
        // RFC 2883 §4: a first block below the cumulative ACK, or inside
        // the second block.
        let dsack = i == 0
            && !reversed_or_empty
            && !beyond
            && (end.before_eq(ack)
                || blocks.get(1).is_some_and(|&(s2, e2)| {
                    e2.after(s2) && start.after_eq(s2) && end.before_eq(e2)
                }));
        out[i] = if reversed_or_empty || beyond {
            BlockKind::Invalid
        } else if dsack {
            // A D-SACK block must still be within a window of what we sent.
            if nxt.since(start) > (1 << 30) {
                BlockKind::Invalid
            } else {
                BlockKind::Dsack
            }
        } else if start.before(una) || start.before(ack) && end.before_eq(ack) {
            BlockKind::Invalid
        } else {
            BlockKind::Sack
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(blocks: &[(u32, u32)], ack: u32, una: u32, nxt: u32) -> Vec<BlockKind> {
        let b: Vec<_> = blocks
            .iter()
            .map(|&(s, e)| (SeqNum(s), SeqNum(e)))
            .collect();
        let mut out = [BlockKind::Invalid; 4];
        validate(&b, SeqNum(ack), SeqNum(una), SeqNum(nxt), &mut out);
        out[..b.len().min(4)].to_vec()
    }

    #[test]
    fn blocks_inside_the_flight_are_sacks() {
        assert_eq!(
            kinds(&[(2000, 3000), (4000, 5000)], 1000, 1000, 10_000),
            [BlockKind::Sack, BlockKind::Sack]
        );
    }

    #[test]
    fn rfc2883_dsack_below_the_ack_or_inside_the_second_block() {
        // §4.1.1: a duplicate of acknowledged data.
        assert_eq!(
            kinds(&[(3000, 3500)], 4000, 1000, 10_000),
            [BlockKind::Dsack]
        );
        // §4.1.2: a duplicate of out-of-order data, inside the second block.
        assert_eq!(
            kinds(&[(5000, 5500), (5000, 6000)], 4000, 4000, 10_000),
            [BlockKind::Dsack, BlockKind::Sack]
        );
    }

    #[test]
    fn hostile_blocks_are_invalid() {
        let hostile = [
            (3000, 2000),               // reversed
            (3000, 3000),               // empty
            (9000, 11_000),             // beyond SND.NXT
            (500, 2000),                // straddles SND.UNA
            (u32::MAX - 10, 100),       // wrapped far outside
            (0x8000_0000, 0x8000_1000), // the far side of the space
        ];
        for b in hostile {
            assert_eq!(
                kinds(&[(2000, 2500), b], 1000, 1000, 10_000)[1],
                BlockKind::Invalid,
                "{b:?}"
            );
        }
    }
}
