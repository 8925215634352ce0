//! IPv4 options (RFC 791 §3.1, RFC 1122 §3.2.1.8): checked on every datagram
//! for us that carries any, the record route and timestamp options of an
//! echo request carried into its reply with this host's entry added (RFC
//! 1122 §3.2.2.6, so `ping -R` and `ping -T` show the whole round trip), the
//! options a socket gives its datagrams ([`SendOptions`], IP_OPTIONS), those
//! a fragment after the first keeps ([`copied`]), and those a reply needs
//! ([`return_options`], IP_RETOPTS). A UDP socket's IP_RECVOPTS keeps a
//! datagram's options as they arrived (`crate::udp`).
//!
//! What the host does with each option it receives:
//! - record route and timestamp: checked; an echo reply carries them on;
//! - loose and strict source route: checked, then dropped
//!   (`InSourceRouted`) as Linux drops it with `accept_source_route` off,
//!   its default; with it on, taken where the route ends here, and an echo
//!   reply or a TCP connection goes back along it reversed
//!   ([`source_route`]); a router passes on one that goes on
//!   ([`source_route::pass_on`], `stack/forward.rs`), recording itself in
//!   record routes and timestamps too;
//! - router alert: checked (RFC 2113 §2.1: four octets long);
//! - security, stream identifier and unknown kinds: skipped by their length
//!   (RFC 1122 §3.2.1.8: "silently ignore").
//!
//! A malformed option (a length that runs past the header, a pointer below
//! its first slot, a slot cut short, a second copy of a once-only option, a
//! timestamp whose overflow count is full) drops the datagram as a header
//! error, answered with a parameter problem pointing at the octet in error
//! (RFC 1122 §3.2.2.5; Linux's `ip_options_compile`).

use core::net::Ipv4Addr;

use crate::wire::ipv4::HEADER_LEN;

pub mod source_route;

pub use source_route::ReturnRoute;

/// Option kinds (RFC 791 §3.1; router alert: RFC 2113).
pub mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const RECORD_ROUTE: u8 = 7;
    pub const TIMESTAMP: u8 = 68;
    pub const SECURITY: u8 = 130;
    pub const LOOSE_SOURCE_ROUTE: u8 = 131;
    pub const STREAM_ID: u8 = 136;
    pub const STRICT_SOURCE_ROUTE: u8 = 137;
    pub const ROUTER_ALERT: u8 = 148;
}

/// The largest options area: a 60-byte header less its fixed 20.
pub const MAX_LEN: usize = 40;

/// The timestamp option's flags (RFC 791 "Internet Timestamp", the low four
/// bits of its fourth octet); the high four are the overflow count.
mod ts_flag {
    /// Timestamps only.
    pub const ONLY: u8 = 0;
    /// Each timestamp after the address of the module that wrote it.
    pub const WITH_ADDRESS: u8 = 1;
    /// Addresses given by the sender; a module writes its timestamp only
    /// when the next one is its own.
    pub const PRESPECIFIED: u8 = 3;
}

/// The most modules a timestamp option's overflow count can count.
const TS_OVERFLOW_MAX: u8 = 15;

/// Where the options a host acts on start in a datagram's options area
/// (offsets from the first option octet), after they checked out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub record_route: Option<u8>,
    pub timestamp: Option<u8>,
    /// Loose or strict.
    pub source_route: Option<u8>,
    pub router_alert: bool,
}

/// A malformed option: the octet in error, counted from the IP header's
/// first octet, as ICMP's parameter problem pointer counts (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    pub pointer: u8,
}

