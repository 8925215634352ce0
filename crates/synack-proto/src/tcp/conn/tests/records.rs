//! Record boundaries (MSG_EOR): no segment holds bytes from both sides of
//! one, whether sent first, in a super-segment or again.

use super::*;
use proptest::prelude::*;

const OURS: u32 = ISS + 1;
const MSS: usize = 1448;

fn eor() -> SendFlags {
    SendFlags {
        eor: true,
        ..SendFlags::default()
    }
}

impl Harness {
    fn send_record(&mut self, data: &[u8]) -> usize {
        self.conn
            .send(self.now, data, eor(), &mut self.env)
            .expect("send")
    }

    /// An established connection without Nagle and with room to write.
    fn records() -> Harness {
        Self::records_with(Config::default())
    }

    fn records_with(config: Config) -> Harness {
        let mut h = Harness::established_with(config);
        for opt in [
            SocketOption::NoDelay(true),
            SocketOption::SendBuffer(1 << 20),
        ] {
            h.conn.set_option(h.now, opt, &mut h.env).unwrap();
        }
        h
    }

    /// Drains with room for super-segments: (relative seq, length, flags,
    /// GSO size) of each.
    fn output_offloaded(&mut self) -> Vec<(u32, usize, String, u16)> {
        let mut out = Vec::new();
        let mut buf = vec![0xAAu8; 70_000];
        for _ in 0..100 {
            buf.fill(0xAA);
            let Some(n) = self.conn.poll_transmit(self.now, &mut buf, &mut self.env) else {
                return out;
            };
            let packet = TcpPacket::new_checked(&buf[..n]).expect("a valid header");
            let r = TcpRepr::parse(&packet, *LOCAL.ip(), *REMOTE.ip(), Checksum::Full)
                .expect("checksum verifies");
            let gso = self.env.tx.gso_size;
            out.push((
                r.seq.since(SeqNum(OURS)),
                r.payload.len(),
                r.flags.to_string(),
                gso,
            ));
        }
        panic!("the connection kept transmitting");
    }
}

/// (relative seq, length, flags) of each segment.
fn layout(out: &[Seg]) -> Vec<(u32, usize, String)> {
    out.iter()
        .map(|s| (s.seq.since(SeqNum(OURS)), s.payload.len(), s.f()))
        .collect()
}

fn row(seq: u32, len: usize, flags: &str) -> (u32, usize, String) {
    (seq, len, flags.to_string())
}

#[test]
fn a_small_record_goes_alone_and_the_next_write_does_not_join_it() {
    let mut h = Harness::records();
    assert_eq!(h.send_record(&[1; 400]), 400);
    assert_eq!(h.send(&[2; 2000]), 2000);
    // Without the boundary: 1448 and 952. The record's end is a write's
    // end: PSH (Linux `tcp_push`).
    assert_eq!(
        layout(&h.output()),
        [row(0, 400, "P."), row(400, 1448, "."), row(1848, 552, "P.")]
    );
}

#[test]
fn a_record_is_cut_at_the_mss_and_at_its_end_and_back_to_back_records_stay_apart() {
    let mut h = Harness::records();
    h.send_record(&[1; 2000]);
    h.send_record(&[2; 100]);
    h.send_record(&[3; 100]);
    h.send(&[4; 100]);
    assert_eq!(
        layout(&h.output()),
        [
            row(0, MSS, "."),
            row(1448, 552, "P."),
            row(2000, 100, "P."),
            row(2100, 100, "P."),
            row(2200, 100, "P."),
        ]
    );
}

#[test]
fn a_short_write_does_not_end_the_record_until_its_rest_is_queued() {
    let mut h = Harness::records();
    h.conn
        .set_option(h.now, SocketOption::SendBuffer(2048), &mut h.env)
        .unwrap();
    let limit = h.conn.state.send_half().unwrap().buffer_limit();
    let n = h.send_record(&vec![1; limit + 500]);
    assert_eq!(n, limit, "a short write");
    assert_eq!(
        h.conn.state.send_half().unwrap().record_room(SeqNum(OURS)),
        u32::MAX,
        "no boundary yet"
    );
    h.output();
    h.at(200);
    h.feed(seg(".", IRS + 1, Some(OURS + limit as u32)).ts(800, Harness::tsval_at(100)));
    h.send_record(&[1; 500]);
    h.send(&[2; 100]);
    let out = layout(&h.output());
    assert_eq!(out[0], row(limit as u32, 500, "P."), "{out:?}");
    assert_eq!(out[1], row(limit as u32 + 500, 100, "P."));
}

#[test]
fn a_super_segment_stops_at_the_record_boundary() {
    let mut h = Harness::records();
    h.env.tx.max_segment = 65_535;
    h.send_record(&[1; 5000]);
    h.send(&[2; 5000]);
    // 3 whole pieces, the record's 656-byte tail, then the next write.
    assert_eq!(
        h.output_offloaded(),
        [
            (0, 3 * MSS, "P.".to_string(), MSS as u16),
            (4344, 656, "P.".to_string(), 0),
            (5000, 3 * MSS, "P.".to_string(), MSS as u16),
            (9344, 656, "P.".to_string(), 0),
        ]
    );
}

