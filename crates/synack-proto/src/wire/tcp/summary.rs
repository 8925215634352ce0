//! [`TcpOptions`]: the options of one segment as the TCP engine reads them,
//! and their emission in exactly the layout Linux uses.
//!
//! Read before touching: RFC 7323 §2-3 and Appendix A (the 12-byte
//! `nop,nop,TS` layout), RFC 2018 §2-4, RFC 7413 §4.1.1, RFC 6994, and
//! Linux's `tcp_options_write` (net/ipv4/tcp_output.c), whose order
//! packetdrill scripts encode. Layout, in order:
//!
//! ```text
//! MD5 signature            1,1,19,18,digest             20 bytes
//! mss                      2,4,mss                      4 bytes
//! sackOK + TS              4,2,8,10,tsval,tsecr          12 bytes
//! TS alone                 1,1,8,10,tsval,tsecr          12 bytes
//! sackOK alone             1,1,4,2                       4 bytes
//! wscale                   1,3,3,shift                   4 bytes
//! SACK blocks              1,1,5,2+8n,blocks             4+8n bytes
//! Fast Open                34,2+n,cookie (+1,1 if 2+n = 2 mod 4)
//! Fast Open experimental   254,4+n,0xF9,0x89,cookie (+1,1 likewise)
//! ```
//!
//! Everything but SACK blocks fits in 40 bytes (at most 40: mss, TS,
//! wscale and a 16-byte experimental cookie, or the MD5 signature, mss, TS
//! and wscale). When blocks do not all fit, the trailing ones are dropped
//! (RFC 2018 §4: the first block is the most recent, the one that must be
//! reported); a Fast Open option that does not fit beside a signature is
//! not written (Linux's `tcp_synack_options` writes it only with room
//! left). The signature goes first, as Linux's `tcp_options_write` puts
//! it; `emit` writes its 16 bytes as zeros, for the signer
//! (`tcp::md5`) to fill in once the segment is whole.

use super::MAX_OPTIONS_LEN;
use super::options::{SackBlocks, fast_open_exp_cookie, kind, split_option};
use crate::tcp::md5::{MD5_DIGEST_LEN, MD5_OPTION_LEN};
use crate::wire::WireError;

/// The Timestamps option (RFC 7323 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpTimestamp {
    pub tsval: u32,
    pub tsecr: u32,
}

/// A Fast Open cookie (RFC 7413 §4.1.1): empty (a request) or 4 to 16 bytes.
#[derive(Clone, Copy, Default)]
pub struct FastOpenCookie {
    /// Bytes used in `bytes`; 0 means "cookie request".
    pub len: u8,
    pub bytes: [u8; 16],
}

impl FastOpenCookie {
    /// Smallest cookie RFC 7413 §4.1.1 allows.
    pub const MIN_LEN: usize = 4;
    /// Largest cookie RFC 7413 §4.1.1 allows.
    pub const MAX_LEN: usize = 16;

    /// The empty cookie a client sends to ask for one.
    pub const REQUEST: FastOpenCookie = FastOpenCookie {
        len: 0,
        bytes: [0; 16],
    };

    /// A cookie of a valid length (0, or 4..=16), else `None`.
    pub fn new(cookie: &[u8]) -> Option<Self> {
        let valid = cookie.is_empty() || (Self::MIN_LEN..=Self::MAX_LEN).contains(&cookie.len());
        if !valid {
            return None;
        }
        let mut bytes = [0; 16];
        bytes[..cookie.len()].copy_from_slice(cookie);
        Some(FastOpenCookie {
            len: cookie.len() as u8,
            bytes,
        })
    }

    /// The cookie bytes (at most 16, whatever `len` says).
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(Self::MAX_LEN)]
    }

    /// An empty cookie: the sender asks for one.
    pub fn is_request(&self) -> bool {
        self.len == 0
    }
}

