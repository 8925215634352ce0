//! The stack-wide [`TimerQueue`]: every connection's next wake-up in a
//! hierarchical timing wheel with lazy deletion, and the per-key slots it
//! keeps (hashed, or dense by slab index).

use crate::time::Instant;
use core::hash::{BuildHasher, Hash};
use std::collections::HashMap;

/// The default hasher of a [`TimerQueue`]: FxHash. Fast and deterministic,
/// so runs replay exactly; the queue's keys are the stack's own connection
/// handles, not values a peer chooses. Use [`TimerQueue::with_hasher`] with
/// a keyed hasher if keys can be chosen by an attacker.
pub type FixedHasher = rustc_hash::FxBuildHasher;

/// A key's state: the deadline it wants, and the wheel entry that stands for it.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    deadline: Instant,
    /// Orders keys with equal deadlines: the earlier `schedule` call first.
    seq: u64,
    /// Time of the wheel entry that represents this key; at most `deadline`.
    queued_at: Instant,
}

/// Where a [`TimerQueue`] keeps each scheduled key's [`Slot`]: a hash map
/// ([`HashSlots`], any key) or, for keys that are small indices, arrays
/// indexed by them ([`DenseSlots`]: no hashing, no probing on the
/// reschedule every segment makes).
pub trait KeySlots<K>: Clone {
    fn get(&self, key: K) -> Option<&Slot>;
    fn get_mut(&mut self, key: K) -> Option<&mut Slot>;
    /// Stores the slot of a key that has none.
    fn insert(&mut self, key: K, slot: Slot);
    /// Whether the key had a slot.
    fn remove(&mut self, key: K) -> bool;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn clear(&mut self);
    fn shrink_to_fit(&mut self);
    /// Every key's slot, in no particular order.
    fn for_each_mut(&mut self, f: impl FnMut(K, &mut Slot));
}

/// [`KeySlots`] in a hash map.
#[derive(Clone, Debug)]
pub struct HashSlots<K, S = FixedHasher>(HashMap<K, Slot, S>);

impl<K: Copy + Eq + Hash, S: BuildHasher + Clone> KeySlots<K> for HashSlots<K, S> {
    fn get(&self, key: K) -> Option<&Slot> {
        self.0.get(&key)
    }
    fn get_mut(&mut self, key: K) -> Option<&mut Slot> {
        self.0.get_mut(&key)
    }
    fn insert(&mut self, key: K, slot: Slot) {
        self.0.insert(key, slot);
    }
    fn remove(&mut self, key: K) -> bool {
        self.0.remove(&key).is_some()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
    fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
    fn for_each_mut(&mut self, mut f: impl FnMut(K, &mut Slot)) {
        for (&k, slot) in self.0.iter_mut() {
            f(k, slot);
        }
    }
}

/// A key that names a small index in one of at most two lanes (the
/// stack's timers: a connection's or a TIME-WAIT entry's slab index).
pub trait DenseKey: Copy {
    /// The key's lane (0 or 1) and index in it.
    fn lane_index(self) -> (usize, usize);
    /// The key at a lane and index.
    fn from_lane_index(lane: usize, index: usize) -> Self;
}

/// Marks a vacant [`DenseSlots`] entry (sequence numbers count up from 0
/// and never get there).
const VACANT_SEQ: u64 = u64::MAX;

/// Slots per [`DenseSlots`] chunk.
const CHUNK: usize = 64;

/// `CHUNK` consecutive indices' slots, allocated while one of them is
/// scheduled.
#[derive(Clone, Debug)]
struct Chunk {
    slots: [Slot; CHUNK],
    live: u32,
}

/// [`KeySlots`] in arrays indexed by [`DenseKey`], in chunks of 64 that
/// exist only while one of their keys is scheduled: a slot is an index
/// and a pointer away, with no hash, and memory follows the scheduled
/// keys, not the largest index (a million idle connections with no timer
/// cost a pointer per 64 of them). The last chunk to empty is kept for the
/// next one, so a key that comes and goes does not allocate each time.
#[derive(Clone, Debug, Default)]
pub struct DenseSlots {
    lanes: [Vec<Option<Box<Chunk>>>; 2],
    spare: Option<Box<Chunk>>,
    len: usize,
}

impl DenseSlots {
    const VACANT: Slot = Slot {
        deadline: Instant::ZERO,
        seq: VACANT_SEQ,
        queued_at: Instant::ZERO,
    };

