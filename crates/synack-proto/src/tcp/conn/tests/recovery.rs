//! Loss recovery end to end through one connection, with scripted ACKs:
//! SACK recovery and PRR (RFC 6675, RFC 6937), RACK and its reordering
//! timer (RFC 8985 §6), tail loss probes (§7), undo (RFC 2883, RFC 3522),
//! F-RTO (RFC 5682), the rescue retransmission, hostile SACK blocks, and
//! CUBIC after a timeout as Linux's packetdrill script times it.

use super::*;
use crate::config::CongestionAlgorithm;
use crate::tcp::recovery::CaState;
use crate::wire::tcp::SackBlocks;

const PEER: u32 = IRS + 1;
const OURS: u32 = ISS + 1;
const MSS: u32 = 1448;

/// Sequence number of our `i`-th full segment.
fn s(i: u32) -> u32 {
    OURS + i * MSS
}

/// An ACK for `ack` with SACK blocks `(from, to)` in segment numbers.
fn sack(ack: u32, blocks: &[(u32, u32)]) -> Seg {
    let mut seg = seg(".", PEER, Some(ack));
    let b: Vec<_> = blocks
        .iter()
        .map(|&(a, b)| (SeqNum(s(a)), SeqNum(s(b))))
        .collect();
    seg.options.sack_blocks = SackBlocks::from_slice(&b);
    seg
}

fn reno() -> Config {
    Config {
        tcp_congestion_control: CongestionAlgorithm::Reno,
        ..Config::default()
    }
}

/// Established with a Linux peer (SACK, timestamps), `segments` of data
/// queued and the first flight (IW10) sent at 100 ms.
fn sending(config: Config, segments: u32) -> (Harness, Vec<Seg>) {
    let mut h = Harness::established_with(config);
    h.conn
        .set_option(h.now, SocketOption::SendBuffer(1 << 20), &mut h.env)
        .unwrap();
    h.send(&vec![9; (segments * MSS) as usize]);
    let out = h.output();
    (h, out)
}

fn seqs(out: &[Seg]) -> Vec<u32> {
    out.iter().map(|s| (s.seq.raw() - OURS) / MSS).collect()
}

#[test]
fn sack_recovery_retransmits_only_the_holes_as_rack_finds_them() {
    let (mut h, out) = sending(reno(), 12);
    assert_eq!(out.len(), 10);
    h.at(200);
    // Segments 1 and 5 were lost. The ACK for 0, then SACKs for 2..4.
    h.feed(sack(s(1), &[]));
    assert_eq!(h.output().len(), 2, "cwnd 11: two new segments (10, 11)");
    h.feed(sack(s(1), &[(2, 3)]));
    h.feed(sack(s(1), &[(2, 4)]));
    assert_eq!(h.info().ca_state, CaState::Disorder);
    assert_eq!(h.env.stats.tcp_ext.tcp_sack_recovery, 0);
    // RFC 8985 §6.2 step 4: with three segments SACKed and no reordering
    // seen, reo_wnd is 0: segment 1, sent before SACKed 4, is lost now.
    h.feed(sack(s(1), &[(2, 5)]));
    assert_eq!(h.info().ca_state, CaState::Recovery);
    let out = h.output();
    assert_eq!(seqs(&out), [1], "only the hole; 5 was sent with 4");
    assert_eq!(h.env.stats.tcp_ext.tcp_sack_recovery, 1);
    // RFC 5681 eq. 4 (Reno): ssthresh = FlightSize / 2 = 11 / 2 segments.
    assert_eq!(h.info().snd_ssthresh, 5);
    // A SACK above segment 5: it is lost too. RFC 6937: pipe (11 - 4
    // SACKed - 2 lost + 1 retransmitted = 6 segments) is above ssthresh
    // (5.5): sndcnt = CEIL(2 x 5.5 / 11) - 1 = 0 segments: it waits.
    h.feed(sack(s(1), &[(2, 5), (6, 7)]));
    assert_eq!(h.info().lost, 2);
    assert!(h.output().is_empty());
    // One more delivery: pipe 5 segments < ssthresh; PRR-SSRB lets
    // ssthresh - pipe = 0.5 segment through: one segment, the hole.
    h.feed(sack(s(1), &[(2, 5), (6, 8)]));
    let out = h.output();
    assert_eq!(seqs(&out), [5]);
    assert_eq!(h.env.stats.tcp_ext.tcp_fast_retrans, 2);
    assert_eq!(h.info().lost, 2);
    assert_eq!(h.info().sacked, 5);
    // Everything up to RecoveryPoint (12 segments): recovery ends at ssthresh.
    h.feed(sack(s(12), &[]));
    assert_eq!(h.info().ca_state, CaState::Open);
    assert_eq!(h.info().snd_cwnd, 5);
    assert_eq!(
        (h.info().lost, h.info().sacked, h.info().retrans),
        (0, 0, 0)
    );
}

