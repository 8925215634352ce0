//! The async [`UdpSocket`].

use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

use synack_proto::ip::igmp::MembershipOp;
use synack_proto::udp::UdpHandle;

use super::Runtime;
use crate::net::ReceivedDatagram;
use crate::net::udp::{
    Reuse, membership, open, open_with, release, send_from, send_with, set_ip_options,
    set_multicast_ttl, set_source_filter, set_tos, set_ttl, try_recv_from, try_recv_info,
    try_recv_msg,
};
use crate::runtime::Core;

fn first_v4(addr: impl ToSocketAddrs) -> io::Result<std::net::SocketAddrV4> {
    addr.to_socket_addrs()?
        .find_map(|a| match a {
            SocketAddr::V4(a) => Some(a),
            SocketAddr::V6(_) => None,
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "synack speaks IPv4 only: no IPv4 address given",
            )
        })
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket is closed")
}

/// A UDP socket of a synack [`Runtime`], used like `tokio::net::UdpSocket`.
#[derive(Debug)]
pub struct UdpSocket {
    rt: Runtime,
    h: UdpHandle,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 for an ephemeral port).
    pub async fn bind(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            rt: rt.clone(),
            h: open(rt, first_v4(addr)?)?,
        })
    }

    /// [`UdpSocket::bind`] with SO_REUSEADDR first, as
    /// [`crate::net::UdpSocket::bind_reuse_addr`].
    pub async fn bind_reuse_addr(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            rt: rt.clone(),
            h: open_with(rt, first_v4(addr)?, Reuse::Addr)?,
        })
    }

    /// [`UdpSocket::bind`] with SO_REUSEPORT first, as
    /// [`crate::net::UdpSocket::bind_reuse_port`].
    pub async fn bind_reuse_port(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            rt: rt.clone(),
            h: open_with(rt, first_v4(addr)?, Reuse::Port)?,
        })
    }

    /// Turns a blocking socket of the same runtime into an async one.
    pub fn from_std(socket: crate::net::UdpSocket) -> io::Result<UdpSocket> {
        let (rt, h) = socket.share()?;
        Ok(UdpSocket { rt, h })
    }

    /// Sends to and receives from `addr` only.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addr = first_v4(addr)?;
        let mut core = self.rt.shared.lock()?;
        core.stack
            .udp_connect(self.h, addr)
            .map(drop)
            .map_err(crate::net::error_of_udp)
    }

    /// Sends a datagram to the connected peer (never waits).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let mut core = self.rt.shared.lock()?;
        let now = core.clock.now();
        let h = self.h;
        send_with(&mut core, |c| c.stack.udp_send(now, h, buf))
    }

    /// Sends a datagram to `addr` (never waits).
    pub async fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = first_v4(addr)?;
        let mut core = self.rt.shared.lock()?;
        let now = core.clock.now();
        let h = self.h;
        send_with(&mut core, |c| c.stack.udp_send_to(now, h, addr, buf))
    }

    /// Sends a datagram to `addr` from source address `src`, as
    /// [`crate::net::UdpSocket::send_to_from`].
    pub async fn send_to_from(
        &self,
        buf: &[u8],
        addr: impl ToSocketAddrs,
        src: Ipv4Addr,
    ) -> io::Result<usize> {
        let addr = first_v4(addr)?;
        let mut core = self.rt.shared.lock()?;
        send_from(&mut core, self.h, addr, src, buf)
    }

    /// Receives a datagram.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).await.map(|(n, _)| n)
    }

    /// Receives a datagram and its source.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.poll_recv_with(cx, |core, h| try_recv_from(core, h, buf))
    }

    /// Ready with what `attempt` receives, or registered to wake when a
    /// datagram comes.
    fn poll_recv_with<T>(
        &self,
        cx: &mut Context<'_>,
        attempt: impl FnOnce(&mut Core, UdpHandle) -> Option<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut core = self.rt.shared.lock()?;
        if let Some(r) = attempt(&mut core, self.h) {
            return Poll::Ready(r);
        }
        match core.registry.udps.get_mut(&self.h) {
            Some(e) => e.read.register(cx.waker()),
            None => return Poll::Ready(Err(closed())),
        }
        Poll::Pending
    }

    /// IP_RECVERR, as [`crate::net::UdpSocket::set_recv_error`].
    pub fn set_recv_error(&self, on: bool) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        let set = core.stack.udp_set_recv_error(self.h, on);
        set.map_err(crate::net::error_of_udp)
    }

    /// The oldest ICMP error IP_RECVERR queued, awaited, as
    /// [`crate::net::UdpSocket::recv_error`].
    pub async fn recv_error(&self) -> io::Result<synack_proto::udp::UdpErrorReport> {
        poll_fn(|cx| {
            self.poll_recv_with(cx, |core, h| {
                let report = core.stack.udp_recv_error(h);
                report.map_err(crate::net::error_of_udp).transpose()
            })
        })
        .await
    }

    /// IP_RECVOPTS, as [`crate::net::UdpSocket::set_recv_ip_options`].
    pub fn set_recv_ip_options(&self, on: bool) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        core.stack
            .udp_set_recv_ip_options(self.h, on)
            .map_err(crate::net::error_of_udp)
    }

    /// IP_RETOPTS, as [`crate::net::UdpSocket::set_return_ip_options`].
    pub fn set_return_ip_options(&self, on: bool) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        core.stack
            .udp_set_return_ip_options(self.h, on)
            .map_err(crate::net::error_of_udp)
    }

    /// [`UdpSocket::recv_from`], and the datagram's IP options as they
    /// arrived, or as a reply needs them (empty unless
    /// [`UdpSocket::set_recv_ip_options`] or
    /// [`UdpSocket::set_return_ip_options`]).
    pub async fn recv_from_with_ip_options(
        &self,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr, Vec<u8>)> {
        poll_fn(|cx| self.poll_recv_with(cx, |core, h| try_recv_msg(core, h, buf))).await
    }

    /// [`UdpSocket::recv_from`], and what the datagram's IP header said, as
    /// [`crate::net::UdpSocket::recv_msg`].
    pub async fn recv_msg(&self, buf: &mut [u8]) -> io::Result<ReceivedDatagram> {
        poll_fn(|cx| self.poll_recv_with(cx, |core, h| try_recv_info(core, h, buf))).await
    }

    /// Joins multicast group `multiaddr` on the interface whose address is
    /// `interface` (0.0.0.0: the route's to the group), as tokio's
    /// `join_multicast_v4` (IP_ADD_MEMBERSHIP).
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        membership(&mut core, self.h, multiaddr, interface, MembershipOp::Join)
    }

    /// Leaves a group [`UdpSocket::join_multicast_v4`] joined.
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        membership(&mut core, self.h, multiaddr, interface, MembershipOp::Leave)
    }

    /// IP_ADD_SOURCE_MEMBERSHIP (socket2's `join_ssm_v4`): receives `group`
    /// from `source`, joining it if need be.
    pub fn join_ssm_v4(
        &self,
        source: Ipv4Addr,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> io::Result<()> {
        self.source_call(group, interface, MembershipOp::JoinSource(source))
    }

    /// IP_DROP_SOURCE_MEMBERSHIP (socket2's `leave_ssm_v4`).
    pub fn leave_ssm_v4(
        &self,
        source: Ipv4Addr,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> io::Result<()> {
        self.source_call(group, interface, MembershipOp::LeaveSource(source))
    }

    /// IP_BLOCK_SOURCE: a group joined for every source stops coming from
    /// `source`.
    pub fn block_source_v4(
        &self,
        source: Ipv4Addr,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> io::Result<()> {
        self.source_call(group, interface, MembershipOp::BlockSource(source))
    }

    /// IP_UNBLOCK_SOURCE.
    pub fn unblock_source_v4(
        &self,
        source: Ipv4Addr,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> io::Result<()> {
        self.source_call(group, interface, MembershipOp::UnblockSource(source))
    }

    /// IP_MSFILTER, as [`crate::net::UdpSocket::set_source_filter_v4`].
    pub fn set_source_filter_v4(
        &self,
        group: Ipv4Addr,
        interface: Ipv4Addr,
        mode: crate::net::FilterMode,
        sources: &[Ipv4Addr],
    ) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        set_source_filter(&mut core, self.h, group, interface, mode, sources)
    }

    /// getsockopt IP_MSFILTER, as [`crate::net::UdpSocket::source_filter_v4`].
    pub fn source_filter_v4(
        &self,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> io::Result<(crate::net::FilterMode, Vec<Ipv4Addr>)> {
        let core = self.rt.shared.lock()?;
        core.stack
            .udp_source_filter(self.h, group, interface)
            .map_err(crate::net::error_of_udp)
    }

    fn source_call(
        &self,
        group: Ipv4Addr,
        interface: Ipv4Addr,
        op: MembershipOp,
    ) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        membership(&mut core, self.h, group, interface, op)
    }

    /// IP_MULTICAST_LOOP (default on).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        core.stack
            .udp_set_multicast_loop(self.h, on)
            .map_err(crate::net::error_of_udp)
    }

    /// IP_TTL, as [`crate::net::UdpSocket::set_ttl`].
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        set_ttl(&mut core, self.h, ttl)
    }

    /// IP_TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        let core = self.rt.shared.lock()?;
        core.stack
            .udp_ttl(self.h)
            .map(u32::from)
            .map_err(crate::net::error_of_udp)
    }

    /// IP_MTU_DISCOVER, as [`crate::net::UdpSocket::set_path_mtu_discovery`].
    pub fn set_path_mtu_discovery(
        &self,
        mode: synack_proto::ip::pmtu::PmtuDiscovery,
    ) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        core.stack
            .udp_set_pmtu_discovery(self.h, mode)
            .map_err(crate::net::error_of_udp)
    }

    /// IP_MTU, as [`crate::net::UdpSocket::path_mtu`].
    pub fn path_mtu(&self) -> io::Result<u32> {
        let core = self.rt.shared.lock()?;
        core.stack
            .udp_path_mtu(self.h)
            .map(u32::from)
            .map_err(crate::net::error_of_udp)
    }

    /// IP_TOS, as [`crate::net::UdpSocket::set_tos`].
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        set_tos(&mut core, self.h, tos)
    }

    /// IP_TOS.
    pub fn tos(&self) -> io::Result<u32> {
        let core = self.rt.shared.lock()?;
        core.stack
            .udp_tos(self.h)
            .map(u32::from)
            .map_err(crate::net::error_of_udp)
    }

    /// IP_MULTICAST_TTL (default 1; at most 255).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        set_multicast_ttl(&mut core, self.h, ttl)
    }

    /// IP_OPTIONS, as [`crate::net::UdpSocket::set_ip_options`].
    pub fn set_ip_options(&self, options: &[u8]) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        set_ip_options(&mut core, self.h, options)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let core = self.rt.shared.lock()?;
        let a = core
            .stack
            .udp_local_addr(self.h)
            .map_err(crate::net::error_of_udp)?;
        a.map(SocketAddr::V4).ok_or_else(closed)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let mut core = self.rt.shared.lock_anyway();
        release(&mut core, self.h);
    }
}
