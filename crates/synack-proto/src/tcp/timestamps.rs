//! TCP timestamps (RFC 7323 §3-5): our clock, the peer's most recent
//! timestamp, PAWS, and RTT samples from echoed timestamps.
//!
//! Read first: RFC 7323 §3 (the option), §4.3 (which TSval to echo: the
//! TS.Recent rule), §5 (PAWS: protection against wrapped sequence numbers),
//! §4 with §4.1 (RTT measurement from TSecr).
//!
//! Linux's choices, which packetdrill scripts assume: the clock ticks every
//! millisecond; each connection adds its own random offset so TSvals do not
//! reveal uptime or link connections (RFC 7323 §7.1 recommends this); PAWS
//! tolerates a TSval one tick older than TS.Recent (Linux TCP_PAWS_WINDOW);
//! TS.Recent older than 24 days is invalid (RFC 7323 §5.5).

use crate::SeqNum;
use crate::time::{Duration, Instant};
use core::num::NonZeroU64;

/// RFC 7323 §5.5: a TS.Recent idle this long is "invalid" and PAWS skips it.
pub const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 60 * 60);

/// PAWS accepts a TSval this many ticks older than TS.Recent (Linux
/// TCP_PAWS_WINDOW), tolerating a peer whose clock ticks between two
/// segments sent back to back in opposite order.
pub const PAWS_WINDOW: i32 = 1;

/// Echoed timestamps older than this are not used as RTT samples (Linux
/// ignores echoes that are implausibly old: a peer echoing garbage).
const MAX_TS_RTT_MS: u32 = 60 * 60 * 1000;

/// One connection's timestamp clock: milliseconds plus a per-connection
/// offset (RFC 7323 §5.4 and §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsClock {
    offset: u32,
}

impl TsClock {
    /// A clock that reads `now_ms + offset` (modulo 2^32).
    pub const fn new(offset: u32) -> Self {
        TsClock { offset }
    }

    pub const fn offset(&self) -> u32 {
        self.offset
    }

    /// The TSval to send at `now`.
    pub fn tsval(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.offset)
    }

    /// RFC 7323 §4.1: the RTT measured by an echoed TSval of ours. `None`
    /// when the echo is zero (none), from the future, or implausibly old.
    /// An echo from this very millisecond counts as 1 ms, as in Linux: the
    /// clock cannot see less.
    pub fn rtt_from_echo(&self, now: Instant, tsecr: u32) -> Option<Duration> {
        if tsecr == 0 {
            return None;
        }
        let elapsed = self.tsval(now).wrapping_sub(tsecr);
        if elapsed > MAX_TS_RTT_MS {
            return None; // "negative" (echo from the future) or absurd
        }
        Some(Duration::from_millis(u64::from(elapsed.max(1))))
    }
}

/// TS.Recent: the peer's timestamp we echo, and when we recorded it.
/// Packed to 4-byte alignment: 12 bytes, not 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
pub struct TsRecent {
    value: u32,
    /// When it was recorded, in µs plus one: the zero niche keeps
    /// `Option<TsRecent>` at 12 bytes.
    stamp: NonZeroU64,
}

/// `t` plus one µs, never zero.
const fn stamp_of(t: Instant) -> NonZeroU64 {
    match NonZeroU64::new(t.total_micros().saturating_add(1)) {
        Some(n) => n,
        None => NonZeroU64::MAX, // unreachable: the sum saturates above zero
    }
}

impl TsRecent {
    /// TS.Recent initialised from the peer's SYN or SYN-ACK (RFC 7323 §3.2).
    pub const fn new(value: u32, now: Instant) -> Self {
        TsRecent {
            value,
            stamp: stamp_of(now),
        }
    }

    /// The value to echo in TSecr.
    pub const fn value(&self) -> u32 {
        self.value
    }

    /// When TS.Recent was last updated.
    pub const fn stamp(&self) -> Instant {
        Instant::from_micros(self.stamp.get() - 1)
    }

