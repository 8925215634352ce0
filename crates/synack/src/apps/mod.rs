//! The services `synack serve` offers, one connection at a time.
//!
//! Each service is a function `serve(conn) -> io::Result<Stats>` that runs one
//! connection to completion over any `Read + Write` (a synack `TcpStream`, a
//! std one, an in-memory pipe), so the same code runs over the userspace
//! stack and over the kernel's. The caller closes the connection afterwards
//! (by dropping it).
//!
//! - [`echo`] (RFC 862): everything read is written back.
//! - [`discard`] (RFC 863): everything read is counted and dropped.
//! - [`chargen`] (RFC 864): rotating lines of printable ASCII until the peer goes.
//! - [`http`]: a small HTTP/1.1 static file server.

pub mod chargen;
pub mod discard;
pub mod echo;
pub mod http;

use std::io::{self, Read, Write};
use std::ops::AddAssign;

/// What one connection (or, summed, many) moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes read from the peer.
    pub bytes_in: u64,
    /// Bytes written to the peer.
    pub bytes_out: u64,
    /// HTTP requests answered (0 for the byte services).
    pub requests: u64,
}

impl AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.requests += o.requests;
    }
}

/// `1.50 MiB in, 0 B out` (and `, 3 requests` when there were any), for
/// the summary `synack serve` prints on exit.
impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::progress::human_bytes;
        write!(
            f,
            "{} in, {} out",
            human_bytes(self.bytes_in),
            human_bytes(self.bytes_out)
        )?;
        if self.requests > 0 {
            write!(f, ", {} requests", self.requests)?;
        }
        Ok(())
    }
}

/// A service chosen on the command line (`--echo`, `--discard`,
/// `--chargen`, `--http DIR`).
#[derive(Clone, Debug)]
pub enum Service {
    /// RFC 862.
    Echo,
    /// RFC 863.
    Discard,
    /// RFC 864.
    Chargen,
    /// Static files from a directory.
    Http(http::Server),
}

impl Service {
    /// Runs one connection to completion.
    pub fn serve<S: Read + Write>(&self, conn: S) -> io::Result<Stats> {
        match self {
            Service::Echo => echo::serve(conn),
            Service::Discard => discard::serve(conn),
            Service::Chargen => chargen::serve(conn),
            Service::Http(server) => server.serve(conn),
        }
    }

    /// The service's name, as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Discard => "discard",
            Service::Chargen => "chargen",
            Service::Http(_) => "http",
        }
    }
}

/// Bytes per read and per write in the byte services.
const CHUNK: usize = 64 * 1024;

/// Counts the bytes through a connection into [`Stats`].
#[derive(Debug)]
struct Metered<S> {
    inner: S,
    stats: Stats,
}

impl<S> Metered<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            stats: Stats::default(),
        }
    }
}

impl<S: Read> Read for Metered<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.stats.bytes_in += n as u64;
        Ok(n)
    }
}

impl<S: Write> Write for Metered<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.stats.bytes_out += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads, retrying `Interrupted`.
fn read_retrying<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The peer has gone: writing to it fails this way after it closed or reset.
fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_add_up_and_display_for_the_exit_summary() {
        let mut total = Stats::default();
        total += Stats {
            bytes_in: 1024,
            bytes_out: 0,
            requests: 0,
        };
        assert_eq!(total.to_string(), "1.00 KiB in, 0 B out");
        total += Stats {
            bytes_in: 512,
            bytes_out: 100,
            requests: 3,
        };
        assert_eq!(total.to_string(), "1.50 KiB in, 100 B out, 3 requests");
    }
}
