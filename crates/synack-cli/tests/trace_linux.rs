//! `synack trace --json` against tshark, packet by packet, on a real Linux
//! TCP exchange captured by tcpdump.
//!
//! Two fresh network namespaces joined by a veth pair on TEST-NET-1
//! (client 192.0.2.1, server 192.0.2.2; RFC 5737), IPv6 off so the capture
//! holds only what the test makes, TCP Fast Open on (`tcp_fastopen=3`).
//! Three tcpdumps in the client's namespace write the same traffic as
//! Ethernet (`-i` the veth), Linux cooked v2 (`-i any`) and Linux cooked v1
//! (`-i any -y LINUX_SLL`). The traffic (tests/data/trace_linux/*.py): a
//! transfer with timestamps, window scaling and SACK blocks (the client
//! crafts two out-of-order segments, so the Linux server answers with
//! duplicate ACKs carrying one and then two SACK blocks, and a D-SACK
//! once the holes fill: deterministic, where there is no netem), a refused
//! connection (RST), two Fast Open connections (cookie request, then the
//! cookie with data in the SYN), ping, and UDP to a closed port.
//!
//! Then, for every packet of every capture, `synack trace --json` and
//! `tshark -T fields` must agree on proto, t, src, dst, and for TCP flags,
//! seq, ack (null without ACK), win, len and the whole options list in
//! wire order (kinds, MSS, window scale, SACK blocks, TS val/ecr, Fast
//! Open cookies), for UDP the length, for ICMP type and code, for ARP the
//! operation and addresses. The captures stay in
//! `target/tmp/trace_linux/` for a look in Wireshark.
//!
//! Needs root, iproute2, tcpdump, tshark and /usr/bin/python3
//! (`scripts/install-test-deps.sh`). Without them it prints "skipping: ..."
//! and passes, except under `CI=true`, where it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long any step may take before the test fails. A healthy run takes
/// well under a second; this is only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);
const PORT: &str = "8080";
const CLOSED_PORT: &str = "8081";
/// The last datagram's port: its ICMP "port unreachable" ends the traffic.
const END_PORT: &str = "4242";

#[test]
fn synack_trace_json_agrees_with_tshark_on_a_real_linux_capture() {
    if let Err(why) = prerequisites() {
        let msg = format!("skipping trace_linux: {why}");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg} (CI=true: the Linux interop test must run)");
        }
        // Straight to the handle: the test harness captures `eprintln!`.
        let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
        return;
    }
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("trace_linux");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).expect("create output directory");
    let captures = capture_linux_traffic(&out_dir);

    for (pcap, link) in &captures {
        let compared = compare_with_tshark(pcap);
        eprintln!(
            "{}: {compared} packets agree with tshark ({link})",
            pcap.display()
        );
        assert!(
            compared >= 30,
            "{}: only {compared} packets",
            pcap.display()
        );
    }
    features_present(&captures[0].0);

    // The diagrams of the same capture, for people reading the test log.
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["trace", "--width", "110"])
        .arg(&captures[0].0)
        .output()
        .expect("run synack trace");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "tfo cookiereq",
        "tfo cookie ",
        "sack ",
        "wscale ",
        "TS val ",
        "R. ",
    ] {
        assert!(
            text.contains(needle),
            "no {needle:?} in the ladder:\n{text}"
        );
    }
    eprintln!("{text}");
}

/// Root, the tools, and the scripts.
fn prerequisites() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .ok_or("no Uid in /proc/self/status")?;
    if euid != "0" {
        return Err("not root (network namespaces need it)".into());
    }
    for tool in ["ip", "tcpdump", "tshark", "timeout"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!(
                "{tool} not found (run scripts/install-test-deps.sh)"
            ));
        }
    }
    if !Path::new("/usr/bin/python3").exists() {
        return Err("/usr/bin/python3 not found".into());
    }
    Ok(())
}

/// Runs a command to completion; panics (failing the test) if it fails.
fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two network namespaces, deleted on drop (which also removes the veth).
struct Namespaces {
    client: String,
    server: String,
}

