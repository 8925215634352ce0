//! `synack ping HOST`: ICMP echo (RFC 792) from the stack on a TAP/TUN
//! device, printed the way iputils' `ping` prints it, so its output reads
//! (and parses) like the tool everyone knows.
//!
//! The requests go out through a [`PingSocket`] (Linux's ping socket
//! semantics) with IP_RECVERR on, so the ICMP errors routers and hosts send
//! back about them (time exceeded, destination unreachable) are printed as
//! `From ADDR icmp_seq=N ...` lines, as iputils prints them. Round-trip
//! times are measured from the send instant kept here per sequence number,
//! not from a timestamp in the data, so every size (even `-s 0`) is timed.
//!
//! The formatting is in small pure functions ([`reply_line`],
//! [`error_line`], [`statistics`]) with unit tests; [`Pinger`] is the loop
//! that sends, waits and counts.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use signal_hook::consts::SIGINT;
use synack::Runtime;
use synack::net::{PingErrorReport, PingEvent, PingReply, PingSocket, PmtuDiscovery};
use synack_proto::Config;
use synack_proto::ip::icmp::{IcmpErrorKind, msg_type};
use synack_proto::ping::HEADER_LEN;

use crate::link::{self, LinkArgs, SetupError};

const EXAMPLES: &str = "\
Examples:
  # Three echoes to the kernel's side of a TAP:
  synack ping -c 3 192.0.2.1 --tap synack0 --addr 192.0.2.2/24 --peer-addr 192.0.2.1/24

  # Where does a TTL of 1 end? Through the kernel as the gateway (it must forward):
  synack ping -t 1 203.0.113.1 --tap synack0 --addr 192.0.2.2/24 --peer-addr 192.0.2.1/24 \\
      --gateway 192.0.2.1

  # Five requests a second with 1400 data bytes each, over a lossy TUN:
  synack ping -c 50 -i 0.2 -s 1400 192.0.2.1 --tun synack0 --addr 192.0.2.2/24 \\
      --peer-addr 192.0.2.1/24 --loss 0.1

Unlike iputils' ping, which goes on until interrupted, 4 requests are sent unless -c says
otherwise; Ctrl-C stops early and prints the statistics. Exit status: 0 if any reply came
back, 1 if none did, 2 for a usage or setup error.

Needs root (or CAP_NET_ADMIN) and /dev/net/tun. Use TEST-NET addresses, ideally in a network
namespace of your own.";

/// The most data an echo request carries: an IPv4 datagram's 65535 bytes
/// less the IP header (20) and the ICMP header (8).
pub const MAX_DATA: u16 = 65_535 - 20 - HEADER_LEN as u16;

/// The shortest interval between requests accepted by `-i`.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The longest `-i` or `-W`: 2^31 - 1 milliseconds, about 24 days, as
/// iputils' timers allow (and far from overflowing an `Instant`).
const MAX_SECONDS: f64 = 2_147_483.647;

/// How often the receive loop looks at Ctrl-C while it waits.
const POLL: Duration = Duration::from_millis(100);

/// `ping`'s options (iputils' letters).
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct PingArgs {
    /// Whom to ping: an IPv4 address (no host names).
    #[arg(value_name = "HOST", value_parser = host)]
    host: Ipv4Addr,
    #[command(flatten)]
    link: LinkArgs,
    /// Send COUNT echo requests (1-65535; default 4, where iputils' ping goes on forever).
    #[arg(
        short = 'c',
        long = "count",
        value_name = "COUNT",
        default_value_t = 4,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    count: u16,
    /// Wait SECS seconds between requests (fractions too, at least 0.01).
    #[arg(
        short = 'i',
        long = "interval",
        value_name = "SECS",
        default_value = "1",
        value_parser = interval
    )]
    interval: Duration,
    /// Send SIZE data bytes in each request (0-65507), after the 8-byte ICMP header.
    #[arg(
        short = 's',
        long = "size",
        value_name = "SIZE",
        default_value_t = 56,
        value_parser = clap::value_parser!(u16).range(..=i64::from(MAX_DATA))
    )]
    size: u16,
    /// Send the requests with this IP time to live (IP_TTL, 1-255; default: the stack's 64).
    #[arg(
        short = 't',
        long = "ttl",
        value_name = "TTL",
        value_parser = clap::value_parser!(u32).range(1..=255)
    )]
    ttl: Option<u32>,
    /// Path MTU discovery, as iputils' ping -M: do (DF; a request larger than the path MTU is
    /// refused), want (DF when it fits, else fragments; the default), dont (never DF), probe (DF,
    /// bounded by the link's MTU only).
    #[arg(short = 'M', value_name = "PMTUDISC", value_enum)]
    pmtudisc: Option<PmtuArg>,
    /// Send the requests with this IP TOS byte (IP_TOS: DSCP and ECN, 0-255, decimal or 0x hex),
    /// as iputils' ping -Q; the replies carry it back.
    #[arg(short = 'Q', long = "tos", value_name = "TOS", value_parser = tos)]
    tos: Option<u8>,
    /// After the last request, wait up to SECS seconds for the replies still due.
    #[arg(
        short = 'W',
        long = "wait",
        value_name = "SECS",
        default_value = "2",
        value_parser = seconds
    )]
    wait: Duration,
    /// Allow a broadcast HOST (SO_BROADCAST); without it sending to one is refused.
    #[arg(short = 'b', long = "broadcast")]
    broadcast: bool,
    /// Record route: each request carries an IP record route option (nine slots) and each
    /// reply's route is printed, as iputils' ping -R.
    #[arg(short = 'R', long = "record-route")]
    record_route: bool,
}

