//! synack-tap: Linux TAP (Ethernet) and TUN (IP) devices.
//!
//! - [`Tap`] and [`Tun`] open `/dev/net/tun`, create or attach an interface
//!   (`IFF_NO_PI`; optionally `IFF_VNET_HDR` with offloads, and `IFF_NAPI`
//!   with threaded NAPI), read and write
//!   one frame per call, and configure the kernel's side of the link
//!   (address, prefix, MTU, up) with ioctls, never by running `ip`.
//! - [`VirtioNetHdr`] is the safe parse/emit of the virtio-net header.
//! - [`explain`] turns the usual failures (no `/dev/net/tun`, not root) into
//!   one line for people.
//! - [`netns`] gives tests a private network namespace per thread;
//!   [`sysfs::read`] reads an interface's attribute as that namespace sees it.
//! - [`poll`] waits on several file descriptors at once (a device and a
//!   wake-up channel), without `unsafe` in the caller.
//!
//! Errors are `io::Error`s with context ("TUNSETIFF synack0: Operation not
//! permitted"); nothing here panics on an I/O error.

// This is the only crate in the workspace allowed to use `unsafe`: talking to
// /dev/net/tun needs ioctl(2), fcntl(2), poll(2), socket(2), unshare(2) and,
// for an interface's sysfs attributes inside a namespace, mount(2).
// Every unsafe block is one system call in `sys.rs`, with a SAFETY comment.
#![allow(unsafe_code)]

// The compiler holds every other module to that.
#[deny(unsafe_code)]
mod device;
#[deny(unsafe_code)]
mod error;
#[deny(unsafe_code)]
mod iface;
#[deny(unsafe_code)]
pub mod netns;
#[deny(unsafe_code)]
pub mod poll;
mod sys;
#[deny(unsafe_code)]
pub mod sysfs;
#[deny(unsafe_code)]
mod vnet;

pub use device::{MAX_GSO_FRAME_LEN, Offloads, Options, TUN_PATH, Tap, Tun};
pub use error::{ErrorContext, explain};
pub use iface::{MAX_NAME_LEN, prefix_to_netmask, validate_name};
pub use vnet::{FLAG_DATA_VALID, FLAG_NEEDS_CSUM, FLAG_RSC_INFO, GsoType, VirtioNetHdr, VnetError};
