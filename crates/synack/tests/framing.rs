//! Framing over byte streams that split and merge writes arbitrarily.

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};

use proptest::prelude::*;
use synack::framing::{
    Codec, Delimited, FrameError, FramedReader, FramedWriter, LengthDelimited, Prefix,
};

/// A stream that hands out its bytes in reads of the given sizes (cycled),
/// like a TCP receiver would after arbitrary segmentation.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl Chunked {
    fn new(data: Vec<u8>, sizes: Vec<usize>) -> Self {
        Self {
            data,
            pos: 0,
            sizes,
            turn: 0,
        }
    }

    fn bytewise(data: Vec<u8>) -> Self {
        Self::new(data, vec![1])
    }
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let n = want.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn encode_all<C: Codec>(mut codec: C, frames: &[&[u8]]) -> Vec<u8> {
    let mut wire = Vec::new();
    for f in frames {
        codec.encode(f, &mut wire).unwrap();
    }
    wire
}

fn read_all<R: Read, C: Codec>(r: &mut FramedReader<R, C>) -> io::Result<Vec<Vec<u8>>> {
    let mut frames = Vec::new();
    for _ in 0..100_000 {
        match r.read_frame()? {
            Some(f) => frames.push(f),
            None => return Ok(frames),
        }
    }
    panic!("reader never reached EOF");
}

const FRAMES: [&[u8]; 4] = [b"first", b"", b"third frame, longer", b"4"];

#[test]
fn length_frames_split_at_every_byte_are_reassembled() {
    let wire = encode_all(LengthDelimited::u16(), &FRAMES);
    let mut r = FramedReader::new(Chunked::bytewise(wire), LengthDelimited::u16());
    assert_eq!(read_all(&mut r).unwrap(), FRAMES);
}

#[test]
fn length_frames_split_at_each_single_boundary_are_reassembled() {
    let wire = encode_all(LengthDelimited::u32(), &FRAMES);
    for cut in 0..=wire.len() {
        let sizes = vec![cut, wire.len()];
        let mut r = FramedReader::new(Chunked::new(wire.clone(), sizes), LengthDelimited::u32());
        assert_eq!(read_all(&mut r).unwrap(), FRAMES, "cut at {cut}");
    }
}

#[test]
fn delimited_lines_split_at_every_byte_are_reassembled() {
    let wire = b"one\r\n\r\nthree\r\n".to_vec();
    let mut r = FramedReader::new(Chunked::bytewise(wire), Delimited::crlf(64));
    let frames = read_all(&mut r).unwrap();
    assert_eq!(frames, [&b"one"[..], b"", b"three"]);
}

#[test]
fn coalesced_frames_in_one_read_come_out_one_by_one() {
    let wire = encode_all(LengthDelimited::u16(), &FRAMES);
    let mut r = FramedReader::new(&wire[..], LengthDelimited::u16());
    let mut out = vec![0xAA; 3];
    for want in FRAMES {
        assert!(r.read_frame_into(&mut out).unwrap());
        assert_eq!(out, want);
    }
    assert!(!r.read_frame_into(&mut out).unwrap());
}

#[test]
fn oversize_length_is_invalid_data_without_reading_the_payload() {
    // Announces 1 GiB and sends nothing else: must fail now, not allocate.
    let wire = [0x40, 0, 0, 0];
    let mut r = FramedReader::new(&wire[..], LengthDelimited::u32().max_frame_len(1024));
    let e = r.read_frame().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<FrameError>());
    assert_eq!(
        inner,
        Some(&FrameError::TooLong {
            len: 1 << 30,
            max: 1024
        })
    );
}

#[test]
fn endless_line_is_refused_once_past_the_maximum() {
    let wire = vec![b'x'; 100_000];
    let mut r = FramedReader::new(Chunked::new(wire, vec![1000]), Delimited::newline(4096));
    let e = r.read_frame().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    // It stopped soon after the maximum, not at the end of the input.
    assert!(
        r.buffered().len() < 4096 + 16 * 1024,
        "{}",
        r.buffered().len()
    );
}

