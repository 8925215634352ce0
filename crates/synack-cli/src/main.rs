//! The `synack` command.

mod bench;
mod connect;
mod counting;
mod demo;
mod ladder;
mod link;
mod neigh;
mod ping;
mod script;
mod serve;
mod ss;
mod ss_filter;
mod ss_render;
mod trace;
mod traceroute;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "synack", version, about = "A userspace TCP/IP stack you can watch", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Walk a simulated connection through its whole life (no privileges needed).
    Demo(demo::DemoArgs),
    /// Headline performance numbers, side by side with smoltcp.
    Bench(bench::BenchArgs),
    /// Run packetdrill scripts against synack on virtual time.
    Script(script::ScriptArgs),
    /// Draw a capture (ours or tcpdump's) as ladder diagrams, or print it as JSON lines.
    Trace(trace::TraceArgs),
    /// Run the stack on a TAP/TUN device and serve echo, discard, chargen or HTTP.
    Serve(serve::ServeArgs),
    /// Connect to HOST:PORT through the stack on a TAP/TUN device, nc-style.
    Connect(connect::ConnectArgs),
    /// Show a running stack's sockets, as `ss -tan` does.
    Ss(ss::SsArgs),
    /// Show a running stack's neighbours (its ARP caches), as `ip neigh` does.
    Neigh(neigh::NeighArgs),
    /// Send ICMP echo requests to HOST through the stack on a TAP/TUN device, as iputils' ping.
    Ping(ping::PingArgs),
    /// Show the path to HOST hop by hop through the stack on a TAP/TUN device, as traceroute.
    Traceroute(traceroute::TracerouteArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(args),
        Command::Trace(args) => trace::run(&args),
        Command::Script(args) => script::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Connect(args) => connect::run(&args),
        Command::Ss(args) => ss::run(&args),
        Command::Neigh(args) => neigh::run(&args),
        Command::Ping(args) => ping::run(&args),
        Command::Traceroute(args) => traceroute::run(&args),
    }
}
