//! TCP timers: a connection's own table, and the stack-wide queue that finds
//! the earliest deadline across all connections.
//!
//! Read first: RFC 9293 §3.8.1 (retransmission timeout) and §3.10.8
//! (timeouts: user timeout, retransmission, TIME-WAIT), RFC 6298 §5 (managing
//! the RTO timer), RFC 1122 §4.2.2.17 (zero-window probes) and §4.2.3.6
//! (keep-alives), RFC 9438/RFC 8985 (RACK-TLP: the probe and reordering
//! timers), DESIGN.md §4.
//!
//! A connection keeps one deadline per [`Timer`] in a [`TimerTable`] (a
//! fixed array indexed by the enum, as quinn-proto does); its next wake-up is
//! the table's minimum. The stack keeps each connection's next wake-up in a
//! [`TimerQueue`], a hierarchical timing wheel whose buckets are lists
//! through the per-key slots: a cancel or an earlier time unlinks the key at
//! once (nothing stale is left to cascade), and rescheduling a key to a later
//! time (the common case: the RTO restarts on every ACK) only updates its
//! slot; the key is moved when the wheel reaches it.
//! The newest key is held beside the wheel until another key is scheduled,
//! so a run of changes to one connection's timer touches no list.

mod queue;
mod table;

pub use queue::{DenseKey, DenseSlots, FixedHasher, HashSlots, KeySlots, Slot, TimerQueue};
pub use table::TimerTable;

/// The timers of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// RFC 6298 §5: retransmit the oldest unacknowledged segment (also the
    /// SYN, SYN-ACK and FIN retransmissions), then back off.
    Retransmit,
    /// RFC 8985 §7: send a tail loss probe when the last segments of a flight
    /// may be lost and no ACK would reveal it.
    TailLossProbe,
    /// RFC 8985 §6.3: RACK's reordering window expired; mark the segments it
    /// held back as lost.
    RackReorder,
    /// RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17: probe a zero window.
    Persist,
    /// RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2: send the ACK held back for
    /// delayed acknowledgment (40 ms by default).
    DelayedAck,
    /// RFC 1122 §4.2.3.6: idle connection with SO_KEEPALIVE; send a probe
    /// (or give up after the last one).
    Keepalive,
    /// Linux `tcp_fin_timeout`: an orphaned connection in FIN-WAIT-2 gives up
    /// waiting for the peer's FIN.
    FinWait2,
    /// RFC 9293 §3.6.1: 2 MSL in TIME-WAIT, then the connection is deleted.
    TimeWait,
    /// Housekeeping, no RFC behind it: a connection whose buffers drained
    /// gives their memory back once it has stayed quiet for a while
    /// (DESIGN.md §4: an idle connection costs well under 1 KiB), without
    /// freeing and reallocating between the segments of a busy transfer.
    Idle,
}

impl Timer {
    /// Number of timers, the size of a [`TimerTable`].
    pub const COUNT: usize = 9;

    // No UserTimeout (RFC 9293 §3.8.3, RFC 5482): like Linux, the engine
    // checks TCP_USER_TIMEOUT when Retransmit, Persist or Keepalive fire and
    // clamps those timers to it, so it needs no deadline of its own.

    /// Every timer, in table order (also the order in which simultaneous
    /// deadlines are handled).
    pub const ALL: [Timer; Timer::COUNT] = [
        Timer::Retransmit,
        Timer::TailLossProbe,
        Timer::RackReorder,
        Timer::Persist,
        Timer::DelayedAck,
        Timer::Keepalive,
        Timer::FinWait2,
        Timer::TimeWait,
        Timer::Idle,
    ];

    /// A short lowercase name, for logs and `synack ss`.
    pub const fn name(self) -> &'static str {
        match self {
            Timer::Retransmit => "retransmit",
            Timer::TailLossProbe => "tlp",
            Timer::RackReorder => "rack",
            Timer::Persist => "persist",
            Timer::DelayedAck => "delack",
            Timer::Keepalive => "keepalive",
            Timer::FinWait2 => "finwait2",
            Timer::TimeWait => "timewait",
            Timer::Idle => "idle",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}
