//! Loss recovery: which segments are lost, what to retransmit, how much may
//! be in flight meanwhile, and whether a reduction was a mistake.
//!
//! Read first: RFC 5681 §3.2 (fast retransmit/recovery), RFC 6582
//! (NewReno: partial ACKs, `recover`), RFC 3042 (limited transmit), RFC
//! 6675 §4-5 (SACK-based recovery: IsLost, pipe, NextSeg), RFC 6937 (PRR),
//! RFC 8985 (RACK-TLP), RFC 5682 (F-RTO), RFC 3522 and RFC 2883 §4 (undo),
//! RFC 6298 §5 (timeouts). Each sub-module opens with its own.
//!
//! The design is Linux's (`tcp_ack` / `tcp_fastretrans_alert`), with RFC
//! names where the RFCs have them:
//!
//! - **the scoreboard** ([`crate::tcp::sack::Scoreboard`]) records every
//!   segment in flight; SACK blocks and cumulative ACKs mark it;
//! - **loss detection**: RACK ([`rack`]) with SACK when `tcp_recovery` says
//!   so, else RFC 6675's IsLost; without SACK, NewReno: the third duplicate
//!   ACK, then every partial ACK, marks the segment at SND.UNA lost;
//! - **the state** follows Linux's `tcpi_ca_state` ([`CaState`]): Open;
//!   Disorder (SACKed or duplicate-ACKed data, no loss yet); CWR (an ECN
//!   echo, RFC 3168 §6.1.2: a reduction without loss, until SND.NXT at
//!   the echo is acknowledged); Recovery (fast recovery until
//!   RecoveryPoint is acknowledged); Loss (after a timeout, until
//!   everything sent before it is acknowledged);
//! - **the window**: during Recovery and CWR PRR ([`prr`]) sets it from
//!   what was delivered; otherwise the congestion controller grows it. Limited
//!   transmit (RFC 3042) falls out of `pipe`: SACKed data, or one segment
//!   per duplicate ACK without SACK, leaves the pipe and lets new data out;
//! - **what to send**: NextSeg ([`LossRecovery::next_retransmission`],
//!   [`LossRecovery::next_speculative`]) between new data;
//! - **probes**: TLP ([`tlp`]) in the Open state;
//! - **undo** ([`undo`]): D-SACKs for every retransmission, an echoed
//!   timestamp older than the first retransmission (Eifel), or F-RTO's
//!   test after a timeout restore the window.
//!
//! The connection calls [`LossRecovery::on_ack`] for every acceptable ACK,
//! [`LossRecovery::on_rto`] when the retransmission timer fires, and the
//! `on_*sent` hooks for what it sends; it asks [`LossRecovery::pipe`] and
//! [`LossRecovery::send_window`] before sending.

mod episode;
pub mod prr;
pub mod rack;
pub mod tlp;
pub mod undo;

use crate::SeqNum;
use crate::config::Config;
use crate::stats::TcpExtStats;
use crate::tcp::congestion::hystart::HyStart;
use crate::tcp::congestion::{Congestion, CongestionControl};
use crate::tcp::conn::keep_bounded;
use crate::tcp::sack::scoreboard::{Scoreboard, Tally};
use crate::tcp::timestamps::TsClock;
use crate::time::{Duration, Instant};

use self::episode::Episode;

/// Most segments one connection keeps records of: beyond this it sends no
/// new data until ACKs free some (DESIGN.md §4: every resource has a cap).
pub const MAX_RECORDS: usize = 8192;
/// Most SACKed ranges the scoreboard tracks; blocks needing more are ignored.
pub const MAX_SACKED_RANGES: usize = 128;
/// Linux `tcp_max_reordering`: the largest reordering degree believed.
pub const MAX_REORDERING: u32 = 300;

/// Linux's congestion-avoidance state (`tcpi_ca_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaState {
    /// Nothing unusual.
    Open,
    /// SACKed or duplicate-ACKed data, nothing deemed lost yet.
    Disorder,
    /// Window reduced without loss: an ECN echo (RFC 3168 §6.1.2), PRR
    /// until everything sent before it is acknowledged.
    Cwr,
    /// Fast recovery (RFC 6675 §5, RFC 6582).
    Recovery,
    /// After a retransmission timeout, until everything sent before it is acked.
    Loss,
}

impl CaState {
    /// Linux's number for `tcpi_ca_state`.
    pub const fn linux_number(self) -> u8 {
        match self {
            CaState::Open => 0,
            CaState::Disorder => 1,
            CaState::Cwr => 2,
            CaState::Recovery => 3,
            CaState::Loss => 4,
        }
    }

    /// Linux's name (`ss -i`, tracing).
    pub const fn name(self) -> &'static str {
        match self {
            CaState::Open => "open",
            CaState::Disorder => "disorder",
            CaState::Cwr => "cwr",
            CaState::Recovery => "recovery",
            CaState::Loss => "loss",
        }
    }
}

/// The settings loss recovery follows (from [`Config`]), compact: every
/// connection keeps a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// Duplicate-ACK threshold to start with (`tcp_reordering`).
    pub dupthresh: u16,
    /// RACK loss detection with SACK (`tcp_recovery` bit 0).
    pub rack: bool,
    /// Tail loss probes (`tcp_early_retrans` 3 or 4).
    pub tlp: bool,
    /// F-RTO (`tcp_frto`).
    pub frto: bool,
    /// The worst-case delayed ACK a probe waits for (RFC 8985 WCDelAckT), ms.
    pub wc_del_ack_ms: u16,
}

impl RecoveryConfig {
    pub fn from_config(config: &Config) -> Self {
        RecoveryConfig {
            dupthresh: config.tcp_reordering.clamp(1, MAX_REORDERING) as u16,
            rack: config.tcp_recovery_rack,
            tlp: matches!(config.tcp_early_retrans, 3 | 4),
            frto: config.tcp_frto != 0,
            wc_del_ack_ms: u16::try_from(config.tcp_delack_max.total_millis()).unwrap_or(u16::MAX),
        }
    }

    /// WCDelAckT as a duration.
    pub fn wc_del_ack(&self) -> Duration {
        Duration::from_millis(u64::from(self.wc_del_ack_ms))
    }
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig::from_config(&Config::default())
    }
}