    /// Chunks allocated (tests).
    #[cfg(test)]
    fn chunks(&self) -> usize {
        self.lanes.iter().flatten().filter(|c| c.is_some()).count()
    }
}

impl<K: DenseKey> KeySlots<K> for DenseSlots {
    #[inline]
    fn get(&self, key: K) -> Option<&Slot> {
        let (lane, i) = key.lane_index();
        let chunk = self.lanes[lane].get(i / CHUNK)?.as_deref()?;
        Some(&chunk.slots[i % CHUNK]).filter(|s| s.seq != VACANT_SEQ)
    }
    #[inline]
    fn get_mut(&mut self, key: K) -> Option<&mut Slot> {
        let (lane, i) = key.lane_index();
        let chunk = self.lanes[lane].get_mut(i / CHUNK)?.as_deref_mut()?;
        Some(&mut chunk.slots[i % CHUNK]).filter(|s| s.seq != VACANT_SEQ)
    }
    fn insert(&mut self, key: K, slot: Slot) {
        let (lane, i) = key.lane_index();
        let lane = &mut self.lanes[lane];
        if lane.len() <= i / CHUNK {
            lane.resize_with(i / CHUNK + 1, || None);
        }
        let spare = &mut self.spare;
        let chunk = lane[i / CHUNK].get_or_insert_with(|| {
            spare.take().unwrap_or_else(|| {
                Box::new(Chunk {
                    slots: [Self::VACANT; CHUNK],
                    live: 0,
                })
            })
        });
        let entry = &mut chunk.slots[i % CHUNK];
        if entry.seq == VACANT_SEQ {
            chunk.live += 1;
            self.len += 1;
        }
        *entry = slot;
    }
    #[inline]
    fn remove(&mut self, key: K) -> bool {
        let (lane, i) = key.lane_index();
        let Some(place) = self.lanes[lane].get_mut(i / CHUNK) else {
            return false;
        };
        let Some(chunk) = place.as_deref_mut() else {
            return false;
        };
        let entry = &mut chunk.slots[i % CHUNK];
        if entry.seq == VACANT_SEQ {
            return false;
        }
        entry.seq = VACANT_SEQ;
        chunk.live -= 1;
        self.len -= 1;
        if chunk.live == 0 {
            // Every slot in it is vacant: it can serve any chunk next.
            self.spare = place.take();
        }
        true
    }
    fn len(&self) -> usize {
        self.len
    }
    fn clear(&mut self) {
        self.lanes = Default::default();
        self.spare = None;
        self.len = 0;
    }
    fn shrink_to_fit(&mut self) {
        self.spare = None;
        for lane in &mut self.lanes {
            let used = lane.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
            lane.truncate(used);
            lane.shrink_to_fit();
        }
    }
    fn for_each_mut(&mut self, mut f: impl FnMut(K, &mut Slot)) {
        for (l, lane) in self.lanes.iter_mut().enumerate() {
            for (c, chunk) in lane.iter_mut().enumerate() {
                let Some(chunk) = chunk else { continue };
                for (i, slot) in chunk.slots.iter_mut().enumerate() {
                    if slot.seq != VACANT_SEQ {
                        f(K::from_lane_index(l, c * CHUNK + i), slot);
                    }
                }
            }
        }
    }
}

/// A key's place in the wheel. Entries whose key was cancelled or
/// rescheduled stay behind (lazy deletion) and are discarded or moved when
/// reached.
#[derive(Clone, Copy, Debug)]
struct WheelEntry<K> {
    at: Instant,
    seq: u64,
    key: K,
}

/// Bits of time per wheel level: 64 slots each.
const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
/// 11 levels of 6 bits cover all 64 bits of an `Instant` in microseconds.
const LEVELS: usize = 11;

/// Stale entries tolerated beyond one per live key before the wheel is
/// rebuilt from the map.
const COMPACT_SLACK: usize = 64;

/// A hierarchical timing wheel over microseconds (the structure of Varghese
/// and Lauck's scheme 7, as in the Linux and tokio timer wheels, but exact:
/// entries cascade down to one-microsecond slots before they fire).
#[derive(Clone)]
struct Wheel<K> {
    /// `LEVELS * SLOTS` buckets. Level `l` slot `s` holds entries whose
    /// placement time agrees with `elapsed` above bit `6(l+1)` and has digit
    /// `s` at level `l`.
    buckets: Box<[Vec<WheelEntry<K>>]>,
    /// Non-empty buckets, one bit per slot per level.
    occupied: [u64; LEVELS],
    /// The wheel's time in µs: every entry is placed at `max(at, elapsed)`.
    elapsed: u64,
    /// Entries in all buckets, live or stale.
    len: usize,
    /// The level-0 slot whose bucket is sorted (descending, so the next
    /// entry to fire is last).
    sorted_slot: Option<usize>,
}

impl<K: Copy> Wheel<K> {
    fn new() -> Self {
        Wheel {
            buckets: (0..LEVELS * SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; LEVELS],
            elapsed: 0,
            len: 0,
            sorted_slot: None,
        }
    }