#[test]
fn eof_inside_a_length_prefix_is_unexpected_eof() {
    let mut r = FramedReader::new(&[0u8][..], LengthDelimited::u16());
    assert_eq!(
        r.read_frame().unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
}

#[test]
fn eof_inside_a_payload_is_unexpected_eof() {
    let mut r = FramedReader::new(&[0u8, 5, b'a', b'b'][..], LengthDelimited::u16());
    assert_eq!(
        r.read_frame().unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
}

#[test]
fn eof_after_an_unterminated_line_is_unexpected_eof() {
    let mut r = FramedReader::new(&b"done\npartial"[..], Delimited::newline(64));
    assert_eq!(r.read_frame().unwrap().unwrap(), b"done");
    assert_eq!(
        r.read_frame().unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
}

#[test]
fn clean_eof_between_frames_is_none() {
    let mut r = FramedReader::new(&[][..], Delimited::newline(64));
    assert_eq!(r.read_frame().unwrap(), None);
}

/// Returns `WouldBlock` or `Interrupted` once before each real read.
struct Flaky<R> {
    inner: R,
    kind: io::ErrorKind,
    fail_next: bool,
}

impl<R: Read> Read for Flaky<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fail_next = !self.fail_next;
        if self.fail_next {
            return Err(self.kind.into());
        }
        self.inner.read(buf)
    }
}

#[test]
fn would_block_mid_frame_loses_no_bytes_and_resumes() {
    let wire = encode_all(LengthDelimited::u16(), &FRAMES);
    let inner = Chunked::new(wire, vec![3]);
    let flaky = Flaky {
        inner,
        kind: io::ErrorKind::WouldBlock,
        fail_next: false,
    };
    let mut r = FramedReader::new(flaky, LengthDelimited::u16());
    let mut got = Vec::new();
    for _ in 0..1000 {
        match r.read_frame() {
            Ok(Some(f)) => got.push(f),
            Ok(None) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, FRAMES);
}

#[test]
fn interrupted_reads_are_retried() {
    let wire = encode_all(Delimited::newline(64), &[b"a", b"b"]);
    let flaky = Flaky {
        inner: &wire[..],
        kind: io::ErrorKind::Interrupted,
        fail_next: false,
    };
    let mut r = FramedReader::new(flaky, Delimited::newline(64));
    assert_eq!(r.read_frame().unwrap().unwrap(), b"a");
    assert_eq!(r.read_frame().unwrap().unwrap(), b"b");
    assert_eq!(r.read_frame().unwrap(), None);
}

#[test]
fn writer_refuses_oversize_and_writes_nothing() {
    let mut w = FramedWriter::new(Vec::new(), LengthDelimited::new(Prefix::U16, 4));
    let e = w.write_frame(b"12345").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    w.write_frame(b"1234").unwrap();
    assert_eq!(w.into_inner(), [0, 4, b'1', b'2', b'3', b'4']);
}

#[test]
fn leftover_bytes_after_a_frame_are_handed_back() {
    let mut r = FramedReader::new(&b"hello\nrest"[..], Delimited::newline(64));
    assert_eq!(r.read_frame().unwrap().unwrap(), b"hello");
    let (_, rest) = r.into_parts();
    assert_eq!(rest, b"rest");
}

#[test]
fn frames_cross_a_real_tcp_connection_intact() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let frames: Vec<Vec<u8>> = (0..200u32)
        .map(|i| (0..i * 37 % 5000).map(|j| (i + j) as u8).collect())
        .collect();
    let sent = frames.clone();
    let writer = std::thread::spawn(move || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let mut w = FramedWriter::new(s, LengthDelimited::u32());
        for f in &sent {
            w.write_frame(f).unwrap();
        }
        w.flush().unwrap();
    });
    let (conn, _) = listener.accept().unwrap();
    let mut r = FramedReader::new(conn, LengthDelimited::u32());
    let got = read_all(&mut r).unwrap();
    writer.join().unwrap();
    assert_eq!(got, frames);
}

proptest! {
    #[test]
    fn length_delimited_round_trips_any_frames_any_split(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
        sizes in prop::collection::vec(1usize..64, 1..8),
        wide in any::<bool>(),
    ) {
        let codec = if wide { LengthDelimited::u32() } else { LengthDelimited::u16() };
        let mut w = FramedWriter::new(Vec::new(), codec.clone());
        for f in &frames {
            w.write_frame(f).unwrap();
        }
        let mut r = FramedReader::new(Chunked::new(w.into_inner(), sizes), codec);
        prop_assert_eq!(read_all(&mut r).unwrap(), frames);
    }

    #[test]
    fn delimited_round_trips_any_lines_any_split(
        frames in prop::collection::vec(prop::collection::vec(0u8..=255, 0..200), 0..20),
        sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        // Lines cannot contain the delimiter: map '\n' away.
        let frames: Vec<Vec<u8>> = frames
            .into_iter()
            .map(|f| f.into_iter().map(|b| if b == b'\n' { b' ' } else { b }).collect())
            .collect();
        let mut w = FramedWriter::new(Vec::new(), Delimited::newline(200));
        for f in &frames {
            w.write_frame(f).unwrap();
        }
        let mut r = FramedReader::new(Chunked::new(w.into_inner(), sizes), Delimited::newline(200));
        prop_assert_eq!(read_all(&mut r).unwrap(), frames);
    }
}

#[cfg(feature = "tokio")]
mod async_twins {
    use super::*;
    use synack::framing::{AsyncFramedReader, AsyncFramedWriter};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn async_frames_cross_a_tiny_duplex_pipe() {
        block_on(async {
            // A 7-byte pipe splits every frame across many reads.
            let (a, b) = tokio::io::duplex(7);
            let frames: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; i as usize * 3]).collect();
            let sent = frames.clone();
            let mut r = AsyncFramedReader::new(b, LengthDelimited::u16());
            let write = tokio::spawn(async move {
                let mut w = AsyncFramedWriter::new(a, LengthDelimited::u16());
                for f in &sent {
                    w.write_frame(f).await.unwrap();
                }
                w.shutdown().await.unwrap();
            });
            let mut got = Vec::new();
            while let Some(f) = r.read_frame().await.unwrap() {
                got.push(f);
            }
            write.await.unwrap();
            assert_eq!(got, frames);
        });
    }

    #[test]
    fn async_eof_mid_line_is_unexpected_eof() {
        block_on(async {
            let mut r = AsyncFramedReader::new(&b"a\nb"[..], Delimited::newline(8));
            assert_eq!(r.read_frame().await.unwrap().unwrap(), b"a");
            let e = r.read_frame().await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        });
    }

    #[test]
    fn async_oversize_is_invalid_data() {
        block_on(async {
            let mut r = AsyncFramedReader::new(
                &[0xFFu8, 0xFF][..],
                LengthDelimited::u16().max_frame_len(10),
            );
            let e = r.read_frame().await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        });
    }
}
