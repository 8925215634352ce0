//! A connection's own timers: one deadline per [`Timer`] in 48 bytes
//! (DESIGN.md §4), and the earliest of them.

use super::Timer;
use crate::time::Instant;

/// Marks an unarmed timer. `Instant::FAR_FUTURE` is "never", so arming a
/// timer for it is the same as stopping it.
const UNARMED: Instant = Instant::FAR_FUTURE;

/// Marks an unarmed timer in [`Repr::Near`].
const NEAR_UNARMED: u32 = u32::MAX;

/// [`Repr::Near`]'s `earliest` when no timer is armed.
const EARLIEST_NONE: u8 = Timer::COUNT as u8;

/// [`Repr::Near`]'s `earliest` when it is not known (a scan finds it).
const EARLIEST_UNKNOWN: u8 = u8::MAX;

/// One deadline per [`Timer`], in 48 bytes: 32-bit µs offsets from a base
/// instant while every armed deadline lies within 71 minutes of it (always,
/// but for a long keepalive, `tcp_fin_timeout` or 2 MSL next to a short
/// timer), nine full instants in a box otherwise (DESIGN.md §4).
///
/// The near form also remembers which timer is earliest, in a byte its
/// enum tag leaves free: the stack asks for the next deadline after every
/// call into the connection and every segment it sends (about 30 times a
/// handshake), and a minimum over nine offsets is some 45 instructions
/// (baseline x86-64 has no unsigned vector minimum). `set` and `stop` keep
/// the index right, or forget it (`EARLIEST_UNKNOWN`) when the earliest
/// timer moves later or stops; [`TimerTable::next_deadline_cached`] scans
/// once then and remembers.
#[derive(Clone)]
pub struct TimerTable {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// Deadlines as µs after `base`; `base` is at most every armed deadline.
    Near {
        base: Instant,
        after: [u32; Timer::COUNT],
        /// The index of an armed timer with the smallest offset,
        /// `EARLIEST_NONE` when none is armed, or `EARLIEST_UNKNOWN`.
        earliest: u8,
    },
    /// Two armed deadlines lie too far apart for `Near`. A table widened
    /// once stays wide until `stop_all`, so a connection does not allocate
    /// and free as its short timers come and go.
    Wide(Box<[Instant; Timer::COUNT]>),
}

impl PartialEq for TimerTable {
    fn eq(&self, other: &Self) -> bool {
        self.deadlines() == other.deadlines()
    }
}

impl Eq for TimerTable {}

impl Default for TimerTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The index of the first smallest offset in `after`, or `EARLIEST_NONE`
/// when every timer is unarmed. Out of line: the scan runs only when the
/// earliest timer moved later or stopped.
#[inline(never)]
fn earliest_of(after: &[u32; Timer::COUNT]) -> u8 {
    let mut best = 0;
    for i in 1..Timer::COUNT {
        if after[i] < after[best] {
            best = i;
        }
    }
    if after[best] == NEAR_UNARMED {
        EARLIEST_NONE
    } else {
        best as u8
    }
}

/// `at` as µs after `base`, if it fits.
fn offset(base: Instant, at: Instant) -> Option<u32> {
    let us = at.total_micros().checked_sub(base.total_micros())?;
    u32::try_from(us).ok().filter(|&d| d != NEAR_UNARMED)
}

impl TimerTable {
    /// A table with every timer stopped.
    pub const fn new() -> Self {
        TimerTable {
            repr: Repr::Near {
                base: Instant::from_micros(0),
                after: [NEAR_UNARMED; Timer::COUNT],
                earliest: EARLIEST_NONE,
            },
        }
    }

    /// Every deadline, `UNARMED` for a stopped timer.
    fn deadlines(&self) -> [Instant; Timer::COUNT] {
        match &self.repr {
            Repr::Near { base, after, .. } => after.map(|d| {
                if d == NEAR_UNARMED {
                    UNARMED
                } else {
                    Instant::from_micros(base.total_micros() + u64::from(d))
                }
            }),
            Repr::Wide(d) => **d,
        }
    }

