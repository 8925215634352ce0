//! Ping sockets: ICMP echo for applications, as Linux's unprivileged
//! `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)` gives it (net/ipv4/ping.c),
//! without I/O. The stack ([`crate::stack`]) builds and routes the requests
//! and hands this table the replies and errors that arrive.
//!
//! Read before touching: RFC 792 (echo and echo reply: "the identifier and
//! sequence number may be used by the echo sender to aid in matching the
//! replies with the echo requests"), RFC 1122 §3.2.2.6 (echo) and §4.1.3.3
//! (ICMP errors passed to the application), Linux `ping_v4_sendmsg`,
//! `ping_rcv`, `ping_err`.
//!
//! Semantics are Linux's:
//!
//! - A socket's "port" is its echo identifier. `bind` takes an address of
//!   ours (or 0.0.0.0; a broadcast or multicast one too, as Linux) and an
//!   identifier; 0 picks a free one, as does the first send or `connect` of
//!   an unbound socket. One socket per identifier in the stack: a second
//!   bind of one in use is [`PingError::AddrInUse`] (Linux `ping_get_port`).
//!   Linux picks the next identifier after the last it gave; synack starts
//!   from a random one and takes the first free, so the identifiers of a
//!   host's pings do not tell how many it made.
//! - A message is what the application writes: an ICMP header of type 8
//!   (echo request), code 0, and its data. The stack writes the socket's
//!   identifier into it and computes the checksum; the sequence number and
//!   data are the application's (EINVAL for anything else, as Linux).
//!   The IP header is the stack's: IP_TTL, or `ip_default_ttl`, and the
//!   socket's IP_OPTIONS, as UDP's (this host registered in a record route
//!   or timestamp, a source route's first hop the destination). A broadcast
//!   destination needs SO_BROADCAST (EACCES, as Linux); a multicast one goes
//!   with IP_MULTICAST_TTL (1 until set, RFC 1112 §6.1) and loops back to
//!   this host too (IP_MULTICAST_LOOP's default), as Linux's
//!   `ping_v4_sendmsg` sends it; each member that answers is a reply.
//! - An echo reply to the identifier goes to its socket if the socket is
//!   bound to the wildcard or to the reply's destination, whoever sent it
//!   (Linux's `ping_lookup` does not look at a connected socket's peer),
//!   and is read as it came: the ICMP header and data, the source, the TTL
//!   (IP_RECVTTL) and, with IP_RECVOPTS, its IP options (a record route's
//!   addresses, as `ping -R` prints them). The queue is bounded by the receive buffer
//!   (`rmem_default`), as UDP's; a reply that does not fit is dropped and
//!   counted.
//! - An ICMP error quoting one of the socket's echo requests (`ping_err`):
//!   with IP_RECVERR ([`PingSockets::set_recv_error`]) every one is queued
//!   for [`PingSockets::recv_error`] (MSG_ERRQUEUE: who sent it, what it
//!   says, the request's destination and sequence number) and also set as
//!   the socket's pending error; without it only a hard error on a
//!   connected socket is, as UDP's (`udp::errors`). A pending error is
//!   reported once, by the next send or receive.

use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::HashMap;

use crate::config::Config;
use crate::ip::KeyedHasher;
use crate::ip::icmp::{IcmpErrno, IcmpError, IcmpErrorKind, TransportError, msg_type};
use crate::ip::options::{MAX_LEN as MAX_OPTIONS, SendOptions};
use crate::ip::pmtu::PmtuDiscovery;
use crate::rng::Rng;
use crate::siphash::SipKey;
use crate::stack::slab::{self, Key, Slab};
use crate::udp::errors::SocketErrors;
use crate::udp::rx::{Arrived, RxQueue};
use crate::udp::{DATAGRAM_OVERHEAD, Received};
use crate::wire::ipv4::IpProtocol;

/// An ICMP echo header: type, code, checksum, identifier, sequence number.
pub const HEADER_LEN: usize = 8;

/// The largest message (ICMP header and data) an IPv4 datagram carries.
pub const MAX_MESSAGE: usize = 65_535 - 20;

