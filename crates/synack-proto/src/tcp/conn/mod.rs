//! One TCP connection: the whole RFC 9293 life of a connection, sans-IO.
//!
//! Read first: RFC 9293 §3.3.2 (states), §3.10 (event processing: the
//! user calls of §3.10.1-6, segment arrival in §3.10.7, timeouts in
//! §3.10.8), then the module you are about to touch; each opens with the
//! RFCs it implements. docs/TCP.md walks through the design.
//!
//! # Shape
//!
//! A [`Connection`] is a [`State`], an enum of per-state structs that hold
//! only what that state needs ([`Established`] has a [`SendHalf`] and a
//! [`RecvHalf`]; [`TimeWait`] only what answers a retransmitted FIN), plus a
//! [`Core`] of what every state shares: the 4-tuple, negotiated options,
//! timers, RTT estimator, congestion control, loss recovery, delayed-ACK
//! state, socket options and counters. Transitions consume the old state
//! struct and build the next ([`Connection::transition`]); bookkeeping that
//! every transition needs (events, counters, timers) happens there, once.
//! The two ends (CLOSED, TIME-WAIT) instead empty the state in place
//! (`State::take_unread`) and write the next over it.
//!
//! Like the stack, a connection has four kinds of methods:
//! - inputs: [`Connection::handle_segment`] (returns a [`Disposition`]
//!   saying what was done with the segment) and [`Connection::handle_timeout`];
//! - commands: `send`, `recv`, `shutdown`, `close`, `abort`, `set_option`
//!   (in [`api`]);
//! - outputs: [`Connection::poll_transmit`] writes the next segment,
//!   [`Connection::poll_timeout`] says when to call `handle_timeout`;
//!   events go into [`Env::events`];
//! - getters: `state`, `info`, ...
//!
//! Every call takes the stack's [`Env`]: configuration, counters, the event
//! sink and the global challenge-ACK budget.
//!
//! | file | what |
//! |---|---|
//! | `send.rs`, `recv.rs` | the two halves: sequence spaces and buffers |
//! | `options.rs` | MSS, window scale, SACK-permitted, timestamps at the handshake |
//! | `input.rs` | segment arrival, RFC 9293 §3.10.7 step by step |
//! | `output.rs` | what to send next (the plan of each segment) |
//! | `output/emit.rs` | how a planned segment is laid out, written and accounted for |
//! | `ack.rs` | delayed and quick ACKs |
//! | `timers.rs` | what each timer does when it fires |
//! | `counters.rs` | the counters [`TcpInfo`] reports |
//! | `api.rs` | the application's commands and their errors |
//! | `info.rs` | [`TcpInfo`], [`MemInfo`] (`ss -m`) and [`SocketTimer`] (`ss -o`) |
//! | `time_wait.rs` | [`TimeWait`], also the stack's compact TIME-WAIT entry |
//! | `fastopen.rs` | RFC 7413: SYN data and cookies, client and server side |
//! | `icmp.rs` | ICMP errors: RFC 5927 validation, soft and hard errors, path MTU |
//! | `syncookie.rs` | a connection rebuilt from a SYN cookie (RFC 4987) |

mod ack;
pub mod api;
mod counters;
pub mod fastopen;
mod gso;
mod icmp;
mod info;
mod input;
mod mtu_search;
pub mod notsent;
pub mod offload;
mod options;
mod output;
mod records;
mod recv;
mod send;
mod sockopt;
mod spares;
mod syncookie;
mod template;
mod time_wait;
mod timers;
pub(crate) mod urgent;
mod xmit;

use core::fmt;
use core::net::SocketAddrV4;

pub use api::{
    ConnError, MIN_WINDOW_CLAMP, RecvError, RecvFlags, SendError, SendFlags, SetOptionError,
    Shutdown, ShutdownError, SocketOption,
};
pub use fastopen::{FastOpenClientPlan, FastOpenInfo, FastOpenReport};
pub use icmp::IcmpOutcome;
pub use info::{MemInfo, SocketTimer, SocketTimerKind, TcpInfo, options as tcpi_options};
pub use recv::{Received, RecvHalf, Stager};
pub use send::{FinState, SendHalf};
pub use sockopt::{Linger2, MAX_LINGER2, defer_accept_retransmits, defer_accept_secs};
pub(crate) use spares::keep_bounded;
pub use spares::{MAX_SPARE_BLOCKS, Spares};
pub use time_wait::{TimeWait, TimeWaitVerdict};

use self::ack::AckState;
pub(crate) use self::counters::{Counters, DataCounters};
use self::options::Negotiated;
use self::sockopt::ConnOptions;
use self::template::ConnTemplate;
pub(crate) use self::xmit::{TimedSegment, XmitState};
use crate::config::{Config, CongestionAlgorithm};
use crate::rng::Rng;
use crate::stats::Stats;
use crate::storage::RingBuffer;
use crate::tcp::congestion::{Congestion, CongestionControl};
use crate::tcp::ecn::{self, Ecn, EcnState};
use crate::tcp::recovery::{CongestionSample, LossRecovery, Mark};
use crate::tcp::rtt::{RttConfig, RttEstimator};
use crate::tcp::state::TcpState;
use crate::tcp::timer::{Timer, TimerTable};
use crate::tcp::timestamps::{TsClock, TsRecent};
use crate::time::{Duration, Instant};
use crate::{SeqNum, wire::TcpRepr};

/// Out-of-order ranges a receiver tracks at most (DESIGN.md §4: every
/// resource has a cap). A segment that would open one more is dropped
/// (TCPOFODrop) and retransmitted later.
pub const MAX_OUT_OF_ORDER_RANGES: usize = 32;

/// How long a connection's emptied buffers stay allocated ([`Timer::Idle`]).
pub const IDLE_RELEASE: Duration = Duration::from_secs(1);

/// Mixed into the seed for the challenge-ACK budget's draws.
const CHALLENGE_SEED: u64 = 0xC4A1_1E49_E5CE_D001;

/// What a connection needs from its stack on every call.
#[derive(Debug, Default)]
pub struct Env {
    /// The stack's configuration. Crate-only: it changes only through
    /// [`Env::set_sysctl`], which remakes `template` from it.
    pub(crate) config: Config,
    pub stats: Stats,
    /// Events the connection raised; the stack drains them after each call.
    pub events: Vec<ConnEvent>,
    /// RFC 5961 §7: the stack-wide challenge-ACK budget.
    pub challenge: ChallengeAckBudget,
    /// The stack's orphans, connections the application closed that it
    /// still finishes (Linux `tcp_orphan_count`), against
    /// `tcp_max_orphans`: the stack counts them, an orphan's timers read
    /// them (`tcp_out_of_resources`).
    pub orphans: usize,
    /// Raise [`ConnEvent::Congestion`] samples (a congestion trace).
    pub trace_congestion: bool,
    /// Raise [`ConnEvent::StateChanged`] only for the changes the stack
    /// acts on ([`stack_acts_on`]): the stack sets this while no state
    /// trace is on. Off (every change raised) by default.
    pub quiet_states: bool,
    /// Send-side offloads for the next segment written, and what it used.
    pub tx: offload::TxOffload,
    /// The IP TOS byte of the segment being handled: its ECN field (RFC
    /// 3168 §5, `rx_ecn()`) for TCP, its DSCP for the reset the stack may
    /// answer it with. The stack sets it around each call into TCP; 0
    /// (Not-ECT) otherwise.
    pub rx_tos: u8,
    /// The segment being handled is a GRO super-packet of segments of this
    /// many data bytes (see `offload::rx_pieces`); 0 for a plain segment.
    /// Set by the stack around one `handle_segment` call.
    pub rx_gso: u16,
    /// Blocks and rings that ended connections gave back, for the next
    /// connections' first data (a few KiB at most: [`Spares`]).
    pub spares: Spares,
    /// The stack-wide buffer memory and its marks (`tcp_mem`): the stack
    /// charges each connection's holding after every call into it; a
    /// connection reads the state to stop growing or taking memory.
    pub memory: crate::tcp::memory::BufferMemory,
    /// What a new connection takes from `config` alone, worked out once
    /// ([`ConnTemplate`]); built with the `config` it was made from.
    template: ConnTemplate,
}

