//! Hot paths of smoltcp 0.14, measured the way synack's twins will be
//! (add them next to these when the stack lands):
//!
//! - `segment_receive/<mtu>`: one in-order full-size data segment through
//!   `Interface::poll` on an established connection (IPv4 + TCP parse,
//!   checksum check, socket lookup, copy into the receive buffer, and the
//!   ACK each batch causes: smoltcp ACKs after its ingress loop), in batches of 256 segments at MTU 1500 (fewer for
//!   larger segments, so a batch stays in L2 like a live stream's data);
//! - `ack_processing`: one pure ACK acknowledging one segment on the
//!   sender, with nothing new to send (parse, checksum, lookup, RTT and
//!   congestion update, freeing send-buffer space).
//!
//! Frames come from a real smoltcp peer in the untimed setup; per-element
//! figures are criterion's throughput.
//!
//! `cargo bench -p synack-bench --bench smoltcp -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::SocketAddrV4;
use std::time::{Duration as WallDuration, Instant as WallInstant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use synack_bench::stack::{CLIENT_ADDR, SERVER_ADDR};
use synack_bench::{BenchStack, Buffers, Congestion, Frames, HostConfig, SmolStack, TcpState};
use synack_proto::Instant;

const BATCH: usize = 256;

/// Segments per timed batch: 256 at MTU 1500, fewer for larger segments, so
/// a batch (frames plus receive buffer) stays in L2 as a live stream's hot
/// data does.
fn batch(mtu: usize) -> usize {
    (BATCH * 1500 / mtu).clamp(16, BATCH)
}

struct Conn {
    a: SmolStack,
    b: SmolStack,
    client: <SmolStack as BenchStack>::Socket,
    server: <SmolStack as BenchStack>::Socket,
    ab: Frames,
    ba: Frames,
    now: Instant,
}

/// A connection from A to B, established, with both stacks at `now`
/// (virtual, fixed: only CPU time is measured). No congestion window, so A
/// sends a whole batch at once; buffers hold a whole batch.
fn connected(mtu: usize) -> Conn {
    let buffers = Buffers::both(batch(mtu) * mtu + 65536);
    let host = |addr, seed| HostConfig {
        mtu,
        buffers,
        congestion: Congestion::None,
        seed,
        capacity: 4,
        ..HostConfig::new(addr)
    };
    let mut a = SmolStack::new(&host(CLIENT_ADDR, 1));
    let mut b = SmolStack::new(&host(SERVER_ADDR, 2));
    let (mut ab, mut ba) = (Frames::new(), Frames::new());
    let now = Instant::from_millis(1);
    let listener = b.listen(80);
    let client = a.connect(now, 40_000, SocketAddrV4::new(SERVER_ADDR, 80));
    for _ in 0..10 {
        a.poll(now, &mut ba, &mut ab);
        b.poll(now, &mut ab, &mut ba);
    }
    let server = b.accept(listener).expect("handshake done in memory");
    assert_eq!(a.state(client), TcpState::Established);
    // ACK every segment at once on both sides (no delayed-ACK timer).
    a.socket_mut(client).set_ack_delay(None);
    b.socket_mut(server).set_ack_delay(None);
    // The SYN-ACK's window is unscaled (RFC 7323 §2.2): one byte across
    // makes B advertise its whole buffer.
    assert_eq!(a.send(client, b"x"), 1);
    for _ in 0..4 {
        a.poll(now, &mut ba, &mut ab);
        b.poll(now, &mut ab, &mut ba);
        let mut one = [0u8; 1];
        let _ = b.recv(server, &mut one);
    }
    Conn {
        a,
        b,
        client,
        server,
        ab,
        ba,
        now,
    }
}

/// A writes one batch of full segments and emits them into `ab`.
fn send_batch(c: &mut Conn, mss: usize) {
    let n = batch(mss + 40);
    let data = vec![0x5a; n * mss];
    assert_eq!(c.a.send(c.client, &data), data.len());
    c.a.poll(c.now, &mut c.ba, &mut c.ab);
    assert_eq!(c.ab.len(), n, "one batch of full segments");
}

fn segment_receive(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("smoltcp/segment_receive");
    for mtu in [1500usize, 9000] {
        let mss = mtu - 40;
        g.throughput(Throughput::Elements(batch(mtu) as u64));
        g.bench_function(BenchmarkId::from_parameter(mtu), |bch| {
            bch.iter_custom(|iters| {
                let mut total = WallDuration::ZERO;
                for _ in 0..iters {
                    let mut c = connected(mtu);
                    send_batch(&mut c, mss);
                    let t = WallInstant::now();
                    c.b.poll(c.now, &mut c.ab, &mut c.ba);
                    total += t.elapsed();
                    assert_eq!(c.b.socket(c.server).recv_queue(), batch(mtu) * mss);
                    black_box(&c.ba);
                }
                total
            })
        });
    }
    g.finish();
}

fn ack_processing(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("smoltcp/ack_processing");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mtu = 1500;
    let mss = mtu - 40;
    g.bench_function("one_segment_acked", |bch| {
        bch.iter_custom(|iters| {
            let mut total = WallDuration::ZERO;
            for _ in 0..iters {
                let mut c = connected(mtu);
                send_batch(&mut c, mss);
                // B takes the segments one at a time and ACKs each.
                let mut single = Frames::new();
                while let Some((buf, len)) = c.ab.take() {
                    single.push(&buf[..len]);
                    c.ab.recycle(buf);
                    c.b.poll(c.now, &mut single, &mut c.ba);
                }
                assert_eq!(c.ba.len(), BATCH, "one ACK per segment");
                let t = WallInstant::now();
                c.a.poll(c.now, &mut c.ba, &mut c.ab);
                total += t.elapsed();
                assert_eq!(c.a.socket(c.client).send_queue(), 0, "all acknowledged");
                assert!(c.ab.is_empty(), "nothing new to send");
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, segment_receive, ack_processing);
criterion_main!(benches);
