//! The three-way handshake, its options, its loss, and simultaneous open.

use super::*;

/// The raw option bytes of the first segment the connection sends.
fn first_segment_bytes(h: &mut Harness) -> Vec<u8> {
    let mut buf = [0xAAu8; 200];
    let n = h
        .conn
        .poll_transmit(h.now, &mut buf, &mut h.env)
        .expect("a segment");
    buf[..n].to_vec()
}

#[test]
fn syn_is_laid_out_like_linux() {
    let mut h = Harness::client(Config::default());
    let bytes = first_segment_bytes(&mut h);
    // <mss 1460,sackOK,TS val 5000 ecr 0,nop,wscale 7>, window 65535.
    let ts = TS_OFFSET.to_be_bytes();
    let expected_options = [
        2, 4, 5, 180, 4, 2, 8, 10, ts[0], ts[1], ts[2], ts[3], 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    assert_eq!(&bytes[20..], &expected_options);
    assert_eq!(&bytes[4..8], &ISS.to_be_bytes(), "seq = ISS");
    assert_eq!(bytes[13], 0x02, "SYN only");
    assert_eq!(&bytes[14..16], &[0xff, 0xff], "window 65535, unscaled");
    assert!(h.output().is_empty(), "one SYN");
}

#[test]
fn syn_without_timestamps_pads_sack_permitted_with_nops() {
    let config = Config {
        tcp_timestamps: false,
        ..Config::default()
    };
    let mut h = Harness::client(config);
    let bytes = first_segment_bytes(&mut h);
    // <mss 1460,nop,nop,sackOK,nop,wscale 7>
    assert_eq!(&bytes[20..], &[2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 7]);
}

#[test]
fn connect_completes_on_the_syn_ack_and_acks_at_once() {
    let mut h = Harness::client(Config::default());
    let syn = h.output().remove(0);
    h.at(100);
    let d = h.input(
        seg("S.", IRS, Some(ISS + 1))
            .linux_syn_opts()
            .ts(700, syn.ts_val().unwrap().tsval),
    );
    assert_eq!(d, Disposition::Accepted);
    assert_eq!(h.state(), TcpState::Established);
    let out = h.output();
    assert_eq!(out.len(), 1);
    let ack = &out[0];
    assert_eq!(ack.f(), ".");
    assert_eq!((ack.seq, ack.ack), (SeqNum(ISS + 1), Some(SeqNum(IRS + 1))));
    // <nop,nop,TS val ecr 700>; window: 128 KiB of buffer >> 7.
    assert_eq!(
        ack.options,
        TcpOptions {
            timestamp: Some(TcpTimestamp {
                tsval: Harness::tsval_at(100),
                tsecr: 700
            }),
            ..TcpOptions::default()
        }
    );
    assert_eq!(ack.window, (131_072 >> 7) as u16);
    assert_eq!(
        states(&h.drain_events()),
        vec![TcpState::SynSent, TcpState::Established]
    );
    let info = h.info();
    assert_eq!(info.rtt, 100_000, "the SYN was timed");
    assert_eq!(info.snd_mss, 1448, "1460 - 12 bytes of timestamps");
    assert_eq!((info.snd_wscale, info.rcv_wscale), (7, 7));
    assert_eq!(h.env.stats.tcp.curr_estab, 1);
    assert_eq!(h.env.stats.tcp.active_opens, 1);
}

#[test]
fn syn_ack_with_an_unacceptable_ack_draws_a_reset() {
    for bad_ack in [ISS, ISS + 2, ISS - 100] {
        let mut h = Harness::client(Config::default());
        h.output();
        let d = h.input(seg("S.", IRS, Some(bad_ack)).linux_syn_opts());
        assert_eq!(d, Disposition::ResetSent(DropReason::UnacceptableAck));
        let out = h.output();
        assert_eq!(out.len(), 1);
        // <SEQ=SEG.ACK><CTL=RST>
        assert_eq!(out[0].f(), "R");
        assert_eq!((out[0].seq, out[0].ack), (SeqNum(bad_ack), None));
        assert_eq!(
            h.state(),
            TcpState::SynSent,
            "still waiting for the real SYN-ACK"
        );
    }
    // ... unless it is itself a reset.
    let mut h = Harness::client(Config::default());
    h.output();
    let d = h.input(seg("R.", 0, Some(ISS + 2)));
    assert_eq!(d, Disposition::Dropped(DropReason::UnacceptableAck));
    assert!(h.output().is_empty());
}

#[test]
fn reset_acknowledging_the_syn_refuses_the_connection() {
    let mut h = Harness::client(Config::default());
    h.output();
    // Without an ACK the RST cannot be tied to our SYN: ignored.
    assert_eq!(
        h.input(seg("R", 0, None)),
        Disposition::Dropped(DropReason::IgnoredReset)
    );
    assert_eq!(h.state(), TcpState::SynSent);
    assert_eq!(
        h.input(seg("R.", 0, Some(ISS + 1))),
        Disposition::ConnectionReset
    );
    assert_eq!(h.state(), TcpState::Closed);
    assert_eq!(h.conn.close_reason(), Some(CloseReason::Refused));
    let mut buf = [0u8; 10];
    assert_eq!(
        h.conn.recv(h.now, &mut buf, &mut h.env),
        Err(RecvError::Connection(ConnError::Refused))
    );
    assert_eq!(h.env.stats.tcp.attempt_fails, 1);
    assert!(h.output().is_empty(), "never a RST for a RST");
}

#[test]
fn syn_sent_drops_segments_without_syn_or_rst() {
    let mut h = Harness::client(Config::default());
    h.output();
    assert_eq!(
        h.input(seg(".", IRS, Some(ISS + 1))),
        Disposition::Dropped(DropReason::NotSynOrReset)
    );
    assert_eq!(h.state(), TcpState::SynSent);
    assert!(h.output().is_empty());
}

#[test]
fn simultaneous_open_goes_through_syn_received() {
    let mut h = Harness::client(Config::default());
    h.output();
    h.at(10);
    // Our SYN crossed the peer's.
    assert_eq!(
        h.input(seg("S", IRS, None).linux_syn_opts()),
        Disposition::Accepted
    );
    assert_eq!(h.state(), TcpState::SynReceived);
    let out = h.output();
    assert_eq!(out.len(), 1);
    // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>, repeating our SYN's options.
    let sa = &out[0];
    assert_eq!(sa.f(), "S.");
    assert_eq!((sa.seq, sa.ack), (SeqNum(ISS), Some(SeqNum(IRS + 1))));
    assert_eq!(sa.options.window_scale, Some(7));
    assert_eq!(sa.options.timestamp.unwrap().tsecr, 700);
    // The peer's SYN-ACK completes it.
    h.at(20);
    assert_eq!(
        h.input(seg("S.", IRS, Some(ISS + 1)).ts(710, Harness::tsval_at(10))),
        Disposition::Accepted
    );
    assert_eq!(h.state(), TcpState::Established);
    assert_eq!(
        states(&h.drain_events()),
        vec![
            TcpState::SynSent,
            TcpState::SynReceived,
            TcpState::Established
        ]
    );
    // Its SYN is old news: acknowledged at once.
    let out = h.output();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].f(), ".");
    assert_eq!(
        (out[0].seq, out[0].ack),
        (SeqNum(ISS + 1), Some(SeqNum(IRS + 1)))
    );
}

