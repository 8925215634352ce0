//! The receiver's check catches bad data: a scripted stack hands it bytes.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use synack_bench::app::BulkReceiver;
use synack_bench::{BenchStack, Frames, HostConfig, TcpState, pattern};
use synack_proto::Instant;

/// A stack whose one connection delivers the scripted chunks.
struct Scripted {
    chunks: VecDeque<Vec<u8>>,
}

impl BenchStack for Scripted {
    type Socket = u8;
    const NAME: &'static str = "scripted";
    fn new(_: &HostConfig) -> Self {
        Scripted {
            chunks: VecDeque::new(),
        }
    }
    fn poll(&mut self, _: Instant, _: &mut Frames, _: &mut Frames) {}
    fn poll_at(&mut self, _: Instant) -> Option<Instant> {
        None
    }
    fn listen(&mut self, _: u16) -> u8 {
        0
    }
    fn accept(&mut self, l: u8) -> Option<u8> {
        Some(l)
    }
    fn connect(&mut self, _: Instant, _: u16, _: SocketAddrV4) -> u8 {
        1
    }
    fn state(&self, _: u8) -> TcpState {
        TcpState::Established
    }
    fn send(&mut self, _: u8, data: &[u8]) -> usize {
        data.len()
    }
    fn recv(&mut self, _: u8, buf: &mut [u8]) -> usize {
        let Some(c) = self.chunks.pop_front() else {
            return 0;
        };
        buf[..c.len()].copy_from_slice(&c);
        c.len()
    }
    fn recv_finished(&self, _: u8) -> bool {
        self.chunks.is_empty()
    }
    fn close(&mut self, _: u8) {}
    fn release(&mut self, _: u8) {}
}

fn receive(chunks: Vec<Vec<u8>>, expected: u64) -> BulkReceiver<Scripted> {
    let mut s = Scripted::new(&HostConfig::new(synack_bench::stack::SERVER_ADDR));
    s.chunks = chunks.into();
    let mut r = BulkReceiver::listen(&mut s, 80, expected);
    r.step(&mut s, Instant::from_millis(5));
    r
}

#[test]
fn the_stream_in_pieces_is_intact_and_finishes() {
    let r = receive(
        vec![
            pattern::chunk(0, 1000).to_vec(),
            pattern::chunk(1000, 500).to_vec(),
        ],
        1500,
    );
    assert!(r.intact && r.done());
    assert_eq!(r.received, 1500);
    assert_eq!(r.finished, Some(Instant::from_millis(5)));
}

#[test]
fn a_flipped_bit_a_repeated_piece_or_extra_bytes_are_caught() {
    let mut bad = pattern::chunk(1000, 500).to_vec();
    bad[17] ^= 4;
    let flipped = receive(vec![pattern::chunk(0, 1000).to_vec(), bad], 1500);
    assert!(!flipped.intact);

    let repeated = receive(
        vec![
            pattern::chunk(0, 1000).to_vec(),
            pattern::chunk(500, 500).to_vec(),
        ],
        1500,
    );
    assert!(!repeated.intact);

    let extra = receive(vec![pattern::chunk(0, 1600).to_vec()], 1500);
    assert!(!extra.intact);
}

#[test]
fn a_short_stream_does_not_finish() {
    let r = receive(vec![pattern::chunk(0, 1000).to_vec()], 1500);
    assert!(r.intact && !r.done());
}
