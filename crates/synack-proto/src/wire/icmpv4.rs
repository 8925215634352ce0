//! ICMPv4: echo, destination unreachable, time exceeded.
//!
//! Read before touching: RFC 792 (message formats), RFC 1122 §3.2.2 (what a
//! host must do with each type), RFC 1191 (the next-hop MTU in "fragmentation
//! needed", Path MTU Discovery), RFC 1812 §4.3.2.3 (routers may quote more
//! than 8 bytes), RFC 5927 (ICMP attacks on TCP: why the quoted data must be
//! checked against the connection before acting on it).

use super::checksum::{self, Checksum};
use super::ipv4::{self, Ipv4Packet, Ipv4Repr};
use super::{WireError, get_u16, put_u16};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    /// The 4-byte "rest of header": echo ident/seq, or unused + next-hop MTU.
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQ: usize = 6;
    pub const UNUSED: usize = 4;
    pub const NEXT_HOP_MTU: usize = 6;
    pub const DATA: usize = 8;
}

/// Type, code, checksum and the 4-byte rest of header.
pub const HEADER_LEN: usize = 8;
/// RFC 792: an error quotes "the internet header plus the first 64 bits of
/// the original datagram's data"; fewer and the ports are unknown.
pub const MIN_QUOTED_DATA: usize = 8;

const TYPE_ECHO_REPLY: u8 = 0;
const TYPE_DST_UNREACHABLE: u8 = 3;
const TYPE_ECHO_REQUEST: u8 = 8;
const TYPE_TIME_EXCEEDED: u8 = 11;

/// Destination Unreachable codes (RFC 792; RFC 1122 §3.2.2.1; RFC 1812 §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    NetUnreachable,
    HostUnreachable,
    ProtoUnreachable,
    PortUnreachable,
    /// "Fragmentation needed and DF set": carries the next-hop MTU (RFC 1191).
    FragRequired,
    SrcRouteFailed,
    DstNetUnknown,
    DstHostUnknown,
    SrcHostIsolated,
    NetProhibited,
    HostProhibited,
    NetUnreachToS,
    HostUnreachToS,
    CommProhibited,
    HostPrecedenceViolation,
    PrecedenceCutoff,
    Other(u8),
}

impl From<u8> for DstUnreachable {
    fn from(code: u8) -> Self {
        use DstUnreachable::*;
        match code {
            0 => NetUnreachable,
            1 => HostUnreachable,
            2 => ProtoUnreachable,
            3 => PortUnreachable,
            4 => FragRequired,
            5 => SrcRouteFailed,
            6 => DstNetUnknown,
            7 => DstHostUnknown,
            8 => SrcHostIsolated,
            9 => NetProhibited,
            10 => HostProhibited,
            11 => NetUnreachToS,
            12 => HostUnreachToS,
            13 => CommProhibited,
            14 => HostPrecedenceViolation,
            15 => PrecedenceCutoff,
            other => Other(other),
        }
    }
}

impl From<DstUnreachable> for u8 {
    fn from(r: DstUnreachable) -> u8 {
        use DstUnreachable::*;
        match r {
            NetUnreachable => 0,
            HostUnreachable => 1,
            ProtoUnreachable => 2,
            PortUnreachable => 3,
            FragRequired => 4,
            SrcRouteFailed => 5,
            DstNetUnknown => 6,
            DstHostUnknown => 7,
            SrcHostIsolated => 8,
            NetProhibited => 9,
            HostProhibited => 10,
            NetUnreachToS => 11,
            HostUnreachToS => 12,
            CommProhibited => 13,
            HostPrecedenceViolation => 14,
            PrecedenceCutoff => 15,
            Other(v) => v,
        }
    }
}

/// Time Exceeded codes (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// TTL reached zero in transit.
    TtlExpired,
    /// Fragment reassembly timed out.
    FragExpired,
    Other(u8),
}

impl From<u8> for TimeExceeded {
    fn from(code: u8) -> Self {
        match code {
            0 => TimeExceeded::TtlExpired,
            1 => TimeExceeded::FragExpired,
            other => TimeExceeded::Other(other),
        }
    }
}

