//! Explicit Congestion Notification in TCP (RFC 3168): the IP codepoint,
//! negotiation at the handshake, and the per-connection flags of the data
//! path, in one byte.
//!
//! Read first: RFC 3168 §5 (the ECN field), §6.1.1 (ECN-setup SYN and
//! SYN-ACK), §6.1.2 (the sender's response to ECE), §6.1.3 (the receiver:
//! ECE until CWR), §6.1.4-§6.1.5 (what is never ECT: pure ACKs,
//! retransmissions, SYNs). Linux's `tcp_ecn_*` helpers follow the same
//! rules; where Linux adds one (an ECT-marked SYN gets no ECN, a
//! retransmitted SYN drops ECE/CWR) it is noted next to the code.
//!
//! `tcp_ecn` (Linux's sysctl): 0 off; 1 request on outgoing connections
//! and accept on incoming; 2 accept on incoming only (the default, as
//! Linux's). Linux's Accurate ECN values (3-5) are taken as 2 (synack has
//! no AccECN): accept classic ECN, never request it.
//!
//! The congestion response itself (a window reduction without
//! retransmission, the CWR state) lives in loss recovery
//! ([`crate::tcp::recovery`]); this module decides the bits.

use crate::config::Config;
use crate::wire::tcp::TcpFlags;

/// The ECN field of an IP header (RFC 3168 §5), the low two bits of the
/// TOS byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// 00: not ECN-capable.
    #[default]
    NotEct,
    /// 01: ECN-capable transport, ECT(1).
    Ect1,
    /// 10: ECN-capable transport, ECT(0) (what TCP sends, §6.1.2).
    Ect0,
    /// 11: congestion experienced.
    Ce,
}

impl Ecn {
    /// The codepoint in a TOS / traffic-class byte.
    pub const fn from_tos(tos: u8) -> Ecn {
        match tos & 0b11 {
            0b00 => Ecn::NotEct,
            0b01 => Ecn::Ect1,
            0b10 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }

    /// The two bits.
    pub const fn bits(self) -> u8 {
        match self {
            Ecn::NotEct => 0b00,
            Ecn::Ect1 => 0b01,
            Ecn::Ect0 => 0b10,
            Ecn::Ce => 0b11,
        }
    }

    /// Anything but Not-ECT (a CE mark implies the sender was ECT).
    pub const fn is_ect(self) -> bool {
        !matches!(self, Ecn::NotEct)
    }
}

/// Whether the configuration asks for ECN on our own SYNs (`tcp_ecn` = 1).
pub fn requests(config: &Config) -> bool {
    config.tcp_ecn == 1
}

/// Whether the configuration accepts an ECN-setup SYN (`tcp_ecn` > 0).
pub fn accepts(config: &Config) -> bool {
    config.tcp_ecn > 0
}

/// RFC 3168 §6.1.1: "An ECN-setup SYN packet is a SYN packet with the ECE
/// and CWR flags set."
pub fn is_setup_syn(flags: TcpFlags) -> bool {
    flags.syn() && flags.contains(TcpFlags::ECE | TcpFlags::CWR)
}

/// A listener's answer to a SYN: ECN for the connection iff the SYN is
/// ECN-setup and we accept ECN. As Linux (`tcp_ecn_create_request`), a SYN
/// that is itself ECT or CE gets no ECN: §6.1.1 says a host "MUST NOT set
/// ECT on SYN", so a marked SYN means a path that plays with the ECN bits,
/// and ECN over it would only produce false congestion signals.
pub fn accept_syn(config: &Config, flags: TcpFlags, ip: Ecn) -> bool {
    is_setup_syn(flags) && accepts(config) && !ip.is_ect()
}

/// Per-connection ECN state, one byte (DESIGN.md §4: a connection stays
/// small).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EcnState(u8);

impl EcnState {
    /// ECN is on: requested in our SYN (SYN-SENT) or agreed (Linux
    /// `TCP_ECN_OK`).
    const OK: u8 = 1;
    /// The sender reduced its window: CWR on the next new data segment
    /// (Linux `TCP_ECN_QUEUE_CWR`).
    const QUEUE_CWR: u8 = 2;
    /// The receiver saw CE: ECE on every segment until a CWR arrives
    /// (Linux `TCP_ECN_DEMAND_CWR`).
    const DEMAND_CWR: u8 = 4;
    /// The peer sent ECT or CE data (Linux `TCP_ECN_SEEN`, `tcpi_options`'
    /// `TCPI_OPT_ECN_SEEN`).
    const SEEN: u8 = 8;

