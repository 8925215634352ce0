//! Time as the sans-IO core sees it: microseconds since an arbitrary zero.
//!
//! The core never reads a clock. Drivers own clocks (the runtime a monotonic
//! one, the simulator a virtual one) and pass `now` into every entry point.
//! One concrete type keeps arithmetic cheap and the API free of generics.

use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A point in time, in microseconds since an arbitrary zero chosen by the driver.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

/// A span of time in microseconds. Saturates instead of wrapping.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    micros: u64,
}

impl Instant {
    /// The driver's zero.
    pub const ZERO: Instant = Instant { micros: 0 };
    /// Later than any time a driver will reach; useful as "never".
    pub const FAR_FUTURE: Instant = Instant { micros: u64::MAX };

    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            micros: millis.saturating_mul(1_000),
        }
    }

    pub const fn from_secs(secs: u64) -> Self {
        Instant {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    pub const fn total_micros(self) -> u64 {
        self.micros
    }

    pub const fn total_millis(self) -> u64 {
        self.micros / 1_000
    }

    /// Seconds as a float, for display and JSON only.
    pub fn as_secs_f64(self) -> f64 {
        self.micros as f64 / 1e6
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration {
            micros: self.micros.saturating_sub(earlier.micros),
        }
    }

    pub const fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        match self.micros.checked_sub(earlier.micros) {
            Some(micros) => Some(Duration { micros }),
            None => None,
        }
    }
}

impl Duration {
    pub const ZERO: Duration = Duration { micros: 0 };
    pub const MAX: Duration = Duration { micros: u64::MAX };

    pub const fn from_micros(micros: u64) -> Self {
        Duration { micros }
    }

    pub const fn from_millis(millis: u64) -> Self {
        Duration {
            micros: millis.saturating_mul(1_000),
        }
    }

    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// From fractional seconds (configuration and CLI input); negative and NaN give zero.
    pub fn from_secs_f64(secs: f64) -> Self {
        if secs.is_nan() || secs <= 0.0 {
            Duration::ZERO
        } else {
            Duration {
                micros: (secs * 1e6).min(u64::MAX as f64) as u64,
            }
        }
    }

    pub const fn total_micros(self) -> u64 {
        self.micros
    }

    pub const fn total_millis(self) -> u64 {
        self.micros / 1_000
    }

    pub fn as_secs_f64(self) -> f64 {
        self.micros as f64 / 1e6
    }

    pub const fn is_zero(self) -> bool {
        self.micros == 0
    }

    pub const fn saturating_mul(self, factor: u64) -> Self {
        Duration {
            micros: self.micros.saturating_mul(factor),
        }
    }

    /// `self * 2^shift`, saturating: exponential backoff.
    pub const fn saturating_shl(self, shift: u32) -> Self {
        if shift >= 64 || self.micros.leading_zeros() < shift {
            if self.micros == 0 {
                Duration::ZERO
            } else {
                Duration::MAX
            }
        } else {
            Duration {
                micros: self.micros << shift,
            }
        }
    }

    pub const fn min(self, other: Duration) -> Duration {
        if self.micros <= other.micros {
            self
        } else {
            other
        }
    }

    pub const fn max(self, other: Duration) -> Duration {
        if self.micros >= other.micros {
            self
        } else {
            other
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_add(rhs.micros),
        }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_sub(rhs.micros),
        }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_add(rhs.micros),
        }
    }
}

impl AddAssign for Duration {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_sub(rhs.micros),
        }
    }
}

impl SubAssign for Duration {
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

impl From<core::time::Duration> for Duration {
    fn from(d: core::time::Duration) -> Self {
        Duration {
            micros: u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

impl From<Duration> for core::time::Duration {
    fn from(d: Duration) -> Self {
        core::time::Duration::from_micros(d.micros)
    }
}

/// An optional [`Instant`] in eight bytes (`Option<Instant>` takes
/// sixteen): for the "when did this last happen" fields a connection keeps
/// many of. [`Instant::FAR_FUTURE`] cannot be stored (it means "none").
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp(u64);

impl Stamp {
    /// No instant.
    pub const NONE: Stamp = Stamp(u64::MAX);

    pub const fn at(t: Instant) -> Stamp {
        Stamp(t.micros)
    }

    pub const fn get(self) -> Option<Instant> {
        if self.0 == u64::MAX {
            None
        } else {
            Some(Instant { micros: self.0 })
        }
    }

    pub const fn is_none(self) -> bool {
        self.0 == u64::MAX
    }

    /// Stores `t` unless an instant is stored already.
    pub fn get_or_set(&mut self, t: Instant) -> Instant {
        if self.is_none() {
            *self = Stamp::at(t);
        }
        Instant { micros: self.0 }
    }
}

impl Default for Stamp {
    fn default() -> Self {
        Stamp::NONE
    }
}

impl From<Option<Instant>> for Stamp {
    fn from(t: Option<Instant>) -> Self {
        t.map_or(Stamp::NONE, Stamp::at)
    }
}

impl fmt::Debug for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

fn fmt_micros(micros: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}.{:06}s", micros / 1_000_000, micros % 1_000_000)
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("@")?;
        fmt_micros(self.micros, f)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_micros(self.micros, f)
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.micros < 1_000 {
            write!(f, "{}µs", self.micros)
        } else if self.micros < 1_000_000 {
            write!(f, "{}.{:03}ms", self.micros / 1_000, self.micros % 1_000)
        } else {
            fmt_micros(self.micros, f)
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(
            Instant::FAR_FUTURE + Duration::from_secs(1),
            Instant::FAR_FUTURE
        );
        assert_eq!(
            Instant::from_secs(1) - Instant::from_secs(2),
            Duration::ZERO
        );
        assert_eq!(
            Duration::from_millis(3) - Duration::from_millis(5),
            Duration::ZERO
        );
    }

    #[test]
    fn backoff_shift_saturates() {
        let rto = Duration::from_secs(1);
        assert_eq!(rto.saturating_shl(3), Duration::from_secs(8));
        assert_eq!(rto.saturating_shl(63), Duration::MAX);
        assert_eq!(rto.saturating_shl(200), Duration::MAX);
        assert_eq!(Duration::ZERO.saturating_shl(200), Duration::ZERO);
    }

    #[test]
    fn a_stamp_is_an_optional_instant_in_eight_bytes() {
        assert_eq!(core::mem::size_of::<Stamp>(), 8);
        let mut s = Stamp::default();
        assert_eq!(s.get(), None);
        assert_eq!(s.get_or_set(Instant::ZERO), Instant::ZERO);
        assert_eq!(s.get_or_set(Instant::from_secs(5)), Instant::ZERO, "kept");
        assert_eq!(
            Stamp::from(Some(Instant::from_secs(2))).get(),
            Some(Instant::from_secs(2))
        );
        assert!(Stamp::from(None).is_none());
    }

    #[test]
    fn units_convert() {
        assert_eq!(Instant::from_millis(1_500).total_micros(), 1_500_000);
        assert_eq!(Duration::from_secs_f64(0.25), Duration::from_millis(250));
        assert_eq!(Duration::from_secs_f64(-1.0), Duration::ZERO);
        assert_eq!(Duration::from_secs_f64(f64::NAN), Duration::ZERO);
        let std: core::time::Duration = Duration::from_millis(40).into();
        assert_eq!(std, core::time::Duration::from_millis(40));
        assert_eq!(format!("{}", Duration::from_micros(40_000)), "40.000ms");
        assert_eq!(format!("{}", Instant::from_micros(1_234_567)), "1.234567s");
    }
}
