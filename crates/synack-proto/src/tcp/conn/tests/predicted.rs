//! Header prediction (`Connection::on_segment_predicted`) against the full
//! steps of RFC 9293 §3.10.7.4: the same connection history run twice, once
//! with prediction and once with it switched off, must leave the same
//! dispositions, the same segments sent, the same events and the same
//! connection and environment after every step.

use super::*;
use crate::tcp::conn::input::predicted;
use proptest::prelude::*;

/// Which sequence number the peer's segment carries.
#[derive(Clone, Copy, Debug)]
pub(super) enum SeqPick {
    /// RCV.NXT: the segment prediction expects.
    Expected,
    /// Beyond RCV.NXT: out of order (a hole before it).
    Ahead(u16),
    /// Before RCV.NXT: a duplicate or a partial overlap.
    Behind(u16),
    /// Far outside the window.
    Outside,
}

/// Which acknowledgment number it carries.
#[derive(Clone, Copy, Debug)]
pub(super) enum AckPick {
    /// SND.NXT: everything.
    All,
    /// SND.UNA: nothing new.
    Una,
    /// Between the two.
    Part(u16),
    /// Beyond SND.NXT (unsent data).
    Beyond(u16),
    /// Below SND.UNA - MAX.SND.WND.
    Old,
}

/// Its timestamp against the peer's last one.
#[derive(Clone, Copy, Debug)]
pub(super) enum TsPick {
    Newer,
    Same,
    /// Older than TS.Recent by more than PAWS forgives.
    Older,
    Absent,
}

#[derive(Clone, Debug)]
pub(super) enum Op {
    Send(u16),
    Peer {
        seq: SeqPick,
        ack: AckPick,
        /// Index into [`FLAGS`].
        flags: usize,
        len: u16,
        window: u16,
        ts: TsPick,
        ce: bool,
    },
    Recv,
    Wait(u16),
    Shutdown,
}

/// The peer's controls: mostly what prediction takes, some it must not.
const FLAGS: [&str; 10] = [".", ".", ".", "P.", "P.", "F.", "R.", "S.", "R", "U."];

pub(super) fn op() -> impl Strategy<Value = Op> {
    let seq = prop_oneof![
        8 => Just(SeqPick::Expected),
        1 => (1u16..3000).prop_map(SeqPick::Ahead),
        1 => (1u16..3000).prop_map(SeqPick::Behind),
        1 => Just(SeqPick::Outside),
    ];
    let ack = prop_oneof![
        4 => Just(AckPick::All),
        3 => Just(AckPick::Una),
        2 => any::<u16>().prop_map(AckPick::Part),
        1 => (1u16..100).prop_map(AckPick::Beyond),
        1 => Just(AckPick::Old),
    ];
    let ts = prop_oneof![
        6 => Just(TsPick::Newer),
        2 => Just(TsPick::Same),
        1 => Just(TsPick::Older),
        1 => Just(TsPick::Absent),
    ];
    let len = prop_oneof![3 => Just(0u16), 3 => 1u16..1449, 1 => 1449u16..3000];
    let window = prop_oneof![6 => Just(65_535u16), 1 => Just(0u16), 2 => any::<u16>()];
    prop_oneof![
        2 => (1u16..6000).prop_map(Op::Send),
        8 => (seq, ack, 0..FLAGS.len(), len, window, ts, prop::bool::weighted(0.1)).prop_map(
            |(seq, ack, flags, len, window, ts, ce)| Op::Peer {
                seq,
                ack,
                flags,
                len,
                window,
                ts,
                ce,
            }
        ),
        1 => Just(Op::Recv),
        2 => (1u16..400).prop_map(Op::Wait),
        1 => Just(Op::Shutdown),
    ]
}

/// Runs `ops` on an established connection (small receive buffer, so the
/// window closes too), with prediction on or off; returns what each step
/// left, and how many segments prediction took.
fn run(ops: &[Op], off: bool) -> (Vec<String>, u64) {
    run_switched(ops, &predicted::OFF, &predicted::TAKEN, off)
}

