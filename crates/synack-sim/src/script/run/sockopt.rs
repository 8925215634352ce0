//! setsockopt(2) and getsockopt(2): Linux's options, ranges and read-back
//! values (net/core/sock.c `sk_setsockopt`, net/ipv4/tcp.c
//! `do_tcp_setsockopt` / `do_tcp_getsockopt`), mapped onto synack's
//! [`SocketOption`]s. An option synack has no equivalent for makes the
//! script SKIP, naming it. And ioctl(2)'s socket queries (Linux
//! `tcp_ioctl`): SIOCINQ, SIOCOUTQ and SIOCATMARK.

use synack_proto::Duration;
use synack_proto::tcp::conn::{
    Linger2, MIN_WINDOW_CLAMP, SetOptionError, SocketOption, SocketOptions,
    defer_accept_retransmits, defer_accept_secs,
};

use super::linux::{self, Errno};
use super::runner::{Runner, Step, fail, skip};
use super::sockets::Role;
use super::syscalls::Ret;
use crate::script::ast::{Expr, ExprKind, Syscall};

/// Linux's SOCK_MIN_RCVBUF / SOCK_MIN_SNDBUF, halved like every value
/// (Linux doubles what the application asks for, to cover overhead; synack
/// counts payload bytes).
const MIN_BUFFER: usize = 1_152;
/// Linux's MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL (s) and MAX_TCP_KEEPCNT.
const MAX_KEEP_SECS: i64 = 32_767;
const MAX_KEEPCNT: i64 = 127;
/// TCP_MIN_MSS and MAX_TCP_WINDOW bounds of TCP_MAXSEG.
const MIN_MAXSEG: i64 = 88;
const MAX_MAXSEG: i64 = 32_767;
/// MAX_TCP_SYNCNT.
const MAX_SYNCNT: i64 = 127;

/// What a setsockopt asks for, once understood.
enum Set {
    /// Applied to synack's connection options.
    Option(SocketOption),
    ReuseAddr(bool),
    ReusePort(bool),
    /// TCP_MAXSEG 0.
    ClearMaxSeg,
    FastOpen(u32),
    FastOpenConnect(bool),
    /// IP_TOS: the byte (a stream socket keeps the DSCP bits).
    Tos(u8),
    /// IP_TTL: 1 to 255, or `None` for -1, the default again.
    Ttl(Option<u8>),
    /// TCP_NOTSENT_LOWAT.
    NotSentLowat(u32),
    /// TCP_WINDOW_CLAMP, at least `MIN_WINDOW_CLAMP` (0: clear).
    WindowClamp(u32),
}

