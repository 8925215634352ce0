//! synack behind [`BenchStack`]: one `synack_proto::Stack` with one
//! IP-medium interface, driven exactly like smoltcp's column.
//!
//! What is synack's own and what the harness sets:
//! - synack's defaults everywhere (Linux's: timestamps, window scaling,
//!   SACK, 40 ms delayed ACKs, 200 ms minimum RTO, RACK-TLP), checksums
//!   computed and verified in software;
//! - [`HostConfig::buffers`] become the default (and maximum) socket buffer
//!   sizes, [`HostConfig::congestion`] the congestion control (`None` means
//!   synack's default, CUBIC: synack has no "no congestion control" mode),
//!   [`HostConfig::sack`] whether SACK is offered;
//! - stack events are drained and dropped on every poll (the harness's
//!   applications poll sockets instead).

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::config::{BufferSizes, CongestionAlgorithm};
use synack_proto::stack::{ConnHandle, ConnectOptions, Event, Interface, ListenerHandle, Trace};
use synack_proto::tcp::TcpState as ProtoState;
use synack_proto::tcp::conn::{RecvError, Shutdown, SocketOptions};
use synack_proto::tcp::recovery::CongestionSample;
use synack_proto::{Config, Instant, Stack};

use crate::frames::Frames;
use crate::stack::{BenchStack, Congestion, HostConfig, TcpState};

/// A synack socket: a listener or a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SynackSocket {
    Listener(ListenerHandle),
    Conn(ConnHandle),
}

/// synack as a [`BenchStack`].
#[derive(Debug)]
pub struct SynackStack {
    stack: Stack,
    /// The latest `now` seen (socket calls carry no time in the trait).
    now: Instant,
    mtu: usize,
    scratch: Vec<u8>,
    /// Connections whose reads reached the end of the stream.
    finished: HashSet<ConnHandle>,
    /// Congestion trace samples, when recording (see `record_congestion`).
    pub congestion_log: Option<Vec<(Instant, CongestionSample)>>,
}

impl SynackStack {
    /// The stack itself (counters, `tcp_info`).
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

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

    fn conn(s: SynackSocket) -> Option<ConnHandle> {
        match s {
            SynackSocket::Conn(c) => Some(c),
            SynackSocket::Listener(_) => None,
        }
    }
}

/// The synack configuration for one harness host.
pub fn config_for(host: &HostConfig) -> Config {
    let mut c = Config {
        seed: host.seed,
        mtu: host.mtu,
        tcp_sack: host.sack,
        ..Config::default()
    };
    c.tcp_congestion_control = match host.congestion {
        Congestion::Reno => CongestionAlgorithm::Reno,
        Congestion::Cubic | Congestion::None => CongestionAlgorithm::Cubic,
    };
    c.tcp_rmem = BufferSizes {
        min: c.tcp_rmem.min,
        default: host.buffers.rx,
        max: host.buffers.rx.max(c.tcp_rmem.min),
    };
    c.tcp_wmem = BufferSizes {
        min: c.tcp_wmem.min,
        default: host.buffers.tx,
        max: host.buffers.tx.max(c.tcp_wmem.min),
    };
    c
}

impl BenchStack for SynackStack {
    type Socket = SynackSocket;
    const NAME: &'static str = "synack";

    fn new(config: &HostConfig) -> SynackStack {
        let stack = Stack::new(
            config_for(config),
            Interface::ip(config.addr, config.prefix_len),
        );
        SynackStack {
            stack,
            now: Instant::ZERO,
            mtu: config.mtu,
            scratch: vec![0; config.mtu.max(synack_proto::stack::MIN_TRANSMIT_BUFFER)],
            finished: HashSet::new(),
            congestion_log: None,
        }
    }

