//! Laying out outgoing segments.
//!
//! Read first: RFC 9293 §3.1 (header and checksum over the pseudo-header).
//!
//! A connection writes a segment straight into the buffer the stack hands it:
//! the header and options through [`TcpRepr`], then the payload copied from
//! the send ring buffer in (at most) two slices, the halves either side of
//! the ring's wrap, then the checksum over the whole segment. Nothing is
//! allocated and each payload byte is copied once.
//!
//! [`ControlSegment`] describes the data-less segments that need no
//! connection state to write: ACKs from a TIME-WAIT entry and RSTs in reply
//! to segments for no connection (RFC 9293 §3.10.7.1).

use core::net::SocketAddrV4;

use crate::SeqNum;
use crate::storage::copy;
use crate::wire::ipv4::IpProtocol;
use crate::wire::tcp::options::kind;
use crate::wire::tcp::{
    HEADER_LEN, MAX_HEADER_LEN, TcpFlags, TcpOptions, TcpPacket, TcpRepr, TcpTimestamp,
};
use crate::wire::{WireError, checksum};

/// The header fields of an outgoing segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub seq: SeqNum,
    /// `Some` sets the ACK flag.
    pub ack: Option<SeqNum>,
    /// Control bits other than ACK.
    pub flags: TcpFlags,
    /// The window field as sent (already scaled down).
    pub window: u16,
    pub options: TcpOptions,
}

/// Bytes of header and options of a segment whose only option is the
/// timestamp (`nop, nop, TS`, RFC 7323 Appendix A): nearly every segment of
/// an established connection.
pub const TIMESTAMP_ONLY_LEN: usize = HEADER_LEN + 12;

impl SegmentHeader {
    /// Bytes of header and options.
    pub fn header_len(&self) -> usize {
        crate::wire::tcp::HEADER_LEN + self.options.buffer_len()
    }
}

/// Writes a segment from `local` to `remote` into the front of `buf`: the
/// header, then `payload.0` and `payload.1` back to back, then the checksum.
/// Returns the segment's length, or [`WireError::Truncated`] (writing
/// nothing) if `buf` is too short: callers size payloads to fit.
pub fn write_segment(
    buf: &mut [u8],
    local: SocketAddrV4,
    remote: SocketAddrV4,
    header: &SegmentHeader,
    payload: (&[u8], &[u8]),
) -> Result<usize, WireError> {
    if let Some(ts) = header.options.only_timestamp() {
        let header = TimestampHeader {
            seq: header.seq,
            ack: header.ack,
            flags: header.flags,
            window: header.window,
            ts,
        };
        return write_timestamp_segment(buf, local, remote, &header, payload);
    }
    if let Some(words) = option_words(&header.options) {
        return write_option_word_segment(buf, local, remote, header, words, payload);
    }
    write_segment_with_options(buf, local, remote, header, payload)
}

/// The header fields of a segment whose only option is the timestamp
/// (`nop, nop, TS`): a [`SegmentHeader`] without the options summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampHeader {
    pub seq: SeqNum,
    /// `Some` sets the ACK flag.
    pub ack: Option<SeqNum>,
    /// Control bits other than ACK.
    pub flags: TcpFlags,
    /// The window field as sent (already scaled down).
    pub window: u16,
    pub ts: TcpTimestamp,
}

/// [`write_segment`] for a header whose only option is the timestamp: an
/// established connection's every segment (seven of a handshake's ten).
/// The header is built as eight 32-bit words, stored once each, and summed
/// from their values together with the pseudo-header (RFC 9293 §3.1) in one
/// 64-bit sum and one fold; a segment without payload has nothing more to
/// sum. Bytes and checksum are those of [`write_segment_with_options`]
/// (`timestamp_segment_matches_the_general_writer`). Always inline: its
/// one hot caller (`Core::emit`) would otherwise pay some 20 instructions a
/// segment to pass the addresses and header through memory.
#[inline(always)]
pub fn write_timestamp_segment(
    buf: &mut [u8],
    local: SocketAddrV4,
    remote: SocketAddrV4,
    header: &TimestampHeader,
    payload: (&[u8], &[u8]),
) -> Result<usize, WireError> {
    let total = TIMESTAMP_ONLY_LEN + payload.0.len() + payload.1.len();
    let Some(out) = buf.get_mut(..total) else {
        return Err(WireError::Truncated);
    };
    let h = timestamp_header_words(local, remote, header);
    // The header's eight words, then four for the pseudo-header.
    let mut words = [0u32; 12];
    words[..8].copy_from_slice(&h);
    seal_words(
        out,
        TIMESTAMP_ONLY_LEN,
        &mut words,
        8,
        (local, remote),
        payload,
    );
    Ok(total)
}

