//! A connection's send or receive buffer: a byte ring that is allocated
//! lazily, grows on demand up to a limit, and is freed when idle.
//!
//! Read first: RFC 9293 §3.3.1 (the send and receive sequence spaces this
//! buffer holds), RFC 7323 §2.2 (windows larger than 64 KiB, hence buffers
//! that grow), DESIGN.md §4 (an idle connection must cost well under 1 KiB).
//!
//! Each byte is copied once in and once out:
//! - send side: the application's bytes go in with [`RingBuffer::enqueue_slice`];
//!   segments copy them out with [`RingBuffer::peek`] or the zero-copy
//!   [`RingBuffer::slices_at`] (and again for a retransmission); an ACK
//!   removes them with [`RingBuffer::discard_front`].
//! - receive side: a segment's payload is copied straight to its place with
//!   [`RingBuffer::write_at`], even when it arrives out of order;
//!   [`RingBuffer::commit`] makes bytes part of the buffer once everything
//!   before them has arrived (the [`Assembler`](super::Assembler) says how
//!   many); the application copies them out with [`RingBuffer::dequeue_slice`].
//!
//! Offsets in this API are relative to the first buffered byte (the one at
//! SND.UNA for a send buffer, the first unread byte for a receive buffer),
//! except for `write_at`, whose offset counts from the end of the buffered
//! bytes (RCV.NXT): that is where out-of-order data lives.

use core::fmt;

use super::copy;
use crate::wire::checksum;

/// The smallest allocation: enough for a small request without regrowing.
const MIN_ALLOCATION: usize = 1024;

/// Most rings a [`SpareRings`] keeps (4 KiB): a stack that opens and closes
/// connections one after another reuses one or two at a time.
pub const MAX_SPARE_RINGS: usize = 4;

/// Storage that buffers gave back when their connection ended, for the next
/// fresh buffers: a stack running short connections would otherwise
/// allocate, zero and free a ring for each buffer of each connection.
///
/// Only smallest rings ([`MIN_ALLOCATION`] bytes) are kept, and a buffer
/// takes one only where it would allocate exactly that, so a buffer that
/// reuses a ring holds the same memory, in the same layout, as one that
/// allocated it (DESIGN.md §4's accounting sees no difference). The bytes
/// beyond what the buffer wrote are stale instead of zero: nothing reads
/// them (only written and committed bytes are ever read out), and the ring
/// stays inside one stack. The stack owns one of these (in `conn::Env`);
/// the idle release still frees buffers ([`RingBuffer::release_if_empty`]):
/// only a connection's end hands its rings here.
#[derive(Default)]
pub struct SpareRings {
    rings: Vec<Box<[u8]>>,
}

impl fmt::Debug for SpareRings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpareRings")
            .field("rings", &self.rings.len())
            .finish()
    }
}

impl SpareRings {
    /// Rings kept.
    pub fn len(&self) -> usize {
        self.rings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// Bytes kept.
    pub fn allocated(&self) -> usize {
        self.rings.len() * MIN_ALLOCATION
    }

    /// [`RingBuffer::release_if_empty`] for a buffer whose connection
    /// ended: frees the allocation if nothing is buffered, keeping the
    /// storage here if it is a smallest ring and there is room. Returns
    /// whether the buffer gave its allocation up.
    pub fn reclaim(&mut self, buffer: &mut RingBuffer) -> bool {
        if !buffer.is_empty() {
            return false;
        }
        let Some(ring) = buffer.ring.take() else {
            return false;
        };
        if ring.storage.len() == MIN_ALLOCATION && self.rings.len() < MAX_SPARE_RINGS {
            self.rings.push(ring.storage);
        }
        true
    }

    /// A kept ring for a fresh buffer about to allocate `cap` bytes.
    fn take(&mut self, cap: usize) -> Option<Box<[u8]>> {
        if cap == MIN_ALLOCATION {
            self.rings.pop()
        } else {
            None
        }
    }
}
/// A byte ring that allocates nothing until the first byte arrives, doubles
/// its allocation as needed up to `limit`, and frees it when drained
/// ([`RingBuffer::release_if_empty`]).
///
/// An idle buffer is 40 bytes and allocates nothing: the limit and an
/// empty ring header (where the ring starts, how much it holds, a null
/// storage pointer). A connection keeps its buffers inside blocks that are
/// themselves boxed only while data is around (`conn::send`, `conn::recv`;
/// DESIGN.md §4), so one allocation holds a block with its header and one
/// more the bytes.
pub struct RingBuffer {
    /// The ring, `None` while unallocated.
    ring: Option<Ring>,
    /// At most this many bytes are buffered or written ahead (SO_SNDBUF /
    /// SO_RCVBUF in bytes of payload; larger limits saturate at 4 GiB - 1).
    limit: u32,
}

/// An allocated ring.
struct Ring {
    /// `storage.len()` is the allocation, never 0.
    storage: Box<[u8]>,
    /// Index in `storage` of the first buffered byte.
    read: usize,
    /// Number of buffered bytes.
    len: usize,
}

/// A limit as stored: at most `u32::MAX` bytes.
fn clamp_limit(limit: usize) -> u32 {
    u32::try_from(limit).unwrap_or(u32::MAX)
}

impl RingBuffer {
    /// An empty buffer that will hold up to `limit` bytes. Allocates nothing.
    pub fn new(limit: usize) -> Self {
        RingBuffer {
            ring: None,
            limit: clamp_limit(limit),
        }
    }

    /// Number of buffered bytes.
    pub fn len(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most bytes this buffer will hold.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// Changes the limit (SO_SNDBUF / SO_RCVBUF). Lowering it below `len()`
    /// keeps the buffered bytes; nothing more is accepted until they drain.
    /// An allocation larger than the new limit is kept until it is released.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = clamp_limit(limit);
    }

