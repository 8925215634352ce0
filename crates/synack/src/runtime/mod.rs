//! The runtime: one sans-IO [`Stack`] and one [`Device`], driven by a
//! thread, shared by every socket (blocking and async alike).
//!
//! - The stack, the device and the sockets' wait state live behind one lock
//!   ([`Core`]). A socket call takes the lock, runs the stack's command, sends
//!   what the stack wants to send at once (from the caller's thread, like a
//!   kernel's send path), and dispatches the stack's events as wake-ups:
//!   a `Condvar` per socket direction for blocking calls, a `Waker` for
//!   async ones.
//! - The driver thread sleeps in poll(2) on the device's fd and a doorbell
//!   until the earlier of the stack's and the device's next timeout. Awake,
//!   it reads a bounded batch of frames into the stack, fires due timers,
//!   sends the output and sleeps again. A socket call that moves the next
//!   deadline earlier than the one the driver sleeps on rings the doorbell;
//!   nothing else wakes it, so an idle runtime does not spin (the test
//!   `an_idle_runtime_sleeps` in tests/runtime.rs counts its wake-ups).
//! - The driver holds only a weak reference while it sleeps: when the last
//!   [`Runtime`] handle and socket are gone, it stops by itself.
//!   [`Runtime::shutdown`] stops it explicitly, resetting every connection
//!   the application still holds so peers do not wait for a stack that is
//!   gone.

mod clock;
mod driver;
pub(crate) mod registry;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use synack_proto::stack::{FrameBuf, FrameOffload, IfaceId, Interface, Offloads, RxOffload};
use synack_proto::tcp::fastopen_cookie::FastOpenEntry;
use synack_proto::wire::EthernetAddress;
use synack_proto::{Config, Stack, Stats};

use crate::device::{Device, Medium, earliest};
pub(crate) use clock::Clock;
use registry::Registry;

/// Most frames the driver reads before it sends what the stack answered
/// and lets socket calls have the lock.
pub const RX_BATCH: usize = 64;

/// Devices whose frames are at most this long (no receive offload: MTU-sized
/// frames) are read a batch at a time and the batch handed to the stack's
/// software GRO (`Stack::handle_frames`); a device that already delivers
/// super-segments gains nothing from it and would need 64 buffers of 64 KiB.
const GRO_FRAME_MAX: usize = 16 * 1024;

/// How often the driver looks at a device that has no fd to wait on.
const FD_LESS_POLL: Duration = Duration::from_millis(1);

/// What the driver did, for tests and `serve`'s summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Times the driver woke up (from its fd, its doorbell or a timeout)
    /// and ran the stack.
    pub wakeups: u64,
    /// Frames read from the device and given to the stack.
    pub frames_in: u64,
    /// Frames the stack sent that the device took.
    pub frames_out: u64,
    /// Frames the device refused (its queue full: `WouldBlock`); TCP
    /// retransmits them.
    pub tx_dropped: u64,
    /// Other send errors (an interface that is down).
    pub tx_errors: u64,
    /// Receive errors that cost a frame but not the device.
    pub rx_errors: u64,
}

/// Counters of the whole runtime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    pub driver: DriverStats,
    /// The stack's MIB counters.
    pub stack: Stats,
}

/// Why the runtime no longer runs.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stopped {
    Shutdown,
    /// The device failed; every socket call reports this.
    DeviceFailed(io::ErrorKind, String),
}

impl Stopped {
    fn error(&self) -> io::Error {
        match self {
            Stopped::Shutdown => io::Error::new(
                io::ErrorKind::NotConnected,
                "the synack runtime was shut down",
            ),
            Stopped::DeviceFailed(kind, msg) => {
                io::Error::new(*kind, format!("the synack runtime's device failed: {msg}"))
            }
        }
    }
}

/// What the driver sleeps on, so socket calls know when to ring.
#[derive(Clone, Copy, Debug, Default)]
struct DriverState {
    sleeping: bool,
    /// The deadline it sleeps until (`None`: until its fd or the doorbell).
    until: Option<Instant>,
}

