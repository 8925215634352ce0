//! TCP_NOTSENT_LOWAT between two stacks (`conn::notsent`, Linux's
//! `tcp_stream_memory_free`): a writer keeps at most the mark unsent (or
//! one segment), is woken once fewer than half of it wait, and the stream
//! arrives whole; the `tcp_notsent_lowat` sysctl is every connection's
//! default, a listener's mark its children's.

use super::*;
use crate::tcp::conn::SocketOption;

/// A's bytes not yet sent on connection `c`.
fn unsent(s: &Stack, c: ConnHandle) -> u32 {
    let conn = s.tcp_connection(c).expect("the connection");
    conn.state_data().send_half().expect("a send half").unsent()
}

fn mss(s: &Stack, c: ConnHandle) -> u32 {
    let conn = s.tcp_connection(c).expect("the connection");
    conn.state_data().send_half().expect("a send half").mss
}

#[test]
fn a_writer_keeps_at_most_the_mark_unsent_and_is_woken_below_half_of_it() {
    const LOWAT: u32 = 8_000;
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    w.a.tcp_set_option(w.now, c, SocketOption::NotSentLowat(LOWAT))
        .unwrap();
    assert_eq!(w.a.tcp_connection(c).unwrap().notsent_lowat(), LOWAT);
    let mss = mss(&w.a, c);
    let data: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let (mut wakes, mut refusals, mut most_unsent) = (0, 0, 0);
    let mut buf = vec![0u8; 65_536];
    let mut writable = true;
    for _ in 0..100_000 {
        if writable && sent < data.len() {
            writable = false;
            // Writes until refused, as an event-driven writer does.
            loop {
                match w.a.tcp_send(w.now, c, &data[sent..]) {
                    Ok(n) => sent += n,
                    Err(SendError::WouldBlock) => {
                        refusals += 1;
                        break;
                    }
                    Err(e) => panic!("{e:?}"),
                }
                most_unsent = most_unsent.max(unsent(&w.a, c));
                if sent == data.len() {
                    break;
                }
            }
        }
        let ms = w.now.total_millis() + 1;
        w.run_until(ms);
        for e in events(&mut w.a) {
            if e == Event::Writable(c) {
                // Woken only once fewer than half the mark wait unsent.
                assert!(2 * unsent(&w.a, c) < LOWAT, "woken at {}", unsent(&w.a, c));
                wakes += 1;
                writable = true;
            }
        }
        while let Ok(n @ 1..) = w.b.tcp_recv(w.now, s, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
    }
    assert!(
        got == data,
        "{} of {} bytes arrived whole",
        got.len(),
        data.len()
    );
    // Less than the mark and one segment unsent (a write below the mark
    // may queue a whole segment).
    assert!(most_unsent < LOWAT + mss, "{most_unsent} unsent at most");
    assert!(
        most_unsent > LOWAT / 2,
        "{most_unsent}: the writer filled to the mark"
    );
    assert!(
        wakes > 20 && refusals >= wakes,
        "{wakes} wakes, {refusals} refusals"
    );
}

#[test]
fn the_sysctl_is_the_default_the_socket_overrides_it_and_zero_restores_it() {
    let mut w = Wire::new();
    let (c, _) = connected(&mut w);
    let data = vec![7u8; 60_000];
    // No mark: a write takes as much as the buffer holds.
    let n = w.a.tcp_send(w.now, c, &data).unwrap();
    assert!(n > 20_000, "{n}");
    let mut w = Wire::new();
    w.a.set_sysctl("net.ipv4.tcp_notsent_lowat", "5000")
        .unwrap();
    let (c, _) = connected(&mut w);
    assert!(
        w.a.tcp_connection(c)
            .unwrap()
            .notsent_writable(&w.a.env.config)
    );
    assert_eq!(w.a.tcp_send(w.now, c, &data), Ok(5_000));
    assert_eq!(w.a.tcp_send(w.now, c, &data), Err(SendError::WouldBlock));
    assert!(
        !w.a.tcp_connection(c)
            .unwrap()
            .notsent_writable(&w.a.env.config)
    );
    // The socket's own mark: 20,000, and the writer may go at once (Linux
    // calls `sk_write_space` when it is set).
    w.a.tcp_set_option(w.now, c, SocketOption::NotSentLowat(20_000))
        .unwrap();
    assert!(events(&mut w.a).contains(&Event::Writable(c)));
    assert_eq!(w.a.tcp_send(w.now, c, &data), Ok(15_000));
    // 0: the sysctl's again (getsockopt reads the socket's own: 0).
    w.a.tcp_set_option(w.now, c, SocketOption::NotSentLowat(0))
        .unwrap();
    assert_eq!(w.a.tcp_connection(c).unwrap().notsent_lowat(), 0);
    assert_eq!(w.a.tcp_send(w.now, c, &data), Err(SendError::WouldBlock));
    assert!(!events(&mut w.a).contains(&Event::Writable(c)));
    // Below one segment, a write still takes one: Linux fills the
    // segment it writes.
    let mut w = Wire::new();
    let (c, _) = connected(&mut w);
    w.a.tcp_set_option(w.now, c, SocketOption::NotSentLowat(1))
        .unwrap();
    let mss = mss(&w.a, c) as usize;
    assert_eq!(w.a.tcp_send(w.now, c, &data), Ok(mss));
    assert!(w.a.set_sysctl("tcp_notsent_lowat", "-1").is_err());
}

#[test]
fn a_listeners_mark_goes_to_the_connections_it_accepts() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    assert_eq!(w.b.tcp_listener_notsent_lowat(l), Some(0));
    w.b.tcp_listener_set_notsent_lowat(l, 3_000).unwrap();
    assert_eq!(w.b.tcp_listener_notsent_lowat(l), Some(3_000));
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
            .unwrap();
    w.run_until(100);
    let s = w.b.tcp_accept(l).unwrap();
    assert_eq!(w.b.tcp_connection(s).unwrap().notsent_lowat(), 3_000);
    assert_eq!(w.a.tcp_connection(c).unwrap().notsent_lowat(), 0);
    assert_eq!(w.b.tcp_send(w.now, s, &[1; 10_000]), Ok(3_000));
    // The same through a SYN cookie's connection.
    let mut w = Wire::new();
    w.b.set_sysctl("tcp_syncookies", "2").unwrap();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    w.b.tcp_listener_set_notsent_lowat(l, 3_000).unwrap();
    w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
        .unwrap();
    w.run_until(100);
    let s = w.b.tcp_accept(l).unwrap();
    assert_eq!(w.b.tcp_connection(s).unwrap().notsent_lowat(), 3_000);
    assert_eq!(w.b.stats().tcp_ext.syncookies_recv, 1);
    w.b.tcp_close_listener(w.now, l);
    assert_eq!(
        w.b.tcp_listener_set_notsent_lowat(l, 1),
        Err(crate::tcp::conn::SetOptionError::InvalidHandle)
    );
}