    /// Room left: `limit - len`, or 0 when over the limit.
    pub fn free(&self) -> usize {
        self.limit().saturating_sub(self.len())
    }

    pub fn is_full(&self) -> bool {
        self.free() == 0
    }

    /// Bytes currently allocated (0 while idle).
    pub fn allocated(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.storage.len())
    }

    /// Appends as much of `data` as fits under the limit; returns how much.
    ///
    /// Overwrites anything [`RingBuffer::write_at`] put right after the buffered
    /// bytes: a buffer is used either as a send buffer (enqueue) or as a
    /// receive buffer (write_at + commit), not both.
    #[must_use = "bytes beyond the returned count were not stored"]
    pub fn enqueue_slice(&mut self, data: &[u8]) -> usize {
        self.enqueue_slice_with(data, None)
    }

    /// [`RingBuffer::enqueue_slice`] that takes its first allocation from
    /// `spares` when one fits.
    #[must_use = "bytes beyond the returned count were not stored"]
    pub fn enqueue_slice_with(&mut self, data: &[u8], spares: Option<&mut SpareRings>) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        let len = self.len();
        let ring = self.reserve(len + n, spares);
        ring.copy_in(len, &data[..n]);
        ring.len += n;
        n
    }

    /// Copies up to `out.len()` bytes from the front into `out` and removes
    /// them; returns how many.
    #[must_use = "only the returned count of bytes was copied out"]
    #[inline]
    pub fn dequeue_slice(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(0, out);
        self.discard_front(n);
        n
    }

    /// Removes up to `n` bytes from the front without copying them (they were
    /// acknowledged, RFC 9293 §3.10.7.4); returns how many were removed.
    pub fn discard_front(&mut self, n: usize) -> usize {
        let Some(r) = self.ring.as_mut() else {
            return 0;
        };
        let n = n.min(r.len);
        if n > 0 {
            r.read = r.wrap(r.read + n);
            r.len -= n;
        }
        n
    }

    /// Removes every buffered byte (and forgets any written ahead). Keeps the
    /// allocation; see [`RingBuffer::release_if_empty`].
    pub fn clear(&mut self) {
        if let Some(r) = self.ring.as_mut() {
            r.read = 0;
            r.len = 0;
        }
    }

    /// Copies buffered bytes starting `offset` bytes after the front into
    /// `out`, without removing them (a retransmission reads the same bytes
    /// again); returns how many were copied.
    pub fn peek(&self, offset: usize, out: &mut [u8]) -> usize {
        let Some(r) = self.ring.as_ref() else {
            return 0;
        };
        if offset >= r.len {
            return 0;
        }
        let n = out.len().min(r.len - offset);
        r.copy_out(offset, &mut out[..n]);
        n
    }

    /// A zero-copy view of at most `max` buffered bytes starting `offset`
    /// bytes after the front. Shorter than asked when the bytes wrap around
    /// the end of the ring: call again at `offset + view.len()` for the rest.
    /// Empty when `offset >= len()`.
    /// The first of [`RingBuffer::slices_at`]'s two slices.
    pub fn contiguous_at(&self, offset: usize, max: usize) -> &[u8] {
        self.slices_at(offset, max).0
    }

    /// Up to `max` buffered bytes starting `offset` bytes after the front,
    /// as the two zero-copy slices either side of the ring's wrap (the
    /// second empty when they do not wrap), with the ring looked at and the
    /// bounds worked out once. Both empty when `offset >= len()`.
    pub fn slices_at(&self, offset: usize, max: usize) -> (&[u8], &[u8]) {
        let Some(r) = self.ring.as_ref() else {
            return (&[], &[]);
        };
        if offset >= r.len {
            return (&[], &[]);
        }
        let n = max.min(r.len - offset);
        let start = r.wrap(r.read + offset);
        // The bytes from `start` to the end of the storage, then those
        // wrapped around to its front (fewer than `start`: `n` is at most
        // the storage's length).
        let (front, from_start) = r.storage.split_at(start);
        if n <= from_start.len() {
            (&from_start[..n], &[])
        } else {
            (from_start, &front[..n - from_start.len()])
        }
    }

    /// Stores `data` `offset` bytes after the end of the buffered bytes, i.e.
    /// out-of-order data that is not yet part of the buffer, as far as the
    /// limit allows; returns how many bytes were stored (a prefix of `data`).
    /// [`RingBuffer::commit`] makes them part of the buffer.
    #[must_use = "bytes beyond the returned count were not stored"]
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        self.write_at_with(offset, data, None)
    }

    /// [`RingBuffer::write_at`] that takes its first allocation from
    /// `spares` when one fits.
    #[must_use = "bytes beyond the returned count were not stored"]
    pub fn write_at_with(
        &mut self,
        offset: usize,
        data: &[u8],
        spares: Option<&mut SpareRings>,
    ) -> usize {
        let start = self.len().saturating_add(offset);
        let n = data.len().min(self.limit().saturating_sub(start));
        if n == 0 {
            return 0;
        }
        self.reserve(start + n, spares).copy_in(start, &data[..n]);
        n
    }

    /// [`RingBuffer::write_at`] that also returns the RFC 1071 sum
    /// ([`checksum::data`]) of the stored prefix, computed while copying: a
    /// receiver verifies a segment's checksum in the same pass that stores
    /// its payload, and commits the bytes only if it is right.
    #[must_use = "bytes beyond the returned count were not stored"]
    pub fn write_at_summed(&mut self, offset: usize, data: &[u8]) -> (usize, u16) {
        self.write_at_summed_with(offset, data, None)
    }

    /// [`RingBuffer::write_at_summed`] that takes its first allocation from
    /// `spares` when one fits.
    #[must_use = "bytes beyond the returned count were not stored"]
    pub fn write_at_summed_with(
        &mut self,
        offset: usize,
        data: &[u8],
        spares: Option<&mut SpareRings>,
    ) -> (usize, u16) {
        let start = self.len().saturating_add(offset);
        let n = data.len().min(self.limit().saturating_sub(start));
        if n == 0 {
            return (0, 0);
        }
        let r = self.reserve(start + n, spares);
        let at = r.wrap(r.read + start);
        let mut writer = SummedWriter {
            storage: &mut r.storage,
            at,
            room: n,
        };
        let mut sum = 0;
        writer.write_if(&data[..n], |s| {
            sum = s;
            true
        });
        (n, sum)
    }

    /// A writer of consecutive pieces from `offset` bytes beyond the
    /// buffered ones on, each copied and summed as
    /// [`RingBuffer::write_at_summed`] does, for at most `max` bytes in all
    /// (fewer if the limit says so): the limit checked and the ring grown
    /// once for all of them, not once a piece. `None` if no byte fits.
    pub fn summed_writer(
        &mut self,
        offset: usize,
        max: usize,
        spares: Option<&mut SpareRings>,
    ) -> Option<SummedWriter<'_>> {
        let start = self.len().saturating_add(offset);
        let room = max.min(self.limit().saturating_sub(start));
        if room == 0 {
            return None;
        }
        let r = self.reserve(start + room, spares);
        let at = r.wrap(r.read + start);
        Some(SummedWriter {
            storage: &mut r.storage,
            at,
            room,
        })
    }

    /// Makes room for `n` bytes `offset` bytes after the end of the buffered
    /// ones, as far as the limit allows, without writing them; returns how
    /// many fit. Their place is held for bytes kept elsewhere
    /// ([`super::KeptFrames`]): [`RingBuffer::commit`] makes them part of the
    /// buffer, and [`RingBuffer::write_front`] fills them in if they are
    /// ever needed here.
    pub fn reserve_ahead(
        &mut self,
        offset: usize,
        n: usize,
        spares: Option<&mut SpareRings>,
    ) -> usize {
        let start = self.len().saturating_add(offset);
        let n = n.min(self.limit().saturating_sub(start));
        if n > 0 {
            self.reserve(start + n, spares);
        }
        n
    }

    /// Overwrites buffered bytes from `offset` bytes after the front with
    /// `data` (the bytes [`RingBuffer::reserve_ahead`] held a place for).
    ///
    /// # Panics
    /// If `offset + data.len()` is more than [`RingBuffer::len`] (a caller
    /// bug).
    pub fn write_front(&mut self, offset: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        assert!(
            offset + data.len() <= self.len(),
            "write_front beyond the buffered bytes"
        );
        if let Some(r) = self.ring.as_mut() {
            r.copy_in(offset, data);
        }
    }

    /// Makes the `n` bytes after the buffered ones (stored earlier with
    /// [`RingBuffer::write_at`]) part of the buffer, as far as the
    /// allocation holds them; returns how many were added. Committing bytes
    /// that were never written adds unspecified (but initialised) bytes.
    ///
    /// Not limited by the limit: bytes stored ahead under a higher limit
    /// (out-of-order data, before `set_limit` lowered it) are kept, as
    /// Linux keeps the out-of-order queue when SO_RCVBUF shrinks; cutting
    /// them here would leave the caller's count of contiguous bytes ahead
    /// of the buffer's.
    pub fn commit(&mut self, n: usize) -> usize {
        let Some(r) = self.ring.as_mut() else {
            return 0;
        };
        let n = n.min(r.storage.len() - r.len);
        r.len += n;
        n
    }

    /// Frees the allocation if nothing is buffered, so an idle connection
    /// costs only this struct; returns whether it did. Also forgets bytes
    /// written ahead with `write_at`: a receiver calls it only when its
    /// assembler holds no out-of-order data.
    pub fn release_if_empty(&mut self) -> bool {
        if !self.is_empty() || self.ring.is_none() {
            return false;
        }
        self.ring = None;
        true
    }

    /// The ring, grown so that `needed` bytes from the front fit, keeping
    /// every byte of the old ring (buffered or written ahead) at the same
    /// offset from the front. Callers keep `0 < needed <= limit`. A first
    /// allocation comes from `spares` when it has one of the right size.
    ///
    /// Inlined: a busy connection's ring already fits nearly every write
    /// (each segment of a bulk transfer), and that check is two
    /// instructions; the call that used to wrap it cost about 20 a segment.
    /// First allocations and growth stay out of line ([`RingBuffer::grow`]).
    #[inline]
    fn reserve(&mut self, needed: usize, spares: Option<&mut SpareRings>) -> &mut Ring {
        if !matches!(&self.ring, Some(ring) if needed <= ring.storage.len()) {
            return self.grow(needed, spares);
        }
        // The ring fits. Matched again rather than returned from the test
        // above: the borrow checker does not yet accept a reference returned
        // from one arm of a match whose other arm borrows `self` again; the
        // `None` arm is not reached.
        match self.ring {
            Some(ref mut ring) => ring,
            None => self.grow(needed, spares),
        }
    }

    /// [`RingBuffer::reserve`] when the ring is unallocated or too small.
    #[inline(never)]
    fn grow(&mut self, needed: usize, spares: Option<&mut SpareRings>) -> &mut Ring {
        let limit = self.limit();
        let ring = match self.ring {
            Some(ref mut ring) => ring,
            None => {
                // The first allocation (a ring, once made, is never empty:
                // nothing to carry over). Every connection's first byte
                // each way comes here, so it builds the ring once, in place.
                let cap = Self::grown_capacity(needed, 0, limit);
                let storage = match spares.and_then(|s| s.take(cap)) {
                    Some(spare) => spare,
                    None => vec![0u8; cap].into_boxed_slice(),
                };
                return self.ring.insert(Ring {
                    storage,
                    read: 0,
                    len: 0,
                });
            }
        };
        let cap = ring.storage.len();
        let new_cap = Self::grown_capacity(needed, cap, limit);
        let mut storage = vec![0u8; new_cap].into_boxed_slice();
        let (tail, head) = ring.storage.split_at(ring.read);
        storage[..head.len()].copy_from_slice(head);
        storage[head.len()..cap].copy_from_slice(tail);
        ring.storage = storage;
        ring.read = 0;
        ring
    }

    /// The allocation that holds `needed` bytes when `cap` do not: doubling
    /// (a power of two), at least [`MIN_ALLOCATION`], and no more than the
    /// limit unless `needed` itself is more.
    fn grown_capacity(needed: usize, cap: usize, limit: usize) -> usize {
        needed
            .next_power_of_two()
            .max(cap.saturating_mul(2))
            .max(MIN_ALLOCATION)
            .min(limit.max(needed))
    }
}

