//! A slab with generational indices: dense storage for connections and
//! listeners, and handles that go stale (instead of pointing at a newcomer)
//! once their entry is removed.

/// An index into a [`Slab`] plus the generation of the entry it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub index: u32,
    pub generation: u32,
}

/// An `Option<Key>` in 8 bytes instead of 12: index `u32::MAX` is `None`
/// (a slab never holds 2^32 entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionKey(Key);

impl OptionKey {
    pub const NONE: OptionKey = OptionKey(Key {
        index: u32::MAX,
        generation: 0,
    });

    /// `key`, which is not `None`'s index (no slab key is).
    pub fn some(key: Key) -> Self {
        debug_assert_ne!(key.index, u32::MAX);
        OptionKey(key)
    }

    /// Whether this is `Some(key)`: one compare.
    pub fn is(self, key: Key) -> bool {
        self.0 == key
    }

    pub fn get(self) -> Option<Key> {
        (self.0.index != u32::MAX).then_some(self.0)
    }
}

/// What a slab stores: an entry keeps its slot's generation in a field of
/// its own, where it usually fills padding (a slot beside the entry would
/// cost a padded word per entry: 8 bytes per connection).
pub trait Entry {
    fn generation(&self) -> u32;
    fn set_generation(&mut self, generation: u32);
}

/// A free slot keeps the generation the next entry gets; it fits beside
/// the entry's niche, so a slot is as big as its entry.
#[derive(Debug)]
enum Slot<T> {
    Occupied(T),
    Vacant(u32),
}

impl<T: Entry> Slot<T> {
    fn generation(&self) -> u32 {
        match self {
            Slot::Occupied(v) => v.generation(),
            Slot::Vacant(g) => *g,
        }
    }

    fn value(&self) -> Option<&T> {
        match self {
            Slot::Occupied(v) => Some(v),
            Slot::Vacant(_) => None,
        }
    }

    /// Tests only: the reference lookups use it.
    #[cfg(test)]
    fn value_mut(&mut self) -> Option<&mut T> {
        match self {
            Slot::Occupied(v) => Some(v),
            Slot::Vacant(_) => None,
        }
    }
}

/// Bytes a slot of `T` takes (tests check it adds nothing to the entry).
#[cfg(test)]
pub(crate) fn slot_size<T>() -> usize {
    core::mem::size_of::<Slot<T>>()
}

/// Entries addressed by [`Key`]. Removing an entry bumps its slot's
/// generation, so keys to it no longer resolve; freed slots are reused.
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    /// Tests only: lookups of an entry by its key (`get`, `get_mut`), so
    /// tests can show a path does not find an entry it already holds a
    /// second time. Lookups by index (the demux map's probes, the timers)
    /// are not counted.
    #[cfg(test)]
    lookups: core::cell::Cell<u64>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            #[cfg(test)]
            lookups: core::cell::Cell::new(0),
        }
    }
}

