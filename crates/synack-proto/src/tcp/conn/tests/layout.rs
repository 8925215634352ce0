//! The connection's memory layout: what an idle connection holds inline.

use super::*;
use core::mem::size_of;

/// Prints what an idle connection is made of (`cargo test layout --
/// --nocapture`) and holds the parts that were shrunk to their size.
#[test]
fn an_idle_connection_is_792_bytes_inline() {
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
    assert!(size_of::<Counters>() <= 40, "data-path counters are boxed");
    assert!(
        size_of::<XmitState>() <= 64,
        "probe and timeout state boxed"
    );
    // 784 plus the pointer to MSG_EOR record boundaries (`conn::records`),
    // boxed from the first record.
    assert!(size_of::<Connection>() <= 792);
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
    assert!(h.conn.core.xmit.rare.is_none(), "fresh from the handshake");
    h.send(&[1; 100]);
    h.output();
    // The RTO (1 s without an RTT sample on this harness, or less) fires:
    // the give-up clock starts.
    let resent = h.run_until(5_000);
    assert!(!resent.is_empty(), "retransmitted");
    assert!(h.conn.core.xmit.retrans_stamp().get().is_some());
    assert!(h.conn.core.xmit.rare.is_some());
    h.feed(seg(".", IRS + 1, Some(ISS + 101)));
    assert_eq!(h.conn.core.xmit.retrans_stamp(), Stamp::NONE);
    assert!(
        h.conn.core.xmit.rare.is_none(),
        "all back at defaults: freed"
    );
}
