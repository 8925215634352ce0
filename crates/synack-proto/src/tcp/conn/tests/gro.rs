//! Receive offload: a GRO super-packet (one segment standing for several
//! of `Env::rx_gso` bytes) is one segment for sequence space and N for
//! everything that counts segments (Linux `tcp_measure_rcv_mss`,
//! `tcp_segs_in`).

use super::*;

/// The peer's data at `seq`, `len` bytes, acking our SYN.
fn data(seq: u32, len: usize) -> Seg {
    seg(".", seq, Some(ISS + 1)).len(len)
}

impl Harness {
    /// Delivers `s` as a super-packet of `gso`-byte segments.
    fn feed_gro(&mut self, s: Seg, gso: u16) {
        self.env.rx_gso = gso;
        let d = self.input(s);
        self.env.rx_gso = 0;
        assert_eq!(d, Disposition::Accepted);
    }
}

#[test]
fn a_super_packet_measures_the_receive_mss_from_its_gso_size() {
    let mut h = Harness::established();
    assert_eq!(h.info().rcv_mss, 536, "Linux's initial estimate");
    h.feed_gro(data(IRS + 1, 10_000), 1000);
    // Not min(10000, advmss 1460): the peer's segments are 1000 bytes.
    assert_eq!(h.info().rcv_mss, 1000);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, Some(SeqNum(IRS + 1 + 10_000)));
    assert_eq!(h.info().bytes_received, 10_000);
}

#[test]
fn a_super_packet_counts_the_segments_it_stands_for() {
    let mut h = Harness::established();
    let before = h.info();
    h.feed_gro(data(IRS + 1, 10_001), 1000);
    let info = h.info();
    assert_eq!(info.segs_in - before.segs_in, 11);
    assert_eq!(info.data_segs_in - before.data_segs_in, 11);
    // A plain segment after it counts one.
    h.feed(data(IRS + 1 + 10_001, 1000));
    assert_eq!(h.info().segs_in - info.segs_in, 1);
    assert_eq!(h.info().data_segs_in - info.data_segs_in, 1);
}

#[test]
fn a_super_packet_of_two_segments_is_acked_at_once_as_two_full_segments() {
    let mut h = Harness::established();
    let mut seq = IRS + 1;
    // First data (quick-ACK mode starts), then no quick ACKs left.
    h.feed(data(seq, 100));
    seq += 100;
    assert_eq!(h.output().len(), 1);
    h.conn.core.ack.quick = 0;
    // 1400 bytes in 700-byte segments: two full segments, RFC 1122
    // §4.2.3.2 "at least every second full-sized segment". Taken as one
    // 1400-byte segment it would set rcv_mss to 1400 and wait.
    h.feed_gro(data(seq, 1400), 700);
    seq += 1400;
    assert_eq!(h.info().rcv_mss, 700);
    let out = h.output();
    assert_eq!(out.len(), 1, "acknowledged at once");
    assert_eq!(out[0].ack, Some(SeqNum(seq)));
}

#[test]
fn a_gso_size_that_does_not_cut_the_payload_is_a_plain_segment() {
    for gso in [0, 1448, 5000] {
        let mut h = Harness::established();
        let before = h.info();
        h.feed_gro(data(IRS + 1, 1448), gso);
        let info = h.info();
        assert_eq!(info.rcv_mss, 1448, "gso {gso}");
        assert_eq!(info.data_segs_in - before.data_segs_in, 1, "gso {gso}");
    }
}

#[test]
fn a_tiny_gso_size_inflates_counters_but_never_lowers_the_receive_mss() {
    let mut h = Harness::established();
    h.feed(data(IRS + 1, 1448));
    let before = h.info();
    assert_eq!(before.rcv_mss, 1448);
    // A hostile device: 1-byte segments.
    h.feed_gro(data(IRS + 1 + 1448, 1448), 1);
    let info = h.info();
    assert_eq!(info.rcv_mss, 1448);
    assert_eq!(info.data_segs_in - before.data_segs_in, 1448);
    assert_eq!(info.bytes_received, 2 * 1448);
}
