//! The zero-copy TCP header view (RFC 9293 §3.1).
//!
//! The view's buffer is exactly one segment (header, options, data): the IP
//! layer bounds it by the datagram's total length. Its length is the "TCP
//! length" of the pseudo-header.

use core::net::Ipv4Addr;

use super::flags::TcpFlags;
use super::{HEADER_LEN, MAX_HEADER_LEN};
use crate::SeqNum;
use crate::wire::checksum;
use crate::wire::ipv4::IpProtocol;
use crate::wire::{WireError, check_declared_len, get_u16, get_u32, put_u16, put_u32};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// A zero-copy view of a TCP segment.
///
/// `new_checked` guarantees the 20-byte header is present and the data
/// offset is at least 5 and within the buffer, so `options()` and
/// `payload()` never panic.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        // RFC 9293 §3.1: the data offset counts 32-bit words, at least 5.
        check_declared_len(usize::from(self.header_len()), HEADER_LEN, len)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole segment.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    pub fn seq_number(&self) -> SeqNum {
        SeqNum(get_u32(self.buffer.as_ref(), field::SEQ))
    }

    /// The acknowledgment field, meaningful only when ACK is set.
    pub fn ack_number(&self) -> SeqNum {
        SeqNum(get_u32(self.buffer.as_ref(), field::ACK))
    }

    /// Header length in bytes (data offset * 4), 0..=60.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The four bits after the data offset (reserved; RFC 9768's AE is the
    /// lowest of them). Must be zero on send, ignored on receive.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::DATA_OFFSET] & 0x0F
    }

    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    /// The raw (unscaled) window field.
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// Raw option bytes (data offset * 4 - 20 of them), padding included.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The data after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..]
    }

    /// Data length plus SYN and FIN, which each occupy one sequence number
    /// (RFC 9293 §3.4).
    pub fn segment_len(&self) -> usize {
        let f = self.flags();
        self.payload().len() + usize::from(f.syn()) + usize::from(f.fin())
    }

    /// Verifies the checksum over the pseudo-header and the whole segment.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let b = self.buffer.as_ref();
        let sum = checksum::with_pseudo_header(src, dst, IpProtocol::Tcp, b.len() as u32, b);
        checksum::is_valid(sum)
    }

    /// [`TcpPacket::verify_checksum`] for a caller that summed the payload
    /// itself (while copying it somewhere, [`checksum::copy_and_sum`]):
    /// `payload_sum` is [`checksum::data`] of [`TcpPacket::payload`]. Only
    /// the pseudo-header and the header are read here. The payload starts
    /// at an even offset (the header is a multiple of 4 bytes), so the sums
    /// combine without a swap (RFC 1071 §2(C)).
    pub fn verify_checksum_with(&self, src: Ipv4Addr, dst: Ipv4Addr, payload_sum: u16) -> bool {
        let b = self.buffer.as_ref();
        let header = &b[..usize::from(self.header_len()).min(b.len())];
        let sum = checksum::combine(&[
            checksum::with_pseudo_header(src, dst, IpProtocol::Tcp, b.len() as u32, header),
            payload_sum,
        ]);
        checksum::is_valid(sum)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    pub fn set_seq_number(&mut self, v: SeqNum) {
        put_u32(self.buffer.as_mut(), field::SEQ, v.0);
    }

    pub fn set_ack_number(&mut self, v: SeqNum) {
        put_u32(self.buffer.as_mut(), field::ACK, v.0);
    }

    /// Sets the data offset from a header length in bytes (a multiple of 4,
    /// at most 60) and clears the reserved bits.
    pub fn set_header_len(&mut self, len: u8) {
        debug_assert!(len.is_multiple_of(4) && usize::from(len) <= MAX_HEADER_LEN);
        self.buffer.as_mut()[field::DATA_OFFSET] = (len / 4) << 4;
    }

    pub fn set_flags(&mut self, f: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = f.0;
    }

    pub fn set_window_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::WINDOW, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_urgent_at(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::URGENT, v);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes the checksum over the pseudo-header and the whole buffer.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let sum = checksum::combine(&[
            checksum::pseudo_header(src, dst, IpProtocol::Tcp, b.len() as u32),
            checksum::data(b),
        ]);
        self.set_checksum(checksum::finish(sum));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare ACK: 192.0.2.1:40000 -> 192.0.2.2:80, seq 1000, ack 2000,
    /// window 502, then 3 data bytes.
    const SEGMENT: [u8; 23] = [
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x07, 0xd0, 0x50, 0x18, 0x01,
        0xf6, 0x00, 0x00, 0x00, 0x00, b'a', b'b', b'c',
    ];

    #[test]
    fn reads_every_header_field() {
        let p = TcpPacket::new_checked(&SEGMENT[..]).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), SeqNum(1000));
        assert_eq!(p.ack_number(), SeqNum(2000));
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.flags(), TcpFlags::PSH | TcpFlags::ACK);
        assert_eq!(p.window_len(), 502);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(p.options(), &[] as &[u8]);
        assert_eq!(p.payload(), b"abc");
        assert_eq!(p.segment_len(), 3);
    }

    #[test]
    fn verify_with_a_payload_sum_agrees_with_verifying_the_whole_segment() {
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let mut seg = SEGMENT;
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(src, dst);
        let p = TcpPacket::new_checked(&seg[..]).unwrap();
        assert!(p.verify_checksum(src, dst));
        assert!(p.verify_checksum_with(src, dst, checksum::data(b"abc")));
        // The payload as it would be if one bit had flipped in transit.
        assert!(!p.verify_checksum_with(src, dst, checksum::data(b"abb")));
        // A header bit flipped: the header is still read here.
        seg[4] ^= 0x01;
        let p = TcpPacket::new_checked(&seg[..]).unwrap();
        assert!(!p.verify_checksum_with(src, dst, checksum::data(b"abc")));
    }

    #[test]
    fn data_offset_below_five_is_malformed() {
        for off in 0..5u8 {
            let mut s = SEGMENT;
            s[12] = off << 4;
            assert_eq!(
                TcpPacket::new_checked(&s[..]).unwrap_err(),
                WireError::Malformed
            );
        }
    }

    #[test]
    fn data_offset_beyond_buffer_is_truncated() {
        let mut s = SEGMENT;
        s[12] = 6 << 4; // 24-byte header in 23 bytes
        assert_eq!(
            TcpPacket::new_checked(&s[..]).unwrap_err(),
            WireError::Truncated
        );
        s[12] = 0xF0;
        assert_eq!(
            TcpPacket::new_checked(&s[..]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn every_truncation_of_the_header_is_rejected() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                TcpPacket::new_checked(&SEGMENT[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
    }

    #[test]
    fn reserved_bits_are_exposed_and_cleared_by_set_header_len() {
        let mut s = SEGMENT;
        s[12] |= 0x0F;
        let mut p = TcpPacket::new_checked(&mut s[..]).unwrap();
        assert_eq!(p.reserved(), 0x0F);
        p.set_header_len(20);
        assert_eq!(p.reserved(), 0);
    }

    #[test]
    fn checksum_fill_then_verify_and_detect_corruption() {
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let mut s = SEGMENT;
        TcpPacket::new_unchecked(&mut s[..]).fill_checksum(src, dst);
        assert!(
            TcpPacket::new_checked(&s[..])
                .unwrap()
                .verify_checksum(src, dst)
        );
        s[22] ^= 1;
        assert!(
            !TcpPacket::new_checked(&s[..])
                .unwrap()
                .verify_checksum(src, dst)
        );
    }
}
