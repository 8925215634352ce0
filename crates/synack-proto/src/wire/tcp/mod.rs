//! TCP segments: the header view, flags, options and the validated segment.
//!
//! Read before touching: RFC 9293 §3.1 (header format) and §3.2 (options;
//! MUST-4..MUST-6 on option parsing), RFC 7323 (window scale, timestamps),
//! RFC 2018 (SACK), RFC 7413 (Fast Open, and kind 254 with magic 0xF989 for
//! the experimental form, RFC 6994), RFC 6691 (MSS), RFC 3168 (ECE/CWR).
//!
//! - [`flags`]: [`TcpFlags`], printed as tcpdump prints them.
//! - [`packet`]: [`TcpPacket`], the zero-copy header view.
//! - [`options`]: [`TcpOption`] and [`TcpOptionIter`], one option at a time.
//! - [`summary`]: [`TcpOptions`], what the engine reads, and its Linux layout.
//! - [`repr`]: [`TcpRepr`], a validated segment with parse/emit.

pub mod flags;
pub mod options;
pub mod packet;
pub mod repr;
pub mod summary;

pub use flags::TcpFlags;
pub use options::{SackBlocks, TcpOption, TcpOptionIter};
pub use packet::TcpPacket;
pub use repr::TcpRepr;
pub use summary::{FastOpenCookie, FastOpenOption, TcpOptions, TcpTimestamp};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Largest header: data offset 15.
pub const MAX_HEADER_LEN: usize = 60;
/// Room for options in the largest header (RFC 9293 §3.1).
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;