/// One acceptable ACK, as the connection saw it.
#[derive(Clone, Copy, Debug)]
pub struct AckInput<'a> {
    /// SEG.ACK.
    pub ack: SeqNum,
    /// SND.UNA before the ACK, and SND.NXT.
    pub prior_una: SeqNum,
    pub snd_nxt: SeqNum,
    /// The segment's SACK blocks (none if SACK is off).
    pub sack_blocks: &'a [(SeqNum, SeqNum)],
    /// The segment's TSecr, if it had a timestamp.
    pub tsecr: Option<u32>,
    /// RFC 5681 §2: a duplicate ACK.
    pub dupack: bool,
    /// An RTT sample from this ACK, and the estimator's view.
    pub rtt: Option<Duration>,
    pub min_rtt: Option<Duration>,
    pub srtt: Option<Duration>,
    pub mss: u32,
    /// The sender filled its window recently (RFC 7661).
    pub cwnd_limited: bool,
    /// Bytes in flight before the ACK.
    pub prior_in_flight: u32,
    /// Unsent data the peer's window allows (F-RTO step 2b can send it).
    pub new_data_ready: bool,
    pub ts_clock: TsClock,
    /// The ACK echoes a congestion mark (RFC 3168 §6.1.2: ECE on an ECN
    /// connection).
    pub ece: bool,
    /// Where a path MTU probe in flight starts (RFC 4821): if it is the
    /// first segment found lost, its loss is its size, not congestion; the
    /// Loss state it enters without a reduction tells the connection.
    pub mtu_probe: Option<SeqNum>,
}

/// An ACK of the whole flight (SEG.ACK = SND.NXT, beyond SND.UNA) with no
/// SACK block, no duplicate and no ECN echo, as the connection knows it
/// before an [`AckInput`] is built: what [`LossRecovery::on_ack_of_flight`]
/// reads. The request/response and handshake case.
#[derive(Clone, Copy, Debug)]
pub struct FlightAck {
    /// SEG.ACK, which is SND.NXT.
    pub ack: SeqNum,
    /// SND.UNA before the ACK.
    pub prior_una: SeqNum,
    /// The segment's TSecr, if it had one on a timestamp connection.
    pub tsecr: Option<u32>,
    /// The RTT sample from this ACK, and the estimator's minimum.
    pub rtt: Option<Duration>,
    pub min_rtt: Option<Duration>,
    pub mss: u32,
    /// The sender filled its window recently (RFC 7661).
    pub cwnd_limited: bool,
    /// Bytes in flight before the ACK.
    pub prior_in_flight: u32,
    pub ts_clock: TsClock,
}

impl AckInput<'_> {
    /// What [`FlightAck`] carries of the ACK (SEG.ACK need not be SND.NXT:
    /// the window's growth reads the same fields of any ACK).
    pub(crate) fn cumulative(&self) -> FlightAck {
        FlightAck {
            ack: self.ack,
            prior_una: self.prior_una,
            tsecr: self.tsecr,
            rtt: self.rtt,
            min_rtt: self.min_rtt,
            mss: self.mss,
            cwnd_limited: self.cwnd_limited,
            prior_in_flight: self.prior_in_flight,
            ts_clock: self.ts_clock,
        }
    }
}

/// What one ACK did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckOutcome {
    /// Segments newly SACKed.
    pub newly_sacked: u32,
    /// Segments newly deemed lost.
    pub newly_lost: u32,
    /// The window reduction was undone.
    pub undone: bool,
    /// Restart the retransmission timer (RFC 6298 §5.3), unless RFC 6582's
    /// "Impatient" rule says not to.
    pub restart_rto: bool,
    /// A window reduction began (fast recovery, or CWR for an ECN echo):
    /// an ECN sender owes a CWR (RFC 3168 §6.1.2).
    pub reduced: bool,
}

/// A segment [`LossRecovery::next_retransmission`] wants sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retransmission {
    /// What to send: at most one MSS of a recorded segment.
    pub start: SeqNum,
    pub end: SeqNum,
    /// The recorded segment's end (it may need several MSS-sized pieces
    /// when the MSS shrank since it was first sent).
    pub record_end: SeqNum,
    /// Which NextSeg rule chose it (RFC 6675 §4).
    pub rule: NextSegRule,
}

/// RFC 6675 §4 NextSeg's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextSegRule {
    /// (1): lost (IsLost, RACK, a timeout, NewReno).
    Lost,
    /// (3): unSACKed below the highest SACK (only without RACK).
    BelowHighSack,
    /// (4): the rescue retransmission, once per recovery.
    Rescue,
    /// A piece of a segment larger than the current MSS.
    Continuation,
}

/// What a congestion trace sample marks (for plots and traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Segments were deemed lost.
    Loss { segments: u32 },
    /// The retransmission timer fired.
    Timeout,
    /// A segment was retransmitted.
    Retransmit { seq: SeqNum, len: u32 },
    /// A tail loss probe went out.
    Probe { seq: SeqNum, len: u32 },
    /// A reduction was undone.
    Undo,
}

/// One point of a connection's congestion trace: raised whenever the
/// window, the threshold, the state or the flight changes, or something
/// worth marking happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CongestionSample {
    pub cwnd: u32,
    pub ssthresh: u32,
    pub ca_state: CaState,
    /// RFC 6675 pipe: bytes in flight.
    pub pipe: u32,
    pub mark: Option<Mark>,
}

/// What outlives a loss-recovery episode (kept while the connection is
/// idle, when the [`Episode`] with its scoreboard is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Carry {
    cfg: RecoveryConfig,
    sack: bool,
    mss: u32,
    recover: SeqNum,
    reordering: u32,
    reord_seen: u32,
    recoveries: u32,
    dsacks: u32,
    rack: rack::RackPersistent,
}

/// Most loss-recovery episode boxes a stack keeps for its next
/// connections (each a few hundred bytes with its record buffer).
pub const MAX_SPARE_EPISODES: usize = 4;

/// Episode boxes that ended connections left (one per stack, in the
/// connections' environment): a short connection's first data takes one
/// instead of allocating its episode and its scoreboard's first record
/// buffer, and its end gives it back instead of freeing them (two
/// allocations and two frees a connection).
#[derive(Default)]
pub struct SpareEpisodes {
    // The boxes themselves are what is kept.
    #[allow(clippy::vec_box)]
    kept: Vec<Box<Episode>>,
    /// HyStart boxes of removed connections: a kept episode takes one
    /// along to its next connection, whose controller starts HyStart in it
    /// (`Congestion::with_hystart_spare`).
    #[allow(clippy::vec_box)]
    hystart: Vec<Box<HyStart>>,
}

impl core::fmt::Debug for SpareEpisodes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpareEpisodes")
            .field("kept", &self.kept.len())
            .field("hystart", &self.hystart.len())
            .finish()
    }
}

impl SpareEpisodes {
    /// Episode boxes kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// HyStart boxes kept (beside those the kept episodes carry).
    pub fn hystart_boxes(&self) -> usize {
        self.hystart.len()
    }

    /// Keeps a removed connection's HyStart box if there is room (else it
    /// is freed).
    pub fn keep_hystart(&mut self, hystart: Box<HyStart>) {
        keep_bounded(&mut self.hystart, hystart, MAX_SPARE_EPISODES);
    }

    /// Keeps an ended episode's box, emptied, if there is room (else it is
    /// freed).
    fn keep(&mut self, mut ep: Box<Episode>) {
        if self.kept.len() < MAX_SPARE_EPISODES {
            ep.shed();
            self.kept.push(ep);
        }
    }
}