impl Options {
    /// Checks a datagram's options area (the header after its fixed 20
    /// bytes; at most [`MAX_LEN`]) option by option.
    pub fn parse(area: &[u8]) -> Result<Self, Problem> {
        let mut found = Options::default();
        let mut at = 0;
        while at < area.len() {
            let kind = area[at];
            if kind == kind::END {
                break;
            }
            if kind == kind::NOP {
                at += 1;
                continue;
            }
            // Every other option has a length octet, counting itself and
            // the kind, that must stay inside the area.
            let len = match area.get(at + 1) {
                Some(&len) if len >= 2 && at + usize::from(len) <= area.len() => usize::from(len),
                Some(_) => return Err(problem(at + 1)),
                None => return Err(problem(at)),
            };
            let option = &area[at..at + len];
            let offset = Some(at as u8);
            match kind {
                kind::RECORD_ROUTE => {
                    once(found.record_route, at)?;
                    check_route(option, at)?;
                    found.record_route = offset;
                }
                kind::LOOSE_SOURCE_ROUTE | kind::STRICT_SOURCE_ROUTE => {
                    once(found.source_route, at)?;
                    check_route(option, at)?;
                    found.source_route = offset;
                }
                kind::TIMESTAMP => {
                    once(found.timestamp, at)?;
                    check_timestamp(option, at)?;
                    found.timestamp = offset;
                }
                kind::ROUTER_ALERT => {
                    if len != 4 {
                        return Err(problem(at + 1));
                    }
                    found.router_alert = true;
                }
                _ => {}
            }
            at += len;
        }
        Ok(found)
    }
}

/// The parameter problem for the octet `at` of the options area.
fn problem(at: usize) -> Problem {
    // The area is at most 40 octets: the pointer fits.
    Problem {
        pointer: (HEADER_LEN + at) as u8,
    }
}

/// RFC 791: record route, source routes and the timestamp appear "at most
/// once in a datagram".
fn once(seen: Option<u8>, at: usize) -> Result<(), Problem> {
    match seen {
        Some(_) => Err(problem(at)),
        None => Ok(()),
    }
}

/// A route option (record route, loose or strict source route): kind,
/// length, a pointer to the next four-octet slot (4 for the first), the
/// slots. A pointer past the length means the route is full (or done).
fn check_route(option: &[u8], at: usize) -> Result<(), Problem> {
    let len = option.len();
    let Some(&pointer) = option.get(2) else {
        return Err(problem(at + 1));
    };
    let pointer = usize::from(pointer);
    if pointer < 4 || (pointer <= len && pointer + 3 > len) {
        return Err(problem(at + 2));
    }
    Ok(())
}

/// A timestamp option: kind, length, pointer (5 for the first slot),
/// overflow and flags, then slots of a timestamp, or of an address and a
/// timestamp.
fn check_timestamp(option: &[u8], at: usize) -> Result<(), Problem> {
    let len = option.len();
    if len < 4 {
        return Err(problem(at + 1));
    }
    let pointer = usize::from(option[2]);
    if pointer < 5 {
        return Err(problem(at + 2));
    }
    let (overflow, flag) = (option[3] >> 4, option[3] & 0x0F);
    if pointer <= len {
        if pointer + ts_slot(flag) - 1 > len {
            return Err(problem(at + 2));
        }
    } else if flag != ts_flag::PRESPECIFIED && overflow == TS_OVERFLOW_MAX {
        // RFC 791: "If the overflow count itself overflows, the original
        // datagram is considered to be in error and is discarded."
        return Err(problem(at + 3));
    }
    Ok(())
}

/// A timestamp slot's size for `flag`.
fn ts_slot(flag: u8) -> usize {
    match flag {
        ts_flag::ONLY => 4,
        _ => 8,
    }
}

/// This host's entry, as an echo reply registers it: the reply's source
/// address and its timestamp (RFC 791: milliseconds since midnight UT, or
/// any value with the high bit set when the time of day is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub address: Ipv4Addr,
    pub timestamp: u32,
}

