//! IPv4 headers.
//!
//! Read before touching: RFC 791 §3.1 (header format), RFC 1122 §3.2.1
//! (what a host must check on receive), RFC 2474 and RFC 3168 (the DSCP and
//! ECN bits of the old TOS byte), RFC 6864 (the Identification field),
//! RFC 815 (fragment reassembly, which is not done here). Options are exposed
//! as raw bytes; emit writes a 20-byte header without options.

use core::fmt;
use core::net::Ipv4Addr;

use super::checksum::{self, Checksum};
use super::{WireError, check_declared_len, get_u16, put_u16};

/// The IPv4 Protocol field (IANA "Assigned Internet Protocol Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    Icmp,
    /// IGMP (RFC 2236), 2.
    Igmp,
    Tcp,
    Udp,
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            2 => IpProtocol::Igmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::Icmp => 1,
            IpProtocol::Igmp => 2,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(v) => v,
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Icmp => f.write_str("ICMP"),
            IpProtocol::Igmp => f.write_str("IGMP"),
            IpProtocol::Tcp => f.write_str("TCP"),
            IpProtocol::Udp => f.write_str("UDP"),
            IpProtocol::Unknown(v) => write!(f, "proto {v}"),
        }
    }
}

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Largest header: IHL 15.
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1FFF;

/// A zero-copy view of an IPv4 datagram.
///
/// `new_checked` guarantees: the buffer holds the header (IHL >= 5), and the
/// total length covers the header and fits the buffer, so `options()` and
/// `payload()` never panic. Bytes past the total length (Ethernet padding)
/// are ignored.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Length checks that make every accessor panic-free.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = usize::from(self.header_len());
        // RFC 791 §3.1: "the minimum value for a correct header is 5".
        check_declared_len(header_len, HEADER_LEN, len)?;
        // The total length counts the header too.
        check_declared_len(usize::from(self.total_len()), header_len, len)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0F) * 4
    }

    /// The DSCP (RFC 2474), the upper six bits of the old TOS byte.
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// The ECN codepoint (RFC 3168 §5), the lower two bits.
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// DSCP and ECN as the byte they share.
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// The reserved (evil) bit, RFC 791 §3.1 "must be zero".
    pub fn reserved_flag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & 0x8000 != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Raw option bytes (IHL * 4 - 20 of them).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        let header = &self.buffer.as_ref()[..usize::from(self.header_len())];
        // A header is at most 60 bytes: the short sum, inline. Nearly every
        // datagram has no options, and a fixed 20 bytes unroll into five
        // 32-bit additions.
        let sum = match header.len() {
            HEADER_LEN => checksum::header(&header[..HEADER_LEN]),
            _ => checksum::header(header),
        };
        checksum::is_valid(sum)
    }

    /// The payload, bounded by the total length (Ethernet padding excluded).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[usize::from(self.header_len())..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4).
    pub fn set_version_and_header_len(&mut self, header_len: u8) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) & 0x0F);
    }

    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    pub fn set_total_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::TOTAL_LEN, v);
    }

    pub fn set_ident(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Sets DF, MF and the fragment offset in bytes (a multiple of 8; the low
    /// three bits are dropped). The reserved bit is cleared.
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset_bytes: u16) {
        let mut v = (offset_bytes >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        put_u16(self.buffer.as_mut(), field::FLAGS_FRAG, v);
    }

    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into();
    }

    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// Recomputes the header checksum over the current header length.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = usize::from(self.header_len());
        let sum = checksum::data(&self.buffer.as_ref()[..header_len]);
        self.set_checksum(checksum::finish(sum));
    }

    /// The payload, bounded by the total length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (
            usize::from(self.header_len()),
            usize::from(self.total_len()),
        );
        &mut self.buffer.as_mut()[start..end]
    }
}