impl From<TimeExceeded> for u8 {
    fn from(r: TimeExceeded) -> u8 {
        match r {
            TimeExceeded::TtlExpired => 0,
            TimeExceeded::FragExpired => 1,
            TimeExceeded::Other(v) => v,
        }
    }
}

/// A zero-copy view of an ICMPv4 message. `new_checked` guarantees the
/// 8-byte header is present.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQ)
    }

    /// RFC 1191 §4: the next-hop MTU in a "fragmentation needed" message
    /// (zero from routers that predate RFC 1191).
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Everything after the 8-byte header: echo data or the quoted datagram.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// Everything after the checksum (the rest of header and the data).
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::UNUSED..]
    }

    /// The checksum covers the whole message (RFC 792).
    pub fn verify_checksum(&self) -> bool {
        checksum::is_valid(checksum::data(self.buffer.as_ref()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_IDENT, v);
    }

    pub fn set_echo_seq_no(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_SEQ, v);
    }

    pub fn set_next_hop_mtu(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::UNUSED, 0);
        put_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU, v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::UNUSED..]
    }

    /// Recomputes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(checksum::finish(sum));
    }
}

/// A validated ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    DstUnreachable {
        reason: DstUnreachable,
        /// RFC 1191 next-hop MTU; meaningful for `FragRequired` only, kept
        /// as received otherwise.
        next_hop_mtu: u16,
        /// The quoted datagram's header (its options and checksum are not
        /// kept; its checksum is not verified, routers quote it as they saw it).
        header: Ipv4Repr,
        /// The quoted datagram's first bytes after its header (at least 8).
        data: &'a [u8],
    },
    TimeExceeded {
        reason: TimeExceeded,
        header: Ipv4Repr,
        data: &'a [u8],
    },
    /// Any other type, or an echo with a non-zero code: kept whole, so a
    /// re-emit reproduces it.
    Other {
        msg_type: u8,
        code: u8,
        /// Everything after the checksum field.
        body: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a message, verifying its checksum under [`Checksum::Full`].
    /// Error messages must quote an IPv4 header and at least 8 data bytes.
    pub fn parse(packet: &Icmpv4Packet<&'a [u8]>, checksum: Checksum) -> Result<Self, WireError> {
        packet.check_len()?;
        if checksum.is_full() && !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let buf: &'a [u8] = packet.buffer;
        let data = &buf[field::DATA..];
        match (packet.msg_type(), packet.msg_code()) {
            (TYPE_ECHO_REQUEST, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (TYPE_ECHO_REPLY, 0) => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (TYPE_DST_UNREACHABLE, code) => {
                let (header, data) = parse_quoted(data)?;
                Ok(Icmpv4Repr::DstUnreachable {
                    reason: DstUnreachable::from(code),
                    next_hop_mtu: packet.next_hop_mtu(),
                    header,
                    data,
                })
            }
            (TYPE_TIME_EXCEEDED, code) => {
                let (header, data) = parse_quoted(data)?;
                Ok(Icmpv4Repr::TimeExceeded {
                    reason: TimeExceeded::from(code),
                    header,
                    data,
                })
            }
            (msg_type, code) => Ok(Icmpv4Repr::Other {
                msg_type,
                code,
                body: &buf[field::UNUSED..],
            }),
        }
    }

    /// Bytes the message needs.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv4Repr::DstUnreachable { data, .. } | Icmpv4Repr::TimeExceeded { data, .. } => {
                HEADER_LEN + ipv4::HEADER_LEN + data.len()
            }
            Icmpv4Repr::Other { body, .. } => field::UNUSED + body.len(),
        }
    }

    /// Writes the message into a buffer of exactly `buffer_len()` bytes.
    /// A quoted header is written without options and with a correct header
    /// checksum, whatever `checksum` says (offloads only do the outer one).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv4Packet<T>,
        checksum: Checksum,
    ) {
        packet.set_checksum(0);
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let msg_type = if matches!(self, Icmpv4Repr::EchoRequest { .. }) {
                    TYPE_ECHO_REQUEST
                } else {
                    TYPE_ECHO_REPLY
                };
                packet.set_msg_type(msg_type);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                packet.data_mut()[..data.len()].copy_from_slice(data);
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                header,
                data,
            } => {
                packet.set_msg_type(TYPE_DST_UNREACHABLE);
                packet.set_msg_code(reason.into());
                packet.set_next_hop_mtu(next_hop_mtu);
                emit_quoted(packet.data_mut(), &header, data);
            }
            Icmpv4Repr::TimeExceeded {
                reason,
                header,
                data,
            } => {
                packet.set_msg_type(TYPE_TIME_EXCEEDED);
                packet.set_msg_code(reason.into());
                packet.set_next_hop_mtu(0);
                emit_quoted(packet.data_mut(), &header, data);
            }
            Icmpv4Repr::Other {
                msg_type,
                code,
                body,
            } => {
                packet.set_msg_type(msg_type);
                packet.set_msg_code(code);
                packet.body_mut()[..body.len()].copy_from_slice(body);
            }
        }
        if checksum.is_full() {
            packet.fill_checksum();
        }
    }
}