#[test]
fn the_ack_ending_recovery_with_little_in_flight_sends_half_ssthresh_not_a_burst_of_it() {
    // 20 segments in flight, segment 10 lost, the 19 after it SACKed; the
    // receiver's window (227 << 7 = 20.06 segments from SND.UNA) lets
    // nothing new out meanwhile, so the pipe drains. Reno: ssthresh = 20 / 2
    // = 10 segments.
    let (mut h, out) = sending(reno(), 60);
    assert_eq!(out.len(), 10);
    h.at(200);
    let mut sent = 0;
    for k in 1..=5 {
        h.feed(sack(s(2 * k), &[]));
        sent += h.output().len();
    }
    assert_eq!(sent, 20, "slow start: 20 in flight");
    h.at(300);
    let base = 10;
    let mut sent = Vec::new();
    for k in 1..=19 {
        h.feed(sack(s(base), &[(base + 1, base + 1 + k)]).win(227));
        sent.extend(seqs(&h.output()));
    }
    assert_eq!(sent, [base], "only the fast retransmission");
    assert_eq!(h.info().ca_state, CaState::Recovery);
    assert_eq!(h.info().snd_ssthresh, 10);
    // The retransmission fills the hole: RecoveryPoint (30) is acknowledged
    // with nothing in flight and 20 segments of window.
    h.feed(sack(s(30), &[]).win(227));
    assert_eq!(h.info().ca_state, CaState::Open);
    // RFC 6582 §3.2 step 3 "cwnd = ssthresh" would send 10 segments at
    // once into a queue that overflowed one window ago; the window is
    // capped at what is in flight (0) + ssthresh / 2, and slow start
    // climbs back to ssthresh as the ACKs return.
    assert_eq!(h.info().snd_ssthresh, 10);
    assert_eq!(h.info().snd_cwnd, 5);
    assert_eq!(seqs(&h.output()), [30, 31, 32, 33, 34]);
    h.feed(sack(s(32), &[]).win(227));
    assert_eq!(h.info().snd_cwnd, 7, "slow start: +2 for an ACK of two");
}

