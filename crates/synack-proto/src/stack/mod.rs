//! The `Stack`: the one object a driver talks to (DESIGN.md §2), a whole
//! host.
//!
//! Read first: DESIGN.md §2 (the sans-IO contract) and §4 (demux, timers,
//! caps), RFC 1122 (what a host must do at every layer), then the module
//! for the layer you touch; each opens with the RFCs it implements.
//!
//! | module | what |
//! |---|---|
//! | `iface.rs` | interfaces (address, mask, medium), routes, source addresses |
//! | `ingress.rs` | frames in: Ethernet, IPv4 checks, martians, reassembly, dispatch |
//! | `egress.rs` | packets out: routing, ARP resolution, framing, fragmentation |
//! | `arp.rs` | ARP in and out (RFC 826), gratuitous ARP, failed resolutions |
//! | `icmp.rs` | echo, errors in (to TCP and UDP) and out (rate limited) |
//! | `tcp.rs` | TCP demux, listeners, SYN cookies, Fast Open, bookkeeping |
//! | `demux.rs` | the demux map: 4-tuple to slot index, tuple re-checked in the slot |
//! | `api.rs` | the application's TCP commands |
//! | `udp.rs` | UDP sockets through the stack |
//! | `loopback.rs` | the loopback: datagrams to our own addresses and 127/8 come back in |
//! | `redirect.rs` | ICMP redirects into the routing table (RFC 1122 §3.2.2.2) |
//!
//! The stack owns:
//! - interfaces on an IP medium (TUN: bare IPv4 packets) or Ethernet (TAP:
//!   ARP, gratuitous ARP on start), a routing table (connected routes,
//!   static routes, a default gateway; longest-prefix match);
//! - TCP connections in a slab with generational handles, found by 4-tuple
//!   through a SipHash-keyed map (hash-flooding resistant, one probe per
//!   segment whatever the number of connections); listeners by local
//!   address and port (0.0.0.0 matches any); compact TIME-WAIT entries;
//! - UDP sockets, the fragment reassembler, ICMP rate limiting, the SYN
//!   cookie and Fast Open keys and the client's Fast Open cookie cache;
//! - one timer queue holding each connection's next deadline, a queue of
//!   connections that may have output, bounded queues of control segments
//!   and of other datagrams (ICMP, UDP), so `poll_transmit` never scans;
//! - the events for the application, the MIB counters, the RNG and every
//!   secret drawn from it.
//!
//! Call order, after any input or command: `poll_transmit` until `None`,
//! then `poll_event` until `None`, then `poll_timeout`.

mod api;
mod arp;
mod datagram_pmtu;
mod demux;
mod egress;
mod forward;
#[doc(hidden)]
pub mod fuzz;
mod gro;
mod icmp;
mod iface;
mod ingress;
mod loopback;
mod multicast;
mod offload;
mod ping;
mod ports;
mod redirect;
pub mod slab;
mod tcp;
mod tcp_ip_options;
mod tcp_md5;
mod types;
mod udp;

pub use crate::ip::IfaceId;
pub use crate::storage::FrameBuf;
pub use offload::{FrameOffload, Offloads, RxOffload, Transmit};
pub use types::{
    AcceptError, ConnHandle, ConnectError, ConnectOptions, Direction, Event, Interface,
    ListenError, ListenOptions, ListenerHandle, Medium, ReuseportError, SegmentSummary, SocketId,
    SocketSummary, Trace,
};

use core::cell::Cell;
use core::hash::Hash;
#[cfg(test)]
use core::hash::Hasher;
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::HashMap;
use std::collections::VecDeque;

