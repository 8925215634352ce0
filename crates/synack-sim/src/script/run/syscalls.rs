//! System calls onto the Stack, with Linux's return values and errno.
//!
//! Each call either finishes at once or would block. A call written with
//! `...END` (packetdrill's blocking call) then waits in the background while
//! later events run, and must return at END; a call written without it, on
//! a blocking socket, holds the script up until it returns, as it would
//! hold up packetdrill's main thread.
//!
//! Return values follow packetdrill's checks (run_system_call.c
//! `end_syscall`): `socket` and `accept` only need a non-negative result
//! when the script expects one (the script's number becomes the name of the
//! new descriptor); everything else must match exactly, and the errno when
//! the script gives one.

use core::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::Instant;
use synack_proto::stack::{
    AcceptError, ConnHandle, ConnectError, ConnectOptions, Event, ListenError, ListenOptions,
};
use synack_proto::tcp::conn::{
    CloseReason, RecvFlags, SendFlags, Shutdown, ShutdownError, SocketOption,
};
use synack_proto::tcp::fastopen;
use synack_proto::tcp::state::TcpState;

use super::frames::RawFlags;
use super::linux::{self, Errno};
use super::runner::{IDLE_WAIT, MAX_BLOCK, Runner, Step, Stop, fail, skip};
use super::sockets::{Conn, ConnState, Role, Socket};
use super::transfer::ReadWait;
use crate::script::ast::{Expr, ExprKind, Syscall};
use crate::script::timing::{self, ResolvedTime};

/// What a call returned: a value, or -1 with an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Value(i64),
    Error(Errno),
}

impl Ret {
    fn value(self) -> i64 {
        match self {
            Ret::Value(v) => v,
            Ret::Error(_) => -1,
        }
    }

    fn errno(self) -> Option<Errno> {
        match self {
            Ret::Value(_) => None,
            Ret::Error(e) => Some(e),
        }
    }
}

/// A call that has to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Accept {
        fd: i64,
    },
    Connect {
        fd: i64,
    },
    Read {
        fd: i64,
        len: usize,
        /// MSG_PEEK and MSG_OOB.
        flags: RecvFlags,
        /// What the read waits for.
        wait: ReadWait,
        /// With [`ReadWait::Whole`], what it has read so far.
        got: usize,
    },
    Write {
        fd: i64,
        total: usize,
        done: usize,
        /// MSG_MORE and MSG_EOR.
        flags: SendFlags,
    },
    Poll {
        fds: Vec<PollFd>,
        deadline: Option<Instant>,
    },
}

impl Op {
    /// A read of up to `len` bytes, nothing read yet.
    fn read(fd: i64, len: usize, flags: RecvFlags, wait: ReadWait) -> Op {
        Op::Read {
            fd,
            len,
            flags,
            wait,
            got: 0,
        }
    }
}

/// One `{fd=N, events=E, revents=R}` of poll(2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollFd {
    pub fd: i64,
    pub events: i64,
    pub revents: Option<i64>,
}

/// A call in progress.
#[derive(Debug)]
pub struct Pending<'s> {
    pub line: u32,
    pub syscall: &'s Syscall,
    pub resolved: ResolvedTime,
    /// Written with `...END`: the runner goes on with later events, and the
    /// return time is checked. Otherwise it holds the script up.
    pub background: bool,
    pub op: Op,
}

impl Pending<'_> {
    /// When the call returns by itself (a poll timeout).
    pub fn deadline(&self) -> Option<Instant> {
        match &self.op {
            Op::Poll { deadline, .. } => *deadline,
            _ => None,
        }
    }
}

/// A call's first answer.
#[derive(Debug)]
pub enum SysOutcome {
    Done(Ret),
    Blocked(Op),
}

impl SysOutcome {
    pub fn done(ret: Ret) -> SysOutcome {
        SysOutcome::Done(ret)
    }
}

use SysOutcome::{Blocked, Done};

pub(super) fn err(e: Errno) -> Step<SysOutcome> {
    Ok(Done(Ret::Error(e)))
}

pub(super) fn ok(v: i64) -> Step<SysOutcome> {
    Ok(Done(Ret::Value(v)))
}

impl<'s> Runner<'s> {
    // ---- the event ------------------------------------------------------------

    /// A system call line.
    pub fn syscall_event(&mut self, s: &'s Syscall, resolved: &ResolvedTime) -> Step<()> {
        if self.pending.is_some() {
            // run_system_call.c `await_idle_thread`: at most a second.
            let until = self.net.now + IDLE_WAIT;
            self.run_while_pending(until)?;
            if self.pending.is_some() && s.is_blocking() {
                return fail(
                    self.line,
                    "blocking system call while another blocking system call is already in progress",
                );
            }
        }
        self.wait_until(resolved)?;
        let outcome = self.call(s)?;
        self.log(|| format!("call    {}(...)", s.name.value));
        match outcome {
            Done(ret) => {
                self.check_return(s, self.line, ret)?;
                if s.is_blocking() {
                    self.check_return_time(s, resolved, self.line)?;
                }
                self.settle()
            }
            Blocked(op) => {
                self.pending = Some(Pending {
                    line: self.line,
                    syscall: s,
                    resolved: *resolved,
                    background: s.is_blocking(),
                    op,
                });
                if s.is_blocking() {
                    return self.settle();
                }
                // Holds the script up until it returns.
                let limit = self.net.now + MAX_BLOCK;
                self.run_while_pending(limit)?;
                if self.pending.is_some() {
                    return fail(
                        self.line,
                        format!(
                            "{}() blocked and never returned (a blocking socket; write it \
                             with ...END if it is meant to block)",
                            s.name.value
                        ),
                    );
                }
                Ok(())
            }
        }
    }

