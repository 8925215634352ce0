//! A listening socket: what to do with segments for a listening port, the
//! SYN queue of half-open connections, the accept queue, the SYN-cookie
//! mode's memory, the pending Fast Open count, and a per-source SYN rate
//! limit.
//!
//! Read first: RFC 9293 §3.10.7.2 (LISTEN: ignore RSTs, reset ACKs, accept
//! SYNs), RFC 4987 §3 (SYN floods; §3.6 SYN cookies), RFC 7413 §5.1 (a cap
//! on pending Fast Open connections), Linux's `tcp_conn_request`,
//! `tcp_max_syn_backlog`, `somaxconn` and listen(2) backlog.
//!
//! The half-open connections themselves (SYN-RECEIVED, with their SYN-ACK
//! retransmissions at 1, 2, 4, 8, 16 s and expiry at 63 s) are ordinary
//! connections the stack keeps on the listener's behalf; the listener knows
//! which they are (its SYN queue, bounded by `tcp_max_syn_backlog`) and
//! queues them, once established, for `accept` (bounded by the backlog).
//! **[`Listener::on_segment`] is the one place that decides what happens to
//! a segment for a listening port.**
//!
//! Differences from Linux, on purpose: the SYN queue's cap is
//! `tcp_max_syn_backlog` itself (Linux starts cookies when the queue reaches
//! the listen backlog, and without cookies drops SYNs from unproven peers
//! once three quarters of `tcp_max_syn_backlog` are used).

use core::hash::BuildHasher;
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;

use crate::config::{Config, SynCookieMode};
use crate::ip::{ECN_MASK, KeyedHasher, SocketIp};
use crate::siphash::SipKey;
use crate::tcp::conn::SocketOptions;
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;

/// Linux `TCP_SYNCOOKIE_VALID`: after the last cookie was sent, ACKs are
/// checked as cookies for this long (a cookie lives at most two minutes).
pub const SYNCOOKIE_VALID: Duration = Duration::from_secs(120);

/// What to do with a segment for a listening port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenVerdict {
    /// Start a half-open connection (SYN-RECEIVED) and send the SYN-ACK.
    Accept,
    /// RFC 4987 §3.6: answer with a SYN cookie and keep nothing.
    SynCookie,
    /// An ACK that may complete a cookie handshake: check the cookie; a
    /// cookie that fails is an ACK in LISTEN (reset it).
    CheckCookie,
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
    /// `tcp_max_syn_backlog` half-open connections already, cookies off.
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
    /// min(listen backlog, somaxconn); the accept queue holds one more.
    backlog: usize,
    /// Half-open connections (SYN-RECEIVED) it owns: the SYN queue's
    /// length. Only the count: each half-open connection knows its listener
    /// (the stack's `Owner::HalfOpen`), and the one question that needs
    /// them all (the listener closes, and resets them) is answered by a
    /// walk of the connections. A set of their keys cost a hash-set insert
    /// and removal per accepted connection (about 130 instructions of a
    /// handshake's code) for that rare walk.
    half_open: usize,
    /// Established connections (and Fast Open children) waiting for `accept`.
    accept_queue: VecDeque<K>,
    /// The most Fast Open children not yet established (`TCP_FASTOPEN`);
    /// 0: server Fast Open off.
    fastopen_qlen: usize,
    /// Fast Open children not yet established.
    fastopen_pending: usize,
    /// When the last SYN cookie was sent (Linux `tcp_synq_overflow`).
    last_cookie: Option<Instant>,
    /// Socket options set on the listening socket, which its children
    /// inherit (Linux clones the listener: TCP_MAXSEG, TCP_NODELAY, ...).
    socket: SocketOptions,
    /// Bound with SO_REUSEPORT: others that set it may share its address.
    reuse_port: bool,
    /// IP_TTL and IP_TOS set on the listening socket, which its children
    /// inherit and its SYN-cookie SYN-ACKs carry (an unset TTL is the
    /// stack's `ip_default_ttl`, read at each send).
    ip: SocketIp,
    /// TCP_NOTSENT_LOWAT and TCP_WINDOW_CLAMP set on the listening socket,
    /// which its children inherit.
    inherited: InheritedOptions,
    /// The stack's slab slot generation (kept here, in the listener's own
    /// bytes; see `stack::slab::Entry`).
    pub(crate) slab_generation: u32,
}

