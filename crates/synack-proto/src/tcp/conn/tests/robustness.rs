//! RFC 5961 (blind attacks) and random segments in every state.

use super::*;
use proptest::prelude::*;

const PEER: u32 = IRS + 1;
const OURS: u32 = ISS + 1;

#[test]
fn a_reset_at_rcv_nxt_resets_and_elsewhere_in_the_window_is_challenged() {
    let mut h = Harness::established();
    let d = h.input(seg("R", PEER + 1000, None));
    assert_eq!(d, Disposition::ChallengeAck(Challenge::Reset));
    let out = h.output();
    assert_eq!(out.len(), 1);
    // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
    assert_eq!(out[0].f(), ".");
    assert_eq!((out[0].seq, out[0].ack), (SeqNum(OURS), Some(SeqNum(PEER))));
    assert_eq!(h.state(), TcpState::Established);
    assert_eq!(h.env.stats.tcp_ext.tcp_challenge_ack, 1);
    assert_eq!(h.input(seg("R", PEER, None)), Disposition::ConnectionReset);
}

#[test]
fn a_reset_outside_the_window_is_dropped_silently() {
    // rcv-rst-established-outside-right-secure-ipv4.pkt
    let mut h = Harness::established();
    let beyond = PEER + 131_072 + 100;
    let d = h.input(seg("R", beyond, None));
    assert_eq!(d, Disposition::Dropped(DropReason::IgnoredReset));
    assert!(h.output().is_empty());
    let d = h.input(seg("R", PEER - 10, None));
    assert_eq!(d, Disposition::Dropped(DropReason::IgnoredReset));
    assert_eq!(h.state(), TcpState::Established);
}

#[test]
fn a_syn_in_a_synchronized_state_draws_a_challenge_ack() {
    // rcv-syn-established-left-edge-secure-ipv4.pkt
    let mut h = Harness::established();
    let d = h.input(seg("S", PEER, None));
    assert_eq!(d, Disposition::ChallengeAck(Challenge::Syn));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].seq, out[0].ack), (SeqNum(OURS), Some(SeqNum(PEER))));
    assert_eq!(h.state(), TcpState::Established);
    assert_eq!(h.env.stats.tcp_ext.tcp_syn_challenge, 1);
    assert_eq!(h.env.stats.tcp_ext.tcp_challenge_ack, 1);
}

#[test]
fn challenge_acks_are_rate_limited_per_connection() {
    let mut h = Harness::established();
    let _ = h.input(seg("S", PEER, None));
    assert_eq!(h.output().len(), 1);
    h.at(300);
    let _ = h.input(seg("S", PEER, None));
    assert!(
        h.output().is_empty(),
        "within 500 ms (tcp_invalid_ratelimit)"
    );
    assert_eq!(h.env.stats.tcp_ext.tcp_ack_skipped_challenge, 1);
    h.at(700);
    let _ = h.input(seg("S", PEER, None));
    assert_eq!(h.output().len(), 1);
}

#[test]
fn challenge_acks_are_limited_for_the_whole_stack() {
    let config = Config {
        tcp_challenge_ack_limit: 1,
        ..Config::default()
    };
    let mut h = Harness::established_with(config);
    let _ = h.input(seg("S", PEER, None));
    assert_eq!(h.output().len(), 1);
    // Another connection sharing the stack's budget, in the same second.
    let mut other = Connection::connect(h.now, LOCAL, REMOTE, &params(), &mut h.env);
    let mut buf = [0u8; 200];
    assert!(
        other.poll_transmit(h.now, &mut buf, &mut h.env).is_some(),
        "its SYN"
    );
    let _ = other.handle_segment(
        h.now,
        &seg("S.", IRS, Some(OURS)).linux_syn_opts().repr(),
        &mut h.env,
    );
    while other.poll_transmit(h.now, &mut buf, &mut h.env).is_some() {}
    let _ = other.handle_segment(h.now, &seg("S", PEER, None).repr(), &mut h.env);
    assert_eq!(other.poll_transmit(h.now, &mut buf, &mut h.env), None);
    assert_eq!(h.env.stats.tcp_ext.tcp_ack_skipped_challenge, 1);
}

#[test]
fn an_ack_for_data_never_sent_is_acked_and_dropped_with_its_data() {
    let mut h = Harness::established();
    let d = h.input(seg(".", PEER, Some(OURS + 5000)).data(b"injected"));
    assert_eq!(d, Disposition::DroppedWithAck(DropReason::AckOfUnsentData));
    assert_eq!(h.output().len(), 1);
    assert!(h.recv_all().is_empty(), "the data was not taken");
}

