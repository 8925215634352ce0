//! Delimiter-terminated frames: lines ending in `\n`, `\r\n`, a NUL, ...

use super::{Codec, Decoded, FrameError};

/// Frames end with a delimiter (not part of the frame). A frame whose
/// payload grows past `max_len` without a delimiter is refused as soon as
/// that is certain, so a peer that never sends one cannot fill memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delimited {
    delim: Vec<u8>,
    max_len: usize,
    /// How far the current frame has been searched (the codec is called
    /// again with the same bytes plus more: rescanning would be quadratic).
    scanned: usize,
}

impl Delimited {
    /// Frames end with `delim` (not empty) and carry at most `max_len` bytes.
    ///
    /// # Panics
    /// If `delim` is empty: a programming error, not a runtime condition.
    pub fn new(delim: impl Into<Vec<u8>>, max_len: usize) -> Self {
        let delim = delim.into();
        assert!(!delim.is_empty(), "a frame delimiter must not be empty");
        Self {
            delim,
            max_len,
            scanned: 0,
        }
    }

    /// Lines ending in `\n` (a `\r` before it stays in the frame).
    pub fn newline(max_len: usize) -> Self {
        Self::new(b"\n".to_vec(), max_len)
    }

    /// Lines ending in `\r\n`, as in SMTP, HTTP headers and RFC 864's chargen.
    pub fn crlf(max_len: usize) -> Self {
        Self::new(b"\r\n".to_vec(), max_len)
    }

    /// The delimiter.
    pub fn delimiter(&self) -> &[u8] {
        &self.delim
    }

    /// The longest frame accepted or sent, delimiter not counted.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}

impl Codec for Delimited {
    fn decode(&mut self, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        let d = self.delim.len();
        let from = self.scanned.min(buf.len());
        if let Some(i) = buf[from..].windows(d).position(|w| w == self.delim) {
            let end = from + i;
            self.scanned = 0;
            if end > self.max_len {
                return Err(self.too_long(end));
            }
            return Ok(Some(Decoded {
                frame: 0..end,
                consumed: end + d,
            }));
        }
        // No delimiter yet; its first d-1 bytes may already be at the end.
        let settled = buf.len().saturating_sub(d - 1);
        self.scanned = settled;
        if settled > self.max_len {
            return Err(self.too_long(settled));
        }
        Ok(None)
    }

    fn encode(&mut self, frame: &[u8], dst: &mut Vec<u8>) -> Result<(), FrameError> {
        if frame.len() > self.max_len {
            return Err(self.too_long(frame.len()));
        }
        if frame.windows(self.delim.len()).any(|w| w == self.delim) {
            return Err(FrameError::DelimiterInFrame);
        }
        // A frame ending in a proper prefix of the delimiter would merge
        // with it (`"a\r"` + `"\r\n"` reads back as `"a"` + ...): refuse too.
        let mut joined = frame[frame.len().saturating_sub(self.delim.len())..].to_vec();
        joined.extend_from_slice(&self.delim);
        let first = joined
            .windows(self.delim.len())
            .position(|w| w == self.delim);
        if first != Some(joined.len() - self.delim.len()) {
            return Err(FrameError::DelimiterInFrame);
        }
        dst.reserve(frame.len() + self.delim.len());
        dst.extend_from_slice(frame);
        dst.extend_from_slice(&self.delim);
        Ok(())
    }
}

impl Delimited {
    fn too_long(&mut self, len: usize) -> FrameError {
        self.scanned = 0;
        FrameError::TooLong {
            len: len as u64,
            max: self.max_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_frame_excludes_delimiter() {
        let mut c = Delimited::crlf(100);
        assert_eq!(
            c.decode(b"ab\r\ncd").unwrap(),
            Some(Decoded {
                frame: 0..2,
                consumed: 4
            })
        );
    }

    #[test]
    fn delimiter_split_across_reads_is_found() {
        let mut c = Delimited::crlf(100);
        assert_eq!(c.decode(b"ab\r").unwrap(), None);
        assert_eq!(c.decode(b"ab\r\n").unwrap().unwrap().frame, 0..2);
    }

    #[test]
    fn empty_line_is_an_empty_frame() {
        let mut c = Delimited::newline(10);
        assert_eq!(c.decode(b"\nx").unwrap().unwrap().frame, 0..0);
    }

    #[test]
    fn line_longer_than_max_is_refused_without_delimiter() {
        let mut c = Delimited::newline(4);
        assert_eq!(c.decode(b"abcd").unwrap(), None);
        assert_eq!(
            c.decode(b"abcde"),
            Err(FrameError::TooLong { len: 5, max: 4 })
        );
    }

    #[test]
    fn crlf_line_at_max_with_pending_cr_is_not_refused_early() {
        let mut c = Delimited::crlf(4);
        // "abcd\r": the \r may start the delimiter; the line is not too long yet.
        assert_eq!(c.decode(b"abcd\r").unwrap(), None);
        assert_eq!(c.decode(b"abcd\r\n").unwrap().unwrap().frame, 0..4);
    }

    #[test]
    fn line_longer_than_max_is_refused_with_delimiter() {
        let mut c = Delimited::newline(2);
        assert!(matches!(
            c.decode(b"abc\n"),
            Err(FrameError::TooLong { .. })
        ));
    }

    #[test]
    fn encode_appends_delimiter() {
        let mut out = vec![0xAA];
        Delimited::crlf(10).encode(b"hi", &mut out).unwrap();
        assert_eq!(out, b"\xAAhi\r\n");
    }

    #[test]
    fn encode_refuses_frame_containing_delimiter() {
        let mut out = Vec::new();
        let mut c = Delimited::newline(10);
        assert_eq!(
            c.encode(b"a\nb", &mut out),
            Err(FrameError::DelimiterInFrame)
        );
        assert!(out.is_empty());
        // "\r" then "\r\n" reads back as "\r": no merge, allowed.
        Delimited::crlf(10).encode(b"a\r", &mut out).unwrap();
        assert_eq!(out, b"a\r\r\n");
    }

    #[test]
    fn encode_refuses_frame_that_would_merge_with_a_self_overlapping_delimiter() {
        let mut out = Vec::new();
        let mut c = Delimited::new(b"--".to_vec(), 10);
        // "x-" + "--" = "x---" would read back as "x" + "-...".
        assert_eq!(c.encode(b"x-", &mut out), Err(FrameError::DelimiterInFrame));
        c.encode(b"x-y", &mut out).unwrap();
        assert_eq!(c.decode(&out).unwrap().unwrap().frame, 0..3);
    }
}
