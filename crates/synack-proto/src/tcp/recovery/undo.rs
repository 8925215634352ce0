//! Undoing a spurious window reduction: the retransmissions were not needed
//! (the originals were only delayed or reordered), so the window goes back.
//!
//! Read first: RFC 3522 (Eifel detection: an ACK that echoes a timestamp
//! older than the first retransmission was caused by an original), RFC 2883
//! §4.2 and RFC 3708 (D-SACKs for every retransmission mean none was
//! needed), RFC 5682 (F-RTO, handled by the recovery module), RFC 9438 §4.9
//! (what CUBIC restores).
//!
//! The bookkeeping is Linux's (`undo_marker`, `undo_retrans`,
//! `retrans_stamp`, `prior_ssthresh`): when a reduction starts, remember
//! SND.UNA and a copy of the congestion controller; count retransmissions
//! of the episode; each D-SACK for one of them takes one back. The episode
//! was spurious when the count is back to zero, or when an ACK echoes a
//! timestamp older than the first retransmission.

use crate::SeqNum;
use crate::tcp::congestion::Congestion;

/// The undo state of one reduction episode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Undo {
    /// SND.UNA when the episode began (Linux `undo_marker`); `None`: nothing
    /// to undo.
    marker: Option<SeqNum>,
    /// Retransmissions of the episode not yet D-SACKed (Linux
    /// `undo_retrans`); `None` until the first one.
    retrans: Option<u32>,
    /// The controller before the reduction.
    prior: Option<Congestion>,
    /// TSval of the episode's first retransmission (Linux `retrans_stamp`).
    first_rtx_tsval: Option<u32>,
}

impl Undo {
    /// A reduction begins at `una` with `retrans_in_flight` retransmissions
    /// already out (Linux `tcp_init_undo`).
    pub fn start(&mut self, una: SeqNum, cc: &Congestion, retrans_in_flight: u32) {
        self.marker = Some(una);
        self.retrans = (retrans_in_flight > 0).then_some(retrans_in_flight);
        self.prior = Some(cc.clone());
        self.first_rtx_tsval = None;
    }

    /// Whether an episode can still be undone.
    pub fn active(&self) -> bool {
        self.marker.is_some()
    }

    pub fn marker(&self) -> Option<SeqNum> {
        self.marker
    }

    /// A retransmission went out, stamped `tsval` (if timestamps are on).
    pub fn on_retransmission(&mut self, tsval: Option<u32>) {
        if self.marker.is_none() {
            return;
        }
        self.retrans = Some(self.retrans.unwrap_or(0).saturating_add(1));
        if self.first_rtx_tsval.is_none() {
            self.first_rtx_tsval = tsval;
        }
    }

    /// RFC 2883 §4.2: a D-SACK reported `segments` retransmissions of this
    /// episode as duplicates.
    pub fn on_dsack(&mut self, segments: u32) {
        if let Some(r) = &mut self.retrans {
            *r = r.saturating_sub(segments);
        }
    }

    /// Every retransmission of the episode was D-SACKed (Linux
    /// `tcp_try_undo_dsack`'s test).
    pub fn all_dsacked(&self) -> bool {
        self.marker.is_some() && self.retrans == Some(0)
    }

    /// RFC 3522 §3.2 (Eifel): the ACK echoes a timestamp older than the
    /// first retransmission, so an original caused it (Linux
    /// `tcp_packet_delayed`).
    pub fn packet_delayed(&self, tsecr: Option<u32>) -> bool {
        match (self.first_rtx_tsval, tsecr) {
            (Some(rtx), Some(echo)) if echo != 0 => (echo.wrapping_sub(rtx) as i32) < 0,
            _ => false,
        }
    }

    /// Linux `tcp_may_undo`: the episode was spurious by either test.
    pub fn may_undo(&self, tsecr: Option<u32>) -> bool {
        // Linux's `undo_retrans` of -1 (no retransmission yet) is no proof.
        self.marker.is_some() && (self.retrans == Some(0) || self.packet_delayed(tsecr))
    }

    /// Takes the controller saved before the reduction and ends the episode.
    pub fn take_prior(&mut self) -> Option<Congestion> {
        self.marker = None;
        self.retrans = None;
        self.first_rtx_tsval = None;
        self.prior.take()
    }

    /// Forgets the episode without undoing it.
    pub fn clear(&mut self) {
        self.take_prior();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CongestionAlgorithm;

    fn cc() -> Congestion {
        Congestion::new(CongestionAlgorithm::Cubic, 1000, 10)
    }

    #[test]
    fn eifel_an_echo_older_than_the_first_retransmission_means_spurious() {
        let mut u = Undo::default();
        u.start(SeqNum(100), &cc(), 0);
        u.on_retransmission(Some(5_000));
        u.on_retransmission(Some(5_010));
        assert!(u.packet_delayed(Some(4_990)), "echo of an original");
        assert!(!u.packet_delayed(Some(5_000)), "echo of the retransmission");
        assert!(!u.packet_delayed(None), "no timestamps: no verdict");
        assert!(u.may_undo(Some(4_990)));
        assert!(!u.may_undo(Some(5_020)));
    }

    #[test]
    fn dsacks_for_every_retransmission_mean_spurious() {
        let mut u = Undo::default();
        u.start(SeqNum(100), &cc(), 0);
        u.on_retransmission(None);
        u.on_retransmission(None);
        u.on_dsack(1);
        assert!(!u.all_dsacked());
        u.on_dsack(1);
        assert!(u.all_dsacked());
        assert!(u.take_prior().is_some());
        assert!(!u.active());
    }

    #[test]
    fn nothing_to_undo_without_an_episode() {
        let mut u = Undo::default();
        u.on_retransmission(Some(1));
        u.on_dsack(1);
        assert!(!u.may_undo(Some(0)));
        assert!(!u.all_dsacked());
    }
}
