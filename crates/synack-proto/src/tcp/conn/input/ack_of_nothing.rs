//! The short way for an acceptable ACK that acknowledges nothing while
//! nothing is in flight (SEG.ACK = SND.UNA = SND.NXT): the peer's data or
//! FIN while we have nothing out, or the handshake's ACK once the SYN-ACK
//! is acknowledged. Four of a handshake's eight ACKs.
//!
//! RFC 9293 §3.10.7.4 "fifth" then has nothing to advance and no RTT to
//! sample, RFC 5681 §2 sees no duplicate (nothing is outstanding), and
//! RFC 6298 §5.2 stops the retransmission timer; what is left is the
//! window update, loss recovery's note of the ACK and the probes' end. The
//! general steps ([`Core::process_ack_general`]) do the same for such an
//! ACK after some thirty tests of what it cannot be; test builds can switch
//! the short way off (`super::idle_ack::OFF`) and compare whole connection
//! histories (`tcp/conn/tests/idle_ack.rs`).

use crate::tcp::conn::send::SendHalf;
use crate::tcp::conn::{Core, Env};
use crate::tcp::recovery::AckOutcome;
use crate::tcp::timer::Timer;
use crate::time::{Instant, Stamp};
use crate::wire::TcpRepr;

impl Core {
    /// [`Core::process_ack`] for an ACK of SND.UNA = SND.NXT. Out of line:
    /// one copy for both callers, without the general steps' larger frame.
    #[inline(never)]
    pub(in crate::tcp::conn) fn process_ack_of_nothing(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        snd: &mut SendHalf,
        env: &mut Env,
    ) {
        debug_assert!(snd.una == snd.nxt && seg.ack == Some(snd.una));
        #[cfg(test)]
        super::idle_ack::TAKEN.with(|n| n.set(n.get() + 1));
        self.xmit.last_ack_recv = Stamp::at(now);
        // Any acceptable ACK answers outstanding probes (Linux tcp_ack).
        self.xmit.clear_probes();
        // RFC 9293 §3.10.7.4: "If SND.UNA =< SEG.ACK =< SND.NXT, the send
        // window should be updated" (whether it changed only decides a
        // duplicate, and with nothing outstanding this is none).
        snd.update_window(seg.seq, snd.una, seg.window);
        let outcome = if self.recovery.has_episode() {
            self.recovery_on_ack_of_nothing(now, seg, snd, env)
        } else {
            AckOutcome::default()
        };
        if outcome.reduced {
            // RFC 3168 §6.1.2, as in the general steps.
            self.neg.ecn.queue_cwr();
        }
        // RFC 6298 §5.2: "When all outstanding data has been acknowledged,
        // turn off the retransmission timer."
        self.xmit.set_rtx_tsval(None);
        self.timers.stop(Timer::Retransmit);
        self.timers.stop(Timer::TailLossProbe);
        self.timers.stop(Timer::RackReorder);
        self.trace_congestion(env, None);
        self.end_probing_if_open(snd);
    }
}
