//! A connection's counters for [`TcpInfo`](super::TcpInfo): the few every
//! segment moves inline, the data path's boxed at first use.

use super::Spares;
use crate::time::Duration;

/// Counters for [`TcpInfo`](super::TcpInfo): the ones every connection moves inline, the
/// data-path ones boxed at the first data segment or retransmission (a
/// connection that carried no data, such as an idle one fresh from its
/// handshake, does not hold their bytes; DESIGN.md §4). The inline ones
/// keep their low 32 bits here and carry into the boxed high halves, so
/// they count to 2^64 like the rest in 4 bytes each.
#[derive(Clone, Debug)]
pub(crate) struct Counters {
    segs_in: u32,
    segs_out: u32,
    delivered: u32,
    /// The smallest RTT sample seen, in µs (saturating at 71 minutes);
    /// `u32::MAX`: none yet (4 bytes where an `Option<Duration>` takes 16).
    min_rtt_us: u32,
    /// `None` while every one of them is zero.
    pub(super) data: Option<Box<DataCounters>>,
}

/// The counters only data moves.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DataCounters {
    pub data_segs_in: u64,
    pub data_segs_out: u64,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub total_retrans: u64,
    /// The high 32 bits of [`Counters`]' inline `segs_in`, `segs_out`,
    /// `delivered`.
    segs_in_hi: u32,
    segs_out_hi: u32,
    delivered_hi: u32,
}

/// Adds `n` to the low half of a counter; whether it carried.
fn add_low(low: &mut u32, n: u32) -> bool {
    let (sum, carry) = low.overflowing_add(n);
    *low = sum;
    carry
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            segs_in: 0,
            segs_out: 0,
            delivered: 0,
            min_rtt_us: u32::MAX,
            data: None,
        }
    }
}

impl Counters {
    /// The smallest RTT sample seen.
    pub fn min_rtt(&self) -> Option<Duration> {
        (self.min_rtt_us != u32::MAX).then(|| Duration::from_micros(u64::from(self.min_rtt_us)))
    }

    /// Takes an RTT sample into the minimum.
    pub fn note_rtt(&mut self, sample: Duration) {
        let us = u32::try_from(sample.total_micros()).unwrap_or(u32::MAX - 1);
        self.min_rtt_us = self.min_rtt_us.min(us.min(u32::MAX - 1));
    }

    /// Segments received (`tcpi_segs_in`).
    pub fn segs_in(&self) -> u64 {
        let hi = self.data.as_ref().map_or(0, |d| d.segs_in_hi);
        u64::from(hi) << 32 | u64::from(self.segs_in)
    }

    /// Segments sent (`tcpi_segs_out`).
    pub fn segs_out(&self) -> u64 {
        let hi = self.data.as_ref().map_or(0, |d| d.segs_out_hi);
        u64::from(hi) << 32 | u64::from(self.segs_out)
    }

    /// Segments delivered (`tcpi_delivered`).
    pub fn delivered(&self) -> u64 {
        let hi = self.data.as_ref().map_or(0, |d| d.delivered_hi);
        u64::from(hi) << 32 | u64::from(self.delivered)
    }

    pub fn add_segs_in(&mut self, n: u32) {
        if add_low(&mut self.segs_in, n) {
            let hi = &mut self.data_mut().segs_in_hi;
            *hi = hi.wrapping_add(1);
        }
    }

    pub fn add_segs_out(&mut self, n: u32) {
        if add_low(&mut self.segs_out, n) {
            let hi = &mut self.data_mut().segs_out_hi;
            *hi = hi.wrapping_add(1);
        }
    }

    pub fn add_delivered(&mut self, n: u32) {
        if add_low(&mut self.delivered, n) {
            let hi = &mut self.data_mut().delivered_hi;
            *hi = hi.wrapping_add(1);
        }
    }

    /// The data-path counters (all zero until data moved).
    pub fn data(&self) -> DataCounters {
        self.data.as_deref().copied().unwrap_or_default()
    }

    /// The data-path counters, to move one (allocated on first use: once
    /// per connection, not per segment).
    pub fn data_mut(&mut self) -> &mut DataCounters {
        self.data.get_or_insert_with(new_data_counters)
    }

    /// [`Counters::data_mut`] where the first data of a connection is
    /// counted, with the stack's spares at hand: the box an ended
    /// connection left, zeroed, when one is kept.
    pub fn data_mut_from(&mut self, spares: &mut Spares) -> &mut DataCounters {
        self.data.get_or_insert_with(|| spares.data_counters())
    }
}

/// A zeroed box for [`Counters::data_mut`]: out of line, so its callers
/// (ACK and text steps that run per segment, where the box exists
/// already) keep no copy of the allocation inline.
#[cold]
#[inline(never)]
fn new_data_counters() -> Box<DataCounters> {
    Box::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data counters are boxed, zeroed, at their first use (the cold
    /// allocation), and the box is kept and counted on from then.
    #[test]
    fn data_counters_are_boxed_zeroed_at_first_use() {
        let mut c = Counters::default();
        assert!(c.data.is_none());
        assert_eq!(c.data().bytes_acked, 0);
        c.data_mut().bytes_acked += 5;
        let first: *const DataCounters = &**c.data.as_ref().unwrap();
        c.data_mut().bytes_acked += 7;
        assert_eq!(c.data().bytes_acked, 12);
        assert_eq!(c.data().bytes_received, 0);
        assert!(core::ptr::eq(first, &**c.data.as_ref().unwrap()));
        // The carry of an inline counter lands in the same box.
        c.add_delivered(u32::MAX);
        c.add_delivered(2);
        assert_eq!(c.delivered(), (1 << 32) + 1);
    }
}
