//! A receive buffer's bytes held in the frames they arrived in, instead of
//! copied into the ring (zero-copy receive).
//!
//! Read first: the receive half of `ring_buffer.rs` (payloads copied to
//! their place, committed, copied out by the application) and
//! `Stack::handle_frames_owned` (a driver that hands its frames over
//! instead of lending them for the call).
//!
//! When a driver hands its frames over, an in-order segment need not be
//! copied into the ring at all: its frame is kept, its payload's place in
//! the ring is reserved but never written,
//! and the application's read copies the bytes out of the frame, which then
//! goes back to the driver ([`crate::tcp::conn::Spares`]' spent frames).
//! Linux keeps its skbs on the receive queue the same way. The receive
//! path then makes one pass over each payload (its checksum) instead of
//! two (the copy into the ring, summed), and the ring's memory stays out of
//! the cache.
//!
//! Each kept frame records where its bytes are among the ring's buffered
//! ones; the bytes between kept frames (segments that came by the copying
//! way: short ones, a driver that lends its frames, data that arrived out
//! of order) are in the ring itself. A read takes each byte from wherever
//! it is, in stream order ([`KeptFrames::read`]). Anything that needs the
//! ring's bytes themselves spills the frames into it first
//! ([`KeptFrames::spill`]).
//!
//! Frames are staged before their segment goes through TCP, as copied
//! payloads are ([`crate::tcp::conn::RecvHalf::stage`]): pending until the
//! segment's text is accepted, then committed; what is not committed goes
//! back to the driver.

use core::fmt;

use super::RingBuffer;
use super::copy;

/// A frame's payload shorter than this is copied, not kept: a copy of a
/// few hundred bytes costs less than keeping their frame.
pub const MIN_KEPT_PAYLOAD: usize = 512;

/// Whether a frame whose allocation is `capacity` bytes may be kept for a
/// `payload`-byte payload: at least [`MIN_KEPT_PAYLOAD`], and at least half
/// of the allocation, so that what kept frames hold stays within twice the
/// receive buffer's limit (the window bounds their payload), as Linux
/// bounds a receive queue by its skbs' true size.
pub fn worth_keeping(capacity: usize, payload: usize) -> bool {
    payload >= MIN_KEPT_PAYLOAD && capacity <= 2 * payload
}

/// A received frame in a buffer its driver hands over
/// (`Stack::handle_frames_owned`): the frame is `buf[..len]`, the rest of
/// the buffer is the driver's spare room. The stack may take the buffer
/// (leaving an empty one, [`FrameBuf::is_taken`]) and gives it back once
/// read (`Stack::reclaim_frames`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameBuf {
    pub buf: Vec<u8>,
    pub len: usize,
}

impl AsRef<[u8]> for FrameBuf {
    fn as_ref(&self) -> &[u8] {
        self.frame()
    }
}

impl FrameBuf {
    pub fn new(buf: Vec<u8>, len: usize) -> FrameBuf {
        FrameBuf { buf, len }
    }

    /// The frame's bytes (at most the buffer's).
    pub fn frame(&self) -> &[u8] {
        &self.buf[..self.len.min(self.buf.len())]
    }

    /// Whether the stack took the buffer.
    pub fn is_taken(&self) -> bool {
        self.buf.capacity() == 0
    }

    /// Takes the buffer, leaving an empty one.
    pub fn take(&mut self) -> Vec<u8> {
        self.len = 0;
        core::mem::take(&mut self.buf)
    }

    /// Gives a slot whose buffer the stack took a buffer again: one of
    /// `spare` (buffers the stack gave back), else a new one of `size`
    /// bytes. A slot the stack left keeps its own.
    pub fn refill(&mut self, spare: &mut Vec<Vec<u8>>, size: usize) {
        if self.is_taken() {
            self.buf = spare.pop().unwrap_or_else(|| vec![0; size]);
        }
    }

    /// Keeps `buf`, a buffer the stack gave back (`Stack::reclaim_frames`),
    /// in `spare` for [`FrameBuf::refill`] if it is a full `size` bytes (the
    /// stack never shortens one) and `spare` holds fewer than `max`; else
    /// frees it.
    pub fn keep_spare(spare: &mut Vec<Vec<u8>>, buf: Vec<u8>, size: usize, max: usize) {
        if buf.len() == size && spare.len() < max {
            spare.push(buf);
        }
    }
}

