//! A small HTTP/1.1 static file server (RFC 9110, RFC 9112) for
//! `synack serve --http DIR`.
//!
//! GET and HEAD; persistent connections (HTTP/1.1 by default, HTTP/1.0 with
//! `Connection: keep-alive`) and pipelining; Content-Length on every
//! response; Content-Type by extension; index.html or a listing for
//! directories; files streamed in 64 KiB chunks, never read whole. Paths
//! cannot leave the directory (see [`files`]). Guards: 414 for request lines
//! over [`Limits::max_request_line`], 431 for heads over
//! [`Limits::max_head`] or more than 100 fields, 400 for anything
//! malformed, 405 (with `Allow`) for other methods, 505 for HTTP/2+.
//!
//! Connection handling is the caller's: set a read timeout on the stream to
//! bound idle keep-alive connections (a timeout between requests ends
//! [`Server::serve`] cleanly), and close the stream when it returns.

mod files;
mod request;
mod response;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use self::files::Resolved;
use self::request::Reject;
use self::response::{HeadBuilder, Status, content_type, http_date};
use super::{CHUNK, Metered, Stats, read_retrying};

/// Size limits on what a client may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version); longer is 414.
    pub max_request_line: usize,
    /// Longest head (request line and all header fields); longer is 431.
    pub max_head: usize,
    /// Largest request body read and thrown away to keep a connection
    /// alive; a larger one is answered, then the connection is closed.
    pub max_discarded_body: u64,
}

impl Default for Limits {
    /// 8 KiB request line (RFC 9112 §3 recommends at least 8,000 octets),
    /// 32 KiB head, 64 KiB discarded body.
    fn default() -> Self {
        Self {
            max_request_line: 8 * 1024,
            max_head: 32 * 1024,
            max_discarded_body: 64 * 1024,
        }
    }
}

/// Serves the files under one directory.
#[derive(Clone, Debug)]
pub struct Server {
    root: PathBuf,
    limits: Limits,
    name: String,
}

