//! A connection's path MTU search (RFC 4821, [`crate::tcp::plpmtud`]):
//! when it starts, what the ACKs, loss recovery, the timer and ICMP say of
//! a probe, and the MSS that follows. Deciding when a probe may go, and
//! sending it, is the output path's (`output::mtu_probe`).
//!
//! `tcp_mtu_probing` 2 starts a search as the connection is established
//! (Linux `tcp_mtup_init`); 1 starts one when black hole detection first
//! fires (RFC 4821 §7.2, Linux `tcp_mtu_probing` in tcp_timer.c). Without a
//! search none of this runs: the ACK path asks one pointer whether the
//! connection has rare state at all.

use super::send::SendHalf;
use super::{Core, Env};
use crate::SeqNum;
use crate::config::Config;
use crate::tcp::plpmtud::{MtuSearch, Verdict};
use crate::tcp::recovery::CaState;
use crate::time::Instant;

/// `tcp_mtu_probing`'s mode that searches from the start.
const ALWAYS: u8 = 2;

impl Core {
    /// The search, if one is under way.
    pub(super) fn mtu_search(&self) -> Option<&MtuSearch> {
        self.rare.as_ref()?.mtu_search.as_ref()
    }

    pub(super) fn mtu_search_mut(&mut self) -> Option<&mut MtuSearch> {
        self.rare.as_deref_mut()?.mtu_search.as_mut()
    }

    /// Where the probe in flight starts, for loss recovery
    /// ([`crate::tcp::recovery::AckInput::mtu_probe`]).
    #[inline]
    pub(super) fn mtu_probe_start(&self) -> Option<SeqNum> {
        Some(self.mtu_search()?.probe()?.start)
    }

    /// Segments follow the search's MTU.
    fn use_search_mtu(&mut self, snd: &mut SendHalf) {
        if let Some(mtu) = self.mtu_search().map(MtuSearch::mtu) {
            self.neg.set_path_mtu(mtu);
            self.apply_negotiated(snd);
        }
    }

    /// A new search on this connection's path, from `tcp_base_mss`.
    fn begin_mtu_search(&mut self, now: Instant, config: &Config) {
        let low = config.tcp_base_mss.saturating_add(self.segment_headers());
        let search = MtuSearch::new(now, self.neg.mtu_ceiling(), low);
        self.rare.get_or_insert_with(Box::default).mtu_search = Some(search);
    }

    /// The connection is established: with `tcp_mtu_probing` 2 its
    /// segments start at `tcp_base_mss` and a search begins (Linux
    /// `tcp_mtup_init`: `search_low` caps the MSS while it is enabled).
    #[inline]
    pub(super) fn on_established_mtu(&mut self, now: Instant, snd: &mut SendHalf, env: &Env) {
        if env.config.tcp_mtu_probing == ALWAYS {
            self.start_mtu_search(now, snd, &env.config);
        }
    }

    #[cold]
    #[inline(never)]
    fn start_mtu_search(&mut self, now: Instant, snd: &mut SendHalf, config: &Config) {
        self.begin_mtu_search(now, config);
        self.use_search_mtu(snd);
    }

    /// RFC 4821 §7.2 black hole detection fired (Linux `tcp_mtu_probing`,
    /// after `tcp_retries1` worth of timeouts): the first time a search
    /// begins, and its segments fall to `tcp_base_mss`; each time after,
    /// the search's lower bound halves, no lower than the floor.
    #[cold]
    #[inline(never)]
    pub(super) fn on_black_hole(&mut self, now: Instant, snd: &mut SendHalf, config: &Config) {
        let headers = self.segment_headers();
        match self.mtu_search_mut() {
            Some(search) => {
                search.on_black_hole(headers, config.tcp_base_mss, config.black_hole_floor());
            }
            None => self.begin_mtu_search(now, config),
        }
        if self
            .mtu_search()
            .is_some_and(|s| s.mtu() < self.neg.path_mtu())
        {
            self.use_search_mtu(snd);
        }
    }