/// The tail of the word writers: `words` holds the header's first
/// `header_words` words and four free words after them, which get the
/// pseudo-header (RFC 9293 §3.1: source, destination, zero and protocol,
/// and the length as 32 bits, both halves summed, as `pseudo_header`).
/// Stores the header into `out` (the whole segment), copies and sums the
/// payload, and writes the checksum over all three in one sum.
#[inline(always)]
fn seal_words(
    out: &mut [u8],
    header_len: usize,
    words: &mut [u32],
    header_words: usize,
    (local, remote): (SocketAddrV4, SocketAddrV4),
    payload: (&[u8], &[u8]),
) {
    let total = out.len();
    words[header_words..header_words + 4].copy_from_slice(&[
        u32::from(*local.ip()),
        u32::from(*remote.ip()),
        u32::from(u8::from(IpProtocol::Tcp)),
        total as u32,
    ]);
    let (head, data) = out.split_at_mut(header_len);
    store_words(head, &words[..header_words]);
    let mut sum = checksum::words(words);
    if !data.is_empty() {
        // `data` starts at an even offset (a header is a multiple of 4).
        let [first, second] = checksum::copy_and_sum_pieces(data, payload);
        sum = checksum::combine(&[sum, first, second]);
    }
    head[16..18].copy_from_slice(&checksum::finish(sum).to_be_bytes());
}

/// The eight 32-bit words of a timestamp-only header (`nop, nop, TS`;
/// checksum and urgent pointer zero), as RFC 9293 §3.1 lays them out. Built
/// as values so the checksum is summed from them, not read back from bytes
/// just stored one or two at a time (which stalls).
#[inline]
fn timestamp_header_words(
    local: SocketAddrV4,
    remote: SocketAddrV4,
    header: &TimestampHeader,
) -> [u32; 8] {
    let flags = with_ack_flag(header.flags, header.ack.is_some());
    [
        u32::from(local.port()) << 16 | u32::from(remote.port()),
        header.seq.0,
        header.ack.map_or(0, |a| a.0),
        // Data offset 8 words, flags, window.
        (8 << 28) | u32::from(flags.bits()) << 16 | u32::from(header.window),
        // Checksum and urgent pointer.
        0,
        u32::from_be_bytes([kind::NOP, kind::NOP, kind::TIMESTAMP, 10]),
        header.ts.tsval,
        header.ts.tsecr,
    ]
}

/// Stores `words` big-endian at the front of `out`.
#[inline]
fn store_words(out: &mut [u8], words: &[u32]) {
    for (at, w) in out.chunks_exact_mut(4).zip(words) {
        at.copy_from_slice(&w.to_be_bytes());
    }
}

/// The flags as sent: ACK set iff there is an acknowledgment number.
#[inline]
fn with_ack_flag(mut flags: TcpFlags, ack: bool) -> TcpFlags {
    if ack {
        flags.insert(TcpFlags::ACK);
    } else {
        flags.remove(TcpFlags::ACK);
    }
    flags
}

/// [`write_segment`] for any header (a SYN's options, SACK blocks): the
/// header through [`write_header`], then the payload and the checksum.
#[inline(never)]
fn write_segment_with_options(
    buf: &mut [u8],
    local: SocketAddrV4,
    remote: SocketAddrV4,
    header: &SegmentHeader,
    payload: (&[u8], &[u8]),
) -> Result<usize, WireError> {
    let (out, head_sum) = write_header(buf, local, remote, header, payload)?;
    let total = out.len();
    let header_len = total - payload.0.len() - payload.1.len();
    // RFC 9293 §3.1: the checksum covers the pseudo-header, the header and
    // the data. The data is summed as it is copied (one pass, not two).
    let [first, second] = checksum::copy_and_sum_pieces(&mut out[header_len..], payload);
    let sum = checksum::combine(&[
        checksum::pseudo_header(*local.ip(), *remote.ip(), IpProtocol::Tcp, total as u32),
        head_sum,
        first,
        second,
    ]);
    TcpPacket::new_unchecked(&mut out[..]).set_checksum(checksum::finish(sum));
    Ok(total)
}

/// [`write_segment`] for checksum offload: the data is copied but not
/// summed, and the checksum field holds the pseudo-header sum (RFC 9293
/// §3.1) over the whole segment's length, not complemented: what a device
/// told `NEEDS_CSUM` (virtio 1.0 §5.1.6.2) finishes by summing from the TCP
/// header on. A super-segment (longer than the MSS) is written this way.
pub fn write_segment_partial(
    buf: &mut [u8],
    local: SocketAddrV4,
    remote: SocketAddrV4,
    header: &SegmentHeader,
    payload: (&[u8], &[u8]),
) -> Result<usize, WireError> {
    let (out, _) = write_header(buf, local, remote, header, payload)?;
    let total = out.len();
    let header_len = total - payload.0.len() - payload.1.len();
    let (first, second) = out[header_len..].split_at_mut(payload.0.len());
    // A super-segment's kilobytes in wide vectors (`storage::copy`), not
    // glibc's `rep movsb`.
    copy::copy(first, payload.0);
    copy::copy(second, payload.1);
    let pseudo = checksum::pseudo_header(*local.ip(), *remote.ip(), IpProtocol::Tcp, total as u32);
    TcpPacket::new_unchecked(&mut out[..]).set_checksum(pseudo);
    Ok(total)
}

