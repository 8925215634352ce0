//! The event loop: determinism, bounds that turn livelocks into errors,
//! timer semantics, run helpers, topology errors and pcap capture.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{Chatter, FOREVER, Script, blast};
use synack_proto::wire::pcap::{LinkType, PcapReader};
use synack_proto::{Duration, Instant};
use synack_sim::nodes::{Blaster, Reflector, Sink};
use synack_sim::pcap::SharedBuf;
use synack_sim::{
    CapturePoint, Dir, LinkConfig, LinkStats, Node, PortId, SimConfig, SimError, TopologyError,
    World,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// Every impairment at once.
fn rough() -> LinkConfig {
    LinkConfig::new()
        .delay(ms(3))
        .jitter(us(700))
        .bandwidth(20_000_000)
        .queue_limit(20_000)
        .gilbert_elliott(0.02, 0.3, 0.01, 0.8)
        .reorder(0.02, ms(2))
        .duplicate(0.02, us(10))
        .corrupt(0.01)
}

struct Outcome {
    stats: [LinkStats; 2],
    arrivals: Vec<Vec<synack_sim::nodes::Arrival>>,
    sent_pcap: Vec<u8>,
    delivered_pcap: Vec<u8>,
}

/// Two chatters over a rough link, both directions captured twice.
fn rough_run(seed: u64) -> Outcome {
    let mut w = World::new(seed);
    let a = w.add_node(Chatter::new(2000, 900, Instant::ZERO, us(300)));
    let b = w.add_node(Chatter::new(2000, 400, us(50).into_instant(), us(100)));
    let link = w.connect(a, PortId(0), b, PortId(0), rough()).unwrap();
    let sent = SharedBuf::new();
    let delivered = SharedBuf::new();
    w.capture_to(link, sent.clone(), LinkType::Ethernet, CapturePoint::Sent)
        .unwrap();
    w.run_until_idle(FOREVER).unwrap();
    // A second link can be captured at the delivery point: rerun for it.
    let mut w2 = World::new(seed);
    let a2 = w2.add_node(Chatter::new(2000, 900, Instant::ZERO, us(300)));
    let b2 = w2.add_node(Chatter::new(2000, 400, us(50).into_instant(), us(100)));
    let link2 = w2.connect(a2, PortId(0), b2, PortId(0), rough()).unwrap();
    w2.capture_to(
        link2,
        delivered.clone(),
        LinkType::Ethernet,
        CapturePoint::Delivered,
    )
    .unwrap();
    w2.run_until_idle(FOREVER).unwrap();
    w.stop_capture(link).unwrap();
    w2.stop_capture(link2).unwrap();
    Outcome {
        stats: [
            *w.link_stats(link, Dir::AToB),
            *w.link_stats(link, Dir::BToA),
        ],
        arrivals: vec![
            w.node::<Chatter>(a).sink.arrivals.clone(),
            w.node::<Chatter>(b).sink.arrivals.clone(),
        ],
        sent_pcap: sent.contents(),
        delivered_pcap: delivered.contents(),
    }
}

trait IntoInstant {
    fn into_instant(self) -> Instant;
}

impl IntoInstant for Duration {
    fn into_instant(self) -> Instant {
        Instant::ZERO + self
    }
}

#[test]
fn same_seed_gives_identical_statistics_arrivals_and_pcap_bytes() {
    let one = rough_run(7);
    let two = rough_run(7);
    assert_eq!(one.stats, two.stats);
    assert_eq!(one.arrivals, two.arrivals);
    assert_eq!(one.sent_pcap, two.sent_pcap);
    assert_eq!(one.delivered_pcap, two.delivered_pcap);
    // Every impairment actually happened in this run.
    for s in one.stats {
        assert!(
            s.dropped_loss > 0
                && s.duplicated > 0
                && s.corrupted > 0
                && s.reordered > 0
                && s.queue_high_water > 0,
            "{s:?}"
        );
    }
    assert!(
        one.stats.iter().all(|s| s.dropped_queue > 0),
        "{:?}",
        one.stats
    );
}

#[test]
fn different_seed_gives_a_different_run() {
    let one = rough_run(7);
    let other = rough_run(8);
    assert_ne!(one.stats, other.stats);
    assert_ne!(one.arrivals, other.arrivals);
    assert_ne!(one.delivered_pcap, other.delivered_pcap);
    // What the senders sent does not depend on the link's luck (these nodes
    // do not react to what they receive).
    assert_eq!(one.sent_pcap, other.sent_pcap);
}

#[test]
fn adding_nodes_and_links_does_not_perturb_an_existing_link() {
    let lossy = || LinkConfig::new().random_loss(0.3).jitter(ms(1));
    let (mut alone, _, sink) = blast(5, 1000, 64, us(100), lossy());
    let want = common::run_to_sink(&mut alone, sink).arrivals.clone();

    // The same link, with an extra node added before it is made and a busy
    // lossy link added after.
    let mut w = World::new(5);
    let a = w.add_node(Blaster::new(PortId(0), 1000, 64, Instant::ZERO, us(100)));
    let _idle = w.add_node(Sink::new());
    let b = w.add_node(Sink::new());
    w.connect(a, PortId(0), b, PortId(0), lossy()).unwrap();
    let c = w.add_node(Blaster::new(PortId(0), 1000, 64, Instant::ZERO, us(30)));
    let d = w.add_node(Sink::new());
    w.connect(c, PortId(0), d, PortId(0), lossy()).unwrap();
    assert_eq!(common::run_to_sink(&mut w, b).arrivals, want);
}

/// Transmits on every poll, forever.
#[derive(Debug)]
struct Flood;

impl Node for Flood {
    fn handle_frame(&mut self, _: Instant, _: PortId, _: &[u8]) {}
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<(PortId, usize)> {
        buf[..60].fill(0xff);
        Some((PortId(0), 60))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _: Instant) {}
}

#[test]
fn a_node_that_never_stops_transmitting_is_a_livelock_error() {
    let mut w = World::new(1);
    let f = w.add_node(Flood);
    let s = w.add_node(Sink::new());
    let link = w
        .connect(f, PortId(0), s, PortId(0), LinkConfig::new())
        .unwrap();
    assert_eq!(
        w.run_until(Instant::from_secs(1)),
        Err(SimError::Livelock {
            node: f,
            at: Instant::ZERO
        })
    );
    // It stopped at the bound, not before and not long after.
    let offered = w.link_stats(link, Dir::AToB).offered_frames;
    assert_eq!(offered, w.config().max_transmits_per_step as u64);
}

/// Asks for a timeout at the current time after every call: time stops.
#[derive(Debug, Default)]
struct Spinner {
    now: Instant,
    calls: u64,
}

impl Node for Spinner {
    fn handle_frame(&mut self, _: Instant, _: PortId, _: &[u8]) {}
    fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<(PortId, usize)> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.now)
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.calls += 1;
    }
}

