//! `Tap` (Ethernet frames) and `Tun` (IP packets) over `/dev/net/tun`.
//!
//! Opening one creates the interface in the calling thread's network
//! namespace (or attaches to an existing one of that name), in the mode
//! `IFF_NO_PI`: every read returns exactly one frame, every write sends one,
//! with no 4-byte packet-information prefix. With [`Options::vnet_hdr`] every
//! frame carries a [`VirtioNetHdr`] instead, which lets the kernel hand over
//! 64 KiB TCP super-segments and skip checksums (see `vnet.rs`).

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Ipv4Addr;
use std::ops::BitOr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::{Context, Op};
use crate::iface::{self, Ctl};
use crate::sys::{self, IfReqIoctl, IntIoctl};
use crate::vnet::VirtioNetHdr;

/// The clone device every TAP/TUN is made from.
pub const TUN_PATH: &str = "/dev/net/tun";

/// Largest frame a TAP/TUN with segmentation offload can deliver: a 64 KiB
/// IP packet plus an Ethernet header (plus a VLAN tag, to be safe).
pub const MAX_GSO_FRAME_LEN: usize = 65_535 + 14 + 4;

/// Offloads the stack accepts from the kernel (`TUNSETOFFLOAD`, `TUN_F_*`).
/// Everything but `CSUM` requires `CSUM` (the kernel refuses otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Offloads(u32);

impl Offloads {
    pub const NONE: Offloads = Offloads(0);
    /// Frames may arrive with a partial checksum (`NEEDS_CSUM`).
    pub const CSUM: Offloads = Offloads(libc::TUN_F_CSUM);
    /// TCP/IPv4 super-segments (TSO4).
    pub const TSO4: Offloads = Offloads(libc::TUN_F_TSO4);
    /// TCP/IPv6 super-segments (TSO6).
    pub const TSO6: Offloads = Offloads(libc::TUN_F_TSO6);
    /// TSO with ECN (CWR) handling.
    pub const TSO_ECN: Offloads = Offloads(libc::TUN_F_TSO_ECN);
    /// UDP fragmentation offload (deprecated by the kernel).
    pub const UFO: Offloads = Offloads(libc::TUN_F_UFO);
    /// UDP segmentation offload over IPv4 (Linux 6.2+).
    pub const USO4: Offloads = Offloads(libc::TUN_F_USO4);
    /// UDP segmentation offload over IPv6 (Linux 6.2+).
    pub const USO6: Offloads = Offloads(libc::TUN_F_USO6);
    /// What a TCP stack wants: checksums and TSO for both IP versions, with ECN.
    pub const TCP: Offloads =
        Offloads(libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN);

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn contains(self, other: Offloads) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the kernel may send frames larger than the MTU.
    pub const fn has_segmentation(self) -> bool {
        self.0 & !libc::TUN_F_CSUM != 0
    }
}

impl BitOr for Offloads {
    type Output = Offloads;
    fn bitor(self, rhs: Offloads) -> Offloads {
        Offloads(self.0 | rhs.0)
    }
}

/// How to open a TAP or TUN. `Options::new("synack%d")` lets the kernel
/// number the interface; read the result with `name()`.
#[derive(Clone, Debug)]
pub struct Options {
    name: String,
    nonblocking: bool,
    vnet_hdr_len: Option<usize>,
    offloads: Offloads,
    napi: bool,
}

impl Options {
    /// Create or attach `name`, nonblocking (what an event loop wants), no
    /// virtio-net header. An empty name lets the kernel pick `tapN`/`tunN`.
    pub fn new(name: impl Into<String>) -> Options {
        Options {
            name: name.into(),
            nonblocking: true,
            vnet_hdr_len: None,
            offloads: Offloads::NONE,
            napi: false,
        }
    }

    /// Blocking or nonblocking (`O_NONBLOCK`) reads and writes. Default: nonblocking.
    pub fn nonblocking(mut self, nonblocking: bool) -> Options {
        self.nonblocking = nonblocking;
        self
    }

    /// Prefix every frame with a 10-byte [`VirtioNetHdr`] (`IFF_VNET_HDR`)
    /// and accept `offloads` from the kernel (`TUNSETOFFLOAD`).
    pub fn vnet_hdr(mut self, offloads: Offloads) -> Options {
        self.vnet_hdr_len.get_or_insert(VirtioNetHdr::LEN);
        self.offloads = offloads;
        self
    }

