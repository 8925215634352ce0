//! Tail Loss Probe (RFC 8985 §7): when the last segments of a flight may be
//! lost, no ACK would tell; a probe after about two RTTs elicits one, so
//! RACK or SACK can repair the tail without waiting for the RTO.
//!
//! Read first: RFC 8985 §7.2 (when to arm the probe timeout), §7.3 (what to
//! send), §7.4 (detecting whether the probe repaired a loss).
//!
//! Linux's rules where the RFC leaves room (`tcp_schedule_loss_probe`,
//! `tcp_send_loss_probe`, `tcp_process_tlp_ack`): probes only with SACK, in
//! the Open state, one probe per episode; the probe timeout is 2 SRTT plus
//! the worst-case delayed ACK when one segment is in flight, never later
//! than the RTO would fire.

use crate::SeqNum;
use crate::time::Duration;

/// RFC 8985 §7.2: without an RTT sample, probe after this long.
pub const PTO_WITHOUT_RTT: Duration = Duration::from_secs(1);

/// The state of one connection's probes (RFC 8985 §7.1: TLP.end_seq,
/// TLP.is_retrans).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tlp {
    /// SND.NXT when the probe went out: the episode lasts until an ACK
    /// covers it.
    end_seq: Option<SeqNum>,
    /// The probe retransmitted the last segment (rather than new data).
    is_retrans: bool,
}

/// What an ACK told about the probe (RFC 8985 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlpVerdict {
    /// No episode, or the ACK does not reach its end yet.
    Pending,
    /// The episode ended without a loss.
    NoLoss,
    /// The probe repaired a loss: reduce the window once (§7.4.2:
    /// "invoke the congestion control response").
    Repaired,
}

impl Tlp {
    /// Whether a probe is outstanding.
    pub fn in_episode(&self) -> bool {
        self.end_seq.is_some()
    }

    /// RFC 8985 §7.2: `PTO = 2 * SRTT`, plus `WCDelAckT` when one segment
    /// is in flight (its ACK may be delayed), capped by when the RTO fires.
    pub fn pto(
        srtt: Option<Duration>,
        one_segment_in_flight: bool,
        wc_del_ack: Duration,
        rto_remaining: Option<Duration>,
    ) -> Duration {
        let mut pto = match srtt {
            Some(srtt) => {
                let base = srtt.saturating_mul(2);
                if one_segment_in_flight {
                    base + wc_del_ack
                } else {
                    base
                }
            }
            None => PTO_WITHOUT_RTT,
        };
        if let Some(rto) = rto_remaining {
            pto = pto.min(rto);
        }
        pto
    }

    /// RFC 8985 §7.3: a probe went out; `end_seq` is SND.NXT after it.
    pub fn on_probe_sent(&mut self, end_seq: SeqNum, is_retrans: bool) {
        self.end_seq = Some(end_seq);
        self.is_retrans = is_retrans;
    }

    /// The episode is over for another reason (a timeout, a recovery).
    pub fn end(&mut self) {
        self.end_seq = None;
    }

    /// RFC 8985 §7.4 on one ACK (Linux `tcp_process_tlp_ack`):
    /// - a new-data probe is done once acknowledged;
    /// - a D-SACK for the probe means the original arrived too: no loss;
    /// - an ACK beyond the probe's end means the probe repaired a loss;
    /// - a pure duplicate ACK at the end means both copies arrived.
    pub fn on_ack(
        &mut self,
        ack: SeqNum,
        dsack_for_probe: bool,
        advanced: bool,
        pure_dupack: bool,
    ) -> TlpVerdict {
        let Some(end) = self.end_seq else {
            return TlpVerdict::Pending;
        };
        if ack.before(end) {
            return TlpVerdict::Pending;
        }
        if !self.is_retrans || dsack_for_probe {
            self.end_seq = None;
            return TlpVerdict::NoLoss;
        }
        if ack.after(end) {
            self.end_seq = None;
            return TlpVerdict::Repaired;
        }
        if pure_dupack && !advanced {
            self.end_seq = None;
            return TlpVerdict::NoLoss;
        }
        TlpVerdict::Pending
    }

    /// Whether `start..end` (a D-SACK) covers the probe's retransmission.
    pub fn covers(&self, start: SeqNum, end: SeqNum) -> bool {
        self.is_retrans
            && self
                .end_seq
                .is_some_and(|e| start.before(e) && end.after_eq(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pto_is_two_srtt_plus_the_delayed_ack_for_one_segment_capped_by_the_rto() {
        let del = ms(200);
        assert_eq!(Tlp::pto(Some(ms(50)), false, del, None), ms(100));
        assert_eq!(Tlp::pto(Some(ms(50)), true, del, None), ms(300));
        // gtests/net/tcp/cubic: SRTT 100 ms, one segment: 400 ms, but the
        // RTO is due in 300 ms: the probe takes its place.
        assert_eq!(Tlp::pto(Some(ms(100)), true, del, Some(ms(300))), ms(300));
        assert_eq!(Tlp::pto(None, false, del, None), PTO_WITHOUT_RTT);
    }

    #[test]
    fn a_retransmitted_probe_acked_beyond_its_end_repaired_a_loss() {
        let mut t = Tlp::default();
        t.on_probe_sent(SeqNum(5000), true);
        assert_eq!(
            t.on_ack(SeqNum(4000), false, true, false),
            TlpVerdict::Pending
        );
        // An ACK exactly at the end does not tell (both copies may have arrived).
        assert_eq!(
            t.on_ack(SeqNum(5000), false, true, false),
            TlpVerdict::Pending
        );
        assert_eq!(
            t.on_ack(SeqNum(6000), false, true, false),
            TlpVerdict::Repaired
        );
        assert!(!t.in_episode());
    }

    #[test]
    fn a_dsack_or_a_pure_duplicate_means_no_loss() {
        let mut t = Tlp::default();
        t.on_probe_sent(SeqNum(5000), true);
        assert!(t.covers(SeqNum(4000), SeqNum(5000)));
        assert_eq!(
            t.on_ack(SeqNum(5000), true, false, false),
            TlpVerdict::NoLoss
        );
        t.on_probe_sent(SeqNum(5000), true);
        assert_eq!(
            t.on_ack(SeqNum(5000), false, false, true),
            TlpVerdict::NoLoss
        );
        // A probe of new data: done when acknowledged.
        t.on_probe_sent(SeqNum(7000), false);
        assert_eq!(
            t.on_ack(SeqNum(7000), false, true, false),
            TlpVerdict::NoLoss
        );
    }
}