/// RFC 1122 §3.2.2.6: "If a Record Route and/or Time Stamp option is
/// received in an ICMP Echo Request, this option (these options) SHOULD be
/// updated to include the current host and included in the IP header of
/// the Echo Reply message, without 'truncation'." Writes the reply's
/// options into `out` from `area`, the request's options as
/// [`Options::parse`] found them: the record route and the timestamp option,
/// each with this host's entry where it has room (a full timestamp option
/// counts one more overflow instead), then `back`, the request's source
/// route reversed, on its way to the request's source `to` ("the return
/// route MUST be reversed and used as a Source Route option for the Echo
/// Reply message"; it is no longer than the request's), padded with
/// end-of-options to a whole number of 32-bit words. `is_ours` tells this
/// host's addresses (a prespecified timestamp names the modules that write
/// one). Returns their length (0: none to carry).
pub fn echo_reply(
    area: &[u8],
    found: &Options,
    me: Registration,
    is_ours: impl Fn(Ipv4Addr) -> bool,
    back: Option<(&ReturnRoute, Ipv4Addr)>,
    out: &mut [u8; MAX_LEN],
) -> usize {
    let mut len = 0;
    // Where each lands in the reply.
    let mut carried = Options::default();
    let mut starts = [found.record_route, found.timestamp];
    // In the request's order.
    starts.sort_unstable_by_key(|s| s.unwrap_or(u8::MAX));
    for start in starts.into_iter().flatten() {
        let start = usize::from(start);
        let option_len = usize::from(area[start + 1]);
        let at = Some(len as u8);
        if Some(start as u8) == found.record_route {
            carried.record_route = at;
        } else {
            carried.timestamp = at;
        }
        out[len..len + option_len].copy_from_slice(&area[start..start + option_len]);
        len += option_len;
    }
    if let Some((route, to)) = back {
        len += route.write_on_wire(to, &mut out[len..]);
    }
    let padded = pad(out, len);
    register(&mut out[..padded], &carried, me, is_ours);
    padded
}

/// The options to answer a datagram with, as IP_RETOPTS hands them to an
/// application for its IP_OPTIONS (Linux's `ip_options_echo` and
/// `ip_options_undo`): the record route and timestamp options as they came
/// (this host registers itself when it sends them), and the source route
/// reversed towards `src`, the datagram's source, in the form an
/// application sets ([`ReturnRoute::write_as_set`]), padded to whole
/// words. `area` is a datagram's options area as it arrived (checked on
/// the way in). Returns their length.
pub fn return_options(area: &[u8], src: Ipv4Addr, out: &mut [u8; MAX_LEN]) -> usize {
    let Ok(found) = Options::parse(area) else {
        return 0;
    };
    let mut len = 0;
    let mut starts = [found.record_route, found.timestamp];
    starts.sort_unstable_by_key(|s| s.unwrap_or(u8::MAX));
    for start in starts.into_iter().flatten() {
        let start = usize::from(start);
        let option = &area[start..start + usize::from(area[start + 1])];
        out[len..len + option.len()].copy_from_slice(option);
        len += option.len();
    }
    if let Some(route) = ReturnRoute::reversed(area, &found, src, |_| false) {
        len += route.write_as_set(&mut out[len..]);
    }
    pad(out, len)
}

/// Pads options written up to `len` with end-of-options to whole 32-bit
/// words; their new length.
fn pad(out: &mut [u8; MAX_LEN], len: usize) -> usize {
    let padded = len.next_multiple_of(4);
    out[len..padded].fill(kind::END);
    padded
}

/// Writes this host's entry into the record route and timestamp options
/// `found` in `area` (RFC 791: each module that sends the datagram on
/// records itself; a router's too, `stack/forward.rs`, as Linux's
/// `ip_forward_options`).
pub(crate) fn register(
    area: &mut [u8],
    found: &Options,
    me: Registration,
    is_ours: impl Fn(Ipv4Addr) -> bool,
) {
    if let Some(at) = found.record_route {
        let at = usize::from(at);
        let len = usize::from(area[at + 1]);
        record_route(&mut area[at..at + len], me.address);
    }
    if let Some(at) = found.timestamp {
        let at = usize::from(at);
        let len = usize::from(area[at + 1]);
        register_timestamp(&mut area[at..at + len], me, is_ours);
    }
}

/// RFC 791 "Record Route": the address goes in the slot the pointer names,
/// and the pointer moves past it; a full route is left as it is.
fn record_route(option: &mut [u8], address: Ipv4Addr) {
    let pointer = usize::from(option[2]);
    if pointer + 3 <= option.len() {
        option[pointer - 1..pointer + 3].copy_from_slice(&address.octets());
        option[2] += 4;
    }
}