const WILDCARD: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// Names a socket in a [`PingSockets`] table. A handle to a closed socket
/// stays invalid even after its slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PingHandle(Key);

impl PingHandle {
    /// The slot number: unique among open sockets, reused after a close.
    pub const fn index(self) -> u32 {
        self.0.index
    }
}

/// Why a socket operation failed. Variants name std's `io::ErrorKind`
/// (and Linux's errno) so the runtime can map them one to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingError {
    /// The handle names no open socket (API misuse; EBADF).
    InvalidHandle,
    /// The identifier is taken (EADDRINUSE).
    AddrInUse,
    /// The address is not one of ours (EADDRNOTAVAIL).
    AddrNotAvailable,
    /// Every identifier is taken (EAGAIN).
    NoIdentifiers,
    /// Already bound; a message that is not an echo request; a multicast
    /// destination; a TTL of 0 (EINVAL).
    InvalidInput,
    /// No destination given and not connected (EDESTADDRREQ).
    NotConnected,
    /// Nothing to receive (EAGAIN).
    WouldBlock,
    /// No route to the destination (ENETUNREACH).
    NetworkUnreachable,
    /// More than [`MAX_MESSAGE`] bytes (EMSGSIZE).
    MessageTooLong,
    /// The stack's output queue is full (ENOBUFS).
    NoBufferSpace,
    /// A broadcast destination without SO_BROADCAST (EACCES).
    PermissionDenied,
    /// An ICMP error for this socket, reported once.
    Icmp(IcmpErrno),
}

impl fmt::Display for PingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingError::InvalidHandle => f.write_str("no such socket"),
            PingError::AddrInUse => f.write_str("identifier in use"),
            PingError::AddrNotAvailable => f.write_str("address not available"),
            PingError::NoIdentifiers => f.write_str("no echo identifier available"),
            PingError::InvalidInput => f.write_str("invalid argument"),
            PingError::NotConnected => f.write_str("destination address required"),
            PingError::WouldBlock => f.write_str("operation would block"),
            PingError::NetworkUnreachable => f.write_str("network unreachable"),
            PingError::MessageTooLong => f.write_str("message too long"),
            PingError::NoBufferSpace => f.write_str("no buffer space available"),
            PingError::PermissionDenied => f.write_str("permission denied (SO_BROADCAST is off)"),
            PingError::Icmp(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for PingError {}

/// A reply read from a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingReceived {
    /// Bytes copied into the caller's buffer: the ICMP header and data.
    pub len: usize,
    /// The reply was longer than the buffer; the rest is gone (MSG_TRUNC).
    pub truncated: bool,
    /// Who answered.
    pub src: Ipv4Addr,
    /// The address it was sent to: ours.
    pub dst: Ipv4Addr,
    /// The TTL it arrived with (IP_RECVTTL).
    pub ttl: u8,
    /// The TOS byte it arrived with (IP_RECVTOS).
    pub tos: u8,
    /// The stack's interface it came in on (IP_PKTINFO's `ipi_ifindex`).
    pub iface: crate::ip::IfaceId,
}

impl From<Received> for PingReceived {
    fn from(r: Received) -> Self {
        PingReceived {
            len: r.len,
            truncated: r.truncated,
            src: *r.src.ip(),
            dst: r.dst,
            ttl: r.ttl,
            tos: r.tos,
            iface: r.iface,
        }
    }
}

/// An ICMP error about one of a socket's echo requests, as IP_RECVERR
/// queues it (Linux's `sock_extended_err` with `SO_EE_ORIGIN_ICMP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingErrorReport {
    /// Who sent the error (`SO_EE_OFFENDER`): a router, or the destination.
    pub offender: Ipv4Addr,
    /// What it says.
    pub error: IcmpError,
    /// The request's destination.
    pub dst: Ipv4Addr,
    /// The request's sequence number.
    pub seq: u16,
}

impl PingErrorReport {
    /// The ICMP type and code of the error (`ee_type`, `ee_code`).
    pub fn icmp_type_code(&self) -> (u8, u8) {
        self.error.type_code()
    }
}

