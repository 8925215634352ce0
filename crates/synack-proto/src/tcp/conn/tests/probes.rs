//! Zero-window probes (the persist timer) and keepalives.

use super::*;

const PEER: u32 = IRS + 1;
const OURS: u32 = ISS + 1;

fn zero_window(h: &mut Harness) {
    h.feed(seg(".", PEER, Some(OURS)).win(0));
}

#[test]
fn a_zero_window_is_probed_with_snd_una_minus_one_backing_off() {
    let mut h = Harness::established();
    zero_window(&mut h);
    h.send(&[1; 100]);
    assert!(h.output().is_empty(), "the window is closed");
    let sent = h.run_until(10_000);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    // The persist timer starts at the RTO (300 ms) and doubles.
    assert_eq!(times, [400, 1_000, 2_200, 4_600, 9_400]);
    for (_, probe) in &sent {
        // Linux `tcp_xmit_probe_skb`: a bare ACK with SND.UNA - 1.
        assert_eq!(probe.f(), ".");
        assert_eq!(probe.seq, SeqNum(OURS - 1));
        assert!(probe.payload.is_empty());
        assert_eq!(probe.ack, Some(SeqNum(PEER)));
    }
    assert_eq!(h.env.stats.tcp_ext.tcp_win_probe, 5);
    assert_eq!(h.info().probes, 5);
}

#[test]
fn answered_probes_keep_the_connection_alive_indefinitely() {
    let mut h = Harness::established();
    zero_window(&mut h);
    h.send(&[1; 100]);
    assert!(h.output().is_empty());
    let mut probes = 0;
    let end = 3 * 3_600 * 1_000;
    while h.now.total_millis() < end {
        let next = h
            .conn
            .poll_timeout()
            .expect("the persist timer")
            .total_millis();
        let sent = h.run_until(next);
        if sent.is_empty() {
            continue;
        }
        probes += 1;
        // The peer answers: still no room.
        h.feed(seg(".", PEER, Some(OURS)).win(0));
        assert!(h.output().is_empty());
        assert_eq!(h.info().probes, 0, "an answer resets the count");
    }
    assert_eq!(h.state(), TcpState::Established);
    assert!(probes > 15, "more probes than tcp_retries2: {probes}");
    // The backoff is capped at 120 s.
    assert_eq!(
        h.conn.timers().get(Timer::Persist).unwrap() - h.now,
        Duration::from_secs(120)
    );
    // The window opens: the data goes.
    h.feed(seg(".", PEER, Some(OURS)).win(1000));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 100);
}

#[test]
fn unanswered_probes_give_up_after_tcp_retries2() {
    let mut h = Harness::established();
    zero_window(&mut h);
    h.send(&[1; 100]);
    let sent = h.run_until(3 * 3_600 * 1_000);
    assert_eq!(sent.len(), 15, "tcp_retries2 probes");
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::TimedOut));
}

#[test]
fn a_window_too_small_for_a_segment_is_used_after_the_persist_timeout() {
    // RFC 9293 §3.8.6.2.1: a small window is not filled at once (sender
    // silly window avoidance), but the override timeout sends what fits.
    let mut h = Harness::established();
    h.feed(seg(".", PEER, Some(OURS)).win(1)); // 1 << 7 = 128 bytes
    h.send(&[1; 1000]);
    assert!(h.output().is_empty());
    let sent = h.run_until(500);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.payload.len(), 128);
}

fn keepalive(h: &mut Harness, idle: u64, interval: u64, count: u8) {
    let now = h.now;
    for option in [
        SocketOption::KeepAlive(true),
        SocketOption::KeepIdle(Duration::from_secs(idle)),
        SocketOption::KeepInterval(Duration::from_secs(interval)),
        SocketOption::KeepCount(count),
    ] {
        h.conn.set_option(now, option, &mut h.env).unwrap();
    }
}

#[test]
fn keepalive_probes_an_idle_peer_and_gives_up_on_silence() {
    let mut h = Harness::established();
    keepalive(&mut h, 10, 2, 3);
    let sent = h.run_until(60_000);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    // Idle 10 s after the last segment (100 ms), then every 2 s; after the
    // third unanswered probe, a reset.
    assert_eq!(times, [10_100, 12_100, 14_100, 16_100]);
    for (_, probe) in &sent[..3] {
        assert_eq!(probe.f(), ".");
        assert_eq!(probe.seq, SeqNum(OURS - 1));
        assert!(probe.payload.is_empty());
    }
    assert_eq!(sent[3].1.f(), "R.");
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::TimedOut));
    assert_eq!(h.env.stats.tcp_ext.tcp_keep_alive, 3);
    let mut buf = [0u8; 1];
    assert_eq!(
        h.conn.recv(h.now, &mut buf, &mut h.env),
        Err(RecvError::Connection(ConnError::TimedOut))
    );
}

#[test]
fn an_answered_keepalive_waits_for_the_next_idle_period() {
    let mut h = Harness::established();
    keepalive(&mut h, 10, 2, 3);
    let sent = h.run_until(10_100);
    assert_eq!(sent.len(), 1);
    h.at(10_150);
    h.feed(seg(".", PEER, Some(OURS)));
    let sent = h.run_until(25_000);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times,
        [20_150, 22_150, 24_150],
        "idle counts from the answer"
    );
    assert_eq!(h.state(), TcpState::Established);
}

#[test]
fn a_reset_answering_a_keepalive_resets_the_connection() {
    let mut h = Harness::established();
    keepalive(&mut h, 10, 2, 3);
    h.run_until(10_100);
    // A rebooted peer answers with <SEQ=SEG.ACK><CTL=RST>: SEG.ACK = RCV.NXT.
    assert_eq!(h.input(seg("R", PEER, None)), Disposition::ConnectionReset);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::Reset));
}

#[test]
fn keepalive_is_off_by_default() {
    let mut h = Harness::established();
    let sent = h.run_until(3 * 3_600 * 1_000);
    assert!(sent.is_empty());
    assert_eq!(h.state(), TcpState::Established);
}

#[test]
fn an_orphans_zero_window_probes_give_up_after_tcp_orphan_retries() {
    // Linux `tcp_probe_timer` for a closed socket: tcp_orphan_retries
    // (0: 8) probes, where one the application holds gets tcp_retries2.
    let mut h = Harness::established();
    zero_window(&mut h);
    h.send(&[1; 100]);
    h.conn.close(h.now, &mut h.env);
    assert!(h.conn.is_orphan());
    let sent = h.run_until(3 * 3_600 * 1_000);
    assert_eq!(sent.len(), 8, "tcp_orphan_retries probes");
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::TimedOut));
}
