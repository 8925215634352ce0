//! UDP sockets: the socket table, bind/connect semantics, receive queues and
//! demultiplexing, without I/O.
//!
//! Read before touching: RFC 768 (UDP; a zero checksum means "none"),
//! RFC 1122 §4.1.3 (what a host's UDP must do: port unreachable for a
//! closed port, pass ICMP errors up, verify checksums), RFC 6056 §3.3.1
//! (random ephemeral ports), RFC 8085 §5 (UDP usage guidelines).
//!
//! Semantics are Linux's, errors are std's:
//!
//! - `bind` to a port taken by a socket on the same address, on the wildcard
//!   address, or (for a wildcard bind) on any address fails with
//!   [`UdpError::AddrInUse`]; to an address that is not ours with
//!   [`UdpError::AddrNotAvailable`]; port 0 picks an ephemeral port from
//!   `ip_local_port_range`. Sockets that all set SO_REUSEADDR before binding
//!   may share an address and port (Linux's UDP SO_REUSEADDR): a unicast
//!   datagram goes to one of them (one connected to its source first, then
//!   one bound to its address rather than the wildcard, then the newest),
//!   a broadcast or multicast one to every one that takes it (Linux's
//!   `__udp4_lib_mcast_deliver`). Sockets that all set SO_REUSEPORT share
//!   the same way, except that a unicast datagram goes to the one a keyed
//!   hash of its 4-tuple picks among the best (Linux's
//!   `reuseport_select_sock`): the datagrams of one flow to one socket.
//! - `connect` only records the peer: the socket then sends to it by default
//!   and receives only from it. It binds an unbound socket to an ephemeral
//!   port and fixes a wildcard local address to the route's source, as Linux
//!   does. It may be repeated to change the peer; `disconnect` undoes it
//!   (forgetting an automatic local address and an automatic port too).
//! - A connected socket reports a hard ICMP error (port unreachable:
//!   ConnectionRefused) on its next send or receive, once; unconnected
//!   sockets see none, unless they set IP_RECVERR, which queues every ICMP
//!   error about the socket's datagrams (a router's time exceeded: what
//!   traceroute listens for) with the address that sent it.
//! - Each socket's receive queue is bounded by its receive buffer
//!   (`rmem_default`), charging every datagram its length plus
//!   [`DATAGRAM_OVERHEAD`]; a datagram that does not fit is dropped
//!   (`RcvbufErrors`). Datagrams are stored back to back in one ring
//!   buffer, not one allocation each.
//! - Demultiplexing is two hash lookups: (destination address, port), then
//!   (0.0.0.0, port); a connected socket matches only its peer. A unicast
//!   datagram no socket takes is `NoPorts` and asks for ICMP port
//!   unreachable; a broadcast one is `IgnoredMulti`.

use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::HashMap;

use crate::config::Config;
use crate::ip::KeyedHasher;
use crate::ip::icmp::{IcmpErrno, IcmpError, IcmpErrorKind, TransportError};
use crate::ip::igmp::SocketMemberships;
use crate::ip::options::{MAX_LEN as MAX_OPTIONS, SendOptions, return_options};
use crate::ip::pmtu::PmtuDiscovery;
use crate::ip::stats::UdpStats;
use crate::rng::Rng;
use crate::siphash::SipKey;
use crate::wire::checksum::Checksum;
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::udp::{self, UdpPacket, UdpRepr};

pub(crate) mod errors;
mod ports;
pub(crate) mod rx;

use errors::SocketErrors;
use ports::Binding;
use rx::{Arrived, RxQueue};

/// The largest UDP payload over IPv4: 65,535 - 20 (IP) - 8 (UDP).
pub const MAX_PAYLOAD: usize = 65_507;

/// Charged against the receive buffer per datagram besides its bytes (its
/// metadata; Linux charges an skb's truesize, a few hundred bytes more).
pub const DATAGRAM_OVERHEAD: usize = 256;

const WILDCARD: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// Names a socket in a [`UdpSockets`] table. A handle to a closed socket
/// stays invalid even after its slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpHandle {
    index: u32,
    generation: u32,
}

impl UdpHandle {
    /// The slot number: unique among open sockets, reused after a close
    /// (for tables keyed by socket; the handle itself also tells reuse apart).
    pub const fn index(self) -> u32 {
        self.index
    }
}

/// Why a socket operation failed. Variants name std's `io::ErrorKind`
/// (and Linux's errno) so the runtime can map them one to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpError {
    /// The handle names no open socket (API misuse; EBADF).
    InvalidHandle,
    /// The address and port are taken (EADDRINUSE).
    AddrInUse,
    /// The address is not one of ours (EADDRNOTAVAIL).
    AddrNotAvailable,
    /// Every ephemeral port is taken (EADDRINUSE from bind, EAGAIN from an
    /// implicit bind).
    NoEphemeralPorts,
    /// Already bound; or a destination port of 0 (EINVAL).
    InvalidInput,
    /// No destination given and not connected (EDESTADDRREQ).
    NotConnected,
    /// Nothing to receive (EAGAIN).
    WouldBlock,
    /// No route to the destination (ENETUNREACH).
    NetworkUnreachable,
    /// More than [`MAX_PAYLOAD`] bytes (EMSGSIZE).
    MessageTooLong,
    /// The stack's output queue is full (ENOBUFS); try again after
    /// draining `poll_transmit`.
    NoBufferSpace,
    /// An ICMP error for this (connected) socket, reported once.
    Icmp(IcmpErrno),
}

