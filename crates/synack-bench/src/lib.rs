//! synack-bench: the comparison harness behind `synack bench`.
//!
//! Every measurement is written once, against the [`BenchStack`] trait, and
//! run for each stack in the same process and the same run, so the numbers
//! compare as ratios on a shared, noisy machine. smoltcp 0.14
//! ([`SmolStack`]) is measured today; synack's column lands with its stack
//! (implement [`BenchStack`] for it and fill the `synack_*` fields).
//!
//! - [`bulk`]: goodput of a >= 1 GiB transfer in memory on one core;
//! - [`handshake`]: open, one byte each way, close, per second, next to N
//!   idle established connections;
//! - [`memory`]: heap bytes per idle established connection;
//! - [`loss`]: goodput of 10 MiB over a lossy simulated 100 Mbit/s path
//!   (`synack-sim`), and issue 4's loss x RTT table;
//! - [`report`]: the table and the JSON `synack bench` prints.
//!
//! Each figure is the median of several repetitions (a parameter of every
//! measurement; the count is in the report).
//!
//! # Adding synack's column
//!
//! 1. `impl BenchStack for` an adapter over `synack_proto::Stack`: `poll`
//!    feeds the frames of `rx` to `handle_frames` as one batch (software
//!    GRO merges a flow's consecutive segments) and drains `poll_transmit`
//!    into `tx` (`Frames::push_with`), `poll_at` is `poll_timeout`, the
//!    socket calls map one to one; `listen` may return the same listener
//!    every time (it has an accept queue).
//! 2. In [`run`], call the same generic functions (`bulk_once`,
//!    `handshake_points_alternating`, `memory_once`, `loss_points`) with it,
//!    alternating the two stacks between repetitions so drift on the
//!    machine hits both, and fill the `synack_*` fields.
//! 3. Twin the criterion benches in `benches/smoltcp.rs`.
#![forbid(unsafe_code)]

pub mod alloc;
pub mod app;
pub mod bulk;
pub mod floor;
pub mod frames;
pub mod goodput;
pub mod handshake;
pub mod loss;
pub mod memory;
pub mod node;
pub mod pair;
pub mod pattern;
pub mod report;
pub mod run;
pub mod smol;
pub mod stack;
pub mod stats;
pub mod synack;
pub mod tap;
pub mod transfer;

pub use frames::Frames;
pub use pair::{Clock, DriveError, Pair};
pub use report::Report;
pub use run::{BenchError, Plan, Target};
pub use smol::SmolStack;
pub use stack::{BenchStack, Buffers, Congestion, HostConfig, TcpState};
pub use synack::SynackStack;
