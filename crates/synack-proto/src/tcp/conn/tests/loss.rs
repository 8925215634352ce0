//! Loss: the retransmission timer, backoff and giving up, fast retransmit,
//! NewReno partial ACKs, Karn's rule.

use super::*;
use crate::tcp::recovery::CaState;

const PEER: u32 = IRS + 1;
const OURS: u32 = ISS + 1;
const MSS: u32 = 1448;

/// NewReno without SACK or probes: RFC 5681, RFC 6582, RFC 3042 and the
/// timer alone (the peer offers SACK, we do not).
fn newreno() -> Config {
    Config {
        tcp_congestion_control: crate::config::CongestionAlgorithm::Reno,
        tcp_sack: false,
        tcp_early_retrans: 0,
        ..Config::default()
    }
}

fn established_sending(segments: u32) -> Harness {
    let mut h = Harness::established_with(newreno());
    h.conn
        .set_option(h.now, SocketOption::SendBuffer(1 << 20), &mut h.env)
        .unwrap();
    h.send(&vec![9; (segments * MSS) as usize]);
    h
}

fn ack(n: u32) -> Seg {
    seg(".", PEER, Some(n))
}

#[test]
fn a_timeout_retransmits_the_first_segment_with_one_segment_of_cwnd() {
    let mut h = established_sending(3);
    assert_eq!(h.output().len(), 3);
    let sent = h.run_until(1_000);
    // RTO = 300 ms (a 100 ms RTT sample), then 600 ms.
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].0, 400);
    assert_eq!(sent[1].0, 1_000);
    for (_, s) in &sent {
        assert_eq!(s.seq, SeqNum(OURS), "the first unacknowledged segment");
        assert_eq!(s.payload.len(), MSS as usize);
    }
    let info = h.info();
    assert_eq!(info.ca_state, CaState::Loss);
    assert_eq!(info.snd_cwnd, 1);
    assert_eq!(info.retransmits, 2);
    assert_eq!(info.backoff, 2);
    assert_eq!(info.rto, 1_200_000);
    assert_eq!(h.env.stats.tcp_ext.tcp_timeouts, 2);
    assert_eq!(h.env.stats.tcp.retrans_segs, 2);
}

#[test]
fn after_a_timeout_acks_resend_the_rest_in_slow_start() {
    let mut h = established_sending(4);
    h.output();
    let sent = h.run_until(400);
    assert_eq!(sent.len(), 1);
    h.at(500);
    let tsval = sent[0].1.options.timestamp.unwrap().tsval;
    h.feed(ack(OURS + MSS).ts(900, tsval));
    // cwnd 2: the next two segments go again (they are presumed lost).
    let out = h.output();
    let seqs: Vec<u32> = out.iter().map(|s| s.seq.raw()).collect();
    assert_eq!(seqs, [OURS + MSS, OURS + 2 * MSS]);
    assert_eq!(h.info().rto, 300_000, "a fresh sample resets the backoff");
    h.feed(ack(OURS + 4 * MSS));
    assert_eq!(h.info().ca_state, CaState::Open);
}

#[test]
fn data_is_given_up_after_the_time_tcp_retries2_backoffs_take() {
    let mut h = established_sending(1);
    h.output(); // at 100 ms
    // Retransmissions at 0.4, 1.0, 2.2, ... then every 120 s; the first
    // expiry after 100 ms + 924.6 s (Linux `tcp_model_timeout` for 15)
    // gives up: 993.4 s.
    h.run_until(993_399);
    assert_eq!(h.state(), TcpState::Established);
    assert_eq!(h.info().total_retrans, 15);
    h.run_until(993_400);
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::TimedOut));
    assert_eq!(h.env.stats.tcp_ext.tcp_abort_on_timeout, 1);
    let mut buf = [0u8; 1];
    assert_eq!(
        h.conn.recv(h.now, &mut buf, &mut h.env),
        Err(RecvError::Connection(ConnError::TimedOut))
    );
}

#[test]
fn a_user_timeout_overrides_tcp_retries2() {
    let mut h = established_sending(1);
    h.conn
        .set_option(
            h.now,
            SocketOption::UserTimeout(Some(Duration::from_secs(5))),
            &mut h.env,
        )
        .unwrap();
    h.output();
    let sent = h.run_until(20_000);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [400, 1_000, 2_200, 4_600]);
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::TimedOut));
}

