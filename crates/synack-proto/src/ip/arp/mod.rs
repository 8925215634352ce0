//! The ARP cache of one Ethernet interface: resolution with retries, expiry,
//! a bounded queue of packets per unresolved next hop, and ARP messages.
//!
//! Read before touching: RFC 826 (the packet and the merge rule, "Packet
//! Reception"), RFC 1122 §2.3.2.1 (flooding prevention: at most one request
//! per second per address; cache validation by timeout and unicast probes)
//! and §2.3.2.2 (queue at least one packet per unresolved address, drop the
//! oldest), RFC 5227 §2.1.1 and §3 (probes with sender 0.0.0.0; gratuitous
//! announcements), RFC 1812 §3.3.2 (never learn broadcast or multicast
//! hardware addresses).
//!
//! An entry moves through Linux's neighbour states (net/core/neighbour.c
//! `neigh_timer_handler`, `__neigh_event_send`, `neigh_update`):
//!
//! ```text
//!  (none) --send--> INCOMPLETE --reply--> REACHABLE --timeout--> STALE --timeout--> (none)
//!                      |  broadcast request   ^  ^  (unless confirmed   | used
//!                      |  every retrans_time, |  |   within reachable)  v
//!                      |  mcast_solicit times |  +--confirmed within-- DELAY
//!                      v                      |     delay_first_probe   | not confirmed
//!                 (none) + Unreachable event  +--------- reply ------- PROBE (unicast requests,
//!                                                                         ucast_solicit times)
//!                                                                         | no reply
//!                                                                         v  (none)
//! ```
//!
//! A confirmation is proof that the neighbour hears us: an ARP reply sent to
//! our own hardware address, or an upper layer's word (`confirm` of
//! [`ArpCache::resolve_or_queue`]: TCP's forward progress, as Linux's
//! `sk_dst_confirm` and `neigh_confirm`). An entry confirmed within its
//! reachable time stays REACHABLE, so a connection that keeps making
//! progress never makes its neighbour probed. A request, or a reply to the
//! broadcast address, proves nothing ("Broadcast replies and request
//! packets do not assert neighbour reachability", Linux `arp_process`): it
//! makes or updates a STALE entry, and leaves a valid entry with the same
//! address as it was.
//!
//! A STALE, DELAY or PROBE entry is still used to send (its address was
//! right a moment ago); using a STALE entry starts DELAY, whose end without
//! a confirmation starts the unicast probes (RFC 1122 §2.3.2.1). Permanent
//! entries never change.
//!
//! The cache performs no I/O: it says which requests to send
//! ([`ArpCache::poll_request`]), which queued packets are ready
//! ([`ArpCache::poll_queued`]) and which addresses failed
//! ([`ArpCache::poll_event`]).

use core::net::Ipv4Addr;
use std::collections::{HashMap, VecDeque};

use super::KeyedHasher;
use super::stats::mib;
use crate::config::Config;
use crate::siphash::SipKey;
use crate::tcp::timer::{HashSlots, TimerQueue};
use crate::time::{Duration, Instant};
use crate::wire::arp::{ArpOperation, ArpRepr};
use crate::wire::ethernet::EthernetAddress;

mib! {
    /// ARP cache counters, named like the columns of Linux's
    /// `/proc/net/stat/arp_cache`.
    pub struct ArpStats in "arp_cache" {
        /// Entries created.
        allocs => "allocs",
        /// Entries removed (expired, failed, evicted).
        destroys => "destroys",
        /// Lookups for sending.
        lookups => "lookups",
        /// Lookups that found an address.
        hits => "hits",
        /// Resolutions (or re-validations) that got no answer.
        res_failed => "res_failed",
        /// Packets dropped while waiting for an address (queue overflow,
        /// failed resolution, eviction).
        unresolved_discards => "unresolved_discards",
        /// Entries evicted because the cache was full.
        forced_gc_runs => "forced_gc_runs",
        /// Requests for our addresses received.
        rcv_probes_mcast => "rcv_probes_mcast",
    }
}

