//! Option negotiation at the handshake: MSS, window scale, SACK-permitted
//! and timestamps.
//!
//! Read first: RFC 9293 §3.7.1 (MSS; 536 when absent), RFC 6691 (MSS
//! excludes options), RFC 7323 §2.2-2.3 (window scale only if both SYNs carry
//! it; shifts above 14 are used as 14) and §3.2 (timestamps only if both
//! SYNs carry them), RFC 2018 §2 (SACK-permitted in both SYNs).
//!
//! What we offer comes from `Config` (Linux sysctl names). A SYN-ACK answering
//! a peer's SYN carries only what the peer offered, as Linux's does. In a
//! simultaneous open our SYN-ACK repeats our SYN's options (Linux resends its
//! SYN with ACK set).

use crate::config::Config;
use crate::tcp::ecn::EcnState;
use crate::wire::tcp::{TcpOptions, TcpTimestamp};

/// Bytes the timestamp option adds to every segment (`nop,nop,TS`).
pub const TIMESTAMP_OVERHEAD: u32 = 12;

/// RFC 9293 §3.7.1 (and RFC 1122 §4.2.2.6): the send MSS when the peer's
/// SYN has no MSS option.
pub const DEFAULT_PEER_MSS: u16 = 536;

/// RFC 7323 §2.3: shifts above this are used as this.
pub const MAX_WINDOW_SCALE: u8 = 14;

/// Options offered and agreed, in 12 bytes (room for more flags in `bits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// The MSS we advertise: the route's MTU - 40.
    pub adv_mss: u16,
    /// The window scale we offer; [`NO_WSCALE`]: window scaling is off.
    our_wscale: u8,
    /// The peer's window scale if both SYNs carried the option, else
    /// [`NO_WSCALE`].
    peer_wscale: u8,
    /// `OFFER_SACK`, `OFFER_TS`, `SIMULTANEOUS`, `WSCALE_CLAMPED`,
    /// `SACK_OK`, `TS_OK`, `MD5`, `TS_ONLY`.
    bits: u8,
    /// The peer's MSS option (536 if absent), at least `tcp_min_snd_mss`.
    pub peer_mss: u16,
    /// The path MTU, as lowered by ICMP "fragmentation needed" (RFC 1191);
    /// the route's interface MTU until then.
    path_mtu: u16,
    /// ECN (RFC 3168): asked for in our SYN, then agreed or not, and the
    /// data path's CWR/ECE flags; one byte (see [`crate::tcp::ecn`]).
    pub ecn: EcnState,
}

/// No window scale (shifts are at most 14).
const NO_WSCALE: u8 = u8::MAX;
/// Bits of [`Negotiated::bits`]: we offer SACK, timestamps; our SYN-ACK
/// repeats our SYN (simultaneous open).
const OFFER_SACK: u8 = 1 << 0;
const OFFER_TS: u8 = 1 << 1;
const SIMULTANEOUS: u8 = 1 << 2;
/// The peer sent a shift above 14 (RFC 7323 §2.3).
const WSCALE_CLAMPED: u8 = 1 << 3;
/// Both sides agreed on SACK (RFC 2018 §2).
const SACK_OK: u8 = 1 << 4;
/// Both sides agreed on timestamps (RFC 7323 §3.2).
const TS_OK: u8 = 1 << 5;
/// Every segment carries the MD5 signature option (RFC 2385; the stack
/// signs it: `stack::tcp_md5`).
const MD5: u8 = 1 << 6;
/// `TS_OK` without `MD5`: a segment without SACK blocks carries the
/// timestamp alone, which every segment asks (one bit test).
const TS_ONLY: u8 = 1 << 7;

