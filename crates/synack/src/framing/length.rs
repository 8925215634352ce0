//! Length-prefixed frames: a big-endian length, then the payload.

use super::{Codec, Decoded, FrameError};

/// Width of the length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// Two bytes, network order: frames up to 65,535 bytes.
    U16,
    /// Four bytes, network order.
    U32,
}

impl Prefix {
    const fn len(self) -> usize {
        match self {
            Prefix::U16 => 2,
            Prefix::U32 => 4,
        }
    }

    /// The longest payload the prefix can describe.
    const fn capacity(self) -> u64 {
        match self {
            Prefix::U16 => u16::MAX as u64,
            Prefix::U32 => u32::MAX as u64,
        }
    }
}

/// A big-endian length prefix, then that many bytes. The prefix counts the
/// payload only. Frames longer than `max_frame_len` are refused when their
/// prefix arrives, before any of the payload is buffered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LengthDelimited {
    prefix: Prefix,
    max_frame_len: usize,
}

/// Default maximum for `u32` prefixes: big enough for real messages, small
/// enough that a hostile prefix cannot exhaust memory.
const DEFAULT_MAX_U32: usize = 8 * 1024 * 1024;

impl LengthDelimited {
    /// A `u16` prefix; frames up to 65,535 bytes.
    pub fn u16() -> Self {
        Self::new(Prefix::U16, Prefix::U16.capacity() as usize)
    }

    /// A `u32` prefix; frames up to 8 MiB unless changed with
    /// [`max_frame_len`](Self::max_frame_len).
    pub fn u32() -> Self {
        Self::new(Prefix::U32, DEFAULT_MAX_U32)
    }

    /// A prefix of the given width and a maximum frame length (clamped to
    /// what the prefix can describe).
    pub fn new(prefix: Prefix, max_frame_len: usize) -> Self {
        let cap = usize::try_from(prefix.capacity()).unwrap_or(usize::MAX);
        Self {
            prefix,
            max_frame_len: max_frame_len.min(cap),
        }
    }

    /// Sets the maximum frame length (clamped to what the prefix can describe).
    #[must_use]
    pub fn max_frame_len(self, max: usize) -> Self {
        Self::new(self.prefix, max)
    }

    /// The prefix width.
    pub fn prefix(&self) -> Prefix {
        self.prefix
    }

    /// The largest frame accepted or sent.
    pub fn max_len(&self) -> usize {
        self.max_frame_len
    }
}

impl Codec for LengthDelimited {
    fn decode(&mut self, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        let p = self.prefix.len();
        let Some(head) = buf.get(..p) else {
            return Ok(None);
        };
        let len = head.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        if len > self.max_frame_len as u64 {
            return Err(FrameError::TooLong {
                len,
                max: self.max_frame_len,
            });
        }
        // Fits in usize: it is at most max_frame_len.
        let end = p + len as usize;
        if buf.len() < end {
            return Ok(None);
        }
        Ok(Some(Decoded {
            frame: p..end,
            consumed: end,
        }))
    }

    fn encode(&mut self, frame: &[u8], dst: &mut Vec<u8>) -> Result<(), FrameError> {
        if frame.len() > self.max_frame_len {
            return Err(FrameError::TooLong {
                len: frame.len() as u64,
                max: self.max_frame_len,
            });
        }
        let len = frame.len() as u64;
        let bytes = len.to_be_bytes();
        dst.reserve(self.prefix.len() + frame.len());
        dst.extend_from_slice(&bytes[8 - self.prefix.len()..]);
        dst.extend_from_slice(frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u16_prefix_is_big_endian_payload_length() {
        let mut out = vec![0xAA];
        LengthDelimited::u16().encode(b"abc", &mut out).unwrap();
        assert_eq!(out, [0xAA, 0x00, 0x03, b'a', b'b', b'c']);
    }

    #[test]
    fn u32_prefix_is_big_endian_payload_length() {
        let mut out = Vec::new();
        let payload = vec![7u8; 0x0102];
        LengthDelimited::u32().encode(&payload, &mut out).unwrap();
        assert_eq!(&out[..4], [0x00, 0x00, 0x01, 0x02]);
        assert_eq!(out.len(), 4 + 0x0102);
    }

    #[test]
    fn decode_waits_for_whole_prefix_and_payload() {
        let mut c = LengthDelimited::u32();
        let wire = [0, 0, 0, 2, b'h', b'i', 0xFF];
        for cut in 0..6 {
            assert_eq!(c.decode(&wire[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(
            c.decode(&wire).unwrap(),
            Some(Decoded {
                frame: 4..6,
                consumed: 6
            })
        );
    }

    #[test]
    fn oversize_prefix_is_refused_before_payload_arrives() {
        let mut c = LengthDelimited::u32().max_frame_len(100);
        assert_eq!(
            c.decode(&[0, 0, 0, 101]),
            Err(FrameError::TooLong { len: 101, max: 100 })
        );
        assert!(c.decode(&[0, 0, 0, 100]).unwrap().is_none());
    }

    #[test]
    fn huge_u32_prefix_is_refused_by_default() {
        let mut c = LengthDelimited::u32();
        assert!(matches!(
            c.decode(&[0xFF, 0xFF, 0xFF, 0xFF]),
            Err(FrameError::TooLong {
                len: 0xFFFF_FFFF,
                ..
            })
        ));
    }

    #[test]
    fn encode_refuses_oversize_frame() {
        let mut c = LengthDelimited::u16().max_frame_len(3);
        let mut out = Vec::new();
        assert_eq!(
            c.encode(b"abcd", &mut out),
            Err(FrameError::TooLong { len: 4, max: 3 })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn max_is_clamped_to_prefix_capacity() {
        assert_eq!(
            LengthDelimited::u16().max_frame_len(1 << 20).max_len(),
            65_535
        );
    }
}