    /// `IFF_NAPI`: the kernel takes the frames written to the device through
    /// a NAPI instance of the device's own, with GRO (Linux 4.15+). Without
    /// it, each `write(2)` runs the kernel's whole receive path for its frame
    /// (IP, TCP, the checksum, the receiving socket's wake-up) inside the
    /// call, on the writer's thread. With it the frames are queued and
    /// taken in batches, which GRO merges into larger TCP segments; see
    /// [`Tap::set_threaded_napi`] to take them on a kernel thread of their
    /// own, off the writer's core. Needs `CAP_NET_ADMIN`. Default: off.
    pub fn napi(mut self, napi: bool) -> Options {
        self.napi = napi;
        self
    }

    /// The virtio-net header length: 10, or 12 with `num_buffers`
    /// (`TUNSETVNETHDRSZ`). Implies `IFF_VNET_HDR`.
    pub fn vnet_hdr_len(mut self, len: usize) -> Options {
        self.vnet_hdr_len = Some(len);
        self
    }

    fn check(&self) -> io::Result<()> {
        if !self.name.is_empty() {
            iface::validate_name(&self.name)?;
        }
        if let Some(len) = self.vnet_hdr_len
            && len != VirtioNetHdr::LEN
            && len != VirtioNetHdr::LEN_MRG
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("virtio-net header length {len}: must be 10 or 12"),
            ));
        }
        if !self.offloads.is_empty() && !self.offloads.contains(Offloads::CSUM) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "segmentation offloads need the checksum offload (Offloads::CSUM) too",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tap,
    Tun,
}

/// What `Tap` and `Tun` share: the queue fd, a control socket in the
/// device's namespace, the name the kernel settled on.
#[derive(Debug)]
struct Queue {
    file: File,
    ctl: Ctl,
    name: String,
    vnet_hdr_len: usize,
    offloads: Offloads,
    /// The MTU as of opening or the last `mtu()`/`set_mtu()` through this handle.
    mtu: AtomicUsize,
}

impl Queue {
    fn open(kind: Kind, opts: &Options) -> io::Result<Queue> {
        opts.check()?;
        let mut open = OpenOptions::new();
        open.read(true).write(true);
        if opts.nonblocking {
            open.custom_flags(libc::O_NONBLOCK);
        }
        let file = open
            .open(TUN_PATH)
            .context(Op::OpenTun, || format!("opening {TUN_PATH}"))?;

        let mut flags = libc::IFF_NO_PI;
        flags |= match kind {
            Kind::Tap => libc::IFF_TAP,
            Kind::Tun => libc::IFF_TUN,
        };
        if opts.vnet_hdr_len.is_some() {
            flags |= libc::IFF_VNET_HDR;
        }
        if opts.napi {
            flags |= libc::IFF_NAPI;
        }
        let mut ifr = iface::ifreq_named(&opts.name);
        // ifr_flags is a short at the start of the union; all IFF_* used fit.
        ifr.ifru[0..2].copy_from_slice(&(flags as i16).to_ne_bytes());
        sys::ioctl_ifreq(file.as_fd(), IfReqIoctl::TunSetIff, &mut ifr)
            .context(Op::SetIff, || format!("TUNSETIFF {}", opts.name))?;
        let name = iface::ifreq_name(&ifr);

        let vnet_hdr_len = opts.vnet_hdr_len.unwrap_or(0);
        if vnet_hdr_len != 0 {
            let fd = file.as_fd();
            // The kernel's default is 10; only set it when different.
            if vnet_hdr_len != VirtioNetHdr::LEN {
                sys::ioctl_int(fd, IntIoctl::TunSetVnetHdrSz, vnet_hdr_len as libc::c_int)
                    .context(Op::Other, || format!("TUNSETVNETHDRSZ {name}"))?;
            }
            // virtio 1.0 byte order. Kernels without TUNSETVNETLE are
            // little-endian-only in practice, where legacy order is the same.
            if let Err(e) = sys::ioctl_int(fd, IntIoctl::TunSetVnetLe, 1)
                && (cfg!(target_endian = "big") || e.raw_os_error() != Some(libc::EINVAL))
            {
                return Err(e).context(Op::Other, || format!("TUNSETVNETLE {name}"));
            }
            sys::tun_set_offload(fd, opts.offloads.bits()).context(Op::Other, || {
                format!("TUNSETOFFLOAD {name} {:#x}", opts.offloads.bits())
            })?;
        }
        let ctl = Ctl::new()?;
        let mtu = AtomicUsize::new(ctl.mtu(&name)?);
        Ok(Queue {
            file,
            ctl,
            name,
            vnet_hdr_len,
            offloads: opts.offloads,
            mtu,
        })
    }

