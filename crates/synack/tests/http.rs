//! The HTTP/1.1 file server over std TCP on 127.0.0.1, driven by raw
//! requests and by curl.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use synack::apps::http::{Limits, Server};

const HELLO: &[u8] = b"hello, world\n";
const BIG: usize = 50 * 1024 * 1024;

/// A served directory `www` with a sibling `outside` that must stay unreachable.
struct Site {
    _base: tempfile::TempDir,
    www: PathBuf,
    addr: SocketAddr,
}

fn site() -> Site {
    site_with(Limits::default())
}

fn site_with(limits: Limits) -> Site {
    let base = tempfile::tempdir().unwrap();
    let www = base.path().join("www");
    let outside = base.path().join("outside");
    fs::create_dir_all(www.join("sub")).unwrap();
    fs::create_dir_all(www.join("plain/inner")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(www.join("hello.txt"), HELLO).unwrap();
    fs::write(www.join("page.html"), "<p>page</p>\n").unwrap();
    fs::write(www.join("sub/index.html"), "<p>sub index</p>\n").unwrap();
    fs::write(www.join("plain/b c.txt"), "b\n").unwrap();
    fs::write(www.join("plain/<a>.txt"), "a\n").unwrap();
    fs::write(outside.join("secret.txt"), "secret\n").unwrap();
    symlink(www.join("hello.txt"), www.join("link-in.txt")).unwrap();
    symlink(outside.join("secret.txt"), www.join("link-out.txt")).unwrap();
    symlink(&outside, www.join("dir-out")).unwrap();
    let server = Server::new(&www).unwrap().with_limits(limits);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let server = server.clone();
            thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let _ = server.serve(conn);
            });
        }
    });
    Site {
        _base: base,
        www,
        addr,
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A client connection that reads responses one at a time.
struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let w = TcpStream::connect(addr).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Self { w, r }
    }

    fn send(&mut self, raw: &str) {
        self.w.write_all(raw.as_bytes()).unwrap();
    }

    /// Reads one response; `head_request`: no body follows the head.
    fn response(&mut self, head_request: bool) -> Response {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        let mut parts = line.trim_end().splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
        let status = parts.next().unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.r.read_line(&mut h).unwrap();
            assert!(h.ends_with("\r\n"), "header line {h:?}");
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (n, v) = h.split_once(": ").unwrap();
            headers.push((n.to_owned(), v.to_owned()));
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = resp.header("Content-Length").unwrap().parse().unwrap();
        if !head_request {
            resp.body = vec![0; len];
            self.r.read_exact(&mut resp.body).unwrap();
        }
        resp
    }

    /// True when the server closed the connection (EOF, nothing more).
    fn closed_by_server(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(self.r.read_to_end(&mut rest), Ok(0))
    }
}

