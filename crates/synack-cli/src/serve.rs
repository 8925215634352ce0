//! `synack serve`: the stack on a TAP/TUN device in this network namespace,
//! serving echo, discard, chargen or static files over HTTP/1.1, one thread
//! per connection, until SIGINT or SIGTERM.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use synack::apps::{Service, Stats, http};
use synack::net::{Keepalive, ListenOptions, TcpListener, UdpSocket};
use synack::progress::{human_bytes, human_duration};
use synack_proto::Config;
use synack_proto::config::{SynCookieMode, fastopen_flags};

use crate::counting::{Counted, ProgressLine, Traffic};
use crate::link::{self, LinkArgs, SetupError};

const EXAMPLES: &str = "\
Examples:
  # An HTTP server at 192.0.2.2:80; the kernel's side of the TUN is 192.0.2.1:
  synack serve --tun synack0 --addr 192.0.2.2/24 --peer-addr 192.0.2.1/24 --port 80 --http ./www
  curl http://192.0.2.2/index.html

  # Echo over a lossy link, recorded:
  synack serve --tap synack0 --addr 192.0.2.2/24 --peer-addr 192.0.2.1/24 --port 7 --echo \\
      --loss 0.02 --reorder 0.01 --seed 7 --pcap echo.pcap

  # Its sockets, from another terminal:
  synack ss --tap synack0 -i

Needs root (or CAP_NET_ADMIN) and /dev/net/tun. Use TEST-NET addresses (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24), ideally in a network namespace of your own.";

/// `serve`'s options.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ServeArgs {
    #[command(flatten)]
    link: LinkArgs,
    /// TCP port to listen on.
    #[arg(long, value_name = "P")]
    port: u16,
    #[command(flatten)]
    service: ServiceArgs,
    /// TCP Fast Open on the listener, with at most QLEN pending Fast Open requests.
    #[arg(long, value_name = "QLEN", num_args = 0..=1, default_missing_value = "16")]
    fastopen: Option<usize>,
    /// When to answer SYNs with SYN cookies.
    #[arg(long, value_enum, default_value_t = Cookies::Overflow)]
    syncookies: Cookies,
    /// listen(2) backlog: connections waiting for accept, and half-open ones before SYN cookies
    /// (or drops) begin.
    #[arg(long, value_name = "N", default_value_t = 128)]
    backlog: usize,
    /// Keepalive for every connection: idle seconds, probe interval seconds, probe count.
    #[arg(long, value_name = "IDLE,INTVL,CNT")]
    keepalive: Option<KeepaliveArg>,
    /// Expect every segment from peers in ADDR[/LEN] (a /32 without LEN) signed with the TCP MD5
    /// key KEY (RFC 2385, Linux's TCP_MD5SIG; 1 to 80 bytes), and sign the connections with them;
    /// repeat for more peers (the longest prefix holding a peer gives its key). `=@FILE` reads the
    /// key from FILE, out of the process list that shows a key given here.
    #[arg(long, value_name = "ADDR[/LEN]=KEY|@FILE")]
    md5: Vec<Md5Arg>,
}

/// `--md5 ADDR[/LEN]=KEY`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Md5Arg {
    peer: Ipv4Addr,
    prefix_len: u8,
    key: Vec<u8>,
}

