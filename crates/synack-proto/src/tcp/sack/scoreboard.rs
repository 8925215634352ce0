//! The sender's scoreboard: one record per segment in flight (RFC 6675 §3).
//!
//! Read first: RFC 6675 §2-4 (the scoreboard, IsLost, pipe, NextSeg), RFC
//! 8985 §5-6 (RACK needs each segment's last transmission time), RFC 2018
//! §8 (a receiver may renege on SACKed data).
//!
//! Records cover SND.UNA..SND.NXT contiguously, in sequence order: new
//! segments are pushed at the back, cumulative ACKs pop or trim the front;
//! nothing is ever inserted in the middle, so a record's id (a counter) is
//! its position plus the id of the front one, and every lookup by sequence
//! number is a binary search. Each record carries Linux's `sacked` bits:
//! SACKed, lost, retransmitted (a retransmission is in flight), ever
//! retransmitted; and when it was last sent.
//!
//! Records in flight (neither SACKed nor lost-awaiting-retransmission) are
//! also on a list in the order they were last sent (Linux's
//! `tsorted_sent_queue`): RACK walks it from the oldest transmission and
//! stops at the first segment it cannot yet call lost, so loss detection
//! costs the segments it marks plus one.
//!
//! Everything is bounded: at most `max_records` records (the sender stops
//! sending new data beyond that) and at most `max_sacked_ranges` SACKed
//! ranges (a block that would need more is ignored and counted). Blocks are
//! applied only to whole records, so a hostile receiver's tiny, overlapping
//! or misaligned blocks change nothing they do not fully cover. Per SACK
//! block the work is O(log n) plus the records newly SACKed plus the SACKed
//! ranges the block spans.
//!
//! Counters kept exactly on every transition give RFC 6675's `pipe` in O(1):
//! bytes in flight minus SACKed minus lost, plus retransmissions in flight
//! (Linux `tcp_packets_in_flight`, in bytes).

use std::collections::VecDeque;

/// Records the first allocation holds: what `VecDeque`'s first growth gives
/// a 40-byte element, so allocating them up front changes no byte of memory.
const FIRST_RECORDS: usize = 4;

use crate::SeqNum;
use crate::storage::RangeSet;
use crate::time::Instant;

/// No record (the end of a list).
const NONE: u64 = u64::MAX;

mod flag {
    /// The peer SACKed it.
    pub const SACKED: u8 = 1;
    /// Deemed lost (RFC 6675 IsLost, RACK, a timeout, NewReno).
    pub const LOST: u8 = 2;
    /// A retransmission of it is in flight (counts in pipe, RFC 6675 §4).
    pub const RETRANS: u8 = 4;
    /// Retransmitted at least once (Karn; F-RTO; undo).
    pub const EVER_RETRANS: u8 = 8;
    /// On the transmission-order list.
    pub const LINKED: u8 = 16;
}

#[derive(Clone, Copy, Debug)]
struct Record {
    start: SeqNum,
    end: SeqNum,
    /// The last (re)transmission.
    xmit: Instant,
    flags: u8,
    prev: u64,
    next: u64,
}

impl Record {
    fn len(&self) -> u32 {
        self.end.since(self.start)
    }
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    /// This record as the peer's receipt of it reports it.
    #[inline]
    fn delivered(&self) -> Delivered {
        Delivered {
            start: self.start,
            end: self.end,
            xmit: self.xmit,
            retransmitted: self.has(flag::EVER_RETRANS),
            was_sacked: self.has(flag::SACKED),
        }
    }
}

/// Bytes and segments, for one class of records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub bytes: u32,
    pub segs: u32,
}

impl Tally {
    fn add(&mut self, bytes: u32) {
        self.add_segments(bytes, 1);
    }
    /// `segs` segments of `bytes` in all, as `add` of each.
    fn add_segments(&mut self, bytes: u32, segs: u32) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.segs = self.segs.saturating_add(segs);
    }
    fn sub(&mut self, bytes: u32) {
        self.bytes = self.bytes.saturating_sub(bytes);
        self.segs = self.segs.saturating_sub(1);
    }
    fn trim(&mut self, bytes: u32) {
        self.bytes = self.bytes.saturating_sub(bytes);
    }
}

/// A segment the peer newly received (cumulatively or selectively acknowledged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub start: SeqNum,
    pub end: SeqNum,
    /// When it was last sent.
    pub xmit: Instant,
    /// It was retransmitted at some point: the ACK may be for either copy.
    pub retransmitted: bool,
    /// It was SACKed before (a cumulative ACK now covers it).
    pub was_sacked: bool,
}

/// What a cumulative ACK did to the scoreboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CumAck {
    /// Bytes newly delivered that had not been SACKed.
    pub delivered: Tally,
    /// A segment never retransmitted was acknowledged (F-RTO, RFC 5682 §3.1,
    /// Linux `FLAG_ORIG_SACK_ACKED`).
    pub original_acked: bool,
    /// The lowest never-retransmitted, never-SACKed segment acknowledged
    /// (reordering: it arrived after later segments were SACKed).
    pub lowest_original: Option<SeqNum>,
}

impl CumAck {
    /// Counts `r`, not SACKed before, as newly delivered.
    #[inline]
    fn count(&mut self, r: &Record) {
        self.delivered.add(r.len());
        if !r.has(flag::EVER_RETRANS) {
            self.original_acked = true;
            self.lowest_original.get_or_insert(r.start);
        }
    }
}

/// What SACK blocks did to the scoreboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SackUpdate {
    pub delivered: Tally,
    pub original_sacked: bool,
    /// The lowest never-retransmitted segment newly SACKed.
    pub lowest_original: Option<SeqNum>,
    /// Blocks (or parts) ignored: the SACKed-range cap was reached.
    pub discarded: u32,
}

/// The scoreboard of one connection. See the module documentation.
#[derive(Clone, Debug)]
pub struct Scoreboard {
    records: VecDeque<Record>,
    /// The id of `records[0]`.
    first_id: u64,
    /// SND.UNA as the scoreboard knows it, and its stream offset.
    una: SeqNum,
    una_offset: u64,
    /// The end of the last record (SND.NXT for data).
    nxt: SeqNum,
    /// SACKed records, as merged stream-offset ranges.
    sacked_ranges: RangeSet,
    /// Transmission order: oldest first.
    t_head: u64,
    t_tail: u64,
    total: Tally,
    sacked: Tally,
    lost: Tally,
    retrans: Tally,
    /// Lost and not yet retransmitted: what NextSeg rule 1 returns.
    lost_pending: Tally,
    /// RFC 6675 IsLost progress: records before this id were examined, with
    /// `lost_hint_sacked` bytes SACKed among them.
    lost_hint: u64,
    lost_hint_sacked: u32,
    /// No lost record awaits retransmission before this id.
    rtx_hint: u64,
    /// Every record ever retransmitted has an id below this: none of the
    /// records held was when it is at most `first_id`.
    resent_below: u64,
    max_records: usize,
}

