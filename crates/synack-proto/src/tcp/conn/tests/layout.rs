//! The connection's memory layout: what an idle connection holds inline.

use super::*;
use core::mem::size_of;

use crate::time::Stamp;

/// Prints what an idle connection is made of (`cargo test layout --
/// --nocapture`) and holds the parts that were shrunk to their size.
#[test]
fn an_idle_connection_is_464_bytes_inline() {
    let parts: &[(&str, usize)] = &[
        ("Connection", size_of::<Connection>()),
        ("State", size_of::<State>()),
        ("Established", size_of::<Established>()),
        ("SendHalf", size_of::<SendHalf>()),
        ("RecvHalf", size_of::<RecvHalf>()),
        ("TimeWaitState", size_of::<TimeWaitState>()),
        ("Core", size_of::<Core>()),
        ("neg", size_of::<Negotiated>()),
        ("timers", size_of::<TimerTable>()),
        ("rtt", size_of::<RttEstimator>()),
        ("cc", size_of::<Congestion>()),
        ("recovery", size_of::<LossRecovery>()),
        ("ts_clock", size_of::<TsClock>()),
        ("ts_recent", size_of::<Option<TsRecent>>()),
        ("ack", size_of::<AckState>()),
        ("xmit", size_of::<XmitState>()),
        ("socket", size_of::<ConnOptions>()),
        ("pending", size_of::<Pending>()),
        ("life", size_of::<Life>()),
        ("counters", size_of::<Counters>()),
        ("RingBuffer", size_of::<RingBuffer>()),
    ];
    for (name, size) in parts {
        eprintln!("{name:>16} {size:>5}");
    }
    assert!(
        size_of::<Counters>() <= 24,
        "data-path counters and high halves boxed"
    );
    // Inline in the lazily boxed blocks (one allocation for a block and
    // its ring header) and in CLOSED / TIME-WAIT's unread bytes.
    assert!(size_of::<RingBuffer>() <= 40, "a limit and a ring header");
    assert!(size_of::<TimeWaitState>() <= size_of::<Established>());
    assert!(
        size_of::<RttEstimator>() <= 32,
        "32-bit µs fields, the RTO bounds read from the config"
    );
    assert!(
        size_of::<ConnOptions>() <= 16,
        "buffer sizes in u32, flags in the life byte, the rest boxed"
    );
    assert!(size_of::<TimerTable>() <= 48, "32-bit µs offsets");
    assert!(
        size_of::<Congestion>() <= 48,
        "CUBIC epoch boxed, the initial window read from the config"
    );
    // The state's tag is an explicit byte in the 8 bytes a layout without a
    // niche pads to: every variant is at most the two halves (SYN-RECEIVED's
    // passive flag is in `Core`), so it costs nothing.
    assert_eq!(size_of::<SynReceived>(), size_of::<Established>());
    assert!(size_of::<State>() <= size_of::<Established>() + 8);
    assert!(size_of::<RecvHalf>() <= 40, "data state in a lazy block");
    assert!(size_of::<SendHalf>() <= 56, "data state in a lazy block");
    assert!(
        size_of::<XmitState>() <= 56,
        "probe and timeout state boxed, timed segment packed"
    );
    assert!(size_of::<AckState>() <= 24, "quick ACKs in a byte");
    // 10 with ECN's byte: every flag in `bits` (two bits free).
    assert!(size_of::<Negotiated>() <= 10, "option flags in bits");
    assert!(size_of::<Life>() <= 4, "life and socket flags in bits");
    // State 104 (each half's data state in its block) + Core 360 (two
    // bytes of padding left: a new 4-byte field costs 8).
    assert!(size_of::<Connection>() <= 464);
}

