//! One direction of a point-to-point link: its configuration, its
//! impairments, and its counters.
//!
//! A frame entering a direction goes through, in order:
//!
//! 1. blackout windows (dropped if sent inside one);
//! 2. the MTU check (dropped if longer than `mtu + l2_header_len`);
//! 3. the filter hook (pass, drop, delay; it may rewrite the frame);
//! 4. the transmitter: with a bandwidth it waits in a drop-tail queue while the
//!    transmitter is busy, then takes `len * 8 / bandwidth` to serialize.
//!    With a CE threshold (a simple AQM, RFC 3168 §5 and RFC 7567's advice
//!    to mark rather than drop), a frame arriving while more than the
//!    threshold waits is marked CE if its IPv4 header says ECT, and dropped
//!    if not;
//! 5. loss on the wire (random or Gilbert-Elliott): a lost frame has still
//!    used its transmit time;
//! 6. corruption (one random bit flipped);
//! 7. propagation: `delay` plus uniform jitter, FIFO-preserving unless the
//!    frame is held back for reordering (or delayed by the filter);
//! 8. duplication: a copy arrives `duplicate_gap` after the original.
//!
//! Random choices draw from the direction's own RNG only when their
//! probability is above zero, so a configuration draws the same numbers in
//! the same order every run.

use std::collections::VecDeque;

use synack_proto::wire::ipv4::Ipv4Packet;
use synack_proto::{Duration, Instant, Rng};

/// Bytes of Ethernet II header (destination, source, EtherType) that a link
/// adds to its MTU by default.
pub const ETHERNET_HEADER_LEN: usize = 14;

/// Queue limit used when a bandwidth is set and no limit is given: 128 KiB,
/// about 87 full-size Ethernet frames.
pub const DEFAULT_QUEUE_LIMIT: usize = 128 * 1024;

/// How frames are lost on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Loss {
    /// No loss.
    #[default]
    None,
    /// Each frame is lost independently with probability `p` (Bernoulli).
    Random { p: f64 },
    /// Bursty loss: a two-state Markov chain (Gilbert-Elliott). Each frame is
    /// lost with the current state's probability, then the state may change.
    /// Long-run loss rate: `(p_bg * loss_in_good + p_gb * loss_in_bad) / (p_gb
    /// + p_bg)`; with `loss_in_bad = 1`, `loss_in_good = 0` the mean burst
    /// length is `1 / p_bad_to_good`.
    GilbertElliott {
        p_good_to_bad: f64,
        p_bad_to_good: f64,
        loss_in_good: f64,
        loss_in_bad: f64,
    },
}

impl Loss {
    /// The long-run fraction of frames lost.
    pub fn stationary_rate(&self) -> f64 {
        match *self {
            Loss::None => 0.0,
            Loss::Random { p } => p.clamp(0.0, 1.0),
            Loss::GilbertElliott {
                p_good_to_bad: gb,
                p_bad_to_good: bg,
                loss_in_good: lg,
                loss_in_bad: lb,
            } => {
                if gb + bg <= 0.0 {
                    lg // never leaves the good state it starts in
                } else {
                    (bg * lg + gb * lb) / (gb + bg)
                }
            }
        }
    }
}

