//! ECN (RFC 3168) through the stack: the IP ECN field in and out,
//! negotiation between two stacks, the CE -> ECE -> CWR loop, SYN cookies,
//! an ECT-marked SYN, and hostile bits.

use super::*;
use crate::config::SynCookieMode;
use crate::tcp::conn::tcpi_options;
use crate::tcp::recovery::CaState;
use crate::tcp::segment::SegmentHeader;
use crate::wire::tcp::TcpTimestamp;

/// One frame as the test sees it: the IP ECN bits and the TCP header.
#[derive(Clone, Debug)]
struct Frame {
    bytes: Vec<u8>,
    ecn: u8,
    flags: TcpFlags,
    len: usize,
}

impl Frame {
    fn parse(bytes: &[u8]) -> Frame {
        let ip = Ipv4Packet::new_checked(bytes).expect("an IP datagram");
        assert!(ip.verify_checksum(), "the IP checksum holds");
        let ipr = Ipv4Repr::parse(&ip, Checksum::Full).expect("a valid header");
        let tcp = TcpPacket::new_checked(ip.payload()).expect("a TCP segment");
        let seg = TcpRepr::parse(&tcp, ipr.src_addr, ipr.dst_addr, Checksum::Offload)
            .expect("a valid segment");
        Frame {
            bytes: bytes.to_vec(),
            ecn: ip.ecn(),
            flags: seg.flags,
            len: seg.payload.len(),
        }
    }

    /// The frame as a congested router would pass it on (RFC 3168 §5).
    fn mark_ce(&self) -> Vec<u8> {
        let mut b = self.bytes.clone();
        let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
        let tos = ip.dscp_ecn();
        ip.set_dscp_ecn(tos | 0b11);
        ip.fill_checksum();
        b
    }
}

fn frames(s: &mut Stack, now: Instant) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut buf = [0xAAu8; 2000];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(Frame::parse(&buf[..n]));
    }
    out
}

fn ecn_wire(a_ecn: u8, b_ecn: u8) -> Wire {
    let mut w = Wire::new();
    w.a.set_sysctl("tcp_ecn", &a_ecn.to_string()).unwrap();
    w.b.set_sysctl("tcp_ecn", &b_ecn.to_string()).unwrap();
    w
}

fn has_ecn(s: &Stack, c: ConnHandle) -> bool {
    s.tcp_info(c).unwrap().options & tcpi_options::ECN != 0
}

#[test]
fn ecn_is_negotiated_only_when_one_side_asks_and_the_other_accepts() {
    // RFC 3168 §6.1.1; tcp_ecn: 1 asks and accepts, 2 accepts, 0 neither.
    for (a, b, on) in [
        (1, 2, true),
        (1, 1, true),
        (1, 0, false),
        (2, 2, false),
        (2, 1, false),
        (0, 1, false),
    ] {
        let mut w = ecn_wire(a, b);
        let (c, s) = connected(&mut w);
        assert_eq!(has_ecn(&w.a, c), on, "tcp_ecn {a} -> {b}");
        assert_eq!(has_ecn(&w.b, s), on, "tcp_ecn {a} -> {b}");
    }
}

/// An ECN connection from A to B with `data` sent by A; returns A's frames.
fn ecn_data(w: &mut Wire, c: ConnHandle, data: usize) -> Vec<Frame> {
    w.a.tcp_send(w.now, c, &vec![7; data]).unwrap();
    frames(&mut w.a, w.now)
}

