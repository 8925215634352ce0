//! A connection rebuilt from a SYN cookie.
//!
//! Read first: RFC 4987 §3.6 (SYN cookies), [`crate::tcp::syncookie`] (the
//! encoding), Linux `cookie_v4_check`.
//!
//! The listener answered the SYN statelessly; the ACK that completes the
//! handshake carries everything back (the cookie in its acknowledgment
//! number, the options in its TSecr). The stack rebuilds the SYN from those,
//! and this makes the SYN-RECEIVED connection that SYN would have made,
//! with the SYN-ACK already sent; the ACK then completes it through the
//! ordinary path (RFC 9293 §3.10.7.4).

use core::net::SocketAddrV4;

use super::{ConnParams, Connection, Env, State};
use crate::tcp::ecn::{self, EcnState};
use crate::time::Instant;
use crate::wire::TcpRepr;

impl Connection {
    /// A half-open connection whose (stateless) SYN-ACK was sent with ISS
    /// `params.iss`, the cookie: `syn` is the SYN rebuilt from the cookie
    /// (the peer's ISN, the cookie's MSS, window scale and SACK from the
    /// TSecr). Feed it the ACK next.
    pub fn from_cookie(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        params: &ConnParams,
        env: &mut Env,
    ) -> Connection {
        let mut conn = Connection::accept_syn(now, local, remote, syn, params, env);
        // RFC 3168 §6.1.1 through the cookie: the rebuilt SYN is ECN-setup
        // iff the cookie remembered an ECN-setup SYN (its TSecr bit, only
        // with timestamps); the ACK's own IP codepoint says nothing of it.
        let agreed = ecn::is_setup_syn(syn.flags) && ecn::accepts(&env.config);
        conn.core.neg.ecn = EcnState::agreed(agreed);
        conn.core.pending.set_syn(false);
        if let State::SynReceived(s) = &mut conn.state {
            s.snd.on_sent(s.snd.iss + 1u32);
        }
        conn
    }
}
