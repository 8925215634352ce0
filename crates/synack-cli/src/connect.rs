//! `synack connect HOST:PORT`: the stack as a client on a TAP/TUN device,
//! nc-style: stdin goes to the connection (a FIN at stdin's end), the
//! connection goes to stdout; exit status 0 after a clean close.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::Args;
use synack::net::TcpStream;
use synack_proto::Config;

use crate::counting::{Counted, ProgressLine, Traffic};
use crate::link::{self, LinkArgs, SetupError};

const EXAMPLES: &str = "\
Examples:
  # Fetch a page from the kernel's side of a TUN (192.0.2.1):
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | \\
      synack connect 192.0.2.1:80 --tun synack0 --addr 192.0.2.2/24 --peer-addr 192.0.2.1/24

  # Upload a file to a socat listener, over a lossy link:
  synack connect 192.0.2.1:9000 --tap synack0 --addr 192.0.2.2/24 --peer-addr 192.0.2.1/24 \\
      --loss 0.02 < big.bin

Needs root (or CAP_NET_ADMIN) and /dev/net/tun. Use TEST-NET addresses, ideally in a network
namespace of your own.";

/// `connect`'s options.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ConnectArgs {
    /// Where to connect: IPv4 address and port.
    #[arg(value_name = "HOST:PORT")]
    target: SocketAddrV4,
    #[command(flatten)]
    link: LinkArgs,
    /// TCP Fast Open: send the first bytes of stdin in the SYN, with the server's cookie from an
    /// earlier run (kept in --fastopen-cache); the first run asks for one.
    #[arg(long)]
    fastopen: bool,
    /// Where Fast Open cookies are kept between runs (default: fastopen.json next to the control
    /// sockets, /run/synack for root).
    #[arg(long, value_name = "FILE", requires = "fastopen")]
    fastopen_cache: Option<PathBuf>,
    /// Give up connecting after SECS seconds (default: as long as the stack retries its SYN, about 2 minutes).
    #[arg(long, value_name = "SECS")]
    connect_timeout: Option<u64>,
    /// Sign every segment with this TCP MD5 key (RFC 2385, Linux's TCP_MD5SIG; 1 to 80 bytes), as
    /// BGP speakers do; the server must expect it. `@FILE` reads the key from FILE (its last newline
    /// dropped), out of the process list that shows a key given here.
    #[arg(long, value_name = "KEY|@FILE", conflicts_with = "fastopen", value_parser = md5_key)]
    md5_key: Option<Md5KeyArg>,
}

/// A TCP MD5 key's bytes, as `--md5-key` and `--md5` take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Md5KeyArg(pub Vec<u8>);

/// `--md5-key` and `--md5`'s key: 1 to 80 bytes, given, or read from the
/// file after an `@`.
pub fn md5_key(s: &str) -> Result<Md5KeyArg, String> {
    let key = match s.strip_prefix('@') {
        Some(path) => {
            let mut bytes = std::fs::read(path)
                .map_err(|e| format!("reading the TCP MD5 key from {path}: {e}"))?;
            if bytes.ends_with(b"\n") {
                bytes.pop();
            }
            bytes
        }
        None => s.as_bytes().to_vec(),
    };
    if key.is_empty() || key.len() > 80 {
        return Err(format!("a TCP MD5 key is 1 to 80 bytes, not {}", key.len()));
    }
    Ok(Md5KeyArg(key))
}

/// How long closing waits for the peer to acknowledge our FIN.
const CLOSE_LINGER: Duration = Duration::from_secs(10);

pub fn run(args: &ConnectArgs) -> ExitCode {
    let mut link = match link::open(&args.link, Config::default()) {
        Ok(l) => l,
        Err(e) => return e.report("connect"),
    };
    let (mut stdin, stdout) = match std_files() {
        Ok(f) => f,
        Err(e) => return SetupError::new("opening stdin and stdout", e).report("connect"),
    };
    let target = SocketAddr::V4(args.target);
    let server = *args.target.ip();
    let cache = args
        .fastopen_cache
        .clone()
        .unwrap_or_else(|| synack::control::runtime_dir().join("fastopen.json"));
    let mut first = Vec::new();
    let stream = if args.fastopen {
        if let Some(entry) = fastopen_cache::load(&cache, server) {
            link.rt.fastopen_remember(server, entry);
        }
        // The SYN's data: what stdin has first (nothing at its end).
        first.resize(64 * 1024, 0);
        let n = loop {
            match stdin.read(&mut first) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r.unwrap_or(0),
            }
        };
        first.truncate(n);
        TcpStream::connect_with_data(&link.rt, target, &first).map(|(s, queued)| {
            first.drain(..queued);
            if let Some(entry) = link.rt.fastopen_entry(server)
                && let Err(e) = fastopen_cache::save(&cache, server, &entry)
            {
                eprintln!("synack connect: keeping the Fast Open cookie: {e}");
            }
            s
        })
    } else {
        let timeout = args
            .connect_timeout
            .map(|secs| Duration::from_secs(secs.max(1)));
        match (&args.md5_key, timeout) {
            (Some(key), Some(t)) => {
                TcpStream::connect_timeout_with_md5_key(&link.rt, &target, &key.0, t)
            }
            (Some(key), None) => TcpStream::connect_with_md5_key(&link.rt, target, &key.0),
            (None, Some(t)) => TcpStream::connect_timeout(&link.rt, &target, t),
            (None, None) => TcpStream::connect(&link.rt, target),
        }
    };
    let status = match stream {
        Ok(stream) => transfer(stream, first, stdin, stdout),
        Err(e) => {
            eprintln!("synack connect: {target}: {e}");
            ExitCode::FAILURE
        }
    };
    link.rt.shutdown();
    drop(link.control.take());
    status
}

