//! Data transfer: segmentation, ACK policy, Nagle, cork, windows, timestamps.

use super::*;

/// The peer's next data segment of `len` bytes at `seq`, acking our SYN.
fn data(seq: u32, len: usize) -> Seg {
    seg(".", seq, Some(ISS + 1)).len(len)
}

#[test]
fn data_is_cut_into_mss_segments_with_psh_on_gso_packets_and_the_last() {
    let mut h = Harness::established();
    assert_eq!(h.send(&[7; 5000]), 5000);
    let out = h.output();
    let lens: Vec<usize> = out.iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [1448, 1448, 1448, 656]);
    let flags: Vec<String> = out.iter().map(Seg::f).collect();
    // At 100 ms RTT Linux's GSO packets hold two segments (tcp_min_tso_segs)
    // and carry PSH; PSH also ends the written data.
    assert_eq!(flags, [".", "P.", ".", "P."]);
    let mut seq = ISS + 1;
    for s in &out {
        assert_eq!(s.seq, SeqNum(seq));
        assert_eq!(s.ack, Some(SeqNum(IRS + 1)));
        assert_eq!(s.options.timestamp.unwrap().tsecr, 700);
        seq += s.payload.len() as u32;
    }
    assert_eq!(h.info().notsent_bytes, 0);
}

#[test]
fn the_initial_window_is_ten_segments_and_acks_open_it() {
    let mut h = Harness::established_with(Config {
        tcp_congestion_control: crate::config::CongestionAlgorithm::Reno,
        ..Config::default()
    });
    h.conn
        .set_option(h.now, SocketOption::SendBuffer(100_000), &mut h.env)
        .unwrap();
    h.send(&[1; 30 * 1448]);
    let first = h.output();
    assert_eq!(first.len(), 10, "RFC 6928 IW10");
    assert_eq!(h.info().snd_cwnd, 10);
    h.at(200);
    // One ACK for all ten: slow start grows by at most 2 segments (RFC 3465).
    h.feed(seg(".", IRS + 1, Some(ISS + 1 + 10 * 1448)).ts(800, Harness::tsval_at(100)));
    assert_eq!(h.info().snd_cwnd, 12);
    assert_eq!(h.output().len(), 12);
    assert_eq!(h.info().bytes_acked, 10 * 1448);
}

#[test]
fn quick_acks_at_first_then_every_second_full_segment_or_after_40ms() {
    let mut h = Harness::established();
    let mut seq = IRS + 1;
    // 16 quick ACKs: every segment is acknowledged at once.
    for i in 0..16 {
        h.feed(data(seq, 1448));
        seq += 1448;
        let out = h.output();
        assert_eq!(out.len(), 1, "segment {i} acked at once");
        assert_eq!(out[0].ack, Some(SeqNum(seq)));
    }
    // Then one full segment waits ...
    h.feed(data(seq, 1448));
    seq += 1448;
    assert!(h.output().is_empty());
    // ... and the second full segment is acknowledged at once.
    h.feed(data(seq, 1448));
    seq += 1448;
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, Some(SeqNum(seq)));
    // A lone segment is acknowledged by the delayed-ACK timer, 40 ms later.
    let t0 = h.now.total_millis();
    h.feed(data(seq, 1448));
    seq += 1448;
    let sent = h.run_until(t0 + 1_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, t0 + 40);
    assert_eq!(sent[0].1.ack, Some(SeqNum(seq)));
    assert_eq!(h.env.stats.tcp_ext.delayed_acks, 1);
}

#[test]
fn out_of_order_data_is_acked_at_once_with_a_sack_block() {
    let mut h = Harness::established();
    let nxt = IRS + 1;
    // Use up the quick ACKs so immediacy comes from the hole alone.
    h.conn.core.ack.quick = 0;
    h.feed(data(nxt + 1000, 500));
    let out = h.output();
    assert_eq!(out.len(), 1, "a duplicate ACK at once");
    assert_eq!(out[0].ack, Some(SeqNum(nxt)));
    assert_eq!(
        out[0].options.sack_blocks.as_slice(),
        &[(SeqNum(nxt + 1000), SeqNum(nxt + 1500))]
    );
    assert_eq!(h.env.stats.tcp_ext.tcp_ofo_queue, 1);
    // Filling the hole is acknowledged at once too, up to the end.
    h.feed(data(nxt, 1000));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, Some(SeqNum(nxt + 1500)));
    assert!(out[0].options.sack_blocks.is_empty());
    assert_eq!(h.recv_all().len(), 1500);
}

