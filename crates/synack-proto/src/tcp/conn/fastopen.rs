//! TCP Fast Open (RFC 7413) inside one connection: the client's first SYN
//! with a cookie (or a cookie request) and data, what the client learns
//! from the SYN-ACK, and the server's child that took data from the SYN.
//!
//! Read first: RFC 7413 §3 (overview), §4.1.1 (the option, kind 34; kind
//! 254 with magic 0xF989 is the experimental form, RFC 6994), §4.2.1 (client:
//! "the client MUST NOT send data in a retransmitted SYN"... and resends
//! unacknowledged SYN data after the handshake), §4.2.2 (server: data goes
//! to the application at once, the SYN-ACK acknowledges it), §5.1 (the
//! server's cap on pending Fast Open connections). Linux: `tcp_send_syn_data`,
//! `tcp_rcv_fastopen_synack`, `tcp_fastopen_create_child`.
//!
//! The stack owns the policy (which cookie, how much data may ride in the
//! SYN, the client cookie cache, the server keys: [`crate::tcp::fastopen`]);
//! a connection carries it out and reports what happened.

use super::{ConnParams, Connection, Core, Env, SendHalf, State};
use crate::tcp::timer::Timer;
use crate::time::Instant;
use crate::wire::TcpRepr;
use crate::wire::tcp::FastOpenOption;
use core::net::SocketAddrV4;

/// What the stack decided for an active open's first SYN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastOpenClientPlan {
    /// The option of the first SYN: a cookie, or a request (an empty
    /// cookie). `None`: no option (Linux `tcp_fastopen` 0x4 sends data
    /// without a cookie).
    pub option: Option<FastOpenOption>,
    /// The most data the first SYN may carry (0: none).
    pub max_syn_data: u32,
    /// `TCP_FASTOPEN_CONNECT` with a cookie: hold the SYN until the first
    /// send, which it then carries.
    pub defer: bool,
}

/// What a SYN-ACK taught a Fast Open client, for the stack's cookie cache
/// (Linux `tcp_rcv_fastopen_synack` and `tcp_fastopen_cache_set`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastOpenReport {
    /// The server's MSS option, if the SYN-ACK came.
    pub mss: Option<u16>,
    /// A cookie to cache: RFC 7413 §4.1.1 says 4 to 16 bytes; like Linux,
    /// odd lengths are ignored too.
    pub cookie: Option<FastOpenOption>,
    /// Data bytes our first SYN carried.
    pub syn_data_sent: u32,
    /// The SYN-ACK acknowledged all of them.
    pub syn_data_acked: bool,
    /// The SYN was retransmitted and neither a cookie nor an acknowledgment
    /// of its data came back (or no SYN-ACK came at all): SYNs with data (or
    /// the option) may be dropped on this path (RFC 7413 §4.2.1).
    pub syn_lost: bool,
    /// We asked for a cookie and got none: 1 to try the experimental option
    /// next time, 2 to go back to kind 34 for good (Linux `try_exp`).
    pub try_exp: u8,
}

/// A connection's Fast Open status (for `tcp_info` and tools).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastOpenInfo {
    /// Our first SYN carried a Fast Open option (cookie or request).
    pub syn_option_sent: bool,
    /// That option was a cookie request.
    pub cookie_requested: bool,
    /// Data bytes our first SYN carried.
    pub syn_data_sent: u32,
    /// The peer's SYN-ACK acknowledged them.
    pub syn_data_acked: bool,
    /// A server's child made by Fast Open (data or a valid cookie on the SYN).
    pub passive: bool,
    /// Bytes taken from the SYN (server side).
    pub passive_data: u32,
}

/// Fast Open state of one connection.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastOpen {
    plan: Option<FastOpenClientPlan>,
    /// The SYN is held until the first send.
    deferred: bool,
    info: FastOpenInfo,
    /// The SYN-ACK arrived (the report was made).
    synack_seen: bool,
    report: Option<FastOpenReport>,
    report_taken: bool,
    /// The option our first SYN-ACK carries (a cookie, server side).
    syn_ack_option: Option<FastOpenOption>,
}

impl Core {
    /// The Fast Open state, if this connection used Fast Open.
    pub(super) fn tfo(&self) -> Option<&FastOpen> {
        self.rare.as_ref()?.tfo.as_ref()
    }

    /// [`Core::tfo`], to change.
    fn tfo_opt_mut(&mut self) -> Option<&mut FastOpen> {
        self.rare.as_deref_mut()?.tfo.as_mut()
    }

