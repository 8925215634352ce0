//! The state machine of loss recovery while data is in flight: the
//! scoreboard, loss detection, the Open/Disorder/Recovery/Loss states, PRR,
//! RACK, TLP, undo and F-RTO. [`super::LossRecovery`] owns one while
//! anything is in flight and drops it when the connection goes idle,
//! keeping the little that outlives it ([`super::Carry`]).
//!
//! Read first: the RFCs listed in [`super`].

use crate::SeqNum;
use crate::stats::TcpExtStats;
use crate::tcp::congestion::hystart::HyStart;
use crate::tcp::congestion::{AckSample, Congestion, CongestionControl};
use crate::tcp::sack::scoreboard::{CumAck, SackUpdate, Scoreboard, Tally};
use crate::tcp::sack::{BlockKind, validate};
use crate::time::{Duration, Instant};

use super::prr::Prr;
use super::rack::Rack;
use super::tlp::{Tlp, TlpVerdict};
use super::undo::Undo;

mod short_paths;
use super::{
    AckInput, AckOutcome, CaState, Carry, CongestionSample, FlightAck, MAX_RECORDS, MAX_REORDERING,
    MAX_SACKED_RANGES, Mark, NextSegRule, RecoveryConfig, Retransmission,
};

/// Linux `tcp_max_burst`: the smallest burst the ACK ending a recovery may
/// send beyond what is still in flight, in segments.
const MAX_BURST: u32 = 3;

#[cfg(test)]
thread_local! {
    /// ACKs that took [`Episode::on_ack_of_all_in_order`] on this thread.
    pub(super) static IN_ORDER_ACKS: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// Where F-RTO (RFC 5682 §2.1, and §3's SACK-enhanced variant) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frto {
    /// Not judging a timeout.
    Off,
    /// Step 2: waiting for the first ACK after the timeout's retransmission
    /// of the segment ending at `head_end`.
    FirstAck { head_end: SeqNum },
    /// Step 3: new data went out; the next ACK decides. Data below
    /// `recovery_point` (SND.NXT at the timeout) acknowledged without having
    /// been retransmitted means the timeout was spurious.
    SecondAck { recovery_point: SeqNum },
}

/// Loss recovery while data is in flight (see [`LossRecovery`], which
/// keeps one of these only then).
#[derive(Clone, Debug)]
pub(super) struct Episode {
    cfg: RecoveryConfig,
    /// SACK was negotiated.
    sack: bool,
    state: CaState,
    board: Scoreboard,
    mss: u32,
    /// Without SACK: bytes estimated to have left the network, one segment
    /// per duplicate ACK (Linux's `sacked_out` for Reno).
    reno_sacked: u32,
    /// RFC 6582 `recover` / RFC 6675 RecoveryPoint (Linux `high_seq`).
    recover: SeqNum,
    /// The reordering degree in segments, the duplicate-ACK threshold in
    /// use (Linux `tp->reordering`).
    reordering: u32,
    /// Times reordering was seen (Linux `reord_seen`).
    reord_seen: u32,
    prr: Prr,
    rack: Rack,
    rack_deadline: Option<Instant>,
    tlp: Tlp,
    undo: Undo,
    /// F-RTO judging the last timeout (RFC 5682).
    frto: Frto,
    /// Partial ACKs in this NewReno recovery (RFC 6582 §4's timer rule).
    partial_acks: u32,
    /// F-RTO step 2b: send new data rather than retransmissions now.
    frto_send_new: bool,
    /// RFC 6675 HighRxt and RescueRxt.
    high_rxt: SeqNum,
    rescue_rxt: Option<SeqNum>,
    /// The highest sequence number delivered (RACK.fack).
    fack: SeqNum,
    /// Bytes in flight when disorder began (RFC 5681 FlightSize without
    /// what limited transmit sent since, RFC 3042 §2).
    flight_at_disorder: Option<u32>,
    /// The rest of a segment being retransmitted in MSS-sized pieces.
    chunk: Option<(SeqNum, SeqNum)>,
    /// Fast recoveries entered, D-SACKs received.
    recoveries: u32,
    dsacks: u32,
    /// Newly lost segments not yet reported in a trace sample.
    unreported_loss: u32,
    /// A reduction was undone since the last report / during this ACK.
    undone_now: bool,
    /// A new window reduction began during this ACK (ECN's CWR is owed).
    reduced_now: bool,
    unreported_undo: bool,
    last_sample: Option<CongestionSample>,
    /// A HyStart box an ended connection left, for this connection's
    /// controller to start HyStart in (`Congestion::with_hystart_spare`);
    /// it came with this episode's box from the stack's spares.
    pub(super) hystart_spare: Option<Box<HyStart>>,
}

impl Episode {
    /// Loss recovery resumes with data in flight from `una`, carrying
    /// over what outlived the last episode.
    pub(super) fn resume(carry: &Carry, una: SeqNum) -> Self {
        let mut rack = Rack::new();
        rack.restore(carry.rack);
        Episode {
            cfg: carry.cfg,
            sack: carry.sack,
            state: CaState::Open,
            board: Scoreboard::new(una, MAX_RECORDS, MAX_SACKED_RANGES),
            mss: carry.mss,
            reno_sacked: 0,
            recover: carry.recover,
            reordering: carry.reordering,
            reord_seen: carry.reord_seen,
            prr: Prr::default(),
            rack,
            rack_deadline: None,
            tlp: Tlp::default(),
            undo: Undo::default(),
            frto: Frto::Off,
            partial_acks: 0,
            frto_send_new: false,
            high_rxt: una,
            rescue_rxt: None,
            fack: una,
            flight_at_disorder: None,
            chunk: None,
            recoveries: carry.recoveries,
            dsacks: carry.dsacks,
            unreported_loss: 0,
            undone_now: false,
            reduced_now: false,
            unreported_undo: false,
            last_sample: None,
            hystart_spare: None,
        }
    }

    /// What outlives this episode.
    pub(super) fn carry(&self) -> Carry {
        Carry {
            cfg: self.cfg,
            sack: self.sack,
            mss: self.mss,
            recover: self.recover,
            reordering: self.reordering,
            reord_seen: self.reord_seen,
            recoveries: self.recoveries,
            dsacks: self.dsacks,
            rack: self.rack.persistent(),
        }
    }

    /// Whether nothing is in flight and nothing is being recovered: the
    /// episode may end.
    pub(super) fn is_idle(&self) -> bool {
        self.board.is_empty() && self.state == CaState::Open
    }

