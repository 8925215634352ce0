//! synack: the runtime. Drives the sans-IO stack over a device and offers
//! std::net-like blocking sockets and (feature `tokio`) async sockets.
//!
//! Devices: the [`Device`] trait with TAP/TUN and in-memory [`Pipe`]
//! implementations, and the wrappers [`Impaired`] (loss, delay, reordering,
//! duplication, corruption) and [`Capture`] (pcap).
//!
//! ```no_run
//! use synack::{Capture, Device, ImpairConfig, Impaired, Impairment, Tap};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tap = Tap::open("synack%d")?; // nonblocking; the kernel numbers it
//! tap.set_kernel_addr("192.0.2.1".parse()?, 24)?; // the kernel's side of the link
//! tap.set_up()?;
//! let lossy = Impaired::new(tap, ImpairConfig::symmetric(Impairment::loss(0.02), 7));
//! let mut dev = Capture::create(lossy, "link.pcap")?;
//! let mut buf = vec![0u8; dev.max_frame_len()];
//! while let Some(n) = dev.recv(&mut buf)? {
//!     println!("{n}-byte frame");
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod apps;
pub mod capture;
pub mod control;
pub mod device;
pub mod framing;
pub mod impair;
pub mod net;
pub mod progress;
pub mod runtime;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use capture::{Capture, CaptureStats};
pub use device::{Device, Medium, Pipe, PipeStats};
pub use impair::{DirectionStats, ImpairConfig, ImpairStats, Impaired, Impairment};
pub use runtime::{Builder, DriverStats, Runtime, RuntimeStats};
pub use synack_tap::{Tap, Tun};