/// What a request needs from the stack, after any implicit bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// The socket's identifier, for the message's header.
    pub ident: u16,
    /// IP_TTL, if set (else `ip_default_ttl`).
    pub ttl: Option<u8>,
    /// IP_MULTICAST_TTL: the TTL of a request to a group.
    pub multicast_ttl: u8,
    /// IP_TOS.
    pub tos: u8,
    /// IP_MTU_DISCOVER.
    pub pmtu_discovery: PmtuDiscovery,
}

/// What became of a received echo reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingInput {
    /// Queued to this socket; it was empty before (now readable).
    Delivered(PingHandle),
    /// Queued behind others.
    Queued,
    /// No socket has the identifier (and address): the reply is the
    /// kernel's or nobody's, and dropped without an answer.
    NoSocket,
    /// The socket's queue is full: dropped and counted.
    RcvbufFull,
}

/// The table's counters (Linux keeps none for ping sockets; these say what
/// its `ping_rcv` drops without a word).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PingStats {
    /// Echo requests sent.
    pub out_requests: u64,
    /// Replies queued to a socket.
    pub in_replies: u64,
    /// Replies no socket took.
    pub no_socket: u64,
    /// Replies dropped because their socket's queue was full.
    pub rcvbuf_errors: u64,
    /// ICMP errors handed to a socket.
    pub in_errors: u64,
}

#[derive(Debug)]
struct PingSocket {
    /// The address (possibly 0.0.0.0) and identifier, once bound.
    local: Option<(Ipv4Addr, u16)>,
    peer: Option<Ipv4Addr>,
    rx: RxQueue,
    /// The pending error (`sk_err`) and IP_RECVERR's queue.
    errors: SocketErrors<PingErrorReport>,
    /// IP_TTL, if set.
    ttl: Option<u8>,
    /// IP_MULTICAST_TTL: its requests' TTL to a group.
    multicast_ttl: u8,
    /// IP_TOS: its requests' TOS byte.
    tos: u8,
    /// IP_MTU_DISCOVER: what its requests do with the path MTU.
    pmtu_discovery: PmtuDiscovery,
    /// SO_BROADCAST.
    broadcast: bool,
    /// IP_OPTIONS: the IP options its requests carry (boxed: rare).
    ip_options: Option<Box<SendOptions>>,
    /// IP_RECVOPTS: replies are queued with their IP options.
    recv_options: bool,
    generation: u32,
}

impl slab::Entry for PingSocket {
    fn generation(&self) -> u32 {
        self.generation
    }
    fn set_generation(&mut self, generation: u32) {
        self.generation = generation;
    }
}

/// Every ping socket of a stack.
#[derive(Debug)]
pub struct PingSockets {
    sockets: Slab<PingSocket>,
    /// Identifier -> the socket bound to it.
    idents: HashMap<u16, Key, KeyedHasher>,
    rcvbuf: usize,
    rng: Rng,
    stats: PingStats,
}

impl PingSockets {
    /// An empty table with `config`'s `rmem_default` as each socket's
    /// receive buffer; `rng` draws identifiers and the identifier map's key.
    pub fn new(config: &Config, mut rng: Rng) -> Self {
        let key = SipKey(rng.key128());
        PingSockets {
            sockets: Slab::new(),
            idents: HashMap::with_hasher(KeyedHasher::new(key)),
            rcvbuf: config.rmem_default,
            rng,
            stats: PingStats::default(),
        }
    }

    pub fn stats(&self) -> &PingStats {
        &self.stats
    }

    /// Open sockets.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// A new, unbound socket.
    pub fn open(&mut self) -> PingHandle {
        let rcvbuf = self.rcvbuf;
        PingHandle(self.sockets.insert_with(|| PingSocket {
            local: None,
            peer: None,
            rx: RxQueue::new(rcvbuf),
            errors: SocketErrors::new(),
            ttl: None,
            multicast_ttl: crate::udp::DEFAULT_MULTICAST_TTL,
            tos: 0,
            pmtu_discovery: PmtuDiscovery::Want,
            broadcast: false,
            ip_options: None,
            recv_options: false,
            generation: 0,
        }))
    }

