//! The ARP cache's tests: resolution, queues, the neighbour states and
//! their confirmations.

use super::*;
use crate::rng::Rng;
use crate::wire::arp::ArpPacket;
use crate::wire::test_util::junk;

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);
const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
const NEW_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 9]);
const T0: Instant = Instant::from_secs(100);

fn cache() -> ArpCache {
    ArpCache::new(ArpConfig::default(), SipKey([1; 16]))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn answer(from: Ipv4Addr, mac: EthernetAddress) -> ArpRepr {
    ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: mac,
        source_protocol_addr: from,
        target_hardware_addr: OUR_MAC,
        target_protocol_addr: US,
    }
}

fn requests(c: &mut ArpCache) -> Vec<ArpRequest> {
    core::iter::from_fn(|| c.poll_request()).collect()
}

fn drain(c: &mut ArpCache) -> Vec<(Ipv4Addr, EthernetAddress, Vec<u8>)> {
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Some(r) = c.poll_queued(&mut buf) {
        out.push((r.next_hop, r.mac, buf[..r.len].to_vec()));
    }
    out
}

/// Runs `handle_timeout` at every deadline up to `until`.
fn run_until(c: &mut ArpCache, until: Instant) {
    for _ in 0..1000 {
        match c.poll_timeout() {
            Some(t) if t <= until => c.handle_timeout(t),
            _ => return,
        }
    }
    panic!("timers never settle");
}

#[test]
fn a_miss_queues_the_packet_and_asks_once() {
    let mut c = cache();
    assert_eq!(c.lookup(T0, PEER), ArpLookup::Miss);
    assert_eq!(
        c.resolve_or_queue(T0, PEER, b"one", false),
        Resolution::Queued
    );
    assert_eq!(
        c.resolve_or_queue(T0, PEER, b"two", false),
        Resolution::Queued
    );
    assert_eq!(
        requests(&mut c),
        [ArpRequest {
            target: PEER,
            unicast: None
        }],
        "one request, not one per packet"
    );
    assert_eq!(c.lookup(T0, PEER), ArpLookup::Pending);
    assert_eq!(c.queued_packets(), 2);
    assert_eq!(drain(&mut c), []);
}

#[test]
fn the_reply_releases_queued_packets_in_order() {
    let mut c = cache();
    for p in [b"one", b"two", b"six"] {
        let _ = c.resolve_or_queue(T0, PEER, p, false);
    }
    let _ = c.resolve_or_queue(T0, OTHER, b"else", false);
    let t = T0 + Duration::from_millis(3);
    assert_eq!(
        c.handle_arp(t, &answer(PEER, PEER_MAC), true, true),
        ArpUpdate::Updated
    );
    // A packet sent now goes behind the released ones.
    assert_eq!(
        c.resolve_or_queue(t, PEER, b"ten", false),
        Resolution::Queued
    );
    let got = drain(&mut c);
    let order: Vec<&[u8]> = got.iter().map(|(_, _, p)| &p[..]).collect();
    assert_eq!(order, [&b"one"[..], b"two", b"six", b"ten"]);
    assert!(
        got.iter()
            .all(|&(ip, mac, _)| ip == PEER && mac == PEER_MAC)
    );
    assert_eq!(
        c.resolve_or_queue(t, PEER, b"now", false),
        Resolution::Ready(PEER_MAC)
    );
    assert_eq!(c.lookup(t, OTHER), ArpLookup::Pending);
    assert_eq!(c.queued_packets(), 1);
}

