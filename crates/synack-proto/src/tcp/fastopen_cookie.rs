//! TCP Fast Open cookies: the server's keys and cookies (computed exactly as
//! Linux computes them, so a synack server and a Linux server configured with
//! the same key hand out the same cookies), and the client's cookie cache.
//!
//! Read first: RFC 7413 §4.1 (Fast Open cookie: generation, validation,
//! option format), §4.1.2 (server: "the server can rotate keys", accepting
//! the old one for a while), §4.1.3 (client: caching cookies per server,
//! together with the server's MSS), §4.2 (SYN-data loss handling).
//!
//! Linux (net/ipv4/tcp_fastopen.c, `__tcp_fastopen_cookie_gen_cipher`) makes
//! an IPv4 cookie as the 8 little-endian bytes of SipHash-2-4 over the SYN's
//! source and destination addresses in network byte order (client then
//! server), under a 128-bit key. The sysctl `net.ipv4.tcp_fastopen_key`
//! shows the key as four 32-bit hex words, `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`,
//! each stored little-endian in order to make the 16 key bytes
//! (net/ipv4/sysctl_net_ipv4.c `sscanf_key`: `key[i] = cpu_to_le32(word[i])`),
//! optionally followed by `,` and a backup key that is accepted but not
//! handed out. `FastOpenKeys::cookie` reproduces the cookies a Linux 6.18
//! kernel sent for known keys (see the tests).

use crate::siphash::SipKey;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{FastOpenCookie, FastOpenOption};
use core::net::Ipv4Addr;
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;

/// Length of the cookies this server hands out (Linux TCP_FASTOPEN_COOKIE_SIZE).
pub const SERVER_COOKIE_LEN: usize = 8;

/// A `net.ipv4.tcp_fastopen_key` value that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseKeyError {
    /// A key is not four `-`-separated words.
    WrongWordCount,
    /// A word is not 1 to 8 hexadecimal digits.
    BadWord,
    /// More than a primary and a backup key.
    TooManyKeys,
}

impl core::fmt::Display for ParseKeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ParseKeyError::WrongWordCount => "a Fast Open key is four '-'-separated hex words",
            ParseKeyError::BadWord => "a Fast Open key word is 1 to 8 hex digits",
            ParseKeyError::TooManyKeys => "at most a primary and a backup Fast Open key",
        })
    }
}

impl core::error::Error for ParseKeyError {}

/// Which key validated a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieKey {
    /// The current key.
    Primary,
    /// The previous key: accept the SYN's data, and send the client a fresh
    /// cookie made with the primary key in the SYN-ACK (as Linux does).
    Backup,
}

/// A Fast Open server's secret keys (RFC 7413 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastOpenKeys {
    /// Makes and validates cookies.
    pub primary: SipKey,
    /// Only validates cookies: the previous primary key, during a rotation.
    pub backup: Option<SipKey>,
}

impl FastOpenKeys {
    /// Keys with no backup.
    pub const fn new(primary: SipKey) -> Self {
        FastOpenKeys {
            primary,
            backup: None,
        }
    }

    /// Parses the `net.ipv4.tcp_fastopen_key` format:
    /// `w0-w1-w2-w3[,w0-w1-w2-w3]`, words of 1 to 8 hex digits, surrounding
    /// whitespace ignored. The first key is the primary, the second the backup.
    pub fn parse_sysctl(s: &str) -> Result<Self, ParseKeyError> {
        let mut keys = s.trim().split(',');
        // `split` always yields at least one piece.
        let primary = parse_key(keys.next().unwrap_or(""))?;
        let backup = keys.next().map(parse_key).transpose()?;
        if keys.next().is_some() {
            return Err(ParseKeyError::TooManyKeys);
        }
        Ok(FastOpenKeys { primary, backup })
    }

    /// Key rotation (RFC 7413 §4.1.2): cookies are made with `primary`
    /// from now on; the old primary stays valid as the backup, so cookies
    /// already handed out keep working until the next rotation.
    pub fn rotate(&mut self, primary: SipKey) {
        let old = core::mem::replace(&mut self.primary, primary);
        self.backup = Some(old);
    }