#[test]
fn data_is_ect0_and_nothing_else_is() {
    // §6.1.2: ECT on data; §6.1.1, §6.1.4: never on SYNs or pure ACKs.
    let mut w = ecn_wire(1, 2);
    let mut log = Vec::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    // The handshake by hand, to see every frame.
    let syn = frames(&mut w.a, w.now);
    assert_eq!(syn[0].flags, TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR);
    w.b.handle_frame(w.now, &syn[0].bytes);
    let syn_ack = frames(&mut w.b, w.now);
    assert_eq!(
        syn_ack[0].flags,
        TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE
    );
    w.a.handle_frame(w.now, &syn_ack[0].bytes);
    let ack = frames(&mut w.a, w.now);
    w.b.handle_frame(w.now, &ack[0].bytes);
    let s = w.b.tcp_accept(l).unwrap();
    log.extend(syn.iter().chain(&syn_ack).chain(&ack).cloned());
    let data = ecn_data(&mut w, c, 3000);
    assert_eq!(data.iter().map(|f| f.len).sum::<usize>(), 3000);
    for f in &data {
        w.b.handle_frame(w.now, &f.bytes);
    }
    w.now += Duration::from_millis(200);
    w.b.handle_timeout(w.now);
    let acks = frames(&mut w.b, w.now);
    assert!(!acks.is_empty());
    log.extend(data.iter().chain(&acks).cloned());
    for f in &log {
        let want = if f.len > 0 { 0b10 } else { 0b00 };
        assert_eq!(f.ecn, want, "{:?} with {} bytes", f.flags, f.len);
    }
    assert!(has_ecn(&w.b, s));
    let info = w.b.tcp_info(s).unwrap();
    assert_ne!(info.options & tcpi_options::ECN_SEEN, 0, "ECT data seen");
}

#[test]
fn ect0_survives_segmentation_offload() {
    // The codepoint rides next to the offload metadata (both leave through
    // `TxOffload`); a super-segment is ECT like its pieces would be.
    let mut w = ecn_wire(1, 2);
    let (c, _s) = connected(&mut w);
    let offloads = Offloads {
        tso: true,
        csum: true,
    };
    w.a.set_offloads(IfaceId(0), offloads);
    w.a.tcp_send(w.now, c, &[7; 8000]).unwrap();
    let mut buf = vec![0xAAu8; 70_000];
    let mut data_frames = 0;
    while let Some(t) = w.a.poll_transmit_offloaded(w.now, &mut buf) {
        let ip = Ipv4Packet::new_checked(&buf[..t.len]).unwrap();
        assert_eq!(ip.ecn(), 0b10);
        data_frames += 1;
    }
    assert!(data_frames >= 1);
}

#[test]
fn ce_is_echoed_until_cwr_and_the_sender_reduces_once_without_retransmitting() {
    // The closed loop of §6.1.2-§6.1.3 between two stacks.
    let mut w = ecn_wire(1, 2);
    let (c, s) = connected(&mut w);
    let cwnd0 = w.a.tcp_info(c).unwrap().snd_cwnd;
    let data = ecn_data(&mut w, c, 5 * 1448);
    assert!(data.len() >= 2);
    // A router marks the second segment CE.
    for (i, f) in data.iter().enumerate() {
        let bytes = if i == 1 { f.mark_ce() } else { f.bytes.clone() };
        w.b.handle_frame(w.now, &bytes);
    }
    let acks = frames(&mut w.b, w.now);
    assert!(
        acks.iter().any(|f| f.flags.contains(TcpFlags::ECE)),
        "CE is ACKed at once with ECE: {acks:?}"
    );
    for f in &acks {
        assert_eq!(f.ecn, 0, "pure ACKs are not ECT");
        w.a.handle_frame(w.now, &f.bytes);
    }
    let info = w.a.tcp_info(c).unwrap();
    assert_eq!(info.ca_state, CaState::Cwr);
    assert!(info.snd_ssthresh < cwnd0, "ssthresh reduced");
    // The next new data carries CWR (once) and is ECT(0).
    let more = ecn_data(&mut w, c, 2 * 1448);
    let cwr: Vec<_> = more
        .iter()
        .filter(|f| f.flags.contains(TcpFlags::CWR))
        .collect();
    assert_eq!(cwr.len(), 1, "{more:?}");
    assert_eq!(cwr[0].ecn, 0b10);
    for f in &more {
        w.b.handle_frame(w.now, &f.bytes);
    }
    // B stops echoing once CWR arrived.
    w.now += Duration::from_millis(200);
    w.b.handle_timeout(w.now);
    let acks = frames(&mut w.b, w.now);
    assert!(!acks.is_empty());
    assert!(
        acks.iter().all(|f| !f.flags.contains(TcpFlags::ECE)),
        "{acks:?}"
    );
    for f in &acks {
        w.a.handle_frame(w.now, &f.bytes);
    }
    let info = w.a.tcp_info(c).unwrap();
    assert_eq!(info.ca_state, CaState::Open, "reduction over");
    assert_eq!(info.snd_cwnd, info.snd_ssthresh, "cwnd = ssthresh");
    assert_eq!(info.total_retrans, 0, "ECN costs no retransmission");
    assert!(has_ecn(&w.b, s));
}

