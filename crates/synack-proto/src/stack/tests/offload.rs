//! Send-side offloads: TSO super-segments and partial checksums, checked by
//! a software "device" that finishes checksums and cuts super-segments as
//! a NIC (or the kernel behind a TAP) would, then hands plain segments to a
//! receiver that verifies every checksum.

use super::*;
use crate::wire::checksum;

/// Room for a 64 KiB super-segment.
const BIG: usize = 70_000;

/// A frame from `poll_transmit_offloaded`, its metadata and the TCP header.
struct Sent {
    frame: Vec<u8>,
    offload: Option<FrameOffload>,
}

impl Sent {
    fn tcp(&self) -> TcpPacket<&[u8]> {
        TcpPacket::new_unchecked(&self.frame[20..])
    }
    fn payload_len(&self) -> usize {
        self.frame.len() - 20 - usize::from(self.tcp().header_len())
    }
}

fn drain_offloaded(s: &mut Stack, now: Instant) -> Vec<Sent> {
    let mut buf = vec![0xAAu8; BIG];
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit_offloaded(now, &mut buf) {
        out.push(Sent {
            frame: buf[..t.len].to_vec(),
            offload: t.offload,
        });
        buf.fill(0xAA);
    }
    out
}

/// What the device does: finishes a partial checksum (virtio 1.0
/// §5.1.6.2: sum from `csum_start` to the end, store at `csum_offset`)
/// and cuts a super-segment into `gso_size` pieces, each a plain segment
/// with a complete checksum; PSH and FIN stay on the last piece only.
fn device(sent: &Sent) -> Vec<Vec<u8>> {
    let Some(o) = sent.offload else {
        return vec![sent.frame.clone()];
    };
    let f = &sent.frame;
    let start = usize::from(o.csum_start);
    let field = start + usize::from(o.csum_offset);
    let hdr_len = usize::from(o.hdr_len);
    if o.gso_size == 0 {
        let mut f = f.clone();
        let sum = checksum::data(&f[start..]);
        f[field..field + 2].copy_from_slice(&checksum::finish(sum).to_be_bytes());
        return vec![f];
    }
    let data = &f[hdr_len..];
    let ip = Ipv4Packet::new_unchecked(&f[..20]);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let seq = TcpPacket::new_unchecked(&f[20..]).seq_number();
    let flags = f[20 + 13];
    let pieces: Vec<&[u8]> = data.chunks(usize::from(o.gso_size)).collect();
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut p = f[..hdr_len].to_vec();
            p.extend_from_slice(chunk);
            let total = p.len() as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            p[10..12].copy_from_slice(&[0, 0]);
            let ip_sum = checksum::finish(checksum::data(&p[..20]));
            p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
            let piece_seq = seq + (i * usize::from(o.gso_size)) as u32;
            p[24..28].copy_from_slice(&piece_seq.raw().to_be_bytes());
            // PSH (0x08) and FIN (0x01) only on the last piece.
            p[33] = if i == last { flags } else { flags & !0x09 };
            p[field..field + 2].copy_from_slice(&[0, 0]);
            let tcp = &p[start..];
            let sum = checksum::combine(&[
                checksum::pseudo_header(src, dst, IpProtocol::Tcp, tcp.len() as u32),
                checksum::data(tcp),
            ]);
            p[field..field + 2].copy_from_slice(&checksum::finish(sum).to_be_bytes());
            p
        })
        .collect()
}

/// A connected pair; A's interface does TSO.
fn tso_pair() -> (Wire, ConnHandle, ConnHandle) {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    w.a.set_offloads(
        IfaceId(0),
        Offloads {
            tso: true,
            csum: true,
        },
    );
    (w, c, s)
}

fn mss(w: &Wire, c: ConnHandle) -> usize {
    w.a.tcp_info(c).unwrap().snd_mss as usize
}

