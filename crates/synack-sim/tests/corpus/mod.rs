//! Where the public packetdrill corpus lives, shared by the corpus tests.

use std::path::{Path, PathBuf};

/// The corpus directory: `../shared` next to the repository root, or
/// `/work/shared`. Missing corpus: loud, and a failure under CI=true.
pub fn corpus_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        root.join("../shared/conformance/packetdrill"),
        PathBuf::from("/work/shared/conformance/packetdrill"),
    ];
    let found = candidates
        .iter()
        .find(|d| d.join("MANIFEST.tsv").is_file())
        .cloned();
    if found.is_none() {
        eprintln!(
            "\n!!!!! packetdrill corpus NOT FOUND (looked in {candidates:?}); \
             the corpus tests did not run !!!!!\n"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and the packetdrill corpus is missing");
        }
    }
    found
}
