//! Storage for TCP's byte streams: the send and receive buffers, and the
//! bookkeeping for out-of-order data.
//!
//! - [`RingBuffer`]: a connection's send or receive buffer. Allocated lazily,
//!   grown on demand up to a limit (SO_SNDBUF / SO_RCVBUF), freed when idle.
//! - [`RangeSet`]: a bounded set of disjoint byte ranges of a stream, in 64-bit
//!   stream offsets (so sequence-number wrap never matters here).
//! - [`KeptFrames`]: a receive buffer's first bytes held in the driver's
//!   frames instead of copied into its ring (zero-copy receive).
//! - [`Assembler`]: receive-side reassembly bookkeeping on top of a `RangeSet`,
//!   reporting what a SACK (RFC 2018) and D-SACK (RFC 2883) generator needs.
//!
//! Every structure here has a cap and costs nothing when a connection is idle:
//! DESIGN.md §4, "Every resource has a cap and a counter".

pub mod assembler;
pub mod copy;
pub mod kept;
pub mod range_set;
pub mod ring_buffer;

pub use assembler::{AddOutcome, Assembler, TooManyHoles};
pub use kept::{FrameBuf, KeptFrames, Spent};
pub use range_set::{RangeSet, RangeSetFull};
pub use ring_buffer::{RingBuffer, SpareRings, SummedWriter};
