//! What each timer does when it fires.
//!
//! Read first: RFC 9293 §3.8.1 and §3.10.8 (retransmission, TIME-WAIT and
//! user timeouts), RFC 6298 §5.4-5.6 (on expiry: retransmit the earliest
//! unacknowledged segment, back off, restart), RFC 1122 §4.2.2.17 (probing
//! zero windows) and §4.2.3.6 (keep-alives), RFC 5482 (TCP_USER_TIMEOUT).
//!
//! The give-up rules are Linux's, which packetdrill scripts time: a SYN is
//! retransmitted `tcp_syn_retries` times (at 1, 3, 7, 15, 31, 63 s) and the
//! connect fails at 127 s; a SYN-ACK `tcp_synack_retries` times (half-open
//! entry gone at 63 s); data is given up when the time since its first
//! retransmitted segment was sent exceeds what `tcp_retries2` retransmissions
//! with exponential backoff from `rto_min` would take (Linux
//! `tcp_model_timeout`: 924.6 s for 15), or the user timeout.

use super::{CloseReason, Connection, Core, Env, State};
use crate::config::Config;
use crate::tcp::memory::{MemoryState, SOCK_MIN_SNDBUF};
use crate::tcp::recovery::{AckInput, Mark};
use crate::tcp::state::TcpState;
use crate::tcp::timer::Timer;
use crate::time::{Duration, Instant, Stamp};

/// Linux `TCP_TIMEWAIT_LEN`, which `tcp_out_of_resources` also takes as
/// "data sent recently".
const TCP_TIMEWAIT_LEN: Duration = Duration::from_secs(60);

/// Linux `tcp_model_timeout`: how long `boundary` retransmissions take with
/// the RTO doubling from `rto_base` up to `rto_max`.
pub fn model_timeout(boundary: u8, rto_base: Duration, rto_max: Duration) -> Duration {
    let base = rto_base.total_micros().max(1);
    let ratio = rto_max.total_micros() / base;
    let linear_backoff_thresh = if ratio == 0 { 0 } else { ratio.ilog2() };
    let boundary = u32::from(boundary);
    if boundary <= linear_backoff_thresh {
        rto_base.saturating_mul((2u64 << boundary) - 1)
    } else {
        rto_base.saturating_mul((2u64 << linear_backoff_thresh) - 1)
            + rto_max.saturating_mul(u64::from(boundary - linear_backoff_thresh))
    }
}

impl Connection {
    /// Fires every timer due at `now`. Harmless when none is.
    pub fn handle_timeout(&mut self, now: Instant, env: &mut Env) {
        // A due loss probe takes the place of an RTO due at the same time
        // (RFC 8985 §7.2: the PTO is capped at the RTO; Linux runs one timer
        // for both, and the probe re-arms the RTO).
        if self.core.timers.is_expired(Timer::TailLossProbe, now) {
            self.core.timers.stop(Timer::TailLossProbe);
            self.on_loss_probe_timeout(now, env);
        }
        while let Some(timer) = self.core.timers.pop_expired(now) {
            match timer {
                Timer::Retransmit => self.on_retransmit_timeout(now, env),
                Timer::Persist => self.on_persist_timeout(now, env),
                Timer::DelayedAck => self.on_delayed_ack_timeout(env),
                Timer::Keepalive => self.on_keepalive_timeout(now, env),
                Timer::FinWait2 => self.on_fin_wait2_timeout(now, env),
                Timer::TimeWait => self.on_time_wait_timeout(now, env),
                Timer::Idle => self.on_idle_timeout(),
                Timer::TailLossProbe => self.on_loss_probe_timeout(now, env),
                Timer::RackReorder => self.on_reorder_timeout(now, env),
            }
        }
    }

