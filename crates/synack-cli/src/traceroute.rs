//! `synack traceroute HOST`: the path to HOST hop by hop, as Van
//! Jacobson's traceroute finds it (TCP/IP Illustrated, Vol. 1, ch. 8;
//! Linux's traceroute(8)): probes with TTL 1, 2, ... until the destination
//! answers. Each router on the way names itself with ICMP time exceeded
//! (RFC 792, RFC 1812 §5.3.1), which the probes' socket hears by
//! IP_RECVERR. UDP probes to unlikely ports (33434 up) by default, whose
//! end is the destination's port unreachable; ICMP echo requests with
//! `-I`, whose end is its echo reply.

use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use synack::net::{PingEvent, PingSocket, PmtuDiscovery, UdpSocket};
use synack_proto::Config;

use crate::link::{self, LinkArgs};

const EXAMPLES: &str = "\
Examples:
  # The path to 203.0.113.1 through the kernel's side of a TAP as the gateway:
  synack traceroute 203.0.113.1 --tap synack0 --addr 192.0.2.2/24 --peer-addr 192.0.2.1/24 \\
      --gateway 192.0.2.1

  # The same with ICMP echo probes, one per hop, waiting 1 s for each:
  synack traceroute -I -q 1 -w 1 203.0.113.1 --tap synack0 --addr 192.0.2.2/24 --gateway 192.0.2.1

Needs root (or CAP_NET_ADMIN) and /dev/net/tun. Use TEST-NET addresses, ideally in a network
namespace of your own.";

/// The data each probe carries: 60-byte datagrams, as Linux's default.
const PROBE_DATA: usize = 32;

/// A probe's IP header and its UDP or ICMP echo header (8 bytes either way).
const HEADERS: usize = 20 + 8;

/// `traceroute`'s options (Linux traceroute's letters).
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct TracerouteArgs {
    /// The destination: an IPv4 address.
    #[arg(value_name = "HOST")]
    target: Ipv4Addr,
    #[command(flatten)]
    link: LinkArgs,
    /// Probe with ICMP echo requests instead of UDP datagrams.
    #[arg(short = 'I', long = "icmp")]
    icmp: bool,
    /// The TTL of the first probes.
    #[arg(short = 'f', long = "first", value_name = "TTL", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..))]
    first: u8,
    /// The largest TTL to try.
    #[arg(short = 'm', long = "max-hops", value_name = "TTL", default_value_t = 30,
          value_parser = clap::value_parser!(u8).range(1..))]
    max_hops: u8,
    /// Probes per hop.
    #[arg(short = 'q', long = "queries", value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=10))]
    queries: u8,
    /// Seconds to wait for each probe's answer.
    #[arg(short = 'w', long = "wait", value_name = "SECS", default_value = "5",
          value_parser = wait_secs)]
    wait: Duration,
    /// The first probe's UDP destination port, each next probe one more
    /// (with -I: the first sequence number).
    #[arg(short = 'p', long = "port", value_name = "N", default_value_t = 33434)]
    port: u16,
}

fn wait_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if (0.001..=3600.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!("`{s}` is not a wait in seconds (0.001 to 3600)")),
    }
}

/// What became of one probe.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    /// Nothing within the wait.
    Silence,
    /// `from` answered after `rtt`: a router's time exceeded (`end` false),
    /// or the end of the path: the destination's port unreachable or echo
    /// reply, or an unreachable (`mark`: `!H`, `!N`, ...).
    From {
        from: Ipv4Addr,
        rtt: Duration,
        mark: Option<&'static str>,
        end: bool,
    },
}

/// Linux traceroute's mark for an ICMP destination unreachable `code`
/// from someone other than the destination's port: `None` for the
/// destination's own port unreachable (the path's end, unmarked).
fn unreachable_mark(code: u8, from_target: bool) -> Option<&'static str> {
    Some(match code {
        0 | 6 | 11 => "!N",
        1 | 7 | 12 => "!H",
        2 => "!P",
        3 if from_target => return None,
        3 => "!",
        4 => "!F",
        5 => "!S",
        9 | 10 | 13 => "!X",
        14 => "!V",
        15 => "!C",
        _ => "!?",
    })
}

