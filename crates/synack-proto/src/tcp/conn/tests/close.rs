//! Closing: the four-way close, simultaneous close, half-close, TIME-WAIT,
//! resets on close, aborts.

use super::*;

const PEER: u32 = IRS + 1;
const OURS: u32 = ISS + 1;

fn shutdown_write(h: &mut Harness) {
    h.conn
        .shutdown(h.now, Shutdown::Write, &mut h.env)
        .expect("shutdown");
}

#[test]
fn active_close_walks_fin_wait_1_fin_wait_2_time_wait_closed() {
    let mut h = Harness::established();
    h.at(1_000);
    shutdown_write(&mut h);
    assert_eq!(h.state(), TcpState::FinWait1);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].f(), "F.");
    assert_eq!((out[0].seq, out[0].ack), (SeqNum(OURS), Some(SeqNum(PEER))));
    h.at(1_100);
    h.feed(seg(".", PEER, Some(OURS + 1)));
    assert_eq!(h.state(), TcpState::FinWait2);
    h.at(1_200);
    h.feed(seg("F.", PEER, Some(OURS + 1)));
    assert_eq!(h.state(), TcpState::TimeWait);
    // A FIN in FIN-WAIT-2 is acknowledged at once.
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].seq, out[0].ack),
        (SeqNum(OURS + 1), Some(SeqNum(PEER + 1)))
    );
    // TIME-WAIT lasts 2 MSL = 60 s.
    h.run_until(61_199);
    assert_eq!(h.state(), TcpState::TimeWait);
    h.run_until(61_200);
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::Normal));
    assert_eq!(
        states(&h.drain_events()),
        [
            TcpState::FinWait1,
            TcpState::FinWait2,
            TcpState::TimeWait,
            TcpState::Closed
        ]
    );
    assert_eq!(h.env.stats.tcp_ext.tw, 1);
    assert_eq!(h.env.stats.tcp.curr_estab, 0);
    assert_eq!(h.env.stats.tcp.estab_resets, 0);
}

#[test]
fn time_wait_frees_the_buffers() {
    let mut h = Harness::established();
    h.send(&[1; 100]);
    h.output();
    h.feed(seg(".", PEER, Some(OURS + 100)).len(50));
    assert_eq!(h.recv_all().len(), 50);
    assert!(h.conn.buffer_memory() > 0);
    shutdown_write(&mut h);
    h.output();
    h.feed(seg("F.", PEER + 50, Some(OURS + 101)));
    assert_eq!(h.state(), TcpState::TimeWait);
    assert_eq!(h.conn.buffer_memory(), 0);
    assert!(h.conn.time_wait_entry().is_some());
}

#[test]
fn passive_close_walks_close_wait_last_ack_closed() {
    let mut h = Harness::established();
    h.at(1_000);
    h.feed(seg("F.", PEER, Some(OURS)));
    assert_eq!(h.state(), TcpState::CloseWait);
    assert_eq!(h.recv_all().len(), 0, "end of stream");
    h.at(1_010);
    shutdown_write(&mut h);
    assert_eq!(h.state(), TcpState::LastAck);
    let out = h.output();
    assert_eq!(out.len(), 1, "the FIN carries the ACK of the peer's FIN");
    assert_eq!(out[0].f(), "F.");
    assert_eq!(
        (out[0].seq, out[0].ack),
        (SeqNum(OURS), Some(SeqNum(PEER + 1)))
    );
    h.at(1_100);
    h.feed(seg(".", PEER + 1, Some(OURS + 1)));
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::Normal));
    assert_eq!(
        states(&h.drain_events()),
        [TcpState::CloseWait, TcpState::LastAck, TcpState::Closed]
    );
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut h = Harness::established();
    shutdown_write(&mut h);
    h.output();
    // The peer's FIN crossed ours: it does not acknowledge ours.
    h.feed(seg("F.", PEER, Some(OURS)));
    assert_eq!(h.state(), TcpState::Closing);
    let out = h.output();
    assert_eq!(out.len(), 1, "ACK at once");
    assert_eq!(out[0].ack, Some(SeqNum(PEER + 1)));
    h.feed(seg(".", PEER + 1, Some(OURS + 1)));
    assert_eq!(h.state(), TcpState::TimeWait);
}

