//! TCP_DEFER_ACCEPT against the Linux kernel's client over a TAP, in a
//! fresh network namespace (the kernel at 192.0.2.1, the stack at
//! 192.0.2.2): the kernel's `connect` returns at once, the stack's
//! listener has nothing to accept until the kernel's first data, a second
//! later, and then accepts the connection with it. Skips loudly without
//! root and /dev/net/tun (fails under CI=true).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use synack::net::ListenOptions;
use synack_tap::netns;

mod common;
use common::kernel::{PYTHON, skip, tap_runtime};

/// The kernel's client: connects to the stack's port 9300, says
/// "connected" when `connect` returns, sends "GET /" a second later, and
/// waits for the stack to close.
const KERNEL_CLIENT: &str = r#"
import socket, time
c = socket.create_connection(("192.0.2.2", 9300), timeout=10)
print("connected", flush=True)
time.sleep(1)
c.sendall(b"GET /")
c.recv(100)
print("done", flush=True)
"#;

#[test]
fn a_deferring_listener_waits_for_the_kernels_first_data() {
    if skip("a_deferring_listener_waits_for_the_kernels_first_data") {
        return;
    }
    netns::run_in_fresh(|| {
        let rt = tap_runtime();
        let listener = ListenOptions::new()
            .defer_accept(Some(Duration::from_secs(5)))
            .bind(&rt, "0.0.0.0:9300")
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut kernel = Command::new(PYTHON)
            .args(["-c", KERNEL_CLIENT])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(kernel.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "connected");
        let connected = Instant::now();
        let deadline = connected + Duration::from_secs(10);
        let (mut s, _) = loop {
            match listener.accept() {
                Ok(accepted) => break accepted,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "never accepted");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("{e}"),
            }
        };
        let waited = connected.elapsed();
        assert!(
            waited >= Duration::from_millis(800),
            "accepted after {waited:?}, before the data"
        );
        let mut buf = [0u8; 5];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"GET /");
        let drops = rt.stats().stack.tcp_ext.tcp_defer_accept_drop;
        assert_eq!(drops, 1, "the kernel's bare ACK, dropped");
        drop(s);
        assert_eq!(lines.next().unwrap().unwrap(), "done");
        assert!(kernel.wait().unwrap().success());
    })
    .unwrap();
}
