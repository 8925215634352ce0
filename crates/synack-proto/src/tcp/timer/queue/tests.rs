//! The queue's tests: behaviour, a model map, and scale.

use super::reference::ReferenceQueue;
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
        assert_eq!(q.queued_entries(), q.len(), "one node per key");
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

#[test]
fn cancelled_and_moved_keys_leave_nothing_in_the_wheel() {
    // A handshake's pattern: a key scheduled far out, moved earlier a
    // few times, then cancelled. The wheel unlinks it each time, so
    // nothing stale is left to cascade down and be skipped.
    let mut q = TimerQueue::dense();
    for round in 0..1_000u64 {
        let k = Lane((round % 16) as u8);
        let base = round * 1_000;
        q.schedule(k, Instant::from_micros(base + 1_000_000));
        q.schedule(k, Instant::from_micros(base + 200_000));
        q.schedule(k, Instant::from_micros(base + 40_000));
        assert_eq!(
            q.queued_entries(),
            q.len(),
            "an earlier time moves the node"
        );
        if round % 2 == 0 {
            assert!(q.cancel(k));
        }
        assert_eq!(q.queued_entries(), q.len(), "a cancel unlinks the node");
        if let Err(e) = q.check() {
            panic!("round {round}: {e}");
        }
    }
    assert_eq!(q.len(), 8);
    let mut last = None;
    while let Some(at) = q.next_deadline() {
        assert!(last <= Some(at));
        last = Some(at);
        assert!(q.pop_expired(at).is_some());
    }
    assert!(q.is_empty());
    assert_eq!(q.queued_entries(), 0);
}

#[test]
fn equal_deadlines_fire_in_schedule_order_after_cascading_and_moves() {
    let mut q = TimerQueue::new();
    let at = t(5_000); // level 3 of a wheel at zero: cascades three times
    for k in 0..200u32 {
        q.schedule(k, at);
    }
    // Rescheduled to the same time: now the newest of the evens. Odd
    // keys are moved earlier and back (postponed: moved when reached),
    // after 2, so they come last.
    q.schedule(2, at);
    for k in (1..200u32).step_by(2) {
        q.schedule(k, t(1));
        q.schedule(k, at);
    }
    let mut expect: Vec<u32> = (0..200).step_by(2).filter(|&k| k != 2).collect();
    expect.push(2);
    expect.extend((1..200).step_by(2));
    let got: Vec<u32> = core::iter::from_fn(|| q.pop_expired(at)).collect();
    assert_eq!(got, expect);
}

#[derive(Debug, Clone)]
enum Op {
    Schedule(u8, u64),
    /// Again at the key's own deadline (a new place among equal ones).
    Again(u8),
    /// Later by a little (the RTO restarting on an ACK), or earlier.
    Nudge(u8, i64),
    Cancel(u8),
    Advance(u64),
    Next,
    Hint,
    Shrink,
}

impl Op {
    /// The key and deadline a scheduling op asks for, given each key's
    /// deadline (none for an `Again` or `Nudge` of an unscheduled key).
    fn target(&self, deadline: impl Fn(u8) -> Option<u64>) -> Option<(u8, u64)> {
        match *self {
            Op::Schedule(k, d) => Some((k, d)),
            Op::Again(k) => Some((k, deadline(k)?)),
            Op::Nudge(k, d) => Some((k, deadline(k)?.saturating_add_signed(d))),
            _ => None,
        }
    }
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
    op_on(0u8..16, 2)
}

/// Operations on the keys `key` gives, asking for the hint with weight
/// `hints` (a stack asks after nearly every change).
fn op_on(
    key: impl Strategy<Value = u8> + Clone + 'static,
    hints: u32,
) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (key.clone(), deadline()).prop_map(|(k, d)| Op::Schedule(k, d)),
        1 => key.clone().prop_map(Op::Again),
        2 => (key.clone(), -100i64..300).prop_map(|(k, d)| Op::Nudge(k, d)),
        1 => key.prop_map(Op::Cancel),
        2 => deadline().prop_map(Op::Advance),
        1 => Just(Op::Next),
        hints => Just(Op::Hint),
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
            Op::Schedule(..) | Op::Again(_) | Op::Nudge(..) => {
                let Some((k, d)) = op.target(|k| model.get(&k).map(|&(d, _)| d)) else {
                    continue;
                };
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
                fresh.queue_held();
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
        // Nothing stale: one node per key, every list well linked and
        // each level-0 bucket in firing order.
        prop_assert_eq!(q.queued_entries(), q.len());
        if let Err(e) = q.check() {
            return Err(TestCaseError::fail(e));
        }
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
        let (mut hashed, mut dense) = (TimerQueue::new(), TimerQueue::dense());
        run_alike(&mut hashed, &mut dense, Lane, ops, |hashed, dense| {
            prop_assert_eq!(hashed.queued_entries(), dense.queued_entries());
            Ok(())
        })?;
    }
}

