//! A small HTTP/1.1 server on synack's tokio sockets (feature `tokio`):
//! keep-alive, `GET /` and `GET /hello/NAME`, 404 for anything else. The
//! request heads are split with `framing::Delimited` (`\r\n\r\n`).
//!
//! ```sh
//! # As root, in a namespace of your own:
//! cargo run -p synack --features tokio --example http_server -- synack0 192.0.2.2/24 192.0.2.1/24 80
//! curl http://192.0.2.2/hello/world
//! ```
//!
//! Arguments: TUN name, the stack's address, the kernel's address, port.
//! For a full static-file server see `synack serve --http DIR`.

use std::io;
use std::net::Ipv4Addr;

use synack::framing::{AsyncFramedReader, Delimited};
use synack::tokio::{TcpListener, TcpStream};
use tokio::io::AsyncWriteExt;

mod common;
use common::start;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tun, addr, peer, port] = &args[..] else {
        eprintln!("usage: http_server TUN ADDR/LEN PEER-ADDR/LEN PORT");
        std::process::exit(2);
    };
    let rt = start(tun, addr, peer)?;
    let port: u16 = port.parse().unwrap_or(80);
    // No tokio reactor needed: synack's driver wakes the tasks.
    tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(async move {
            let listener = TcpListener::bind(&rt, (Ipv4Addr::UNSPECIFIED, port)).await?;
            println!("http://{}:{port}/", rt.local_ip());
            loop {
                let (stream, peer) = listener.accept().await?;
                tokio::spawn(async move {
                    if let Err(e) = serve(stream).await {
                        eprintln!("{peer}: {e}");
                    }
                });
            }
        })
}

/// Answers requests on one connection until the client closes it.
async fn serve(stream: TcpStream) -> io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut heads = AsyncFramedReader::new(r, Delimited::new(b"\r\n\r\n".to_vec(), 16 * 1024));
    while let Some(head) = heads.read_frame().await? {
        let head = String::from_utf8_lossy(&head);
        let target = head.split_whitespace().nth(1).unwrap_or("/");
        let (status, body) = match target {
            "/" => ("200 OK", "synack says hello\n".to_owned()),
            t if t.starts_with("/hello/") => ("200 OK", format!("hello, {}\n", &t[7..])),
            _ => ("404 Not Found", "not found\n".to_owned()),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        w.write_all(response.as_bytes()).await?;
    }
    Ok(())
}
