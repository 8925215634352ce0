//! smoltcp 0.14 behind [`BenchStack`]: one `Interface` (IP medium), one
//! `SocketSet`, and a `phy::Device` over the harness's frame queues.
//!
//! What is smoltcp's own and what is ours:
//! - smoltcp's defaults everywhere (Nagle on, 10 ms delayed ACK, window
//!   scaling from the receive buffer size, no timestamps, no SACK-based
//!   recovery, 1 s minimum RTO), checksums computed and verified in software;
//! - congestion control is set per socket from [`HostConfig::congestion`]
//!   (smoltcp's default build has none; we enable cubic and reno);
//! - socket buffers are allocated when a socket is first made, at
//!   [`HostConfig::buffers`], and kept: a released socket goes on a free list
//!   and the next `listen`/`connect` reuses it (what a smoltcp application
//!   does, and it keeps `SocketSet::add`, a linear scan for a free slot, off
//!   the measured path);
//! - the socket set's slot vector is allocated for [`HostConfig::capacity`]
//!   sockets up front (a smoltcp application sizes it; growth by doubling
//!   would add up to 2x slack to the memory figure).

use std::net::SocketAddrV4;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};
use synack_proto::Instant;

use crate::frames::Frames;
use crate::pair::{DriveError, Pair};
use crate::stack::{BenchStack, Congestion, HostConfig, TcpState};

/// synack time to smoltcp time (both count from the same zero).
pub fn to_smol(now: Instant) -> SmolInstant {
    SmolInstant::from_micros(i64::try_from(now.total_micros()).unwrap_or(i64::MAX))
}

/// smoltcp time to synack time; smoltcp says "now" with instant zero.
pub fn from_smol(t: SmolInstant) -> Instant {
    Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// Bytes one socket slot takes in a `SocketSet` in this build of smoltcp
/// (the socket itself lives in the slot; its buffers are separate).
pub const fn socket_slot_size() -> usize {
    core::mem::size_of::<SocketStorage<'static>>()
}

/// A `phy::Device` over two frame queues.
pub struct QueueDevice<'q> {
    pub rx: &'q mut Frames,
    pub tx: &'q mut Frames,
    pub mtu: usize,
}

impl std::fmt::Debug for QueueDevice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueDevice")
            .field("rx", &self.rx.len())
            .field("tx", &self.tx.len())
            .field("mtu", &self.mtu)
            .finish()
    }
}

pub fn capabilities(mtu: usize) -> DeviceCapabilities {
    let mut caps = DeviceCapabilities::default();
    caps.medium = Medium::Ip;
    caps.max_transmission_unit = mtu;
    caps.max_burst_size = None;
    // The default checksum capabilities compute and verify every checksum.
    caps
}

impl<'q> Device for QueueDevice<'q> {
    type RxToken<'a>
        = QueueRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = QueueTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _now: SmolInstant) -> Option<(QueueRx<'_>, QueueTx<'_>)> {
        let (buf, len) = self.rx.take()?;
        Some((
            QueueRx {
                buf,
                len,
                home: &mut *self.rx,
            },
            QueueTx {
                tx: &mut *self.tx,
                mtu: self.mtu,
            },
        ))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<QueueTx<'_>> {
        Some(QueueTx {
            tx: &mut *self.tx,
            mtu: self.mtu,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        capabilities(self.mtu)
    }
}

/// A received frame; its buffer goes back to the queue it came from.
#[derive(Debug)]
pub struct QueueRx<'a> {
    buf: Vec<u8>,
    len: usize,
    home: &'a mut Frames,
}

impl phy::RxToken for QueueRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.buf[..self.len]);
        self.home.recycle(self.buf);
        r
    }
}

#[derive(Debug)]
pub struct QueueTx<'a> {
    tx: &'a mut Frames,
    mtu: usize,
}

impl phy::TxToken for QueueTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        debug_assert!(len <= self.mtu, "smoltcp emitted {len} > MTU {}", self.mtu);
        self.tx.push_with(len, f)
    }
}

/// smoltcp as a [`BenchStack`].
pub struct SmolStack {
    iface: Interface,
    sockets: SocketSet<'static>,
    /// Released sockets, reused before a new one is added.
    free: Vec<SocketHandle>,
    /// The real socket set and free list while a staging set stands in.
    saved: Option<(SocketSet<'static>, Vec<SocketHandle>)>,
    config: HostConfig,
}

impl std::fmt::Debug for SmolStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmolStack")
            .field("addr", &self.config.addr)
            .field("sockets", &self.sockets.iter().count())
            .field("free", &self.free.len())
            .finish()
    }
}

