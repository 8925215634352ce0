//! Wire formats: Ethernet II, ARP, IPv4, ICMPv4, UDP, TCP (with every option),
//! the Internet checksum, and pcap capture files.
//!
//! Each format has two layers, as in smoltcp: a zero-copy view over any byte
//! buffer (`XxxPacket<T: AsRef<[u8]>>`), whose constructor checks lengths so
//! every accessor is panic-free, and a validated semantic representation
//! (`XxxRepr`) with `parse`, `emit` and `buffer_len`. Malformed input is an
//! error value, never a panic and never an endless loop.

pub mod pcap;