    /// NextSeg certainly finds nothing and the scoreboard has room: no
    /// record half retransmitted, none marked lost and not resent, no
    /// fast recovery (whose speculative rules could pick one).
    pub(super) fn is_quiet(&self) -> bool {
        self.chunk.is_none()
            && self.board.lost_pending().segs == 0
            && self.state != CaState::Recovery
            && self.board.has_room()
    }

    pub(super) fn set_mss(&mut self, mss: u32) {
        self.mss = mss.max(1);
    }

    pub(super) fn ca_state(&self) -> CaState {
        self.state
    }

    /// A window reduction is under way, PRR governing the window: fast
    /// recovery, or CWR after an ECN echo (Linux `tcp_in_cwnd_reduction`).
    fn reducing(&self) -> bool {
        matches!(self.state, CaState::Recovery | CaState::Cwr)
    }

    pub(super) fn scoreboard(&self) -> &Scoreboard {
        &self.board
    }

    pub(super) fn sacked(&self) -> Tally {
        self.board.sacked()
    }

    pub(super) fn lost(&self) -> Tally {
        self.board.lost()
    }

    pub(super) fn retrans(&self) -> Tally {
        self.board.retrans()
    }

    /// RFC 6675 §4 pipe: what is in the network.
    pub(super) fn pipe(&self) -> u32 {
        self.board.pipe(self.reno_sacked)
    }

    /// The window `pipe` may fill: PRR's during fast recovery, the
    /// controller's otherwise.
    pub(super) fn send_window(&self, cc: &Congestion) -> u32 {
        match self.state {
            CaState::Recovery | CaState::Cwr => self.prr.cwnd,
            _ => cc.window(),
        }
    }

    /// Whether a new segment may be recorded (the scoreboard's cap).
    pub(super) fn has_room(&self) -> bool {
        self.board.has_room()
    }

    pub(super) fn record_room(&self) -> u32 {
        self.board.room()
    }

    /// When the RACK reordering timer should fire (RFC 8985 §6.3).
    pub(super) fn reorder_deadline(&self) -> Option<Instant> {
        self.rack_deadline
    }

    /// F-RTO wants new data rather than retransmissions now (RFC 5682 §2.1
    /// step 2b).
    pub(super) fn prefers_new_data(&self) -> bool {
        self.frto_send_new
    }

    /// This episode's box made ready for a later connection's first
    /// episode ([`Episode::restart`] rewrites every field): its scoreboard
    /// keeps at most a record buffer of the size a fresh scoreboard's
    /// first record allocates.
    pub(super) fn shed(&mut self) {
        self.board.shed();
    }

    /// Becomes the episode [`Episode::resume`] would make, in this box and
    /// with the record buffer [`Episode::shed`] kept (the same value: the
    /// buffer is the one the first record would allocate), and the spare
    /// HyStart box it carries, if any.
    ///
    /// Field by field, in place: building a whole `Episode` and moving it
    /// over the old one (with the old one's drop) cost some 80
    /// instructions a connection. The pattern names every field, so a new
    /// one cannot be forgotten here; `board.reset` keeps the buffer `shed`
    /// left (a spare box's is at most the first record's), as
    /// `take_records` and `adopt_records` would.
    pub(super) fn restart(&mut self, carry: &Carry, una: SeqNum) {
        let Episode {
            cfg,
            sack,
            state,
            board,
            mss,
            reno_sacked,
            recover,
            reordering,
            reord_seen,
            prr,
            rack,
            rack_deadline,
            tlp,
            undo,
            frto,
            partial_acks,
            frto_send_new,
            high_rxt,
            rescue_rxt,
            fack,
            flight_at_disorder,
            chunk,
            recoveries,
            dsacks,
            unreported_loss,
            undone_now,
            reduced_now,
            unreported_undo,
            last_sample,
            hystart_spare: _,
        } = self;
        *cfg = carry.cfg;
        *sack = carry.sack;
        *state = CaState::Open;
        board.reset(una);
        *mss = carry.mss;
        *reno_sacked = 0;
        *recover = carry.recover;
        *reordering = carry.reordering;
        *reord_seen = carry.reord_seen;
        *prr = Prr::default();
        *rack = Rack::new();
        rack.restore(carry.rack);
        *rack_deadline = None;
        *tlp = Tlp::default();
        *undo = Undo::default();
        *frto = Frto::Off;
        *partial_acks = 0;
        *frto_send_new = false;
        *high_rxt = una;
        *rescue_rxt = None;
        *fack = una;
        *flight_at_disorder = None;
        *chunk = None;
        *recoveries = carry.recoveries;
        *dsacks = carry.dsacks;
        *unreported_loss = 0;
        *undone_now = false;
        *reduced_now = false;
        *unreported_undo = false;
        *last_sample = None;
    }

    pub(super) fn allocated(&self) -> usize {
        self.board.allocated()
    }

    // ---- sending -------------------------------------------------------

    /// New data `start..end` (FIN included) went out at `now`.
    pub(super) fn on_sent_new(&mut self, now: Instant, start: SeqNum, end: SeqNum) {
        if self.board.push(start, end, now) && self.reducing() {
            self.prr.on_sent(end.since(start));
        }
        if self.frto_send_new {
            self.frto_send_new = false;
        }
    }

    /// New data `start..end` went out at `now` as segments of `piece`
    /// bytes (a GSO or TSO packet's pieces), each recorded on its own.
    pub(super) fn on_sent_pieces(&mut self, now: Instant, start: SeqNum, end: SeqNum, piece: u32) {
        if self.board.push_pieces(start, end, piece, now) && self.reducing() {
            self.prr.on_sent(end.since(start));
        }
        if self.frto_send_new {
            self.frto_send_new = false;
        }
    }

    /// See [`super::LossRecovery::retransmit_in_flight`].
    pub(super) fn retransmit_in_flight(&mut self, now: Instant, una: SeqNum, nxt: SeqNum) {
        if self.board.is_empty() && self.board.una() == una && nxt.after(una) {
            self.board.push(una, nxt, now);
        }
        if self.board.is_empty() {
            return;
        }
        self.board.mark_all_lost();
        self.enter_loss_unreduced(nxt);
    }

