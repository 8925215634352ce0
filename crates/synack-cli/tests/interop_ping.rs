//! `synack ping` against the Linux kernel over a TAP (and a TUN), each test
//! in a network namespace of its own with TEST-NET addresses: the kernel
//! answers the stack's echoes as 192.0.2.1, names itself in time exceeded
//! when it forwards a request whose TTL runs out (as the stack's gateway,
//! towards 203.0.113.0/25 through one end of a veth pair, 198.51.100.1),
//! answers a broadcast once `-b` allows one, and nobody answers for a
//! host missing from the link. The output is checked line by line against
//! the format iputils' `ping` prints. The usage errors need no privileges
//! and run everywhere.

mod interop;

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use interop::*;

/// How long one `synack ping` may run before it is killed and the test
/// fails; the slowest here takes about 2 s.
const PING_PATIENCE: Duration = Duration::from_secs(30);

/// What a finished `synack ping` said.
#[derive(Debug)]
struct Ping {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Ping {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// The reply lines (`N bytes from ...`).
    fn replies(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.contains(" bytes from "))
            .collect()
    }

    /// The statistics' counts line.
    fn counts(&self) -> &str {
        self.stdout
            .lines()
            .find(|l| l.contains(" packets transmitted, "))
            .unwrap_or_else(|| panic!("no statistics: {self:?}"))
    }
}

fn output(cmd: &mut Command) -> Ping {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning synack ping");
    let Output {
        status,
        stdout,
        stderr,
    } = wait_output(child, PING_PATIENCE);
    Ping {
        code: status.code(),
        stdout: String::from_utf8(stdout).expect("ping prints text"),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        took: start.elapsed(),
    }
}

/// `synack ping ARGS` on the test's link (`kind`: `--tap` or `--tun`).
fn ping_on(env: &Env, kind: &str, args: &[&str]) -> Ping {
    let p = output(
        Command::new(BIN)
            .arg("ping")
            .args(args)
            .args(link_args_on(env, kind)),
    );
    report(&format!(
        "synack ping {}:\n{}{}",
        args.join(" "),
        p.stdout,
        p.stderr
    ));
    p
}

/// `synack ping ARGS` on the test's TAP.
fn ping(env: &Env, args: &[&str]) -> Ping {
    ping_on(env, "--tap", args)
}

/// `synack ping ARGS` with no device set up at all (usage errors).
fn ping_unprivileged(args: &[&str]) -> Ping {
    output(Command::new(BIN).arg("ping").args(args))
}

/// Checks a reply line: `BYTES bytes from SRC: icmp_seq=SEQ ttl=64
/// time=T ms`, T a number of milliseconds.
fn assert_reply(line: &str, bytes: usize, src: &str, seq: u16) {
    let prefix = format!("{bytes} bytes from {src}: icmp_seq={seq} ttl=64 time=");
    let time = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("`{line}` is not `{prefix}T ms`"));
    let ms: f64 = time
        .parse()
        .unwrap_or_else(|_| panic!("time `{time}` in `{line}`"));
    assert!((0.0..1000.0).contains(&ms), "{line}");
}

#[test]
fn the_kernel_answers_three_echoes() {
    in_namespace("the_kernel_answers_three_echoes", &[], |env| {
        let p = ping(env, &["-c", "3", "-i", "0.2", KERNEL]);
        assert_eq!(p.code, Some(0), "{p:?}");
        let lines = p.lines();
        assert_eq!(
            lines[0], "PING 192.0.2.1 (192.0.2.1) 56(84) bytes of data.",
            "{p:?}"
        );
        let replies = p.replies();
        assert_eq!(replies.len(), 3, "{p:?}");
        for (seq, line) in (1..).zip(&replies) {
            assert_reply(line, 64, KERNEL, seq);
        }
        assert_eq!(lines[4], "", "a blank line before the statistics: {p:?}");
        assert_eq!(lines[5], "--- 192.0.2.1 ping statistics ---");
        assert!(
            p.counts()
                .starts_with("3 packets transmitted, 3 received, 0% packet loss, time "),
            "{p:?}"
        );
        assert!(
            lines[7].starts_with("rtt min/avg/max/mdev = ") && lines[7].ends_with(" ms"),
            "{p:?}"
        );
        assert_eq!(lines.len(), 8, "{p:?}");
        assert!(
            !p.stderr.contains("ping:"),
            "no send or receive errors: {p:?}"
        );
    });
}

