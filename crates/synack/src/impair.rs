//! `Impaired<D>`: loss, delay with jitter, reordering, duplication and
//! corruption for any [`Device`], in either direction, because this machine
//! has no netem. Seeded: the same seed and the same frames at the same times
//! give the same impairments.
//!
//! Per frame, in this order (as netem does): lose it; duplicate it (the copy
//! gets its own delay, and is not lost or corrupted again); corrupt it (one
//! random bit flipped); hold it for `delay` ± `jitter` (uniform), plus
//! `reorder_delay` for a `reorder` fraction of frames so that later frames
//! overtake them. Jitter larger than the gap between frames reorders too.
//!
//! Held frames wait in a bounded queue with their release time. Outgoing ones
//! go to the inner device, and incoming ones are returned, from the first
//! `send` or `recv` call at or after that time: the driver must call `recv`
//! when [`poll_timeout`](Device::poll_timeout) passes even if the fd is not
//! readable.
//!
//! An error from the inner device (e.g. `WouldBlock` from a full TAP queue)
//! is returned from the call that released the frame; that frame is gone,
//! as if lost on the wire.
//!
//! Every method has a `*_at(now, ...)` form taking the time explicitly; the
//! `Device` methods pass `Instant::now()`. Tests use the explicit form.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use synack_proto::Rng;

use crate::device::{Device, Medium, earliest};

/// Frames held per direction before new ones are dropped (netem's default limit).
pub const DEFAULT_QUEUE_LIMIT: usize = 1000;
/// Most frames one `recv` call pulls from the inner device before giving up
/// for now (everything lost, or everything held): keeps a call bounded.
const RECV_BATCH: usize = 64;

/// The impairments of one direction. `Default` is a perfect link.
#[derive(Clone, Debug, PartialEq)]
pub struct Impairment {
    /// Probability in `[0, 1]` that a frame is dropped.
    pub loss: f64,
    /// Probability that a frame is sent twice.
    pub duplicate: f64,
    /// Probability that one random bit of a frame is flipped.
    pub corrupt: f64,
    /// Probability that a frame is held `reorder_delay` longer than the others.
    pub reorder: f64,
    /// Extra hold for reordered frames. Default 1 ms.
    pub reorder_delay: Duration,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Delay varies uniformly within `delay ± jitter` (never below zero).
    pub jitter: Duration,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            loss: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(1),
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
        }
    }
}

impl Impairment {
    /// Only random loss with probability `p`.
    pub fn loss(p: f64) -> Impairment {
        Impairment {
            loss: p,
            ..Impairment::default()
        }
    }
}

/// Both directions, the seed, and the queue bound.
#[derive(Clone, Debug, PartialEq)]
pub struct ImpairConfig {
    /// Applied to frames the stack sends.
    pub send: Impairment,
    /// Applied to frames the device receives.
    pub recv: Impairment,
    pub seed: u64,
    /// Frames held per direction; more are dropped and counted as `overflow`.
    pub queue_limit: usize,
}

impl ImpairConfig {
    /// The same impairment both ways.
    pub fn symmetric(imp: Impairment, seed: u64) -> ImpairConfig {
        ImpairConfig {
            send: imp.clone(),
            recv: imp,
            seed,
            queue_limit: DEFAULT_QUEUE_LIMIT,
        }
    }
}

/// What one direction did. Every frame offered is either `lost`, dropped
/// as `overflow`, or passed on (`passed`, which also counts duplicates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Frames offered (sent by the stack, or received from the inner device).
    pub frames: u64,
    /// Frames (and duplicates) handed on: to the inner device or to the caller.
    pub passed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    /// Frames held back by `reorder_delay`.
    pub reordered: u64,
    /// Frames (and duplicates) held for a nonzero time.
    pub delayed: u64,
    /// Frames dropped because the hold queue was full.
    pub overflow: u64,
}

/// Counters for both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    pub send: DirectionStats,
    pub recv: DirectionStats,
}

/// A frame waiting for its release time. Ordered by (release, arrival) so
/// frames with equal times keep their order.
#[derive(Debug)]
struct Held {
    release: Instant,
    seq: u64,
    frame: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.release, self.seq).cmp(&(other.release, other.seq))
    }
}

/// One direction's state.
#[derive(Debug)]
struct Lane {
    imp: Impairment,
    rng: Rng,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
    stats: DirectionStats,
}

/// What to do with one frame, drawn from the lane's RNG.
#[derive(Debug, PartialEq)]
struct Fate {
    /// Hold times of the frame and, if duplicated, its copy.
    hold: Duration,
    dup_hold: Option<Duration>,
    /// (byte index, bit) to flip.
    flip: Option<(usize, u8)>,
}

