#![no_main]
//! See synack_proto::stack::fuzz::frames_ethernet.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    synack_proto::stack::fuzz::frames_ethernet(data);
});
