//! TCP Fast Open (RFC 7413) through the stack, both sides, on the wire as
//! the packetdrill corpus records Linux (gtests/net/tcp/fastopen): the
//! server's cookies for known keys, data taken from the SYN at once, the
//! client's cookie request, SYN data, retransmission and fallback, and a
//! pair of stacks learning and using cookies.

use super::*;
use crate::config::fastopen_flags;
use crate::siphash::SipKey;
use crate::tcp::segment::SegmentHeader;
use crate::wire::tcp::{FastOpenCookie, FastOpenOption, TcpTimestamp};

/// A TCP segment as an IP datagram.
#[allow(clippy::too_many_arguments)]
fn tcp(
    from: SocketAddrV4,
    to: SocketAddrV4,
    flags: TcpFlags,
    seq: u32,
    ack: Option<u32>,
    window: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let header = SegmentHeader {
        seq: SeqNum(seq),
        ack: ack.map(SeqNum),
        flags,
        window,
        options,
    };
    ip_datagram(
        *from.ip(),
        *to.ip(),
        IpProtocol::Tcp,
        &tcp_bytes(from, to, &header, payload),
    )
}

fn fo(experimental: bool, cookie: &[u8]) -> Option<FastOpenOption> {
    Some(FastOpenOption {
        experimental,
        cookie: FastOpenCookie::new(cookie).unwrap(),
    })
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The one TCP segment a stack sends now.
fn one_segment(s: &mut Stack, now: Instant) -> Seen {
    let out: Vec<Seen> = drain_seen(s, now)
        .into_iter()
        .filter(|f| matches!(f, Seen::Tcp { .. }))
        .collect();
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap()
}

fn fields(seen: &Seen) -> (TcpFlags, u32, Option<u32>, usize, TcpOptions) {
    match seen {
        Seen::Tcp {
            flags,
            seq,
            ack,
            len,
            options,
            ..
        } => (*flags, *seq, *ack, *len, *options),
        other => panic!("{other:?}"),
    }
}

// ---- the server ------------------------------------------------------------------

/// packetdrill's defaults.sh: `tcp_fastopen=0x70403` and its key.
fn packetdrill_server(addr: Ipv4Addr, key: &str, fastopen: u32) -> Stack {
    Stack::new(
        Config {
            seed: 3,
            tcp_fastopen: fastopen,
            tcp_fastopen_key: Some(key.into()),
            ..Config::default()
        },
        Interface::ip(addr, 24),
    )
}

const T: Instant = Instant::from_secs(1);
const SACK_ONLY: TcpOptions = TcpOptions {
    mss: Some(1460),
    window_scale: None,
    sack_permitted: true,
    sack_blocks: crate::wire::tcp::SackBlocks::new(),
    timestamp: None,
    fast_open: None,
    malformed_fast_open: false,
    md5: false,
};

#[test]
fn server_takes_syn_data_with_a_valid_cookie_as_opt34_basic_rw_pkt() {
    // --remote_ip=192.0.2.1 --local_ip=192.168.0.1, defaults.sh's key:
    // Linux's cookie for this pair is 3021b9d889017eeb.
    let local = SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 1), 8080);
    let peer = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 45000);
    let mut s = packetdrill_server(*local.ip(), "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4", 0x70403);
    let reuse = ListenOptions {
        backlog: 1,
        reuse_addr: true,
        reuse_port: false,
        fastopen_qlen: 0,
    };
    let l = s.tcp_listen_with(local, reuse).unwrap();
    let options = TcpOptions {
        fast_open: fo(false, &hex("3021b9d889017eeb")),
        ..SACK_ONLY
    };
    s.handle_frame(
        T,
        &tcp(
            peer,
            local,
            TcpFlags::SYN,
            0,
            None,
            32792,
            options,
            b"0123456789",
        ),
    );
    // > S. 0:0(0) ack 11 <mss 1460,nop,nop,sackOK>
    let (flags, iss, ack, len, opts) = fields(&one_segment(&mut s, T));
    assert_eq!(
        (flags, ack, len),
        (TcpFlags::SYN | TcpFlags::ACK, Some(11), 0)
    );
    assert_eq!(
        opts, SACK_ONLY,
        "no Fast Open option back for a good cookie"
    );
    // accept() and read() before the handshake completes: the data is there.
    assert!(events(&mut s).contains(&Event::AcceptReady(l)));
    let c = s.tcp_accept(l).unwrap();
    assert_eq!(s.tcp_state(c), TcpState::SynReceived);
    assert_eq!(
        s.tcp_info(c).unwrap().options & crate::tcp::conn::tcpi_options::SYN_DATA,
        32
    );
    let mut buf = [0u8; 512];
    assert_eq!(s.tcp_recv(T, c, &mut buf), Ok(10));
    assert_eq!(&buf[..10], b"0123456789");
    // write(100) goes out at once: > P. 1:101(100) ack 11
    let t = T + Duration::from_millis(200);
    assert_eq!(s.tcp_send(t, c, &[b'x'; 100]), Ok(100));
    let (flags, seq, ack, len, _) = fields(&one_segment(&mut s, t));
    assert_eq!(
        (flags, seq.wrapping_sub(iss), ack, len),
        (TcpFlags::PSH | TcpFlags::ACK, 1, Some(11), 100)
    );
    assert_eq!(s.stats().tcp_ext.tcp_fast_open_passive, 1);
}