#[test]
fn prr_sends_one_segment_per_two_delivered_while_pipe_is_above_ssthresh() {
    // 20 segments in flight, one lost: RFC 6937's example. Reno, ssthresh
    // 10; each SACK delivers one segment; PRR releases CEIL(k * 10 / 20)
    // segments after k deliveries: every other ACK.
    let (mut h, out) = sending(reno(), 40);
    assert_eq!(out.len(), 10);
    h.at(200);
    // Grow to 20 in flight: ACK the 10 in five ACKs of two.
    let mut sent = 0;
    for k in 1..=5 {
        h.feed(sack(s(2 * k), &[]));
        sent += h.output().len();
    }
    assert_eq!(sent, 20, "slow start: 2 + 2 per ACK of two");
    h.at(300);
    let base = 10;
    // Segment `base` lost; SACKs for base+1 .. base+3 start recovery.
    for k in 1..=3 {
        h.feed(sack(s(base), &[(base + 1, base + 1 + k)]));
    }
    assert_eq!(h.info().ca_state, CaState::Recovery);
    let mut per_ack = vec![h.output().len()];
    for k in 4..=12 {
        h.feed(sack(s(base), &[(base + 1, base + 1 + k)]));
        per_ack.push(h.output().len());
    }
    // The fast retransmission first, then one new segment every other ACK.
    assert_eq!(per_ack, [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
}

#[test]
fn after_reordering_rack_waits_a_quarter_min_rtt_on_its_timer() {
    let (mut h, out) = sending(reno(), 20);
    assert_eq!(out.len(), 10);
    h.at(200);
    // Reordering: 2 SACKed, then 1 arrives (never retransmitted, below
    // what was delivered): RACK.reordering_seen.
    h.feed(sack(s(1), &[(2, 3)]));
    h.feed(sack(s(3), &[]));
    assert_eq!(h.info().reord_seen, 1);
    assert_eq!(h.env.stats.tcp_ext.tcp_sack_reorder, 1);
    h.output();
    // Now segment 3 is missing and 4..9 are SACKed: no loss yet, a timer
    // for the reordering window (min RTT 100 ms / 4 = 25 ms).
    h.at(210);
    h.feed(sack(s(3), &[(4, 10)]));
    assert_eq!(h.info().ca_state, CaState::Disorder);
    assert!(!seqs(&h.output()).contains(&3), "new data only");
    let deadline = h.conn.timers().get(Timer::RackReorder).expect("armed");
    // Segment 3 was sent at 100 ms; RACK.rtt is 110 ms: due at 100 + 110 + 25.
    assert_eq!(deadline, Instant::from_millis(235));
    let sent = h.run_until(240);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0, seqs(&[sent[0].1.clone()])), (235, vec![3]));
    assert_eq!(h.info().ca_state, CaState::Recovery);
}

#[test]
fn a_tail_loss_probe_resends_the_last_segment_after_two_srtt() {
    let (mut h, out) = sending(Config::default(), 4);
    assert_eq!(out.len(), 4);
    // No ACK: RFC 8985 §7.2: PTO = 2 SRTT = 200 ms (several segments in
    // flight), before the 300 ms RTO.
    let sent = h.run_until(350);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 300);
    assert_eq!(seqs(&[sent[0].1.clone()]), [3], "the last segment (§7.3)");
    assert_eq!(h.env.stats.tcp_ext.tcp_loss_probes, 1);
    assert_eq!(h.info().ca_state, CaState::Open, "a probe is no recovery");
    // The RTO moved: 300 ms after the probe.
    assert_eq!(
        h.conn.timers().get(Timer::Retransmit),
        Some(Instant::from_millis(600))
    );
}

#[test]
fn a_tail_loss_probe_sends_new_data_when_the_window_holds_it_back() {
    let (mut h, out) = sending(Config::default(), 30);
    assert_eq!(out.len(), 10, "cwnd-limited: 20 more queued");
    let sent = h.run_until(350);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        seqs(&[sent[0].1.clone()]),
        [10],
        "new data, whatever cwnd says"
    );
    assert_eq!(h.env.stats.tcp_ext.tcp_loss_probes, 1);
}

#[test]
fn a_probe_that_repairs_a_tail_loss_reduces_the_window_once() {
    let (mut h, out) = sending(Config::default(), 4);
    assert_eq!(out.len(), 4);
    h.run_until(300); // the probe resends segment 3
    // The probe filled the hole: everything is acknowledged at once. An
    // ACK exactly at the probe's end cannot tell the copies apart.
    h.at(400);
    h.feed(sack(s(4), &[]));
    assert_eq!(h.info().snd_cwnd, 10);
    // RFC 8985 §7.4.2: the next ACK beyond the probe's end says the probe
    // repaired a loss: one reduction (CUBIC: 10 x 0.7), no recovery.
    h.send(&[5; MSS as usize]);
    assert_eq!(h.output().len(), 1);
    h.at(500);
    h.feed(sack(s(5), &[]));
    assert_eq!(h.env.stats.tcp_ext.tcp_loss_probe_recovery, 1);
    assert_eq!((h.info().snd_cwnd, h.info().snd_ssthresh), (7, 7));
    assert_eq!(h.info().ca_state, CaState::Open);
    assert_eq!(h.env.stats.tcp_ext.tcp_sack_recovery, 0);
}

