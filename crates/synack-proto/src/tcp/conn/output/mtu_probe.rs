//! When a path MTU probe may go (RFC 4821 §7.3-7.4), as Linux's
//! `tcp_mtu_probe` decides it: the connection is searching
//! (`conn::mtu_search`), no probe is out, loss recovery is quiet (Open),
//! the congestion window holds at least 11 segments and has room for two
//! more, and enough data waits that the probe is followed by
//! `reordering + 1` segments whose ACKs tell its fate quickly (RFC 4821
//! §7.4: a lost probe should be found by duplicate ACKs, not a timeout).
//! The probe is new data in one segment of the probed size, a packet of
//! its own (no offload cuts it).

use super::{Core, Env, Kind, Plan, ProbeRole};
use crate::tcp::conn::send::SendHalf;
use crate::tcp::recovery::CaState;
use crate::time::Instant;

/// Linux's smallest congestion window for a probe, in segments.
const MIN_CWND_SEGMENTS: u32 = 11;

/// What the output path does about a probe now.
pub(super) enum ProbeStep {
    /// No probe: plan the next segment as usual.
    Skip,
    /// A probe could go once the window drains: send nothing now (Linux
    /// `tcp_mtu_probe` returning 0 stops `tcp_write_xmit`).
    Wait,
    /// Send this probe.
    Send(Plan),
}

impl Core {
    /// The probe to send now, if the search wants one and may send it.
    #[cold]
    #[inline(never)]
    pub(super) fn plan_mtu_probe(
        &mut self,
        now: Instant,
        snd: &mut SendHalf,
        env: &Env,
    ) -> ProbeStep {
        let mss = snd.mss;
        let cwnd = self.send_window();
        if self.recovery.ca_state() != CaState::Open || cwnd < MIN_CWND_SEGMENTS.saturating_mul(mss)
        {
            return ProbeStep::Skip;
        }
        let headers = self.segment_headers();
        let config = &env.config;
        let Some(search) = self.mtu_search_mut() else {
            return ProbeStep::Skip;
        };
        let Some(mtu) =
            search.next_probe(now, config.tcp_probe_threshold, config.tcp_probe_interval)
        else {
            return ProbeStep::Skip;
        };
        let len = u32::from(mtu.saturating_sub(headers));
        if len <= mss {
            return ProbeStep::Skip;
        }
        // The probe, then enough segments to report on it by their ACKs.
        let needed = (self.recovery.reordering() + 1)
            .saturating_mul(mss)
            .saturating_add(len);
        let seq = snd.nxt;
        if snd.unsent() < needed || snd.wnd < needed || snd.record_room(seq) < len {
            return ProbeStep::Skip;
        }
        if snd.window_end().since(seq) < needed {
            return ProbeStep::Wait;
        }
        // Room for the probe in cwnd, counted as two segments as Linux
        // counts it; with nothing in flight, never wait.
        let pipe = self.pipe();
        if pipe.saturating_add(2 * mss) > cwnd {
            if pipe == 0 {
                return ProbeStep::Skip;
            }
            self.xmit.cwnd_limited = true;
            return ProbeStep::Wait;
        }
        // A packet of its own: nothing coalesces with it, no offload cuts it.
        snd.set_gso_end(seq);
        self.pending.set_force_push(false);
        ProbeStep::Send(Plan {
            len,
            kind: Kind::New,
            probe: ProbeRole::PathMtu,
            ..Plan::ack(seq)
        })
    }
}
