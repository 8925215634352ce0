//! The demultiplexing map: 4-tuple to connection or TIME-WAIT entry, O(1).
//!
//! Read first: RFC 9293 §3.10.7 (a segment goes to the connection its
//! 4-tuple names), DESIGN.md §4 (demux O(1); an idle connection stays small).
//!
//! The map stores a slot index per entry (4 bytes, a TIME-WAIT entry marked
//! by the top bit), not the 4-tuple: the tuple is already in the slot the
//! index names, so a lookup compares the tuple there, and a resize rehashes
//! from there. At a million connections that is 5 bytes per bucket instead
//! of 25 (a 12-byte tuple, a 12-byte value and the control byte).
//!
//! An index below 2^24 (16 million slots) leaves room in its 4 bytes for 6
//! more bits of the tuple's hash, the entry's tag. hashbrown's control byte
//! already filters a probe's candidates by 7 bits of the hash; the tag
//! filters them by 6 more before the slot is read. A candidate that is not
//! the tuple then costs a read of its slot one time in 8,192 instead of one
//! in 128: with 100,000 idle connections a handshake's lookups of absent
//! tuples (its SYN, the `connect` check) read another connection's slot
//! 0.27 times a handshake, each a cache and TLB miss across a slab of tens of
//! megabytes, about 2% of the handshake's time. An index from 2^24 up is
//! stored whole, marked wide, without a tag.
//!
//! Invariant: an index in the map names an occupied slot whose tuple is the
//! one it was inserted under. Remove the entry before the slot.
//!
//! The hash is SipHash-1-3 under a secret key (peers choose tuples: hash
//! flooding) of the tuple packed into 12 bytes. The map remembers the last
//! tuple it was asked about, with its hash and its answer (as 4.4BSD's
//! `tcp_last_inpcb` remembered the last connection): segments come in runs
//! for one connection (a transfer, a GRO batch, a handshake), and the
//! insert after a missed lookup (a SYN for a listener, a `connect` that
//! checked the tuple is free) or the removal of a tuple just looked up
//! would hash the same 12 bytes again (and the insert would search for
//! the entry the lookup found absent). A repeat costs a 12-byte compare
//! instead of a hash and a probe. Every change to the table updates that
//! memory, so it is never stale; it is one entry, so it gives a peer no
//! more to aim at than the table itself (the keyed hash still guards every
//! probe that reaches the table).

use core::cell::Cell;

use hashbrown::HashTable;

use super::slab::Slab;
use super::{ConnEntry, Demux, FourTuple, TimeWaitEntry};
use crate::siphash::{SipKey, SipTuple};

/// Marks a TIME-WAIT slot index in the map (connection slots stay far
/// below 2^30: each is hundreds of bytes).
const TIME_WAIT_BIT: u32 = 1 << 31;
/// Marks an entry whose index is 2^24 or more: bits 29..0 hold it, untagged.
const WIDE_BIT: u32 = 1 << 30;
/// A tagged entry's index bits (23..0); its tag is bits 29..24.
const NARROW_INDEX: u32 = (1 << 24) - 1;
const TAG_SHIFT: u32 = 24;
const TAG_BITS: u32 = 0x3f << TAG_SHIFT;

/// The tag a tuple's entry carries: hash bits 37..32, apart from the bits
/// hashbrown takes (the top 7 for the control byte, the low ones for the
/// bucket) in any table under 2^32 buckets.
#[inline]
fn tag_of(hash: u64) -> u32 {
    ((hash >> 32) as u32) << TAG_SHIFT & TAG_BITS
}

/// The table's entry for `slot` (a slot index, TIME-WAIT bit and all) under
/// a tuple hashing to `hash`.
#[inline]
fn encode(slot: u32, hash: u64) -> u32 {
    let index = slot & !TIME_WAIT_BIT;
    let kind = slot & TIME_WAIT_BIT;
    if index <= NARROW_INDEX {
        kind | tag_of(hash) | index
    } else {
        debug_assert!(index < WIDE_BIT, "a slab of 2^30 slots");
        kind | WIDE_BIT | index
    }
}

/// The slot (index and TIME-WAIT bit) a table entry names.
#[inline]
fn slot_of(entry: u32) -> u32 {
    let index = if entry & WIDE_BIT == 0 {
        entry & NARROW_INDEX
    } else {
        entry & !(TIME_WAIT_BIT | WIDE_BIT)
    };
    entry & TIME_WAIT_BIT | index
}