/// An emptied record buffer kept for a later scoreboard (see
/// [`Scoreboard::take_records`]); none allocated by default.
#[derive(Debug, Default)]
pub struct SpareRecords(VecDeque<Record>);

impl Scoreboard {
    /// An empty scoreboard whose next byte is `una`, holding at most
    /// `max_records` segments and `max_sacked_ranges` SACKed ranges.
    /// Allocates nothing until the first segment is recorded.
    pub fn new(una: SeqNum, max_records: usize, max_sacked_ranges: usize) -> Self {
        Scoreboard {
            records: VecDeque::new(),
            first_id: 0,
            una,
            una_offset: 0,
            nxt: una,
            sacked_ranges: RangeSet::new(max_sacked_ranges.max(1)),
            t_head: NONE,
            t_tail: NONE,
            total: Tally::default(),
            sacked: Tally::default(),
            lost: Tally::default(),
            retrans: Tally::default(),
            lost_pending: Tally::default(),
            lost_hint: 0,
            lost_hint_sacked: 0,
            rtx_hint: 0,
            resent_below: 0,
            max_records: max_records.max(1),
        }
    }

    /// Empties the scoreboard and restarts it at `una` (the handshake
    /// completed, or SND.UNA moved without records).
    pub fn reset(&mut self, una: SeqNum) {
        let (max_records, max_ranges) = (self.max_records, self.sacked_ranges.cap());
        let records = core::mem::take(&mut self.records);
        *self = Scoreboard::new(una, max_records, max_ranges);
        self.records = records;
        self.records.clear();
    }

    /// The record buffer, emptied, for a later scoreboard
    /// ([`Scoreboard::adopt_records`]): only a buffer of the size a fresh
    /// scoreboard's first record allocates (a grown one is freed here), so a
    /// scoreboard that adopts it holds exactly the memory its first push
    /// would have allocated.
    pub fn take_records(&mut self) -> SpareRecords {
        let mut records = core::mem::take(&mut self.records);
        if records.capacity() != FIRST_RECORDS {
            return SpareRecords::default();
        }
        records.clear();
        SpareRecords(records)
    }

    /// Frees what [`Scoreboard::take_records`] would not keep (a grown
    /// record buffer, the SACKed ranges) and empties the rest: a scoreboard
    /// waiting to be rebuilt around its buffer holds at most that buffer.
    pub fn shed(&mut self) {
        self.records = self.take_records().0;
        self.sacked_ranges.clear();
        self.sacked_ranges.release_if_empty();
    }

    /// Takes over `records`, an empty buffer from
    /// [`Scoreboard::take_records`], as the buffer its first record would
    /// have allocated. Only for a scoreboard that never held a record.
    pub fn adopt_records(&mut self, records: SpareRecords) {
        debug_assert!(records.0.is_empty() && self.records.capacity() == 0);
        if self.records.capacity() == 0 {
            self.records = records.0;
        }
    }

    /// Frees memory when nothing is in flight.
    pub fn release_if_empty(&mut self) {
        if self.records.is_empty() {
            self.records = VecDeque::new();
            self.sacked_ranges.release_if_empty();
        }
    }

