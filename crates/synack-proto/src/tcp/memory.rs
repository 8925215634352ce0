//! The stack-wide cap on TCP buffer memory (Linux `tcp_mem`).
//!
//! Read first: DESIGN.md §4 ("every resource has a cap and a counter: ...
//! per-connection and global buffer memory"), Linux `net/core/sock.c`
//! `__sk_mem_raise_allocated` and `net/ipv4/tcp_input.c`
//! `tcp_try_rmem_schedule`.
//!
//! Each connection's buffers are capped by its own limits (`tcp_rmem`,
//! `tcp_wmem`, SO_RCVBUF, SO_SNDBUF); this caps their sum. The stack keeps
//! the sum as a counter, not a scan: after every call into a connection it
//! charges the change in what that connection's buffers hold
//! ([`crate::tcp::conn::Connection::charged_memory`]), and a connection
//! that goes gives its charge back. Three marks, as Linux's `tcp_mem`:
//! - above `pressure`, the stack is under memory pressure until the sum falls
//!   below `low`: buffers stop growing (receive-buffer autotuning and the
//!   send buffer's growth with the congestion window wait);
//! - above `high`, buffers take no new memory: a receive buffer keeps what it
//!   has allocated (at least `tcp_rmem`'s minimum), data beyond it is
//!   dropped (`TCPRcvQDrop`) and the window offers no more, and a send
//!   buffer queues no more than it has allocated (at least `tcp_wmem`'s
//!   minimum), so `send` writes short or would block.
//!
//! The guaranteed minimums are Linux's: under the hard limit a socket still
//! takes memory while it holds less than `tcp_rmem[0]` / `tcp_wmem[0]`, so a
//! connection is never starved outright, and a refused writer always has
//! data in flight whose ACK raises `Writable` again.
//!
//! Deviation: the charge is the buffers' allocation (rings and kept frames;
//! the blocks, SACK and loss-recovery state around them are bookkeeping, as
//! Linux charges skbs and not socket structures), taken after each call into
//! a connection rather than as each skb is queued, so one call (one segment,
//! one `send`) can overshoot a mark by what it allocates, at most one ring's
//! doubling; the next is refused.

/// The three marks of `tcp_mem`, in bytes (the sysctl gives them in pages
/// of 4096 bytes, as Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Below this, memory pressure ends.
    pub low: usize,
    /// Above this, memory pressure begins.
    pub pressure: usize,
    /// Above this, buffers take no new memory.
    pub high: usize,
}

/// The page size `tcp_mem`'s sysctl counts in.
pub const PAGE: usize = 4096;

impl MemoryLimits {
    /// Linux's defaults for a host with 4 GiB of memory (`tcp_init_mem`
    /// takes 1/16 of the free buffer pages as the pressure mark, 3/4 of it
    /// as the low mark and 3/2 of it as the high): 192, 256 and 384 MiB.
    /// A user-space stack does not know its host's memory; set `tcp_mem`
    /// to suit it.
    pub const DEFAULT: MemoryLimits = MemoryLimits {
        low: 49_152 * PAGE,
        pressure: 65_536 * PAGE,
        high: 98_304 * PAGE,
    };
}

/// Linux's `SOCK_MIN_SNDBUF` (two small skbs): an orphan, or a closing
/// connection, with more than this to send is reset when the buffer
/// memory is exhausted (`tcp_out_of_memory`).
pub const SOCK_MIN_SNDBUF: usize = 4_608;

/// Where the stack's buffer memory stands against its marks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryState {
    /// Below the pressure mark (or back below the low mark).
    #[default]
    Normal,
    /// Above the pressure mark, and not yet back below the low mark.
    Pressure,
    /// Above the high mark.
    Exhausted,
}

impl MemoryState {
    /// Its name in `synack ss -s`.
    pub fn name(self) -> &'static str {
        match self {
            MemoryState::Normal => "normal",
            MemoryState::Pressure => "pressure",
            MemoryState::Exhausted => "exhausted",
        }
    }
}

/// The stack's buffer-memory counter (Linux `tcp_memory_allocated` and
/// `tcp_memory_pressure`).
#[derive(Clone, Debug)]
pub struct BufferMemory {
    /// Bytes the connections hold: the sum of their charges.
    allocated: usize,
    limits: MemoryLimits,
    /// Between crossing `pressure` upwards and `low` downwards.
    pressure: bool,
    /// Above `high`.
    exhausted: bool,
    /// The state changes only once `allocated` leaves `watch.0..=watch.1`
    /// (Normal: up to `pressure`; Pressure: from `low` to `high`;
    /// Exhausted: above `high`): a charge that stays inside costs two
    /// compares.
    watch: (usize, usize),
}