/// A new episode's box, at `una` (for [`LossRecovery::episode`]).
#[cold]
#[inline(never)]
fn new_episode(carry: &Carry, una: SeqNum) -> Box<Episode> {
    Box::new(Episode::resume(carry, una))
}

/// The loss-recovery state of one connection. See the module documentation.
///
/// The machinery (scoreboard, PRR, RACK, TLP, undo, F-RTO) lives in an
/// [`Episode`] allocated when data is first sent and dropped when the
/// connection goes idle ([`LossRecovery::release_if_empty`]), so an idle
/// connection costs only the few bytes of [`Carry`] here (DESIGN.md §4).
#[derive(Clone, Debug)]
pub struct LossRecovery {
    carry: Carry,
    ep: Option<Box<Episode>>,
}

impl LossRecovery {
    /// A connection whose ISS is `iss` (RFC 6582 §3.2: `recover` "is
    /// initialized to the initial send sequence number").
    pub fn new(iss: SeqNum, cfg: RecoveryConfig) -> Self {
        LossRecovery {
            carry: Carry {
                cfg,
                sack: false,
                mss: 536,
                recover: iss,
                reordering: u32::from(cfg.dupthresh).max(1),
                reord_seen: 0,
                recoveries: 0,
                dsacks: 0,
                rack: rack::RackPersistent {
                    reo_wnd_mult: 1,
                    ..Default::default()
                },
            },
            ep: None,
        }
    }

    /// The handshake completed: data starts at `una`; `sack` says whether
    /// both sides agreed on SACK (RFC 2018 §2).
    pub fn on_established(&mut self, una: SeqNum, sack: bool, mss: u32) {
        self.carry.sack = sack;
        self.carry.mss = mss.max(1);
        let keep = self
            .ep
            .as_mut()
            .is_some_and(|ep| ep.on_established(una, sack, mss));
        if !keep {
            self.ep = None;
        }
    }

    pub fn set_mss(&mut self, mss: u32) {
        self.carry.mss = mss.max(1);
        if let Some(ep) = &mut self.ep {
            ep.set_mss(mss);
        }
    }

    fn carry_now(&self) -> Carry {
        self.ep.as_ref().map_or(self.carry, |ep| ep.carry())
    }

    /// The episode, starting one at `una` if none is under way. Inlined
    /// (every segment sent records itself through it) with the new box
    /// out of line.
    #[inline]
    fn episode(&mut self, una: SeqNum) -> &mut Episode {
        let carry = &self.carry;
        self.ep.get_or_insert_with(|| new_episode(carry, una))
    }

    pub fn ca_state(&self) -> CaState {
        self.ep.as_ref().map_or(CaState::Open, |ep| ep.ca_state())
    }

    /// The reordering degree in segments (`tcpi_reordering`).
    pub fn reordering(&self) -> u32 {
        self.carry_now().reordering
    }

    /// Times reordering was detected (`tcpi_reord_seen`).
    pub fn reord_seen(&self) -> u32 {
        self.carry_now().reord_seen
    }

    /// D-SACKs received (`tcpi_dsack_dups`).
    pub fn dsacks(&self) -> u32 {
        self.carry_now().dsacks
    }

    /// Fast recoveries entered so far.
    pub fn recoveries(&self) -> u32 {
        self.carry_now().recoveries
    }

    /// Whether a window reduction is under way (fast recovery or CWR).
    pub fn in_reduction(&self) -> bool {
        matches!(self.ca_state(), CaState::Recovery | CaState::Cwr)
    }

    /// Whether fast recovery is under way.
    pub fn in_fast_recovery(&self) -> bool {
        self.ca_state() == CaState::Recovery
    }

    /// The scoreboard, while data is in flight.
    pub fn scoreboard(&self) -> Option<&Scoreboard> {
        self.ep.as_ref().map(|ep| ep.scoreboard())
    }

    pub fn sacked(&self) -> Tally {
        self.ep.as_ref().map_or(Tally::default(), |ep| ep.sacked())
    }

    pub fn lost(&self) -> Tally {
        self.ep.as_ref().map_or(Tally::default(), |ep| ep.lost())
    }

    pub fn retrans(&self) -> Tally {
        self.ep.as_ref().map_or(Tally::default(), |ep| ep.retrans())
    }

    /// RFC 6675 §4 pipe: what is in the network.
    pub fn pipe(&self) -> u32 {
        self.ep.as_ref().map_or(0, |ep| ep.pipe())
    }

    /// The window `pipe` may fill: PRR's during fast recovery, the
    /// controller's otherwise.
    pub fn send_window(&self, cc: &Congestion) -> u32 {
        self.ep
            .as_ref()
            .map_or_else(|| cc.window(), |ep| ep.send_window(cc))
    }

    /// Whether a new segment may be recorded (the scoreboard's cap).
    pub fn has_room(&self) -> bool {
        self.ep.as_ref().is_none_or(|ep| ep.has_room())
    }

    /// How many more segments the scoreboard can record.
    pub fn record_room(&self) -> u32 {
        self.ep
            .as_ref()
            .map_or(MAX_RECORDS as u32, |ep| ep.record_room())
    }

    /// When the RACK reordering timer should fire (RFC 8985 §6.3).
    pub fn reorder_deadline(&self) -> Option<Instant> {
        self.ep.as_ref().and_then(|ep| ep.reorder_deadline())
    }

    /// F-RTO wants new data rather than retransmissions now (RFC 5682 §2.1
    /// step 2b).
    pub fn prefers_new_data(&self) -> bool {
        self.ep.as_ref().is_some_and(|ep| ep.prefers_new_data())
    }

    /// Whether NextSeg certainly finds nothing to retransmit and a new
    /// segment could be recorded (no episode, or one with nothing lost and
    /// unsent, no record half resent, no fast recovery): part of
    /// `Connection::may_transmit`.
    pub fn is_quiet(&self) -> bool {
        self.ep.as_ref().is_none_or(|ep| ep.is_quiet())
    }

    /// Ends the episode when nothing is in flight: the scoreboard's memory
    /// and the rest go; what must outlive it is kept.
    pub fn release_if_empty(&mut self) {
        if self.ep.as_ref().is_some_and(|ep| ep.is_idle()) {
            self.carry = self.carry_now();
            self.ep = None;
        }
    }

    /// Ends the episode whatever is in flight: the connection sends no more
    /// data (TIME-WAIT, CLOSED).
    pub fn release(&mut self) {
        self.carry = self.carry_now();
        self.ep = None;
    }

    /// [`LossRecovery::release`], keeping the episode's box (and its
    /// scoreboard's first record buffer) in `spares` for a later
    /// connection: a connection that ends (TIME-WAIT or CLOSED) hands them
    /// to the stack's next one instead of freeing them.
    pub fn release_into(&mut self, spares: &mut SpareEpisodes) {
        self.carry = self.carry_now();
        if let Some(ep) = self.ep.take() {
            spares.keep(ep);
        }
    }