    /// Bytes of memory held.
    pub fn allocated(&self) -> usize {
        self.records.capacity() * core::mem::size_of::<Record>()
            + self.sacked_ranges.allocated_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Segments recorded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether another segment may be recorded.
    pub fn has_room(&self) -> bool {
        self.records.len() < self.max_records
    }

    /// How many more records fit.
    pub fn room(&self) -> u32 {
        u32::try_from(self.max_records.saturating_sub(self.records.len())).unwrap_or(u32::MAX)
    }

    pub fn una(&self) -> SeqNum {
        self.una
    }

    /// The end of the last record sent.
    pub fn nxt(&self) -> SeqNum {
        self.nxt
    }

    /// Everything in flight.
    pub fn total(&self) -> Tally {
        self.total
    }

    pub fn sacked(&self) -> Tally {
        self.sacked
    }

    pub fn lost(&self) -> Tally {
        self.lost
    }

    /// Retransmissions in flight.
    pub fn retrans(&self) -> Tally {
        self.retrans
    }

    /// Lost segments not yet retransmitted.
    pub fn lost_pending(&self) -> Tally {
        self.lost_pending
    }

    /// RFC 6675 §4 `pipe`: "the number of octets ... in flight": every
    /// unSACKed octet not deemed lost, plus every retransmitted octet whose
    /// retransmission is in flight. `estimated_sacked` is what a sender
    /// without SACK assumes has left the network (one segment per duplicate
    /// ACK, RFC 6582's estimate as Linux's `tcp_add_reno_sack` keeps it).
    pub fn pipe(&self, estimated_sacked: u32) -> u32 {
        let out = self
            .total
            .bytes
            .saturating_sub(self.sacked.bytes)
            .saturating_sub(self.lost.bytes)
            .saturating_add(self.retrans.bytes);
        out.saturating_sub(estimated_sacked)
    }

    /// One past the highest SACKed byte (RFC 6675 "HighSACK"), if any.
    pub fn highest_sacked(&self) -> Option<SeqNum> {
        self.sacked_ranges.last().map(|r| self.seq_of(r.end))
    }

    fn offset(&self, seq: SeqNum) -> u64 {
        self.una_offset + u64::from(seq.since(self.una))
    }

    fn seq_of(&self, offset: u64) -> SeqNum {
        self.una + (offset.saturating_sub(self.una_offset) as u32)
    }

    fn get(&self, id: u64) -> Option<&Record> {
        let i = usize::try_from(id.checked_sub(self.first_id)?).ok()?;
        self.records.get(i)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Record> {
        let i = usize::try_from(id.checked_sub(self.first_id)?).ok()?;
        self.records.get_mut(i)
    }

    fn end_id(&self) -> u64 {
        self.first_id + self.records.len() as u64
    }

    /// The index of the record holding `seq`.
    fn index_of(&self, seq: SeqNum) -> Option<usize> {
        if !seq.in_window(self.una, self.nxt) {
            return None;
        }
        let i = self.records.partition_point(|r| r.end.before_eq(seq));
        (i < self.records.len()).then_some(i)
    }

    fn link_tail(&mut self, id: u64) {
        let tail = self.t_tail;
        if let Some(r) = self.get_mut(id) {
            r.prev = tail;
            r.next = NONE;
            r.flags |= flag::LINKED;
        }
        match self.get_mut(tail) {
            Some(t) => t.next = id,
            None => self.t_head = id,
        }
        self.t_tail = id;
    }

    fn unlink(&mut self, id: u64) {
        let Some(r) = self.get_mut(id) else {
            return;
        };
        if r.flags & flag::LINKED == 0 {
            return;
        }
        r.flags &= !flag::LINKED;
        let (prev, next) = (r.prev, r.next);
        match self.get_mut(prev) {
            Some(p) => p.next = next,
            None => self.t_head = next,
        }
        match self.get_mut(next) {
            Some(n) => n.prev = prev,
            None => self.t_tail = prev,
        }
    }

    /// Records a new segment `start..end` sent at `now`. It must follow
    /// the last one; returns false (recording nothing) otherwise or when
    /// the scoreboard is full.
    pub fn push(&mut self, start: SeqNum, end: SeqNum, now: Instant) -> bool {
        if start != self.nxt || !end.after(start) || !self.has_room() {
            return false;
        }
        if self.records.capacity() == 0 {
            // An episode's first record: allocate std's smallest non-zero
            // deque (the first growth's size, so the memory is the same)
            // directly, not through the amortised-growth path, which a
            // short connection (a few records) would take only for this.
            self.records = VecDeque::with_capacity(FIRST_RECORDS);
        }
        let id = self.end_id();
        // Newest on the transmission-order list (`link_tail`, written out:
        // every segment sent comes through here).
        let tail = self.t_tail;
        self.records.push_back(Record {
            start,
            end,
            xmit: now,
            flags: flag::LINKED,
            prev: tail,
            next: NONE,
        });
        match self.get_mut(tail) {
            Some(t) => t.next = id,
            None => self.t_head = id,
        }
        self.t_tail = id;
        self.nxt = end;
        self.total.add(end.since(start));
        true
    }

    /// Records the segments of `piece` bytes each (the last maybe shorter)
    /// that `start..end` went out as at `now` (a GSO or TSO packet's
    /// pieces): what [`Scoreboard::push`] of each in turn records, with the
    /// tail linked once. Returns false, recording nothing, where that
    /// would fail on the first piece; records the pieces that fit when the
    /// scoreboard fills on the way.
    pub fn push_pieces(&mut self, start: SeqNum, end: SeqNum, piece: u32, now: Instant) -> bool {
        if piece == 0 || end.since(start) <= piece {
            return self.push(start, end, now);
        }
        if start != self.nxt || !end.after(start) || !self.has_room() {
            return false;
        }
        let pieces = end.since(start).div_ceil(piece) as usize;
        let n = pieces.min(self.max_records - self.records.len());
        self.records.reserve(n);
        let first = self.end_id();
        let tail = self.t_tail;
        let mut at = start;
        for i in 0..n as u64 {
            let piece_end = if end.since(at) > piece {
                at + piece
            } else {
                end
            };
            self.records.push_back(Record {
                start: at,
                end: piece_end,
                xmit: now,
                flags: flag::LINKED,
                prev: if i == 0 { tail } else { first + i - 1 },
                next: if i + 1 < n as u64 {
                    first + i + 1
                } else {
                    NONE
                },
            });
            at = piece_end;
        }
        match self.get_mut(tail) {
            Some(t) => t.next = first,
            None => self.t_head = first,
        }
        self.t_tail = first + n as u64 - 1;
        self.total.add_segments(at.since(self.nxt), n as u32);
        self.nxt = at;
        true
    }

    /// The segment starting at `start` was retransmitted at `now`.
    /// `in_pipe`: the retransmission counts in pipe (RFC 6675); a tail loss
    /// probe does not (Linux). Returns its end, or `None` if no record
    /// starts there.
    pub fn on_retransmitted(
        &mut self,
        start: SeqNum,
        now: Instant,
        in_pipe: bool,
    ) -> Option<SeqNum> {
        let i = self.index_of(start)?;
        let id = self.first_id + i as u64;
        let r = self.records[i];
        if r.start != start || r.has(flag::SACKED) {
            return None;
        }
        let len = r.len();
        self.resent_below = self.resent_below.max(id + 1);
        let mut flags = r.flags | flag::EVER_RETRANS;
        if in_pipe && !r.has(flag::RETRANS) {
            flags |= flag::RETRANS;
            self.retrans.add(len);
            if r.has(flag::LOST) {
                self.lost_pending.sub(len);
            }
        }
        self.unlink(id);
        if let Some(rec) = self.get_mut(id) {
            rec.flags = flags;
            rec.xmit = now;
        }
        // In flight again (unless a probe resent a segment still awaiting
        // its retransmission): newest on the transmission-order list.
        let awaiting = flags & flag::LOST != 0 && flags & flag::RETRANS == 0;
        if !awaiting {
            self.link_tail(id);
        }
        if id >= self.rtx_hint && r.has(flag::LOST) {
            self.rtx_hint = id + 1;
        }
        Some(r.end)
    }

    fn remove_flags_tallies(&mut self, r: &Record) {
        let len = r.len();
        self.total.sub(len);
        if r.has(flag::SACKED) {
            self.sacked.sub(len);
        }
        if r.has(flag::LOST) {
            self.lost.sub(len);
            if !r.has(flag::RETRANS) {
                self.lost_pending.sub(len);
            }
        }
        if r.has(flag::RETRANS) {
            self.retrans.sub(len);
        }
    }

    /// A cumulative ACK up to `ack`. `deliver` sees every record newly
    /// delivered by it (not those SACKed before), in sequence order.
    pub fn cum_ack(&mut self, ack: SeqNum, mut deliver: impl FnMut(&Delivered)) -> CumAck {
        let mut out = CumAck::default();
        if !ack.after(self.una) {
            return out;
        }
        let ack = if ack.after(self.nxt) { self.nxt } else { ack };
        while let Some(&front) = self.records.front() {
            if front.end.before_eq(ack) {
                let id = self.first_id;
                self.unlink(id);
                self.remove_flags_tallies(&front);
                if id < self.lost_hint && front.has(flag::SACKED) {
                    self.lost_hint_sacked = self.lost_hint_sacked.saturating_sub(front.len());
                }
                self.records.pop_front();
                self.first_id += 1;
                if !front.has(flag::SACKED) {
                    out.count(&front);
                }
                deliver(&front.delivered());
            } else {
                if front.start.before(ack) {
                    // Part of the front segment: trim it.
                    let cut = ack.since(front.start);
                    for (f, tally) in [
                        (flag::SACKED, &mut self.sacked),
                        (flag::LOST, &mut self.lost),
                        (flag::RETRANS, &mut self.retrans),
                    ] {
                        if front.has(f) {
                            tally.trim(cut);
                        }
                    }
                    if front.has(flag::LOST) && !front.has(flag::RETRANS) {
                        self.lost_pending.trim(cut);
                    }
                    if self.lost_hint > self.first_id && front.has(flag::SACKED) {
                        self.lost_hint_sacked = self.lost_hint_sacked.saturating_sub(cut);
                    }
                    self.total.trim(cut);
                    if !front.has(flag::SACKED) {
                        out.delivered.bytes = out.delivered.bytes.saturating_add(cut);
                    }
                    if let Some(r) = self.records.front_mut() {
                        r.start = ack;
                    }
                }
                break;
            }
        }
        self.advance_una(ack);
        out
    }

    /// SND.UNA moves to `ack` once the records below it have left: the
    /// SACKed ranges below it are forgotten and the lost and retransmit
    /// hints start no earlier than the first record left.
    #[inline(always)]
    fn advance_una(&mut self, ack: SeqNum) {
        self.una_offset += u64::from(ack.since(self.una));
        self.una = ack;
        if self.records.is_empty() {
            self.nxt = ack;
        }
        self.sacked_ranges.remove_front(self.una_offset);
        if self.lost_hint < self.first_id {
            self.lost_hint = self.first_id;
            self.lost_hint_sacked = 0;
        }
        self.rtx_hint = self.rtx_hint.max(self.first_id);
    }

    /// [`Scoreboard::cum_ack`] of everything recorded (`ack` is SND.NXT)
    /// when nothing is SACKed, marked lost or in a retransmission: the
    /// in-order ACK's case (a request, a response, a FIN acknowledged
    /// whole). Every record leaves, so the deque is cleared once and the
    /// transmission-order list ends empty instead of each record being
    /// unlinked and popped; the result and the scoreboard are
    /// `cum_ack`'s (tests compare the two). Anything else goes to
    /// `cum_ack`.
    ///
    /// `deliver` sees every record, except when none of them was ever
    /// retransmitted: then it sees only the last, which stands for all of
    /// them. Records never resent were sent in sequence order, so the last
    /// is the most recently sent (RFC 8985 §6.2 `RACK_sent_after`: a later
    /// or equal send time and a higher sequence number) and has the
    /// smallest RTT: what RACK and the RTT sample take of a delivery
    /// (`Episode::on_ack_of_all_in_order`) is the same. A bulk sender's
    /// ACK of a run of segments then costs what an ACK of one does.
    pub fn acknowledge_all(&mut self, ack: SeqNum, mut deliver: impl FnMut(&Delivered)) -> CumAck {
        if ack != self.nxt
            || !ack.after(self.una)
            || (self.sacked.segs | self.lost.segs | self.retrans.segs) != 0
        {
            return self.cum_ack(ack, deliver);
        }
        if self.resent_below <= self.first_id
            && let (Some(first), Some(last)) = (self.records.front(), self.records.back())
        {
            let n = self.records.len();
            // RFC 9293 §3.10.7.4: every record is acknowledged and leaves;
            // the records are contiguous from SND.UNA to SND.NXT = `ack`.
            let out = CumAck {
                delivered: Tally {
                    bytes: ack.since(self.una),
                    segs: n as u32,
                },
                original_acked: true,
                lowest_original: Some(first.start),
            };
            deliver(&last.delivered());
            self.first_id += n as u64;
            self.records.clear();
            self.total = Tally::default();
            self.t_head = NONE;
            self.t_tail = NONE;
            self.advance_una(ack);
            return out;
        }
        let mut out = CumAck::default();
        self.first_id += self.records.len() as u64;
        // Popped, not iterated and cleared: a request's, a response's or a
        // FIN's flight is one record, and one `pop_front` is cheaper than
        // the deque's two-slice iteration and `clear`.
        while let Some(r) = self.records.pop_front() {
            self.total.sub(r.len());
            // RFC 9293 §3.10.7.4: "Any segments on the retransmission queue
            // that are thereby entirely acknowledged are removed." None is
            // SACKed.
            out.count(&r);
            deliver(&r.delivered());
        }
        self.t_head = NONE;
        self.t_tail = NONE;
        // `ack` is SND.NXT and no record is left: `advance_una` leaves
        // SND.NXT as it is.
        self.advance_una(ack);
        out
    }

    /// Applies one valid SACK block `start..end` (RFC 2018 §3): every
    /// record it wholly covers becomes SACKed. `deliver` sees each record
    /// newly SACKed.
    pub fn sack(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        out: &mut SackUpdate,
        mut deliver: impl FnMut(&Delivered),
    ) {
        let start = if start.before(self.una) {
            self.una
        } else {
            start
        };
        let end = if end.after(self.nxt) { self.nxt } else { end };
        let mut pos = start;
        while pos.before(end) {
            let off = self.offset(pos);
            if let Some(r) = self.sacked_ranges.range_containing(off) {
                pos = self.seq_of(r.end);
                continue;
            }
            let Some(i) = self.index_of(pos) else {
                break;
            };
            let rec = self.records[i];
            if rec.start.before(pos) {
                // Only partly covered on the left: skip it.
                pos = rec.end;
                continue;
            }
            if rec.end.after(end) {
                break; // only partly covered on the right
            }
            let range = self.offset(rec.start)..self.offset(rec.end);
            if self.sacked_ranges.insert(range).is_err() {
                out.discarded += 1;
                break;
            }
            let id = self.first_id + i as u64;
            self.mark_sacked(id, &rec);
            out.delivered.add(rec.len());
            if !rec.has(flag::EVER_RETRANS) {
                out.original_sacked = true;
                if out.lowest_original.is_none_or(|s| rec.start.before(s)) {
                    out.lowest_original = Some(rec.start);
                }
            }
            // Newly SACKed: not SACKed before.
            deliver(&Delivered {
                was_sacked: false,
                ..rec.delivered()
            });
            pos = rec.end;
        }
    }

    fn mark_sacked(&mut self, id: u64, rec: &Record) {
        let len = rec.len();
        self.unlink(id);
        if rec.has(flag::LOST) {
            self.lost.sub(len);
            if !rec.has(flag::RETRANS) {
                self.lost_pending.sub(len);
            }
        }
        if rec.has(flag::RETRANS) {
            self.retrans.sub(len);
        }
        self.sacked.add(len);
        if id < self.lost_hint {
            self.lost_hint_sacked = self.lost_hint_sacked.saturating_add(len);
        }
        if let Some(r) = self.get_mut(id) {
            r.flags = (r.flags & !(flag::LOST | flag::RETRANS)) | flag::SACKED;
        }
    }

    /// Marks record `id` lost. Returns whether it changed anything, and
    /// whether a retransmission was lost (Linux `TCPLostRetransmit`).
    fn mark_lost_id(&mut self, id: u64) -> (bool, bool) {
        let Some(&r) = self.get(id) else {
            return (false, false);
        };
        if r.has(flag::SACKED) || (r.has(flag::LOST) && !r.has(flag::RETRANS)) {
            return (false, false);
        }
        let len = r.len();
        let lost_retransmission = r.has(flag::RETRANS);
        if lost_retransmission {
            self.retrans.sub(len);
        }
        if !r.has(flag::LOST) {
            self.lost.add(len);
        }
        self.lost_pending.add(len);
        self.unlink(id);
        if let Some(rec) = self.get_mut(id) {
            rec.flags = (rec.flags & !flag::RETRANS) | flag::LOST;
        }
        self.rtx_hint = self.rtx_hint.min(id);
        (true, lost_retransmission)
    }

    /// Marks the segment at SND.UNA lost (RFC 6582 §3.2 and RFC 6298 §5.4:
    /// "retransmit the first unacknowledged segment"), even if a
    /// retransmission of it is in flight. Returns whether it was marked.
    pub fn mark_head_lost(&mut self) -> bool {
        let id = self.first_id;
        match self.get(id) {
            Some(r) if !r.has(flag::SACKED) && !r.has(flag::LOST) => self.mark_lost_id(id).0,
            Some(r) if r.has(flag::RETRANS) => self.mark_lost_id(id).0,
            _ => false,
        }
    }

    /// RFC 6675 §4 IsLost, applied from the front: an unSACKed segment is
    /// lost when "more than (DupThresh - 1) * SMSS bytes with sequence
    /// numbers greater than" it have been SACKed. Segments already
    /// retransmitted are left to RACK and the timer. Returns the number of
    /// segments newly marked. Amortised O(1): the examined prefix is kept.
    pub fn mark_lost_by_dupthresh(&mut self, dupthresh: u32, mss: u32) -> u32 {
        if self.sacked.bytes == 0 {
            return 0;
        }
        let limit = dupthresh.saturating_sub(1).saturating_mul(mss);
        let mut marked = 0;
        let mut id = self.lost_hint.max(self.first_id);
        let mut sacked_before = self.lost_hint_sacked;
        while let Some(&r) = self.get(id) {
            if r.has(flag::SACKED) {
                sacked_before = sacked_before.saturating_add(r.len());
            } else {
                let above = self.sacked.bytes.saturating_sub(sacked_before);
                if above <= limit {
                    break;
                }
                if !r.has(flag::LOST) && !r.has(flag::EVER_RETRANS) && self.mark_lost_id(id).0 {
                    marked += 1;
                }
            }
            id += 1;
        }
        self.lost_hint = id;
        self.lost_hint_sacked = sacked_before;
        marked
    }

    /// After a retransmission timeout: every segment not SACKed is lost
    /// (RFC 6675 §5.1 with RFC 5681's go-back-N). If the segment at
    /// SND.UNA is SACKed the receiver reneged (RFC 2018 §8): every SACK mark
    /// is forgotten first. Returns whether it reneged. O(n), once per timeout.
    pub fn mark_all_lost(&mut self) -> bool {
        let reneged = self.records.front().is_some_and(|r| r.has(flag::SACKED));
        if reneged {
            for r in self.records.iter_mut() {
                r.flags &= !flag::SACKED;
            }
            self.sacked = Tally::default();
            self.sacked_ranges.clear();
        }
        for id in self.first_id..self.end_id() {
            let Some(&r) = self.get(id) else {
                break;
            };
            if !r.has(flag::SACKED) && (!r.has(flag::LOST) || r.has(flag::RETRANS)) {
                self.mark_lost_id(id);
            }
        }
        self.lost_hint = self.first_id;
        self.lost_hint_sacked = 0;
        self.rtx_hint = self.first_id;
        reneged
    }

    /// A spurious loss episode is undone: nothing is lost any more, and the
    /// transmission-order list is rebuilt (O(n log n), once per undo).
    pub fn unmark_all_lost(&mut self) {
        for r in self.records.iter_mut() {
            r.flags &= !(flag::LOST | flag::LINKED);
        }
        self.lost = Tally::default();
        self.lost_pending = Tally::default();
        let mut order: Vec<(Instant, u64)> = (self.first_id..self.end_id())
            .filter(|&id| self.get(id).is_some_and(|r| !r.has(flag::SACKED)))
            .filter_map(|id| self.get(id).map(|r| (r.xmit, id)))
            .collect();
        order.sort_unstable();
        self.t_head = NONE;
        self.t_tail = NONE;
        for (_, id) in order {
            self.link_tail(id);
        }
        self.lost_hint = self.first_id;
        self.lost_hint_sacked = 0;
        self.rtx_hint = self.end_id();
    }

    /// RFC 6675 NextSeg rule (1) (and after a timeout, the go-back-N
    /// order): the lowest lost segment not yet retransmitted.
    pub fn next_lost(&mut self) -> Option<(SeqNum, SeqNum)> {
        if self.lost_pending.segs == 0 {
            return None;
        }
        let mut id = self.rtx_hint.max(self.first_id);
        while let Some(&r) = self.get(id) {
            if r.has(flag::LOST) && !r.has(flag::RETRANS) && !r.has(flag::SACKED) {
                self.rtx_hint = id;
                return Some((r.start, r.end));
            }
            id += 1;
        }
        self.rtx_hint = id;
        None
    }

    /// RFC 6675 NextSeg rule (3): the lowest unSACKed segment above
    /// `high_rxt` and below the highest SACKed byte, never retransmitted.
    pub fn first_unsacked_above(&self, high_rxt: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let high_sacked = self.highest_sacked()?;
        let from = if high_rxt.after(self.una) {
            high_rxt
        } else {
            self.una
        };
        let mut pos = from;
        while pos.before(high_sacked) {
            if let Some(r) = self.sacked_ranges.range_containing(self.offset(pos)) {
                pos = self.seq_of(r.end);
                continue;
            }
            let i = self.index_of(pos)?;
            let r = self.records[i];
            if !r.has(flag::EVER_RETRANS) && !r.has(flag::SACKED) && r.start.after_eq(from) {
                return Some((r.start, r.end));
            }
            pos = r.end;
        }
        None
    }

    /// RFC 6675 NextSeg rule (4), the rescue retransmission: the segment
    /// holding the highest unSACKed byte.
    pub fn last_unsacked(&self) -> Option<(SeqNum, SeqNum)> {
        let last = self.records.back()?;
        if !last.has(flag::SACKED) {
            return Some((last.start, last.end));
        }
        // The trailing SACKed run ends at SND.NXT; the record before it.
        let run = self.sacked_ranges.last()?;
        let before = self.seq_of(run.start);
        let i = self.index_of(before - 1u32)?;
        let r = self.records[i];
        (!r.has(flag::SACKED)).then_some((r.start, r.end))
    }

    /// The last segment sent (a tail loss probe's retransmission, RFC 8985 §7.3).
    pub fn last(&self) -> Option<(SeqNum, SeqNum)> {
        self.records.back().map(|r| (r.start, r.end))
    }

    /// Whether the segment starting at `start` was ever retransmitted.
    pub fn was_retransmitted(&self, start: SeqNum) -> bool {
        self.index_of(start)
            .is_some_and(|i| self.records[i].has(flag::EVER_RETRANS))
    }

    /// Segments wholly inside `start..end` that were ever retransmitted (a
    /// D-SACK for them means a retransmission was unnecessary).
    pub fn retransmitted_within(&self, start: SeqNum, end: SeqNum) -> u32 {
        let Some(mut i) = self.index_of(start) else {
            return 0;
        };
        let mut n = 0;
        while let Some(r) = self.records.get(i) {
            if r.end.after(end) {
                break;
            }
            if r.start.after_eq(start) && r.has(flag::EVER_RETRANS) {
                n += 1;
            }
            i += 1;
        }
        n
    }

    /// Walks the segments in flight in transmission order, oldest first
    /// (RACK's order, RFC 8985 §6.2). `visit` sees each one's
    /// (start, end, last transmission, ever retransmitted) and says what to
    /// do. Returns the segments marked lost and how many of them were
    /// retransmissions.
    pub fn scan_by_send_time(
        &mut self,
        mut visit: impl FnMut(SeqNum, SeqNum, Instant, bool) -> Scan,
    ) -> (u32, u32) {
        let (mut marked, mut lost_rtx) = (0, 0);
        let mut id = self.t_head;
        while let Some(&r) = self.get(id) {
            let next = r.next;
            match visit(r.start, r.end, r.xmit, r.has(flag::EVER_RETRANS)) {
                Scan::Stop => break,
                Scan::Keep => {}
                Scan::Lost => {
                    let (changed, was_rtx) = self.mark_lost_id(id);
                    marked += u32::from(changed);
                    lost_rtx += u32::from(was_rtx);
                }
            }
            id = next;
        }
        (marked, lost_rtx)
    }

    /// Checks every invariant (tests and debug builds).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let mut expect = (
            Tally::default(),
            Tally::default(),
            Tally::default(),
            Tally::default(),
        );
        let mut total = Tally::default();
        let mut pos = self.una;
        for r in &self.records {
            assert_eq!(r.start, pos, "records are contiguous");
            assert!(r.end.after(r.start));
            pos = r.end;
            total.add(r.len());
            if r.has(flag::SACKED) {
                expect.0.add(r.len());
                assert!(!r.has(flag::LOST | flag::RETRANS | flag::LINKED));
                assert!(
                    self.sacked_ranges
                        .range_containing(self.offset(r.start))
                        .is_some()
                );
            }
            if r.has(flag::LOST) {
                expect.1.add(r.len());
                if !r.has(flag::RETRANS) {
                    expect.3.add(r.len());
                    assert!(!r.has(flag::LINKED));
                }
            }
            if r.has(flag::RETRANS) {
                expect.2.add(r.len());
            }
        }
        assert_eq!(pos, self.nxt);
        assert_eq!(total.bytes, self.total.bytes);
        assert_eq!(expect.0.bytes, self.sacked.bytes);
        assert_eq!(expect.1.bytes, self.lost.bytes);
        assert_eq!(expect.2.bytes, self.retrans.bytes);
        assert_eq!(expect.3.bytes, self.lost_pending.bytes);
        // The transmission-order list holds exactly the linked records, in
        // non-decreasing send time.
        let mut n = 0;
        let mut id = self.t_head;
        let mut last = Instant::ZERO;
        let mut prev = NONE;
        while let Some(r) = self.get(id) {
            assert!(r.has(flag::LINKED));
            assert_eq!(r.prev, prev);
            assert!(r.xmit >= last, "send order");
            last = r.xmit;
            prev = id;
            id = r.next;
            n += 1;
        }
        assert_eq!(prev, self.t_tail);
        let linked = self.records.iter().filter(|r| r.has(flag::LINKED)).count();
        assert_eq!(n, linked);
        let covered: u64 = self.sacked_ranges.covered_bytes();
        assert_eq!(covered, u64::from(self.sacked.bytes));
    }
}

