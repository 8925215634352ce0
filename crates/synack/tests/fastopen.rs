//! TCP Fast Open through the blocking sockets: a cookie learned on the
//! first connection, data in the SYN on the next.

mod common;

use std::io::{Read, Write};

use common::*;
use synack::net::{ListenOptions, TcpStream};
use synack_proto::Config;
use synack_proto::config::fastopen_flags::{CLIENT, SERVER};

fn tfo_pair() -> (synack::Runtime, synack::Runtime) {
    pair_with(Config {
        tcp_fastopen: CLIENT | SERVER,
        ..Config::default()
    })
}

#[test]
fn connect_with_data_learns_a_cookie_then_puts_data_in_the_syn() {
    let (a, b) = tfo_pair();
    let l = ListenOptions::new()
        .fastopen(Some(16))
        .bind(&b, "0.0.0.0:80")
        .unwrap();
    // First time: a cookie request; the data follows the handshake.
    let (mut c, queued) = TcpStream::connect_with_data(&a, addr(B, 80), b"first").unwrap();
    assert_eq!(queued, 5);
    let info = c.fastopen_info().unwrap();
    assert!(info.cookie_requested && info.syn_data_sent == 0, "{info:?}");
    let (mut s, _) = l.accept().unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"first");
    assert!(
        a.fastopen_entry(B).and_then(|e| e.cookie).is_some(),
        "cookie cached"
    );
    c.write_all(b"x").unwrap();

    // Second time: the SYN carries the cookie and the data, which the
    // server takes from the SYN.
    let (c2, _) = TcpStream::connect_with_data(&a, addr(B, 80), b"in the syn").unwrap();
    let info = c2.fastopen_info().unwrap();
    assert_eq!(
        (info.syn_data_sent, info.syn_data_acked),
        (10, true),
        "{info:?}"
    );
    let (mut s2, _) = l.accept().unwrap();
    assert_eq!(s2.fastopen_info().unwrap().passive_data, 10);
    let mut buf = [0u8; 10];
    s2.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"in the syn");
}

#[test]
fn connect_fastopen_holds_the_syn_for_the_first_write() {
    let (a, b) = tfo_pair();
    let l = ListenOptions::new()
        .fastopen(Some(16))
        .bind(&b, "0.0.0.0:80")
        .unwrap();
    // No cookie yet: an ordinary handshake that asks for one.
    let first = TcpStream::connect_fastopen(&a, addr(B, 80)).unwrap();
    assert_eq!(
        first.state(),
        synack_proto::tcp::state::TcpState::Established
    );
    let _ = l.accept().unwrap();
    // With the cookie: back at once, nothing sent until the write.
    let mut c = TcpStream::connect_fastopen(&a, addr(B, 80)).unwrap();
    assert_eq!(c.state(), synack_proto::tcp::state::TcpState::SynSent);
    c.write_all(b"hello").unwrap();
    let (mut s, _) = l.accept().unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    assert_eq!(c.fastopen_info().unwrap().syn_data_sent, 5);
}

#[test]
fn a_saved_fast_open_entry_can_be_given_to_a_new_runtime() {
    let (a, b) = tfo_pair();
    let l = ListenOptions::new()
        .fastopen(Some(16))
        .bind(&b, "0.0.0.0:80")
        .unwrap();
    drop(TcpStream::connect_with_data(&a, addr(B, 80), b"").unwrap());
    let _ = l.accept().unwrap();
    let saved = a.fastopen_entry(B).unwrap();
    // A new client process: what was saved makes its first SYN carry data.
    let (da, db) = synack::Pipe::pollable_pair(synack::Medium::Ip, 1500).unwrap();
    drop(db);
    let fresh = synack::Builder::new(A, 24)
        .config(Config {
            tcp_fastopen: CLIENT,
            ..Config::default()
        })
        .start(da)
        .unwrap();
    assert!(fresh.fastopen_entry(B).is_none());
    fresh.fastopen_remember(B, saved);
    assert_eq!(fresh.fastopen_entry(B), Some(saved));
}