#[test]
fn simultaneous_open_d_sacks_the_syn_its_syn_ack_repeats() {
    let mut h = Harness::client(Config::default());
    h.output();
    h.at(10);
    let _ = h.input(seg("S", IRS, None).linux_syn_opts());
    h.output();
    h.at(20);
    let _ = h.input(seg("S.", IRS, Some(ISS + 1)).ts(710, Harness::tsval_at(10)));
    assert_eq!(h.state(), TcpState::Established);
    // RFC 2883 §4.1.1, as Linux: the ACK reports the repeated SYN's
    // sequence number as a duplicate (packetdrill's `sack 0:1`), once.
    let out = h.output();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        out[0].options.sack_blocks.as_slice(),
        &[(SeqNum(IRS), SeqNum(IRS + 1))]
    );
    h.at(30);
    let _ = h.input(
        seg(".", IRS + 1, Some(ISS + 1))
            .data(b"abc")
            .ts(720, Harness::tsval_at(20)),
    );
    h.at(300);
    let out = h.output();
    assert_eq!(out.last().map(|s| s.ack), Some(Some(SeqNum(IRS + 4))));
    assert!(
        out.iter().all(|s| s.options.sack_blocks.is_empty()),
        "{out:?}"
    );
}

#[test]
fn syn_is_retransmitted_at_1_3_7_15_31_63_s_and_connect_fails_at_127_s() {
    let mut h = Harness::client(Config::default());
    let sent = h.run_until(200_000);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [0, 1_000, 3_000, 7_000, 15_000, 31_000, 63_000]);
    for (t, s) in &sent {
        assert_eq!(s.f(), "S");
        assert_eq!(s.seq, SeqNum(ISS));
        assert_eq!(s.options.timestamp.unwrap().tsval, Harness::tsval_at(*t));
    }
    assert_eq!(h.state(), TcpState::Closed);
    assert!(
        h.drain_events()
            .contains(&ConnEvent::Closed(CloseReason::TimedOut))
    );
    assert_eq!(h.conn.close_reason(), Some(CloseReason::TimedOut));
    assert_eq!(h.env.stats.tcp_ext.tcp_syn_retrans, 6);
    assert_eq!(h.env.stats.tcp.retrans_segs, 6);
    assert_eq!(h.env.stats.tcp.attempt_fails, 1);
    let mut buf = [0u8; 4];
    assert_eq!(
        h.conn.recv(h.now, &mut buf, &mut h.env),
        Err(RecvError::Connection(ConnError::TimedOut))
    );
}

