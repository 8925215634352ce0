//! Loss recovery's part of an acceptable ACK (RFC 9293 §3.10.7.4 "fifth",
//! RFC 5681, RFC 6675, RFC 8985): the [`AckInput`] that
//! [`Core::process_ack`] hands to [`crate::tcp::recovery::LossRecovery`],
//! and the short ways around it for an ACK of the whole flight and for an
//! ACK of nothing while nothing is in flight.

use crate::SeqNum;
use crate::stats::TcpExtStats;
use crate::tcp::congestion::{Congestion, CongestionControl};
use crate::tcp::conn::send::SendHalf;
use crate::tcp::conn::{Core, Env};
use crate::tcp::recovery::{AckInput, AckOutcome, FlightAck};
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;

/// What [`Core::process_ack`] learned of an ACK before loss recovery sees
/// it.
#[derive(Clone, Copy)]
pub(in crate::tcp::conn) struct AckFacts {
    pub ack: SeqNum,
    /// SND.UNA before the ACK.
    pub prior_una: SeqNum,
    /// Bytes in flight before the ACK.
    pub prior_in_flight: u32,
    /// RFC 5681 §2: a duplicate ACK.
    pub dupack: bool,
    /// The RTT sample the ACK gave, if any.
    pub rtt: Option<Duration>,
}

impl Core {
    /// Loss recovery's part of an ACK while an episode is under way.
    ///
    /// A short way skips the [`AckInput`] (and loss recovery's general
    /// ACK processing) when the episode has nothing to settle but what the
    /// ACK plainly says: an ACK of the whole flight (SEG.ACK = SND.NXT,
    /// beyond SND.UNA), with no SACK block and no ECN echo: every ACK of a
    /// request, a response, a SYN-less handshake's data and a FIN. Loss
    /// recovery settles it in one pass
    /// ([`crate::tcp::recovery::LossRecovery::on_ack_of_flight`]): the
    /// records leave, RACK and HyStart's ACK train see the delivery, the
    /// window grows. It declines (and the full way runs) when something is
    /// still to settle. (An ACK of nothing while nothing is in flight has
    /// its own way, [`Core::recovery_on_ack_of_nothing`].) Test builds also
    /// run the full processing on copies and assert the same episode,
    /// congestion state, counters and outcome.
    ///
    /// Always inlined: one copy in the general ACK steps, one behind the
    /// ACK of nothing's short way (which rarely needs it).
    #[inline(always)]
    pub(in crate::tcp::conn) fn recovery_on_ack(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        snd: &SendHalf,
        facts: AckFacts,
        env: &mut Env,
    ) -> AckOutcome {
        let plain = !self.neg.ecn.echoed(seg.flags)
            && (!self.neg.sack_ok() || seg.options.sack_blocks.is_empty());
        if plain && facts.ack == snd.nxt && facts.ack.after(facts.prior_una) {
            #[cfg(test)]
            let full = self.full_on_ack_beside(now, seg, snd, facts, env);
            let flight = self.flight_ack(seg, snd, facts);
            let hystart_exits = self.cc.hystart_exits();
            if let Some(out) = self.recovery.on_ack_of_flight(now, &flight, &mut self.cc) {
                count_hystart_exits(&self.cc, hystart_exits, &mut env.stats.tcp_ext);
                #[cfg(test)]
                {
                    self.assert_as_full(&full, out, env);
                    FLIGHT_ACKS.with(|n| n.set(n.get() + 1));
                }
                return out;
            }
        }
        self.recovery_on_ack_full(now, seg, snd, facts, env)
    }