#[test]
fn the_receive_block_is_made_by_the_first_data_and_freed_when_idle() {
    let mut h = Harness::established();
    let rcv = |h: &Harness| h.conn.state.recv_half().unwrap().has_block();
    assert!(!rcv(&h), "the handshake allocates no receive block");
    h.feed(seg(".", IRS + 1, Some(ISS + 1)).len(100));
    assert!(rcv(&h));
    assert_eq!(h.recv_all().len(), 100);
    h.output();
    assert!(rcv(&h), "kept while the connection may be busy");
    // IDLE_RELEASE after the last read.
    h.run_until(h.now.total_millis() + 1_000);
    assert!(!rcv(&h), "freed with the buffer");
    assert_eq!(h.conn.buffer_memory(), 0);
}

#[test]
fn a_bulk_receive_makes_its_receive_block_once() {
    let mut h = Harness::established();
    let made = || crate::tcp::conn::recv::BLOCKS_MADE.with(|n| n.get());
    let before = made();
    let mut seq = IRS + 1;
    // 2,000 full segments with reads and ACKs in between, 1 ms apart.
    for i in 0..2_000u32 {
        h.at(200 + u64::from(i));
        let s = seg(".", seq, Some(ISS + 1)).len(1448);
        seq += 1448;
        h.feed(s);
        if i % 2 == 1 {
            assert_eq!(h.recv_all().len(), 2 * 1448);
            h.output();
        }
    }
    assert_eq!(h.rcv_nxt(), SeqNum(seq));
    assert_eq!(made() - before, 1, "one block for the busy period");
}

#[test]
fn the_send_block_is_made_by_the_first_write_and_freed_when_idle() {
    let mut h = Harness::established();
    let snd = |h: &Harness| h.conn.state.send_half().unwrap().has_block();
    assert!(!snd(&h), "the handshake allocates no send block");
    h.send(&[1; 100]);
    assert!(snd(&h));
    h.output();
    h.at(300);
    h.feed(seg(".", IRS + 1, Some(ISS + 101)));
    assert!(snd(&h), "kept while the connection may be busy");
    // IDLE_RELEASE after the last ACK.
    h.run_until(1_300);
    assert!(!snd(&h), "freed with the buffer");
    assert_eq!(h.conn.buffer_memory(), 0);
    // A new busy period starts like the first: Nagle and GSO see nothing
    // outstanding.
    h.send(&[2; 10]);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 10);
}

#[test]
fn a_bulk_send_makes_its_send_block_once() {
    let mut h = Harness::established();
    let made = || crate::tcp::conn::send::BLOCKS_MADE.with(|n| n.get());
    let before = made();
    let mut acked = ISS + 1;
    let mut sent = 0u64;
    for i in 0..500u64 {
        h.at(200 + i);
        h.send(&[7; 8 * 1448]);
        for s in h.output() {
            sent += s.payload.len() as u64;
            acked = acked.max(s.seq.0 + s.payload.len() as u32);
        }
        h.feed(seg(".", IRS + 1, Some(acked)).win(65_535));
    }
    assert!(sent > 1_000_000, "{sent} bytes sent");
    assert_eq!(made() - before, 1, "one block for the busy period");
}

#[test]
fn data_counters_are_allocated_by_the_first_data_not_by_the_handshake() {
    let mut h = Harness::established();
    assert!(h.conn.core.counters.data.is_none(), "no data moved yet");
    assert_eq!(h.info().bytes_sent, 0);
    assert_eq!(h.info().segs_out, 2, "SYN and ACK counted inline");
    h.send(&[1; 100]);
    h.output();
    assert!(h.conn.core.counters.data.is_some());
    let info = h.info();
    assert_eq!((info.data_segs_out, info.bytes_sent), (1, 100));
}