/// Consecutive pieces written beyond a ring's buffered bytes, each summed
/// (see [`RingBuffer::summed_writer`]); what it wrote is committed, or
/// forgotten, by the ring's owner as with [`RingBuffer::write_at`].
pub struct SummedWriter<'a> {
    storage: &'a mut [u8],
    /// Where the next piece goes in `storage`.
    at: usize,
    /// Bytes the next pieces may still take (all within `storage`).
    room: usize,
}

impl fmt::Debug for SummedWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SummedWriter")
            .field("at", &self.at)
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

impl SummedWriter<'_> {
    /// Copies `data` to the writer's place and sums it (RFC 1071, the
    /// value [`checksum::data`] gives); the place moves past it only if
    /// `keep(sum)`, and this returns whether it did. `false`, with nothing
    /// written, if `data` is empty or does not fit.
    #[inline]
    pub fn write_if(&mut self, data: &[u8], keep: impl FnOnce(u16) -> bool) -> bool {
        if data.is_empty() || data.len() > self.room {
            return false;
        }
        let cap = self.storage.len();
        let next = self.at + data.len();
        let sum = match self.storage.get_mut(self.at..next) {
            // Nearly every piece: no wrap, one copy.
            Some(to) => checksum::copy_and_sum(to, data),
            None => self.write_wrapping(data),
        };
        if !keep(sum) {
            return false;
        }
        self.at = if next >= cap { next - cap } else { next };
        self.room -= data.len();
        true
    }

    /// [`SummedWriter::write_if`]'s copy of a piece that wraps around the
    /// end of the ring.
    #[inline(never)]
    fn write_wrapping(&mut self, data: &[u8]) -> u16 {
        let first = data.len().min(self.storage.len() - self.at);
        let (head, tail) = data.split_at(first);
        let a = checksum::copy_and_sum(&mut self.storage[self.at..self.at + first], head);
        let b = checksum::copy_and_sum(&mut self.storage[..tail.len()], tail);
        // The second piece starts `first` bytes into the data: at an odd
        // offset its words are byte-swapped (RFC 1071 §2(B)).
        let b = if first % 2 == 1 { checksum::swap(b) } else { b };
        checksum::combine(&[a, b])
    }
}

