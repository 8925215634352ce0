//! Software GSO (`Config::gso`, `conn::gso`): a GSO packet's whole-MSS
//! pieces planned and accounted at once, written one per poll. The frames
//! must be those of sending the pieces one by one, whatever the loss; a
//! packet whose pieces wait across the application's calls, ACKs and
//! timers still delivers everything; and a piece that can no longer go as
//! planned is given up, not sent wrong.

use super::in_packet::{Driver, bulk, op, steps_with};
use super::*;
use crate::config::Config;
use crate::tcp::conn::output::in_packet;
use crate::wire::tcp::TcpPacket;
use proptest::prelude::*;

/// Pieces written after their packet's first, while `f` runs.
fn counting_pieces<T>(f: impl FnOnce() -> T) -> (T, u64) {
    in_packet::PIECES.with(|n| n.set(0));
    let out = f();
    (out, in_packet::PIECES.with(|n| n.get()))
}

/// Drained every round, two stacks moving a bulk transfer over a lossy
/// path put the same frames on the wire with GSO as without, and end
/// with the same counters; with GSO most data segments were pieces.
#[test]
fn a_drained_bulk_transfer_sends_the_same_frames_with_gso_or_without() {
    const BYTES: usize = 400_000;
    for (seed, loss) in [(11, 0.0), (12, 0.0), (13, 0.02), (14, 0.05), (15, 0.1)] {
        let one_by_one = Driver {
            gso: false,
            drain: true,
        };
        let (plain, none) = counting_pieces(|| bulk(seed, loss, BYTES, one_by_one));
        let (gso, pieces) = counting_pieces(|| {
            bulk(
                seed,
                loss,
                BYTES,
                Driver {
                    gso: true,
                    ..one_by_one
                },
            )
        });
        assert_eq!(none, 0, "seed {seed}: no pieces without GSO");
        assert_eq!(plain.received.len(), BYTES, "seed {seed}: all delivered");
        assert!(plain.received == gso.received, "seed {seed}: the data");
        assert_eq!(
            plain.frames.len(),
            gso.frames.len(),
            "seed {seed} loss {loss}"
        );
        for (i, (x, y)) in plain.frames.iter().zip(&gso.frames).enumerate() {
            assert!(x == y, "seed {seed} loss {loss}: frame {i} differs");
        }
        assert_eq!(plain.stats, gso.stats, "seed {seed}");
        // Nearly every piece took the stack's short way.
        assert!(
            gso.stack_pieces * 10 >= pieces * 9,
            "seed {seed}: {} of {pieces}",
            gso.stack_pieces
        );
        // Segments sent while loss recovery has work go one by one.
        let data_frames = (BYTES / 1448) as u64;
        let share = if loss == 0.0 { 2 } else { 8 };
        assert!(
            pieces * share > data_frames,
            "seed {seed} loss {loss}: {pieces} pieces of about {data_frames} segments"
        );
    }
}

/// Polled a random number of frames at a time, so a packet's pieces wait
/// across the application's writes and reads (and, with loss, across
/// nothing else: time moves only once A is drained), the transfer still
/// delivers every byte in order.
#[test]
fn pieces_left_for_the_next_poll_still_deliver_everything() {
    const BYTES: usize = 400_000;
    let driver = Driver {
        gso: true,
        drain: false,
    };
    for (seed, loss) in [(21, 0.0), (22, 0.03), (23, 0.1)] {
        let (out, pieces) = counting_pieces(|| bulk(seed, loss, BYTES, driver));
        let data: Vec<u8> = (0..BYTES).map(|i| (i * 7 + i / 1000) as u8).collect();
        assert!(out.received == data, "seed {seed} loss {loss}: the data");
        assert!(pieces > 50, "seed {seed}: {pieces} pieces");
    }
}

/// Polls one segment; its header, parsed.
fn poll_one(h: &mut Harness) -> Option<(Vec<u8>, u32, TcpFlags)> {
    let mut buf = [0u8; 2000];
    h.env.tx = Default::default();
    let n = h.conn.poll_transmit(h.now, &mut buf, &mut h.env)?;
    let p = TcpPacket::new_unchecked(&buf[..n]);
    let (seq, flags) = (p.seq_number().0, p.flags());
    Some((buf[..n].to_vec(), seq, flags))
}

/// An established connection with GSO, 10 MSS of data written: the first
/// poll writes the first piece of a packet and leaves the rest pending.
fn with_a_packet_pending() -> Harness {
    let mut h = Harness::established_with(Config::default());
    h.at(1_000);
    h.send(&[7; 10 * 1448]);
    let (_, seq, flags) = poll_one(&mut h).expect("the first piece");
    assert_eq!(seq, ISS + 1);
    assert!(
        !flags.contains(TcpFlags::PSH),
        "a packet's first piece has no PSH"
    );
    assert!(h.conn.core.pending.pieces(), "its other pieces are pending");
    h
}

