//! Loss recovery's part of an acceptable ACK (RFC 9293 §3.10.7.4 "fifth",
//! RFC 5681, RFC 6675, RFC 8985): the [`AckInput`] that
//! [`Core::process_ack`] hands to [`crate::tcp::recovery::LossRecovery`],
//! and the short way around it for an ACK of nothing while nothing is in
//! flight.

use crate::SeqNum;
use crate::tcp::congestion::CongestionControl;
use crate::tcp::conn::send::SendHalf;
use crate::tcp::conn::{Core, Env};
use crate::tcp::recovery::{AckInput, AckOutcome};
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
    /// An ACK of nothing (SEG.ACK = SND.UNA) while nothing is in flight,
    /// with no SACK block and no ECN echo, is a pure ACK to an idle sender
    /// or the peer's data while we have nothing out: two of a request and
    /// response's eight ACKs. Loss recovery then only notes the segment
    /// size and reports what its timers decided
    /// ([`crate::tcp::recovery::LossRecovery::on_ack_of_nothing`]), unless
    /// something is still to settle, so the [`AckInput`] is not even
    /// built. Test builds also run the full processing on copies and
    /// assert the same episode, congestion state, counters and outcome.
    #[inline]
    pub(in crate::tcp::conn) fn recovery_on_ack(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        snd: &SendHalf,
        facts: AckFacts,
        env: &mut Env,
    ) -> AckOutcome {
        let of_nothing = facts.ack == facts.prior_una
            && facts.prior_in_flight == 0
            && !self.neg.ecn.echoed(seg.flags)
            && (!self.neg.sack_ok() || seg.options.sack_blocks.is_empty());
        if of_nothing {
            #[cfg(test)]
            let full = {
                let (mut recovery, mut cc) = (self.recovery.clone(), self.cc.clone());
                let mut stats = env.stats.tcp_ext.clone();
                let input = self.ack_input(seg, snd, facts);
                let out = recovery.on_ack(now, &input, &mut cc, &mut stats);
                (format!("{recovery:?}"), cc, format!("{stats:?}"), out)
            };
            if let Some(out) = self.recovery.on_ack_of_nothing(facts.ack, snd.mss) {
                #[cfg(test)]
                {
                    assert_eq!(full.0, format!("{:?}", self.recovery), "the episode");
                    assert_eq!(full.1, self.cc, "the congestion state");
                    let stats = format!("{:?}", env.stats.tcp_ext);
                    assert_eq!(full.2, stats, "the counters");
                    assert_eq!(full.3, out, "the outcome");
                    ACKS_OF_NOTHING.with(|n| n.set(n.get() + 1));
                }
                return out;
            }
        }
        let input = self.ack_input(seg, snd, facts);
        let hystart_exits = self.cc.hystart_exits();
        let outcome = self
            .recovery
            .on_ack(now, &input, &mut self.cc, &mut env.stats.tcp_ext);
        if self.cc.hystart_exits() > hystart_exits {
            // The delay signal enters CSS, still slow start; the ACK
            // train enters congestion avoidance.
            if self.cc.in_slow_start() {
                env.stats.tcp_ext.tcp_hystart_delay_detect += 1;
            } else {
                env.stats.tcp_ext.tcp_hystart_train_detect += 1;
            }
        }
        outcome
    }

    /// The ACK as loss recovery sees it.
    fn ack_input<'a>(&self, seg: &'a TcpRepr<'_>, snd: &SendHalf, facts: AckFacts) -> AckInput<'a> {
        let mss = snd.mss;
        let cwnd = self.recovery.send_window(&self.cc);
        let sack_blocks: &[(SeqNum, SeqNum)] = if self.neg.sack_ok() {
            seg.options.sack_blocks.as_slice()
        } else {
            &[]
        };
        AckInput {
            ack: facts.ack,
            prior_una: facts.prior_una,
            snd_nxt: snd.nxt,
            sack_blocks,
            tsecr: seg
                .options
                .timestamp
                .filter(|_| self.neg.ts_ok())
                .map(|t| t.tsecr),
            dupack: facts.dupack,
            rtt: facts.rtt,
            min_rtt: self.counters.min_rtt(),
            srtt: self.rtt.srtt(),
            mss,
            cwnd_limited: self.xmit.cwnd_limited
                || facts.prior_in_flight.saturating_add(mss) >= cwnd,
            prior_in_flight: facts.prior_in_flight,
            new_data_ready: snd.unsent() > 0 && snd.window_end().after(snd.nxt),
            ts_clock: self.ts_clock,
            // RFC 3168 §6.1.2: ECE counts only on an ECN connection.
            ece: self.neg.ecn.echoed(seg.flags),
        }
    }
}

#[cfg(test)]
std::thread_local! {
    /// ACKs that took the short way of [`Core::recovery_on_ack`] on this
    /// thread.
    pub(in crate::tcp::conn) static ACKS_OF_NOTHING: core::cell::Cell<u64> =
        const { core::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::ACKS_OF_NOTHING;
    use crate::SeqNum;
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
}