#[test]
fn a_merged_run_keeps_its_ecn_field() {
    // Software GRO (`handle_frames`) merges a run of ECT(0) or of CE
    // segments (one TOS byte per run): the connection still sees ECT data
    // and echoes CE.
    let mut w = ecn_wire(1, 2);
    let (c, s) = connected(&mut w);
    let data = ecn_data(&mut w, c, 4 * 1448);
    assert!(data.len() >= 4);
    let in_segs = w.b.stats().tcp.in_segs;
    w.b.handle_frames(w.now, IfaceId(0), data.iter().map(|f| f.bytes.as_slice()));
    assert_eq!(w.b.stats().tcp.in_segs - in_segs, 1, "merged");
    let info = w.b.tcp_info(s).unwrap();
    assert_ne!(info.options & tcpi_options::ECN_SEEN, 0, "ECT data seen");
    let acks = frames(&mut w.b, w.now);
    assert!(acks.iter().all(|f| !f.flags.contains(TcpFlags::ECE)));
    for f in &acks {
        w.a.handle_frame(w.now, &f.bytes);
    }
    let marked: Vec<Vec<u8>> = ecn_data(&mut w, c, 4 * 1448)
        .iter()
        .map(Frame::mark_ce)
        .collect();
    let in_segs = w.b.stats().tcp.in_segs;
    w.b.handle_frames(w.now, IfaceId(0), marked.iter().map(Vec::as_slice));
    assert_eq!(w.b.stats().tcp.in_segs - in_segs, 1, "merged");
    let acks = frames(&mut w.b, w.now);
    assert!(
        acks.iter().any(|f| f.flags.contains(TcpFlags::ECE)),
        "CE in a merged run is echoed: {acks:?}"
    );
}

const SERVER: SocketAddrV4 = SocketAddrV4::new(B, 80);
const CLIENT: SocketAddrV4 = SocketAddrV4::new(A, 40000);

fn to_server(flags: TcpFlags, seq: u32, ack: Option<u32>, ts: Option<TcpTimestamp>) -> Vec<u8> {
    let header = SegmentHeader {
        seq: SeqNum(seq),
        ack: ack.map(SeqNum),
        flags,
        window: 502,
        options: TcpOptions {
            mss: flags.syn().then_some(1460),
            timestamp: ts,
            ..TcpOptions::default()
        },
    };
    ip_datagram(
        A,
        B,
        IpProtocol::Tcp,
        &tcp_bytes(CLIENT, SERVER, &header, b""),
    )
}

fn server(cookies: SynCookieMode) -> (Stack, ListenerHandle) {
    let mut s = Stack::new(
        Config {
            seed: 9,
            tcp_syncookies: cookies,
            ..Config::default()
        },
        Interface::ip(B, 24),
    );
    let l = s.tcp_listen(SERVER, 16).unwrap();
    (s, l)
}

const SEW: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ECE.0 | TcpFlags::CWR.0);