    /// The keys in `net.ipv4.tcp_fastopen_key` format, as Linux prints them
    /// (to configure a Linux peer with the same keys in a test). Secret.
    pub fn to_sysctl(&self) -> String {
        let mut out = format_key(&self.primary);
        if let Some(backup) = &self.backup {
            out.push(',');
            out.push_str(&format_key(backup));
        }
        out
    }

    /// The cookie for a client at `client` talking to this server at `server`
    /// (the SYN's source and destination addresses), made with the primary key.
    pub fn cookie(&self, client: Ipv4Addr, server: Ipv4Addr) -> [u8; SERVER_COOKIE_LEN] {
        cookie_with(&self.primary, client, server)
    }

    /// Whether `cookie` (from a SYN's Fast Open option) is valid for this
    /// client and server under the primary or the backup key.
    pub fn validate(&self, client: Ipv4Addr, server: Ipv4Addr, cookie: &[u8]) -> bool {
        self.check(client, server, cookie).is_some()
    }

    /// Which key, if any, validates `cookie`. Compares without an early exit,
    /// so timing does not reveal how many bytes of a guess were right.
    pub fn check(&self, client: Ipv4Addr, server: Ipv4Addr, cookie: &[u8]) -> Option<CookieKey> {
        if cookie.len() != SERVER_COOKIE_LEN {
            return None;
        }
        if equal_bytes(&cookie_with(&self.primary, client, server), cookie) {
            return Some(CookieKey::Primary);
        }
        let backup = self.backup.as_ref()?;
        equal_bytes(&cookie_with(backup, client, server), cookie).then_some(CookieKey::Backup)
    }
}

/// Linux `__tcp_fastopen_cookie_gen_cipher` for IPv4.
fn cookie_with(key: &SipKey, client: Ipv4Addr, server: Ipv4Addr) -> [u8; SERVER_COOKIE_LEN] {
    let mut addresses = [0u8; 8];
    addresses[..4].copy_from_slice(&client.octets());
    addresses[4..].copy_from_slice(&server.octets());
    key.hash(&addresses).to_le_bytes()
}

/// Compares equal-length slices touching every byte.
fn equal_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_key(s: &str) -> Result<SipKey, ParseKeyError> {
    let mut bytes = [0u8; 16];
    let mut words = s.trim().split('-');
    for chunk in bytes.chunks_exact_mut(4) {
        let word = words.next().ok_or(ParseKeyError::WrongWordCount)?;
        if word.is_empty() || word.len() > 8 || !word.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseKeyError::BadWord);
        }
        // Checked above: 1 to 8 hex digits always fit in a u32.
        let value = u32::from_str_radix(word, 16).map_err(|_| ParseKeyError::BadWord)?;
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    if words.next().is_some() {
        return Err(ParseKeyError::WrongWordCount);
    }
    Ok(SipKey(bytes))
}

fn format_key(key: &SipKey) -> String {
    let w = |i: usize| u32::from_le_bytes([key.0[i], key.0[i + 1], key.0[i + 2], key.0[i + 3]]);
    format!("{:08x}-{:08x}-{:08x}-{:08x}", w(0), w(4), w(8), w(12))
}

/// What a client remembers about one server (RFC 7413 §4.1.3), as Linux
/// keeps it in its TCP metrics (`tcp_fastopen_metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FastOpenEntry {
    /// The server's cookie, once received, with the option kind it came
    /// in (the client sends it back in the same kind). The wire type: 4 to
    /// 16 bytes, never a request.
    pub cookie: Option<FastOpenOption>,
    /// The MSS the server advertised, so SYN data can be sized before the
    /// SYN-ACK arrives (RFC 7413 §4.1.3).
    pub mss: Option<u16>,
    /// Linux `try_exp`: 1 after a kind-34 cookie request went unanswered
    /// (ask with the experimental kind 254 next), 2 after that failed too
    /// (kind 34 for good).
    pub try_exp: u8,
    /// Consecutive handshakes whose SYN (with data or the option) seemed
    /// lost (RFC 7413 §4.2.1: middleboxes drop such SYNs).
    pub syn_loss: u8,
    /// When the last of those happened.
    pub last_syn_loss: Option<Instant>,
}