#[test]
fn server_answers_an_experimental_cookie_request_as_simple1_pkt() {
    // --local_ip=192.168.0.2 --remote_ip=10.248.0.2, key a0bf63f7-...:
    // the SYN-ACK carries FOEXP 00abaaabe8e954c2.
    let local = SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 2), 8080);
    let peer = SocketAddrV4::new(Ipv4Addr::new(10, 248, 0, 2), 45000);
    let mut s = packetdrill_server(*local.ip(), "a0bf63f7-ed803d81-cd641d30-cebc4a90", 0x30403);
    s.tcp_listen(local, 1).unwrap();
    let ts = |tsval| Some(TcpTimestamp { tsval, tsecr: 0 });
    let options = TcpOptions {
        mss: Some(1012),
        sack_permitted: true,
        window_scale: Some(7),
        timestamp: ts(1),
        fast_open: fo(true, &[]),
        ..TcpOptions::default()
    };
    s.handle_frame(
        T,
        &tcp(
            peer,
            local,
            TcpFlags::SYN,
            1428932,
            None,
            10000,
            options,
            b"",
        ),
    );
    let (_, _, ack, _, opts) = fields(&one_segment(&mut s, T));
    assert_eq!(ack, Some(1428933));
    assert_eq!(opts.fast_open, fo(true, &hex("00abaaabe8e954c2")));
    assert_eq!(s.stats().tcp_ext.tcp_fast_open_cookie_reqd, 1);
    // A SYN with that cookie and 1000 bytes: ack 6815001, data taken.
    let options = TcpOptions {
        timestamp: ts(10),
        fast_open: fo(true, &hex("00abaaabe8e954c2")),
        ..options
    };
    let other = SocketAddrV4::new(*peer.ip(), 45001);
    s.handle_frame(
        T,
        &tcp(
            other,
            local,
            TcpFlags::SYN,
            6814000,
            None,
            10000,
            options,
            &[7; 1000],
        ),
    );
    let (_, _, ack, _, opts) = fields(&one_segment(&mut s, T));
    assert_eq!((ack, opts.fast_open), (Some(6815001), None));
}

fn server_with_listener(fastopen: u32, qlen: usize) -> (Stack, ListenerHandle, [u8; 8]) {
    let key = "00000001-00000002-00000003-00000004";
    let mut s = packetdrill_server(B, key, fastopen);
    let l = s
        .tcp_listen_with(
            SocketAddrV4::new(B, 80),
            ListenOptions {
                backlog: 8,
                reuse_addr: false,
                reuse_port: false,
                fastopen_qlen: qlen,
            },
        )
        .unwrap();
    let cookie = crate::tcp::fastopen_cookie::FastOpenKeys::parse_sysctl(key)
        .unwrap()
        .cookie(A, B);
    (s, l, cookie)
}

const SERVER: SocketAddrV4 = SocketAddrV4::new(B, 80);

fn peer(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(A, port)
}

/// The client on `port`'s ACK of a SYN-ACK whose ISS was `iss`, its next
/// byte `seq`: the handshake's last segment.
fn ack_of_syn_ack(port: u16, seq: u32, iss: u32) -> Vec<u8> {
    tcp(
        peer(port),
        SERVER,
        TcpFlags::ACK,
        seq,
        Some(iss + 1),
        502,
        TcpOptions::default(),
        b"",
    )
}

#[test]
fn syn_data_without_a_cookie_acknowledges_only_the_syn_as_pure_syn_data_pkt() {
    let (mut s, l, _) = server_with_listener(0x3, 4);
    s.handle_frame(
        T,
        &tcp(
            peer(1),
            SERVER,
            TcpFlags::SYN,
            999000,
            None,
            32792,
            SACK_ONLY,
            &[1; 40],
        ),
    );
    let (_, _, ack, _, opts) = fields(&one_segment(&mut s, T));
    assert_eq!((ack, opts.fast_open), (Some(999001), None));
    assert_eq!(
        s.tcp_listener_queues(l),
        Some((1, 0)),
        "an ordinary half-open entry"
    );
    // With 0x200 (TFO_SERVER_COOKIE_NOT_REQD) the data is taken, as
    // basic-cookie-not-reqd.pkt.
    let (mut s, l, _) = server_with_listener(0x202, 2);
    s.handle_frame(
        T,
        &tcp(
            peer(2),
            SERVER,
            TcpFlags::SYN,
            0,
            None,
            32792,
            SACK_ONLY,
            &[1; 1000],
        ),
    );
    let (_, _, ack, _, _) = fields(&one_segment(&mut s, T));
    assert_eq!(ack, Some(1001));
    let c = s.tcp_accept(l).unwrap();
    let mut buf = [0u8; 1024];
    assert_eq!(s.tcp_recv(T, c, &mut buf), Ok(1000));
}

