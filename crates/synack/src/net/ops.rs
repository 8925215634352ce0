//! Socket operations on the locked [`Core`], shared by the blocking and
//! the async front ends. Each runs one stack command, sends what it
//! produced, and says `None` when it would have to wait.

use std::io;
use std::net::{Ipv4Addr, Shutdown as StdShutdown, SocketAddr, SocketAddrV4};
use std::time::Duration;

use synack_proto::Duration as StackDuration;
use synack_proto::ip::options::SendOptions;
use synack_proto::stack::{ConnHandle, ConnectOptions, ListenerHandle};
use synack_proto::tcp::conn::{
    Connection, RecvError, RecvFlags, SendError, SendFlags, SetOptionError, Shutdown, SocketOption,
};
use synack_proto::tcp::md5::Md5Key;
use synack_proto::tcp::state::TcpState;

use super::Keepalive;
use super::error::*;
use crate::runtime::Core;
use crate::runtime::registry::{ConnEntry, ListenerEntry};

pub(crate) fn stack_duration(d: Duration) -> StackDuration {
    StackDuration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

pub(crate) fn try_read(
    core: &mut Core,
    c: ConnHandle,
    buf: &mut [u8],
) -> Option<io::Result<usize>> {
    try_read_with(core, c, buf, RecvFlags::default())
}

/// [`try_read`] with MSG_PEEK or MSG_OOB.
pub(crate) fn try_read_with(
    core: &mut Core,
    c: ConnHandle,
    buf: &mut [u8],
    flags: RecvFlags,
) -> Option<io::Result<usize>> {
    let now = core.clock.now();
    let r = core.stack.tcp_recv_with(now, c, buf, flags);
    core.flush();
    match r {
        Ok(n) => Some(Ok(n)),
        Err(RecvError::WouldBlock) => None,
        Err(e) => Some(Err(recv_error(e))),
    }
}

pub(crate) fn try_write(core: &mut Core, c: ConnHandle, data: &[u8]) -> Option<io::Result<usize>> {
    try_write_with(core, c, data, SendFlags::default())
}

/// [`try_write`] with MSG_OOB (or another send flag).
pub(crate) fn try_write_with(
    core: &mut Core,
    c: ConnHandle,
    data: &[u8],
    flags: SendFlags,
) -> Option<io::Result<usize>> {
    let now = core.clock.now();
    let r = core.stack.tcp_send_with(now, c, data, flags);
    core.flush();
    match r {
        Ok(n) => Some(Ok(n)),
        Err(SendError::WouldBlock) => None,
        Err(e) => Some(Err(send_error(e))),
    }
}

/// `recv(MSG_OOB)`: the urgent byte, never waiting (Linux `tcp_recv_urg`):
/// `WouldBlock` until it arrives, `InvalidInput` (EINVAL) without one.
pub(crate) fn recv_out_of_band(
    core: &mut Core,
    c: ConnHandle,
    buf: &mut [u8],
) -> io::Result<usize> {
    let oob = RecvFlags {
        oob: true,
        ..RecvFlags::default()
    };
    try_read_with(core, c, buf, oob).unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
}

/// The stack's connection behind `c`, for the getters that read it.
pub(crate) fn connection(core: &Core, c: ConnHandle) -> io::Result<&Connection> {
    core.stack.tcp_connection(c).ok_or_else(not_connected)
}

/// SO_OOBINLINE as set.
pub(crate) fn oob_inline(core: &Core, c: ConnHandle) -> io::Result<bool> {
    Ok(connection(core, c)?.socket_options().oob_inline)
}

/// TCP_QUICKACK as read back: not in ping-pong mode.
pub(crate) fn quick_ack(core: &Core, c: ConnHandle) -> io::Result<bool> {
    Ok(connection(core, c)?.quick_ack())
}

/// TCP_LINGER2.
pub(crate) fn set_linger2(
    core: &mut Core,
    c: ConnHandle,
    linger2: super::Linger2,
) -> io::Result<()> {
    set_option(core, c, SocketOption::Linger2(linger2.to_stack()))
}

/// TCP_LINGER2 as set (a zero timeout reads as the default, a longer one
/// than 120 s as 120 s, as Linux keeps them).
pub(crate) fn linger2(core: &Core, c: ConnHandle) -> io::Result<super::Linger2> {
    let linger2 = connection(core, c)?.socket_options().linger2;
    Ok(super::Linger2::from_stack(linger2))
}

/// SIOCATMARK.
pub(crate) fn at_mark(core: &Core, c: ConnHandle) -> io::Result<bool> {
    core.stack.tcp_at_mark(c).ok_or_else(not_connected)
}

/// Whether an urgent byte waits for `recv(MSG_OOB)` (POLLPRI).
pub(crate) fn urgent_ready(core: &Core, c: ConnHandle) -> bool {
    core.stack.tcp_urgent_ready(c)
}

pub(crate) fn shutdown(core: &mut Core, c: ConnHandle, how: StdShutdown) -> io::Result<()> {
    let now = core.clock.now();
    let how = match how {
        StdShutdown::Read => Shutdown::Read,
        StdShutdown::Write => Shutdown::Write,
        StdShutdown::Both => Shutdown::Both,
    };
    let r = core.stack.tcp_shutdown(now, c, how);
    core.flush();
    // Readers blocked on a read side that just ended must see it.
    if let Some(e) = core.registry.conns.get_mut(&c) {
        e.read.cond.notify_all();
        if let Some(w) = e.read.waker.take() {
            w.wake();
        }
    }
    r.map_err(shutdown_error)
}

pub(crate) fn set_option(core: &mut Core, c: ConnHandle, option: SocketOption) -> io::Result<()> {
    let now = core.clock.now();
    let r = core.stack.tcp_set_option(now, c, option);
    core.flush();
    r.map_err(option_error)
}

/// IP options as an application gives them (IP_OPTIONS), checked: refused
/// with the reason.
pub(crate) fn ip_options_of(options: &[u8]) -> io::Result<SendOptions> {
    SendOptions::new(options)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("IP options: {e}")))
}

