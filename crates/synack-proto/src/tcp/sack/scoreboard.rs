//! The sender's scoreboard: one record per segment in flight (RFC 6675 §3),
//! or per software GSO packet until something needs its segments.
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
//! A GSO packet's segments, recorded at once ([`Scoreboard::push_pieces`]),
//! take one record (a *packet* record: its segment size kept, Linux's one
//! skb per GSO packet) while nothing but new data and the ACK of all of it
//! happens: a bulk sender's in-order ACKs then free a packet as cheaply as
//! one segment. Any other step that reads or marks records by segment
//! (SACK, loss marking, a retransmission, a partial ACK, RACK's walk) first
//! splits every packet record into its segments (`split_packets`, Linux
//! `tcp_fragment`), so it sees exactly the per-segment records (the same
//! ids: a packet of k segments is counted as k ids). Packet records exist
//! only in the *unsplit tail*: from the first one to the last record,
//! every record is in flight and nothing else (no SACK, loss or
//! retransmission mark), sent in sequence order, and the
//! transmission-order list runs through them in that order; nothing
//! earlier points into it but the list's link to its first record, and
//! no hint points past that. Each segment is split once: O(1) per segment.
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
    /// A packet record's segment size (it stands for `segs()` segments of
    /// this size, the last maybe shorter); 0 for one segment.
    piece: u32,
    prev: u64,
    next: u64,
}

