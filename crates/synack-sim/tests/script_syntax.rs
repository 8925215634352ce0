//! Literal snippets for every construct of the packetdrill language and for
//! every parse error, checked against the tree (or the message and position).

use std::net::Ipv4Addr;

use synack_proto::Duration;
use synack_sim::script::packet::{
    AccEcnFirst, EncapKind, GreFlag, GreFlags, IcmpEchoed, PacketBody, SackBlock, TosSpec,
};
use synack_sim::script::packet::{Ecn, MplsEntry};
use synack_sim::script::{
    Action, Direction, EventTime, Expr, ExprKind, FastOpenCookie, IntLit, IpInfo, Script, Syscall,
    TcpOptionKind, TcpOptions, TcpPacket, parse_script, parse_script_with_defines,
};

fn parse(src: &str) -> Script {
    parse_script(src, "t.pkt").unwrap_or_else(|e| panic!("{e}\n--- source ---\n{src}"))
}

/// The single event of a one-line script.
fn event(src: &str) -> synack_sim::script::Event {
    let mut s = parse(src);
    assert_eq!(s.events.len(), 1, "{src}");
    s.events.remove(0)
}

fn tcp(src: &str) -> TcpPacket {
    match event(src).action {
        Action::Packet(p) => match p.body {
            PacketBody::Tcp(t) => t,
            other => panic!("not TCP: {other:?}"),
        },
        other => panic!("not a packet: {other:?}"),
    }
}

fn syscall(src: &str) -> Syscall {
    match event(src).action {
        Action::Syscall(s) => s,
        other => panic!("not a syscall: {other:?}"),
    }
}