/// One direction's behaviour. `LinkConfig::default()` is a perfect link:
/// no delay, infinite bandwidth, no loss, no MTU.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` per frame. Jitter alone
    /// never reorders: a frame never arrives before one sent earlier.
    pub jitter: Duration,
    /// Transmit rate in bits per second; `None` is infinitely fast.
    pub bandwidth: Option<u64>,
    /// Drop-tail limit on the bytes waiting for the transmitter (the frame
    /// being serialized does not count). Only used with a bandwidth.
    pub queue_limit: usize,
    pub loss: Loss,
    /// Probability that a frame is held back by `reorder_delay`, so frames
    /// sent after it can overtake it.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// How long after the original its copy arrives.
    pub duplicate_gap: Duration,
    /// Probability that one random bit of a frame is flipped.
    pub corrupt: f64,
    /// Largest layer-3 packet the link carries; frames longer than `mtu +
    /// l2_header_len` are dropped. `None`: no limit.
    pub mtu: Option<usize>,
    /// Link-layer header bytes not counted in the MTU: 14 for Ethernet, 0 for
    /// an IP medium (TUN).
    pub l2_header_len: usize,
    /// `[start, end)` windows in which every frame sent is dropped.
    pub blackouts: Vec<(Instant, Instant)>,
    /// CE marking (only with a bandwidth): while more than this many bytes
    /// wait, an arriving ECT frame is marked CE and a Not-ECT one dropped
    /// (RFC 3168 §5: "instead of dropping"). `None`: drop-tail only.
    pub ce_threshold: Option<usize>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            bandwidth: None,
            queue_limit: DEFAULT_QUEUE_LIMIT,
            loss: Loss::None,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            duplicate_gap: Duration::ZERO,
            corrupt: 0.0,
            mtu: None,
            l2_header_len: ETHERNET_HEADER_LEN,
            blackouts: Vec::new(),
            ce_threshold: None,
        }
    }
}

impl LinkConfig {
    /// A perfect link (the same as `default()`).
    pub fn new() -> Self {
        Self::default()
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Bits per second.
    pub fn bandwidth(mut self, bits_per_sec: u64) -> Self {
        self.bandwidth = Some(bits_per_sec).filter(|&b| b > 0);
        self
    }

    /// Marks ECT frames CE (and drops Not-ECT ones) while more than `bytes`
    /// wait for the transmitter; see [`LinkConfig::ce_threshold`].
    pub fn ce_threshold(mut self, bytes: usize) -> Self {
        self.ce_threshold = Some(bytes);
        self
    }

    /// Drop-tail queue limit in bytes.
    pub fn queue_limit(mut self, bytes: usize) -> Self {
        self.queue_limit = bytes;
        self
    }

    pub fn loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// Independent (Bernoulli) loss with probability `p`.
    pub fn random_loss(self, p: f64) -> Self {
        self.loss(Loss::Random { p })
    }

    /// Bursty loss; see [`Loss::GilbertElliott`].
    pub fn gilbert_elliott(
        self,
        p_good_to_bad: f64,
        p_bad_to_good: f64,
        loss_in_good: f64,
        loss_in_bad: f64,
    ) -> Self {
        self.loss(Loss::GilbertElliott {
            p_good_to_bad,
            p_bad_to_good,
            loss_in_good,
            loss_in_bad,
        })
    }

    /// Hold back a fraction `p` of frames by `extra` so later ones pass them.
    pub fn reorder(mut self, p: f64, extra: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = extra;
        self
    }

    /// Deliver a fraction `p` of frames twice, the copy `gap` after the original.
    pub fn duplicate(mut self, p: f64, gap: Duration) -> Self {
        self.duplicate = p;
        self.duplicate_gap = gap;
        self
    }

    /// Flip one random bit in a fraction `p` of frames.
    pub fn corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Layer-3 MTU (the link-layer header is extra, see `l2_header_len`).
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = Some(mtu);
        self
    }

    pub fn l2_header_len(mut self, len: usize) -> Self {
        self.l2_header_len = len;
        self
    }

    /// Drop everything sent in `[start, end)`.
    pub fn blackout(mut self, start: Instant, end: Instant) -> Self {
        self.blackouts.push((start, end));
        self
    }

    fn in_blackout(&self, now: Instant) -> bool {
        self.blackouts.iter().any(|&(s, e)| s <= now && now < e)
    }
}

/// What the filter hook decides for one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterAction {
    /// Carry on through the link (possibly rewritten by the filter).
    Pass,
    /// Drop it (counted as `dropped_filter`).
    Drop,
    /// Add this much to its propagation delay, without holding back the
    /// frames behind it: they may overtake it.
    Delay(Duration),
}

/// A per-frame hook for scripted attacks and tests: sees every frame that
/// passed the blackout and MTU checks, may rewrite it (length included).
pub type Filter = Box<dyn FnMut(Instant, &mut Vec<u8>) -> FilterAction>;

