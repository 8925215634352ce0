//! Interface names and kernel-side configuration of a network interface
//! (address, netmask, MTU, flags, hardware address) through the classic
//! `SIOC*IF*` ioctls on an `AF_INET` socket. No shelling out to `ip`.
//!
//! Layouts of the `struct ifreq` union members used here (all native-endian
//! except the address bytes, which are in network order):
//! - `ifru_addr`/`ifru_netmask`: `struct sockaddr_in` = family (u16), port
//!   (2 bytes), address (4 bytes), 8 bytes of zero;
//! - `ifru_hwaddr`: `struct sockaddr` = family (u16, ARPHRD_*), 14 bytes of data;
//! - `ifru_flags`: `short`; `ifru_mtu`: `int`.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};

use crate::error::{Context, Op};
use crate::sys::{self, IfReq, IfReqIoctl};

/// Longest interface name the kernel accepts (IFNAMSIZ minus the NUL).
pub const MAX_NAME_LEN: usize = libc::IFNAMSIZ - 1;

/// Checks a name the way the kernel will (`dev_valid_name`), so the caller
/// gets a clear error instead of EINVAL. `%d` once is allowed: the kernel
/// replaces it with the first free number ("synack%d" -> "synack0").
pub fn validate_name(name: &str) -> io::Result<()> {
    let bad = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}: {why}"),
        ))
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("reserved");
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
    {
        return bad(&format!("contains {c:?}"));
    }
    let percents = name.matches('%').count();
    if percents > 1 || (percents == 1 && !name.contains("%d")) {
        return bad("only one %d is allowed");
    }
    Ok(())
}

/// `ifr_name` for a validated name.
pub(crate) fn ifreq_named(name: &str) -> IfReq {
    let mut ifr = IfReq::zeroed();
    // validate_name keeps it below IFNAMSIZ, so the NUL terminator stays.
    let n = name.len().min(MAX_NAME_LEN);
    ifr.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    ifr
}

/// The name the kernel wrote back into `ifr_name`.
pub(crate) fn ifreq_name(ifr: &IfReq) -> String {
    let len = ifr
        .name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(ifr.name.len());
    String::from_utf8_lossy(&ifr.name[..len]).into_owned()
}

fn put_sockaddr_in(ifr: &mut IfReq, addr: Ipv4Addr) {
    ifr.ifru = [0; sys::IFRU_LEN];
    // sa_family_t is a native-endian u16.
    ifr.ifru[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    ifr.ifru[4..8].copy_from_slice(&addr.octets());
}

/// The netmask for a prefix length (0..=32).
pub fn prefix_to_netmask(prefix_len: u8) -> Option<Ipv4Addr> {
    match prefix_len {
        0 => Some(Ipv4Addr::UNSPECIFIED),
        1..=32 => Some(Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix_len)))),
        _ => None,
    }
}

/// A control socket bound to the network namespace in which it was made,
/// plus the interface name it configures. Kept open by each device so that
/// configuration reaches the device's namespace from any thread.
#[derive(Debug)]
pub(crate) struct Ctl {
    sock: OwnedFd,
}

impl Ctl {
    pub(crate) fn new() -> io::Result<Ctl> {
        let sock = sys::inet_control_socket()
            .context(Op::Other, || "creating an AF_INET control socket".into())?;
        Ok(Ctl { sock })
    }

    fn ioctl(&self, name: &str, what: &str, req: IfReqIoctl, ifr: &mut IfReq) -> io::Result<()> {
        sys::ioctl_ifreq(self.sock.as_fd(), req, ifr)
            .context(Op::Other, || format!("{what} {name}"))
    }

    pub(crate) fn mtu(&self, name: &str) -> io::Result<usize> {
        let mut ifr = ifreq_named(name);
        self.ioctl(name, "SIOCGIFMTU", IfReqIoctl::SiocGIfMtu, &mut ifr)?;
        let mtu = i32::from_ne_bytes([ifr.ifru[0], ifr.ifru[1], ifr.ifru[2], ifr.ifru[3]]);
        usize::try_from(mtu)
            .map_err(|_| io::Error::other(format!("SIOCGIFMTU {name}: negative MTU {mtu}")))
    }

