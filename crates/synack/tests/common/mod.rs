//! Two runtimes joined by an in-memory link (no privileges needed).
#![allow(dead_code)]

pub mod kernel;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use synack::{Builder, Device, Medium, Pipe, Runtime};

pub const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

pub fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

/// Runtimes `a` (192.0.2.1) and `b` (192.0.2.2) on a pollable pipe, with
/// fixed seeds.
pub fn pair() -> (Runtime, Runtime) {
    let (da, db) = Pipe::pollable_pair(Medium::Ip, 1500).unwrap();
    pair_on(da, db)
}

/// [`pair`] on an Ethernet link: the stacks find each other with ARP.
pub fn pair_ethernet() -> (Runtime, Runtime) {
    let (da, db) = Pipe::pollable_pair(Medium::Ethernet, 1500).unwrap();
    pair_on(da, db)
}

/// [`pair`] with a configuration for both stacks.
pub fn pair_with(config: synack_proto::Config) -> (Runtime, Runtime) {
    let (da, db) = Pipe::pollable_pair(Medium::Ip, 1500).unwrap();
    let a = Builder::new(A, 24)
        .config(config.clone())
        .seed(1)
        .start(da)
        .unwrap();
    let b = Builder::new(B, 24)
        .config(config)
        .seed(2)
        .start(db)
        .unwrap();
    (a, b)
}

pub fn pair_on(
    da: impl Device + Send + 'static,
    db: impl Device + Send + 'static,
) -> (Runtime, Runtime) {
    let a = Builder::new(A, 24).seed(1).start(da).unwrap();
    let b = Builder::new(B, 24).seed(2).start(db).unwrap();
    (a, b)
}

/// A byte pattern that shows reordering, loss and duplication.
pub fn pattern(offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let x = offset + i as u64;
        *b = (x ^ (x >> 8) ^ (x >> 16)) as u8;
    }
}

/// A device whose link can be cut: then every frame either way is lost,
/// as if the peer vanished (no RST, nothing).
#[derive(Debug)]
pub struct Cuttable<D> {
    pub inner: D,
    pub cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<D: Device> Cuttable<D> {
    pub fn new(inner: D) -> (Self, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        (
            Cuttable {
                inner,
                cut: cut.clone(),
            },
            cut,
        )
    }

    fn is_cut(&self) -> bool {
        self.cut.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<D: Device> Device for Cuttable<D> {
    fn medium(&self) -> Medium {
        self.inner.medium()
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        loop {
            let r = self.inner.recv(buf)?;
            if r.is_none() || !self.is_cut() {
                return Ok(r);
            }
        }
    }
    fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
        if self.is_cut() {
            return Ok(());
        }
        self.inner.send(frame)
    }
    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.inner.fd()
    }
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.inner.poll_timeout()
    }
}
