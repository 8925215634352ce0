//! Test support: private network namespaces for tests that talk to the
//! Linux kernel over a TAP/TUN.
//!
//! Network namespaces belong to threads, not processes: [`enter_fresh`]
//! moves only the calling thread into a new, empty namespace (with `lo` up),
//! so every test thread gets its own and the root namespace is never touched.
//! Sockets, TAP/TUN devices, threads and child processes created from that
//! thread afterwards live in (or inherit) its namespace; a socket keeps its
//! namespace even when moved to another thread. The namespace disappears
//! when the last thread, process and file descriptor using it is gone.
//!
//! Typical test:
//!
//! ```no_run
//! #[test]
//! fn kernel_answers_ping() {
//!     if synack_tap::netns::skip_unless_supported("kernel_answers_ping") {
//!         return;
//!     }
//!     synack_tap::netns::run_in_fresh(|| {
//!         let tap = synack_tap::Tap::open("synack0").unwrap();
//!         tap.set_kernel_addr("192.0.2.1".parse().unwrap(), 24).unwrap();
//!         tap.set_up().unwrap();
//!         // ... only TEST-NET addresses (RFC 5737) from here on ...
//!     })
//!     .unwrap();
//! }
//! ```

use std::io::{self, Write};
use std::path::Path;

use crate::device::TUN_PATH;
use crate::error::{Context, Op};
use crate::iface::Ctl;
use crate::sys;

/// Moves the calling thread into a new network namespace and brings its
/// loopback interface up. Needs CAP_SYS_ADMIN (root).
pub fn enter_fresh() -> io::Result<()> {
    sys::unshare_net().context(Op::Other, || "unshare(CLONE_NEWNET)".into())?;
    set_link_up("lo")
}

/// Runs `f` on a new thread inside a fresh network namespace and returns its
/// result. A panic in `f` (a failed assertion) is resumed on the caller, so
/// tests fail normally. The namespace goes away with the thread and `f`'s
/// file descriptors.
pub fn run_in_fresh<T: Send>(f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| -> io::Result<T> {
            enter_fresh()?;
            Ok(f())
        });
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Brings the interface `name` in the calling thread's namespace up.
pub fn set_link_up(name: &str) -> io::Result<()> {
    Ctl::new()?.set_up(name, true)
}

/// Why TAP/TUN tests cannot run here, or `Ok` if they can: root, a usable
/// `/dev/net/tun`, and permission to create network namespaces. Probes in a
/// throwaway thread, so the caller's namespace is left alone.
pub fn support() -> Result<(), String> {
    if sys::effective_uid() != 0 {
        return Err("not running as root".into());
    }
    if !Path::new(TUN_PATH).exists() {
        return Err(format!("{TUN_PATH} does not exist"));
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(TUN_PATH)
        .map_err(|e| format!("cannot open {TUN_PATH}: {e}"))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            sys::unshare_net().map_err(|e| format!("cannot create a network namespace: {e}"))
        })
        .join()
        .unwrap_or_else(|_| Err("namespace probe panicked".into()))
    })
}

/// For tests that need the kernel: returns `true` (after printing
/// "skipping: TEST (needs root and /dev/net/tun): REASON") when they cannot
/// run here, so the test returns early. When the environment variable `CI`
/// is `true` it panics instead: CI always runs these tests.
pub fn skip_unless_supported(test: &str) -> bool {
    match support() {
        Ok(()) => false,
        Err(reason) => {
            let msg = format!("{test} (needs root and /dev/net/tun): {reason}");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but cannot run {msg}");
            }
            // Straight to fd 2: the test harness captures eprintln! of
            // passing tests, and a skip must be seen.
            let _ = writeln!(io::stderr(), "skipping: {msg}");
            true
        }
    }
}
