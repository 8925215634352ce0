//! `synack script FILE...`: run packetdrill scripts against synack on
//! virtual time (see `synack_sim::script::run`).
//!
//! One line per script (`PASS`, `FAIL` with the line and what differed,
//! `SKIP` with what synack lacks), then `N passed, N failed, N skipped`.
//! Exit status 1 if any script failed, 2 if the arguments are wrong.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use synack_sim::script::run::{self, Report, RunConfig, Verdict};

#[derive(Args, Debug)]
#[command(about = "Run packetdrill scripts against synack on virtual time")]
pub struct ScriptArgs {
    /// The scripts (packetdrill's .pkt syntax).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// One JSON object per script instead of text.
    #[arg(long)]
    json: bool,
    /// Print every event with its actual time and packets.
    #[arg(long, short)]
    verbose: bool,
    /// Seed of synack's RNG (ISNs, ports, timestamp offsets).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A define, as packetdrill's `-D NAME=VALUE`.
    #[arg(short = 'D', long = "define", value_name = "NAME=VALUE")]
    defines: Vec<String>,
    /// A sysctl of the host before each script runs (the test machine's
    /// settings), e.g. `--sysctl net.ipv4.tcp_rmem="4096 87380 4000000"`.
    #[arg(long = "sysctl", value_name = "NAME=VALUE")]
    sysctls: Vec<String>,
    /// Also fail packets synack sent after the last outbound line that no
    /// line claimed (packetdrill never examines them; the project's own
    /// scripts run this way).
    #[arg(long)]
    strict_tail: bool,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    script: &'a str,
    result: &'a str,
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

pub fn run(args: &ScriptArgs) -> ExitCode {
    let mut defines = Vec::new();
    for d in &args.defines {
        match d.split_once('=') {
            Some((k, v)) if !k.is_empty() => defines.push((k.to_string(), v.to_string())),
            _ => {
                eprintln!("synack script: -D wants NAME=VALUE, got `{d}`");
                return ExitCode::from(2);
            }
        }
    }
    let mut sysctls = Vec::new();
    for s in &args.sysctls {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => sysctls.push((k.to_string(), v.to_string())),
            _ => {
                eprintln!("synack script: --sysctl wants NAME=VALUE, got `{s}`");
                return ExitCode::from(2);
            }
        }
    }
    let config = RunConfig {
        verbose: args.verbose,
        seed: args.seed,
        defines,
        sysctls,
        strict_tail: args.strict_tail,
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut out = io::stdout().lock();
    for file in &args.files {
        let report = run::run_file(file, &config);
        match report.verdict {
            Verdict::Pass => passed += 1,
            Verdict::Fail => failed += 1,
            Verdict::Skip => skipped += 1,
        }
        let written = if args.json {
            print_json(&mut out, &report)
        } else {
            print_text(&mut out, &report, args.verbose)
        };
        // A closed pipe (`| head`) is not an error of the scripts.
        if written.is_err() {
            break;
        }
    }
    if !args.json {
        let _ = writeln!(out, "{passed} passed, {failed} failed, {skipped} skipped");
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_json(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let line = JsonLine {
        script: &report.script,
        result: report.verdict.as_str(),
        reason: report.reason.as_deref(),
        notes: &report.notes,
    };
    let text = serde_json::to_string(&line).map_err(io::Error::other)?;
    writeln!(out, "{text}")
}

fn print_text(out: &mut impl Write, report: &Report, verbose: bool) -> io::Result<()> {
    if verbose {
        writeln!(out, "== {}", report.script)?;
        for t in &report.trace {
            writeln!(out, "  {t}")?;
        }
        for n in &report.notes {
            writeln!(out, "  note: {n}")?;
        }
    }
    match (report.verdict, &report.reason) {
        (Verdict::Pass, _) => writeln!(out, "PASS {}", report.script),
        (Verdict::Fail, Some(r)) => writeln!(out, "FAIL {r}"),
        (Verdict::Fail, None) => writeln!(out, "FAIL {}", report.script),
        (Verdict::Skip, r) => writeln!(
            out,
            "SKIP {}: {}",
            report.script,
            r.as_deref().unwrap_or("(no reason)")
        ),
    }
}
