//! What ended connections leave to the stack's next ones: their send and
//! receive blocks and the blocks' rings, a few of each.
//!
//! Read first: DESIGN.md §4 (buffers allocated lazily, an idle connection
//! well under 1 KiB). A connection makes a data block per half and a ring
//! per buffer on its first data, and drops them all when it ends: a stack
//! that runs short connections one after another (a request and a reply
//! each) would allocate, zero and free four blocks a connection pair. When
//! a connection ends (TIME-WAIT or CLOSED) its blocks and emptied rings come
//! here instead, emptied of everything else, and the next connection's
//! first data takes them. A reused block holds what a fresh one would (the
//! same value is written into it), and a ring is reused only where a fresh
//! buffer would allocate exactly its size ([`SpareRings`]), so accounting
//! and behaviour cannot tell them apart. The stack keeps at most
//! [`MAX_SPARE_BLOCKS`] blocks of each kind and
//! [`crate::storage::ring_buffer::MAX_SPARE_RINGS`] rings (under 5 KiB);
//! the idle release of a live connection still frees its memory.

use core::fmt;

use super::DataCounters;
use super::recv::RecvBlock;
use super::send::SendBlock;
use crate::storage::SpareRings;
use crate::tcp::recovery::SpareEpisodes;

/// Most blocks of each kind kept.
pub const MAX_SPARE_BLOCKS: usize = 4;

/// Blocks and rings from ended connections (one per stack, in
/// [`super::Env`]).
#[derive(Default)]
pub struct Spares {
    pub rings: SpareRings,
    /// Loss-recovery episode boxes (with their first record buffers).
    pub episodes: SpareEpisodes,
    /// Frames a driver handed over (`Stack::handle_frames_owned`) that no
    /// connection holds any more: read, spilled or not kept after all.
    /// The driver takes them back (`Stack::reclaim_frames`); at most
    /// [`crate::storage::kept::MAX_SPENT_FRAMES`].
    pub frames: Vec<Vec<u8>>,
    // The boxes themselves are what is kept: a connection's half holds its
    // block boxed, and takes the box back as it is.
    #[allow(clippy::vec_box)]
    send: Vec<Box<SendBlock>>,
    #[allow(clippy::vec_box)]
    recv: Vec<Box<RecvBlock>>,
    /// Data-counter boxes (a connection's first data makes one, and it
    /// lives as long as the connection).
    #[allow(clippy::vec_box)]
    counters: Vec<Box<DataCounters>>,
}

impl fmt::Debug for Spares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spares")
            .field("rings", &self.rings)
            .field("episodes", &self.episodes.len())
            .field("frames", &self.frames.len())
            .field("send_blocks", &self.send.len())
            .field("recv_blocks", &self.recv.len())
            .field("counters", &self.counters.len())
            .finish()
    }
}

impl Spares {
    /// Send and receive blocks kept.
    pub fn blocks(&self) -> (usize, usize) {
        (self.send.len(), self.recv.len())
    }

    /// A new send block holding `fresh`, in a kept box when `spares` has
    /// one.
    pub(super) fn send_block(spares: Option<&mut Spares>, fresh: SendBlock) -> Box<SendBlock> {
        reboxed(spares.and_then(|s| s.send.pop()), fresh)
    }

    /// A new receive block holding `fresh`, in a kept box when `spares` has
    /// one.
    pub(super) fn recv_block(spares: Option<&mut Spares>, fresh: RecvBlock) -> Box<RecvBlock> {
        reboxed(spares.and_then(|s| s.recv.pop()), fresh)
    }

    /// Data-counter boxes kept.
    pub fn counters(&self) -> usize {
        self.counters.len()
    }

    /// New data counters, all zero, in a kept box when there is one.
    pub(super) fn data_counters(&mut self) -> Box<DataCounters> {
        reboxed(self.counters.pop(), DataCounters::default())
    }

    /// Keeps an ended connection's data-counter box if there is room (else
    /// it is freed); the next one zeroes it.
    pub(super) fn keep_counters(&mut self, counters: Box<DataCounters>) {
        keep_bounded(&mut self.counters, counters, MAX_SPARE_BLOCKS);
    }

    /// Keeps an emptied send block if there is room (else it is freed).
    pub(super) fn keep_send(&mut self, block: Box<SendBlock>) {
        keep_bounded(&mut self.send, block, MAX_SPARE_BLOCKS);
    }

    /// Keeps an emptied receive block if there is room (else it is freed).
    pub(super) fn keep_recv(&mut self, block: Box<RecvBlock>) {
        keep_bounded(&mut self.recv, block, MAX_SPARE_BLOCKS);
    }
}

/// Keeps `item` in `kept` if it holds fewer than `max` (else `item` is
/// dropped, i.e. freed): every spare list's bound.
pub(crate) fn keep_bounded<T>(kept: &mut Vec<T>, item: T, max: usize) {
    if kept.len() < max {
        kept.push(item);
    }
}

/// `value` in `kept`'s allocation if there is one, else in a new box: the
/// same value either way.
fn reboxed<T>(kept: Option<Box<T>>, value: T) -> Box<T> {
    match kept {
        Some(mut b) => {
            *b = value;
            b
        }
        None => Box::new(value),
    }
}