impl Env {
    /// The ECN field of the segment being handled (RFC 3168 §5).
    #[inline]
    pub fn rx_ecn(&self) -> Ecn {
        Ecn::from_tos(self.rx_tos)
    }

    pub fn new(config: Config) -> Self {
        Env {
            template: ConnTemplate::new(&config),
            memory: crate::tcp::memory::BufferMemory::new(config.tcp_mem),
            // Its own stream from the seed: the stack's draws keep their order.
            challenge: ChallengeAckBudget::new(Rng::from_seed(config.seed ^ CHALLENGE_SEED)),
            config,
            ..Env::default()
        }
    }

    /// A connection moved from `from` to `to`: [`ConnEvent::StateChanged`],
    /// unless [`Env::quiet_states`] and the stack does nothing with it.
    #[inline]
    fn state_changed(&mut self, from: TcpState, to: TcpState) {
        if !self.quiet_states || stack_acts_on(from, to) {
            self.events.push(ConnEvent::StateChanged { from, to });
        }
    }
}

/// The state changes the stack acts on (`Stack::after_conn`): out of
/// SYN-SENT or SYN-RECEIVED (the connection opened: `Connected`, or it
/// joins its listener's accept queue; a Fast Open child leaves the
/// listener's count) and into CLOSED (it leaves its listener's queues).
/// Any other change matters only to a state trace: without one, raising it
/// would cost an event and a pass of the stack's event loop for nothing
/// (five of a handshake's ten changes).
pub(crate) fn stack_acts_on(from: TcpState, to: TcpState) -> bool {
    matches!(from, TcpState::SynSent | TcpState::SynReceived) || to == TcpState::Closed
}

/// RFC 5961 §7 and Linux `tcp_challenge_ack_limit`: the challenge ACKs
/// the whole stack may send in a second.
///
/// A budget counted exactly is itself a side channel (CVE-2016-5696, Cao
/// et al., "Off-Path TCP Exploits: Global Rate Limit Considered
/// Dangerous"): an attacker who spends it on its own connection and counts
/// the challenge ACKs it gets back learns whether a spoofed probe made
/// another connection spend one, and so finds that connection's ports and
/// sequence numbers. As Linux (`tcp_send_challenge_ack`), each second's
/// budget is therefore drawn at random between half and one and a half
/// times the limit, and the default limit (Linux 6.0's) is so large that
/// only the per-connection `tcp_invalid_ratelimit` applies. A limit of 0
/// sends none.
#[derive(Clone, Debug)]
pub struct ChallengeAckBudget {
    /// The second (of `now`) the budget is for, and what is left of it.
    second: u64,
    left: u64,
    rng: Rng,
}

impl Default for ChallengeAckBudget {
    fn default() -> Self {
        ChallengeAckBudget::new(Rng::from_seed(0))
    }
}

impl ChallengeAckBudget {
    /// A budget whose draws come from `rng` (the stack's seeded secrets).
    pub fn new(rng: Rng) -> Self {
        ChallengeAckBudget {
            second: u64::MAX,
            left: 0,
            rng,
        }
    }

    /// Takes one challenge ACK from this second's budget for `limit`.
    pub fn take(&mut self, now: Instant, limit: u32) -> bool {
        let second = now.total_micros() / 1_000_000;
        if second != self.second {
            self.second = second;
            let half = u64::from(limit).div_ceil(2);
            // Linux: get_random_u32_inclusive(half, limit + half - 1).
            self.left = match limit {
                0 => 0,
                _ => half + self.rng.below(u64::from(limit)),
            };
        }
        if self.left > 0 {
            self.left -= 1;
            true
        } else {
            false
        }
    }
}

/// Something the application (or a tracer) may want to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnEvent {
    /// The connection moved from one state to another.
    StateChanged { from: TcpState, to: TcpState },
    /// New data (or the end of the stream) can be read. Edge-triggered: raised
    /// again only after `recv` found nothing to read.
    Readable,
    /// Send-buffer space freed up after a `send` found the buffer full.
    Writable,
    /// The peer's FIN arrived: reads return the queued data, then end of stream.
    PeerClosed,
    /// The peer's urgent pointer moved ahead of the data read (RFC 9293
    /// §3.10.7.4 "sixth": "signal the user"; Linux's SIGURG): see
    /// `Connection::at_mark` and `recv(MSG_OOB)`.
    Urgent,
    /// The connection reached CLOSED.
    Closed(CloseReason),
    /// The congestion window, threshold, state or flight changed, or a loss,
    /// retransmission, timeout, probe or undo happened (only with
    /// [`Env::trace_congestion`]).
    Congestion(CongestionSample),
}

/// Why a connection reached CLOSED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Both sides closed in order (and TIME-WAIT, if ours, ran out).
    Normal,
    /// The peer refused the connection: a RST answered our SYN.
    Refused,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions, probes or the user timeout ran out.
    TimedOut,
    /// We reset it: `abort`, `close` with unread data or linger 0, or data
    /// arriving after `close` (RFC 2525 §2.17).
    Aborted,
    /// The application closed it before it was established (no RST needed).
    Cancelled,
    /// An ICMP error (or a failed ARP resolution) made it give up: a hard
    /// error while connecting, as Linux reports it (RFC 1122 §4.2.3.9,
    /// RFC 5461).
    Unreachable(crate::ip::icmp::IcmpErrno),
}

/// What [`Connection::handle_segment`] did with a segment.
#[must_use = "a disposition says whether the connection is still alive"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Processed.
    Accepted,
    /// Dropped without a reply.
    Dropped(DropReason),
    /// Dropped and answered with an ACK ("send an acknowledgment, drop the
    /// segment and return", RFC 9293 §3.10.7.4), unless rate-limited.
    DroppedWithAck(DropReason),
    /// RFC 5961: answered with a challenge ACK (unless rate-limited) and dropped.
    ChallengeAck(Challenge),
    /// Answered with a RST and dropped (RFC 9293 §3.10.7.3 or RFC 2525).
    ResetSent(DropReason),
    /// The peer's RST closed the connection.
    ConnectionReset,
    /// TIME-WAIT: an acceptable new SYN for this 4-tuple (RFC 6191); the
    /// caller may start a new incarnation with this ISS.
    Reincarnate { iss: SeqNum },
}