impl Server {
    /// Serves `root`, which must be a directory. Its canonical path is
    /// taken now: nothing outside it is ever served.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = fs::canonicalize(root.as_ref()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("http root {}: {e}", root.as_ref().display()),
            )
        })?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("http root {} is not a directory", root.display()),
            ));
        }
        Ok(Self {
            root,
            limits: Limits::default(),
            name: concat!("synack/", env!("CARGO_PKG_VERSION")).to_owned(),
        })
    }

    /// Replaces the size limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The canonical directory served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Serves one connection until the client closes it, asks to close, or
    /// sends something that forces a close. `Ok` when it ended cleanly (also
    /// on a read timeout or reset between requests); `Err` when the client
    /// went away mid-response or the stream failed.
    pub fn serve<S: Read + Write>(&self, conn: S) -> io::Result<Stats> {
        let mut c = Conn {
            io: Metered::new(conn),
            buf: Vec::new(),
            start: 0,
            scanned: 0,
        };
        loop {
            let keep = match c.read_head(&self.limits)? {
                HeadRead::Closed => break,
                HeadRead::Refused(status) => {
                    self.send_error(&mut c, status)?;
                    false
                }
                HeadRead::Head { content, total } => self.answer(&mut c, content, total)?,
            };
            c.io.stats.requests += 1;
            if !keep {
                break;
            }
        }
        c.io.flush()?;
        Ok(c.io.stats)
    }

    /// Answers the request whose head is `c.pending()[..content]` (the head
    /// ends at `total`). Returns whether the connection stays open.
    fn answer<S: Read + Write>(
        &self,
        c: &mut Conn<S>,
        content: usize,
        total: usize,
    ) -> io::Result<bool> {
        let parsed = request::parse(&c.pending()[..content]).map(|h| {
            let persistent = if h.version.persistent_by_default() {
                !h.close
            } else {
                h.keep_alive && !h.close
            };
            let keep_alive_10 = persistent && !h.version.persistent_by_default();
            (
                h.method.to_owned(),
                h.target.to_owned(),
                persistent,
                keep_alive_10,
                h.content_length,
            )
        });
        c.consume(total);
        let (method, target, persistent, keep_alive_10, body) = match parsed {
            Ok(p) => p,
            Err(reject) => {
                let status = match reject {
                    Reject::BadRequest(_) => Status::BadRequest,
                    Reject::NotImplemented(_) => Status::NotImplemented,
                    Reject::VersionNotSupported => Status::VersionNotSupported,
                    Reject::HeadersTooLarge => Status::HeaderFieldsTooLarge,
                };
                self.send_error(c, status)?;
                return Ok(false);
            }
        };
        // Read past any request body so the next request starts in the
        // right place; a large one is not worth reading: close instead.
        let mut keep = persistent;
        if body > self.limits.max_discarded_body {
            keep = false;
        } else if !c.discard(body)? {
            return Ok(false);
        }
        let reply = Reply {
            head_only: method == "HEAD",
            keep,
            keep_alive_10,
        };
        if method != "GET" && method != "HEAD" {
            let status = if body > self.limits.max_discarded_body {
                Status::ContentTooLarge
            } else {
                Status::MethodNotAllowed
            };
            self.send_status(c, status, &reply)?;
            return Ok(reply.keep);
        }
        match files::resolve(&self.root, &target) {
            Ok(Resolved::File(path, meta)) => self.send_file(c, &path, &meta, &reply)?,
            Ok(Resolved::Listing(dir, shown)) => match files::listing(&dir, &shown) {
                Ok(html) => {
                    let head = self
                        .head(Status::Ok, &reply)
                        .header("Content-Type", "text/html; charset=utf-8");
                    self.send_body(c, head, html.as_bytes(), &reply)?;
                }
                Err(_) => self.send_status(c, Status::Forbidden, &reply)?,
            },
            Ok(Resolved::Redirect(location)) => {
                let head = self
                    .head(Status::MovedPermanently, &reply)
                    .header("Location", location)
                    .header("Content-Type", "text/plain; charset=utf-8");
                self.send_body(c, head, b"301 Moved Permanently\n", &reply)?;
            }
            Err(status) => self.send_status(c, status, &reply)?,
        }
        Ok(reply.keep)
    }

    /// A response head with the headers every response carries.
    fn head(&self, status: Status, reply: &Reply) -> HeadBuilder {
        let head = HeadBuilder::new(status, &self.name, SystemTime::now());
        if !reply.keep {
            head.header("Connection", "close")
        } else if reply.keep_alive_10 {
            head.header("Connection", "keep-alive")
        } else {
            head
        }
    }

    /// A status with a one-line text body (and `Allow` for 405).
    fn send_status<S: Read + Write>(
        &self,
        c: &mut Conn<S>,
        status: Status,
        reply: &Reply,
    ) -> io::Result<()> {
        let mut head = self
            .head(status, reply)
            .header("Content-Type", "text/plain; charset=utf-8");
        // RFC 9110 §15.5.6: "The origin server MUST generate an Allow
        // header field in a 405 response".
        if status == Status::MethodNotAllowed {
            head = head.header("Allow", "GET, HEAD");
        }
        let body = format!("{} {}\n", status.code(), status.reason());
        self.send_body(c, head, body.as_bytes(), reply)
    }

    /// An error before the request was understood: always closes.
    fn send_error<S: Read + Write>(&self, c: &mut Conn<S>, status: Status) -> io::Result<()> {
        let reply = Reply {
            head_only: false,
            keep: false,
            keep_alive_10: false,
        };
        self.send_status(c, status, &reply)
    }

    fn send_body<S: Read + Write>(
        &self,
        c: &mut Conn<S>,
        head: HeadBuilder,
        body: &[u8],
        reply: &Reply,
    ) -> io::Result<()> {
        let mut out = head.header("Content-Length", body.len()).finish();
        if !reply.head_only {
            out.extend_from_slice(body);
        }
        c.io.write_all(&out)
    }

    /// Streams a file: the head and the first chunk go out in one write,
    /// then 64 KiB at a time. Exactly Content-Length bytes are sent; a file
    /// that shrinks meanwhile ends the connection with an error.
    fn send_file<S: Read + Write>(
        &self,
        c: &mut Conn<S>,
        path: &Path,
        meta: &fs::Metadata,
        reply: &Reply,
    ) -> io::Result<()> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                let status = match e.kind() {
                    io::ErrorKind::NotFound => Status::NotFound,
                    io::ErrorKind::PermissionDenied => Status::Forbidden,
                    _ => Status::InternalError,
                };
                return self.send_status(c, status, reply);
            }
        };
        let len = meta.len();
        let mut head = self
            .head(Status::Ok, reply)
            .header(
                "Content-Type",
                content_type(path.extension().and_then(|e| e.to_str())),
            )
            .header("Content-Length", len);
        if let Ok(modified) = meta.modified() {
            head = head.header("Last-Modified", http_date(modified));
        }
        let mut out = head.finish();
        if reply.head_only {
            return c.io.write_all(&out);
        }
        let mut file = file.take(len);
        let mut sent = 0u64;
        loop {
            let at = out.len();
            out.resize(at.max(CHUNK), 0);
            let n = read_retrying(&mut file, &mut out[at..])?;
            out.truncate(at + n);
            if !out.is_empty() {
                c.io.write_all(&out)?;
            }
            sent += n as u64;
            if n == 0 {
                break;
            }
            out.clear();
        }
        if sent < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} shrank to {sent} of {len} bytes while being sent",
                    path.display()
                ),
            ));
        }
        Ok(())
    }
}

