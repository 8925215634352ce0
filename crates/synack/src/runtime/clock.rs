//! The runtime's clock: the monotonic clock mapped to the stack's
//! [`Instant`](synack_proto::Instant) (microseconds since the runtime
//! started), and back, for deadlines.

use std::time::{Duration, Instant};

use synack_proto::Instant as StackInstant;

/// Microseconds since `origin`, as the stack counts time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    /// The stack's time now.
    pub(crate) fn now(&self) -> StackInstant {
        self.to_stack(Instant::now())
    }

    /// A monotonic time as the stack counts it (times before the origin are
    /// the origin).
    pub(crate) fn to_stack(self, t: Instant) -> StackInstant {
        let micros = t.saturating_duration_since(self.origin).as_micros();
        // u64 microseconds last 584,000 years.
        StackInstant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// A stack time as a monotonic time; `None` if it is too far away to
    /// represent (the stack's "never").
    pub(crate) fn to_std(self, t: StackInstant) -> Option<Instant> {
        if t == StackInstant::FAR_FUTURE {
            return None;
        }
        self.origin
            .checked_add(Duration::from_micros(t.total_micros()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_microsecond_precision() {
        let clock = Clock::new();
        let later = clock.origin + Duration::from_micros(1_234_567);
        let t = clock.to_stack(later);
        assert_eq!(t.total_micros(), 1_234_567);
        assert_eq!(clock.to_std(t), Some(later));
    }

    #[test]
    fn far_future_is_never_and_the_past_is_the_origin() {
        let clock = Clock::new();
        assert_eq!(clock.to_std(StackInstant::FAR_FUTURE), None);
        let before = clock.origin.checked_sub(Duration::from_secs(1));
        if let Some(before) = before {
            assert_eq!(clock.to_stack(before), StackInstant::ZERO);
        }
    }
}