/// `-R`'s IP option (RFC 791 §3.1): record route, type 7, 39 bytes, the
/// pointer at the first of nine empty slots.
const RECORD_ROUTE: [u8; 39] = {
    let mut option = [0; 39];
    option[0] = 7;
    option[1] = 39;
    option[2] = 4;
    option
};

/// HOST: an IPv4 address, said plainly when it is not one.
fn host(s: &str) -> Result<Ipv4Addr, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not an IPv4 address (synack ping resolves no names)"))
}

/// `-M`'s modes (IP_MTU_DISCOVER), in iputils' words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PmtuArg {
    Do,
    Want,
    Dont,
    Probe,
}

impl From<PmtuArg> for PmtuDiscovery {
    fn from(arg: PmtuArg) -> Self {
        match arg {
            PmtuArg::Do => PmtuDiscovery::Do,
            PmtuArg::Want => PmtuDiscovery::Want,
            PmtuArg::Dont => PmtuDiscovery::Dont,
            PmtuArg::Probe => PmtuDiscovery::Probe,
        }
    }
}

/// `-Q`: a TOS byte, decimal or `0x` hex, as iputils reads it.
fn tos(s: &str) -> Result<u8, String> {
    let value = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => s.parse(),
    };
    value.map_err(|_| format!("`{s}` is not a TOS byte (0 to 255, or 0x00 to 0xff)"))
}

/// A number of seconds, fractions allowed, up to [`MAX_SECONDS`] (`-W`).
fn seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|secs| *secs <= MAX_SECONDS)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("`{s}` is not a number of seconds (0 to {MAX_SECONDS})"))
}

/// `-i`: seconds, at least [`MIN_INTERVAL`] (iputils lets only root go
/// below 0.2 s; synack needs root anyway).
fn interval(s: &str) -> Result<Duration, String> {
    let d = seconds(s)?;
    if d < MIN_INTERVAL {
        return Err(format!(
            "`{s}` is shorter than the minimum interval, 0.01 s"
        ));
    }
    Ok(d)
}

/// `synack ping`: Ctrl-C's handler, the link, the socket, the run; setup
/// failures are one line and exit status 2.
pub fn run(args: &PingArgs) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(SIGINT, Arc::clone(&stop)) {
        return SetupError::new("installing the SIGINT handler", e).report("ping");
    }
    let mut link = match link::open(&args.link, Config::default()) {
        Ok(l) => l,
        Err(e) => return e.report("ping"),
    };
    let status = match open_socket(&link.rt, args) {
        Ok(socket) => ping(socket, args, &stop),
        Err(e) => SetupError::new("opening the ping socket", e).report("ping"),
    };
    link.rt.shutdown();
    drop(link.control.take());
    status
}

/// A ping socket with its own identifier, IP_RECVERR on, and `-t` and
/// `-b` applied.
fn open_socket(rt: &Runtime, args: &PingArgs) -> io::Result<PingSocket> {
    let socket = PingSocket::bind(rt, Ipv4Addr::UNSPECIFIED, 0)?;
    socket.set_recv_error(true)?;
    if let Some(ttl) = args.ttl {
        // iputils sets both: a group's requests take IP_MULTICAST_TTL.
        socket.set_ttl(ttl)?;
        socket.set_multicast_ttl_v4(ttl)?;
    }
    if let Some(tos) = args.tos {
        socket.set_tos(u32::from(tos))?;
    }
    if let Some(mode) = args.pmtudisc {
        socket.set_path_mtu_discovery(mode.into())?;
    }
    if args.broadcast {
        socket.set_broadcast(true)?;
    }
    if args.record_route {
        socket.set_ip_options(&RECORD_ROUTE)?;
        socket.set_recv_ip_options(true)?;
    }
    Ok(socket)
}