/// IP_OPTIONS on a connection, for both front ends (empty: none).
pub(crate) fn set_ip_options(core: &mut Core, c: ConnHandle, options: &[u8]) -> io::Result<()> {
    ip_options_of(options)?;
    let now = core.clock.now();
    let r = core.stack.tcp_set_ip_options(now, c, options);
    core.flush();
    r.map_err(option_error)
}

/// A connection's IP options as they were set (or, on an accepted
/// connection, those it answers its peer with); empty: none.
pub(crate) fn ip_options(core: &Core, c: ConnHandle) -> Vec<u8> {
    let mut out = [0; synack_proto::ip::options::MAX_LEN];
    let n = core
        .stack
        .tcp_ip_options(c)
        .map_or(0, |o| o.as_set(&mut out));
    out[..n].to_vec()
}

/// A TTL as std and tokio take it (a `u32`, 1 to 255).
fn ttl_value(ttl: u32) -> io::Result<u8> {
    u8::try_from(ttl)
        .ok()
        .filter(|&t| t > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a TTL is 1 to 255"))
}

/// IP_TTL on a connection.
pub(crate) fn set_ttl(core: &mut Core, c: ConnHandle, ttl: u32) -> io::Result<()> {
    core.stack
        .tcp_set_ttl(c, ttl_value(ttl)?)
        .map_err(option_error)
}

/// IP_TTL on a listener: its SYN-cookie SYN-ACKs' and, inherited, the
/// connections' it accepts from now on.
pub(crate) fn set_listener_ttl(core: &mut Core, l: ListenerHandle, ttl: u32) -> io::Result<()> {
    core.stack
        .tcp_listener_set_ttl(l, ttl_value(ttl)?)
        .map_err(option_error)
}

/// A listener's IP_TTL.
pub(crate) fn listener_ttl(core: &Core, l: ListenerHandle) -> io::Result<u32> {
    core.stack
        .tcp_listener_ttl(l)
        .map(u32::from)
        .ok_or_else(not_connected)
}

/// IP_TTL.
pub(crate) fn ttl(core: &Core, c: ConnHandle) -> io::Result<u32> {
    core.stack
        .tcp_ttl(c)
        .map(u32::from)
        .ok_or_else(not_connected)
}

/// A TOS byte as socket2 and tokio take it (a `u32`, at most 255).
pub(crate) fn tos_value(tos: u32) -> io::Result<u8> {
    u8::try_from(tos)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a TOS byte is 0 to 255"))
}

/// IP_TOS on a connection: its DSCP bits (TCP keeps the ECN field).
pub(crate) fn set_tos(core: &mut Core, c: ConnHandle, tos: u32) -> io::Result<()> {
    core.stack
        .tcp_set_tos(c, tos_value(tos)?)
        .map_err(option_error)
}

/// IP_TOS.
pub(crate) fn tos(core: &Core, c: ConnHandle) -> io::Result<u32> {
    core.stack
        .tcp_tos(c)
        .map(u32::from)
        .ok_or_else(not_connected)
}

/// IP_TOS on a listener: its SYN-cookie SYN-ACKs' and, inherited, the
/// connections' it accepts from now on.
pub(crate) fn set_listener_tos(core: &mut Core, l: ListenerHandle, tos: u32) -> io::Result<()> {
    core.stack
        .tcp_listener_set_tos(l, tos_value(tos)?)
        .map_err(option_error)
}

/// TCP_NOTSENT_LOWAT on a listener: the connections' it accepts from now
/// on.
pub(crate) fn set_listener_notsent_lowat(
    core: &mut Core,
    l: ListenerHandle,
    bytes: u32,
) -> io::Result<()> {
    core.stack
        .tcp_listener_set_notsent_lowat(l, bytes)
        .map_err(option_error)
}

/// TCP_WINDOW_CLAMP on a listener: the connections' it accepts from now
/// on, their SYN-ACKs' window scale included.
pub(crate) fn set_listener_window_clamp(
    core: &mut Core,
    l: ListenerHandle,
    bytes: u32,
) -> io::Result<()> {
    core.stack
        .tcp_listener_set_window_clamp(l, bytes)
        .map_err(option_error)
}

/// TCP_MD5SIG on a listener (RFC 2385): the key for peers in
/// `peer`/`prefix_len` (`None`: delete it).
pub(crate) fn set_listener_md5_key(
    core: &mut Core,
    l: ListenerHandle,
    peer: Ipv4Addr,
    prefix_len: u8,
    key: Option<&[u8]>,
) -> io::Result<()> {
    core.stack
        .tcp_listener_set_md5_key(l, peer, prefix_len, key)
        .map_err(|e| match e {
            SetOptionError::InvalidValue if key.is_none() => io::Error::new(
                io::ErrorKind::NotFound,
                "no MD5 key for that peer and prefix",
            ),
            SetOptionError::InvalidValue => io::Error::new(
                io::ErrorKind::InvalidInput,
                "an MD5 key is 1 to 80 bytes, its prefix at most 32 bits",
            ),
            e => option_error(e),
        })
}

/// A listener's TCP_WINDOW_CLAMP (0: unset).
pub(crate) fn listener_window_clamp(core: &Core, l: ListenerHandle) -> io::Result<u32> {
    core.stack
        .tcp_listener_window_clamp(l)
        .ok_or_else(not_connected)
}

/// A listener's TCP_NOTSENT_LOWAT (0: unset).
pub(crate) fn listener_notsent_lowat(core: &Core, l: ListenerHandle) -> io::Result<u32> {
    core.stack
        .tcp_listener_notsent_lowat(l)
        .ok_or_else(not_connected)
}

/// A listener's IP_TOS.
pub(crate) fn listener_tos(core: &Core, l: ListenerHandle) -> io::Result<u32> {
    core.stack
        .tcp_listener_tos(l)
        .map(u32::from)
        .ok_or_else(not_connected)
}

/// Starts a connect whose segments carry IP options.
pub(crate) fn start_connect_with_ip_options(
    core: &mut Core,
    remote: SocketAddrV4,
    options: &[u8],
) -> io::Result<ConnHandle> {
    let opts = ConnectOptions {
        ip_options: Some(Box::new(ip_options_of(options)?)),
        ..ConnectOptions::default()
    };
    start_connect_with(core, remote, opts, None).map(|(c, _)| c)
}

pub(crate) fn set_keepalive(
    core: &mut Core,
    c: ConnHandle,
    ka: Option<Keepalive>,
) -> io::Result<()> {
    match ka {
        Some(k) => {
            set_option(core, c, SocketOption::KeepIdle(stack_duration(k.idle)))?;
            set_option(
                core,
                c,
                SocketOption::KeepInterval(stack_duration(k.interval)),
            )?;
            set_option(core, c, SocketOption::KeepCount(k.count))?;
            set_option(core, c, SocketOption::KeepAlive(true))?;
        }
        None => set_option(core, c, SocketOption::KeepAlive(false))?,
    }
    if let Some(e) = core.registry.conns.get_mut(&c) {
        e.mirror.keepalive = ka;
    }
    Ok(())
}

pub(crate) fn set_nodelay(core: &mut Core, c: ConnHandle, on: bool) -> io::Result<()> {
    set_option(core, c, SocketOption::NoDelay(on))?;
    if let Some(e) = core.registry.conns.get_mut(&c) {
        e.mirror.nodelay = on;
    }
    Ok(())
}

pub(crate) fn set_linger(
    core: &mut Core,
    c: ConnHandle,
    linger: Option<Duration>,
) -> io::Result<()> {
    set_option(core, c, SocketOption::Linger(linger.map(stack_duration)))?;
    if let Some(e) = core.registry.conns.get_mut(&c) {
        e.mirror.linger = linger;
    }
    Ok(())
}

pub(crate) fn addrs(core: &Core, c: ConnHandle) -> io::Result<(SocketAddrV4, SocketAddrV4)> {
    core.stack.tcp_addrs(c).ok_or_else(not_connected)
}

/// Starts a connect whose segments are signed with `key` (TCP_MD5SIG,
/// RFC 2385).
pub(crate) fn start_connect_with_md5_key(
    core: &mut Core,
    remote: SocketAddrV4,
    key: &[u8],
) -> io::Result<ConnHandle> {
    let key = Md5Key::new(key).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "an MD5 key is 1 to 80 bytes")
    })?;
    let opts = ConnectOptions {
        md5_key: Some(Box::new(key)),
        ..ConnectOptions::default()
    };
    start_connect_with(core, remote, opts, None).map(|(c, _)| c)
}

