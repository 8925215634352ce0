//! The short ways of planning a full segment inside a GSO packet
//! (`Core::plan_inside_packet`), a bare ACK (`Core::bare_ack_only`) and a
//! segment with nothing in flight before it (`Core::plan_first_in_flight`)
//! against the long way (`plan_synchronized`'s steps): the same histories
//! run twice, once with the short ways and once with them switched off
//! (`in_packet::OFF`), must send the same bytes and
//! leave the same connection and environment after every step, with
//! segments polled one at a time between the peer's segments, timers and
//! the application's calls; and two stacks moving a bulk transfer over a
//! lossy path must put the same frames on the wire.

use super::*;
use crate::Stack;
use crate::config::Config;
use crate::rng::Rng;
use crate::stack::{ConnHandle, Interface};
use crate::tcp::conn::output::in_packet;
use core::net::{Ipv4Addr, SocketAddrV4};
use proptest::prelude::*;

/// Runs `f` with the short ways off or on; returns what it returned and how
/// many segments the GSO packet's short way planned (the bare ACK's count
/// is left in `in_packet::BARE_ACKS`: [`bare_acks`]).
fn with_short_way<T>(off: bool, f: impl FnOnce() -> T) -> (T, u64) {
    in_packet::OFF.with(|o| o.set(off));
    in_packet::TAKEN.with(|n| n.set(0));
    in_packet::BARE_ACKS.with(|n| n.set(0));
    in_packet::FIRST.with(|n| n.set(0));
    let out = f();
    in_packet::OFF.with(|o| o.set(false));
    (out, in_packet::TAKEN.with(|n| n.get()))
}

/// How many bare ACKs the short way planned in the last [`with_short_way`].
fn bare_acks() -> u64 {
    in_packet::BARE_ACKS.with(|n| n.get())
}

/// How many segments with nothing in flight before them the short way
/// planned in the last [`with_short_way`].
fn first_in_flight() -> u64 {
    in_packet::FIRST.with(|n| n.get())
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Op {
    /// The application writes this many bytes.
    Send(u16),
    /// One poll: at most one segment.
    PollOne,
    /// Polls until nothing more goes.
    PollAll,
    /// The peer's ACK: of everything (`None`) or of this share of what is
    /// in flight, with a window, maybe a SACK block above it, maybe a CE
    /// echo.
    Ack {
        part: Option<u16>,
        window: u16,
        sack: Option<(u16, u16)>,
        ece: bool,
    },
    /// The peer sends this many bytes of data, in order (they are owed
    /// an ACK, maybe a delayed one).
    Data(u16),
    /// Virtual time moves on, timers firing on the way.
    Wait(u16),
    /// The stack's segmentation offload allowance for the next polls.
    Offload(bool),
    Shutdown,
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let ack = (
        prop::option::weighted(0.6, any::<u16>()),
        prop_oneof![6 => Just(65_535u16), 1 => Just(0u16), 2 => any::<u16>()],
        prop::option::weighted(0.2, (any::<u16>(), 1u16..4000)),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(part, window, sack, ece)| Op::Ack {
            part,
            window,
            sack,
            ece,
        });
    prop_oneof![
        3 => (1u16..30_000).prop_map(Op::Send),
        6 => Just(Op::PollOne),
        2 => Just(Op::PollAll),
        5 => ack,
        2 => (1u16..3000).prop_map(Op::Data),
        2 => (1u16..600).prop_map(Op::Wait),
        1 => any::<bool>().prop_map(Op::Offload),
        1 => Just(Op::Shutdown),
    ]
}

/// Polls at most `max` segments; returns their bytes.
fn poll(h: &mut Harness, max: usize, offload: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0xAAu8; 70_000];
    for _ in 0..max {
        h.env.tx = crate::tcp::conn::offload::TxOffload {
            max_segment: if offload { 65_000 } else { 0 },
            csum: offload,
            ..Default::default()
        };
        let Some(n) = h.conn.poll_transmit(h.now, &mut buf, &mut h.env) else {
            break;
        };
        out.push(buf[..n].to_vec());
    }
    h.env.tx = Default::default();
    out
}

/// Runs `ops` on an established connection (ECN and SACK agreed, ECT
/// data) with the short way off or on; returns what each step left.
fn run(ops: &[Op], off: bool) -> (Vec<String>, u64) {
    with_short_way(off, || steps(ops))
}

