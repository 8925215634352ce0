//! A listening socket: what to do with segments for a listening port, the
//! SYN queue of half-open connections, and the accept queue.
//!
//! Read first: RFC 9293 §3.10.7.2 (LISTEN: ignore RSTs, reset ACKs, accept
//! SYNs), RFC 4987 §3 (SYN floods and the defences the next issue adds),
//! Linux's `tcp_max_syn_backlog`, `somaxconn` and listen(2) backlog.
//!
//! The half-open connections themselves (SYN-RECEIVED, with their SYN-ACK
//! retransmissions at 1, 2, 4, 8, 16 s and expiry at 63 s) are ordinary
//! connections the stack keeps on the listener's behalf; the listener counts
//! them against `tcp_max_syn_backlog` and queues them, once established, for
//! `accept`. **[`Listener::on_segment`] is the one place that decides what
//! happens to a segment for a listening port**: SYN cookies when the SYN
//! queue is full and Fast Open's data-bearing SYN slot in here.

use core::net::SocketAddrV4;
use std::collections::VecDeque;

use crate::config::Config;
use crate::wire::TcpRepr;

/// What to do with a segment for a listening port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenVerdict {
    /// Start a half-open connection (SYN-RECEIVED) and send the SYN-ACK.
    Accept,
    /// RFC 9293 §3.10.7.2: "Any acknowledgment is bad if it arrives on a
    /// connection still in the LISTEN state. An acceptable reset segment
    /// should be formed for any arriving ACK-bearing segment."
    Reset,
    /// Drop it, for this reason.
    Drop(ListenDrop),
}

/// Why a listener dropped a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListenDrop {
    /// "An incoming RST should be ignored."
    Reset,
    /// Neither SYN, ACK nor RST: "drop the segment and return".
    NotSyn,
    /// A SYN with FIN (Linux drops these).
    SynFin,
    /// `tcp_max_syn_backlog` half-open connections already.
    SynQueueFull,
    /// The accept queue is full: Linux drops SYNs rather than start
    /// connections that could not be accepted.
    AcceptQueueFull,
}

/// A listener: its address, backlog and queues. `K` is the stack's handle
/// for a connection.
#[derive(Clone, Debug)]
pub struct Listener<K> {
    local: SocketAddrV4,
    /// min(listen backlog, somaxconn), at least 1.
    backlog: usize,
    /// Half-open connections (SYN-RECEIVED) it owns.
    half_open: usize,
    /// Established connections waiting for `accept`.
    accept_queue: VecDeque<K>,
}

impl<K: Copy + PartialEq> Listener<K> {
    /// A listener on `local` (address 0.0.0.0 for any) with a listen(2)
    /// `backlog`, capped by `somaxconn`.
    pub fn new(local: SocketAddrV4, backlog: usize, config: &Config) -> Self {
        Listener {
            local,
            backlog: backlog.min(config.somaxconn).max(1),
            half_open: 0,
            accept_queue: VecDeque::new(),
        }
    }

    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    pub fn backlog(&self) -> usize {
        self.backlog
    }

    /// Half-open connections.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Connections waiting for `accept` (Recv-Q of a listener in `ss`).
    pub fn accept_queue_len(&self) -> usize {
        self.accept_queue.len()
    }

    /// Whether the accept queue has room for another connection.
    pub fn can_accept_more(&self) -> bool {
        self.accept_queue.len() < self.backlog
    }

    /// RFC 9293 §3.10.7.2, in order: RST, then ACK, then SYN.
    pub fn on_segment(&self, seg: &TcpRepr<'_>, config: &Config) -> ListenVerdict {
        let flags = seg.flags;
        if flags.rst() {
            return ListenVerdict::Drop(ListenDrop::Reset);
        }
        if seg.ack.is_some() {
            return ListenVerdict::Reset;
        }
        if !flags.syn() {
            return ListenVerdict::Drop(ListenDrop::NotSyn);
        }
        if flags.fin() {
            return ListenVerdict::Drop(ListenDrop::SynFin);
        }
        if !self.can_accept_more() {
            return ListenVerdict::Drop(ListenDrop::AcceptQueueFull);
        }
        if self.half_open >= config.tcp_max_syn_backlog {
            return ListenVerdict::Drop(ListenDrop::SynQueueFull);
        }
        ListenVerdict::Accept
    }

