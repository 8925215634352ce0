//! The control socket: a running `synack serve` or `synack connect`
//! answers `synack ss` over a Unix socket.
//!
//! Protocol: the client connects and writes one line, `sockets`; the
//! server answers with one JSON [`Snapshot`] and closes. `kill LOCAL PEER`
//! (`ss -K`) ends that TCP connection or TIME-WAIT entry and answers
//! `{"killed": true}` or `false`. Anything else gets `{"error": "..."}`.
//!
//! The socket lives at [`default_path`] (derived from the device's name) or
//! wherever `--control` says. A server refuses to start over a socket that
//! still answers (another process has it) and removes one that does not (a
//! process that died); it removes its own when dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use synack_proto::stack::SocketId;
use synack_proto::tcp::conn::TcpInfo;

use crate::runtime::Runtime;

/// Everything `synack ss` shows about a running stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The process that answered.
    pub pid: u32,
    /// Its device (`synack0`).
    pub device: String,
    /// Every socket, listeners first.
    pub sockets: Vec<SocketRow>,
    /// Bytes the connections' buffers hold (the stack's `tcp_mem`
    /// counter).
    #[serde(default)]
    pub buffer_memory: u64,
    /// Where that stands against `tcp_mem`'s marks: `normal`, `pressure`
    /// or `exhausted` (empty from a stack that did not say).
    #[serde(default)]
    pub memory_state: String,
    /// The neighbour (ARP) caches of its Ethernet interfaces, for
    /// `synack neigh` (empty from a stack that did not say).
    #[serde(default)]
    pub neighbours: Vec<NeighRow>,
    /// Its bound UDP sockets, for `ss -u`: `UNCONN`, or `ESTAB` when
    /// connected; Recv-Q is the receive buffer's memory in use, Send-Q 0
    /// (empty from a stack that did not say).
    #[serde(default)]
    pub udp: Vec<SocketRow>,
}

/// One neighbour, as `ip neigh` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighRow {
    /// The stack's interface (0: the device).
    pub iface: u16,
    pub dst: Ipv4Addr,
    /// Its hardware address, `aa:bb:cc:dd:ee:ff`; `None` while resolving.
    pub lladdr: Option<String>,
    /// `REACHABLE`, `STALE`, `DELAY`, `PROBE`, `INCOMPLETE` or `PERMANENT`.
    pub state: String,
}

/// One socket, as `ss -tan` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketRow {
    /// The state as `ss` spells it: `ESTAB`, `SYN-RECV`, `TIME-WAIT`, ...
    pub state: String,
    /// Bytes not yet read (listeners: connections waiting for accept).
    pub recv_q: u64,
    /// Bytes not yet acknowledged (listeners: the backlog).
    pub send_q: u64,
    pub local: SocketAddrV4,
    /// `None` for listeners.
    pub peer: Option<SocketAddrV4>,
    /// Closed by the application, finished by the stack (FIN-WAIT, ...).
    pub orphan: bool,
    /// For connections the application holds, and listeners (congestion
    /// control and initial window only, as Linux shows them).
    pub info: Option<Info>,
    /// For connections the application holds, and listeners: their
    /// memory, `ss -m`.
    #[serde(default)]
    pub mem: Option<Mem>,
    /// The timer `ss -o` shows: `on`, `keepalive`, `timewait` or
    /// `persist`, when it fires and its retransmissions or probes.
    #[serde(default)]
    pub timer: Option<TimerRow>,
}

/// A socket's timer as `ss -o` shows it (`timer:(on,200ms,1)`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerRow {
    pub name: String,
    /// Milliseconds until it fires (0 if overdue).
    pub expires_ms: u64,
    /// Retransmissions of the current data, or probes unanswered.
    pub retrans: u32,
}

/// A connection's memory as `ss -m` shows it (`skmem:(r..,rb..,t..,tb..,
/// ...)`), bytes: [`synack_proto::tcp::conn::MemInfo`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mem {
    /// The receive buffer's memory (`r`).
    pub rmem_alloc: u32,
    /// The receive buffer's size (`rb`).
    pub rcvbuf: u32,
    /// The send buffer's memory (`w`).
    pub wmem_queued: u32,
    /// The send buffer's size (`tb`).
    pub sndbuf: u32,
}

