//! The driver thread: sleeps on the device and the doorbell until the next
//! deadline, then gives the stack its turn (see [`Core::drive`]).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::sync::Weak;
use std::time::{Duration, Instant};

use synack_tap::poll::wait_readable;

use super::{FD_LESS_POLL, Shared};

/// Runs until the runtime stops or every handle to it is gone. `fd` is a
/// duplicate of the device's fd (so the driver can sleep on it without the
/// lock); `wake` is the doorbell's receiving end.
pub(super) fn run(shared: Weak<Shared>, fd: Option<OwnedFd>, wake: UnixDatagram) {
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let timeout = {
            let Ok(mut core) = strong.core.lock() else {
                return;
            };
            if core.stopped.is_some() {
                return;
            }
            core.driver.sleeping = false;
            if core.drive() {
                // A full batch: more frames may wait. Let socket calls have
                // the lock for a moment, then go on without sleeping.
                None
            } else {
                let deadline = core.deadline();
                core.driver.sleeping = true;
                core.driver.until = deadline;
                Some(deadline.map(|d| d.saturating_duration_since(Instant::now())))
            }
        };
        // Sleep without keeping the runtime alive.
        drop(strong);
        let Some(timeout) = timeout else {
            std::thread::yield_now();
            continue;
        };
        let waited = match &fd {
            Some(fd) => wait_readable([fd.as_fd(), wake.as_fd()], timeout).map(drop),
            None => {
                let t = timeout.map_or(FD_LESS_POLL, |t| t.min(FD_LESS_POLL));
                wait_readable([wake.as_fd()], Some(t)).map(drop)
            }
        };
        if waited.is_err() {
            // poll(2) itself failed (out of memory): do not spin on it.
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut byte = [0u8; 16];
        while wake.recv(&mut byte).is_ok() {}
    }
}