#[test]
fn an_invalid_cookie_gets_the_syn_acked_and_a_valid_cookie_back() {
    let (mut s, l, cookie) = server_with_listener(0x3, 4);
    let mut bad = cookie;
    bad[3] ^= 0x40;
    for exp in [false, true] {
        let options = TcpOptions {
            fast_open: fo(exp, &bad),
            ..SACK_ONLY
        };
        let port = 10 + u16::from(exp);
        s.handle_frame(
            T,
            &tcp(
                peer(port),
                SERVER,
                TcpFlags::SYN,
                500,
                None,
                32792,
                options,
                b"data",
            ),
        );
        let (_, _, ack, _, opts) = fields(&one_segment(&mut s, T));
        assert_eq!(ack, Some(501), "only the SYN");
        assert_eq!(opts.fast_open, fo(exp, &cookie), "in the kind the SYN used");
    }
    assert_eq!(s.stats().tcp_ext.tcp_fast_open_passive_fail, 2);
    assert_eq!(s.tcp_listener_queues(l), Some((2, 0)));
}

#[test]
fn the_pending_fast_open_queue_is_capped_by_its_qlen() {
    let (mut s, l, cookie) = server_with_listener(0x3, 1);
    let options = TcpOptions {
        fast_open: fo(false, &cookie),
        ..SACK_ONLY
    };
    s.handle_frame(
        T,
        &tcp(
            peer(1),
            SERVER,
            TcpFlags::SYN,
            100,
            None,
            32792,
            options,
            b"one",
        ),
    );
    let (_, iss1, ack, ..) = fields(&one_segment(&mut s, T));
    assert_eq!(ack, Some(104));
    // A second before the first is established: a plain SYN-ACK.
    s.handle_frame(
        T,
        &tcp(
            peer(2),
            SERVER,
            TcpFlags::SYN,
            200,
            None,
            32792,
            options,
            b"two",
        ),
    );
    let (_, _, ack, _, opts) = fields(&one_segment(&mut s, T));
    assert_eq!((ack, opts.fast_open), (Some(201), None));
    assert_eq!(s.stats().tcp_ext.tcp_fast_open_listen_overflow, 1);
    assert_eq!(s.tcp_listener_queues(l), Some((1, 1)));
    // The first completes its handshake: room again.
    s.handle_frame(T, &ack_of_syn_ack(1, 104, iss1));
    let _ = drain_seen(&mut s, T);
    s.handle_frame(
        T,
        &tcp(
            peer(3),
            SERVER,
            TcpFlags::SYN,
            300,
            None,
            32792,
            options,
            b"three",
        ),
    );
    let (_, _, ack, ..) = fields(&one_segment(&mut s, T));
    assert_eq!(ack, Some(306));
}

#[test]
fn a_reset_after_accept_leaves_the_syn_data_readable_as_reset_after_accept_pkt() {
    let (mut s, l, cookie) = server_with_listener(0x3, 4);
    let options = TcpOptions {
        fast_open: fo(true, &cookie),
        ..SACK_ONLY
    };
    s.handle_frame(
        T,
        &tcp(
            peer(1),
            SERVER,
            TcpFlags::SYN,
            0,
            None,
            32792,
            options,
            b"0123456789",
        ),
    );
    let _ = drain_seen(&mut s, T);
    let c = s.tcp_accept(l).unwrap();
    let t = T + Duration::from_millis(100);
    s.handle_frame(
        t,
        &tcp(
            peer(1),
            SERVER,
            TcpFlags::RST | TcpFlags::ACK,
            11,
            Some(0),
            32792,
            TcpOptions::default(),
            b"",
        ),
    );
    let mut buf = [0u8; 512];
    assert_eq!(s.tcp_recv(t, c, &mut buf), Ok(10));
    assert_eq!(
        s.tcp_recv(t, c, &mut buf),
        Err(RecvError::Connection(crate::tcp::conn::ConnError::Reset))
    );
}

// ---- the client ------------------------------------------------------------------

fn client(fastopen: u32) -> Stack {
    Stack::new(
        Config {
            seed: 4,
            tcp_fastopen: fastopen,
            tcp_timestamps: false,
            ..Config::default()
        },
        Interface::ip(A, 24),
    )
}

