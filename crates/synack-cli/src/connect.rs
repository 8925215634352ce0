//! `synack connect HOST:PORT`: the stack as a client on a TAP/TUN device,
//! nc-style: stdin goes to the connection (a FIN at stdin's end), the
//! connection goes to stdout; exit status 0 after a clean close.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
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
    /// TCP Fast Open: send the first bytes of stdin in the SYN (with a cookie from an earlier connection).
    #[arg(long)]
    fastopen: bool,
    /// Give up connecting after SECS seconds (default: as long as the stack retries its SYN, about 2 minutes).
    #[arg(long, value_name = "SECS")]
    connect_timeout: Option<u64>,
}

/// How long closing waits for the peer to acknowledge our FIN.
const CLOSE_LINGER: Duration = Duration::from_secs(10);

pub fn run(args: &ConnectArgs) -> ExitCode {
    if args.fastopen {
        return SetupError::new(
            "--fastopen",
            io::Error::new(
                io::ErrorKind::Unsupported,
                "this build's stack has no TCP Fast Open client yet",
            ),
        )
        .report("connect");
    }
    let mut link = match link::open(&args.link, Config::default()) {
        Ok(l) => l,
        Err(e) => return e.report("connect"),
    };
    let (stdin, stdout) = match std_files() {
        Ok(f) => f,
        Err(e) => return SetupError::new("opening stdin and stdout", e).report("connect"),
    };
    let target = SocketAddr::V4(args.target);
    let stream = match args.connect_timeout {
        Some(secs) => {
            TcpStream::connect_timeout(&link.rt, &target, Duration::from_secs(secs.max(1)))
        }
        None => TcpStream::connect(&link.rt, target),
    };
    let status = match stream {
        Ok(stream) => transfer(stream, stdin, stdout),
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

fn transfer(stream: TcpStream, stdin: File, stdout: File) -> ExitCode {
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
            copy(
                stdin,
                Counted {
                    inner: &writer,
                    traffic: moved,
                },
            )?;
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