/// RFC 791 "Internet Timestamp": the entry by the option's flag, or one
/// more in the overflow count when there is no room.
fn register_timestamp(option: &mut [u8], me: Registration, is_ours: impl Fn(Ipv4Addr) -> bool) {
    let pointer = usize::from(option[2]);
    let flag = option[3] & 0x0F;
    if pointer + ts_slot(flag) - 1 > option.len() {
        // Full. `check_timestamp` refused an option whose count is full.
        let overflow = option[3] >> 4;
        if flag != ts_flag::PRESPECIFIED && overflow < TS_OVERFLOW_MAX {
            option[3] = ((overflow + 1) << 4) | flag;
        }
        return;
    }
    let slot = &mut option[pointer - 1..];
    match flag {
        ts_flag::ONLY => {
            slot[..4].copy_from_slice(&me.timestamp.to_be_bytes());
            option[2] += 4;
        }
        ts_flag::WITH_ADDRESS => {
            slot[..4].copy_from_slice(&me.address.octets());
            slot[4..8].copy_from_slice(&me.timestamp.to_be_bytes());
            option[2] += 8;
        }
        ts_flag::PRESPECIFIED => {
            let next = Ipv4Addr::new(slot[0], slot[1], slot[2], slot[3]);
            if is_ours(next) {
                slot[4..8].copy_from_slice(&me.timestamp.to_be_bytes());
                option[2] += 8;
            }
        }
        // An unknown flag: nothing this host knows how to write.
        _ => {}
    }
}

/// RFC 791 §3.1: an option whose kind has its high bit (the copied flag)
/// set goes into every fragment; the others into the first only.
const fn is_copied(kind: u8) -> bool {
    kind & 0x80 != 0
}

/// RFC 791 §3.2: the options of a fragment after the first, from the
/// datagram's (`area`): those copied into every fragment, padded to whole
/// words. Returns their length. A malformed area (never one this host
/// wrote) ends the walk where it goes wrong.
pub fn copied(area: &[u8], out: &mut [u8; MAX_LEN]) -> usize {
    let mut len = 0;
    let mut at = 0;
    while let Some(&kind) = area.get(at) {
        match kind {
            kind::END => break,
            kind::NOP => at += 1,
            _ => {
                let Some(option) = area
                    .get(at + 1)
                    .and_then(|&n| area.get(at..at + usize::from(n.max(2))))
                else {
                    break;
                };
                if is_copied(kind) && len + option.len() <= MAX_LEN {
                    out[len..len + option.len()].copy_from_slice(option);
                    len += option.len();
                }
                at += option.len();
            }
        }
    }
    pad(out, len)
}

/// Options an application gives its socket's datagrams (`IP_OPTIONS`;
/// RFC 1122 §3.2.1.8: "There MUST be a means for the transport layer to
/// specify IP options to be included in datagrams it sends"), checked and
/// padded to whole words once, when set. A source route is taken in the
/// form Linux takes it (`source_route`): its first hop becomes the
/// datagrams' IP destination, and the last slot their final destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOptions {
    area: [u8; MAX_LEN],
    len: u8,
    found: Options,
    /// A source route's first hop.
    first_hop: Option<Ipv4Addr>,
}

/// Why options were refused for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOptionsError {
    /// Longer than the 40 octets a header has room for.
    TooLong,
    /// Malformed: the octet in error, counted from the first option octet
    /// (a source route whose pointer is not 4 or that holds no whole hop
    /// too).
    Malformed { at: u8 },
}

impl core::fmt::Display for SendOptionsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendOptionsError::TooLong => f.write_str("longer than the 40 bytes a header holds"),
            SendOptionsError::Malformed { at } => write!(f, "malformed at byte {at}"),
        }
    }
}

