//! [`TcpInfo`]: a connection's vital signs, like Linux's `struct tcp_info`.
//!
//! Read first: Linux include/uapi/linux/tcp.h (`struct tcp_info`) and
//! net/ipv4/tcp.c `tcp_get_info`; RFC 4898 (TCP extended statistics) names
//! several of the counters. Field names are Linux's `tcpi_*` without the
//! prefix; units are Linux's (µs for times measured, ms for "last_*" ages,
//! segments for windows, bytes for byte counters).

use super::{Connection, State};
use crate::tcp::congestion::CongestionControl;
use crate::tcp::recovery::CaState;
use crate::tcp::state::TcpState;
use crate::tcp::timer::Timer;
use crate::time::{Instant, Stamp};

/// `tcpi_options` bits.
pub mod options {
    pub const TIMESTAMPS: u8 = 1;
    pub const SACK: u8 = 2;
    pub const WSCALE: u8 = 4;
    /// Linux `TCPI_OPT_ECN`: ECN is on (RFC 3168; while SYN-SENT: asked
    /// for, as Linux reports it).
    pub const ECN: u8 = 8;
    /// Linux `TCPI_OPT_ECN_SEEN`: the peer sent ECT or CE data.
    pub const ECN_SEEN: u8 = 16;
    /// Linux `TCPI_OPT_SYN_DATA`: data in the SYN was acknowledged (client)
    /// or accepted (server), RFC 7413.
    pub const SYN_DATA: u8 = 32;
}

/// The timer `ss -o` shows for a socket (Linux's `inet_diag_msg`'s
/// `idiag_timer`, `idiag_expires` and `idiag_retrans`, as
/// `inet_sk_diag_fill` picks them): at most one, the first armed of
/// retransmission (the RTO, a tail loss probe or RACK's reordering window:
/// Linux's one `icsk_timeout`), the zero-window probe, then keepalive (and
/// an orphan's FIN-WAIT-2 timeout, which Linux runs on the same timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketTimer {
    pub kind: SocketTimerKind,
    pub expires: Instant,
    /// Retransmissions of the current data (`on`), probes unanswered
    /// (`persist`, `keepalive`), 0 (`timewait`).
    pub retrans: u32,
}

/// [`SocketTimer`]'s kinds, by ss's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketTimerKind {
    On,
    Keepalive,
    TimeWait,
    Persist,
}

impl SocketTimerKind {
    /// The name ss prints (`tmr_name`).
    pub fn name(self) -> &'static str {
        match self {
            SocketTimerKind::On => "on",
            SocketTimerKind::Keepalive => "keepalive",
            SocketTimerKind::TimeWait => "timewait",
            SocketTimerKind::Persist => "persist",
        }
    }
}

