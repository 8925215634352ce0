//! The virtio-net header that precedes every frame on a TAP/TUN opened with
//! `IFF_VNET_HDR` (virtio 1.0, §5.1.6 "Device Operation", `struct
//! virtio_net_hdr`). It carries checksum offload (`NEEDS_CSUM`: the checksum
//! field holds only the pseudo-header sum and the rest is left to the
//! receiver) and segmentation offload (`gso_type`/`gso_size`: one frame is a
//! "super-segment" of up to 64 KiB to be cut into `gso_size` pieces).
//!
//! Byte order: virtio 1.0 makes every field little-endian. Legacy virtio
//! (what tun uses unless told otherwise) is native-endian; the device code
//! sets `TUNSETVNETLE` so both agree on any host (they already do on x86).
//!
//! ```text
//!  0      1         2        4         6           8            10           12
//!  flags  gso_type  hdr_len  gso_size  csum_start  csum_offset  [num_buffers]
//! ```

use core::fmt;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: checksum from `csum_start` to the end, store at `+csum_offset`.
pub const FLAG_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum has been verified (receive only).
pub const FLAG_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_F_RSC_INFO`: receive-side coalescing info in the csum fields.
pub const FLAG_RSC_INFO: u8 = 4;

const GSO_ECN: u8 = 0x80;

/// What kind of segmentation a frame asks for (`VIRTIO_NET_HDR_GSO_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GsoType {
    /// A normal frame.
    #[default]
    None,
    /// TCP over IPv4 (TSO4).
    TcpV4,
    /// UDP fragmentation offload (UFO, IPv4 fragments).
    Udp,
    /// TCP over IPv6 (TSO6).
    TcpV6,
    /// UDP segmentation offload (USO, one datagram per segment).
    UdpL4,
}

impl GsoType {
    fn to_u8(self) -> u8 {
        match self {
            GsoType::None => 0,
            GsoType::TcpV4 => 1,
            GsoType::Udp => 3,
            GsoType::TcpV6 => 4,
            GsoType::UdpL4 => 5,
        }
    }

    fn from_u8(v: u8) -> Option<GsoType> {
        Some(match v {
            0 => GsoType::None,
            1 => GsoType::TcpV4,
            3 => GsoType::Udp,
            4 => GsoType::TcpV6,
            5 => GsoType::UdpL4,
            _ => return None,
        })
    }
}

/// A parsed `virtio_net_hdr`. `Default` is "no offload": all zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VirtioNetHdr {
    /// `FLAG_*` bits.
    pub flags: u8,
    pub gso_type: GsoType,
    /// The segments need ECN's CWR handling (`VIRTIO_NET_HDR_GSO_ECN`).
    pub ecn: bool,
    /// Length of the headers to copy into every segment (Ethernet/IP/TCP).
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS for TCP).
    pub gso_size: u16,
    /// Where the checksummed region starts, from the start of the frame.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start` (16 for TCP, 6 for UDP).
    pub csum_offset: u16,
    /// Only in the 12-byte header (mergeable receive buffers); tun writes 0 or 1.
    pub num_buffers: u16,
}

/// Why a header or a frame with a header could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VnetError {
    /// Fewer bytes than the header needs.
    Truncated,
    /// Header length other than 10 or 12.
    BadLength,
    /// A `gso_type` this code does not know.
    UnknownGsoType(u8),
    /// `csum_start`/`csum_offset` point outside the frame.
    ChecksumOutOfRange,
}

impl fmt::Display for VnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VnetError::Truncated => f.write_str("virtio-net header truncated"),
            VnetError::BadLength => f.write_str("virtio-net header length must be 10 or 12"),
            VnetError::UnknownGsoType(t) => write!(f, "unknown virtio-net gso_type {t:#x}"),
            VnetError::ChecksumOutOfRange => {
                f.write_str("virtio-net csum_start/csum_offset outside the frame")
            }
        }
    }
}

impl std::error::Error for VnetError {}

impl VirtioNetHdr {
    /// The basic header (legacy, no `num_buffers`): tun's default.
    pub const LEN: usize = 10;
    /// With `num_buffers` (mergeable receive buffers; every virtio 1.0 device).
    pub const LEN_MRG: usize = 12;

