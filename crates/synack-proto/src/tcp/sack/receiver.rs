//! The SACK blocks a receiver reports (RFC 2018 §4) and its D-SACKs (RFC
//! 2883 §4).
//!
//! RFC 2018 §4: "The first SACK block ... MUST specify the contiguous block
//! of data containing the segment which triggered this ACK, unless that
//! segment advanced the Acknowledgment Number field in the header. ... The
//! SACK option SHOULD be filled out by repeating the most recently reported
//! SACK blocks (based on first SACK blocks in previous SACK options) that
//! are not subsets of a SACK block already included in the SACK option
//! being constructed." Up to four blocks; the wire layer keeps the first
//! three when timestamps take room (§3: "at most 3 SACK blocks" with them).
//!
//! RFC 2883 §4: "If the D-SACK block reports a duplicate contiguous sequence
//! from a (possibly larger) block of data in the receiver's data queue above
//! the cumulative acknowledgement, then the second SACK block in that SACK
//! option should specify that (possibly larger) block of data." A D-SACK is
//! reported once, in the next ACK.
//!
//! Blocks are kept as stream offsets (like the assembler's ranges) so they
//! survive sequence-number wrap; the caller maps them to sequence numbers.

use core::ops::Range;

/// Blocks a SACK option can carry.
pub const MAX_BLOCKS: usize = 4;

/// The receiver's SACK memory: recently reported blocks and a pending D-SACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SackReceiver {
    /// The most recently reported first blocks, most recent first.
    recent: [Range<u64>; MAX_BLOCKS],
    len: usize,
    /// A duplicate to report in the next ACK (stream offsets).
    dsack: Option<Range<u64>>,
}

impl Default for SackReceiver {
    fn default() -> Self {
        SackReceiver::new()
    }
}

impl SackReceiver {
    pub const fn new() -> Self {
        const EMPTY: Range<u64> = 0..0;
        SackReceiver {
            recent: [EMPTY; MAX_BLOCKS],
            len: 0,
            dsack: None,
        }
    }

    /// The recently reported blocks, most recent first.
    pub fn recent(&self) -> &[Range<u64>] {
        &self.recent[..self.len]
    }

    /// The D-SACK waiting to be reported.
    pub fn pending_dsack(&self) -> Option<Range<u64>> {
        self.dsack.clone()
    }

    /// Out-of-order data landed in `landed` (the whole out-of-order range
    /// holding it, after merging): it becomes the first block, and blocks it
    /// now covers are dropped.
    pub fn on_out_of_order(&mut self, landed: Range<u64>) {
        let mut kept = [const { 0..0 }; MAX_BLOCKS];
        kept[0] = landed.clone();
        let mut n = 1;
        for r in &self.recent[..self.len] {
            let covered = r.start >= landed.start && r.end <= landed.end;
            if covered || n == MAX_BLOCKS {
                continue;
            }
            kept[n] = r.clone();
            n += 1;
        }
        self.recent = kept;
        self.len = n;
    }

    /// A duplicate `dup` arrived (RFC 2883 §4: report the first duplicate;
    /// a contiguous or overlapping one extends it, as Linux does).
    pub fn on_duplicate(&mut self, dup: Range<u64>) {
        if dup.start >= dup.end {
            return;
        }
        self.dsack = Some(match self.dsack.take() {
            Some(d) if dup.start <= d.end && d.start <= dup.end => {
                d.start.min(dup.start)..d.end.max(dup.end)
            }
            Some(d) => d,
            None => dup,
        });
    }

    /// The blocks for the next ACK, as offsets: the D-SACK first (and the
    /// out-of-order range holding it second), then the recently reported
    /// blocks that still describe held data, then other held ranges,
    /// highest first. `next` is RCV.NXT's offset, `held` the out-of-order
    /// ranges (ascending), `containing` finds the held range around an offset.
    /// Recent blocks that no longer match a held range are replaced by the
    /// range that now holds their start (merges), or dropped (acknowledged).
    pub fn blocks(
        &mut self,
        next: u64,
        containing: impl Fn(u64) -> Option<Range<u64>>,
        held: impl DoubleEndedIterator<Item = Range<u64>>,
        out: &mut [Range<u64>; MAX_BLOCKS],
    ) -> usize {
        let mut n = 0;
        let push = |r: Range<u64>, out: &mut [Range<u64>; MAX_BLOCKS], n: &mut usize| {
            if *n < MAX_BLOCKS && !out[..*n].iter().any(|o| o == &r) {
                out[*n] = r;
                *n += 1;
            }
        };
        if let Some(d) = self.dsack.clone() {
            push(d.clone(), out, &mut n);
            if d.start >= next
                && let Some(r) = containing(d.start)
            {
                push(r, out, &mut n);
            }
        }
        // Refresh the recent blocks against what is held now.
        let mut fresh = [const { 0..0 }; MAX_BLOCKS];
        let mut m = 0;
        for r in &self.recent[..self.len] {
            if r.end <= next {
                continue; // acknowledged
            }
            if let Some(now) = containing(r.start.max(next))
                && !fresh[..m].contains(&now)
            {
                fresh[m] = now;
                m += 1;
            }
        }
        self.recent = fresh;
        self.len = m;
        for r in &self.recent[..self.len] {
            push(r.clone(), out, &mut n);
        }
        for r in held.rev() {
            if n == MAX_BLOCKS {
                break;
            }
            push(r, out, &mut n);
        }
        n
    }