/// Whether a table entry may be a tuple hashing to `hash`: its tag
/// matches, or it has none.
#[inline]
fn may_be(entry: u32, hash: u64) -> bool {
    entry & WIDE_BIT != 0 || entry & TAG_BITS == tag_of(hash)
}

/// The tables a map entry points into.
#[derive(Clone, Copy)]
pub(super) struct Slots<'a> {
    pub conns: &'a Slab<ConnEntry>,
    pub time_wait: &'a Slab<TimeWaitEntry>,
}

impl Slots<'_> {
    /// Whether `value`'s slot holds the entry it names (its generation).
    fn holds(&self, value: Demux) -> bool {
        match value {
            Demux::Conn(key) => self
                .conns
                .get_index(key.index)
                .is_some_and(|(k, _)| k == key),
            Demux::TimeWait(key) => self
                .time_wait
                .get_index(key.index)
                .is_some_and(|(k, _)| k == key),
        }
    }

    /// The entry a slot index (with its TIME-WAIT bit) names, with its
    /// tuple.
    fn resolve(&self, slot: u32) -> Option<(Demux, FourTuple)> {
        if slot & TIME_WAIT_BIT != 0 {
            let (key, e) = self.time_wait.get_index(slot & !TIME_WAIT_BIT)?;
            Some((Demux::TimeWait(key), e.tuple))
        } else {
            let (key, e) = self.conns.get_index(slot)?;
            let tuple = FourTuple {
                local: e.conn.local(),
                remote: e.conn.remote(),
            };
            Some((Demux::Conn(key), tuple))
        }
    }
}

/// The last tuple the map was asked about or changed for: its hash and
/// what the table holds for it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Last {
    tuple: FourTuple,
    hash: u64,
    /// The slot its entry names (index and TIME-WAIT bit), or `None`: the
    /// tuple is not in the table.
    slot: Option<u32>,
}

/// 4-tuple to [`Demux`], keyed by SipHash (peers choose tuples).
pub(super) struct DemuxMap {
    table: HashTable<u32>,
    hasher: SipTuple,
    /// Kept right by every method that changes `table`.
    last: Cell<Option<Last>>,
    /// Tuples hashed (tests count them).
    #[cfg(test)]
    hashes: Cell<u64>,
    /// Removals that searched the table (tests count them).
    #[cfg(test)]
    pub(super) removal_probes: Cell<u64>,
    /// Inserts that knew the tuple was not there (tests count them).
    #[cfg(test)]
    unique_inserts: Cell<u64>,
    /// Slots read to compare their tuple while searching the table (tests
    /// count them).
    #[cfg(test)]
    probe_reads: Cell<u64>,
}

impl DemuxMap {
    pub fn new(key: SipKey) -> Self {
        DemuxMap {
            table: HashTable::new(),
            hasher: SipTuple::sip13(key),
            last: Cell::new(None),
            #[cfg(test)]
            hashes: Cell::new(0),
            #[cfg(test)]
            removal_probes: Cell::new(0),
            #[cfg(test)]
            unique_inserts: Cell::new(0),
            #[cfg(test)]
            probe_reads: Cell::new(0),
        }
    }

    fn hash(&self, tuple: &FourTuple) -> u64 {
        #[cfg(test)]
        self.hashes.set(self.hashes.get() + 1);
        self.hasher.hash(&tuple.packed())
    }

    /// What the last call learnt about `tuple`, if it was about `tuple`.
    #[inline]
    fn recall(&self, tuple: &FourTuple) -> Option<Last> {
        self.last.get().filter(|l| l.tuple == *tuple)
    }

    /// `tuple`'s hash: remembered, or computed.
    #[inline]
    fn hash_of(&self, tuple: &FourTuple) -> u64 {
        match self.recall(tuple) {
            Some(last) => last.hash,
            None => self.hash(tuple),
        }
    }

    fn remember(&self, tuple: FourTuple, hash: u64, slot: Option<u32>) {
        self.last.set(Some(Last { tuple, hash, slot }));
    }

