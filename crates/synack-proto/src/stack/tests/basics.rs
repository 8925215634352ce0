//! Stack tests: IP-level checks, demux, resets for no connection,
//! listeners, handles, TIME-WAIT entries; two stacks wired back to back.

use super::*;

#[test]
fn a_segment_for_no_connection_draws_the_rfc_9293_reset() {
    let mut s = stack(B, 1);
    let peer = SocketAddrV4::new(A, 40000);
    let us = SocketAddrV4::new(B, 9);
    let t = Instant::ZERO;
    // ACK on: <SEQ=SEG.ACK><CTL=RST>.
    s.handle_frame(t, &packet(peer, us, TcpFlags::ACK, 100, Some(5000), b""));
    let out = drain(&mut s, t);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].ack),
        (TcpFlags::RST, 5000, None)
    );
    assert_eq!((out[0].src, out[0].dst), (us, peer));
    // ACK off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    s.handle_frame(t, &packet(peer, us, TcpFlags::SYN, 100, None, b""));
    let out = drain(&mut s, t);
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].ack),
        (TcpFlags::RST | TcpFlags::ACK, 0, Some(101))
    );
    // Never a reset for a reset.
    s.handle_frame(t, &packet(peer, us, TcpFlags::RST, 100, None, b""));
    assert!(drain(&mut s, t).is_empty());
    assert_eq!(s.stats().tcp.out_rsts, 2);
    assert_eq!(s.stats().tcp.in_segs, 3);
}

#[test]
fn a_listener_resets_acks_and_ignores_resets() {
    // listen-incoming-ack.pkt and listen-incoming-rst.pkt.
    let mut s = stack(B, 1);
    s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080), 1)
        .unwrap();
    let peer = SocketAddrV4::new(A, 40000);
    let us = SocketAddrV4::new(B, 8080);
    let t = Instant::from_millis(100);
    s.handle_frame(t, &packet(peer, us, TcpFlags::ACK, 0, Some(0), b""));
    let out = drain(&mut s, t);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].flags, out[0].seq, out[0].window),
        (TcpFlags::RST, 0, 0)
    );
    s.handle_frame(t, &packet(peer, us, TcpFlags::RST, 0, None, b""));
    assert!(drain(&mut s, t).is_empty());
    s.handle_frame(t, &packet(peer, us, TcpFlags::SYN, 0, None, b""));
    let out = drain(&mut s, t);
    assert_eq!(out[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(out[0].ack, Some(1));
}

#[test]
fn corrupted_and_foreign_frames_are_dropped_and_counted() {
    let mut s = stack(B, 1);
    let peer = SocketAddrV4::new(A, 40000);
    let us = SocketAddrV4::new(B, 9);
    let t = Instant::ZERO;
    let good = packet(peer, us, TcpFlags::ACK, 1, Some(1), b"data");
    // A flipped bit in the TCP part: the TCP checksum catches it.
    let mut bad = good.clone();
    bad[30] ^= 0x01;
    s.handle_frame(t, &bad);
    assert_eq!(s.stats().tcp.in_csum_errors, 1);
    assert_eq!(s.stats().tcp.in_errs, 1);
    // A flipped bit in the IP header: the header checksum catches it.
    let mut bad = good.clone();
    bad[8] ^= 0x01;
    s.handle_frame(t, &bad);
    assert_eq!(s.stats().ip.in_hdr_errors, 1);
    // Not for us, not TCP, cut short.
    let other = packet(
        peer,
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 9), 9),
        TcpFlags::ACK,
        1,
        Some(1),
        b"",
    );
    s.handle_frame(t, &other);
    assert_eq!(s.stats().ip.in_addr_errors, 1);
    // A protocol nobody speaks: RFC 1122 §3.2.2.1 protocol unreachable.
    let mut unknown = good.clone();
    unknown[9] = 99;
    let sum = crate::wire::checksum::data(&{
        let mut h = unknown[..20].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    });
    unknown[10..12].copy_from_slice(&crate::wire::checksum::finish(sum).to_be_bytes());
    s.handle_frame(t, &unknown);
    assert_eq!(s.stats().ip.in_unknown_protos, 1);
    let mut buf = [0xAAu8; 1600];
    let n = s.poll_transmit(t, &mut buf).expect("protocol unreachable");
    assert_eq!((buf[9], buf[20], buf[21]), (1, 3, 2), "ICMP type 3 code 2");
    assert_eq!(&buf[28..n], &unknown[..], "quoting the whole datagram");
    s.handle_frame(t, &good[..15]);
    assert_eq!(s.stats().ip.in_truncated_pkts, 1);
    s.handle_frame(t, &[]);
    assert!(drain(&mut s, t).is_empty(), "nothing answers broken frames");
    assert_eq!(s.stats().ip.in_receives, 6);
    assert_eq!(s.stats().ip.in_delivers, 1);
}

