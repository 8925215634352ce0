//! `synack demo`: a connection's whole life between two simulated hosts.
//!
//! 192.0.2.1/24 (client) and 192.0.2.2/24 (server) share one simulated
//! Ethernet link with the delay, bandwidth and loss given on the command
//! line: they announce themselves with gratuitous ARP and resolve each other
//! with ARP before the first segment. The client opens a connection (asking
//! for a Fast Open cookie), uploads `--bytes` (the server checks every
//! byte), and closes first, so it ends in TIME-WAIT; it then opens a second
//! connection whose SYN carries a small request and the cookie the first
//! connection learned (RFC 7413), which the server reads before the
//! handshake completes. The output is a ladder diagram of each connection
//! (the ARP exchange first) and a summary, or with `--json` one JSON object
//! (the issue 3 format; `fastopen` reports what the stacks did).
//!
//! `virtual_seconds` is the first connection's transfer time, from the SYN to
//! the server reading the last byte; `goodput_mbps` is the bytes over it.
//!
//! `--plot FILE.svg` draws the upload's congestion window, ssthresh and bytes
//! in flight over virtual time (from the client stack's congestion trace),
//! with loss, retransmission, timeout, probe and undo marks; `--cwnd-csv FILE`
//! writes the same series as CSV.

mod apps;
mod ladder;
mod plot;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use synack_proto::config::fastopen_flags;
use synack_proto::stack::Trace;
use synack_proto::tcp::TcpState;
use synack_proto::{Config, Duration, Instant};
use synack_sim::apps::Pattern;
use synack_sim::pcap::LinkType;
use synack_sim::scenario::{Pair, SERVER_ADDR};
use synack_sim::{CapturePoint, LinkConfig, StackNode};

use self::apps::{Client, RESPONSE, Server};
use self::ladder::{Conversation, Side};

/// Virtual time after which a demo that has not finished is given up.
const DEADLINE: Instant = Instant::from_secs(3_600);

/// Options of `synack demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Fraction of frames lost in each direction, e.g. 0.05 (0 <= P < 1).
    #[arg(long, value_name = "P", default_value_t = 0.01)]
    pub loss: f64,
    /// One-way delay of the link in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10.0)]
    pub delay: f64,
    /// Link bandwidth in Mbit/s.
    #[arg(long, value_name = "MBIT", default_value_t = 100.0)]
    pub bandwidth: f64,
    /// Bytes the client uploads on the first connection.
    #[arg(long, value_name = "N", default_value_t = 1 << 20)]
    pub bytes: u64,
    /// Seed of every random choice (printed when chosen at random).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Write the link's traffic to this pcap file (Ethernet).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Print one JSON object instead of the diagram.
    #[arg(long)]
    pub json: bool,
    /// Draw the upload's congestion window, ssthresh and bytes in flight
    /// over virtual time, with losses and retransmissions, as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Write the upload's congestion trace (the plot's raw series) as CSV.
    #[arg(long, value_name = "FILE")]
    pub cwnd_csv: Option<PathBuf>,
}

impl DemoArgs {
    /// Range checks clap cannot express.
    fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.loss) {
            return Err(format!("--loss must be in [0, 1), got {}", self.loss));
        }
        if !(0.0..=60_000.0).contains(&self.delay) {
            return Err(format!("--delay must be 0 to 60000 ms, got {}", self.delay));
        }
        if !(self.bandwidth > 0.0 && self.bandwidth <= 100_000.0) {
            return Err(format!(
                "--bandwidth must be above 0 and at most 100000 Mbit/s, got {}",
                self.bandwidth
            ));
        }
        if self.bytes == 0 || self.bytes > 1 << 30 {
            return Err(format!(
                "--bytes must be 1 to {} (1 GiB), got {}",
                1u64 << 30,
                self.bytes
            ));
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct Report {
    seed: u64,
    verified: bool,
    bytes: u64,
    virtual_seconds: f64,
    goodput_mbps: f64,
    retransmissions: u64,
    client: SideReport,
    server: SideReport,
    fastopen: FastOpenReport,
}

#[derive(Serialize)]
struct SideReport {
    states: Vec<&'static str>,
}

#[derive(Serialize)]
struct FastOpenReport {
    cookie_learned: bool,
    syn_data_accepted: bool,
}

/// A seed from the OS's per-process hash randomisation (no extra crate).
fn random_seed() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0x5EED);
    h.finish() % 1_000_000
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Runs the demo; exit status 0 only if the upload arrived intact.
pub fn run(args: &DemoArgs) -> ExitCode {
    if let Err(message) = args.validate() {
        eprintln!("synack demo: {message}");
        return ExitCode::from(2);
    }
    let seed_given = args.seed.is_some();
    let seed = args.seed.unwrap_or_else(random_seed);
    match simulate(args, seed) {
        Ok(outcome) => report(args, seed, seed_given, &outcome),
        Err(message) => {
            eprintln!("synack demo: {message}");
            ExitCode::from(1)
        }
    }
}