/// Why a segment was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The connection is closed.
    Closed,
    /// RFC 9293 §3.10.7.4 "first": outside the receive window.
    OutOfWindow,
    /// RFC 7323 §5: an old timestamp (PAWS).
    Paws,
    /// RFC 9293 §3.10.7.4 "fifth": no ACK bit.
    NoAck,
    /// The ACK acknowledges something not yet sent.
    AckOfUnsentData,
    /// SYN-SENT: the ACK does not acknowledge our SYN (RFC 9293 §3.10.7.3).
    UnacceptableAck,
    /// A RST outside the window, or one we must ignore (TIME-WAIT, RFC 1337).
    IgnoredReset,
    /// SYN-SENT: neither SYN nor RST.
    NotSynOrReset,
    /// Data after the application closed the connection (RFC 2525 §2.17).
    DataAfterClose,
    /// SYN-RECEIVED: the handshake's ACK was unacceptable.
    BadHandshakeAck,
    /// A SYN for a half-open connection (Linux's embryonic reset).
    SynInSynReceived,
    /// A bare handshake ACK while TCP_DEFER_ACCEPT waits for data.
    DeferAccept,
}

/// Why an RFC 5961 challenge ACK was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Challenge {
    /// §3.2: RST in the window but not at RCV.NXT.
    Reset,
    /// §4.2: SYN in a synchronized state.
    Syn,
    /// §5.2: ACK older than SND.UNA - MAX.SND.WND.
    OldAck,
}

/// Per-connection socket options, set by the application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// TCP_NODELAY: no Nagle.
    pub nodelay: bool,
    /// TCP_CORK: hold partial segments (at most 200 ms).
    pub cork: bool,
    /// SO_KEEPALIVE.
    pub keepalive: bool,
    /// TCP_KEEPIDLE; `None`: `tcp_keepalive_time`.
    pub keep_idle: Option<Duration>,
    /// TCP_KEEPINTVL; `None`: `tcp_keepalive_intvl`.
    pub keep_interval: Option<Duration>,
    /// TCP_KEEPCNT; `None`: `tcp_keepalive_probes`.
    pub keep_count: Option<u8>,
    /// TCP_USER_TIMEOUT (RFC 5482); `None`: off.
    pub user_timeout: Option<Duration>,
    /// SO_LINGER; `Some(ZERO)` makes `close` reset the connection.
    pub linger: Option<Duration>,
    /// SO_RCVBUF in payload bytes; `None`: `tcp_rmem` default.
    pub recv_buffer: Option<usize>,
    /// SO_SNDBUF in payload bytes; `None`: `tcp_wmem` default, growing with cwnd.
    pub send_buffer: Option<usize>,
    /// TCP_SYNCNT: SYN (or SYN-ACK) retransmissions before giving up;
    /// 0: `tcp_syn_retries` / `tcp_synack_retries` (Linux `icsk_syn_retries`).
    /// Plain integers with 0 for "unset", as Linux keeps them.
    pub syn_retries: u8,
    /// TCP_MAXSEG: the most we advertise and send per segment, set before
    /// the connection opens; 0: MTU - 40 (Linux `user_mss`).
    pub max_segment: u16,
    /// TCP_CONGESTION; `None`: `tcp_congestion_control`.
    pub congestion: Option<CongestionAlgorithm>,
    /// SO_OOBINLINE: the urgent byte stays in the stream (`conn::urgent`).
    pub oob_inline: bool,
    /// TCP_LINGER2: an orphan's wait in FIN-WAIT-2.
    pub linger2: Linger2,
    /// TCP_DEFER_ACCEPT on a listener, in SYN-ACK retransmissions (Linux
    /// `rskq_defer_accept`; [`defer_accept_retransmits`] converts seconds):
    /// its passive opens drop a bare handshake ACK until that many SYN-ACKs
    /// were resent, waiting for data.
    pub defer_accept: u8,
    /// SO_RCVLOWAT: `Readable` waits for this many bytes (Linux
    /// `sk_rcvlowat`, at least 1; 0 reads as 1).
    pub recv_lowat: u32,
}

/// What the stack decides for a new connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnParams {
    /// ISS (RFC 6528, or RFC 6191 for a reincarnation).
    pub iss: SeqNum,
    /// Offset of this connection's timestamp clock (RFC 7323 §7.1).
    pub ts_offset: u32,
    pub socket: SocketOptions,
    /// The MTU of the route's interface when it is not `Config::mtu` (the
    /// loopback's); `None`: the configured one.
    pub route_mtu: Option<u16>,
}

/// The per-state data, one variant per RFC 9293 state (LISTEN lives in the
/// stack's listener).
///
/// An explicit one-byte tag, numbered as [`TcpState`]: the engine asks
/// which state it is in about 140 times a handshake ([`State::kind`], the
/// halves), and a plain byte load answers it where a niche in a variant's
/// field needed a decode each time. It costs no memory: every variant is at
/// most the two halves (96 bytes; SYN-RECEIVED's passive flag lives in
/// [`Core`]), so the tag takes the 8 bytes a niche-less layout pads to
/// anyway (`an_idle_connection_is_464_bytes_inline`).
#[derive(Debug)]
#[repr(u8)]
pub enum State {
    Closed(Closed) = TcpState::Closed as u8,
    SynSent(SynSent) = TcpState::SynSent as u8,
    SynReceived(SynReceived) = TcpState::SynReceived as u8,
    Established(Established) = TcpState::Established as u8,
    FinWait1(FinWait1) = TcpState::FinWait1 as u8,
    FinWait2(FinWait2) = TcpState::FinWait2 as u8,
    CloseWait(CloseWait) = TcpState::CloseWait as u8,
    Closing(Closing) = TcpState::Closing as u8,
    LastAck(LastAck) = TcpState::LastAck as u8,
    TimeWait(TimeWaitState) = TcpState::TimeWait as u8,
}

impl Default for State {
    fn default() -> Self {
        State::Closed(Closed::default())
    }
}

/// CLOSED: no protocol state; only bytes the application has not read.
#[derive(Debug)]
pub struct Closed {
    pub unread: RingBuffer,
}

impl Default for Closed {
    fn default() -> Self {
        Closed {
            unread: RingBuffer::new(0),
        }
    }
}

/// SYN-SENT: our SYN is out (or about to be); data may already be queued.
#[derive(Debug)]
pub struct SynSent {
    pub snd: SendHalf,
}

/// SYN-RECEIVED: the peer's SYN arrived and our SYN-ACK is out. Whether it
/// came from LISTEN is [`Connection::is_passive`] (kept in [`Core`], so this
/// variant is no larger than the others).
#[derive(Debug)]
pub struct SynReceived {
    pub snd: SendHalf,
    pub rcv: RecvHalf,
}

/// ESTABLISHED: data flows both ways.
#[derive(Debug)]
pub struct Established {
    pub snd: SendHalf,
    pub rcv: RecvHalf,
}

/// FIN-WAIT-1: our FIN is queued or sent, not yet acknowledged.
#[derive(Debug)]
pub struct FinWait1 {
    pub snd: SendHalf,
    pub rcv: RecvHalf,
}

