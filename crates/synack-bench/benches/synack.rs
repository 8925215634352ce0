//! Hot paths of synack's Stack, the twins of `benches/smoltcp.rs`:
//!
//! - `synack/segment_receive`: one in-order full-size data segment (MTU
//!   1500) through `Stack::handle_frame` on an established connection
//!   (IPv4 + TCP parse, checksum check, demux, the engine, the copy into
//!   the receive buffer); the ACK it causes is written outside the timing;
//! - `synack/ack_processing`: one ACK through `handle_frame` on the sender
//!   (parse, checksum, demux, RTT and congestion update, freeing
//!   send-buffer space); B acknowledges every second segment and the last
//!   of each batch, so an ACK covers about two segments;
//! - `synack/demux/<n>`: `segment_receive` with `n` idle established
//!   connections in the receiver (10, 1k, 1M), round-robin over 64 of them
//!   spread across the table: the lookup is one keyed hash probe, so the
//!   figure should not grow with `n` beyond cache effects.
//!
//! Frames come from a real synack peer in the untimed part of each turn;
//! each element is one segment. The checksum is in `synack-proto`'s
//! `benches/wire.rs`.
//!
//! `cargo bench -p synack-bench --bench synack -- --warm-up-time 1 --measurement-time 3`

use std::time::{Duration as WallDuration, Instant as WallInstant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use synack_bench::stack::{CLIENT_ADDR, SERVER_ADDR};
use synack_bench::{BenchStack, Buffers, Congestion, HostConfig, Pair, SynackStack};

type Sock = <SynackStack as BenchStack>::Socket;

fn pair() -> Pair<SynackStack> {
    let host = |addr, seed| HostConfig {
        buffers: Buffers::both(1 << 20),
        congestion: Congestion::Cubic,
        seed,
        ..HostConfig::new(addr)
    };
    Pair::new(&host(CLIENT_ADDR, 1), &host(SERVER_ADDR, 2))
}

/// Times spent in the receiver's and in the sender's `handle_frame`.
#[derive(Default)]
struct Timed {
    receive: WallDuration,
    ack: WallDuration,
    segments: u64,
    acks: u64,
}

/// Moves data over `conns` (round-robin) until `segments` data segments
/// were handled by B, timing only B's `handle_frame` of data and A's of ACKs.
fn run(p: &mut Pair<SynackStack>, conns: &[(Sock, Sock)], segments: u64) -> Timed {
    let data = vec![0x5a; 64 * 1024];
    let mut buf = vec![0u8; 256 * 1024];
    let mut t = Timed::default();
    let mut turn = 0usize;
    while t.segments < segments {
        let (client, server) = conns[turn % conns.len()];
        turn += 1;
        let now = p.clock.now();
        let _ = p.a.send(client, &data);
        // A's frames (data) into `ab`, untimed.
        p.a.poll(now, &mut p.ba, &mut p.ab);
        let stack = p.b.stack_mut();
        let start = WallInstant::now();
        while p.ab.pop_with(|f| stack.handle_frame(now, f)).is_some() {
            t.segments += 1;
        }
        t.receive += start.elapsed();
        while p.b.recv(server, &mut buf) > 0 {}
        // B's ACKs into `ba` (its poll finds no frames left in `ab`).
        p.b.poll(now, &mut p.ab, &mut p.ba);
        let stack = p.a.stack_mut();
        let start = WallInstant::now();
        while p.ba.pop_with(|f| stack.handle_frame(now, f)).is_some() {
            t.acks += 1;
        }
        t.ack += start.elapsed();
    }
    t
}

fn established(idle: usize) -> (Pair<SynackStack>, Vec<(Sock, Sock)>) {
    let mut p = pair();
    let all = if idle == 0 {
        SynackStack::open_idle(&mut p, 1, 10_000).expect("one connection")
    } else {
        SynackStack::open_idle(&mut p, idle, 10_000).expect("idle connections")
    };
    // 64 connections spread over the table (or all of them).
    let step = (all.len() / 64).max(1);
    let picked = all.iter().step_by(step).take(64).copied().collect();
    // Warm: buffers grown, congestion window open.
    (p, picked)
}

fn segment_receive_and_ack(cr: &mut Criterion) {
    let (mut p, conns) = established(0);
    let _ = run(&mut p, &conns, 20_000);
    let mut g = cr.benchmark_group("synack");
    g.throughput(Throughput::Elements(1));
    g.bench_function("segment_receive", |b| {
        b.iter_custom(|iters| {
            let t = run(&mut p, &conns, iters);
            t.receive.mul_f64(iters as f64 / t.segments as f64)
        })
    });
    g.bench_function("ack_processing", |b| {
        b.iter_custom(|iters| {
            // Until `iters` ACKs were handled (B ACKs every second segment
            // or so, and once per batch).
            let mut t = Timed::default();
            while t.acks < iters {
                let r = run(&mut p, &conns, 64);
                t.ack += r.ack;
                t.acks += r.acks;
            }
            t.ack.mul_f64(iters as f64 / t.acks as f64)
        })
    });
    g.finish();
}

fn demux(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("synack/demux");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    for n in [10usize, 1000, 1_000_000] {
        let (mut p, conns) = established(n);
        let _ = run(&mut p, &conns, 5_000);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let t = run(&mut p, &conns, iters);
                t.receive.mul_f64(iters as f64 / t.segments as f64)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, segment_receive_and_ack, demux);
criterion_main!(benches);
