//! The scoreboard's tests: pipe and IsLost (RFC 6675), cumulative and
//! selective ACKs, the RACK order, undo, the caps and memory, sequence
//! wrap, and proptests of the short ways against the general steps (a GSO
//! packet's one record against its segments' records among them).
use super::*;
use proptest::prelude::*;

const MSS: u32 = 1000;

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// `n` segments of MSS from `una`, one per ms.
fn board(una: u32, n: u32) -> Scoreboard {
    let mut s = Scoreboard::new(SeqNum(una), 1024, 64);
    for i in 0..n {
        let start = SeqNum(una) + i * MSS;
        assert!(s.push(start, start + MSS, t(u64::from(i))));
    }
    s.check();
    s
}

fn seg(una: u32, i: u32) -> SeqNum {
    SeqNum(una) + i * MSS
}

fn sack(s: &mut Scoreboard, start: SeqNum, end: SeqNum) -> SackUpdate {
    let mut out = SackUpdate::default();
    s.sack(start, end, &mut out, |_| {});
    s.check();
    out
}

#[test]
fn pipe_follows_rfc6675() {
    // RFC 6675 §4 pipe: 10 segments out, 3 SACKed, 2 lost, 1 of those
    // retransmitted: 10 - 3 - 2 + 1 = 6 segments.
    let mut s = board(0, 10);
    sack(&mut s, seg(0, 5), seg(0, 8));
    assert_eq!(s.pipe(0), 7 * MSS);
    // IsLost with DupThresh 3: segments below 3 SACKed segments.
    assert_eq!(s.mark_lost_by_dupthresh(3, MSS), 5);
    assert_eq!(s.lost().segs, 5);
    s.check();
    assert_eq!(s.pipe(0), 2 * MSS);
    assert_eq!(s.next_lost(), Some((seg(0, 0), seg(0, 1))));
    s.on_retransmitted(seg(0, 0), t(100), true);
    s.check();
    assert_eq!(s.pipe(0), 3 * MSS);
    assert_eq!(s.next_lost(), Some((seg(0, 1), seg(0, 2))));
}

#[test]
fn is_lost_needs_more_than_dupthresh_minus_one_segments_sacked_above() {
    let mut s = board(0, 10);
    sack(&mut s, seg(0, 3), seg(0, 5));
    // Two segments SACKed above 0..3: not more than 2 * MSS.
    assert_eq!(s.mark_lost_by_dupthresh(3, MSS), 0);
    sack(&mut s, seg(0, 6), seg(0, 7));
    // Three above 0, 1, 2: lost; segment 5 has one above: not lost.
    assert_eq!(s.mark_lost_by_dupthresh(3, MSS), 3);
    assert_eq!(s.lost_pending().segs, 3);
    s.check();
}

#[test]
fn cumulative_acks_pop_and_trim_and_keep_the_counters() {
    let mut s = board(100, 5);
    sack(&mut s, seg(100, 3), seg(100, 4));
    let mut seen = Vec::new();
    let a = s.cum_ack(seg(100, 2) + 500u32, |d| seen.push(d.start));
    s.check();
    assert_eq!(seen, [seg(100, 0), seg(100, 1)]);
    assert_eq!(a.delivered.bytes, 2 * MSS + 500);
    assert!(a.original_acked);
    assert_eq!(s.una(), seg(100, 2) + 500u32);
    assert_eq!(s.total().bytes, 2 * MSS + 500);
    // Past the SACKed segment: it is not delivered twice.
    let a = s.cum_ack(seg(100, 5), |_| {});
    s.check();
    assert_eq!(a.delivered.bytes, 500 + MSS);
    assert!(s.is_empty());
    assert_eq!(s.sacked().bytes, 0);
}

#[test]
fn partly_covered_records_are_not_sacked() {
    let mut s = board(0, 4);
    let out = sack(&mut s, seg(0, 1) + 1u32, seg(0, 3) - 1u32);
    assert_eq!(out.delivered.segs, 0);
    let out = sack(&mut s, seg(0, 1) + 1u32, seg(0, 3));
    assert_eq!(out.delivered.segs, 1, "only the third segment is whole");
}

#[test]
fn a_block_spanning_sacked_data_costs_only_the_new_segments() {
    let mut s = board(0, 100);
    sack(&mut s, seg(0, 10), seg(0, 90));
    let mut visited = 0;
    let mut out = SackUpdate::default();
    s.sack(seg(0, 5), seg(0, 95), &mut out, |_| visited += 1);
    assert_eq!(visited, 10, "5..10 and 90..95");
    s.check();
}

