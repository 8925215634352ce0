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
//!   sockets never see ICMP errors (no IP_RECVERR).
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
use std::collections::{HashMap, VecDeque};

use crate::config::Config;
use crate::ip::KeyedHasher;
use crate::ip::icmp::{IcmpErrno, IcmpError, TransportError, udp_error};
use crate::ip::igmp::SocketMemberships;
use crate::ip::options::{MAX_LEN as MAX_OPTIONS, SendOptions, return_options};
use crate::ip::stats::UdpStats;
use crate::rng::Rng;
use crate::siphash::SipKey;
use crate::storage::RingBuffer;
use crate::wire::checksum::Checksum;
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::udp::{self, UdpPacket, UdpRepr};

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
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    src: SocketAddrV4,
    dst: Ipv4Addr,
    len: usize,
    /// The IP options stored before the payload (IP_RECVOPTS), bytes.
    options: u8,
}

#[derive(Debug)]
struct RxQueue {
    bytes: RingBuffer,
    meta: VecDeque<Meta>,
    charged: usize,
    limit: usize,
}

impl RxQueue {
    fn new(limit: usize) -> Self {
        RxQueue {
            bytes: RingBuffer::new(limit),
            meta: VecDeque::new(),
            charged: 0,
            limit,
        }
    }

    /// Queues a datagram, and its IP options if the socket wants them
    /// (`options` is empty otherwise); both count against the limit.
    fn push(&mut self, src: SocketAddrV4, dst: Ipv4Addr, options: &[u8], data: &[u8]) -> bool {
        let stored_len = options.len() + data.len();
        let cost = stored_len + DATAGRAM_OVERHEAD;
        if self.charged + cost > self.limit || self.bytes.free() < stored_len {
            return false;
        }
        let stored = self.bytes.enqueue_slice(options) + self.bytes.enqueue_slice(data);
        debug_assert_eq!(stored, stored_len, "free() was checked");
        self.meta.push_back(Meta {
            src,
            dst,
            len: data.len(),
            // At most 40 (`ip::options::MAX_LEN`).
            options: options.len() as u8,
        });
        self.charged += cost;
        true
    }