/// Socket options a listener's children inherit beside [`SocketOptions`],
/// not in it: those 128 bytes are copied into every connection as it is
/// made, and these are rarely set (a passive open tests them at once, in
/// one 8-byte word).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InheritedOptions {
    /// TCP_NOTSENT_LOWAT; 0: unset.
    pub notsent_lowat: u32,
    /// TCP_WINDOW_CLAMP; 0: unset.
    pub window_clamp: u32,
}

impl InheritedOptions {
    /// Whether any is set.
    #[inline]
    pub fn any(self) -> bool {
        (self.notsent_lowat | self.window_clamp) != 0
    }
}

impl<K: Copy + Eq> Listener<K> {
    /// A listener on `local` (address 0.0.0.0 for any) with a listen(2)
    /// `backlog`, capped by `somaxconn`.
    pub fn new(local: SocketAddrV4, backlog: usize, config: &Config) -> Self {
        Listener {
            local,
            backlog: backlog.min(config.somaxconn),
            half_open: 0,
            accept_queue: VecDeque::new(),
            fastopen_qlen: 0,
            fastopen_pending: 0,
            last_cookie: None,
            socket: SocketOptions::default(),
            reuse_port: false,
            ip: SocketIp::default(),
            inherited: InheritedOptions::default(),
            slab_generation: 0,
        }
    }

    /// SO_REUSEPORT (set when it listens).
    pub fn set_reuse_port(&mut self, on: bool) {
        self.reuse_port = on;
    }

    pub fn reuse_port(&self) -> bool {
        self.reuse_port
    }

    /// What a new child starts with.
    pub fn socket_options(&self) -> SocketOptions {
        self.socket
    }

    pub fn set_socket_options(&mut self, socket: SocketOptions) {
        self.socket = socket;
    }

    /// IP_TTL (0 if never set) and IP_TOS as set on the listening socket.
    pub fn ip(&self) -> SocketIp {
        self.ip
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.ip.ttl = ttl;
    }

    /// TCP_NOTSENT_LOWAT and TCP_WINDOW_CLAMP as set on the listening
    /// socket (0 if never set), which each child starts with.
    pub fn inherited(&self) -> InheritedOptions {
        self.inherited
    }

    pub fn set_notsent_lowat(&mut self, bytes: u32) {
        self.inherited.notsent_lowat = bytes;
    }

    pub fn set_window_clamp(&mut self, bytes: u32) {
        self.inherited.window_clamp = bytes;
    }

    /// IP_TOS: its DSCP bits (a stream socket's ECN field is TCP's).
    pub fn set_tos(&mut self, tos: u8) {
        self.ip.tos = tos & !ECN_MASK;
    }

    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    pub fn backlog(&self) -> usize {
        self.backlog
    }

    /// Half-open connections (the SYN queue's length).
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Connections waiting for `accept` (Recv-Q of a listener in `ss`).
    pub fn accept_queue_len(&self) -> usize {
        self.accept_queue.len()
    }

    /// Whether the accept queue has room for another connection. Linux
    /// holds one more than the backlog (`sk_acceptq_is_full` is
    /// `sk_ack_backlog > sk_max_ack_backlog`): listen(fd, 1) keeps two.
    pub fn can_accept_more(&self) -> bool {
        self.accept_queue.len() <= self.backlog
    }

    /// Sets the Fast Open pending cap (`TCP_FASTOPEN` qlen; 0 turns it off).
    pub fn set_fastopen_qlen(&mut self, qlen: usize) {
        self.fastopen_qlen = qlen;
    }

    pub fn fastopen_qlen(&self) -> usize {
        self.fastopen_qlen
    }

    /// Fast Open children not yet established.
    pub fn fastopen_pending(&self) -> usize {
        self.fastopen_pending
    }

    /// Whether another Fast Open child fits (RFC 7413 §5.1).
    pub fn fastopen_has_room(&self) -> bool {
        self.fastopen_pending < self.fastopen_qlen
    }