#[test]
fn an_ack_that_leaves_half_the_mark_unsent_wakes_no_writer() {
    // B's receive buffer holds 4 KiB, so most of what A writes waits
    // unsent behind B's window; A's mark is 20,000.
    const LOWAT: u32 = 20_000;
    let mut w = Wire::new();
    let (c, s) = connected_with_small_window(&mut w, 4_096);
    w.a.tcp_set_option(w.now, c, SocketOption::NotSentLowat(LOWAT))
        .unwrap();
    let data = vec![5u8; 100_000];
    let mut sent = 0;
    while let Ok(n) = w.a.tcp_send(w.now, c, &data[sent..]) {
        sent += n;
    }
    w.run_until(w.now.total_millis() + 200);
    let _ = events(&mut w.a);
    assert!(unsent(&w.a, c) > LOWAT / 2, "{}", unsent(&w.a, c));
    // B reads a segment's worth: its window opens, A sends, B's ACK
    // advances SND.UNA with more than half the mark still unsent.
    let mut buf = vec![0u8; 65_536];
    let mut read = w.b.tcp_recv(w.now, s, &mut buf[..1_448]).unwrap();
    w.run_until(w.now.total_millis() + 200);
    assert!(unsent(&w.a, c) > LOWAT / 2, "{}", unsent(&w.a, c));
    assert!(!events(&mut w.a).contains(&Event::Writable(c)));
    // As B reads on, the unsent bytes fall below half the mark: woken.
    let mut woken = false;
    for _ in 0..200 {
        read += w.b.tcp_recv(w.now, s, &mut buf).unwrap_or(0);
        w.run_until(w.now.total_millis() + 20);
        if events(&mut w.a).contains(&Event::Writable(c)) {
            woken = true;
            break;
        }
    }
    assert!(woken, "{read} bytes read, {} unsent", unsent(&w.a, c));
    assert!(2 * unsent(&w.a, c) < LOWAT);
    assert!(read > 0 && sent < 100_000, "{sent}");
}