    /// The Loss state for a loss that says nothing of congestion (Linux
    /// `tcp_non_congestion_loss_retransmit`): what is marked lost goes
    /// again, the window stays, and the state lasts until `nxt` is
    /// acknowledged.
    fn enter_loss_unreduced(&mut self, nxt: SeqNum) {
        if self.state != CaState::Loss {
            self.state = CaState::Loss;
            self.recover = nxt;
            self.frto = Frto::Off;
            self.frto_send_new = false;
            self.tlp.end();
            self.rack_deadline = None;
        }
        self.chunk = None;
        self.reno_sacked = 0;
        self.flight_at_disorder = None;
    }

    /// RFC 4821 §7.5 (a lost probe is "an indication that the probe size
    /// is too large", not congestion), as Linux's `tcp_fastretrans_alert`
    /// decides it: when the first loss found outside a reduction is the
    /// path MTU probe at SND.UNA, the probe alone is marked lost and goes
    /// again in MSS pieces, and the window stays (`tcp_mtup_probe_failed`,
    /// `tcp_simple_retransmit`): the connection reads the probe's fate from
    /// the Loss state. Returns whether it was.
    fn mtu_probe_lost(&mut self, inp: &AckInput<'_>) -> bool {
        if !matches!(self.state, CaState::Open | CaState::Disorder)
            || inp.mtu_probe != Some(self.board.una())
        {
            return false;
        }
        self.board.mark_head_lost();
        self.enter_loss_unreduced(inp.snd_nxt);
        true
    }

    /// The handshake completed with `una`: what a Fast Open child sent
    /// before it (RFC 7413 §4.2.2) and the ACK did not cover stays
    /// recorded. Returns false if nothing does.
    pub(super) fn on_established(&mut self, una: SeqNum, sack: bool, mss: u32) -> bool {
        self.sack = sack;
        self.mss = mss.max(1);
        let recorded = !self.board.is_empty()
            && self.board.una().before_eq(una)
            && una.before_eq(self.board.nxt());
        if recorded {
            self.board.cum_ack(una, |_| {});
            self.fack = una;
            self.high_rxt = una;
        }
        recorded && !self.board.is_empty()
    }

    /// See [`super::LossRecovery::resending_in_pieces`].
    pub(super) fn resending_in_pieces(&self) -> bool {
        self.chunk.is_some()
    }

    /// RFC 6675 NextSeg rule (1): the next lost segment to retransmit (or
    /// the rest of one being resent in pieces), at most `mss` bytes.
    pub(super) fn next_retransmission(&mut self, mss: u32) -> Option<Retransmission> {
        let mss = mss.max(1);
        if let Some((start, record_end)) = self.chunk {
            return Some(Retransmission {
                start,
                end: (start + mss).min_seq(record_end),
                record_end,
                rule: NextSegRule::Continuation,
            });
        }
        if self.frto_send_new {
            return None;
        }
        let (start, end) = self.board.next_lost()?;
        Some(Retransmission {
            start,
            end: (start + mss).min_seq(end),
            record_end: end,
            rule: NextSegRule::Lost,
        })
    }

    /// RFC 6675 NextSeg rules (3) and (4), when neither a lost segment nor
    /// new data can go: an unSACKed segment below the highest SACK (only
    /// without RACK, which decides loss by time instead), else (also only
    /// without RACK) the rescue retransmission, once per recovery (RFC 6675
    /// §4: "If HighACK is greater than RescueRxt (or RescueRxt is undefined)").
    pub(super) fn next_speculative(&mut self, mss: u32) -> Option<Retransmission> {
        if self.state != CaState::Recovery || !self.sack || self.frto_send_new {
            return None;
        }
        let mss = mss.max(1);
        if !self.cfg.rack
            && let Some((start, end)) = self.board.first_unsacked_above(self.high_rxt)
        {
            return Some(Retransmission {
                start,
                end: (start + mss).min_seq(end),
                record_end: end,
                rule: NextSegRule::BelowHighSack,
            });
        }
        if self.cfg.rack {
            // With RACK-TLP the tail is the loss probe's job (RFC 8985 §7.3
            // sends the last segment after a PTO); Linux keeps no rescue
            // retransmission beside it (prr-ss-30pkt-lost1_4.pkt).
            return None;
        }
        let una = self.board.una();
        if self.rescue_rxt.is_some_and(|r| !una.after(r)) {
            return None;
        }
        let (start, end) = self.board.last_unsacked()?;
        if !end.after(self.high_rxt) {
            // Rule (1) resent it in this recovery already (HighRxt covers
            // it): a rescue would send the same bytes twice in a row.
            return None;
        }
        Some(Retransmission {
            start,
            end: (start + mss).min_seq(end),
            record_end: end,
            rule: NextSegRule::Rescue,
        })
    }

    /// A retransmission chosen by NextSeg went out, `start..end`, stamped
    /// `tsval` if timestamps are on.
    pub(super) fn on_retransmitted(
        &mut self,
        now: Instant,
        rtx: &Retransmission,
        tsval: Option<u32>,
        stats: &mut TcpExtStats,
    ) {
        let first_piece = rtx.rule != NextSegRule::Continuation;
        if first_piece {
            self.board.on_retransmitted(rtx.start, now, true);
            self.undo.on_retransmission(tsval);
            if self.state == CaState::Loss {
                stats.tcp_slow_start_retrans += 1;
            } else {
                stats.tcp_fast_retrans += 1;
            }
        }
        self.chunk = rtx
            .end
            .before(rtx.record_end)
            .then_some((rtx.end, rtx.record_end));
        match rtx.rule {
            NextSegRule::Rescue => self.rescue_rxt = Some(self.recover),
            NextSegRule::Lost | NextSegRule::BelowHighSack => {
                if rtx.record_end.after(self.high_rxt) {
                    self.high_rxt = rtx.record_end;
                }
            }
            NextSegRule::Continuation => {}
        }
        if self.reducing() {
            self.prr.on_sent(rtx.end.since(rtx.start));
        }
    }

    // ---- tail loss probes (RFC 8985 §7) --------------------------------

    /// RFC 8985 §7.2 (Linux `tcp_schedule_loss_probe`): a probe may be
    /// scheduled: TLP on, SACK, the Open state, no probe outstanding,
    /// something in flight.
    pub(super) fn tlp_may_arm(&self) -> bool {
        self.cfg.tlp
            && self.sack
            && self.state == CaState::Open
            && !self.tlp.in_episode()
            && !self.board.is_empty()
    }

    /// The probe timeout (RFC 8985 §7.2).
    pub(super) fn tlp_timeout(
        &self,
        srtt: Option<Duration>,
        rto_remaining: Option<Duration>,
    ) -> Duration {
        let one_segment = self.board.total().segs == 1;
        Tlp::pto(srtt, one_segment, self.cfg.wc_del_ack(), rto_remaining)
    }

