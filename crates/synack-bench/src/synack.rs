//! synack behind [`BenchStack`]: one sans-IO [`Stack`] with one IP-medium
//! interface, fed and drained through the harness's frame queues.
//!
//! What is synack's own and what is ours:
//! - synack's Linux-compatible defaults everywhere (timestamps, SACK, window
//!   scaling, delayed ACKs, Nagle), checksums computed and verified in
//!   software;
//! - socket buffers are limits, not allocations: a connection's ring buffers
//!   grow on demand up to [`HostConfig::buffers`] and are released when idle;
//! - one listener per port with a large backlog serves every `listen` call
//!   on that port (synack has an accept queue, so the same listener handle is
//!   returned each time);
//! - no TIME-WAIT table (`tcp_max_tw_buckets = 0`): see `config_for`;
//! - the congestion controller comes from [`HostConfig::congestion`]
//!   (`None`, which synack does not offer, maps to NewReno), SACK from
//!   [`HostConfig::sack`];
//! - the connection table is reserved for [`HostConfig::capacity`]
//!   connections (`Stack::reserve_connections`), as smoltcp's socket set is;
//! - the stack's events are drained on every poll (the harness's
//!   applications poll their sockets instead); congestion trace samples are
//!   kept on request ([`SynackStack::record_congestion`]).

use std::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::config::CongestionAlgorithm;
use synack_proto::stack::{
    ConnHandle, ConnectOptions, Event, FrameBuf, IfaceId, Interface, ListenerHandle, Trace,
};
use synack_proto::storage::kept::MIN_KEPT_PAYLOAD;
use synack_proto::tcp::conn::SocketOptions;
use synack_proto::tcp::recovery::CongestionSample;
use synack_proto::{Config, Instant, Stack};

use crate::frames::Frames;
use crate::stack::{BenchStack, Congestion, HostConfig, TcpState};

/// A socket as the harness sees it: a listener or a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynackSocket {
    Listener(ListenerHandle),
    Conn(ConnHandle),
}

/// The listen(2) backlog the harness's listeners get.
const BACKLOG: usize = 4096;

/// synack as a [`BenchStack`].
pub struct SynackStack {
    stack: Stack,
    /// One listener per port the harness listens on (a handful at most:
    /// a short list, not a hash map, so the per-handshake `listen` costs a
    /// compare instead of a SipHash).
    listeners: Vec<(u16, ListenerHandle)>,
    socket: SocketOptions,
    mtu: usize,
    /// The latest time the harness gave us; commands happen then.
    now: Instant,
    /// Congestion trace samples, when recording.
    pub congestion_log: Option<Vec<(Instant, CongestionSample)>>,
}

impl std::fmt::Debug for SynackStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SynackStack")
            .field("addr", &self.stack.interface().addr)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl SynackStack {
    /// The stack itself, for measurements that look inside (memory, stats).
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The stack itself, to feed it frames directly (criterion benches).
    pub fn stack_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }

    /// Keeps every connection's congestion trace samples in
    /// `congestion_log` (for plots and diagnosis).
    pub fn record_congestion(&mut self) {
        self.stack.set_trace(Trace {
            congestion: true,
            ..Trace::default()
        });
        self.congestion_log.get_or_insert_with(Vec::new);
    }

    fn conn(socket: SynackSocket) -> Option<ConnHandle> {
        match socket {
            SynackSocket::Conn(c) => Some(c),
            SynackSocket::Listener(_) => None,
        }
    }
}

fn config_for(host: &HostConfig) -> Config {
    let mut config = Config {
        seed: host.seed,
        mtu: host.mtu,
        tcp_congestion_control: match host.congestion {
            Congestion::Cubic => CongestionAlgorithm::Cubic,
            Congestion::Reno | Congestion::None => CongestionAlgorithm::Reno,
        },
        tcp_sack: host.sack,
        // The bench's buffers are the sizes it gives both stacks (accepted
        // connections take `tcp_rmem`'s default), not a start to grow from.
        tcp_moderate_rcvbuf: false,
        somaxconn: BACKLOG,
        tcp_max_syn_backlog: BACKLOG,
        // The handshake loop reuses 8,976 client ports at over 100k
        // connections a second, far inside TIME-WAIT's 60 s, and synack (like
        // Linux without tcp_tw_reuse) refuses a connect over a TIME-WAIT
        // tuple. Keep none, as smoltcp's side does (the harness aborts and
        // reuses its TIME-WAIT sockets): the connection still goes through
        // TIME-WAIT's entry point and is counted as an overflow.
        tcp_max_tw_buckets: 0,
        ..Config::default()
    };
    config.tcp_rmem.default = host.buffers.rx;
    config.tcp_rmem.max = config.tcp_rmem.max.max(host.buffers.rx);
    config.tcp_wmem.default = host.buffers.tx;
    config.tcp_wmem.max = config.tcp_wmem.max.max(host.buffers.tx);
    config
}

impl BenchStack for SynackStack {
    type Socket = SynackSocket;
    const NAME: &'static str = "synack";

    fn new(host: &HostConfig) -> SynackStack {
        let mut stack = Stack::new(config_for(host), Interface::ip(host.addr, host.prefix_len));
        // As smoltcp's socket set is allocated for `capacity` slots.
        stack.reserve_connections(host.capacity);
        SynackStack {
            stack,
            listeners: Vec::new(),
            socket: SocketOptions {
                recv_buffer: Some(host.buffers.rx),
                send_buffer: Some(host.buffers.tx),
                ..SocketOptions::default()
            },
            mtu: host.mtu,
            now: Instant::ZERO,
            congestion_log: None,
        }
    }

