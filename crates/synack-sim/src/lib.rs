//! synack-sim: whole networks on virtual time.
#![forbid(unsafe_code)]

pub mod script;
