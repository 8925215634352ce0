//! Software GRO (`Stack::handle_frames`): a batch of frames in, a flow's
//! consecutive segments merged into one super-packet, everything else as
//! frame by frame.

use super::*;

/// A's frames for `len` bytes of data (plain, MSS-sized, full checksums).
fn segments(w: &mut Wire, c: ConnHandle, len: usize) -> Vec<Vec<u8>> {
    let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 7) as u8).collect();
    assert_eq!(w.a.tcp_send(w.now, c, &data), Ok(len));
    let mut out = Vec::new();
    let mut buf = [0xAAu8; 2000];
    while let Some(n) = w.a.poll_transmit(w.now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn read_all(s: &mut Stack, now: Instant, c: ConnHandle) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.tcp_recv(now, c, &mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

fn mss(w: &Wire, c: ConnHandle) -> usize {
    w.a.tcp_info(c).unwrap().snd_mss as usize
}

#[test]
fn a_flows_consecutive_segments_go_in_as_one_super_packet() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let mss = mss(&w, c);
    let frames = segments(&mut w, c, 10 * mss);
    assert_eq!(frames.len(), 10);
    let before = w.b.tcp_info(s).unwrap();
    let in_segs = w.b.stats().tcp.in_segs;
    w.b.handle_frames(w.now, IfaceId(0), frames.iter().map(Vec::as_slice));
    assert_eq!(w.b.stats().tcp.in_segs - in_segs, 1, "one engine pass");
    let info = w.b.tcp_info(s).unwrap();
    assert_eq!(info.data_segs_in - before.data_segs_in, 10);
    assert_eq!(info.rcv_mss as usize, mss);
    let out = drain(&mut w.b, w.now);
    assert_eq!(out.len(), 1, "one ACK for the run: {out:?}");
    let end = TcpPacket::new_unchecked(&frames[9][20..]).seq_number() + mss as u32;
    assert_eq!(out[0].ack, Some(end.raw()));
    let got = read_all(&mut w.b, w.now, s);
    let want: Vec<u8> = (0..10 * mss).map(|i| (i * 31 + i / 7) as u8).collect();
    assert_eq!(got, want);
    assert_eq!(w.b.stats().tcp.in_csum_errors, 0);
}

#[test]
fn a_gap_or_a_bare_ack_splits_the_run_and_nothing_is_lost() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let mss = mss(&w, c);
    let frames = segments(&mut w, c, 6 * mss);
    // A bare ACK from A between segments 1 and 2 (a window update), and
    // segment 4 missing.
    let una = TcpPacket::new_unchecked(&frames[0][20..]).ack_number();
    let peer = SocketAddrV4::new(B, PORT);
    let local = TcpPacket::new_unchecked(&frames[0][20..]).src_port();
    let ack = packet(
        SocketAddrV4::new(A, local),
        peer,
        TcpFlags::ACK,
        TcpPacket::new_unchecked(&frames[2][20..])
            .seq_number()
            .raw(),
        Some(una.raw()),
        b"",
    );
    let batch = [
        &frames[0][..],
        &frames[1],
        &ack,
        &frames[2],
        &frames[3],
        &frames[5],
    ];
    let in_segs = w.b.stats().tcp.in_segs;
    w.b.handle_frames(w.now, IfaceId(0), batch);
    assert_eq!(
        w.b.stats().tcp.in_segs - in_segs,
        4,
        "0-1, the ACK, 2-3, then 5 alone"
    );
    assert_eq!(read_all(&mut w.b, w.now, s).len(), 4 * mss);
    // The hole filled: everything.
    w.b.handle_frames(w.now, IfaceId(0), [&frames[4][..]]);
    assert_eq!(read_all(&mut w.b, w.now, s).len(), 2 * mss);
    assert_eq!(w.b.tcp_info(s).unwrap().data_segs_in, 6);
}

/// The batch loop's edges: a frame that is no candidate first, between
/// runs and last; a run that ends the batch; a batch of two.
#[test]
fn frames_that_are_no_candidates_at_either_end_go_in_alone_and_runs_between_merge() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let mss = mss(&w, c);
    let frames = segments(&mut w, c, 7 * mss);
    // Too short for an IP header: dropped, no TCP segment.
    let junk = [0x45_u8, 0, 0, 8];
    let batch = [
        &junk[..],
        &frames[0],
        &frames[1],
        &frames[2],
        &junk,
        &frames[3],
        &frames[4],
        &junk,
    ];
    let in_segs = w.b.stats().tcp.in_segs;
    w.b.handle_frames(w.now, IfaceId(0), batch);
    assert_eq!(w.b.stats().tcp.in_segs - in_segs, 2, "0-2, then 3-4");
    assert_eq!(read_all(&mut w.b, w.now, s).len(), 5 * mss);
    // Two frames, one run, the batch's end.
    w.b.handle_frames(w.now, IfaceId(0), [&frames[5][..], &frames[6]]);
    assert_eq!(w.b.stats().tcp.in_segs - in_segs, 3, "then 5-6");
    assert_eq!(read_all(&mut w.b, w.now, s).len(), 2 * mss);
    assert_eq!(w.b.tcp_info(s).unwrap().data_segs_in, 7);
}

