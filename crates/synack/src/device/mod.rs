//! Devices: where the driver gets frames from and sends frames to.
//!
//! A [`Device`] is nonblocking and frame-at-a-time. The driver waits until
//! its [`fd`](Device::fd) is readable or its
//! [`poll_timeout`](Device::poll_timeout) (or the stack's) passes, then calls
//! [`recv`](Device::recv) until it returns `Ok(None)`.
//!
//! Devices compose by wrapping: `Capture<Impaired<Tap>>` records what the
//! stack sent and received before the impairments, `Impaired<Capture<Tap>>`
//! records what crossed the wire.
//!
//! Implementations here: [`synack_tap::Tap`] (Ethernet), [`synack_tap::Tun`]
//! (IP) and the in-memory [`Pipe`] (with an fd to wait on when made by
//! [`Pipe::pollable_pair`]).

mod pipe;
mod tap;

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use synack_proto::stack::{FrameOffload, Offloads, RxOffload};

pub use pipe::{Pipe, PipeStats};

/// What a device carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Medium {
    /// Ethernet II frames (a TAP): the stack resolves neighbours with ARP.
    Ethernet,
    /// Bare IP packets (a TUN): no link header, no ARP.
    Ip,
}

impl Medium {
    /// Length of the link header in front of the IP packet.
    pub const fn header_len(self) -> usize {
        match self {
            Medium::Ethernet => 14,
            Medium::Ip => 0,
        }
    }

    /// The pcap LINKTYPE: 1 (Ethernet) or 101 (raw IP).
    pub const fn pcap_link_type(self) -> u32 {
        match self {
            Medium::Ethernet => 1,
            Medium::Ip => 101,
        }
    }
}

/// A network device, nonblocking, one frame per call.
pub trait Device {
    /// Ethernet or IP.
    fn medium(&self) -> Medium;

    /// The link MTU: the largest IP packet, without link header (as Linux counts it).
    fn mtu(&self) -> usize;

    /// The largest frame [`recv`](Device::recv) can return and
    /// [`send`](Device::send) accepts; size receive buffers by it. MTU plus
    /// link header unless the device does segmentation offload.
    fn max_frame_len(&self) -> usize {
        self.mtu() + self.medium().header_len()
    }

    /// Receives one frame into `buf`: `Ok(Some(len))`, or `Ok(None)` when
    /// nothing is ready now. Errors are real failures (`InvalidInput` if
    /// `buf` is shorter than [`max_frame_len`](Device::max_frame_len) and a
    /// longer frame came).
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;

    /// Sends one frame. A device whose queue is full either drops the frame
    /// (like a NIC; in-memory devices do, and count it) or returns
    /// `WouldBlock` (TAP/TUN), which the driver may treat as a drop: TCP
    /// retransmits.
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;

    /// A file descriptor that polls readable when `recv` may have a frame;
    /// `None` for in-memory devices without one (the driver then relies on
    /// `poll_timeout` and on calling `recv` after every send to a peer in the
    /// same process). A driver that sleeps without holding the device keeps
    /// a duplicate (`try_clone_to_owned`).
    fn fd(&self) -> Option<BorrowedFd<'_>>;

    /// When a device that holds frames (delay, reordering) wants `recv`
    /// called again even if its fd is not readable. `None`: no such time.
    fn poll_timeout(&self) -> Option<Instant>;

    /// [`recv`](Device::recv) with what the device says about the frame
    /// ([`RxOffload`]): a checksum it vouches for, the GSO size of a
    /// receive-offload super-packet. The default says nothing; wrappers
    /// keep it, as they keep plain frames on the send side.
    fn recv_offloaded(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, RxOffload)>> {
        Ok(self.recv(buf)?.map(|n| (n, RxOffload::default())))
    }

    /// Send-side offloads the device does for the stack (TSO, checksum):
    /// none unless a device says so. Wrappers keep the default, so a
    /// capture or an impairment always sees whole, plain frames.
    fn tx_offloads(&self) -> Offloads {
        Offloads::default()
    }

    /// Sends one frame the stack left for the device to finish (a partial
    /// checksum, maybe a TSO super-segment), described by `offload`. Only
    /// called when [`tx_offloads`](Device::tx_offloads) enables something.
    fn send_offloaded(&mut self, frame: &[u8], offload: FrameOffload) -> io::Result<()> {
        let _ = (frame, offload);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this device does no send offloads",
        ))
    }

    /// Writes out anything buffered (a capture file); the driver calls it
    /// when it stops.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The methods of a `Device` impl that hands every call to `**self`
/// (references and boxes), so a new trait method is forwarded in one place.
macro_rules! forward_device {
    () => {
        fn medium(&self) -> Medium {
            (**self).medium()
        }
        fn mtu(&self) -> usize {
            (**self).mtu()
        }
        fn max_frame_len(&self) -> usize {
            (**self).max_frame_len()
        }
        fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
            (**self).recv(buf)
        }
        fn send(&mut self, frame: &[u8]) -> io::Result<()> {
            (**self).send(frame)
        }
        fn fd(&self) -> Option<BorrowedFd<'_>> {
            (**self).fd()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            (**self).poll_timeout()
        }
        fn recv_offloaded(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, RxOffload)>> {
            (**self).recv_offloaded(buf)
        }
        fn tx_offloads(&self) -> Offloads {
            (**self).tx_offloads()
        }
        fn send_offloaded(&mut self, frame: &[u8], offload: FrameOffload) -> io::Result<()> {
            (**self).send_offloaded(frame, offload)
        }
        fn flush(&mut self) -> io::Result<()> {
            (**self).flush()
        }
    };
}

impl<D: Device + ?Sized> Device for &mut D {
    forward_device!();
}

impl<D: Device + ?Sized> Device for Box<D> {
    forward_device!();
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