#[test]
fn an_ack_older_than_the_window_draws_a_challenge_ack() {
    // RFC 5961 §5.2: blind data injection needs an ACK in
    // [SND.UNA - MAX.SND.WND, SND.NXT].
    let mut h = Harness::established();
    let too_old = OURS - 65_535 - 1;
    let d = h.input(seg(".", PEER, Some(too_old)).data(b"injected"));
    assert_eq!(d, Disposition::ChallengeAck(Challenge::OldAck));
    assert!(h.recv_all().is_empty());
    // Within MAX.SND.WND behind SND.UNA: an old duplicate, the data is taken.
    let d = h.input(seg(".", PEER, Some(OURS - 100)).data(b"fine"));
    assert_eq!(d, Disposition::Accepted);
    assert_eq!(h.recv_all(), b"fine");
}

#[test]
fn data_outside_the_window_is_acked_and_dropped() {
    let mut h = Harness::established();
    let d = h.input(seg(".", PEER + 200_000, Some(OURS)).data(b"far"));
    assert_eq!(d, Disposition::DroppedWithAck(DropReason::OutOfWindow));
    let out = h.output();
    assert_eq!(out[0].ack, Some(SeqNum(PEER)));
}

#[test]
fn out_of_window_acks_to_pure_acks_are_rate_limited_data_always_answered() {
    let mut h = Harness::established();
    let far = PEER + 200_000;
    let _ = h.input(seg(".", far, Some(OURS)));
    assert_eq!(h.output().len(), 1);
    let _ = h.input(seg(".", far, Some(OURS)));
    assert!(h.output().is_empty());
    assert_eq!(h.env.stats.tcp_ext.tcp_ack_skipped_seq, 1);
    let _ = h.input(seg(".", far, Some(OURS)).data(b"x"));
    assert_eq!(h.output().len(), 1, "data cannot be part of an ACK loop");
}

/// One random segment for a connection whose RCV.NXT and SND.UNA are known.
#[derive(Clone, Debug)]
struct Fuzz {
    flags: u8,
    seq_offset: i64,
    ack_offset: i64,
    window: u16,
    payload: usize,
    mss: Option<u16>,
    wscale: Option<u8>,
    ts: Option<(u32, u32)>,
    sack_ok: bool,
    advance_ms: u64,
}

/// `f` as a segment relative to the harness's sequence space (options
/// left to the caller).
fn fuzzed(h: &Harness, f: &Fuzz) -> Seg {
    let (una, _) = h.snd_una_nxt();
    let flags = TcpFlags(f.flags);
    Seg {
        seq: SeqNum(h.rcv_nxt().raw().wrapping_add(f.seq_offset as u32)),
        ack: flags
            .ack()
            .then(|| SeqNum(una.raw().wrapping_add(f.ack_offset as u32))),
        flags,
        window: f.window,
        options: TcpOptions::default(),
        payload: vec![0x5A; f.payload],
    }
}

fn fuzz_segment() -> impl Strategy<Value = Fuzz> {
    let offset = prop_oneof![
        -3i64..3,
        -2_000i64..2_000,
        -200_000i64..200_000,
        any::<u32>().prop_map(i64::from),
    ];
    (
        any::<u8>(),
        offset.clone(),
        offset,
        any::<u16>(),
        prop_oneof![Just(0usize), 1usize..100, 1_000usize..3_000],
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u8>()),
        proptest::option::of((any::<u32>(), any::<u32>())),
        any::<bool>(),
        prop_oneof![Just(0u64), 0u64..50, 0u64..5_000, 0u64..200_000],
    )
        .prop_map(
            |(
                flags,
                seq_offset,
                ack_offset,
                window,
                payload,
                mss,
                wscale,
                ts,
                sack_ok,
                advance_ms,
            )| Fuzz {
                flags,
                seq_offset,
                ack_offset,
                window,
                payload,
                mss,
                wscale,
                ts,
                sack_ok,
                advance_ms,
            },
        )
}

