//! A connection's retransmission and probe bookkeeping: the give-up
//! clock, the probes out, the segment timed for an RTT sample, and the
//! neighbour confirmation its next segment carries.

use crate::SeqNum;
use crate::time::{Instant, Stamp};

/// Retransmission and probe bookkeeping.
#[derive(Clone, Debug, Default)]
pub(crate) struct XmitState {
    /// Consecutive timeouts of the same data (Linux `icsk_retransmits`).
    pub retransmits: u8,
    /// The sender filled cwnd since the last ACK (RFC 7661).
    pub cwnd_limited: bool,
    /// The peer has been heard since our last segment (an ACK of new data,
    /// or a duplicate ACK): the next segment tells the link layer so, and
    /// the neighbour's ARP entry stays reachable without probes (Linux
    /// `sk_dst_pending_confirm`; RFC 1122 §2.3.2.1 "Advice from higher
    /// layers").
    pub neighbour_confirm: bool,
    /// A segment timed for an RTT sample: its end and when it was sent. Karn's
    /// rule: cleared by any retransmission.
    pub rtt_timed: TimedSegment,
    /// The last time data was sent (Linux `lsndtime`), for idle restarts.
    pub last_data_sent: Stamp,
    /// The last time any acceptable segment arrived (Linux `rcv_tstamp`).
    pub last_recv: Instant,
    /// The last time data arrived.
    pub last_data_recv: Stamp,
    /// The last time an ACK was received.
    pub last_ack_recv: Stamp,
    /// Timeout, probe and rate-limit state, boxed while any of it is set
    /// (DESIGN.md §4: a quiet connection does not hold it).
    rare: Option<Box<XmitRare>>,
}

/// The parts of [`XmitState`] only retransmissions, probes and
/// out-of-window segments set; all at their defaults otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct XmitRare {
    /// When the oldest data now being retransmitted was first sent (Linux
    /// `retrans_stamp`): the give-up clock of `tcp_retries2` and the user timeout.
    retrans_stamp: Stamp,
    /// Unanswered zero-window or keepalive probes (Linux `icsk_probes_out`).
    probes_out: u32,
    /// When the first of those probes went out.
    probes_stamp: Stamp,
    /// The TSval of our first retransmission still unacknowledged: an echo
    /// older than it refers to an original transmission, not to what made
    /// the peer answer now (RFC 3522's test), so it measures no RTT.
    rtx_tsval: Option<u32>,
    /// The last out-of-window or PAWS ACK we sent (`tcp_invalid_ratelimit`).
    last_oow_ack: Stamp,
}

impl XmitState {
    /// Whether the rare part is boxed (the layout tests').
    #[cfg(test)]
    pub fn holds_rare(&self) -> bool {
        self.rare.is_some()
    }

    /// A new connection's, the last segment received at `now`.
    pub fn new(now: Instant) -> Self {
        XmitState {
            last_recv: now,
            ..XmitState::default()
        }
    }

    fn rare(&self) -> XmitRare {
        self.rare.as_deref().copied().unwrap_or_default()
    }

    /// Changes the rare part: boxed when something is set, freed when all
    /// of it is back at its defaults.
    fn update_rare(&mut self, f: impl FnOnce(&mut XmitRare)) {
        let mut rare = self.rare();
        f(&mut rare);
        if rare == XmitRare::default() {
            self.rare = None;
        } else {
            match &mut self.rare {
                Some(b) => **b = rare,
                None => self.rare = Some(Box::new(rare)),
            }
        }
    }

    pub fn retrans_stamp(&self) -> Stamp {
        self.rare().retrans_stamp
    }

    pub fn set_retrans_stamp(&mut self, stamp: Stamp) {
        self.update_rare(|r| r.retrans_stamp = stamp);
    }

    pub fn probes_out(&self) -> u32 {
        self.rare().probes_out
    }

    pub fn probes_stamp(&self) -> Stamp {
        self.rare().probes_stamp
    }

    /// One more probe went out at `now`; the first one starts the clock.
    pub fn note_probe(&mut self, now: Instant) {
        self.update_rare(|r| {
            r.probes_out += 1;
            r.probes_stamp.get_or_set(now);
        });
    }

    /// One more keepalive probe (their clock is the idle time, not a stamp).
    pub fn note_keepalive_probe(&mut self) {
        self.update_rare(|r| r.probes_out += 1);
    }

    /// An acceptable ACK answers outstanding probes.
    pub fn clear_probes(&mut self) {
        if self.rare.is_some() {
            self.update_rare(|r| {
                r.probes_out = 0;
                r.probes_stamp = Stamp::NONE;
            });
        }
    }

    pub fn rtx_tsval(&self) -> Option<u32> {
        self.rare().rtx_tsval
    }

    pub fn set_rtx_tsval(&mut self, tsval: Option<u32>) {
        if tsval.is_some() || self.rare.is_some() {
            self.update_rare(|r| r.rtx_tsval = tsval);
        }
    }

    pub fn last_oow_ack(&self) -> Stamp {
        self.rare().last_oow_ack
    }

    pub fn set_last_oow_ack(&mut self, stamp: Stamp) {
        self.update_rare(|r| r.last_oow_ack = stamp);
    }
}

/// The segment timed for an RTT sample, if any, in 12 bytes (an
/// `Option<(SeqNum, Instant)>` takes 24): packed to 4-byte alignment so
/// [`XmitState`]'s small fields fill the rest of its last word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
pub(crate) struct TimedSegment {
    end: SeqNum,
    /// `NONE`: no segment is timed.
    sent: Stamp,
}

impl Default for TimedSegment {
    fn default() -> Self {
        Self::NONE
    }
}

impl TimedSegment {
    pub const NONE: TimedSegment = TimedSegment {
        end: SeqNum(0),
        sent: Stamp::NONE,
    };

    pub fn new(end: SeqNum, sent: Instant) -> Self {
        TimedSegment {
            end,
            sent: Stamp::at(sent),
        }
    }

    /// The timed segment's end and when it was sent.
    pub fn get(self) -> Option<(SeqNum, Instant)> {
        self.sent.get().map(|sent| (self.end, sent))
    }

    pub fn is_none(self) -> bool {
        self.sent.is_none()
    }
}
