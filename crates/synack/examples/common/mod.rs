//! What every example does first: open the TUN, give the kernel's side its
//! address and start a stack on it.

use std::io;

use synack::Runtime;
use synack_proto::ip::Ipv4Cidr;

/// `addr` and `peer` are `IP/LEN` (the stack's and the kernel's).
pub fn start(tun: &str, addr: &str, peer: &str) -> io::Result<Runtime> {
    let me = cidr(addr)?;
    let kernel = cidr(peer)?;
    let dev = synack::Tun::open(tun)?;
    dev.set_kernel_addr(kernel.addr(), kernel.prefix_len())?;
    dev.set_up()?;
    Runtime::start(dev, me.addr(), me.prefix_len())
}

/// `IP/LEN`, the length required (a bare address is refused).
fn cidr(s: &str) -> io::Result<Ipv4Cidr> {
    s.contains('/')
        .then(|| s.parse().ok())
        .flatten()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{s}: not IP/LEN")))
}