    /// Arms `timer` to fire at `at`, replacing any earlier setting. Out of
    /// line: a handshake arms timers from about sixteen places, and one
    /// copy of this costs fewer instruction-cache lines than sixteen.
    #[inline(never)]
    pub fn set(&mut self, timer: Timer, at: Instant) {
        if at == UNARMED {
            return self.stop(timer);
        }
        let i = timer.index();
        let fits = match &mut self.repr {
            Repr::Near {
                base,
                after,
                earliest,
            } => offset(*base, at)
                .map(|d| {
                    let e = *earliest;
                    if usize::from(e) == i {
                        if d > after[i] {
                            // The earliest moved later: another may be earlier.
                            *earliest = EARLIEST_UNKNOWN;
                        }
                    } else if e == EARLIEST_NONE
                        || after.get(usize::from(e)).is_some_and(|&first| d < first)
                    {
                        *earliest = i as u8;
                    }
                    after[i] = d;
                })
                .is_some(),
            Repr::Wide(d) => {
                d[i] = at;
                true
            }
        };
        if !fits {
            self.rebase(i, at);
        }
    }

    /// Sets deadline `i` to `at`, which does not fit the current base:
    /// moves the base to the earliest deadline, or widens the table.
    fn rebase(&mut self, i: usize, at: Instant) {
        let mut all = self.deadlines();
        all[i] = at;
        let base = all.iter().copied().fold(UNARMED, Instant::min);
        let mut after = [NEAR_UNARMED; Timer::COUNT];
        for (d, &t) in after.iter_mut().zip(&all) {
            if t == UNARMED {
                continue;
            }
            match offset(base, t) {
                Some(off) => *d = off,
                None => {
                    self.repr = Repr::Wide(Box::new(all));
                    return;
                }
            }
        }
        self.repr = Repr::Near {
            base,
            after,
            earliest: EARLIEST_UNKNOWN,
        };
    }

    /// Stops `timer`; stopping a stopped timer is harmless.
    #[inline]
    pub fn stop(&mut self, timer: Timer) {
        let i = timer.index();
        match &mut self.repr {
            Repr::Near {
                after, earliest, ..
            } => {
                after[i] = NEAR_UNARMED;
                if usize::from(*earliest) == i {
                    *earliest = EARLIEST_UNKNOWN;
                }
            }
            Repr::Wide(d) => d[i] = UNARMED,
        }
    }

    /// Stops every timer. A narrow table is reset field by field: a new
    /// table written over it whole was built on the stack in pieces and
    /// copied in wider loads the CPU cannot forward from those stores
    /// (`Written` in `stack/egress.rs` tells the same story).
    pub fn stop_all(&mut self) {
        let Repr::Near {
            base,
            after,
            earliest,
        } = &mut self.repr
        else {
            // A wide table goes back to narrow, its deadlines freed.
            *self = TimerTable::new();
            return;
        };
        *base = Instant::from_micros(0);
        *after = [NEAR_UNARMED; Timer::COUNT];
        *earliest = EARLIEST_NONE;
    }

    /// When `timer` fires, if armed.
    #[inline]
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        let i = timer.index();
        match &self.repr {
            Repr::Near { base, after, .. } => (after[i] != NEAR_UNARMED)
                .then(|| Instant::from_micros(base.total_micros() + u64::from(after[i]))),
            Repr::Wide(d) => (d[i] != UNARMED).then_some(d[i]),
        }
    }

    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// Whether `timer` is armed and due at `now`.
    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest armed timer and its deadline; ties go to the timer
    /// listed first in [`Timer::ALL`].
    pub fn next(&self) -> Option<(Timer, Instant)> {
        // Plain indexed loops: this runs after every segment, and the
        // iterator chain compiled to byte-wide stack spills here.
        match &self.repr {
            Repr::Near { base, after, .. } => {
                let mut best = 0;
                for i in 1..Timer::COUNT {
                    if after[i] < after[best] {
                        best = i;
                    }
                }
                let d = after[best];
                (d != NEAR_UNARMED).then(|| {
                    let at = Instant::from_micros(base.total_micros() + u64::from(d));
                    (Timer::ALL[best], at)
                })
            }
            Repr::Wide(deadlines) => {
                let mut best = 0;
                for i in 1..Timer::COUNT {
                    if deadlines[i] < deadlines[best] {
                        best = i;
                    }
                }
                let at = deadlines[best];
                (at != UNARMED).then_some((Timer::ALL[best], at))
            }
        }
    }

    /// The earliest deadline: when the connection next needs `handle_timeout`.
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.repr {
            Repr::Near {
                base,
                after,
                earliest,
            } => {
                let e = match *earliest {
                    EARLIEST_UNKNOWN => earliest_of(after),
                    e => e,
                };
                after
                    .get(usize::from(e))
                    .map(|&d| Instant::from_micros(base.total_micros() + u64::from(d)))
            }
            Repr::Wide(deadlines) => {
                let at = deadlines.iter().copied().fold(UNARMED, Instant::min);
                (at != UNARMED).then_some(at)
            }
        }
    }

    /// [`TimerTable::next_deadline`], remembering the earliest timer if it
    /// had to be searched for: the stack asks after every call into the
    /// connection, and mostly nothing moved in between. Out of line, as
    /// [`TimerTable::set`].
    #[inline(never)]
    pub fn next_deadline_cached(&mut self) -> Option<Instant> {
        match &mut self.repr {
            Repr::Near {
                base,
                after,
                earliest,
            } => {
                if *earliest == EARLIEST_UNKNOWN {
                    *earliest = earliest_of(after);
                }
                after
                    .get(usize::from(*earliest))
                    .map(|&d| Instant::from_micros(base.total_micros() + u64::from(d)))
            }
            Repr::Wide(deadlines) => {
                let at = deadlines.iter().copied().fold(UNARMED, Instant::min);
                (at != UNARMED).then_some(at)
            }
        }
    }

    /// Stops and returns the earliest timer due at `now`. Call in a loop
    /// until `None`: each timer is returned once per arming.
    #[must_use = "a popped timer is not returned again"]
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let (timer, at) = self.next()?;
        if at > now {
            return None;
        }
        self.stop(timer);
        Some(timer)
    }

    /// Armed timers and their deadlines, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (Timer, Instant)> + '_ {
        let deadlines = self.deadlines();
        Timer::ALL
            .into_iter()
            .map(move |t| (t, deadlines[t.index()]))
            .filter(|&(_, at)| at != UNARMED)
    }

    /// Whether the deadlines sit in a box (some lie too far apart).
    pub fn is_wide(&self) -> bool {
        matches!(self.repr, Repr::Wide(_))
    }
}