/// Opens a connection and registers it; the caller waits for [`connected`].
pub(crate) fn start_connect(core: &mut Core, remote: SocketAddrV4) -> io::Result<ConnHandle> {
    start_connect_with(core, remote, ConnectOptions::default(), None).map(|(c, _)| c)
}

/// [`start_connect`] with options and, for Fast Open (`sendto` with
/// `MSG_FASTOPEN`), data for the SYN; returns how much data was queued.
pub(crate) fn start_connect_with(
    core: &mut Core,
    remote: SocketAddrV4,
    opts: ConnectOptions,
    data: Option<&[u8]>,
) -> io::Result<(ConnHandle, usize)> {
    let now = core.clock.now();
    let r = match data {
        Some(data) => core.stack.tcp_connect_with_data(now, remote, opts, data),
        None => core.stack.tcp_connect(now, remote, opts).map(|c| (c, 0)),
    };
    let (c, queued) = r.map_err(connect_error)?;
    core.registry.conns.insert(
        c,
        ConnEntry {
            refs: 1,
            ..ConnEntry::default()
        },
    );
    core.flush();
    Ok((c, queued))
}

/// Whether an active open finished: `None` while the handshake runs.
pub(crate) fn connected(core: &Core, c: ConnHandle) -> Option<io::Result<()>> {
    if let Some(reason) = core.registry.conns.get(&c).and_then(|e| e.closed) {
        return Some(Err(close_error(reason).unwrap_or_else(not_connected)));
    }
    match core.stack.tcp_state(c) {
        TcpState::SynSent | TcpState::SynReceived => None,
        // The `Closed` event comes with the state change; without one the
        // connection was never opened.
        TcpState::Closed => Some(Err(not_connected())),
        _ => Some(Ok(())),
    }
}

