//! The tokio front end, on current-thread tokio runtimes (the synack
//! driver wakes the tasks; no tokio reactor is involved).
#![cfg(feature = "tokio")]

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::*;
use synack::tokio::{TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn echo_with_split_halves_and_shutdown_sending_fin() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:7").await.unwrap();
    assert_eq!(listener.local_addr().unwrap().port(), 7);
    let server = tokio::spawn(async move {
        let (mut s, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::V4(A));
        let (mut r, mut w) = s.split();
        let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
        n
    });
    let mut c = TcpStream::connect(&a, addr(B, 7)).await.unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr(B, 7));
    let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let (mut r, mut w) = c.split();
    let send = async {
        w.write_all(&data).await.unwrap();
        // poll_shutdown sends the FIN: the server's copy ends.
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let recv = r.read_to_end(&mut back);
    let ((), got) = tokio::join!(send, recv);
    assert_eq!(got.unwrap(), data.len());
    assert_eq!(back, data);
    assert_eq!(server.await.unwrap(), data.len() as u64);
}

#[tokio::test]
async fn owned_halves_work_in_separate_tasks_and_reunite() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:7").await.unwrap();
    let client = TcpStream::connect(&a, addr(B, 7)).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let (mut r, w) = server.into_split();
    let (cr, mut cw) = client.into_split();
    let writer = tokio::spawn(async move {
        cw.write_all(b"over the split").await.unwrap();
        cw
    });
    let mut buf = [0u8; 14];
    r.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"over the split");
    let cw = writer.await.unwrap();
    // Halves of different streams do not reunite; the right ones do.
    let (cr, cw) = match cr.reunite(w) {
        Err(synack::tokio::ReuniteError(cr, w)) => {
            drop(w); // Dropping the server's write half sends its FIN.
            (cr, cw)
        }
        Ok(_) => panic!("reunited halves of different streams"),
    };
    let mut client = cr.reunite(cw).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn refused_and_cancelled_connects() {
    let (a, _b) = pair();
    let err = TcpStream::connect(&a, addr(B, 81)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

    let (da, db) = synack::Pipe::pollable_pair(synack::Medium::Ip, 1500).unwrap();
    let (da, cut) = Cuttable::new(da);
    cut.store(true, std::sync::atomic::Ordering::Relaxed);
    let (a, _b) = pair_on(da, db);
    let attempt = TcpStream::connect(&a, addr(B, 7));
    let r = tokio::time::timeout(Duration::from_millis(100), attempt).await;
    assert!(r.is_err(), "connected through a cut link");
    // The dropped future took its SYN-SENT connection with it.
    assert_eq!(a.with_stack(|s| s.connection_count()), (0, 0));
}

#[tokio::test]
async fn blocking_and_async_sockets_share_one_stack() {
    let (a, b) = pair();
    // A blocking listener on the same runtime as an async one.
    let blocking = synack::net::TcpListener::bind(&b, "0.0.0.0:8").unwrap();
    let listener = TcpListener::bind(&b, "0.0.0.0:7").await.unwrap();
    let mut c1 = TcpStream::connect(&a, addr(B, 7)).await.unwrap();
    let c2 = synack::net::TcpStream::connect(&a, addr(B, 8)).unwrap();
    let (mut s1, _) = listener.accept().await.unwrap();
    let (s2, _) = blocking.accept().unwrap();
    // A blocking stream becomes an async one.
    let mut s2 = TcpStream::from_std(s2).unwrap();
    let mut c2 = TcpStream::from_std(c2).unwrap();
    c1.write_all(b"one").await.unwrap();
    c2.write_all(b"two").await.unwrap();
    let mut buf = [0u8; 3];
    s1.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"one");
    s2.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"two");
    let rows = b.with_stack(|s| s.sockets().count());
    assert_eq!(rows, 4, "two listeners and two connections in one stack");
}

#[tokio::test]
async fn a_udp_sockets_ip_options_reach_a_socket_that_asks_for_them() {
    let (a, b) = pair();
    let sender = synack::tokio::UdpSocket::bind(&a, "0.0.0.0:0")
        .await
        .unwrap();
    let receiver = synack::tokio::UdpSocket::bind(&b, "0.0.0.0:7")
        .await
        .unwrap();
    // An empty record route of one slot: the sender writes itself in.
    sender.set_ip_options(&[7, 7, 4, 0, 0, 0, 0]).unwrap();
    receiver.set_recv_ip_options(true).unwrap();
    sender.send_to(b"routed", addr(B, 7)).await.unwrap();
    let mut buf = [0u8; 16];
    let (n, _, options) = receiver.recv_from_with_ip_options(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"routed");
    let a_addr = A.octets();
    assert_eq!(
        options,
        [7, 7, 8, a_addr[0], a_addr[1], a_addr[2], a_addr[3], 0]
    );
}