/// The semantic content of an IPv4 header (options are not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Bytes after the header, as the total length says.
    pub payload_len: u16,
    pub ttl: u8,
    /// DSCP (upper six bits) and ECN (lower two), RFC 2474 / RFC 3168.
    pub dscp_ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Offset of this fragment's data in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Validates a datagram: version 4, IHL >= 5, total length within the
    /// buffer and covering the header (via `check_len`), and the header
    /// checksum when `checksum` is [`Checksum::Full`] (RFC 1122 §3.2.1.2:
    /// "A host MUST verify the IP header checksum on every received datagram
    /// and silently discard every datagram that has a bad checksum").
    ///
    /// Always inlined, with the general path out of line: the 20-byte
    /// header's fields then go to the caller in registers, not through a
    /// `Result` in memory (about 14 instructions a datagram).
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        checksum: Checksum,
    ) -> Result<Self, WireError> {
        Self::parse_with_header_len(packet, checksum).map(|(repr, _)| repr)
    }

    /// [`Ipv4Repr::parse`], with the header's length in bytes: 20 from the
    /// fast path's constant for nearly every datagram, so a receiver that
    /// slices out the datagram (`header_len + payload_len`, which `parse`
    /// checked fits the buffer) and its payload reads and checks neither
    /// length from the header again (about 20 instructions a datagram).
    #[inline(always)]
    pub fn parse_with_header_len<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        checksum: Checksum,
    ) -> Result<(Self, usize), WireError> {
        // Nearly every datagram: version 4 with a 20-byte header (first byte
        // 0x45) and a total length that covers it and fits the buffer. The
        // header is read as one fixed array, with no bounds check or header
        // length per field; the answer is the general path's, which any
        // other datagram takes (`fast_parse_equals_the_general_parse`).
        if let Some(h) = packet.buffer.as_ref().first_chunk::<HEADER_LEN>()
            && h[field::VER_IHL] == 0x45
        {
            let total = u16::from_be_bytes([h[field::TOTAL_LEN], h[field::TOTAL_LEN + 1]]);
            if usize::from(total) >= HEADER_LEN
                && usize::from(total) <= packet.buffer.as_ref().len()
            {
                return Self::parse_fixed(h, total, checksum).map(|repr| (repr, HEADER_LEN));
            }
        }
        let repr = Self::parse_general(packet, checksum)?;
        Ok((repr, usize::from(packet.header_len())))
    }

    /// [`Ipv4Repr::parse`] of a 20-byte header (version and lengths
    /// checked by the caller): the checksum, then the fields.
    #[inline]
    fn parse_fixed(
        h: &[u8; HEADER_LEN],
        total: u16,
        checksum: Checksum,
    ) -> Result<Self, WireError> {
        if checksum.is_full() && !checksum::is_valid(checksum::header(h)) {
            return Err(WireError::BadChecksum);
        }
        let word = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
        let frag = word(field::FLAGS_FRAG);
        let [.., s0, s1, s2, s3, d0, d1, d2, d3] = *h;
        Ok(Ipv4Repr {
            src_addr: Ipv4Addr::new(s0, s1, s2, s3),
            dst_addr: Ipv4Addr::new(d0, d1, d2, d3),
            protocol: IpProtocol::from(h[field::PROTOCOL]),
            payload_len: total - HEADER_LEN as u16,
            ttl: h[field::TTL],
            dscp_ecn: h[field::DSCP_ECN],
            ident: word(field::IDENT),
            dont_frag: frag & FLAG_DF != 0,
            more_frags: frag & FLAG_MF != 0,
            frag_offset: (frag & FRAG_OFFSET_MASK) << 3,
        })
    }

    /// [`Ipv4Repr::parse`] for any datagram: lengths, version, checksum,
    /// in that order (each its own error).
    #[inline(never)]
    fn parse_general<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        checksum: Checksum,
    ) -> Result<Self, WireError> {
        packet.check_len()?;
        // RFC 1122 §3.2.1.1: silently discard a datagram with version != 4.
        if packet.version() != 4 {
            return Err(WireError::Malformed);
        }
        if checksum.is_full() && !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.total_len() - u16::from(packet.header_len()),
            ttl: packet.ttl(),
            dscp_ecn: packet.dscp_ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// A fragment of a larger datagram (RFC 791 §2.3): MF set or a non-zero
    /// offset. The stack does not reassemble; it drops and counts these.
    pub const fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }

    /// Writes a 20-byte header (no options); the payload is the caller's.
    /// `payload_len` must not exceed 65515 (the total length is 16 bits).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
        checksum: Checksum,
    ) {
        // Built as five 32-bit words, summed from their values and stored
        // once each (every segment sent goes through here; reading back
        // bytes just stored one at a time would stall).
        let mut words = self.words();
        if checksum.is_full() {
            words[2] |= u32::from(checksum::finish(checksum::words(&words)));
        }
        store_words(&mut packet.buffer.as_mut()[..HEADER_LEN], words);
    }

    /// Writes the header with `options` after its fixed 20 bytes (RFC 791
    /// §3.1: whole 32-bit words, at most 40 octets), counted in the header
    /// length and the total length: `payload_len` is what follows the
    /// options. Returns the header's length.
    pub fn emit_with_options<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
        options: &[u8],
    ) -> usize {
        debug_assert!(options.len().is_multiple_of(4) && options.len() <= 40);
        let header_len = HEADER_LEN + options.len();
        let whole = Ipv4Repr {
            payload_len: self.payload_len + options.len() as u16,
            ..*self
        };
        whole.emit(packet, Checksum::Offload);
        packet.buffer.as_mut()[HEADER_LEN..header_len].copy_from_slice(options);
        packet.set_version_and_header_len(header_len as u8);
        packet.fill_checksum();
        header_len
    }

    /// The header as five big-endian 32-bit words, checksum zero.
    #[inline]
    fn words(&self) -> [u32; 5] {
        let mut frag = (self.frag_offset >> 3) & FRAG_OFFSET_MASK;
        if self.dont_frag {
            frag |= FLAG_DF;
        }
        if self.more_frags {
            frag |= FLAG_MF;
        }
        let total = self.payload_len.saturating_add(HEADER_LEN as u16);
        let version_ihl = 0x40 | (HEADER_LEN / 4) as u32;
        [
            version_ihl << 24 | u32::from(self.dscp_ecn) << 16 | u32::from(total),
            u32::from(self.ident) << 16 | u32::from(frag),
            // TTL, protocol, checksum (zero while summing).
            u32::from(self.ttl) << 24 | u32::from(u8::from(self.protocol)) << 16,
            u32::from(self.src_addr),
            u32::from(self.dst_addr),
        ]
    }
}