fn small_bounds() -> SimConfig {
    SimConfig {
        max_steps_per_instant: 1000,
        ..SimConfig::default()
    }
}

#[test]
fn a_node_asking_for_a_timeout_now_forever_hits_the_step_limit() {
    let mut w = World::with_config(1, small_bounds());
    let n = w.add_node(Spinner::default());
    assert_eq!(
        w.run_until(Instant::from_secs(1)),
        Err(SimError::StepLimit {
            at: Instant::ZERO,
            steps: 1001
        })
    );
    assert_eq!(w.node::<Spinner>(n).calls, 1000);
}

#[test]
fn frames_bouncing_on_zero_delay_links_hit_the_step_limit() {
    let mut w = World::with_config(1, small_bounds());
    let a = w.add_node(Reflector::new(u64::MAX));
    let b = w.add_node(Reflector::new(u64::MAX));
    w.connect(a, PortId(0), b, PortId(0), LinkConfig::new())
        .unwrap();
    w.node_mut::<Reflector>(a).inject(PortId(0), b"ping");
    assert!(matches!(
        w.run_until(Instant::from_secs(1)),
        Err(SimError::StepLimit {
            at: Instant::ZERO,
            ..
        })
    ));
}

#[test]
fn commands_through_node_mut_are_picked_up_at_the_next_step() {
    let mut w = World::new(1);
    let a = w.add_node(Reflector::new(50));
    let b = w.add_node(Reflector::new(50));
    w.connect(a, PortId(0), b, PortId(0), LinkConfig::new().delay(ms(1)))
        .unwrap();
    w.run_until(Instant::from_millis(5)).unwrap();
    w.node_mut::<Reflector>(a).inject(PortId(0), b"ping");
    // a reflects at 5, 7, ..., 103 ms and b at 6, 8, ..., 104 ms; b's last
    // reflection reaches a at 105 ms, past a's limit, and all is quiet.
    let idle = w.run_until_idle(FOREVER).unwrap();
    assert_eq!(w.node::<Reflector>(a).reflected(), 50);
    assert_eq!(w.node::<Reflector>(b).reflected(), 50);
    assert_eq!(idle, Instant::from_millis(5 + 100));
}

