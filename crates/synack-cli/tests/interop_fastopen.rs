//! TCP Fast Open with the Linux kernel, both ways, checked in captures
//! (`synack trace --json` reads them): a Linux client (`sendto` with
//! `MSG_FASTOPEN`) gets a cookie from `synack serve --fastopen`, and its
//! next SYN carries data that the server takes from the SYN; `synack
//! connect --fastopen` does the same to a Linux listener with
//! `TCP_FASTOPEN`.

mod interop;

use std::path::Path;
use std::process::{Command, Stdio};

use interop::*;
use serde_json::Value;

/// Every packet of a capture, as `synack trace --json` prints it.
fn packets(pcap: &Path) -> Vec<Value> {
    let out = run(Command::new(BIN).args(["trace", "--json"]).arg(pcap));
    assert!(out.status.success(), "synack trace: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn flags(p: &Value) -> Vec<&str> {
    p["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The Fast Open option's cookie (hex; empty for a request), if any.
fn fastopen_cookie(p: &Value) -> Option<String> {
    p["options"].as_array()?.iter().find_map(|o| {
        (o["kind"] == "fastopen" || o["kind"] == "fastopen_exp")
            .then(|| o["cookie"].as_str().unwrap_or_default().to_owned())
    })
}

/// The SYNs (without ACK) a host sent, in order.
fn syns<'a>(all: &'a [Value], from_ip: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|p| p["proto"] == "tcp" && flags(p) == ["SYN"])
        .filter(|p| p["src"].as_str().is_some_and(|s| s.starts_with(from_ip)))
        .collect()
}

/// The SYN-ACK answering `syn`.
fn syn_ack_for<'a>(all: &'a [Value], syn: &Value) -> &'a Value {
    all.iter()
        .find(|p| flags(p).contains(&"SYN") && flags(p).contains(&"ACK") && p["dst"] == syn["src"])
        .expect("a SYN-ACK")
}

const LINUX_CLIENT: &str = r#"
import socket, sys
host = sys.argv[1]
MSG_FASTOPEN = 0x20000000
for msg in (b"first fast open", b"data in the SYN"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.sendto(msg, MSG_FASTOPEN, (host, 7))
    got = b""
    while len(got) < len(msg):
        got += s.recv(100)
    assert got == msg, got
    s.close()
print("ok")
"#;

#[test]
fn a_linux_client_gets_a_cookie_then_sends_data_in_the_syn_to_serve() {
    in_namespace(
        "a_linux_client_gets_a_cookie_then_sends_data_in_the_syn_to_serve",
        &[PYTHON, "sysctl"],
        |env| {
            let out = run(Command::new("sysctl").args(["-w", "net.ipv4.tcp_fastopen=1"]));
            assert!(out.status.success(), "{out:?}");
            let pcap = env.path("serve.pcap");
            let serve = Synack::serve(
                env,
                &[
                    "--port",
                    "7",
                    "--echo",
                    "--fastopen",
                    "--pcap",
                    pcap.to_str().unwrap(),
                ],
            );
            let out = python(LINUX_CLIENT, &[STACK]);
            assert!(out.status.success(), "{out:?}");
            let (status, summary) = serve.stop();
            assert!(status.success(), "{summary}");

            let all = packets(&pcap);
            let syns = syns(&all, KERNEL);
            assert_eq!(syns.len(), 2, "{all:#?}");
            // First: a cookie request, no data; the SYN-ACK hands one out.
            assert_eq!(fastopen_cookie(syns[0]).as_deref(), Some(""));
            assert_eq!(syns[0]["len"], 0);
            let cookie = fastopen_cookie(syn_ack_for(&all, syns[0])).expect("a cookie");
            assert!(cookie.len() >= 8, "{cookie}");
            // Second: the cookie and the data in the SYN, and the SYN-ACK
            // acknowledges the data: the server took it from the SYN.
            assert_eq!(fastopen_cookie(syns[1]), Some(cookie.clone()));
            let len = syns[1]["len"].as_u64().unwrap();
            assert_eq!(len, 15, "the SYN carries 'data in the SYN'");
            let seq = syns[1]["seq"].as_u64().unwrap();
            let syn_ack = all
                .iter()
                .filter(|p| flags(p).contains(&"SYN") && flags(p).contains(&"ACK"))
                .nth(1)
                .expect("the second SYN-ACK");
            assert_eq!(syn_ack["ack"].as_u64(), Some((seq + 1 + len) % (1 << 32)));
            report(&format!(
                "Linux -> synack serve --fastopen: cookie {cookie}, second SYN carried {len} bytes, acknowledged by the SYN-ACK"
            ));
        },
    );
}

/// A Linux Fast Open server: answers each connection with what it read,
/// prefixed, and prints the kernel's TCPFastOpenPassive count at the end.
const LINUX_SERVER: &str = r#"
import socket, sys
def passive():
    lines = open("/proc/net/netstat").read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split()[1:], values.split()[1:]))["TCPFastOpenPassive"])