impl FastOpenEntry {
    /// Linux `tcp_fastopen_cookie_check`: after two or more lost SYNs in a
    /// row, no Fast Open to this server for 60 s << losses (RFC 7413
    /// §4.2.1 "the client SHOULD stop using Fast Open ... for a period").
    pub fn suspended(&self, now: Instant) -> bool {
        let Some(last) = self.last_syn_loss else {
            return false;
        };
        if self.syn_loss <= 1 {
            return false;
        }
        let period = Duration::from_secs(60u64 << u32::from(self.syn_loss.min(16)));
        now < last + period
    }
}

/// A cookie from a SYN-ACK, if a client may cache it: 4 to 16 bytes (the
/// parser drops other lengths) and, as Linux requires, of even length.
pub fn cacheable(option: &FastOpenOption) -> bool {
    let len = option.cookie.as_slice().len();
    len >= FastOpenCookie::MIN_LEN && len.is_multiple_of(2)
}

#[derive(Debug, Clone)]
struct CacheSlot {
    server: Ipv4Addr,
    entry: FastOpenEntry,
    last_used: u64,
}

/// The client's Fast Open cookie cache: server address -> [`FastOpenEntry`],
/// at most `capacity` servers, evicting the least recently used. Lookups do
/// not allocate; storage is allocated once, for `capacity` servers, on the
/// first insert. Eviction scans the entries (O(capacity), only when full).
#[derive(Debug, Clone)]
pub struct FastOpenCache {
    index: HashMap<Ipv4Addr, usize, FxBuildHasher>,
    slots: Vec<CacheSlot>,
    capacity: usize,
    clock: u64,
}

impl FastOpenCache {
    /// Linux keeps Fast Open state in its TCP metrics cache; 1024 servers is
    /// plenty for a client.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// An empty cache for at most `capacity` servers. Allocates nothing yet.
    pub fn new(capacity: usize) -> Self {
        FastOpenCache {
            index: HashMap::with_hasher(FxBuildHasher),
            slots: Vec::new(),
            capacity,
            clock: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// What is known about `server`, marking it recently used.
    pub fn get(&mut self, server: Ipv4Addr) -> Option<FastOpenEntry> {
        let &i = self.index.get(&server)?;
        self.clock += 1;
        self.slots[i].last_used = self.clock;
        Some(self.slots[i].entry)
    }

    /// What is known about `server`, without touching its recency.
    pub fn peek(&self, server: Ipv4Addr) -> Option<&FastOpenEntry> {
        self.index.get(&server).map(|&i| &self.slots[i].entry)
    }

    /// Stores `entry` for `server`, replacing what was there, evicting the
    /// least recently used server if the cache is full.
    pub fn insert(&mut self, server: Ipv4Addr, entry: FastOpenEntry) {
        self.update(server, |e| *e = entry);
    }

    /// Records a handshake's outcome the way Linux's `tcp_fastopen_cache_set`
    /// does: a new MSS or (cacheable) cookie replaces the old one (`None`
    /// keeps it); without a cookie, a higher `try_exp` is kept while no
    /// cookie is known; `syn_lost` counts a lost SYN, anything else resets
    /// the count.
    pub fn record(
        &mut self,
        now: Instant,
        server: Ipv4Addr,
        mss: Option<u16>,
        cookie: Option<FastOpenOption>,
        try_exp: u8,
        syn_lost: bool,
    ) {
        let cookie = cookie.filter(cacheable);
        self.update(server, |e| {
            if mss.is_some() {
                e.mss = mss;
            }
            if cookie.is_some() {
                e.cookie = cookie;
            } else if try_exp > e.try_exp && e.cookie.is_none() {
                e.try_exp = try_exp;
            }
            if syn_lost {
                e.syn_loss = e.syn_loss.saturating_add(1);
                e.last_syn_loss = Some(now);
            } else {
                e.syn_loss = 0;
            }
        });
    }

    /// Forgets `server`; returns what was known.
    pub fn remove(&mut self, server: Ipv4Addr) -> Option<FastOpenEntry> {
        let i = self.index.remove(&server)?;
        let removed = self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.server, i);
        }
        Some(removed.entry)
    }