#[test]
fn without_offloads_the_offloaded_poll_sends_plain_mss_frames() {
    let mut w = Wire::new();
    let (c, _) = connected(&mut w);
    let mss = mss(&w, c);
    assert_eq!(w.a.offloads(IfaceId(0)), Offloads::default());
    assert_eq!(w.a.tcp_send(w.now, c, &[7u8; 20_000]), Ok(20_000));
    let sent = drain_offloaded(&mut w.a, w.now);
    assert_eq!(sent.len(), 10, "initial window: ten segments");
    for s in &sent {
        assert!(s.offload.is_none());
        assert_eq!(s.payload_len(), mss);
    }
}

#[test]
fn tso_is_not_used_by_plain_poll_transmit() {
    let (mut w, c, _) = tso_pair();
    let mss = mss(&w, c);
    assert_eq!(w.a.tcp_send(w.now, c, &[7u8; 20_000]), Ok(20_000));
    let out = drain(&mut w.a, w.now); // checks every checksum in full
    assert_eq!(out.len(), 10);
    let info = w.a.tcp_info(c).unwrap();
    assert_eq!(info.snd_mss as usize, mss);
}

#[test]
fn a_super_segment_holds_whole_mss_pieces_within_cwnd_with_a_partial_checksum() {
    let (mut w, c, _) = tso_pair();
    let mss = mss(&w, c);
    let segs_before = w.a.tcp_info(c).unwrap().data_segs_out;
    let out_before = w.a.stats().tcp.out_segs;
    let data = vec![7u8; 20 * mss];
    assert_eq!(w.a.tcp_send(w.now, c, &data), Ok(data.len()));
    let sent = drain_offloaded(&mut w.a, w.now);
    assert_eq!(sent.len(), 1, "one super-segment fills the initial window");
    let s = &sent[0];
    let o = s.offload.expect("offload metadata");
    let tcp_header = usize::from(s.tcp().header_len());
    assert_eq!(
        o,
        FrameOffload {
            csum_start: 20,
            csum_offset: 16,
            hdr_len: (20 + tcp_header) as u16,
            gso_size: mss as u16,
        }
    );
    assert_eq!(s.payload_len(), 10 * mss, "cwnd of 10 segments, whole MSS");
    assert_eq!(
        Ipv4Packet::new_unchecked(&s.frame[..]).total_len() as usize,
        s.frame.len()
    );
    assert!(
        s.tcp().flags().contains(TcpFlags::PSH),
        "PSH on a GSO packet of two or more segments, as Linux"
    );
    // The checksum field holds the pseudo-header sum over the whole
    // segment, not complemented; and the payload is the data.
    let tcp_len = (s.frame.len() - 20) as u32;
    assert_eq!(
        s.tcp().checksum(),
        checksum::pseudo_header(A, B, IpProtocol::Tcp, tcp_len)
    );
    assert!(s.frame[20 + tcp_header..].iter().all(|&b| b == 7));
    // Counted as ten segments.
    let info = w.a.tcp_info(c).unwrap();
    assert_eq!(info.data_segs_out - segs_before, 10);
    assert_eq!(w.a.stats().tcp.out_segs - out_before, 10);
    assert_eq!(info.unacked, 10, "packets out: ten segments");
}

#[test]
fn the_tail_under_an_mss_goes_apart_and_every_segment_carries_psh() {
    let (mut w, c, _) = tso_pair();
    let mss = mss(&w, c);
    assert_eq!(
        w.a.tcp_send(w.now, c, &vec![1u8; 3 * mss + 100]),
        Ok(3 * mss + 100)
    );
    let sent = drain_offloaded(&mut w.a, w.now);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].payload_len(), 3 * mss);
    assert!(
        sent[0].tcp().flags().contains(TcpFlags::PSH),
        "a GSO packet: PSH"
    );
    assert_eq!(sent[0].offload.unwrap().gso_size as usize, mss);
    assert_eq!(sent[1].payload_len(), 100);
    assert!(
        sent[1].tcp().flags().contains(TcpFlags::PSH),
        "PSH on the tail"
    );
    let tail = sent[1].offload.expect("a data segment: partial checksum");
    assert_eq!(tail.gso_size, 0, "the tail is a normal segment");

    // Exactly four MSS of data: one super-segment, PSH on it.
    let (mut w, c, _) = tso_pair();
    assert_eq!(w.a.tcp_send(w.now, c, &vec![1u8; 4 * mss]), Ok(4 * mss));
    let sent = drain_offloaded(&mut w.a, w.now);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload_len(), 4 * mss);
    assert!(sent[0].tcp().flags().contains(TcpFlags::PSH));
}

