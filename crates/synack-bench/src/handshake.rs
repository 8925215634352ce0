//! `handshake`: connections opened, one byte each way, closed, per second,
//! with N idle established connections present.
//!
//! One connection at a time, in a [`Pair`] on one core: the client connects,
//! sends one byte; the server accepts, reads it, answers one byte; the
//! client reads it and closes; the server reads the FIN and closes. A
//! handshake counts when the client is in TIME-WAIT and the server closed.
//! The idle connections are opened first (the same pair, server ports from
//! 10000), so the measured sockets come after them, as in a server that has
//! been up for a while. Sockets are released and reused between handshakes.
//!
//! Each repetition runs until `per_rep` handshakes are done or its share of
//! `time_cap` has passed, whichever is first; the rate is handshakes over
//! wall time. Nothing is extrapolated. [`handshake_points_alternating`]
//! measures two stacks at one point with their repetitions interleaved
//! (each stack's pair made, with its idle connections, first), so that the
//! machine's drift during the point hits both alike, as `bulk` alternates.

use std::net::SocketAddrV4;
use std::time::{Duration as WallDuration, Instant as WallInstant};

use serde::Serialize;

use crate::pair::{DriveError, Pair};
use crate::stack::{
    BenchStack, Buffers, CLIENT_ADDR, Congestion, HostConfig, SERVER_ADDR, TcpState,
};

/// Socket buffers for handshakes and their idle neighbours: 4 KiB, plenty
/// for one byte each way (smoltcp allocates them for every socket).
pub const HANDSHAKE_BUFFERS: Buffers = Buffers::both(4096);

/// One point: `idle` connections present.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HandshakeConfig {
    pub idle: usize,
    /// Handshakes per repetition at most.
    pub per_rep: u64,
    pub reps: usize,
    /// Wall time for all repetitions of this point together, at most (the
    /// idle connections' setup is not counted).
    pub time_cap: WallDuration,
    pub buffers: Buffers,
}

/// What one repetition did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HandshakeRun {
    pub handshakes: u64,
    pub seconds: f64,
    pub per_sec: f64,
    pub timer_jumps: u64,
    /// When it started, in seconds after the point's first repetition
    /// started (of either stack, when two alternate).
    pub started: f64,
}

/// What one point did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HandshakePoint {
    pub idle: usize,
    pub runs: Vec<HandshakeRun>,
    /// Seconds spent opening the idle connections (not in the rate).
    pub setup_seconds: f64,
}

impl HandshakePoint {
    pub fn median_per_sec(&self) -> f64 {
        let rates: Vec<f64> = self.runs.iter().map(|r| r.per_sec).collect();
        crate::stats::median(&rates).unwrap_or(0.0)
    }

    pub fn handshakes(&self) -> u64 {
        self.runs.iter().map(|r| r.handshakes).sum()
    }
}

const SERVICE_PORT: u16 = 80;

/// One full handshake on `pair`, using client port `local`.
pub fn one_handshake<S: BenchStack>(pair: &mut Pair<S>, local: u16) -> Result<(), DriveError> {
    let listener = pair.b.listen(SERVICE_PORT);
    let now = pair.clock.now();
    let client = pair
        .a
        .connect(now, local, SocketAddrV4::new(SERVER_ADDR, SERVICE_PORT));
    let mut server = None;
    let (mut c_sent, mut s_got, mut s_sent, mut c_got, mut c_closed, mut s_closed) =
        (false, false, false, false, false, false);
    let mut byte = [0u8; 1];
    pair.drive(1_000, "handshake", |p| {
        if server.is_none() {
            server = p.b.accept(listener);
        }
        if !c_sent && p.a.state(client) == TcpState::Established {
            c_sent = p.a.send(client, b"q") == 1;
        }
        if let Some(s) = server {
            if !s_got {
                s_got = p.b.recv(s, &mut byte) == 1;
            }
            if s_got && !s_sent {
                s_sent = p.b.send(s, b"a") == 1;
            }
            if s_sent && !s_closed && p.b.recv_finished(s) {
                p.b.close(s);
                s_closed = true;
            }
        }
        if c_sent && !c_got {
            c_got = p.a.recv(client, &mut byte) == 1;
        }
        if c_got && !c_closed {
            p.a.close(client);
            c_closed = true;
        }
        let client_done = matches!(p.a.state(client), TcpState::TimeWait | TcpState::Closed);
        let server_done = server.is_some_and(|s| p.b.state(s) == TcpState::Closed);
        c_closed && s_closed && client_done && server_done
    })?;
    pair.a.release(client);
    if let Some(s) = server {
        pair.b.release(s);
    }
    // One more turn, as an event loop would take after close(2): a stack
    // that finishes closing in the background (synack retires the orphan
    // from TIME-WAIT on its next output pass) frees the port for the next
    // connect. Nothing is sent; both stacks pay it.
    pair.step();
    Ok(())
}

