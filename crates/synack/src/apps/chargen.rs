//! Character generator (RFC 864).
//!
//! RFC 864 suggests "72 character lines of the ASCII printing characters":
//! the 95 printable characters form a ring, line `n` holds characters
//! `n .. n + 72` (mod 95), and each line ends in CR LF. The stream therefore
//! repeats every 95 lines (7,030 bytes); [`fill`] reproduces any part of it,
//! so a client can check what it received.

use std::io::{self, Read, Write};
use std::sync::OnceLock;

use super::{CHUNK, Metered, Stats, is_disconnect};

/// Printable ASCII, `' '` to `'~'`: the ring RFC 864 numbers 0 to 94.
const RING: usize = 95;
/// Characters per line, before CR LF.
const LINE: usize = 72;
/// Bytes per line on the wire.
pub const LINE_LEN: usize = LINE + 2;
/// Bytes after which the stream repeats.
pub const PERIOD: usize = RING * LINE_LEN;

/// One period of the stream, built once.
fn period() -> &'static [u8] {
    static PERIOD_BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    PERIOD_BYTES.get_or_init(|| {
        let mut v = Vec::with_capacity(PERIOD);
        for line in 0..RING {
            // "On line n, print characters (0 through 71) + n modulo 95."
            v.extend((0..LINE).map(|i| b' ' + ((line + i) % RING) as u8));
            v.extend_from_slice(b"\r\n");
        }
        v
    })
}

/// Fills `buf` with the stream's bytes starting at byte `offset`.
pub fn fill(offset: u64, buf: &mut [u8]) {
    let p = period();
    let mut at = (offset % PERIOD as u64) as usize;
    let mut done = 0;
    while done < buf.len() {
        let n = (buf.len() - done).min(PERIOD - at);
        buf[done..done + n].copy_from_slice(&p[at..at + n]);
        done += n;
        at = (at + n) % PERIOD;
    }
}

/// Sends the stream until the peer goes away (a write fails with a
/// disconnect error: that is the normal end, `Ok`). RFC 864 says received
/// data is thrown away; this never reads, which has the same effect.
pub fn serve(conn: impl Read + Write) -> io::Result<Stats> {
    serve_bounded(conn, u64::MAX)
}

/// Sends exactly the first `limit` bytes of the stream (fewer if the peer
/// goes first), then flushes and returns.
pub fn serve_bounded(conn: impl Read + Write, limit: u64) -> io::Result<Stats> {
    let mut conn = Metered::new(conn);
    // A whole number of periods, so every write starts at offset 0.
    let mut chunk = vec![0u8; (CHUNK / PERIOD).max(1) * PERIOD];
    fill(0, &mut chunk);
    let mut sent = 0u64;
    while sent < limit {
        let n = (limit - sent).min(chunk.len() as u64) as usize;
        match conn.write_all(&chunk[..n]) {
            Ok(()) => sent += n as u64,
            Err(e) if is_disconnect(&e) => return Ok(conn.stats),
            Err(e) => return Err(e),
        }
    }
    match conn.flush() {
        Err(e) if !is_disconnect(&e) => Err(e),
        _ => Ok(conn.stats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_lines_match_rfc_864() {
        let mut buf = [0xAA; 2 * LINE_LEN];
        fill(0, &mut buf);
        let line0 = r##" !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefg"##;
        let line1 = r##"!"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefgh"##;
        assert_eq!(line0.len(), 72);
        assert_eq!(&buf[..LINE_LEN], format!("{line0}\r\n").as_bytes());
        assert_eq!(&buf[LINE_LEN..], format!("{line1}\r\n").as_bytes());
    }

    #[test]
    fn line_wraps_around_the_ring() {
        // Line 60 runs from char 60 ('\\') past '~' (94) back to ' ' (0).
        let mut line = [0u8; LINE_LEN];
        fill(60 * LINE_LEN as u64, &mut line);
        assert_eq!(line[0], b'\\');
        assert_eq!(line[34], b'~');
        assert_eq!(line[35], b' ');
        assert_eq!(line[71], b'D');
    }

    #[test]
    fn stream_repeats_every_95_lines() {
        assert_eq!(PERIOD, 7030);
        let mut a = vec![0u8; 500];
        let mut b = vec![0u8; 500];
        fill(1234, &mut a);
        fill(1234 + 3 * PERIOD as u64, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn fill_at_any_offset_matches_the_contiguous_stream() {
        let mut whole = vec![0u8; 3 * PERIOD];
        fill(0, &mut whole);
        for off in [0, 1, 73, 74, 7029, 7030, 9000] {
            let mut part = vec![0u8; 300];
            fill(off as u64, &mut part);
            assert_eq!(part, whole[off..off + 300], "offset {off}");
        }
    }
}
