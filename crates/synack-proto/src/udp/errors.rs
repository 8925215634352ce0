//! A datagram socket's ICMP errors, as Linux keeps them (`__udp4_lib_err`,
//! `ping_err`): the pending error (`sk_err`), which the socket's next send
//! or receive reports once, and with IP_RECVERR the queue of reports
//! (`sk_error_queue`, read with MSG_ERRQUEUE). UDP's sockets and the ping
//! sockets ([`crate::ping`]) share it.

use std::collections::VecDeque;

use crate::ip::icmp::{IcmpErrno, IcmpError, udp_error};

#[derive(Debug)]
pub(crate) struct SocketErrors<R> {
    /// The pending error (`sk_err`).
    pending: Option<IcmpErrno>,
    /// IP_RECVERR, and the reports it queued, oldest first, each with its
    /// errno.
    recv_error: bool,
    reports: VecDeque<(R, IcmpErrno)>,
}

impl<R> SocketErrors<R> {
    pub(crate) fn new() -> Self {
        SocketErrors {
            pending: None,
            recv_error: false,
            reports: VecDeque::new(),
        }
    }

    /// An ICMP error about one of the socket's datagrams. With IP_RECVERR
    /// it is queued (`report`, while fewer than `cap` wait: as
    /// `sock_queue_err_skb`, bounded by the receive buffer) and pending;
    /// without, it is pending only if it is hard ([`udp_error`]) and the
    /// socket is `connected`. Whether it was taken.
    pub(crate) fn on_error(
        &mut self,
        error: &IcmpError,
        connected: bool,
        cap: usize,
        report: impl FnOnce() -> R,
    ) -> bool {
        let errno = if self.recv_error {
            if self.reports.len() < cap {
                self.reports.push_back((report(), error.errno));
            }
            error.errno
        } else {
            match udp_error(error).filter(|_| connected) {
                Some(errno) => errno,
                None => return false,
            }
        };
        self.pending = Some(errno);
        true
    }

    /// Takes the pending error (`SO_ERROR`, or the next call's).
    pub(crate) fn take_pending(&mut self) -> Option<IcmpErrno> {
        self.pending.take()
    }

    /// Takes the oldest report (MSG_ERRQUEUE); the pending error becomes
    /// the next report's, or none (Linux `sock_dequeue_err_skb`).
    pub(crate) fn pop(&mut self) -> Option<R> {
        let (report, _) = self.reports.pop_front()?;
        self.pending = self.reports.front().map(|&(_, errno)| errno);
        Some(report)
    }

    /// Sets IP_RECVERR; turning it off drops what was queued, as Linux
    /// does.
    pub(crate) fn set_recv_error(&mut self, on: bool) {
        self.recv_error = on;
        if !on {
            self.reports.clear();
        }
    }

    /// Nothing pending and nothing queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_none() && self.reports.is_empty()
    }
}