/// Reno without RACK-TLP: RFC 6675's rescue retransmission is in play.
fn without_rack() -> Config {
    Config {
        tcp_recovery_rack: false,
        tcp_early_retrans: 0,
        ..reno()
    }
}

#[test]
fn with_rack_the_tail_is_left_to_the_loss_probe_not_a_rescue() {
    let (mut h, out) = sending(reno(), 12);
    assert_eq!(out.len(), 10);
    h.at(200);
    h.feed(sack(s(1), &[]));
    assert_eq!(h.output().len(), 2);
    h.feed(sack(s(1), &[(2, 5)]));
    assert_eq!(h.info().ca_state, CaState::Recovery);
    // Only the hole: Linux keeps no rescue retransmission beside RACK-TLP
    // (packetdrill's prr-ss-30pkt-lost1_4.pkt).
    assert_eq!(seqs(&h.output()), [1]);
}

#[test]
fn without_rack_the_rescue_retransmission_resends_the_tail_once() {
    let (mut h, out) = sending(without_rack(), 10);
    assert_eq!(out.len(), 10);
    h.at(200);
    // Segments 1 and 9 lost; 2..8 SACKed. IsLost(1): 7 segments above.
    h.feed(sack(s(1), &[]));
    h.feed(sack(s(1), &[(2, 9)]));
    assert_eq!(h.info().ca_state, CaState::Recovery);
    let out = h.output();
    // NextSeg rule (1) resends 1; nothing new to send, rule (3) finds
    // nothing unSACKed below the highest SACK, so rule (4) resends the
    // segment holding the highest unSACKed byte: 9.
    assert_eq!(seqs(&out), [1, 9]);
    h.feed(sack(s(1), &[(2, 9)]));
    assert!(h.output().is_empty(), "one rescue per recovery");
}

#[test]
fn the_rescue_retransmission_does_not_resend_what_rule_one_just_resent() {
    let (mut h, out) = sending(reno(), 5);
    assert_eq!(out.len(), 5);
    h.at(200);
    // Segment 1 lost, 2..5 SACKed: the hole is also the highest unSACKed
    // segment. Rule (1) resends it; rule (4) has nothing beyond HighRxt
    // (Linux sends it once, as packetdrill's sack-sender.pkt shows).
    h.feed(sack(s(1), &[(2, 3)]));
    h.feed(sack(s(1), &[(2, 4)]));
    h.feed(sack(s(1), &[(2, 5)]));
    assert_eq!(h.info().ca_state, CaState::Recovery);
    assert_eq!(seqs(&h.output()), [1]);
}

#[test]
fn hostile_sack_blocks_are_ignored_and_counted() {
    let (mut h, out) = sending(Config::default(), 10);
    assert_eq!(out.len(), 10);
    h.at(200);
    let hostile = [
        (SeqNum(s(5)), SeqNum(s(3))),                       // reversed
        (SeqNum(s(20)), SeqNum(s(30))),                     // beyond SND.NXT
        (SeqNum(OURS - 5000), SeqNum(s(2))),                // straddles SND.UNA
        (SeqNum(s(3).wrapping_add(1 << 31)), SeqNum(s(4))), // wrapped
    ];
    for b in hostile {
        let mut seg = seg(".", PEER, Some(OURS));
        seg.options.sack_blocks = SackBlocks::from_slice(&[b]);
        h.feed(seg);
    }
    assert_eq!(h.info().sacked, 0);
    assert_eq!(h.info().ca_state, CaState::Open);
    assert!(h.env.stats.tcp_ext.tcp_sack_discard >= 4);
    // Tiny blocks inside a segment SACK nothing either.
    h.feed(sack(OURS, &[]).clone());
    let mut seg = seg(".", PEER, Some(OURS));
    seg.options.sack_blocks = SackBlocks::from_slice(&[(SeqNum(s(2) + 1), SeqNum(s(2) + 2))]);
    h.feed(seg);
    assert_eq!(h.info().sacked, 0);
}