    /// The header for a TCP/IPv4 frame the sender left for the device to
    /// finish (virtio 1.0 §5.1.6.2): a partial checksum to complete from
    /// `csum_start` into `csum_start + csum_offset`, and with `gso_size` > 0
    /// a super-segment to cut into `gso_size`-byte pieces after `hdr_len`
    /// bytes of headers.
    pub fn tcp4_offload(csum_start: u16, csum_offset: u16, hdr_len: u16, gso_size: u16) -> Self {
        VirtioNetHdr {
            flags: FLAG_NEEDS_CSUM,
            gso_type: if gso_size > 0 {
                GsoType::TcpV4
            } else {
                GsoType::None
            },
            hdr_len,
            gso_size,
            csum_start,
            csum_offset,
            ..VirtioNetHdr::default()
        }
    }

    /// Parses the header at the start of `bytes`: 10 bytes, and `num_buffers`
    /// too when `hdr_len_in_use` is 12.
    pub fn parse(bytes: &[u8], hdr_len_in_use: usize) -> Result<VirtioNetHdr, VnetError> {
        if hdr_len_in_use != Self::LEN && hdr_len_in_use != Self::LEN_MRG {
            return Err(VnetError::BadLength);
        }
        if bytes.len() < hdr_len_in_use {
            return Err(VnetError::Truncated);
        }
        let le16 = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let raw_gso = bytes[1];
        let gso_type =
            GsoType::from_u8(raw_gso & !GSO_ECN).ok_or(VnetError::UnknownGsoType(raw_gso))?;
        Ok(VirtioNetHdr {
            flags: bytes[0],
            gso_type,
            ecn: raw_gso & GSO_ECN != 0,
            hdr_len: le16(2),
            gso_size: le16(4),
            csum_start: le16(6),
            csum_offset: le16(8),
            num_buffers: if hdr_len_in_use == Self::LEN_MRG {
                le16(10)
            } else {
                0
            },
        })
    }

