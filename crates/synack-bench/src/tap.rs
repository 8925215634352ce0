//! `tap` (root only): throughput between synack and the Linux kernel over a
//! TAP device, and the kernel's own TCP over a veth pair, in the same run.
//!
//! Every measurement runs in a fresh network namespace of its own
//! ([`synack_tap::netns::run_in_fresh`]), with TEST-NET-2 addresses
//! (198.51.100.0/24): the kernel's side of the TAP is 198.51.100.1, synack
//! is 198.51.100.2 behind it (Ethernet, ARP). The root namespace is never
//! touched. MTU 1500 everywhere.
//!
//! - `to_kernel`: synack connects to a kernel listener and sends;
//! - `from_kernel`: a kernel socket connects to a synack listener and sends;
//! - `offload_*`: the same with `IFF_VNET_HDR` and `TUNSETOFFLOAD`
//!   (checksum, TSO4): the kernel hands synack 64 KB super-segments with
//!   partial checksums, which synack takes whole
//!   ([`Stack::handle_frame_offloaded`]), and sends them: TSO
//!   super-segments of whole MSS pieces with partial checksums
//!   ([`Stack::poll_transmit_offloaded`]), described to the kernel in the
//!   virtio-net header (`gso_type` TCPV4, `NEEDS_CSUM`);
//! - without offloads the TAP is opened with `IFF_NAPI` and its NAPI runs
//!   in a kernel thread (threaded NAPI), so the kernel's receive path for
//!   synack's frames runs in batches beside synack's thread, not inside
//!   each `write(2)` (`Driver::new`);
//! - `kernel_veth`: kernel to kernel over a veth pair whose ends are in two
//!   fresh namespaces (created with `ip link`, inside them).
//!
//! synack runs on one thread with a plain loop (read every frame the TAP
//! has, timers, write every frame the stack has, the application, then wait
//! for the TAP when idle); the kernel's socket on another. The rate is the
//! stream's length over the wall time from connect to the last byte read.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration as WallDuration, Instant as WallInstant};

use serde::Serialize;
use synack_proto::stack::{
    ConnHandle, ConnectOptions, FrameBuf, FrameOffload, IfaceId, Interface, Offloads as TxOffloads,
};
use synack_proto::tcp::conn::{Shutdown as TcpShutdown, SocketOptions};
use synack_proto::wire::ethernet::EthernetAddress;
use synack_proto::{Config, Duration, Instant, Stack};
use synack_tap::{
    FLAG_DATA_VALID, FLAG_NEEDS_CSUM, GsoType, MAX_GSO_FRAME_LEN, Offloads, Options, Tap,
    VirtioNetHdr, netns,
};

use crate::bulk::gbps;
use crate::stats::median;

/// The kernel's address (its side of the TAP, or the veth's first end).
pub const KERNEL_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// synack's address (or the veth's second end).
pub const SYNACK_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const PREFIX: u8 = 24;
const MTU: usize = 1500;
/// A locally administered unicast MAC for synack.
const SYNACK_MAC: EthernetAddress = EthernetAddress([0x02, 0x53, 0x59, 0x4e, 0x41, 0x4b]);
/// Socket buffers on both sides (synack's grow to this on demand).
const BUFFER: usize = 4 << 20;
/// A run that takes longer than this has stalled.
const RUN_LIMIT: WallDuration = WallDuration::from_secs(30);

/// Sizes and repetitions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TapConfig {
    /// Bytes per transfer.
    pub bytes: u64,
    pub reps: usize,
}

impl TapConfig {
    /// About a minute on this machine: 512 MiB, 3 repetitions of each of
    /// the five figures.
    pub fn full() -> TapConfig {
        TapConfig {
            bytes: 512 << 20,
            reps: 3,
        }
    }
}

/// Issue 8's `tap` object (Gbit/s, medians), plus how it was measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TapRow {
    pub to_kernel_gbps: f64,
    pub from_kernel_gbps: f64,
    pub offload_to_kernel_gbps: f64,
    pub offload_from_kernel_gbps: f64,
    pub kernel_veth_gbps: f64,
    pub bytes: u64,
    pub repetitions: usize,
}