#[test]
fn a_pure_ack_is_answered_at_once_only_while_a_hole_is_held() {
    let mut h = Harness::established();
    let nxt = IRS + 1;
    h.conn.core.ack.quick = 0;
    // No text, no hole: nothing to answer.
    h.feed(seg(".", nxt, Some(ISS + 1)));
    assert!(h.output().is_empty());
    h.feed(data(nxt + 1000, 500));
    assert_eq!(h.output().len(), 1, "the out-of-order data's ACK");
    // A pure ACK while the hole is held: acknowledged at once, with the
    // SACK block (RFC 5681 §4.2 as Linux applies it while a hole exists).
    h.feed(seg(".", nxt, Some(ISS + 1)));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, Some(SeqNum(nxt)));
    assert_eq!(
        out[0].options.sack_blocks.as_slice(),
        &[(SeqNum(nxt + 1000), SeqNum(nxt + 1500))]
    );
    assert_eq!(h.recv_all().len(), 0, "nothing deliverable yet");
}

#[test]
fn a_duplicate_segment_is_acked_at_once() {
    let mut h = Harness::established();
    h.conn.core.ack.quick = 0;
    let nxt = IRS + 1;
    h.feed(data(nxt, 100));
    h.run_until(h.now.total_millis() + 100); // its delayed ACK
    let d = h.input(data(nxt, 100));
    assert_eq!(d, Disposition::DroppedWithAck(DropReason::OutOfWindow));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, Some(SeqNum(nxt + 100)));
    assert_eq!(h.recv_all().len(), 100, "delivered once");
}

#[test]
fn a_fin_in_established_is_acked_by_the_delayed_ack_timer() {
    // http-get-nonblocking-ts.pkt: data ACKed at once, the FIN 40 ms later.
    let mut h = Harness::established();
    h.at(300);
    let nxt = IRS + 1;
    h.feed(data(nxt, 785).ts(800, Harness::tsval_at(100)));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, Some(SeqNum(nxt + 785)));
    h.feed(seg("F.", nxt + 785, Some(ISS + 1)).ts(800, Harness::tsval_at(100)));
    assert_eq!(h.state(), TcpState::CloseWait);
    assert!(h.output().is_empty());
    let events = h.drain_events();
    assert!(events.contains(&ConnEvent::PeerClosed));
    let sent = h.run_until(1_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 340);
    assert_eq!(sent[0].1.ack, Some(SeqNum(nxt + 786)));
    assert_eq!(
        sent[0].1.options.timestamp,
        Some(TcpTimestamp {
            tsval: Harness::tsval_at(340),
            tsecr: 800
        })
    );
}

#[test]
fn reads_return_queued_data_then_end_of_stream() {
    let mut h = Harness::established();
    let nxt = IRS + 1;
    h.feed(data(nxt, 10));
    h.feed(seg("F.", nxt + 10, Some(ISS + 1)));
    let mut buf = [0u8; 4];
    assert_eq!(h.conn.recv(h.now, &mut buf, &mut h.env), Ok(4));
    assert_eq!(h.conn.recv(h.now, &mut buf, &mut h.env), Ok(4));
    assert_eq!(h.conn.recv(h.now, &mut buf, &mut h.env), Ok(2));
    assert_eq!(h.conn.recv(h.now, &mut buf, &mut h.env), Ok(0));
    assert_eq!(h.conn.recv(h.now, &mut buf, &mut h.env), Ok(0));
}

#[test]
fn recv_before_data_would_block() {
    let mut h = Harness::established();
    let mut buf = [0u8; 4];
    assert_eq!(
        h.conn.recv(h.now, &mut buf, &mut h.env),
        Err(RecvError::WouldBlock)
    );
}

#[test]
fn nagle_holds_a_small_segment_while_another_is_unacked() {
    let mut h = Harness::established();
    h.send(b"first");
    assert_eq!(h.output().len(), 1);
    h.send(b"second");
    assert!(h.output().is_empty(), "Minshall: one small segment unacked");
    h.send(&[0; 2000]);
    let out = h.output();
    assert_eq!(out.len(), 1, "the full segment goes, the tail waits");
    assert_eq!(out[0].payload.len(), 1448);
    h.at(150);
    h.feed(seg(".", IRS + 1, Some(ISS + 1 + 5)));
    let out = h.output();
    assert_eq!(out.len(), 1, "the small segment was acked: the tail goes");
    assert_eq!(out[0].payload.len(), 6 + 2000 - 1448);
}

#[test]
fn nodelay_sends_small_segments_at_once_and_pushes_held_data() {
    let mut h = Harness::established();
    h.send(b"a");
    assert_eq!(h.output().len(), 1);
    h.send(b"b");
    assert!(h.output().is_empty(), "Nagle");
    h.conn
        .set_option(h.now, SocketOption::NoDelay(true), &mut h.env)
        .unwrap();
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload, b"b");
    h.send(b"c");
    assert_eq!(h.output().len(), 1);
}