    fn poll(&mut self, now: Instant, rx: &mut Frames, tx: &mut Frames) {
        self.now = now;
        // Everything the peer sent since the last poll is one batch, as a
        // driver reading its device in batches would see it.
        if rx.len() == 1 {
            // A frame alone (every frame of a handshake). A short one is read
            // in place in the queue's buffer, which goes straight back to its
            // pool (the stack would copy its payload anyway); a long one is
            // handed over, as a batch is.
            if let Some((buf, len)) = rx.take() {
                if len < MIN_KEPT_PAYLOAD {
                    self.stack.handle_frame_on(now, IfaceId(0), &buf[..len]);
                    rx.recycle(buf);
                } else {
                    let mut one = [FrameBuf::new(buf, len)];
                    self.stack.handle_frames_owned(now, IfaceId(0), &mut one);
                    let [mut left] = one;
                    if !left.is_taken() {
                        rx.recycle(left.take());
                    }
                }
            }
        } else if !rx.is_empty() {
            // Handed over, as a driver hands its receive buffers to a stack
            // that may keep them (zero-copy receive: a connection keeps
            // in-order frames instead of copying them into its buffer);
            // every buffer it left goes back at once.
            self.stack.handle_frames_owned(now, IfaceId(0), rx.handed());
            rx.recycle_handed();
        }
        // Kept frames the application has read since go back to the pool
        // they came from.
        self.reclaim(rx);
        // Spurious timeouts are no-ops (the sans-IO contract), so calling it
        // on every poll is safe and keeps the harness's loop simple.
        self.stack.handle_timeout(now);
        // Every frame in one call, as smoltcp's `Interface::poll` serves
        // every socket in one.
        let mtu = self.mtu;
        self.stack
            .poll_transmit_batch(now, |write| tx.push_up_to(mtu, write));
        while let Some(event) = self.stack.poll_event() {
            if let (Event::Congestion { at, sample, .. }, Some(log)) =
                (event, self.congestion_log.as_mut())
            {
                log.push((at, sample));
            }
        }
    }

    fn frames_kept(&self) -> u64 {
        self.stack.stats().tcp_ext.tcp_rcv_frames_kept
    }

    fn reclaim(&mut self, rx: &mut Frames) {
        self.stack.reclaim_frames(|frame| rx.recycle(frame));
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.stack.poll_timeout()
    }

    fn listen(&mut self, port: u16) -> SynackSocket {
        if let Some(&(_, listener)) = self.listeners.iter().find(|(p, _)| *p == port) {
            return SynackSocket::Listener(listener);
        }
        // A fresh port on our own wildcard address: nothing else holds it.
        let listener = self
            .stack
            .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port), BACKLOG)
            .expect("the harness listens on each port once");
        self.listeners.push((port, listener));
        SynackSocket::Listener(listener)
    }

    fn accept(&mut self, listener: SynackSocket) -> Option<SynackSocket> {
        match listener {
            SynackSocket::Listener(l) => self.stack.tcp_accept(l).ok().map(SynackSocket::Conn),
            SynackSocket::Conn(_) => None,
        }
    }

    fn connect(&mut self, now: Instant, local_port: u16, remote: SocketAddrV4) -> SynackSocket {
        self.now = now;
        let opts = ConnectOptions {
            local_port: Some(local_port),
            socket: self.socket,
            ..ConnectOptions::default()
        };
        // The harness hands out distinct local ports to a remote it knows.
        let conn = self
            .stack
            .tcp_connect(now, remote, opts)
            .expect("the harness connects from a free port to a valid peer");
        SynackSocket::Conn(conn)
    }

    fn state(&self, socket: SynackSocket) -> TcpState {
        match socket {
            SynackSocket::Listener(_) => TcpState::Listen,
            SynackSocket::Conn(c) => self.stack.tcp_state(c),
        }
    }

    fn send(&mut self, socket: SynackSocket, data: &[u8]) -> usize {
        let Some(c) = Self::conn(socket) else {
            return 0;
        };
        self.stack.tcp_send(self.now, c, data).unwrap_or(0)
    }

    fn recv(&mut self, socket: SynackSocket, buf: &mut [u8]) -> usize {
        let Some(c) = Self::conn(socket) else {
            return 0;
        };
        // WouldBlock and errors both read as "nothing now";
        // `recv_finished` tells the end of the stream apart.
        self.stack.tcp_recv(self.now, c, buf).unwrap_or(0)
    }

    fn recv_finished(&self, socket: SynackSocket) -> bool {
        let Some(c) = Self::conn(socket) else {
            return false;
        };
        self.stack.tcp_recv_queue(c) == Some(0)
            && matches!(
                self.stack.tcp_state(c),
                TcpState::CloseWait
                    | TcpState::LastAck
                    | TcpState::Closing
                    | TcpState::TimeWait
                    | TcpState::Closed
            )
    }

    fn close(&mut self, socket: SynackSocket) {
        // The harness's `close` sends our FIN but keeps the socket, as
        // smoltcp's does: that is shutdown(SHUT_WR). Failing means the
        // connection is already gone, which the state shows.
        if let Some(c) = Self::conn(socket) {
            let _ = self
                .stack
                .tcp_shutdown(self.now, c, synack_proto::tcp::conn::Shutdown::Write);
        }
    }

    fn release(&mut self, socket: SynackSocket) {
        // close(2): the application lets go; the stack finishes the
        // connection (TIME-WAIT included) on its own and frees it.
        if let Some(c) = Self::conn(socket) {
            self.stack.tcp_close(self.now, c);
        }
    }
}
