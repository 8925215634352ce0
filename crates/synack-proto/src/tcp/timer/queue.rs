//! The stack-wide [`TimerQueue`]: every connection's next wake-up in a
//! hierarchical timing wheel whose buckets are intrusive lists through the
//! per-key slots (hashed, or dense by slab index), so that cancelling or
//! moving a key unlinks it at once and nothing in the wheel goes stale.

use crate::time::Instant;
use core::hash::{BuildHasher, Hash};
use std::collections::HashMap;

/// The default hasher of a [`TimerQueue`]: FxHash. Fast and deterministic,
/// so runs replay exactly; the queue's keys are the stack's own connection
/// handles, not values a peer chooses. Use [`TimerQueue::with_hasher`] with
/// a keyed hasher if keys can be chosen by an attacker.
pub type FixedHasher = rustc_hash::FxBuildHasher;

/// Names a scheduled key's [`Slot`] in its [`KeySlots`]: the links of the
/// wheel's lists. Below [`BUCKET_LINK`].
pub type NodeId = u32;

/// Tags a link that names a wheel bucket instead of a node: a list's first
/// node has its bucket as `prev`, its last node as `next`, so a node is
/// unlinked in O(1) without being told where it is.
const BUCKET_LINK: u32 = 1 << 31;

/// An empty bucket's head and tail (it carries the [`BUCKET_LINK`] tag, so
/// a walk along `next` stops at it as at a bucket link).
const NIL: u32 = u32::MAX;

/// A key's state: the deadline it wants, and where the wheel holds it.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    deadline: Instant,
    /// Orders keys with equal deadlines: the earlier `schedule` call first.
    seq: u64,
    /// The time the wheel holds the key at; at most `deadline` (a key
    /// rescheduled later is moved only when the wheel reaches it).
    queued_at: Instant,
    /// `seq` when the key was put where it is. A key rescheduled to the same
    /// time gets a new `seq` but stays where it is, out of order among equal
    /// deadlines: this tells the wheel to move it when it reaches it.
    queued_seq: u64,
    /// Neighbours in the bucket's list (a node, or the bucket tagged with
    /// [`BUCKET_LINK`] at either end).
    prev: u32,
    next: u32,
}

impl Slot {
    fn new(deadline: Instant, seq: u64) -> Self {
        Slot {
            deadline,
            seq,
            queued_at: deadline,
            queued_seq: seq,
            prev: NIL,
            next: NIL,
        }
    }

    /// Where the wheel holds the key, exactly as wanted (not postponed).
    fn is_exact(&self) -> bool {
        self.deadline == self.queued_at && self.seq == self.queued_seq
    }

    /// The order of nodes within a one-microsecond bucket.
    fn order(&self) -> (Instant, u64) {
        (self.queued_at, self.queued_seq)
    }
}

/// Where a [`TimerQueue`] keeps each scheduled key's [`Slot`]: a hash map
/// ([`HashSlots`], any key) or, for keys that are small indices, arrays
/// indexed by them ([`DenseSlots`]: no hashing, no probing on the
/// reschedule every segment makes). Each scheduled key's slot has a
/// [`NodeId`], stable while it stays scheduled, that the wheel links by.
pub trait KeySlots<K>: Clone {
    /// The slot of a scheduled key.
    fn get(&self, key: K) -> Option<&Slot>;
    /// The node of a scheduled key, and its slot.
    fn find_mut(&mut self, key: K) -> Option<(NodeId, &mut Slot)>;
    /// The slot of a scheduled key's node.
    fn node(&self, id: NodeId) -> &Slot;
    fn node_mut(&mut self, id: NodeId) -> &mut Slot;
    /// The key of a scheduled node.
    fn key(&self, id: NodeId) -> K;
    /// Stores the slot of a key that has none; returns its node.
    fn insert(&mut self, key: K, slot: Slot) -> NodeId;
    /// Forgets a scheduled node (already unlinked from the wheel).
    fn remove(&mut self, id: NodeId);
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn clear(&mut self);
    fn shrink_to_fit(&mut self);
    /// Every key's slot, in no particular order.
    fn for_each(&self, f: impl FnMut(K, &Slot));
}