impl FromStr for Md5Arg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{s}` is not ADDR[/LEN]=KEY (e.g. 192.0.2.1=secret or 192.0.2.0/24=secret)")
        };
        let (peer, key) = s.split_once('=').ok_or_else(bad)?;
        let (addr, len) = match peer.split_once('/') {
            Some((addr, len)) => (
                addr,
                len.parse::<u8>()
                    .ok()
                    .filter(|&l| l <= 32)
                    .ok_or_else(bad)?,
            ),
            None => (peer, 32),
        };
        let peer = addr.parse().map_err(|_| bad())?;
        let key = crate::connect::md5_key(key)?.0;
        Ok(Md5Arg {
            peer,
            prefix_len: len,
            key,
        })
    }
}

/// Which service (exactly one).
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct ServiceArgs {
    /// Send back everything received (RFC 862; TCP, and UDP on the same port).
    #[arg(long)]
    echo: bool,
    /// Read and drop everything (RFC 863; TCP, and UDP on the same port).
    #[arg(long)]
    discard: bool,
    /// Send lines of characters until the peer goes (RFC 864).
    #[arg(long)]
    chargen: bool,
    /// Serve the files under DIR over HTTP/1.1 (GET, HEAD, keep-alive).
    #[arg(long, value_name = "DIR")]
    http: Option<PathBuf>,
}

/// `--syncookies`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Cookies {
    Never,
    Overflow,
    Always,
}

impl From<Cookies> for SynCookieMode {
    fn from(c: Cookies) -> SynCookieMode {
        match c {
            Cookies::Never => SynCookieMode::Never,
            Cookies::Overflow => SynCookieMode::Overflow,
            Cookies::Always => SynCookieMode::Always,
        }
    }
}

/// `IDLE,INTVL,CNT` in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepaliveArg(pub Keepalive);

impl FromStr for KeepaliveArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not IDLE,INTVL,CNT (seconds, seconds, count; e.g. 60,10,5)");
        let parts: Vec<&str> = s.split(',').collect();
        let [idle, intvl, cnt] = parts[..] else {
            return Err(bad());
        };
        let secs = |v: &str| v.trim().parse::<u64>().ok().filter(|&n| n >= 1);
        let (Some(idle), Some(intvl), Some(cnt)) = (
            secs(idle),
            secs(intvl),
            cnt.trim().parse::<u8>().ok().filter(|&n| n >= 1),
        ) else {
            return Err(bad());
        };
        Ok(KeepaliveArg(Keepalive::new(
            Duration::from_secs(idle),
            Duration::from_secs(intvl),
            cnt,
        )))
    }
}

/// Idle HTTP keep-alive connections end after this long.
const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl ServiceArgs {
    fn build(&self) -> io::Result<Service> {
        Ok(match &self.http {
            Some(dir) => Service::Http(http::Server::new(dir).map_err(|e| {
                io::Error::new(e.kind(), format!("serving {}: {e}", dir.display()))
            })?),
            None if self.echo => Service::Echo,
            None if self.discard => Service::Discard,
            None => Service::Chargen,
        })
    }
}

/// Why `serve` stops.
enum Stop {
    Signal(i32),
    Failed(io::Error),
}

/// What all connections did.
#[derive(Debug, Default)]
struct Totals {
    stats: Stats,
    accepted: u64,
    failed: u64,
}

pub fn run(args: &ServeArgs) -> ExitCode {
    let service = match args.service.build() {
        Ok(s) => Arc::new(s),
        Err(e) => return SetupError::new("choosing the service", e).report("serve"),
    };
    let mut config = Config {
        tcp_syncookies: args.syncookies.into(),
        ..Config::default()
    };
    // Linux bounds a listener's SYN queue by its backlog too
    // (`inet_csk_reqsk_queue_is_full`): with one listener, the stack-wide
    // limit is that backlog.
    config.tcp_max_syn_backlog = config.tcp_max_syn_backlog.min(args.backlog.max(1));
    if args.fastopen.is_some() {
        // net.ipv4.tcp_fastopen's server bit; the listener gets the qlen.
        config.tcp_fastopen |= fastopen_flags::SERVER;
    }
    let mut link = match link::open(&args.link, config) {
        Ok(l) => l,
        Err(e) => return e.report("serve"),
    };
    let opts = ListenOptions::new()
        .backlog(args.backlog)
        .keepalive(args.keepalive.map(|k| k.0))
        .fastopen(args.fastopen);
    let listener = match opts.bind(&link.rt, (Ipv4Addr::UNSPECIFIED, args.port)) {
        Ok(l) => l,
        Err(e) => {
            return SetupError::new(format!("listening on port {}", args.port), e).report("serve");
        }
    };
    for m in &args.md5 {
        if let Err(e) = listener.set_md5_key(m.peer, m.prefix_len, Some(&m.key)) {
            let what = format!("setting the MD5 key for {}/{}", m.peer, m.prefix_len);
            return SetupError::new(what, e).report("serve");
        }
    }
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(e) => return SetupError::new("installing signal handlers", e).report("serve"),
    };
    // RFC 862 and 863 define the UDP services too: same port, bound before
    // the service says it is listening.
    let udp_socket = match *service {
        Service::Echo | Service::Discard => {
            match UdpSocket::bind(&link.rt, (Ipv4Addr::UNSPECIFIED, args.port)) {
                Ok(socket) => Some(socket),
                Err(e) => {
                    return SetupError::new(format!("binding UDP port {}", args.port), e)
                        .report("serve");
                }
            }
        }
        _ => None,
    };
    let started = Instant::now();
    println!("listening on {}:{}", args.link.addr.ip, args.port);
    let _ = io::stdout().flush();

    let (tx, rx) = mpsc::channel();
    let signal_handle = signals.handle();
    {
        let tx = tx.clone();
        thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let _ = tx.send(Stop::Signal(sig));
            }
        });
    }
    let totals = Arc::new(Mutex::new(Totals::default()));
    let moved = Arc::new(Traffic::default());
    let progress = ProgressLine::start("serve", moved.clone());
    let traffic = moved.clone();
    let datagrams = Arc::new(Mutex::new((0u64, 0u64)));
    let udp = udp_socket.map(|socket| {
        let echo = matches!(*service, Service::Echo);
        let datagrams = datagrams.clone();
        thread::spawn(move || udp_loop(&socket, echo, &datagrams))
    });
    let acceptor = {
        let totals = totals.clone();
        let rt = link.rt.clone();
        thread::spawn(move || {
            let err = accept_loop(&listener, &service, &totals, &moved);
            if rt.is_running() {
                let _ = tx.send(Stop::Failed(err));
            }
        })
    };

    let stop = rx.recv();
    signal_handle.close();
    drop(progress);
    let rt = link.rt.clone();
    rt.shutdown();
    let _ = acceptor.join();
    if let Some(udp) = udp {
        let _ = udp.join();
    }
    drop(link.control.take());
    let totals = totals.lock().unwrap_or_else(PoisonError::into_inner);
    let status = match stop {
        Ok(Stop::Signal(sig)) => {
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            println!(
                "stopped by {name} after {} on {}",
                human_duration(started.elapsed()),
                link.name
            );
            ExitCode::SUCCESS
        }
        Ok(Stop::Failed(e)) => {
            eprintln!("synack serve: {e}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    };
    print_summary(&totals, &traffic, &rt);
    let (dg_in, dg_out) = *datagrams.lock().unwrap_or_else(PoisonError::into_inner);
    if dg_in > 0 {
        println!("udp:         {dg_in} datagrams in, {dg_out} out");
    }
    status
}

/// The UDP side of echo (each datagram back to its sender) and discard,
/// until the runtime stops.
fn udp_loop(socket: &UdpSocket, echo: bool, counts: &Mutex<(u64, u64)>) {
    let mut buf = vec![0u8; 65_535];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        let sent = echo && socket.send_to(&buf[..n], from).is_ok();
        let mut c = counts.lock().unwrap_or_else(PoisonError::into_inner);
        c.0 += 1;
        c.1 += u64::from(sent);
    }
}

/// Accepts until the runtime stops; returns the error that ended it. Each
/// connection runs in its own thread; all are joined before returning.
fn accept_loop(
    listener: &TcpListener,
    service: &Arc<Service>,
    totals: &Arc<Mutex<Totals>>,
    moved: &Arc<Traffic>,
) -> io::Error {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let err = loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => break e,
        };
        totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .accepted += 1;
        if matches!(**service, Service::Http(_)) {
            let _ = stream.set_read_timeout(Some(HTTP_IDLE_TIMEOUT));
        }
        let (service, totals, moved) = (service.clone(), totals.clone(), moved.clone());
        workers.retain(|w| !w.is_finished());
        workers.push(thread::spawn(move || {
            let result = service.serve(Counted {
                inner: stream,
                traffic: moved,
            });
            let mut t = totals.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(stats) => t.stats += stats,
                Err(_) => t.failed += 1,
            }
        }));
    };
    for w in workers {
        let _ = w.join();
    }
    err
}

fn print_summary(t: &Totals, traffic: &Traffic, rt: &synack::Runtime) {
    let s = rt.stats();
    println!(
        "connections: {} accepted, {} ended with an error",
        t.accepted, t.failed
    );
    println!(
        "data:        {} in ({} bytes), {} out ({} bytes){}",
        human_bytes(traffic.read.get()),
        traffic.read.get(),
        human_bytes(traffic.written.get()),
        traffic.written.get(),
        if t.stats.requests > 0 {
            format!(", {} HTTP requests", t.stats.requests)
        } else {
            String::new()
        }
    );
    println!(
        "segments:    {} in, {} out, {} retransmitted ({} fast retransmits, {} timeouts), {} resets sent",
        s.stack.tcp.in_segs,
        s.stack.tcp.out_segs,
        s.stack.tcp.retrans_segs,
        s.stack.tcp_ext.tcp_fast_retrans,
        s.stack.tcp_ext.tcp_timeouts,
        s.stack.tcp.out_rsts
    );
    let ext = &s.stack.tcp_ext;
    if ext.syncookies_sent + ext.syncookies_recv + ext.syncookies_failed > 0 {
        println!(
            "syn cookies: {} sent, {} valid back, {} invalid; {} SYNs dropped by the listener",
            ext.syncookies_sent, ext.syncookies_recv, ext.syncookies_failed, ext.listen_drops
        );
    }
    println!(
        "frames:      {} in, {} out, {} dropped by a full device queue",
        s.driver.frames_in, s.driver.frames_out, s.driver.tx_dropped
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_argument_is_three_numbers() {
        let k: KeepaliveArg = "60,10,5".parse().unwrap();
        assert_eq!(
            k.0,
            Keepalive::new(Duration::from_secs(60), Duration::from_secs(10), 5)
        );
        for bad in ["60,10", "60,10,0", "0,1,1", "a,b,c", "1,1,300"] {
            assert!(bad.parse::<KeepaliveArg>().is_err(), "{bad}");
        }
    }
}
