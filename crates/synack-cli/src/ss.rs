//! `synack ss`: the sockets of a running `synack serve` or `connect`, read
//! over its control socket and printed as iproute2's `ss -tan` prints them
//! (`-u` for its UDP sockets, as `ss -uan`; both, as `ss -tuan`).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
#[cfg(test)]
use synack::control::Mem;
use synack::control::{self, Snapshot, SocketRow};

use crate::ss_filter::Filter;
use crate::ss_render::{SsRow, SsState, SsSummary, render_json, render_table};

const EXAMPLES: &str = "\
Examples:
  synack ss                      # the one running synack's sockets (like ss -tan)
  synack ss --tap synack0 -l     # listeners of the stack on synack0
  synack ss -i                   # with rtt, rto, cwnd, ssthresh, mss, retransmissions
  synack ss -m                   # with each socket's buffer sizes and memory
  synack ss -o                   # with each socket's timer (retransmission, keepalive, ...)
  synack ss -u                   # its UDP sockets (like ss -uan); -tu for both
  synack ss -s                   # a count per state
  synack ss --json               # for machines
  synack ss state established '( dport = :80 or sport = :80 )'
  synack ss -l exclude listening # ss's filter: state, exclude, dst, src, dport, sport

Without --control, --tap or --tun, the control socket is the only one in /run/synack (as root).";

/// Which running synack to ask (`ss`, `neigh`).
#[derive(Args, Clone, Debug)]
pub struct ControlArgs {
    /// The control socket of the running synack.
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// The synack running on TAP device NAME.
    #[arg(long, value_name = "NAME", conflicts_with = "control")]
    tap: Option<String>,
    /// The synack running on TUN device NAME.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["control", "tap"])]
    tun: Option<String>,
}

/// `ss`'s options (iproute2's letters; `-a` and `-n` are accepted and
/// always in effect: every socket, numeric). TCP unless `-u` asks for UDP
/// alone, or `-t -u` for both.
#[derive(Args, Clone, Debug)]
#[command(after_help = EXAMPLES)]
pub struct SsArgs {
    #[command(flatten)]
    target: ControlArgs,
    /// TCP sockets (the default; with -u, both kinds).
    #[arg(short = 't', long = "tcp")]
    tcp: bool,
    /// UDP sockets (bound ones: UNCONN, or ESTAB when connected).
    #[arg(short = 'u', long = "udp")]
    udp: bool,
    /// All sockets (the default here; accepted for ss's sake).
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Numeric addresses (always; accepted for ss's sake).
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
    /// Only listening sockets.
    #[arg(short = 'l', long = "listening")]
    listening: bool,
    /// Per-connection details: rtt, rto, cwnd, ssthresh, mss, retransmissions, ...
    #[arg(short = 'i', long = "info")]
    info: bool,
    /// Socket memory: `skmem:(r..,rb..,t..,tb..,...)`, as ss -m.
    #[arg(short = 'm', long = "memory")]
    memory: bool,
    /// Timers: `timer:(on|keepalive|timewait|persist,WHEN,RETRANS)`, as ss -o.
    #[arg(short = 'o', long = "options")]
    options: bool,
    /// Forcibly close the TCP connections (and TIME-WAIT entries) the filter keeps, as ss -K
    /// (SOCK_DESTROY): each is reset, its application's calls fail; prints those closed.
    #[arg(short = 'K', long = "kill")]
    kill: bool,
    /// A count of sockets per state.
    #[arg(short = 's', long = "summary")]
    summary: bool,
    /// JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// ss's filter: `[state STATE] [exclude STATE] [EXPRESSION]`, STATE a name (established,
    /// syn-sent, ..., listening, closing) or group (all, connected, synchronized, bucket, big),
    /// EXPRESSION of `dst ADDR[/LEN][:PORT]`, `src ...`, `dport OP :PORT`, `sport OP :PORT`
    /// with and, or, not and parentheses.
    #[arg(
        value_name = "FILTER",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    filter: Vec<String>,
}

pub fn run(args: &SsArgs) -> ExitCode {
    let filter = match Filter::parse(&args.filter) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("synack ss: filter: {e}");
            return ExitCode::from(2);
        }
    };
    let (path, snapshot) = match query_at("ss", &args.target) {
        Ok(found) => found,
        Err(code) => return code,
    };
    if !args.kill {
        print!("{}", render(&snapshot, args, &filter));
        return ExitCode::SUCCESS;
    }
    // `-K`: the connections the filter keeps (not listeners, not UDP),
    // each ended; those that were are printed.
    let mut killed = snapshot;
    killed.udp.clear();
    let mut failed = false;
    killed.sockets.retain(|r| {
        let keep = filter.keeps(&to_row(r, false, false));
        match (r.peer, keep && r.state != "LISTEN") {
            (Some(peer), true) => match control::kill(&path, r.local, peer) {
                Ok(gone) => gone,
                Err(e) => {
                    eprintln!("synack ss: -K: {e}");
                    failed = true;
                    false
                }
            },
            _ => false,
        }
    });
    let tcp_only = SsArgs {
        udp: false,
        tcp: true,
        ..args.clone()
    };
    print!("{}", render(&killed, &tcp_only, &Filter::default()));
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// The snapshot of the synack `target` names, or the exit status after
/// saying why not (as `synack COMMAND: ...`).
pub fn query(command: &str, target: &ControlArgs) -> Result<Snapshot, ExitCode> {
    query_at(command, target).map(|(_, snapshot)| snapshot)
}