/// Splits a quoted datagram into its header and the data after it.
fn parse_quoted(quoted: &[u8]) -> Result<(Ipv4Repr, &[u8]), WireError> {
    if quoted.len() < ipv4::HEADER_LEN {
        return Err(WireError::Truncated);
    }
    // The quoted datagram is cut short, so its total length overruns the
    // buffer: check the header by hand instead of with `new_checked`.
    let inner = Ipv4Packet::new_unchecked(quoted);
    let header_len = usize::from(inner.header_len());
    if inner.version() != 4 || header_len < ipv4::HEADER_LEN {
        return Err(WireError::Malformed);
    }
    if quoted.len() < header_len + MIN_QUOTED_DATA {
        return Err(WireError::Truncated);
    }
    let Some(payload_len) = inner.total_len().checked_sub(header_len as u16) else {
        return Err(WireError::Malformed);
    };
    let header = Ipv4Repr {
        src_addr: inner.src_addr(),
        dst_addr: inner.dst_addr(),
        protocol: inner.protocol(),
        payload_len,
        ttl: inner.ttl(),
        dscp_ecn: inner.dscp_ecn(),
        ident: inner.ident(),
        dont_frag: inner.dont_frag(),
        more_frags: inner.more_frags(),
        frag_offset: inner.frag_offset(),
    };
    Ok((header, &quoted[header_len..]))
}

