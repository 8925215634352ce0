//! The blocking [`UdpSocket`], mirroring `std::net::UdpSocket`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use synack_proto::ip::igmp::{FilterMode, MembershipOp};
use synack_proto::ip::pmtu::PmtuDiscovery;
use synack_proto::udp::{UdpError, UdpErrorReport, UdpHandle};

use super::ReceivedDatagram;
use super::error::{not_connected, udp_error, would_block};
use super::listener::first_v4;
use crate::runtime::registry::{Registry, UdpEntry};
use crate::runtime::{Core, Runtime};

/// A UDP socket of a synack [`Runtime`], used like `std::net::UdpSocket`.
/// Sends never wait (a datagram goes out at once or fails); receives wait
/// for a datagram unless nonblocking or timed out. An ICMP error for a
/// connected socket is reported once, by the next receive.
#[derive(Debug)]
pub struct UdpSocket {
    rt: Runtime,
    h: UdpHandle,
}

pub(crate) fn open(rt: &Runtime, addr: SocketAddrV4) -> io::Result<UdpHandle> {
    open_with(rt, addr, Reuse::None)
}

/// Which socket option [`open_with`] sets before the bind.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reuse {
    None,
    /// SO_REUSEADDR.
    Addr,
    /// SO_REUSEPORT.
    Port,
}

/// [`open`], with SO_REUSEADDR or SO_REUSEPORT set before the bind.
pub(crate) fn open_with(rt: &Runtime, addr: SocketAddrV4, reuse: Reuse) -> io::Result<UdpHandle> {
    let mut core = rt.shared.lock()?;
    let h = core.stack.udp_open();
    let stack = &mut core.stack;
    let bound = stack
        .udp_set_reuse_addr(h, reuse == Reuse::Addr)
        .and_then(|()| stack.udp_set_reuse_port(h, reuse == Reuse::Port))
        .and_then(|()| stack.udp_bind(h, addr).map(drop));
    if let Err(e) = bound {
        let _ = core.stack.udp_close(h);
        return Err(udp_error(e));
    }
    core.registry.udps.insert(
        h,
        UdpEntry {
            refs: 1,
            ..UdpEntry::default()
        },
    );
    Ok(h)
}

/// Runs a send and drains the output; one retry after draining a full
/// output queue.
pub(crate) fn send_with(
    core: &mut Core,
    mut send: impl FnMut(&mut Core) -> Result<usize, UdpError>,
) -> io::Result<usize> {
    let r = match send(core) {
        Err(UdpError::NoBufferSpace) => {
            core.flush();
            send(core)
        }
        r => r,
    };
    core.flush();
    r.map_err(udp_error)
}

/// IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP and the source calls, for both
/// front ends: the IGMP report it queues goes out at once.
pub(crate) fn membership(
    core: &mut Core,
    h: UdpHandle,
    group: Ipv4Addr,
    interface: Ipv4Addr,
    op: MembershipOp,
) -> io::Result<()> {
    let now = core.clock.now();
    let r = core.stack.udp_membership(now, h, group, interface, op);
    core.flush();
    r.map_err(udp_error)
}

/// IP_MSFILTER, for both front ends: the IGMP report it queues goes out at
/// once.
pub(crate) fn set_source_filter(
    core: &mut Core,
    h: UdpHandle,
    group: Ipv4Addr,
    interface: Ipv4Addr,
    mode: FilterMode,
    sources: &[Ipv4Addr],
) -> io::Result<()> {
    let now = core.clock.now();
    let r = core
        .stack
        .udp_set_source_filter(now, h, group, interface, mode, sources);
    core.flush();
    r.map_err(udp_error)
}

/// IP_MULTICAST_TTL as std and tokio take it (a `u32`), for both front
/// ends.
pub(crate) fn set_multicast_ttl(core: &mut Core, h: UdpHandle, ttl: u32) -> io::Result<()> {
    let ttl = u8::try_from(ttl)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a TTL is at most 255"))?;
    core.stack.udp_set_multicast_ttl(h, ttl).map_err(udp_error)
}