#[test]
fn cork_holds_partial_segments_until_uncorked() {
    // sockopt_cork_nodelay.pkt: two corked writes go as one pushed segment.
    let mut h = Harness::established();
    h.conn
        .set_option(h.now, SocketOption::Cork(true), &mut h.env)
        .unwrap();
    h.send(&[1; 40]);
    h.at(150);
    h.send(&[2; 40]);
    assert!(h.output().is_empty());
    h.at(160);
    h.conn
        .set_option(h.now, SocketOption::Cork(false), &mut h.env)
        .unwrap();
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 80);
    assert_eq!(out[0].f(), "P.");
}

#[test]
fn corked_data_is_pushed_after_at_most_the_probe_timer() {
    let mut h = Harness::established();
    h.conn
        .set_option(h.now, SocketOption::Cork(true), &mut h.env)
        .unwrap();
    h.send(&[1; 40]);
    let sent = h.run_until(450);
    assert_eq!(sent.len(), 1);
    // The RTO (300 ms after a 100 ms RTT sample), at least 200 ms.
    assert_eq!(sent[0].0, 100 + 300);
    assert_eq!(sent[0].1.payload.len(), 40);
}

#[test]
fn msg_more_holds_the_tail_and_nodelay_pushes_it_without_psh() {
    let mut h = Harness::established();
    let more = SendFlags {
        more: true,
        ..SendFlags::default()
    };
    h.conn.send(h.now, &[1; 40], more, &mut h.env).unwrap();
    h.conn.send(h.now, &[2; 40], more, &mut h.env).unwrap();
    assert!(h.output().is_empty());
    h.conn
        .set_option(h.now, SocketOption::NoDelay(true), &mut h.env)
        .unwrap();
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 80);
    assert_eq!(out[0].f(), ".", "no PSH: the write said more was coming");
}

#[test]
fn the_receive_window_closes_as_the_buffer_fills_and_reopens_on_read() {
    let mut config = Config::default();
    config.tcp_rmem.default = 8192;
    let mut h = Harness::established_with(config);
    // Fill the buffer and watch the window fall to zero.
    let mut seq = IRS + 1;
    for _ in 0..8 {
        h.feed(data(seq, 1024));
        seq += 1024;
    }
    let out = h.output();
    let last = out.last().unwrap();
    assert_eq!(last.window, 0, "buffer full: zero window");
    // Data beyond the buffer is dropped (and acknowledged as not taken).
    assert_eq!(h.input(data(seq, 100)), Disposition::Accepted);
    assert_eq!(h.env.stats.tcp_ext.tcp_zero_window_drop, 1);
    let ack = h.output();
    assert_eq!(ack.last().unwrap().ack, Some(SeqNum(seq)));
    // Reading frees the buffer: a window update goes out at once.
    assert_eq!(h.recv_all().len(), 8192);
    let out = h.output();
    assert_eq!(out.len(), 1, "window update");
    assert_eq!(u32::from(out[0].window) << 7, 8192);
}

#[test]
fn reading_sends_no_window_update_the_window_field_cannot_show() {
    // No window scaling: the window is 65535 whatever the buffer frees.
    let mut h = Harness::client(Config::default());
    h.output();
    h.at(100);
    h.feed(seg("S.", IRS, Some(ISS + 1)).mss(1460).win(65_535));
    h.output();
    h.feed(data(IRS + 1, 1000));
    h.run_until(1_000);
    assert_eq!(h.recv_all().len(), 1000);
    assert_eq!(h.output(), [], "65535 before the read and after it");
}

#[test]
fn paws_drops_a_segment_with_an_old_timestamp_and_acks_it() {
    let mut h = Harness::established();
    let nxt = IRS + 1;
    h.feed(data(nxt, 10).ts(1_000, 0));
    h.output();
    let d = h.input(data(nxt + 10, 10).ts(900, 0));
    assert_eq!(d, Disposition::DroppedWithAck(DropReason::Paws));
    assert_eq!(h.env.stats.tcp_ext.paws_estab, 1);
    let out = h.output();
    assert_eq!(out[0].ack, Some(SeqNum(nxt + 10)), "the data was not taken");
    // A RST is exempt from PAWS.
    assert_eq!(
        h.input(seg("R", nxt + 10, None).ts(1, 0)),
        Disposition::ConnectionReset
    );
}

#[test]
fn the_echoed_timestamp_is_the_earliest_unacknowledged_segments() {
    // RFC 7323 §4.3: with a delayed ACK covering two segments, TSecr echoes
    // the first one's TSval.
    let mut h = Harness::established();
    h.conn.core.ack.quick = 0;
    let nxt = IRS + 1;
    h.feed(data(nxt, 100).ts(1_000, 0));
    h.feed(data(nxt + 100, 100).ts(1_010, 0));
    let sent = h.run_until(1_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.options.timestamp.unwrap().tsecr, 1_000);
}