/// gtests/net/tcp/cubic/cubic-rto-ss-ca-cwnd-bump.pkt, through one
/// connection: a tail loss probe then an RTO; slow start from 1 to
/// ssthresh 7 (= 10 x 0.7); congestion avoidance holding 7 for 15 ACKs
/// and reaching 8 on the 16th, each ACK releasing what the script expects
/// (the script's 2000-byte TSO segments are two segments here).
#[test]
fn cubic_after_a_timeout_times_its_growth_as_linux() {
    let syn = seg("S", IRS, None).mss(1000).sack_ok().wscale(7).win(32792);
    let mut h = Harness::server(Config::default(), &syn);
    assert_eq!(h.output().len(), 1, "SYN-ACK");
    h.at(100);
    h.feed(seg(".", IRS + 1, Some(OURS)).win(257));
    h.conn
        .set_option(h.now, SocketOption::SendBuffer(200_000), &mut h.env)
        .unwrap();
    let k = |n: u32| OURS - 1 + n; // the script's relative numbers
    h.send(&[1; 1000]);
    assert_eq!(h.output()[0].seq, SeqNum(k(1)));
    h.at(200);
    h.feed(seg(".", IRS + 1, Some(k(1001))).win(257));
    assert_eq!(h.info().snd_cwnd, 10, "not cwnd-limited");
    h.send(&[2; 1000]);
    assert_eq!(h.output()[0].seq, SeqNum(k(1001)));
    // The probe at 500 (PTO capped by the 300 ms RTO), the RTO at 800.
    let sent = h.run_until(850);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [500, 800]);
    assert!(sent.iter().all(|(_, s)| s.seq == SeqNum(k(1001))));
    h.at(900);
    h.feed(seg(".", IRS + 1, Some(k(2001))).win(257));
    assert_eq!((h.info().snd_cwnd, h.info().snd_ssthresh), (2, 7));
    h.send(&[3; 200_000]);
    let mut expect_next = k(2001);
    let mut check = |h: &mut Harness, segments: u32, cwnd: u32| {
        let out = h.output();
        assert_eq!(out.len() as u32, segments, "at {} ms", h.now.total_millis());
        for s in out {
            assert_eq!(s.seq, SeqNum(expect_next));
            assert_eq!(s.payload.len(), 1000);
            expect_next += 1000;
        }
        assert_eq!(h.info().snd_cwnd, cwnd, "at {} ms", h.now.total_millis());
    };
    check(&mut h, 2, 2);
    let mut t = 900;
    let mut acked = 2001;
    // Slow start: (gap, cwnd after).
    for (gap, cwnd) in [(100, 3), (2, 4), (98, 5), (2, 6), (2, 7)] {
        t += gap;
        acked += 1000;
        h.at(t);
        h.feed(seg(".", IRS + 1, Some(k(acked))).win(257));
        check(&mut h, 2, cwnd);
    }
    // Congestion avoidance: ACKs for 8001 .. 23001.
    let gaps = [2, 98, 2, 2, 2, 2, 2, 2, 98, 2, 2, 2, 2, 2, 2, 98];
    for (i, gap) in gaps.iter().enumerate() {
        t += gap;
        acked += 1000;
        h.at(t);
        h.feed(seg(".", IRS + 1, Some(k(acked))).win(257));
        if i < 15 {
            check(&mut h, 1, 7);
        } else {
            check(&mut h, 2, 8);
        }
    }
}

