//! One `tap` figure alone, for profiling (root): `cargo run --release -p
//! synack-bench --example tap_profile -- [to|from] [plain|offload] [MiB]`.
//! perf: `perf record -g target/release/examples/tap_profile to plain 512`.

use synack_bench::tap::{in_namespace, kernel_to_synack, synack_to_kernel};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let to = args.first().is_none_or(|a| a == "to");
    let offload = args.get(1).is_some_and(|a| a == "offload");
    let mib: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(512);
    let bytes = mib << 20;
    let rate = if to {
        in_namespace(|| synack_to_kernel(bytes, offload))
    } else {
        in_namespace(|| kernel_to_synack(bytes, offload))
    };
    match rate {
        Ok(gbps) => println!("{gbps:.2} Gbit/s"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
