use super::*;

const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn me(timestamp: u32) -> Registration {
    Registration {
        address: ME,
        timestamp,
    }
}

fn reply(area: &[u8], timestamp: u32) -> Vec<u8> {
    let found = Options::parse(area).expect("well formed");
    let mut out = [0xAA; MAX_LEN];
    let n = echo_reply(area, &found, me(timestamp), |a| a == ME, None, &mut out);
    out[..n].to_vec()
}

/// `ping -R`'s option as Linux sends it: nine slots, the sender's own
/// address in the first (it records itself going out), NOP before it.
fn ping_r() -> Vec<u8> {
    let mut area = vec![kind::NOP, kind::RECORD_ROUTE, 39, 8];
    area.extend_from_slice(&PEER.octets());
    area.resize(40, 0);
    area
}

#[test]
fn no_options_and_padding_parse_to_nothing() {
    assert_eq!(Options::parse(&[]), Ok(Options::default()));
    assert_eq!(Options::parse(&[kind::NOP; 4]), Ok(Options::default()));
    // After the end of the list, anything (RFC 791: padding, not options).
    assert_eq!(
        Options::parse(&[kind::END, 0xFF, 0xFF, 0xFF]),
        Ok(Options::default())
    );
}

#[test]
fn unknown_and_ignored_kinds_are_skipped_by_their_length() {
    // Security (11 octets), stream id (4), an unknown kind 30 (4), then a
    // record route the walk must still find after them.
    let mut area = vec![kind::SECURITY, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    area.extend_from_slice(&[kind::STREAM_ID, 4, 0, 1]);
    area.extend_from_slice(&[30, 4, 0xDE, 0xAD]);
    area.extend_from_slice(&[kind::RECORD_ROUTE, 7, 4, 0, 0, 0, 0]);
    area.push(kind::END);
    let found = Options::parse(&area).unwrap();
    assert_eq!(found.record_route, Some(19));
    assert_eq!(found.timestamp, None);
}

#[test]
fn finds_each_option_it_acts_on() {
    let area = [
        kind::ROUTER_ALERT,
        4,
        0,
        0,
        kind::LOOSE_SOURCE_ROUTE,
        7,
        4,
        198,
        51,
        100,
        1,
        kind::TIMESTAMP,
        8,
        5,
        0,
        0,
        0,
        0,
        0,
        kind::END,
    ];
    let found = Options::parse(&area).unwrap();
    assert!(found.router_alert);
    assert_eq!(found.source_route, Some(4));
    assert_eq!(found.timestamp, Some(11));
}

#[test]
fn malformed_options_point_at_the_octet_in_error() {
    let cases: &[(&[u8], u8, &str)] = &[
        (&[kind::RECORD_ROUTE], 20, "no length octet"),
        (&[kind::RECORD_ROUTE, 1, 0, 0], 21, "length below 2"),
        (
            &[kind::NOP, 30, 8, 0, 0, 0, 0, 0],
            22,
            "length past the area",
        ),
        (
            &[kind::RECORD_ROUTE, 2, 0, 0],
            21,
            "route without a pointer",
        ),
        (
            &[kind::RECORD_ROUTE, 7, 3, 0, 0, 0, 0, 0],
            22,
            "pointer below 4",
        ),
        (
            &[kind::RECORD_ROUTE, 6, 4, 0, 0, 0, 0, 0],
            22,
            "slot cut short",
        ),
        (
            &[kind::RECORD_ROUTE, 3, 4, kind::RECORD_ROUTE, 3, 4, 0, 0],
            23,
            "second record route",
        ),
        (
            &[
                kind::LOOSE_SOURCE_ROUTE,
                3,
                4,
                kind::STRICT_SOURCE_ROUTE,
                3,
                4,
                0,
                0,
            ],
            23,
            "two source routes",
        ),
        (&[kind::TIMESTAMP, 3, 5, 0], 21, "timestamp shorter than 4"),
        (
            &[kind::TIMESTAMP, 8, 4, 0, 0, 0, 0, 0],
            22,
            "timestamp pointer below 5",
        ),
        (
            &[kind::TIMESTAMP, 8, 5, ts_flag::WITH_ADDRESS, 0, 0, 0, 0],
            22,
            "an address-and-time slot cut short",
        ),
        (
            &[kind::TIMESTAMP, 8, 9, 0xF0, 0, 0, 0, 0],
            23,
            "full, and the overflow count full",
        ),
        (
            &[kind::ROUTER_ALERT, 6, 0, 0, 0, 0],
            21,
            "router alert not 4 long",
        ),
    ];
    for (area, pointer, why) in cases {
        assert_eq!(
            Options::parse(area),
            Err(Problem { pointer: *pointer }),
            "{why}"
        );
    }
}

#[test]
fn full_options_are_well_formed() {
    // A route whose pointer is past its length is full (or, for a source
    // route, done); a full timestamp with room in its count likewise.
    assert!(Options::parse(&[kind::RECORD_ROUTE, 7, 8, 1, 2, 3, 4, 0]).is_ok());
    assert!(Options::parse(&[kind::TIMESTAMP, 8, 9, 0xE0, 0, 0, 0, 0]).is_ok());
    // A full prespecified timestamp never counts overflows.
    assert!(Options::parse(&[kind::TIMESTAMP, 12, 13, 0xF3, 0, 0, 0, 0, 0, 0, 0, 0]).is_ok());
}

#[test]
fn an_echo_reply_records_this_host_in_the_route() {
    let area = ping_r();
    let out = reply(&area, 0);
    // The NOP is not carried; the route is, one slot further.
    assert_eq!(out.len(), 40);
    assert_eq!(&out[..3], &[kind::RECORD_ROUTE, 39, 12]);
    assert_eq!(&out[3..7], &PEER.octets());
    assert_eq!(&out[7..11], &ME.octets());
    assert!(out[11..].iter().all(|&b| b == 0));
}

#[test]
fn a_full_route_is_carried_as_it_came() {
    let area = [kind::RECORD_ROUTE, 7, 8, 10, 0, 0, 1, kind::END];
    assert_eq!(reply(&area, 0), area);
}

#[test]
fn timestamps_are_registered_by_their_flag() {
    // Timestamps only.
    let out = reply(
        &[kind::TIMESTAMP, 12, 9, 0, 0, 0, 0, 7, 0, 0, 0, 0],
        0x0102_0304,
    );
    assert_eq!(out, [kind::TIMESTAMP, 12, 13, 0, 0, 0, 0, 7, 1, 2, 3, 4]);
    // With addresses.
    let out = reply(
        &[kind::TIMESTAMP, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        0x0A0B_0C0D,
    );
    assert_eq!(
        out,
        [kind::TIMESTAMP, 12, 13, 1, 192, 0, 2, 2, 10, 11, 12, 13]
    );
    // Prespecified, and the next address is ours.
    let mut area = vec![kind::TIMESTAMP, 20, 5, 3];
    area.extend_from_slice(&[192, 0, 2, 2, 0, 0, 0, 0, 198, 51, 100, 9, 0, 0, 0, 0]);
    let out = reply(&area, 0x0000_0100);
    assert_eq!(out[2], 13);
    assert_eq!(&out[8..12], &[0, 0, 1, 0]);
    // Prespecified, and the next address is another's: untouched.
    let mut area = vec![kind::TIMESTAMP, 12, 5, 3];
    area.extend_from_slice(&[198, 51, 100, 9, 0, 0, 0, 0]);
    assert_eq!(reply(&area, 5), area);
}

#[test]
fn a_full_timestamp_counts_one_more_overflow() {
    let out = reply(&[kind::TIMESTAMP, 8, 9, 0x21, 0, 0, 0, 0], 1);
    assert_eq!(out, [kind::TIMESTAMP, 8, 9, 0x31, 0, 0, 0, 0]);
}

#[test]
fn both_options_go_in_the_requests_order_padded_to_words() {
    let area = [
        kind::TIMESTAMP,
        8,
        5,
        0,
        0,
        0,
        0,
        0,
        kind::NOP,
        kind::RECORD_ROUTE,
        7,
        4,
        0,
        0,
        0,
        0,
    ];
    let out = reply(&area, 9);
    assert_eq!(out.len(), 16);
    assert_eq!(&out[..8], &[kind::TIMESTAMP, 8, 9, 0, 0, 0, 0, 9]);
    assert_eq!(&out[8..15], &[kind::RECORD_ROUTE, 7, 8, 192, 0, 2, 2]);
    assert_eq!(out[15], kind::END);
}

#[test]
fn options_that_are_not_echoed_give_an_empty_reply() {
    assert!(reply(&[kind::ROUTER_ALERT, 4, 0, 0], 0).is_empty());
}

#[test]
fn a_timestamp_is_the_time_of_day_or_marked_non_standard() {
    // 2026-11-25 10:00:00.250 UT.
    let unix = 1_795_600_800_250u64;
    assert_eq!(timestamp(Some(unix), 5), 36_000_250);
    assert_eq!(timestamp(None, 1234), 0x8000_04D2);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 2000,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x1b5),
        ..Default::default()
    })]

    /// Any area parses without a panic, and what parses gives a reply that
    /// parses again (a reply's options are as well formed as the request's).
    #[test]
    fn any_area_parses_and_its_reply_parses_again(
        area in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(vec![0u8, 1, 3, 4, 5, 7, 8, 9, 68, 131, 137, 148]),
                proptest::num::u8::ANY,
            ],
            0..=MAX_LEN,
        ),
        stamp: u32,
    ) {
        if let Ok(found) = Options::parse(&area) {
            let mut out = [0; MAX_LEN];
            let n = echo_reply(&area, &found, me(stamp), |a| a == ME, None, &mut out);
            proptest::prop_assert!(n % 4 == 0 && n <= area.len().next_multiple_of(4));
            // Well formed again, but for a timestamp whose count this
            // host filled: the next module could not register.
            if let Err(p) = Options::parse(&out[..n]) {
                let flags = usize::from(p.pointer) - HEADER_LEN;
                proptest::prop_assert_eq!(out[flags - 3], kind::TIMESTAMP, "{:?} -> {:?}", area, &out[..n]);
                proptest::prop_assert_eq!(out[flags] >> 4, TS_OVERFLOW_MAX);
            }
        }
    }
}

