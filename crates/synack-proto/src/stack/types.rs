//! The stack's public vocabulary: handles, events, interface description,
//! socket summaries and the errors of its commands.

use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::slab::Key;
use crate::SeqNum;
use crate::ip::{Ipv4Cidr, SocketIp};
use crate::tcp::conn::{CloseReason, SocketOptions};
use crate::tcp::recovery::CongestionSample;
use crate::tcp::state::TcpState;
use crate::time::Instant;
use crate::udp::UdpHandle;
use crate::wire::ethernet::EthernetAddress;
use crate::wire::tcp::{TcpFlags, TcpOptions};

/// A connection, as the application names it. Stale once the application
/// closes it (commands then fail with `InvalidHandle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle(pub(crate) Key);

/// A listening socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerHandle(pub(crate) Key);

impl fmt::Display for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}.{}", self.0.index, self.0.generation)
    }
}

impl fmt::Display for ListenerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "listener#{}.{}", self.0.index, self.0.generation)
    }
}

/// How frames reach an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Medium {
    /// Frames are bare IPv4 packets (a TUN device, an IP-medium sim link).
    /// The link is point-to-point: no ARP.
    Ip,
    /// Frames are Ethernet II frames (a TAP device, an Ethernet sim link),
    /// with this station address; next hops are resolved with ARP.
    Ethernet(EthernetAddress),
}

/// One of the stack's interfaces: its address, subnet mask (as a prefix
/// length), medium and, if it has its own, MTU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interface {
    pub addr: Ipv4Addr,
    /// 0 to 32 (larger values are taken as 32).
    pub prefix_len: u8,
    pub medium: Medium,
    /// The largest IP datagram the link carries; `None`: the stack's
    /// `Config::mtu` ([`Interface::with_mtu`]).
    pub mtu: Option<u16>,
}

impl Interface {
    /// An IP-medium interface with `addr/prefix_len`.
    pub const fn ip(addr: Ipv4Addr, prefix_len: u8) -> Self {
        Interface {
            addr,
            prefix_len,
            medium: Medium::Ip,
            mtu: None,
        }
    }

    /// An Ethernet interface with station address `mac` and `addr/prefix_len`.
    pub const fn ethernet(mac: EthernetAddress, addr: Ipv4Addr, prefix_len: u8) -> Self {
        Interface {
            addr,
            prefix_len,
            medium: Medium::Ethernet(mac),
            mtu: None,
        }
    }

    /// The interface with an MTU of its own (at least 68, RFC 791), where
    /// the stack's `Config::mtu` is every other's: a host on a jumbo-frame
    /// link and a standard one, or a router between links of two sizes.
    /// The driver's transmit buffer must hold the largest MTU and its link
    /// header. TCP's MSS over it follows (RFC 9293 §3.7.1), its datagrams
    /// are fragmented to it, and a router answers a datagram too big for
    /// it with fragmentation needed.
    pub const fn with_mtu(mut self, mtu: u16) -> Self {
        self.mtu = Some(if mtu < 68 { 68 } else { mtu });
        self
    }

    /// The address with its prefix.
    pub fn cidr(&self) -> Ipv4Cidr {
        Ipv4Cidr::new(self.addr, self.prefix_len.min(32)).unwrap_or(Ipv4Cidr::host(self.addr))
    }

    /// The station address, on Ethernet.
    pub const fn mac(&self) -> Option<EthernetAddress> {
        match self.medium {
            Medium::Ethernet(mac) => Some(mac),
            Medium::Ip => None,
        }
    }
}

/// Which way a traced segment went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
}

/// A segment's header, for tracing and diagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Our address and port (destination of incoming, source of outgoing).
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub flags: TcpFlags,
    pub window: u16,
    /// Payload bytes.
    pub len: u32,
    pub options: TcpOptions,
}

