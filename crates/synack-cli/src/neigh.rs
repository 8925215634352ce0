//! `synack neigh`: the neighbour (ARP) caches of a running `synack serve` or
//! `connect`, read over its control socket and printed as iproute2's
//! `ip neigh` prints them.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use synack::control::{NeighRow, Snapshot};

use crate::ss::{ControlArgs, query};

const EXAMPLES: &str = "\
Examples:
  synack neigh                   # the one running synack's neighbours (like ip neigh)
  synack neigh --tap synack0     # those of the stack on synack0
  synack neigh --json            # as ip -j neigh

Without --control, --tap or --tun, the control socket is the only one in /run/synack (as root).
A stack on a TUN device has no neighbours: IP links resolve nothing.";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct NeighArgs {
    #[command(flatten)]
    target: ControlArgs,
    /// JSON instead of lines, as `ip -j neigh`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &NeighArgs) -> ExitCode {
    match query("neigh", &args.target) {
        Ok(snapshot) => {
            print!("{}", render(&snapshot, args.json));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// The interface's name: the device for the first, `DEVICE:N` beyond it.
fn dev(snapshot: &Snapshot, row: &NeighRow) -> String {
    match row.iface {
        0 => snapshot.device.clone(),
        n => format!("{}:{n}", snapshot.device),
    }
}

fn render(snapshot: &Snapshot, json: bool) -> String {
    if json {
        let rows: Vec<serde_json::Value> = snapshot
            .neighbours
            .iter()
            .map(|r| {
                let mut v = json!({
                    "dst": r.dst.to_string(),
                    "dev": dev(snapshot, r),
                    "state": [r.state],
                });
                if let Some(mac) = &r.lladdr {
                    v["lladdr"] = json!(mac);
                }
                v
            })
            .collect();
        return serde_json::Value::Array(rows).to_string() + "\n";
    }
    let mut out = String::new();
    for r in &snapshot.neighbours {
        let lladdr = r
            .lladdr
            .as_ref()
            .map(|m| format!(" lladdr {m}"))
            .unwrap_or_default();
        out += &format!("{} dev {}{lladdr} {}\n", r.dst, dev(snapshot, r), r.state);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let row = |iface, dst: &str, lladdr: Option<&str>, state: &str| NeighRow {
            iface,
            dst: dst.parse().unwrap(),
            lladdr: lladdr.map(Into::into),
            state: state.into(),
        };
        Snapshot {
            device: "synack0".into(),
            neighbours: vec![
                row(0, "192.0.2.1", Some("02:00:00:00:00:01"), "REACHABLE"),
                row(0, "192.0.2.9", None, "INCOMPLETE"),
                row(1, "198.51.100.1", Some("02:00:00:00:00:07"), "STALE"),
            ],
            ..Snapshot::default()
        }
    }

    #[test]
    fn lines_are_ip_neighs() {
        assert_eq!(
            render(&snapshot(), false),
            "192.0.2.1 dev synack0 lladdr 02:00:00:00:00:01 REACHABLE\n\
             192.0.2.9 dev synack0 INCOMPLETE\n\
             198.51.100.1 dev synack0:1 lladdr 02:00:00:00:00:07 STALE\n"
        );
        assert_eq!(render(&Snapshot::default(), false), "");
    }

    #[test]
    fn json_is_ip_j_neighs() {
        let v: serde_json::Value = serde_json::from_str(&render(&snapshot(), true)).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(3));
        assert_eq!(v[0]["dst"], "192.0.2.1");
        assert_eq!(v[0]["lladdr"], "02:00:00:00:00:01");
        assert_eq!(v[0]["state"][0], "REACHABLE");
        assert!(v[1].get("lladdr").is_none());
        assert_eq!(v[2]["dev"], "synack0:1");
    }
}