    /// A Fast Open child was made; it waits in the accept queue at once.
    /// Returns whether the accept queue was empty before.
    pub fn add_fastopen_child(&mut self, conn: K) -> bool {
        self.fastopen_pending += 1;
        let was_empty = self.accept_queue.is_empty();
        self.accept_queue.push_back(conn);
        was_empty
    }

    /// A Fast Open child left SYN-RECEIVED (established or gone).
    pub fn fastopen_done(&mut self) {
        self.fastopen_pending = self.fastopen_pending.saturating_sub(1);
    }

    /// Whether ACKs for this listener may be SYN-cookie ACKs: a cookie was
    /// sent in the last two minutes (Linux `tcp_synq_no_recent_overflow`).
    pub fn cookies_recent(&self, now: Instant, config: &Config) -> bool {
        config.tcp_syncookies != SynCookieMode::Never
            && self
                .last_cookie
                .is_some_and(|t| now.saturating_duration_since(t) < SYNCOOKIE_VALID)
    }

    /// RFC 9293 §3.10.7.2, in order: RST, then ACK, then SYN; RFC 4987
    /// §3.6 for SYNs when the SYN queue is full (`tcp_syncookies` 1) or
    /// always (2). Remembers when it chose a cookie.
    pub fn on_segment(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        config: &Config,
    ) -> ListenVerdict {
        let flags = seg.flags;
        if flags.rst() {
            return ListenVerdict::Drop(ListenDrop::Reset);
        }
        if seg.ack.is_some() {
            if !flags.syn() && self.cookies_recent(now, config) {
                return ListenVerdict::CheckCookie;
            }
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
        let full = self.half_open >= config.tcp_max_syn_backlog;
        let cookie = match config.tcp_syncookies {
            SynCookieMode::Always => true,
            SynCookieMode::Overflow => full,
            SynCookieMode::Never if full => return ListenVerdict::Drop(ListenDrop::SynQueueFull),
            SynCookieMode::Never => false,
        };
        if cookie {
            self.last_cookie = Some(now);
            return ListenVerdict::SynCookie;
        }
        ListenVerdict::Accept
    }

    /// A half-open connection was started (from a SYN, or from a cookie's
    /// ACK): it joins the SYN queue.
    pub fn add_half_open(&mut self) {
        self.half_open += 1;
    }

    /// A half-open connection ended before it was established.
    pub fn remove_half_open(&mut self) {
        debug_assert!(self.half_open > 0, "a half-open connection not counted");
        self.half_open = self.half_open.saturating_sub(1);
    }

    /// A half-open connection completed its handshake: it leaves the SYN
    /// queue and waits for `accept`. Returns whether the accept queue was
    /// empty before (the moment to tell the application).
    pub fn established(&mut self, conn: K) -> bool {
        self.remove_half_open();
        let was_empty = self.accept_queue.is_empty();
        self.accept_queue.push_back(conn);
        was_empty
    }

    /// A connection another member of its reuseport group queued, handed
    /// over when that member closed (`tcp_migrate_req`): it waits for
    /// `accept` here, at the back, whatever the backlog (as Linux's
    /// `inet_csk_reqsk_queue_add`). A Fast Open child still in SYN-RECEIVED
    /// (`fastopen`) counts against this listener's Fast Open queue now.
    /// Returns whether the accept queue was empty before.
    pub fn adopt(&mut self, conn: K, fastopen: bool) -> bool {
        if fastopen {
            self.fastopen_pending += 1;
        }
        let was_empty = self.accept_queue.is_empty();
        self.accept_queue.push_back(conn);
        was_empty
    }

    /// The oldest queued connection, for `accept`.
    pub fn accept(&mut self) -> Option<K> {
        self.accept_queue.pop_front()
    }

    /// A queued connection died before it was accepted.
    pub fn forget(&mut self, conn: K) {
        self.accept_queue.retain(|&k| k != conn);
    }

    /// Every connection waiting for `accept` (when the listener closes;
    /// the half-open ones are the stack's to find).
    pub fn drain_accept_queue(&mut self) -> impl Iterator<Item = K> + '_ {
        self.accept_queue.drain(..)
    }
}