fn emit_quoted(buf: &mut [u8], header: &Ipv4Repr, data: &[u8]) {
    let (hdr, rest) = buf.split_at_mut(ipv4::HEADER_LEN);
    header.emit(&mut Ipv4Packet::new_unchecked(hdr), Checksum::Full);
    rest[..data.len()].copy_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::IpProtocol;
    use crate::wire::test_util::junk;
    use core::net::Ipv4Addr;

    /// `ping -p 61` style echo request: ident 0x1234, seq 1, data "abcd".
    const ECHO_REQUEST: [u8; 12] = [
        0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
    ];

    /// Port unreachable quoting a UDP datagram 192.0.2.1:40000 -> 192.0.2.2:53.
    const PORT_UNREACH: [u8; 36] = [
        0x03, 0x03, 0x60, 0x77, 0x00, 0x00, 0x00, 0x00, // type 3 code 3
        0x45, 0x00, 0x00, 0x24, 0x00, 0x07, 0x40, 0x00, 0x40, 0x11, 0xb6, 0xbe, 0xc0, 0x00, 0x02,
        0x01, 0xc0, 0x00, 0x02, 0x02, // quoted IPv4 header, total length 36
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x10, 0x00, 0x00, // quoted UDP header
    ];

    fn quoted_header() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(192, 0, 2, 2),
            protocol: IpProtocol::Udp,
            payload_len: 16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 7,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    fn port_unreach() -> Icmpv4Repr<'static> {
        Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            next_hop_mtu: 0,
            header: quoted_header(),
            data: &PORT_UNREACH[28..],
        }
    }

    fn round_trip(repr: &Icmpv4Repr<'_>) -> Vec<u8> {
        let mut buf = junk(repr.buffer_len());
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(&mut buf[..]),
            Checksum::Full,
        );
        buf
    }

    #[test]
    fn parses_and_emits_literal_echo_request() {
        let p = Icmpv4Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        let r = Icmpv4Repr::parse(&p, Checksum::Full).unwrap();
        assert_eq!(
            r,
            Icmpv4Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: b"abcd"
            }
        );
        assert_eq!(round_trip(&r), ECHO_REQUEST);
    }

    #[test]
    fn echo_reply_differs_from_request_only_in_type_and_checksum() {
        let reply = Icmpv4Repr::EchoReply {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcd",
        };
        let bytes = round_trip(&reply);
        assert_eq!(bytes[0], 0);
        assert_eq!(&bytes[2..4], &[0x29, 0x04]); // RFC 1624: +0x0800 in the sum
        assert_eq!(bytes[4..], ECHO_REQUEST[4..]);
    }

    #[test]
    fn parses_and_emits_literal_port_unreachable() {
        let p = Icmpv4Packet::new_checked(&PORT_UNREACH[..]).unwrap();
        let r = Icmpv4Repr::parse(&p, Checksum::Full).unwrap();
        assert_eq!(r, port_unreach());
        assert_eq!(round_trip(&r), PORT_UNREACH);
    }

    #[test]
    fn frag_required_carries_next_hop_mtu() {
        let repr = Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: 1400,
            header: quoted_header(),
            data: &PORT_UNREACH[28..],
        };
        let bytes = round_trip(&repr);
        assert_eq!(&bytes[..2], &[3, 4]);
        assert_eq!(&bytes[4..8], &[0, 0, 0x05, 0x78]);
        let p = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, Checksum::Full).unwrap(), repr);
    }

    #[test]
    fn time_exceeded_round_trips() {
        let repr = Icmpv4Repr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            header: quoted_header(),
            data: &PORT_UNREACH[28..],
        };
        let bytes = round_trip(&repr);
        assert_eq!(&bytes[..2], &[11, 0]);
        let p = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, Checksum::Full).unwrap(), repr);
    }

    #[test]
    fn quoted_data_shorter_than_8_bytes_is_truncated() {
        for cut in 8..PORT_UNREACH.len() {
            let mut msg = PORT_UNREACH[..cut].to_vec();
            Icmpv4Packet::new_unchecked(&mut msg[..]).fill_checksum();
            let p = Icmpv4Packet::new_checked(&msg[..]).unwrap();
            assert_eq!(
                Icmpv4Repr::parse(&p, Checksum::Full),
                Err(WireError::Truncated),
                "{cut}"
            );
        }
    }

    #[test]
    fn quoted_non_ipv4_or_short_ihl_is_malformed() {
        for (at, v) in [(8, 0x65u8), (8, 0x44)] {
            let mut msg = PORT_UNREACH;
            msg[at] = v;
            Icmpv4Packet::new_unchecked(&mut msg[..]).fill_checksum();
            let p = Icmpv4Packet::new_checked(&msg[..]).unwrap();
            assert_eq!(
                Icmpv4Repr::parse(&p, Checksum::Full),
                Err(WireError::Malformed)
            );
        }
    }

    #[test]
    fn bad_checksum_is_reported_only_when_verifying() {
        let mut msg = ECHO_REQUEST;
        msg[11] ^= 1;
        let p = Icmpv4Packet::new_checked(&msg[..]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p, Checksum::Full),
            Err(WireError::BadChecksum)
        );
        assert!(Icmpv4Repr::parse(&p, Checksum::Offload).is_ok());
    }

    #[test]
    fn every_truncation_of_the_header_is_rejected() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Icmpv4Packet::new_checked(&ECHO_REQUEST[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
    }

    #[test]
    fn unknown_types_and_odd_echo_codes_are_kept_whole() {
        let mut msg = ECHO_REQUEST;
        msg[1] = 5; // echo with a non-zero code
        Icmpv4Packet::new_unchecked(&mut msg[..]).fill_checksum();
        let p = Icmpv4Packet::new_checked(&msg[..]).unwrap();
        let r = Icmpv4Repr::parse(&p, Checksum::Full).unwrap();
        assert_eq!(
            r,
            Icmpv4Repr::Other {
                msg_type: 8,
                code: 5,
                body: &msg[4..]
            }
        );
        assert_eq!(round_trip(&r), msg);
    }

    #[test]
    fn codes_map_both_ways() {
        for code in 0..=255u8 {
            assert_eq!(u8::from(DstUnreachable::from(code)), code);
            assert_eq!(u8::from(TimeExceeded::from(code)), code);
        }
    }
}