    /// Closes a socket: frees its identifier, drops what it had queued.
    pub fn close(&mut self, h: PingHandle) -> Result<(), PingError> {
        let s = self.sockets.remove(h.0).ok_or(PingError::InvalidHandle)?;
        if let Some((_, ident)) = s.local {
            self.idents.remove(&ident);
        }
        Ok(())
    }

    /// Binds to `addr` (0.0.0.0, or one `bindable` takes) and `ident` (0:
    /// a free one). Returns the identifier.
    pub fn bind(
        &mut self,
        h: PingHandle,
        addr: Ipv4Addr,
        ident: u16,
        bindable: impl Fn(Ipv4Addr) -> bool,
    ) -> Result<u16, PingError> {
        if self.socket(h)?.local.is_some() {
            return Err(PingError::InvalidInput);
        }
        if addr != WILDCARD && !addr.is_broadcast() && !addr.is_multicast() && !bindable(addr) {
            return Err(PingError::AddrNotAvailable);
        }
        let ident = match ident {
            0 => self.free_ident().ok_or(PingError::NoIdentifiers)?,
            i if self.idents.contains_key(&i) => return Err(PingError::AddrInUse),
            i => i,
        };
        self.idents.insert(ident, h.0);
        self.socket_mut(h)?.local = Some((addr, ident));
        Ok(ident)
    }

    /// Records `peer` as the default destination, binding an unbound socket
    /// and fixing a wildcard address to `route_src`, the route's source
    /// towards it (`None`: no route, NetworkUnreachable), as Linux's
    /// `ip4_datagram_connect`. Replies are still taken from anyone.
    pub fn connect(
        &mut self,
        h: PingHandle,
        peer: Ipv4Addr,
        route_src: Option<Ipv4Addr>,
    ) -> Result<(Ipv4Addr, u16), PingError> {
        self.socket(h)?;
        if peer.is_unspecified() {
            return Err(PingError::InvalidInput);
        }
        let src = route_src.ok_or(PingError::NetworkUnreachable)?;
        let (addr, ident) = self.autobind(h)?;
        let s = self.socket_mut(h)?;
        let local = (if addr == WILDCARD { src } else { addr }, ident);
        s.local = Some(local);
        s.peer = Some(peer);
        Ok(local)
    }

    /// Prepares to send `message` to `dst`, or to the peer when `dst` is
    /// `None`: reports a pending error, checks the message (an echo request
    /// header, at most [`MAX_MESSAGE`] bytes), binds an unbound socket, and
    /// picks the source (the bound address, or `route_src(dst)`).
    /// `is_broadcast` says whether a destination is a broadcast address.
    pub fn send_to(
        &mut self,
        h: PingHandle,
        dst: Option<Ipv4Addr>,
        message: &[u8],
        route_src: impl FnOnce(Ipv4Addr) -> Option<Ipv4Addr>,
        is_broadcast: impl FnOnce(Ipv4Addr) -> bool,
    ) -> Result<Outgoing, PingError> {
        let s = self.socket_mut(h)?;
        if let Some(e) = s.errors.take_pending() {
            return Err(PingError::Icmp(e));
        }
        if message.len() > MAX_MESSAGE {
            return Err(PingError::MessageTooLong);
        }
        // Linux `ping_common_sendmsg`: the user's header must be an echo
        // request, code 0.
        match message {
            [msg_type::ECHO_REQUEST, 0, ..] if message.len() >= HEADER_LEN => {}
            _ => return Err(PingError::InvalidInput),
        }
        let dst = dst.or(s.peer).ok_or(PingError::NotConnected)?;
        if dst.is_unspecified() {
            return Err(PingError::InvalidInput);
        }
        if !s.broadcast && is_broadcast(dst) {
            return Err(PingError::PermissionDenied);
        }
        let (addr, ident) = self.autobind(h)?;
        let src = if addr == WILDCARD || addr.is_broadcast() || addr.is_multicast() {
            route_src(dst).ok_or(PingError::NetworkUnreachable)?
        } else {
            addr
        };
        let s = self.socket(h)?;
        let (ttl, multicast_ttl) = (s.ttl, s.multicast_ttl);
        let (tos, pmtu_discovery) = (s.tos, s.pmtu_discovery);
        self.stats.out_requests += 1;
        Ok(Outgoing {
            src,
            dst,
            ident,
            ttl,
            multicast_ttl,
            tos,
            pmtu_discovery,
        })
    }