fn get(addr: SocketAddr, target: &str) -> Response {
    let mut c = Client::connect(addr);
    c.send(&format!(
        "GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    ));
    c.response(false)
}

#[test]
fn small_file_has_body_length_type_date_and_server() {
    let s = site();
    let r = get(s.addr, "/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, HELLO);
    assert_eq!(r.header("Content-Length"), Some("13"));
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert!(r.header("Server").unwrap().starts_with("synack/"));
    let date = r.header("Date").unwrap();
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    assert!(r.header("Last-Modified").is_some());
    assert_eq!(r.header("Connection"), Some("close"));
}

#[test]
fn missing_file_is_404() {
    let s = site();
    assert_eq!(get(s.addr, "/nope.txt").status, 404);
    assert_eq!(get(s.addr, "/hello.txt/more").status, 404);
    // An empty segment does not make the path absolute.
    assert_eq!(get(s.addr, "//etc/passwd").status, 404);
}

#[test]
fn paths_escaping_the_directory_are_refused() {
    let s = site();
    for target in [
        "/../outside/secret.txt",
        "/sub/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E%2foutside%2fsecret.txt",
        "/link-out.txt",
        "/dir-out/secret.txt",
        "http://test/../outside/secret.txt",
    ] {
        let r = get(s.addr, target);
        assert_eq!(r.status, 403, "{target}");
        assert!(!r.body.starts_with(b"secret"), "{target}");
    }
    // A symlink that stays inside is served.
    assert_eq!(get(s.addr, "/link-in.txt").body, HELLO);
}

#[test]
fn absolute_form_target_is_served() {
    let s = site();
    assert_eq!(get(s.addr, "http://test/hello.txt?x=1").body, HELLO);
}

#[test]
fn head_sends_headers_only() {
    let s = site();
    let mut c = Client::connect(s.addr);
    c.send("HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response(true);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("13"));
    // No body came: the next response starts right after the head.
    c.send("GET /page.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response(false).body, b"<p>page</p>\n");
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let s = site();
    let mut c = Client::connect(s.addr);
    c.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let r1 = c.response(false);
    assert_eq!(r1.body, HELLO);
    assert_eq!(r1.header("Connection"), None);
    c.send("GET /page.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r2 = c.response(false);
    assert_eq!(r2.body, b"<p>page</p>\n");
    assert_eq!(r2.header("Connection"), Some("close"));
    assert!(c.closed_by_server());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = site();
    let mut c = Client::connect(s.addr);
    c.send(concat!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "HEAD /page.html HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /page.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(c.response(false).body, HELLO);
    assert_eq!(c.response(true).header("Content-Length"), Some("12"));
    assert_eq!(c.response(false).status, 404);
    assert_eq!(c.response(false).body, b"<p>page</p>\n");
    assert!(c.closed_by_server());
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let s = site();
    let mut c = Client::connect(s.addr);
    c.send("GET /hello.txt HTTP/1.0\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.body, HELLO);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_by_server());

    let mut c = Client::connect(s.addr);
    c.send("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.response(false).header("Connection"), Some("keep-alive"));
    c.send("GET /page.html HTTP/1.0\r\n\r\n");
    assert_eq!(c.response(false).body, b"<p>page</p>\n");
    assert!(c.closed_by_server());
}

#[test]
fn other_methods_are_405_with_allow_and_the_body_is_skipped() {
    let s = site();
    let mut c = Client::connect(s.addr);
    c.send("POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nXXXXX");
    let r = c.response(false);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    // The body did not leak into the next request.
    c.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response(false).body, HELLO);
}

#[test]
fn malformed_requests_are_400_and_close() {
    let s = site();
    for raw in [
        "garbage\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\n\r\n", // no Host
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
    ] {
        let mut c = Client::connect(s.addr);
        c.send(raw);
        let r = c.response(false);
        assert_eq!(r.status, 400, "{raw:?}");
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(c.closed_by_server(), "{raw:?}");
    }
}

#[test]
fn bad_targets_are_400_and_the_connection_stays_usable() {
    let s = site();
    let mut c = Client::connect(s.addr);
    for target in ["/a%zz", "hello.txt", "*", "/a%00b"] {
        c.send(&format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(c.response(false).status, 400, "{target}");
    }
    c.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response(false).body, HELLO);
}

#[test]
fn http2_request_line_is_505() {
    let s = site();
    let mut c = Client::connect(s.addr);
    c.send("GET / HTTP/2.0\r\nHost: t\r\n\r\n");
    assert_eq!(c.response(false).status, 505);
}

#[test]
fn huge_request_line_is_414_and_huge_head_is_431() {
    let limits = Limits {
        max_request_line: 1024,
        max_head: 4096,
        ..Limits::default()
    };
    let s = site_with(limits);
    let mut c = Client::connect(s.addr);
    c.send(&format!("GET /{} HTTP/1.1\r\n", "a".repeat(2000)));
    assert_eq!(c.response(false).status, 414);

    let mut c = Client::connect(s.addr);
    c.send("GET / HTTP/1.1\r\nHost: t\r\n");
    for i in 0..100 {
        // The server answers and closes once the head passes the limit; a
        // later line may meet its reset (EPIPE), which is not the client's
        // concern here: the 431 is already in flight.
        if c.w
            .write_all(format!("X-Filler-{i}: {}\r\n", "b".repeat(60)).as_bytes())
            .is_err()
        {
            break;
        }
    }
    assert_eq!(c.response(false).status, 431);
}

#[test]
fn limits_hold_when_the_whole_oversized_head_arrives_at_once() {
    let limits = Limits {
        max_request_line: 1024,
        max_head: 4096,
        ..Limits::default()
    };
    let s = site_with(limits);
    let mut c = Client::connect(s.addr);
    c.send(&format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "a".repeat(1100)
    ));
    assert_eq!(c.response(false).status, 414);
    assert!(c.closed_by_server());

    let mut c = Client::connect(s.addr);
    let filler =
        "X-Filler: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n".repeat(80);
    c.send(&format!("GET / HTTP/1.1\r\nHost: t\r\n{filler}\r\n"));
    assert_eq!(c.response(false).status, 431);
}

#[test]
fn directories_redirect_to_slash_then_serve_index_or_listing() {
    let s = site();
    let r = get(s.addr, "/sub");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/sub/"));
    assert_eq!(get(s.addr, "/sub/").body, b"<p>sub index</p>\n");
    let listing = get(s.addr, "/plain/");
    assert_eq!(listing.status, 200);
    assert_eq!(
        listing.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(listing.body).unwrap();
    assert!(
        html.contains("<a href=\"%3Ca%3E.txt\">&lt;a&gt;.txt</a>"),
        "{html}"
    );
    assert!(html.contains("<a href=\"b%20c.txt\">b c.txt</a>"), "{html}");
    assert!(html.contains("<a href=\"inner/\">inner/</a>"), "{html}");
    assert_eq!(get(s.addr, "/plain/b%20c.txt").body, b"b\n");
}

/// Writes `len` bytes of a seeded xorshift stream to `path`.
fn write_big(path: &Path, len: usize) {
    let mut f = io::BufWriter::new(fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for b in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "60"])
        .args(args)
        .output()
        .expect("curl is installed by scripts/install-test-deps.sh")
}

#[test]
fn curl_fetches_a_50_mib_file_intact() {
    let s = site();
    write_big(&s.www.join("big.bin"), BIG);
    let out = s.www.parent().unwrap().join("fetched.bin");
    let url = format!("http://{}/big.bin", s.addr);
    let r = curl(&["--fail", "-o", out.to_str().unwrap(), &url]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(fs::metadata(&out).unwrap().len(), BIG as u64);
    assert_eq!(sha256(&out), sha256(&s.www.join("big.bin")));
}

#[test]
fn curl_reuses_the_connection_and_sees_head_and_404() {
    let s = site();
    let base = format!("http://{}", s.addr);
    let r = curl(&[
        "-v",
        &format!("{base}/hello.txt"),
        &format!("{base}/page.html"),
    ]);
    assert!(r.status.success());
    assert_eq!(r.stdout, b"hello, world\n<p>page</p>\n");
    let log = String::from_utf8_lossy(&r.stderr);
    assert!(log.contains("Re-using existing connection"), "{log}");

    let r = curl(&["-I", &format!("{base}/hello.txt")]);
    let head = String::from_utf8_lossy(&r.stdout);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 13\r\n"), "{head}");

    let r = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/nope"),
    ]);
    assert_eq!(r.stdout, b"404");
    let r = curl(&[
        "--path-as-is",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/../../etc/passwd"),
    ]);
    assert_eq!(r.stdout, b"403");
}

/// An in-memory connection: a fixed request in, the response out, with
/// the largest single write recorded.
struct Recorder {
    input: io::Cursor<Vec<u8>>,
    out_len: u64,
    largest_write: usize,
    tail: Vec<u8>,
}

impl Read for Recorder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out_len += buf.len() as u64;
        self.largest_write = self.largest_write.max(buf.len());
        self.tail = buf[buf.len().saturating_sub(8)..].to_vec();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn large_files_are_streamed_in_bounded_chunks() {
    let dir = tempfile::tempdir().unwrap();
    write_big(&dir.path().join("big.bin"), 8 * 1024 * 1024);
    let server = Server::new(dir.path()).unwrap();
    let mut conn = Recorder {
        input: io::Cursor::new(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n".to_vec()),
        out_len: 0,
        largest_write: 0,
        tail: Vec::new(),
    };
    let stats = server.serve(&mut conn).unwrap();
    assert_eq!(stats.requests, 1);
    assert!(conn.out_len > 8 * 1024 * 1024);
    assert_eq!(stats.bytes_out, conn.out_len);
    // Never more than one 64 KiB chunk (plus nothing) per write.
    assert!(conn.largest_write <= 64 * 1024, "{}", conn.largest_write);
}

/// A connection that delivers `input`, then fails every read with `end`;
/// what the server writes is kept.
struct Ending {
    input: io::Cursor<Vec<u8>>,
    end: io::ErrorKind,
    out: Vec<u8>,
}

impl Read for Ending {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.input.read(buf)? {
            0 => Err(io::Error::from(self.end)),
            n => Ok(n),
        }
    }
}

impl Write for Ending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_keep_alive_connection_ended_by_a_stopping_runtime_keeps_its_requests() {
    let site = site();
    let server = Server::new(&site.www).unwrap();
    let two = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\n";
    let conn = Ending {
        input: io::Cursor::new(two.to_vec()),
        // What synack's sockets return once the runtime shut down.
        end: io::ErrorKind::NotConnected,
        out: Vec::new(),
    };
    let stats = server
        .serve(conn)
        .expect("idle between requests: a clean end");
    assert_eq!(stats.requests, 2);

    // In the middle of a request head the same error is a failure.
    let conn = Ending {
        input: io::Cursor::new(b"GET /hello.txt HTTP/1.1\r\nHo".to_vec()),
        end: io::ErrorKind::NotConnected,
        out: Vec::new(),
    };
    assert_eq!(
        server.serve(conn).unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
}
