//! Demultiplexing at scale: a hundred thousand connections, and a segment
//! still costs one keyed hash probe (DESIGN.md §4: "never a scan").

use super::*;
use crate::tcp::segment::SegmentHeader;

const SERVER: SocketAddrV4 = SocketAddrV4::new(B, 80);

/// The `i`th client: 10.0.0.0/8 addresses (off-link: the IP medium's
/// default route), a few ports each.
fn client(i: u32) -> SocketAddrV4 {
    let addr = Ipv4Addr::from(0x0A00_0000 + (i / 4) + 1);
    SocketAddrV4::new(addr, 40_000 + (i % 4) as u16)
}

fn segment(
    from: SocketAddrV4,
    flags: TcpFlags,
    seq: u32,
    ack: Option<u32>,
    data: &[u8],
) -> Vec<u8> {
    let header = SegmentHeader {
        seq: SeqNum(seq),
        ack: ack.map(SeqNum),
        flags,
        window: 65535,
        options: TcpOptions::default(),
    };
    ip_datagram(
        *from.ip(),
        B,
        IpProtocol::Tcp,
        &tcp_bytes(from, SERVER, &header, data),
    )
}

#[test]
fn a_segment_costs_one_probe_at_a_hundred_thousand_connections() {
    const N: u32 = 100_000;
    let mut s = Stack::new(
        Config {
            seed: 5,
            // Make room for them all, without cookies.
            tcp_syncookies: crate::config::SynCookieMode::Never,
            ..Config::default()
        },
        Interface::ip(B, 24),
    );
    let l = s.tcp_listen(SERVER, 4096).unwrap();
    let t = Instant::from_secs(1);
    let mut buf = [0u8; 1600];
    let mut handles = Vec::with_capacity(N as usize);
    let mut server_iss = Vec::with_capacity(N as usize);
    for i in 0..N {
        let from = client(i);
        s.handle_frame(t, &segment(from, TcpFlags::SYN, 1000, None, b""));
        let n = s.poll_transmit(t, &mut buf).expect("a SYN-ACK");
        let syn_ack = TcpPacket::new_checked(&buf[20..n]).unwrap();
        let iss = syn_ack.seq_number().raw();
        s.handle_frame(t, &segment(from, TcpFlags::ACK, 1001, Some(iss + 1), b""));
        handles.push(s.tcp_accept(l).unwrap());
        server_iss.push(iss);
    }
    while s.poll_transmit(t, &mut buf).is_some() {}
    while s.poll_event().is_some() {}
    assert_eq!(s.connection_count(), (N as usize, 0));
    // Data for a spread of connections, each found with one probe: nothing
    // walks the table (the stack counts every walk), and each byte lands in
    // its own connection.
    let scans = s.full_scans();
    let mut read = [0u8; 16];
    for k in 0..1000u32 {
        let i = (k * 7919) % N;
        let payload = i.to_be_bytes();
        let seg = segment(
            client(i),
            TcpFlags::ACK | TcpFlags::PSH,
            1001,
            Some(server_iss[i as usize] + 1),
            &payload,
        );
        s.handle_frame(t, &seg);
        let c = handles[i as usize];
        assert_eq!(s.tcp_recv(t, c, &mut read), Ok(4));
        assert_eq!(read[..4], payload);
    }
    assert_eq!(s.full_scans(), scans, "no segment walked the connections");
    assert_eq!(s.stats().tcp.in_segs, u64::from(2 * N + 1000));
}