/// [`query`], with the control socket's path.
fn query_at(command: &str, target: &ControlArgs) -> Result<(PathBuf, Snapshot), ExitCode> {
    let path = control_path(target).map_err(|msg| {
        eprintln!("synack {command}: {msg}");
        ExitCode::from(2)
    })?;
    let snapshot = control::query(&path).map_err(|e| {
        eprintln!("synack {command}: {e}");
        ExitCode::from(2)
    })?;
    Ok((path, snapshot))
}

fn control_path(args: &ControlArgs) -> Result<PathBuf, String> {
    if let Some(p) = &args.control {
        return Ok(p.clone());
    }
    if let Some(name) = args.tap.as_ref().or(args.tun.as_ref()) {
        return Ok(control::default_path(name));
    }
    let dir = control::runtime_dir();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.len() {
        0 => Err(format!(
            "no running synack: no control socket in {} (is `synack serve` running? pass --control PATH or --tap NAME)",
            dir.display()
        )),
        1 => Ok(found.remove(0)),
        _ => Err(format!(
            "several synacks run ({}): pick one with --tap NAME or --control PATH",
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn render(snapshot: &Snapshot, args: &SsArgs, filter: &Filter) -> String {
    if args.summary {
        // TCP's states, as ss -s counts them, whatever -t and -u say.
        let rows: Vec<SsRow> = snapshot
            .sockets
            .iter()
            .map(|r| to_row(r, false, false))
            .filter(|r| !args.listening || r.is_listening())
            .collect();
        let mut summary = SsSummary::from_rows(&rows);
        summary.orphaned = snapshot.sockets.iter().filter(|r| r.orphan).count();
        if !snapshot.memory_state.is_empty() {
            summary.memory = Some((snapshot.buffer_memory, snapshot.memory_state.clone()));
        }
        return summary.render();
    }
    let tcp = args.tcp || !args.udp;
    // UDP first, as ss lists them.
    let udp_rows = snapshot.udp.iter().filter(|_| args.udp).map(|r| SsRow {
        udp: true,
        ..to_row(r, false, false)
    });
    let tcp_rows = snapshot.sockets.iter().filter(|_| tcp).map(|r| SsRow {
        timer: r.timer.clone().filter(|_| args.options),
        ..to_row(r, args.info, args.memory)
    });
    let rows: Vec<SsRow> = udp_rows
        .chain(tcp_rows)
        .filter(|r| !args.listening || r.is_listening())
        .filter(|r| filter.keeps(r))
        .collect();
    let with_netid = tcp && args.udp;
    if args.json {
        return render_json(&rows, with_netid) + "\n";
    }
    render_table(&rows, args.info, args.memory, with_netid)
}

fn state(name: &str) -> SsState {
    SsState::ALL
        .into_iter()
        .find(|s| s.name() == name)
        .unwrap_or(SsState::Closed)
}

fn to_row(r: &SocketRow, with_info: bool, with_mem: bool) -> SsRow {
    SsRow {
        state: state(&r.state),
        recv_q: r.recv_q,
        send_q: r.send_q,
        local: SocketAddr::V4(r.local),
        peer: SocketAddr::V4(
            r.peer
                .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        ),
        info: if with_info { r.info.clone() } else { None },
        mem: r.mem.filter(|_| with_mem),
        udp: false,
        timer: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use synack::control::TimerRow;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ss: SsArgs,
    }

    fn args(line: &[&str]) -> SsArgs {
        Cli::parse_from(std::iter::once("ss").chain(line.iter().copied())).ss
    }

    /// What `synack ss LINE` prints for the test's snapshot.
    fn show(line: &[&str]) -> String {
        let args = args(line);
        let filter = Filter::parse(&args.filter).unwrap();
        render(&snapshot(), &args, &filter)
    }

    #[test]
    fn o_shows_the_timers_and_nothing_else_does() {
        let with = show(&["-o", "state", "time-wait"]);
        assert!(with.contains(" timer:(timewait,57sec,0)"), "{with}");
        assert!(!show(&["state", "time-wait"]).contains("timer:"));
        let json = show(&["-o", "--json"]);
        assert!(json.contains("\"expires_ms\": 57000"), "{json}");
    }

    #[test]
    fn a_filter_after_the_options_picks_the_rows() {
        let peers = |line: &[&str]| -> Vec<String> {
            show(line)
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().last().unwrap().to_string())
                .collect()
        };
        assert_eq!(peers(&["state", "listening"]), ["0.0.0.0:*"]);
        // Options first, then the filter's words, split or quoted.
        assert_eq!(
            peers(&["-n", "(", "dport", ">", ":40000", ")"]),
            ["192.0.2.1:40002", "192.0.2.1:40001"]
        );
        assert_eq!(peers(&["-l", "state", "time-wait"]).len(), 0);
        assert_eq!(
            peers(&["-t", "dport > :40000"]),
            ["192.0.2.1:40002", "192.0.2.1:40001"]
        );
        assert_eq!(peers(&["-u", "sport = :7"]), ["0.0.0.0:*"]);
    }

    fn snapshot() -> Snapshot {
        let sa = |s: &str| s.parse::<SocketAddrV4>().unwrap();
        let row = |state: &str, local: &str, peer: Option<&str>, orphan| SocketRow {
            state: state.into(),
            recv_q: 0,
            send_q: if state == "LISTEN" { 128 } else { 0 },
            local: sa(local),
            peer: peer.map(sa),
            orphan,
            info: None,
            mem: (state != "TIME-WAIT").then_some(Mem {
                rmem_alloc: 0,
                rcvbuf: 131_072,
                wmem_queued: 0,
                sndbuf: 16_384,
            }),
            timer: (state == "TIME-WAIT").then(|| TimerRow {
                name: "timewait".into(),
                expires_ms: 57_000,
                retrans: 0,
            }),
        };
        Snapshot {
            pid: 1,
            device: "synack0".into(),
            sockets: vec![
                row("LISTEN", "0.0.0.0:80", None, false),
                row("ESTAB", "192.0.2.2:80", Some("192.0.2.1:40000"), false),
                row("FIN-WAIT-2", "192.0.2.2:80", Some("192.0.2.1:40002"), true),
                row("TIME-WAIT", "192.0.2.2:80", Some("192.0.2.1:40001"), false),
            ],
            buffer_memory: 131_072,
            memory_state: "normal".into(),
            neighbours: Vec::new(),
            udp: vec![
                SocketRow {
                    recv_q: 261,
                    send_q: 0,
                    mem: None,
                    ..row("UNCONN", "0.0.0.0:7", None, false)
                },
                SocketRow {
                    send_q: 0,
                    mem: None,
                    ..row("ESTAB", "192.0.2.2:40000", Some("192.0.2.1:53"), false)
                },
            ],
        }
    }

    #[test]
    fn u_shows_udp_sockets_and_tu_both_with_their_netid() {
        let u = show(&["-uan"]);
        let lines: Vec<&str> = u.lines().collect();
        assert_eq!(lines.len(), 3, "{u}");
        assert!(lines[0].starts_with("State "), "{u}");
        assert!(lines[1].starts_with("UNCONN 261"), "{u}");
        assert!(
            lines[2].starts_with("ESTAB ") && lines[2].contains("192.0.2.1:53"),
            "{u}"
        );
        let both = show(&["-tuan"]);
        let lines: Vec<&str> = both.lines().collect();
        assert_eq!(lines.len(), 7, "{both}");
        assert!(lines[0].starts_with("Netid State"), "{both}");
        assert!(lines[1].starts_with("udp   UNCONN"), "{both}");
        assert!(lines[3].starts_with("tcp   LISTEN"), "{both}");
        // -l: the listener and the unconnected UDP socket.
        let listening = show(&["-tul"]);
        assert_eq!(listening.lines().count(), 3, "{listening}");
        // -s stays TCP's count; the default stays TCP alone.
        assert!(show(&["-su"]).contains("estab 1"));
        assert_eq!(show(&[]).lines().count(), 5);
        let j: serde_json::Value = serde_json::from_str(&show(&["-tu", "--json"])).unwrap();
        assert_eq!(j[0]["netid"], "udp");
        assert_eq!(j[2]["netid"], "tcp");
    }

    #[test]
    fn the_table_is_ss_tan_and_l_keeps_listeners() {
        let all = show(&["-tan"]);
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines.len(), 5, "{all}");
        assert!(lines[0].starts_with("State"), "{all}");
        assert!(
            lines[1].starts_with("LISTEN") && lines[1].contains("0.0.0.0:*"),
            "{all}"
        );
        assert!(lines[2].starts_with("ESTAB"), "{all}");
        assert!(lines[4].starts_with("TIME-WAIT"), "{all}");
        let listening = show(&["-tln"]);
        assert_eq!(listening.lines().count(), 2, "{listening}");
    }

    #[test]
    fn summary_counts_states_and_orphans() {
        let s = show(&["-s"]);
        assert!(s.contains("estab 1"), "{s}");
        assert!(s.contains("orphaned 1"), "{s}");
        assert!(s.contains("timewait 1"), "{s}");
        assert!(
            s.ends_with("\nTCP buffer memory: 131072 bytes (normal)\n"),
            "{s}"
        );
        // A stack that does not say shows no memory line.
        let mut older = snapshot();
        older.memory_state.clear();
        let s = render(&older, &args(&["-s"]), &Filter::parse(&[]).unwrap());
        assert!(!s.contains("memory"), "{s}");
    }

    #[test]
    fn memory_goes_on_each_sockets_second_line_with_m() {
        let m = show(&["-tanm"]);
        let lines: Vec<&str> = m.lines().collect();
        // Header, then each socket with its memory line; TIME-WAIT has none.
        assert_eq!(lines.len(), 9, "{m}");
        assert!(lines[1].starts_with("LISTEN"), "{m}");
        assert!(
            lines[2].starts_with("\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)"),
            "{m}"
        );
        assert!(
            lines[8].starts_with("\t") && !lines[8].contains("skmem"),
            "{m}"
        );
        // Without -m, none; in JSON with -m, the numbers.
        assert!(!show(&["-tan"]).contains("skmem"));
        let j = show(&["-m", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v[1]["mem"]["rcvbuf"], 131_072);
        assert!(v[3].get("mem").is_none(), "TIME-WAIT: {j}");
    }

    #[test]
    fn json_is_an_array_of_rows() {
        let j = show(&["--json"]);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(4));
        assert_eq!(v[0]["state"], "LISTEN");
        assert_eq!(v[1]["peer"], "192.0.2.1:40000");
    }

    #[test]
    fn a_missing_control_socket_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sock");
        let a = args(&["--control", path.to_str().unwrap()]);
        assert_eq!(control_path(&a.target), Ok(path.clone()));
        let msg = control::query(&path).unwrap_err().to_string();
        assert!(msg.contains("no running synack"), "{msg}");
    }
}