    /// RFC 8985 §7.3: the probe went out; SND.NXT is now `end_seq`.
    /// `retransmitted`: it resent the last segment `start` (else new data).
    pub(super) fn on_probe_sent(
        &mut self,
        now: Instant,
        start: SeqNum,
        end_seq: SeqNum,
        retransmitted: bool,
        stats: &mut TcpExtStats,
    ) {
        if retransmitted {
            self.board.on_retransmitted(start, now, false);
        }
        self.tlp.on_probe_sent(end_seq, retransmitted);
        stats.tcp_loss_probes += 1;
    }

    /// The last segment sent (what a probe resends without new data).
    pub(super) fn last_segment(&self) -> Option<(SeqNum, SeqNum)> {
        self.board.last()
    }

    // ---- ACKs ----------------------------------------------------------

    /// RFC 2883 §4: one D-SACK block.
    fn on_dsack(&mut self, start: SeqNum, end: SeqNum, ack: SeqNum, stats: &mut TcpExtStats) {
        self.dsacks = self.dsacks.saturating_add(1);
        if end.before_eq(ack) {
            stats.tcp_dsack_recv += 1;
        } else {
            stats.tcp_dsack_ofo_recv += 1;
        }
        let Some(marker) = self.undo.marker() else {
            return;
        };
        // Retransmissions of this episode reported as duplicates (Linux
        // `tcp_check_dsack`, `tcp_sacktag_one`): below SND.UNA the segments
        // are gone from the scoreboard, so count them by size.
        let segments = if end.before_eq(self.board.una()) {
            if start.after_eq(marker) {
                end.since(start).div_ceil(self.mss)
            } else {
                0
            }
        } else {
            self.board.retransmitted_within(start, end)
        };
        self.undo.on_dsack(segments);
    }

    /// RFC 8985 §6.2 step 3 and Linux `tcp_check_sack_reordering`: data
    /// `distance` bytes below the highest delivered arrived late.
    /// Linux `tcp_may_raise_cwnd`: the window grows on in-order delivery
    /// (RFC 5681: ACKs that advance SND.UNA), or, once the path is known to
    /// reorder beyond the duplicate-ACK threshold, on any delivery, SACKed
    /// data included: reordered segments would otherwise keep SND.UNA
    /// behind a hole for most of the ACKs and starve the window's growth.
    fn may_raise_cwnd(&self, advanced: bool) -> bool {
        advanced || self.grows_on_sacks()
    }

    /// Reordering beyond the initial duplicate-ACK threshold was seen, with
    /// SACK (Linux `tp->reordering > sysctl_tcp_reordering`).
    fn grows_on_sacks(&self) -> bool {
        self.sack && self.reordering > u32::from(self.cfg.dupthresh)
    }

    /// Data `distance` bytes below the highest delivered byte (one past the
    /// highest SACKed, or the new SND.UNA) arrived late: the reordering
    /// degree is that distance in whole segments, rounded up (Linux
    /// `tcp_check_sack_reordering`: 3001 SACKed below a SACKed 7001:8001 with
    /// a 1000-byte MSS is a degree of 5).
    fn on_reordering(&mut self, distance: u32, stats: &mut TcpExtStats, by_timestamp: bool) {
        self.rack.on_reordering();
        self.reord_seen = self.reord_seen.saturating_add(1);
        let degree = distance.div_ceil(self.mss);
        if degree > self.reordering {
            self.reordering = degree.min(MAX_REORDERING);
        }
        if by_timestamp {
            stats.tcp_ts_reorder += 1;
        } else if self.sack {
            stats.tcp_sack_reorder += 1;
        } else {
            stats.tcp_reno_reorder += 1;
        }
    }

