//! synack: the runtime. Drives the sans-IO stack over a device and offers
//! std::net-like blocking sockets and (feature `tokio`) async sockets.
//!
//! Devices: the [`Device`] trait with TAP/TUN and in-memory [`Pipe`]
//! implementations, and the wrappers [`Impaired`] (loss, delay, reordering,
//! duplication, corruption) and [`Capture`] (pcap).
#![forbid(unsafe_code)]

pub mod capture;
pub mod device;
pub mod impair;

pub use capture::{Capture, CaptureStats};
pub use device::{Device, Medium, Pipe, PipeStats};
pub use impair::{DirectionStats, ImpairConfig, ImpairStats, Impaired, Impairment};
pub use synack_tap::{Tap, Tun};