/// The server's SYN-ACK to our SYN `syn` (ISN 5000, acknowledging
/// `acked` data bytes), with `options`.
fn syn_ack_to(syn: &Seen, acked: u32, options: TcpOptions) -> Vec<u8> {
    let Seen::Tcp { src, dst, seq, .. } = syn else {
        panic!("{syn:?}");
    };
    tcp(
        *dst,
        *src,
        TcpFlags::SYN | TcpFlags::ACK,
        5000,
        Some(seq + 1 + acked),
        5840,
        options,
        b"",
    )
}

fn synack_options(mss: u16, cookie: Option<FastOpenOption>) -> TcpOptions {
    TcpOptions {
        mss: Some(mss),
        sack_permitted: true,
        window_scale: Some(6),
        fast_open: cookie,
        ..TcpOptions::default()
    }
}

#[test]
fn the_client_asks_for_a_cookie_then_sends_data_with_it_as_nonblocking_sendto_pkt() {
    let mut s = client(fastopen_flags::CLIENT);
    // sendto(fd, "", 0, MSG_FASTOPEN): > S 0:0(0) <...,FO,nop,nop>
    let (c, queued) = s
        .tcp_connect_with_data(T, SERVER, ConnectOptions::default(), b"")
        .unwrap();
    assert_eq!(queued, 0);
    let syn = one_segment(&mut s, T);
    let (_, _, _, len, opts) = fields(&syn);
    assert_eq!((len, opts.fast_open), (0, fo(false, &[])));
    assert!(s.tcp_fastopen_info(c).unwrap().cookie_requested);
    let cookie = hex("abcd1234");
    s.handle_frame(
        T,
        &syn_ack_to(&syn, 0, synack_options(940, fo(false, &cookie))),
    );
    assert_eq!(s.tcp_state(c), TcpState::Established);
    assert_eq!(drain_seen(&mut s, T).len(), 1, "> . 1:1(0) ack 1");
    assert_eq!(s.fastopen_cookie(B), fo(false, &cookie));
    assert_eq!(s.fastopen_entry(B).unwrap().mss, Some(940));
    // Next time: the SYN carries the cookie and 940 - 40 = 900 bytes.
    let (c2, queued) = s
        .tcp_connect_with_data(T, SERVER, ConnectOptions::default(), &[9; 2000])
        .unwrap();
    assert_eq!(queued, 2000, "all of it is queued; the SYN takes 900");
    let syn = one_segment(&mut s, T);
    let (_, _, _, len, opts) = fields(&syn);
    assert_eq!((len, opts.fast_open), (900, fo(false, &cookie)));
    // The server acknowledges the data (and hands out a new cookie).
    let newer = hex("000000000000");
    s.handle_frame(
        T,
        &syn_ack_to(&syn, 900, synack_options(1460, fo(false, &newer))),
    );
    let info = s.tcp_fastopen_info(c2).unwrap();
    assert_eq!((info.syn_data_sent, info.syn_data_acked), (900, true));
    assert_eq!(
        s.tcp_info(c2).unwrap().options & crate::tcp::conn::tcpi_options::SYN_DATA,
        32
    );
    assert_eq!(s.fastopen_cookie(B), fo(false, &newer));
    assert_eq!(s.stats().tcp_ext.tcp_fast_open_active, 1);
    // The rest follows the handshake.
    let out = drain_seen(&mut s, T);
    let data: usize = out.iter().map(|f| fields(f).3).sum();
    assert_eq!(data, 1100);
    // A plain connect is not affected: no option at all.
    s.tcp_connect(T, SocketAddrV4::new(B, 81), ConnectOptions::default())
        .unwrap();
    let (_, _, _, _, opts) = fields(&one_segment(&mut s, T));
    assert_eq!(opts.fast_open, None);
}

#[test]
fn a_remembered_cookie_goes_out_with_the_first_syn() {
    let cookie = hex("0011223344556677");
    // What an earlier run learned, given to a new stack.
    let learned = with_cookie(&cookie, false).fastopen_entry(B).unwrap();
    let mut s = client(fastopen_flags::CLIENT);
    assert_eq!(s.fastopen_cookie(B), None);
    s.fastopen_remember(B, learned);
    s.tcp_connect_with_data(T, SERVER, ConnectOptions::default(), &[7; 100])
        .unwrap();
    let (_, _, _, len, opts) = fields(&one_segment(&mut s, T));
    assert_eq!((len, opts.fast_open), (100, fo(false, &cookie)));
}

#[test]
fn tcp_maxseg_bounds_syn_data_as_syn_data_mss_pkt() {
    let mut s = client(fastopen_flags::CLIENT);
    let (_, _) = s
        .tcp_connect_with_data(T, SERVER, ConnectOptions::default(), b"")
        .unwrap();
    let syn = one_segment(&mut s, T);
    let cookie = hex("abcd1234");
    s.handle_frame(
        T,
        &syn_ack_to(&syn, 0, synack_options(1460, fo(false, &cookie))),
    );
    drain_seen(&mut s, T);
    // Cached MSS 1460, TCP_MAXSEG 1040: the SYN takes 1040 - 40 bytes.
    let mut opts = ConnectOptions::default();
    opts.socket.max_segment = 1040;
    s.tcp_connect_with_data(T, SERVER, opts, &[9; 2000])
        .unwrap();
    let (_, _, _, len, opts) = fields(&one_segment(&mut s, T));
    assert_eq!((len, opts.mss), (1000, Some(1040)));
}