    /// The device's `IFF_*` flags as the kernel holds them (`TUNGETIFF`).
    fn tun_flags(&self) -> io::Result<libc::c_int> {
        let mut ifr = iface::ifreq_named(&self.name);
        sys::ioctl_ifreq(self.file.as_fd(), IfReqIoctl::TunGetIff, &mut ifr)
            .context(Op::Other, || format!("TUNGETIFF {}", self.name))?;
        // ifr_flags is a short at the start of the union (unsigned in the
        // kernel's view: IFF_* of the tun driver go up to 0x8000).
        let flags = u16::from_ne_bytes([ifr.ifru[0], ifr.ifru[1]]);
        Ok(libc::c_int::from(flags))
    }

    fn io_context(&self, what: &str, e: io::Error) -> io::Error {
        // WouldBlock and EINTR are the normal flow of an event loop: keep them cheap.
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => e,
            _ => crate::error::with_context(Op::Other, format!("{what} {}", self.name), e),
        }
    }

    fn recv_vnet(&self, buf: &mut [u8]) -> io::Result<(VirtioNetHdr, usize)> {
        if self.vnet_hdr_len == 0 {
            let n = (&self.file)
                .read(buf)
                .map_err(|e| self.io_context("reading from", e))?;
            return Ok((VirtioNetHdr::default(), n));
        }
        let mut hdr = [0u8; VirtioNetHdr::LEN_MRG];
        let hdr = &mut hdr[..self.vnet_hdr_len];
        let n = (&self.file)
            .read_vectored(&mut [IoSliceMut::new(hdr), IoSliceMut::new(buf)])
            .map_err(|e| self.io_context("reading from", e))?;
        let bad = |e: &dyn std::fmt::Display| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("reading from {}: {e}", self.name),
            )
        };
        if n < self.vnet_hdr_len {
            return Err(bad(&"frame shorter than its virtio-net header"));
        }
        let parsed = VirtioNetHdr::parse(hdr, self.vnet_hdr_len).map_err(|e| bad(&e))?;
        Ok((parsed, n - self.vnet_hdr_len))
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let (mut hdr, n) = self.recv_vnet(buf)?;
        hdr.complete_checksum(&mut buf[..n]).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("reading from {}: {e}", self.name),
            )
        })?;
        Ok(n)
    }

    fn send_vnet(&self, hdr: &VirtioNetHdr, frame: &[u8]) -> io::Result<usize> {
        if self.vnet_hdr_len == 0 {
            if *hdr != VirtioNetHdr::default() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("writing to {}: offloads need Options::vnet_hdr", self.name),
                ));
            }
            return (&self.file)
                .write(frame)
                .map_err(|e| self.io_context("writing to", e));
        }
        let mut bytes = [0u8; VirtioNetHdr::LEN_MRG];
        let bytes = &mut bytes[..self.vnet_hdr_len];
        hdr.emit(bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let n = (&self.file)
            .write_vectored(&[IoSlice::new(bytes), IoSlice::new(frame)])
            .map_err(|e| self.io_context("writing to", e))?;
        // tun takes a whole frame or nothing.
        Ok(n.saturating_sub(self.vnet_hdr_len))
    }

    fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let ms = match timeout {
            None => -1,
            // Round up so a short timeout does not become a busy poll.
            Some(d) => {
                libc::c_int::try_from(d.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
            }
        };
        sys::poll_readable(self.file.as_fd(), ms)
            .context(Op::Other, || format!("poll {}", self.name))
    }

    fn mtu(&self) -> io::Result<usize> {
        let mtu = self.ctl.mtu(&self.name)?;
        self.mtu.store(mtu, Ordering::Relaxed);
        Ok(mtu)
    }

    fn set_mtu(&self, mtu: usize) -> io::Result<()> {
        self.ctl.set_mtu(&self.name, mtu)?;
        self.mtu.store(mtu, Ordering::Relaxed);
        Ok(())
    }

    fn max_frame_len(&self, link_header: usize) -> usize {
        if self.offloads.has_segmentation() {
            MAX_GSO_FRAME_LEN
        } else {
            self.mtu.load(Ordering::Relaxed) + link_header
        }
    }
}