/// Accepts a queued connection, registers it and gives it the listener's
/// per-connection options.
pub(crate) fn try_accept(core: &mut Core, l: ListenerHandle) -> Option<io::Result<ConnHandle>> {
    let r = core.stack.tcp_accept(l);
    let c = match r {
        Ok(c) => c,
        Err(synack_proto::stack::AcceptError::WouldBlock) => return None,
        Err(e) => return Some(Err(accept_error(e))),
    };
    core.registry.conns.insert(
        c,
        ConnEntry {
            refs: 1,
            ..ConnEntry::default()
        },
    );
    let (keepalive, nodelay) = core
        .registry
        .listeners
        .get(&l)
        .map_or((None, false), |e| (e.keepalive, e.nodelay));
    if let Some(ka) = keepalive
        && let Err(e) = set_keepalive(core, c, Some(ka))
    {
        return Some(Err(e));
    }
    if nodelay && let Err(e) = set_nodelay(core, c, true) {
        return Some(Err(e));
    }
    core.flush();
    Some(Ok(c))
}

pub(crate) fn register_listener(core: &mut Core, l: ListenerHandle, entry: ListenerEntry) {
    core.registry.listeners.insert(l, entry);
}

/// Drops one reference to a listener; the last closes it.
pub(crate) fn release_listener(core: &mut Core, l: ListenerHandle) {
    let Some(e) = core.registry.listeners.get_mut(&l) else {
        return;
    };
    e.refs = e.refs.saturating_sub(1);
    if e.refs > 0 {
        return;
    }
    core.registry.listeners.remove(&l);
    let now = core.clock.now();
    core.stack.tcp_close_listener(now, l);
    core.flush();
}