#[test]
fn rack_scan_walks_in_send_order_and_retransmissions_move_to_the_end() {
    let mut s = board(0, 5);
    s.mark_all_lost();
    s.on_retransmitted(seg(0, 0), t(50), true);
    s.check();
    // Only the retransmission is in flight on the list now.
    let mut order = Vec::new();
    s.scan_by_send_time(|start, _, _, _| {
        order.push(start);
        Scan::Keep
    });
    assert_eq!(order, [seg(0, 0)]);
    // RACK marks the retransmission lost again.
    let (marked, rtx) = s.scan_by_send_time(|_, _, _, _| Scan::Lost);
    assert_eq!((marked, rtx), (1, 1));
    assert_eq!(s.retrans().segs, 0);
    assert_eq!(s.next_lost(), Some((seg(0, 0), seg(0, 1))));
    s.check();
}

#[test]
fn a_timeout_with_a_sacked_head_means_the_receiver_reneged() {
    let mut s = board(0, 4);
    sack(&mut s, seg(0, 1), seg(0, 2));
    assert!(!s.mark_all_lost());
    assert_eq!(s.lost().segs, 3);
    s.check();
    // A SACKed head (the cumulative ACK stopped inside SACKed data).
    let mut s = board(0, 4);
    sack(&mut s, seg(0, 1), seg(0, 4));
    s.cum_ack(seg(0, 1), |_| {});
    // Forge the impossible state: the receiver SACKed what is now the head.
    assert!(s.records[0].has(flag::SACKED));
    assert!(s.mark_all_lost());
    assert_eq!((s.sacked().segs, s.lost().segs), (0, 3));
    s.check();
}

#[test]
fn undo_unmarks_and_relinks_in_send_order() {
    let mut s = board(0, 6);
    s.mark_all_lost();
    s.on_retransmitted(seg(0, 2), t(100), true);
    s.unmark_all_lost();
    s.check();
    let mut order = Vec::new();
    s.scan_by_send_time(|start, _, _, _| {
        order.push(start.raw() / MSS);
        Scan::Keep
    });
    assert_eq!(order, [0, 1, 3, 4, 5, 2]);
}

#[test]
fn rescue_and_rule_three_candidates() {
    let mut s = board(0, 8);
    sack(&mut s, seg(0, 2), seg(0, 3));
    sack(&mut s, seg(0, 6), seg(0, 8));
    assert_eq!(s.last_unsacked(), Some((seg(0, 5), seg(0, 6))));
    assert_eq!(
        s.first_unsacked_above(seg(0, 0)),
        Some((seg(0, 0), seg(0, 1)))
    );
    assert_eq!(
        s.first_unsacked_above(seg(0, 2)),
        Some((seg(0, 3), seg(0, 4)))
    );
    assert_eq!(s.last(), Some((seg(0, 7), seg(0, 8))));
}

#[test]
fn the_first_record_allocates_what_growth_would_and_release_frees_it() {
    // The up-front allocation of an episode's first record is exactly
    // the deque's first growth: the same bytes as before, and the
    // fifth record grows it the usual way.
    assert_eq!(core::mem::size_of::<Record>(), 40);
    let grown = {
        let mut d: VecDeque<Record> = VecDeque::new();
        d.push_back(Record {
            start: SeqNum(0),
            end: SeqNum(1),
            xmit: t(0),
            flags: 0,
            piece: 0,
            prev: NONE,
            next: NONE,
        });
        d.capacity()
    };
    assert_eq!(grown, FIRST_RECORDS);
    let mut s = Scoreboard::new(SeqNum(0), 1024, 64);
    assert_eq!(s.allocated(), 0);
    for round in 0..2u32 {
        // Round 1 reuses the scoreboard after its release.
        let base = SeqNum(round * 5 * MSS);
        assert!(s.push(base, base + MSS, t(0)));
        assert_eq!(s.allocated(), FIRST_RECORDS * 40, "round {round}");
        for i in 1..5 {
            assert!(s.push(base + i * MSS, base + (i + 1) * MSS, t(0)));
        }
        assert_eq!(s.allocated(), 2 * FIRST_RECORDS * 40, "round {round}");
        s.check();
        s.cum_ack(base + 5 * MSS, |_| {});
        s.release_if_empty();
        assert_eq!(s.allocated(), 0, "round {round}");
    }
}