#[test]
fn timeout_state_is_boxed_during_a_retransmission_and_freed_by_the_ack() {
    let mut h = Harness::established();
    assert!(!h.conn.core.xmit.holds_rare(), "fresh from the handshake");
    h.send(&[1; 100]);
    h.output();
    // The RTO (1 s without an RTT sample on this harness, or less) fires:
    // the give-up clock starts.
    let resent = h.run_until(5_000);
    assert!(!resent.is_empty(), "retransmitted");
    assert!(h.conn.core.xmit.retrans_stamp().get().is_some());
    assert!(h.conn.core.xmit.holds_rare());
    h.feed(seg(".", IRS + 1, Some(ISS + 101)));
    assert_eq!(h.conn.core.xmit.retrans_stamp(), Stamp::NONE);
    assert!(
        !h.conn.core.xmit.holds_rare(),
        "all back at defaults: freed"
    );
}

#[test]
fn inline_segment_counters_carry_into_the_boxed_high_half() {
    let mut c = Counters::default();
    c.add_segs_out(u32::MAX);
    c.add_segs_in(7);
    assert!(c.data.is_none(), "no carry yet: nothing boxed");
    c.add_segs_out(2);
    c.add_delivered(u32::MAX);
    c.add_delivered(u32::MAX);
    assert_eq!(c.segs_out(), u64::from(u32::MAX) + 2);
    assert_eq!(c.delivered(), 2 * u64::from(u32::MAX));
    assert_eq!(c.segs_in(), 7);
    assert!(c.data.is_some());
}

#[test]
fn min_rtt_keeps_microseconds_and_saturates() {
    let mut c = Counters::default();
    assert_eq!(c.min_rtt(), None);
    c.note_rtt(Duration::from_secs(100_000));
    assert_eq!(
        c.min_rtt(),
        Some(Duration::from_micros(u64::from(u32::MAX - 1))),
        "a huge sample saturates but still counts as a sample"
    );
    c.note_rtt(Duration::from_micros(1_234));
    assert_eq!(c.min_rtt(), Some(Duration::from_micros(1_234)));
}

#[test]
fn cubic_epoch_is_allocated_in_congestion_avoidance_not_by_the_handshake() {
    let h = Harness::established();
    match &h.conn.core.cc {
        Congestion::Cubic(c) => assert_eq!(c.acks_per_increment(), 0, "no epoch yet"),
        Congestion::Reno(_) => {}
    }
    assert!(format!("{:?}", h.conn.core.cc).contains("epoch: None"));
}

#[test]
fn a_pending_rst_and_the_pending_flags_share_12_bytes() {
    let mut p = Pending::default();
    assert_eq!(p.take_rst(), None);
    p.set_syn(true);
    p.set_loss_probe(true);
    for rst in [
        PendingRst::Abort {
            seq: SeqNum(7),
            ack: Some(SeqNum(0)),
        },
        PendingRst::Abort {
            seq: SeqNum(u32::MAX),
            ack: None,
        },
        PendingRst::Reply {
            seq: SeqNum(0),
            ack: Some(SeqNum(9)),
        },
        PendingRst::Reply {
            seq: SeqNum(5),
            ack: None,
        },
    ] {
        p.set_rst(rst);
        assert_eq!(p.rst(), Some(rst));
        assert_eq!(p.take_rst(), Some(rst));
        assert_eq!(p.take_rst(), None, "taken once");
    }
    // A second RST replaces the first; flags and RSTs leave each other be.
    p.set_rst(PendingRst::Abort {
        seq: SeqNum(1),
        ack: Some(SeqNum(2)),
    });
    p.set_rst(PendingRst::Reply {
        seq: SeqNum(3),
        ack: None,
    });
    p.set_syn(false);
    p.set_probe(true);
    assert_eq!(
        p.rst(),
        Some(PendingRst::Reply {
            seq: SeqNum(3),
            ack: None
        })
    );
    assert!(!p.syn() && p.probe() && p.loss_probe() && !p.force_push());
    assert!(p.take_rst().is_some());
    assert!(!p.syn() && p.probe() && p.loss_probe() && !p.force_push());
    assert!(size_of::<Pending>() <= 12);
}