#[test]
fn the_newest_key_is_held_out_of_the_wheel_until_another_key_comes() {
    let mut q = TimerQueue::dense();
    // A handshake's connection: the SYN's RTO, cancelled by the SYN-ACK,
    // the idle release of an empty read, moved earlier to the data's RTO.
    q.schedule(Lane(3), t(1_000));
    assert!(q.cancel(Lane(3)));
    q.schedule(Lane(3), t(1_000));
    q.schedule(Lane(3), t(200));
    assert_eq!((q.slots.chunks(), q.wheel.len), (0, 0), "no slot, no node");
    assert_eq!((q.len(), q.queued_entries()), (1, 1));
    assert_eq!(q.deadline(Lane(3)), Some(t(200)));
    assert_eq!(q.next_deadline_hint(), Some(t(200)));
    // Later: noted, reported at its queued time, as a queued key is.
    q.schedule(Lane(3), t(300));
    assert_eq!(q.next_deadline_hint(), Some(t(200)));
    assert_eq!(q.deadline(Lane(3)), Some(t(300)));
    // Another key: the held one goes into the wheel, the new one is held.
    q.schedule(Lane(4), t(100));
    assert_eq!((q.slots.chunks(), q.wheel.len), (1, 1));
    assert_eq!(q.next_deadline_hint(), Some(t(100)));
    assert!(q.cancel(Lane(4)));
    assert_eq!(q.next_deadline_hint(), Some(t(200)));
    assert_eq!(q.next_deadline(), Some(t(300)), "moved when reached");
    assert_eq!(q.pop_expired(t(300)), Some(Lane(3)));
    assert!(q.is_empty());
}