fn check_invariants(h: &Harness) {
    let state = &h.conn.state;
    if let Some(snd) = state.send_half() {
        assert!(snd.una.before_eq(snd.nxt), "SND.UNA <= SND.NXT: {snd:?}");
        assert!(
            snd.nxt.before_eq(snd.stream_end()),
            "SND.NXT <= end: {snd:?}"
        );
        assert!(snd.buffered() <= snd.buffer_limit().max(1 << 20));
        // Loss recovery's scoreboard covers exactly SND.UNA..SND.NXT once
        // data flows, with exact counters.
        if let Some(board) = h.conn.core.recovery.scoreboard() {
            board.check();
            if snd.syn_acked() && !board.is_empty() {
                assert_eq!((board.una(), board.nxt()), (snd.una, snd.nxt), "{snd:?}");
            }
        }
    }
    if let Some(rcv) = state.recv_half() {
        assert!(rcv.readable() <= rcv.buffer_limit());
        assert!(rcv.irs.before(rcv.nxt));
    }
    let live = !matches!(h.state(), TcpState::Closed);
    if live {
        assert!(h.conn.poll_timeout().is_some() || h.state().is_synchronized());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_segments_never_panic_and_keep_invariants(
        state in proptest::sample::select(vec![
            TcpState::SynSent, TcpState::SynReceived, TcpState::Established,
            TcpState::FinWait1, TcpState::FinWait2, TcpState::CloseWait,
            TcpState::Closing, TcpState::LastAck, TcpState::TimeWait, TcpState::Closed,
        ]),
        segments in proptest::collection::vec(fuzz_segment(), 1..24),
    ) {
        let mut h = Harness::in_state(state);
        for f in segments {
            let mut s = fuzzed(&h, &f);
            s.options.mss = f.mss;
            s.options.window_scale = f.wscale;
            s.options.sack_permitted = f.sack_ok;
            s.options.timestamp = f.ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr });
            let _ = h.input(s);
            h.output();
            check_invariants(&h);
            let until = h.now.total_millis() + f.advance_ms;
            h.run_until(until);
            check_invariants(&h);
            // The application keeps reading.
            h.recv_all();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Hostile ECN input (RFC 3168): random flags (ECE and CWR storms
    /// included), random IP codepoints (CE on pure ACKs, on SYNs, on
    /// retransmissions) and random data on an ECN connection with data in
    /// flight: no panic, the invariants hold, and the window never drops
    /// below one segment.
    #[test]
    fn random_ecn_input_never_panics_and_keeps_invariants(
        segments in proptest::collection::vec((fuzz_segment(), 0u8..4), 1..24),
    ) {
        let mut h = Harness::established();
        h.conn.core.neg.ecn = crate::tcp::ecn::EcnState::agreed(true);
        h.send(&[7; 20_000]);
        h.output();
        for (f, tos) in segments {
            let s = fuzzed(&h, &f);
            h.env.rx_tos = tos;
            let _ = h.input(s);
            h.env.rx_tos = 0;
            h.output();
            check_invariants(&h);
            let info = h.info();
            prop_assert!(info.snd_cwnd >= 1, "{info:?}");
            let until = h.now.total_millis() + f.advance_ms;
            h.run_until(until);
            check_invariants(&h);
            h.recv_all();
        }
    }
}

#[test]
fn the_stack_wide_budget_is_drawn_anew_each_second_not_counted_exactly() {
    use crate::tcp::conn::ChallengeAckBudget;
    // CVE-2016-5696: an exact count would tell an off-path attacker that a
    // spoofed probe hit; Linux draws each second's budget in [L/2, 3L/2).
    let mut budget = ChallengeAckBudget::new(crate::Rng::from_seed(7));
    let per_second: Vec<u32> = (0..50)
        .map(|s| {
            let at = Instant::from_secs(s) + Duration::from_millis(3);
            (0..5000).take_while(|_| budget.take(at, 1000)).count() as u32
        })
        .collect();
    assert!(
        per_second.iter().all(|n| (500..1500).contains(n)),
        "{per_second:?}"
    );
    let distinct: std::collections::BTreeSet<_> = per_second.iter().collect();
    assert!(distinct.len() > 40, "{per_second:?}");
    // The default (Linux 6.0's, i32::MAX) leaves the limiting to each
    // connection's tcp_invalid_ratelimit; 0 sends none.
    let limit = Config::default().tcp_challenge_ack_limit;
    let at = Instant::from_secs(100);
    assert!((0..100_000).all(|_| budget.take(at, limit)));
    assert!(!budget.take(Instant::from_secs(101), 0));
}
