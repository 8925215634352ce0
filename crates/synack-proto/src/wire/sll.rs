//! Linux "cooked" capture headers: what libpcap puts in front of each packet
//! when it captures on a device without a usable link-layer header, above
//! all `tcpdump -i any`.
//!
//! Read before touching: tcpdump.org's LINKTYPE_LINUX_SLL (113, v1, 16
//! bytes) and LINKTYPE_LINUX_SLL2 (276, v2, 20 bytes) pages, and
//! `<linux/if_packet.h>` for the packet types. Every field is big-endian.
//! tcpdump 4.99 with libpcap 1.10 writes v2 for `-i any`; `-y LINUX_SLL`
//! asks for v1.
//!
//! ```text
//! v1: packet type (2) | ARPHRD type (2) | addr len (2) | addr (8) | protocol (2)
//! v2: protocol (2) | reserved (2) | ifindex (4) | ARPHRD type (2) |
//!     packet type (1) | addr len (1) | addr (8)
//! ```
//!
//! The protocol field is an EtherType for most devices; a few small values
//! mean something else (1: Novell 802.3 without 802.2 header, 4: 802.2 LLC),
//! and they come out as [`EtherType::Unknown`].

use super::ethernet::EtherType;
use super::{WireError, get_u16, get_u32};

/// Which cooked header the capture uses (its link type says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SllVersion {
    /// LINKTYPE_LINUX_SLL (113), 16-byte header.
    V1,
    /// LINKTYPE_LINUX_SLL2 (276), 20-byte header.
    V2,
}

impl SllVersion {
    /// Length of the header before the payload.
    pub const fn header_len(self) -> usize {
        match self {
            SllVersion::V1 => 16,
            SllVersion::V2 => 20,
        }
    }
}

/// Who the packet was for, as the kernel saw it (`PACKET_*` in
/// `<linux/if_packet.h>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SllPacketType {
    /// Addressed to this host (`PACKET_HOST`, 0).
    Host,
    /// Link-layer broadcast (1).
    Broadcast,
    /// Link-layer multicast (2).
    Multicast,
    /// For another host, seen in promiscuous mode (3).
    OtherHost,
    /// Sent by this host (`PACKET_OUTGOING`, 4).
    Outgoing,
    Unknown(u16),
}

impl From<u16> for SllPacketType {
    fn from(v: u16) -> Self {
        match v {
            0 => SllPacketType::Host,
            1 => SllPacketType::Broadcast,
            2 => SllPacketType::Multicast,
            3 => SllPacketType::OtherHost,
            4 => SllPacketType::Outgoing,
            other => SllPacketType::Unknown(other),
        }
    }
}

/// The most link-layer address bytes the header holds.
pub const MAX_ADDR_LEN: usize = 8;

/// A zero-copy view of a cooked-capture packet. `new_checked` guarantees
/// the whole header is present, so every accessor is panic-free.
#[derive(Debug, Clone)]
pub struct SllPacket<T: AsRef<[u8]>> {
    buffer: T,
    version: SllVersion,
}

impl<T: AsRef<[u8]>> SllPacket<T> {
    pub const fn new_unchecked(buffer: T, version: SllVersion) -> Self {
        SllPacket { buffer, version }
    }

