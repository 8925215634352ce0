//! Two stacks back to back in memory, driven by a tight loop on one core.
//!
//! This is the fair in-memory setup: no simulator, no event queue, no
//! threads. Each [`Pair::step`] polls host A (frames from B in, frames to B
//! out) and then host B; frames move between the two by handing over pooled
//! buffers, so the only copies are the stacks' own (application data into
//! and out of socket buffers, segments into frames) and the only checksums
//! are theirs.
//!
//! Time is the wall clock since the pair was made, plus virtual jumps: when
//! nothing moves and a host is waiting for a timer (a delayed ACK, say) the
//! loop jumps the clock to that timer instead of spinning, and counts the
//! jump. Rates are always computed from wall time, so jumps cost nothing and
//! gain nothing.

use std::net::SocketAddrV4;
use std::time::Instant as WallInstant;

use synack_proto::{Duration, Instant};

use crate::frames::Frames;
use crate::stack::{BenchStack, Conns, HostConfig, SERVER_ADDR, TcpState};

/// Wall time since a start, plus virtual jumps.
#[derive(Debug)]
pub struct Clock {
    start: WallInstant,
    skipped: Duration,
    jumps: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            start: WallInstant::now(),
            skipped: Duration::ZERO,
            jumps: 0,
        }
    }

    pub fn now(&self) -> Instant {
        Instant::ZERO + Duration::from(self.start.elapsed()) + self.skipped
    }

    /// Moves the clock forward to `to` (no-op if it has passed).
    pub fn jump_to(&mut self, to: Instant) {
        let now = self.now();
        if to > now {
            self.skipped += to - now;
            self.jumps += 1;
        }
    }

    /// Jumps taken so far.
    pub fn jumps(&self) -> u64 {
        self.jumps
    }
}

/// Why a driven exchange did not finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriveError {
    /// Nothing to deliver and no timer pending, with work left.
    Stalled(String),
    /// The step bound ran out.
    TooManySteps(String),
}

impl std::fmt::Display for DriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriveError::Stalled(what) => write!(f, "stalled: {what}"),
            DriveError::TooManySteps(what) => write!(f, "step bound reached: {what}"),
        }
    }
}

impl std::error::Error for DriveError {}

/// Host A (the client side) and host B (the server side) joined by two
/// frame queues.
#[derive(Debug)]
pub struct Pair<S> {
    pub a: S,
    pub b: S,
    /// Frames from A to B.
    pub ab: Frames,
    /// Frames from B to A.
    pub ba: Frames,
    pub clock: Clock,
}

impl<S: BenchStack> Pair<S> {
    pub fn new(a: &HostConfig, b: &HostConfig) -> Pair<S> {
        Pair {
            a: S::new(a),
            b: S::new(b),
            ab: Frames::new(),
            ba: Frames::new(),
            clock: Clock::new(),
        }
    }

    /// Polls A, then B. Returns how many frames were sent.
    pub fn step(&mut self) -> u64 {
        let before = self.ab.pushed() + self.ba.pushed();
        let now = self.clock.now();
        self.a.poll(now, &mut self.ba, &mut self.ab);
        self.b.poll(now, &mut self.ab, &mut self.ba);
        self.ab.pushed() + self.ba.pushed() - before
    }

    /// Nothing moved: jump to the earliest timer of either host. `false` if
    /// neither has one (the exchange is stuck).
    pub fn wait_for_timer(&mut self) -> bool {
        let now = self.clock.now();
        let next = match (self.a.poll_at(now), self.b.poll_at(now)) {
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => return false,
        };
        self.clock.jump_to(next);
        true
    }

    /// Runs `step` until `done(pair)` holds, jumping over idle timer waits.
    /// At most `max_steps` steps.
    pub fn drive(
        &mut self,
        max_steps: u64,
        what: &str,
        mut done: impl FnMut(&mut Pair<S>) -> bool,
    ) -> Result<(), DriveError> {
        for _ in 0..max_steps {
            if done(self) {
                return Ok(());
            }
            if self.step() == 0 && !done(self) && !self.wait_for_timer() {
                return Err(DriveError::Stalled(what.to_string()));
            }
        }
        if done(self) {
            Ok(())
        } else {
            Err(DriveError::TooManySteps(what.to_string()))
        }
    }

    /// Opens `n` connections from A to B and leaves them established and
    /// idle, `batch` at a time. Server ports start at `first_port`, one more
    /// every 50,000 connections; client ports count up from 10,000 per
    /// server port. Returns the (client, server) sockets.
    pub fn open_idle(
        &mut self,
        n: usize,
        batch: usize,
        first_port: u16,
    ) -> Result<Conns<S>, DriveError> {
        let conns = self.open_range(0..n, batch, first_port)?;
        // Let delayed ACKs and window updates drain so the connections are idle.
        self.settle()?;
        Ok(conns)
    }

    /// Connections number `range` of [`open_idle`](Pair::open_idle)'s
    /// numbering (which fixes their ports), without settling.
    pub fn open_range(
        &mut self,
        range: std::ops::Range<usize>,
        batch: usize,
        first_port: u16,
    ) -> Result<Conns<S>, DriveError> {
        const PER_PORT: usize = 50_000;
        let n = range.end;
        let mut conns = Vec::with_capacity(range.len());
        let mut i = range.start;
        while i < n {
            let k = batch.max(1).min(n - i);
            let mut pending = Vec::with_capacity(k);
            for j in i..i + k {
                let port = first_port + u16::try_from(j / PER_PORT).expect("port range");
                let local = 10_000 + u16::try_from(j % PER_PORT).expect("port range");
                let listener = self.b.listen(port);
                let now = self.clock.now();
                let client = self
                    .a
                    .connect(now, local, SocketAddrV4::new(SERVER_ADDR, port));
                pending.push((client, listener));
            }
            let mut accepted: Vec<Option<S::Socket>> = vec![None; k];
            self.drive(10_000, "opening idle connections", |p| {
                let mut all = true;
                for (slot, &(client, listener)) in accepted.iter_mut().zip(&pending) {
                    if slot.is_none() {
                        *slot = p.b.accept(listener);
                    }
                    let server_ok = slot.is_some_and(|s| p.b.state(s) == TcpState::Established);
                    all &= server_ok && p.a.state(client) == TcpState::Established;
                }
                all
            })?;
            conns.extend(
                pending
                    .iter()
                    .zip(&accepted)
                    .filter_map(|(&(c, _), s)| s.map(|s| (c, s))),
            );
            i += k;
        }
        Ok(conns)
    }

    /// Steps until no frame moves and no timer is due within a second.
    pub fn settle(&mut self) -> Result<(), DriveError> {
        for _ in 0..1_000 {
            if self.step() != 0 {
                continue;
            }
            let now = self.clock.now();
            let horizon = now + Duration::from_secs(1);
            let due = [self.a.poll_at(now), self.b.poll_at(now)]
                .into_iter()
                .flatten()
                .min();
            match due {
                Some(t) if t <= horizon => self.clock.jump_to(t),
                _ => return Ok(()),
            }
        }
        Err(DriveError::TooManySteps("settling".into()))
    }
}