#[test]
fn two_stacks_connect_exchange_and_close() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let (local, remote) = w.a.tcp_addrs(c).unwrap();
    assert_eq!(remote, SocketAddrV4::new(B, PORT));
    assert!((32768..=60999).contains(&local.port()), "an ephemeral port");
    let now = w.now;
    assert_eq!(w.a.tcp_send(now, c, b"hello"), Ok(5));
    w.run_until(200);
    assert!(events(&mut w.b).contains(&Event::Readable(s)));
    let mut buf = [0u8; 16];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    // The client closes first and ends in TIME-WAIT, as a compact entry.
    let now = w.now;
    w.a.tcp_close(now, c);
    w.run_until(300);
    assert!(events(&mut w.b).contains(&Event::PeerClosed(s)));
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(0));
    let now = w.now;
    w.b.tcp_close(now, s);
    w.run_until(400);
    assert_eq!(w.a.connection_count(), (0, 1), "a compact TIME-WAIT entry");
    assert_eq!(w.b.connection_count(), (0, 0));
    assert!(w.a.sockets().any(|s| s.state == TcpState::TimeWait));
    assert_eq!(
        w.a.tcp_state(c),
        TcpState::Closed,
        "the handle was given up"
    );
    assert_eq!(w.a.tcp_send(w.now, c, b"x"), Err(SendError::InvalidHandle));
    w.run_until(61_000);
    assert_eq!(w.a.connection_count(), (0, 0));
    assert_eq!(w.a.stats().tcp_ext.tw, 1);
    assert_eq!(w.a.poll_timeout(), None);
}

#[test]
fn a_time_wait_entry_re_acks_a_retransmitted_fin() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let now = w.now;
    w.a.tcp_close(now, c);
    w.run_until(200);
    assert_eq!(w.a.connection_count(), (1, 0), "FIN-WAIT-2");
    let now = w.now;
    w.b.tcp_close(now, s);
    // Lose the client's last ACK once: the server retransmits its FIN.
    let mut dropped = false;
    w.drop = Box::new(move |to_b, frame| {
        let flags = frame[20 + 13];
        let bare_ack = flags == TcpFlags::ACK.bits() && frame.len() == 20 + 32;
        if to_b && bare_ack && !dropped {
            dropped = true;
            return true;
        }
        false
    });
    w.run_until(5_000);
    assert_eq!(w.b.stats().tcp.retrans_segs, 1, "the FIN, once");
    assert_eq!(w.b.connection_count(), (0, 0), "the FIN was re-ACKed");
    assert_eq!(w.a.connection_count(), (0, 1));
}

#[test]
fn the_accept_queue_bounds_completed_connections() {
    let mut w = Wire::new();
    // listen(fd, 0): Linux's queue holds backlog + 1 = 1 connection.
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 0).unwrap();
    let c1 =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    let c2 =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    w.run_until(200);
    // The queue holds c1: the SYN of c2 is dropped.
    assert_eq!(w.a.tcp_state(c1), TcpState::Established);
    assert_eq!(w.a.tcp_state(c2), TcpState::SynSent);
    assert!(w.b.stats().tcp_ext.listen_drops > 0);
    // Accepting c1 makes room; c2's SYN retransmission gets through.
    let _ = w.b.tcp_accept(l).unwrap();
    w.run_until(2_000);
    assert_eq!(w.a.tcp_state(c2), TcpState::Established);
    assert!(w.b.tcp_accept(l).is_ok());
    assert_eq!(w.b.tcp_accept(l), Err(AcceptError::WouldBlock));
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    let mut w = Wire::new();
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, 9), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    assert_eq!(w.a.tcp_state(c), TcpState::Closed);
    let ev = events(&mut w.a);
    assert!(ev.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Refused
    }));
    let mut buf = [0u8; 1];
    assert_eq!(
        w.a.tcp_recv(w.now, c, &mut buf),
        Err(RecvError::Connection(crate::tcp::conn::ConnError::Refused))
    );
    // The handle stays valid until closed.
    let now = w.now;
    w.a.tcp_close(now, c);
    w.run_until(200);
    assert_eq!(w.a.connection_count(), (0, 0));
}

