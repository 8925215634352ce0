//! The `synack` command.

mod bench;
mod demo;
mod ladder;
mod trace;

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
    /// Draw a capture (ours or tcpdump's) as ladder diagrams, or print it as JSON lines.
    Trace(trace::TraceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(args),
        Command::Trace(args) => trace::run(&args),
    }
}