impl fmt::Display for UdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdpError::InvalidHandle => f.write_str("no such socket"),
            UdpError::AddrInUse => f.write_str("address in use"),
            UdpError::AddrNotAvailable => f.write_str("address not available"),
            UdpError::NoEphemeralPorts => f.write_str("no ephemeral port available"),
            UdpError::InvalidInput => f.write_str("invalid argument"),
            UdpError::NotConnected => f.write_str("destination address required"),
            UdpError::WouldBlock => f.write_str("operation would block"),
            UdpError::NetworkUnreachable => f.write_str("network unreachable"),
            UdpError::MessageTooLong => f.write_str("message too long"),
            UdpError::NoBufferSpace => f.write_str("no buffer space available"),
            UdpError::Icmp(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for UdpError {}

/// What became of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpInput {
    /// Queued to this socket (now readable).
    Delivered(UdpHandle),
    /// A broadcast or multicast datagram queued to this many sockets that
    /// share its port (SO_REUSEADDR); those it made readable are
    /// [`UdpSockets::drain_readable`]'s.
    DeliveredToMany(usize),
    /// A unicast datagram for a port nobody listens on (`NoPorts`): answer
    /// with ICMP port unreachable, if [`may_send_error`] and the rate
    /// limiter allow.
    ///
    /// [`may_send_error`]: crate::ip::icmp::may_send_error
    NoPort,
    /// A broadcast or multicast datagram nobody wanted (`IgnoredMulti`).
    Ignored,
    /// Dropped and counted in `InErrors`.
    Dropped(UdpDrop),
}

/// Why a received datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpDrop {
    /// Shorter than 8 bytes or than its length field says.
    Malformed,
    /// The checksum is not zero and does not verify (`InCsumErrors`).
    BadChecksum,
    /// The socket's receive queue is full (`RcvbufErrors`).
    RcvbufFull,
}

/// The addresses of a datagram to send, after any implicit bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
}

impl Outgoing {
    /// Bytes the UDP datagram (header and payload) takes.
    pub const fn udp_len(payload_len: usize) -> usize {
        udp::HEADER_LEN + payload_len
    }

    /// Writes the UDP header and `payload` into `buf`; the IP header is the
    /// caller's (protocol UDP, from `src` to `dst`). Returns the UDP length,
    /// or `None` when `buf` is too short or the payload too long.
    pub fn emit(&self, payload: &[u8], checksum: Checksum, buf: &mut [u8]) -> Option<usize> {
        if payload.len() > MAX_PAYLOAD {
            return None;
        }
        let repr = UdpRepr {
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            payload,
        };
        let len = repr.buffer_len();
        let buf = buf.get_mut(..len)?;
        repr.emit(
            &mut UdpPacket::new_unchecked(buf),
            *self.src.ip(),
            *self.dst.ip(),
            checksum,
        );
        Some(len)
    }
}

/// A received datagram's details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// The datagram was longer than the buffer; the rest is gone (MSG_TRUNC).
    pub truncated: bool,
    pub src: SocketAddrV4,
    /// The address it was sent to (IP_PKTINFO): ours, or a broadcast address.
    pub dst: Ipv4Addr,
    /// The TTL it arrived with (IP_RECVTTL).
    pub ttl: u8,
    /// The TOS byte it arrived with, DSCP and ECN (IP_RECVTOS).
    pub tos: u8,
    /// The stack's interface it came in on (IP_PKTINFO's `ipi_ifindex`),
    /// for a server that answers by the interface a request used.
    pub iface: crate::ip::IfaceId,
}

/// An ICMP error about one of a socket's datagrams, as IP_RECVERR queues
/// it (Linux's `sock_extended_err` with `SO_EE_ORIGIN_ICMP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpErrorReport {
    /// Who sent the error (`SO_EE_OFFENDER`): a router, or the destination.
    pub offender: Ipv4Addr,
    /// What it says.
    pub error: IcmpError,
    /// The datagram's destination.
    pub dst: SocketAddrV4,
}

impl UdpErrorReport {
    /// The ICMP type and code of the error (`ee_type`, `ee_code`).
    pub fn icmp_type_code(&self) -> (u8, u8) {
        self.error.type_code()
    }
}

/// A bound socket, as `ss -u` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpSocketSummary {
    pub handle: UdpHandle,
    pub local: SocketAddrV4,
    /// The connected peer.
    pub peer: Option<SocketAddrV4>,
    /// The receive buffer's memory in use: the queued datagrams' bytes and
    /// [`DATAGRAM_OVERHEAD`] each (where Linux's `sk_rmem_alloc` counts
    /// each skb's truesize).
    pub rmem: usize,
}