#[test]
fn time_wait_entries_are_capped_by_tcp_max_tw_buckets() {
    let mut w = Wire::new();
    w.a = Stack::new(
        Config {
            seed: 1,
            tcp_max_tw_buckets: 1,
            ..Config::default()
        },
        Interface::ip(A, 24),
    );
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    for _ in 0..3 {
        let c =
            w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
                .unwrap();
        let t = w.now.total_millis();
        w.run_until(t + 100);
        let s = w.b.tcp_accept(l).unwrap();
        let now = w.now;
        w.a.tcp_close(now, c);
        w.b.tcp_close(now, s);
        w.run_until(t + 300);
    }
    assert_eq!(w.a.connection_count(), (0, 1));
    assert_eq!(w.a.stats().tcp_ext.tcp_time_wait_overflow, 2);
    // The TIME-WAIT entry holds its local port, which the connection held
    // before it (counted once); the two that overflowed hold none.
    assert_eq!(w.a.port_users.values().copied().collect::<Vec<_>>(), [1]);
    let t = w.now.total_millis();
    w.run_until(t + 121_000);
    assert_eq!(w.a.connection_count(), (0, 0));
    assert!(w.a.port_users.is_empty(), "2 MSL later the port is free");
}

#[test]
fn half_close_lets_the_peer_keep_sending() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let now = w.now;
    w.a.tcp_shutdown(now, c, Shutdown::Write).unwrap();
    w.run_until(200);
    assert_eq!(w.a.tcp_state(c), TcpState::FinWait2);
    assert_eq!(w.b.tcp_state(s), TcpState::CloseWait);
    let now = w.now;
    assert_eq!(w.b.tcp_send(now, s, b"still talking"), Ok(13));
    w.run_until(300);
    let mut buf = [0u8; 32];
    assert_eq!(w.a.tcp_recv(w.now, c, &mut buf), Ok(13));
    assert_eq!(w.a.tcp_send(w.now, c, b"x"), Err(SendError::WriteShutdown));
}

#[test]
fn state_and_segment_tracing_reports_every_step() {
    let mut w = Wire::new();
    w.a.set_trace(Trace {
        states: true,
        segments: true,
        congestion: false,
    });
    w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
        .unwrap();
    w.run_until(100);
    let ev = events(&mut w.a);
    let states: Vec<TcpState> = ev
        .iter()
        .filter_map(|e| match e {
            Event::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(states, [TcpState::SynSent, TcpState::Established]);
    let segments: Vec<(Direction, TcpFlags)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Segment { dir, segment, .. } => Some((*dir, segment.flags)),
            _ => None,
        })
        .collect();
    assert_eq!(
        segments,
        [
            (Direction::Out, TcpFlags::SYN),
            (Direction::In, TcpFlags::SYN | TcpFlags::ACK),
            (Direction::Out, TcpFlags::ACK),
        ]
    );
}

#[test]
fn listening_twice_on_a_port_fails() {
    let mut s = stack(B, 1);
    s.tcp_listen(SocketAddrV4::new(B, 80), 1).unwrap();
    assert_eq!(
        s.tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 1),
        Err(ListenError::AddrInUse)
    );
    assert_eq!(
        s.tcp_listen(SocketAddrV4::new(A, 81), 1),
        Err(ListenError::AddrNotAvailable)
    );
    assert_eq!(
        s.tcp_listen(SocketAddrV4::new(B, 0), 1),
        Err(ListenError::InvalidPort)
    );
}