    /// RFC 6298 §5.4-5.6: retransmit, back off, restart; or give up.
    fn on_retransmit_timeout(&mut self, now: Instant, env: &mut Env) {
        let state = self.state.kind();
        if matches!(state, TcpState::SynSent | TcpState::SynReceived) {
            // TCP_SYNCNT overrides both sysctls (Linux `icsk_syn_retries`).
            let limit = match self.core.socket.syn_retries() {
                0 if state == TcpState::SynSent => env.config.tcp_syn_retries,
                0 => env.config.tcp_synack_retries,
                n => n,
            };
            // TCP_DEFER_ACCEPT (Linux `syn_ack_recalc`): once a bare ACK
            // came, the SYN-ACK is resent only for the deferral's last
            // period, and the half-open connection lasts the deferral.
            let retransmits = self.core.xmit.retransmits;
            let (defer, acked) = self.core.socket.defer_accept();
            if retransmits >= limit && (!acked || retransmits >= defer) {
                if state == TcpState::SynSent {
                    env.stats.tcp_ext.tcp_abort_on_timeout += 1;
                }
                self.close_with(now, env, CloseReason::TimedOut);
                return;
            }
            let resend = !acked || retransmits.saturating_add(1) >= defer;
            let core = &mut self.core;
            core.begin_retransmission(now, &env.config);
            core.pending.set_syn(resend);
            env.stats.tcp_ext.tcp_timeouts += 1;
            core.timers
                .set(Timer::Retransmit, now + core.rto_with_backoff(&env.config));
            return;
        }
        let Some(snd) = self.state.send_half() else {
            return;
        };
        if snd.in_flight() == 0 {
            return; // everything was acknowledged meanwhile
        }
        if self.core.life.orphan() {
            // Linux `tcp_write_timeout`: a reset is due while the RTO is
            // below its maximum, or before the orphan's retries ran out.
            let config = &env.config;
            let alive = self.core.rto_with_backoff(config) < config.tcp_rto_max;
            let retries = self.core.orphan_retries(config);
            let do_reset = alive || !self.core.retransmitting_longer_than(now, retries, config);
            if self.out_of_resources(now, env, do_reset) {
                return;
            }
        }
        if self.core.write_timed_out(now, &env.config) {
            env.stats.tcp_ext.tcp_abort_on_timeout += 1;
            self.close_with(now, env, CloseReason::TimedOut);
            return;
        }
        let core = &mut self.core;
        let Some(snd) = self.state.send_half_mut() else {
            return;
        };
        // Linux `tcp_write_timeout`: past `tcp_retries1` worth of timeouts,
        // black hole detection (RFC 4821 §7.2) before this retransmission,
        // which then goes in the smaller segments.
        let config = &env.config;
        if config.tcp_mtu_probing > 0
            && core.retransmitting_longer_than(now, config.tcp_retries1, config)
        {
            core.on_black_hole(now, snd, config);
        }
        if core.rare.is_some() {
            core.mtu_probe_on_timeout(snd.una, env);
        }
        // RFC 5681 §3.1 / RFC 6582 §4 / RFC 6675 §5.1: the loss window,
        // `recover`, and everything unSACKed lost: RFC 6298 §5.4 "Retransmit
        // the earliest segment that has not been acknowledged"; what follows
        // it is resent as ACKs open cwnd.
        let retransmits = core.xmit.retransmits;
        core.recovery.on_rto(
            now,
            &mut core.cc,
            snd.una,
            snd.nxt,
            retransmits,
            &mut env.stats.tcp_ext,
        );
        core.begin_retransmission(now, &env.config);
        // RFC 3168 §6.1.2: the window was reduced; tell an ECN receiver
        // (Linux `tcp_enter_loss` queues the CWR too).
        core.neg.ecn.queue_cwr();
        env.stats.tcp_ext.tcp_timeouts += 1;
        core.timers
            .set(Timer::Retransmit, now + core.rto_clamped(now, &env.config));
        core.timers.stop(Timer::TailLossProbe);
        core.timers.stop(Timer::RackReorder);
        core.trace_congestion(env, Some(Mark::Timeout));
    }

