//! synack as a router for the Linux kernel (`ip_forward`, RFC 1812 §5.2-5.3),
//! in a fresh network namespace with TEST-NET addresses: the kernel is
//! 192.0.2.1 on TAP `syn0`, whose other end is a synack stack at 192.0.2.2
//! with a second link, 198.51.100.254/24, to a second synack stack, host B
//! at 198.51.100.1. The kernel routes 198.51.100.0/24 by way of 192.0.2.2.
//! The test drives both stacks itself (the sans-IO API on one thread): the
//! router's link to B carries 1,280 bytes, the kernel's 1,500. Skips loudly
//! without root, /dev/net/tun, ping or Python (fails under CI=true).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as WallDuration;

use synack::Tap;
use synack_proto::ip::Ipv4Cidr;
use synack_proto::stack::{ConnHandle, IfaceId, Interface};
use synack_proto::tcp::conn::RecvError;
use synack_proto::wire::EthernetAddress;
use synack_proto::{Config, Duration, Instant, Stack};

mod common;
use common::kernel::{PYTHON, fresh_namespace, kernel_tap, python, skip, tool_missing};

const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const ROUTER_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 254);
const HOST_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// The router and host B, driven until `stop`: frames between the TAP, the
/// router's two links and B; B echoes what each connection to port 7 sends
/// and closes after the peer does.
fn run_router(tap: &Tap, stop: &AtomicBool) -> (u64, u64) {
    let start = std::time::Instant::now();
    let now = || Instant::ZERO + Duration::from(start.elapsed());
    let mut router = Stack::new(
        Config {
            seed: 1,
            ip_forward: true,
            ..Config::default()
        },
        Interface::ethernet(EthernetAddress([2, 0, 0, 0, 0, 2]), ROUTER, 24),
    );
    router.add_interface(Interface::ip(ROUTER_B, 24).with_mtu(1280));
    // Its two links only: no default route out of the second.
    let default = Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0).unwrap();
    router.remove_route(default).unwrap();
    let mut b = Stack::new(
        Config {
            seed: 2,
            ..Config::default()
        },
        Interface::ip(HOST_B, 24),
    );
    b.set_default_gateway(ROUTER_B).unwrap();
    let listener = b
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7), 8)
        .unwrap();
    let mut echo: Vec<(ConnHandle, Vec<u8>, bool)> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut data = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let t = now();
        let mut moved = false;
        while let Ok(n) = tap.recv(&mut buf) {
            router.handle_frame_on(t, IfaceId(0), &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(t, &mut buf) {
            router.handle_frame_on(t, IfaceId(1), &buf[..n]);
            moved = true;
        }
        while let Some((iface, n)) = router.poll_transmit_on(t, &mut buf) {
            match iface.0 {
                0 => {
                    let _ = tap.send(&buf[..n]);
                }
                _ => b.handle_frame(t, &buf[..n]),
            }
            moved = true;
        }
        // B's echo server.
        while let Ok(c) = b.tcp_accept(listener) {
            echo.push((c, Vec::new(), false));
        }
        for (c, pending, done) in &mut echo {
            loop {
                match b.tcp_recv(t, *c, &mut data) {
                    Ok(0) => {
                        *done = true;
                        break;
                    }
                    Ok(n) => pending.extend_from_slice(&data[..n]),
                    Err(RecvError::WouldBlock) | Err(_) => break,
                }
            }
            if !pending.is_empty() {
                let n = b.tcp_send(t, *c, pending).unwrap_or(0);
                pending.drain(..n);
            }
            if *done && pending.is_empty() {
                b.tcp_close(t, *c);
            }
        }
        echo.retain(|(_, p, done)| !(*done && p.is_empty()));
        router.handle_timeout(t);
        b.handle_timeout(t);
        if !moved {
            let _ = tap.wait_readable(Some(WallDuration::from_millis(1)));
        }
    }
    let stats = &router.stats().ip;
    (stats.forw_datagrams, stats.frag_fails)
}

/// A kernel client: connects to host B's port 7 by way of synack, sends
/// 300,000 bytes, reads them back, and prints how many came back and
/// whether they are the same.
const CLIENT: &str = r#"
c = socket.create_connection(("198.51.100.1", 7), timeout=20)
data = bytes((i * 7 + i // 251) % 256 for i in range(300000))
c.sendall(data)
c.shutdown(socket.SHUT_WR)
back = read_all(c)
print(len(back), back == data, flush=True)
"#;

fn output(cmd: &mut Command) -> String {
    let out = cmd.stderr(Stdio::inherit()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{cmd:?}:\n{text}");
    text
}

#[test]
fn the_kernel_reaches_a_far_host_through_a_synack_router() {
    let test = "the_kernel_reaches_a_far_host_through_a_synack_router";
    if skip(test) || tool_missing(test, "ping", "-V", "iputils-ping") {
        return;
    }
    fresh_namespace(|| {
        let tap = kernel_tap();
        tap.set_nonblocking(true).unwrap();
        let status = Command::new("ip")
            .args(["route", "add", "198.51.100.0/24", "via", "192.0.2.2"])
            .status()
            .unwrap();
        assert!(status.success());
        let stop = AtomicBool::new(false);
        let (forwarded, frag_fails) = std::thread::scope(|scope| {
            let router = scope.spawn(|| run_router(&tap, &stop));
            // B answers the kernel's ping through the router.
            let ping = output(Command::new("ping").args(["-c", "1", "-W", "5", "198.51.100.1"]));
            assert!(ping.contains("1 received"), "{ping}");
            assert!(ping.contains("ttl=63"), "one hop on the way back: {ping}");
            // A TTL of 1 expires at the router, which says so from its
            // address on the kernel's link.
            let expired = output(Command::new("ping").args([
                "-c",
                "1",
                "-W",
                "2",
                "-t",
                "1",
                "198.51.100.1",
            ]));
            assert!(expired.contains("From 192.0.2.2"), "{expired}");
            assert!(expired.contains("Time to live exceeded"), "{expired}");
            // No route past the router: network unreachable, from it.
            let status = Command::new("ip")
                .args(["route", "add", "203.0.113.0/24", "via", "192.0.2.2"])
                .status()
                .unwrap();
            assert!(status.success());
            let unreachable =
                output(Command::new("ping").args(["-c", "1", "-W", "2", "203.0.113.9"]));
            assert!(unreachable.contains("From 192.0.2.2"), "{unreachable}");
            assert!(unreachable.contains("Unreachable"), "{unreachable}");
            // TCP across it: the kernel's 1,500-byte segments meet the
            // router's 1,280-byte links, fragmentation needed tells the
            // kernel, and its path MTU to B follows.
            let client = output(Command::new(PYTHON).args(["-c", &python(CLIENT)]));
            let line = client.trim_end();
            eprintln!("kernel: {line}");
            assert_eq!(line, "300000 True");
            let route = output(Command::new("ip").args(["route", "get", "198.51.100.1"]));
            assert!(route.contains("mtu 1280"), "{route}");
            stop.store(true, Ordering::Relaxed);
            router.join().unwrap()
        });
        assert!(forwarded > 400, "{forwarded}");
        assert!(frag_fails >= 1);
    });
}