before = passive()
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 5)
l.bind(("0.0.0.0", 9000))
l.listen(5)
print("listening", flush=True)
for _ in range(2):
    c, _ = l.accept()
    got = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        got += chunk
    c.sendall(b"linux got: " + got)
    c.close()
print(passive() - before, flush=True)
"#;

#[test]
fn synack_connect_sends_data_in_the_syn_to_a_linux_fast_open_listener() {
    in_namespace(
        "synack_connect_sends_data_in_the_syn_to_a_linux_fast_open_listener",
        &[PYTHON, "sysctl"],
        |env| {
            let out = run(Command::new("sysctl").args(["-w", "net.ipv4.tcp_fastopen=3"]));
            assert!(out.status.success(), "{out:?}");
            let mut server = Command::new(PYTHON)
                .args(["-c", LINUX_SERVER])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines =
                std::io::BufRead::lines(std::io::BufReader::new(server.stdout.take().unwrap()));
            assert_eq!(lines.next().unwrap().unwrap(), "listening");
            let cache = env.path("fastopen.json");
            for (i, msg) in ["no cookie yet", "with the cookie"].iter().enumerate() {
                let pcap = env.path(&format!("connect{i}.pcap"));
                let mut cmd = Command::new(BIN);
                cmd.args([
                    "connect",
                    "192.0.2.1:9000",
                    "--fastopen",
                    "--fastopen-cache",
                ])
                .arg(&cache)
                .args(link_args(env))
                .arg("--pcap")
                .arg(&pcap)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
                let mut child = cmd.spawn().unwrap();
                std::io::Write::write_all(&mut child.stdin.take().unwrap(), msg.as_bytes())
                    .unwrap();
                let out = wait_output(child, PATIENCE);
                assert!(out.status.success(), "{out:?}");
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    format!("linux got: {msg}")
                );

                let all = packets(&pcap);
                let syn = syns(&all, STACK)[0];
                if i == 0 {
                    assert_eq!(
                        fastopen_cookie(syn).as_deref(),
                        Some(""),
                        "a cookie request"
                    );
                    assert_eq!(syn["len"], 0);
                    assert!(fastopen_cookie(syn_ack_for(&all, syn)).is_some_and(|c| !c.is_empty()));
                } else {
                    assert!(fastopen_cookie(syn).is_some_and(|c| !c.is_empty()), "{syn}");
                    assert_eq!(
                        syn["len"].as_u64(),
                        Some(msg.len() as u64),
                        "data in the SYN"
                    );
                    let seq = syn["seq"].as_u64().unwrap();
                    let ack = syn_ack_for(&all, syn)["ack"].as_u64();
                    assert_eq!(ack, Some((seq + 1 + msg.len() as u64) % (1 << 32)));
                }
            }
            let passive: u64 = lines.next().unwrap().unwrap().trim().parse().unwrap();
            assert_eq!(passive, 1, "Linux took one connection's data from its SYN");
            let _ = server.wait();
            report(
                "synack connect --fastopen -> Linux TCP_FASTOPEN listener: cookie learned, then data in the SYN (TCPFastOpenPassive 1)",
            );
        },
    );
}