#[test]
fn the_handshake_after_a_lost_syn_takes_no_rtt_sample_and_falls_back_to_3_s() {
    let mut h = Harness::client(Config {
        tcp_timestamps: false,
        ..Config::default()
    });
    h.run_until(1_500); // SYN at 0 and 1 s
    h.feed(seg("S.", IRS, Some(ISS + 1)).mss(1460).wscale(7));
    assert_eq!(h.state(), TcpState::Established);
    let info = h.info();
    assert_eq!(info.rtt, 0, "Karn: no sample from a retransmitted SYN");
    assert_eq!(info.rto, 3_000_000, "RFC 6298 §5.7");
}

#[test]
fn syn_ack_answers_only_the_options_the_peer_offered() {
    // <mss 1000,sackOK,nop,nop,nop,wscale 7>: no timestamps.
    let syn = seg("S", IRS, None)
        .mss(1000)
        .sack_ok()
        .wscale(7)
        .win(32_792);
    let mut h = Harness::server(Config::default(), &syn);
    let mut buf = [0xAAu8; 100];
    let n = h.conn.poll_transmit(h.now, &mut buf, &mut h.env).unwrap();
    // <mss 1460,nop,nop,sackOK,nop,wscale 7>
    assert_eq!(&buf[20..n], &[2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 7]);
    assert_eq!(buf[13], 0x12, "SYN-ACK");
    assert_eq!(&buf[4..8], &ISS.to_be_bytes());
    assert_eq!(&buf[8..12], &(IRS + 1).to_be_bytes());
    assert_eq!(&buf[14..16], &[0xff, 0xff]);
    // No wscale offered: none answered; timestamps: echoed.
    let syn = seg("S", IRS, None).mss(1460).ts(700, 0);
    let mut h = Harness::server(Config::default(), &syn);
    let sa = h.output().remove(0);
    assert_eq!(sa.options.window_scale, None);
    assert!(!sa.options.sack_permitted);
    assert_eq!(
        sa.options.timestamp,
        Some(TcpTimestamp {
            tsval: TS_OFFSET,
            tsecr: 700
        })
    );
}

