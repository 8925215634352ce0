//! The async [`TcpListener`].

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

use synack_proto::stack::ListenerHandle;

use super::{Runtime, TcpStream};
use crate::net::ListenOptions;
use crate::net::ops;

/// A listening socket of a synack [`Runtime`], used like
/// `tokio::net::TcpListener`.
#[derive(Debug)]
pub struct TcpListener {
    rt: Runtime,
    l: ListenerHandle,
    local: SocketAddr,
}

impl TcpListener {
    /// Listens on `addr` with [`ListenOptions::default`].
    pub async fn bind(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::from_std(ListenOptions::default().bind(rt, addr)?)
    }

    /// Turns a blocking listener (made with any [`ListenOptions`]) into an
    /// async one.
    pub fn from_std(listener: crate::net::TcpListener) -> io::Result<TcpListener> {
        let local = listener.local_addr()?;
        let (rt, l) = listener.share()?;
        Ok(TcpListener { rt, l, local })
    }

    /// The next connection and its peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut core = self.rt.shared.lock()?;
        match ops::try_accept(&mut core, self.l) {
            Some(Ok(c)) => {
                let peer = ops::addrs(&core, c).map(|(_, r)| ops::v4(r));
                let stream = TcpStream::from_parts(self.rt.clone(), c);
                drop(core);
                Poll::Ready(peer.map(|p| (stream, p)))
            }
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => {
                match core.registry.listeners.get_mut(&self.l) {
                    Some(e) => e.accept.register(cx.waker()),
                    None => {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::NotConnected,
                            "listener is closed",
                        )));
                    }
                }
                Poll::Pending
            }
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    crate::net::ops::listener_options!();
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let mut core = self.rt.shared.lock_anyway();
        ops::release_listener(&mut core, self.l);
    }
}
