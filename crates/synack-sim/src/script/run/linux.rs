//! The Linux constants scripts name: errno values, socket levels and
//! options, flags of send/recv/fcntl/poll/shutdown (x86-64 values, from
//! linux/errno.h, linux/socket.h, linux/tcp.h, asm-generic/fcntl.h and
//! asm-generic/poll.h). packetdrill resolves these names with the host's C
//! headers; synack has none, so it keeps Linux's table here.

/// An errno, by value. Only the ones a TCP socket returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i64);

macro_rules! errnos {
    ($($name:ident = $value:expr, $text:expr;)*) => {
        impl Errno {
            $(pub const $name: Errno = Errno($value);)*

            /// The errno called `name` (`EAGAIN`, `ECONNREFUSED`, ...).
            pub fn from_name(name: &str) -> Option<Errno> {
                match name {
                    $(stringify!($name) => Some(Errno::$name),)*
                    "EWOULDBLOCK" => Some(Errno::EAGAIN),
                    _ => None,
                }
            }

            /// Its macro name, or `errno N`.
            pub fn name(self) -> String {
                match self {
                    $(Errno::$name => stringify!($name).to_string(),)*
                    Errno(n) => format!("errno {n}"),
                }
            }

            /// strerror(3)'s text.
            pub fn text(self) -> &'static str {
                match self {
                    $(Errno::$name => $text,)*
                    _ => "Unknown error",
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EINTR = 4, "Interrupted system call";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EFAULT = 14, "Bad address";
    EINVAL = 22, "Invalid argument";
    ENOTTY = 25, "Inappropriate ioctl for device";
    EPIPE = 32, "Broken pipe";
    ENOSYS = 38, "Function not implemented";
    ENOTSOCK = 88, "Socket operation on non-socket";
    EDESTADDRREQ = 89, "Destination address required";
    EMSGSIZE = 90, "Message too long";
    EPROTOTYPE = 91, "Protocol wrong type for socket";
    ENOPROTOOPT = 92, "Protocol not available";
    EPROTONOSUPPORT = 93, "Protocol not supported";
    ESOCKTNOSUPPORT = 94, "Socket type not supported";
    EOPNOTSUPP = 95, "Operation not supported";
    EAFNOSUPPORT = 97, "Address family not supported by protocol";
    EADDRINUSE = 98, "Address already in use";
    EADDRNOTAVAIL = 99, "Cannot assign requested address";
    ENETUNREACH = 101, "Network is unreachable";
    ECONNABORTED = 103, "Software caused connection abort";
    ECONNRESET = 104, "Connection reset by peer";
    ENOBUFS = 105, "No buffer space available";
    EISCONN = 106, "Transport endpoint is already connected";
    ENOTCONN = 107, "Transport endpoint is not connected";
    ETIMEDOUT = 110, "Connection timed out";
    ECONNREFUSED = 111, "Connection refused";
    EHOSTUNREACH = 113, "No route to host";
    EALREADY = 114, "Operation already in progress";
    EINPROGRESS = 115, "Operation now in progress";
}

/// Integer constants a system call argument may name (packetdrill's
/// symbols.c table, the subset a TCP test uses). Errno names resolve too.
pub fn constant(name: &str) -> Option<i64> {
    Some(match name {
        // Address families, socket types, protocols.
        "AF_UNSPEC" => 0,
        "AF_INET" | "PF_INET" => 2,
        "AF_INET6" | "PF_INET6" => 10,
        "SOCK_STREAM" => 1,
        "SOCK_DGRAM" => 2,
        "SOCK_RAW" => 3,
        "SOCK_NONBLOCK" => O_NONBLOCK,
        "SOCK_CLOEXEC" => 0o2000000,
        "IPPROTO_IP" => 0,
        "IPPROTO_ICMP" => 1,
        "IPPROTO_TCP" => 6,
        "IPPROTO_UDP" => 17,
        "IPPROTO_IPV6" => 41,
        "IPPROTO_ICMPV6" => 58,
        // Levels.
        "SOL_SOCKET" => SOL_SOCKET,
        "SOL_TCP" => SOL_TCP,
        "SOL_IP" => SOL_IP,
        "SOL_IPV6" => 41,
        "SOL_UDP" => 17,
        // SOL_SOCKET options.
        "SO_DEBUG" => 1,
        "SO_REUSEADDR" => SO_REUSEADDR,
        "SO_TYPE" => 3,
        "SO_ERROR" => SO_ERROR,
        "SO_DONTROUTE" => 5,
        "SO_BROADCAST" => 6,
        "SO_SNDBUF" => SO_SNDBUF,
        "SO_RCVBUF" => SO_RCVBUF,
        "SO_KEEPALIVE" => SO_KEEPALIVE,
        "SO_OOBINLINE" => SO_OOBINLINE,
        "SO_LINGER" => SO_LINGER,
        "SO_REUSEPORT" => SO_REUSEPORT,
        "SO_RCVLOWAT" => SO_RCVLOWAT,
        "SO_SNDLOWAT" => 19,
        "SO_RCVTIMEO" => 20,
        "SO_SNDTIMEO" => 21,
        "SO_ACCEPTCONN" => 30,
        "SO_PROTOCOL" => 38,
        "SO_DOMAIN" => 39,
        "SO_MAX_PACING_RATE" => 47,
        "SO_ZEROCOPY" => 60,
        // IPPROTO_IP options.
        "IP_TOS" => IP_TOS,
        "IP_TTL" => IP_TTL,
        // IPPROTO_TCP options.
        "TCP_NODELAY" => TCP_NODELAY,
        "TCP_MAXSEG" => TCP_MAXSEG,
        "TCP_CORK" => TCP_CORK,
        "TCP_KEEPIDLE" => TCP_KEEPIDLE,
        "TCP_KEEPINTVL" => TCP_KEEPINTVL,
        "TCP_KEEPCNT" => TCP_KEEPCNT,
        "TCP_SYNCNT" => TCP_SYNCNT,
        "TCP_LINGER2" => TCP_LINGER2,
        "TCP_DEFER_ACCEPT" => TCP_DEFER_ACCEPT,
        "TCP_WINDOW_CLAMP" => TCP_WINDOW_CLAMP,
        "TCP_INFO" => TCP_INFO,
        "TCP_QUICKACK" => TCP_QUICKACK,
        "TCP_CONGESTION" => TCP_CONGESTION,
        "TCP_MD5SIG" => 14,
        "TCP_THIN_LINEAR_TIMEOUTS" => 16,
        "TCP_THIN_DUPACK" => 17,
        "TCP_USER_TIMEOUT" => TCP_USER_TIMEOUT,
        "TCP_REPAIR" => 19,
        "TCP_REPAIR_QUEUE" => 20,
        "TCP_QUEUE_SEQ" => 21,
        "TCP_REPAIR_OPTIONS" => 22,
        "TCP_FASTOPEN" => TCP_FASTOPEN,
        "TCP_TIMESTAMP" => 24,
        "TCP_NOTSENT_LOWAT" => TCP_NOTSENT_LOWAT,
        "TCP_CC_INFO" => 26,
        "TCP_SAVE_SYN" => 27,
        "TCP_SAVED_SYN" => 28,
        "TCP_REPAIR_WINDOW" => 29,
        "TCP_FASTOPEN_CONNECT" => TCP_FASTOPEN_CONNECT,
        "TCP_ULP" => 31,
        "TCP_MD5SIG_EXT" => 32,
        "TCP_FASTOPEN_KEY" => 33,
        "TCP_FASTOPEN_NO_COOKIE" => 34,
        "TCP_ZEROCOPY_RECEIVE" => 35,
        "TCP_INQ" => 36,
        "TCP_TX_DELAY" => 37,
        // send/recv flags.
        "MSG_OOB" => MSG_OOB,
        "MSG_PEEK" => MSG_PEEK,
        "MSG_DONTROUTE" => 0x4,
        "MSG_TRUNC" => 0x20,
        "MSG_DONTWAIT" => MSG_DONTWAIT,
        "MSG_EOR" => MSG_EOR,
        "MSG_WAITALL" => MSG_WAITALL,
        "MSG_NOSIGNAL" => 0x4000,
        "MSG_MORE" => MSG_MORE,
        "MSG_ERRQUEUE" => 0x2000,
        "MSG_ZEROCOPY" => 0x4000000,
        "MSG_FASTOPEN" => MSG_FASTOPEN,
        // fcntl.
        "F_GETFD" => 1,
        "F_SETFD" => 2,
        "F_GETFL" => F_GETFL,
        "F_SETFL" => F_SETFL,
        "O_RDONLY" => 0,
        "O_WRONLY" => 1,
        "O_RDWR" => O_RDWR,
        "O_NONBLOCK" => O_NONBLOCK,
        "FD_CLOEXEC" => 1,
        // shutdown.
        "SHUT_RD" => 0,
        "SHUT_WR" => 1,
        "SHUT_RDWR" => 2,
        // poll.
        "POLLIN" => POLLIN,
        "POLLPRI" => POLLPRI,
        "POLLOUT" => POLLOUT,
        "POLLERR" => POLLERR,
        "POLLHUP" => POLLHUP,
        "POLLNVAL" => POLLNVAL,
        "POLLRDNORM" => POLLRDNORM,
        "POLLRDBAND" => 0x80,
        "POLLWRNORM" => POLLWRNORM,
        "POLLWRBAND" => 0x200,
        "POLLMSG" => 0x400,
        "POLLRDHUP" => POLLRDHUP,
        // ioctl.
        "SIOCINQ" | "FIONREAD" => SIOCINQ,
        "SIOCOUTQ" | "TIOCOUTQ" => SIOCOUTQ,
        "SIOCOUTQNSD" => 0x894B,
        "SIOCATMARK" => SIOCATMARK,
        "FIONBIO" => 0x5421,
        _ => return Errno::from_name(name).map(|e| e.0),
    })
}

pub const SIOCINQ: i64 = 0x541B;
pub const SIOCOUTQ: i64 = 0x5411;
pub const SIOCATMARK: i64 = 0x8905;
pub const SOL_IP: i64 = 0;
pub const IP_TOS: i64 = 1;
pub const IP_TTL: i64 = 2;
pub const SOL_SOCKET: i64 = 1;
pub const SOL_TCP: i64 = 6;
pub const SO_REUSEADDR: i64 = 2;
pub const SO_ERROR: i64 = 4;
pub const SO_SNDBUF: i64 = 7;
pub const SO_RCVBUF: i64 = 8;
pub const SO_KEEPALIVE: i64 = 9;
pub const SO_OOBINLINE: i64 = 10;
pub const SO_LINGER: i64 = 13;
pub const SO_RCVLOWAT: i64 = 18;
pub const SO_REUSEPORT: i64 = 15;
pub const TCP_NODELAY: i64 = 1;
pub const TCP_MAXSEG: i64 = 2;
pub const TCP_CORK: i64 = 3;
pub const TCP_KEEPIDLE: i64 = 4;
pub const TCP_KEEPINTVL: i64 = 5;
pub const TCP_KEEPCNT: i64 = 6;
pub const TCP_SYNCNT: i64 = 7;
pub const TCP_LINGER2: i64 = 8;
pub const TCP_DEFER_ACCEPT: i64 = 9;
pub const TCP_WINDOW_CLAMP: i64 = 10;
pub const TCP_INFO: i64 = 11;
pub const TCP_QUICKACK: i64 = 12;
pub const TCP_CONGESTION: i64 = 13;
pub const TCP_USER_TIMEOUT: i64 = 18;
pub const TCP_FASTOPEN: i64 = 23;
pub const TCP_NOTSENT_LOWAT: i64 = 25;
pub const TCP_FASTOPEN_CONNECT: i64 = 30;
pub const MSG_OOB: i64 = 0x1;
pub const MSG_PEEK: i64 = 0x2;
pub const MSG_DONTWAIT: i64 = 0x40;
pub const MSG_EOR: i64 = 0x80;
pub const MSG_WAITALL: i64 = 0x100;
pub const MSG_MORE: i64 = 0x8000;
pub const MSG_FASTOPEN: i64 = 0x2000_0000;
pub const F_GETFL: i64 = 3;
pub const F_SETFL: i64 = 4;
pub const O_RDWR: i64 = 2;
pub const O_NONBLOCK: i64 = 0o4000;
pub const POLLIN: i64 = 0x1;
pub const POLLPRI: i64 = 0x2;
pub const POLLOUT: i64 = 0x4;
pub const POLLERR: i64 = 0x8;
pub const POLLHUP: i64 = 0x10;
pub const POLLNVAL: i64 = 0x20;
pub const POLLRDNORM: i64 = 0x40;
pub const POLLWRNORM: i64 = 0x100;
pub const POLLRDHUP: i64 = 0x2000;

/// The name of a socket option, for messages (`TCP_NODELAY`).
pub fn option_name(level: i64, name: i64) -> String {
    let table: &[(&str, i64)] = if level == SOL_SOCKET {
        &[
            ("SO_REUSEADDR", SO_REUSEADDR),
            ("SO_ERROR", SO_ERROR),
            ("SO_SNDBUF", SO_SNDBUF),
            ("SO_RCVBUF", SO_RCVBUF),
            ("SO_KEEPALIVE", SO_KEEPALIVE),
            ("SO_OOBINLINE", SO_OOBINLINE),
            ("SO_LINGER", SO_LINGER),
            ("SO_REUSEPORT", SO_REUSEPORT),
            ("SO_RCVLOWAT", SO_RCVLOWAT),
            ("SO_SNDLOWAT", 19),
            ("SO_RCVTIMEO", 20),
            ("SO_SNDTIMEO", 21),
            ("SO_ZEROCOPY", 60),
            ("SO_MAX_PACING_RATE", 47),
        ]
    } else if level == SOL_IP {
        &[("IP_TOS", IP_TOS), ("IP_TTL", IP_TTL), ("IP_OPTIONS", 4)]
    } else if level == SOL_TCP {
        &[
            ("TCP_NODELAY", TCP_NODELAY),
            ("TCP_MAXSEG", TCP_MAXSEG),
            ("TCP_CORK", TCP_CORK),
            ("TCP_KEEPIDLE", TCP_KEEPIDLE),
            ("TCP_KEEPINTVL", TCP_KEEPINTVL),
            ("TCP_KEEPCNT", TCP_KEEPCNT),
            ("TCP_SYNCNT", TCP_SYNCNT),
            ("TCP_LINGER2", TCP_LINGER2),
            ("TCP_DEFER_ACCEPT", TCP_DEFER_ACCEPT),
            ("TCP_WINDOW_CLAMP", TCP_WINDOW_CLAMP),
            ("TCP_INFO", TCP_INFO),
            ("TCP_QUICKACK", TCP_QUICKACK),
            ("TCP_CONGESTION", TCP_CONGESTION),
            ("TCP_USER_TIMEOUT", TCP_USER_TIMEOUT),
            ("TCP_FASTOPEN", TCP_FASTOPEN),
            ("TCP_NOTSENT_LOWAT", TCP_NOTSENT_LOWAT),
            ("TCP_FASTOPEN_CONNECT", TCP_FASTOPEN_CONNECT),
            ("TCP_FASTOPEN_KEY", 33),
            ("TCP_FASTOPEN_NO_COOKIE", 34),
            ("TCP_INQ", 36),
        ]
    } else {
        &[]
    };
    table
        .iter()
        .find(|(_, v)| *v == name)
        .map(|(n, _)| (*n).to_string())
        .unwrap_or_else(|| format!("option {name} at level {level}"))
}

/// `tcpi_state` values (net/tcp_states.h).
pub fn tcp_state_number(state: synack_proto::tcp::state::TcpState) -> i64 {
    use synack_proto::tcp::state::TcpState as S;
    match state {
        S::Established => 1,
        S::SynSent => 2,
        S::SynReceived => 3,
        S::FinWait1 => 4,
        S::FinWait2 => 5,
        S::TimeWait => 6,
        S::Closed => 7,
        S::CloseWait => 8,
        S::LastAck => 9,
        S::Listen => 10,
        S::Closing => 11,
    }
}

/// Names of the bits set in `value`, `A|B`, for poll(2) messages.
pub fn poll_bits(value: i64) -> String {
    const BITS: &[(&str, i64)] = &[
        ("POLLIN", POLLIN),
        ("POLLPRI", POLLPRI),
        ("POLLOUT", POLLOUT),
        ("POLLERR", POLLERR),
        ("POLLHUP", POLLHUP),
        ("POLLNVAL", POLLNVAL),
        ("POLLRDNORM", POLLRDNORM),
        ("POLLWRNORM", POLLWRNORM),
        ("POLLRDHUP", POLLRDHUP),
    ];
    let names: Vec<&str> = BITS
        .iter()
        .filter(|(_, b)| value & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_linux_values() {
        assert_eq!(constant("SOL_TCP"), Some(6));
        assert_eq!(constant("TCP_FASTOPEN_CONNECT"), Some(30));
        assert_eq!(constant("MSG_FASTOPEN"), Some(0x2000_0000));
        assert_eq!(constant("O_NONBLOCK"), Some(0x800));
        assert_eq!(constant("ECONNREFUSED"), Some(111));
        assert_eq!(constant("EWOULDBLOCK"), Some(11));
        assert_eq!(constant("NOT_A_NAME"), None);
        assert_eq!(Errno::EINPROGRESS.name(), "EINPROGRESS");
        assert_eq!(Errno(7777).name(), "errno 7777");
        assert_eq!(option_name(SOL_TCP, 18), "TCP_USER_TIMEOUT");
        assert_eq!(poll_bits(POLLIN | POLLOUT), "POLLIN|POLLOUT");
        assert_eq!(poll_bits(0), "0");
    }
}