/// An optional per-source SYN rate limit (synack's own,
/// `tcp_syn_source_ratelimit` SYNs per second and source address; RFC 4987
/// §3.1 lists filtering as a defence): a fixed table of token buckets
/// indexed by a keyed hash of the source, so a flood of spoofed sources
/// costs no memory and nobody can aim at a victim's bucket. Sources that
/// share a bucket share its limit.
#[derive(Clone, Debug)]
pub struct SynRateLimiter {
    rate: u32,
    buckets: Box<[SynBucket]>,
    hasher: KeyedHasher,
}

#[derive(Clone, Copy, Debug, Default)]
struct SynBucket {
    /// Credit in micro-SYNs (one SYN costs 1,000,000).
    credit: u64,
    last: Option<Instant>,
}

/// Buckets in a [`SynRateLimiter`] (16 KiB).
pub const SYN_RATE_BUCKETS: usize = 1024;

impl SynRateLimiter {
    /// `rate` SYNs per second per source, with a burst of as many; 0 turns
    /// the limit off (and allocates nothing).
    pub fn new(rate: u32, key: SipKey) -> Self {
        let buckets = if rate == 0 { 0 } else { SYN_RATE_BUCKETS };
        SynRateLimiter {
            rate,
            buckets: vec![SynBucket::default(); buckets].into_boxed_slice(),
            hasher: KeyedHasher::new(key),
        }
    }