#[test]
fn dense_slots_hold_chunks_only_while_a_key_in_them_is_scheduled() {
    let mut q = TimerQueue::dense();
    // Each key is put into the slots at once, as the next key's schedule
    // would (the newest key is held out of them).
    q.schedule(Lane(1), t(5));
    q.queue_held();
    q.schedule(Lane(200), t(6));
    q.queue_held();
    assert_eq!(q.slots.chunks(), 2, "lane 1 index 0, lane 0 index 3,700");
    assert!(q.cancel(Lane(200)));
    assert!(!q.cancel(Lane(200)));
    assert_eq!(q.slots.chunks(), 1, "the empty chunk became the spare");
    assert!(q.slots.spare.is_some());
    // A key that comes and goes reuses the spare: no allocation.
    q.schedule(Lane(4), t(7));
    q.queue_held();
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
    assert_eq!(q.queued_entries(), q.len());
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

/// What the differential tests drive on a queue.
trait Queue<K> {
    fn schedule(&mut self, key: K, at: Instant);
    fn cancel(&mut self, key: K) -> bool;
    fn pop_expired(&mut self, now: Instant) -> Option<K>;
    fn next_deadline(&mut self) -> Option<Instant>;
    fn next_deadline_hint(&mut self) -> Option<Instant>;
    fn shrink_to_fit(&mut self);
    fn deadline(&self, key: K) -> Option<Instant>;
    fn len(&self) -> usize;
}

macro_rules! queue_ops {
    ($queue:ident) => {
        impl<K: Copy + Eq, M: KeySlots<K>> Queue<K> for $queue<K, M> {
            fn schedule(&mut self, key: K, at: Instant) {
                $queue::schedule(self, key, at)
            }
            fn cancel(&mut self, key: K) -> bool {
                $queue::cancel(self, key)
            }
            fn pop_expired(&mut self, now: Instant) -> Option<K> {
                $queue::pop_expired(self, now)
            }
            fn next_deadline(&mut self) -> Option<Instant> {
                $queue::next_deadline(self)
            }
            fn next_deadline_hint(&mut self) -> Option<Instant> {
                $queue::next_deadline_hint(self)
            }
            fn shrink_to_fit(&mut self) {
                $queue::shrink_to_fit(self)
            }
            fn deadline(&self, key: K) -> Option<Instant> {
                $queue::deadline(self, key)
            }
            fn len(&self) -> usize {
                $queue::len(self)
            }
        }
    };
}

queue_ops!(TimerQueue);
queue_ops!(ReferenceQueue);

/// Runs `ops` on `a` and `b` and compares every answer: each hint (the
/// stack's `poll_timeout`), each exact next deadline, each expiry in order,
/// each key's deadline and the count; `after` checks more after each step.
fn run_alike<K: Copy + Eq + core::fmt::Debug, A: Queue<K>, B: Queue<K>>(
    a: &mut A,
    b: &mut B,
    key: impl Fn(u8) -> K,
    ops: Vec<Op>,
    mut after: impl FnMut(&A, &B) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut now = 0u64;
    for op in ops {
        match op {
            Op::Schedule(..) | Op::Again(_) | Op::Nudge(..) => {
                let Some((k, d)) = op.target(|k| b.deadline(key(k)).map(|d| d.total_micros()))
                else {
                    continue;
                };
                a.schedule(key(k), Instant::from_micros(d));
                b.schedule(key(k), Instant::from_micros(d));
            }
            Op::Cancel(k) => prop_assert_eq!(a.cancel(key(k)), b.cancel(key(k))),
            Op::Advance(dt) => {
                now = now.saturating_add(dt / 2);
                let at = Instant::from_micros(now);
                loop {
                    let got = a.pop_expired(at);
                    prop_assert_eq!(got, b.pop_expired(at));
                    if got.is_none() {
                        break;
                    }
                }
            }
            Op::Next => prop_assert_eq!(a.next_deadline(), b.next_deadline()),
            Op::Hint => prop_assert_eq!(a.next_deadline_hint(), b.next_deadline_hint()),
            Op::Shrink => {
                a.shrink_to_fit();
                b.shrink_to_fit();
            }
        }
        prop_assert_eq!(a.len(), b.len());
        for k in 0..16u8 {
            prop_assert_eq!(a.deadline(key(k)), b.deadline(key(k)));
        }
        after(a, b)?;
    }
    Ok(())
}

/// Runs `ops` on the queue and on the [`ReferenceQueue`] (the queue before
/// it held its newest key out of the wheel), comparing every answer, and
/// checks the queue's lists after each step.
fn check_against_reference<K: Copy + Eq + core::fmt::Debug, M: KeySlots<K>>(
    mut q: TimerQueue<K, M>,
    mut reference: ReferenceQueue<K, M>,
    key: impl Fn(u8) -> K,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    run_alike(&mut q, &mut reference, key, ops, |q, _| {
        prop_assert_eq!(q.queued_entries(), q.len());
        q.check().map_err(TestCaseError::fail)
    })
}

/// Mostly two keys, so that runs of changes to one key (a stack's input,
/// output and timer for one connection) are common, and sometimes others.
fn few_keys() -> impl Strategy<Value = u8> + Clone {
    prop_oneof![3 => 0u8..2, 1 => 0u8..16]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The held key changes no answer: hashed slots.
    #[test]
    fn held_key_queue_answers_as_the_reference(
        ops in proptest::collection::vec(op_on(few_keys(), 4), 1..200)
    ) {
        let reference = ReferenceQueue::with_slots(TimerQueue::<u8>::new().slots);
        check_against_reference(TimerQueue::new(), reference, |k| k, ops)?;
    }

    /// The same with dense slots (the stack's queue).
    #[test]
    fn held_key_dense_queue_answers_as_the_reference(
        ops in proptest::collection::vec(op_on(few_keys(), 4), 1..200)
    ) {
        check_against_reference(
            TimerQueue::dense(),
            ReferenceQueue::with_slots(DenseSlots::default()),
            Lane,
            ops,
        )?;
    }
}