macro_rules! common_methods {
    ($link_header:expr) => {
        /// Open with default [`Options`]: create or attach `name`, nonblocking.
        pub fn open(name: &str) -> io::Result<Self> {
            Self::with_options(&Options::new(name))
        }

        /// The interface's name (the kernel's choice when the name had `%d`).
        pub fn name(&self) -> &str {
            &self.q.name
        }

        /// Receives one frame into `buf`. With a virtio-net header the header
        /// is consumed and a partial checksum is completed in software, so
        /// `buf` always holds a frame with valid checksums (possibly a GSO
        /// super-segment longer than the MTU: size `buf` by `max_frame_len`).
        /// `WouldBlock` when nonblocking and nothing is queued. The kernel
        /// silently cuts a frame longer than `buf`: size it by `max_frame_len`.
        pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
            self.q.recv(buf)
        }

        /// Sends one frame (with an all-zero virtio-net header when enabled).
        /// Returns the frame's length. `WouldBlock` when the queue is full.
        pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
            self.q.send_vnet(&VirtioNetHdr::default(), frame)
        }

        /// Receives one frame and its virtio-net header as the kernel wrote
        /// them (checksum possibly partial). Without `IFF_VNET_HDR` the header
        /// is all zero.
        pub fn recv_vnet(&self, buf: &mut [u8]) -> io::Result<(VirtioNetHdr, usize)> {
            self.q.recv_vnet(buf)
        }

        /// Sends one frame with `hdr` (e.g. a TSO super-segment). Needs
        /// `IFF_VNET_HDR` unless `hdr` is all zero.
        pub fn send_vnet(&self, hdr: &VirtioNetHdr, frame: &[u8]) -> io::Result<usize> {
            self.q.send_vnet(hdr, frame)
        }

        /// The virtio-net header length in use, if any (10 or 12).
        pub fn vnet_hdr_len(&self) -> Option<usize> {
            (self.q.vnet_hdr_len != 0).then_some(self.q.vnet_hdr_len)
        }

        /// The offloads accepted from the kernel.
        pub fn offloads(&self) -> Offloads {
            self.q.offloads
        }

        /// Switches `O_NONBLOCK`.
        pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
            sys::set_nonblocking(self.q.file.as_fd(), nonblocking)
                .context(Op::Other, || format!("F_SETFL {}", self.q.name))
        }

        /// Waits until a frame can be read, or `timeout` passes (`None`:
        /// forever). Returns whether one can. For simple loops and tests;
        /// event loops poll `as_raw_fd()` themselves.
        pub fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
            self.q.wait_readable(timeout)
        }

        /// The interface MTU (IP bytes, without the link header), as `ip link`
        /// shows it, asked from the kernel (`SIOCGIFMTU`).
        pub fn mtu(&self) -> io::Result<usize> {
            self.q.mtu()
        }

        /// The MTU as of opening or the last `mtu()`/`set_mtu()` through this
        /// handle, without a system call. Changes made by others (`ip link set
        /// mtu`) show only after `mtu()`.
        pub fn cached_mtu(&self) -> usize {
            self.q.mtu.load(Ordering::Relaxed)
        }

        /// Sets the interface MTU (`SIOCSIFMTU`).
        pub fn set_mtu(&self, mtu: usize) -> io::Result<()> {
            self.q.set_mtu(mtu)
        }

        /// The longest frame `recv` can return: [`cached_mtu`](Self::cached_mtu)
        /// plus the link header, or [`MAX_GSO_FRAME_LEN`] with segmentation offloads.
        pub fn max_frame_len(&self) -> usize {
            self.q.max_frame_len($link_header)
        }

        /// Gives the kernel's side of the link an IPv4 address and prefix
        /// (`SIOCSIFADDR`, `SIOCSIFNETMASK`), which also installs the route
        /// to the prefix through this interface once it is up.
        pub fn set_kernel_addr(&self, addr: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
            self.q.ctl.set_addr(&self.q.name, addr, prefix_len)
        }

        /// Brings the interface up (`IFF_UP`).
        pub fn set_up(&self) -> io::Result<()> {
            self.q.ctl.set_up(&self.q.name, true)
        }

        /// Takes the interface down.
        pub fn set_down(&self) -> io::Result<()> {
            self.q.ctl.set_up(&self.q.name, false)
        }

        /// Whether the interface is up.
        pub fn is_up(&self) -> io::Result<bool> {
            Ok(self.q.ctl.flags(&self.q.name)? & libc::IFF_UP as i16 != 0)
        }

        /// Whether the kernel takes written frames through NAPI
        /// ([`Options::napi`]), asked from the kernel (`TUNGETIFF`).
        pub fn napi(&self) -> io::Result<bool> {
            Ok(self.q.tun_flags()? & libc::IFF_NAPI != 0)
        }

        /// Runs the interface's NAPI instances in kernel threads of their
        /// own ("threaded NAPI", `/sys/class/net/<name>/threaded`, Linux
        /// 5.12+), which the scheduler may place on another core, instead of
        /// in the softirq of the writing thread. With [`Options::napi`] the
        /// kernel's receive path for the frames written here then runs
        /// beside the writer rather than inside its `write(2)` calls, in
        /// batches. Works in any network namespace (the attribute is
        /// reached through a private sysfs); needs root.
        pub fn set_threaded_napi(&self, threaded: bool) -> io::Result<()> {
            crate::sysfs::write(&self.q.name, "threaded", if threaded { "1" } else { "0" })
        }

        /// Whether the interface's NAPI instances run in threads of their own.
        pub fn threaded_napi(&self) -> io::Result<bool> {
            let value = crate::sysfs::read(&self.q.name, "threaded")?;
            Ok(value != "0")
        }
    };
}