    fn place(&mut self, entry: WheelEntry<K>) {
        // An entry already due goes into the current slot, where it is sorted
        // by its true time.
        let p = entry.at.total_micros().max(self.elapsed);
        let diff = p ^ self.elapsed;
        let level = if diff == 0 {
            0
        } else {
            ((63 - diff.leading_zeros()) / LEVEL_BITS) as usize
        };
        let slot = ((p >> (level as u32 * LEVEL_BITS)) as usize) & (SLOTS - 1);
        self.buckets[level * SLOTS + slot].push(entry);
        self.occupied[level] |= 1 << slot;
        if level == 0 && self.sorted_slot == Some(slot) {
            self.sorted_slot = None;
        }
        self.len += 1;
    }

    /// The entry that fires next among those in the wheel (stale or not),
    /// brought down to level 0. Advances `elapsed` to its slot: nothing in the
    /// wheel is earlier, and entries placed later for earlier times land in
    /// the same slot.
    fn peek(&mut self) -> Option<WheelEntry<K>> {
        loop {
            let level = self.occupied.iter().position(|&bits| bits != 0)?;
            let slot = self.occupied[level].trailing_zeros() as usize;
            if level == 0 {
                self.elapsed = (self.elapsed & !(SLOTS as u64 - 1)) | slot as u64;
                let bucket = &mut self.buckets[slot];
                if self.sorted_slot != Some(slot) {
                    bucket.sort_unstable_by_key(|e| core::cmp::Reverse((e.at, e.seq)));
                    self.sorted_slot = Some(slot);
                }
                return bucket.last().copied();
            }
            // Cascade: move to the start of this slot's span and re-place its
            // entries on the levels below (all lower levels are empty).
            let shift = level as u32 * LEVEL_BITS;
            let above = (self.elapsed.checked_shr(shift + LEVEL_BITS).unwrap_or(0))
                .checked_shl(shift + LEVEL_BITS)
                .unwrap_or(0);
            self.elapsed = above | ((slot as u64) << shift);
            self.sorted_slot = None;
            let index = level * SLOTS + slot;
            let mut bucket = core::mem::take(&mut self.buckets[index]);
            self.occupied[level] &= !(1 << slot);
            self.len -= bucket.len();
            for entry in bucket.drain(..) {
                self.place(entry);
            }
            // Keep the allocation for reuse.
            self.buckets[index] = bucket;
        }
    }

    /// Removes the entry `peek` returned.
    fn pop(&mut self) {
        let slot = (self.elapsed as usize) & (SLOTS - 1);
        let bucket = &mut self.buckets[slot];
        if bucket.pop().is_some() {
            self.len -= 1;
        }
        if bucket.is_empty() {
            self.occupied[0] &= !(1 << slot);
        }
    }

