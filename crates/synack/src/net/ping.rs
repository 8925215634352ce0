//! The blocking [`PingSocket`]: ICMP echo as Linux's unprivileged ping
//! sockets give it (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`), what
//! `ping` and a ping-based `traceroute` are written on.

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use synack_proto::ip::options::MAX_LEN as MAX_OPTIONS;
use synack_proto::ip::pmtu::PmtuDiscovery;
use synack_proto::ping::{HEADER_LEN, PingError, PingErrorReport, PingHandle};

use super::error::{not_connected, ping_error};
use super::udp::{check_read_timeout, wait_datagram};
use crate::runtime::registry::UdpEntry;
use crate::runtime::{Core, Runtime};

/// A ping socket of a synack [`Runtime`]. Its echo identifier is its
/// "port": chosen by [`PingSocket::bind`], or a free one at the first send.
/// Replies to it are read with their source and TTL; ICMP errors about its
/// requests (a router's time exceeded, a host unreachable) are read too
/// once [`PingSocket::set_recv_error`] asks for them (IP_RECVERR), and
/// otherwise reported once, if hard, on a connected socket.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// # let tun = synack::Tun::open("synack%d")?;
/// # let rt = synack::Runtime::start(tun, "192.0.2.2".parse().unwrap(), 24)?;
/// use synack::net::{PingEvent, PingSocket};
/// let ping = PingSocket::open(&rt)?;
/// ping.send_echo("192.0.2.1".parse().unwrap(), 1, b"hello")?;
/// let mut buf = [0; 64];
/// if let PingEvent::Reply(r) = ping.recv(&mut buf)? {
///     println!("{} bytes from {}: icmp_seq={} ttl={}", r.len, r.src, r.seq, r.ttl);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PingSocket {
    rt: Runtime,
    h: PingHandle,
}

/// What [`PingSocket::recv`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingEvent {
    /// An echo reply, its ICMP header and data in the caller's buffer.
    Reply(PingReply),
    /// An ICMP error about one of the socket's requests (IP_RECVERR).
    Error(PingErrorReport),
}

/// An echo reply as [`PingSocket::recv`] read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingReply {
    /// Bytes in the buffer: the ICMP header (8) and the data.
    pub len: usize,
    /// The reply was longer than the buffer; the rest is gone.
    pub truncated: bool,
    pub src: Ipv4Addr,
    /// The TTL it arrived with.
    pub ttl: u8,
    /// The TOS byte it arrived with (IP_RECVTOS): an echo reply mirrors
    /// its request's.
    pub tos: u8,
    pub ident: u16,
    pub seq: u16,
    /// Its IP options (with IP_RECVOPTS): [`PingReply::ip_options`].
    options: [u8; MAX_OPTIONS],
    options_len: u8,
}

impl PingReply {
    /// The reply's IP options as they came (a record route's addresses,
    /// `ping -R`); empty unless [`PingSocket::set_recv_ip_options`] and
    /// the reply had some.
    pub fn ip_options(&self) -> &[u8] {
        &self.options[..usize::from(self.options_len)]
    }
}

impl PingSocket {
    /// A new ping socket, unbound: its first send or `connect` picks a
    /// free identifier.
    pub fn open(rt: &Runtime) -> io::Result<PingSocket> {
        Ok(PingSocket {
            rt: rt.clone(),
            h: open(rt)?,
        })
    }

    /// A new ping socket bound to `addr` (one of the stack's, or 0.0.0.0)
    /// and echo identifier `ident` (0: a free one).
    pub fn bind(rt: &Runtime, addr: Ipv4Addr, ident: u16) -> io::Result<PingSocket> {
        Ok(PingSocket {
            rt: rt.clone(),
            h: bind(rt, addr, ident)?,
        })
    }

    fn with_core<T>(
        &self,
        f: impl FnOnce(&mut Core, PingHandle) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut core = self.rt.shared.lock()?;
        if !core.registry.pings.contains_key(&self.h) {
            return Err(not_connected());
        }
        f(&mut core, self.h)
    }

    /// Makes `addr` the destination of [`PingSocket::send`].
    pub fn connect(&self, addr: Ipv4Addr) -> io::Result<()> {
        self.with_core(|core, h| {
            core.stack
                .ping_connect(h, addr)
                .map(drop)
                .map_err(ping_error)
        })
    }

    /// Sends `message`, an echo request's ICMP header (type 8, code 0;
    /// the identifier and checksum are the stack's) and its data, to `dst`.
    pub fn send_to(&self, message: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        self.with_core(|core, h| {
            let now = core.clock.now();
            send_with(core, |c| c.stack.ping_send_to(now, h, dst, message))
        })
    }

    /// [`PingSocket::send_to`] the connected destination.
    pub fn send(&self, message: &[u8]) -> io::Result<usize> {
        self.with_core(|core, h| {
            let now = core.clock.now();
            send_with(core, |c| c.stack.ping_send(now, h, message))
        })
    }