/// One kept frame, the range of it that holds stream bytes not yet read,
/// and where they are in the stream.
struct Kept {
    frame: Vec<u8>,
    start: u32,
    end: u32,
    /// The stream position of the frame's first unread byte, counted as
    /// [`KeptFrames::front`] is.
    at: u64,
}

impl Kept {
    fn bytes(&self) -> &[u8] {
        self.frame
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    fn len(&self) -> u32 {
        self.end - self.start
    }
}

/// The frames holding some of a receive buffer's bytes, in stream order,
/// then those staged for the segment being handled.
///
/// A queue in a `Vec` with a read index rather than a `VecDeque`: it
/// empties whenever the application reads everything (each turn of a bulk
/// transfer), and starts again from the front then; a reader that never
/// catches up has the read entries dropped from the front once they are
/// half of them.
#[derive(Default)]
pub struct KeptFrames {
    frames: Vec<Kept>,
    /// Entries before this index were read; their frames go back together
    /// once every entry is read.
    head: usize,
    /// Entries from `head` to this index are committed: they hold
    /// `committed` of the buffer's bytes. The rest are pending.
    pending_from: usize,
    committed: u32,
    pending: u32,
    /// The frames' allocations, summed (what `tcp_mem` charges for them).
    held: usize,
    /// The stream position of the ring's first buffered byte: bytes read
    /// since the queue last started from empty.
    front: u64,
}

impl fmt::Debug for KeptFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeptFrames")
            .field("frames", &(self.frames.len() - self.head))
            .field("committed", &self.committed)
            .field("pending", &self.pending)
            .finish()
    }
}

impl KeptFrames {
    /// No frames. Allocates nothing.
    pub const fn new() -> Self {
        KeptFrames {
            frames: Vec::new(),
            head: 0,
            pending_from: 0,
            committed: 0,
            pending: 0,
            held: 0,
            front: 0,
        }
    }

    /// Whether no frame is held, committed or pending.
    pub fn is_empty(&self) -> bool {
        self.head == self.frames.len()
    }

    /// The buffer's bytes that frames hold.
    pub fn committed(&self) -> usize {
        self.committed as usize
    }

    /// Bytes staged in pending frames.
    pub fn pending(&self) -> usize {
        self.pending as usize
    }

    /// Bytes allocated: the frames and the queue.
    pub fn allocated(&self) -> usize {
        self.held + self.frames.capacity() * core::mem::size_of::<Kept>()
    }

    /// Bytes the frames hold allocated (not the queue), kept as a sum.
    #[inline]
    pub fn frames_allocated(&self) -> usize {
        self.held
    }

    /// Hands the frames of `self.frames[range]` to `spent`, taking their
    /// allocations off the sum.
    fn give_back(&mut self, range: impl core::ops::RangeBounds<usize>, spent: &mut Spent<'_>) {
        let held = &mut self.held;
        spent.give_all(self.frames.drain(range).map(|k| {
            *held -= k.frame.capacity();
            k.frame
        }));
    }

    /// Stages `frames[k].frame()[start..ends[k]]` for each of `ends`, bytes
    /// whose places follow one another from `offset` bytes after the ring's
    /// first buffered byte (right after those staged so far), taking each
    /// frame's buffer. The caller checked that every range is in its frame
    /// and non-empty.
    pub fn push_pending(
        &mut self,
        frames: &mut [FrameBuf],
        start: usize,
        ends: &[usize],
        offset: usize,
        spent: &mut Spent<'_>,
    ) {
        if self.head > 32 && self.head >= self.frames.len() / 2 {
            self.give_back(..self.head, spent);
            self.pending_from -= self.head;
            self.head = 0;
        }
        let mut at = self.front + offset as u64;
        let mut total = 0;
        let mut held = 0;
        // One `extend` over two slices: room is made once and each entry
        // written in place (a `push` per frame checked the room each time
        // and staged the buffer through memory around that check).
        self.frames
            .extend(frames.iter_mut().zip(ends).map(|(frame, &end)| {
                debug_assert!(start < end && end <= frame.frame().len());
                // A frame is at most 4 GiB; an IPv4 one at most 64 KiB.
                let (start, end) = (start as u32, end as u32);
                let frame = frame.take();
                held += frame.capacity();
                let kept = Kept {
                    frame,
                    start,
                    end,
                    at,
                };
                at += u64::from(end - start);
                total += end - start;
                kept
            }));
        self.pending += total;
        self.held += held;
    }

