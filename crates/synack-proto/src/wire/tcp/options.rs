//! TCP options, one at a time, in wire order.
//!
//! Read before touching: RFC 9293 §3.1 and §3.2 (option format; MUST-4: an
//! implementation MUST support options in any segment; MUST-5: it MUST
//! support all lengths of options it does not know; MUST-6: and ignore them,
//! "MUST be prepared to handle an illegal option length (e.g., zero)"),
//! RFC 7323 §2.2 and §3.2 (window scale, timestamps), RFC 2018 §2-3
//! (SACK-permitted, SACK), RFC 2385 §3.0 (MD5 signature), RFC 7413 §2.1
//! (Fast Open), RFC 6994 (shared
//! experimental option kind 254 with a 16-bit magic).

use core::fmt;

use crate::SeqNum;
use crate::wire::{WireError, get_u16, get_u32};

pub(crate) mod kind {
    pub const END_OF_LIST: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
    /// RFC 2385 §3.0: the TCP MD5 signature option.
    pub const MD5_SIGNATURE: u8 = 19;
    pub const FAST_OPEN: u8 = 34;
    pub const EXPERIMENTAL: u8 = 254;
}

/// The RFC 6994 magic for experimental Fast Open (kind 254), used by Linux
/// before kind 34 was assigned.
pub const FAST_OPEN_MAGIC: u16 = 0xF989;

/// At most four SACK blocks fit in 40 bytes of options (RFC 2018 §3).
pub const MAX_SACK_BLOCKS: usize = 4;

/// Up to four SACK blocks `(left edge, right edge)`, a fixed array with a
/// length: copyable, no allocation. Unused slots are ignored by `==`.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    len: u8,
    blocks: [(SeqNum, SeqNum); MAX_SACK_BLOCKS],
}

impl SackBlocks {
    pub const fn new() -> Self {
        SackBlocks {
            len: 0,
            blocks: [(SeqNum(0), SeqNum(0)); MAX_SACK_BLOCKS],
        }
    }

    /// A SACK option's data (RFC 2018 §3): one to four blocks of 8 bytes;
    /// any other length is `None`.
    #[inline]
    pub fn from_option_data(data: &[u8]) -> Option<Self> {
        let n = data.len();
        if !n.is_multiple_of(8) || !(1..=MAX_SACK_BLOCKS).contains(&(n / 8)) {
            return None;
        }
        let mut blocks = Self::new();
        for b in data.chunks_exact(8) {
            blocks.push((SeqNum(get_u32(b, 0)), SeqNum(get_u32(b, 4))));
        }
        Some(blocks)
    }

    /// The first four blocks of `blocks`; the rest are dropped.
    pub fn from_slice(blocks: &[(SeqNum, SeqNum)]) -> Self {
        let mut s = Self::new();
        for &b in blocks.iter().take(MAX_SACK_BLOCKS) {
            s.push(b);
        }
        s
    }

    /// Appends a block; returns false (and drops it) when four are held.
    pub fn push(&mut self, block: (SeqNum, SeqNum)) -> bool {
        let Some(slot) = self.blocks.get_mut(usize::from(self.len)) else {
            return false;
        };
        *slot = block;
        self.len += 1;
        true
    }

    /// Keeps the first `len` blocks.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len.min(MAX_SACK_BLOCKS) as u8);
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn as_slice(&self) -> &[(SeqNum, SeqNum)] {
        &self.blocks[..usize::from(self.len).min(MAX_SACK_BLOCKS)]
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> core::slice::Iter<'_, (SeqNum, SeqNum)> {
        self.as_slice().iter()
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(l, r)| (l.0, r.0)))
            .finish()
    }
}