/// A connection's `tcp_info` as `ss -i` shows it, named after ss's fields:
/// µs for RTT and RTO (the `_us` fields), ms for the `last*` ages, segments
/// for windows. ss leaves out a zero or `false` field; the Linux fields
/// synack does not keep (pacing and delivery rates, ...) stay so.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub ts: bool,
    pub sack: bool,
    pub ecn: bool,
    pub fastopen: bool,
    /// Congestion control algorithm ("cubic", "reno"); empty: not shown.
    pub cong: String,
    /// Window scale (send, receive), when negotiated.
    pub wscale: Option<(u8, u8)>,
    pub rto_us: u64,
    pub backoff: u32,
    pub rtt_us: u64,
    pub rttvar_us: u64,
    pub ato_us: u64,
    pub mss: u32,
    pub pmtu: u32,
    pub rcv_mss: u32,
    pub advmss: u32,
    pub cwnd: u32,
    /// 0 while slow start has no threshold (Linux: "infinite").
    pub ssthresh: u32,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u64,
    pub segs_in: u64,
    pub data_segs_out: u64,
    pub data_segs_in: u64,
    /// Milliseconds since the last send, receive and ACK.
    pub lastsnd_ms: u64,
    pub lastrcv_ms: u64,
    pub lastack_ms: u64,
    pub pacing_rate_bps: u64,
    pub delivery_rate_bps: u64,
    pub delivered: u64,
    pub app_limited: bool,
    pub unacked: u32,
    /// Segments in retransmission now, and retransmissions in total.
    pub retrans: u32,
    pub retrans_total: u32,
    pub lost: u32,
    pub sacked: u32,
    /// Reordering degree; shown when not Linux's default of 3.
    pub reordering: Option<u32>,
    pub rcv_rtt_us: u64,
    pub rcv_space: u32,
    pub rcv_ssthresh: u32,
    pub notsent: u32,
    pub min_rtt_us: u64,
    pub snd_wnd: u32,
    /// TCP MD5 keys (RFC 2385): a connection's for its peer, a listener's
    /// for each peer prefix, as `ADDR/LEN` and the key's bytes (`ss -i`'s
    /// `md5keys:`, which Linux shows to CAP_NET_ADMIN).
    #[serde(default)]
    pub md5keys: Vec<(Ipv4Addr, u8, Vec<u8>)>,
}

/// A key as [`Info::md5keys`] keeps it.
fn md5_row(
    (addr, len, key): (Ipv4Addr, u8, synack_proto::tcp::md5::Md5Key),
) -> (Ipv4Addr, u8, Vec<u8>) {
    (addr, len, key.as_bytes().to_vec())
}

/// `tcpi_options` bits (Linux's `TCPI_OPT_*`).
const TCPI_OPT_TIMESTAMPS: u8 = 1;
const TCPI_OPT_SACK: u8 = 2;
const TCPI_OPT_WSCALE: u8 = 4;
const TCPI_OPT_ECN: u8 = 8;

/// Linux's "infinite" ssthresh (`TCP_INFINITE_SSTHRESH`).
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

impl From<&synack_proto::tcp::conn::MemInfo> for Mem {
    fn from(m: &synack_proto::tcp::conn::MemInfo) -> Self {
        Mem {
            rmem_alloc: m.rmem_alloc,
            rcvbuf: m.rcvbuf,
            wmem_queued: m.wmem_queued,
            sndbuf: m.sndbuf,
        }
    }
}

impl From<&TcpInfo> for Info {
    fn from(i: &TcpInfo) -> Info {
        Info {
            ts: i.options & TCPI_OPT_TIMESTAMPS != 0,
            sack: i.options & TCPI_OPT_SACK != 0,
            ecn: i.options & TCPI_OPT_ECN != 0,
            wscale: (i.options & TCPI_OPT_WSCALE != 0).then_some((i.snd_wscale, i.rcv_wscale)),
            cong: i.congestion.to_owned(),
            rto_us: i.rto,
            backoff: i.backoff,
            rtt_us: i.rtt,
            rttvar_us: i.rttvar,
            ato_us: i.ato,
            mss: i.snd_mss,
            pmtu: i.pmtu,
            rcv_mss: i.rcv_mss,
            advmss: i.advmss,
            cwnd: i.snd_cwnd,
            // ss shows nothing while slow start has no threshold.
            ssthresh: if i.snd_ssthresh >= INFINITE_SSTHRESH {
                0
            } else {
                i.snd_ssthresh
            },
            bytes_sent: i.bytes_sent,
            bytes_retrans: i.bytes_retrans,
            bytes_acked: i.bytes_acked,
            bytes_received: i.bytes_received,
            segs_out: i.segs_out,
            segs_in: i.segs_in,
            data_segs_out: i.data_segs_out,
            data_segs_in: i.data_segs_in,
            lastsnd_ms: i.last_data_sent,
            lastrcv_ms: i.last_data_recv,
            lastack_ms: i.last_ack_recv,
            delivered: i.delivered,
            unacked: i.unacked,
            retrans: u32::from(i.retransmits),
            retrans_total: u32::try_from(i.total_retrans).unwrap_or(u32::MAX),
            reordering: Some(i.reordering),
            rcv_space: i.rcv_space,
            notsent: i.notsent_bytes,
            min_rtt_us: i.min_rtt,
            snd_wnd: i.snd_wnd,
            ..Info::default()
        }
    }
}

