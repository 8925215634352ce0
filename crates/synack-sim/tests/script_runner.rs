//! The script runner's own rules, each proven on a small script: what
//! passes, what fails and with which message, what is skipped.

use synack_sim::script::run::{Report, RunConfig, Verdict, run_source};

fn run(src: &str) -> Report {
    run_source(src, "t.pkt", &RunConfig::default())
}

fn run_verbose(src: &str) -> Report {
    run_source(
        src,
        "t.pkt",
        &RunConfig {
            verbose: true,
            ..RunConfig::default()
        },
    )
}

#[track_caller]
fn assert_pass(r: &Report) {
    assert_eq!(
        r.verdict,
        Verdict::Pass,
        "reason: {:?}\ntrace:\n{}",
        r.reason,
        r.trace.join("\n")
    );
}

/// The reason of a failure, which must name `line`.
#[track_caller]
fn failure(r: &Report, line: u32) -> String {
    assert_eq!(r.verdict, Verdict::Fail, "expected a failure, got {r:?}");
    let reason = r.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with(&format!("t.pkt:{line}: ")),
        "expected a failure at line {line}: {reason}"
    );
    reason
}

/// A passive open with timestamps off, MSS 1000: lines 1-7.
const ACCEPTED: &str = "\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 7>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
";

#[test]
fn a_passive_open_with_data_passes() {
    let r = run(&format!(
        "{ACCEPTED}\
+0 write(4, ..., 1000) = 1000
+0 > P. 1:1001(1000) ack 1
+.1 < . 1:1(0) ack 1001 win 257
+0 close(4) = 0
+0 > F. 1001:1001(0) ack 1
+.1 < F. 1:1(0) ack 1002 win 257
+0 > . 1002:1002(0) ack 2
"
    ));
    assert_pass(&r);
}

#[test]
fn a_wrong_field_fails_naming_the_line_the_field_and_both_packets() {
    let r = run(&format!(
        "{ACCEPTED}+0 write(4, ..., 1000) = 1000\n+0 > P. 1:1001(1000) ack 2\n"
    ));
    let reason = failure(&r, 10);
    assert!(
        reason.contains("live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)"),
        "{reason}"
    );
    assert!(
        reason.contains("script packet: > P. 1:1001(1000) ack 2"),
        "{reason}"
    );
    assert!(
        reason.contains("actual packet: 0.100000s > P. 1:1001(1000) ack 1 win "),
        "{reason}"
    );
}

#[test]
fn options_are_compared_in_order_and_wildcards_match_anything() {
    let syn = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n\
+0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n";
    assert_pass(&run(&format!("{syn}+0 > S. 0:0(0) ack 1 <...>\n")));
    assert_pass(&run(&format!(
        "{syn}+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>\n"
    )));
    let r = run(&format!(
        "{syn}+0 > S. 0:0(0) ack 1 <mss 1460,sackOK,nop,nop,nop,wscale 7>\n"
    ));
    assert!(failure(&r, 5).contains("bad outbound TCP options"));
    let r = run(&format!(
        "{syn}+0 > S. 0:0(0) ack 1 <mss 1000,nop,nop,sackOK,nop,wscale 7>\n"
    ));
    assert!(failure(&r, 5).contains(
        "bad value in outbound TCP option (kind=2): expected: mss 1000 actual: mss 1460"
    ));
}

#[test]
fn several_segments_stand_for_one_scripted_segment_when_boundaries_line_up() {
    // MSS 1000: synack sends three 1000-byte segments for one write.
    let r = run_verbose(&format!(
        "{ACCEPTED}+0 write(4, ..., 3000) = 3000\n+0 > P. 1:3001(3000) ack 1\n"
    ));
    assert_pass(&r);
    assert!(
        r.trace
            .iter()
            .any(|l| l.contains("1:3001(3000)") && l.contains("3 segments")),
        "{:#?}",
        r.trace
    );
    // Two scripted pieces of 2000 and 1000 bytes match as well (the first
    // a GSO packet of two segments, with PSH as Linux's).
    assert_pass(&run(&format!(
        "{ACCEPTED}+0 write(4, ..., 3000) = 3000\n+0 > P. 1:2001(2000) ack 1\n+0 > P. 2001:3001(1000) ack 1\n"
    )));
    // A boundary inside one of synack's segments does not.
    let r = run(&format!(
        "{ACCEPTED}+0 write(4, ..., 3000) = 3000\n+0 > . 1:1501(1500) ack 1\n"
    ));
    assert!(
        failure(&r, 10).contains("live packet payload: expected 1500 bytes vs actual 2000 bytes")
    );
}