/// On its first frame asks for a timeout 5 ms in the past; records firings.
#[derive(Debug, Default)]
struct Late {
    deadline: Option<Instant>,
    fired: Vec<Instant>,
}

impl Node for Late {
    fn handle_frame(&mut self, now: Instant, _: PortId, _: &[u8]) {
        if self.fired.is_empty() {
            self.deadline = Some(now - ms(5));
        }
    }
    fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<(PortId, usize)> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.fired.push(now);
        self.deadline = None;
    }
}

#[test]
fn a_timeout_asked_for_in_the_past_fires_once_at_now() {
    let mut w = World::new(1);
    let s = w.add_node(Script::new([(Instant::from_millis(10), vec![1; 60])]));
    let l = w.add_node(Late::default());
    w.connect(s, PortId(0), l, PortId(0), LinkConfig::new())
        .unwrap();
    w.run_until_idle(FOREVER).unwrap();
    assert_eq!(w.node::<Late>(l).fired, vec![Instant::from_millis(10)]);
    assert_eq!(w.now(), Instant::from_millis(10));
    assert_eq!(w.stats().timeouts, 2); // the script's own send timer, and this
}

type OnFrame = Box<dyn FnMut(Instant, &mut Option<Instant>)>;

/// A node whose deadline is set by a closure on every frame; records firings.
struct Alarm {
    deadline: Option<Instant>,
    fired: Vec<Instant>,
    on_frame: OnFrame,
}

impl Alarm {
    fn new(
        deadline: Option<Instant>,
        on_frame: impl FnMut(Instant, &mut Option<Instant>) + 'static,
    ) -> Self {
        Alarm {
            deadline,
            fired: Vec::new(),
            on_frame: Box::new(on_frame),
        }
    }
}

impl Node for Alarm {
    fn handle_frame(&mut self, now: Instant, _: PortId, _: &[u8]) {
        (self.on_frame)(now, &mut self.deadline);
    }
    fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<(PortId, usize)> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.fired.push(now);
        self.deadline = None;
    }
}

/// A Blaster sending 1 frame per ms to an alarm.
fn alarm_world(count: u64, alarm: Alarm) -> (World, synack_sim::NodeId) {
    let mut w = World::new(1);
    let b = w.add_node(Blaster::new(PortId(0), count, 64, Instant::ZERO, ms(1)));
    let a = w.add_node(alarm);
    w.connect(b, PortId(0), a, PortId(0), LinkConfig::new())
        .unwrap();
    (w, a)
}

#[test]
fn a_deadline_pushed_later_on_every_frame_fires_once_and_keeps_the_queue_small() {
    // Like a retransmission timer restarted by every ACK.
    let (mut w, a) = alarm_world(10_000, Alarm::new(None, |now, d| *d = Some(now + ms(200))));
    let mut most = 0;
    while w.step().unwrap().is_some() {
        most = most.max(w.queued_timers());
    }
    assert_eq!(
        w.node::<Alarm>(a).fired,
        vec![Instant::from_millis(9_999 + 200)]
    );
    assert!(most <= 3, "{most} timer entries");
}

#[test]
fn a_deadline_moved_earlier_fires_at_the_new_time_only() {
    let (mut w, a) = alarm_world(
        1,
        Alarm::new(Some(Instant::from_millis(100)), |_, d| {
            *d = Some(Instant::from_millis(50))
        }),
    );
    w.run_until_idle(FOREVER).unwrap();
    assert_eq!(w.node::<Alarm>(a).fired, vec![Instant::from_millis(50)]);
}