    /// Empties every bucket, keeping allocations (for a rebuild) or not.
    fn clear(&mut self, keep_allocations: bool) {
        for bucket in self.buckets.iter_mut() {
            if keep_allocations {
                bucket.clear();
            } else {
                *bucket = Vec::new();
            }
        }
        self.occupied = [0; LEVELS];
        self.len = 0;
        self.sorted_slot = None;
    }
}

/// The earliest deadline across many keys (connections).
///
/// A map from key to its wanted deadline, plus a hierarchical timing wheel
/// with lazy deletion: scheduling and cancelling are O(1) (a map operation
/// and at most one append); rescheduling to a later time (the common case:
/// the RTO restarts on every ACK) touches only the map, and the old entry is
/// moved when the wheel reaches it. Each entry cascades down at most 10
/// levels before it fires, in sequential passes over buckets. When stale
/// entries outnumber live keys the wheel is rebuilt from the map (O(n),
/// amortised O(1) per operation), so memory stays O(live keys) however often
/// keys are rescheduled.
///
/// Deadlines are exact to the microsecond. Keys due at the same instant pop
/// in the order of their last `schedule` call, independent of the hasher,
/// so the order is deterministic.
#[derive(Clone)]
pub struct TimerQueue<K, M = HashSlots<K>> {
    slots: M,
    _key: core::marker::PhantomData<K>,
    wheel: Wheel<K>,
    next_seq: u64,
    /// [`TimerQueue::next_deadline_hint`]'s last answer, while nothing has
    /// made it stale: a stack asks after every output, far more often than
    /// the front of the wheel changes.
    hint: Option<Option<Instant>>,
    /// The last change: `key` scheduled at the instant (or cancelled, with
    /// `None`), and nothing else since. Doing it again changes nothing,
    /// not even the order of equal deadlines (the key is already the
    /// newest), so it costs no map lookup: a stack reschedules a
    /// connection after each of its inputs and outputs, mostly to where it
    /// already is.
    last: Option<(K, Option<Instant>)>,
}

impl<K: Copy + Eq + Hash> Default for TimerQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq + Hash> TimerQueue<K> {
    /// An empty queue with the deterministic [`FixedHasher`].
    pub fn new() -> Self {
        Self::with_hasher(FixedHasher::default())
    }
}

impl<K: Copy + Eq + Hash, S: BuildHasher + Clone> TimerQueue<K, HashSlots<K, S>> {
    /// An empty queue hashing keys with `hasher`.
    pub fn with_hasher(hasher: S) -> Self {
        Self::with_slots(HashSlots(HashMap::with_hasher(hasher)))
    }
}

impl<K: DenseKey + Eq> TimerQueue<K, DenseSlots> {
    /// An empty queue for keys that are small indices ([`DenseKey`]).
    pub fn dense() -> Self {
        Self::with_slots(DenseSlots::default())
    }
}

impl<K: Copy + Eq, M: KeySlots<K>> TimerQueue<K, M> {
    fn with_slots(slots: M) -> Self {
        TimerQueue {
            slots,
            _key: core::marker::PhantomData,
            wheel: Wheel::new(),
            next_seq: 0,
            hint: None,
            last: None,
        }
    }

    /// Number of scheduled keys.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Entries in the wheel, live and stale: at most about twice `len()`.
    pub fn queued_entries(&self) -> usize {
        self.wheel.len
    }

    /// When `key` is due, if scheduled.
    pub fn deadline(&self, key: K) -> Option<Instant> {
        self.slots.get(key).map(|s| s.deadline)
    }

    /// Schedules `key` at `deadline`, replacing any earlier schedule for it.
    /// A deadline in the past is due at once.
    ///
    /// Inline, as the stack reschedules a connection after nearly every
    /// input and output: again at the same time is one compare, and a
    /// later time for a key already queued (the RTO restarting on an ACK)
    /// updates its slot and touches no wheel (with [`DenseSlots`], no
    /// hash either). Only an earlier time, or a new key, queues an entry,
    /// out of line.
    #[inline(always)]
    pub fn schedule(&mut self, key: K, deadline: Instant) {
        if self.last == Some((key, Some(deadline))) {
            return;
        }
        if let Some(slot) = self.slots.get_mut(key)
            && deadline >= slot.queued_at
        {
            // The queued entry comes first and is moved to `deadline` when
            // the wheel reaches it.
            self.last = Some((key, Some(deadline)));
            slot.deadline = deadline;
            slot.seq = self.next_seq;
            self.next_seq += 1;
            self.maybe_compact();
            return;
        }
        self.schedule_queued(key, deadline);
    }

    /// [`TimerQueue::schedule`] for a new key, or a time before the one
    /// its wheel entry is queued at.
    #[inline(never)]
    fn schedule_queued(&mut self, key: K, deadline: Instant) {
        self.last = Some((key, Some(deadline)));
        let seq = self.next_seq;
        self.next_seq += 1;
        match self.slots.get_mut(key) {
            None => {
                self.slots.insert(
                    key,
                    Slot {
                        deadline,
                        seq,
                        queued_at: deadline,
                    },
                );
            }
            Some(slot) => {
                // The queued entry would be too late: queue a new one and
                // let the old one go stale.
                slot.deadline = deadline;
                slot.seq = seq;
                slot.queued_at = deadline;
            }
        }
        self.enqueue(key, deadline, seq);
    }

    /// Queues a wheel entry for `key`, whose slot now says `deadline`.
    #[inline]
    fn enqueue(&mut self, key: K, deadline: Instant, seq: u64) {
        self.wheel.place(WheelEntry {
            at: deadline,
            seq,
            key,
        });
        self.lower_hint(deadline);
        self.maybe_compact();
    }

