//! TIME-WAIT: what is left of a connection for 2 MSL after both FINs.
//!
//! Read first: RFC 9293 §3.6.1 (why TIME-WAIT lasts 2 MSL) and §3.10.7.4
//! (TIME-WAIT rows: a retransmitted FIN is acknowledged again and restarts
//! the 2 MSL timeout), RFC 1337 (TIME-WAIT assassination: ignore RSTs),
//! RFC 6191 (reopening a TIME-WAIT 4-tuple with a newer SYN), RFC 7323 §5
//! (PAWS still applies).
//!
//! [`TimeWait`] is small (about 60 bytes) and `Copy`: the stack keeps just
//! this for orphaned connections (Linux's `inet_timewait_sock`), capped by
//! `tcp_max_tw_buckets`. Its segment handling follows Linux
//! `tcp_timewait_state_process`, which packetdrill scripts encode.

use crate::SeqNum;
use crate::config::Config;
use crate::stats::Stats;
use crate::tcp::segment::ControlSegment;
use crate::tcp::timestamps::{TsClock, TsRecent};
use crate::time::{Instant, Stamp};
use crate::wire::tcp::{TcpFlags, TcpRepr, TcpTimestamp};
use core::net::SocketAddrV4;

/// RFC 6191 / Linux: a reincarnation's ISS is the old SND.NXT plus this,
/// well clear of the old incarnation's sequence space.
pub const REINCARNATION_ISS_GAP: u32 = 65_535 + 2;

/// What to do with a segment that reached a TIME-WAIT connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeWaitVerdict {
    /// Nothing (an in-window ACK, an ignored RST).
    Ignore,
    /// Send [`TimeWait::ack_segment`]: a retransmitted FIN or anything out of
    /// the window (RFC 9293 §3.10.7.4 "first" and "eighth").
    Ack,
    /// The ACK we would send is suppressed by `tcp_invalid_ratelimit`.
    AckRateLimited,
    /// RFC 6191: a SYN with a higher sequence number or a newer timestamp
    /// may open a new connection on this 4-tuple, with this ISS.
    NewSyn { iss: SeqNum },
    /// A RST ended TIME-WAIT early (only with `tcp_rfc1337` off).
    Kill,
}

/// The state of a connection in TIME-WAIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWait {
    /// Our SND.NXT (after our FIN).
    pub snd_nxt: SeqNum,
    /// Our RCV.NXT (after the peer's FIN).
    pub rcv_nxt: SeqNum,
    /// The window field our ACKs carry.
    pub window: u16,
    /// Our timestamp clock and TS.Recent, if timestamps were negotiated.
    ts: Option<(TsClock, TsRecent)>,
    /// When 2 MSL runs out.
    pub expires: Instant,
    last_oow_ack: Stamp,
    /// The connection's IP_TOS (DSCP bits), which its ACKs keep (Linux
    /// `tw_tos`); set by the stack, which holds it.
    pub dscp: u8,
}

impl TimeWait {
    pub fn new(
        snd_nxt: SeqNum,
        rcv_nxt: SeqNum,
        window: u16,
        ts: Option<(TsClock, TsRecent)>,
        expires: Instant,
    ) -> Self {
        TimeWait {
            snd_nxt,
            rcv_nxt,
            window,
            ts,
            expires,
            last_oow_ack: Stamp::NONE,
            dscp: 0,
        }
    }