#[test]
fn a_path_mtu_learned_for_the_server_bounds_syn_data() {
    // The SYN's data fits the path MTU the stack learned for the server
    // (`ip/pmtu.rs`), as it fits the interface's otherwise.
    let cookie = hex("0123456789abcdef");
    let mut s = with_cookie(&cookie, false);
    s.path_mtus.learn(T, B, 1280, Duration::from_secs(600));
    s.tcp_connect_with_data(T, SERVER, ConnectOptions::default(), &[5; 3000])
        .unwrap();
    let (_, _, _, len, opts) = fields(&one_segment(&mut s, T));
    assert_eq!(opts.fast_open, fo(false, &cookie));
    // 1280 - 40 for the headers - 40 for the SYN's options.
    assert_eq!(len, 1200);
}

fn with_cookie(cookie: &[u8], exp: bool) -> Stack {
    let mut s = client(fastopen_flags::CLIENT);
    s.tcp_connect_with_data(T, SERVER, ConnectOptions::default(), b"")
        .unwrap();
    let syn = one_segment(&mut s, T);
    s.handle_frame(
        T,
        &syn_ack_to(&syn, 0, synack_options(1460, fo(exp, cookie))),
    );
    let _ = drain_seen(&mut s, T);
    assert_eq!(s.fastopen_cookie(B), fo(exp, cookie));
    s
}

#[test]
fn a_retransmitted_syn_drops_the_data_and_the_option() {
    let cookie = hex("aaaabbbbcccc");
    let mut s = with_cookie(&cookie, false);
    let t = T + Duration::from_secs(1);
    let (c, _) = s
        .tcp_connect_with_data(t, SERVER, ConnectOptions::default(), &[3; 1000])
        .unwrap();
    let first = one_segment(&mut s, t);
    assert_eq!(fields(&first).3, 1000);
    // No answer: the retransmission is a plain SYN (RFC 7413 §4.2.1).
    let rto = t + Duration::from_secs(1);
    s.handle_timeout(rto);
    let again = one_segment(&mut s, rto);
    let (flags, seq, _, len, opts) = fields(&again);
    assert_eq!(
        (flags, seq, len, opts.fast_open),
        (TcpFlags::SYN, fields(&first).1, 0, None)
    );
    // The SYN-ACK acknowledges the SYN only: the data goes at once.
    s.handle_frame(rto, &syn_ack_to(&first, 0, synack_options(1460, None)));
    let out = drain_seen(&mut s, rto);
    let sent: Vec<(u32, usize)> = out
        .iter()
        .map(|f| (fields(f).1.wrapping_sub(fields(&first).1), fields(f).3))
        .collect();
    assert!(sent.contains(&(1, 1000)), "{sent:?}");
    assert!(!s.tcp_fastopen_info(c).unwrap().syn_data_acked);
    // Linux `syn_drop`: a lost SYN with data and no cookie in the answer.
    assert_eq!(s.fastopen_entry(B).unwrap().syn_loss, 1);
    assert_eq!(s.fastopen_cookie(B), fo(false, &cookie), "still cached");
}

#[test]
fn a_cookie_after_a_retransmitted_request_is_still_cached_as_cookie_req_timeout_pkt() {
    let mut s = client(fastopen_flags::CLIENT);
    s.tcp_connect_with_data(T, SERVER, ConnectOptions::default(), b"")
        .unwrap();
    let first = one_segment(&mut s, T);
    assert_eq!(fields(&first).4.fast_open, fo(false, &[]));
    // +1 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8>: no request.
    let rto = T + Duration::from_secs(1);
    s.handle_timeout(rto);
    let again = one_segment(&mut s, rto);
    assert_eq!(fields(&again).4.fast_open, None);
    // The SYN-ACK brings a cookie anyway (the timeout may be spurious).
    let cookie = hex("aaaabbbbcccc");
    let t = rto + Duration::from_millis(10);
    s.handle_frame(
        t,
        &syn_ack_to(&first, 0, synack_options(1240, fo(false, &cookie))),
    );
    let _ = drain_seen(&mut s, t);
    assert_eq!(s.fastopen_cookie(B), fo(false, &cookie));
    // sendto(10000) next: > S 0:1200(1200) <...,FO aaaabbbbcccc>
    s.tcp_connect_with_data(t, SERVER, ConnectOptions::default(), &[1; 10_000])
        .unwrap();
    let (_, _, _, len, opts) = fields(&one_segment(&mut s, t));
    assert_eq!((len, opts.fast_open), (1200, fo(false, &cookie)));
}

