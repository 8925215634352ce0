//! Simple nodes for tests and examples: a traffic source, a recorder, a mirror.
//!
//! [`Blaster`] frames are Ethernet II frames with the local experimental
//! EtherType 0x88b5 (IEEE 802), so Wireshark shows them as such:
//!
//! ```text
//! 0..6    destination 02:00:00:00:00:02     6..12  source 02:00:00:00:00:01
//! 12..14  EtherType 0x88b5
//! 14..22  sequence number, big-endian u64   22..30 send time in µs, big-endian u64
//! 30..    filler: byte i is (seq + i) mod 256
//! ```

use synack_proto::{Duration, Instant};

use crate::node::{Node, PortId};

/// EtherType of the frames [`Blaster`] sends (IEEE 802 local experimental 1).
pub const BLASTER_ETHERTYPE: u16 = 0x88b5;
/// Smallest Blaster frame: the header and the two numbers.
pub const BLASTER_MIN_LEN: usize = 30;

/// Sends `count` numbered frames of `len` bytes on one port, the first at
/// `start`, then one every `interval`.
#[derive(Clone, Debug)]
pub struct Blaster {
    port: PortId,
    count: u64,
    len: usize,
    interval: Duration,
    next_seq: u64,
    next_at: Instant,
}

impl Blaster {
    /// `len` is raised to [`BLASTER_MIN_LEN`] if smaller. An `interval` of
    /// zero sends everything at `start` in one burst.
    pub fn new(port: PortId, count: u64, len: usize, start: Instant, interval: Duration) -> Self {
        Blaster {
            port,
            count,
            len: len.max(BLASTER_MIN_LEN),
            interval,
            next_seq: 0,
            next_at: start,
        }
    }

    /// Frames sent so far.
    pub fn sent(&self) -> u64 {
        self.next_seq
    }

    /// True when every frame has been sent.
    pub fn done(&self) -> bool {
        self.next_seq >= self.count
    }

    /// Writes frame `seq` (sent at `sent_at`) into `buf[..len]`. `len` must be
    /// at least [`BLASTER_MIN_LEN`] and at most `buf.len()`.
    pub fn write_frame(buf: &mut [u8], seq: u64, sent_at: Instant, len: usize) {
        let frame = &mut buf[..len];
        frame[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        frame[12..14].copy_from_slice(&BLASTER_ETHERTYPE.to_be_bytes());
        frame[14..22].copy_from_slice(&seq.to_be_bytes());
        frame[22..30].copy_from_slice(&sent_at.total_micros().to_be_bytes());
        for (i, b) in frame[30..].iter_mut().enumerate() {
            *b = seq.wrapping_add(i as u64) as u8;
        }
    }

    /// Frame `seq` as a new vector, e.g. to compare with what arrived.
    pub fn frame(seq: u64, sent_at: Instant, len: usize) -> Vec<u8> {
        let mut v = vec![0; len.max(BLASTER_MIN_LEN)];
        let n = v.len();
        Blaster::write_frame(&mut v, seq, sent_at, n);
        v
    }
}

impl Node for Blaster {
    fn handle_frame(&mut self, _now: Instant, _port: PortId, _frame: &[u8]) {}

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(PortId, usize)> {
        if self.done() || now < self.next_at || buf.len() < self.len {
            return None;
        }
        let seq = self.next_seq;
        // Stamp the scheduled time, not `now`, so the numbers do not depend on
        // when the world got round to polling.
        Blaster::write_frame(buf, seq, self.next_at, self.len);
        self.next_seq += 1;
        self.next_at += self.interval;
        Some((self.port, self.len))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.done()).then_some(self.next_at)
    }

    fn handle_timeout(&mut self, _now: Instant) {
        // poll_transmit checks the time itself.
    }
}

/// One frame a [`Sink`] received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arrival {
    pub at: Instant,
    pub port: PortId,
    pub len: usize,
    /// The Blaster sequence number, or `None` if the frame is too short or
    /// not a Blaster frame.
    pub seq: Option<u64>,
    /// The send time the Blaster stamped in it.
    pub sent_at: Option<Instant>,
}

/// Records every frame it receives; sends nothing.
#[derive(Clone, Debug, Default)]
pub struct Sink {
    pub arrivals: Vec<Arrival>,
    /// Copies of the frames, when made with [`Sink::keeping_frames`].
    pub frames: Vec<Vec<u8>>,
    keep_frames: bool,
}

impl Sink {
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink that also keeps a copy of every frame.
    pub fn keeping_frames() -> Self {
        Sink {
            keep_frames: true,
            ..Self::default()
        }
    }

    /// The sequence numbers in arrival order.
    pub fn seqs(&self) -> Vec<u64> {
        self.arrivals.iter().filter_map(|a| a.seq).collect()
    }
}

impl Node for Sink {
    fn handle_frame(&mut self, now: Instant, port: PortId, frame: &[u8]) {
        let blaster =
            frame.len() >= BLASTER_MIN_LEN && frame[12..14] == BLASTER_ETHERTYPE.to_be_bytes();
        let field = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&frame[at..at + 8]);
            u64::from_be_bytes(b)
        };
        self.arrivals.push(Arrival {
            at: now,
            port,
            len: frame.len(),
            seq: blaster.then(|| field(14)),
            sent_at: blaster.then(|| Instant::from_micros(field(22))),
        });
        if self.keep_frames {
            self.frames.push(frame.to_vec());
        }
    }

    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<(PortId, usize)> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

/// Sends every frame it receives straight back out of the port it came in
/// on, at most `limit` times in all.
#[derive(Clone, Debug)]
pub struct Reflector {
    limit: u64,
    reflected: u64,
    /// The frame to send back and its port, if any.
    pending: Option<PortId>,
    buf: Vec<u8>,
}

impl Reflector {
    pub fn new(limit: u64) -> Self {
        Reflector {
            limit,
            reflected: 0,
            pending: None,
            buf: Vec::new(),
        }
    }

    pub fn reflected(&self) -> u64 {
        self.reflected
    }

    /// Queues `frame` to be sent on `port` as if it had just arrived there
    /// (use through [`World::node_mut`](crate::World::node_mut) to start a
    /// ping-pong).
    pub fn inject(&mut self, port: PortId, frame: &[u8]) {
        self.handle_frame(Instant::ZERO, port, frame);
    }
}

impl Node for Reflector {
    fn handle_frame(&mut self, _now: Instant, port: PortId, frame: &[u8]) {
        if self.reflected < self.limit {
            self.buf.clear();
            self.buf.extend_from_slice(frame);
            self.pending = Some(port);
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<(PortId, usize)> {
        let port = self.pending.take()?;
        let len = self.buf.len().min(buf.len());
        buf[..len].copy_from_slice(&self.buf[..len]);
        self.reflected += 1;
        Some((port, len))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}