/// IP_TTL as std and tokio take it (a `u32`), for both front ends.
pub(crate) fn set_ttl(core: &mut Core, h: UdpHandle, ttl: u32) -> io::Result<()> {
    let ttl = u8::try_from(ttl)
        .ok()
        .filter(|&t| t > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a TTL is 1 to 255"))?;
    core.stack.udp_set_ttl(h, ttl).map_err(udp_error)
}

/// IP_OPTIONS for both front ends: refused with the reason.
pub(crate) fn set_ip_options(core: &mut Core, h: UdpHandle, options: &[u8]) -> io::Result<()> {
    if let Err(e) = synack_proto::ip::options::SendOptions::new(options) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("IP options: {e}"),
        ));
    }
    core.stack.udp_set_ip_options(h, options).map_err(udp_error)
}

/// A receive: `None` when nothing waits.
pub(crate) fn try_recv_from(
    core: &mut Core,
    h: UdpHandle,
    buf: &mut [u8],
) -> Option<io::Result<(usize, SocketAddr)>> {
    match core.stack.udp_recv_from(h, buf) {
        Ok(r) => Some(Ok((r.len, SocketAddr::V4(r.src)))),
        Err(UdpError::WouldBlock) => None,
        Err(e) => Some(Err(udp_error(e))),
    }
}

/// [`try_recv_from`] with what the datagram's IP header said, for both
/// front ends.
pub(crate) fn try_recv_info(
    core: &mut Core,
    h: UdpHandle,
    buf: &mut [u8],
) -> Option<io::Result<ReceivedDatagram>> {
    match core.stack.udp_recv_from(h, buf) {
        Ok(r) => Some(Ok(r)),
        Err(UdpError::WouldBlock) => None,
        Err(e) => Some(Err(udp_error(e))),
    }
}

/// A datagram to `addr` from source address `src` (IP_PKTINFO), for both
/// front ends.
pub(crate) fn send_from(
    core: &mut Core,
    h: UdpHandle,
    addr: SocketAddrV4,
    src: Ipv4Addr,
    buf: &[u8],
) -> io::Result<usize> {
    let now = core.clock.now();
    send_with(core, |c| {
        c.stack.udp_send_from(now, h, Some(addr), src, buf)
    })
}

/// IP_TOS as socket2 and tokio take it (a `u32`), for both front ends.
pub(crate) fn set_tos(core: &mut Core, h: UdpHandle, tos: u32) -> io::Result<()> {
    let tos = super::ops::tos_value(tos)?;
    core.stack.udp_set_tos(h, tos).map_err(udp_error)
}

/// [`try_recv_from`] with the datagram's IP options, for both front ends.
pub(crate) fn try_recv_msg(
    core: &mut Core,
    h: UdpHandle,
    buf: &mut [u8],
) -> Option<io::Result<(usize, SocketAddr, Vec<u8>)>> {
    let mut options = [0; synack_proto::ip::options::MAX_LEN];
    match core.stack.udp_recv_msg(h, buf, &mut options) {
        Ok((r, n)) => Some(Ok((r.len, SocketAddr::V4(r.src), options[..n].to_vec()))),
        Err(UdpError::WouldBlock) => None,
        Err(e) => Some(Err(udp_error(e))),
    }
}

impl UdpSocket {
    /// Binds to `addr` (0.0.0.0 or the stack's address; port 0 for an
    /// ephemeral port).
    pub fn bind(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addr = first_v4(addr)?;
        Ok(UdpSocket {
            rt: rt.clone(),
            h: open(rt, addr)?,
        })
    }

    /// [`UdpSocket::bind`] with SO_REUSEADDR set first (socket2's
    /// `set_reuse_address` before `bind`): sockets bound so may share an
    /// address and port, as several receivers of one multicast group do;
    /// a broadcast or multicast datagram reaches each of them, a unicast
    /// one only one (one connected to its source, else one bound to its
    /// address, else the newest).
    pub fn bind_reuse_addr(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addr = first_v4(addr)?;
        Ok(UdpSocket {
            rt: rt.clone(),
            h: open_with(rt, addr, Reuse::Addr)?,
        })
    }

