//! When each scripted event is due and how much slack it gets, by
//! packetdrill's rules.
//!
//! References are to google/packetdrill `gtests/net/packetdrill/`: `run.c`
//! (`adjust_relative_event_times`, `verify_time`, `get_next_event`),
//! `run_system_call.c` (the blocking-call return check), `run_packet.c`
//! (`verify_outbound_tcp_option`, the TS val check) and `config.c`
//! (defaults). The README's "Execution Model" describes the clock: events
//! run at the pace their timestamps describe.
//!
//! Times here are [`Instant`]s on the script's clock: the first event is at
//! `Instant::ZERO`. A runner on virtual time adds its own start offset.
//!
//! The rules:
//!
//! 1. **Absolute** `0.100`: due 100 ms after the script started.
//! 2. **Relative** `+.1`: due 100 ms after an *anchor*. The anchor is the
//!    previous event's scripted time when both events are inbound packets
//!    (so a burst of injected packets does not drift, run.c
//!    `is_event_start_time_anchored`); otherwise it is the moment the
//!    runner reaches this event, which on virtual time is when the previous
//!    event actually happened (an outbound packet when synack sent it, a
//!    blocking call when it started). This is "relative to the previous
//!    event" with the previous event's *actual* time, as packetdrill does.
//! 3. **Ranges** `0.3~0.4`, `+.3~+.4` (outbound packets only): due anywhere
//!    in the closed range; relative ends use the anchor of rule 2.
//! 4. **Any** `*` (outbound packets only): no timing check; its own time,
//!    for the next event's anchor, is the anchor of rule 2.
//! 5. **Blocking calls** `+0...0.200`: the end time is on the same clock as
//!    the start: absolute for an absolute start, added to the same anchor for
//!    a relative start (not to the call's start). The call must return at the
//!    end time.
//! 6. **Tolerance**: `--tolerance_usecs` (default 4000 µs), widened to
//!    `--tolerance_percent` (default 12.5 %) of the scripted gap since the
//!    previous event when that is larger. A point time must match within
//!    ± tolerance, a range within [start − tol, end + tol]. A blocking call's
//!    return uses the gap from its start to its end.
//! 7. **TCP timestamps**: with `--tcp_ts_tick_usecs=N` (default 0: no
//!    check), an outbound TS val may differ from the script's by at most
//!    tolerance / N ticks, the tolerance's percentage taken of the time since
//!    the script started rather than since the previous event.
//! 8. **Ordering**: the first event must be at time 0 (`0`, `+0`), and two
//!    consecutive absolute times may not go backwards.

use core::fmt;

use synack_proto::{Duration, Instant};

use super::ast::{Event, EventTime, Script};

/// packetdrill's default `--tolerance_usecs` (config.c).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_micros(4_000);
/// packetdrill's default `--tolerance_percent` (config.c).
pub const DEFAULT_TOLERANCE_PERCENT: f64 = 12.5;

/// Timing settings a script can carry as options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimingConfig {
    /// `--tolerance_usecs`: the least slack any event gets.
    pub tolerance: Duration,
    /// `--tolerance_percent`: slack as a share of the scripted gap, 0..=100.
    pub tolerance_percent: f64,
    /// `--tcp_ts_tick_usecs`: microseconds per TS val tick; 0 disables the
    /// outbound TS val check.
    pub tcp_ts_tick_usecs: u32,
    /// `--tcp_ts_ecr_scaled`: an inbound TS ecr that matches no outbound TS
    /// val is interpolated from the first one instead of being an error.
    pub tcp_ts_ecr_scaled: bool,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            tolerance: DEFAULT_TOLERANCE,
            tolerance_percent: DEFAULT_TOLERANCE_PERCENT,
            tcp_ts_tick_usecs: 0,
            tcp_ts_ecr_scaled: false,
        }
    }
}