/// FIN-WAIT-2: our FIN is acknowledged; we wait for the peer's. The send
/// half keeps only sequence numbers (its buffer is empty).
#[derive(Debug)]
pub struct FinWait2 {
    pub snd: SendHalf,
    pub rcv: RecvHalf,
}

/// CLOSE-WAIT: the peer's FIN arrived; we may still send.
#[derive(Debug)]
pub struct CloseWait {
    pub snd: SendHalf,
    pub rcv: RecvHalf,
}

/// CLOSING: both FINs sent, ours not yet acknowledged.
#[derive(Debug)]
pub struct Closing {
    pub snd: SendHalf,
    pub rcv: RecvHalf,
}

/// LAST-ACK: the peer's FIN arrived, ours is not yet acknowledged.
#[derive(Debug)]
pub struct LastAck {
    pub snd: SendHalf,
    pub rcv: RecvHalf,
}

/// TIME-WAIT: the compact [`TimeWait`] plus bytes the application has not read.
#[derive(Debug)]
pub struct TimeWaitState {
    pub tw: TimeWait,
    pub unread: RingBuffer,
}

impl State {
    /// The state's name.
    pub fn kind(&self) -> TcpState {
        match self {
            State::Closed(_) => TcpState::Closed,
            State::SynSent(_) => TcpState::SynSent,
            State::SynReceived(_) => TcpState::SynReceived,
            State::Established(_) => TcpState::Established,
            State::FinWait1(_) => TcpState::FinWait1,
            State::FinWait2(_) => TcpState::FinWait2,
            State::CloseWait(_) => TcpState::CloseWait,
            State::Closing(_) => TcpState::Closing,
            State::LastAck(_) => TcpState::LastAck,
            State::TimeWait(_) => TcpState::TimeWait,
        }
    }

    /// The send half, where the state has one.
    pub fn send_half(&self) -> Option<&SendHalf> {
        match self {
            State::SynSent(s) => Some(&s.snd),
            State::SynReceived(s) => Some(&s.snd),
            State::Established(s) => Some(&s.snd),
            State::FinWait1(s) => Some(&s.snd),
            State::FinWait2(s) => Some(&s.snd),
            State::CloseWait(s) => Some(&s.snd),
            State::Closing(s) => Some(&s.snd),
            State::LastAck(s) => Some(&s.snd),
            State::Closed(_) | State::TimeWait(_) => None,
        }
    }

    /// The receive half, where the state has one.
    pub fn recv_half(&self) -> Option<&RecvHalf> {
        match self {
            State::SynReceived(s) => Some(&s.rcv),
            State::Established(s) => Some(&s.rcv),
            State::FinWait1(s) => Some(&s.rcv),
            State::FinWait2(s) => Some(&s.rcv),
            State::CloseWait(s) => Some(&s.rcv),
            State::Closing(s) => Some(&s.rcv),
            State::LastAck(s) => Some(&s.rcv),
            State::SynSent(_) | State::Closed(_) | State::TimeWait(_) => None,
        }
    }

    /// Both halves, mutably, where the state has them.
    pub(crate) fn halves_mut(&mut self) -> Option<(&mut SendHalf, &mut RecvHalf)> {
        match self {
            State::SynReceived(s) => Some((&mut s.snd, &mut s.rcv)),
            State::Established(s) => Some((&mut s.snd, &mut s.rcv)),
            State::FinWait1(s) => Some((&mut s.snd, &mut s.rcv)),
            State::FinWait2(s) => Some((&mut s.snd, &mut s.rcv)),
            State::CloseWait(s) => Some((&mut s.snd, &mut s.rcv)),
            State::Closing(s) => Some((&mut s.snd, &mut s.rcv)),
            State::LastAck(s) => Some((&mut s.snd, &mut s.rcv)),
            State::SynSent(_) | State::Closed(_) | State::TimeWait(_) => None,
        }
    }

    pub(crate) fn send_half_mut(&mut self) -> Option<&mut SendHalf> {
        match self {
            State::SynSent(s) => Some(&mut s.snd),
            other => other.halves_mut().map(|(s, _)| s),
        }
    }

    pub(crate) fn recv_half_mut(&mut self) -> Option<&mut RecvHalf> {
        self.halves_mut().map(|(_, r)| r)
    }

    /// The value `mem::take` leaves: CLOSED with no memory (dropping it
    /// would free nothing).
    fn is_empty_closed(&self) -> bool {
        matches!(self, State::Closed(c) if c.unread.allocated() == 0)
    }

    /// Whether dropping this state would free nothing: no send or receive
    /// block, no unread ring (the halves own nothing else).
    fn owns_nothing(&self) -> bool {
        self.send_half().is_none_or(|s| !s.has_block())
            && self.recv_half().is_none_or(|r| !r.has_block())
            && self.unread().is_none_or(|u| u.allocated() == 0)
    }

    /// The state's protocol part ends (CLOSED or TIME-WAIT next), in
    /// place: the send block goes to `spares`, and so does the receive
    /// block, whose buffer (the bytes the application has not read; its
    /// ring to `spares` if it is empty) is returned. The state is left
    /// owning nothing, for [`State::overwrite_emptied`]. One out-of-line
    /// copy for both ends, where each moved the whole state out and back.
    #[inline(never)]
    fn take_unread(&mut self, spares: &mut Spares) -> RingBuffer {
        if let Some(snd) = self.send_half_mut() {
            snd.reclaim_into(spares);
        }
        let mut unread = match self {
            State::Closed(Closed { unread }) | State::TimeWait(TimeWaitState { unread, .. }) => {
                core::mem::replace(unread, RingBuffer::new(0))
            }
            // SYN-SENT has no receive half: an empty buffer.
            other => other
                .recv_half_mut()
                .map_or_else(|| RingBuffer::new(0), |r| r.take_unread(spares)),
        };
        spares.rings.reclaim(&mut unread);
        unread
    }

    /// Replaces a state that owns nothing ([`State::take_unread`] emptied
    /// it) without the generic drop of a `State` (a call that decodes the
    /// variant) and without moving it out first.
    #[inline(always)]
    fn overwrite_emptied(&mut self, next: State) {
        debug_assert!(self.owns_nothing(), "overwriting a state that owns memory");
        core::mem::forget(core::mem::replace(self, next));
    }

    /// Unread bytes left in a state without a receive half.
    fn unread(&self) -> Option<&RingBuffer> {
        match self {
            State::Closed(c) => Some(&c.unread),
            State::TimeWait(t) => Some(&t.unread),
            _ => None,
        }
    }

    fn unread_mut(&mut self) -> Option<&mut RingBuffer> {
        match self {
            State::Closed(c) => Some(&mut c.unread),
            State::TimeWait(t) => Some(&mut t.unread),
            _ => None,
        }
    }
}

/// Output the connection owes beyond data: five flags and a RST, in 12
/// bytes (the flags share the RST's bits byte, which has no bit left).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    /// The RST's sequence number and, with [`pending::RST_HAS_ACK`], its
    /// acknowledgment number (valid with [`pending::RST`]).
    rst_seq: SeqNum,
    rst_ack: SeqNum,
    /// [`pending`] bits.
    bits: u8,
}

