//! One stack talking to itself over 127.0.0.1 (`stack/loopback.rs`): the
//! loopback's throughput, beside the two-stack bulk transfer of `profile`.
//! Its own binary: the handshake figures of `profile` move by several
//! percent with that binary's code layout, and this measurement in it moved
//! them (docs/PERFORMANCE.md, "Session 25").
//!
//! `cargo run --release -p synack-bench --example loopback -- [MiB]`

use core::net::{Ipv4Addr, SocketAddrV4};
use synack_proto::stack::{ConnectOptions, Interface};
use synack_proto::{Config, Instant, Stack};

fn main() {
    let mib = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    loopback(mib);
}

/// One stack, a client and a server over 127.0.0.1 (`stack/loopback.rs`):
/// the application writes 64 KiB at a time, the stack is drained (nothing
/// may leave it), the server reads everything, in turns.
fn loopback(mib: u64) {
    let mut s = Stack::new(
        Config::default(),
        Interface::ip(Ipv4Addr::new(192, 0, 2, 1), 24),
    );
    let now = Instant::ZERO;
    let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80);
    let l = s.tcp_listen(to, 8).expect("listen");
    let c = s
        .tcp_connect(now, to, ConnectOptions::default())
        .expect("connect");
    let mut frame = vec![0u8; 1514];
    let drain = |s: &mut Stack, frame: &mut [u8]| {
        assert!(
            s.poll_transmit(now, frame).is_none(),
            "a frame left the host"
        );
        while s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
            assert!(
                s.poll_transmit(now, frame).is_none(),
                "a frame left the host"
            );
        }
    };
    drain(&mut s, &mut frame);
    let a = s.tcp_accept(l).expect("accepted in the connect's drain");
    let total = mib << 20;
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i * 7) as u8).collect();
    let mut buf = vec![0u8; 256 * 1024];
    let (mut sent, mut got) = (0u64, 0u64);
    let start = std::time::Instant::now();
    while got < total {
        if sent < total {
            let n = (total - sent).min(chunk.len() as u64) as usize;
            sent += s.tcp_send(now, c, &chunk[..n]).unwrap_or(0) as u64;
        }
        drain(&mut s, &mut frame);
        while let Ok(n) = s.tcp_recv(now, a, &mut buf) {
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        drain(&mut s, &mut frame);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "synack loopback: {:.2} Gbit/s ({} MiB, {} datagrams looped)",
        total as f64 * 8.0 / secs / 1e9,
        mib,
        s.stats().lo.packets
    );
}
