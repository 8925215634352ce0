//! An interface's attributes under `/sys/class/net/<name>/`, as the calling
//! thread's network namespace sees them.
//!
//! The system's `/sys` lists the interfaces of the network namespace that
//! mounted it (usually the root one), whichever namespace the reader is in:
//! a TAP made in a fresh namespace is not there. So each access runs on a
//! short-lived thread, which shares the caller's network namespace, moves
//! into a private mount namespace of its own, mounts a new sysfs over
//! `/sys` there (a sysfs shows the namespace of whoever mounts it), and
//! reads or writes the one file. No other thread or process sees that
//! mount; it goes away with the thread. Needs root (`CAP_SYS_ADMIN`).

use std::io;
use std::path::PathBuf;

use crate::error::{Context, Op};
use crate::iface;
use crate::sys;

/// Reads `/sys/class/net/<iface>/<attr>`, without the trailing newline, as
/// the calling thread's network namespace sees it (for the interface of
/// another process in that namespace too, such as a test's `synack serve`).
pub fn read(iface: &str, attr: &str) -> io::Result<String> {
    let path = attr_path(iface, attr)?;
    in_private_sysfs(|| {
        let text = std::fs::read_to_string(&path)
            .context(Op::Other, || format!("reading {}", path.display()))?;
        Ok(text.trim_end().to_owned())
    })
}

/// Writes `value` to `/sys/class/net/<iface>/<attr>`.
pub(crate) fn write(iface: &str, attr: &str, value: &str) -> io::Result<()> {
    let path = attr_path(iface, attr)?;
    in_private_sysfs(|| {
        std::fs::write(&path, value).context(Op::Other, || {
            format!("writing {value} to {}", path.display())
        })
    })
}

fn attr_path(iface: &str, attr: &str) -> io::Result<PathBuf> {
    iface::validate_name(iface)?;
    debug_assert!(!attr.contains('/') && !attr.is_empty());
    Ok(["/sys/class/net", iface, attr].iter().collect())
}

/// Runs `f` on a new thread in the caller's network namespace, with a
/// sysfs of that namespace at `/sys` (see the module's comment).
fn in_private_sysfs<T: Send>(f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                sys::unshare_mounts_private()
                    .context(Op::Sysfs, || "unshare(CLONE_NEWNS)".into())?;
                sys::mount_sysfs_over_sys()
                    .context(Op::Sysfs, || "mounting a private sysfs".into())?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the sysfs thread panicked")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_paths_stay_inside_the_interface_directory() {
        assert_eq!(
            attr_path("synack0", "threaded").unwrap(),
            PathBuf::from("/sys/class/net/synack0/threaded")
        );
        for bad in ["", "..", "a/b", "../../etc", "sixteen-bytes-xx"] {
            assert_eq!(
                attr_path(bad, "threaded").unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
    }
}