    /// The slot `value` names: its index, and the TIME-WAIT bit.
    fn slot(value: Demux) -> u32 {
        match value {
            Demux::Conn(key) => key.index,
            Demux::TimeWait(key) => key.index | TIME_WAIT_BIT,
        }
    }

    /// [`is_entry_of`] for a lookup's probe (tests count the slots it
    /// reads).
    #[inline]
    fn probe_finds(&self, slots: Slots<'_>, entry: u32, hash: u64, tuple: &FourTuple) -> bool {
        #[cfg(test)]
        if may_be(entry, hash) {
            self.probe_reads.set(self.probe_reads.get() + 1);
        }
        is_entry_of(slots, entry, hash, tuple)
    }

    /// What `tuple` leads to.
    ///
    /// Inline for the remembered answer (a run of segments for one
    /// connection: most of them); the probe of the table is a call away.
    #[inline]
    pub fn get(&self, slots: Slots<'_>, tuple: &FourTuple) -> Option<Demux> {
        if let Some(last) = self.recall(tuple) {
            let slot = last.slot?;
            // The slot's tuple is checked as a probe of the table checks
            // it, so a remembered answer can never name another
            // connection's slot, even if the slot were reused first.
            if let Some((demux, t)) = slots.resolve(slot)
                && t == *tuple
            {
                return Some(demux);
            }
            debug_assert!(false, "the remembered demux answer went stale");
        }
        self.probe(slots, tuple)
    }

    /// [`DemuxMap::get`] without a remembered answer: hash and probe.
    #[inline(never)]
    fn probe(&self, slots: Slots<'_>, tuple: &FourTuple) -> Option<Demux> {
        let hash = self.hash(tuple);
        let slot = self
            .table
            .find(hash, |&e| self.probe_finds(slots, e, hash, tuple))
            .map(|&e| slot_of(e));
        self.remember(*tuple, hash, slot);
        slots.resolve(slot?).map(|(demux, _)| demux)
    }

    pub fn contains(&self, slots: Slots<'_>, tuple: &FourTuple) -> bool {
        self.get(slots, tuple).is_some()
    }

    /// Maps `tuple` to `value` (whose slot must hold `tuple`), replacing
    /// what it led to before.
    ///
    /// After a lookup that missed (a SYN for a listener, a `connect` that
    /// checked the tuple is free) the map remembers that the tuple is not
    /// there: the new entry goes in without searching for an old one.
    pub fn insert(&mut self, slots: Slots<'_>, tuple: FourTuple, value: Demux) {
        let recalled = self.recall(&tuple);
        let hash = match recalled {
            Some(last) => last.hash,
            None => self.hash(&tuple),
        };
        let slot = Self::slot(value);
        let entry = encode(slot, hash);
        let hasher = &self.hasher;
        let rehash = |&e: &u32| rehash(hasher, slots, e);
        if recalled.is_some_and(|last| last.slot.is_none()) {
            #[cfg(test)]
            self.unique_inserts.set(self.unique_inserts.get() + 1);
            self.table.insert_unique(hash, entry, rehash);
            self.remember(tuple, hash, Some(slot));
            return;
        }
        match self
            .table
            .entry(hash, |&e| is_entry_of(slots, e, hash, &tuple), rehash)
        {
            hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = entry,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(entry);
            }
        }
        self.remember(tuple, hash, Some(slot));
    }

    /// Forgets `tuple`.
    pub fn remove(&mut self, slots: Slots<'_>, tuple: &FourTuple) {
        let hash = self.hash_of(tuple);
        if let Ok(e) = self
            .table
            .find_entry(hash, |&e| is_entry_of(slots, e, hash, tuple))
        {
            e.remove();
        }
        self.remember(*tuple, hash, None);
    }

    /// Forgets `tuple` if it leads to `value` (one hash: the tuple has at
    /// most one entry).
    ///
    /// When the map remembers `tuple` leading elsewhere or nowhere, the
    /// table is not touched: a connection that closed had its entry taken
    /// out then, and the application's `close` of it asks again (the
    /// stack's bookkeeping after every call removes a CLOSED connection's
    /// entry, as it cannot tell the first such call from a later one).
    ///
    /// When the map remembers `tuple` leading to `value`'s slot (the
    /// removal of a tuple just looked up: both of a handshake's removals),
    /// the entry is found by its value alone: by the invariant a slot is
    /// in the table at most once, so no slot is resolved and no tuple
    /// compared to find it; only the generation is checked.
    pub fn remove_if(&mut self, slots: Slots<'_>, tuple: &FourTuple, value: Demux) {
        if let Some(last) = self.recall(tuple) {
            let slot = Self::slot(value);
            if last.slot != Some(slot) {
                return;
            }
            #[cfg(test)]
            self.removal_probes.set(self.removal_probes.get() + 1);
            let entry = encode(slot, last.hash);
            let mut left = None;
            if let Ok(e) = self.table.find_entry(last.hash, |&e| e == entry) {
                if slots.holds(value) {
                    e.remove();
                } else {
                    left = Some(slot);
                }
            }
            self.remember(*tuple, last.hash, left);
            return;
        }
        #[cfg(test)]
        self.removal_probes.set(self.removal_probes.get() + 1);
        let hash = self.hash_of(tuple);
        let mut left = None;
        if let Ok(e) = self
            .table
            .find_entry(hash, |&e| is_entry_of(slots, e, hash, tuple))
        {
            let slot = slot_of(*e.get());
            if slots.resolve(slot).is_some_and(|(d, _)| d == value) {
                e.remove();
            } else {
                left = Some(slot);
            }
        }
        self.remember(*tuple, hash, left);
    }

    /// Room for `additional` more entries. Rehashing reads the slots.
    pub fn reserve(&mut self, slots: Slots<'_>, additional: usize) {
        let hasher = &self.hasher;
        self.table
            .reserve(additional, |&e| rehash(hasher, slots, e));
    }
}