/// What A handed its device: sequence number, data bytes, metadata.
type Log = Vec<(SeqNum, usize, Option<FrameOffload>)>;

/// Runs A to B through the device; `lose(i)` drops the i-th piece A sends.
fn transfer(
    w: &mut Wire,
    c: ConnHandle,
    s: ConnHandle,
    data: &[u8],
    mut lose: impl FnMut(usize, &[u8]) -> bool,
) -> (Vec<u8>, Log) {
    let mut log = Log::new();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut pieces = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let mut plain = [0u8; 2000];
    for _ in 0..200_000 {
        if sent < data.len() {
            sent += w.a.tcp_send(w.now, c, &data[sent..]).unwrap_or(0);
        }
        for frame in drain_offloaded(&mut w.a, w.now) {
            log.push((frame.tcp().seq_number(), frame.payload_len(), frame.offload));
            for piece in device(&frame) {
                pieces += 1;
                if !lose(pieces, &piece) {
                    w.flight.push((w.now + w.delay, true, piece));
                }
            }
        }
        while let Some(n) = w.b.poll_transmit(w.now, &mut plain) {
            w.flight.push((w.now + w.delay, false, plain[..n].to_vec()));
        }
        while let Ok(n) = w.b.tcp_recv(w.now, s, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            return (got, log);
        }
        // The next event: a frame arriving or a timer.
        let next = w
            .flight
            .iter()
            .map(|f| f.0)
            .chain(w.a.poll_timeout())
            .chain(w.b.poll_timeout())
            .min()
            .expect("something is pending");
        w.now = w.now.max(next);
        let (due, rest): (Vec<_>, Vec<_>) = w.flight.drain(..).partition(|f| f.0 <= w.now);
        w.flight = rest;
        for (_, to_b, frame) in due {
            let dst = if to_b { &mut w.b } else { &mut w.a };
            dst.handle_frame(w.now, &frame);
        }
        w.a.handle_timeout(w.now);
        w.b.handle_timeout(w.now);
    }
    panic!("stalled at {} of {} bytes", got.len(), data.len());
}

#[test]
fn a_transfer_through_tso_arrives_intact_with_every_checksum_verified() {
    let (mut w, c, s) = tso_pair();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let (got, log) = transfer(&mut w, c, s, &data, |_, _| false);
    assert_eq!(got, data);
    let largest = log.iter().map(|l| l.1).max().unwrap_or(0);
    assert!(
        largest > 20 * 1448,
        "large super-segments once cwnd grew: {largest}"
    );
    assert_eq!(w.b.stats().tcp.in_csum_errors, 0);
    assert_eq!(w.a.tcp_info(c).unwrap().total_retrans, 0);
}

#[test]
fn a_connection_with_ip_options_sends_plain_segments_through_an_offloading_device() {
    use crate::ip::options::kind;
    let (mut w, c, s) = tso_pair();
    // An 8-byte record route: the offloads' offsets count a 20-byte IP
    // header, so every segment is written whole, MSS-sized and summed.
    let rr = [kind::NOP, kind::RECORD_ROUTE, 7, 4, 0, 0, 0, 0];
    w.a.tcp_set_ip_options(w.now, c, &rr).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut largest = 0;
    let (got, log) = transfer(&mut w, c, s, &data, |_, piece| {
        assert_eq!(piece[0], 0x47, "28 bytes of IP header");
        assert_eq!(&piece[20..24], &[kind::NOP, kind::RECORD_ROUTE, 7, 8]);
        largest = largest.max(piece.len());
        false
    });
    assert_eq!(got, data);
    assert!(log.iter().all(|l| l.2.is_none()), "no TSO, no partial sum");
    assert_eq!(largest, 1500);
    assert_eq!(w.b.stats().tcp.in_csum_errors, 0);
}