impl Namespaces {
    fn create() -> Namespaces {
        let pid = std::process::id();
        let ns = Namespaces {
            client: format!("synack-trace-{pid}-c"),
            server: format!("synack-trace-{pid}-s"),
        };
        for name in [&ns.client, &ns.server] {
            // A leftover from a killed run with the same pid, if any.
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(Stdio::null())
                .status();
            run(&["ip", "netns", "add", name]);
        }
        ns
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// A child process killed (if still running) on drop.
struct Proc {
    child: Child,
    what: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of a child's stdout or stderr, read on a thread.
fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle`; returns the lines seen before it.
fn wait_for_line(rx: &Receiver<String>, needle: &str, what: &str) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return seen,
            Ok(line) => seen.push(line),
            Err(e) => panic!("{what}: no line with {needle:?} ({e:?}); saw {seen:#?}"),
        }
    }
}

/// Writes a sysctl of namespace `ns` (no procps needed).
fn sysctl(ns: &str, key: &str, value: &str) {
    let script = format!("echo {value} > /proc/sys/{key}");
    run(&["ip", "netns", "exec", ns, "sh", "-c", &script]);
}

/// Sets up the namespaces, runs the traffic under three tcpdumps, and
/// returns the captures with a name for their link type.
fn capture_linux_traffic(out_dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let ns = Namespaces::create();
    let (c, s) = (ns.client.as_str(), ns.server.as_str());
    run(&[
        "ip", "link", "add", "va", "netns", c, "type", "veth", "peer", "name", "vb", "netns", s,
    ]);
    for name in [c, s] {
        // Only the test's own traffic: no IPv6 neighbour discovery.
        sysctl(name, "net/ipv6/conf/all/disable_ipv6", "1");
        sysctl(name, "net/ipv6/conf/default/disable_ipv6", "1");
        // Fast Open as client and server (Linux: 1 client, 2 server).
        sysctl(name, "net/ipv4/tcp_fastopen", "3");
        run(&["ip", "-n", name, "link", "set", "lo", "up"]);
    }
    run(&["ip", "-n", c, "addr", "add", "192.0.2.1/24", "dev", "va"]);
    run(&["ip", "-n", s, "addr", "add", "192.0.2.2/24", "dev", "vb"]);
    run(&["ip", "-n", c, "link", "set", "va", "up"]);
    run(&["ip", "-n", s, "link", "set", "vb", "up"]);

    let kinds: [(&str, &[&str], &str); 3] = [
        ("ethernet.pcap", &["-i", "va"], "Ethernet"),
        ("any-sll2.pcap", &["-i", "any"], "Linux cooked v2"),
        (
            "any-sll.pcap",
            &["-i", "any", "-y", "LINUX_SLL"],
            "Linux cooked v1",
        ),
    ];
    let mut dumps = Vec::new();
    for (file, iface, link) in kinds {
        let path = out_dir.join(file);
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", c, "tcpdump", "-n", "-U", "-l", "--print", "-s", "0",
            ])
            // Stay root: the output directory belongs to whoever runs cargo.
            .args(["-Z", "root"])
            .args(iface)
            .arg("-w")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        let proc = Proc {
            child,
            what: format!("tcpdump {iface:?}"),
        };
        // tcpdump says "listening on ..." once its capture is open.
        wait_for_line(&stderr, "listening on", &proc.what);
        dumps.push((proc, stdout, path, link));
    }

    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/trace_linux");
    let mut server = Command::new("ip")
        .args(["netns", "exec", s, "/usr/bin/python3", "-u"])
        .arg(scripts.join("server.py"))
        .args([PORT, "3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let server_out = lines_of(server.stdout.take().expect("stdout"));
    let _server = Proc {
        child: server,
        what: "server".into(),
    };
    wait_for_line(&server_out, "ready", "server");

    let secs = PATIENCE.as_secs().to_string();
    let client = Command::new("timeout")
        .args([secs.as_str(), "ip", "netns", "exec", c, "/usr/bin/python3"])
        .arg(scripts.join("client.py"))
        .args(["va", PORT, CLOSED_PORT, END_PORT])
        .output()
        .expect("run the client");
    assert!(
        client.status.success(),
        "client failed ({}): {}{}",
        client.status,
        String::from_utf8_lossy(&client.stdout),
        String::from_utf8_lossy(&client.stderr)
    );
    for _ in 0..3 {
        wait_for_line(&server_out, "served", "server");
    }

    let mut captures = Vec::new();
    let end = format!("udp port {END_PORT} unreachable");
    for (mut proc, stdout, path, link) in dumps {
        // tcpdump prints a packet after writing and flushing it (-U), so
        // once the last one is printed the file is complete.
        wait_for_line(&stdout, &end, &proc.what);
        // `ip netns exec` execs tcpdump, so the child is tcpdump itself.
        let pid = proc.child.id().to_string();
        run(&["sh", "-c", "kill -INT \"$0\"", &pid]);
        let status = proc.child.wait().expect("wait for tcpdump");
        assert!(status.success(), "{}: {status}", proc.what);
        captures.push((path, link));
    }
    captures
}

/// tshark's fields, one column each, in this order.
const FIELDS: [&str; 28] = [
    "frame.time_epoch",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq",
    "tcp.ack",
    "tcp.window_size_value",
    "tcp.len",
    "tcp.option_kind",
    "tcp.option_len",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.sack_le",
    "tcp.options.sack_re",
    "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
    "tcp.options.tfo.cookie",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "icmp.type",
    "icmp.code",
    "arp.opcode",
    "arp.src.proto_ipv4",
    "arp.dst.proto_ipv4",
];

/// One tshark row: every occurrence of every field.
struct Row(Vec<Vec<String>>);

impl Row {
    fn all(&self, field: &str) -> &[String] {
        let i = FIELDS.iter().position(|f| *f == field).expect(field);
        &self.0[i]
    }

    /// The first occurrence (the outer header when ICMP quotes another).
    fn first(&self, field: &str) -> &str {
        self.all(field).first().map_or("", String::as_str)
    }

    fn num(&self, field: &str) -> u64 {
        let v = self.first(field);
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        }
        .unwrap_or_else(|e| panic!("{field} = {v:?}: {e}"))
    }
}

fn tshark(pcap: &Path) -> Vec<Row> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap);
    // Raw sequence numbers, no analysis that could renumber anything.
    cmd.args(["-o", "tcp.relative_sequence_numbers:FALSE"]);
    cmd.args(["-o", "tcp.analyze_sequence_numbers:FALSE"]);
    cmd.args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"]);
    cmd.args(["-E", "aggregator=,"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8 from tshark")
        .lines()
        .map(|line| {
            let cols: Vec<Vec<String>> = line
                .split('\t')
                .map(|c| {
                    c.split(',')
                        .filter(|v| !v.is_empty())
                        .map(String::from)
                        .collect()
                })
                .collect();
            assert_eq!(cols.len(), FIELDS.len(), "tshark row {line:?}");
            Row(cols)
        })
        .collect()
}

fn synack_json(pcap: &Path) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["trace", "--json"])
        .arg(pcap)
        .output()
        .expect("run synack trace --json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(String::from)
        .collect()
}

/// Compares every packet; returns how many there were.
fn compare_with_tshark(pcap: &Path) -> usize {
    let ours = synack_json(pcap);
    let theirs = tshark(pcap);
    assert_eq!(ours.len(), theirs.len(), "{}: packet count", pcap.display());
    for (i, (line, row)) in ours.iter().zip(&theirs).enumerate() {
        let ctx = format!("{} packet {}: {line}", pcap.display(), i + 1);
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        compare_packet(line, &v, row, &ctx);
    }
    ours.len()
}

fn compare_packet(line: &str, v: &Value, row: &Row, ctx: &str) {
    // t: the pcap timestamp; tshark prints nanoseconds, the file has µs.
    let t = line
        .strip_prefix(r#"{"t":"#)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("{ctx}: no t first"));
    let (secs, frac) = row
        .first("frame.time_epoch")
        .split_once('.')
        .expect("epoch");
    assert_eq!(t, format!("{secs}.{}", &frac[..6]), "{ctx}: t");

    let protos: Vec<&str> = row.first("frame.protocols").split(':').collect();
    let after_ip = protos
        .iter()
        .position(|p| *p == "ip")
        .map(|i| protos.get(i + 1));
    let proto = match after_ip {
        Some(Some(&p @ ("tcp" | "udp" | "icmp"))) => p,
        _ if protos.contains(&"arp") => "arp",
        _ => "other",
    };
    assert_eq!(v["proto"], proto, "{ctx}: proto ({protos:?})");
    let endpoint = |ip: &str, port: &str| format!("{}:{}", row.first(ip), row.first(port));
    match proto {
        "tcp" => {
            assert_eq!(v["src"], endpoint("ip.src", "tcp.srcport"), "{ctx}: src");
            assert_eq!(v["dst"], endpoint("ip.dst", "tcp.dstport"), "{ctx}: dst");
            let bits = row.num("tcp.flags");
            let names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
            let flags: Vec<&str> = (0..8)
                .filter(|b| bits & (1 << b) != 0)
                .map(|b| names[b])
                .collect();
            assert_eq!(v["flags"], json!(flags), "{ctx}: flags");
            assert_eq!(v["seq"], row.num("tcp.seq"), "{ctx}: seq");
            if bits & 0x10 != 0 {
                assert_eq!(v["ack"], row.num("tcp.ack"), "{ctx}: ack");
            } else {
                assert_eq!(v["ack"], Value::Null, "{ctx}: ack without ACK");
            }
            assert_eq!(v["win"], row.num("tcp.window_size_value"), "{ctx}: win");
            assert_eq!(v["len"], row.num("tcp.len"), "{ctx}: len");
            assert_eq!(v["options"], tshark_options(row, ctx), "{ctx}: options");
        }
        "udp" => {
            assert_eq!(v["src"], endpoint("ip.src", "udp.srcport"), "{ctx}: src");
            assert_eq!(v["dst"], endpoint("ip.dst", "udp.dstport"), "{ctx}: dst");
            assert_eq!(v["len"], row.num("udp.length") - 8, "{ctx}: len");
        }
        "icmp" => {
            assert_eq!(v["src"], row.first("ip.src"), "{ctx}: src");
            assert_eq!(v["dst"], row.first("ip.dst"), "{ctx}: dst");
            assert_eq!(v["type"], row.num("icmp.type"), "{ctx}: type");
            assert_eq!(v["code"], row.num("icmp.code"), "{ctx}: code");
        }
        "arp" => {
            let op = match row.num("arp.opcode") {
                1 => json!("request"),
                2 => json!("reply"),
                n => json!(n),
            };
            assert_eq!(v["op"], op, "{ctx}: op");
            assert_eq!(v["src"], row.first("arp.src.proto_ipv4"), "{ctx}: src");
            assert_eq!(v["dst"], row.first("arp.dst.proto_ipv4"), "{ctx}: dst");
        }
        _ => {}
    }
}

/// The options list, in synack's JSON form, rebuilt from tshark's fields:
/// the kinds in wire order, each taking its values from per-field queues.
fn tshark_options(row: &Row, ctx: &str) -> Value {
    let queue = |field: &str| row.all(field).to_vec().into_iter();
    let (mut lens, mut mss, mut ws) = (
        queue("tcp.option_len"),
        queue("tcp.options.mss_val"),
        queue("tcp.options.wscale.shift"),
    );
    let (mut le, mut re) = (queue("tcp.options.sack_le"), queue("tcp.options.sack_re"));
    let (mut tsval, mut tsecr) = (
        queue("tcp.options.timestamp.tsval"),
        queue("tcp.options.timestamp.tsecr"),
    );
    let mut cookies = queue("tcp.options.tfo.cookie");
    let num = |v: Option<String>, what: &str| -> u64 {
        let v = v.unwrap_or_else(|| panic!("{ctx}: tshark has no {what}"));
        v.parse()
            .unwrap_or_else(|e| panic!("{ctx}: {what} {v:?}: {e}"))
    };
    let mut out = Vec::new();
    for kind in row.all("tcp.option_kind") {
        let kind: u64 = kind.parse().expect("option kind");
        // EOL and NOP have no length field; every other option does.
        let len = if kind > 1 {
            num(lens.next(), "tcp.option_len")
        } else {
            1
        };
        out.push(match kind {
            0 => json!({"kind": "eol"}),
            1 => json!({"kind": "nop"}),
            2 => json!({"kind": "mss", "value": num(mss.next(), "mss")}),
            3 => json!({"kind": "window_scale", "value": num(ws.next(), "wscale")}),
            4 => json!({"kind": "sack_permitted"}),
            5 => {
                let blocks: Vec<[u64; 2]> = (0..(len - 2) / 8)
                    .map(|_| [num(le.next(), "sack_le"), num(re.next(), "sack_re")])
                    .collect();
                json!({"kind": "sack", "blocks": blocks})
            }
            8 => json!({
                "kind": "timestamp",
                "val": num(tsval.next(), "tsval"),
                "ecr": num(tsecr.next(), "tsecr"),
            }),
            // RFC 7413: an empty option asks for a cookie.
            34 if len == 2 => json!({"kind": "fastopen", "cookie": ""}),
            34 => {
                let cookie = cookies.next().expect("tfo cookie").replace(':', "");
                json!({"kind": "fastopen", "cookie": cookie})
            }
            n => json!({"kind": "unknown", "number": n, "len": len}),
        });
    }
    Value::Array(out)
}

/// The capture really holds what the test claims to cover.
fn features_present(pcap: &Path) {
    let packets: Vec<Value> = synack_json(pcap)
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let tcp = || packets.iter().filter(|p| p["proto"] == "tcp");
    let options = |p: &Value| p["options"].as_array().cloned().unwrap_or_default();
    let has = |p: &Value, kind: &str| options(p).iter().any(|o| o["kind"] == kind);
    let syns = || tcp().filter(|p| p["flags"] == json!(["SYN"]));
    let checks: [(&str, bool); 9] = [
        (
            "a SYN with MSS, SACK-permitted, timestamps and window scale",
            syns().any(|p| {
                ["mss", "sack_permitted", "timestamp", "window_scale"]
                    .iter()
                    .all(|k| has(p, k))
            }),
        ),
        (
            "an ACK with two SACK blocks",
            tcp().any(|p| {
                options(p)
                    .iter()
                    .any(|o| o["kind"] == "sack" && o["blocks"].as_array().map(Vec::len) == Some(2))
            }),
        ),
        (
            "a Fast Open cookie request",
            syns().any(|p| options(p).contains(&json!({"kind": "fastopen", "cookie": ""}))),
        ),
        (
            "a SYN-ACK carrying a cookie",
            tcp().any(|p| {
                p["flags"] == json!(["SYN", "ACK"])
                    && options(p)
                        .iter()
                        .any(|o| o["kind"] == "fastopen" && o["cookie"] != "")
            }),
        ),
        (
            "a SYN with a cookie and data",
            syns().any(|p| p["len"] != 0 && has(p, "fastopen")),
        ),
        ("a RST", tcp().any(|p| p["flags"] == json!(["RST", "ACK"]))),
        ("ARP", packets.iter().any(|p| p["proto"] == "arp")),
        ("ICMP", packets.iter().any(|p| p["proto"] == "icmp")),
        ("UDP", packets.iter().any(|p| p["proto"] == "udp")),
    ];
    for (what, found) in checks {
        assert!(found, "{}: no {what}", pcap.display());
    }
}
