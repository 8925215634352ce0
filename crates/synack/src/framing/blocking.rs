//! Blocking framed reader and writer over `std::io::{Read, Write}`.

use std::io::{self, Read, Write};

use super::{Codec, ReadBuf, eof_mid_frame};

/// Reads whole frames from a byte stream.
///
/// Works over anything `Read`: a synack or std `TcpStream` (or `&TcpStream`,
/// so a second handle can write), a pipe, a slice. Errors from the stream
/// (`WouldBlock`, `TimedOut` with a read timeout) leave the buffered bytes in
/// place, so the call can simply be repeated. A codec error (oversize frame)
/// means the stream can no longer be trusted: close it.
#[derive(Debug)]
pub struct FramedReader<R, C> {
    inner: R,
    codec: C,
    buf: ReadBuf,
}

impl<R: Read, C: Codec> FramedReader<R, C> {
    /// Frames `inner` with `codec`.
    pub fn new(inner: R, codec: C) -> Self {
        Self {
            inner,
            codec,
            buf: ReadBuf::default(),
        }
    }

    /// The next frame; `None` when the stream ended cleanly between frames.
    /// `UnexpectedEof` when it ended inside one, `InvalidData` (holding a
    /// [`FrameError`](super::FrameError)) when the codec refused it.
    pub fn read_frame(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        Ok(self.read_frame_into(&mut out)?.then_some(out))
    }

    /// Like [`read_frame`](Self::read_frame), into a reused buffer (cleared
    /// first): `Ok(true)` with a frame in `out`, `Ok(false)` at clean EOF.
    pub fn read_frame_into(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            if self.buf.take_frame(&mut self.codec, out)? {
                return Ok(true);
            }
            let n = loop {
                match self.inner.read(self.buf.spare()) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => self.buf.commit(0),
                    Err(e) => {
                        self.buf.commit(0);
                        return Err(e);
                    }
                }
            };
            self.buf.commit(n);
            if n == 0 {
                return match self.buf.pending().len() {
                    0 => Ok(false),
                    left => Err(eof_mid_frame(left)),
                };
            }
        }
    }

    /// Bytes read from the stream but not yet returned as a frame.
    pub fn buffered(&self) -> &[u8] {
        self.buf.pending()
    }

    /// The stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The stream. Reading from it directly loses frame sync.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The stream and the bytes read from it but not yet framed.
    pub fn into_parts(self) -> (R, Vec<u8>) {
        (self.inner, self.buf.into_pending())
    }
}

/// Frames until clean EOF; an error ends the iteration after it is yielded.
impl<R: Read, C: Codec> Iterator for FramedReader<R, C> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_frame().transpose()
    }
}

/// Writes whole frames to a byte stream, each with one `write_all`.
#[derive(Debug)]
pub struct FramedWriter<W, C> {
    inner: W,
    codec: C,
    scratch: Vec<u8>,
}

impl<W: Write, C: Codec> FramedWriter<W, C> {
    /// Frames output to `inner` with `codec`.
    pub fn new(inner: W, codec: C) -> Self {
        Self {
            inner,
            codec,
            scratch: Vec::new(),
        }
    }

    /// Encodes and writes one frame. Nothing is written when the codec
    /// refuses it (`InvalidData` holding a [`FrameError`](super::FrameError)).
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.scratch.clear();
        self.codec.encode(frame, &mut self.scratch)?;
        self.inner.write_all(&self.scratch)
    }

    /// Flushes the stream.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The stream.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The stream.
    pub fn into_inner(self) -> W {
        self.inner
    }
}