    /// Whether a SYN from `src` may be handled now (taking a token).
    pub fn allow(&mut self, now: Instant, src: Ipv4Addr) -> bool {
        if self.rate == 0 || self.buckets.is_empty() {
            return true;
        }
        let index = (self.hasher.hash_one(src.to_bits()) % self.buckets.len() as u64) as usize;
        let cap = u64::from(self.rate) * 1_000_000;
        let b = &mut self.buckets[index];
        let credit = match b.last {
            // Refill at `rate` SYNs per second: `rate` micro-SYNs per µs.
            Some(last) => b.credit.saturating_add(
                now.saturating_duration_since(last)
                    .total_micros()
                    .saturating_mul(u64::from(self.rate)),
            ),
            None => cap,
        }
        .min(cap);
        b.last = Some(now);
        if credit >= 1_000_000 {
            b.credit = credit - 1_000_000;
            true
        } else {
            b.credit = credit;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeqNum;
    use crate::wire::tcp::{TcpFlags, TcpOptions};

    const T: Instant = Instant::from_secs(1);

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

    fn config(mode: SynCookieMode, syn_backlog: usize) -> Config {
        Config {
            tcp_syncookies: mode,
            tcp_max_syn_backlog: syn_backlog,
            ..Config::default()
        }
    }

    #[test]
    fn resets_are_ignored_acks_reset_syns_accepted() {
        let mut l = listener(8);
        let config = Config::default();
        let mut v = |s| l.on_segment(T, &s, &config);
        assert_eq!(
            v(seg(TcpFlags::RST, None)),
            ListenVerdict::Drop(ListenDrop::Reset)
        );
        assert_eq!(
            v(seg(TcpFlags::RST | TcpFlags::ACK, Some(5))),
            ListenVerdict::Drop(ListenDrop::Reset)
        );
        assert_eq!(v(seg(TcpFlags::ACK, Some(5))), ListenVerdict::Reset);
        assert_eq!(
            v(seg(TcpFlags::SYN | TcpFlags::ACK, Some(5))),
            ListenVerdict::Reset,
            "a SYN-ACK to a listener is an ACK-bearing segment"
        );
        assert_eq!(v(seg(TcpFlags::SYN, None)), ListenVerdict::Accept);
        assert_eq!(
            v(seg(TcpFlags::SYN | TcpFlags::FIN, None)),
            ListenVerdict::Drop(ListenDrop::SynFin)
        );
        assert_eq!(
            v(seg(TcpFlags::FIN, None)),
            ListenVerdict::Drop(ListenDrop::NotSyn)
        );
    }

    #[test]
    fn the_syn_queue_is_bounded_by_tcp_max_syn_backlog_without_cookies() {
        let config = config(SynCookieMode::Never, 2);
        let mut l = listener(8);
        l.add_half_open();
        l.add_half_open();
        assert_eq!(l.half_open(), 2);
        assert_eq!(
            l.on_segment(T, &seg(TcpFlags::SYN, None), &config),
            ListenVerdict::Drop(ListenDrop::SynQueueFull)
        );
        l.remove_half_open();
        assert_eq!(
            l.on_segment(T, &seg(TcpFlags::SYN, None), &config),
            ListenVerdict::Accept
        );
        // Cookies off: an ACK is never taken for one.
        assert_eq!(
            l.on_segment(T, &seg(TcpFlags::ACK, Some(9)), &config),
            ListenVerdict::Reset
        );
    }

    #[test]
    fn a_full_syn_queue_turns_to_cookies_in_mode_1_and_mode_2_always_does() {
        let one = config(SynCookieMode::Overflow, 1);
        let mut l = listener(8);
        let ack = seg(TcpFlags::ACK, Some(9));
        assert_eq!(
            l.on_segment(T, &ack, &one),
            ListenVerdict::Reset,
            "no cookie sent yet"
        );
        l.add_half_open();
        assert_eq!(
            l.on_segment(T, &seg(TcpFlags::SYN, None), &one),
            ListenVerdict::SynCookie
        );
        assert_eq!(l.on_segment(T, &ack, &one), ListenVerdict::CheckCookie);
        // Two minutes after the last cookie, ACKs are plain ACKs again.
        let later = T + SYNCOOKIE_VALID;
        assert_eq!(l.on_segment(later, &ack, &one), ListenVerdict::Reset);
        let two = config(SynCookieMode::Always, 1024);
        let mut l = listener(8);
        assert_eq!(
            l.on_segment(T, &seg(TcpFlags::SYN, None), &two),
            ListenVerdict::SynCookie
        );
        assert_eq!(l.half_open(), 0, "no state for a cookie");
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
        // Linux holds backlog + 1.
        for k in [7, 8, 9] {
            assert!(l.can_accept_more());
            l.add_half_open();
            l.established(k);
        }
        assert!(!l.can_accept_more());
        assert_eq!(
            l.on_segment(T, &seg(TcpFlags::SYN, None), &config),
            ListenVerdict::Drop(ListenDrop::AcceptQueueFull)
        );
        l.forget(7);
        assert_eq!(l.accept(), Some(8));
        assert_eq!(l.accept(), Some(9));
        assert_eq!(l.accept(), None);
        assert_eq!(l.half_open(), 0);
    }

    #[test]
    fn the_syn_queue_counts_half_open_connections_until_established() {
        let mut l = listener(8);
        l.add_half_open();
        l.add_half_open();
        assert!(l.established(99), "the accept queue was empty");
        assert_eq!(l.half_open(), 1);
        assert!(!l.established(98));
        assert_eq!(l.half_open(), 0);
        let drained: Vec<u32> = l.drain_accept_queue().collect();
        assert_eq!(drained, [99, 98]);
        assert_eq!(l.accept_queue_len(), 0);
    }

    #[test]
    fn fast_open_children_are_capped_and_queued_at_once() {
        let mut l = listener(8);
        assert!(!l.fastopen_has_room(), "off by default");
        l.set_fastopen_qlen(1);
        assert!(l.fastopen_has_room());
        assert!(l.add_fastopen_child(5));
        assert!(!l.fastopen_has_room());
        assert_eq!(l.accept_queue_len(), 1);
        l.fastopen_done();
        assert!(l.fastopen_has_room());
    }

    #[test]
    fn the_syn_rate_limit_is_per_source_with_a_burst() {
        let mut r = SynRateLimiter::new(2, SipKey([3; 16]));
        let a = Ipv4Addr::new(198, 51, 100, 1);
        let b = Ipv4Addr::new(203, 0, 113, 9);
        assert!(r.allow(T, a) && r.allow(T, a));
        assert!(!r.allow(T, a), "a burst of 2");
        assert!(r.allow(T, b), "another source has its own bucket");
        assert!(r.allow(T + Duration::from_millis(500), a), "2 per second");
        assert!(!r.allow(T + Duration::from_millis(500), a));
        let mut off = SynRateLimiter::new(0, SipKey([3; 16]));
        assert!((0..1000).all(|_| off.allow(T, a)));
    }
}
