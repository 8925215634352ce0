//! Async sockets for tokio (feature `tokio`), on the same [`Runtime`] as
//! the blocking ones: `TcpListener`, `TcpStream` (`AsyncRead`/`AsyncWrite`,
//! `poll_shutdown` sends the FIN, `split`/`into_split` halves), `UdpSocket`, `PingSocket`.
//!
//! They need no tokio reactor: the synack runtime's driver thread wakes
//! the tasks (their wakers are kept with the socket), so they run on any
//! executor, a current-thread tokio runtime included.
//!
//! ```no_run
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # async fn example(rt: synack::Runtime) -> std::io::Result<()> {
//! let listener = synack::tokio::TcpListener::bind(&rt, "0.0.0.0:7").await?;
//! loop {
//!     let (mut stream, _peer) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let (mut r, mut w) = stream.split();
//!         let _ = tokio::io::copy(&mut r, &mut w).await;
//!     });
//! }
//! # }
//! ```

mod listener;
mod ping;
mod split;
mod stream;
mod udp;

pub use listener::TcpListener;
pub use ping::PingSocket;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;
pub use udp::UdpSocket;

use crate::runtime::Runtime;