#[test]
fn with_m_do_the_kernel_names_the_path_mtu_and_later_requests_are_refused() {
    in_namespace(
        "with_m_do_the_kernel_names_the_path_mtu_and_later_requests_are_refused",
        &["ip"],
        |env| {
            kernel_router();
            // The kernel's link beyond carries 1280 bytes.
            ip("link set far0 mtu 1280");
            let args = "-M do -s 1400 -c 3 -i 0.2 203.0.113.1 --gateway 192.0.2.1";
            let p = ping(env, &args.split(' ').collect::<Vec<_>>());
            assert_eq!(p.code, Some(1), "{p:?}");
            let lines = p.lines();
            assert_eq!(
                &lines[..2],
                [
                    "PING 203.0.113.1 (203.0.113.1) 1400(1428) bytes of data.",
                    "From 192.0.2.1 icmp_seq=1 Frag needed and DF set (mtu = 1280)",
                ],
                "{p:?}"
            );
            // The kernel's report lowered the path MTU: the next requests
            // are refused before they leave, as iputils prints it.
            assert_eq!(
                p.stderr,
                "ping: local error: message too long, mtu=1280\n".repeat(2),
                "{p:?}"
            );
            assert!(
                p.counts()
                    .starts_with("3 packets transmitted, 0 received, +1 errors"),
                "{p:?}"
            );
            // `-M probe` is bounded by the link (1500), not the path.
            let args = "-M probe -s 1473 -c 1 -W 1 192.0.2.1";
            let p = ping(env, &args.split(' ').collect::<Vec<_>>());
            assert_eq!(
                p.stderr, "ping: local error: message too long, mtu=1500\n",
                "{p:?}"
            );
        },
    );
}

#[test]
fn a_record_route_shows_each_hop_and_then_the_same_route() {
    in_namespace(
        "a_record_route_shows_each_hop_and_then_the_same_route",
        &[],
        |env| {
            // With a DSCP too (`-Q`), which changes nothing the kernel
            // answers.
            let p = ping(env, &["-R", "-Q", "0xb8", "-c", "2", "-i", "0.2", KERNEL]);
            assert_eq!(p.code, Some(0), "{p:?}");
            let lines = p.lines();
            // The header counts the 40 bytes of options.
            assert_eq!(
                lines[0],
                "PING 192.0.2.1 (192.0.2.1) 56(124) bytes of data."
            );
            assert_reply(lines[1], 64, KERNEL, 1);
            // Ours as the request left, then the kernel's, which records
            // itself as it takes the request and as it answers.
            assert_eq!(
                &lines[2..6],
                ["RR: \t192.0.2.2", "\t192.0.2.1", "\t192.0.2.1", ""],
                "{p:?}"
            );
            let (second, same) = lines[6].split_once('\t').unwrap_or_else(|| panic!("{p:?}"));
            assert_reply(second, 64, KERNEL, 2);
            assert_eq!(same, "(same route)", "{p:?}");
        },
    );
}

#[test]
fn large_echoes_come_back_whole_over_a_tun() {
    in_namespace("large_echoes_come_back_whole_over_a_tun", &[], |env| {
        // 3000 data bytes: fragments both ways on a 1500-byte MTU.
        let p = ping_on(
            env,
            "--tun",
            &["-c", "2", "-i", "0.2", "-s", "3000", KERNEL],
        );
        assert_eq!(p.code, Some(0), "{p:?}");
        assert!(
            p.stdout
                .starts_with("PING 192.0.2.1 (192.0.2.1) 3000(3028) bytes of data.\n"),
            "{p:?}"
        );
        let replies = p.replies();
        assert_eq!(replies.len(), 2, "{p:?}");
        for (seq, line) in (1..).zip(&replies) {
            assert_reply(line, 3008, KERNEL, seq);
        }
        assert!(
            p.counts()
                .starts_with("2 packets transmitted, 2 received, 0% packet loss"),
            "{p:?}"
        );
    });
}