impl Lane {
    fn new(imp: Impairment, rng: Rng) -> Lane {
        Lane {
            imp,
            rng,
            held: BinaryHeap::new(),
            seq: 0,
            stats: DirectionStats::default(),
        }
    }

    fn draw_hold(&mut self) -> Duration {
        let mut hold = self.imp.delay;
        if !self.imp.jitter.is_zero() {
            let span = self.imp.jitter.as_micros().saturating_mul(2);
            let offset = self
                .rng
                .below(u64::try_from(span).unwrap_or(u64::MAX).saturating_add(1));
            // delay - jitter + offset, clamped at zero.
            hold = (hold + Duration::from_micros(offset)).saturating_sub(self.imp.jitter);
        }
        if self.rng.chance(self.imp.reorder) {
            self.stats.reordered += 1;
            hold += self.imp.reorder_delay;
        }
        hold
    }

    /// Decides a frame's fate; `None` if it is lost.
    fn fate(&mut self, len: usize) -> Option<Fate> {
        self.stats.frames += 1;
        if self.rng.chance(self.imp.loss) {
            self.stats.lost += 1;
            return None;
        }
        let dup = self.rng.chance(self.imp.duplicate);
        let flip = (len > 0 && self.rng.chance(self.imp.corrupt)).then(|| {
            self.stats.corrupted += 1;
            (self.rng.below(len as u64) as usize, self.rng.below(8) as u8)
        });
        let hold = self.draw_hold();
        let dup_hold = dup.then(|| {
            self.stats.duplicated += 1;
            self.draw_hold()
        });
        Some(Fate {
            hold,
            dup_hold,
            flip,
        })
    }

    /// Queues a copy of `frame` (with `flip` applied) for `now + hold`;
    /// counts an overflow instead when the queue is full.
    fn hold(
        &mut self,
        now: Instant,
        hold: Duration,
        frame: &[u8],
        flip: Option<(usize, u8)>,
        limit: usize,
    ) {
        if self.held.len() >= limit {
            self.stats.overflow += 1;
            return;
        }
        if !hold.is_zero() {
            self.stats.delayed += 1;
        }
        let mut frame = frame.to_vec();
        if let Some((at, bit)) = flip {
            frame[at] ^= 1 << bit;
        }
        self.seq += 1;
        self.held.push(Reverse(Held {
            release: now + hold,
            seq: self.seq,
            frame,
        }));
    }

    fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.held.peek()?.0.release > now {
            return None;
        }
        self.held.pop().map(|Reverse(h)| h.frame)
    }

    fn has_due(&self, now: Instant) -> bool {
        self.held.peek().is_some_and(|h| h.0.release <= now)
    }

    fn next_release(&self) -> Option<Instant> {
        self.held.peek().map(|h| h.0.release)
    }
}

/// A device with impairments on its send and receive paths.
#[derive(Debug)]
pub struct Impaired<D> {
    inner: D,
    send: Lane,
    recv: Lane,
    queue_limit: usize,
}

impl<D: Device> Impaired<D> {
    pub fn new(inner: D, config: ImpairConfig) -> Impaired<D> {
        // Each direction has its own stream, so traffic one way does not
        // change what happens the other way.
        let mut root = Rng::from_seed(config.seed);
        let send_rng = root.fork();
        let recv_rng = root.fork();
        Impaired {
            inner,
            send: Lane::new(config.send, send_rng),
            recv: Lane::new(config.recv, recv_rng),
            queue_limit: config.queue_limit,
        }
    }