fn smol_cc(c: Congestion) -> tcp::CongestionControl {
    match c {
        Congestion::None => tcp::CongestionControl::None,
        Congestion::Reno => tcp::CongestionControl::Reno,
        Congestion::Cubic => tcp::CongestionControl::Cubic,
    }
}

impl SmolStack {
    /// The underlying interface and sockets, for benches that script a peer.
    pub fn parts(&mut self) -> (&mut Interface, &mut SocketSet<'static>) {
        (&mut self.iface, &mut self.sockets)
    }

    pub fn socket(&self, h: SocketHandle) -> &tcp::Socket<'static> {
        self.sockets.get::<tcp::Socket<'static>>(h)
    }

    pub fn socket_mut(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket<'static>>(h)
    }

    /// Sockets in the set, free ones included.
    pub fn socket_count(&self) -> usize {
        self.sockets.iter().count()
    }

    /// Puts an empty socket set (and free list) in place of the real ones
    /// until [`end_staging`](SmolStack::end_staging).
    pub fn begin_staging(&mut self, capacity: usize) {
        let staging = SocketSet::new(Vec::with_capacity(capacity));
        let real = std::mem::replace(&mut self.sockets, staging);
        let free = std::mem::take(&mut self.free);
        assert!(self.saved.is_none(), "staging is not nested");
        self.saved = Some((real, free));
    }

    /// Puts the real socket set back and moves the staged sockets `handles`
    /// into it, in order; returns their new handles. Other staged sockets
    /// are dropped.
    pub fn end_staging(&mut self, handles: &[SocketHandle]) -> Vec<SocketHandle> {
        let (real, free) = self.saved.take().expect("end_staging after begin_staging");
        let mut staging = std::mem::replace(&mut self.sockets, real);
        self.free = free;
        handles
            .iter()
            .map(|&h| self.sockets.add(staging.remove(h)))
            .collect()
    }

    /// A socket for a new connection: a released one if any, else a new one.
    fn fresh_socket(&mut self) -> SocketHandle {
        let h = match self.free.pop() {
            Some(h) => h,
            None => {
                let b = self.config.buffers;
                let s = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0u8; b.rx]),
                    tcp::SocketBuffer::new(vec![0u8; b.tx]),
                );
                self.sockets.add(s)
            }
        };
        // Also resets the controller a reused socket still carries.
        let cc = smol_cc(self.config.congestion);
        self.socket_mut(h).set_congestion_control(cc);
        h
    }
}

impl BenchStack for SmolStack {
    type Socket = SocketHandle;
    const NAME: &'static str = "smoltcp";

    fn new(config: &HostConfig) -> SmolStack {
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = config.seed;
        let (mut rx, mut tx) = (Frames::new(), Frames::new());
        let mut dev = QueueDevice {
            rx: &mut rx,
            tx: &mut tx,
            mtu: config.mtu,
        };
        let mut iface = Interface::new(cfg, &mut dev, SmolInstant::ZERO);
        let a = config.addr.octets();
        iface.update_ip_addrs(|addrs| {
            // Ours is the only address: the vector has room for it.
            addrs
                .push(IpCidr::new(
                    IpAddress::v4(a[0], a[1], a[2], a[3]),
                    config.prefix_len,
                ))
                .expect("an interface has room for one address");
        });
        let slots: Vec<SocketStorage<'static>> = Vec::with_capacity(config.capacity);
        SmolStack {
            iface,
            sockets: SocketSet::new(slots),
            free: Vec::new(),
            saved: None,
            config: config.clone(),
        }
    }

    fn poll(&mut self, now: Instant, rx: &mut Frames, tx: &mut Frames) {
        let mut dev = QueueDevice {
            rx,
            tx,
            mtu: self.config.mtu,
        };
        let _ = self.iface.poll(to_smol(now), &mut dev, &mut self.sockets);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface
            .poll_at(to_smol(now), &self.sockets)
            .map(from_smol)
    }

