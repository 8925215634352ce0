//! Discard (RFC 863): "simply throw away any data it receives", until EOF.

use std::io::{self, Read, Write};

use super::{CHUNK, Metered, Stats, read_retrying};

/// Reads and counts one connection until the peer closes. Writes nothing;
/// `Write` is only required so every service has the same signature.
pub fn serve(conn: impl Read + Write) -> io::Result<Stats> {
    let mut conn = Metered::new(conn);
    let mut buf = vec![0u8; CHUNK];
    while read_retrying(&mut conn, &mut buf)? != 0 {}
    Ok(conn.stats)
}