/// What [`Scoreboard::scan_by_send_time`] does with one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// Mark it lost.
    Lost,
    /// Leave it; look at the next.
    Keep,
    /// Leave it and stop.
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MSS: u32 = 1000;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// `n` segments of MSS from `una`, one per ms.
    fn board(una: u32, n: u32) -> Scoreboard {
        let mut s = Scoreboard::new(SeqNum(una), 1024, 64);
        for i in 0..n {
            let start = SeqNum(una) + i * MSS;
            assert!(s.push(start, start + MSS, t(u64::from(i))));
        }
        s.check();
        s
    }

    fn seg(una: u32, i: u32) -> SeqNum {
        SeqNum(una) + i * MSS
    }

    fn sack(s: &mut Scoreboard, start: SeqNum, end: SeqNum) -> SackUpdate {
        let mut out = SackUpdate::default();
        s.sack(start, end, &mut out, |_| {});
        s.check();
        out
    }

    #[test]
    fn pipe_follows_rfc6675() {
        // RFC 6675 §4 pipe: 10 segments out, 3 SACKed, 2 lost, 1 of those
        // retransmitted: 10 - 3 - 2 + 1 = 6 segments.
        let mut s = board(0, 10);
        sack(&mut s, seg(0, 5), seg(0, 8));
        assert_eq!(s.pipe(0), 7 * MSS);
        // IsLost with DupThresh 3: segments below 3 SACKed segments.
        assert_eq!(s.mark_lost_by_dupthresh(3, MSS), 5);
        assert_eq!(s.lost().segs, 5);
        s.check();
        assert_eq!(s.pipe(0), 2 * MSS);
        assert_eq!(s.next_lost(), Some((seg(0, 0), seg(0, 1))));
        s.on_retransmitted(seg(0, 0), t(100), true);
        s.check();
        assert_eq!(s.pipe(0), 3 * MSS);
        assert_eq!(s.next_lost(), Some((seg(0, 1), seg(0, 2))));
    }

    #[test]
    fn is_lost_needs_more_than_dupthresh_minus_one_segments_sacked_above() {
        let mut s = board(0, 10);
        sack(&mut s, seg(0, 3), seg(0, 5));
        // Two segments SACKed above 0..3: not more than 2 * MSS.
        assert_eq!(s.mark_lost_by_dupthresh(3, MSS), 0);
        sack(&mut s, seg(0, 6), seg(0, 7));
        // Three above 0, 1, 2: lost; segment 5 has one above: not lost.
        assert_eq!(s.mark_lost_by_dupthresh(3, MSS), 3);
        assert_eq!(s.lost_pending().segs, 3);
        s.check();
    }

    #[test]
    fn cumulative_acks_pop_and_trim_and_keep_the_counters() {
        let mut s = board(100, 5);
        sack(&mut s, seg(100, 3), seg(100, 4));
        let mut seen = Vec::new();
        let a = s.cum_ack(seg(100, 2) + 500u32, |d| seen.push(d.start));
        s.check();
        assert_eq!(seen, [seg(100, 0), seg(100, 1)]);
        assert_eq!(a.delivered.bytes, 2 * MSS + 500);
        assert!(a.original_acked);
        assert_eq!(s.una(), seg(100, 2) + 500u32);
        assert_eq!(s.total().bytes, 2 * MSS + 500);
        // Past the SACKed segment: it is not delivered twice.
        let a = s.cum_ack(seg(100, 5), |_| {});
        s.check();
        assert_eq!(a.delivered.bytes, 500 + MSS);
        assert!(s.is_empty());
        assert_eq!(s.sacked().bytes, 0);
    }

    #[test]
    fn partly_covered_records_are_not_sacked() {
        let mut s = board(0, 4);
        let out = sack(&mut s, seg(0, 1) + 1u32, seg(0, 3) - 1u32);
        assert_eq!(out.delivered.segs, 0);
        let out = sack(&mut s, seg(0, 1) + 1u32, seg(0, 3));
        assert_eq!(out.delivered.segs, 1, "only the third segment is whole");
    }

    #[test]
    fn a_block_spanning_sacked_data_costs_only_the_new_segments() {
        let mut s = board(0, 100);
        sack(&mut s, seg(0, 10), seg(0, 90));
        let mut visited = 0;
        let mut out = SackUpdate::default();
        s.sack(seg(0, 5), seg(0, 95), &mut out, |_| visited += 1);
        assert_eq!(visited, 10, "5..10 and 90..95");
        s.check();
    }

    #[test]
    fn rack_scan_walks_in_send_order_and_retransmissions_move_to_the_end() {
        let mut s = board(0, 5);
        s.mark_all_lost();
        s.on_retransmitted(seg(0, 0), t(50), true);
        s.check();
        // Only the retransmission is in flight on the list now.
        let mut order = Vec::new();
        s.scan_by_send_time(|start, _, _, _| {
            order.push(start);
            Scan::Keep
        });
        assert_eq!(order, [seg(0, 0)]);
        // RACK marks the retransmission lost again.
        let (marked, rtx) = s.scan_by_send_time(|_, _, _, _| Scan::Lost);
        assert_eq!((marked, rtx), (1, 1));
        assert_eq!(s.retrans().segs, 0);
        assert_eq!(s.next_lost(), Some((seg(0, 0), seg(0, 1))));
        s.check();
    }

    #[test]
    fn a_timeout_with_a_sacked_head_means_the_receiver_reneged() {
        let mut s = board(0, 4);
        sack(&mut s, seg(0, 1), seg(0, 2));
        assert!(!s.mark_all_lost());
        assert_eq!(s.lost().segs, 3);
        s.check();
        // A SACKed head (the cumulative ACK stopped inside SACKed data).
        let mut s = board(0, 4);
        sack(&mut s, seg(0, 1), seg(0, 4));
        s.cum_ack(seg(0, 1), |_| {});
        // Forge the impossible state: the receiver SACKed what is now the head.
        assert!(s.records[0].has(flag::SACKED));
        assert!(s.mark_all_lost());
        assert_eq!((s.sacked().segs, s.lost().segs), (0, 3));
        s.check();
    }

    #[test]
    fn undo_unmarks_and_relinks_in_send_order() {
        let mut s = board(0, 6);
        s.mark_all_lost();
        s.on_retransmitted(seg(0, 2), t(100), true);
        s.unmark_all_lost();
        s.check();
        let mut order = Vec::new();
        s.scan_by_send_time(|start, _, _, _| {
            order.push(start.raw() / MSS);
            Scan::Keep
        });
        assert_eq!(order, [0, 1, 3, 4, 5, 2]);
    }

    #[test]
    fn rescue_and_rule_three_candidates() {
        let mut s = board(0, 8);
        sack(&mut s, seg(0, 2), seg(0, 3));
        sack(&mut s, seg(0, 6), seg(0, 8));
        assert_eq!(s.last_unsacked(), Some((seg(0, 5), seg(0, 6))));
        assert_eq!(
            s.first_unsacked_above(seg(0, 0)),
            Some((seg(0, 0), seg(0, 1)))
        );
        assert_eq!(
            s.first_unsacked_above(seg(0, 2)),
            Some((seg(0, 3), seg(0, 4)))
        );
        assert_eq!(s.last(), Some((seg(0, 7), seg(0, 8))));
    }

    #[test]
    fn the_first_record_allocates_what_growth_would_and_release_frees_it() {
        // The up-front allocation of an episode's first record is exactly
        // the deque's first growth: the same bytes as before, and the
        // fifth record grows it the usual way.
        assert_eq!(core::mem::size_of::<Record>(), 40);
        let grown = {
            let mut d: VecDeque<Record> = VecDeque::new();
            d.push_back(Record {
                start: SeqNum(0),
                end: SeqNum(1),
                xmit: t(0),
                flags: 0,
                prev: NONE,
                next: NONE,
            });
            d.capacity()
        };
        assert_eq!(grown, FIRST_RECORDS);
        let mut s = Scoreboard::new(SeqNum(0), 1024, 64);
        assert_eq!(s.allocated(), 0);
        for round in 0..2u32 {
            // Round 1 reuses the scoreboard after its release.
            let base = SeqNum(round * 5 * MSS);
            assert!(s.push(base, base + MSS, t(0)));
            assert_eq!(s.allocated(), FIRST_RECORDS * 40, "round {round}");
            for i in 1..5 {
                assert!(s.push(base + i * MSS, base + (i + 1) * MSS, t(0)));
            }
            assert_eq!(s.allocated(), 2 * FIRST_RECORDS * 40, "round {round}");
            s.check();
            s.cum_ack(base + 5 * MSS, |_| {});
            s.release_if_empty();
            assert_eq!(s.allocated(), 0, "round {round}");
        }
    }

    #[test]
    fn a_shed_scoreboard_keeps_only_a_first_record_buffer_for_the_next() {
        // Two records with a SACKed range: the buffer is the first one
        // (kept), the ranges are freed; the next scoreboard adopts the
        // buffer and its first push allocates nothing more.
        let mut s = board(0, 2);
        sack(&mut s, seg(0, 1), seg(0, 2));
        assert!(s.allocated() > FIRST_RECORDS * 40);
        s.shed();
        assert_eq!(s.allocated(), FIRST_RECORDS * 40);
        assert!(s.is_empty());
        let mut next = Scoreboard::new(SeqNum(7), 1024, 64);
        next.adopt_records(s.take_records());
        assert_eq!(s.allocated(), 0);
        assert_eq!(next.allocated(), FIRST_RECORDS * 40);
        assert!(next.push(SeqNum(7), SeqNum(7) + MSS, t(0)));
        assert_eq!(next.allocated(), FIRST_RECORDS * 40);
        next.check();
        // A grown buffer (five records) is freed, not kept: a scoreboard
        // that adopts nothing allocates on its first push as usual.
        let mut grown = board(0, 5);
        grown.shed();
        assert_eq!(grown.allocated(), 0);
        let spare = grown.take_records();
        let mut fresh = Scoreboard::new(SeqNum(0), 1024, 64);
        fresh.adopt_records(spare);
        assert_eq!(fresh.allocated(), 0);
    }

    #[test]
    fn the_record_cap_refuses_more() {
        let mut s = Scoreboard::new(SeqNum(0), 2, 4);
        assert!(s.push(SeqNum(0), SeqNum(10), t(0)));
        assert!(s.push(SeqNum(10), SeqNum(20), t(0)));
        assert!(!s.has_room());
        assert!(!s.push(SeqNum(20), SeqNum(30), t(0)));
        assert!(!s.push(SeqNum(5), SeqNum(30), t(0)), "not contiguous");
    }

    #[test]
    fn the_sacked_range_cap_discards_blocks_needing_more() {
        let mut s = Scoreboard::new(SeqNum(0), 100, 2);
        for i in 0..10 {
            s.push(seg(0, i), seg(0, i + 1), t(0));
        }
        sack(&mut s, seg(0, 1), seg(0, 2));
        sack(&mut s, seg(0, 3), seg(0, 4));
        let out = sack(&mut s, seg(0, 5), seg(0, 6));
        assert_eq!(out.discarded, 1);
        // Extending an existing range still works.
        let out = sack(&mut s, seg(0, 2), seg(0, 3));
        assert_eq!(out.delivered.segs, 1);
    }

    #[test]
    fn works_across_sequence_wrap() {
        let una = u32::MAX - 2500;
        let mut s = board(una, 6);
        sack(&mut s, seg(una, 3), seg(una, 5));
        assert_eq!(s.highest_sacked(), Some(seg(una, 5)));
        assert_eq!(s.mark_lost_by_dupthresh(2, MSS), 3);
        s.cum_ack(seg(una, 4), |_| {});
        s.check();
        assert_eq!(s.total().segs, 2);
    }

    /// One operation of the property test.
    #[derive(Clone, Debug)]
    enum Op {
        Send(u32),
        Ack(u32),
        Sack(u32, u32),
        Retransmit,
        DupThresh(u32),
        Timeout,
        Rack(u8),
        Undo,
    }

    /// `acknowledge_all` and `cum_ack` of SND.NXT on two copies of `s`:
    /// each one's result, the records it delivered, and the scoreboard
    /// after (as `Debug`).
    fn acknowledge_all_beside_cum_ack(s: &Scoreboard) -> (String, String) {
        let run = |all: bool| {
            let mut b = s.clone();
            let mut seen = Vec::new();
            let out = if all {
                b.acknowledge_all(s.nxt(), |d| seen.push(*d))
            } else {
                b.cum_ack(s.nxt(), |d| seen.push(*d))
            };
            b.check();
            // Of records none of which was resent, `acknowledge_all`
            // delivers the last alone (its docs).
            let whole = (s.sacked.segs | s.lost.segs | s.retrans.segs) == 0;
            if !all && whole && seen.iter().all(|d| !d.retransmitted) {
                seen.drain(..seen.len().saturating_sub(1));
            }
            format!("{out:?} {seen:?} {b:?}")
        };
        (run(true), run(false))
    }

    #[test]
    fn acknowledging_everything_at_once_is_a_cumulative_ack() {
        // Three records, none SACKed, lost or retransmitted: every record
        // goes at once, in order, as `cum_ack` would deliver them.
        let s = board(1000, 3);
        let (all, cum) = acknowledge_all_beside_cum_ack(&s);
        assert_eq!(all, cum);
        let mut b = s.clone();
        let mut seen = Vec::new();
        let out = b.acknowledge_all(s.nxt(), |d| seen.push(d.start));
        assert_eq!(out.delivered.segs, 3);
        assert_eq!(out.lowest_original, Some(seg(1000, 0)));
        // None was resent: the last stands for all three.
        assert_eq!(seen, [seg(1000, 2)]);
        assert!(b.is_empty());
        assert_eq!((b.una(), b.nxt()), (s.nxt(), s.nxt()));
        // Something SACKed: `cum_ack` does it (same result).
        let mut s = board(1000, 3);
        sack(&mut s, seg(1000, 1), seg(1000, 2));
        let (all, cum) = acknowledge_all_beside_cum_ack(&s);
        assert_eq!(all, cum);
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u32..3000).prop_map(Op::Send),
            2 => any::<u32>().prop_map(Op::Ack),
            4 => (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Op::Sack(a, b)),
            2 => Just(Op::Retransmit),
            1 => (1u32..6).prop_map(Op::DupThresh),
            1 => Just(Op::Timeout),
            1 => any::<u8>().prop_map(Op::Rack),
            1 => Just(Op::Undo),
        ]
    }

    proptest! {
        /// A packet's pieces recorded at once are what recording each in
        /// turn records (records, links, tallies), whatever the scoreboard
        /// held before, the piece size, the packet's length and the room
        /// left (a packet the cap cuts records the pieces that fit).
        #[test]
        fn pushed_pieces_are_the_pieces_pushed_one_by_one(
            una in any::<u32>(),
            before in 0u32..6,
            piece in 1u32..3000,
            len in 1u32..60_000,
            max in 1usize..40,
        ) {
            let mut one_by_one = Scoreboard::new(SeqNum(una), max, 8);
            for i in 0..before {
                let start = SeqNum(una) + i * MSS;
                one_by_one.push(start, start + MSS, t(1));
            }
            let mut at_once = one_by_one.clone();
            let start = one_by_one.nxt;
            let end = start + len;
            let mut at = start;
            let mut pushed_any = false;
            while at != end {
                let piece_end = if end.since(at) > piece { at + piece } else { end };
                let pushed = one_by_one.push(at, piece_end, t(2));
                pushed_any |= pushed;
                if !pushed {
                    break;
                }
                at = piece_end;
            }
            prop_assert_eq!(at_once.push_pieces(start, end, piece, t(2)), pushed_any);
            at_once.check();
            prop_assert_eq!(format!("{at_once:?}"), format!("{one_by_one:?}"));
        }
    }

    proptest! {
        /// Hostile SACK blocks (any 32-bit edges: reversed, wrapped, outside
        /// SND.UNA..SND.NXT, tiny) and any mix of events keep every counter
        /// exact, never panic, and never exceed the caps.
        #[test]
        fn hostile_blocks_and_any_events_keep_the_scoreboard_consistent(
            una in any::<u32>(),
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let mut s = Scoreboard::new(SeqNum(una), 64, 8);
            let mut now = 0u64;
            for op in ops {
                now += 1;
                match op {
                    Op::Send(len) => {
                        let start = s.nxt();
                        let _ = s.push(start, start + len, t(now));
                    }
                    Op::Ack(x) => {
                        // Anywhere: only acceptable ACKs (una..=nxt) reach it in
                        // the engine, but the scoreboard must cope regardless.
                        let ack = SeqNum(x);
                        if ack.in_closed(s.una(), s.nxt()) {
                            s.cum_ack(ack, |_| {});
                        }
                    }
                    Op::Sack(a, b) => {
                        let blocks = [(SeqNum(a), SeqNum(b)), (s.una() + (a % 5000), s.una() + (b % 5000))];
                        let mut kinds = [super::super::BlockKind::Invalid; 4];
                        super::super::validate(&blocks, s.una(), s.una(), s.nxt(), &mut kinds);
                        let mut out = SackUpdate::default();
                        for (k, &(l, r)) in kinds.iter().zip(&blocks) {
                            if *k == super::super::BlockKind::Sack {
                                s.sack(l, r, &mut out, |_| {});
                            }
                        }
                    }
                    Op::Retransmit => {
                        if let Some((start, _)) = s.next_lost() {
                            s.on_retransmitted(start, t(now), true);
                        }
                    }
                    Op::DupThresh(d) => { s.mark_lost_by_dupthresh(d, 1000); }
                    Op::Timeout => { s.mark_all_lost(); }
                    Op::Rack(k) => {
                        let mut n = 0u8;
                        s.scan_by_send_time(|_, _, _, _| {
                            n = n.wrapping_add(1);
                            if n % 3 == k % 3 { Scan::Lost } else { Scan::Keep }
                        });
                    }
                    Op::Undo => s.unmark_all_lost(),
                }
                s.check();
                // Acknowledging everything now: the whole-board path gives
                // `cum_ack`'s result, deliveries and scoreboard.
                if s.nxt().after(s.una()) {
                    let (all, cum) = acknowledge_all_beside_cum_ack(&s);
                    prop_assert_eq!(all, cum);
                }
                prop_assert!(s.len() <= 64);
                prop_assert!(s.pipe(0) <= s.total().bytes + s.retrans().bytes);
            }
        }
    }
}
