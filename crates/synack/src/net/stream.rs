//! The blocking [`TcpStream`], mirroring `std::net::TcpStream`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use synack_proto::stack::{ConnHandle, ConnectOptions};
use synack_proto::tcp::conn::{FastOpenInfo, RecvFlags, SendFlags, SocketOption, TcpInfo};
use synack_proto::tcp::state::TcpState;

use super::error::*;
use super::{Keepalive, ops};
use crate::runtime::{Core, Runtime};

/// Which way a call waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

/// A TCP connection of a synack [`Runtime`], used like
/// `std::net::TcpStream`: `Read` and `Write` (also through `&TcpStream`),
/// `shutdown`, timeouts, `set_nodelay`, `set_linger`, keepalive, and
/// `try_clone` for a second handle (reading in one thread, writing in
/// another). Dropping the last handle closes the connection like
/// `close(2)`: a FIN after the queued data, or a RST if data was left
/// unread or linger is zero.
#[derive(Debug)]
pub struct TcpStream {
    rt: Runtime,
    c: ConnHandle,
}

/// A connect timeout's address and deadline: IPv4 only, and a zero
/// timeout is an error, as in std.
fn v4_deadline(addr: &SocketAddr, timeout: Duration) -> io::Result<(SocketAddrV4, Instant)> {
    if timeout.is_zero() {
        return Err(zero_timeout());
    }
    let SocketAddr::V4(addr) = *addr else {
        return Err(ipv4_only());
    };
    Ok((addr, Instant::now() + timeout))
}

