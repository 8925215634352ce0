//! The blocking sockets between two runtimes on an in-memory link.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synack::Runtime;
use synack::net::{Keepalive, ListenOptions, TcpListener, TcpStream};
use synack_proto::tcp::state::TcpState;

#[test]
fn echo_round_trip_and_orderly_close() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:7").unwrap();
    let server = thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::V4(A));
        let mut buf = [0u8; 100];
        let mut got = Vec::new();
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(&got).unwrap();
    });
    let mut c = TcpStream::connect(&a, addr(B, 7)).unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr(B, 7));
    assert_eq!(c.local_addr().unwrap().ip(), std::net::IpAddr::V4(A));
    c.write_all(b"hello, synack").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"hello, synack");
    server.join().unwrap();
}

/// Sends `total` pattern bytes on `w` in chunks, then shuts down writing.
fn send_pattern(mut w: impl Write, total: u64) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    while off < total {
        let n = (total - off).min(buf.len() as u64) as usize;
        pattern(off, &mut buf[..n]);
        w.write_all(&buf[..n]).unwrap();
        off += n as u64;
    }
}

/// Reads to the end, checking the pattern; returns the byte count.
fn check_pattern(mut r: impl Read) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut want = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return off;
        }
        pattern(off, &mut want[..n]);
        assert!(buf[..n] == want[..n], "stream differs near byte {off}");
        off += n as u64;
    }
}

#[test]
fn bulk_both_ways_at_once_arrives_intact() {
    const TOTAL: u64 = 8 << 20;
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:9").unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let w = s.try_clone().unwrap();
        let sender = thread::spawn(move || {
            send_pattern(&w, TOTAL);
            w.shutdown(Shutdown::Write).unwrap();
        });
        let got = check_pattern(&s);
        sender.join().unwrap();
        got
    });
    let c = TcpStream::connect(&a, addr(B, 9)).unwrap();
    let start = std::time::Instant::now();
    let w = c.try_clone().unwrap();
    let sender = thread::spawn(move || {
        send_pattern(&w, TOTAL);
        w.shutdown(Shutdown::Write).unwrap();
    });
    assert_eq!(check_pattern(&c), TOTAL);
    sender.join().unwrap();
    assert_eq!(server.join().unwrap(), TOTAL);
    let secs = start.elapsed().as_secs_f64();
    // Software GRO in the driver: the engine takes fewer segments than
    // frames arrive when they arrive in bursts.
    let stats = b.stats();
    eprintln!(
        "2 x {} MiB in {secs:.2} s: {:.0} Mbit/s each way; B: {} frames in, {} TCP segments through the engine",
        TOTAL >> 20,
        TOTAL as f64 * 8.0 / secs / 1e6,
        stats.driver.frames_in,
        stats.stack.tcp.in_segs,
    );
    // Zero-copy receive in the driver: B kept in-order data frames instead
    // of copying them into its receive buffers.
    assert!(
        stats.stack.tcp_ext.tcp_rcv_frames_kept > 0,
        "no frame kept: {:?}",
        stats.stack.tcp_ext
    );
}

#[test]
fn a_runtime_talks_to_itself_over_the_loopback() {
    // A server and its client in one runtime, on 127.0.0.1 and on the
    // runtime's own address: every segment goes round the stack's
    // loopback, none reaches the device.
    const TOTAL: u64 = 4 << 20;
    let (a, _b) = pair();
    let start = a.stats();
    let localhost = std::net::Ipv4Addr::LOCALHOST;
    for (listen, to) in [
        ("127.0.0.1:7", addr(localhost, 7)),
        ("0.0.0.0:8", addr(A, 8)),
    ] {
        let listener = TcpListener::bind(&a, listen).unwrap();
        let server = thread::spawn(move || {
            let (s, peer) = listener.accept().unwrap();
            let got = check_pattern(&s);
            send_pattern(&s, 1 << 20);
            s.shutdown(Shutdown::Write).unwrap();
            (peer, got)
        });
        let c = TcpStream::connect(&a, to).unwrap();
        assert_eq!(c.peer_addr().unwrap(), to);
        send_pattern(&c, TOTAL);
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(check_pattern(&c), 1 << 20, "the answer, to {to}");
        let (peer, got) = server.join().unwrap();
        assert_eq!((peer, got), (c.local_addr().unwrap(), TOTAL), "to {to}");
        assert_eq!(peer.ip(), to.ip(), "the source is the address reached");
    }
    let end = a.stats();
    assert_eq!(
        end.driver.frames_out, start.driver.frames_out,
        "a frame left"
    );
    assert!(
        end.stack.lo.bytes > 2 * (TOTAL + (1 << 20)),
        "{:?}",
        end.stack.lo
    );
    assert_eq!(end.stack.lo.drops, 0);
}