use self::demux::DemuxMap;
use self::egress::OutQueue;
use self::iface::Iface;
use self::slab::{Key, Slab};
use self::tcp::TcpReply;
use crate::Rng;
use crate::config::Config;
use crate::ip::SocketIp;
use crate::ip::frag::Reassembler;
use crate::ip::icmp::IcmpRateLimiter;
use crate::ip::route::RoutingTable;
use crate::ping::PingSockets;
use crate::siphash::SipKey;
use crate::stats::Stats;
use crate::tcp::conn::{Connection, Env, TimeWait};
use crate::tcp::fastopen_cookie::{FastOpenCache, FastOpenKeys};
use crate::tcp::isn::IsnGenerator;
use crate::tcp::listener::{Listener, SynRateLimiter};
use crate::tcp::ports::{DEFAULT_TABLE_SIZE, EphemeralPorts};
use crate::tcp::syncookie::SynCookies;
use crate::tcp::timer::{DenseKey, DenseSlots, TimerQueue};
use crate::time::Instant;
use crate::udp::UdpSockets;
use crate::wire::ArpRepr;
use crate::wire::ethernet::HEADER_LEN as ETHERNET_HEADER_LEN;
use crate::wire::ipv4::HEADER_LEN as IP_HEADER_LEN;

/// Most control segments (resets, TIME-WAIT ACKs, SYN-cookie SYN-ACKs)
/// waiting to be sent; more are dropped rather than queued without bound.
pub const MAX_PENDING_CONTROL: usize = 1024;

/// The smallest buffer `poll_transmit` writes into: an Ethernet header, IP
/// and TCP headers with options and at least one byte of data. Give it
/// room for a whole frame (the MTU plus 14).
pub const MIN_TRANSMIT_BUFFER: usize = ETHERNET_HEADER_LEN + IP_HEADER_LEN + 60 + 1;

/// The slabs the demux map's indices point into, borrowed field by field
/// (so that `self.demux` can be borrowed mutably beside them).
macro_rules! slots {
    ($stack:expr) => {
        $crate::stack::demux::Slots {
            conns: &$stack.conns,
            time_wait: &$stack.time_wait,
        }
    };
}
pub(crate) use slots;

/// A connection's 4-tuple, from our point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FourTuple {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
}

impl FourTuple {
    /// The tuple in 12 bytes (addresses, then ports, in network order): one
    /// write into a hasher instead of one per field.
    pub fn packed(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.local.ip().octets());
        b[4..8].copy_from_slice(&self.remote.ip().octets());
        b[8..10].copy_from_slice(&self.local.port().to_be_bytes());
        b[10..12].copy_from_slice(&self.remote.port().to_be_bytes());
        b
    }
}

/// A local address and port as one word, the key of the tests' count of
/// each local address's users: hashed in one write.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PortKey(u64);

#[cfg(test)]
impl PortKey {
    pub fn new(addr: SocketAddrV4) -> Self {
        PortKey((u64::from(addr.ip().to_bits()) << 16) | u64::from(addr.port()))
    }

    /// The address and port [`PortKey::new`] packed.
    pub fn addr(self) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from_bits((self.0 >> 16) as u32), self.0 as u16)
    }
}

#[cfg(test)]
impl Hash for PortKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// A received datagram's interface and addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RxAddrs {
    iface: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

/// What a 4-tuple leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Demux {
    Conn(Key),
    TimeWait(Key),
}

/// The stack's timers: one per connection and per TIME-WAIT entry, keyed by
/// slab index (removed entries cancel theirs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TimerKey {
    Conn(u32),
    TimeWait(u32),
}

/// Slab indices are small and dense (a slab reuses its freed slots), so
/// the timer queue keeps each key's state in an array slot: a connection's
/// timer is rescheduled after nearly every segment, and that costs an
/// index instead of a hash and a probe.
impl DenseKey for TimerKey {
    #[inline]
    fn lane_index(self) -> (usize, usize) {
        match self {
            TimerKey::Conn(i) => (0, i as usize),
            TimerKey::TimeWait(i) => (1, i as usize),
        }
    }

    fn from_lane_index(lane: usize, index: usize) -> Self {
        // Indices came from `lane_index`, so they fit.
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        if lane == 0 {
            TimerKey::Conn(index)
        } else {
            TimerKey::TimeWait(index)
        }
    }
}

/// Who holds a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// The application, through a [`ConnHandle`].
    App,
    /// A listener: half-open, in its SYN queue (or being made from a cookie).
    HalfOpen(Key),
    /// A listener: established (or a Fast Open child), in its accept queue.
    Queued(Key),
    /// Nobody: the application closed it and the stack finishes the close.
    Orphan,
}