/// An ICMP error's meaning for the probe it quotes, from `from` after
/// `rtt`; `None` for a kind traceroute does not read (a parameter
/// problem).
fn classify(
    (icmp_type, code): (u8, u8),
    from: Ipv4Addr,
    target: Ipv4Addr,
    rtt: Duration,
) -> Option<Answer> {
    match icmp_type {
        11 => Some(Answer::From {
            from,
            rtt,
            mark: None,
            end: false,
        }),
        3 => Some(Answer::From {
            from,
            rtt,
            mark: unreachable_mark(code, from == target),
            end: true,
        }),
        _ => None,
    }
}

/// One hop's line as Linux traceroute prints it with `-n`: the TTL, then
/// each probe's answer, its sender written only where it differs from the
/// previous one's.
fn hop_line(ttl: u8, answers: &[Answer]) -> String {
    let mut line = format!("{ttl:2} ");
    let mut last = None;
    for answer in answers {
        match *answer {
            Answer::Silence => line.push_str(" *"),
            Answer::From {
                from, rtt, mark, ..
            } => {
                if last != Some(from) {
                    let _ = write!(line, " {from}");
                    last = Some(from);
                }
                let _ = write!(line, "  {:.3} ms", rtt.as_secs_f64() * 1000.0);
                if let Some(mark) = mark {
                    let _ = write!(line, " {mark}");
                }
            }
        }
    }
    line
}

/// The probes' socket, UDP or ping.
enum Prober {
    Udp(UdpSocket),
    Icmp(PingSocket),
}

impl Prober {
    /// Probes without DF, as traceroute sends them unless `-F`
    /// (IP_PMTUDISC_DONT).
    fn open(rt: &synack::Runtime, icmp: bool) -> io::Result<Prober> {
        if icmp {
            let ping = PingSocket::open(rt)?;
            ping.set_recv_error(true)?;
            ping.set_path_mtu_discovery(PmtuDiscovery::Dont)?;
            Ok(Prober::Icmp(ping))
        } else {
            let udp = UdpSocket::bind(rt, "0.0.0.0:0")?;
            udp.set_recv_error(true)?;
            udp.set_path_mtu_discovery(PmtuDiscovery::Dont)?;
            Ok(Prober::Udp(udp))
        }
    }

    /// Sends probe `id` (a UDP port, or an echo sequence number) with
    /// `ttl`. A late answer to an earlier probe may be pending and fail
    /// the send (Linux reports a socket's pending error there too): it is
    /// taken, and the send tried once more.
    fn send(&self, target: Ipv4Addr, id: u16, ttl: u8) -> io::Result<()> {
        let data = [0u8; PROBE_DATA];
        let attempt = || match self {
            Prober::Udp(u) => {
                u.set_ttl(u32::from(ttl))?;
                u.send_to(&data, SocketAddrV4::new(target, id)).map(drop)
            }
            Prober::Icmp(p) => {
                p.set_ttl(u32::from(ttl))?;
                p.send_echo(target, id, &data)
            }
        };
        attempt().or_else(|e| match e.raw_os_error() {
            Some(_) => attempt(),
            None => Err(e),
        })
    }

    /// Waits until `deadline` for probe `id`'s answer, skipping late
    /// answers to earlier probes.
    fn answer(&self, target: Ipv4Addr, id: u16, sent: Instant, deadline: Instant) -> Answer {
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Answer::Silence;
            };
            if left.is_zero() {
                return Answer::Silence;
            }
            match self.next(target, id, sent, left) {
                Ok(Some(answer)) => return answer,
                Ok(None) => {}
                // A pending ICMP error read in place of an answer: its
                // report is still queued and is read next.
                Err(e) if e.raw_os_error().is_some() => {}
                // The wait ran out, or the socket is gone.
                Err(_) => return Answer::Silence,
            }
        }
    }

    /// The next thing the socket hears within `left`, if it is probe `id`'s
    /// answer.
    fn next(
        &self,
        target: Ipv4Addr,
        id: u16,
        sent: Instant,
        left: Duration,
    ) -> io::Result<Option<Answer>> {
        match self {
            Prober::Udp(u) => {
                u.set_read_timeout(Some(left))?;
                let report = u.recv_error()?;
                let rtt = sent.elapsed();
                Ok((report.dst.port() == id)
                    .then(|| classify(report.icmp_type_code(), report.offender, target, rtt))
                    .flatten())
            }
            Prober::Icmp(p) => {
                p.set_read_timeout(Some(left))?;
                let mut buf = [0u8; 128];
                let event = p.recv(&mut buf)?;
                let rtt = sent.elapsed();
                Ok(match event {
                    PingEvent::Reply(r) if r.seq == id => Some(Answer::From {
                        from: r.src,
                        rtt,
                        mark: None,
                        end: true,
                    }),
                    PingEvent::Error(e) if e.seq == id => {
                        classify(e.icmp_type_code(), e.offender, target, rtt)
                    }
                    _ => None,
                })
            }
        }
    }
}