#[test]
fn a_packet_sent_before_the_expected_one_fails() {
    // synack answers the data at once; the script expects nothing until a
    // write 100 ms later.
    let r = run(&format!(
        "{ACCEPTED}\
+0 < P. 1:101(100) ack 1 win 257
+.1 write(4, ..., 10) = 10
+0 > P. 1:11(10) ack 101
"
    ));
    let reason = failure(&r, 11);
    assert!(
        reason.contains("live packet field tcp_psh: expected: 1 (0x1) vs actual: 0 (0x0)"),
        "{reason}"
    );
}

#[test]
fn with_strict_tail_a_packet_nobody_expects_before_the_last_event_fails() {
    let src = format!(
        "{ACCEPTED}+0 < P. 1:101(100) ack 1 win 257\n+.1 %{{ assert tcpi_state == TCP_ESTABLISHED }}%\n"
    );
    let strict = RunConfig {
        strict_tail: true,
        ..RunConfig::default()
    };
    let r = run_source(&src, "t.pkt", &strict);
    let reason = failure(&r, 10);
    assert!(reason.contains("unexpected outbound packet"), "{reason}");
    assert!(reason.contains("> . 1:1(0) ack 101"), "{reason}");
    // packetdrill sniffs only for `>` lines and stops after the last
    // event: by default the same packet goes unexamined.
    assert_pass(&run(&src));
    // The answer to the last event itself is not checked either way.
    assert_pass(&run_source(
        &format!("{ACCEPTED}+0 < P. 1:101(100) ack 1 win 257\n"),
        "t.pkt",
        &strict,
    ));
}

#[test]
fn a_packet_that_never_comes_times_out() {
    let r = run(&format!("{ACCEPTED}+0 > P. 1:11(10) ack 1\n"));
    assert!(failure(&r, 9).contains("timed out waiting for packet"));
}

#[test]
fn outbound_timing_uses_the_tolerance_and_the_percentage_rule() {
    // The SYN-ACK is retransmitted 1 s after the first (initial RTO).
    let head = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n\
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>\n\
+0 > S. 0:0(0) ack 1 <...>\n";
    assert_pass(&run(&format!("{head}+1 > S. 0:0(0) ack 1 <...>\n")));
    // 12.5% of 0.9 s is 112.5 ms: 1 s is within it.
    assert_pass(&run(&format!("{head}+.9 > S. 0:0(0) ack 1 <...>\n")));
    let r = run(&format!("{head}+.8 > S. 0:0(0) ack 1 <...>\n"));
    let reason = failure(&r, 6);
    assert!(
        reason.contains("expected at 0.800000s but happened at 1.000000s; tolerance 100.000ms"),
        "{reason}"
    );
    assert_pass(&run(&format!("{head}+.95~+1.05 > S. 0:0(0) ack 1 <...>\n")));
    assert_pass(&run(&format!("{head}* > S. 0:0(0) ack 1 <...>\n")));
    let r = run(&format!(
        "--tolerance_percent=0\n{head}+.9 > S. 0:0(0) ack 1 <...>\n"
    ));
    assert!(failure(&r, 7).contains("tolerance 4.000ms"));
}

#[test]
fn a_blocking_call_returns_at_its_scripted_time() {
    // accept() blocks from 0 until the handshake completes at 0.2 s.
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0...0.200 accept(3, ..., ...) = 4
+.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win 257
+0 write(4, ..., 10) = 10
+0 > P. 1:11(10) ack 1
";
    assert_pass(&run(script));
    let late = script.replace("+0...0.200 accept", "+0...0.100 accept");
    let reason = failure(&run(&late), 4);
    assert!(
        reason.contains("accept() return expected at 0.100000s but happened at 0.200000s"),
        "{reason}"
    );
}

#[test]
fn a_call_that_blocks_without_dots_holds_the_script_up() {
    // A blocking read written without `...`: the data arrives only from
    // the script, which cannot go on: it never returns.
    let r = run(&format!("{ACCEPTED}+0 read(4, ..., 100) = 100\n"));
    assert!(failure(&r, 9).contains("read() blocked and never returned"));
}

#[test]
fn return_values_and_errno_are_checked() {
    let r = run(&format!(
        "{ACCEPTED}+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0 read(4, ..., 100) = -1 EAGAIN (Resource temporarily unavailable)\n"
    ));
    assert_pass(&r);
    let r = run(&format!(
        "{ACCEPTED}+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0 read(4, ..., 100) = -1 ECONNRESET\n"
    ));
    assert!(failure(&r, 10).contains(
        "runtime error in read call: Expected errno 104 (Connection reset by peer) but got 11 (Resource temporarily unavailable)"
    ));
    let r = run(&format!("{ACCEPTED}+0 write(4, ..., 10) = 11\n"));
    assert!(failure(&r, 9).contains("Expected result 11 but got 10"));
}