impl core::fmt::Debug for TimerTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(t, at)| (t.name(), at)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn table_is_small() {
        assert_eq!(core::mem::size_of::<TimerTable>(), 48);
    }

    #[test]
    fn table_widens_for_deadlines_hours_apart_and_narrows_on_stop_all() {
        let mut table = TimerTable::new();
        table.set(Timer::Keepalive, t(3_600_000));
        table.set(Timer::Idle, t(1_000));
        assert!(!table.is_wide(), "rebased onto the earlier deadline");
        table.set(Timer::Retransmit, t(300));
        assert!(!table.is_wide(), "an hour apart still fits");
        table.set(Timer::Keepalive, t(7_200_000));
        assert!(table.is_wide(), "2 h apart: no longer fits 32 bits of µs");
        assert_eq!(table.get(Timer::Retransmit), Some(t(300)));
        assert_eq!(table.get(Timer::Keepalive), Some(t(7_200_000)));
        assert_eq!(table.next(), Some((Timer::Retransmit, t(300))));
        table.stop(Timer::Retransmit);
        assert!(table.is_wide(), "stays wide: no allocation churn");
        assert_eq!(table.next(), Some((Timer::Idle, t(1_000))));
        table.stop_all();
        assert!(!table.is_wide());
        assert_eq!(table.next(), None);
    }

    /// A deadline for the table: near, far apart, or the extremes.
    fn table_deadline() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => 0u64..5_000_000_000,
            2 => 0u64..(1 << 40),
            1 => (0u64..3).prop_map(|i| u64::MAX - i),
            1 => Just(0u64),
        ]
    }

    proptest! {
        #[test]
        fn table_matches_an_array_of_instants(
            ops in proptest::collection::vec((0usize..Timer::COUNT, proptest::option::of(table_deadline())), 1..60),
        ) {
            let mut table = TimerTable::new();
            let mut model = [UNARMED; Timer::COUNT];
            for (i, at) in ops {
                let timer = Timer::ALL[i];
                match at {
                    Some(us) => {
                        table.set(timer, Instant::from_micros(us));
                        model[i] = Instant::from_micros(us);
                    }
                    None => {
                        table.stop(timer);
                        model[i] = UNARMED;
                    }
                }
                for (j, &m) in model.iter().enumerate() {
                    prop_assert_eq!(table.get(Timer::ALL[j]), (m != UNARMED).then_some(m));
                }
                let mut best = 0;
                for j in 1..Timer::COUNT {
                    if model[j] < model[best] {
                        best = j;
                    }
                }
                let expect = (model[best] != UNARMED).then_some((Timer::ALL[best], model[best]));
                prop_assert_eq!(table.next(), expect);
                prop_assert_eq!(table.next_deadline(), expect.map(|(_, at)| at));
                prop_assert_eq!(table.next_deadline_cached(), expect.map(|(_, at)| at));
            }
        }

        /// The near form's remembered earliest timer against a scan of the
        /// nine: deadlines close together (ties, the earliest moved later
        /// or stopped, rebases onto an earlier deadline), so the table
        /// never widens; asked with and without remembering, or not at
        /// all, between changes.
        #[test]
        fn near_table_next_deadline_matches_a_scan(
            ops in proptest::collection::vec(
                (
                    0usize..Timer::COUNT,
                    proptest::option::of(prop_oneof![0u64..50, 1_000_000u64..1_000_050]),
                    0u8..3,
                ),
                1..80,
            ),
        ) {
            let mut table = TimerTable::new();
            let mut model = [UNARMED; Timer::COUNT];
            for (i, at, ask) in ops {
                match at {
                    Some(us) => {
                        table.set(Timer::ALL[i], Instant::from_micros(us));
                        model[i] = Instant::from_micros(us);
                    }
                    None => {
                        table.stop(Timer::ALL[i]);
                        model[i] = UNARMED;
                    }
                }
                prop_assert!(!table.is_wide());
                let scan = model.iter().copied().fold(UNARMED, Instant::min);
                let expect = (scan != UNARMED).then_some(scan);
                match ask {
                    0 => prop_assert_eq!(table.next_deadline_cached(), expect),
                    1 => prop_assert_eq!(table.next_deadline(), expect),
                    _ => {}
                }
            }
            let scan = model.iter().copied().fold(UNARMED, Instant::min);
            prop_assert_eq!(table.next_deadline_cached(), (scan != UNARMED).then_some(scan));
            prop_assert_eq!(table.next_deadline(), (scan != UNARMED).then_some(scan));
            table.stop_all();
            prop_assert_eq!(table.next_deadline_cached(), None);
        }
    }

    #[test]
    fn table_tracks_each_timer_separately() {
        let mut table = TimerTable::new();
        assert_eq!(table.next(), None);
        table.set(Timer::Retransmit, t(300));
        table.set(Timer::DelayedAck, t(40));
        table.set(Timer::Keepalive, t(7_200_000));
        assert_eq!(table.get(Timer::DelayedAck), Some(t(40)));
        assert!(table.is_armed(Timer::Retransmit));
        assert!(!table.is_armed(Timer::Persist));
        assert_eq!(table.next(), Some((Timer::DelayedAck, t(40))));
        table.stop(Timer::DelayedAck);
        assert_eq!(table.next(), Some((Timer::Retransmit, t(300))));
        // Re-arming replaces.
        table.set(Timer::Retransmit, t(500));
        assert_eq!(table.next_deadline(), Some(t(500)));
        assert_eq!(
            table.iter().collect::<Vec<_>>(),
            [
                (Timer::Retransmit, t(500)),
                (Timer::Keepalive, t(7_200_000))
            ]
        );
        table.stop_all();
        assert_eq!(table.next(), None);
    }

    #[test]
    fn table_pops_expired_timers_earliest_first_once_each() {
        let mut table = TimerTable::new();
        table.set(Timer::TimeWait, t(10));
        table.set(Timer::Retransmit, t(10));
        table.set(Timer::DelayedAck, t(5));
        table.set(Timer::Persist, t(20));
        assert!(table.is_expired(Timer::DelayedAck, t(5)));
        assert!(!table.is_expired(Timer::Persist, t(19)));
        let now = t(10);
        let mut fired = Vec::new();
        while let Some(timer) = table.pop_expired(now) {
            fired.push(timer);
        }
        // Earliest first; the tie at 10 ms in table order.
        assert_eq!(
            fired,
            [Timer::DelayedAck, Timer::Retransmit, Timer::TimeWait]
        );
        assert_eq!(table.pop_expired(now), None, "a spurious call is a no-op");
        assert_eq!(table.next(), Some((Timer::Persist, t(20))));
        // Arming for "never" is stopping.
        table.set(Timer::Persist, Instant::FAR_FUTURE);
        assert_eq!(table.next(), None);
    }

    #[test]
    fn timer_names_and_order_are_stable() {
        for (i, timer) in Timer::ALL.iter().enumerate() {
            assert_eq!(timer.index(), i);
        }
        assert_eq!(Timer::TailLossProbe.name(), "tlp");
        let mut table = TimerTable::new();
        table.set(Timer::DelayedAck, t(40));
        assert_eq!(format!("{table:?}"), "{\"delack\": @0.040000s}");
    }
}
