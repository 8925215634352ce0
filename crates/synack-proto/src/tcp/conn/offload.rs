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
//!
//! The receive side is the mirror image: a device that coalesced segments
//! (GRO/LRO, or the kernel's own super-segments over a TAP) hands the stack
//! one segment with the size of the pieces it stands for (`Env::rx_gso`).
//! Sequence space, the window and reassembly see one segment; what counts
//! segments (the receive-MSS estimate, `segs_in`, `data_segs_in`, hence
//! the delayed-ACK rule "every second full-sized segment") sees the pieces,
//! as Linux does from the skb's `gso_size`/`gso_segs` (tcp_input.c
//! `tcp_measure_rcv_mss`, `tcp_segs_in`).

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
    /// Out: what [`Connection::may_transmit`](super::Connection::may_transmit)
    /// says after the segment just written, when a synchronized connection
    /// answered it while writing a segment that may be its last for now
    /// (no payload, PSH or FIN); `None` otherwise.
    pub more: Option<bool>,
    /// Out: the segment just written is a software GSO packet's first
    /// piece (`conn::gso`): its others follow, one per poll, and
    /// [`Connection::poll_piece`](super::Connection::poll_piece) writes
    /// them without the rest of a poll.
    pub packet: bool,
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

/// Segments a received payload of `len` bytes stands for: `len / gso_size`
/// rounded up for a super-packet (`gso_size` nonzero), else one.
pub(super) fn rx_pieces(len: usize, gso_size: u16) -> u32 {
    if gso_size == 0 || len <= usize::from(gso_size) {
        1
    } else {
        u32::try_from(len.div_ceil(usize::from(gso_size))).unwrap_or(u32::MAX)
    }
}

/// The size of the peer's segments a received payload shows (Linux
/// `tcp_measure_rcv_mss`: the skb's `gso_size`, else its length).
pub(super) fn rx_segment_size(len: usize, gso_size: u16) -> u32 {
    if gso_size == 0 || len <= usize::from(gso_size) {
        u32::try_from(len).unwrap_or(u32::MAX)
    } else {
        u32::from(gso_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_super_packet_counts_its_pieces_and_measures_one_piece() {
        assert_eq!(rx_pieces(10_000, 1000), 10);
        assert_eq!(rx_pieces(10_001, 1000), 11);
        assert_eq!(rx_segment_size(10_000, 1000), 1000);
        // A plain segment, or a GSO size that does not cut it.
        assert_eq!(rx_pieces(1448, 0), 1);
        assert_eq!(rx_pieces(0, 0), 1);
        assert_eq!(rx_pieces(1000, 1000), 1);
        assert_eq!(rx_segment_size(1448, 0), 1448);
        assert_eq!(rx_segment_size(500, 1000), 500);
        // A hostile GSO size of 1 on a 64 KiB segment: large, not a panic.
        assert_eq!(rx_pieces(65_495, 1), 65_495);
    }
}