impl<T: Entry> Slab<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes room for `additional` more entries than are stored now, exactly
    /// (no doubling slack), so that many inserts do not reallocate.
    pub fn reserve_exact(&mut self, additional: usize) {
        let wanted = (self.len + additional).saturating_sub(self.slots.len());
        self.slots.reserve_exact(wanted);
    }

    /// Slots allocated.
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Stores `value`; returns its key.
    pub fn insert(&mut self, value: T) -> Key {
        self.insert_with(|| value)
    }

    /// Stores the entry `make` builds (then given its slot's generation);
    /// returns its key. The entry is built where it is stored: a
    /// connection is hundreds of bytes, and `insert` moves its argument in.
    #[inline]
    pub fn insert_with(&mut self, make: impl FnOnce() -> T) -> Key {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                // More than 2^32 live entries would exhaust memory long before.
                let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Slot::Vacant(0));
                index
            }
        };
        self.len += 1;
        let slot = &mut self.slots[index as usize];
        let generation = slot.generation();
        let mut value = make();
        value.set_generation(generation);
        // The slot is vacant (from the free list, or just pushed) and owns
        // nothing: forgetting it skips the generic drop of a `Slot` (a call
        // that decodes the old slot's kind to find nothing to drop).
        let vacant = core::mem::replace(slot, Slot::Occupied(value));
        debug_assert!(matches!(vacant, Slot::Vacant(_)));
        core::mem::forget(vacant);
        Key { index, generation }
    }

    /// The entry `key` names, if it is still there.
    ///
    /// The slot's kind is matched first and only an entry's generation is
    /// read: a vacant slot names nothing whatever its generation, and
    /// reading the generation of either kind first (a vacant slot keeps it
    /// elsewhere) cost a conditional address per lookup, about 30 lookups
    /// a handshake (`lookups_match_the_generation_first_lookups`).
    #[inline]
    pub fn get(&self, key: Key) -> Option<&T> {
        self.count_lookup();
        match self.slots.get(key.index as usize)? {
            Slot::Occupied(v) if v.generation() == key.generation => Some(v),
            _ => None,
        }
    }

    /// [`Slab::get`], mutably.
    #[inline]
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        self.count_lookup();
        match self.slots.get_mut(key.index as usize)? {
            Slot::Occupied(v) if v.generation() == key.generation => Some(v),
            _ => None,
        }
    }

    /// The entry at `index`, whatever its generation (internal bookkeeping
    /// that stores bare indices, such as timer keys).
    pub fn get_index_mut(&mut self, index: u32) -> Option<(Key, &mut T)> {
        match self.slots.get_mut(index as usize)? {
            Slot::Occupied(v) => Some((key_of(index, v), v)),
            Slot::Vacant(_) => None,
        }
    }

    pub fn get_index(&self, index: u32) -> Option<(Key, &T)> {
        match self.slots.get(index as usize)? {
            Slot::Occupied(v) => Some((key_of(index, v), v)),
            Slot::Vacant(_) => None,
        }
    }

    /// Removes the entry `key` names.
    /// Drops the entry `key` names where it lies (a connection is hundreds
    /// of bytes: `remove` copies it out first); whether it was there.
    pub fn delete(&mut self, key: Key) -> bool {
        let Some(slot) = self.slots.get_mut(key.index as usize) else {
            return false;
        };
        if !matches!(slot, Slot::Occupied(v) if v.generation() == key.generation) {
            return false;
        }
        *slot = Slot::Vacant(key.generation.wrapping_add(1));
        self.free.push(key.index);
        self.len -= 1;
        true
    }

    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation() != key.generation {
            return None;
        }
        let next = Slot::Vacant(key.generation.wrapping_add(1));
        let Slot::Occupied(value) = core::mem::replace(slot, next) else {
            // Vacant: put its generation back (the key matched it).
            *slot = Slot::Vacant(key.generation);
            return None;
        };
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    /// Counts a lookup (tests only; nothing otherwise).
    #[inline(always)]
    fn count_lookup(&self) {
        #[cfg(test)]
        self.lookups.set(self.lookups.get() + 1);
    }

    /// Tests only: lookups by key so far (`get`, `get_mut`).
    #[cfg(test)]
    pub fn lookups(&self) -> u64 {
        self.lookups.get()
    }

    /// Every entry with its key.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &T)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.value().map(|v| (key_of(i as u32, v), v)))
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.iter().map(|(k, _)| k)
    }
}

