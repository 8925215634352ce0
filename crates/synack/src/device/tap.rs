//! `Device` for the Linux TAP (Ethernet) and TUN (IP) devices of synack-tap.
//!
//! With a virtio-net header, frames from the kernel may be GSO
//! super-segments longer than the MTU (`max_frame_len` says so) and arrive
//! with their checksums completed in software, so the stack always sees
//! valid frames. Sending uses no offload (an all-zero header); TSO from the
//! stack's side is available through `Tap::send_vnet` for a driver that
//! knows how to use it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use synack_tap::{Tap, Tun};

use super::{Device, Medium};

/// The kernel cuts a frame to the read buffer without saying so; refuse
/// buffers that could cut one rather than hand the stack a truncated frame.
fn check_buf(buf: &[u8], max_frame_len: usize) -> io::Result<()> {
    if buf.len() < max_frame_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "receive buffer of {} bytes: frames may be {max_frame_len} long",
                buf.len()
            ),
        ));
    }
    Ok(())
}

fn nonblocking(r: io::Result<usize>) -> io::Result<Option<usize>> {
    match r {
        Ok(n) => Ok(Some(n)),
        // EINTR: nothing was read; the driver comes back when polled again.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl Device for Tap {
    fn medium(&self) -> Medium {
        Medium::Ethernet
    }

    fn mtu(&self) -> usize {
        self.cached_mtu()
    }

    fn max_frame_len(&self) -> usize {
        Tap::max_frame_len(self)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        check_buf(buf, Tap::max_frame_len(self))?;
        nonblocking(Tap::recv(self, buf))
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        Tap::send(self, frame).map(drop)
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

impl Device for Tun {
    fn medium(&self) -> Medium {
        Medium::Ip
    }

    fn mtu(&self) -> usize {
        self.cached_mtu()
    }

    fn max_frame_len(&self) -> usize {
        Tun::max_frame_len(self)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        check_buf(buf, Tun::max_frame_len(self))?;
        nonblocking(Tun::recv(self, buf))
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        Tun::send(self, frame).map(drop)
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn would_block_and_eintr_are_nothing_ready() {
        assert_eq!(nonblocking(Ok(60)).unwrap(), Some(60));
        assert_eq!(
            nonblocking(Err(io::ErrorKind::WouldBlock.into())).unwrap(),
            None
        );
        assert_eq!(
            nonblocking(Err(io::ErrorKind::Interrupted.into())).unwrap(),
            None
        );
        let e = nonblocking(Err(io::Error::other("gone"))).unwrap_err();
        assert_eq!(e.to_string(), "gone");
    }

    #[test]
    fn buffers_that_could_truncate_a_frame_are_refused() {
        assert!(check_buf(&[0; 1514], 1514).is_ok());
        let e = check_buf(&[0; 1513], 1514).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