    /// The Fast Open state, made on first use.
    fn tfo_mut(&mut self) -> &mut FastOpen {
        self.rare
            .get_or_insert_with(Box::default)
            .tfo
            .get_or_insert_with(FastOpen::default)
    }

    /// A server child made by Fast Open.
    pub(super) fn tfo_is_passive(&self) -> bool {
        self.tfo().is_some_and(|t| t.info.passive)
    }
}

impl Connection {
    /// Makes this active open a Fast Open one (call right after
    /// [`Connection::connect`], before anything is sent).
    pub fn set_fastopen_client(&mut self, plan: FastOpenClientPlan) {
        let defer = plan.defer && matches!(self.state, State::SynSent(_));
        let tfo = self.core.tfo_mut();
        tfo.plan = Some(plan);
        if defer {
            tfo.deferred = true;
            self.core.pending.set_syn(false);
        }
    }

    /// A passive open for a SYN a Fast Open listener handled (RFC 7413
    /// §4.2.2): with `take_data`, a Fast Open child that takes the SYN's
    /// data at once (the SYN-ACK acknowledges it) and may send before the
    /// handshake completes; `reply` is the option our SYN-ACK carries (a
    /// cookie for a request, a fresh one for a cookie made with the backup
    /// key or an invalid one).
    #[allow(clippy::too_many_arguments)]
    pub fn accept_fast_open(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        params: &ConnParams,
        reply: Option<FastOpenOption>,
        take_data: bool,
        env: &mut Env,
    ) -> Connection {
        let mut conn = Connection::accept_syn(now, local, remote, syn, params, env);
        conn.core.tfo_mut().syn_ack_option = reply;
        if take_data {
            conn.core.tfo_mut().info.passive = true;
            if let State::SynReceived(s) = &mut conn.state {
                // The window our SYN-ACK offers is open for the SYN's data.
                s.rcv.advertise_unscaled();
                let got = s.rcv.receive(syn.seq + 1u32, syn.payload, false);
                conn.core.tfo_mut().info.passive_data = got.in_order;
                if got.in_order > 0 {
                    conn.core.counters.data_mut().bytes_received += u64::from(got.in_order);
                }
                if got.in_order > 0 {
                    conn.core.xmit.last_data_recv = crate::time::Stamp::at(now);
                }
            }
        }
        conn
    }

    /// Fast Open status.
    pub fn fastopen_info(&self) -> FastOpenInfo {
        self.core.tfo().map(|t| t.info).unwrap_or_default()
    }

    /// What the SYN-ACK taught this Fast Open client, once (or, if the
    /// connection gave up in SYN-SENT after its first SYN carried the
    /// option, a report of the lost SYN).
    pub fn take_fastopen_report(&mut self) -> Option<FastOpenReport> {
        // Asked after every segment: nothing to look at without Fast Open.
        self.core.tfo()?;
        let closed = self.state.kind() == crate::tcp::TcpState::Closed;
        let retransmitted = self.core.counters.data().total_retrans > 0;
        let tfo = self.core.tfo_opt_mut()?;
        if tfo.report_taken {
            return None;
        }
        if let Some(report) = tfo.report.take() {
            tfo.report_taken = true;
            return Some(report);
        }
        let gave_up = closed && !tfo.synack_seen && tfo.info.syn_option_sent && retransmitted;
        if gave_up {
            tfo.report_taken = true;
            return Some(FastOpenReport {
                syn_data_sent: tfo.info.syn_data_sent,
                syn_lost: true,
                ..FastOpenReport::default()
            });
        }
        None
    }
}

impl Core {
    /// Fast Open status, for `tcp_info`.
    pub(super) fn tfo_info_for_tcp_info(&self) -> FastOpenInfo {
        self.tfo().map(|t| t.info).unwrap_or_default()
    }

    /// Data bytes the SYN about to go out carries: only the first SYN
    /// (RFC 7413 §4.2.1: a retransmitted SYN carries none).
    pub(super) fn tfo_syn_data_len(&self, snd: &SendHalf) -> u32 {
        match self.tfo().and_then(|t| t.plan) {
            Some(plan) if self.xmit.retransmits == 0 => plan.max_syn_data.min(snd.unsent()),
            _ => 0,
        }
    }

    /// The Fast Open option of the SYN about to go out: only the first
    /// (Linux drops the option, cookie request included, on retransmission).
    pub(super) fn tfo_syn_option(&self) -> Option<FastOpenOption> {
        self.tfo()
            .and_then(|t| t.plan)
            .filter(|_| self.xmit.retransmits == 0)
            .and_then(|p| p.option)
    }