    /// Unschedules `key`; returns whether it was scheduled.
    #[inline(always)]
    pub fn cancel(&mut self, key: K) -> bool {
        if self.last == Some((key, None)) {
            return false;
        }
        self.last = Some((key, None));
        let was = self.slots.remove(key);
        if was {
            // The key's entry may have been the front.
            self.hint = None;
        }
        self.maybe_compact();
        was
    }

    /// A new wheel entry at `at`: the front is the earlier of the two. (A
    /// superseded entry of the same key becomes stale, but it was at or
    /// after `at`, so the answer stays `at` or an earlier live entry.)
    fn lower_hint(&mut self, at: Instant) {
        if let Some(hint) = &mut self.hint {
            *hint = Some(hint.map_or(at, |h| h.min(at)));
        }
    }

    /// The earliest deadline of any key. Takes `&mut self` because it first
    /// discards or moves stale entries at the front of the wheel, so the
    /// answer is exact.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.settle().map(|e| e.at)
    }

    /// A lower bound on [`TimerQueue::next_deadline`], cheaper to get: a key
    /// rescheduled to a later time since its wheel entry was queued is
    /// reported at the entry's (earlier) time instead of being moved now.
    /// A driver that wakes then finds nothing due (a spurious wake-up) and
    /// asks again; the entry is moved by that `pop_expired`. This keeps the
    /// per-segment cost of "restart the RTO" at one map update: the move
    /// happens at most once per RTO period, not once per ACK.
    #[inline]
    pub fn next_deadline_hint(&mut self) -> Option<Instant> {
        if let Some(hint) = self.hint {
            return hint;
        }
        self.refresh_hint()
    }

    /// [`TimerQueue::next_deadline_hint`] without a cached answer.
    #[inline(never)]
    fn refresh_hint(&mut self) -> Option<Instant> {
        let hint = self.find_hint();
        self.hint = Some(hint);
        hint
    }

    fn find_hint(&mut self) -> Option<Instant> {
        loop {
            let top = self.wheel.peek()?;
            match self.slots.get(top.key) {
                // Live: exact, or postponed (the true deadline is later).
                Some(slot) if slot.queued_at == top.at => return Some(top.at),
                // Cancelled, fired, or superseded by an earlier entry.
                _ => self.wheel.pop(),
            }
        }
    }

    /// Removes and returns a key whose deadline is at or before `now`, the
    /// earliest first. Call in a loop until `None`.
    #[must_use = "a popped timer is not returned again"]
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let entry = self.settle()?;
        if entry.at > now {
            return None;
        }
        self.wheel.pop();
        self.slots.remove(entry.key);
        self.hint = None;
        self.last = None;
        Some(entry.key)
    }

    /// Unschedules everything and frees the wheel's buckets.
    pub fn clear(&mut self) {
        self.last = None;
        self.slots.clear();
        self.wheel.clear(false);
        self.hint = None;
    }

    /// Drops stale entries and gives back memory kept from a past peak
    /// (bucket and map allocations are otherwise reused, so that steady
    /// operation does not allocate). For an idle moment, not the fast path.
    pub fn shrink_to_fit(&mut self) {
        self.rebuild(false);
        self.slots.shrink_to_fit();
    }

    /// Brings the next live entry to the front of the wheel, discarding
    /// stale entries and moving postponed ones on the way.
    fn settle(&mut self) -> Option<WheelEntry<K>> {
        // Entries move: the front may change.
        self.hint = None;
        loop {
            let top = self.wheel.peek()?;
            let Some(slot) = self.slots.get_mut(top.key) else {
                self.wheel.pop(); // cancelled or already fired
                continue;
            };
            if slot.queued_at != top.at {
                self.wheel.pop(); // superseded by an earlier entry
                continue;
            }
            if slot.deadline == top.at && slot.seq == top.seq {
                return Some(top);
            }
            // Rescheduled since this entry was queued (later, or to the same
            // time behind keys scheduled in between): move it.
            slot.queued_at = slot.deadline;
            let moved = WheelEntry {
                at: slot.deadline,
                seq: slot.seq,
                key: top.key,
            };
            self.wheel.pop();
            self.wheel.place(moved);
        }
    }

    /// Rebuilds the wheel from the map when stale entries pile up.
    #[inline]
    fn maybe_compact(&mut self) {
        if self.wheel.len > 2 * self.slots.len() + COMPACT_SLACK {
            self.compact();
        }
    }

    #[cold]
    #[inline(never)]
    fn compact(&mut self) {
        self.rebuild(true);
    }

    /// Replaces every wheel entry with exactly one per live key.
    fn rebuild(&mut self, keep_allocations: bool) {
        self.wheel.clear(keep_allocations);
        self.hint = None;
        let wheel = &mut self.wheel;
        self.slots.for_each_mut(|key, slot| {
            slot.queued_at = slot.deadline;
            wheel.place(WheelEntry {
                at: slot.deadline,
                seq: slot.seq,
                key,
            });
        });
    }
}