impl SendOptions {
    /// Checks `options` as [`Options::parse`] checks a datagram's, less what
    /// this host does not send: timestamps with a flag RFC 791 does not
    /// define (as Linux refuses them to an unprivileged socket), and source
    /// routes not in the form an application writes them.
    pub fn new(options: &[u8]) -> Result<Self, SendOptionsError> {
        if options.len() > MAX_LEN {
            return Err(SendOptionsError::TooLong);
        }
        let mut area = [kind::END; MAX_LEN];
        area[..options.len()].copy_from_slice(options);
        let len = pad(&mut area, options.len());
        let at = |p: Problem| SendOptionsError::Malformed {
            at: p.pointer - HEADER_LEN as u8,
        };
        let found = Options::parse(&area[..len]).map_err(at)?;
        let first_hop = match found.source_route {
            Some(sr) => {
                let sr = usize::from(sr);
                let end = sr + usize::from(area[sr + 1]);
                let option = &mut area[sr..end];
                let hop = source_route::prepare_for_sending(option);
                Some(hop.ok_or(SendOptionsError::Malformed { at: sr as u8 + 2 })?)
            }
            None => None,
        };
        if let Some(ts) = found.timestamp {
            let ts = usize::from(ts);
            if !matches!(
                area[ts + 3] & 0x0F,
                ts_flag::ONLY | ts_flag::WITH_ADDRESS | ts_flag::PRESPECIFIED
            ) {
                return Err(SendOptionsError::Malformed { at: ts as u8 + 3 });
            }
        }
        Ok(SendOptions {
            area,
            len: len as u8,
            found,
            first_hop,
        })
    }

    /// A source route's first hop: the IP destination of the datagrams
    /// they go with.
    pub fn first_hop(&self) -> Option<Ipv4Addr> {
        self.first_hop
    }

    /// Whether they hold a strict source route (its first hop must be on
    /// the link).
    pub fn is_strict_route(&self) -> bool {
        self.found
            .source_route
            .is_some_and(|sr| self.area[usize::from(sr)] == kind::STRICT_SOURCE_ROUTE)
    }

    /// Their length in the header: whole words, at most 40.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Them as an application set them, into `out` (what `getsockopt`
    /// reads back: Linux's `ip_options_undo`), a source route's first hop
    /// back in its first slot. Returns their length.
    pub fn as_set(&self, out: &mut [u8; MAX_LEN]) -> usize {
        *out = self.area;
        if let (Some(sr), Some(first)) = (self.found.source_route, self.first_hop) {
            let sr = usize::from(sr);
            let option = &mut out[sr..sr + usize::from(self.area[sr + 1])];
            let len = option.len();
            option.copy_within(3..len - 4, 7);
            option[3..7].copy_from_slice(&first.octets());
        }
        self.len()
    }

    /// Writes them for one datagram to `dst` (its final destination) into
    /// `out` (exactly [`Self::len`] octets), this host registered in its
    /// record route and timestamp options as their first module and `dst`
    /// in a source route's last slot (Linux's `ip_options_build`).
    pub fn write(
        &self,
        me: Registration,
        is_ours: impl Fn(Ipv4Addr) -> bool,
        dst: Ipv4Addr,
        out: &mut [u8],
    ) {
        let out = &mut out[..self.len()];
        out.copy_from_slice(&self.area[..self.len()]);
        register(out, &self.found, me, is_ours);
        if let Some(sr) = self.found.source_route {
            let sr = usize::from(sr);
            let len = usize::from(out[sr + 1]);
            source_route::fill_destination(&mut out[sr..sr + len], dst);
        }
    }
}

/// A timestamp for the options from a time of day, in milliseconds since
/// midnight UT when the stack knows the time of day (`unix_millis`), else
/// from any clock with the high bit set, as RFC 791 allows ("a non-standard
/// value").
pub fn timestamp(unix_millis: Option<u64>, monotonic_millis: u64) -> u32 {
    const DAY_MILLIS: u64 = 24 * 60 * 60 * 1000;
    match unix_millis {
        Some(ms) => (ms % DAY_MILLIS) as u32,
        None => (monotonic_millis as u32) | 0x8000_0000,
    }
}

#[cfg(test)]
mod tests;
