//! `synack ss`'s filter against iproute2's own: in a fresh network
//! namespace, kernel sockets in several states on TEST-NET addresses
//! (listeners, established connections, a half-closed one in FIN-WAIT-2 and
//! CLOSE-WAIT, one in TIME-WAIT), then for each filter the rows real
//! `ss -Htan FILTER` prints and the rows synack's filter keeps of real
//! `ss -Htan`'s must be the same.

mod interop;

#[allow(dead_code)]
#[path = "../src/ss_render.rs"]
mod ss_render;

#[path = "../src/ss_filter.rs"]
mod ss_filter;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use interop::*;
use ss_filter::Filter;
use ss_render::{SsRow, SsState};

/// Sockets of every kind the filters tell apart; prints "ready", then
/// holds them until stdin closes.
const SOCKETS: &str = r#"
import socket, sys, time
def listen(addr, port):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port))
    l.listen(8)
    return l
def connect(src, dst, port):
    c = socket.socket()
    c.bind((src, 0))
    c.connect((dst, port))
    return c
keep = [listen("192.0.2.1", 80), listen("0.0.0.0", 22), listen("198.51.100.1", 8080)]
web, ssh, alt = keep
for src, l, dst, port in [("192.0.2.1", web, "192.0.2.1", 80), ("198.51.100.1", web, "192.0.2.1", 80),
                          ("198.51.100.1", alt, "198.51.100.1", 8080), ("192.0.2.1", ssh, "198.51.100.1", 22)]:
    keep.append(connect(src, dst, port))
    keep.append(l.accept()[0])
# Half closed: FIN-WAIT-2 and CLOSE-WAIT.
half = connect("192.0.2.1", "192.0.2.1", 80)
keep += [half, web.accept()[0]]
half.shutdown(socket.SHUT_WR)
# TIME-WAIT: the client closes first.
tw = connect("198.51.100.1", "192.0.2.1", 22)
peer = ssh.accept()[0]
tw.close()
time.sleep(0.2)
peer.close()
time.sleep(0.3)
print("ready", flush=True)
sys.stdin.read()
"#;

/// Filters real ss takes, each word an argument.
const FILTERS: &[&str] = &[
    "",
    "state established",
    "state listening",
    "state connected",
    "state synchronized",
    "state bucket",
    "state big",
    "state time-wait",
    "state fin-wait-2 state close-wait",
    "exclude listening",
    "state all exclude established",
    "sport = :80",
    "dport = :80",
    "dport != :80",
    "sport > :1024",
    "sport < :1024",
    "sport >= :8080",
    "dport <= :80",
    "sport eq :22",
    "dport gt :1024",
    "( dport = :80 or sport = :80 )",
    "dst 198.51.100.0/24",
    "src 192.0.2.1",
    "src 192.0.2.1:80",
    "dst 192.0.2.1:80",
    "src *:22",
    "not src 192.0.2.1",
    "! dst 192.0.2.0/24",
    "src 198.51.100.1 and dport = :8080",
    "src 198.51.100.1 dport = :8080",
    "dport = :80 or dport = :22 and src 198.51.100.1",
    "src 198.51.100.1 and dport = :80 or dport = :22",
    "not ( sport = :80 or sport = :22 )",
    "state established ( dport = :22 or sport = :22 )",
    "sport = :ssh",
];

/// `ss -Htan [filter]`'s rows as (local, peer) pairs, each socket's own
/// (ss leaves the State column out when a filter keeps one state alone).
fn real_ss(filter: &str) -> BTreeSet<(String, String)> {
    let out = run(Command::new("ss")
        .arg("-Htan")
        .args(filter.split_whitespace()));
    assert!(out.status.success(), "ss -Htan {filter}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.len();
            (f[n - 2].to_string(), f[n - 1].to_string())
        })
        .collect()
}

/// `ss -Htan`'s rows with their states: (state, local, peer).
fn real_rows() -> Vec<(String, String, String)> {
    let out = run(Command::new("ss").arg("-Htan"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[3].to_string(), f[4].to_string())
        })
        .collect()
}

/// A real row as synack's renderer holds it (`*` ports as 0).
fn row((state, local, peer): &(String, String, String)) -> SsRow {
    let addr = |s: &str| -> SocketAddr {
        s.replace(":*", ":0")
            .replace("*:", "0.0.0.0:")
            .parse()
            .unwrap()
    };
    SsRow {
        state: SsState::ALL
            .into_iter()
            .find(|s| s.name() == state)
            .unwrap_or_else(|| panic!("state {state}")),
        recv_q: 0,
        send_q: 0,
        local: addr(local),
        peer: addr(peer),
        info: None,
        mem: None,
        udp: false,
        timer: None,
    }
}

#[test]
fn synacks_filter_keeps_what_linux_ss_keeps() {
    in_namespace(
        "synacks_filter_keeps_what_linux_ss_keeps",
        &[PYTHON, "ss", "ip"],
        |_| {
            ip("link set lo up");
            ip("addr add 192.0.2.1/24 dev lo");
            ip("addr add 198.51.100.1/24 dev lo");
            let mut sockets = Command::new(PYTHON)
                .args(["-c", SOCKETS])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(sockets.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ready");
            let all = real_rows();
            let states: BTreeSet<&str> = all.iter().map(|r| r.0.as_str()).collect();
            for s in ["LISTEN", "ESTAB", "FIN-WAIT-2", "CLOSE-WAIT", "TIME-WAIT"] {
                assert!(states.contains(s), "no {s} socket: {all:?}");
            }
            for filter in FILTERS {
                let words: Vec<String> = filter.split_whitespace().map(str::to_string).collect();
                let ours = Filter::parse(&words).unwrap_or_else(|e| panic!("{filter}: {e}"));
                let kept: BTreeSet<_> = all
                    .iter()
                    .filter(|r| ours.keeps(&row(r)))
                    .map(|r| (r.1.clone(), r.2.clone()))
                    .collect();
                assert_eq!(kept, real_ss(filter), "filter `{filter}`");
            }
            report(&format!(
                "{} filters over {} kernel sockets: synack's filter keeps what ss keeps",
                FILTERS.len(),
                all.len()
            ));
            drop(sockets.stdin.take());
            let _ = sockets.wait();
        },
    );
}