/// The header alone (no payload, no checksum) at the front of `buf`; returns
/// the segment's bytes (`..header + payload`) and the sum of the header's
/// bytes (checksum field zero), or [`WireError::Truncated`], writing
/// nothing, if the segment does not fit.
///
/// The header is built from its fields (32-bit words for the timestamp-only
/// header, a stack array otherwise), stored once and summed from what was
/// built: the bytes are those [`TcpRepr::emit`] writes (RFC 9293 §3.1; ACK
/// set iff there is an acknowledgment number, urgent pointer zero).
fn write_header<'b>(
    buf: &'b mut [u8],
    local: SocketAddrV4,
    remote: SocketAddrV4,
    header: &SegmentHeader,
    payload: (&[u8], &[u8]),
) -> Result<(&'b mut [u8], u16), WireError> {
    let flags = with_ack_flag(header.flags, header.ack.is_some());
    if let Some(ts) = header.options.only_timestamp() {
        // An established connection's segment: the header as eight 32-bit
        // words, stored once each and summed from their values (reading
        // back bytes just stored one or two at a time stalls). Its length
        // is known without walking the options (`TIMESTAMP_ONLY_LEN`).
        let header_len = TIMESTAMP_ONLY_LEN;
        debug_assert_eq!(header_len, header.header_len());
        let total = header_len + payload.0.len() + payload.1.len();
        let Some(out) = buf.get_mut(..total) else {
            return Err(WireError::Truncated);
        };
        let words = timestamp_header_words(
            local,
            remote,
            &TimestampHeader {
                seq: header.seq,
                ack: header.ack,
                flags: header.flags,
                window: header.window,
                ts,
            },
        );
        store_words(out, &words);
        return Ok((out, checksum::words(&words)));
    }
    if let Some((options, n)) = option_words(&header.options) {
        // A SYN's or SYN-ACK's options (or none): words as well, in the
        // layout `TcpOptions::emit` writes (`option_words_match_emit`).
        let header_len = HEADER_LEN + 4 * n;
        let total = header_len + payload.0.len() + payload.1.len();
        let Some(out) = buf.get_mut(..total) else {
            return Err(WireError::Truncated);
        };
        let words = option_header_words(local, remote, header, &options, n);
        store_words(&mut out[..header_len], &words);
        // The words past the options are zero: summing all of them is
        // summing the header's.
        return Ok((out, checksum::words(&words)));
    }
    let header_len = header.header_len();
    let total = header_len + payload.0.len() + payload.1.len();
    let Some(out) = buf.get_mut(..total) else {
        return Err(WireError::Truncated);
    };
    let mut h = [0u8; MAX_HEADER_LEN];
    h[0..2].copy_from_slice(&local.port().to_be_bytes());
    h[2..4].copy_from_slice(&remote.port().to_be_bytes());
    h[4..8].copy_from_slice(&header.seq.0.to_be_bytes());
    h[8..12].copy_from_slice(&header.ack.map_or(0, |a| a.0).to_be_bytes());
    // header_len <= 60 by construction (options are capped at 40 bytes).
    h[12] = ((header_len / 4) as u8) << 4;
    h[13] = flags.bits();
    h[14..16].copy_from_slice(&header.window.to_be_bytes());
    // Checksum and urgent pointer stay zero.
    let written = header.options.emit(&mut h[HEADER_LEN..header_len]);
    debug_assert_eq!(HEADER_LEN + written, header_len);
    out[..header_len].copy_from_slice(&h[..header_len]);
    Ok((out, checksum::header(&h[..header_len])))
}

/// Most option words [`option_words`] makes: MSS, SACK-permitted with the
/// timestamp's kind, TSval, TSecr, window scale.
const MAX_OPTION_WORDS: usize = 5;

/// `options` as the 32-bit words [`TcpOptions::emit`] writes, and how many,
/// when they hold nothing but an MSS, SACK-permitted, a timestamp and a
/// window scale (a SYN's and SYN-ACK's usual set, or no options at all);
/// `None` for SACK blocks, Fast Open or a signature, which take the byte
/// writer. The
/// layout is Linux's (`wire::tcp::summary`'s docs): `MSS`, then
/// `sackOK, TS` (or `nop, nop, TS`, or `nop, nop, sackOK`), then
/// `nop, WS`.
#[inline]
fn option_words(options: &TcpOptions) -> Option<([u32; MAX_OPTION_WORDS], usize)> {
    if !options.sack_blocks.is_empty() || options.fast_open.is_some() || options.md5 {
        return None;
    }
    let mut words = [0u32; MAX_OPTION_WORDS];
    let mut n = 0;
    let mut put = |w: u32| {
        words[n] = w;
        n += 1;
    };
    if let Some(mss) = options.mss {
        put(u32::from_be_bytes([kind::MSS, 4, 0, 0]) | u32::from(mss));
    }
    if let Some(ts) = options.timestamp {
        put(if options.sack_permitted {
            u32::from_be_bytes([kind::SACK_PERMITTED, 2, kind::TIMESTAMP, 10])
        } else {
            u32::from_be_bytes([kind::NOP, kind::NOP, kind::TIMESTAMP, 10])
        });
        put(ts.tsval);
        put(ts.tsecr);
    } else if options.sack_permitted {
        put(u32::from_be_bytes([
            kind::NOP,
            kind::NOP,
            kind::SACK_PERMITTED,
            2,
        ]));
    }
    if let Some(shift) = options.window_scale {
        put(u32::from_be_bytes([
            kind::NOP,
            kind::WINDOW_SCALE,
            3,
            shift,
        ]));
    }
    Some((words, n))
}

