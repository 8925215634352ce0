//! SYN cookies: a listener under SYN flood answers without keeping state,
//! and rebuilds the connection from the ACK that completes the handshake.
//!
//! Read first: RFC 4987 §3.6 (SYN cookies), RFC 9293 §3.10.7.2 (the
//! LISTEN state), RFC 7323 §3.2 (timestamps, whose echo carries the
//! options here), Linux net/ipv4/syncookies.c (the scheme this follows).
//!
//! The SYN-ACK's ISN encodes a coarse clock, the peer's MSS (one of four
//! values) and a keyed hash of the connection, in the spirit of Linux's
//! layout (8-bit minute counter on top, 24 bits below) but with SipHash-2-4,
//! bound to the peer's ISN, checking the MSS index too:
//!
//! ```text
//! low    = (H2(tuple, peer_isn, tick, mss_index) & 0xFF_FFFC) | mss_index
//! cookie = H1(tuple, peer_isn) + (tick << 24 | low)                 (mod 2^32)
//! ```
//!
//! `tick` is minutes since the driver's zero (Linux's 60 s `tcp_cookie_time`),
//! of which the cookie carries the low 8 bits; H2 hashes the full tick, so a
//! cookie does not come back to life when the 8 bits wrap. Unlike Linux's
//! additive encoding, a cookie off by a few units does not decode to a
//! neighbouring MSS: every change of the cookie or the ISN fails the check.
//!
//! - **Age limit**: a cookie is accepted while the current tick is the one it
//!   was made in or the next (Linux MAX_SYNCOOKIE_AGE = 2): for at least
//!   60 s and less than 120 s.
//! - **Forgery**: for a given tuple, peer ISN and time, 8 of the 2^32 cookie
//!   values are accepted (2 ticks x 4 MSS indexes, 22 checked bits each), so
//!   a blind guess succeeds with probability 2^-29; the key is 128 bits.
//!
//! When the peer sent timestamps, the options a cookie cannot carry (window
//! scale, SACK-permitted, ECN) ride in the low 6 bits of the SYN-ACK's TSval
//! and come back in the ACK's TSecr (Linux `cookie_init_timestamp`):
//! bits 0-3 window scale (0xF = none), bit 4 SACK, bit 5 ECN.

use crate::siphash::SipKey;
use crate::tcp::seq::SeqNum;
use crate::time::Instant;
use core::hash::Hasher;
use core::net::SocketAddrV4;

/// The MSS values a cookie can carry (Linux `msstab`).
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// Length of one tick of the cookie clock, in microseconds: one minute.
pub const COOKIE_TICK_MICROS: u64 = 60_000_000;

/// A cookie is accepted while `current tick - its tick < MAX_AGE_TICKS`.
pub const MAX_AGE_TICKS: u32 = 2;

const COUNTER_SHIFT: u32 = 24;
/// The MSS index: the low 2 bits.
const INDEX_MASK: u32 = 0b11;
/// The hash check: the 22 bits between the index and the counter.
const CHECK_MASK: u32 = ((1 << COUNTER_SHIFT) - 1) & !INDEX_MASK;
const DOMAIN_BASE: u8 = 1;
const DOMAIN_CHECK: u8 = 2;

/// Options recovered from a timestamp-encoded cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CookieOptions {
    /// The peer's window scale shift (RFC 7323 §2.3), if it sent one.
    pub wscale: Option<u8>,
    /// The peer sent SACK-permitted (RFC 2018 §2).
    pub sack: bool,
    /// The peer asked for ECN (RFC 3168 §6.1.1).
    pub ecn: bool,
}

impl CookieOptions {
    /// What a cookie ACK without timestamps gets: no scaling, no SACK, no ECN.
    pub const NONE: CookieOptions = CookieOptions {
        wscale: None,
        sack: false,
        ecn: false,
    };
}

const TS_WSCALE_MASK: u32 = 0xF;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;
const TS_OPTION_BITS: u32 = 6;

/// Stateless SYN-ACK sequence numbers under one secret key.
#[derive(Clone, Debug)]
pub struct SynCookies {
    key: SipKey,
}

impl SynCookies {
    /// Cookies under `key` (the stack draws it from its RNG).
    pub const fn new(key: SipKey) -> Self {
        SynCookies { key }
    }

