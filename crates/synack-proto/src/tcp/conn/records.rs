//! Record boundaries in the send queue (`MSG_EOR`).
//!
//! TCP is a byte stream (RFC 9293 §3.9.1.2: "the PSH bit is not a record
//! marker"), but an application may ask that the data of one write not
//! share a segment with the data of the next: Linux's `MSG_EOR` marks the
//! last buffer of a write (`eor` in its control block), never appends later
//! data to it (`tcp_skb_can_collapse_to`) and never collapses across it, so
//! no segment — first transmission, GSO packet or retransmission — holds
//! bytes from both sides of the boundary.
//!
//! synack keeps the sequence numbers where records end, oldest first, from
//! the write that ends a record until the peer acknowledges that end. Most
//! connections never use it: the queue is boxed on the first boundary, and
//! its memory goes back with the send buffer's when the connection idles.

use std::collections::VecDeque;

use crate::SeqNum;

/// Where records end in the send sequence space (each boundary is the
/// sequence number just after a record's last byte).
#[derive(Debug, Default)]
pub struct RecordBoundaries {
    /// Ascending, all after SND.UNA's buffer start; `None` until the first.
    /// Boxed: a `VecDeque` is 32 bytes inline in every connection, the box 8.
    #[allow(clippy::box_collection)]
    ends: Option<Box<VecDeque<SeqNum>>>,
}

impl RecordBoundaries {
    /// A record ends at `end` (the data queued so far ends there).
    pub fn mark(&mut self, end: SeqNum) {
        let ends = self.ends.get_or_insert_with(Box::default);
        if ends.back().is_none_or(|&last| end.after(last)) {
            ends.push_back(end);
        }
    }

    /// The first boundary after `seq`: a segment starting at `seq` ends
    /// there at the latest.
    pub fn next_after(&self, seq: SeqNum) -> Option<SeqNum> {
        let ends = self.ends.as_deref()?;
        let i = ends.partition_point(|&b| b.before_eq(seq));
        ends.get(i).copied()
    }

    /// The data up to `buf_start` was acknowledged: boundaries at or before
    /// it are dropped (no segment can start before it any more).
    pub fn acknowledge(&mut self, buf_start: SeqNum) {
        if let Some(ends) = self.ends.as_deref_mut() {
            while ends.front().is_some_and(|&b| b.before_eq(buf_start)) {
                ends.pop_front();
            }
        }
    }

    /// Whether a boundary is waiting.
    pub fn is_empty(&self) -> bool {
        self.ends.as_deref().is_none_or(VecDeque::is_empty)
    }

    /// Gives the queue's memory back if no boundary is waiting.
    pub fn release_if_empty(&mut self) -> bool {
        if self.ends.is_some() && self.is_empty() {
            self.ends = None;
            return true;
        }
        false
    }

    /// Heap bytes held.
    pub fn allocated(&self) -> usize {
        self.ends.as_deref().map_or(0, |e| {
            core::mem::size_of::<VecDeque<SeqNum>>() + e.capacity() * core::mem::size_of::<SeqNum>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_allocated_until_the_first_boundary() {
        let mut r = RecordBoundaries::default();
        assert_eq!(r.allocated(), 0);
        assert_eq!(r.next_after(SeqNum(5)), None);
        r.acknowledge(SeqNum(100));
        assert!(!r.release_if_empty());
        assert_eq!(core::mem::size_of::<RecordBoundaries>(), 8);
    }

    #[test]
    fn the_next_boundary_is_the_first_strictly_after_the_start() {
        let mut r = RecordBoundaries::default();
        r.mark(SeqNum(100));
        r.mark(SeqNum(100)); // the same end twice is one boundary
        r.mark(SeqNum(250));
        assert_eq!(r.next_after(SeqNum(1)), Some(SeqNum(100)));
        assert_eq!(r.next_after(SeqNum(99)), Some(SeqNum(100)));
        assert_eq!(r.next_after(SeqNum(100)), Some(SeqNum(250)));
        assert_eq!(r.next_after(SeqNum(250)), None);
    }

    #[test]
    fn acknowledged_boundaries_are_dropped_and_the_memory_released() {
        let mut r = RecordBoundaries::default();
        r.mark(SeqNum(u32::MAX - 10)); // across the wrap
        r.mark(SeqNum(20));
        r.acknowledge(SeqNum(u32::MAX - 10));
        assert_eq!(r.next_after(SeqNum(u32::MAX - 20)), Some(SeqNum(20)));
        assert!(!r.release_if_empty(), "one still waits");
        r.acknowledge(SeqNum(21));
        assert!(r.is_empty());
        assert!(r.release_if_empty());
        assert_eq!(r.allocated(), 0);
    }
}
