//! The receive half of a connection: the receive sequence space of RFC 9293
//! §3.3.1, the receive buffer, reassembly and the window we advertise.
//!
//! Read first: RFC 9293 §3.3.1 (RCV.NXT, RCV.WND, IRS), §3.8.6.2.2
//! (receiver silly window avoidance; never shrink the window), §3.10.7.4
//! "seventh, process the segment text" and "eighth, check the FIN bit",
//! RFC 7323 §2.3-2.4 (our window scale; rounding must not shrink), RFC 2018
//! §4 (which SACK blocks to report), RFC 7323 §4.3 (Last.ACK.sent).
//!
//! In-order bytes are committed to the ring buffer, where the application
//! reads them; out-of-order bytes are written in place beyond them and the
//! [`Assembler`] records which ranges arrived (bounded: a segment that would
//! open one hole too many is dropped and retransmitted later). A driver
//! that hands its frames over lets the readable bytes stay in them instead
//! ([`KeptFrames`], [`RecvHalf::stage_kept`]): the ring then only holds
//! their place.

use core::fmt;

use super::spares::Spares;
use super::urgent::UrgentMark;
use crate::SeqNum;
use crate::storage::{Assembler, FrameBuf, KeptFrames, RingBuffer, Spent, SummedWriter};
use crate::tcp::rcv_space::RcvSpace;
use crate::tcp::sack::SackReceiver;
use crate::tcp::sack::receiver::MAX_BLOCKS;
use crate::time::{Duration, Instant};
use crate::wire::tcp::SackBlocks;

/// [`RecvHalf::read_with`] while kept frames hold some of the readable
/// bytes: each byte from its frame or from the ring, in stream order. Out
/// of line: the ring's copy stays inlined in the reader, and only a driver
/// that hands frames over comes here.
#[inline(never)]
fn read_kept(
    kept: &mut KeptFrames,
    ring: &mut RingBuffer,
    out: &mut [u8],
    spent: &mut Vec<Vec<u8>>,
) -> usize {
    kept.read(out, ring, &mut Spent(spent))
}

/// Kept frames' bytes written into their place in `ring`, the frames
/// given back to `spent` (the connection's state ended: its unread bytes
/// stay in the ring alone). Out of line: a driver that lends its frames
/// never gets here.
#[inline(never)]
fn spill_kept(kept: &mut KeptFrames, ring: &mut RingBuffer, spent: &mut Vec<Vec<u8>>) {
    kept.drop_pending(&mut Spent(spent));
    kept.spill(ring, &mut Spent(spent));
}

/// What became of a segment's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Bytes that became readable in order (RCV.NXT moved by this much,
    /// FIN excluded); includes out-of-order data the segment connected.
    pub in_order: u32,
    /// The segment's bytes were stored beyond a hole.
    pub out_of_order: bool,
    /// The segment filled (part of) a hole: out-of-order data became in order.
    pub filled_hole: bool,
    /// Every byte had been received before (RFC 2883 duplicate).
    pub duplicate: bool,
    /// Bytes in the window that could not be stored: no buffer space.
    pub dropped_no_space: u32,
    /// The segment needed one more out-of-order range than allowed.
    pub dropped_too_many_holes: bool,
    /// The FIN was accepted: RCV.NXT covers it (RFC 9293 §3.10.7.4 eighth).
    pub fin: bool,
}

/// Payloads staged one after another behind a first staged segment
/// (software GRO, see [`RecvHalf::stager`]).
#[derive(Debug)]
pub struct Stager<'a> {
    writer: SummedWriter<'a>,
    /// The block's staged count, raised by each payload kept.
    staged: &'a mut u32,
}

impl Stager<'_> {
    /// Stages `payload` after the bytes staged so far if it fits and
    /// `keep` accepts its RFC 1071 sum (the caller's checksum test);
    /// returns whether it was staged.
    #[inline]
    pub fn stage_if(&mut self, payload: &[u8], keep: impl FnOnce(u16) -> bool) -> bool {
        let kept = self.writer.write_if(payload, keep);
        if kept {
            // Within the buffer's limit, a `u32`.
            *self.staged += payload.len() as u32;
        }
        kept
    }
}

/// The receive sequence space and the receive buffer.
///
/// An idle half is 40 bytes: the sequence numbers, the window, the buffer
/// limit and one pointer. Everything that only matters while data is
/// buffered or held out of order (the ring, the reassembly ranges, the SACK
/// memory, staged bytes, a FIN beyond a hole) lives in one [`RecvBlock`],
/// allocated by the first data (or the first duplicate to report) and
/// freed with the buffers by [`RecvHalf::release_if_empty`] once the
/// connection has been idle for [`super::IDLE_RELEASE`] (DESIGN.md §4): once
/// per busy period, never per segment.
pub struct RecvHalf {
    /// IRS: the peer's initial sequence number.
    pub irs: SeqNum,
    /// RCV.NXT: the next sequence number expected.
    pub nxt: SeqNum,
    /// The right edge of the window last advertised, RCV.NXT + RCV.WND as
    /// the peer saw it. It never moves left (RFC 9293 §3.8.6.2.2), but
    /// when buffer memory refuses data ([`RecvHalf::retract_window`]).
    adv_edge: SeqNum,
    /// RCV.NXT in the last ACK we sent (RFC 7323 §4.3 Last.ACK.sent, Linux
    /// `rcv_wup`).
    pub last_ack_sent: SeqNum,
    /// The peer's FIN, once RCV.NXT has passed it (with [`flags::FIN`]).
    fin_seq: SeqNum,
    /// The buffer's limit (SO_RCVBUF in bytes of payload, saturating at
    /// 4 GiB - 1), kept here while no block holds a buffer; lower while
    /// [`RecvHalf::limit_growth`] holds the buffer to what it has.
    limit: u32,
    /// The buffer's own limit while `limit` is held lower (the stack's
    /// buffer memory above `tcp_mem`'s high mark); 0 otherwise. In the
    /// padding after `limit`: the half stays 40 bytes.
    uncapped_limit: u32,
    /// The most out-of-order ranges the block's assembler tracks.
    max_holes: u16,
    /// Our window scale shift (RFC 7323 §2.3), 0 without scaling.
    pub wscale: u8,
    /// [`flags`] bits: one byte where three `Option`/`bool` fields took 17.
    flags: u8,
    /// `None` while idle: nothing buffered, held or owed.
    block: Option<Box<RecvBlock>>,
}