/// [`run`] with the short way that `switch` turns off (when `off`) and
/// whose uses `taken` counts.
pub(super) fn run_switched(
    ops: &[Op],
    switch: &'static std::thread::LocalKey<core::cell::Cell<bool>>,
    taken: &'static std::thread::LocalKey<core::cell::Cell<u64>>,
    off: bool,
) -> (Vec<String>, u64) {
    run_from(Harness::established_with, ops, switch, taken, off)
}

/// [`run_switched`] from the connection `start` makes (small receive
/// buffer).
fn run_from(
    start: fn(Config) -> Harness,
    ops: &[Op],
    switch: &'static std::thread::LocalKey<core::cell::Cell<bool>>,
    taken: &'static std::thread::LocalKey<core::cell::Cell<u64>>,
    off: bool,
) -> (Vec<String>, u64) {
    switch.with(|o| o.set(off));
    taken.with(|n| n.set(0));
    let config = Config {
        tcp_rmem: crate::config::BufferSizes {
            min: 4096,
            default: 8192,
            max: 8192,
        },
        ..Config::default()
    };
    let mut h = start(config);
    let mut trace = Vec::new();
    let mut peer_ts = 700u32;
    let mut now_ms = 100u64;
    for op in ops {
        let step = match *op {
            Op::Send(n) => {
                let sent = h.conn.send(
                    h.now,
                    &vec![0x5A; usize::from(n)],
                    SendFlags::default(),
                    &mut h.env,
                );
                format!("send {sent:?}")
            }
            Op::Peer {
                seq,
                ack,
                flags,
                len,
                window,
                ts,
                ce,
            } => {
                let nxt = h.rcv_nxt();
                let seq = match seq {
                    SeqPick::Expected => nxt,
                    SeqPick::Ahead(d) => nxt + u32::from(d),
                    SeqPick::Behind(d) => nxt - u32::from(d),
                    SeqPick::Outside => nxt + 1_000_000u32,
                };
                let (una, snd_nxt) = h.snd_una_nxt();
                let ack = match ack {
                    AckPick::All => snd_nxt,
                    AckPick::Una => una,
                    AckPick::Part(p) => una + (u32::from(p) % (snd_nxt.since(una) + 1)),
                    AckPick::Beyond(d) => snd_nxt + u32::from(d),
                    AckPick::Old => una - 3_000_000u32,
                };
                let urgent = FLAGS[flags] == "U.";
                let tcpdump = if urgent { "." } else { FLAGS[flags] };
                let mut s = seg(tcpdump, seq.0, Some(ack.0)).len(usize::from(len));
                if urgent {
                    s.flags |= TcpFlags::URG;
                }
                s.window = window;
                let echo = Harness::tsval_at(now_ms.saturating_sub(50));
                match ts {
                    TsPick::Newer => {
                        peer_ts += 3;
                        s = s.ts(peer_ts, echo);
                    }
                    TsPick::Same => s = s.ts(peer_ts, echo),
                    TsPick::Older => s = s.ts(peer_ts.wrapping_sub(1 << 30), echo),
                    TsPick::Absent => {}
                }
                // CE (0b11) or Not-ECT.
                h.env.rx_tos = if ce { 0b11 } else { 0 };
                let d = h.input(s);
                h.env.rx_tos = 0;
                format!("{d:?}")
            }
            Op::Recv => format!("recv {}", h.recv_all().len()),
            Op::Wait(ms) => {
                now_ms += u64::from(ms);
                format!("timers {:?}", h.run_until(now_ms))
            }
            Op::Shutdown => format!("{:?}", h.conn.shutdown(h.now, Shutdown::Write, &mut h.env)),
        };
        let out = h.output();
        let events = h.drain_events();
        trace.push(format!(
            "{step} | out {out:?} | events {events:?} | {:?} {:?} {:?}",
            h.conn.state, h.conn.core, h.env
        ));
    }
    switch.with(|o| o.set(false));
    (trace, taken.with(|n| n.get()))
}

/// Both runs' steps, compared one by one (`assert_same_steps`).
fn assert_same(ops: &[Op]) -> u64 {
    assert_same_steps(ops, run)
}