impl<K, M: KeySlots<K>> core::fmt::Debug for TimerQueue<K, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TimerQueue")
            .field("keys", &self.slots.len())
            .field("queued_entries", &self.wheel.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn repeating_the_last_schedule_or_cancel_changes_nothing_else_does() {
        let mut q = TimerQueue::new();
        // Rescheduled after 'b' to the same time: 'a' is newer, so later.
        q.schedule('a', t(10));
        q.schedule('a', t(10));
        q.schedule('b', t(10));
        q.schedule('a', t(10));
        assert_eq!(q.pop_expired(t(10)), Some('b'));
        // Fired: scheduling it again at the same time queues it again.
        assert_eq!(q.pop_expired(t(10)), Some('a'));
        q.schedule('a', t(10));
        assert_eq!(q.deadline('a'), Some(t(10)));
        // Cancelled twice, then back at the same time.
        assert!(q.cancel('a'));
        assert!(!q.cancel('a'));
        q.schedule('a', t(10));
        assert_eq!(q.pop_expired(t(10)), Some('a'));
        assert!(q.is_empty());
        // Cleared: the last schedule is forgotten too.
        q.schedule('c', t(20));
        q.clear();
        q.schedule('c', t(20));
        assert_eq!(q.pop_expired(t(20)), Some('c'));
    }

    #[test]
    fn queue_pops_in_deadline_order_with_fifo_ties() {
        let mut q = TimerQueue::new();
        q.schedule('a', t(30));
        q.schedule('b', t(10));
        q.schedule('c', t(20));
        q.schedule('d', t(10));
        assert_eq!(q.next_deadline(), Some(t(10)));
        assert_eq!(q.pop_expired(t(5)), None);
        let mut out = Vec::new();
        while let Some(k) = q.pop_expired(t(100)) {
            out.push(k);
        }
        assert_eq!(out, ['b', 'd', 'c', 'a']);
        assert!(q.is_empty());
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn rescheduling_replaces_and_cancel_removes() {
        let mut q = TimerQueue::new();
        q.schedule(1u32, t(100));
        q.schedule(2u32, t(200));
        // Later: only the map changes.
        q.schedule(1, t(300));
        assert_eq!(q.queued_entries(), 2);
        assert_eq!(q.deadline(1), Some(t(300)));
        assert_eq!(q.next_deadline(), Some(t(200)), "exact, not the stale 100");
        // Earlier: a new entry.
        q.schedule(2, t(50));
        assert_eq!(q.next_deadline(), Some(t(50)));
        assert!(q.cancel(2));
        assert!(!q.cancel(2));
        assert_eq!(q.next_deadline(), Some(t(300)));
        assert_eq!(q.pop_expired(t(299)), None);
        assert_eq!(q.pop_expired(t(300)), Some(1));
        assert_eq!(q.pop_expired(t(1000)), None);
    }

    #[test]
    fn memory_stays_bounded_under_constant_rescheduling() {
        let mut q = TimerQueue::new();
        let mut rng = Rng::from_seed(42);
        for k in 0..100u32 {
            q.schedule(k, t(1_000));
        }
        // Every "ACK" moves some key's timer both earlier and later.
        for i in 0..100_000u64 {
            let k = rng.below(100) as u32;
            q.schedule(k, t(1_000 + i + rng.below(200)));
            q.schedule(k, t(500 + rng.below(500)));
            assert!(q.queued_entries() <= 2 * q.len() + COMPACT_SLACK + 1);
        }
        assert_eq!(q.len(), 100);
    }

    #[test]
    fn clear_and_shrink_keep_the_queue_consistent() {
        let mut q = TimerQueue::new();
        for k in 0..1000u32 {
            q.schedule(k, t(u64::from(k) + 10));
            q.schedule(k, t(5)); // earlier: leaves a stale entry behind
        }
        q.shrink_to_fit();
        assert_eq!(q.queued_entries(), 1000);
        for k in 0..1000u32 {
            assert_eq!(q.pop_expired(t(5)), Some(k), "ties in schedule order");
        }
        q.schedule(7, t(1));
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.next_deadline(), None);
        q.schedule(8, t(2));
        assert_eq!(q.pop_expired(t(2)), Some(8));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Schedule(u8, u64),
        Cancel(u8),
        Advance(u64),
        Next,
        Hint,
        Shrink,
    }

    /// Deadlines at every scale the wheel has levels for, and the extremes.
    fn deadline() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => 0u64..2_000,
            2 => 0u64..5_000_000,
            1 => 0u64..(1 << 40),
            1 => (0u64..4).prop_map(|i| u64::MAX - i),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..16, deadline()).prop_map(|(k, d)| Op::Schedule(k, d)),
            1 => (0u8..16).prop_map(Op::Cancel),
            2 => deadline().prop_map(Op::Advance),
            1 => Just(Op::Next),
            2 => Just(Op::Hint),
            1 => Just(Op::Shrink),
        ]
    }

    /// A key in two lanes, as the stack's: even keys in lane 0, odd in 1,
    /// spread 37 indices apart so keys share chunks and span several.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    struct Lane(u8);

    impl DenseKey for Lane {
        fn lane_index(self) -> (usize, usize) {
            (usize::from(self.0 % 2), usize::from(self.0 / 2) * 37)
        }
        fn from_lane_index(lane: usize, index: usize) -> Self {
            Lane((index / 37 * 2 + lane) as u8)
        }
    }

    /// Runs `ops` on `q` (keys made by `key`) against a model map.
    fn check_against_model<K: Copy + Eq + core::fmt::Debug, M: KeySlots<K>>(
        mut q: TimerQueue<K, M>,
        key: impl Fn(u8) -> K,
        ops: Vec<Op>,
    ) -> Result<(), TestCaseError> {
        // Model: key -> (deadline in µs, order of its last schedule).
        let mut model: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
        let mut order = 0u64;
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Schedule(k, d) => {
                    // Deadlines may be in the past: due at once.
                    q.schedule(key(k), Instant::from_micros(d));
                    model.insert(k, (d, order));
                    order += 1;
                }
                Op::Cancel(k) => {
                    prop_assert_eq!(q.cancel(key(k)), model.remove(&k).is_some());
                }
                Op::Advance(dt) => {
                    // Time never goes backwards.
                    now = now.saturating_add(dt / 2);
                    loop {
                        let expect = model
                            .iter()
                            .filter(|&(_, &(d, _))| d <= now)
                            .min_by_key(|&(_, &(d, o))| (d, o))
                            .map(|(&k, _)| key(k));
                        let got = q.pop_expired(Instant::from_micros(now));
                        prop_assert_eq!(got, expect);
                        match got {
                            Some(k) => {
                                let k = (0..16u8).find(|&m| key(m) == k).unwrap_or(u8::MAX);
                                model.remove(&k);
                            }
                            None => break,
                        }
                    }
                }
                Op::Next => {
                    let expect = model.values().map(|&(d, _)| Instant::from_micros(d)).min();
                    prop_assert_eq!(q.next_deadline(), expect);
                }
                Op::Hint => {
                    // The cached answer is the one a fresh search gives,
                    // and a lower bound on the earliest deadline.
                    let mut fresh = q.clone();
                    fresh.hint = None;
                    let expect = fresh.find_hint();
                    let hint = q.next_deadline_hint();
                    prop_assert_eq!(hint, expect);
                    let min = model.values().map(|&(d, _)| Instant::from_micros(d)).min();
                    prop_assert_eq!(hint.is_some(), min.is_some());
                    prop_assert!(hint <= min);
                }
                Op::Shrink => q.shrink_to_fit(),
            }
            prop_assert_eq!(q.len(), model.len());
            for k in 0..16u8 {
                prop_assert_eq!(
                    q.deadline(key(k)),
                    model.get(&k).map(|&(d, _)| Instant::from_micros(d))
                );
            }
            prop_assert!(q.queued_entries() <= 2 * q.len() + COMPACT_SLACK + 1);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn queue_matches_a_naive_map(ops in proptest::collection::vec(op(), 1..200)) {
            check_against_model(TimerQueue::new(), |k| k, ops)?;
        }

        /// The same with keys kept in arrays by index (the stack's queue).
        #[test]
        fn dense_queue_matches_a_naive_map(ops in proptest::collection::vec(op(), 1..200)) {
            check_against_model(TimerQueue::dense(), Lane, ops)?;
        }

        /// Both ways of keeping slots give the same answers, call for call.
        #[test]
        fn dense_and_hashed_slots_answer_alike(ops in proptest::collection::vec(op(), 1..200)) {
            let mut hashed = TimerQueue::new();
            let mut dense = TimerQueue::dense();
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Schedule(k, d) => {
                        hashed.schedule(Lane(k), Instant::from_micros(d));
                        dense.schedule(Lane(k), Instant::from_micros(d));
                    }
                    Op::Cancel(k) => prop_assert_eq!(hashed.cancel(Lane(k)), dense.cancel(Lane(k))),
                    Op::Advance(dt) => {
                        now = now.saturating_add(dt / 2);
                        let at = Instant::from_micros(now);
                        loop {
                            let got = hashed.pop_expired(at);
                            prop_assert_eq!(got, dense.pop_expired(at));
                            if got.is_none() {
                                break;
                            }
                        }
                    }
                    Op::Next => prop_assert_eq!(hashed.next_deadline(), dense.next_deadline()),
                    Op::Hint => prop_assert_eq!(hashed.next_deadline_hint(), dense.next_deadline_hint()),
                    Op::Shrink => {
                        hashed.shrink_to_fit();
                        dense.shrink_to_fit();
                    }
                }
                prop_assert_eq!(hashed.len(), dense.len());
                prop_assert_eq!(hashed.queued_entries(), dense.queued_entries());
            }
        }
    }

    #[test]
    fn dense_slots_hold_chunks_only_while_a_key_in_them_is_scheduled() {
        let mut q = TimerQueue::dense();
        q.schedule(Lane(1), t(5));
        q.schedule(Lane(200), t(6));
        assert_eq!(q.slots.chunks(), 2, "lane 1 index 0, lane 0 index 3,700");
        assert!(q.cancel(Lane(200)));
        assert!(!q.cancel(Lane(200)));
        assert_eq!(q.slots.chunks(), 1, "the empty chunk became the spare");
        assert!(q.slots.spare.is_some());
        // A key that comes and goes reuses the spare: no allocation.
        q.schedule(Lane(4), t(7));
        assert!(q.slots.spare.is_none());
        assert_eq!(q.slots.chunks(), 2);
        assert!(q.cancel(Lane(4)));
        q.shrink_to_fit();
        assert!(q.slots.spare.is_none());
        assert_eq!((q.slots.lanes[0].len(), q.slots.lanes[1].len()), (0, 1));
        assert_eq!(q.pop_expired(t(10)), Some(Lane(1)));
        assert!(q.is_empty());
        assert_eq!(q.slots.chunks(), 0);
    }

    /// 1M keys: schedule, reschedule each 10 times (later and earlier),
    /// cancel half, drain the rest in order. Run with `--release` to see the
    /// time; no assertion on it (DESIGN.md §8).
    #[test]
    fn a_million_keys_drain_in_deadline_order() {
        const N: u64 = 1_000_000;
        let started = std::time::Instant::now();
        let mut q: TimerQueue<u64> = TimerQueue::new();
        let mut rng = Rng::from_seed(1_000_000);
        for k in 0..N {
            q.schedule(k, Instant::from_micros(rng.below(1 << 30)));
        }
        for round in 0..10u64 {
            for k in 0..N {
                // Mostly later (an ACK restarts the RTO), sometimes earlier.
                let at = if (k + round) % 4 == 0 {
                    rng.below(1 << 30)
                } else {
                    (1 << 30) + round * (1 << 20) + rng.below(1 << 20)
                };
                q.schedule(k, Instant::from_micros(at));
            }
        }
        for k in (0..N).step_by(2) {
            assert!(q.cancel(k));
        }

        assert_eq!(q.len(), (N / 2) as usize);
        assert!(q.queued_entries() <= 2 * q.len() + COMPACT_SLACK + 1);
        let mut last = Instant::ZERO;
        let mut popped = 0u64;
        while let Some(at) = q.next_deadline() {
            assert!(at >= last, "out of order: {at:?} after {last:?}");
            last = at;
            let k = q
                .pop_expired(at)
                .expect("the next deadline is due at itself");
            assert_eq!(k % 2, 1, "cancelled key {k} fired");
            popped += 1;
        }
        assert_eq!(popped, N / 2);
        assert!(q.is_empty());
        eprintln!("1M-key timer queue test: {:?}", started.elapsed());
    }
}