impl Negotiated {
    /// What we offer, before hearing from the peer.
    pub fn ours(config: &Config) -> Self {
        let mut bits = 0;
        if config.tcp_sack {
            bits |= OFFER_SACK;
        }
        if config.tcp_timestamps {
            bits |= OFFER_TS;
        }
        Negotiated {
            adv_mss: config.advertised_mss(),
            our_wscale: if config.tcp_window_scaling {
                config.window_scale().min(NO_WSCALE - 1)
            } else {
                NO_WSCALE
            },
            peer_wscale: NO_WSCALE,
            bits,
            peer_mss: DEFAULT_PEER_MSS,
            path_mtu: u16::try_from(config.mtu).unwrap_or(u16::MAX),
            ecn: EcnState::for_active_open(config),
        }
    }

    fn our_wscale(&self) -> Option<u8> {
        (self.our_wscale != NO_WSCALE).then_some(self.our_wscale)
    }

    fn peer_wscale(&self) -> Option<u8> {
        (self.peer_wscale != NO_WSCALE).then_some(self.peer_wscale)
    }

    /// The peer sent a shift above 14 (RFC 7323 §2.3).
    #[cfg(test)]
    pub fn wscale_clamped(&self) -> bool {
        self.bits & WSCALE_CLAMPED != 0
    }

    /// Both sides agreed on SACK.
    pub fn sack_ok(&self) -> bool {
        self.bits & SACK_OK != 0
    }

    /// Both sides agreed on timestamps.
    pub fn ts_ok(&self) -> bool {
        self.bits & TS_OK != 0
    }

    /// Whether a segment without SACK blocks carries the timestamp alone
    /// (`nop, nop, TS`): timestamps agreed and no signature.
    #[inline]
    pub fn timestamp_only(&self) -> bool {
        self.bits & TS_ONLY != 0
    }

    /// Sets `TS_OK` and `TS_ONLY` with it.
    fn set_ts_ok(&mut self, on: bool) {
        self.set_bit(TS_OK, on);
        self.set_bit(TS_ONLY, on && !self.md5());
    }

    /// Every segment carries the MD5 signature option (RFC 2385).
    pub fn md5(&self) -> bool {
        self.bits & MD5 != 0
    }

    /// The connection signs its segments from now on (RFC 2385). Its SYN
    /// offers no timestamps, and its SYN-ACK none when SACK is agreed:
    /// beside the signature's 20 bytes, timestamps would leave no room
    /// for a SACK block (Linux's `tcp_syn_options` and
    /// `tcp_synack_options`). `keep_timestamps`: a SYN cookie's child,
    /// whose SYN-ACK is gone, keeps what it agreed.
    pub fn set_md5(&mut self, keep_timestamps: bool) {
        self.bits |= MD5;
        self.bits &= !OFFER_TS;
        let ts_ok = self.ts_ok() && (keep_timestamps || !self.sack_ok());
        self.set_ts_ok(ts_ok);
    }

    fn set_bit(&mut self, bit: u8, on: bool) {
        if on {
            self.bits |= bit;
        } else {
            self.bits &= !bit;
        }
    }

    fn offer_sack(&self) -> bool {
        self.bits & OFFER_SACK != 0
    }

    fn offer_ts(&self) -> bool {
        self.bits & OFFER_TS != 0
    }

    /// The options of our SYN: `<mss, sackOK, TS val ecr 0, nop, wscale>` in
    /// Linux's layout (the wire module orders them).
    pub fn syn_options(&self, tsval: u32) -> TcpOptions {
        TcpOptions {
            mss: Some(self.adv_mss),
            window_scale: self.our_wscale(),
            sack_permitted: self.offer_sack(),
            timestamp: self.offer_ts().then_some(TcpTimestamp { tsval, tsecr: 0 }),
            md5: self.md5(),
            ..TcpOptions::default()
        }
    }

    /// A route whose interface's MTU is not the configured one (the
    /// loopback's): the MSS we advertise follows it (RFC 9293 §3.7.1: "the
    /// MTU of the network interface ... minus 40"), and the path MTU starts
    /// there. Before [`Negotiated::clamp_mss`], which still bounds both.
    pub fn use_route_mtu(&mut self, mtu: u16) {
        self.adv_mss = mtu.saturating_sub(40);
        self.path_mtu = mtu;
    }