    /// RFC 8985 §7.3: the probe timeout expired; send a probe if one is
    /// still allowed, else leave the RTO to it.
    fn on_loss_probe_timeout(&mut self, now: Instant, env: &mut Env) {
        let Some(snd) = self.state.send_half() else {
            return;
        };
        if snd.in_flight() == 0 {
            return;
        }
        let core = &mut self.core;
        if core.recovery.on_tlp_timeout() {
            core.pending.set_loss_probe(true);
            // The probe restarts the RTO (Linux `tcp_send_loss_probe`).
            core.timers
                .set(Timer::Retransmit, now + core.rto_clamped(now, &env.config));
        } else if !core.timers.is_armed(Timer::Retransmit) {
            core.timers
                .set(Timer::Retransmit, now + core.rto_clamped(now, &env.config));
        }
    }

    /// RFC 8985 §6.3: the reordering window of held-back segments expired.
    fn on_reorder_timeout(&mut self, now: Instant, env: &mut Env) {
        let Some(snd) = self.state.send_half() else {
            return;
        };
        if snd.in_flight() == 0 {
            return;
        }
        let core = &mut self.core;
        let input = AckInput {
            ack: snd.una,
            prior_una: snd.una,
            snd_nxt: snd.nxt,
            sack_blocks: &[],
            tsecr: None,
            dupack: false,
            rtt: None,
            min_rtt: core.counters.min_rtt(),
            srtt: core.rtt.srtt(),
            mss: snd.mss,
            cwnd_limited: true,
            prior_in_flight: snd.in_flight(),
            new_data_ready: false,
            ts_clock: core.ts_clock,
            ece: false,
            mtu_probe: core.mtu_probe_start(),
        };
        let was_reducing = core.recovery.in_reduction();
        core.recovery
            .on_reorder_timeout(now, &input, &mut core.cc, &mut env.stats.tcp_ext);
        let reduced = !was_reducing && core.recovery.in_reduction();
        if reduced {
            // RFC 3168 §6.1.2: a reduction began; CWR on the next new data.
            core.neg.ecn.queue_cwr();
        }
        if let Some(snd) = self.state.send_half_mut() {
            core.settle_mtu_probe(snd, reduced, env);
        }
        if let Some(at) = core.recovery.reorder_deadline() {
            core.timers.set(Timer::RackReorder, at);
        }
        core.trace_congestion(env, None);
    }

    /// Linux `tcp_out_of_resources`, at an orphan's retransmission or probe
    /// timeout: with too many orphans (the count doubled after 2 × the RTO
    /// maximum without sending data, or when no reset is due; doubled again
    /// after an ICMP soft error), or with more than `SOCK_MIN_SNDBUF` to
    /// send while the buffer memory is exhausted, the orphan goes
    /// (`TCPAbortOnMemory`): with a reset if it sent data within the last
    /// minute, if the peer's window is closed with nothing in flight, or if
    /// `do_reset`; silently otherwise. Whether it went.
    fn out_of_resources(&mut self, now: Instant, env: &mut Env, do_reset: bool) -> bool {
        let config = &env.config;
        let since_send = self
            .core
            .xmit
            .last_data_sent
            .get()
            .map(|t| now.saturating_duration_since(t));
        let idle = since_send.is_some_and(|d| d > config.tcp_rto_max.saturating_mul(2));
        let shift = u32::from(idle || !do_reset) + u32::from(self.core.life.soft_error.is_some());
        let too_many = env.orphans << shift > config.tcp_max_orphans;
        let out_of_memory =
            self.send_queue() > SOCK_MIN_SNDBUF && env.memory.state() == MemoryState::Exhausted;
        if !too_many && !out_of_memory {
            return false;
        }
        let recent = since_send.is_none_or(|d| d <= TCP_TIMEWAIT_LEN);
        let window_closed = self
            .state
            .send_half()
            .is_some_and(|s| s.wnd == 0 && s.in_flight() == 0);
        env.stats.tcp_ext.tcp_abort_on_memory += 1;
        if do_reset || recent || window_closed {
            self.abort(now, env);
        } else {
            self.close_with(now, env, CloseReason::Aborted);
        }
        true
    }