    /// A half-open connection was started.
    pub fn add_half_open(&mut self) {
        self.half_open += 1;
    }

    /// A half-open connection ended before it was established.
    pub fn remove_half_open(&mut self) {
        self.half_open = self.half_open.saturating_sub(1);
    }

    /// A half-open connection completed its handshake: it waits for
    /// `accept`. Returns whether the queue was empty before (the moment to
    /// tell the application).
    pub fn established(&mut self, conn: K) -> bool {
        self.remove_half_open();
        let was_empty = self.accept_queue.is_empty();
        self.accept_queue.push_back(conn);
        was_empty
    }

    /// The oldest established connection, for `accept`.
    pub fn accept(&mut self) -> Option<K> {
        self.accept_queue.pop_front()
    }

    /// A queued connection died before it was accepted.
    pub fn forget(&mut self, conn: K) {
        self.accept_queue.retain(|&k| k != conn);
    }

    /// Every queued connection (when the listener closes).
    pub fn drain(&mut self) -> impl Iterator<Item = K> + '_ {
        self.accept_queue.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeqNum;
    use crate::wire::tcp::{TcpFlags, TcpOptions};
    use core::net::Ipv4Addr;

    fn seg(flags: TcpFlags, ack: Option<u32>) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1),
            ack: ack.map(SeqNum),
            flags,
            window: 1000,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        }
    }

    fn listener(backlog: usize) -> Listener<u32> {
        Listener::new(
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80),
            backlog,
            &Config::default(),
        )
    }

    #[test]
    fn resets_are_ignored_acks_reset_syns_accepted() {
        let l = listener(8);
        let config = Config::default();
        assert_eq!(
            l.on_segment(&seg(TcpFlags::RST, None), &config),
            ListenVerdict::Drop(ListenDrop::Reset)
        );
        assert_eq!(
            l.on_segment(&seg(TcpFlags::RST | TcpFlags::ACK, Some(5)), &config),
            ListenVerdict::Drop(ListenDrop::Reset)
        );
        assert_eq!(
            l.on_segment(&seg(TcpFlags::ACK, Some(5)), &config),
            ListenVerdict::Reset
        );
        assert_eq!(
            l.on_segment(&seg(TcpFlags::SYN | TcpFlags::ACK, Some(5)), &config),
            ListenVerdict::Reset,
            "a SYN-ACK to a listener is an ACK-bearing segment"
        );
        assert_eq!(
            l.on_segment(&seg(TcpFlags::SYN, None), &config),
            ListenVerdict::Accept
        );
        assert_eq!(
            l.on_segment(&seg(TcpFlags::SYN | TcpFlags::FIN, None), &config),
            ListenVerdict::Drop(ListenDrop::SynFin)
        );
        assert_eq!(
            l.on_segment(&seg(TcpFlags::FIN, None), &config),
            ListenVerdict::Drop(ListenDrop::NotSyn)
        );
    }

    #[test]
    fn the_syn_queue_is_bounded_by_tcp_max_syn_backlog() {
        let config = Config {
            tcp_max_syn_backlog: 2,
            ..Config::default()
        };
        let mut l = listener(8);
        l.add_half_open();
        l.add_half_open();
        assert_eq!(
            l.on_segment(&seg(TcpFlags::SYN, None), &config),
            ListenVerdict::Drop(ListenDrop::SynQueueFull)
        );
        l.remove_half_open();
        assert_eq!(
            l.on_segment(&seg(TcpFlags::SYN, None), &config),
            ListenVerdict::Accept
        );
    }

    #[test]
    fn the_accept_queue_holds_backlog_connections_in_order() {
        let config = Config {
            somaxconn: 2,
            ..Config::default()
        };
        let mut l: Listener<u32> =
            Listener::new(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 100, &config);
        assert_eq!(l.backlog(), 2, "capped by somaxconn");
        for k in [7, 8] {
            l.add_half_open();
            l.established(k);
        }
        assert!(!l.can_accept_more());
        assert_eq!(
            l.on_segment(&seg(TcpFlags::SYN, None), &config),
            ListenVerdict::Drop(ListenDrop::AcceptQueueFull)
        );
        l.forget(7);
        assert_eq!(l.accept(), Some(8));
        assert_eq!(l.accept(), None);
        assert_eq!(l.half_open(), 0);
    }
}
