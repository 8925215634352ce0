//! Message framing over a byte stream.
//!
//! TCP delivers bytes, not messages: one `write` may arrive in many `read`s
//! and many writes may arrive in one ("sticky packets"). A [`Codec`] finds
//! message boundaries in buffered bytes and writes them back out; it does no
//! I/O itself, so the same codec drives the blocking [`FramedReader`] /
//! [`FramedWriter`] over any `std::io::{Read, Write}` (a synack or a std
//! `TcpStream`, a pipe) and, with the `tokio` feature, their async twins
//! [`AsyncFramedReader`] / [`AsyncFramedWriter`].
//!
//! Two codecs are provided:
//! - [`LengthDelimited`]: a big-endian `u16` or `u32` length, then that many
//!   bytes;
//! - [`Delimited`]: bytes up to a delimiter such as `b"\n"` or `b"\r\n"`.
//!
//! Both refuse frames longer than a configured maximum *before* buffering
//! them, so a peer cannot make the reader allocate gigabytes by announcing a
//! huge length or never sending a newline.
//!
//! ```
//! use synack::framing::{FramedReader, FramedWriter, LengthDelimited};
//! # fn main() -> std::io::Result<()> {
//! let mut wire = Vec::new();
//! let mut w = FramedWriter::new(&mut wire, LengthDelimited::u16());
//! w.write_frame(b"hello")?;
//! w.write_frame(b"")?;
//! let mut r = FramedReader::new(&wire[..], LengthDelimited::u16());
//! assert_eq!(r.read_frame()?.as_deref(), Some(&b"hello"[..]));
//! assert_eq!(r.read_frame()?.as_deref(), Some(&b""[..]));
//! assert_eq!(r.read_frame()?, None); // clean end of stream
//! # Ok(())
//! # }
//! ```

mod blocking;
mod delimited;
mod length;
#[cfg(feature = "tokio")]
mod nonblocking;

use std::fmt;
use std::io;
use std::ops::Range;

pub use blocking::{FramedReader, FramedWriter};
pub use delimited::Delimited;
pub use length::{LengthDelimited, Prefix};
#[cfg(feature = "tokio")]
pub use nonblocking::{AsyncFramedReader, AsyncFramedWriter};

/// Finds frames in buffered bytes and encodes frames for sending. Sans-IO:
/// the readers and writers in this module do the I/O.
pub trait Codec {
    /// Looks for one whole frame at the start of `buf`. `Ok(None)`: more
    /// bytes are needed. The codec may remember how far it has scanned, so
    /// call it again with the same bytes plus more until it answers.
    fn decode(&mut self, buf: &[u8]) -> Result<Option<Decoded>, FrameError>;

    /// Appends `frame`, encoded, to `dst`.
    fn encode(&mut self, frame: &[u8], dst: &mut Vec<u8>) -> Result<(), FrameError>;
}

/// Where a decoded frame lies in the buffer given to [`Codec::decode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The frame's payload.
    pub frame: Range<usize>,
    /// Bytes to drop from the front of the buffer (payload plus framing).
    pub consumed: usize,
}

/// A frame the codec refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The peer announced or sent a frame longer than the maximum (or an
    /// application asked to send one).
    TooLong {
        /// The frame's length as far as known (at least `max + 1`).
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The application asked to send a frame that contains the delimiter:
    /// the receiver would split it in two.
    DelimiterInFrame,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            FrameError::DelimiterInFrame => f.write_str("frame contains the delimiter"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for io::Error {
    /// `InvalidData`, with the [`FrameError`] inside (`get_ref`/`downcast`).
    fn from(e: FrameError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// The error for a stream that ended inside a frame.
fn eof_mid_frame(buffered: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("stream ended inside a frame ({buffered} bytes buffered)"),
    )
}

/// Bytes read from the stream and not yet returned as frames: `buf[start..]`.
/// Shared by the blocking and async readers.
#[derive(Debug, Default)]
struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
}

/// Bytes asked of the stream per read.
const READ_CHUNK: usize = 16 * 1024;

impl ReadBuf {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Tries to cut one frame out of the buffer into `out`.
    fn take_frame<C: Codec>(
        &mut self,
        codec: &mut C,
        out: &mut Vec<u8>,
    ) -> Result<bool, FrameError> {
        let Some(d) = codec.decode(self.pending())? else {
            return Ok(false);
        };
        out.clear();
        out.extend_from_slice(&self.pending()[d.frame]);
        self.start += d.consumed;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(true)
    }

    /// Makes room for one read at the end and returns it. Moves pending
    /// bytes to the front first when that frees at least half the buffer,
    /// so memory stays bounded by the largest frame plus one chunk.
    fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        &mut self.buf[len..]
    }

    /// Keeps `n` of the bytes just read into [`spare`](Self::spare).
    fn commit(&mut self, n: usize) {
        let keep = self.buf.len() - READ_CHUNK + n;
        self.buf.truncate(keep);
    }

    fn into_pending(mut self) -> Vec<u8> {
        self.buf.drain(..self.start);
        self.buf
    }
}