    /// RFC 1122 §4.2.2.17: probe a zero window, backing off like the RTO;
    /// with the window open, push data held by the cork or by sender silly
    /// window avoidance (RFC 9293 §3.8.6.2.1 (4), the override timeout).
    fn on_persist_timeout(&mut self, now: Instant, env: &mut Env) {
        let core = &mut self.core;
        let Some(snd) = self.state.send_half() else {
            return;
        };
        if snd.in_flight() > 0 || (snd.unsent() == 0 && snd.fin == super::FinState::Open) {
            return;
        }
        if snd.window_end().after(snd.nxt) {
            core.pending.set_force_push(true);
            return;
        }
        // A zero window. Unanswered probes count like retransmissions
        // (Linux `tcp_probe_timer`).
        let user_timeout_passed = match (
            core.socket.cold().user_timeout,
            core.xmit.probes_stamp().get(),
        ) {
            (Some(limit), Some(first)) => now.saturating_duration_since(first) >= limit,
            _ => false,
        };
        // An orphan gets `tcp_orphan_retries` probes, and none more once
        // the backed-off RTO reached its maximum (Linux `tcp_probe_timer`).
        let max_probes = match core.life.orphan() {
            true => core.orphan_retries(&env.config),
            false => env.config.tcp_retries2,
        };
        let stuck = core.life.orphan()
            && core.rto_with_backoff(&env.config) >= env.config.tcp_rto_max
            && core.rtt.backoffs() >= u32::from(max_probes);
        if !stuck && core.life.orphan() && self.out_of_resources(now, env, true) {
            return;
        }
        let core = &mut self.core;
        if user_timeout_passed || stuck || core.xmit.probes_out() >= u32::from(max_probes) {
            env.stats.tcp_ext.tcp_abort_on_timeout += 1;
            self.close_with(now, env, CloseReason::TimedOut);
            return;
        }
        core.pending.set_probe(true);
        core.xmit.note_probe(now);
        env.stats.tcp_ext.tcp_win_probe += 1;
        core.rtt.backoff();
        let when = core
            .rto_with_backoff(&env.config)
            .max(env.config.tcp_rto_min)
            .min(env.config.tcp_rto_max);
        core.timers.set(Timer::Persist, now + when);
    }

    /// The delayed ACK is due.
    fn on_delayed_ack_timeout(&mut self, env: &mut Env) {
        let core = &mut self.core;
        if !core.ack.scheduled {
            return;
        }
        core.ack.on_delack_timeout(core.rtt.rto());
        core.ack.now = true;
        env.stats.tcp_ext.delayed_acks += 1;
    }