#[cfg(test)]
std::thread_local! {
    /// Receive blocks made on this thread (tests count allocations with it).
    pub(crate) static BLOCKS_MADE: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

#[cfg(test)]
std::thread_local! {
    /// Off switch for [`RecvHalf::store`]'s in-order path: the
    /// differential test runs the same segments through `Assembler::add`.
    static NO_IN_ORDER_PATH: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// The parts of a [`RecvHalf`] that only data needs.
pub(super) struct RecvBlock {
    /// Readable bytes, and out-of-order bytes in place beyond them. Its
    /// limit is always the half's.
    buffer: RingBuffer,
    /// Which bytes arrived, in stream offsets counted from where RCV.NXT
    /// was when the block was made (offsets only relate to each other).
    assembler: Assembler,
    /// The SACK blocks we report (RFC 2018 §4) and a pending D-SACK (RFC
    /// 2883): allocated at the first out-of-order segment or duplicate.
    sack: Option<Box<SackReceiver>>,
    /// Bytes at RCV.NXT that [`RecvHalf::stage`] wrote (and summed) for the
    /// segment being processed: `store` commits them without copying again.
    /// Zero outside one segment's processing.
    staged: u32,
    /// A FIN that arrived beyond a hole, taken once the hole fills (with
    /// [`flags::OOO_FIN`]).
    ooo_fin_seq: SeqNum,
    /// Frames holding `kept.committed()` of the buffer's bytes (their
    /// places in the ring reserved, not written), then those staged for the
    /// segment being processed (`staged` counts them then). Made by the
    /// first frame kept (a driver that lends its frames never makes one),
    /// then kept with the block.
    kept: Option<Box<KeptFrames>>,
    /// Receive-buffer autotuning's measurement of the application's reads,
    /// begun by the busy period's first read.
    rcv_space: Option<RcvSpace>,
    /// The urgent mark (`conn::urgent`), from the pointer's arrival until
    /// the reads pass it.
    urgent: Option<UrgentMark>,
}

impl RecvBlock {
    /// A new block: nothing buffered, held or owed; allocates nothing.
    fn empty(limit: usize, max_holes: usize) -> Self {
        RecvBlock {
            buffer: RingBuffer::new(limit),
            assembler: Assembler::new(max_holes),
            sack: None,
            staged: 0,
            ooo_fin_seq: SeqNum(0),
            kept: None,
            rcv_space: None,
            urgent: None,
        }
    }

    /// Bytes staged in kept frames.
    fn kept_pending(&self) -> usize {
        self.kept.as_deref().map_or(0, KeptFrames::pending)
    }

    /// Bytes the kept frames and their queue hold.
    fn kept_allocated(&self) -> usize {
        self.kept
            .as_deref()
            .map_or(0, |k| core::mem::size_of::<KeptFrames>() + k.allocated())
    }

    /// Whether the block holds nothing: dropping it loses nothing.
    fn is_empty(&self, flags: u8) -> bool {
        self.buffer.allocated() == 0
            && self.buffer.is_empty()
            && !self.assembler.has_out_of_order()
            && self.sack.is_none()
            && self.staged == 0
            && self.kept.as_deref().is_none_or(KeptFrames::is_empty)
            && self.urgent.is_none()
            && flags & flags::OOO_FIN == 0
    }
}

/// Bits of [`RecvHalf::flags`].
mod flags {
    /// A copy of the peer's SYN arrived after RCV.NXT passed it: the next
    /// ACK reports it as a D-SACK (RFC 2883 §4.1.1; Linux `tcp_data_queue`
    /// D-SACKs a SYN-ACK repeating a SYN it has, as any old sequence space).
    pub const SYN_DUP: u8 = 1 << 0;
    /// `fin_seq` holds the peer's FIN.
    pub const FIN: u8 = 1 << 1;
    /// `ooo_fin_seq` holds a FIN beyond a hole.
    pub const OOO_FIN: u8 = 1 << 2;
}

impl RecvHalf {
    /// The peer's FIN, once RCV.NXT has passed it.
    pub fn fin(&self) -> Option<SeqNum> {
        (self.flags & flags::FIN != 0).then_some(self.fin_seq)
    }

    fn set_fin(&mut self, seq: SeqNum) {
        self.fin_seq = seq;
        self.flags |= flags::FIN;
    }

    fn ooo_fin(&self) -> Option<SeqNum> {
        if self.flags & flags::OOO_FIN == 0 {
            return None;
        }
        self.block.as_ref().map(|b| b.ooo_fin_seq)
    }

    /// A receive half after the peer's SYN at `irs`: RCV.NXT = IRS + 1.
    /// Allocates nothing.
    pub fn new(irs: SeqNum, limit: usize, wscale: u8, max_holes: usize) -> Self {
        let nxt = irs + 1u32;
        RecvHalf {
            irs,
            nxt,
            adv_edge: nxt,
            last_ack_sent: nxt,
            fin_seq: SeqNum(0),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            uncapped_limit: 0,
            max_holes: u16::try_from(max_holes).unwrap_or(u16::MAX),
            wscale,
            flags: 0,
            block: None,
        }
    }

    /// The data block, made on first use (once per busy period: it stays
    /// until [`RecvHalf::release_if_empty`]).
    fn block_mut(&mut self) -> &mut RecvBlock {
        self.block_with(None)
    }

    /// [`RecvHalf::block_mut`], a new block made in a spare's allocation
    /// when `spares` has one (the same value as a fresh one).
    ///
    /// Inlined: a segment asks twice (to stage its bytes, then to store
    /// them) and the block is there the second time, and on every segment
    /// of a busy period; making one stays out of line.
    #[inline]
    fn block_with(&mut self, spares: Option<&mut Spares>) -> &mut RecvBlock {
        match self.block {
            Some(ref mut b) => b,
            None => self.make_block(spares),
        }
    }

    /// [`RecvHalf::block_with`] when there is no block yet.
    #[inline(never)]
    fn make_block(&mut self, spares: Option<&mut Spares>) -> &mut RecvBlock {
        #[cfg(test)]
        BLOCKS_MADE.with(|n| n.set(n.get() + 1));
        let fresh = RecvBlock::empty(self.limit as usize, usize::from(self.max_holes));
        self.block.insert(Spares::recv_block(spares, fresh))
    }

    /// RCV.WND as last advertised: from RCV.NXT to the advertised right edge.
    pub fn window(&self) -> u32 {
        self.adv_edge.since(self.nxt)
    }

    /// The advertised right edge, RCV.NXT + RCV.WND.
    pub fn window_end(&self) -> SeqNum {
        self.adv_edge.max_seq(self.nxt)
    }

    /// Bytes the application can read now: Recv-Q.
    pub fn readable(&self) -> usize {
        self.block.as_ref().map_or(0, |b| b.buffer.len())
    }

    /// Room in the buffer beyond the readable bytes (what the window may
    /// offer).
    pub fn free(&self) -> usize {
        (self.limit as usize).saturating_sub(self.readable())
    }

    /// The buffer's limit (SO_RCVBUF, or what autotuning made it), even
    /// while [`RecvHalf::limit_growth`] holds it lower.
    pub fn buffer_limit(&self) -> usize {
        match self.uncapped_limit {
            0 => self.limit as usize,
            own => own as usize,
        }
    }

    pub fn set_buffer_limit(&mut self, limit: usize) {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        if self.uncapped_limit != 0 {
            // Held lower: the new limit applies once the hold ends, and
            // holds it lower still if it is smaller.
            self.uncapped_limit = limit;
            self.limit = self.limit.min(limit);
        } else {
            self.limit = limit;
        }
        let effective = self.limit as usize;
        if let Some(b) = &mut self.block {
            b.buffer.set_limit(effective);
        }
    }

    /// Whether the stack's buffer memory is above `tcp_mem`'s high mark
    /// (`Some` of `tcp_rmem`'s minimum) or not (`None`), asked at each
    /// segment and read. While it is, the buffer takes no new memory: it
    /// may hold what its ring has allocated, or the minimum if that is
    /// more (Linux lets a socket below `tcp_rmem[0]` charge memory under
    /// the hard limit, `__sk_mem_raise_allocated`). Data beyond is dropped
    /// (Linux `tcp_try_rmem_schedule`, `TCPRcvQDrop`), the window offered
    /// comes back to what there is room for ([`RecvHalf::retract_window`])
    /// and opens no further than that. An empty buffer always offers at
    /// least the minimum, so a sender is never stalled for good.
    #[inline]
    pub fn limit_growth(&mut self, floor: Option<usize>) {
        if floor.is_some() || self.uncapped_limit != 0 {
            self.hold_limit(floor);
        }
    }

    /// [`RecvHalf::limit_growth`] while it has something to change.
    #[cold]
    #[inline(never)]
    fn hold_limit(&mut self, floor: Option<usize>) {
        let own = self.buffer_limit();
        (self.limit, self.uncapped_limit) = match floor {
            Some(floor) => {
                let allocated = self.block.as_ref().map_or(0, |b| b.buffer.allocated());
                let cap = allocated.max(floor).min(own).max(1);
                let own = u32::try_from(own).unwrap_or(u32::MAX);
                (u32::try_from(cap).unwrap_or(u32::MAX), own)
            }
            None => (u32::try_from(own).unwrap_or(u32::MAX), 0),
        };
        let effective = self.limit as usize;
        if let Some(b) = &mut self.block {
            b.buffer.set_limit(effective);
        }
    }

    /// Buffer memory refused data inside the window offered (above
    /// `tcp_mem`'s high mark, [`RecvHalf::limit_growth`]): the offered right
    /// edge comes back to RCV.NXT, so the next advertisement offers only the
    /// room there is (RFC 9293 §3.8.6.2.2's rule applied from nothing): a
    /// zero window unless at least min(buffer / 2, MSS) is free. The one
    /// place the edge moves left, against RFC 9293 §3.8.6.2.2's "SHOULD NOT
    /// shrink", as Linux 6.5+ does (`ICSK_ACK_NOMEM`: `tcp_select_window`
    /// answers 0 after `tcp_try_rmem_schedule` fails): data the peer sends
    /// into the old window would only be dropped, and a zero window makes it
    /// probe instead. Bytes already stored beyond RCV.NXT (after a hole)
    /// stay; the window reopens as the application reads.
    #[cold]
    pub fn retract_window(&mut self) {
        self.adv_edge = self.nxt;
    }

    /// Whether [`RecvHalf::limit_growth`] holds the buffer below its limit.
    pub fn growth_limited(&self) -> bool {
        self.uncapped_limit != 0
    }

    /// Whether data is held beyond a hole.
    pub fn has_out_of_order(&self) -> bool {
        self.block
            .as_ref()
            .is_some_and(|b| b.assembler.has_out_of_order())
    }

    /// Whether the data block is allocated (for tests of its life, and
    /// the debug check that an ended state owns nothing).
    pub(crate) fn has_block(&self) -> bool {
        self.block.is_some()
    }

    /// Bytes allocated by the buffer, the SACK memory and the data block.
    pub fn allocated(&self) -> usize {
        self.block.as_ref().map_or(0, |b| {
            let sack = b
                .sack
                .as_ref()
                .map_or(0, |_| core::mem::size_of::<SackReceiver>());
            core::mem::size_of::<RecvBlock>() + b.buffer.allocated() + sack + b.kept_allocated()
        })
    }

    /// Bytes the ring and the kept frames hold allocated (what `tcp_mem`
    /// charges).
    #[inline]
    pub fn buffer_allocated(&self) -> usize {
        self.block.as_ref().map_or(0, |b| {
            let kept = b.kept.as_deref().map_or(0, KeptFrames::frames_allocated);
            b.buffer.allocated() + kept
        })
    }

    /// Gives memory back when nothing is buffered or held out of order; the
    /// block goes too once nothing in it is left (a D-SACK still to report
    /// keeps it).
    pub fn release_if_empty(&mut self) -> bool {
        let flags = self.flags;
        let dsack_pending = self.dsack_pending();
        let Some(b) = self.block.as_deref_mut() else {
            return false;
        };
        if b.assembler.has_out_of_order() {
            return false;
        }
        debug_assert_eq!(b.kept_pending(), 0, "released while a segment is staged");
        b.staged = 0;
        let ranges = b.assembler.release_if_empty();
        // Nothing held out of order: the SACK memory goes too, unless a
        // D-SACK still waits to be reported.
        let sack = !dsack_pending && b.sack.take().is_some();
        let buffer = b.buffer.release_if_empty();
        let block = b.is_empty(flags);
        if block {
            self.block = None;
        }
        buffer || ranges || sack || block
    }

    /// Copies readable bytes into `out`; returns how many. Kept frames read
    /// to their end are freed (see [`RecvHalf::read_with`]).
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        self.read_with(out, &mut Vec::new())
    }

    /// [`RecvHalf::read`], kept frames read to their end handed to `spent`
    /// (the driver's, `Spares::frames`).
    #[inline(always)]
    pub fn read_with(&mut self, out: &mut [u8], spent: &mut Vec<Vec<u8>>) -> usize {
        let Some(b) = self.block.as_deref_mut() else {
            return 0;
        };
        match b.kept.as_deref_mut() {
            Some(kept) if kept.committed() > 0 => read_kept(kept, &mut b.buffer, out, spent),
            _ => b.buffer.dequeue_slice(out),
        }
    }

    /// The next byte the application reads (Linux `copied_seq`).
    pub fn copied(&self) -> SeqNum {
        // The readable bytes are within the buffer's limit, a `u32`.
        self.nxt - self.readable() as u32
    }

    /// Copies readable bytes from `offset` bytes after the next one to read
    /// into `out` without consuming them (MSG_PEEK); returns how many.
    pub fn peek(&self, offset: usize, out: &mut [u8]) -> usize {
        let Some(b) = self.block.as_deref() else {
            return 0;
        };
        match b.kept.as_deref() {
            Some(kept) if kept.committed() > 0 => kept.peek(offset, out, &b.buffer),
            _ => b.buffer.peek(offset, out),
        }
    }

    /// The urgent mark, while there is one (`conn::urgent`).
    pub(crate) fn urgent_mark(&self) -> Option<UrgentMark> {
        self.block.as_deref().and_then(|b| b.urgent)
    }

    /// Sets or clears the urgent mark.
    pub(crate) fn set_urgent_mark(&mut self, mark: Option<UrgentMark>) {
        match mark {
            Some(_) => self.block_mut().urgent = mark,
            None => {
                if let Some(b) = self.block.as_deref_mut() {
                    b.urgent = None;
                }
            }
        }
    }

    /// Autotuning's measure of a round trip's reads ([`RcvSpace::space`]),
    /// or `initial` (at most the buffer) before the busy period's first
    /// read begins one: Linux's `tcpi_rcv_space`.
    pub fn measured_space(&self, initial: u32) -> u32 {
        match self.block.as_deref().and_then(|b| b.rcv_space.as_ref()) {
            Some(space) => space.space(),
            None => initial.min(self.limit),
        }
    }

    /// Receive-buffer autotuning after a read ([`crate::tcp::rcv_space`]):
    /// grows the limit, up to `max`, when the application read more in the
    /// last round trip (`rtt`) than in the one measured before. The first
    /// read of a busy period begins the measurement, against `initial`
    /// bytes. `mss` is the segment size we advertised.
    pub fn tune_limit(&mut self, now: Instant, rtt: Duration, mss: u32, initial: u32, max: usize) {
        let copied = self.copied();
        let limit = self.buffer_limit();
        let Some(b) = self.block.as_deref_mut() else {
            return;
        };
        let grown = match &mut b.rcv_space {
            Some(space) => space.on_read(now, copied, rtt, mss, limit, max),
            None => {
                let first = RcvSpace::new(now, copied, initial.min(self.limit));
                b.rcv_space = Some(first);
                None
            }
        };
        if let Some(limit) = grown {
            self.set_buffer_limit(limit);
        }
    }

    /// Takes the buffer with its unread bytes when the connection's
    /// protocol state ends (the application may not have read everything).
    /// The block goes to `spares` for the stack's next connection, emptied;
    /// the buffer, with its ring, is what this returns. In place: the half
    /// is left without its block, owning no memory, so the state holding it
    /// can be overwritten without a drop (`State::overwrite_emptied`) or a
    /// move of the half.
    pub fn take_unread(&mut self, spares: &mut Spares) -> RingBuffer {
        match self.block.take() {
            Some(mut b) => {
                if let Some(kept) = b.kept.as_deref_mut() {
                    spill_kept(kept, &mut b.buffer, &mut spares.frames);
                }
                let unread = core::mem::replace(&mut *b, RecvBlock::empty(0, 0)).buffer;
                spares.keep_recv(b);
                unread
            }
            None => RingBuffer::new(self.limit as usize),
        }
    }

    /// The receive fast path's first half: an in-order segment's payload
    /// (`seq` = RCV.NXT, nothing held out of order, room for all of it) is
    /// copied to its place beyond the readable bytes, not yet committed, and
    /// its RFC 1071 sum is returned: the caller verifies the checksum from
    /// it, in the same pass as the copy. If the checksum is right the
    /// segment goes through [`RecvHalf::receive`] as usual, which then
    /// commits the staged bytes instead of copying them; if not, the caller
    /// drops it and calls [`RecvHalf::clear_staged`]: bytes beyond the
    /// readable ones mean nothing until committed. `None` (nothing written)
    /// off the fast path; the caller verifies the checksum the usual way.
    ///
    /// A segment that continues staged bytes (`seq` = RCV.NXT + staged: the
    /// next segment of a run software GRO merges) is staged after them, so
    /// a run of segments lands in place with one copy and sum each.
    pub fn stage(&mut self, seq: SeqNum, payload: &[u8]) -> Option<u16> {
        self.stage_with(seq, payload, None)
    }

    /// [`RecvHalf::stage`], the ring's first allocation taken from `spares`
    /// when one fits.
    pub fn stage_with(
        &mut self,
        seq: SeqNum,
        payload: &[u8],
        mut spares: Option<&mut Spares>,
    ) -> Option<u16> {
        let staged = self.staged();
        // With data held out of order the copy could overwrite some of it
        // before the checksum is known. Bytes staged in kept frames are
        // not followed by copied ones (a segment is all one or the other).
        if payload.is_empty()
            || seq != self.nxt + staged
            || self.kept_pending() > 0
            || self.has_out_of_order()
            || payload.len() > self.free().saturating_sub(staged as usize)
        {
            return None;
        }
        let len = u32::try_from(payload.len()).ok()?;
        let b = self.block_with(spares.as_deref_mut());
        let rings = spares.map(|s| &mut s.rings);
        let (stored, sum) = b
            .buffer
            .write_at_summed_with(staged as usize, payload, rings);
        // `free()` bytes fit beyond the readable ones: all of it was stored.
        debug_assert_eq!(stored, payload.len());
        b.staged += len;
        Some(sum)
    }

    /// Software GRO's further segments: a stager for payloads that follow
    /// the staged bytes (at least one segment's, so the block exists), the
    /// first of them at `seq` = RCV.NXT + staged, for at most `max` bytes.
    /// The tests [`RecvHalf::stage`] makes of each segment made once for
    /// the run (nothing held out of order, the room) and the ring grown
    /// once; the caller hands it consecutive payloads. `None` if none can
    /// be staged.
    pub fn stager(&mut self, seq: SeqNum, max: usize) -> Option<Stager<'_>> {
        let free = self.free();
        let nxt = self.nxt;
        let b = self.block.as_deref_mut()?;
        // After payloads staged in kept frames too: the stager writes
        // beyond their reserved places.
        if b.staged == 0 || seq != nxt + b.staged || b.assembler.has_out_of_order() {
            return None;
        }
        let room = max.min(free.saturating_sub(b.staged as usize));
        let writer = b.buffer.summed_writer(b.staged as usize, room, None)?;
        Some(Stager {
            writer,
            staged: &mut b.staged,
        })
    }

    /// Bytes staged so far.
    pub fn staged(&self) -> u32 {
        self.block.as_ref().map_or(0, |b| b.staged)
    }

    /// Forgets staged bytes beyond the first `len` (a run's segment whose
    /// checksum failed).
    pub fn truncate_staged(&mut self, len: u32) {
        if let Some(b) = &mut self.block {
            b.staged = b.staged.min(len);
        }
    }

    /// Bytes staged in kept frames for the segment being processed.
    fn kept_pending(&self) -> usize {
        self.block.as_ref().map_or(0, |b| b.kept_pending())
    }

    /// Whether an in-order payload of `len` bytes at `seq` (RCV.NXT, or
    /// right after the bytes staged so far in kept frames) may be staged by
    /// keeping its frame ([`RecvHalf::stage_kept`]): nothing is held out of
    /// order, nothing is staged by copying, and the payload fits. Whether
    /// the frame is worth keeping is the caller's test
    /// ([`crate::storage::kept::worth_keeping`]).
    pub fn may_keep(&self, seq: SeqNum, len: usize) -> bool {
        let free = self.free();
        let staged = match self.block.as_deref() {
            None => 0,
            Some(b) => {
                if b.assembler.has_out_of_order() || b.staged as usize != b.kept_pending() {
                    return false;
                }
                b.staged
            }
        };
        seq == self.nxt + staged && len <= free.saturating_sub(staged as usize)
    }

    /// Stages a run's payloads, `frames[k].frame()[start..ends[k]]` for
    /// each of `ends`, by keeping their buffers (each taken):
    /// [`RecvHalf::may_keep`] accepted their bytes and the caller verified
    /// their checksums. Their place after the bytes staged so far is
    /// reserved in the ring, not written. The segment's processing commits
    /// them as it commits copied staged bytes; what it does not take goes
    /// back with [`RecvHalf::drop_kept_pending`]. Returns the bytes staged:
    /// all of them, or none if they no longer fit.
    pub fn stage_kept(
        &mut self,
        frames: &mut [FrameBuf],
        start: usize,
        ends: &[usize],
        spares: &mut Spares,
    ) -> usize {
        if frames.len() < ends.len() {
            return 0;
        }
        let mut total = 0;
        for (f, &end) in frames.iter().zip(ends) {
            if start >= end || end > f.frame().len() {
                return 0;
            }
            total += end - start;
        }
        let b = self.block_with(Some(&mut *spares));
        let reserved = b
            .buffer
            .reserve_ahead(b.staged as usize, total, Some(&mut spares.rings));
        if reserved < total {
            return 0;
        }
        let kept = b.kept.get_or_insert_with(Box::default);
        let offset = b.buffer.len() + b.staged as usize;
        let spent = &mut Spent(&mut spares.frames);
        kept.push_pending(&mut frames[..ends.len()], start, ends, offset, spent);
        // Within the buffer's limit, a `u32`.
        b.staged += total as u32;
        total
    }

    /// Gives back the kept frames staged for a segment that were not
    /// committed (the segment was dropped, or only part of it accepted),
    /// and forgets their staged bytes.
    pub fn drop_kept_pending(&mut self, spent: &mut Vec<Vec<u8>>) {
        if let Some(b) = &mut self.block
            && let Some(kept) = b.kept.as_deref_mut()
            && kept.pending() > 0
        {
            kept.drop_pending(&mut Spent(spent));
            b.staged = 0;
        }
    }

    /// Forgets staged bytes (the segment was dropped, or is done).
    pub fn clear_staged(&mut self) {
        if let Some(b) = &mut self.block {
            b.staged = 0;
        }
    }

    /// RFC 9293 §3.10.7.4 "seventh" and "eighth": stores a segment's text
    /// (trimmed to the window) and takes its FIN when everything before it
    /// has arrived.
    pub fn receive(&mut self, seq: SeqNum, payload: &[u8], fin: bool) -> Received {
        self.receive_with(seq, payload, fin, None)
    }

    /// [`RecvHalf::receive`], the ring's first allocation taken from
    /// `spares` when one fits.
    pub fn receive_with(
        &mut self,
        seq: SeqNum,
        payload: &[u8],
        fin: bool,
        spares: Option<&mut Spares>,
    ) -> Received {
        let mut out = Received::default();
        let staged = self
            .block
            .as_deref_mut()
            .map_or(0, |b| core::mem::take(&mut b.staged));
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let seg_end = seq + len;
        let edge = self.window_end();
        let mut all_stored = true;
        if len > 0 {
            if !seg_end.after(self.nxt) {
                out.duplicate = true;
            } else {
                // RFC 9293 §3.10.7.4: trim to the window; bytes before
                // RCV.NXT are duplicates (RFC 2883 §4.1.1: D-SACK them),
                // bytes beyond the right edge are not accepted.
                if seq.before(self.nxt) {
                    self.note_duplicate(seq, self.nxt);
                }
                let start = seq.max_seq(self.nxt);
                let end = seg_end.min_seq(edge);
                all_stored = end == seg_end;
                if end.after(start) {
                    let skip = start.since(seq) as usize;
                    let take = end.since(start) as usize;
                    let data = &payload[skip..skip + take];
                    all_stored &= self.store(start, data, staged, spares, &mut out);
                }
            }
        }
        if fin && all_stored {
            self.take_fin(seg_end, edge, &mut out);
        }
        out
    }

    /// Writes `data` (already trimmed, starting at `start` >= RCV.NXT) in
    /// place; returns whether all of it was kept. The first `staged` bytes
    /// at RCV.NXT are already in place ([`RecvHalf::stage`]).
    fn store(
        &mut self,
        start: SeqNum,
        data: &[u8],
        staged: u32,
        mut spares: Option<&mut Spares>,
        out: &mut Received,
    ) -> bool {
        let ahead = start.since(self.nxt) as usize;
        let b = self.block_with(spares.as_deref_mut());
        let stored = if ahead == 0 && data.len() <= staged as usize {
            // Staged in kept frames: their place is reserved; the frames
            // hold what the ring commits below.
            if let Some(kept) = b.kept.as_deref_mut() {
                kept.commit(data.len());
            }
            data.len()
        } else {
            debug_assert_eq!(b.kept_pending(), 0, "kept frames staged for other bytes");
            b.buffer
                .write_at_with(ahead, data, spares.map(|s| &mut s.rings))
        };
        out.dropped_no_space = (data.len() - stored) as u32;
        if stored == 0 {
            return false;
        }
        #[cfg(test)]
        let in_order_path = !NO_IN_ORDER_PATH.with(core::cell::Cell::get);
        #[cfg(not(test))]
        let in_order_path = true;
        if in_order_path && ahead == 0 && !b.assembler.has_out_of_order() {
            // In order, no hole held (nearly every segment): what
            // `Assembler::add` would find without searching its ranges.
            // Nothing landed out of order, nothing was a duplicate, no
            // hole filled; a FIN held beyond the stored bytes may follow.
            b.assembler.advance_in_order(stored as u64);
            let advanced = b.buffer.commit(stored);
            self.nxt += advanced;
            out.in_order = advanced as u32;
            self.take_held_fin(out);
            return stored == data.len();
        }
        let offset = b.assembler.contiguous_end() + ahead as u64;
        let had_holes = b.assembler.has_out_of_order();
        match b.assembler.add(offset, stored as u64) {
            Err(_too_many_holes) => {
                out.dropped_too_many_holes = true;
                out.dropped_no_space = 0;
                false
            }
            Ok(outcome) => {
                if let Some(landed) = outcome.landed.clone() {
                    sack_memory(b).on_out_of_order(landed);
                }
                if let Some(dup) = outcome.duplicate.clone() {
                    // RFC 2883 §4.1.2: a duplicate of out-of-order data.
                    sack_memory(b).on_duplicate(dup);
                }
                if outcome.advanced > 0 {
                    let advanced = b.buffer.commit(outcome.advanced as usize);
                    self.nxt += advanced;
                    out.in_order = advanced as u32;
                    out.filled_hole = had_holes && outcome.advanced > stored as u64;
                    self.take_held_fin(out);
                }
                out.out_of_order = outcome.landed.is_some();
                out.duplicate = outcome.is_duplicate();
                stored == data.len()
            }
        }
    }

    /// RFC 9293 §3.10.7.4 "eighth": a FIN that arrived beyond a hole is
    /// taken once RCV.NXT reaches it.
    fn take_held_fin(&mut self, out: &mut Received) {
        if let Some(fin) = self.ooo_fin().filter(|&f| f == self.nxt) {
            out.fin = true;
            self.flags &= !flags::OOO_FIN;
            self.set_fin(fin);
            self.nxt += 1u32;
        }
    }

    fn take_fin(&mut self, fin_seq: SeqNum, edge: SeqNum, out: &mut Received) {
        if self.fin().is_some() {
            return; // a retransmitted FIN: the duplicate is ACKed by the caller
        }
        if fin_seq == self.nxt {
            self.set_fin(fin_seq);
            self.nxt += 1u32;
            out.fin = true;
        } else if fin_seq.after(self.nxt) && fin_seq.before_eq(edge) {
            // Beyond a hole: remember it until the hole fills.
            self.block_mut().ooo_fin_seq = fin_seq;
            self.flags |= flags::OOO_FIN;
        }
    }

    /// The window a new advertisement would announce, in bytes, following
    /// RFC 9293 §3.8.6.2.2: the right edge moves only when it can move by at
    /// least min(buffer / 2, `mss`); before that the window shrinks as data
    /// arrives, down to zero.
    pub fn select_window(&self, mss: u32) -> u32 {
        let current = self.window();
        let potential = u32::try_from(self.free()).unwrap_or(u32::MAX);
        if potential <= current {
            return current;
        }
        let limit = self.limit;
        let threshold = (limit / 2).min(mss).max(1);
        if potential - current >= threshold {
            potential
        } else {
            current
        }
    }

    /// The window field for an outgoing non-SYN segment: the selected window
    /// scaled down (RFC 7323 §2.3). The right edge we keep never moves left;
    /// the field is rounded down, so the edge the peer sees may sit up to
    /// 2^scale - 1 bytes short of it, the retraction RFC 7323 §2.4 allows.
    /// (Linux rounds up instead, and so offers bytes beyond its buffer; with
    /// a buffer that is a hard limit, rounding down keeps every advertised
    /// byte storable, and a full buffer shows as a zero window.)
    pub fn advertise(&mut self, mss: u32) -> u16 {
        let scale = u32::from(self.wscale);
        let max_window = u32::from(u16::MAX) << scale;
        let wanted = self.select_window(mss).min(max_window);
        let edge = self.nxt + wanted;
        if edge.after(self.adv_edge) {
            self.adv_edge = edge;
        }
        (self.window().min(max_window) >> scale) as u16
    }

    /// The window field of a SYN or SYN-ACK, which is never scaled (RFC 7323
    /// §2.2): the buffer space, at most 65535.
    pub fn advertise_unscaled(&mut self) -> u16 {
        let field = self.free().min(usize::from(u16::MAX)) as u16;
        let edge = self.nxt + u32::from(field);
        if edge.after(self.adv_edge) {
            self.adv_edge = edge;
        }
        field
    }

    /// A copy of the peer's SYN arrived (a repeated SYN-ACK in a
    /// simultaneous open): report it with the next ACK (RFC 2883 §4.1.1).
    pub fn note_duplicate_syn(&mut self) {
        self.flags |= flags::SYN_DUP;
    }

    /// RFC 2883 §4.1.1: data `seq..end` below RCV.NXT arrived again; the
    /// next ACK reports it as a D-SACK. (Not after the FIN, whose sequence
    /// number has no stream offset.)
    pub fn note_duplicate(&mut self, seq: SeqNum, end: SeqNum) {
        if self.fin().is_some() || !end.after(seq) {
            return;
        }
        let nxt = self.nxt;
        let b = self.block_mut();
        let base = b.assembler.contiguous_end();
        let end = end.min_seq(nxt);
        let start = base.saturating_sub(u64::from(nxt.since(seq)));
        let end = base.saturating_sub(u64::from(nxt.since(end)));
        sack_memory(b).on_duplicate(start..end);
    }

    /// RFC 2018 §4 and RFC 2883 §4: SACK blocks for the next ACK: a D-SACK
    /// first (if `dsack` is on and a duplicate arrived), then the block that
    /// holds the latest out-of-order segment, then the most recently
    /// reported ones, then other held ranges. Taking them counts as
    /// reporting the D-SACK (it is sent once). Empty when nothing is held
    /// and no duplicate is pending.
    #[inline]
    pub fn sack_blocks(&mut self, dsack: bool) -> SackBlocks {
        // Every segment asks; without a duplicate SYN or SACK memory (no
        // out-of-order data or duplicate so far) the answer is empty and
        // nothing changes, without a call.
        if !self.may_have_sack_blocks() {
            return SackBlocks::new();
        }
        self.sack_blocks_held(dsack)
    }

    /// Whether [`RecvHalf::sack_blocks`] may have anything to report (a
    /// duplicate SYN, or SACK memory: out-of-order data or a duplicate
    /// seen). When not, it answers empty and changes nothing, so a writer
    /// may skip asking (and building an empty list).
    #[inline]
    pub fn may_have_sack_blocks(&self) -> bool {
        self.flags & flags::SYN_DUP != 0 || self.block.as_ref().is_some_and(|b| b.sack.is_some())
    }

    /// [`RecvHalf::sack_blocks`] when there may be something to report.
    fn sack_blocks_held(&mut self, dsack: bool) -> SackBlocks {
        let mut blocks = SackBlocks::new();
        let syn_dup = self.flags & flags::SYN_DUP != 0;
        self.flags &= !flags::SYN_DUP;
        if syn_dup && dsack {
            // The SYN's sequence number is not in the offset space the SACK
            // memory uses (it starts at the first data byte).
            blocks.push((self.irs, self.irs + 1u32));
        }
        let nxt = self.nxt;
        let Some(b) = self.block.as_deref_mut() else {
            return blocks;
        };
        let Some(sack) = b.sack.as_deref_mut() else {
            return blocks;
        };
        if !dsack {
            sack.on_ack_sent();
        }
        if !b.assembler.has_out_of_order() && sack.pending_dsack().is_none() {
            return blocks;
        }
        let base = b.assembler.contiguous_end();
        let to_seq = |off: u64| {
            if off >= base {
                nxt + (off - base) as u32
            } else {
                nxt - (base - off) as u32
            }
        };
        let mut ranges = [const { 0..0 }; MAX_BLOCKS];
        let assembler = &b.assembler;
        let n = sack.blocks(
            base,
            |o| assembler.out_of_order_range_containing(o),
            assembler.out_of_order(),
            &mut ranges,
        );
        for r in &ranges[..n] {
            blocks.push((to_seq(r.start), to_seq(r.end)));
        }
        sack.on_ack_sent();
        blocks
    }

    /// Whether a D-SACK waits to be reported.
    pub fn dsack_pending(&self) -> bool {
        self.block
            .as_ref()
            .and_then(|b| b.sack.as_ref())
            .is_some_and(|s| s.pending_dsack().is_some())
    }
}

