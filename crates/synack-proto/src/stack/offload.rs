//! Send-side offloads per interface: TCP segmentation offload (TSO) and
//! checksum offload, for drivers whose device does them (a TAP opened with
//! a virtio-net header, virtio 1.0 §5.1.6.2).
//!
//! Off by default. With them on, [`Stack::poll_transmit_offloaded`] may
//! return a TCP segment of up to 64 KiB holding whole MSS-sized pieces and
//! data segments whose checksum holds only the pseudo-header sum; each such
//! frame comes with the [`FrameOffload`] a driver turns into its device's
//! metadata. [`Stack::poll_transmit`] never uses them, so a driver that
//! does not read the metadata cannot send a frame it does not understand.
//!
//! Receive side: [`Stack::handle_frame_rx`] takes a frame with the
//! [`RxOffload`] metadata its device gave (a trusted checksum, the GSO size
//! of a GRO super-packet).

use super::{IfaceId, Stack};
use crate::tcp::conn::offload::TxOffload;
use crate::wire::ipv4::HEADER_LEN as IP_HEADER_LEN;

/// The largest IPv4 datagram: its total length is a 16-bit field.
const MAX_DATAGRAM: usize = 65_535;
/// Where the checksum field sits in a TCP header (RFC 9293 §3.1).
const TCP_CHECKSUM_OFFSET: u16 = 16;

/// Which send-side offloads an interface's device does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Offloads {
    /// TCP segmentation offload: the device cuts super-segments (implies `csum`).
    pub tso: bool,
    /// Checksum offload: the device finishes partial TCP checksums.
    pub csum: bool,
}

/// What a driver must tell its device about one frame: the checksum to
/// finish and, for a super-segment, how to cut it. Offsets are from the
/// start of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameOffload {
    /// Where the checksummed region (the TCP header) starts.
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
    /// Bytes of headers (link, IP, TCP with options) before the data.
    pub hdr_len: u16,
    /// Data bytes per piece (the MSS) for a super-segment (TSO over IPv4);
    /// 0 for a frame that is sent as it is.
    pub gso_size: u16,
}

/// What a device says about a frame it received (virtio 1.0 §5.1.6.4: the
/// header the device writes before each received packet), for
/// [`Stack::handle_frame_rx`]. Default: nothing is vouched for, the frame
/// is one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RxOffload {
    /// The device vouches for the TCP checksum: `DATA_VALID` (it checked
    /// it) or `NEEDS_CSUM` (a local sender left it partial: the kernel over
    /// a TAP with offloads). The IP header checksum is still checked.
    pub csum_trusted: bool,
    /// The frame is a receive-offload super-packet (GRO/LRO, virtio
    /// `gso_size` with `GSO_TCPV4`): a TCP segment that stands for
    /// consecutive segments of this many data bytes each, the last maybe
    /// shorter. TCP takes it as one segment for sequence space and as
    /// `ceil(len / gso_size)` segments for everything that counts segments
    /// (its receive MSS estimate, `segs_in`, delayed ACKs). Ignored when it
    /// is 0 or not smaller than the payload (a device marks only packets
    /// larger than one segment), and for anything but TCP.
    pub gso_size: Option<u16>,
}

impl RxOffload {
    /// The segment size a TCP payload of `len` bytes stands for: 0 when it
    /// is one plain segment.
    pub(crate) fn tcp_gso_size(&self, len: usize) -> u16 {
        match self.gso_size {
            Some(g) if g > 0 && usize::from(g) < len => g,
            _ => 0,
        }
    }
}

/// One frame from [`Stack::poll_transmit_offloaded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transmit {
    pub iface: IfaceId,
    /// Bytes of the frame at the front of the buffer.
    pub len: usize,
    /// `Some` when the frame's checksum is partial (and it may be a
    /// super-segment): the device must finish it.
    pub offload: Option<FrameOffload>,
}

impl Stack {
    /// Sets which send-side offloads `iface`'s device does (see the module
    /// docs). Unknown interfaces are ignored.
    pub fn set_offloads(&mut self, iface: IfaceId, offloads: Offloads) {
        if let Some(i) = self.ifaces.get_mut(usize::from(iface.0)) {
            i.offloads = offloads;
        }
    }

    /// The offloads set on `iface`.
    pub fn offloads(&self, iface: IfaceId) -> Offloads {
        self.ifaces
            .get(usize::from(iface.0))
            .map(|i| i.offloads)
            .unwrap_or_default()
    }

    /// [`Stack::poll_transmit_on`] for a driver that uses offloads: `buf`
    /// should hold 64 KiB plus the link header for TSO (a smaller buffer
    /// gets smaller super-segments). Frames that need the device's help
    /// say so in [`Transmit::offload`].
    #[must_use]
    pub fn poll_transmit_offloaded(
        &mut self,
        now: crate::Instant,
        buf: &mut [u8],
    ) -> Option<Transmit> {
        self.offload_call = true;
        self.tx_offload = None;
        let frame = self.poll_transmit_on(now, buf);
        self.offload_call = false;
        let offload = self.tx_offload.take();
        frame.map(|(iface, len)| Transmit {
            iface,
            len,
            offload,
        })
    }

    /// What a connection may do with its next segment on interface `iface`
    /// (`l2`: its link header's length; `buf_len`: the whole buffer's).
    pub(super) fn tx_allowance(
        &self,
        iface: Option<usize>,
        l2: usize,
        buf_len: usize,
    ) -> TxOffload {
        let Some(o) = iface
            .filter(|_| self.offload_call)
            .and_then(|i| self.ifaces.get(i))
            .map(|i| i.offloads)
        else {
            return TxOffload::default();
        };
        let max_segment = if o.tso {
            let room = buf_len.saturating_sub(l2).min(MAX_DATAGRAM);
            u32::try_from(room.saturating_sub(IP_HEADER_LEN)).unwrap_or(0)
        } else {
            0
        };
        TxOffload {
            max_segment,
            csum: o.csum || o.tso,
            ..TxOffload::default()
        }
    }

    /// Records what the connection did with its allowance, for the frame
    /// `transmit_conn` returns (`l2`: link header; `tcp_header`: its length).
    pub(super) fn note_tx_offload(&mut self, l2: usize, tcp_header: usize) {
        let tx = core::mem::take(&mut self.env.tx);
        if !tx.partial {
            return;
        }
        let csum_start = (l2 + IP_HEADER_LEN) as u16;
        self.tx_offload = Some(FrameOffload {
            csum_start,
            csum_offset: TCP_CHECKSUM_OFFSET,
            hdr_len: csum_start + tcp_header as u16,
            gso_size: tx.gso_size,
        });
    }
}
