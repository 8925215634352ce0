//! The stack's error values as `io::Error`s with std's kinds, the way
//! `std::net` reports the same conditions on Linux.

use std::io;

use synack_proto::ip::icmp::IcmpErrno;
use synack_proto::ping::PingError;
use synack_proto::stack::{AcceptError, ConnectError, ListenError, ReuseportError};
use synack_proto::tcp::conn::{
    CloseReason, ConnError, RecvError, SendError, SetOptionError, ShutdownError,
};
use synack_proto::udp::UdpError;

pub(crate) fn conn_error(e: ConnError) -> io::Error {
    if let ConnError::Unreachable(errno) = e {
        return icmp_error(errno);
    }
    let kind = match e {
        ConnError::Refused => io::ErrorKind::ConnectionRefused,
        ConnError::Reset => io::ErrorKind::ConnectionReset,
        ConnError::TimedOut => io::ErrorKind::TimedOut,
        ConnError::Aborted => io::ErrorKind::ConnectionAborted,
        ConnError::Unreachable(_) => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// An ICMP error (or a failed ARP resolution) as the errno Linux reports,
/// so std picks the kind (`HostUnreachable`, `NetworkUnreachable`, ...).
pub(crate) fn icmp_error(errno: IcmpErrno) -> io::Error {
    io::Error::from_raw_os_error(errno.linux_errno())
}

/// Why a connection the application still holds ended, as an error; `None`
/// for an orderly close.
pub(crate) fn close_error(reason: CloseReason) -> Option<io::Error> {
    match reason {
        CloseReason::Normal => None,
        CloseReason::Refused => Some(conn_error(ConnError::Refused)),
        CloseReason::Reset => Some(conn_error(ConnError::Reset)),
        CloseReason::TimedOut => Some(conn_error(ConnError::TimedOut)),
        CloseReason::Aborted | CloseReason::Cancelled => Some(conn_error(ConnError::Aborted)),
        CloseReason::Unreachable(errno) => Some(icmp_error(errno)),
    }
}

pub(crate) fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket is not connected")
}

pub(crate) fn recv_error(e: RecvError) -> io::Error {
    match e {
        RecvError::WouldBlock => io::ErrorKind::WouldBlock.into(),
        RecvError::Connection(e) => conn_error(e),
        RecvError::InvalidHandle => not_connected(),
        // EINVAL, as Linux's `tcp_recv_urg`.
        RecvError::NoUrgentData => io::Error::new(io::ErrorKind::InvalidInput, e),
    }
}

pub(crate) fn send_error(e: SendError) -> io::Error {
    match e {
        SendError::WouldBlock => io::ErrorKind::WouldBlock.into(),
        // EPIPE, as Linux reports writes after shutdown or close.
        SendError::WriteShutdown | SendError::Closed => {
            io::Error::new(io::ErrorKind::BrokenPipe, e)
        }
        SendError::Connection(e) => conn_error(e),
        SendError::InvalidHandle => not_connected(),
    }
}

pub(crate) fn shutdown_error(e: ShutdownError) -> io::Error {
    match e {
        ShutdownError::NotConnected | ShutdownError::InvalidHandle => not_connected(),
    }
}

pub(crate) fn option_error(e: SetOptionError) -> io::Error {
    match e {
        SetOptionError::InvalidValue => io::Error::new(io::ErrorKind::InvalidInput, e),
        SetOptionError::InvalidHandle => not_connected(),
    }
}

pub(crate) fn listen_error(e: ListenError) -> io::Error {
    let kind = match e {
        ListenError::AddrNotAvailable => io::ErrorKind::AddrNotAvailable,
        ListenError::AddrInUse => io::ErrorKind::AddrInUse,
        ListenError::InvalidPort => io::ErrorKind::InvalidInput,
        ListenError::InvalidHandle => io::ErrorKind::NotConnected,
    };
    io::Error::new(kind, e)
}

pub(crate) fn reuseport_error(e: ReuseportError) -> io::Error {
    let kind = match e {
        ReuseportError::InvalidHandle => io::ErrorKind::NotConnected,
        ReuseportError::NotReusePort => io::ErrorKind::InvalidInput,
        ReuseportError::NoProgram => io::ErrorKind::NotFound,
    };
    io::Error::new(kind, e)
}

pub(crate) fn connect_error(e: ConnectError) -> io::Error {
    let kind = match e {
        ConnectError::InvalidAddress => io::ErrorKind::InvalidInput,
        ConnectError::AddrInUse => io::ErrorKind::AddrInUse,
        // EADDRNOTAVAIL, as Linux says when the ephemeral ports run out.
        ConnectError::NoEphemeralPorts | ConnectError::AddrNotAvailable => {
            io::ErrorKind::AddrNotAvailable
        }
        ConnectError::NetworkUnreachable => io::ErrorKind::NetworkUnreachable,
    };
    io::Error::new(kind, e)
}

pub(crate) fn accept_error(e: AcceptError) -> io::Error {
    match e {
        AcceptError::WouldBlock => io::ErrorKind::WouldBlock.into(),
        AcceptError::InvalidHandle => not_connected(),
    }
}

pub(crate) fn udp_error(e: UdpError) -> io::Error {
    use io::ErrorKind::*;
    let kind = match e {
        UdpError::Icmp(errno) => return icmp_error(errno),
        // EMSGSIZE and ENOBUFS, with the OS's words.
        UdpError::MessageTooLong => return io::Error::from_raw_os_error(90),
        UdpError::NoBufferSpace => return io::Error::from_raw_os_error(105),
        UdpError::InvalidHandle | UdpError::NotConnected => NotConnected,
        UdpError::AddrInUse | UdpError::NoEphemeralPorts => AddrInUse,
        UdpError::AddrNotAvailable => AddrNotAvailable,
        UdpError::InvalidInput => InvalidInput,
        UdpError::WouldBlock => WouldBlock,
        UdpError::NetworkUnreachable => NetworkUnreachable,
    };
    io::Error::new(kind, e)
}

pub(crate) fn ping_error(e: PingError) -> io::Error {
    use io::ErrorKind::*;
    let kind = match e {
        PingError::Icmp(errno) => return icmp_error(errno),
        // EMSGSIZE and ENOBUFS, with the OS's words.
        PingError::MessageTooLong => return io::Error::from_raw_os_error(90),
        PingError::NoBufferSpace => return io::Error::from_raw_os_error(105),
        PingError::InvalidHandle | PingError::NotConnected => NotConnected,
        PingError::AddrInUse | PingError::NoIdentifiers => AddrInUse,
        PingError::AddrNotAvailable => AddrNotAvailable,
        PingError::InvalidInput => InvalidInput,
        PingError::WouldBlock => WouldBlock,
        PingError::NetworkUnreachable => NetworkUnreachable,
        PingError::PermissionDenied => PermissionDenied,
    };
    io::Error::new(kind, e)
}

pub(crate) fn ipv4_only() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "synack speaks IPv4 only: no IPv4 address given",
    )
}

