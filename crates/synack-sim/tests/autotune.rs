//! Receive-buffer autotuning (`synack_proto::tcp::rcv_space`) end to end: a
//! bulk transfer over a path whose bandwidth-delay product is twice the
//! default receive buffer, with the tuning on, off (`tcp_moderate_rcvbuf =
//! 0`), and with SO_RCVBUF set by the receiving application.

use synack_proto::tcp::conn::SocketOption;
use synack_proto::{Config, Duration, Instant};
use synack_sim::LinkConfig;
use synack_sim::apps::Pattern;
use synack_sim::scenario::Pair;

const BYTES: u64 = 8 << 20;

/// 100 Mbit/s with 10 ms each way: a bandwidth-delay product of 250 KB,
/// against the 128 KiB `tcp_rmem` default.
fn path() -> LinkConfig {
    LinkConfig::new()
        .delay(Duration::from_millis(10))
        .bandwidth(100_000_000)
        .queue_limit(1 << 20)
}

/// What one transfer showed: when the receiver read its end of stream, and
/// the receive buffer's largest limit.
struct Run {
    done: Instant,
    rcv_limit: u32,
}

/// `BYTES` from the client to the server's bulk receiver; `fixed` sets the
/// receiver's SO_RCVBUF to that size as soon as it accepted.
fn transfer(server_config: Config, fixed: Option<usize>) -> Run {
    let pattern = Pattern::new(23);
    let mut p = Pair::bulk(23, BYTES, pattern, Config::default(), server_config, path());
    let receiver = |p: &Pair| p.bulk_receiver().conn;
    p.run_until(|p| receiver(p).is_some(), Instant::from_secs(5))
        .expect("the receiver accepts");
    let conn = receiver(&p).unwrap();
    if let Some(size) = fixed {
        let now = p.now();
        p.server()
            .tcp_set_option(now, conn, SocketOption::RecvBuffer(size))
            .unwrap();
    }
    // The largest limit seen while the connection receives (it is gone
    // once the receiver closes at the end of stream).
    let mut rcv_limit = 0;
    let done = p
        .run_until(
            |p| {
                if let Some(mem) = p.server_ref().tcp_mem_info(conn) {
                    rcv_limit = rcv_limit.max(mem.rcvbuf);
                }
                p.bulk_receiver().eof_at.is_some()
            },
            Instant::from_secs(60),
        )
        .expect("the transfer ends");
    let rx = p.bulk_receiver();
    assert_eq!((rx.received, rx.mismatch), (BYTES, None));
    Run { done, rcv_limit }
}

#[test]
fn the_receive_buffer_grows_to_the_path_and_the_transfer_runs_at_its_rate() {
    let tuned = transfer(Config::default(), None);
    let off = Config {
        tcp_moderate_rcvbuf: false,
        ..Config::default()
    };
    let untuned = transfer(off, None);
    let default = Config::default().tcp_rmem.default as u32;
    // Without the tuning the window holds the sender to 128 KiB per 20 ms
    // round trip, 52 Mbit/s: 8 MiB take 1.3 s at least.
    assert_eq!(untuned.rcv_limit, default);
    assert!(
        untuned.done > Instant::from_millis(1_300),
        "{:?}",
        untuned.done
    );
    // With it the buffer grew past the path's 250 KB (and stayed under
    // tcp_rmem's maximum), and the transfer ran near 100 Mbit/s: 8 MiB in
    // 0.67 s plus slow start.
    let max = Config::default().tcp_rmem.max as u32;
    assert!(
        (250_000..=max).contains(&tuned.rcv_limit),
        "{}",
        tuned.rcv_limit
    );
    assert!(
        tuned.done.as_secs_f64() < 0.7 * untuned.done.as_secs_f64(),
        "tuned {:?}, untuned {:?}",
        tuned.done,
        untuned.done
    );
}

#[test]
fn an_application_that_set_so_rcvbuf_keeps_its_size() {
    let run = transfer(Config::default(), Some(100_000));
    assert_eq!(run.rcv_limit, 100_000);
    assert!(run.done > Instant::from_millis(1_300), "{:?}", run.done);
}