/// The whole run: the header, the requests and what came back, the
/// statistics; exit status 0 if a reply arrived, 1 if none did.
fn ping(socket: PingSocket, args: &PingArgs, stop: &AtomicBool) -> ExitCode {
    let mut pinger = match Pinger::new(socket, args, stop) {
        Ok(p) => p,
        Err(e) => return SetupError::new("binding the ping socket", e).report("ping"),
    };
    let options = if args.record_route {
        RECORD_ROUTE.len().next_multiple_of(4)
    } else {
        0
    };
    say(&header_line(args.host, args.size, options));
    pinger.run(args.interval, args.wait);
    say(&statistics(args.host, &pinger.tally, pinger.time_sending()));
    match pinger.tally.received {
        0 => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

/// One line on stdout; a closed stdout (`| head`) is not worth a panic.
fn say(text: &str) {
    let _ = writeln!(io::stdout(), "{text}");
}

/// Byte `i` of an echo request's data: `i + 8`, its offset in the ICMP
/// message (the pattern iputils' data shows after its timestamp).
fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i + HEADER_LEN) as u8).collect()
}

/// The first byte of a reply's `data` that differs from what was sent:
/// its index, the byte sent and the byte received.
fn wrong_byte(sent: &[u8], data: &[u8]) -> Option<(usize, u8, u8)> {
    sent.iter()
        .zip(data)
        .position(|(a, b)| a != b)
        .map(|i| (i, sent[i], data[i]))
}

/// `PING HOST (HOST) SIZE(TOTAL) bytes of data.`: the data size, then the
/// datagram's with the IP (20) and ICMP (8) headers.
fn header_line(dst: Ipv4Addr, size: u16, ip_options: usize) -> String {
    let total = usize::from(size) + 20 + ip_options + HEADER_LEN;
    format!("PING {dst} ({dst}) {size}({total}) bytes of data.")
}

/// The addresses a record route option (type 7) in `options` holds, as
/// far as its pointer says they were written; `None` without one.
fn recorded_route(options: &[u8]) -> Option<Vec<Ipv4Addr>> {
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        match kind {
            0 => return None,
            1 => at += 1,
            _ => {
                let len = usize::from(*options.get(at + 1)?);
                let option = options.get(at..at + len.max(2))?;
                if kind == 7 {
                    let end = usize::from(*option.get(2)?).min(len + 1);
                    let slots = option.get(3..end.saturating_sub(1).max(3))?;
                    return Some(
                        slots
                            .chunks_exact(4)
                            .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                            .collect(),
                    );
                }
                at += len.max(2);
            }
        }
    }
    None
}

/// What `-R` adds to a reply line, as iputils prints it: the route on
/// lines of its own after `RR: `, then an empty line; `\t(same route)`
/// when it is the one printed last.
fn route_text(route: &[Ipv4Addr], same: bool) -> String {
    if same {
        return "\t(same route)".to_owned();
    }
    let hops: Vec<String> = route.iter().map(|a| format!("\t{a}")).collect();
    format!("\nRR: {}\n", hops.join("\n"))
}

/// A round-trip time in milliseconds with iputils' precision: three
/// decimals below 1 ms, two below 10 ms, one below 100 ms, none above.
fn rtt_text(rtt: Duration) -> String {
    let us = rtt.as_micros();
    match us {
        0..1_000 => format!("0.{us:03}"),
        1_000..9_995 => {
            let hundredths = (us + 5) / 10;
            format!("{}.{:02}", hundredths / 100, hundredths % 100)
        }
        9_995..99_950 => {
            let tenths = (us + 50) / 100;
            format!("{}.{}", tenths / 10, tenths % 10)
        }
        _ => format!("{}", (us + 500) / 1000),
    }
}

/// What one reply line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReplyLine {
    /// The ICMP message's length (header and data), as iputils counts.
    bytes: usize,
    src: Ipv4Addr,
    seq: u16,
    ttl: u8,
    rtt: Duration,
    /// A second (or later) reply to the same request.
    dup: bool,
    /// Shorter than the request was.
    truncated: bool,
}

/// `64 bytes from 192.0.2.1: icmp_seq=1 ttl=64 time=0.412 ms`, with
/// ` (DUP!)` and ` (truncated)` as iputils adds them.
fn reply_line(r: &ReplyLine) -> String {
    let mut line = format!(
        "{} bytes from {}: icmp_seq={} ttl={} time={} ms",
        r.bytes,
        r.src,
        r.seq,
        r.ttl,
        rtt_text(r.rtt)
    );
    if r.dup {
        line.push_str(" (DUP!)");
    }
    if r.truncated {
        line.push_str(" (truncated)");
    }
    line
}

/// Destination unreachable's codes as iputils names them (RFC 792 for
/// 0-5, RFC 1122 §3.2.2.1 for 6-12, RFC 1812 §5.2.7.1 for 13-15); code 4
/// is [`error_text`]'s, with its MTU.
const DST_UNREACHABLE: [&str; 16] = [
    "Destination Net Unreachable",
    "Destination Host Unreachable",
    "Destination Protocol Unreachable",
    "Destination Port Unreachable",
    "Frag needed and DF set",
    "Source Route Failed",
    "Destination Net Unknown",
    "Destination Host Unknown",
    "Source Host Isolated",
    "Destination Net Prohibited",
    "Destination Host Prohibited",
    "Destination Net Unreachable for Type of Service",
    "Destination Host Unreachable for Type of Service",
    "Packet filtered",
    "Precedence Violation",
    "Precedence Cutoff",
];

