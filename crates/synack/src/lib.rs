//! synack: the runtime. Drives the sans-IO stack over a device and offers
//! std::net-like blocking sockets and (feature `tokio`) async sockets.
#![forbid(unsafe_code)]