#[test]
fn once_reordering_is_known_sacked_deliveries_grow_the_window() {
    let (mut h, out) = sending(reno(), 30);
    assert_eq!(out.len(), 10);
    h.at(200);
    // Segments 0 to 2 are late; 3 arrives first. RFC 5681: an ACK that
    // does not advance SND.UNA does not grow the window.
    h.feed(sack(s(0), &[(3, 4)]));
    assert_eq!(h.info().snd_cwnd, 10);
    assert_eq!(h.info().ca_state, CaState::Disorder);
    // Segments 0 to 2 arrive, never retransmitted, segment 0 four segments
    // below the end of the highest SACK: reordering of degree 4 (RFC 8985
    // §6.2 step 3, Linux `tcp_check_sack_reordering`), above the
    // duplicate-ACK threshold of 3. The ACK newly delivered three
    // segments: slow start by two (RFC 3465 byte counting, L = 2).
    h.feed(sack(s(4), &[]));
    assert_eq!(h.info().reordering, 4);
    assert_eq!(h.info().snd_cwnd, 12);
    h.output();
    // Now segment 4 is late: the SACKs for 5 and 6 deliver two segments
    // while SND.UNA waits, and the window grows by them (Linux
    // `tcp_may_raise_cwnd`), as it would have had they come in order.
    h.feed(sack(s(4), &[(5, 7)]));
    assert_eq!(h.info().ca_state, CaState::Disorder);
    assert_eq!(h.info().snd_cwnd, 14);
}

#[test]
fn a_segment_lost_before_a_probe_is_found_by_rack_when_the_probe_arrives() {
    let (mut h, out) = sending(Config::default(), 4);
    assert_eq!(out.len(), 4);
    h.run_until(300); // the probe resends segment 3
    h.at(400);
    // Segments 0-1 and the probe arrived, 2 was lost. RACK.rtt is that of
    // the last segment this ACK delivered, 1 (300 ms), as Linux's
    // `tcp_rack_advance` keeps it: segment 2, sent at 100 ms, is not
    // overdue yet, and the reordering timer (RFC 8985 §6.3) finds it.
    h.feed(sack(s(2), &[(3, 4)]));
    assert_eq!(h.info().ca_state, CaState::Disorder);
    let sent: Vec<Seg> = h.run_until(450).into_iter().map(|(_, s)| s).collect();
    assert_eq!(h.info().ca_state, CaState::Recovery);
    assert_eq!(seqs(&sent), [2]);
    h.at(500);
    h.feed(sack(s(4), &[]));
    assert_eq!(h.info().ca_state, CaState::Open);
    assert_eq!(h.env.stats.tcp_ext.tcp_sack_recovery, 1);
}

#[test]
fn dsacks_for_every_retransmission_undo_the_reduction() {
    // Without RACK, so that the rescue retransmission gives two
    // retransmissions to D-SACK.
    let (mut h, out) = sending(without_rack(), 12);
    assert_eq!(out.len(), 10);
    h.at(200);
    h.feed(sack(s(1), &[]));
    let out = h.output();
    assert_eq!(out.len(), 2);
    let cwnd = h.info().snd_cwnd;
    // Segment 1 is only delayed: three SACKs make it "lost".
    h.feed(sack(s(1), &[(2, 5)]));
    assert_eq!(h.info().ca_state, CaState::Recovery);
    // Segment 1, then (nothing new to send) the rescue retransmission of
    // the tail, 11 (RFC 6675 NextSeg rule 4).
    assert_eq!(seqs(&h.output()), [1, 11]);
    // The original arrives: everything is acknowledged, then the
    // retransmissions arrive and the peer D-SACKs them (RFC 2883 §4.1.1).
    h.at(210);
    h.feed(sack(s(12), &[]));
    assert_eq!(h.info().ca_state, CaState::Open);
    assert!(h.info().snd_cwnd < cwnd, "recovery ended at ssthresh");
    h.at(300);
    h.feed(sack(s(12), &[(1, 2)]));
    assert_eq!(
        h.env.stats.tcp_ext.tcp_dsack_undo, 0,
        "11 may still be needed"
    );
    h.feed(sack(s(12), &[(11, 12)]));
    assert_eq!(h.env.stats.tcp_ext.tcp_dsack_recv, 2);
    assert_eq!(h.env.stats.tcp_ext.tcp_dsack_undo, 1);
    assert_eq!(h.info().snd_cwnd, cwnd, "restored");
    assert_eq!(h.info().dsack_dups, 2);
}