    /// Loss recovery's general processing of an ACK
    /// ([`crate::tcp::recovery::LossRecovery::on_ack`]), when no short way
    /// applies. The ACK of nothing's short way falls back to it directly
    /// (an ACK of nothing is never one of the whole flight), not through
    /// [`Core::recovery_on_ack`]'s one-pass test. Always inlined: out of
    /// line (cold or not) it cost bulk transfer, whose ACKs take it, 0.3%
    /// (a call and spills per ACK).
    #[inline(always)]
    fn recovery_on_ack_full(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        snd: &SendHalf,
        facts: AckFacts,
        env: &mut Env,
    ) -> AckOutcome {
        let input = self.ack_input(seg, snd, facts);
        let hystart_exits = self.cc.hystart_exits();
        let outcome = self
            .recovery
            .on_ack(now, &input, &mut self.cc, &mut env.stats.tcp_ext);
        count_hystart_exits(&self.cc, hystart_exits, &mut env.stats.tcp_ext);
        outcome
    }

    /// [`Core::recovery_on_ack`] for an ACK of nothing (SEG.ACK = SND.UNA)
    /// while nothing is in flight, from [`Core::process_ack_of_nothing`]:
    /// with no SACK block and no ECN echo (a pure ACK to an idle sender or
    /// the peer's data while we have nothing out) loss recovery only notes
    /// the segment size and reports what its timers decided
    /// ([`crate::tcp::recovery::LossRecovery::on_ack_of_nothing`]), unless
    /// something is still to settle; then, and for any other such ACK, the
    /// full processing. Test builds also run the full processing on copies
    /// and assert the same result.
    #[inline(always)]
    pub(in crate::tcp::conn) fn recovery_on_ack_of_nothing(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        snd: &SendHalf,
        env: &mut Env,
    ) -> AckOutcome {
        // RFC 5681 §2 (a): no duplicate without outstanding data.
        let facts = AckFacts {
            ack: snd.una,
            prior_una: snd.una,
            prior_in_flight: 0,
            dupack: false,
            rtt: None,
        };
        let plain = !self.neg.ecn.echoed(seg.flags)
            && (!self.neg.sack_ok() || seg.options.sack_blocks.is_empty());
        if plain {
            #[cfg(test)]
            let full = self.full_on_ack_beside(now, seg, snd, facts, env);
            if let Some(out) = self.recovery.on_ack_of_nothing(facts.ack, snd.mss) {
                #[cfg(test)]
                {
                    self.assert_as_full(&full, out, env);
                    ACKS_OF_NOTHING.with(|n| n.set(n.get() + 1));
                }
                return out;
            }
        }
        // An ACK of nothing is no ACK of the flight: the general way.
        self.recovery_on_ack_full(now, seg, snd, facts, env)
    }

    /// Test builds: the full processing of the ACK on copies of loss
    /// recovery, the congestion state and the counters, for a short way to
    /// be compared with ([`Core::assert_as_full`]).
    #[cfg(test)]
    fn full_on_ack_beside(
        &self,
        now: Instant,
        seg: &TcpRepr<'_>,
        snd: &SendHalf,
        facts: AckFacts,
        env: &Env,
    ) -> FullAck {
        let (mut recovery, mut cc) = (self.recovery.clone(), self.cc.clone());
        let mut stats = env.stats.tcp_ext.clone();
        let input = self.ack_input(seg, snd, facts);
        let hystart_exits = cc.hystart_exits();
        let out = recovery.on_ack(now, &input, &mut cc, &mut stats);
        count_hystart_exits(&cc, hystart_exits, &mut stats);
        (format!("{recovery:?}"), cc, format!("{stats:?}"), out)
    }

    /// Test builds: a short way left what the full processing left.
    #[cfg(test)]
    fn assert_as_full(&self, full: &FullAck, out: AckOutcome, env: &Env) {
        assert_eq!(full.0, format!("{:?}", self.recovery), "the episode");
        assert_eq!(full.1, self.cc, "the congestion state");
        let stats = format!("{:?}", env.stats.tcp_ext);
        assert_eq!(full.2, stats, "the counters");
        assert_eq!(full.3, out, "the outcome");
    }

