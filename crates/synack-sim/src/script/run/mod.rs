//! Runs packetdrill scripts against synack on virtual time.
//!
//! Read first: packetdrill's README ("Execution Model"), then
//! [`super::timing`] and [`super::meaning`], which this module applies.
//!
//! The script plays the remote host; a synack [`Stack`] is the host under
//! test, on an IP medium (raw IPv4 packets, as packetdrill's tun device).
//! The runner walks the events in order on one virtual clock:
//!
//! - `<` packets are built byte by byte with their numbers mapped onto the
//!   live connection ([`super::meaning`]) and injected at their time;
//! - `>` packets claim what synack sent, oldest first, and compare it field
//!   by field in the script's terms; several of synack's segments may
//!   together stand for one scripted segment when their boundaries line up
//!   (Linux sends one TSO super-segment where synack sends MSS-sized ones);
//!   a packet sent before the one the script expects fails the script;
//! - system calls go through a small socket layer over the Stack with
//!   Linux's return values, errno values and file descriptors; blocking
//!   calls (`+0...0.2 read(...)`) wait on the virtual clock while the
//!   events after them happen, and must return at their scripted time;
//! - shell lines that set sysctls become [`Config`] settings;
//! - `%{ assert ... }%` lines are evaluated against the connection's
//!   [`TcpInfo`](synack_proto::tcp::conn::TcpInfo) at their time.
//!
//! Socket bookkeeping follows packetdrill's: the newest socket is "the
//! socket under test"; an inbound packet while it listens creates a child
//! connection from a fresh remote port; packets synack sends on other
//! connections are ignored, as packetdrill's sniffer ignores them.
//!
//! A result is [`Verdict::Pass`], [`Verdict::Fail`] with the line, what was
//! expected and what happened, or [`Verdict::Skip`] naming what synack (or
//! this runner) lacks.

mod asserts;
pub mod frames;
pub mod linux;
mod net;
mod packets;
mod poll;
mod runner;
mod sockets;
mod sockopt;
mod syscalls;
mod transfer;

use std::path::Path;

pub use runner::RunConfig;

/// How a script ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
        }
    }
}

/// The result of one script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The path as given.
    pub script: String,
    pub verdict: Verdict,
    /// Fail: `path:line: what was expected and what happened`. Skip: the
    /// feature synack (or the runner) lacks.
    pub reason: Option<String>,
    /// Things the run ignored on purpose (unknown sysctls, shell commands
    /// that configure nothing synack has, non-assert Python).
    pub notes: Vec<String>,
    /// With [`RunConfig::verbose`]: every event with its actual time.
    pub trace: Vec<String>,
}

/// Runs the script at `path` (read from disk; `defaults.sh` and friends
/// are found relative to it).
pub fn run_file(path: &Path, config: &RunConfig) -> Report {
    let shown = path.display().to_string();
    // Shell lines find `defaults.sh` relative to the script, whatever the
    // current directory.
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match std::fs::read_to_string(path) {
        Ok(src) => runner::run(&src, &shown, Some(&absolute), config),
        Err(e) => Report {
            script: shown,
            verdict: Verdict::Fail,
            reason: Some(format!("cannot read script: {e}")),
            notes: Vec::new(),
            trace: Vec::new(),
        },
    }
}

/// Runs a script given as text; `name` labels messages. Shell lines that
/// read files (`defaults.sh`) find nothing.
pub fn run_source(source: &str, name: &str, config: &RunConfig) -> Report {
    runner::run(source, name, None, config)
}
