//! `synack bench`: the headline performance numbers, side by side with
//! smoltcp, measured the same way in the same run (see `synack-bench`).

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use synack_bench::{Plan, Report, Target};

/// Which measurement to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// In-memory transfer of >= 1 GiB, MTU 1500 and 65535.
    Bulk,
    /// Open, one byte each way, close, per second, with 0/1000/100000 idle.
    Handshake,
    /// Heap bytes per idle established connection.
    Memory,
    /// 10 MiB at 100 Mbit/s, RTT 20 ms, loss 0.1%, 1%, 5%.
    Loss,
    /// Issue 4's table: loss 0-10% x RTT 10/100 ms (not part of `all`).
    LossTable,
    /// To and from the Linux kernel over a TAP, vs kernel TCP over veth
    /// (root; in fresh network namespaces; not part of `all`).
    Tap,
    /// bulk, handshake, memory, loss and (as root) tap.
    All,
}

#[derive(Args, Debug)]
#[command(about = "Headline performance numbers, side by side with smoltcp")]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value_t = Which::All)]
    which: Which,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// A reduced run (small sizes, one repetition) for smoke tests.
    #[arg(long)]
    quick: bool,
    /// Repetitions per figure (each figure is their median).
    #[arg(long, value_name = "N")]
    reps: Option<usize>,
}

pub fn run(args: BenchArgs) -> ExitCode {
    let mut plan = if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if let Some(n) = args.reps {
        plan = plan.with_reps(n);
    }
    let targets: Vec<Target> = match args.which {
        Which::Bulk => vec![Target::Bulk],
        Which::Handshake => vec![Target::Handshake],
        Which::Memory => vec![Target::Memory],
        Which::Loss => vec![Target::Loss],
        Which::LossTable => vec![Target::LossTable],
        Which::Tap => vec![Target::Tap],
        Which::All => Target::ALL
            .into_iter()
            .filter(|&t| match (t, synack_bench::tap::supported()) {
                (Target::Tap, Err(why)) => {
                    eprintln!("synack bench: skipping tap: {why}");
                    false
                }
                _ => true,
            })
            .collect(),
    };
    let mut report = Report::default();
    for t in targets {
        if !args.json {
            eprintln!("synack bench: running {t:?}...");
        }
        if let Err(e) = synack_bench::run::run(t, &plan, &mut report) {
            eprintln!("synack bench: {t:?} failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
        println!("smoltcp 0.14 measured in the same run, alternating with synack.");
    }
    ExitCode::SUCCESS
}
