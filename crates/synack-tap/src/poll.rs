//! Waiting on several file descriptors at once, safely: what an event loop
//! needs to sleep on a device and a wake-up channel together.
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use std::os::unix::net::UnixDatagram;
//! use std::time::Duration;
//! # fn main() -> std::io::Result<()> {
//! let tun = synack_tap::Tun::open("synack%d")?;
//! let (_bell, wake) = UnixDatagram::pair()?;
//! let [frame, rung] =
//!     synack_tap::poll::wait_readable([tun.as_fd(), wake.as_fd()], Some(Duration::from_millis(40)))?;
//! # let _ = (frame, rung);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use crate::sys;

/// Waits until at least one of `fds` can be read (or has an error or a
/// hangup, so the read reports it), or `timeout` passes (`None`: forever).
/// Returns which are ready; all `false` after the timeout or a signal.
///
/// Timeouts round up to whole milliseconds, so a short wait never becomes a
/// busy loop.
pub fn wait_readable<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Option<Duration>,
) -> io::Result<[bool; N]> {
    let mut pfds = fds.map(|fd| libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    sys::poll(&mut pfds, timeout_ms(timeout))?;
    Ok(pfds.map(|p| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0))
}

/// poll(2)'s timeout: -1 for none, else milliseconds rounded up.
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => libc::c_int::try_from(d.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX),
    }
}

/// Sets a socket's receive low-water mark (`SO_RCVLOWAT`): a blocking read
/// waits until `bytes` are queued (or the stream ends) instead of waking
/// for every segment. For the kernel-side peers of tests and benchmarks.
pub fn set_rcvlowat(socket: &impl std::os::fd::AsFd, bytes: usize) -> std::io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    crate::sys::set_rcvlowat(socket.as_fd(), value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn timeouts_round_up_to_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(40_001))), 41);
        assert_eq!(
            timeout_ms(Some(Duration::from_secs(u64::MAX))),
            libc::c_int::MAX
        );
    }

    #[test]
    fn reports_which_fds_are_readable() {
        let (a, b) = UnixDatagram::pair().unwrap();
        let (c, d) = UnixDatagram::pair().unwrap();
        // Nothing to read: the zero timeout passes.
        let ready = wait_readable([b.as_fd(), d.as_fd()], Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, [false, false]);
        c.send(b"x").unwrap();
        let ready = wait_readable([b.as_fd(), d.as_fd()], None).unwrap();
        assert_eq!(ready, [false, true]);
        a.send(b"y").unwrap();
        let ready = wait_readable([b.as_fd(), d.as_fd()], None).unwrap();
        assert_eq!(ready, [true, true]);
    }

    #[test]
    fn a_closed_peer_counts_as_readable() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(a);
        let ready = wait_readable([b.as_fd()], Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, [true]);
    }
}
