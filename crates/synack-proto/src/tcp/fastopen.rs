//! TCP Fast Open policy (RFC 7413): what a listener does with a SYN's Fast
//! Open option and data, and what a client puts in its first SYN. The
//! connection carries these decisions out (`tcp::conn::fastopen`); the keys,
//! cookies and the client cache live in [`super::fastopen_cookie`].
//!
//! Read first: RFC 7413 §4.1.2 (server: cookie generation and validation),
//! §4.1.3 (client: the cookie cache, sizing SYN data with the cached MSS),
//! §4.2 (protocol), §5.1 (a cap on pending Fast Open connections), and
//! Linux's `tcp_try_fastopen` and `tcp_fastopen_cookie_check`, whose wire
//! behaviour the packetdrill corpus (`gtests/net/tcp/fastopen`) records.
//!
//! `net.ipv4.tcp_fastopen` bits honoured ([`fastopen_flags`]): 0x1 client,
//! 0x2 server, 0x4 client sends data without a cookie, 0x200 server takes
//! data without a cookie, 0x400 every listener does Fast Open (qlen = its
//! backlog) without `TCP_FASTOPEN`.

use core::net::Ipv4Addr;

use super::conn::FastOpenClientPlan;
use super::fastopen_cookie::{CookieKey, FastOpenEntry, FastOpenKeys};
use crate::config::fastopen_flags;
use crate::time::Instant;
use crate::wire::TcpRepr;
use crate::wire::tcp::{FastOpenCookie, FastOpenOption};

/// Linux `MAX_TCP_OPTION_SPACE`: SYN data leaves room for 40 bytes of
/// options so middleboxes that add options do not push it past the MTU.
pub const SYN_DATA_OPTION_RESERVE: u16 = 40;

/// Why a listener's Fast Open handling came out as it did (for counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassiveOutcome {
    /// Data (if any) accepted with a cookie made by the primary key, or
    /// without a cookie where the configuration allows it.
    Accepted,
    /// Accepted with a cookie made by the backup key; a fresh cookie goes
    /// back (Linux `TCPFastOpenPassiveAltKey`).
    AcceptedBackupKey,
    /// The cookie did not validate: only the SYN is acknowledged, a valid
    /// cookie goes back (`TCPFastOpenPassiveFail`).
    InvalidCookie,
    /// The listener's pending Fast Open queue is full: a plain SYN-ACK
    /// (`TCPFastOpenListenOverflow`).
    QueueFull,
    /// A cookie request answered.
    CookieSent,
}

/// What a listener does with one SYN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassiveDecision {
    /// Make a Fast Open child: take the SYN's data now (RFC 7413 §4.2.2),
    /// count it against the listener's pending queue until established.
    pub child: bool,
    /// The option our SYN-ACK carries, in the kind the SYN used.
    pub reply: Option<FastOpenOption>,
    /// The SYN asked for a cookie (`TCPFastOpenCookieReqd`).
    pub cookie_requested: bool,
    pub outcome: Option<PassiveOutcome>,
}

/// Whether a listener does server Fast Open, and with which pending cap:
/// `TCP_FASTOPEN`'s qlen, or with the 0x400 bit `min(backlog, somaxconn)`
/// (Linux `fastopen_queue_tune`). `None` when it does not.
pub fn listener_qlen(flags: u32, sockopt_qlen: usize, backlog: usize) -> Option<usize> {
    if flags & fastopen_flags::SERVER == 0 {
        return None;
    }
    let qlen = if sockopt_qlen > 0 {
        sockopt_qlen
    } else if flags & fastopen_flags::SERVER_WO_SOCKOPT != 0 {
        backlog
    } else {
        0
    };
    (qlen > 0).then_some(qlen)
}