impl Ring {
    /// `index` reduced into the ring, for `index < 2 * capacity`.
    fn wrap(&self, index: usize) -> usize {
        let cap = self.storage.len();
        if index >= cap { index - cap } else { index }
    }

    /// Copies `data` to `offset` bytes after the front; the ring must hold
    /// `offset + data.len()` bytes.
    fn copy_in(&mut self, offset: usize, data: &[u8]) {
        if data.len() >= copy::SHORT {
            return self.copy_in_long(offset, data);
        }
        self.copy_in_with(offset, data, <[u8]>::copy_from_slice);
    }

    /// [`Ring::copy_in`] of an application's write of kilobytes, in
    /// vectors ([`copy::copy`]); out of line, so the short copies (every
    /// copy of a handshake) keep their inlined `memcpy`.
    #[inline(never)]
    fn copy_in_long(&mut self, offset: usize, data: &[u8]) {
        self.copy_in_with(offset, data, copy::copy);
    }

    /// [`Ring::copy_in`]'s two pieces either side of the wrap, each copied
    /// with `copy(dst, src)`.
    #[inline(always)]
    fn copy_in_with(&mut self, offset: usize, data: &[u8], copy: impl Fn(&mut [u8], &[u8])) {
        let start = self.wrap(self.read + offset);
        let first = data.len().min(self.storage.len() - start);
        copy(&mut self.storage[start..start + first], &data[..first]);
        copy(&mut self.storage[..data.len() - first], &data[first..]);
    }

    /// Fills `out` from `offset` bytes after the front; the bytes must exist.
    fn copy_out(&self, offset: usize, out: &mut [u8]) {
        if out.len() >= copy::SHORT {
            return self.copy_out_long(offset, out);
        }
        self.copy_out_with(offset, out, <[u8]>::copy_from_slice);
    }

    /// [`Ring::copy_out`] of kilobytes, as [`Ring::copy_in_long`].
    #[inline(never)]
    fn copy_out_long(&self, offset: usize, out: &mut [u8]) {
        self.copy_out_with(offset, out, copy::copy);
    }