#[test]
fn reuseport_listeners_share_a_port() {
    // SO_REUSEPORT: two listeners on one port, each taking its share of
    // the connections (the stack picks by a hash of each 4-tuple); one
    // without it may not bind there.
    let (a, b) = pair();
    let opts = ListenOptions::new().reuse_port(true);
    let group = [
        opts.bind(&b, "0.0.0.0:9000").unwrap(),
        opts.bind(&b, "0.0.0.0:9000").unwrap(),
    ];
    let plain = TcpListener::bind(&b, "0.0.0.0:9000").unwrap_err();
    assert_eq!(plain.kind(), ErrorKind::AddrInUse);
    // The handshakes complete into the listeners' accept queues.
    let clients: Vec<_> = (0..40)
        .map(|_| TcpStream::connect(&a, addr(B, 9000)).unwrap())
        .collect();
    let mut counts = [0usize; 2];
    for l in &group {
        l.set_nonblocking(true).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while counts.iter().sum::<usize>() < clients.len() && Instant::now() < deadline {
        for (l, n) in group.iter().zip(&mut counts) {
            match l.accept() {
                Ok(_) => *n += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    eprintln!("connections per listener: {counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 40, "{counts:?}");
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
    // A selection program (SO_ATTACH_REUSEPORT_CBPF's place), set through
    // the first member, sends every new connection to the second.
    group[0]
        .attach_reuseport_select(|c| (c.members == 2).then_some(1))
        .unwrap();
    let more: Vec<_> = (0..10)
        .map(|_| TcpStream::connect(&a, addr(B, 9000)).unwrap())
        .collect();
    group[1].set_nonblocking(false).unwrap();
    for _ in &more {
        group[1].accept().unwrap();
    }
    assert_eq!(group[0].accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    group[1].detach_reuseport_select().unwrap();
    assert_eq!(
        group[1].detach_reuseport_select().unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let lone = TcpListener::bind(&b, "0.0.0.0:9001").unwrap();
    let err = lone.attach_reuseport_select(|_| Some(0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

#[test]
fn streams_work_over_ethernet_with_arp() {
    let (a, b) = pair_ethernet();
    let (c, s) = connected(&a, &b, 7);
    let reader = thread::spawn(move || check_pattern(&s));
    send_pattern(&c, 1 << 20);
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(reader.join().unwrap(), 1 << 20);
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    let (a, _b) = pair();
    let err = TcpStream::connect(&a, addr(B, 81)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn connect_timeout_gives_up_on_a_silent_peer() {
    let (da, db) = synack::Pipe::pollable_pair(synack::Medium::Ip, 1500).unwrap();
    let (da, cut) = Cuttable::new(da);
    cut.store(true, Ordering::Relaxed);
    let (a, _b) = pair_on(da, db);
    let start = Instant::now();
    let err = TcpStream::connect_timeout(&a, &addr(B, 7), Duration::from_millis(300)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(start.elapsed() >= Duration::from_millis(300));
    let zero = TcpStream::connect_timeout(&a, &addr(B, 7), Duration::ZERO).unwrap_err();
    assert_eq!(zero.kind(), ErrorKind::InvalidInput);
    // The attempt is gone: nothing is left in SYN-SENT.
    assert_eq!(a.with_stack(|s| s.connection_count()), (0, 0));
}

/// A connected pair of streams: (client on `a`, server on `b`).
fn connected(a: &Runtime, b: &Runtime, port: u16) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(b, ("0.0.0.0", port)).unwrap();
    let c = TcpStream::connect(a, addr(B, port)).unwrap();
    let (s, _) = listener.accept().unwrap();
    (c, s)
}

#[test]
fn read_timeout_and_nonblocking_reads_would_block() {
    let (a, b) = pair();
    let (mut c, s) = connected(&a, &b, 7);
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(100)));
    let start = Instant::now();
    let err = c.read(&mut [0; 10]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(
        c.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    c.set_nonblocking(true).unwrap();
    assert_eq!(
        c.read(&mut [0; 10]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    (&s).write_all(b"x").unwrap();
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(None).unwrap();
    assert_eq!(c.read(&mut [0; 10]).unwrap(), 1);
}

#[test]
fn write_timeout_fires_when_the_peer_does_not_read() {
    let (a, b) = pair();
    let (mut c, _s) = connected(&a, &b, 7);
    c.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0usize;
    let err = loop {
        match c.write(&chunk) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
        assert!(written < 64 << 20, "the peer's buffers never filled");
    };
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    assert!(written > 0);
}

#[test]
fn writing_after_shutdown_is_a_broken_pipe_and_the_peer_reads_eof() {
    let (a, b) = pair();
    let (mut c, mut s) = connected(&a, &b, 7);
    c.write_all(b"last words").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.write(b"more").unwrap_err().kind(), ErrorKind::BrokenPipe);
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"last words");
    // The other direction still works (half-close).
    s.write_all(b"reply").unwrap();
    drop(s);
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"reply");
}

#[test]
fn shutdown_read_ends_a_blocked_read() {
    let (a, b) = pair();
    let (c, _s) = connected(&a, &b, 7);
    let c = std::sync::Arc::new(c);
    let reader = {
        let c = c.clone();
        thread::spawn(move || (&*c).read(&mut [0; 10]).unwrap())
    };
    // The reader is blocked (or about to be): a read shutdown wakes it.
    thread::sleep(Duration::from_millis(50));
    c.shutdown(Shutdown::Read).unwrap();
    assert_eq!(reader.join().unwrap(), 0);
}

#[test]
fn linger_zero_resets_the_connection() {
    let (a, b) = pair();
    let (c, mut s) = connected(&a, &b, 7);
    c.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(c.linger().unwrap(), Some(Duration::ZERO));
    drop(c);
    let err = s.read(&mut [0; 10]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    // No TIME-WAIT on the client.
    assert_eq!(a.with_stack(|s| s.connection_count()), (0, 0));
}

#[test]
fn linger_waits_until_the_peer_acknowledged_everything() {
    const TOTAL: u64 = 2 << 20;
    let (a, b) = pair();
    let (c, s) = connected(&a, &b, 7);
    c.set_linger(Some(Duration::from_secs(10))).unwrap();
    let reader = thread::spawn(move || check_pattern(&s));
    send_pattern(&c, TOTAL);
    drop(c);
    // Dropping returned only after the FIN was acknowledged.
    let client = a.with_stack(|st| {
        st.sockets()
            .filter(|s| s.remote.is_some())
            .map(|s| (s.state, s.send_q))
            .collect::<Vec<_>>()
    });
    assert!(
        client
            .iter()
            .all(|(state, q)| *q == 0 && matches!(state, TcpState::FinWait2 | TcpState::TimeWait)),
        "{client:?}"
    );
    assert_eq!(reader.join().unwrap(), TOTAL);
}

#[test]
fn bind_errors_are_addr_in_use_and_addr_not_available() {
    let (_a, b) = pair();
    let l = TcpListener::bind(&b, "0.0.0.0:80").unwrap();
    assert_eq!(
        l.local_addr().unwrap(),
        addr(std::net::Ipv4Addr::UNSPECIFIED, 80)
    );
    let e = TcpListener::bind(&b, "0.0.0.0:80").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    let e = TcpListener::bind(&b, (B, 80)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    let e = TcpListener::bind(&b, "198.51.100.1:80").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
    // Port 0 picks a free ephemeral port.
    let any = TcpListener::bind(&b, "0.0.0.0:0").unwrap();
    let port = any.local_addr().unwrap().port();
    assert!((32768..=60999).contains(&port), "{port}");
    // Dropping frees the port.
    drop(l);
    TcpListener::bind(&b, "0.0.0.0:80").unwrap();
}

#[test]
fn without_reuse_addr_a_port_in_time_wait_is_in_use() {
    let (a, b) = pair();
    let (c, s) = connected(&a, &b, 8080);
    // The server closes first: its side goes to TIME-WAIT.
    drop(s);
    let mut c = c;
    assert_eq!(c.read(&mut [0; 1]).unwrap(), 0);
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.with_stack(|st| st.sockets().any(|s| s.state == TcpState::TimeWait)) {
        assert!(Instant::now() < deadline, "no TIME-WAIT on the server");
        thread::sleep(Duration::from_millis(5));
    }
    let e = ListenOptions::new()
        .reuse_addr(false)
        .bind(&b, "0.0.0.0:8080")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
    ListenOptions::new()
        .reuse_addr(true)
        .bind(&b, "0.0.0.0:8080")
        .unwrap();
}

#[test]
fn nonblocking_accept_would_block_until_a_connection_waits() {
    let (a, b) = pair();
    let l = TcpListener::bind(&b, "0.0.0.0:7").unwrap();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    let _c = TcpStream::connect(&a, addr(B, 7)).unwrap();
    // The handshake completed on the client; the server's ACK may still be in flight.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match l.accept() {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline);
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn keepalive_detects_a_peer_that_vanished() {
    let (da, db) = synack::Pipe::pollable_pair(synack::Medium::Ip, 1500).unwrap();
    let (da, cut) = Cuttable::new(da);
    let (a, b) = pair_on(da, db);
    let (mut c, _s) = connected(&a, &b, 7);
    let ka = Keepalive::new(Duration::from_secs(1), Duration::from_secs(1), 2);
    c.set_keepalive(Some(ka)).unwrap();
    assert_eq!(c.keepalive().unwrap(), Some(ka));
    cut.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let err = c.read(&mut [0; 10]).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    // idle + count x interval = 3 s.
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn blocked_calls_fail_when_the_runtime_shuts_down() {
    let (_a, b) = pair();
    let l = std::sync::Arc::new(TcpListener::bind(&b, "0.0.0.0:7").unwrap());
    let acceptor = {
        let l = l.clone();
        thread::spawn(move || l.accept().map(|_| ()))
    };
    thread::sleep(Duration::from_millis(50));
    b.shutdown();
    assert!(acceptor.join().unwrap().is_err());
    assert!(!b.is_running());
    assert!(TcpListener::bind(&b, "0.0.0.0:8").is_err());
}

#[test]
fn the_services_run_over_synack_streams_unchanged() {
    let (a, b) = pair();
    let l = TcpListener::bind(&b, "0.0.0.0:7").unwrap();
    let server = thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        synack::apps::echo::serve(s).unwrap()
    });
    let mut c = TcpStream::connect(&a, addr(B, 7)).unwrap();
    let w = c.try_clone().unwrap();
    let writer = thread::spawn(move || {
        send_pattern(&w, 1 << 20);
        w.shutdown(Shutdown::Write).unwrap();
    });
    assert_eq!(check_pattern(&mut c), 1 << 20);
    writer.join().unwrap();
    let stats = server.join().unwrap();
    assert_eq!((stats.bytes_in, stats.bytes_out), (1 << 20, 1 << 20));
}

#[test]
fn a_connection_with_ip_options_carries_them_and_its_peer_answers_with_them() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:9").unwrap();
    // An empty record route of two slots: A records itself as it sends.
    let rr = [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut c = TcpStream::connect_with_ip_options(&a, addr(B, 9), &rr).unwrap();
    let (mut s, _) = listener.accept().unwrap();
    assert_eq!(c.ip_options().unwrap(), [&rr[..], &[0]].concat());
    // B answers with the route as it came, A in the first slot.
    assert_eq!(
        s.ip_options().unwrap(),
        [7, 11, 8, 192, 0, 2, 1, 0, 0, 0, 0, 0]
    );
    let writer = thread::spawn(move || {
        send_pattern(&mut c, 300_000);
        c.shutdown(Shutdown::Write).unwrap();
        c
    });
    assert_eq!(check_pattern(&mut s), 300_000);
    let c = writer.join().unwrap();
    // IP_TTL, std's names: 64 until set, 1 to 255.
    assert_eq!(c.ttl().unwrap(), 64);
    c.set_ttl(9).unwrap();
    assert_eq!(c.ttl().unwrap(), 9);
    assert_eq!(c.set_ttl(256).unwrap_err().kind(), ErrorKind::InvalidInput);
    // Cleared, then refused with the reason.
    c.set_ip_options(&[]).unwrap();
    assert!(c.ip_options().unwrap().is_empty());
    let e = c.set_ip_options(&[7, 7, 2, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("IP options: malformed"), "{e}");
    let e = TcpStream::connect_with_ip_options(&a, addr(B, 9), &[1; 41]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn a_listeners_ttl_is_the_ttl_of_the_connections_it_accepts() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:9").unwrap();
    // IP_TTL on the listening socket, std's names: 64 until set, 1 to 255.
    assert_eq!(listener.ttl().unwrap(), 64);
    listener.set_ttl(7).unwrap();
    assert_eq!(listener.ttl().unwrap(), 7);
    assert_eq!(
        listener.set_ttl(256).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let c = TcpStream::connect(&a, addr(B, 9)).unwrap();
    let (s, _) = listener.accept().unwrap();
    // The child inherits it; the connecting side keeps the default.
    assert_eq!((s.ttl().unwrap(), c.ttl().unwrap()), (7, 64));
    s.set_ttl(3).unwrap();
    assert_eq!((s.ttl().unwrap(), listener.ttl().unwrap()), (3, 7));
}

/// With SO_OOBINLINE the urgent byte stays in the stream: reads stop at the
/// mark and then return it; `recv_out_of_band` refuses (EINVAL), and a
/// blocking `peek` waits for data like a read.
#[test]
fn an_inline_urgent_byte_is_read_in_the_stream_and_peek_waits() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:7").unwrap();
    let c = TcpStream::connect(&a, addr(B, 7)).unwrap();
    let (mut s, _) = listener.accept().unwrap();
    s.set_out_of_band_inline(true).unwrap();
    assert!(s.out_of_band_inline().unwrap());
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        assert_eq!(c.send_out_of_band(b"abc").unwrap(), 3);
        thread::sleep(Duration::from_millis(20));
        (&c).write_all(b"def").unwrap();
        c
    });
    let mut buf = [0u8; 16];
    let n = s.peek(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ab", "waited for data; stops at the mark");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.has_out_of_band().unwrap() {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(1));
    }
    let e = s.recv_out_of_band(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(s.read(&mut buf).unwrap(), 2);
    assert!(s.at_mark().unwrap());
    let _c = sender.join().unwrap();
    let mut rest = Vec::new();
    while rest.len() < 4 {
        let n = s.read(&mut buf).unwrap();
        rest.extend_from_slice(&buf[..n]);
    }
    assert_eq!(rest, b"cdef", "the urgent byte in line");
    assert!(!s.at_mark().unwrap());
}

/// TCP_QUICKACK and TCP_LINGER2 as set and read back through the blocking
/// stream (their effects: the stack's tests and tests/scripts).
#[test]
fn quickack_and_linger2_round_trip() {
    use synack::net::Linger2;
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:7").unwrap();
    let c = TcpStream::connect(&a, addr(B, 7)).unwrap();
    let _s = listener.accept().unwrap();
    assert!(c.quickack().unwrap());
    c.set_quickack(false).unwrap();
    assert!(!c.quickack().unwrap());
    assert_eq!(c.linger2().unwrap(), Linger2::Default);
    c.set_linger2(Linger2::Timeout(Duration::from_secs(300)))
        .unwrap();
    assert_eq!(
        c.linger2().unwrap(),
        Linger2::Timeout(Duration::from_secs(120)),
        "cut to TCP_FIN_TIMEOUT_MAX"
    );
}

/// A listener with TCP_DEFER_ACCEPT has nothing to accept after a bare
/// handshake, and the connection once its first data came.
#[test]
fn a_deferring_listener_accepts_with_the_first_data() {
    let (a, b) = pair();
    let listener = ListenOptions::new()
        .defer_accept(Some(Duration::from_secs(5)))
        .bind(&b, "0.0.0.0:7")
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut c = TcpStream::connect(&a, addr(B, 7)).unwrap();
    thread::sleep(Duration::from_millis(50));
    let e = listener.accept().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    c.write_all(b"hello").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut s, _) = loop {
        match listener.accept() {
            Ok(accepted) => break accepted,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    };
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
}

/// SO_RCVLOWAT: a blocking read waits for that many bytes, not the first.
#[test]
fn a_blocking_read_waits_for_the_low_water_mark() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:7").unwrap();
    let mut c = TcpStream::connect(&a, addr(B, 7)).unwrap();
    c.set_nodelay(true).unwrap();
    let (mut s, _) = listener.accept().unwrap();
    s.set_recv_lowat(1000).unwrap();
    assert_eq!(s.recv_lowat().unwrap(), 1000);
    let writer = thread::spawn(move || {
        c.write_all(&[1u8; 500]).unwrap();
        thread::sleep(Duration::from_millis(30));
        c.write_all(&[2u8; 600]).unwrap();
        c
    });
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(n >= 1000, "read {n} bytes, under the mark");
    let _c = writer.join().unwrap();
}

/// SO_RCVLOWAT with SO_RCVTIMEO: the timeout ends the wait for the mark
/// with what there is (Linux's `tcp_recvmsg` returns what it copied), and
/// with nothing there, the timeout's error.
#[test]
fn a_read_timeout_below_the_mark_returns_what_there_is() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:7").unwrap();
    let mut c = TcpStream::connect(&a, addr(B, 7)).unwrap();
    let (mut s, _) = listener.accept().unwrap();
    s.set_recv_lowat(1000).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let e = s.read(&mut buf).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e}"
    );
    c.write_all(&[7u8; 300]).unwrap();
    let started = Instant::now();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(n, 300, "below the mark, taken at the timeout");
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn notsent_lowat_bounds_the_unsent_bytes_of_a_blocking_writer() {
    const LOWAT: u32 = 16_384;
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:9").unwrap();
    assert_eq!(listener.notsent_lowat().unwrap(), 0);
    listener.set_notsent_lowat(LOWAT).unwrap();
    let c = TcpStream::connect(&a, addr(B, 9)).unwrap();
    let (s, _) = listener.accept().unwrap();
    assert_eq!(
        (s.notsent_lowat().unwrap(), c.notsent_lowat().unwrap()),
        (LOWAT, 0)
    );
    let mss = s.info().unwrap().snd_mss;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut off, mut most) = (0u64, 0u32);
    // Nobody reads yet: once the peer's window is full, bytes wait unsent,
    // and a nonblocking writer at the mark is refused.
    s.set_nonblocking(true).unwrap();
    let mut refused = false;
    for _ in 0..100_000 {
        pattern(off, &mut buf);
        match (&s).write(&buf) {
            Ok(n) => off += n as u64,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                refused = s.info().unwrap().notsent_bytes > 0;
                if refused {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
        most = most.max(s.info().unwrap().notsent_bytes);
    }
    assert!(
        refused,
        "a nonblocking write at the mark fails with WouldBlock"
    );
    s.set_nonblocking(false).unwrap();
    // A reader, and every blocking write waits for room under the mark;
    // what waits unsent after it is less than the mark and one segment
    // (a write below the mark may queue a whole segment).
    let reader = thread::spawn(move || check_pattern(c));
    let total = off + (4 << 20);
    while off < total {
        let n = (total - off).min(buf.len() as u64) as usize;
        pattern(off, &mut buf[..n]);
        let wrote = (&s).write(&buf[..n]).unwrap();
        assert!(wrote <= LOWAT.max(mss) as usize, "a write of {wrote}");
        most = most.max(s.info().unwrap().notsent_bytes);
        off += wrote as u64;
    }
    assert!(most < LOWAT + mss, "{most} bytes unsent at most");
    s.shutdown(Shutdown::Write).unwrap();
    drop(s);
    assert_eq!(reader.join().unwrap(), off, "every byte written arrived");
}