/// The RSTs a connection sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingRst {
    /// An abort: `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>` (RFC 9293
    /// §3.10.5, Linux `tcp_send_active_reset`), with our timestamp.
    Abort { seq: SeqNum, ack: Option<SeqNum> },
    /// A reply to a bad segment, built like the no-connection reset of
    /// RFC 9293 §3.10.7.1.
    Reply { seq: SeqNum, ack: Option<SeqNum> },
}

/// Bits of [`Pending::bits`].
mod pending {
    /// A RST to send.
    pub const RST: u8 = 1 << 0;
    /// ... an abort (else a reply).
    pub const RST_ABORT: u8 = 1 << 1;
    /// ... with an ACK.
    pub const RST_HAS_ACK: u8 = 1 << 2;
    /// Send (or resend) our SYN or SYN-ACK.
    pub const SYN: u8 = 1 << 3;
    /// A zero-window or keepalive probe (seq = SND.UNA - 1).
    pub const PROBE: u8 = 1 << 4;
    /// Push held data now even if Nagle or the cork holds it (the persist
    /// timer acting as Linux's 200 ms cork ceiling and probe with data).
    pub const FORCE_PUSH: u8 = 1 << 5;
    /// A tail loss probe is due (RFC 8985 §7.3).
    pub const LOSS_PROBE: u8 = 1 << 6;
    /// Pieces of a software GSO packet to write (`conn::gso`).
    pub const PIECES: u8 = 1 << 7;
    /// The bits that describe the RST.
    pub const RST_BITS: u8 = RST | RST_ABORT | RST_HAS_ACK;
}

macro_rules! pending_flags {
    ($($get:ident $set:ident $bit:ident;)*) => {
        impl Pending {
            $(
                pub fn $get(&self) -> bool {
                    self.bits & pending::$bit != 0
                }

                pub fn $set(&mut self, on: bool) {
                    if on {
                        self.bits |= pending::$bit;
                    } else {
                        self.bits &= !pending::$bit;
                    }
                }
            )*
        }
    };
}

pending_flags! {
    syn set_syn SYN;
    probe set_probe PROBE;
    force_push set_force_push FORCE_PUSH;
    loss_probe set_loss_probe LOSS_PROBE;
    pieces set_pieces PIECES;
}

impl Pending {
    /// Whether anything at all is pending (a RST, our SYN, a probe, a push,
    /// a loss probe, a GSO packet's pieces).
    pub fn any(&self) -> bool {
        self.bits != 0
    }

    /// Whether a RST or a GSO packet's pieces are pending: what a poll
    /// writes before anything else.
    #[inline(always)]
    pub fn rst_or_pieces(&self) -> bool {
        self.bits & (pending::RST | pending::PIECES) != 0
    }

    /// Queues `rst`, replacing any RST pending.
    pub fn set_rst(&mut self, rst: PendingRst) {
        let (abort, seq, ack) = match rst {
            PendingRst::Abort { seq, ack } => (true, seq, ack),
            PendingRst::Reply { seq, ack } => (false, seq, ack),
        };
        let mut bits = (self.bits & !pending::RST_BITS) | pending::RST;
        if abort {
            bits |= pending::RST_ABORT;
        }
        if ack.is_some() {
            bits |= pending::RST_HAS_ACK;
        }
        self.bits = bits;
        self.rst_seq = seq;
        self.rst_ack = ack.unwrap_or(SeqNum(0));
    }

    /// The RST pending, if any.
    pub fn rst(&self) -> Option<PendingRst> {
        if self.bits & pending::RST == 0 {
            return None;
        }
        let seq = self.rst_seq;
        let ack = (self.bits & pending::RST_HAS_ACK != 0).then_some(self.rst_ack);
        Some(if self.bits & pending::RST_ABORT != 0 {
            PendingRst::Abort { seq, ack }
        } else {
            PendingRst::Reply { seq, ack }
        })
    }

    /// Takes the RST pending, if any.
    pub fn take_rst(&mut self) -> Option<PendingRst> {
        let rst = self.rst();
        self.bits &= !pending::RST_BITS;
        self.rst_seq = SeqNum(0);
        self.rst_ack = SeqNum(0);
        rst
    }
}

/// The application's side of the connection's life: eight flags in one
/// bits byte (none free: the next flag goes into another bits byte, e.g.
/// `Negotiated::bits` or `Pending`'s) and three small `Option`s, 4 bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Life {
    /// `LIFE_*` bits.
    bits: u8,
    /// Why the connection ended, once it has.
    pub close_reason: Option<CloseReason>,
    /// The error reads and writes report once the connection died.
    pub error: Option<ConnError>,
    /// The last soft ICMP error (Linux `sk_err_soft`): reported instead of
    /// a plain timeout if the connection times out (RFC 1122 §4.2.3.9).
    pub soft_error: Option<crate::ip::icmp::IcmpErrno>,
}

/// The application closed its handle; the stack finishes the close.
const LIFE_ORPHAN: u8 = 1 << 0;
/// `shutdown(Read)` or `close`: reads return end of stream.
const LIFE_READ_SHUTDOWN: u8 = 1 << 1;
/// `Readable` may be raised (edge trigger armed).
const LIFE_READABLE_ARMED: u8 = 1 << 2;
/// A `send` found the buffer full: raise `Writable` when space frees up.
const LIFE_WRITABLE_WANTED: u8 = 1 << 3;
/// The send buffer size was set by the application (no auto-growth).
const LIFE_SNDBUF_LOCKED: u8 = 1 << 4;
/// TCP_NODELAY: no Nagle.
const LIFE_NODELAY: u8 = 1 << 5;
/// TCP_CORK: hold partial segments (at most 200 ms).
const LIFE_CORK: u8 = 1 << 6;
/// SO_KEEPALIVE.
const LIFE_KEEPALIVE: u8 = 1 << 7;

macro_rules! life_flags {
    ($($get:ident $set:ident $bit:ident;)*) => {
        impl Life {
            $(
                pub fn $get(&self) -> bool {
                    self.bits & $bit != 0
                }

                pub fn $set(&mut self, on: bool) {
                    if on {
                        self.bits |= $bit;
                    } else {
                        self.bits &= !$bit;
                    }
                }
            )*
        }
    };
}

life_flags! {
    orphan set_orphan LIFE_ORPHAN;
    read_shutdown set_read_shutdown LIFE_READ_SHUTDOWN;
    readable_armed set_readable_armed LIFE_READABLE_ARMED;
    writable_wanted set_writable_wanted LIFE_WRITABLE_WANTED;
    sndbuf_locked set_sndbuf_locked LIFE_SNDBUF_LOCKED;
    nodelay set_nodelay LIFE_NODELAY;
    cork set_cork LIFE_CORK;
    keepalive set_keepalive LIFE_KEEPALIVE;
}