impl<'a> IntoIterator for &'a SackBlocks {
    type Item = &'a (SeqNum, SeqNum);
    type IntoIter = core::slice::Iter<'a, (SeqNum, SeqNum)>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// One TCP option as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: the end of the option list; what follows is padding.
    EndOfList,
    /// Kind 1: one byte of alignment.
    NoOperation,
    /// Kind 2 (RFC 9293 §3.2): the largest segment the sender can receive.
    MaxSegmentSize(u16),
    /// Kind 3 (RFC 7323 §2.2): the shift count (raw; the engine clamps to 14).
    WindowScale(u8),
    /// Kind 4 (RFC 2018 §2).
    SackPermitted,
    /// Kind 5 (RFC 2018 §3): one to four blocks.
    Sack(SackBlocks),
    /// Kind 8 (RFC 7323 §3.2).
    Timestamp { tsval: u32, tsecr: u32 },
    /// Kind 34 (RFC 7413 §4.1.1): the cookie; empty is a cookie request.
    /// Any length is yielded here; the summary judges the cookie length.
    FastOpen(&'a [u8]),
    /// Kind 254 with magic 0xF989 (RFC 6994): the cookie after the magic.
    FastOpenExp(&'a [u8]),
    /// Any other kind with a valid length (RFC 9293 MUST-6: skipped).
    Unknown { kind: u8, data: &'a [u8] },
}

impl<'a> TcpOption<'a> {
    /// Parses the option at the start of `buf`, returning it and the bytes
    /// it occupies. Every failure is [`WireError::Malformed`]: an option
    /// with length 0 or 1, one that overruns `buf`, or a known kind with a
    /// wrong length (RFC 9293 §3.2 MUST-6 asks to handle "an illegal option
    /// length" without crashing; such a segment is dropped and counted).
    pub fn parse(buf: &'a [u8]) -> Result<(TcpOption<'a>, usize), WireError> {
        let (k, data, len) = split_option(buf)?;
        let option = match (k, data.len()) {
            (kind::END_OF_LIST, _) => TcpOption::EndOfList,
            (kind::NOP, _) => TcpOption::NoOperation,
            (kind::MSS, 2) => TcpOption::MaxSegmentSize(get_u16(data, 0)),
            (kind::WINDOW_SCALE, 1) => TcpOption::WindowScale(data[0]),
            (kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (kind::SACK, _) => {
                TcpOption::Sack(SackBlocks::from_option_data(data).ok_or(WireError::Malformed)?)
            }
            (kind::TIMESTAMP, 8) => TcpOption::Timestamp {
                tsval: get_u32(data, 0),
                tsecr: get_u32(data, 4),
            },
            (kind::MSS | kind::WINDOW_SCALE | kind::SACK_PERMITTED | kind::TIMESTAMP, _) => {
                return Err(WireError::Malformed);
            }
            (kind::FAST_OPEN, _) => TcpOption::FastOpen(data),
            (kind::EXPERIMENTAL, _) => match fast_open_exp_cookie(data) {
                Some(cookie) => TcpOption::FastOpenExp(cookie),
                None => TcpOption::Unknown { kind: k, data },
            },
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        Ok((option, len))
    }

    /// Bytes the option occupies on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamp { .. } => 10,
            TcpOption::FastOpen(cookie) => 2 + cookie.len(),
            TcpOption::FastOpenExp(cookie) => 4 + cookie.len(),
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns its length.
    ///
    /// # Panics
    /// When `buf` is shorter than `buffer_len()`, or an option's length does
    /// not fit its one-byte length field (data over 253 bytes): caller bugs.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let len_byte = u8::try_from(len).expect("a TCP option is at most 255 bytes long");
        let buf = &mut buf[..len];
        match *self {
            TcpOption::EndOfList => buf[0] = kind::END_OF_LIST,
            TcpOption::NoOperation => buf[0] = kind::NOP,
            TcpOption::MaxSegmentSize(mss) => {
                buf[..2].copy_from_slice(&[kind::MSS, len_byte]);
                buf[2..].copy_from_slice(&mss.to_be_bytes());
            }
            TcpOption::WindowScale(shift) => {
                buf.copy_from_slice(&[kind::WINDOW_SCALE, len_byte, shift]);
            }
            TcpOption::SackPermitted => buf.copy_from_slice(&[kind::SACK_PERMITTED, len_byte]),
            TcpOption::Sack(blocks) => {
                buf[..2].copy_from_slice(&[kind::SACK, len_byte]);
                for (chunk, (left, right)) in buf[2..].chunks_exact_mut(8).zip(blocks.iter()) {
                    chunk[..4].copy_from_slice(&left.0.to_be_bytes());
                    chunk[4..].copy_from_slice(&right.0.to_be_bytes());
                }
            }
            TcpOption::Timestamp { tsval, tsecr } => {
                buf[..2].copy_from_slice(&[kind::TIMESTAMP, len_byte]);
                buf[2..6].copy_from_slice(&tsval.to_be_bytes());
                buf[6..].copy_from_slice(&tsecr.to_be_bytes());
            }
            TcpOption::FastOpen(cookie) => {
                buf[..2].copy_from_slice(&[kind::FAST_OPEN, len_byte]);
                buf[2..].copy_from_slice(cookie);
            }
            TcpOption::FastOpenExp(cookie) => {
                buf[..2].copy_from_slice(&[kind::EXPERIMENTAL, len_byte]);
                buf[2..4].copy_from_slice(&FAST_OPEN_MAGIC.to_be_bytes());
                buf[4..].copy_from_slice(cookie);
            }
            TcpOption::Unknown { kind, data } => {
                buf[..2].copy_from_slice(&[kind, len_byte]);
                buf[2..].copy_from_slice(data);
            }
        }
        len
    }
}

/// The option at the start of `buf`: its kind, its data and the bytes it
/// occupies. End of Option List and NOP are one byte with no data. An
/// empty `buf`, a length of 0 or 1, or one that overruns `buf` is
/// [`WireError::Malformed`] (RFC 9293 §3.2 MUST-6: "an illegal option
/// length"). The one framing rule for [`TcpOption::parse`] and the
/// options summary's walk.
#[inline]
pub(super) fn split_option(buf: &[u8]) -> Result<(u8, &[u8], usize), WireError> {
    let Some(&k) = buf.first() else {
        return Err(WireError::Malformed);
    };
    if matches!(k, kind::END_OF_LIST | kind::NOP) {
        return Ok((k, &[], 1));
    }
    let Some(&len) = buf.get(1) else {
        return Err(WireError::Malformed);
    };
    let len = usize::from(len);
    if len < 2 || len > buf.len() {
        return Err(WireError::Malformed);
    }
    Ok((k, &buf[2..len], len))
}

/// An experimental option's (kind 254) data as a Fast Open cookie, if its
/// RFC 6994 magic says Fast Open.
#[inline]
pub(super) fn fast_open_exp_cookie(data: &[u8]) -> Option<&[u8]> {
    match data {
        [m1, m2, cookie @ ..] if u16::from_be_bytes([*m1, *m2]) == FAST_OPEN_MAGIC => Some(cookie),
        _ => None,
    }
}

/// Iterates over option bytes, yielding each option or the error that ends
/// the walk. It stops after `EndOfList`, after the first error, and at the
/// end of the bytes; every step consumes at least one byte, so it always
/// ends.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    pub const fn new(options: &'a [u8]) -> Self {
        TcpOptionIter { rest: options }
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((TcpOption::EndOfList, _)) => {
                // RFC 9293 §3.2: what follows the end of the list is padding.
                self.rest = &[];
                Some(Ok(TcpOption::EndOfList))
            }
            Ok((option, len)) => {
                self.rest = &self.rest[len..];
                Some(Ok(option))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for TcpOptionIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(bytes: &[u8]) -> Vec<Result<TcpOption<'_>, WireError>> {
        TcpOptionIter::new(bytes).collect()
    }

    #[test]
    fn parses_a_linux_syn_option_list() {
        // <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>
        let bytes = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        assert_eq!(
            collect(&bytes),
            vec![
                Ok(TcpOption::MaxSegmentSize(1460)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamp { tsval: 1, tsecr: 0 }),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::WindowScale(7)),
            ]
        );
    }

    #[test]
    fn sack_blocks_are_read_in_order() {
        let bytes = [
            1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40,
        ];
        let blocks = SackBlocks::from_slice(&[(SeqNum(10), SeqNum(20)), (SeqNum(30), SeqNum(40))]);
        assert_eq!(collect(&bytes)[2], Ok(TcpOption::Sack(blocks)));
    }

    #[test]
    fn stops_after_end_of_list_and_ignores_padding() {
        let bytes = [1, 0, 2, 0, 0xff];
        assert_eq!(
            collect(&bytes),
            vec![Ok(TcpOption::NoOperation), Ok(TcpOption::EndOfList)]
        );
    }

    #[test]
    fn length_zero_or_one_is_an_error_that_ends_iteration() {
        for bad in [0u8, 1] {
            let bytes = [1, 99, bad, 1, 1];
            assert_eq!(
                collect(&bytes),
                vec![Ok(TcpOption::NoOperation), Err(WireError::Malformed)]
            );
        }
    }

    #[test]
    fn an_option_that_overruns_is_an_error() {
        assert_eq!(collect(&[8, 10, 0, 0]), vec![Err(WireError::Malformed)]);
        // A kind with no room for its length byte.
        assert_eq!(
            collect(&[1, 2]),
            vec![Ok(TcpOption::NoOperation), Err(WireError::Malformed)]
        );
    }

    #[test]
    fn known_kinds_with_wrong_fixed_lengths_are_malformed() {
        let cases: [&[u8]; 8] = [
            &[2, 3, 5],
            &[2, 5, 5, 0xb4, 0],
            &[3, 4, 7, 0],
            &[3, 2],
            &[4, 3, 0],
            &[8, 9, 0, 0, 0, 0, 0, 0, 0],
            &[5, 2],
            &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ];
        for bytes in cases {
            assert_eq!(collect(bytes), vec![Err(WireError::Malformed)], "{bytes:?}");
        }
    }

    #[test]
    fn unknown_kinds_with_valid_length_are_skipped_as_unknown() {
        // RFC 9293 MUST-6: kind 99, length 4, then MSS.
        let bytes = [99, 4, 0xaa, 0xbb, 2, 4, 0x05, 0xb4];
        assert_eq!(
            collect(&bytes),
            vec![
                Ok(TcpOption::Unknown {
                    kind: 99,
                    data: &[0xaa, 0xbb]
                }),
                Ok(TcpOption::MaxSegmentSize(1460)),
            ]
        );
    }

    #[test]
    fn fast_open_kinds() {
        assert_eq!(collect(&[34, 2]), vec![Ok(TcpOption::FastOpen(&[]))]);
        assert_eq!(
            collect(&[34, 6, 1, 2, 3, 4]),
            vec![Ok(TcpOption::FastOpen(&[1, 2, 3, 4]))]
        );
        assert_eq!(
            collect(&[254, 8, 0xf9, 0x89, 1, 2, 3, 4]),
            vec![Ok(TcpOption::FastOpenExp(&[1, 2, 3, 4]))]
        );
        assert_eq!(
            collect(&[254, 4, 0xf9, 0x89]),
            vec![Ok(TcpOption::FastOpenExp(&[]))]
        );
        // Another experiment's magic, or no room for one: not Fast Open.
        assert_eq!(
            collect(&[254, 4, 0x12, 0x34]),
            vec![Ok(TcpOption::Unknown {
                kind: 254,
                data: &[0x12, 0x34]
            })]
        );
        assert_eq!(
            collect(&[254, 3, 0xf9]),
            vec![Ok(TcpOption::Unknown {
                kind: 254,
                data: &[0xf9]
            })]
        );
    }

    #[test]
    fn emit_writes_each_kind_over_junk() {
        let blocks = SackBlocks::from_slice(&[(SeqNum(1), SeqNum(2))]);
        let cases: [(TcpOption<'_>, &[u8]); 10] = [
            (TcpOption::EndOfList, &[0]),
            (TcpOption::NoOperation, &[1]),
            (TcpOption::MaxSegmentSize(1460), &[2, 4, 0x05, 0xb4]),
            (TcpOption::WindowScale(7), &[3, 3, 7]),
            (TcpOption::SackPermitted, &[4, 2]),
            (TcpOption::Sack(blocks), &[5, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            (
                TcpOption::Timestamp {
                    tsval: 0x01020304,
                    tsecr: 5,
                },
                &[8, 10, 1, 2, 3, 4, 0, 0, 0, 5],
            ),
            (TcpOption::FastOpen(&[9, 9, 9, 9]), &[34, 6, 9, 9, 9, 9]),
            (
                TcpOption::FastOpenExp(&[7, 7, 7, 7]),
                &[254, 8, 0xf9, 0x89, 7, 7, 7, 7],
            ),
            (
                TcpOption::Unknown {
                    kind: 99,
                    data: &[1],
                },
                &[99, 3, 1],
            ),
        ];
        for (option, bytes) in cases {
            let mut buf = [0xAA; 40];
            assert_eq!(option.emit(&mut buf), bytes.len());
            assert_eq!(option.buffer_len(), bytes.len());
            assert_eq!(&buf[..bytes.len()], bytes, "{option:?}");
            assert!(
                buf[bytes.len()..].iter().all(|&b| b == 0xAA),
                "wrote past its end"
            );
        }
    }

    #[test]
    fn sack_blocks_hold_at_most_four() {
        let mut s = SackBlocks::new();
        for i in 0..4 {
            assert!(s.push((SeqNum(i), SeqNum(i + 1))));
        }
        assert!(!s.push((SeqNum(9), SeqNum(10))));
        assert_eq!(s.len(), 4);
        s.truncate(2);
        assert_eq!(
            s.as_slice(),
            &[(SeqNum(0), SeqNum(1)), (SeqNum(1), SeqNum(2))]
        );
        // Equality ignores what is left in unused slots.
        assert_eq!(
            s,
            SackBlocks::from_slice(&[(SeqNum(0), SeqNum(1)), (SeqNum(1), SeqNum(2))])
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_iteration_is_bounded(
            bytes in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            let n = TcpOptionIter::new(&bytes).count();
            prop_assert!(n <= bytes.len());
        }

        #[test]
        fn every_parsed_option_re_emits_to_its_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            let mut rest = &bytes[..];
            while let Ok((option, len)) = TcpOption::parse(rest) {
                let mut out = [0u8; 64];
                prop_assert_eq!(option.emit(&mut out), len);
                prop_assert_eq!(&out[..len], &rest[..len]);
                if option == TcpOption::EndOfList { break; }
                rest = &rest[len..];
            }
        }
    }
}
