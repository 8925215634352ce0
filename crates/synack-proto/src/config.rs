//! Every tunable of the stack, with Linux-compatible defaults.
//!
//! Field names are Linux's sysctl names (snake_case, without the `net.ipv4.`
//! prefix) wherever Linux has one, so packetdrill scripts and people who know
//! Linux can set them by name ([`Config::set_sysctl`]). Settings Linux keeps as
//! compile-time constants (initial RTO, delayed-ACK timer, MSL) are fields here
//! too, named after the constant, so tests can shrink them.

use crate::tcp::memory::{MemoryLimits, PAGE};
use crate::time::Duration;
use core::fmt;

/// When SYN cookies are used (`net.ipv4.tcp_syncookies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynCookieMode {
    /// 0: never; SYNs beyond the SYN queue are dropped.
    Never,
    /// 1: when the SYN queue overflows (Linux's default).
    Overflow,
    /// 2: always, for every SYN.
    Always,
}

/// Congestion control algorithm (`net.ipv4.tcp_congestion_control`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CongestionAlgorithm {
    /// NewReno (RFC 5681, RFC 6582).
    Reno,
    /// CUBIC (RFC 9438), Linux's default.
    Cubic,
}

impl CongestionAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            CongestionAlgorithm::Reno => "reno",
            CongestionAlgorithm::Cubic => "cubic",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "reno" | "newreno" => Some(CongestionAlgorithm::Reno),
            "cubic" => Some(CongestionAlgorithm::Cubic),
            _ => None,
        }
    }
}

/// `net.ipv4.tcp_fastopen` bits, as Linux defines them.
pub mod fastopen_flags {
    /// Client side enabled.
    pub const CLIENT: u32 = 0x1;
    /// Server side enabled (listeners still need the TCP_FASTOPEN option unless 0x400).
    pub const SERVER: u32 = 0x2;
    /// Client sends data in the SYN even without a cookie.
    pub const CLIENT_NO_COOKIE: u32 = 0x4;
    /// Server accepts data in the SYN without a cookie.
    pub const SERVER_NO_COOKIE: u32 = 0x200;
    /// Every listener does Fast Open without setting TCP_FASTOPEN.
    pub const SERVER_WO_SOCKOPT: u32 = 0x400;
}

/// Minimum, default and maximum of a socket buffer (`tcp_rmem`/`tcp_wmem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferSizes {
    pub min: usize,
    pub default: usize,
    pub max: usize,
}