    /// A request prepared by [`Self::send_to`] could not be queued: not
    /// an `out_requests` after all.
    pub fn record_send_dropped(&mut self) {
        self.stats.out_requests = self.stats.out_requests.saturating_sub(1);
    }

    /// An echo reply `message` (its ICMP header and data, checksum
    /// verified) with identifier `ident`, from `src` to `to` (with the TTL
    /// and TOS it came with) and `ip_options` (checked): queued on the socket bound to the
    /// identifier and to `dst` or the wildcard (Linux `ping_lookup`), with
    /// the options if it asked for them (IP_RECVOPTS).
    pub(crate) fn handle_reply(
        &mut self,
        src: Ipv4Addr,
        to: Arrived,
        ident: u16,
        ip_options: &[u8],
        message: &[u8],
    ) -> PingInput {
        let Some((key, s)) = self.bound_to(ident, to.dst) else {
            self.stats.no_socket += 1;
            return PingInput::NoSocket;
        };
        let from = SocketAddrV4::new(src, 0);
        let kept = match s.recv_options {
            true => &ip_options[..ip_options.len().min(MAX_OPTIONS)],
            false => &[],
        };
        if !s.rx.push(from, to, kept, message) {
            self.stats.rcvbuf_errors += 1;
            return PingInput::RcvbufFull;
        }
        let was_empty = s.rx.meta.len() == 1 && s.errors.is_empty();
        self.stats.in_replies += 1;
        match was_empty {
            true => PingInput::Delivered(PingHandle(key)),
            false => PingInput::Queued,
        }
    }

    /// An ICMP error from `offender` quoting a datagram we sent: if it is
    /// one of a socket's echo requests, the error is the socket's, as
    /// Linux's `ping_err` decides (see the module). Returns the socket
    /// when it has something new to read.
    pub fn handle_error(
        &mut self,
        offender: Ipv4Addr,
        error: &TransportError<'_>,
    ) -> Option<PingHandle> {
        let (ident, seq) = quoted_request(error)?;
        let (key, s) = self.bound_to(ident, error.quoted.src_addr)?;
        // IP_PMTUDISC_DONT: not told of the path MTU (Linux `ping_err`).
        if matches!(error.error.kind, IcmpErrorKind::FragNeeded { .. })
            && s.pmtu_discovery == PmtuDiscovery::Dont
        {
            return None;
        }
        let report = || PingErrorReport {
            offender,
            error: error.error,
            dst: error.quoted.dst_addr,
            seq,
        };
        let cap = s.rx.limit / DATAGRAM_OVERHEAD;
        if !s
            .errors
            .on_error(&error.error, s.peer.is_some(), cap, report)
        {
            return None;
        }
        self.stats.in_errors += 1;
        Some(PingHandle(key))
    }

    /// Takes the oldest reply into `buf` (truncating it if `buf` is
    /// shorter). A pending error is reported first, once.
    pub fn recv_from(&mut self, h: PingHandle, buf: &mut [u8]) -> Result<PingReceived, PingError> {
        let mut options = [0; MAX_OPTIONS];
        self.recv_msg(h, buf, &mut options).map(|(r, _)| r)
    }

    /// [`Self::recv_from`], and the reply's IP options into `options` with
    /// their length (none unless [`Self::set_recv_options`]).
    pub fn recv_msg(
        &mut self,
        h: PingHandle,
        buf: &mut [u8],
        options: &mut [u8; MAX_OPTIONS],
    ) -> Result<(PingReceived, usize), PingError> {
        let s = self.socket_mut(h)?;
        if let Some(e) = s.errors.take_pending() {
            return Err(PingError::Icmp(e));
        }
        s.rx.pop(buf, options)
            .map(|(r, n)| (r.into(), n))
            .ok_or(PingError::WouldBlock)
    }