/// Drops one reference to a connection; the last closes it (`close(2)`:
/// FIN after the queued data, or RST with unread data or linger 0).
/// Returns whether it was the last.
pub(crate) fn release_conn(core: &mut Core, c: ConnHandle) -> bool {
    let Some(e) = core.registry.conns.get_mut(&c) else {
        return false;
    };
    e.refs = e.refs.saturating_sub(1);
    if e.refs > 0 {
        return false;
    }
    core.registry.conns.remove(&c);
    let now = core.clock.now();
    core.stack.tcp_close(now, c);
    core.flush();
    true
}

/// Whether everything we sent, FIN included, is acknowledged (or the
/// connection is gone): what a lingering close waits for.
pub(crate) fn send_side_done(core: &Core, c: ConnHandle) -> bool {
    matches!(
        core.stack.tcp_state(c),
        TcpState::FinWait2 | TcpState::TimeWait | TcpState::Closed
    )
}

pub(crate) fn v4(addr: SocketAddrV4) -> SocketAddr {
    SocketAddr::V4(addr)
}

/// The socket calls both front ends' `TcpStream`s make alike, each one
/// stack command under the lock (`with_core`): urgent data's reads and
/// SO_OOBINLINE, SIOCATMARK, TCP_QUICKACK and TCP_LINGER2. Expanded inside
/// each `impl TcpStream`.
macro_rules! stream_options {
    () => {
        /// Reads the urgent byte the peer marked (`recv(MSG_OOB)`), never
        /// waiting: `WouldBlock` until it arrived, `InvalidInput` when
        /// there is none to read (none marked, already read or passed, or
        /// SO_OOBINLINE).
        pub fn recv_out_of_band(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.with_core(|core, c| crate::net::ops::recv_out_of_band(core, c, buf))
        }

        /// Whether an urgent byte waits for `recv_out_of_band` (what `poll`
        /// reports as POLLPRI).
        pub fn has_out_of_band(&self) -> std::io::Result<bool> {
            self.with_core(|core, c| Ok(crate::net::ops::urgent_ready(core, c)))
        }

        /// SIOCATMARK: whether the next byte a read returns is the urgent
        /// mark (reads stop before it).
        pub fn at_mark(&self) -> std::io::Result<bool> {
            self.with_core(|core, c| crate::net::ops::at_mark(core, c))
        }

        /// SO_OOBINLINE: the urgent byte stays in the stream.
        pub fn set_out_of_band_inline(&self, inline: bool) -> std::io::Result<()> {
            use synack_proto::tcp::conn::SocketOption;
            self.with_core(|core, c| {
                crate::net::ops::set_option(core, c, SocketOption::OobInline(inline))
            })
        }

        pub fn out_of_band_inline(&self) -> std::io::Result<bool> {
            self.with_core(|core, c| crate::net::ops::oob_inline(core, c))
        }

        /// TCP_QUICKACK: `true` sends ACKs at once for now (and an owed one
        /// if everything was read), `false` delays them to ride on replies;
        /// the delayed-ACK rules move on from there, as on Linux.
        pub fn set_quickack(&self, quickack: bool) -> std::io::Result<()> {
            use synack_proto::tcp::conn::SocketOption;
            self.with_core(|core, c| {
                crate::net::ops::set_option(core, c, SocketOption::QuickAck(quickack))
            })
        }

        pub fn quickack(&self) -> std::io::Result<bool> {
            self.with_core(|core, c| crate::net::ops::quick_ack(core, c))
        }

        /// TCP_LINGER2: how long the connection, once closed, waits in
        /// FIN-WAIT-2 for the peer's FIN.
        pub fn set_linger2(&self, linger2: crate::net::Linger2) -> std::io::Result<()> {
            self.with_core(|core, c| crate::net::ops::set_linger2(core, c, linger2))
        }

        pub fn linger2(&self) -> std::io::Result<crate::net::Linger2> {
            self.with_core(|core, c| crate::net::ops::linger2(core, c))
        }

        /// IP_TOS, as socket2 and tokio name it: the DSCP (RFC 2474) of
        /// the connection's segments from now on, in the upper six bits of
        /// the byte (0 to 255; 0 until set, or the listener's). The two
        /// ECN bits are TCP's own, chosen segment by segment (RFC 3168),
        /// so they are ignored, as Linux ignores them on a TCP socket.
        pub fn set_tos(&self, tos: u32) -> std::io::Result<()> {
            self.with_core(|core, c| crate::net::ops::set_tos(core, c, tos))
        }

        /// IP_TOS: the DSCP bits set.
        pub fn tos(&self) -> std::io::Result<u32> {
            self.with_core(|core, c| crate::net::ops::tos(core, c))
        }

        /// TCP_NOTSENT_LOWAT: at most `bytes` wait unsent (bytes in
        /// flight aside) before a write waits (or, nonblocking, fails with
        /// `WouldBlock`), and a writer goes on once fewer than half of them
        /// do; 0: the stack's `tcp_notsent_lowat` sysctl (no mark unless
        /// set).
        pub fn set_notsent_lowat(&self, bytes: u32) -> std::io::Result<()> {
            use synack_proto::tcp::conn::SocketOption;
            self.with_core(|core, c| {
                crate::net::ops::set_option(core, c, SocketOption::NotSentLowat(bytes))
            })
        }

        /// TCP_NOTSENT_LOWAT as set (0: unset).
        pub fn notsent_lowat(&self) -> std::io::Result<u32> {
            self.with_core(|core, c| Ok(crate::net::ops::connection(core, c)?.notsent_lowat()))
        }

        /// TCP_WINDOW_CLAMP: the receive window never offers more than
        /// `bytes` (at least 1,152); the window already offered is not
        /// taken back. 0 is refused on a connection (`InvalidInput`).
        pub fn set_window_clamp(&self, bytes: u32) -> std::io::Result<()> {
            use synack_proto::tcp::conn::SocketOption;
            self.with_core(|core, c| {
                crate::net::ops::set_option(core, c, SocketOption::WindowClamp(bytes))
            })
        }

        /// TCP_WINDOW_CLAMP: as set, or the most the window may offer now.
        pub fn window_clamp(&self) -> std::io::Result<u32> {
            self.with_core(|core, c| Ok(crate::net::ops::connection(core, c)?.window_clamp()))
        }

        /// Whether the connection signs its segments with a TCP MD5 key
        /// (RFC 2385): the key it connected with, or its listener's for
        /// the peer.
        pub fn md5_signed(&self) -> std::io::Result<bool> {
            self.with_core(|core, c| Ok(crate::net::ops::connection(core, c)?.signs_md5()))
        }
    };
}
pub(crate) use stream_options;