    /// [`UdpSocket::bind`] with SO_REUSEPORT set first: sockets bound so
    /// share an address and port, a unicast datagram going to the one a
    /// hash of its 4-tuple picks (each flow to one socket, as a server's
    /// threads split their clients), a broadcast or multicast one to each.
    pub fn bind_reuse_port(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addr = first_v4(addr)?;
        Ok(UdpSocket {
            rt: rt.clone(),
            h: open_with(rt, addr, Reuse::Port)?,
        })
    }

    fn with_core<T>(&self, f: impl FnOnce(&mut Core, UdpHandle) -> io::Result<T>) -> io::Result<T> {
        let mut core = self.rt.shared.lock()?;
        if !core.registry.udps.contains_key(&self.h) {
            return Err(not_connected());
        }
        f(&mut core, self.h)
    }

    /// Sends to and receives from `addr` only (`send`, `recv`).
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addr = first_v4(addr)?;
        self.with_core(|core, h| core.stack.udp_connect(h, addr).map(drop).map_err(udp_error))
    }

    /// Sends a datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.with_core(|core, h| {
            let now = core.clock.now();
            send_with(core, |c| c.stack.udp_send(now, h, buf))
        })
    }

    /// Sends a datagram to `addr`.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = first_v4(addr)?;
        self.with_core(|core, h| {
            let now = core.clock.now();
            send_with(core, |c| c.stack.udp_send_to(now, h, addr, buf))
        })
    }

    /// Sends a datagram to `addr` from source address `src` (`sendmsg`
    /// with IP_PKTINFO): a server bound to 0.0.0.0 answers from the address
    /// a request came to ([`ReceivedDatagram::dst`] of
    /// [`UdpSocket::recv_msg`]). `src` must be this host's
    /// (`InvalidInput` otherwise).
    pub fn send_to_from(
        &self,
        buf: &[u8],
        addr: impl ToSocketAddrs,
        src: Ipv4Addr,
    ) -> io::Result<usize> {
        let addr = first_v4(addr)?;
        self.with_core(|core, h| send_from(core, h, addr, src, buf))
    }

    /// Receives a datagram (its excess beyond `buf` is dropped).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).map(|(n, _)| n)
    }

    /// Receives a datagram and its source.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_with(|core, h| try_recv_from(core, h, buf))
    }

    /// IP_RECVOPTS: datagrams received from now on keep their IP options
    /// for [`UdpSocket::recv_from_with_ip_options`] (off by default).
    pub fn set_recv_ip_options(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| core.stack.udp_set_recv_ip_options(h, on).map_err(udp_error))
    }

    /// IP_RETOPTS: datagrams received from now on keep the IP options a
    /// reply to them needs (a source route reversed, in the form
    /// [`UdpSocket::set_ip_options`] takes) for
    /// [`UdpSocket::recv_from_with_ip_options`], in place of
    /// IP_RECVOPTS's (the later call decides; off by default).
    pub fn set_return_ip_options(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| {
            core.stack
                .udp_set_return_ip_options(h, on)
                .map_err(udp_error)
        })
    }

    /// [`UdpSocket::recv_from`], and the datagram's IP options as they
    /// arrived (`recvmsg`'s IP_RECVOPTS message) or as a reply needs them
    /// (IP_RETOPTS); empty unless one of them is on and the datagram had
    /// any.
    pub fn recv_from_with_ip_options(
        &self,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr, Vec<u8>)> {
        self.recv_with(|core, h| try_recv_msg(core, h, buf))
    }

    /// [`UdpSocket::recv_from`], and what the datagram's IP header said
    /// (`recvmsg` with IP_PKTINFO, IP_RECVTTL and IP_RECVTOS): the address
    /// it was sent to (ours, or a broadcast or group address), its TTL and
    /// its TOS byte, ECN field included; and whether it was cut to fit
    /// `buf` (MSG_TRUNC).
    pub fn recv_msg(&self, buf: &mut [u8]) -> io::Result<ReceivedDatagram> {
        self.recv_with(|core, h| try_recv_info(core, h, buf))
    }

    /// IP_RECVERR: every ICMP error about the socket's datagrams, connected
    /// or not, is queued for [`UdpSocket::recv_error`] (off by default).
    /// A queued error is also the socket's pending one, which the next
    /// send or receive reports, as on Linux: read the queue first.
    pub fn set_recv_error(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| core.stack.udp_set_recv_error(h, on).map_err(udp_error))
    }

    /// The oldest ICMP error IP_RECVERR queued (`recvmsg` with
    /// MSG_ERRQUEUE): who sent it, what it says, the datagram's
    /// destination. Waits for one as `recv` waits for a datagram (the
    /// read timeout, nonblocking), where Linux would have the caller
    /// `poll` for POLLERR first.
    pub fn recv_error(&self) -> io::Result<UdpErrorReport> {
        self.recv_with(|core, h| core.stack.udp_recv_error(h).map_err(udp_error).transpose())
    }

    /// Waits for `attempt` to find a datagram, as the socket's blocking
    /// mode and read timeout say.
    fn recv_with<T>(
        &self,
        attempt: impl FnMut(&mut Core, UdpHandle) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        wait_datagram(&self.rt, self.h, |r, h| r.udps.get_mut(&h), attempt)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.with_core(|core, h| {
            let a = core.stack.udp_local_addr(h).map_err(udp_error)?;
            a.map(SocketAddr::V4).ok_or_else(not_connected)
        })
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.with_core(|core, h| {
            let a = core.stack.udp_peer_addr(h).map_err(udp_error)?;
            a.map(SocketAddr::V4).ok_or_else(not_connected)
        })
    }

    /// How long `recv` waits before failing with `WouldBlock` (`None`: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_read_timeout(timeout)?;
        self.with_core(|core, h| {
            if let Some(e) = core.registry.udps.get_mut(&h) {
                e.read_timeout = timeout;
            }
            Ok(())
        })
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.with_core(|core, h| Ok(core.registry.udps[&h].read_timeout))
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.with_core(|core, h| {
            if let Some(e) = core.registry.udps.get_mut(&h) {
                e.nonblocking = nonblocking;
            }
            Ok(())
        })
    }

    /// Joins multicast group `multiaddr` on the interface whose address is
    /// `interface` (0.0.0.0: the route's to the group), as
    /// `std::net::UdpSocket::join_multicast_v4` (IP_ADD_MEMBERSHIP): the
    /// host receives the group's datagrams from then on, and says so with
    /// an IGMP report.
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        let op = MembershipOp::Join;
        self.with_core(|core, h| membership(core, h, *multiaddr, *interface, op))
    }

    /// Leaves a group [`UdpSocket::join_multicast_v4`] joined
    /// (IP_DROP_MEMBERSHIP).
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        let op = MembershipOp::Leave;
        self.with_core(|core, h| membership(core, h, *multiaddr, *interface, op))
    }

    /// IP_ADD_SOURCE_MEMBERSHIP, as socket2's `join_ssm_v4`: receives
    /// `group` from `source` (source-specific multicast, RFC 4607), joining
    /// it on `interface` (0.0.0.0: the route's) if need be; an IGMPv3
    /// report says so. More sources: call again.
    pub fn join_ssm_v4(
        &self,
        source: &Ipv4Addr,
        group: &Ipv4Addr,
        interface: &Ipv4Addr,
    ) -> io::Result<()> {
        let op = MembershipOp::JoinSource(*source);
        self.with_core(|core, h| membership(core, h, *group, *interface, op))
    }

    /// IP_DROP_SOURCE_MEMBERSHIP, as socket2's `leave_ssm_v4`: stops
    /// receiving `group` from `source`; the last source leaves the group.
    pub fn leave_ssm_v4(
        &self,
        source: &Ipv4Addr,
        group: &Ipv4Addr,
        interface: &Ipv4Addr,
    ) -> io::Result<()> {
        let op = MembershipOp::LeaveSource(*source);
        self.with_core(|core, h| membership(core, h, *group, *interface, op))
    }

    /// IP_BLOCK_SOURCE: a group joined with
    /// [`UdpSocket::join_multicast_v4`] stops coming from `source`.
    pub fn block_source_v4(
        &self,
        source: &Ipv4Addr,
        group: &Ipv4Addr,
        interface: &Ipv4Addr,
    ) -> io::Result<()> {
        let op = MembershipOp::BlockSource(*source);
        self.with_core(|core, h| membership(core, h, *group, *interface, op))
    }

    /// IP_UNBLOCK_SOURCE: undoes [`UdpSocket::block_source_v4`].
    pub fn unblock_source_v4(
        &self,
        source: &Ipv4Addr,
        group: &Ipv4Addr,
        interface: &Ipv4Addr,
    ) -> io::Result<()> {
        let op = MembershipOp::UnblockSource(*source);
        self.with_core(|core, h| membership(core, h, *group, *interface, op))
    }

    /// IP_MSFILTER (RFC 3678's full-state call, `setipv4sourcefilter`): the
    /// filter for a group this socket joined becomes `mode` with `sources`
    /// (INCLUDE with none leaves it).
    pub fn set_source_filter_v4(
        &self,
        group: &Ipv4Addr,
        interface: &Ipv4Addr,
        mode: FilterMode,
        sources: &[Ipv4Addr],
    ) -> io::Result<()> {
        self.with_core(|core, h| set_source_filter(core, h, *group, *interface, mode, sources))
    }

    /// getsockopt IP_MSFILTER (`getipv4sourcefilter`): the socket's filter
    /// for a group it joined, its mode and sources.
    pub fn source_filter_v4(
        &self,
        group: &Ipv4Addr,
        interface: &Ipv4Addr,
    ) -> io::Result<(FilterMode, Vec<Ipv4Addr>)> {
        self.with_core(|core, h| {
            core.stack
                .udp_source_filter(h, *group, *interface)
                .map_err(udp_error)
        })
    }

    /// IP_MULTICAST_LOOP: whether datagrams this socket sends to a group
    /// the host has joined come back to the host's own members (default
    /// on).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| core.stack.udp_set_multicast_loop(h, on).map_err(udp_error))
    }

    /// IP_MULTICAST_IF (socket2's `set_multicast_if_v4`): the interface, by
    /// its address, this socket's datagrams to a group leave by (0.0.0.0:
    /// the route's).
    pub fn set_multicast_if_v4(&self, interface: &Ipv4Addr) -> io::Result<()> {
        self.with_core(|core, h| {
            core.stack
                .udp_set_multicast_if(h, *interface)
                .map_err(udp_error)
        })
    }

    /// IP_TTL, as std names it: the TTL of the socket's datagrams other
    /// than to a group (1 to 255; until set, the stack's default, 64).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.with_core(|core, h| set_ttl(core, h, ttl))
    }

    /// IP_TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        self.with_core(|core, h| core.stack.udp_ttl(h).map(u32::from).map_err(udp_error))
    }

    /// IP_MTU_DISCOVER: whether the socket's datagrams carry DF and what
    /// becomes of one larger than the path MTU (`PmtuDiscovery`: `Want`,
    /// Linux's default, until set; `Do` makes such a send fail with
    /// EMSGSIZE; `Dont` never sets DF and hears no "fragmentation needed").
    pub fn set_path_mtu_discovery(&self, mode: PmtuDiscovery) -> io::Result<()> {
        self.with_core(|core, h| {
            core.stack
                .udp_set_pmtu_discovery(h, mode)
                .map_err(udp_error)
        })
    }

    /// IP_MTU_DISCOVER.
    pub fn path_mtu_discovery(&self) -> io::Result<PmtuDiscovery> {
        self.with_core(|core, h| core.stack.udp_pmtu_discovery(h).map_err(udp_error))
    }

    /// IP_MTU: the path MTU to the connected peer, as "fragmentation
    /// needed" taught it (`NotConnected` without a peer).
    pub fn path_mtu(&self) -> io::Result<u32> {
        self.with_core(|core, h| core.stack.udp_path_mtu(h).map(u32::from).map_err(udp_error))
    }

    /// IP_TOS: the TOS byte of the socket's datagrams, DSCP (RFC 2474) and
    /// ECN field as given (0 to 255; 0 until set): a datagram socket picks
    /// its own ECN codepoint (RFC 3168 §6), as QUIC does.
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        self.with_core(|core, h| set_tos(core, h, tos))
    }

    /// IP_TOS.
    pub fn tos(&self) -> io::Result<u32> {
        self.with_core(|core, h| core.stack.udp_tos(h).map(u32::from).map_err(udp_error))
    }

    /// IP_MULTICAST_TTL: the TTL of datagrams this socket sends to a group
    /// (default 1, the link only; at most 255).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.with_core(|core, h| set_multicast_ttl(core, h, ttl))
    }

    /// IP_OPTIONS: the IP options (RFC 791 §3.1, raw bytes as for Linux's
    /// `setsockopt`) every datagram of this socket carries; this host writes
    /// itself into a record route or timestamp option as each is sent. A
    /// loose or strict source route as Linux takes it: the hops in order,
    /// the first of them where the datagrams go, the destination written
    /// into the last slot. Empty: none. At most 40 bytes.
    pub fn set_ip_options(&self, options: &[u8]) -> io::Result<()> {
        self.with_core(|core, h| set_ip_options(core, h, options))
    }

    /// A second handle to the same socket.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        self.with_core(|core, h| {
            if let Some(e) = core.registry.udps.get_mut(&h) {
                e.refs += 1;
            }
            Ok(UdpSocket {
                rt: self.rt.clone(),
                h,
            })
        })
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn share(&self) -> io::Result<(Runtime, UdpHandle)> {
        self.with_core(|core, h| {
            if let Some(e) = core.registry.udps.get_mut(&h) {
                e.refs += 1;
            }
            Ok((self.rt.clone(), h))
        })
    }
}

