//! Each link impairment does what its configuration says, exactly where time
//! is concerned and within sampling error where chance is.

mod common;

use common::{Script, assert_binomial, blast, run_to_sink};
use synack_proto::{Duration, Instant};
use synack_sim::nodes::{Blaster, Sink};
use synack_sim::{Dir, FilterAction, LinkConfig, PortId, World};

const MS: Duration = Duration::from_millis(1);
const US: Duration = Duration::from_micros(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

#[test]
fn perfect_link_delivers_everything_at_once_in_order() {
    let (mut w, link, sink) = blast(1, 100, 64, MS, LinkConfig::new());
    let arrivals = run_to_sink(&mut w, sink).arrivals.clone();
    assert_eq!(arrivals.len(), 100);
    for (i, a) in arrivals.iter().enumerate() {
        assert_eq!(a.seq, Some(i as u64));
        assert_eq!(Some(a.at), a.sent_at);
        assert_eq!(a.len, 64);
    }
    let s = w.link_stats(link, Dir::AToB);
    assert_eq!(
        (s.offered_frames, s.delivered_frames, s.dropped()),
        (100, 100, 0)
    );
    assert_eq!((s.offered_bytes, s.delivered_bytes), (6400, 6400));
}

#[test]
fn arrival_is_send_time_plus_serialization_plus_propagation() {
    // 8 Mbit/s is one byte per microsecond: 1000 bytes take 1 ms.
    let cfg = LinkConfig::new().bandwidth(8_000_000).delay(ms(5));
    let (mut w, _, sink) = blast(1, 50, 1000, ms(2), cfg);
    for (i, a) in run_to_sink(&mut w, sink).arrivals.iter().enumerate() {
        let sent = Instant::from_millis(2 * i as u64);
        assert_eq!(a.at, sent + MS + ms(5), "frame {i}");
    }
}

#[test]
fn back_to_back_serialization_accumulates_without_rounding_drift() {
    // 100 bytes at 3 Mbit/s take 266.67 µs; frame k of a burst finishes at
    // ceil(k * 800 / 3) µs, not k * 267.
    let cfg = LinkConfig::new().bandwidth(3_000_000).queue_limit(1 << 20);
    let (mut w, _, sink) = blast(1, 300, 100, Duration::ZERO, cfg);
    for (i, a) in run_to_sink(&mut w, sink).arrivals.iter().enumerate() {
        let k = i as u64 + 1;
        assert_eq!(a.at.total_micros(), (k * 800).div_ceil(3), "frame {i}");
    }
}

#[test]
fn burst_fills_the_queue_to_its_limit_then_drops_tail() {
    // 20 frames of 1000 bytes at once: the first goes straight to the wire,
    // five wait (5000 bytes, the limit), the other fourteen are dropped.
    let cfg = LinkConfig::new()
        .bandwidth(8_000_000)
        .queue_limit(5000)
        .delay(MS);
    let (mut w, link, sink) = blast(1, 20, 1000, Duration::ZERO, cfg);
    let arrivals = run_to_sink(&mut w, sink).arrivals.clone();
    assert_eq!(
        arrivals.iter().map(|a| a.seq.unwrap()).collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>()
    );
    for (k, a) in arrivals.iter().enumerate() {
        assert_eq!(a.at, Instant::from_millis(k as u64 + 1) + MS);
    }
    let s = w.link_stats(link, Dir::AToB);
    assert_eq!(s.dropped_queue, 14);
    assert_eq!(s.queue_high_water, 5000);
    assert_eq!(s.dropped(), 14);
}

#[test]
fn sustained_overload_runs_the_link_at_line_rate_and_drops_the_excess() {
    // Offered at twice the line rate.
    let cfg = LinkConfig::new().bandwidth(8_000_000).queue_limit(10_000);
    let (mut w, link, sink) = blast(1, 1000, 1000, us(500), cfg);
    let arrivals = run_to_sink(&mut w, sink).arrivals.clone();
    let s = *w.link_stats(link, Dir::AToB);
    assert_eq!(s.queue_high_water, 10_000);
    assert!(s.dropped_queue > 400, "{s:?}");
    assert_eq!(s.delivered_frames + s.dropped_queue, 1000);
    assert_eq!(arrivals.len() as u64, s.delivered_frames);
    // Once busy, the link never idles: one frame per millisecond.
    for pair in arrivals.windows(2) {
        assert_eq!(pair[1].at - pair[0].at, MS);
    }
}

#[test]
fn random_loss_rate_is_p_within_sampling_error() {
    const N: u64 = 100_000;
    let (mut w, link, sink) = blast(11, N, 64, US, LinkConfig::new().random_loss(0.1));
    let received = run_to_sink(&mut w, sink).arrivals.len() as u64;
    let s = w.link_stats(link, Dir::AToB);
    assert_eq!(received, N - s.dropped_loss);
    assert_eq!(s.dropped(), s.dropped_loss);
    assert_binomial(s.dropped_loss, N, 0.1);
}

#[test]
fn gilbert_elliott_loss_matches_its_stationary_rate_and_comes_in_bursts() {
    const N: u64 = 200_000;
    let (p_gb, p_bg) = (0.01, 0.25);
    let cfg = LinkConfig::new().gilbert_elliott(p_gb, p_bg, 0.0, 1.0);
    let rate = cfg.loss.stationary_rate();
    assert!((rate - 0.01 / 0.26).abs() < 1e-12);
    let (mut w, link, sink) = blast(12, N, 64, US, cfg);
    let seqs = run_to_sink(&mut w, sink).seqs();
    let lost = w.link_stats(link, Dir::AToB).dropped_loss;
    assert_eq!(seqs.len() as u64, N - lost);

    // The loss indicator is a two-state Markov chain with eigenvalue
    // 1 - p_gb - p_bg; its sample mean's variance is inflated by
    // (1 + λ) / (1 - λ) over independent trials.
    let lambda = 1.0 - p_gb - p_bg;
    let sd = (rate * (1.0 - rate) * (1.0 + lambda) / (1.0 - lambda) / N as f64).sqrt();
    let observed = lost as f64 / N as f64;
    assert!(
        (observed - rate).abs() <= 5.0 * sd,
        "loss {observed:.5}, expected {rate:.5} ± 5×{sd:.5}"
    );

    // Bursts: runs of consecutive missing numbers. In the bad state every
    // frame is lost, so burst lengths are geometric with mean 1 / p_bg = 4
    // (variance (1 - p_bg) / p_bg² = 12). Independent loss at this rate
    // would give bursts of mean ~1.04.
    let mut bursts = Vec::new();
    let mut expected = 0;
    for &s in seqs.iter().chain(std::iter::once(&N)) {
        if s > expected {
            bursts.push(s - expected);
        }
        expected = s + 1;
    }
    assert_eq!(bursts.iter().sum::<u64>(), lost);
    let mean = lost as f64 / bursts.len() as f64;
    let sd = (12.0 / bursts.len() as f64).sqrt();
    assert!(
        (mean - 4.0).abs() <= 5.0 * sd,
        "mean burst {mean:.3} over {} bursts, expected 4 ± 5×{sd:.3}",
        bursts.len()
    );
}

#[test]
fn reordering_holds_back_p_of_frames_and_later_frames_overtake_them() {
    const N: u64 = 100_000;
    // Frames every 10 µs; a held frame arrives 50 µs late, after ~5 others.
    let cfg = LinkConfig::new().reorder(0.05, us(50)).delay(MS);
    let (mut w, link, sink) = blast(13, N, 64, us(10), cfg);
    let seqs = run_to_sink(&mut w, sink).seqs();
    let s = *w.link_stats(link, Dir::AToB);
    assert_binomial(s.reordered, N, 0.05);
    assert_eq!(seqs.len() as u64, N);
    // Frames that arrive after a higher-numbered one: exactly the held ones.
    let mut highest = None;
    let mut late = 0;
    for &q in &seqs {
        match highest {
            Some(h) if q < h => late += 1,
            _ => highest = Some(q),
        }
    }
    assert_eq!(late, s.reordered);
}

#[test]
fn duplication_delivers_p_of_frames_twice() {
    const N: u64 = 100_000;
    let cfg = LinkConfig::new().duplicate(0.03, us(3));
    let (mut w, link, sink) = blast(14, N, 64, us(10), cfg);
    let arrivals = run_to_sink(&mut w, sink).arrivals.clone();
    let s = *w.link_stats(link, Dir::AToB);
    assert_binomial(s.duplicated, N, 0.03);
    assert_eq!(arrivals.len() as u64, N + s.duplicated);
    assert_eq!(s.delivered_frames, N + s.duplicated);
    // A copy follows its original by the configured gap.
    let twice: Vec<_> = arrivals
        .windows(2)
        .filter(|p| p[0].seq == p[1].seq)
        .map(|p| p[1].at - p[0].at)
        .collect();
    assert_eq!(twice.len() as u64, s.duplicated);
    assert!(twice.iter().all(|&gap| gap == us(3)));
}

#[test]
fn corruption_flips_exactly_one_bit_in_p_of_frames() {
    const N: u64 = 100_000;
    let mut w = World::new(15);
    let a = w.add_node(Blaster::new(PortId(0), N, 64, Instant::ZERO, US));
    let b = w.add_node(Sink::keeping_frames());
    let link = w
        .connect(a, PortId(0), b, PortId(0), LinkConfig::new().corrupt(0.01))
        .unwrap();
    let frames = run_to_sink(&mut w, b).frames.clone();
    let s = *w.link_stats(link, Dir::AToB);
    assert_binomial(s.corrupted, N, 0.01);
    assert_eq!(frames.len() as u64, N);
    let mut corrupted = 0;
    for (i, got) in frames.iter().enumerate() {
        let sent = Blaster::frame(i as u64, Instant::from_micros(i as u64), 64);
        let bits: u32 = got
            .iter()
            .zip(&sent)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        assert!(bits <= 1, "frame {i} differs in {bits} bits");
        corrupted += u64::from(bits);
    }
    assert_eq!(corrupted, s.corrupted);
}

#[test]
fn copies_of_corrupted_frames_are_counted_so_every_bad_frame_is_accounted_for() {
    const N: u64 = 20_000;
    let mut w = World::new(16);
    let a = w.add_node(Blaster::new(PortId(0), N, 64, Instant::ZERO, US));
    let b = w.add_node(Sink::keeping_frames());
    let config = LinkConfig::new()
        .corrupt(0.2)
        .duplicate(0.3, Duration::from_micros(1));
    let link = w.connect(a, PortId(0), b, PortId(0), config).unwrap();
    let sink = run_to_sink(&mut w, b);
    let bad = sink
        .frames
        .iter()
        .zip(&sink.arrivals)
        .filter(|(frame, arrival)| {
            // Frame k is sent at k µs: a flipped bit anywhere breaks that.
            let Some(seq) = arrival.seq.filter(|&s| s < N) else {
                return true;
            };
            **frame != Blaster::frame(seq, Instant::from_micros(seq), 64)
        })
        .count() as u64;
    let s = *w.link_stats(link, Dir::AToB);
    assert!(s.duplicated_corrupted > 0);
    assert_eq!(bad, s.corrupted + s.duplicated_corrupted);
}

#[test]
fn jitter_alone_never_reorders() {
    const N: u64 = 10_000;
    // Jitter (5 ms) far above the spacing (100 µs).
    let cfg = LinkConfig::new().delay(MS).jitter(ms(5));
    let (mut w, _, sink) = blast(16, N, 64, us(100), cfg);
    let arrivals = run_to_sink(&mut w, sink).arrivals.clone();
    assert_eq!(arrivals.len() as u64, N);
    let mut extra_max = Duration::ZERO;
    for (i, a) in arrivals.iter().enumerate() {
        assert_eq!(a.seq, Some(i as u64), "arrival {i} out of order");
        let extra = a.at - a.sent_at.unwrap() - MS;
        assert!(a.at >= a.sent_at.unwrap() + MS);
        extra_max = extra_max.max(extra);
    }
    // The jitter did act.
    assert!(extra_max > ms(4), "{extra_max}");
}

#[test]
fn mtu_counts_layer_3_bytes_and_drops_larger_frames() {
    for (l2, sizes, dropped) in [
        (14, [1514, 1515, 60, 1600], 2),
        (0, [1500, 1501, 20, 1499], 1),
    ] {
        let frames = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (Instant::from_millis(i as u64), vec![0xaa; n]));
        let mut w = World::new(1);
        let a = w.add_node(Script::new(frames));
        let b = w.add_node(Sink::new());
        let cfg = LinkConfig::new().mtu(1500).l2_header_len(l2);
        let link = w.connect(a, PortId(0), b, PortId(0), cfg).unwrap();
        let got: Vec<_> = run_to_sink(&mut w, b)
            .arrivals
            .iter()
            .map(|a| a.len)
            .collect();
        let want: Vec<_> = sizes.into_iter().filter(|&n| n <= 1500 + l2).collect();
        assert_eq!(got, want);
        assert_eq!(w.link_stats(link, Dir::AToB).dropped_mtu, dropped);
    }
}