/// Why the TAP measurement could not run or failed.
#[derive(Debug)]
pub enum TapError {
    /// Not root, no /dev/net/tun, or no namespaces.
    Unsupported(String),
    Io(String),
    /// Fewer bytes arrived than were sent, or nothing moved for too long.
    Incomplete(String),
}

impl std::fmt::Display for TapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TapError::Unsupported(why) => write!(
                f,
                "`synack bench tap` needs root, /dev/net/tun and network namespaces: {why}"
            ),
            TapError::Io(e) => write!(f, "{e}"),
            TapError::Incomplete(e) => write!(f, "incomplete transfer: {e}"),
        }
    }
}

impl std::error::Error for TapError {}

fn io_err(what: &str) -> impl FnOnce(io::Error) -> TapError + '_ {
    move |e| TapError::Io(format!("{what}: {e}"))
}

/// Whether `tap` can run here, or why not.
pub fn supported() -> Result<(), String> {
    netns::support()
}

/// Runs every figure `cfg.reps` times (alternating, so drift hits all).
pub fn run_tap(cfg: &TapConfig) -> Result<TapRow, TapError> {
    netns::support().map_err(TapError::Unsupported)?;
    let mut runs: [Vec<f64>; 5] = Default::default();
    for _ in 0..cfg.reps.max(1) {
        runs[0].push(in_namespace(|| synack_to_kernel(cfg.bytes, false))?);
        runs[1].push(in_namespace(|| kernel_to_synack(cfg.bytes, false))?);
        runs[2].push(in_namespace(|| synack_to_kernel(cfg.bytes, true))?);
        runs[3].push(in_namespace(|| kernel_to_synack(cfg.bytes, true))?);
        runs[4].push(in_namespace(|| kernel_veth(cfg.bytes))?);
    }
    let m = |i: usize| median(&runs[i]).unwrap_or(0.0);
    Ok(TapRow {
        to_kernel_gbps: m(0),
        from_kernel_gbps: m(1),
        offload_to_kernel_gbps: m(2),
        offload_from_kernel_gbps: m(3),
        kernel_veth_gbps: m(4),
        bytes: cfg.bytes,
        repetitions: runs[0].len(),
    })
}

pub fn in_namespace(f: impl FnOnce() -> Result<f64, TapError> + Send) -> Result<f64, TapError> {
    netns::run_in_fresh(f).map_err(io_err("entering a fresh network namespace"))?
}

/// Frames read per turn at most, so output and the application get theirs.
const RX_TURN: usize = 256;

/// Plain frames handed to the stack together (software GRO's batch).
const RX_BATCH: usize = 64;

/// synack on a TAP, driven by one thread.
struct Driver {
    tap: Tap,
    stack: Stack,
    offload: bool,
    rx: Vec<u8>,
    /// Without offloads: frames read in one go, handed to the stack as one
    /// batch so software GRO merges a flow's segments and a connection may
    /// keep in-order frames instead of copying them, as the runtime's
    /// driver does (`Stack::handle_frames_owned`).
    rx_batch: Vec<FrameBuf>,
    /// Buffers of kept frames the stack gave back, for the slots it took.
    rx_spare: Vec<Vec<u8>>,
    tx: Vec<u8>,
    start: WallInstant,
    /// TSO super-segments handed to the TAP.
    super_segments: u64,
}