impl Record {
    fn len(&self) -> u32 {
        self.end.since(self.start)
    }
    /// The segments it stands for.
    #[inline]
    fn segs(&self) -> u32 {
        if self.piece == 0 {
            1
        } else {
            self.len().div_ceil(self.piece)
        }
    }
    /// Its last segment, as a record of its own (itself for one segment).
    #[inline]
    fn last_segment(&self) -> Record {
        if self.piece == 0 {
            return *self;
        }
        let start = self.start + (self.segs() - 1) * self.piece;
        Record {
            start,
            piece: 0,
            ..*self
        }
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

    /// Segments recorded (a packet record counts its segments).
    pub fn len(&self) -> usize {
        self.total.segs as usize
    }

    /// Whether another segment may be recorded.
    pub fn has_room(&self) -> bool {
        self.len() < self.max_records
    }

    /// How many more segments fit.
    pub fn room(&self) -> u32 {
        u32::try_from(self.max_records.saturating_sub(self.len())).unwrap_or(u32::MAX)
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
        self.append(start, end, 0, now);
        self.total.add(end.since(start));
        true
    }

    /// Appends the record of `start..end` (a packet's of `piece`-byte
    /// segments, or 0 for one segment) sent at `now`, newest on the
    /// transmission-order list (`link_tail`, written out: every segment
    /// sent comes through here), and moves SND.NXT's record to `end`. The
    /// caller checked the order and the room, and counts the bytes.
    #[inline(always)]
    fn append(&mut self, start: SeqNum, end: SeqNum, piece: u32, now: Instant) {
        if self.records.capacity() == 0 {
            // An episode's first record: allocate std's smallest non-zero
            // deque (the first growth's size, so the memory is the same)
            // directly, not through the amortised-growth path, which a
            // short connection (a few records) would take only for this.
            self.records = VecDeque::with_capacity(FIRST_RECORDS);
        }
        let id = self.end_id();
        let tail = self.t_tail;
        self.records.push_back(Record {
            start,
            end,
            xmit: now,
            flags: flag::LINKED,
            piece,
            prev: tail,
            next: NONE,
        });
        match self.get_mut(tail) {
            Some(t) => t.next = id,
            None => self.t_head = id,
        }
        self.t_tail = id;
        self.nxt = end;
    }

    /// Records the segments of `piece` bytes each (the last maybe shorter)
    /// that `start..end` went out as at `now` (a GSO or TSO packet's
    /// pieces): what [`Scoreboard::push`] of each in turn records, as one
    /// packet record (see the module documentation). Returns false,
    /// recording nothing, where that would fail on the first piece;
    /// records the pieces that fit when the scoreboard fills on the way.
    pub fn push_pieces(&mut self, start: SeqNum, end: SeqNum, piece: u32, now: Instant) -> bool {
        if piece == 0 || end.since(start) <= piece {
            return self.push(start, end, now);
        }
        if start != self.nxt || !end.after(start) || !self.has_room() {
            return false;
        }
        let pieces = end.since(start).div_ceil(piece);
        let n = pieces.min(self.room());
        if n == 1 {
            return self.push(start, start + piece, now);
        }
        let end = if n == pieces { end } else { start + n * piece };
        self.append(start, end, piece, now);
        self.total.add_segments(end.since(start), n);
        true
    }

    /// Splits every packet record into the records of its segments (Linux
    /// `tcp_fragment`), before a step that reads or marks records by
    /// segment. Free when there is none.
    #[inline]
    fn split_packets(&mut self) {
        if self.total.segs as usize != self.records.len() {
            self.split_packets_now();
        }
    }

    /// [`Scoreboard::split_packets`] when there are packet records: the
    /// unsplit tail is rewritten in place from the back, each segment a
    /// record with the packet's send time and flags, linked in sequence
    /// order (the tail's transmission order), the first keeping the link
    /// to the record sent before it. Records before the first packet
    /// record keep their places and ids.
    #[inline(never)]
    #[cold]
    fn split_packets_now(&mut self) {
        let held = self.records.len();
        let segs = self.total.segs as usize;
        let Some(&filler) = self.records.back() else {
            return;
        };
        self.records.resize(segs, filler);
        let (mut read, mut write) = (held, segs);
        let mut first_prev = NONE;
        while read < write {
            read -= 1;
            let r = self.records[read];
            first_prev = r.prev;
            let k = r.segs();
            for j in (0..k).rev() {
                write -= 1;
                let id = self.first_id + write as u64;
                let start = r.start + j * r.piece;
                self.records[write] = Record {
                    start,
                    end: if j + 1 == k { r.end } else { start + r.piece },
                    piece: 0,
                    prev: id.wrapping_sub(1),
                    next: id + 1,
                    ..r
                };
            }
        }
        // `write` is where the first packet record was: its first segment
        // keeps that record's link back; the last segment ends the list.
        if let Some(r) = self.records.get_mut(write) {
            r.prev = first_prev;
        }
        if let Some(r) = self.records.back_mut() {
            r.next = NONE;
        }
        self.t_tail = self.end_id() - 1;
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
        self.split_packets();
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
        self.split_packets();
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
            // Segments, packet records counting theirs (the ids they
            // would have had split).
            let n = self.total.segs;
            // RFC 9293 §3.10.7.4: every record is acknowledged and leaves;
            // the records are contiguous from SND.UNA to SND.NXT = `ack`.
            let out = CumAck {
                delivered: Tally {
                    bytes: ack.since(self.una),
                    segs: n,
                },
                original_acked: true,
                lowest_original: Some(first.start),
            };
            // The last segment stands for all (a packet record's last).
            deliver(&last.last_segment().delivered());
            self.first_id += u64::from(n);
            self.records.clear();
            self.total = Tally::default();
            self.t_head = NONE;
            self.t_tail = NONE;
            self.advance_una(ack);
            return out;
        }
        let mut out = CumAck::default();
        self.split_packets();
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
        self.split_packets();
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
        self.split_packets();
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
        self.split_packets();
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
        self.split_packets();
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
        self.split_packets();
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
        self.split_packets();
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
    /// (Packet records all lie above the highest SACKed byte: the walk
    /// never meets one.)
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
            let last = last.last_segment();
            return Some((last.start, last.end));
        }
        // The trailing SACKed run ends at SND.NXT; the record before it
        // (no packet record: the unsplit tail holds nothing SACKed).
        let run = self.sacked_ranges.last()?;
        let before = self.seq_of(run.start);
        let i = self.index_of(before - 1u32)?;
        let r = self.records[i];
        (!r.has(flag::SACKED)).then_some((r.start, r.end))
    }

    /// The last segment sent (a tail loss probe's retransmission, RFC 8985 §7.3).
    pub fn last(&self) -> Option<(SeqNum, SeqNum)> {
        self.records.back().map(|r| {
            let r = r.last_segment();
            (r.start, r.end)
        })
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
        self.split_packets();
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
        // The unsplit tail (module docs): from the first packet record on.
        let mut tail_from: Option<u64> = None;
        for (i, r) in self.records.iter().enumerate() {
            let id = self.first_id + i as u64;
            assert_eq!(r.start, pos, "records are contiguous");
            assert!(r.end.after(r.start));
            pos = r.end;
            total.add_segments(r.len(), r.segs());
            if r.piece != 0 {
                assert!(
                    r.len() > r.piece,
                    "a packet record has two segments or more"
                );
                tail_from.get_or_insert(id);
            }
            if let Some(from) = tail_from {
                assert_eq!(r.flags, flag::LINKED, "the unsplit tail is only in flight");
                if id > from {
                    assert_eq!(r.prev, id - 1, "the unsplit tail is sent in order");
                }
            }
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
        assert_eq!(total.segs, self.total.segs);
        if let Some(from) = tail_from {
            assert_eq!(self.t_tail, self.end_id() - 1);
            assert!(self.lost_hint <= from && self.rtx_hint <= from && self.resent_below <= from);
        }
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
mod tests;