    /// TCP_MAXSEG (Linux `user_mss`, 0 if unset): advertise at most
    /// `mss`, and send no more than it whatever the peer allows. Called
    /// before the handshake and again once the peer's MSS is known (the
    /// value lives in the socket options, not here: a connection stays
    /// small).
    pub fn clamp_mss(&mut self, mss: u16) {
        if mss != 0 {
            self.adv_mss = self.adv_mss.min(mss);
            self.peer_mss = self.peer_mss.min(mss);
        }
    }

    /// Records what the peer's SYN or SYN-ACK says.
    fn take_peer(&mut self, peer: &TcpOptions, config: &Config) {
        let mss = peer.mss.unwrap_or(DEFAULT_PEER_MSS);
        self.peer_mss = mss.max(config.tcp_min_snd_mss).max(1);
        self.peer_wscale = match (self.our_wscale(), peer.window_scale) {
            (Some(_), Some(shift)) => {
                self.set_bit(WSCALE_CLAMPED, shift > MAX_WINDOW_SCALE);
                shift.min(MAX_WINDOW_SCALE)
            }
            _ => NO_WSCALE,
        };
        self.set_bit(SACK_OK, self.offer_sack() && peer.sack_permitted);
        self.set_ts_ok(self.offer_ts() && peer.timestamp.is_some());
    }

    /// A listener answers the peer's SYN.
    pub fn answer_syn(&mut self, peer: &TcpOptions, config: &Config) {
        self.take_peer(peer, config);
    }

    /// Our SYN crossed the peer's SYN (simultaneous open).
    pub fn on_simultaneous_syn(&mut self, peer: &TcpOptions, config: &Config) {
        self.take_peer(peer, config);
        self.bits |= SIMULTANEOUS;
    }

    /// The peer's SYN-ACK answered our SYN.
    pub fn on_syn_ack(&mut self, peer: &TcpOptions, config: &Config) {
        self.take_peer(peer, config);
    }

    /// The options of our SYN-ACK: only what the peer offered, in Linux's
    /// layout; in a simultaneous open, our SYN's options.
    pub fn syn_ack_options(&self, tsval: u32, tsecr: u32) -> TcpOptions {
        if self.bits & SIMULTANEOUS != 0 {
            let mut opts = self.syn_options(tsval);
            if let Some(ts) = &mut opts.timestamp {
                ts.tsecr = tsecr;
            }
            return opts;
        }
        TcpOptions {
            mss: Some(self.adv_mss),
            window_scale: self.peer_wscale().and(self.our_wscale()),
            sack_permitted: self.sack_ok(),
            timestamp: self.ts_ok().then_some(TcpTimestamp { tsval, tsecr }),
            md5: self.md5(),
            ..TcpOptions::default()
        }
    }

    /// TCP_WINDOW_CLAMP before our SYN or SYN-ACK: the shift we offer is
    /// no larger than a window of `clamp` bytes needs (Linux
    /// `tcp_select_initial_window`: `ilog2(min(space, window_clamp)) - 15`).
    pub fn limit_our_wscale(&mut self, clamp: u32) {
        let bits = u32::BITS - clamp.leading_zeros();
        let needed = bits.saturating_sub(16).min(u32::from(MAX_WINDOW_SCALE)) as u8;
        if self.our_wscale != NO_WSCALE {
            self.our_wscale = self.our_wscale.min(needed);
        }
    }

    /// The shift applied to windows we advertise (0 unless both sides agreed).
    pub fn rcv_wscale(&self) -> u8 {
        match self.peer_wscale() {
            Some(_) => self.our_wscale().unwrap_or(0),
            None => 0,
        }
    }

    /// The shift applied to the peer's windows.
    pub fn snd_wscale(&self) -> u8 {
        self.peer_wscale().unwrap_or(0)
    }