    pub fn new_checked(buffer: T, version: SllVersion) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer, version);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < self.version.header_len() {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> SllVersion {
        self.version
    }

    pub fn packet_type(&self) -> SllPacketType {
        let b = self.buffer.as_ref();
        SllPacketType::from(match self.version {
            SllVersion::V1 => get_u16(b, 0),
            SllVersion::V2 => u16::from(b[10]),
        })
    }

    /// The device's ARPHRD_ type (1: Ethernet, 772: loopback, 65534: none).
    pub fn hardware_type(&self) -> u16 {
        let at = match self.version {
            SllVersion::V1 => 2,
            SllVersion::V2 => 8,
        };
        get_u16(self.buffer.as_ref(), at)
    }

    /// The sender's link-layer address: as many bytes as the length field
    /// says, at most eight (longer addresses are cut by the format).
    pub fn link_addr(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let (len, at) = match self.version {
            SllVersion::V1 => (get_u16(b, 4), 6),
            SllVersion::V2 => (u16::from(b[11]), 12),
        };
        let len = usize::from(len).min(MAX_ADDR_LEN);
        &b[at..at + len]
    }

    /// What the payload is.
    pub fn protocol(&self) -> EtherType {
        let at = match self.version {
            SllVersion::V1 => 14,
            SllVersion::V2 => 0,
        };
        EtherType::from(get_u16(self.buffer.as_ref(), at))
    }

    /// The capturing interface's index (v2 only).
    pub fn interface_index(&self) -> Option<u32> {
        match self.version {
            SllVersion::V1 => None,
            SllVersion::V2 => Some(get_u32(self.buffer.as_ref(), 4)),
        }
    }

    /// The packet after the cooked header, starting with the network layer.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.version.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// v1 header of an outgoing IPv4 packet on an Ethernet device
    /// (02:00:00:00:00:01), then the first payload byte.
    const V1_OUTGOING: [u8; 17] = [
        0x00, 0x04, 0x00, 0x01, 0x00, 0x06, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, //
        0x08, 0x00, 0x45,
    ];

    /// v2 header of an incoming ARP packet on ifindex 7, Ethernet device,
    /// then two payload bytes.
    const V2_HOST_ARP: [u8; 22] = [
        0x08, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x01, 0x00, 0x06, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
    ];

    #[test]
    fn parses_v1_header() {
        let p = SllPacket::new_checked(&V1_OUTGOING[..], SllVersion::V1).unwrap();
        assert_eq!(p.packet_type(), SllPacketType::Outgoing);
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.link_addr(), &[0x02, 0, 0, 0, 0, 0x01]);
        assert_eq!(p.protocol(), EtherType::Ipv4);
        assert_eq!(p.interface_index(), None);
        assert_eq!(p.payload(), &[0x45]);
    }

    #[test]
    fn parses_v2_header() {
        let p = SllPacket::new_checked(&V2_HOST_ARP[..], SllVersion::V2).unwrap();
        assert_eq!(p.packet_type(), SllPacketType::Host);
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.link_addr(), &[0x02, 0, 0, 0, 0, 0x02]);
        assert_eq!(p.protocol(), EtherType::Arp);
        assert_eq!(p.interface_index(), Some(7));
        assert_eq!(p.payload(), &[0x00, 0x01]);
    }

    #[test]
    fn address_length_beyond_eight_is_cut_to_the_field() {
        let mut v1 = V1_OUTGOING;
        v1[5] = 20;
        let p = SllPacket::new_checked(&v1[..], SllVersion::V1).unwrap();
        assert_eq!(p.link_addr().len(), MAX_ADDR_LEN);
        let mut v2 = V2_HOST_ARP;
        v2[11] = 0xff;
        let p = SllPacket::new_checked(&v2[..], SllVersion::V2).unwrap();
        assert_eq!(p.link_addr().len(), MAX_ADDR_LEN);
    }

    #[test]
    fn short_headers_are_truncated_never_a_panic() {
        for len in 0..16 {
            assert_eq!(
                SllPacket::new_checked(&V1_OUTGOING[..len], SllVersion::V1).err(),
                Some(WireError::Truncated)
            );
        }
        for len in 0..20 {
            assert_eq!(
                SllPacket::new_checked(&V2_HOST_ARP[..len], SllVersion::V2).err(),
                Some(WireError::Truncated)
            );
        }
        // A header and nothing else is a packet with an empty payload.
        let p = SllPacket::new_checked(&V2_HOST_ARP[..20], SllVersion::V2).unwrap();
        assert!(p.payload().is_empty());
    }

    #[test]
    fn unknown_packet_types_and_protocols_are_kept() {
        let mut v1 = V1_OUTGOING;
        v1[1] = 9;
        v1[14..16].copy_from_slice(&[0x00, 0x04]);
        let p = SllPacket::new_checked(&v1[..], SllVersion::V1).unwrap();
        assert_eq!(p.packet_type(), SllPacketType::Unknown(9));
        assert_eq!(p.protocol(), EtherType::Unknown(4));
    }
}