#[test]
fn a_server_that_ignores_the_option_gets_the_data_after_the_handshake() {
    let cookie = hex("1234abcd");
    let mut s = with_cookie(&cookie, false);
    let (c, _) = s
        .tcp_connect_with_data(T, SERVER, ConnectOptions::default(), &[5; 1000])
        .unwrap();
    let syn = one_segment(&mut s, T);
    // Acknowledges 999 of the 1000 bytes (fallback-exp-opt.pkt, fd 7).
    s.handle_frame(T, &syn_ack_to(&syn, 999, synack_options(1460, None)));
    let out = drain_seen(&mut s, T);
    let isn = fields(&syn).1;
    let sent: Vec<(u32, usize)> = out
        .iter()
        .map(|f| (fields(f).1.wrapping_sub(isn), fields(f).3))
        .collect();
    assert_eq!(sent, [(1000, 1)], "> P. 1000:1001(1) ack 1");
    assert_eq!(s.tcp_state(c), TcpState::Established);
    assert_eq!(s.stats().tcp_ext.tcp_fast_open_active_fail, 1);
}

#[test]
fn unanswered_requests_alternate_option_kinds_as_fallback_exp_opt_pkt() {
    let mut s = client(fastopen_flags::CLIENT);
    let mut kinds = Vec::new();
    for port in 0..4 {
        let (c, _) = s
            .tcp_connect_with_data(T, SERVER, ConnectOptions::default(), &[1; 100])
            .unwrap();
        let syn = one_segment(&mut s, T);
        let (_, _, _, len, opts) = fields(&syn);
        assert_eq!(len, 0, "no cookie: no data in the SYN");
        kinds.push(opts.fast_open.map(|o| o.experimental));
        s.handle_frame(T, &syn_ack_to(&syn, 0, synack_options(1460, None)));
        let _ = drain_seen(&mut s, T);
        s.tcp_abort(T, c);
        let _ = (port, drain_seen(&mut s, T));
    }
    // FO, then FOEXP once, then FO for good.
    assert_eq!(kinds, [Some(false), Some(true), Some(false), Some(false)]);
}

#[test]
fn a_cookie_comes_back_in_the_kind_it_came_in() {
    let cookie = hex("1234abcd");
    let mut s = with_cookie(&cookie, true);
    s.tcp_connect_with_data(T, SERVER, ConnectOptions::default(), &[1; 10])
        .unwrap();
    let (_, _, _, len, opts) = fields(&one_segment(&mut s, T));
    assert_eq!((len, opts.fast_open), (10, fo(true, &cookie)));
}

#[test]
fn fastopen_connect_holds_the_syn_for_the_first_write() {
    let cookie = hex("abcd1234");
    let mut s = with_cookie(&cookie, false);
    let opts = ConnectOptions {
        fastopen_connect: true,
        ..ConnectOptions::default()
    };
    let c = s.tcp_connect(T, SERVER, opts.clone()).unwrap();
    assert!(
        drain_seen(&mut s, T).is_empty(),
        "connect() returned, nothing sent"
    );
    assert_eq!(s.tcp_send(T, c, &[8; 1000]), Ok(1000));
    let (flags, _, _, len, o) = fields(&one_segment(&mut s, T));
    assert_eq!(
        (flags, len, o.fast_open),
        (TcpFlags::SYN, 1000, fo(false, &cookie))
    );
    // Without a cookie it is an ordinary connect asking for one.
    let mut fresh = client(fastopen_flags::CLIENT);
    fresh.tcp_connect(T, SERVER, opts).unwrap();
    let (_, _, _, len, o) = fields(&one_segment(&mut fresh, T));
    assert_eq!((len, o.fast_open), (0, fo(false, &[])));
}

#[test]
fn short_and_odd_cookies_are_not_cached_but_the_mss_is() {
    let mut s = client(fastopen_flags::CLIENT);
    // "FO 1122": two bytes, below RFC 7413's four.
    s.tcp_connect_with_data(T, SERVER, ConnectOptions::default(), b"")
        .unwrap();
    let syn = one_segment(&mut s, T);
    let mut frame = syn_ack_to(&syn, 0, synack_options(940, fo(false, &hex("11223344"))));
    // Rewrite the option to length 4 (2 cookie bytes), keeping the size.
    let at = frame
        .windows(6)
        .position(|w| w == [34, 6, 0x11, 0x22, 0x33, 0x44])
        .unwrap();
    frame[at + 1] = 4;
    frame[at + 4] = 1;
    frame[at + 5] = 1;
    TcpPacket::new_unchecked(&mut frame[20..]).fill_checksum(B, A);
    s.handle_frame(T, &frame);
    let _ = drain_seen(&mut s, T);
    assert_eq!(s.fastopen_cookie(B), None);
    assert_eq!(s.fastopen_entry(B).unwrap().mss, Some(940));
    // An odd length (5 bytes) is ignored too (Linux).
    s.tcp_connect_with_data(T, SERVER, ConnectOptions::default(), b"")
        .unwrap();
    let syn = one_segment(&mut s, T);
    s.handle_frame(
        T,
        &syn_ack_to(&syn, 0, synack_options(940, fo(false, &hex("1122334455")))),
    );
    assert_eq!(s.fastopen_cookie(B), None);
}

