//! A client on synack's blocking sockets: connects, sends its standard
//! input, half-closes, and prints what comes back (nc-style).
//!
//! ```sh
//! # As root, in a namespace of your own, with a server on the kernel's side:
//! socat TCP-LISTEN:8080,reuseaddr EXEC:'tr a-z A-Z' &
//! echo hello | cargo run -p synack --example client -- synack0 192.0.2.2/24 192.0.2.1/24 192.0.2.1:8080
//! ```
//!
//! Arguments: TUN name, the stack's address, the kernel's address, server.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use synack::net::TcpStream;

mod common;
use common::start;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tun, addr, peer, server] = &args[..] else {
        eprintln!("usage: client TUN ADDR/LEN PEER-ADDR/LEN SERVER:PORT");
        std::process::exit(2);
    };
    let server: SocketAddr = server
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "SERVER:PORT"))?;
    let rt = start(tun, addr, peer)?;
    let mut stream = TcpStream::connect_timeout(&rt, &server, Duration::from_secs(10))?;
    stream.set_nodelay(true)?;
    eprintln!(
        "connected {} -> {}",
        stream.local_addr()?,
        stream.peer_addr()?
    );
    let mut input = Vec::new();
    io::stdin().read_to_end(&mut input)?;
    stream.write_all(&input)?;
    stream.shutdown(Shutdown::Write)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    io::stdout().write_all(&reply)?;
    // Wait (at most 5 s) for the FIN to be acknowledged before the stack goes.
    stream.set_linger(Some(Duration::from_secs(5)))?;
    Ok(())
}