#[test]
fn one_lost_piece_of_a_super_segment_is_retransmitted_alone_as_a_normal_segment() {
    let (mut w, c, s) = tso_pair();
    let mss = mss(&w, c);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let mut lost_seq = None;
    let (got, log) = transfer(&mut w, c, s, &data, |i, piece| {
        if i == 3 {
            lost_seq = Some(TcpPacket::new_unchecked(&piece[20..]).seq_number());
            return true;
        }
        false
    });
    assert_eq!(got, data);
    let info = w.a.tcp_info(c).unwrap();
    assert_eq!(info.total_retrans, 1, "only the lost piece went again");
    let lost = lost_seq.expect("the third piece was sent");
    let covering: Vec<_> = log
        .iter()
        .filter(|l| lost.in_window(l.0, l.0 + l.1 as u32))
        .collect();
    assert_eq!(
        covering.len(),
        2,
        "sent in a super-segment, then alone: {covering:?}"
    );
    assert!(
        covering[0].1 > mss && covering[0].0 != lost,
        "first inside a super-segment"
    );
    assert_eq!(
        (covering[1].0, covering[1].1),
        (lost, mss),
        "then one MSS at its start"
    );
    assert_eq!(
        covering[1].2.map(|o| o.gso_size),
        Some(0),
        "a normal segment"
    );
}

#[test]
fn a_full_segment_with_its_fin_stays_one_record_and_goes_again_whole() {
    // Without offloads: only super-segments are recorded per MSS piece.
    let mut w = Wire::new();
    let (c, _) = connected(&mut w);
    let mss = mss(&w, c);
    assert_eq!(w.a.tcp_send(w.now, c, &vec![5u8; mss]), Ok(mss));
    w.a.tcp_shutdown(w.now, c, Shutdown::Write).unwrap();
    let first = drain(&mut w.a, w.now);
    assert_eq!(first.len(), 1);
    assert!(
        first[0].flags.contains(TcpFlags::FIN),
        "data and FIN together"
    );
    // Lost: the retransmission timeout sends it again, data and FIN in one.
    let rto = w.a.poll_timeout().expect("the RTO is armed");
    w.now = rto;
    w.a.handle_timeout(w.now);
    let again = drain(&mut w.a, w.now);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].seq, first[0].seq);
    assert!(again[0].flags.contains(TcpFlags::FIN), "{again:?}");
}

// ---- receive side: GRO super-packets -----------------------------------------

/// A's next frame from `poll_transmit_offloaded`: with TSO on, a
/// super-segment of `pieces` MSS with a partial checksum, as the kernel
/// hands one to a TAP (`NEEDS_CSUM`, `gso_size` = MSS).
fn super_segment(w: &mut Wire, c: ConnHandle, pieces: usize) -> (Vec<u8>, usize) {
    let mss = mss(w, c);
    let data = vec![3u8; pieces * mss];
    assert_eq!(w.a.tcp_send(w.now, c, &data), Ok(data.len()));
    let sent = drain_offloaded(&mut w.a, w.now);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload_len(), pieces * mss);
    (sent[0].frame.clone(), mss)
}