/// A [`HashSlots`] node: the key it belongs to (vacant nodes are on the
/// free list).
#[derive(Clone, Debug)]
struct HashNode<K> {
    key: K,
    slot: Slot,
}

/// [`KeySlots`] in a hash map from key to node, the nodes in a vector
/// (hash map entries move when it grows; the wheel's links must not).
#[derive(Clone, Debug)]
pub struct HashSlots<K, S = FixedHasher> {
    map: HashMap<K, NodeId, S>,
    nodes: Vec<HashNode<K>>,
    free: Vec<NodeId>,
}

impl<K: Copy + Eq + Hash, S: BuildHasher + Clone> KeySlots<K> for HashSlots<K, S> {
    fn get(&self, key: K) -> Option<&Slot> {
        Some(&self.nodes[*self.map.get(&key)? as usize].slot)
    }
    fn find_mut(&mut self, key: K) -> Option<(NodeId, &mut Slot)> {
        let id = *self.map.get(&key)?;
        Some((id, &mut self.nodes[id as usize].slot))
    }
    fn node(&self, id: NodeId) -> &Slot {
        &self.nodes[id as usize].slot
    }
    fn node_mut(&mut self, id: NodeId) -> &mut Slot {
        &mut self.nodes[id as usize].slot
    }
    fn key(&self, id: NodeId) -> K {
        self.nodes[id as usize].key
    }
    fn insert(&mut self, key: K, slot: Slot) -> NodeId {
        let node = HashNode { key, slot };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                // Ids must stay below the bucket tag: 2^31 keys.
                let id = u32::try_from(self.nodes.len()).unwrap_or(NIL);
                debug_assert!(id < BUCKET_LINK, "too many timer keys");
                self.nodes.push(node);
                id
            }
        };
        self.map.insert(key, id);
        id
    }
    fn remove(&mut self, id: NodeId) {
        self.map.remove(&self.nodes[id as usize].key);
        self.free.push(id);
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn clear(&mut self) {
        self.map.clear();
        self.nodes.clear();
        self.free.clear();
    }
    fn shrink_to_fit(&mut self) {
        self.map.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.free.shrink_to_fit();
    }
    fn for_each(&self, mut f: impl FnMut(K, &Slot)) {
        for (&key, &id) in &self.map {
            f(key, &self.nodes[id as usize].slot);
        }
    }
}