impl Driver {
    /// A TAP named `sbtap0` in the current (fresh) namespace, the kernel's
    /// side at [`KERNEL_ADDR`], and a synack stack behind it.
    ///
    /// Without offloads the TAP takes its frames through NAPI in a kernel
    /// thread of its own (`IFF_NAPI`, threaded NAPI), as `synack link`'s
    /// plain TAP does: the kernel's receive path for the 1,514-byte frames
    /// synack writes then runs in batches, with GRO, beside synack's thread
    /// instead of inside each `write(2)` (2.1-2.8x to the kernel in session
    /// 22's alternating runs). With offloads each write already carries up
    /// to 64 KB, and the extra thread cost more than it gave from the
    /// kernel, so that TAP keeps the kernel's default.
    fn new(offload: bool) -> Result<Driver, TapError> {
        let opts = if offload {
            Options::new("sbtap0").vnet_hdr(Offloads::TCP)
        } else {
            Options::new("sbtap0").napi(true)
        };
        let tap = Tap::with_options(&opts).map_err(io_err("opening the TAP"))?;
        if !offload {
            tap.set_threaded_napi(true)
                .map_err(io_err("threading the TAP's NAPI"))?;
        }
        tap.set_mtu(MTU).map_err(io_err("setting the TAP's MTU"))?;
        tap.set_kernel_addr(KERNEL_ADDR, PREFIX)
            .map_err(io_err("addressing the TAP"))?;
        tap.set_up().map_err(io_err("bringing the TAP up"))?;
        let mut config = Config {
            mtu: MTU,
            seed: 8,
            // A fixed `BUFFER` each way, as the method says (the connection
            // the kernel opens takes `tcp_rmem`'s default).
            tcp_moderate_rcvbuf: false,
            ..Config::default()
        };
        config.tcp_rmem.max = config.tcp_rmem.max.max(BUFFER);
        config.tcp_rmem.default = BUFFER;
        config.tcp_wmem.max = config.tcp_wmem.max.max(BUFFER);
        config.tcp_wmem.default = BUFFER;
        let mut stack = Stack::new(config, Interface::ethernet(SYNACK_MAC, SYNACK_ADDR, PREFIX));
        let tx_len = if offload {
            stack.set_offloads(
                IfaceId(0),
                TxOffloads {
                    tso: true,
                    csum: true,
                },
            );
            MAX_GSO_FRAME_LEN
        } else {
            MTU + 14
        };
        let rx = vec![0; tap.max_frame_len().max(MTU + 14)];
        let rx_batch = if offload {
            Vec::new()
        } else {
            vec![FrameBuf::new(vec![0; rx.len()], 0); RX_BATCH]
        };
        Ok(Driver {
            tap,
            stack,
            offload,
            rx,
            rx_batch,
            rx_spare: Vec::new(),
            tx: vec![0; tx_len],
            start: WallInstant::now(),
            super_segments: 0,
        })
    }

    fn now(&self) -> Instant {
        Instant::ZERO + Duration::from(self.start.elapsed())
    }

    /// One turn: frames in, timers, frames out. Returns whether anything moved.
    fn turn(&mut self) -> Result<bool, TapError> {
        let mut moved = false;
        let now = self.now();
        if self.offload {
            moved |= self.read_offloaded(now)?;
        } else {
            moved |= self.read_batches(now)?;
        }
        self.stack.handle_timeout(now);
        loop {
            let sent = if self.offload {
                let Some(t) = self.stack.poll_transmit_offloaded(now, &mut self.tx) else {
                    break;
                };
                let hdr = t.offload.map(vnet_header).unwrap_or_default();
                self.super_segments += u64::from(hdr.gso_type == GsoType::TcpV4);
                self.tap.send_vnet(&hdr, &self.tx[..t.len])
            } else {
                let Some(n) = self.stack.poll_transmit(now, &mut self.tx) else {
                    break;
                };
                self.tap.send(&self.tx[..n])
            };
            moved = true;
            match sent {
                Ok(_) => {}
                // A full queue drops the frame, as a NIC would: TCP retransmits.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(TapError::Io(format!("writing the TAP: {e}"))),
            }
        }
        while self.stack.poll_event().is_some() {}
        Ok(moved)
    }

