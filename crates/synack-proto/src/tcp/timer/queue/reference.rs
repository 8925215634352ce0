//! The queue as it was before it held its newest key out of the wheel
//! (main 7183bd9): every key is linked into the wheel when scheduled. Kept
//! for the differential proptest (`held_key_queue_answers_as_the_reference`),
//! which runs the same operations on both and compares every answer. What
//! the change left alone (the wheel, the slots, settling the front and
//! rebuilding, taking a due key) it shares with the queue.

use super::{KeySlots, NodeId, Slot, Wheel};
use crate::time::Instant;

/// [`super::TimerQueue`] without the held key: same wheel, same slots.
#[derive(Clone)]
pub struct ReferenceQueue<K, M> {
    slots: M,
    _key: core::marker::PhantomData<K>,
    wheel: Wheel,
    next_seq: u64,
    hint: Option<Option<Instant>>,
    last: Option<(K, Option<Instant>)>,
}

impl<K: Copy + Eq, M: KeySlots<K>> ReferenceQueue<K, M> {
    pub fn with_slots(slots: M) -> Self {
        ReferenceQueue {
            slots,
            _key: core::marker::PhantomData,
            wheel: Wheel::new(),
            next_seq: 0,
            hint: None,
            last: None,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn deadline(&self, key: K) -> Option<Instant> {
        self.slots.get(key).map(|s| s.deadline)
    }

    pub fn schedule(&mut self, key: K, deadline: Instant) {
        if self.last == Some((key, Some(deadline))) {
            return;
        }
        self.last = Some((key, Some(deadline)));
        let seq = self.next_seq;
        self.next_seq += 1;
        match self.slots.find_mut(key) {
            Some((_, slot)) if deadline >= slot.queued_at => {
                slot.deadline = deadline;
                slot.seq = seq;
            }
            Some((id, _)) => {
                self.wheel.unlink(&mut self.slots, id);
                *self.slots.node_mut(id) = Slot::new(deadline, seq);
                self.wheel.link(&mut self.slots, id, deadline);
                self.lower_hint(deadline);
            }
            None => {
                let id = self.slots.insert(key, Slot::new(deadline, seq));
                self.wheel.link(&mut self.slots, id, deadline);
                self.lower_hint(deadline);
            }
        }
    }

    fn lower_hint(&mut self, at: Instant) {
        if let Some(hint) = &mut self.hint {
            *hint = Some(hint.map_or(at, |h| h.min(at)));
        }
    }

    pub fn cancel(&mut self, key: K) -> bool {
        if self.last == Some((key, None)) {
            return false;
        }
        self.last = Some((key, None));
        let Some((id, _)) = self.slots.find_mut(key) else {
            return false;
        };
        let queued_at = self.slots.node(id).queued_at;
        self.wheel.unlink(&mut self.slots, id);
        self.slots.remove(id);
        if self.wheel.len == 0 {
            self.hint = Some(None);
        } else if self.hint == Some(Some(queued_at)) {
            self.hint = None;
        }
        true
    }

    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.settle().map(|id| self.slots.node(id).deadline)
    }

    pub fn next_deadline_hint(&mut self) -> Option<Instant> {
        if let Some(hint) = self.hint {
            return hint;
        }
        let hint = self
            .wheel
            .peek(&mut self.slots)
            .map(|id| self.slots.node(id).queued_at);
        self.hint = Some(hint);
        hint
    }

    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let id = self.settle()?;
        let key = self.wheel.take_if_due(&mut self.slots, id, now)?;
        self.hint = None;
        self.last = None;
        Some(key)
    }

    pub fn shrink_to_fit(&mut self) {
        self.wheel.rebuild(&mut self.slots);
        self.hint = None;
    }

    fn settle(&mut self) -> Option<NodeId> {
        let id = self.wheel.settle(&mut self.slots);
        self.hint = Some(id.map(|id| self.slots.node(id).deadline));
        id
    }
}
