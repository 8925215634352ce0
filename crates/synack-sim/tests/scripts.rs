//! The project's own packetdrill scripts (tests/scripts/*.pkt): every TCP
//! behaviour issue 7 lists, stated as Linux does it, run against synack.
//!
//! Every script must pass, except those in [`PENDING`], which wait for a
//! feature another part of synack is building; each names it. A pending
//! script that starts passing fails this test until it is taken off the
//! list, so the list only shrinks.

use std::path::{Path, PathBuf};

use synack_sim::script::run::{RunConfig, Verdict, run_file};

/// Scripts expected not to pass yet, with the missing feature.
const PENDING: &[(&str, &str)] = &[];

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

#[test]
fn own_scripts_pass() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(scripts_dir())
        .expect("tests/scripts exists")
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pkt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 30, "only {} scripts", paths.len());
    for (name, _) in PENDING {
        assert!(
            paths.iter().any(|p| p.ends_with(name)),
            "PENDING names {name}, which does not exist"
        );
    }
    // Our own scripts list everything synack sends: nothing may follow
    // the last outbound line unclaimed.
    let config = RunConfig {
        strict_tail: true,
        ..RunConfig::default()
    };
    let mut failures = Vec::new();
    let mut now_passing = Vec::new();
    let mut pending_seen = Vec::new();
    for path in &paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let report = run_file(path, &config);
        let pending = PENDING.iter().find(|(n, _)| *n == name);
        match (report.verdict, pending) {
            (Verdict::Pass, None) => {}
            (Verdict::Pass, Some(_)) => now_passing.push(name.to_string()),
            (_, Some((_, why))) => pending_seen.push(format!(
                "{name} ({why}): {} {}",
                report.verdict.as_str(),
                report.reason.unwrap_or_default()
            )),
            (v, None) => failures.push(format!(
                "{name}: {} {}",
                v.as_str(),
                report.reason.unwrap_or_default()
            )),
        }
    }
    for p in &pending_seen {
        eprintln!("pending: {p}");
    }
    assert!(
        failures.is_empty(),
        "scripts that do not pass:\n{}",
        failures.join("\n\n")
    );
    assert!(
        now_passing.is_empty(),
        "these scripts pass now: take them off PENDING: {now_passing:?}"
    );
}

#[test]
fn scripts_cover_every_behaviour_issue_7_lists() {
    // Behaviour -> a script that states it.
    let wanted = [
        ("handshake", "handshake-passive.pkt"),
        ("active open", "handshake-active.pkt"),
        ("SYN retransmission and limit", "syn-retransmit.pkt"),
        ("SYN-ACK retransmission and limit", "synack-retransmit.pkt"),
        ("active close", "close-active.pkt"),
        ("passive close", "close-passive.pkt"),
        ("simultaneous open", "simultaneous-open.pkt"),
        ("simultaneous close", "simultaneous-close.pkt"),
        ("TIME-WAIT", "time-wait.pkt"),
        ("RST cases", "rst-established.pkt"),
        ("RFC 5961", "rfc5961-rst.pkt"),
        ("data and delayed ACKs", "delayed-ack.pkt"),
        ("RTO and backoff", "rto-backoff.pkt"),
        ("fast retransmit", "fast-retransmit.pkt"),
        ("SACK", "sack-receiver.pkt"),
        ("zero window and persist", "zero-window-probe.pkt"),
        ("Nagle/NODELAY/CORK", "nagle.pkt"),
        ("keepalive", "keepalive.pkt"),
        ("SYN queue", "syn-queue.pkt"),
        ("accept queue/backlog", "listen-backlog.pkt"),
        ("SYN cookies", "syn-cookies.pkt"),
        ("Fast Open client", "fastopen-client.pkt"),
        ("Fast Open server", "fastopen-server.pkt"),
        ("MSS", "mss.pkt"),
        ("window scaling", "window-scaling.pkt"),
        ("timestamps", "timestamps.pkt"),
        ("linger 0", "linger-zero.pkt"),
        ("close with unread data", "close-unread-data.pkt"),
        ("ICMP errors", "icmp-unreachable.pkt"),
        ("TCP_MAXSEG and TCP_SYNCNT", "tcp-maxseg.pkt"),
    ];
    for (what, file) in wanted {
        assert!(
            scripts_dir().join(file).is_file(),
            "no script for {what} ({file})"
        );
    }
}