pub fn run(args: &TracerouteArgs) -> ExitCode {
    if args.first > args.max_hops {
        eprintln!(
            "synack traceroute: the first TTL ({}) is beyond the largest (-m {})",
            args.first, args.max_hops
        );
        return ExitCode::from(2);
    }
    let link = match link::open(&args.link, Config::default()) {
        Ok(l) => l,
        Err(e) => return e.report("traceroute"),
    };
    let prober = match Prober::open(&link.rt, args.icmp) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("synack traceroute: opening the probes' socket: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "traceroute to {0} ({0}), {1} hops max, {2} byte packets",
        args.target,
        args.max_hops,
        HEADERS + PROBE_DATA
    );
    let mut id = args.port;
    for ttl in args.first..=args.max_hops {
        let mut answers = Vec::with_capacity(usize::from(args.queries));
        for _ in 0..args.queries {
            let sent = Instant::now();
            if let Err(e) = prober.send(args.target, id, ttl) {
                eprintln!("synack traceroute: sending to {}: {e}", args.target);
                return ExitCode::from(1);
            }
            answers.push(prober.answer(args.target, id, sent, sent + args.wait));
            id = id.wrapping_add(1);
        }
        println!("{}", hop_line(ttl, &answers));
        if answers
            .iter()
            .any(|a| matches!(a, Answer::From { end: true, .. }))
        {
            break;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const T: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

    fn from(from: Ipv4Addr, micros: u64, mark: Option<&'static str>) -> Answer {
        Answer::From {
            from,
            rtt: Duration::from_micros(micros),
            mark,
            end: false,
        }
    }

    #[test]
    fn hop_lines_read_as_linux_traceroutes() {
        let three = [from(R, 250, None), from(R, 204, None), from(R, 198, None)];
        assert_eq!(
            hop_line(1, &three),
            " 1  192.0.2.1  0.250 ms  0.204 ms  0.198 ms"
        );
        let silent = [Answer::Silence; 3];
        assert_eq!(hop_line(2, &silent), " 2  * * *");
        // A new sender is written where it changes; a silence between.
        let mixed = [
            from(R, 1000, None),
            Answer::Silence,
            from(T, 1500, Some("!H")),
        ];
        assert_eq!(
            hop_line(12, &mixed),
            "12  192.0.2.1  1.000 ms * 203.0.113.1  1.500 ms !H"
        );
    }

    #[test]
    fn the_path_ends_at_the_targets_port_and_unreachables_are_marked() {
        let rtt = Duration::from_millis(1);
        let hop = classify((11, 0), R, T, rtt).unwrap();
        assert!(matches!(
            hop,
            Answer::From {
                end: false,
                mark: None,
                ..
            }
        ));
        let end = classify((3, 3), T, T, rtt).unwrap();
        assert!(matches!(
            end,
            Answer::From {
                end: true,
                mark: None,
                ..
            }
        ));
        let marks: Vec<_> = [0, 1, 2, 3, 4, 5, 13, 14, 15, 8]
            .iter()
            .map(|&code| unreachable_mark(code, false))
            .collect();
        assert_eq!(
            marks,
            [
                Some("!N"),
                Some("!H"),
                Some("!P"),
                Some("!"),
                Some("!F"),
                Some("!S"),
                Some("!X"),
                Some("!V"),
                Some("!C"),
                Some("!?")
            ]
        );
        assert_eq!(classify((12, 0), R, T, rtt), None, "not traceroute's");
    }

    #[test]
    fn waits_parse_in_seconds_within_bounds() {
        assert_eq!(wait_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(wait_secs("0").is_err());
        assert!(wait_secs("x").is_err());
        assert!(wait_secs("-1").is_err());
    }
}