/// What every state shares.
#[derive(Debug)]
pub struct Core {
    pub(crate) local: SocketAddrV4,
    pub(crate) remote: SocketAddrV4,
    pub(crate) neg: Negotiated,
    pub(crate) timers: TimerTable,
    pub(crate) rtt: RttEstimator,
    pub(crate) cc: Congestion,
    pub(crate) recovery: LossRecovery,
    pub(crate) ts_clock: TsClock,
    /// TS.Recent, once timestamps are negotiated.
    pub(crate) ts_recent: Option<TsRecent>,
    pub(crate) ack: AckState,
    pub(crate) xmit: XmitState,
    pub(crate) socket: ConnOptions,
    pub(crate) pending: Pending,
    pub(crate) life: Life,
    pub(crate) counters: Counters,
    /// Opened from LISTEN (a listener's half-open entry) rather than by
    /// `connect`: in SYN-RECEIVED a reset returns it to LISTEN, i.e.
    /// deletes it without telling an application (RFC 9293 §3.10.7.4
    /// "second"). In the padding `Core` has anyway.
    pub(crate) passive_open: bool,
    /// What few connections need (RFC 7413 Fast Open, RFC 4821's path
    /// MTU search), boxed on first use: an idle connection stays small
    /// (DESIGN.md §4).
    pub(crate) rare: Option<Box<Rare>>,
}

/// A connection's rarely used state, in one box ([`Core::rare`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Rare {
    /// RFC 7413 Fast Open, either side.
    tfo: Option<fastopen::FastOpen>,
    /// The path MTU search (RFC 4821), once `tcp_mtu_probing` started one.
    mtu_search: Option<crate::tcp::plpmtud::MtuSearch>,
}

/// One TCP connection. See the module documentation.
pub struct Connection {
    state: State,
    core: Core,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("local", &self.core.local)
            .field("remote", &self.core.remote)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// The receive buffer a new receive half starts with: SO_RCVBUF or
    /// `tcp_rmem`'s default, at most TCP_WINDOW_CLAMP (the window is the
    /// buffer's room, so the clamp bounds it).
    fn recv_buffer_limit(&self, config: &Config) -> usize {
        let limit = self.socket.recv_buffer().unwrap_or(config.tcp_rmem.default);
        match self.socket.window_clamp() {
            0 => limit,
            clamp => limit.min(clamp as usize),
        }
    }

    fn send_buffer_limit(&self, config: &Config) -> usize {
        self.socket.send_buffer().unwrap_or(config.tcp_wmem.default)
    }

    /// Bookkeeping for every state change (called by [`Connection::transition`]):
    /// the event and the `CurrEstab` gauge here, inline in each transition;
    /// what entering CLOSED, TIME-WAIT or FIN-WAIT-2 does, out of line in
    /// [`Core::entered_ending`] (the other changes need none of it, and the
    /// call saved most of what a handshake's transitions paid).
    #[inline]
    fn entered(&mut self, now: Instant, from: TcpState, to: TcpState, env: &mut Env) {
        env.state_changed(from, to);
        let (was, is) = (counts_as_estab(from), counts_as_estab(to));
        if is && !was {
            env.stats.tcp.curr_estab += 1;
        }
        if was && !is {
            env.stats.tcp.curr_estab = env.stats.tcp.curr_estab.saturating_sub(1);
        }
        if matches!(
            to,
            TcpState::Closed | TcpState::TimeWait | TcpState::FinWait2
        ) {
            self.entered_ending(now, from, to, env);
        }
    }

    /// [`Core::entered`] for CLOSED, TIME-WAIT and FIN-WAIT-2: counters,
    /// the `Closed` event, the timers these states stop or start, and the
    /// loss-recovery episode's return to the spares.
    #[inline(never)]
    fn entered_ending(&mut self, now: Instant, from: TcpState, to: TcpState, env: &mut Env) {
        if to == TcpState::FinWait2 {
            self.timers.stop(Timer::Retransmit);
            self.timers.stop(Timer::Persist);
            if self.life.orphan() {
                // TCP_LINGER2 below zero: the orphan goes at once (Linux
                // `tcp_rcv_state_process` calls `tcp_done`).
                let wait = self.fin_wait2_timeout(&env.config).unwrap_or_else(|| {
                    env.stats.tcp_ext.tcp_abort_on_data += 1;
                    Duration::ZERO
                });
                self.timers.set(Timer::FinWait2, now + wait);
            }
            return;
        }
        debug_assert!(matches!(to, TcpState::Closed | TcpState::TimeWait));
        // CLOSED and TIME-WAIT alike: every timer stops (TIME-WAIT's own
        // starts below) and the loss-recovery episode goes to the spares.
        // One copy of this for both, where each state had its own.
        self.timers.stop_all();
        self.recovery.release_into(&mut env.spares.episodes);
        if to == TcpState::TimeWait {
            self.timers
                .set(Timer::TimeWait, now + env.config.time_wait());
            return;
        }
        if matches!(from, TcpState::SynSent | TcpState::SynReceived) {
            env.stats.tcp.attempt_fails += 1;
        }
        let reason = *self.life.close_reason.get_or_insert(CloseReason::Normal);
        if counts_as_estab(from) && reason != CloseReason::Normal {
            env.stats.tcp.estab_resets += 1;
        }
        env.events.push(ConnEvent::Closed(reason));
    }
}

/// The states RFC 1213's `tcpCurrEstab` counts (Linux `TCP_MIB_CURRESTAB`):
/// ESTABLISHED and CLOSE-WAIT.
fn counts_as_estab(s: TcpState) -> bool {
    matches!(s, TcpState::Established | TcpState::CloseWait)
}

impl Connection {
    /// The stack removes this connection: its boxes that a later
    /// connection can take as they are go to `spares` instead of being
    /// freed (its data counters and HyStart state; its loss-recovery
    /// episode went there when it ended). Nothing observable changes: it is
    /// gone next.
    pub(crate) fn leave_spares(&mut self, spares: &mut Spares) {
        if let Some(counters) = self.core.counters.data.take() {
            spares.keep_counters(counters);
        }
        if let Some(hystart) = self.core.cc.take_hystart_box() {
            spares.episodes.keep_hystart(hystart);
        }
    }

    /// An active open (RFC 9293 §3.10.1, OPEN in CLOSED): SYN-SENT, with the
    /// SYN ready for [`Connection::poll_transmit`].
    pub fn connect(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        params: &ConnParams,
        env: &mut Env,
    ) -> Connection {
        Connection::open(now, local, remote, Open::Active, params, env)
    }

    /// A passive open: a listener accepted `syn` (RFC 9293 §3.10.7.2, SYN in
    /// LISTEN): SYN-RECEIVED, with the SYN-ACK ready to send.
    pub fn accept_syn(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        params: &ConnParams,
        env: &mut Env,
    ) -> Connection {
        Connection::open(now, local, remote, Open::Passive(syn), params, env)
    }

    /// A new connection, either open: the shared part ([`Core::new`]) is
    /// set up once, then the open's own (its state and what the SYN
    /// negotiated). The stack builds every connection of a handshake
    /// through one inlined copy of this (`Stack::insert_conn`), in the
    /// connection's slot, where `connect` and `accept_syn` were two copies
    /// of the whole set-up.
    #[inline(always)]
    pub(crate) fn open(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        open: Open<'_, '_>,
        params: &ConnParams,
        env: &mut Env,
    ) -> Connection {
        let mut conn = Connection {
            state: State::default(),
            core: Core::new(now, local, remote, params, env),
        };
        let state = match open {
            Open::Active => conn.core.start_active(params, env),
            Open::Passive(syn) => conn.core.start_passive(now, syn, params, env),
        };
        // The placeholder is an empty CLOSED that owns no memory: skip
        // the generic drop of a `State` (as `transition_with` does).
        let placeholder = core::mem::replace(&mut conn.state, state);
        debug_assert!(placeholder.is_empty_closed());
        core::mem::forget(placeholder);
        conn
    }