#[test]
fn a_shed_scoreboard_keeps_only_a_first_record_buffer_for_the_next() {
    // Two records with a SACKed range: the buffer is the first one
    // (kept), the ranges are freed; the next scoreboard adopts the
    // buffer and its first push allocates nothing more.
    let mut s = board(0, 2);
    sack(&mut s, seg(0, 1), seg(0, 2));
    assert!(s.allocated() > FIRST_RECORDS * 40);
    s.shed();
    assert_eq!(s.allocated(), FIRST_RECORDS * 40);
    assert!(s.is_empty());
    let mut next = Scoreboard::new(SeqNum(7), 1024, 64);
    next.adopt_records(s.take_records());
    assert_eq!(s.allocated(), 0);
    assert_eq!(next.allocated(), FIRST_RECORDS * 40);
    assert!(next.push(SeqNum(7), SeqNum(7) + MSS, t(0)));
    assert_eq!(next.allocated(), FIRST_RECORDS * 40);
    next.check();
    // A grown buffer (five records) is freed, not kept: a scoreboard
    // that adopts nothing allocates on its first push as usual.
    let mut grown = board(0, 5);
    grown.shed();
    assert_eq!(grown.allocated(), 0);
    let spare = grown.take_records();
    let mut fresh = Scoreboard::new(SeqNum(0), 1024, 64);
    fresh.adopt_records(spare);
    assert_eq!(fresh.allocated(), 0);
}

#[test]
fn the_record_cap_refuses_more() {
    let mut s = Scoreboard::new(SeqNum(0), 2, 4);
    assert!(s.push(SeqNum(0), SeqNum(10), t(0)));
    assert!(s.push(SeqNum(10), SeqNum(20), t(0)));
    assert!(!s.has_room());
    assert!(!s.push(SeqNum(20), SeqNum(30), t(0)));
    assert!(!s.push(SeqNum(5), SeqNum(30), t(0)), "not contiguous");
}

#[test]
fn the_sacked_range_cap_discards_blocks_needing_more() {
    let mut s = Scoreboard::new(SeqNum(0), 100, 2);
    for i in 0..10 {
        s.push(seg(0, i), seg(0, i + 1), t(0));
    }
    sack(&mut s, seg(0, 1), seg(0, 2));
    sack(&mut s, seg(0, 3), seg(0, 4));
    let out = sack(&mut s, seg(0, 5), seg(0, 6));
    assert_eq!(out.discarded, 1);
    // Extending an existing range still works.
    let out = sack(&mut s, seg(0, 2), seg(0, 3));
    assert_eq!(out.delivered.segs, 1);
}

#[test]
fn works_across_sequence_wrap() {
    let una = u32::MAX - 2500;
    let mut s = board(una, 6);
    sack(&mut s, seg(una, 3), seg(una, 5));
    assert_eq!(s.highest_sacked(), Some(seg(una, 5)));
    assert_eq!(s.mark_lost_by_dupthresh(2, MSS), 3);
    s.cum_ack(seg(una, 4), |_| {});
    s.check();
    assert_eq!(s.total().segs, 2);
}

/// One operation of the property test.
#[derive(Clone, Debug)]
enum Op {
    Send(u32),
    Ack(u32),
    Sack(u32, u32),
    Retransmit,
    DupThresh(u32),
    Timeout,
    Rack(u8),
    Undo,
}

/// `acknowledge_all` and `cum_ack` of SND.NXT on two copies of `s`:
/// each one's result, the records it delivered, and the scoreboard
/// after (as `Debug`).
fn acknowledge_all_beside_cum_ack(s: &Scoreboard) -> (String, String) {
    let run = |all: bool| {
        let mut b = s.clone();
        let mut seen = Vec::new();
        let out = if all {
            b.acknowledge_all(s.nxt(), |d| seen.push(*d))
        } else {
            b.cum_ack(s.nxt(), |d| seen.push(*d))
        };
        b.check();
        // Of records none of which was resent, `acknowledge_all`
        // delivers the last alone (its docs).
        let whole = (s.sacked.segs | s.lost.segs | s.retrans.segs) == 0;
        if !all && whole && seen.iter().all(|d| !d.retransmitted) {
            seen.drain(..seen.len().saturating_sub(1));
        }
        format!("{out:?} {seen:?} {b:?}")
    };
    (run(true), run(false))
}

