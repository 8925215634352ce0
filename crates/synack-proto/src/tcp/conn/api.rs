//! The application's commands: send, receive, shut down, close, abort and
//! socket options, with their errors.
//!
//! Read first: RFC 9293 §3.10.2-3.10.6 (SEND, RECEIVE, CLOSE, ABORT, STATUS
//! in each state), RFC 1122 §4.2.2.13 and RFC 2525 §2.17 (closing with unread
//! data resets the connection), RFC 5482 (TCP_USER_TIMEOUT).
//!
//! Errors say whose fault it is: the application misused the API
//! (`WriteShutdown`, `NotConnected`, `InvalidValue`), the connection failed
//! ([`ConnError`]: the peer refused or reset it, the network timed out, or
//! we aborted it), or there is simply nothing to do yet (`WouldBlock`).

use core::fmt;

use super::{
    CloseReason, CloseWait, Connection, Env, Established, FinWait1, LastAck, PendingRst,
    SocketOptions, State,
};
use crate::config::CongestionAlgorithm;
use crate::tcp::state::TcpState;
use crate::tcp::timer::Timer;
use crate::time::{Duration, Instant};

use super::send::FinState;

/// Why a connection ended badly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnError {
    /// The peer answered our SYN with a RST (ECONNREFUSED).
    Refused,
    /// The peer reset the connection (ECONNRESET).
    Reset,
    /// The peer stopped answering: retransmissions, probes or the user
    /// timeout ran out (ETIMEDOUT).
    TimedOut,
    /// We reset it ourselves (`abort`, or `close` with unread data).
    Aborted,
    /// An ICMP error (or a failed ARP resolution): EHOSTUNREACH,
    /// ENETUNREACH, ... as Linux reports them; a hard error while connecting,
    /// a soft one reported in place of a timeout.
    Unreachable(crate::ip::icmp::IcmpErrno),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnError::Refused => "connection refused by the peer",
            ConnError::Reset => "connection reset by the peer",
            ConnError::TimedOut => "connection timed out",
            ConnError::Aborted => "connection aborted locally",
            ConnError::Unreachable(e) => return write!(f, "{e}"),
        })
    }
}

impl core::error::Error for ConnError {}

/// Why `send` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendError {
    /// The send buffer is full; wait for `Writable`.
    WouldBlock,
    /// The application already shut down writing (EPIPE): its own misuse.
    WriteShutdown,
    /// The connection is closed.
    Closed,
    /// The connection failed.
    Connection(ConnError),
    /// No such connection (a stale or foreign handle): the application's bug.
    InvalidHandle,
}

/// Why `recv` failed. End of stream is not an error: `Ok(0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// Nothing to read yet; wait for `Readable`.
    WouldBlock,
    /// `recv(MSG_OOB)` with no urgent byte to read: none was marked, it
    /// was read or passed, or SO_OOBINLINE keeps it in the stream (EINVAL).
    NoUrgentData,
    /// The connection failed.
    Connection(ConnError),
    /// No such connection: the application's bug.
    InvalidHandle,
}

/// Why `shutdown` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShutdownError {
    /// The connection is closed (ENOTCONN).
    NotConnected,
    /// No such connection: the application's bug.
    InvalidHandle,
}

/// Why `set_option` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetOptionError {
    /// The value is out of range (EINVAL).
    InvalidValue,
    /// No such connection: the application's bug.
    InvalidHandle,
}

macro_rules! display_errors {
    ($($ty:ident { $($variant:pat => $text:expr,)* })*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($variant => write!(f, "{}", $text),)*
                }
            }
        }
        impl core::error::Error for $ty {}
    )*};
}

display_errors! {
    SendError {
        SendError::WouldBlock => "send buffer full",
        SendError::WriteShutdown => "writing was shut down",
        SendError::Closed => "connection closed",
        SendError::Connection(e) => e,
        SendError::InvalidHandle => "no such connection",
    }
    RecvError {
        RecvError::WouldBlock => "nothing to read yet",
        RecvError::NoUrgentData => "no urgent data to read",
        RecvError::Connection(e) => e,
        RecvError::InvalidHandle => "no such connection",
    }
    ShutdownError {
        ShutdownError::NotConnected => "connection not open",
        ShutdownError::InvalidHandle => "no such connection",
    }
    SetOptionError {
        SetOptionError::InvalidValue => "invalid option value",
        SetOptionError::InvalidHandle => "no such connection",
    }
}