    /// Sets IP_OPTIONS (`None`: none), checked by the caller.
    pub fn set_ip_options(
        &mut self,
        h: PingHandle,
        options: Option<SendOptions>,
    ) -> Result<(), PingError> {
        self.socket_mut(h)?.ip_options = options.map(Box::new);
        Ok(())
    }

    /// IP_OPTIONS, if set.
    pub fn ip_options(&self, h: PingHandle) -> Result<Option<&SendOptions>, PingError> {
        Ok(self.socket(h)?.ip_options.as_deref())
    }

    /// Sets IP_RECVOPTS: replies queued from now on keep their IP options.
    pub fn set_recv_options(&mut self, h: PingHandle, on: bool) -> Result<(), PingError> {
        self.socket_mut(h)?.recv_options = on;
        Ok(())
    }

    /// Takes the oldest queued error (`recvmsg` with MSG_ERRQUEUE); the
    /// pending error becomes the next queued one's, or none.
    pub fn recv_error(&mut self, h: PingHandle) -> Result<Option<PingErrorReport>, PingError> {
        Ok(self.socket_mut(h)?.errors.pop())
    }

    /// Sets IP_RECVERR: every ICMP error about the socket's requests is
    /// queued for [`Self::recv_error`] (off by default). Turning it off
    /// drops what was queued, as Linux does.
    pub fn set_recv_error(&mut self, h: PingHandle, on: bool) -> Result<(), PingError> {
        self.socket_mut(h)?.errors.set_recv_error(on);
        Ok(())
    }

    /// Takes the pending error, if any (`SO_ERROR`).
    pub fn take_error(&mut self, h: PingHandle) -> Result<Option<IcmpErrno>, PingError> {
        Ok(self.socket_mut(h)?.errors.take_pending())
    }

    /// Sets IP_TTL (`None`: `ip_default_ttl`); 0 is refused (EINVAL).
    pub fn set_ttl(&mut self, h: PingHandle, ttl: Option<u8>) -> Result<(), PingError> {
        if ttl == Some(0) {
            return Err(PingError::InvalidInput);
        }
        self.socket_mut(h)?.ttl = ttl;
        Ok(())
    }

    /// IP_TTL, if set.
    pub fn ttl(&self, h: PingHandle) -> Result<Option<u8>, PingError> {
        Ok(self.socket(h)?.ttl)
    }

    /// Sets IP_MULTICAST_TTL: the TTL of requests to a group (0 keeps them
    /// on this host, as UDP's).
    pub fn set_multicast_ttl(&mut self, h: PingHandle, ttl: u8) -> Result<(), PingError> {
        self.socket_mut(h)?.multicast_ttl = ttl;
        Ok(())
    }

    /// IP_MULTICAST_TTL.
    pub fn multicast_ttl(&self, h: PingHandle) -> Result<u8, PingError> {
        Ok(self.socket(h)?.multicast_ttl)
    }

    /// Whether an ICMP error quotes an echo request one of the sockets
    /// sent (its identifier, from its address).
    pub fn sent_quoted(&mut self, error: &TransportError<'_>) -> bool {
        quoted_request(error)
            .is_some_and(|(ident, _)| self.bound_to(ident, error.quoted.src_addr).is_some())
    }

    /// Sets IP_MTU_DISCOVER (`ping -M`).
    pub fn set_pmtu_discovery(
        &mut self,
        h: PingHandle,
        mode: PmtuDiscovery,
    ) -> Result<(), PingError> {
        self.socket_mut(h)?.pmtu_discovery = mode;
        Ok(())
    }

    /// IP_MTU_DISCOVER.
    pub fn pmtu_discovery(&self, h: PingHandle) -> Result<PmtuDiscovery, PingError> {
        Ok(self.socket(h)?.pmtu_discovery)
    }

    /// Sets IP_TOS: the TOS byte of its requests (`ping -Q`).
    pub fn set_tos(&mut self, h: PingHandle, tos: u8) -> Result<(), PingError> {
        self.socket_mut(h)?.tos = tos;
        Ok(())
    }