#[test]
fn socket_fds_follow_the_script_and_bad_protocols_fail_like_linux() {
    let r = run("0 socket(..., SOCK_STREAM, IPPROTO_UDP) = -1 EPROTONOSUPPORT\n");
    assert_pass(&r);
    // packetdrill maps the script's number onto whatever the call returns.
    assert_pass(&run(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 7\n+0 close(7) = 0\n",
    ));
    let r = run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 close(4) = -1 EBADF\n");
    assert_pass(&r);
}

#[test]
fn asserts_read_tcp_info_and_fail_after_the_last_event() {
    let r = run(&format!(
        "{ACCEPTED}+0 %{{ assert tcpi_state == TCP_ESTABLISHED; assert tcpi_snd_mss == 1000 }}%\n"
    ));
    assert_pass(&r);
    // Loss recovery's counters are there too.
    let r = run(&format!(
        "{ACCEPTED}+0 %{{ assert tcpi_lost == 0 and tcpi_sacked == 0 and tcpi_retrans == 0 and \
         tcpi_reord_seen == 0 and tcpi_dsack_dups == 0 }}%\n"
    ));
    assert_pass(&r);
    // A failed assert is reported with its line, once nothing else failed.
    let r = run(&format!(
        "{ACCEPTED}+0 %{{ assert tcpi_snd_cwnd == 99, tcpi_snd_cwnd }}%\n+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n"
    ));
    let reason = failure(&r, 9);
    assert!(
        reason
            .contains("AssertionError: `assert tcpi_snd_cwnd == 99, tcpi_snd_cwnd` (message: 10)"),
        "{reason}"
    );
    // A packet mismatch after it wins, as in packetdrill.
    let r = run(&format!(
        "{ACCEPTED}+0 %{{ assert tcpi_snd_cwnd == 99 }}%\n+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 9\n"
    ));
    failure(&r, 11);
    let r = run(&format!(
        "{ACCEPTED}+0 %{{ assert tcpi_no_such_field == 1 }}%\n"
    ));
    assert_eq!(r.verdict, Verdict::Skip);
    assert!(r.reason.unwrap().contains("tcpi_no_such_field"));
}

#[test]
fn shell_sysctls_configure_the_stack_and_other_commands_are_noted() {
    let script = "`sysctl -q net.ipv4.tcp_timestamps=0; ip tcp_metrics flush all`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 7>
";
    let r = run(script);
    assert_pass(&r);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("`ip` does not set sysctls")),
        "{:?}",
        r.notes
    );
    // Mid-script, as an event.
    let script = "0 `sysctl -q net.ipv4.tcp_sack=0`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1460,nop,nop,TS val 0 ecr 0,nop,wscale 7>
";
    assert_pass(&run(script));
}

#[test]
fn timestamps_map_between_the_scripts_clock_and_synacks() {
    // synack's TS clock has its own offset; the script names its values
    // from 100 on. With --tcp_ts_tick_usecs the val must advance at 1 kHz.
    let script = "--tcp_ts_tick_usecs=1000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 7 ecr 0,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 100 ecr 7,nop,wscale 7>
+.1 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 8 ecr 100>
+0 accept(3, ..., ...) = 4
+.5 write(4, ..., 10) = 10
+0 > P. 1:11(10) ack 1 <nop,nop,TS val 700 ecr 8>
";
    assert_pass(&run(script));
    let r = run(&script.replace("TS val 700", "TS val 900"));
    assert!(failure(&r, 10).contains("bad outbound TCP timestamp value"));
    // An inbound ecr must name a TS val synack sent.
    let r = run(&script.replace("ecr 100>", "ecr 55>"));
    assert!(failure(&r, 7).contains("unable to infer live TS ecr for script TS ecr 55"));
}

#[test]
fn unsupported_things_skip_with_a_reason() {
    let r = run("--ip_version=ipv6\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
    assert_eq!(r.verdict, Verdict::Skip);
    assert!(r.reason.unwrap().contains("IPv6"));
    let r = run("0 epoll_create(1) = 3\n");
    assert_eq!(r.verdict, Verdict::Skip);
    assert!(r.reason.unwrap().contains("epoll_create"));
    let r = run(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_SOCKET, SO_ZEROCOPY, [1], 4) = 0\n",
    );
    assert_eq!(r.verdict, Verdict::Skip);
    assert!(r.reason.unwrap().contains("SO_ZEROCOPY"));
    // An Accurate ECN SYN-ACK expected (the AE bit): synack has classic
    // ECN only.
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < SEWA 0:0(0) win 32792 <mss 1000>
+0 > SEA. 0:0(0) ack 1 <mss 1460>
";
    let r = run(script);
    assert_eq!(r.verdict, Verdict::Skip);
    let reason = r.reason.unwrap();
    assert!(
        reason.contains("Accurate ECN") && reason.contains("line 5"),
        "{reason}"
    );
}