    /// The first SYN went out with `data` bytes and `option`.
    pub(super) fn tfo_on_syn_sent(&mut self, option: Option<FastOpenOption>, data: u32) {
        let first = self.xmit.retransmits == 0;
        let Some(tfo) = self.tfo_opt_mut().filter(|t| t.plan.is_some() && first) else {
            return;
        };
        let info = &mut tfo.info;
        info.syn_option_sent = option.is_some();
        info.cookie_requested = option.is_some_and(|o| o.cookie.is_request());
        info.syn_data_sent = data;
    }

    /// The option of our SYN-ACK: only the first one carries it (Linux
    /// rebuilds retransmitted SYN-ACKs without the cookie).
    pub(super) fn tfo_syn_ack_option(&self) -> Option<FastOpenOption> {
        self.tfo()
            .and_then(|t| t.syn_ack_option)
            .filter(|_| self.xmit.retransmits == 0)
    }

    /// Whether a SYN-RECEIVED connection may send data: a Fast Open child
    /// may, once its SYN-ACK is out (RFC 7413 §4.2.2).
    pub(super) fn tfo_may_send_in_syn_received(&self) -> bool {
        self.tfo_is_passive() && !self.pending.syn()
    }

    /// A deferred (`TCP_FASTOPEN_CONNECT`) SYN goes with the first data.
    pub(super) fn tfo_on_send(&mut self) {
        if let Some(tfo) = self.tfo_opt_mut().filter(|t| t.deferred) {
            tfo.deferred = false;
            self.pending.set_syn(true);
        }
    }

    /// The handshake completed on a server child: data it sent in
    /// SYN-RECEIVED and the SYN-ACK did not cover still needs its timer.
    pub(super) fn tfo_on_passive_established(&mut self, now: Instant, snd: &SendHalf) {
        if self.tfo_is_passive() && snd.in_flight() > 0 && !self.timers.is_armed(Timer::Retransmit)
        {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
    }

    /// The SYN-ACK answered our SYN (`snd` already moved to its ACK): what
    /// the server said about Fast Open (Linux `tcp_rcv_fastopen_synack`).
    /// Returns whether SYN data it did not acknowledge must be sent again
    /// at once (once the handshake is done: loss recovery's business).
    #[must_use]
    pub(super) fn tfo_on_syn_ack(
        &mut self,
        seg: &TcpRepr<'_>,
        snd: &SendHalf,
        env: &mut Env,
    ) -> bool {
        let retransmitted = self.counters.data().total_retrans > 0;
        let Some(tfo) = self.tfo_opt_mut().filter(|t| t.plan.is_some()) else {
            return false;
        };
        tfo.synack_seen = true;
        let info = tfo.info;
        // A cookie worth caching: 4 to 16 bytes (the parser drops others)
        // of even length, as Linux requires.
        let cookie = seg
            .options
            .fast_open
            .filter(|o| !o.cookie.is_request() && o.cookie.as_slice().len() % 2 == 0)
            .filter(|_| info.syn_option_sent);
        let data_unacked = info.syn_data_sent > 0 && snd.una.before(snd.nxt);
        let mut report = FastOpenReport {
            mss: seg.options.mss,
            cookie,
            syn_data_sent: info.syn_data_sent,
            syn_data_acked: info.syn_data_sent > 0 && !data_unacked,
            ..FastOpenReport::default()
        };
        if !info.syn_option_sent && info.syn_data_sent == 0 {
            // No Fast Open was tried: nothing to learn (Linux ignores an
            // unsolicited cookie).
            report.cookie = None;
        } else if retransmitted {
            report.syn_lost = cookie.is_none() && info.syn_data_sent > 0 && data_unacked;
        } else if cookie.is_none() && info.syn_data_sent == 0 {
            let sent_exp = tfo
                .plan
                .and_then(|p| p.option)
                .is_some_and(|o| o.experimental);
            report.try_exp = if sent_exp { 2 } else { 1 };
        }
        tfo.info.syn_data_acked = report.syn_data_acked;
        tfo.report = Some(report);
        if report.syn_data_acked {
            env.stats.tcp_ext.tcp_fast_open_active += 1;
        } else if info.syn_data_sent > 0 {
            env.stats.tcp_ext.tcp_fast_open_active_fail += 1;
            // RFC 7413 §4.2.1 ("the client ... retransmits the data not
            // acknowledged"): all of it, now, as Linux marks it lost.
            return data_unacked;
        }
        false
    }
}