/// How to answer a request.
#[derive(Debug)]
struct Reply {
    /// HEAD: headers only.
    head_only: bool,
    /// The connection stays open afterwards.
    keep: bool,
    /// An HTTP/1.0 client asked for keep-alive: confirm it.
    keep_alive_10: bool,
}

/// Serves one connection with `server`.
pub fn serve(conn: impl Read + Write, server: &Server) -> io::Result<Stats> {
    server.serve(conn)
}

/// The outcome of reading a request head.
#[derive(Debug)]
enum HeadRead {
    /// A head: its lines are `pending()[..content]`, the blank line ends at `total`.
    Head { content: usize, total: usize },
    /// Refused before parsing (414, 431, 400).
    Refused(Status),
    /// The client closed, reset or timed out between requests.
    Closed,
}

/// Empty lines tolerated before a request line (RFC 9112 §2.2: "SHOULD
/// ignore at least one empty line (CRLF) received prior to the request-line").
const MAX_LEADING_EMPTY_LINES: usize = 8;

/// A connection with its receive buffer: `buf[start..]` is unread.
#[derive(Debug)]
struct Conn<S> {
    io: Metered<S>,
    buf: Vec<u8>,
    start: usize,
    /// How far the pending bytes were searched for the end of the head.
    scanned: usize,
}

impl<S: Read + Write> Conn<S> {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.scanned = 0;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + 16 * 1024, 0);
        let r = read_retrying(&mut self.io, &mut self.buf[len..]);
        self.buf.truncate(len + *r.as_ref().unwrap_or(&0));
        r
    }

    fn read_head(&mut self, limits: &Limits) -> io::Result<HeadRead> {
        let mut empty_lines = 0;
        loop {
            // Skip empty lines before the request line.
            while let Some(n) = [&b"\r\n"[..], b"\n"]
                .into_iter()
                .find(|e| self.pending().starts_with(e))
                .map(<[u8]>::len)
            {
                empty_lines += 1;
                if empty_lines > MAX_LEADING_EMPTY_LINES {
                    return Ok(HeadRead::Refused(Status::BadRequest));
                }
                self.consume(n);
            }
            let found = self.find_head_end();
            // The limits apply whether or not the whole head is in yet.
            let p = self.pending();
            let scan = &p[..p.len().min(limits.max_request_line + 1)];
            let line_len = scan.iter().position(|&b| b == b'\n').unwrap_or(scan.len());
            if line_len > limits.max_request_line {
                return Ok(HeadRead::Refused(Status::UriTooLong));
            }
            let head_len = match found {
                Some(HeadRead::Head { content, .. }) => content,
                _ => p.len(),
            };
            if head_len > limits.max_head {
                return Ok(HeadRead::Refused(Status::HeaderFieldsTooLarge));
            }
            if let Some(found) = found {
                return Ok(found);
            }
            let idle = self.pending().is_empty();
            match self.fill() {
                Ok(0) => return Ok(HeadRead::Closed),
                Ok(_) => {}
                Err(e) if idle && ends_idle_connection(&e) => return Ok(HeadRead::Closed),
                Err(e) => return Err(e),
            }
        }
    }

    /// Looks for the blank line ending the head: LF followed by LF or CR LF.
    fn find_head_end(&mut self) -> Option<HeadRead> {
        let p = &self.buf[self.start..];
        let from = self.scanned;
        for i in from..p.len() {
            if p[i] != b'\n' {
                continue;
            }
            match p.get(i + 1..) {
                Some([b'\n', ..]) => {
                    return Some(HeadRead::Head {
                        content: i,
                        total: i + 2,
                    });
                }
                Some([b'\r', b'\n', ..]) => {
                    return Some(HeadRead::Head {
                        content: i,
                        total: i + 3,
                    });
                }
                // Not enough bytes after this LF yet: look again from here.
                Some([] | [b'\r']) => {
                    self.scanned = i;
                    return None;
                }
                _ => {}
            }
        }
        self.scanned = p.len();
        None
    }

    /// Reads and drops `n` body bytes. `Ok(false)` if the client closed first.
    fn discard(&mut self, mut n: u64) -> io::Result<bool> {
        loop {
            let have = (self.pending().len() as u64).min(n);
            // Fits: at most pending().len().
            self.consume(have as usize);
            n -= have;
            if n == 0 {
                return Ok(true);
            }
            if self.fill()? == 0 {
                return Ok(false);
            }
        }
    }
}

/// Errors that end a connection cleanly when it is idle between requests.
fn ends_idle_connection(e: &io::Error) -> bool {
    // NotConnected: the runtime under the socket shut down (a server
    // stopping) while the connection waited for its next request.
    matches!(
        e.kind(),
        io::ErrorKind::NotConnected
            | io::ErrorKind::TimedOut
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}