    /// Whether TS.Recent is still valid for PAWS (RFC 7323 §5.5).
    pub fn is_valid(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.stamp()) < PAWS_IDLE_LIMIT
    }

    /// RFC 7323 §5.3 R1: a segment whose TSval is older than TS.Recent is a
    /// wrapped old duplicate. The caller exempts RSTs (§5.3: "and the RST bit
    /// is not set"). Tolerates [`PAWS_WINDOW`] ticks, as Linux does.
    pub fn paws_rejects(&self, now: Instant, tsval: u32) -> bool {
        self.is_valid(now) && (self.value.wrapping_sub(tsval) as i32) > PAWS_WINDOW
    }

    /// RFC 7323 §4.3 (3): "If SEG.TSval >= TS.Recent and SEG.SEQ <=
    /// Last.ACK.sent, then SEG.TSval is copied to TS.Recent"; otherwise it is
    /// ignored. An invalid (stale) TS.Recent is always replaced.
    pub fn update(&mut self, now: Instant, tsval: u32, seg_seq: SeqNum, last_ack_sent: SeqNum) {
        if !seg_seq.before_eq(last_ack_sent) {
            return;
        }
        let newer = tsval.wrapping_sub(self.value) as i32 >= 0;
        if newer || !self.is_valid(now) {
            self.value = tsval;
            self.stamp = stamp_of(now);
        }
    }

    /// Whether `tsval` is newer than TS.Recent: RFC 6191 lets a SYN with a
    /// newer timestamp reopen a TIME-WAIT connection.
    pub fn is_older_than(&self, tsval: u32) -> bool {
        (self.value.wrapping_sub(tsval) as i32) < 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn clock_ticks_in_milliseconds_from_its_offset() {
        let c = TsClock::new(1_000);
        assert_eq!(c.tsval(Instant::ZERO), 1_000);
        assert_eq!(c.tsval(Instant::from_micros(2_999)), 1_002);
        let wrapping = TsClock::new(u32::MAX);
        assert_eq!(wrapping.tsval(ms(2)), 1);
    }

    #[test]
    fn rtt_from_echo_is_elapsed_ticks_and_at_least_one() {
        let c = TsClock::new(500);
        let sent = c.tsval(ms(100));
        assert_eq!(
            c.rtt_from_echo(ms(140), sent),
            Some(Duration::from_millis(40))
        );
        assert_eq!(
            c.rtt_from_echo(ms(100), sent),
            Some(Duration::from_millis(1))
        );
        assert_eq!(c.rtt_from_echo(ms(140), 0), None, "no echo");
        assert_eq!(
            c.rtt_from_echo(ms(140), sent + 100),
            None,
            "echo from the future"
        );
    }

    #[test]
    fn paws_rejects_older_timestamps_beyond_one_tick() {
        let r = TsRecent::new(1_000, ms(0));
        assert!(!r.paws_rejects(ms(1), 1_000));
        assert!(!r.paws_rejects(ms(1), 999), "one tick of slack");
        assert!(r.paws_rejects(ms(1), 998));
        assert!(!r.paws_rejects(ms(1), 5_000));
        // Across the wrap: 2^32 - 10 is older than 5.
        let r = TsRecent::new(5, ms(0));
        assert!(r.paws_rejects(ms(1), u32::MAX - 10));
    }

    #[test]
    fn paws_ignores_a_ts_recent_idle_for_24_days() {
        let r = TsRecent::new(1_000, ms(0));
        let later = Instant::ZERO + PAWS_IDLE_LIMIT;
        assert!(!r.paws_rejects(later, 1));
    }

    #[test]
    fn ts_recent_follows_rfc7323_section_4_3() {
        let mut r = TsRecent::new(100, ms(0));
        let last_ack = SeqNum(5_000);
        // A segment beyond Last.ACK.sent does not update (it may be out of order).
        r.update(ms(1), 200, SeqNum(6_000), last_ack);
        assert_eq!(r.value(), 100);
        // At or before Last.ACK.sent with a newer TSval: updates.
        r.update(ms(2), 200, SeqNum(5_000), last_ack);
        assert_eq!((r.value(), r.stamp()), (200, ms(2)));
        // Older TSval: ignored.
        r.update(ms(3), 150, SeqNum(4_000), last_ack);
        assert_eq!(r.value(), 200);
        assert!(r.is_older_than(201) && !r.is_older_than(200));
    }
}
