//! poll(2): each descriptor's events as Linux's `tcp_poll` would report
//! them, waiting on the virtual clock up to the call's timeout.

use synack_proto::Instant;
use synack_proto::tcp::state::TcpState;

use super::linux;
use super::runner::{Runner, Step, fail};
use super::sockets::Role;
use super::syscalls::SysOutcome::{Blocked, Done};
use super::syscalls::{Op, PollFd, Ret, SysOutcome, ok};
use crate::script::ast::{ExprKind, Syscall};

impl Runner<'_> {
    pub(super) fn sys_poll(&mut self, s: &Syscall) -> Step<SysOutcome> {
        let list = self.arg(s, 0)?;
        let ExprKind::Array(items) = &list.kind else {
            return fail(
                self.line,
                format!("poll: expected an array of pollfd, found `{list}`"),
            );
        };
        let mut fds = Vec::new();
        for item in items {
            let ExprKind::Struct(fields) = &item.kind else {
                return fail(
                    self.line,
                    format!("poll: expected a pollfd, found `{item}`"),
                );
            };
            let mut pfd = PollFd {
                fd: -1,
                events: 0,
                revents: None,
            };
            for f in fields {
                if let ExprKind::Assign { lhs, rhs } = &f.kind {
                    match lhs.as_word() {
                        Some("fd") => pfd.fd = self.int(rhs)?.unwrap_or(-1),
                        Some("events") => pfd.events = self.int(rhs)?.unwrap_or(0),
                        Some("revents") => pfd.revents = self.int(rhs)?,
                        _ => {}
                    }
                }
            }
            fds.push(pfd);
        }
        let timeout = self.int_arg(s, 2)?;
        let deadline = (timeout >= 0)
            .then(|| self.net.now + synack_proto::Duration::from_millis(timeout as u64));
        let mut op = Op::Poll { fds, deadline };
        match self.attempt(&mut op, s)? {
            Some(ret) => Ok(Done(ret)),
            None if timeout == 0 => {
                // Nothing ready: 0, with every revents 0.
                let Op::Poll { fds, .. } = &op else {
                    return ok(0);
                };
                self.check_revents(fds, &vec![0; fds.len()])?;
                ok(0)
            }
            None => Ok(Blocked(op)),
        }
    }

    pub(super) fn try_poll(
        &mut self,
        fds: &[PollFd],
        deadline: Option<Instant>,
    ) -> Step<Option<Ret>> {
        let revents: Vec<i64> = fds
            .iter()
            .map(|p| {
                let mask = self.poll_mask(p.fd);
                mask & (p.events | linux::POLLERR | linux::POLLHUP | linux::POLLNVAL)
            })
            .collect();
        let ready = revents.iter().filter(|r| **r != 0).count();
        let timed_out = deadline.is_some_and(|d| self.net.now >= d);
        if ready == 0 && !timed_out {
            return Ok(None);
        }
        self.check_revents(fds, &revents)?;
        Ok(Some(Ret::Value(ready as i64)))
    }

    fn check_revents(&self, fds: &[PollFd], revents: &[i64]) -> Step<()> {
        for (i, (p, actual)) in fds.iter().zip(revents).enumerate() {
            if let Some(want) = p.revents
                && want != *actual
            {
                return fail(
                    self.line,
                    format!(
                        "Expected revents of {} but got {} for pollfd {i}",
                        linux::poll_bits(want),
                        linux::poll_bits(*actual)
                    ),
                );
            }
        }
        Ok(())
    }

    /// tcp_poll(): what a descriptor is ready for.
    fn poll_mask(&self, fd: i64) -> i64 {
        use linux::{
            POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRNORM,
        };
        let Some(sock) = self.fds.get(&fd) else {
            return POLLNVAL;
        };
        let mut mask = 0;
        if sock.error.is_some() {
            mask |= POLLERR;
        }
        match sock.role {
            Role::Fresh => mask | POLLOUT | POLLWRNORM | POLLHUP,
            Role::Listener(l) => {
                let waiting =
                    self.net.stack.sockets().any(|s| {
                        s.id == synack_proto::stack::SocketId::Listener(l) && s.recv_q > 0
                    });
                if waiting {
                    mask | POLLIN | POLLRDNORM
                } else {
                    mask
                }
            }
            Role::Conn(h) => {
                let Some(c) = self.net.stack.tcp_connection(h) else {
                    return mask | POLLHUP | POLLIN | POLLRDNORM;
                };
                let state = c.state();
                let rd_shut = sock.peer_fin || sock.rd_shutdown;
                let wr_shut = sock.wr_shutdown;
                if (rd_shut && wr_shut) || state == TcpState::Closed {
                    mask |= POLLHUP;
                }
                if rd_shut || state == TcpState::Closed {
                    mask |= POLLIN | POLLRDNORM | POLLRDHUP;
                }
                if !matches!(state, TcpState::SynSent | TcpState::SynReceived) {
                    // SO_RCVLOWAT bytes (`tcp_stream_is_readable`).
                    let lowat = c.socket_options().recv_lowat.max(1) as usize;
                    if c.recv_queue() >= lowat {
                        mask |= POLLIN | POLLRDNORM;
                    }
                    if c.urgent_ready() {
                        mask |= linux::POLLPRI;
                    }
                    // sk_stream_is_writeable: free space at least half of
                    // what is queued, and TCP_NOTSENT_LOWAT's test.
                    let writable = wr_shut
                        || c.state_data()
                            .send_half()
                            .is_some_and(|s| s.free() > 0 && s.free() >= s.buffered() / 2)
                            && c.notsent_writable(self.net.stack.config());
                    if writable {
                        mask |= POLLOUT | POLLWRNORM;
                    }
                }
                mask
            }
        }
    }
}