#[test]
fn a_super_packet_with_its_gso_size_is_taken_whole_and_counted_as_its_segments() {
    let (mut w, c, s) = tso_pair();
    let (frame, mss) = super_segment(&mut w, c, 10);
    let before = w.b.tcp_info(s).unwrap();
    let in_segs = w.b.stats().tcp.in_segs;
    let rx = RxOffload {
        csum_trusted: true,
        gso_size: Some(mss as u16),
    };
    w.b.handle_frame_rx(w.now, IfaceId(0), &frame, rx);
    let info = w.b.tcp_info(s).unwrap();
    assert_eq!(info.rcv_mss as usize, mss, "the peer's MSS, not 1460");
    assert_eq!(info.segs_in - before.segs_in, 10);
    assert_eq!(info.data_segs_in - before.data_segs_in, 10);
    assert_eq!(w.b.stats().tcp.in_segs - in_segs, 1, "InSegs: one datagram");
    // Ten full segments: acknowledged at once, all of them.
    let out = drain(&mut w.b, w.now);
    assert_eq!(out.len(), 1);
    let isn_end = TcpPacket::new_unchecked(&frame[20..]).seq_number() + (10 * mss) as u32;
    assert_eq!(out[0].ack, Some(isn_end.raw()));
    let mut buf = vec![0u8; 20 * mss];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(10 * mss));
    // The metadata was for that frame only: a plain frame now is checked.
    let mut bad = frame.clone();
    bad[20 + 16] ^= 0x33;
    w.b.handle_frame(w.now, &bad);
    assert_eq!(w.b.stats().tcp.in_csum_errors, 1);
}

#[test]
fn without_a_gso_size_a_super_packet_is_one_segment() {
    let (mut w, c, s) = tso_pair();
    let (frame, _) = super_segment(&mut w, c, 10);
    let before = w.b.tcp_info(s).unwrap();
    w.b.handle_frame_offloaded(w.now, IfaceId(0), &frame);
    let info = w.b.tcp_info(s).unwrap();
    assert_eq!(info.rcv_mss, 1460, "min(length, advmss)");
    assert_eq!(info.data_segs_in - before.data_segs_in, 1);
}

#[test]
fn hostile_gso_sizes_are_ignored_or_only_count() {
    // gso_size 0 and one larger than the payload: a plain segment.
    for gso in [0u16, 65_535] {
        let (mut w, c, s) = tso_pair();
        let (frame, _) = super_segment(&mut w, c, 4);
        let before = w.b.tcp_info(s).unwrap();
        let rx = RxOffload {
            csum_trusted: true,
            gso_size: Some(gso),
        };
        w.b.handle_frame_rx(w.now, IfaceId(0), &frame, rx);
        let info = w.b.tcp_info(s).unwrap();
        assert_eq!(info.data_segs_in - before.data_segs_in, 1, "gso {gso}");
        assert_eq!(info.rcv_mss, 1460, "gso {gso}");
    }
    // A GSO size on a bare ACK, on ICMP and on UDP: no effect, no panic.
    let (mut w, c, s) = tso_pair();
    let rx = RxOffload {
        csum_trusted: false,
        gso_size: Some(1),
    };
    let peer = SocketAddrV4::new(A, 40000);
    let us = SocketAddrV4::new(B, 9);
    let ack = packet(peer, us, TcpFlags::ACK, 100, Some(5000), b"");
    w.b.handle_frame_rx(w.now, IfaceId(0), &ack, rx);
    let out = drain(&mut w.b, w.now);
    assert_eq!(out.len(), 1, "the reset any stray ACK gets");
    let udp = ip_datagram(
        A,
        B,
        IpProtocol::Udp,
        &[0, 9, 0, 9, 0, 12, 0, 0, 1, 2, 3, 4],
    );
    w.b.handle_frame_rx(w.now, IfaceId(0), &udp, rx);
    let echo = ip_datagram(A, B, IpProtocol::Icmp, &[8, 0, 0xf7, 0xfd, 0, 1, 0, 1]);
    w.b.handle_frame_rx(w.now, IfaceId(0), &echo, rx);
    let mut buf = [0u8; 2000];
    let mut replies = 0;
    while w.b.poll_transmit(w.now, &mut buf).is_some() {
        replies += 1;
    }
    assert_eq!(replies, 2, "port unreachable and the echo reply");
    // The connection is untouched and still works.
    let (frame, mss) = super_segment(&mut w, c, 2);
    let rx = RxOffload {
        csum_trusted: true,
        gso_size: Some(mss as u16),
    };
    w.b.handle_frame_rx(w.now, IfaceId(0), &frame, rx);
    assert_eq!(w.b.tcp_info(s).unwrap().rcv_mss as usize, mss);
}
