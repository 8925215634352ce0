//! [`TcpRepr`]: a validated TCP segment, parsed from or emitted into a
//! [`TcpPacket`].
//!
//! Read before touching: RFC 9293 §3.1 (header, checksum over the
//! pseudo-header), §3.4 (SEG.LEN counts SYN and FIN), §3.10.7 (what the
//! engine does with each segment; none of it is here).

use core::net::Ipv4Addr;

use super::flags::TcpFlags;
use super::options::TcpOption;
use super::packet::TcpPacket;
use super::summary::TcpOptions;
use super::{HEADER_LEN, MAX_HEADER_LEN};
use crate::SeqNum;
use crate::wire::{Checksum, WireError};

/// A validated TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    /// `Some` iff the ACK flag is set. On emit this alone decides the ACK
    /// flag; the ACK bit in `flags` is ignored.
    pub ack: Option<SeqNum>,
    /// The control bits as on the wire (ACK included when parsed).
    pub flags: TcpFlags,
    /// The raw window field; scaling is the engine's (RFC 7323 §2.3).
    pub window: u16,
    /// The urgent pointer, meaningful with URG.
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Validates a segment whose view spans exactly the segment (the IP
    /// payload): header length (via `check_len`), checksum under
    /// [`Checksum::Full`] (RFC 9293 §3.1, MUST-2/3), and structurally sound
    /// options. Reserved bits are ignored (RFC 9293 §3.1).
    ///
    /// Always inlined: the value is over 100 bytes, and out of line it was
    /// built on the stack and copied into the `Result`, then again into the
    /// caller's tuple, for every segment (about 48 instructions a segment
    /// in the handshake benchmark); inlined, it is built where it is used.
    #[inline(always)]
    pub fn parse(
        packet: &TcpPacket<&'a [u8]>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) -> Result<Self, WireError> {
        let mut repr = TcpRepr::EMPTY;
        repr.read(packet, src, dst, checksum)?;
        Ok(repr)
    }

    /// A segment with every field zero or empty: what [`TcpRepr::read`]
    /// starts from.
    pub const EMPTY: TcpRepr<'static> = TcpRepr {
        src_port: 0,
        dst_port: 0,
        seq: SeqNum(0),
        ack: None,
        flags: TcpFlags(0),
        window: 0,
        urgent: 0,
        options: TcpOptions::EMPTY,
        payload: &[],
    };

    /// The same segment with `payload` as its text: every other field
    /// copied, so the result borrows nothing of `self` (a driver's frame
    /// can be handed on once its header is read).
    pub fn with_payload<'b>(&self, payload: &'b [u8]) -> TcpRepr<'b> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload,
        }
    }

    /// [`TcpRepr::parse`] into `self`, which must be [`TcpRepr::EMPTY`]:
    /// a caller that keeps the segment in a variable of its own (the
    /// stack's ingress, for every segment) has it built there, not in a
    /// `Result` it is then copied out of (about 16 instructions a segment;
    /// most of its hundred bytes are the options). On an error `self`
    /// holds some fields and must not be used.
    #[inline(always)]
    pub fn read(
        &mut self,
        packet: &TcpPacket<&'a [u8]>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) -> Result<(), WireError> {
        debug_assert_eq!(*self, TcpRepr::EMPTY);
        packet.check_len()?;
        if checksum.is_full() && !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let flags = packet.flags();
        let bytes: &'a [u8] = packet.clone().into_inner();
        self.src_port = packet.src_port();
        self.dst_port = packet.dst_port();
        self.seq = packet.seq_number();
        self.ack = flags.ack().then(|| packet.ack_number());
        self.flags = flags;
        self.window = packet.window_len();
        self.urgent = packet.urgent_at();
        self.payload = &bytes[usize::from(packet.header_len())..];
        // Read in place (the options are most of the value's size).
        self.options.read(packet.options())
    }

    /// Header plus options, as `emit` writes them.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.buffer_len()
    }

    /// The whole segment as `emit` writes it.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// SEG.LEN (RFC 9293 §3.4): data plus one for SYN and one for FIN.
    pub fn seg_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// The flags `emit` writes: ACK set iff `ack` is `Some`.
    pub fn wire_flags(&self) -> TcpFlags {
        let mut flags = self.flags;
        if self.ack.is_some() {
            flags.insert(TcpFlags::ACK);
        } else {
            flags.remove(TcpFlags::ACK);
        }
        flags
    }

    /// Writes the segment, options in Linux's layout, into a view whose
    /// buffer is exactly `buffer_len()` bytes long (the checksum covers the
    /// whole buffer). With [`Checksum::Offload`] the checksum field is zero.
    ///
    /// # Panics
    /// When the buffer is shorter than `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) {
        let header_len = self.header_len();
        self.emit_fixed(packet, header_len);
        let written = self.options.emit(packet.options_mut());
        debug_assert_eq!(HEADER_LEN + written, header_len);
        self.finish(packet, src, dst, checksum);
    }

    /// Header length for an explicit option list, padded to 4 bytes.
    pub fn header_len_with(options: &[TcpOption<'_>]) -> usize {
        let raw: usize = options.iter().map(TcpOption::buffer_len).sum();
        HEADER_LEN + raw.next_multiple_of(4)
    }

    /// Like [`TcpRepr::emit`], but with `options` written in the caller's
    /// order instead of `self.options` (for test tools such as the
    /// packetdrill runner), padded with zero (EOL) bytes to a multiple of 4.
    /// The buffer must be exactly `header_len_with(options) + payload.len()`.
    ///
    /// # Panics
    /// When the options take more than 40 bytes, or the buffer is short.
    pub fn emit_with_options<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        options: &[TcpOption<'_>],
        checksum: Checksum,
    ) {
        let header_len = Self::header_len_with(options);
        assert!(header_len <= MAX_HEADER_LEN, "TCP options exceed 40 bytes");
        self.emit_fixed(packet, header_len);
        let area = packet.options_mut();
        let mut at = 0;
        for option in options {
            at += option.emit(&mut area[at..]);
        }
        area[at..].fill(0);
        self.finish(packet, src, dst, checksum);
    }

    fn emit_fixed<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        header_len: usize,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack.unwrap_or(SeqNum(0)));
        // header_len <= 60 by construction (options are capped at 40 bytes).
        packet.set_header_len(header_len as u8);
        packet.set_flags(self.wire_flags());
        packet.set_window_len(self.window);
        packet.set_checksum(0);
        packet.set_urgent_at(self.urgent);
    }

    fn finish<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) {
        packet.payload_mut()[..self.payload.len()].copy_from_slice(self.payload);
        if checksum.is_full() {
            packet.fill_checksum(src, dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::junk;
    use crate::wire::{TcpTimestamp, WireError};
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// A Linux SYN: 192.0.2.1:46604 > 192.0.2.2:8080 Flags [S], seq
    /// 3168538045, win 64240, options [mss 1460,sackOK,TS val 2087423245 ecr
    /// 0,nop,wscale 7]; checksum 0x1f5c computed independently of this crate.
    const SYN: [u8; 40] = [
        0xb6, 0x0c, 0x1f, 0x90, 0xbc, 0xdc, 0x0d, 0xbd, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x1f, 0x5c, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x7c, 0x6b,
        0x8d, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    fn syn_bytes() -> [u8; 40] {
        SYN
    }

    fn syn() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 46604,
            dst_port: 8080,
            seq: SeqNum(3168538045),
            ack: None,
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamp: Some(TcpTimestamp {
                    tsval: 2087423245,
                    tsecr: 0,
                }),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }

    fn emit(repr: &TcpRepr<'_>, checksum: Checksum) -> Vec<u8> {
        let mut buf = junk(repr.buffer_len());
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            checksum,
        );
        buf
    }

    #[test]
    fn parses_literal_linux_syn() {
        let bytes = syn_bytes();
        let p = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, SRC, DST, Checksum::Full).unwrap(), syn());
        assert_eq!(syn().seg_len(), 1);
    }

    #[test]
    fn every_truncation_of_a_syn_is_rejected() {
        for len in 0..SYN.len() {
            let err = TcpPacket::new_checked(&SYN[..len])
                .and_then(|p| TcpRepr::parse(&p, SRC, DST, Checksum::Full).map(drop));
            assert_eq!(err, Err(WireError::Truncated), "len {len}");
        }
    }

    #[test]
    fn emits_literal_linux_syn_over_junk() {
        assert_eq!(emit(&syn(), Checksum::Full), syn_bytes());
    }

    #[test]
    fn data_segment_round_trips_with_ack_and_payload() {
        let repr = TcpRepr {
            seq: SeqNum(1),
            ack: Some(SeqNum(0xFFFF_FFF0)),
            flags: TcpFlags::PSH | TcpFlags::ACK | TcpFlags::FIN,
            window: 502,
            options: TcpOptions {
                timestamp: Some(TcpTimestamp { tsval: 7, tsecr: 9 }),
                ..TcpOptions::default()
            },
            payload: b"hello",
            ..syn()
        };
        let bytes = emit(&repr, Checksum::Full);
        assert_eq!(bytes.len(), 20 + 12 + 5);
        assert_eq!(bytes[12], 8 << 4);
        assert_eq!(&bytes[20..24], &[1, 1, 8, 10]);
        let p = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, SRC, DST, Checksum::Full).unwrap(), repr);
        assert_eq!(repr.seg_len(), 6);
    }

    #[test]
    fn ack_field_decides_the_ack_flag_on_emit() {
        let repr = TcpRepr {
            flags: TcpFlags::SYN | TcpFlags::ACK,
            ack: None,
            ..syn()
        };
        let bytes = emit(&repr, Checksum::Full);
        assert_eq!(bytes[13], TcpFlags::SYN.bits());
        assert_eq!(&bytes[8..12], &[0; 4], "no ACK: the ack field is zero");
        let repr = TcpRepr {
            flags: TcpFlags::SYN,
            ack: Some(SeqNum(5)),
            ..syn()
        };
        assert_eq!(
            emit(&repr, Checksum::Full)[13],
            (TcpFlags::SYN | TcpFlags::ACK).bits()
        );
    }

    #[test]
    fn ack_number_without_ack_flag_is_ignored_on_parse() {
        let mut bytes = SYN;
        bytes[8..12].copy_from_slice(&[1, 2, 3, 4]);
        let p = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, Checksum::Offload).unwrap().ack,
            None
        );
    }

    #[test]
    fn bad_checksum_and_broken_options_are_errors() {
        let mut bytes = syn_bytes();
        bytes[4] ^= 0x80;
        let p = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, Checksum::Full),
            Err(WireError::BadChecksum)
        );
        assert!(TcpRepr::parse(&p, SRC, DST, Checksum::Offload).is_ok());
        // The pseudo-header is covered: a different source fails.
        let bytes = syn_bytes();
        let p = TcpPacket::new_checked(&bytes[..]).unwrap();
        let other = Ipv4Addr::new(192, 0, 2, 9);
        assert_eq!(
            TcpRepr::parse(&p, other, DST, Checksum::Full),
            Err(WireError::BadChecksum)
        );
        // MSS with length 0.
        let mut bytes = SYN;
        bytes[21] = 0;
        let p = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, Checksum::Offload),
            Err(WireError::Malformed)
        );
    }

    #[test]
    fn offload_emit_leaves_checksum_zero() {
        let bytes = emit(&syn(), Checksum::Offload);
        assert_eq!(&bytes[16..18], &[0, 0]);
    }

    #[test]
    fn emit_with_options_keeps_the_callers_order_and_pads_with_zero() {
        let opts = [
            TcpOption::WindowScale(7),
            TcpOption::MaxSegmentSize(1460),
            TcpOption::SackPermitted,
        ];
        let repr = syn();
        let len = TcpRepr::header_len_with(&opts);
        assert_eq!(len, 32);
        let mut buf = junk(len);
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        repr.emit_with_options(&mut p, SRC, DST, &opts, Checksum::Full);
        assert_eq!(&buf[20..], &[3, 3, 7, 2, 4, 5, 180, 4, 2, 0, 0, 0]);
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        let parsed = TcpRepr::parse(&p, SRC, DST, Checksum::Full).unwrap();
        assert_eq!(parsed.options.mss, Some(1460));
        assert_eq!(parsed.options.timestamp, None);
    }

    /// The constants `read` starts from are the defaults: an empty summary.
    #[test]
    fn the_empty_segment_has_default_options() {
        assert_eq!(TcpOptions::EMPTY, TcpOptions::default());
        assert_eq!(TcpRepr::EMPTY.options, TcpOptions::default());
        assert!(TcpRepr::EMPTY.payload.is_empty());
    }

    proptest! {
        /// `TcpRepr::parse` on an unchecked packet (the stack's ingress,
        /// which no longer calls `new_checked` first) answers what the two
        /// steps answer: the same error for every short buffer and data
        /// offset, the same segment otherwise.
        #[test]
        fn parse_unchecked_matches_checking_first(
            bytes in proptest::collection::vec(any::<u8>(), 0..70),
            offset in 0u8..16,
            full in any::<bool>(),
        ) {
            let mut bytes = bytes;
            if let Some(b) = bytes.get_mut(12) {
                *b = offset << 4;
            }
            let checksum = if full { Checksum::Full } else { Checksum::Offload };
            let once = TcpRepr::parse(&TcpPacket::new_unchecked(&bytes[..]), SRC, DST, checksum);
            let twice = TcpPacket::new_checked(&bytes[..])
                .and_then(|p| TcpRepr::parse(&p, SRC, DST, checksum));
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn arbitrary_segments_never_panic_and_round_trip(
            bytes in proptest::collection::vec(any::<u8>(), 0..120)
        ) {
            let Ok(p) = TcpPacket::new_checked(&bytes[..]) else { return Ok(()) };
            let Ok(repr) = TcpRepr::parse(&p, SRC, DST, Checksum::Offload) else { return Ok(()) };
            let out = emit(&repr, Checksum::Full);
            let q = TcpPacket::new_checked(&out[..]).unwrap();
            let again = TcpRepr::parse(&q, SRC, DST, Checksum::Full).unwrap();
            let expected = TcpRepr { options: repr.options.as_emitted(), ..repr };
            prop_assert_eq!(again, expected);
        }
    }
}