#[test]
fn the_third_ack_completes_a_passive_open_and_may_carry_data() {
    let syn = seg("S", IRS, None).linux_syn_opts();
    let mut h = Harness::server(Config::default(), &syn);
    h.output();
    h.at(50);
    let third = seg("P.", IRS + 1, Some(ISS + 1))
        .ts(750, TS_OFFSET)
        .win(502)
        .data(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.input(third), Disposition::Accepted);
    assert_eq!(h.state(), TcpState::Established);
    let events = h.drain_events();
    assert!(events.contains(&ConnEvent::Readable));
    assert_eq!(h.recv_all(), b"GET / HTTP/1.0\r\n\r\n");
    // Quick-ACK mode: the data is acknowledged at once.
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack, Some(SeqNum(IRS + 1 + 18)));
    let info = h.info();
    assert_eq!(info.rtt, 50_000, "the SYN-ACK was timed");
    assert_eq!(info.snd_wnd, 502 << 7, "the third ACK's window is scaled");
    assert_eq!(
        info.delivered, 1,
        "the SYN-ACK counts as delivered, as in Linux"
    );
    assert_eq!(h.env.stats.tcp.passive_opens, 1);
    assert_eq!(
        Harness::established().info().delivered,
        1,
        "so does our SYN"
    );
}

#[test]
fn syn_ack_is_retransmitted_at_1_3_7_15_31_s_and_the_half_open_entry_dies_at_63_s() {
    let syn = seg("S", IRS, None).linux_syn_opts();
    let mut h = Harness::server(Config::default(), &syn);
    let sent = h.run_until(100_000);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [0, 1_000, 3_000, 7_000, 15_000, 31_000]);
    assert!(sent.iter().all(|(_, s)| s.f() == "S."));
    assert_eq!(h.state(), TcpState::Closed);
    let closed_at = h
        .events
        .iter()
        .chain(h.env.events.iter())
        .any(|e| *e == ConnEvent::Closed(CloseReason::TimedOut));
    assert!(closed_at);
}

#[test]
fn the_half_open_entry_times_out_at_63_s_exactly() {
    let syn = seg("S", IRS, None).linux_syn_opts();
    let mut h = Harness::server(Config::default(), &syn);
    h.run_until(62_999);
    assert_eq!(h.state(), TcpState::SynReceived);
    h.run_until(63_000);
    assert_eq!(h.state(), TcpState::Closed);
}

#[test]
fn a_retransmitted_syn_gets_the_syn_ack_again() {
    let syn = seg("S", IRS, None).linux_syn_opts();
    let mut h = Harness::server(Config::default(), &syn);
    h.output();
    h.at(300);
    assert_eq!(h.input(syn.clone()), Disposition::Accepted);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].f(), "S.");
    assert_eq!(h.state(), TcpState::SynReceived);
}

#[test]
fn an_unacceptable_third_ack_draws_a_reset() {
    let syn = seg("S", IRS, None).linux_syn_opts();
    let mut h = Harness::server(Config::default(), &syn);
    h.output();
    let d = h.input(seg(".", IRS + 1, Some(ISS + 10)));
    assert_eq!(d, Disposition::ResetSent(DropReason::BadHandshakeAck));
    let out = h.output();
    assert_eq!(out[0].f(), "R");
    assert_eq!(out[0].seq, SeqNum(ISS + 10));
    assert_eq!(h.state(), TcpState::SynReceived);
}

#[test]
fn mss_is_536_when_absent_and_clamped_to_48() {
    let syn = seg("S", IRS, None);
    let h = Harness::server(Config::default(), &syn);
    assert_eq!(h.info().snd_mss, 536);
    let syn = seg("S", IRS, None).mss(20);
    let h = Harness::server(Config::default(), &syn);
    assert_eq!(h.info().snd_mss, 48);
}