/// Counters for one direction of a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LinkStats {
    /// Frames and bytes sent into the link.
    pub offered_frames: u64,
    pub offered_bytes: u64,
    /// Frames and bytes handed to the receiving node (duplicates included).
    pub delivered_frames: u64,
    pub delivered_bytes: u64,
    pub dropped_loss: u64,
    pub dropped_queue: u64,
    pub dropped_mtu: u64,
    pub dropped_blackout: u64,
    pub dropped_filter: u64,
    /// Extra copies scheduled.
    pub duplicated: u64,
    /// Frames with a bit flipped.
    pub corrupted: u64,
    /// Extra copies of corrupted frames (duplication comes after corruption,
    /// so the copy is corrupted too): corrupted frames delivered are
    /// `corrupted + duplicated_corrupted`.
    pub duplicated_corrupted: u64,
    /// Frames held back for reordering (whether or not anything overtook them).
    pub reordered: u64,
    /// Frames the filter delayed.
    pub filter_delayed: u64,
    /// Most bytes ever waiting in the queue.
    pub queue_high_water: usize,
    /// Frames the CE threshold marked CE (RFC 3168 §5); the Not-ECT frames
    /// it dropped count in `dropped_queue`.
    pub ce_marked: u64,
}

impl LinkStats {
    /// Frames dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss
            + self.dropped_queue
            + self.dropped_mtu
            + self.dropped_blackout
            + self.dropped_filter
    }
}

/// Why a frame did not make it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropCause {
    Loss,
    Queue,
    Mtu,
    Blackout,
    Filter,
}

/// What becomes of a frame sent into a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    Dropped(DropCause),
    /// Arrives at `at`; a copy arrives at `copy_at` too.
    Deliver {
        at: Instant,
        copy_at: Option<Instant>,
    },
}

/// The state of one direction.
pub(crate) struct Direction {
    pub(crate) config: LinkConfig,
    pub(crate) stats: LinkStats,
    pub(crate) filter: Option<Filter>,
    rng: Rng,
    /// Gilbert-Elliott: currently in the bad state.
    ge_bad: bool,
    /// When the transmitter is next free, in units of 1/bandwidth µs (so
    /// serialization times add up exactly, with no rounding drift).
    busy_until: u128,
    /// Frames waiting for the transmitter: (start time in the units above, bytes).
    waiting: VecDeque<(u128, usize)>,
    queued_bytes: usize,
    /// Latest arrival scheduled in FIFO order; later frames never arrive before it.
    fifo_tail: Instant,
}

impl Direction {
    pub(crate) fn new(config: LinkConfig, rng: Rng) -> Self {
        Direction {
            config,
            stats: LinkStats::default(),
            filter: None,
            rng,
            ge_bad: false,
            busy_until: 0,
            waiting: VecDeque::new(),
            queued_bytes: 0,
            fifo_tail: Instant::ZERO,
        }
    }

    /// Replaces the configuration, keeping the queue and the transmitter's
    /// schedule (rescaled if the bandwidth changed).
    pub(crate) fn set_config(&mut self, config: LinkConfig) {
        if config.bandwidth != self.config.bandwidth {
            let rescale = |v: u128| match (self.config.bandwidth, config.bandwidth) {
                (Some(old), Some(new)) => v.div_ceil(u128::from(old)) * u128::from(new),
                _ => 0,
            };
            self.busy_until = rescale(self.busy_until);
            for w in &mut self.waiting {
                w.0 = rescale(w.0);
            }
        }
        self.config = config;
    }