#[derive(Debug)]
struct UdpSocket {
    /// `None` until bound (explicitly or implicitly).
    local: Option<SocketAddrV4>,
    /// The specific address `bind` chose (Linux SOCK_BINDADDR_LOCK); kept
    /// when `disconnect` drops an automatic port, and reused by the next
    /// implicit bind.
    locked_addr: Option<Ipv4Addr>,
    /// Bound to a port by `bind` (Linux SOCK_BINDPORT_LOCK).
    port_locked: bool,
    peer: Option<SocketAddrV4>,
    rx: RxQueue,
    /// The pending ICMP error and IP_RECVERR's queue.
    errors: SocketErrors<UdpErrorReport>,
    /// IP_MULTICAST_TTL: the TTL of datagrams to a multicast group.
    multicast_ttl: u8,
    /// IP_TTL: the TTL of its other datagrams, if set (else `ip_default_ttl`).
    unicast_ttl: Option<u8>,
    /// IP_TOS: the TOS byte of its datagrams, DSCP and ECN field as the
    /// application sets them (a datagram socket's ECN field is its own:
    /// RFC 3168 §6 leaves it to the transport, and UDP has none).
    tos: u8,
    /// IP_MTU_DISCOVER: what its datagrams do with the path MTU.
    pmtu_discovery: PmtuDiscovery,
    /// IP_MULTICAST_LOOP: its datagrams to a group this host has joined
    /// come back to the host's own members too (on by default, as Linux).
    multicast_loop: bool,
    /// IP_ADD_MEMBERSHIP and the source calls: the groups it joined, with
    /// their interfaces and source filters.
    memberships: SocketMemberships,
    /// IP_MULTICAST_IF: the interface its datagrams to a group leave by;
    /// `None`: the route's.
    multicast_if: Option<usize>,
    /// IP_OPTIONS: the IP options its datagrams carry (boxed: rare).
    ip_options: Option<Box<SendOptions>>,
    /// IP_RECVOPTS or IP_RETOPTS: its datagrams are queued with their IP
    /// options, as they came or as the reply needs them.
    recv_options: RecvOptions,
    /// SO_REUSEADDR: it may share its address and port with sockets that
    /// set it too.
    reuse_addr: bool,
    /// SO_REUSEPORT: likewise, and unicast datagrams are spread over the
    /// sockets that set it by a hash of their 4-tuple.
    reuse_port: bool,
}

/// The socket address a UDP datagram quoted by an ICMP error came from
/// (ours) and the one it went to.
fn quoted_pair(error: &TransportError<'_>) -> Option<(SocketAddrV4, SocketAddrV4)> {
    if error.quoted.protocol != IpProtocol::Udp {
        return None;
    }
    let (sport, dport) = error.ports()?;
    Some((
        SocketAddrV4::new(error.quoted.src_addr, sport),
        SocketAddrV4::new(error.quoted.dst_addr, dport),
    ))
}

/// Queues a datagram on `s`, sent `to` an address of ours with a TTL and
/// TOS, with the IP options it asked for (as they came, or as a reply
/// needs them); false if its buffer is full.
fn queue(
    s: &mut UdpSocket,
    from: SocketAddrV4,
    to: Arrived,
    options: &[u8],
    payload: &[u8],
) -> bool {
    match s.recv_options {
        RecvOptions::None => s.rx.push(from, to, &[], payload),
        RecvOptions::AsReceived => {
            let options = &options[..options.len().min(MAX_OPTIONS)];
            s.rx.push(from, to, options, payload)
        }
        // The reply's options are worked out only for a socket that asked.
        RecvOptions::ForReply => {
            let mut for_reply = [0; MAX_OPTIONS];
            let n = return_options(options, *from.ip(), &mut for_reply);
            s.rx.push(from, to, &for_reply[..n], payload)
        }
    }
}

/// Which IP options a socket's datagrams are queued with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvOptions {
    None,
    /// IP_RECVOPTS: as they arrived.
    AsReceived,
    /// IP_RETOPTS: as a reply should carry them (the source route
    /// reversed: `ip::options::return_options`).
    ForReply,
}

/// IP_MULTICAST_TTL's default: RFC 1112 §6.1, "If not otherwise
/// specified, [the TTL of an outgoing multicast datagram] should default
/// to 1", so that it stays on the link (Linux's default too).
pub const DEFAULT_MULTICAST_TTL: u8 = 1;

#[derive(Debug)]
struct Slot {
    generation: u32,
    socket: Option<UdpSocket>,
}

/// Every UDP socket of a stack.
#[derive(Debug)]
pub struct UdpSockets {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Local address (possibly 0.0.0.0) and port -> slot index: the newest
    /// socket bound there.
    bound: HashMap<SocketAddrV4, u32, KeyedHasher>,
    /// Every socket bound to a port, in bind order: what a bind must not
    /// overlap, and who shares an address (SO_REUSEADDR).
    port_users: HashMap<u16, Vec<Binding>, KeyedHasher>,
    /// Bindings that share their address and port with another: while
    /// there are none, a unicast datagram's socket is `bound`'s.
    shared: usize,
    /// Sockets a datagram for several made readable, for the stack's
    /// events ([`UdpSockets::drain_readable`]).
    readable: Vec<UdpHandle>,
    /// Keys the hash that spreads unicast datagrams over SO_REUSEPORT
    /// sockets (a peer cannot aim at one).
    reuseport_key: SipKey,
    port_range: (u16, u16),
    rcvbuf: usize,
    rng: Rng,
    stats: UdpStats,
}