    /// The ACK's cumulative side, for the one pass and for
    /// [`Core::ack_input`], which adds what only the full processing reads
    /// (SND.NXT, the SACK blocks, the duplicate and ECN flags, SRTT,
    /// whether new data is ready).
    #[inline(always)]
    fn flight_ack(&self, seg: &TcpRepr<'_>, snd: &SendHalf, facts: AckFacts) -> FlightAck {
        let mss = snd.mss;
        let cwnd = self.recovery.send_window(&self.cc);
        FlightAck {
            ack: facts.ack,
            prior_una: facts.prior_una,
            tsecr: seg
                .options
                .timestamp
                .filter(|_| self.neg.ts_ok())
                .map(|t| t.tsecr),
            rtt: facts.rtt,
            min_rtt: self.counters.min_rtt(),
            mss,
            cwnd_limited: self.xmit.cwnd_limited
                || facts.prior_in_flight.saturating_add(mss) >= cwnd,
            prior_in_flight: facts.prior_in_flight,
            ts_clock: self.ts_clock,
        }
    }

    /// The ACK as loss recovery sees it.
    fn ack_input<'a>(&self, seg: &'a TcpRepr<'_>, snd: &SendHalf, facts: AckFacts) -> AckInput<'a> {
        let f = self.flight_ack(seg, snd, facts);
        let sack_blocks: &[(SeqNum, SeqNum)] = if self.neg.sack_ok() {
            seg.options.sack_blocks.as_slice()
        } else {
            &[]
        };
        AckInput {
            ack: f.ack,
            prior_una: f.prior_una,
            snd_nxt: snd.nxt,
            sack_blocks,
            tsecr: f.tsecr,
            dupack: facts.dupack,
            rtt: f.rtt,
            min_rtt: f.min_rtt,
            srtt: self.rtt.srtt(),
            mss: f.mss,
            cwnd_limited: f.cwnd_limited,
            prior_in_flight: f.prior_in_flight,
            new_data_ready: snd.unsent() > 0 && snd.window_end().after(snd.nxt),
            ts_clock: f.ts_clock,
            // RFC 3168 §6.1.2: ECE counts only on an ECN connection.
            ece: self.neg.ecn.echoed(seg.flags),
            mtu_probe: self.mtu_probe_start(),
        }
    }
}

/// HyStart++ ended slow start during an ACK (`cc`'s exit count went past
/// `before`): the counters say which signal ended it.
#[inline]
fn count_hystart_exits(cc: &Congestion, before: u64, stats: &mut TcpExtStats) {
    if cc.hystart_exits() > before {
        // The delay signal enters CSS, still slow start; the ACK train
        // enters congestion avoidance.
        if cc.in_slow_start() {
            stats.tcp_hystart_delay_detect += 1;
        } else {
            stats.tcp_hystart_train_detect += 1;
        }
    }
}

/// Test builds: what the full processing of an ACK left, as
/// [`Core::full_on_ack_beside`] records it: loss recovery and the counters
/// (`Debug`), the congestion state, the outcome.
#[cfg(test)]
type FullAck = (String, Congestion, String, AckOutcome);

