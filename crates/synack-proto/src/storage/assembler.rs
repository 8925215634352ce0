//! Receive-side reassembly bookkeeping: which bytes of the stream have
//! arrived, which of them are in order, and what SACK should say about the
//! rest.
//!
//! Read first: RFC 9293 §3.10.7.4 (segments are processed in sequence order;
//! out-of-order ones are held), RFC 2018 §4 (SACK blocks: the first block
//! must contain the segment that triggered the ACK), RFC 2883 §4 (D-SACK:
//! report the duplicate part first).
//!
//! The assembler only keeps offsets; the bytes themselves go to their place
//! in the receive [`RingBuffer`](super::RingBuffer) with `write_at`. Offsets
//! are 64-bit, counted from the start of the stream (offset 0 = IRS + 1), so
//! sequence-number wrap never matters here. Typical use per segment:
//!
//! ```
//! # use synack_proto::storage::{Assembler, RingBuffer};
//! let mut rx = RingBuffer::new(64 * 1024);
//! let mut asm = Assembler::new(16);
//! # let (offset, payload) = (0u64, b"hello");
//! // offset: the segment's stream offset, already trimmed to the window.
//! let ahead = (offset - asm.contiguous_end()) as usize;
//! let stored = rx.write_at(ahead, payload);
//! match asm.add(offset, stored as u64) {
//!     Ok(outcome) => {
//!         rx.commit(outcome.advanced as usize); // RCV.NXT += advanced
//!         // outcome.duplicate -> D-SACK block, outcome.landed -> first SACK block
//!     }
//!     Err(_too_many_holes) => { /* drop the segment and count it */ }
//! }
//! assert_eq!(rx.len(), 5);
//! ```

use super::range_set::{RangeSet, RangeSetFull};
use core::ops::Range;

/// The segment would open a new out-of-order range and the assembler already
/// tracks its maximum: drop the segment (and count it); the sender will
/// retransmit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyHoles;

impl core::fmt::Display for TooManyHoles {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("too many out-of-order ranges")
    }
}

impl core::error::Error for TooManyHoles {}

impl From<RangeSetFull> for TooManyHoles {
    fn from(_: RangeSetFull) -> Self {
        TooManyHoles
    }
}

/// What adding a segment changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddOutcome {
    /// Bytes that became in order: the caller commits them to the receive
    /// buffer and advances RCV.NXT by this much. Includes out-of-order data
    /// received earlier that the segment connected.
    pub advanced: u64,
    /// Bytes of the segment not received before (in order or not).
    pub new_bytes: u64,
    /// The lowest part of the segment that had been received before (below
    /// RCV.NXT or inside out-of-order data): the D-SACK block to report,
    /// RFC 2883 §4. `None` when everything was new.
    pub duplicate: Option<Range<u64>>,
    /// The out-of-order range that now contains the segment, after merging:
    /// the first SACK block to send, RFC 2018 §4. `None` when the segment was
    /// in order (it advanced the ACK) or entirely below RCV.NXT.
    pub landed: Option<Range<u64>>,
}

impl AddOutcome {
    /// The segment carried nothing new: a duplicate (RFC 2883).
    pub fn is_duplicate(&self) -> bool {
        self.new_bytes == 0 && self.duplicate.is_some()
    }
}

/// Reassembly state of one receive stream: the in-order point (RCV.NXT as a
/// stream offset) and a bounded set of out-of-order ranges above it.
#[derive(Debug, Clone)]
pub struct Assembler {
    /// Every byte below this offset has arrived.
    next: u64,
    /// Out-of-order data; every range starts above `next`.
    out_of_order: RangeSet,
}

impl Assembler {
    /// An assembler at offset 0 that tracks at most `max_ranges` out-of-order
    /// ranges. Allocates nothing until data arrives out of order.
    pub const fn new(max_ranges: usize) -> Self {
        Assembler {
            next: 0,
            out_of_order: RangeSet::new(max_ranges),
        }
    }

    /// The offset up to which every byte has arrived (RCV.NXT as a stream
    /// offset).
    pub fn contiguous_end(&self) -> u64 {
        self.next
    }

    /// One past the highest byte received, in order or not.
    pub fn highest_received(&self) -> u64 {
        self.out_of_order.last().map_or(self.next, |r| r.end)
    }

    /// The most out-of-order ranges tracked.
    pub fn max_ranges(&self) -> usize {
        self.out_of_order.cap()
    }

    /// Whether any out-of-order data is held.
    pub fn has_out_of_order(&self) -> bool {
        !self.out_of_order.is_empty()
    }