impl Runtime {
    /// The stack's sockets now, for `ss`.
    pub fn snapshot(&self, device: &str) -> Snapshot {
        let (sockets, buffer_memory, memory_state, neighbours, udp) = self.with_stack(|stack| {
            let sockets = stack
                .sockets()
                .map(|s| {
                    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                    let mem = match s.id {
                        SocketId::Conn(Some(c)) => stack.tcp_mem_info(c).map(|m| Mem::from(&m)),
                        // A listener's: the sizes its connections start
                        // with, as Linux shows them (`tcp_rmem`, `tcp_wmem`).
                        SocketId::Listener(_) => Some(Mem {
                            rcvbuf: clamp(stack.config().tcp_rmem.default),
                            sndbuf: clamp(stack.config().tcp_wmem.default),
                            ..Mem::default()
                        }),
                        SocketId::Conn(None) => None,
                    };
                    let (orphan, info) = match s.id {
                        SocketId::Conn(Some(c)) => {
                            let info = stack.tcp_info(c).map(|i| Info {
                                md5keys: stack.tcp_md5_key(c).into_iter().map(md5_row).collect(),
                                ..Info::from(&i)
                            });
                            (false, info)
                        }
                        SocketId::Conn(None) => (true, None),
                        // What Linux's ss -i shows for a listener.
                        SocketId::Listener(l) => (
                            false,
                            Some(Info {
                                cong: stack.config().tcp_congestion_control.name().into(),
                                cwnd: stack.config().tcp_init_cwnd,
                                md5keys: stack
                                    .tcp_listener_md5_keys(l)
                                    .into_iter()
                                    .map(md5_row)
                                    .collect(),
                                ..Info::default()
                            }),
                        ),
                    };
                    SocketRow {
                        state: s.state.ss_name().to_owned(),
                        recv_q: s.recv_q as u64,
                        send_q: s.send_q as u64,
                        local: s.local,
                        peer: s.remote,
                        // Compact TIME-WAIT entries have no owner either, but
                        // ss does not call them orphans.
                        orphan: orphan && s.state != synack_proto::tcp::state::TcpState::TimeWait,
                        info,
                        mem,
                        timer: s.timer.map(|t| TimerRow {
                            name: t.kind.name().to_owned(),
                            expires_ms: (t.expires - stack.now()).total_millis(),
                            retrans: t.retrans,
                        }),
                    }
                })
                .collect();
            let memory = stack.buffer_memory() as u64;
            let neighbours = stack
                .neighbours()
                .into_iter()
                .map(|(iface, n)| NeighRow {
                    iface: iface.0,
                    dst: n.ip,
                    lladdr: n.mac.map(|m| m.to_string()),
                    state: n.state.name().to_owned(),
                })
                .collect();
            let state = stack.memory_state().name().to_owned();
            let udp = stack
                .udp_sockets()
                .map(|u| SocketRow {
                    state: if u.peer.is_some() { "ESTAB" } else { "UNCONN" }.to_owned(),
                    recv_q: u.rmem as u64,
                    send_q: 0,
                    local: u.local,
                    peer: u.peer,
                    orphan: false,
                    info: None,
                    mem: None,
                    timer: None,
                })
                .collect();
            (sockets, memory, state, neighbours, udp)
        });
        Snapshot {
            pid: std::process::id(),
            device: device.to_owned(),
            sockets,
            buffer_memory,
            memory_state,
            neighbours,
            udp,
        }
    }
}

/// Where the control socket of the stack on device `name` lives:
/// `/run/synack/NAME.sock` for root, `$XDG_RUNTIME_DIR/synack/NAME.sock`
/// (or `$TMPDIR/synack-UID/NAME.sock`) for others.
pub fn default_path(name: &str) -> PathBuf {
    runtime_dir().join(format!("{name}.sock"))
}

/// The directory of the control sockets (see [`default_path`]).
pub fn runtime_dir() -> PathBuf {
    let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    if uid == 0 {
        return PathBuf::from("/run/synack");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("synack"),
        _ => std::env::temp_dir().join(format!("synack-{uid}")),
    }
}