/// A key that names a small index in one of at most two lanes (the
/// stack's timers: a connection's or a TIME-WAIT entry's slab index).
/// Indices must be below 2^30 (a node id is the index and the lane).
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
        queued_seq: 0,
        prev: NIL,
        next: NIL,
    };

    /// The node id of a lane and index: the index, then the lane bit.
    #[inline]
    fn id(lane: usize, index: usize) -> NodeId {
        debug_assert!(index < 1 << 30, "dense timer index too large");
        ((index as u32) << 1) | lane as u32
    }

    #[inline]
    fn lane_index(id: NodeId) -> (usize, usize) {
        ((id & 1) as usize, (id >> 1) as usize)
    }

    #[inline]
    fn chunk(&self, id: NodeId) -> &Chunk {
        let (lane, i) = Self::lane_index(id);
        // A scheduled node's chunk exists while it is scheduled.
        self.lanes[lane][i / CHUNK]
            .as_deref()
            .expect("a scheduled node's chunk exists")
    }

    #[inline]
    fn chunk_mut(&mut self, id: NodeId) -> &mut Chunk {
        let (lane, i) = Self::lane_index(id);
        self.lanes[lane][i / CHUNK]
            .as_deref_mut()
            .expect("a scheduled node's chunk exists")
    }

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
    fn find_mut(&mut self, key: K) -> Option<(NodeId, &mut Slot)> {
        let (lane, i) = key.lane_index();
        let chunk = self.lanes[lane].get_mut(i / CHUNK)?.as_deref_mut()?;
        let slot = &mut chunk.slots[i % CHUNK];
        if slot.seq == VACANT_SEQ {
            return None;
        }
        Some((Self::id(lane, i), slot))
    }
    #[inline]
    fn node(&self, id: NodeId) -> &Slot {
        &self.chunk(id).slots[Self::lane_index(id).1 % CHUNK]
    }
    #[inline]
    fn node_mut(&mut self, id: NodeId) -> &mut Slot {
        &mut self.chunk_mut(id).slots[Self::lane_index(id).1 % CHUNK]
    }
    fn key(&self, id: NodeId) -> K {
        let (lane, i) = Self::lane_index(id);
        K::from_lane_index(lane, i)
    }
    fn insert(&mut self, key: K, slot: Slot) -> NodeId {
        let (lane_no, i) = key.lane_index();
        let lane = &mut self.lanes[lane_no];
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
        Self::id(lane_no, i)
    }
    #[inline]
    fn remove(&mut self, id: NodeId) {
        let (lane, i) = Self::lane_index(id);
        let place = &mut self.lanes[lane][i / CHUNK];
        let Some(chunk) = place.as_deref_mut() else {
            return;
        };
        let entry = &mut chunk.slots[i % CHUNK];
        if entry.seq == VACANT_SEQ {
            return;
        }
        entry.seq = VACANT_SEQ;
        chunk.live -= 1;
        self.len -= 1;
        if chunk.live == 0 {
            // Every slot in it is vacant: it can serve any chunk next.
            self.spare = place.take();
        }
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
    fn for_each(&self, mut f: impl FnMut(K, &Slot)) {
        for (l, lane) in self.lanes.iter().enumerate() {
            for (c, chunk) in lane.iter().enumerate() {
                let Some(chunk) = chunk else { continue };
                for (i, slot) in chunk.slots.iter().enumerate() {
                    if slot.seq != VACANT_SEQ {
                        f(K::from_lane_index(l, c * CHUNK + i), slot);
                    }
                }
            }
        }
    }
}

/// Bits of time per wheel level: 64 slots each.
const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
/// 11 levels of 6 bits cover all 64 bits of an `Instant` in microseconds.
const LEVELS: usize = 11;
const BUCKETS: usize = LEVELS * SLOTS;

/// A hierarchical timing wheel over microseconds (the structure of Varghese
/// and Lauck's scheme 7, as in the Linux and tokio timer wheels, but exact:
/// nodes cascade down to one-microsecond slots before they fire).
///
/// Each bucket is a doubly linked list through the nodes' slots, so a node
/// leaves its bucket in O(1) when its key is cancelled or moves earlier:
/// nothing stale stays behind to cascade down and be skipped (the lazy
/// deletion this replaced left about seven such entries per handshake).
/// Buckets above level 0 append; a level-0 bucket (one microsecond, or, for
/// the current slot, everything already due) is kept in firing order,
/// `(queued_at, queued_seq)`, by inserting from its tail: a new key is
/// nearly always the newest, so that is one compare.
#[derive(Clone)]
struct Wheel {
    /// First and last node of each bucket ([`NIL`] when empty). Level `l`
    /// slot `s` holds nodes whose placement time agrees with `elapsed`
    /// above bit `6(l+1)` and has digit `s` at level `l`.
    heads: Box<[u32; BUCKETS]>,
    tails: Box<[u32; BUCKETS]>,
    /// Non-empty buckets, one bit per slot per level.
    occupied: [u64; LEVELS],
    /// The wheel's time in µs: every node is placed at `max(queued_at, elapsed)`.
    elapsed: u64,
    /// Nodes in all buckets (every scheduled key).
    len: usize,
}

impl Wheel {
    fn new() -> Self {
        Wheel {
            heads: Box::new([NIL; BUCKETS]),
            tails: Box::new([NIL; BUCKETS]),
            occupied: [0; LEVELS],
            elapsed: 0,
            len: 0,
        }
    }