/// Data queued before the close still goes out after a crossing FIN moved
/// us to CLOSING ("In addition to the processing for the ESTABLISHED
/// state", RFC 9293 §3.10.7.4): our FIN waits behind it.
#[test]
fn closing_still_sends_data_queued_before_the_fin() {
    let mut h = Harness::established();
    h.send(&[7; 3000]);
    shutdown_write(&mut h);
    // The peer's FIN arrives before any of it was sent.
    h.feed(seg("F.", PEER, Some(OURS)));
    assert_eq!(h.state(), TcpState::Closing);
    let out = h.output();
    let sent: usize = out.iter().map(|s| s.payload.len()).sum();
    assert_eq!(sent, 3000, "{out:?}");
    let last = out.last().expect("segments");
    assert!(last.flags.fin(), "the FIN follows the data: {out:?}");
    assert_eq!(last.ack, Some(SeqNum(PEER + 1)));
    h.feed(seg(".", PEER + 1, Some(OURS + 3001)));
    assert_eq!(h.state(), TcpState::TimeWait);
}

#[test]
fn fin_wait_1_goes_straight_to_time_wait_on_a_fin_acking_our_fin() {
    let mut h = Harness::established();
    shutdown_write(&mut h);
    h.output();
    h.feed(seg("F.", PEER, Some(OURS + 1)));
    assert_eq!(h.state(), TcpState::TimeWait);
    assert_eq!(
        states(&h.drain_events()),
        [TcpState::FinWait1, TcpState::FinWait2, TcpState::TimeWait]
    );
}

#[test]
fn a_retransmitted_fin_in_time_wait_is_acked_again_and_restarts_2msl() {
    let mut h = Harness::established();
    shutdown_write(&mut h);
    h.output();
    h.at(200);
    h.feed(seg("F.", PEER, Some(OURS + 1)));
    h.output();
    h.at(30_200);
    let d = h.input(seg("F.", PEER, Some(OURS + 1)));
    assert_eq!(d, Disposition::DroppedWithAck(DropReason::OutOfWindow));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].seq, out[0].ack),
        (SeqNum(OURS + 1), Some(SeqNum(PEER + 1)))
    );
    assert!(out[0].options.timestamp.is_some());
    h.run_until(90_199);
    assert_eq!(h.state(), TcpState::TimeWait, "restarted at 30.2 s");
    h.run_until(90_200);
    assert_eq!(h.state(), TcpState::Closed);
}

#[test]
fn a_reset_in_time_wait_is_ignored_as_rfc1337_asks() {
    let mut h = Harness::established();
    shutdown_write(&mut h);
    h.output();
    h.feed(seg("F.", PEER, Some(OURS + 1)));
    h.output();
    let d = h.input(seg("R", PEER + 1, None));
    assert_eq!(d, Disposition::Dropped(DropReason::IgnoredReset));
    assert_eq!(h.state(), TcpState::TimeWait);
}

#[test]
fn a_newer_syn_in_time_wait_may_start_a_new_incarnation() {
    let mut h = Harness::established();
    shutdown_write(&mut h);
    h.output();
    h.feed(seg("F.", PEER, Some(OURS + 1)));
    h.output();
    let d = h.input(seg("S", PEER + 100_000, None));
    assert_eq!(
        d,
        Disposition::Reincarnate {
            iss: SeqNum(OURS + 1 + 65_537)
        }
    );
    // An older SYN gets an ACK instead.
    let d = h.input(seg("S", PEER - 100, None));
    assert_eq!(d, Disposition::DroppedWithAck(DropReason::OutOfWindow));
}

#[test]
fn the_fin_is_retransmitted_when_unacknowledged() {
    let mut h = Harness::established();
    h.at(1_000);
    shutdown_write(&mut h);
    let sent = h.run_until(3_000);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    // A tail loss probe first (RFC 8985 §7.2: 2 SRTT + 200 ms for one
    // segment, capped by the 300 ms RTO), which restarts the RTO; then the
    // RTO, doubling.
    assert_eq!(times, [1_000, 1_300, 1_600, 2_200]);
    assert_eq!(h.env.stats.tcp_ext.tcp_loss_probes, 1);
    assert!(
        sent.iter()
            .all(|(_, s)| s.f() == "F." && s.seq == SeqNum(OURS))
    );
}

#[test]
fn an_orphaned_fin_wait_2_gives_up_after_tcp_fin_timeout() {
    let mut h = Harness::established();
    h.conn.close(h.now, &mut h.env);
    h.output();
    h.at(200);
    h.feed(seg(".", PEER, Some(OURS + 1)));
    assert_eq!(h.state(), TcpState::FinWait2);
    h.run_until(60_199);
    assert_eq!(h.state(), TcpState::FinWait2);
    h.run_until(60_200);
    assert_eq!(h.state(), TcpState::Closed);
    // Not orphaned (half-closed): FIN-WAIT-2 waits as long as it takes.
    let mut h = Harness::established();
    shutdown_write(&mut h);
    h.output();
    h.feed(seg(".", PEER, Some(OURS + 1)));
    h.run_until(600_000);
    assert_eq!(h.state(), TcpState::FinWait2);
}

