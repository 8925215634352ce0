//! The send half of a connection: the send sequence space of RFC 9293
//! §3.3.1 and the bytes in it.
//!
//! Read first: RFC 9293 §3.3.1 (SND.UNA, SND.NXT, SND.WND, SND.WL1/WL2, ISS),
//! §3.10.7.4 "fifth, check the ACK field" (what an ACK changes here), RFC
//! 7323 §2.3 (the peer's window scale), RFC 5961 §5.2 (MAX.SND.WND).
//!
//! ```text
//!   iss  buf_seq (= iss + 1)                 data_end  fin
//!    |    |                                       |      |
//!    [SYN][ acked ... | in flight ... | unsent ...][FIN]
//!              una ---^        nxt ---^
//! ```
//!
//! The ring buffer holds the bytes from `buf_seq` on: an ACK discards them
//! from the front, so the buffer always starts at SND.UNA once the SYN is
//! acknowledged. SND.NXT is the highest sequence number sent (plus one), as
//! RFC 9293 and Linux use it: which segments to send again is loss
//! recovery's business ([`crate::tcp::recovery`]); retransmissions never
//! move SND.NXT back.

use core::fmt;

use super::records::RecordBoundaries;
use super::spares::Spares;
use crate::SeqNum;
use crate::storage::RingBuffer;
use crate::tcp::ecn::Ecn;
use crate::tcp::segment::PieceHeader;
use crate::wire::tcp::TcpFlags;

/// Where the FIN is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinState {
    /// The application may still write.
    Open,
    /// The application shut down writing; the FIN follows the data.
    Queued,
    /// The FIN has been sent (it is at `data_end`).
    Sent,
}

/// The send sequence space and the send buffer.
///
/// An idle half is 56 bytes: the sequence space, the window, the buffer
/// limit and one pointer. What only queued data needs (the ring, MSG_EOR
/// record boundaries, the Nagle and GSO packet ends) lives in one
/// [`SendBlock`], made by the first byte queued and freed with the buffer
/// by [`SendHalf::release_if_empty`] once everything was acknowledged and
/// the connection stayed idle for [`super::IDLE_RELEASE`] (DESIGN.md §4):
/// once per busy period, never per segment.
pub struct SendHalf {
    /// ISS: our initial sequence number; the SYN occupies it.
    pub iss: SeqNum,
    /// SND.UNA: oldest unacknowledged sequence number.
    pub una: SeqNum,
    /// SND.NXT: the highest sequence number sent, plus one.
    pub nxt: SeqNum,
    /// SND.WND: the peer's window in bytes (already scaled).
    pub wnd: u32,
    /// SND.WL1/WL2: segment sequence and ack numbers of the last window update.
    pub wl1: SeqNum,
    pub wl2: SeqNum,
    /// The largest window the peer has offered (RFC 5961 §5.2 MAX.SND.WND;
    /// RFC 9293 §3.8.6.2.1 sender SWS avoidance).
    pub max_wnd: u32,
    /// The peer's window scale shift (RFC 7323 §2.3), 0 without scaling.
    pub wscale: u8,
    /// The effective send MSS: payload bytes per segment (options excluded).
    pub mss: u32,
    /// Sequence number of the first byte in the buffer.
    buf_seq: SeqNum,
    /// The buffer's limit (SO_SNDBUF in bytes of payload, saturating at
    /// 4 GiB - 1), kept here while no block holds a buffer.
    limit: u32,
    pub fin: FinState,
    /// Whether the SYN still occupies SND.UNA.
    syn_unacked: bool,
    /// The last write asked for more data to follow (MSG_MORE): do not push
    /// a partial segment for it.
    pub more: bool,
    /// `None` while nothing is queued (or since the idle release).
    block: Option<Box<SendBlock>>,
}

