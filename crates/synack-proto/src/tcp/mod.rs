//! TCP (RFC 9293) and its extensions.

pub mod rtt;
pub mod seq;