/// The cache's settings; [`ArpConfig::from_config`] takes them from `Config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpConfig {
    /// How long an answer is trusted (`arp_cache_timeout`); a stale entry is
    /// forgotten after as long again unless it is used.
    pub reachable_time: Duration,
    /// Interval between requests for one address (`arp_retrans_time`; RFC
    /// 1122 §2.3.2.1 asks for at most one per second).
    pub retrans_time: Duration,
    /// Broadcast requests before the address is unreachable (`arp_mcast_solicit`).
    pub mcast_solicit: u8,
    /// Unicast probes of a stale entry before it is dropped (`arp_ucast_solicit`).
    pub ucast_solicit: u8,
    /// How long a stale entry in use waits for a confirmation before it is
    /// probed (`arp_delay_first_probe_time`).
    pub delay_first_probe: Duration,
    /// How long after its last change an entry keeps its address against
    /// another one (`arp_locktime`).
    pub locktime: Duration,
    /// Packets queued per unresolved address (`arp_unres_qlen`).
    pub unres_qlen: usize,
    /// Most entries (`arp_gc_thresh3`); the oldest goes to make room.
    pub max_entries: usize,
    /// Most packets queued across all addresses: 4 x `unres_qlen` (synack's
    /// own cap: Linux bounds each queue, not their sum, so a flood towards
    /// many unresolvable on-link addresses costs it more memory).
    pub max_queued: usize,
}

impl ArpConfig {
    pub fn from_config(config: &Config) -> Self {
        ArpConfig {
            reachable_time: config.arp_cache_timeout,
            retrans_time: config.arp_retrans_time,
            mcast_solicit: config.arp_mcast_solicit.max(1),
            ucast_solicit: config.arp_ucast_solicit,
            delay_first_probe: config.arp_delay_first_probe_time,
            locktime: config.arp_locktime,
            unres_qlen: config.arp_unres_qlen,
            max_entries: config.arp_gc_thresh3.max(1),
            max_queued: config.arp_unres_qlen.saturating_mul(4),
        }
    }
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig::from_config(&Config::default())
    }
}

/// What [`ArpCache::lookup`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpLookup {
    /// Send to this address.
    Hit(EthernetAddress),
    /// Resolution is under way.
    Pending,
    /// Unknown.
    Miss,
}

/// What [`ArpCache::resolve_or_queue`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The address is known: send the packet now, to this address.
    Ready(EthernetAddress),
    /// The packet waits for the address; [`ArpCache::poll_queued`] hands it
    /// back when it is known.
    Queued,
    /// Not queued: every queue slot is taken (counted in
    /// `unresolved_discards`). The packet is lost, as if on the wire.
    Dropped,
}

/// What an incoming ARP packet changed (RFC 826 "Packet Reception").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpUpdate {
    /// The sender is unusable: 0.0.0.0 (an RFC 5227 probe), a broadcast or
    /// multicast IP or hardware address. Nothing learned.
    Ignored,
    /// Not in the cache and not for us: RFC 826 learns nothing.
    NotLearned,
    /// An existing entry took the sender's address (merge).
    Updated,
    /// A new entry: the packet was for us.
    Created,
    /// A permanent entry: left alone.
    Permanent,
    /// Another address for an entry changed less than `locktime` ago, in a
    /// packet that neither asks us nor announces the sender: ignored, so
    /// that of several answers (proxies) the first wins and an address
    /// does not flap (Linux `arp_process`'s override rule).
    Locked,
}

/// A request the caller should send: to the broadcast address, or, when
/// re-validating a stale entry, to `unicast` (RFC 1122 §2.3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRequest {
    pub target: Ipv4Addr,
    pub unicast: Option<EthernetAddress>,
}

/// A packet released from the queue, now at `buf[..len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// The next hop it waited for.
    pub next_hop: Ipv4Addr,
    /// Where to send it.
    pub mac: EthernetAddress,
    pub len: usize,
}

/// Something the caller must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpEvent {
    /// Nobody answered for `ip`: its queued packets are dropped (`dropped`
    /// of them, also counted in `unresolved_discards`). Report
    /// EHOSTUNREACH to the sockets that sent through it (a soft error for
    /// TCP, as Linux does via a local ICMP host unreachable).
    Unreachable { ip: Ipv4Addr, dropped: usize },
}

/// An entry's state as `ip neigh` names it (Linux's NUD states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Permanent,
}

impl NeighState {
    /// The name `ip neigh` prints.
    pub fn name(self) -> &'static str {
        match self {
            NeighState::Incomplete => "INCOMPLETE",
            NeighState::Reachable => "REACHABLE",
            NeighState::Stale => "STALE",
            NeighState::Delay => "DELAY",
            NeighState::Probe => "PROBE",
            NeighState::Permanent => "PERMANENT",
        }
    }
}