#[test]
fn a_cancelled_deadline_never_fires() {
    let (mut w, a) = alarm_world(
        1,
        Alarm::new(Some(Instant::from_millis(100)), |_, d| *d = None),
    );
    assert_eq!(w.run_until_idle(FOREVER), Ok(Instant::ZERO));
    assert!(w.node::<Alarm>(a).fired.is_empty());
    assert_eq!(w.stats().timeouts, 0);
}

#[test]
fn time_never_goes_backwards() {
    let (mut w, _, sink) = blast(3, 500, 64, us(100), rough());
    let mut last = w.now();
    while let Some(t) = w.step().unwrap() {
        assert!(t >= last);
        last = t;
    }
    let arrivals = &w.node::<Sink>(sink).arrivals;
    assert!(arrivals.windows(2).all(|p| p[0].at <= p[1].at));
    // Asking to run to an earlier time is a no-op, not a rewind.
    w.run_until(Instant::ZERO).unwrap();
    assert_eq!(w.now(), last);
}

#[test]
fn run_until_processes_events_up_to_the_deadline_and_sets_the_clock() {
    let (mut w, _, sink) = blast(1, 100, 64, ms(1), LinkConfig::new());
    w.run_until(Instant::from_micros(50_500)).unwrap();
    assert_eq!(w.now(), Instant::from_micros(50_500));
    assert_eq!(w.node::<Sink>(sink).arrivals.len(), 51);
    w.run_for(ms(10)).unwrap();
    assert_eq!(w.now(), Instant::from_micros(60_500));
    assert_eq!(w.node::<Sink>(sink).arrivals.len(), 61);
}

#[test]
fn run_until_idle_reports_a_deadline_when_work_remains() {
    let (mut w, _, _) = blast(1, u64::MAX, 64, ms(1), LinkConfig::new());
    assert_eq!(
        w.run_until_idle(Instant::from_secs(1)),
        Err(SimError::Deadline {
            at: Instant::from_secs(1)
        })
    );
    assert_eq!(w.now(), Instant::from_secs(1));
}

#[test]
fn run_while_stops_when_the_condition_changes_or_cannot() {
    let (mut w, _, sink) = blast(1, 20, 64, ms(1), LinkConfig::new().delay(ms(2)));
    let got = w.run_while(|w| w.node::<Sink>(sink).arrivals.len() < 10, FOREVER);
    assert_eq!(got, Ok(Instant::from_millis(9 + 2)));
    // Waiting for more frames than will ever come.
    let got = w.run_while(|w| w.node::<Sink>(sink).arrivals.len() < 21, FOREVER);
    assert_eq!(
        got,
        Err(SimError::Stalled {
            at: Instant::from_millis(19 + 2)
        })
    );
    let (mut w, _, sink) = blast(1, 20, 64, ms(1), LinkConfig::new());
    let got = w.run_while(
        |w| w.node::<Sink>(sink).arrivals.len() < 20,
        Instant::from_millis(5),
    );
    assert_eq!(
        got,
        Err(SimError::Deadline {
            at: Instant::from_millis(5)
        })
    );
}

#[test]
fn topology_mistakes_are_errors() {
    let mut w = World::new(1);
    let a = w.add_node(Sink::new());
    let b = w.add_node(Sink::new());
    w.connect(a, PortId(0), b, PortId(0), LinkConfig::new())
        .unwrap();
    assert_eq!(
        w.connect(a, PortId(0), b, PortId(1), LinkConfig::new()),
        Err(TopologyError::PortInUse(a, PortId(0)))
    );
    assert_eq!(
        w.connect(a, PortId(3), a, PortId(3), LinkConfig::new()),
        Err(TopologyError::Loop(a, PortId(3)))
    );
    let mut other = World::new(1);
    other.add_node(Sink::new());
    other.add_node(Sink::new());
    let stranger = other.add_node(Sink::new());
    assert_eq!(
        w.connect(a, PortId(5), stranger, PortId(0), LinkConfig::new()),
        Err(TopologyError::NoSuchNode(stranger))
    );
    // A node may have several ports, and link to itself across two of them.
    assert!(
        w.connect(a, PortId(1), a, PortId(2), LinkConfig::new())
            .is_ok()
    );
    assert!(w.try_node::<Blaster>(a).is_none());
}