fn steps(ops: &[Op]) -> Vec<String> {
    // Segment by segment: software GSO would plan most of a burst at once.
    steps_with(ops, false).0
}

/// [`steps`] with software GSO on or off; also returns every segment sent,
/// with whether the offload allowance was on for it.
pub(super) fn steps_with(ops: &[Op], gso: bool) -> (Vec<String>, Vec<(bool, Vec<u8>)>) {
    let mut h = Harness::established_with(Config {
        tcp_ecn: 1,
        gso,
        ..Config::default()
    });
    let mut segments = Vec::new();
    // The peer's TSval, virtual time, and the offload allowance.
    let (mut peer_ts, mut now_ms, mut offload) = (700u32, 100u64, false);
    let mut trace = Vec::new();
    for op in ops {
        let (step, out) = match *op {
            Op::Send(n) => {
                let data = vec![0x5A; usize::from(n)];
                let sent = h.conn.send(h.now, &data, SendFlags::default(), &mut h.env);
                (format!("send {sent:?}"), Vec::new())
            }
            Op::PollOne => ("poll one".into(), poll(&mut h, 1, offload)),
            Op::PollAll => ("poll all".into(), poll(&mut h, 10_000, offload)),
            Op::Ack {
                part,
                window,
                sack,
                ece,
            } => {
                let (una, nxt) = h.snd_una_nxt();
                let flight = nxt.since(una);
                let ack = match part {
                    None => nxt,
                    Some(p) => una + (u32::from(p) % (flight + 1)),
                };
                let mut s = seg(".", h.rcv_nxt().0, Some(ack.0)).win(window);
                if ece {
                    s.flags |= TcpFlags::ECE;
                }
                if let Some((from, len)) = sack {
                    let start = ack + (u32::from(from) % (flight + 1));
                    s.options.sack_blocks.push((start, start + u32::from(len)));
                }
                peer_ts += 3;
                s = s.ts(peer_ts, Harness::tsval_at(now_ms.saturating_sub(20)));
                let d = h.input(s);
                (format!("{d:?}"), Vec::new())
            }
            Op::Data(n) => {
                let (_, nxt) = h.snd_una_nxt();
                peer_ts += 3;
                let s = seg("P.", h.rcv_nxt().0, Some(nxt.0))
                    .data(&vec![0x3C; usize::from(n)])
                    .ts(peer_ts, Harness::tsval_at(now_ms.saturating_sub(20)));
                let d = h.input(s);
                (format!("{d:?}"), Vec::new())
            }
            Op::Wait(ms) => {
                now_ms += u64::from(ms);
                // Timers fire; what they send waits for the next polls.
                let end = Instant::from_millis(now_ms);
                while let Some(t) = h.conn.poll_timeout().filter(|&t| t <= end) {
                    h.now = h.now.max(t);
                    h.conn.handle_timeout(h.now, &mut h.env);
                }
                h.now = h.now.max(end);
                ("wait".into(), Vec::new())
            }
            Op::Offload(on) => {
                offload = on;
                (format!("offload {on}"), Vec::new())
            }
            Op::Shutdown => {
                let r = h.conn.shutdown(h.now, Shutdown::Write, &mut h.env);
                (format!("{r:?}"), Vec::new())
            }
        };
        let events = h.drain_events();
        trace.push(format!(
            "{step} | out {out:?} | events {events:?} | {:?} {:?} {:?}",
            h.conn.state, h.conn.core, h.env
        ));
        segments.extend(out.into_iter().map(|seg| (offload, seg)));
    }
    (trace, segments)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_short_way_plans_what_the_long_way_plans(ops in prop::collection::vec(op(), 1..60)) {
        assert_same_steps(&ops, run);
    }
}

/// A bulk write polled one segment at a time, ACKs, a SACK-driven loss, a
/// timeout and offload in between: the short way plans most segments and
/// everything ends as the long way leaves it.
#[test]
fn a_bulk_write_is_planned_the_short_way_with_the_same_result() {
    let ack = |part, sack| Op::Ack {
        part,
        window: 65_535,
        sack,
        ece: false,
    };
    let mut ops = vec![Op::Send(30_000)];
    ops.extend([Op::PollOne; 12]);
    ops.extend([ack(None, None), Op::Send(30_000)]);
    ops.extend([Op::PollOne; 20]);
    ops.extend([
        ack(Some(3_000), Some((10_000, 1448))),
        ack(Some(3_000), Some((10_000, 2896))),
        ack(Some(3_000), Some((10_000, 4344))),
        Op::PollAll,
        Op::Wait(300),
        Op::PollOne,
        Op::Offload(true),
        ack(None, None),
        Op::Send(20_000),
        Op::PollAll,
        Op::Offload(false),
        ack(None, None),
        Op::Send(30_000),
        Op::Shutdown,
        Op::PollAll,
        ack(None, None),
    ]);
    let taken = assert_same_steps(&ops, run);
    assert!(taken >= 20, "the short way planned {taken} segments");
}