/// A TAP device: Ethernet frames (`IFF_TAP | IFF_NO_PI`).
#[derive(Debug)]
pub struct Tap {
    q: Queue,
}

impl Tap {
    /// Opens `/dev/net/tun` and creates or attaches the TAP named in `opts`.
    pub fn with_options(opts: &Options) -> io::Result<Tap> {
        Ok(Tap {
            q: Queue::open(Kind::Tap, opts)?,
        })
    }

    common_methods!(14);

    /// The kernel side's MAC address (`SIOCGIFHWADDR`): the source address
    /// of the frames the kernel sends on this link.
    pub fn hw_addr(&self) -> io::Result<[u8; 6]> {
        self.q.ctl.hw_addr(&self.q.name)
    }
}

/// A TUN device: IP packets, no link header (`IFF_TUN | IFF_NO_PI`).
#[derive(Debug)]
pub struct Tun {
    q: Queue,
}

impl Tun {
    /// Opens `/dev/net/tun` and creates or attaches the TUN named in `opts`.
    pub fn with_options(opts: &Options) -> io::Result<Tun> {
        Ok(Tun {
            q: Queue::open(Kind::Tun, opts)?,
        })
    }

    common_methods!(0);
}

macro_rules! fd_impls {
    ($t:ty) => {
        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.q.file.as_raw_fd()
            }
        }

        impl AsFd for $t {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.q.file.as_fd()
            }
        }
    };
}

fd_impls!(Tap);
fd_impls!(Tun);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_reject_bad_names_before_touching_the_kernel() {
        for bad in ["this-name-is-too-long", "a/b", "a b", "x%d%d"] {
            let err = Tap::open(bad).expect_err(bad);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
            let err = Tun::open(bad).expect_err(bad);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
        }
    }

    #[test]
    fn options_reject_inconsistent_offloads() {
        let err = Options::new("x")
            .vnet_hdr(Offloads::TSO4)
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("CSUM"), "{err}");
        let err = Options::new("x").vnet_hdr_len(11).check().unwrap_err();
        assert!(err.to_string().contains("10 or 12"), "{err}");
        assert!(Options::new("x").vnet_hdr(Offloads::TCP).check().is_ok());
        assert!(Options::new("").check().is_ok());
    }

    #[test]
    fn devices_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Tap>();
        send_sync::<Tun>();
    }

    #[test]
    fn offload_bits_match_linux() {
        assert_eq!(Offloads::TCP.bits(), 0x0f);
        assert!(Offloads::TCP.contains(Offloads::TSO4 | Offloads::CSUM));
        assert!(!Offloads::CSUM.has_segmentation());
        assert!(Offloads::TCP.has_segmentation());
    }
}