/// Unbuffered stdin and stdout (big transfers skip the line buffer).
fn std_files() -> io::Result<(File, File)> {
    let stdin = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let stdout = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    Ok((stdin, stdout))
}

/// Copies both ways; `first` is stdin's beginning not yet sent.
fn transfer(stream: TcpStream, first: Vec<u8>, stdin: File, stdout: File) -> ExitCode {
    let moved = Arc::new(Traffic::default());
    let progress = ProgressLine::start("connect", moved.clone());
    let writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("synack connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    let up = {
        let moved = moved.clone();
        thread::spawn(move || -> io::Result<()> {
            let mut to = Counted {
                inner: &writer,
                traffic: moved,
            };
            to.write_all(&first)?;
            copy(stdin, to)?;
            writer.shutdown(Shutdown::Write)
        })
    };
    let down = copy(
        Counted {
            inner: &stream,
            traffic: moved,
        },
        stdout,
    );
    if let Err(e) = down {
        drop(progress);
        eprintln!("synack connect: receiving: {e}");
        // The sending thread may be blocked on a terminal: do not wait.
        let _ = stream.set_linger(Some(Duration::ZERO));
        return ExitCode::FAILURE;
    }
    // The peer finished; wait for our side (stdin's end, then our FIN).
    let up = up
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the sending thread panicked")));
    drop(progress);
    if let Err(e) = up {
        eprintln!("synack connect: sending: {e}");
        return ExitCode::FAILURE;
    }
    // A clean close: the FIN acknowledged before the process (and the stack) goes.
    let _ = stream.set_linger(Some(CLOSE_LINGER));
    drop(stream);
    ExitCode::SUCCESS
}

/// Fast Open cookies kept between runs of `synack connect` (Linux keeps
/// them in its TCP metrics, past any one process): a JSON object from
/// server address to `{cookie: hex, experimental, mss}`.
mod fastopen_cache {
    use std::collections::BTreeMap;
    use std::io;
    use std::net::Ipv4Addr;
    use std::path::Path;

    use serde::{Deserialize, Serialize};
    use synack_proto::tcp::fastopen_cookie::FastOpenEntry;
    use synack_proto::wire::tcp::{FastOpenCookie, FastOpenOption};

    #[derive(Debug, Serialize, Deserialize)]
    struct Saved {
        cookie: String,
        experimental: bool,
        mss: Option<u16>,
    }

    fn read(path: &Path) -> BTreeMap<Ipv4Addr, Saved> {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn load(path: &Path, server: Ipv4Addr) -> Option<FastOpenEntry> {
        let saved = read(path).remove(&server)?;
        let bytes: Option<Vec<u8>> = (0..saved.cookie.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(saved.cookie.get(i..i + 2)?, 16).ok())
            .collect();
        let cookie = FastOpenCookie::new(&bytes?)?;
        Some(FastOpenEntry {
            cookie: Some(FastOpenOption {
                experimental: saved.experimental,
                cookie,
            }),
            mss: saved.mss,
            ..FastOpenEntry::default()
        })
    }

    pub fn save(path: &Path, server: Ipv4Addr, entry: &FastOpenEntry) -> io::Result<()> {
        let Some(opt) = entry.cookie else {
            return Ok(());
        };
        let mut all = read(path);
        let bytes = &opt.cookie.bytes[..usize::from(opt.cookie.len)];
        all.insert(
            server,
            Saved {
                cookie: bytes.iter().map(|b| format!("{b:02x}")).collect(),
                experimental: opt.experimental,
                mss: entry.mss,
            },
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&all).map_err(io::Error::other)?,
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_saved_cookie_loads_back() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("fo.json");
            let server = Ipv4Addr::new(192, 0, 2, 1);
            assert!(load(&path, server).is_none());
            let entry = FastOpenEntry {
                cookie: Some(FastOpenOption {
                    experimental: false,
                    cookie: FastOpenCookie::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
                }),
                mss: Some(1460),
                ..FastOpenEntry::default()
            };
            save(&path, server, &entry).unwrap();
            assert_eq!(load(&path, server), Some(entry));
            assert!(load(&path, Ipv4Addr::new(192, 0, 2, 9)).is_none());
        }
    }
}

/// Copies until the reader's end, in 64 KiB chunks.
fn copy(mut from: impl Read, mut to: impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}
