//! `io::Error`s with context, and one-line explanations for the common ones.
//!
//! Every error from this crate says what was being done ("opening
//! /dev/net/tun", "TUNSETIFF synack0") and keeps the OS error underneath, so
//! [`explain`] can still tell "not root" from "no such device" after the
//! context has been added.

use std::fmt;
use std::io;

/// What was being done when an OS error happened. Carried inside the
/// `io::Error` returned to the caller; its `Display` is "context: os error".
#[derive(Debug)]
pub struct ErrorContext {
    op: Op,
    context: String,
    source: io::Error,
}

/// Which step failed; lets [`explain`] give step-specific advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    OpenTun,
    SetIff,
    /// Mounting the private sysfs an interface attribute is reached through.
    Sysfs,
    Other,
}

impl ErrorContext {
    /// The error from the operating system.
    pub fn os_error(&self) -> &io::Error {
        &self.source
    }

    /// What was being done, e.g. "TUNSETIFF synack0".
    pub fn context(&self) -> &str {
        &self.context
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for ErrorContext {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps `source` with `context`, keeping its kind.
pub(crate) fn with_context(op: Op, context: impl Into<String>, source: io::Error) -> io::Error {
    io::Error::new(
        source.kind(),
        ErrorContext {
            op,
            context: context.into(),
            source,
        },
    )
}

/// Extension to add context to `io::Result`s.
pub(crate) trait Context<T> {
    fn context(self, op: Op, what: impl FnOnce() -> String) -> io::Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, op: Op, what: impl FnOnce() -> String) -> io::Result<T> {
        self.map_err(|e| with_context(op, what(), e))
    }
}

/// A one-line explanation of a device error for people, or `None` when
/// there is nothing to add to the error's own message. The CLI prints it
/// and exits with status 2.
pub fn explain(err: &io::Error) -> Option<&'static str> {
    let (op, errno) = match err.get_ref().and_then(|e| e.downcast_ref::<ErrorContext>()) {
        Some(ctx) => (ctx.op, ctx.source.raw_os_error()),
        None => (Op::Other, err.raw_os_error()),
    };
    match (op, errno?) {
        (Op::OpenTun, libc::ENOENT) | (Op::OpenTun, libc::ENODEV) | (Op::OpenTun, libc::ENXIO) => {
            Some(
                "/dev/net/tun is missing: load the tun module (modprobe tun) or, in a container, \
                 pass the device in (--device /dev/net/tun)",
            )
        }
        (Op::Sysfs, libc::EPERM) | (Op::Sysfs, libc::EACCES) => Some(
            "permission denied: the interface's sysfs attributes (threaded NAPI) are reached \
             through a private sysfs mount, which needs root (CAP_SYS_ADMIN)",
        ),
        (_, libc::EPERM) | (_, libc::EACCES) => Some(
            "permission denied: TAP/TUN devices need root or CAP_NET_ADMIN (try sudo, or \
             setcap cap_net_admin+ep on the binary)",
        ),
        (Op::SetIff, libc::EBUSY) => Some(
            "the interface is in use: another process or handle has it open (or it is not a TAP/TUN)",
        ),
        (Op::SetIff, libc::EINVAL) => Some(
            "the interface exists with different settings (TAP vs TUN, or a different owner), \
             or the name is not valid",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_shown_and_errno_kept() {
        let e = with_context(
            Op::OpenTun,
            "opening /dev/net/tun",
            io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(msg.starts_with("opening /dev/net/tun: "), "{msg}");
        let ctx = e.get_ref().and_then(|e| e.downcast_ref::<ErrorContext>());
        assert_eq!(
            ctx.map(|c| c.os_error().raw_os_error()),
            Some(Some(libc::ENOENT))
        );
    }

    #[test]
    fn explain_maps_missing_device_and_permission() {
        let missing = with_context(
            Op::OpenTun,
            "opening /dev/net/tun",
            io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert!(explain(&missing).is_some_and(|s| s.contains("modprobe tun")));
        for errno in [libc::EPERM, libc::EACCES] {
            let denied = with_context(
                Op::SetIff,
                "TUNSETIFF x",
                io::Error::from_raw_os_error(errno),
            );
            assert!(explain(&denied).is_some_and(|s| s.contains("CAP_NET_ADMIN")));
            // Plain OS errors (no context) are explained too.
            assert!(explain(&io::Error::from_raw_os_error(errno)).is_some());
        }
        // The private sysfs mount needs more than CAP_NET_ADMIN.
        let mount = with_context(
            Op::Sysfs,
            "mounting a private sysfs",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert!(explain(&mount).is_some_and(|s| s.contains("CAP_SYS_ADMIN")));
        // ENOENT elsewhere (e.g. a missing interface for an ioctl) is not "no /dev/net/tun".
        let other = with_context(
            Op::Other,
            "SIOCGIFMTU x",
            io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert_eq!(explain(&other), None);
        assert_eq!(explain(&io::Error::other("custom")), None);
    }
}