#[test]
fn data_written_before_the_handshake_goes_out_once_established() {
    let mut h = Harness::client(Config::default());
    assert_eq!(h.send(b"early"), 5);
    let out = h.output();
    assert_eq!(
        out.len(),
        1,
        "only the SYN: no data in a SYN without Fast Open"
    );
    assert!(out[0].payload.is_empty());
    h.at(100);
    h.feed(
        seg("S.", IRS, Some(ISS + 1))
            .linux_syn_opts()
            .ts(700, TS_OFFSET),
    );
    let out = h.output();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].payload, b"early");
    assert_eq!(out[0].f(), "P.");
}

#[test]
fn tcp_syncnt_limits_syn_retransmissions() {
    let socket = SocketOptions {
        syn_retries: 1,
        ..SocketOptions::default()
    };
    let mut h = Harness::client_with(Config::default(), socket);
    let sent = h.run_until(10_000);
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [0, 1_000], "one retransmission, not six");
    assert_eq!(h.conn.close_reason(), Some(CloseReason::TimedOut));
    let mut h = Harness::client(Config::default());
    assert_eq!(
        h.conn
            .set_option(Instant::ZERO, SocketOption::SynCount(0), &mut h.env),
        Err(SetOptionError::InvalidValue)
    );
}

#[test]
fn tcp_maxseg_clamps_the_advertised_and_the_send_mss() {
    let socket = SocketOptions {
        max_segment: 1000,
        ..SocketOptions::default()
    };
    let mut h = Harness::client_with(Config::default(), socket);
    let syn = h.output();
    assert_eq!(syn[0].options.mss, Some(1000));
    h.at(10);
    h.feed(seg("S.", IRS, Some(ISS + 1)).mss(1460).win(65_535));
    assert_eq!(h.state(), TcpState::Established);
    let info = h.info();
    assert_eq!((info.advmss, info.snd_mss), (1000, 1000));
    assert_eq!(
        h.conn
            .set_option(h.now, SocketOption::MaxSegment(87), &mut h.env),
        Err(SetOptionError::InvalidValue)
    );
}

#[test]
fn data_on_the_syn_ack_follows_the_syn_in_sequence_space() {
    // RFC 9293 §3.10.7.3: RCV.NXT = SEG.SEQ + 1, then the text: the first
    // byte of a SYN-ACK's data is at IRS + 1 (Fast Open servers send this).
    let mut h = Harness::client(Config::default());
    let syn = h.output();
    h.at(10);
    h.feed(
        seg("S.", IRS, Some(ISS + 1))
            .linux_syn_opts()
            .ts(700, syn[0].ts_val().map_or(0, |t| t.tsval))
            .data(b"hello"),
    );
    assert_eq!(h.state(), TcpState::Established);
    let out = h.output();
    assert_eq!(
        out.last().map(|s| s.ack),
        Some(Some(SeqNum(IRS + 1 + 5))),
        "{out:?}"
    );
    assert_eq!(h.recv_all(), b"hello");
}

#[test]
fn a_write_waiting_for_the_handshake_makes_the_connection_interactive() {
    // Linux `sk_write_pending` at the SYN-ACK: the data carries the ACK and,
    // sent within `ato` of the SYN-ACK, enters ping-pong mode, so the
    // peer's answer waits for a delayed ACK (blocking-connect-bypass.pkt).
    let mut h = Harness::client(Config::default());
    assert_eq!(h.output().len(), 1, "SYN");
    assert_eq!(h.send(&[1; 100]), 100);
    h.at(100);
    h.feed(seg("S.", IRS, Some(ISS + 1)).mss(1460).win(65_535));
    let out = h.output();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].payload.len(), out[0].f().as_str()), (100, "P."));
    h.at(120);
    h.feed(seg("P.", IRS + 1, Some(ISS + 101)).len(50));
    assert_eq!(h.output(), [], "the answer's ACK is delayed");
    // Without a waiting write the first data is acknowledged at once.
    let mut h = Harness::client(Config::default());
    h.output();
    h.at(100);
    h.feed(seg("S.", IRS, Some(ISS + 1)).mss(1460).win(65_535));
    h.output();
    h.at(120);
    h.feed(seg("P.", IRS + 1, Some(ISS + 1)).len(50));
    assert_eq!(h.output().len(), 1, "quick ACK");
}