/// The key of the entry `v` at `index`.
#[inline]
fn key_of<T: Entry>(index: u32, v: &T) -> Key {
    Key {
        index,
        generation: v.generation(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A test entry: a value and the generation the slab gives it.
    #[derive(Debug, PartialEq)]
    struct E<V>(V, u32);

    impl<V> Entry for E<V> {
        fn generation(&self) -> u32 {
            self.1
        }
        fn set_generation(&mut self, generation: u32) {
            self.1 = generation;
        }
    }

    #[test]
    fn a_slot_is_no_bigger_than_its_entry() {
        struct Big {
            _a: [u64; 4],
            _flag: bool,
            generation: u32,
        }
        impl Entry for Big {
            fn generation(&self) -> u32 {
                self.generation
            }
            fn set_generation(&mut self, generation: u32) {
                self.generation = generation;
            }
        }
        assert_eq!(
            core::mem::size_of::<Slot<Big>>(),
            core::mem::size_of::<Big>()
        );
    }

    #[test]
    fn removed_keys_go_stale_and_slots_are_reused() {
        let mut s = Slab::new();
        let a = s.insert(E("a", 9));
        let b = s.insert(E("b", 9));
        assert_eq!(s.get(a), Some(&E("a", 0)));
        assert_eq!(s.remove(a), Some(E("a", 0)));
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None, "removing twice does nothing");
        let c = s.insert(E("c", 9));
        assert_eq!(c.index, a.index, "the slot is reused");
        assert_ne!(c.generation, a.generation);
        assert_eq!(s.get(a), None, "the old key does not name the newcomer");
        assert_eq!(s.get(c), Some(&E("c", 1)));
        assert_eq!(s.len(), 2);
        let keys: Vec<Key> = s.keys().collect();
        assert_eq!(keys, [c, b]);
        assert_eq!(s.get_index_mut(b.index).map(|(k, _)| k), Some(b));
    }

    #[test]
    fn insert_with_gives_the_keys_and_generations_insert_gives() {
        // The same inserts and deletes, one slab by value, one built in place.
        let (mut by_value, mut in_place) = (Slab::new(), Slab::new());
        let mut keys = Vec::new();
        for round in 0..4u32 {
            for i in 0..5u32 {
                let a = by_value.insert(E(i + round, 9));
                let b = in_place.insert_with(|| E(i + round, 9));
                assert_eq!(a, b);
                assert_eq!(in_place.get(b), Some(&E(i + round, b.generation)));
                keys.push(a);
            }
            // Free every other slot, newest first, so reuse order is tested.
            for k in keys.iter().rev().step_by(2) {
                assert_eq!(by_value.delete(*k), in_place.delete(*k));
            }
            keys.clear();
        }
        assert_eq!(by_value.len(), in_place.len());
        let (a, b): (Vec<Key>, Vec<Key>) = (by_value.keys().collect(), in_place.keys().collect());
        assert_eq!(a, b);
    }

    #[test]
    fn deleted_entries_are_dropped_and_their_keys_go_stale() {
        let mut s = Slab::new();
        let value = std::rc::Rc::new(());
        let a = s.insert(E(value.clone(), 0));
        let b = s.insert(E(value.clone(), 0));
        assert_eq!(std::rc::Rc::strong_count(&value), 3);
        assert!(s.delete(a));
        assert_eq!(std::rc::Rc::strong_count(&value), 2, "dropped");
        assert!(s.get(a).is_none());
        assert!(!s.delete(a), "deleting twice does nothing");
        let stale = Key {
            index: b.index,
            generation: b.generation + 1,
        };
        assert!(!s.delete(stale), "a key of another generation");
        assert_eq!(s.len(), 1);
        let c = s.insert(E(value.clone(), 0));
        assert_eq!(c.index, a.index, "the slot is reused");
        assert_ne!(c.generation, a.generation);
        assert!(s.get(a).is_none());
        // Filling a vacant slot (reused or new) drops and leaks nothing;
        // the slab's own drop drops every entry once.
        assert_eq!(std::rc::Rc::strong_count(&value), 3);
        s.insert(E(value.clone(), 0));
        assert_eq!(std::rc::Rc::strong_count(&value), 4);
        drop(s);
        assert_eq!(std::rc::Rc::strong_count(&value), 1);
    }

    impl<T: Entry> Slab<T> {
        /// The lookups as they were: the slot's generation first (of
        /// either kind), then its entry. The reference for
        /// `lookups_match_the_generation_first_lookups`.
        fn get_generation_first(&mut self, key: Key) -> Option<&mut T> {
            let slot = self.slots.get_mut(key.index as usize)?;
            if slot.generation() != key.generation {
                return None;
            }
            slot.value_mut()
        }

        fn get_index_generation_first(&mut self, index: u32) -> Option<(Key, &mut T)> {
            let slot = self.slots.get_mut(index as usize)?;
            let key = Key {
                index,
                generation: slot.generation(),
            };
            slot.value_mut().map(|v| (key, v))
        }
    }

    proptest! {
        /// Random inserts and deletes, and lookups by live, stale, forged
        /// (the generation a vacant slot gives next, or one further) and
        /// out-of-range keys: `get`, `get_mut`, `get_index`,
        /// `get_index_mut` and `delete` answer as the generation-first
        /// lookups did. Fails if the kind-first match lets a vacant slot or
        /// another generation through, or refuses a live entry.
        #[test]
        fn lookups_match_the_generation_first_lookups(
            ops in proptest::collection::vec((0u8..4, 0usize..12, 0u32..3), 1..120),
        ) {
            let mut s = Slab::new();
            let mut seen: Vec<Key> = Vec::new();
            for (n, (op, pick, bump)) in ops.into_iter().enumerate() {
                let key = match seen.get(pick) {
                    Some(k) => Key { index: k.index, generation: k.generation.wrapping_add(bump) },
                    None => Key { index: pick as u32, generation: bump },
                };
                match op {
                    0 => seen.push(s.insert(E(n, 0))),
                    1 => {
                        let expected = s.get_generation_first(key).is_some();
                        prop_assert_eq!(s.delete(key), expected);
                    }
                    _ => {
                        let expected = s.get_generation_first(key).map(|e| e.0);
                        prop_assert_eq!(s.get(key).map(|e| e.0), expected);
                        prop_assert_eq!(s.get_mut(key).map(|e| e.0), expected);
                        let expected = s
                            .get_index_generation_first(key.index)
                            .map(|(k, e)| (k, e.0));
                        prop_assert_eq!(s.get_index(key.index).map(|(k, e)| (k, e.0)), expected);
                        prop_assert_eq!(
                            s.get_index_mut(key.index).map(|(k, e)| (k, e.0)),
                            expected
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn reserve_exact_leaves_no_doubling_slack() {
        let mut s = Slab::new();
        s.insert(E(0u64, 0));
        let free = s.insert(E(1, 0));
        s.remove(free);
        // One entry stored and one free slot: 1,000 more need 999 new slots.
        s.reserve_exact(1_000);
        assert_eq!(s.capacity(), 1_001);
        for i in 0..1_000 {
            s.insert(E(i, 0));
        }
        assert_eq!(s.capacity(), 1_001, "no insert reallocated");
    }
}