#[cfg(test)]
std::thread_local! {
    /// ACKs of nothing that took the short way of
    /// [`Core::recovery_on_ack_of_nothing`]
    /// on this thread.
    pub(in crate::tcp::conn) static ACKS_OF_NOTHING: core::cell::Cell<u64> =
        const { core::cell::Cell::new(0) };
    /// ACKs of the whole flight that took the one pass of
    /// [`Core::recovery_on_ack`] on this thread.
    pub(in crate::tcp::conn) static FLIGHT_ACKS: core::cell::Cell<u64> =
        const { core::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::{ACKS_OF_NOTHING, FLIGHT_ACKS};
    use crate::SeqNum;
    use crate::tcp::conn::Shutdown;
    use crate::tcp::conn::tests::{Harness, IRS, ISS, seg};
    use crate::wire::tcp::SackBlocks;

    fn taken() -> u64 {
        ACKS_OF_NOTHING.with(core::cell::Cell::get)
    }

    /// The short way is taken for the request/response case (the peer's
    /// answer after its ACK of our request, and a pure ACK after it), and
    /// only then: not while data is in flight, nor for a D-SACK or an ECN
    /// echo. `Core::recovery_on_ack` checks in test builds that it leaves
    /// what the full processing leaves.
    #[test]
    fn an_ack_of_nothing_with_nothing_in_flight_takes_the_short_way() {
        let mut h = Harness::established();
        let ts = |h: &Harness, ms: u64| (700 + ms as u32, Harness::tsval_at(h.now.total_millis()));
        h.send(b"request");
        assert_eq!(h.output().len(), 1);
        let (una, nxt) = (ISS + 1, ISS + 8);
        let before = taken();
        // Data acknowledging nothing of the request in flight: full way.
        h.at(150);
        let (v, e) = ts(&h, 150);
        h.feed(seg(".", IRS + 1, Some(una)).data(b"a").ts(v, e));
        assert_eq!(taken(), before, "data in flight");
        // The ACK of the request, then the answer acknowledging nothing
        // new, then a pure ACK: the last two take the short way.
        h.at(200);
        let (v, e) = ts(&h, 200);
        h.feed(seg(".", IRS + 2, Some(nxt)).ts(v, e));
        assert_eq!(taken(), before, "the ACK of the request");
        h.feed(seg("P.", IRS + 2, Some(nxt)).data(b"answer").ts(v, e));
        assert_eq!(taken(), before + 1, "the answer");
        h.feed(seg(".", IRS + 8, Some(nxt)).ts(v, e));
        assert_eq!(taken(), before + 2, "a pure ACK");
        // A D-SACK of the request: the full way, which counts it.
        let mut dsack = seg(".", IRS + 8, Some(nxt)).ts(v, e);
        dsack.options.sack_blocks = SackBlocks::from_slice(&[(SeqNum(una), SeqNum(nxt))]);
        h.feed(dsack);
        assert_eq!(taken(), before + 2, "a D-SACK");
        assert_eq!(h.info().dsack_dups, 1);
        h.output();
    }

    fn flights() -> u64 {
        FLIGHT_ACKS.with(core::cell::Cell::get)
    }

    /// The one pass is taken for an ACK of everything sent (a request, a
    /// FIN), and only then: not for an ACK of part of the flight, nor with
    /// an ECN echo or a SACK block. `Core::recovery_on_ack` checks in test
    /// builds that it leaves what the full processing leaves (loss
    /// recovery, the congestion state, the counters, the outcome).
    #[test]
    fn an_ack_of_the_whole_flight_takes_the_one_pass() {
        let mut h = Harness::established();
        let ts = |h: &Harness| {
            (
                700 + h.now.total_millis() as u32,
                Harness::tsval_at(h.now.total_millis()),
            )
        };
        h.send(b"request");
        assert_eq!(h.output().len(), 1);
        let before = flights();
        h.at(100);
        let (v, e) = ts(&h);
        // Part of the request: the full way; the rest: one pass.
        h.feed(seg(".", IRS + 1, Some(ISS + 4)).ts(v, e));
        assert_eq!(flights(), before, "part of the flight");
        h.feed(seg(".", IRS + 1, Some(ISS + 8)).ts(v, e));
        assert_eq!(flights(), before + 1, "the rest of the flight");
        // A second request acknowledged whole with the answer: one pass.
        h.send(b"again");
        assert_eq!(h.output().len(), 1);
        h.at(200);
        let (v, e) = ts(&h);
        h.feed(seg("P.", IRS + 1, Some(ISS + 13)).data(b"answer").ts(v, e));
        assert_eq!(flights(), before + 2, "the answer");
        assert_eq!(h.info().unacked, 0);
        h.output();
        // Our FIN, acknowledged whole: one pass.
        h.conn
            .shutdown(h.now, Shutdown::Write, &mut h.env)
            .expect("shutdown");
        assert_eq!(h.output().len(), 1);
        h.at(300);
        let (v, e) = ts(&h);
        h.feed(seg(".", IRS + 7, Some(ISS + 14)).ts(v, e));
        assert_eq!(flights(), before + 3, "the ACK of our FIN");
        // A request acknowledged whole with a D-SACK block: the full way.
        let mut h = Harness::established();
        h.send(b"third");
        assert_eq!(h.output().len(), 1);
        h.at(h.now.total_millis() + 50);
        let (v, e) = ts(&h);
        let mut sacked = seg(".", IRS + 1, Some(ISS + 6)).ts(v, e);
        sacked.options.sack_blocks = SackBlocks::from_slice(&[(SeqNum(ISS + 1), SeqNum(ISS + 6))]);
        h.feed(sacked);
        assert_eq!(flights(), before + 3, "a SACK block");
        assert_eq!(h.info().unacked, 0);
    }

    /// Scripted check of the bookkeeping an ACK of the whole flight does
    /// around loss recovery's one pass (RFC 9293 §3.10.7.4 "fifth"): the
    /// window update, SND.UNA and the freed buffer, the byte and delivery
    /// counters, the RTT sample (RFC 6298 §2.2), the timers (RFC 6298 §5.2:
    /// "When all outstanding data has been acknowledged, turn off the
    /// retransmission timer"; the idle release armed), the give-up clock
    /// and the Writable event of a sender that found the buffer full. Each
    /// assertion fails if its piece is dropped from the short way.
    #[test]
    fn an_ack_of_the_whole_flight_keeps_the_books() {
        use crate::tcp::conn::ConnEvent;
        use crate::tcp::timer::Timer;
        let mut h = Harness::established();
        let before = h.info();
        let delivered_stat = h.env.stats.tcp_ext.tcp_delivered;
        h.send(b"request");
        assert_eq!(h.output().len(), 1);
        assert!(h.conn.core.timers.is_armed(Timer::Retransmit));
        h.conn.core.life.set_writable_wanted(true);
        let flights_before = flights();
        h.at(160);
        let (v, e) = (760, Harness::tsval_at(160));
        h.feed(seg(".", IRS + 1, Some(ISS + 8)).ts(v, e).win(1_000));
        assert_eq!(flights(), flights_before + 1, "the one pass");
        let info = h.info();
        assert_eq!(
            h.snd_una_nxt(),
            (SeqNum(ISS + 8), SeqNum(ISS + 8)),
            "SND.UNA"
        );
        assert_eq!(info.unacked, 0);
        assert_eq!(info.notsent_bytes, 0);
        assert_eq!(info.bytes_acked, before.bytes_acked + 7, "bytes acked");
        assert_eq!(info.delivered, before.delivered + 1, "delivered");
        assert_eq!(
            h.env.stats.tcp_ext.tcp_delivered,
            delivered_stat + 1,
            "TcpExt delivered"
        );
        assert_eq!(info.snd_wnd, 1_000 << info.snd_wscale, "the window");
        assert_eq!(info.min_rtt, 60_000, "the RTT sample");
        assert!(info.rtt > 0 && info.rtt <= before.rtt.max(60_000));
        assert_eq!(info.retransmits, 0);
        let timers = &h.conn.core.timers;
        assert!(!timers.is_armed(Timer::Retransmit), "RTO stopped");
        assert!(!timers.is_armed(Timer::TailLossProbe), "TLP stopped");
        assert!(!timers.is_armed(Timer::RackReorder));
        assert!(timers.is_armed(Timer::Idle), "idle release armed");
        assert!(
            h.drain_events().contains(&ConnEvent::Writable),
            "a waiting sender is told"
        );
    }
}