    /// The state's name.
    pub fn state(&self) -> TcpState {
        self.state.kind()
    }

    /// The per-state data (read-only; for tests and diagnostics).
    pub fn state_data(&self) -> &State {
        &self.state
    }

    pub fn local(&self) -> SocketAddrV4 {
        self.core.local
    }

    pub fn remote(&self) -> SocketAddrV4 {
        self.core.remote
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.core.life.close_reason
    }

    /// Whether the application has given up its handle.
    pub fn is_orphan(&self) -> bool {
        self.core.life.orphan()
    }

    /// Whether this connection came from a listener's SYN.
    pub fn is_passive(&self) -> bool {
        matches!(&self.state, State::SynReceived(_)) && self.core.passive_open
    }

    /// The timers' deadlines (for tests and diagnostics).
    pub fn timers(&self) -> &TimerTable {
        &self.core.timers
    }

    /// When [`Connection::handle_timeout`] is next needed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.timers.next_deadline()
    }

    /// [`Connection::poll_timeout`] for the stack, which asks after every
    /// call: the timer table remembers its earliest timer for the next ask.
    #[must_use]
    #[inline]
    pub fn poll_timeout_cached(&mut self) -> Option<Instant> {
        self.core.timers.next_deadline_cached()
    }

    /// Bytes waiting to be read (Recv-Q).
    pub fn recv_queue(&self) -> usize {
        match (self.state.recv_half(), self.state.unread()) {
            (Some(r), _) => r.readable(),
            (None, Some(u)) => u.len(),
            _ => 0,
        }
    }

    /// Bytes not yet acknowledged or not yet sent (Send-Q).
    pub fn send_queue(&self) -> usize {
        self.state.send_half().map_or(0, |s| s.buffered())
    }

    /// The send buffer's limit as it stands (SO_SNDBUF, or what it grew
    /// to; `ss -m`'s `tb`), 0 once sending is over.
    pub fn send_buffer_limit(&self) -> usize {
        self.state.send_half().map_or(0, |s| s.buffer_limit())
    }

    /// Bytes of buffer memory the connection holds.
    pub fn buffer_memory(&self) -> usize {
        let snd = self.state.send_half().map_or(0, |s| s.allocated());
        let rcv = self.state.recv_half().map_or(0, |r| r.allocated());
        let unread = self.state.unread().map_or(0, |u| u.allocated());
        // Loss recovery's scoreboard and machinery, while data is in flight.
        snd + rcv + unread + self.core.recovery.allocated()
    }

    /// Bytes the connection's buffers hold allocated: its send and receive
    /// rings (or the unread bytes' ring once the protocol state is over)
    /// and the bytes of frames it keeps. The stack's buffer memory counter
    /// charges this after every call into the connection (`tcp_mem`,
    /// [`crate::tcp::memory`]); the bookkeeping around the buffers (their
    /// blocks, SACK and loss-recovery state: [`Connection::buffer_memory`]
    /// counts it) is left out, as Linux charges buffers (skbs), not socket
    /// structures. One match and a few loads: it runs about ten times a
    /// handshake.
    #[inline]
    pub fn charged_memory(&self) -> usize {
        let (snd, rcv) = match &self.state {
            State::Closed(c) => return c.unread.allocated(),
            State::TimeWait(t) => return t.unread.allocated(),
            State::SynSent(s) => return s.snd.buffer_allocated(),
            State::SynReceived(s) => (&s.snd, &s.rcv),
            State::Established(s) => (&s.snd, &s.rcv),
            State::FinWait1(s) => (&s.snd, &s.rcv),
            State::FinWait2(s) => (&s.snd, &s.rcv),
            State::CloseWait(s) => (&s.snd, &s.rcv),
            State::Closing(s) => (&s.snd, &s.rcv),
            State::LastAck(s) => (&s.snd, &s.rcv),
        };
        snd.buffer_allocated() + rcv.buffer_allocated()
    }

    /// The compact TIME-WAIT entry, when in TIME-WAIT with nothing left for
    /// the application to read: the stack may keep just this.
    pub fn time_wait_entry(&self) -> Option<TimeWait> {
        match &self.state {
            State::TimeWait(t) if t.unread.is_empty() => Some(t.tw),
            _ => None,
        }
    }

    /// Moves to another state built from the current one, and does the
    /// bookkeeping every transition needs (events, counters, timers).
    fn transition(&mut self, now: Instant, env: &mut Env, next: impl FnOnce(State) -> State) {
        self.transition_with(now, env, |old, _| next(old));
    }

    /// [`Connection::transition`] for a change that hands buffers to the
    /// stack's spares (`next` gets them beside the old state).
    fn transition_with(
        &mut self,
        now: Instant,
        env: &mut Env,
        next: impl FnOnce(State, &mut Spares) -> State,
    ) {
        let old = core::mem::take(&mut self.state);
        let from = old.kind();
        let placeholder = core::mem::replace(&mut self.state, next(old, &mut env.spares));
        // What `take` left is an empty CLOSED that owns no memory (its ring
        // is unallocated): nothing to drop, so skip the generic drop of a
        // `State` (a call that decodes the variant at every transition).
        debug_assert!(placeholder.is_empty_closed());
        core::mem::forget(placeholder);
        let to = self.state.kind();
        if from != to {
            self.core.entered(now, from, to, env);
        }
    }

    /// Ends the connection: CLOSED, keeping unread bytes for the application.
    fn close_with(&mut self, now: Instant, env: &mut Env, reason: CloseReason) {
        if self.state.kind() == TcpState::Closed {
            return;
        }
        self.core.life.close_reason.get_or_insert(reason);
        self.core.life.error = match reason {
            CloseReason::Normal | CloseReason::Cancelled => self.core.life.error,
            CloseReason::Refused => Some(ConnError::Refused),
            CloseReason::Reset => Some(ConnError::Reset),
            // A soft ICMP error explains the timeout better (Linux reports
            // `sk_err_soft` in place of ETIMEDOUT).
            CloseReason::TimedOut => Some(
                self.core
                    .life
                    .soft_error
                    .map_or(ConnError::TimedOut, ConnError::Unreachable),
            ),
            CloseReason::Aborted => Some(ConnError::Aborted),
            CloseReason::Unreachable(e) => Some(ConnError::Unreachable(e)),
        };
        let had_unread = self.recv_queue() > 0;
        // The connection's rings go to the stack's spares.
        let from = self.state.kind();
        let unread = self.state.take_unread(&mut env.spares);
        self.state
            .overwrite_emptied(State::Closed(Closed { unread }));
        self.core.entered(now, from, TcpState::Closed, env);
        self.core.pending.set_syn(false);
        self.core.pending.set_probe(false);
        self.core.pending.set_force_push(false);
        self.core.pending.set_loss_probe(false);
        self.core.ack.clear();
        // The application learns about the end through reads.
        if !had_unread {
            self.core.notify_readable(env);
        }
    }

    /// Enters TIME-WAIT from FIN-WAIT-1/2 or CLOSING (RFC 9293 §3.10.7.4).
    fn enter_time_wait(&mut self, now: Instant, env: &mut Env) {
        let from = self.state.kind();
        if !matches!(
            from,
            TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing
        ) {
            return;
        }
        let Some((snd, rcv)) = self.state.halves_mut() else {
            return;
        };
        let window = (rcv.window() >> rcv.wscale).min(u32::from(u16::MAX)) as u16;
        let ts = self.core.ts_recent.map(|r| (self.core.ts_clock, r));
        let expires = now + env.config.time_wait();
        let tw = TimeWait::new(snd.nxt, rcv.nxt, window, ts, expires);
        // The send block and an empty receive buffer's memory go to the
        // stack's spares now.
        let unread = self.state.take_unread(&mut env.spares);
        self.state
            .overwrite_emptied(State::TimeWait(TimeWaitState { tw, unread }));
        self.core.entered(now, from, TcpState::TimeWait, env);
    }
}