impl PartialEq for FastOpenCookie {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for FastOpenCookie {}

impl core::fmt::Debug for FastOpenCookie {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FastOpenCookie(")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A Fast Open option: the cookie, and which option kind carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FastOpenOption {
    /// Kind 254 with magic 0xF989 instead of kind 34.
    pub experimental: bool,
    pub cookie: FastOpenCookie,
}

/// What a segment's options say, for the TCP engine. Copyable, fixed size.
///
/// Which options are legal in which segment (MSS only on SYN, RFC 9293
/// §3.7.1; window scale only on SYN, RFC 7323 §2.2) is the engine's
/// business: this records what is there. When an option appears twice, the
/// last one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    /// The raw shift count; RFC 7323 §2.3 says to use 14 for anything larger,
    /// which the engine does.
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub sack_blocks: SackBlocks,
    pub timestamp: Option<TcpTimestamp>,
    pub fast_open: Option<FastOpenOption>,
    /// A Fast Open option with a cookie of an invalid length (1..=3 or over
    /// 16 bytes) was present and dropped from `fast_open`.
    pub malformed_fast_open: bool,
    /// The TCP MD5 signature option (RFC 2385 §3.0, kind 19, 18 bytes):
    /// read, one was there (where, `tcp::md5::digest_at` finds); emitted,
    /// its place is kept, zeroed, for the signer.
    pub md5: bool,
}

impl TcpOptions {
    /// No options: the default, as a constant.
    pub const EMPTY: TcpOptions = TcpOptions {
        mss: None,
        window_scale: None,
        sack_permitted: false,
        sack_blocks: SackBlocks::new(),
        timestamp: None,
        fast_open: None,
        malformed_fast_open: false,
        md5: false,
    };

    /// Summarises option bytes. Unknown kinds are skipped (RFC 9293 MUST-6);
    /// structurally broken bytes (length 0/1, overruns, known kinds with
    /// wrong lengths) are [`WireError::Malformed`].
    pub fn parse(bytes: &[u8]) -> Result<TcpOptions, WireError> {
        let mut opts = TcpOptions::default();
        opts.read(bytes)?;
        Ok(opts)
    }

    /// [`TcpOptions::parse`] into `self`, which must be the default
    /// (empty) summary: a caller building a larger value (a
    /// [`super::TcpRepr`]) reads the options in place, with no
    /// `Result<TcpOptions, _>` to copy out of.
    pub(crate) fn read(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        debug_assert_eq!(*self, TcpOptions::default());
        // Fast path: nearly every segment of a connection with timestamps
        // carries exactly `nop, nop, TS` (RFC 7323 Appendix A's layout),
        // its four kind and length bytes compared as one word.
        if let Ok(b) = <&[u8; 12]>::try_from(bytes) {
            let word = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            if word(0) == 0x0101_080a {
                self.timestamp = Some(TcpTimestamp {
                    tsval: word(4),
                    tsecr: word(8),
                });
                return Ok(());
            }
        }
        self.read_other(bytes)
    }

    /// Options other than `nop, nop, TS`. Out of line: the `nop, nop, TS`
    /// segment's parse then saves no registers for it.
    ///
    /// The SYN and SYN-ACK of Linux and of this stack (the module docs'
    /// layout with every option a SYN offers: `mss`, `sackOK + TS`,
    /// `nop, wscale`) are read at once, as the walk would read them (the
    /// walk cost about 160 instructions a SYN: five options framed and
    /// matched one by one); anything else is walked.
    #[inline(never)]
    fn read_other(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let Ok(b) = <&[u8; 20]>::try_from(bytes) else {
            return self.parse_walk(bytes);
        };
        let word = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        // The kinds and lengths: `2,4` (MSS), `4,2,8,10` (sackOK, TS),
        // `1,3,3` (nop, wscale), compared a word at a time.
        let syn_layout =
            word(0) >> 16 == 0x0204 && word(4) == 0x0402_080a && word(16) >> 8 == 0x01_0303;
        if !syn_layout {
            return self.parse_walk(bytes);
        }
        self.mss = Some(word(0) as u16);
        self.sack_permitted = true;
        self.timestamp = Some(TcpTimestamp {
            tsval: word(8),
            tsecr: word(12),
        });
        self.window_scale = Some(b[19]);
        Ok(())
    }