struct ConnEntry {
    conn: Connection,
    /// [`Owner`] packed: its kind here, its listener's key beside (read
    /// and written through `owner()` / `set_owner()`), so the entry's
    /// bytes pack with no padded enum inside.
    owner_kind: OwnerKind,
    owner_listener: Key,
    /// The slab slot's generation (see [`slab::Entry`]).
    generation: u32,
    /// In the `ready` queue.
    queued: bool,
    /// A Fast Open child still in SYN-RECEIVED, counted against its
    /// listener's pending Fast Open queue: `owner_listener` keeps that
    /// listener's key even once the application owns the child
    /// ([`ConnEntry::fastopen_listener`]). A flag beside the key, not a
    /// second key: the 7 bytes saved hold `charged`.
    fastopen_pending: bool,
    /// The connection's buffer memory as last charged to the stack's
    /// counter (`Env::memory`, [`crate::tcp::memory`]); saturates at 4 GiB.
    charged: u32,
    /// IP_TTL and IP_TOS (the DSCP bits), set by the application or
    /// inherited from its listener: see [`SocketIp`]. In the entry's
    /// padding.
    ip: SocketIp,
}

struct TimeWaitEntry {
    tuple: FourTuple,
    tw: TimeWait,
    generation: u32,
}

impl slab::Entry for TimeWaitEntry {
    fn generation(&self) -> u32 {
        self.generation
    }
    fn set_generation(&mut self, generation: u32) {
        self.generation = generation;
    }
}

impl slab::Entry for ConnEntry {
    fn generation(&self) -> u32 {
        self.generation
    }
    fn set_generation(&mut self, generation: u32) {
        self.generation = generation;
    }
}

impl slab::Entry for Listener<Key> {
    fn generation(&self) -> u32 {
        self.slab_generation
    }
    fn set_generation(&mut self, generation: u32) {
        self.slab_generation = generation;
    }
}

/// [`Owner`]'s kind: a byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwnerKind {
    App,
    HalfOpen,
    Queued,
    Orphan,
}

impl ConnEntry {
    /// Whether the connection needs a turn in the `ready` queue: it may
    /// have a segment to send ([`Connection::may_transmit`], conservative),
    /// or the empty poll that ends its turn retires it
    /// (`Stack::retire_if_done`: a closed connection nobody holds, an
    /// orphan in TIME-WAIT). Otherwise its poll would find nothing and
    /// change nothing, and it is skipped. Every change of owner that makes
    /// it retirable goes through `Stack::after_conn`, which asks again.
    fn wants_poll(&self) -> bool {
        use crate::tcp::state::TcpState;
        self.conn.may_transmit()
            || match self.conn.state() {
                TcpState::Closed => self.owner() != Owner::App,
                TcpState::TimeWait => self.owner() == Owner::Orphan,
                _ => false,
            }
    }

    fn owner(&self) -> Owner {
        match self.owner_kind {
            OwnerKind::App => Owner::App,
            OwnerKind::HalfOpen => Owner::HalfOpen(self.owner_listener),
            OwnerKind::Queued => Owner::Queued(self.owner_listener),
            OwnerKind::Orphan => Owner::Orphan,
        }
    }

    fn set_owner(&mut self, owner: Owner) {
        let (kind, listener) = owner.packed();
        self.owner_kind = kind;
        // A Fast Open child has no other listener than the one it counts
        // against: that key stays while it is counted.
        if !self.fastopen_pending {
            self.owner_listener = listener;
        }
    }

    /// Hands a listener's connection to another listener (`tcp_migrate_req`):
    /// the new owner, which a Fast Open child still in SYN-RECEIVED now
    /// also counts against.
    fn move_to_listener(&mut self, owner: Owner) {
        let (kind, listener) = owner.packed();
        self.owner_kind = kind;
        self.owner_listener = listener;
    }

    /// Charges the stack's buffer memory (`tcp_mem`'s counter) with the
    /// change in what the connection holds since it was last charged;
    /// returns whether that began memory pressure.
    #[inline]
    fn charge(&mut self, memory: &mut crate::tcp::memory::BufferMemory) -> bool {
        let held = u32::try_from(self.conn.charged_memory()).unwrap_or(u32::MAX);
        if held == self.charged {
            return false;
        }
        let from = core::mem::replace(&mut self.charged, held);
        memory.charge(from, held)
    }