/// One entry of the cache, for display ([`ArpCache::neighbours`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    pub ip: Ipv4Addr,
    /// `None` while it is being resolved.
    pub mac: Option<EthernetAddress>,
    pub state: NeighState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Requests sent so far.
    Incomplete {
        tries: u8,
    },
    /// Confirmed; stale at `until`.
    Reachable {
        mac: EthernetAddress,
        until: Instant,
    },
    /// Unconfirmed for a while; forgotten at `until` unless used.
    Stale {
        mac: EthernetAddress,
        until: Instant,
    },
    /// Used while stale: waits until `until` for a confirmation before
    /// probing (Linux NUD_DELAY).
    Delay {
        mac: EthernetAddress,
        until: Instant,
    },
    /// Being re-validated by unicast requests.
    Probe {
        mac: EthernetAddress,
        tries: u8,
    },
    Permanent {
        mac: EthernetAddress,
    },
}

const NIL: u32 = u32::MAX;

/// A singly linked list of pool slots.
#[derive(Debug, Clone, Copy)]
struct PacketList {
    head: u32,
    tail: u32,
    len: u32,
}

impl PacketList {
    const EMPTY: PacketList = PacketList {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

#[derive(Debug)]
struct Slot {
    buf: Vec<u8>,
    next: u32,
    /// Set when the slot moves to the ready list.
    next_hop: Ipv4Addr,
    mac: EthernetAddress,
}

/// Queued packets: slots allocated on first use, then reused (their
/// buffers keep their capacity), so steady queuing does not allocate.
#[derive(Debug, Default)]
struct Pool {
    slots: Vec<Slot>,
    free: Vec<u32>,
    in_use: usize,
}

impl Pool {
    fn alloc(&mut self, max: usize, data: &[u8]) -> Option<u32> {
        let idx = match self.free.pop() {
            Some(i) => i,
            None if self.slots.len() < max && self.slots.len() < NIL as usize => {
                self.slots.push(Slot {
                    buf: Vec::new(),
                    next: NIL,
                    next_hop: Ipv4Addr::UNSPECIFIED,
                    mac: EthernetAddress::default(),
                });
                (self.slots.len() - 1) as u32
            }
            None => return None,
        };
        let slot = &mut self.slots[idx as usize];
        slot.buf.clear();
        slot.buf.extend_from_slice(data);
        slot.next = NIL;
        self.in_use += 1;
        Some(idx)
    }

    fn release(&mut self, idx: u32) {
        self.free.push(idx);
        self.in_use -= 1;
    }

    fn push(&mut self, list: &mut PacketList, idx: u32) {
        self.slots[idx as usize].next = NIL;
        if list.tail == NIL {
            list.head = idx;
        } else {
            self.slots[list.tail as usize].next = idx;
        }
        list.tail = idx;
        list.len += 1;
    }

    fn pop(&mut self, list: &mut PacketList) -> Option<u32> {
        if list.head == NIL {
            return None;
        }
        let idx = list.head;
        list.head = self.slots[idx as usize].next;
        if list.head == NIL {
            list.tail = NIL;
        }
        list.len -= 1;
        Some(idx)
    }

    /// Drops every packet of `list`; returns how many.
    fn drain(&mut self, list: &mut PacketList) -> usize {
        let mut n = 0;
        while let Some(idx) = self.pop(list) {
            self.release(idx);
            n += 1;
        }
        n
    }
}

#[derive(Debug)]
struct Entry {
    state: State,
    /// Age order, for eviction (see `ArpCache::order`).
    seq: u64,
    /// The last proof that the neighbour hears us (Linux `confirmed`): an
    /// ARP reply to us or an upper layer's confirmation.
    confirmed: Option<Instant>,
    /// When ARP, a use or the timer last changed its address or state
    /// (Linux `updated`), for `locktime`.
    updated: Instant,
    /// Packets waiting for the address.
    queue: PacketList,
    /// Packets of this address on the ready list, not yet handed out: new
    /// packets queue behind them so nothing is reordered.
    in_ready: u32,
}

/// The ARP cache of one interface.
#[derive(Debug)]
pub struct ArpCache {
    config: ArpConfig,
    entries: HashMap<Ipv4Addr, Entry, KeyedHasher>,
    /// Each entry's next event: a retry, going stale, being forgotten.
    timers: Timers,
    /// `(seq, ip)` from oldest to newest (creation or last confirmation);
    /// stale records are skipped and compacted.
    order: VecDeque<(u64, Ipv4Addr)>,
    next_seq: u64,
    pool: Pool,
    ready: PacketList,
    requests: VecDeque<ArpRequest>,
    events: VecDeque<ArpEvent>,
    stats: ArpStats,
}

impl ArpCache {
    /// An empty cache; `key` keys its hash tables (on-link hosts choose the
    /// addresses, spoofed sources included).
    pub fn new(config: ArpConfig, key: SipKey) -> Self {
        ArpCache {
            config,
            entries: HashMap::with_hasher(KeyedHasher::new(key)),
            timers: TimerQueue::with_hasher(KeyedHasher::new(key)),
            order: VecDeque::new(),
            next_seq: 0,
            pool: Pool::default(),
            ready: PacketList::EMPTY,
            requests: VecDeque::new(),
            events: VecDeque::new(),
            stats: ArpStats::default(),
        }
    }

    pub fn config(&self) -> &ArpConfig {
        &self.config
    }

    pub fn stats(&self) -> &ArpStats {
        &self.stats
    }

    /// Entries, permanent ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Packets waiting for an address or on the ready list.
    pub fn queued_packets(&self) -> usize {
        self.pool.in_use
    }

    /// The hardware address for `ip`, if known, without queuing anything.
    /// Using a stale entry starts its re-validation (DELAY).
    pub fn lookup(&mut self, now: Instant, ip: Ipv4Addr) -> ArpLookup {
        self.lookup_confirmed(now, ip, false).0
    }

    /// [`Self::lookup`], with an upper layer's confirmation that `ip` hears
    /// us (`confirm`: Linux `neigh_confirm`, which TCP's forward progress
    /// asks for through `sk_dst_confirm`) taken first; and how many of the
    /// address's packets wait on the ready list (one hash lookup for both).
    fn lookup_confirmed(&mut self, now: Instant, ip: Ipv4Addr, confirm: bool) -> (ArpLookup, u32) {
        self.stats.lookups += 1;
        let Some(e) = self.entries.get_mut(&ip) else {
            return (ArpLookup::Miss, 0);
        };
        if confirm {
            e.confirmed = Some(now);
        }
        let mac = match e.state {
            State::Incomplete { .. } => return (ArpLookup::Pending, e.in_ready),
            State::Reachable { mac, until } if now < until => mac,
            State::Permanent { mac } | State::Delay { mac, .. } | State::Probe { mac, .. } => mac,
            State::Reachable { mac, .. } => {
                // Its timer is due and not yet run: what it would do, then
                // this use.
                let (state, deadline) = match confirmed_until(e.confirmed, &self.config) {
                    Some(until) if now < until => (State::Reachable { mac, until }, until),
                    _ => {
                        e.updated = now;
                        delay(now, mac, &self.config)
                    }
                };
                e.state = state;
                self.timers.schedule(ip, deadline);
                mac
            }
            State::Stale { mac, .. } => {
                // Linux `__neigh_event_send`: STALE to DELAY moves `updated`.
                e.updated = now;
                let (state, deadline) = delay(now, mac, &self.config);
                e.state = state;
                self.timers.schedule(ip, deadline);
                mac
            }
        };
        self.stats.hits += 1;
        (ArpLookup::Hit(mac), e.in_ready)
    }

    /// Whether [`ArpCache::resolve_or_queue`] would hand out an address for
    /// `ip` right now rather than queue: a known address with nothing of its
    /// own still waiting on the ready list. Changes nothing.
    pub fn sends_now(&self, ip: Ipv4Addr) -> bool {
        self.entries
            .get(&ip)
            .is_some_and(|e| e.in_ready == 0 && !matches!(e.state, State::Incomplete { .. }))
    }

    /// For sending `packet` (an IP datagram, without Ethernet header) to
    /// the next hop `ip`: the address if it is known (send now), or the
    /// packet is queued until it is, a request going out at once for a new
    /// address (RFC 1122 §2.3.2.2). A full queue drops its oldest packet.
    ///
    /// `confirm`: the sender has proof that `ip` hears it (TCP's forward
    /// progress since its last segment): the entry counts as confirmed now.
    pub fn resolve_or_queue(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        packet: &[u8],
        confirm: bool,
    ) -> Resolution {
        let (found, in_ready) = self.lookup_confirmed(now, ip, confirm);
        match found {
            ArpLookup::Hit(mac) if in_ready == 0 => return Resolution::Ready(mac),
            ArpLookup::Hit(mac) => {
                // Earlier packets to this address are still on the ready
                // list: go behind them.
                let Some(idx) = self.pool.alloc(self.config.max_queued, packet) else {
                    self.stats.unresolved_discards += 1;
                    return Resolution::Dropped;
                };
                let slot = &mut self.pool.slots[idx as usize];
                slot.next_hop = ip;
                slot.mac = mac;
                self.pool.push(&mut self.ready, idx);
                if let Some(e) = self.entries.get_mut(&ip) {
                    e.in_ready += 1;
                }
                return Resolution::Queued;
            }
            ArpLookup::Pending => {}
            ArpLookup::Miss => {
                self.insert(
                    ip,
                    State::Incomplete { tries: 1 },
                    now + self.config.retrans_time,
                );
                push_request(
                    &mut self.requests,
                    self.config.max_entries,
                    ArpRequest {
                        target: ip,
                        unicast: None,
                    },
                );
            }
        }
        self.enqueue(ip, packet)
    }

    /// Adds `packet` to the queue of the incomplete entry `ip`.
    fn enqueue(&mut self, ip: Ipv4Addr, packet: &[u8]) -> Resolution {
        let Some(e) = self.entries.get_mut(&ip) else {
            return Resolution::Dropped;
        };
        if e.queue.len as usize >= self.config.unres_qlen
            || self.pool.in_use >= self.config.max_queued
        {
            // Make room by dropping this address's oldest packet.
            match self.pool.pop(&mut e.queue) {
                Some(old) => {
                    self.pool.release(old);
                    self.stats.unresolved_discards += 1;
                }
                None => {
                    self.stats.unresolved_discards += 1;
                    return Resolution::Dropped;
                }
            }
        }
        let Some(idx) = self.pool.alloc(self.config.max_queued, packet) else {
            self.stats.unresolved_discards += 1;
            return Resolution::Dropped;
        };
        self.pool.push(&mut e.queue, idx);
        Resolution::Queued
    }

    /// Hands out the next queued packet whose address became known, copied
    /// into `buf` (which must hold the largest packet queued; a longer one
    /// is dropped and counted in `unresolved_discards`). Call until `None`
    /// after [`Self::handle_arp`], before sending new packets.
    #[must_use = "a released packet is not handed out again"]
    pub fn poll_queued(&mut self, buf: &mut [u8]) -> Option<Released> {
        loop {
            let idx = self.pool.pop(&mut self.ready)?;
            let slot = &self.pool.slots[idx as usize];
            let (next_hop, mac, len) = (slot.next_hop, slot.mac, slot.buf.len());
            if let Some(e) = self.entries.get_mut(&next_hop) {
                e.in_ready = e.in_ready.saturating_sub(1);
            }
            let fits = len <= buf.len();
            if fits {
                buf[..len].copy_from_slice(&slot.buf);
            }
            self.pool.release(idx);
            if fits {
                return Some(Released { next_hop, mac, len });
            }
            self.stats.unresolved_discards += 1;
        }
    }

    /// The next ARP request to send.
    #[must_use = "a request not sent is not asked for again until the next retry"]
    pub fn poll_request(&mut self) -> Option<ArpRequest> {
        self.requests.pop_front()
    }

    /// The next address that failed to resolve.
    #[must_use = "an unreachable next hop is reported once"]
    pub fn poll_event(&mut self) -> Option<ArpEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] has work: a retry, an entry going
    /// stale or being forgotten. `&mut` because the timer queue drops
    /// cancelled deadlines on the way.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Retries, failures, expiry. A call before any deadline does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(ip) = self.timers.pop_expired(now) {
            let Some(e) = self.entries.get_mut(&ip) else {
                continue;
            };
            // A request to send now: broadcast, or to the entry's address.
            let mut asks = None;
            match e.state {
                State::Incomplete { tries } if tries < self.config.mcast_solicit => {
                    e.state = State::Incomplete { tries: tries + 1 };
                    asks = Some(None);
                }
                State::Incomplete { .. } => {
                    self.stats.res_failed += 1;
                    let dropped = self.destroy(ip);
                    if self.events.len() < self.config.max_entries {
                        self.events.push_back(ArpEvent::Unreachable { ip, dropped });
                    }
                }
                State::Reachable { mac, .. } => {
                    // Linux `neigh_timer_handler`: confirmed since it was
                    // made REACHABLE, it stays so for as long from then.
                    let (state, deadline) = match confirmed_until(e.confirmed, &self.config) {
                        Some(until) if now < until => (State::Reachable { mac, until }, until),
                        _ => {
                            // A change of state: `updated`, which locktime
                            // counts from, moves (as Linux's does).
                            e.updated = now;
                            let until = now + self.config.reachable_time;
                            (State::Stale { mac, until }, until)
                        }
                    };
                    e.state = state;
                    self.timers.schedule(ip, deadline);
                }
                State::Stale { .. } => {
                    self.destroy(ip);
                }
                State::Delay { mac, .. } => {
                    // Confirmed while it waited: REACHABLE again, from the
                    // confirmation, with no probe. Every way out is a
                    // change of state (`updated`).
                    e.updated = now;
                    let since = e
                        .confirmed
                        .filter(|&at| at + self.config.delay_first_probe >= now);
                    if let Some(at) = since {
                        let until = at + self.config.reachable_time;
                        e.state = State::Reachable { mac, until };
                        self.timers.schedule(ip, until);
                    } else if self.config.ucast_solicit > 0 {
                        e.state = State::Probe { mac, tries: 1 };
                        asks = Some(Some(mac));
                    } else {
                        let until = now + self.config.reachable_time;
                        e.state = State::Stale { mac, until };
                        self.timers.schedule(ip, until);
                    }
                }
                State::Probe { mac, tries } if tries < self.config.ucast_solicit => {
                    e.state = State::Probe {
                        mac,
                        tries: tries + 1,
                    };
                    asks = Some(Some(mac));
                }
                State::Probe { .. } => {
                    // The neighbour went away; the next send resolves anew.
                    self.stats.res_failed += 1;
                    self.destroy(ip);
                }
                State::Permanent { .. } => {}
            }
            if let Some(unicast) = asks {
                ask(
                    &mut self.timers,
                    &mut self.requests,
                    &self.config,
                    now,
                    ip,
                    unicast,
                );
            }
        }
    }

    /// RFC 826 "Packet Reception" for a parsed ARP packet (request or
    /// reply) received on this interface. `for_us` says whether its target
    /// protocol address is one of ours; `unicast`, whether its frame was
    /// sent to our own hardware address (not broadcast). Answering requests
    /// is the caller's job ([`reply`]); this only learns. The caller drops,
    /// before this, a packet whose sender address is one of ours (an
    /// address conflict, or our own gratuitous ARP looped back).
    ///
    /// "If the pair <protocol type, sender protocol address> is already in
    /// my translation table, update the sender hardware address field of the
    /// entry with the new information in the packet and set Merge_flag to
    /// true. ... ?Am I the target protocol address? Yes: If Merge_flag is
    /// false, add the triplet ... to the translation table."
    ///
    /// Only a reply sent to us confirms the sender (REACHABLE); anything
    /// else makes or updates a STALE entry, and leaves a valid entry that
    /// already has this address as it was (Linux `arp_process` and
    /// `neigh_update`).
    pub fn handle_arp(
        &mut self,
        now: Instant,
        packet: &ArpRepr,
        for_us: bool,
        unicast: bool,
    ) -> ArpUpdate {
        let (ip, mac) = (packet.source_protocol_addr, packet.source_hardware_addr);
        if for_us && packet.operation == ArpOperation::Request {
            self.stats.rcv_probes_mcast += 1;
        }
        // RFC 5227 §2.1.1 probes (sender 0.0.0.0) teach nothing; RFC 1812
        // §3.3.2: never learn broadcast or multicast hardware addresses.
        if ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || !mac.is_unicast()
            || mac == EthernetAddress::default()
        {
            return ArpUpdate::Ignored;
        }
        let proof = packet.operation == ArpOperation::Reply && unicast;
        let until = now + self.config.reachable_time;
        let learned = if proof {
            State::Reachable { mac, until }
        } else {
            State::Stale { mac, until }
        };
        let Some(e) = self.entries.get_mut(&ip) else {
            if !for_us {
                return ArpUpdate::NotLearned;
            }
            self.insert(ip, learned, until);
            if let Some(e) = self.entries.get_mut(&ip) {
                e.confirmed = proof.then_some(now);
                e.updated = now;
            }
            return ArpUpdate::Created;
        };
        let same_address = match e.state {
            State::Permanent { .. } => return ArpUpdate::Permanent,
            State::Incomplete { .. } => false,
            State::Reachable { mac: known, .. }
            | State::Stale { mac: known, .. }
            | State::Delay { mac: known, .. }
            | State::Probe { mac: known, .. } => known == mac,
        };
        let was_incomplete = matches!(e.state, State::Incomplete { .. });
        // A request for us overrides at once (Linux `neigh_event_ns`), and
        // so does a gratuitous ARP; any other new address waits out
        // `locktime` from the entry's last change.
        let asks_us = for_us && packet.operation == ArpOperation::Request;
        let announces = packet.source_protocol_addr == packet.target_protocol_addr;
        if !same_address
            && !was_incomplete
            && !asks_us
            && !announces
            && now < e.updated + self.config.locktime
        {
            return ArpUpdate::Locked;
        }
        if proof {
            e.confirmed = Some(now);
        } else if same_address {
            // Nothing new: a valid entry keeps its state and deadline.
            return ArpUpdate::Updated;
        } else {
            // A new address nobody has confirmed yet (Linux resets
            // `confirmed` too; DELAY already counts only confirmations
            // after the use that started it).
            e.confirmed = None;
        }
        e.updated = now;
        e.state = learned;
        self.timers.schedule(ip, until);
        if was_incomplete {
            // Release the waiting packets, in order.
            let mut queue = core::mem::replace(&mut e.queue, PacketList::EMPTY);
            e.in_ready += queue.len;
            while let Some(idx) = self.pool.pop(&mut queue) {
                let slot = &mut self.pool.slots[idx as usize];
                slot.next_hop = ip;
                slot.mac = mac;
                self.pool.push(&mut self.ready, idx);
            }
        }
        self.touch(ip);
        ArpUpdate::Updated
    }

    /// Adds or replaces a permanent entry (`ip neigh add ... nud permanent`):
    /// never expires, never updated by ARP, never evicted.
    pub fn insert_permanent(&mut self, ip: Ipv4Addr, mac: EthernetAddress) {
        if self.entries.contains_key(&ip) {
            self.destroy(ip);
        }
        self.timers.cancel(ip);
        self.stats.allocs += 1;
        self.entries.insert(
            ip,
            Entry {
                state: State::Permanent { mac },
                seq: u64::MAX,
                confirmed: None,
                updated: Instant::ZERO,
                queue: PacketList::EMPTY,
                in_ready: 0,
            },
        );
    }

    /// Forgets `ip` (`ip neigh del`), dropping its queued packets; returns
    /// whether it was there.
    pub fn remove(&mut self, ip: Ipv4Addr) -> bool {
        if !self.entries.contains_key(&ip) {
            return false;
        }
        self.destroy(ip);
        true
    }

    /// Every entry with its hardware address once known, in no
    /// particular order.
    pub fn entries(&self) -> impl Iterator<Item = (Ipv4Addr, Option<EthernetAddress>)> + '_ {
        self.neighbours(Instant::ZERO).map(|n| (n.ip, n.mac))
    }

    /// Every entry as `ip neigh` shows it at `now`, in no particular order.
    pub fn neighbours(&self, now: Instant) -> impl Iterator<Item = Neighbour> + '_ {
        self.entries.iter().map(move |(&ip, e)| {
            let (state, mac) = match e.state {
                State::Incomplete { .. } => (NeighState::Incomplete, None),
                // Its time is up and its timer not yet run.
                State::Reachable { mac, until } if now >= until => (NeighState::Stale, Some(mac)),
                State::Reachable { mac, .. } => (NeighState::Reachable, Some(mac)),
                State::Stale { mac, .. } => (NeighState::Stale, Some(mac)),
                State::Delay { mac, .. } => (NeighState::Delay, Some(mac)),
                State::Probe { mac, .. } => (NeighState::Probe, Some(mac)),
                State::Permanent { mac } => (NeighState::Permanent, Some(mac)),
            };
            Neighbour { ip, mac, state }
        })
    }

    /// Creates an entry (evicting the oldest if full) with its first timer.
    fn insert(&mut self, ip: Ipv4Addr, state: State, deadline: Instant) {
        while self.entries.len() >= self.config.max_entries {
            let Some(victim) = self.oldest() else {
                break;
            };
            self.stats.forced_gc_runs += 1;
            self.destroy(victim);
        }
        self.stats.allocs += 1;
        self.entries.insert(
            ip,
            Entry {
                state,
                seq: 0,
                confirmed: None,
                updated: Instant::ZERO,
                queue: PacketList::EMPTY,
                in_ready: 0,
            },
        );
        self.timers.schedule(ip, deadline);
        self.touch(ip);
    }

    /// Marks `ip` the newest entry.
    fn touch(&mut self, ip: Ipv4Addr) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(e) = self.entries.get_mut(&ip) {
            e.seq = seq;
        }
        self.order.push_back((seq, ip));
        if self.order.len() > 2 * self.entries.len() + 16 {
            let entries = &self.entries;
            self.order
                .retain(|(s, ip)| entries.get(ip).is_some_and(|e| e.seq == *s));
        }
    }

    /// The oldest evictable entry, dropping stale order records on the way.
    fn oldest(&mut self) -> Option<Ipv4Addr> {
        while let Some(&(s, ip)) = self.order.front() {
            if self.entries.get(&ip).is_some_and(|e| e.seq == s) {
                return Some(ip);
            }
            self.order.pop_front();
        }
        None
    }

    /// Removes `ip`'s entry and its timer, dropping its queued packets;
    /// returns how many were dropped.
    fn destroy(&mut self, ip: Ipv4Addr) -> usize {
        let Some(mut e) = self.entries.remove(&ip) else {
            return 0;
        };
        self.timers.cancel(ip);
        self.stats.destroys += 1;
        let dropped = self.pool.drain(&mut e.queue);
        self.stats.unresolved_discards += dropped as u64;
        dropped
    }
}