    /// Offloaded frames one by one: a vouched super-packet goes to TCP whole.
    fn read_offloaded(&mut self, now: Instant) -> Result<bool, TapError> {
        let mut moved = false;
        // Bounded, so output and the application get their turn.
        for _ in 0..RX_TURN {
            match self.tap.recv_vnet(&mut self.rx) {
                Ok((hdr, n)) => {
                    moved = true;
                    let frame = &self.rx[..n];
                    if hdr.flags & (FLAG_NEEDS_CSUM | FLAG_DATA_VALID) != 0 {
                        self.stack.handle_frame_offloaded(now, IfaceId(0), frame);
                    } else {
                        self.stack.handle_frame(now, frame);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(TapError::Io(format!("reading the TAP: {e}"))),
            }
        }
        Ok(moved)
    }

    /// Plain frames in batches of up to [`RX_BATCH`], each handed to the
    /// stack at once; at most [`RX_TURN`] frames per turn.
    fn read_batches(&mut self, now: Instant) -> Result<bool, TapError> {
        let mut moved = false;
        let size = self.rx.len();
        let spare = &mut self.rx_spare;
        self.stack
            .reclaim_frames(|buf| FrameBuf::keep_spare(spare, buf, size, RX_BATCH));
        for _ in 0..RX_TURN / RX_BATCH {
            let mut held = 0;
            let mut drained = false;
            while held < RX_BATCH {
                match self.tap.recv(&mut self.rx_batch[held].buf) {
                    Ok(n) => {
                        self.rx_batch[held].len = n;
                        held += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        drained = true;
                        break;
                    }
                    Err(e) => return Err(TapError::Io(format!("reading the TAP: {e}"))),
                }
            }
            if held > 0 {
                moved = true;
                let frames = &mut self.rx_batch[..held];
                self.stack.handle_frames_owned(now, IfaceId(0), frames);
                for f in frames {
                    f.refill(&mut self.rx_spare, size);
                }
            }
            if drained {
                break;
            }
        }
        Ok(moved)
    }

    /// Nothing moved: wait for a frame or the next timer (at most 1 ms).
    fn idle(&mut self) -> Result<(), TapError> {
        let now = self.now();
        let wait = self
            .stack
            .poll_timeout()
            .map_or(WallDuration::from_millis(1), |t| {
                let micros = if t > now { (t - now).total_micros() } else { 0 };
                WallDuration::from_micros(micros)
            })
            .min(WallDuration::from_millis(1));
        self.tap
            .wait_readable(Some(wait))
            .map_err(io_err("waiting for the TAP"))?;
        Ok(())
    }

    fn check_time(&self, what: &str) -> Result<(), TapError> {
        if self.start.elapsed() > RUN_LIMIT {
            return Err(TapError::Incomplete(format!("{what}: over {RUN_LIMIT:?}")));
        }
        Ok(())
    }
}

/// The virtio-net header (virtio 1.0 §5.1.6.2) for a frame the stack
/// left for the device to finish: a partial checksum, and for a
/// super-segment TSO over IPv4 in `gso_size` pieces.
pub fn vnet_header(o: FrameOffload) -> VirtioNetHdr {
    VirtioNetHdr::tcp4_offload(o.csum_start, o.csum_offset, o.hdr_len, o.gso_size)
}

/// The kernel reader's `SO_RCVLOWAT`.
const READER_LOWAT: usize = 128 * 1024;

fn socket_options() -> SocketOptions {
    SocketOptions {
        recv_buffer: Some(BUFFER),
        send_buffer: Some(BUFFER),
        ..SocketOptions::default()
    }
}

/// The repeating pattern both directions send.
fn pattern() -> Vec<u8> {
    (0..64 * 1024u32).map(|i| (i * 7 + 13) as u8).collect()
}

/// synack sends `bytes` to a kernel socket; Gbit/s as the kernel reads them.
pub fn synack_to_kernel(bytes: u64, offload: bool) -> Result<f64, TapError> {
    synack_to_kernel_with(bytes, offload, false).map(|r| r.gbps)
}

/// What [`synack_to_kernel_verified`] saw.
#[derive(Clone, Copy, Debug)]
pub struct ToKernelRun {
    pub gbps: f64,
    /// TSO super-segments synack wrote to the TAP.
    pub super_segments: u64,
    /// Whether the kernel took synack's frames through NAPI in a thread of
    /// its own (`IFF_NAPI` and threaded NAPI, asked from the kernel after
    /// the run).
    pub threaded_napi: bool,
}

/// [`synack_to_kernel`], with the kernel comparing every byte it reads
/// with the pattern sent (an error if one differs).
pub fn synack_to_kernel_verified(bytes: u64, offload: bool) -> Result<ToKernelRun, TapError> {
    synack_to_kernel_with(bytes, offload, true)
}

fn synack_to_kernel_with(bytes: u64, offload: bool, verify: bool) -> Result<ToKernelRun, TapError> {
    let mut d = Driver::new(offload)?;
    let listener = TcpListener::bind(SocketAddrV4::new(KERNEL_ADDR, 5001))
        .map_err(io_err("kernel listener"))?;
    let done = Arc::new(AtomicBool::new(false));
    let reader_done = done.clone();
    let reader = std::thread::spawn(move || -> io::Result<(u64, WallInstant)> {
        let (mut s, _) = listener.accept()?;
        // Wake for 128 KiB at a time, not for every frame.
        synack_tap::poll::set_rcvlowat(&s, READER_LOWAT)?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        let expected = pattern();
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if verify {
                for (i, &b) in buf[..n].iter().enumerate() {
                    let at = got + i as u64;
                    if b != expected[(at % expected.len() as u64) as usize] {
                        reader_done.store(true, Ordering::Release);
                        return Err(io::Error::other(format!("byte {at} differs")));
                    }
                }
            }
            got += n as u64;
        }
        let end = WallInstant::now();
        reader_done.store(true, Ordering::Release);
        Ok((got, end))
    });
    let data = pattern();
    let start = WallInstant::now();
    let now = d.now();
    let conn: ConnHandle = d
        .stack
        .tcp_connect(
            now,
            SocketAddrV4::new(KERNEL_ADDR, 5001),
            ConnectOptions {
                socket: socket_options(),
                ..ConnectOptions::default()
            },
        )
        .map_err(|e| TapError::Io(format!("synack connect: {e}")))?;
    let mut sent = 0u64;
    let mut shut = false;
    while !done.load(Ordering::Acquire) {
        let mut moved = d.turn()?;
        let now = d.now();
        while sent < bytes {
            let off = (sent % data.len() as u64) as usize;
            let len = (data.len() - off).min((bytes - sent) as usize);
            match d.stack.tcp_send(now, conn, &data[off..off + len]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    sent += n as u64;
                    moved = true;
                }
            }
        }
        if sent == bytes && !shut {
            shut = d.stack.tcp_shutdown(now, conn, TcpShutdown::Write).is_ok();
        }
        if !moved {
            d.idle()?;
        }
        d.check_time("synack to kernel")?;
    }
    let (got, end) = reader
        .join()
        .map_err(|_| TapError::Io("kernel reader panicked".into()))?
        .map_err(io_err("kernel reader"))?;
    if got != bytes {
        return Err(TapError::Incomplete(format!(
            "kernel read {got} of {bytes}"
        )));
    }
    let threaded_napi = d.tap.napi().map_err(io_err("asking for the TAP's flags"))?
        && d.tap
            .threaded_napi()
            .map_err(io_err("reading the TAP's threaded NAPI"))?;
    Ok(ToKernelRun {
        gbps: gbps(bytes, (end - start).as_secs_f64()),
        super_segments: d.super_segments,
        threaded_napi,
    })
}

