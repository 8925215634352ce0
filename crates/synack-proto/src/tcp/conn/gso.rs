//! Where Linux's GSO packets would end, for the PSH flag and for software
//! GSO.
//!
//! Linux hands new data to the device in GSO packets of several segments
//! and sets PSH on every GSO packet of two or more segments (a hint for the
//! receiver's GRO to flush, `__tcp_transmit_skb`); segmentation leaves it
//! on the packet's last segment. synack sends segment by segment, so to put
//! PSH where a Linux peer or a packetdrill script expects it, it follows how
//! `tcp_write_xmit` sizes those packets:
//!
//! - the congestion window allows `min(cwnd / 2, cwnd - in_flight)`
//!   segments per packet, at least one (`tcp_cwnd_test`: "ensure we have at
//!   least 2 GSO packets in flight");
//! - the pacing rate bounds a packet to about a millisecond of data, at
//!   least `tcp_min_tso_segs` segments (`tcp_tso_autosize`), at most 64 KB;
//! - a packet ends where the data or the peer's window ends, before a
//!   partial segment Nagle or the cork holds (`tcp_mss_split_point`).
//!
//! RFC 9293 §3.9.1.2 leaves PSH to the sender ("the PSH bit is not a record
//! marker and is independent of segment boundaries"); these rules are only
//! Linux's choice of where to set it.
//!
//! The same packets make synack's software GSO (`Config::gso`): the full
//! segments of a packet that may go now are planned and accounted at once
//! ([`Core::gso_packet`]), and written one per poll from the first one's
//! header (`SendHalf::write_next_piece`). The frames are those the
//! segment-at-a-time loop would send; only the work per segment shrinks.

use super::{Core, Env};
use crate::SeqNum;
use crate::config::Config;
use crate::tcp::congestion::CongestionControl;

use super::send::{FinState, SendHalf};

/// The largest GSO packet Linux builds (`GSO_LEGACY_MAX_SIZE`).
const GSO_MAX_SIZE: u64 = 65_536;

/// Linux's pacing rate in percent of cwnd per RTT: in slow start
/// (`tcp_pacing_ss_ratio`) and in congestion avoidance (`tcp_pacing_ca_ratio`).
const PACING_SS_RATIO: u64 = 200;
const PACING_CA_RATIO: u64 = 120;

/// `sk_pacing_shift`: a GSO packet holds about 1/1024 s of data.
const PACING_SHIFT: u32 = 10;

/// `tcp_tso_rtt_log`: on short paths (min RTT below 2^9 µs and so on) the
/// packet may grow by `GSO_MAX_SIZE >> (min_rtt >> 9)`.
const TSO_RTT_LOG: u32 = 9;

impl Core {
    /// Whether new data sent at `seq`, `len` bytes, ends a GSO packet of two
    /// or more segments as Linux would build it from the `sendable` bytes
    /// that may go now (data and window, without a held partial segment).
    /// Starts a new packet when `seq` is not inside the current one.
    pub(super) fn gso_push(
        &mut self,
        seq: SeqNum,
        len: u32,
        sendable: u32,
        snd: &mut SendHalf,
        config: &Config,
    ) -> bool {
        if let Some(push) = Self::gso_push_inside(seq, len, snd) {
            return push;
        }
        let mss = snd.mss.max(1);
        // At most one segment may go (a handshake's byte, a tail): the
        // packet is that segment whatever the window and the pacing
        // rate allow (`segments` below is then at most 1), so they are
        // not worked out (the rate takes divisions).
        if sendable <= mss {
            debug_assert!(
                self.gso_quota(snd)
                    .min(self.gso_max_segments(snd, config))
                    .min(sendable.div_ceil(mss))
                    < 2,
                "the short cut must agree with the full sizing"
            );
            snd.set_gso_end(seq);
            return false;
        }
        let segments = self
            .gso_quota(snd)
            .min(self.gso_max_segments(snd, config))
            .min(sendable.div_ceil(mss));
        if segments < 2 {
            snd.set_gso_end(seq);
            return false;
        }
        snd.set_gso_end(seq + segments.saturating_mul(mss).min(sendable));
        ends_packet(seq + len, snd)
    }

    /// [`Core::gso_push`] for new data at `seq`, `len` bytes, when `seq` is
    /// inside the current GSO packet: whether it ends the packet. `None`
    /// when it is not inside (a new packet starts, sized from what may go
    /// now). Needs neither the window nor the data beyond the segment.
    #[inline(always)]
    pub(super) fn gso_push_inside(seq: SeqNum, len: u32, snd: &mut SendHalf) -> Option<bool> {
        let gso_end = snd.gso_end();
        let inside = gso_end.after(seq) && u64::from(gso_end.since(seq)) <= GSO_MAX_SIZE;
        if !inside {
            return None;
        }
        Some(ends_packet(seq + len, snd))
    }