/// What the simulation produced.
struct Outcome {
    pair: Pair,
    finished: bool,
    pcap_frames: Option<u64>,
}

fn simulate(args: &DemoArgs, seed: u64) -> Result<Outcome, String> {
    let pattern = Pattern::new(seed);
    let link = LinkConfig::new()
        .delay(Duration::from_secs_f64(args.delay / 1e3))
        .bandwidth((args.bandwidth * 1e6) as u64)
        .random_loss(args.loss);
    let bytes = args.bytes;
    // Linux's default client Fast Open, and the server side on too.
    let config = Config {
        tcp_fastopen: fastopen_flags::CLIENT | fastopen_flags::SERVER,
        ..Config::default()
    };
    let mut pair = Pair::ethernet_with_nodes(
        seed,
        |stack| {
            StackNode::with_app(stack, Client::new(SERVER_ADDR, bytes, pattern)).keeping_events()
        },
        |stack| StackNode::with_app(stack, Server::new(SERVER_ADDR, pattern)).keeping_events(),
        config.clone(),
        config,
        link,
    );
    let trace = Trace {
        states: true,
        segments: true,
        congestion: false,
    };
    // The upload's sender is the client: its congestion trace is the plot.
    pair.client().set_trace(Trace {
        congestion: args.plot.is_some() || args.cwnd_csv.is_some(),
        ..trace
    });
    pair.server().set_trace(trace);
    let mut pcap_frames = None;
    if let Some(path) = &args.pcap {
        let file =
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        pair.world
            .capture_to(
                pair.link,
                BufWriter::new(file),
                LinkType::Ethernet,
                CapturePoint::Sent,
            )
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        pcap_frames = Some(0);
    }
    let client = pair.client;
    let finished = pair
        .run_until(
            |p| {
                let c = p.world.node::<StackNode>(client).app::<Client>();
                c.is_some_and(Client::done)
                    && p.client_ref().connection_count() == (0, 0)
                    && p.server_ref().connection_count() == (0, 0)
            },
            DEADLINE,
        )
        .is_ok();
    if let Some(path) = &args.pcap {
        pair.world
            .stop_capture(pair.link)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let s = pair
            .world
            .link_stats(pair.link, synack_sim::Dir::AToB)
            .offered_frames
            + pair
                .world
                .link_stats(pair.link, synack_sim::Dir::BToA)
                .offered_frames;
        pcap_frames = Some(s);
    }
    Ok(Outcome {
        pair,
        finished,
        pcap_frames,
    })
}