    /// Sends an echo request with sequence number `seq` and `data` to `dst`.
    pub fn send_echo(&self, dst: Ipv4Addr, seq: u16, data: &[u8]) -> io::Result<()> {
        self.send_to(&echo_request(seq, data), dst).map(drop)
    }

    /// Receives a reply (its ICMP header and data) and its source, as
    /// `recvfrom` on a Linux ping socket; a pending error first, once.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Ipv4Addr)> {
        self.recv_with(|core, h| try_recv_from(core, h, buf))
    }

    /// Receives the next reply, or (with IP_RECVERR) the next error report;
    /// the reply's ICMP header and data go into `buf`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<PingEvent> {
        self.recv_with(|core, h| try_recv(core, h, buf))
    }

    /// IP_RECVERR: ICMP errors about the socket's requests are read by
    /// [`PingSocket::recv`] (off by default).
    pub fn set_recv_error(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| core.stack.ping_set_recv_error(h, on).map_err(ping_error))
    }

    /// Takes the pending error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.with_core(|core, h| {
            let e = core.stack.ping_take_error(h).map_err(ping_error)?;
            Ok(e.map(super::error::icmp_error))
        })
    }

    /// IP_TTL: the TTL of the socket's requests (1 to 255).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.with_core(|core, h| set_ttl(core, h, ttl))
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.with_core(|core, h| core.stack.ping_ttl(h).map(u32::from).map_err(ping_error))
    }

    /// IP_MULTICAST_TTL, as std's UDP names it: the TTL of requests to a
    /// group (0 to 255; 1 until set, 0 keeps them on this host). A group's
    /// members answer each request, one reply each.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.with_core(|core, h| set_multicast_ttl(core, h, ttl))
    }

    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.with_core(|core, h| {
            let ttl = core.stack.ping_multicast_ttl(h).map_err(ping_error)?;
            Ok(u32::from(ttl))
        })
    }

    /// IP_MTU_DISCOVER (`ping -M`): `Want` until set; with `Do` a request
    /// larger than the path MTU fails with EMSGSIZE, and a router's
    /// "fragmentation needed" lowers the path MTU for its destination
    /// ([`crate::Runtime::path_mtu`]).
    pub fn set_path_mtu_discovery(&self, mode: PmtuDiscovery) -> io::Result<()> {
        self.with_core(|core, h| {
            core.stack
                .ping_set_pmtu_discovery(h, mode)
                .map_err(ping_error)
        })
    }

    /// The runtime the socket lives in.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// IP_MTU_DISCOVER.
    pub fn path_mtu_discovery(&self) -> io::Result<PmtuDiscovery> {
        self.with_core(|core, h| core.stack.ping_pmtu_discovery(h).map_err(ping_error))
    }

    /// IP_TOS: the TOS byte of the socket's requests (`ping -Q`; 0 to
    /// 255, 0 until set).
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        self.with_core(|core, h| set_tos(core, h, tos))
    }

    pub fn tos(&self) -> io::Result<u32> {
        self.with_core(|core, h| core.stack.ping_tos(h).map(u32::from).map_err(ping_error))
    }

    /// IP_OPTIONS: the IP options every request carries, raw bytes as
    /// Linux takes them (a record route for `ping -R`: `[7, 39, 4, 0, ...]`);
    /// empty clears them. Malformed ones are `InvalidInput`.
    pub fn set_ip_options(&self, options: &[u8]) -> io::Result<()> {
        self.with_core(|core, h| {
            core.stack
                .ping_set_ip_options(h, options)
                .map_err(ping_error)
        })
    }

    /// IP_RECVOPTS: replies received from now on keep their IP options
    /// ([`PingReply::ip_options`]); off by default.
    pub fn set_recv_ip_options(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| {
            let set = core.stack.ping_set_recv_ip_options(h, on);
            set.map_err(ping_error)
        })
    }

    /// SO_BROADCAST: requests may go to a broadcast address.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| core.stack.ping_set_broadcast(h, on).map_err(ping_error))
    }

    /// The bound address and echo identifier.
    pub fn local_addr(&self) -> io::Result<(Ipv4Addr, u16)> {
        self.with_core(|core, h| {
            let local = core.stack.ping_local(h).map_err(ping_error)?;
            local.ok_or_else(not_connected)
        })
    }

    /// How long a receive waits before failing with `WouldBlock` (`None`:
    /// forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_read_timeout(timeout)?;
        self.with_entry(|e| e.read_timeout = timeout)
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.with_core(|core, h| Ok(core.registry.pings[&h].read_timeout))
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.with_entry(|e| e.nonblocking = nonblocking)
    }

    fn with_entry(&self, f: impl FnOnce(&mut UdpEntry)) -> io::Result<()> {
        self.with_core(|core, h| {
            core.registry
                .pings
                .get_mut(&h)
                .map(f)
                .ok_or_else(not_connected)
        })
    }

    /// Waits for `attempt` to find something, as the socket's blocking
    /// mode and read timeout say.
    fn recv_with<T>(
        &self,
        attempt: impl FnMut(&mut Core, PingHandle) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        wait_datagram(&self.rt, self.h, |r, h| r.pings.get_mut(&h), attempt)
    }
}