    /// Takes the oldest datagram into `buf` and its IP options into
    /// `options`, with their length.
    fn pop(
        &mut self,
        buf: &mut [u8],
        options: &mut [u8; MAX_OPTIONS],
    ) -> Option<(Received, usize)> {
        let m = self.meta.pop_front()?;
        let options_len = usize::from(m.options);
        let taken = self.bytes.dequeue_slice(&mut options[..options_len]);
        debug_assert_eq!(taken, options_len, "queued with the datagram");
        let n = m.len.min(buf.len());
        let copied = self.bytes.dequeue_slice(&mut buf[..n]);
        self.bytes.discard_front(m.len - copied);
        self.charged -= options_len + m.len + DATAGRAM_OVERHEAD;
        let received = Received {
            len: copied,
            truncated: copied < m.len,
            src: m.src,
            dst: m.dst,
        };
        Some((received, options_len))
    }
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
    error: Option<IcmpErrno>,
    /// IP_MULTICAST_TTL: the TTL of datagrams to a multicast group.
    multicast_ttl: u8,
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

/// Queues a datagram on `s`, with the IP options it asked for (as they
/// came, or as a reply needs them); false if its buffer is full.
fn queue(
    s: &mut UdpSocket,
    from: SocketAddrV4,
    dst: Ipv4Addr,
    options: &[u8],
    payload: &[u8],
) -> bool {
    let mut for_reply = [0; MAX_OPTIONS];
    let options = match s.recv_options {
        RecvOptions::None => &[][..],
        RecvOptions::AsReceived => &options[..options.len().min(MAX_OPTIONS)],
        RecvOptions::ForReply if options.is_empty() => &[][..],
        RecvOptions::ForReply => {
            let n = return_options(options, *from.ip(), &mut for_reply);
            &for_reply[..n]
        }
    };
    s.rx.push(from, dst, options, payload)
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

/// A socket bound to a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Binding {
    index: u32,
    addr: Ipv4Addr,
    reuse_addr: bool,
    reuse_port: bool,
}

impl Binding {
    /// Whether it and `other` may share an address and port.
    fn shares_with(&self, reuse_addr: bool, reuse_port: bool) -> bool {
        (reuse_addr && self.reuse_addr) || (reuse_port && self.reuse_port)
    }
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
            error: None,
            multicast_ttl: DEFAULT_MULTICAST_TTL,
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
        if let Some(e) = s.error.take() {
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
        if let Some(e) = s.error.take() {
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
        Ok(self.socket_mut(h)?.error.take())
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
        Ok(s.error.is_some() || !s.rx.meta.is_empty())
    }

    pub fn local_addr(&self, h: UdpHandle) -> Result<Option<SocketAddrV4>, UdpError> {
        Ok(self.socket(h)?.local)
    }

    pub fn peer_addr(&self, h: UdpHandle) -> Result<Option<SocketAddrV4>, UdpError> {
        Ok(self.socket(h)?.peer)
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
        self.handle_datagram_with_options(ip, &[], udp, dst_broadcast, checksum)
    }

    /// [`Self::handle_datagram`] for a datagram whose IP header carried
    /// `options` (checked, at most 40 bytes), kept for a socket that asked
    /// for them (IP_RECVOPTS).
    pub fn handle_datagram_with_options(
        &mut self,
        ip: &Ipv4Repr,
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
        if dst_broadcast && self.shared > 0 {
            return self.deliver_to_all(dst, repr.dst_port, from, options, repr.payload);
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
        if dst.is_multicast() && !s.memberships.allows(dst, src) {
            self.stats.ignored_multi += 1;
            return UdpInput::Ignored;
        }
        if !queue(s, from, dst, options, repr.payload) {
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
        dst: Ipv4Addr,
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
        for b in users.iter().filter(|b| b.addr == dst || b.addr == WILDCARD) {
            let slot = &mut self.slots[b.index as usize];
            let generation = slot.generation;
            let Some(s) = slot.socket.as_mut() else {
                continue;
            };
            let takes = s.peer.is_none_or(|p| p == from)
                && (!dst.is_multicast() || s.memberships.allows(dst, *from.ip()));
            if !takes {
                continue;
            }
            if !queue(s, from, dst, options, payload) {
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

    /// Hands an ICMP error about a datagram we sent from `local` to `remote`
    /// to the socket that sent it, if it is connected to `remote` and the
    /// error is hard ([`udp_error`]); it is reported on that socket's next
    /// call. Returns the socket (now readable), if any.
    pub fn handle_icmp_error(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        error: &IcmpError,
    ) -> Option<UdpHandle> {
        let errno = udp_error(error)?;
        let index = self.demux(*local.ip(), local.port(), remote)?;
        let slot = &mut self.slots[index as usize];
        let s = slot.socket.as_mut()?;
        if s.peer != Some(remote) {
            return None;
        }
        s.error = Some(errno);
        Some(UdpHandle {
            index,
            generation: slot.generation,
        })
    }

    /// [`Self::handle_icmp_error`] for a parsed ICMP error quoting a UDP
    /// datagram (its source is our socket, its destination the peer).
    pub fn handle_transport_error(&mut self, error: &TransportError<'_>) -> Option<UdpHandle> {
        if error.quoted.protocol != IpProtocol::Udp {
            return None;
        }
        let (sport, dport) = error.ports()?;
        let local = SocketAddrV4::new(error.quoted.src_addr, sport);
        let remote = SocketAddrV4::new(error.quoted.dst_addr, dport);
        self.handle_icmp_error(local, remote, &error.error)
    }

    /// The socket for a datagram to `dst:port` from `from`: the one bound
    /// to that address, else the wildcard one; a connected socket only
    /// matches its peer.
    fn demux(&self, dst: Ipv4Addr, port: u16, from: SocketAddrV4) -> Option<u32> {
        if self.shared > 0 {
            return self.demux_shared(dst, port, from);
        }
        let accepts = |index: u32| {
            self.slots[index as usize]
                .socket
                .as_ref()
                .is_some_and(|s| s.peer.is_none_or(|p| p == from))
        };
        [dst, WILDCARD]
            .into_iter()
            .filter_map(|a| self.bound.get(&SocketAddrV4::new(a, port)).copied())
            .find(|&i| accepts(i))
    }

    /// [`Self::demux`] while some sockets share an address (SO_REUSEADDR,
    /// SO_REUSEPORT): of those on the port that take the datagram, one
    /// connected to its source first, then one bound to its address rather
    /// than the wildcard (Linux's `compute_score`); among the best, the one
    /// the 4-tuple's hash picks if they all set SO_REUSEPORT (Linux's
    /// `reuseport_select_sock`), else the newest.
    #[cold]
    #[inline(never)]
    fn demux_shared(&self, dst: Ipv4Addr, port: u16, from: SocketAddrV4) -> Option<u32> {
        let users = self.port_users.get(&port)?;
        let score = |b: &Binding| {
            let s = self.slots[b.index as usize].socket.as_ref()?;
            let connected = match s.peer {
                Some(p) if p == from => 2,
                Some(_) => return None,
                None => 0,
            };
            let specific = match b.addr {
                a if a == dst => 1,
                WILDCARD => 0,
                _ => return None,
            };
            Some(connected + specific)
        };
        let best = users.iter().filter_map(score).max()?;
        let top = || users.iter().filter(move |b| score(b) == Some(best));
        let count = top().count();
        if count > 1 && top().all(|b| b.reuse_port) {
            let mut tuple = [0u8; 12];
            tuple[..4].copy_from_slice(&dst.octets());
            tuple[4..8].copy_from_slice(&from.ip().octets());
            tuple[8..10].copy_from_slice(&port.to_be_bytes());
            tuple[10..].copy_from_slice(&from.port().to_be_bytes());
            let hash = self.reuseport_key.hash(&tuple) as u32;
            let i = (u64::from(hash) * count as u64) >> 32;
            return top().nth(i as usize).map(|b| b.index);
        }
        top().next_back().map(|b| b.index)
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

    /// Whether `addr:port` may be bound: no socket on that address or on
    /// the wildcard address, and for the wildcard address none at all;
    /// unless this one and every one in the way set SO_REUSEADDR, or all
    /// set SO_REUSEPORT (`reuse`: this one's two).
    fn is_free(&self, addr: Ipv4Addr, port: u16, reuse: (bool, bool)) -> bool {
        self.port_users.get(&port).is_none_or(|users| {
            users
                .iter()
                .filter(|b| b.addr == addr || b.addr == WILDCARD || addr == WILDCARD)
                .all(|b| b.shares_with(reuse.0, reuse.1))
        })
    }

    /// RFC 6056 §3.3.1 "Algorithm 1: Simple Port Randomization": a random
    /// start, then the next free port. (Algorithm 4, which TCP uses, keys on
    /// the destination; an unconnected UDP socket has none, and a per-source
    /// sequence would make DNS ports guessable.)
    fn ephemeral(&mut self, addr: Ipv4Addr) -> Option<u16> {
        let (lo, hi) = self.port_range;
        if lo == 0 || lo > hi {
            return None;
        }
        let n = u32::from(hi - lo) + 1;
        let start = self.rng.below(u64::from(n)) as u32;
        (0..n)
            .map(|i| lo + ((start + i) % n) as u16)
            .find(|&p| self.is_free(addr, p, (false, false)))
    }

    fn attach(&mut self, index: u32, local: SocketAddrV4) {
        let (reuse_addr, reuse_port) = self.slots[index as usize]
            .socket
            .as_ref()
            .map_or((false, false), |s| (s.reuse_addr, s.reuse_port));
        if self.bound.insert(local, index).is_some() {
            self.shared += 1;
        }
        self.port_users
            .entry(local.port())
            .or_default()
            .push(Binding {
                index,
                addr: *local.ip(),
                reuse_addr,
                reuse_port,
            });
        if let Some(s) = self.slots[index as usize].socket.as_mut() {
            s.local = Some(local);
        }
    }

    fn unbind(&mut self, index: u32) {
        let Some(s) = self.slots[index as usize].socket.as_mut() else {
            return;
        };
        let Some(local) = s.local.take() else {
            return;
        };
        let Some(users) = self.port_users.get_mut(&local.port()) else {
            return;
        };
        users.retain(|b| b.index != index);
        // The newest left on the address takes it, if any.
        let next = users.iter().rev().find(|b| b.addr == *local.ip());
        match (self.bound.get(&local) == Some(&index), next) {
            (true, Some(b)) => {
                self.bound.insert(local, b.index);
                self.shared -= 1;
            }
            (true, None) => {
                self.bound.remove(&local);
            }
            (false, _) => self.shared -= 1,
        }
        if users.is_empty() {
            self.port_users.remove(&local.port());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::icmp::{self, ErrorMessage, ReplyIp};
    use crate::wire::icmpv4::{DstUnreachable, Icmpv4Packet, Icmpv4Repr};
    use crate::wire::ipv4::Ipv4Packet;
    use crate::wire::test_util::junk;

    const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const US2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

    fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(ip, port)
    }

    fn ours(a: Ipv4Addr) -> bool {
        a == US || a == US2
    }

    fn route(_dst: Ipv4Addr) -> Option<Ipv4Addr> {
        Some(US)
    }

    fn table() -> UdpSockets {
        UdpSockets::new(&Config::default(), Rng::from_seed(1), SipKey([9; 16]))
    }

    fn ip_to(dst: Ipv4Addr, from: Ipv4Addr, udp_len: usize) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: from,
            dst_addr: dst,
            protocol: IpProtocol::Udp,
            payload_len: udp_len as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// A datagram `from` -> `to` with `payload`, checksummed.
    fn datagram(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> (Ipv4Repr, Vec<u8>) {
        let out = Outgoing { src: from, dst: to };
        let mut buf = junk(Outgoing::udp_len(payload.len()));
        let n = out.emit(payload, Checksum::Full, &mut buf).unwrap();
        (ip_to(*to.ip(), *from.ip(), n), buf)
    }

    fn deliver(
        t: &mut UdpSockets,
        from: SocketAddrV4,
        to: SocketAddrV4,
        payload: &[u8],
    ) -> UdpInput {
        let (ip, udp) = datagram(from, to, payload);
        t.handle_datagram(&ip, &udp, false, Checksum::Full)
    }

    fn recv(t: &mut UdpSockets, h: UdpHandle) -> Result<(Vec<u8>, SocketAddrV4), UdpError> {
        let mut buf = [0u8; 2048];
        let r = t.recv_from(h, &mut buf)?;
        Ok((buf[..r.len].to_vec(), r.src))
    }

    #[test]
    fn so_reuseport_sockets_split_unicast_flows_and_each_take_broadcast() {
        let mut t = table();
        let group: Vec<UdpHandle> = (0..3)
            .map(|_| {
                let h = t.open();
                t.set_reuse_port(h, true).unwrap();
                t.bind(h, sa(WILDCARD, 443), ours).unwrap();
                h
            })
            .collect();
        // One without it may not join; SO_REUSEADDR alone does not do.
        let other = t.open();
        t.set_reuse_addr(other, true).unwrap();
        assert_eq!(
            t.bind(other, sa(WILDCARD, 443), ours),
            Err(UdpError::AddrInUse)
        );
        // 90 flows: spread over the three, each flow always to one socket.
        let mut per = [0usize; 3];
        for port in 40_000..40_090 {
            let from = sa(PEER, port);
            let UdpInput::Delivered(h) = deliver(&mut t, from, sa(US, 443), b"q") else {
                panic!("not delivered");
            };
            assert_eq!(
                deliver(&mut t, from, sa(US, 443), b"q"),
                UdpInput::Delivered(h)
            );
            per[group.iter().position(|&g| g == h).unwrap()] += 1;
        }
        assert!(per.iter().all(|&n| n >= 20), "{per:?}");
        // A broadcast to each of them.
        let (ip, udp) = datagram(sa(US2, 9), sa(Ipv4Addr::BROADCAST, 443), b"all");
        let got = t.handle_datagram(&ip, &udp, true, Checksum::Full);
        assert_eq!(got, UdpInput::DeliveredToMany(3));
    }

    #[test]
    fn so_reuseaddr_sockets_share_a_port_one_takes_unicast_all_take_broadcast() {
        let mut t = table();
        let open_bound = |t: &mut UdpSockets, reuse: bool, addr: SocketAddrV4| {
            let h = t.open();
            t.set_reuse_addr(h, reuse).unwrap();
            t.bind(h, addr, ours).map(|_| h)
        };
        let first = open_bound(&mut t, true, sa(WILDCARD, 5353)).unwrap();
        // Without it, on the shared port: refused, either way round.
        assert_eq!(
            open_bound(&mut t, false, sa(WILDCARD, 5353)),
            Err(UdpError::AddrInUse)
        );
        assert_eq!(
            open_bound(&mut t, false, sa(US, 5353)),
            Err(UdpError::AddrInUse)
        );
        let second = open_bound(&mut t, true, sa(WILDCARD, 5353)).unwrap();
        let specific = open_bound(&mut t, true, sa(US, 5353)).unwrap();
        let plain = open_bound(&mut t, false, sa(US, 7000)).unwrap();
        let t2 = open_bound(&mut t, true, sa(US, 7000));
        assert_eq!(t2, Err(UdpError::AddrInUse), "the holder did not set it");
        let _ = plain;
        // Unicast: the one bound to the address beats the wildcard ones...
        let from = sa(PEER, 9);
        assert_eq!(
            deliver(&mut t, from, sa(US, 5353), b"u1"),
            UdpInput::Delivered(specific)
        );
        // ...to another of our addresses, the newest wildcard one...
        assert_eq!(
            deliver(&mut t, from, sa(US2, 5353), b"u2"),
            UdpInput::Delivered(second)
        );
        // ...and one connected to the source beats both.
        t.connect(first, from, Some(US)).unwrap();
        assert_eq!(
            deliver(&mut t, from, sa(US, 5353), b"u3"),
            UdpInput::Delivered(first)
        );
        // Broadcast: every one bound to the wildcard (or to the broadcast
        // address) that takes it: `second` only, as `first`'s connect fixed
        // its address to US (Linux's), where `specific` is too.
        let (ip, udp) = datagram(sa(US2, 9), sa(Ipv4Addr::BROADCAST, 5353), b"all");
        let got = t.handle_datagram(&ip, &udp, true, Checksum::Full);
        assert_eq!(got, UdpInput::DeliveredToMany(1));
        let mut readable = Vec::new();
        t.drain_readable(|h| readable.push(h));
        // `second` already held a datagram: only newly readable ones count.
        assert!(readable.is_empty(), "{readable:?}");
        let mut buf = [0u8; 8];
        assert_eq!(t.recv(second, &mut buf), Ok(2));
        assert_eq!(t.recv(second, &mut buf), Ok(3));
        // The newest goes: the older one on its address takes over, and
        // once nothing is shared the single lookup is back.
        t.close(second).unwrap();
        t.disconnect(first).unwrap();
        assert_eq!(
            deliver(&mut t, from, sa(US2, 5353), b"u4"),
            UdpInput::Delivered(first)
        );
        t.close(specific).unwrap();
        assert_eq!(t.shared, 0);
        assert_eq!(
            deliver(&mut t, from, sa(US, 5353), b"u5"),
            UdpInput::Delivered(first)
        );
    }

    #[test]
    fn bind_conflicts_follow_std_and_linux() {
        let mut t = table();
        let a = t.open();
        assert_eq!(t.bind(a, sa(US, 5353), ours), Ok(sa(US, 5353)));
        let b = t.open();
        assert_eq!(t.bind(b, sa(US, 5353), ours), Err(UdpError::AddrInUse));
        assert_eq!(
            t.bind(b, sa(WILDCARD, 5353), ours),
            Err(UdpError::AddrInUse)
        );
        assert_eq!(
            t.bind(b, sa(US2, 5353), ours),
            Ok(sa(US2, 5353)),
            "other address, same port"
        );
        let c = t.open();
        assert_eq!(
            t.bind(c, sa(PEER, 53), ours),
            Err(UdpError::AddrNotAvailable)
        );
        assert_eq!(t.bind(c, sa(WILDCARD, 53), ours), Ok(sa(WILDCARD, 53)));
        let d = t.open();
        assert_eq!(
            t.bind(d, sa(US, 53), ours),
            Err(UdpError::AddrInUse),
            "wildcard holds it"
        );
        assert_eq!(
            t.bind(c, sa(WILDCARD, 54), ours),
            Err(UdpError::InvalidInput),
            "already bound"
        );
        // Closing frees the port.
        t.close(c).unwrap();
        assert_eq!(t.bind(d, sa(US, 53), ours), Ok(sa(US, 53)));
        assert_eq!(t.local_addr(c), Err(UdpError::InvalidHandle));
    }

    #[test]
    fn port_zero_picks_a_random_free_ephemeral_port() {
        let mut t = table();
        let mut ports = std::collections::HashSet::new();
        for _ in 0..200 {
            let h = t.open();
            let local = t.bind(h, sa(WILDCARD, 0), ours).unwrap();
            assert!((32768..=60999).contains(&local.port()));
            assert!(ports.insert(local.port()), "port reused while bound");
        }
        // Random, not sequential (RFC 6056 §3.3.1).
        let mut sorted: Vec<u16> = ports.into_iter().collect();
        sorted.sort();
        let sequential = sorted.windows(2).filter(|w| w[1] == w[0] + 1).count();
        assert!(sequential < 20, "{sequential} consecutive pairs");
    }

    #[test]
    fn exhausting_the_range_fails_cleanly() {
        let config = Config {
            ip_local_port_range: (40000, 40002),
            ..Config::default()
        };
        let mut t = UdpSockets::new(&config, Rng::from_seed(2), SipKey([0; 16]));
        let mut got = Vec::new();
        for _ in 0..3 {
            let h = t.open();
            got.push(t.bind(h, sa(US, 0), ours).unwrap().port());
        }
        got.sort();
        assert_eq!(got, [40000, 40001, 40002]);
        let h = t.open();
        assert_eq!(t.bind(h, sa(US, 0), ours), Err(UdpError::NoEphemeralPorts));
        assert_eq!(
            t.send_to(h, Some(sa(PEER, 53)), 1, route),
            Err(UdpError::NoEphemeralPorts)
        );
        // Another address still has every port... but a wildcard bind needs
        // the port free on every address.
        assert!(t.bind(h, sa(US2, 0), ours).is_ok());
    }

    #[test]
    fn send_to_autobinds_and_uses_the_route_source() {
        let mut t = table();
        let h = t.open();
        let out = t.send_to(h, Some(sa(PEER, 53)), 4, route).unwrap();
        assert_eq!(*out.src.ip(), US);
        assert_eq!(out.dst, sa(PEER, 53));
        let local = t.local_addr(h).unwrap().unwrap();
        assert_eq!((*local.ip(), local.port()), (WILDCARD, out.src.port()));
        assert_eq!(
            t.send_to(h, Some(sa(PEER, 53)), 4, |_| None),
            Err(UdpError::NetworkUnreachable)
        );
        assert_eq!(t.send_to(h, None, 4, route), Err(UdpError::NotConnected));
        assert_eq!(
            t.send_to(h, Some(sa(PEER, 0)), 4, route),
            Err(UdpError::InvalidInput)
        );
        assert_eq!(
            t.send_to(h, Some(sa(PEER, 53)), 65_508, route),
            Err(UdpError::MessageTooLong)
        );
        assert!(t.send_to(h, Some(sa(PEER, 53)), 65_507, route).is_ok());
        assert_eq!(t.stats().out_datagrams, 2);
        // A socket bound to a specific address sends from it whatever the route.
        let b = t.open();
        t.bind(b, sa(US2, 7000), ours).unwrap();
        let out = t.send_to(b, Some(sa(PEER, 53)), 0, route).unwrap();
        assert_eq!(out.src, sa(US2, 7000));
    }

    #[test]
    fn emit_writes_a_checksummed_datagram_over_junk() {
        let out = Outgoing {
            src: sa(Ipv4Addr::new(192, 0, 2, 1), 40000),
            dst: sa(Ipv4Addr::new(192, 0, 2, 2), 53),
        };
        let mut buf = junk(20);
        assert_eq!(out.emit(b"ping", Checksum::Full, &mut buf), Some(12));
        // RFC 768 checksum over the pseudo-header, computed by hand.
        assert_eq!(
            &buf[..12],
            &[
                0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x8c, b'p', b'i', b'n', b'g'
            ]
        );
        assert_eq!(&buf[12..], &[0xAA; 8], "nothing past the datagram");
        assert_eq!(out.emit(b"ping", Checksum::Full, &mut junk(11)), None);
    }

    #[test]
    fn connect_records_the_peer_and_filters_what_is_received() {
        let mut t = table();
        let h = t.open();
        t.bind(h, sa(WILDCARD, 9000), ours).unwrap();
        let local = t.connect(h, sa(PEER, 53), Some(US)).unwrap();
        assert_eq!(
            local,
            sa(US, 9000),
            "the wildcard address became the route's"
        );
        assert_eq!(t.peer_addr(h).unwrap(), Some(sa(PEER, 53)));
        let out = t
            .send(h, 3, |_| panic!("no route lookup for a fixed source"))
            .unwrap();
        assert_eq!((out.src, out.dst), (sa(US, 9000), sa(PEER, 53)));
        assert_eq!(
            deliver(&mut t, sa(PEER, 53), sa(US, 9000), b"yes"),
            UdpInput::Delivered(h)
        );
        assert_eq!(
            deliver(&mut t, sa(PEER, 54), sa(US, 9000), b"no"),
            UdpInput::NoPort
        );
        let stranger = Ipv4Addr::new(203, 0, 113, 10);
        assert_eq!(
            deliver(&mut t, sa(stranger, 53), sa(US, 9000), b"no"),
            UdpInput::NoPort
        );
        assert_eq!(recv(&mut t, h), Ok((b"yes".to_vec(), sa(PEER, 53))));
        assert_eq!(recv(&mut t, h), Err(UdpError::WouldBlock));
        // Connect again: a new peer.
        t.connect(h, sa(stranger, 53), Some(US)).unwrap();
        assert_eq!(
            deliver(&mut t, sa(stranger, 53), sa(US, 9000), b"new"),
            UdpInput::Delivered(h)
        );
        assert_eq!(
            deliver(&mut t, sa(PEER, 53), sa(US, 9000), b"old"),
            UdpInput::NoPort
        );
        // Disconnect: anyone again, on the wildcard address again.
        t.disconnect(h).unwrap();
        assert_eq!(t.local_addr(h).unwrap(), Some(sa(WILDCARD, 9000)));
        assert_eq!(
            deliver(&mut t, sa(PEER, 53), sa(US2, 9000), b"any"),
            UdpInput::Delivered(h)
        );
        assert_eq!(
            t.connect(h, sa(PEER, 53), None),
            Err(UdpError::NetworkUnreachable)
        );
        assert_eq!(
            t.connect(h, sa(PEER, 0), Some(US)),
            Err(UdpError::InvalidInput)
        );
    }

    #[test]
    fn disconnect_forgets_an_automatic_binding() {
        let mut t = table();
        let h = t.open();
        let local = t.connect(h, sa(PEER, 53), Some(US)).unwrap();
        assert_eq!(*local.ip(), US);
        assert!(t.bound.contains_key(&local));
        t.disconnect(h).unwrap();
        assert_eq!(t.local_addr(h).unwrap(), None, "the port was automatic");
        assert!(t.bound.is_empty() && t.port_users.is_empty());
        // An explicit address survives a disconnect, an automatic port not.
        let b = t.open();
        t.bind(b, sa(US2, 0), ours).unwrap();
        t.connect(b, sa(PEER, 53), Some(US)).unwrap();
        t.disconnect(b).unwrap();
        assert_eq!(t.local_addr(b).unwrap(), None);
        let out = t.send_to(b, Some(sa(PEER, 53)), 1, route).unwrap();
        assert_eq!(
            *out.src.ip(),
            US2,
            "sends from the bound address, not the route's"
        );
        // An explicit port survives too.
        let c = t.open();
        t.bind(c, sa(WILDCARD, 4444), ours).unwrap();
        t.connect(c, sa(PEER, 53), Some(US)).unwrap();
        t.disconnect(c).unwrap();
        assert_eq!(t.local_addr(c).unwrap(), Some(sa(WILDCARD, 4444)));
    }

    #[test]
    fn specific_binding_wins_over_wildcard_and_broadcast_goes_to_wildcard() {
        let mut t = table();
        let any = t.open();
        t.bind(any, sa(US2, 67), ours).unwrap();
        let specific = t.open();
        t.bind(specific, sa(US, 68), ours).unwrap();
        let wild = t.open();
        t.bind(wild, sa(WILDCARD, 69), ours).unwrap();
        assert_eq!(
            deliver(&mut t, sa(PEER, 1), sa(US, 68), b"x"),
            UdpInput::Delivered(specific)
        );
        assert_eq!(
            deliver(&mut t, sa(PEER, 1), sa(US2, 68), b"x"),
            UdpInput::NoPort
        );
        assert_eq!(
            deliver(&mut t, sa(PEER, 1), sa(US2, 69), b"x"),
            UdpInput::Delivered(wild)
        );
        let (ip, udp) = datagram(sa(PEER, 1), sa(Ipv4Addr::BROADCAST, 69), b"b");
        assert_eq!(
            t.handle_datagram(&ip, &udp, true, Checksum::Full),
            UdpInput::Delivered(wild)
        );
        let (ip, udp) = datagram(sa(PEER, 1), sa(Ipv4Addr::BROADCAST, 68), b"b");
        assert_eq!(
            t.handle_datagram(&ip, &udp, true, Checksum::Full),
            UdpInput::Ignored
        );
        assert_eq!((t.stats().no_ports, t.stats().ignored_multi), (1, 1));
        let mut buf = [0u8; 8];
        let r = t.recv_from(wild, &mut buf).unwrap();
        assert_eq!(r.dst, US2);
        let r = t.recv_from(wild, &mut buf).unwrap();
        assert_eq!(r.dst, Ipv4Addr::BROADCAST);
    }

    #[test]
    fn a_full_receive_queue_drops_and_counts() {
        let mut t = table();
        let h = t.open();
        t.bind(h, sa(US, 7), ours).unwrap();
        t.set_recv_buffer_size(h, 3 * (100 + DATAGRAM_OVERHEAD))
            .unwrap();
        for i in 0..3u8 {
            assert_eq!(
                deliver(&mut t, sa(PEER, 1), sa(US, 7), &[i; 100]),
                UdpInput::Delivered(h)
            );
        }
        assert_eq!(
            deliver(&mut t, sa(PEER, 1), sa(US, 7), &[9; 100]),
            UdpInput::Dropped(UdpDrop::RcvbufFull)
        );
        // Empty datagrams are charged too: the count is bounded.
        assert_eq!(
            deliver(&mut t, sa(PEER, 1), sa(US, 7), &[]),
            UdpInput::Dropped(UdpDrop::RcvbufFull)
        );
        let s = t.stats();
        assert_eq!((s.in_datagrams, s.rcvbuf_errors, s.in_errors), (3, 2, 2));
        assert_eq!(t.recv_queue(h).unwrap(), (3, 300));
        assert_eq!(recv(&mut t, h).unwrap().0, vec![0; 100]);
        assert_eq!(
            deliver(&mut t, sa(PEER, 1), sa(US, 7), &[3; 100]),
            UdpInput::Delivered(h)
        );
        for i in 1..4u8 {
            assert_eq!(recv(&mut t, h).unwrap().0, vec![i; 100], "in order");
        }
    }

    #[test]
    fn a_short_buffer_truncates_and_discards_the_rest() {
        let mut t = table();
        let h = t.open();
        t.bind(h, sa(US, 7), ours).unwrap();
        let _ = deliver(&mut t, sa(PEER, 1), sa(US, 7), b"0123456789");
        let _ = deliver(&mut t, sa(PEER, 1), sa(US, 7), b"next");
        let mut buf = [0u8; 4];
        let r = t.recv_from(h, &mut buf).unwrap();
        assert_eq!((r.len, r.truncated, &buf), (4, true, b"0123"));
        let r = t.recv_from(h, &mut buf).unwrap();
        assert_eq!((r.len, r.truncated, &buf), (4, false, b"next"));
    }

    #[test]
    fn checksums_are_verified_and_zero_means_none() {
        let mut t = table();
        let h = t.open();
        t.bind(h, sa(US, 7), ours).unwrap();
        let (ip, mut udp) = datagram(sa(PEER, 1), sa(US, 7), b"data");
        udp[9] ^= 1;
        assert_eq!(
            t.handle_datagram(&ip, &udp, false, Checksum::Full),
            UdpInput::Dropped(UdpDrop::BadChecksum)
        );
        assert_eq!((t.stats().in_csum_errors, t.stats().in_errors), (1, 1));
        // Offloaded: trusted.
        assert_eq!(
            t.handle_datagram(&ip, &udp, false, Checksum::Offload),
            UdpInput::Delivered(h)
        );
        // Checksum zero: none (RFC 768).
        udp[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(
            t.handle_datagram(&ip, &udp, false, Checksum::Full),
            UdpInput::Delivered(h)
        );
        // A bad checksum to a closed port is an error, not NoPorts.
        let (ip, mut udp) = datagram(sa(PEER, 1), sa(US, 8), b"data");
        udp[9] ^= 1;
        assert_eq!(
            t.handle_datagram(&ip, &udp, false, Checksum::Full),
            UdpInput::Dropped(UdpDrop::BadChecksum)
        );
        assert_eq!(t.stats().no_ports, 0);
        // Malformed lengths.
        assert_eq!(
            t.handle_datagram(&ip, &udp[..7], false, Checksum::Full),
            UdpInput::Dropped(UdpDrop::Malformed)
        );
        let mut long = udp.clone();
        long[4..6].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(
            t.handle_datagram(&ip, &long, false, Checksum::Full),
            UdpInput::Dropped(UdpDrop::Malformed)
        );
    }

    /// Builds the ICMP port unreachable a peer would send about `sent`.
    fn port_unreachable_about(sent_from: SocketAddrV4, sent_to: SocketAddrV4) -> Vec<u8> {
        let (ip, udp) = datagram(sent_from, sent_to, b"query");
        let mut offending = junk(20 + udp.len());
        ip.emit(
            &mut Ipv4Packet::new_unchecked(&mut offending[..]),
            Checksum::Full,
        );
        offending[20..].copy_from_slice(&udp);
        let mut buf = junk(600);
        let reply = ReplyIp {
            src: *sent_to.ip(),
            ttl: 64,
            ident: 0,
        };
        let msg = ErrorMessage::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            next_hop_mtu: 0,
        };
        let n = icmp::emit_error(msg, &offending, reply, &mut buf).unwrap();
        buf[20..n].to_vec()
    }

    #[test]
    fn port_unreachable_refuses_the_next_call_of_a_connected_socket_once() {
        let mut t = table();
        let h = t.open();
        let local = t.connect(h, sa(PEER, 53), Some(US)).unwrap();
        let icmp_bytes = port_unreachable_about(local, sa(PEER, 53));
        let repr = Icmpv4Repr::parse(
            &Icmpv4Packet::new_checked(&icmp_bytes[..]).unwrap(),
            Checksum::Full,
        )
        .unwrap();
        let err = icmp::parse_error(&repr).unwrap();
        assert_eq!(t.handle_transport_error(&err), Some(h));
        assert_eq!(t.is_readable(h), Ok(true));
        assert_eq!(
            t.send(h, 1, route),
            Err(UdpError::Icmp(IcmpErrno::ConnectionRefused))
        );
        assert!(t.send(h, 1, route).is_ok(), "reported once");
        assert_eq!(t.handle_transport_error(&err), Some(h));
        let mut buf = [0u8; 8];
        assert_eq!(
            t.recv(h, &mut buf),
            Err(UdpError::Icmp(IcmpErrno::ConnectionRefused))
        );
        assert_eq!(t.recv(h, &mut buf), Err(UdpError::WouldBlock));
    }

    #[test]
    fn unconnected_sockets_and_soft_errors_stay_silent() {
        let mut t = table();
        let h = t.open();
        let out = t.send_to(h, Some(sa(PEER, 53)), 1, route).unwrap();
        let port = IcmpError::from_dst_unreachable(DstUnreachable::PortUnreachable, 0).unwrap();
        assert_eq!(t.handle_icmp_error(out.src, out.dst, &port), None);
        assert_eq!(t.take_error(h), Ok(None));
        let c = t.open();
        let local = t.connect(c, sa(PEER, 53), Some(US)).unwrap();
        let host = IcmpError::from_dst_unreachable(DstUnreachable::HostUnreachable, 0).unwrap();
        assert_eq!(
            t.handle_icmp_error(local, sa(PEER, 53), &host),
            None,
            "soft"
        );
        assert_eq!(
            t.handle_icmp_error(local, sa(PEER, 54), &port),
            None,
            "another peer"
        );
        assert_eq!(t.handle_icmp_error(local, sa(PEER, 53), &port), Some(c));
        assert_eq!(t.take_error(c), Ok(Some(IcmpErrno::ConnectionRefused)));
        assert_eq!(t.take_error(c), Ok(None));
    }

    proptest::proptest! {
        /// Arbitrary bytes as a UDP datagram: never a panic, and every
        /// outcome is counted exactly once.
        #[test]
        fn arbitrary_datagrams_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            broadcast in proptest::prelude::any::<bool>(),
        ) {
            let mut t = table();
            let h = t.open();
            t.bind(h, sa(WILDCARD, 0x3030), ours).unwrap();
            let ip = ip_to(US, PEER, bytes.len());
            let _ = t.handle_datagram(&ip, &bytes, broadcast, Checksum::Full);
            let s = t.stats();
            proptest::prop_assert_eq!(s.in_datagrams + s.no_ports + s.ignored_multi + s.in_errors, 1);
        }
    }

    #[test]
    fn stale_handles_are_rejected_after_slot_reuse() {
        let mut t = table();
        let a = t.open();
        t.close(a).unwrap();
        let b = t.open();
        assert_ne!(a, b);
        assert_eq!(t.bind(a, sa(US, 1), ours), Err(UdpError::InvalidHandle));
        assert_eq!(t.close(a), Err(UdpError::InvalidHandle));
        assert!(t.bind(b, sa(US, 1), ours).is_ok());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn unbound_port_numbers_stay_consistent_under_random_operations() {
        let mut rng = Rng::from_seed(77);
        let config = Config {
            ip_local_port_range: (50000, 50015),
            ..Config::default()
        };
        let mut t = UdpSockets::new(&config, Rng::from_seed(3), SipKey([4; 16]));
        let mut open: Vec<UdpHandle> = Vec::new();
        for step in 0..5000 {
            let pick = |rng: &mut Rng, v: &Vec<UdpHandle>| v[rng.below(v.len() as u64) as usize];
            match rng.below(6) {
                0 => open.push(t.open()),
                1 if !open.is_empty() => {
                    let h = pick(&mut rng, &open);
                    let addr = [WILDCARD, US, US2][rng.below(3) as usize];
                    let port = [0, 50000, 50001][rng.below(3) as usize];
                    let _ = t.bind(h, sa(addr, port), ours);
                }
                2 if !open.is_empty() => {
                    let h = pick(&mut rng, &open);
                    let _ = t.connect(h, sa(PEER, 53), Some([US, US2][rng.below(2) as usize]));
                }
                3 if !open.is_empty() => {
                    let _ = t.disconnect(pick(&mut rng, &open));
                }
                4 if !open.is_empty() => {
                    let i = rng.below(open.len() as u64) as usize;
                    t.close(open.swap_remove(i)).unwrap();
                }
                _ => {}
            }
            // Invariants: every binding is a distinct open socket's address;
            // port counts match; no address is shadowed by a wildcard unless
            // Linux's rehash rules allow it.
            let mut per_port: HashMap<u16, u32> = HashMap::new();
            for (addr, &i) in &t.bound {
                let s = t.slots[i as usize]
                    .socket
                    .as_ref()
                    .expect("bound socket is open");
                assert_eq!(s.local, Some(*addr), "step {step}");
                *per_port.entry(addr.port()).or_default() += 1;
            }
            let users: HashMap<u16, u32> = t
                .port_users
                .iter()
                .map(|(&p, b)| (p, b.len() as u32))
                .collect();
            assert_eq!(per_port, users, "step {step}");
            assert_eq!(t.shared, 0, "nothing shared without SO_REUSEADDR");
        }
    }

    #[test]
    fn shared_bindings_stay_consistent_under_random_operations() {
        // The same walk with SO_REUSEADDR and SO_REUSEPORT set at random:
        // every open bound socket is in its port's list once; `bound` holds
        // the newest on each address; `shared` counts the others; and no
        // two sockets share an address unless both set one of the two.
        let mut rng = Rng::from_seed(78);
        let config = Config {
            ip_local_port_range: (50000, 50007),
            ..Config::default()
        };
        let mut t = UdpSockets::new(&config, Rng::from_seed(4), SipKey([5; 16]));
        let mut open: Vec<UdpHandle> = Vec::new();
        for step in 0..5000 {
            let pick = |rng: &mut Rng, v: &Vec<UdpHandle>| v[rng.below(v.len() as u64) as usize];
            match rng.below(7) {
                0 => {
                    let h = t.open();
                    t.set_reuse_addr(h, rng.below(3) == 0).unwrap();
                    t.set_reuse_port(h, rng.below(3) == 0).unwrap();
                    open.push(h);
                }
                1 | 2 if !open.is_empty() => {
                    let h = pick(&mut rng, &open);
                    let addr = [WILDCARD, US, US2][rng.below(3) as usize];
                    let port = [0, 50000, 50001][rng.below(3) as usize];
                    let _ = t.bind(h, sa(addr, port), ours);
                }
                3 if !open.is_empty() => {
                    let h = pick(&mut rng, &open);
                    let _ = t.connect(h, sa(PEER, 53), Some([US, US2][rng.below(2) as usize]));
                }
                4 if !open.is_empty() => {
                    let _ = t.disconnect(pick(&mut rng, &open));
                }
                5 if !open.is_empty() => {
                    let i = rng.below(open.len() as u64) as usize;
                    t.close(open.swap_remove(i)).unwrap();
                }
                _ => {}
            }
            let mut listed = 0;
            let mut extra = 0;
            for (&port, users) in &t.port_users {
                assert!(!users.is_empty(), "step {step}");
                for (k, b) in users.iter().enumerate() {
                    let s = t.slots[b.index as usize].socket.as_ref().expect("open");
                    assert_eq!(s.local, Some(sa(b.addr, port)), "step {step}");
                    listed += 1;
                    let newer = users[k + 1..].iter().any(|o| o.addr == b.addr);
                    let local = sa(b.addr, port);
                    if newer {
                        extra += 1;
                        assert_ne!(t.bound.get(&local), Some(&b.index), "step {step}");
                    } else {
                        assert_eq!(t.bound.get(&local), Some(&b.index), "step {step}");
                    }
                    // Connect may move a wildcard socket onto an address
                    // (Linux rehashes without a bind check), so only two on
                    // the same address are held to SO_REUSEADDR.
                    for o in users[k + 1..].iter().filter(|o| o.addr == b.addr) {
                        assert!(b.shares_with(o.reuse_addr, o.reuse_port), "step {step}");
                    }
                }
            }
            assert_eq!(t.shared, extra, "step {step}");
            assert_eq!(t.bound.len() + extra, listed, "step {step}");
        }
    }
}