    /// Links a node that is in no bucket at its `queued_at`, `at`.
    #[inline]
    fn link<K, M: KeySlots<K>>(&mut self, slots: &mut M, id: NodeId, at: Instant) {
        self.place(slots, id, at);
        self.len += 1;
    }

    #[inline(always)]
    fn place<K, M: KeySlots<K>>(&mut self, slots: &mut M, id: NodeId, at: Instant) {
        debug_assert_eq!(slots.node(id).queued_at, at);
        // A node already due goes into the current slot, in order of its
        // true time.
        let p = at.total_micros().max(self.elapsed);
        let diff = p ^ self.elapsed;
        let level = if diff == 0 {
            0
        } else {
            ((63 - diff.leading_zeros()) / LEVEL_BITS) as usize
        };
        let slot = ((p >> (level as u32 * LEVEL_BITS)) as usize) & (SLOTS - 1);
        let bucket = level * SLOTS + slot;
        let after = if level == 0 {
            self.sorted_place(slots, id, bucket)
        } else {
            self.tails[bucket]
        };
        self.insert_after(slots, id, bucket, after);
        self.occupied[level] |= 1 << slot;
    }

    /// The node a new node goes after in a level-0 bucket kept in firing
    /// order ([`NIL`]: at the head), searching from the tail.
    #[inline(never)]
    fn sorted_place<K, M: KeySlots<K>>(&self, slots: &M, id: NodeId, bucket: usize) -> u32 {
        let order = slots.node(id).order();
        let mut after = self.tails[bucket];
        while after & BUCKET_LINK == 0 {
            let node = slots.node(after);
            if node.order() < order {
                break;
            }
            after = node.prev;
        }
        if after & BUCKET_LINK == 0 { after } else { NIL }
    }

    /// Links `id` into `bucket` after node `after`, or at its head.
    #[inline(always)]
    fn insert_after<K, M: KeySlots<K>>(
        &mut self,
        slots: &mut M,
        id: NodeId,
        bucket: usize,
        after: u32,
    ) {
        let tag = BUCKET_LINK | bucket as u32;
        let (prev, next) = if after == NIL {
            let next = self.heads[bucket];
            self.heads[bucket] = id;
            (tag, next)
        } else {
            let node = slots.node_mut(after);
            let next = node.next;
            node.next = id;
            (after, next)
        };
        if next & BUCKET_LINK == 0 {
            slots.node_mut(next).prev = id;
        } else {
            self.tails[bucket] = id;
        }
        let node = slots.node_mut(id);
        node.prev = prev;
        node.next = if next & BUCKET_LINK == 0 { next } else { tag };
    }

    /// Takes a node out of its bucket.
    #[inline(always)]
    fn unlink<K, M: KeySlots<K>>(&mut self, slots: &mut M, id: NodeId) {
        let node = slots.node(id);
        let (prev, next) = (node.prev, node.next);
        let first = prev & BUCKET_LINK != 0;
        let last = next & BUCKET_LINK != 0;
        if first {
            self.heads[(prev & !BUCKET_LINK) as usize] = if last { NIL } else { next };
        } else {
            slots.node_mut(prev).next = next;
        }
        if last {
            let bucket = (next & !BUCKET_LINK) as usize;
            self.tails[bucket] = if first { NIL } else { prev };
            if first {
                self.occupied[bucket / SLOTS] &= !(1 << (bucket % SLOTS));
            }
        } else {
            slots.node_mut(next).prev = prev;
        }
        self.len -= 1;
    }