/// Requests and responses, then a full window, a FIN and a timeout: ACKs
/// owed to the peer's data while nothing else may go take the bare ACK's
/// short way, and every step ends as the long way leaves it (the
/// proptest above and the two-stack bulk transfer below try many more).
#[test]
fn owed_acks_are_planned_the_short_way_with_the_same_result() {
    let ack = |part| Op::Ack {
        part,
        window: 65_535,
        sack: None,
        ece: false,
    };
    // The peer's data, each owed an ACK, with our data in flight or not.
    let owed = |n| [Op::Data(n), Op::Wait(30), Op::PollAll];
    let mut ops = vec![Op::Data(100), Op::PollOne, Op::Send(200), Op::PollAll];
    ops.extend(owed(50));
    ops.extend([ack(None), Op::Data(1), Op::Send(60_000), Op::PollAll]);
    ops.extend(owed(700));
    ops.extend([ack(Some(2_000)), Op::Data(10), Op::PollOne, Op::Shutdown]);
    ops.extend(owed(5));
    ops.push(ack(None));
    ops.extend(owed(5));
    assert_same_steps(&ops, run);
    assert!(bare_acks() >= 2, "{} bare ACKs", bare_acks());
}

/// Requests and responses with nothing in flight before them (a
/// handshake's data and FINs), one after an idle period longer than the
/// RTO (the window restarts), one larger than the MSS and one beyond the
/// peer's window (both the long way), then a FIN alone: the short way
/// plans the single segments, and every step ends as the long way leaves
/// it.
#[test]
fn a_first_segment_in_flight_is_planned_the_short_way_with_the_same_result() {
    let ack = |window| Op::Ack {
        part: None,
        window,
        sack: None,
        ece: false,
    };
    let mut ops = vec![Op::Send(1), Op::PollAll, Op::Data(1), ack(65_535)];
    ops.extend([Op::Send(100), Op::PollOne, Op::Wait(40), ack(65_535)]);
    ops.extend([Op::Wait(500), Op::Send(300), Op::PollAll, ack(65_535)]);
    ops.extend([Op::Send(1448), Op::PollAll, ack(65_535)]);
    ops.extend([Op::Send(3000), Op::PollAll, ack(65_535)]);
    ops.extend([ack(10), Op::Send(400), Op::PollAll, ack(65_535)]);
    ops.extend([Op::Data(5), Op::Shutdown, Op::PollAll, ack(65_535)]);
    ops.extend([Op::Send(20), Op::Shutdown, Op::PollAll, ack(65_535)]);
    assert_same_steps(&ops, run);
    assert!(first_in_flight() >= 6, "{} planned", first_in_flight());
}

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// What a bulk transfer put on the wire and left in the stacks.
#[derive(Debug, PartialEq)]
pub(super) struct Bulk {
    /// (from A, bytes) of every frame sent, lost ones included.
    pub frames: Vec<(bool, Vec<u8>)>,
    pub received: Vec<u8>,
    pub stats: [String; 2],
    /// Pieces A's stack wrote the short way (`egress::transmit_piece`).
    pub stack_pieces: u64,
}

/// How [`bulk`]'s stacks send and its driver polls.
#[derive(Clone, Copy, Debug)]
pub(super) struct Driver {
    /// Software GSO (`Config::gso`).
    pub gso: bool,
    /// A is polled until it has nothing more each round (else for a
    /// random number of frames, so a GSO packet's pieces may wait for the
    /// next round, after the application's calls).
    pub drain: bool,
}