#[test]
fn a_cookie_syn_ack_negotiates_ecn_only_when_the_cookie_can_remember_it() {
    // As Linux: the cookie's TSval carries the ECN bit, so only a SYN with
    // timestamps gets an ECN-setup cookie SYN-ACK; the ACK's echo of it
    // makes an ECN connection.
    let t = Instant::from_secs(100);
    for with_ts in [true, false] {
        let (mut s, l) = server(SynCookieMode::Always);
        let ts = with_ts.then_some(TcpTimestamp {
            tsval: 100,
            tsecr: 0,
        });
        s.handle_frame(t, &to_server(SEW, 1000, None, ts));
        let out = frames(&mut s, t);
        assert_eq!(out.len(), 1);
        let ece = out[0].flags.contains(TcpFlags::ECE);
        assert_eq!(ece, with_ts, "ECE on the cookie SYN-ACK");
        assert!(!out[0].flags.contains(TcpFlags::CWR));
        let syn_ack = {
            let ip = Ipv4Packet::new_checked(&out[0].bytes[..]).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            let seg = TcpRepr::parse(&tcp, B, A, Checksum::Offload).unwrap();
            (seg.seq.raw(), seg.options.timestamp)
        };
        let echo = syn_ack.1.map(|t| TcpTimestamp {
            tsval: 101,
            tsecr: t.tsval,
        });
        s.handle_frame(
            t,
            &to_server(TcpFlags::ACK, 1001, Some(syn_ack.0 + 1), echo),
        );
        let c = s.tcp_accept(l).expect("the cookie made a connection");
        assert_eq!(has_ecn(&s, c), with_ts);
    }
}

#[test]
fn an_ecn_setup_syn_that_is_itself_ect_gets_no_ecn() {
    // §6.1.1: "MUST NOT set ECT on SYN"; a marked one means a path that
    // rewrites the ECN bits (Linux `tcp_ecn_create_request`).
    let t = Instant::from_secs(1);
    for (tos, ecn) in [(0b00, true), (0b10, false), (0b01, false), (0b11, false)] {
        let (mut s, _l) = server(SynCookieMode::Never);
        let mut syn = to_server(SEW, 1000, None, None);
        let mut ip = Ipv4Packet::new_unchecked(&mut syn[..]);
        ip.set_dscp_ecn(tos);
        ip.fill_checksum();
        s.handle_frame(t, &syn);
        let out = frames(&mut s, t);
        assert_eq!(out[0].flags.contains(TcpFlags::ECE), ecn, "tos {tos:#b}");
    }
}

#[test]
fn ecn_bits_on_a_connection_without_ecn_change_nothing() {
    // Hostile: ECE, CWR and CE on a connection that did not negotiate ECN.
    let mut w = ecn_wire(2, 2);
    let (c, s) = connected(&mut w);
    let before = w.a.tcp_info(c).unwrap();
    let data = ecn_data(&mut w, c, 4 * 1448);
    for f in &data {
        assert_eq!(f.ecn, 0);
        w.b.handle_frame(w.now, &f.mark_ce());
    }
    let acks = frames(&mut w.b, w.now);
    for f in &acks {
        assert!(!f.flags.intersects(TcpFlags::ECE | TcpFlags::CWR));
        // The ACK arrives with ECE and CWR set by a hostile middlebox.
        let mut b = f.bytes.clone();
        b[20 + 13] |= (TcpFlags::ECE | TcpFlags::CWR).bits();
        let mut tcp = TcpPacket::new_unchecked(&mut b[20..]);
        tcp.fill_checksum(B, A);
        w.a.handle_frame(w.now, &b);
    }
    let after = w.a.tcp_info(c).unwrap();
    assert_eq!(after.ca_state, CaState::Open);
    assert!(after.snd_cwnd >= before.snd_cwnd, "no reduction");
    assert!(!has_ecn(&w.b, s));
}
