//! The async [`PingSocket`].

use std::future::poll_fn;
use std::io;
use std::net::Ipv4Addr;
use std::task::{Context, Poll};

use synack_proto::ping::PingHandle;

use super::Runtime;
use crate::net::PingEvent;
use crate::net::ping::{
    bind, echo_request, open, release, send_with, set_tos, set_ttl, try_recv, try_recv_from,
};
use crate::runtime::Core;

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket is closed")
}

/// A ping socket of a synack [`Runtime`], async: the same socket as
/// [`crate::net::PingSocket`], its receives awaited. Sends never wait.
#[derive(Debug)]
pub struct PingSocket {
    rt: Runtime,
    h: PingHandle,
}

impl PingSocket {
    /// A new ping socket, unbound (a free identifier at the first send).
    pub fn open(rt: &Runtime) -> io::Result<PingSocket> {
        Ok(PingSocket {
            rt: rt.clone(),
            h: open(rt)?,
        })
    }

    /// A new ping socket bound to `addr` and echo identifier `ident` (0: a
    /// free one).
    pub fn bind(rt: &Runtime, addr: Ipv4Addr, ident: u16) -> io::Result<PingSocket> {
        Ok(PingSocket {
            rt: rt.clone(),
            h: bind(rt, addr, ident)?,
        })
    }

    fn with_core<T>(
        &self,
        f: impl FnOnce(&mut Core, PingHandle) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut core = self.rt.shared.lock()?;
        f(&mut core, self.h)
    }

    /// Sends an echo request with sequence number `seq` and `data` to
    /// `dst`.
    pub async fn send_echo(&self, dst: Ipv4Addr, seq: u16, data: &[u8]) -> io::Result<()> {
        self.send_to(&echo_request(seq, data), dst).await.map(drop)
    }

    /// Sends `message` (an echo request's ICMP header and data, as
    /// [`crate::net::PingSocket::send_to`]) to `dst`.
    pub async fn send_to(&self, message: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        self.with_core(|core, h| {
            let now = core.clock.now();
            send_with(core, |c| c.stack.ping_send_to(now, h, dst, message))
        })
    }

    /// The next reply, or (with IP_RECVERR) the next error report.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<PingEvent> {
        poll_fn(|cx| self.poll_recv_with(cx, |core, h| try_recv(core, h, buf))).await
    }

    /// The next reply (its ICMP header and data) and its source.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Ipv4Addr)> {
        poll_fn(|cx| self.poll_recv_with(cx, |core, h| try_recv_from(core, h, buf))).await
    }

    /// Ready with what `attempt` receives, or registered to wake when
    /// something comes.
    fn poll_recv_with<T>(
        &self,
        cx: &mut Context<'_>,
        attempt: impl FnOnce(&mut Core, PingHandle) -> Option<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut core = self.rt.shared.lock()?;
        if let Some(r) = attempt(&mut core, self.h) {
            return Poll::Ready(r);
        }
        match core.registry.pings.get_mut(&self.h) {
            Some(e) => e.read.register(cx.waker()),
            None => return Poll::Ready(Err(closed())),
        }
        Poll::Pending
    }

    /// IP_RECVERR, as [`crate::net::PingSocket::set_recv_error`].
    pub fn set_recv_error(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| {
            let set = core.stack.ping_set_recv_error(h, on);
            set.map_err(crate::net::error_of_ping)
        })
    }

    /// IP_TTL (1 to 255).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.with_core(|core, h| set_ttl(core, h, ttl))
    }

    /// IP_MULTICAST_TTL (0 to 255), as
    /// [`crate::net::PingSocket::set_multicast_ttl_v4`].
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.with_core(|core, h| crate::net::ping::set_multicast_ttl(core, h, ttl))
    }

    /// IP_TOS (0 to 255), as [`crate::net::PingSocket::set_tos`].
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        self.with_core(|core, h| set_tos(core, h, tos))
    }

    /// Makes `addr` the destination of [`PingSocket::send`].
    pub fn connect(&self, addr: Ipv4Addr) -> io::Result<()> {
        self.with_core(|core, h| {
            let connected = core.stack.ping_connect(h, addr);
            connected.map(drop).map_err(crate::net::error_of_ping)
        })
    }

    /// Sends `message` to the connected destination (never waits).
    pub async fn send(&self, message: &[u8]) -> io::Result<usize> {
        self.with_core(|core, h| {
            let now = core.clock.now();
            send_with(core, |c| c.stack.ping_send(now, h, message))
        })
    }

    /// SO_BROADCAST, as [`crate::net::PingSocket::set_broadcast`].
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| {
            let set = core.stack.ping_set_broadcast(h, on);
            set.map_err(crate::net::error_of_ping)
        })
    }

    /// IP_OPTIONS, as [`crate::net::PingSocket::set_ip_options`].
    pub fn set_ip_options(&self, options: &[u8]) -> io::Result<()> {
        self.with_core(|core, h| {
            let set = core.stack.ping_set_ip_options(h, options);
            set.map_err(crate::net::error_of_ping)
        })
    }

    /// IP_RECVOPTS, as [`crate::net::PingSocket::set_recv_ip_options`].
    pub fn set_recv_ip_options(&self, on: bool) -> io::Result<()> {
        self.with_core(|core, h| {
            let set = core.stack.ping_set_recv_ip_options(h, on);
            set.map_err(crate::net::error_of_ping)
        })
    }

    /// The bound address and echo identifier.
    pub fn local_addr(&self) -> io::Result<(Ipv4Addr, u16)> {
        self.with_core(|core, h| {
            let local = core
                .stack
                .ping_local(h)
                .map_err(crate::net::error_of_ping)?;
            local.ok_or_else(closed)
        })
    }
}

impl Drop for PingSocket {
    fn drop(&mut self) {
        let mut core = self.rt.shared.lock_anyway();
        release(&mut core, self.h);
    }
}