    /// The walk alone, without [`TcpOptions::read`]'s fast paths: the
    /// reference the tests compare them with.
    #[cfg(test)]
    fn parse_walked(bytes: &[u8]) -> Result<TcpOptions, WireError> {
        let mut opts = TcpOptions::default();
        opts.parse_walk(bytes)?;
        Ok(opts)
    }

    /// The walk over options in any other layout: one pass that records
    /// each option as it is read, with
    /// [`super::options::TcpOption::parse`]'s rules and its framing
    /// ([`split_option`]; a per-option value returned and matched again
    /// cost twice as much). The walk
    /// stops at End of Option List (RFC 9293 §3.2: what follows is
    /// padding) and at the first broken option. Out of line: the fixed
    /// SYN layout's read in `read_other` then saves no registers for it.
    #[inline(never)]
    fn parse_walk(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (k, data, len) = split_option(rest)?;
            match (k, data) {
                (kind::END_OF_LIST, _) => return Ok(()),
                (kind::NOP, _) => {}
                (kind::MSS, &[hi, lo]) => self.mss = Some(u16::from_be_bytes([hi, lo])),
                (kind::WINDOW_SCALE, &[shift]) => self.window_scale = Some(shift),
                (kind::SACK_PERMITTED, []) => self.sack_permitted = true,
                (kind::SACK, _) => {
                    self.sack_blocks =
                        SackBlocks::from_option_data(data).ok_or(WireError::Malformed)?;
                }
                (kind::TIMESTAMP, &[v0, v1, v2, v3, e0, e1, e2, e3]) => {
                    self.timestamp = Some(TcpTimestamp {
                        tsval: u32::from_be_bytes([v0, v1, v2, v3]),
                        tsecr: u32::from_be_bytes([e0, e1, e2, e3]),
                    });
                }
                // A known kind with a wrong length.
                (kind::MSS | kind::WINDOW_SCALE | kind::SACK_PERMITTED | kind::TIMESTAMP, _) => {
                    return Err(WireError::Malformed);
                }
                (kind::FAST_OPEN, cookie) => self.set_fast_open(false, cookie),
                // RFC 2385 §3.0: 16 bytes of digest. One of another length
                // is no signature (Linux's `tcp_parse_md5sig_option`): a
                // connection that expects one drops the segment.
                (kind::MD5_SIGNATURE, digest) if digest.len() == MD5_DIGEST_LEN => {
                    self.md5 = true;
                }
                (kind::EXPERIMENTAL, _) => {
                    if let Some(cookie) = fast_open_exp_cookie(data) {
                        self.set_fast_open(true, cookie);
                    }
                }
                // RFC 9293 MUST-6: unknown kinds are skipped.
                _ => {}
            }
            rest = &rest[len..];
        }
        Ok(())
    }

    fn set_fast_open(&mut self, experimental: bool, cookie: &[u8]) {
        match FastOpenCookie::new(cookie) {
            Some(cookie) => {
                self.fast_open = Some(FastOpenOption {
                    experimental,
                    cookie,
                });
            }
            // RFC 7413 §4.1.1: the cookie is 4 to 16 bytes (or empty).
            None => self.malformed_fast_open = true,
        }
    }

    /// Whether there is nothing to emit.
    pub fn is_empty(&self) -> bool {
        self.buffer_len() == 0
    }

    /// Fast Open option length with its `nop,nop` padding; 0 when it does
    /// not fit after `before` bytes of other options (beside a signature).
    fn fast_open_len(&self, before: usize) -> usize {
        let Some(fo) = &self.fast_open else {
            return 0;
        };
        let base = if fo.experimental { 4 } else { 2 };
        let len = (base + fo.cookie.as_slice().len()).next_multiple_of(4);
        if before + len > MAX_OPTIONS_LEN {
            0
        } else {
            len
        }
    }