    /// Out-of-order ranges, lowest first: the SACK blocks after the first one
    /// (RFC 2018 §4 lets the receiver pick which; recent ones are best).
    pub fn out_of_order(
        &self,
    ) -> impl DoubleEndedIterator<Item = Range<u64>> + ExactSizeIterator + '_ {
        self.out_of_order.iter()
    }

    /// Bytes held out of order.
    pub fn out_of_order_bytes(&self) -> u64 {
        self.out_of_order.covered_bytes()
    }

    /// The out-of-order range holding `offset`, if any.
    pub fn out_of_order_range_containing(&self, offset: u64) -> Option<Range<u64>> {
        self.out_of_order.range_containing(offset)
    }

    /// Whether `offset` has arrived.
    pub fn contains(&self, offset: u64) -> bool {
        offset < self.next || self.out_of_order.contains(offset)
    }

    /// Records that bytes `offset..offset + len` arrived.
    ///
    /// In-order data (starting at or below [`Assembler::contiguous_end`])
    /// is always accepted. Out-of-order data that needs a new range when
    /// `max_ranges` are held is refused with [`TooManyHoles`], changing
    /// nothing.
    pub fn add(&mut self, offset: u64, len: u64) -> Result<AddOutcome, TooManyHoles> {
        let end = offset.saturating_add(len);
        let mut outcome = AddOutcome::default();
        if offset >= end {
            return Ok(outcome);
        }
        // RFC 2883 §4.1.1: data below RCV.NXT is a duplicate.
        if offset < self.next {
            outcome.duplicate = Some(offset..end.min(self.next));
        }
        let start = offset.max(self.next);
        if start >= end {
            return Ok(outcome);
        }
        outcome.new_bytes = (end - start) - self.out_of_order.covered_within(start..end);
        if outcome.duplicate.is_none() {
            outcome.duplicate = self.out_of_order.first_overlap(start..end);
        }
        if start == self.next {
            // In order: advance over it and over any out-of-order ranges it
            // now reaches (they are sorted and do not touch each other).
            let mut new_next = end;
            for r in self.out_of_order.iter() {
                if r.start > new_next {
                    break;
                }
                new_next = new_next.max(r.end);
            }
            self.out_of_order.remove_front(new_next);
            outcome.advanced = new_next - self.next;
            self.next = new_next;
        } else {
            outcome.landed = Some(self.out_of_order.insert(start..end)?);
        }
        Ok(outcome)
    }

    /// [`Assembler::add`] of `len` bytes at [`Assembler::contiguous_end`]
    /// while nothing is held out of order: the in-order run moves on by
    /// `len`, and that is all `add` would do (no duplicate, nothing landed,
    /// `advanced == len`). The receive path's common case (every in-order
    /// segment with no hole open) skips the range searches `add` makes.
    pub fn advance_in_order(&mut self, len: u64) {
        debug_assert!(!self.has_out_of_order(), "advance_in_order with holes");
        self.next = self.next.saturating_add(len);
    }

    /// Forgets everything and restarts at `next` (e.g. when the connection is
    /// reused). Keeps the allocation.
    pub fn reset(&mut self, next: u64) {
        self.next = next;
        self.out_of_order.clear();
    }

    /// Frees the out-of-order allocation when none is held; returns whether
    /// it did.
    pub fn release_if_empty(&mut self) -> bool {
        self.out_of_order.release_if_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn advance_in_order_is_add_at_the_contiguous_end_without_holes() {
        let (mut a, mut b) = (Assembler::new(4), Assembler::new(4));
        for len in [1, 1448, 7, 65_535] {
            let o = a.add(a.contiguous_end(), len).unwrap();
            assert_eq!((o.advanced, o.new_bytes), (len, len));
            assert!(o.duplicate.is_none() && o.landed.is_none());
            b.advance_in_order(len);
            assert_eq!(a.contiguous_end(), b.contiguous_end());
            assert!(!b.has_out_of_order());
        }
    }

    #[test]
    fn in_order_data_advances_and_reports_no_sack_block() {
        let mut a = Assembler::new(4);
        let o = a.add(0, 100).unwrap();
        assert_eq!(
            o,
            AddOutcome {
                advanced: 100,
                new_bytes: 100,
                duplicate: None,
                landed: None
            }
        );
        assert_eq!(a.contiguous_end(), 100);
        assert!(!a.has_out_of_order());
    }

    #[test]
    fn filling_a_hole_delivers_the_data_behind_it() {
        let mut a = Assembler::new(4);
        let o = a.add(200, 100).unwrap();
        assert_eq!(o.advanced, 0);
        assert_eq!(o.landed, Some(200..300));
        let o = a.add(400, 50).unwrap();
        assert_eq!(o.landed, Some(400..450), "most recent block comes first");
        assert_eq!(a.out_of_order().collect::<Vec<_>>(), [200..300, 400..450]);
        assert_eq!(a.highest_received(), 450);
        // The hole 0..200 fills: 0..300 becomes in order.
        let o = a.add(0, 200).unwrap();
        assert_eq!(o.advanced, 300);
        assert_eq!(o.landed, None);
        assert_eq!(a.contiguous_end(), 300);
        assert_eq!(a.out_of_order().next(), Some(400..450));
        assert_eq!(a.out_of_order().len(), 1);
        // A segment overlapping RCV.NXT and reaching into the next range.
        let o = a.add(250, 160).unwrap();
        assert_eq!(o.advanced, 150);
        assert_eq!(o.new_bytes, 100);
        assert_eq!(o.duplicate, Some(250..300));
        assert_eq!(a.contiguous_end(), 450);
        assert!(!a.has_out_of_order());
    }

    #[test]
    fn duplicates_are_reported_for_dsack() {
        let mut a = Assembler::new(4);
        a.add(0, 100).unwrap();
        a.add(200, 100).unwrap();
        // Entirely old: RFC 2883 §4.1.1.
        let o = a.add(10, 20).unwrap();
        assert!(o.is_duplicate());
        assert_eq!(o.duplicate, Some(10..30));
        assert_eq!(o.landed, None);
        // Entirely inside out-of-order data: D-SACK it, SACK the range it is in.
        let o = a.add(220, 30).unwrap();
        assert!(o.is_duplicate());
        assert_eq!(o.duplicate, Some(220..250));
        assert_eq!(o.landed, Some(200..300));
        // Partly new: the duplicate part is reported, the segment is not a duplicate.
        let o = a.add(150, 60).unwrap();
        assert!(!o.is_duplicate());
        assert_eq!(o.new_bytes, 50);
        assert_eq!(o.duplicate, Some(200..210));
        assert_eq!(o.landed, Some(150..300));
    }

    #[test]
    fn too_many_holes_refuses_only_new_out_of_order_ranges() {
        let mut a = Assembler::new(2);
        a.add(100, 10).unwrap();
        a.add(200, 10).unwrap();
        assert_eq!(a.add(300, 10), Err(TooManyHoles));
        assert_eq!(
            a.out_of_order().count(),
            2,
            "a refused segment changes nothing"
        );
        // Extending an existing range is fine, and in-order data always is.
        assert_eq!(a.add(210, 10).unwrap().landed, Some(200..220));
        assert_eq!(a.add(0, 50).unwrap().advanced, 50);
        assert_eq!(a.add(50, 50).unwrap().advanced, 60);
        assert_eq!(a.out_of_order().next(), Some(200..220));
        assert_eq!(a.out_of_order().len(), 1);
        assert_eq!(a.add(300, 10).unwrap().landed, Some(300..310));
    }

    #[test]
    fn empty_and_overflowing_segments_are_harmless() {
        let mut a = Assembler::new(2);
        assert_eq!(a.add(5, 0), Ok(AddOutcome::default()));
        let o = a.add(u64::MAX - 1, u64::MAX).unwrap();
        assert_eq!(o.landed, Some(u64::MAX - 1..u64::MAX));
        a.reset(10);
        assert_eq!(a.contiguous_end(), 10);
        assert!(!a.has_out_of_order());
        assert!(a.release_if_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_a_set_of_received_offsets(cap in 1usize..6, segs in proptest::collection::vec((0u64..150, 0u64..25), 1..60)) {
            let mut a = Assembler::new(cap);
            let mut received = BTreeSet::new();
            let mut next = 0u64;
            for (off, len) in segs {
                let seg: Vec<u64> = (off..off + len).collect();
                let new: Vec<u64> = seg.iter().copied().filter(|x| !received.contains(x)).collect();
                let needs_new_range = off > next
                    && len > 0
                    && !(off - 1..off + len + 1).any(|x| x >= next && received.contains(&x));
                match a.add(off, len) {
                    Err(TooManyHoles) => {
                        prop_assert!(needs_new_range);
                        prop_assert_eq!(a.out_of_order().count(), cap);
                    }
                    Ok(o) => {
                        received.extend(seg.iter().copied());
                        let mut new_next = next;
                        while received.contains(&new_next) {
                            new_next += 1;
                        }
                        prop_assert_eq!(o.advanced, new_next - next);
                        prop_assert_eq!(o.new_bytes, new.len() as u64);
                        // The duplicate block starts at the first old byte and is all old.
                        let first_old = seg.iter().copied().find(|x| !new.contains(x));
                        prop_assert_eq!(o.duplicate.as_ref().map(|r| r.start), first_old);
                        if let Some(d) = &o.duplicate {
                            prop_assert!(d.clone().all(|x| seg.contains(&x) && !new.contains(&x)));
                        }
                        // The landed block contains the segment's new out-of-order data.
                        if len > 0 && o.advanced == 0 && off + len > next {
                            let r = o.landed.clone().unwrap();
                            prop_assert!(r.start <= off.max(next) && off + len <= r.end);
                        } else {
                            prop_assert_eq!(o.landed, None);
                        }
                        next = new_next;
                    }
                }
                prop_assert_eq!(a.contiguous_end(), next);
                for x in 0..180 {
                    prop_assert_eq!(a.contains(x), received.contains(&x));
                }
                prop_assert!(a.out_of_order().all(|r| r.start > next));
            }
        }
    }
}
