//! The blocking [`TcpListener`], mirroring `std::net::TcpListener`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use synack_proto::stack::ListenerHandle;
use synack_proto::tcp::conn::{SocketOptions, defer_accept_retransmits};
pub use synack_proto::tcp::reuseport::ReuseportContext;
use synack_proto::tcp::reuseport::ReuseportSelect;

use super::error::*;
use super::{Keepalive, TcpStream, ops};
use crate::runtime::registry::ListenerEntry;
use crate::runtime::{Core, Runtime};

/// The listen(2) backlog `TcpListener::bind` uses, as std does on Linux.
pub const DEFAULT_BACKLOG: usize = 128;

/// How to listen: backlog, address reuse, and options every accepted
/// connection starts with. `ListenOptions::new().bind(&rt, addr)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenOptions {
    /// listen(2)'s backlog: the accept queue's length (capped by `somaxconn`).
    pub backlog: usize,
    /// SO_REUSEADDR (on, as std sets it): bind even while connections of an
    /// earlier listener on this port linger (TIME-WAIT). Off: such a port
    /// is `AddrInUse`, as on Linux.
    pub reuse_addr: bool,
    /// SO_REUSEPORT (off): share the address and port with other listeners
    /// that set it; the stack hands each new connection to one of them by
    /// a hash of its addresses (Linux's reuseport groups).
    pub reuse_port: bool,
    /// Keepalive for every accepted connection.
    pub keepalive: Option<Keepalive>,
    /// TCP_NODELAY for every accepted connection.
    pub nodelay: bool,
    /// TCP_FASTOPEN: accept data in SYNs (RFC 7413), at most this many Fast
    /// Open connections not yet established. Needs `tcp_fastopen` & 0x2 in
    /// the stack's configuration.
    pub fastopen: Option<usize>,
    /// TCP_DEFER_ACCEPT: a connection is accepted once its first data
    /// arrives, or after this long (rounded up to SYN-ACK retransmissions
    /// as Linux does), not at its handshake's bare ACK.
    pub defer_accept: Option<Duration>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: DEFAULT_BACKLOG,
            reuse_addr: true,
            reuse_port: false,
            keepalive: None,
            nodelay: false,
            fastopen: None,
            defer_accept: None,
        }
    }
}

impl ListenOptions {
    pub fn new() -> ListenOptions {
        ListenOptions::default()
    }

    pub fn backlog(mut self, backlog: usize) -> ListenOptions {
        self.backlog = backlog;
        self
    }

    pub fn reuse_addr(mut self, on: bool) -> ListenOptions {
        self.reuse_addr = on;
        self
    }

    pub fn reuse_port(mut self, on: bool) -> ListenOptions {
        self.reuse_port = on;
        self
    }

    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> ListenOptions {
        self.keepalive = keepalive;
        self
    }

    pub fn nodelay(mut self, on: bool) -> ListenOptions {
        self.nodelay = on;
        self
    }

    pub fn fastopen(mut self, qlen: Option<usize>) -> ListenOptions {
        self.fastopen = qlen;
        self
    }

    pub fn defer_accept(mut self, wait: Option<Duration>) -> ListenOptions {
        self.defer_accept = wait;
        self
    }

    /// Listens on `addr` (0.0.0.0 or the stack's address; port 0 picks a
    /// free port).
    pub fn bind(self, rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addr = first_v4(addr)?;
        let mut core = rt.shared.lock()?;
        let l = listen(&mut core, addr, &self)?;
        let local = core
            .stack
            .sockets()
            .find(|s| s.id == synack_proto::stack::SocketId::Listener(l))
            .map_or(addr, |s| s.local);
        ops::register_listener(
            &mut core,
            l,
            ListenerEntry {
                keepalive: self.keepalive,
                nodelay: self.nodelay,
                refs: 1,
                ..ListenerEntry::default()
            },
        );
        Ok(TcpListener {
            rt: rt.clone(),
            l,
            local,
        })
    }
}

pub(crate) fn first_v4(addr: impl ToSocketAddrs) -> io::Result<SocketAddrV4> {
    addr.to_socket_addrs()?
        .find_map(|a| match a {
            SocketAddr::V4(a) => Some(a),
            SocketAddr::V6(_) => None,
        })
        .ok_or_else(ipv4_only)
}

/// `tcp_listen_with`, with port 0 meaning "any free port", then the
/// options the listener's passive opens take (TCP_DEFER_ACCEPT).
pub(crate) fn listen(
    core: &mut Core,
    addr: SocketAddrV4,
    opts: &ListenOptions,
) -> io::Result<ListenerHandle> {
    let l = listen_on(core, addr, opts)?;
    if let Some(wait) = opts.defer_accept {
        let secs = u32::try_from(wait.as_secs()).unwrap_or(u32::MAX);
        let socket = SocketOptions {
            defer_accept: defer_accept_retransmits(secs),
            ..SocketOptions::default()
        };
        core.stack
            .tcp_listener_set_options(l, socket)
            .map_err(listen_error)?;
    }
    Ok(l)
}

