//! What `serve` and `connect` share: the link options, opening and
//! configuring the device (with impairments and a capture when asked),
//! starting the runtime and its control socket, and reporting setup
//! failures in one line with exit status 2.

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use clap::Args;
use synack::control::{self, ControlServer};
use synack::{Builder, Capture, Device, ImpairConfig, Impaired, Impairment, Runtime, Tap, Tun};
use synack_proto::Config;
use synack_proto::ip::{CidrParseError, Ipv4Cidr};

/// `IP/LEN`, e.g. `192.0.2.2/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub ip: Ipv4Addr,
    pub len: u8,
}

impl FromStr for Cidr {
    type Err = String;
    /// `synack_proto`'s `Ipv4Cidr` parses it; the length is required here.
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not IP/LEN (e.g. 192.0.2.2/24)"))?;
        let cidr: Ipv4Cidr = s.parse().map_err(|e| match e {
            CidrParseError::BadAddress => format!("`{ip}` is not an IPv4 address"),
            CidrParseError::BadPrefix => format!("`{len}` is not a prefix length (0-32)"),
        })?;
        Ok(Cidr {
            ip: cidr.addr(),
            len: cidr.prefix_len(),
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.len)
    }
}

/// A probability in [0, 1].
fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a probability between 0 and 1")),
    }
}

/// The link: which device, the addresses, and what to do to its frames.
#[derive(Args, Debug, Clone)]
pub struct LinkArgs {
    /// Create (or attach to) the TAP device NAME (Ethernet; `%d` lets the kernel number it).
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "tun",
        conflicts_with = "tun"
    )]
    pub tap: Option<String>,
    /// Use the TUN device NAME instead (bare IP packets, no ARP).
    #[arg(long, value_name = "NAME")]
    pub tun: Option<String>,
    /// The stack's own address and prefix length on the link.
    #[arg(long, value_name = "IP/LEN")]
    pub addr: Cidr,
    /// Give the kernel's side of the link this address (so the local kernel can reach the stack).
    #[arg(long, value_name = "IP/LEN")]
    pub peer_addr: Option<Cidr>,
    /// Route everything beyond the link through this address (the stack's default gateway).
    #[arg(long, value_name = "IP")]
    pub gateway: Option<Ipv4Addr>,
    /// Set the link MTU (both sides).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(576..=65535))]
    pub mtu: Option<u32>,
    /// Drop each frame with probability P, both ways (impairment wrapper; this machine has no netem).
    #[arg(long, value_name = "P", value_parser = probability, default_value_t = 0.0)]
    pub loss: f64,
    /// Hold back a fraction P of frames by 1 ms so that later frames overtake them, both ways.
    #[arg(long, value_name = "P", value_parser = probability, default_value_t = 0.0)]
    pub reorder: f64,
    /// Seed of the impairments and of the stack's RNG (ISNs, ports, keys), to replay a run.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Write every frame on the link to FILE (pcap; open it with Wireshark or `synack trace`).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// The control socket `synack ss` talks to (default: derived from the device name).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Set one of the stack's settings by its Linux sysctl name (repeatable), e.g.
    /// `--sysctl tcp_mem="16 32 48"` or `--sysctl net.ipv4.tcp_rmem="4096 131072 6291456"`.
    #[arg(long = "sysctl", value_name = "NAME=VALUE")]
    pub sysctls: Vec<String>,
}

/// A setup step that failed: printed as one line, exit status 2.
#[derive(Debug)]
pub struct SetupError {
    what: String,
    err: io::Error,
}

impl SetupError {
    pub fn new(what: impl Into<String>, err: io::Error) -> SetupError {
        SetupError {
            what: what.into(),
            err,
        }
    }

    /// Prints `synack CMD: WHAT: ERROR (EXPLANATION)` and returns status 2.
    pub fn report(&self, cmd: &str) -> ExitCode {
        match synack_tap::explain(&self.err) {
            Some(why) => eprintln!("synack {cmd}: {why} ({}: {})", self.what, self.err),
            None => eprintln!("synack {cmd}: {}: {}", self.what, self.err),
        }
        ExitCode::from(2)
    }
}