#[test]
fn accept_reports_data_and_a_fin_that_arrived_while_queued() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    let now = w.now;
    w.a.tcp_send(now, c, b"early").unwrap();
    w.a.tcp_shutdown(now, c, Shutdown::Write).unwrap();
    w.run_until(200);
    let _ = events(&mut w.b);
    let s = w.b.tcp_accept(l).unwrap();
    let ev = events(&mut w.b);
    assert_eq!(ev, [Event::Readable(s), Event::PeerClosed(s)]);
    let mut buf = [0u8; 16];
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(5));
    assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(0));
}

#[test]
fn an_idle_connection_costs_well_under_a_kibibyte() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let now = w.now;
    assert_eq!(w.a.tcp_send(now, c, &[1; 20_000]), Ok(20_000));
    assert_eq!(w.b.tcp_send(now, s, &[2; 20_000]), Ok(20_000));
    w.run_until(500);
    let mut buf = [0u8; 4096];
    while let Ok(n) = w.a.tcp_recv(w.now, c, &mut buf) {
        if n == 0 {
            break;
        }
    }
    while let Ok(n) = w.b.tcp_recv(w.now, s, &mut buf) {
        if n == 0 {
            break;
        }
    }
    assert!(w.a.buffer_memory() > 0, "busy: buffers allocated");
    // DESIGN.md §4: idle, a connection gives its buffers back ...
    w.run_until(3_000);
    assert_eq!(w.a.buffer_memory(), 0);
    assert_eq!(w.b.buffer_memory(), 0);
    assert_eq!(w.a.tcp_state(c), TcpState::Established);
    // ... and what is left is the connection itself: 552 bytes (see
    // tcp/conn/tests/layout.rs for the breakdown). Idle buffers are a limit
    // and an empty pointer each; timers, RTT, counters and socket buffer
    // sizes are 32-bit; CUBIC's epoch, HyStart++, loss recovery's episode,
    // the receiver's SACK memory, Fast Open, the rarely set socket options,
    // the data-path counters, the retransmission and probe stamps and MSG_EOR
    // record boundaries are boxed only while in use. Its slab entry adds the
    // owner (a kind byte and a listener key), a compact Fast Open listener key
    // and the slot's generation: 24 bytes, and the slot adds none.
    let size = core::mem::size_of::<Connection>();
    assert!(size <= 552, "a connection is {size} bytes");
    let entry = core::mem::size_of::<ConnEntry>();
    assert!(entry <= size + 24, "a slab entry is {entry} bytes");
    let slot = super::super::slab::slot_size::<ConnEntry>();
    assert_eq!(slot, entry, "the generation lives in the entry's padding");
}

#[test]
fn the_ipv4_fuzz_corpus_never_panics_the_stack() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ipv4");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("the ipv4 corpus") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        fuzz::frame(&bytes);
        files += 1;
    }
    assert!(files > 10);
}

mod random_ingress {
    use super::*;
    use proptest::prelude::*;