    /// The timestamp option's bytes on every segment. A signature's
    /// (RFC 2385) are the caller's, with IP options' (`send_mss`'s
    /// `extra`): kept in the connection's rarely set options, where the
    /// send MSS reads them anyway.
    pub fn option_overhead(&self) -> u32 {
        if self.ts_ok() { TIMESTAMP_OVERHEAD } else { 0 }
    }

    /// The effective send MSS (payload per segment): the smallest of the
    /// peer's MSS, ours and the path MTU's (RFC 1191 §3), minus per-segment
    /// options (RFC 6691), the `extra` bytes of IP options and the MD5
    /// signature among them (RFC 1122 §4.2.2.6: "min(SendMSS+20, MMS_S) -
    /// TCPhdrsize - IPoptionsize"; Linux `tcp_mtu_to_mss`, whose
    /// `tcp_established_options` counts the signature). With timestamps on
    /// a 1500-byte path: 1448.
    pub fn send_mss(&self, extra: u8) -> u32 {
        let path_mss = self.path_mtu.saturating_sub(40);
        let mss = u32::from(self.peer_mss.min(self.adv_mss).min(path_mss));
        mss.saturating_sub(self.option_overhead() + u32::from(extra))
            .max(1)
    }

    /// Bytes a segment adds to its payload: the IP and TCP headers and the
    /// options every segment carries, `extra` bytes of IP options and the
    /// signature among them (Linux `tcp_mss_to_mtu`).
    pub fn segment_headers(&self, extra: u8) -> u16 {
        40 + u16::from(extra) + self.option_overhead() as u16
    }

    /// The largest MTU the peer's MSS and ours allow on this path: where a
    /// path MTU search starts from above (Linux `search_high`, the MSS
    /// clamp plus headers, bounded by the path MTU). The MSS counts the
    /// options, IP's too (RFC 1122 §4.2.2.6), so they add nothing here.
    pub fn mtu_ceiling(&self) -> u16 {
        self.peer_mss
            .min(self.adv_mss)
            .saturating_add(40)
            .min(self.path_mtu)
    }

    /// The path MTU in use.
    pub fn path_mtu(&self) -> u16 {
        self.path_mtu
    }

    /// RFC 1191 §6.1: a smaller path MTU (validated and floored by the
    /// caller) shrinks the segments we send.
    pub fn set_path_mtu(&mut self, mtu: u16) {
        self.path_mtu = mtu;
    }

    /// The send MSS before the handshake tells us better (RFC 9293 §3.7.1).
    pub fn default_send_mss(&self) -> u32 {
        u32::from(DEFAULT_PEER_MSS)
    }

    /// Linux `tcp_initialize_rcv_mss`: assume 536-byte segments from the
    /// peer until a larger one arrives.
    pub fn initial_rcv_mss(&self) -> u32 {
        u32::from(self.adv_mss.min(DEFAULT_PEER_MSS))
    }
}

impl super::Core {
    /// The send MSS the negotiated options and the connection's IP
    /// options allow ([`Negotiated::send_mss`]).
    pub(super) fn send_mss(&self) -> u32 {
        self.neg.send_mss(self.socket.extra_header_len())
    }

    /// The headers a segment adds to its data, IP options included
    /// ([`Negotiated::segment_headers`]).
    pub(super) fn segment_headers(&self) -> u16 {
        self.neg.segment_headers(self.socket.extra_header_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(mss: Option<u16>, ws: Option<u8>, sack: bool, ts: bool) -> TcpOptions {
        TcpOptions {
            mss,
            window_scale: ws,
            sack_permitted: sack,
            timestamp: ts.then_some(TcpTimestamp {
                tsval: 700,
                tsecr: 0,
            }),
            ..TcpOptions::default()
        }
    }

    #[test]
    fn our_syn_offers_everything_the_config_enables() {
        let config = Config::default();
        let n = Negotiated::ours(&config);
        let o = n.syn_options(100);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.window_scale, Some(7));
        assert!(o.sack_permitted);
        assert_eq!(
            o.timestamp,
            Some(TcpTimestamp {
                tsval: 100,
                tsecr: 0
            })
        );
        let mut off = config.clone();
        off.tcp_timestamps = false;
        off.tcp_window_scaling = false;
        let o = Negotiated::ours(&off).syn_options(100);
        assert_eq!((o.timestamp, o.window_scale), (None, None));
    }

    #[test]
    fn syn_ack_echoes_only_what_the_peer_offered() {
        let config = Config::default();
        let mut n = Negotiated::ours(&config);
        n.answer_syn(&peer(Some(1000), None, true, false), &config);
        let o = n.syn_ack_options(5, 700);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.window_scale, None, "peer sent no wscale");
        assert!(o.sack_permitted);
        assert_eq!(o.timestamp, None, "peer sent no timestamps");
        assert_eq!((n.rcv_wscale(), n.snd_wscale()), (0, 0));
        assert_eq!(n.send_mss(0), 1000);
    }