#[test]
fn blackout_drops_exactly_the_frames_sent_inside_its_window() {
    let cfg = LinkConfig::new()
        .delay(ms(5))
        .blackout(Instant::from_millis(10), Instant::from_millis(20));
    let (mut w, link, sink) = blast(1, 30, 64, MS, cfg);
    let seqs = run_to_sink(&mut w, sink).seqs();
    assert_eq!(seqs, (0..10).chain(20..30).collect::<Vec<_>>());
    assert_eq!(w.link_stats(link, Dir::AToB).dropped_blackout, 10);
}

#[test]
fn filter_drops_rewrites_and_delays_chosen_frames() {
    let mut w = World::new(1);
    let a = w.add_node(Blaster::new(PortId(0), 10, 64, Instant::ZERO, MS));
    let b = w.add_node(Sink::keeping_frames());
    let link = w
        .connect(a, PortId(0), b, PortId(0), LinkConfig::new())
        .unwrap();
    let mut n = 0;
    w.set_filter(link, Dir::AToB, move |_now, frame| {
        n += 1;
        match n {
            3 => FilterAction::Drop,
            5 => {
                frame[40] ^= 0xff;
                frame.truncate(50);
                FilterAction::Pass
            }
            7 => FilterAction::Delay(us(3500)),
            _ => FilterAction::Pass,
        }
    });
    let sink = run_to_sink(&mut w, b);
    // The 7th frame (seq 6), delayed by 3.5 ms, is overtaken by the next three.
    assert_eq!(sink.seqs(), vec![0, 1, 3, 4, 5, 7, 8, 9, 6]);
    let fifth = &sink.frames[3];
    let mut want = Blaster::frame(4, Instant::from_millis(4), 64);
    want[40] ^= 0xff;
    want.truncate(50);
    assert_eq!(fifth, &want);
    let s = w.link_stats(link, Dir::AToB);
    assert_eq!((s.dropped_filter, s.filter_delayed), (1, 1));
    assert_eq!(s.delivered_frames, 9);
}

#[test]
fn each_direction_has_its_own_configuration() {
    let mut w = World::new(1);
    let a = w.add_node(common::Chatter::new(5, 64, Instant::ZERO, MS));
    let b = w.add_node(common::Chatter::new(5, 64, Instant::ZERO, MS));
    w.connect_asymmetric(
        a,
        PortId(0),
        b,
        PortId(0),
        LinkConfig::new().delay(ms(2)),
        LinkConfig::new().delay(ms(7)),
    )
    .unwrap();
    w.run_until_idle(common::FOREVER).unwrap();
    let at_b = &w.node::<common::Chatter>(b).sink.arrivals;
    let at_a = &w.node::<common::Chatter>(a).sink.arrivals;
    assert!(at_b.iter().all(|x| x.at - x.sent_at.unwrap() == ms(2)));
    assert!(at_a.iter().all(|x| x.at - x.sent_at.unwrap() == ms(7)));
}
