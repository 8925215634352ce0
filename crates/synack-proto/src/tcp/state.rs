//! The states of a TCP connection, for reporting.
//!
//! Read first: RFC 9293 §3.3.2 (the state diagram). The engine keeps each
//! state's data in its own struct (`tcp::conn::State`); this enum is the
//! data-free name of a state that getters, events and `synack ss` report.

use core::fmt;

/// The eleven states of RFC 9293 §3.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl TcpState {
    /// Every state, in RFC 9293 §3.3.2 order.
    pub const ALL: [TcpState; 11] = [
        TcpState::Closed,
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynReceived,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::Closing,
        TcpState::LastAck,
        TcpState::TimeWait,
    ];

    /// The name as RFC 9293 spells it: `"SYN-SENT"`, `"ESTABLISHED"`, ...
    pub const fn rfc_name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST-ACK",
            TcpState::TimeWait => "TIME-WAIT",
        }
    }

    /// The name as iproute2's `ss` prints it: `"ESTAB"`, `"SYN-RECV"`, ...
    /// A closed socket shows as `"UNCONN"` (iproute2's name for TCP_CLOSE).
    pub const fn ss_name(self) -> &'static str {
        match self {
            TcpState::Closed => "UNCONN",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECV",
            TcpState::Established => "ESTAB",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST-ACK",
            TcpState::TimeWait => "TIME-WAIT",
        }
    }

    /// Linux's `tcpi_state` number (include/net/tcp_states.h), so tools that
    /// know Linux's numbering (packetdrill's `TCPI_*`) can compare.
    pub const fn linux_number(self) -> u8 {
        match self {
            TcpState::Established => 1,
            TcpState::SynSent => 2,
            TcpState::SynReceived => 3,
            TcpState::FinWait1 => 4,
            TcpState::FinWait2 => 5,
            TcpState::TimeWait => 6,
            TcpState::Closed => 7,
            TcpState::CloseWait => 8,
            TcpState::LastAck => 9,
            TcpState::Listen => 10,
            TcpState::Closing => 11,
        }
    }

    /// RFC 9293 §3.3.2: "synchronized" states, those after the handshake in
    /// which both sequence spaces are known (ESTABLISHED and later).
    pub const fn is_synchronized(self) -> bool {
        matches!(
            self,
            TcpState::Established
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::CloseWait
                | TcpState::Closing
                | TcpState::LastAck
                | TcpState::TimeWait
        )
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_rfc_and_iproute2() {
        assert_eq!(TcpState::SynReceived.rfc_name(), "SYN-RECEIVED");
        assert_eq!(TcpState::SynReceived.ss_name(), "SYN-RECV");
        assert_eq!(TcpState::Established.ss_name(), "ESTAB");
        assert_eq!(TcpState::TimeWait.to_string(), "TIME-WAIT");
        assert_eq!(TcpState::Closed.ss_name(), "UNCONN");
    }

    #[test]
    fn linux_numbers_are_a_permutation_of_one_to_eleven() {
        let mut n: Vec<u8> = TcpState::ALL.iter().map(|s| s.linux_number()).collect();
        n.sort();
        assert_eq!(n, (1..=11).collect::<Vec<_>>());
    }

    #[test]
    fn synchronized_states_are_established_and_later() {
        let sync: Vec<_> = TcpState::ALL
            .into_iter()
            .filter(|s| s.is_synchronized())
            .collect();
        assert_eq!(sync.first(), Some(&TcpState::Established));
        assert_eq!(sync.len(), 7);
    }
}