/// The whole stack's configuration. `Config::default()` mirrors Linux.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Seed of the stack's RNG; every secret (ISN, SYN-cookie and Fast Open keys,
    /// port offsets) is drawn from it. The runtime seeds it from the OS.
    pub seed: u64,

    // --- IP ---
    /// TTL of packets we originate (`ip_default_ttl`).
    pub ip_default_ttl: u8,
    /// Ephemeral port range, inclusive (`ip_local_port_range`).
    pub ip_local_port_range: (u16, u16),
    /// Memory cap of all fragment reassembly buffers (`ipfrag_high_thresh`).
    pub ipfrag_high_thresh: usize,
    /// How long an incomplete datagram waits for its fragments (`ipfrag_time`).
    pub ipfrag_time: Duration,
    /// Minimum interval between ICMP errors to one destination (`icmp_ratelimit`).
    pub icmp_ratelimit: Duration,
    /// Global cap on ICMP messages per second (`icmp_msgs_per_sec`).
    pub icmp_msgs_per_sec: u32,
    /// ARP cache entry lifetime.
    pub arp_cache_timeout: Duration,
    /// Packets queued per unresolved next hop (Linux `unres_qlen`, here in packets).
    pub arp_unres_qlen: usize,
    /// Hard cap on ARP cache entries; the oldest is evicted beyond it
    /// (`neigh.default.gc_thresh3`).
    pub arp_gc_thresh3: usize,
    /// Interval between ARP requests for one address (`neigh.default.retrans_time_ms`).
    pub arp_retrans_time: Duration,
    /// Broadcast requests before an address is unreachable (`neigh.default.mcast_solicit`).
    pub arp_mcast_solicit: u8,
    /// Unicast probes of a stale entry before it is dropped (`neigh.default.ucast_solicit`).
    pub arp_ucast_solicit: u8,
    /// How long a stale entry in use waits for a confirmation (an upper
    /// layer's, such as TCP's forward progress, or an ARP reply) before its
    /// unicast probes start (`neigh.default.delay_first_probe_time`, Linux's
    /// DELAY state).
    pub arp_delay_first_probe_time: Duration,
    /// How long after an entry's last change a different address for it is
    /// ignored, unless asked for or announced (`neigh.default.locktime`, in
    /// hundredths of a second: "the first of several answers wins").
    pub arp_locktime: Duration,
    /// Burst of the global ICMP token bucket (`icmp_msgs_burst`).
    pub icmp_msgs_burst: u32,
    /// ICMP types subject to rate limiting, bit n for type n (`icmp_ratemask`;
    /// Linux's 0x1818: destination unreachable, source quench, time exceeded,
    /// parameter problem).
    pub icmp_ratemask: u32,
    /// Do not answer echo requests sent to a broadcast or multicast address
    /// (`icmp_echo_ignore_broadcasts`, RFC 1122 §3.2.2.6 allows either).
    pub icmp_echo_ignore_broadcasts: bool,
    /// The newest IGMP version the host speaks (`conf.all.force_igmp_version`):
    /// 0 is version 3, falling back to 2 or 1 while a router of that
    /// version is heard (RFC 3376 §7.2.1); 1 or 2 pins that version.
    pub force_igmp_version: u8,
    /// Forward datagrams for other hosts between the interfaces
    /// (`ip_forward`): off, a host (RFC 1122 §3.3.1.1: "A host MUST NOT
    /// forward"), as Linux starts; on, a router (RFC 1812 §5.2-5.3:
    /// `stack/forward.rs`).
    pub ip_forward: bool,
    /// Send ICMP redirects when forwarding a datagram back out of the
    /// interface it came in by, to a sender on that link
    /// (`conf.all.send_redirects`, on as in Linux; RFC 1812 §5.2.7.2).
    pub send_redirects: bool,
    /// Be the final destination of loose and strict source routes
    /// (`conf.all.accept_source_route`, off as on Linux: RFC 1122
    /// §3.2.1.8(c) asks hosts to, and routes are mostly spoofing now).
    pub accept_source_route: bool,
    /// Take ICMP redirects from the current first-hop gateway
    /// (`conf.all.accept_redirects`, on for a host; RFC 1122 §3.2.2.2).
    pub accept_redirects: bool,
    /// Only to a gateway the routing table already has
    /// (`conf.all.secure_redirects`, Linux's default on).
    pub secure_redirects: bool,
    /// Floor of a path MTU learned from "fragmentation needed" (`route.min_pmtu`).
    pub route_min_pmtu: u16,
    /// How long a path MTU learned for a destination is kept for new
    /// connections there (`route.mtu_expires`; RFC 1191 §6.3).
    pub route_mtu_expires: Duration,
    /// How long a route a redirect made lasts (`route.gc_timeout`, Linux's
    /// lifetime of a redirect's route cache exception).
    pub route_gc_timeout: Duration,
    /// Default receive buffer of a UDP socket in bytes (`net.core.rmem_default`).
    pub rmem_default: usize,

    // --- TCP handshake and close ---
    /// SYN retransmissions before connect fails (`tcp_syn_retries`).
    pub tcp_syn_retries: u8,
    /// SYN-ACK retransmissions before a half-open entry is dropped (`tcp_synack_retries`).
    pub tcp_synack_retries: u8,
    /// Retransmissions before a soft error is reported (`tcp_retries1`).
    pub tcp_retries1: u8,
    /// Retransmissions before an established connection is given up (`tcp_retries2`).
    pub tcp_retries2: u8,
    /// Retransmissions (and zero-window probes) before an orphan, a
    /// connection the application closed, is given up
    /// (`tcp_orphan_retries`); 0 means 8 while the RTO is below its maximum.
    pub tcp_orphan_retries: u8,
    /// Orphaned FIN-WAIT-2 lifetime (`tcp_fin_timeout`).
    pub tcp_fin_timeout: Duration,
    /// TCP_NOTSENT_LOWAT of every connection that sets none
    /// (`tcp_notsent_lowat`): at most this many bytes wait unsent before a
    /// `send` is refused (`tcp::conn::notsent`); `u32::MAX`, Linux's
    /// default, is no limit.
    pub tcp_notsent_lowat: u32,
    /// Maximum segment lifetime; TIME-WAIT lasts 2 MSL (RFC 9293 §3.4.2).
    pub tcp_msl: Duration,
    /// Cap on TIME-WAIT entries (`tcp_max_tw_buckets`).
    pub tcp_max_tw_buckets: usize,
    /// Cap on orphans, connections the application closed that the stack
    /// still finishes (`tcp_max_orphans`): past it, a close resets.
    pub tcp_max_orphans: usize,
    /// Ignore RSTs in TIME-WAIT, protecting against TIME-WAIT assassination (RFC 1337).
    pub tcp_rfc1337: bool,

    // --- listen queues ---
    /// SYN queue cap per listener (`tcp_max_syn_backlog`).
    pub tcp_max_syn_backlog: usize,
    /// Cap on a listener's accept-queue backlog (`somaxconn`).
    pub somaxconn: usize,
    /// SYN cookies mode (`tcp_syncookies`).
    pub tcp_syncookies: SynCookieMode,
    /// Answer a completing ACK with RST when the accept queue is full (`tcp_abort_on_overflow`).
    pub tcp_abort_on_overflow: bool,
    /// A SO_REUSEPORT listener that closes hands the connections in its
    /// queues, half-open and established, to another member of its group
    /// instead of resetting them (`tcp_migrate_req`, off as on Linux).
    pub tcp_migrate_req: bool,
    /// SYNs per second a listener takes from one source address, 0 for no
    /// limit (synack's own; RFC 4987 §3.1 filtering).
    pub tcp_syn_source_ratelimit: u32,
    /// Fast Open bits (`tcp_fastopen`, see [`fastopen_flags`]).
    pub tcp_fastopen: u32,
    /// Fast Open server keys in Linux's sysctl text form, or None to draw one from the RNG.
    pub tcp_fastopen_key: Option<String>,

    // --- TCP options ---
    pub tcp_window_scaling: bool,
    pub tcp_sack: bool,
    pub tcp_dsack: bool,
    pub tcp_timestamps: bool,
    /// ECN: 0 off, 1 request and accept, 2 accept only (`tcp_ecn`).
    pub tcp_ecn: u8,

    // --- buffers and windows ---
    /// Receive buffer min/default/max (`tcp_rmem`); the max also sets our window scale.
    pub tcp_rmem: BufferSizes,
    /// Send buffer min/default/max (`tcp_wmem`).
    pub tcp_wmem: BufferSizes,
    /// The stack-wide cap on buffer memory (`tcp_mem`: low, pressure and
    /// high marks; the sysctl counts 4096-byte pages, as Linux), see
    /// [`crate::tcp::memory`].
    pub tcp_mem: MemoryLimits,
    /// Smallest peer MSS accepted; lower values are clamped up (`tcp_min_snd_mss`).
    pub tcp_min_snd_mss: u16,
    /// Packetization layer path MTU discovery (RFC 4821), Linux's
    /// `tcp_mtu_probing`: 0 off (the default, as on Linux); 1, black hole
    /// detection: after `tcp_retries1` worth of timeouts, send segments of
    /// `tcp_base_mss`, then probe up from there; 2, always: every
    /// connection starts at `tcp_base_mss` and probes up
    /// ([`crate::tcp::plpmtud`]).
    pub tcp_mtu_probing: u8,
    /// The MSS the search starts from, and black hole detection falls back
    /// to first (`tcp_base_mss`).
    pub tcp_base_mss: u16,
    /// The search stops when the MTUs known to pass and to fail are closer
    /// than this many bytes (`tcp_probe_threshold`).
    pub tcp_probe_threshold: u16,
    /// A finished search starts again after this long
    /// (`tcp_probe_interval`), so a path that grew is found.
    pub tcp_probe_interval: Duration,
    /// The smallest MSS it goes down to (`tcp_mtu_probe_floor`).
    pub tcp_mtu_probe_floor: u16,
    /// Default interface MTU (the advertised MSS is MTU - 40).
    pub mtu: usize,

    // --- timers ---
    /// Initial RTO before any RTT sample (Linux `TCP_TIMEOUT_INIT`, RFC 6298 §2.1).
    pub tcp_rto_initial: Duration,
    /// Lower bound of the RTO (Linux `TCP_RTO_MIN`).
    pub tcp_rto_min: Duration,
    /// Upper bound of the RTO (Linux `TCP_RTO_MAX`).
    pub tcp_rto_max: Duration,
    /// Delayed-ACK timeout (Linux `TCP_DELACK_MIN`).
    pub tcp_delack_min: Duration,
    /// Upper bound of the delayed-ACK timeout (Linux `TCP_DELACK_MAX`).
    pub tcp_delack_max: Duration,
    /// Idle time before the first keepalive probe (`tcp_keepalive_time`).
    pub tcp_keepalive_time: Duration,
    /// Interval between keepalive probes (`tcp_keepalive_intvl`).
    pub tcp_keepalive_intvl: Duration,
    /// Unanswered probes before the connection is dropped (`tcp_keepalive_probes`).
    pub tcp_keepalive_probes: u8,
    /// Minimum interval between ACKs sent in reply to out-of-window segments,
    /// per connection (`tcp_invalid_ratelimit`, RFC 5961 §7 challenge ACK throttling).
    pub tcp_invalid_ratelimit: Duration,
    /// Global challenge ACKs per second (`tcp_challenge_ack_limit`), each
    /// second's budget drawn between half and one and a half times it, as
    /// Linux does against CVE-2016-5696. Linux 6.0's default, i32::MAX: no
    /// global limit, `tcp_invalid_ratelimit` per connection only.
    pub tcp_challenge_ack_limit: u32,

    // --- congestion control ---
    pub tcp_congestion_control: CongestionAlgorithm,
    /// Initial congestion window in segments (RFC 6928; Linux `TCP_INIT_CWND`).
    pub tcp_init_cwnd: u32,
    /// Slow-start exit signals of HyStart (Linux cubic's `hystart_detect`
    /// module parameter): bit 1 the ACK train, bit 2 the RTT rise (RFC
    /// 9406); 3, both, by default; 0 is standard slow start.
    pub tcp_hystart_detect: u8,
    /// Reset cwnd after an idle period (`tcp_slow_start_after_idle`, RFC 5681 §4.1).
    pub tcp_slow_start_after_idle: bool,
    /// Receive-buffer autotuning (`tcp_moderate_rcvbuf`): a connection's
    /// receive buffer grows, up to `tcp_rmem`'s maximum, while its
    /// application keeps up with a sender the window holds back
    /// ([`crate::tcp::rcv_space`]). SO_RCVBUF fixes a socket's size.
    pub tcp_moderate_rcvbuf: bool,
    /// Duplicate-ACK threshold (`tcp_reordering`).
    pub tcp_reordering: u32,
    /// RACK loss detection and TLP (`tcp_recovery` bit 0 / `tcp_early_retrans`).
    pub tcp_recovery_rack: bool,
    /// Tail loss probes (`tcp_early_retrans` >= 3).
    pub tcp_early_retrans: u8,
    /// F-RTO spurious RTO detection (`tcp_frto`).
    pub tcp_frto: u8,
    /// The fewest segments a GSO packet is sized for (`tcp_min_tso_segs`):
    /// synack sends segments one by one but places PSH as Linux's GSO
    /// packets would carry it.
    pub tcp_min_tso_segs: u32,
    /// Software segmentation of a connection's GSO packets (Linux's GSO,
    /// `ethtool -K dev gso on`): the packet's whole-MSS pieces are planned
    /// and accounted as one, and the stack writes each piece from the
    /// first one's header (`stack::gso`). The frames are those of sending
    /// the pieces one by one; on by default, as in Linux. Interfaces with
    /// TSO or checksum offload (`Stack::set_offloads`) use those instead.
    pub gso: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            ip_default_ttl: 64,
            ip_local_port_range: (32768, 60999),
            ipfrag_high_thresh: 4 * 1024 * 1024,
            ipfrag_time: Duration::from_secs(30),
            icmp_ratelimit: Duration::from_millis(1000),
            icmp_msgs_per_sec: 1000,
            arp_cache_timeout: Duration::from_secs(60),
            arp_unres_qlen: 101,
            arp_gc_thresh3: 1024,
            arp_retrans_time: Duration::from_secs(1),
            arp_mcast_solicit: 3,
            arp_ucast_solicit: 3,
            arp_delay_first_probe_time: Duration::from_secs(5),
            arp_locktime: Duration::from_secs(1),
            icmp_msgs_burst: 50,
            icmp_ratemask: 0x1818,
            icmp_echo_ignore_broadcasts: true,
            force_igmp_version: 0,
            ip_forward: false,
            send_redirects: true,
            accept_source_route: false,
            accept_redirects: true,
            secure_redirects: true,
            route_min_pmtu: 552,
            route_mtu_expires: Duration::from_secs(600),
            route_gc_timeout: Duration::from_secs(300),
            rmem_default: 212_992,
            tcp_syn_retries: 6,
            tcp_synack_retries: 5,
            tcp_retries1: 3,
            tcp_retries2: 15,
            tcp_orphan_retries: 0,
            tcp_fin_timeout: Duration::from_secs(60),
            tcp_notsent_lowat: u32::MAX,
            tcp_msl: Duration::from_secs(30),
            tcp_max_tw_buckets: 18_000,
            // Linux sizes it from memory; 131,072 on a 24 GiB machine.
            tcp_max_orphans: 131_072,
            tcp_rfc1337: true,
            tcp_max_syn_backlog: 1024,
            somaxconn: 4096,
            tcp_syncookies: SynCookieMode::Overflow,
            tcp_abort_on_overflow: false,
            tcp_migrate_req: false,
            tcp_syn_source_ratelimit: 0,
            tcp_fastopen: fastopen_flags::CLIENT,
            tcp_fastopen_key: None,
            tcp_window_scaling: true,
            tcp_sack: true,
            tcp_dsack: true,
            tcp_timestamps: true,
            tcp_ecn: 2,
            tcp_rmem: BufferSizes {
                min: 4096,
                default: 131_072,
                max: 6_291_456,
            },
            tcp_wmem: BufferSizes {
                min: 4096,
                default: 16_384,
                max: 4_194_304,
            },
            tcp_mem: MemoryLimits::DEFAULT,
            tcp_min_snd_mss: 48,
            tcp_mtu_probing: 0,
            tcp_base_mss: 1024,
            tcp_probe_threshold: 8,
            tcp_probe_interval: Duration::from_secs(600),
            tcp_mtu_probe_floor: 48,
            mtu: 1500,
            tcp_rto_initial: Duration::from_secs(1),
            tcp_rto_min: Duration::from_millis(200),
            tcp_rto_max: Duration::from_secs(120),
            tcp_delack_min: Duration::from_millis(40),
            tcp_delack_max: Duration::from_millis(200),
            tcp_keepalive_time: Duration::from_secs(7200),
            tcp_keepalive_intvl: Duration::from_secs(75),
            tcp_keepalive_probes: 9,
            tcp_invalid_ratelimit: Duration::from_millis(500),
            tcp_challenge_ack_limit: i32::MAX as u32,
            tcp_congestion_control: CongestionAlgorithm::Cubic,
            tcp_init_cwnd: 10,
            tcp_hystart_detect: 3,
            tcp_slow_start_after_idle: true,
            tcp_moderate_rcvbuf: true,
            tcp_reordering: 3,
            tcp_recovery_rack: true,
            tcp_early_retrans: 3,
            tcp_frto: 2,
            tcp_min_tso_segs: 2,
            gso: true,
        }
    }
}