/// A server in SYN-RECEIVED after a Linux peer's SYN (TSval 700), its
/// SYN-ACK drained at 50 ms.
fn syn_received(config: Config) -> Harness {
    let syn = seg("S", IRS, None).linux_syn_opts();
    let mut h = Harness::server(config, &syn);
    h.at(50);
    assert_eq!(h.output().len(), 1, "the SYN-ACK");
    h
}

/// [`run`] from SYN-RECEIVED ([`syn_received`]).
fn run_from_syn_received(ops: &[Op], off: bool) -> (Vec<String>, u64) {
    run_from(syn_received, ops, &predicted::OFF, &predicted::TAKEN, off)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prediction_leaves_what_the_full_steps_leave(ops in prop::collection::vec(op(), 1..60)) {
        assert_same(&ops);
    }

    /// The same from SYN-RECEIVED: the handshake's ACK (acceptable or not,
    /// with data, a FIN, a stale timestamp or other controls) and what
    /// follows it.
    #[test]
    fn handshake_prediction_leaves_what_the_full_steps_leave(
        ops in prop::collection::vec(op(), 1..30),
    ) {
        assert_same_steps(&ops, run_from_syn_received);
    }
}

/// The handshake's ACK is predicted in SYN-RECEIVED (ESTABLISHED, as
/// through the full steps), with data on it too; an ACK of nothing new
/// (SEG.ACK = SND.UNA: our SYN unacknowledged) draws the full steps'
/// reset from the prediction's own completion step.
#[test]
fn the_handshake_ack_is_predicted_with_the_same_result() {
    let peer = |flags, len| plain_peer(SeqPick::Expected, flags, len);
    let ops = [peer(0, 0), peer(3, 100), Op::Recv];
    let (trace, taken) = run_from_syn_received(&ops, false);
    assert!(trace[0].contains("Established"), "{}", trace[0]);
    assert_eq!(taken, 2, "the handshake's ACK and the data after it");
    assert_eq!(assert_same_steps(&ops, run_from_syn_received), 2);
    // Data and a FIN on the handshake's ACK: CLOSE-WAIT at once.
    let ops = [peer(5, 10), Op::Recv];
    let (trace, taken) = run_from_syn_received(&ops, false);
    assert!(trace[0].contains("CloseWait"), "{}", trace[0]);
    assert_eq!(taken, 1);
    assert_same_steps(&ops, run_from_syn_received);
    let ack_of_nothing = Op::Peer {
        seq: SeqPick::Expected,
        ack: AckPick::Una,
        flags: 0,
        len: 0,
        window: 65_535,
        ts: TsPick::Newer,
        ce: false,
    };
    let ops = [ack_of_nothing, peer(0, 0)];
    let (trace, _) = run_from_syn_received(&ops, false);
    assert!(
        trace[0].contains("ResetSent(BadHandshakeAck)"),
        "{}",
        trace[0]
    );
    assert!(trace[1].contains("Established"), "{}", trace[1]);
    assert_same_steps(&ops, run_from_syn_received);
}

/// A peer segment that acknowledges everything, with an open window, a
/// newer timestamp and no CE mark: the scripted cases' usual segment.
pub(super) fn plain_peer(seq: SeqPick, flags: usize, len: u16) -> Op {
    Op::Peer {
        seq,
        ack: AckPick::All,
        flags,
        len,
        window: 65_535,
        ts: TsPick::Newer,
        ce: false,
    }
}

/// A request/response exchange: the peer's in-order data and its ACKs of
/// ours are predicted, and everything ends as without prediction.
#[test]
fn in_order_data_and_acks_are_predicted_with_the_same_result() {
    let peer = |flags, len| plain_peer(SeqPick::Expected, flags, len);
    let ops = [
        peer(3, 100),
        Op::Recv,
        Op::Send(200),
        peer(0, 0),
        peer(3, 1448),
        peer(0, 1448),
        Op::Wait(50),
        Op::Send(3000),
        peer(0, 0),
        Op::Recv,
        peer(5, 0),
    ];
    let taken = assert_same(&ops);
    // The last segment, the FIN, is predicted too (ESTABLISHED ->
    // CLOSE-WAIT).
    assert_eq!(taken, 6);
}