#[test]
fn classic_ecn_flags_are_checked_like_any_other() {
    // RFC 3168 §6.1.1: an ECN-setup SYN gets an ECN-setup SYN-ACK (ECE,
    // no CWR) with synack's default tcp_ecn = 2, a plain one with 0.
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < SEW 0:0(0) win 32792 <mss 1000>
+0 > SE. 0:0(0) ack 1 <mss 1460>
";
    assert_pass(&run(script));
    let off = format!("0 `sysctl -q net.ipv4.tcp_ecn=0`\n{script}");
    assert!(failure(&run(&off), 6).contains("tcp_ece"));
}

#[test]
fn the_verbose_trace_shows_every_event_with_its_time() {
    let r = run_verbose(&format!(
        "{ACCEPTED}+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n"
    ));
    assert_pass(&r);
    let t = r.trace.join("\n");
    assert!(
        t.contains("inject < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>"),
        "{t}"
    );
    assert!(t.contains("0.100000s > P. 1:11(10) ack 1 win"), "{t}");
}

#[test]
fn poll_readv_writev_send_recv_and_shutdown_behave_like_linux() {
    let r = run_verbose(&format!(
        "{ACCEPTED}\
+0 poll([{{fd=4, events=POLLIN|POLLOUT, revents=POLLOUT}}], 1, 0) = 1
+0...0.1 poll([{{fd=4, events=POLLIN, revents=POLLIN}}], 1, 1000) = 1
+.1 < P. 1:11(10) ack 1 win 257
+0 > . 1:1(0) ack 11
+0 readv(4, [{{..., 5}}, {{..., 5}}], 2) = 10
+0 poll([{{fd=4, events=POLLIN, revents=0}}], 1, 50) = 0
+0 writev(4, [{{..., 3}}, {{..., 4}}], 2) = 7
+0 > P. 1:8(7) ack 11
+.1 < . 11:11(0) ack 8 win 257
+0 send(4, ..., 5, 0) = 5
+0 > P. 8:13(5) ack 11
+.1 < P. 11:21(10) ack 13 win 257
+0 > . 13:13(0) ack 21
+0 recv(4, ..., 100, 0) = 10
+0 recvfrom(4, ..., 100, MSG_DONTWAIT, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)
+0 getsockopt(4, SOL_TCP, TCP_INFO, ..., [232]) = 0
+0 shutdown(4, SHUT_RD) = 0
+0 read(4, ..., 10) = 0
+0 poll([{{fd=4, events=POLLIN|POLLRDHUP, revents=POLLIN|POLLRDHUP}}], 1, 0) = 1
"
    ));
    assert_pass(&r);
    // The 50 ms poll held the script up: the writev came 50 ms later.
    assert!(
        r.trace
            .iter()
            .any(|l| l.contains("0.250000s sent") && l.contains("P. 1:8(7)")),
        "{:#?}",
        r.trace
    );
    let r = run(&format!(
        "{ACCEPTED}+0 poll([{{fd=4, events=POLLIN|POLLOUT, revents=POLLIN}}], 1, 0) = 1\n"
    ));
    assert!(failure(&r, 9).contains("Expected revents of POLLIN but got POLLOUT for pollfd 0"));
}

#[test]
fn sk_err_is_reported_once_and_a_listener_has_no_data() {
    let r = run(&format!(
        "{ACCEPTED}\
+0 read(3, ..., 10) = -1 ENOTCONN (Transport endpoint is not connected)
+0 write(3, ..., 10) = -1 EPIPE (Broken pipe)
+.1 < R. 1:1(0) ack 1 win 257
+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0
+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+0 read(4, ..., 10) = 0
+0 write(4, ..., 10) = -1 EPIPE (Broken pipe)
"
    ));
    assert_pass(&r);
}

#[test]
fn a_listeners_socket_options_reach_its_children() {
    // Set before listen() and after it: both shape the SYN-ACK's MSS.
    let before = run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [1100], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1300,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1100,nop,wscale 7>
");
    assert_pass(&before);
    let after = run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [1000], 4) = 0
+0 < S 0:0(0) win 32792 <mss 1300,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1000,nop,wscale 7>
");
    assert_pass(&after);
}