    /// Decides the fate of `frame`, sent at `now`. May rewrite it (filter,
    /// corruption).
    pub(crate) fn transmit(&mut self, now: Instant, frame: &mut Vec<u8>) -> Fate {
        self.stats.offered_frames += 1;
        self.stats.offered_bytes += frame.len() as u64;

        if self.config.in_blackout(now) {
            return self.drop(DropCause::Blackout);
        }
        if let Some(mtu) = self.config.mtu
            && frame.len() > mtu.saturating_add(self.config.l2_header_len)
        {
            return self.drop(DropCause::Mtu);
        }
        let mut held = None;
        if let Some(filter) = &mut self.filter {
            match filter(now, frame) {
                FilterAction::Pass => {}
                FilterAction::Drop => return self.drop(DropCause::Filter),
                FilterAction::Delay(extra) => {
                    self.stats.filter_delayed += 1;
                    held = Some(extra);
                }
            }
        }

        if let Some(threshold) = self.config.ce_threshold
            && self.config.bandwidth.is_some()
            && self.backlog(now) > threshold
        {
            let l2 = self.config.l2_header_len;
            if !mark_ce(frame, l2) {
                return self.drop(DropCause::Queue);
            }
            self.stats.ce_marked += 1;
        }
        let Some(departed) = self.serialize(now, frame.len()) else {
            return self.drop(DropCause::Queue);
        };

        if self.lost() {
            return self.drop(DropCause::Loss);
        }

        let mut corrupted = false;
        if !frame.is_empty() && self.rng.chance(self.config.corrupt) {
            let bit = self.rng.below(frame.len() as u64 * 8);
            frame[(bit / 8) as usize] ^= 1 << (bit % 8);
            self.stats.corrupted += 1;
            corrupted = true;
        }

        let mut at = departed + self.config.delay;
        if !self.config.jitter.is_zero() {
            let extra = self.rng.below(self.config.jitter.total_micros() + 1);
            at += Duration::from_micros(extra);
        }
        if held.is_none() && self.rng.chance(self.config.reorder) {
            self.stats.reordered += 1;
            held = Some(self.config.reorder_delay);
        }
        match held {
            // Held back: does not wait for, or hold up, the FIFO.
            Some(extra) => at += extra,
            None => {
                at = at.max(self.fifo_tail);
                self.fifo_tail = at;
            }
        }

        let copy_at = if self.rng.chance(self.config.duplicate) {
            self.stats.duplicated += 1;
            self.stats.duplicated_corrupted += u64::from(corrupted);
            Some(at + self.config.duplicate_gap)
        } else {
            None
        };
        Fate::Deliver { at, copy_at }
    }

    fn drop(&mut self, cause: DropCause) -> Fate {
        let s = &mut self.stats;
        match cause {
            DropCause::Loss => s.dropped_loss += 1,
            DropCause::Queue => s.dropped_queue += 1,
            DropCause::Mtu => s.dropped_mtu += 1,
            DropCause::Blackout => s.dropped_blackout += 1,
            DropCause::Filter => s.dropped_filter += 1,
        }
        Fate::Dropped(cause)
    }

    /// Bytes waiting for the transmitter at `now` (frames whose
    /// transmission has started have left the queue).
    fn backlog(&mut self, now: Instant) -> usize {
        let Some(bw) = self.config.bandwidth else {
            return 0;
        };
        let now_scaled = u128::from(now.total_micros()) * u128::from(bw);
        while let Some(&(start, bytes)) = self.waiting.front() {
            if start > now_scaled {
                break;
            }
            self.waiting.pop_front();
            self.queued_bytes -= bytes;
        }
        self.queued_bytes
    }

    /// Puts a frame of `len` bytes through the transmitter; returns when its
    /// last bit leaves, or `None` if the queue is full.
    fn serialize(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(bw) = self.config.bandwidth else {
            return Some(now);
        };
        self.backlog(now);
        let bw = u128::from(bw);
        let now_scaled = u128::from(now.total_micros()) * bw;
        let start = now_scaled.max(self.busy_until);
        if start > now_scaled {
            // Transmitter busy: the frame must wait (drop-tail).
            if self.queued_bytes + len > self.config.queue_limit {
                return None;
            }
            self.waiting.push_back((start, len));
            self.queued_bytes += len;
            self.stats.queue_high_water = self.stats.queue_high_water.max(self.queued_bytes);
        }
        // len bytes at bw bits/s take len * 8 * 10^6 / bw µs.
        self.busy_until = start + len as u128 * 8 * 1_000_000;
        let done = self.busy_until.div_ceil(bw);
        Some(Instant::from_micros(
            u64::try_from(done).unwrap_or(u64::MAX),
        ))
    }