/// Serves [`Snapshot`]s of a runtime on a Unix socket until dropped.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Binds `path` (creating its directory) and answers in a thread.
    pub fn start(rt: Runtime, device: &str, path: impl Into<PathBuf>) -> io::Result<ControlServer> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                io::Error::new(e.kind(), format!("creating {}: {e}", dir.display()))
            })?;
        }
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                if UnixStream::connect(&path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "{} belongs to another running synack (use --control PATH)",
                            path.display()
                        ),
                    ));
                }
                // Nobody answers: a process that died left it.
                std::fs::remove_file(&path)?;
                UnixListener::bind(&path)?
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("binding control socket {}: {e}", path.display()),
                ));
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let device = device.to_owned();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("synack-control".into())
                .spawn(move || serve(listener, rt, device, stop))?
        };
        Ok(ControlServer {
            path,
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, rt: Runtime, device: String, stop: Arc<AtomicBool>) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else {
            continue;
        };
        // A client that never sends its line does not hold us up for long.
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = answer(conn, &rt, &device);
    }
}

fn answer(conn: UnixStream, rt: &Runtime, device: &str) -> io::Result<()> {
    let mut line = String::new();
    BufReader::new(&conn).take(256).read_line(&mut line)?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let reply = match words[..] {
        ["sockets"] => serde_json::to_string(&rt.snapshot(device)),
        ["kill", local, peer] => match (local.parse(), peer.parse()) {
            (Ok(local), Ok(peer)) => serde_json::to_string(&serde_json::json!({
                "killed": rt.destroy_tcp(local, peer)
            })),
            _ => serde_json::to_string(&serde_json::json!({
                "error": format!("not two IPv4 addresses with ports: {line:?}")
            })),
        },
        _ => serde_json::to_string(&serde_json::json!({
            "error": format!("unknown request {:?}", line.trim())
        })),
    }
    .map_err(io::Error::other)?;
    let mut conn = conn;
    conn.write_all(reply.as_bytes())?;
    conn.write_all(b"\n")
}

/// Why [`query`] found no running stack.
#[derive(Debug)]
pub enum QueryError {
    /// No control socket at the path: nothing runs on that device.
    Missing(PathBuf),
    /// A socket that nobody answers: the process died.
    Dead(PathBuf),
    /// Anything else (permissions, a garbled answer).
    Other(PathBuf, io::Error),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Missing(p) => write!(
                f,
                "no running synack: no control socket at {} (is `synack serve` running? pass --control PATH or --tap NAME)",
                p.display()
            ),
            QueryError::Dead(p) => write!(
                f,
                "the synack process behind {} is gone (stale control socket)",
                p.display()
            ),
            QueryError::Other(p, e) => write!(f, "asking {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for QueryError {}

/// Asks the stack behind the control socket at `path` for its sockets.
pub fn query(path: &Path) -> Result<Snapshot, QueryError> {
    let reply = ask(path, "sockets")?;
    serde_json::from_str(&reply).map_err(|e| {
        QueryError::Other(
            path.to_owned(),
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a snapshot ({e}): {}", reply.trim()),
            ),
        )
    })
}

/// Asks the stack behind the control socket at `path` to end the TCP
/// connection (or TIME-WAIT entry) from `local` to `peer` (`ss -K`):
/// whether there was one.
pub fn kill(path: &Path, local: SocketAddrV4, peer: SocketAddrV4) -> Result<bool, QueryError> {
    let reply = ask(path, &format!("kill {local} {peer}"))?;
    let answer: serde_json::Value = serde_json::from_str(&reply).unwrap_or_default();
    answer["killed"].as_bool().ok_or_else(|| {
        let e = io::Error::new(io::ErrorKind::InvalidData, reply.trim().to_owned());
        QueryError::Other(path.to_owned(), e)
    })
}

/// One request line to the control socket at `path`, and its answer line.
fn ask(path: &Path, request: &str) -> Result<String, QueryError> {
    let conn = UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => QueryError::Missing(path.to_owned()),
        io::ErrorKind::ConnectionRefused => QueryError::Dead(path.to_owned()),
        _ => QueryError::Other(path.to_owned(), e),
    })?;
    let other = |e: io::Error| QueryError::Other(path.to_owned(), e);
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(other)?;
    (&conn)
        .write_all(format!("{request}\n").as_bytes())
        .map_err(other)?;
    let mut reply = String::new();
    BufReader::new(&conn).read_line(&mut reply).map_err(other)?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_dead_sockets_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.sock");
        assert!(matches!(query(&missing), Err(QueryError::Missing(_))));
        // A socket file whose listener is gone.
        let dead = dir.path().join("dead.sock");
        drop(UnixListener::bind(&dead).unwrap());
        assert!(matches!(query(&dead), Err(QueryError::Dead(_))));
        let msg = query(&dead).unwrap_err().to_string();
        assert!(msg.contains("gone"), "{msg}");
    }

    #[test]
    fn default_paths_are_per_device() {
        let a = default_path("synack0");
        assert!(a.ends_with("synack0.sock"), "{}", a.display());
        assert_ne!(a, default_path("synack1"));
    }
}