    /// An ACK went out: the D-SACK was reported.
    pub fn on_ack_sent(&mut self) {
        self.dsack = None;
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn blocks(s: &mut SackReceiver, next: u64, held: &[Range<u64>]) -> Vec<Range<u64>> {
        let mut out = [const { 0..0 }; MAX_BLOCKS];
        let containing = |o: u64| held.iter().find(|r| r.start <= o && o < r.end).cloned();
        let n = s.blocks(next, containing, held.iter().cloned(), &mut out);
        out[..n].to_vec()
    }

    #[test]
    fn the_latest_segments_block_comes_first_then_the_recent_ones() {
        // RFC 2018 §5 example: segments 5000, 5500, ... 8500 of 500 bytes;
        // 5000, 6000 and 7000 lost (offsets from 5000 here).
        let mut s = SackReceiver::new();
        s.on_out_of_order(500..1000);
        assert_eq!(blocks(&mut s, 0, &[500..1000]), [500..1000]);
        s.on_out_of_order(1500..2000);
        assert_eq!(
            blocks(&mut s, 0, &[500..1000, 1500..2000]),
            [1500..2000, 500..1000]
        );
        s.on_out_of_order(2500..3000);
        assert_eq!(
            blocks(&mut s, 0, &[500..1000, 1500..2000, 2500..3000]),
            [2500..3000, 1500..2000, 500..1000]
        );
    }

    #[test]
    fn an_older_block_refreshed_by_a_new_segment_moves_to_the_front() {
        let mut s = SackReceiver::new();
        for r in [100..200, 300..400, 500..600] {
            s.on_out_of_order(r);
        }
        // A segment extends the oldest block.
        s.on_out_of_order(100..250);
        assert_eq!(
            blocks(&mut s, 0, &[100..250, 300..400, 500..600]),
            [100..250, 500..600, 300..400]
        );
    }

    #[test]
    fn merged_and_acknowledged_blocks_are_not_repeated() {
        let mut s = SackReceiver::new();
        s.on_out_of_order(100..200);
        s.on_out_of_order(300..400);
        // 200..300 arrives: the two merge into 100..400.
        s.on_out_of_order(100..400);
        assert_eq!(blocks(&mut s, 0, &[100..400]), [100..400]);
        // The hole below fills: RCV.NXT passes everything.
        assert_eq!(blocks(&mut s, 400, &[]), []);
    }

    #[test]
    fn more_than_four_ranges_fill_with_the_highest_held() {
        let mut s = SackReceiver::new();
        s.on_out_of_order(100..200);
        let held = [
            100..200,
            300..400,
            500..600,
            700..800,
            900..1000,
            1100..1200,
        ];
        assert_eq!(
            blocks(&mut s, 0, &held),
            [100..200, 1100..1200, 900..1000, 700..800]
        );
    }

    #[test]
    fn rfc2883_dsack_of_old_data_comes_first_once() {
        // §4.1.1: a duplicate below RCV.NXT.
        let mut s = SackReceiver::new();
        s.on_duplicate(3000..3500);
        assert_eq!(blocks(&mut s, 4000, &[]), [3000..3500]);
        s.on_ack_sent();
        assert_eq!(blocks(&mut s, 4000, &[]), []);
    }

    #[test]
    fn rfc2883_dsack_of_out_of_order_data_names_its_block_second() {
        // §4.1.2 example: 4000..4500 duplicated while 4000..5000 is held,
        // and 6000..6500 is the latest block.
        let mut s = SackReceiver::new();
        s.on_out_of_order(4000..5000);
        s.on_out_of_order(6000..6500);
        s.on_duplicate(4000..4500);
        assert_eq!(
            blocks(&mut s, 3000, &[4000..5000, 6000..6500]),
            [4000..4500, 4000..5000, 6000..6500]
        );
    }

    #[test]
    fn adjacent_duplicates_extend_one_dsack() {
        let mut s = SackReceiver::new();
        s.on_duplicate(100..200);
        s.on_duplicate(200..300);
        s.on_duplicate(900..1000);
        assert_eq!(s.pending_dsack(), Some(100..300));
    }
}