/// The block's SACK memory, made at the first out-of-order segment or
/// duplicate.
fn sack_memory(b: &mut RecvBlock) -> &mut SackReceiver {
    b.sack.get_or_insert_with(Box::default)
}

impl fmt::Debug for RecvHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvHalf")
            .field("irs", &self.irs)
            .field("nxt", &self.nxt)
            .field("adv_edge", &self.adv_edge)
            .field("last_ack_sent", &self.last_ack_sent)
            .field("wscale", &self.wscale)
            .field("readable", &self.readable())
            .field("fin", &self.fin())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half(limit: usize) -> RecvHalf {
        let mut r = RecvHalf::new(SeqNum(999), limit, 0, 4);
        r.advertise(1000);
        r
    }

    #[test]
    fn a_spare_block_behaves_and_counts_as_a_fresh_one() {
        // An ended connection's block held out-of-order data and SACK
        // memory; the next connection's block made in it starts empty.
        let mut spares = Spares::default();
        let mut old = half(10_000);
        assert!(old.receive(SeqNum(1005), b"later", false).out_of_order);
        assert!(old.allocated() > 0);
        let unread = old.take_unread(&mut spares);
        assert_eq!(unread.len(), 0);
        assert_eq!(spares.blocks(), (0, 1));
        let (mut reused, mut fresh) = (half(10_000), half(10_000));
        let a = reused.receive_with(SeqNum(1000), b"hello", false, Some(&mut spares));
        let b = fresh.receive(SeqNum(1000), b"hello", false);
        assert_eq!(spares.blocks(), (0, 0), "taken");
        assert_eq!(a, b);
        assert_eq!(reused.allocated(), fresh.allocated());
        assert!(!reused.has_out_of_order());
        assert_eq!(reused.sack_blocks(true), fresh.sack_blocks(true));
        let (mut x, mut y) = ([0u8; 16], [0u8; 16]);
        assert_eq!((reused.read(&mut x), fresh.read(&mut y)), (5, 5));
        assert_eq!(x, y);
    }

    /// One segment of [`in_order_path_differential`]: (offset from the
    /// first data byte, length, FIN, staged first, read this much after).
    type Seg = (u32, usize, bool, bool, usize);

    /// Runs `segs` through a receive half, recording everything it shows.
    fn run_segments(segs: &[Seg], in_order_path: bool) -> Vec<String> {
        NO_IN_ORDER_PATH.with(|off| off.set(!in_order_path));
        let mut r = RecvHalf::new(SeqNum(999), 3000, 0, 3);
        r.advertise(1000);
        let mut log = Vec::new();
        for (i, &(offset, len, fin, stage, read)) in segs.iter().enumerate() {
            let seq = SeqNum(1000) + offset;
            let payload: Vec<u8> = (0..len).map(|k| (offset as usize + k) as u8).collect();
            if stage {
                let _ = r.stage(seq, &payload);
            }
            let got = r.receive(seq, &payload, fin);
            r.clear_staged();
            let mut out = vec![0u8; read];
            let n = r.read(&mut out);
            let nxt = r.nxt;
            let win = r.advertise(1000);
            let sack = r.sack_blocks(true);
            log.push(format!(
                "{i}: {got:?} nxt={nxt:?} win={win} read={:?} sack={:?} fin={:?} ooo={}",
                &out[..n],
                sack.as_slice(),
                r.fin(),
                r.has_out_of_order(),
            ));
        }
        NO_IN_ORDER_PATH.with(|off| off.set(false));
        log
    }

    /// Segments for [`in_order_path_differential`]: in-order runs (the
    /// path under test) are common, and so are bare FINs a little beyond
    /// RCV.NXT (a FIN held beyond a hole with no bytes held, which an
    /// in-order segment then reaches).
    fn segments() -> impl proptest::strategy::Strategy<Value = Vec<Seg>> {
        use proptest::prelude::*;
        let seg = (0u32..2500, 0usize..700, 0u8..10, any::<bool>(), 0usize..900);
        proptest::collection::vec(seg, 1..40).prop_map(|raw| {
            let (mut end, mut gap) = (0u32, None);
            raw.into_iter()
                .map(|(offset, len, kind, stage, read)| {
                    let (offset, len, fin) = match kind {
                        // Continues the last segment (up to a FIN beyond
                        // it, if one was sent).
                        0..=4 => (end, gap.take().unwrap_or(len), false),
                        // A bare FIN `len` bytes beyond it.
                        5 => {
                            gap = Some(len);
                            return (end + len as u32, 0, true, stage, read);
                        }
                        6 => (end, len, true),
                        _ => (offset, len, kind == 7),
                    };
                    end = end.max(offset + len as u32);
                    (offset, len, fin, stage, read)
                })
                .collect()
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// `store`'s in-order path (no hole held: `Assembler::add` skipped)
        /// behaves exactly as the general path: the same outcomes, RCV.NXT,
        /// windows, bytes read, SACK blocks and FIN, for in-order,
        /// out-of-order, duplicate, staged and FIN-carrying segments.
        #[test]
        fn in_order_path_differential(segs in segments()) {
            proptest::prop_assert_eq!(run_segments(&segs, true), run_segments(&segs, false));
        }
    }

    #[test]
    fn in_order_data_is_readable_and_moves_rcv_nxt() {
        let mut r = half(10_000);
        assert_eq!(r.window(), 10_000);
        let got = r.receive(SeqNum(1000), b"hello", false);
        assert_eq!(got.in_order, 5);
        assert_eq!(r.nxt, SeqNum(1005));
        let mut out = [0u8; 10];
        assert_eq!(r.read(&mut out), 5);
        assert_eq!(&out[..5], b"hello");
    }

    /// A run staged one segment at a time (`stage`, and `truncate_staged`
    /// when a checksum fails, as GRO did) or with one [`Stager`]: the same
    /// sums, the same staged count and the same bytes once committed, with
    /// the ring wrapping anywhere (bytes read before) and the limit reached.
    fn staged_run(
        limit: usize,
        before: usize,
        read: usize,
        payloads: &[(Vec<u8>, bool)],
        stager: bool,
    ) -> (Vec<u16>, u32, Vec<u8>) {
        let mut r = half(limit);
        let pre: Vec<u8> = (0..before).map(|i| i as u8).collect();
        r.receive(SeqNum(1000), &pre, false);
        let mut out = vec![0; read];
        let _ = r.read(&mut out);
        let mut seq = r.nxt;
        let mut sums = Vec::new();
        if r.stage(seq, b"first").is_some() {
            seq += 5_u32;
            if stager {
                let max = payloads.iter().map(|(p, _)| p.len()).sum();
                if let Some(mut st) = r.stager(seq, max) {
                    for (p, ok) in payloads {
                        let staged = st.stage_if(p, |sum| {
                            sums.push(sum);
                            *ok
                        });
                        if !staged {
                            break;
                        }
                    }
                }
            } else {
                for (p, ok) in payloads {
                    let before = r.staged();
                    let Some(sum) = r.stage(seq, p) else {
                        break;
                    };
                    sums.push(sum);
                    if !ok {
                        r.truncate_staged(before);
                        break;
                    }
                    seq += p.len() as u32;
                }
            }
        }
        let staged = r.staged();
        let nxt = r.nxt;
        r.receive(nxt, &vec![0; staged as usize], false);
        let mut all = vec![0; limit];
        let n = r.read(&mut all);
        all.truncate(n);
        (sums, staged, all)
    }

    proptest::proptest! {
        #[test]
        fn a_stager_stages_as_segment_by_segment_staging(
            limit in 64_usize..3000,
            before in 0_usize..3000,
            read in 0_usize..3000,
            payloads in proptest::collection::vec(
                (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
                 proptest::prelude::any::<bool>()),
                0..12,
            ),
        ) {
            // Checksums fail rarely: most runs go on past a few segments.
            let payloads: Vec<(Vec<u8>, bool)> =
                payloads.into_iter().enumerate().map(|(i, (p, ok))| (p, ok || i % 4 != 3)).collect();
            proptest::prop_assert_eq!(
                staged_run(limit, before, read, &payloads, true),
                staged_run(limit, before, read, &payloads, false)
            );
        }
    }

    #[test]
    fn staged_segments_of_a_run_are_committed_by_one_receive() {
        let mut r = half(10_000);
        let a = r.stage(SeqNum(1000), b"hello").unwrap();
        // Only the next byte continues the staged ones.
        assert_eq!(r.stage(SeqNum(1006), b"x"), None);
        let b = r.stage(SeqNum(1005), b"world").unwrap();
        assert_eq!(a, crate::wire::checksum::data(b"hello"));
        assert_eq!(b, crate::wire::checksum::data(b"world"));
        // A third whose checksum failed is dropped from the run.
        r.stage(SeqNum(1010), b"junk").unwrap();
        r.truncate_staged(10);
        assert_eq!(r.staged(), 10);
        // The merged segment's bytes are never read: the staged ones count.
        let got = r.receive(SeqNum(1000), &[0u8; 10], false);
        assert_eq!(got.in_order, 10);
        let mut out = [0u8; 16];
        assert_eq!(r.read(&mut out), 10);
        assert_eq!(&out[..10], b"helloworld");
    }

    #[test]
    fn out_of_order_data_waits_for_the_hole() {
        let mut r = half(10_000);
        let got = r.receive(SeqNum(1005), b"world", false);
        assert!(got.out_of_order && got.in_order == 0);
        assert_eq!(
            r.sack_blocks(true).as_slice(),
            &[(SeqNum(1005), SeqNum(1010))]
        );
        let got = r.receive(SeqNum(1000), b"hello", false);
        assert_eq!(got.in_order, 10);
        assert!(got.filled_hole);
        assert!(r.sack_blocks(true).is_empty());
        let mut out = [0u8; 10];
        assert_eq!(r.read(&mut out), 10);
        assert_eq!(&out, b"helloworld");
    }

    #[test]
    fn duplicates_and_overlaps_are_trimmed() {
        let mut r = half(10_000);
        r.receive(SeqNum(1000), b"abc", false);
        assert!(r.receive(SeqNum(1000), b"abc", false).duplicate);
        let got = r.receive(SeqNum(1001), b"bcdef", false);
        assert_eq!(got.in_order, 3);
        assert_eq!(r.nxt, SeqNum(1006));
    }

    #[test]
    fn data_beyond_the_window_is_cut_at_the_right_edge() {
        let mut r = half(8);
        let got = r.receive(SeqNum(1000), b"0123456789", false);
        assert_eq!(got.in_order, 8);
        assert_eq!(r.window(), 0);
        // A FIN after data that did not fit is not taken.
        let got = r.receive(SeqNum(1008), b"89", true);
        assert!(!got.fin && r.fin().is_none());
    }

    #[test]
    fn fin_is_taken_in_order_even_after_a_hole_fills() {
        let mut r = half(1000);
        let got = r.receive(SeqNum(1003), b"de", true);
        assert!(!got.fin);
        let got = r.receive(SeqNum(1000), b"abc", false);
        assert!(got.fin);
        assert_eq!(r.fin(), Some(SeqNum(1005)));
        assert_eq!(r.nxt, SeqNum(1006));
        // A bare FIN in order.
        let mut r = half(1000);
        assert!(r.receive(SeqNum(1000), b"", true).fin);
        // A retransmitted FIN changes nothing.
        assert!(!r.receive(SeqNum(1000), b"", true).fin);
        assert_eq!(r.nxt, SeqNum(1001));
    }

    #[test]
    fn a_fin_beyond_a_hole_keeps_the_block_through_a_release() {
        let mut r = half(1000);
        assert!(!r.has_block(), "nothing received: no block");
        assert!(!r.receive(SeqNum(1003), b"", true).fin);
        assert!(!r.has_out_of_order(), "a bare FIN holds no bytes");
        r.release_if_empty();
        assert!(r.has_block(), "the FIN beyond the hole is kept");
        let got = r.receive(SeqNum(1000), b"abc", false);
        assert!(got.fin);
        assert_eq!(r.nxt, SeqNum(1004));
        let mut out = [0u8; 3];
        assert_eq!(r.read(&mut out), 3);
        assert!(r.release_if_empty());
        assert!(!r.has_block());
        assert_eq!(r.allocated(), 0);
    }

    #[test]
    fn a_pending_dsack_keeps_the_block_until_it_is_reported() {
        let mut r = half(1000);
        r.receive(SeqNum(1000), b"abc", false);
        // The caller notes a duplicate wholly below RCV.NXT.
        assert!(r.receive(SeqNum(1000), b"abc", false).duplicate);
        r.note_duplicate(SeqNum(1000), SeqNum(1003));
        let mut out = [0u8; 3];
        assert_eq!(r.read(&mut out), 3);
        r.release_if_empty();
        assert!(r.has_block() && r.dsack_pending());
        assert_eq!(
            r.sack_blocks(true).as_slice(),
            &[(SeqNum(1000), SeqNum(1003))]
        );
        assert!(r.release_if_empty());
        assert!(!r.has_block());
    }

    #[test]
    fn too_many_holes_drops_the_segment() {
        let mut r = RecvHalf::new(SeqNum(0), 100_000, 0, 2);
        r.advertise(1000);
        r.receive(SeqNum(11), b"x", false);
        r.receive(SeqNum(21), b"x", false);
        let got = r.receive(SeqNum(31), b"x", false);
        assert!(got.dropped_too_many_holes);
        // Filling the first hole still works.
        assert_eq!(r.receive(SeqNum(1), &[0; 10], false).in_order, 11);
    }

    #[test]
    fn receiver_sws_avoidance_keeps_the_edge_until_an_mss_frees() {
        let mut r = half(4000);
        let data = [0u8; 4000];
        r.receive(SeqNum(1000), &data, false);
        assert_eq!(r.advertise(1000), 0, "buffer full: zero window");
        let mut out = [0u8; 500];
        assert_eq!(r.read(&mut out), 500);
        assert_eq!(r.advertise(1000), 0, "500 bytes free < min(MSS, buf/2)");
        assert_eq!(r.read(&mut out), 500);
        assert_eq!(r.advertise(1000), 1000, "an MSS is free: open");
    }

    #[test]
    fn scaled_windows_round_down_and_the_edge_never_moves_left() {
        let mut r = RecvHalf::new(SeqNum(0), 1 << 20, 7, 4);
        let field = r.advertise(1448);
        assert_eq!(u32::from(field) << 7, 1 << 20);
        let edge = r.window_end();
        // 100 bytes arrive: the window is 2^20 - 100, not a multiple of 128.
        r.receive(SeqNum(1), &[1; 100], false);
        let field = r.advertise(1448);
        assert_eq!(r.window_end(), edge, "the kept edge did not move");
        let seen = r.nxt + (u32::from(field) << 7);
        assert!(
            seen.before_eq(edge) && edge.diff(seen) < 128,
            "retracted by < 2^7"
        );
    }

    #[test]
    fn a_full_buffer_shows_as_a_zero_window_with_scaling() {
        let mut r = RecvHalf::new(SeqNum(0), 16 * 1024, 7, 4);
        r.advertise(1448);
        for i in 0..11u32 {
            r.receive(SeqNum(1) + i * 1448, &[0; 1448], false);
            r.advertise(1448);
        }
        // 16384 - 11 * 1448 = 456 bytes of window left: 3 units of 128.
        assert_eq!(r.advertise(1448), 3);
        r.receive(SeqNum(1) + 11 * 1448u32, &[0; 456], false);
        assert_eq!(r.advertise(1448), 0, "full: zero, not a rounded-up sliver");
        assert_eq!(r.readable(), 16 * 1024);
    }

    #[test]
    fn syn_window_is_unscaled_and_capped() {
        let mut r = RecvHalf::new(SeqNum(0), 1 << 20, 7, 4);
        assert_eq!(r.advertise_unscaled(), 65_535);
        assert_eq!(r.window(), 65_535);
    }
}
