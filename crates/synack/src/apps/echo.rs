//! Echo (RFC 862): "any data received is sent back", until the peer closes.

use std::io::{self, Read, Write};

use super::{CHUNK, Metered, Stats, read_retrying};

/// Echoes one connection. Half-close aware: when the peer shuts its write
/// side down (read returns 0), everything read has already been written
/// back; the echo flushes and returns, and the caller's close sends our FIN.
///
/// A peer that sends without reading eventually blocks both sides (its
/// receive window fills); that is the peer's deadlock to avoid, as with any
/// echo server.
pub fn serve(conn: impl Read + Write) -> io::Result<Stats> {
    let mut conn = Metered::new(conn);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_retrying(&mut conn, &mut buf)?;
        if n == 0 {
            conn.flush()?;
            return Ok(conn.stats);
        }
        conn.write_all(&buf[..n])?;
    }
}