/// Which direction `shutdown` closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shutdown {
    /// Reads return end of stream once queued data is read (SHUT_RD).
    Read,
    /// Send a FIN after the queued data; further sends fail (SHUT_WR).
    Write,
    /// Both (SHUT_RDWR).
    Both,
}

/// Per-call flags of `send`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SendFlags {
    /// MSG_MORE: more data follows; hold a partial segment like the cork.
    pub more: bool,
    /// MSG_EOR: the data ends a record; no later data shares a segment
    /// with its last byte (Linux `eor`). Only a call that queues all of
    /// its data ends the record: after a short write, pass it again with
    /// the rest.
    pub eor: bool,
    /// MSG_OOB: the data's last byte is urgent (`conn::urgent`): SND.UP
    /// moves past it and the segments before it carry URG.
    pub oob: bool,
}

/// Per-call flags of `recv`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecvFlags {
    /// MSG_PEEK: copy the bytes without consuming them.
    pub peek: bool,
    /// MSG_OOB: read the urgent byte, out of line (`conn::urgent`).
    pub oob: bool,
}

/// A socket option (`setsockopt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketOption {
    /// TCP_NODELAY: disable Nagle; turning it on pushes held data.
    NoDelay(bool),
    /// TCP_CORK: hold partial segments; turning it off pushes them.
    Cork(bool),
    /// SO_KEEPALIVE.
    KeepAlive(bool),
    /// TCP_KEEPIDLE: idle time before the first probe (at least 1 s).
    KeepIdle(Duration),
    /// TCP_KEEPINTVL: time between probes (at least 1 s).
    KeepInterval(Duration),
    /// TCP_KEEPCNT: unanswered probes before giving up (at least 1).
    KeepCount(u8),
    /// TCP_USER_TIMEOUT (RFC 5482): give up when data stays unacknowledged
    /// this long; `None` restores the default rules.
    UserTimeout(Option<Duration>),
    /// SO_LINGER: `Some(ZERO)` makes `close` reset the connection.
    Linger(Option<Duration>),
    /// SO_RCVBUF in payload bytes (at least 1 KiB).
    RecvBuffer(usize),
    /// SO_SNDBUF in payload bytes (at least 1 KiB); stops auto-growth.
    SendBuffer(usize),
    /// TCP_SYNCNT: SYN retransmissions before giving up (1 to 127).
    SynCount(u8),
    /// TCP_MAXSEG: the largest segment, 88 to 32767 bytes (Linux
    /// TCP_MIN_MSS and MAX_TCP_WINDOW); it shapes the MSS option, so it
    /// matters before the handshake.
    MaxSegment(u16),
    /// TCP_CONGESTION: the congestion control algorithm of this connection;
    /// switching keeps the current window and threshold.
    Congestion(CongestionAlgorithm),
    /// SO_OOBINLINE: the urgent byte stays in the stream, where reads
    /// return it; `recv(MSG_OOB)` is refused.
    OobInline(bool),
    /// TCP_LINGER2: how long an orphan waits in FIN-WAIT-2 for the peer's
    /// FIN, instead of `tcp_fin_timeout`.
    Linger2(super::Linger2),
    /// SO_RCVLOWAT: `Readable` (and a blocking read in the runtime) waits
    /// for this many bytes; capped at the receive buffer (half of Linux's
    /// doubled `sk_rcvbuf`), which grows to hold it unless SO_RCVBUF was
    /// set (Linux `tcp_set_rcvlowat`); 0 is 1.
    RecvLowat(u32),
    /// TCP_DEFER_ACCEPT in seconds (0: off), kept as SYN-ACK
    /// retransmissions ([`super::defer_accept_retransmits`]); it acts on a
    /// listener's passive opens (`SocketOptions::defer_accept`).
    DeferAccept(u32),
    /// TCP_NOTSENT_LOWAT: at most this many bytes wait unsent before a
    /// `send` is refused, and `Writable` comes once fewer than half of
    /// them do (`conn::notsent`); 0 goes back to the `tcp_notsent_lowat`
    /// sysctl's. Linux applies it to its listener's children too
    /// (`Stack::tcp_listener_set_notsent_lowat`).
    NotSentLowat(u32),
    /// TCP_WINDOW_CLAMP (Linux `tcp_set_window_clamp`): the receive window
    /// never offers more than this many bytes (at least 1,152, Linux's
    /// `SOCK_MIN_RCVBUF / 2`); set before the SYN, the window scale offered
    /// is no larger than such a window needs. 0 clears it, on a closed
    /// socket only (`InvalidValue` otherwise, Linux's EINVAL).
    WindowClamp(u32),
    /// TCP_QUICKACK (Linux `__tcp_sock_set_quickack`): `true` leaves
    /// ping-pong mode, so ACKs go at once while quick-ACK mode lasts, and
    /// an owed ACK goes now if the receive buffer is empty; `false` enters
    /// ping-pong mode, where ACKs wait to ride on data. Not sticky: the
    /// delayed-ACK rules go on from there, as Linux's do.
    QuickAck(bool),
}

