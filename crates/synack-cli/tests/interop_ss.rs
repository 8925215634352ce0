//! `synack ss` against iproute2's `ss -tan` in the same namespace: LISTEN,
//! ESTAB and TIME-WAIT rows for live connections, the same 4-tuples seen
//! from both ends.

mod interop;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use interop::*;

/// Two idle connections (A, B); one whose server closes first (C: an HTTP
/// request with `Connection: close`, so synack ends in TIME-WAIT); one whose
/// client closes first (D: so Linux ends in TIME-WAIT). Says "ready", then
/// waits for stdin to end.
const CLIENTS: &str = r#"
import socket, sys
host = sys.argv[1]
a = socket.create_connection((host, 80))
b = socket.create_connection((host, 80))
c = socket.create_connection((host, 80))
c.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
while c.recv(4096):
    pass
c.close()
d = socket.create_connection((host, 80))
d.shutdown(socket.SHUT_WR)
while d.recv(4096):
    pass
d.close()
print("ready", flush=True)
sys.stdin.read()
"#;

/// One row: (state, recv-q, send-q, local, peer).
type Row = (String, u64, u64, String, String);

fn parse(table: &str) -> Vec<Row> {
    table
        .lines()
        .filter(|l| !l.starts_with("State") && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].to_owned(),
                f[4].to_owned(),
            )
        })
        .collect()
}

fn tuples(rows: &[Row], state: &str) -> BTreeSet<(String, String)> {
    rows.iter()
        .filter(|r| r.0 == state)
        .map(|r| (r.3.clone(), r.4.clone()))
        .collect()
}

fn mirrored(set: &BTreeSet<(String, String)>) -> BTreeSet<(String, String)> {
    set.iter().map(|(l, p)| (p.clone(), l.clone())).collect()
}

