//! One stack, one measurement, for profilers: `perf record` this instead of
//! `synack bench`, which runs both stacks.
//!
//! `cargo run --release -p synack-bench --example profile -- bulk synack 1500 [MiB] [buffer KiB]`
//! `cargo run --release -p synack-bench --example profile -- floor summed|plain|frames 1500 [MiB] [buffer KiB]`
//! (the bulk harness's memory passes alone, no stack: `synack_bench::floor`)
//! `cargo run --release -p synack-bench --example profile -- handshake synack [idle]`
//! `valgrind --tool=callgrind target/release/examples/profile handshake-count synack [idle] [n]`

use synack_bench::bulk::{BULK_BUFFERS, BulkConfig, bulk_once};
use synack_bench::floor;
use synack_bench::handshake::{HANDSHAKE_BUFFERS, HandshakeConfig, handshake_point};
use synack_bench::{BenchStack, Buffers, Congestion, SmolStack, SynackStack};

fn bulk<S: BenchStack>(mtu: usize, mib: u64, buffers: Option<usize>) {
    let cfg = BulkConfig {
        bytes: mib << 20,
        mtu,
        buffers: buffers.map_or(BULK_BUFFERS, |kib| Buffers::both(kib << 10)),
        congestion: Congestion::Cubic,
    };
    let r = bulk_once::<S>(&cfg).expect("bulk run");
    println!(
        "{} bulk MTU {mtu} buffers {} KiB: {:.2} Gbit/s intact={} frames={} steps={}",
        S::NAME,
        cfg.buffers.rx >> 10,
        r.gbps,
        r.intact,
        r.frames,
        r.steps
    );
}

/// `count`: exactly that many handshakes in one repetition, however long
/// they take (for instruction counts under `valgrind --tool=callgrind`,
/// which a shared, noisy machine does not disturb).
fn handshake<S: BenchStack>(idle: usize, count: Option<u64>) {
    let cfg = HandshakeConfig {
        idle,
        per_rep: count.unwrap_or(200_000),
        reps: if count.is_some() { 1 } else { 3 },
        time_cap: std::time::Duration::from_secs(if count.is_some() { 3_600 } else { 5 }),
        buffers: HANDSHAKE_BUFFERS,
    };
    let p = handshake_point::<S>(&cfg).expect("handshake run");
    println!(
        "{} handshake idle {idle}: {:?}/s",
        S::NAME,
        p.median_per_sec()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let which = args.first().map_or("bulk", String::as_str);
    let stack = args.get(1).map_or("synack", String::as_str);
    let kib = args.get(4).and_then(|s| s.parse().ok());
    match (which, stack) {
        ("bulk", "synack") => bulk::<SynackStack>(arg(2, 1500) as usize, arg(3, 1024), kib),
        ("bulk", _) => bulk::<SmolStack>(arg(2, 1500) as usize, arg(3, 1024), kib),
        ("floor", copies) => {
            let copies = match copies {
                "plain" => floor::FloorCopies::Plain,
                "frames" => floor::FloorCopies::FramesKept,
                _ => floor::FloorCopies::Summed,
            };
            let (mtu, mib) = (arg(2, 1500) as usize, arg(3, 1024));
            let kib = kib.unwrap_or(BULK_BUFFERS.rx >> 10);
            let r = floor::floor_once(mib << 20, mtu, kib << 10, copies);
            println!(
                "floor {copies:?} MTU {mtu} buffers {kib} KiB: {:.2} Gbit/s intact={} frames={} turns={}",
                r.gbps, r.intact, r.frames, r.turns
            );
        }
        ("handshake", "synack") => handshake::<SynackStack>(arg(2, 0) as usize, None),
        ("handshake", _) => handshake::<SmolStack>(arg(2, 0) as usize, None),
        ("handshake-count", "synack") => {
            handshake::<SynackStack>(arg(2, 0) as usize, Some(arg(3, 10_000)))
        }
        ("handshake-count", _) => handshake::<SmolStack>(arg(2, 0) as usize, Some(arg(3, 10_000))),
        ("tap-to", _) => {
            let r = synack_bench::tap::in_namespace(|| {
                synack_bench::tap::synack_to_kernel(arg(2, 512) << 20, stack == "offload")
            });
            println!("synack -> kernel: {r:?} Gbit/s");
        }
        ("tap-from", _) => {
            let r = synack_bench::tap::in_namespace(|| {
                synack_bench::tap::kernel_to_synack(arg(2, 512) << 20, stack == "offload")
            });
            println!("kernel -> synack: {r:?} Gbit/s");
        }
        _ => eprintln!(
            "usage: profile bulk|handshake|handshake-count synack|smoltcp [mtu|idle] [MiB|n]"
        ),
    }
}