/// The pieces follow with their own sequence numbers and checksums, PSH
/// on the packet's last alone; each parses and verifies like any segment.
#[test]
fn a_packets_pieces_follow_in_order_with_psh_on_the_last() {
    let mut h = with_a_packet_pending();
    let mut seqs = vec![ISS + 1];
    let mut last_flags = TcpFlags::empty();
    while h.conn.core.pending.pieces() {
        let (bytes, seq, flags) = poll_one(&mut h).expect("a piece");
        let (local, remote) = (h.conn.core.local, h.conn.core.remote);
        let repr = crate::wire::tcp::TcpRepr::parse(
            &TcpPacket::new_checked(&bytes[..]).unwrap(),
            *local.ip(),
            *remote.ip(),
            crate::wire::Checksum::Full,
        )
        .expect("a piece verifies");
        assert_eq!(repr.payload.len(), 1448);
        assert!(!flags.contains(TcpFlags::FIN));
        seqs.push(seq);
        last_flags = flags;
    }
    assert!(seqs.len() >= 2, "{seqs:?}");
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1448, "{seqs:?}");
    }
    assert!(
        last_flags.contains(TcpFlags::PSH),
        "PSH on the packet's last piece"
    );
}

/// An ACK for everything accounted as sent, pieces not yet written
/// included (no peer could have received them: a broken or hostile one),
/// gives the rest of the packet up: no piece of freed data goes.
#[test]
fn an_ack_beyond_the_written_pieces_gives_the_packet_up() {
    let mut h = with_a_packet_pending();
    let nxt = h.conn.state.send_half().unwrap().nxt;
    h.at(1_010);
    h.feed(seg(".", IRS + 1, Some(nxt.0)));
    let snd_una = h.conn.state.send_half().unwrap().una;
    while let Some((bytes, seq, _)) = poll_one(&mut h) {
        let p = TcpPacket::new_unchecked(&bytes[..]);
        let len = bytes.len() - usize::from(p.header_len());
        assert!(
            len == 0 || !SeqNum(seq).before(snd_una),
            "freed data sent at {seq}"
        );
    }
    assert!(!h.conn.core.pending.pieces(), "the packet was given up");
}

/// An abort between pieces sends its RST, and no piece after it.
#[test]
fn an_abort_between_pieces_sends_the_rst_and_nothing_more() {
    let mut h = with_a_packet_pending();
    h.conn.abort(h.now, &mut h.env);
    let (_, _, flags) = poll_one(&mut h).expect("the RST");
    assert!(flags.contains(TcpFlags::RST));
    assert!(poll_one(&mut h).is_none(), "no piece after the RST");
    assert!(!h.conn.core.pending.pieces());
}

/// RFC 3168 §6.1.2: after an ECE the next new data carries CWR once:
/// on a packet's first piece, not on its others, all of them ECT(0).
#[test]
fn cwr_goes_on_a_packets_first_piece_only() {
    // The handshake of `Harness::established`, ECN agreed (RFC 3168
    // §6.1.1: the SYN-ACK's ECE answers our SYN's ECE and CWR).
    let mut h = Harness::client(Config {
        tcp_ecn: 1,
        ..Config::default()
    });
    let syn = h.output();
    h.at(100);
    let mut syn_ack = seg("S.", IRS, Some(ISS + 1))
        .linux_syn_opts()
        .ts(700, syn[0].ts_val().map_or(0, |t| t.tsval))
        .win(65_535);
    syn_ack.flags |= TcpFlags::ECE;
    h.feed(syn_ack);
    assert_eq!(h.output().len(), 1, "the handshake's ACK");
    h.at(1_000);
    h.send(&[1; 3 * 1448]);
    while poll_one(&mut h).is_some() {}
    h.at(1_020);
    let (una, _) = h.snd_una_nxt();
    let mut ack = seg(".", h.rcv_nxt().0, Some((una + 1448u32).0)).win(65_535);
    ack.flags |= TcpFlags::ECE;
    let _ = h.input(ack.ts(800, Harness::tsval_at(1_000)));
    h.send(&[2; 20 * 1448]);
    let mut sent = Vec::new();
    while let Some((_, _, flags)) = poll_one(&mut h) {
        sent.push((flags, h.env.tx.ecn));
        if !h.conn.core.pending.pieces() {
            break;
        }
    }
    assert!(sent.len() >= 2, "a packet of two or more pieces: {sent:?}");
    assert!(sent[0].0.contains(TcpFlags::CWR), "{sent:?}");
    assert!(
        sent[1..].iter().all(|(f, _)| !f.contains(TcpFlags::CWR)),
        "{sent:?}"
    );
    assert!(
        sent.iter().all(|&(_, e)| e == crate::tcp::ecn::Ecn::Ect0),
        "{sent:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any history of writes, polls of one segment or all, the peer's ACKs
    /// (of any part of what is in flight, beyond what the pieces written so
    /// far cover, with SACK blocks, zero windows, CE echoes), its data,
    /// timers, offload switched on and off, a shutdown: with GSO every
    /// segment sent verifies and carries only the application's bytes.
    #[test]
    fn with_gso_every_segment_verifies_and_carries_the_applications_bytes(
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let (_, segments) = steps_with(&ops, true);
        let h = Harness::established();
        let (local, remote) = (h.conn.core.local, h.conn.core.remote);
        for (offload, bytes) in &segments {
            let packet = TcpPacket::new_checked(&bytes[..]).expect("a segment");
            // With the offload allowance data goes with a partial checksum
            // for the device to finish: checked whole when written plain.
            let checksum = if *offload {
                crate::wire::Checksum::Offload
            } else {
                crate::wire::Checksum::Full
            };
            let repr =
                crate::wire::tcp::TcpRepr::parse(&packet, *local.ip(), *remote.ip(), checksum)
                    .expect("a segment verifies");
            prop_assert!(repr.payload.iter().all(|&b| b == 0x5A));
        }
    }
}