    /// A TCP/IP packet to the fuzzed stack, perhaps with one bit flipped.
    fn packet_strategy() -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![Just(80u16), Just(443), Just(9), 40_000u16..40_004],
            40_000u16..40_004,
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            prop_oneof![Just(0usize), 1usize..64, 1_000usize..1_460],
            proptest::option::of(any::<u16>()),
        )
            .prop_map(|(dst_port, src_port, flags, seq, ack, len, flip)| {
                let src = SocketAddrV4::new(A, src_port);
                let dst = SocketAddrV4::new(fuzz::ADDR, dst_port);
                let flags = TcpFlags(flags);
                let ack = flags.ack().then_some(ack);
                let mut p = packet(src, dst, flags, seq, ack, &vec![0x42; len]);
                if let Some(bit) = flip {
                    let bit = usize::from(bit) % (p.len() * 8);
                    p[bit / 8] ^= 1 << (bit % 8);
                }
                p
            })
    }

    /// [`fuzz::frames`]' input format: per frame one byte of time advance,
    /// two bytes of length, the bytes.
    fn frames_input(frames: Vec<(u8, Vec<u8>)>) -> Vec<u8> {
        let mut data = Vec::new();
        for (advance, frame) in frames {
            data.push(advance);
            data.extend_from_slice(&(frame.len() as u16).to_be_bytes());
            data.extend_from_slice(&frame);
        }
        data
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn random_frame_sequences_never_panic_the_stack(
            frames in proptest::collection::vec((any::<u8>(), packet_strategy()), 1..40)
        ) {
            fuzz::frames(&frames_input(frames));
        }

        #[test]
        fn random_frame_batches_never_panic_the_stack(
            frames in proptest::collection::vec((any::<u8>(), packet_strategy()), 1..40)
        ) {
            fuzz::frames_batched(&frames_input(frames));
        }

        #[test]
        fn random_frames_with_offload_metadata_never_panic_the_stack(
            frames in proptest::collection::vec(
                (any::<u8>(), any::<bool>(), prop_oneof![Just(0u16), 1u16..3000, any::<u16>()], packet_strategy()),
                1..40,
            )
        ) {
            let mut data = Vec::new();
            for (advance, trusted, gso, frame) in frames {
                data.push(advance);
                data.push(u8::from(trusted));
                data.extend_from_slice(&gso.to_be_bytes());
                data.extend_from_slice(&(frame.len() as u16).to_be_bytes());
                data.extend_from_slice(&frame);
            }
            fuzz::frames_rx(&data);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_stack(data in proptest::collection::vec(any::<u8>(), 0..2_000)) {
            fuzz::frames(&data);
            fuzz::frame(&data);
        }
    }
}

#[test]
fn an_offloaded_frame_skips_the_tcp_checksum_and_a_plain_one_does_not() {
    let peer = SocketAddrV4::new(A, 40000);
    let us = SocketAddrV4::new(B, 9);
    let t = Instant::ZERO;
    // A partial checksum, as the kernel leaves it with NEEDS_CSUM: wrong
    // for a receiver that checks.
    let mut frame = packet(peer, us, TcpFlags::ACK, 100, Some(5000), b"");
    let tcp_checksum = 20 + 16;
    frame[tcp_checksum] ^= 0x5a;
    let mut s = stack(B, 1);
    s.handle_frame(t, &frame);
    assert!(drain(&mut s, t).is_empty());
    assert_eq!(s.stats().tcp.in_csum_errors, 1);
    // The device vouches for it: taken, and answered (no connection: RST).
    s.handle_frame_offloaded(t, IfaceId(0), &frame);
    let out = drain(&mut s, t);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags, out[0].seq), (TcpFlags::RST, 5000));
    assert_eq!(s.stats().tcp.in_csum_errors, 1);
    // And the next plain frame is checked again.
    s.handle_frame(t, &frame);
    assert!(drain(&mut s, t).is_empty());
    assert_eq!(s.stats().tcp.in_csum_errors, 2);
}

/// One data frame from A with `data`, taken off the wire by hand.
fn data_frame(w: &mut Wire, c: ConnHandle, data: &[u8]) -> Vec<u8> {
    let now = w.now;
    assert_eq!(w.a.tcp_send(now, c, data), Ok(data.len()));
    let mut buf = [0u8; 2000];
    let n = w.a.poll_transmit(now, &mut buf).expect("the data segment");
    assert!(w.a.poll_transmit(now, &mut buf).is_none());
    buf[..n].to_vec()
}

#[test]
fn a_corrupted_in_order_segment_is_not_committed_and_its_retransmission_is() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let frame = data_frame(&mut w, c, b"in order bytes");
    let now = w.now;
    // Corrupted in the payload (summed while copied) and in the header
    // (ACK number): both dropped, nothing readable, no ACK.
    let payload_at = frame.len() - 3;
    for at in [payload_at, 20 + 8] {
        let mut bad = frame.clone();
        bad[at] ^= 0x10;
        w.b.handle_frame(now, &bad);
        assert!(drain(&mut w.b, now).is_empty());
        let mut buf = [0xAA; 32];
        assert_eq!(w.b.tcp_recv(now, s, &mut buf), Err(RecvError::WouldBlock));
    }
    assert_eq!(w.b.stats().tcp.in_csum_errors, 2);
    assert_eq!(w.b.stats().tcp.in_errs, 2);
    // The intact copy goes through, with its own bytes.
    w.b.handle_frame(now, &frame);
    let mut buf = [0xAA; 32];
    assert_eq!(w.b.tcp_recv(now, s, &mut buf), Ok(14));
    assert_eq!(&buf[..14], b"in order bytes");
}