/// The header's words with `n` option words from [`option_words`] (the
/// rest zero, checksum and urgent pointer zero), as RFC 9293 §3.1 lays
/// them out.
#[inline]
fn option_header_words(
    local: SocketAddrV4,
    remote: SocketAddrV4,
    header: &SegmentHeader,
    options: &[u32; MAX_OPTION_WORDS],
    n: usize,
) -> [u32; 5 + MAX_OPTION_WORDS] {
    let flags = with_ack_flag(header.flags, header.ack.is_some());
    let data_offset = (HEADER_LEN / 4 + n) as u32;
    let mut words = [0u32; 5 + MAX_OPTION_WORDS];
    words[0] = u32::from(local.port()) << 16 | u32::from(remote.port());
    words[1] = header.seq.0;
    words[2] = header.ack.map_or(0, |a| a.0);
    words[3] = data_offset << 28 | u32::from(flags.bits()) << 16 | u32::from(header.window);
    words[5..].copy_from_slice(options);
    words
}

/// [`write_segment`] for a header whose options [`option_words`] takes (a
/// SYN's, a SYN-ACK's, or none): as [`write_timestamp_segment`], the
/// header's words and the pseudo-header's four in one sum, no byte walk
/// over the options and no read-back (`write_segment_writes_what_tcp_repr_emits`
/// checks the bytes).
#[inline(never)]
fn write_option_word_segment(
    buf: &mut [u8],
    local: SocketAddrV4,
    remote: SocketAddrV4,
    header: &SegmentHeader,
    (options, n): ([u32; MAX_OPTION_WORDS], usize),
    payload: (&[u8], &[u8]),
) -> Result<usize, WireError> {
    let header_len = HEADER_LEN + 4 * n;
    let total = header_len + payload.0.len() + payload.1.len();
    let Some(out) = buf.get_mut(..total) else {
        return Err(WireError::Truncated);
    };
    let h = option_header_words(local, remote, header, &options, n);
    // The words past the options are zero and add nothing to the sum; the
    // header stored is only `header_len` long.
    let mut words = [0u32; 5 + MAX_OPTION_WORDS + 4];
    words[..h.len()].copy_from_slice(&h);
    seal_words(
        out,
        header_len,
        &mut words,
        h.len(),
        (local, remote),
        payload,
    );
    Ok(total)
}

/// A segment without data that a small state (a TIME-WAIT entry) or the
/// stack itself (a RST for no connection) sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlSegment {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub flags: TcpFlags,
    pub window: u16,
    pub timestamp: Option<TcpTimestamp>,
    /// The DSCP bits of its datagram's TOS byte: a TIME-WAIT entry's
    /// connection's IP_TOS (Linux `tw_tos`); 0 for a reset to no
    /// connection.
    pub dscp: u8,
    /// Written with the MD5 signature option's place (RFC 2385), for the
    /// stack to sign.
    pub md5: bool,
}

impl ControlSegment {
    /// RFC 9293 §3.10.7.1: the reset that answers `seg` (from `remote` to
    /// `local`) when no connection exists, or `None` if `seg` is itself a
    /// reset ("An incoming segment containing a RST is discarded").
    ///
    /// "If the ACK bit is off, sequence number zero is used,
    /// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. If the ACK bit is on,
    /// <SEQ=SEG.ACK><CTL=RST>."
    pub fn reset_for(local: SocketAddrV4, remote: SocketAddrV4, seg: &TcpRepr<'_>) -> Option<Self> {
        if seg.flags.rst() {
            return None;
        }
        let (seq, ack) = match seg.ack {
            Some(ack) => (ack, None),
            None => (SeqNum(0), Some(seg.seq + seg.seg_len())),
        };
        Some(ControlSegment {
            local,
            remote,
            seq,
            ack,
            flags: TcpFlags::RST,
            window: 0,
            timestamp: None,
            dscp: 0,
            md5: false,
        })
    }