/// The parts of a [`SendHalf`] that only queued data needs.
pub(super) struct SendBlock {
    /// The bytes from `buf_seq` on. Its limit is always the half's.
    buffer: RingBuffer,
    /// Where records written with MSG_EOR end (see `conn::records`).
    records: RecordBoundaries,
    /// End of the last segment shorter than the MSS that was sent (Minshall's
    /// Nagle variant, Linux `snd_sml`).
    small_end: SeqNum,
    /// The end of the GSO packet of two or more segments that new data is
    /// being sent in, as Linux would build it (`conn::gso`): new data before
    /// it is inside that packet.
    gso_end: SeqNum,
    /// The software GSO packet being written (`conn::gso`), while
    /// `Pending::pieces` says one is.
    pieces: Pieces,
    /// SND.UP (`conn::urgent`): set by `send(MSG_OOB)`, forgotten by the
    /// first segment sent once SND.UNA reached it.
    snd_up: Option<SeqNum>,
    /// The urgent probe of a zero-window probe's pair went; the usual one
    /// is next ([`SendHalf::take_urgent_probe`]).
    urgent_probe_sent: bool,
}

/// The pieces of a software GSO packet still to be written (`conn::gso`):
/// all are accounted as sent; each is the first piece's header with its
/// own sequence number, control bits and checksum, and its data from the
/// ring.
#[derive(Clone, Copy, Debug)]
struct Pieces {
    /// The next piece's sequence number.
    seq: SeqNum,
    /// Where the packet ends.
    end: SeqNum,
    /// The last piece carries PSH.
    push: bool,
    /// The control bits of every piece but the last, and of the last
    /// (taken once from the first piece's header, `set_piece_header`).
    flags: u8,
    last_flags: u8,
    /// The IP ECN codepoint of every piece.
    ecn: Ecn,
    /// The first piece's header ([`PieceHeader::EMPTY`] until it went).
    header: PieceHeader,
}

impl Default for Pieces {
    fn default() -> Self {
        Pieces {
            seq: SeqNum(0),
            end: SeqNum(0),
            push: false,
            flags: 0,
            last_flags: 0,
            ecn: Ecn::NotEct,
            header: PieceHeader::EMPTY,
        }
    }
}

impl SendBlock {
    /// A new block: nothing queued and no record ends; the packet ends at
    /// SND.UNA (`una`), as for a half whose data is all acknowledged.
    /// Allocates nothing.
    fn empty(limit: usize, una: SeqNum) -> Self {
        SendBlock {
            buffer: RingBuffer::new(limit),
            records: RecordBoundaries::default(),
            small_end: una,
            gso_end: una,
            pieces: Pieces::default(),
            snd_up: None,
            urgent_probe_sent: false,
        }
    }
}