#[test]
fn frames_sent_on_a_port_without_a_link_are_counted_and_dropped() {
    let mut w = World::new(1);
    w.add_node(Blaster::new(PortId(3), 5, 64, Instant::ZERO, ms(1)));
    w.run_until_idle(FOREVER).unwrap();
    assert_eq!(w.stats().unconnected_frames, 5);
}

#[test]
fn changing_a_link_mid_run_takes_effect_for_later_frames() {
    let (mut w, link, sink) = blast(1, 20, 64, ms(1), LinkConfig::new().delay(ms(1)));
    w.run_until(Instant::from_micros(9_500)).unwrap();
    let cfg = w.link_config(link, Dir::AToB).clone().delay(ms(30));
    w.set_link_config(link, Dir::AToB, cfg);
    let arrivals = common::run_to_sink(&mut w, sink).arrivals.clone();
    for a in arrivals {
        let sent = a.sent_at.unwrap();
        let want = if sent < Instant::from_millis(10) {
            ms(1)
        } else {
            ms(30)
        };
        assert_eq!(a.at - sent, want);
    }
}

#[test]
fn sent_capture_reads_back_frame_for_frame_with_send_times() {
    let mut w = World::new(9);
    let a = w.add_node(Chatter::new(300, 200, Instant::ZERO, us(500)));
    let b = w.add_node(Chatter::new(300, 100, Instant::ZERO, us(700)));
    let link = w.connect(a, PortId(0), b, PortId(0), rough()).unwrap();
    let buf = SharedBuf::new();
    w.capture_to(link, buf.clone(), LinkType::Ethernet, CapturePoint::Sent)
        .unwrap();
    w.run_until_idle(FOREVER).unwrap();
    w.stop_capture(link).unwrap();

    let bytes = buf.contents();
    let reader = PcapReader::new(&bytes).unwrap();
    assert_eq!(reader.link_type(), LinkType::Ethernet);
    let recs: Vec<_> = reader.map(Result::unwrap).collect();
    let offered =
        w.link_stats(link, Dir::AToB).offered_frames + w.link_stats(link, Dir::BToA).offered_frames;
    assert_eq!(recs.len() as u64, offered);
    assert!(recs.windows(2).all(|p| p[0].ts_micros <= p[1].ts_micros));
    // Every record is a Blaster frame exactly as sent, stamped with its send time.
    for rec in &recs {
        let seq = u64::from_be_bytes(rec.data[14..22].try_into().unwrap());
        let sent = u64::from_be_bytes(rec.data[22..30].try_into().unwrap());
        assert_eq!(rec.ts_micros, sent);
        let want = Blaster::frame(seq, Instant::from_micros(sent), rec.data.len());
        assert_eq!(rec.data, &want[..]);
        assert_eq!(rec.orig_len as usize, rec.data.len());
    }
}

#[test]
fn delivered_capture_shows_what_receivers_got() {
    let mut w = World::new(9);
    let a = w.add_node(Chatter::new(300, 200, Instant::ZERO, us(500)));
    let b = w.add_node(Chatter::new(300, 100, Instant::ZERO, us(700)));
    let link = w.connect(a, PortId(0), b, PortId(0), rough()).unwrap();
    let buf = SharedBuf::new();
    w.capture_to(
        link,
        buf.clone(),
        LinkType::Ethernet,
        CapturePoint::Delivered,
    )
    .unwrap();
    w.run_until_idle(FOREVER).unwrap();
    w.stop_capture(link).unwrap();
    let bytes = buf.contents();
    let recs: Vec<_> = PcapReader::new(&bytes)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // In delivery order across both directions: merge the receivers' logs.
    let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
    for n in [a, b] {
        let sink = &w.node::<Chatter>(n).sink;
        for (arr, frame) in sink.arrivals.iter().zip(&sink.frames) {
            got.push((arr.at.total_micros(), frame.clone()));
        }
    }
    got.sort_by_key(|g| g.0);
    let mut recorded: Vec<(u64, Vec<u8>)> = recs
        .iter()
        .map(|r| (r.ts_micros, r.data.to_vec()))
        .collect();
    recorded.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)));
    got.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)));
    assert_eq!(recorded, got);
}