    /// No ECN.
    pub const OFF: EcnState = EcnState(0);

    /// Before an active open: whether our SYN will ask for ECN.
    pub fn for_active_open(config: &Config) -> Self {
        if requests(config) {
            EcnState(Self::OK)
        } else {
            Self::OFF
        }
    }

    /// A passive open that agreed to ECN (see [`accept_syn`]).
    pub fn agreed(on: bool) -> Self {
        if on { EcnState(Self::OK) } else { Self::OFF }
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }

    /// ECN is on for this connection (after the handshake: negotiated).
    pub fn is_ok(self) -> bool {
        self.has(Self::OK)
    }

    /// The peer has sent ECT or CE data.
    pub fn seen(self) -> bool {
        self.has(Self::SEEN)
    }

    /// The receiver echoes ECE now.
    pub fn demands_cwr(self) -> bool {
        self.has(Self::DEMAND_CWR)
    }

    /// The sender owes a CWR.
    pub fn cwr_queued(self) -> bool {
        self.has(Self::QUEUE_CWR)
    }

    /// The flags of our SYN. §6.1.1: an ECN-setup SYN has ECE and CWR. A
    /// retransmitted SYN goes without them (§6.1.1.1 allows falling back
    /// after a lost SYN; Linux `tcp_ecn_clear_syn` with
    /// `tcp_ecn_fallback`): a middlebox that drops ECN-setup SYNs then
    /// costs one timeout, not the connection. The SYN-ACK decides.
    pub fn syn_flags(self, retransmission: bool) -> TcpFlags {
        if self.is_ok() && !retransmission {
            TcpFlags::ECE | TcpFlags::CWR
        } else {
            TcpFlags::empty()
        }
    }

    /// The flags of our SYN-ACK. §6.1.1: "an ECN-setup SYN-ACK packet ...
    /// with the ECE flag set but the CWR flag not set" — only in answer to
    /// an ECN-setup SYN ("MUST NOT set ECE ... in response to a non-ECN-setup
    /// SYN").
    pub fn syn_ack_flags(self) -> TcpFlags {
        if self.is_ok() {
            TcpFlags::ECE
        } else {
            TcpFlags::empty()
        }
    }

    /// Our ECN-setup SYN was answered (SYN-SENT). §6.1.1: ECN is on iff the
    /// SYN-ACK is ECN-setup: ECE without CWR (a SYN-ACK with both is a
    /// reflector echoing our flags, RFC 3168 §6.1.1's "broken" case, as
    /// Linux's `tcp_ecn_rcv_synack`).
    pub fn on_syn_ack(&mut self, flags: TcpFlags) {
        let setup = flags.contains(TcpFlags::ECE) && !flags.contains(TcpFlags::CWR);
        if !setup {
            *self = Self::OFF;
        }
    }

    /// Our SYN crossed the peer's SYN (simultaneous open): ECN iff both
    /// SYNs were ECN-setup (Linux `tcp_ecn_rcv_syn`).
    pub fn on_simultaneous_syn(&mut self, flags: TcpFlags) {
        if !is_setup_syn(flags) {
            *self = Self::OFF;
        }
    }