    /// The listener a Fast Open child in SYN-RECEIVED counts against.
    fn fastopen_listener(&self) -> Option<Key> {
        self.fastopen_pending.then_some(self.owner_listener)
    }

    /// [`ConnEntry::fastopen_listener`], no longer counted.
    fn take_fastopen_listener(&mut self) -> Option<Key> {
        let l = self.fastopen_listener();
        self.fastopen_pending = false;
        l
    }
}

impl Owner {
    /// Its kind and listener key (an unused key for App and Orphan).
    fn packed(self) -> (OwnerKind, Key) {
        const NONE: Key = Key {
            index: u32::MAX,
            generation: 0,
        };
        match self {
            Owner::App => (OwnerKind::App, NONE),
            Owner::HalfOpen(l) => (OwnerKind::HalfOpen, l),
            Owner::Queued(l) => (OwnerKind::Queued, l),
            Owner::Orphan => (OwnerKind::Orphan, NONE),
        }
    }
}

/// An ARP packet waiting to go out (replies, gratuitous announcements).
#[derive(Clone, Copy, Debug)]
struct ArpOut {
    iface: usize,
    packet: ArpRepr,
    dst_mac: crate::wire::EthernetAddress,
}

/// Most ARP replies waiting to be sent.
const MAX_PENDING_ARP: usize = 256;

/// A connection in the ready queue, with its peer's address: the route
/// (and with it the frame's layout) is chosen before the connection is
/// looked up, so `transmit_conn` looks it up once. A connection's peer
/// never changes, so the copy cannot go stale.
#[derive(Clone, Copy, Debug)]
struct Ready {
    key: Key,
    dst: Ipv4Addr,
}

