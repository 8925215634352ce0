//! Who waits for what: one entry per socket the application holds, with the
//! condition variables blocking calls sleep on and the wakers async tasks
//! left, and the stack's events turned into wake-ups.
//!
//! Every entry lives under the runtime's one lock, like the stack, so a
//! socket call that finds nothing to do registers its wait before the lock
//! is released, and an event processed afterwards (under the same lock)
//! always finds it: no wake-up is lost.

use std::collections::HashMap;
use std::sync::{Arc, Condvar};
use std::task::Waker;
use std::time::Duration;

use synack_proto::ping::PingHandle;
use synack_proto::stack::{ConnHandle, Event, ListenerHandle};
use synack_proto::tcp::conn::CloseReason;
use synack_proto::udp::UdpHandle;

/// The wait state of one direction of a socket.
#[derive(Debug, Default)]
pub(crate) struct Wait {
    /// Blocking callers sleep here (with the runtime's lock).
    pub cond: Arc<Condvar>,
    /// An async task waiting for this direction.
    pub waker: Option<Waker>,
}

impl Wait {
    fn wake(&mut self) {
        self.cond.notify_all();
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Registers `waker`, replacing an older one of another task.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &self.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }
}

/// Socket options the stack has no getter for, mirrored when set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mirror {
    pub nodelay: bool,
    pub linger: Option<Duration>,
    pub keepalive: Option<crate::net::Keepalive>,
}

/// A connection the application holds.
#[derive(Debug, Default)]
pub(crate) struct ConnEntry {
    pub read: Wait,
    pub write: Wait,
    /// Set by the stack's `Closed` event.
    pub closed: Option<CloseReason>,
    pub read_timeout: Option<Duration>,
    pub write_timeout: Option<Duration>,
    pub nonblocking: bool,
    pub mirror: Mirror,
    /// Handles (clones) sharing the connection; closed when the last goes.
    pub refs: usize,
}

/// A listener the application holds.
#[derive(Debug, Default)]
pub(crate) struct ListenerEntry {
    pub accept: Wait,
    pub nonblocking: bool,
    /// Options every accepted connection starts with.
    pub keepalive: Option<crate::net::Keepalive>,
    pub nodelay: bool,
    pub refs: usize,
}

/// A datagram socket (UDP, or ping) the application holds.
#[derive(Debug, Default)]
pub(crate) struct UdpEntry {
    pub read: Wait,
    pub read_timeout: Option<Duration>,
    pub nonblocking: bool,
    pub refs: usize,
}

/// Every socket the application holds.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub conns: HashMap<ConnHandle, ConnEntry>,
    pub listeners: HashMap<ListenerHandle, ListenerEntry>,
    pub udps: HashMap<UdpHandle, UdpEntry>,
    pub pings: HashMap<PingHandle, UdpEntry>,
}

impl Registry {
    /// Wakes whoever waits for what `event` reports.
    pub(crate) fn dispatch(&mut self, event: Event) {
        match event {
            Event::Readable(c) | Event::PeerClosed(c) | Event::Urgent(c) => {
                if let Some(e) = self.conns.get_mut(&c) {
                    e.read.wake();
                }
            }
            Event::Writable(c) => {
                if let Some(e) = self.conns.get_mut(&c) {
                    e.write.wake();
                }
            }
            Event::Connected(c) | Event::StateChanged { conn: Some(c), .. } => self.wake_conn(c),
            Event::Closed { conn, reason } => {
                if let Some(e) = self.conns.get_mut(&conn) {
                    e.closed = Some(reason);
                }
                self.wake_conn(conn);
            }
            Event::AcceptReady(l) => {
                if let Some(e) = self.listeners.get_mut(&l) {
                    e.accept.wake();
                }
            }
            Event::UdpReadable(u) => {
                if let Some(e) = self.udps.get_mut(&u) {
                    e.read.wake();
                }
            }
            Event::PingReadable(p) => {
                if let Some(e) = self.pings.get_mut(&p) {
                    e.read.wake();
                }
            }
            // Other sockets' states and traced segments wake nobody.
            _ => {}
        }
    }

    fn wake_conn(&mut self, c: ConnHandle) {
        if let Some(e) = self.conns.get_mut(&c) {
            e.read.wake();
            e.write.wake();
        }
    }

    /// Wakes every waiter (the runtime is stopping).
    pub(crate) fn wake_all(&mut self) {
        for e in self.conns.values_mut() {
            e.read.wake();
            e.write.wake();
        }
        for e in self.listeners.values_mut() {
            e.accept.wake();
        }
        for e in self.udps.values_mut().chain(self.pings.values_mut()) {
            e.read.wake();
        }
    }
}