    #[test]
    fn mss_defaults_to_536_and_is_clamped_to_48() {
        let config = Config::default();
        let mut n = Negotiated::ours(&config);
        n.answer_syn(&peer(None, None, false, false), &config);
        assert_eq!(n.send_mss(0), 536);
        n.answer_syn(&peer(Some(10), None, false, false), &config);
        assert_eq!(n.peer_mss, 48);
        assert_eq!(n.send_mss(0), 48);
    }

    #[test]
    fn timestamps_cost_twelve_bytes_per_segment() {
        let config = Config::default();
        let mut n = Negotiated::ours(&config);
        n.on_syn_ack(&peer(Some(1460), Some(7), true, true), &config);
        assert!(n.ts_ok() && n.sack_ok());
        assert_eq!(n.send_mss(0), 1448);
        assert_eq!((n.rcv_wscale(), n.snd_wscale()), (7, 7));
    }

    #[test]
    fn window_scale_above_14_is_used_as_14() {
        let config = Config::default();
        let mut n = Negotiated::ours(&config);
        n.on_syn_ack(&peer(Some(1460), Some(15), false, false), &config);
        assert_eq!(n.snd_wscale(), 14);
        assert!(n.wscale_clamped());
    }

    #[test]
    fn simultaneous_open_repeats_our_syn_options() {
        let config = Config::default();
        let mut n = Negotiated::ours(&config);
        n.on_simultaneous_syn(&peer(Some(1000), None, false, false), &config);
        let o = n.syn_ack_options(9, 700);
        assert_eq!(o.window_scale, Some(7));
        assert_eq!(
            o.timestamp,
            Some(TcpTimestamp {
                tsval: 9,
                tsecr: 700
            })
        );
        assert_eq!(n.rcv_wscale(), 0, "the peer did not scale: neither do we");
    }

    #[test]
    fn the_search_ceiling_is_the_smallest_mss_plus_headers_within_the_path() {
        let mut neg = Negotiated::ours(&Config::default());
        neg.peer_mss = 1460;
        assert_eq!((neg.mtu_ceiling(), neg.segment_headers(0)), (1500, 40));
        neg.peer_mss = 1400;
        assert_eq!(neg.mtu_ceiling(), 1440);
        neg.set_path_mtu(1280);
        assert_eq!(neg.mtu_ceiling(), 1280);
    }

    #[test]
    fn ip_options_take_their_room_from_every_segment() {
        let mut neg = Negotiated::ours(&Config::default());
        neg.peer_mss = 1460;
        assert_eq!(neg.send_mss(0), 1460);
        // A record route of 9 hops and its padding: 40 bytes.
        assert_eq!(neg.send_mss(40), 1420, "1500 - 20 - 40 - 20");
        assert_eq!((neg.segment_headers(40), neg.mtu_ceiling()), (80, 1500));
        // RFC 1122 §4.2.2.6: min(SendMSS + 20, MMS_S) - TCPhdrsize -
        // IPoptionsize.
        neg.peer_mss = 1000;
        assert_eq!(neg.send_mss(40), 960);
        assert_eq!(neg.mtu_ceiling(), 1040, "960 + 80: a full segment");
    }
}
