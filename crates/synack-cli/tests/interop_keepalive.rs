//! Keepalive against the Linux kernel: synack detects a peer that vanished
//! in idle + count x interval, and answers Linux's keepalive probes.

mod interop;

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use interop::*;

/// Connects, checks one echo, then waits on stdin (the test's signal to
/// quit) without a word.
const IDLE_CLIENT: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"hello")
assert s.recv(5) == b"hello"
print("connected", s.getsockname()[1], flush=True)
sys.stdin.read()
"#;

#[test]
fn serve_detects_a_vanished_peer_in_idle_plus_count_intervals() {
    in_namespace(
        "serve_detects_a_vanished_peer_in_idle_plus_count_intervals",
        &[PYTHON, "ip"],
        |env| {
            // idle 1 s, probes every 1 s, 2 probes: dead 3 s after the last word.
            let serve = Synack::serve(env, &["--port", "7", "--echo", "--keepalive", "1,1,2"]);
            let mut client = Command::new(PYTHON)
                .args(["-c", IDLE_CLIENT, STACK, "7"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python");
            let mut line = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(client.stdout.as_mut().unwrap()),
                &mut line,
            )
            .unwrap();
            assert!(line.starts_with("connected"), "{line:?}");
            let last_word = Instant::now();
            // The peer vanishes: the kernel's side of the link goes down, so
            // probes get no answer and no RST either.
            let out = run(Command::new("ip").args(["link", "set", "syn0", "down"]));
            assert!(out.status.success(), "{out:?}");
            let rows = |s: &Synack| -> usize {
                let v: serde_json::Value = serde_json::from_str(&s.ss(&["--json"])).unwrap();
                v.as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["state"] == "ESTAB")
                    .count()
            };
            assert_eq!(rows(&serve), 1);
            // `ss -o` shows the connection's keepalive timer, as Linux's ss.
            let timers = serve.ss(&["-o", "state", "established"]);
            assert!(timers.contains(" timer:(keepalive,"), "{timers}");
            while rows(&serve) > 0 {
                assert!(
                    last_word.elapsed() < Duration::from_secs(10),
                    "the vanished peer was never detected"
                );
                thread::sleep(Duration::from_millis(25));
            }
            let took = last_word.elapsed();
            report(&format!(
                "keepalive 1,1,2: vanished peer detected after {:.2} s (expected 3 s)",
                took.as_secs_f64()
            ));
            assert!(
                took >= Duration::from_millis(2800) && took < Duration::from_millis(4500),
                "detected after {took:?}, expected about 3 s"
            );
            drop(client.stdin.take());
            let _ = client.kill();
            let _ = client.wait();
            let (status, summary) = serve.stop();
            assert!(status.success(), "{summary}");
            assert!(summary.contains("1 ended with an error"), "{summary}");
        },
    );
}

/// Keepalive on, probes after 1 s idle every 1 s, 2 unanswered kill it;
/// idles 6 s, then checks the connection still echoes and how many probes
/// the kernel sent.
const PROBING_CLIENT: &str = r#"
import socket, sys, time
def probes():
    lines = open("/proc/net/netstat").read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table["TCPKeepAlive"])
before = probes()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
time.sleep(6)
s.sendall(b"still there?")
assert s.recv(100) == b"still there?"
print(probes() - before)
"#;

#[test]
fn serve_answers_linux_keepalive_probes() {
    in_namespace("serve_answers_linux_keepalive_probes", &[PYTHON], |env| {
        let serve = Synack::serve(env, &["--port", "7", "--echo"]);
        let out = python(PROBING_CLIENT, &[STACK, "7"]);
        assert!(
            out.status.success(),
            "the connection died while idle: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let probes: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        report(&format!(
            "Linux sent {probes} keepalive probes in 6 idle seconds; synack answered them all"
        ));
        // One a second after the first second of silence; unanswered ones
        // would have killed the connection after the second.
        assert!(probes >= 4, "only {probes} probes");
        drop(serve);
    });
}