/// A userspace TCP/IP stack, sans-IO. See the module documentation.
pub struct Stack {
    ifaces: Vec<Iface>,
    /// Some interface resolves addresses with ARP (Ethernet): only then
    /// does output and the deadline look at ARP caches.
    arp_ifaces: bool,
    /// Some interface has an MTU of its own (`Interface::with_mtu`): only
    /// then does a new connection ask its route's.
    own_mtus: bool,
    /// `arp_ifaces`, some multicast group is joined, or a redirect made a
    /// route: only then does the deadline look at the ARP caches, IGMP's
    /// timers and the redirects' lifetimes (`slow_deadline`).
    slow_timers: bool,
    /// The multicast groups the interfaces have joined, and IGMP.
    igmp: crate::ip::igmp::Memberships,
    /// IGMP's random report delays.
    igmp_rng: Rng,
    routes: RoutingTable,
    env: Env,
    isn: IsnGenerator,
    ports: EphemeralPorts,
    ts_key: SipKey,
    /// [`Stack::ts_offset`]'s last address pair and answer.
    ts_offset_last: Cell<Option<((Ipv4Addr, Ipv4Addr), u32)>>,
    /// `handle_ip`'s last accepted interface and address pair and what
    /// its destination is ([`Stack::classify_addrs`]); cleared when an
    /// interface is added.
    rx_addrs_last: Option<(RxAddrs, crate::ip::addr::Destination)>,
    /// [`Stack::hop_to`]'s last destination and answer; cleared whenever
    /// an interface or a route changes.
    hop_last: Cell<Option<(Ipv4Addr, Option<iface::Hop>)>>,
    syncookies: SynCookies,
    fastopen_keys: FastOpenKeys,
    fastopen_cache: FastOpenCache,
    syn_limiter: SynRateLimiter,
    arp_key: SipKey,
    /// Picks a SO_REUSEPORT group's listener for a connection.
    reuseport_key: SipKey,
    /// Path MTUs learned per destination (RFC 1191 §5).
    path_mtus: crate::ip::pmtu::PathMtuCache,
    /// How often forwarding redirects each sender (`forward`).
    redirect_limiter: crate::ip::redirect_limit::RedirectLimiter,
    /// Destinations that ICMP redirects gave a host route, oldest first.
    redirected: VecDeque<(Ipv4Addr, Instant)>,
    /// The time of day at an instant, in milliseconds since the Unix epoch
    /// ([`Stack::set_time_of_day`]), for the IP timestamp option.
    time_of_day: Option<(Instant, u64)>,
    conns: Slab<ConnEntry>,
    listeners: Slab<Listener<Key>>,
    /// The application's listening addresses.
    listen_map: ports::ListenMap,
    time_wait: Slab<TimeWaitEntry>,
    demux: DemuxMap,
    /// The local ports connections and TIME-WAIT entries may hold, for
    /// bind conflicts (SO_REUSEADDR off): a connection sets a bit, `listen`
    /// scans for the exact answer (see [`ports`]).
    port_marks: ports::PortMarks,
    /// Tests only: the exact count per local address and port that
    /// `port_marks` replaced, checked against every listen's verdict.
    #[cfg(test)]
    port_users: HashMap<PortKey, u32, rustc_hash::FxBuildHasher>,
    timers: TimerQueue<TimerKey, DenseSlots>,
    next_deadline: Option<Instant>,
    /// The device's metadata for the frame being handled by
    /// [`Stack::handle_frame_rx`] (a trusted checksum, a GSO size); default
    /// otherwise.
    rx: RxOffload,
    /// Stand-in payload bytes for a merged run ([`Stack::handle_frames`]):
    /// its data is already staged in the receive buffer.
    gro_pad: Vec<u8>,
    /// Connections that may have output, each once (`queued` in its entry).
    ready: VecDeque<Ready>,
    /// Calls into a connection's `poll_transmit` (tests count them).
    #[cfg(test)]
    conn_polls: u64,
    /// Pieces of software GSO packets written by `egress::transmit_piece`.
    #[cfg(test)]
    pub(crate) piece_polls: u64,
    /// Tests only: whether `tcp_close` may retire an ended connection at
    /// once (off: always the general bookkeeping, for the differential
    /// test), and how often it did.
    #[cfg(test)]
    short_close: bool,
    #[cfg(test)]
    short_closes: u64,
    control: VecDeque<TcpReply>,
    /// The IP options of the connections whose segments carry some
    /// (IP_OPTIONS, a SYN's return route: [`tcp_ip_options`]); empty for
    /// nearly every stack, which is all the output path asks.
    tcp_ip_options: HashMap<Key, crate::ip::options::SendOptions, rustc_hash::FxBuildHasher>,
    /// The options of the datagram whose TCP segment is being delivered,
    /// while one with options is ([`tcp_ip_options`]).
    rx_ip_options: Option<tcp_ip_options::RxIpOptions>,
    /// The MD5 signature keys (RFC 2385: [`tcp_md5`]), and whether there
    /// is any: all each segment asks.
    md5: tcp_md5::Md5Table,
    md5_active: bool,
    /// Some connection has IP options or a key: its segments take
    /// `transmit_conn_special` (the output path's one test for both).
    tx_special: bool,
    /// The key that verified the segment being delivered, while a signed
    /// one is: the stack's answers to it are signed with it.
    rx_md5: Option<crate::tcp::md5::Md5Key>,
    out: OutQueue,
    arp_out: VecDeque<ArpOut>,
    /// Datagrams to our own addresses and 127/8, on their way back in.
    looped: loopback::Loopback,
    /// A looped datagram is being delivered (its source may be 127/8).
    rx_looped: bool,
    events: VecDeque<Event>,
    udp: UdpSockets,
    /// Ping sockets (`IPPROTO_ICMP` datagram sockets).
    ping: PingSockets,
    reasm: Reassembler,
    icmp_limiter: IcmpRateLimiter,
    ip_ident: u16,
    /// Inside [`Stack::poll_transmit_offloaded`]: interfaces' offloads apply.
    offload_call: bool,
    /// The offload metadata of the frame being returned.
    tx_offload: Option<FrameOffload>,
    /// The connection whose software GSO packet is being written
    /// (`egress::transmit_piece`), if any.
    piece_key: slab::OptionKey,
    /// That packet's IP header (`egress::transmit_piece`).
    piece_ip: crate::wire::ipv4::Ipv4Template,
    /// That packet's hop (`egress::transmit_piece`); forgotten with
    /// `hop_last`.
    piece_hop: Option<egress::PieceHop>,
    trace: Trace,
    /// The latest `now` any entry point was given (for getters).
    now: Instant,
    /// A reassembled datagram, copied out of the reassembler to process it.
    scratch: Vec<u8>,
    /// Times something walked every connection (never per segment).
    full_scans: u64,
}

