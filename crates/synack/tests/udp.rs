//! UDP sockets between two runtimes on an in-memory link.

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::*;
use synack::net::UdpSocket;

#[test]
fn datagrams_go_both_ways_with_their_sources() {
    let (a, b) = pair();
    let server = UdpSocket::bind(&b, "0.0.0.0:7").unwrap();
    let client = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    let local = client.local_addr().unwrap();
    assert!(local.port() >= 1024, "{local}");
    client.send_to(b"ping", addr(B, 7)).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from.port(), local.port());
    server.send_to(b"pong", from).unwrap();
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"pong"[..], addr(B, 7)));
}

#[test]
fn a_connected_socket_sends_receives_and_hears_port_unreachable() {
    let (a, b) = pair();
    let server = UdpSocket::bind(&b, "0.0.0.0:9").unwrap();
    let c = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    c.connect(addr(B, 9)).unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr(B, 9));
    c.send(b"hello").unwrap();
    let mut buf = [0u8; 3];
    // A datagram longer than the buffer is cut (std's recv does the same).
    assert_eq!(server.recv(&mut buf).unwrap(), 3);
    drop(server);
    // Nobody on port 9 now: the ICMP port unreachable comes back as ECONNREFUSED.
    c.send(b"anyone?").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let err = c.recv(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn bind_conflicts_timeouts_and_nonblocking() {
    let (_a, b) = pair();
    let s = UdpSocket::bind(&b, "0.0.0.0:53").unwrap();
    assert_eq!(
        UdpSocket::bind(&b, "0.0.0.0:53").unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    assert_eq!(
        UdpSocket::bind(&b, "198.51.100.1:53").unwrap_err().kind(),
        ErrorKind::AddrNotAvailable
    );
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    assert_eq!(
        s.recv(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    s.set_nonblocking(true).unwrap();
    assert_eq!(
        s.recv(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // Unconnected: send needs a destination.
    assert_eq!(s.send(b"x").unwrap_err().kind(), ErrorKind::NotConnected);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_udp_echo() {
    let (a, b) = pair();
    let server = synack::tokio::UdpSocket::bind(&b, "0.0.0.0:7")
        .await
        .unwrap();
    let echo = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        server.send_to(&buf[..n], from).await.unwrap();
    });
    let client = synack::tokio::UdpSocket::bind(&a, "0.0.0.0:0")
        .await
        .unwrap();
    client.connect(addr(B, 7)).await.unwrap();
    client.send(b"async datagram").await.unwrap();
    let mut buf = [0u8; 64];
    let n = client.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"async datagram");
    echo.await.unwrap();
}
