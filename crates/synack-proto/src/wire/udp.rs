//! UDP datagrams.
//!
//! Read before touching: RFC 768 (format, pseudo-header, "an all zero
//! transmitted checksum value means that the transmitter generated no
//! checksum", and a computed zero is sent as all ones), RFC 1122 §4.1.3.4
//! (a host MUST discard a datagram whose non-zero checksum fails).

use core::net::Ipv4Addr;

use super::checksum::{self, Checksum};
use super::ipv4::IpProtocol;
use super::{WireError, check_declared_len, get_u16, put_u16};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

pub const HEADER_LEN: usize = 8;

/// A zero-copy view of a UDP datagram. `new_checked` guarantees the header
/// is present and the length field covers it and fits the buffer.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
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
        // RFC 768: "the minimum value of the length is eight".
        check_declared_len(usize::from(self.len()), HEADER_LEN, len)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header plus data.
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the datagram carries no data (the length field says 8).
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The data, bounded by the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Verifies the checksum over the pseudo-header and the datagram as the
    /// length field bounds it. A zero checksum means "none" (RFC 768) and
    /// passes.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let sum = checksum::combine(&[
            checksum::pseudo_header(src, dst, IpProtocol::Udp, u32::from(len)),
            checksum::data(&self.buffer.as_ref()[..usize::from(len)]),
        ]);
        checksum::is_valid(sum)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    pub fn set_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes the checksum over the datagram as the length field bounds it.
    /// RFC 768: a computed zero is transmitted as all ones, since zero means
    /// "no checksum".
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.len();
        let sum = checksum::combine(&[
            checksum::pseudo_header(src, dst, IpProtocol::Udp, u32::from(len)),
            checksum::data(&self.buffer.as_ref()[..usize::from(len)]),
        ]);
        let ck = match checksum::finish(sum) {
            0 => 0xFFFF,
            ck => ck,
        };
        self.set_checksum(ck);
    }
}

/// A validated UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Parses a datagram; with [`Checksum::Full`] a non-zero checksum must
    /// verify. Port 0 is not rejected here: the UDP layer decides.
    pub fn parse(
        packet: &UdpPacket<&'a [u8]>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) -> Result<Self, WireError> {
        packet.check_len()?;
        if checksum.is_full() && !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let buf: &'a [u8] = packet.buffer;
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: &buf[HEADER_LEN..usize::from(packet.len())],
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes the datagram into a buffer of at least `buffer_len()` bytes
    /// (at most 65535). With [`Checksum::Offload`] the checksum is left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: Checksum,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(u16::try_from(self.buffer_len()).unwrap_or(u16::MAX));
        packet.set_checksum(0);
        packet.payload_mut().copy_from_slice(self.payload);
        if checksum.is_full() {
            packet.fill_checksum(src, dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::junk;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// 192.0.2.1:40000 -> 192.0.2.2:53, payload "ping", plus one padding byte.
    const DATAGRAM: [u8; 13] = [
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, b'p', b'i', b'n', b'g', 0x00,
    ];

    fn datagram() -> [u8; 13] {
        let mut d = DATAGRAM;
        let ck = reference_checksum(&d[..12]);
        d[6..8].copy_from_slice(&ck.to_be_bytes());
        d
    }

    /// Checksum by summing an explicit pseudo-header, as RFC 768 draws it.
    fn reference_checksum(udp: &[u8]) -> u16 {
        let mut bytes = vec![192, 0, 2, 1, 192, 0, 2, 2, 0, 17];
        bytes.extend_from_slice(&(udp.len() as u16).to_be_bytes());
        bytes.extend_from_slice(udp);
        !checksum::reference::data(&bytes)
    }

    fn repr() -> UdpRepr<'static> {
        UdpRepr {
            src_port: 40000,
            dst_port: 53,
            payload: b"ping",
        }
    }

    #[test]
    fn parses_literal_datagram_bounded_by_its_length() {
        let d = datagram();
        let p = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(
            UdpRepr::parse(&p, SRC, DST, Checksum::Full).unwrap(),
            repr()
        );
    }

    #[test]
    fn emits_literal_datagram_over_junk() {
        let mut buf = junk(repr().buffer_len());
        repr().emit(
            &mut UdpPacket::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            Checksum::Full,
        );
        assert_eq!(buf[..], datagram()[..12]);
    }

    #[test]
    fn zero_checksum_means_none_on_receive() {
        let p = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(
            UdpRepr::parse(&p, SRC, DST, Checksum::Full).unwrap(),
            repr()
        );
    }

    #[test]
    fn a_computed_zero_is_sent_as_all_ones() {
        // Pick a payload word that makes the ones' complement sum 0xFFFF.
        let mut d = DATAGRAM[..12].to_vec();
        d[8..10].copy_from_slice(&[0, 0]);
        let sum = !reference_checksum(&d);
        d[8..10].copy_from_slice(&(!sum).to_be_bytes());
        let mut p = UdpPacket::new_unchecked(&mut d[..]);
        p.fill_checksum(SRC, DST);
        assert_eq!(p.checksum(), 0xFFFF);
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn corrupted_datagram_fails_checksum() {
        let mut d = datagram();
        d[9] ^= 0x20;
        let p = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(
            UdpRepr::parse(&p, SRC, DST, Checksum::Full),
            Err(WireError::BadChecksum)
        );
        assert!(UdpRepr::parse(&p, SRC, DST, Checksum::Offload).is_ok());
        // The pseudo-header counts too: another destination fails.
        let d = datagram();
        let p = UdpPacket::new_checked(&d[..]).unwrap();
        let other = Ipv4Addr::new(192, 0, 2, 3);
        assert_eq!(
            UdpRepr::parse(&p, SRC, other, Checksum::Full),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn length_field_errors() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                UdpPacket::new_checked(&DATAGRAM[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        let mut d = DATAGRAM;
        d[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&d[..]).unwrap_err(),
            WireError::Malformed
        );
        d[4..6].copy_from_slice(&14u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&d[..]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn offload_emit_leaves_checksum_zero() {
        let mut buf = junk(repr().buffer_len());
        repr().emit(
            &mut UdpPacket::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            Checksum::Offload,
        );
        assert_eq!(&buf[6..8], &[0, 0]);
    }
}