#[test]
fn close_with_unread_data_resets_the_connection() {
    // close-unread-data-rst.pkt.
    let mut h = Harness::established();
    h.at(210);
    h.feed(seg("P.", PEER, Some(OURS)).len(1000).ts(900, 0));
    h.output();
    h.at(610);
    h.feed(seg("F.", PEER + 1000, Some(OURS)).ts(950, 0));
    h.run_until(700);
    h.conn.close(h.now, &mut h.env);
    assert_eq!(h.state(), TcpState::Closed);
    let out = h.output();
    assert_eq!(out.len(), 1);
    // > R. SND.NXT ack RCV.NXT, with our timestamp.
    assert_eq!(out[0].f(), "R.");
    assert_eq!(
        (out[0].seq, out[0].ack),
        (SeqNum(OURS), Some(SeqNum(PEER + 1001)))
    );
    assert_eq!(
        out[0].options.timestamp,
        Some(TcpTimestamp {
            tsval: Harness::tsval_at(700),
            tsecr: 950
        })
    );
    assert_eq!(h.env.stats.tcp_ext.tcp_abort_on_close, 1);
    assert_eq!(h.env.stats.tcp.out_rsts, 1);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::Aborted));
}

#[test]
fn linger_zero_resets_instead_of_closing_and_skips_time_wait() {
    let mut h = Harness::established();
    h.conn
        .set_option(
            h.now,
            SocketOption::Linger(Some(Duration::ZERO)),
            &mut h.env,
        )
        .unwrap();
    h.conn.close(h.now, &mut h.env);
    assert_eq!(h.state(), TcpState::Closed);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].f(), "R.");
    assert!(!states(&h.drain_events()).contains(&TcpState::TimeWait));
}

#[test]
fn writes_after_shutdown_fail_and_reads_still_work() {
    // shutdown-wr-close.pkt.
    let mut h = Harness::established();
    shutdown_write(&mut h);
    h.output();
    assert_eq!(
        h.conn.send(h.now, b"x", SendFlags::default(), &mut h.env),
        Err(SendError::WriteShutdown)
    );
    h.feed(seg(".", PEER, Some(OURS + 1)));
    h.feed(seg(".", PEER, Some(OURS + 1)).len(1000));
    let out = h.output();
    assert_eq!(out.len(), 1, "FIN-WAIT-2 still acknowledges data");
    assert_eq!(out[0].ack, Some(SeqNum(PEER + 1000)));
    assert_eq!(h.recv_all().len(), 1000);
}

#[test]
fn shutdown_both_ends_reads_and_writes() {
    // shutdown-rdwr-close.pkt.
    let mut h = Harness::established();
    h.conn.shutdown(h.now, Shutdown::Both, &mut h.env).unwrap();
    let out = h.output();
    assert_eq!(out[0].f(), "F.");
    let mut buf = [0u8; 10];
    assert_eq!(h.conn.recv(h.now, &mut buf, &mut h.env), Ok(0));
    assert_eq!(
        h.conn.send(h.now, b"x", SendFlags::default(), &mut h.env),
        Err(SendError::WriteShutdown)
    );
}

#[test]
fn data_after_close_in_fin_wait_2_draws_a_reset() {
    // RFC 2525 §2.17; user_timeout.pkt's last exchange.
    let mut h = Harness::established();
    h.conn.close(h.now, &mut h.env);
    h.output();
    h.feed(seg(".", PEER, Some(OURS + 1)));
    let d = h.input(seg(".", PEER, Some(OURS + 1)).len(1));
    assert_eq!(d, Disposition::ResetSent(DropReason::DataAfterClose));
    let out = h.output();
    assert_eq!(out.len(), 1);
    // Like a reset for no connection: <SEQ=SEG.ACK><CTL=RST>.
    assert_eq!(out[0].f(), "R");
    assert_eq!(out[0].seq, SeqNum(OURS + 1));
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.env.stats.tcp_ext.tcp_abort_on_data, 1);
}

#[test]
fn abort_resets_an_established_connection() {
    let mut h = Harness::established();
    h.send(b"unsent, lost");
    h.output();
    h.conn.abort(h.now, &mut h.env);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].f(), "R.");
    assert_eq!(out[0].seq, SeqNum(OURS + 12));
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(
        h.conn.send(h.now, b"x", SendFlags::default(), &mut h.env),
        Err(SendError::Connection(ConnError::Aborted))
    );
}

#[test]
fn close_in_syn_sent_deletes_the_connection_without_a_reset() {
    // close-on-syn-sent.pkt (the late SYN-ACK then meets no connection).
    let mut h = Harness::client(Config::default());
    h.output();
    h.conn.close(h.now, &mut h.env);
    assert_eq!(h.state(), TcpState::Closed);
    assert!(h.output().is_empty());
    assert_eq!(h.conn.close_reason(), Some(CloseReason::Cancelled));
    assert_eq!(
        h.input(seg("S.", IRS, Some(OURS))),
        Disposition::Dropped(DropReason::Closed)
    );
}