#[test]
fn later_fragments_carry_only_the_options_marked_copied() {
    // Router alert (copied), record route (not), security (copied), NOP.
    let mut area = vec![kind::ROUTER_ALERT, 4, 0, 0];
    area.extend_from_slice(&[kind::RECORD_ROUTE, 7, 4, 0, 0, 0, 0]);
    area.extend_from_slice(&[kind::NOP, kind::SECURITY, 3, 0, kind::END]);
    let mut out = [0xAA; MAX_LEN];
    let n = copied(&area, &mut out);
    assert_eq!(&out[..n], &[148, 4, 0, 0, 130, 3, 0, kind::END]);
    // None to copy.
    assert_eq!(copied(&[kind::RECORD_ROUTE, 3, 4, kind::END], &mut out), 0);
    // Malformed input ends the walk, never a panic.
    assert_eq!(copied(&[kind::SECURITY, 9, 0], &mut out), 0);
    assert_eq!(copied(&[kind::SECURITY], &mut out), 0);
}

#[test]
fn options_for_sending_are_checked_padded_and_registered() {
    // ping -R's request as an application sets it: an empty route.
    let mut user = vec![kind::NOP, kind::RECORD_ROUTE, 39, 4];
    user.resize(40, 0);
    let send = SendOptions::new(&user).unwrap();
    assert_eq!(send.len(), 40);
    let mut out = [0; MAX_LEN];
    send.write(me(0), |_| false, PEER, &mut out);
    assert_eq!(
        &out[..8],
        &[kind::NOP, kind::RECORD_ROUTE, 39, 8, 192, 0, 2, 2]
    );
    // Padded to whole words with end-of-options.
    let send = SendOptions::new(&[kind::TIMESTAMP, 8, 5, 0, 0, 0, 0, 0, kind::NOP]).unwrap();
    assert_eq!(send.len(), 12);
    send.write(me(0x55), |_| false, PEER, &mut out);
    assert_eq!(&out[..12], &[68, 8, 9, 0, 0, 0, 0, 0x55, 1, 0, 0, 0]);
    assert!(SendOptions::new(&[]).unwrap().is_empty());
    // Refused: too long, malformed, a source route not as an application
    // writes one (pointer past its first slot, no whole hop), an
    // undefined flag.
    assert_eq!(SendOptions::new(&[1; 41]), Err(SendOptionsError::TooLong));
    assert_eq!(
        SendOptions::new(&[kind::RECORD_ROUTE, 7, 2, 0, 0, 0, 0]),
        Err(SendOptionsError::Malformed { at: 2 })
    );
    assert_eq!(
        SendOptions::new(&[kind::LOOSE_SOURCE_ROUTE, 7, 8, 198, 51, 100, 1]),
        Err(SendOptionsError::Malformed { at: 2 })
    );
    assert_eq!(
        SendOptions::new(&[kind::STRICT_SOURCE_ROUTE, 3, 4, kind::END]),
        Err(SendOptionsError::Malformed { at: 2 })
    );
    assert_eq!(
        SendOptions::new(&[kind::TIMESTAMP, 12, 5, 2, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(SendOptionsError::Malformed { at: 3 })
    );
}

const R1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const R2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const FAR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

/// A loose route option: `pointer`, then `slots`.
fn lsrr(pointer: u8, slots: &[Ipv4Addr]) -> Vec<u8> {
    source_route::loose(pointer, slots)
}

#[test]
fn a_source_route_is_sent_to_its_first_hop_with_the_destination_last() {
    // As Linux's IP_OPTIONS takes it: the hops R1, R2; the datagram goes to
    // R1, the option lists R2 then the destination (RFC 791: the last slot
    // is the final destination).
    let send = SendOptions::new(&lsrr(4, &[R1, R2])).unwrap();
    assert_eq!(send.first_hop(), Some(R1));
    assert!(!send.is_strict_route());
    assert_eq!(send.len(), 12, "11, padded");
    let mut out = [0; MAX_LEN];
    send.write(me(0), |_| false, FAR, &mut out);
    let mut want = lsrr(4, &[R2, FAR]);
    want.push(kind::END);
    assert_eq!(&out[..12], &want[..]);
    // One hop: straight to it, then to the destination.
    let mut strict = lsrr(4, &[R1]);
    strict[0] = kind::STRICT_SOURCE_ROUTE;
    let send = SendOptions::new(&strict).unwrap();
    assert!(send.is_strict_route());
    send.write(me(0), |_| false, FAR, &mut out);
    assert_eq!(&out[..8], &[137, 7, 4, 203, 0, 113, 9, kind::END]);
    // Without a source route: no first hop.
    assert_eq!(SendOptions::new(&[]).unwrap().first_hop(), None);
}

#[test]
fn options_read_back_as_they_were_set() {
    let mut out = [0xAA; MAX_LEN];
    // A route: its first hop back in the first slot, padded.
    let set = lsrr(4, &[R1, R2]);
    let n = SendOptions::new(&set).unwrap().as_set(&mut out);
    assert_eq!(&out[..n], &[&set[..], &[kind::END]].concat()[..]);
    // A record route and a one-hop route after it.
    let mut both = vec![kind::RECORD_ROUTE, 7, 4, 0, 0, 0, 0, kind::NOP];
    both.extend_from_slice(&lsrr(4, &[R1]));
    let n = SendOptions::new(&both).unwrap().as_set(&mut out);
    assert_eq!(&out[..n], &[&both[..], &[kind::END]].concat()[..]);
}

#[test]
fn a_route_ends_here_when_no_hop_past_the_pointer_is_elsewhere() {
    let ours = |a| a == ME;
    let at = |area: &[u8]| {
        let found = Options::parse(area).unwrap();
        source_route::at_us(area, &found, ours)
    };
    use source_route::AtUs;
    // The pointer past the length: done.
    assert_eq!(at(&lsrr(12, &[R1, R2])), AtUs::Done);
    // The hops left are ours: passed at once, done.
    assert_eq!(at(&lsrr(8, &[R1, ME])), AtUs::Done);
    // One left elsewhere: for forwarding, to it.
    assert_eq!(at(&lsrr(4, &[ME, FAR])), AtUs::Forward(FAR));
}

#[test]
fn the_return_route_is_the_recorded_hops_reversed() {
    // Sent by PEER by way of R1 then R2 to ME: each hop recorded itself.
    let area = lsrr(12, &[R1, R2]);
    let found = Options::parse(&area).unwrap();
    let back = ReturnRoute::reversed(&area, &found, PEER, |a| a == ME).unwrap();
    assert_eq!(back.first_hop(), R2);
    let mut out = [0; MAX_LEN];
    // As IP_RETOPTS hands it back: R2, R1.
    let n = back.write_as_set(&mut out);
    assert_eq!(&out[..n], &lsrr(4, &[R2, R1])[..]);
    // On the wire to PEER: to R2, listing R1 then PEER.
    let n = back.write_on_wire(PEER, &mut out);
    assert_eq!(&out[..n], &lsrr(4, &[R1, PEER])[..]);
    // What the application sets from IP_RETOPTS goes the same way.
    let send = SendOptions::new(&lsrr(4, &[R2, R1])).unwrap();
    assert_eq!(send.first_hop(), Some(R2));
    send.write(me(0), |_| false, PEER, &mut out);
    assert_eq!(&out[..11], &lsrr(4, &[R1, PEER])[..]);
    // Nothing recorded yet (pointer 4), or only the sender itself: none.
    let area = lsrr(4, &[ME]);
    assert_eq!(
        ReturnRoute::reversed(&area, &Options::parse(&area).unwrap(), PEER, |a| a == ME),
        None
    );
    let area = lsrr(8, &[PEER]);
    assert_eq!(
        ReturnRoute::reversed(&area, &Options::parse(&area).unwrap(), PEER, |a| a == ME),
        None
    );
    // Strict stays strict.
    let mut area = lsrr(8, &[R1]);
    area[0] = kind::STRICT_SOURCE_ROUTE;
    let back =
        ReturnRoute::reversed(&area, &Options::parse(&area).unwrap(), PEER, |_| false).unwrap();
    assert!(back.is_strict());
}

#[test]
fn an_echo_reply_and_ip_retopts_carry_the_route_back() {
    // A record route and a source route that ended here.
    let mut area = vec![kind::RECORD_ROUTE, 11, 8, 192, 0, 2, 1, 0, 0, 0, 0];
    area.extend(lsrr(12, &[R1, R2]));
    area.extend([kind::END; 2]);
    let found = Options::parse(&area).unwrap();
    let back = ReturnRoute::reversed(&area, &found, PEER, |a| a == ME).unwrap();
    let mut out = [0xAA; MAX_LEN];
    let n = echo_reply(
        &area,
        &found,
        me(0),
        |a| a == ME,
        Some((&back, PEER)),
        &mut out,
    );
    let mut want = vec![kind::RECORD_ROUTE, 11, 12, 192, 0, 2, 1, 192, 0, 2, 2];
    want.extend(lsrr(4, &[R1, PEER]));
    want.extend([kind::END; 2]);
    assert_eq!(&out[..n], &want[..]);
    // IP_RETOPTS: the record route as it came, the route as set.
    let n = return_options(&area, PEER, &mut out);
    let mut want = area[..11].to_vec();
    want.extend(lsrr(4, &[R2, R1]));
    want.extend([kind::END; 2]);
    assert_eq!(&out[..n], &want[..]);
    assert_eq!(return_options(&[kind::END; 4], PEER, &mut out), 0);
}
