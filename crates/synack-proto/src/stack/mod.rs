//! The `Stack`: the one object a driver talks to (DESIGN.md §2).
//!
//! Read first: DESIGN.md §2 (the sans-IO contract) and §4 (demux, timers,
//! caps), RFC 9293 §3.10.7.1 (segments for no connection), RFC 1122 §3.2.1
//! (what a host checks in an IP header).
//!
//! This stack is minimal: one interface on an IP medium (frames are
//! bare IPv4 packets), TCP only. It owns:
//! - connections in a slab with generational handles, found by 4-tuple
//!   through a SipHash-keyed map (hash flooding resistant);
//! - listeners by local address and port (0.0.0.0 matches any);
//! - compact TIME-WAIT entries for orphaned connections, capped by
//!   `tcp_max_tw_buckets`;
//! - one timer queue holding each connection's next deadline;
//! - a queue of connections that may have output, so `poll_transmit` never
//!   scans all connections, and a bounded queue of control segments (resets
//!   for segments to no connection, TIME-WAIT ACKs);
//! - the events for the application, the MIB counters, the RNG and the
//!   secrets drawn from it (ISN, ephemeral ports, demux hash, timestamps).
//!
//! Call order, after any input or command: `poll_transmit` until `None`,
//! then `poll_event` until `None`, then `poll_timeout`.

mod api;
#[doc(hidden)]
pub mod fuzz;
pub mod slab;
mod types;

pub use types::{
    AcceptError, ConnHandle, ConnectError, ConnectOptions, Direction, Event, Interface,
    ListenError, ListenerHandle, Medium, SegmentSummary, SocketId, SocketSummary, Trace,
};

use core::hash::Hasher;
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::{HashMap, VecDeque};

use self::slab::{Key, Slab};
use crate::config::Config;
use crate::siphash::{SipBuildHasher, SipKey};
use crate::stats::Stats;
use crate::tcp::conn::{
    ConnEvent, ConnParams, Connection, ControlSegment, Disposition, Env, SocketOptions, TimeWait,
    TimeWaitVerdict,
};
use crate::tcp::isn::IsnGenerator;
use crate::tcp::listener::{ListenDrop, ListenVerdict, Listener};
use crate::tcp::ports::{DEFAULT_TABLE_SIZE, EphemeralPorts};
use crate::tcp::state::TcpState;
use crate::tcp::timer::TimerQueue;
use crate::time::Instant;
use crate::wire::ipv4::{HEADER_LEN as IP_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::tcp::{TcpOptions, TcpPacket, TcpRepr};
use crate::wire::{Checksum, WireError};
use crate::{Rng, SeqNum};

/// Most control segments (resets, TIME-WAIT ACKs) waiting to be sent; more
/// are dropped rather than queued without bound.
pub const MAX_PENDING_CONTROL: usize = 1024;

/// The smallest buffer `poll_transmit` writes into: IP and TCP headers with
/// options and at least one byte of data.
pub const MIN_TRANSMIT_BUFFER: usize = IP_HEADER_LEN + 60 + 1;

/// A connection's 4-tuple, from our point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FourTuple {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
}

/// What a 4-tuple leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Demux {
    Conn(Key),
    TimeWait(Key),
}

/// The stack's timers: one per connection and per TIME-WAIT entry, keyed by
/// slab index (removed entries cancel theirs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TimerKey {
    Conn(u32),
    TimeWait(u32),
}

/// Who holds a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// The application, through a [`ConnHandle`].
    App,
    /// A listener: half-open, in its SYN queue.
    HalfOpen(Key),
    /// A listener: established, in its accept queue.
    Queued(Key),
    /// Nobody: the application closed it and the stack finishes the close.
    Orphan,
}

struct ConnEntry {
    conn: Connection,
    owner: Owner,
    /// In the `ready` queue.
    queued: bool,
}

struct TimeWaitEntry {
    tuple: FourTuple,
    tw: TimeWait,
}