    /// A segment that passed the sequence checks arrived with `flags`,
    /// IP codepoint `ip` and `has_data`. Returns whether to ACK at once.
    ///
    /// §6.1.3: "the TCP receiver sets the ECE flag in ... subsequent ACK
    /// packets" after "a CE packet", until "it receives a CWR packet". CWR
    /// is taken first, so a segment with both CWR and CE starts a new
    /// echo. Only data counts for CE (Linux `tcp_ecn_check_ce` runs on data;
    /// §6.1.4: pure ACKs are never ECT, so a marked one is not ours to
    /// judge). A CE mark is ACKed at once, as Linux's quick-ACK: the sender
    /// may have a window of one segment.
    pub fn on_segment(&mut self, flags: TcpFlags, ip: Ecn, has_data: bool) -> bool {
        if !self.is_ok() || flags.syn() {
            return false;
        }
        let mut ack_now = false;
        if flags.contains(TcpFlags::CWR) {
            self.set(Self::DEMAND_CWR, false);
            // Linux: the sender's window may now be one segment; ACK it.
            ack_now = has_data;
        }
        if has_data {
            match ip {
                Ecn::Ce => {
                    if !self.demands_cwr() {
                        self.set(Self::DEMAND_CWR, true);
                        ack_now = true;
                    }
                    self.set(Self::SEEN, true);
                }
                Ecn::Ect0 | Ecn::Ect1 => self.set(Self::SEEN, true),
                Ecn::NotEct => {}
            }
        }
        ack_now
    }

    /// Whether an arriving ACK echoes congestion: ECE on a non-SYN segment
    /// of an ECN connection (§6.1.2; an ECE anywhere else means nothing,
    /// Linux `tcp_ecn_rcv_ecn_echo`).
    pub fn echoed(self, flags: TcpFlags) -> bool {
        self.is_ok() && flags.contains(TcpFlags::ECE) && !flags.syn()
    }

    /// The window was reduced (ECE, a loss or a timeout): §6.1.2 "the TCP
    /// sender SHOULD set the CWR flag in the TCP header of the first new
    /// data packet sent after the window reduction".
    pub fn queue_cwr(&mut self) {
        if self.is_ok() {
            self.set(Self::QUEUE_CWR, true);
        }
    }

