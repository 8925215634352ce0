//! Wire formats: Ethernet II, ARP, IPv4, ICMPv4, IGMP, UDP, TCP (with every option),
//! the Internet checksum, pcap capture files and Linux cooked-capture headers.
//!
//! Each format has two layers, as in smoltcp: a zero-copy view over any byte
//! buffer (`XxxPacket<T: AsRef<[u8]>>`), whose constructor checks lengths so
//! every accessor is panic-free, and a validated semantic representation
//! (`XxxRepr`) with `parse`, `emit` and `buffer_len`. Malformed input is an
//! error value, never a panic and never an endless loop.
//!
//! Emitting is the caller's side of the contract: `emit` writes into a view
//! built with `new_unchecked` over a buffer of at least `buffer_len()` bytes
//! and panics (API misuse, not wire input) when the buffer is shorter.
//!
//! Byte order: every multi-byte field is big-endian ("network order",
//! RFC 1700); the views convert on access.

use core::fmt;

pub mod arp;
pub mod checksum;
pub mod ethernet;
#[doc(hidden)]
pub mod fuzz;
pub mod icmpv4;
pub mod igmp;
pub mod ipv4;
pub mod pcap;
pub mod sll;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use checksum::Checksum;
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmpv4::{DstUnreachable, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub use sll::{SllPacket, SllPacketType, SllVersion};
pub use tcp::{
    FastOpenCookie, FastOpenOption, SackBlocks, TcpFlags, TcpOption, TcpOptionIter, TcpOptions,
    TcpPacket, TcpRepr, TcpTimestamp,
};
pub use udp::{UdpPacket, UdpRepr};

/// Why a buffer could not be read as a packet. Every variant means "drop it"
/// to the stack; the variant says which counter to bump and whom to blame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer ends before the header does, or before a length field inside
    /// it says the packet ends (an IPv4 total length, a TCP data offset, a UDP
    /// length). Often a capture snap length or a broken sender.
    Truncated,
    /// A field holds a value the format forbids: IPv4 version 6 in an IPv4
    /// header, IHL below 5, a TCP data offset below 5, a TCP option with
    /// length 0 or 1 or one that overruns the option space, an MSS option of
    /// length 3, a UDP length below 8. The sender is broken or hostile.
    Malformed,
    /// The Internet checksum does not verify: corrupted in flight (or by a
    /// hostile sender). Only reported when parsing with [`Checksum::Full`].
    BadChecksum,
    /// Well-formed, but something synack does not handle: ARP for a hardware
    /// or protocol type other than Ethernet/IPv4. Not the peer's fault.
    Unsupported,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated packet",
            WireError::Malformed => "malformed packet",
            WireError::BadChecksum => "bad checksum",
            WireError::Unsupported => "unsupported packet",
        })
    }
}

impl core::error::Error for WireError {}

/// The rule for a length that a header declares about itself (an IPv4 IHL or
/// total length, a TCP data offset, a UDP length): below `min` bytes the
/// field is impossible ([`WireError::Malformed`]); beyond the `available`
/// bytes the buffer ends too soon ([`WireError::Truncated`]).
#[inline]
pub(crate) fn check_declared_len(
    declared: usize,
    min: usize,
    available: usize,
) -> Result<(), WireError> {
    if declared < min {
        Err(WireError::Malformed)
    } else if declared > available {
        Err(WireError::Truncated)
    } else {
        Ok(())
    }
}

/// Reads a big-endian `u16` at `at`. Callers have checked the length.
#[inline]
pub(crate) fn get_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Reads a big-endian `u32` at `at`. Callers have checked the length.
#[inline]
pub(crate) fn get_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[inline]
pub(crate) fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
pub(crate) mod test_util {
    /// A buffer of `len` junk bytes, so an emit that forgets a field shows.
    pub fn junk(len: usize) -> Vec<u8> {
        vec![0xAA; len]
    }
}