impl TimingConfig {
    /// Defaults overridden by the script's options, checked as packetdrill's
    /// config.c checks them.
    pub fn from_script(script: &Script) -> Result<TimingConfig, String> {
        let mut c = TimingConfig::default();
        if let Some(v) = script.option("tolerance_usecs") {
            let v = v.unwrap_or("");
            match v.parse::<u64>() {
                Ok(n) if n > 0 => c.tolerance = Duration::from_micros(n),
                _ => return Err(format!("bad --tolerance_usecs: {v}")),
            }
        }
        if let Some(v) = script.option("tolerance_percent") {
            let v = v.unwrap_or("");
            match v.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => c.tolerance_percent = p,
                _ => return Err(format!("bad --tolerance_percent: {v}")),
            }
        }
        if let Some(v) = script.option("tcp_ts_tick_usecs") {
            let v = v.unwrap_or("");
            c.tcp_ts_tick_usecs = v
                .parse::<u32>()
                .map_err(|_| format!("bad --tcp_ts_tick_usecs: {v}"))?;
        }
        c.tcp_ts_ecr_scaled = script.option("tcp_ts_ecr_scaled").is_some();
        Ok(c)
    }

    /// Rule 6: the slack for an event whose scripted time is `gap` after
    /// the previous event's (`None` for the first event).
    pub fn tolerance_for_gap(&self, gap: Option<Duration>) -> Duration {
        match gap {
            Some(gap) => self.tolerance.max(self.percent_of(gap)),
            None => self.tolerance,
        }
    }

    /// Rule 7: whether an outbound TS val (already mapped into the script's
    /// TS space) is close enough to the scripted one, for an event scripted
    /// `since_start` after the script began.
    pub fn ts_val_ok(&self, scripted: u32, actual: u32, since_start: Duration) -> bool {
        if self.tcp_ts_tick_usecs == 0 {
            return true;
        }
        let tolerance = self.tolerance.max(self.percent_of(since_start));
        let ticks = u64::from((actual.wrapping_sub(scripted) as i32).unsigned_abs());
        ticks * u64::from(self.tcp_ts_tick_usecs) <= tolerance.total_micros()
    }

    /// `percent`% of `d`, truncated to whole microseconds as packetdrill's
    /// double-to-long conversion does.
    fn percent_of(&self, d: Duration) -> Duration {
        Duration::from_micros((self.tolerance_percent / 100.0 * d.total_micros() as f64) as u64)
    }
}

/// What a runner knows about the event before the one it is resolving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviousEvent {
    /// Its resolved scripted start time ([`ResolvedTime::start`]).
    pub scripted: Instant,
    /// Whether it was an inbound packet (anchors rule 2).
    pub inbound_packet: bool,
}

/// When an event is due, on the script's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    At(Instant),
    /// Closed range (rule 3).
    Within(Instant, Instant),
    /// No check (rule 4).
    Any,
}

/// An event's time resolved against the clock (rules 1-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedTime {
    pub due: Due,
    /// The scripted start: what the next event's tolerance gap and anchor
    /// use. For a range it is the start; for `*` the anchor.
    pub start: Instant,
    /// The anchor relative times were added to (zero for absolute times).
    pub anchor: Instant,
    /// A blocking call's scripted return time (rule 5).
    pub blocking_end: Option<Instant>,
}

/// Resolves `time` (rules 1-5). `now` is the script-clock time at which the
/// runner reaches this event; `blocking_end` is a syscall's `...END`.
pub fn resolve(
    time: EventTime,
    inbound_packet: bool,
    blocking_end: Option<Duration>,
    previous: Option<PreviousEvent>,
    now: Instant,
) -> ResolvedTime {
    let anchor = match previous {
        Some(p) if p.inbound_packet && inbound_packet => p.scripted,
        _ => now,
    };
    let (due, anchor) = match time {
        EventTime::Absolute(t) => (Due::At(Instant::ZERO + t), Instant::ZERO),
        EventTime::AbsoluteRange(a, b) => (
            Due::Within(Instant::ZERO + a, Instant::ZERO + b),
            Instant::ZERO,
        ),
        EventTime::Relative(t) => (Due::At(anchor + t), anchor),
        EventTime::RelativeRange(a, b) => (Due::Within(anchor + a, anchor + b), anchor),
        EventTime::Any => (Due::Any, anchor),
    };
    let start = match due {
        Due::At(t) | Due::Within(t, _) => t,
        Due::Any => anchor,
    };
    ResolvedTime {
        due,
        start,
        anchor,
        blocking_end: blocking_end.map(|end| anchor + end),
    }
}

/// [`resolve`] for a script event.
pub fn resolve_event(event: &Event, previous: Option<PreviousEvent>, now: Instant) -> ResolvedTime {
    resolve(
        event.time,
        event.is_inbound_packet(),
        event.blocking_end(),
        previous,
        now,
    )
}

impl PreviousEvent {
    /// What the next event needs to know about `event`, resolved as `resolved`.
    pub fn after(event: &Event, resolved: &ResolvedTime) -> PreviousEvent {
        PreviousEvent {
            scripted: resolved.start,
            inbound_packet: event.is_inbound_packet(),
        }
    }
}

/// An event that happened outside its slack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimingError {
    pub due: Due,
    pub actual: Instant,
    pub tolerance: Duration,
}