/// A snapshot of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    pub state: TcpState,
    pub ca_state: CaState,
    /// Consecutive timeouts of the current data (Linux `icsk_retransmits`).
    pub retransmits: u8,
    /// Unanswered zero-window or keepalive probes.
    pub probes: u32,
    /// Backoffs of the current RTO.
    pub backoff: u32,
    /// [`options`] bits.
    pub options: u8,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    /// RTO with backoff, µs.
    pub rto: u64,
    /// Delayed-ACK timeout, µs.
    pub ato: u64,
    /// Effective send MSS.
    pub snd_mss: u32,
    /// The path MTU as the route and ICMP give it (Linux `tcpi_pmtu`); a
    /// path MTU search's segments may be smaller (RFC 4821).
    pub pmtu: u32,
    /// Estimated receive MSS.
    pub rcv_mss: u32,
    /// Segments in flight (estimated from bytes).
    pub unacked: u32,
    /// Ms since data was last sent / received / an ACK received.
    pub last_data_sent: u64,
    pub last_data_recv: u64,
    pub last_ack_recv: u64,
    /// Smoothed RTT and its mean deviation, µs.
    pub rtt: u64,
    pub rttvar: u64,
    /// Slow start threshold and congestion window, in segments.
    pub snd_ssthresh: u32,
    pub snd_cwnd: u32,
    /// The MSS we advertised.
    pub advmss: u32,
    /// The reordering degree in segments (the duplicate-ACK threshold).
    pub reordering: u32,
    /// Segments SACKed, deemed lost, and retransmitted and in flight.
    pub sacked: u32,
    pub lost: u32,
    pub retrans: u32,
    /// Times reordering was detected.
    pub reord_seen: u32,
    /// D-SACKs received.
    pub dsack_dups: u32,
    /// Receive-buffer autotuning's measure (Linux's `tcpi_rcv_space`):
    /// the bytes the application read in the last round trip that read
    /// more than the one before, at first `tcp_init_cwnd` segments of the
    /// MSS we advertised (at most the buffer).
    pub rcv_space: u32,
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u64,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    /// Data bytes acknowledged by the peer / received in order.
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u64,
    pub segs_in: u64,
    pub data_segs_out: u64,
    pub data_segs_in: u64,
    /// Bytes queued but not yet sent.
    pub notsent_bytes: u32,
    /// Segments delivered (acknowledged).
    pub delivered: u64,
    /// Peer's window and ours, bytes.
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    /// The smallest RTT sample, µs.
    pub min_rtt: u64,
    /// Congestion control algorithm name.
    pub congestion: &'static str,
}

/// A connection's memory, as Linux's `sk_meminfo` (`ss -m`'s `skmem`)
/// reports a socket's: what its buffers may hold and what they hold
/// allocated now (synack's rings and kept frames, what `tcp_mem` charges;
/// Linux counts its buffers' skbs with their overhead).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// The receive buffer's memory (`r`: Linux's `sk_rmem_alloc`).
    pub rmem_alloc: u32,
    /// The receive buffer's size (`rb`: `sk_rcvbuf`): SO_RCVBUF, or what
    /// autotuning grew it to.
    pub rcvbuf: u32,
    /// The send buffer's memory (`w`: `sk_wmem_queued`).
    pub wmem_queued: u32,
    /// The send buffer's size (`tb`: `sk_sndbuf`).
    pub sndbuf: u32,
}

impl Connection {
    /// The connection's [`MemInfo`].
    pub fn mem_info(&self) -> MemInfo {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let (rcv, snd) = (self.state.recv_half(), self.state.send_half());
        MemInfo {
            rmem_alloc: rcv.map_or(0, |r| clamp(r.buffer_allocated())),
            rcvbuf: rcv.map_or(0, |r| clamp(r.buffer_limit())),
            wmem_queued: snd.map_or(0, |s| clamp(s.buffer_allocated())),
            sndbuf: snd.map_or(0, |s| clamp(s.buffer_limit())),
        }
    }
}

fn ms_since(now: Instant, then: Stamp) -> u64 {
    then.get()
        .map_or(0, |t| now.saturating_duration_since(t).total_millis())
}

impl Connection {
    /// The connection's `tcp_info` at `now` (`config`: the stack's, for
    /// the RTO's cap).
    /// The timer `ss -o` shows for it ([`SocketTimer`]); `None` when
    /// none of those runs (an idle connection without keepalive).
    pub fn socket_timer(&self) -> Option<SocketTimer> {
        let core = &self.core;
        let armed = |timers: &[Timer]| timers.iter().filter_map(|&t| core.timers.get(t)).min();
        let (kind, expires, retrans) = if let Some(at) =
            armed(&[Timer::Retransmit, Timer::TailLossProbe, Timer::RackReorder])
        {
            (SocketTimerKind::On, at, u32::from(core.xmit.retransmits))
        } else if let Some(at) = armed(&[Timer::Persist]) {
            (SocketTimerKind::Persist, at, core.xmit.probes_out())
        } else if let Some(at) = armed(&[Timer::Keepalive, Timer::FinWait2]) {
            (SocketTimerKind::Keepalive, at, core.xmit.probes_out())
        } else {
            (SocketTimerKind::TimeWait, armed(&[Timer::TimeWait])?, 0)
        };
        Some(SocketTimer {
            kind,
            expires,
            retrans,
        })
    }