/// Linux `tcp_try_fastopen` for `syn` from `client` to `server`, at a
/// listener that does Fast Open (`enabled`: a `Some` from
/// [`listener_qlen`]) whose pending queue `has_room`:
///
/// - no option and no data, or server Fast Open off: nothing;
/// - queue full: nothing (a plain SYN-ACK);
/// - 0x200 (`TFO_SERVER_COOKIE_NOT_REQD`): a child, no cookie needed;
/// - a request: the cookie goes back;
/// - a valid cookie: a child (even without data: it may then send before
///   the handshake completes); with the backup key a fresh cookie goes back;
/// - an invalid cookie: a valid one goes back, only the SYN is acknowledged.
pub fn decide_passive(
    flags: u32,
    enabled: bool,
    has_room: bool,
    keys: &FastOpenKeys,
    client: Ipv4Addr,
    server: Ipv4Addr,
    syn: &TcpRepr<'_>,
) -> PassiveDecision {
    let (option, syn_data) = (syn.options.fast_open, syn.payload.len());
    let mut d = PassiveDecision {
        cookie_requested: option.is_some_and(|o| o.cookie.is_request()),
        ..PassiveDecision::default()
    };
    if !enabled || (syn_data == 0 && option.is_none()) {
        return d;
    }
    if !has_room {
        d.outcome = Some(PassiveOutcome::QueueFull);
        return d;
    }
    if flags & fastopen_flags::SERVER_NO_COOKIE != 0 {
        d.child = true;
        d.outcome = Some(PassiveOutcome::Accepted);
        return d;
    }
    let Some(option) = option else {
        // Data without a cookie: RFC 7413 §4.2.2, only the SYN is taken.
        return d;
    };
    let fresh = FastOpenOption {
        experimental: option.experimental,
        cookie: FastOpenCookie::new(&keys.cookie(client, server)).unwrap_or_default(),
    };
    if option.cookie.is_request() {
        d.reply = Some(fresh);
        d.outcome = Some(PassiveOutcome::CookieSent);
        return d;
    }
    match keys.check(client, server, option.cookie.as_slice()) {
        Some(CookieKey::Primary) => {
            d.child = true;
            d.outcome = Some(PassiveOutcome::Accepted);
        }
        Some(CookieKey::Backup) => {
            d.child = true;
            d.reply = Some(fresh);
            d.outcome = Some(PassiveOutcome::AcceptedBackupKey);
        }
        None => {
            d.reply = Some(fresh);
            d.outcome = Some(PassiveOutcome::InvalidCookie);
        }
    }
    d
}