    pub fn stats(&self) -> ImpairStats {
        ImpairStats {
            send: self.send.stats,
            recv: self.recv.stats,
        }
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    pub fn into_inner(self) -> D {
        self.inner
    }

    /// Frames held in each direction (send, receive).
    pub fn held(&self) -> (usize, usize) {
        (self.send.held.len(), self.recv.held.len())
    }

    /// Hands outgoing frames whose time has come to the inner device.
    fn flush_send(&mut self, now: Instant) -> io::Result<()> {
        while let Some(frame) = self.send.pop_due(now) {
            self.send.stats.passed += 1;
            self.inner.send(&frame)?;
        }
        Ok(())
    }

    /// `Device::send` at time `now`.
    pub fn send_at(&mut self, now: Instant, frame: &[u8]) -> io::Result<()> {
        self.flush_send(now)?;
        let Some(fate) = self.send.fate(frame.len()) else {
            return Ok(());
        };
        if let Some(dup_hold) = fate.dup_hold {
            // The copy is taken before corruption, as netem does.
            self.send.hold(now, dup_hold, frame, None, self.queue_limit);
        }
        if fate.flip.is_none() && fate.hold.is_zero() {
            // The common case: straight through, no copy.
            self.send.stats.passed += 1;
            self.inner.send(frame)?;
        } else {
            self.send
                .hold(now, fate.hold, frame, fate.flip, self.queue_limit);
        }
        // Zero-hold copies (a corrupted frame, a duplicate) go out now.
        self.flush_send(now)
    }

    /// `Device::recv` at time `now`.
    pub fn recv_at(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.flush_send(now)?;
        for _ in 0..RECV_BATCH {
            if self.recv.has_due(now) {
                break;
            }
            let Some(n) = self.inner.recv(buf)? else {
                break;
            };
            let Some(fate) = self.recv.fate(n) else {
                continue;
            };
            if let Some(dup_hold) = fate.dup_hold {
                self.recv
                    .hold(now, dup_hold, &buf[..n], None, self.queue_limit);
            }
            if let Some((at, bit)) = fate.flip {
                buf[at] ^= 1 << bit;
            }
            if fate.hold.is_zero() && !self.recv.has_due(now) {
                // The common case: straight through, no copy.
                self.recv.stats.passed += 1;
                return Ok(Some(n));
            }
            self.recv
                .hold(now, fate.hold, &buf[..n], None, self.queue_limit);
        }
        let Some(frame) = self.recv.pop_due(now) else {
            return Ok(None);
        };
        if frame.len() > buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "receive buffer of {} bytes for a {}-byte frame",
                    buf.len(),
                    frame.len()
                ),
            ));
        }
        self.recv.stats.passed += 1;
        buf[..frame.len()].copy_from_slice(&frame);
        Ok(Some(frame.len()))
    }
}