#[test]
fn synack_ss_matches_linux_ss_for_the_same_connections() {
    in_namespace(
        "synack_ss_matches_linux_ss_for_the_same_connections",
        &[PYTHON, "ss"],
        |env| {
            let www = env.path("www");
            std::fs::create_dir(&www).unwrap();
            std::fs::write(www.join("index.html"), b"hi\n").unwrap();
            let serve = Synack::serve(env, &["--port", "80", "--http", www.to_str().unwrap()]);
            let mut clients = Command::new(PYTHON)
                .args(["-c", CLIENTS, STACK])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(clients.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ready");

            // Both ends settle: synack holds C in TIME-WAIT, Linux holds D.
            let deadline = Instant::now() + Duration::from_secs(20);
            let (ours, theirs) = loop {
                let ours = parse(&serve.ss(&["-tan"]));
                let out = run(Command::new("ss").args(["-tan"]));
                let theirs = parse(&String::from_utf8_lossy(&out.stdout));
                let settled = tuples(&ours, "TIME-WAIT").len() == 1
                    && tuples(&theirs, "TIME-WAIT").len() == 1
                    && ours
                        .iter()
                        .all(|r| ["LISTEN", "ESTAB", "TIME-WAIT"].contains(&r.0.as_str()))
                    && theirs
                        .iter()
                        .all(|r| ["ESTAB", "TIME-WAIT"].contains(&r.0.as_str()));
                if settled {
                    break (ours, theirs);
                }
                assert!(
                    Instant::now() < deadline,
                    "never settled:\nsynack:\n{ours:?}\nlinux:\n{theirs:?}"
                );
                thread::sleep(Duration::from_millis(20));
            };
            let _ = writeln!(
                std::io::stderr(),
                "synack ss -tan:\n{}",
                serve.ss(&["-tan"])
            );

            // The listener: backlog as Send-Q, wildcard peer.
            let listen: Vec<&Row> = ours.iter().filter(|r| r.0 == "LISTEN").collect();
            assert_eq!(listen.len(), 1, "{ours:?}");
            assert_eq!(
                listen[0],
                &(
                    "LISTEN".to_owned(),
                    0,
                    128,
                    "0.0.0.0:80".to_owned(),
                    "0.0.0.0:*".to_owned()
                )
            );
            // A and B: established at both ends, the same 4-tuples mirrored.
            let estab = tuples(&ours, "ESTAB");
            assert_eq!(estab.len(), 2, "{ours:?}");
            assert_eq!(mirrored(&estab), tuples(&theirs, "ESTAB"));
            for r in ours.iter().chain(&theirs).filter(|r| r.0 == "ESTAB") {
                assert_eq!((r.1, r.2), (0, 0), "idle queues: {r:?}");
            }
            // C: synack closed first and waits; Linux has forgotten it.
            let our_tw = tuples(&ours, "TIME-WAIT");
            let their_tw = tuples(&theirs, "TIME-WAIT");
            let all_theirs: BTreeSet<_> =
                theirs.iter().map(|r| (r.4.clone(), r.3.clone())).collect();
            assert!(our_tw.iter().all(|t| !all_theirs.contains(t)), "{theirs:?}");
            // D: Linux closed first and waits; synack has forgotten it.
            let all_ours: BTreeSet<_> = ours.iter().map(|r| (r.4.clone(), r.3.clone())).collect();
            assert!(their_tw.iter().all(|t| !all_ours.contains(t)), "{ours:?}");
            // Every row is on 192.0.2.1 <-> 192.0.2.2:80.
            for (_, _, _, local, peer) in theirs.iter() {
                assert!(local.starts_with("192.0.2.1:") && peer == "192.0.2.2:80");
            }

            // The header is ss's (its spacing follows the widest cells, so
            // compare the words).
            let header =
                |t: &str| -> String { t.lines().next().unwrap_or("").split_whitespace().collect() };
            let linux = run(Command::new("ss").args(["-tan"]));
            assert_eq!(
                header(&serve.ss(&["-tan"])),
                header(&String::from_utf8_lossy(&linux.stdout))
            );
            // -i adds each connection's details; -s counts per state.
            let info = serve.ss(&["-tani"]);
            assert!(info.contains("rtt:") && info.contains("cwnd:"), "{info}");
            let summary = serve.ss(&["-s"]);
            assert!(
                summary.contains("estab 2") && summary.contains("timewait 1"),
                "{summary}"
            );
            // And the stack's buffer memory against `tcp_mem`.
            assert!(
                summary.contains("TCP buffer memory: ") && summary.contains(" bytes (normal)"),
                "{summary}"
            );

            drop(clients.stdin.take());
            let _ = clients.wait();
            drop(serve);
        },
    );
}

#[test]
fn synack_neigh_and_linux_ip_neigh_see_each_other() {
    in_namespace(
        "synack_neigh_and_linux_ip_neigh_see_each_other",
        &[PYTHON, "ip"],
        |env| {
            let www = env.path("www");
            std::fs::create_dir(&www).unwrap();
            std::fs::write(www.join("index.html"), b"hi\n").unwrap();
            let serve = Synack::serve(env, &["--port", "80", "--http", www.to_str().unwrap()]);
            // One request: the kernel resolves the stack, the stack learns
            // the kernel from that request.
            let fetch = r#"
import socket, sys
c = socket.create_connection((sys.argv[1], 80))
c.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
while c.recv(4096):
    pass
"#;
            assert!(
                run(Command::new(PYTHON).args(["-c", fetch, STACK]))
                    .status
                    .success()
            );
            // The kernel's side of the TAP (sysfs is the root namespace's).
            let link = run(Command::new("ip").args(["-j", "link", "show", "syn0"]));
            let link: serde_json::Value = serde_json::from_slice(&link.stdout).unwrap();
            let kernel_mac = link[0]["address"].as_str().unwrap_or_default().to_owned();
            let kernel_mac = kernel_mac.as_str();
            let ours = serve.neigh(&[]);
            let _ = writeln!(std::io::stderr(), "synack neigh:\n{ours}");
            let line = ours
                .lines()
                .find(|l| l.starts_with("192.0.2.1 "))
                .unwrap_or_else(|| panic!("no entry for the kernel: {ours}"));
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(&f[..4], ["192.0.2.1", "dev", "syn0", "lladdr"], "{line}");
            assert_eq!(f[4], kernel_mac, "{line}");
            assert!(
                ["REACHABLE", "STALE", "DELAY", "PROBE"].contains(&f[5]),
                "{line}"
            );
            // The kernel's entry for the stack names the address the
            // stack's frames came from.
            let out = run(Command::new("ip").args(["-j", "neigh", "show", "dev", "syn0", STACK]));
            let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let stack_mac = theirs[0]["lladdr"].as_str().unwrap_or_default().to_owned();
            assert_eq!(stack_mac.len(), 17, "{theirs}");
            assert_ne!(stack_mac, kernel_mac);
            // The JSON is `ip -j neigh`'s shape.
            let j: serde_json::Value = serde_json::from_str(&serve.neigh(&["--json"])).unwrap();
            let entry = j
                .as_array()
                .and_then(|a| a.iter().find(|e| e["dst"] == "192.0.2.1"))
                .unwrap_or_else(|| panic!("{j}"));
            assert_eq!(
                (&entry["dev"], &entry["lladdr"]),
                (&"syn0".into(), &kernel_mac.into())
            );
            assert_eq!(entry["state"].as_array().map(Vec::len), Some(1));
            drop(serve);
        },
    );
}

#[test]
fn synack_ss_u_lists_the_udp_socket_of_an_echo_service() {
    in_namespace(
        "synack_ss_u_lists_the_udp_socket_of_an_echo_service",
        &[],
        |env| {
            // --echo answers UDP on its port too.
            let serve = Synack::serve(env, &["--port", "7", "--echo"]);
            let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
            let udp = serve.ss(&["-uan"]);
            let lines: Vec<String> = udp.lines().map(words).collect();
            assert_eq!(
                lines,
                [
                    "State Recv-Q Send-Q Local Address:Port Peer Address:PortProcess",
                    "UNCONN 0 0 0.0.0.0:7 0.0.0.0:*"
                ],
                "{udp}"
            );
            let both = serve.ss(&["-tuan"]);
            let lines: Vec<String> = both.lines().map(words).collect();
            assert_eq!(
                lines[0],
                "Netid State Recv-Q Send-Q Local Address:Port Peer Address:PortProcess"
            );
            assert_eq!(lines[1], "udp UNCONN 0 0 0.0.0.0:7 0.0.0.0:*", "{both}");
            assert!(lines[2].starts_with("tcp LISTEN 0 "), "{both}");
            drop(serve);
        },
    );
}

/// Echoes "hi" through serve, says so, then waits for the connection's
/// end and prints how it ended.
const KILLED_CLIENT: &str = r#"
import socket, sys
c = socket.create_connection(("192.0.2.2", 7), timeout=10)
c.sendall(b"hi")
assert c.recv(2) == b"hi"
print("echoed", flush=True)
try:
    print("eof" if c.recv(10) == b"" else "data", flush=True)
except ConnectionResetError:
    print("reset", flush=True)
"#;

#[test]
fn ss_k_resets_the_connections_its_filter_keeps() {
    in_namespace(
        "ss_k_resets_the_connections_its_filter_keeps",
        &[PYTHON],
        |env| {
            let serve = Synack::serve(env, &["--port", "7", "--echo"]);
            let mut client = Command::new(PYTHON)
                .args(["-c", KILLED_CLIENT])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
            assert_eq!(lines.next().unwrap().unwrap(), "echoed");
            // A filter that keeps nothing kills nothing.
            let none = serve.ss(&["-K", "dport", "=", ":1"]);
            assert_eq!(none.lines().count(), 1, "{none}");
            // The established connection: reset, and printed.
            let killed = serve.ss(&["-K", "state", "established"]);
            let rows: Vec<&str> = killed.lines().skip(1).collect();
            assert_eq!(rows.len(), 1, "{killed}");
            assert!(
                rows[0].starts_with("ESTAB") && rows[0].contains("192.0.2.2:7"),
                "{killed}"
            );
            assert_eq!(lines.next().unwrap().unwrap(), "reset");
            assert!(client.wait().unwrap().success());
            // The listener stays.
            assert!(serve.ss(&["-l"]).contains("LISTEN"));
            let (status, summary) = serve.stop();
            assert!(status.success(), "{summary}");
        },
    );
}