    /// The node that fires next (the first of the earliest level-0 bucket),
    /// its bucket cascaded down to level 0 first. Advances `elapsed` to its
    /// slot: nothing in the wheel is earlier, and nodes placed later for
    /// earlier times land in the same slot.
    fn peek<K, M: KeySlots<K>>(&mut self, slots: &mut M) -> Option<NodeId> {
        loop {
            let level = self.occupied.iter().position(|&bits| bits != 0)?;
            let slot = self.occupied[level].trailing_zeros() as usize;
            if level == 0 {
                self.elapsed = (self.elapsed & !(SLOTS as u64 - 1)) | slot as u64;
                return Some(self.heads[slot]);
            }
            // Cascade: move to the start of this slot's span and re-place its
            // nodes on the levels below (all lower levels are empty), in list
            // order, so equal times stay in the order they were scheduled.
            let shift = level as u32 * LEVEL_BITS;
            let above = (self.elapsed.checked_shr(shift + LEVEL_BITS).unwrap_or(0))
                .checked_shl(shift + LEVEL_BITS)
                .unwrap_or(0);
            self.elapsed = above | ((slot as u64) << shift);
            let bucket = level * SLOTS + slot;
            let mut id = core::mem::replace(&mut self.heads[bucket], NIL);
            self.tails[bucket] = NIL;
            self.occupied[level] &= !(1 << slot);
            while id & BUCKET_LINK == 0 {
                let node = slots.node(id);
                let (next, at) = (node.next, node.queued_at);
                self.place(slots, id, at);
                id = next;
            }
        }
    }

    /// The node that fires next, the postponed nodes met at the front moved
    /// to their deadlines on the way.
    fn settle<K, M: KeySlots<K>>(&mut self, slots: &mut M) -> Option<NodeId> {
        loop {
            let id = self.peek(slots)?;
            let slot = slots.node_mut(id);
            if slot.is_exact() {
                return Some(id);
            }
            // Rescheduled since it was queued (later, or to the same time
            // behind keys scheduled in between): move it.
            slot.queued_at = slot.deadline;
            slot.queued_seq = slot.seq;
            let at = slot.deadline;
            self.unlink(slots, id);
            self.link(slots, id, at);
        }
    }

    /// Queues every key again at its deadline (postponed ones moved) in
    /// fresh slots, and gives back the memory the slots kept.
    fn rebuild<K, M: KeySlots<K>>(&mut self, slots: &mut M) {
        let mut live = Vec::with_capacity(slots.len());
        slots.for_each(|key, slot| live.push((slot.deadline, slot.seq, key)));
        // In firing order, so each level-0 insertion is at a tail.
        live.sort_unstable_by_key(|&(deadline, seq, _)| (deadline, seq));
        slots.clear();
        self.clear();
        for (deadline, seq, key) in live {
            let id = slots.insert(key, Slot::new(deadline, seq));
            self.link(slots, id, deadline);
        }
        slots.shrink_to_fit();
    }

    /// The key of the settled front node `id`, unlinked and forgotten, if
    /// it is due at `now`.
    fn take_if_due<K, M: KeySlots<K>>(
        &mut self,
        slots: &mut M,
        id: NodeId,
        now: Instant,
    ) -> Option<K> {
        if slots.node(id).deadline > now {
            return None;
        }
        self.unlink(slots, id);
        let key = slots.key(id);
        slots.remove(id);
        Some(key)
    }

    /// Empties every bucket (the caller forgets the nodes).
    fn clear(&mut self) {
        self.heads.fill(NIL);
        self.tails.fill(NIL);
        self.occupied = [0; LEVELS];
        self.len = 0;
    }

    /// Checks every list's links and order against the nodes (tests).
    #[cfg(test)]
    fn check<K, M: KeySlots<K>>(&self, slots: &M) -> Result<(), String> {
        let mut seen = 0;
        for bucket in 0..BUCKETS {
            let (level, slot) = (bucket / SLOTS, bucket % SLOTS);
            let tag = BUCKET_LINK | bucket as u32;
            let empty = self.heads[bucket] == NIL;
            if empty != (self.tails[bucket] == NIL)
                || empty == (self.occupied[level] & (1 << slot) != 0)
            {
                return Err(format!("bucket {bucket}: head, tail and bitmap disagree"));
            }
            let (mut prev, mut id) = (tag, self.heads[bucket]);
            let mut last_order = None;
            while id & BUCKET_LINK == 0 {
                let node = slots.node(id);
                if node.prev != prev || node.queued_at > node.deadline {
                    return Err(format!("bucket {bucket}: node {id} badly linked"));
                }
                if level == 0 {
                    if last_order.is_some_and(|o| o > node.order()) {
                        return Err(format!("bucket {bucket}: out of firing order"));
                    }
                    last_order = Some(node.order());
                }
                seen += 1;
                (prev, id) = (id, node.next);
            }
            if !empty && (id != tag || self.tails[bucket] != prev) {
                return Err(format!("bucket {bucket}: bad tail"));
            }
        }
        if seen != self.len || seen != slots.len() {
            return Err(format!(
                "{seen} linked, {} counted, {} keys",
                self.len,
                slots.len()
            ));
        }
        Ok(())
    }
}

