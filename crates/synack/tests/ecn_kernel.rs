//! ECN (RFC 3168) against the Linux kernel over a TAP, in a fresh network
//! namespace with TEST-NET-1 addresses (the kernel is 192.0.2.1, the stack
//! 192.0.2.2): a kernel client with `net.ipv4.tcp_ecn=1` — set in that
//! namespace only — connects to synack (default `tcp_ecn` = 2) and both
//! sides report ECN in `tcp_info`, and ECT data seen both ways. Skips loudly
//! without root and /dev/net/tun (fails under CI=true).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use synack::net::TcpListener;
use synack_proto::tcp::conn::tcpi_options;

mod common;
use common::kernel::{PYTHON, fresh_namespace, skip, tap_runtime};

/// Connects (ECN asked for: the test set `tcp_ecn` in this namespace),
/// exchanges data, and prints the kernel's `tcpi_options` (byte 5 of
/// `struct tcp_info`) and `ss -tni`'s line.
const KERNEL_CLIENT: &str = r#"
import socket, subprocess
assert open("/proc/sys/net/ipv4/tcp_ecn").read().strip() == "1"
s = socket.create_connection(("192.0.2.2", 7), timeout=20)
s.sendall(b"x" * 20000)
got = b""
while len(got) < 20000:
    got += s.recv(65536)
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print(info[5], flush=True)
try:
    ss = subprocess.run(["ss", "-tni", "dst", "192.0.2.2"], capture_output=True, text=True).stdout
except FileNotFoundError:
    ss = "no ss"
print(" ".join(ss.split()), flush=True)
s.close()
"#;

#[test]
fn a_kernel_client_with_tcp_ecn_1_negotiates_ecn_with_synack() {
    if skip("a_kernel_client_with_tcp_ecn_1_negotiates_ecn_with_synack") {
        return;
    }
    fresh_namespace(|| {
        // Net sysctls are per namespace, looked up by the calling thread's:
        // this writes the fresh namespace's, never the root's.
        std::fs::write("/proc/sys/net/ipv4/tcp_ecn", "1").unwrap();
        let rt = tap_runtime();
        let l = TcpListener::bind(&rt, "0.0.0.0:7").unwrap();
        let mut client = Command::new(PYTHON)
            .args(["-c", KERNEL_CLIENT])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Accept, unless the client died first (then its error is shown).
        l.set_nonblocking(true).unwrap();
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Some(status) = client.try_wait().unwrap() {
                        panic!("the kernel client exited first: {status}");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        let mut buf = vec![0u8; 20000];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
        let out = client.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let kernel_options: u8 = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("kernel client output: {text:?}"));
        // Linux's TCPI_OPT_ECN and TCPI_OPT_ECN_SEEN (our data was ECT(0)).
        assert_eq!(kernel_options & tcpi_options::ECN, tcpi_options::ECN);
        assert_eq!(
            kernel_options & tcpi_options::ECN_SEEN,
            tcpi_options::ECN_SEEN
        );
        // `ss -i` prints "ecn" where it prints the options at all (this
        // host's ss shows none of ts/sack/ecn for the socket, whose
        // tcpi_options has them: then only the line is shown).
        let ss = lines.next().unwrap_or_default();
        eprintln!("kernel tcpi_options {kernel_options:#x}; ss: {ss}");
        let words: Vec<&str> = ss.split(' ').collect();
        if words.contains(&"ts") {
            assert!(words.contains(&"ecn"), "ss: {ss}");
        }
        let info = s.info().unwrap();
        assert_eq!(info.options & tcpi_options::ECN, tcpi_options::ECN);
        assert_eq!(
            info.options & tcpi_options::ECN_SEEN,
            tcpi_options::ECN_SEEN
        );
    });
}
