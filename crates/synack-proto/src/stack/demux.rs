//! The demultiplexing map: 4-tuple to connection or TIME-WAIT entry, O(1).
//!
//! Read first: RFC 9293 §3.10.7 (a segment goes to the connection its
//! 4-tuple names), DESIGN.md §4 (demux O(1); an idle connection stays small).
//!
//! The map stores a bare slot index per entry (4 bytes, a TIME-WAIT entry
//! marked by the top bit), not the 4-tuple: the tuple is already in the slot
//! the index names, so a lookup compares the tuple there, and a resize
//! rehashes from there. At a million connections that is 5 bytes per bucket
//! instead of 25 (a 12-byte tuple, a 12-byte value and the control byte).
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
/// below 2^31: each is hundreds of bytes).
const TIME_WAIT_BIT: u32 = 1 << 31;

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

    /// The entry a stored index names, with its tuple.
    fn resolve(&self, stored: u32) -> Option<(Demux, FourTuple)> {
        if stored & TIME_WAIT_BIT != 0 {
            let (key, e) = self.time_wait.get_index(stored & !TIME_WAIT_BIT)?;
            Some((Demux::TimeWait(key), e.tuple))
        } else {
            let (key, e) = self.conns.get_index(stored)?;
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
    /// The stored slot index, or `None`: the tuple is not in the table.
    stored: Option<u32>,
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

    fn remember(&self, tuple: FourTuple, hash: u64, stored: Option<u32>) {
        self.last.set(Some(Last {
            tuple,
            hash,
            stored,
        }));
    }

    fn stored(value: Demux) -> u32 {
        match value {
            Demux::Conn(key) => key.index,
            Demux::TimeWait(key) => key.index | TIME_WAIT_BIT,
        }
    }

    /// What `tuple` leads to.
    ///
    /// Inline for the remembered answer (a run of segments for one
    /// connection: most of them); the probe of the table is a call away.
    #[inline]
    pub fn get(&self, slots: Slots<'_>, tuple: &FourTuple) -> Option<Demux> {
        if let Some(last) = self.recall(tuple) {
            let stored = last.stored?;
            // The slot's tuple is checked as a probe of the table checks
            // it, so a remembered answer can never name another
            // connection's slot, even if the slot were reused first.
            if let Some((demux, t)) = slots.resolve(stored)
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
        let stored = self
            .table
            .find(hash, |&i| {
                slots.resolve(i).is_some_and(|(_, t)| t == *tuple)
            })
            .copied();
        self.remember(*tuple, hash, stored);
        slots.resolve(stored?).map(|(demux, _)| demux)
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
        let stored = Self::stored(value);
        let hasher = &self.hasher;
        let rehash = |&i: &u32| {
            // The invariant keeps every stored index resolvable.
            slots
                .resolve(i)
                .map_or(0, |(_, t)| hasher.hash(&t.packed()))
        };
        if recalled.is_some_and(|last| last.stored.is_none()) {
            #[cfg(test)]
            self.unique_inserts.set(self.unique_inserts.get() + 1);
            self.table.insert_unique(hash, stored, rehash);
            self.remember(tuple, hash, Some(stored));
            return;
        }
        match self.table.entry(
            hash,
            |&i| slots.resolve(i).is_some_and(|(_, t)| t == tuple),
            rehash,
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = stored,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(stored);
            }
        }
        self.remember(tuple, hash, Some(stored));
    }

    /// Forgets `tuple`.
    pub fn remove(&mut self, slots: Slots<'_>, tuple: &FourTuple) {
        let hash = self.hash_of(tuple);
        if let Ok(e) = self.table.find_entry(hash, |&i| {
            slots.resolve(i).is_some_and(|(_, t)| t == *tuple)
        }) {
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
    /// the entry is found by its stored index alone: by the invariant an
    /// index is in the table at most once, so no slot is resolved and no
    /// tuple compared to find it; only the generation is checked.
    pub fn remove_if(&mut self, slots: Slots<'_>, tuple: &FourTuple, value: Demux) {
        if let Some(last) = self.recall(tuple) {
            let stored = Self::stored(value);
            if last.stored != Some(stored) {
                return;
            }
            #[cfg(test)]
            self.removal_probes.set(self.removal_probes.get() + 1);
            let mut left = None;
            if let Ok(e) = self.table.find_entry(last.hash, |&i| i == stored) {
                if slots.holds(value) {
                    e.remove();
                } else {
                    left = Some(stored);
                }
            }
            self.remember(*tuple, last.hash, left);
            return;
        }
        #[cfg(test)]
        self.removal_probes.set(self.removal_probes.get() + 1);
        let hash = self.hash_of(tuple);
        let mut left = None;
        if let Ok(e) = self.table.find_entry(hash, |&i| {
            slots.resolve(i).is_some_and(|(_, t)| t == *tuple)
        }) {
            if slots.resolve(*e.get()).is_some_and(|(d, _)| d == value) {
                e.remove();
            } else {
                left = Some(*e.get());
            }
        }
        self.remember(*tuple, hash, left);
    }

    /// Room for `additional` more entries. Rehashing reads the slots.
    pub fn reserve(&mut self, slots: Slots<'_>, additional: usize) {
        let hasher = &self.hasher;
        self.table.reserve(additional, |&i| {
            slots
                .resolve(i)
                .map_or(0, |(_, t)| hasher.hash(&t.packed()))
        });
    }
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
            fastopen_listener: super::super::slab::OptionKey::NONE,
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