    /// Writes the header into `buf`, which must be exactly 10 or 12 bytes
    /// long (12 includes `num_buffers`).
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), VnetError> {
        if buf.len() != Self::LEN && buf.len() != Self::LEN_MRG {
            return Err(VnetError::BadLength);
        }
        buf[0] = self.flags;
        buf[1] = self.gso_type.to_u8() | if self.ecn { GSO_ECN } else { 0 };
        buf[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        buf[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        buf[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        buf[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        if buf.len() == Self::LEN_MRG {
            buf[10..12].copy_from_slice(&self.num_buffers.to_le_bytes());
        }
        Ok(())
    }

    pub fn needs_csum(&self) -> bool {
        self.flags & FLAG_NEEDS_CSUM != 0
    }

    pub fn data_valid(&self) -> bool {
        self.flags & FLAG_DATA_VALID != 0
    }

    /// Finishes a partial checksum in software (what a NIC without checksum
    /// offload, or the kernel's `skb_checksum_help`, does): the field at
    /// `csum_start + csum_offset` holds the pseudo-header sum; fold the
    /// Internet checksum (RFC 1071) of `frame[csum_start..]` into it. Then
    /// clears `NEEDS_CSUM` and sets `DATA_VALID`. No-op without `NEEDS_CSUM`.
    ///
    /// For a GSO super-segment the result is the checksum of the whole
    /// super-segment, consistent with its IP length field.
    pub fn complete_checksum(&mut self, frame: &mut [u8]) -> Result<(), VnetError> {
        if !self.needs_csum() {
            return Ok(());
        }
        let start = usize::from(self.csum_start);
        let field = start + usize::from(self.csum_offset);
        if field + 2 > frame.len() {
            return Err(VnetError::ChecksumOutOfRange);
        }
        let sum = internet_checksum(&frame[start..]);
        // RFC 768: a computed UDP checksum of zero is sent as all ones; for
        // TCP both encodings of zero are equal in ones' complement.
        let value = if sum == 0 { 0xffff } else { sum };
        frame[field..field + 2].copy_from_slice(&value.to_be_bytes());
        self.flags = (self.flags & !FLAG_NEEDS_CSUM) | FLAG_DATA_VALID;
        Ok(())
    }
}

/// The Internet checksum (RFC 1071): ones' complement of the ones'
/// complement sum of 16-bit big-endian words, summed 32 bits at a time.
pub(crate) fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        sum += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 2 {
        sum += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&last) = rest.first() {
        // RFC 1071: an odd trailing byte is padded with zero on the right.
        sum += u64::from(last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_literal_tso4_header() {
        // NEEDS_CSUM, TCPV4|ECN, hdr_len 54, gso_size 1448, csum_start 34, csum_offset 16.
        let bytes = [0x01, 0x81, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 0x01, 0x00];
        let h = VirtioNetHdr::parse(&bytes, 10).unwrap();
        assert_eq!(
            h,
            VirtioNetHdr {
                flags: FLAG_NEEDS_CSUM,
                gso_type: GsoType::TcpV4,
                ecn: true,
                hdr_len: 54,
                gso_size: 1448,
                csum_start: 34,
                csum_offset: 16,
                num_buffers: 0,
            }
        );
        assert!(h.needs_csum() && !h.data_valid());
        assert_eq!(VirtioNetHdr::parse(&bytes, 12).unwrap().num_buffers, 1);
    }

    #[test]
    fn emit_writes_every_field_little_endian() {
        let h = VirtioNetHdr {
            flags: FLAG_DATA_VALID,
            gso_type: GsoType::TcpV6,
            ecn: false,
            hdr_len: 0x0102,
            gso_size: 0x0304,
            csum_start: 0x0506,
            csum_offset: 0x0708,
            num_buffers: 0x090a,
        };
        let mut buf = [0xAA; 12];
        h.emit(&mut buf).unwrap();
        assert_eq!(
            buf,
            [
                0x02, 0x04, 0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x08, 0x07, 0x0a, 0x09
            ]
        );
        let mut short = [0xAA; 10];
        h.emit(&mut short).unwrap();
        assert_eq!(short, buf[..10]);
        assert_eq!(VirtioNetHdr::parse(&buf, 12), Ok(h));
        assert_eq!(h.emit(&mut [0; 11]), Err(VnetError::BadLength));
    }

    #[test]
    fn parse_rejects_short_unknown_and_bad_lengths() {
        assert_eq!(VirtioNetHdr::parse(&[0; 9], 10), Err(VnetError::Truncated));
        assert_eq!(VirtioNetHdr::parse(&[0; 11], 12), Err(VnetError::Truncated));
        assert_eq!(VirtioNetHdr::parse(&[0; 16], 14), Err(VnetError::BadLength));
        let mut b = [0u8; 10];
        b[1] = 2;
        assert_eq!(
            VirtioNetHdr::parse(&b, 10),
            Err(VnetError::UnknownGsoType(2))
        );
        assert_eq!(
            VirtioNetHdr::parse(&[0; 10], 10),
            Ok(VirtioNetHdr::default())
        );
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to ddf2 (complement 220d).
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // Odd length pads on the right.
        assert_eq!(internet_checksum(&[0x01]), !0x0100);
        assert_eq!(internet_checksum(&[]), 0xffff);
    }

    #[test]
    fn complete_checksum_fills_a_partial_udp_checksum() {
        // IPv4/UDP 192.0.2.1:1000 -> 192.0.2.2:2000, payload "hi", no Ethernet.
        // Pseudo-header sum: c000+0201+c000+0202+0011+000a = 0x1841e -> 0x841f.
        let mut frame = [
            0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, // IPv4
            0x03, 0xe8, 0x07, 0xd0, 0, 10, 0x84, 0x1f, b'h', b'i', // UDP, csum = pseudo sum
        ];
        let mut h = VirtioNetHdr {
            flags: FLAG_NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 6,
            ..VirtioNetHdr::default()
        };
        h.complete_checksum(&mut frame).unwrap();
        // Full sum: 841f + 03e8 + 07d0 + 000a + 6869 = 0xf84a -> complement 0x07b5.
        assert_eq!(&frame[26..28], &[0x07, 0xb5]);
        assert!(h.data_valid() && !h.needs_csum());
        // The completed datagram verifies: pseudo-header + UDP sums to 0xffff.
        let mut check = vec![192, 0, 2, 1, 192, 0, 2, 2, 0, 17, 0, 10];
        check.extend_from_slice(&frame[20..]);
        assert_eq!(internet_checksum(&check), 0);
    }

    #[test]
    fn complete_checksum_rejects_offsets_outside_the_frame() {
        let mut h = VirtioNetHdr {
            flags: FLAG_NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 16,
            ..VirtioNetHdr::default()
        };
        assert_eq!(
            h.complete_checksum(&mut [0; 37]),
            Err(VnetError::ChecksumOutOfRange)
        );
        assert!(h.needs_csum());
        // Without NEEDS_CSUM nothing is touched.
        let mut plain = VirtioNetHdr::default();
        let mut frame = [0xAA; 4];
        plain.complete_checksum(&mut frame).unwrap();
        assert_eq!(frame, [0xAA; 4]);
    }
}
