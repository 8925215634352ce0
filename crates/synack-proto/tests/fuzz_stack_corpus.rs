//! Replays the `stack_ingress` fuzz corpus (`fuzz/corpus/stack_ingress/*`)
//! through the stack's fuzz entry points on stable Rust: the stack must take
//! every input without a panic (the sans-IO contract: bad input from the
//! network is dropped or answered, never a panic).
//!
//! The corpus is what a 50-minute cargo-fuzz run of `stack_ingress` (8.6
//! million inputs, debug assertions on, no crash) kept, minimised with
//! `cargo fuzz cmin`: inputs that reach the stack's states and branches
//! (handshakes, data, options, RSTs, the listeners' queues) through frames
//! a test author would not write by hand. The input format is
//! `synack_proto::stack::fuzz::frames`' (per frame: one byte of time
//! advance, two bytes of length, the frame).

use std::fs;
use std::path::Path;

use synack_proto::stack::fuzz;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/stack_ingress");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("readable corpus entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).expect("readable corpus file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_stack_ingress_corpus_input_is_taken_without_a_panic() {
    let files = corpus();
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
