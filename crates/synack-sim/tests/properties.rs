//! Invariants that hold for every link configuration and seed.

mod common;

use common::{Chatter, FOREVER};
use proptest::prelude::*;
use synack_proto::{Duration, Instant};
use synack_sim::{Dir, LinkConfig, PortId, World};

fn config() -> impl Strategy<Value = LinkConfig> {
    (
        0u64..5_000,
        0u64..3_000,
        prop_oneof![Just(None), (1_000_000u64..100_000_000).prop_map(Some)],
        0usize..20_000,
        0.0f64..0.3,
        (0.0f64..0.2, 0u64..5_000),
        (0.0f64..0.2, 0u64..100),
        0.0f64..0.2,
        prop_oneof![Just(None), (100usize..1500).prop_map(Some)],
        prop::option::of((0u64..50_000, 0u64..20_000)),
    )
        .prop_map(
            |(
                delay,
                jitter,
                bw,
                qlim,
                loss,
                (ro, ro_d),
                (dup, dup_gap),
                corrupt,
                mtu,
                blackout,
            )| {
                let mut c = LinkConfig::new()
                    .delay(Duration::from_micros(delay))
                    .jitter(Duration::from_micros(jitter))
                    .queue_limit(qlim)
                    .random_loss(loss)
                    .reorder(ro, Duration::from_micros(ro_d))
                    .duplicate(dup, Duration::from_micros(dup_gap))
                    .corrupt(corrupt);
                c.bandwidth = bw;
                c.mtu = mtu;
                if let Some((start, len)) = blackout {
                    c = c.blackout(
                        Instant::from_micros(start),
                        Instant::from_micros(start + len),
                    );
                }
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every frame offered is delivered or dropped (plus its copies), never
    /// earlier than its send time plus the propagation delay, and in send
    /// order when nothing is configured to reorder.
    #[test]
    fn frames_are_conserved_and_never_early(
        seed in any::<u64>(),
        ab in config(),
        ba in config(),
        len_a in 30usize..1600,
        len_b in 30usize..1600,
    ) {
        let mut w = World::new(seed);
        let a = w.add_node(Chatter::new(300, len_a, Instant::ZERO, Duration::from_micros(150)));
        let b = w.add_node(Chatter::new(300, len_b, Instant::ZERO, Duration::from_micros(250)));
        let link = w.connect_asymmetric(a, PortId(0), b, PortId(0), ab.clone(), ba.clone()).unwrap();
        w.run_until_idle(FOREVER).unwrap();
        for (dir, rx, cfg) in [(Dir::AToB, b, &ab), (Dir::BToA, a, &ba)] {
            let s = *w.link_stats(link, dir);
            prop_assert_eq!(s.offered_frames, 300);
            prop_assert_eq!(s.delivered_frames + s.dropped(), s.offered_frames + s.duplicated);
            prop_assert!(s.queue_high_water <= cfg.queue_limit);
            let arrivals = &w.node::<Chatter>(rx).sink.arrivals;
            prop_assert_eq!(arrivals.len() as u64, s.delivered_frames);
            let intact = s.corrupted == 0;
            for x in arrivals {
                // A corrupted header would make sent_at meaningless.
                if let (true, Some(sent)) = (intact, x.sent_at) {
                    prop_assert!(x.at >= sent + cfg.delay);
                }
            }
            if intact && cfg.reorder == 0.0 {
                let seqs: Vec<u64> = arrivals.iter().filter_map(|x| x.seq).collect();
                prop_assert!(seqs.windows(2).all(|p| p[0] <= p[1]), "out of order: {:?}", seqs);
            }
        }
    }
}
