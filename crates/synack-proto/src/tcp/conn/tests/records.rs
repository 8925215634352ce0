//! Record boundaries (MSG_EOR): no segment holds bytes from both sides of
//! one, whether sent first, in a super-segment or again.

use super::*;

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
