//! Every `unsafe` block of synack-tap lives in this module.
//!
//! Each function wraps exactly one system call whose arguments are fully
//! determined by safe Rust types: a borrowed file descriptor (valid for the
//! call by construction), a request code chosen from a closed enum (so the
//! kernel's expectation about the argument is known here, not at the call
//! site), and a pointer to memory owned by the caller for the whole call.
//! Everything else (names, addresses, flags, byte layouts) is done in safe
//! code elsewhere.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `struct ifreq` as the kernel sees it: a 16-byte name and a union, here
/// an opaque byte array so that reading and writing it needs no `unsafe`
/// (see `iface.rs` for the layouts of the union members we use).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct IfReq {
    pub name: [u8; libc::IFNAMSIZ],
    pub ifru: [u8; IFRU_LEN],
    // Zero-sized: gives the struct the union's alignment (it holds pointers).
    _align: [libc::c_ulong; 0],
}

pub(crate) const IFRU_LEN: usize = core::mem::size_of::<libc::ifreq>() - libc::IFNAMSIZ;

// The kernel copies exactly sizeof(struct ifreq) bytes in and out.
const _: () = assert!(core::mem::size_of::<IfReq>() == core::mem::size_of::<libc::ifreq>());

impl IfReq {
    pub(crate) fn zeroed() -> Self {
        IfReq {
            name: [0; libc::IFNAMSIZ],
            ifru: [0; IFRU_LEN],
            _align: [],
        }
    }
}

/// The ioctls that take a `struct ifreq *` and read/write at most that struct.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IfReqIoctl {
    /// On a `/dev/net/tun` fd: create or attach the interface named in `ifr_name`.
    TunSetIff,
    /// On an attached `/dev/net/tun` fd: the interface's name and `IFF_*` flags.
    TunGetIff,
    SiocGIfFlags,
    SiocSIfFlags,
    SiocSIfAddr,
    SiocSIfNetmask,
    SiocGIfMtu,
    SiocSIfMtu,
    SiocGIfHwAddr,
}

impl IfReqIoctl {
    // The casts are no-ops on glibc but not on musl (`Ioctl` is `c_int` there).
    #[allow(clippy::unnecessary_cast)]
    fn request(self) -> libc::Ioctl {
        // The SIOC* constants are `c_ulong` in libc while `Ioctl` is the
        // libc-specific request type; the values all fit in 16 bits.
        (match self {
            IfReqIoctl::TunSetIff => libc::TUNSETIFF as u64,
            IfReqIoctl::TunGetIff => libc::TUNGETIFF as u64,
            IfReqIoctl::SiocGIfFlags => libc::SIOCGIFFLAGS as u64,
            IfReqIoctl::SiocSIfFlags => libc::SIOCSIFFLAGS as u64,
            IfReqIoctl::SiocSIfAddr => libc::SIOCSIFADDR as u64,
            IfReqIoctl::SiocSIfNetmask => libc::SIOCSIFNETMASK as u64,
            IfReqIoctl::SiocGIfMtu => libc::SIOCGIFMTU as u64,
            IfReqIoctl::SiocSIfMtu => libc::SIOCSIFMTU as u64,
            IfReqIoctl::SiocGIfHwAddr => libc::SIOCGIFHWADDR as u64,
        }) as libc::Ioctl
    }
}

pub(crate) fn ioctl_ifreq(fd: BorrowedFd<'_>, req: IfReqIoctl, ifr: &mut IfReq) -> io::Result<()> {
    // SAFETY: `fd` is open for the duration of the call; `ifr` is a valid,
    // exclusively borrowed `struct ifreq`, the only memory these requests touch.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req.request(), ifr as *mut IfReq) };
    check(rc)
}

/// The tun ioctls that read one `int` through a pointer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IntIoctl {
    TunSetVnetHdrSz,
    TunSetVnetLe,
}