    /// Commits the first `n` pending bytes (the segment's accepted text):
    /// they follow the committed ones, the frame holding the last of them
    /// cut short. Frames beyond it stay pending, for
    /// [`KeptFrames::drop_pending`].
    pub fn commit(&mut self, n: usize) {
        // At most `pending`, a `u32`.
        let n = n.min(self.pending as usize) as u32;
        let mut left = n;
        while left > 0 {
            let Some(k) = self.frames.get_mut(self.pending_from) else {
                break;
            };
            let len = k.len();
            k.end = k.start + left.min(len);
            left -= left.min(len);
            self.pending -= len;
            self.pending_from += 1;
        }
        self.committed += n;
    }

    /// Gives every pending frame back (its segment was dropped, or only
    /// part of it was accepted).
    pub fn drop_pending(&mut self, spent: &mut Spent<'_>) {
        self.give_back(self.pending_from.., spent);
        self.pending = 0;
        self.reset_if_read(spent);
    }

    /// Copies up to `out.len()` of `ring`'s buffered bytes into `out` and
    /// removes them, each from wherever it is (a kept frame, or the ring
    /// itself); returns how many. Once every frame is read they all go to
    /// `spent`.
    pub fn read(&mut self, out: &mut [u8], ring: &mut RingBuffer, spent: &mut Spent<'_>) -> usize {
        let mut done = 0;
        // Bytes read out of frames whose places are still in the ring:
        // dropped from it at once, before the ring's own bytes are read.
        let mut kept = 0;
        while done < out.len() {
            let room = out.len() - done;
            let Some(k) = self.frames[..self.pending_from].get_mut(self.head) else {
                // No kept frame ahead: the rest is the ring's.
                self.drop_places(ring, &mut kept);
                done += ring.dequeue_slice(&mut out[done..]);
                break;
            };
            // Bytes the ring holds itself before the next kept frame.
            let gap = (k.at - self.front) as usize;
            if gap > 0 {
                self.drop_places(ring, &mut kept);
                let want = gap.min(room);
                let n = ring.dequeue_slice(&mut out[done..done + want]);
                done += n;
                self.front += n as u64;
                if n < want {
                    break;
                }
                continue;
            }
            let bytes = k.bytes();
            let n = bytes.len().min(room);
            copy::copy(&mut out[done..done + n], &bytes[..n]);
            done += n;
            kept += n;
            self.front += n as u64;
            if n < bytes.len() {
                // At most the frame's range, a `u32`.
                k.start += n as u32;
                k.at += n as u64;
                break;
            }
            self.head += 1;
        }
        self.drop_places(ring, &mut kept);
        self.reset_if_read(spent);
        done
    }

    /// Copies up to `out.len()` of `ring`'s buffered bytes, from `offset`
    /// bytes after its front, into `out` without removing them (MSG_PEEK),
    /// each from wherever it is; returns how many.
    pub fn peek(&self, offset: usize, out: &mut [u8], ring: &RingBuffer) -> usize {
        // Stream positions: from the first byte to copy to the last.
        let mut at = self.front + offset as u64;
        let stop = self.front + ring.len().min(offset.saturating_add(out.len())) as u64;
        let mut done = 0;
        let committed = self
            .frames
            .get(self.head..self.pending_from)
            .unwrap_or_default();
        for k in committed {
            if at >= stop {
                break;
            }
            let k_end = k.at + u64::from(k.len());
            if k_end <= at {
                continue;
            }
            if k.at > at {
                // The ring's own bytes before this frame.
                let want = (k.at.min(stop) - at) as usize;
                let n = ring.peek((at - self.front) as usize, &mut out[done..done + want]);
                done += n;
                at += n as u64;
                if at < k.at {
                    return done;
                }
            }
            let from = (at - k.at) as usize;
            let n = ((k_end.min(stop) - at) as usize).min(k.bytes().len().saturating_sub(from));
            copy::copy(&mut out[done..done + n], &k.bytes()[from..from + n]);
            done += n;
            at += n as u64;
        }
        if at < stop {
            let want = (stop - at) as usize;
            done += ring.peek((at - self.front) as usize, &mut out[done..done + want]);
        }
        done
    }

