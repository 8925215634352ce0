//! synack-tap: Linux TAP (Ethernet) and TUN (IP) devices.
//!
//! This is the only crate in the workspace allowed to use `unsafe`, and only
//! for the handful of `ioctl`s that create and configure a device.