pub(crate) fn ioctl_int(fd: BorrowedFd<'_>, req: IntIoctl, value: libc::c_int) -> io::Result<()> {
    let request = match req {
        IntIoctl::TunSetVnetHdrSz => libc::TUNSETVNETHDRSZ,
        IntIoctl::TunSetVnetLe => libc::TUNSETVNETLE,
    };
    // SAFETY: `fd` is open; the kernel reads one int from `&value`, which
    // lives on our stack for the whole call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, &value as *const libc::c_int) };
    check(rc)
}

/// `TUNSETOFFLOAD`: the flags travel in the argument itself, not behind a pointer.
pub(crate) fn tun_set_offload(fd: BorrowedFd<'_>, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: `fd` is open; TUNSETOFFLOAD takes its argument by value and
    // dereferences nothing.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(flags),
        )
    };
    check(rc)
}

/// Sets or clears `O_NONBLOCK` (std has no safe way for a `File`).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    // SAFETY: F_GETFL takes no argument; `fd` is open.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    check(flags)?;
    let new = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new == flags {
        return Ok(());
    }
    // SAFETY: F_SETFL takes an int by value; `fd` is open.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) })
}

/// Waits until `fd` is readable or `timeout_ms` passes (-1: forever).
/// Returns whether it is readable.
/// `setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &value)`.
pub(crate) fn set_rcvlowat(fd: BorrowedFd<'_>, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is valid for the call; the option value is a c_int that
    // lives across the call, and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const value).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: libc::c_int) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid `pollfd` on our stack, count 1; `fd` is open.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        match check(rc) {
            Ok(()) => return Ok(rc > 0 && pfd.revents & (libc::POLLIN | libc::POLLERR) != 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// poll(2) on `pfds`: waits until one is ready or `timeout_ms` passes (-1:
/// forever). Returns how many have `revents` set (0 also after a signal).
pub(crate) fn poll(pfds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    let count = libc::nfds_t::try_from(pfds.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many fds to poll"))?;
    // SAFETY: `pfds` is an exclusively borrowed array of `count` valid
    // `pollfd`s for the whole call; the kernel writes only their `revents`.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), count, timeout_ms) };
    match check(rc) {
        // Non-negative here.
        Ok(()) => Ok(usize::try_from(rc).unwrap_or(0)),
        // A signal: nothing is ready; the caller recomputes its timeout.
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

/// An `AF_INET` datagram socket: the handle the `SIOC*IF*` ioctls need. It
/// belongs to the network namespace of the thread that creates it.
pub(crate) fn inet_control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain constants, no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(fd)?;
    // SAFETY: `fd` was just returned by socket(2), is valid and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Moves the calling thread into a new, empty network namespace.
pub(crate) fn unshare_net() -> io::Result<()> {
    // SAFETY: no pointers; affects only the calling thread's namespaces.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) })
}

/// Moves the calling thread into a new mount namespace, a copy of its
/// current one, and makes every mount in it private, so that what the
/// thread mounts from now on is seen by no other thread or process.
pub(crate) fn unshare_mounts_private() -> io::Result<()> {
    // SAFETY: no pointers; affects only the calling thread (the kernel gives
    // it its own copy of the filesystem context first).
    check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
    // SAFETY: a propagation change takes no source, type or data (null is
    // allowed); the target is a NUL-terminated literal.
    check(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    })
}

/// Mounts a sysfs over `/sys` in the calling thread's mount namespace. Its
/// `class/net` shows the interfaces of the thread's network namespace.
/// Only after [`unshare_mounts_private`]: it hides the system's `/sys` from
/// whoever shares the namespace.
pub(crate) fn mount_sysfs_over_sys() -> io::Result<()> {
    // SAFETY: NUL-terminated literals; sysfs takes no data (null).
    check(unsafe {
        libc::mount(
            c"sysfs".as_ptr(),
            c"/sys".as_ptr(),
            c"sysfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    })
}

pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