impl<D: Device> Device for Impaired<D> {
    fn medium(&self) -> Medium {
        self.inner.medium()
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.recv_at(Instant::now(), buf)
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.send_at(Instant::now(), frame)
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.fd()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        earliest(
            self.inner.poll_timeout(),
            earliest(self.send.next_release(), self.recv.next_release()),
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Pipe;

    const N: usize = 10_000;

    fn pipe() -> (Pipe, Pipe) {
        Pipe::pair_with_capacity(Medium::Ethernet, 1500, 4 * N)
    }

    /// Frame `i`: its index in the first 4 bytes, then zeros.
    fn frame(i: usize) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(&(i as u32).to_be_bytes());
        f
    }

    fn drain(d: &mut impl Device) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 1514];
        let mut out = Vec::new();
        for _ in 0..10 * N {
            match d.recv(&mut buf).unwrap() {
                Some(n) => out.push(buf[..n].to_vec()),
                None => break,
            }
        }
        out
    }

    fn send_only(imp: Impairment, seed: u64) -> ImpairConfig {
        ImpairConfig {
            send: imp,
            recv: Impairment::default(),
            seed,
            queue_limit: DEFAULT_QUEUE_LIMIT,
        }
    }

    /// `count` is within 5 standard deviations of `n * p`.
    fn assert_rate(count: u64, n: usize, p: f64, what: &str) {
        let mean = n as f64 * p;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (count as f64 - mean).abs() <= 5.0 * sd,
            "{what}: {count} of {n}, expected {mean:.0} ± {:.0}",
            5.0 * sd
        );
    }

    #[test]
    fn perfect_link_passes_everything_in_order_without_holding() {
        let (a, mut b) = pipe();
        let mut a = Impaired::new(a, ImpairConfig::symmetric(Impairment::default(), 1));
        let t = Instant::now();
        for i in 0..100 {
            a.send_at(t, &frame(i)).unwrap();
        }
        assert_eq!(a.held(), (0, 0));
        assert_eq!(a.poll_timeout(), None);
        assert_eq!(drain(&mut b), (0..100).map(frame).collect::<Vec<_>>());
        assert_eq!(a.stats().send.passed, 100);
    }

    #[test]
    fn send_loss_rate_is_within_sampling_error() {
        let (a, mut b) = pipe();
        let mut a = Impaired::new(a, send_only(Impairment::loss(0.1), 7));
        let t = Instant::now();
        for i in 0..N {
            a.send_at(t, &frame(i)).unwrap();
        }
        let got = drain(&mut b).len() as u64;
        let s = a.stats().send;
        assert_rate(s.lost, N, 0.1, "lost");
        assert_eq!(got + s.lost, N as u64);
        assert_eq!(s.passed, got);
    }

    #[test]
    fn recv_loss_applies_to_received_frames_only() {
        let (mut a, b) = pipe();
        let config = ImpairConfig {
            send: Impairment::default(),
            recv: Impairment::loss(0.25),
            seed: 11,
            queue_limit: DEFAULT_QUEUE_LIMIT,
        };
        let mut b = Impaired::new(b, config);
        for i in 0..N {
            a.send(&frame(i)).unwrap();
        }
        let got = drain(&mut b);
        let s = b.stats();
        assert_rate(s.recv.lost, N, 0.25, "lost");
        assert_eq!(got.len() as u64 + s.recv.lost, N as u64);
        // Survivors keep their order.
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s.send, DirectionStats::default());
    }

    #[test]
    fn duplication_rate_is_within_sampling_error() {
        let (a, mut b) = pipe();
        let imp = Impairment {
            duplicate: 0.05,
            ..Impairment::default()
        };
        let mut a = Impaired::new(a, send_only(imp, 3));
        let t = Instant::now();
        for i in 0..N {
            a.send_at(t, &frame(i)).unwrap();
        }
        let got = drain(&mut b);
        let dups = a.stats().send.duplicated;
        assert_rate(dups, N, 0.05, "duplicated");
        assert_eq!(got.len() as u64, N as u64 + dups);
        // Each duplicate is an exact copy of a frame that also arrived.
        let mut seen = vec![0u32; N];
        for f in &got {
            seen[u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c == 1 || c == 2));
        assert_eq!(seen.iter().filter(|&&c| c == 2).count() as u64, dups);
    }

    #[test]
    fn corruption_flips_exactly_one_bit_at_the_configured_rate() {
        let (a, mut b) = pipe();
        let imp = Impairment {
            corrupt: 0.1,
            ..Impairment::default()
        };
        let mut a = Impaired::new(a, send_only(imp, 5));
        let t = Instant::now();
        let zeros = [0u8; 100];
        for _ in 0..N {
            a.send_at(t, &zeros).unwrap();
        }
        let got = drain(&mut b);
        assert_eq!(got.len(), N);
        let flipped: Vec<u32> = got
            .iter()
            .map(|f| f.iter().map(|b| b.count_ones()).sum())
            .collect();
        assert!(flipped.iter().all(|&bits| bits <= 1));
        let corrupted = flipped.iter().filter(|&&bits| bits == 1).count() as u64;
        assert_eq!(corrupted, a.stats().send.corrupted);
        assert_rate(corrupted, N, 0.1, "corrupted");
        // The bit positions spread over the frame.
        let last_byte_hits = got.iter().filter(|f| f[99] != 0).count();
        assert!(last_byte_hits > 0);
    }

    #[test]
    fn send_delay_holds_frames_until_their_release_time() {
        let (a, mut b) = pipe();
        let imp = Impairment {
            delay: Duration::from_millis(10),
            ..Impairment::default()
        };
        let mut a = Impaired::new(a, send_only(imp, 1));
        let t0 = Instant::now();
        a.send_at(t0, &frame(1)).unwrap();
        a.send_at(t0 + Duration::from_millis(1), &frame(2)).unwrap();
        assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_millis(10)));
        assert!(drain(&mut b).is_empty());
        let mut buf = [0u8; 1514];
        assert_eq!(
            a.recv_at(t0 + Duration::from_micros(9_999), &mut buf)
                .unwrap(),
            None
        );
        assert!(drain(&mut b).is_empty());
        // At the release time the driver's recv call lets the first one out.
        assert_eq!(
            a.recv_at(t0 + Duration::from_millis(10), &mut buf).unwrap(),
            None
        );
        assert_eq!(drain(&mut b), vec![frame(1)]);
        assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_millis(11)));
        assert_eq!(
            a.recv_at(t0 + Duration::from_millis(11), &mut buf).unwrap(),
            None
        );
        assert_eq!(drain(&mut b), vec![frame(2)]);
        assert_eq!(a.poll_timeout(), None);
        assert_eq!(a.stats().send.delayed, 2);
    }

    #[test]
    fn recv_delay_returns_frames_at_their_release_time() {
        let (mut a, b) = pipe();
        let config = ImpairConfig {
            send: Impairment::default(),
            recv: Impairment {
                delay: Duration::from_millis(5),
                ..Impairment::default()
            },
            seed: 1,
            queue_limit: DEFAULT_QUEUE_LIMIT,
        };
        let mut b = Impaired::new(b, config);
        let t0 = Instant::now();
        a.send(&frame(9)).unwrap();
        let mut buf = [0u8; 1514];
        assert_eq!(b.recv_at(t0, &mut buf).unwrap(), None);
        assert_eq!(b.held(), (0, 1));
        assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_millis(5)));
        assert_eq!(
            b.recv_at(t0 + Duration::from_micros(4_999), &mut buf)
                .unwrap(),
            None
        );
        let n = b.recv_at(t0 + Duration::from_millis(5), &mut buf).unwrap();
        assert_eq!(n, Some(64));
        assert_eq!(buf[..64], frame(9)[..]);
    }

    /// Sends `n` frames at `t0` and steps the clock in 100 µs ticks until all
    /// have gone through; returns each frame's index and delivery time.
    fn deliveries(
        a: &mut Impaired<Pipe>,
        b: &mut Pipe,
        n: usize,
        t0: Instant,
    ) -> Vec<(u32, Duration)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1514];
        for tick in 0..10_000u32 {
            let now = t0 + Duration::from_micros(100) * tick;
            let _ = a.recv_at(now, &mut buf).unwrap();
            for f in drain(b) {
                out.push((u32::from_be_bytes([f[0], f[1], f[2], f[3]]), now - t0));
            }
            if out.len() >= n && a.held().0 == 0 {
                break;
            }
        }
        out
    }

    #[test]
    fn jitter_spreads_delay_within_its_bounds() {
        let (a, mut b) = pipe();
        let imp = Impairment {
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(2),
            ..Impairment::default()
        };
        let mut a = Impaired::new(a, send_only(imp, 21));
        let t0 = Instant::now();
        for i in 0..500 {
            a.send_at(t0, &frame(i)).unwrap();
        }
        let got = deliveries(&mut a, &mut b, 500, t0);
        assert_eq!(got.len(), 500);
        let min = got.iter().map(|g| g.1).min().unwrap();
        let max = got.iter().map(|g| g.1).max().unwrap();
        assert!(min >= Duration::from_millis(8), "{min:?}");
        assert!(max <= Duration::from_millis(12), "{max:?}");
        assert!(min < Duration::from_micros(8_500) && max > Duration::from_micros(11_500));
    }

    #[test]
    fn reordering_lets_later_frames_overtake_held_ones() {
        let (a, mut b) = pipe();
        let imp = Impairment {
            reorder: 0.1,
            reorder_delay: Duration::from_millis(1),
            ..Impairment::default()
        };
        let mut a = Impaired::new(a, send_only(imp, 9));
        let t0 = Instant::now();
        let mut got = Vec::new();
        // One frame every 10 µs; a held frame is overtaken by ~100 others.
        for i in 0..N {
            a.send_at(t0 + Duration::from_micros(10) * i as u32, &frame(i))
                .unwrap();
            got.extend(drain(&mut b));
        }
        let end = t0 + Duration::from_secs(1);
        let _ = a.recv_at(end, &mut [0u8; 1514]).unwrap();
        got.extend(drain(&mut b));
        let order: Vec<u32> = got
            .iter()
            .map(|f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..N as u32).collect::<Vec<_>>(),
            "a frame was lost or duplicated"
        );
        let reordered = a.stats().send.reordered;
        assert_rate(reordered, N, 0.1, "reordered");
        // A held frame arrives after frames sent later than it.
        let late = order.windows(2).filter(|w| w[0] > w[1]).count() as u64;
        assert!(
            late > reordered / 2,
            "{late} inversions for {reordered} held frames"
        );
    }

    #[test]
    fn same_seed_same_impairments_other_seed_differs() {
        let run = |seed| {
            let (a, mut b) = pipe();
            let imp = Impairment {
                loss: 0.2,
                duplicate: 0.1,
                corrupt: 0.1,
                ..Impairment::default()
            };
            let mut a = Impaired::new(a, send_only(imp, seed));
            let t = Instant::now();
            for i in 0..1000 {
                a.send_at(t, &frame(i)).unwrap();
            }
            drain(&mut b)
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn full_hold_queue_drops_and_counts_overflow() {
        let (a, mut b) = pipe();
        let config = ImpairConfig {
            queue_limit: 10,
            ..send_only(
                Impairment {
                    delay: Duration::from_secs(1),
                    ..Impairment::default()
                },
                1,
            )
        };
        let mut a = Impaired::new(a, config);
        let t0 = Instant::now();
        for i in 0..25 {
            a.send_at(t0, &frame(i)).unwrap();
        }
        assert_eq!(a.stats().send.overflow, 15);
        let _ = a
            .recv_at(t0 + Duration::from_secs(1), &mut [0u8; 1514])
            .unwrap();
        assert_eq!(drain(&mut b), (0..10).map(frame).collect::<Vec<_>>());
    }
}