impl fmt::Display for TimingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.due {
            Due::At(t) => write!(
                f,
                "expected at {t} but happened at {}; tolerance {}",
                self.actual, self.tolerance
            ),
            Due::Within(a, b) => write!(
                f,
                "expected in time range {a}~{b} but happened at {}; tolerance {}",
                self.actual, self.tolerance
            ),
            Due::Any => write!(f, "happened at {}", self.actual),
        }
    }
}

impl std::error::Error for TimingError {}

/// Rule 6: checks that an event resolved to `resolved` happening at
/// `actual` is on time, given the previous event's scripted start.
pub fn check(
    config: &TimingConfig,
    resolved: &ResolvedTime,
    previous: Option<PreviousEvent>,
    actual: Instant,
) -> Result<(), TimingError> {
    let gap = previous.map(|p| resolved.start.saturating_duration_since(p.scripted));
    let tolerance = config.tolerance_for_gap(gap);
    let (lo, hi) = match resolved.due {
        Due::Any => return Ok(()),
        Due::At(t) => (t, t),
        Due::Within(a, b) => (a, b),
    };
    if actual < lo - tolerance || actual > hi + tolerance {
        return Err(TimingError {
            due: resolved.due,
            actual,
            tolerance,
        });
    }
    Ok(())
}

/// Rules 5 and 6 for a blocking call's return: due at its end time, with the
/// gap measured from the call's own start.
pub fn check_blocking_return(
    config: &TimingConfig,
    resolved: &ResolvedTime,
    actual: Instant,
) -> Result<(), TimingError> {
    let Some(end) = resolved.blocking_end else {
        return Ok(());
    };
    let returned = ResolvedTime {
        due: Due::At(end),
        start: end,
        anchor: resolved.anchor,
        blocking_end: None,
    };
    let start = PreviousEvent {
        scripted: resolved.start,
        inbound_packet: false,
    };
    check(config, &returned, Some(start), actual)
}

/// Rule 8, for the script as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderError {
    /// The first event's time is not 0.
    FirstEventNotAtZero { index: usize },
    /// An absolute time earlier than the absolute time before it.
    Backwards {
        index: usize,
        from: Duration,
        to: Duration,
    },
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::FirstEventNotAtZero { .. } => {
                f.write_str("first event should be at time 0")
            }
            OrderError::Backwards { from, to, .. } => write!(
                f,
                "time goes backward in script from {} usec to {} usec",
                from.total_micros(),
                to.total_micros()
            ),
        }
    }
}

impl std::error::Error for OrderError {}