    fn lost(&mut self) -> bool {
        match self.config.loss {
            Loss::None => false,
            Loss::Random { p } => self.rng.chance(p),
            Loss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_in_good,
                loss_in_bad,
            } => {
                let lost = if self.ge_bad {
                    self.rng.chance(loss_in_bad)
                } else {
                    self.rng.chance(loss_in_good)
                };
                let flip = if self.ge_bad {
                    p_bad_to_good
                } else {
                    p_good_to_bad
                };
                if self.rng.chance(flip) {
                    self.ge_bad = !self.ge_bad;
                }
                lost
            }
        }
    }
}

/// Marks the IPv4 packet after `l2` bytes of link header CE, if it is ECT
/// (RFC 3168 §5: a router "sets the CE codepoint ... instead of dropping
/// the packet" only for ECT packets); fixes the header checksum. Returns
/// false for a Not-ECT or non-IPv4 frame, which the AQM drops instead.
fn mark_ce(frame: &mut [u8], l2: usize) -> bool {
    const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
    if l2 >= 14 && frame.get(12..14) != Some(&ETHERTYPE_IPV4[..]) {
        return false;
    }
    let Some(ip) = frame.get_mut(l2..) else {
        return false;
    };
    let Ok(mut packet) = Ipv4Packet::new_checked(ip) else {
        return false;
    };
    let tos = packet.dscp_ecn();
    if packet.version() != 4 || tos & 0b11 == 0 {
        return false;
    }
    packet.set_dscp_ecn(tos | 0b11);
    packet.fill_checksum();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_proto::wire::Checksum;
    use synack_proto::wire::ipv4::{IpProtocol, Ipv4Repr};

    fn ip_frame(tos: u8) -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: [192, 0, 2, 1].into(),
            dst_addr: [198, 51, 100, 1].into(),
            protocol: IpProtocol::Tcp,
            payload_len: 100,
            ttl: 64,
            dscp_ecn: tos,
            ident: 7,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        let mut buf = vec![0xAA; 120];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), Checksum::Full);
        buf
    }

    /// A 10 Mbit/s link marking above 3,000 bytes queued: a burst of
    /// 1,000 frames of 1,000 bytes offered at once.
    fn burst(tos: u8) -> LinkStats {
        let config = LinkConfig::new()
            .bandwidth(10_000_000)
            .queue_limit(100_000)
            .ce_threshold(3_000)
            .l2_header_len(0);
        let mut d = Direction::new(config, Rng::from_seed(1));
        let mut marked = 0;
        for _ in 0..20 {
            let mut f = ip_frame(tos);
            f.resize(1000, 0);
            if let Fate::Deliver { .. } = d.transmit(Instant::ZERO, &mut f) {
                let p = Ipv4Packet::new_checked(&f[..]).expect("still a packet");
                assert!(p.verify_checksum(), "checksum fixed after marking");
                marked += u64::from(p.ecn() == 0b11);
            }
        }
        assert_eq!(marked, d.stats.ce_marked);
        d.stats
    }

    #[test]
    fn above_the_threshold_ect_frames_are_marked_not_dropped() {
        // RFC 3168 §5: mark "instead of dropping". The first frame is on
        // the wire at once; three more wait before the threshold passes.
        let s = burst(0b10);
        assert_eq!(s.dropped(), 0);
        assert_eq!(s.ce_marked, 20 - 1 - 3 - 1);
        let s = burst(0b01);
        assert_eq!((s.dropped(), s.ce_marked), (0, 15), "ECT(1) too");
    }

    #[test]
    fn above_the_threshold_not_ect_frames_are_dropped() {
        let s = burst(0);
        assert_eq!(s.ce_marked, 0);
        assert_eq!((s.dropped_queue, s.dropped()), (15, 15));
        assert_eq!(s.offered_frames, 20);
    }

    #[test]
    fn marking_needs_an_ipv4_header() {
        let mut short = vec![0x45, 0x02];
        assert!(!mark_ce(&mut short, 0));
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(!mark_ce(&mut arp, 14));
        let mut eth = vec![0u8; 14];
        eth[12..14].copy_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&ip_frame(0b10));
        assert!(mark_ce(&mut eth, 14));
        assert_eq!(Ipv4Packet::new_checked(&eth[14..]).unwrap().ecn(), 0b11);
    }
}