    /// RFC 1122 §4.2.3.6 with Linux's rules (`tcp_keepalive_timer`): after
    /// `idle` without hearing from the peer, probe every `interval`; after
    /// `count` unanswered probes (or the user timeout) reset and give up.
    fn on_keepalive_timeout(&mut self, now: Instant, env: &mut Env) {
        let state = self.state.kind();
        let core = &mut self.core;
        if !core.life.keepalive() || !state.is_synchronized() || state == TcpState::TimeWait {
            return;
        }
        let idle = core.keepalive_idle(&env.config);
        let Some(snd) = self.state.send_half() else {
            return;
        };
        // Data in flight or waiting: the retransmission timer watches the
        // peer, not keepalive.
        if snd.in_flight() > 0 || snd.unsent() > 0 {
            core.timers.set(Timer::Keepalive, now + idle);
            return;
        }
        let quiet = now.saturating_duration_since(core.xmit.last_recv);
        if quiet < idle {
            core.timers.set(Timer::Keepalive, now + (idle - quiet));
            return;
        }
        let count = core
            .socket
            .cold()
            .keep_count
            .unwrap_or(env.config.tcp_keepalive_probes);
        let give_up = match core.socket.cold().user_timeout {
            Some(limit) => quiet >= limit && core.xmit.probes_out() > 0,
            None => core.xmit.probes_out() >= u32::from(count),
        };
        if give_up {
            let (seq, ack) = (snd.nxt, self.state.recv_half().map(|r| r.nxt));
            self.core
                .pending
                .set_rst(super::PendingRst::Abort { seq, ack });
            env.stats.tcp_ext.tcp_abort_on_timeout += 1;
            self.close_with(now, env, CloseReason::TimedOut);
            return;
        }
        core.pending.set_probe(true);
        core.xmit.note_keepalive_probe();
        env.stats.tcp_ext.tcp_keep_alive += 1;
        let interval = core
            .socket
            .cold()
            .keep_interval
            .unwrap_or(env.config.tcp_keepalive_intvl);
        core.timers.set(Timer::Keepalive, now + interval);
    }

    /// Linux `tcp_fin_timeout`: an orphaned connection stops waiting for the
    /// peer's FIN.
    fn on_fin_wait2_timeout(&mut self, now: Instant, env: &mut Env) {
        if self.state.kind() == TcpState::FinWait2 && self.core.life.orphan() {
            self.close_with(now, env, CloseReason::TimedOut);
        }
    }

    /// RFC 9293 §3.10.8: "If the time-wait timeout expires on a connection,
    /// delete the TCB, enter the CLOSED state, and return."
    fn on_time_wait_timeout(&mut self, now: Instant, env: &mut Env) {
        if let State::TimeWait(t) = &self.state {
            if t.tw.expires > now {
                self.core.timers.set(Timer::TimeWait, t.tw.expires);
                return;
            }
            env.stats.tcp_ext.tw += 1;
            self.close_with(now, env, CloseReason::Normal);
        }
    }

    /// The buffers stayed empty: give their memory back.
    fn on_idle_timeout(&mut self) {
        if let Some(snd) = self.state.send_half_mut() {
            snd.release_if_empty();
        }
        self.core.recovery.release_if_empty();
        if let Some(rcv) = self.state.recv_half_mut() {
            rcv.release_if_empty();
        }
        if let State::Closed(c) = &mut self.state {
            c.unread.release_if_empty();
        }
    }
}

impl Core {
    /// A timeout retransmission begins: count it, back off, stop RTT timing
    /// (Karn), and start the give-up clock at the first one.
    fn begin_retransmission(&mut self, now: Instant, config: &Config) {
        if self.xmit.retransmits == 0 {
            // The data now resent was sent one RTO ago (Linux retrans_stamp
            // is the head segment's first transmission).
            self.xmit
                .set_retrans_stamp(Stamp::at(now - self.rto_with_backoff(config)));
        }
        self.xmit.retransmits = self.xmit.retransmits.saturating_add(1);
        self.xmit.rtt_timed = super::TimedSegment::NONE;
        self.rtt.backoff();
    }

    /// Linux `retransmits_timed_out` for synchronized states: the user
    /// timeout if set, else the time `tcp_retries2` backoffs take (an
    /// orphan's: [`Core::orphan_retries`], Linux `tcp_write_timeout`).
    pub(super) fn write_timed_out(&self, now: Instant, config: &Config) -> bool {
        let Some(retransmitting) = self.retransmitting_for(now) else {
            return false;
        };
        let boundary = match self.life.orphan() {
            true => self.orphan_retries(config),
            false => config.tcp_retries2,
        };
        let limit = self
            .socket
            .cold()
            .user_timeout
            .unwrap_or_else(|| model_timeout(boundary, config.tcp_rto_min, config.tcp_rto_max));
        retransmitting >= limit
    }