#[test]
fn shutdown_before_the_handshake_sends_the_fin_once_established() {
    let mut h = Harness::client(Config::default());
    h.output();
    shutdown_write(&mut h);
    assert_eq!(h.state(), TcpState::SynSent);
    h.at(100);
    h.feed(
        seg("S.", IRS, Some(OURS))
            .linux_syn_opts()
            .ts(700, TS_OFFSET),
    );
    assert_eq!(h.state(), TcpState::FinWait1);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].f(), "F.");
}

#[test]
fn a_reset_ends_the_connection_with_an_error() {
    let mut h = Harness::established();
    h.feed(seg(".", PEER, Some(OURS)).len(5));
    assert_eq!(
        h.input(seg("R", PEER + 5, None)),
        Disposition::ConnectionReset
    );
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.env.stats.tcp.estab_resets, 1);
    // Data that arrived before the reset can still be read, then the error.
    let mut buf = [0u8; 10];
    assert_eq!(h.conn.recv(h.now, &mut buf, &mut h.env), Ok(5));
    assert_eq!(
        h.conn.recv(h.now, &mut buf, &mut h.env),
        Err(RecvError::Connection(ConnError::Reset))
    );
    assert!(
        h.drain_events()
            .contains(&ConnEvent::Closed(CloseReason::Reset))
    );
}

/// Closes a connection with 100 bytes and its FIN unacknowledged to a
/// silent peer, and runs it 20 minutes: its retransmissions (by timeout)
/// and the time it was given up at, if it was.
fn closed_to_a_silent_peer(config: Config, orphan: bool) -> (usize, Option<u64>, Harness) {
    let mut h = Harness::established_with(config);
    h.send(&[7; 100]);
    if orphan {
        h.conn.close(h.now, &mut h.env);
    } else {
        shutdown_write(&mut h);
    }
    assert_eq!(h.conn.is_orphan(), orphan);
    h.output();
    for ms in (1_000..1_200_000).step_by(100) {
        h.run_until(ms);
        if h.state() == TcpState::Closed {
            return (h.info().total_retrans as usize, Some(ms), h);
        }
    }
    (h.info().total_retrans as usize, None, h)
}

#[test]
fn an_orphan_to_a_silent_peer_gives_up_after_tcp_orphan_retries() {
    // Linux `tcp_orphan_retries` 0: 8 backoffs while the RTO is below its
    // maximum (about 102 s from 200 ms), where a connection the
    // application holds takes tcp_retries2's 924.6 s.
    let (sent, gone, h) = closed_to_a_silent_peer(Config::default(), true);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::TimedOut));
    // 8 by timeout (at 0.3 s doubling: the first expiry past the 102.2 s
    // the model gives is at 153.7 s) and the tail loss probe.
    assert_eq!((sent, gone), (9, Some(153_700)));
    let (held_sent, held_gone, _) = closed_to_a_silent_peer(Config::default(), false);
    assert_eq!((held_sent, held_gone), (16, Some(993_700)));
    // tcp_orphan_retries 3: three, then given up.
    let three = Config {
        tcp_orphan_retries: 3,
        ..Config::default()
    };
    let (sent, gone, _) = closed_to_a_silent_peer(three, true);
    assert_eq!((sent, gone), (4, Some(4_900)));
}

#[test]
fn an_orphan_beyond_tcp_max_orphans_goes_at_its_next_timeout() {
    // Linux `tcp_out_of_resources`: the stack's orphans (counted by the
    // stack, here set by hand) beyond the cap end an orphan at its next
    // retransmission timeout, with a reset since it sent data in the last
    // minute (TCPAbortOnMemory).
    let mut h = Harness::established();
    h.send(&[7; 100]);
    h.conn.close(h.now, &mut h.env);
    h.output();
    h.env.orphans = Config::default().tcp_max_orphans + 1;
    let sent = h.run_until(5_000);
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::Aborted));
    assert_eq!(h.env.stats.tcp_ext.tcp_abort_on_memory, 1);
    assert_eq!(
        sent.last().map(|(_, s)| s.f()).as_deref(),
        Some("R."),
        "{sent:?}"
    );
    // At the cap, nothing happens: it retransmits on.
    let mut h = Harness::established();
    h.send(&[7; 100]);
    h.conn.close(h.now, &mut h.env);
    h.output();
    h.env.orphans = Config::default().tcp_max_orphans;
    h.run_until(5_000);
    assert_eq!(h.state(), TcpState::FinWait1);
    assert_eq!(h.env.stats.tcp_ext.tcp_abort_on_memory, 0);
}
