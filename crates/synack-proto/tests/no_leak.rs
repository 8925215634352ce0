//! A connection's end leaks nothing: connections that end every way (in
//! order through TIME-WAIT or not, reset with data still queued both ways,
//! closed by the peer while the application holds unread bytes, aborted)
//! leave no memory behind once their stacks are dropped.
//!
//! The end of a connection empties its state in place and overwrites it
//! without a drop (`State::take_unread`, `State::overwrite_emptied`): a
//! block or ring the emptying missed would be forgotten, not freed. This
//! counts live allocations around whole runs to catch that.
//!
//! The counting allocator (`counting/mod.rs`) needs `unsafe impl
//! GlobalAlloc`; it only forwards to the system allocator and counts. One
//! test in this binary, so no other thread allocates while it counts.
#![allow(unsafe_code)]

mod counting;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;

use counting::{Counting, LIVE};

use synack_proto::stack::{ConnHandle, ConnectOptions, Interface, ListenerHandle};
use synack_proto::tcp::conn::Shutdown;
use synack_proto::{Config, Duration, Instant, Stack};

#[global_allocator]
static GLOBAL: Counting = Counting;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

struct Pair {
    a: Stack,
    b: Stack,
    listener: ListenerHandle,
    now: Instant,
    buf: Vec<u8>,
}

impl Pair {
    fn new(tw_buckets: usize) -> Self {
        let config = |seed| Config {
            seed,
            tcp_max_tw_buckets: tw_buckets,
            ..Config::default()
        };
        let a = Stack::new(config(1), Interface::ip(A, 24));
        let mut b = Stack::new(config(2), Interface::ip(B, 24));
        let listener = b.tcp_listen(SocketAddrV4::new(B, 80), 8).unwrap();
        Pair {
            a,
            b,
            listener,
            now: Instant::ZERO,
            buf: vec![0; 2048],
        }
    }

    /// Frames go across until both stacks are quiet; events are dropped.
    fn exchange(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(n) = self.a.poll_transmit(self.now, &mut self.buf) {
                self.b.handle_frame(self.now, &self.buf[..n]);
                moved = true;
            }
            while let Some(n) = self.b.poll_transmit(self.now, &mut self.buf) {
                self.a.handle_frame(self.now, &self.buf[..n]);
                moved = true;
            }
            while self.a.poll_event().is_some() {}
            while self.b.poll_event().is_some() {}
            if !moved {
                return;
            }
        }
        panic!("no end to the exchange");
    }

    /// Time passes: timers fire (delayed ACKs, TIME-WAIT's 2 MSL).
    fn wait(&mut self, d: Duration) {
        self.now += d;
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.exchange();
    }

    fn open(&mut self) -> (ConnHandle, ConnHandle) {
        let c = self
            .a
            .tcp_connect(
                self.now,
                SocketAddrV4::new(B, 80),
                ConnectOptions::default(),
            )
            .unwrap();
        self.exchange();
        let s = self.b.tcp_accept(self.listener).unwrap();
        (c, s)
    }

    fn read_all(stack: &mut Stack, now: Instant, c: ConnHandle) {
        let mut read = [0u8; 4096];
        while let Ok(n) = stack.tcp_recv(now, c, &mut read) {
            if n == 0 {
                break;
            }
        }
    }

    /// One connection, ended the way `how` picks, data queued both ways.
    fn one(&mut self, how: usize) {
        let (c, s) = self.open();
        let now = self.now;
        let data = [0x5Au8; 3000];
        self.a.tcp_send(now, c, &data).unwrap();
        self.b.tcp_send(now, s, &data[..1000]).unwrap();
        self.exchange();
        match how {
            // In order: both read everything and shut down, then close.
            0 => {
                Self::read_all(&mut self.b, now, s);
                self.a.tcp_shutdown(now, c, Shutdown::Write).unwrap();
                self.exchange();
                Self::read_all(&mut self.a, now, c);
                self.b.tcp_shutdown(now, s, Shutdown::Write).unwrap();
                self.exchange();
                self.a.tcp_close(now, c);
                self.b.tcp_close(now, s);
            }
            // The server closes with bytes unread: a RST (RFC 2525 §2.17);
            // the client, with bytes unread too, learns of it in CLOSED.
            1 => {
                self.b.tcp_close(now, s);
                self.exchange();
                self.a.tcp_close(now, c);
            }
            // The client aborts with data queued and unacknowledged.
            2 => {
                self.a.tcp_send(now, c, &data).unwrap();
                self.a.tcp_abort(now, c);
                self.exchange();
                self.b.tcp_close(now, s);
            }
            // The client closes first (TIME-WAIT on its side), the server
            // keeps its handle and unread bytes in CLOSED a while.
            _ => {
                Self::read_all(&mut self.a, now, c);
                self.a.tcp_close(now, c);
                self.exchange();
                self.b.tcp_shutdown(now, s, Shutdown::Write).unwrap();
                self.exchange();
                self.b.tcp_close(now, s);
            }
        }
        self.exchange();
        self.wait(Duration::from_millis(500));
    }
}

/// Live allocations after a run of `n` connections (each way of ending in
/// turn), its stacks dropped and 2 MSL passed.
fn leftover(n: usize, tw_buckets: usize) -> isize {
    let before = LIVE.load(Ordering::Relaxed);
    {
        let mut p = Pair::new(tw_buckets);
        for i in 0..n {
            p.one(i % 4);
        }
        p.wait(Duration::from_secs(120));
        assert_eq!(p.a.connection_count(), (0, 0));
        assert_eq!(p.b.connection_count(), (0, 0));
    }
    LIVE.load(Ordering::Relaxed) - before
}

#[test]
fn ended_connections_leave_no_memory_behind() {
    // The first run sets up whatever the process allocates once.
    leftover(8, 0);
    for tw_buckets in [0, 1000] {
        assert_eq!(
            leftover(40, tw_buckets),
            0,
            "tcp_max_tw_buckets {tw_buckets}"
        );
    }
}