impl Runner<'_> {
    pub(super) fn sys_setsockopt(&mut self, s: &Syscall) -> Step<super::syscalls::SysOutcome> {
        let fd = self.int_arg(s, 0)?;
        let level = self.int_arg(s, 1)?;
        let name = self.int_arg(s, 2)?;
        let value_expr = s.args.get(3);
        if !self.fds.contains_key(&fd) {
            return Ok(super::syscalls::SysOutcome::done(Ret::Error(Errno::EBADF)));
        }
        let set = match self.parse_set(level, name, value_expr)? {
            Ok(set) => set,
            Err(e) => return Ok(super::syscalls::SysOutcome::done(Ret::Error(e))),
        };
        let now = self.net.now;
        let Some(sock) = self.fds.get_mut(&fd) else {
            return Ok(super::syscalls::SysOutcome::done(Ret::Error(Errno::EBADF)));
        };
        let ret = match set {
            Set::ReuseAddr(on) => {
                sock.reuseaddr = on;
                Ret::Value(0)
            }
            Set::ReusePort(on) => {
                sock.reuseport = on;
                Ret::Value(0)
            }
            Set::ClearMaxSeg => {
                sock.options.max_segment = 0;
                Ret::Value(0)
            }
            Set::FastOpen(q) => {
                sock.fastopen_qlen = Some(q);
                match sock.role {
                    Role::Listener(l) => {
                        match self.net.stack.tcp_listener_set_fastopen(l, q as usize) {
                            Ok(()) => Ret::Value(0),
                            Err(_) => Ret::Error(Errno::EINVAL),
                        }
                    }
                    _ => Ret::Value(0),
                }
            }
            Set::FastOpenConnect(on) => {
                sock.fastopen_connect = on;
                Ret::Value(0)
            }
            Set::Tos(tos) => {
                sock.ip.tos = tos & !0b11;
                let _ = match sock.role {
                    Role::Conn(h) => self.net.stack.tcp_set_tos(h, tos),
                    Role::Listener(l) => self.net.stack.tcp_listener_set_tos(l, tos),
                    Role::Fresh => Ok(()),
                };
                Ret::Value(0)
            }
            Set::NotSentLowat(bytes) => {
                sock.notsent_lowat = bytes;
                let _ = match sock.role {
                    Role::Conn(h) => {
                        let set = SocketOption::NotSentLowat(bytes);
                        self.net.stack.tcp_set_option(now, h, set)
                    }
                    Role::Listener(l) => self.net.stack.tcp_listener_set_notsent_lowat(l, bytes),
                    Role::Fresh => Ok(()),
                };
                Ret::Value(0)
            }
            Set::WindowClamp(bytes) => match sock.role {
                // Linux `tcp_set_window_clamp`: 0 only on a closed socket.
                Role::Fresh => {
                    sock.window_clamp = bytes;
                    Ret::Value(0)
                }
                _ if bytes == 0 => Ret::Error(Errno::EINVAL),
                Role::Conn(h) => {
                    let set = SocketOption::WindowClamp(bytes);
                    let _ = self.net.stack.tcp_set_option(now, h, set);
                    Ret::Value(0)
                }
                Role::Listener(l) => {
                    let _ = self.net.stack.tcp_listener_set_window_clamp(l, bytes);
                    Ret::Value(0)
                }
            },
            Set::Ttl(ttl) => {
                sock.ip.ttl = ttl.unwrap_or(0);
                // synack's handles take a TTL, not "unset": -1 on a live
                // socket is the default as it is now.
                let ttl = ttl.unwrap_or(self.net.stack.config().ip_default_ttl);
                let _ = match sock.role {
                    Role::Conn(h) => self.net.stack.tcp_set_ttl(h, ttl),
                    Role::Listener(l) => self.net.stack.tcp_listener_set_ttl(l, ttl),
                    Role::Fresh => Ok(()),
                };
                Ret::Value(0)
            }
            Set::Option(opt) => match sock.role {
                Role::Conn(h) => match self.net.stack.tcp_set_option(now, h, opt) {
                    Ok(()) => Ret::Value(0),
                    Err(SetOptionError::InvalidValue) => Ret::Error(Errno::EINVAL),
                    // The Stack forgot the connection: Linux still has the socket.
                    Err(SetOptionError::InvalidHandle) => Ret::Value(0),
                },
                Role::Fresh => {
                    store(&mut sock.options, opt);
                    Ret::Value(0)
                }
                // Linux clones the listener for each child: new children
                // inherit the option.
                Role::Listener(l) => {
                    store(&mut sock.options, opt);
                    let options = sock.options;
                    match self.net.stack.tcp_listener_set_options(l, options) {
                        Ok(()) => Ret::Value(0),
                        Err(_) => Ret::Error(Errno::EBADF),
                    }
                }
            },
        };
        self.net.drain().map_err(|e| super::runner::Stop::Fail {
            line: self.line,
            message: e,
        })?;
        Ok(super::syscalls::SysOutcome::done(ret))
    }

    /// The option and its value, or the errno Linux returns for it.
    fn parse_set(&self, level: i64, name: i64, value: Option<&Expr>) -> Step<Result<Set, Errno>> {
        let int = |e: Option<&Expr>| -> Step<i64> {
            match e {
                Some(e) => Ok(self.int(e)?.unwrap_or(0)),
                None => fail(self.line, "setsockopt: missing value"),
            }
        };
        let unsupported = || {
            skip(format!(
                "setsockopt {}: synack has no such option",
                linux::option_name(level, name)
            ))
        };
        let secs = |v: i64| -> Result<Duration, Errno> {
            if (1..=MAX_KEEP_SECS).contains(&v) {
                Ok(Duration::from_secs(v as u64))
            } else {
                Err(Errno::EINVAL)
            }
        };
        Ok(Ok(match (level, name) {
            // Linux `do_ip_setsockopt`: the int's low byte.
            (linux::SOL_IP, linux::IP_TOS) => Set::Tos(int(value)? as u8),
            (linux::SOL_IP, linux::IP_TTL) => match int(value)? {
                -1 => Set::Ttl(None),
                v @ 1..=255 => Set::Ttl(Some(v as u8)),
                _ => return Ok(Err(Errno::EINVAL)),
            },
            (linux::SOL_SOCKET, linux::SO_REUSEADDR) => Set::ReuseAddr(int(value)? != 0),
            (linux::SOL_SOCKET, linux::SO_REUSEPORT) => Set::ReusePort(int(value)? != 0),
            (linux::SOL_SOCKET, linux::SO_KEEPALIVE) => {
                Set::Option(SocketOption::KeepAlive(int(value)? != 0))
            }
            (linux::SOL_SOCKET, linux::SO_OOBINLINE) => {
                Set::Option(SocketOption::OobInline(int(value)? != 0))
            }
            // Linux `sk_setsockopt`: below zero is INT_MAX.
            (linux::SOL_SOCKET, linux::SO_RCVLOWAT) => {
                let v = int(value)?;
                let v = if v < 0 { i64::from(i32::MAX) } else { v };
                Set::Option(SocketOption::RecvLowat(
                    u32::try_from(v).unwrap_or(u32::MAX),
                ))
            }
            (linux::SOL_SOCKET, linux::SO_LINGER) => {
                let Some(Expr {
                    kind: ExprKind::Struct(fields),
                    ..
                }) = value
                else {
                    return fail(self.line, "SO_LINGER takes {l_onoff=N, l_linger=N}");
                };
                let mut onoff = 0;
                let mut linger = 0;
                for f in fields {
                    if let ExprKind::Assign { lhs, rhs } = &f.kind {
                        match lhs.as_word() {
                            Some("l_onoff") => onoff = self.int(rhs)?.unwrap_or(0),
                            Some("l_linger") => linger = self.int(rhs)?.unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                let d = (onoff != 0).then(|| Duration::from_secs(linger.max(0) as u64));
                Set::Option(SocketOption::Linger(d))
            }
            (linux::SOL_SOCKET, linux::SO_RCVBUF) => {
                let v = int(value)?.max(0) as usize;
                Set::Option(SocketOption::RecvBuffer(v.max(MIN_BUFFER)))
            }
            (linux::SOL_SOCKET, linux::SO_SNDBUF) => {
                let v = int(value)?.max(0) as usize;
                Set::Option(SocketOption::SendBuffer(v.max(MIN_BUFFER)))
            }
            (linux::SOL_TCP, linux::TCP_NODELAY) => {
                Set::Option(SocketOption::NoDelay(int(value)? != 0))
            }
            (linux::SOL_TCP, linux::TCP_CORK) => Set::Option(SocketOption::Cork(int(value)? != 0)),
            (linux::SOL_TCP, linux::TCP_QUICKACK) => {
                Set::Option(SocketOption::QuickAck(int(value)? != 0))
            }
            // Negative seconds are 0 (off), as Linux's `secs_to_retrans`.
            (linux::SOL_TCP, linux::TCP_DEFER_ACCEPT) => {
                let secs = u32::try_from(int(value)?.max(0)).unwrap_or(u32::MAX);
                Set::Option(SocketOption::DeferAccept(secs))
            }
            // Linux `do_tcp_setsockopt`: below zero no wait, 0 the sysctl,
            // seconds up to TCP_FIN_TIMEOUT_MAX.
            (linux::SOL_TCP, linux::TCP_LINGER2) => {
                let v = int(value)?;
                let l = match v {
                    ..0 => Linger2::Abort,
                    0 => Linger2::Default,
                    _ => Linger2::Timeout(Duration::from_secs(v as u64)),
                };
                Set::Option(SocketOption::Linger2(l.normalized()))
            }
            (linux::SOL_TCP, linux::TCP_KEEPIDLE) => match secs(int(value)?) {
                Ok(d) => Set::Option(SocketOption::KeepIdle(d)),
                Err(e) => return Ok(Err(e)),
            },
            (linux::SOL_TCP, linux::TCP_KEEPINTVL) => match secs(int(value)?) {
                Ok(d) => Set::Option(SocketOption::KeepInterval(d)),
                Err(e) => return Ok(Err(e)),
            },
            (linux::SOL_TCP, linux::TCP_KEEPCNT) => {
                let v = int(value)?;
                if !(1..=MAX_KEEPCNT).contains(&v) {
                    return Ok(Err(Errno::EINVAL));
                }
                Set::Option(SocketOption::KeepCount(v as u8))
            }
            (linux::SOL_TCP, linux::TCP_USER_TIMEOUT) => {
                let v = int(value)?;
                if v < 0 {
                    return Ok(Err(Errno::EINVAL));
                }
                let d = (v > 0).then(|| Duration::from_millis(v as u64));
                Set::Option(SocketOption::UserTimeout(d))
            }
            (linux::SOL_TCP, linux::TCP_MAXSEG) => {
                let v = int(value)?;
                if v != 0 && !(MIN_MAXSEG..=MAX_MAXSEG).contains(&v) {
                    return Ok(Err(Errno::EINVAL));
                }
                if v == 0 {
                    // Linux: 0 forgets the clamp.
                    Set::ClearMaxSeg
                } else {
                    Set::Option(SocketOption::MaxSegment(v as u16))
                }
            }
            (linux::SOL_TCP, linux::TCP_SYNCNT) => {
                let v = int(value)?;
                if !(1..=MAX_SYNCNT).contains(&v) {
                    return Ok(Err(Errno::EINVAL));
                }
                Set::Option(SocketOption::SynCount(v as u8))
            }
            (linux::SOL_TCP, linux::TCP_FASTOPEN) => {
                let v = int(value)?;
                if v < 0 {
                    return Ok(Err(Errno::EINVAL));
                }
                Set::FastOpen(v as u32)
            }
            (linux::SOL_TCP, linux::TCP_FASTOPEN_CONNECT) => Set::FastOpenConnect(int(value)? != 0),
            // Linux: any int, kept as the u32 it is (-1 is 4294967295).
            (linux::SOL_TCP, linux::TCP_NOTSENT_LOWAT) => Set::NotSentLowat(int(value)? as u32),
            // Linux: `max(SOCK_MIN_RCVBUF / 2, val)` of an int, 0 clearing.
            (linux::SOL_TCP, linux::TCP_WINDOW_CLAMP) => match int(value)? {
                0 => Set::WindowClamp(0),
                v => Set::WindowClamp(
                    u32::try_from(v.max(i64::from(MIN_WINDOW_CLAMP))).unwrap_or(u32::MAX),
                ),
            },
            (linux::SOL_TCP, linux::TCP_INFO) => return Ok(Err(Errno::ENOPROTOOPT)),
            _ => return unsupported(),
        }))
    }

    pub(super) fn sys_getsockopt(&mut self, s: &Syscall) -> Step<super::syscalls::SysOutcome> {
        let fd = self.int_arg(s, 0)?;
        let level = self.int_arg(s, 1)?;
        let name = self.int_arg(s, 2)?;
        let Some(sock) = self.fds.get_mut(&fd) else {
            return Ok(super::syscalls::SysOutcome::done(Ret::Error(Errno::EBADF)));
        };
        let conn = match sock.role {
            Role::Conn(h) => Some(h),
            _ => None,
        };
        let config = self.net.stack.config();
        let info = conn.and_then(|h| self.net.stack.tcp_info(h));
        let live = conn.and_then(|h| self.net.stack.tcp_connection(h));
        let opts = live.map_or(sock.options, |c| c.socket_options());
        let secs = |d: Option<Duration>, default: Duration| {
            (d.unwrap_or(default).total_millis() / 1000) as i64
        };
        let stack = &self.net.stack;
        let value: i64 = match (level, name) {
            (linux::SOL_IP, linux::IP_TOS) => i64::from(match sock.role {
                Role::Conn(h) => stack.tcp_tos(h).unwrap_or(sock.ip.tos),
                Role::Listener(l) => stack.tcp_listener_tos(l).unwrap_or(sock.ip.tos),
                Role::Fresh => sock.ip.tos,
            }),
            (linux::SOL_IP, linux::IP_TTL) => i64::from(
                match sock.role {
                    Role::Conn(h) => stack.tcp_ttl(h),
                    Role::Listener(l) => stack.tcp_listener_ttl(l),
                    Role::Fresh => None,
                }
                .unwrap_or(config.ttl(sock.ip.ttl)),
            ),
            (linux::SOL_SOCKET, linux::SO_ERROR) => sock.error.take().map_or(0, |e| e.0),
            (linux::SOL_SOCKET, linux::SO_REUSEADDR) => i64::from(sock.reuseaddr),
            (linux::SOL_SOCKET, linux::SO_REUSEPORT) => i64::from(sock.reuseport),
            (linux::SOL_SOCKET, linux::SO_KEEPALIVE) => i64::from(opts.keepalive),
            (linux::SOL_SOCKET, linux::SO_OOBINLINE) => i64::from(opts.oob_inline),
            (linux::SOL_SOCKET, linux::SO_RCVLOWAT) => i64::from(opts.recv_lowat.max(1)),
            // Linux reports the doubled buffer size it keeps.
            (linux::SOL_SOCKET, linux::SO_RCVBUF) => {
                opts.recv_buffer.map_or(config.tcp_rmem.default, |v| 2 * v) as i64
            }
            (linux::SOL_SOCKET, linux::SO_SNDBUF) => {
                opts.send_buffer.map_or(config.tcp_wmem.default, |v| 2 * v) as i64
            }
            (linux::SOL_TCP, linux::TCP_NODELAY) => i64::from(opts.nodelay),
            (linux::SOL_TCP, linux::TCP_CORK) => i64::from(opts.cork),
            // Not in ping-pong mode (a socket not yet connected is not).
            (linux::SOL_TCP, linux::TCP_QUICKACK) => i64::from(live.is_none_or(|c| c.quick_ack())),
            (linux::SOL_TCP, linux::TCP_DEFER_ACCEPT) => {
                i64::from(defer_accept_secs(opts.defer_accept))
            }
            (linux::SOL_TCP, linux::TCP_LINGER2) => match opts.linger2 {
                Linger2::Default => secs(None, config.tcp_fin_timeout),
                Linger2::Timeout(d) => secs(Some(d), config.tcp_fin_timeout),
                Linger2::Abort => -1,
            },
            (linux::SOL_TCP, linux::TCP_KEEPIDLE) => {
                secs(opts.keep_idle, config.tcp_keepalive_time)
            }
            (linux::SOL_TCP, linux::TCP_KEEPINTVL) => {
                secs(opts.keep_interval, config.tcp_keepalive_intvl)
            }
            (linux::SOL_TCP, linux::TCP_KEEPCNT) => {
                i64::from(opts.keep_count.unwrap_or(config.tcp_keepalive_probes))
            }
            (linux::SOL_TCP, linux::TCP_USER_TIMEOUT) => {
                opts.user_timeout.map_or(0, |d| d.total_millis() as i64)
            }
            (linux::SOL_TCP, linux::TCP_SYNCNT) => match opts.syn_retries {
                0 => i64::from(config.tcp_syn_retries),
                n => i64::from(n),
            },
            (linux::SOL_TCP, linux::TCP_MAXSEG) => match (&info, opts.max_segment) {
                (Some(i), _) => i64::from(i.snd_mss),
                (None, m @ 1..) => i64::from(m),
                // tcp_init_sock: mss_cache starts at TCP_MSS_DEFAULT.
                (None, 0) => 536,
            },
            // tcp_info is read with %{ }% blocks; packetdrill compares no
            // struct value here, so the call only has to succeed.
            (linux::SOL_TCP, linux::TCP_INFO) => {
                return Ok(super::syscalls::SysOutcome::done(Ret::Value(0)));
            }
            (linux::SOL_TCP, linux::TCP_CONGESTION) => {
                let name = info
                    .as_ref()
                    .map_or(config.tcp_congestion_control.name(), |i| i.congestion);
                if let Some(Expr {
                    kind: ExprKind::Str { parts, .. },
                    ..
                }) = s.args.get(3)
                {
                    let want = parts.concat();
                    if want != name {
                        return fail(
                            self.line,
                            format!("Bad getsockopt optval: expected: '{want}' actual: '{name}'"),
                        );
                    }
                }
                return Ok(super::syscalls::SysOutcome::done(Ret::Value(0)));
            }
            (linux::SOL_TCP, linux::TCP_FASTOPEN) => i64::from(sock.fastopen_qlen.unwrap_or(0)),
            (linux::SOL_TCP, linux::TCP_FASTOPEN_CONNECT) => i64::from(sock.fastopen_connect),
            // As set, or a connection's receive buffer limit (`window_clamp`).
            (linux::SOL_TCP, linux::TCP_WINDOW_CLAMP) => i64::from(match sock.role {
                Role::Listener(l) => stack.tcp_listener_window_clamp(l).unwrap_or(0),
                _ => live.map_or(sock.window_clamp, |c| c.window_clamp()),
            }),
            // The socket's own (0 unset), as Linux reads `tp->notsent_lowat`;
            // an int, so a mark above i32::MAX reads negative.
            (linux::SOL_TCP, linux::TCP_NOTSENT_LOWAT) => {
                i64::from(live.map_or(sock.notsent_lowat, |c| c.notsent_lowat()) as i32)
            }
            _ => {
                return skip(format!(
                    "getsockopt {}: not supported by the runner",
                    linux::option_name(level, name)
                ));
            }
        };
        if let Some(expected) = s.args.get(3)
            && let Some(want) = self.int(expected)?
            && want != value
        {
            return fail(
                self.line,
                format!(
                    "Bad getsockopt {} optval: expected: {want} actual: {value}",
                    linux::option_name(level, name)
                ),
            );
        }
        Ok(super::syscalls::SysOutcome::done(Ret::Value(0)))
    }
}

impl Runner<'_> {
    /// `ioctl(fd, REQUEST, [value])`: the value compared with the script's,
    /// as `getsockopt`'s (Linux `tcp_ioctl`: EINVAL on a listener).
    pub(super) fn sys_ioctl(&mut self, s: &Syscall) -> Step<super::syscalls::SysOutcome> {
        let fd = self.int_arg(s, 0)?;
        let request = self.int_arg(s, 1)?;
        let done = super::syscalls::SysOutcome::done;
        let Some(sock) = self.fds.get(&fd) else {
            return Ok(done(Ret::Error(Errno::EBADF)));
        };
        let conn = match sock.role {
            Role::Conn(h) => Some(h),
            Role::Listener(_) => return Ok(done(Ret::Error(Errno::EINVAL))),
            Role::Fresh => None,
        };
        let stack = &self.net.stack;
        let value = match request {
            linux::SIOCINQ => conn.and_then(|h| stack.tcp_recv_queue(h)).unwrap_or(0) as i64,
            linux::SIOCOUTQ => conn
                .and_then(|h| stack.tcp_connection(h))
                .map_or(0, |c| c.send_queue()) as i64,
            linux::SIOCATMARK => {
                i64::from(conn.and_then(|h| stack.tcp_at_mark(h)).unwrap_or(false))
            }
            _ => {
                return skip(format!(
                    "ioctl request {request:#x}: not supported by the runner"
                ));
            }
        };
        if let Some(expected) = s.args.get(2)
            && let Some(want) = self.int(expected)?
            && want != value
        {
            return fail(
                self.line,
                format!("Bad ioctl {request:#x} value: expected: {want} actual: {value}"),
            );
        }
        Ok(done(Ret::Value(0)))
    }
}

/// Records an option for a connection that does not exist yet.
fn store(o: &mut SocketOptions, opt: SocketOption) {
    match opt {
        SocketOption::NoDelay(v) => o.nodelay = v,
        SocketOption::Cork(v) => o.cork = v,
        SocketOption::KeepAlive(v) => o.keepalive = v,
        SocketOption::KeepIdle(v) => o.keep_idle = Some(v),
        SocketOption::KeepInterval(v) => o.keep_interval = Some(v),
        SocketOption::KeepCount(v) => o.keep_count = Some(v),
        SocketOption::UserTimeout(v) => o.user_timeout = v,
        SocketOption::Linger(v) => o.linger = v,
        SocketOption::RecvBuffer(v) => o.recv_buffer = Some(v),
        SocketOption::SendBuffer(v) => o.send_buffer = Some(v),
        SocketOption::SynCount(v) => o.syn_retries = v,
        SocketOption::MaxSegment(v) => o.max_segment = v,
        SocketOption::Congestion(v) => o.congestion = Some(v),
        SocketOption::OobInline(v) => o.oob_inline = v,
        SocketOption::Linger2(v) => o.linger2 = v,
        SocketOption::DeferAccept(secs) => o.defer_accept = defer_accept_retransmits(secs),
        SocketOption::RecvLowat(v) => o.recv_lowat = v.max(1),
        // Kept beside the options (`Socket::notsent_lowat`, `window_clamp`).
        SocketOption::NotSentLowat(_) | SocketOption::WindowClamp(_) => {}
        // Ping-pong mode is the connection's state: a socket not yet
        // connected starts out of it whatever is asked (Linux's new
        // socket has no ACK scheduled to act on either).
        SocketOption::QuickAck(_) => {}
    }
}