    /// Starts the episode at `una` in a box from `spares` if none is under
    /// way and one is kept; the first data sent calls this before
    /// [`LossRecovery::on_sent_new`]. The episode is the one
    /// `on_sent_new` would start in a new box.
    pub fn start_episode_from(&mut self, una: SeqNum, spares: &mut SpareEpisodes) {
        if self.ep.is_none()
            && let Some(mut ep) = spares.kept.pop()
        {
            ep.restart(&self.carry, una);
            if ep.hystart_spare.is_none() {
                ep.hystart_spare = spares.hystart.pop();
            }
            self.ep = Some(ep);
        }
    }

    /// Whether an episode is under way (something was sent since the last
    /// one ended): without one, [`LossRecovery::on_ack`] learns nothing.
    pub fn has_episode(&self) -> bool {
        self.ep.is_some()
    }

    /// Heap bytes held (the episode and its scoreboard).
    pub fn allocated(&self) -> usize {
        self.ep
            .as_ref()
            .map_or(0, |ep| core::mem::size_of::<Episode>() + ep.allocated())
    }

    /// New data `start..end` (FIN included) went out at `now`.
    #[inline(always)]
    pub fn on_sent_new(&mut self, now: Instant, start: SeqNum, end: SeqNum) {
        self.episode(start).on_sent_new(now, start, end);
    }

    /// New data `start..end` went out at `now` as segments of `piece`
    /// bytes (a GSO or TSO packet's pieces), one record each.
    pub fn on_sent_pieces(&mut self, now: Instant, start: SeqNum, end: SeqNum, piece: u32) {
        self.episode(start).on_sent_pieces(now, start, end, piece);
    }

    /// Everything in flight, `una..nxt`, must go again though nothing says
    /// the network is congested: the path MTU went down (Linux
    /// `tcp_simple_retransmit`), or the SYN-ACK did not cover our Fast Open
    /// data (RFC 7413 §4.2.1, Linux `tcp_rcv_fastopen_synack`). Data sent
    /// before the scoreboard started (in the SYN) is recorded first. The
    /// window is left alone; the Loss state lasts until `nxt` is
    /// acknowledged (Linux `tcp_non_congestion_loss_retransmit`), and
    /// records too large for the MSS go out in pieces.
    pub fn retransmit_in_flight(&mut self, now: Instant, una: SeqNum, nxt: SeqNum) {
        self.episode(una).retransmit_in_flight(now, una, nxt);
    }

    /// A segment larger than the MSS is being resent in MSS pieces (the MSS
    /// shrank since it was sent): the pipe counts all of it since its first
    /// piece went.
    pub fn resending_in_pieces(&self) -> bool {
        self.ep.as_ref().is_some_and(|ep| ep.resending_in_pieces())
    }

    /// RFC 6675 NextSeg rule (1); see [`Episode`].
    pub fn next_retransmission(&mut self, mss: u32) -> Option<Retransmission> {
        self.ep.as_mut()?.next_retransmission(mss)
    }

    /// RFC 6675 NextSeg rules (3) and (4); see [`Episode`].
    pub fn next_speculative(&mut self, mss: u32) -> Option<Retransmission> {
        self.ep.as_mut()?.next_speculative(mss)
    }

    /// A retransmission chosen by NextSeg went out.
    pub fn on_retransmitted(
        &mut self,
        now: Instant,
        rtx: &Retransmission,
        tsval: Option<u32>,
        stats: &mut TcpExtStats,
    ) {
        if let Some(ep) = &mut self.ep {
            ep.on_retransmitted(now, rtx, tsval, stats);
        }
    }

    /// RFC 8985 §7.2: a probe may be scheduled.
    pub fn tlp_may_arm(&self) -> bool {
        self.ep.as_ref().is_some_and(|ep| ep.tlp_may_arm())
    }

    /// The probe timeout (RFC 8985 §7.2).
    pub fn tlp_timeout(&self, srtt: Option<Duration>, rto_remaining: Option<Duration>) -> Duration {
        match &self.ep {
            Some(ep) => ep.tlp_timeout(srtt, rto_remaining),
            None => tlp::Tlp::pto(srtt, false, self.carry.cfg.wc_del_ack(), rto_remaining),
        }
    }

    /// The probe timer fired: whether a probe should go out now.
    pub fn on_tlp_timeout(&self) -> bool {
        self.tlp_may_arm()
    }

    /// RFC 8985 §7.3: the probe went out.
    pub fn on_probe_sent(
        &mut self,
        now: Instant,
        start: SeqNum,
        end_seq: SeqNum,
        retransmitted: bool,
        stats: &mut TcpExtStats,
    ) {
        if let Some(ep) = &mut self.ep {
            ep.on_probe_sent(now, start, end_seq, retransmitted, stats);
        }
    }

    /// The last segment sent (what a probe resends without new data).
    pub fn last_segment(&self) -> Option<(SeqNum, SeqNum)> {
        self.ep.as_ref().and_then(|ep| ep.last_segment())
    }

    /// One acceptable ACK; see [`Episode`]. Nothing in flight: nothing to do.
    pub fn on_ack(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
    ) -> AckOutcome {
        match &mut self.ep {
            Some(ep) => {
                let mut spare = ep.hystart_spare.take();
                let out = cc.with_hystart_spare(&mut spare, |cc| ep.on_ack(now, inp, cc, stats));
                ep.hystart_spare = spare;
                out
            }
            None => AckOutcome::default(),
        }
    }

    /// [`LossRecovery::on_ack`] for an ACK of the whole flight with nothing
    /// else to say ([`FlightAck`]), known to the caller without an
    /// [`AckInput`]: `None` (nothing done) unless an episode is under way
    /// with nothing to settle but the flight's delivery (no SACKed, lost or
    /// retransmitted record, no recovery, probe, undo or reordering history
    /// pending); else what `on_ack` answers, in one pass: the records leave,
    /// RACK and HyStart's ACK train see the delivery, the window grows.
    #[inline]
    pub fn on_ack_of_flight(
        &mut self,
        now: Instant,
        f: &FlightAck,
        cc: &mut Congestion,
    ) -> Option<AckOutcome> {
        let ep = self.ep.as_mut()?;
        if !ep.takes_flight(f.prior_una, f.ack) {
            return None;
        }
        let mut spare = ep.hystart_spare.take();
        let out = cc.with_hystart_spare(&mut spare, |cc| ep.on_ack_of_all_in_order(now, f, cc));
        ep.hystart_spare = spare;
        Some(out)
    }

    /// [`LossRecovery::on_ack`] for an ACK of nothing while nothing is in
    /// flight, known to the caller without an [`AckInput`]: SEG.ACK is
    /// `una` (SND.UNA), no SACK block, no duplicate (nothing outstanding),
    /// no ECN echo. `None` if the episode has something to settle then
    /// (the caller takes the full way); else what `on_ack` would answer.
    #[inline]
    pub fn on_ack_of_nothing(&mut self, una: SeqNum, mss: u32) -> Option<AckOutcome> {
        match &mut self.ep {
            Some(ep) => ep.on_ack_of_nothing(una, mss),
            None => Some(AckOutcome::default()),
        }
    }

