//! synack-proto: the sans-IO core of synack, a userspace TCP/IP stack.
//!
//! This crate is a deterministic function of its inputs. It performs no I/O,
//! never reads a clock and owns no global random number generator: every entry
//! point takes the current time as an [`Instant`], and randomness comes from an
//! [`Rng`] seeded by whoever owns it. Drivers (a TAP device, the simulator, a
//! test) feed it frames and timeouts and drain what it wants to send.
//!
//! Nothing that arrives from the wire can make it panic: malformed input is
//! an error value, dropped and counted.
#![forbid(unsafe_code)]

pub mod config;
pub mod ip;
pub mod ping;
pub mod rng;
pub mod siphash;
pub mod stack;
pub mod stats;
pub mod storage;
pub mod time;
pub mod udp;
pub mod wire;

pub mod tcp;

pub use config::Config;
pub use rng::Rng;
pub use stack::Stack;
pub use stats::Stats;
pub use tcp::seq::SeqNum;
pub use time::{Duration, Instant};