    /// Drops from the front of `ring` the places of the `kept` bytes just
    /// read out of frames, so that its own bytes come next.
    fn drop_places(&mut self, ring: &mut RingBuffer, kept: &mut usize) {
        ring.discard_front(*kept);
        // At most `committed`: the committed entries hold it.
        self.committed -= *kept as u32;
        *kept = 0;
    }

    /// Starts the queue again from the front once every entry is read, the
    /// frames given back together.
    fn reset_if_read(&mut self, spent: &mut Spent<'_>) {
        if self.head == self.frames.len() {
            self.give_back(.., spent);
            self.head = 0;
            self.pending_from = 0;
            self.front = 0;
        }
    }

    /// Writes the committed bytes into their reserved places in `ring` and
    /// gives their frames back: the ring then holds every buffered byte
    /// itself. Nothing may be pending.
    pub fn spill(&mut self, ring: &mut RingBuffer, spent: &mut Spent<'_>) {
        debug_assert_eq!(self.pending, 0, "spilled while a segment is staged");
        for k in &self.frames[self.head..] {
            ring.write_front((k.at - self.front) as usize, k.bytes());
        }
        self.give_back(.., spent);
        self.head = 0;
        self.committed = 0;
        self.pending = 0;
        self.pending_from = 0;
        self.front = 0;
    }
}

/// Most spent frames a stack holds for its driver: a driver that hands
/// frames over takes them back after each batch
/// (`Stack::reclaim_frames`); beyond this many the rest are freed.
pub const MAX_SPENT_FRAMES: usize = 4096;

/// Where frames that are no longer needed go: back to the driver.
#[derive(Debug)]
pub struct Spent<'a>(pub &'a mut Vec<Vec<u8>>);

