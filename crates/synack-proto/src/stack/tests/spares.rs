//! Short connections reuse the blocks and rings of the ones before them: a
//! connection that ends (TIME-WAIT or CLOSED) gives its data blocks, its
//! emptied buffers' rings and its loss-recovery episode to the stack's
//! spares (`conn::Spares`), a removed one its data counters and HyStart
//! box, and the next connection's first data takes them instead of
//! allocating.

use super::*;

#[test]
fn an_ended_connection_gives_its_blocks_and_rings_to_the_next_one() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 8).unwrap();
    let mut buf = [0u8; 8];
    let mut first_memory = None;
    for round in 0..3u64 {
        let t = round * 1_000;
        let c =
            w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
                .unwrap();
        w.run_until(t + 100);
        let s = w.b.tcp_accept(l).unwrap();
        // The ended connections' rings and blocks wait here: none before
        // the first.
        let kept = if round == 0 { 0 } else { 2 };
        let blocks = if round == 0 { (0, 0) } else { (1, 1) };
        let boxes = usize::from(round > 0);
        for st in [&w.a, &w.b] {
            assert_eq!(st.env.spares.rings.len(), kept, "round {round}");
            assert_eq!(st.env.spares.blocks(), blocks, "round {round}");
            assert_eq!(st.env.spares.episodes.len(), boxes, "round {round}");
            assert_eq!(
                st.env.spares.episodes.hystart_boxes(),
                boxes,
                "round {round}"
            );
            assert_eq!(st.env.spares.counters(), boxes, "round {round}");
        }
        // One byte each way: each side's send and receive buffers take
        // the spares (or allocate, the first time).
        w.a.tcp_send(w.now, c, b"q").unwrap();
        w.run_until(t + 200);
        assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(1));
        w.b.tcp_send(w.now, s, b"r").unwrap();
        w.run_until(t + 300);
        assert_eq!(w.a.tcp_recv(w.now, c, &mut buf), Ok(1));
        for st in [&w.a, &w.b] {
            assert!(st.env.spares.rings.is_empty(), "round {round}");
            assert_eq!(st.env.spares.blocks(), (0, 0), "round {round}");
            assert!(st.env.spares.episodes.is_empty(), "round {round}");
            assert_eq!(st.env.spares.episodes.hystart_boxes(), 0, "round {round}");
            assert_eq!(st.env.spares.counters(), 0, "round {round}");
        }
        // (The episode and its scoreboard included.)
        let memory = |st: &Stack, h: ConnHandle| st.conns.get(h.0).unwrap().conn.buffer_memory();
        let (ma, mb) = (memory(&w.a, c), memory(&w.b, s));
        // Reused counters count from zero, as new ones do.
        let counted = |st: &Stack, h: ConnHandle| {
            let i = st.tcp_info(h).unwrap();
            (
                i.bytes_sent,
                i.bytes_acked,
                i.bytes_received,
                i.data_segs_in,
                i.data_segs_out,
            )
        };
        assert_eq!(counted(&w.a, c), (1, 1, 1, 1, 1), "round {round}");
        assert_eq!(counted(&w.b, s), (1, 1, 1, 1, 1), "round {round}");
        // Closing: A ends in TIME-WAIT, B in CLOSED; each gives back its
        // two blocks and the rings of its two (now empty) buffers.
        w.a.tcp_close(w.now, c);
        w.run_until(t + 400);
        w.b.tcp_close(w.now, s);
        w.run_until(t + 500);
        assert_eq!(w.a.time_wait.len() as u64, round + 1, "round {round}");
        assert_eq!(w.b.conns.len(), 0, "round {round}");
        for st in [&w.a, &w.b] {
            assert_eq!(st.env.spares.rings.len(), 2, "round {round}");
            assert_eq!(st.env.spares.blocks(), (1, 1), "round {round}");
            assert_eq!(st.env.spares.episodes.len(), 1, "round {round}");
            assert_eq!(st.env.spares.episodes.hystart_boxes(), 1, "round {round}");
            assert_eq!(st.env.spares.counters(), 1, "round {round}");
        }
        // Reused blocks and rings are accounted as fresh ones: every round
        // the same.
        assert_eq!(
            *first_memory.get_or_insert((ma, mb)),
            (ma, mb),
            "round {round}"
        );
    }
}

#[test]
fn the_spares_stay_few_however_many_connections_end_together() {
    let mut w = Wire::new();
    let l = w.b.tcp_listen(SocketAddrV4::new(B, PORT), 64).unwrap();
    let mut pairs = Vec::new();
    for _ in 0..10 {
        let c =
            w.a.tcp_connect(w.now, SocketAddrV4::new(B, PORT), ConnectOptions::default())
                .unwrap();
        pairs.push(c);
    }
    w.run_until(100);
    let mut servers = Vec::new();
    while let Ok(s) = w.b.tcp_accept(l) {
        servers.push(s);
    }
    assert_eq!(servers.len(), 10);
    for &c in &pairs {
        w.a.tcp_send(w.now, c, b"q").unwrap();
    }
    for &s in &servers {
        w.b.tcp_send(w.now, s, b"r").unwrap();
    }
    w.run_until(200);
    let mut buf = [0u8; 8];
    for &c in &pairs {
        assert_eq!(w.a.tcp_recv(w.now, c, &mut buf), Ok(1));
        w.a.tcp_close(w.now, c);
    }
    for &s in &servers {
        assert_eq!(w.b.tcp_recv(w.now, s, &mut buf), Ok(1));
        w.b.tcp_close(w.now, s);
    }
    w.run_until(400);
    // Twenty rings and blocks ended on each side; a few are kept, the rest
    // freed.
    let cap = crate::storage::ring_buffer::MAX_SPARE_RINGS;
    let blocks = crate::tcp::conn::MAX_SPARE_BLOCKS;
    for st in [&w.a, &w.b] {
        assert_eq!(st.env.spares.rings.len(), cap);
        assert_eq!(st.env.spares.rings.allocated(), cap * 1024);
        assert_eq!(st.env.spares.blocks(), (blocks, blocks));
        let episodes = crate::tcp::recovery::MAX_SPARE_EPISODES;
        assert_eq!(st.env.spares.episodes.len(), episodes);
        assert_eq!(st.env.spares.episodes.hystart_boxes(), episodes);
        assert_eq!(st.env.spares.counters(), blocks);
    }
}
