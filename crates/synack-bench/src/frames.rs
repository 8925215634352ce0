//! Frame queues between two hosts, with pooled buffers.
//!
//! One [`Frames`] is one direction of a link: the sender writes frames in
//! place ([`Frames::push_with`]), the receiver reads them in place
//! ([`Frames::pop_with`]) and the buffer goes back to the queue's pool. Once
//! warm, moving a frame costs no allocation and no copy beyond what the two
//! stacks do themselves.

use std::collections::VecDeque;

use synack_proto::stack::FrameBuf;

/// A FIFO of frames with a pool of spare buffers.
#[derive(Debug, Default)]
pub struct Frames {
    queue: VecDeque<FrameBuf>,
    pool: Vec<Vec<u8>>,
    /// Frames pushed since creation.
    pushed: u64,
}

impl Frames {
    pub fn new() -> Frames {
        Frames::default()
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Frames pushed since the queue was made.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Appends a `len`-byte frame written in place by `write` (the buffer
    /// holds leftovers from an earlier frame: `write` must fill all of it).
    pub fn push_with<R>(&mut self, len: usize, write: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut buf = self.pool.pop().unwrap_or_default();
        if buf.len() < len {
            // Buffers only grow, so a warm pool never writes zeros again.
            buf.resize(len, 0);
        }
        let r = write(&mut buf[..len]);
        self.queue.push_back(FrameBuf::new(buf, len));
        self.pushed += 1;
        r
    }

    /// Offers a buffer of up to `max` bytes to `write`, which returns how
    /// many bytes it wrote, or `None` to append nothing (a sans-IO stack's
    /// `poll_transmit`). Returns what `write` returned.
    pub fn push_up_to(
        &mut self,
        max: usize,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Option<usize> {
        // The buffer is written where it lies, on top of the pool, and
        // leaves the pool only when `write` filled it: a sans-IO stack's
        // drain ends with a `None` poll (about half the polls of a
        // handshake), which then costs no pool traffic.
        if self.pool.is_empty() {
            self.pool.push(Vec::new());
        }
        let top = self.pool.len() - 1;
        let buf = &mut self.pool[top];
        if buf.len() < max {
            // Buffers only grow, so a warm pool never writes zeros again.
            buf.resize(max, 0);
        }
        let len = write(&mut buf[..max])?;
        let buf = self.pool.pop().unwrap_or_default();
        self.queue.push_back(FrameBuf::new(buf, len.min(max)));
        self.pushed += 1;
        Some(len)
    }

    /// Appends a copy of `frame`.
    pub fn push(&mut self, frame: &[u8]) {
        self.push_with(frame.len(), |buf| buf.copy_from_slice(frame));
    }

    /// Removes the oldest frame, hands it to `read`, and recycles its buffer.
    pub fn pop_with<R>(&mut self, read: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let f = self.queue.pop_front()?;
        let r = read(f.frame());
        self.pool.push(f.buf);
        Some(r)
    }

    /// Removes the oldest frame; give the buffer back with [`Frames::recycle`].
    pub fn take(&mut self) -> Option<(Vec<u8>, usize)> {
        self.queue.pop_front().map(|f| (f.buf, f.len))
    }

    /// Every queued frame, oldest first, read in place; give them all back
    /// with [`Frames::recycle_all`].
    pub fn frames(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.queue.iter().map(FrameBuf::frame)
    }

    /// Every queued frame, oldest first, in its buffer, for a receiver
    /// that may take some of them (synack's `Stack::handle_frames_owned`);
    /// then [`Frames::recycle_handed`].
    pub fn handed(&mut self) -> &mut [FrameBuf] {
        self.queue.make_contiguous()
    }

    /// Removes every queued frame and returns the buffers the receiver did
    /// not take to the pool.
    pub fn recycle_handed(&mut self) {
        self.pool.extend(
            self.queue
                .drain(..)
                .filter(|f| !f.is_taken())
                .map(|f| f.buf),
        );
    }

    /// Removes every queued frame and returns its buffer to the pool.
    pub fn recycle_all(&mut self) {
        self.pool.extend(self.queue.drain(..).map(|f| f.buf));
    }

    /// Returns a buffer from [`Frames::take`] to the pool.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.pool.push(buf);
    }

    /// Drops every queued frame and every pooled buffer and releases the
    /// queue's memory (so a heap count afterwards sees none of it).
    pub fn release_memory(&mut self) {
        self.queue = VecDeque::new();
        self.pool = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_in_order_with_their_own_lengths() {
        let mut q = Frames::new();
        q.push(&[1, 2, 3]);
        q.push_with(2, |b| b.copy_from_slice(&[9, 8]));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop_with(|f| f.to_vec()), Some(vec![1, 2, 3]));
        // The recycled 3-byte buffer is reused for a shorter frame.
        q.push(&[7]);
        assert_eq!(q.pop_with(|f| f.to_vec()), Some(vec![9, 8]));
        assert_eq!(q.pop_with(|f| f.to_vec()), Some(vec![7]));
        assert_eq!(q.pop_with(|f| f.len()), None);
        assert_eq!(q.pushed(), 3);
    }

    #[test]
    fn frames_are_read_in_place_then_all_recycled() {
        let mut q = Frames::new();
        q.push(&[1, 2, 3]);
        q.push(&[4]);
        let read: Vec<Vec<u8>> = q.frames().map(<[u8]>::to_vec).collect();
        assert_eq!(read, vec![vec![1, 2, 3], vec![4]]);
        q.recycle_all();
        assert_eq!((q.len(), q.pool.len()), (0, 2));
        assert_eq!(q.frames().count(), 0);
    }

    #[test]
    fn handed_frames_come_back_but_the_taken_ones() {
        let mut q = Frames::new();
        q.push_up_to(8, |b| {
            b[..3].copy_from_slice(&[1, 2, 3]);
            Some(3)
        });
        q.push(&[4]);
        let handed = q.handed();
        assert_eq!(handed[0].frame(), [1, 2, 3]);
        assert_eq!(handed[1].frame(), [4]);
        // The receiver took the first frame: only the second comes back.
        let taken = handed[0].take();
        q.recycle_handed();
        assert_eq!((q.len(), q.pool.len()), (0, 1));
        q.recycle(taken);
        assert_eq!(q.pool.len(), 2);
    }

    #[test]
    fn an_empty_offer_keeps_its_buffer_in_the_pool() {
        let mut q = Frames::new();
        // Nothing written: no frame, and the buffer stays pooled, grown.
        assert_eq!(q.push_up_to(8, |_| None), None);
        assert_eq!((q.len(), q.pushed(), q.pool.len()), (0, 0, 1));
        assert_eq!(q.pool[0].len(), 8);
        // The same buffer is offered again and becomes the frame.
        assert_eq!(
            q.push_up_to(8, |b| {
                b[..3].copy_from_slice(&[4, 5, 6]);
                Some(3)
            }),
            Some(3)
        );
        assert_eq!((q.len(), q.pushed(), q.pool.len()), (1, 1, 0));
        assert_eq!(q.pop_with(|f| f.to_vec()), Some(vec![4, 5, 6]));
        assert_eq!(q.pool.len(), 1);
        // A frame longer than the offer is cut to it.
        assert_eq!(q.push_up_to(2, |_| Some(5)), Some(5));
        assert_eq!(q.pop_with(|f| f.len()), Some(2));
    }
}