    /// [`Ring::copy_out`]'s two pieces, as [`Ring::copy_in_with`].
    #[inline(always)]
    fn copy_out_with(&self, offset: usize, out: &mut [u8], copy: impl Fn(&mut [u8], &[u8])) {
        let start = self.wrap(self.read + offset);
        let first = out.len().min(self.storage.len() - start);
        let rest = out.len() - first;
        copy(&mut out[..first], &self.storage[start..start + first]);
        copy(&mut out[first..], &self.storage[..rest]);
    }
}

impl fmt::Debug for RingBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the contents: they may be large and private.
        f.debug_struct("RingBuffer")
            .field("len", &self.len())
            .field("limit", &self.limit)
            .field("allocated", &self.allocated())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// A spare ring whose every byte is `junk`: reuse must never show it.
    fn spares_of(junk: u8, n: usize) -> SpareRings {
        let mut spares = SpareRings::default();
        for _ in 0..n {
            let mut b = RingBuffer::new(64 * 1024);
            assert_eq!(b.enqueue_slice(&[junk; MIN_ALLOCATION]), MIN_ALLOCATION);
            assert_eq!(b.discard_front(MIN_ALLOCATION), MIN_ALLOCATION);
            assert!(spares.reclaim(&mut b));
            assert_eq!(b.allocated(), 0, "reclaim frees the buffer");
        }
        spares
    }

    #[test]
    fn a_reclaimed_ring_serves_the_next_fresh_buffer_as_a_new_one_would() {
        let mut spares = spares_of(0xee, 1);
        assert_eq!((spares.len(), spares.allocated()), (1, MIN_ALLOCATION));
        // Send side: same allocation as a fresh buffer, only our bytes out.
        let mut b = RingBuffer::new(64 * 1024);
        assert_eq!(b.enqueue_slice_with(b"hello", Some(&mut spares)), 5);
        assert!(spares.is_empty(), "taken");
        assert_eq!(b.allocated(), MIN_ALLOCATION);
        let mut out = [0u8; 16];
        assert_eq!(b.peek(0, &mut out), 5);
        assert_eq!(&out[..5], b"hello");
        // Receive side: written-ahead bytes and their sum, as without spares.
        let mut spares = spares_of(0xee, 1);
        let (mut with, mut without) = (RingBuffer::new(4096), RingBuffer::new(4096));
        assert_eq!(
            with.write_at_summed_with(3, b"world", Some(&mut spares)),
            without.write_at_summed(3, b"world")
        );
        assert!(spares.is_empty());
        assert_eq!(with.write_at_with(0, b"abc", Some(&mut spares)), 3);
        assert_eq!(without.write_at(0, b"abc"), 3);
        assert_eq!((with.commit(8), without.commit(8)), (8, 8));
        let (mut a, mut b2) = ([0u8; 8], [0u8; 8]);
        assert_eq!(
            (with.dequeue_slice(&mut a), without.dequeue_slice(&mut b2)),
            (8, 8)
        );
        assert_eq!(a, b2);
        assert_eq!(&a, b"abcworld");
        assert_eq!(with.allocated(), without.allocated());
    }

    #[test]
    fn a_spare_ring_is_taken_only_where_a_fresh_buffer_would_allocate_its_size() {
        // A small limit allocates less than the smallest ring.
        let mut spares = spares_of(1, 1);
        let mut b = RingBuffer::new(100);
        assert_eq!(b.enqueue_slice_with(&[2; 10], Some(&mut spares)), 10);
        assert_eq!((b.allocated(), spares.len()), (100, 1));
        // A first write larger than the smallest ring allocates its own.
        let mut b = RingBuffer::new(64 * 1024);
        assert_eq!(b.enqueue_slice_with(&[2; 3000], Some(&mut spares)), 3000);
        assert_eq!((b.allocated(), spares.len()), (4096, 1));
        // Growing an allocated ring never takes one.
        let mut b = RingBuffer::new(64 * 1024);
        assert_eq!(b.enqueue_slice(&[2; 10]), 10);
        assert_eq!(b.enqueue_slice_with(&[3; 2000], Some(&mut spares)), 2000);
        assert_eq!((b.allocated(), spares.len()), (2048, 1));
    }

    #[test]
    fn spares_keep_only_empty_smallest_rings_and_at_most_a_few() {
        let mut spares = SpareRings::default();
        // Bytes still buffered: nothing is freed or kept.
        let mut b = RingBuffer::new(64 * 1024);
        assert_eq!(b.enqueue_slice(b"x"), 1);
        assert!(!spares.reclaim(&mut b));
        assert_eq!((b.len(), spares.len()), (1, 0));
        // Nothing allocated: nothing to give.
        assert!(!spares.reclaim(&mut RingBuffer::new(64)));
        // A larger ring is freed, not kept.
        let mut big = RingBuffer::new(64 * 1024);
        assert_eq!(big.enqueue_slice(&[0; 5000]), 5000);
        assert_eq!(big.discard_front(5000), 5000);
        assert!(spares.reclaim(&mut big));
        assert_eq!((big.allocated(), spares.len()), (0, 0));
        // Smallest rings: kept up to the cap, freed beyond it.
        let mut spares = spares_of(0, MAX_SPARE_RINGS + 3);
        assert_eq!(spares.len(), MAX_SPARE_RINGS);
        assert_eq!(spares.allocated(), MAX_SPARE_RINGS * MIN_ALLOCATION);
        for taken in 1..=MAX_SPARE_RINGS {
            let mut b = RingBuffer::new(64 * 1024);
            assert_eq!(b.enqueue_slice_with(b"y", Some(&mut spares)), 1);
            assert_eq!(spares.len(), MAX_SPARE_RINGS - taken);
        }
    }

    #[test]
    fn new_buffer_allocates_nothing_until_written() {
        let mut b = RingBuffer::new(64 * 1024);
        assert_eq!(b.allocated(), 0);
        assert_eq!(b.enqueue_slice(&[]), 0);
        assert_eq!(b.allocated(), 0);
        assert_eq!(b.enqueue_slice(b"hello"), 5);
        assert_eq!(b.allocated(), MIN_ALLOCATION);
        assert_eq!(b.len(), 5);
        assert_eq!(b.free(), 64 * 1024 - 5);
    }

    #[test]
    fn growth_doubles_up_to_the_limit_and_stops() {
        let mut b = RingBuffer::new(5000);
        let data = vec![7u8; 6000];
        assert_eq!(b.enqueue_slice(&data[..1500]), 1500);
        assert_eq!(b.allocated(), 2048);
        assert_eq!(b.enqueue_slice(&data[..1500]), 1500);
        assert_eq!(b.allocated(), 4096);
        // The next doubling would pass the limit: the allocation is the limit.
        assert_eq!(b.enqueue_slice(&data), 2000);
        assert_eq!(b.allocated(), 5000);
        assert!(b.is_full());
        assert_eq!(b.enqueue_slice(b"x"), 0);
    }

    #[test]
    fn first_allocations_and_growth_follow_the_doubling_rule() {
        // `reserve` checks the fit inline and builds a first ring apart
        // from growing one: both must size allocations as the single rule
        // did (a power of two, at least MIN_ALLOCATION, capped by the limit
        // unless the write needs more), for each kind of write.
        let rule = |needed: usize, cap: usize, limit: usize| {
            needed
                .next_power_of_two()
                .max(cap * 2)
                .max(MIN_ALLOCATION)
                .min(limit.max(needed))
        };
        for limit in [0, 1, 700, 1024, 1500, 3000, 70_000] {
            for first in [1, 2, 1023, 1024, 1025, 2000, 5000] {
                for offset in [0, 3] {
                    let mut b = RingBuffer::new(limit);
                    let stored = b.write_at(offset, &vec![1u8; first]);
                    let needed = offset + stored;
                    let expect = if stored == 0 {
                        0
                    } else {
                        rule(needed, 0, limit)
                    };
                    assert_eq!(b.allocated(), expect, "first {first}+{offset} of {limit}");
                    let mut e = RingBuffer::new(limit);
                    let n = e.enqueue_slice(&vec![2u8; first]);
                    let expect = if n == 0 { 0 } else { rule(n, 0, limit) };
                    assert_eq!(e.allocated(), expect, "enqueue {first} of {limit}");
                    // A second write that fits allocates nothing more; one
                    // that does not grows by the same rule.
                    let cap = e.allocated();
                    let more = e.enqueue_slice(&vec![3u8; 1500]);
                    let expect = if n + more <= cap {
                        cap
                    } else {
                        rule(n + more, cap, limit)
                    };
                    assert_eq!(e.allocated(), expect, "then 1500 more of {limit}");
                    let mut out = vec![0u8; n + more];
                    assert_eq!(e.peek(0, &mut out), n + more);
                    assert!(out[..n].iter().all(|&x| x == 2) && out[n..].iter().all(|&x| x == 3));
                }
            }
        }
    }

    #[test]
    fn growth_keeps_contents_that_wrap_around() {
        let mut b = RingBuffer::new(10_000);
        let first: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        assert_eq!(b.enqueue_slice(&first), 1000);
        let mut out = vec![0u8; 900];
        assert_eq!(b.dequeue_slice(&mut out), 900);
        // 100 bytes at the end of the 1024-byte ring, then wrap.
        let second: Vec<u8> = (0..800u32).map(|i| (i * 3) as u8).collect();
        assert_eq!(b.enqueue_slice(&second), 800);
        assert_eq!(b.allocated(), 1024);
        assert_eq!(
            b.contiguous_at(0, usize::MAX).len(),
            124,
            "view stops at the wrap"
        );
        // Force growth while wrapped.
        assert_eq!(b.enqueue_slice(&[0xEE; 500]), 500);
        assert_eq!(b.allocated(), 2048);
        let mut all = vec![0u8; b.len()];
        assert_eq!(b.peek(0, &mut all), 1400);
        assert_eq!(&all[..100], &first[900..]);
        assert_eq!(&all[100..900], &second[..]);
        assert!(all[900..].iter().all(|&x| x == 0xEE));
    }

    #[test]
    fn release_if_empty_frees_only_an_empty_buffer() {
        let mut b = RingBuffer::new(4096);
        assert!(!b.release_if_empty(), "nothing allocated yet");
        assert_eq!(b.enqueue_slice(b"abc"), 3);
        assert!(!b.release_if_empty());
        assert_eq!(b.allocated(), MIN_ALLOCATION);
        assert_eq!(b.discard_front(10), 3);
        assert!(b.release_if_empty());
        assert_eq!(b.allocated(), 0);
        assert_eq!(b.enqueue_slice(b"again"), 5);
        let mut out = [0u8; 8];
        assert_eq!(b.dequeue_slice(&mut out), 5);
        assert_eq!(&out[..5], b"again");
    }

    #[test]
    fn an_idle_buffer_is_a_few_words() {
        assert!(core::mem::size_of::<RingBuffer>() <= 5 * core::mem::size_of::<usize>());
    }

    #[test]
    fn out_of_order_writes_become_readable_on_commit() {
        let mut b = RingBuffer::new(100);
        // Segment 2 (bytes 5..10) arrives before segment 1 (bytes 0..5).
        assert_eq!(b.write_at(5, b"world"), 5);
        assert_eq!(b.len(), 0, "out-of-order bytes are not yet buffered");
        assert_eq!(b.write_at(0, b"hello"), 5);
        assert_eq!(b.commit(10), 10);
        let mut out = [0u8; 10];
        assert_eq!(b.dequeue_slice(&mut out), 10);
        assert_eq!(&out, b"helloworld");
    }

    #[test]
    fn write_at_stops_at_the_limit() {
        let mut b = RingBuffer::new(10);
        assert_eq!(b.enqueue_slice(b"abcd"), 4);
        assert_eq!(b.write_at(4, b"xyzw"), 2, "only offsets 8 and 9 fit");
        assert_eq!(b.write_at(6, b"q"), 0);
        assert_eq!(b.write_at(usize::MAX, b"q"), 0, "no overflow");
        assert_eq!(b.commit(100), 6, "commit stops at the limit");
        let mut out = [0u8; 10];
        assert_eq!(b.peek(8, &mut out), 2);
        assert_eq!(&out[..2], b"xy");
    }

    #[test]
    fn lowering_the_limit_keeps_data_and_refuses_more() {
        let mut b = RingBuffer::new(100);
        assert_eq!(b.enqueue_slice(&[1; 50]), 50);
        b.set_limit(20);
        assert_eq!(b.len(), 50);
        assert_eq!(b.free(), 0);
        assert_eq!(b.enqueue_slice(b"x"), 0);
        b.discard_front(40);
        assert_eq!(b.free(), 10);
        assert_eq!(b.enqueue_slice(&[2; 15]), 10);
    }

    #[test]
    fn bytes_written_ahead_commit_after_the_limit_is_lowered() {
        let mut b = RingBuffer::new(100);
        // Out-of-order bytes stored under the old limit...
        assert_eq!(b.write_at(10, &[3; 60]), 60);
        b.set_limit(20);
        // ...then the hole before them: every contiguous byte is committed.
        assert_eq!(b.write_at(0, &[2; 10]), 10);
        assert_eq!(b.commit(70), 70);
        let mut out = [0; 70];
        assert_eq!(b.dequeue_slice(&mut out), 70);
        assert_eq!(out[..10], [2; 10]);
        assert_eq!(out[10..], [3; 60]);
    }

    #[test]
    fn zero_limit_holds_nothing() {
        let mut b = RingBuffer::new(0);
        assert_eq!(b.enqueue_slice(b"x"), 0);
        assert_eq!(b.write_at(0, b"x"), 0);
        assert_eq!(b.commit(1), 0);
        assert_eq!(b.allocated(), 0);
        assert_eq!(b.contiguous_at(0, 10), &[] as &[u8]);
    }

    #[test]
    fn write_at_summed_sums_a_write_that_wraps_at_an_odd_offset() {
        let mut b = RingBuffer::new(MIN_ALLOCATION);
        // Move the front to 1001 of 1024 so a write wraps after 23 bytes.
        assert_eq!(b.enqueue_slice(&[0xAA; 1001]), 1001);
        assert_eq!(b.discard_front(1001), 1001);
        let data: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(7) ^ 0x5A).collect();
        let (n, sum) = b.write_at_summed(0, &data);
        assert_eq!(n, 200);
        assert_eq!(sum, checksum::reference::data(&data));
        assert_eq!(b.commit(200), 200);
        let mut out = [0u8; 200];
        assert_eq!(b.dequeue_slice(&mut out), 200);
        assert_eq!(&out[..], &data[..]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Enqueue(Vec<u8>),
        Dequeue(usize),
        Discard(usize),
        Peek(usize, usize),
        View(usize, usize),
        WriteAt(usize, Vec<u8>),
        WriteAtSummed(usize, Vec<u8>),
        Commit(usize),
        SetLimit(usize),
        Release,
    }

    fn op() -> impl Strategy<Value = Op> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..700);
        prop_oneof![
            3 => bytes.clone().prop_map(Op::Enqueue),
            2 => (0usize..900).prop_map(Op::Dequeue),
            1 => (0usize..900).prop_map(Op::Discard),
            1 => (0usize..1200, 0usize..900).prop_map(|(o, n)| Op::Peek(o, n)),
            1 => (0usize..1200, 0usize..900).prop_map(|(o, n)| Op::View(o, n)),
            2 => (0usize..600, bytes.clone()).prop_map(|(o, d)| Op::WriteAt(o, d)),
            1 => (0usize..600, bytes).prop_map(|(o, d)| Op::WriteAtSummed(o, d)),
            1 => (0usize..900).prop_map(Op::Commit),
            1 => (0usize..5000).prop_map(Op::SetLimit),
            1 => Just(Op::Release),
        ]
    }

    /// The model: a deque of buffered bytes, plus the bytes written ahead of
    /// it (index 0 = the byte right after the buffered ones).
    struct Model {
        buffered: VecDeque<u8>,
        ahead: Vec<Option<u8>>,
        limit: usize,
    }

    impl Model {
        fn free(&self) -> usize {
            self.limit.saturating_sub(self.buffered.len())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The application's long copies (kilobytes, the vector copy of
        /// `storage::copy`) in and out across the ring's wrap, against a
        /// deque; `behaves_like_a_deque` keeps to short ones.
        #[test]
        fn long_copies_behave_like_a_deque(
            limit in 2048usize..20_000,
            ops in proptest::collection::vec((any::<bool>(), 0usize..9000, any::<u8>()), 1..40),
        ) {
            let mut b = RingBuffer::new(limit);
            let mut m = VecDeque::new();
            for (enqueue, len, seed) in ops {
                if enqueue {
                    let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
                    let n = b.enqueue_slice(&data);
                    prop_assert_eq!(n, len.min(limit - m.len()));
                    m.extend(&data[..n]);
                } else {
                    let mut out = vec![0xAA; len];
                    let n = b.dequeue_slice(&mut out);
                    prop_assert_eq!(n, len.min(m.len()));
                    let expect: Vec<u8> = m.drain(..n).collect();
                    prop_assert_eq!(&out[..n], &expect[..]);
                    prop_assert!(out[n..].iter().all(|&x| x == 0xAA));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn behaves_like_a_deque(initial_limit in 0usize..5000, ops in proptest::collection::vec(op(), 1..60)) {
            let mut b = RingBuffer::new(initial_limit);
            let mut m = Model { buffered: VecDeque::new(), ahead: Vec::new(), limit: initial_limit };
            let mut max_limit = initial_limit;
            for op in ops {
                match op {
                    Op::Enqueue(data) => {
                        let n = b.enqueue_slice(&data);
                        prop_assert_eq!(n, data.len().min(m.free()));
                        m.buffered.extend(&data[..n]);
                        // Enqueued bytes land where written-ahead bytes were.
                        m.ahead.drain(..n.min(m.ahead.len()));
                    }
                    Op::Dequeue(k) => {
                        let mut out = vec![0xAA; k];
                        let n = b.dequeue_slice(&mut out);
                        prop_assert_eq!(n, k.min(m.buffered.len()));
                        let expect: Vec<u8> = m.buffered.drain(..n).collect();
                        prop_assert_eq!(&out[..n], &expect[..]);
                        prop_assert!(out[n..].iter().all(|&x| x == 0xAA));
                    }
                    Op::Discard(k) => {
                        let n = b.discard_front(k);
                        prop_assert_eq!(n, k.min(m.buffered.len()));
                        m.buffered.drain(..n);
                    }
                    Op::Peek(off, k) => {
                        let mut out = vec![0xAA; k];
                        let n = b.peek(off, &mut out);
                        let avail = m.buffered.len().saturating_sub(off);
                        prop_assert_eq!(n, k.min(avail));
                        let expect: Vec<u8> = m.buffered.iter().skip(off).take(n).copied().collect();
                        prop_assert_eq!(&out[..n], &expect[..]);
                    }
                    Op::View(off, k) => {
                        let view = b.contiguous_at(off, k);
                        let avail = m.buffered.len().saturating_sub(off);
                        prop_assert!(view.len() <= k.min(avail));
                        if k > 0 && avail > 0 {
                            prop_assert!(!view.is_empty(), "a view of available bytes is never empty");
                        }
                        let expect: Vec<u8> = m.buffered.iter().skip(off).take(view.len()).copied().collect();
                        prop_assert_eq!(view, &expect[..]);
                        // Both pieces at once: the first is that view, the
                        // second the next one; together all that is there.
                        let (first, second) = b.slices_at(off, k);
                        prop_assert_eq!(first, view);
                        prop_assert_eq!(second, b.contiguous_at(off + view.len(), k - view.len()));
                        let joined: Vec<u8> = first.iter().chain(second).copied().collect();
                        let expect: Vec<u8> = m.buffered.iter().skip(off).take(k).copied().collect();
                        prop_assert_eq!(joined, expect);
                    }
                    Op::WriteAt(off, data) => {
                        let n = b.write_at(off, &data);
                        let room = m.limit.saturating_sub(m.buffered.len() + off);
                        prop_assert_eq!(n, data.len().min(room));
                        if n > 0 {
                            if m.ahead.len() < off + n {
                                m.ahead.resize(off + n, None);
                            }
                            for (i, &x) in data[..n].iter().enumerate() {
                                m.ahead[off + i] = Some(x);
                            }
                        }
                    }
                    Op::WriteAtSummed(off, data) => {
                        let (n, sum) = b.write_at_summed(off, &data);
                        prop_assert_eq!(sum, checksum::data(&data[..n]));
                        let room = m.limit.saturating_sub(m.buffered.len() + off);
                        prop_assert_eq!(n, data.len().min(room));
                        if n > 0 {
                            if m.ahead.len() < off + n {
                                m.ahead.resize(off + n, None);
                            }
                            for (i, &x) in data[..n].iter().enumerate() {
                                m.ahead[off + i] = Some(x);
                            }
                        }
                    }
                    Op::Commit(k) => {
                        // Commit only bytes that were written, as an assembler would.
                        let written = m.ahead.iter().take_while(|x| x.is_some()).count();
                        let want = k.min(written);
                        let n = b.commit(want);
                        prop_assert_eq!(n, want.min(m.free()));
                        for x in m.ahead.drain(..n) {
                            m.buffered.push_back(x.unwrap());
                        }
                    }
                    Op::SetLimit(l) => {
                        b.set_limit(l);
                        m.limit = l;
                        max_limit = max_limit.max(l);
                        // Bytes written ahead beyond the new limit may be lost.
                        let keep = l.saturating_sub(m.buffered.len());
                        m.ahead.truncate(keep);
                    }
                    Op::Release => {
                        let released = b.release_if_empty();
                        if m.buffered.is_empty() {
                            m.ahead.clear();
                            prop_assert_eq!(b.allocated(), 0);
                        } else {
                            prop_assert!(!released);
                        }
                    }
                }
                prop_assert_eq!(b.len(), m.buffered.len());
                prop_assert_eq!(b.free(), m.free());
                prop_assert!(b.allocated() <= max_limit, "allocation {} above every limit {}", b.allocated(), max_limit);
            }
            let mut rest = vec![0u8; b.len()];
            b.peek(0, &mut rest);
            prop_assert_eq!(rest, m.buffered.iter().copied().collect::<Vec<u8>>());
        }
    }
}