    /// Software GSO (`Config::gso`): new data at `seq`, where the loop that
    /// sends segment by segment would send a full MSS now, as one packet of
    /// the whole-MSS segments that loop would send next, back to back, with
    /// nothing changing between them: those inside the current GSO packet
    /// (just sized by [`Core::gso_push`]), within the data (`unsent`), the
    /// peer's window (`wnd_room`), the record (`record_room`), the
    /// congestion window (a segment goes while pipe is below it, RFC 5681
    /// §3) and the scoreboard's room, and none carrying the FIN (the last
    /// data byte goes alone with it). Returns the packet's length and
    /// whether its last piece carries PSH, by the rules that would set it
    /// on that segment alone: where the written data ends (unless more was
    /// promised), where the GSO packet ends, at a record's end cut short.
    /// `None` (one segment goes) with fewer than two pieces, with GSO off,
    /// with TSO or checksum offload (the device then cuts or sums), in
    /// loss recovery (PRR counts each segment), with IP options (the
    /// stack writes each segment's IP header with them; a piece's is the
    /// packet's first header, 20 bytes), or signed (`tcp::md5`).
    pub(super) fn gso_packet(
        &mut self,
        seq: SeqNum,
        (unsent, wnd_room, record_room): (u32, u32, u32),
        snd: &mut SendHalf,
        env: &Env,
    ) -> Option<(u32, bool)> {
        if !env.config.gso
            || env.tx.max_segment != 0
            || env.tx.csum
            || !self.recovery.is_quiet()
            || self.socket.ip_options_len() != 0
            // In urgent mode each segment carries its own pointer.
            || snd.urgent_mode().is_some()
        {
            return None;
        }
        let mss = snd.mss;
        let gso_end = snd.gso_end();
        if mss == 0 || !gso_end.after(seq) {
            return None;
        }
        let data = if snd.fin == FinState::Queued {
            unsent.saturating_sub(1)
        } else {
            unsent
        };
        let room = gso_end.since(seq).min(data).min(wnd_room).min(record_room);
        let pieces = self.segments_that_may_go(mss, room);
        // Each signed segment has a digest of its own (RFC 2385).
        if pieces < 2 || self.neg.md5() {
            return None;
        }
        let len = pieces * mss;
        let is_tail = len == unsent;
        let record_cut = len == record_room && len < unsent && len < wnd_room;
        let push = (is_tail && !snd.more) || ends_packet(seq + len, snd) || record_cut;
        Some((len, push))
    }

    /// How many whole `mss` segments of `room` bytes the segment-at-a-time
    /// loop would send back to back: one goes while pipe is below the
    /// window (RFC 5681 §3: "at most cwnd"), and each takes a scoreboard
    /// record. For a TSO super-segment and a software GSO packet alike.
    pub(super) fn segments_that_may_go(&self, mss: u32, room: u32) -> u32 {
        let cwnd_room = self.send_window().saturating_sub(self.pipe());
        (room / mss)
            .min(cwnd_room.div_ceil(mss))
            .min(self.recovery.record_room())
    }

    /// Segments the congestion window gives one GSO packet (Linux
    /// `tcp_cwnd_test`): half the window, at most what is left of it.
    fn gso_quota(&self, snd: &SendHalf) -> u32 {
        let mss = snd.mss.max(1);
        let cwnd = self.send_window() / mss;
        let in_flight = self.pipe().div_ceil(mss);
        (cwnd / 2).max(1).min(cwnd.saturating_sub(in_flight))
    }

    /// Segments the pacing rate gives one GSO packet (Linux
    /// `tcp_tso_autosize` over `tcp_update_pacing_rate`).
    fn gso_max_segments(&self, snd: &SendHalf, config: &Config) -> u32 {
        let mss = u64::from(snd.mss.max(1));
        let min_segments = config.tcp_min_tso_segs.max(1);
        let Some(srtt) = self.rtt.srtt().map(|d| d.total_micros().max(1)) else {
            // No RTT yet: Linux's rate is unbounded, the packet is 64 KB.
            return ((GSO_MAX_SIZE / mss) as u32).max(min_segments);
        };
        let cwnd = u64::from(self.cc.window()) / mss;
        let packets_out = u64::from(snd.in_flight()).div_ceil(mss);
        let ratio = if u64::from(self.cc.window()) < u64::from(self.cc.ssthresh()) / 2 {
            PACING_SS_RATIO
        } else {
            PACING_CA_RATIO
        };
        // Bytes per second: mss * max(cwnd, packets_out) per srtt, times the ratio.
        let rate = mss * cwnd.max(packets_out) * ratio * 10_000 / srtt;
        let mut bytes = rate >> PACING_SHIFT;
        if let Some(min_rtt) = self.counters.min_rtt() {
            let r = min_rtt.total_micros() >> TSO_RTT_LOG;
            if r < 32 {
                bytes += GSO_MAX_SIZE >> r;
            }
        }
        let segments = bytes.min(GSO_MAX_SIZE) / mss;
        u32::try_from(segments)
            .unwrap_or(u32::MAX)
            .max(min_segments)
    }
}

/// Whether new data ending at `end` ends the current GSO packet, which then
/// ends there (it may have been sized shorter than the data went).
#[inline(always)]
fn ends_packet(end: SeqNum, snd: &mut SendHalf) -> bool {
    if end.after_eq(snd.gso_end()) {
        snd.set_gso_end(end);
        return true;
    }
    false
}