#[test]
fn a_corrupted_segment_is_not_merged_and_is_counted() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let mss = mss(&w, c);
    let mut frames = segments(&mut w, c, 4 * mss);
    let last = frames[1].len() - 5;
    frames[1][last] ^= 0x40;
    w.b.handle_frames(w.now, IfaceId(0), frames.iter().map(Vec::as_slice));
    assert_eq!(w.b.stats().tcp.in_csum_errors, 1);
    // Segment 0 is in; 2 and 3 wait behind the hole the bad one left.
    assert_eq!(read_all(&mut w.b, w.now, s).len(), mss);
    // A corrupted first segment: never copied into a run.
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let mut frames = segments(&mut w, c, 3 * mss);
    let last = frames[0].len() - 1;
    frames[0][last] ^= 0x01;
    w.b.handle_frames(w.now, IfaceId(0), frames.iter().map(Vec::as_slice));
    assert_eq!(w.b.stats().tcp.in_csum_errors, 1);
    assert_eq!(read_all(&mut w.b, w.now, s).len(), 0);
}

#[test]
fn a_bad_ip_header_in_the_middle_is_dropped_as_frame_by_frame() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let mss = mss(&w, c);
    let mut frames = segments(&mut w, c, 3 * mss);
    frames[1][8] ^= 0x01; // TTL: the IP checksum no longer holds
    w.b.handle_frames(w.now, IfaceId(0), frames.iter().map(Vec::as_slice));
    assert_eq!(w.b.stats().ip.in_csum_errors, 1);
    assert_eq!(read_all(&mut w.b, w.now, s).len(), mss);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Whatever happens to the frames (lost, duplicated, reordered,
        /// corrupted), a batch leaves the receiver with the bytes and the
        /// counters frame-by-frame delivery gives.
        #[test]
        fn a_batch_ends_where_frame_by_frame_delivery_ends(
            n in 1usize..=10,
            edits in proptest::collection::vec((0u8..5, any::<u16>(), any::<u16>()), 0..6),
        ) {
            // Two identical worlds (same seeds): one gets the batch.
            let mut w = Wire::new();
            let (c, s) = connected(&mut w);
            let mut twin = Wire::new();
            let (c2, s2) = connected(&mut twin);
            prop_assert_eq!((c, s), (c2, s2));
            let mss = mss(&w, c);
            let mut frames = segments(&mut w, c, n * mss - mss / 3);
            prop_assert_eq!(&frames, &segments(&mut twin, c, n * mss - mss / 3));
            for (op, i, j) in edits {
                let i = usize::from(i) % frames.len();
                match op {
                    0 => { frames.remove(i); }
                    1 => { let f = frames[i].clone(); frames.insert(i, f); }
                    2 => { let j = usize::from(j) % frames.len(); frames.swap(i, j); }
                    3 => { let at = usize::from(j) % frames[i].len(); frames[i][at] ^= 0x04; }
                    _ => { let at = frames[i].len() - 1; frames[i][at] ^= 0x80; }
                }
                if frames.is_empty() {
                    break;
                }
            }
            let plain = &mut twin.b;
            for f in &frames {
                plain.handle_frame(w.now, f);
            }
            w.b.handle_frames(w.now, IfaceId(0), frames.iter().map(Vec::as_slice));
            let (gro, one) = (w.b.tcp_info(s).unwrap(), plain.tcp_info(s).unwrap());
            prop_assert_eq!(gro.bytes_received, one.bytes_received);
            prop_assert_eq!(w.b.stats().tcp.in_csum_errors, plain.stats().tcp.in_csum_errors);
            prop_assert_eq!(read_all(&mut w.b, w.now, s), read_all(plain, w.now, s));
        }
    }
}

#[test]
fn on_ethernet_a_run_shares_one_link_header_and_a_frame_for_another_station_splits_it() {
    let mut lan = Lan::new(vec![eth_stack(A, 1, config(1)), eth_stack(B, 2, config(2))]);
    let (c, s) = lan.connected(80);
    let now = lan.now;
    let mss = lan.hosts[0].tcp_info(c).unwrap().snd_mss as usize;
    let data: Vec<u8> = (0..6 * mss).map(|i| (i % 251) as u8).collect();
    assert_eq!(lan.hosts[0].tcp_send(now, c, &data), Ok(data.len()));
    let mut frames = Vec::new();
    let mut buf = [0u8; 2000];
    while let Some(n) = lan.hosts[0].poll_transmit(now, &mut buf) {
        frames.push(buf[..n].to_vec());
    }
    assert_eq!(frames.len(), 6);
    // A copy of segment 3 sent to another station: dropped, and it ends
    // the run (its link header differs).
    let mut stray = frames[3].clone();
    stray[..6].copy_from_slice(&mac(9).0);
    let mut batch: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    batch.insert(3, &stray);
    let b = &mut lan.hosts[1];
    let in_segs = b.stats().tcp.in_segs;
    b.handle_frames(now, IfaceId(0), batch);
    assert_eq!(b.stats().tcp.in_segs - in_segs, 2, "0-2, then 3-5");
    assert_eq!(b.stats().eth.in_other_host, 1);
    assert_eq!(b.tcp_info(s).unwrap().rcv_mss as usize, mss);
    assert_eq!(read_all(b, now, s), data);
}