fn listen_on(
    core: &mut Core,
    addr: SocketAddrV4,
    opts: &ListenOptions,
) -> io::Result<ListenerHandle> {
    let stack_opts = |_: ()| synack_proto::stack::ListenOptions {
        backlog: opts.backlog,
        reuse_addr: opts.reuse_addr,
        reuse_port: opts.reuse_port,
        fastopen_qlen: opts.fastopen.unwrap_or(0),
    };
    if addr.port() != 0 {
        return core
            .stack
            .tcp_listen_with(addr, stack_opts(()))
            .map_err(listen_error);
    }
    // Port 0: the first free port of the ephemeral range from a random start.
    let (lo, hi) = core.stack.config().ip_local_port_range;
    let span = u32::from(hi.saturating_sub(lo)) + 1;
    let start = (core.clock.now().total_micros() as u32).wrapping_mul(2_654_435_761) % span;
    for i in 0..span {
        let port = lo + ((start + i) % span) as u16;
        let local = SocketAddrV4::new(*addr.ip(), port);
        match core.stack.tcp_listen_with(local, stack_opts(())) {
            Ok(l) => return Ok(l),
            Err(synack_proto::stack::ListenError::AddrInUse) => continue,
            Err(e) => return Err(listen_error(e)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port in ip_local_port_range",
    ))
}

/// A listening socket of a synack [`Runtime`], used like
/// `std::net::TcpListener`.
#[derive(Debug)]
pub struct TcpListener {
    rt: Runtime,
    l: ListenerHandle,
    local: SocketAddrV4,
}

impl TcpListener {
    /// Listens on `addr` with [`ListenOptions::default`] (backlog 128,
    /// SO_REUSEADDR on, as std's `bind`).
    pub fn bind(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        ListenOptions::default().bind(rt, addr)
    }

    /// The next connection and its peer's address; waits for one unless
    /// nonblocking.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let shared = &self.rt.shared;
        let mut core = shared.lock()?;
        let nonblocking = core
            .registry
            .listeners
            .get(&self.l)
            .ok_or_else(not_connected)?
            .nonblocking;
        loop {
            if let Some(r) = ops::try_accept(&mut core, self.l) {
                let c = r?;
                let peer = ops::addrs(&core, c).map(|(_, r)| r);
                let stream = TcpStream::from_accepted(self.rt.clone(), c);
                drop(core);
                return Ok((stream, ops::v4(peer?)));
            }
            if nonblocking {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let cond = Arc::clone(
                &core
                    .registry
                    .listeners
                    .get(&self.l)
                    .ok_or_else(not_connected)?
                    .accept
                    .cond,
            );
            core = shared.wait(core, &cond, None::<Instant>)?.0;
        }
    }

    /// Accepted connections, forever (each item is `accept()`'s stream).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(ops::v4(self.local))
    }

    crate::net::ops::listener_options!();

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        if let Some(e) = core.registry.listeners.get_mut(&self.l) {
            e.nonblocking = nonblocking;
        }
        Ok(())
    }

    /// A second handle to the same listener (e.g. for an acceptor thread).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let mut core = self.rt.shared.lock()?;
        if let Some(e) = core.registry.listeners.get_mut(&self.l) {
            e.refs += 1;
        }
        Ok(TcpListener {
            rt: self.rt.clone(),
            l: self.l,
            local: self.local,
        })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Another reference to the listener, for a front end that wraps it.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn share(&self) -> io::Result<(Runtime, ListenerHandle)> {
        let mut core = self.rt.shared.lock()?;
        if let Some(e) = core.registry.listeners.get_mut(&self.l) {
            e.refs += 1;
        }
        Ok((self.rt.clone(), self.l))
    }

    /// SO_ATTACH_REUSEPORT_CBPF's place: `select` picks, for each new
    /// connection, the member of this listener's SO_REUSEPORT group that
    /// takes it, by its index in the order the members were bound (an
    /// index past the group, or `None`, leaves it to the hash). It belongs
    /// to the group (synack_proto's `tcp::reuseport`). InvalidInput for a
    /// listener bound without SO_REUSEPORT.
    pub fn attach_reuseport_select(
        &self,
        select: impl Fn(&ReuseportContext) -> Option<usize> + Send + Sync + 'static,
    ) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        core.stack
            .tcp_attach_reuseport_select(self.l, ReuseportSelect::new(select))
            .map_err(reuseport_error)
    }

    /// SO_DETACH_REUSEPORT_BPF: the group picks by the hash again. NotFound
    /// if it had no program.
    pub fn detach_reuseport_select(&self) -> io::Result<()> {
        let mut core = self.rt.shared.lock()?;
        core.stack
            .tcp_detach_reuseport_select(self.l)
            .map_err(reuseport_error)
    }

    /// Whether `addr` is the wildcard address.
    pub fn is_wildcard(&self) -> bool {
        *self.local.ip() == Ipv4Addr::UNSPECIFIED
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let mut core = self.rt.shared.lock_anyway();
        ops::release_listener(&mut core, self.l);
    }
}

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}