/// Linux's EMSGSIZE.
const EMSGSIZE: i32 = 90;

/// `ping: local error: message too long, mtu=1280`: a request larger than
/// the path MTU refused by `-M do`, as iputils prints it.
fn local_error_line(mtu: u16) -> String {
    format!("ping: local error: message too long, mtu={mtu}")
}

/// What an ICMP error about a request says, in iputils' words.
fn error_text(report: &PingErrorReport) -> String {
    let (kind, (ty, code)) = (report.error.kind, report.icmp_type_code());
    match (kind, ty) {
        (IcmpErrorKind::FragNeeded { next_hop_mtu }, _) => {
            format!("Frag needed and DF set (mtu = {next_hop_mtu})")
        }
        (IcmpErrorKind::ParamProblem { pointer }, _) => {
            format!("Parameter problem: pointer = {pointer}")
        }
        (_, msg_type::DST_UNREACHABLE) => match DST_UNREACHABLE.get(usize::from(code)) {
            Some(name) => (*name).to_owned(),
            None => format!("Destination unreachable, code {code}"),
        },
        (_, msg_type::TIME_EXCEEDED) => match code {
            0 => "Time to live exceeded".to_owned(),
            1 => "Frag reassembly time exceeded".to_owned(),
            _ => format!("Time exceeded, code {code}"),
        },
        _ => format!("ICMP type {ty}, code {code}"),
    }
}

/// `From 192.0.2.1 icmp_seq=2 Time to live exceeded`: who sent the error,
/// about which request, saying what.
fn error_line(report: &PingErrorReport) -> String {
    format!(
        "From {} icmp_seq={} {}",
        report.offender,
        report.seq,
        error_text(report)
    )
}

/// What a run counted, for the statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tally {
    /// Requests sent, or tried (a send that failed counts, as iputils).
    transmitted: u32,
    /// Requests answered (each once).
    received: u32,
    /// Replies to requests already answered.
    duplicates: u32,
    /// ICMP errors about our requests.
    errors: u32,
    /// Every reply's round-trip time, duplicates too (iputils counts them).
    rtts: Vec<Duration>,
}

/// A count of something as C's `%g` prints it (six significant digits,
/// no trailing zeros): `33.3333`, `50`, `0`. For the loss percentage,
/// which is never below 100/65535, so never in `%g`'s exponent form.
fn g_format(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    let exponent = x.abs().log10().floor() as i32;
    let decimals = (5 - exponent).max(0) as usize;
    let text = format!("{x:.decimals$}");
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_owned(),
        false => text,
    }
}

/// The loss in percent: requests not answered among those transmitted.
fn loss_percent(transmitted: u32, received: u32) -> f64 {
    f64::from(transmitted.saturating_sub(received)) * 100.0 / f64::from(transmitted)
}

/// `rtt min/avg/max/mdev = ...`, in milliseconds; mdev as iputils computes
/// it, the standard deviation sqrt(mean(t²) - mean(t)²). In whole
/// microseconds, as the reply lines, so the two agree to the digit. `None`
/// without replies.
fn rtt_summary(rtts: &[Duration]) -> Option<String> {
    let us: Vec<u128> = rtts.iter().map(Duration::as_micros).collect();
    let n = us.len() as u128;
    let min = *us.iter().min()?;
    let max = *us.iter().max()?;
    let mean = us.iter().sum::<u128>() / n;
    let mean_sq = us.iter().map(|t| t * t).sum::<u128>() / n;
    let mdev = mean_sq.saturating_sub(mean * mean).isqrt();
    let ms = |t: u128| format!("{}.{:03}", t / 1000, t % 1000);
    Some(format!(
        "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
        ms(min),
        ms(mean),
        ms(max),
        ms(mdev)
    ))
}

/// The block iputils ends with: a blank line, `--- HOST ping statistics
/// ---`, the counts (`+N duplicates` and `+N errors` only when there are
/// some; loss and time only after a request), and the round-trip times if
/// a reply came. `time` is how long the requests took to send, first to
/// last.
fn statistics(dst: Ipv4Addr, tally: &Tally, time: Duration) -> String {
    let mut counts = format!(
        "{} packets transmitted, {} received",
        tally.transmitted, tally.received
    );
    if tally.duplicates > 0 {
        counts.push_str(&format!(", +{} duplicates", tally.duplicates));
    }
    if tally.errors > 0 {
        counts.push_str(&format!(", +{} errors", tally.errors));
    }
    if tally.transmitted > 0 {
        let loss = loss_percent(tally.transmitted, tally.received);
        let ms = (time.as_nanos() + 500_000) / 1_000_000;
        counts.push_str(&format!(", {}% packet loss, time {ms}ms", g_format(loss)));
    }
    let mut block = format!("\n--- {dst} ping statistics ---\n{counts}");
    if let Some(rtt) = rtt_summary(&tally.rtts) {
        block.push('\n');
        block.push_str(&rtt);
    }
    block
}