#[test]
fn bytes_staged_for_a_corrupted_segment_never_reach_a_later_segment() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let long = data_frame(&mut w, c, b"0123456789");
    let now = w.now;
    let mut bad = long.clone();
    let payload_at = long.len() - 10;
    bad[payload_at] = b'X';
    w.b.handle_frame(now, &bad);
    assert_eq!(w.b.stats().tcp.in_csum_errors, 1);
    // A shorter segment at the same sequence number whose checksum the
    // device vouches for (so it is copied, not staged): its own bytes are
    // stored, not what the corrupted one left in the buffer.
    let mut short = long[..long.len() - 6].to_vec();
    let total = short.len() as u16;
    short[2..4].copy_from_slice(&total.to_be_bytes());
    Ipv4Packet::new_unchecked(&mut short[..]).fill_checksum();
    w.b.handle_frame_offloaded(now, IfaceId(0), &short);
    let mut buf = [0xAA; 16];
    assert_eq!(w.b.tcp_recv(now, s, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"0123");
}

/// The timer `ss -o` shows for each socket (`SocketSummary::timer`, Linux's
/// `idiag_timer`): `on` with the retransmissions of a SYN nobody answers,
/// `keepalive` on an idle connection with SO_KEEPALIVE, none on one
/// without, `persist` with the probes of a zero window, `timewait` on a
/// compact entry, none on a listener.
#[test]
fn each_socket_reports_the_timer_ss_o_shows() {
    use crate::tcp::conn::{SocketOption, SocketTimerKind};
    let timer_of = |s: &Stack, local: SocketAddrV4, remote: Option<SocketAddrV4>| {
        let sock = s
            .sockets()
            .find(|x| x.local == local && x.remote == remote)
            .unwrap();
        sock.timer.map(|t| (t.kind, t.expires - s.now(), t.retrans))
    };
    let mut w = Wire::new();
    let (c, srv) = connected(&mut w);
    let (local, remote) = w.a.tcp_addrs(c).unwrap();
    let listener = SocketAddrV4::new(B, PORT);
    assert_eq!(timer_of(&w.b, listener, None), None, "a listener's");
    assert_eq!(
        timer_of(&w.a, local, Some(remote)),
        None,
        "idle, no keepalive"
    );
    w.a.tcp_set_option(w.now, c, SocketOption::KeepAlive(true))
        .unwrap();
    let (kind, left, probes) = timer_of(&w.a, local, Some(remote)).unwrap();
    assert_eq!((kind, probes), (SocketTimerKind::Keepalive, 0));
    assert!(
        left > Duration::from_secs(7_100),
        "{left:?}: tcp_keepalive_time"
    );
    // Data the peer never acknowledges: the RTO, `on`, counting its
    // retransmissions.
    w.drop = Box::new(|to_b, _| to_b);
    w.a.tcp_send(w.now, c, b"lost").unwrap();
    w.run_until(w.now.total_millis() + 700);
    let (kind, _, retrans) = timer_of(&w.a, local, Some(remote)).unwrap();
    assert_eq!((kind, retrans), (SocketTimerKind::On, 1));
    // A SYN nobody answers: `on` too, with the SYN's retransmissions.
    let silent = SocketAddrV4::new(B, 9999);
    w.drop = Box::new(|_, _| true);
    let syn =
        w.a.tcp_connect(w.now, silent, ConnectOptions::default())
            .unwrap();
    w.run_until(w.now.total_millis() + 3_500);
    let syn_local = w.a.tcp_addrs(syn).unwrap().0;
    let (kind, _, retrans) = timer_of(&w.a, syn_local, Some(silent)).unwrap();
    assert_eq!((kind, retrans), (SocketTimerKind::On, 2), "1 s, then 2 s");
    // A compact TIME-WAIT entry: `timewait`, 60 s from its start.
    w.drop = Box::new(|_, _| false);
    w.run_until(w.now.total_millis() + 5_000);
    w.a.tcp_abort(w.now, syn);
    // B reads the data (a close with unread data would reset).
    let mut buf = [0u8; 8];
    assert_eq!(w.b.tcp_recv(w.now, srv, &mut buf), Ok(4));
    w.a.tcp_close(w.now, c);
    w.run_until(w.now.total_millis() + 100);
    w.b.tcp_close(w.now, srv);
    w.run_until(w.now.total_millis() + 1_000);
    let (kind, left, _) = timer_of(&w.a, local, Some(remote)).unwrap();
    assert_eq!(kind, SocketTimerKind::TimeWait);
    assert!(
        left <= Duration::from_secs(60) && left > Duration::from_secs(58),
        "{left:?}"
    );
}