/// Sends the given frames, built with etherparse, on port 0 at 1 ms intervals.
fn udp_frames(n: u16, ethernet: bool) -> Vec<(Instant, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let payload = format!("datagram {i}");
            let builder = if ethernet {
                etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                    .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
                    .udp(40_000 + i, 9)
            } else {
                etherparse::PacketBuilder::ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
                    .udp(40_000 + i, 9)
            };
            let mut frame = Vec::new();
            builder.write(&mut frame, payload.as_bytes()).unwrap();
            (Instant::from_millis(u64::from(i)), frame)
        })
        .collect()
}

#[test]
fn capture_of_udp_frames_parses_as_udp_and_reads_with_tcpdump() {
    for (ethernet, link_type) in [(true, LinkType::Ethernet), (false, LinkType::Raw)] {
        let mut w = World::new(1);
        let s = w.add_node(Script::new(udp_frames(5, ethernet)));
        let r = w.add_node(Sink::new());
        let cfg = LinkConfig::new().l2_header_len(if ethernet { 14 } else { 0 });
        let link = w.connect(s, PortId(0), r, PortId(0), cfg).unwrap();
        let path = std::env::temp_dir().join(format!(
            "synack-sim-capture-{}-{}.pcap",
            std::process::id(),
            ethernet
        ));
        let out = std::fs::File::create(&path).unwrap();
        w.capture_to(link, out, link_type, CapturePoint::Sent)
            .unwrap();
        w.run_until_idle(FOREVER).unwrap();
        w.stop_capture(link).unwrap();
        let bytes = std::fs::read(&path).unwrap();

        let reader = PcapReader::new(&bytes).unwrap();
        assert_eq!(reader.link_type(), link_type);
        for (i, rec) in reader.enumerate() {
            let rec = rec.unwrap();
            assert_eq!(rec.ts_micros, 1000 * i as u64);
            let packet = if ethernet {
                etherparse::SlicedPacket::from_ethernet(rec.data)
            } else {
                etherparse::SlicedPacket::from_ip(rec.data)
            }
            .unwrap();
            let Some(etherparse::TransportSlice::Udp(udp)) = packet.transport else {
                panic!("record {i} is not UDP");
            };
            assert_eq!(udp.source_port(), 40_000 + i as u16);
            assert_eq!(udp.payload(), format!("datagram {i}").as_bytes());
        }

        // tcpdump, if this machine has it, must read the file too.
        if let Ok(out) = std::process::Command::new("tcpdump")
            .args(["-nn", "-tt", "-r"])
            .arg(&path)
            .output()
        {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.lines().count(), 5, "{text}");
            assert!(
                text.contains("192.0.2.1.40004 > 192.0.2.2.9: UDP"),
                "{text}"
            );
            assert!(text.starts_with("0.000000 "), "{text}");
        }
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn capture_write_errors_are_reported_when_the_capture_stops() {
    #[derive(Clone)]
    struct Broken(Rc<RefCell<u32>>);
    impl std::io::Write for Broken {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut n = self.0.borrow_mut();
            *n += 1;
            // The global header goes through; the first record fails.
            if *n > 1 {
                return Err(std::io::Error::other("disk full"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (mut w, link, _) = blast(1, 10, 64, ms(1), LinkConfig::new());
    let writes = Rc::new(RefCell::new(0));
    w.capture_to(
        link,
        Broken(writes.clone()),
        LinkType::Ethernet,
        CapturePoint::Sent,
    )
    .unwrap();
    w.run_until_idle(FOREVER).unwrap();
    // The first failure stops the capture; the simulation carries on.
    assert_eq!(*writes.borrow(), 2);
    assert_eq!(w.flush_captures().unwrap_err().to_string(), "disk full");
    let err = w.stop_capture(link).unwrap_err();
    assert_eq!(err.to_string(), "disk full");
}