/// Where one request stands.
#[derive(Debug, Clone, Copy, Default)]
struct Request {
    /// When it went out (`None`: not yet, or its send failed).
    sent_at: Option<Instant>,
    /// A reply came (a second one is a DUP!).
    replied: bool,
    /// Nothing more is awaited: replied to, reported on, or never sent.
    settled: bool,
}

/// One run of `ping`: the socket, the requests by sequence number (1 to
/// COUNT, so every reply names its request unambiguously), the tally.
struct Pinger<'a> {
    socket: PingSocket,
    dst: Ipv4Addr,
    /// The socket's echo identifier; a reply with another is not ours.
    ident: u16,
    data: Vec<u8>,
    requests: Vec<Request>,
    tally: Tally,
    /// The first and the latest request sent, for the statistics' time.
    first_sent: Option<Instant>,
    last_sent: Option<Instant>,
    /// Room for the largest reply, so none is cut short.
    buf: Vec<u8>,
    /// The record route printed last (`-R`).
    last_route: Option<Vec<Ipv4Addr>>,
    /// `-M`, for the MTU a refused request's line names.
    pmtudisc: Option<PmtuArg>,
    /// Set by Ctrl-C (SIGINT).
    stop: &'a AtomicBool,
}

impl std::fmt::Debug for Pinger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinger")
            .field("dst", &self.dst)
            .field("ident", &self.ident)
            .field("tally", &self.tally)
            .finish_non_exhaustive()
    }
}

impl<'a> Pinger<'a> {
    fn new(socket: PingSocket, args: &PingArgs, stop: &'a AtomicBool) -> io::Result<Self> {
        let (_, ident) = socket.local_addr()?;
        Ok(Pinger {
            socket,
            dst: args.host,
            ident,
            data: pattern(usize::from(args.size)),
            requests: vec![Request::default(); usize::from(args.count)],
            tally: Tally::default(),
            first_sent: None,
            last_sent: None,
            buf: vec![0; HEADER_LEN + usize::from(MAX_DATA)],
            last_route: None,
            pmtudisc: args.pmtudisc,
            stop,
        })
    }

    /// Sends the requests one `interval` apart, printing what comes back
    /// meanwhile, then waits up to `wait` for what is still due.
    fn run(&mut self, interval: Duration, wait: Duration) {
        let start = Instant::now();
        let count = self.requests.len() as u16;
        for seq in 1..=count {
            let due = start + interval * u32::from(seq - 1);
            if !self.receive_until(due, false) {
                return;
            }
            self.send(seq);
        }
        let end = self.last_sent.unwrap_or(start) + wait;
        self.receive_until(end, true);
    }

