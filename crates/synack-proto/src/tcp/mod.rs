//! TCP (RFC 9293) and its extensions.

pub mod congestion;
pub mod conn;
pub mod ecn;
pub mod fastopen;
pub mod fastopen_cookie;
pub mod isn;
pub mod listener;
pub mod md5;
pub mod memory;
pub mod plpmtud;
pub mod ports;
pub mod rcv_space;
pub mod recovery;
pub mod reuseport;
pub mod rtt;
pub mod sack;
pub mod segment;
pub mod seq;
pub mod state;
pub mod syncookie;
pub mod timer;
pub mod timestamps;

pub use state::TcpState;