    fn listen(&mut self, port: u16) -> SocketHandle {
        let h = self.fresh_socket();
        // A fresh or released socket is closed, and `port` is not zero.
        self.socket_mut(h)
            .listen(port)
            .expect("a closed socket can listen on a non-zero port");
        h
    }

    fn accept(&mut self, listener: SocketHandle) -> Option<SocketHandle> {
        match self.socket(listener).state() {
            tcp::State::Listen | tcp::State::SynReceived => None,
            _ => Some(listener),
        }
    }

    fn connect(&mut self, _now: Instant, local_port: u16, remote: SocketAddrV4) -> SocketHandle {
        let h = self.fresh_socket();
        let r = remote.ip().octets();
        let remote = IpEndpoint::new(
            IpAddress::Ipv4(Ipv4Address::new(r[0], r[1], r[2], r[3])),
            remote.port(),
        );
        let (iface, sockets) = (&mut self.iface, &mut self.sockets);
        // The socket is closed, the ports are non-zero and the address unicast.
        sockets
            .get_mut::<tcp::Socket<'static>>(h)
            .connect(iface.context(), remote, local_port)
            .expect("connect on a closed socket with a valid endpoint");
        h
    }

    fn state(&self, s: SocketHandle) -> TcpState {
        match self.socket(s).state() {
            tcp::State::Closed => TcpState::Closed,
            tcp::State::Listen => TcpState::Listen,
            tcp::State::SynSent => TcpState::SynSent,
            tcp::State::SynReceived => TcpState::SynReceived,
            tcp::State::Established => TcpState::Established,
            tcp::State::FinWait1 => TcpState::FinWait1,
            tcp::State::FinWait2 => TcpState::FinWait2,
            tcp::State::CloseWait => TcpState::CloseWait,
            tcp::State::Closing => TcpState::Closing,
            tcp::State::LastAck => TcpState::LastAck,
            tcp::State::TimeWait => TcpState::TimeWait,
        }
    }

    fn send(&mut self, s: SocketHandle, data: &[u8]) -> usize {
        self.socket_mut(s).send_slice(data).unwrap_or(0)
    }

    fn recv(&mut self, s: SocketHandle, buf: &mut [u8]) -> usize {
        self.socket_mut(s).recv_slice(buf).unwrap_or(0)
    }

    fn recv_finished(&self, s: SocketHandle) -> bool {
        let sock = self.socket(s);
        let fin_seen = matches!(
            sock.state(),
            tcp::State::CloseWait
                | tcp::State::LastAck
                | tcp::State::Closing
                | tcp::State::TimeWait
                | tcp::State::Closed
        );
        fin_seen && sock.recv_queue() == 0
    }

    fn close(&mut self, s: SocketHandle) {
        self.socket_mut(s).close();
    }

    /// smoltcp looks a segment's socket up by scanning the whole set, and
    /// `SocketSet::add` scans for a free slot, so opening N connections
    /// straight into one set costs O(N^2) scans of every kind. This builds
    /// the same end state faster: each batch is opened in small staging sets
    /// (so segment lookups scan only the batch), then moved into the real
    /// sets in order (leaving only `add`'s scan). The sockets, their order
    /// and their state are what the plain way produces.
    fn open_idle(
        pair: &mut Pair<SmolStack>,
        n: usize,
        first_port: u16,
    ) -> Result<Vec<(SocketHandle, SocketHandle)>, DriveError> {
        const BATCH: usize = 256;
        let mut conns = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let end = (start + BATCH).min(n);
            pair.a.begin_staging(BATCH);
            pair.b.begin_staging(BATCH);
            let opened = pair.open_range(start..end, BATCH, first_port);
            let (clients, servers): (Vec<_>, Vec<_>) = match &opened {
                Ok(c) => c.iter().copied().unzip(),
                Err(_) => (Vec::new(), Vec::new()),
            };
            let clients = pair.a.end_staging(&clients);
            let servers = pair.b.end_staging(&servers);
            opened?;
            conns.extend(clients.into_iter().zip(servers));
            start = end;
        }
        pair.settle()?;
        Ok(conns)
    }

    fn release(&mut self, s: SocketHandle) {
        // A socket still open is reset, so the free list only holds closed
        // (or TIME-WAIT) sockets, which `listen` and `connect` accept.
        let sock = self.socket_mut(s);
        if sock.is_open() {
            sock.abort();
        }
        self.free.push(s);
    }
}