    /// Writes it into the front of `buf`; see [`write_segment`].
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        // A TIME-WAIT entry's ACK (one a connection, the last segment of a
        // handshake) carries the timestamp alone: the word writer, without
        // an options summary to build and sort out first.
        if let Some(ts) = self.timestamp.filter(|_| !self.md5) {
            let header = TimestampHeader {
                seq: self.seq,
                ack: self.ack,
                flags: self.flags,
                window: self.window,
                ts,
            };
            return write_timestamp_segment(buf, self.local, self.remote, &header, (&[], &[]));
        }
        let header = SegmentHeader {
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            options: TcpOptions {
                timestamp: self.timestamp,
                md5: self.md5,
                ..TcpOptions::default()
            },
        };
        write_segment(buf, self.local, self.remote, &header, (&[], &[]))
    }
}

/// The longest header the pieces of a software GSO packet share
/// (`conn::gso`): an established connection's, with the timestamp option
/// at most.
pub const PIECE_HEADER_LEN: usize = TIMESTAMP_ONLY_LEN;

/// What every piece of a software GSO packet shares (`conn::gso`): the
/// first piece's header, and the sum of the header and pseudo-header
/// (RFC 9293 §3.1) without what differs per piece (the sequence number,
/// the control bits, the checksum, the length).
#[derive(Clone, Copy, Debug)]
pub struct PieceHeader {
    bytes: [u8; PIECE_HEADER_LEN],
    len: u8,
    sum: u16,
}

impl PieceHeader {
    pub const EMPTY: PieceHeader = PieceHeader {
        bytes: [0; PIECE_HEADER_LEN],
        len: 0,
        sum: 0,
    };

    /// The shared part of `header`, a segment's header from `local` to
    /// `remote`; `None` if it is longer than [`PIECE_HEADER_LEN`] or not a
    /// header.
    pub fn new(header: &[u8], (local, remote): (SocketAddrV4, SocketAddrV4)) -> Option<Self> {
        if header.len() < HEADER_LEN || header.len() > PIECE_HEADER_LEN {
            return None;
        }
        let mut bytes = [0; PIECE_HEADER_LEN];
        bytes[..header.len()].copy_from_slice(header);
        let mut shared = bytes;
        // Summed without what each piece sets: seq, flags, checksum.
        shared[4..8].fill(0);
        shared[13] = 0;
        shared[16..18].fill(0);
        let sum = checksum::combine(&[
            checksum::pseudo_header(*local.ip(), *remote.ip(), IpProtocol::Tcp, 0),
            checksum::header(&shared[..header.len()]),
        ]);
        Some(PieceHeader {
            bytes,
            len: header.len() as u8,
            sum,
        })
    }

    /// The control bits of the first piece.
    pub fn flags(&self) -> u8 {
        self.bytes[13]
    }