/// Everything behind the runtime's lock.
pub(crate) struct Core {
    pub(crate) stack: Stack,
    device: Box<dyn Device + Send>,
    pub(crate) clock: Clock,
    tx_buf: Vec<u8>,
    /// Receive buffers: `RX_BATCH` of them for a device whose frames go
    /// through software GRO, else one. Handed to the stack, which may keep
    /// some (zero-copy receive: `Stack::handle_frames_owned`).
    rx_bufs: Vec<FrameBuf>,
    /// Buffers the stack kept and gave back once read, for the slots it
    /// took (at most [`RX_BATCH`]).
    rx_spare: Vec<Vec<u8>>,
    /// Each receive buffer's size.
    rx_len: usize,
    /// The device does send offloads: transmit through
    /// `poll_transmit_offloaded`.
    offloads: bool,
    pub(crate) registry: Registry,
    bell: UnixDatagram,
    driver: DriverState,
    stats: DriverStats,
    stopped: Option<Stopped>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("stack", &self.stack)
            .field("stats", &self.stats)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Sends everything the stack has to send, dispatches its events, and
    /// rings the driver if the next deadline moved before its wake-up time.
    /// Every call into the stack is followed by this.
    pub(crate) fn flush(&mut self) {
        let now = self.clock.now();
        if self.offloads {
            while let Some(t) = self.stack.poll_transmit_offloaded(now, &mut self.tx_buf) {
                self.send_frame(t.len, t.offload);
            }
        } else {
            while let Some(n) = self.stack.poll_transmit(now, &mut self.tx_buf) {
                self.send_frame(n, None);
            }
        }
        while let Some(event) = self.stack.poll_event() {
            self.registry.dispatch(event);
        }
        if self.driver.sleeping {
            let deadline = self.deadline();
            let earlier = match (deadline, self.driver.until) {
                (Some(d), Some(until)) => d < until,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if earlier {
                self.ring();
            }
        }
    }

    fn send_frame(&mut self, len: usize, offload: Option<FrameOffload>) {
        let frame = &self.tx_buf[..len];
        let sent = match offload {
            Some(o) => self.device.send_offloaded(frame, o),
            None => self.device.send(frame),
        };
        match sent {
            Ok(()) => self.stats.frames_out += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stats.tx_dropped += 1,
            Err(_) => self.stats.tx_errors += 1,
        }
    }

    /// The earlier of the stack's and the device's next timeout.
    fn deadline(&self) -> Option<Instant> {
        let stack = self.stack.poll_timeout().and_then(|t| self.clock.to_std(t));
        earliest(stack, self.device.poll_timeout())
    }

    /// Wakes the driver.
    fn ring(&mut self) {
        self.driver.sleeping = false;
        // A full doorbell (WouldBlock) is already ringing.
        let _ = self.bell.send(&[1]);
    }

    /// The driver's turn: a batch of frames, due timers, output. Returns
    /// whether frames may still be waiting (the batch filled up).
    fn drive(&mut self) -> bool {
        self.stats.wakeups += 1;
        let now = self.clock.now();
        let mut more = false;
        // Plain frames wait in `rx_bufs` (`lens`: how many and how long) to
        // go to the stack together; a frame with offload metadata goes
        // alone, after them.
        self.reclaim_rx();
        let mut held = 0;
        let batching = self.rx_bufs.len() == RX_BATCH;
        for i in 0..RX_BATCH {
            let slot = if batching { held } else { 0 };
            match self.device.recv_offloaded(&mut self.rx_bufs[slot].buf) {
                Ok(Some((n, rx))) => {
                    self.stats.frames_in += 1;
                    self.rx_bufs[slot].len = n;
                    if batching && rx == RxOffload::default() {
                        held += 1;
                    } else {
                        self.deliver_held(now, held);
                        held = 0;
                        // A TAP's super-segments keep their GSO size, so TCP
                        // counts the kernel's segments.
                        let frame = self.rx_bufs[slot].frame();
                        self.stack.handle_frame_rx(now, IfaceId(0), frame, rx);
                    }
                }
                Ok(None) => break,
                Err(e) => match e.kind() {
                    // Lost frames (a wrapper's failed send, a short buffer):
                    // TCP recovers.
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::Interrupted
                    | io::ErrorKind::InvalidInput => {
                        self.stats.rx_errors += 1;
                        break;
                    }
                    kind => {
                        self.deliver_held(now, held);
                        self.fail(kind, e.to_string());
                        return false;
                    }
                },
            }
            more = i + 1 == RX_BATCH;
        }
        self.deliver_held(now, held);
        let now = self.clock.now();
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
        self.flush();
        more
    }

    /// Hands the frames waiting in the first `held` receive buffers to the
    /// stack as one batch (software GRO merges a flow's segments; a
    /// connection may keep in-order frames instead of copying them), and
    /// gives each slot whose buffer it kept another one.
    fn deliver_held(&mut self, now: synack_proto::Instant, held: usize) {
        if held == 0 {
            return;
        }
        let frames = &mut self.rx_bufs[..held];
        self.stack.handle_frames_owned(now, IfaceId(0), frames);
        for f in frames {
            f.refill(&mut self.rx_spare, self.rx_len);
        }
    }

    /// Takes back the buffers of kept frames the application has read.
    fn reclaim_rx(&mut self) {
        let (stack, spare, len) = (&mut self.stack, &mut self.rx_spare, self.rx_len);
        // Only as many as a batch can take.
        stack.reclaim_frames(|buf| FrameBuf::keep_spare(spare, buf, len, RX_BATCH));
    }

    fn fail(&mut self, kind: io::ErrorKind, msg: String) {
        self.stopped = Some(Stopped::DeviceFailed(kind, msg));
        self.registry.wake_all();
    }

    /// The error socket calls get once the runtime stopped.
    pub(crate) fn check_running(&self) -> io::Result<()> {
        match &self.stopped {
            Some(s) => Err(s.error()),
            None => Ok(()),
        }
    }
}

/// What sockets and the driver share.
pub(crate) struct Shared {
    core: Mutex<Core>,
    /// The doorbell's sending end, to stop the driver when this goes.
    bell: UnixDatagram,
    thread: Mutex<Option<JoinHandle<()>>>,
    local: Ipv4Addr,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The driver's weak reference no longer upgrades: wake it to stop.
        let _ = self.bell.send(&[1]);
    }
}