/// Runs a send and drains the output; one retry after draining a full
/// output queue.
pub(crate) fn send_with(
    core: &mut Core,
    mut send: impl FnMut(&mut Core) -> Result<usize, PingError>,
) -> io::Result<usize> {
    let r = match send(core) {
        Err(PingError::NoBufferSpace) => {
            core.flush();
            send(core)
        }
        r => r,
    };
    core.flush();
    r.map_err(ping_error)
}

/// A new ping socket, registered with the runtime (both front ends).
pub(crate) fn open(rt: &Runtime) -> io::Result<PingHandle> {
    let mut core = rt.shared.lock()?;
    let h = core.stack.ping_open();
    core.registry.pings.insert(
        h,
        UdpEntry {
            refs: 1,
            ..UdpEntry::default()
        },
    );
    Ok(h)
}

/// A new ping socket bound to `addr` and `ident` (both front ends).
pub(crate) fn bind(rt: &Runtime, addr: Ipv4Addr, ident: u16) -> io::Result<PingHandle> {
    let h = open(rt)?;
    let mut core = rt.shared.lock()?;
    if let Err(e) = core.stack.ping_bind(h, addr, ident) {
        release(&mut core, h);
        return Err(ping_error(e));
    }
    Ok(h)
}

/// IP_TTL, 1 to 255 (both front ends).
pub(crate) fn set_ttl(core: &mut Core, h: PingHandle, ttl: u32) -> io::Result<()> {
    let ttl = u8::try_from(ttl)
        .ok()
        .filter(|&t| t > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "TTL must be 1 to 255"))?;
    core.stack.ping_set_ttl(h, ttl).map_err(ping_error)
}

/// IP_MULTICAST_TTL, 0 to 255 (both front ends).
pub(crate) fn set_multicast_ttl(core: &mut Core, h: PingHandle, ttl: u32) -> io::Result<()> {
    let ttl = u8::try_from(ttl).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "multicast TTL must be 0 to 255",
        )
    })?;
    core.stack
        .ping_set_multicast_ttl(h, ttl)
        .map_err(ping_error)
}

/// IP_TOS, 0 to 255 (both front ends).
pub(crate) fn set_tos(core: &mut Core, h: PingHandle, tos: u32) -> io::Result<()> {
    let tos = super::ops::tos_value(tos)?;
    core.stack.ping_set_tos(h, tos).map_err(ping_error)
}

/// The next reply, or the next queued error report first; `None` when
/// there is neither (both front ends).
pub(crate) fn try_recv(
    core: &mut Core,
    h: PingHandle,
    buf: &mut [u8],
) -> Option<io::Result<PingEvent>> {
    match core.stack.ping_recv_error(h) {
        Ok(Some(report)) => return Some(Ok(PingEvent::Error(report))),
        Ok(None) => {}
        Err(e) => return Some(Err(ping_error(e))),
    }
    let mut options = [0; MAX_OPTIONS];
    match core.stack.ping_recv_msg(h, buf, &mut options) {
        Ok((r, options_len)) => {
            let word = |i: usize| {
                buf.get(i..i + 2)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
            };
            Some(Ok(PingEvent::Reply(PingReply {
                len: r.len,
                truncated: r.truncated,
                src: r.src,
                ttl: r.ttl,
                tos: r.tos,
                ident: word(4),
                seq: word(6),
                options,
                // At most 40.
                options_len: options_len as u8,
            })))
        }
        Err(PingError::WouldBlock) => None,
        Err(e) => Some(Err(ping_error(e))),
    }
}

/// The next reply and its source, as `recvfrom(2)` (both front ends).
pub(crate) fn try_recv_from(
    core: &mut Core,
    h: PingHandle,
    buf: &mut [u8],
) -> Option<io::Result<(usize, Ipv4Addr)>> {
    match core.stack.ping_recv_from(h, buf) {
        Ok(r) => Some(Ok((r.len, r.src))),
        Err(PingError::WouldBlock) => None,
        Err(e) => Some(Err(ping_error(e))),
    }
}

/// An echo request's message: the header with `seq`, then `data`.
pub(crate) fn echo_request(seq: u16, data: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(HEADER_LEN + data.len());
    message.extend_from_slice(&[8, 0, 0, 0, 0, 0]);
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(data);
    message
}

/// Closes a ping socket the application dropped (both front ends).
pub(crate) fn release(core: &mut Core, h: PingHandle) {
    if core.registry.pings.remove(&h).is_some() {
        let _ = core.stack.ping_close(h);
    }
}

impl Drop for PingSocket {
    fn drop(&mut self) {
        let mut core = self.rt.shared.lock_anyway();
        release(&mut core, self.h);
    }
}
