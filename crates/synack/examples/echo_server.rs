//! An echo server (RFC 862) on synack's blocking sockets: one thread per
//! connection, used exactly like `std::net`.
//!
//! ```sh
//! # As root, ideally in a network namespace of your own (`unshare -n`):
//! cargo run -p synack --example echo_server -- synack0 192.0.2.2/24 192.0.2.1/24 7
//! # From the kernel's side:
//! echo hello | socat - TCP:192.0.2.2:7
//! ```
//!
//! Arguments: TUN name, the stack's address, the kernel's address, port.

use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::thread;

use synack::net::{TcpListener, TcpStream};

mod common;
use common::start;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tun, addr, peer, port] = &args[..] else {
        eprintln!("usage: echo_server TUN ADDR/LEN PEER-ADDR/LEN PORT");
        std::process::exit(2);
    };
    let rt = start(tun, addr, peer)?;
    let listener = TcpListener::bind(&rt, (Ipv4Addr::UNSPECIFIED, port.parse().unwrap_or(7)))?;
    println!("echo server on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        thread::spawn(move || {
            if let Err(e) = echo(stream) {
                eprintln!("connection ended: {e}");
            }
        });
    }
    Ok(())
}

/// Writes back everything it reads, until the peer's FIN; then closes.
fn echo(mut stream: TcpStream) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            println!("{peer}: {total} bytes echoed");
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
        total += n;
    }
}