/// A poisoned lock means a thread panicked inside the stack: report it
/// rather than run on a stack left half-updated.
fn poisoned() -> io::Error {
    io::Error::other("the synack runtime's lock is poisoned (a thread panicked inside the stack)")
}

impl Shared {
    /// Takes the lock of a running runtime.
    pub(crate) fn lock(&self) -> io::Result<MutexGuard<'_, Core>> {
        let core = self.core.lock().map_err(|_| poisoned())?;
        core.check_running()?;
        Ok(core)
    }

    /// Takes the lock even if the runtime stopped or a thread panicked
    /// (for `Drop` and `shutdown`, which must not fail).
    pub(crate) fn lock_anyway(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps on `cond` (releasing the lock) until woken or `deadline`.
    /// Returns the lock again and whether the deadline passed; fails if the
    /// runtime stopped meanwhile.
    pub(crate) fn wait<'a>(
        &'a self,
        core: MutexGuard<'a, Core>,
        cond: &Condvar,
        deadline: Option<Instant>,
    ) -> io::Result<(MutexGuard<'a, Core>, bool)> {
        let (core, timed_out) = match deadline {
            None => (cond.wait(core).map_err(|_| poisoned())?, false),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Ok((core, true));
                }
                let (core, r) = cond.wait_timeout(core, d - now).map_err(|_| poisoned())?;
                (core, r.timed_out())
            }
        };
        core.check_running()?;
        Ok((core, timed_out))
    }
}

/// A handle to a running stack. Cheap to clone; every clone and every
/// socket made from it share the one stack.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("addr", &self.shared.local)
            .finish_non_exhaustive()
    }
}

/// Sets up a [`Runtime`]: the interface address and the stack's
/// configuration, then [`start`](Builder::start) on a device.
#[derive(Clone, Debug)]
pub struct Builder {
    addr: Ipv4Addr,
    prefix_len: u8,
    config: Config,
    seed: Option<u64>,
    mac: Option<EthernetAddress>,
    gateway: Option<Ipv4Addr>,
}

