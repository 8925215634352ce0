//! A receive buffer's oldest bytes held in the frames they arrived in,
//! instead of copied into the ring (zero-copy receive).
//!
//! Read first: the receive half of `ring_buffer.rs` (payloads copied to
//! their place, committed, copied out by the application) and
//! `Stack::handle_frames_owned` (a driver that hands its frames over
//! instead of lending them for the call).
//!
//! When a driver hands its frames over, an in-order segment that arrives
//! while everything readable is already held this way (in particular, while
//! nothing is readable) need not be copied into the ring at all: its frame
//! is kept, its payload's place in the ring is reserved but never written,
//! and the application's read copies the bytes out of the frame, which then
//! goes back to the driver ([`crate::tcp::conn::Spares`]' spent frames).
//! Linux keeps its skbs on the receive queue the same way. The receive
//! path then makes one pass over each payload (its checksum) instead of
//! two (the copy into the ring, summed), and the ring's memory stays out of
//! the cache.
//!
//! The frames always hold a prefix of the ring's buffered bytes: the first
//! [`KeptFrames::committed`] of them. Bytes after that prefix (a segment
//! that came by the copying path, out-of-order data) are in the ring as
//! usual. Anything that needs the ring's bytes themselves spills the frames
//! into it first ([`KeptFrames::spill`]).
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