    /// The retransmission timer fired; see [`Episode`].
    pub fn on_rto(
        &mut self,
        now: Instant,
        cc: &mut Congestion,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        retransmits: u8,
        stats: &mut TcpExtStats,
    ) {
        self.episode(snd_una)
            .on_rto(now, cc, snd_nxt, retransmits, stats);
    }

    /// The RACK reordering timer fired; see [`Episode`].
    pub fn on_reorder_timeout(
        &mut self,
        now: Instant,
        inp: &AckInput<'_>,
        cc: &mut Congestion,
        stats: &mut TcpExtStats,
    ) {
        if let Some(ep) = &mut self.ep {
            ep.on_reorder_timeout(now, inp, cc, stats);
        }
    }

    /// A trace sample if anything changed since the last one (or `mark` is
    /// given): the connection raises it as an event.
    pub fn sample(&mut self, cc: &Congestion, mark: Option<Mark>) -> Option<CongestionSample> {
        let una = self.carry.recover;
        self.episode(una).sample(cc, mark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CongestionAlgorithm;

    /// An ACK of `prior_una..ack` with SND.NXT at `snd_nxt`, MSS 1000,
    /// window-limited, with new data ready.
    pub(super) fn ack(ack: u32, prior_una: u32, snd_nxt: u32, ece: bool) -> AckInput<'static> {
        AckInput {
            ack: SeqNum(ack),
            prior_una: SeqNum(prior_una),
            snd_nxt: SeqNum(snd_nxt),
            sack_blocks: &[],
            tsecr: None,
            dupack: false,
            rtt: None,
            min_rtt: None,
            srtt: None,
            mss: 1000,
            cwnd_limited: true,
            prior_in_flight: snd_nxt - prior_una,
            new_data_ready: true,
            ts_clock: TsClock::new(0),
            ece,
            mtu_probe: None,
        }
    }

    /// A connection's recovery just established (ISS 0, SACK on, MSS 1000)
    /// and its controller with a 10-segment initial window.
    fn established(algorithm: CongestionAlgorithm) -> (LossRecovery, Congestion, TcpExtStats) {
        let mut r = LossRecovery::new(SeqNum(0), RecoveryConfig::default());
        r.on_established(SeqNum(1), true, 1000);
        (
            r,
            Congestion::new(algorithm, 1000, 10),
            TcpExtStats::default(),
        )
    }

    /// `records` segments of 1000 bytes from 1, then an ACK of the first
    /// with an ECN echo (a reduction: the episode leaves the Open state).
    fn eventful(r: &mut LossRecovery, cc: &mut Congestion, stats: &mut TcpExtStats, records: u32) {
        let t = Instant::ZERO;
        for i in 0..records {
            r.on_sent_new(t, SeqNum(1 + i * 1000), SeqNum(1001 + i * 1000));
        }
        r.on_ack(t, &ack(1001, 1, 1 + records * 1000, true), cc, stats);
    }

    #[test]
    fn an_episode_in_a_spare_box_is_the_one_a_new_box_would_hold() {
        // An ended connection's episode box (with its first record buffer,
        // or without a grown one) starts the next connection's episode: the
        // same value, the same memory, the same behaviour as a new box.
        let mut spares = SpareEpisodes::default();
        for records in [2u32, 40] {
            let (mut old, mut cc, mut stats) = established(CongestionAlgorithm::Cubic);
            eventful(&mut old, &mut cc, &mut stats, records);
            assert_eq!(old.ca_state(), CaState::Cwr);
            old.release_into(&mut spares);
            assert!(!old.has_episode());
            assert_eq!(spares.len(), 1, "{records} records");
            let (mut reused, mut cc_reused, mut stats_reused) =
                established(CongestionAlgorithm::Reno);
            let (mut fresh, mut cc_fresh, mut stats_fresh) = established(CongestionAlgorithm::Reno);
            reused.start_episode_from(SeqNum(1), &mut spares);
            assert!(reused.has_episode() && spares.is_empty());
            fresh.start_episode_from(SeqNum(1), &mut spares);
            assert!(!fresh.has_episode(), "nothing kept: on_sent_new makes it");
            for n in [3, 12] {
                eventful(&mut reused, &mut cc_reused, &mut stats_reused, n);
                eventful(&mut fresh, &mut cc_fresh, &mut stats_fresh, n);
                assert_eq!(
                    format!("{reused:?}"),
                    format!("{fresh:?}"),
                    "{records}, {n}"
                );
                assert_eq!(reused.allocated(), fresh.allocated(), "{records}, {n}");
                assert_eq!(format!("{cc_reused:?}"), format!("{cc_fresh:?}"));
                assert_eq!(stats_reused, stats_fresh);
                // A later episode of the same connection: not from spares
                // (one is under way), and again the same.
                reused.start_episode_from(SeqNum(1), &mut spares);
            }
        }
        // At most MAX_SPARE_EPISODES are kept; the rest are freed.
        for _ in 0..MAX_SPARE_EPISODES + 2 {
            let (mut r, mut cc, mut stats) = established(CongestionAlgorithm::Cubic);
            eventful(&mut r, &mut cc, &mut stats, 2);
            r.release_into(&mut spares);
        }
        assert_eq!(spares.len(), MAX_SPARE_EPISODES);
        // Releasing without an episode keeps nothing.
        let (mut idle, _, _) = established(CongestionAlgorithm::Cubic);
        let mut none = SpareEpisodes::default();
        idle.release_into(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn an_ecn_echo_reduces_once_per_window_without_loss() {
        // RFC 3168 §6.1.2: "react to the ECN-Echo ... at most once per
        // window of data"; the reduction is PRR's (RFC 6937), no segment is
        // marked lost, and a new reduction is reported each time so the
        // connection can owe a CWR.
        for algorithm in [CongestionAlgorithm::Reno, CongestionAlgorithm::Cubic] {
            let t = Instant::ZERO;
            let (mut r, mut cc, mut stats) = established(algorithm);
            r.on_sent_new(t, SeqNum(1), SeqNum(10_001));
            let out = r.on_ack(t, &ack(1001, 1, 10_001, true), &mut cc, &mut stats);
            assert!(out.reduced, "{algorithm:?}");
            assert_eq!(r.ca_state(), CaState::Cwr);
            let ssthresh = cc.ssthresh();
            assert!(ssthresh < 10_000, "{algorithm:?}: {ssthresh}");
            // PRR above ssthresh: one segment for this ACK (pipe 9 + 1),
            // not the 2 slow start would have sent.
            assert_eq!(r.send_window(&cc), r.pipe() + 1000);
            assert_eq!(r.lost().segs, 0, "nothing to retransmit");
            assert!(r.next_retransmission(1000).is_none());
            // More echoes within the window: no second reduction.
            r.on_sent_new(t, SeqNum(10_001), SeqNum(11_001));
            let out = r.on_ack(t, &ack(5001, 1001, 11_001, true), &mut cc, &mut stats);
            assert!(!out.reduced);
            assert_eq!(cc.ssthresh(), ssthresh);
            // SND.NXT at the echo acknowledged (10_001) is not enough: the
            // reduction ends beyond it, with cwnd = ssthresh.
            let out = r.on_ack(t, &ack(10_001, 5001, 11_001, false), &mut cc, &mut stats);
            assert!(!out.reduced);
            assert_eq!(r.ca_state(), CaState::Cwr);
            r.on_sent_new(t, SeqNum(11_001), SeqNum(12_001));
            r.on_ack(t, &ack(11_001, 10_001, 12_001, false), &mut cc, &mut stats);
            assert_eq!(r.ca_state(), CaState::Open, "{algorithm:?}");
            assert_eq!(cc.window(), ssthresh);
            // An echo on the ACK that ends a reduction starts the next one
            // (a new window), and it is reported as new.
            r.on_sent_new(t, SeqNum(12_001), SeqNum(20_001));
            r.on_ack(t, &ack(12_001, 11_001, 20_001, true), &mut cc, &mut stats);
            assert_eq!(r.ca_state(), CaState::Cwr);
            let second = cc.ssthresh();
            assert!(second < ssthresh);
            r.on_sent_new(t, SeqNum(20_001), SeqNum(21_001));
            let out = r.on_ack(t, &ack(20_501, 12_001, 21_001, true), &mut cc, &mut stats);
            assert!(out.reduced, "a reduction after the last one ended");
            assert_eq!(stats.tcp_fast_retrans + stats.tcp_slow_start_retrans, 0);
        }
    }

    /// The connection skips building an [`AckInput`] while no episode is
    /// under way (`has_episode`); that is right only because such an ACK
    /// changes nothing here or in the controller, whatever it says.
    #[test]
    fn without_an_episode_an_ack_changes_nothing() {
        for algorithm in [CongestionAlgorithm::Reno, CongestionAlgorithm::Cubic] {
            let t = Instant::ZERO;
            let (mut r, mut cc, mut stats) = established(algorithm);
            assert!(!r.has_episode());
            let (window, ssthresh) = (cc.window(), cc.ssthresh());
            for (a, ece) in [(1, false), (1, true), (5001, false)] {
                let out = r.on_ack(t, &ack(a, 1, 10_001, ece), &mut cc, &mut stats);
                assert_eq!(out, AckOutcome::default(), "{algorithm:?}");
            }
            assert!(!r.has_episode(), "an ACK starts no episode");
            assert_eq!((cc.window(), cc.ssthresh()), (window, ssthresh));
            assert_eq!((r.ca_state(), r.allocated()), (CaState::Open, 0));
            // Sending starts one; the ACK of everything keeps it until the
            // connection releases it (its records go when idle).
            r.on_sent_new(t, SeqNum(1), SeqNum(1001));
            assert!(r.has_episode());
            r.release();
            assert!(!r.has_episode());
        }
    }

    /// `on_ack_of_nothing` (the connection's way around `AckInput` for an
    /// ACK of nothing while nothing is in flight) answers what `on_ack`
    /// would, and nothing (the full way) while the episode has something
    /// to settle: here a CWR reduction that outlives its flight.
    #[test]
    fn an_ack_of_nothing_skips_the_input_only_when_the_episode_is_settled() {
        let t = Instant::ZERO;
        let full = |r: &LossRecovery, cc: &Congestion, stats: &TcpExtStats, at: u32| {
            let (mut r, mut cc, mut stats) = (r.clone(), cc.clone(), stats.clone());
            let out = r.on_ack(t, &ack(at, at, at, false), &mut cc, &mut stats);
            (format!("{r:?}"), format!("{cc:?}"), stats, out)
        };
        for algorithm in [CongestionAlgorithm::Reno, CongestionAlgorithm::Cubic] {
            let (mut r, mut cc, mut stats) = established(algorithm);
            eventful(&mut r, &mut cc, &mut stats, 3);
            // The rest of the flight, acknowledged: CWR holds until an ACK
            // passes the point where it began (SND.NXT then).
            r.on_ack(t, &ack(3001, 1001, 3001, false), &mut cc, &mut stats);
            assert!(r.scoreboard().is_some_and(Scoreboard::is_empty));
            assert_eq!(r.ca_state(), CaState::Cwr, "{algorithm:?}");
            assert_eq!(r.clone().on_ack_of_nothing(SeqNum(3001), 1000), None);
            // Settled (the full way ends the reduction on new data's
            // ACK): the short way answers and leaves what `on_ack` does.
            r.on_sent_new(t, SeqNum(3001), SeqNum(4001));
            r.on_ack(t, &ack(4001, 3001, 4001, false), &mut cc, &mut stats);
            assert_eq!(r.ca_state(), CaState::Open, "{algorithm:?}");
            let expected = full(&r, &cc, &stats, 4001);
            let out = r.on_ack_of_nothing(SeqNum(4001), 1000);
            assert_eq!(out, Some(expected.3));
            assert_eq!(
                (format!("{r:?}"), format!("{cc:?}")),
                (expected.0, expected.1)
            );
            assert_eq!(stats, expected.2);
        }
        // Without an episode: the default, as `on_ack` answers.
        let (mut r, _, _) = established(CongestionAlgorithm::Cubic);
        assert_eq!(
            r.on_ack_of_nothing(SeqNum(1), 1000),
            Some(AckOutcome::default())
        );
    }

    #[test]
    fn an_idle_connection_keeps_only_the_carry() {
        // DESIGN.md §4: the scoreboard and the machinery come and go with
        // data in flight; what stays is small.
        assert!(core::mem::size_of::<LossRecovery>() <= 48);
        let mut r = LossRecovery::new(SeqNum(0), RecoveryConfig::default());
        r.on_established(SeqNum(1), true, 1000);
        assert_eq!(r.allocated(), 0);
        r.on_sent_new(Instant::ZERO, SeqNum(1), SeqNum(1001));
        assert!(r.allocated() > 0);
        assert_eq!(r.pipe(), 1000);
        // Not idle while something is in flight.
        r.release_if_empty();
        assert!(r.allocated() > 0);
        let mut cc = Congestion::new(CongestionAlgorithm::Cubic, 1000, 10);
        let mut stats = TcpExtStats::default();
        let ack = AckInput {
            new_data_ready: false,
            ..ack(1001, 1, 1001, false)
        };
        r.on_ack(Instant::ZERO, &ack, &mut cc, &mut stats);
        r.release_if_empty();
        assert_eq!(r.allocated(), 0);
        // A new flight starts a new episode from the new SND.UNA.
        r.on_sent_new(Instant::ZERO, SeqNum(1001), SeqNum(2001));
        assert_eq!(r.scoreboard().map(|b| b.una()), Some(SeqNum(1001)));
    }

    #[test]
    fn an_ack_of_everything_in_order_takes_the_short_path() {
        // `Episode::on_ack` runs the full processing beside the short path
        // in tests and asserts the same episode, window, counters and
        // outcome; here the short path is shown to be taken, for SACK and
        // Reno connections alike, and only when nothing else is going on.
        use super::episode::IN_ORDER_ACKS;
        let hits = || IN_ORDER_ACKS.with(|n| n.get());
        for sack in [true, false] {
            for algorithm in [CongestionAlgorithm::Reno, CongestionAlgorithm::Cubic] {
                let t = |ms: u64| Instant::from_millis(ms);
                let mut r = LossRecovery::new(SeqNum(0), RecoveryConfig::default());
                r.on_established(SeqNum(1), sack, 1000);
                let mut cc = Congestion::new(algorithm, 1000, 10);
                let mut stats = TcpExtStats::default();
                let before = hits();
                // One request, acknowledged whole: the short path.
                r.on_sent_new(t(0), SeqNum(1), SeqNum(101));
                let rtt = Some(Duration::from_millis(10));
                let one = AckInput {
                    rtt,
                    ..ack(101, 1, 101, false)
                };
                let out = r.on_ack(t(10), &one, &mut cc, &mut stats);
                assert!(out.restart_rto && !out.reduced && !out.undone);
                assert_eq!(hits(), before + 1, "sack {sack} {algorithm:?}");
                assert_eq!(r.pipe(), 0);
                // The window grew as the full path grows it (slow start,
                // RFC 5681 §3.1): the short path does not skip growth.
                assert!(cc.window() > 10_000, "{}", cc.window());
                // Two segments, the first acknowledged: not everything.
                r.on_sent_new(t(20), SeqNum(101), SeqNum(1101));
                r.on_sent_new(t(20), SeqNum(1101), SeqNum(2101));
                r.on_ack(t(30), &ack(1101, 101, 2101, false), &mut cc, &mut stats);
                assert_eq!(hits(), before + 1, "a partial ACK");
                // The rest with an ECN echo: the full path (CWR).
                r.on_ack(t(31), &ack(2101, 1101, 2101, true), &mut cc, &mut stats);
                assert_eq!(hits(), before + 1, "an ECN echo");
            }
        }
    }

    /// Slow start (CUBIC, SACK, MSS 1000, minimum RTT 2 ms) on a path that
    /// has reordered before (RACK's window is open, doubled by a D-SACK): a
    /// first flight of 10 acknowledged 100 µs apart, each ACK sending two
    /// more, then that flight of 20 acknowledged at the bottleneck's pace
    /// (100 µs) except segment `hole`, held back. Returns the index of the
    /// second flight's ACK after which slow start was over, if it was, and
    /// the recovery state then.
    fn second_flight_with_a_hole(hole: u32) -> Option<(u32, CaState)> {
        const MSS: u32 = 1000;
        const RTT: u64 = 4000;
        let seq = |segs: u32| SeqNum(1 + segs * MSS);
        let mut r = LossRecovery::new(SeqNum(0), RecoveryConfig::default());
        r.on_established(SeqNum(1), true, MSS);
        let mut cc = Congestion::new(CongestionAlgorithm::Cubic, MSS, 10);
        let mut stats = TcpExtStats::default();
        for k in 0..10 {
            r.on_sent_new(Instant::ZERO, seq(k), seq(k + 1));
        }
        let (mut una, mut nxt) = (0, 10);
        let mut exit = None;
        for i in 0..30u32 {
            // The first flight: segment 1 arrives before segment 0 (the
            // path reorders), the third ACK reports a duplicate (D-SACK).
            // The second: everything from `hole` on only by SACK.
            let (now, acked, blocks) = if i < 10 {
                let now = RTT + 100 * u64::from(i);
                match i {
                    0 => (now, 0, vec![(seq(1), seq(2))]),
                    2 => (now, 3, vec![(seq(0), seq(1))]),
                    _ => (now, i + 1, vec![]),
                }
            } else {
                let j = i - 10;
                let now = 2 * RTT + 100 + 100 * u64::from(j);
                if j < hole {
                    (now, 10 + j + 1, vec![])
                } else if j == hole {
                    continue;
                } else {
                    (now, 10 + hole, vec![(seq(10 + hole + 1), seq(10 + j + 1))])
                }
            };
            let now = Instant::from_micros(now);
            let inp = AckInput {
                sack_blocks: &blocks,
                dupack: acked == una,
                min_rtt: Some(Duration::from_millis(2)),
                ..ack(seq(acked).0, seq(una).0, seq(nxt).0, false)
            };
            r.on_ack(now, &inp, &mut cc, &mut stats);
            una = acked;
            if i >= 10 && exit.is_none() && !cc.in_slow_start() {
                exit = Some((i - 10, r.ca_state()));
            }
            // Slow start's two segments per ACK.
            for _ in 0..2 {
                r.on_sent_new(now, seq(nxt), seq(nxt + 1));
                nxt += 1;
            }
        }
        exit
    }

    #[test]
    fn sack_only_acks_keep_hystarts_ack_train_going() {
        // Linux runs HyStart from `pkts_acked`, on every ACK that delivers
        // data with an RTT sample, SACK-only ACKs included. Here SND.UNA
        // stops at the second flight's sixth segment; the ACKs after it
        // (SACK only, reordering below the duplicate-ACK threshold, so they
        // may not grow the window) carry the train past half the minimum
        // RTT (1 ms after the round's first ACK, at its 12th), before RACK
        // calls the held segment lost.
        assert_eq!(second_flight_with_a_hole(5), Some((11, CaState::Disorder)));
    }

    #[test]
    fn the_ack_trains_round_begins_with_the_first_delivery_beyond_its_end() {
        // The second flight's first segment is held back, so SND.UNA stays
        // at the end recorded when the first flight's round began; the
        // round begins with the first segment SACKed beyond it, not with
        // the late cumulative ACK, so the flight's train ends slow start
        // (at its 13th ACK, 1.1 ms after the first SACK).
        assert_eq!(second_flight_with_a_hole(0), Some((12, CaState::Disorder)));
    }
}

/// The in-order ACK's short path, and the connection's one pass for an ACK
/// of the whole flight ([`LossRecovery::on_ack_of_flight`], run on copies
/// beside every such ACK: taken exactly when the short path is, with the
/// same loss recovery, window and outcome, and nothing changed when it
/// declines), against the full processing, over random histories: sends,
/// full and partial ACKs with SACK and D-SACK blocks, duplicate ACKs, ECN
/// echoes, timeouts, retransmissions, reordering timeouts and tail-loss
/// probes, for SACK and Reno, RACK on and off, Reno and CUBIC. Every ACK that takes the short path also runs the full path
/// on a copy and asserts the same episode, window, counters and outcome
/// (`Episode::on_ack` under `cfg(test)`); here a whole history must also
/// end in a consistent scoreboard.
#[cfg(test)]
mod in_order_ack_differential {
    use super::*;
    use crate::config::CongestionAlgorithm;
    use proptest::prelude::*;

    const MSS: u32 = 1000;

    #[derive(Clone, Debug)]
    enum Op {
        Send(u8),
        /// ACK of everything in flight (the short path's case): ECE, RTT.
        AckAll(bool, bool),
        /// A partial or duplicate ACK: where, SACK block start and end,
        /// ECE, RTT.
        Ack(u8, u8, u8, bool, bool),
        Rto,
        Retransmit,
        ReorderTimeout,
        Probe,
        Wait(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1u8..6).prop_map(Op::Send),
            4 => (any::<bool>(), any::<bool>()).prop_map(|(e, r)| Op::AckAll(e, r)),
            4 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<bool>(), any::<bool>())
                .prop_map(|(a, s, e, ece, rtt)| Op::Ack(a, s, e, ece, rtt)),
            1 => Just(Op::Rto),
            2 => Just(Op::Retransmit),
            1 => Just(Op::ReorderTimeout),
            1 => Just(Op::Probe),
            2 => (1u8..50).prop_map(Op::Wait),
        ]
    }

    /// An ACK of `ack` with SND.UNA `una` and SND.NXT `nxt` before it.
    fn input(
        ack: u32,
        una: u32,
        nxt: u32,
        blocks: &[(SeqNum, SeqNum)],
        dupack: bool,
        ece: bool,
        rtt: bool,
    ) -> AckInput<'_> {
        AckInput {
            ack: SeqNum(ack),
            prior_una: SeqNum(una),
            snd_nxt: SeqNum(nxt),
            sack_blocks: blocks,
            tsecr: None,
            dupack,
            rtt: rtt.then(|| Duration::from_millis(10)),
            min_rtt: Some(Duration::from_millis(5)),
            srtt: Some(Duration::from_millis(10)),
            mss: MSS,
            cwnd_limited: true,
            prior_in_flight: nxt - una,
            new_data_ready: false,
            ts_clock: TsClock::new(0),
            ece,
            mtu_probe: None,
        }
    }