/// Rule 8: the first event at 0, absolute times never decreasing
/// (run.c `get_next_event`). `index` is into `script.events`.
pub fn check_order(script: &Script) -> Result<(), OrderError> {
    let first = |t: EventTime| match t {
        EventTime::Absolute(t)
        | EventTime::Relative(t)
        | EventTime::AbsoluteRange(t, _)
        | EventTime::RelativeRange(t, _) => t,
        EventTime::Any => Duration::ZERO,
    };
    if let Some(e) = script.events.first()
        && first(e.time) != Duration::ZERO
    {
        return Err(OrderError::FirstEventNotAtZero { index: 0 });
    }
    for (i, pair) in script.events.windows(2).enumerate() {
        let (a, b) = (pair[0].time, pair[1].time);
        if a.is_absolute() && b.is_absolute() && first(b) < first(a) {
            return Err(OrderError::Backwards {
                index: i + 1,
                from: first(a),
                to: first(b),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::parse_script;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn at(n_ms: u64) -> Instant {
        Instant::from_millis(n_ms)
    }

    #[test]
    fn absolute_times_count_from_the_script_start() {
        let r = resolve(EventTime::Absolute(ms(100)), false, None, None, at(50));
        assert_eq!(
            (r.due, r.start, r.anchor),
            (Due::At(at(100)), at(100), Instant::ZERO)
        );
        let r = resolve(
            EventTime::AbsoluteRange(ms(300), ms(400)),
            false,
            None,
            None,
            at(0),
        );
        assert_eq!(r.due, Due::Within(at(300), at(400)));
    }

    #[test]
    fn relative_times_count_from_when_the_runner_gets_there() {
        // Previous event scripted at 100 ms but synack sent it at 103 ms.
        let prev = Some(PreviousEvent {
            scripted: at(100),
            inbound_packet: false,
        });
        let r = resolve(EventTime::Relative(ms(10)), false, None, prev, at(103));
        assert_eq!(r.due, Due::At(at(113)));
        let r = resolve(
            EventTime::RelativeRange(ms(300), ms(310)),
            false,
            None,
            prev,
            at(103),
        );
        assert_eq!(r.due, Due::Within(at(403), at(413)));
    }

    #[test]
    fn consecutive_inbound_packets_anchor_on_the_scripted_time() {
        let prev = Some(PreviousEvent {
            scripted: at(100),
            inbound_packet: true,
        });
        let r = resolve(EventTime::Relative(ms(10)), true, None, prev, at(104));
        assert_eq!(r.due, Due::At(at(110)));
        // Not both inbound: back to "now".
        let r = resolve(EventTime::Relative(ms(10)), false, None, prev, at(104));
        assert_eq!(r.due, Due::At(at(114)));
    }

    #[test]
    fn any_time_is_never_late_and_anchors_the_next_event_at_now() {
        let r = resolve(EventTime::Any, false, None, None, at(7_000));
        assert_eq!((r.due, r.start), (Due::Any, at(7_000)));
        assert_eq!(
            check(&TimingConfig::default(), &r, None, at(99_999)),
            Ok(())
        );
    }

    #[test]
    fn blocking_end_shares_the_start_times_clock() {
        // `+.1...0.200 read(...)` reached at 1 s: starts at 1.1 s, returns at 1.2 s.
        let r = resolve(
            EventTime::Relative(ms(100)),
            false,
            Some(ms(200)),
            None,
            at(1_000),
        );
        assert_eq!(
            (r.due, r.blocking_end),
            (Due::At(at(1_100)), Some(at(1_200)))
        );
        // `0.1...0.2`: both absolute.
        let r = resolve(
            EventTime::Absolute(ms(100)),
            false,
            Some(ms(200)),
            None,
            at(50),
        );
        assert_eq!(r.blocking_end, Some(at(200)));
    }

    #[test]
    fn tolerance_is_the_larger_of_usecs_and_percent_of_the_gap() {
        let c = TimingConfig::default();
        assert_eq!(c.tolerance_for_gap(None), Duration::from_micros(4_000));
        // 12.5% of 10 ms is 1.25 ms < 4 ms.
        assert_eq!(
            c.tolerance_for_gap(Some(ms(10))),
            Duration::from_micros(4_000)
        );
        // 12.5% of 1 s is 125 ms.
        assert_eq!(c.tolerance_for_gap(Some(ms(1_000))), ms(125));
        let strict = TimingConfig {
            tolerance_percent: 0.0,
            ..c
        };
        assert_eq!(
            strict.tolerance_for_gap(Some(ms(1_000))),
            Duration::from_micros(4_000)
        );
    }

    #[test]
    fn point_times_must_match_within_the_tolerance() {
        let c = TimingConfig::default();
        let prev = Some(PreviousEvent {
            scripted: at(0),
            inbound_packet: false,
        });
        let r = resolve(EventTime::Absolute(ms(100)), false, None, prev, at(0));
        // Gap 100 ms: tolerance max(4 ms, 12.5 ms) = 12.5 ms.
        assert_eq!(check(&c, &r, prev, at(112)), Ok(()));
        assert_eq!(check(&c, &r, prev, Instant::from_micros(87_500)), Ok(()));
        let err = check(&c, &r, prev, at(113)).unwrap_err();
        assert_eq!(err.tolerance, Duration::from_micros(12_500));
        assert!(check(&c, &r, prev, at(87)).is_err());
        assert!(
            err.to_string()
                .contains("expected at 0.100000s but happened at 0.113000s")
        );
    }

    #[test]
    fn ranges_accept_anything_inside_plus_tolerance() {
        let c = TimingConfig {
            tolerance_percent: 0.0,
            ..TimingConfig::default()
        };
        let r = resolve(
            EventTime::AbsoluteRange(ms(300), ms(400)),
            false,
            None,
            None,
            at(0),
        );
        assert_eq!(check(&c, &r, None, at(350)), Ok(()));
        assert_eq!(check(&c, &r, None, at(296)), Ok(()));
        assert_eq!(check(&c, &r, None, at(404)), Ok(()));
        assert!(check(&c, &r, None, at(295)).is_err());
        assert!(check(&c, &r, None, at(405)).is_err());
    }

    #[test]
    fn blocking_returns_use_the_gap_from_their_own_start() {
        let c = TimingConfig::default();
        // Starts at 0, must return at 2 s: tolerance 12.5% of 2 s = 250 ms.
        let r = resolve(
            EventTime::Absolute(Duration::ZERO),
            false,
            Some(ms(2_000)),
            None,
            at(0),
        );
        assert_eq!(check_blocking_return(&c, &r, at(2_250)), Ok(()));
        assert!(check_blocking_return(&c, &r, at(2_251)).is_err());
        let nb = resolve(
            EventTime::Absolute(Duration::ZERO),
            false,
            None,
            None,
            at(0),
        );
        assert_eq!(check_blocking_return(&c, &nb, at(9_999)), Ok(()));
    }

    #[test]
    fn ts_val_check_scales_ticks_and_is_off_by_default() {
        let off = TimingConfig::default();
        assert!(off.ts_val_ok(100, 5_000, Duration::from_secs(1)));
        let c = TimingConfig {
            tcp_ts_tick_usecs: 1_000,
            ..off
        };
        // 1 s into the script: tolerance max(4 ms, 125 ms) = 125 ticks of 1 ms.
        assert!(c.ts_val_ok(1_200, 1_325, Duration::from_secs(1)));
        assert!(c.ts_val_ok(1_200, 1_075, Duration::from_secs(1)));
        assert!(!c.ts_val_ok(1_200, 1_326, Duration::from_secs(1)));
        // Early on the floor of 4 ms applies; wrap-around is a small difference.
        assert!(c.ts_val_ok(u32::MAX - 1, 2, Duration::ZERO));
        assert!(!c.ts_val_ok(100, 105, Duration::ZERO));
    }

    #[test]
    fn config_reads_and_checks_script_options() {
        let s = parse_script(
            "--tolerance_usecs=7000\n--tolerance_percent=25\n--tcp_ts_tick_usecs=1000\n--tcp_ts_ecr_scaled\n0 close(3) = 0",
            "t.pkt",
        )
        .unwrap();
        let c = TimingConfig::from_script(&s).unwrap();
        assert_eq!(c.tolerance, Duration::from_micros(7_000));
        assert_eq!(
            (
                c.tolerance_percent,
                c.tcp_ts_tick_usecs,
                c.tcp_ts_ecr_scaled
            ),
            (25.0, 1_000, true)
        );
        let d = TimingConfig::from_script(&parse_script("0 close(3) = 0", "t").unwrap()).unwrap();
        assert_eq!(d, TimingConfig::default());
        for bad in [
            "--tolerance_usecs=0",
            "--tolerance_usecs=x",
            "--tolerance_percent=101",
            "--tcp_ts_tick_usecs=-1",
        ] {
            let s = parse_script(&format!("{bad}\n0 close(3) = 0"), "t").unwrap();
            assert!(TimingConfig::from_script(&s).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_script_resolves_event_by_event() {
        // blocking-read.pkt's shape: every event happens exactly on time.
        let s = parse_script(
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +.1 < S 0:0(0) win 32792\n\
             +.05 < . 1:1(0) ack 1 win 257\n\
             +0...0.100 read(4, ..., 2000) = 2000\n\
             +.1 < P. 1:2001(2000) ack 1 win 257\n\
             +0 > . 1:1(0) ack 2001\n\
             +.3~+.31 > F. 1:1(0) ack 2001\n",
            "t.pkt",
        )
        .unwrap();
        let mut previous = None;
        let mut now = Instant::ZERO;
        let mut due = Vec::new();
        for e in &s.events {
            let r = resolve_event(e, previous, now);
            due.push((r.due, r.blocking_end));
            now = r.start;
            previous = Some(PreviousEvent::after(e, &r));
        }
        assert_eq!(
            due,
            [
                (Due::At(at(0)), None),
                (Due::At(at(100)), None),
                // Consecutive inbound packets: anchored on the scripted 100 ms.
                (Due::At(at(150)), None),
                (Due::At(at(150)), Some(at(250))),
                (Due::At(at(250)), None),
                (Due::At(at(250)), None),
                (Due::Within(at(550), at(560)), None),
            ]
        );
    }

    #[test]
    fn order_checks_first_event_and_backwards_absolute_times() {
        let ok = parse_script(
            "0 close(3) = 0\n0.1 close(3) = 0\n+0 close(3) = 0\n0.05 close(3) = 0",
            "t",
        )
        .unwrap();
        // Absolute after relative may be earlier: packetdrill only compares absolutes.
        assert_eq!(check_order(&ok), Ok(()));
        let s = parse_script("+1 close(3) = 0", "t").unwrap();
        assert_eq!(
            check_order(&s),
            Err(OrderError::FirstEventNotAtZero { index: 0 })
        );
        let s = parse_script("0 close(3) = 0\n0.2 close(3) = 0\n0.1 close(3) = 0", "t").unwrap();
        let err = check_order(&s).unwrap_err();
        assert_eq!(
            err,
            OrderError::Backwards {
                index: 2,
                from: ms(200),
                to: ms(100)
            }
        );
        assert_eq!(
            err.to_string(),
            "time goes backward in script from 200000 usec to 100000 usec"
        );
    }
}