#[test]
fn eifel_an_echo_of_the_original_undoes_the_whole_recovery() {
    let (mut h, out) = sending(without_rack(), 12);
    assert_eq!(out.len(), 10);
    let original_ts = out[1].options.timestamp.unwrap().tsval;
    h.at(200);
    h.feed(sack(s(1), &[]).ts(800, out[0].options.timestamp.unwrap().tsval));
    h.output();
    let cwnd = h.info().snd_cwnd;
    h.at(210);
    h.feed(sack(s(1), &[(2, 5)]).ts(810, original_ts));
    assert_eq!(seqs(&h.output()), [1, 11], "the hole and the rescue");
    // RFC 3522: the ACK ending recovery echoes the original's TSval (sent
    // at 100 ms, before the retransmission at 210 ms): it was only late.
    h.at(220);
    h.feed(sack(s(12), &[]).ts(820, original_ts));
    assert_eq!(h.env.stats.tcp_ext.tcp_full_undo, 1);
    // The window before recovery, plus this ACK's slow start (L = 2).
    assert_eq!(h.info().snd_cwnd, cwnd + 2);
    assert_eq!(h.info().ca_state, CaState::Open);
}

#[test]
fn frto_finds_a_timeout_spurious_when_originals_are_acknowledged_after_new_data() {
    let config = Config {
        tcp_early_retrans: 0, // no probe ahead of the timeout
        ..reno()
    };
    let (mut h, out) = sending(config, 30);
    assert_eq!(out.len(), 10);
    let sent = h.run_until(400);
    assert_eq!(seqs(&[sent[0].1.clone()]), [0], "RTO at 400 ms resends 0");
    assert_eq!(h.info().ca_state, CaState::Loss);
    // RFC 5682 step 2b: the first ACK acknowledges the retransmission:
    // new data goes out ("up to two" segments: one here), then the
    // retransmissions resume as the window allows.
    h.at(450);
    h.feed(sack(s(1), &[]));
    let out = h.output();
    assert_eq!(seqs(&out), [10, 1]);
    // Step 3b: the next ACK acknowledges segments never retransmitted:
    // the timeout was spurious; the window comes back.
    h.at(460);
    h.feed(sack(s(5), &[]));
    assert_eq!(h.env.stats.tcp_ext.tcp_spurious_rtos, 1);
    assert_eq!(h.env.stats.tcp_ext.tcp_loss_undo, 1);
    assert_eq!(h.info().ca_state, CaState::Open);
    // Back to the 10 segments before the timeout, plus this ACK's slow
    // start growth (RFC 3465: L = 2 segments).
    assert_eq!(h.info().snd_cwnd, 12);
    assert_eq!(h.info().lost, 0);
}

#[test]
fn frto_reverts_to_go_back_n_when_the_peer_still_reports_holes() {
    let config = Config {
        tcp_early_retrans: 0,
        ..reno()
    };
    let (mut h, _) = sending(config, 30);
    h.run_until(400);
    h.at(450);
    h.feed(sack(s(1), &[]));
    assert_eq!(seqs(&h.output()), [10, 1]);
    // Step 3a: the new data arrived, the old did not: a real loss.
    h.at(460);
    h.feed(sack(s(1), &[(10, 11)]));
    assert_eq!(h.env.stats.tcp_ext.tcp_spurious_rtos, 0);
    assert_eq!(h.info().ca_state, CaState::Loss);
    let out = h.output();
    assert_eq!(seqs(&out)[0], 2, "retransmissions go on in order");
}