impl Builder {
    /// The stack's address on the link, `addr/prefix_len`.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Builder {
        Builder {
            addr,
            prefix_len,
            config: Config::default(),
            seed: None,
            mac: None,
            gateway: None,
        }
    }

    /// The default route's gateway (on the link), for peers beyond it.
    pub fn gateway(mut self, gateway: Ipv4Addr) -> Builder {
        self.gateway = Some(gateway);
        self
    }

    /// The stack's hardware address on an Ethernet (TAP) link; by default a
    /// locally administered one drawn from the seed (`02:xx:xx:xx:xx:xx`).
    pub fn mac(mut self, mac: EthernetAddress) -> Builder {
        self.mac = Some(mac);
        self
    }

    /// The stack's configuration (Linux's defaults otherwise). Its `seed`
    /// is replaced by one from the OS unless [`seed`](Builder::seed) is set.
    pub fn config(mut self, config: Config) -> Builder {
        self.config = config;
        self
    }

    /// Seeds the stack's RNG with `seed` (ISNs, ports, keys), to replay a run.
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = Some(seed);
        self
    }

    /// Starts the stack on `device` and its driver thread.
    pub fn start(self, device: impl Device + Send + 'static) -> io::Result<Runtime> {
        let device: Box<dyn Device + Send> = Box::new(device);
        if self.prefix_len > 32 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("prefix length {} is longer than 32", self.prefix_len),
            ));
        }
        let mut config = self.config;
        config.seed = self.seed.unwrap_or_else(os_seed);
        let iface = match device.medium() {
            Medium::Ip => Interface::ip(self.addr, self.prefix_len),
            Medium::Ethernet => {
                let mac = self.mac.unwrap_or_else(|| local_mac(config.seed));
                Interface::ethernet(mac, self.addr, self.prefix_len)
            }
        };
        config.mtu = device.mtu();
        let mut stack = Stack::new(config, iface);
        if let Some(gw) = self.gateway {
            stack.set_default_gateway(gw).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("gateway {gw}: {e:?}"))
            })?;
        }
        // State changes wake sockets (connect, linger); segments are not traced.
        stack.set_trace(synack_proto::stack::Trace {
            states: true,
            segments: false,
            congestion: false,
        });
        let driver_fd = device.fd().map(|fd| fd.try_clone_to_owned()).transpose()?;
        let (bell, wake) = UnixDatagram::pair()?;
        bell.set_nonblocking(true)?;
        wake.set_nonblocking(true)?;
        let offloads = device.tx_offloads();
        stack.set_offloads(IfaceId(0), offloads);
        let offloads = offloads != Offloads::default();
        let frame_len = device
            .max_frame_len()
            .max(synack_proto::stack::MIN_TRANSMIT_BUFFER);
        let clock = Clock::new();
        // The time of day, for IP timestamp options (`ping -T`).
        if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)
        {
            let millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
            stack.set_time_of_day(clock.now(), millis);
        }
        let core = Core {
            stack,
            device,
            clock,
            tx_buf: vec![0; frame_len],
            rx_bufs: {
                let n = if frame_len <= GRO_FRAME_MAX {
                    RX_BATCH
                } else {
                    1
                };
                vec![FrameBuf::new(vec![0; frame_len], 0); n]
            },
            rx_spare: Vec::new(),
            rx_len: frame_len,
            offloads,
            registry: Registry::default(),
            bell: bell.try_clone()?,
            driver: DriverState::default(),
            stats: DriverStats::default(),
            stopped: None,
        };
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            bell,
            thread: Mutex::new(None),
            local: self.addr,
        });
        let weak = Arc::downgrade(&shared);
        let thread = std::thread::Builder::new()
            .name("synack-driver".into())
            .spawn(move || driver::run(weak, driver_fd, wake))?;
        *shared.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        Ok(Runtime { shared })
    }
}

/// A unicast, locally administered MAC address (IEEE 802: the second
/// least significant bit of the first octet set, the least clear).
fn local_mac(seed: u64) -> EthernetAddress {
    let mut h = std::hash::DefaultHasher::new();
    h.write_u64(seed);
    let b = h.finish().to_le_bytes();
    EthernetAddress([0x02, b[0], b[1], b[2], b[3], b[4]])
}

