//! Counters named like Linux's SNMP and netstat MIB counters.
//!
//! Read first: RFC 4022 (the TCP MIB: `tcpInSegs`, `tcpRetransSegs`, ...),
//! RFC 4293 (the IP MIB), and Linux's `/proc/net/snmp` and `/proc/net/netstat`
//! (`nstat` prints them as `TcpInSegs`, `TcpExtTCPChallengeACK`, ...).
//!
//! Each group is a plain struct of `u64` fields in snake_case; [`IpStats::iter`]
//! and friends yield `(linux_name, value)` pairs for display, and
//! [`Stats::iter`] prefixes them the way `nstat` does (`Ip`, `Tcp`, `TcpExt`).
//! Every counter counts events except `Tcp: CurrEstab`, a gauge (connections
//! now in ESTABLISHED or CLOSE-WAIT, as RFC 4022 `tcpCurrEstab` defines it).

/// Declares a counter group: a struct with one `u64` per counter and an
/// `iter()` yielding Linux's name for each.
macro_rules! mib_group {
    (
        $(#[$meta:meta])*
        $group:ident {
            $( $(#[$doc:meta])* $field:ident => $name:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $group {
            $( $(#[$doc])* pub $field: u64, )*
        }

        impl $group {
            /// `(Linux name, value)` for every counter, in declaration order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$( ($name, self.$field), )*].into_iter()
            }
        }
    };
}

pub use crate::ip::stats::{EthernetStats, IcmpStats, IgmpStats, IpStats, LoopbackStats};

mib_group! {
    /// TCP counters of RFC 4022 (`/proc/net/snmp`, group `Tcp`).
    TcpStats {
        /// SYN-SENT entered from CLOSED (a connect).
        active_opens => "ActiveOpens",
        /// SYN-RECEIVED entered from LISTEN.
        passive_opens => "PassiveOpens",
        /// SYN-SENT or SYN-RECEIVED went to CLOSED (or SYN-RECEIVED back to LISTEN).
        attempt_fails => "AttemptFails",
        /// ESTABLISHED or CLOSE-WAIT went to CLOSED by a reset.
        estab_resets => "EstabResets",
        /// Gauge: connections in ESTABLISHED or CLOSE-WAIT now.
        curr_estab => "CurrEstab",
        /// Segments received, including those in error.
        in_segs => "InSegs",
        /// Segments sent, excluding retransmissions.
        out_segs => "OutSegs",
        /// Segments retransmitted.
        retrans_segs => "RetransSegs",
        /// Segments received in error (bad checksum, malformed header).
        in_errs => "InErrs",
        /// Segments sent with RST.
        out_rsts => "OutRsts",
        /// Segments whose checksum did not verify.
        in_csum_errors => "InCsumErrors",
    }
}

mib_group! {
    /// Linux's extended TCP counters (`/proc/net/netstat`, group `TcpExt`).
    TcpExtStats {
        /// A SYN-ACK's ACK did not match our SYN and drew a RST, or a reset killed
        /// an embryonic connection.
        embryonic_rsts => "EmbryonicRsts",
        /// TIME-WAIT entries that ran their 2 MSL.
        tw => "TW",
        /// A SYN reopened a TIME-WAIT 4-tuple (RFC 6191).
        tw_recycled => "TWRecycled",
        /// Segments rejected by PAWS in a synchronized state (RFC 7323 §5).
        paws_estab => "PAWSEstab",
        /// Delayed ACKs sent when their timer fired.
        delayed_acks => "DelayedACKs",
        /// Completing ACKs dropped because the accept queue was full.
        listen_overflows => "ListenOverflows",
        /// SYNs or completing ACKs a listener dropped, for any reason.
        listen_drops => "ListenDrops",
        /// SYN cookies sent in SYN-ACKs (RFC 4987 §3.6).
        syncookies_sent => "SyncookiesSent",
        /// ACKs whose cookie was valid: connections made from a cookie.
        syncookies_recv => "SyncookiesRecv",
        /// ACKs checked as cookies that were forged or too old.
        syncookies_failed => "SyncookiesFailed",
        /// SYNs dropped because the SYN queue was full and cookies were off.
        tcp_req_q_full_drop => "TCPReqQFullDrop",
        /// SYNs answered with a cookie because the SYN queue was full.
        tcp_req_q_full_do_cookies => "TCPReqQFullDoCookies",
        /// SYNs dropped by the per-source SYN rate limit (synack's own).
        tcp_syn_rate_limited => "TCPSynRateLimited",
        /// ICMP errors quoting a sequence number outside SND.UNA..SND.NXT
        /// (RFC 5927 §4.1), ignored.
        out_of_window_icmps => "OutOfWindowIcmps",
        /// Fast Open SYN-ACKs that acknowledged our SYN's data (RFC 7413).
        tcp_fast_open_active => "TCPFastOpenActive",
        /// Fast Open SYNs whose data was not acknowledged (sent again).
        tcp_fast_open_active_fail => "TCPFastOpenActiveFail",
        /// Fast Open SYNs whose data a listener accepted.
        tcp_fast_open_passive => "TCPFastOpenPassive",
        /// Fast Open SYNs with an invalid cookie: only the SYN acknowledged.
        tcp_fast_open_passive_fail => "TCPFastOpenPassiveFail",
        /// Fast Open cookies accepted under the backup key.
        tcp_fast_open_passive_alt_key => "TCPFastOpenPassiveAltKey",
        /// Fast Open SYNs refused because the listener's pending-TFO queue
        /// (`TCP_FASTOPEN` qlen) was full.
        tcp_fast_open_listen_overflow => "TCPFastOpenListenOverflow",
        /// SYNs asking for a Fast Open cookie.
        tcp_fast_open_cookie_reqd => "TCPFastOpenCookieReqd",
        /// Retransmission timeouts (SYN, SYN-ACK and data).
        tcp_timeouts => "TCPTimeouts",
        /// Fast retransmissions (RFC 5681 §3.2).
        tcp_fast_retrans => "TCPFastRetrans",
        /// Data retransmitted after a timeout, in slow start.
        tcp_slow_start_retrans => "TCPSlowStartRetrans",
        /// Fast recoveries entered without SACK (RFC 6582).
        tcp_reno_recovery => "TCPRenoRecovery",
        /// SYNs retransmitted.
        tcp_syn_retrans => "TCPSynRetrans",
        /// Segments queued out of order.
        tcp_ofo_queue => "TCPOFOQueue",
        /// Out-of-order segments dropped (too many holes or no buffer space).
        tcp_ofo_drop => "TCPOFODrop",
        /// In-window data dropped because the receive buffer was full.
        tcp_zero_window_drop => "TCPZeroWindowDrop",
        /// In-window data dropped because the stack's buffer memory was
        /// above `tcp_mem`'s high mark.
        tcp_rcv_q_drop => "TCPRcvQDrop",
        /// Times the stack's buffer memory rose above `tcp_mem`'s pressure
        /// mark.
        tcp_memory_pressures => "TCPMemoryPressures",
        /// Connections reset because data arrived after close (RFC 2525 §2.17).
        tcp_abort_on_data => "TCPAbortOnData",
        /// Connections reset by a close with unread data.
        tcp_abort_on_close => "TCPAbortOnClose",
        /// Connections dropped after too many retransmissions or probes.
        tcp_abort_on_timeout => "TCPAbortOnTimeout",
        /// Connections reset by close with SO_LINGER of zero.
        tcp_abort_on_linger => "TCPAbortOnLinger",
        /// Connections reset by close because there were too many orphans
        /// (`tcp_max_orphans`) or the buffer memory was above `tcp_mem`'s
        /// high mark with data still to send.
        tcp_abort_on_memory => "TCPAbortOnMemory",
        /// Bare handshake ACKs dropped while TCP_DEFER_ACCEPT waited for
        /// data.
        tcp_defer_accept_drop => "TCPDeferAcceptDrop",
        /// Segments dropped for no MD5 signature where a key expected one
        /// (RFC 2385 §4.0).
        tcp_md5_not_found => "TCPMD5NotFound",
        /// Segments dropped for a signature where no key was expected.
        tcp_md5_unexpected => "TCPMD5Unexpected",
        /// Segments dropped for a wrong MD5 signature (RFC 2385 §4.0).
        tcp_md5_failure => "TCPMD5Failure",
        /// Keepalive probes sent.
        tcp_keep_alive => "TCPKeepAlive",
        /// Challenge ACKs sent (RFC 5961).
        tcp_challenge_ack => "TCPChallengeACK",
        /// Challenge ACKs sent for a SYN in a synchronized state (RFC 5961 §4).
        tcp_syn_challenge => "TCPSYNChallenge",
        /// Challenge ACKs suppressed by the per-connection or global limit.
        tcp_ack_skipped_challenge => "TCPACKSkippedChallenge",
        /// Out-of-window ACK replies suppressed by `tcp_invalid_ratelimit`.
        tcp_ack_skipped_seq => "TCPACKSkippedSeq",
        /// PAWS ACK replies suppressed by `tcp_invalid_ratelimit`.
        tcp_ack_skipped_paws => "TCPACKSkippedPAWS",
        /// TIME-WAIT ACK replies suppressed by `tcp_invalid_ratelimit`.
        tcp_ack_skipped_time_wait => "TCPACKSkippedTimeWait",
        /// Zero-window probes sent.
        tcp_win_probe => "TCPWinProbe",
        /// A connection could not enter TIME-WAIT: `tcp_max_tw_buckets` reached.
        tcp_time_wait_overflow => "TCPTimeWaitOverflow",
        /// Data segments sent for the first time.
        tcp_orig_data_sent => "TCPOrigDataSent",
        /// Data segments delivered (acknowledged).
        tcp_delivered => "TCPDelivered",
        /// Segments carrying SACK blocks we sent.
        tcp_sack_sent => "TCPSACKSent",
        /// Duplicate data received (below RCV.NXT).
        tcp_dsack_old_sent => "TCPDSACKOldSent",
        // Loss recovery and congestion control (issue 4).
        /// Fast recoveries entered with SACK (RFC 6675).
        tcp_sack_recovery => "TCPSackRecovery",
        /// Tail loss probes sent (RFC 8985 §7).
        tcp_loss_probes => "TCPLossProbes",
        /// Losses repaired by a tail loss probe (RFC 8985 §7.4).
        tcp_loss_probe_recovery => "TCPLossProbeRecovery",
        /// Connections a closing SO_REUSEPORT listener handed to another
        /// member of its group (`tcp_migrate_req`).
        tcp_migrate_req_success => "TCPMigrateReqSuccess",
        /// Connections it could not (no member left): reset.
        tcp_migrate_req_failure => "TCPMigrateReqFailure",
        /// Path MTU probes acknowledged: segments grew (RFC 4821).
        tcp_mtup_success => "TCPMTUPSuccess",
        /// Path MTU probes lost as the first unacknowledged segment.
        tcp_mtup_fail => "TCPMTUPFail",
        /// Reordering detected from SACKs.
        tcp_sack_reorder => "TCPSACKReorder",
        /// Reordering detected from duplicate ACKs without SACK.
        tcp_reno_reorder => "TCPRenoReorder",
        /// Reordering detected from timestamps (RFC 3522).
        tcp_ts_reorder => "TCPTSReorder",
        /// D-SACKs received for data below SND.UNA (RFC 2883).
        tcp_dsack_recv => "TCPDSACKRecv",
        /// D-SACKs received for out-of-order data (RFC 2883).
        tcp_dsack_ofo_recv => "TCPDSACKOfoRecv",
        /// D-SACKs sent for duplicate out-of-order data.
        tcp_dsack_ofo_sent => "TCPDSACKOfoSent",
        /// Window reductions undone because every retransmission was D-SACKed.
        tcp_dsack_undo => "TCPDSACKUndo",
        /// Timeouts found spurious by F-RTO (RFC 5682).
        tcp_spurious_rtos => "TCPSpuriousRTOs",
        /// Fast recoveries undone in full at their end (Eifel, RFC 3522).
        tcp_full_undo => "TCPFullUndo",
        /// Fast recoveries undone on a partial ACK (RFC 3522).
        tcp_partial_undo => "TCPPartialUndo",
        /// Timeout recoveries undone.
        tcp_loss_undo => "TCPLossUndo",
        /// Retransmissions found lost again (RACK).
        tcp_lost_retransmit => "TCPLostRetransmit",
        /// Timeouts with a SACKed segment at SND.UNA: the receiver reneged.
        tcp_sack_reneging => "TCPSACKReneging",
        /// SACK blocks ignored as invalid (or beyond the scoreboard's cap).
        tcp_sack_discard => "TCPSACKDiscard",
        /// Timeouts during SACK recovery or disorder.
        tcp_sack_failures => "TCPSackFailures",
        /// Timeouts during NewReno recovery or disorder.
        tcp_reno_failures => "TCPRenoFailures",
        /// Timeouts of a timeout's retransmissions.
        tcp_loss_failures => "TCPLossFailures",
        /// Slow starts ended by HyStart++ (RFC 9406) on a delay increase.
        tcp_hystart_delay_detect => "TCPHystartDelayDetect",
        /// Slow starts ended by HyStart's ACK train (a full pipe).
        tcp_hystart_train_detect => "TCPHystartTrainDetect",
        /// Frames a driver handed over that a connection kept as readable
        /// bytes instead of copying them (zero-copy receive; synack's own).
        tcp_rcv_frames_kept => "TCPRcvFramesKept",
    }
}

/// All counters of one stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub ip: IpStats,
    pub icmp: IcmpStats,
    pub tcp: TcpStats,
    pub tcp_ext: TcpExtStats,
    /// The Ethernet interfaces' link-layer counters.
    pub eth: EthernetStats,
    /// The loopback interface's counters.
    pub lo: LoopbackStats,
    /// IGMP's counters.
    pub igmp: IgmpStats,
}

impl Stats {
    /// Every counter with its `nstat` name (`IpInReceives`, `TcpInSegs`,
    /// `TcpExtTCPChallengeACK`, ...).
    pub fn iter(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        let ip = self.ip.iter().map(|(n, v)| (format!("Ip{n}"), v));
        let icmp = self.icmp.iter().map(|(n, v)| (format!("Icmp{n}"), v));
        let tcp = self.tcp.iter().map(|(n, v)| (format!("Tcp{n}"), v));
        let ext = self.tcp_ext.iter().map(|(n, v)| (format!("TcpExt{n}"), v));
        let eth = self.eth.iter().map(|(n, v)| (format!("Eth{n}"), v));
        let lo = self.lo.iter().map(|(n, v)| (format!("Lo{n}"), v));
        let igmp = self.igmp.iter().map(|(n, v)| (format!("Igmp{n}"), v));
        ip.chain(icmp)
            .chain(tcp)
            .chain(ext)
            .chain(eth)
            .chain(lo)
            .chain(igmp)
    }

    /// The value of a counter by its `nstat` name, e.g. `"TcpInCsumErrors"`.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_carry_linux_names() {
        let mut s = Stats::default();
        s.tcp.in_csum_errors = 3;
        s.tcp_ext.tcp_challenge_ack = 2;
        s.ip.in_receives = 9;
        assert_eq!(s.get("TcpInCsumErrors"), Some(3));
        assert_eq!(s.get("TcpExtTCPChallengeACK"), Some(2));
        assert_eq!(s.get("IpInReceives"), Some(9));
        assert_eq!(s.get("TcpNoSuchCounter"), None);
        let tcp: Vec<_> = s.tcp.iter().map(|(n, _)| n).collect();
        assert_eq!(&tcp[..3], &["ActiveOpens", "PassiveOpens", "AttemptFails"]);
    }

    #[test]
    fn every_name_is_unique() {
        let s = Stats::default();
        let mut names: Vec<String> = s.iter().map(|(n, _)| n).collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total);
    }
}