    fn poll(&mut self, now: Instant, rx: &mut Frames, tx: &mut Frames) {
        self.now = self.now.max(now);
        let now = self.now;
        while rx
            .pop_with(|frame| self.stack.handle_frame(now, frame))
            .is_some()
        {}
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
        while let Some(n) = self.stack.poll_transmit(now, &mut self.scratch) {
            tx.push(&self.scratch[..n.min(self.mtu)]);
        }
        while let Some(event) = self.stack.poll_event() {
            if let (Event::Congestion { at, sample, .. }, Some(log)) =
                (event, self.congestion_log.as_mut())
            {
                log.push((at, sample));
            }
        }
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.stack.poll_timeout()
    }

    fn listen(&mut self, port: u16) -> SynackSocket {
        let local = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
        // A second `listen` on the same port reuses the listener (it has an
        // accept queue).
        let existing = self.stack.sockets().find_map(|s| match s.id {
            synack_proto::stack::SocketId::Listener(l) if s.local.port() == port => Some(l),
            _ => None,
        });
        let l = existing.unwrap_or_else(|| {
            self.stack
                .tcp_listen(local, 1024)
                .expect("a free port on our own address")
        });
        SynackSocket::Listener(l)
    }

    fn accept(&mut self, listener: SynackSocket) -> Option<SynackSocket> {
        match listener {
            SynackSocket::Listener(l) => self.stack.tcp_accept(l).ok().map(SynackSocket::Conn),
            SynackSocket::Conn(_) => None,
        }
    }

    fn connect(&mut self, now: Instant, local_port: u16, remote: SocketAddrV4) -> SynackSocket {
        self.now = self.now.max(now);
        let opts = ConnectOptions {
            local_port: Some(local_port),
            socket: SocketOptions::default(),
        };
        let c = self
            .stack
            .tcp_connect(self.now, remote, opts)
            .expect("a valid remote and a free local port");
        SynackSocket::Conn(c)
    }

    fn state(&self, s: SynackSocket) -> TcpState {
        let Some(c) = Self::conn(s) else {
            return TcpState::Listen;
        };
        match self.stack.tcp_state(c) {
            ProtoState::Closed => TcpState::Closed,
            ProtoState::Listen => TcpState::Listen,
            ProtoState::SynSent => TcpState::SynSent,
            ProtoState::SynReceived => TcpState::SynReceived,
            ProtoState::Established => TcpState::Established,
            ProtoState::FinWait1 => TcpState::FinWait1,
            ProtoState::FinWait2 => TcpState::FinWait2,
            ProtoState::CloseWait => TcpState::CloseWait,
            ProtoState::Closing => TcpState::Closing,
            ProtoState::LastAck => TcpState::LastAck,
            ProtoState::TimeWait => TcpState::TimeWait,
        }
    }

    fn send(&mut self, s: SynackSocket, data: &[u8]) -> usize {
        let Some(c) = Self::conn(s) else {
            return 0;
        };
        self.stack.tcp_send(self.now, c, data).unwrap_or(0)
    }

    fn recv(&mut self, s: SynackSocket, buf: &mut [u8]) -> usize {
        let Some(c) = Self::conn(s) else {
            return 0;
        };
        match self.stack.tcp_recv(self.now, c, buf) {
            Ok(0) if !buf.is_empty() => {
                self.finished.insert(c);
                0
            }
            Ok(n) => n,
            Err(RecvError::WouldBlock) => 0,
            Err(_) => {
                self.finished.insert(c);
                0
            }
        }
    }

    fn recv_finished(&self, s: SynackSocket) -> bool {
        Self::conn(s).is_some_and(|c| self.finished.contains(&c))
    }

    fn close(&mut self, s: SynackSocket) {
        if let Some(c) = Self::conn(s) {
            let _ = self.stack.tcp_shutdown(self.now, c, Shutdown::Write);
        }
    }

    fn release(&mut self, s: SynackSocket) {
        if let Some(c) = Self::conn(s) {
            self.finished.remove(&c);
            self.stack.tcp_close(self.now, c);
        }
    }
}
