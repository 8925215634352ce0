//! How fast the simulator carries frames: events per second through one link,
//! perfect and impaired. `cargo bench -p synack-sim`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use synack_proto::{Duration, Instant};
use synack_sim::nodes::Blaster;
use synack_sim::{LinkConfig, Node, PortId, World};

const FRAMES: u64 = 100_000;

/// Counts frames without keeping them.
struct Count(u64);

impl Node for Count {
    fn handle_frame(&mut self, _: Instant, _: PortId, _: &[u8]) {
        self.0 += 1;
    }
    fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<(PortId, usize)> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _: Instant) {}
}

fn carry(config: &LinkConfig) -> u64 {
    let mut w = World::new(1);
    // 1500-byte frames every 12 µs: line rate for 1 Gbit/s.
    let a = w.add_node(Blaster::new(
        PortId(0),
        FRAMES,
        1500,
        Instant::ZERO,
        Duration::from_micros(12),
    ));
    let b = w.add_node(Count(0));
    w.connect(a, PortId(0), b, PortId(0), config.clone())
        .unwrap();
    w.run_until_idle(Instant::from_secs(3600)).unwrap();
    w.node::<Count>(b).0
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("link");
    g.throughput(Throughput::Elements(FRAMES));
    g.sample_size(10);
    let perfect = LinkConfig::new().delay(Duration::from_millis(10));
    g.bench_function("perfect_100k_frames", |b| b.iter(|| carry(&perfect)));
    let impaired = LinkConfig::new()
        .delay(Duration::from_millis(10))
        .jitter(Duration::from_micros(500))
        .bandwidth(1_000_000_000)
        .random_loss(0.01)
        .reorder(0.01, Duration::from_millis(1))
        .duplicate(0.01, Duration::ZERO)
        .corrupt(0.01);
    g.bench_function("impaired_100k_frames", |b| b.iter(|| carry(&impaired)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
