//! 100 MiB each way between the Linux kernel and synack over a TAP: Linux
//! clients upload to `serve --discard` and through `serve --echo`; `synack
//! connect` downloads from and uploads to a Linux `socat`. Bytes identical.
//! `interop_loss.rs` runs the same transfers through 2% loss and
//! reordering.

mod interop;

use interop::transfers::*;

#[test]
fn linux_uploads_100_mib_to_serve_discard() {
    upload_to_discard("linux_uploads_100_mib_to_serve_discard", &[], BIG);
}

#[test]
fn linux_echoes_100_mib_through_serve_echo() {
    echo_through_serve("linux_echoes_100_mib_through_serve_echo", &[], BIG);
}

#[test]
fn synack_connect_downloads_100_mib_from_socat() {
    download_from_socat("synack_connect_downloads_100_mib_from_socat", &[], BIG);
}

#[test]
fn synack_connect_uploads_100_mib_to_socat() {
    upload_to_socat("synack_connect_uploads_100_mib_to_socat", &[], BIG);
}