    /// One acceptable ACK (RFC 9293 §3.10.7.4 "fifth"): SACK and cumulative
    /// marking, loss detection, state changes, the window, undo, probes.
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
    ) -> AckOutcome {
        if self.acks_nothing(inp) {
            return self.short_path(now, inp, cc, stats, "idle", |ep, _| ep.on_idle_ack(inp.mss));
        }
        if self.acks_all_in_order(inp) {
            #[cfg(test)]
            IN_ORDER_ACKS.with(|n| n.set(n.get() + 1));
            return self.short_path(now, inp, cc, stats, "in-order", |ep, cc| {
                ep.on_ack_of_all_in_order(now, &inp.cumulative(), cc)
            });
        }
        self.on_ack_full(now, inp, cc, stats)
    }

    /// The full processing of an ACK. Out of line: inlined, its 10 KB made
    /// the short paths' caller save and restore every register and spill
    /// around them (about 10 instructions an ACK that takes one).
    #[inline(never)]
    fn on_ack_full(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
    ) -> AckOutcome {
        self.mss = inp.mss.max(1);
        let mss = self.mss;
        let advanced = inp.ack.after(inp.prior_una);
        let prior_fack = self.fack;
        let prior_pipe = self.pipe();
        let mut out = AckOutcome::default();
        self.frto_send_new = false;
        if !self.board.una().in_closed(inp.prior_una, inp.snd_nxt) {
            // The scoreboard lost track of SND.UNA (it cannot happen with
            // every send recorded); restart it rather than misjudge.
            self.board.reset(inp.prior_una);
        }

        // SACK blocks, then the cumulative ACK (Linux's order).
        let mut upd = SackUpdate::default();
        let mut dsack = false;
        let mut dsack_for_probe = false;
        // The RTT of the newest original (never resent: Karn's rule) this
        // ACK delivered, cumulatively or by SACK (Linux `last_ackt` and
        // `last_sackt`, which give `pkts_acked` its sample on every ACK).
        let mut delivery_rtt = None;
        let (tsecr, clock, min_rtt) = (inp.tsecr, inp.ts_clock, inp.min_rtt);
        if self.sack && !inp.sack_blocks.is_empty() {
            let mut kinds = [BlockKind::Invalid; 4];
            validate(
                inp.sack_blocks,
                inp.ack,
                inp.prior_una,
                inp.snd_nxt,
                &mut kinds,
            );
            for (kind, &(start, end)) in kinds.iter().zip(inp.sack_blocks) {
                match kind {
                    BlockKind::Dsack => {
                        dsack = true;
                        dsack_for_probe |= self.tlp.covers(start, end);
                        self.on_dsack(start, end, inp.ack, stats);
                    }
                    BlockKind::Sack => {
                        let rack = &mut self.rack;
                        self.board.sack(start, end, &mut upd, |d| {
                            rack.on_delivered(d, now, tsecr, &clock, min_rtt);
                            delivery_rtt = newest_original(delivery_rtt, d, now);
                        });
                    }
                    BlockKind::Invalid => stats.tcp_sack_discard += 1,
                }
            }
            stats.tcp_sack_discard += u64::from(upd.discarded);
        }
        let cum = if advanced {
            let rack = &mut self.rack;
            self.board.cum_ack(inp.ack, |d| {
                if !d.was_sacked {
                    rack.on_delivered(d, now, tsecr, &clock, min_rtt);
                    delivery_rtt = newest_original(delivery_rtt, d, now);
                }
            })
        } else {
            CumAck::default()
        };
        if advanced && inp.ack.after(self.fack) {
            self.fack = inp.ack;
        }
        if let Some(high) = self.board.highest_sacked()
            && high.after(self.fack)
        {
            self.fack = high;
        }
        out.newly_sacked = upd.delivered.segs;

        // RFC 8985 §6.2 step 3: an original delivered below what was
        // already delivered arrived out of order.
        let lowest = match (cum.lowest_original, upd.lowest_original) {
            (Some(a), Some(b)) => Some(if a.before(b) { a } else { b }),
            (a, b) => a.or(b),
        };
        if let Some(low) = lowest
            && low.before(prior_fack)
            && self.sack
        {
            self.on_reordering(prior_fack.since(low), stats, false);
        }

        // RFC 6937 DeliveredData; without SACK, estimated from duplicate
        // ACKs (one segment each), Linux `tcp_add_reno_sack` /
        // `tcp_remove_reno_sacks`.
        let mut delivered = cum.delivered.bytes.saturating_add(upd.delivered.bytes);
        let mut delivered_segs = cum.delivered.segs.saturating_add(upd.delivered.segs);
        if !self.sack {
            if inp.dupack {
                let cap = self.board.total().bytes.saturating_sub(mss);
                self.reno_sacked = self.reno_sacked.saturating_add(mss).min(cap);
                delivered = delivered.saturating_add(mss);
                delivered_segs += 1;
            }
            let acked = cum.delivered.segs;
            if advanced && acked > 0 {
                // "One ACK acked hole. The rest eat duplicate ACKs"
                // (Linux `tcp_remove_reno_sacks`): the ACK delivers what
                // the duplicate ACKs did not count, at least one segment.
                let credit = (self.reno_sacked / mss.max(1)).min(acked - 1);
                delivered_segs = delivered_segs.saturating_sub(credit);
                delivered = delivered.saturating_sub(credit.saturating_mul(mss));
                self.reno_sacked = self
                    .reno_sacked
                    .saturating_sub((acked - 1).saturating_mul(mss));
            }
        }

        // RFC 8985 §6.2 step 4.
        self.rack
            .update_reo_wnd(dsack, self.board.una(), inp.snd_nxt);

        // RFC 8985 §7.4: did a probe repair a loss?
        let pure_dupack = inp.dupack && upd.delivered.segs == 0;
        if self
            .tlp
            .on_ack(inp.ack, dsack_for_probe, advanced, pure_dupack)
            == TlpVerdict::Repaired
            && matches!(self.state, CaState::Open | CaState::Disorder)
        {
            // Linux: a reduction entered and left at once (CWR), no undo.
            cc.on_congestion_event(now, inp.prior_in_flight);
            cc.on_recovery_end(now);
            stats.tcp_loss_probe_recovery += 1;
        }

        let lost_before = self.board.lost().segs;
        let was_reducing = self.reducing();
        match self.state {
            CaState::Loss => self.process_loss(now, inp, cc, stats, &cum, &upd, advanced),
            CaState::Recovery => self.process_recovery(now, inp, cc, stats, advanced),
            CaState::Open | CaState::Disorder | CaState::Cwr => {
                self.process_open(now, inp, cc, stats)
            }
        }
        out.newly_lost = self.board.lost().segs.saturating_sub(lost_before);
        out.restart_rto = advanced && !(self.state == CaState::Recovery && self.partial_acks > 1);
        self.unreported_loss += out.newly_lost;
        out.undone = core::mem::take(&mut self.undone_now);
        out.reduced = core::mem::take(&mut self.reduced_now);

        // Linux `pkts_acked` before `tcp_cong_control`: every ACK that
        // delivered data and carries an RTT sample (SACK-only ACKs
        // included; a duplicate ACK without SACK delivers nothing known)
        // feeds HyStart's ACK train, whether or not it may grow the window.
        // Its rounds follow the highest byte delivered (FACK), not SND.UNA,
        // which a reordered segment holds back while its flight's ACKs
        // already arrive.
        let delivered_any = cum.delivered.segs.saturating_add(upd.delivered.segs) > 0;
        if delivered_any && delivery_rtt.or(inp.rtt).is_some() {
            let fack = if self.fack.after(inp.ack) {
                self.fack
            } else {
                inp.ack
            };
            cc.on_delivery(now, inp.min_rtt, fack, inp.snd_nxt);
        }

        // The window: PRR while recovering, growth otherwise (Linux
        // `tcp_cong_control`). The ACK that ends a recovery does not grow
        // it: RFC 6582 §3.2 step 3 and RFC 6937 end with cwnd = ssthresh,
        // and PRR already counted what this ACK delivered.
        if self.reducing() {
            let pipe = self.pipe();
            self.prr.on_ack(delivered, pipe, mss);
        } else if self.may_raise_cwnd(advanced)
            && delivered_segs > 0
            && (!was_reducing || out.undone)
        {
            let delivery = (prior_pipe, delivered, delivered_segs);
            self.grow(now, &inp.cumulative(), inp.snd_nxt, cc, delivery);
        }
        out
    }

    /// The window's growth for an ACK (`f`, with SND.NXT `snd_nxt`) whose
    /// delivery is (`prior_pipe` bytes in the pipe, `delivered` bytes,
    /// `delivered_segs` segments).
    /// Growth counts what left this flight: at most what was in the pipe.
    /// After a timeout, a cumulative ACK that jumps over data the receiver
    /// held all along (go-back-N without SACK) must not open the window by
    /// all of it (RFC 3465 §2.3's concern). Once SACKed data counts as it
    /// is delivered, the cumulative ACK filling the hole counts only what
    /// it newly delivered.
    ///
    /// Inlined: an application-limited ACK (every ACK of a request or a
    /// response) is a test and the controller's RTT note; the sample is
    /// built out of line.
    #[inline(always)]
    fn grow(
        &self,
        now: Instant,
        f: &FlightAck,
        snd_nxt: SeqNum,
        cc: &mut Congestion,
        delivery: (u32, u32, u32),
    ) {
        if !f.cwnd_limited {
            // RFC 7661 / RFC 9438 §5.8: an application-limited ACK grows
            // nothing; the controller only sees its RTT sample.
            cc.on_app_limited_ack(now, f.rtt);
            return;
        }
        self.grow_window(now, f, snd_nxt, cc, delivery);
    }

    /// [`Episode::grow`] for a window-limited ACK: the controller's sample
    /// (`prior_pipe`, `delivered` bytes, `delivered_segs`).
    fn grow_window(
        &self,
        now: Instant,
        f: &FlightAck,
        snd_nxt: SeqNum,
        cc: &mut Congestion,
        (prior_pipe, delivered, delivered_segs): (u32, u32, u32),
    ) {
        let mss = self.mss;
        let pipe_segs = prior_pipe.div_ceil(mss).max(1);
        let acked = if self.grows_on_sacks() || !self.sack {
            delivered
        } else {
            f.ack.since(f.prior_una)
        };
        let sample = AckSample {
            acked: acked.min(prior_pipe.max(mss)),
            delivered_segments: delivered_segs.min(pipe_segs),
            in_flight: f.prior_in_flight,
            rtt: f.rtt,
            min_rtt: f.min_rtt,
            cwnd_limited: f.cwnd_limited,
            snd_una: f.ack,
            snd_nxt,
        };
        cc.on_ack(now, &sample);
    }

    /// Open, Disorder (and CWR): late D-SACK undo, loss detection, and the
    /// start of fast recovery (Linux `tcp_fastretrans_alert`'s default case),
    /// unless what was lost is a path MTU probe.
    fn process_open(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
    ) {
        // RFC 2883 §4.2 / RFC 3708: every retransmission of the last
        // episode was a duplicate.
        if self.undo.all_dsacked() {
            self.do_undo(now, cc, false);
            stats.tcp_dsack_undo += 1;
        }
        // RFC 3168 §6.1.2: the CWR reduction lasts a window: until data
        // sent after it began is acknowledged. Linux holds CWR until the
        // ACK passes `high_seq` (so the CWR flag, sent at or after it,
        // has reached the receiver), then cwnd = ssthresh.
        if self.state == CaState::Cwr && inp.ack.after(self.recover) {
            cc.on_recovery_end(now);
            self.state = CaState::Open;
        }
        self.detect_losses(now, inp, stats);
        let time_to_recover = if self.sack {
            self.board.lost().segs > 0
        } else {
            // RFC 5681 §3.2 step 2 / RFC 6582 §3.2 step 2: the DupThresh-th
            // duplicate ACK, if the ACK covers more than `recover`.
            self.reno_sacked >= self.reordering.saturating_mul(self.mss)
                && self.board.una().after(self.recover)
        };
        if time_to_recover {
            if self.mtu_probe_lost(inp) {
                return;
            }
            self.enter_recovery(now, inp, cc, stats);
            if !self.sack {
                // RFC 6582 §3.2 step 2: "retransmit the lost segment".
                self.board.mark_head_lost();
            }
            return;
        }
        // RFC 3168 §6.1.2: an ECN echo outside a reduction is a
        // congestion signal: "the TCP source halves the congestion window
        // ... and reduces the slow start threshold", at most once per
        // window of data, without retransmitting (Linux `tcp_enter_cwr`).
        if inp.ece && matches!(self.state, CaState::Open | CaState::Disorder) {
            self.enter_cwr(now, inp, cc);
            return;
        }
        if self.state == CaState::Cwr {
            return;
        }
        let disorder = self.board.sacked().segs > 0 || self.reno_sacked > 0;
        if disorder && self.state == CaState::Open {
            self.flight_at_disorder = Some(inp.prior_in_flight);
        }
        if !disorder {
            self.flight_at_disorder = None;
        }
        self.state = if disorder || self.board.retrans().segs > 0 {
            CaState::Disorder
        } else {
            CaState::Open
        };
    }

    /// RFC 3168 §6.1.2's response as a CWR reduction: ssthresh from the
    /// controller ([`CongestionControl::on_ecn`], as for a loss), the window
    /// glides there by PRR (RFC 6937: the same arithmetic as fast recovery,
    /// no burst and no stall) until SND.NXT at this moment is acknowledged.
    /// Nothing is retransmitted; an earlier episode's undo is forgotten
    /// (the congestion was real).
    fn enter_cwr(&mut self, now: Instant, inp: &AckInput<'_>, cc: &mut Congestion) {
        self.undo.clear();
        let flight = self
            .flight_at_disorder
            .map_or(inp.prior_in_flight, |f| f.min(inp.prior_in_flight));
        cc.on_ecn(now, flight);
        self.prr = Prr::start(self.board.total().bytes, cc.ssthresh(), cc.window());
        self.recover = inp.snd_nxt;
        self.state = CaState::Cwr;
        self.reduced_now = true;
        self.tlp.end();
    }

    /// RFC 6675 §5 "loss recovery", RFC 6582 §3.2 step 2: ssthresh, PRR,
    /// RecoveryPoint; keeps what is needed to undo it.
    fn enter_recovery(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
    ) {
        if self.sack {
            stats.tcp_sack_recovery += 1;
        } else {
            stats.tcp_reno_recovery += 1;
        }
        self.recoveries = self.recoveries.saturating_add(1);
        if self.state == CaState::Cwr {
            // RFC 3168 §6.1.2: one reduction per window, loss or ECN: the
            // CWR reduction under way (and its PRR) continues as recovery
            // (Linux `tcp_enter_recovery` inside a reduction). Nothing to
            // undo: the ECN echo was real congestion.
            self.undo.clear();
        } else {
            if inp.ece {
                // The same ACK echoes congestion: no undo to before it.
                self.undo.clear();
            } else {
                self.undo
                    .start(inp.prior_una, cc, self.board.retrans().segs);
            }
            // RFC 5681 eq. 4's FlightSize, without what limited transmit
            // sent (RFC 3042 §2: it "MUST NOT be included in this
            // calculation").
            let flight = self
                .flight_at_disorder
                .map_or(inp.prior_in_flight, |f| f.min(inp.prior_in_flight));
            cc.on_congestion_event(now, flight);
            self.prr = Prr::start(self.board.total().bytes, cc.ssthresh(), cc.window());
            self.reduced_now = true;
        }
        self.recover = inp.snd_nxt;
        self.high_rxt = self.board.una();
        self.rescue_rxt = None;
        self.partial_acks = 0;
        self.state = CaState::Recovery;
        self.tlp.end();
        self.flight_at_disorder = None;
    }

    /// RFC 6582 §3.2 step 3: "cwnd = ssthresh ... the implementation is
    /// encouraged to take measures to avoid a possible burst of data, in case
    /// the amount of data outstanding in the network is much less than the
    /// new congestion window allows". That happens when the receive window
    /// held the sender back while the hole was open (the receiver holds a
    /// window of out-of-order data) and the pipe drained: then the whole of
    /// ssthresh would leave at once into the queue that overflowed one window
    /// ago. The window is capped at pipe + ssthresh / 2 (at least
    /// `MAX_BURST` segments; Linux's old `tcp_moderate_cwnd` used pipe + 3):
    /// no larger a burst than slow start's own per round, and slow start
    /// (cwnd < ssthresh) climbs back within a round trip.
    fn moderate_exit_burst(&self, cc: &mut Congestion) {
        let burst = (cc.ssthresh() / 2).max(MAX_BURST * self.mss);
        cc.moderate(self.pipe().saturating_add(burst));
    }

    /// Fast recovery: partial ACKs (RFC 6582 §3.2 step 5), undo, loss
    /// detection, and the end of recovery.
    fn process_recovery(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
        advanced: bool,
    ) {
        // RFC 6675 §5.1, RFC 6582 §3.2 step 3: RecoveryPoint acknowledged.
        if !inp.ack.before(self.recover) {
            let mut moderate = false;
            if self.undo.may_undo(inp.tsecr) {
                self.do_undo(now, cc, true);
                stats.tcp_full_undo += 1;
            } else {
                // The undo state stays: late D-SACKs may still undo it
                // (Linux keeps `undo_marker` until the next episode).
                cc.on_recovery_end(now);
                moderate = inp.new_data_ready;
            }
            self.state = CaState::Open;
            self.reno_sacked = 0;
            if moderate {
                self.moderate_exit_burst(cc);
            }
            self.chunk = None;
            self.rack.on_recovery_exit();
            // New losses above RecoveryPoint start another recovery.
            self.process_open(now, inp, cc, stats);
            return;
        }
        if advanced && self.undo.active() && self.undo.packet_delayed(inp.tsecr) {
            // Linux `tcp_try_undo_partial`: the hole was filled by the
            // delayed original, not the retransmission (RFC 3522). Linux
            // measures from its highest-SACK mark, which without SACK
            // blocks stands for the duplicate ACKs' segments above the
            // hole; synack counts the late segment itself as one more.
            let distance = inp.ack.since(inp.prior_una).saturating_add(self.mss);
            self.on_reordering(distance, stats, true);
            if self.board.retrans().segs == 0 {
                self.do_undo(now, cc, true);
                stats.tcp_partial_undo += 1;
                self.state = CaState::Open;
                self.process_open(now, inp, cc, stats);
            }
            return;
        }
        if self.undo.all_dsacked() {
            self.do_undo(now, cc, false);
            stats.tcp_dsack_undo += 1;
            self.state = CaState::Open;
            self.process_open(now, inp, cc, stats);
            return;
        }
        if advanced && !self.sack {
            // RFC 6582 §3.2 step 5: "retransmit the first unacknowledged
            // segment. ... For the first partial ACK that arrives during
            // fast recovery, also reset the retransmit timer" (and, §4's
            // "Impatient" variant, only for the first: many holes end in a
            // timeout and go-back-N rather than one hole per RTT).
            self.board.mark_head_lost();
            self.partial_acks += 1;
        }
        self.detect_losses(now, inp, stats);
    }

    /// After a timeout (Linux `tcp_process_loss`): F-RTO (RFC 5682), undo,
    /// and the end of the Loss state.
    #[allow(clippy::too_many_arguments)]
    fn process_loss(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
        cum: &CumAck,
        upd: &SackUpdate,
        advanced: bool,
    ) {
        let recovered = !inp.ack.before(self.recover);
        match self.frto {
            Frto::Off => {}
            Frto::FirstAck { head_end } => {
                // RFC 5682 §2.1 step 2: "(a) If the acknowledgment is a
                // duplicate ACK, OR the Acknowledgment field covers "recover"
                // but not more than "recover", OR the acknowledgment does not
                // acknowledge all of the data that was retransmitted in step
                // 1, revert to the conventional RTO recovery ... (b) Else, if
                // the acknowledgment advances SND.UNA and does not cover
                // "recover", then transmit up to two new (previously unsent)
                // segments and enter step 3." Without new data to send, the
                // conventional recovery continues.
                let conventional = !advanced || recovered || inp.ack.before(head_end);
                if conventional || !inp.new_data_ready {
                    self.frto = Frto::Off;
                } else {
                    self.frto = Frto::SecondAck {
                        recovery_point: self.recover,
                    };
                    self.frto_send_new = true;
                    return;
                }
            }
            Frto::SecondAck { recovery_point } => {
                // Step 3 (with §3's SACK variant): "(b) Else, if the
                // acknowledgment advances SND.UNA [or SACKs data] ... that
                // was not retransmitted ..., declare the timeout spurious";
                // "(a) If the acknowledgment is a duplicate ACK ... revert to
                // the conventional RTO recovery".
                let original = match (cum.lowest_original, upd.lowest_original) {
                    (Some(a), Some(b)) => Some(if a.before(b) { a } else { b }),
                    (a, b) => a.or(b),
                };
                self.frto = Frto::Off;
                if original.is_some_and(|s| s.before(recovery_point)) {
                    self.do_undo(now, cc, true);
                    stats.tcp_loss_undo += 1;
                    stats.tcp_spurious_rtos += 1;
                    self.state = CaState::Open;
                    return;
                }
            }
        }
        if recovered {
            if self.undo.may_undo(inp.tsecr) {
                self.do_undo(now, cc, true);
                stats.tcp_loss_undo += 1;
            }
            self.state = CaState::Open;
            self.frto = Frto::Off;
            self.rack.on_recovery_exit();
            self.chunk = None;
            return;
        }
        if self.frto == Frto::Off && self.undo.may_undo(inp.tsecr) && advanced {
            // Linux `tcp_try_undo_loss`: Eifel or D-SACK say the timeout
            // was spurious even before everything is acknowledged.
            self.do_undo(now, cc, true);
            stats.tcp_loss_undo += 1;
            self.state = CaState::Open;
        }
    }

    /// Marks lost what RACK (or, without it, RFC 6675 IsLost) says is lost.
    fn detect_losses(&mut self, now: Instant, inp: &AckInput<'_>, stats: &mut TcpExtStats) {
        if !self.sack {
            return;
        }
        if self.cfg.rack {
            let recovering = matches!(self.state, CaState::Recovery | CaState::Loss);
            let reo_wnd = self.rack.reo_wnd(
                recovering,
                self.board.sacked().segs,
                self.reordering,
                inp.min_rtt,
                inp.srtt,
            );
            let (_, lost_rtx, timer) = self.rack.detect_loss(&mut self.board, now, reo_wnd);
            stats.tcp_lost_retransmit += u64::from(lost_rtx);
            self.rack_deadline = timer.map(|d| now + d);
        } else {
            self.board.mark_lost_by_dupthresh(self.reordering, self.mss);
        }
    }

    /// Restores the window saved when the episode began; `unmark`: nothing
    /// is lost any more (the retransmissions were unnecessary).
    fn do_undo(&mut self, now: Instant, cc: &mut Congestion, unmark: bool) {
        if let Some(prior) = self.undo.take_prior() {
            cc.undo(now, &prior);
        }
        if unmark {
            self.board.unmark_all_lost();
        }
        self.chunk = None;
        self.undone_now = true;
        self.unreported_undo = true;
    }

    // ---- timers ----------------------------------------------------------

    /// The retransmission timer fired (RFC 6298 §5.4-5.6, RFC 5681 §3.1,
    /// RFC 6675 §5.1): everything unSACKed is lost and is resent in order as
    /// the window allows; the first timeout of an episode sets ssthresh.
    /// `retransmits` counts earlier timeouts of the same data.
    pub(super) fn on_rto(
        &mut self,
        now: Instant,
        cc: &mut Congestion,
        snd_nxt: SeqNum,
        retransmits: u8,
        stats: &mut TcpExtStats,
    ) {
        let state = self.state;
        if retransmits == 0 {
            let failures = match state {
                CaState::Recovery | CaState::Disorder => Some(self.sack),
                _ if self.board.sacked().segs > 0 => Some(self.sack),
                CaState::Loss => {
                    stats.tcp_loss_failures += 1;
                    None
                }
                _ => None,
            };
            match failures {
                Some(true) => stats.tcp_sack_failures += 1,
                Some(false) => stats.tcp_reno_failures += 1,
                None => {}
            }
        }
        let new_recovery = matches!(state, CaState::Open | CaState::Disorder | CaState::Cwr);
        // Linux `tcp_enter_loss`: a new episode (or a timeout of the
        // previous timeout's retransmissions once it recovered) lowers
        // ssthresh; a timeout during recovery keeps recovery's.
        let first = new_recovery
            || !self.recover.after(self.board.una())
            || (state == CaState::Loss && retransmits == 0);
        if first {
            self.undo
                .start(self.board.una(), cc, self.board.retrans().segs);
        }
        let flight = self.board.total().bytes;
        cc.on_rto(now, flight, first);
        if self.board.mark_all_lost() {
            stats.tcp_sack_reneging += 1;
        }
        // RFC 5682: judge this timeout by the next ACKs, unless it hit
        // during fast recovery (Linux's condition).
        let head_end = self.board.next_lost().map_or(snd_nxt, |(_, end)| end);
        self.frto = if self.cfg.frto && (new_recovery || retransmits > 0) {
            Frto::FirstAck { head_end }
        } else {
            Frto::Off
        };
        self.frto_send_new = false;
        self.state = CaState::Loss;
        self.recover = snd_nxt;
        self.reno_sacked = 0;
        self.tlp.end();
        self.rack_deadline = None;
        self.chunk = None;
        self.flight_at_disorder = None;
        self.unreported_loss = 0;
    }

    /// The RACK reordering timer fired (RFC 8985 §6.3): mark what has now
    /// waited long enough, and start recovery if it is the first loss.
    pub(super) fn on_reorder_timeout(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
    ) {
        self.rack_deadline = None;
        let before = self.board.lost().segs;
        self.detect_losses(now, inp, stats);
        let marked = self.board.lost().segs.saturating_sub(before);
        self.unreported_loss += marked;
        if marked > 0 && self.mtu_probe_lost(inp) {
            return;
        }
        if marked > 0 && matches!(self.state, CaState::Open | CaState::Disorder | CaState::Cwr) {
            self.enter_recovery(now, inp, cc, stats);
            // Not an ACK's outcome: the caller sees the new state itself.
            self.reduced_now = false;
            // Linux `tcp_rack_reo_timeout`: let one retransmission out.
            let pipe = self.pipe();
            self.prr.on_ack(0, pipe, self.mss);
        }
    }

    // ---- tracing ---------------------------------------------------------

    /// A trace sample if anything changed since the last one (or `mark` is
    /// given): the connection raises it as an event.
    pub(super) fn sample(
        &mut self,
        cc: &Congestion,
        mark: Option<Mark>,
    ) -> Option<CongestionSample> {
        let mark = mark.or_else(|| {
            if core::mem::take(&mut self.unreported_undo) {
                Some(Mark::Undo)
            } else {
                let lost = core::mem::take(&mut self.unreported_loss);
                (lost > 0).then_some(Mark::Loss { segments: lost })
            }
        });
        let sample = CongestionSample {
            cwnd: self.send_window(cc),
            ssthresh: cc.ssthresh(),
            ca_state: self.state,
            pipe: self.pipe(),
            mark,
        };
        let unchanged = self.last_sample.is_some_and(|l| {
            l.cwnd == sample.cwnd
                && l.ssthresh == sample.ssthresh
                && l.ca_state == sample.ca_state
                && l.pipe == sample.pipe
        });
        if unchanged && mark.is_none() {
            return None;
        }
        self.last_sample = Some(sample);
        Some(sample)
    }
}

/// `best` updated with `d`'s RTT if `d` was never resent (Karn's rule):
/// the smallest, that is the newest original's.
fn newest_original(
    best: Option<Duration>,
    d: &crate::tcp::sack::scoreboard::Delivered,
    now: Instant,
) -> Option<Duration> {
    if d.retransmitted {
        return best;
    }
    let rtt = now.saturating_duration_since(d.xmit);
    Some(best.map_or(rtt, |b| b.min(rtt)))
}