/// Which open makes a new connection ([`Connection::open`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Open<'a, 'b> {
    /// RFC 9293 §3.10.1, OPEN in CLOSED: SYN-SENT.
    Active,
    /// RFC 9293 §3.10.7.2, a SYN in LISTEN: SYN-RECEIVED.
    Passive(&'a TcpRepr<'b>),
}

impl Core {
    /// An active open's own set-up: SYN-SENT, the SYN pending.
    #[inline(always)]
    fn start_active(&mut self, params: &ConnParams, env: &mut Env) -> State {
        let snd = SendHalf::new(params.iss, self.send_buffer_limit(&env.config));
        self.pending.set_syn(true);
        env.stats.tcp.active_opens += 1;
        env.state_changed(TcpState::Closed, TcpState::SynSent);
        State::SynSent(SynSent { snd })
    }

    /// A passive open's own set-up: what `syn` negotiated, SYN-RECEIVED,
    /// the SYN-ACK pending.
    #[inline(always)]
    fn start_passive(
        &mut self,
        now: Instant,
        syn: &TcpRepr<'_>,
        params: &ConnParams,
        env: &mut Env,
    ) -> State {
        self.neg.answer_syn(&syn.options, &env.config);
        // RFC 3168 §6.1.1: ECN iff the SYN is ECN-setup (and not ECT).
        self.neg.ecn = EcnState::agreed(ecn::accept_syn(&env.config, syn.flags, env.rx_ecn()));
        self.neg.clamp_mss(self.socket.max_segment());
        if let Some(ts) = syn.options.timestamp.filter(|_| self.neg.ts_ok()) {
            self.ts_recent = Some(TsRecent::new(ts.tsval, now));
        }
        let mut snd = SendHalf::new(params.iss, self.send_buffer_limit(&env.config));
        self.apply_negotiated(&mut snd);
        // RFC 7323 §2.2: the window of a SYN is never scaled.
        snd.set_window(u32::from(syn.window));
        snd.wl1 = syn.seq;
        snd.wl2 = params.iss;
        let rcv = RecvHalf::new(
            syn.seq,
            self.recv_buffer_limit(&env.config),
            self.neg.rcv_wscale(),
            MAX_OUT_OF_ORDER_RANGES,
        );
        self.pending.set_syn(true);
        self.xmit.last_recv = now;
        self.passive_open = true;
        env.stats.tcp.passive_opens += 1;
        env.state_changed(TcpState::Listen, TcpState::SynReceived);
        State::SynReceived(SynReceived { snd, rcv })
    }
}

/// The RTO's settings (RFC 6298) from the stack's: the estimator keeps no
/// copy of them.
pub(crate) fn rtt_config(config: &Config) -> RttConfig {
    RttConfig {
        initial_rto: config.tcp_rto_initial,
        rto_min: config.tcp_rto_min,
        rto_max: config.tcp_rto_max,
        ..RttConfig::default()
    }
}

impl Core {
    /// The RTO with backoff, capped at `tcp_rto_max` (Linux `icsk_rto`).
    fn rto_with_backoff(&self, config: &Config) -> Duration {
        self.rtt.rto_with_backoff(&rtt_config(config))
    }

    /// Feeds an RTT sample to the estimator (Karn's rule was applied when
    /// the sample was taken).
    fn on_rtt_sample(
        &mut self,
        sample: Duration,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        config: &Config,
    ) {
        self.rtt
            .on_sample(sample, snd_una, snd_nxt, &rtt_config(config));
        self.counters.note_rtt(sample);
    }

    /// Raises `Readable` for data that arrived in order, if the
    /// application waits for it and SO_RCVLOWAT bytes are readable, or the
    /// window is down to a segment, which a low-water mark must not stall
    /// (Linux `tcp_data_ready` and `tcp_epollin_ready`).
    fn notify_data_readable(&mut self, rcv: &RecvHalf, env: &mut Env) {
        if !self.life.readable_armed() {
            return;
        }
        let lowat = self.socket.recv_lowat();
        if lowat > 1 && rcv.readable() < lowat as usize && rcv.window() > self.ack.rcv_mss {
            return;
        }
        self.notify_readable(env);
    }

    /// Raises `Readable` if the application is waiting for it.
    fn notify_readable(&mut self, env: &mut Env) {
        if self.life.readable_armed() && !self.life.orphan() {
            self.life.set_readable_armed(false);
            env.events.push(ConnEvent::Readable);
        }
    }

    /// TCP_NOTSENT_LOWAT in force: the connection's, else the
    /// `tcp_notsent_lowat` sysctl's ([`notsent::NONE`]: no mark).
    #[inline]
    pub(crate) fn notsent_lowat(&self, config: &crate::config::Config) -> u32 {
        match self.socket.notsent_lowat() {
            0 => config.tcp_notsent_lowat,
            set => set,
        }
    }

    /// Raises `Writable` if a `send` found the buffer full (or the unsent
    /// bytes at TCP_NOTSENT_LOWAT) and `snd` has room again.
    fn notify_writable(&mut self, snd: &SendHalf, env: &mut Env) {
        if self.life.writable_wanted()
            && !self.life.orphan()
            && notsent::wakes(snd, self.notsent_lowat(&env.config))
        {
            self.life.set_writable_wanted(false);
            env.events.push(ConnEvent::Writable);
        }
    }

    /// Applies negotiated options to the send half.
    fn apply_negotiated(&mut self, snd: &mut SendHalf) {
        snd.wscale = self.neg.snd_wscale();
        snd.mss = self.send_mss();
        self.cc.set_mss(snd.mss);
        self.recovery.set_mss(snd.mss);
    }

    /// Raises a congestion trace sample if tracing is on and something
    /// changed (or `mark` says something happened).
    pub(super) fn trace_congestion(&mut self, env: &mut Env, mark: Option<Mark>) {
        if !env.trace_congestion {
            return;
        }
        if let Some(sample) = self.recovery.sample(&self.cc, mark) {
            env.events.push(ConnEvent::Congestion(sample));
        }
    }
}

// Re-exported for the stack's use.
pub use crate::tcp::segment::ControlSegment;

#[cfg(test)]
mod tests;