// ---- a pair of stacks --------------------------------------------------------------

fn tfo_pair() -> (Wire, ListenerHandle) {
    let mut w = Wire::new();
    w.b = Stack::new(
        Config {
            seed: 2,
            tcp_fastopen: fastopen_flags::CLIENT | fastopen_flags::SERVER,
            ..Config::default()
        },
        Interface::ip(B, 24),
    );
    let l =
        w.b.tcp_listen_with(
            SERVER,
            ListenOptions {
                backlog: 8,
                reuse_addr: false,
                reuse_port: false,
                fastopen_qlen: 16,
            },
        )
        .unwrap();
    (w, l)
}

/// Connects with `data` in one call; returns the client's handle, the
/// server's accepted handle and what the server read by the time the
/// client's SYN-ACK arrived (before the handshake's third segment).
fn fast_connect(w: &mut Wire, l: ListenerHandle, data: &[u8]) -> (ConnHandle, ConnHandle, Vec<u8>) {
    let now = w.now;
    let (c, _) =
        w.a.tcp_connect_with_data(now, SERVER, ConnectOptions::default(), data)
            .unwrap();
    // Deliver the SYN only.
    w.pump();
    let start = w.now.total_millis();
    w.run_until(start + 10);
    let mut early = Vec::new();
    if let Ok(s) = w.b.tcp_accept(l) {
        let mut buf = [0u8; 4096];
        if let Ok(n) = w.b.tcp_recv(w.now, s, &mut buf) {
            early.extend_from_slice(&buf[..n]);
        }
        w.run_until(start + 100);
        return (c, s, early);
    }
    w.run_until(start + 100);
    let s = w.b.tcp_accept(l).unwrap();
    (c, s, early)
}

#[test]
fn a_pair_learns_a_cookie_then_the_server_reads_syn_data_at_once() {
    let (mut w, l) = tfo_pair();
    let (c1, s1, early) = fast_connect(&mut w, l, b"first");
    assert!(
        early.is_empty(),
        "no cookie yet: the data waits for the handshake"
    );
    assert!(w.a.tcp_fastopen_info(c1).unwrap().cookie_requested);
    let mut buf = [0u8; 64];
    assert_eq!(w.b.tcp_recv(w.now, s1, &mut buf), Ok(5));
    assert!(w.a.fastopen_cookie(B).is_some(), "learned");
    let (c2, _, early) = fast_connect(&mut w, l, b"second");
    assert_eq!(early, b"second", "read before the handshake completed");
    assert!(w.a.tcp_fastopen_info(c2).unwrap().syn_data_acked);
    assert_eq!(w.b.stats().tcp_ext.tcp_fast_open_passive, 1);
}

#[test]
fn key_rotation_keeps_the_old_cookie_for_one_rotation() {
    let (mut w, l) = tfo_pair();
    let (_, _, _) = fast_connect(&mut w, l, b"learn");
    let first = w.a.fastopen_cookie(B).unwrap();
    w.b.rotate_fastopen_key(SipKey([0x55; 16]));
    // The old cookie is accepted with the backup key, and a fresh one
    // comes back (TCPFastOpenPassiveAltKey).
    let (c, _, early) = fast_connect(&mut w, l, b"backup");
    assert_eq!(early, b"backup");
    assert!(w.a.tcp_fastopen_info(c).unwrap().syn_data_acked);
    let second = w.a.fastopen_cookie(B).unwrap();
    assert_ne!(second, first);
    assert_eq!(w.b.stats().tcp_ext.tcp_fast_open_passive_alt_key, 1);
    // Two rotations later the first cookie is no good: only the SYN is
    // acknowledged, the data follows the handshake, a valid cookie comes back.
    w.b.rotate_fastopen_key(SipKey([0x66; 16]));
    w.b.rotate_fastopen_key(SipKey([0x77; 16]));
    let (c, s, early) = fast_connect(&mut w, l, b"stale");
    assert!(early.is_empty());
    assert!(!w.a.tcp_fastopen_info(c).unwrap().syn_data_acked);
    let mut buf = [0u8; 64];
    assert_eq!(
        w.b.tcp_recv(w.now, s, &mut buf),
        Ok(5),
        "retransmitted after the handshake"
    );
    assert_eq!(&buf[..5], b"stale");
    assert_eq!(w.b.stats().tcp_ext.tcp_fast_open_passive_fail, 1);
    let third = w.a.fastopen_cookie(B).unwrap();
    assert_ne!(third, second);
    let (c, _, early) = fast_connect(&mut w, l, b"fresh");
    assert_eq!(early, b"fresh");
    assert!(w.a.tcp_fastopen_info(c).unwrap().syn_data_acked);
}