    /// The flags and IP codepoint of an outgoing non-SYN segment. `new_data`:
    /// it carries payload never sent before. §6.1.2: ECT(0) on new data
    /// only — §6.1.5 "MUST NOT set ECT on retransmitted data packets",
    /// §6.1.4 pure ACKs are not ECT (nor are probes, FIN-only segments or
    /// RSTs: no payload). CWR rides on the first new data after a
    /// reduction; ECE on every segment while the receiver demands CWR.
    pub fn on_send(&mut self, new_data: bool) -> (TcpFlags, Ecn) {
        if !self.is_ok() {
            return (TcpFlags::empty(), Ecn::NotEct);
        }
        let mut flags = TcpFlags::empty();
        if self.demands_cwr() {
            flags |= TcpFlags::ECE;
        }
        if !new_data {
            return (flags, Ecn::NotEct);
        }
        if self.cwr_queued() {
            self.set(Self::QUEUE_CWR, false);
            flags |= TcpFlags::CWR;
        }
        (flags, Ecn::Ect0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEW: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ECE.0 | TcpFlags::CWR.0);

    fn config(tcp_ecn: u8) -> Config {
        Config {
            tcp_ecn,
            ..Config::default()
        }
    }

    fn agreed() -> EcnState {
        EcnState::agreed(true)
    }

    #[test]
    fn codepoints_round_trip_through_the_tos_byte() {
        for (tos, ecn) in [
            (0x00, Ecn::NotEct),
            (0x01, Ecn::Ect1),
            (0x02, Ecn::Ect0),
            (0x03, Ecn::Ce),
            (0xB8 | 0x03, Ecn::Ce), // DSCP EF bits do not matter
        ] {
            assert_eq!(Ecn::from_tos(tos), ecn);
            assert_eq!(ecn.bits(), tos & 3);
        }
        assert!(!Ecn::NotEct.is_ect() && Ecn::Ce.is_ect() && Ecn::Ect1.is_ect());
    }

    #[test]
    fn only_tcp_ecn_1_requests_and_any_nonzero_accepts() {
        // Linux: 0 off, 1 request and accept, 2 accept only (the default).
        assert_eq!(Config::default().tcp_ecn, 2);
        assert!(!requests(&config(0)) && !accepts(&config(0)));
        assert!(requests(&config(1)) && accepts(&config(1)));
        assert!(!requests(&config(2)) && accepts(&config(2)));
        assert_eq!(
            EcnState::for_active_open(&config(1)).syn_flags(false),
            TcpFlags::ECE | TcpFlags::CWR
        );
        assert!(
            EcnState::for_active_open(&config(2))
                .syn_flags(false)
                .is_empty()
        );
    }

    #[test]
    fn a_retransmitted_syn_is_not_ecn_setup() {
        // §6.1.1.1: a host MAY fall back after a lost ECN-setup SYN.
        let s = EcnState::for_active_open(&config(1));
        assert!(s.syn_flags(true).is_empty());
    }

    #[test]
    fn a_listener_accepts_only_an_ecn_setup_not_ect_syn() {
        // §6.1.1: "ECN-setup SYN packet ... with the ECE and CWR flags set".
        let c = config(2);
        assert!(accept_syn(&c, SEW, Ecn::NotEct));
        assert!(!accept_syn(&c, TcpFlags::SYN | TcpFlags::ECE, Ecn::NotEct));
        assert!(!accept_syn(&c, TcpFlags::SYN | TcpFlags::CWR, Ecn::NotEct));
        assert!(!accept_syn(&c, TcpFlags::SYN, Ecn::NotEct));
        assert!(!accept_syn(&config(0), SEW, Ecn::NotEct), "ECN off");
        // "MUST NOT set ECT on SYN": a marked SYN gets no ECN (as Linux).
        for ip in [Ecn::Ect0, Ecn::Ect1, Ecn::Ce] {
            assert!(!accept_syn(&c, SEW, ip), "{ip:?}");
        }
        // The SYN-ACK: ECE without CWR, and nothing for a plain SYN.
        assert_eq!(agreed().syn_ack_flags(), TcpFlags::ECE);
        assert!(EcnState::OFF.syn_ack_flags().is_empty());
    }

    #[test]
    fn the_syn_ack_must_have_ece_and_not_cwr() {
        // §6.1.1: ECE set, CWR not set.
        let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
        for (flags, ok) in [
            (syn_ack | TcpFlags::ECE, true),
            (syn_ack, false),
            (syn_ack | TcpFlags::ECE | TcpFlags::CWR, false),
            (syn_ack | TcpFlags::CWR, false),
        ] {
            let mut s = agreed();
            s.on_syn_ack(flags);
            assert_eq!(s.is_ok(), ok, "{flags}");
        }
        // An ECE SYN-ACK to a SYN that did not ask stays off.
        let mut off = EcnState::OFF;
        off.on_syn_ack(syn_ack | TcpFlags::ECE);
        assert!(!off.is_ok());
    }

    #[test]
    fn simultaneous_open_needs_both_syns_ecn_setup() {
        let mut s = agreed();
        s.on_simultaneous_syn(SEW);
        assert!(s.is_ok());
        let mut s = agreed();
        s.on_simultaneous_syn(TcpFlags::SYN | TcpFlags::ECE);
        assert!(!s.is_ok());
    }

    #[test]
    fn ce_on_data_echoes_ece_until_cwr_and_acks_at_once() {
        // §6.1.3: ECE "in ... subsequent ACK packets" until a CWR packet.
        let ack = TcpFlags::ACK;
        let mut s = agreed();
        assert!(!s.on_segment(ack, Ecn::Ect0, true));
        assert!(!s.demands_cwr() && s.seen());
        assert!(s.on_segment(ack, Ecn::Ce, true), "CE: ACK at once");
        assert!(s.demands_cwr());
        // Every segment we send echoes it, pure ACKs included.
        assert_eq!(s.on_send(false).0, TcpFlags::ECE);
        assert_eq!(s.on_send(true).0, TcpFlags::ECE);
        // A second CE while echoing is no news: no extra quick ACK.
        assert!(!s.on_segment(ack, Ecn::Ce, true));
        assert!(!s.on_segment(ack, Ecn::Ect0, true));
        assert!(s.demands_cwr());
        // CWR ends the echo (and, with data, is ACKed at once).
        assert!(s.on_segment(ack | TcpFlags::CWR, Ecn::Ect0, true));
        assert!(!s.demands_cwr());
        assert!(s.on_send(false).0.is_empty());
    }

    #[test]
    fn cwr_with_ce_in_one_segment_starts_a_new_echo() {
        let mut s = agreed();
        s.on_segment(TcpFlags::ACK, Ecn::Ce, true);
        s.on_segment(TcpFlags::ACK | TcpFlags::CWR, Ecn::Ce, true);
        assert!(s.demands_cwr());
    }

    #[test]
    fn ce_on_a_pure_ack_is_ignored() {
        // §6.1.4: pure ACKs are never ECT; only data is judged.
        let mut s = agreed();
        assert!(!s.on_segment(TcpFlags::ACK, Ecn::Ce, false));
        assert!(!s.demands_cwr() && !s.seen());
    }

    #[test]
    fn a_connection_without_ecn_ignores_every_ecn_bit() {
        // Hostile: CE, ECE and CWR storms on a connection that did not
        // negotiate ECN change nothing and send nothing.
        let mut s = EcnState::OFF;
        for flags in [TcpFlags::ECE, TcpFlags::CWR, TcpFlags::ECE | TcpFlags::CWR] {
            for ip in [Ecn::NotEct, Ecn::Ect0, Ecn::Ect1, Ecn::Ce] {
                assert!(!s.on_segment(TcpFlags::ACK | flags, ip, true));
                assert!(!s.echoed(TcpFlags::ACK | flags));
            }
        }
        s.queue_cwr();
        assert_eq!(s.on_send(true), (TcpFlags::empty(), Ecn::NotEct));
        assert_eq!(s, EcnState::OFF);
    }

    #[test]
    fn a_cwr_storm_only_clears_the_echo() {
        let mut s = agreed();
        for _ in 0..1000 {
            s.on_segment(TcpFlags::ACK | TcpFlags::CWR, Ecn::NotEct, false);
        }
        assert!(s.is_ok() && !s.demands_cwr());
        assert!(s.on_send(false).0.is_empty());
    }

    #[test]
    fn ece_counts_only_on_non_syn_segments_of_an_ecn_connection() {
        let s = agreed();
        assert!(s.echoed(TcpFlags::ACK | TcpFlags::ECE));
        assert!(!s.echoed(TcpFlags::ACK));
        assert!(!s.echoed(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE));
    }

    #[test]
    fn new_data_is_ect0_and_carries_the_queued_cwr_once() {
        // §6.1.2: ECT on data; CWR on "the first new data packet sent
        // after the window reduction". §6.1.5: never ECT on retransmissions.
        let mut s = agreed();
        assert_eq!(s.on_send(true), (TcpFlags::empty(), Ecn::Ect0));
        assert_eq!(s.on_send(false), (TcpFlags::empty(), Ecn::NotEct));
        s.queue_cwr();
        // A retransmission or pure ACK does not take the CWR.
        assert_eq!(s.on_send(false), (TcpFlags::empty(), Ecn::NotEct));
        assert!(s.cwr_queued());
        assert_eq!(s.on_send(true), (TcpFlags::CWR, Ecn::Ect0));
        assert_eq!(s.on_send(true), (TcpFlags::empty(), Ecn::Ect0));
    }
}
