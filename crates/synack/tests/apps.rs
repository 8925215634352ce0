//! echo, discard and chargen over real TCP connections on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use synack::apps::{self, Service, Stats, chargen};

/// Serves one connection with `service` on a fresh port; returns the client
/// side and the server thread.
fn one_connection(service: Service) -> (TcpStream, thread::JoinHandle<std::io::Result<Stats>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (conn, _) = listener.accept()?;
        conn.set_read_timeout(Some(Duration::from_secs(30)))?;
        service.serve(conn)
    });
    let client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (client, server)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn echo_returns_every_byte_and_finishes_after_half_close() {
    let (client, server) = one_connection(Service::Echo);
    let data = pattern(3 * 1024 * 1024 + 17);
    // Write from another thread while reading here: both directions flow.
    let mut w = client.try_clone().unwrap();
    let sent = data.clone();
    let writer = thread::spawn(move || {
        w.write_all(&sent).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    (&client).read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert!(got == data, "echoed bytes differ");
    let stats = server.join().unwrap().unwrap();
    assert_eq!(stats.bytes_in, data.len() as u64);
    assert_eq!(stats.bytes_out, data.len() as u64);
}

#[test]
fn echo_of_nothing_ends_at_once_on_half_close() {
    let (client, server) = one_connection(Service::Echo);
    client.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    (&client).read_to_end(&mut got).unwrap();
    assert!(got.is_empty());
    assert_eq!(server.join().unwrap().unwrap(), Stats::default());
}

#[test]
fn discard_counts_everything_until_eof_and_sends_nothing() {
    let (mut client, server) = one_connection(Service::Discard);
    let data = pattern(1_000_003);
    client.write_all(&data).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert!(got.is_empty());
    let stats = server.join().unwrap().unwrap();
    assert_eq!(stats.bytes_in, 1_000_003);
    assert_eq!(stats.bytes_out, 0);
}

#[test]
fn chargen_streams_the_rfc_864_pattern_until_the_peer_closes() {
    let (mut client, server) = one_connection(Service::Chargen);
    let mut got = vec![0u8; 500_000];
    client.read_exact(&mut got).unwrap();
    let mut want = vec![0u8; got.len()];
    chargen::fill(0, &mut want);
    assert!(got == want, "chargen bytes differ from the pattern");
    drop(client);
    // Our close makes the server's writes fail (RST): a normal end.
    let stats = server.join().unwrap().unwrap();
    assert!(stats.bytes_out >= 500_000);
    assert_eq!(stats.bytes_in, 0);
}

#[test]
fn bounded_chargen_sends_exactly_the_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        apps::chargen::serve_bounded(conn, 100_001)
    });
    let mut client = TcpStream::connect(addr).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    let mut want = vec![0u8; 100_001];
    chargen::fill(0, &mut want);
    assert_eq!(got.len(), want.len());
    assert!(got == want);
    assert_eq!(server.join().unwrap().unwrap().bytes_out, 100_001);
}

#[test]
fn chargen_lines_are_74_bytes_ending_in_crlf() {
    let mut out = Vec::new();
    let conn = ReadWrite(&mut out);
    chargen::serve_bounded(conn, 95 * 74).unwrap();
    let lines: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 95);
    assert!(lines.iter().all(|l| l.len() == 74 && l.ends_with(b"\r\n")));
    assert!(
        lines
            .iter()
            .all(|l| l[..72].iter().all(|b| (b' '..=b'~').contains(b)))
    );
}

/// A write-only sink with an empty read side.
struct ReadWrite<'a>(&'a mut Vec<u8>);

impl Read for ReadWrite<'_> {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

impl Write for ReadWrite<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