#[test]
fn requests_repeat_each_second_then_the_address_is_unreachable() {
    let mut c = cache();
    let _ = c.resolve_or_queue(T0, PEER, b"lost", false);
    let _ = c.resolve_or_queue(T0, PEER, b"also", false);
    let mut sent = vec![T0];
    let _ = requests(&mut c);
    for _ in 0..10 {
        let Some(t) = c.poll_timeout() else { break };
        c.handle_timeout(t);
        if !requests(&mut c).is_empty() {
            sent.push(t);
        }
        if let Some(ev) = c.poll_event() {
            assert_eq!(
                ev,
                ArpEvent::Unreachable {
                    ip: PEER,
                    dropped: 2
                }
            );
            assert_eq!(t, T0 + secs(3));
            break;
        }
    }
    assert_eq!(sent, [T0, T0 + secs(1), T0 + secs(2)]);
    assert_eq!(c.lookup(T0 + secs(3), PEER), ArpLookup::Miss);
    let s = c.stats();
    assert_eq!((s.res_failed, s.unresolved_discards), (1, 2));
    assert_eq!(c.queued_packets(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn spurious_timeouts_do_nothing() {
    let mut c = cache();
    let _ = c.resolve_or_queue(T0, PEER, b"x", false);
    let _ = requests(&mut c);
    c.handle_timeout(T0 + Duration::from_millis(999));
    assert_eq!(requests(&mut c), []);
    assert_eq!(c.poll_timeout(), Some(T0 + secs(1)));
}

#[test]
fn a_full_queue_drops_its_oldest_packet() {
    let config = ArpConfig {
        unres_qlen: 3,
        ..ArpConfig::default()
    };
    let mut c = ArpCache::new(config, SipKey([0; 16]));
    for p in [b"p1", b"p2", b"p3", b"p4", b"p5"] {
        assert_eq!(c.resolve_or_queue(T0, PEER, p, false), Resolution::Queued);
    }
    assert_eq!(c.stats().unresolved_discards, 2);
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    let got: Vec<Vec<u8>> = drain(&mut c).into_iter().map(|(_, _, p)| p).collect();
    assert_eq!(got, [b"p3".to_vec(), b"p4".to_vec(), b"p5".to_vec()]);
}

#[test]
fn the_global_queue_cap_holds_across_addresses() {
    let config = ArpConfig {
        unres_qlen: 3,
        max_queued: 4,
        ..ArpConfig::default()
    };
    let mut c = ArpCache::new(config, SipKey([0; 16]));
    let mut outcomes = Vec::new();
    for i in 0..6u8 {
        outcomes.push(c.resolve_or_queue(T0, Ipv4Addr::new(192, 0, 2, 10 + i), b"syn-ack", false));
    }
    assert_eq!(&outcomes[..4], &[Resolution::Queued; 4]);
    assert_eq!(&outcomes[4..], &[Resolution::Dropped; 2]);
    // An address with packets makes room in its own queue.
    assert_eq!(
        c.resolve_or_queue(T0, Ipv4Addr::new(192, 0, 2, 10), b"new", false),
        Resolution::Queued
    );
    assert_eq!(c.queued_packets(), 4);
    assert_eq!(c.stats().unresolved_discards, 3);
}

fn probe_of(ip: Ipv4Addr, mac: EthernetAddress) -> ArpRequest {
    ArpRequest {
        target: ip,
        unicast: Some(mac),
    }
}

#[test]
fn a_used_stale_entry_waits_in_delay_then_is_revalidated_by_unicast() {
    let mut c = cache();
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    assert_eq!(c.lookup(T0 + secs(59), PEER), ArpLookup::Hit(PEER_MAC));
    assert!(requests(&mut c).is_empty());
    run_until(&mut c, T0 + secs(60));
    // Stale: still used, and the use starts DELAY, not a probe.
    let t = T0 + secs(70);
    assert_eq!(c.lookup(t, PEER), ArpLookup::Hit(PEER_MAC));
    assert_eq!(requests(&mut c), []);
    run_until(&mut c, t + Duration::from_millis(4999));
    assert_eq!(requests(&mut c), [], "delay_first_probe_time is 5 s");
    // Nothing confirmed it: the unicast probes start.
    run_until(&mut c, t + secs(5));
    assert_eq!(requests(&mut c), [probe_of(PEER, PEER_MAC)]);
    // The peer answers: reachable again, no more probes.
    let _ = c.handle_arp(
        t + Duration::from_millis(5500),
        &answer(PEER, PEER_MAC),
        false,
        true,
    );
    run_until(&mut c, t + secs(30));
    assert!(requests(&mut c).is_empty());
    assert_eq!(c.lookup(t + secs(30), PEER), ArpLookup::Hit(PEER_MAC));
}

#[test]
fn unanswered_probes_forget_the_entry() {
    let mut c = cache();
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    let t = T0 + secs(61);
    assert_eq!(
        c.lookup(t, PEER),
        ArpLookup::Hit(PEER_MAC),
        "used while stale"
    );
    run_until(&mut c, t + secs(7));
    assert_eq!(requests(&mut c).len(), 3, "ucast_solicit probes");
    assert_eq!(c.lookup(t + secs(7), PEER), ArpLookup::Hit(PEER_MAC));
    run_until(&mut c, t + secs(8));
    assert_eq!(c.lookup(t + secs(8), PEER), ArpLookup::Miss);
    assert_eq!(c.stats().res_failed, 1);
    assert_eq!(c.poll_event(), None, "nothing was waiting");
}

#[test]
fn an_entry_confirmed_by_the_upper_layer_is_never_probed() {
    // A connection making progress confirms its next hop with each
    // segment (TCP's ACKs of new data): an hour of it, no request.
    let mut c = cache();
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    let mut t = T0;
    for _ in 0..360 {
        t += secs(10);
        run_until(&mut c, t);
        assert_eq!(
            c.resolve_or_queue(t, PEER, b"segment", true),
            Resolution::Ready(PEER_MAC)
        );
    }
    assert_eq!(requests(&mut c), []);
    // Without the confirmations, the same sending probes every cycle:
    // REACHABLE for 60 s, then STALE, DELAY 5 s and a probe, which the
    // peer answers.
    let mut c = cache();
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    let mut probes = 0;
    for s in 1..=3600 {
        let t = T0 + secs(s);
        run_until(&mut c, t);
        let asked = requests(&mut c);
        if !asked.is_empty() {
            assert_eq!(asked, [probe_of(PEER, PEER_MAC)]);
            probes += 1;
            let _ = c.handle_arp(t, &answer(PEER, PEER_MAC), true, true);
        }
        if s % 10 == 0 {
            assert_eq!(
                c.resolve_or_queue(t, PEER, b"datagram", false),
                Resolution::Ready(PEER_MAC)
            );
        }
    }
    assert!((50..=60).contains(&probes), "about one a minute: {probes}");
}

#[test]
fn a_confirmation_during_delay_makes_the_entry_reachable_without_a_probe() {
    let config = ArpConfig {
        delay_first_probe: secs(2),
        ..ArpConfig::default()
    };
    let mut c = ArpCache::new(config, SipKey([3; 16]));
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    let t = T0 + secs(70);
    run_until(&mut c, t);
    // Used while stale: DELAY (2 s here) ...
    let _ = c.resolve_or_queue(t, PEER, b"syn", false);
    assert!(matches!(c.entries[&PEER].state, State::Delay { .. }));
    // ... and confirmed within it (the SYN-ACK came back).
    let _ = c.resolve_or_queue(t + secs(1), PEER, b"ack", true);
    run_until(&mut c, t + secs(2));
    assert_eq!(requests(&mut c), []);
    assert!(
        matches!(c.entries[&PEER].state, State::Reachable { until, .. } if until == t + secs(61)),
        "reachable for its time from the confirmation"
    );
    // Confirmed too late: the probes start when DELAY ends.
    let t = t + secs(70);
    run_until(&mut c, t);
    let _ = c.resolve_or_queue(t, PEER, b"syn", false);
    run_until(&mut c, t + secs(2));
    assert_eq!(requests(&mut c), [probe_of(PEER, PEER_MAC)]);
    let _ = c.resolve_or_queue(t + secs(2), PEER, b"late", true);
    assert!(matches!(c.entries[&PEER].state, State::Probe { .. }));
}

#[test]
fn requests_and_broadcast_replies_do_not_confirm() {
    let mut c = cache();
    // A request for us makes a STALE entry: its first use waits in
    // DELAY and is probed (Linux `neigh_event_ns`).
    let req = request(PEER_MAC, PEER, US);
    assert_eq!(c.handle_arp(T0, &req, true, false), ArpUpdate::Created);
    assert!(matches!(c.entries[&PEER].state, State::Stale { .. }));
    assert_eq!(c.lookup(T0, PEER), ArpLookup::Hit(PEER_MAC));
    run_until(&mut c, T0 + secs(5));
    assert_eq!(requests(&mut c), [probe_of(PEER, PEER_MAC)]);
    // A reply to our own address confirms it.
    let _ = c.handle_arp(T0 + secs(5), &answer(PEER, PEER_MAC), true, true);
    let reachable = c.entries[&PEER].state;
    assert!(matches!(reachable, State::Reachable { .. }));
    // A request, or a reply to the broadcast address, with the same
    // address leaves it as it was ...
    let later = T0 + secs(30);
    let _ = c.handle_arp(later, &req, true, false);
    let _ = c.handle_arp(later, &answer(PEER, PEER_MAC), true, false);
    assert_eq!(c.entries[&PEER].state, reachable);
    // ... and with a new address makes it STALE with that address.
    let _ = c.handle_arp(later, &answer(PEER, NEW_MAC), true, false);
    assert_eq!(
        c.entries[&PEER].state,
        State::Stale {
            mac: NEW_MAC,
            until: later + secs(60)
        }
    );
    // A request from an address being resolved releases its packets,
    // and the entry is STALE.
    let _ = c.resolve_or_queue(later, OTHER, b"queued", false);
    let from_other = request(NEW_MAC, OTHER, US);
    let _ = c.handle_arp(later, &from_other, true, false);
    assert_eq!(drain(&mut c), [(OTHER, NEW_MAC, b"queued".to_vec())]);
    assert!(matches!(c.entries[&OTHER].state, State::Stale { .. }));
}

#[test]
fn unused_stale_entries_are_forgotten() {
    let mut c = cache();
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    run_until(&mut c, T0 + secs(119));
    assert_eq!(c.len(), 1);
    run_until(&mut c, T0 + secs(120));
    assert!(c.is_empty());
    assert!(requests(&mut c).is_empty(), "nobody used it: no probes");
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn rfc_826_merge_updates_known_senders_but_learns_only_when_targeted() {
    let mut c = cache();
    // Someone else's conversation: not learned.
    let theirs = ArpRepr {
        target_protocol_addr: OTHER,
        ..answer(PEER, PEER_MAC)
    };
    assert_eq!(
        c.handle_arp(T0, &theirs, false, false),
        ArpUpdate::NotLearned
    );
    assert_eq!(c.lookup(T0, PEER), ArpLookup::Miss);
    // A request for us from PEER: learned.
    let req = request(PEER_MAC, PEER, US);
    assert_eq!(c.handle_arp(T0, &req, true, false), ArpUpdate::Created);
    assert_eq!(c.lookup(T0, PEER), ArpLookup::Hit(PEER_MAC));
    assert_eq!(c.stats().rcv_probes_mcast, 1);
    // A gratuitous ARP with a new address: a known sender is merged.
    let moved = gratuitous(NEW_MAC, PEER);
    assert_eq!(c.handle_arp(T0, &moved, false, false), ArpUpdate::Updated);
    assert_eq!(c.lookup(T0, PEER), ArpLookup::Hit(NEW_MAC));
}

#[test]
fn probes_and_bogus_senders_teach_nothing() {
    let mut c = cache();
    let probe = ArpRepr {
        source_protocol_addr: Ipv4Addr::UNSPECIFIED,
        ..request(PEER_MAC, PEER, US)
    };
    assert_eq!(c.handle_arp(T0, &probe, true, false), ArpUpdate::Ignored);
    for mac in [
        EthernetAddress::BROADCAST,
        EthernetAddress([0x01, 0, 0x5e, 0, 0, 1]),
        EthernetAddress::default(),
    ] {
        assert_eq!(
            c.handle_arp(T0, &answer(PEER, mac), true, true),
            ArpUpdate::Ignored
        );
    }
    for ip in [Ipv4Addr::BROADCAST, Ipv4Addr::new(224, 0, 0, 1)] {
        assert_eq!(
            c.handle_arp(T0, &answer(ip, PEER_MAC), true, true),
            ArpUpdate::Ignored
        );
    }
    assert!(c.is_empty());
}

#[test]
fn permanent_entries_never_change() {
    let mut c = cache();
    c.insert_permanent(PEER, PEER_MAC);
    assert_eq!(
        c.handle_arp(T0, &answer(PEER, NEW_MAC), true, true),
        ArpUpdate::Permanent
    );
    run_until(&mut c, T0 + secs(10_000));
    assert_eq!(c.lookup(T0 + secs(10_000), PEER), ArpLookup::Hit(PEER_MAC));
    assert!(requests(&mut c).is_empty());
    assert!(c.remove(PEER));
    assert!(!c.remove(PEER));
    assert_eq!(c.lookup(T0, PEER), ArpLookup::Miss);
}

#[test]
fn a_full_cache_evicts_its_oldest_entry() {
    let config = ArpConfig {
        max_entries: 4,
        ..ArpConfig::default()
    };
    let mut c = ArpCache::new(config, SipKey([2; 16]));
    let ip = |i: u8| Ipv4Addr::new(192, 0, 2, 10 + i);
    for i in 0..4 {
        let _ = c.handle_arp(
            T0 + secs(u64::from(i)),
            &answer(ip(i), PEER_MAC),
            true,
            true,
        );
    }
    // Confirming entry 0 again makes it the newest.
    let _ = c.handle_arp(T0 + secs(5), &answer(ip(0), PEER_MAC), false, true);
    let _ = c.resolve_or_queue(T0 + secs(6), ip(9), b"q", false);
    assert_eq!(c.len(), 4);
    assert_eq!(
        c.lookup(T0 + secs(6), ip(1)),
        ArpLookup::Miss,
        "oldest went"
    );
    assert_eq!(c.lookup(T0 + secs(6), ip(0)), ArpLookup::Hit(PEER_MAC));
    assert_eq!(c.stats().forced_gc_runs, 1);
    // Evicting an incomplete entry drops its packets.
    for i in 20..24 {
        let _ = c.handle_arp(T0 + secs(7), &answer(ip(i), PEER_MAC), true, true);
    }
    assert_eq!(c.lookup(T0 + secs(7), ip(9)), ArpLookup::Miss);
    assert_eq!(c.queued_packets(), 0);
    assert_eq!(c.stats().unresolved_discards, 1);
}

#[test]
fn oversized_packets_for_the_caller_buffer_are_dropped_and_counted() {
    let mut c = cache();
    let _ = c.resolve_or_queue(T0, PEER, &[7; 100], false);
    let _ = c.resolve_or_queue(T0, PEER, &[8; 10], false);
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    let mut small = [0u8; 50];
    let r = c.poll_queued(&mut small).unwrap();
    assert_eq!((r.len, &small[..10]), (10, &[8u8; 10][..]));
    assert_eq!(c.stats().unresolved_discards, 1);
    assert_eq!(c.queued_packets(), 0);
}

#[test]
fn replies_and_gratuitous_requests_have_the_right_fields() {
    let req = request(PEER_MAC, PEER, US);
    let rep = reply(&req, OUR_MAC);
    assert_eq!(rep.operation, ArpOperation::Reply);
    assert_eq!(
        (rep.source_hardware_addr, rep.source_protocol_addr),
        (OUR_MAC, US)
    );
    assert_eq!(
        (rep.target_hardware_addr, rep.target_protocol_addr),
        (PEER_MAC, PEER)
    );
    let mut buf = junk(28);
    gratuitous(OUR_MAC, US).emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
    #[rustfmt::skip]
    let expected: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 192, 0, 2, 1,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 192, 0, 2, 1,
    ];
    assert_eq!(buf, expected);
}

#[test]
fn steady_use_does_not_allocate_queue_slots_beyond_the_peak() {
    let mut c = cache();
    let mut rng = Rng::from_seed(4);
    for round in 0..500u64 {
        let t = T0 + secs(round * 200);
        let ip = Ipv4Addr::from_bits(0xC000_0200 | (rng.u32() & 0xFF));
        for _ in 0..5 {
            let _ = c.resolve_or_queue(t, ip, &[1; 64], false);
        }
        let _ = c.handle_arp(t, &answer(ip, PEER_MAC), true, true);
        assert_eq!(drain(&mut c).len(), 5);
        let _ = requests(&mut c);
        run_until(&mut c, t + secs(199));
    }
    assert!(c.pool.slots.len() <= 5, "{} slots", c.pool.slots.len());
    assert!(c.order.len() <= 2 * c.len() + 16);
}

#[test]
fn a_new_address_within_locktime_is_ignored_unless_asked_or_announced() {
    let mut c = cache();
    let ms = Duration::from_millis;
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    // A second answer with another address, 500 ms later: the first wins.
    assert_eq!(
        c.handle_arp(T0 + ms(500), &answer(PEER, NEW_MAC), true, true),
        ArpUpdate::Locked
    );
    assert_eq!(c.lookup(T0 + ms(500), PEER), ArpLookup::Hit(PEER_MAC));
    // The sender's own announcement is taken at once ...
    let moved = gratuitous(NEW_MAC, PEER);
    assert_eq!(
        c.handle_arp(T0 + ms(500), &moved, false, false),
        ArpUpdate::Updated
    );
    assert_eq!(c.lookup(T0 + ms(500), PEER), ArpLookup::Hit(NEW_MAC));
    // ... and starts the lock again; a request asking us overrides it.
    assert_eq!(
        c.handle_arp(T0 + ms(600), &answer(PEER, PEER_MAC), true, true),
        ArpUpdate::Locked
    );
    let asks = request(PEER_MAC, PEER, US);
    assert_eq!(
        c.handle_arp(T0 + ms(700), &asks, true, false),
        ArpUpdate::Updated
    );
    assert_eq!(c.lookup(T0 + ms(700), PEER), ArpLookup::Hit(PEER_MAC));
    // A second after the last change, another address is news again.
    assert_eq!(
        c.handle_arp(T0 + ms(1700), &answer(PEER, NEW_MAC), true, true),
        ArpUpdate::Updated
    );
    assert!(matches!(c.entries[&PEER].state, State::Reachable { mac, .. } if mac == NEW_MAC));
}

#[test]
fn locktime_counts_from_the_timers_changes_and_a_uses_too() {
    let reachable = ArpConfig::default().reachable_time;
    let ms = Duration::from_millis;
    let mut c = cache();
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    // REACHABLE runs out: STALE at T0 + reachable_time, a change of state
    // (Linux `neigh_timer_handler` moves `updated`): another address is
    // held off for locktime from then, not from the reply long before.
    let stale = T0 + reachable;
    run_until(&mut c, stale);
    assert!(matches!(c.entries[&PEER].state, State::Stale { .. }));
    assert_eq!(
        c.handle_arp(stale + ms(500), &answer(PEER, NEW_MAC), true, true),
        ArpUpdate::Locked
    );
    // A use makes it DELAY: locktime again from the use.
    let used = stale + ms(1500);
    let _ = c.resolve_or_queue(used, PEER, b"datagram", false);
    assert!(matches!(c.entries[&PEER].state, State::Delay { .. }));
    assert_eq!(
        c.handle_arp(used + ms(999), &answer(PEER, NEW_MAC), true, true),
        ArpUpdate::Locked
    );
    assert_eq!(
        c.handle_arp(used + ms(1000), &answer(PEER, NEW_MAC), true, true),
        ArpUpdate::Updated
    );
}

#[test]
fn a_new_address_from_a_broadcast_is_probed_before_it_is_trusted() {
    let mut c = cache();
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    // TCP confirms the old address, then a broadcast reply moves it.
    let t = T0 + secs(30);
    let _ = c.resolve_or_queue(t, PEER, b"segment", true);
    let moved = ArpRepr {
        target_protocol_addr: OTHER,
        ..answer(PEER, NEW_MAC)
    };
    let _ = c.handle_arp(t + secs(1), &moved, false, false);
    // Used at once: DELAY, which only a confirmation after the use ends
    // well; the old address's does not vouch for the new one: probed.
    let _ = c.resolve_or_queue(t + secs(2), PEER, b"segment", false);
    run_until(&mut c, t + secs(7));
    assert_eq!(requests(&mut c), [probe_of(PEER, NEW_MAC)]);
}

#[test]
fn neighbours_show_each_state_as_ip_neigh_names_it() {
    let mut c = cache();
    let state = |c: &ArpCache, now: Instant, ip: Ipv4Addr| {
        c.neighbours(now)
            .find(|n| n.ip == ip)
            .map(|n| (n.state.name(), n.mac))
    };
    let _ = c.resolve_or_queue(T0, OTHER, b"x", false);
    c.insert_permanent(US, OUR_MAC);
    assert_eq!(state(&c, T0, OTHER), Some(("INCOMPLETE", None)));
    assert_eq!(state(&c, T0, US), Some(("PERMANENT", Some(OUR_MAC))));
    let _ = c.handle_arp(T0, &answer(PEER, PEER_MAC), true, true);
    assert_eq!(state(&c, T0, PEER), Some(("REACHABLE", Some(PEER_MAC))));
    // Past its time, before its timer ran: shown as it is now.
    assert_eq!(
        state(&c, T0 + secs(60), PEER),
        Some(("STALE", Some(PEER_MAC)))
    );
    run_until(&mut c, T0 + secs(60));
    let _ = c.lookup(T0 + secs(61), PEER);
    assert_eq!(
        state(&c, T0 + secs(61), PEER),
        Some(("DELAY", Some(PEER_MAC)))
    );
    run_until(&mut c, T0 + secs(66));
    assert_eq!(
        state(&c, T0 + secs(66), PEER),
        Some(("PROBE", Some(PEER_MAC)))
    );
    assert_eq!(
        state(&c, T0 + secs(66), OTHER),
        None,
        "nobody answered for it"
    );
}

/// One step of [`any_history_keeps_the_cache_consistent`].
#[derive(Clone, Debug)]
enum Step {
    Send {
        ip: u8,
        confirm: bool,
        len: u8,
    },
    Arp {
        ip: u8,
        mac: u8,
        reply: bool,
        for_us: bool,
        unicast: bool,
    },
    Wait {
        ms: u16,
    },
    Drain,
    Remove {
        ip: u8,
    },
    Permanent {
        ip: u8,
        mac: u8,
    },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0..6u8, any::<bool>(), any::<u8>())
            .prop_map(|(ip, confirm, len)| Step::Send { ip, confirm, len }),
        3 => (0..6u8, 0..3u8, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(ip, mac, reply, for_us, unicast)| Step::Arp { ip, mac, reply, for_us, unicast }
        ),
        4 => (0..20_000u16).prop_map(|ms| Step::Wait { ms }),
        2 => Just(Step::Drain),
        1 => (0..6u8).prop_map(|ip| Step::Remove { ip }),
        1 => (0..6u8, 0..3u8).prop_map(|(ip, mac)| Step::Permanent { ip, mac }),
    ]
}

/// What the cache's parts must agree on after any step.
fn check_consistent(c: &mut ArpCache, now: Instant) {
    assert!(c.queued_packets() <= c.config.max_queued);
    let mut ready = 0;
    for (ip, e) in &c.entries {
        // Every entry but a permanent one has its next event scheduled,
        // and none is overdue once the timers ran.
        match e.state {
            State::Permanent { .. } => assert_eq!(c.timers.deadline(*ip), None),
            _ => {
                let at = c.timers.deadline(*ip);
                assert!(at.is_some_and(|t| t > now), "{ip}: {:?} at {at:?}", e.state);
            }
        }
        if let State::Incomplete { .. } = e.state {
            assert_eq!(e.in_ready, 0, "nothing of an unresolved address is ready");
        } else {
            assert_eq!(e.queue.len, 0, "a resolved address queues nothing");
        }
        ready += e.in_ready;
    }
    assert!(ready <= c.ready.len, "ready counts within the ready list");
}

proptest::proptest! {
    /// Any interleaving of sends (confirmed or not), ARP packets of every
    /// kind, time and the caller's draining keeps the states, timers and
    /// queues consistent: nothing overdue, nothing stuck without a timer,
    /// bounded queues, and every released packet goes to the address the
    /// entry had.
    #[test]
    fn any_history_keeps_the_cache_consistent(
        steps in proptest::collection::vec(step(), 1..120)
    ) {
        let config = ArpConfig {
            max_entries: 4,
            unres_qlen: 3,
            max_queued: 6,
            ..ArpConfig::default()
        };
        let mut c = ArpCache::new(config, SipKey([9; 16]));
        let ip = |i: u8| Ipv4Addr::new(192, 0, 2, 10 + i);
        let mac = |i: u8| EthernetAddress([0x02, 0, 0, 0, 1, i]);
        let mut now = T0;
        let mut buf = [0u8; 256];
        for step in steps {
            match step {
                Step::Send { ip: i, confirm, len } => {
                    let packet = vec![i; usize::from(len)];
                    let _ = c.resolve_or_queue(now, ip(i), &packet, confirm);
                }
                Step::Arp { ip: i, mac: m, reply, for_us, unicast } => {
                    let operation = if reply { ArpOperation::Reply } else { ArpOperation::Request };
                    let packet = ArpRepr { operation, ..answer(ip(i), mac(m)) };
                    let _ = c.handle_arp(now, &packet, for_us, unicast);
                }
                Step::Wait { ms } => {
                    now += Duration::from_millis(u64::from(ms));
                    c.handle_timeout(now);
                }
                Step::Drain => {
                    while let Some(r) = c.poll_queued(&mut buf) {
                        // The packet's bytes name the address it was sent to.
                        assert!(buf[..r.len].iter().all(|&b| ip(b) == r.next_hop));
                        assert_eq!(&r.mac.0[..5], &[0x02, 0, 0, 0, 1]);
                    }
                    while let Some(r) = c.poll_request() {
                        if let Some(m) = r.unicast {
                            assert_eq!(&m.0[..5], &[0x02, 0, 0, 0, 1]);
                        }
                    }
                    while c.poll_event().is_some() {}
                }
                Step::Remove { ip: i } => {
                    let _ = c.remove(ip(i));
                }
                Step::Permanent { ip: i, mac: m } => c.insert_permanent(ip(i), mac(m)),
            }
            check_consistent(&mut c, now);
        }
    }
}