    /// Applies `f` to `server`'s entry, creating it (and evicting if full).
    fn update(&mut self, server: Ipv4Addr, f: impl FnOnce(&mut FastOpenEntry)) {
        if self.capacity == 0 {
            return;
        }
        self.clock += 1;
        if let Some(&i) = self.index.get(&server) {
            let slot = &mut self.slots[i];
            slot.last_used = self.clock;
            f(&mut slot.entry);
            return;
        }
        if self.slots.capacity() == 0 {
            self.slots.reserve_exact(self.capacity);
            self.index.reserve(self.capacity);
        }
        if self.slots.len() >= self.capacity {
            self.evict_least_recently_used();
        }
        let mut entry = FastOpenEntry::default();
        f(&mut entry);
        self.index.insert(server, self.slots.len());
        self.slots.push(CacheSlot {
            server,
            entry,
            last_used: self.clock,
        });
    }

    fn evict_least_recently_used(&mut self) {
        let oldest = self
            .slots
            .iter()
            .min_by_key(|s| s.last_used)
            .map(|s| s.server);
        if let Some(server) = oldest {
            self.remove(server);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    /// Observed on Linux 6.18 (this machine's kernel) in a private network
    /// namespace (`unshare -n`): a veth pair with 192.0.2.1 (server) and
    /// 192.0.2.2 (client), `sysctl -w net.ipv4.tcp_fastopen=3`,
    /// `net.ipv4.tcp_fastopen_key=<key>`, a Python listener with
    /// `setsockopt(IPPROTO_TCP, TCP_FASTOPEN, 5)` and a Python client bound
    /// to 192.0.2.2 calling `sendto(data, MSG_FASTOPEN, ("192.0.2.1", 8080))`.
    /// tcpdump on `lo` showed the cookie in the SYN-ACK's Fast Open option
    /// (and `ip tcp_metrics show` the same `fo_cookie`).
    const LINUX_OBSERVED: [(&str, [u8; 8]); 3] = [
        (
            "01234567-89abcdef-fedcba98-76543210",
            [0x86, 0xd2, 0x38, 0x61, 0x8b, 0xd2, 0x49, 0x6b],
        ),
        (
            "00000001-00000002-00000003-00000004",
            [0xe1, 0x2d, 0x39, 0x7f, 0x73, 0x55, 0x04, 0x5d],
        ),
        (
            "00000005-00000006-00000007-00000008",
            [0x2d, 0xab, 0x9c, 0x08, 0x09, 0x70, 0x52, 0xba],
        ),
    ];

    #[test]
    fn cookies_match_what_linux_sent() {
        for (key, cookie) in LINUX_OBSERVED {
            let keys = FastOpenKeys::parse_sysctl(key).unwrap();
            assert_eq!(keys.cookie(CLIENT, SERVER), cookie, "key {key}");
            assert!(keys.validate(CLIENT, SERVER, &cookie));
        }
    }

    #[test]
    fn backup_key_validates_and_primary_issues_like_linux() {
        // Observed on the same kernel: with the sysctl set to "B,A", a SYN
        // carrying A's cookie had its data accepted, and the SYN-ACK carried
        // B's cookie: the first key is the primary, the second the backup.
        let (a, a_cookie) = LINUX_OBSERVED[1];
        let (b, b_cookie) = LINUX_OBSERVED[2];
        let keys = FastOpenKeys::parse_sysctl(&format!("{b},{a}")).unwrap();
        assert_eq!(
            keys.check(CLIENT, SERVER, &a_cookie),
            Some(CookieKey::Backup)
        );
        assert_eq!(
            keys.check(CLIENT, SERVER, &b_cookie),
            Some(CookieKey::Primary)
        );
        assert_eq!(keys.cookie(CLIENT, SERVER), b_cookie);
        // Without the backup, A's cookie is no longer accepted.
        let b_only = FastOpenKeys::parse_sysctl(b).unwrap();
        assert!(!b_only.validate(CLIENT, SERVER, &a_cookie));
    }

    #[test]
    fn key_words_are_stored_little_endian_in_order() {
        let keys = FastOpenKeys::parse_sysctl("01234567-89abcdef-fedcba98-76543210").unwrap();
        assert_eq!(
            keys.primary.0,
            [
                0x67, 0x45, 0x23, 0x01, 0xef, 0xcd, 0xab, 0x89, 0x98, 0xba, 0xdc, 0xfe, 0x10, 0x32,
                0x54, 0x76
            ]
        );
        assert_eq!(keys.backup, None);
    }

    #[test]
    fn sysctl_format_round_trips() {
        let text = "00000005-00000006-00000007-00000008,01234567-89abcdef-fedcba98-76543210";
        let keys = FastOpenKeys::parse_sysctl(&format!("  {text}\n")).unwrap();
        assert_eq!(keys.to_sysctl(), text);
        // Short words are zero-padded when printed, as Linux prints them.
        let keys = FastOpenKeys::parse_sysctl("1-2-a-FF").unwrap();
        assert_eq!(keys.to_sysctl(), "00000001-00000002-0000000a-000000ff");
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let bad = [
            ("", ParseKeyError::BadWord),
            ("1-2-3", ParseKeyError::WrongWordCount),
            ("1-2-3-4-5", ParseKeyError::WrongWordCount),
            ("1-2-3-", ParseKeyError::BadWord),
            ("1-2-3-123456789", ParseKeyError::BadWord),
            ("1-2-3-xyz", ParseKeyError::BadWord),
            ("1-2-3-+4", ParseKeyError::BadWord),
            ("1-2-3-4,", ParseKeyError::BadWord),
            ("1-2-3-4,5-6-7-8,9-a-b-c", ParseKeyError::TooManyKeys),
        ];
        for (text, err) in bad {
            assert_eq!(FastOpenKeys::parse_sysctl(text), Err(err), "{text:?}");
        }
    }

    #[test]
    fn cookies_depend_on_both_addresses_and_the_key() {
        let keys = FastOpenKeys::parse_sysctl(LINUX_OBSERVED[0].0).unwrap();
        let c = keys.cookie(CLIENT, SERVER);
        assert_ne!(keys.cookie(SERVER, CLIENT), c, "direction matters");
        assert_ne!(keys.cookie(Ipv4Addr::new(192, 0, 2, 3), SERVER), c);
        assert_ne!(keys.cookie(CLIENT, Ipv4Addr::new(192, 0, 2, 4)), c);
        assert!(!keys.validate(Ipv4Addr::new(192, 0, 2, 3), SERVER, &c));
        let other = FastOpenKeys::new(SipKey([1; 16]));
        assert!(!other.validate(CLIENT, SERVER, &c));
        // Wrong lengths never validate.
        assert!(!keys.validate(CLIENT, SERVER, &c[..4]));
        assert!(!keys.validate(CLIENT, SERVER, &[]));
        let mut flipped = c;
        for i in 0..8 {
            flipped[i] ^= 1;
            assert!(!keys.validate(CLIENT, SERVER, &flipped), "byte {i}");
            flipped[i] ^= 1;
        }
    }

    fn option(bytes: &[u8], experimental: bool) -> FastOpenOption {
        FastOpenOption {
            experimental,
            cookie: FastOpenCookie::new(bytes).unwrap(),
        }
    }

    #[test]
    fn clients_cache_only_4_to_16_even_bytes() {
        assert!(!cacheable(&option(&[], false)), "a request is no cookie");
        assert!(!cacheable(&option(&[1, 2, 3, 4, 5], false)), "odd length");
        assert!(cacheable(&option(&[9, 8, 7, 6], false)));
        assert!(cacheable(&option(&[0xAB; 16], true)));
        // The wire type refuses 1 to 3 and more than 16 bytes already.
        assert!(FastOpenCookie::new(&[1, 2]).is_none());
        assert!(FastOpenCookie::new(&[0; 18]).is_none());
    }

    fn server(i: u32) -> Ipv4Addr {
        Ipv4Addr::from(0xC633_6400 + i) // 198.51.100.x
    }

    const T: Instant = Instant::from_secs(10);

    #[test]
    fn cache_remembers_cookie_kind_mss_and_losses() {
        let mut cache = FastOpenCache::new(4);
        assert_eq!(cache.get(server(1)), None);
        let cookie = option(&[1, 2, 3, 4, 5, 6, 7, 8], true);
        cache.record(T, server(1), Some(1460), Some(cookie), 0, false);
        let e = cache.get(server(1)).unwrap();
        assert_eq!(e.cookie, Some(cookie), "kind 254 is remembered");
        assert_eq!(e.mss, Some(1460));
        assert_eq!(e.syn_loss, 0);
        // Lost SYNs keep the cookie and MSS, and count.
        cache.record(T, server(1), None, None, 0, true);
        cache.record(
            T,
            server(1),
            None,
            Some(option(&[1, 2, 3, 4, 5], false)),
            0,
            true,
        );
        let e = cache.peek(server(1)).unwrap();
        assert_eq!((e.cookie, e.mss, e.syn_loss), (Some(cookie), Some(1460), 2));
        assert!(e.suspended(T + Duration::from_secs(239)), "60 s << 2");
        assert!(!e.suspended(T + Duration::from_secs(240)));
        cache.record(T, server(1), None, None, 0, false);
        assert_eq!(cache.peek(server(1)).unwrap().syn_loss, 0);
        assert_eq!(cache.remove(server(1)).map(|e| e.mss), Some(Some(1460)));
        assert!(cache.is_empty());
    }

    #[test]
    fn try_exp_only_rises_while_no_cookie_is_known() {
        let mut cache = FastOpenCache::new(4);
        cache.record(T, server(1), Some(1460), None, 1, false);
        assert_eq!(cache.peek(server(1)).unwrap().try_exp, 1);
        cache.record(T, server(1), None, None, 2, false);
        cache.record(T, server(1), None, None, 1, false);
        assert_eq!(cache.peek(server(1)).unwrap().try_exp, 2, "never falls");
        cache.record(T, server(2), None, Some(option(&[7; 8], false)), 0, false);
        cache.record(T, server(2), None, None, 1, false);
        assert_eq!(
            cache.peek(server(2)).unwrap().try_exp,
            0,
            "a cookie is known"
        );
    }

    #[test]
    fn cache_evicts_the_least_recently_used_server() {
        let mut cache = FastOpenCache::new(3);
        for i in 0..3 {
            cache.record(T, server(i), Some(1000 + i as u16), None, 0, false);
        }
        // Use 0 and 1; 2 is now the least recently used.
        cache.get(server(0));
        cache.get(server(1));
        cache.record(T, server(3), Some(1003), None, 0, false);
        assert_eq!(cache.len(), 3);
        assert!(cache.peek(server(2)).is_none());
        for i in [0, 1, 3] {
            assert_eq!(cache.peek(server(i)).unwrap().mss, Some(1000 + i as u16));
        }
        // Many more servers: the cache never grows past its capacity.
        for i in 10..1000 {
            cache.insert(server(i), FastOpenEntry::default());
            assert!(cache.len() <= 3);
        }
        assert!(cache.peek(server(999)).is_some());
        let mut none = FastOpenCache::new(0);
        none.record(T, server(1), Some(1), None, 0, false);
        assert!(none.is_empty());
    }
}