#[test]
fn acknowledging_everything_at_once_is_a_cumulative_ack() {
    // Three records, none SACKed, lost or retransmitted: every record
    // goes at once, in order, as `cum_ack` would deliver them.
    let s = board(1000, 3);
    let (all, cum) = acknowledge_all_beside_cum_ack(&s);
    assert_eq!(all, cum);
    let mut b = s.clone();
    let mut seen = Vec::new();
    let out = b.acknowledge_all(s.nxt(), |d| seen.push(d.start));
    assert_eq!(out.delivered.segs, 3);
    assert_eq!(out.lowest_original, Some(seg(1000, 0)));
    // None was resent: the last stands for all three.
    assert_eq!(seen, [seg(1000, 2)]);
    assert!(b.is_empty());
    assert_eq!((b.una(), b.nxt()), (s.nxt(), s.nxt()));
    // Something SACKed: `cum_ack` does it (same result).
    let mut s = board(1000, 3);
    sack(&mut s, seg(1000, 1), seg(1000, 2));
    let (all, cum) = acknowledge_all_beside_cum_ack(&s);
    assert_eq!(all, cum);
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u32..3000).prop_map(Op::Send),
        2 => any::<u32>().prop_map(Op::Ack),
        4 => (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Op::Sack(a, b)),
        2 => Just(Op::Retransmit),
        1 => (1u32..6).prop_map(Op::DupThresh),
        1 => Just(Op::Timeout),
        1 => any::<u8>().prop_map(Op::Rack),
        1 => Just(Op::Undo),
    ]
}

proptest! {
    /// A packet's pieces recorded at once are, split, what recording each
    /// in turn records (records, links, tallies), whatever the scoreboard
    /// held before, the piece size, the packet's length and the room
    /// left (a packet the cap cuts records the pieces that fit).
    #[test]
    fn pushed_pieces_are_the_pieces_pushed_one_by_one(
        una in any::<u32>(),
        before in 0u32..6,
        piece in 1u32..3000,
        len in 1u32..60_000,
        max in 1usize..40,
    ) {
        let mut one_by_one = Scoreboard::new(SeqNum(una), max, 8);
        for i in 0..before {
            let start = SeqNum(una) + i * MSS;
            one_by_one.push(start, start + MSS, t(1));
        }
        let mut at_once = one_by_one.clone();
        let start = one_by_one.nxt;
        let end = start + len;
        let mut at = start;
        let mut pushed_any = false;
        while at != end {
            let piece_end = if end.since(at) > piece { at + piece } else { end };
            let pushed = one_by_one.push(at, piece_end, t(2));
            pushed_any |= pushed;
            if !pushed {
                break;
            }
            at = piece_end;
        }
        prop_assert_eq!(at_once.push_pieces(start, end, piece, t(2)), pushed_any);
        at_once.check();
        // One packet record, split: the pieces' records.
        prop_assert!(at_once.records.len() <= one_by_one.records.len());
        prop_assert_eq!(format!("{:?}", split(&at_once)), format!("{one_by_one:?}"));
    }
}