    proptest! {
        // A fixed seed: the same 512 histories on every run.
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5_13_f1_16),
            failure_persistence: None,
            ..ProptestConfig::with_cases(512)
        })]
        #[test]
        fn the_short_path_agrees_with_the_full_one(
            sack in any::<bool>(),
            rack in any::<bool>(),
            cubic in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..120),
        ) {
            let cfg = RecoveryConfig { rack, ..RecoveryConfig::default() };
            let mut r = LossRecovery::new(SeqNum(0), cfg);
            r.on_established(SeqNum(1), sack, MSS);
            let alg = if cubic { CongestionAlgorithm::Cubic } else { CongestionAlgorithm::Reno };
            let mut cc = Congestion::new(alg, MSS, 10);
            let mut stats = TcpExtStats::default();
            let (mut una, mut nxt, mut now, mut rtos) = (1u32, 1u32, 0u64, 0u8);
            for op in ops {
                let t = Instant::from_millis(now);
                match op {
                    Op::Send(k) => {
                        let end = nxt + u32::from(k) * MSS;
                        r.on_sent_new(t, SeqNum(nxt), SeqNum(end));
                        nxt = end;
                    }
                    Op::AckAll(ece, rtt) if nxt != una => {
                        let inp = input(nxt, una, nxt, &[], false, ece, rtt);
                        // The one pass on copies, beside the full way.
                        let (mut r1, mut cc1) = (r.clone(), cc.clone());
                        let before = format!("{:?}", (&r, &cc));
                        let one_pass = (!ece)
                            .then(|| r1.on_ack_of_flight(t, &inp.cumulative(), &mut cc1))
                            .flatten();
                        let in_order = super::episode::IN_ORDER_ACKS.with(|n| n.get());
                        let stats_before = format!("{stats:?}");
                        let out = r.on_ack(t, &inp, &mut cc, &mut stats);
                        let took = super::episode::IN_ORDER_ACKS.with(|n| n.get()) > in_order;
                        prop_assert_eq!(one_pass.is_some(), took, "the one pass's conditions");
                        if let Some(one) = one_pass {
                            prop_assert_eq!(one, out, "the one pass's outcome");
                            // The one pass counts nothing: neither may the full way.
                            prop_assert_eq!(stats_before, format!("{stats:?}"), "the counters");
                            prop_assert_eq!(format!("{r1:?}"), format!("{r:?}"), "loss recovery");
                            prop_assert_eq!(&cc1, &cc, "the congestion state");
                        } else {
                            let declined = format!("{:?}", (&r1, &cc1));
                            prop_assert_eq!(declined, before, "a declined one pass changes nothing");
                        }
                        una = nxt;
                        rtos = 0;
                    }
                    Op::AckAll(..) => {}
                    Op::Ack(a, s, e, ece, rtt) => {
                        let span = nxt - una;
                        let ack = una + u32::from(a) * span / 255 / MSS * MSS;
                        let mut blocks = Vec::new();
                        if sack && nxt > ack {
                            let segs = (nxt - ack) / MSS;
                            let s0 = u32::from(s) % (segs + 1);
                            let e0 = s0 + u32::from(e) % (segs + 1 - s0);
                            if e0 > s0 {
                                blocks.push((SeqNum(ack + s0 * MSS), SeqNum(ack + e0 * MSS)));
                            } else if s0 > 0 && ack > una {
                                // D-SACK of the last acknowledged segment.
                                blocks.push((SeqNum(ack - MSS), SeqNum(ack)));
                            }
                        }
                        let dup = ack == una && nxt > una;
                        let inp = input(ack, una, nxt, &blocks, dup, ece, rtt);
                        r.on_ack(t, &inp, &mut cc, &mut stats);
                        if ack != una {
                            rtos = 0;
                        }
                        una = ack;
                    }
                    Op::Rto if nxt != una => {
                        r.on_rto(t, &mut cc, SeqNum(una), SeqNum(nxt), rtos, &mut stats);
                        rtos = rtos.saturating_add(1);
                    }
                    Op::Rto => {}
                    Op::Retransmit => {
                        let rtx = r.next_retransmission(MSS).or_else(|| r.next_speculative(MSS));
                        if let Some(rtx) = rtx {
                            r.on_retransmitted(t, &rtx, None, &mut stats);
                        }
                    }
                    Op::ReorderTimeout => {
                        let inp = input(una, una, nxt, &[], false, false, false);
                        r.on_reorder_timeout(t, &inp, &mut cc, &mut stats);
                    }
                    Op::Probe => {
                        if r.tlp_may_arm()
                            && let Some((s, e)) = r.last_segment()
                        {
                            r.on_probe_sent(t, s, e, true, &mut stats);
                        }
                    }
                    Op::Wait(ms) => now += u64::from(ms),
                }
                if let Some(board) = r.scoreboard() {
                    prop_assert_eq!(board.una(), SeqNum(una), "the scoreboard's SND.UNA");
                }
            }
        }
    }
}