/// Moves `bytes` from A to B over a path with 5 ms of delay that loses
/// each frame with probability `loss` (seeded). The driver polls A for a
/// random number of frames at a time (see [`Driver`]), so polls
/// interleave with arriving ACKs, timers and the application's writes and
/// reads.
pub(super) fn bulk(seed: u64, loss: f64, bytes: usize, driver: Driver) -> Bulk {
    let stack = |addr, seed| {
        Stack::new(
            Config {
                seed,
                gso: driver.gso,
                ..Config::default()
            },
            Interface::ip(addr, 24),
        )
    };
    let (mut a, mut b) = (stack(A, seed), stack(B, seed + 1));
    let mut rng = Rng::from_seed(seed);
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7 + i / 1000) as u8).collect();
    let mut now = Instant::ZERO;
    let delay = crate::time::Duration::from_millis(5);
    let listener = b.tcp_listen(SocketAddrV4::new(B, 80), 8).unwrap();
    let client = a
        .tcp_connect(now, SocketAddrV4::new(B, 80), Default::default())
        .unwrap();
    let mut server: Option<ConnHandle> = None;
    let mut flight: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
    let mut frames = Vec::new();
    let (mut written, mut received) = (0, Vec::new());
    let mut buf = [0u8; 2000];
    let mut read = vec![0u8; 50_000];
    for _ in 0..200_000 {
        if received.len() == bytes {
            break;
        }
        if written < bytes {
            let end = (written + 1 + rng.below(40_000) as usize).min(bytes);
            written += a.tcp_send(now, client, &data[written..end]).unwrap_or(0);
        }
        // A stopped before it ran out of frames: the rest go in the next
        // round, after the application's calls, before time moves on.
        let mut a_more = false;
        for from_a in [true, false] {
            let (src, max) = if from_a {
                let max = 1 + rng.below(40) as usize;
                (&mut a, if driver.drain { usize::MAX } else { max })
            } else {
                (&mut b, usize::MAX)
            };
            let mut sent = 0;
            while sent < max {
                let Some(n) = src.poll_transmit(now, &mut buf) else {
                    break;
                };
                sent += 1;
                frames.push((from_a, buf[..n].to_vec()));
                if !rng.chance(loss) {
                    flight.push((now + delay, from_a, buf[..n].to_vec()));
                }
            }
            a_more |= from_a && sent == max;
        }
        if server.is_none() {
            server = b.tcp_accept(listener).ok();
        }
        if let Some(s) = server {
            while let Ok(n) = b.tcp_recv(now, s, &mut read) {
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&read[..n]);
            }
        }
        if a_more {
            continue;
        }
        let next_frame = flight.iter().map(|f| f.0).min();
        let next = [next_frame, a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        now = now.max(next);
        let (due, rest): (Vec<_>, Vec<_>) = flight.drain(..).partition(|f| f.0 <= now);
        flight = rest;
        for (_, to_b, frame) in due {
            let dst = if to_b { &mut b } else { &mut a };
            dst.handle_frame(now, &frame);
        }
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    Bulk {
        frames,
        received,
        stats: [format!("{:?}", a.stats()), format!("{:?}", b.stats())],
        stack_pieces: a.piece_polls,
    }
}

/// A bulk transfer with and without loss: the same frames on the wire, the
/// same data delivered, the same counters, whichever way the segments
/// were planned; and the short way planned most of them (a good share
/// with loss).
#[test]
fn a_bulk_transfer_sends_the_same_frames_either_way() {
    const BYTES: usize = 600_000;
    for (seed, loss) in [(1, 0.0), (2, 0.0), (3, 0.02), (4, 0.05), (5, 0.1)] {
        // Segment by segment, as the short way plans them.
        let driver = Driver {
            gso: false,
            drain: false,
        };
        let (long, _) = with_short_way(true, || bulk(seed, loss, BYTES, driver));
        let (short, taken) = with_short_way(false, || bulk(seed, loss, BYTES, driver));
        // B's ACKs (it sends no data) took the bare ACK's short way.
        assert!(bare_acks() > 10, "seed {seed}: {} bare ACKs", bare_acks());
        assert_eq!(long.received.len(), BYTES, "seed {seed}: all delivered");
        assert!(long.received == short.received, "seed {seed}: the data");
        assert_eq!(long.frames.len(), short.frames.len(), "seed {seed}");
        for (i, (x, y)) in long.frames.iter().zip(&short.frames).enumerate() {
            assert!(x == y, "seed {seed} loss {loss}: frame {i} differs");
        }
        assert_eq!(long.stats, short.stats, "seed {seed}");
        // Segments sent while loss recovery has work go the long way.
        let data_frames = BYTES as u64 / 1448;
        let share = if loss == 0.0 { 2 } else { 8 };
        assert!(
            taken * share > data_frames,
            "seed {seed} loss {loss}: the short way planned {taken} of about {data_frames}"
        );
    }
}
