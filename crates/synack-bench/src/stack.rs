//! What the harness needs from a TCP/IP stack: [`BenchStack`].
//!
//! Every measurement is written once against this trait, so smoltcp and
//! synack go through the same code, the same frame queues and the same
//! application logic. A stack has one IP-medium interface with one address;
//! the harness moves whole IPv4 packets between two of them.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::Serialize;
use synack_proto::Instant;

use crate::frames::Frames;
use crate::pair::{DriveError, Pair};

/// The client's address in the harness's two-host networks (TEST-NET-1).
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The server's address.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// Socket buffer sizes in bytes. smoltcp allocates both up front for every
/// socket; a stack with growable buffers treats them as limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Buffers {
    pub rx: usize,
    pub tx: usize,
}

impl Buffers {
    /// The same size for both directions.
    pub const fn both(bytes: usize) -> Buffers {
        Buffers {
            rx: bytes,
            tx: bytes,
        }
    }
}

/// Congestion control for every connection of a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Congestion {
    /// No congestion window (smoltcp's behaviour when built with its default
    /// features).
    None,
    Reno,
    /// RFC 9438; synack's default.
    #[default]
    Cubic,
}

impl fmt::Display for Congestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Congestion::None => "none",
            Congestion::Reno => "reno",
            Congestion::Cubic => "cubic",
        })
    }
}

/// How to build one host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostConfig {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    /// IP MTU: the largest IPv4 packet the interface sends or accepts.
    pub mtu: usize,
    pub buffers: Buffers,
    pub congestion: Congestion,
    /// Seeds the stack's randomness (ISNs).
    pub seed: u64,
    /// Connections the host should be ready to hold (a sizing hint).
    pub capacity: usize,
    /// Negotiate SACK (RFC 2018) where the stack supports it.
    pub sack: bool,
}

impl HostConfig {
    pub fn new(addr: Ipv4Addr) -> HostConfig {
        HostConfig {
            addr,
            prefix_len: 24,
            mtu: 1500,
            buffers: Buffers::both(64 * 1024),
            congestion: Congestion::default(),
            seed: 0,
            capacity: 16,
            sack: true,
        }
    }
}

/// RFC 9293 connection states (§3.3.2): synack's own enum, which the
/// smoltcp adapter maps onto as well.
pub use synack_proto::tcp::state::TcpState;

/// Connections as (client socket, server socket) pairs.
pub type Conns<S> = Vec<(<S as BenchStack>::Socket, <S as BenchStack>::Socket)>;

/// A TCP/IP stack as the harness drives it.
///
/// Sockets are small copyable handles. Server sockets follow the
/// listen/accept model: [`listen`](BenchStack::listen) makes the host ready
/// to accept one more connection on a port and returns a listener handle;
/// [`accept`](BenchStack::accept) returns the connection once it is
/// established. (smoltcp's listening socket *becomes* the connection, so its
/// listener is good for one accept; a stack with an accept queue may return
/// the same listener every time.)
pub trait BenchStack: Sized + 'static {
    type Socket: Copy + Eq + fmt::Debug;

    /// The name used in reports ("smoltcp", "synack").
    const NAME: &'static str;

    fn new(config: &HostConfig) -> Self;

    /// Reads every frame in `rx`, then appends to `tx` every frame the stack
    /// wants to send now. Frames are IPv4 packets.
    fn poll(&mut self, now: Instant, rx: &mut Frames, tx: &mut Frames);

    /// Gives the buffers of frames received from `rx` that the stack kept
    /// and no longer needs (the application read them) back to `rx`'s pool,
    /// as a driver's loop does after the application's turn. A stack that
    /// keeps no frames has nothing to give.
    fn reclaim(&mut self, _rx: &mut Frames) {}

    /// Frames received that the stack kept as readable bytes instead of
    /// copying them (zero-copy receive); 0 for a stack that copies.
    fn frames_kept(&self) -> u64 {
        0
    }

    /// When the stack next wants [`poll`](BenchStack::poll) if no frame
    /// arrives; a time at or before `now` means at once.
    fn poll_at(&mut self, now: Instant) -> Option<Instant>;

    /// Ready to accept one more connection on `port`.
    fn listen(&mut self, port: u16) -> Self::Socket;

    /// The established connection behind `listener`, once there is one.
    fn accept(&mut self, listener: Self::Socket) -> Option<Self::Socket>;

    /// Opens a connection from `local_port` to `remote`.
    fn connect(&mut self, now: Instant, local_port: u16, remote: SocketAddrV4) -> Self::Socket;

    fn state(&self, socket: Self::Socket) -> TcpState;

    /// Copies as much of `data` into the send buffer as fits; bytes taken.
    fn send(&mut self, socket: Self::Socket, data: &[u8]) -> usize;

    /// Copies received bytes into `buf`; 0 when nothing is ready.
    fn recv(&mut self, socket: Self::Socket, buf: &mut [u8]) -> usize;

    /// The peer closed its half and every byte before its FIN was read.
    fn recv_finished(&self, socket: Self::Socket) -> bool;

    /// Closes our half (sends FIN after the queued data).
    fn close(&mut self, socket: Self::Socket);

    /// The application is done with `socket`; the stack may reuse it.
    fn release(&mut self, socket: Self::Socket);

    /// Opens `n` idle established connections from `pair.a` to `pair.b`
    /// (server ports from `first_port`) and returns their (client, server)
    /// sockets. The default goes through [`Pair::open_idle`]; a stack may
    /// build the same end state faster when its own structure makes the
    /// straightforward way quadratic (smoltcp does).
    fn open_idle(
        pair: &mut Pair<Self>,
        n: usize,
        first_port: u16,
    ) -> Result<Conns<Self>, DriveError> {
        pair.open_idle(n, 256, first_port)
    }
}
