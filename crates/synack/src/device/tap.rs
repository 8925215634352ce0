//! `Device` for the Linux TAP (Ethernet) and TUN (IP) devices of synack-tap.
//!
//! With a virtio-net header, frames from the kernel may be GSO
//! super-segments longer than the MTU (`max_frame_len` says so) and arrive
//! with their checksums completed in software, so the stack always sees
//! valid frames. On send, a TAP with a virtio-net header does TSO and
//! checksum offload for the stack: the runtime sends super-segments with
//! partial checksums, and the header tells the kernel (`gso_type` TCPV4,
//! `NEEDS_CSUM`).
//!
//! On receive, `recv_offloaded` passes the header's meaning to the stack:
//! the checksum (completed here when the kernel left it partial) is
//! vouched for, and a TSO4 super-segment carries its `gso_size`, so TCP
//! counts the kernel's segments (its `rcv_mss` is the kernel's MSS, not the
//! super-segment's length).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use synack_proto::stack::{FrameOffload, Offloads, RxOffload};
use synack_tap::{GsoType, Tap, Tun, VirtioNetHdr};

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

/// The virtio-net header (virtio 1.0 §5.1.6.2) for a frame the stack left
/// for the device: a partial checksum and, for a super-segment, TSO over
/// IPv4 in `gso_size` pieces.
pub fn vnet_header(o: FrameOffload) -> VirtioNetHdr {
    VirtioNetHdr::tcp4_offload(o.csum_start, o.csum_offset, o.hdr_len, o.gso_size)
}

/// The stack's view of a received frame's virtio-net header (virtio 1.0
/// §5.1.6.4), after `complete_checksum`: `DATA_VALID` means the TCP
/// checksum is right; a TSO4 frame is a super-packet of `gso_size` segments.
pub fn rx_offload(hdr: &VirtioNetHdr) -> RxOffload {
    RxOffload {
        csum_trusted: hdr.data_valid(),
        gso_size: (hdr.gso_type == GsoType::TcpV4 && hdr.gso_size > 0).then_some(hdr.gso_size),
    }
}

/// One frame and its header from a TAP or TUN, the checksum completed in
/// software if the kernel left it partial (so non-TCP frames are whole too).
fn recv_with_header(
    r: io::Result<(VirtioNetHdr, usize)>,
    buf: &mut [u8],
) -> io::Result<Option<(usize, RxOffload)>> {
    let Some((mut hdr, n)) = nonblocking(r)? else {
        return Ok(None);
    };
    hdr.complete_checksum(&mut buf[..n])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(Some((n, rx_offload(&hdr))))
}

fn nonblocking<T>(r: io::Result<T>) -> io::Result<Option<T>> {
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

    fn recv_offloaded(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, RxOffload)>> {
        check_buf(buf, Tap::max_frame_len(self))?;
        recv_with_header(Tap::recv_vnet(self, buf), buf)
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        Tap::send(self, frame).map(drop)
    }

    fn tx_offloads(&self) -> Offloads {
        // The kernel takes GSO frames from any TAP with a virtio-net header.
        let on = self.vnet_hdr_len().is_some();
        Offloads { tso: on, csum: on }
    }

    fn send_offloaded(&mut self, frame: &[u8], offload: FrameOffload) -> io::Result<()> {
        Tap::send_vnet(self, &vnet_header(offload), frame).map(drop)
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

    fn recv_offloaded(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, RxOffload)>> {
        check_buf(buf, Tun::max_frame_len(self))?;
        recv_with_header(Tun::recv_vnet(self, buf), buf)
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
            nonblocking::<usize>(Err(io::ErrorKind::WouldBlock.into())).unwrap(),
            None
        );
        assert_eq!(
            nonblocking::<usize>(Err(io::ErrorKind::Interrupted.into())).unwrap(),
            None
        );
        let e = nonblocking::<usize>(Err(io::Error::other("gone"))).unwrap_err();
        assert_eq!(e.to_string(), "gone");
    }

    #[test]
    fn a_super_segment_gets_a_tcpv4_gso_header_and_a_plain_partial_one_none() {
        let o = FrameOffload {
            csum_start: 34,
            csum_offset: 16,
            hdr_len: 66,
            gso_size: 1448,
        };
        let mut bytes = [0xAA; 10];
        vnet_header(o).emit(&mut bytes).unwrap();
        assert_eq!(bytes, [1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0]);
        vnet_header(FrameOffload { gso_size: 0, ..o })
            .emit(&mut bytes)
            .unwrap();
        assert_eq!(bytes, [1, 0, 66, 0, 0, 0, 34, 0, 16, 0]);
    }

    #[test]
    fn a_tso4_header_gives_the_stack_its_gso_size_and_only_a_valid_checksum_is_trusted() {
        // DATA_VALID, TCPV4, hdr_len 66, gso_size 1448 (as the kernel writes
        // a super-segment to a TAP).
        let bytes = [2, 1, 66, 0, 0xa8, 0x05, 0, 0, 0, 0];
        let hdr = VirtioNetHdr::parse(&bytes, 10).unwrap();
        assert_eq!(
            rx_offload(&hdr),
            RxOffload {
                csum_trusted: true,
                gso_size: Some(1448),
            }
        );
        // No flags, no GSO: nothing vouched for.
        let plain = VirtioNetHdr::parse(&[0; 10], 10).unwrap();
        assert_eq!(rx_offload(&plain), RxOffload::default());
        // UDP fragmentation offload's size is not TCP's; a zero size is none.
        let ufo = VirtioNetHdr::parse(&[0, 3, 42, 0, 0xa8, 0x05, 0, 0, 0, 0], 10).unwrap();
        assert_eq!(rx_offload(&ufo).gso_size, None);
        let zero = VirtioNetHdr::parse(&[0, 1, 66, 0, 0, 0, 0, 0, 0, 0], 10).unwrap();
        assert_eq!(rx_offload(&zero).gso_size, None);
    }

    #[test]
    fn a_partial_checksum_is_completed_before_the_frame_is_trusted() {
        // NEEDS_CSUM over a 4-byte "TCP" region at 0, field at 2: the
        // field holds the pseudo-header sum (here 0).
        let hdr = VirtioNetHdr::parse(&[1, 0, 0, 0, 0, 0, 0, 0, 2, 0], 10).unwrap();
        let mut buf = [0x12, 0x34, 0, 0, 0xAA];
        let (n, rx) = recv_with_header(Ok((hdr, 4)), &mut buf).unwrap().unwrap();
        assert_eq!(n, 4);
        assert!(rx.csum_trusted);
        assert_eq!(buf, [0x12, 0x34, 0xed, 0xcb, 0xAA], "!0x1234 in the field");
        // Nothing to read, and a header pointing outside the frame.
        assert_eq!(
            recv_with_header(Err(io::ErrorKind::WouldBlock.into()), &mut buf).unwrap(),
            None
        );
        let bad = VirtioNetHdr::parse(&[1, 0, 0, 0, 0, 0, 200, 0, 2, 0], 10).unwrap();
        let e = recv_with_header(Ok((bad, 4)), &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn buffers_that_could_truncate_a_frame_are_refused() {
        assert!(check_buf(&[0; 1514], 1514).is_ok());
        let e = check_buf(&[0; 1513], 1514).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