    /// A probe of `start..end` went out.
    #[cold]
    #[inline(never)]
    pub(super) fn on_mtu_probe_sent(&mut self, start: SeqNum, end: SeqNum) {
        let len = u16::try_from(end.since(start)).unwrap_or(u16::MAX);
        let mtu = len.saturating_add(self.segment_headers());
        if let Some(search) = self.mtu_search_mut() {
            search.sent(mtu, start, end);
        }
    }

    /// After an ACK (or the reordering timer): what became of a probe in
    /// flight. Loss recovery puts itself in the Loss state without a
    /// reduction when the probe is the first segment found lost (an ACK
    /// enters Loss no other way, and a timeout settles the probe itself
    /// first); a reduction (`reduced`, or Recovery or CWR under way) leaves
    /// its fate unknown, as Linux probes only in Open; acknowledged, the
    /// segments grow.
    #[inline]
    pub(super) fn settle_mtu_probe(&mut self, snd: &mut SendHalf, reduced: bool, env: &mut Env) {
        if self.rare.is_some() {
            self.settle_mtu_probe_now(snd, reduced, env);
        }
    }

    #[cold]
    #[inline(never)]
    fn settle_mtu_probe_now(&mut self, snd: &mut SendHalf, reduced: bool, env: &mut Env) {
        let Some(probe) = self.mtu_search().and_then(MtuSearch::probe) else {
            return;
        };
        let verdict = match self.recovery.ca_state() {
            CaState::Loss => Verdict::Failed,
            _ if reduced => Verdict::Abandoned,
            CaState::Open | CaState::Disorder if !snd.una.before(probe.end) => Verdict::Passed,
            CaState::Open | CaState::Disorder => return,
            CaState::Recovery | CaState::Cwr => Verdict::Abandoned,
        };
        if let Some(search) = self.mtu_search_mut() {
            search.settle(verdict);
        }
        match verdict {
            Verdict::Passed => {
                env.stats.tcp_ext.tcp_mtup_success += 1;
                self.use_search_mtu(snd);
            }
            Verdict::Failed => env.stats.tcp_ext.tcp_mtup_fail += 1,
            Verdict::Abandoned => {}
        }
    }

    /// The retransmission timer fired: a probe that is the first
    /// unacknowledged segment failed (nothing after it came back), any
    /// other probe's fate is unknown.
    #[cold]
    #[inline(never)]
    pub(super) fn mtu_probe_on_timeout(&mut self, una: SeqNum, env: &mut Env) {
        let Some(search) = self.mtu_search_mut() else {
            return;
        };
        let Some(probe) = search.probe() else {
            return;
        };
        if probe.start == una {
            search.settle(Verdict::Failed);
            env.stats.tcp_ext.tcp_mtup_fail += 1;
        } else {
            search.settle(Verdict::Abandoned);
        }
    }

    /// ICMP "fragmentation needed" validated for this connection: the
    /// search's bounds follow `mtu` down. The caller resends what was in
    /// flight, so a probe in flight is settled here: lost if it was larger,
    /// else its fate unknown. Returns the MTU segments use now. Without a
    /// search, the path MTU is simply `mtu`.
    pub(super) fn on_path_mtu(&mut self, mtu: u16, env: &mut Env) -> u16 {
        let Some(search) = self.mtu_search_mut() else {
            self.neg.set_path_mtu(mtu);
            return mtu;
        };
        if search.on_path_mtu(mtu) {
            env.stats.tcp_ext.tcp_mtup_fail += 1;
        }
        search.settle(Verdict::Abandoned);
        let segments = search.mtu();
        self.neg.set_path_mtu(segments);
        segments
    }

    /// The path MTU for `tcp_info`: the route's and ICMP's, whatever size
    /// a search has the segments at (Linux `icsk_pmtu_cookie`).
    pub(super) fn path_mtu_reported(&self) -> u16 {
        self.mtu_search()
            .map_or(self.neg.path_mtu(), MtuSearch::path_mtu)
    }

    /// The largest MTU ICMP may still lower: the search's upper bound when
    /// one is under way (its segments may be smaller), else the path MTU.
    pub(super) fn path_mtu_bound(&self) -> u16 {
        self.mtu_search()
            .map_or(self.neg.path_mtu(), |s| s.bounds().1)
    }
}