/// A kernel socket sends `bytes` to synack; Gbit/s as synack reads them.
pub fn kernel_to_synack(bytes: u64, offload: bool) -> Result<f64, TapError> {
    kernel_to_synack_with(bytes, offload, false).map(|r| r.gbps)
}

/// What [`kernel_to_synack_verified`] saw.
#[derive(Clone, Copy, Debug)]
pub struct FromKernelRun {
    pub gbps: f64,
    /// The connection's `tcp_info` counters at the end: segments synack
    /// sent (its ACKs) and data segments it took in (a super-packet counts
    /// as the segments it carries).
    pub segs_out: u64,
    pub data_segs_in: u64,
}

/// [`kernel_to_synack`], with synack comparing every byte it reads with
/// the stream the kernel wrote.
pub fn kernel_to_synack_verified(bytes: u64, offload: bool) -> Result<FromKernelRun, TapError> {
    kernel_to_synack_with(bytes, offload, true)
}

fn kernel_to_synack_with(
    bytes: u64,
    offload: bool,
    verify: bool,
) -> Result<FromKernelRun, TapError> {
    let mut d = Driver::new(offload)?;
    let expected = pattern();
    let listener = d
        .stack
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5002), 16)
        .map_err(|e| TapError::Io(format!("synack listen: {e}")))?;
    let start = WallInstant::now();
    let writer = std::thread::spawn(move || -> io::Result<()> {
        let data = pattern();
        let mut s = TcpStream::connect(SocketAddrV4::new(SYNACK_ADDR, 5002))?;
        let mut left = bytes;
        while left > 0 {
            let n = (data.len() as u64).min(left) as usize;
            s.write_all(&data[..n])?;
            left -= n as u64;
        }
        s.shutdown(Shutdown::Write)?;
        Ok(())
    });
    let mut conn = None;
    let mut got = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    while got < bytes {
        let mut moved = d.turn()?;
        let now = d.now();
        if conn.is_none() {
            conn = d.stack.tcp_accept(listener).ok();
        }
        if let Some(c) = conn {
            while let Ok(n) = d.stack.tcp_recv(now, c, &mut buf) {
                if n == 0 {
                    break;
                }
                if verify && !matches_pattern(&expected, got, &buf[..n]) {
                    return Err(TapError::Io(format!(
                        "synack read wrong bytes at offset {got}"
                    )));
                }
                got += n as u64;
                moved = true;
            }
        }
        if !moved {
            d.idle()?;
        }
        d.check_time("kernel to synack")?;
    }
    let end = WallInstant::now();
    // Let the kernel's last ACKs and FIN through so the writer finishes.
    let settle = WallInstant::now();
    while !writer.is_finished() && settle.elapsed() < WallDuration::from_secs(2) {
        if !d.turn()? {
            d.idle()?;
        }
    }
    if writer.is_finished() {
        writer
            .join()
            .map_err(|_| TapError::Io("kernel writer panicked".into()))?
            .map_err(io_err("kernel writer"))?;
    }
    let (segs_out, data_segs_in) = conn
        .and_then(|c| d.stack.tcp_info(c))
        .map_or((0, 0), |i| (i.segs_out, i.data_segs_in));
    Ok(FromKernelRun {
        gbps: gbps(got, (end - start).as_secs_f64()),
        segs_out,
        data_segs_in,
    })
}