    /// The index in [`MSS_TABLE`] of the largest value not above `peer_mss`.
    /// Below 536 this is still 0 (536), as in Linux.
    pub fn mss_index(peer_mss: u16) -> u8 {
        MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u8
    }

    /// The ISN of a cookie SYN-ACK from `local` to `remote`, answering a SYN
    /// whose sequence number was `peer_isn`. `mss_index` (from
    /// [`SynCookies::mss_index`]) is clamped to 3.
    pub fn encode(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: SeqNum,
        mss_index: u8,
    ) -> SeqNum {
        let tick = tick(now);
        let index = mss_index.min(3);
        let low =
            (self.check(local, remote, peer_isn, tick, index) & CHECK_MASK) | u32::from(index);
        let base = self.base(local, remote, peer_isn);
        SeqNum(base.wrapping_add((tick << COUNTER_SHIFT) | low))
    }

    /// Checks the cookie in an ACK from `remote` to `local`: `peer_isn` is
    /// the ACK's SEG.SEQ - 1 and `cookie` its SEG.ACK - 1. Returns the MSS
    /// the cookie carries, or `None` if it is forged or too old.
    pub fn decode(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: SeqNum,
        cookie: SeqNum,
    ) -> Option<u16> {
        let now_tick = tick(now);
        let value = cookie
            .raw()
            .wrapping_sub(self.base(local, remote, peer_isn));
        let age = now_tick.wrapping_sub(value >> COUNTER_SHIFT) & 0xFF;
        if age >= MAX_AGE_TICKS {
            return None;
        }
        let made_in = now_tick.wrapping_sub(age);
        let index = (value & INDEX_MASK) as u8;
        let expected = self.check(local, remote, peer_isn, made_in, index) & CHECK_MASK;
        if value & CHECK_MASK != expected {
            return None;
        }
        Some(MSS_TABLE[usize::from(index)])
    }

    /// The TSval for a cookie SYN-ACK when the SYN carried timestamps:
    /// `ts_now` with its low 6 bits replaced by the options, moved back by
    /// 64 if that would put it after `ts_now` (so TSval never runs ahead of
    /// the clock). A window scale above 14 is sent as 14 (RFC 7323 §2.3).
    pub fn encode_ts_options(ts_now: u32, wscale: Option<u8>, sack: bool, ecn: bool) -> u32 {
        let mut options = wscale.map_or(TS_WSCALE_MASK, |w| u32::from(w.min(14)));
        if sack {
            options |= TS_SACK;
        }
        if ecn {
            options |= TS_ECN;
        }
        let ts = (ts_now & !((1 << TS_OPTION_BITS) - 1)) | options;
        if ts > ts_now {
            ts.wrapping_sub(1 << TS_OPTION_BITS)
        } else {
            ts
        }
    }

    /// The options encoded by [`SynCookies::encode_ts_options`], from the
    /// TSecr of the ACK that completes the handshake. Every 6-bit value is a
    /// valid encoding, so this cannot fail; an ACK without timestamps gets
    /// [`CookieOptions::NONE`].
    pub fn decode_ts_options(tsecr: u32) -> CookieOptions {
        let wscale = tsecr & TS_WSCALE_MASK;
        CookieOptions {
            wscale: (wscale != TS_WSCALE_MASK).then_some(wscale as u8),
            sack: tsecr & TS_SACK != 0,
            ecn: tsecr & TS_ECN != 0,
        }
    }

    /// H1: hides the counter and check bits under a per-connection offset.
    fn base(&self, local: SocketAddrV4, remote: SocketAddrV4, peer_isn: SeqNum) -> u32 {
        self.hasher(DOMAIN_BASE, local, remote, peer_isn).finish() as u32
    }

    /// H2: binds the tick and the MSS index to the connection.
    fn check(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: SeqNum,
        tick: u32,
        mss_index: u8,
    ) -> u32 {
        let mut h = self.hasher(DOMAIN_CHECK, local, remote, peer_isn);
        h.write(&tick.to_be_bytes());
        h.write(&[mss_index]);
        h.finish() as u32
    }