/// The smallest TCP_WINDOW_CLAMP (Linux's `SOCK_MIN_RCVBUF / 2`).
pub const MIN_WINDOW_CLAMP: u32 = 1_152;

impl Connection {
    /// RFC 9293 §3.10.2 SEND: queues `data` (as much as fits) and returns
    /// how much. Allowed before the connection is established: the data goes
    /// out once it is ("queue the data for transmission after entering
    /// ESTABLISHED state").
    pub fn send(
        &mut self,
        now: Instant,
        data: &[u8],
        flags: SendFlags,
        env: &mut Env,
    ) -> Result<usize, SendError> {
        let _ = now;
        let life = self.core.life;
        let writable = matches!(
            self.state.kind(),
            TcpState::SynSent | TcpState::SynReceived | TcpState::Established | TcpState::CloseWait
        );
        let Some(snd) = self.state.send_half_mut().filter(|_| writable) else {
            return Err(match (self.state.kind(), life.error) {
                (_, Some(e)) => SendError::Connection(e),
                (TcpState::Closed, None) => SendError::Closed,
                _ => SendError::WriteShutdown,
            });
        };
        if snd.fin != FinState::Open {
            return Err(SendError::WriteShutdown);
        }
        if data.is_empty() {
            return Ok(0);
        }
        // Above `tcp_mem`'s high mark the buffer takes no new memory: it
        // queues what its ring has room for, or up to `tcp_wmem`'s minimum
        // (Linux `sk_wmem_schedule`). A short write's `Writable` follows
        // the ACK of what is queued.
        let mut allowed = if env.memory.exhausted() {
            &data[..data.len().min(snd.room_allocated(env.config.tcp_wmem.min))]
        } else {
            data
        };
        // TCP_NOTSENT_LOWAT (`conn::notsent`).
        let lowat = self.core.notsent_lowat(&env.config);
        if lowat != super::notsent::NONE {
            allowed = &allowed[..super::notsent::room(snd, lowat, allowed.len())];
        }
        let n = snd.enqueue_with(allowed, Some(&mut env.spares));
        if n < data.len() {
            self.core.life.set_writable_wanted(true);
        }
        if n == 0 {
            return Err(SendError::WouldBlock);
        }
        snd.more = flags.more;
        if flags.eor && n == data.len() {
            snd.end_record();
        }
        if flags.oob {
            snd.mark_urgent();
        }
        self.core.tfo_on_send();
        Ok(n)
    }