/// Whether `read`, found at stream offset `at`, is the writer's repeating
/// [`pattern`] there.
fn matches_pattern(pattern: &[u8], at: u64, read: &[u8]) -> bool {
    let len = pattern.len();
    let mut i = (at % len as u64) as usize;
    let mut rest = read;
    while !rest.is_empty() {
        let n = rest.len().min(len - i);
        if rest[..n] != pattern[i..i + n] {
            return false;
        }
        rest = &rest[n..];
        i = 0;
    }
    true
}

/// This thread's id, from `/proc/thread-self` ("PID/task/TID").
fn thread_id() -> io::Result<String> {
    let link = std::fs::read_link("/proc/thread-self")?;
    link.file_name()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .ok_or_else(|| io::Error::other("unreadable /proc/thread-self"))
}

fn ip(args: &[&str]) -> Result<(), TapError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(io_err("running ip(8)"))?;
    if !out.status.success() {
        return Err(TapError::Io(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Kernel to kernel over a veth pair: this thread's namespace holds
/// `sbveth0` (198.51.100.1) and sends; a second thread in a namespace of
/// its own holds `sbveth1` (198.51.100.2) and receives.
fn kernel_veth(bytes: u64) -> Result<f64, TapError> {
    let (tid_tx, tid_rx) = mpsc::channel::<io::Result<String>>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let receiver = std::thread::spawn(move || -> Result<(u64, f64), TapError> {
        // A child of a thread in a fresh namespace starts there; unshare
        // again for a second one.
        if let Err(e) = netns::enter_fresh() {
            let _ = tid_tx.send(Err(e));
            return Err(TapError::Io("second namespace".into()));
        }
        let _ = tid_tx.send(thread_id());
        go_rx
            .recv()
            .map_err(|_| TapError::Io("veth setup failed".into()))?;
        ip(&["addr", "add", "198.51.100.2/24", "dev", "sbveth1"])?;
        ip(&["link", "set", "sbveth1", "up"])?;
        let listener = TcpListener::bind(SocketAddrV4::new(SYNACK_ADDR, 5003))
            .map_err(io_err("veth listener"))?;
        // Ready to accept: tell the sender.
        let _ = tid_tx.send(Ok(String::new()));
        let (mut s, _) = listener.accept().map_err(io_err("veth accept"))?;
        let start = WallInstant::now();
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        loop {
            let n = s.read(&mut buf).map_err(io_err("veth read"))?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        Ok((got, start.elapsed().as_secs_f64()))
    });
    let tid = tid_rx
        .recv()
        .map_err(|_| TapError::Io("veth receiver thread".into()))?
        .map_err(io_err("veth receiver's namespace"))?;
    let setup = (|| {
        ip(&[
            "link", "add", "sbveth0", "type", "veth", "peer", "name", "sbveth1", "netns", &tid,
        ])?;
        ip(&["addr", "add", "198.51.100.1/24", "dev", "sbveth0"])?;
        ip(&["link", "set", "sbveth0", "up"])
    })();
    if let Err(e) = setup {
        drop(go_tx);
        let _ = receiver.join();
        return Err(e);
    }
    let _ = go_tx.send(());
    tid_rx
        .recv()
        .map_err(|_| TapError::Io("veth receiver failed to listen".into()))?
        .map_err(io_err("veth receiver"))?;
    let data = pattern();
    let mut s = connect_retrying(SocketAddrV4::new(SYNACK_ADDR, 5003))?;
    let mut left = bytes;
    while left > 0 {
        let n = (data.len() as u64).min(left) as usize;
        s.write_all(&data[..n]).map_err(io_err("veth write"))?;
        left -= n as u64;
    }
    s.shutdown(Shutdown::Write)
        .map_err(io_err("veth shutdown"))?;
    let (got, seconds) = receiver
        .join()
        .map_err(|_| TapError::Io("veth receiver panicked".into()))??;
    if got != bytes {
        return Err(TapError::Incomplete(format!("veth read {got} of {bytes}")));
    }
    Ok(gbps(got, seconds))
}

/// The veth's carrier may take a moment to come up.
fn connect_retrying(addr: SocketAddrV4) -> Result<TcpStream, TapError> {
    let start = WallInstant::now();
    loop {
        match TcpStream::connect_timeout(&addr.into(), WallDuration::from_secs(1)) {
            Ok(s) => return Ok(s),
            Err(e) if start.elapsed() > WallDuration::from_secs(5) => {
                return Err(TapError::Io(format!("veth connect: {e}")));
            }
            Err(_) => std::thread::sleep(WallDuration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_matches_the_pattern_at_its_offset_across_the_wrap() {
        let p = pattern();
        let len = p.len() as u64;
        let stream: Vec<u8> = p.iter().chain(p.iter()).copied().collect();
        let at = len - 10;
        let read = &stream[at as usize..at as usize + 30];
        assert!(matches_pattern(&p, at, read));
        assert!(matches_pattern(&p, at + len, read));
        assert!(!matches_pattern(&p, at + 1, read));
        let mut bad = read.to_vec();
        bad[15] ^= 1;
        assert!(!matches_pattern(&p, at, &bad));
    }
}
