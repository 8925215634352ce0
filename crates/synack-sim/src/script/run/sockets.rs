//! The runner's two views of a socket.
//!
//! - [`Conn`] is packetdrill's `struct socket`: a connection as the script
//!   sees it, with its live 4-tuple, each side's ISN in script and live
//!   terms, the TS val map, and the handshake progress that decides which
//!   packet belongs to whom (run_packet.c). Children of a listener exist
//!   here from their first inbound packet, before any `accept`.
//! - [`Socket`] is the file descriptor's side: what the application did
//!   (bound, listening, connected, non-blocking, options) and the handle
//!   into the Stack.

use core::net::SocketAddrV4;

use synack_proto::SeqNum;
use synack_proto::ip::SocketIp;
use synack_proto::stack::{ConnHandle, ListenerHandle};
use synack_proto::tcp::conn::SocketOptions;

use super::linux::Errno;
use crate::script::meaning::{Isns, TsMap};

/// packetdrill's `enum socket_state_t`: how far the script has taken a
/// connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// socket() done.
    New,
    /// listen() done: the next inbound packet makes a child.
    Listening,
    /// A child: the script's first packet arrived.
    PassivePacketReceived,
    /// A child: its SYN-ACK was seen.
    PassiveSynAckSent,
    /// A child: the handshake's ACK was injected.
    PassiveSynAckAcked,
    /// connect() (or sendto with MSG_FASTOPEN) done.
    ActiveConnecting,
    /// The script's `> S` was reached.
    ActiveSynSent,
    /// The peer's SYN-ACK was injected.
    ActiveSynAcked,
}

/// A connection as the script sees it.
#[derive(Debug)]
pub struct Conn {
    pub state: ConnState,
    /// Our address and port; port 0 until synack's SYN shows it.
    pub live_local: SocketAddrV4,
    /// The script host's address and port.
    pub live_remote: SocketAddrV4,
    /// synack's ISN, once seen.
    pub local_isn_live: Option<SeqNum>,
    /// The seq the script wrote in synack's SYN or SYN-ACK.
    pub local_isn_script: u32,
    /// The script host's ISN (0 until its SYN or SYN-ACK, as packetdrill).
    pub remote_isn: u32,
    pub ts: TsMap,
    /// The Stack's connection, once known.
    pub handle: Option<ConnHandle>,
}

impl Conn {
    pub fn new(state: ConnState, live_local: SocketAddrV4, live_remote: SocketAddrV4) -> Conn {
        Conn {
            state,
            live_local,
            live_remote,
            local_isn_live: None,
            local_isn_script: 0,
            remote_isn: 0,
            ts: TsMap::default(),
            handle: None,
        }
    }

    /// The ISNs for [`super::super::meaning`]; an unknown live ISN is 0, as
    /// packetdrill's zeroed socket fields are.
    pub fn isns(&self) -> Isns {
        Isns {
            local_live: self.local_isn_live.unwrap_or(SeqNum(0)),
            local_script: self.local_isn_script,
            remote: SeqNum(self.remote_isn),
        }
    }
}

/// What a file descriptor's socket is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Neither listening nor connected.
    Fresh,
    Listener(ListenerHandle),
    Conn(ConnHandle),
}

/// A socket behind a file descriptor.
#[derive(Debug)]
pub struct Socket {
    pub role: Role,
    /// Index into the runner's [`Conn`]s.
    pub conn: Option<usize>,
    pub nonblocking: bool,
    pub bound: Option<SocketAddrV4>,
    pub reuseaddr: bool,
    /// SO_REUSEPORT: may share a port with other listeners that set it.
    pub reuseport: bool,
    /// Options set before the connection exists, applied when it does.
    pub options: SocketOptions,
    /// IP_TTL and IP_TOS, likewise.
    pub ip: SocketIp,
    /// TCP_NOTSENT_LOWAT (0: unset), likewise: kept apart from
    /// `options`, as the Stack keeps it.
    pub notsent_lowat: u32,
    /// TCP_WINDOW_CLAMP (0: unset), likewise.
    pub window_clamp: u32,
    /// TCP_FASTOPEN (listener queue length).
    pub fastopen_qlen: Option<u32>,
    /// TCP_FASTOPEN_CONNECT.
    pub fastopen_connect: bool,
    /// connect() returned with the SYN held for the first write.
    pub deferred: bool,
    /// The pending socket error (`sk_err`): reported once, by the next
    /// call that looks (SO_ERROR, read, write, connect).
    pub error: Option<Errno>,
    /// connect() started and has not finished (non-blocking connect).
    pub connecting: bool,
    /// The connection was established once.
    pub connected: bool,
    /// The peer's FIN arrived.
    pub peer_fin: bool,
    /// The connection reached CLOSED.
    pub closed: bool,
    /// shutdown(SHUT_WR) or later.
    pub wr_shutdown: bool,
    pub rd_shutdown: bool,
}

impl Default for Socket {
    fn default() -> Socket {
        Socket {
            role: Role::Fresh,
            conn: None,
            nonblocking: false,
            bound: None,
            reuseaddr: false,
            reuseport: false,
            options: SocketOptions::default(),
            ip: SocketIp::default(),
            notsent_lowat: 0,
            window_clamp: 0,
            fastopen_qlen: None,
            fastopen_connect: false,
            deferred: false,
            error: None,
            connecting: false,
            connected: false,
            peer_fin: false,
            closed: false,
            wr_shutdown: false,
            rd_shutdown: false,
        }
    }
}
