//! The neighbour cache against the Linux kernel over a TAP, in a fresh
//! network namespace with TEST-NET-1 addresses (the kernel is 192.0.2.1,
//! the stack 192.0.2.2): a connection that makes progress keeps its next
//! hop confirmed without ARP probes; traffic that shows none (UDP) has the
//! entry re-validated by unicast probes, which the kernel answers. Skips
//! loudly without root and /dev/net/tun (fails under CI=true).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use synack::net::{TcpStream, UdpSocket};
use synack_tap::netns;

mod common;
use common::kernel::{PYTHON, skip, tap_runtime_with};

/// A TCP echo on 192.0.2.1:9000 and a UDP sink on 9001, and a packet
/// socket counting the ARP requests the stack (192.0.2.2) sends. Says
/// "ready"; each line read from stdin is answered with the requests seen
/// since the last one, as "<broadcast> <unicast>".
const KERNEL_SIDE: &str = r#"
import socket, sys, threading
arp = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
arp.bind(("syn0", 0))
counts = [0, 0]
lock = threading.Lock()
def watch():
    while True:
        frame = arp.recv(2048)
        op = int.from_bytes(frame[20:22], "big")
        sender = socket.inet_ntoa(frame[28:32])
        if op == 1 and sender == "192.0.2.2":
            with lock:
                counts[0 if frame[0:6] == b"\xff" * 6 else 1] += 1
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("192.0.2.1", 9000))
t.listen(1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("192.0.2.1", 9001))
def sink():
    while True:
        u.recvfrom(2048)
def echo():
    c, _ = t.accept()
    while True:
        data = c.recv(65536)
        if not data:
            return
        c.sendall(data)
for f in (watch, sink, echo):
    threading.Thread(target=f, daemon=True).start()
print("ready", flush=True)
for _ in sys.stdin:
    with lock:
        print(counts[0], counts[1], flush=True)
        counts[0] = counts[1] = 0
"#;

struct KernelSide {
    child: Child,
    stdin: ChildStdin,
    lines: BufReader<std::process::ChildStdout>,
}

impl KernelSide {
    fn start() -> KernelSide {
        let mut child = Command::new(PYTHON)
            .args(["-c", KERNEL_SIDE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        KernelSide {
            child,
            stdin,
            lines,
        }
    }

    /// The stack's ARP requests since the last call: (broadcast, unicast).
    fn requests(&mut self) -> (u32, u32) {
        writeln!(self.stdin).unwrap();
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        let mut n = line.split_whitespace().map(|w| w.parse().unwrap());
        (n.next().unwrap(), n.next().unwrap())
    }
}

impl Drop for KernelSide {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_connection_making_progress_keeps_the_kernels_entry_without_probes() {
    if skip("a_connection_making_progress_keeps_the_kernels_entry_without_probes") {
        return;
    }
    netns::run_in_fresh(|| {
        // Short neighbour times, so that several cycles fit in seconds:
        // reachable for 2 s, then a used stale entry waits 1 s in DELAY.
        let config = synack_proto::Config {
            arp_cache_timeout: synack_proto::Duration::from_secs(2),
            arp_delay_first_probe_time: synack_proto::Duration::from_secs(1),
            ..synack_proto::Config::default()
        };
        let rt = tap_runtime_with(config);
        let mut kernel = KernelSide::start();
        let mut s = TcpStream::connect(&rt, "192.0.2.1:9000").unwrap();
        let (broadcast, _) = kernel.requests();
        assert!(
            broadcast >= 1,
            "the first resolution asks the broadcast address"
        );
        // Eight seconds of round trips, four cycles of the entry's time:
        // each answer acknowledges our data, and each next segment
        // confirms the kernel's address.
        let end = Instant::now() + Duration::from_secs(8);
        let mut buf = [0u8; 4];
        while Instant::now() < end {
            s.write_all(b"ping").unwrap();
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(kernel.requests(), (0, 0), "no probe while TCP confirms");
        // Datagrams show nothing of the kernel: the entry goes stale, waits
        // in DELAY, and is probed by unicast every cycle; the kernel
        // answers each probe, so no broadcast follows and the datagrams
        // keep flowing.
        let u = UdpSocket::bind(&rt, "0.0.0.0:0").unwrap();
        let end = Instant::now() + Duration::from_secs(8);
        while Instant::now() < end {
            u.send_to(b"datagram", "192.0.2.1:9001").unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
        let (broadcast, unicast) = kernel.requests();
        assert_eq!(broadcast, 0);
        assert!((2..=4).contains(&unicast), "one probe a cycle: {unicast}");
        // The connection still works after the probes.
        s.write_all(b"done").unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"done");
        let mut rest = Vec::new();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    })
    .unwrap();
}