    /// Linux `tcp_orphan_retries`: the backoffs an orphan (a connection
    /// the application closed, that the stack finishes) gets before it is
    /// given up, so that closed connections to dead peers do not hold
    /// memory for `tcp_retries2`'s quarter of an hour. `tcp_orphan_retries`,
    /// where 0 means 8 (more than 100 s from a 200 ms RTO) while the
    /// backed-off RTO is below its maximum; none once it is not and an ICMP
    /// error has said something is wrong (`sk_err_soft`).
    pub(super) fn orphan_retries(&self, config: &Config) -> u8 {
        let alive = self.rto_with_backoff(config) < config.tcp_rto_max;
        match config.tcp_orphan_retries {
            _ if self.life.soft_error.is_some() && !alive => 0,
            0 if alive => 8,
            n => n,
        }
    }

    /// Linux `retransmits_timed_out(sk, boundary, 0)`: whether the
    /// retransmissions have gone on as long as `boundary` backoffs take.
    fn retransmitting_longer_than(&self, now: Instant, boundary: u8, config: &Config) -> bool {
        self.retransmitting_for(now).is_some_and(|retransmitting| {
            retransmitting >= model_timeout(boundary, config.tcp_rto_min, config.tcp_rto_max)
        })
    }

    /// How long the unacknowledged head has been retransmitted (since it
    /// was first sent, Linux `retrans_stamp`); `None` before a timeout.
    fn retransmitting_for(&self, now: Instant) -> Option<Duration> {
        if self.xmit.retransmits == 0 {
            return None;
        }
        let start = self.xmit.retrans_stamp().get()?;
        Some(now.saturating_duration_since(start))
    }

    /// The RTO with backoff, cut short so a user timeout is noticed on time
    /// (Linux `tcp_clamp_rto_to_user_timeout`).
    pub(super) fn rto_clamped(&self, now: Instant, config: &Config) -> Duration {
        let rto = self.rto_with_backoff(config);
        match (
            self.socket.cold().user_timeout,
            self.xmit.retrans_stamp().get(),
        ) {
            (Some(limit), Some(start)) => {
                let remaining = limit - now.saturating_duration_since(start);
                rto.min(remaining.max(Duration::from_millis(1)))
            }
            _ => rto,
        }
    }

    /// How long an orphan waits in FIN-WAIT-2: TCP_LINGER2 or
    /// `tcp_fin_timeout`, but at least 3.5 RTOs (Linux `tcp_fin_time`:
    /// `(rto << 2) - (rto >> 1)`, so that a peer's FIN retransmitted after
    /// a loss still finds the connection); `None` for no wait at all
    /// (TCP_LINGER2 below zero, `tcp_fin_time`'s callers).
    pub(super) fn fin_wait2_timeout(&self, config: &Config) -> Option<Duration> {
        let wait = match self.socket.cold().linger2 {
            super::Linger2::Default => config.tcp_fin_timeout,
            super::Linger2::Timeout(d) => d,
            super::Linger2::Abort => return None,
        };
        let rto = self.rto_with_backoff(config).total_micros();
        Some(wait.max(Duration::from_micros((rto << 2) - (rto >> 1))))
    }

    /// TCP_KEEPIDLE or `tcp_keepalive_time`.
    pub(super) fn keepalive_idle(&self, config: &Config) -> Duration {
        self.socket
            .cold()
            .keep_idle
            .unwrap_or(config.tcp_keepalive_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_timeout_matches_linux() {
        let min = Duration::from_millis(200);
        let max = Duration::from_secs(120);
        // tcp_retries2 = 15: 924.6 s.
        assert_eq!(model_timeout(15, min, max), Duration::from_millis(924_600));
        // SYN: 6 retries from 1 s = 127 s.
        assert_eq!(
            model_timeout(6, Duration::from_secs(1), max),
            Duration::from_secs(127)
        );
        assert_eq!(model_timeout(0, min, max), min);
        assert_eq!(model_timeout(3, min, max), Duration::from_millis(3000));
    }
}