/// A table entry's hash when the table grows: its tuple's, read from its
/// slot (the invariant keeps every entry's slot resolvable).
fn rehash(hasher: &SipTuple, slots: Slots<'_>, entry: u32) -> u64 {
    slots
        .resolve(slot_of(entry))
        .map_or(0, |(_, t)| hasher.hash(&t.packed()))
}

/// Whether table entry `entry` is `tuple`'s (`hash` is its hash): the tag
/// first, then the tuple in the slot.
#[inline]
fn is_entry_of(slots: Slots<'_>, entry: u32, hash: u64, tuple: &FourTuple) -> bool {
    may_be(entry, hash)
        && slots
            .resolve(slot_of(entry))
            .is_some_and(|(_, t)| t == *tuple)
}

#[cfg(test)]
mod tests {
    use super::super::slab::Key;
    use super::*;
    use crate::SeqNum;
    use crate::tcp::conn::TimeWait;
    use crate::time::Instant;
    use core::net::{Ipv4Addr, SocketAddrV4};

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), port),
        }
    }

    fn entry(port: u16) -> TimeWaitEntry {
        let tw = TimeWait::new(SeqNum(1), SeqNum(2), 100, None, Instant::ZERO);
        TimeWaitEntry {
            tuple: tuple(port),
            tw,
            generation: 0,
        }
    }

    #[test]
    fn entries_resolve_through_their_slots_across_growth_and_removal() {
        let conns = Slab::new();
        let mut time_wait = Slab::new();
        let mut map = DemuxMap::new(SipKey([7; 16]));
        let mut keys = Vec::new();
        // Enough entries to resize the table several times (each resize
        // rehashes from the slots).
        for port in 0..2_000u16 {
            let key = time_wait.insert(entry(port));
            let slots = Slots {
                conns: &conns,
                time_wait: &time_wait,
            };
            map.insert(slots, tuple(port), Demux::TimeWait(key));
            keys.push(key);
        }
        let slots = Slots {
            conns: &conns,
            time_wait: &time_wait,
        };
        for (port, &key) in (0..2_000u16).zip(&keys) {
            assert_eq!(map.get(slots, &tuple(port)), Some(Demux::TimeWait(key)));
        }
        assert_eq!(map.get(slots, &tuple(2_000)), None);
        // Only an entry that leads to the given value is removed.
        let other = Demux::TimeWait(keys[1]);
        map.remove_if(slots, &tuple(0), other);
        assert!(map.contains(slots, &tuple(0)));
        map.remove_if(slots, &tuple(0), Demux::TimeWait(keys[0]));
        assert!(!map.contains(slots, &tuple(0)));
        assert!(map.contains(slots, &tuple(1)));
        map.remove(slots, &tuple(1));
        assert_eq!(map.get(slots, &tuple(1)), None);
        assert_eq!(map.table.len(), 1_998);
    }

    /// A connection entry for `tuple`.
    fn conn_entry(tuple: FourTuple) -> ConnEntry {
        use crate::tcp::conn::{ConnParams, Connection, Env};
        let mut env = Env::new(crate::config::Config::default());
        let params = ConnParams {
            iss: SeqNum(1),
            ts_offset: 0,
            socket: Default::default(),
            route_mtu: None,
        };
        let conn = Connection::connect(Instant::ZERO, tuple.local, tuple.remote, &params, &mut env);
        ConnEntry {
            conn,
            owner_kind: super::super::OwnerKind::App,
            owner_listener: Key {
                index: u32::MAX,
                generation: 0,
            },
            generation: 0,
            queued: false,
            fastopen_pending: false,
            charged: 0,
            ip: crate::ip::SocketIp { ttl: 64, tos: 0 },
        }
    }

    /// Two connections' slots, for tuples 1 and 2, and an empty map.
    fn two_connections() -> (Slab<ConnEntry>, [(FourTuple, Key); 2], DemuxMap) {
        let mut conns = Slab::new();
        let (a, b) = (tuple(1), tuple(2));
        let key_a = conns.insert(conn_entry(a));
        let key_b = conns.insert(conn_entry(b));
        let map = DemuxMap::new(SipKey([7; 16]));
        (conns, [(a, key_a), (b, key_b)], map)
    }

    #[test]
    fn a_run_for_one_tuple_hashes_it_once() {
        let (conns, [(a, key_a), (b, key_b)], mut map) = two_connections();
        let time_wait = Slab::new();
        let at = slots(&conns, &time_wait);
        // A missed lookup, then the insert it led to: one hash.
        assert_eq!(map.get(at, &a), None);
        map.insert(at, a, Demux::Conn(key_a));
        assert_eq!(map.hashes.get(), 1);
        // A run of segments for it: no more.
        for _ in 0..5 {
            assert_eq!(map.get(at, &a), Some(Demux::Conn(key_a)));
        }
        assert_eq!(map.hashes.get(), 1);
        // Another tuple hashes; going back to the first hashes again.
        map.insert(at, b, Demux::Conn(key_b));
        assert_eq!(map.get(at, &b), Some(Demux::Conn(key_b)));
        assert_eq!(map.hashes.get(), 2);
        assert_eq!(map.get(at, &a), Some(Demux::Conn(key_a)));
        assert_eq!(map.hashes.get(), 3);
        // Its removal right after: no hash, and it is gone.
        map.remove_if(at, &a, Demux::Conn(key_a));
        assert_eq!(map.hashes.get(), 3);
        assert_eq!(map.get(at, &a), None);
        assert_eq!(map.get(at, &b), Some(Demux::Conn(key_b)));
        assert_eq!(map.table.len(), 1);
    }

    #[test]
    fn an_insert_after_a_missed_lookup_skips_the_search_and_a_replacement_does_not() {
        let mut conns = Slab::new();
        let mut time_wait = Slab::new();
        let mut map = DemuxMap::new(SipKey([7; 16]));
        let a = tuple(1);
        let key = conns.insert(conn_entry(a));
        let tw = time_wait.insert(entry(1));
        let at = slots(&conns, &time_wait);
        assert_eq!(map.get(at, &a), None);
        map.insert(at, a, Demux::Conn(key));
        assert_eq!(map.unique_inserts.get(), 1);
        // Remembered as present: a replacement searches, and replaces.
        map.insert(at, a, Demux::TimeWait(tw));
        assert_eq!(map.unique_inserts.get(), 1);
        assert_eq!(map.table.len(), 1);
        assert_eq!(map.get(at, &a), Some(Demux::TimeWait(tw)));
        // Not remembered (another tuple asked about since): searches too.
        assert_eq!(map.get(at, &tuple(2)), None);
        map.insert(at, a, Demux::Conn(key));
        assert_eq!(map.unique_inserts.get(), 1);
        assert_eq!(map.table.len(), 1);
        assert_eq!(map.get(at, &a), Some(Demux::Conn(key)));
    }

    #[test]
    fn removing_a_tuple_the_map_remembers_as_gone_skips_the_table() {
        let (conns, [(a, key_a), (b, key_b)], mut map) = two_connections();
        let time_wait = Slab::new();
        let at = slots(&conns, &time_wait);
        map.insert(at, a, Demux::Conn(key_a));
        map.insert(at, b, Demux::Conn(key_b));
        map.remove_if(at, &a, Demux::Conn(key_a));
        assert_eq!(map.removal_probes.get(), 1);
        // Asked again (a closed connection's later bookkeeping): no search.
        map.remove_if(at, &a, Demux::Conn(key_a));
        assert_eq!(map.removal_probes.get(), 1);
        // A remembered entry for another value stays, unsearched.
        assert_eq!(map.get(at, &b), Some(Demux::Conn(key_b)));
        map.remove_if(at, &b, Demux::Conn(key_a));
        assert_eq!(map.removal_probes.get(), 1);
        assert_eq!(map.get(at, &b), Some(Demux::Conn(key_b)));
        // Not remembered: the table is searched, and the entry goes.
        assert_eq!(map.get(at, &a), None);
        map.remove_if(at, &b, Demux::Conn(key_b));
        assert_eq!(map.removal_probes.get(), 2);
        assert_eq!(map.get(at, &b), None);
        assert_eq!(map.table.len(), 0);
    }

    /// The map's contract is "remove the entry before the slot". Were it
    /// broken, the remembered answer must still not lead to the slot's new
    /// tuple: it is checked against the slot as a table probe is (debug
    /// builds, CI's among them, flag the broken contract instead).
    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "went stale"))]
    fn a_remembered_answer_never_names_a_reused_slot() {
        let conns = Slab::new();
        let mut time_wait = Slab::new();
        let mut map = DemuxMap::new(SipKey([7; 16]));
        let old = time_wait.insert(entry(1));
        map.insert(slots(&conns, &time_wait), tuple(1), Demux::TimeWait(old));
        let answer = map.get(slots(&conns, &time_wait), &tuple(1));
        assert_eq!(answer, Some(Demux::TimeWait(old)));
        // The slot is freed (without removing the entry) and reused.
        assert!(time_wait.remove(old).is_some());
        let new = time_wait.insert(entry(2));
        assert_eq!(new.index, old.index);
        assert_eq!(map.get(slots(&conns, &time_wait), &tuple(1)), None);
    }

    fn slots<'a>(conns: &'a Slab<ConnEntry>, time_wait: &'a Slab<TimeWaitEntry>) -> Slots<'a> {
        Slots { conns, time_wait }
    }

    proptest::proptest! {
        /// The remembered answer is never stale: any sequence of inserts,
        /// removals and lookups over a few tuples (so that they repeat)
        /// answers as a plain map does.
        #[test]
        fn remembered_answers_match_a_plain_map(
            ops in proptest::collection::vec((0u8..5, 0u16..4), 1..120),
        ) {
            let mut time_wait = Slab::new();
            let keys: Vec<Key> = (0..4u16).map(|p| time_wait.insert(entry(p))).collect();
            let conns = Slab::new();
            let slots = Slots { conns: &conns, time_wait: &time_wait };
            let mut map = DemuxMap::new(SipKey([9; 16]));
            let mut model = std::collections::HashMap::new();
            for (op, port) in ops {
                let t = tuple(port);
                let value = Demux::TimeWait(keys[usize::from(port)]);
                match op {
                    0 => {
                        map.insert(slots, t, value);
                        model.insert(port, value);
                    }
                    1 => {
                        map.remove(slots, &t);
                        model.remove(&port);
                    }
                    2 => {
                        // Only removes when the value matches.
                        let other = Demux::TimeWait(keys[usize::from((port + 1) % 4)]);
                        let which = if port % 2 == 0 { value } else { other };
                        map.remove_if(slots, &t, which);
                        if model.get(&port) == Some(&which) {
                            model.remove(&port);
                        }
                    }
                    3 => {
                        // The right slot, an older or later generation: a
                        // stale key removes nothing, whether or not the map
                        // remembers the tuple.
                        let k = keys[usize::from(port)];
                        let stale = Key {
                            index: k.index,
                            generation: k.generation.wrapping_add(if port % 2 == 0 { 1 } else { u32::MAX }),
                        };
                        map.remove_if(slots, &t, Demux::TimeWait(stale));
                    }
                    _ => {}
                }
                for p in 0..4u16 {
                    proptest::prop_assert_eq!(map.get(slots, &tuple(p)), model.get(&p).copied());
                }
                proptest::prop_assert_eq!(map.get(slots, &t), model.get(&port).copied());
                proptest::prop_assert_eq!(map.table.len(), model.len());
            }
        }
    }

    #[test]
    fn the_packed_tuple_tells_every_field_apart() {
        let t = tuple(7);
        assert_eq!(t.packed(), [192, 0, 2, 1, 198, 51, 100, 7, 0, 80, 0, 7]);
        let swapped = FourTuple {
            local: t.remote,
            remote: t.local,
        };
        let map = DemuxMap::new(SipKey([7; 16]));
        assert_ne!(map.hash(&t), map.hash(&swapped));
        assert_ne!(map.hash(&t), map.hash(&tuple(8)));
        assert_ne!(
            map.hash(&t),
            DemuxMap::new(SipKey([8; 16])).hash(&t),
            "keyed"
        );
    }

    /// Lookups of absent tuples in a well-filled table read almost no
    /// slot: the tag turns away candidates the control byte let through.
    /// Here 10 lookups of 10,000 read one; without the tag 771 did.
    #[test]
    fn a_lookup_of_an_absent_tuple_reads_no_slot_the_tag_rules_out() {
        let conns = Slab::new();
        let mut time_wait = Slab::new();
        let mut map = DemuxMap::new(SipKey([7; 16]));
        for port in 0..10_000u16 {
            let key = time_wait.insert(entry(port));
            map.insert(slots(&conns, &time_wait), tuple(port), Demux::TimeWait(key));
        }
        let at = slots(&conns, &time_wait);
        let absent = |i: u16| FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 81),
            remote: SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), i),
        };
        map.probe_reads.set(0);
        for i in 0..10_000u16 {
            assert_eq!(map.get(at, &absent(i)), None);
        }
        let reads = map.probe_reads.get();
        assert!(reads < 40, "{reads} slots read for 10,000 absent tuples");
        // Present tuples still read exactly their own slot.
        map.probe_reads.set(0);
        for port in (0..10_000u16).step_by(7) {
            assert!(map.contains(at, &tuple(port)));
        }
        assert_eq!(map.probe_reads.get(), 1_429);
    }

    /// An index from 2^24 up is kept whole and untagged; a lower one keeps
    /// its tag beside it; the TIME-WAIT mark survives both.
    #[test]
    fn an_entry_keeps_its_index_and_kind_at_every_size() {
        let hash = 0x0000_0035_0000_0000u64; // tag 0x35
        for index in [
            0,
            1,
            NARROW_INDEX,
            NARROW_INDEX + 1,
            (1 << 29) + 3,
            WIDE_BIT - 1,
        ] {
            for kind in [0, TIME_WAIT_BIT] {
                let stored = encode(index | kind, hash);
                assert_eq!(slot_of(stored), index | kind, "{index:#x}");
                assert_eq!(stored & TIME_WAIT_BIT, kind);
                assert!(may_be(stored, hash));
                let narrow = index <= NARROW_INDEX;
                assert_eq!(stored & WIDE_BIT == 0, narrow);
                // Another tag rules a narrow entry out, never a wide one.
                assert_eq!(may_be(stored, hash ^ (1 << 33)), !narrow);
            }
        }
        assert_eq!(tag_of(hash), 0x35 << TAG_SHIFT);
        assert_eq!(tag_of(!0x0000_003f_0000_0000u64), 0);
    }

    #[test]
    fn a_bucket_holds_a_bare_slot_index() {
        // 4 bytes a bucket plus hashbrown's control byte: a 4-tuple and a
        // slab key would take 24 + 1.
        let mut map = DemuxMap::new(SipKey([7; 16]));
        let (conns, time_wait) = (Slab::new(), Slab::new());
        map.reserve(
            Slots {
                conns: &conns,
                time_wait: &time_wait,
            },
            1_000,
        );
        assert!(map.table.capacity() >= 1_000);
        assert!(map.table.allocation_size() <= 2_048 * 5 + 64);
    }
}
