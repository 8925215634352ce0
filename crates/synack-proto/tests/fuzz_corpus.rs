//! Replays every fuzz corpus file (`fuzz/corpus/<target>/*`) through its
//! target on stable Rust, so the corpora guard against regressions under a
//! plain `cargo test`.
//!
//! File names carry the expectation (see `fuzz/tools/make_corpus.py`):
//! `ok-*` must pass a strict parse, `bad-*` must fail, anything else (files
//! cargo-fuzz adds) must only not panic. The targets themselves assert that
//! parse -> emit -> parse round-trips.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use synack_proto::stack::fuzz;
use synack_proto::wire::fuzz::TARGETS;
use synack_proto::wire::{Checksum, TcpPacket, TcpRepr};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

fn files(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir().join(target);
    let mut out: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("readable corpus entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).expect("readable corpus file"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_corpus_file_meets_its_expectation() {
    let mut checked = 0;
    for (target, run) in TARGETS {
        let files = files(target);
        let ok = files.iter().filter(|(n, _)| n.starts_with("ok-")).count();
        let bad = files.iter().filter(|(n, _)| n.starts_with("bad-")).count();
        assert!(
            ok > 0 && bad > 0,
            "{target}: corpus needs good and bad inputs"
        );
        for (name, bytes) in &files {
            let result = run(bytes);
            if name.starts_with("ok-") {
                assert_eq!(result, Ok(()), "{target}/{name} should parse");
            } else if name.starts_with("bad-") {
                assert!(result.is_err(), "{target}/{name} should be rejected");
            }
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} corpus files");
}

/// Every real segment Linux sent re-emits byte for byte: same option layout
/// (tcp_options_write), same header fields, same checksum.
#[test]
fn real_linux_segments_re_emit_byte_for_byte() {
    let mut checked = 0;
    for (name, bytes) in files("tcp_segment") {
        if !name.starts_with("ok-real-") {
            continue;
        }
        let src = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
        let dst = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
        let segment = &bytes[8..];
        let packet = TcpPacket::new_checked(segment).unwrap();
        let repr = TcpRepr::parse(&packet, src, dst, Checksum::Full).unwrap();
        let mut out = vec![0xAA; repr.buffer_len()];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut out[..]),
            src,
            dst,
            Checksum::Full,
        );
        assert_eq!(out, segment, "{name}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} real segments");
}

/// Every prefix of every corpus file goes through its target without a
/// panic (the targets still assert their round trips), and a real frame cut
/// short is always rejected where a length field makes that certain: the
/// IPv4 total length, the UDP length, the ARP address fields.
#[test]
fn every_truncation_of_every_corpus_file_is_handled() {
    let mut rejected = 0;
    for (target, run) in TARGETS {
        let length_checked = matches!(target, "ethernet" | "ipv4" | "udp" | "arp");
        for (name, bytes) in files(target) {
            let must_fail = length_checked && name.starts_with("ok-real-");
            for len in 0..bytes.len() {
                let result = run(&bytes[..len]);
                if must_fail {
                    assert!(result.is_err(), "{target}/{name} cut to {len} bytes parsed");
                    rejected += 1;
                }
            }
        }
    }
    assert!(rejected > 1000, "only {rejected} truncations checked");
}

/// The `stack_ingress` corpus (`fuzz/corpus/stack_ingress/*`): what a
/// 50-minute cargo-fuzz run of that target (8.6 million inputs, debug
/// assertions on, no crash) kept, minimised with `cargo fuzz cmin`, in
/// `synack_proto::stack::fuzz::frames`' format (per frame: one byte of time
/// advance, two bytes of length, the frame). The stack must take every input
/// without a panic: bad input from the network is dropped or answered.
#[test]
fn every_stack_ingress_corpus_input_is_taken_without_a_panic() {
    let files = files("stack_ingress");
    assert!(files.len() >= 200, "only {} corpus files", files.len());
    for (name, data) in &files {
        // A panic names the file through the test's output.
        eprintln!("stack_ingress/{name}");
        // As the fuzz target runs it, then the same frames as one batch
        // (software GRO), then the bytes as offload metadata and frames,
        // then as one frame.
        fuzz::frames(data);
        fuzz::frames_batched(data);
        fuzz::frames_rx(data);
        fuzz::frame(data);
    }
}

/// The `stack_ethernet` corpus (`fuzz/corpus/stack_ethernet/*`, in
/// `synack_proto::stack::fuzz::frames_ethernet`' format): the stack on an
/// Ethernet interface, ARP and its neighbour cache included, takes every
/// input without a panic.
#[test]
fn every_stack_ethernet_corpus_input_is_taken_without_a_panic() {
    let files = files("stack_ethernet");
    assert!(files.len() >= 200, "only {} corpus files", files.len());
    for (name, data) in &files {
        eprintln!("stack_ethernet/{name}");
        fuzz::frames_ethernet(data);
    }
}