/// The earliest deadline across many keys (connections).
///
/// A map from key to its wanted deadline, plus a hierarchical timing wheel
/// whose buckets are lists through the map's slots: scheduling, cancelling
/// and moving a key earlier are O(1) (a map operation and a list link or
/// unlink), and nothing in the wheel is stale. Rescheduling to a later time
/// (the common case: the RTO restarts on every ACK) touches only the slot;
/// the key is moved when the wheel reaches it. Each key cascades down at
/// most 10 levels before it fires. Memory is the slots: O(live keys).
///
/// The newest key, scheduled since the last change to any other key, is
/// held out of the wheel (`held`) until another key is scheduled or the
/// wheel is asked for its front: a stack changes one connection's timer
/// several times in a row (a handshake's connection gets its SYN's RTO,
/// loses it to the SYN-ACK, gets the idle release from an empty read and
/// moves it earlier to the data's RTO, all before another connection's
/// timer changes), and the held key takes those changes as field updates,
/// with no slot lookup and no list link or unlink.
///
/// Deadlines are exact to the microsecond. Keys due at the same instant pop
/// in the order of their last `schedule` call, independent of the hasher,
/// so the order is deterministic. Holding a key back changes no answer:
/// the held key's slot follows the same rules as a queued one's, and it is
/// linked with its own `(queued_at, queued_seq)`, which alone place it
/// among the others.
#[derive(Clone)]
pub struct TimerQueue<K, M = HashSlots<K>> {
    slots: M,
    _key: core::marker::PhantomData<K>,
    wheel: Wheel,
    next_seq: u64,
    /// [`TimerQueue::next_deadline_hint`]'s last answer, while nothing has
    /// made it stale: a stack asks after every output, far more often than
    /// the front changes. It is the least `queued_at` of the wheel's nodes
    /// and the held key.
    hint: Option<Option<Instant>>,
    /// The newest key and its slot, scheduled and not in the wheel (nor in
    /// `slots`): see the type's documentation.
    held: Option<(K, Slot)>,
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
        Self::with_slots(HashSlots {
            map: HashMap::with_hasher(hasher),
            nodes: Vec::new(),
            free: Vec::new(),
        })
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
            held: None,
            last: None,
        }
    }

    /// Number of scheduled keys.
    pub fn len(&self) -> usize {
        self.slots.len() + usize::from(self.held.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_none() && self.slots.is_empty()
    }

    /// Keys queued: the wheel's nodes and the held key. Every scheduled
    /// key, once (nothing stale).
    pub fn queued_entries(&self) -> usize {
        self.wheel.len + usize::from(self.held.is_some())
    }

    /// When `key` is due, if scheduled.
    pub fn deadline(&self, key: K) -> Option<Instant> {
        match &self.held {
            Some((held, slot)) if *held == key => Some(slot.deadline),
            _ => self.slots.get(key).map(|s| s.deadline),
        }
    }

    /// The held key's slot, if `key` is held.
    #[inline(always)]
    fn held_slot(&mut self, key: K) -> Option<&mut Slot> {
        match &mut self.held {
            Some((held, slot)) if *held == key => Some(slot),
            _ => None,
        }
    }

    /// Schedules `key` at `deadline`, replacing any earlier schedule for it.
    /// A deadline in the past is due at once.
    ///
    /// The stack reschedules a connection after nearly every input and
    /// output; again at the same time is one compare, inline. The rest is
    /// [`TimerQueue::reschedule`], out of line: the held key is a field
    /// update, and a later time for a key already queued (the RTO
    /// restarting on an ACK) updates its slot and touches no list (with
    /// [`DenseSlots`], no hash either). Only an earlier time for a queued
    /// key links a node, and a new key is held (linking the key held
    /// before), each further out of line.
    #[inline(always)]
    pub fn schedule(&mut self, key: K, deadline: Instant) {
        if self.last == Some((key, Some(deadline))) {
            return;
        }
        self.reschedule(key, deadline);
    }

    /// [`TimerQueue::schedule`] past its one-compare test, out of line: the
    /// stack reschedules from a dozen places a handshake runs, and a copy
    /// of this body in each cost more in instruction-cache lines than the
    /// call does.
    #[inline(never)]
    fn reschedule(&mut self, key: K, deadline: Instant) {
        self.last = Some((key, Some(deadline)));
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(slot) = self.held_slot(key) {
            if deadline >= slot.queued_at {
                slot.deadline = deadline;
                slot.seq = seq;
            } else {
                *slot = Slot::new(deadline, seq);
                self.lower_hint(deadline);
            }
            return;
        }
        match self.slots.find_mut(key) {
            Some((_, slot)) if deadline >= slot.queued_at => {
                // The node stays where it is and is moved to `deadline`
                // when the wheel reaches it.
                slot.deadline = deadline;
                slot.seq = seq;
            }
            Some((id, _)) => self.move_earlier(id, deadline, seq),
            None if self.held.is_none() => {
                // Nothing held: the new key is, without a call.
                self.held = Some((key, Slot::new(deadline, seq)));
                self.lower_hint(deadline);
            }
            None => self.hold(key, deadline, seq),
        }
    }

    /// [`TimerQueue::schedule`] for a key whose node is queued after
    /// `deadline`: it moves there now.
    #[inline(never)]
    fn move_earlier(&mut self, id: NodeId, deadline: Instant, seq: u64) {
        self.wheel.unlink(&mut self.slots, id);
        *self.slots.node_mut(id) = Slot::new(deadline, seq);
        self.wheel.link(&mut self.slots, id, deadline);
        // If this key was the front, it moved earlier.
        self.lower_hint(deadline);
    }

    /// [`TimerQueue::schedule`] for a key that has no slot: it is held,
    /// and the key held before goes into the wheel.
    #[inline(never)]
    fn hold(&mut self, key: K, deadline: Instant, seq: u64) {
        if let Some((key, slot)) = self.held.replace((key, Slot::new(deadline, seq))) {
            self.insert(key, slot);
        }
        self.lower_hint(deadline);
    }

    /// Puts the held key into the wheel (before the wheel is asked for its
    /// front, or emptied).
    #[inline]
    fn queue_held(&mut self) {
        if let Some((key, slot)) = self.held.take() {
            self.insert(key, slot);
        }
    }

    /// Gives the key that was held a slot and links it where the slot says
    /// it is queued (the hint counts it already).
    #[inline(always)]
    fn insert(&mut self, key: K, slot: Slot) {
        let at = slot.queued_at;
        let id = self.slots.insert(key, slot);
        self.wheel.link(&mut self.slots, id, at);
    }

    /// A node linked at `at`: the front is the earlier of it and the old one.
    #[inline(always)]
    fn lower_hint(&mut self, at: Instant) {
        if let Some(hint) = &mut self.hint {
            *hint = Some(hint.map_or(at, |h| h.min(at)));
        }
    }

    /// Unschedules `key`; returns whether it was scheduled.
    #[inline(always)]
    pub fn cancel(&mut self, key: K) -> bool {
        if self.last == Some((key, None)) {
            return false;
        }
        self.unschedule(key)
    }

    /// [`TimerQueue::cancel`] past its one-compare test, out of line (as
    /// [`TimerQueue::reschedule`]).
    #[inline(never)]
    fn unschedule(&mut self, key: K) -> bool {
        self.last = Some((key, None));
        if let Some(slot) = self.held_slot(key) {
            let queued_at = slot.queued_at;
            self.held = None;
            self.forget_front(queued_at);
            return true;
        }
        let Some((id, _)) = self.slots.find_mut(key) else {
            return false;
        };
        self.remove(id);
        true
    }

    /// Unlinks and forgets a cancelled key's node.
    #[inline(never)]
    fn remove(&mut self, id: NodeId) {
        let queued_at = self.slots.node(id).queued_at;
        self.wheel.unlink(&mut self.slots, id);
        self.slots.remove(id);
        self.forget_front(queued_at);
    }

    /// A key queued at `queued_at` left. Only the front (the least
    /// `queued_at`) leaving changes the hint, and with no key left there is
    /// no front to search for (the usual end of a connection when it was
    /// the only one with a timer).
    #[inline(always)]
    fn forget_front(&mut self, queued_at: Instant) {
        if self.wheel.len == 0 && self.held.is_none() {
            self.hint = Some(None);
        } else if self.hint == Some(Some(queued_at)) {
            self.hint = None;
        }
    }

    /// The earliest deadline of any key. Takes `&mut self` because it first
    /// moves postponed keys at the front of the wheel, so the answer is
    /// exact.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.queue_held();
        self.settle().map(|id| self.slots.node(id).deadline)
    }

    /// A lower bound on [`TimerQueue::next_deadline`], cheaper to get: a key
    /// rescheduled to a later time since it was queued is reported at its
    /// queued (earlier) time instead of being moved now. A driver that
    /// wakes then finds nothing due (a spurious wake-up) and asks again;
    /// the key is moved by that `pop_expired`. This keeps the per-segment
    /// cost of "restart the RTO" at one slot update: the move happens at
    /// most once per RTO period, not once per ACK.
    ///
    /// The held key counts as it would in the wheel: the answer is the
    /// earlier of the wheel's front and the held key's queued time.
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
        let front = self.find_hint();
        let hint = match &self.held {
            None => front,
            Some((_, slot)) => Some(front.map_or(slot.queued_at, |f| f.min(slot.queued_at))),
        };
        self.hint = Some(hint);
        hint
    }

    /// The front node's time (nothing in the wheel is stale: it is live).
    fn find_hint(&mut self) -> Option<Instant> {
        let id = self.wheel.peek(&mut self.slots)?;
        Some(self.slots.node(id).queued_at)
    }

    /// Removes and returns a key whose deadline is at or before `now`, the
    /// earliest first. Call in a loop until `None`.
    #[must_use = "a popped timer is not returned again"]
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        self.queue_held();
        let id = self.settle()?;
        let key = self.wheel.take_if_due(&mut self.slots, id, now)?;
        self.hint = None;
        self.last = None;
        Some(key)
    }

    /// Unschedules everything.
    pub fn clear(&mut self) {
        self.last = None;
        self.held = None;
        self.slots.clear();
        self.wheel.clear();
        self.hint = None;
    }

    /// Gives back memory kept from a past peak (slot allocations are
    /// otherwise reused, so that steady operation does not allocate), and
    /// moves postponed keys to their deadlines. For an idle moment, not the
    /// fast path.
    pub fn shrink_to_fit(&mut self) {
        self.queue_held();
        self.wheel.rebuild(&mut self.slots);
        self.hint = None;
    }

    /// Checks the wheel's lists against the slots (tests).
    #[cfg(test)]
    fn check(&self) -> Result<(), String> {
        self.wheel.check::<K, M>(&self.slots)
    }

    /// Brings the next key to the front of the wheel, moving postponed ones
    /// on the way, and remembers its time as the hint.
    fn settle(&mut self) -> Option<NodeId> {
        let id = self.wheel.settle(&mut self.slots);
        self.hint = Some(id.map(|id| self.slots.node(id).deadline));
        id
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
mod reference;
#[cfg(test)]
mod tests;