proptest! {
    /// Hostile SACK blocks (any 32-bit edges: reversed, wrapped, outside
    /// SND.UNA..SND.NXT, tiny) and any mix of events keep every counter
    /// exact, never panic, and never exceed the caps.
    #[test]
    fn hostile_blocks_and_any_events_keep_the_scoreboard_consistent(
        una in any::<u32>(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let mut s = Scoreboard::new(SeqNum(una), 64, 8);
        let mut now = 0u64;
        for op in ops {
            now += 1;
            match op {
                Op::Send(len) => {
                    let start = s.nxt();
                    let _ = s.push(start, start + len, t(now));
                }
                Op::Ack(x) => {
                    // Anywhere: only acceptable ACKs (una..=nxt) reach it in
                    // the engine, but the scoreboard must cope regardless.
                    let ack = SeqNum(x);
                    if ack.in_closed(s.una(), s.nxt()) {
                        s.cum_ack(ack, |_| {});
                    }
                }
                Op::Sack(a, b) => {
                    let blocks = [(SeqNum(a), SeqNum(b)), (s.una() + (a % 5000), s.una() + (b % 5000))];
                    let mut kinds = [super::super::BlockKind::Invalid; 4];
                    super::super::validate(&blocks, s.una(), s.una(), s.nxt(), &mut kinds);
                    let mut out = SackUpdate::default();
                    for (k, &(l, r)) in kinds.iter().zip(&blocks) {
                        if *k == super::super::BlockKind::Sack {
                            s.sack(l, r, &mut out, |_| {});
                        }
                    }
                }
                Op::Retransmit => {
                    if let Some((start, _)) = s.next_lost() {
                        s.on_retransmitted(start, t(now), true);
                    }
                }
                Op::DupThresh(d) => { s.mark_lost_by_dupthresh(d, 1000); }
                Op::Timeout => { s.mark_all_lost(); }
                Op::Rack(k) => {
                    let mut n = 0u8;
                    s.scan_by_send_time(|_, _, _, _| {
                        n = n.wrapping_add(1);
                        if n % 3 == k % 3 { Scan::Lost } else { Scan::Keep }
                    });
                }
                Op::Undo => s.unmark_all_lost(),
            }
            s.check();
            // Acknowledging everything now: the whole-board path gives
            // `cum_ack`'s result, deliveries and scoreboard.
            if s.nxt().after(s.una()) {
                let (all, cum) = acknowledge_all_beside_cum_ack(&s);
                prop_assert_eq!(all, cum);
            }
            prop_assert!(s.len() <= 64);
            prop_assert!(s.pipe(0) <= s.total().bytes + s.retrans().bytes);
        }
    }
}

/// One step of the packet-record proptest.
#[derive(Clone, Debug)]
enum Step {
    /// A GSO packet: `len` bytes in pieces of `piece`.
    Packet(u32, u32),
    Send(u32),
    Ack(u32),
    AckAll,
    Sack(u32, u32),
    Retransmit,
    Probe,
    DupThresh(u32),
    Head,
    Timeout,
    Rack(u8, u8),
    Undo,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u32..20_000, 1u32..3000).prop_map(|(l, p)| Step::Packet(l, p)),
        2 => (1u32..3000).prop_map(Step::Send),
        2 => any::<u32>().prop_map(Step::Ack),
        2 => Just(Step::AckAll),
        3 => (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Step::Sack(a, b)),
        2 => Just(Step::Retransmit),
        1 => Just(Step::Probe),
        1 => (1u32..6).prop_map(Step::DupThresh),
        1 => Just(Step::Head),
        1 => Just(Step::Timeout),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(k, d)| Step::Rack(k, d)),
        1 => Just(Step::Undo),
    ]
}

/// Every answer a caller can read without changing the scoreboard, for
/// probes at `x` and `y` bytes past SND.UNA.
fn answers(s: &Scoreboard, x: u32, y: u32) -> String {
    let (a, b) = (s.una() + x, s.una() + y);
    format!(
        "{} {} {} {} {:?} {:?} {:?} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?} {} {} {:?} {:?}",
        s.len(),
        s.room(),
        s.has_room(),
        s.is_empty(),
        s.total(),
        s.sacked(),
        s.lost(),
        s.retrans(),
        s.lost_pending(),
        s.pipe(0),
        s.highest_sacked(),
        s.last(),
        s.last_unsacked(),
        s.first_unsacked_above(a),
        s.first_unsacked_above(s.una()),
        s.was_retransmitted(a),
        s.retransmitted_within(a, b),
        (s.una(), s.nxt()),
        s.allocated() > 0,
    )
}

/// `s` with every packet record split: what per-segment records hold.
fn split(s: &Scoreboard) -> Scoreboard {
    let mut c = s.clone();
    c.split_packets();
    c
}