#[test]
fn the_kernel_as_a_router_names_itself_when_the_ttl_runs_out() {
    in_namespace(
        "the_kernel_as_a_router_names_itself_when_the_ttl_runs_out",
        &["ip"],
        |env| {
            kernel_router();

            // TTL 1: the kernel, the first hop, says time exceeded for
            // each request; no reply, so exit status 1.
            let p = ping(
                env,
                &[
                    "-c",
                    "2",
                    "-i",
                    "0.2",
                    "-t",
                    "1",
                    "203.0.113.1",
                    "--gateway",
                    KERNEL,
                ],
            );
            assert_eq!(p.code, Some(1), "{p:?}");
            let lines = p.lines();
            assert_eq!(
                &lines[..3],
                [
                    "PING 203.0.113.1 (203.0.113.1) 56(84) bytes of data.",
                    "From 192.0.2.1 icmp_seq=1 Time to live exceeded",
                    "From 192.0.2.1 icmp_seq=2 Time to live exceeded",
                ],
                "{p:?}"
            );
            assert!(
                p.counts().starts_with(
                    "2 packets transmitted, 0 received, +2 errors, 100% packet loss, time "
                ),
                "{p:?}"
            );
            assert!(p.replies().is_empty(), "{p:?}");
            assert!(
                !p.stdout.contains("rtt "),
                "no times without replies: {p:?}"
            );
            // Both requests were answered (by errors): no waiting out -W.
            assert!(p.took < Duration::from_secs(2), "{p:?}");

            // The kernel's far address answers through the gateway.
            let p = ping(env, &["-c", "1", "198.51.100.1", "--gateway", KERNEL]);
            assert_eq!(p.code, Some(0), "{p:?}");
            let replies = p.replies();
            assert_eq!(replies.len(), 1, "{p:?}");
            assert_reply(replies[0], 64, "198.51.100.1", 1);
            assert!(
                p.counts()
                    .starts_with("1 packets transmitted, 1 received, 0% packet loss, time 0ms"),
                "{p:?}"
            );
        },
    );
}

#[test]
fn a_host_missing_from_the_link_loses_every_request() {
    in_namespace(
        "a_host_missing_from_the_link_loses_every_request",
        &[],
        |env| {
            let p = ping(env, &["-c", "2", "-i", "0.2", "-W", "1", "192.0.2.99"]);
            assert_eq!(p.code, Some(1), "{p:?}");
            assert!(p.replies().is_empty(), "{p:?}");
            let counts = p.counts();
            assert!(
                counts.starts_with("2 packets transmitted, 0 received")
                    && counts.contains(" 100% packet loss, time "),
                "{p:?}"
            );
            // 0.2 s of sending and 1 s of waiting, plus the device's setup:
            // -W bounds the wait.
            assert!(p.took < Duration::from_secs(10), "{p:?}");
        },
    );
}

#[test]
fn a_broadcast_needs_dash_b_and_then_the_kernel_answers() {
    in_namespace(
        "a_broadcast_needs_dash_b_and_then_the_kernel_answers",
        &[],
        |env| {
            // The namespace's kernel answers broadcast echoes.
            std::fs::write("/proc/sys/net/ipv4/icmp_echo_ignore_broadcasts", "0").unwrap();
            // Without -b: each send is refused (EACCES) and counted lost.
            let p = ping(env, &["-c", "2", "-i", "0.2", "192.0.2.255"]);
            assert_eq!(p.code, Some(1), "{p:?}");
            let refused: Vec<&str> = p
                .stderr
                .lines()
                .filter(|l| l.starts_with("ping: sendmsg: permission denied"))
                .collect();
            assert_eq!(refused.len(), 2, "{p:?}");
            assert!(
                p.counts()
                    .starts_with("2 packets transmitted, 0 received, 100% packet loss"),
                "{p:?}"
            );
            // With -b: the kernel answers from its own address.
            let p = ping(env, &["-c", "2", "-i", "0.2", "-b", "192.0.2.255"]);
            assert_eq!(p.code, Some(0), "{p:?}");
            let replies = p.replies();
            assert_eq!(replies.len(), 2, "{p:?}");
            for (seq, line) in (1..).zip(&replies) {
                assert_reply(line, 64, KERNEL, seq);
            }
        },
    );
}