/// What the stack tells the application. Drain with
/// [`Stack::poll_event`](super::Stack::poll_event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// An active open completed (SYN-SENT to ESTABLISHED).
    Connected(ConnHandle),
    /// A listener has a connection to accept (raised when its queue becomes
    /// non-empty).
    AcceptReady(ListenerHandle),
    /// Data (or the end of the stream) can be read; raised again after a
    /// `tcp_recv` drained everything.
    Readable(ConnHandle),
    /// Send-buffer space opened after a `tcp_send` found it full.
    Writable(ConnHandle),
    /// The peer sent its FIN: reads end after the queued data.
    PeerClosed(ConnHandle),
    /// The peer's urgent pointer moved ahead of the data read (Linux's
    /// SIGURG): [`crate::Stack::tcp_at_mark`], and `recv` with
    /// [`crate::tcp::conn::RecvFlags::oob`] once the byte arrived.
    Urgent(ConnHandle),
    /// The connection reached CLOSED.
    Closed {
        conn: ConnHandle,
        reason: CloseReason,
    },
    /// A state change (with [`Trace::states`]), of any connection, including
    /// listeners' half-open ones and compact TIME-WAIT entries (`conn` is
    /// `None` for those).
    StateChanged {
        conn: Option<ConnHandle>,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        from: TcpState,
        to: TcpState,
        at: Instant,
    },
    /// A connection's congestion control moved (with [`Trace::congestion`]).
    Congestion {
        conn: Option<ConnHandle>,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        at: Instant,
        sample: CongestionSample,
    },
    /// A TCP segment sent or received (with [`Trace::segments`]).
    Segment {
        dir: Direction,
        at: Instant,
        segment: SegmentSummary,
    },
    /// A UDP socket has a datagram (or an ICMP error) to read; raised when
    /// its queue goes from empty to not empty.
    UdpReadable(UdpHandle),
    /// A ping socket has a reply, an error or an error report to read;
    /// raised when it goes from nothing to read to something.
    PingReadable(crate::ping::PingHandle),
    /// An ARP packet sent or received (with [`Trace::segments`]).
    Arp {
        dir: Direction,
        at: Instant,
        iface: crate::ip::IfaceId,
        packet: crate::wire::arp::ArpRepr,
    },
}

/// Optional tracing events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Raise [`Event::StateChanged`] for every state change.
    pub states: bool,
    /// Raise [`Event::Segment`] for every TCP segment in and out, and
    /// [`Event::Arp`] for every ARP packet.
    pub segments: bool,
    /// Raise [`Event::Congestion`] for every change of a connection's
    /// congestion window, threshold, state or flight, and every loss,
    /// retransmission, timeout, probe and undo.
    pub congestion: bool,
}

/// What kind of socket a [`SocketSummary`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketId {
    Listener(ListenerHandle),
    /// A connection; `None` for a compact TIME-WAIT entry or an orphan.
    Conn(Option<ConnHandle>),
}

/// One line of `ss -tan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketSummary {
    pub id: SocketId,
    pub state: TcpState,
    pub local: SocketAddrV4,
    /// `None` for listeners.
    pub remote: Option<SocketAddrV4>,
    /// Bytes not yet read (listeners: connections waiting for accept).
    pub recv_q: usize,
    /// Bytes not yet acknowledged (listeners: the backlog).
    pub send_q: usize,
    /// The timer `ss -o` shows (`None` for listeners and idle connections).
    pub timer: Option<crate::tcp::conn::SocketTimer>,
}

/// Options of `tcp_connect`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Local address (`bind` before `connect`); `None` takes the route's
    /// source address (RFC 1122 §3.3.4.3).
    pub local_addr: Option<Ipv4Addr>,
    /// Local port; `None` picks an ephemeral port (RFC 6056).
    pub local_port: Option<u16>,
    pub socket: SocketOptions,
    /// Linux `TCP_FASTOPEN_CONNECT`: with a cached Fast Open cookie for the
    /// server, hold the SYN until the first `tcp_send`, which it then carries
    /// (RFC 7413 §4.1.3); without one, connect normally and ask for a cookie.
    pub fastopen_connect: bool,
    /// IP_OPTIONS set before `connect` (RFC 1122 §4.2.3.8: "An application
    /// MUST be able to specify a source route when it actively opens a TCP
    /// connection"): every segment carries them, a source route's first
    /// hop is where the segments go and whose route picks the local
    /// address, and the send MSS makes room for them (`tcp_ip_options`).
    /// A strict route's first hop must be on the link
    /// (`NetworkUnreachable`). Boxed: every connect moves these options,
    /// and nearly none has IP options.
    pub ip_options: Option<Box<crate::ip::options::SendOptions>>,
    /// TCP_WINDOW_CLAMP set before `connect` (0: none): the SYN's window
    /// and window scale follow it.
    pub window_clamp: u32,
    /// IP_TTL and IP_TOS set before `connect`: the SYN carries them
    /// already (an unset TTL is `ip_default_ttl`; a TOS's ECN bits are
    /// ignored, as [`super::Stack::tcp_set_tos`] says).
    pub ip: SocketIp,
    /// TCP_MD5SIG for the peer set before `connect` (RFC 2385): every
    /// segment, the SYN first, is signed with this key, and every segment
    /// from the peer must be (`tcp_md5`). The SYN then offers no
    /// timestamps (Linux's choice, for SACK's room beside the signature's
    /// 20 bytes) and Fast Open is not asked for. Boxed, as `ip_options`.
    pub md5_key: Option<Box<crate::tcp::md5::Md5Key>>,
}