/// Waits for `attempt` on datagram socket `h` (UDP or ping; `entry`
/// finds its registry entry), as its blocking mode and read timeout say:
/// `WouldBlock` when nonblocking or once the timeout passed.
pub(crate) fn wait_datagram<H: Copy, T>(
    rt: &Runtime,
    h: H,
    entry: fn(&mut Registry, H) -> Option<&mut UdpEntry>,
    mut attempt: impl FnMut(&mut Core, H) -> Option<io::Result<T>>,
) -> io::Result<T> {
    let shared = &rt.shared;
    let mut core = shared.lock()?;
    let e = entry(&mut core.registry, h).ok_or_else(not_connected)?;
    let (nonblocking, deadline) = (e.nonblocking, e.read_timeout.map(|t| Instant::now() + t));
    loop {
        if let Some(r) = attempt(&mut core, h) {
            return r;
        }
        if nonblocking {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let cond = Arc::clone(
            &entry(&mut core.registry, h)
                .ok_or_else(not_connected)?
                .read
                .cond,
        );
        let (next, expired) = shared.wait(core, &cond, deadline)?;
        core = next;
        if expired {
            return Err(would_block("recv"));
        }
    }
}

/// A read timeout as std's sockets take it: `None`, or not zero.
pub(crate) fn check_read_timeout(timeout: Option<Duration>) -> io::Result<()> {
    match timeout {
        Some(t) if t.is_zero() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        )),
        _ => Ok(()),
    }
}

/// Drops one reference to a UDP socket; the last closes it.
pub(crate) fn release(core: &mut Core, h: UdpHandle) {
    let Some(e) = core.registry.udps.get_mut(&h) else {
        return;
    };
    e.refs = e.refs.saturating_sub(1);
    if e.refs == 0 {
        core.registry.udps.remove(&h);
        let _ = core.stack.udp_close(h);
        // Its groups' Leave Group messages, if any, go now.
        core.flush();
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let mut core = self.rt.shared.lock_anyway();
        release(&mut core, self.h);
    }
}