#[test]
fn a_syn_ack_echoing_a_tsval_never_sent_is_reset_and_syn_sent_goes_on() {
    // synack-data.pkt: Linux's PAWSActiveRejected.
    let mut h = Harness::client(Config::default());
    let syn = h.output();
    let tsval = syn[0].ts_val().expect("our SYN has timestamps").tsval;
    h.at(10);
    let bad = seg("S.", IRS, Some(ISS + 1))
        .linux_syn_opts()
        .ts(700, tsval.wrapping_add(9_999));
    assert_eq!(h.input(bad), Disposition::ResetSent(DropReason::Paws));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].f().as_str(), out[0].seq, out[0].ack),
        ("R", SeqNum(ISS + 1), None)
    );
    assert_eq!(h.state(), TcpState::SynSent);
    h.at(20);
    h.feed(
        seg("S.", IRS, Some(ISS + 1))
            .linux_syn_opts()
            .ts(701, tsval),
    );
    assert_eq!(h.state(), TcpState::Established);
}

/// RFC 9293 §3.10.7.4 "second": a reset in SYN-RECEIVED ends a passive open
/// quietly (back to LISTEN) and refuses an active one. The flag that tells
/// them apart lives in `Core` (the state's variant is only the two halves),
/// so this checks that it follows how the connection was opened.
#[test]
fn a_reset_in_syn_received_tells_a_passive_open_from_a_simultaneous_one() {
    let syn = seg("S", IRS, None).linux_syn_opts();
    let mut server = Harness::server(Config::default(), &syn);
    server.output();
    assert_eq!(server.state(), TcpState::SynReceived);
    assert!(server.conn.is_passive());
    assert_eq!(
        server.input(seg("R", IRS + 1, None)),
        Disposition::ConnectionReset
    );
    assert_eq!(server.conn.close_reason(), Some(CloseReason::Reset));

    let mut client = Harness::client(Config::default());
    client.output();
    client.at(10);
    let _ = client.input(seg("S", IRS, None).linux_syn_opts());
    assert_eq!(client.state(), TcpState::SynReceived);
    assert!(!client.conn.is_passive(), "a simultaneous open is active");
    assert_eq!(
        client.input(seg("R", IRS + 1, None)),
        Disposition::ConnectionReset
    );
    assert_eq!(client.conn.close_reason(), Some(CloseReason::Refused));
}

/// The passive flag in `Core` for the listener's other two ways into
/// SYN-RECEIVED: a Fast Open child (RFC 7413 §4.2.2) and a connection
/// rebuilt from a SYN cookie. Both are passive opens: a reset ends them
/// quietly (RFC 9293 §3.10.7.4 "second"), as the variant's own flag did
/// before session 9 moved it.
#[test]
fn fast_open_children_and_cookie_connections_are_passive_opens() {
    let syn = seg("S", IRS, None).linux_syn_opts();
    let harness = |env: Env, conn: Connection| Harness {
        env,
        conn,
        now: Instant::ZERO,
        events: Vec::new(),
    };
    type Build = fn(&TcpRepr<'_>, &mut Env) -> Connection;
    let builds: [(&str, Build); 2] = [
        ("fast open child", |syn, env| {
            Connection::accept_fast_open(
                Instant::ZERO,
                LOCAL,
                REMOTE,
                syn,
                &params(),
                None,
                true,
                env,
            )
        }),
        ("cookie", |syn, env| {
            Connection::from_cookie(Instant::ZERO, LOCAL, REMOTE, syn, &params(), env)
        }),
    ];
    for (name, build) in builds {
        let mut env = Env::new(Config::default());
        let conn = build(&syn.repr(), &mut env);
        let mut h = harness(env, conn);
        h.output();
        assert_eq!(h.state(), TcpState::SynReceived, "{name}");
        assert!(h.conn.is_passive(), "{name}");
        assert_eq!(
            h.input(seg("R", IRS + 1, None)),
            Disposition::ConnectionReset,
            "{name}"
        );
        assert_eq!(h.conn.close_reason(), Some(CloseReason::Reset), "{name}");
    }
}
