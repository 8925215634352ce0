//! The ACK of nothing's short way (`Core::process_ack_of_nothing`, for
//! SEG.ACK = SND.UNA = SND.NXT) against the general ACK steps: the same
//! connection histories as header prediction's tests (`predicted.rs`), run
//! once with the short way and once with it switched off, must leave the
//! same dispositions, segments, events, connection and environment after
//! every step.

use super::predicted::{AckPick, Op, SeqPick, TsPick, op, plain_peer, run_switched};
use super::*;
use crate::tcp::conn::input::idle_ack;
use proptest::prelude::*;

fn run(ops: &[Op], off: bool) -> (Vec<String>, u64) {
    run_switched(ops, &idle_ack::OFF, &idle_ack::TAKEN, off)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_ack_of_nothing_leaves_what_the_general_steps_leave(
        ops in prop::collection::vec(op(), 1..60),
    ) {
        assert_same_steps(&ops, run);
    }
}

/// A request/response exchange and its close: the peer's answer and FIN
/// while nothing of ours is in flight, and its pure ACKs of nothing, take
/// the short way; ACKs of our data in flight do not. Everything ends as
/// with the general steps.
#[test]
fn acks_of_nothing_with_nothing_in_flight_take_the_short_way() {
    let peer = |flags, len| plain_peer(SeqPick::Expected, flags, len);
    let una = |flags, len, window| Op::Peer {
        seq: SeqPick::Expected,
        ack: AckPick::Una,
        flags,
        len,
        window,
        ts: TsPick::Newer,
        ce: false,
    };
    let ops = [
        // Nothing in flight: the peer's request, a window update.
        peer(3, 100),
        una(0, 0, 30_000),
        Op::Recv,
        // Our answer in flight: the peer's data acknowledging none of it
        // and its ACK of all of it take the general steps.
        Op::Send(200),
        una(3, 50, 65_535),
        peer(0, 0),
        // Nothing in flight again: its data, then its FIN.
        peer(3, 10),
        Op::Recv,
        peer(5, 0),
        Op::Shutdown,
        peer(0, 0),
    ];
    let taken = assert_same_steps(&ops, run);
    assert_eq!(
        taken, 4,
        "the request, the window update, the data, the FIN"
    );
}
