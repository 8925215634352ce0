//! The fast path does not allocate: a bulk transfer between two stacks,
//! once warm, moves megabytes with no per-segment heap allocation.
//!
//! The counting allocator (`counting/mod.rs`) needs `unsafe impl
//! GlobalAlloc`; it only forwards to the system allocator and counts. The
//! allocation tests are the one place in the crate that needs it (the
//! library forbids unsafe code).
#![allow(unsafe_code)]

mod counting;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;

use counting::{ALLOCATIONS, Counting};

use synack_proto::stack::{ConnHandle, ConnectOptions, Event, Interface};
use synack_proto::{Config, Duration, Instant, Stack};

#[global_allocator]
static GLOBAL: Counting = Counting;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// Frames in flight, in preallocated buffers.
struct Wire {
    free: Vec<Vec<u8>>,
    flight: VecDeque<(Instant, bool, Vec<u8>)>,
}

impl Wire {
    fn new() -> Self {
        Wire {
            free: (0..4096).map(|_| Vec::with_capacity(2048)).collect(),
            flight: VecDeque::with_capacity(4096),
        }
    }
}

struct Transfer {
    a: Stack,
    b: Stack,
    client: ConnHandle,
    server: ConnHandle,
    now: Instant,
    wire: Wire,
    buf: Vec<u8>,
    chunk: Vec<u8>,
    received: u64,
    sent: u64,
}

impl Transfer {
    fn new() -> Self {
        let config = |seed| Config {
            seed,
            ..Config::default()
        };
        let mut a = Stack::new(config(1), Interface::ip(A, 24));
        let mut b = Stack::new(config(2), Interface::ip(B, 24));
        let l = b.tcp_listen(SocketAddrV4::new(B, 80), 8).unwrap();
        let client = a
            .tcp_connect(
                Instant::ZERO,
                SocketAddrV4::new(B, 80),
                ConnectOptions::default(),
            )
            .unwrap();
        let mut t = Transfer {
            a,
            b,
            client,
            server: client,
            now: Instant::ZERO,
            wire: Wire::new(),
            buf: vec![0; 2048],
            chunk: vec![0x5A; 64 * 1024],
            received: 0,
            sent: 0,
        };
        for _ in 0..100 {
            t.step();
            if let Ok(s) = t.b.tcp_accept(l) {
                t.server = s;
                return t;
            }
        }
        panic!("no connection");
    }

    /// One round: send, deliver, read, fire timers.
    fn step(&mut self) {
        let delay = Duration::from_millis(5);
        // The client writes whatever fits.
        while let Ok(n) = self.a.tcp_send(self.now, self.client, &self.chunk) {
            self.sent += n as u64;
        }
        for to_b in [true, false] {
            let src = if to_b { &mut self.a } else { &mut self.b };
            while let Some(n) = src.poll_transmit(self.now, &mut self.buf) {
                let mut frame = self.wire.free.pop().expect("buffer pool");
                frame.clear();
                frame.extend_from_slice(&self.buf[..n]);
                self.wire.flight.push_back((self.now + delay, to_b, frame));
            }
        }
        while self.a.poll_event().is_some() {}
        while let Some(e) = self.b.poll_event() {
            if let Event::Readable(_) = e {
                // read below
            }
        }
        let mut read = [0u8; 16 * 1024];
        while let Ok(n) = self.b.tcp_recv(self.now, self.server, &mut read) {
            if n == 0 {
                break;
            }
            self.received += n as u64;
        }
        let next_frame = self.wire.flight.front().map(|f| f.0);
        let next = [next_frame, self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        if let Some(t) = next {
            self.now = self.now.max(t);
        }
        while self.wire.flight.front().is_some_and(|f| f.0 <= self.now) {
            let (_, to_b, frame) = self.wire.flight.pop_front().expect("checked");
            let dst = if to_b { &mut self.b } else { &mut self.a };
            dst.handle_frame(self.now, &frame);
            self.wire.free.push(frame);
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
    }

    fn run_bytes(&mut self, bytes: u64) -> u64 {
        let goal = self.received + bytes;
        let mut steps = 0;
        while self.received < goal {
            self.step();
            steps += 1;
            assert!(steps < 1_000_000, "stalled");
        }
        steps
    }
}

#[test]
fn a_warm_bulk_transfer_does_not_allocate_per_segment() {
    let mut t = Transfer::new();
    // Warm up: buffers grow, queues reach their size. 16 MiB (about two
    // seconds of virtual time): with tail loss probes the connection's
    // deadline moves on every ACK, and the timer wheel's buckets take that
    // long to be first reached and sized (118 allocations in the 8 MiB after
    // an 8 MiB warm-up, 7 in the next).
    t.run_bytes(16 << 20);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let segments_before = t.a.stats().tcp.out_segs;
    t.run_bytes(32 << 20);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let segments = t.a.stats().tcp.out_segs - segments_before;
    assert!(segments > 5_000, "{segments} segments");
    // What remains is not per segment: the timer queue's wheel allocates a
    // bucket the first time virtual time reaches it (704 buckets per stack,
    // ever), about a hundred over these seconds of virtual time (the driver
    // also wakes at postponed retransmission deadlines, which visits more
    // buckets). 32 MiB so that the bound is about segments, not buckets:
    // 8 MiB measured 89 allocations, 32 MiB 111.
    assert!(
        allocations as u64 * 100 < segments,
        "{allocations} allocations for {segments} segments"
    );
}