impl TcpStream {
    /// Connects to `addr` (the first IPv4 address that accepts), waiting
    /// for the handshake as long as the stack retries its SYN
    /// (`tcp_syn_retries`: about 127 s by default).
    pub fn connect(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            let SocketAddr::V4(addr) = addr else {
                last = Some(ipv4_only());
                continue;
            };
            match TcpStream::connect_v4(rt, addr, None) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(ipv4_only))
    }

    /// Connects to `addr`, giving up (and resetting the attempt) after
    /// `timeout` with `TimedOut`. A zero timeout is an error, as in std.
    pub fn connect_timeout(
        rt: &Runtime,
        addr: &SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        let (addr, deadline) = v4_deadline(addr, timeout)?;
        TcpStream::connect_v4(rt, addr, Some(deadline))
    }

    fn connect_v4(
        rt: &Runtime,
        remote: SocketAddrV4,
        deadline: Option<Instant>,
    ) -> io::Result<TcpStream> {
        let c = ops::start_connect(&mut *rt.shared.lock()?, remote)?;
        // From here on, dropping `stream` cleans up.
        let stream = TcpStream { rt: rt.clone(), c };
        stream.wait_connected(deadline)?;
        Ok(stream)
    }

    /// Waits for the handshake; resets the attempt if `deadline` passes.
    fn wait_connected(&self, deadline: Option<Instant>) -> io::Result<()> {
        let shared = &self.rt.shared;
        let mut core = shared.lock()?;
        loop {
            if let Some(r) = ops::connected(&core, self.c) {
                return r;
            }
            let cond = wait_cond(&core, self.c, Dir::Write)?;
            let (next, expired) = shared.wait(core, &cond, deadline)?;
            core = next;
            if expired {
                let now = core.clock.now();
                core.stack.tcp_abort(now, self.c);
                core.flush();
                return Err(timed_out("connect"));
            }
        }
    }

    /// Connects with TCP Fast Open, like Linux's `sendto(MSG_FASTOPEN)` on
    /// a blocking socket: with a cookie for the server (from an earlier
    /// connection, or [`Runtime::fastopen_remember`]) the SYN carries the
    /// cookie and the first bytes of `data` (up to one MSS); without one,
    /// it asks for a cookie and `data` follows the handshake. Waits for the
    /// handshake; returns the stream and how many bytes of `data` were
    /// queued (the rest is the caller's to write).
    /// [`fastopen_info`](Self::fastopen_info) says what the SYN carried.
    pub fn connect_with_data(
        rt: &Runtime,
        addr: impl ToSocketAddrs,
        data: &[u8],
    ) -> io::Result<(TcpStream, usize)> {
        let remote = super::listener::first_v4(addr)?;
        let (c, queued) = ops::start_connect_with(
            &mut *rt.shared.lock()?,
            remote,
            ConnectOptions::default(),
            Some(data),
        )?;
        let stream = TcpStream { rt: rt.clone(), c };
        stream.wait_connected(None)?;
        Ok((stream, queued))
    }

    /// Connects with Linux's `TCP_FASTOPEN_CONNECT`: with a cookie for the
    /// server this returns at once and the SYN waits for the first `write`,
    /// which it carries with the cookie; without one it connects normally
    /// (asking for a cookie for next time).
    pub fn connect_fastopen(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let remote = super::listener::first_v4(addr)?;
        let (c, deferred) = {
            let mut core = rt.shared.lock()?;
            let cookie = core.stack.fastopen_cookie(*remote.ip()).is_some();
            let opts = ConnectOptions {
                fastopen_connect: true,
                ..ConnectOptions::default()
            };
            let (c, _) = ops::start_connect_with(&mut core, remote, opts, None)?;
            (c, cookie)
        };
        let stream = TcpStream { rt: rt.clone(), c };
        if !deferred {
            stream.wait_connected(None)?;
        }
        Ok(stream)
    }

    /// Connects to `addr` with IP options on every segment (IP_OPTIONS set
    /// before `connect(2)`; RFC 1122 §4.2.3.8): a source route (loose or
    /// strict, its hops in order, the peer left out, as Linux takes it)
    /// sends the SYN and everything after by its first hop; a record route
    /// or timestamp option gets this host's entry. Malformed options are
    /// refused with `InvalidInput`; a strict route whose first hop is not
    /// on the link with `NetworkUnreachable`.
    pub fn connect_with_ip_options(
        rt: &Runtime,
        addr: impl ToSocketAddrs,
        options: &[u8],
    ) -> io::Result<TcpStream> {
        let remote = super::listener::first_v4(addr)?;
        let c = ops::start_connect_with_ip_options(&mut *rt.shared.lock()?, remote, options)?;
        let stream = TcpStream { rt: rt.clone(), c };
        stream.wait_connected(None)?;
        Ok(stream)
    }

    /// Connects to `addr` with every segment signed with `key` (TCP_MD5SIG
    /// set before `connect(2)`; RFC 2385, 1 to 80 bytes), as BGP speakers
    /// do: every segment from the peer must carry the right signature, or
    /// it is dropped unanswered. The SYN offers no timestamps (Linux's
    /// choice beside the signature) and no Fast Open.
    pub fn connect_with_md5_key(
        rt: &Runtime,
        addr: impl ToSocketAddrs,
        key: &[u8],
    ) -> io::Result<TcpStream> {
        let remote = super::listener::first_v4(addr)?;
        TcpStream::connect_signed(rt, remote, key, None)
    }

    /// [`connect_with_md5_key`](Self::connect_with_md5_key), giving up
    /// after `timeout` as [`connect_timeout`](Self::connect_timeout) does.
    pub fn connect_timeout_with_md5_key(
        rt: &Runtime,
        addr: &SocketAddr,
        key: &[u8],
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        let (addr, deadline) = v4_deadline(addr, timeout)?;
        TcpStream::connect_signed(rt, addr, key, Some(deadline))
    }

    fn connect_signed(
        rt: &Runtime,
        remote: SocketAddrV4,
        key: &[u8],
        deadline: Option<Instant>,
    ) -> io::Result<TcpStream> {
        let c = ops::start_connect_with_md5_key(&mut *rt.shared.lock()?, remote, key)?;
        let stream = TcpStream { rt: rt.clone(), c };
        stream.wait_connected(deadline)?;
        Ok(stream)
    }

    /// What Fast Open did for this connection: whether the SYN carried a
    /// cookie request or data, whether the data was acknowledged, and
    /// (server side) the bytes taken from the peer's SYN.
    pub fn fastopen_info(&self) -> io::Result<FastOpenInfo> {
        self.with_core(|core, c| core.stack.tcp_fastopen_info(c).ok_or_else(not_connected))
    }

    pub(crate) fn from_accepted(rt: Runtime, c: ConnHandle) -> TcpStream {
        TcpStream { rt, c }
    }

    /// Runs `op` until it stops saying "wait", sleeping between tries as
    /// the direction's timeout and the nonblocking flag allow.
    fn wait_for<T>(
        &self,
        dir: Dir,
        mut op: impl FnMut(&mut Core) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        self.wait_for_or(dir, false, |core, _| op(core))
    }

    /// [`wait_for`](Self::wait_for); with `last_try`, `op` is asked once
    /// more when the timeout passes, told so (`true`): a read below
    /// SO_RCVLOWAT then takes what there is.
    fn wait_for_or<T>(
        &self,
        dir: Dir,
        last_try: bool,
        mut op: impl FnMut(&mut Core, bool) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        let shared = &self.rt.shared;
        let mut core = shared.lock()?;
        let entry = core.registry.conns.get(&self.c).ok_or_else(not_connected)?;
        let timeout = match dir {
            Dir::Read => entry.read_timeout,
            Dir::Write => entry.write_timeout,
        };
        let nonblocking = entry.nonblocking;
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(r) = op(&mut core, false) {
                return r;
            }
            if nonblocking {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let cond = wait_cond(&core, self.c, dir)?;
            let (next, timed_out) = shared.wait(core, &cond, deadline)?;
            core = next;
            if timed_out {
                if last_try && let Some(r) = op(&mut core, true) {
                    return r;
                }
                return Err(would_block(match dir {
                    Dir::Read => "read",
                    Dir::Write => "write",
                }));
            }
        }
    }

    fn with_core<T>(
        &self,
        f: impl FnOnce(&mut Core, ConnHandle) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut core = self.rt.shared.lock()?;
        if !core.registry.conns.contains_key(&self.c) {
            return Err(not_connected());
        }
        f(&mut core, self.c)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.with_core(|core, c| ops::addrs(core, c).map(|(_, r)| ops::v4(r)))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.with_core(|core, c| ops::addrs(core, c).map(|(l, _)| ops::v4(l)))
    }

    /// Shuts down reading (reads return 0 once the queued data is read),
    /// writing (a FIN after the queued data) or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.with_core(|core, c| ops::shutdown(core, c, how))
    }

    /// A second handle to the same connection; it closes when the last
    /// handle is dropped.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        self.with_core(|core, c| {
            if let Some(e) = core.registry.conns.get_mut(&c) {
                e.refs += 1;
            }
            Ok(TcpStream {
                rt: self.rt.clone(),
                c,
            })
        })
    }

    /// Another reference to the connection, for a front end that wraps it
    /// (the handle given out counts like a `try_clone`).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn share(&self) -> io::Result<(Runtime, ConnHandle)> {
        self.with_core(|core, c| {
            if let Some(e) = core.registry.conns.get_mut(&c) {
                e.refs += 1;
            }
            Ok((self.rt.clone(), c))
        })
    }

    /// IP_TTL, as std names it: the TTL of the connection's segments from
    /// now on (1 to 255; the stack's default, 64, until set).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.with_core(|core, c| ops::set_ttl(core, c, ttl))
    }

    /// IP_TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        self.with_core(|core, c| ops::ttl(core, c))
    }

    /// IP_OPTIONS: the IP options every segment from now on carries (empty:
    /// none), in the form [`connect_with_ip_options`](Self::connect_with_ip_options)
    /// takes; the segments' data makes room for them.
    pub fn set_ip_options(&self, options: &[u8]) -> io::Result<()> {
        self.with_core(|core, c| ops::set_ip_options(core, c, options))
    }

    /// IP_OPTIONS as `getsockopt` reads them: as they were set, or on an
    /// accepted connection whose SYN came with options, the answer to them
    /// it sends with (a source route reversed); empty: none.
    pub fn ip_options(&self) -> io::Result<Vec<u8>> {
        self.with_core(|core, c| Ok(ops::ip_options(core, c)))
    }

    /// TCP_NODELAY: send small segments at once instead of waiting for
    /// outstanding data to be acknowledged (Nagle, RFC 896).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.with_core(|core, c| ops::set_nodelay(core, c, nodelay))
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.with_core(|core, c| Ok(core.registry.conns[&c].mirror.nodelay))
    }

    /// How long `read` waits before failing with `WouldBlock` (`None`:
    /// forever). A zero duration is an error, as in std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(zero_timeout());
        }
        self.with_core(|core, c| {
            if let Some(e) = core.registry.conns.get_mut(&c) {
                e.read_timeout = timeout;
            }
            Ok(())
        })
    }

    /// How long `write` waits for buffer space before failing with
    /// `WouldBlock` (`None`: forever).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(zero_timeout());
        }
        self.with_core(|core, c| {
            if let Some(e) = core.registry.conns.get_mut(&c) {
                e.write_timeout = timeout;
            }
            Ok(())
        })
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.with_core(|core, c| Ok(core.registry.conns[&c].read_timeout))
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.with_core(|core, c| Ok(core.registry.conns[&c].write_timeout))
    }

    /// Nonblocking mode: calls that would wait fail with `WouldBlock`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.with_core(|core, c| {
            if let Some(e) = core.registry.conns.get_mut(&c) {
                e.nonblocking = nonblocking;
            }
            Ok(())
        })
    }

    /// SO_LINGER. `Some(ZERO)`: closing resets the connection (RST, no
    /// TIME-WAIT). `Some(d)`: closing (dropping the last handle) sends the
    /// FIN and waits up to `d` until the peer has acknowledged everything.
    /// `None`: closing returns at once and the stack finishes in the
    /// background.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.with_core(|core, c| ops::set_linger(core, c, linger))
    }

    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.with_core(|core, c| Ok(core.registry.conns[&c].mirror.linger))
    }

    /// SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT; `None`
    /// turns keepalive off. A peer that stops answering is declared dead
    /// after `idle + count × interval` and reads fail with `TimedOut`.
    pub fn set_keepalive(&self, keepalive: Option<Keepalive>) -> io::Result<()> {
        self.with_core(|core, c| ops::set_keepalive(core, c, keepalive))
    }

    pub fn keepalive(&self) -> io::Result<Option<Keepalive>> {
        self.with_core(|core, c| Ok(core.registry.conns[&c].mirror.keepalive))
    }

    /// The connection's `tcp_info`.
    pub fn info(&self) -> io::Result<TcpInfo> {
        self.with_core(|core, c| core.stack.tcp_info(c).ok_or_else(not_connected))
    }

    /// The connection's state.
    pub fn state(&self) -> TcpState {
        self.with_core(|core, c| Ok(core.stack.tcp_state(c)))
            .unwrap_or(TcpState::Closed)
    }

    /// The runtime this connection belongs to.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Copies received bytes into `buf` without consuming them, waiting
    /// for some as `read` does (`recv(MSG_PEEK)`, std's `peek`). It stops
    /// at the urgent mark as a read does.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let c = self.c;
        let peek = RecvFlags {
            peek: true,
            ..RecvFlags::default()
        };
        self.wait_for(Dir::Read, |core| ops::try_read_with(core, c, buf, peek))
    }

    /// Writes `data` with its last byte urgent (`send(MSG_OOB)`, TCP's
    /// urgent mechanism, docs/TCP.md "Urgent data"; RFC 6093 advises new
    /// protocols against it). Waits for buffer space as `write` does.
    pub fn send_out_of_band(&self, data: &[u8]) -> io::Result<usize> {
        let c = self.c;
        let oob = SendFlags {
            oob: true,
            ..SendFlags::default()
        };
        self.wait_for(Dir::Write, |core| ops::try_write_with(core, c, data, oob))
    }

    crate::net::ops::stream_options!();

    fn read_impl(&self, buf: &mut [u8]) -> io::Result<usize> {
        let c = self.c;
        self.wait_for_or(Dir::Read, true, |core, timed_out| {
            // A read timeout that passed below the mark: what there is, if
            // anything (Linux's `tcp_recvmsg` returns what it copied when
            // its timeout ends), else the timeout's error.
            if timed_out {
                return match ops::try_read(core, c, buf) {
                    Some(Ok(n)) if n > 0 => Some(Ok(n)),
                    _ => None,
                };
            }
            // A blocking read waits for SO_RCVLOWAT bytes (at most its
            // buffer's worth) or the end, as Linux's `tcp_recvmsg`; a
            // nonblocking one takes what there is.
            let blocking = core.registry.conns.get(&c).is_some_and(|e| !e.nonblocking);
            if blocking && !core.stack.tcp_recv_ready(c, buf.len()) {
                return None;
            }
            ops::try_read(core, c, buf)
        })
    }

    /// SO_RCVLOWAT: a blocking read waits for this many bytes (at most its
    /// buffer's worth), and readiness too; capped at the receive buffer,
    /// which grows to hold it unless SO_RCVBUF was set (Linux
    /// `tcp_set_rcvlowat`).
    pub fn set_recv_lowat(&self, bytes: usize) -> io::Result<()> {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.with_core(|core, c| ops::set_option(core, c, SocketOption::RecvLowat(bytes)))
    }

    pub fn recv_lowat(&self) -> io::Result<usize> {
        self.with_core(|core, c| {
            Ok(ops::connection(core, c)?.socket_options().recv_lowat.max(1) as usize)
        })
    }

    fn write_impl(&self, data: &[u8]) -> io::Result<usize> {
        let c = self.c;
        self.wait_for(Dir::Write, |core| ops::try_write(core, c, data))
    }
}