/// A zero window the sender probes: `persist`.
#[test]
fn a_zero_window_reports_the_persist_timer() {
    use crate::tcp::conn::SocketTimerKind;
    let mut w = Wire::new();
    let (c, _s) = connected_with_small_window(&mut w, 4096);
    let (local, remote) = w.a.tcp_addrs(c).unwrap();
    let data = vec![7u8; 64 * 1024];
    for _ in 0..20 {
        let _ = w.a.tcp_send(w.now, c, &data);
        w.run_until(w.now.total_millis() + 500);
    }
    let sock =
        w.a.sockets()
            .find(|x| x.local == local && x.remote == Some(remote))
            .unwrap();
    let timer = sock.timer.unwrap();
    // The probes the peer answers are not counted (`probes_out`).
    assert_eq!((timer.kind, timer.retrans), (SocketTimerKind::Persist, 0));
    assert!(timer.expires > w.a.now(), "{timer:?}");
}

/// `ss -K` (`tcp_destroy`, Linux's SOCK_DESTROY): an established
/// connection is reset at once and its application finds it aborted; a
/// TIME-WAIT entry goes; a tuple with neither is no one's.
#[test]
fn a_destroyed_connection_is_reset_and_a_time_wait_entry_goes() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let (local, remote) = w.a.tcp_addrs(c).unwrap();
    assert!(w.a.tcp_destroy(w.now, local, remote));
    w.run_until(w.now.total_millis() + 100);
    assert_eq!(w.a.tcp_state(c), TcpState::Closed);
    let mut buf = [0u8; 8];
    assert!(matches!(
        w.a.tcp_recv(w.now, c, &mut buf),
        Err(RecvError::Connection(crate::tcp::conn::ConnError::Aborted))
    ));
    assert_eq!(w.b.tcp_state(s), TcpState::Closed, "the peer got the reset");
    assert!(!w.a.tcp_destroy(w.now, local, remote), "no one's any more");
    // A compact TIME-WAIT entry.
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let (local, remote) = w.a.tcp_addrs(c).unwrap();
    w.a.tcp_close(w.now, c);
    w.run_until(w.now.total_millis() + 100);
    w.b.tcp_close(w.now, s);
    w.run_until(w.now.total_millis() + 100);
    assert_eq!(w.a.connection_count(), (0, 1));
    assert!(w.a.tcp_destroy(w.now, local, remote));
    assert_eq!(w.a.connection_count(), (0, 0));
}

/// `tcp_destroy` on a half-open connection (SYN-RECEIVED, in its
/// listener's SYN queue): it goes, and the listener's count with it.
#[test]
fn a_destroyed_half_open_connection_leaves_the_syn_queue() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    // A's SYN reaches B; B's SYN-ACK never reaches A.
    w.drop = Box::new(|to_b, _| !to_b);
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    w.run_until(50);
    assert_eq!(w.b.tcp_listener_queues(l), Some((1, 0)));
    let (local, remote) = w.a.tcp_addrs(c).unwrap();
    assert!(w.b.tcp_destroy(w.now, remote, local));
    assert_eq!(w.b.tcp_listener_queues(l), Some((0, 0)));
    // Its reset goes (A is still in SYN-SENT: a reset with the SYN's
    // ACK refuses it), then the connection.
    w.drop = Box::new(|_, _| false);
    w.run_until(w.now.total_millis() + 50);
    assert_eq!(w.b.connection_count(), (0, 0));
    assert_eq!(w.a.tcp_state(c), TcpState::Closed);
    assert_invariants(&w.b);
}