/// Text into a closed window is not predicted ("first, check sequence
/// number" accepts only its ACK): the full steps drop the text and answer
/// at once, with or without prediction.
#[test]
fn text_into_a_closed_window_is_left_to_the_full_steps() {
    let data = |len| Op::Peer {
        seq: SeqPick::Expected,
        ack: AckPick::All,
        flags: 0,
        len,
        window: 65_535,
        ts: TsPick::Newer,
        ce: false,
    };
    // 8192 bytes of receive buffer: the sixth segment finds it full.
    let ops = [
        data(1448),
        data(1448),
        data(1448),
        data(1448),
        data(1448),
        data(1448),
        data(1448),
        Op::Recv,
        data(1448),
    ];
    let (trace, _) = run(&ops, false);
    assert!(
        trace.iter().any(|t| t.contains("tcp_zero_window_drop: 1")),
        "the window closed"
    );
    assert_same(&ops);
}

/// The peer's FIN held beyond a hole is taken when predicted text fills
/// the hole ("eighth, check the FIN bit"): CLOSE-WAIT, as without
/// prediction.
#[test]
fn a_fin_beyond_a_hole_is_taken_when_predicted_text_fills_it() {
    let peer = plain_peer;
    let ops = [
        peer(SeqPick::Ahead(100), 5, 50),
        peer(SeqPick::Expected, 0, 100),
    ];
    let (trace, taken) = run(&ops, false);
    assert_eq!(taken, 1, "the text that fills the hole is predicted");
    assert!(trace[1].contains("CloseWait"), "{}", trace[1]);
    assert_same(&ops);
}

/// A FIN at RCV.NXT into a closed window is not predicted: "first, check
/// sequence number" finds it unacceptable (it occupies sequence space),
/// so the full steps answer with an ACK and the FIN waits for the window,
/// with or without prediction. Once the window opens the FIN is predicted.
#[test]
fn a_fin_into_a_closed_window_is_left_to_the_full_steps() {
    let data = |len| plain_peer(SeqPick::Expected, 0, len);
    let fin = plain_peer(SeqPick::Expected, 5, 0);
    // 8192 bytes of receive buffer: the sixth segment fills it.
    let mut ops = vec![data(1448); 6];
    ops.extend([fin.clone(), Op::Recv, fin]);
    let (trace, taken) = run(&ops, false);
    assert!(trace[6].contains("Established"), "{}", trace[6]);
    assert!(trace[8].contains("CloseWait"), "{}", trace[8]);
    assert_eq!(taken, 7, "the six data segments and the second FIN");
    assert_same(&ops);
}

/// A closing connection's last segments are predicted, with the results
/// of the full steps: after our FIN, the peer's ACK of it (FIN-WAIT-2)
/// and its FIN (TIME-WAIT); after the peer's FIN and ours, its ACK of
/// ours (LAST-ACK to CLOSED).
#[test]
fn a_closing_connections_ack_and_fin_are_predicted() {
    let peer = |flags| plain_peer(SeqPick::Expected, flags, 0);
    let ops = [Op::Shutdown, peer(0), peer(5)];
    let (trace, taken) = run(&ops, false);
    assert!(trace[1].contains("FinWait2"), "{}", trace[1]);
    assert!(trace[2].contains("TimeWait"), "{}", trace[2]);
    assert_eq!(taken, 2, "the ACK of our FIN and the peer's FIN");
    assert_same(&ops);
    let ops = [peer(5), Op::Shutdown, peer(0)];
    let (trace, taken) = run(&ops, false);
    assert!(trace[1].contains("LastAck"), "{}", trace[1]);
    assert!(trace[2].contains("Closed"), "{}", trace[2]);
    assert_eq!(taken, 2, "the peer's FIN and its ACK of ours");
    assert_same(&ops);
    // LAST-ACK ignores a FIN ("eighth"), predicted or not.
    let fin_acking_nothing = Op::Peer {
        seq: SeqPick::Expected,
        ack: AckPick::Una,
        flags: 5,
        len: 0,
        window: 65_535,
        ts: TsPick::Newer,
        ce: false,
    };
    let ops = [peer(5), Op::Shutdown, fin_acking_nothing];
    let (trace, taken) = run(&ops, false);
    assert!(trace[2].contains("LastAck"), "{}", trace[2]);
    assert_eq!(taken, 2);
    assert_same(&ops);
}