/// One kept frame and the range of it that holds stream bytes not yet read.
struct Kept {
    frame: Vec<u8>,
    start: u32,
    end: u32,
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

/// The frames holding a receive buffer's first bytes, then those staged
/// for the segment being handled.
///
/// A queue in a `Vec` with a read index rather than a `VecDeque`: it
/// empties whenever the application reads everything (each turn of a bulk
/// transfer), and starts again from the front then; a reader that never
/// catches up has the read entries dropped from the front once they are
/// half of them.
#[derive(Default)]
pub struct KeptFrames {
    frames: Vec<Kept>,
    /// Entries before this index were read (their frames given back).
    head: usize,
    /// Entries from `head` to this index are committed: they hold the
    /// buffer's first `committed` bytes. The rest are pending.
    pending_from: usize,
    committed: u32,
    pending: u32,
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
        }
    }

    /// Whether no frame is held, committed or pending.
    pub fn is_empty(&self) -> bool {
        self.head == self.frames.len()
    }

    /// The buffer's first bytes that frames hold.
    pub fn committed(&self) -> usize {
        self.committed as usize
    }

    /// Bytes staged in pending frames.
    pub fn pending(&self) -> usize {
        self.pending as usize
    }

    /// Bytes allocated: the frames and the queue.
    pub fn allocated(&self) -> usize {
        self.frames[self.head..]
            .iter()
            .map(|k| k.frame.capacity())
            .sum::<usize>()
            + self.frames.capacity() * core::mem::size_of::<Kept>()
    }

    /// Stages `frame[start..end]`, the bytes after those staged so far.
    /// The caller checked that the range is in the frame and non-empty.
    pub fn push_pending(&mut self, frame: Vec<u8>, start: usize, end: usize) {
        debug_assert!(start < end && end <= frame.len());
        // A frame is at most 4 GiB; an IPv4 one at most 64 KiB.
        let (start, end) = (start as u32, end as u32);
        self.pending += end - start;
        if self.head > 32 && self.head >= self.frames.len() / 2 {
            self.frames.drain(..self.head);
            self.pending_from -= self.head;
            self.head = 0;
        }
        self.frames.push(Kept { frame, start, end });
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
        while self.frames.len() > self.pending_from {
            if let Some(k) = self.frames.pop() {
                spent.give(k.frame);
            }
        }
        self.pending = 0;
        self.reset_if_read();
    }

    /// Copies up to `out.len()` committed bytes into `out` and removes
    /// them; returns how many. Frames read to their end go to `spent`.
    pub fn read(&mut self, out: &mut [u8], spent: &mut Spent<'_>) -> usize {
        let mut done = 0;
        while self.head < self.pending_from {
            let k = &mut self.frames[self.head];
            let bytes = k.bytes();
            let n = bytes.len().min(out.len() - done);
            copy::copy(&mut out[done..done + n], &bytes[..n]);
            done += n;
            if n < bytes.len() {
                // At most the frame's range, a `u32`.
                k.start += n as u32;
                break;
            }
            spent.give(core::mem::take(&mut k.frame));
            self.head += 1;
        }
        // At most `committed`: the committed entries hold it.
        self.committed -= done as u32;
        self.reset_if_read();
        done
    }

    /// Starts the queue again from the front once every entry is read.
    fn reset_if_read(&mut self) {
        if self.head == self.frames.len() {
            self.frames.clear();
            self.head = 0;
            self.pending_from = 0;
        }
    }

    /// Writes the committed bytes into their reserved place at the front
    /// of `ring` and gives their frames back: the ring then holds every
    /// buffered byte itself. Nothing may be pending.
    pub fn spill(&mut self, ring: &mut RingBuffer, spent: &mut Spent<'_>) {
        debug_assert_eq!(self.pending, 0, "spilled while a segment is staged");
        let mut at = 0;
        for k in self.frames.drain(self.head..) {
            let bytes = k.bytes();
            ring.write_front(at, bytes);
            at += bytes.len();
            spent.give(k.frame);
        }
        self.frames.clear();
        self.head = 0;
        self.committed = 0;
        self.pending = 0;
        self.pending_from = 0;
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

    #[test]
    fn committed_frames_read_back_in_order_and_return_when_read() {
        let mut spent = Vec::new();
        let mut k = KeptFrames::new();
        k.push_pending(frame(1, 600), 10, 610);
        k.push_pending(frame(2, 600), 10, 610);
        assert_eq!((k.committed(), k.pending()), (0, 1200));
        k.commit(1200);
        assert_eq!((k.committed(), k.pending()), (1200, 0));
        let mut out = [0u8; 700];
        assert_eq!(k.read(&mut out, &mut Spent(&mut spent)), 700);
        assert!(out[..600].iter().all(|&b| b == 1) && out[600..].iter().all(|&b| b == 2));
        assert_eq!(spent.len(), 1, "the first frame went back once read");
        assert_eq!(k.read(&mut out, &mut Spent(&mut spent)), 500);
        assert!(out[..500].iter().all(|&b| b == 2));
        assert_eq!((spent.len(), k.committed()), (2, 0));
        assert!(k.is_empty());
    }

    #[test]
    fn a_partial_commit_cuts_the_last_frame_and_returns_the_rest() {
        let mut spent = Vec::new();
        let mut k = KeptFrames::new();
        for fill in 1..=3 {
            k.push_pending(frame(fill, 600), 10, 610);
        }
        k.commit(700);
        assert_eq!((k.committed(), k.pending()), (700, 600));
        k.drop_pending(&mut Spent(&mut spent));
        assert_eq!((k.pending(), spent.len()), (0, 1));
        let mut out = [0u8; 1000];
        assert_eq!(k.read(&mut out, &mut Spent(&mut spent)), 700);
        assert!(out[600..700].iter().all(|&b| b == 2));
        assert_eq!(spent.len(), 3);
    }

    #[test]
    fn dropped_pending_frames_go_back_and_committed_ones_stay() {
        let mut spent = Vec::new();
        let mut k = KeptFrames::new();
        k.push_pending(frame(1, 600), 10, 610);
        k.commit(600);
        k.push_pending(frame(2, 600), 10, 610);
        k.drop_pending(&mut Spent(&mut spent));
        assert_eq!((k.committed(), k.pending(), spent.len()), (600, 0, 1));
        let mut out = [0u8; 1000];
        assert_eq!(k.read(&mut out, &mut Spent(&mut spent)), 600);
        assert!(out[..600].iter().all(|&b| b == 1));
    }

    #[test]
    fn spilling_writes_the_bytes_into_their_reserved_place() {
        let mut spent = Vec::new();
        let mut ring = RingBuffer::new(4096);
        assert_eq!(ring.reserve_ahead(0, 1200, None), 1200);
        assert_eq!(ring.commit(1200), 1200);
        let mut k = KeptFrames::new();
        k.push_pending(frame(7, 600), 10, 610);
        k.push_pending(frame(8, 600), 10, 610);
        k.commit(1200);
        k.spill(&mut ring, &mut Spent(&mut spent));
        assert!(k.is_empty());
        assert_eq!(spent.len(), 2);
        let mut out = [0u8; 1200];
        assert_eq!(ring.dequeue_slice(&mut out), 1200);
        assert!(out[..600].iter().all(|&b| b == 7) && out[600..].iter().all(|&b| b == 8));
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
        let mut spent = vec![Vec::new(); MAX_SPENT_FRAMES];
        Spent(&mut spent).give(vec![1]);
        assert_eq!(spent.len(), MAX_SPENT_FRAMES);
    }
}