#[test]
fn retransmissions_keep_the_record_boundaries() {
    // No loss probes: the timer alone.
    let mut h = Harness::records_with(Config {
        tcp_early_retrans: 0,
        ..Config::default()
    });
    h.send_record(&[1; 400]);
    h.send_record(&[2; 400]);
    h.send(&[3; 1000]);
    assert_eq!(h.output().len(), 3);
    // The retransmission timer fires (RTO 300 ms after a 100 ms sample):
    // all three go again at 400 ms, each as it was.
    let sent = h.run_until(450);
    let out: Vec<Seg> = sent.iter().map(|(_, s)| s.clone()).collect();
    assert!(sent.iter().all(|(t, _)| *t == 400));
    assert_eq!(
        layout(&out),
        [row(0, 400, "P."), row(400, 400, "P."), row(800, 1000, "P.")]
    );
}

#[test]
fn boundaries_go_once_acknowledged_and_their_memory_with_the_idle_buffers() {
    let mut h = Harness::records();
    h.send_record(&[1; 400]);
    h.send_record(&[2; 400]);
    h.output();
    let snd = h.conn.state.send_half().unwrap();
    assert_eq!(snd.record_room(SeqNum(OURS + 400)), 400);
    h.at(200);
    h.feed(seg(".", IRS + 1, Some(OURS + 800)).ts(800, Harness::tsval_at(100)));
    let snd = h.conn.state.send_half().unwrap();
    assert_eq!(snd.record_room(SeqNum(OURS + 800)), u32::MAX);
    let before = h.conn.state.send_half().unwrap().allocated();
    h.conn.state.send_half_mut().unwrap().release_if_empty();
    assert!(h.conn.state.send_half().unwrap().allocated() < before);
    assert_eq!(h.conn.state.send_half().unwrap().allocated(), 0);
}

impl Harness {
    /// Fires timers up to `ms` like [`Harness::run_until`], draining with
    /// room for super-segments.
    fn run_until_offloaded(&mut self, ms: u64) -> Vec<(u32, usize, String, u16)> {
        let end = Instant::from_millis(ms);
        let mut out = self.output_offloaded();
        for _ in 0..10_000 {
            match self.conn.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.conn.handle_timeout(self.now, &mut self.env);
                    out.extend(self.output_offloaded());
                }
                _ => {
                    self.now = self.now.max(end);
                    return out;
                }
            }
        }
        panic!("timers kept firing");
    }
}

/// One step of the property test: a write (with or without MSG_EOR), an
/// ACK for part of what is in flight, and time passing.
#[derive(Clone, Debug)]
struct Step {
    len: usize,
    eor: bool,
    /// Per mille of the flight to acknowledge; 0 sends no ACK.
    ack_permille: u32,
    advance_ms: u64,
}

fn step() -> impl Strategy<Value = Step> {
    (1usize..4000, any::<bool>(), 0u32..1000, 0u64..700).prop_map(
        |(len, eor, ack_permille, advance_ms)| Step {
            len,
            eor,
            ack_permille,
            advance_ms,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn no_segment_ever_crosses_a_record_boundary(
        steps in proptest::collection::vec(step(), 1..16),
        tso in any::<bool>(),
        nodelay in any::<bool>(),
    ) {
        let mut h = Harness::records();
        h.conn.set_option(h.now, SocketOption::NoDelay(nodelay), &mut h.env).unwrap();
        if tso {
            h.env.tx.max_segment = 65_535;
        }
        let mut written = 0u32;
        let mut boundaries = Vec::new();
        let mut sent = Vec::new();
        for s in steps {
            let data = vec![0x42; s.len];
            let flags = SendFlags { eor: s.eor, ..SendFlags::default() };
            let n = h.conn.send(h.now, &data, flags, &mut h.env).unwrap_or(0);
            written += n as u32;
            if s.eor && n == s.len {
                boundaries.push(written);
            }
            sent.extend(h.output_offloaded());
            let (una, nxt) = h.snd_una_nxt();
            if s.ack_permille > 0 && nxt.after(una) {
                let acked = u64::from(nxt.since(una)) * u64::from(s.ack_permille) / 1000;
                let ack = una + acked as u32;
                let tsval = h.conn.core.ts_recent.map_or(0, |r| r.value()) + 1;
                let _ = h.input(
                    seg(".", IRS + 1, Some(ack.raw())).ts(tsval, Harness::tsval_at(h.now.total_millis())),
                );
                sent.extend(h.output_offloaded());
            }
            let until = h.now.total_millis() + s.advance_ms;
            sent.extend(h.run_until_offloaded(until));
        }
        for (seq, len, _, _) in &sent {
            let (start, end) = (*seq, *seq + *len as u32);
            for b in &boundaries {
                prop_assert!(
                    !(start < *b && *b < end),
                    "segment {start}..{end} crosses the record boundary at {b}"
                );
            }
        }
    }
}