    /// Writes the piece at `seq` with control bits `flags` (ACK included,
    /// the header's byte 13) and `payload` into `buf`: the header, the
    /// payload, and the checksum over the pseudo-header, header and
    /// payload (RFC 9293 §3.1). Returns its length, or
    /// [`WireError::Truncated`] (writing nothing) if `buf` is too short.
    pub fn write(
        &self,
        buf: &mut [u8],
        seq: SeqNum,
        flags: u8,
        payload: (&[u8], &[u8]),
    ) -> Result<usize, WireError> {
        let header_len = usize::from(self.len);
        let total = header_len + payload.0.len() + payload.1.len();
        if buf.len() < total.max(PIECE_HEADER_LEN) {
            return Err(WireError::Truncated);
        }
        // The whole array, whatever the header's length: a fixed copy (the
        // payload overwrites what lies past a shorter header).
        buf[..PIECE_HEADER_LEN].copy_from_slice(&self.bytes);
        let (head, data) = buf[..total].split_at_mut(header_len);
        head[4..8].copy_from_slice(&seq.0.to_be_bytes());
        head[13] = flags;
        // The payload's two sums added with the header's and folded once
        // (RFC 1071 §2(C): partial sums add in any grouping).
        let [first_sum, second_sum] = checksum::copy_and_sum_pieces(data, payload);
        let sum = checksum::combine(&[
            self.sum,
            (seq.0 >> 16) as u16,
            seq.0 as u16,
            u16::from(flags),
            total as u16,
            first_sum,
            second_sum,
        ]);
        head[16..18].copy_from_slice(&checksum::finish(sum).to_be_bytes());
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Checksum;
    use core::net::Ipv4Addr;

    const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80);
    const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000);

    fn parse(bytes: &[u8]) -> TcpRepr<'_> {
        let p = TcpPacket::new_checked(bytes).unwrap();
        TcpRepr::parse(&p, *LOCAL.ip(), *REMOTE.ip(), Checksum::Full).unwrap()
    }

    #[test]
    fn payload_in_two_slices_is_joined_and_checksummed() {
        let header = SegmentHeader {
            seq: SeqNum(1000),
            ack: Some(SeqNum(7)),
            flags: TcpFlags::PSH,
            window: 512,
            options: TcpOptions {
                timestamp: Some(TcpTimestamp { tsval: 1, tsecr: 2 }),
                ..TcpOptions::default()
            },
        };
        let mut buf = [0xAA; 100];
        let n = write_segment(&mut buf, LOCAL, REMOTE, &header, (b"hel", b"lo")).unwrap();
        assert_eq!(n, 20 + 12 + 5);
        assert!(
            buf[n..].iter().all(|&b| b == 0xAA),
            "wrote past the segment"
        );
        let seg = parse(&buf[..n]);
        assert_eq!(seg.payload, b"hello");
        assert_eq!(seg.flags, TcpFlags::PSH | TcpFlags::ACK);
        assert_eq!(
            (seg.seq, seg.ack, seg.window),
            (SeqNum(1000), Some(SeqNum(7)), 512)
        );
        assert_eq!((seg.src_port, seg.dst_port), (80, 40000));
    }

    #[test]
    fn a_short_buffer_is_an_error_not_a_panic() {
        let header = SegmentHeader {
            seq: SeqNum(0),
            ack: None,
            flags: TcpFlags::SYN,
            window: 0,
            options: TcpOptions::default(),
        };
        let mut buf = [0u8; 22];
        assert_eq!(
            write_segment(&mut buf, LOCAL, REMOTE, &header, (b"abc", &[])),
            Err(WireError::Truncated)
        );
    }

    /// The options a proptest draws: a SYN's set, SACK blocks aside.
    fn syn_options(
        mss: Option<u16>,
        window_scale: Option<u8>,
        sack_permitted: bool,
        timestamp: Option<(u32, u32)>,
    ) -> TcpOptions {
        TcpOptions {
            mss,
            window_scale,
            sack_permitted,
            timestamp: timestamp.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
            ..TcpOptions::default()
        }
    }

    proptest::proptest! {
        /// The header written straight from the fields is byte for byte what
        /// `TcpRepr::emit` writes, checksum included, for any header, option
        /// set and payload split.
        #[test]
        fn write_segment_writes_what_tcp_repr_emits(
            seq: u32,
            ack: Option<u32>,
            flags: u8,
            window: u16,
            mss: Option<u16>,
            window_scale: Option<u8>,
            sack_permitted: bool,
            timestamp: Option<(u32, u32)>,
            blocks in proptest::collection::vec((0u32..u32::MAX, 0u32..u32::MAX), 0..4),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            split in 0usize..200,
        ) {
            let mut options = syn_options(mss, window_scale, sack_permitted, timestamp);
            for (l, r) in blocks {
                options.sack_blocks.push((SeqNum(l), SeqNum(r)));
            }
            let header = SegmentHeader {
                seq: SeqNum(seq),
                ack: ack.map(SeqNum),
                flags: TcpFlags(flags),
                window,
                options,
            };
            let split = split.min(payload.len());
            let mut ours = [0xAA; 300];
            let n = write_segment(
                &mut ours,
                LOCAL,
                REMOTE,
                &header,
                (&payload[..split], &payload[split..]),
            )
            .unwrap();
            let repr = TcpRepr {
                src_port: LOCAL.port(),
                dst_port: REMOTE.port(),
                seq: header.seq,
                ack: header.ack,
                flags: header.flags,
                window,
                urgent: 0,
                options,
                payload: &payload,
            };
            let mut theirs = [0x55; 300];
            let len = repr.buffer_len();
            repr.emit(
                &mut TcpPacket::new_unchecked(&mut theirs[..len]),
                *LOCAL.ip(),
                *REMOTE.ip(),
                Checksum::Full,
            );
            proptest::prop_assert_eq!(&ours[..n], &theirs[..len]);
            proptest::prop_assert!(ours[n..].iter().all(|&b| b == 0xAA));
        }
    }

    proptest::proptest! {
        /// A SYN's options as words (`option_words`) are the bytes and the
        /// length `TcpOptions::emit` writes, for every set it takes; SACK
        /// blocks and Fast Open are left to the byte writer. The header
        /// built from them is checked against `TcpRepr::emit` by
        /// `write_segment_writes_what_tcp_repr_emits` (and its header sum
        /// by the checksum there).
        #[test]
        fn option_words_match_emit(
            mss: Option<u16>,
            window_scale: Option<u8>,
            sack_permitted: bool,
            timestamp: Option<(u32, u32)>,
            sack_block: bool,
            seq: u32,
            ack: Option<u32>,
            flags: u8,
        ) {
            let mut options = syn_options(mss, window_scale, sack_permitted, timestamp);
            if sack_block {
                options.sack_blocks.push((SeqNum(1), SeqNum(2)));
                proptest::prop_assert!(option_words(&options).is_none());
                return Ok(());
            }
            let (words, n) = option_words(&options).unwrap();
            let mut ours = [0xAA; 4 * MAX_OPTION_WORDS];
            store_words(&mut ours[..4 * n], &words);
            let mut theirs = [0xAA; 4 * MAX_OPTION_WORDS];
            let len = options.emit(&mut theirs);
            proptest::prop_assert_eq!(4 * n, len);
            proptest::prop_assert_eq!(&ours[..], &theirs[..]);
            proptest::prop_assert!(words[n..].iter().all(|&w| w == 0));
            // The whole segment from words (`write_option_word_segment`,
            // one sum with the pseudo-header) against the byte writer, with
            // a payload in two pieces (the second at an odd offset); a
            // buffer one byte short writes nothing.
            let header = SegmentHeader {
                seq: SeqNum(seq),
                ack: ack.map(SeqNum),
                flags: TcpFlags(flags),
                window: 0xbeef,
                options,
            };
            let payload = ([1u8, 2, 3], [4u8, 5, 6, 7]);
            let pieces = (&payload.0[..], &payload.1[..]);
            let mut fast = [0xAA; 80];
            let m = write_option_word_segment(
                &mut fast,
                LOCAL,
                REMOTE,
                &header,
                (words, n),
                pieces,
            )
            .unwrap();
            let mut general = [0xAA; 80];
            let g = write_segment_with_options(&mut general, LOCAL, REMOTE, &header, pieces)
                .unwrap();
            proptest::prop_assert_eq!(m, g);
            proptest::prop_assert_eq!(&fast[..], &general[..]);
            let mut short = vec![0xAA; m - 1];
            proptest::prop_assert_eq!(
                write_segment(&mut short, LOCAL, REMOTE, &header, pieces),
                Err(WireError::Truncated)
            );
            proptest::prop_assert!(short.iter().all(|&b| b == 0xAA));
        }
    }

    proptest::proptest! {
        /// The timestamp-only writer (header and pseudo-header in one sum)
        /// writes the bytes and checksum the general writer writes, for any
        /// fields, addresses, payload and split (odd splits included), and
        /// the checksum verifies; a buffer one byte short writes nothing.
        #[test]
        fn timestamp_segment_matches_the_general_writer(
            seq: u32,
            ack: Option<u32>,
            flags: u8,
            window: u16,
            tsval: u32,
            tsecr: u32,
            local_ip: u32,
            remote_ip: u32,
            ports: (u16, u16),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            split in 0usize..200,
        ) {
            let local = SocketAddrV4::new(Ipv4Addr::from(local_ip), ports.0);
            let remote = SocketAddrV4::new(Ipv4Addr::from(remote_ip), ports.1);
            let header = SegmentHeader {
                seq: SeqNum(seq),
                ack: ack.map(SeqNum),
                flags: TcpFlags(flags),
                window,
                options: TcpOptions {
                    timestamp: Some(TcpTimestamp { tsval, tsecr }),
                    ..TcpOptions::default()
                },
            };
            let split = split.min(payload.len());
            let pieces = (&payload[..split], &payload[split..]);
            let mut fast = [0xAA; 300];
            let ts_header = TimestampHeader {
                seq: header.seq,
                ack: header.ack,
                flags: header.flags,
                window,
                ts: TcpTimestamp { tsval, tsecr },
            };
            let n = write_timestamp_segment(&mut fast, local, remote, &ts_header, pieces).unwrap();
            let mut general = [0xAA; 300];
            let m = write_segment_with_options(&mut general, local, remote, &header, pieces).unwrap();
            proptest::prop_assert_eq!(n, TIMESTAMP_ONLY_LEN + payload.len());
            proptest::prop_assert_eq!(m, n);
            proptest::prop_assert_eq!(&fast[..], &general[..]);
            let mut sum = checksum::data(&fast[..n]);
            sum = checksum::combine(&[
                sum,
                checksum::pseudo_header(*local.ip(), *remote.ip(), IpProtocol::Tcp, n as u32),
            ]);
            proptest::prop_assert!(checksum::is_valid(sum));
            let mut short = vec![0xAA; n - 1];
            proptest::prop_assert_eq!(
                write_segment(&mut short, local, remote, &header, pieces),
                Err(WireError::Truncated)
            );
            proptest::prop_assert!(short.iter().all(|&b| b == 0xAA));
        }
    }

    proptest::proptest! {
        /// A software GSO piece written from the first piece's header is
        /// byte for byte the segment written on its own with the piece's
        /// sequence number, control bits and payload, with or without the
        /// timestamp option.
        #[test]
        fn a_piece_is_the_segment_written_alone(
            seq: u32,
            first_seq: u32,
            ack: u32,
            flags: u8,
            first_flags: u8,
            window: u16,
            timestamp: Option<(u32, u32)>,
            local_ip: u32,
            remote_ip: u32,
            ports: (u16, u16),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            first_len in 0usize..200,
            split in 0usize..200,
        ) {
            let local = SocketAddrV4::new(Ipv4Addr::from(local_ip), ports.0);
            let remote = SocketAddrV4::new(Ipv4Addr::from(remote_ip), ports.1);
            let header = |seq, flags| SegmentHeader {
                seq: SeqNum(seq),
                ack: Some(SeqNum(ack)),
                flags: TcpFlags(flags),
                window,
                options: TcpOptions {
                    timestamp: timestamp.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
                    ..TcpOptions::default()
                },
            };
            // The first piece, with a payload of its own.
            let mut first = [0x55; 300];
            let filler = vec![0x33; first_len];
            let n = write_segment(&mut first, local, remote, &header(first_seq, first_flags), (&filler, &[]))
                .unwrap();
            let header_len = n - first_len;
            let shared = PieceHeader::new(&first[..header_len], (local, remote)).unwrap();
            let split = split.min(payload.len());
            let pieces = (&payload[..split], &payload[split..]);
            let mut alone = [0xAA; 300];
            let mut h = header(seq, flags);
            // As sent: the ACK bit set with the acknowledgment number.
            h.flags = with_ack_flag(h.flags, true);
            let m = write_segment(&mut alone, local, remote, &h, pieces).unwrap();
            let mut piece = [0xAA; 300];
            let written = shared.write(&mut piece, SeqNum(seq), h.flags.bits(), pieces).unwrap();
            proptest::prop_assert_eq!(written, m);
            proptest::prop_assert_eq!(&piece[..m], &alone[..m]);
            let mut short = [0xAA; 300];
            proptest::prop_assert_eq!(
                shared.write(&mut short[..m - 1], SeqNum(seq), h.flags.bits(), pieces),
                Err(WireError::Truncated)
            );
        }
    }

    fn incoming(flags: TcpFlags, seq: u32, ack: Option<u32>, payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            flags,
            window: 100,
            urgent: 0,
            options: TcpOptions::default(),
            payload,
        }
    }

    #[test]
    fn reset_for_no_connection_follows_rfc9293_3_10_7_1() {
        // ACK off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; SYN counts one.
        let syn = incoming(TcpFlags::SYN, 500, None, b"");
        let rst = ControlSegment::reset_for(LOCAL, REMOTE, &syn).unwrap();
        assert_eq!((rst.seq, rst.ack), (SeqNum(0), Some(SeqNum(501))));
        let data = incoming(TcpFlags::PSH, 500, None, b"abcd");
        let rst = ControlSegment::reset_for(LOCAL, REMOTE, &data).unwrap();
        assert_eq!(rst.ack, Some(SeqNum(504)));
        // ACK on: <SEQ=SEG.ACK><CTL=RST>.
        let ack = incoming(TcpFlags::ACK, 500, Some(9000), b"");
        let rst = ControlSegment::reset_for(LOCAL, REMOTE, &ack).unwrap();
        assert_eq!(
            (rst.seq, rst.ack, rst.flags),
            (SeqNum(9000), None, TcpFlags::RST)
        );
        let mut buf = [0xAA; 40];
        let n = rst.write(&mut buf).unwrap();
        let seg = parse(&buf[..n]);
        assert_eq!(seg.flags, TcpFlags::RST);
        assert_eq!((seg.seq, seg.window), (SeqNum(9000), 0));
        // Never a reset for a reset.
        let r = incoming(TcpFlags::RST, 1, None, b"");
        assert_eq!(ControlSegment::reset_for(LOCAL, REMOTE, &r), None);
    }

    proptest::proptest! {
        /// A control segment (a TIME-WAIT entry's ACK, a RST for no
        /// connection) writes what the general writer writes for its fields
        /// and timestamp, with or without one (the timestamp alone goes
        /// through the word writer), and nothing past its end; a buffer one
        /// byte short writes nothing.
        #[test]
        fn a_control_segment_writes_what_the_general_writer_writes(
            seq: u32,
            ack: Option<u32>,
            flags: u8,
            window: u16,
            timestamp: Option<(u32, u32)>,
            ports: (u16, u16),
        ) {
            let local = SocketAddrV4::new(*LOCAL.ip(), ports.0);
            let remote = SocketAddrV4::new(*REMOTE.ip(), ports.1);
            let control = ControlSegment {
                local,
                remote,
                seq: SeqNum(seq),
                ack: ack.map(SeqNum),
                flags: TcpFlags(flags),
                window,
                timestamp: timestamp.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
                dscp: 0,
                md5: false,
            };
            let header = SegmentHeader {
                seq: control.seq,
                ack: control.ack,
                flags: control.flags,
                window,
                options: TcpOptions {
                    timestamp: control.timestamp,
                    ..TcpOptions::default()
                },
            };
            let mut ours = [0xAA; 80];
            let n = control.write(&mut ours).unwrap();
            let mut general = [0xAA; 80];
            let m = write_segment_with_options(&mut general, local, remote, &header, (&[], &[]))
                .unwrap();
            proptest::prop_assert_eq!(n, m);
            proptest::prop_assert_eq!(&ours[..], &general[..]);
            let mut short = vec![0xAA; n - 1];
            proptest::prop_assert_eq!(control.write(&mut short), Err(WireError::Truncated));
            proptest::prop_assert!(short.iter().all(|&b| b == 0xAA));
        }
    }
}