fn wait_cond(core: &Core, c: ConnHandle, dir: Dir) -> io::Result<Arc<std::sync::Condvar>> {
    let entry = core.registry.conns.get(&c).ok_or_else(not_connected)?;
    Ok(Arc::clone(match dir {
        Dir::Read => &entry.read.cond,
        Dir::Write => &entry.write.cond,
    }))
}

fn zero_timeout() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "cannot set a 0 duration timeout",
    )
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    /// Data goes out as the window allows; nothing is held back here.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let shared = &self.rt.shared;
        let mut core = shared.lock_anyway();
        let linger = core
            .registry
            .conns
            .get(&self.c)
            .filter(|e| e.refs == 1)
            .and_then(|e| e.mirror.linger)
            .filter(|d| !d.is_zero());
        if let (Some(linger), Ok(())) = (linger, core.check_running()) {
            // SO_LINGER: send the FIN now and wait for everything to be
            // acknowledged, at most `linger`.
            let _ = ops::shutdown(&mut core, self.c, Shutdown::Write);
            let deadline = Instant::now() + linger;
            while !ops::send_side_done(&core, self.c) {
                let Ok(cond) = wait_cond(&core, self.c, Dir::Write) else {
                    break;
                };
                match shared.wait(core, &cond, Some(deadline)) {
                    Ok((next, timed_out)) => {
                        core = next;
                        if timed_out {
                            break;
                        }
                    }
                    Err(_) => {
                        core = shared.lock_anyway();
                        break;
                    }
                }
            }
        }
        ops::release_conn(&mut core, self.c);
    }
}