/// Why a sysctl could not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SysctlError {
    /// synack has no setting of that name.
    Unknown(String),
    /// The value does not parse or is out of range for that setting.
    BadValue { name: String, value: String },
}

impl fmt::Display for SysctlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysctlError::Unknown(name) => write!(f, "unknown setting `{name}`"),
            SysctlError::BadValue { name, value } => write!(f, "bad value `{value}` for `{name}`"),
        }
    }
}

impl std::error::Error for SysctlError {}

impl Config {
    /// TIME-WAIT duration: 2 MSL (RFC 9293 §3.6.1).
    pub fn time_wait(&self) -> Duration {
        self.tcp_msl.saturating_mul(2)
    }

    /// The window scale we offer, as Linux's `tcp_select_initial_window` picks it:
    /// the smallest shift that lets a 16-bit window cover the largest receive
    /// buffer (RFC 7323 §2.3 caps it at 14). Zero when window scaling is off.
    pub fn window_scale(&self) -> u8 {
        if !self.tcp_window_scaling {
            return 0;
        }
        // `max >> shift` fits 16 bits once `shift` reaches the bits beyond
        // the 16th: a closed form of Linux's halving loop (every connection
        // asks, twice a handshake).
        let bits = usize::BITS - self.tcp_rmem.max.leading_zeros();
        bits.saturating_sub(16).min(14) as u8
    }