#[cfg(test)]
std::thread_local! {
    /// Send blocks made on this thread (tests count allocations with it).
    pub(crate) static BLOCKS_MADE: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

impl SendHalf {
    /// A send half about to send its SYN at `iss`, with a buffer of `limit` bytes.
    pub fn new(iss: SeqNum, limit: usize) -> Self {
        SendHalf {
            iss,
            una: iss,
            nxt: iss,
            wnd: 0,
            wl1: SeqNum(0),
            wl2: iss,
            max_wnd: 0,
            wscale: 0,
            mss: 536,
            buf_seq: iss + 1u32,
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            fin: FinState::Open,
            syn_unacked: true,
            more: false,
            block: None,
        }
    }

    /// The data block, made on first use (once per busy period: it stays
    /// until [`SendHalf::release_if_empty`]). Its packet ends start at
    /// SND.UNA: every sequence number compared with them is at or beyond
    /// it, as with whatever ends the last block had (all acknowledged).
    fn block_mut(&mut self) -> &mut SendBlock {
        self.block_with(None)
    }

    /// [`SendHalf::block_mut`], a new block made in a spare's allocation
    /// when `spares` has one (the same value as a fresh one).
    fn block_with(&mut self, spares: Option<&mut Spares>) -> &mut SendBlock {
        let (limit, una) = (self.limit as usize, self.una);
        self.block.get_or_insert_with(|| {
            #[cfg(test)]
            BLOCKS_MADE.with(|n| n.set(n.get() + 1));
            let fresh = SendBlock::empty(limit, una);
            Spares::send_block(spares, fresh)
        })
    }

    /// Whether the data block is allocated (for tests of its life, and
    /// the debug check that an ended state owns nothing).
    pub(crate) fn has_block(&self) -> bool {
        self.block.is_some()
    }

    /// SND.UP as set, even if SND.UNA has passed it since (the output path
    /// forgets it then: [`SendHalf::forget_snd_up`]).
    #[inline]
    pub(crate) fn snd_up(&self) -> Option<SeqNum> {
        self.block.as_deref()?.snd_up
    }

    /// SND.UP while in urgent mode: ahead of SND.UNA (Linux `tcp_urg_mode`).
    pub(crate) fn urgent_mode(&self) -> Option<SeqNum> {
        self.snd_up().filter(|up| up.after(self.una))
    }

    /// `send(MSG_OOB)`: SND.UP at the end of the queued data (Linux
    /// `tcp_mark_urg`).
    pub(crate) fn mark_urgent(&mut self) {
        let end = self.data_end();
        self.block_mut().snd_up = Some(end);
    }

    /// Whether a probe due now goes first at SND.UNA, where a peer with a
    /// closed window still takes it and so reads its urgent pointer (Linux
    /// `tcp_write_wakeup`: SND.UP within 64 KiB past SND.UNA). True once a
    /// round: the next call says false, for the usual probe at SND.UNA - 1,
    /// which the peer answers.
    pub(crate) fn take_urgent_probe(&mut self) -> bool {
        let una = self.una;
        let Some(b) = self.block.as_deref_mut() else {
            return false;
        };
        let due = b
            .snd_up
            .is_some_and(|up| up.after(una) && up.since(una) <= 0xFFFF);
        let first = due && !b.urgent_probe_sent;
        b.urgent_probe_sent = first;
        first
    }

    /// Forgets SND.UP once acknowledged, so that it is never compared with
    /// sequence numbers 2 GiB on.
    pub(crate) fn forget_snd_up(&mut self) {
        if let Some(b) = self.block.as_deref_mut() {
            b.snd_up = None;
        }
    }

    /// End of the last segment shorter than the MSS that was sent
    /// (Minshall's Nagle variant, Linux `snd_sml`); SND.UNA without a block.
    pub fn small_end(&self) -> SeqNum {
        self.block.as_ref().map_or(self.una, |b| b.small_end)
    }

    pub fn set_small_end(&mut self, end: SeqNum) {
        self.block_mut().small_end = end;
    }

    /// The end of the GSO packet new data is being sent in (`conn::gso`);
    /// SND.UNA without a block.
    pub fn gso_end(&self) -> SeqNum {
        self.block.as_ref().map_or(self.una, |b| b.gso_end)
    }

    pub fn set_gso_end(&mut self, end: SeqNum) {
        self.block_mut().gso_end = end;
    }

    /// Software GSO: a packet's pieces after its first, `seq..end`, the
    /// last with PSH if `push`; their header follows once the first is
    /// written (`set_piece_header`).
    pub(super) fn plan_pieces(&mut self, seq: SeqNum, end: SeqNum, push: bool) {
        let pieces = &mut self.block_mut().pieces;
        (pieces.seq, pieces.end, pieces.push) = (seq, end, push);
        pieces.header = PieceHeader::EMPTY;
    }

    /// The pieces planned by [`SendHalf::plan_pieces`], not yet written.
    pub(super) fn planned_pieces(&self) -> Option<(SeqNum, SeqNum)> {
        let pieces = &self.block.as_deref()?.pieces;
        Some((pieces.seq, pieces.end))
    }

    /// The first piece's header and IP ECN codepoint, which every piece
    /// repeats.
    pub(super) fn set_piece_header(&mut self, header: PieceHeader, ecn: Ecn) {
        let pieces = &mut self.block_mut().pieces;
        // CWR goes on the packet's first segment only (RFC 3168 §6.1.2);
        // PSH on its last (Linux's GSO leaves it there).
        pieces.flags = header.flags() & !TcpFlags::CWR.bits();
        pieces.last_flags = pieces.flags;
        if pieces.push {
            pieces.last_flags |= TcpFlags::PSH.bits();
        }
        pieces.header = header;
        pieces.ecn = ecn;
    }

    /// Writes the next piece of the software GSO packet (`conn::gso`) into
    /// `buf`: returns its length, whether it is the packet's last, and its
    /// ECN codepoint. `None` when it cannot go as planned (its data was
    /// acknowledged meanwhile, by an ACK beyond what the peer can have
    /// received, or `buf` is too short): the packet's rest is then given
    /// up, as if lost on the way.
    pub(super) fn write_next_piece(&mut self, buf: &mut [u8]) -> Option<(usize, bool, Ecn)> {
        let (una, nxt, mss, buf_seq) = (self.una, self.nxt, self.mss, self.buf_seq);
        let block = self.block.as_deref_mut()?;
        let pieces = &block.pieces;
        let seq = pieces.seq;
        let len = pieces.end.since(seq).min(mss);
        if len == 0 || seq.before(una) || (seq + len).after(nxt) {
            return None;
        }
        // `data_at` with the block in hand: SND.UNA <= seq, so the data
        // lies at or after `buf_seq`.
        let offset = usize::try_from(seq.diff(buf_seq)).ok()?;
        let payload = block.buffer.slices_at(offset, len as usize);
        if payload.0.len() + payload.1.len() != len as usize {
            return None;
        }
        let last = seq + len == pieces.end;
        let flags = if last {
            pieces.last_flags
        } else {
            pieces.flags
        };
        let n = pieces.header.write(buf, seq, flags, payload).ok()?;
        let ecn = pieces.ecn;
        block.pieces.seq = seq + len;
        Some((n, last, ecn))
    }

    fn len(&self) -> usize {
        self.block.as_ref().map_or(0, |b| b.buffer.len())
    }

    fn records(&self) -> Option<&RecordBoundaries> {
        self.block.as_ref().map(|b| &b.records)
    }

    /// Sequence number just after the last byte written by the application.
    pub fn data_end(&self) -> SeqNum {
        self.buf_seq + self.len()
    }

    /// The FIN's sequence number, once queued.
    pub fn fin_seq(&self) -> Option<SeqNum> {
        (self.fin != FinState::Open).then(|| self.data_end())
    }

    /// One past the last sequence number this side will ever send.
    pub fn stream_end(&self) -> SeqNum {
        self.data_end() + u32::from(self.fin != FinState::Open)
    }

    /// Whether our SYN has been acknowledged.
    pub fn syn_acked(&self) -> bool {
        !self.syn_unacked
    }

    /// Whether our FIN was sent and acknowledged.
    pub fn fin_acked(&self) -> bool {
        self.fin == FinState::Sent && self.una == self.data_end() + 1u32
    }

    /// Bytes sent and not acknowledged, SYN and FIN included (FlightSize).
    pub fn in_flight(&self) -> u32 {
        self.nxt.since(self.una)
    }

    /// Application bytes not sent yet.
    pub fn unsent(&self) -> u32 {
        self.data_end().since(self.nxt.max_seq(self.buf_seq))
    }

    /// Application bytes in the buffer (unacknowledged or unsent): Send-Q.
    pub fn buffered(&self) -> usize {
        self.len()
    }

    /// Room left for the application.
    pub fn free(&self) -> usize {
        if self.fin == FinState::Open {
            self.buffer_limit().saturating_sub(self.len())
        } else {
            0
        }
    }

    pub fn buffer_limit(&self) -> usize {
        self.limit as usize
    }

    /// Room for the application without new memory: what the ring has
    /// allocated, or `floor` bytes (`tcp_wmem`'s minimum) if that is more,
    /// less what is queued; never beyond the limit. While the stack's
    /// buffer memory is above `tcp_mem`'s high mark, `send` queues no more.
    pub fn room_allocated(&self, floor: usize) -> usize {
        self.buffer_allocated()
            .max(floor)
            .min(self.buffer_limit())
            .saturating_sub(self.len())
    }

    pub fn set_buffer_limit(&mut self, limit: usize) {
        self.limit = u32::try_from(limit).unwrap_or(u32::MAX);
        if let Some(b) = &mut self.block {
            b.buffer.set_limit(limit);
        }
    }

    /// Gives the buffer's memory back if it is empty (everything was
    /// acknowledged), and the block with it once no record boundary waits.
    pub fn release_if_empty(&mut self) -> bool {
        let Some(b) = self.block.as_deref_mut() else {
            return false;
        };
        let records = b.records.release_if_empty();
        let buffer = b.buffer.release_if_empty();
        let block = b.buffer.allocated() == 0 && b.records.is_empty();
        if block {
            self.block = None;
        }
        buffer || records || block
    }

    /// Bytes the buffer, its record boundaries and the block hold allocated.
    pub fn allocated(&self) -> usize {
        self.block.as_ref().map_or(0, |b| {
            core::mem::size_of::<SendBlock>() + b.buffer.allocated() + b.records.allocated()
        })
    }

    /// Bytes the ring holds allocated (what `tcp_mem` charges).
    #[inline]
    pub fn buffer_allocated(&self) -> usize {
        self.block.as_ref().map_or(0, |b| b.buffer.allocated())
    }

    /// Queues application bytes; returns how many fit.
    pub fn enqueue(&mut self, data: &[u8]) -> usize {
        self.enqueue_with(data, None)
    }

    /// [`SendHalf::enqueue`], the block and the ring's first allocation
    /// taken from `spares` when they have them.
    pub fn enqueue_with(&mut self, data: &[u8], mut spares: Option<&mut Spares>) -> usize {
        if self.fin != FinState::Open || data.is_empty() || self.free() == 0 {
            return 0;
        }
        let b = self.block_with(spares.as_deref_mut());
        b.buffer
            .enqueue_slice_with(data, spares.map(|s| &mut s.rings))
    }

    /// The connection is done sending (TIME-WAIT or CLOSED): the block goes
    /// to `spares` for the stack's next connection, emptied, with its ring
    /// if nothing is left in it.
    pub fn reclaim_into(&mut self, spares: &mut Spares) {
        if let Some(mut b) = self.block.take() {
            spares.rings.reclaim(&mut b.buffer);
            // Empty: what it held (a ring with data, record ends) is freed.
            *b = SendBlock::empty(0, self.una);
            spares.keep_send(b);
        }
    }

    /// The data queued so far ends a record (MSG_EOR): no later byte
    /// shares a segment with its last one.
    pub fn end_record(&mut self) {
        let end = self.data_end();
        if let Some(b) = self.block.as_deref_mut().filter(|b| !b.buffer.is_empty()) {
            b.records.mark(end);
        }
    }

    /// How many bytes a segment starting at `seq` may hold before it would
    /// cross a record boundary (`u32::MAX` when none follows `seq`).
    pub fn record_room(&self, seq: SeqNum) -> u32 {
        let Some(records) = self.records().filter(|r| !r.is_empty()) else {
            return u32::MAX;
        };
        records.next_after(seq).map_or(u32::MAX, |b| b.since(seq))
    }

    /// Whether a segment ending at `end` ends a record.
    pub fn ends_record(&self, end: SeqNum) -> bool {
        self.records().is_some_and(|r| !r.is_empty()) && self.record_room(end - 1u32) == 1
    }

    /// Queues the FIN after the data (no more writes).
    pub fn queue_fin(&mut self) {
        if self.fin == FinState::Open {
            self.fin = FinState::Queued;
        }
    }

    /// The usable right edge of the peer's window: SND.UNA + SND.WND.
    pub fn window_end(&self) -> SeqNum {
        self.una + self.wnd
    }

    /// Up to `len` bytes of data from sequence number `seq`, as the two
    /// slices either side of the ring's wrap (the second may be empty).
    pub fn data_at(&self, seq: SeqNum, len: usize) -> (&[u8], &[u8]) {
        if len == 0 {
            // A control segment (most of a short connection's): no ring to
            // look at.
            return (&[], &[]);
        }
        let Ok(offset) = usize::try_from(seq.diff(self.buf_seq)) else {
            return (&[], &[]); // before the buffer: nothing (the SYN)
        };
        let Some(b) = self.block.as_deref() else {
            return (&[], &[]);
        };
        b.buffer.slices_at(offset, len)
    }

    /// RFC 9293 §3.10.7.4: an acceptable ACK (SND.UNA < SEG.ACK =< SND.NXT)
    /// moves SND.UNA and frees the acknowledged bytes. Returns how many
    /// sequence numbers it acknowledged (SYN and FIN count one each).
    pub fn acknowledge(&mut self, ack: SeqNum) -> u32 {
        let acked = ack.since(self.una);
        if acked == 0 {
            return 0;
        }
        self.una = ack;
        if self.syn_unacked && ack.after(self.iss) {
            self.syn_unacked = false;
        }
        let data_acked = ack.min_seq(self.data_end()).since(self.buf_seq);
        if let Some(b) = self.block.as_deref_mut() {
            let freed = b.buffer.discard_front(data_acked as usize);
            self.buf_seq += freed;
            b.records.acknowledge(self.buf_seq);
        }
        acked
    }

    /// RFC 9293 §3.10.7.4: "If SND.UNA =< SEG.ACK =< SND.NXT, the send window
    /// should be updated. If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and
    /// SND.WL2 =< SEG.ACK)), set SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ,
    /// and set SND.WL2 <- SEG.ACK." `window` is the raw field; it is scaled
    /// here (RFC 7323 §2.3). Returns whether the window was taken.
    pub fn update_window(&mut self, seg_seq: SeqNum, seg_ack: SeqNum, window: u16) -> bool {
        if !seg_ack.in_closed(self.una, self.nxt) {
            return false;
        }
        if self.wl1.before(seg_seq) || (self.wl1 == seg_seq && self.wl2.before_eq(seg_ack)) {
            self.set_window(u32::from(window) << self.wscale);
            self.wl1 = seg_seq;
            self.wl2 = seg_ack;
            return true;
        }
        false
    }

    /// Sets SND.WND (bytes) directly, e.g. from a SYN's unscaled window
    /// (RFC 7323 §2.2: "The window field in a SYN ... is never scaled").
    pub fn set_window(&mut self, wnd: u32) {
        self.wnd = wnd;
        self.max_wnd = self.max_wnd.max(wnd);
    }

    /// Records that a segment ending at `end` (sequence space) was sent.
    pub fn on_sent(&mut self, end: SeqNum) {
        if end.after(self.nxt) {
            self.nxt = end;
        }
        if self.fin == FinState::Queued && end == self.data_end() + 1u32 {
            self.fin = FinState::Sent;
        }
    }
}

impl fmt::Debug for SendHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendHalf")
            .field("iss", &self.iss)
            .field("una", &self.una)
            .field("nxt", &self.nxt)
            .field("wnd", &self.wnd)
            .field("wl1", &self.wl1)
            .field("wl2", &self.wl2)
            .field("max_wnd", &self.max_wnd)
            .field("wscale", &self.wscale)
            .field("mss", &self.mss)
            .field("data_end", &self.data_end())
            .field("fin", &self.fin)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn established(iss: u32) -> SendHalf {
        let mut s = SendHalf::new(SeqNum(iss), 10_000);
        s.on_sent(SeqNum(iss) + 1u32);
        assert_eq!(s.acknowledge(SeqNum(iss) + 1u32), 1);
        s.set_window(5000);
        s
    }

    #[test]
    fn a_spare_block_behaves_and_counts_as_a_fresh_one() {
        // An ended connection's block with bytes and a record end still
        // queued: its ring (holding data) and record ends are freed, the
        // emptied block kept.
        let mut spares = Spares::default();
        let mut old = established(100);
        assert_eq!(old.enqueue(b"unsent"), 6);
        old.end_record();
        assert!(old.records().is_some_and(|r| r.allocated() > 0));
        old.reclaim_into(&mut spares);
        assert_eq!(spares.blocks(), (1, 0));
        assert!(spares.rings.is_empty(), "a ring with data is not kept");
        assert_eq!(old.allocated(), 0);
        let (mut reused, mut fresh) = (established(5000), established(5000));
        assert_eq!(reused.enqueue_with(b"hello", Some(&mut spares)), 5);
        assert_eq!(fresh.enqueue(b"hello"), 5);
        assert_eq!(spares.blocks(), (0, 0), "taken");
        assert_eq!(reused.allocated(), fresh.allocated());
        assert_eq!(reused.data_end(), fresh.data_end());
        assert_eq!(reused.small_end(), fresh.small_end());
        assert_eq!(reused.gso_end(), fresh.gso_end());
        // Emptied by the ACK, it gives its ring back too.
        assert_eq!(reused.acknowledge(SeqNum(5006)), 5);
        reused.reclaim_into(&mut spares);
        assert_eq!((spares.blocks(), spares.rings.len()), ((1, 0), 1));
    }

    #[test]
    fn the_syn_occupies_iss_and_data_starts_after_it() {
        let mut s = SendHalf::new(SeqNum(100), 1000);
        assert_eq!(s.enqueue(b"hello"), 5);
        assert_eq!(s.data_end(), SeqNum(106));
        assert!(!s.syn_acked());
        s.on_sent(SeqNum(101));
        assert_eq!(s.in_flight(), 1);
        assert_eq!(s.unsent(), 5);
        assert_eq!(s.acknowledge(SeqNum(101)), 1);
        assert!(s.syn_acked());
        assert_eq!(s.data_at(SeqNum(101), 5), (&b"hello"[..], &b""[..]));
    }

    /// Zero bytes are two empty slices wherever they are asked for (a
    /// control segment's payload, answered without the ring), and a
    /// non-empty answer at the same place is the ring's bytes.
    #[test]
    fn zero_bytes_are_empty_anywhere() {
        let empty: (&[u8], &[u8]) = (&[], &[]);
        let mut s = SendHalf::new(SeqNum(100), 1000);
        assert_eq!(s.data_at(SeqNum(101), 0), empty, "no block yet");
        assert_eq!(s.enqueue(b"hello"), 5);
        for seq in [99, 100, 101, 103, 106, 2_000] {
            assert_eq!(s.data_at(SeqNum(seq), 0), empty);
        }
        assert_eq!(s.data_at(SeqNum(103), 2), (&b"ll"[..], &b""[..]));
    }

    #[test]
    fn acks_free_bytes_and_the_fin_counts_one() {
        let mut s = established(0);
        assert_eq!(s.enqueue(b"abcdef"), 6);
        s.queue_fin();
        assert_eq!(s.enqueue(b"x"), 0, "no writes after the FIN");
        assert_eq!(s.fin_seq(), Some(SeqNum(7)));
        s.on_sent(SeqNum(8));
        assert_eq!(s.fin, FinState::Sent);
        assert_eq!(s.acknowledge(SeqNum(4)), 3);
        assert_eq!(s.data_at(SeqNum(4), 10), (&b"def"[..], &b""[..]));
        assert!(!s.fin_acked());
        assert_eq!(s.acknowledge(SeqNum(8)), 4);
        assert!(s.fin_acked());
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn window_updates_follow_wl1_wl2() {
        let mut s = established(0);
        s.enqueue(b"0123456789");
        s.on_sent(SeqNum(11));
        assert!(s.update_window(SeqNum(50), SeqNum(5), 100));
        assert_eq!(s.wnd, 100);
        // An older segment (smaller SEG.SEQ) does not update.
        assert!(!s.update_window(SeqNum(49), SeqNum(5), 999));
        // Same SEG.SEQ, later ACK: updates; beyond SND.NXT: does not.
        assert!(s.update_window(SeqNum(50), SeqNum(6), 200));
        assert!(!s.update_window(SeqNum(51), SeqNum(12), 300));
        assert_eq!(s.wnd, 200);
        s.wscale = 3;
        assert!(s.update_window(SeqNum(51), SeqNum(6), 10));
        assert_eq!(s.wnd, 80, "scaled by 2^3");
        assert_eq!(s.max_wnd, 5000);
    }

    #[test]
    fn data_across_the_ring_wrap_comes_in_two_slices() {
        let mut s = established(0);
        s.set_buffer_limit(1024);
        assert_eq!(s.enqueue(&[1; 1000]), 1000);
        s.on_sent(SeqNum(1001));
        s.acknowledge(SeqNum(1001));
        assert_eq!(s.enqueue(&[2; 100]), 100);
        let (a, b) = s.data_at(SeqNum(1001), 100);
        assert_eq!(a.len() + b.len(), 100);
        assert!(!b.is_empty(), "the ring wrapped");
    }
}
