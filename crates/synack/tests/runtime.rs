//! The driver: it sleeps when idle, and stops when nobody holds the runtime.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synack::net::{TcpListener, TcpStream};
use synack::{Device, Medium, Pipe};

#[test]
fn an_idle_runtime_sleeps() {
    let (a, b) = pair();
    let l = TcpListener::bind(&b, "0.0.0.0:7").unwrap();
    let mut c = TcpStream::connect(&a, addr(B, 7)).unwrap();
    let (mut s, _) = l.accept().unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    s.write_all(b"pong").unwrap();
    c.read_exact(&mut buf).unwrap();
    // Let delayed ACKs and the idle-buffer timer (1 s) run out.
    thread::sleep(Duration::from_millis(1500));
    let before = (a.stats().driver.wakeups, b.stats().driver.wakeups);
    thread::sleep(Duration::from_secs(1));
    let after = (a.stats().driver.wakeups, b.stats().driver.wakeups);
    let woke = (after.0 - before.0, after.1 - before.1);
    eprintln!("wake-ups over an idle second: {woke:?}");
    // A listener and an established connection with nothing to do: no
    // timer is due, so nothing wakes the drivers (a spinning one would
    // count thousands).
    assert!(woke.0 <= 2 && woke.1 <= 2, "{woke:?}");
}

/// A device that says when it is dropped.
struct Watched {
    inner: Pipe,
    dropped: Arc<AtomicBool>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl Device for Watched {
    fn medium(&self) -> Medium {
        self.inner.medium()
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        self.inner.recv(buf)
    }
    fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.inner.send(frame)
    }
    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.inner.fd()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn the_driver_stops_when_the_last_handle_goes() {
    let (da, _db) = Pipe::pollable_pair(Medium::Ip, 1500).unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let rt = synack::Runtime::start(
        Watched {
            inner: da,
            dropped: dropped.clone(),
        },
        A,
        24,
    )
    .unwrap();
    let l = TcpListener::bind(&rt, "0.0.0.0:7").unwrap();
    drop(rt);
    // A socket keeps the runtime alive.
    thread::sleep(Duration::from_millis(20));
    assert!(!dropped.load(Ordering::SeqCst));
    drop(l);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dropped.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the device was never released");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_failed_device_fails_every_socket_call() {
    struct Failing;
    impl Device for Failing {
        fn medium(&self) -> Medium {
            Medium::Ip
        }
        fn mtu(&self) -> usize {
            1500
        }
        fn recv(&mut self, _: &mut [u8]) -> std::io::Result<Option<usize>> {
            Err(std::io::Error::other("device unplugged"))
        }
        fn send(&mut self, _: &[u8]) -> std::io::Result<()> {
            Ok(())
        }
        fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
    }
    let rt = synack::Runtime::start(Failing, A, 24).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while rt.is_running() {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(1));
    }
    let err = TcpListener::bind(&rt, "0.0.0.0:7").unwrap_err();
    assert!(err.to_string().contains("device unplugged"), "{err}");
}
