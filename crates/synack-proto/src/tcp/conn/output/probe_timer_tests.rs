//! The probe timer armed with the RTO for a segment being sent
//! (`Core::arm_loss_probe_sending`) against arming them in turn.

use super::super::tests::Harness;
use crate::tcp::timer::Timer;

/// What the output path did before `arm_loss_probe_sending`: the probe
/// timer armed first (bounded by the RTO, or by what is left of a
/// running one), then RFC 6298 §5.1's start of a stopped RTO.
fn arm_in_turn(h: &mut Harness) {
    let (now, core, env) = (h.now, &mut h.conn.core, &h.env);
    core.arm_loss_probe(now, env);
    if !core.timers.is_armed(Timer::Retransmit) {
        let rto = core.rto_clamped(now, &env.config);
        core.timers.set(Timer::Retransmit, now + rto);
    }
}

fn deadlines(h: &Harness) -> Vec<Option<crate::Instant>> {
    Timer::ALL
        .iter()
        .map(|&t| h.conn.core.timers.get(t))
        .collect()
}

/// Arming both timers at once (one RTO computed, one timer read) leaves
/// every timer as arming them in turn did: with the RTO stopped or
/// running, before any data and with data in flight (a recovery episode
/// and an RTT sample).
#[test]
fn arming_both_timers_at_once_matches_arming_them_in_turn() {
    for in_flight in [false, true] {
        for rto_running_ms in [None, Some(5), Some(170)] {
            let setup = || {
                let mut h = Harness::established();
                if in_flight {
                    h.send(&[7; 300]);
                    assert!(!h.output().is_empty());
                }
                h.at(h.now.total_millis() + 40);
                let now = h.now;
                let timers = &mut h.conn.core.timers;
                timers.stop(Timer::TailLossProbe);
                match rto_running_ms {
                    None => timers.stop(Timer::Retransmit),
                    Some(ms) => {
                        timers.set(Timer::Retransmit, now + crate::Duration::from_millis(ms))
                    }
                }
                h
            };
            let (mut old, mut new) = (setup(), setup());
            arm_in_turn(&mut old);
            let (now, env) = (new.now, &new.env);
            new.conn.core.arm_loss_probe_sending(now, env);
            let case = (in_flight, rto_running_ms);
            assert_eq!(deadlines(&new), deadlines(&old), "{case:?}");
            assert!(new.conn.core.timers.is_armed(Timer::TailLossProbe));
        }
    }
}