impl core::fmt::Debug for Stack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stack")
            .field("ifaces", &self.ifaces.len())
            .field("connections", &self.conns.len())
            .field("listeners", &self.listeners.len())
            .field("time_wait", &self.time_wait.len())
            .field("udp_sockets", &self.udp.len())
            .field("ping_sockets", &self.ping.len())
            .field("next_deadline", &self.next_deadline)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// A stack with one interface (more with [`Stack::add_interface`]).
    /// Every secret is drawn from an RNG seeded with `config.seed`, so a run
    /// replays exactly. An Ethernet interface announces itself with a
    /// gratuitous ARP at the first `poll_transmit`.
    pub fn new(config: Config, iface: Interface) -> Stack {
        let mut rng = Rng::from_seed(config.seed);
        // The first four draws keep their order: runs replay across versions.
        let isn = IsnGenerator::new(SipKey(rng.key128()));
        let (lo, hi) = config.ip_local_port_range;
        let ports = EphemeralPorts::new(lo..=hi, SipKey(rng.key128()), DEFAULT_TABLE_SIZE);
        let demux_key = SipKey(rng.key128());
        let ts_key = SipKey(rng.key128());
        let syncookies = SynCookies::new(SipKey(rng.key128()));
        let random_tfo = SipKey(rng.key128());
        let fastopen_keys = config
            .tcp_fastopen_key
            .as_deref()
            .and_then(|k| FastOpenKeys::parse_sysctl(k).ok())
            .unwrap_or_else(|| FastOpenKeys::new(random_tfo));
        let arp_key = SipKey(rng.key128());
        let reasm = Reassembler::new(
            config.ipfrag_high_thresh,
            config.ipfrag_time,
            SipKey(rng.key128()),
        );
        let icmp_key = SipKey(rng.key128());
        let icmp_limiter = IcmpRateLimiter::new(&config, icmp_key, rng.fork());
        let udp_key = SipKey(rng.key128());
        let udp = UdpSockets::new(&config, rng.fork(), udp_key);
        let syn_limiter =
            SynRateLimiter::new(config.tcp_syn_source_ratelimit, SipKey(rng.key128()));
        // Drawn for the port count until it went to FxHash, and kept in
        // its place so every later secret stays what it was for a seed:
        // now SO_REUSEPORT's.
        let reuseport_key = SipKey(rng.key128());
        // Drawn last, so every secret above stays what it was for a seed.
        let igmp_rng = rng.fork();
        // After IGMP's, for the same reason.
        let ping = PingSockets::new(&config, rng.fork());
        let mut stack = Stack {
            ifaces: Vec::new(),
            arp_ifaces: false,
            own_mtus: false,
            slow_timers: false,
            igmp: crate::ip::igmp::Memberships::new(config.force_igmp_version),
            igmp_rng,
            routes: RoutingTable::new(),
            env: Env::new(config),
            isn,
            ports,
            ts_key,
            ts_offset_last: Cell::new(None),
            rx_addrs_last: None,
            hop_last: Cell::new(None),
            syncookies,
            fastopen_keys,
            fastopen_cache: FastOpenCache::new(FastOpenCache::DEFAULT_CAPACITY),
            syn_limiter,
            arp_key,
            reuseport_key,
            // Keyed like the ARP cache (its secret serves both tables).
            path_mtus: crate::ip::pmtu::PathMtuCache::new(crate::ip::KeyedHasher::new(arp_key)),
            redirect_limiter: Default::default(),
            redirected: VecDeque::new(),
            conns: Slab::new(),
            listeners: Slab::new(),
            listen_map: ports::ListenMap::default(),
            time_wait: Slab::new(),
            demux: DemuxMap::new(demux_key),
            port_marks: ports::PortMarks::new(),
            #[cfg(test)]
            port_users: HashMap::default(),
            timers: TimerQueue::dense(),
            next_deadline: None,
            rx: RxOffload::default(),
            gro_pad: Vec::new(),
            ready: VecDeque::new(),
            #[cfg(test)]
            conn_polls: 0,
            #[cfg(test)]
            piece_polls: 0,
            #[cfg(test)]
            short_close: true,
            #[cfg(test)]
            short_closes: 0,
            control: VecDeque::new(),
            tcp_ip_options: HashMap::default(),
            rx_ip_options: None,
            md5: tcp_md5::Md5Table::default(),
            md5_active: false,
            tx_special: false,
            rx_md5: None,
            out: OutQueue::default(),
            arp_out: VecDeque::new(),
            looped: loopback::Loopback::default(),
            rx_looped: false,
            events: VecDeque::new(),
            udp,
            ping,
            reasm,
            icmp_limiter,
            ip_ident: 0,
            offload_call: false,
            tx_offload: None,
            piece_key: slab::OptionKey::NONE,
            piece_ip: Default::default(),
            piece_hop: None,
            trace: Trace::default(),
            now: Instant::ZERO,
            scratch: Vec::new(),
            full_scans: 0,
            time_of_day: None,
        };
        // No state trace yet: connections raise only the changes the
        // stack acts on.
        stack.env.quiet_states = true;
        stack.add_interface(iface);
        stack
    }

    /// Makes room for `additional` more connections in the connection table
    /// and the demultiplexing map, so that opening them does not reallocate
    /// and the table holds no growth slack (a server that knows its
    /// connection count; DESIGN.md §4).
    pub fn reserve_connections(&mut self, additional: usize) {
        self.conns.reserve_exact(additional);
        self.demux.reserve(slots!(self), additional);
    }

    pub fn config(&self) -> &Config {
        &self.env.config
    }

    /// Counters named like Linux's MIB counters (IP, ICMP, TCP, TcpExt,
    /// Ethernet). UDP, reassembly and ARP keep their own:
    /// [`Stack::udp_stats`], [`Stack::reasm_stats`], [`Stack::arp_stats`].
    pub fn stats(&self) -> &Stats {
        &self.env.stats
    }

    /// Reassembly counters (`ReasmReqds`, `ReasmOKs`, `ReasmFails`, ...).
    pub fn reasm_stats(&self) -> &crate::ip::frag::ReasmStats {
        self.reasm.stats()
    }

    /// Turns tracing events on or off.
    pub fn set_trace(&mut self, trace: Trace) {
        self.trace = trace;
        self.env.trace_congestion = trace.congestion;
        self.env.quiet_states = !trace.states;
    }

    /// How many times the stack walked every connection (closing a
    /// listener, a failed ARP resolution, a listen without SO_REUSEADDR on
    /// a port a connection held): never per segment. For tests
    /// proving demux stays O(1).
    pub fn full_scans(&self) -> u64 {
        self.full_scans
    }

    /// RFC 7323 §7.1 as Linux does it (`secure_tcp_ts_off`): a timestamp
    /// offset per address pair, keyed so it reveals nothing.
    /// The last pair's is kept: a client or server talking to one peer
    /// pays one hash, not one per connection.
    fn ts_offset(&self, tuple: &FourTuple) -> u32 {
        let pair = (*tuple.local.ip(), *tuple.remote.ip());
        if let Some((last, offset)) = self.ts_offset_last.get()
            && last == pair
        {
            return offset;
        }
        let mut msg = [0u8; 8];
        msg[..4].copy_from_slice(&pair.0.octets());
        msg[4..].copy_from_slice(&pair.1.octets());
        let offset = self.ts_key.hash(&msg) as u32;
        self.ts_offset_last.set(Some((pair, offset)));
        offset
    }

    // ---- time ----------------------------------------------------------------

    /// Tells the stack the time of day: at `now`, `unix_millis` milliseconds
    /// since the Unix epoch. The stack reads no clock; this one is used only
    /// for the timestamps this host writes into IP timestamp options (an
    /// echo reply's, a socket's IP_OPTIONS; RFC 791: milliseconds since
    /// midnight UT). Without it they are marked non-standard (the high bit
    /// set), as RFC 791 allows.
    pub fn set_time_of_day(&mut self, now: Instant, unix_millis: u64) {
        self.time_of_day = Some((now, unix_millis));
    }

    /// An IP timestamp option's value at the current time (RFC 791).
    fn ip_timestamp(&self) -> u32 {
        let unix = self.time_of_day.map(|(at, ms)| {
            let after = self.now.saturating_duration_since(at).total_millis();
            let before = at.saturating_duration_since(self.now).total_millis();
            ms.saturating_add(after).saturating_sub(before)
        });
        crate::ip::options::timestamp(unix, self.now.total_millis())
    }

    /// Time moves; timers at or before `now` fire.
    #[inline]
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        // Every entry point refreshes `next_deadline`, a lower bound on every
        // timer here (connections, ARP, reassembly): before it, nothing is
        // due, and a driver that calls this on every turn pays a compare
        // (inline, without the call into the rest).
        if self.next_deadline.is_none_or(|t| self.now < t) {
            return;
        }
        self.handle_timeout_due();
    }

    /// [`Stack::handle_timeout`] once some deadline may be due.
    fn handle_timeout_due(&mut self) {
        let now = self.now;
        while let Some(key) = self.timers.pop_expired(now) {
            match key {
                TimerKey::Conn(index) => {
                    let Some((key, entry)) = self.conns.get_index_mut(index) else {
                        continue;
                    };
                    entry.conn.handle_timeout(now, &mut self.env);
                    self.after_conn(key);
                }
                TimerKey::TimeWait(index) => {
                    let Some((key, entry)) = self.time_wait.get_index_mut(index) else {
                        continue;
                    };
                    if entry.tw.expires <= now {
                        self.env.stats.tcp_ext.tw += 1;
                        self.remove_time_wait(key);
                    } else {
                        let expires = entry.tw.expires;
                        self.timers.schedule(TimerKey::TimeWait(index), expires);
                    }
                }
            }
        }
        self.arp_timeouts(now);
        self.reassembly_timeouts(now);
        self.igmp_timeouts(now);
        self.redirect_timeouts(now);
        self.refresh_deadline();
    }

    #[inline]
    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// When `handle_timeout` is next needed. May be earlier than the first
    /// timer actually due (a connection's retransmission timer restarted
    /// since is found postponed when reached): calling `handle_timeout` then
    /// does nothing but compute the next time, as with any spurious wake-up.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Inline: every input, command and output that did something ends
    /// here (about 30 times a handshake), and the answer is nearly always
    /// the timer queue's cached hint, a few instructions without the call.
    #[inline]
    fn refresh_deadline(&mut self) {
        self.next_deadline = self.deadline();
    }

    /// Whether `next_deadline` is what [`Stack::refresh_deadline`] would
    /// make it (for debug assertions where it is not refreshed).
    fn deadline_is_fresh(&mut self) -> bool {
        let fresh = self.deadline();
        self.next_deadline == fresh
    }

    /// The earliest of the timer queue's hint, the ARP caches' and the
    /// reassembler's deadlines.
    #[inline]
    fn deadline(&mut self) -> Option<Instant> {
        // A lower bound (postponed RTOs are moved when reached, not on every
        // ACK): an early wake-up finds nothing due, which is harmless.
        let next = self.timers.next_deadline_hint();
        let next = if self.slow_timers {
            self.slow_deadline(next)
        } else {
            next
        };
        match self.reasm.poll_timeout() {
            None => next,
            Some(t) => Some(next.map_or(t, |n| n.min(t))),
        }
    }

    /// The earlier of `next` and the ARP caches', IGMP's and the redirects'
    /// deadlines.
    #[inline(never)]
    fn slow_deadline(&mut self, mut next: Option<Instant>) -> Option<Instant> {
        for iface in &mut self.ifaces {
            if let Some(t) = iface.arp.as_mut().and_then(|arp| arp.poll_timeout()) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        let redirect = self.redirected.front().map(|&(_, expires)| expires);
        for t in [self.igmp.poll_timeout(), redirect].into_iter().flatten() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next
    }

    /// Whether the deadline must look beyond the timer queue
    /// ([`Stack::slow_deadline`]): ARP caches, IGMP's timers, the
    /// redirects' lifetimes. After any of them may have come or gone.
    pub(super) fn slow_timers_changed(&mut self) {
        self.slow_timers = self.arp_ifaces || !self.igmp.is_empty() || !self.redirected.is_empty();
    }
}

#[cfg(test)]
mod tests;