impl BufferMemory {
    pub fn new(limits: MemoryLimits) -> Self {
        let mut m = BufferMemory {
            allocated: 0,
            limits,
            pressure: false,
            exhausted: false,
            watch: (0, 0),
        };
        m.update();
        m
    }

    /// Bytes the connections hold.
    pub fn allocated(&self) -> usize {
        self.allocated
    }

    /// New marks (a `tcp_mem` sysctl): the state follows at once.
    pub fn set_limits(&mut self, limits: MemoryLimits) {
        self.limits = limits;
        self.update();
    }

    pub fn state(&self) -> MemoryState {
        if self.exhausted {
            MemoryState::Exhausted
        } else if self.pressure {
            MemoryState::Pressure
        } else {
            MemoryState::Normal
        }
    }

    /// Above the high mark: buffers take no new memory.
    #[inline]
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Under memory pressure (or exhausted): buffers do not grow.
    #[inline]
    pub fn under_pressure(&self) -> bool {
        self.pressure
    }

    /// A connection's holding changed from `from` to `to` bytes; returns
    /// whether this entered memory pressure (Linux counts
    /// `TCPMemoryPressures`).
    #[inline]
    pub fn charge(&mut self, from: u32, to: u32) -> bool {
        // Every charge given back was taken: `from` is part of the sum.
        debug_assert!(from as usize <= self.allocated, "a charge given back twice");
        self.allocated = self.allocated.saturating_sub(from as usize) + to as usize;
        let (low, high) = self.watch;
        if (low..=high).contains(&self.allocated) {
            return false;
        }
        let was = self.pressure;
        self.update();
        self.pressure && !was
    }

    #[cold]
    #[inline(never)]
    fn update(&mut self) {
        let l = self.limits;
        if self.allocated > l.pressure {
            self.pressure = true;
        } else if self.allocated < l.low {
            self.pressure = false;
        }
        self.exhausted = self.allocated > l.high;
        // Exhausted is the deepest pressure, whatever the low mark says.
        self.pressure |= self.exhausted;
        self.watch = if self.exhausted {
            (l.high.saturating_add(1), usize::MAX)
        } else if self.pressure {
            (l.low, l.high)
        } else {
            (0, l.pressure)
        };
    }
}

impl Default for BufferMemory {
    fn default() -> Self {
        BufferMemory::new(MemoryLimits::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> MemoryLimits {
        MemoryLimits {
            low: 100,
            pressure: 200,
            high: 300,
        }
    }

    #[test]
    fn pressure_begins_above_its_mark_and_ends_below_the_low_one() {
        let mut m = BufferMemory::new(limits());
        assert!(!m.charge(0, 200), "at the mark: not above it");
        assert_eq!(m.state(), MemoryState::Normal);
        assert!(m.charge(0, 1), "201: pressure begins");
        assert_eq!(m.state(), MemoryState::Pressure);
        assert!(!m.charge(150, 0), "51 left... ");
        assert_eq!(m.state(), MemoryState::Normal, "below the low mark");
        assert!(m.charge(0, 160), "211: again");
        assert!(!m.charge(100, 50), "161: between the marks, still pressure");
        assert_eq!(m.state(), MemoryState::Pressure);
        assert_eq!(m.allocated(), 161);
    }

    #[test]
    fn above_the_high_mark_is_exhausted_and_below_it_pressure_again() {
        let mut m = BufferMemory::new(limits());
        assert!(m.charge(0, 301), "straight past both marks");
        assert!(m.exhausted() && m.under_pressure());
        assert_eq!(m.state(), MemoryState::Exhausted);
        m.charge(301, 250);
        assert_eq!(m.state(), MemoryState::Pressure);
        m.charge(250, 0);
        assert_eq!(m.state(), MemoryState::Normal);
    }

    #[test]
    fn new_marks_apply_at_once() {
        let mut m = BufferMemory::new(limits());
        m.charge(0, 250);
        assert_eq!(m.state(), MemoryState::Pressure);
        m.set_limits(MemoryLimits {
            low: 10,
            pressure: 20,
            high: 30,
        });
        assert_eq!(m.state(), MemoryState::Exhausted);
        m.set_limits(MemoryLimits::DEFAULT);
        assert_eq!(m.state(), MemoryState::Normal);
    }
}