    pub(crate) fn set_mtu(&self, name: &str, mtu: usize) -> io::Result<()> {
        let value = i32::try_from(mtu).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("MTU {mtu} is too large"),
            )
        })?;
        let mut ifr = ifreq_named(name);
        ifr.ifru[0..4].copy_from_slice(&value.to_ne_bytes());
        self.ioctl(
            name,
            &format!("SIOCSIFMTU {mtu}"),
            IfReqIoctl::SiocSIfMtu,
            &mut ifr,
        )
    }

    pub(crate) fn hw_addr(&self, name: &str) -> io::Result<[u8; 6]> {
        let mut ifr = ifreq_named(name);
        self.ioctl(name, "SIOCGIFHWADDR", IfReqIoctl::SiocGIfHwAddr, &mut ifr)?;
        let mut mac = [0; 6];
        mac.copy_from_slice(&ifr.ifru[2..8]);
        Ok(mac)
    }

    pub(crate) fn set_addr(&self, name: &str, addr: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
        let mask = prefix_to_netmask(prefix_len).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("prefix length {prefix_len} is not in 0..=32"),
            )
        })?;
        let mut ifr = ifreq_named(name);
        put_sockaddr_in(&mut ifr, addr);
        self.ioctl(
            name,
            &format!("SIOCSIFADDR {addr}"),
            IfReqIoctl::SiocSIfAddr,
            &mut ifr,
        )?;
        // The kernel derives a classful mask from SIOCSIFADDR; set ours after it.
        let mut ifr = ifreq_named(name);
        put_sockaddr_in(&mut ifr, mask);
        self.ioctl(
            name,
            &format!("SIOCSIFNETMASK {mask}"),
            IfReqIoctl::SiocSIfNetmask,
            &mut ifr,
        )
    }

    pub(crate) fn flags(&self, name: &str) -> io::Result<i16> {
        let mut ifr = ifreq_named(name);
        self.ioctl(name, "SIOCGIFFLAGS", IfReqIoctl::SiocGIfFlags, &mut ifr)?;
        Ok(i16::from_ne_bytes([ifr.ifru[0], ifr.ifru[1]]))
    }

    pub(crate) fn set_up(&self, name: &str, up: bool) -> io::Result<()> {
        let flags = self.flags(name)?;
        let up_flag = libc::IFF_UP as i16;
        let new = if up {
            flags | up_flag
        } else {
            flags & !up_flag
        };
        if new == flags {
            return Ok(());
        }
        let mut ifr = ifreq_named(name);
        ifr.ifru[0..2].copy_from_slice(&new.to_ne_bytes());
        self.ioctl(name, "SIOCSIFFLAGS", IfReqIoctl::SiocSIfFlags, &mut ifr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_like_the_kernel_does() {
        for good in ["synack0", "synack%d", "t", "a-b_c.d", "123456789012345"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1234567890123456",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\tb",
            "a%d%d",
            "a%s",
        ] {
            let err = validate_name(bad).expect_err(bad);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("invalid interface name"), "{err}");
        }
    }

    #[test]
    fn netmask_from_prefix() {
        assert_eq!(prefix_to_netmask(24), Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(prefix_to_netmask(32), Some(Ipv4Addr::BROADCAST));
        assert_eq!(prefix_to_netmask(0), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(prefix_to_netmask(17), Some(Ipv4Addr::new(255, 255, 128, 0)));
        assert_eq!(prefix_to_netmask(33), None);
    }

    #[test]
    fn ifreq_name_round_trips_and_stays_nul_terminated() {
        let ifr = ifreq_named("123456789012345");
        assert_eq!(ifr.name[15], 0);
        assert_eq!(ifreq_name(&ifr), "123456789012345");
        let mut ifr = IfReq::zeroed();
        put_sockaddr_in(&mut ifr, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(&ifr.ifru[4..8], &[192, 0, 2, 1]);
        assert_eq!(
            u16::from_ne_bytes([ifr.ifru[0], ifr.ifru[1]]),
            libc::AF_INET as u16
        );
        assert_eq!(&ifr.ifru[2..4], &[0, 0]);
    }
}
