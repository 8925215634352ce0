//! TCP_WINDOW_CLAMP between two stacks (Linux `tcp_set_window_clamp`,
//! `tcp_select_initial_window`): the receive window never offers more than
//! the clamp, receive-buffer autotuning stops at it, and set before the
//! SYN (by `connect`'s options or a listener) it shapes the SYN's window
//! and window scale.

use super::*;
use crate::tcp::conn::{MIN_WINDOW_CLAMP, SetOptionError, SocketOption};

/// Every frame's direction (towards B), TCP flags, window field and
/// window scale option (`None` without one); no IP options on this wire.
type Log = Record<(bool, u8, u16, Option<u8>)>;

fn log_windows(w: &mut Wire) -> Log {
    record(w, |to_b, frame| {
        let tcp = TcpPacket::new_checked(&frame[20..]).unwrap();
        let (src, dst) = if to_b { (A, B) } else { (B, A) };
        let seg = TcpRepr::parse(&tcp, src, dst, Checksum::Offload).unwrap();
        (to_b, frame[33], seg.window, seg.options.window_scale)
    })
}

#[test]
fn the_window_b_offers_never_passes_its_clamp() {
    const CLAMP: u32 = 5_000;
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    let wscale = w.b.tcp_info(s).unwrap().rcv_wscale;
    assert_eq!(wscale, 7, "B scales its windows");
    w.b.tcp_set_option(w.now, s, SocketOption::WindowClamp(CLAMP))
        .unwrap();
    assert_eq!(w.b.tcp_connection(s).unwrap().window_clamp(), CLAMP);
    let log = log_windows(&mut w);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    w.transfer(true, c, s, &data);
    let from_b: Vec<u32> = log
        .borrow()
        .iter()
        .filter(|f| !f.0)
        .map(|f| u32::from(f.2) << wscale)
        .collect();
    assert!(from_b.len() > 20);
    // The window offered before the clamp is not taken back (RFC 9293
    // §3.8.6: a receiver should not shrink it): it runs down as data
    // fills it, and from the first window within the clamp on, none is
    // larger.
    let within = from_b.iter().position(|&wnd| wnd <= CLAMP).unwrap();
    assert!(
        from_b[..within].windows(2).all(|p| p[1] <= p[0]),
        "{from_b:?}"
    );
    assert!(
        from_b[within..].iter().all(|&wnd| wnd <= CLAMP),
        "{from_b:?}"
    );
    assert!(from_b.len() - within > 20, "{from_b:?}");
    assert!(from_b.iter().any(|&wnd| wnd > CLAMP * 9 / 10), "{from_b:?}");
    // Linux's floor, and 0 only on a closed socket.
    w.b.tcp_set_option(w.now, s, SocketOption::WindowClamp(100))
        .unwrap();
    assert_eq!(
        w.b.tcp_connection(s).unwrap().window_clamp(),
        MIN_WINDOW_CLAMP
    );
    assert_eq!(
        w.b.tcp_set_option(w.now, s, SocketOption::WindowClamp(0)),
        Err(SetOptionError::InvalidValue)
    );
    // SO_RCVLOWAT past the clamp grows the buffer to the mark and the
    // clamp with it (Linux `tcp_set_rcvlowat` sets `window_clamp`).
    w.b.tcp_set_option(w.now, s, SocketOption::RecvLowat(20_000))
        .unwrap();
    assert_eq!(w.b.tcp_connection(s).unwrap().window_clamp(), 20_000);
    assert_eq!(w.b.tcp_mem_info(s).unwrap().rcvbuf, 20_000);
}

#[test]
fn autotuning_grows_the_buffer_up_to_the_clamp_only() {
    // With a round trip to measure (the wire's 10 ms each way), the
    // receive buffer grows past its 128 KiB default as the reader keeps
    // up; the clamp stops it.
    let grown = |clamp: Option<u32>| {
        let mut w = Wire::new();
        let (c, s) = connected(&mut w);
        if let Some(clamp) = clamp {
            w.b.tcp_set_option(w.now, s, SocketOption::WindowClamp(clamp))
                .unwrap();
        }
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 249) as u8).collect();
        w.transfer(true, c, s, &data);
        w.b.tcp_mem_info(s).unwrap().rcvbuf
    };
    let free = grown(None);
    assert!(free > 200_000, "{free}: the buffer grew without a clamp");
    let clamped = grown(Some(150_000));
    assert!(clamped <= 150_000, "{clamped}");
}

#[test]
fn a_clamp_set_before_connect_shapes_the_syns_window_and_scale() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let log = log_windows(&mut w);
    let opts = ConnectOptions {
        window_clamp: 10_000,
        ..ConnectOptions::default()
    };
    let c =
        w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), opts)
            .unwrap();
    w.run_until(100);
    let s = w.b.tcp_accept(l).unwrap();
    let syn = log.borrow()[0];
    assert_eq!(syn.1, 0x02, "A's SYN first");
    // ilog2(10,000) - 15 < 0: no shift needed (Linux offers 0).
    assert_eq!((syn.2, syn.3), (10_000, Some(0)));
    assert_eq!(w.a.tcp_info(c).unwrap().rcv_wscale, 0);
    let data = vec![9u8; 100_000];
    w.transfer(false, s, c, &data);
    assert!(log.borrow().iter().filter(|f| f.0).all(|f| f.2 <= 10_000));
}

#[test]
fn a_listeners_clamp_shapes_its_syn_acks_and_goes_to_its_children() {
    for cookies in ["1", "2"] {
        let mut w = Wire::new();
        w.b.set_sysctl("tcp_syncookies", cookies).unwrap();
        let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
        assert_eq!(w.b.tcp_listener_window_clamp(l), Some(0));
        w.b.tcp_listener_set_window_clamp(l, 300_000).unwrap();
        assert_eq!(w.b.tcp_listener_window_clamp(l), Some(300_000));
        let log = log_windows(&mut w);
        let c =
            w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
                .unwrap();
        w.run_until(100);
        let s = w.b.tcp_accept(l).unwrap();
        assert_eq!(w.b.tcp_connection(s).unwrap().window_clamp(), 300_000);
        let syn_ack = *log.borrow().iter().find(|f| !f.0).unwrap();
        assert_eq!(syn_ack.1, 0x12);
        if cookies == "1" {
            // ilog2(300,000) - 15 = 3, below the default 7.
            assert_eq!(syn_ack.3, Some(3));
            assert_eq!(w.b.tcp_info(s).unwrap().rcv_wscale, 3);
        }
        let wscale = w.b.tcp_info(s).unwrap().rcv_wscale;
        // Both ends read B's windows with the shift its SYN-ACK offered
        // (a cookie's SYN-ACK went out before the child existed: 7).
        assert_eq!(w.a.tcp_info(c).unwrap().snd_wscale, wscale);
        assert_eq!(syn_ack.3, Some(wscale));
        let data = vec![3u8; 500_000];
        w.transfer(true, c, s, &data);
        let most = log
            .borrow()
            .iter()
            .filter(|f| !f.0 && f.1 & 0x02 == 0)
            .map(|f| u32::from(f.2) << wscale)
            .max()
            .unwrap();
        assert!(most <= 300_000, "{most} offered with cookies {cookies}");
    }
}