/// Stores a 20-byte header's five words, big-endian.
#[inline]
fn store_words(out: &mut [u8], words: [u32; 5]) {
    for (at, w) in out.chunks_exact_mut(4).zip(words) {
        at.copy_from_slice(&w.to_be_bytes());
    }
}

/// The 20-byte header (RFC 791 §3.1) that a run of datagrams shares but
/// for two fields, the total length and the Identification (the pieces of
/// a software GSO packet, `tcp::conn::gso`): its words and their sum taken
/// once, so each datagram only adds its own two fields to the sum (RFC 1071
/// §2(C): a ones' complement sum of 16-bit words adds word by word) and
/// stores the words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv4Template {
    /// [`Ipv4Repr::words`] with the total length, Identification and
    /// checksum zero.
    words: [u32; 5],
    /// The folded sum of `words`.
    sum: u16,
}

impl Ipv4Template {
    /// The header `repr` would emit, but for its payload length and
    /// Identification, which [`Ipv4Template::write`] takes.
    pub fn new(repr: &Ipv4Repr) -> Self {
        let mut words = repr.words();
        words[0] &= 0xFFFF_0000;
        words[1] &= 0x0000_FFFF;
        Ipv4Template {
            words,
            sum: checksum::words(&words),
        }
    }

    /// Writes what [`Ipv4Repr::emit`] with a full checksum writes for the
    /// template's `repr` with `payload_len` and `ident` (the same limit on
    /// `payload_len`).
    #[inline]
    pub fn write(&self, buf: &mut [u8; HEADER_LEN], payload_len: u16, ident: u16) {
        let total = payload_len.saturating_add(HEADER_LEN as u16);
        let mut words = self.words;
        words[0] |= u32::from(total);
        words[1] |= u32::from(ident) << 16;
        let sum = checksum::combine(&[self.sum, total, ident]);
        words[2] |= u32::from(checksum::finish(sum));
        store_words(buf, words);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::junk;

    /// A Linux SYN's IP header, 192.0.2.1 -> 192.0.2.2, plus 4 payload bytes
    /// (total length 24) and 2 bytes of trailing padding.
    const DATAGRAM: [u8; 26] = [
        0x45, 0x00, 0x00, 0x18, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x9a, 0x96, 0xc0, 0x00, 0x02,
        0x01, 0xc0, 0x00, 0x02, 0x02, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00,
    ];

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(192, 0, 2, 2),
            protocol: IpProtocol::Tcp,
            payload_len: 4,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0x1c46,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    #[test]
    fn parses_literal_datagram_and_ignores_padding() {
        let p = Ipv4Packet::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, Checksum::Full).unwrap(), repr());
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(p.options(), &[] as &[u8]);
        assert!(!repr().is_fragment());
    }

    #[test]
    fn emits_literal_header_over_junk() {
        let mut buf = junk(repr().buffer_len());
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        repr().emit(&mut p, Checksum::Full);
        p.payload_mut().copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(buf[..], DATAGRAM[..24]);
    }

    #[test]
    fn offload_emit_leaves_checksum_zero_and_offload_parse_trusts_it() {
        let mut buf = junk(repr().buffer_len());
        repr().emit(
            &mut Ipv4Packet::new_unchecked(&mut buf[..]),
            Checksum::Offload,
        );
        assert_eq!(&buf[10..12], &[0, 0]);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, Checksum::Full),
            Err(WireError::BadChecksum)
        );
        assert_eq!(Ipv4Repr::parse(&p, Checksum::Offload).unwrap(), repr());
    }

    #[test]
    fn every_truncation_is_rejected_without_panic() {
        for len in 0..24 {
            assert_eq!(
                Ipv4Packet::new_checked(&DATAGRAM[..len]).unwrap_err(),
                WireError::Truncated,
                "len {len}"
            );
        }
    }

    #[test]
    fn version_other_than_4_is_malformed() {
        let mut v6 = DATAGRAM;
        v6[0] = 0x65;
        let p = Ipv4Packet::new_checked(&v6[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, Checksum::Offload),
            Err(WireError::Malformed)
        );
    }

    #[test]
    fn ihl_below_five_is_malformed() {
        for ihl in 0..5u8 {
            let mut d = DATAGRAM;
            d[0] = 0x40 | ihl;
            assert_eq!(
                Ipv4Packet::new_checked(&d[..]).unwrap_err(),
                WireError::Malformed
            );
        }
    }

    #[test]
    fn ihl_beyond_buffer_is_truncated() {
        let mut d = DATAGRAM;
        d[0] = 0x47; // 28-byte header in a 26-byte buffer
        assert_eq!(
            Ipv4Packet::new_checked(&d[..]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn total_length_below_header_is_malformed_and_beyond_buffer_truncated() {
        let mut d = DATAGRAM;
        d[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&d[..]).unwrap_err(),
            WireError::Malformed
        );
        d[2..4].copy_from_slice(&27u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&d[..]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn corrupted_header_fails_checksum() {
        let mut d = DATAGRAM;
        d[8] = 63; // TTL changed in flight without a checksum update
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, Checksum::Full),
            Err(WireError::BadChecksum)
        );
    }

    proptest::proptest! {
        /// A header written from a template is byte for byte the one
        /// `Ipv4Repr::emit` writes with a full checksum, whatever the
        /// fields, the payload length (up to the limit and at it) and the
        /// Identification. It would fail if the template's sum missed or
        /// double-counted a field.
        #[test]
        fn a_template_writes_what_emit_writes(
            src in proptest::num::u32::ANY,
            dst in proptest::num::u32::ANY,
            protocol in proptest::num::u8::ANY,
            ttl in proptest::num::u8::ANY,
            dscp_ecn in proptest::num::u8::ANY,
            dont_frag in proptest::bool::ANY,
            more_frags in proptest::bool::ANY,
            frag_offset in proptest::num::u16::ANY,
            first_len in 0u16..=65515,
            payload_len in proptest::prop_oneof![0u16..=65515, proptest::strategy::Just(65515u16)],
            first_ident in proptest::num::u16::ANY,
            ident in proptest::num::u16::ANY,
        ) {
            let first = Ipv4Repr {
                src_addr: Ipv4Addr::from(src),
                dst_addr: Ipv4Addr::from(dst),
                protocol: IpProtocol::from(protocol),
                payload_len: first_len,
                ttl,
                dscp_ecn,
                ident: first_ident,
                dont_frag,
                more_frags,
                frag_offset: frag_offset & !7,
            };
            let template = Ipv4Template::new(&first);
            let repr = Ipv4Repr { payload_len, ident, ..first };
            let mut emitted = junk(HEADER_LEN);
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut emitted[..]), Checksum::Full);
            let mut written = [0xAA; HEADER_LEN];
            template.write(&mut written, payload_len, ident);
            proptest::prop_assert_eq!(&written[..], &emitted[..]);
        }
    }

    proptest::proptest! {
        /// `Ipv4Repr::parse` on an unchecked packet (the stack's ingress,
        /// which no longer calls `new_checked` first) answers what the two
        /// steps answered: the same error for every malformed length,
        /// version or checksum, never a panic, and on success a header and
        /// total length that lie inside the buffer (the ingress slices by
        /// them).
        #[test]
        fn parse_unchecked_matches_checking_first(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 80),
            ver_ihl in proptest::prop_oneof![0x40u8..=0x4f, proptest::num::u8::ANY],
            total_len in 0u16..90,
            fill in proptest::bool::ANY,
            len in 0usize..=80,
            full in proptest::bool::ANY,
        ) {
            let mut d = bytes;
            d[0] = ver_ihl;
            d[2..4].copy_from_slice(&total_len.to_be_bytes());
            if fill {
                Ipv4Packet::new_unchecked(&mut d[..]).fill_checksum();
            }
            let d = &d[..len];
            let checksum = if full { Checksum::Full } else { Checksum::Offload };
            let once = Ipv4Repr::parse(&Ipv4Packet::new_unchecked(d), checksum);
            let twice = Ipv4Packet::new_checked(d).and_then(|p| Ipv4Repr::parse(&p, checksum));
            proptest::prop_assert_eq!(once, twice);
            if once.is_ok() {
                let p = Ipv4Packet::new_unchecked(d);
                proptest::prop_assert!(usize::from(p.header_len()) >= HEADER_LEN);
                proptest::prop_assert!(p.header_len() as u16 <= p.total_len());
                proptest::prop_assert!(usize::from(p.total_len()) <= d.len());
            }
        }
    }

    proptest::proptest! {
        /// The 20-byte header's fixed-array parse answers exactly what the
        /// general parse answers (the same fields, the same error: lengths,
        /// then version, then checksum), for headers with and without a
        /// right checksum, any total length and any buffer length, and most
        /// of them starting 0x45 so the fast path is taken. It would fail if
        /// the fast path read a field from the wrong bytes or let a
        /// datagram through that the general checks refuse.
        #[test]
        fn fast_parse_equals_the_general_parse(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 64),
            ver_ihl in proptest::prop_oneof![3 => proptest::strategy::Just(0x45u8), 1 => proptest::num::u8::ANY],
            total_len in 0u16..70,
            fill in proptest::bool::ANY,
            len in 0usize..=64,
            full in proptest::bool::ANY,
        ) {
            let mut d = bytes;
            d[0] = ver_ihl;
            d[2..4].copy_from_slice(&total_len.to_be_bytes());
            if fill && ver_ihl & 0x0F >= 5 {
                Ipv4Packet::new_unchecked(&mut d[..]).fill_checksum();
            }
            let d = Ipv4Packet::new_unchecked(&d[..len]);
            let checksum = if full { Checksum::Full } else { Checksum::Offload };
            proptest::prop_assert_eq!(
                Ipv4Repr::parse(&d, checksum),
                Ipv4Repr::parse_general(&d, checksum)
            );
            // The header length given beside it is the header's own, and
            // with the payload length it spans the datagram, within the
            // buffer (what the stack's ingress slices without checking
            // either length again).
            if let Ok((repr, header_len)) = Ipv4Repr::parse_with_header_len(&d, checksum) {
                proptest::prop_assert_eq!(header_len, usize::from(d.header_len()));
                let total = header_len + usize::from(repr.payload_len);
                proptest::prop_assert_eq!(total, usize::from(d.total_len()));
                proptest::prop_assert!(total <= len);
            }
        }
    }

    proptest::proptest! {
        /// The checksum check gives the answer of the RFC 1071 sum over
        /// the whole header, with options or without (the fixed 20-byte
        /// path and the general one), for intact and damaged headers.
        #[test]
        fn the_header_check_matches_the_plain_sum(
            words in 5usize..=15,
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 60),
            fill in proptest::bool::ANY,
            flip in 0usize..60,
        ) {
            let len = words * 4;
            let mut d = bytes.clone();
            d[0] = 0x40 | words as u8;
            let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
            if fill {
                p.fill_checksum();
            }
            let reference = |d: &[u8]| checksum::is_valid(checksum::data(&d[..len]));
            proptest::prop_assert_eq!(Ipv4Packet::new_unchecked(&d[..]).verify_checksum(), reference(&d));
            if flip > 0 && flip < len {
                d[flip] ^= 0x10;
                proptest::prop_assert_eq!(Ipv4Packet::new_unchecked(&d[..]).verify_checksum(), reference(&d));
            }
        }
    }

    #[test]
    fn options_are_exposed_as_bytes_and_counted_in_the_header() {
        // IHL 6: one 4-byte option (NOP NOP NOP EOL), then 4 payload bytes.
        let mut d = [0u8; 28];
        d[..20].copy_from_slice(&DATAGRAM[..20]);
        d[0] = 0x46;
        d[2..4].copy_from_slice(&28u16.to_be_bytes());
        d[20..24].copy_from_slice(&[1, 1, 1, 0]);
        d[24..].copy_from_slice(&[9, 8, 7, 6]);
        let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[9, 8, 7, 6]);
        let r = Ipv4Repr::parse(&p, Checksum::Full).unwrap();
        assert_eq!(r.payload_len, 4);
    }

    #[test]
    fn fragment_fields_round_trip_in_bytes() {
        let frag = Ipv4Repr {
            more_frags: true,
            dont_frag: false,
            frag_offset: 1480,
            ..repr()
        };
        assert!(frag.is_fragment());
        let mut buf = junk(frag.buffer_len());
        frag.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), Checksum::Full);
        assert_eq!(&buf[6..8], &[0x20, 0xb9]); // MF | 185 * 8 bytes
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, Checksum::Full).unwrap(), frag);
        let last = Ipv4Repr {
            more_frags: false,
            ..frag
        };
        assert!(last.is_fragment());
    }

    #[test]
    fn dscp_and_ecn_split_the_tos_byte() {
        let mut d = DATAGRAM;
        d[1] = 0xb9; // DSCP 46 (EF), ECN 01 (ECT(1))
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!((p.dscp(), p.ecn()), (46, 1));
    }
}