pub(crate) fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// A read or write timeout: EAGAIN, as std reports `SO_RCVTIMEO` on Linux.
pub(crate) fn would_block(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::WouldBlock, format!("{what} timed out"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_std_nets() {
        use io::ErrorKind::*;
        assert_eq!(conn_error(ConnError::Refused).kind(), ConnectionRefused);
        assert_eq!(conn_error(ConnError::Reset).kind(), ConnectionReset);
        assert_eq!(conn_error(ConnError::TimedOut).kind(), TimedOut);
        assert_eq!(send_error(SendError::WriteShutdown).kind(), BrokenPipe);
        assert_eq!(send_error(SendError::Closed).kind(), BrokenPipe);
        assert_eq!(send_error(SendError::InvalidHandle).kind(), NotConnected);
        assert_eq!(recv_error(RecvError::WouldBlock).kind(), WouldBlock);
        assert_eq!(listen_error(ListenError::AddrInUse).kind(), AddrInUse);
        assert_eq!(
            listen_error(ListenError::AddrNotAvailable).kind(),
            AddrNotAvailable
        );
        assert_eq!(
            connect_error(ConnectError::NoEphemeralPorts).kind(),
            AddrNotAvailable
        );
        assert!(close_error(CloseReason::Normal).is_none());
        assert_eq!(
            close_error(CloseReason::Refused).map(|e| e.kind()),
            Some(ConnectionRefused)
        );
    }
}