/// One stack at one point: its pair, the idle connections open, and the
/// repetitions run so far.
struct PointBench<S: BenchStack> {
    pair: Pair<S>,
    idle: usize,
    per_rep: u64,
    share: WallDuration,
    /// The next client port: 1024..10000 cycle; the server keeps no
    /// TIME-WAIT state and the client's TIME-WAIT socket is reused by the
    /// next connect.
    port: u16,
    setup_seconds: f64,
    runs: Vec<HandshakeRun>,
}

impl<S: BenchStack> PointBench<S> {
    /// Makes the pair and opens its idle connections (not timed).
    fn new(cfg: &HandshakeConfig) -> Result<PointBench<S>, DriveError> {
        let host = |addr, seed| HostConfig {
            buffers: cfg.buffers,
            congestion: Congestion::Cubic,
            seed,
            capacity: cfg.idle + 4,
            ..HostConfig::new(addr)
        };
        let mut pair: Pair<S> = Pair::new(&host(CLIENT_ADDR, 1), &host(SERVER_ADDR, 2));
        let setup = WallInstant::now();
        let idle = S::open_idle(&mut pair, cfg.idle, 10_000)?;
        let setup_seconds = setup.elapsed().as_secs_f64();
        debug_assert_eq!(idle.len(), cfg.idle);
        Ok(PointBench {
            pair,
            idle: cfg.idle,
            per_rep: cfg.per_rep,
            share: cfg.time_cap / u32::try_from(cfg.reps.max(1)).unwrap_or(u32::MAX),
            port: 1024,
            setup_seconds,
            runs: Vec::with_capacity(cfg.reps),
        })
    }

    /// One repetition; `origin` is when the point's first one started.
    fn repetition(&mut self, origin: WallInstant) -> Result<(), DriveError> {
        let jumps = self.pair.clock.jumps();
        let start = WallInstant::now();
        let mut done = 0u64;
        while done < self.per_rep && start.elapsed() < self.share {
            one_handshake(&mut self.pair, self.port)?;
            done += 1;
            self.port = if self.port >= 9_999 {
                1024
            } else {
                self.port + 1
            };
        }
        let seconds = start.elapsed().as_secs_f64();
        self.runs.push(HandshakeRun {
            handshakes: done,
            seconds,
            per_sec: if seconds > 0.0 {
                done as f64 / seconds
            } else {
                0.0
            },
            timer_jumps: self.pair.clock.jumps() - jumps,
            started: start.duration_since(origin).as_secs_f64(),
        });
        Ok(())
    }

    fn finish(self) -> HandshakePoint {
        HandshakePoint {
            idle: self.idle,
            runs: self.runs,
            setup_seconds: self.setup_seconds,
        }
    }
}

/// Measures one point for one stack.
pub fn handshake_point<S: BenchStack>(cfg: &HandshakeConfig) -> Result<HandshakePoint, DriveError> {
    let mut bench = PointBench::<S>::new(cfg)?;
    let origin = WallInstant::now();
    for _ in 0..cfg.reps.max(1) {
        bench.repetition(origin)?;
    }
    Ok(bench.finish())
}

/// Measures one point for two stacks, their repetitions alternating (`A`,
/// `B`, `A`, ...) once both pairs are set up, so that the machine's drift
/// during the point hits both alike. Both pairs, and their idle
/// connections, are held at once.
pub fn handshake_points_alternating<A: BenchStack, B: BenchStack>(
    cfg: &HandshakeConfig,
) -> Result<(HandshakePoint, HandshakePoint), DriveError> {
    let mut a = PointBench::<A>::new(cfg)?;
    let mut b = PointBench::<B>::new(cfg)?;
    let origin = WallInstant::now();
    for _ in 0..cfg.reps.max(1) {
        a.repetition(origin)?;
        b.repetition(origin)?;
    }
    Ok((a.finish(), b.finish()))
}
