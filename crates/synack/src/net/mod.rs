//! Blocking sockets, used like `std::net`'s, on a synack [`Runtime`]:
//! every constructor takes the runtime first.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use synack::net::{TcpListener, TcpStream};
//! # fn main() -> std::io::Result<()> {
//! let tun = synack::Tun::open("synack%d")?;
//! tun.set_kernel_addr("192.0.2.1".parse().unwrap(), 24)?;
//! tun.set_up()?;
//! let rt = synack::Runtime::start(tun, "192.0.2.2".parse().unwrap(), 24)?;
//! let listener = TcpListener::bind(&rt, "0.0.0.0:7")?;
//! for stream in listener.incoming() {
//!     let mut stream = stream?;
//!     let mut buf = [0; 4096];
//!     let n = stream.read(&mut buf)?;
//!     stream.write_all(&buf[..n])?;
//! }
//! # let _ = TcpStream::connect(&rt, "192.0.2.1:80");
//! # Ok(())
//! # }
//! ```
//!
//! Errors are `io::Error`s with std's kinds: `ConnectionRefused` (a RST
//! answered the SYN), `ConnectionReset`, `TimedOut` (retransmissions or
//! keepalive probes ran out, or `connect_timeout`), `AddrInUse`,
//! `AddrNotAvailable`, `NotConnected`, `BrokenPipe` (writing after
//! `shutdown(Write)`), `WouldBlock` (nonblocking, or a read/write timeout,
//! as std reports them on Linux).

mod error;
pub(crate) mod listener;
pub(crate) mod ops;
pub(crate) mod ping;
mod stream;
pub(crate) mod udp;

use std::time::Duration;

pub use listener::{DEFAULT_BACKLOG, Incoming, ListenOptions, ReuseportContext, TcpListener};
pub use ping::{PingEvent, PingReply, PingSocket};
pub use stream::TcpStream;
pub use synack_proto::ping::PingErrorReport;
/// A datagram [`UdpSocket::recv_msg`] read: its length and source, whether
/// it was cut short, and its IP header's destination, TTL and TOS.
pub use synack_proto::udp::Received as ReceivedDatagram;
pub use synack_proto::udp::UdpErrorReport;

#[cfg(feature = "tokio")]
pub(crate) use error::ping_error as error_of_ping;
#[cfg(feature = "tokio")]
pub(crate) use error::udp_error as error_of_udp;
pub use synack_proto::ip::igmp::FilterMode;
pub use synack_proto::ip::pmtu::PmtuDiscovery;
pub use udp::UdpSocket;

/// Keepalive settings: SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL and
/// TCP_KEEPCNT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (at least 1 s).
    pub idle: Duration,
    /// Time between unanswered probes (at least 1 s).
    pub interval: Duration,
    /// Unanswered probes before the connection is declared dead (at least 1).
    pub count: u8,
}

/// TCP_LINGER2: how long a closed connection waits in FIN-WAIT-2 for the
/// peer's FIN (docs/TCP.md; Linux `tp->linger2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Linger2 {
    /// `tcp_fin_timeout` (60 s unless configured).
    #[default]
    Default,
    /// No wait: a close in FIN-WAIT-2 resets the connection, and one
    /// reaching it after the close ends at once.
    Abort,
    /// This long, at most 120 s (longer is cut, zero is the default).
    Timeout(Duration),
}

impl Linger2 {
    pub(crate) fn to_stack(self) -> synack_proto::tcp::conn::Linger2 {
        use synack_proto::tcp::conn::Linger2 as L;
        match self {
            Linger2::Default => L::Default,
            Linger2::Abort => L::Abort,
            Linger2::Timeout(d) => L::Timeout(ops::stack_duration(d)),
        }
    }

    pub(crate) fn from_stack(l: synack_proto::tcp::conn::Linger2) -> Linger2 {
        use synack_proto::tcp::conn::Linger2 as L;
        match l {
            L::Default => Linger2::Default,
            L::Abort => Linger2::Abort,
            L::Timeout(d) => Linger2::Timeout(Duration::from_micros(d.total_micros())),
        }
    }
}

impl Keepalive {
    pub fn new(idle: Duration, interval: Duration, count: u8) -> Keepalive {
        Keepalive {
            idle,
            interval,
            count,
        }
    }
}
