//! A [`BenchStack`] host as a `synack_sim::Node` (one IP-medium port),
//! running a bulk sender or receiver.
//!
//! Frames from the world are copied into the host's receive queue (the
//! world lends them), the stack is polled, and what it sent is copied out in
//! `poll_transmit`. Virtual time is the world's `Instant`, handed to the
//! stack as is.

use std::net::SocketAddrV4;

use synack_proto::Instant;
use synack_sim::{Node, PortId};

use crate::app::{BulkReceiver, BulkSender};
use crate::frames::Frames;
use crate::stack::{BenchStack, HostConfig};

/// What the host's application does.
#[derive(Debug)]
pub enum App<S: BenchStack> {
    Idle,
    Sender(BulkSender<S>),
    Receiver(BulkReceiver<S>),
}

/// A stack plus an application, on port 0.
#[derive(Debug)]
pub struct HostNode<S: BenchStack> {
    pub stack: S,
    pub app: App<S>,
    rx: Frames,
    tx: Frames,
    next_timeout: Option<Instant>,
}

impl<S: BenchStack> HostNode<S> {
    pub fn new(config: &HostConfig) -> Self {
        HostNode {
            stack: S::new(config),
            app: App::Idle,
            rx: Frames::new(),
            tx: Frames::new(),
            next_timeout: None,
        }
    }

    /// Starts sending `total` bytes to `remote`.
    pub fn start_sender(
        &mut self,
        now: Instant,
        local_port: u16,
        remote: SocketAddrV4,
        total: u64,
    ) {
        let s = BulkSender::connect(&mut self.stack, now, local_port, remote, total);
        self.app = App::Sender(s);
        self.run(now);
    }

    /// Starts accepting one connection on `port` and reading `expected` bytes.
    pub fn start_receiver(&mut self, now: Instant, port: u16, expected: u64) {
        let r = BulkReceiver::listen(&mut self.stack, port, expected);
        self.app = App::Receiver(r);
        self.run(now);
    }

    pub fn receiver(&self) -> Option<&BulkReceiver<S>> {
        match &self.app {
            App::Receiver(r) => Some(r),
            _ => None,
        }
    }

    pub fn sender(&self) -> Option<&BulkSender<S>> {
        match &self.app {
            App::Sender(s) => Some(s),
            _ => None,
        }
    }

    fn app_step(&mut self, now: Instant) -> u64 {
        match &mut self.app {
            App::Idle => 0,
            App::Sender(s) => s.step(&mut self.stack),
            App::Receiver(r) => r.step(&mut self.stack, now),
        }
    }

    /// Application and stack until neither has more to do at `now`.
    fn run(&mut self, now: Instant) {
        // Each round either moves application bytes or ends; the bound only
        // guards against a stack that keeps accepting zero-progress polls.
        for _ in 0..64 {
            self.app_step(now);
            self.stack.poll(now, &mut self.rx, &mut self.tx);
            if self.app_step(now) == 0 {
                break;
            }
        }
        self.next_timeout = self.stack.poll_at(now);
    }
}

impl<S: BenchStack> Node for HostNode<S> {
    fn handle_frame(&mut self, now: Instant, _port: PortId, frame: &[u8]) {
        self.rx.push(frame);
        self.run(now);
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<(PortId, usize)> {
        let (frame, len) = self.tx.take()?;
        let n = len.min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        self.tx.recycle(frame);
        Some((PortId(0), n))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.run(now);
    }
}
