//! The data calls: read(2), readv(2), recv(2) with its flags (MSG_PEEK,
//! MSG_OOB, MSG_WAITALL, MSG_DONTWAIT), and write(2), send(2) and their
//! kin, onto the Stack's receive and send with Linux's return values.

use synack_proto::tcp::conn::{RecvError, RecvFlags, SendError, SendFlags};
use synack_proto::tcp::state::TcpState;

use super::linux::{self, Errno};
use super::runner::{Runner, Step, Stop, fail};
use super::sockets::Role;
use super::syscalls::SysOutcome::{Blocked, Done};
use super::syscalls::{Op, Ret, SysOutcome, err, ok};
use crate::script::ast::Syscall;

/// What a read on a blocking socket waits for (Linux `tcp_recvmsg`'s
/// target and timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadWait {
    /// SO_RCVLOWAT bytes (at most the length asked for).
    Mark,
    /// MSG_WAITALL: the whole length (or the stream's end, or a failure).
    Whole,
    /// MSG_DONTWAIT: nothing; it takes what there is (EAGAIN if nothing).
    Now,
}

impl Runner<'_> {
    /// A blocking `recv(MSG_WAITALL)`: reads what there is towards `len`
    /// bytes, counting in `got`, and returns once it has them, or what it
    /// has when the stream ends or fails (Linux `tcp_recvmsg` with the
    /// target at `len`: a partial count before an error, the error
    /// alone).
    pub(super) fn try_read_all(&mut self, fd: i64, len: usize, got: &mut usize) -> Option<Ret> {
        let now = self.net.now;
        let h = match self.fds.get(&fd)?.role {
            Role::Conn(h) => h,
            Role::Fresh | Role::Listener(_) => return Some(Ret::Error(Errno::ENOTCONN)),
        };
        let mut buf = vec![0u8; len.min(1 << 24)];
        while *got < len {
            let want = (len - *got).min(buf.len());
            let r = self.net.stack.tcp_recv(now, h, &mut buf[..want]);
            let _ = self.net.drain();
            let sock = self.fds.get_mut(&fd)?;
            match r {
                Ok(n) if n > 0 => *got += n,
                Err(RecvError::WouldBlock) if sock.error.is_none() => return None,
                // The end of the stream, or a failure: what was read, else
                // the error (or 0 at the end).
                _ if *got > 0 => break,
                Ok(_) | Err(RecvError::Connection(_)) => {
                    return Some(sock.error.take().map_or(Ret::Value(0), Ret::Error));
                }
                Err(RecvError::WouldBlock) => {
                    return Some(Ret::Error(sock.error.take().unwrap_or(Errno::EAGAIN)));
                }
                Err(RecvError::InvalidHandle) => return Some(Ret::Error(Errno::ENOTCONN)),
                Err(RecvError::NoUrgentData) => return Some(Ret::Error(Errno::EINVAL)),
            }
        }
        Some(Ret::Value(*got as i64))
    }

    /// A blocking `recv(MSG_WAITALL | MSG_PEEK)`: waits until `len` bytes
    /// are readable (or the stream has ended, or failed), then peeks at
    /// them (Linux `tcp_recvmsg`'s target with `peek_seq`: what it copied
    /// stays to be read).
    pub(super) fn try_peek_all(&mut self, fd: i64, len: usize) -> Option<Ret> {
        let h = match self.fds.get(&fd)?.role {
            Role::Conn(h) => h,
            Role::Fresh | Role::Listener(_) => return Some(Ret::Error(Errno::ENOTCONN)),
        };
        let failed = self.fds.get(&fd)?.error.is_some();
        let (queued, ended) = self.net.stack.tcp_connection(h).map_or((0, true), |c| {
            // Past the peer's FIN, or closed: no more is coming.
            let ended = matches!(
                c.state(),
                TcpState::CloseWait
                    | TcpState::LastAck
                    | TcpState::Closing
                    | TcpState::TimeWait
                    | TcpState::Closed
            );
            (c.recv_queue(), ended)
        });
        if queued < len && !ended && !failed {
            return None;
        }
        let peek = RecvFlags {
            peek: true,
            ..RecvFlags::default()
        };
        self.try_read(fd, len, peek, false)
    }

    /// A read; with `to_mark`, a blocking one that waits for SO_RCVLOWAT
    /// bytes.
    pub(super) fn try_read(
        &mut self,
        fd: i64,
        len: usize,
        flags: RecvFlags,
        to_mark: bool,
    ) -> Option<Ret> {
        let now = self.net.now;
        let sock = self.fds.get_mut(&fd)?;
        let h = match sock.role {
            Role::Conn(h) => h,
            Role::Fresh | Role::Listener(_) => return Some(Ret::Error(Errno::ENOTCONN)),
        };
        if sock.connecting && !sock.connected && !sock.closed {
            return None;
        }
        // A blocking read waits for SO_RCVLOWAT bytes (at most `len`).
        let plain = flags == RecvFlags::default();
        if plain && to_mark && !sock.nonblocking && !self.net.stack.tcp_recv_ready(h, len) {
            return None;
        }
        let mut buf = vec![0u8; len.min(1 << 24)];
        let r = self.net.stack.tcp_recv_with(now, h, &mut buf, flags);
        let sock = self.fds.get_mut(&fd)?;
        let ret = match r {
            Ok(n) if n > 0 || len == 0 => Ret::Value(n as i64),
            Ok(_) => match sock.error.take() {
                Some(e) => Ret::Error(e),
                None => Ret::Value(0),
            },
            Err(RecvError::WouldBlock) => match sock.error.take() {
                Some(e) => Ret::Error(e),
                None => return None,
            },
            Err(RecvError::Connection(_)) => match sock.error.take() {
                Some(e) => Ret::Error(e),
                None => Ret::Value(0),
            },
            Err(RecvError::InvalidHandle) => Ret::Error(Errno::ENOTCONN),
            Err(RecvError::NoUrgentData) => Ret::Error(Errno::EINVAL),
        };
        let _ = self.net.drain();
        Some(ret)
    }

    pub(super) fn sys_write(
        &mut self,
        s: &Syscall,
        fd: i64,
        len: usize,
        flags: i64,
    ) -> Step<SysOutcome> {
        let send_flags = SendFlags {
            more: flags & linux::MSG_MORE != 0,
            eor: flags & linux::MSG_EOR != 0,
            oob: flags & linux::MSG_OOB != 0,
        };
        let Some(sock) = self.fds.get(&fd) else {
            return err(Errno::EBADF);
        };
        let nonblocking = sock.nonblocking || flags & linux::MSG_DONTWAIT != 0;
        let user_mss = sock.options.max_segment;
        if let (true, Role::Conn(h)) = (sock.deferred, sock.role) {
            // The first write after TCP_FASTOPEN_CONNECT sends the SYN with
            // data (Linux `tcp_sendmsg_fastopen` for `defer_connect`).
            let remote = self.net.stack.tcp_addrs(h).map(|(_, r)| r);
            let take = match (nonblocking, remote) {
                (true, Some(r)) => len.min(self.syn_data_room(r, user_mss)),
                _ => len,
            };
            let now = self.net.now;
            let queued = self
                .net
                .stack
                .tcp_send(now, h, &vec![0u8; take])
                .unwrap_or(0);
            self.net.drain().map_err(|e| Stop::Fail {
                line: self.line,
                message: e,
            })?;
            if let Some(sock) = self.socket_mut(fd) {
                sock.deferred = false;
                sock.connecting = true;
            }
            if nonblocking {
                return if queued > 0 {
                    ok(queued as i64)
                } else {
                    err(Errno::EINPROGRESS)
                };
            }
            return Ok(Blocked(Op::Write {
                fd,
                total: len,
                done: queued,
                flags: send_flags,
            }));
        }
        let mut op = Op::Write {
            fd,
            total: len,
            done: 0,
            flags: send_flags,
        };
        match self.attempt(&mut op, s)? {
            Some(ret) => Ok(Done(ret)),
            None => {
                let Op::Write { done, .. } = op else {
                    return fail(self.line, "runner bug: write became another call");
                };
                if nonblocking {
                    if done > 0 {
                        ok(done as i64)
                    } else {
                        err(Errno::EAGAIN)
                    }
                } else {
                    Ok(Blocked(op))
                }
            }
        }
    }

    /// Queues what fits; `Some` once everything is queued or on an error.
    pub(super) fn try_write(
        &mut self,
        fd: i64,
        total: usize,
        done: &mut usize,
        flags: SendFlags,
    ) -> Option<Ret> {
        let now = self.net.now;
        let sock = self.fds.get_mut(&fd)?;
        let h = match sock.role {
            Role::Conn(h) => h,
            _ => {
                return Some(Ret::Error(sock.error.take().unwrap_or(Errno::EPIPE)));
            }
        };
        if let Some(e) = sock.error.take() {
            return Some(Ret::Error(e));
        }
        if sock.wr_shutdown {
            return Some(Ret::Error(Errno::EPIPE));
        }
        // Linux waits for the handshake before queueing
        // (sk_stream_wait_connect), except on a Fast Open server's child,
        // which may send before the handshake's ACK (`tcp_passive_fastopen`).
        let state = self.net.stack.tcp_state(h);
        let passive_fastopen = self
            .net
            .stack
            .tcp_fastopen_info(h)
            .is_some_and(|f| f.passive);
        if state == TcpState::SynSent || (state == TcpState::SynReceived && !passive_fastopen) {
            return None;
        }
        if total == 0 {
            return Some(Ret::Value(0));
        }
        let chunk = vec![0u8; total - *done];
        let r = self.net.stack.tcp_send_with(now, h, &chunk, flags);
        let _ = self.net.drain();
        let sock = self.fds.get_mut(&fd)?;
        match r {
            Ok(n) => {
                *done += n;
                (*done == total).then_some(Ret::Value(total as i64))
            }
            Err(SendError::WouldBlock) => None,
            Err(SendError::WriteShutdown | SendError::Closed | SendError::InvalidHandle) => {
                Some(Ret::Error(sock.error.take().unwrap_or(Errno::EPIPE)))
            }
            Err(SendError::Connection(_)) => {
                Some(Ret::Error(sock.error.take().unwrap_or(Errno::EPIPE)))
            }
        }
    }
}