fn options(src: &str) -> Vec<TcpOptionKind> {
    match tcp(src).options {
        TcpOptions::Exact(v) => v.into_iter().map(|o| o.kind).collect(),
        TcpOptions::Any(_) => panic!("wildcard options"),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// (message fragment, line, column) of the error for `src`.
fn error(src: &str) -> (String, u32, u32) {
    match parse_script(src, "bad.pkt") {
        Ok(s) => panic!("parsed but should not:\n{src}\n{s:#?}"),
        Err(e) => {
            assert!(
                e.to_string()
                    .starts_with(&format!("bad.pkt:{}:{}: ", e.line(), e.column()))
            );
            (e.message.clone(), e.line(), e.column())
        }
    }
}

fn assert_error(src: &str, fragment: &str, line: u32, column: u32) {
    let (msg, l, c) = error(src);
    assert!(
        msg.contains(fragment),
        "message {msg:?} lacks {fragment:?} for:\n{src}"
    );
    assert_eq!((l, c), (line, column), "position of {msg:?} for:\n{src}");
}

fn int(value: i64) -> ExprKind {
    ExprKind::Int(IntLit { value, hex: false })
}

fn kinds(exprs: &[Expr]) -> Vec<&ExprKind> {
    exprs.iter().map(|e| &e.kind).collect()
}

// ----- options, comments, commands -----

#[test]
fn option_lines_in_all_their_forms() {
    let s = parse(
        "--tolerance_usecs=7000\n\
         --tcp_ts_ecr_scaled // a flag with a comment\n\
         --ip_version ipv4\n\
         -D MSS=1000\n\
         --define=PROTO=IPPROTO_TCP\n\
         --cc=\"reno cubic\"\n\
         --local_ip=192.168.0.2\n\
         0 socket(..., SOCK_STREAM, PROTO) = 3\n",
    );
    let opts: Vec<(&str, Option<&str>)> = s
        .options
        .iter()
        .map(|o| (o.name.as_str(), o.value.as_deref()))
        .collect();
    assert_eq!(
        opts,
        [
            ("tolerance_usecs", Some("7000")),
            ("tcp_ts_ecr_scaled", None),
            ("ip_version", Some("ipv4")),
            ("define", Some("MSS=1000")),
            ("define", Some("PROTO=IPPROTO_TCP")),
            ("cc", Some("reno cubic")),
            ("local_ip", Some("192.168.0.2")),
        ]
    );
    assert_eq!(s.option("tolerance_usecs"), Some(Some("7000")));
    assert_eq!(s.option("tcp_ts_ecr_scaled"), Some(None));
    assert_eq!(s.option("nope"), None);
    assert_eq!(
        s.defines().collect::<Vec<_>>(),
        [("MSS", "1000"), ("PROTO", "IPPROTO_TCP")]
    );
    assert_eq!(s.options[0].span.line, 1);
    assert_eq!(s.options[6].span.line, 7);
}

#[test]
fn comments_and_blank_lines_are_ignored() {
    let s = parse(
        "// leading comment\n\n/* block\n   comment */\n0 close(3) = 0 // trailing\n\n\
         +0 /* inline */ close(4) = 0\n",
    );
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.events[0].span.line, 5);
    assert_eq!(s.events[1].span.line, 7);
}

#[test]
fn init_timed_and_cleanup_commands() {
    let s = parse(
        "`../common/defaults.sh\n ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0`\n\
         0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 `sysctl -q net.ipv4.tcp_ecn=2`\n\
         `/tmp/sysctl_restore_${PPID}.sh`\n",
    );
    let init = s.init_command.as_ref().unwrap();
    assert_eq!(
        init.text,
        "../common/defaults.sh\n ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0"
    );
    assert_eq!(
        (init.span.line, init.span.column, init.span.end_line),
        (1, 1, 2)
    );
    match &s.events[1].action {
        Action::Command(c) => assert_eq!(c.text, "sysctl -q net.ipv4.tcp_ecn=2"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.cleanup_command.as_ref().unwrap().text,
        "/tmp/sysctl_restore_${PPID}.sh"
    );
    assert_eq!(s.commands().count(), 3);
}

#[test]
fn code_blocks_are_kept_verbatim() {
    let e = event(
        "+0 %{\nassert tcpi_snd_cwnd == 2, tcpi_snd_cwnd\nassert tcpi_lost == 7  # comment\n}%",
    );
    match e.action {
        Action::Code(c) => {
            assert_eq!(
                c.text,
                "\nassert tcpi_snd_cwnd == 2, tcpi_snd_cwnd\nassert tcpi_lost == 7  # comment\n"
            );
            assert_eq!((c.span.line, c.span.column, c.span.end_line), (1, 4, 4));
        }
        other => panic!("{other:?}"),
    }
}

// ----- times -----

#[test]
fn every_time_form() {
    let times: Vec<EventTime> = parse(
        "0 close(3) = 0\n\
         0.100 close(3) = 0\n\
         +.1 close(3) = 0\n\
         +0 close(3) = 0\n\
         + 0.00 close(3) = 0\n\
         0.3~0.4 > . 1:1(0)\n\
         +0~+.1 > . 1:1(0)\n\
         +1.2~+1.240 > . 1:1(0)\n\
         * > S 0:0(0) <...>\n",
    )
    .events
    .iter()
    .map(|e| e.time)
    .collect();
    assert_eq!(
        times,
        [
            EventTime::Absolute(Duration::ZERO),
            EventTime::Absolute(ms(100)),
            EventTime::Relative(ms(100)),
            EventTime::Relative(Duration::ZERO),
            EventTime::Relative(Duration::ZERO),
            EventTime::AbsoluteRange(ms(300), ms(400)),
            EventTime::RelativeRange(Duration::ZERO, ms(100)),
            EventTime::RelativeRange(ms(1200), ms(1240)),
            EventTime::Any,
        ]
    );
}

#[test]
fn blocking_calls_carry_an_end_time() {
    let s = parse(
        "+0...0.200 accept(3, ..., ...) = 4\n0.1...0.2 read(4, ..., 2000) = 2000\n+0 close(4) = 0",
    );
    let end = |i: usize| match &s.events[i].action {
        Action::Syscall(c) => c.end.map(|e| e.value),
        _ => None,
    };
    assert_eq!(s.events[0].time, EventTime::Relative(Duration::ZERO));
    assert_eq!(end(0), Some(ms(200)));
    assert_eq!(s.events[1].time, EventTime::Absolute(ms(100)));
    assert_eq!(end(1), Some(ms(200)));
    assert_eq!(end(2), None);
}

// ----- TCP packets -----

#[test]
fn tcp_header_fields() {
    let t = tcp("0 < S. 0:0(0) ack 1 win 5792 urg 3 <mss 1460>");
    assert!(t.flags.value.syn && t.flags.value.ack && !t.flags.value.fin);
    assert_eq!(
        (t.seq.value.start, t.seq.value.len, t.seq.value.end()),
        (0, 0, 0)
    );
    assert_eq!(t.ack.map(|a| a.value), Some(1));
    assert_eq!(t.window.map(|w| w.value), Some(5792));
    assert_eq!(t.urg_ptr.map(|u| u.value), Some(3));

    let t = tcp("0 > P. 1:58(57) ack 1");
    assert!(t.flags.value.psh && t.flags.value.ack);
    assert_eq!((t.seq.value.start, t.seq.value.len), (1, 57));
    assert_eq!(t.window, None);
    assert_eq!(t.options, TcpOptions::Exact(vec![]));

    let t = tcp("0 < 8080>80 - 0:0(0) win 0");
    assert_eq!(t.flags.value, Default::default());
    let ports = t.ports.unwrap();
    assert_eq!((ports.src, ports.dst), (8080, 80));
}

#[test]
fn tcp_flag_letters() {
    let f = |src: &str| tcp(src).flags.value;
    let x = f("0 > F. 1:1(0) ack 1");
    assert!(x.fin && x.ack);
    let x = f("0 > R 1:1(0)");
    assert!(x.rst && !x.ack);
    let x = f("0 < SEW 0:0(0) win 1");
    assert!(x.syn && x.ece && x.cwr);
    let x = f("0 > SE. 0:0(0) ack 1");
    assert!(x.syn && x.ece && x.ack);
    let x = f("0 < SF. 0:0(0) ack 1 win 1");
    assert!(x.syn && x.fin && x.ack);
    let x = f("0 < U. 1:1(0) ack 1 win 1 urg 1");
    assert!(x.urg && x.ack);
    let x = f("0 > .5 1:1(0) ack 1");
    assert_eq!((x.ack, x.ace), (true, Some(5)));
    let x = f("0 > S.2 0:0(0)");
    assert_eq!((x.syn, x.ack, x.ace), (true, true, Some(2)));
    let x = f("0 > SA 0:0(0)");
    assert!(x.syn && x.ae);
}

#[test]
fn every_tcp_option() {
    let o = options("0 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 6,eol,eol,eol,eol>");
    assert_eq!(
        o,
        [
            TcpOptionKind::Mss(1460),
            TcpOptionKind::SackPermitted,
            TcpOptionKind::Timestamp { val: 100, ecr: 0 },
            TcpOptionKind::Nop,
            TcpOptionKind::WindowScale(6),
            TcpOptionKind::Eol,
            TcpOptionKind::Eol,
            TcpOptionKind::Eol,
            TcpOptionKind::Eol,
        ]
    );
    let o = options("0 < . 1:1(0) ack 1 win 257 <sack 3001:5001 7001:10001,nop,nop>");
    assert_eq!(
        o[0],
        TcpOptionKind::Sack(vec![
            SackBlock {
                left: 3001,
                right: 5001
            },
            SackBlock {
                left: 7001,
                right: 10001
            }
        ])
    );
    let o = options("0 > S 0:0(0) <FO,nop,nop>");
    assert_eq!(o[0], TcpOptionKind::FastOpen(FastOpenCookie::Request));
    let o = options("0 < S. 0:0(0) ack 1 win 1 <FO abcd1234,nop,nop>");
    assert_eq!(
        o[0],
        TcpOptionKind::FastOpen(FastOpenCookie::Bytes(vec![0xab, 0xcd, 0x12, 0x34]))
    );
    let o = options("0 < S. 0:0(0) ack 1 win 1 <FO 00000000,nop,nop>");
    assert_eq!(
        o[0],
        TcpOptionKind::FastOpen(FastOpenCookie::Bytes(vec![0; 4]))
    );
    let o = options("0 < S 0:0(0) win 1 <FOEXP 00abaaabe8e954c2>");
    assert_eq!(
        o[0],
        TcpOptionKind::FastOpenExp(FastOpenCookie::Bytes(vec![
            0, 0xab, 0xaa, 0xab, 0xe8, 0xe9, 0x54, 0xc2
        ]))
    );
    let o = options("0 < S 0:10(10) win 1 <mss 1460,sackOK,nop,nop,FOEXP TFO_COOKIE>");
    assert_eq!(
        o[4],
        TcpOptionKind::FastOpenExp(FastOpenCookie::Named("TFO_COOKIE".into()))
    );
    let o = options("0 < S 0:0(0) win 1 <md5 000102030405060708090a0b0c0d0e0f,nop,nop>");
    assert_eq!(o[0], TcpOptionKind::Md5((0..16).collect()));
    let o = options("0 > . 1:1(0) ack 1 <ECN e0b 1 ceb 2 e1b 3,nop>");
    match &o[0] {
        TcpOptionKind::AccEcn(a) => assert_eq!(
            (a.first, a.counters.as_slice()),
            (AccEcnFirst::E0b, &[1, 2, 3][..])
        ),
        other => panic!("{other:?}"),
    }
    let o = options("0 > . 1:1(0) ack 1 <ECN e1b 7,nop,nop,nop>");
    match &o[0] {
        TcpOptionKind::AccEcn(a) => assert_eq!(
            (a.first, a.counters.as_slice()),
            (AccEcnFirst::E1b, &[7][..])
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        tcp("0 > S 0:0(0) <...>").options,
        TcpOptions::Any(_)
    ));
    // Blanks after commas are fine.
    let o = options("0 > S 0:0(0) <mss 1460, sackOK, TS val 100 ecr 0, nop,wscale 8>");
    assert_eq!(o.len(), 5);
}

#[test]
fn option_spans_point_at_each_option() {
    let t = tcp("0 > S 0:0(0) <mss 1460,nop,wscale 8>");
    let TcpOptions::Exact(list) = t.options else {
        panic!()
    };
    let cols: Vec<(u32, u32)> = list
        .iter()
        .map(|o| (o.span.column, o.span.end_column))
        .collect();
    assert_eq!(cols, [(15, 23), (24, 27), (28, 36)]);
}

#[test]
fn ip_level_extras() {
    let ip = |src: &str| match event(src).action {
        Action::Packet(p) => p.ip,
        _ => panic!(),
    };
    assert_eq!(
        ip("0 < (ect0) S 0:0(0) win 1"),
        IpInfo::Tos(TosSpec::Ecn(Ecn::Ect0))
    );
    assert_eq!(
        ip("0 < [ce] . 1:1(0) ack 1 win 1"),
        IpInfo::Tos(TosSpec::Ecn(Ecn::Ce))
    );
    assert_eq!(
        ip("0 > (noecn) . 1:1(0)"),
        IpInfo::Tos(TosSpec::Ecn(Ecn::NotEct))
    );
    assert_eq!(
        ip("0 > [ect1] . 1:1(0)"),
        IpInfo::Tos(TosSpec::Ecn(Ecn::Ect1))
    );
    assert_eq!(ip("0 > (ect01) . 1:1(0)"), IpInfo::Tos(TosSpec::Ect01));
    assert_eq!(
        ip("0 < (tos 0x10) . 1:1(0) ack 1 win 1"),
        IpInfo::Tos(TosSpec::Tos(0x10))
    );
    assert_eq!(
        ip("0 > (flowlabel 0x12345) . 1:1(0)"),
        IpInfo::FlowLabel(0x12345)
    );
    assert_eq!(
        ip("0 > (ect0, flowlabel 0x1) . 1:1(0)"),
        IpInfo::TosAndFlowLabel(TosSpec::Ecn(Ecn::Ect0), 1)
    );
    assert_eq!(ip("0 < [ttl 64] S 0:0(0) win 1"), IpInfo::Ttl(64));
    assert_eq!(ip("0 < [ttl 64] S 0:0(0) win 1").ttl(), Some(64));
}

#[test]
fn encapsulation_headers() {
    let p = match event(
        "0 < ipv4 192.0.2.1 > 192.0.2.2: gre: mpls (label 123, tc 1, [S], ttl 64): S 0:0(0) win 1",
    )
    .action
    {
        Action::Packet(p) => p,
        _ => panic!(),
    };
    let kinds: Vec<&EncapKind> = p.encapsulation.iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds,
        [
            &EncapKind::Ipv4 {
                ip: IpInfo::None,
                src: Ipv4Addr::new(192, 0, 2, 1),
                dst: Ipv4Addr::new(192, 0, 2, 2)
            },
            &EncapKind::Gre(None),
            &EncapKind::Mpls(vec![MplsEntry {
                label: 123,
                tc: 1,
                bottom: true,
                ttl: 64
            }]),
        ]
    );
    let p = match event("0 < ipv6 2001:db8::1 > 2001:db8::2: gre flags [key present, checksum present] sum 0 off 0 key=5 seq 7: S 0:0(0) win 1").action {
        Action::Packet(p) => p,
        _ => panic!(),
    };
    match (&p.encapsulation[0].kind, &p.encapsulation[1].kind) {
        (EncapKind::Ipv6 { src, .. }, EncapKind::Gre(Some(h))) => {
            assert_eq!(src.to_string(), "2001:db8::1");
            assert_eq!(
                h.flags,
                GreFlags::Named(vec![GreFlag::Key, GreFlag::Checksum])
            );
            assert_eq!((h.key, h.seq), (5, 7));
        }
        other => panic!("{other:?}"),
    }
    let p = match event("0 < GREv0: S 0:0(0) win 1").action {
        Action::Packet(p) => p,
        _ => panic!(),
    };
    assert_eq!(p.encapsulation[0].kind, EncapKind::Gre(None));
    let t = tcp("0 > encap psp spi 0x1234 . 1:1(0) ack 1");
    assert_eq!(t.psp_spi.map(|s| s.value), Some(0x1234));
}

#[test]
fn udp_and_icmp_packets() {
    let body = |src: &str| match event(src).action {
        Action::Packet(p) => (p.direction, p.body),
        _ => panic!(),
    };
    match body("0 < udp (1000)") {
        (Direction::Inbound, PacketBody::Udp(u)) => assert_eq!((u.len, u.ports), (1000, None)),
        other => panic!("{other:?}"),
    }
    match body("0 > udp 53>1234 (12)") {
        (Direction::Outbound, PacketBody::Udp(u)) => {
            assert_eq!(u.ports.map(|p| (p.src, p.dst)), Some((53, 1234)))
        }
        other => panic!("{other:?}"),
    }
    match body("0 < icmp unreachable frag_needed mtu 1000 [1:1461(1460)]") {
        (_, PacketBody::Icmp(i)) => {
            assert_eq!(
                (i.type_name.as_str(), i.code_name.as_deref(), i.mtu),
                ("unreachable", Some("frag_needed"), Some(1000))
            );
            assert_eq!(
                i.echoed,
                Some(IcmpEchoed::Tcp(synack_sim::script::SeqRange {
                    start: 1,
                    len: 1460
                }))
            );
        }
        other => panic!("{other:?}"),
    }
    match body("0 < icmp unreachable port_unreachable [udp (100)]") {
        (_, PacketBody::Icmp(i)) => assert_eq!(i.echoed, Some(IcmpEchoed::Udp(100))),
        other => panic!("{other:?}"),
    }
    match body("0 > icmp echo_reply id 7 [raw (56)]") {
        (_, PacketBody::Icmp(i)) => {
            assert_eq!((i.echo_id, i.echoed), (Some(7), Some(IcmpEchoed::Raw(56))))
        }
        other => panic!("{other:?}"),
    }
    match body("0 < icmp type_3 code_4 mtu 576") {
        (_, PacketBody::Icmp(i)) => assert_eq!(i.mtu, Some(576)),
        other => panic!("{other:?}"),
    }
    match body("--ip_version=ipv6\n0 < icmp packet_too_big mtu 1280") {
        (_, PacketBody::Icmp(i)) => assert_eq!(i.type_name, "packet_too_big"),
        other => panic!("{other:?}"),
    }
}

// ----- system calls -----

#[test]
fn syscall_argument_forms() {
    let c = syscall("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3");
    assert_eq!(c.name.value, "socket");
    assert!(c.args[0].is_ellipsis());
    assert_eq!(c.args[1].as_word(), Some("SOCK_STREAM"));
    assert_eq!(c.result.as_int(), Some(3));

    let c = syscall("0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0");
    assert_eq!(
        c.args[3].kind,
        ExprKind::Array(vec![Expr {
            kind: int(1),
            span: c.args[3].span
        }])
    );

    let c = syscall("0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0");
    match &c.args[2].kind {
        ExprKind::BitOr(items) => assert_eq!(
            items
                .iter()
                .map(|i| i.as_word().unwrap())
                .collect::<Vec<_>>(),
            ["O_RDWR", "O_NONBLOCK"]
        ),
        other => panic!("{other:?}"),
    }

    let c = syscall("0 sendto(3, ..., 1000, 0x20000000, ..., ...) = 1000");
    assert_eq!(
        c.args[3].kind,
        ExprKind::Int(IntLit {
            value: 0x2000_0000,
            hex: true
        })
    );

    let c = syscall("0 setsockopt(4, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0");
    match &c.args[3].kind {
        ExprKind::Struct(fields) => {
            let ExprKind::Assign { lhs, rhs } = &fields[0].kind else {
                panic!()
            };
            assert_eq!((lhs.as_word(), rhs.as_int()), (Some("l_onoff"), Some(1)));
        }
        other => panic!("{other:?}"),
    }

    let c = syscall("0 poll([{fd=4,\n events=POLLIN|POLLOUT,\n revents=POLLOUT}], 1, 100) = 1");
    let ExprKind::Array(items) = &c.args[0].kind else {
        panic!()
    };
    let ExprKind::Struct(fields) = &items[0].kind else {
        panic!()
    };
    assert_eq!(fields.len(), 3);
    assert_eq!(c.args[0].span.end_line, 3);

    let c = syscall("0 writev(4, [{..., 10}, {..., 20}], 2) = 30");
    let ExprKind::Array(iov) = &c.args[1].kind else {
        panic!()
    };
    let ExprKind::Struct(v) = &iov[1].kind else {
        panic!()
    };
    assert_eq!(kinds(v), [&ExprKind::Ellipsis, &int(20)]);

    let c = syscall(
        "0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = 0",
    );
    let ExprKind::Struct(f) = &c.args[1].kind else {
        panic!()
    };
    let ExprKind::Assign { rhs, .. } = &f[1].kind else {
        panic!()
    };
    assert_eq!(
        rhs.kind,
        ExprKind::Call {
            name: "htons".into(),
            args: vec![Expr {
                kind: int(8080),
                span: rhs.span
            }]
        }
    );

    let c =
        syscall("0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0}, 0) = 100");
    let ExprKind::Struct(f) = &c.args[1].kind else {
        panic!()
    };
    let ExprKind::Assign { lhs, .. } = &f[1].kind else {
        panic!()
    };
    assert!(matches!(&lhs.kind, ExprKind::Call { name, .. } if name == "msg_iov"));
    // The left side's span is `msg_iov(1)`, the whole field's `msg_iov(1)=[{..., 100}]`.
    assert_eq!((lhs.span.column, lhs.span.end_column), (34, 44));
    assert_eq!((f[1].span.column, f[1].span.end_column), (34, 57));

    let c = syscall("0 write(4, \"abc\" \"def\", 6) = 6");
    assert_eq!(
        c.args[1].kind,
        ExprKind::Str {
            parts: vec!["abc".into(), "def".into()],
            ellipsis: false
        }
    );
    let c = syscall("0 read(4, \"HTTP/1.1\"..., 100) = 100");
    assert_eq!(
        c.args[1].kind,
        ExprKind::Str {
            parts: vec!["HTTP/1.1".into()],
            ellipsis: true
        }
    );

    let c = syscall("0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0");
    assert_eq!(c.args.len(), 5);
    let c = syscall("0 getpid() = 1");
    assert!(c.args.is_empty());
    let c = syscall("0 setsockopt(3, SOL_SOCKET, SO_MARK, [], 0) = 0");
    assert_eq!(c.args[3].kind, ExprKind::Array(vec![]));
    let c = syscall("0 setsockopt(3, SOL_IP, IP_MPLS, {(label 5, tc 0, [S], ttl 2)}, 4) = 0");
    assert!(matches!(c.args[3].kind, ExprKind::Mpls(ref s) if s.len() == 1));
}

#[test]
fn syscall_result_forms() {
    let c = syscall("0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)");
    assert_eq!(c.result.as_int(), Some(-1));
    assert_eq!(
        c.errno.as_ref().map(|e| e.value.as_str()),
        Some("EINPROGRESS")
    );
    assert_eq!(
        c.note.as_ref().map(|n| n.value.as_str()),
        Some("Operation now in progress")
    );
    let n = c.note.unwrap();
    assert_eq!((n.span.column, n.span.end_column), (41, 68));

    let c = syscall("0 fcntl(3, F_GETFL) = 0x2 (flags O_RDWR)");
    assert_eq!(
        c.result.kind,
        ExprKind::Int(IntLit {
            value: 2,
            hex: true
        })
    );
    assert_eq!(c.errno, None);
    assert_eq!(c.note.unwrap().value, "flags O_RDWR");

    let c = syscall("0 socket(..., SOCK_STREAM, IPPROTO_UDP) = -1");
    assert_eq!((c.result.as_int(), c.errno, c.note), (Some(-1), None, None));

    let c = syscall("0 connect(3, ..., ...) = -1 ETIMEDOUT");
    assert_eq!(c.errno.unwrap().value, "ETIMEDOUT");

    let c = syscall("0 bind(3, ..., ...) = -1 EADDRNOTAVAIL (Can't assign   requested address)");
    assert_eq!(c.note.unwrap().value, "Can't assign requested address");
}

// ----- defines -----

#[test]
fn defines_replace_words_as_packetdrill_lexes_them() {
    // LEN_END is not defined: that is a word where a number must be.
    let (msg, ..) = error("--define=LEN=1000\n0 > . 1:LEN_END(1000) ack 1\n");
    assert!(
        msg.contains("expected an end sequence number, found `LEN_END`"),
        "{msg}"
    );

    let s = parse(
        "--define=LEN=1000\n--define=END=1001\n--define=MSG=\"hello\"\n0 write(4, MSG, LEN) = LEN\n+0 > P. 1:END(LEN) ack 1\n",
    );
    let Action::Syscall(c) = &s.events[0].action else {
        panic!()
    };
    assert_eq!(
        c.args[1].kind,
        ExprKind::Str {
            parts: vec!["hello".into()],
            ellipsis: false
        }
    );
    assert_eq!(c.args[2].as_int(), Some(1000));
    let Action::Packet(p) = &s.events[1].action else {
        panic!()
    };
    assert_eq!(p.tcp().unwrap().seq.value.len, 1000);

    // -D from outside wins over the script's own define.
    let s = parse_script_with_defines(
        "--define=C=0011\n0 < S 0:10(10) win 1 <FOEXP C>\n",
        "t.pkt",
        &[("C", "3021b9d889017eeb")],
    )
    .unwrap();
    let TcpOptions::Exact(o) = &s.events[0].action_packet_options() else {
        panic!()
    };
    assert_eq!(
        o[0].kind,
        TcpOptionKind::FastOpenExp(FastOpenCookie::Bytes(vec![
            0x30, 0x21, 0xb9, 0xd8, 0x89, 0x01, 0x7e, 0xeb
        ]))
    );

    // Keywords are never replaced, as in packetdrill's lexer.
    let s = parse("--define=ack=win\n--define=FOO=7\n0 > . 1:1(0) ack FOO\n");
    let Action::Packet(p) = &s.events[0].action else {
        panic!()
    };
    assert_eq!(p.tcp().unwrap().ack.map(|a| a.value), Some(7));

    // A define holding a command becomes a command event.
    let s = parse("--define=CMD=`echo hi`\n0 CMD\n");
    assert!(matches!(&s.events[0].action, Action::Command(c) if c.text == "echo hi"));
}

trait PacketOptions {
    fn action_packet_options(&self) -> TcpOptions;
}

impl PacketOptions for synack_sim::script::Event {
    fn action_packet_options(&self) -> TcpOptions {
        match &self.action {
            Action::Packet(p) => p.tcp().unwrap().options.clone(),
            _ => panic!("not a packet"),
        }
    }
}

// ----- spans -----

#[test]
fn spans_locate_events_and_their_parts() {
    let s = parse(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n  +.1 < S 0:0(0) win 32792 <mss 1000>\n",
    );
    let e = &s.events[1];
    assert_eq!((e.span.line, e.span.column, e.span.end_column), (2, 3, 38));
    assert_eq!((e.time_span.column, e.time_span.end_column), (3, 6));
    let Action::Packet(p) = &e.action else {
        panic!()
    };
    let t = p.tcp().unwrap();
    assert_eq!(p.span.column, 7);
    assert_eq!(t.flags.span.column, 9);
    assert_eq!((t.seq.span.column, t.seq.span.end_column), (11, 17));
    assert_eq!(t.window.unwrap().span.column, 22);
    let Action::Syscall(c) = &s.events[0].action else {
        panic!()
    };
    assert_eq!(
        (
            c.name.span.column,
            c.args[1].span.column,
            c.result.span.column
        ),
        (3, 15, 43)
    );
}

// ----- errors -----

#[test]
fn unexpected_tokens_say_what_was_expected() {
    assert_error(
        "0 > S. 0:0(0) foo 1",
        "expected `ack`, `win`, `urg`, `<` TCP options or the next event's time, found `foo`",
        1,
        15,
    );
    // Inbound too: the stray word is the problem, not the missing window.
    assert_error("0 < S 0:0(0) foo", "found `foo`", 1, 14);
    assert_error(
        "0 > S 0:0(0) ack",
        "expected an ack number, found end of file",
        1,
        17,
    );
    assert_error(
        "0 > S 0:0(0) <mss 1460",
        "expected `>` or `,`, found end of file",
        1,
        23,
    );
    assert_error(
        "0 > S 0:0(0) <bogus 3>",
        "expected a TCP option, found `bogus`",
        1,
        15,
    );
    assert_error("0 > 1:1(0)", "expected `>`", 1, 6);
    assert_error("0 > @ 1:1(0)", "TCP flags", 1, 5);
    assert_error(
        "socket(..., SOCK_STREAM, IPPROTO_TCP) = 3",
        "expected an event time, found `socket`",
        1,
        1,
    );
    assert_error(
        "0 ! close(3) = 0",
        "expected `~`, a packet (`<` or `>`), a system call, a `shell command` or a %{ code }% block, found `!`",
        1,
        3,
    );
    assert_error(
        "0 close(3) 0",
        "expected `=` and the expected result, found `0`",
        1,
        12,
    );
    assert_error(
        "0 close(3 = 0",
        "expected `|`, `)` or `,`, found `=`",
        1,
        11,
    );
    assert_error(
        "0 close(3) = ",
        "expected an expression, found end of file",
        1,
        14,
    );
    assert_error(
        "0 close(3) = 0 EBADF (oops",
        "expected `)` to close the note",
        1,
        27,
    );
    assert_error("0 write(3, 1.5, 1) = 1", "arguments are integers", 1, 12);
    assert_error("0 close(3) = 0\n+0 `date` junk", "found `junk`", 2, 11);
    assert_error("", "expected an event time, found end of file", 1, 1);
    assert_error(
        "`setup`\n",
        "expected an event time, found end of file",
        2,
        1,
    );
}

#[test]
fn lexical_errors() {
    assert_error("0 write(3, \"abc, 3) = 3", "unterminated string", 1, 12);
    assert_error("0 `date", "unterminated shell command", 1, 3);
    assert_error("0 %{ assert x", "unterminated `%{`", 1, 3);
    assert_error("0 close(3) = 0 /* note", "unterminated `/*`", 1, 16);
    assert_error(
        "--tolerance_usecs=\n0 close(3) = 0",
        "missing value after `--tolerance_usecs=`",
        1,
        1,
    );
    assert_error(
        "-D NOVALUE\n0 close(3) = 0",
        "expected `-D NAME=VALUE`",
        1,
        1,
    );
    assert_error(
        "--define=1=x\n0 close(3) = 0",
        "expected `--define=NAME=VALUE`",
        1,
        1,
    );
}

#[test]
fn structural_errors() {
    assert_error(
        "0 close(3) = 0\n`mid-script`\n+0 close(4) = 0",
        "a shell command needs an event time",
        2,
        1,
    );
    assert_error(
        "0 close(3) = 0\n--late=1\n",
        "option `--late` must come before the first event",
        2,
        1,
    );
}

#[test]
fn time_errors() {
    assert_error(
        "* close(3) = 0",
        "event time `*` can only be used with outbound packets",
        1,
        1,
    );
    assert_error(
        "* < S 0:0(0) win 1",
        "`*` can only be used with outbound packets",
        1,
        1,
    );
    assert_error(
        "0~1 close(3) = 0",
        "event time range can only be used with outbound packets",
        1,
        1,
    );
    assert_error(
        "+0~+1 < . 1:1(0) win 1",
        "time range can only be used with outbound packets",
        1,
        1,
    );
    assert_error("0.4~0.3 > . 1:1(0)", "time range is backwards", 1, 1);
    assert_error("+.4~+.3 > . 1:1(0)", "time range is backwards", 1, 1);
    assert_error(
        "+.1~.3 > . 1:1(0)",
        "expected `+` (both ends of a relative range are relative)",
        1,
        5,
    );
    assert_error("-1 close(3) = 0", "negative time", 1, 1);
    assert_error("+0...-1 read(3, ..., 1) = 1", "negative time", 1, 6);
    assert_error("99999999999999999 close(3) = 0", "time out of range", 1, 1);
}

#[test]
fn tcp_semantic_errors_match_packetdrill() {
    let cases: &[(&str, &str, u32)] = &[
        (
            "0 < S 0:0(0)",
            "window must be specified for inbound packets",
            5,
        ),
        (
            "0 < S 0:0(0) win 1 <...>",
            "<...> for TCP options can only be used with outbound packets",
            20,
        ),
        (
            "0 < (ect01) S 0:0(0) win 1",
            "[ect01] can only be used with outbound packets",
            5,
        ),
        (
            "0 > S 0:0(0) <mss 1460,nop>",
            "not padded correctly to ensure TCP header is a multiple of 4 bytes: 1 excess bytes",
            5,
        ),
        (
            "0 > S 0:0(0) <sack 1:2 3:4 5:6 7:8 9:10,nop,nop>",
            "TCP header too large",
            5,
        ),
        (
            "0 > S 1:2(2)",
            "inconsistent TCP sequence numbers and payload size",
            7,
        ),
        ("0 > X 0:0(0)", "invalid TCP flag 'X'", 5),
        ("0 > SE5 0:0(0)", "conflicting TCP flag", 5),
        (
            "0 > S 4294967296:4294967296(0)",
            "TCP start sequence number out of range",
            7,
        ),
        ("0 > S 0:70000(70000)", "TCP payload size out of range", 15),
        (
            "0 > S 0:0(0) ack 4294967296",
            "TCP ack sequence number out of range",
            18,
        ),
        (
            "0 > S 0:0(0) win 65536",
            "TCP window value out of range",
            18,
        ),
        ("0 > S 0:0(0) urg 65536", "urg_ptr value out of range", 18),
        ("0 > S 0:0(0) <mss 65536>", "mss value out of range", 19),
        (
            "0 > S 0:0(0) <wscale 256,nop>",
            "window scale shift count out of range",
            22,
        ),
        (
            "0 > S 0:0(0) <TS val 4294967296 ecr 0,nop,nop>",
            "ts val out of range",
            22,
        ),
        (
            "0 > S 0:0(0) <FO 123,nop>",
            "TCP fast open cookie has an odd number of digits",
            18,
        ),
        (
            "0 > S 0:0(0) <FO abcdxyz1>",
            "TCP fast open cookie `abcdxyz1` is not a valid hex string",
            18,
        ),
        (
            "0 > S 0:0(0) <FO 00000000000000000000000000000000000000000000000000000000000000000000000000000000>",
            "TCP fast open cookie of 40 bytes exceeds maximum cookie length of 38 bytes",
            18,
        ),
        (
            "0 > S 0:0(0) <md5 zz>",
            "TCP MD5 digest `zz` is not a valid hex string",
            19,
        ),
        (
            "0 > S 0:0(0) <md5 000102030405060708090a0b0c0d0e0f10,nop>",
            "TCP MD5 digest longer than 16 bytes",
            19,
        ),
        (
            "0 > S 0:0(0) <ECN e0b 16777216,nop,nop,nop>",
            "TCP AccECN field value out of range",
            23,
        ),
        (
            "0 > S 0:0(0) <TS val 1 foo 2>",
            "expected `ecr`, found `foo`",
            24,
        ),
        ("0 > 70000>1 S 0:0(0)", "src port out of range", 5),
        (
            "0 > (tos 0x100) S 0:0(0)",
            "tos out of range for 8 bits",
            10,
        ),
        (
            "0 > (tos 16) S 0:0(0)",
            "expected a hexadecimal TOS byte",
            10,
        ),
        (
            "0 > (flowlabel 0x100000) S 0:0(0)",
            "flowlabel out of range for 20 bits",
            16,
        ),
        ("0 > (ect0 S 0:0(0)", "expected `,` or `)`, found `S`", 11),
        ("0 > [ttl 300] S 0:0(0)", "ttl out of range", 10),
        (
            "0 > ipv4 1.2.3.400 > 1.2.3.4: S 0:0(0)",
            "invalid IPv4 address `1.2.3.400`",
            10,
        ),
        (
            "0 > ipv4 1.2.3.4 > 1.2.3.5 S 0:0(0)",
            "expected `:`, found `S`",
            28,
        ),
        (
            "0 > mpls (label 1048576, tc 0, ttl 1): S 0:0(0)",
            "MPLS label out of range (20 bits)",
            17,
        ),
        (
            "0 > mpls (label 1, tc 8, ttl 1): S 0:0(0)",
            "MPLS traffic class out of range (3 bits)",
            23,
        ),
        (
            "0 > encap psp spi 0x100000000 . 1:1(0)",
            "PSP SPI out of range",
            19,
        ),
    ];
    for (src, fragment, column) in cases {
        assert_error(src, fragment, 1, *column);
    }
}

#[test]
fn udp_and_icmp_errors() {
    assert_error(
        "0 < (ect0) udp (10)",
        "ECN can only be used with TCP packets",
        1,
        5,
    );
    assert_error("0 < udp (70000)", "UDP payload size out of range", 1, 10);
    assert_error("0 < udp 10", "expected `>`, found end of file", 1, 11);
    assert_error("0 < icmp bogus", "bad ICMP type bogus", 1, 5);
    assert_error("0 < icmp unreachable bogus", "bad ICMP code bogus", 1, 5);
    assert_error(
        "0 < icmp unreachable port_unreachable mtu 1000",
        "ICMPv4 MTU is only valid for unreachable frag_needed",
        1,
        5,
    );
    assert_error(
        "0 < icmp packet_too_big",
        "bad ICMP type packet_too_big",
        1,
        5,
    );
    assert_error(
        "0 < icmp echo_request id 70000",
        "ICMP echo id out of range",
        1,
        26,
    );
    assert_error(
        "0 < icmp unreachable [1:2(1)",
        "expected `]`, found end of file",
        1,
        29,
    );
}

#[test]
fn expression_errors() {
    assert_error(
        "0 write(3, 99999999999999999999, 1) = 1",
        "integer out of range",
        1,
        12,
    );
    assert_error(
        "0 f({(label 1, tc 0, ttl 999)}) = 0",
        "MPLS TTL out of range (8 bits)",
        1,
        26,
    );
    assert_error(
        "0 f({flags [bogus] sum 0 off 0 key 0 seq 0}) = 0",
        "found `bogus`",
        1,
        13,
    );
    assert_error(
        "0 f([1, 2) = 0",
        "expected `|`, `]` or `,`, found `)`",
        1,
        10,
    );
    assert_error(
        "0 f({a=1, b=2) = 0",
        "expected `|`, `}` or `,`, found `)`",
        1,
        14,
    );
    assert_error("0 f(1) = 0 E ()", "empty note `()`", 1, 14);
}