    /// RFC 9293 §3.10.3 RECEIVE: copies readable bytes into `buf`. `Ok(0)`
    /// means end of stream: the peer's FIN (or our read shutdown) and all
    /// data before it were read.
    pub fn recv(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        env: &mut Env,
    ) -> Result<usize, RecvError> {
        let mss = self.core.ack.rcv_mss;
        let (n, left) = if let Some(rcv) = self.state.recv_half_mut() {
            let n = match rcv.urgent_mark() {
                None => rcv.read_with(buf, &mut env.spares.frames),
                Some(mark) => {
                    let inline = self.core.socket.oob_inline();
                    super::urgent::read_around_mark(rcv, mark, buf, inline, &mut env.spares.frames)
                }
            };
            // The window a read opens follows the stack's memory too.
            rcv.limit_growth(env.memory.exhausted().then_some(env.config.tcp_rmem.min));
            (n, rcv.readable())
        } else if let Some(unread) = self.state.unread_mut() {
            let n = unread.dequeue_slice(buf);
            (n, unread.len())
        } else {
            (0, 0)
        };
        if left == 0 {
            self.core.life.set_readable_armed(true);
            self.core.timers.set(Timer::Idle, now + super::IDLE_RELEASE);
        }
        if n > 0 {
            // Under memory pressure buffers do not grow.
            if !env.memory.under_pressure() {
                self.tune_recv_buffer(now, &env.config);
            }
            self.maybe_window_update(mss, env);
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        self.nothing_read()
    }

    /// What a read that found no bytes returns: end of stream after the
    /// peer's FIN, a read shutdown or a clean close, the connection's error,
    /// or `WouldBlock`.
    pub(super) fn nothing_read(&self) -> Result<usize, RecvError> {
        let fin_received = self.state.recv_half().is_some_and(|r| r.fin().is_some());
        match self.state.kind() {
            _ if fin_received || self.core.life.read_shutdown() => Ok(0),
            TcpState::TimeWait => Ok(0),
            TcpState::Closed => match self.core.life.error {
                Some(e) => Err(RecvError::Connection(e)),
                None => Ok(0),
            },
            _ => Err(RecvError::WouldBlock),
        }
    }

    /// Receive-buffer autotuning after a read (`tcp_moderate_rcvbuf`,
    /// [`crate::tcp::rcv_space`]), unless the application set SO_RCVBUF.
    /// Before the window update, which then offers the grown buffer.
    fn tune_recv_buffer(&mut self, now: Instant, config: &crate::config::Config) {
        if !config.tcp_moderate_rcvbuf || self.core.socket.recv_buffer().is_some() {
            return;
        }
        // As Linux, only with a round trip measured above zero (a zero-delay
        // link would end a measurement at every read).
        let Some(rtt) = self.core.rtt.srtt().filter(|r| !r.is_zero()) else {
            return;
        };
        let mss = u32::from(self.core.neg.adv_mss);
        let initial = config.tcp_init_cwnd.saturating_mul(mss);
        // TCP_WINDOW_CLAMP bounds the growth too.
        let max = match self.core.socket.window_clamp() {
            0 => config.tcp_rmem.max,
            clamp => config.tcp_rmem.max.min(clamp as usize),
        };
        if let Some(rcv) = self.state.recv_half_mut() {
            rcv.tune_limit(now, rtt, mss, initial, max);
        }
    }

    /// Linux `tcp_cleanup_rbuf`: after a read, announce a window that at
    /// least doubled (and passes receiver SWS avoidance) at once, so a
    /// sender stalled on a small or zero window resumes.
    fn maybe_window_update(&mut self, mss: u32, env: &mut Env) {
        let _ = env;
        let Some(rcv) = self.state.recv_half() else {
            return;
        };
        if rcv.fin().is_some() {
            return;
        }
        let current = rcv.window();
        let limit = u32::try_from(rcv.buffer_limit()).unwrap_or(u32::MAX);
        if current.saturating_mul(2) > limit {
            return;
        }
        let sws_mss = u32::from(self.core.neg.adv_mss) - self.core.neg.option_overhead();
        // The window field cannot say more than 65535 << shift (RFC 7323
        // §2.3): without window scaling a grown buffer is no news.
        let max_window = u32::from(u16::MAX) << rcv.wscale;
        let new = rcv.select_window(sws_mss.max(mss)).min(max_window);
        if new > current && new >= current.saturating_mul(2) {
            self.core.ack.schedule_now();
        }
    }

    /// RFC 9293 §3.10.4 (CLOSE, for the write side) and SHUT_RD.
    pub fn shutdown(
        &mut self,
        now: Instant,
        how: Shutdown,
        env: &mut Env,
    ) -> Result<(), ShutdownError> {
        if self.state.kind() == TcpState::Closed {
            return Err(ShutdownError::NotConnected);
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.core.life.set_read_shutdown(true);
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.close_write(now, env);
        }
        Ok(())
    }

    /// Queues our FIN: ESTABLISHED goes to FIN-WAIT-1 and CLOSE-WAIT to
    /// LAST-ACK; in SYN-SENT and SYN-RECEIVED the FIN waits for the
    /// handshake (RFC 9293 §3.10.4: "queue for processing after entering
    /// ESTABLISHED state").
    fn close_write(&mut self, now: Instant, env: &mut Env) {
        if let Some(snd) = self.state.send_half_mut() {
            snd.queue_fin();
        }
        self.transition(now, env, |old| match old {
            State::Established(Established { snd, rcv }) => State::FinWait1(FinWait1 { snd, rcv }),
            State::CloseWait(CloseWait { snd, rcv }) => State::LastAck(LastAck { snd, rcv }),
            other => other,
        });
    }

    /// Whether [`Connection::close`] would end this connection's part
    /// without anything for the stack's bookkeeping to do: it already
    /// reached CLOSED or TIME-WAIT (where `close` only drops unread bytes
    /// and raises no event), has nothing to send, and no Fast Open state
    /// (whose report the bookkeeping would record). A handshake's two
    /// closes both find this: the client's in TIME-WAIT, the server's in
    /// CLOSED.
    ///
    /// In these two states [`Connection::may_transmit`] is its first test
    /// alone (a pending RST or ACK), read here in line, not called.
    #[inline]
    pub(crate) fn ended_for_close(&self) -> bool {
        let ended = matches!(self.state.kind(), TcpState::Closed | TcpState::TimeWait)
            && self.core.tfo().is_none()
            && !self.core.pending.any()
            && !self.core.ack.now;
        debug_assert!(!ended || !self.may_transmit());
        ended
    }

    /// [`Connection::close`] of a connection [`Connection::ended_for_close`]
    /// found ended: it is marked orphaned and its unread bytes are dropped,
    /// nothing else (no state changes, no event, nothing to send).
    #[inline]
    pub(crate) fn close_ended(&mut self) {
        self.core.life.set_orphan(true);
        self.core.life.set_read_shutdown(true);
        if let Some(unread) = self.state.unread_mut() {
            unread.clear();
        }
    }

    /// The application gives up its handle (`close(2)`): the connection
    /// finishes closing in the background (the stack deletes it once
    /// CLOSED). Unread data (or SO_LINGER 0) resets it instead (RFC 2525
    /// §2.17, Linux `tcp_close`); a connection not yet established is
    /// simply deleted (RFC 9293 §3.10.4 SYN-SENT).
    pub fn close(&mut self, now: Instant, env: &mut Env) {
        self.close_ended();
        match self.state.kind() {
            TcpState::Closed | TcpState::TimeWait => return,
            TcpState::SynSent => {
                self.close_with(now, env, CloseReason::Cancelled);
                return;
            }
            _ => {}
        }
        let unread = self.state.recv_half().is_some_and(|r| r.readable() > 0);
        if unread {
            env.stats.tcp_ext.tcp_abort_on_close += 1;
            self.reset(now, env);
            return;
        }
        if self.core.socket.cold().linger == Some(Duration::ZERO) {
            env.stats.tcp_ext.tcp_abort_on_linger += 1;
            self.reset(now, env);
            return;
        }
        self.close_write(now, env);
        if self.state.kind() == TcpState::FinWait2 {
            // Already in FIN-WAIT-2 (a shutdown's FIN was acknowledged):
            // TCP_LINGER2 below zero resets (Linux `tcp_close`).
            match self.core.fin_wait2_timeout(&env.config) {
                Some(wait) => self.core.timers.set(Timer::FinWait2, now + wait),
                None => {
                    env.stats.tcp_ext.tcp_abort_on_linger += 1;
                    self.reset(now, env);
                }
            }
        }
    }

    /// RFC 9293 §3.10.5 ABORT: a RST where the peer knows the connection
    /// (SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2, CLOSE-WAIT), then CLOSED.
    pub fn abort(&mut self, now: Instant, env: &mut Env) {
        match self.state.kind() {
            TcpState::SynReceived
            | TcpState::Established
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::CloseWait => self.reset(now, env),
            TcpState::Closed => {}
            // SYN-SENT, CLOSING, LAST-ACK, TIME-WAIT: "delete the TCB".
            _ => self.close_with(now, env, CloseReason::Aborted),
        }
    }

    /// Sends `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>` and closes.
    fn reset(&mut self, now: Instant, env: &mut Env) {
        let seq = self.state.send_half().map(|s| s.nxt);
        let ack = self.state.recv_half().map(|r| r.nxt);
        if let Some(seq) = seq {
            self.core.pending.set_rst(PendingRst::Abort { seq, ack });
        }
        self.close_with(now, env, CloseReason::Aborted);
    }

    /// `setsockopt`.
    pub fn set_option(
        &mut self,
        now: Instant,
        option: SocketOption,
        env: &mut Env,
    ) -> Result<(), SetOptionError> {
        const MIN_BUFFER: usize = 1024;
        let socket = &mut self.core.socket;
        match option {
            SocketOption::NoDelay(on) => {
                self.core.life.set_nodelay(on);
                if on {
                    self.core.pending.set_force_push(true);
                }
            }
            SocketOption::Cork(on) => {
                self.core.life.set_cork(on);
                if !on {
                    self.core.pending.set_force_push(true);
                }
            }
            SocketOption::KeepAlive(on) => {
                self.core.life.set_keepalive(on);
                if on && self.state.kind().is_synchronized() {
                    let idle = self.core.keepalive_idle(&env.config);
                    self.core.timers.set(Timer::Keepalive, now + idle);
                } else if !on {
                    self.core.timers.stop(Timer::Keepalive);
                }
            }
            SocketOption::KeepIdle(d) if d >= Duration::from_secs(1) => {
                socket.update_cold(|c| c.keep_idle = Some(d));
                if self.core.life.keepalive() && self.state.kind().is_synchronized() {
                    self.core.timers.set(Timer::Keepalive, now + d);
                }
            }
            SocketOption::KeepInterval(d) if d >= Duration::from_secs(1) => {
                socket.update_cold(|c| c.keep_interval = Some(d))
            }
            SocketOption::KeepCount(n) if n >= 1 => socket.update_cold(|c| c.keep_count = Some(n)),
            SocketOption::UserTimeout(t) => {
                socket.update_cold(|c| c.user_timeout = t.filter(|d| !d.is_zero()))
            }
            SocketOption::Linger(l) => socket.update_cold(|c| c.linger = l),
            SocketOption::RecvBuffer(n) if n >= MIN_BUFFER => {
                socket.set_recv_buffer(n);
                if let Some(rcv) = self.state.recv_half_mut() {
                    rcv.set_buffer_limit(n);
                }
            }
            SocketOption::SendBuffer(n) if n >= MIN_BUFFER => {
                socket.set_send_buffer(n);
                self.core.life.set_sndbuf_locked(true);
                if let Some(snd) = self.state.send_half_mut() {
                    snd.set_buffer_limit(n);
                }
            }
            SocketOption::SynCount(n) if (1..=127).contains(&n) => {
                socket.update_cold(|c| c.syn_retries = n)
            }
            SocketOption::MaxSegment(m) if (88..=32_767).contains(&m) => {
                socket.update_cold(|c| c.max_segment = m)
            }
            SocketOption::Congestion(algorithm) => {
                socket.update_cold(|c| c.congestion = Some(algorithm));
                let mss = self
                    .state
                    .send_half()
                    .map_or(self.core.neg.default_send_mss(), |s| s.mss);
                self.core
                    .cc
                    .switch_to(algorithm, mss, env.config.tcp_init_cwnd);
                self.core.cc.set_hystart_detect(
                    crate::tcp::congestion::hystart::Detect::from_bits(
                        env.config.tcp_hystart_detect,
                    ),
                );
            }
            SocketOption::OobInline(on) => socket.update_cold(|c| c.oob_inline = on),
            SocketOption::Linger2(l) => socket.update_cold(|c| c.linger2 = l.normalized()),
            SocketOption::RecvLowat(bytes) => {
                let locked = socket.recv_buffer().is_some();
                let cap = match self.state.recv_half() {
                    Some(rcv) if locked => rcv.buffer_limit(),
                    _ if locked => socket.recv_buffer().unwrap_or(usize::MAX),
                    _ => env.config.tcp_rmem.max,
                };
                let lowat = (bytes as usize).min(cap).max(1) as u32;
                socket.update_cold(|c| c.recv_lowat = if lowat > 1 { lowat } else { 0 });
                let clamp = socket.window_clamp();
                if let Some(rcv) = self.state.recv_half_mut() {
                    if !locked && rcv.buffer_limit() < lowat as usize {
                        rcv.set_buffer_limit(lowat as usize);
                        // The window may offer the mark: Linux raises
                        // TCP_WINDOW_CLAMP to it too.
                        if clamp != 0 && clamp < lowat {
                            socket.update_cold(|c| c.window_clamp = lowat);
                        }
                    }
                    // It may be met already (Linux `tcp_set_rcvlowat` calls
                    // `tcp_data_ready`).
                    if rcv.readable() > 0 {
                        let rcv = self.state.recv_half().expect("just seen");
                        self.core.notify_data_readable(rcv, env);
                    }
                }
            }
            SocketOption::DeferAccept(secs) => {
                let retransmits = super::defer_accept_retransmits(secs);
                socket.update_cold(|c| c.defer_accept = retransmits);
            }
            SocketOption::WindowClamp(0) if self.state.kind() == TcpState::Closed => {
                socket.update_cold(|c| c.window_clamp = 0);
            }
            SocketOption::WindowClamp(bytes) if bytes > 0 => {
                let clamp = bytes.max(MIN_WINDOW_CLAMP);
                self.apply_window_clamp(clamp);
            }
            SocketOption::NotSentLowat(bytes) => {
                socket.update_cold(|c| c.notsent_lowat = bytes);
                // A writer may go now (Linux calls `sk_write_space`).
                if let Some(snd) = self.state.send_half().filter(|s| s.free() > 0) {
                    self.core.notify_writable(snd, env);
                }
            }
            SocketOption::QuickAck(false) => self.core.ack.pingpong = true,
            SocketOption::QuickAck(true) => {
                self.core.ack.pingpong = false;
                let drained = self.state.recv_half().is_none_or(|r| r.readable() == 0);
                let open = matches!(
                    self.state.kind(),
                    TcpState::Established | TcpState::CloseWait
                );
                if open && self.core.ack.scheduled && drained {
                    self.core.ack.schedule_now();
                }
            }
            _ => return Err(SetOptionError::InvalidValue),
        }
        Ok(())
    }

    /// The IP options the stack writes on every segment are now `len` bytes
    /// (at most 40; `stack::tcp_ip_options`): once the peer's MSS is known,
    /// the send MSS makes room for them at once (Linux `tcp_sync_mss` when
    /// IP_OPTIONS changes `icsk_ext_hdr_len`); before, the SYN-ACK's
    /// negotiation does.
    pub(crate) fn set_ip_options_len(&mut self, len: u8) {
        self.core.socket.update_cold(|c| c.ip_options = len);
        self.make_room_for_headers();
    }

    /// Every segment now carries other header bytes: once the peer's MSS is
    /// known, the send MSS follows at once; before, the SYN-ACK's
    /// negotiation does.
    fn make_room_for_headers(&mut self) {
        if self.state.kind() == TcpState::SynSent {
            return;
        }
        let core = &mut self.core;
        if let Some(snd) = self.state.send_half_mut() {
            core.apply_negotiated(snd);
        }
    }

    /// The connection signs every segment from now on with the MD5
    /// signature option (RFC 2385; the stack keeps the key and writes the
    /// digests: `stack::tcp_md5`). Before its SYN or SYN-ACK is written:
    /// they carry the option, and the MSS makes room for it on every
    /// segment. `keep_timestamps`: a SYN cookie's child keeps the
    /// timestamps its cookie agreed.
    pub(crate) fn sign_md5(&mut self, keep_timestamps: bool) {
        self.core.neg.set_md5(keep_timestamps);
        self.core.socket.update_cold(|c| c.md5 = true);
        self.make_room_for_headers();
    }

    /// Whether it signs its segments (RFC 2385).
    pub fn signs_md5(&self) -> bool {
        self.core.neg.md5()
    }

    /// RFC 6191: a new SYN reopens this 4-tuple, so TIME-WAIT ends now.
    pub(crate) fn end_time_wait(&mut self, now: Instant, env: &mut Env) {
        if self.state.kind() == TcpState::TimeWait {
            self.close_with(now, env, CloseReason::Normal);
        }
    }

    /// TCP_WINDOW_CLAMP as `getsockopt` reads it: as set, or else the most
    /// the window may offer now (the receive buffer's limit), where Linux
    /// reads the clamp its initial window computed.
    pub fn window_clamp(&self) -> u32 {
        match self.core.socket.window_clamp() {
            0 => self
                .state
                .recv_half()
                .map_or(0, |r| u32::try_from(r.buffer_limit()).unwrap_or(u32::MAX)),
            set => set,
        }
    }

    /// TCP_WINDOW_CLAMP of `clamp` bytes: kept, the receive buffer (whose
    /// room is the window) no larger, and before our SYN or SYN-ACK went
    /// out, the window scale offered no larger than the clamp needs.
    pub(crate) fn apply_window_clamp(&mut self, clamp: u32) {
        self.core.socket.update_cold(|c| c.window_clamp = clamp);
        let before_syn = matches!(self.state.kind(), TcpState::SynSent | TcpState::SynReceived)
            && self.core.pending.syn();
        if before_syn {
            self.core.neg.limit_our_wscale(clamp);
        }
        let wscale = self.core.neg.rcv_wscale();
        if let Some(rcv) = self.state.recv_half_mut() {
            if rcv.buffer_limit() > clamp as usize {
                rcv.set_buffer_limit(clamp as usize);
            }
            if before_syn {
                rcv.wscale = wscale;
            }
        }
    }

    /// TCP_NOTSENT_LOWAT as `getsockopt` reads it: the connection's own, 0
    /// when unset (the `tcp_notsent_lowat` sysctl's applies then).
    pub fn notsent_lowat(&self) -> u32 {
        self.core.socket.notsent_lowat()
    }

    /// Whether TCP_NOTSENT_LOWAT lets a writer go (`poll`'s POLLOUT beside
    /// the send buffer's room): no mark, or twice the unsent bytes below
    /// it (`conn::notsent`).
    pub fn notsent_writable(&self, config: &crate::config::Config) -> bool {
        let lowat = self.core.notsent_lowat(config);
        self.state
            .send_half()
            .is_none_or(|snd| super::notsent::wakes(snd, lowat))
    }

    /// A listener's TCP_NOTSENT_LOWAT, which its child takes as it is made
    /// (Linux clones the listening socket's `notsent_lowat`).
    pub(crate) fn inherit_notsent_lowat(&mut self, bytes: u32) {
        self.core.socket.update_cold(|c| c.notsent_lowat = bytes);
    }

    /// Whether a blocking read of up to `len` bytes may go now: SO_RCVLOWAT
    /// bytes (at most `len`) are readable, or the stream ended or failed
    /// (Linux `tcp_recvmsg`'s target). If not, `Readable` is armed for
    /// when they are.
    pub fn recv_ready(&mut self, len: usize) -> bool {
        let target = (self.core.socket.recv_lowat() as usize).min(len).max(1);
        let ready = match self.state.recv_half() {
            Some(rcv) => {
                rcv.readable() >= target
                    || rcv.fin().is_some()
                    || self.core.life.read_shutdown()
                    || rcv.window() <= self.core.ack.rcv_mss && rcv.readable() > 0
            }
            None => true,
        };
        if !ready {
            self.core.life.set_readable_armed(true);
        }
        ready
    }

    /// TCP_QUICKACK as `getsockopt` reads it: not in ping-pong mode.
    pub fn quick_ack(&self) -> bool {
        !self.core.ack.pingpong
    }

    /// The socket options in force.
    pub fn socket_options(&self) -> SocketOptions {
        self.core.socket.get(&self.core.life)
    }
}