    /// The time from the first request to the last.
    fn time_sending(&self) -> Duration {
        match (self.first_sent, self.last_sent) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        }
    }

    fn request(&mut self, seq: u16) -> Option<&mut Request> {
        self.requests.get_mut(usize::from(seq).checked_sub(1)?)
    }

    /// Sends request `seq`; a failure is printed and the request counted
    /// as transmitted but lost, as iputils does.
    fn send(&mut self, seq: u16) {
        let now = Instant::now();
        let mut sent = self.socket.send_echo(self.dst, seq, &self.data);
        // An ICMP error about an earlier request that was not read yet is
        // also the socket's pending error, which the send reported instead
        // of sending (as Linux's sendmsg does, `sock_alloc_send_pskb`
        // taking `sk_err`): read the reports, then try again.
        if sent.is_err() && self.drain() > 0 {
            sent = self.socket.send_echo(self.dst, seq, &self.data);
        }
        self.tally.transmitted += 1;
        self.first_sent.get_or_insert(now);
        self.last_sent = Some(now);
        let request = self.request(seq).expect("seq is 1 to COUNT");
        match sent {
            Ok(()) => request.sent_at = Some(now),
            // EMSGSIZE (`-M do` past the path MTU): iputils prints the
            // MTU its error queue's local report names.
            Err(e) if e.raw_os_error() == Some(EMSGSIZE) => {
                request.settled = true;
                // The MTU the request met: the link's under `-M probe`.
                let rt = self.socket.runtime();
                let mtu = match self.pmtudisc {
                    Some(PmtuArg::Probe) => rt.link_mtu(self.dst),
                    _ => rt.path_mtu(self.dst),
                };
                let mtu = mtu.unwrap_or(0);
                let _ = writeln!(io::stderr(), "{}", local_error_line(mtu));
            }
            Err(e) => {
                request.settled = true;
                let _ = writeln!(io::stderr(), "ping: sendmsg: {}", describe(&e));
            }
        }
    }

    /// Reads what is already there without waiting; returns how many
    /// error reports it read.
    fn drain(&mut self) -> usize {
        let mut reports = 0;
        if self.socket.set_nonblocking(true).is_err() {
            return 0;
        }
        while let Ok(event) = self.socket.recv(&mut self.buf) {
            reports += usize::from(matches!(event, PingEvent::Error(_)));
            self.handle(event, Instant::now());
        }
        let _ = self.socket.set_nonblocking(false);
        reports
    }

    /// Prints replies and errors until `deadline` (or, with
    /// `until_settled`, until nothing more is awaited). `false` when the
    /// run should end: Ctrl-C, or the socket failed.
    fn receive_until(&mut self, deadline: Instant, until_settled: bool) -> bool {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            if until_settled && self.requests.iter().all(|r| r.settled) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            let patience = (deadline - now).min(POLL);
            if self.socket.set_read_timeout(Some(patience)).is_err() {
                return false;
            }
            match self.socket.recv(&mut self.buf) {
                Ok(event) => self.handle(event, Instant::now()),
                Err(e) if is_timeout(&e) => {}
                // A pending ICMP error that had no report (the error queue
                // was full): said once, as iputils says a failed recvmsg.
                Err(e) if e.raw_os_error().is_some() => {
                    let _ = writeln!(io::stderr(), "ping: recvmsg: {}", describe(&e));
                }
                Err(e) => {
                    let _ = writeln!(io::stderr(), "ping: recvmsg: {}", describe(&e));
                    return false;
                }
            }
        }
    }

    fn handle(&mut self, event: PingEvent, now: Instant) {
        match event {
            PingEvent::Reply(reply) => self.on_reply(&reply, now),
            PingEvent::Error(report) => self.on_error(&report),
        }
    }

    /// A reply to one of our requests is printed and timed (a second one
    /// as a DUP!); one with another identifier, or to a sequence number
    /// never sent, is not ours and is ignored.
    fn on_reply(&mut self, reply: &PingReply, now: Instant) {
        if reply.ident != self.ident {
            return;
        }
        let Some(request) = self.request(reply.seq) else {
            return;
        };
        let Some(sent_at) = request.sent_at else {
            return;
        };
        let dup = request.replied;
        request.replied = true;
        request.settled = true;
        let rtt = now.saturating_duration_since(sent_at);
        match dup {
            true => self.tally.duplicates += 1,
            false => self.tally.received += 1,
        }
        self.tally.rtts.push(rtt);
        let data = &self.buf[HEADER_LEN.min(reply.len)..reply.len];
        let mut line = reply_line(&ReplyLine {
            bytes: reply.len,
            src: reply.src,
            seq: reply.seq,
            ttl: reply.ttl,
            rtt,
            dup,
            truncated: reply.truncated || data.len() < self.data.len(),
        });
        if let Some(route) = recorded_route(reply.ip_options()) {
            let same = self.last_route.as_ref() == Some(&route);
            line.push_str(&route_text(&route, same));
            self.last_route = Some(route);
        }
        if let Some((i, sent, got)) = wrong_byte(&self.data, data) {
            line.push_str(&format!(
                "\nwrong data byte #{i} should be 0x{sent:x} but was 0x{got:x}"
            ));
        }
        say(&line);
    }

    /// An ICMP error about one of our requests to HOST is printed and
    /// counted; the request is then no longer awaited.
    fn on_error(&mut self, report: &PingErrorReport) {
        if report.dst != self.dst {
            return;
        }
        match self.request(report.seq) {
            Some(request) if request.sent_at.is_some() => request.settled = true,
            _ => return,
        }
        self.tally.errors += 1;
        say(&error_line(report));
    }
}

