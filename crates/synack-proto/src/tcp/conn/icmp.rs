//! ICMP errors for one connection: validated against the sequence space,
//! then taken as a hard error, a soft error or a path MTU change.
//!
//! Read first: RFC 5927 §4.1 (act only on errors quoting a sequence number
//! in flight), RFC 1122 §4.2.3.9 (soft and hard errors), RFC 5461 (hard
//! errors while connecting), RFC 1191 §6.1 (fragmentation needed), and the
//! policy this applies, [`crate::ip::icmp::tcp_action`] (Linux's
//! `tcp_v4_err`).

use super::{CloseReason, Connection, Env, State};
use crate::SeqNum;
use crate::ip::icmp::{self, IcmpErrno, IcmpError, TcpContext, TcpIcmpAction};
use crate::time::Instant;

/// What an ICMP error did to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpOutcome {
    /// The quoted sequence number is not one we have in flight: stale or
    /// forged (counted in `OutOfWindowIcmps`).
    OutOfWindow,
    /// Nothing to do (the policy ignores it, or the connection is closed).
    Ignored,
    /// Remembered as the soft error, reported if the connection times out.
    SoftError(IcmpErrno),
    /// The connection was given up with this error.
    Aborted(IcmpErrno),
    /// The path MTU went down to `mtu`; what was in flight is sent again in
    /// smaller segments.
    PathMtuLowered { mtu: u16 },
}

impl Connection {
    /// Before the handshake: the path MTU the stack learned for this
    /// destination from an earlier connection's "fragmentation needed"
    /// (RFC 1191 §5, Linux's route cache exceptions), taken if it is below
    /// the interface's. The MSS the handshake settles on follows it.
    pub fn start_with_path_mtu(&mut self, mtu: u16) {
        if mtu < self.core.neg.path_mtu() {
            self.core.neg.set_path_mtu(mtu);
        }
    }

    /// An ICMP error about a segment of this connection. `quoted_seq` is the
    /// sequence number the error quotes, `None` for an error the stack made
    /// itself (a failed ARP resolution: nothing to validate);
    /// `quoted_total_len` the quoted datagram's total length (RFC 5927 §7.2:
    /// a "fragmentation needed" above it is bogus); `min_pmtu` the path MTU
    /// floor (`route.min_pmtu`).
    pub fn handle_icmp_error(
        &mut self,
        now: Instant,
        error: &IcmpError,
        quoted_seq: Option<SeqNum>,
        quoted_total_len: u16,
        min_pmtu: u16,
        env: &mut Env,
    ) -> IcmpOutcome {
        let fast_open_child = self.core.tfo_is_passive();
        let Some(snd) = self.state.send_half() else {
            return IcmpOutcome::Ignored;
        };
        let half_open = self.is_passive() && !fast_open_child;
        // RFC 5927 §4.1: "TCP SHOULD check that the TCP sequence number
        // contained in the payload of the ICMP error message is within the
        // range SND.UNA =< SEG.SEQ < SND.NXT"; Linux also takes SND.NXT
        // itself (a zero-length probe), and a half-open entry only its ISS.
        if let Some(seq) = quoted_seq {
            let in_flight = if half_open {
                seq == snd.iss
            } else {
                seq.in_closed(snd.una, snd.nxt)
            };
            if !in_flight {
                env.stats.tcp_ext.out_of_window_icmps += 1;
                return IcmpOutcome::OutOfWindow;
            }
        }
        let context = match &self.state {
            State::SynSent(_) => TcpContext::SynSent,
            State::SynReceived(_) if half_open => TcpContext::SynQueue,
            State::SynReceived(_) => TcpContext::SynSent,
            _ => TcpContext::Synchronized,
        };
        match icmp::tcp_action(error, context) {
            TcpIcmpAction::Ignore => IcmpOutcome::Ignored,
            TcpIcmpAction::Abort(errno) => {
                let reason = match errno {
                    IcmpErrno::ConnectionRefused => CloseReason::Refused,
                    other => CloseReason::Unreachable(other),
                };
                self.close_with(now, env, reason);
                IcmpOutcome::Aborted(errno)
            }
            TcpIcmpAction::SoftError(errno) => {
                self.core.life.soft_error = Some(errno);
                IcmpOutcome::SoftError(errno)
            }
            TcpIcmpAction::PathMtu { next_hop_mtu } => {
                // A path MTU search may have a probe out above the MTU its
                // segments use: ICMP may lower what it allows.
                let current = self.core.path_mtu_bound();
                let Some(update) =
                    icmp::pmtu_update(next_hop_mtu, quoted_total_len, current, min_pmtu)
                else {
                    return IcmpOutcome::Ignored;
                };
                self.core.on_path_mtu(update.mtu, env);
                let synchronized = self.state.kind().is_synchronized();
                let core = &mut self.core;
                if let Some(snd) = self.state.send_half_mut().filter(|_| synchronized) {
                    core.apply_negotiated(snd);
                    // Linux `tcp_simple_retransmit`: what was sent in larger
                    // segments is lost; send it again now, smaller.
                    if snd.in_flight() > 0 {
                        core.recovery.retransmit_in_flight(now, snd.una, snd.nxt);
                    }
                }
                IcmpOutcome::PathMtuLowered { mtu: update.mtu }
            }
        }
    }
}
