//! The async [`TcpStream`].

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use synack_proto::stack::ConnHandle;
use synack_proto::tcp::conn::{RecvFlags, SendFlags, TcpInfo};
use synack_proto::tcp::state::TcpState;

use super::Runtime;
use super::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::net::Keepalive;
use crate::net::ops;
use crate::runtime::Core;
use crate::runtime::registry::ConnEntry;

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket is not connected")
}

/// A TCP connection of a synack [`Runtime`], used like
/// `tokio::net::TcpStream`. Dropping it closes the connection like
/// `close(2)` (a FIN after the queued data; a RST with unread data or
/// linger zero) without waiting.
#[derive(Debug)]
pub struct TcpStream {
    rt: Runtime,
    c: ConnHandle,
}

impl TcpStream {
    /// Connects to `addr` (the first IPv4 address that accepts).
    pub async fn connect(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            let SocketAddr::V4(addr) = addr else {
                continue;
            };
            match TcpStream::connect_v4(rt, addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "synack speaks IPv4 only: no IPv4 address given",
            )
        }))
    }

    /// Connects to `addr` with IP options on every segment, as
    /// [`crate::net::TcpStream::connect_with_ip_options`] does.
    pub async fn connect_with_ip_options(
        rt: &Runtime,
        addr: impl ToSocketAddrs,
        options: &[u8],
    ) -> io::Result<TcpStream> {
        let remote = crate::net::listener::first_v4(addr)?;
        let c = ops::start_connect_with_ip_options(&mut *rt.shared.lock()?, remote, options)?;
        let stream = TcpStream { rt: rt.clone(), c };
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    /// Connects to `addr` with every segment signed with `key`, as
    /// [`crate::net::TcpStream::connect_with_md5_key`] does.
    pub async fn connect_with_md5_key(
        rt: &Runtime,
        addr: impl ToSocketAddrs,
        key: &[u8],
    ) -> io::Result<TcpStream> {
        let remote = crate::net::listener::first_v4(addr)?;
        let c = ops::start_connect_with_md5_key(&mut *rt.shared.lock()?, remote, key)?;
        let stream = TcpStream { rt: rt.clone(), c };
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    async fn connect_v4(rt: &Runtime, remote: SocketAddrV4) -> io::Result<TcpStream> {
        let c = ops::start_connect(&mut *rt.shared.lock()?, remote)?;
        // From here on, dropping `stream` (an error, a cancelled future)
        // cleans up.
        let stream = TcpStream { rt: rt.clone(), c };
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_op(cx, Dir::Write, |core, c| ops::connected(core, c))
    }

    pub(crate) fn from_parts(rt: Runtime, c: ConnHandle) -> TcpStream {
        TcpStream { rt, c }
    }

    /// Turns a blocking stream of the same runtime into an async one.
    pub fn from_std(stream: crate::net::TcpStream) -> io::Result<TcpStream> {
        let (rt, c) = stream.share()?;
        Ok(TcpStream { rt, c })
    }

    fn with_core<T>(
        &self,
        f: impl FnOnce(&mut Core, ConnHandle) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut core = self.rt.shared.lock()?;
        entry(&mut core, self.c)?;
        f(&mut core, self.c)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.with_core(|core, c| ops::addrs(core, c).map(|(_, r)| ops::v4(r)))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.with_core(|core, c| ops::addrs(core, c).map(|(l, _)| ops::v4(l)))
    }

    /// IP_TTL, as [`crate::net::TcpStream::set_ttl`].
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.with_core(|core, c| ops::set_ttl(core, c, ttl))
    }

    /// IP_TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        self.with_core(|core, c| ops::ttl(core, c))
    }

    /// IP_OPTIONS, as [`crate::net::TcpStream::set_ip_options`].
    pub fn set_ip_options(&self, options: &[u8]) -> io::Result<()> {
        self.with_core(|core, c| ops::set_ip_options(core, c, options))
    }

    /// IP_OPTIONS as `getsockopt` reads them, as
    /// [`crate::net::TcpStream::ip_options`].
    pub fn ip_options(&self) -> io::Result<Vec<u8>> {
        self.with_core(|core, c| Ok(ops::ip_options(core, c)))
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.with_core(|core, c| ops::set_nodelay(core, c, nodelay))
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.with_core(|core, c| Ok(entry(core, c)?.mirror.nodelay))
    }

    /// SO_LINGER; `Some(ZERO)` makes dropping the stream reset it. (Async
    /// drops never wait: a nonzero linger only keeps the default close.)
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.with_core(|core, c| ops::set_linger(core, c, linger))
    }

    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.with_core(|core, c| Ok(entry(core, c)?.mirror.linger))
    }

    /// Keepalive settings (see [`crate::net::TcpStream::set_keepalive`]).
    pub fn set_keepalive(&self, keepalive: Option<Keepalive>) -> io::Result<()> {
        self.with_core(|core, c| ops::set_keepalive(core, c, keepalive))
    }

    pub fn info(&self) -> io::Result<TcpInfo> {
        self.with_core(|core, c| core.stack.tcp_info(c).ok_or_else(not_connected))
    }

    pub fn state(&self) -> TcpState {
        self.with_core(|core, c| Ok(core.stack.tcp_state(c)))
            .unwrap_or(TcpState::Closed)
    }

    /// Borrowed halves, usable concurrently (e.g. `tokio::io::copy` from
    /// one to the other).
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        super::split::borrowed(self)
    }

    /// Owned halves for separate tasks. Dropping the write half sends the
    /// FIN, as tokio's does.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        super::split::owned(self)
    }

    /// Copies received bytes into `buf` without consuming them, waiting
    /// for some (`recv(MSG_PEEK)`, tokio's `peek`).
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let peek = RecvFlags {
            peek: true,
            ..RecvFlags::default()
        };
        poll_fn(|cx| {
            self.poll_op(cx, Dir::Read, |core, c| {
                ops::try_read_with(core, c, buf, peek)
            })
        })
        .await
    }

    /// Writes `data` with its last byte urgent (`send(MSG_OOB)`), as
    /// [`crate::net::TcpStream::send_out_of_band`].
    pub async fn send_out_of_band(&self, data: &[u8]) -> io::Result<usize> {
        let oob = SendFlags {
            oob: true,
            ..SendFlags::default()
        };
        poll_fn(|cx| {
            self.poll_op(cx, Dir::Write, |core, c| {
                ops::try_write_with(core, c, data, oob)
            })
        })
        .await
    }

    crate::net::ops::stream_options!();

    /// Runs `op` once; when it would wait, registers the task for the
    /// direction's wake-up.
    fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        dir: Dir,
        op: impl FnOnce(&mut Core, ConnHandle) -> Option<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut core = self.rt.shared.lock()?;
        match op(&mut core, self.c) {
            Some(r) => Poll::Ready(r),
            None => {
                let entry = entry(&mut core, self.c)?;
                match dir {
                    Dir::Read => entry.read.register(cx.waker()),
                    Dir::Write => entry.write.register(cx.waker()),
                }
                Poll::Pending
            }
        }
    }

    pub(crate) fn poll_read_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        let n = std::task::ready!(self.poll_op(cx, Dir::Read, |core, c| {
            ops::try_read(core, c, unfilled)
        }))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }

    pub(crate) fn poll_write_priv(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_op(cx, Dir::Write, |core, c| ops::try_write(core, c, data))
    }

    pub(crate) fn shutdown_priv(&self, how: Shutdown) -> io::Result<()> {
        self.with_core(|core, c| ops::shutdown(core, c, how))
    }
}

/// Which of a connection's wake-ups a task waits for.
#[derive(Clone, Copy)]
enum Dir {
    Read,
    Write,
}

fn entry(core: &mut Core, c: ConnHandle) -> io::Result<&mut ConnEntry> {
    core.registry.conns.get_mut(&c).ok_or_else(not_connected)
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Sends the FIN (after the queued data): the peer reads end of stream.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_priv(Shutdown::Write))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let mut core = self.rt.shared.lock_anyway();
        ops::release_conn(&mut core, self.c);
    }
}