/// A receive that found nothing in time.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// An error in the OS's words, without std's ` (os error N)`.
fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(at)) => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_proto::ip::icmp::{IcmpErrno, IcmpError};
    use synack_proto::wire::icmpv4::{DstUnreachable, TimeExceeded};

    const KERNEL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    #[test]
    fn a_refused_request_reads_as_iputils_local_error() {
        assert_eq!(
            local_error_line(1280),
            "ping: local error: message too long, mtu=1280"
        );
        assert_eq!(tos("0xb8"), Ok(0xb8));
        assert_eq!(tos("184"), Ok(184));
        assert!(tos("-1").is_err());
        assert_eq!(PmtuDiscovery::from(PmtuArg::Do), PmtuDiscovery::Do);
    }
    const FAR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
    const STACK: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    fn report(kind: IcmpErrorKind, seq: u16) -> PingErrorReport {
        PingErrorReport {
            offender: KERNEL,
            error: IcmpError {
                kind,
                errno: IcmpErrno::HostUnreachable,
                fatal: false,
            },
            dst: FAR,
            seq,
        }
    }

    fn unreachable(code: u8) -> PingErrorReport {
        report(IcmpErrorKind::DstUnreachable(DstUnreachable::from(code)), 1)
    }

    #[test]
    fn a_record_route_is_read_to_its_pointer_and_printed_as_iputils_does() {
        let mut options = RECORD_ROUTE.to_vec();
        options.push(0);
        assert_eq!(recorded_route(&options), Some(vec![]));
        // Two hops written: the pointer past them.
        options[2] = 12;
        options[3..11].copy_from_slice(&[192, 0, 2, 2, 192, 0, 2, 1]);
        let route = recorded_route(&options).unwrap();
        assert_eq!(route, [STACK, KERNEL]);
        // After a NOP, and with a pointer past its end (full).
        let mut padded = vec![1];
        padded.extend_from_slice(&[7, 11, 12, 192, 0, 2, 2, 192, 0, 2, 1]);
        assert_eq!(recorded_route(&padded), Some(vec![STACK, KERNEL]));
        // Other options, truncated ones, none: no route.
        assert_eq!(recorded_route(&[68, 4, 5, 0]), None);
        assert_eq!(recorded_route(&[7, 39, 4]), None);
        assert_eq!(recorded_route(&[]), None);
        assert_eq!(
            route_text(&route, false),
            "\nRR: \t192.0.2.2\n\t192.0.2.1\n"
        );
        assert_eq!(route_text(&route, true), "\t(same route)");
        assert_eq!(
            header_line(KERNEL, 56, 40),
            "PING 192.0.2.1 (192.0.2.1) 56(124) bytes of data."
        );
    }

    #[test]
    fn the_header_counts_data_then_the_whole_datagram() {
        assert_eq!(
            header_line(KERNEL, 56, 0),
            "PING 192.0.2.1 (192.0.2.1) 56(84) bytes of data."
        );
        assert_eq!(
            header_line(FAR, MAX_DATA, 0),
            "PING 203.0.113.1 (203.0.113.1) 65507(65535) bytes of data."
        );
    }

    #[test]
    fn a_reply_line_is_iputils_and_marks_duplicates() {
        let mut r = ReplyLine {
            bytes: 64,
            src: KERNEL,
            seq: 1,
            ttl: 64,
            rtt: Duration::from_micros(412),
            dup: false,
            truncated: false,
        };
        assert_eq!(
            reply_line(&r),
            "64 bytes from 192.0.2.1: icmp_seq=1 ttl=64 time=0.412 ms"
        );
        r.dup = true;
        r.seq = 3;
        assert_eq!(
            reply_line(&r),
            "64 bytes from 192.0.2.1: icmp_seq=3 ttl=64 time=0.412 ms (DUP!)"
        );
        r.dup = false;
        r.truncated = true;
        r.bytes = 20;
        assert!(reply_line(&r).ends_with("time=0.412 ms (truncated)"));
    }

    #[test]
    fn round_trip_times_keep_three_significant_digits() {
        let cases = [
            (0, "0.000"),
            (45, "0.045"),
            (999, "0.999"),
            (1_000, "1.00"),
            (1_234, "1.23"),
            (9_994, "9.99"),
            (9_995, "10.0"),
            (12_345, "12.3"),
            (99_949, "99.9"),
            (99_950, "100"),
            (123_456, "123"),
            (2_000_400, "2000"),
        ];
        for (us, text) in cases {
            assert_eq!(rtt_text(Duration::from_micros(us)), text, "{us} us");
        }
    }

    #[test]
    fn icmp_errors_are_named_as_iputils_names_them() {
        let ttl = report(IcmpErrorKind::TimeExceeded(TimeExceeded::TtlExpired), 2);
        assert_eq!(
            error_line(&ttl),
            "From 192.0.2.1 icmp_seq=2 Time to live exceeded"
        );
        let names = [
            (0, "Destination Net Unreachable"),
            (1, "Destination Host Unreachable"),
            (2, "Destination Protocol Unreachable"),
            (3, "Destination Port Unreachable"),
            (5, "Source Route Failed"),
            (10, "Destination Host Prohibited"),
            (13, "Packet filtered"),
            (15, "Precedence Cutoff"),
            (16, "Destination unreachable, code 16"),
        ];
        for (code, name) in names {
            assert_eq!(error_text(&unreachable(code)), name, "code {code}");
        }
        let frag = report(IcmpErrorKind::FragNeeded { next_hop_mtu: 1400 }, 1);
        assert_eq!(error_text(&frag), "Frag needed and DF set (mtu = 1400)");
        let param = report(IcmpErrorKind::ParamProblem { pointer: 20 }, 1);
        assert_eq!(error_text(&param), "Parameter problem: pointer = 20");
        let reassembly = report(IcmpErrorKind::TimeExceeded(TimeExceeded::FragExpired), 1);
        assert_eq!(error_text(&reassembly), "Frag reassembly time exceeded");
        let odd = report(IcmpErrorKind::TimeExceeded(TimeExceeded::Other(7)), 1);
        assert_eq!(error_text(&odd), "Time exceeded, code 7");
    }

    #[test]
    fn statistics_when_everything_came_back() {
        let tally = Tally {
            transmitted: 3,
            received: 3,
            rtts: vec![us(1_000), us(2_000), us(3_000)],
            ..Tally::default()
        };
        assert_eq!(
            statistics(KERNEL, &tally, Duration::from_micros(2_003_499)),
            "\n--- 192.0.2.1 ping statistics ---\n\
             3 packets transmitted, 3 received, 0% packet loss, time 2003ms\n\
             rtt min/avg/max/mdev = 1.000/2.000/3.000/0.816 ms"
        );
    }

    #[test]
    fn statistics_without_replies_have_no_rtt_line_and_count_errors() {
        let tally = Tally {
            transmitted: 2,
            errors: 2,
            ..Tally::default()
        };
        assert_eq!(
            statistics(FAR, &tally, Duration::from_millis(200)),
            "\n--- 203.0.113.1 ping statistics ---\n\
             2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 200ms"
        );
        let nothing = Tally::default();
        assert_eq!(
            statistics(FAR, &nothing, Duration::ZERO),
            "\n--- 203.0.113.1 ping statistics ---\n0 packets transmitted, 0 received"
        );
    }

    #[test]
    fn statistics_count_duplicates_apart_and_time_them_too() {
        let tally = Tally {
            transmitted: 2,
            received: 2,
            duplicates: 1,
            rtts: vec![us(100), us(200), us(300)],
            ..Tally::default()
        };
        let text = statistics(KERNEL, &tally, Duration::from_millis(1000));
        assert!(
            text.contains(
                "2 packets transmitted, 2 received, +1 duplicates, 0% packet loss, time 1000ms"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("rtt min/avg/max/mdev = 0.100/0.200/0.300/0.081 ms"),
            "{text}"
        );
    }

    #[test]
    fn loss_is_printed_as_percent_g_does() {
        let cases = [
            (3, 3, "0"),
            (3, 2, "33.3333"),
            (3, 1, "66.6667"),
            (7, 6, "14.2857"),
            (4, 2, "50"),
            (4, 0, "100"),
            (65535, 65534, "0.0015259"),
        ];
        for (t, r, text) in cases {
            assert_eq!(g_format(loss_percent(t, r)), text, "{r} of {t}");
        }
    }

    #[test]
    fn mdev_is_the_standard_deviation() {
        assert_eq!(rtt_summary(&[]), None);
        assert_eq!(
            rtt_summary(&[us(123), us(156), us(321)]).unwrap(),
            "rtt min/avg/max/mdev = 0.123/0.200/0.321/0.086 ms"
        );
        assert_eq!(
            rtt_summary(&[us(5_000)]).unwrap(),
            "rtt min/avg/max/mdev = 5.000/5.000/5.000/0.000 ms"
        );
    }

    #[test]
    fn the_data_is_a_pattern_checked_byte_by_byte() {
        let data = pattern(300);
        assert_eq!(&data[..3], &[0x08, 0x09, 0x0a]);
        assert_eq!(data[248], 0x00, "wraps at 256");
        assert_eq!(wrong_byte(&data, &data), None);
        let mut bad = data.clone();
        bad[5] = 0xff;
        assert_eq!(wrong_byte(&data, &bad), Some((5, 0x0d, 0xff)));
        assert_eq!(
            wrong_byte(&data, &data[..10]),
            None,
            "short: no byte differs"
        );
    }

    #[test]
    fn options_refuse_what_ping_cannot_do() {
        assert_eq!(host("192.0.2.1"), Ok(KERNEL));
        assert!(
            host("example.com")
                .unwrap_err()
                .contains("not an IPv4 address")
        );
        assert_eq!(interval("0.2"), Ok(Duration::from_millis(200)));
        assert_eq!(interval("0.01"), Ok(MIN_INTERVAL));
        assert!(interval("0.001").is_err());
        assert!(interval("-1").is_err());
        assert_eq!(seconds("2"), Ok(Duration::from_secs(2)));
        assert!(seconds("soon").is_err());
        assert!(seconds("NaN").is_err());
        assert!(seconds("-1").is_err());
        assert_eq!(seconds("0"), Ok(Duration::ZERO));
        assert!(seconds("2147483.647").is_ok());
        assert!(seconds("2147484").is_err());
    }

    #[test]
    fn os_errors_lose_their_number() {
        let e = io::Error::from_raw_os_error(101);
        assert_eq!(describe(&e), "Network is unreachable");
        let e = io::Error::new(io::ErrorKind::PermissionDenied, "no broadcast");
        assert_eq!(describe(&e), "no broadcast");
    }
}