    /// The ACK a TIME-WAIT connection sends: `<SEQ=SND.NXT><ACK=RCV.NXT>`.
    pub fn ack_segment(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> ControlSegment {
        ControlSegment {
            local,
            remote,
            seq: self.snd_nxt,
            ack: Some(self.rcv_nxt),
            flags: TcpFlags::empty(),
            window: self.window,
            timestamp: self.ts.map(|(clock, recent)| TcpTimestamp {
                tsval: clock.tsval(now),
                tsecr: recent.value(),
            }),
            dscp: self.dscp,
            md5: false,
        }
    }

    /// RFC 9293 §3.10.7.4 for TIME-WAIT, as Linux refines it. Restarts the
    /// 2 MSL timeout (`expires`) where the RFC says to.
    pub fn handle_segment(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        config: &Config,
        stats: &mut Stats,
    ) -> TimeWaitVerdict {
        let flags = seg.flags;
        let tsval = seg.options.timestamp.map(|t| t.tsval);
        // RFC 7323 §5.3 R1: PAWS first (RSTs are exempt).
        let paws_reject = match (self.ts, tsval) {
            (Some((_, recent)), Some(v)) => !flags.rst() && recent.paws_rejects(now, v),
            _ => false,
        };
        // SEG.LEN: a SYN or FIN counts.
        if !paws_reject && seg.seq == self.rcv_nxt && (seg.seg_len() == 0 || flags.rst()) {
            // In window: a bare ACK or a RST.
            if flags.rst() {
                // RFC 1337: a RST would let an old duplicate kill TIME-WAIT;
                // with tcp_rfc1337 it is ignored.
                if !config.tcp_rfc1337 {
                    return TimeWaitVerdict::Kill;
                }
            } else {
                self.expires = now + config.time_wait();
            }
            if let (Some((_, recent)), Some(v)) = (&mut self.ts, tsval) {
                *recent = TsRecent::new(v, now);
            }
            return TimeWaitVerdict::Ignore;
        }
        // RFC 6191: a new SYN with a higher sequence number, or (timestamps)
        // a newer timestamp, may reopen the 4-tuple.
        if flags.syn() && !flags.rst() && seg.ack.is_none() && !paws_reject {
            let newer_ts = match (self.ts, tsval) {
                (Some((_, recent)), Some(v)) => recent.is_older_than(v),
                _ => false,
            };
            if seg.seq.after(self.rcv_nxt) || newer_ts {
                let mut iss = self.snd_nxt + REINCARNATION_ISS_GAP;
                if iss == SeqNum(0) {
                    iss = SeqNum(1);
                }
                return TimeWaitVerdict::NewSyn { iss };
            }
        }
        if paws_reject {
            stats.tcp_ext.paws_estab += 1;
        }
        if flags.rst() {
            return TimeWaitVerdict::Ignore;
        }
        // Anything else (a retransmitted FIN, old data, a SYN) is answered
        // with an ACK; an ACK-bearing segment (or a PAWS reject) restarts
        // 2 MSL (RFC 9293 §3.10.7.4: "restart the 2 MSL timeout").
        if paws_reject || seg.ack.is_some() {
            self.expires = now + config.time_wait();
        }
        if self.ack_rate_limited(now, seg, config) {
            stats.tcp_ext.tcp_ack_skipped_time_wait += 1;
            return TimeWaitVerdict::AckRateLimited;
        }
        TimeWaitVerdict::Ack
    }

    /// Linux `tcp_oow_rate_limited`: replies to pure ACKs and SYNs are
    /// limited to one per `tcp_invalid_ratelimit`; data is always answered.
    fn ack_rate_limited(&mut self, now: Instant, seg: &TcpRepr<'_>, config: &Config) -> bool {
        if !seg.payload.is_empty() && !seg.flags.syn() {
            return false;
        }
        if let Some(last) = self.last_oow_ack.get()
            && now.saturating_duration_since(last) < config.tcp_invalid_ratelimit
        {
            return true;
        }
        self.last_oow_ack = Stamp::at(now);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::TcpOptions;
    use core::net::Ipv4Addr;

    fn tw() -> TimeWait {
        TimeWait::new(
            SeqNum(5001),
            SeqNum(9001),
            500,
            None,
            Instant::from_secs(60),
        )
    }

    fn seg(flags: TcpFlags, seq: u32, ack: Option<u32>) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            flags,
            window: 100,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        }
    }

    #[test]
    fn retransmitted_fin_is_acked_and_restarts_two_msl() {
        let (config, mut stats) = (Config::default(), Stats::default());
        let mut t = tw();
        let now = Instant::from_secs(30);
        let fin = seg(TcpFlags::FIN | TcpFlags::ACK, 9000, Some(5001));
        assert_eq!(
            t.handle_segment(now, &fin, &config, &mut stats),
            TimeWaitVerdict::Ack
        );
        assert_eq!(t.expires, Instant::from_secs(90));
        let local = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 1);
        let remote = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 2);
        let ack = t.ack_segment(now, local, remote);
        assert_eq!((ack.seq, ack.ack), (SeqNum(5001), Some(SeqNum(9001))));
    }

    #[test]
    fn rst_is_ignored_with_rfc1337_and_kills_without() {
        let (mut config, mut stats) = (Config::default(), Stats::default());
        let rst = seg(TcpFlags::RST, 9001, None);
        assert_eq!(
            tw().handle_segment(Instant::ZERO, &rst, &config, &mut stats),
            TimeWaitVerdict::Ignore
        );
        config.tcp_rfc1337 = false;
        assert_eq!(
            tw().handle_segment(Instant::ZERO, &rst, &config, &mut stats),
            TimeWaitVerdict::Kill
        );
        // Out of window: ignored either way, never answered.
        let rst = seg(TcpFlags::RST, 12, None);
        assert_eq!(
            tw().handle_segment(Instant::ZERO, &rst, &config, &mut stats),
            TimeWaitVerdict::Ignore
        );
    }

    #[test]
    fn newer_syn_may_reincarnate_older_gets_an_ack() {
        let (config, mut stats) = (Config::default(), Stats::default());
        let syn = seg(TcpFlags::SYN, 10_000, None);
        assert_eq!(
            tw().handle_segment(Instant::ZERO, &syn, &config, &mut stats),
            TimeWaitVerdict::NewSyn {
                iss: SeqNum(5001 + 65_537)
            }
        );
        let old = seg(TcpFlags::SYN, 100, None);
        assert_eq!(
            tw().handle_segment(Instant::ZERO, &old, &config, &mut stats),
            TimeWaitVerdict::Ack
        );
    }

    #[test]
    fn acks_to_pure_acks_are_rate_limited() {
        let (config, mut stats) = (Config::default(), Stats::default());
        let mut t = tw();
        let old = seg(TcpFlags::ACK, 8000, Some(5001));
        assert_eq!(
            t.handle_segment(Instant::ZERO, &old, &config, &mut stats),
            TimeWaitVerdict::Ack
        );
        assert_eq!(
            t.handle_segment(Instant::from_millis(100), &old, &config, &mut stats),
            TimeWaitVerdict::AckRateLimited
        );
        assert_eq!(stats.tcp_ext.tcp_ack_skipped_time_wait, 1);
        assert_eq!(
            t.handle_segment(Instant::from_millis(600), &old, &config, &mut stats),
            TimeWaitVerdict::Ack
        );
    }

    #[test]
    fn the_entry_is_small() {
        assert!(
            core::mem::size_of::<TimeWait>() <= 72,
            "{}",
            core::mem::size_of::<TimeWait>()
        );
    }
}