/// 64 bits from the OS's randomness (std seeds `RandomState` from it).
fn os_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

impl Runtime {
    /// A runtime for `addr/prefix_len` on `device` with Linux's defaults.
    pub fn start(
        device: impl Device + Send + 'static,
        addr: Ipv4Addr,
        prefix_len: u8,
    ) -> io::Result<Runtime> {
        Builder::new(addr, prefix_len).start(device)
    }

    /// The stack's address.
    pub fn local_ip(&self) -> Ipv4Addr {
        self.shared.local
    }

    /// The driver's and the stack's counters.
    pub fn stats(&self) -> RuntimeStats {
        let core = self.shared.lock_anyway();
        RuntimeStats {
            driver: core.stats,
            stack: core.stack.stats().clone(),
        }
    }

    /// Ends the TCP connection or TIME-WAIT entry from `local` to `peer` at
    /// once, whoever holds it (`ss -K`, Linux's SOCK_DESTROY): a
    /// synchronized connection resets its peer, and its application's
    /// calls fail with `ConnectionAborted`. Whether there was one.
    pub fn destroy_tcp(&self, local: SocketAddrV4, peer: SocketAddrV4) -> bool {
        let mut core = self.shared.lock_anyway();
        let now = core.clock.now();
        let killed = core.stack.tcp_destroy(now, local, peer);
        core.flush();
        killed
    }

    /// Runs `f` with the stack, read-only (socket lists, counters, config).
    pub fn with_stack<T>(&self, f: impl FnOnce(&Stack) -> T) -> T {
        f(&self.shared.lock_anyway().stack)
    }

    /// The path MTU to `dst` (its route's interface MTU, lowered by what a
    /// "fragmentation needed" taught for it: what `ip route get` shows);
    /// `None` without a route.
    pub fn path_mtu(&self, dst: Ipv4Addr) -> Option<u16> {
        self.shared.lock_anyway().stack.path_mtu(dst)
    }

    /// The MTU of the link the route to `dst` leaves by (a learned path
    /// MTU aside: what IP_PMTUDISC_PROBE bounds a datagram by); `None`
    /// without a route.
    pub fn link_mtu(&self, dst: Ipv4Addr) -> Option<u16> {
        self.shared.lock_anyway().stack.link_mtu(dst)
    }

    /// What the client knows about `server` for TCP Fast Open (its cookie
    /// and MSS), to save it past this process.
    pub fn fastopen_entry(&self, server: Ipv4Addr) -> Option<FastOpenEntry> {
        self.shared.lock_anyway().stack.fastopen_entry(server)
    }

    /// Teaches the client a Fast Open entry saved by an earlier run.
    pub fn fastopen_remember(&self, server: Ipv4Addr, entry: FastOpenEntry) {
        self.shared
            .lock_anyway()
            .stack
            .fastopen_remember(server, entry);
    }

    /// Whether the runtime still runs (not shut down, device not failed).
    pub fn is_running(&self) -> bool {
        self.shared.lock_anyway().stopped.is_none()
    }

    /// Stops the runtime: resets every connection the application holds,
    /// closes its listeners, sends those resets, flushes the device (a
    /// capture file) and stops the driver. Blocked socket calls return an
    /// error; later ones fail at once. Idempotent.
    pub fn shutdown(&self) {
        let mut core = self.shared.lock_anyway();
        if core.stopped.is_none() {
            let now = core.clock.now();
            let conns: Vec<_> = core.registry.conns.keys().copied().collect();
            for c in conns {
                core.stack.tcp_abort(now, c);
            }
            let listeners: Vec<_> = core.registry.listeners.keys().copied().collect();
            for l in listeners {
                core.stack.tcp_close_listener(now, l);
            }
            let udps: Vec<_> = core.registry.udps.keys().copied().collect();
            for u in udps {
                let _ = core.stack.udp_close(u);
            }
            let pings: Vec<_> = core.registry.pings.keys().copied().collect();
            for p in pings {
                let _ = core.stack.ping_close(p);
            }
            core.flush();
            core.stopped = Some(Stopped::Shutdown);
            core.registry.wake_all();
            let _ = core.device.flush();
            core.ring();
        }
        drop(core);
        let thread = self
            .shared
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}