    /// The smallest MSS black hole detection lowers to: `tcp_mtu_probe_floor`,
    /// and no lower than `tcp_min_snd_mss` (Linux `tcp_mtu_probing`).
    pub fn black_hole_floor(&self) -> u16 {
        self.tcp_mtu_probe_floor.max(self.tcp_min_snd_mss)
    }

    /// The TTL a socket's datagrams leave with: its IP_TTL if set (`set`
    /// non-zero), else `ip_default_ttl` as it is now (Linux's
    /// `ip_select_ttl`, per packet).
    #[inline]
    pub fn ttl(&self, set: u8) -> u8 {
        if set == 0 { self.ip_default_ttl } else { set }
    }

    /// The MSS we advertise on an interface with the configured MTU (RFC 9293 §3.7.1).
    pub fn advertised_mss(&self) -> u16 {
        u16::try_from(self.mtu.saturating_sub(40)).unwrap_or(u16::MAX)
    }

    /// Applies one Linux sysctl by name (`net.ipv4.` prefix optional; `/` or `.`
    /// separators). Values use Linux's text forms (e.g. `tcp_rmem` takes three
    /// numbers; boolean settings take 0/1).
    pub fn set_sysctl(&mut self, name: &str, value: &str) -> Result<(), SysctlError> {
        let key = name.trim().replace('/', ".");
        let key = key
            .strip_prefix("net.ipv4.")
            .or_else(|| key.strip_prefix("net.core."))
            .unwrap_or(&key);
        let value = value.trim().trim_matches('"');
        let bad = || SysctlError::BadValue {
            name: key.to_string(),
            value: value.to_string(),
        };
        let num = |v: &str| -> Result<u64, SysctlError> {
            let v = v.trim();
            if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                u64::from_str_radix(hex, 16).map_err(|_| bad())
            } else {
                v.parse::<u64>().map_err(|_| bad())
            }
        };
        let boolean = |v: &str| -> Result<bool, SysctlError> { Ok(num(v)? != 0) };
        let small =
            |v: &str| -> Result<u8, SysctlError> { u8::try_from(num(v)?).map_err(|_| bad()) };
        let secs = |v: &str| -> Result<Duration, SysctlError> { Ok(Duration::from_secs(num(v)?)) };
        let millis =
            |v: &str| -> Result<Duration, SysctlError> { Ok(Duration::from_millis(num(v)?)) };
        let triple = |v: &str| -> Result<BufferSizes, SysctlError> {
            let parts: Vec<&str> = v.split_whitespace().collect();
            match parts.as_slice() {
                [a, b, c] => Ok(BufferSizes {
                    min: num(a)? as usize,
                    default: num(b)? as usize,
                    max: num(c)? as usize,
                }),
                _ => Err(bad()),
            }
        };
        match key {
            // Linux's range is 1 to 255 (a TTL of 0 would never leave).
            "ip_default_ttl" => {
                self.ip_default_ttl = Some(small(value)?).filter(|&t| t > 0).ok_or_else(bad)?
            }
            "ip_local_port_range" => {
                let parts: Vec<&str> = value.split_whitespace().collect();
                match parts.as_slice() {
                    [lo, hi] => {
                        let lo = u16::try_from(num(lo)?).map_err(|_| bad())?;
                        let hi = u16::try_from(num(hi)?).map_err(|_| bad())?;
                        if lo == 0 || lo > hi {
                            return Err(bad());
                        }
                        self.ip_local_port_range = (lo, hi);
                    }
                    _ => return Err(bad()),
                }
            }
            "ipfrag_high_thresh" => self.ipfrag_high_thresh = num(value)? as usize,
            "ipfrag_time" => self.ipfrag_time = secs(value)?,
            "icmp_ratelimit" => self.icmp_ratelimit = millis(value)?,
            "icmp_msgs_per_sec" => {
                self.icmp_msgs_per_sec = u32::try_from(num(value)?).map_err(|_| bad())?
            }
            "icmp_msgs_burst" => {
                self.icmp_msgs_burst = u32::try_from(num(value)?).map_err(|_| bad())?
            }
            "icmp_ratemask" => {
                self.icmp_ratemask = u32::try_from(num(value)?).map_err(|_| bad())?
            }
            "icmp_echo_ignore_broadcasts" => self.icmp_echo_ignore_broadcasts = boolean(value)?,
            "route.min_pmtu" => {
                self.route_min_pmtu = u16::try_from(num(value)?).map_err(|_| bad())?
            }
            "route.mtu_expires" => self.route_mtu_expires = secs(value)?,
            "route.gc_timeout" => self.route_gc_timeout = secs(value)?,
            "conf.all.accept_redirects" => self.accept_redirects = boolean(value)?,
            "conf.all.accept_source_route" => self.accept_source_route = boolean(value)?,
            "ip_forward" | "conf.all.forwarding" => self.ip_forward = boolean(value)?,
            "conf.all.send_redirects" => self.send_redirects = boolean(value)?,
            "conf.all.force_igmp_version" => {
                self.force_igmp_version = match num(value)? {
                    v @ 0..=2 => v as u8,
                    _ => return Err(bad()),
                }
            }
            "conf.all.secure_redirects" => self.secure_redirects = boolean(value)?,
            "neigh.default.gc_thresh3" => self.arp_gc_thresh3 = num(value)? as usize,
            "neigh.default.retrans_time_ms" => self.arp_retrans_time = millis(value)?,
            "neigh.default.mcast_solicit" => self.arp_mcast_solicit = small(value)?,
            "neigh.default.ucast_solicit" => self.arp_ucast_solicit = small(value)?,
            "neigh.default.delay_first_probe_time" => {
                self.arp_delay_first_probe_time = secs(value)?
            }
            // USER_HZ: hundredths of a second.
            "neigh.default.locktime" => {
                self.arp_locktime = Duration::from_millis(num(value)?.saturating_mul(10))
            }
            "neigh.default.unres_qlen" => self.arp_unres_qlen = num(value)? as usize,
            "rmem_default" => self.rmem_default = num(value)? as usize,
            "tcp_syn_retries" => self.tcp_syn_retries = small(value)?,
            "tcp_synack_retries" => self.tcp_synack_retries = small(value)?,
            "tcp_retries1" => self.tcp_retries1 = small(value)?,
            "tcp_retries2" => self.tcp_retries2 = small(value)?,
            "tcp_orphan_retries" => self.tcp_orphan_retries = small(value)?,
            "tcp_fin_timeout" => self.tcp_fin_timeout = secs(value)?,
            "tcp_notsent_lowat" => {
                self.tcp_notsent_lowat = u32::try_from(num(value)?).map_err(|_| bad())?
            }
            "tcp_max_tw_buckets" => self.tcp_max_tw_buckets = num(value)? as usize,
            "tcp_max_orphans" => self.tcp_max_orphans = num(value)? as usize,
            "tcp_rfc1337" => self.tcp_rfc1337 = boolean(value)?,
            "tcp_max_syn_backlog" => self.tcp_max_syn_backlog = num(value)? as usize,
            "somaxconn" => self.somaxconn = num(value)? as usize,
            "tcp_syncookies" => {
                self.tcp_syncookies = match num(value)? {
                    0 => SynCookieMode::Never,
                    1 => SynCookieMode::Overflow,
                    2 => SynCookieMode::Always,
                    _ => return Err(bad()),
                }
            }
            "tcp_abort_on_overflow" => self.tcp_abort_on_overflow = boolean(value)?,
            "tcp_migrate_req" => self.tcp_migrate_req = boolean(value)?,
            "tcp_fastopen" => self.tcp_fastopen = u32::try_from(num(value)?).map_err(|_| bad())?,
            "tcp_fastopen_key" => {
                crate::tcp::fastopen_cookie::FastOpenKeys::parse_sysctl(value)
                    .map_err(|_| bad())?;
                self.tcp_fastopen_key = Some(value.to_string());
            }
            "tcp_syn_source_ratelimit" => {
                self.tcp_syn_source_ratelimit = u32::try_from(num(value)?).map_err(|_| bad())?
            }
            "tcp_window_scaling" => self.tcp_window_scaling = boolean(value)?,
            "tcp_sack" => self.tcp_sack = boolean(value)?,
            "tcp_dsack" => self.tcp_dsack = boolean(value)?,
            "tcp_timestamps" => self.tcp_timestamps = boolean(value)?,
            "tcp_ecn" => self.tcp_ecn = small(value)?,
            "tcp_rmem" => self.tcp_rmem = triple(value)?,
            "tcp_wmem" => self.tcp_wmem = triple(value)?,
            "tcp_mem" => {
                let pages = triple(value)?;
                let bytes = |n: usize| n.checked_mul(PAGE).ok_or_else(bad);
                let limits = MemoryLimits {
                    low: bytes(pages.min)?,
                    pressure: bytes(pages.default)?,
                    high: bytes(pages.max)?,
                };
                // Linux takes any three numbers; marks out of order would
                // make pressure end above where it begins.
                if limits.low > limits.pressure || limits.pressure > limits.high {
                    return Err(bad());
                }
                self.tcp_mem = limits;
            }
            "tcp_min_snd_mss" => {
                self.tcp_min_snd_mss = u16::try_from(num(value)?).map_err(|_| bad())?
            }
            "tcp_mtu_probing" => {
                self.tcp_mtu_probing = match num(value)? {
                    n @ 0..=2 => n as u8,
                    _ => return Err(bad()),
                }
            }
            "tcp_probe_threshold" => {
                self.tcp_probe_threshold = u16::try_from(num(value)?).map_err(|_| bad())?
            }
            "tcp_probe_interval" => self.tcp_probe_interval = secs(value)?,
            "tcp_base_mss" => {
                self.tcp_base_mss = match u16::try_from(num(value)?) {
                    Ok(mss) if mss > 0 => mss,
                    _ => return Err(bad()),
                }
            }
            "tcp_mtu_probe_floor" => {
                self.tcp_mtu_probe_floor = u16::try_from(num(value)?).map_err(|_| bad())?
            }
            "tcp_keepalive_time" => self.tcp_keepalive_time = secs(value)?,
            "tcp_keepalive_intvl" => self.tcp_keepalive_intvl = secs(value)?,
            "tcp_keepalive_probes" => self.tcp_keepalive_probes = small(value)?,
            "tcp_invalid_ratelimit" => self.tcp_invalid_ratelimit = millis(value)?,
            "tcp_challenge_ack_limit" => {
                self.tcp_challenge_ack_limit = u32::try_from(num(value)?).map_err(|_| bad())?
            }
            "tcp_congestion_control" => {
                self.tcp_congestion_control =
                    CongestionAlgorithm::from_name(value).ok_or_else(bad)?
            }
            "tcp_slow_start_after_idle" => self.tcp_slow_start_after_idle = boolean(value)?,
            "tcp_moderate_rcvbuf" => self.tcp_moderate_rcvbuf = boolean(value)?,
            // Linux: the module parameter tcp_cubic.hystart_detect.
            "hystart_detect" | "tcp_cubic.hystart_detect" | "tcp_hystart_detect" => {
                self.tcp_hystart_detect = match small(value)? {
                    bits @ 0..=3 => bits,
                    _ => return Err(bad()),
                }
            }
            "tcp_reordering" => {
                self.tcp_reordering = u32::try_from(num(value)?).map_err(|_| bad())?
            }
            "tcp_recovery" => self.tcp_recovery_rack = num(value)? & 1 != 0,
            "tcp_early_retrans" => self.tcp_early_retrans = small(value)?,
            "tcp_frto" => self.tcp_frto = small(value)?,
            "tcp_min_tso_segs" => {
                self.tcp_min_tso_segs = u32::try_from(num(value)?)
                    .ok()
                    .filter(|n| (1..=255).contains(n))
                    .ok_or_else(bad)?
            }
            _ => return Err(SysctlError::Unknown(key.to_string())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_mirror_linux() {
        let c = Config::default();
        assert_eq!(
            (c.tcp_syn_retries, c.tcp_synack_retries, c.tcp_retries2),
            (6, 5, 15)
        );
        assert_eq!(c.time_wait(), Duration::from_secs(60));
        assert_eq!(c.advertised_mss(), 1460);
        // Linux with tcp_rmem max 6 MiB offers window scale 7.
        assert_eq!(c.window_scale(), 7);
    }

    #[test]
    fn window_scale_follows_rmem_max_like_linux() {
        let mut c = Config::default();
        c.set_sysctl("net.ipv4.tcp_rmem", "4096 540000 15728640")
            .unwrap();
        assert_eq!(
            c.window_scale(),
            8,
            "packetdrill's defaults.sh gives wscale 8"
        );
        c.tcp_rmem.max = 65_535;
        assert_eq!(c.window_scale(), 0);
        c.tcp_rmem.max = usize::MAX;
        assert_eq!(c.window_scale(), 14, "RFC 7323 §2.3 caps the shift at 14");
        c.tcp_window_scaling = false;
        assert_eq!(c.window_scale(), 0);
    }

    /// The closed form agrees with Linux's loop (`tcp_select_initial_window`:
    /// halve the space until it fits 16 bits, at most 14 times) around every
    /// power of two.
    #[test]
    fn window_scale_matches_the_halving_loop() {
        fn halving(mut space: usize) -> u8 {
            let mut shift = 0u8;
            while space > 65_535 && shift < 14 {
                space >>= 1;
                shift += 1;
            }
            shift
        }
        let mut c = Config::default();
        for bit in 0..usize::BITS {
            let p = 1usize << bit;
            for max in [p - 1, p, p + 1, p.wrapping_mul(3) / 2] {
                c.tcp_rmem.max = max;
                assert_eq!(c.window_scale(), halving(max), "max {max}");
            }
        }
        c.tcp_rmem.max = usize::MAX;
        assert_eq!(c.window_scale(), halving(usize::MAX));
    }

    #[test]
    fn sysctls_apply_by_linux_name() {
        let mut c = Config::default();
        c.set_sysctl("net.ipv4.tcp_syn_retries", "5").unwrap();
        c.set_sysctl("net/ipv4/tcp_syncookies", "2").unwrap();
        c.set_sysctl("tcp_fastopen", "0x70403").unwrap();
        c.set_sysctl("net.ipv4.tcp_congestion_control", "reno")
            .unwrap();
        c.set_sysctl("net.ipv4.ip_local_port_range", "40000 40010")
            .unwrap();
        assert_eq!(c.tcp_syn_retries, 5);
        assert_eq!(c.tcp_syncookies, SynCookieMode::Always);
        assert_eq!(c.tcp_fastopen, 0x70403);
        assert_eq!(c.tcp_congestion_control, CongestionAlgorithm::Reno);
        assert_eq!(c.ip_local_port_range, (40000, 40010));
        assert!(c.tcp_moderate_rcvbuf, "autotuning is on, as in Linux");
        c.set_sysctl("net.ipv4.tcp_moderate_rcvbuf", "0").unwrap();
        assert!(!c.tcp_moderate_rcvbuf);
    }

    #[test]
    fn tcp_mem_counts_pages_and_wants_its_marks_in_order() {
        let mut c = Config::default();
        assert_eq!(c.tcp_mem.high, 384 << 20, "Linux's for 4 GiB of memory");
        c.set_sysctl("net.ipv4.tcp_mem", "16 32 48").unwrap();
        assert_eq!(
            (c.tcp_mem.low, c.tcp_mem.pressure, c.tcp_mem.high),
            (65_536, 131_072, 196_608)
        );
        for bad in ["48 32 16", "1 2", "1 2 x", "1 2 18446744073709551615"] {
            assert!(c.set_sysctl("tcp_mem", bad).is_err(), "{bad}");
        }
        assert_eq!(c.tcp_mem.high, 196_608, "a refused value changes nothing");
    }

    #[test]
    fn hystart_detect_takes_linux_bits_and_rejects_others() {
        let mut c = Config::default();
        assert_eq!(c.tcp_hystart_detect, 3, "ACK train and delay, as Linux");
        c.set_sysctl("tcp_cubic.hystart_detect", "1").unwrap();
        assert_eq!(c.tcp_hystart_detect, 1);
        c.set_sysctl("net.ipv4.tcp_hystart_detect", "0").unwrap();
        assert_eq!(c.tcp_hystart_detect, 0);
        assert!(c.set_sysctl("hystart_detect", "4").is_err());
        assert!(c.set_sysctl("hystart_detect", "-1").is_err());
        assert_eq!(c.tcp_hystart_detect, 0);
    }

    #[test]
    fn network_layer_sysctls_apply_by_linux_name() {
        let mut c = Config::default();
        c.set_sysctl("net.ipv4.neigh.default.gc_thresh3", "64")
            .unwrap();
        c.set_sysctl("net.ipv4.neigh.default.retrans_time_ms", "250")
            .unwrap();
        c.set_sysctl("net.ipv4.neigh.default.mcast_solicit", "5")
            .unwrap();
        c.set_sysctl("net.ipv4.neigh.default.ucast_solicit", "2")
            .unwrap();
        c.set_sysctl("net.ipv4.neigh.default.unres_qlen", "7")
            .unwrap();
        assert_eq!(c.arp_delay_first_probe_time, Duration::from_secs(5));
        c.set_sysctl("net.ipv4.neigh.default.delay_first_probe_time", "2")
            .unwrap();
        assert_eq!(c.arp_locktime, Duration::from_secs(1));
        c.set_sysctl("net.ipv4.neigh.default.locktime", "50")
            .unwrap();
        c.set_sysctl("net.ipv4.icmp_msgs_burst", "10").unwrap();
        c.set_sysctl("net.ipv4.icmp_ratemask", "6168").unwrap();
        c.set_sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "0")
            .unwrap();
        c.set_sysctl("net.ipv4.route.min_pmtu", "1280").unwrap();
        c.set_sysctl("net.ipv4.route.mtu_expires", "60").unwrap();
        c.set_sysctl("net.ipv4.conf.all.secure_redirects", "0")
            .unwrap();
        c.set_sysctl("net.core.rmem_default", "4096").unwrap();
        assert_eq!(c.force_igmp_version, 0, "version 3, as Linux");
        c.set_sysctl("net.ipv4.conf.all.force_igmp_version", "2")
            .unwrap();
        assert_eq!(c.force_igmp_version, 2);
        assert!(!c.accept_source_route, "off, as Linux");
        c.set_sysctl("net.ipv4.conf.all.accept_source_route", "1")
            .unwrap();
        assert!(c.accept_source_route);
        assert!(
            c.set_sysctl("net.ipv4.conf.all.force_igmp_version", "3")
                .is_err()
        );
        assert_eq!(c.arp_gc_thresh3, 64);
        assert_eq!(c.arp_retrans_time, Duration::from_millis(250));
        assert_eq!((c.arp_mcast_solicit, c.arp_ucast_solicit), (5, 2));
        assert_eq!(c.arp_unres_qlen, 7);
        assert_eq!(c.arp_delay_first_probe_time, Duration::from_secs(2));
        assert_eq!(c.arp_locktime, Duration::from_millis(500));
        assert_eq!((c.icmp_msgs_burst, c.icmp_ratemask), (10, 0x1818));
        assert!(!c.icmp_echo_ignore_broadcasts);
        assert_eq!((c.route_min_pmtu, c.rmem_default), (1280, 4096));
        assert_eq!(c.route_mtu_expires, Duration::from_secs(60));
        assert!(c.accept_redirects && !c.secure_redirects);
    }

    #[test]
    fn bad_sysctls_are_errors_not_silently_ignored() {
        let mut c = Config::default();
        assert_eq!(
            c.set_sysctl("net.ipv4.tcp_nonsense", "1"),
            Err(SysctlError::Unknown("tcp_nonsense".into()))
        );
        assert!(matches!(
            c.set_sysctl("tcp_syncookies", "7"),
            Err(SysctlError::BadValue { .. })
        ));
        assert!(matches!(
            c.set_sysctl("tcp_rmem", "1 2"),
            Err(SysctlError::BadValue { .. })
        ));
        assert!(matches!(
            c.set_sysctl("ip_local_port_range", "5000 4000"),
            Err(SysctlError::BadValue { .. })
        ));
        assert!(matches!(
            c.set_sysctl("tcp_syn_retries", "300"),
            Err(SysctlError::BadValue { .. })
        ));
        // Linux's modes are 0, 1 and 2.
        assert!(matches!(
            c.set_sysctl("tcp_mtu_probing", "3"),
            Err(SysctlError::BadValue { .. })
        ));
        assert!(matches!(
            c.set_sysctl("tcp_base_mss", "0"),
            Err(SysctlError::BadValue { .. })
        ));
        assert!(matches!(
            c.set_sysctl("ip_default_ttl", "0"),
            Err(SysctlError::BadValue { .. })
        ));
        assert_eq!(c, Config::default(), "failed sets change nothing");
    }

    #[test]
    fn tcp_migrate_req_is_a_boolean_sysctl() {
        let mut c = Config::default();
        assert!(!c.tcp_migrate_req, "off, as on Linux");
        c.set_sysctl("net.ipv4.tcp_migrate_req", "1").unwrap();
        assert!(c.tcp_migrate_req);
        c.set_sysctl("tcp_migrate_req", "0").unwrap();
        assert!(!c.tcp_migrate_req);
        assert!(matches!(
            c.set_sysctl("tcp_migrate_req", "yes"),
            Err(SysctlError::BadValue { .. })
        ));
    }

    #[test]
    fn black_hole_detection_sysctls_apply() {
        let mut c = Config::default();
        assert_eq!(c.tcp_mtu_probing, 0);
        c.set_sysctl("net.ipv4.tcp_mtu_probing", "1").unwrap();
        assert_eq!(c.tcp_mtu_probing, 1);
        c.set_sysctl("net.ipv4.tcp_mtu_probing", "2").unwrap();
        c.set_sysctl("net/ipv4/tcp_base_mss", "512").unwrap();
        c.set_sysctl("tcp_mtu_probe_floor", "40").unwrap();
        c.set_sysctl("tcp_probe_threshold", "16").unwrap();
        c.set_sysctl("tcp_probe_interval", "60").unwrap();
        assert_eq!(c.tcp_mtu_probing, 2);
        assert_eq!((c.tcp_base_mss, c.tcp_mtu_probe_floor), (512, 40));
        assert_eq!(c.tcp_probe_threshold, 16);
        assert_eq!(c.tcp_probe_interval, Duration::from_secs(60));
        // `tcp_min_snd_mss` (48) floors the floor.
        assert_eq!(c.black_hole_floor(), 48);
    }
}
