//! Wire-format benchmarks: the Internet checksum (fast vs a naive
//! byte-at-a-time reference), the receive path's copy-and-sum into a ring
//! buffer (one pass vs a copy then a sum), TCP parse (view + `TcpRepr::parse` with
//! checksum verification) and TCP emit.
//!
//! `cargo bench -p synack-proto --bench wire -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use synack_proto::SeqNum;
use synack_proto::storage::RingBuffer;
use synack_proto::wire::checksum;
use synack_proto::wire::{
    Checksum, SackBlocks, TcpFlags, TcpOptions, TcpPacket, TcpRepr, TcpTimestamp,
};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// The byte-at-a-time reference the unit tests use: two bytes, one add,
/// one fold per step (the loop-carried fold keeps it scalar).
fn reference_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let hi = u32::from(bytes[i]) << 8;
        let lo = bytes.get(i + 1).copied().map_or(0, u32::from);
        sum += hi | lo;
        sum = (sum & 0xFFFF) + (sum >> 16);
        i += 2;
    }
    sum as u16
}

/// The textbook RFC 1071 loop: 16-bit words into a 32-bit sum, folded once
/// (the compiler vectorises this one).
fn naive_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for w in &mut chunks {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

fn bench_checksum(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    for len in [20usize, 40, 576, 1500, 9000, 65535] {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        assert_eq!(checksum::data(&data), naive_checksum(&data));
        assert_eq!(checksum::data(&data), reference_checksum(&data));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("fast", len), &data, |b, d| {
            b.iter(|| checksum::data(black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("naive", len), &data, |b, d| {
            b.iter(|| naive_checksum(black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("reference", len), &data, |b, d| {
            b.iter(|| reference_checksum(black_box(d)))
        });
    }
    group.finish();
}

/// A segment's payload into a 256 KiB receive ring, summed: the one pass
/// `RingBuffer::write_at_summed` makes against a copy (`write_at`) followed
/// by `checksum::data` over the source, the two passes it replaced.
fn bench_copy_and_sum(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring_copy_and_sum");
    for len in [1448usize, 65483] {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let mut ring = RingBuffer::new(256 << 10);
        assert_eq!(ring.write_at_summed(0, &data), (len, checksum::data(&data)));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("one_pass", len), &data, |b, d| {
            b.iter(|| ring.write_at_summed(0, black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("copy_then_sum", len), &data, |b, d| {
            b.iter(|| {
                let sum = checksum::data(black_box(d));
                (ring.write_at(0, black_box(d)), sum)
            })
        });
        // The floor: the same bytes copied by libc's memcpy, not summed.
        let mut dst = vec![0u8; len];
        group.bench_with_input(BenchmarkId::new("memcpy_only", len), &data, |b, d| {
            b.iter(|| black_box(&mut dst[..]).copy_from_slice(black_box(d)))
        });
        // The bare loop, slice to slice.
        group.bench_with_input(BenchmarkId::new("copy_and_sum", len), &data, |b, d| {
            b.iter(|| checksum::copy_and_sum(black_box(&mut dst[..]), black_box(d)))
        });
    }
    group.finish();
}

fn base() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 40000,
        dst_port: 8080,
        seq: SeqNum(0x1000_0000),
        ack: Some(SeqNum(0x2000_0000)),
        flags: TcpFlags::ACK,
        window: 502,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    }
}

fn encode(repr: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut buf[..]),
        SRC,
        DST,
        Checksum::Full,
    );
    buf
}

fn bench_tcp(c: &mut Criterion) {
    let ts = Some(TcpTimestamp {
        tsval: 123456,
        tsecr: 654321,
    });
    let payload = vec![0x5A; 1460];
    let syn = TcpRepr {
        ack: None,
        flags: TcpFlags::SYN,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: ts,
            ..TcpOptions::default()
        },
        ..base()
    };
    let data = TcpRepr {
        flags: TcpFlags::ACK | TcpFlags::PSH,
        options: TcpOptions {
            timestamp: ts,
            ..TcpOptions::default()
        },
        payload: &payload,
        ..base()
    };
    let sack = TcpRepr {
        options: TcpOptions {
            timestamp: ts,
            sack_blocks: SackBlocks::from_slice(&[
                (SeqNum(0x2000_1000), SeqNum(0x2000_2000)),
                (SeqNum(0x2000_3000), SeqNum(0x2000_4000)),
                (SeqNum(0x2000_5000), SeqNum(0x2000_6000)),
            ]),
            ..TcpOptions::default()
        },
        ..base()
    };
    let mut group = c.benchmark_group("tcp_parse");
    for (name, repr) in [
        ("syn_full_options", &syn),
        ("data_1460_ts", &data),
        ("ack_3_sack", &sack),
    ] {
        let bytes = encode(repr);
        group.bench_function(name, |b| {
            b.iter(|| {
                let packet = TcpPacket::new_checked(black_box(&bytes[..])).unwrap();
                TcpRepr::parse(&packet, SRC, DST, Checksum::Full).unwrap()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("tcp_emit");
    let mut buf = vec![0; data.buffer_len()];
    group.bench_function("data_1460_ts", |b| {
        b.iter(|| {
            let mut packet = TcpPacket::new_unchecked(&mut buf[..]);
            black_box(&data).emit(&mut packet, SRC, DST, Checksum::Full);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_checksum, bench_copy_and_sum, bench_tcp);
criterion_main!(benches);