/// A userspace TCP/IP stack, sans-IO. See the module documentation.
pub struct Stack {
    iface: Interface,
    env: Env,
    isn: IsnGenerator,
    ports: EphemeralPorts,
    ts_key: SipKey,
    conns: Slab<ConnEntry>,
    listeners: Slab<Listener<Key>>,
    listen_map: HashMap<SocketAddrV4, Key>,
    time_wait: Slab<TimeWaitEntry>,
    demux: HashMap<FourTuple, Demux, SipBuildHasher>,
    timers: TimerQueue<TimerKey>,
    next_deadline: Option<Instant>,
    ready: VecDeque<Key>,
    control: VecDeque<ControlSegment>,
    events: VecDeque<Event>,
    ip_ident: u16,
    trace: Trace,
    /// The latest `now` any entry point was given (for getters).
    now: Instant,
}

impl core::fmt::Debug for Stack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stack")
            .field("iface", &self.iface)
            .field("connections", &self.conns.len())
            .field("listeners", &self.listeners.len())
            .field("time_wait", &self.time_wait.len())
            .field("next_deadline", &self.next_deadline)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// A stack with one interface. Every secret is drawn from an RNG seeded
    /// with `config.seed`, so a run replays exactly.
    pub fn new(config: Config, iface: Interface) -> Stack {
        let mut rng = Rng::from_seed(config.seed);
        let isn = IsnGenerator::new(SipKey(rng.key128()));
        let (lo, hi) = config.ip_local_port_range;
        let ports = EphemeralPorts::new(lo..=hi, SipKey(rng.key128()), DEFAULT_TABLE_SIZE);
        let demux_key = SipKey(rng.key128());
        let ts_key = SipKey(rng.key128());
        Stack {
            iface,
            env: Env::new(config),
            isn,
            ports,
            ts_key,
            conns: Slab::new(),
            listeners: Slab::new(),
            listen_map: HashMap::new(),
            time_wait: Slab::new(),
            demux: HashMap::with_hasher(SipBuildHasher(demux_key)),
            timers: TimerQueue::new(),
            next_deadline: None,
            ready: VecDeque::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            ip_ident: 0,
            trace: Trace::default(),
            now: Instant::ZERO,
        }
    }

    /// The interface.
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    pub fn config(&self) -> &Config {
        &self.env.config
    }

    /// Counters named like Linux's MIB counters.
    pub fn stats(&self) -> &Stats {
        &self.env.stats
    }

    /// Turns tracing events on or off.
    pub fn set_trace(&mut self, trace: Trace) {
        self.trace = trace;
    }

    // ---- inputs ------------------------------------------------------------

    /// A frame arrived (an IPv4 packet on an IP medium). Anything malformed
    /// is dropped and counted; nothing from the wire panics.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        self.advance(now);
        self.env.stats.ip.in_receives += 1;
        let packet = match Ipv4Packet::new_checked(frame) {
            Ok(p) => p,
            Err(e) => return self.count_ip_error(e),
        };
        let ip = match Ipv4Repr::parse(&packet, Checksum::Full) {
            Ok(ip) => ip,
            Err(e) => return self.count_ip_error(e),
        };
        if ip.dst_addr != self.iface.addr {
            self.env.stats.ip.in_addr_errors += 1;
            return;
        }
        if ip.is_fragment() {
            // Reassembly arrives with the next issue.
            self.env.stats.ip.reasm_fails += 1;
            self.env.stats.ip.in_discards += 1;
            return;
        }
        if ip.protocol != IpProtocol::Tcp {
            self.env.stats.ip.in_unknown_protos += 1;
            return;
        }
        self.env.stats.ip.in_delivers += 1;
        self.handle_tcp(ip.src_addr, ip.dst_addr, packet.payload());
        self.refresh_deadline();
    }

    fn count_ip_error(&mut self, e: WireError) {
        match e {
            WireError::Truncated => self.env.stats.ip.in_truncated_pkts += 1,
            _ => self.env.stats.ip.in_hdr_errors += 1,
        }
    }

    fn handle_tcp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) {
        self.env.stats.tcp.in_segs += 1;
        let seg = match TcpPacket::new_checked(bytes)
            .and_then(|p| TcpRepr::parse(&p, src, dst, Checksum::Full))
        {
            Ok(seg) => seg,
            Err(e) => {
                if e == WireError::BadChecksum {
                    self.env.stats.tcp.in_csum_errors += 1;
                }
                self.env.stats.tcp.in_errs += 1;
                return;
            }
        };
        let tuple = FourTuple {
            local: SocketAddrV4::new(dst, seg.dst_port),
            remote: SocketAddrV4::new(src, seg.src_port),
        };
        if self.trace.segments {
            self.trace_segment(Direction::In, &tuple, &seg);
        }
        match self.demux.get(&tuple).copied() {
            Some(Demux::Conn(key)) => self.deliver(key, &tuple, &seg),
            Some(Demux::TimeWait(key)) => self.deliver_time_wait(key, &tuple, &seg),
            None => self.deliver_unconnected(&tuple, &seg, None),
        }
    }

    /// A segment for a connection.
    fn deliver(&mut self, key: Key, tuple: &FourTuple, seg: &TcpRepr<'_>) {
        let now = self.now;
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        // A listener's half-open connection completing while the accept
        // queue is full: drop the ACK; the SYN-ACK will be retransmitted
        // (Linux with tcp_abort_on_overflow = 0).
        if let Owner::HalfOpen(l) = entry.owner {
            let completing = entry.conn.state() == TcpState::SynReceived
                && seg.ack.is_some()
                && !seg.flags.rst()
                && !seg.flags.syn();
            if completing && !self.listeners.get(l).is_some_and(|l| l.can_accept_more()) {
                self.env.stats.tcp_ext.listen_overflows += 1;
                self.env.stats.tcp_ext.listen_drops += 1;
                return;
            }
        }
        let disposition = entry.conn.handle_segment(now, seg, &mut self.env);
        if let Disposition::Reincarnate { iss } = disposition {
            // RFC 6191 for a TIME-WAIT connection the application still holds.
            entry.conn.end_time_wait(now, &mut self.env);
            self.after_conn(key);
            self.demux.remove(tuple);
            self.env.stats.tcp_ext.tw_recycled += 1;
            return self.deliver_unconnected(tuple, seg, Some(iss));
        }
        self.after_conn(key);
    }

    /// A segment for a compact TIME-WAIT entry.
    fn deliver_time_wait(&mut self, key: Key, tuple: &FourTuple, seg: &TcpRepr<'_>) {
        let now = self.now;
        let Some(entry) = self.time_wait.get_mut(key) else {
            return;
        };
        let verdict = entry
            .tw
            .handle_segment(now, seg, &self.env.config, &mut self.env.stats);
        let expires = entry.tw.expires;
        match verdict {
            TimeWaitVerdict::Ignore | TimeWaitVerdict::AckRateLimited => {
                self.timers.schedule(TimerKey::TimeWait(key.index), expires);
            }
            TimeWaitVerdict::Ack => {
                let ack = entry.tw.ack_segment(now, tuple.local, tuple.remote);
                self.timers.schedule(TimerKey::TimeWait(key.index), expires);
                self.queue_control(ack);
            }
            TimeWaitVerdict::NewSyn { iss } => {
                self.env.stats.tcp_ext.tw_recycled += 1;
                self.remove_time_wait(key, false);
                self.deliver_unconnected(tuple, seg, Some(iss));
            }
            TimeWaitVerdict::Kill => self.remove_time_wait(key, false),
        }
    }

    /// A segment for no connection: a listener's, or a reset.
    fn deliver_unconnected(&mut self, tuple: &FourTuple, seg: &TcpRepr<'_>, iss: Option<SeqNum>) {
        let listener = self
            .listen_map
            .get(&tuple.local)
            .or_else(|| {
                self.listen_map.get(&SocketAddrV4::new(
                    Ipv4Addr::UNSPECIFIED,
                    tuple.local.port(),
                ))
            })
            .copied();
        let Some(l) = listener else {
            // RFC 9293 §3.10.7.1 (CLOSED): reset anything but a reset.
            if let Some(rst) = ControlSegment::reset_for(tuple.local, tuple.remote, seg) {
                self.queue_control(rst);
            }
            return;
        };
        let Some(listener) = self.listeners.get(l) else {
            return;
        };
        match listener.on_segment(seg, &self.env.config) {
            ListenVerdict::Accept => self.open_passive(l, tuple, seg, iss),
            ListenVerdict::Reset => {
                if let Some(rst) = ControlSegment::reset_for(tuple.local, tuple.remote, seg) {
                    self.queue_control(rst);
                }
            }
            ListenVerdict::Drop(why) => {
                if matches!(why, ListenDrop::SynQueueFull | ListenDrop::AcceptQueueFull) {
                    self.env.stats.tcp_ext.listen_drops += 1;
                }
                if why == ListenDrop::AcceptQueueFull {
                    self.env.stats.tcp_ext.listen_overflows += 1;
                }
            }
        }
    }

    /// A listener accepted a SYN: a half-open connection in SYN-RECEIVED.
    fn open_passive(&mut self, l: Key, tuple: &FourTuple, syn: &TcpRepr<'_>, iss: Option<SeqNum>) {
        let now = self.now;
        let iss = iss.unwrap_or_else(|| self.isn.isn(now, tuple.local, tuple.remote));
        let params = ConnParams {
            iss,
            ts_offset: self.ts_offset(tuple),
            socket: SocketOptions::default(),
        };
        let conn =
            Connection::accept_syn(now, tuple.local, tuple.remote, syn, &params, &mut self.env);
        let key = self.conns.insert(ConnEntry {
            conn,
            owner: Owner::HalfOpen(l),
            queued: false,
        });
        if let Some(listener) = self.listeners.get_mut(l) {
            listener.add_half_open();
        }
        self.demux.insert(*tuple, Demux::Conn(key));
        self.after_conn(key);
    }

    /// RFC 7323 §7.1 as Linux does it (`secure_tcp_ts_off`): a timestamp
    /// offset per address pair, keyed so it reveals nothing.
    fn ts_offset(&self, tuple: &FourTuple) -> u32 {
        let mut h = self.ts_key.hasher();
        h.write(&tuple.local.ip().octets());
        h.write(&tuple.remote.ip().octets());
        h.finish() as u32
    }

    /// Time moves; timers at or before `now` fire.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some(key) = self.timers.pop_expired(now) {
            match key {
                TimerKey::Conn(index) => {
                    let Some((key, entry)) = self.conns.get_index_mut(index) else {
                        continue;
                    };
                    entry.conn.handle_timeout(now, &mut self.env);
                    self.after_conn(key);
                }
                TimerKey::TimeWait(index) => {
                    let Some((key, entry)) = self.time_wait.get_index_mut(index) else {
                        continue;
                    };
                    if entry.tw.expires <= now {
                        self.env.stats.tcp_ext.tw += 1;
                        self.remove_time_wait(key, true);
                    } else {
                        let expires = entry.tw.expires;
                        self.timers.schedule(TimerKey::TimeWait(index), expires);
                    }
                }
            }
        }
        self.refresh_deadline();
    }

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    // ---- outputs -------------------------------------------------------------

    /// Writes the next packet to send into the front of `buf` (which must
    /// hold an MTU-sized packet; at least [`MIN_TRANSMIT_BUFFER`]) and
    /// returns its length. Call until `None` after every input.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.advance(now);
        if buf.len() < MIN_TRANSMIT_BUFFER {
            return None;
        }
        let written = self.transmit(buf);
        self.refresh_deadline();
        written
    }

    fn transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        let now = self.now;
        let (ip_buf, tcp_buf) = buf.split_at_mut(IP_HEADER_LEN);
        loop {
            if let Some(ctl) = self.control.pop_front() {
                let Ok(n) = ctl.write(tcp_buf) else {
                    continue;
                };
                self.env.stats.tcp.out_segs += 1;
                if ctl.flags.rst() {
                    self.env.stats.tcp.out_rsts += 1;
                }
                return Some(self.finish_packet(ip_buf, tcp_buf, n, *ctl.remote.ip()));
            }
            let key = *self.ready.front()?;
            let Some(entry) = self.conns.get_mut(key) else {
                self.ready.pop_front();
                continue;
            };
            match entry.conn.poll_transmit(now, tcp_buf, &mut self.env) {
                Some(n) => {
                    let remote = *entry.conn.remote().ip();
                    self.reschedule(key);
                    return Some(self.finish_packet(ip_buf, tcp_buf, n, remote));
                }
                None => {
                    entry.queued = false;
                    self.ready.pop_front();
                    self.reschedule(key);
                    self.retire_if_done(key);
                }
            }
        }
    }

    /// Writes the IP header in front of a TCP segment of `tcp_len` bytes.
    fn finish_packet(
        &mut self,
        ip_buf: &mut [u8],
        tcp_buf: &[u8],
        tcp_len: usize,
        dst: Ipv4Addr,
    ) -> usize {
        let repr = Ipv4Repr {
            src_addr: self.iface.addr,
            dst_addr: dst,
            protocol: IpProtocol::Tcp,
            // A segment is at most 60 + MSS bytes, far below 65515.
            payload_len: u16::try_from(tcp_len).unwrap_or(u16::MAX),
            ttl: self.env.config.ip_default_ttl,
            dscp_ecn: 0,
            ident: self.ip_ident,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        self.ip_ident = self.ip_ident.wrapping_add(1);
        // The header checksum covers the 20 header bytes only.
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut *ip_buf), Checksum::Full);
        self.env.stats.ip.out_requests += 1;
        if self.trace.segments {
            if let Ok(packet) = TcpPacket::new_checked(&tcp_buf[..tcp_len]) {
                let tuple = FourTuple {
                    local: SocketAddrV4::new(self.iface.addr, packet.src_port()),
                    remote: SocketAddrV4::new(dst, packet.dst_port()),
                };
                if let Ok(seg) = TcpRepr::parse(&packet, self.iface.addr, dst, Checksum::Offload) {
                    self.trace_segment(Direction::Out, &tuple, &seg);
                }
            }
        }
        IP_HEADER_LEN + tcp_len
    }

    fn trace_segment(&mut self, dir: Direction, tuple: &FourTuple, seg: &TcpRepr<'_>) {
        self.events.push_back(Event::Segment {
            dir,
            at: self.now,
            segment: SegmentSummary {
                local: tuple.local,
                remote: tuple.remote,
                seq: seg.seq,
                ack: seg.ack,
                flags: seg.flags,
                window: seg.window,
                len: seg.payload.len() as u32,
                options: TcpOptions {
                    sack_blocks: seg.options.sack_blocks,
                    ..seg.options
                },
            },
        });
    }

    /// When `handle_timeout` is next needed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn refresh_deadline(&mut self) {
        self.next_deadline = self.timers.next_deadline();
    }

    fn queue_control(&mut self, segment: ControlSegment) {
        if self.control.len() < MAX_PENDING_CONTROL {
            self.control.push_back(segment);
        }
    }

    // ---- bookkeeping after a connection ran -------------------------------------

    /// After any call into a connection: turn its events into the
    /// application's, keep the listener's queues right, queue it for output
    /// and reschedule its timer.
    fn after_conn(&mut self, key: Key) {
        let now = self.now;
        let Some(entry) = self.conns.get_mut(key) else {
            self.env.events.clear();
            return;
        };
        let handle = ConnHandle(key);
        let (local, remote) = (entry.conn.local(), entry.conn.remote());
        for event in self.env.events.drain(..) {
            match event {
                ConnEvent::StateChanged { from, to } => {
                    if self.trace.states {
                        self.events.push_back(Event::StateChanged {
                            conn: Some(handle),
                            local,
                            remote,
                            from,
                            to,
                            at: now,
                        });
                    }
                    let opened = matches!(from, TcpState::SynSent | TcpState::SynReceived)
                        && to.is_synchronized();
                    if opened {
                        match entry.owner {
                            Owner::App => self.events.push_back(Event::Connected(handle)),
                            Owner::HalfOpen(l) => {
                                entry.owner = Owner::Queued(l);
                                if let Some(listener) = self.listeners.get_mut(l) {
                                    if listener.established(key) {
                                        self.events
                                            .push_back(Event::AcceptReady(ListenerHandle(l)));
                                    }
                                }
                            }
                            Owner::Queued(_) | Owner::Orphan => {}
                        }
                    }
                    if to == TcpState::Closed {
                        match entry.owner {
                            Owner::HalfOpen(l) => {
                                if let Some(listener) = self.listeners.get_mut(l) {
                                    listener.remove_half_open();
                                }
                            }
                            Owner::Queued(l) => {
                                if let Some(listener) = self.listeners.get_mut(l) {
                                    listener.forget(key);
                                }
                            }
                            Owner::App | Owner::Orphan => {}
                        }
                    }
                }
                _ if entry.owner != Owner::App => {}
                ConnEvent::Readable => self.events.push_back(Event::Readable(handle)),
                ConnEvent::Writable => self.events.push_back(Event::Writable(handle)),
                ConnEvent::PeerClosed => self.events.push_back(Event::PeerClosed(handle)),
                ConnEvent::Closed(reason) => self.events.push_back(Event::Closed {
                    conn: handle,
                    reason,
                }),
            }
        }
        if entry.conn.state() == TcpState::Closed {
            let tuple = FourTuple { local, remote };
            if self.demux.get(&tuple) == Some(&Demux::Conn(key)) {
                self.demux.remove(&tuple);
            }
        }
        if !entry.queued {
            entry.queued = true;
            self.ready.push_back(key);
        }
        self.reschedule(key);
    }

    fn reschedule(&mut self, key: Key) {
        let timer = TimerKey::Conn(key.index);
        match self.conns.get(key).and_then(|e| e.conn.poll_timeout()) {
            Some(at) => self.timers.schedule(timer, at),
            None => {
                self.timers.cancel(timer);
            }
        }
    }

    /// Once a connection has sent everything: an orphan in TIME-WAIT moves
    /// to the compact table; a closed connection nobody holds is deleted.
    fn retire_if_done(&mut self, key: Key) {
        let Some(entry) = self.conns.get(key) else {
            return;
        };
        let state = entry.conn.state();
        match (state, entry.owner) {
            (TcpState::TimeWait, Owner::Orphan) => self.move_to_time_wait(key),
            (TcpState::Closed, Owner::App) => {}
            (TcpState::Closed, _) => self.remove_conn(key),
            _ => {}
        }
    }

    fn move_to_time_wait(&mut self, key: Key) {
        let Some(entry) = self.conns.get(key) else {
            return;
        };
        let tuple = FourTuple {
            local: entry.conn.local(),
            remote: entry.conn.remote(),
        };
        let Some(tw) = entry.conn.time_wait_entry() else {
            return;
        };
        self.remove_conn(key);
        if self.time_wait.len() >= self.env.config.tcp_max_tw_buckets {
            // Linux: no TIME-WAIT socket, the connection just goes.
            self.env.stats.tcp_ext.tcp_time_wait_overflow += 1;
            self.trace_state(None, tuple, TcpState::TimeWait, TcpState::Closed);
            return;
        }
        let tw_key = self.time_wait.insert(TimeWaitEntry { tuple, tw });
        self.demux.insert(tuple, Demux::TimeWait(tw_key));
        self.timers
            .schedule(TimerKey::TimeWait(tw_key.index), tw.expires);
    }

    fn remove_time_wait(&mut self, key: Key, expired: bool) {
        let Some(entry) = self.time_wait.remove(key) else {
            return;
        };
        self.timers.cancel(TimerKey::TimeWait(key.index));
        if self.demux.get(&entry.tuple) == Some(&Demux::TimeWait(key)) {
            self.demux.remove(&entry.tuple);
        }
        let _ = expired;
        self.trace_state(None, entry.tuple, TcpState::TimeWait, TcpState::Closed);
    }

    fn remove_conn(&mut self, key: Key) {
        let Some(entry) = self.conns.remove(key) else {
            return;
        };
        self.timers.cancel(TimerKey::Conn(key.index));
        let tuple = FourTuple {
            local: entry.conn.local(),
            remote: entry.conn.remote(),
        };
        if self.demux.get(&tuple) == Some(&Demux::Conn(key)) {
            self.demux.remove(&tuple);
        }
    }

    fn trace_state(
        &mut self,
        conn: Option<ConnHandle>,
        tuple: FourTuple,
        from: TcpState,
        to: TcpState,
    ) {
        if self.trace.states {
            self.events.push_back(Event::StateChanged {
                conn,
                local: tuple.local,
                remote: tuple.remote,
                from,
                to,
                at: self.now,
            });
        }
    }

    /// Connections and TIME-WAIT entries (for tests and `ss -s`).
    pub fn connection_count(&self) -> (usize, usize) {
        (self.conns.len(), self.time_wait.len())
    }
}

#[cfg(test)]
mod tests;