proptest! {
    /// A GSO packet recorded as one record (split when a step needs its
    /// segments) against the same packet recorded segment by segment:
    /// for any history of packets, single segments, cumulative ACKs (of
    /// part or all), SACK blocks, retransmissions, probes, loss marks
    /// (IsLost, the head, a timeout, RACK's walk by send time) and undo,
    /// every step returns the same, delivers the same segments in the
    /// same order, every read-only answer is the same, and the scoreboard
    /// split is the per-segment one record for record (ids, links,
    /// marks, send times, hints).
    #[test]
    fn a_packet_record_is_its_segments_records(
        una in any::<u32>(),
        steps in proptest::collection::vec((step(), any::<u32>(), any::<u32>()), 1..120),
    ) {
        let mut packets = Scoreboard::new(SeqNum(una), 96, 8);
        let mut segments = packets.clone();
        let mut now = 0u64;
        for (step, x, y) in steps {
            now += 1;
            let at = t(now);
            let mut seen = (Vec::new(), Vec::new());
            let results = match step {
                Step::Packet(len, piece) => {
                    let start = packets.nxt();
                    let end = start + len;
                    let a = packets.push_pieces(start, end, piece, at);
                    let mut pos = start;
                    let mut b = false;
                    while pos != end {
                        let e = if end.since(pos) > piece { pos + piece } else { end };
                        if !segments.push(pos, e, at) {
                            break;
                        }
                        b = true;
                        pos = e;
                    }
                    (format!("{a}"), format!("{b}"))
                }
                Step::Send(len) => {
                    let start = packets.nxt();
                    (
                        format!("{}", packets.push(start, start + len, at)),
                        format!("{}", segments.push(start, start + len, at)),
                    )
                }
                Step::Ack(x) => {
                    let span = packets.nxt().since(packets.una());
                    let ack = packets.una() + x % (span + 1);
                    (
                        format!("{:?}", packets.cum_ack(ack, |d| seen.0.push(*d))),
                        format!("{:?}", segments.cum_ack(ack, |d| seen.1.push(*d))),
                    )
                }
                Step::AckAll => {
                    let ack = packets.nxt();
                    (
                        format!("{:?}", packets.acknowledge_all(ack, |d| seen.0.push(*d))),
                        format!("{:?}", segments.acknowledge_all(ack, |d| seen.1.push(*d))),
                    )
                }
                Step::Sack(a, b) => {
                    let span = packets.nxt().since(packets.una()).max(1);
                    let (l, r) = (packets.una() + a % span, packets.una() + b % span);
                    let mut outs = (SackUpdate::default(), SackUpdate::default());
                    if r.after(l) {
                        packets.sack(l, r, &mut outs.0, |d| seen.0.push(*d));
                        segments.sack(l, r, &mut outs.1, |d| seen.1.push(*d));
                    }
                    (format!("{:?}", outs.0), format!("{:?}", outs.1))
                }
                Step::Retransmit => {
                    let a = packets.next_lost();
                    let b = segments.next_lost();
                    let ra = a.map(|(s, _)| packets.on_retransmitted(s, at, true));
                    let rb = b.map(|(s, _)| segments.on_retransmitted(s, at, true));
                    (format!("{a:?} {ra:?}"), format!("{b:?} {rb:?}"))
                }
                Step::Probe => {
                    let a = packets.last();
                    let b = segments.last();
                    let ra = a.map(|(s, _)| packets.on_retransmitted(s, at, false));
                    let rb = b.map(|(s, _)| segments.on_retransmitted(s, at, false));
                    (format!("{a:?} {ra:?}"), format!("{b:?} {rb:?}"))
                }
                Step::DupThresh(d) => (
                    format!("{}", packets.mark_lost_by_dupthresh(d, 1000)),
                    format!("{}", segments.mark_lost_by_dupthresh(d, 1000)),
                ),
                Step::Head => (
                    format!("{}", packets.mark_head_lost()),
                    format!("{}", segments.mark_head_lost()),
                ),
                Step::Timeout => (
                    format!("{}", packets.mark_all_lost()),
                    format!("{}", segments.mark_all_lost()),
                ),
                Step::Rack(k, d) => {
                    // Lost when sent long enough ago, every third kept,
                    // stop at a segment sent too recently.
                    let walk = |s: &mut Scoreboard, seen: &mut Vec<Delivered>| {
                        let mut n = 0u8;
                        s.scan_by_send_time(|start, end, xmit, retx| {
                            seen.push(Delivered {
                                start,
                                end,
                                xmit,
                                retransmitted: retx,
                                was_sacked: false,
                            });
                            n = n.wrapping_add(1);
                            if xmit + crate::time::Duration::from_millis(u64::from(d % 8)) > at {
                                Scan::Stop
                            } else if n % 3 == k % 3 {
                                Scan::Keep
                            } else {
                                Scan::Lost
                            }
                        })
                    };
                    (
                        format!("{:?}", walk(&mut packets, &mut seen.0)),
                        format!("{:?}", walk(&mut segments, &mut seen.1)),
                    )
                }
                Step::Undo => {
                    packets.unmark_all_lost();
                    segments.unmark_all_lost();
                    (String::new(), String::new())
                }
            };
            packets.check();
            segments.check();
            prop_assert_eq!(&results.0, &results.1, "{:?}", step);
            prop_assert_eq!(&seen.0, &seen.1, "{:?}", step);
            prop_assert_eq!(answers(&packets, x, y), answers(&segments, x, y), "{:?}", step);
            prop_assert_eq!(format!("{:?}", split(&packets)), format!("{segments:?}"), "{:?}", step);
        }
    }
}