    fn hasher(
        &self,
        domain: u8,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: SeqNum,
    ) -> impl Hasher {
        let mut h = self.key.hasher();
        h.write(&[domain]);
        h.write(&local.ip().octets());
        h.write(&local.port().to_be_bytes());
        h.write(&remote.ip().octets());
        h.write(&remote.port().to_be_bytes());
        h.write(&peer_isn.raw().to_be_bytes());
        h
    }
}

/// The cookie clock: minutes since the driver's zero (wraps after 8,000 years).
fn tick(now: Instant) -> u32 {
    (now.total_micros() / COOKIE_TICK_MICROS) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::time::Duration;
    use core::net::Ipv4Addr;

    const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80);
    const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 51000);

    fn cookies() -> SynCookies {
        SynCookies::new(SipKey(*b"synack-cookie-k!"))
    }

    #[test]
    fn mss_index_picks_the_largest_entry_not_above_the_peer_mss() {
        let cases = [
            (9000, 3),
            (1460, 3),
            (1459, 2),
            (1440, 2),
            (1439, 1),
            (1300, 1),
            (1299, 0),
            (536, 0),
            (100, 0),
        ];
        for (mss, index) in cases {
            assert_eq!(SynCookies::mss_index(mss), index, "mss {mss}");
        }
    }

    #[test]
    fn every_mss_round_trips() {
        let c = cookies();
        let mut rng = Rng::from_seed(4987);
        for _ in 0..1000 {
            let isn = SeqNum(rng.u32());
            let now = Instant::from_micros(rng.below(1 << 50));
            for (index, &mss) in MSS_TABLE.iter().enumerate() {
                let cookie = c.encode(now, LOCAL, REMOTE, isn, index as u8);
                assert_eq!(c.decode(now, LOCAL, REMOTE, isn, cookie), Some(mss));
                let later = now + Duration::from_secs(59);
                assert_eq!(c.decode(later, LOCAL, REMOTE, isn, cookie), Some(mss));
            }
        }
        // Out-of-range indexes are clamped.
        let cookie = c.encode(Instant::ZERO, LOCAL, REMOTE, SeqNum(1), 200);
        assert_eq!(
            c.decode(Instant::ZERO, LOCAL, REMOTE, SeqNum(1), cookie),
            Some(1460)
        );
    }

    #[test]
    fn cookies_expire_after_the_next_tick() {
        let c = cookies();
        let isn = SeqNum(12345);
        // Made at the very start of a tick: valid for 120 s minus a microsecond.
        let start = Instant::from_secs(600);
        let cookie = c.encode(start, LOCAL, REMOTE, isn, 2);
        let last_ok = start + Duration::from_micros(2 * COOKIE_TICK_MICROS - 1);
        assert_eq!(c.decode(last_ok, LOCAL, REMOTE, isn, cookie), Some(1440));
        let expired = start + Duration::from_secs(120);
        assert_eq!(c.decode(expired, LOCAL, REMOTE, isn, cookie), None);
        // Made at the very end of a tick: still valid 60 s later, not after.
        let end = Instant::from_micros(11 * COOKIE_TICK_MICROS - 1);
        let cookie = c.encode(end, LOCAL, REMOTE, isn, 2);
        let a_minute_later = end + Duration::from_secs(60);
        assert_eq!(
            c.decode(a_minute_later, LOCAL, REMOTE, isn, cookie),
            Some(1440)
        );
        let past = end + Duration::from_micros(COOKIE_TICK_MICROS + 1);
        assert_eq!(c.decode(past, LOCAL, REMOTE, isn, cookie), None);
        // Not before it was made either (the clock never goes back, but a
        // cookie from the future must not be accepted).
        let cookie = c.encode(Instant::from_secs(3600), LOCAL, REMOTE, isn, 2);
        assert_eq!(
            c.decode(Instant::from_secs(3500), LOCAL, REMOTE, isn, cookie),
            None
        );
    }

    #[test]
    fn a_cookie_does_not_revive_when_the_counter_wraps() {
        let c = cookies();
        let isn = SeqNum(777);
        let made = Instant::from_secs(0);
        let cookie = c.encode(made, LOCAL, REMOTE, isn, 1);
        // 256 ticks later the 8-bit counter matches again, the hash does not.
        let wrapped = made + Duration::from_micros(256 * COOKIE_TICK_MICROS);
        assert_eq!(c.decode(wrapped, LOCAL, REMOTE, isn, cookie), None);
    }

    #[test]
    fn changing_any_field_invalidates_the_cookie() {
        let c = cookies();
        let now = Instant::from_secs(1_000);
        let isn = SeqNum(0x1234_5678);
        let cookie = c.encode(now, LOCAL, REMOTE, isn, 3);
        assert_eq!(c.decode(now, LOCAL, REMOTE, isn, cookie), Some(1460));
        let l = |ip: [u8; 4], port| SocketAddrV4::new(Ipv4Addr::from(ip), port);
        for delta in 1..=4u8 {
            let d = u16::from(delta);
            let variants = [
                (l([192, 0, 2, 1 + delta], 80), REMOTE, isn, cookie),
                (l([192, 0, 2, 1], 80 + d), REMOTE, isn, cookie),
                (LOCAL, l([203, 0, 113, 9 + delta], 51000), isn, cookie),
                (LOCAL, l([203, 0, 113, 9], 51000 - d), isn, cookie),
                (REMOTE, LOCAL, isn, cookie),
                (LOCAL, REMOTE, isn + u32::from(delta), cookie),
                (LOCAL, REMOTE, isn - u32::from(delta), cookie),
                (LOCAL, REMOTE, isn, cookie + u32::from(delta)),
                (LOCAL, REMOTE, isn, cookie - u32::from(delta)),
            ];
            for (i, (local, remote, isn, cookie)) in variants.into_iter().enumerate() {
                assert_eq!(
                    c.decode(now, local, remote, isn, cookie),
                    None,
                    "variant {i}, delta {delta}"
                );
            }
        }
        // Another key does not accept it either.
        let other = SynCookies::new(SipKey([0x55; 16]));
        assert_eq!(other.decode(now, LOCAL, REMOTE, isn, cookie), None);
    }

    #[test]
    fn a_million_forged_cookies_are_rejected() {
        let c = cookies();
        let now = Instant::from_secs(86_400);
        let mut rng = Rng::from_seed(29);
        let accepted = (0..1_000_000)
            .filter(|_| {
                let isn = SeqNum(rng.u32());
                let cookie = SeqNum(rng.u32());
                c.decode(now, LOCAL, REMOTE, isn, cookie).is_some()
            })
            .count();
        // Expected 10^6 x 2^-29 = 0.002 acceptances.
        assert_eq!(accepted, 0);
    }

    #[test]
    fn every_option_combination_round_trips_through_tsval() {
        let mut rng = Rng::from_seed(7323);
        let wscales = (0..=14).map(Some).chain([None]);
        for wscale in wscales {
            for sack in [false, true] {
                for ecn in [false, true] {
                    for _ in 0..50 {
                        let ts_now = rng.u32();
                        let tsval = SynCookies::encode_ts_options(ts_now, wscale, sack, ecn);
                        // Never ahead of the clock, at most 63 behind (modulo 2^32).
                        assert!(ts_now.wrapping_sub(tsval) < 64, "{ts_now} -> {tsval}");
                        let got = SynCookies::decode_ts_options(tsval);
                        assert_eq!(got, CookieOptions { wscale, sack, ecn });
                    }
                }
            }
        }
    }

    #[test]
    fn ts_options_use_linux_bit_layout() {
        // ts_now = 0x1000_0040: low 6 bits are 0, so options 0x3F would be
        // ahead of the clock: step back 64 to 0x1000_003F.
        assert_eq!(
            SynCookies::encode_ts_options(0x1000_0040, None, true, true),
            0x1000_003F
        );
        // wscale 7, SACK: 0b01_0111 = 0x17 under 0x1000_0040 | 0x3F.
        assert_eq!(
            SynCookies::encode_ts_options(0x1000_007F, Some(7), true, false),
            0x1000_0057
        );
        // Window scale above 14 is sent as 14.
        let ts = SynCookies::encode_ts_options(1_000_000, Some(15), false, false);
        assert_eq!(SynCookies::decode_ts_options(ts).wscale, Some(14));
        // Wraps backwards below zero like TSval does.
        assert_eq!(
            SynCookies::encode_ts_options(5, Some(9), false, false),
            0xFFFF_FFC9
        );
        assert_eq!(
            SynCookies::decode_ts_options(0),
            CookieOptions {
                wscale: Some(0),
                sack: false,
                ecn: false
            }
        );
    }
}