impl UdpSockets {
    /// An empty table using `config`'s `ip_local_port_range` and
    /// `rmem_default`; `rng` draws ephemeral ports, `key` keys the hash
    /// tables (remote datagrams choose the ports looked up).
    pub fn new(config: &Config, rng: Rng, key: SipKey) -> Self {
        UdpSockets {
            slots: Vec::new(),
            free: Vec::new(),
            bound: HashMap::with_hasher(KeyedHasher::new(key)),
            port_users: HashMap::with_hasher(KeyedHasher::new(key)),
            shared: 0,
            readable: Vec::new(),
            reuseport_key: SipKey(key.0.map(|b| b ^ 0x5A)),
            port_range: config.ip_local_port_range,
            rcvbuf: config.rmem_default,
            rng,
            stats: UdpStats::default(),
        }
    }

    pub fn stats(&self) -> &UdpStats {
        &self.stats
    }

    /// Open sockets.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new, unbound socket (`socket(AF_INET, SOCK_DGRAM)`).
    pub fn open(&mut self) -> UdpHandle {
        let socket = UdpSocket {
            local: None,
            locked_addr: None,
            port_locked: false,
            peer: None,
            rx: RxQueue::new(self.rcvbuf),
            errors: SocketErrors::new(),
            multicast_ttl: DEFAULT_MULTICAST_TTL,
            unicast_ttl: None,
            tos: 0,
            pmtu_discovery: PmtuDiscovery::Want,
            multicast_loop: true,
            memberships: SocketMemberships::default(),
            multicast_if: None,
            ip_options: None,
            recv_options: RecvOptions::None,
            reuse_addr: false,
            reuse_port: false,
        };
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.socket = Some(socket);
                UdpHandle {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = self.slots.len() as u32;
                self.slots.push(Slot {
                    generation: 0,
                    socket: Some(socket),
                });
                UdpHandle {
                    index,
                    generation: 0,
                }
            }
        }
    }

    /// Closes a socket: unbinds it and drops its queued datagrams.
    pub fn close(&mut self, h: UdpHandle) -> Result<(), UdpError> {
        self.socket(h)?;
        self.unbind(h.index);
        let slot = &mut self.slots[h.index as usize];
        slot.socket = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(h.index);
        Ok(())
    }

    /// Binds to `local`: a specific address of ours or 0.0.0.0, a port or 0
    /// for an ephemeral one. `is_local` says whether an address is one of
    /// the stack's (broadcast and multicast addresses may be bound too).
    /// Returns the address bound.
    pub fn bind(
        &mut self,
        h: UdpHandle,
        local: SocketAddrV4,
        is_local: impl Fn(Ipv4Addr) -> bool,
    ) -> Result<SocketAddrV4, UdpError> {
        if self.socket(h)?.local.is_some() {
            return Err(UdpError::InvalidInput);
        }
        let addr = *local.ip();
        let bindable =
            addr == WILDCARD || addr.is_broadcast() || addr.is_multicast() || is_local(addr);
        if !bindable {
            return Err(UdpError::AddrNotAvailable);
        }
        let s = self.socket(h)?;
        let reuse = (s.reuse_addr, s.reuse_port);
        let port = match local.port() {
            0 => self.ephemeral(addr).ok_or(UdpError::NoEphemeralPorts)?,
            p if self.is_free(addr, p, reuse) => p,
            _ => return Err(UdpError::AddrInUse),
        };
        let bound = SocketAddrV4::new(addr, port);
        self.attach(h.index, bound);
        let s = self.socket_mut(h)?;
        s.locked_addr = (addr != WILDCARD).then_some(addr);
        s.port_locked = local.port() != 0;
        Ok(bound)
    }

    /// Connects to `remote`: records the peer, binds an unbound socket to an
    /// ephemeral port, and sets a wildcard local address to `route_src`, the
    /// route's source address towards `remote` (`None`: no route, which
    /// fails with NetworkUnreachable). Returns the local address.
    pub fn connect(
        &mut self,
        h: UdpHandle,
        remote: SocketAddrV4,
        route_src: Option<Ipv4Addr>,
    ) -> Result<SocketAddrV4, UdpError> {
        self.socket(h)?;
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(UdpError::InvalidInput);
        }
        let src = route_src.ok_or(UdpError::NetworkUnreachable)?;
        let local = self.autobind(h)?;
        let local = if *local.ip() == WILDCARD {
            // Linux `ip4_datagram_connect`: the socket now receives on the
            // route's source address only.
            let fixed = SocketAddrV4::new(src, local.port());
            self.unbind(h.index);
            self.attach(h.index, fixed);
            fixed
        } else {
            local
        };
        self.socket_mut(h)?.peer = Some(remote);
        Ok(local)
    }

    /// Undoes `connect` (`connect(AF_UNSPEC)`): forgets the peer, and the
    /// local address and port unless `bind` chose them. A socket whose port
    /// was automatic is unbound afterwards (a later send binds it again, on
    /// the address `bind` chose, if any), as Linux's `__udp_disconnect` does.
    pub fn disconnect(&mut self, h: UdpHandle) -> Result<(), UdpError> {
        let s = self.socket_mut(h)?;
        s.peer = None;
        let Some(local) = s.local else {
            return Ok(());
        };
        let (locked_addr, port_locked) = (s.locked_addr, s.port_locked);
        self.unbind(h.index);
        if port_locked {
            let addr = locked_addr.unwrap_or(WILDCARD);
            self.attach(h.index, SocketAddrV4::new(addr, local.port()));
        }
        Ok(())
    }

    /// Prepares to send `len` bytes to `dst`, or to the peer when `dst` is
    /// `None`: reports a pending ICMP error, binds an unbound socket, and
    /// picks the source address (the bound one, or `route_src(dst)` for a
    /// wildcard-bound socket). Counts `OutDatagrams`. Emit the datagram with
    /// [`Outgoing::emit`].
    pub fn send_to(
        &mut self,
        h: UdpHandle,
        dst: Option<SocketAddrV4>,
        len: usize,
        route_src: impl FnOnce(Ipv4Addr) -> Option<Ipv4Addr>,
    ) -> Result<Outgoing, UdpError> {
        let s = self.socket_mut(h)?;
        if let Some(e) = s.errors.take_pending() {
            return Err(UdpError::Icmp(e));
        }
        let dst = dst.or(s.peer).ok_or(UdpError::NotConnected)?;
        if dst.port() == 0 {
            return Err(UdpError::InvalidInput);
        }
        if len > MAX_PAYLOAD {
            return Err(UdpError::MessageTooLong);
        }
        let local = self.autobind(h)?;
        let src = if *local.ip() == WILDCARD {
            route_src(*dst.ip()).ok_or(UdpError::NetworkUnreachable)?
        } else {
            *local.ip()
        };
        self.stats.out_datagrams += 1;
        Ok(Outgoing {
            src: SocketAddrV4::new(src, local.port()),
            dst,
        })
    }

    /// [`Self::send_to`] the connected peer.
    pub fn send(
        &mut self,
        h: UdpHandle,
        len: usize,
        route_src: impl FnOnce(Ipv4Addr) -> Option<Ipv4Addr>,
    ) -> Result<Outgoing, UdpError> {
        self.send_to(h, None, len, route_src)
    }

    /// Takes the oldest datagram into `buf` (truncating it if `buf` is
    /// shorter). A pending ICMP error is reported first, once.
    pub fn recv_from(&mut self, h: UdpHandle, buf: &mut [u8]) -> Result<Received, UdpError> {
        let mut options = [0; MAX_OPTIONS];
        self.recv_msg(h, buf, &mut options).map(|(r, _)| r)
    }

    /// [`Self::recv_from`], and the datagram's IP options into `options`
    /// with their length (none unless [`Self::set_recv_options`]).
    pub fn recv_msg(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
        options: &mut [u8; MAX_OPTIONS],
    ) -> Result<(Received, usize), UdpError> {
        let s = self.socket_mut(h)?;
        if let Some(e) = s.errors.take_pending() {
            return Err(UdpError::Icmp(e));
        }
        s.rx.pop(buf, options).ok_or(UdpError::WouldBlock)
    }

    /// Sets IP_RECVOPTS: datagrams queued from now on keep their IP options
    /// for [`Self::recv_msg`] (RFC 1122 §4.1.3.2: "UDP MUST pass any IP
    /// option that it receives from the IP layer transparently to the
    /// application layer").
    pub fn set_recv_options(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        let s = self.socket_mut(h)?;
        s.recv_options = match (on, s.recv_options) {
            (true, _) => RecvOptions::AsReceived,
            (false, RecvOptions::AsReceived) => RecvOptions::None,
            (false, other) => other,
        };
        Ok(())
    }

    /// Sets SO_REUSEADDR, for the next bind: the socket may share an address
    /// and port with sockets that set it too (see the module). A bound
    /// socket keeps its binding as it was made.
    pub fn set_reuse_addr(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.socket_mut(h)?.reuse_addr = on;
        Ok(())
    }

    /// Sets SO_REUSEPORT, for the next bind: the socket may share an address
    /// and port with sockets that set it too, and unicast datagrams are
    /// spread over them by a hash of their 4-tuple (see the module).
    pub fn set_reuse_port(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.socket_mut(h)?.reuse_port = on;
        Ok(())
    }

    /// Hands each socket a datagram for several made readable to `f`
    /// (after [`UdpInput::DeliveredToMany`]).
    pub fn drain_readable(&mut self, mut f: impl FnMut(UdpHandle)) {
        for h in self.readable.drain(..) {
            f(h);
        }
    }

    /// Sets IP_RETOPTS: datagrams queued from now on keep the IP options a
    /// reply to them should carry, their source route reversed (RFC 1122
    /// §3.2.1.8(c)), for [`Self::recv_msg`]. One of the two at a time: the
    /// later call decides (Linux can hand both).
    pub fn set_return_options(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        let s = self.socket_mut(h)?;
        s.recv_options = match (on, s.recv_options) {
            (true, _) => RecvOptions::ForReply,
            (false, RecvOptions::ForReply) => RecvOptions::None,
            (false, other) => other,
        };
        Ok(())
    }

    /// [`Self::recv_from`] without the source: the bytes copied.
    pub fn recv(&mut self, h: UdpHandle, buf: &mut [u8]) -> Result<usize, UdpError> {
        self.recv_from(h, buf).map(|r| r.len)
    }

    /// Takes the pending error, if any (`SO_ERROR`).
    pub fn take_error(&mut self, h: UdpHandle) -> Result<Option<IcmpErrno>, UdpError> {
        Ok(self.socket_mut(h)?.errors.take_pending())
    }

    /// A datagram prepared by [`Self::send_to`] could not be queued
    /// (`SndbufErrors`, and not an `OutDatagrams` after all).
    pub fn record_send_dropped(&mut self) {
        self.stats.out_datagrams = self.stats.out_datagrams.saturating_sub(1);
        self.stats.sndbuf_errors += 1;
    }

    /// A datagram or an error is waiting.
    pub fn is_readable(&self, h: UdpHandle) -> Result<bool, UdpError> {
        let s = self.socket(h)?;
        Ok(!s.errors.is_empty() || !s.rx.meta.is_empty())
    }

    pub fn local_addr(&self, h: UdpHandle) -> Result<Option<SocketAddrV4>, UdpError> {
        Ok(self.socket(h)?.local)
    }

    pub fn peer_addr(&self, h: UdpHandle) -> Result<Option<SocketAddrV4>, UdpError> {
        Ok(self.socket(h)?.peer)
    }

    /// Every bound socket, in slot order (an unbound one has no address
    /// to list, as Linux's /proc/net/udp lists only hashed sockets).
    pub fn summaries(&self) -> impl Iterator<Item = UdpSocketSummary> + '_ {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            let s = slot.socket.as_ref()?;
            Some(UdpSocketSummary {
                handle: UdpHandle {
                    index: index as u32,
                    generation: slot.generation,
                },
                local: s.local?,
                peer: s.peer,
                rmem: s.rx.charged(),
            })
        })
    }

    /// Datagrams queued and the bytes they hold (their payloads, and the IP
    /// options kept with them for IP_RECVOPTS).
    pub fn recv_queue(&self, h: UdpHandle) -> Result<(usize, usize), UdpError> {
        let rx = &self.socket(h)?.rx;
        Ok((rx.meta.len(), rx.bytes.len()))
    }

    /// Sets IP_MULTICAST_TTL: the TTL of this socket's datagrams to a
    /// multicast group (0 keeps them on this host).
    pub fn set_multicast_ttl(&mut self, h: UdpHandle, ttl: u8) -> Result<(), UdpError> {
        self.socket_mut(h)?.multicast_ttl = ttl;
        Ok(())
    }

    /// Sets IP_OPTIONS: the IP options of this socket's datagrams (`None`
    /// or empty: none).
    pub fn set_ip_options(
        &mut self,
        h: UdpHandle,
        options: Option<SendOptions>,
    ) -> Result<(), UdpError> {
        self.socket_mut(h)?.ip_options = options.filter(|o| !o.is_empty()).map(Box::new);
        Ok(())
    }

    /// IP_OPTIONS.
    pub fn ip_options(&self, h: UdpHandle) -> Result<Option<&SendOptions>, UdpError> {
        Ok(self.socket(h)?.ip_options.as_deref())
    }

    /// Sets IP_TTL: the TTL of this socket's datagrams other than to a
    /// group (`None`: the stack's `ip_default_ttl`).
    pub fn set_unicast_ttl(&mut self, h: UdpHandle, ttl: Option<u8>) -> Result<(), UdpError> {
        self.socket_mut(h)?.unicast_ttl = ttl;
        Ok(())
    }

    /// IP_TTL, if set.
    pub fn unicast_ttl(&self, h: UdpHandle) -> Result<Option<u8>, UdpError> {
        Ok(self.socket(h)?.unicast_ttl)
    }

    /// Sets IP_TOS: the TOS byte of this socket's datagrams.
    pub fn set_tos(&mut self, h: UdpHandle, tos: u8) -> Result<(), UdpError> {
        self.socket_mut(h)?.tos = tos;
        Ok(())
    }

    /// IP_TOS.
    pub fn tos(&self, h: UdpHandle) -> Result<u8, UdpError> {
        Ok(self.socket(h)?.tos)
    }

    /// Sets IP_MTU_DISCOVER.
    pub fn set_pmtu_discovery(
        &mut self,
        h: UdpHandle,
        mode: PmtuDiscovery,
    ) -> Result<(), UdpError> {
        self.socket_mut(h)?.pmtu_discovery = mode;
        Ok(())
    }

    /// IP_MTU_DISCOVER.
    pub fn pmtu_discovery(&self, h: UdpHandle) -> Result<PmtuDiscovery, UdpError> {
        Ok(self.socket(h)?.pmtu_discovery)
    }

    /// IP_MULTICAST_TTL.
    pub fn multicast_ttl(&self, h: UdpHandle) -> Result<u8, UdpError> {
        Ok(self.socket(h)?.multicast_ttl)
    }

    /// Sets IP_MULTICAST_LOOP.
    pub fn set_multicast_loop(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.socket_mut(h)?.multicast_loop = on;
        Ok(())
    }

    /// IP_MULTICAST_LOOP.
    pub fn multicast_loop(&self, h: UdpHandle) -> Result<bool, UdpError> {
        Ok(self.socket(h)?.multicast_loop)
    }

    /// Sets IP_MULTICAST_IF (`None`: the route's interface).
    pub fn set_multicast_if(&mut self, h: UdpHandle, iface: Option<usize>) -> Result<(), UdpError> {
        self.socket_mut(h)?.multicast_if = iface;
        Ok(())
    }

    /// IP_MULTICAST_IF.
    pub fn multicast_if(&self, h: UdpHandle) -> Result<Option<usize>, UdpError> {
        Ok(self.socket(h)?.multicast_if)
    }

    /// The socket's group memberships and their source filters.
    pub fn memberships(&self, h: UdpHandle) -> Result<&SocketMemberships, UdpError> {
        Ok(&self.socket(h)?.memberships)
    }

    /// The socket's group memberships, to change.
    pub fn memberships_mut(&mut self, h: UdpHandle) -> Result<&mut SocketMemberships, UdpError> {
        Ok(&mut self.socket_mut(h)?.memberships)
    }

    /// Sets the receive buffer (`SO_RCVBUF`, bytes charged as described at
    /// [`DATAGRAM_OVERHEAD`]). Datagrams already queued stay.
    pub fn set_recv_buffer_size(&mut self, h: UdpHandle, bytes: usize) -> Result<(), UdpError> {
        let rx = &mut self.socket_mut(h)?.rx;
        rx.limit = bytes;
        rx.bytes.set_limit(bytes);
        Ok(())
    }

    /// Delivers a received datagram: `ip` is its IP header, `udp` the bytes
    /// after it (bounded by the IP total length), `dst_broadcast` whether
    /// its destination is a broadcast or multicast address. Checksums are
    /// verified under [`Checksum::Full`] (RFC 768: zero means none).
    pub fn handle_datagram(
        &mut self,
        ip: &Ipv4Repr,
        udp: &[u8],
        dst_broadcast: bool,
        checksum: Checksum,
    ) -> UdpInput {
        self.handle_datagram_with_options(ip, 0, &[], udp, dst_broadcast, checksum)
    }

    /// [`Self::handle_datagram`] for a datagram that arrived on interface
    /// `iface` (which a socket's group filter is matched by) and whose IP
    /// header carried `options` (checked, at most 40 bytes), kept for a
    /// socket that asked for them (IP_RECVOPTS).
    pub fn handle_datagram_with_options(
        &mut self,
        ip: &Ipv4Repr,
        iface: usize,
        options: &[u8],
        udp: &[u8],
        dst_broadcast: bool,
        checksum: Checksum,
    ) -> UdpInput {
        let Ok(packet) = UdpPacket::new_checked(udp) else {
            self.stats.in_errors += 1;
            return UdpInput::Dropped(UdpDrop::Malformed);
        };
        let (src, dst) = (ip.src_addr, ip.dst_addr);
        let repr = match UdpRepr::parse(&packet, src, dst, checksum) {
            Ok(r) => r,
            Err(crate::wire::WireError::BadChecksum) => {
                self.stats.in_errors += 1;
                self.stats.in_csum_errors += 1;
                return UdpInput::Dropped(UdpDrop::BadChecksum);
            }
            Err(_) => {
                self.stats.in_errors += 1;
                return UdpInput::Dropped(UdpDrop::Malformed);
            }
        };
        let from = SocketAddrV4::new(src, repr.src_port);
        // IP_PKTINFO's, IP_RECVTTL's and IP_RECVTOS's values.
        let to = Arrived {
            dst,
            ttl: ip.ttl,
            tos: ip.dscp_ecn,
            iface: crate::ip::IfaceId(iface as u16),
        };
        if dst_broadcast && self.shared > 0 {
            return self.deliver_to_all(to, iface, repr.dst_port, from, options, repr.payload);
        }
        let Some(index) = self.demux(dst, repr.dst_port, from) else {
            if dst_broadcast {
                self.stats.ignored_multi += 1;
                return UdpInput::Ignored;
            }
            self.stats.no_ports += 1;
            return UdpInput::NoPort;
        };
        let slot = &mut self.slots[index as usize];
        let generation = slot.generation;
        let Some(s) = slot.socket.as_mut() else {
            // Unreachable: bound sockets are open.
            return UdpInput::NoPort;
        };
        // RFC 3376 §3.1: the socket's own source filter for the group
        // (Linux `ip_mc_sf_allow`); the interface's let it this far.
        if dst.is_multicast() && !s.memberships.allows(dst, iface, src) {
            self.stats.ignored_multi += 1;
            return UdpInput::Ignored;
        }
        if !queue(s, from, to, options, repr.payload) {
            self.stats.in_errors += 1;
            self.stats.rcvbuf_errors += 1;
            return UdpInput::Dropped(UdpDrop::RcvbufFull);
        }
        self.stats.in_datagrams += 1;
        UdpInput::Delivered(UdpHandle { index, generation })
    }

    /// A broadcast or multicast datagram when some sockets share their
    /// port: a copy for every socket on its port bound to its address or
    /// the wildcard that takes it (its peer, if connected; its source
    /// filter, for a group), as Linux's `__udp4_lib_mcast_deliver`.
    #[cold]
    #[inline(never)]
    fn deliver_to_all(
        &mut self,
        to: Arrived,
        iface: usize,
        port: u16,
        from: SocketAddrV4,
        options: &[u8],
        payload: &[u8],
    ) -> UdpInput {
        let Some(users) = self.port_users.get(&port) else {
            self.stats.ignored_multi += 1;
            return UdpInput::Ignored;
        };
        let (mut delivered, mut full) = (0, 0);
        let dst = to.dst;
        for b in users.iter().filter(|b| b.addr == dst || b.addr == WILDCARD) {
            let slot = &mut self.slots[b.index as usize];
            let generation = slot.generation;
            let Some(s) = slot.socket.as_mut() else {
                continue;
            };
            let takes = s.peer.is_none_or(|p| p == from)
                && (!dst.is_multicast() || s.memberships.allows(dst, iface, *from.ip()));
            if !takes {
                continue;
            }
            if !queue(s, from, to, options, payload) {
                full += 1;
                continue;
            }
            delivered += 1;
            if s.rx.meta.len() == 1 {
                let h = UdpHandle {
                    index: b.index,
                    generation,
                };
                self.readable.push(h);
            }
        }
        self.stats.in_errors += full;
        self.stats.rcvbuf_errors += full;
        if delivered == 0 && full == 0 {
            self.stats.ignored_multi += 1;
            return UdpInput::Ignored;
        }
        self.stats.in_datagrams += delivered;
        match delivered {
            0 => UdpInput::Dropped(UdpDrop::RcvbufFull),
            n => UdpInput::DeliveredToMany(n as usize),
        }
    }

    /// Hands an ICMP error from `offender` about a datagram we sent from
    /// `local` to `remote` to the socket that sent it, as Linux's
    /// `__udp4_lib_err`: with IP_RECVERR ([`Self::set_recv_error`]) every
    /// error is queued for [`Self::recv_error`] and becomes the pending
    /// error; without it, only a hard one
    /// ([`udp_error`](crate::ip::icmp::udp_error)) on a socket connected to
    /// `remote` is pending (`errors::SocketErrors`). A pending error is
    /// reported on the socket's next call, once. Returns the socket (now
    /// readable), if any.
    pub fn handle_icmp_error(
        &mut self,
        offender: Ipv4Addr,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        error: &IcmpError,
    ) -> Option<UdpHandle> {
        let index = self.demux(*local.ip(), local.port(), remote)?;
        let slot = &mut self.slots[index as usize];
        let s = slot.socket.as_mut()?;
        // IP_PMTUDISC_DONT: the socket asked not to hear of the path MTU
        // (Linux `__udp4_lib_err`); the stack still learned it.
        if matches!(error.kind, IcmpErrorKind::FragNeeded { .. })
            && s.pmtu_discovery == PmtuDiscovery::Dont
        {
            return None;
        }
        let report = || UdpErrorReport {
            offender,
            error: *error,
            dst: remote,
        };
        let cap = s.rx.limit / DATAGRAM_OVERHEAD;
        if !s
            .errors
            .on_error(error, s.peer == Some(remote), cap, report)
        {
            return None;
        }
        Some(UdpHandle {
            index,
            generation: slot.generation,
        })
    }

    /// Whether an ICMP error quotes a datagram one of the sockets sent (its
    /// source a socket's address and port, and the socket connected to its
    /// destination or not connected).
    pub fn sent_quoted(&self, error: &TransportError<'_>) -> bool {
        quoted_pair(error)
            .is_some_and(|(local, remote)| self.demux(*local.ip(), local.port(), remote).is_some())
    }

    /// [`Self::handle_icmp_error`] for a parsed ICMP error from `offender`
    /// quoting a UDP datagram (its source is our socket, its destination
    /// the peer).
    pub fn handle_transport_error(
        &mut self,
        offender: Ipv4Addr,
        error: &TransportError<'_>,
    ) -> Option<UdpHandle> {
        let (local, remote) = quoted_pair(error)?;
        self.handle_icmp_error(offender, local, remote, &error.error)
    }

    /// Sets IP_RECVERR: every ICMP error about the socket's datagrams is
    /// queued for [`Self::recv_error`], connected or not (off by default).
    /// Turning it off drops what was queued, as Linux does.
    pub fn set_recv_error(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.socket_mut(h)?.errors.set_recv_error(on);
        Ok(())
    }

    /// Takes the oldest queued error (`recvmsg` with MSG_ERRQUEUE); the
    /// pending error becomes the next queued one's, or none (Linux
    /// `sock_dequeue_err_skb`).
    pub fn recv_error(&mut self, h: UdpHandle) -> Result<Option<UdpErrorReport>, UdpError> {
        Ok(self.socket_mut(h)?.errors.pop())
    }

    fn socket(&self, h: UdpHandle) -> Result<&UdpSocket, UdpError> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.socket.as_ref())
            .ok_or(UdpError::InvalidHandle)
    }

    fn socket_mut(&mut self, h: UdpHandle) -> Result<&mut UdpSocket, UdpError> {
        self.slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.socket.as_mut())
            .ok_or(UdpError::InvalidHandle)
    }

    /// The socket's local address, binding it to an ephemeral port first if
    /// it is unbound (on 0.0.0.0, or the address `bind` chose before a
    /// `disconnect` dropped the port).
    fn autobind(&mut self, h: UdpHandle) -> Result<SocketAddrV4, UdpError> {
        let s = self.socket(h)?;
        if let Some(local) = s.local {
            return Ok(local);
        }
        let addr = s.locked_addr.unwrap_or(WILDCARD);
        let port = self.ephemeral(addr).ok_or(UdpError::NoEphemeralPorts)?;
        let local = SocketAddrV4::new(addr, port);
        self.attach(h.index, local);
        Ok(local)
    }
}

#[cfg(test)]
mod tests;