/// The first SYN of a Fast Open active open (Linux `tcp_send_syn_data` and
/// `tcp_fastopen_cookie_check`), or `None` for a plain SYN (client Fast
/// Open off, or suspended for this server after lost SYNs):
///
/// - a cached cookie: it goes in the SYN (in the kind it came in) with up
///   to `min(path MTU - 40, cached MSS or ours) - 40` bytes of data;
/// - 0x4 (`TFO_CLIENT_NO_COOKIE`): data without an option;
/// - otherwise a cookie request (kind 254 after a kind-34 request went
///   unanswered once), no data.
///
/// `defer` (`TCP_FASTOPEN_CONNECT`) holds the SYN for the first send, but
/// only when data may go in it.
pub fn client_plan(
    flags: u32,
    entry: Option<&FastOpenEntry>,
    now: Instant,
    path_mtu: u16,
    adv_mss: u16,
    defer: bool,
) -> Option<FastOpenClientPlan> {
    if flags & fastopen_flags::CLIENT == 0 || entry.is_some_and(|e| e.suspended(now)) {
        return None;
    }
    let mss = entry.and_then(|e| e.mss).unwrap_or(adv_mss);
    let space = path_mtu
        .saturating_sub(40)
        .min(mss)
        .saturating_sub(SYN_DATA_OPTION_RESERVE);
    let data_plan = |option| FastOpenClientPlan {
        option,
        max_syn_data: u32::from(space),
        defer,
    };
    if let Some(cookie) = entry.and_then(|e| e.cookie) {
        return Some(data_plan(Some(cookie)));
    }
    if flags & fastopen_flags::CLIENT_NO_COOKIE != 0 {
        return Some(data_plan(None));
    }
    let experimental = entry.is_some_and(|e| e.try_exp == 1);
    Some(FastOpenClientPlan {
        option: Some(FastOpenOption {
            experimental,
            cookie: FastOpenCookie::REQUEST,
        }),
        max_syn_data: 0,
        defer: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siphash::SipKey;
    use crate::time::Duration;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const ON: u32 = fastopen_flags::CLIENT | fastopen_flags::SERVER;

    fn keys() -> FastOpenKeys {
        FastOpenKeys::new(SipKey([7; 16]))
    }

    fn opt(experimental: bool, cookie: &[u8]) -> Option<FastOpenOption> {
        Some(FastOpenOption {
            experimental,
            cookie: FastOpenCookie::new(cookie).unwrap(),
        })
    }

    fn syn(option: Option<FastOpenOption>, data: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: crate::SeqNum(1),
            ack: None,
            flags: crate::wire::tcp::TcpFlags::SYN,
            window: 1000,
            urgent: 0,
            options: crate::wire::tcp::TcpOptions {
                fast_open: option,
                ..Default::default()
            },
            payload: data,
        }
    }

    fn decide(
        flags: u32,
        room: bool,
        option: Option<FastOpenOption>,
        data: usize,
    ) -> PassiveDecision {
        let payload = vec![0xAB; data];
        let s = syn(option, &payload);
        decide_passive(flags, true, room, &keys(), CLIENT, SERVER, &s)
    }

    #[test]
    fn a_request_gets_a_cookie_in_the_kind_it_used() {
        for exp in [false, true] {
            let d = decide(ON, true, opt(exp, &[]), 0);
            let cookie = keys().cookie(CLIENT, SERVER);
            assert_eq!(d.reply, opt(exp, &cookie));
            assert!(!d.child && d.cookie_requested);
            assert_eq!(d.outcome, Some(PassiveOutcome::CookieSent));
        }
    }

    #[test]
    fn a_valid_cookie_makes_a_child_and_an_invalid_one_a_fresh_cookie() {
        let good = keys().cookie(CLIENT, SERVER);
        let d = decide(ON, true, opt(false, &good), 10);
        assert!(d.child);
        assert_eq!(d.reply, None, "the primary key's cookie: no option back");
        let mut bad = good;
        bad[0] ^= 1;
        let d = decide(ON, true, opt(false, &bad), 10);
        assert!(!d.child);
        assert_eq!(d.reply, opt(false, &good));
        assert_eq!(d.outcome, Some(PassiveOutcome::InvalidCookie));
        // A valid cookie without data still makes a child (Linux).
        assert!(decide(ON, true, opt(true, &good), 0).child);
    }

    #[test]
    fn rotation_keeps_old_cookies_valid_and_hands_out_new_ones() {
        let old = keys().cookie(CLIENT, SERVER);
        let mut rotated = keys();
        rotated.rotate(SipKey([9; 16]));
        let s = syn(opt(false, &old), b"hello");
        let d = decide_passive(ON, true, true, &rotated, CLIENT, SERVER, &s);
        assert!(d.child);
        assert_eq!(d.reply, opt(false, &rotated.cookie(CLIENT, SERVER)));
        assert_eq!(d.outcome, Some(PassiveOutcome::AcceptedBackupKey));
    }

    #[test]
    fn data_without_a_cookie_is_not_taken_unless_configured() {
        let d = decide(ON, true, None, 40);
        assert_eq!(
            d,
            PassiveDecision::default(),
            "pure-syn-data.pkt: a plain SYN-ACK"
        );
        let d = decide(ON | fastopen_flags::SERVER_NO_COOKIE, true, None, 40);
        assert!(d.child && d.reply.is_none());
    }

    #[test]
    fn a_full_queue_or_a_disabled_listener_answers_plainly() {
        let good = keys().cookie(CLIENT, SERVER);
        let d = decide(ON, false, opt(false, &good), 10);
        assert!(!d.child && d.reply.is_none());
        assert_eq!(d.outcome, Some(PassiveOutcome::QueueFull));
        let s = syn(opt(false, &[]), &[]);
        let d = decide_passive(ON, false, true, &keys(), CLIENT, SERVER, &s);
        assert!(d.reply.is_none() && d.cookie_requested);
    }

    #[test]
    fn listeners_do_fast_open_with_the_sockopt_or_the_0x400_bit() {
        assert_eq!(listener_qlen(fastopen_flags::CLIENT, 5, 8), None);
        assert_eq!(listener_qlen(ON, 0, 8), None);
        assert_eq!(listener_qlen(ON, 5, 8), Some(5));
        assert_eq!(
            listener_qlen(ON | fastopen_flags::SERVER_WO_SOCKOPT, 0, 8),
            Some(8)
        );
    }

    #[test]
    fn the_client_asks_first_then_sends_data_with_the_cookie() {
        let t = Instant::from_secs(1);
        let p = client_plan(ON, None, t, 1500, 1460, true).unwrap();
        assert_eq!(p.option, opt(false, &[]));
        assert_eq!(
            (p.max_syn_data, p.defer),
            (0, false),
            "no cookie: no deferral"
        );
        let entry = FastOpenEntry {
            cookie: opt(true, &[1, 2, 3, 4]),
            mss: Some(940),
            ..FastOpenEntry::default()
        };
        let p = client_plan(ON, Some(&entry), t, 1500, 1460, true).unwrap();
        assert_eq!(p.option, entry.cookie);
        assert_eq!(p.max_syn_data, 900, "940 - 40, as nonblocking-sendto.pkt");
        assert!(p.defer);
        let big = FastOpenEntry {
            mss: Some(10_000),
            ..entry
        };
        let p = client_plan(ON, Some(&big), t, 1500, 1460, false).unwrap();
        assert_eq!(p.max_syn_data, 1420, "bounded by the path MTU");
        let none = client_plan(0, Some(&entry), t, 1500, 1460, false);
        assert_eq!(none, None, "client Fast Open off");
    }

    #[test]
    fn an_unanswered_request_is_retried_in_the_experimental_kind() {
        let t = Instant::from_secs(1);
        let mut e = FastOpenEntry {
            try_exp: 1,
            ..FastOpenEntry::default()
        };
        let p = client_plan(ON, Some(&e), t, 1500, 1460, false).unwrap();
        assert_eq!(p.option, opt(true, &[]));
        e.try_exp = 2;
        let p = client_plan(ON, Some(&e), t, 1500, 1460, false).unwrap();
        assert_eq!(p.option, opt(false, &[]));
    }

    #[test]
    fn repeated_syn_losses_suspend_fast_open_for_a_while() {
        let t = Instant::from_secs(100);
        let e = FastOpenEntry {
            cookie: opt(false, &[1, 2, 3, 4]),
            syn_loss: 2,
            last_syn_loss: Some(t),
            ..FastOpenEntry::default()
        };
        assert_eq!(client_plan(ON, Some(&e), t, 1500, 1460, false), None);
        let later = t + Duration::from_secs(240);
        assert!(client_plan(ON, Some(&e), later, 1500, 1460, false).is_some());
    }

    #[test]
    fn data_without_a_cookie_with_the_0x4_bit() {
        let p = client_plan(
            ON | fastopen_flags::CLIENT_NO_COOKIE,
            None,
            Instant::ZERO,
            1500,
            1460,
            false,
        )
        .unwrap();
        assert_eq!((p.option, p.max_syn_data), (None, 1420));
    }

    /// The stack's short way for a plain SYN (`Stack::deliver_unconnected`
    /// skips this function for a SYN without the option and without data)
    /// rests on this: such a SYN gets nothing, whatever the flags, the
    /// listener's Fast Open and its queue.
    #[test]
    fn a_syn_without_option_or_data_gets_nothing_whatever_the_settings() {
        let plain = syn(None, &[]);
        for flags in 0..0x800u32 {
            for (enabled, has_room) in [(false, false), (false, true), (true, false), (true, true)]
            {
                let d = decide_passive(flags, enabled, has_room, &keys(), CLIENT, SERVER, &plain);
                assert_eq!(d, PassiveDecision::default(), "flags {flags:#x}");
            }
        }
    }
}