/// Until when an entry last confirmed at `confirmed` stays REACHABLE.
fn confirmed_until(confirmed: Option<Instant>, config: &ArpConfig) -> Option<Instant> {
    confirmed.map(|at| at + config.reachable_time)
}

/// A stale entry is used: it waits `delay_first_probe` for a confirmation
/// before its unicast probes (RFC 1122 §2.3.2.1: validate a used,
/// unconfirmed entry; Linux NUD_DELAY), still sending with the address it
/// has. The state and its deadline.
fn delay(now: Instant, mac: EthernetAddress, config: &ArpConfig) -> (State, Instant) {
    let until = now + config.delay_first_probe;
    (State::Delay { mac, until }, until)
}

/// The cache's timers: each entry's next event.
type Timers = TimerQueue<Ipv4Addr, HashSlots<Ipv4Addr, KeyedHasher>>;

/// Asks for `ip` again, broadcast or to `unicast` (a stale entry's
/// address), and schedules the next try `retrans_time` on (RFC 1122
/// §2.3.2.1: at most one request a second per address).
fn ask(
    timers: &mut Timers,
    requests: &mut VecDeque<ArpRequest>,
    config: &ArpConfig,
    now: Instant,
    ip: Ipv4Addr,
    unicast: Option<EthernetAddress>,
) {
    timers.schedule(ip, now + config.retrans_time);
    let request = ArpRequest {
        target: ip,
        unicast,
    };
    push_request(requests, config.max_entries, request);
}