/// The socket options both front ends' listeners have, from one source:
/// expanded in each `impl TcpListener` (a `rt: Runtime` and an `l:
/// ListenerHandle`), so the two read the same calls and documentation.
macro_rules! listener_options {
    () => {
        /// IP_TTL, as std names it: the TTL of the connections this
        /// listener accepts from now on, their SYN-ACKs included (1 to
        /// 255; each connection's own `set_ttl` overrides it; the stack's
        /// default, 64, until set).
        pub fn set_ttl(&self, ttl: u32) -> std::io::Result<()> {
            let mut core = self.rt.shared.lock()?;
            crate::net::ops::set_listener_ttl(&mut core, self.l, ttl)
        }

        /// IP_TTL.
        pub fn ttl(&self) -> std::io::Result<u32> {
            let core = self.rt.shared.lock()?;
            crate::net::ops::listener_ttl(&core, self.l)
        }

        /// IP_TOS: the DSCP of the connections this listener accepts from
        /// now on, their SYN-ACKs included (0 to 255; the ECN bits are
        /// TCP's and ignored; each connection's own `set_tos` overrides it).
        pub fn set_tos(&self, tos: u32) -> std::io::Result<()> {
            let mut core = self.rt.shared.lock()?;
            crate::net::ops::set_listener_tos(&mut core, self.l, tos)
        }

        /// IP_TOS.
        pub fn tos(&self) -> std::io::Result<u32> {
            let core = self.rt.shared.lock()?;
            crate::net::ops::listener_tos(&core, self.l)
        }

        /// TCP_NOTSENT_LOWAT: the mark of unsent bytes every connection
        /// this listener accepts from now on starts with (0: the stack's
        /// `tcp_notsent_lowat`), as Linux's children inherit it.
        pub fn set_notsent_lowat(&self, bytes: u32) -> std::io::Result<()> {
            let mut core = self.rt.shared.lock()?;
            crate::net::ops::set_listener_notsent_lowat(&mut core, self.l, bytes)
        }

        /// TCP_NOTSENT_LOWAT as set (0: unset).
        pub fn notsent_lowat(&self) -> std::io::Result<u32> {
            let core = self.rt.shared.lock()?;
            crate::net::ops::listener_notsent_lowat(&core, self.l)
        }

        /// TCP_WINDOW_CLAMP: the most the receive window of every
        /// connection this listener accepts from now on offers (at least
        /// 1,152; 0: none), their SYN-ACKs' window scale included.
        pub fn set_window_clamp(&self, bytes: u32) -> std::io::Result<()> {
            let mut core = self.rt.shared.lock()?;
            crate::net::ops::set_listener_window_clamp(&mut core, self.l, bytes)
        }

        /// TCP_WINDOW_CLAMP as set (0: unset).
        pub fn window_clamp(&self) -> std::io::Result<u32> {
            let core = self.rt.shared.lock()?;
            crate::net::ops::listener_window_clamp(&core, self.l)
        }

        /// TCP_MD5SIG (TCP_MD5SIG_EXT with a prefix): connections from
        /// peers in `peer`/`prefix_len` must sign every segment with `key`
        /// (RFC 2385, 1 to 80 bytes), and the connections accepted from
        /// them sign theirs; a segment from such a peer without the right
        /// signature is dropped unanswered. The longest prefix holding a
        /// peer gives its key; peers under no key connect unsigned. `None`
        /// deletes the key of exactly that prefix (`NotFound` if there is
        /// none).
        pub fn set_md5_key(
            &self,
            peer: std::net::Ipv4Addr,
            prefix_len: u8,
            key: Option<&[u8]>,
        ) -> std::io::Result<()> {
            let mut core = self.rt.shared.lock()?;
            crate::net::ops::set_listener_md5_key(&mut core, self.l, peer, prefix_len, key)
        }
    };
}
pub(crate) use listener_options;
