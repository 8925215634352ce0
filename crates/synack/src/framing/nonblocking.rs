//! Async framed reader and writer over tokio's `AsyncRead`/`AsyncWrite`
//! (feature `tokio`): the same codecs as the blocking ones.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Codec, ReadBuf, eof_mid_frame};

/// Reads whole frames from an async byte stream. Cancel safe: dropping a
/// pending [`read_frame`](Self::read_frame) loses no bytes, they stay
/// buffered for the next call.
#[derive(Debug)]
pub struct AsyncFramedReader<R, C> {
    inner: R,
    codec: C,
    buf: ReadBuf,
}

impl<R: AsyncRead + Unpin, C: Codec> AsyncFramedReader<R, C> {
    /// Frames `inner` with `codec`.
    pub fn new(inner: R, codec: C) -> Self {
        Self {
            inner,
            codec,
            buf: ReadBuf::default(),
        }
    }

    /// The next frame; `None` at clean EOF between frames, `UnexpectedEof`
    /// inside one, `InvalidData` when the codec refused it.
    pub async fn read_frame(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        Ok(self.read_frame_into(&mut out).await?.then_some(out))
    }

    /// Like [`read_frame`](Self::read_frame), into a reused buffer.
    pub async fn read_frame_into(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            if self.buf.take_frame(&mut self.codec, out)? {
                return Ok(true);
            }
            // Read into a stack chunk, not `spare()`: a cancelled read must
            // not leave zero-filled bytes in the buffer.
            let mut chunk = [0u8; 4096];
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                return match self.buf.pending().len() {
                    0 => Ok(false),
                    left => Err(eof_mid_frame(left)),
                };
            }
            self.buf.spare()[..n].copy_from_slice(&chunk[..n]);
            self.buf.commit(n);
        }
    }

    /// Bytes read but not yet returned as a frame.
    pub fn buffered(&self) -> &[u8] {
        self.buf.pending()
    }

    /// The stream and the bytes read from it but not yet framed.
    pub fn into_parts(self) -> (R, Vec<u8>) {
        (self.inner, self.buf.into_pending())
    }
}

/// Writes whole frames to an async byte stream.
#[derive(Debug)]
pub struct AsyncFramedWriter<W, C> {
    inner: W,
    codec: C,
    scratch: Vec<u8>,
}

impl<W: AsyncWrite + Unpin, C: Codec> AsyncFramedWriter<W, C> {
    /// Frames output to `inner` with `codec`.
    pub fn new(inner: W, codec: C) -> Self {
        Self {
            inner,
            codec,
            scratch: Vec::new(),
        }
    }

    /// Encodes and writes one frame (not cancel safe: a dropped write may
    /// have sent part of the frame).
    pub async fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.scratch.clear();
        self.codec.encode(frame, &mut self.scratch)?;
        self.inner.write_all(&self.scratch).await
    }

    /// Flushes the stream.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().await
    }

    /// Shuts the stream's write side down (a TCP stream sends FIN).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.inner.shutdown().await
    }

    /// The stream.
    pub fn into_inner(self) -> W {
        self.inner
    }
}