#[test]
fn the_third_duplicate_ack_triggers_a_fast_retransmit() {
    let mut h = established_sending(20);
    assert_eq!(h.output().len(), 10);
    h.at(200);
    h.feed(ack(OURS + MSS));
    assert_eq!(h.output().len(), 2, "slow start: 11 segments of cwnd");
    // Segment 2 was lost: three duplicate ACKs.
    h.feed(ack(OURS + MSS));
    let out = h.output();
    assert_eq!(out.len(), 1, "limited transmit (RFC 3042)");
    assert_eq!(out[0].seq, SeqNum(OURS + 12 * MSS));
    h.feed(ack(OURS + MSS));
    assert_eq!(h.output().len(), 1, "limited transmit");
    assert_eq!(h.info().ca_state, CaState::Disorder);
    h.feed(ack(OURS + MSS));
    let out = h.output();
    assert_eq!(out[0].seq, SeqNum(OURS + MSS), "fast retransmit");
    assert_eq!(h.info().ca_state, CaState::Recovery);
    assert_eq!(h.env.stats.tcp_ext.tcp_fast_retrans, 1);
    assert_eq!(h.env.stats.tcp.retrans_segs, 1);
    // RFC 5681 eq. 4: ssthresh = FlightSize / 2, FlightSize without the
    // two limited-transmit segments: 11 / 2 segments.
    assert_eq!(h.info().snd_ssthresh, 5);
    // RFC 6937 on the third duplicate: pipe = 13 sent - 3 estimated
    // delivered - 1 lost = 9 segments > ssthresh: sndcnt =
    // CEIL(1 * 5.5 / 13) segments = 0.42, raised to one segment for the
    // fast retransmission: cwnd = pipe + 1 = 10 (then pipe is 10 again).
    assert_eq!(h.info().snd_cwnd, 10);
    assert!(h.output().is_empty(), "nothing more until the next ACK");
}

#[test]
fn a_partial_ack_retransmits_the_next_hole_and_a_full_ack_ends_recovery() {
    let mut h = established_sending(10);
    assert_eq!(h.output().len(), 10);
    h.at(200);
    // Segments 1 and 3 (from 0) were lost: three duplicates of the ACK for 0.
    h.feed(ack(OURS + MSS));
    for _ in 0..3 {
        h.feed(ack(OURS + MSS));
    }
    let out = h.output();
    assert_eq!(out[0].seq, SeqNum(OURS + MSS));
    h.feed(ack(OURS + 3 * MSS));
    let out = h.output();
    assert_eq!(out[0].seq, SeqNum(OURS + 3 * MSS), "partial ACK: next hole");
    assert_eq!(h.info().ca_state, CaState::Recovery);
    h.feed(ack(OURS + 10 * MSS));
    assert_eq!(h.info().ca_state, CaState::Open);
    // FlightSize was 9 segments: ssthresh 4.5 segments, cwnd deflated to it.
    assert_eq!(h.info().snd_cwnd, 4);
}

#[test]
fn karn_no_rtt_sample_from_a_retransmission_without_timestamps() {
    let config = Config {
        tcp_timestamps: false,
        ..Config::default()
    };
    let mut h = Harness::client(config);
    h.output();
    h.at(100);
    h.feed(seg("S.", IRS, Some(OURS)).mss(1460).wscale(7));
    h.output();
    h.send(&[1; 100]);
    h.output();
    h.run_until(400); // retransmitted at 400
    h.at(2_000);
    h.feed(ack(OURS + 100));
    assert_eq!(h.info().rtt, 100_000, "the late ACK measured nothing");
}

#[test]
fn timestamps_measure_rtt_even_after_a_retransmission() {
    let mut h = established_sending(1);
    h.output(); // at 100
    let sent = h.run_until(400);
    let tsval = sent[0].1.options.timestamp.unwrap().tsval;
    h.at(450);
    h.feed(ack(OURS + MSS).ts(900, tsval));
    // RFC 7323 §4.1: the echo names the retransmission: a 50 ms sample.
    assert_eq!(h.info().min_rtt, 50_000);
}

#[test]
fn an_ack_after_duplicate_acks_grows_cwnd_only_by_what_they_did_not_count() {
    // limited-transmit-no-sack.pkt: duplicate ACKs each count one segment
    // delivered (Linux `tcp_add_reno_sack`); the ACK for two segments then
    // delivers one ("one ACK acked hole, the rest eat duplicate ACKs",
    // `tcp_remove_reno_sacks`), not two.
    let mut h = established_sending(30);
    assert_eq!(h.output().len(), 10);
    h.at(200);
    h.feed(ack(OURS + MSS));
    assert_eq!(h.output().len(), 2, "slow start: 11 segments of cwnd");
    assert_eq!(h.info().snd_cwnd, 11);
    h.feed(ack(OURS + MSS));
    assert_eq!(h.output().len(), 1, "limited transmit (RFC 3042)");
    h.feed(ack(OURS + MSS));
    assert_eq!(h.output().len(), 1, "limited transmit");
    assert_eq!(h.info().snd_cwnd, 11, "duplicate ACKs do not grow cwnd");
    h.feed(ack(OURS + 3 * MSS));
    assert_eq!(h.info().snd_cwnd, 12, "one segment delivered, not two");
}