#[tokio::test]
async fn a_connection_with_ip_options_carries_them_both_ways() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:9").await.unwrap();
    let rr = [7, 7, 4, 0, 0, 0, 0];
    let mut c = TcpStream::connect_with_ip_options(&a, addr(B, 9), &rr)
        .await
        .unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    assert_eq!(c.ip_options().unwrap(), [7, 7, 4, 0, 0, 0, 0, 0]);
    assert_eq!(s.ip_options().unwrap(), [7, 7, 8, 192, 0, 2, 1, 0]);
    c.write_all(b"routed").await.unwrap();
    let mut buf = [0u8; 6];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"routed");
    s.set_ip_options(&[]).unwrap();
    assert!(s.ip_options().unwrap().is_empty());
    s.write_all(b"back").await.unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"back");
}

#[tokio::test]
async fn a_listeners_ttl_is_the_ttl_of_the_connections_it_accepts() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:9").await.unwrap();
    assert_eq!(listener.ttl().unwrap(), 64);
    listener.set_ttl(7).unwrap();
    assert_eq!(listener.ttl().unwrap(), 7);
    assert_eq!(
        listener.set_ttl(0).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    let mut c = TcpStream::connect(&a, addr(B, 9)).await.unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    assert_eq!((s.ttl().unwrap(), c.ttl().unwrap()), (7, 64));
    c.write_all(b"ttl").await.unwrap();
    let mut buf = [0u8; 3];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ttl");
}

#[tokio::test]
async fn ip_tos_on_listener_stream_and_udp_socket_with_recv_msg() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:9").await.unwrap();
    assert_eq!(listener.tos().unwrap(), 0);
    listener.set_tos(0xB8).unwrap();
    let c = TcpStream::connect(&a, addr(B, 9)).await.unwrap();
    let (s, _) = listener.accept().await.unwrap();
    assert_eq!((s.tos().unwrap(), c.tos().unwrap()), (0xB8, 0));
    // The ECN field is TCP's on a stream: its bits are dropped.
    c.set_tos(0x2B).unwrap();
    assert_eq!(c.tos().unwrap(), 0x28);
    assert_eq!(c.set_tos(300).unwrap_err().kind(), ErrorKind::InvalidInput);
    // A datagram's whole byte, and the receiver's view of it.
    let sender = synack::tokio::UdpSocket::bind(&a, "0.0.0.0:0")
        .await
        .unwrap();
    let receiver = synack::tokio::UdpSocket::bind(&b, "0.0.0.0:7")
        .await
        .unwrap();
    sender.set_tos(0x2B).unwrap();
    assert_eq!(sender.tos().unwrap(), 0x2B);
    sender.send_to(b"tos", addr(B, 7)).await.unwrap();
    let mut buf = [0u8; 2];
    let got = receiver.recv_msg(&mut buf).await.unwrap();
    assert_eq!(
        (got.tos, got.dst, got.len, got.truncated),
        (0x2B, B, 2, true)
    );
    assert_eq!(&buf, b"to");
}

#[tokio::test]
async fn an_async_writer_under_notsent_lowat_is_woken_until_the_stream_is_sent() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:9").await.unwrap();
    listener.set_notsent_lowat(4_096).unwrap();
    assert_eq!(listener.notsent_lowat().unwrap(), 4_096);
    let mut c = TcpStream::connect(&a, addr(B, 9)).await.unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    assert_eq!(s.notsent_lowat().unwrap(), 4_096);
    c.set_notsent_lowat(2_048).unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let send = async {
        // poll_write is refused at the mark and woken below half of it.
        s.write_all(&data).await.unwrap();
        assert!(s.info().unwrap().notsent_bytes < 4_096 + 1_460);
        s.shutdown().await.unwrap();
    };
    let mut got = Vec::new();
    let recv = c.read_to_end(&mut got);
    let ((), n) = tokio::join!(send, recv);
    assert_eq!(n.unwrap(), data.len());
    assert!(got == data, "the stream arrived changed");
}