/// Queues a request unless `cap` are waiting (the retry will ask again).
fn push_request(requests: &mut VecDeque<ArpRequest>, cap: usize, r: ArpRequest) {
    if requests.len() < cap {
        requests.push_back(r);
    }
}

/// A request for `target` from our address `our_ip` (RFC 826): send it to
/// the broadcast address, or to the cached address when re-validating.
pub fn request(our_mac: EthernetAddress, our_ip: Ipv4Addr, target: Ipv4Addr) -> ArpRepr {
    ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: our_mac,
        source_protocol_addr: our_ip,
        target_hardware_addr: EthernetAddress::default(),
        target_protocol_addr: target,
    }
}

/// A gratuitous ARP (RFC 5227 §3 announcement; RFC 5944 §4.6): a
/// broadcast request whose sender and target are both `our_ip`, so every
/// host that caches us updates its entry. Send one when an address comes up.
pub fn gratuitous(our_mac: EthernetAddress, our_ip: Ipv4Addr) -> ArpRepr {
    request(our_mac, our_ip, our_ip)
}

/// The reply to `request` (RFC 826: swap the fields, put our hardware
/// address in, make it a reply), to be sent to `request`'s sender. The
/// caller checks that the target is ours.
pub fn reply(request: &ArpRepr, our_mac: EthernetAddress) -> ArpRepr {
    ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: our_mac,
        source_protocol_addr: request.target_protocol_addr,
        target_hardware_addr: request.source_hardware_addr,
        target_protocol_addr: request.source_protocol_addr,
    }
}

#[cfg(test)]
mod tests;