/// `--sysctl NAME=VALUE`s, in order, over what the command chose: a name
/// synack does not have or a value that does not parse is a setup error,
/// before any device is opened.
fn apply_sysctls(config: &mut Config, sysctls: &[String]) -> Result<(), SetupError> {
    for s in sysctls {
        let bad = |e: String| {
            SetupError::new(
                format!("--sysctl {s}"),
                io::Error::new(io::ErrorKind::InvalidInput, e),
            )
        };
        let (name, value) = s
            .split_once('=')
            .filter(|(name, _)| !name.trim().is_empty())
            .ok_or_else(|| bad("wants NAME=VALUE".into()))?;
        config
            .set_sysctl(name, value)
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

/// A running stack on its link.
pub struct Link {
    pub rt: Runtime,
    /// The device's name as the kernel knows it.
    pub name: String,
    pub control: Option<ControlServer>,
}

/// Opens the device, configures the kernel's side, wraps it as asked and
/// starts the runtime and its control socket.
pub fn open(args: &LinkArgs, mut config: Config) -> Result<Link, SetupError> {
    apply_sysctls(&mut config, &args.sysctls)?;
    let (device, name): (Box<dyn Device + Send>, String) = match (&args.tap, &args.tun) {
        (_, Some(name)) => {
            let tun =
                open_tun(name).map_err(|e| SetupError::new(format!("opening TUN {name}"), e))?;
            let name = tun.name().to_owned();
            configure(
                &name,
                args,
                |mtu| tun.set_mtu(mtu),
                |ip, len| tun.set_kernel_addr(ip, len),
                || tun.set_up(),
            )?;
            (Box::new(tun), name)
        }
        (Some(name), None) => {
            let tap =
                open_tap(name).map_err(|e| SetupError::new(format!("opening TAP {name}"), e))?;
            let name = tap.name().to_owned();
            configure(
                &name,
                args,
                |mtu| tap.set_mtu(mtu),
                |ip, len| tap.set_kernel_addr(ip, len),
                || tap.set_up(),
            )?;
            (Box::new(tap), name)
        }
        (None, None) => {
            return Err(SetupError::new(
                "choosing a device",
                io::Error::new(io::ErrorKind::InvalidInput, "give --tap NAME or --tun NAME"),
            ));
        }
    };
    let device = wrap(device, args)?;
    let mut builder = Builder::new(args.addr.ip, args.addr.len).config(config);
    if let Some(seed) = args.seed {
        builder = builder.seed(seed);
    }
    if let Some(gw) = args.gateway {
        builder = builder.gateway(gw);
    }
    let rt = builder
        .start(device)
        .map_err(|e| SetupError::new(format!("starting the stack on {name}"), e))?;
    let path = args
        .control
        .clone()
        .unwrap_or_else(|| control::default_path(&name));
    let control = ControlServer::start(rt.clone(), &name, &path)
        .map_err(|e| SetupError::new("starting the control socket", e))?;
    Ok(Link {
        rt,
        name,
        control: Some(control),
    })
}

fn configure(
    name: &str,
    args: &LinkArgs,
    set_mtu: impl FnOnce(usize) -> io::Result<()>,
    set_addr: impl FnOnce(Ipv4Addr, u8) -> io::Result<()>,
    set_up: impl FnOnce() -> io::Result<()>,
) -> Result<(), SetupError> {
    if let Some(mtu) = args.mtu {
        set_mtu(mtu as usize).map_err(|e| SetupError::new(format!("setting {name}'s MTU"), e))?;
    }
    if let Some(peer) = args.peer_addr {
        if peer.ip == args.addr.ip {
            return Err(SetupError::new(
                "configuring the link",
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--peer-addr {peer} is the stack's own --addr"),
                ),
            ));
        }
        set_addr(peer.ip, peer.len)
            .map_err(|e| SetupError::new(format!("giving {name} the address {peer}"), e))?;
    }
    set_up().map_err(|e| SetupError::new(format!("bringing {name} up"), e))
}

/// Impairments and capture around the device: `Impaired<Capture<dev>>`, so
/// the capture shows what crossed the wire (what the kernel saw).
fn wrap(
    device: Box<dyn Device + Send>,
    args: &LinkArgs,
) -> Result<Box<dyn Device + Send>, SetupError> {
    let device: Box<dyn Device + Send> = match &args.pcap {
        Some(path) => Box::new(
            Capture::create(device, path)
                .map_err(|e| SetupError::new(format!("creating {}", path.display()), e))?,
        ),
        None => device,
    };
    if args.loss == 0.0 && args.reorder == 0.0 {
        return Ok(device);
    }
    let seed = args.seed.unwrap_or_else(random_seed);
    if args.seed.is_none() {
        eprintln!("impairments seeded with --seed {seed}");
    }
    let imp = Impairment {
        loss: args.loss,
        reorder: args.reorder,
        ..Impairment::default()
    };
    Ok(Box::new(Impaired::new(
        device,
        ImpairConfig::symmetric(imp, seed),
    )))
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() % 1_000_000
}

/// Opens a TAP with a virtio-net header and TCP offloads when the kernel
/// allows it: the kernel then exchanges 64 KiB super-segments with partial
/// checksums with the stack, both ways (see docs/RUNTIME.md). Falls back to
/// a plain TAP (an existing persistent TAP made without `IFF_VNET_HDR`
/// refuses the header), which takes synack's frames through NAPI in a
/// kernel thread when the kernel allows it (`IFF_NAPI`, threaded NAPI): the
/// kernel's receive path then runs in batches beside synack's thread, not
/// inside each `write(2)`.
fn open_tap(name: &str) -> io::Result<Tap> {
    let opts = synack_tap::Options::new(name).vnet_hdr(synack_tap::Offloads::TCP);
    if let Ok(tap) = Tap::with_options(&opts) {
        return Ok(tap);
    }
    let Ok(tap) = Tap::with_options(&synack_tap::Options::new(name).napi(true)) else {
        return Tap::open(name);
    };
    napi_threaded(tap.name(), tap.set_threaded_napi(true));
    Ok(tap)
}

/// Opens a TUN (bare IP, no virtio-net header) that takes synack's packets
/// through NAPI in a kernel thread when the kernel allows it, as
/// [`open_tap`]'s plain fallback does (2.5 -> 3.5 Gbit/s from `synack
/// connect` to the kernel in session 22's alternating runs).
fn open_tun(name: &str) -> io::Result<Tun> {
    let Ok(tun) = Tun::with_options(&synack_tap::Options::new(name).napi(true)) else {
        return Tun::open(name);
    };
    napi_threaded(tun.name(), tun.set_threaded_napi(true));
    Ok(tun)
}

/// Says so when the device's NAPI could not be given a thread (it then
/// runs in the writer's softirq: correct, only slower).
fn napi_threaded(name: &str, threaded: io::Result<()>) {
    if let Err(e) = threaded {
        eprintln!("{name}: NAPI left in the writer's softirq: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_refuses_nonsense() {
        assert_eq!(
            "192.0.2.2/24".parse::<Cidr>(),
            Ok(Cidr {
                ip: Ipv4Addr::new(192, 0, 2, 2),
                len: 24
            })
        );
        assert!("192.0.2.2".parse::<Cidr>().is_err());
        assert!("192.0.2.2/33".parse::<Cidr>().is_err());
        assert!("example/24".parse::<Cidr>().is_err());
        assert_eq!(
            "198.51.100.7/32".parse::<Cidr>().unwrap().to_string(),
            "198.51.100.7/32"
        );
    }

    #[test]
    fn sysctls_apply_in_order_over_the_commands_choice() {
        let mut config = Config {
            tcp_max_syn_backlog: 64,
            ..Config::default()
        };
        let sysctls = [
            "net.ipv4.tcp_mem=16 32 48".to_string(),
            "tcp_moderate_rcvbuf=0".to_string(),
            "tcp_max_syn_backlog=8".to_string(),
            "tcp_max_syn_backlog=9".to_string(),
        ];
        apply_sysctls(&mut config, &sysctls).unwrap();
        assert_eq!(config.tcp_mem.high, 48 * 4096);
        assert!(!config.tcp_moderate_rcvbuf);
        assert_eq!(config.tcp_max_syn_backlog, 9, "the last one wins");
        for bad in ["tcp_mem", "=1", "tcp_nonsense=1", "tcp_mem=3 2 1"] {
            assert!(
                apply_sysctls(&mut config, &[bad.to_string()]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn probabilities_stay_in_range() {
        assert_eq!(probability("0.02"), Ok(0.02));
        assert!(probability("1.5").is_err());
        assert!(probability("-0.1").is_err());
    }
}