    /// Runs the clock while a call is in progress, up to `limit`.
    fn run_while_pending(&mut self, limit: Instant) -> Step<()> {
        self.settle()?;
        while self.pending.is_some() {
            if self.step_to_next_event(limit)? {
                self.settle()?;
            } else {
                if self.pending.as_ref().is_some_and(|p| p.background) {
                    self.net.set_clock(limit);
                    self.settle()?;
                }
                break;
            }
        }
        Ok(())
    }

    /// Tries the call in progress again; `true` if it returned.
    pub fn poll_pending(&mut self) -> Step<bool> {
        let Some(mut p) = self.pending.take() else {
            return Ok(false);
        };
        let saved_line = self.line;
        self.line = p.line;
        let result = self.attempt(&mut p.op, p.syscall);
        let result = match result {
            Ok(Some(ret)) => {
                self.log(|| format!("return  {}() = {}", p.syscall.name.value, ret.value()));
                let mut r = self.check_return(p.syscall, p.line, ret);
                if r.is_ok() && p.background {
                    r = self.check_return_time(p.syscall, &p.resolved, p.line);
                }
                r.map(|()| true)
            }
            Ok(None) => {
                self.pending = Some(p);
                Ok(false)
            }
            Err(e) => Err(e),
        };
        self.line = saved_line;
        result
    }

    fn check_return_time(&self, s: &Syscall, resolved: &ResolvedTime, line: u32) -> Step<()> {
        timing::check_blocking_return(&self.timing, resolved, self.net.now)
            .or_else(|e| fail(line, format!("timing error: {}() return {e}", s.name.value)))
    }

    /// packetdrill's `end_syscall` checks.
    fn check_return(&mut self, s: &Syscall, line: u32, ret: Ret) -> Step<()> {
        let expected = self.int(&s.result)?.unwrap_or(0);
        let actual = ret.value();
        let fd_mode = matches!(s.name.value.as_str(), "socket" | "accept");
        let describe = |ret: Ret| match ret.errno() {
            Some(e) => format!("{} with errno {} ({})", ret.value(), e.0, e.text()),
            None => ret.value().to_string(),
        };
        let name = &s.name.value;
        if fd_mode && expected >= 0 {
            if actual < 0 {
                return fail(
                    line,
                    format!(
                        "runtime error in {name} call: Expected non-negative result but got {}",
                        describe(ret)
                    ),
                );
            }
        } else if actual != expected {
            return fail(
                line,
                format!(
                    "runtime error in {name} call: Expected result {expected} but got {}",
                    describe(ret)
                ),
            );
        }
        if let Some(errno_name) = &s.errno {
            let Some(want) = Errno::from_name(&errno_name.value) else {
                return fail(line, format!("unknown errno {}", errno_name.value));
            };
            let got = ret.errno().unwrap_or(Errno(0));
            if got != want {
                return fail(
                    line,
                    format!(
                        "runtime error in {name} call: Expected errno {} ({}) but got {} ({})",
                        want.0,
                        want.text(),
                        got.0,
                        if got.0 == 0 { "Success" } else { got.text() }
                    ),
                );
            }
        }
        Ok(())
    }

    // ---- arguments --------------------------------------------------------------