/// Options of `tcp_listen_with`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenOptions {
    /// listen(2)'s backlog: the accept queue, capped by `somaxconn`.
    pub backlog: usize,
    /// SO_REUSEADDR: listen even if connections (TIME-WAIT ones included)
    /// still use the port.
    pub reuse_addr: bool,
    /// SO_REUSEPORT: listen on an address and port other listeners that
    /// set it hold too; each new connection goes to one of them, picked by
    /// a keyed hash of its 4-tuple (Linux's reuseport groups).
    pub reuse_port: bool,
    /// Linux `TCP_FASTOPEN`: the most Fast Open connections not yet
    /// established at once (RFC 7413 §5.1); 0 turns server Fast Open off
    /// for this listener (unless `tcp_fastopen` has 0x400).
    pub fastopen_qlen: usize,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 128,
            reuse_addr: false,
            reuse_port: false,
            fastopen_qlen: 0,
        }
    }
}

/// Why `tcp_listen` failed (the application asked for something impossible).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListenError {
    /// The address is not one of the interfaces' (nor 0.0.0.0) (EADDRNOTAVAIL).
    AddrNotAvailable,
    /// Another listener has this address and port, or connections use it
    /// and SO_REUSEADDR is off (EADDRINUSE).
    AddrInUse,
    /// Port 0.
    InvalidPort,
    /// No such listener: the application's bug.
    InvalidHandle,
}

/// Why a SO_REUSEPORT group's selection program could not be set or
/// cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReuseportError {
    /// No such listener: the application's bug.
    InvalidHandle,
    /// The listener did not set SO_REUSEPORT, so it is in no group
    /// (EINVAL).
    NotReusePort,
    /// The group has no program to detach (ENOENT).
    NoProgram,
}

/// Why `tcp_accept` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AcceptError {
    /// No connection is waiting; wait for `AcceptReady`.
    WouldBlock,
    /// No such listener: the application's bug.
    InvalidHandle,
}

/// Why `tcp_connect` failed. The variants name std's `io::ErrorKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectError {
    /// The remote address or port is unusable (0.0.0.0, port 0, broadcast,
    /// multicast, ourselves).
    InvalidAddress,
    /// The requested local port already has a connection to that peer
    /// (EADDRINUSE).
    AddrInUse,
    /// The requested local address is not one of ours (EADDRNOTAVAIL).
    AddrNotAvailable,
    /// Every ephemeral port to that peer is taken (EADDRNOTAVAIL in Linux).
    NoEphemeralPorts,
    /// No route to the remote address (ENETUNREACH).
    NetworkUnreachable,
}

macro_rules! display_errors {
    ($($ty:ident { $($variant:pat => $text:expr,)* })*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $($variant => $text,)*
                })
            }
        }
        impl core::error::Error for $ty {}
    )*};
}

display_errors! {
    ReuseportError {
        ReuseportError::InvalidHandle => "no such listener",
        ReuseportError::NotReusePort => "the listener did not set SO_REUSEPORT",
        ReuseportError::NoProgram => "the reuseport group has no selection program",
    }
    ListenError {
        ListenError::AddrNotAvailable => "address not available on this interface",
        ListenError::AddrInUse => "address and port already listened on",
        ListenError::InvalidPort => "port 0",
        ListenError::InvalidHandle => "no such listener",
    }
    AcceptError {
        AcceptError::WouldBlock => "no connection to accept yet",
        AcceptError::InvalidHandle => "no such listener",
    }
    ConnectError {
        ConnectError::InvalidAddress => "invalid remote address",
        ConnectError::AddrInUse => "local port in use for this peer",
        ConnectError::AddrNotAvailable => "local address not available",
        ConnectError::NoEphemeralPorts => "no ephemeral port left",
        ConnectError::NetworkUnreachable => "network unreachable",
    }
}