#[tokio::test]
async fn an_async_ping_socket_awaits_its_replies() {
    let (a, _b) = pair();
    let ping = synack::tokio::PingSocket::open(&a).unwrap();
    ping.send_echo(B, 1, b"first").await.unwrap();
    let ident = ping.local_addr().unwrap().1;
    let mut buf = [0u8; 64];
    let event = tokio::time::timeout(Duration::from_secs(10), ping.recv(&mut buf))
        .await
        .expect("a reply in time")
        .unwrap();
    match event {
        synack::net::PingEvent::Reply(r) => {
            assert_eq!((r.src, r.ident, r.seq, r.ttl), (B, ident, 1, 64));
            assert_eq!(&buf[8..r.len], b"first");
        }
        other => panic!("{other:?}"),
    }
    // A second socket's reply, read with its source as recvfrom gives it.
    let bound = synack::tokio::PingSocket::bind(&a, A, 77).unwrap();
    bound.send_echo(B, 2, b"two").await.unwrap();
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), bound.recv_from(&mut buf))
        .await
        .expect("a reply in time")
        .unwrap();
    assert_eq!(
        (from, &buf[4..n]),
        (B, &[0, 77, 0, 2, b't', b'w', b'o'][..])
    );
    let taken = synack::tokio::PingSocket::bind(&a, A, 77).unwrap_err();
    assert_eq!(taken.kind(), ErrorKind::AddrInUse);
    // Connected, with a record route read back from the reply.
    let mut rr = vec![7, 11, 4];
    rr.resize(11, 0);
    bound.set_ip_options(&rr).unwrap();
    bound.set_recv_ip_options(true).unwrap();
    bound.connect(B).unwrap();
    bound.send(&[8, 0, 0, 0, 0, 0, 0, 3]).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), bound.recv(&mut buf))
        .await
        .expect("a reply in time")
        .unwrap();
    match event {
        synack::net::PingEvent::Reply(r) => {
            assert_eq!(r.seq, 3);
            // Ours as it left, B's as it answered.
            assert_eq!(
                &r.ip_options()[..11],
                &[7, 11, 12, 192, 0, 2, 1, 192, 0, 2, 2]
            );
        }
        other => panic!("{other:?}"),
    }
    let denied = bound.send_echo(std::net::Ipv4Addr::BROADCAST, 4, b"").await;
    assert_eq!(denied.unwrap_err().kind(), ErrorKind::PermissionDenied);
    bound.set_broadcast(true).unwrap();
    bound
        .send_echo(std::net::Ipv4Addr::BROADCAST, 5, b"")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_async_udp_socket_awaits_its_queued_errors() {
    let (a, _b) = pair();
    let probe = synack::tokio::UdpSocket::bind(&a, "0.0.0.0:0")
        .await
        .unwrap();
    probe.set_recv_error(true).unwrap();
    probe.send_to(b"probe", addr(B, 33434)).await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), probe.recv_error())
        .await
        .expect("an error in time")
        .unwrap();
    assert_eq!((report.offender, report.icmp_type_code()), (B, (3, 3)));
}

/// `peek` awaits data and leaves it; urgent data crosses as out-of-band:
/// the read stops at the mark, `recv_out_of_band` has the byte once.
#[tokio::test]
async fn peek_awaits_and_urgent_data_crosses_out_of_band() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "0.0.0.0:7").await.unwrap();
    let c = TcpStream::connect(&a, addr(B, 7)).await.unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    let mut buf = [0u8; 16];
    let (n, sent) = tokio::join!(s.peek(&mut buf), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.send_out_of_band(b"ping!").await
    });
    assert_eq!(sent.unwrap(), 5);
    assert_eq!(&buf[..n.unwrap()], b"ping", "the peek stops at the mark");
    for _ in 0..1000 {
        if s.has_out_of_band().unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut oob = [0u8; 1];
    assert_eq!(s.recv_out_of_band(&mut oob).unwrap(), 1);
    assert_eq!(&oob, b"!");
    assert_eq!(
        s.recv_out_of_band(&mut oob).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(s.read(&mut buf).await.unwrap(), 4);
    assert_eq!(&buf[..4], b"ping");
    assert!(s.at_mark().unwrap());
    assert!(!s.out_of_band_inline().unwrap());
    s.set_quickack(false).unwrap();
    assert!(!s.quickack().unwrap());
    s.set_linger2(synack::net::Linger2::Abort).unwrap();
    assert_eq!(s.linger2().unwrap(), synack::net::Linger2::Abort);
}