    pub(super) fn arg<'e>(&self, s: &'e Syscall, i: usize) -> Step<&'e Expr> {
        s.args.get(i).ok_or_else(|| Stop::Fail {
            line: self.line,
            message: format!("{}: missing argument {}", s.name.value, i + 1),
        })
    }

    /// An integer argument: `N`, `NAME`, `A|B`, `htons(N)`, `[N]`; `None`
    /// for `...`.
    pub fn int(&self, e: &Expr) -> Step<Option<i64>> {
        Ok(Some(match &e.kind {
            ExprKind::Ellipsis => return Ok(None),
            ExprKind::Int(i) => i.value,
            ExprKind::Word(w) => linux::constant(w).ok_or_else(|| Stop::Fail {
                line: self.line,
                message: format!("unknown symbol `{w}`"),
            })?,
            ExprKind::BitOr(items) => {
                let mut v = 0;
                for item in items {
                    v |= self.int(item)?.unwrap_or(0);
                }
                v
            }
            ExprKind::Call { name, args } if name == "htons" && args.len() == 1 => {
                return self.int(&args[0]);
            }
            ExprKind::Array(items) if items.len() == 1 => return self.int(&items[0]),
            _ => return fail(self.line, format!("expected an integer, found `{e}`")),
        }))
    }

    pub(super) fn int_arg(&self, s: &Syscall, i: usize) -> Step<i64> {
        let e = self.arg(s, i)?;
        self.int(e)?.ok_or_else(|| Stop::Fail {
            line: self.line,
            message: format!("{}: argument {} may not be `...`", s.name.value, i + 1),
        })
    }

    /// A `{sa_family=AF_INET, sin_port=htons(P), sin_addr=inet_addr("A")}`
    /// or `...` (then `default`).
    fn sockaddr_arg(&self, e: &Expr, default: SocketAddrV4) -> Step<Option<SocketAddrV4>> {
        match &e.kind {
            ExprKind::Ellipsis => Ok(Some(default)),
            ExprKind::Struct(fields) => {
                let mut port = default.port();
                let mut addr = *default.ip();
                for f in fields {
                    let ExprKind::Assign { lhs, rhs } = &f.kind else {
                        continue;
                    };
                    match lhs.as_word() {
                        Some("sa_family" | "sin_family") if self.int(rhs)? == Some(0) => {
                            return Ok(None);
                        }
                        Some("sin_port") => port = self.int(rhs)?.unwrap_or(0) as u16,
                        Some("sin_addr") => {
                            if let ExprKind::Call { name, args } = &rhs.kind
                                && let (true, Some(ExprKind::Str { parts, .. })) =
                                    (name == "inet_addr", args.first().map(|a| &a.kind))
                            {
                                addr = parts.concat().parse().map_err(|_| Stop::Fail {
                                    line: self.line,
                                    message: format!("bad address in `{rhs}`"),
                                })?;
                            }
                        }
                        _ => {}
                    }
                }
                Ok(Some(SocketAddrV4::new(addr, port)))
            }
            _ => skip(format!(
                "socket address `{e}`: the runner reads only `...` and sockaddr_in structs"
            )),
        }
    }

    /// Total bytes of an iovec array `[{..., 10}, {..., 20}]`.
    fn iov_len(&self, e: &Expr) -> Step<usize> {
        let ExprKind::Array(items) = &e.kind else {
            return fail(self.line, format!("expected an iovec array, found `{e}`"));
        };
        let mut total = 0;
        for item in items {
            let ExprKind::Struct(fields) = &item.kind else {
                return fail(self.line, format!("expected an iovec, found `{item}`"));
            };
            let len = fields
                .iter()
                .rev()
                .find_map(|f| match &f.kind {
                    ExprKind::Assign { lhs, rhs } if lhs.as_word() == Some("iov_len") => {
                        Some(&**rhs)
                    }
                    ExprKind::Int(_) => Some(f),
                    _ => None,
                })
                .map(|e| self.int(e))
                .transpose()?
                .flatten()
                .unwrap_or(0);
            total += len.max(0) as usize;
        }
        Ok(total)
    }

    // ---- dispatch -----------------------------------------------------------

    fn call(&mut self, s: &Syscall) -> Step<SysOutcome> {
        match s.name.value.as_str() {
            "socket" => self.sys_socket(s),
            "bind" => self.sys_bind(s),
            "listen" => self.sys_listen(s),
            "accept" | "accept4" => {
                let fd = self.int_arg(s, 0)?;
                self.start(s, fd, Op::Accept { fd }, 0)
            }
            "connect" => self.sys_connect(s),
            "read" => {
                let fd = self.int_arg(s, 0)?;
                let len = self.int_arg(s, 2)?.max(0) as usize;
                let op = Op::read(fd, len, RecvFlags::default(), ReadWait::Mark);
                self.start(s, fd, op, 0)
            }
            "readv" => {
                let fd = self.int_arg(s, 0)?;
                let len = self.iov_len(self.arg(s, 1)?)?;
                let op = Op::read(fd, len, RecvFlags::default(), ReadWait::Mark);
                self.start(s, fd, op, 0)
            }
            "recv" | "recvfrom" => {
                let fd = self.int_arg(s, 0)?;
                let len = self.int_arg(s, 2)?.max(0) as usize;
                let flags = self.int_arg(s, 3)?;
                let recv = self.recv_flags(flags)?;
                // recv(MSG_OOB) never waits (Linux `tcp_recv_urg`).
                let flags = if recv.oob {
                    flags | linux::MSG_DONTWAIT
                } else {
                    flags
                };
                // MSG_WAITALL waits for the whole length, on a blocking
                // socket only (Linux `sock_rcvlowat`'s target); MSG_DONTWAIT
                // takes what there is, below SO_RCVLOWAT too.
                let blocking = self.fds.get(&fd).is_some_and(|s| !s.nonblocking);
                let wait = if flags & linux::MSG_DONTWAIT != 0 {
                    ReadWait::Now
                } else if flags & linux::MSG_WAITALL != 0 && blocking && !recv.oob {
                    ReadWait::Whole
                } else {
                    ReadWait::Mark
                };
                self.start(s, fd, Op::read(fd, len, recv, wait), flags)
            }
            "write" => {
                let fd = self.int_arg(s, 0)?;
                let len = self.int_arg(s, 2)?.max(0) as usize;
                self.sys_write(s, fd, len, 0)
            }
            "writev" => {
                let fd = self.int_arg(s, 0)?;
                let len = self.iov_len(self.arg(s, 1)?)?;
                self.sys_write(s, fd, len, 0)
            }
            "send" => {
                let fd = self.int_arg(s, 0)?;
                let len = self.int_arg(s, 2)?.max(0) as usize;
                let flags = self.int_arg(s, 3)?;
                self.sys_write(s, fd, len, flags)
            }
            "sendto" => {
                let fd = self.int_arg(s, 0)?;
                let len = self.int_arg(s, 2)?.max(0) as usize;
                let flags = self.int_arg(s, 3)?;
                let fresh = self.fds.get(&fd).is_some_and(|s| s.role == Role::Fresh);
                if flags & linux::MSG_FASTOPEN != 0 && fresh {
                    return self.sys_sendto_fastopen(s, fd, len, flags);
                }
                // On a connected socket MSG_FASTOPEN changes nothing.
                self.sys_write(s, fd, len, flags & !linux::MSG_FASTOPEN)
            }
            "close" => self.sys_close(s),
            "shutdown" => self.sys_shutdown(s),
            "fcntl" => self.sys_fcntl(s),
            "setsockopt" => self.sys_setsockopt(s),
            "getsockopt" => self.sys_getsockopt(s),
            "ioctl" => self.sys_ioctl(s),
            "poll" => self.sys_poll(s),
            other => skip(format!(
                "system call {other}(): not supported by the runner"
            )),
        }
    }

    fn recv_flags(&self, flags: i64) -> Step<RecvFlags> {
        Ok(RecvFlags {
            peek: flags & linux::MSG_PEEK != 0,
            oob: flags & linux::MSG_OOB != 0,
        })
    }

    pub(super) fn socket_mut(&mut self, fd: i64) -> Option<&mut Socket> {
        self.fds.get_mut(&fd)
    }

    /// Runs `op` now; if it would block, a non-blocking socket (or
    /// MSG_DONTWAIT) says EAGAIN and a blocking one waits.
    fn start(&mut self, s: &Syscall, fd: i64, mut op: Op, flags: i64) -> Step<SysOutcome> {
        if !self.fds.contains_key(&fd) {
            return err(Errno::EBADF);
        }
        match self.attempt(&mut op, s)? {
            Some(ret) => Ok(Done(ret)),
            None => {
                let nonblocking = self.fds[&fd].nonblocking || flags & linux::MSG_DONTWAIT != 0;
                if nonblocking {
                    err(Errno::EAGAIN)
                } else {
                    Ok(Blocked(op))
                }
            }
        }
    }

    /// One try at a call that may block: `Some` when it returns.
    pub(super) fn attempt(&mut self, op: &mut Op, s: &Syscall) -> Step<Option<Ret>> {
        match op {
            Op::Accept { fd } => self.try_accept(*fd, s),
            Op::Connect { fd } => Ok(self.try_connect(*fd)),
            Op::Read {
                fd,
                len,
                flags,
                wait: ReadWait::Whole,
                ..
            } if flags.peek => Ok(self.try_peek_all(*fd, *len)),
            Op::Read {
                fd,
                len,
                wait: ReadWait::Whole,
                got,
                ..
            } => Ok(self.try_read_all(*fd, *len, got)),
            Op::Read {
                fd,
                len,
                flags,
                wait,
                ..
            } => Ok(self.try_read(*fd, *len, *flags, *wait == ReadWait::Mark)),
            Op::Write {
                fd,
                total,
                done,
                flags,
            } => Ok(self.try_write(*fd, *total, done, *flags)),
            Op::Poll { fds, deadline } => {
                let fds = fds.clone();
                let deadline = *deadline;
                self.try_poll(&fds, deadline)
            }
        }
    }

    // ---- sockets ----------------------------------------------------------------

    fn sys_socket(&mut self, s: &Syscall) -> Step<SysOutcome> {
        let domain = self.int(self.arg(s, 0)?)?.unwrap_or(2);
        let ty = self.int_arg(s, 1)?;
        let protocol = self.int(self.arg(s, 2)?)?.unwrap_or(0);
        if domain == 10 {
            return skip("AF_INET6 sockets: synack has no IPv6");
        }
        if domain != 2 {
            return err(Errno::EAFNOSUPPORT);
        }
        let nonblocking = ty & linux::O_NONBLOCK != 0;
        match (ty & 0xf, protocol) {
            (1, 0 | 6) => {}
            (2, 0 | 17) => {
                return skip("UDP sockets: synack's Stack has no UDP socket API yet");
            }
            (1 | 2, _) => return err(Errno::EPROTONOSUPPORT),
            _ => return err(Errno::ESOCKTNOSUPPORT),
        }
        let want = self.int(&s.result)?.unwrap_or(-1);
        if want < 0 {
            // Succeeds on Linux; the check will say so.
            return ok(self.lowest_free_fd());
        }
        if self.fds.contains_key(&want) {
            return fail(self.line, format!("duplicate script fd {want}"));
        }
        let mut sock = Socket {
            nonblocking,
            ..Socket::default()
        };
        self.conns.push(Conn::new(
            ConnState::New,
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
        ));
        let index = self.conns.len() - 1;
        sock.conn = Some(index);
        self.sut = Some(index);
        self.fds.insert(want, sock);
        ok(want)
    }

    /// The descriptor Linux would hand out next (for messages).
    fn lowest_free_fd(&self) -> i64 {
        (3..).find(|n| !self.fds.contains_key(n)).unwrap_or(3)
    }

    fn sys_bind(&mut self, s: &Syscall) -> Step<SysOutcome> {
        let fd = self.int_arg(s, 0)?;
        let default = SocketAddrV4::new(self.local_ip, self.bind_port);
        let Some(addr) = self.sockaddr_arg(self.arg(s, 1)?, default)? else {
            return err(Errno::EAFNOSUPPORT);
        };
        let Some(sock) = self.fds.get(&fd) else {
            return err(Errno::EBADF);
        };
        if sock.bound.is_some() || sock.role != Role::Fresh {
            return err(Errno::EINVAL);
        }
        if !addr.ip().is_unspecified() && *addr.ip() != self.local_ip {
            return err(Errno::EADDRNOTAVAIL);
        }
        if addr.port() != 0 && self.port_in_use(fd, addr.port(), sock.reuseaddr, sock.reuseport) {
            return err(Errno::EADDRINUSE);
        }
        if let Some(sock) = self.socket_mut(fd) {
            sock.bound = Some(addr);
        }
        ok(0)
    }

    /// Linux's bind conflict (inet_csk_bind_conflict, simplified): another
    /// socket on the port conflicts unless both set SO_REUSEPORT, or both
    /// set SO_REUSEADDR and it is not listening.
    fn port_in_use(&self, fd: i64, port: u16, reuse: bool, reuseport: bool) -> bool {
        let shares = |s: &Socket| reuseport && s.reuseport;
        let listening = self.fds.iter().any(|(n, s)| {
            *n != fd
                && matches!(s.role, Role::Listener(_))
                && s.bound.is_some_and(|b| b.port() == port)
                && !shares(s)
        });
        if listening {
            return true;
        }
        let other_socket = self.fds.iter().any(|(n, s)| {
            *n != fd
                && s.bound.is_some_and(|b| b.port() == port)
                && !(reuse && s.reuseaddr)
                && !shares(s)
        });
        let connections = self
            .net
            .stack
            .sockets()
            .any(|s| s.remote.is_some() && s.local.port() == port);
        other_socket || (connections && !reuse)
    }

    fn sys_listen(&mut self, s: &Syscall) -> Step<SysOutcome> {
        let fd = self.int_arg(s, 0)?;
        let backlog = self.int_arg(s, 1)?;
        let Some(sock) = self.fds.get(&fd) else {
            return err(Errno::EBADF);
        };
        match sock.role {
            Role::Listener(_) => return ok(0),
            Role::Conn(_) => return err(Errno::EINVAL),
            Role::Fresh => {}
        }
        let local = sock
            .bound
            .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, self.bind_port));
        // listen(2) takes an int; Linux treats negative as the maximum.
        let backlog = usize::try_from(backlog).unwrap_or(usize::MAX);
        let opts = ListenOptions {
            backlog,
            reuse_addr: sock.reuseaddr,
            reuse_port: sock.reuseport,
            fastopen_qlen: sock.fastopen_qlen.unwrap_or(0) as usize,
        };
        let (inherited, ip) = (sock.options, sock.ip);
        let (notsent_lowat, window_clamp) = (sock.notsent_lowat, sock.window_clamp);
        match self.net.stack.tcp_listen_with(local, opts) {
            Ok(h) => {
                // Children inherit what was set on the socket before listen.
                let _ = self.net.stack.tcp_listener_set_options(h, inherited);
                let _ = self.net.stack.tcp_listener_set_tos(h, ip.tos);
                let stack = &mut self.net.stack;
                let _ = stack.tcp_listener_set_notsent_lowat(h, notsent_lowat);
                let _ = stack.tcp_listener_set_window_clamp(h, window_clamp);
                if ip.ttl != 0 {
                    let _ = self.net.stack.tcp_listener_set_ttl(h, ip.ttl);
                }
                let conn = sock.conn;
                if let Some(sock) = self.socket_mut(fd) {
                    sock.role = Role::Listener(h);
                    sock.bound = Some(local);
                }
                if let Some(c) = conn {
                    self.conns[c].state = ConnState::Listening;
                    self.conns[c].live_local = local;
                }
                ok(0)
            }
            Err(ListenError::AddrInUse) => err(Errno::EADDRINUSE),
            Err(ListenError::AddrNotAvailable) => err(Errno::EADDRNOTAVAIL),
            Err(ListenError::InvalidPort | ListenError::InvalidHandle) => err(Errno::EINVAL),
        }
    }

    fn try_accept(&mut self, fd: i64, s: &Syscall) -> Step<Option<Ret>> {
        let Some(sock) = self.fds.get(&fd) else {
            return Ok(Some(Ret::Error(Errno::EBADF)));
        };
        let Role::Listener(l) = sock.role else {
            return Ok(Some(Ret::Error(Errno::EINVAL)));
        };
        let inherited = sock.options;
        let reuseaddr = sock.reuseaddr;
        let h = match self.net.stack.tcp_accept(l) {
            Ok(h) => h,
            Err(AcceptError::WouldBlock) => return Ok(None),
            Err(AcceptError::InvalidHandle) => return Ok(Some(Ret::Error(Errno::EINVAL))),
        };
        let want = self.int(&s.result)?.unwrap_or(-1);
        let want = if want < 0 {
            self.lowest_free_fd()
        } else {
            want
        };
        let mut child = Socket {
            role: Role::Conn(h),
            connected: true,
            reuseaddr,
            options: inherited,
            ..Socket::default()
        };
        // Options set on the listener apply to the connections it accepts.
        self.apply_inherited(h, &inherited);
        // The script's view of this connection: the child whose remote is it.
        let remote = self.net.stack.tcp_addrs(h).map(|(_, r)| r);
        let conn = self.conns.iter().position(|c| {
            Some(c.live_remote) == remote
                && matches!(
                    c.state,
                    ConnState::PassiveSynAckSent | ConnState::PassiveSynAckAcked
                )
                && c.handle.is_none()
        });
        let conn = conn.or_else(|| {
            self.conns
                .iter()
                .position(|c| Some(c.live_remote) == remote && c.handle.is_none())
        });
        if let Some(c) = conn {
            self.conns[c].handle = Some(h);
        }
        child.conn = conn;
        if let Some(state) = Some(self.net.stack.tcp_state(h)) {
            child.peer_fin = matches!(
                state,
                TcpState::CloseWait | TcpState::LastAck | TcpState::Closing | TcpState::TimeWait
            );
        }
        // packetdrill lets accept() reuse a script fd that is still open
        // (the old socket stays alive, unnamed).
        if let Some(old) = self.fds.insert(want, child) {
            self.unnamed.push(old);
        }
        Ok(Some(Ret::Value(want)))
    }

    /// Applies socket options a listener had to a connection it accepted.
    fn apply_inherited(&mut self, h: ConnHandle, o: &synack_proto::tcp::conn::SocketOptions) {
        use synack_proto::tcp::conn::SocketOption as O;
        let d = synack_proto::tcp::conn::SocketOptions::default();
        let mut opts = Vec::new();
        if o.nodelay != d.nodelay {
            opts.push(O::NoDelay(o.nodelay));
        }
        if o.cork != d.cork {
            opts.push(O::Cork(o.cork));
        }
        if o.keepalive != d.keepalive {
            opts.push(O::KeepAlive(o.keepalive));
        }
        if let Some(v) = o.keep_idle {
            opts.push(O::KeepIdle(v));
        }
        if let Some(v) = o.keep_interval {
            opts.push(O::KeepInterval(v));
        }
        if let Some(v) = o.keep_count {
            opts.push(O::KeepCount(v));
        }
        if o.user_timeout.is_some() {
            opts.push(O::UserTimeout(o.user_timeout));
        }
        if o.linger.is_some() {
            opts.push(O::Linger(o.linger));
        }
        if let Some(v) = o.recv_buffer {
            opts.push(O::RecvBuffer(v));
        }
        if let Some(v) = o.send_buffer {
            opts.push(O::SendBuffer(v));
        }
        let now = self.net.now;
        for opt in opts {
            let _ = self.net.stack.tcp_set_option(now, h, opt);
        }
    }

    fn sys_connect(&mut self, s: &Syscall) -> Step<SysOutcome> {
        let fd = self.int_arg(s, 0)?;
        let default = SocketAddrV4::new(self.remote_ip, self.connect_port);
        let Some(remote) = self.sockaddr_arg(self.arg(s, 1)?, default)? else {
            return skip("connect(AF_UNSPEC) (disconnect): synack has no disconnect");
        };
        let Some(sock) = self.fds.get(&fd) else {
            return err(Errno::EBADF);
        };
        match sock.role {
            Role::Listener(_) => return err(Errno::EISCONN),
            Role::Conn(_) => {
                let nonblocking = sock.nonblocking;
                let sock = self.socket_mut(fd).expect("checked above");
                if let Some(e) = sock.error.take() {
                    return err(e);
                }
                if sock.connected {
                    return err(Errno::EISCONN);
                }
                if sock.closed {
                    return err(Errno::ECONNABORTED);
                }
                if nonblocking {
                    return err(Errno::EALREADY);
                }
                return Ok(Blocked(Op::Connect { fd }));
            }
            Role::Fresh => {}
        }
        let nonblocking = sock.nonblocking;
        let (h, _) = match self.open_active(fd, remote, None)? {
            Ok(opened) => opened,
            Err(e) => return err(e),
        };
        // TCP_FASTOPEN_CONNECT with a cookie holds the SYN for the first
        // write, and connect() succeeds at once (Linux `defer_connect`).
        if self.syn_deferred(h) {
            if let Some(sock) = self.socket_mut(fd) {
                sock.deferred = true;
                sock.connecting = false;
            }
            return ok(0);
        }
        if nonblocking {
            return err(Errno::EINPROGRESS);
        }
        Ok(Blocked(Op::Connect { fd }))
    }

    /// Opens a connection for socket `fd` (connect, or sendto with
    /// MSG_FASTOPEN when `data` is given): the Stack's connection, how much
    /// of `data` it queued, or Linux's errno.
    fn open_active(
        &mut self,
        fd: i64,
        remote: SocketAddrV4,
        data: Option<&[u8]>,
    ) -> Step<Result<(ConnHandle, usize), Errno>> {
        let Some(sock) = self.fds.get(&fd) else {
            return Ok(Err(Errno::EBADF));
        };
        let opts = ConnectOptions {
            local_addr: sock.bound.map(|b| *b.ip()).filter(|a| !a.is_unspecified()),
            local_port: sock.bound.map(|b| b.port()).filter(|p| *p != 0),
            socket: sock.options,
            fastopen_connect: sock.fastopen_connect,
            ip_options: None,
            ip: sock.ip,
            window_clamp: sock.window_clamp,
            md5_key: None,
        };
        let conn = sock.conn;
        let now = self.net.now;
        let opened = match data {
            None => self
                .net
                .stack
                .tcp_connect(now, remote, opts)
                .map(|h| (h, 0)),
            Some(d) => self.net.stack.tcp_connect_with_data(now, remote, opts, d),
        };
        let (h, queued) = match opened {
            Ok(o) => o,
            Err(ConnectError::AddrInUse) => return Ok(Err(Errno::EADDRINUSE)),
            Err(ConnectError::AddrNotAvailable | ConnectError::NoEphemeralPorts) => {
                return Ok(Err(Errno::EADDRNOTAVAIL));
            }
            Err(ConnectError::NetworkUnreachable) => return Ok(Err(Errno::ENETUNREACH)),
            Err(ConnectError::InvalidAddress) => return Ok(Err(Errno::EINVAL)),
        };
        let notsent_lowat = match self.socket_mut(fd) {
            Some(sock) => {
                sock.role = Role::Conn(h);
                sock.connecting = true;
                sock.notsent_lowat
            }
            None => 0,
        };
        if notsent_lowat != 0 {
            let set = SocketOption::NotSentLowat(notsent_lowat);
            let _ = self.net.stack.tcp_set_option(now, h, set);
        }
        if let Some(c) = conn {
            let c = &mut self.conns[c];
            if c.state == ConnState::New {
                c.state = ConnState::ActiveConnecting;
                c.live_remote = remote;
                c.handle = Some(h);
            }
        }
        self.net.drain().map_err(|e| Stop::Fail {
            line: self.line,
            message: e,
        })?;
        Ok(Ok((h, queued)))
    }

    /// Whether the connection's SYN waits for the first write (nothing of
    /// it has gone out).
    fn syn_deferred(&self, h: ConnHandle) -> bool {
        let Some((local, _)) = self.net.stack.tcp_addrs(h) else {
            return false;
        };
        self.net.stack.tcp_state(h) == TcpState::SynSent
            && !self.net.sent.iter().any(|c| {
                c.packet.tuple().is_some_and(|(src, _)| src == local)
                    && c.packet.tcp().is_some_and(|t| t.flags.has(RawFlags::SYN))
            })
    }

    /// How many bytes a SYN to the script host may carry now (Linux
    /// `tcp_send_syn_data`): nothing without a cached cookie; TCP_MAXSEG
    /// (`user_mss`, 0 if unset) bounds it as it bounds the MSS.
    pub(super) fn syn_data_room(&self, remote: SocketAddrV4, user_mss: u16) -> usize {
        let config = self.net.stack.config();
        let entry = self.net.stack.fastopen_entry(*remote.ip());
        if entry.and_then(|e| e.cookie).is_none()
            && config.tcp_fastopen & synack_proto::config::fastopen_flags::CLIENT_NO_COOKIE == 0
        {
            return 0;
        }
        let mtu = u16::try_from(config.mtu).unwrap_or(u16::MAX);
        fastopen::client_plan(
            config.tcp_fastopen,
            entry.as_ref(),
            self.net.now,
            mtu,
            config.advertised_mss(),
            false,
        )
        .map_or(0, |p| {
            let room = p.max_syn_data as usize;
            match user_mss {
                0 => room,
                m => room.min(usize::from(
                    m.saturating_sub(fastopen::SYN_DATA_OPTION_RESERVE),
                )),
            }
        })
    }

    /// sendto(MSG_FASTOPEN) on a new socket (RFC 7413 §4.2, Linux
    /// `tcp_sendmsg_fastopen`): connect with data for the SYN. A
    /// non-blocking call returns what the SYN carries (EINPROGRESS when it
    /// carries nothing); a blocking one returns once everything is queued.
    fn sys_sendto_fastopen(
        &mut self,
        s: &Syscall,
        fd: i64,
        len: usize,
        flags: i64,
    ) -> Step<SysOutcome> {
        let default = SocketAddrV4::new(self.remote_ip, self.connect_port);
        let remote = match s.args.get(4) {
            Some(e) => self.sockaddr_arg(e, default)?.unwrap_or(default),
            None => default,
        };
        let Some(sock) = self.fds.get(&fd) else {
            return err(Errno::EBADF);
        };
        let nonblocking = sock.nonblocking || flags & linux::MSG_DONTWAIT != 0;
        let data = vec![0u8; len];
        let take = if nonblocking {
            len.min(self.syn_data_room(remote, sock.options.max_segment))
        } else {
            len
        };
        let (_, queued) = match self.open_active(fd, remote, Some(&data[..take]))? {
            Ok(opened) => opened,
            Err(e) => return err(e),
        };
        if nonblocking {
            return if queued > 0 {
                ok(queued as i64)
            } else {
                err(Errno::EINPROGRESS)
            };
        }
        Ok(Blocked(Op::Write {
            fd,
            total: len,
            done: queued,
            flags: SendFlags::default(),
        }))
    }

    fn try_connect(&mut self, fd: i64) -> Option<Ret> {
        let sock = self.fds.get_mut(&fd)?;
        if sock.connected {
            sock.connecting = false;
            return Some(Ret::Value(0));
        }
        if sock.closed {
            sock.connecting = false;
            return Some(Ret::Error(sock.error.take().unwrap_or(Errno::ECONNABORTED)));
        }
        None
    }

    fn sys_close(&mut self, s: &Syscall) -> Step<SysOutcome> {
        let fd = self.int_arg(s, 0)?;
        let Some(sock) = self.fds.remove(&fd) else {
            return err(Errno::EBADF);
        };
        let now = self.net.now;
        match sock.role {
            Role::Listener(l) => self.net.stack.tcp_close_listener(now, l),
            Role::Conn(h) => self.net.stack.tcp_close(now, h),
            Role::Fresh => {}
        }
        self.net.drain().map_err(|e| Stop::Fail {
            line: self.line,
            message: e,
        })?;
        ok(0)
    }

    fn sys_shutdown(&mut self, s: &Syscall) -> Step<SysOutcome> {
        let fd = self.int_arg(s, 0)?;
        let how = match self.int_arg(s, 1)? {
            0 => Shutdown::Read,
            1 => Shutdown::Write,
            2 => Shutdown::Both,
            _ => return err(Errno::EINVAL),
        };
        let Some(sock) = self.fds.get(&fd) else {
            return err(Errno::EBADF);
        };
        let Role::Conn(h) = sock.role else {
            return err(Errno::ENOTCONN);
        };
        let now = self.net.now;
        match self.net.stack.tcp_shutdown(now, h, how) {
            Ok(()) => {
                if let Some(sock) = self.socket_mut(fd) {
                    sock.wr_shutdown |= matches!(how, Shutdown::Write | Shutdown::Both);
                    sock.rd_shutdown |= matches!(how, Shutdown::Read | Shutdown::Both);
                }
                self.net.drain().map_err(|e| Stop::Fail {
                    line: self.line,
                    message: e,
                })?;
                ok(0)
            }
            Err(ShutdownError::NotConnected | ShutdownError::InvalidHandle) => err(Errno::ENOTCONN),
        }
    }

    fn sys_fcntl(&mut self, s: &Syscall) -> Step<SysOutcome> {
        let fd = self.int_arg(s, 0)?;
        let cmd = self.int_arg(s, 1)?;
        let Some(sock) = self.socket_mut(fd) else {
            return err(Errno::EBADF);
        };
        match cmd {
            linux::F_GETFL => {
                let nb = sock.nonblocking;
                ok(linux::O_RDWR | if nb { linux::O_NONBLOCK } else { 0 })
            }
            linux::F_SETFL => {
                let arg = self.int_arg(s, 2)?;
                if let Some(sock) = self.socket_mut(fd) {
                    sock.nonblocking = arg & linux::O_NONBLOCK != 0;
                }
                ok(0)
            }
            1 | 2 => ok(0),
            other => skip(format!(
                "fcntl command {other}: not supported by the runner"
            )),
        }
    }

    // ---- the stack's events ------------------------------------------------------

    /// Hands the Stack's events to the sockets they concern.
    pub fn dispatch_events(&mut self) {
        while let Some(e) = self.net.events.pop_front() {
            let (h, what) = match e {
                Event::Connected(h) => (h, 0),
                Event::PeerClosed(h) => (h, 1),
                Event::Closed { conn, reason } => {
                    if let CloseReason::Unreachable(e) = reason {
                        if let Some(sock) =
                            self.fds.values_mut().find(|s| s.role == Role::Conn(conn))
                        {
                            sock.closed = true;
                            sock.connecting = false;
                            sock.error = Some(Errno(i64::from(e.linux_errno())));
                        }
                        continue;
                    }
                    (conn, 2 + reason_code(reason))
                }
                _ => continue,
            };
            let Some(sock) = self.fds.values_mut().find(|s| s.role == Role::Conn(h)) else {
                continue;
            };
            match what {
                0 => {
                    sock.connected = true;
                    sock.connecting = false;
                }
                1 => sock.peer_fin = true,
                _ => {
                    sock.closed = true;
                    sock.connecting = false;
                    let e = match what - 2 {
                        1 => Some(Errno::ECONNREFUSED),
                        // tcp_reset(): EPIPE in CLOSE-WAIT, else ECONNRESET.
                        2 if sock.peer_fin => Some(Errno::EPIPE),
                        2 => Some(Errno::ECONNRESET),
                        3 => Some(Errno::ETIMEDOUT),
                        _ => None,
                    };
                    if e.is_some() {
                        sock.error = e;
                    }
                }
            }
        }
    }
}

fn reason_code(r: CloseReason) -> u8 {
    match r {
        CloseReason::Normal => 0,
        CloseReason::Refused => 1,
        CloseReason::Reset => 2,
        CloseReason::TimedOut => 3,
        CloseReason::Aborted => 4,
        CloseReason::Cancelled => 5,
        CloseReason::Unreachable(_) => 6,
    }
}