    /// Bytes of everything but SACK blocks.
    fn fixed_len(&self) -> usize {
        let len = self.before_fast_open_len();
        len + self.fast_open_len(len)
    }

    /// Bytes of the signature, MSS, timestamps and window scale.
    fn before_fast_open_len(&self) -> usize {
        let mut len = 0;
        if self.md5 {
            len += MD5_OPTION_LEN;
        }
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamp.is_some() {
            len += 12; // sackOK rides in the TS word's padding
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// How many SACK blocks fit after the other options.
    fn sack_blocks_that_fit(&self) -> usize {
        Self::blocks_that_fit(self.fixed_len(), self.sack_blocks.len())
    }

    /// How many of `blocks` SACK blocks fit after `fixed` bytes of options.
    fn blocks_that_fit(fixed: usize, blocks: usize) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(fixed);
        let fit = room.saturating_sub(4) / 8;
        blocks.min(fit)
    }

    /// Bytes `emit` writes: a multiple of 4, at most 40.
    pub fn buffer_len(&self) -> usize {
        let fixed = self.fixed_len();
        if self.sack_blocks.is_empty() {
            return fixed;
        }
        let blocks = Self::blocks_that_fit(fixed, self.sack_blocks.len());
        let sack = if blocks > 0 { 4 + 8 * blocks } else { 0 };
        fixed + sack
    }

    /// The timestamp, when it is the only option (no SACK blocks either):
    /// what nearly every segment of an established connection carries,
    /// emitted as `nop, nop, TS` (12 bytes).
    pub fn only_timestamp(&self) -> Option<TcpTimestamp> {
        let only = self.sack_blocks.is_empty()
            && self.mss.is_none()
            && self.window_scale.is_none()
            && !self.sack_permitted
            && self.fast_open.is_none()
            && !self.md5;
        if only { self.timestamp } else { None }
    }

    /// What `emit` writes, as a summary: SACK blocks that do not fit are
    /// dropped and `malformed_fast_open` (a receive-side note) is cleared.
    /// Parsing emitted bytes yields exactly this.
    pub fn as_emitted(&self) -> TcpOptions {
        let mut out = *self;
        out.sack_blocks.truncate(self.sack_blocks_that_fit());
        out.malformed_fast_open = false;
        if self.fast_open_len(self.before_fast_open_len()) == 0 {
            out.fast_open = None;
        }
        out
    }

    /// Writes the options in Linux's layout (see the module docs) and
    /// returns the length, `buffer_len()`.
    ///
    /// # Panics
    /// When `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        if let Some(ts) = self.only_timestamp() {
            // The established connection's every segment: `nop, nop, TS`
            // written in one store (RFC 7323 Appendix A's layout).
            let [v0, v1, v2, v3] = ts.tsval.to_be_bytes();
            let [e0, e1, e2, e3] = ts.tsecr.to_be_bytes();
            let bytes = [
                kind::NOP,
                kind::NOP,
                kind::TIMESTAMP,
                10,
                v0,
                v1,
                v2,
                v3,
                e0,
                e1,
                e2,
                e3,
            ];
            buf[..bytes.len()].copy_from_slice(&bytes);
            return bytes.len();
        }
        let buf = &mut buf[..self.buffer_len()];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        let nop = kind::NOP;
        if self.md5 {
            put(&[nop, nop, kind::MD5_SIGNATURE, 18]);
            put(&[0; MD5_DIGEST_LEN]);
        }
        if let Some(mss) = self.mss {
            let [hi, lo] = mss.to_be_bytes();
            put(&[kind::MSS, 4, hi, lo]);
        }
        if let Some(ts) = self.timestamp {
            if self.sack_permitted {
                put(&[kind::SACK_PERMITTED, 2, kind::TIMESTAMP, 10]);
            } else {
                put(&[nop, nop, kind::TIMESTAMP, 10]);
            }
            put(&ts.tsval.to_be_bytes());
            put(&ts.tsecr.to_be_bytes());
        } else if self.sack_permitted {
            put(&[nop, nop, kind::SACK_PERMITTED, 2]);
        }
        if let Some(shift) = self.window_scale {
            put(&[nop, kind::WINDOW_SCALE, 3, shift]);
        }
        let blocks = self.sack_blocks_that_fit();
        if blocks > 0 {
            put(&[nop, nop, kind::SACK, (2 + 8 * blocks) as u8]);
            for (left, right) in self.sack_blocks.iter().take(blocks) {
                put(&left.0.to_be_bytes());
                put(&right.0.to_be_bytes());
            }
        }
        let fits = self.fast_open_len(self.before_fast_open_len()) > 0;
        if let Some(fo) = self.fast_open.as_ref().filter(|_| fits) {
            let cookie = fo.cookie.as_slice();
            let len = if fo.experimental {
                let len = 4 + cookie.len();
                let [m1, m2] = super::options::FAST_OPEN_MAGIC.to_be_bytes();
                put(&[kind::EXPERIMENTAL, len as u8, m1, m2]);
                len
            } else {
                let len = 2 + cookie.len();
                put(&[kind::FAST_OPEN, len as u8]);
                len
            };
            put(cookie);
            // Linux pads with nop,nop when the option is 2 mod 4 long;
            // odd cookie lengths (only from a peer) pad with nops too.
            for _ in len..len.next_multiple_of(4) {
                put(&[nop]);
            }
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeqNum;
    use proptest::prelude::*;

    fn emit(opts: &TcpOptions) -> Vec<u8> {
        let mut buf = [0xAA; 48];
        let n = opts.emit(&mut buf);
        assert_eq!(n, opts.buffer_len());
        assert!(buf[n..].iter().all(|&b| b == 0xAA), "wrote past buffer_len");
        buf[..n].to_vec()
    }

    /// What the summary was before its one-pass walk: a fold over
    /// [`TcpOptionIter`] (the reference the walk must agree with).
    fn parse_with_iterator(bytes: &[u8]) -> Result<TcpOptions, WireError> {
        use crate::wire::tcp::{TcpOption, TcpOptionIter};
        let mut opts = TcpOptions::default();
        for option in TcpOptionIter::new(bytes) {
            match option? {
                TcpOption::Unknown { kind: 19, data } if data.len() == 16 => opts.md5 = true,
                TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
                TcpOption::MaxSegmentSize(mss) => opts.mss = Some(mss),
                TcpOption::WindowScale(shift) => opts.window_scale = Some(shift),
                TcpOption::SackPermitted => opts.sack_permitted = true,
                TcpOption::Sack(blocks) => opts.sack_blocks = blocks,
                TcpOption::Timestamp { tsval, tsecr } => {
                    opts.timestamp = Some(TcpTimestamp { tsval, tsecr });
                }
                TcpOption::FastOpen(cookie) => opts.set_fast_open(false, cookie),
                TcpOption::FastOpenExp(cookie) => opts.set_fast_open(true, cookie),
            }
        }
        Ok(opts)
    }

    #[test]
    fn the_one_pass_walk_agrees_with_the_iterator_on_edge_cases() {
        let cases: &[&[u8]] = &[
            &[],
            &[0, 2, 4, 5, 180],
            &[1, 1, 1],
            &[2],
            &[2, 0],
            &[2, 1, 5],
            &[2, 5, 1, 2],
            &[
                2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7,
            ],
            &[5, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            &[5, 2],
            &[5, 9, 0, 0, 0, 1, 0, 0, 0],
            &[8, 8, 0, 0, 0, 1, 0, 0],
            &[34, 2],
            &[34, 3, 7],
            &[34, 6, 1, 2, 3, 4],
            &[254, 4, 0xF9, 0x89],
            &[254, 8, 0xF9, 0x89, 1, 2, 3, 4],
            &[254, 8, 0xF9, 0x88, 1, 2, 3, 4],
            &[254, 3, 0xF9],
            &[99, 2, 3, 4, 1, 1],
            &[4, 3, 0],
            &[3, 3, 14, 3, 3, 2],
        ];
        for bytes in cases {
            assert_eq!(
                TcpOptions::parse(bytes),
                parse_with_iterator(bytes),
                "{bytes:?}"
            );
        }
    }

    fn syn_everything() -> TcpOptions {
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some(TcpTimestamp {
                tsval: 0x01020304,
                tsecr: 0,
            }),
            ..TcpOptions::default()
        }
    }

    #[test]
    fn syn_with_everything_matches_linux() {
        // <mss 1460,sackOK,TS val 16909060 ecr 0,nop,wscale 7>
        assert_eq!(
            emit(&syn_everything()),
            [
                2, 4, 5, 180, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7
            ]
        );
    }

    #[test]
    fn syn_without_timestamps_matches_linux() {
        // <mss 1460,nop,nop,sackOK,nop,wscale 7>
        let opts = TcpOptions {
            timestamp: None,
            ..syn_everything()
        };
        assert_eq!(emit(&opts), [2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 7]);
    }

    #[test]
    fn signed_segments_put_the_signature_first_as_linux_does() {
        // Linux's signed SYN (`tcp_options_write`: MD5 first, no TS):
        // <nop,nop,md5,mss 1460,nop,nop,sackOK,nop,wscale 7>
        let opts = TcpOptions {
            timestamp: None,
            md5: true,
            ..syn_everything()
        };
        let mut syn = vec![1, 1, 19, 18];
        syn.extend_from_slice(&[0; 16]);
        syn.extend_from_slice(&[2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 7]);
        assert_eq!(emit(&opts), syn);
        assert_eq!(TcpOptions::parse(&syn).unwrap(), opts);
        // With timestamps and a SACK block: 20 + 12 leave no room for the
        // block (Linux's `tcp_established_options` sends none).
        let data = TcpOptions {
            timestamp: Some(TcpTimestamp { tsval: 5, tsecr: 6 }),
            sack_blocks: SackBlocks::from_slice(&[(SeqNum(100), SeqNum(200))]),
            md5: true,
            ..TcpOptions::default()
        };
        assert_eq!(emit(&data).len(), 32);
        assert!(data.as_emitted().sack_blocks.is_empty());
        assert_eq!(data.only_timestamp(), None);
        // A Fast Open cookie that does not fit beside it is not written.
        let synack = TcpOptions {
            fast_open: Some(FastOpenOption {
                experimental: false,
                cookie: FastOpenCookie::new(&[7; 8]).unwrap(),
            }),
            md5: true,
            ..syn_everything()
        };
        assert_eq!(emit(&synack).len(), 40);
        assert_eq!(synack.as_emitted().fast_open, None);
    }

    #[test]
    fn data_segment_with_timestamps_matches_linux() {
        // <nop,nop,TS val 5 ecr 6>
        let opts = TcpOptions {
            timestamp: Some(TcpTimestamp { tsval: 5, tsecr: 6 }),
            ..TcpOptions::default()
        };
        assert_eq!(emit(&opts), [1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6]);
    }

    #[test]
    fn sack_blocks_follow_timestamps_with_nop_nop() {
        // <nop,nop,TS val 5 ecr 6,nop,nop,sack 1 {100:200}>
        let opts = TcpOptions {
            timestamp: Some(TcpTimestamp { tsval: 5, tsecr: 6 }),
            sack_blocks: SackBlocks::from_slice(&[(SeqNum(100), SeqNum(200))]),
            ..TcpOptions::default()
        };
        assert_eq!(
            emit(&opts),
            [
                1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 1, 5, 10, 0, 0, 0, 100, 0, 0, 0, 200
            ]
        );
    }

    #[test]
    fn fast_open_layouts_match_linux() {
        let cookie = FastOpenCookie::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let with = |experimental, cookie| TcpOptions {
            mss: Some(1460),
            fast_open: Some(FastOpenOption {
                experimental,
                cookie,
            }),
            ..TcpOptions::default()
        };
        // Kind 34, 10 bytes = 2 mod 4: nop,nop after.
        assert_eq!(
            emit(&with(false, cookie)),
            [2, 4, 5, 180, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1]
        );
        // Kind 254, 12 bytes: no padding.
        assert_eq!(
            emit(&with(true, cookie)),
            [2, 4, 5, 180, 254, 12, 0xf9, 0x89, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        // Cookie requests.
        assert_eq!(
            emit(&with(false, FastOpenCookie::REQUEST)),
            [2, 4, 5, 180, 34, 2, 1, 1]
        );
        assert_eq!(
            emit(&with(true, FastOpenCookie::REQUEST)),
            [2, 4, 5, 180, 254, 4, 0xf9, 0x89]
        );
    }

    #[test]
    fn trailing_sack_blocks_are_dropped_to_fit_forty_bytes() {
        let blocks: Vec<_> = (0..4u32)
            .map(|i| (SeqNum(i * 10), SeqNum(i * 10 + 5)))
            .collect();
        let opts = TcpOptions {
            timestamp: Some(TcpTimestamp { tsval: 1, tsecr: 2 }),
            sack_blocks: SackBlocks::from_slice(&blocks),
            ..TcpOptions::default()
        };
        // 12 bytes of TS leave 28: three blocks (4 + 24).
        let bytes = emit(&opts);
        assert_eq!(bytes.len(), 40);
        let parsed = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(parsed.sack_blocks.as_slice(), &blocks[..3]);
        assert_eq!(parsed, opts.as_emitted());
        // Without timestamps all four fit.
        let opts = TcpOptions {
            timestamp: None,
            ..opts
        };
        assert_eq!(emit(&opts).len(), 36);
    }

    #[test]
    fn bad_fast_open_cookie_lengths_are_flagged_not_fatal() {
        for len in [1usize, 2, 3, 17, 20] {
            let mut bytes = vec![34, (2 + len) as u8];
            bytes.extend(std::iter::repeat_n(7, len));
            let opts = TcpOptions::parse(&bytes).unwrap();
            assert!(
                opts.fast_open.is_none() && opts.malformed_fast_open,
                "{len}"
            );
        }
        let opts = TcpOptions::parse(&[254, 6, 0xf9, 0x89, 1, 2]).unwrap();
        assert!(opts.fast_open.is_none() && opts.malformed_fast_open);
    }

    #[test]
    fn structurally_broken_bytes_fail_unknown_kinds_do_not() {
        assert_eq!(TcpOptions::parse(&[2, 0]), Err(WireError::Malformed));
        assert_eq!(TcpOptions::parse(&[2, 4, 5]), Err(WireError::Malformed));
        let opts = TcpOptions::parse(&[200, 3, 0, 2, 4, 5, 180]).unwrap();
        assert_eq!(opts.mss, Some(1460));
    }

    #[test]
    fn the_last_of_duplicate_options_wins() {
        let opts = TcpOptions::parse(&[2, 4, 0, 100, 2, 4, 0, 200]).unwrap();
        assert_eq!(opts.mss, Some(200));
    }

    fn arb_options() -> impl Strategy<Value = TcpOptions> {
        let cookie = prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 4..=16)
        ];
        let fast_open = proptest::option::of((any::<bool>(), cookie)).prop_map(|fo| {
            fo.map(|(experimental, c)| FastOpenOption {
                experimental,
                cookie: FastOpenCookie::new(&c).expect("strategy yields valid lengths"),
            })
        });
        let blocks = proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=4).prop_map(|v| {
            SackBlocks::from_slice(
                &v.iter()
                    .map(|&(l, r)| (SeqNum(l), SeqNum(r)))
                    .collect::<Vec<_>>(),
            )
        });
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            blocks,
            proptest::option::of((any::<u32>(), any::<u32>())),
            fast_open,
            any::<bool>(),
        )
            .prop_map(
                |(mss, ws, sp, sack_blocks, ts, fast_open, md5)| TcpOptions {
                    mss,
                    window_scale: ws,
                    sack_permitted: sp,
                    sack_blocks,
                    timestamp: ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
                    fast_open,
                    malformed_fast_open: false,
                    md5,
                },
            )
    }

    proptest! {
        #[test]
        fn summary_emit_then_parse_gives_the_same_summary(opts in arb_options()) {
            let bytes = emit(&opts);
            prop_assert!(bytes.len() <= MAX_OPTIONS_LEN && bytes.len().is_multiple_of(4));
            prop_assert_eq!(TcpOptions::parse(&bytes).unwrap(), opts.as_emitted());
            // Only SACK blocks are ever dropped, and a Fast Open option
            // beside a signature when they do not fit together.
            let emitted = opts.as_emitted();
            let fast_open = if opts.md5 { opts.fast_open } else { emitted.fast_open };
            prop_assert_eq!(
                TcpOptions { sack_blocks: opts.sack_blocks, fast_open, ..emitted },
                opts
            );
        }

        #[test]
        fn the_one_pass_walk_reads_what_the_option_iterator_yields(
            bytes in proptest::collection::vec(
                prop_oneof![
                    // Known kinds and plausible lengths most of the time, so
                    // whole options (and broken ones) appear, not just noise.
                    4 => proptest::sample::select(vec![0u8, 1, 2, 3, 4, 5, 8, 19, 34, 254, 99]),
                    3 => proptest::sample::select(vec![0u8, 1, 2, 3, 4, 6, 10, 12, 18, 34]),
                    2 => any::<u8>(),
                ],
                0..=40,
            )
        ) {
            prop_assert_eq!(TcpOptions::parse(&bytes), parse_with_iterator(&bytes));
        }

        /// `read`'s two fixed layouts give what the walk gives, for any
        /// values in them, and so do near misses of them (a changed kind or
        /// length byte, a missing or extra byte), which must fall through
        /// to the walk. Fails if a fast path drops, adds or misreads a field.
        #[test]
        fn the_fixed_layouts_read_as_the_walk_reads_them(
            mss in any::<u16>(),
            tsval in any::<u32>(),
            tsecr in any::<u32>(),
            shift in any::<u8>(),
            syn_layout in any::<bool>(),
            tweak in proptest::option::of((0usize..20, any::<u8>())),
            resize in prop_oneof![Just(0i8), Just(-1i8), Just(1i8)],
        ) {
            let [v0, v1, v2, v3] = tsval.to_be_bytes();
            let [e0, e1, e2, e3] = tsecr.to_be_bytes();
            let [m0, m1] = mss.to_be_bytes();
            let mut bytes = if syn_layout {
                vec![
                    2, 4, m0, m1, 4, 2, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3, 1, 3, 3, shift,
                ]
            } else {
                vec![1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3]
            };
            if let Some((at, byte)) = tweak {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            match resize {
                -1 => {
                    bytes.pop();
                }
                1 => bytes.push(1),
                _ => {}
            }
            let mut read = TcpOptions::default();
            let read = read.read(&bytes).map(|()| read);
            prop_assert_eq!(read, TcpOptions::parse_walked(&bytes));
            if syn_layout && tweak.is_none() && resize == 0 {
                let expected = TcpOptions {
                    mss: Some(mss),
                    window_scale: Some(shift),
                    sack_permitted: true,
                    timestamp: Some(TcpTimestamp { tsval, tsecr }),
                    ..TcpOptions::default()
                };
                prop_assert_eq!(read, Ok(expected));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_summary(
            bytes in proptest::collection::vec(any::<u8>(), 0..=40)
        ) {
            if let Ok(opts) = TcpOptions::parse(&bytes) {
                let again = TcpOptions::parse(&emit(&opts)).unwrap();
                prop_assert_eq!(again, opts.as_emitted());
            }
        }
    }
}
