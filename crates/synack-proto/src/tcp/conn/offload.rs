//! Segmentation and checksum offload on the send side, as a connection
//! sees it: how big a segment the stack lets it write, and what it wrote.
//!
//! Read first: virtio 1.0 §5.1.6.2 (a driver hands the device a packet with
//! `VIRTIO_NET_HDR_F_NEEDS_CSUM` and a partial checksum, and for TSO a
//! "super-segment" that the device cuts into `gso_size` pieces), RFC 9293
//! §3.1 (the checksum over the pseudo-header).
//!
//! With TSO the connection sends one segment of up to 64 KiB holding a
//! whole number of MSS-sized pieces. Everything that counts segments
//! (the scoreboard, RACK, pipe, cwnd, the MIB counters) counts the pieces:
//! the peer receives N segments, so N segments were sent.

/// What the stack allows for the segment a connection writes next (set
/// before `poll_transmit`), and what it did (read after). Default: no
/// offloads, full checksums, MSS-sized segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOffload {
    /// The largest TCP segment (header and data) a data segment may be;
    /// 0 when segmentation offload is off.
    pub max_segment: u32,
    /// A data segment may leave its checksum partial: the field holds the
    /// pseudo-header sum and the device sums the rest.
    pub csum: bool,
    /// Out: the segment just written is a super-segment to be cut into
    /// pieces of this many data bytes (the MSS); 0 for a normal segment.
    pub gso_size: u16,
    /// Out: the segment just written has a partial checksum.
    pub partial: bool,
    /// Out: the IP ECN field for the segment just written (RFC 3168
    /// §6.1.2: ECT(0) on new data of an ECN connection, else Not-ECT).
    pub ecn: crate::tcp::ecn::Ecn,
}

impl TxOffload {
    /// How many MSS-sized pieces a super-segment may hold: the room for
    /// data after the largest TCP header (60 bytes), in whole MSS.
    pub fn max_pieces(&self, mss: u32) -> u32 {
        if self.max_segment == 0 || mss == 0 {
            return 1;
        }
        (self.max_segment.saturating_sub(60) / mss).max(1)
    }
}

/// Pieces a segment of `len` data bytes is on the wire: one for a normal
/// segment, `len / mss` (rounded up) for a super-segment.
pub(super) fn pieces(len: u32, mss: u32) -> u32 {
    if mss == 0 || len <= mss {
        1
    } else {
        len.div_ceil(mss)
    }
}