#[test]
fn a_group_ping_is_answered_by_the_kernel_as_a_member() {
    in_namespace(
        "a_group_ping_is_answered_by_the_kernel_as_a_member",
        &[],
        |env| {
            // The namespace's kernel answers echoes to groups it is in (every
            // host is in 224.0.0.1), as it answers broadcast ones.
            std::fs::write("/proc/sys/net/ipv4/icmp_echo_ignore_broadcasts", "0").unwrap();
            // A group's datagrams need a route (or IP_MULTICAST_IF), as on
            // Linux: the default one here.
            let args = ["-c", "2", "-i", "0.2", "--gateway", KERNEL, "224.0.0.1"];
            let p = ping(env, &args);
            assert_eq!(p.code, Some(0), "{p:?}");
            let replies = p.replies();
            assert_eq!(replies.len(), 2, "{p:?}");
            for (seq, line) in (1..).zip(&replies) {
                assert_reply(line, 64, KERNEL, seq);
            }
        },
    );
}

#[test]
fn ctrl_c_stops_early_and_still_prints_the_statistics() {
    in_namespace(
        "ctrl_c_stops_early_and_still_prints_the_statistics",
        &["kill"],
        |env| {
            let mut child = Command::new(BIN)
                .args(["ping", "-c", "100", "-i", "0.2", KERNEL])
                .args(link_args(env))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawning synack ping");
            let rx = stdout_lines(&mut child);
            // Two replies, then SIGINT (what Ctrl-C sends).
            let mut seen = Vec::new();
            while seen
                .iter()
                .filter(|l: &&String| l.contains(" bytes from "))
                .count()
                < 2
            {
                match rx.recv_timeout(PING_PATIENCE) {
                    Ok(line) => seen.push(line),
                    Err(e) => panic!("no two replies ({e}): {seen:?}"),
                }
            }
            let pid = child.id().to_string();
            assert!(
                run(Command::new("kill").args(["-INT", &pid]))
                    .status
                    .success()
            );
            let status = wait(&mut child, PING_PATIENCE);
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            seen.extend(rx.iter());
            let text = seen.join("\n");
            report(&format!(
                "synack ping -c 100, interrupted:\n{text}\n{stderr}"
            ));
            assert_eq!(status.code(), Some(0), "{text}\n{stderr}");
            assert!(
                text.contains("\n--- 192.0.2.1 ping statistics ---\n"),
                "{text}"
            );
            let counts = seen
                .iter()
                .find(|l| l.contains(" packets transmitted, "))
                .unwrap_or_else(|| panic!("no statistics: {text}"));
            let numbers: Vec<u32> = counts
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect();
            let (sent, received) = (numbers[0], numbers[1]);
            assert!(
                (2..10).contains(&sent) && received + 1 >= sent && received <= sent,
                "stopped long before 100: {counts}"
            );
            assert!(text.contains("rtt min/avg/max/mdev = "), "{text}");
        },
    );
}

/// Bad arguments: clap's one error, exit status 2, before any device is
/// touched (no privileges needed; runs everywhere).
#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let link = ["--tap", "x", "--addr", "192.0.2.2/24"];
    let cases: [(&[&str], &str); 9] = [
        (&["-M", "maybe", KERNEL], "'maybe' for '-M <PMTUDISC>'"),
        (&["-Q", "256", KERNEL], "`256` is not a TOS byte"),
        (&["-Q", "0x1g", KERNEL], "`0x1g` is not a TOS byte"),
        (&["-c", "0", KERNEL], "'0' for '--count <COUNT>'"),
        (&["-t", "0", KERNEL], "'0' for '--ttl <TTL>'"),
        (&["-t", "256", KERNEL], "'256' for '--ttl <TTL>'"),
        (&["example.com"], "`example.com` is not an IPv4 address"),
        (&["-i", "0.001", KERNEL], "minimum interval"),
        (&["-s", "65508", KERNEL], "65508 is not in 0..=65507"),
    ];
    for (args, says) in cases {
        let all: Vec<&str> = args.iter().chain(&link).copied().collect();
        let p = ping_unprivileged(&all);
        assert_eq!(p.code, Some(2), "{args:?}: {p:?}");
        assert!(p.stdout.is_empty(), "{args:?}: {p:?}");
        assert!(
            p.stderr.starts_with("error: invalid value ") && p.stderr.contains(says),
            "{args:?} should say {says:?}: {p:?}"
        );
    }
    let help = ping_unprivileged(&["--help"]);
    assert_eq!(help.code, Some(0), "{help:?}");
    assert!(
        help.stdout.contains("Examples:") && help.stdout.contains("-c, --count <COUNT>"),
        "{help:?}"
    );
}