    /// IP_TOS.
    pub fn tos(&self, h: PingHandle) -> Result<u8, PingError> {
        Ok(self.socket(h)?.tos)
    }

    /// Sets SO_BROADCAST: requests may go to a broadcast address.
    pub fn set_broadcast(&mut self, h: PingHandle, on: bool) -> Result<(), PingError> {
        self.socket_mut(h)?.broadcast = on;
        Ok(())
    }

    /// A reply, an error or a queued error report is waiting.
    pub fn is_readable(&self, h: PingHandle) -> Result<bool, PingError> {
        let s = self.socket(h)?;
        Ok(!s.errors.is_empty() || !s.rx.meta.is_empty())
    }

    /// The bound address and identifier.
    pub fn local(&self, h: PingHandle) -> Result<Option<(Ipv4Addr, u16)>, PingError> {
        Ok(self.socket(h)?.local)
    }

    /// The connected peer.
    pub fn peer(&self, h: PingHandle) -> Result<Option<Ipv4Addr>, PingError> {
        Ok(self.socket(h)?.peer)
    }

    /// Sets the receive buffer (`SO_RCVBUF`), which bounds the queue of
    /// replies (and of error reports); what is queued stays.
    pub fn set_recv_buffer_size(&mut self, h: PingHandle, bytes: usize) -> Result<(), PingError> {
        let rx = &mut self.socket_mut(h)?.rx;
        rx.limit = bytes;
        rx.bytes.set_limit(bytes);
        Ok(())
    }

    /// Replies queued and the bytes they hold.
    pub fn recv_queue(&self, h: PingHandle) -> Result<(usize, usize), PingError> {
        let rx = &self.socket(h)?.rx;
        Ok((rx.meta.len(), rx.bytes.len()))
    }

    /// The socket bound to `ident`, if it takes datagrams to `dst`.
    fn bound_to(&mut self, ident: u16, dst: Ipv4Addr) -> Option<(Key, &mut PingSocket)> {
        let key = *self.idents.get(&ident)?;
        let s = self.sockets.get_mut(key)?;
        let (addr, _) = s.local?;
        (addr == WILDCARD || addr == dst).then_some((key, s))
    }

    /// The socket's address and identifier, binding it to 0.0.0.0 and a
    /// free identifier first if it is unbound (Linux `inet_autobind`).
    fn autobind(&mut self, h: PingHandle) -> Result<(Ipv4Addr, u16), PingError> {
        match self.socket(h)?.local {
            Some(local) => Ok(local),
            None => {
                let ident = self.bind(h, WILDCARD, 0, |_| true)?;
                Ok((WILDCARD, ident))
            }
        }
    }

    /// A free identifier: from a random one, the first not taken (never 0,
    /// which asks for one).
    fn free_ident(&mut self) -> Option<u16> {
        let start = self.rng.below(u64::from(u16::MAX)) as u16 + 1;
        (0..=u16::MAX)
            .map(|i| start.wrapping_add(i))
            .find(|&i| i != 0 && !self.idents.contains_key(&i))
    }

    fn socket(&self, h: PingHandle) -> Result<&PingSocket, PingError> {
        self.sockets.get(h.0).ok_or(PingError::InvalidHandle)
    }

    fn socket_mut(&mut self, h: PingHandle) -> Result<&mut PingSocket, PingError> {
        self.sockets.get_mut(h.0).ok_or(PingError::InvalidHandle)
    }
}

/// The identifier and sequence number of an echo request an ICMP error
/// quotes (our socket's, if any has that identifier).
fn quoted_request(error: &TransportError<'_>) -> Option<(u16, u16)> {
    if error.quoted.protocol != IpProtocol::Icmp {
        return None;
    }
    let [msg_type::ECHO_REQUEST, 0, _, _, i0, i1, s0, s1, ..] = *error.quoted_data else {
        return None;
    };
    Some((u16::from_be_bytes([i0, i1]), u16::from_be_bytes([s0, s1])))
}

#[cfg(test)]
mod tests;
