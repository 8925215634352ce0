#![no_main]
//! See synack_proto::wire::fuzz::arp.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = synack_proto::wire::fuzz::arp(data);
});