fn report(args: &DemoArgs, seed: u64, seed_given: bool, outcome: &Outcome) -> ExitCode {
    let pair = &outcome.pair;
    let client_node = pair.world.node::<StackNode>(pair.client);
    let server_node = pair.world.node::<StackNode>(pair.server);
    let client = client_node.app::<Client>().expect("the demo's client");
    let server = server_node.app::<Server>().expect("the demo's server");
    let verified = outcome.finished
        && server.received == args.bytes
        && client.sent == args.bytes
        && server.mismatch.is_none()
        && client.error.is_none()
        && server.error.is_none();
    // The connections' client-side addresses, in order of their SYNs.
    let client_addrs = connection_addrs(&client_node.events);
    let sides = |i: usize| {
        client_addrs.get(i).map(|&addr| Conversation {
            client: Side {
                addr,
                events: &client_node.events,
            },
            server: Side {
                addr: SERVER_ADDR,
                events: &server_node.events,
            },
        })
    };
    let first = sides(0);
    let names = |states: Vec<TcpState>| {
        states
            .into_iter()
            .map(TcpState::rfc_name)
            .collect::<Vec<_>>()
    };
    let (client_states, server_states) = match &first {
        Some(c) => (
            names(ladder::states(&c.client, c.server.addr)),
            names(ladder::states(&c.server, c.client.addr)),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let started = client.started_at.unwrap_or(Instant::ZERO);
    let transfer = server
        .upload_done_at
        .map_or(Duration::ZERO, |t| t - started);
    let secs = transfer.as_secs_f64();
    let goodput = if secs > 0.0 {
        args.bytes as f64 * 8.0 / secs / 1e6
    } else {
        0.0
    };
    let retransmissions =
        pair.client_ref().stats().tcp.retrans_segs + pair.server_ref().stats().tcp.retrans_segs;
    if let Err(message) = write_congestion_files(args, client_node, &client_addrs, started) {
        eprintln!("synack demo: {message}");
        return ExitCode::from(1);
    }
    if args.json {
        let report = Report {
            seed,
            verified,
            bytes: args.bytes,
            virtual_seconds: round(secs, 6),
            goodput_mbps: round(goodput, 3),
            retransmissions,
            client: SideReport {
                states: client_states,
            },
            server: SideReport {
                states: server_states,
            },
            fastopen: FastOpenReport {
                cookie_learned: client.cookie_learned,
                syn_data_accepted: client.syn_data_accepted,
            },
        };
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("synack demo: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        let mut out = String::new();
        if !seed_given {
            out.push_str(&format!("seed {seed} (replay with --seed {seed})\n"));
        }
        out.push_str(&format!(
            "link: {} ms one way, {} Mbit/s, {}% loss each way\n\nfirst connection: upload {} bytes, then close (TIME-WAIT on the client)\n",
            args.delay,
            args.bandwidth,
            args.loss * 100.0,
            args.bytes
        ));
        if let Some(c) = &first {
            out.push_str(&ladder::render(c, true));
        }
        if let Some(c) = sides(1) {
            out.push_str("\nsecond connection: Fast Open, the request in the SYN with the cookie the first one learned\n");
            out.push_str(&ladder::render(&c, false));
        }
        out.push_str(&summary(
            args,
            client,
            server,
            verified,
            secs,
            goodput,
            retransmissions,
            &client_states,
            &server_states,
        ));
        if let (Some(path), Some(frames)) = (&args.pcap, outcome.pcap_frames) {
            out.push_str(&format!(
                "pcap: {} ({frames} frames, Ethernet)\n",
                path.display()
            ));
        }
        let mut stdout = std::io::stdout().lock();
        if stdout.write_all(out.as_bytes()).is_err() {
            return ExitCode::from(1);
        }
    }
    if verified {
        ExitCode::SUCCESS
    } else {
        if !outcome.finished {
            eprintln!("synack demo: the simulation did not finish within {DEADLINE}");
        }
        for e in client.error.iter().chain(&server.error) {
            eprintln!("synack demo: {e}");
        }
        ExitCode::from(1)
    }
}

/// `--plot` and `--cwnd-csv`: the first connection's congestion trace.
fn write_congestion_files(
    args: &DemoArgs,
    client: &StackNode,
    client_addrs: &[std::net::SocketAddrV4],
    started: Instant,
) -> Result<(), String> {
    if args.plot.is_none() && args.cwnd_csv.is_none() {
        return Ok(());
    }
    let Some(&local) = client_addrs.first() else {
        return Err("no connection to plot".into());
    };
    let points = plot::series(&client.events, local, started);
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    if let Some(path) = &args.cwnd_csv {
        write(path, plot::csv(&points))?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "upload of {} bytes: {} ms one way, {} Mbit/s, {}% loss",
            args.bytes,
            args.delay,
            args.bandwidth,
            args.loss * 100.0
        );
        write(path, plot::svg(&points, &title))?;
    }
    Ok(())
}

/// Client-side addresses of the connections, in the order of their SYNs.
fn connection_addrs(
    events: &[(Instant, synack_proto::stack::Event)],
) -> Vec<std::net::SocketAddrV4> {
    let mut out = Vec::new();
    for (_, e) in events {
        if let synack_proto::stack::Event::StateChanged {
            local,
            to: TcpState::SynSent,
            ..
        } = e
        {
            out.push(*local);
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn summary(
    args: &DemoArgs,
    client: &Client,
    server: &Server,
    verified: bool,
    secs: f64,
    goodput: f64,
    retransmissions: u64,
    client_states: &[&str],
    server_states: &[&str],
) -> String {
    let mut s = String::from("\nsummary\n");
    s.push_str(&format!(
        "  bytes:           {} sent, {} received, {}\n",
        client.sent,
        server.received,
        if verified {
            "verified byte for byte"
        } else {
            "NOT VERIFIED"
        }
    ));
    s.push_str(&format!(
        "  transfer:        {secs:.3} s of virtual time, goodput {goodput:.2} Mbit/s\n"
    ));
    s.push_str(&format!("  retransmissions: {retransmissions}\n"));
    if let Some(info) = &client.info_at_close {
        s.push_str(&format!(
            "  client tcp_info: rtt {:.1} ms (min {:.1} ms), rto {} ms, cwnd {} segments, mss {}\n",
            info.rtt as f64 / 1e3,
            info.min_rtt as f64 / 1e3,
            info.rto / 1000,
            info.snd_cwnd,
            info.snd_mss
        ));
    }
    s.push_str(&format!(
        "  client states:   {}\n",
        client_states.join(" → ")
    ));
    s.push_str(&format!(
        "  server states:   {}\n",
        server_states.join(" → ")
    ));
    let ok = client.response == RESPONSE && server.request == apps::REQUEST;
    s.push_str(&format!(
        "  second conn.:    request {} bytes, response {} bytes{}\n",
        server.request.len(),
        client.response.len(),
        if ok {
            ", both as sent"
        } else {
            ", NOT as sent"
        }
    ));
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    s.push_str(&format!(
        "  fast open:       cookie learned on the first connection: {}; request accepted with the SYN: {}\n",
        yes_no(client.cookie_learned),
        yes_no(client.syn_data_accepted)
    ));
    let _ = args;
    s
}