impl Spent<'_> {
    /// Hands `frame` back (or frees it if the driver has not taken
    /// [`MAX_SPENT_FRAMES`] back yet).
    pub fn give(&mut self, frame: Vec<u8>) {
        if self.0.len() < MAX_SPENT_FRAMES {
            self.0.push(frame);
        }
    }

    /// [`Spent::give`] for each of `frames`.
    pub fn give_all(&mut self, frames: impl Iterator<Item = Vec<u8>>) {
        let room = MAX_SPENT_FRAMES.saturating_sub(self.0.len());
        self.0.extend(frames.take(room));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fill: u8, payload: usize) -> Vec<u8> {
        let mut f = vec![0xEE; 10];
        f.extend(core::iter::repeat_n(fill, payload));
        f.extend([0xEE; 4]);
        f
    }

    /// A receive ring and the frames kept for it, as `RecvHalf` holds them.
    struct Buffer {
        ring: RingBuffer,
        kept: KeptFrames,
        spent: Vec<Vec<u8>>,
    }

    impl Buffer {
        fn new() -> Buffer {
            Buffer {
                ring: RingBuffer::new(1 << 16),
                kept: KeptFrames::new(),
                spent: Vec::new(),
            }
        }

        /// Stages a 600-byte payload of `fill` in a kept frame.
        fn stage_kept(&mut self, fill: u8) {
            let staged = self.kept.pending();
            assert_eq!(self.ring.reserve_ahead(staged, 600, None), 600);
            let offset = self.ring.len() + staged;
            self.kept.push_pending(
                &mut [FrameBuf::new(frame(fill, 600), 614)],
                10,
                &[610],
                offset,
                &mut Spent(&mut self.spent),
            );
        }

        /// Commits `n` staged bytes.
        fn commit(&mut self, n: usize) {
            self.kept.commit(n);
            assert_eq!(self.ring.commit(n), n);
        }

        /// Appends `len` bytes of `fill` to the ring itself.
        fn copy_in(&mut self, fill: u8, len: usize) {
            assert_eq!(self.ring.write_at(0, &vec![fill; len]), len);
            assert_eq!(self.ring.commit(len), len);
        }

        fn read(&mut self, n: usize) -> Vec<u8> {
            let mut out = vec![0; n];
            let got = self
                .kept
                .read(&mut out, &mut self.ring, &mut Spent(&mut self.spent));
            out.truncate(got);
            out
        }
    }

    fn bytes(parts: &[(u8, usize)]) -> Vec<u8> {
        parts
            .iter()
            .flat_map(|&(fill, n)| core::iter::repeat_n(fill, n))
            .collect()
    }

    #[test]
    fn committed_frames_read_back_in_order_and_return_when_read() {
        let mut b = Buffer::new();
        b.stage_kept(1);
        b.stage_kept(2);
        assert_eq!((b.kept.committed(), b.kept.pending()), (0, 1200));
        b.commit(1200);
        assert_eq!((b.kept.committed(), b.kept.pending()), (1200, 0));
        assert_eq!(b.read(700), bytes(&[(1, 600), (2, 100)]));
        assert_eq!(b.spent.len(), 0, "read frames go back together");
        assert_eq!(b.read(700), bytes(&[(2, 500)]));
        assert_eq!((b.spent.len(), b.kept.committed(), b.ring.len()), (2, 0, 0));
        assert!(b.kept.is_empty());
    }

    /// Ring bytes, a kept frame, ring bytes, a kept frame, ring bytes:
    /// the buffer and the bytes it reads back.
    fn mixed() -> (Buffer, Vec<u8>) {
        let mut b = Buffer::new();
        b.copy_in(9, 100);
        b.stage_kept(1);
        b.commit(600);
        b.copy_in(8, 50);
        b.stage_kept(2);
        b.commit(600);
        b.copy_in(7, 30);
        (b, bytes(&[(9, 100), (1, 600), (8, 50), (2, 600), (7, 30)]))
    }

    #[test]
    fn ring_bytes_between_kept_frames_are_read_in_stream_order() {
        let (mut b, want) = mixed();
        // Reads of every size, across each boundary.
        let mut got = b.read(1);
        for n in [99, 2, 598, 51, 10, 1000] {
            got.extend(b.read(n));
        }
        assert_eq!(got, want);
        assert_eq!((b.ring.len(), b.spent.len()), (0, 2));
        assert!(b.kept.is_empty());
    }

    /// MSG_PEEK: every offset and length across ring bytes and kept frames
    /// reads what a read would, and nothing is consumed; after a partial
    /// read the offsets count from the new front.
    #[test]
    fn peeking_reads_ring_and_frames_in_stream_order_and_keeps_them() {
        let (mut b, mut want) = mixed();
        // A staged frame, not committed, is not read.
        b.stage_kept(3);
        for offset in [
            0, 1, 99, 100, 101, 699, 700, 749, 750, 1349, 1350, 1379, 1380, 2000,
        ] {
            for len in [0, 1, 2, 50, 600, 1500] {
                let mut out = vec![0; len];
                let n = b.kept.peek(offset, &mut out, &b.ring);
                let expected = want.get(offset..).unwrap_or_default();
                let expected = &expected[..expected.len().min(len)];
                assert_eq!(&out[..n], expected, "offset {offset} len {len}");
            }
        }
        assert_eq!(b.read(150), want[..150]);
        want.drain(..150);
        let mut out = vec![0; 2000];
        let n = b.kept.peek(0, &mut out, &b.ring);
        assert_eq!(out[..n], want[..]);
        let n = b.kept.peek(600, &mut out, &b.ring);
        assert_eq!(out[..n], want[600..]);
        assert_eq!(b.read(2000), want, "peeking consumed nothing");
    }

    #[test]
    fn a_partial_commit_cuts_the_last_frame_and_returns_the_rest() {
        let mut b = Buffer::new();
        for fill in 1..=3 {
            b.stage_kept(fill);
        }
        b.commit(700);
        assert_eq!((b.kept.committed(), b.kept.pending()), (700, 600));
        b.kept.drop_pending(&mut Spent(&mut b.spent));
        assert_eq!((b.kept.pending(), b.spent.len()), (0, 1));
        assert_eq!(b.read(1000), bytes(&[(1, 600), (2, 100)]));
        assert_eq!(b.spent.len(), 3);
    }

    #[test]
    fn dropped_pending_frames_go_back_and_committed_ones_stay() {
        let mut b = Buffer::new();
        b.stage_kept(1);
        b.commit(600);
        b.stage_kept(2);
        b.kept.drop_pending(&mut Spent(&mut b.spent));
        assert_eq!(
            (b.kept.committed(), b.kept.pending(), b.spent.len()),
            (600, 0, 1)
        );
        assert_eq!(b.read(1000), bytes(&[(1, 600)]));
    }

    #[test]
    fn spilling_writes_the_bytes_into_their_reserved_places() {
        let mut b = Buffer::new();
        b.copy_in(9, 10);
        b.stage_kept(7);
        b.commit(600);
        b.copy_in(6, 5);
        b.stage_kept(8);
        b.commit(600);
        // Part of the first frame read before the spill.
        assert_eq!(b.read(20), bytes(&[(9, 10), (7, 10)]));
        b.kept.spill(&mut b.ring, &mut Spent(&mut b.spent));
        assert!(b.kept.is_empty());
        assert_eq!(b.spent.len(), 2);
        let mut out = vec![0u8; 2000];
        let n = b.ring.dequeue_slice(&mut out);
        assert_eq!(out[..n], bytes(&[(7, 590), (6, 5), (8, 600)]));
    }

    #[test]
    fn only_large_enough_and_dense_enough_frames_are_worth_keeping() {
        assert!(worth_keeping(1514, 1448));
        assert!(worth_keeping(65_535, 65_483));
        assert!(!worth_keeping(1514, 100), "a small payload is copied");
        assert!(!worth_keeping(65_536, 1448), "a sparse frame is copied");
    }

    #[test]
    fn spent_frames_beyond_the_cap_are_freed() {
        let mut spent = vec![Vec::new(); MAX_SPENT_FRAMES - 1];
        Spent(&mut spent).give_all([vec![1], vec![2]].into_iter());
        assert_eq!(spent.len(), MAX_SPENT_FRAMES);
        assert_eq!(spent[MAX_SPENT_FRAMES - 1], vec![1]);
        Spent(&mut spent).give(vec![3]);
        assert_eq!(spent.len(), MAX_SPENT_FRAMES);
    }

    #[test]
    fn a_reader_that_never_catches_up_gives_read_frames_back_as_it_goes() {
        let mut b = Buffer::new();
        let mut read = Vec::new();
        for i in 0..100u8 {
            b.stage_kept(i);
            b.commit(600);
            // Always one frame behind.
            if i > 0 {
                read.extend(b.read(600));
            }
            assert!(b.kept.frames.len() <= 70, "{i}: {:?}", b.kept);
        }
        read.extend(b.read(600));
        let want: Vec<u8> = (0..100u8)
            .flat_map(|i| core::iter::repeat_n(i, 600))
            .collect();
        assert_eq!(read, want);
        assert_eq!(b.spent.len(), 100);
        assert!(b.kept.is_empty());
    }

    #[test]
    fn a_driver_refills_taken_slots_from_full_size_spares() {
        let mut spare = Vec::new();
        FrameBuf::keep_spare(&mut spare, vec![1; 8], 8, 2);
        FrameBuf::keep_spare(&mut spare, vec![2; 5], 8, 2);
        FrameBuf::keep_spare(&mut spare, vec![3; 8], 8, 2);
        FrameBuf::keep_spare(&mut spare, vec![4; 8], 8, 2);
        assert_eq!(
            spare,
            vec![vec![1; 8], vec![3; 8]],
            "full size, at most two"
        );
        let mut slots = [FrameBuf::new(vec![9; 8], 8), FrameBuf::default()];
        for slot in &mut slots {
            slot.refill(&mut spare, 8);
        }
        assert_eq!(
            slots[0].buf,
            vec![9; 8],
            "a slot the stack left keeps its own"
        );
        assert_eq!(slots[1].buf, vec![3; 8]);
        assert_eq!(spare.len(), 1);
    }
}