#[test]
fn a_replayed_syn_with_data_is_delivered_again_as_rfc_7413_warns() {
    // RFC 7413 §2.1 and §6.1: the server cannot tell a duplicate (or
    // replayed) SYN with a valid cookie from a new one once the first
    // connection is gone, so its data reaches the application twice.
    // Only idempotent requests belong in a SYN.
    let (mut s, l, cookie) = server_with_listener(0x3, 4);
    let options = TcpOptions {
        fast_open: fo(false, &cookie),
        ..SACK_ONLY
    };
    let syn = tcp(
        peer(7),
        SERVER,
        TcpFlags::SYN,
        4000,
        None,
        32792,
        options,
        b"POST /pay",
    );
    let mut buf = [0u8; 64];
    for round in 0..2u64 {
        let t = T + Duration::from_secs(round * 10);
        s.handle_frame(t, &syn);
        let _ = drain_seen(&mut s, t);
        let c = s.tcp_accept(l).unwrap();
        assert_eq!(s.tcp_recv(t, c, &mut buf), Ok(9), "round {round}");
        assert_eq!(&buf[..9], b"POST /pay");
        // The first connection ends (here: reset by the client).
        s.handle_frame(
            t,
            &tcp(
                peer(7),
                SERVER,
                TcpFlags::RST,
                4001 + 9,
                None,
                0,
                TcpOptions::default(),
                b"",
            ),
        );
        assert_eq!(s.tcp_state(c), TcpState::Closed);
        s.tcp_close(t, c);
    }
    assert_eq!(s.stats().tcp_ext.tcp_fast_open_passive, 2);
}

/// `tcp_migrate_req` hands a Fast Open child still in SYN-RECEIVED to the
/// member of its reuseport group left, with its place in the Fast Open
/// queue: that member counts it (its next Fast Open SYN finds the queue
/// full), and the child's handshake frees the place there, not on the
/// listener that closed.
#[test]
fn a_migrated_fast_open_child_counts_against_its_new_listener() {
    let key = "00000001-00000002-00000003-00000004";
    let mut s = Stack::new(
        Config {
            seed: 3,
            tcp_fastopen: 0x3,
            tcp_fastopen_key: Some(key.into()),
            tcp_migrate_req: true,
            ..Config::default()
        },
        Interface::ip(B, 24),
    );
    let cookie = crate::tcp::fastopen_cookie::FastOpenKeys::parse_sysctl(key)
        .unwrap()
        .cookie(A, B);
    let options = TcpOptions {
        fast_open: fo(false, &cookie),
        ..SACK_ONLY
    };
    // SO_REUSEADDR too: the child holds the port when the second joins.
    let member = ListenOptions {
        backlog: 8,
        reuse_addr: true,
        reuse_port: true,
        fastopen_qlen: 1,
    };
    let syn_data = |port: u16, seq: u32, data: &[u8]| {
        tcp(
            peer(port),
            SERVER,
            TcpFlags::SYN,
            seq,
            None,
            32792,
            options,
            data,
        )
    };
    // The first member alone takes a Fast Open child; a second joins.
    let first = s.tcp_listen_with(SERVER, member).unwrap();
    s.handle_frame(T, &syn_data(1, 100, b"one"));
    let (_, iss1, ack, ..) = fields(&one_segment(&mut s, T));
    assert_eq!(ack, Some(104), "the data was taken");
    let second = s.tcp_listen_with(SERVER, member).unwrap();
    let _ = events(&mut s);
    s.tcp_close_listener(T, first);
    assert_eq!(s.tcp_listener_queues(second), Some((0, 1)), "handed on");
    assert!(events(&mut s).contains(&Event::AcceptReady(second)));
    assert_eq!(s.stats().tcp_ext.tcp_migrate_req_success, 1);
    // The second member's Fast Open queue (1) is full with it.
    s.handle_frame(T, &syn_data(2, 200, b"two"));
    let (_, _, ack, ..) = fields(&one_segment(&mut s, T));
    assert_eq!(ack, Some(201), "only the SYN: the queue is full");
    assert_eq!(s.stats().tcp_ext.tcp_fast_open_listen_overflow, 1);
    // The child's handshake completes there, and frees its place.
    s.handle_frame(T, &ack_of_syn_ack(1, 104, iss1));
    let _ = drain_seen(&mut s, T);
    s.handle_frame(T, &syn_data(3, 300, b"three"));
    let (_, _, ack, ..) = fields(&one_segment(&mut s, T));
    assert_eq!(ack, Some(306), "room again");
    // The child is the second member's to accept, its data readable.
    let c = s.tcp_accept(second).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(s.tcp_recv(T, c, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"one");
}