    pub fn info(&self, now: Instant, config: &crate::config::Config) -> TcpInfo {
        let core = &self.core;
        let snd = self.state.send_half();
        let rcv = self.state.recv_half();
        let mss = snd.map_or(core.send_mss(), |s| s.mss).max(1);
        let mut opts = 0;
        if core.neg.ts_ok() {
            opts |= options::TIMESTAMPS;
        }
        if core.neg.sack_ok() {
            opts |= options::SACK;
        }
        if core.neg.ecn.is_ok() {
            opts |= options::ECN;
        }
        if core.neg.ecn.seen() {
            opts |= options::ECN_SEEN;
        }
        let tfo = core.tfo_info_for_tcp_info();
        if tfo.syn_data_acked || tfo.passive_data > 0 {
            opts |= options::SYN_DATA;
        }
        let synced = !matches!(self.state, State::SynSent(_));
        if synced && core.neg.snd_wscale() + core.neg.rcv_wscale() > 0 {
            opts |= options::WSCALE;
        }
        let cwnd = core.recovery.send_window(&core.cc);
        let ssthresh = core.cc.ssthresh();
        let data = core.counters.data();
        TcpInfo {
            state: self.state.kind(),
            ca_state: core.recovery.ca_state(),
            retransmits: core.xmit.retransmits,
            probes: core.xmit.probes_out(),
            backoff: core.rtt.backoffs(),
            options: opts,
            snd_wscale: core.neg.snd_wscale(),
            rcv_wscale: core.neg.rcv_wscale(),
            rto: core.rto_with_backoff(config).total_micros(),
            ato: core.ack.ato().total_micros(),
            snd_mss: mss,
            pmtu: u32::from(core.path_mtu_reported()),
            rcv_mss: core.ack.rcv_mss,
            unacked: snd.map_or(0, |s| s.in_flight().div_ceil(mss)),
            last_data_sent: ms_since(now, core.xmit.last_data_sent),
            last_data_recv: ms_since(now, core.xmit.last_data_recv),
            last_ack_recv: ms_since(now, core.xmit.last_ack_recv),
            rtt: core.rtt.srtt().map_or(0, |d| d.total_micros()),
            rttvar: core.rtt.rttvar().total_micros(),
            snd_ssthresh: if ssthresh == u32::MAX {
                i32::MAX as u32 // Linux TCP_INFINITE_SSTHRESH
            } else {
                ssthresh / mss
            },
            snd_cwnd: cwnd / mss,
            advmss: u32::from(core.neg.adv_mss),
            reordering: core.recovery.reordering(),
            sacked: core.recovery.sacked().segs,
            lost: core.recovery.lost().segs,
            retrans: core.recovery.retrans().segs,
            reord_seen: core.recovery.reord_seen(),
            dsack_dups: core.recovery.dsacks(),
            rcv_space: rcv.map_or(0, |r| {
                r.measured_space(
                    config
                        .tcp_init_cwnd
                        .saturating_mul(u32::from(core.neg.adv_mss)),
                )
            }),
            total_retrans: data.total_retrans,
            bytes_sent: data.bytes_sent,
            bytes_retrans: data.bytes_retrans,
            bytes_acked: data.bytes_acked,
            bytes_received: data.bytes_received,
            segs_out: core.counters.segs_out(),
            segs_in: core.counters.segs_in(),
            data_segs_out: data.data_segs_out,
            data_segs_in: data.data_segs_in,
            notsent_bytes: snd.map_or(0, |s| s.unsent()),
            delivered: core.counters.delivered(),
            snd_wnd: snd.map_or(0, |s| s.wnd),
            rcv_wnd: rcv.map_or(0, |r| r.window()),
            min_rtt: core.counters.min_rtt().map_or(0, |d| d.total_micros()),
            congestion: core.cc.name(),
        }
    }
}