#[test]
fn tcp_info_counts_segments_and_bytes() {
    let mut h = Harness::established();
    h.send(&[1; 3000]);
    h.output();
    h.at(200);
    h.feed(seg(".", IRS + 1, Some(ISS + 3001)).len(500));
    let info = h.info();
    assert_eq!(info.bytes_acked, 3000);
    assert_eq!(info.bytes_received, 500);
    assert_eq!(info.data_segs_out, 3);
    assert_eq!(info.data_segs_in, 1);
    assert_eq!(info.segs_out, 2 + 3, "SYN and ACK, then data");
    assert_eq!(info.state, TcpState::Established);
    assert_eq!(info.congestion, "cubic", "the default, as Linux's");
}

#[test]
fn iw10_sends_ten_full_segments_at_once_without_timestamps() {
    // iw10-base-case.pkt: a peer without timestamps; 14600 bytes go out at
    // once as ten 1460-byte segments, the last with PSH.
    let syn = seg("S", IRS, None)
        .mss(1460)
        .sack_ok()
        .wscale(7)
        .win(32_792);
    let mut h = Harness::server(Config::default(), &syn);
    h.output();
    h.at(100);
    h.feed(seg(".", IRS + 1, Some(ISS + 1)).win(257));
    assert_eq!(h.send(&[0; 14_600]), 14_600);
    let out = h.output();
    assert_eq!(out.len(), 10);
    assert!(
        out.iter()
            .all(|s| s.payload.len() == 1460 && s.options.timestamp.is_none())
    );
    assert_eq!(out.last().unwrap().f(), "P.");
    h.at(200);
    h.feed(seg(".", IRS + 1, Some(ISS + 14_601)).win(257));
    h.conn.close(h.now, &mut h.env);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].f(), out[0].seq),
        ("F.".to_string(), SeqNum(ISS + 14_601))
    );
    h.at(301);
    h.feed(seg("F.", IRS + 1, Some(ISS + 14_602)).win(257));
    let out = h.output();
    assert_eq!(out.len(), 1, "FIN in FIN-WAIT-2: ACKed at once");
    assert_eq!(out[0].ack, Some(SeqNum(IRS + 2)));
}

/// Flags of `out`, one string per segment.
fn flags(out: &[Seg]) -> Vec<String> {
    out.iter().map(Seg::f).collect()
}

#[test]
fn gso_packets_are_half_the_window_and_end_with_psh() {
    // limited-transmit-no-sack.pkt, mss-setsockopt-tcp_maxseg-server.pkt:
    // Linux sends IW10 as GSO packets of at most cwnd/2 segments
    // (`tcp_cwnd_test`), each with PSH. With tcp_min_tso_segs 10 the
    // pacing rate does not cut them smaller.
    let mut h = Harness::established_with(Config {
        tcp_min_tso_segs: 10,
        ..Config::default()
    });
    h.conn
        .set_option(h.now, SocketOption::SendBuffer(100_000), &mut h.env)
        .unwrap();
    assert_eq!(h.send(&[1; 15 * 1448]), 15 * 1448);
    let out = h.output();
    assert_eq!(out.len(), 10);
    let mut want = vec!["."; 10];
    want[4] = "P.";
    want[9] = "P.";
    assert_eq!(flags(&out), want, "two packets of five");
}

#[test]
fn the_pacing_rate_sizes_gso_packets_at_two_segments_on_a_slow_path() {
    // prr-ss-30pkt-lost1_4.pkt, cubic-rto-ss-ca-cwnd-bump.pkt: at 100 ms
    // RTT a millisecond of the pacing rate is far below a segment, so
    // Linux's packets hold tcp_min_tso_segs = 2 segments.
    let mut h = Harness::established();
    h.conn
        .set_option(h.now, SocketOption::SendBuffer(100_000), &mut h.env)
        .unwrap();
    assert_eq!(h.send(&[1; 15 * 1448]), 15 * 1448);
    let out = h.output();
    assert_eq!(out.len(), 10);
    let want: Vec<&str> = (0..10)
        .map(|i| if i % 2 == 1 { "P." } else { "." })
        .collect();
    assert_eq!(flags(&out), want);
}

#[test]
fn a_gso_packet_of_one_segment_has_no_psh() {
    // Two segments of room in cwnd: one per packet (`tcp_cwnd_test` keeps
    // two packets in flight), and Linux forces PSH only on GSO packets.
    let mut h = Harness::established_with(Config {
        tcp_init_cwnd: 2,
        tcp_min_tso_segs: 10,
        ..Config::default()
    });
    assert_eq!(h.send(&[1; 5 * 1448]), 5 * 1448);
    let out = h.output();
    assert_eq!(flags(&out), [".", "."]);
}
