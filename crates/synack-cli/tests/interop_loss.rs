//! The transfers of `interop_transfer.rs` through 2% loss and 2%
//! reordering both ways (synack's impairment wrapper on the TAP; this
//! machine has no netem). Bytes identical.

mod interop;

use interop::transfers::*;

const IMPAIR: &[&str] = &["--loss", "0.02", "--reorder", "0.02", "--seed", "1"];

#[test]
fn lossy_linux_upload_to_serve_discard() {
    upload_to_discard("lossy_linux_upload_to_serve_discard", IMPAIR, BIG);
}

#[test]
fn lossy_linux_echo_through_serve_echo() {
    echo_through_serve("lossy_linux_echo_through_serve_echo", IMPAIR, BIG);
}

#[test]
fn lossy_synack_connect_download_from_socat() {
    download_from_socat("lossy_synack_connect_download_from_socat", IMPAIR, BIG);
}

#[test]
fn lossy_synack_connect_upload_to_socat() {
    upload_to_socat("lossy_synack_connect_upload_to_socat", IMPAIR, BIG);
}
