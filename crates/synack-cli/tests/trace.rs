//! `synack trace` on small checked-in captures: exact JSON lines, exact
//! ladder text, and the exit status and single stderr line for every file
//! it refuses. The fixtures come from `tests/data/trace/make_fixtures.py`
//! (deterministic; rerun it after changing it and review the diff).

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/trace");
    dir.join(name).to_string_lossy().into_owned()
}

/// Runs `synack trace ARGS` from the fixture directory (so file names in
/// the output are short), with no COLUMNS unless `columns` says.
fn trace(args: &[&str], columns: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synack"));
    cmd.arg("trace").args(args).current_dir(fixture(""));
    cmd.env_remove("COLUMNS");
    if let Some(c) = columns {
        cmd.env("COLUMNS", c);
    }
    cmd.output().expect("run synack")
}

fn stdout(out: &Output) -> &str {
    std::str::from_utf8(&out.stdout).expect("UTF-8 output")
}

fn stderr(out: &Output) -> &str {
    std::str::from_utf8(&out.stderr).expect("UTF-8 errors")
}

/// Succeeds with `expected` on stdout and nothing on stderr.
fn assert_prints(args: &[&str], columns: Option<&str>, expected: &str) {
    let out = trace(args, columns);
    assert_eq!(stderr(&out), "", "{args:?}");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    // The literals below start with a newline for readability.
    assert_eq!(stdout(&out), &expected[1..], "{args:?}");
}

/// Fails with status 2, nothing on stdout and one line on stderr, which is
/// returned.
fn assert_refused(args: &[&str]) -> String {
    let out = trace(args, None);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    assert_eq!(stdout(&out), "", "{args:?}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("synack trace: "), "{err}");
    err.to_string()
}

#[test]
fn json_handshake_has_absolute_numbers_across_the_wrap_and_the_real_length_of_a_cut_frame() {
    assert_prints(&["--json", "handshake.pcap"], None, HANDSHAKE_JSON);
}

#[test]
fn json_sack_blocks_in_wire_order_and_ack_with_rst() {
    assert_prints(&["--json", "sack.pcap"], None, SACK_JSON);
}

#[test]
fn json_fast_open_cookie_requests_and_cookies_of_both_kinds_on_linux_cooked_v2() {
    assert_prints(&["--json", "fastopen.pcap"], None, FASTOPEN_JSON);
}

#[test]
fn json_non_tcp_packets_carry_proto_time_and_endpoints() {
    assert_prints(&["--json", "other.pcap"], None, OTHER_JSON);
}

#[test]
fn json_every_flag_unknown_and_malformed_options_from_a_big_endian_nanosecond_file() {
    assert_prints(&["--json", "odd.pcap"], None, ODD_JSON);
}

#[test]
fn ladder_of_a_handshake_transfer_and_close() {
    assert_prints(
        &["--width", "100", "handshake.pcap"],
        None,
        HANDSHAKE_LADDER,
    );
}

#[test]
fn ladder_with_raw_numbers_and_box_drawing_fits_columns() {
    assert_prints(
        &["--absolute", "--unicode", "sack.pcap"],
        Some("64"),
        SACK_LADDER,
    );
}

#[test]
fn ladder_per_connection_for_fast_open() {
    assert_prints(&["--width", "100", "fastopen.pcap"], None, FASTOPEN_LADDER);
}

#[test]
fn other_packets_are_listed_one_per_line() {
    assert_prints(&["other.pcap"], None, OTHER_LADDER);
}

#[test]
fn odd_headers_in_a_ladder() {
    assert_prints(&["--width", "72", "odd.pcap"], None, ODD_LADDER);
}

/// Column of the right endpoint line in a two-endpoint ladder.
fn right_bar(out: &Output) -> usize {
    let bars = stdout(out)
        .lines()
        .find(|l| l.trim().starts_with('|'))
        .expect("a ladder");
    bars.rfind('|').unwrap()
}

#[test]
fn width_comes_from_the_option_then_columns_then_100() {
    assert_eq!(right_bar(&trace(&["handshake.pcap"], None)), 99);
    assert_eq!(right_bar(&trace(&["handshake.pcap"], Some("80"))), 79);
    assert_eq!(right_bar(&trace(&["handshake.pcap"], Some("junk"))), 99);
    let both = trace(&["--width", "120", "handshake.pcap"], Some("80"));
    assert_eq!(right_bar(&both), 119);
}

#[test]
fn a_record_cut_short_prints_the_rest_warns_once_and_succeeds() {
    let out = trace(&["--json", "truncated.pcap"], None);
    assert_eq!(out.status.code(), Some(0));
    let all: Vec<&str> = HANDSHAKE_JSON[1..].lines().collect();
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), all[..7]);
    assert_eq!(
        stderr(&out),
        "synack trace: warning: truncated.pcap ends in the middle of the record at byte 676 \
         (capture cut short?); showed the 7 packets before it\n"
    );
}

#[test]
fn pcapng_without_an_interface_is_refused_with_the_classic_pcap_hint() {
    let err = assert_refused(&["header-only.pcapng"]);
    assert!(err.contains("pcapng"), "{err}");
    assert!(err.contains("tcpdump -w FILE"), "{err}");
    assert!(err.contains("editcap -F pcap"), "{err}");
}

#[test]
fn single_interface_pcapng_is_read() {
    assert_prints(
        &["--json", "arp.pcapng"],
        None,
        r#"
{"t":7.000000,"proto":"arp","op":"request","src":"192.0.2.1","dst":"192.0.2.2"}
"#,
    );
}

#[test]
fn files_that_are_not_captures_exit_2_with_one_line() {
    assert_eq!(
        assert_refused(&["garbage.bin"]),
        "synack trace: garbage.bin: not a pcap capture (unknown magic number, or shorter than \
         a pcap header)\n"
    );
    let missing = assert_refused(&["--json", "no-such-file.pcap"]);
    assert!(
        missing.starts_with("synack trace: cannot read no-such-file.pcap: "),
        "{missing}"
    );
    assert_eq!(
        assert_refused(&["wifi.pcap"]),
        "synack trace: wifi.pcap: link type 105 is not supported (Ethernet, raw IP, Linux \
         cooked and BSD loopback are)\n"
    );
}

#[test]
fn an_empty_capture_is_not_an_error() {
    assert_prints(
        &["empty.pcap"],
        None,
        "\nempty.pcap: no packets (Ethernet)\n",
    );
    assert_prints(&["--json", "empty.pcap"], None, "\n");
}

#[test]
fn dash_reads_standard_input() {
    let file = std::fs::File::open(fixture("sack.pcap")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["trace", "--json", "-"])
        .stdin(file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), &SACK_JSON[1..]);
}

#[test]
fn a_capture_from_synacks_own_pcap_writer_reads_in_virtual_time() {
    use synack_proto::Instant;
    use synack_sim::pcap::{LinkType, PcapFile};
    // A SYN-ACK from 192.0.2.2:80 to 192.0.2.1:40000 (raw IPv4, as on an
    // IP-medium simulated link), seq 123, ack 456, window 65535, one NOP.
    let frame: [u8; 44] = [
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, //
        192, 0, 2, 2, 192, 0, 2, 1, //
        0x00, 0x50, 0x9c, 0x40, 0x00, 0x00, 0x00, 0x7b, 0x00, 0x00, 0x01, 0xc8, //
        0x60, 0x12, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    ];
    let mut pcap = PcapFile::new(Vec::new(), LinkType::Raw, 65_535).unwrap();
    pcap.write_frame(Instant::from_micros(1_234_567), &frame)
        .unwrap();
    let path = std::env::temp_dir().join(format!("synack-trace-sim-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap.into_inner()).unwrap();
    let out = trace(&["--json", path.to_str().unwrap()], None);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        concat!(
            r#"{"t":1.234567,"proto":"tcp","src":"192.0.2.2:80","dst":"192.0.2.1:40000","#,
            r#""flags":["SYN","ACK"],"seq":123,"ack":456,"win":65535,"len":0,"#,
            r#""options":[{"kind":"nop"},{"kind":"eol"}]}"#,
            "\n"
        )
    );
}

#[test]
fn help_shows_examples_and_the_decisions() {
    let out = trace(&["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for needle in [
        "Examples:",
        "synack trace --json capture.pcap",
        "Exit status",
        "pcapng",
    ] {
        assert!(help.contains(needle), "no {needle:?} in:\n{help}");
    }
}

const HANDSHAKE_JSON: &str = r##"
{"t":1.000000,"proto":"tcp","src":"192.0.2.1:40000","dst":"192.0.2.2:80","flags":["SYN"],"seq":4294967000,"ack":null,"win":64240,"len":0,"options":[{"kind":"mss","value":1460},{"kind":"sack_permitted"},{"kind":"timestamp","val":100,"ecr":0},{"kind":"nop"},{"kind":"window_scale","value":7}]}
{"t":1.000150,"proto":"tcp","src":"192.0.2.2:80","dst":"192.0.2.1:40000","flags":["SYN","ACK"],"seq":7,"ack":4294967001,"win":65160,"len":0,"options":[{"kind":"mss","value":1460},{"kind":"sack_permitted"},{"kind":"timestamp","val":900,"ecr":100},{"kind":"nop"},{"kind":"window_scale","value":7}]}
{"t":1.000300,"proto":"tcp","src":"192.0.2.1:40000","dst":"192.0.2.2:80","flags":["ACK"],"seq":4294967001,"ack":8,"win":502,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"timestamp","val":101,"ecr":900}]}
{"t":1.000400,"proto":"tcp","src":"192.0.2.1:40000","dst":"192.0.2.2:80","flags":["PSH","ACK"],"seq":4294967001,"ack":8,"win":502,"len":100,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"timestamp","val":101,"ecr":900}]}
{"t":1.040500,"proto":"tcp","src":"192.0.2.2:80","dst":"192.0.2.1:40000","flags":["ACK"],"seq":8,"ack":4294967101,"win":509,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"timestamp","val":941,"ecr":101}]}
{"t":1.050000,"proto":"tcp","src":"192.0.2.1:40000","dst":"192.0.2.2:80","flags":["FIN","ACK"],"seq":4294967101,"ack":8,"win":502,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"timestamp","val":111,"ecr":941}]}
{"t":1.050200,"proto":"tcp","src":"192.0.2.2:80","dst":"192.0.2.1:40000","flags":["FIN","ACK"],"seq":8,"ack":4294967102,"win":509,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"timestamp","val":951,"ecr":111}]}
{"t":1.050300,"proto":"tcp","src":"192.0.2.1:40000","dst":"192.0.2.2:80","flags":["ACK"],"seq":4294967102,"ack":9,"win":502,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"timestamp","val":111,"ecr":951}]}
"##;

const SACK_JSON: &str = r##"
{"t":0.000000,"proto":"tcp","src":"198.51.100.1:5000","dst":"203.0.113.9:443","flags":["ACK"],"seq":1001,"ack":501,"win":1000,"len":100,"options":[]}
{"t":0.000010,"proto":"tcp","src":"198.51.100.1:5000","dst":"203.0.113.9:443","flags":["ACK"],"seq":1201,"ack":501,"win":1000,"len":100,"options":[]}
{"t":0.000020,"proto":"tcp","src":"203.0.113.9:443","dst":"198.51.100.1:5000","flags":["ACK"],"seq":501,"ack":1101,"win":2000,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"sack","blocks":[[1201,1301]]}]}
{"t":0.000030,"proto":"tcp","src":"198.51.100.1:5000","dst":"203.0.113.9:443","flags":["ACK"],"seq":1401,"ack":501,"win":1000,"len":100,"options":[]}
{"t":0.000040,"proto":"tcp","src":"203.0.113.9:443","dst":"198.51.100.1:5000","flags":["ACK"],"seq":501,"ack":1101,"win":2000,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"sack","blocks":[[1401,1501],[1201,1301]]}]}
{"t":0.000050,"proto":"tcp","src":"198.51.100.1:5000","dst":"203.0.113.9:443","flags":["ACK"],"seq":1101,"ack":501,"win":1000,"len":100,"options":[]}
{"t":0.000060,"proto":"tcp","src":"203.0.113.9:443","dst":"198.51.100.1:5000","flags":["ACK"],"seq":501,"ack":1301,"win":2000,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"sack","blocks":[[1401,1501]]}]}
{"t":0.000070,"proto":"tcp","src":"198.51.100.1:5000","dst":"203.0.113.9:443","flags":["ACK"],"seq":1101,"ack":501,"win":1000,"len":100,"options":[]}
{"t":0.000080,"proto":"tcp","src":"203.0.113.9:443","dst":"198.51.100.1:5000","flags":["ACK"],"seq":501,"ack":1301,"win":2000,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"sack","blocks":[[1101,1201],[1401,1501]]}]}
{"t":0.000090,"proto":"tcp","src":"198.51.100.1:5000","dst":"203.0.113.9:443","flags":["RST","ACK"],"seq":1501,"ack":501,"win":0,"len":0,"options":[]}
"##;

const FASTOPEN_JSON: &str = r##"
{"t":5.000000,"proto":"tcp","src":"192.0.2.1:40001","dst":"192.0.2.2:8080","flags":["SYN"],"seq":1000,"ack":null,"win":64240,"len":0,"options":[{"kind":"mss","value":1460},{"kind":"sack_permitted"},{"kind":"timestamp","val":1,"ecr":0},{"kind":"nop"},{"kind":"window_scale","value":7},{"kind":"fastopen","cookie":""},{"kind":"nop"},{"kind":"nop"}]}
{"t":5.000100,"proto":"tcp","src":"192.0.2.2:8080","dst":"192.0.2.1:40001","flags":["SYN","ACK"],"seq":9000,"ack":1001,"win":65160,"len":0,"options":[{"kind":"mss","value":1460},{"kind":"sack_permitted"},{"kind":"timestamp","val":2,"ecr":1},{"kind":"nop"},{"kind":"window_scale","value":7},{"kind":"fastopen","cookie":"0011223344556677"},{"kind":"nop"},{"kind":"nop"}]}
{"t":5.100000,"proto":"tcp","src":"192.0.2.1:40002","dst":"192.0.2.2:8080","flags":["SYN"],"seq":2000,"ack":null,"win":64240,"len":5,"options":[{"kind":"mss","value":1460},{"kind":"fastopen","cookie":"0011223344556677"},{"kind":"nop"},{"kind":"nop"}]}
{"t":5.100100,"proto":"tcp","src":"192.0.2.2:8080","dst":"192.0.2.1:40002","flags":["SYN","ACK"],"seq":7000,"ack":2006,"win":65160,"len":0,"options":[{"kind":"mss","value":1460}]}
{"t":5.200000,"proto":"tcp","src":"192.0.2.1:40003","dst":"192.0.2.2:8080","flags":["SYN"],"seq":3000,"ack":null,"win":64240,"len":0,"options":[{"kind":"mss","value":1460},{"kind":"nop"},{"kind":"nop"},{"kind":"fastopen_exp","cookie":""},{"kind":"eol"}]}
{"t":5.300000,"proto":"tcp","src":"192.0.2.1:40004","dst":"192.0.2.2:8080","flags":["SYN"],"seq":4000,"ack":null,"win":64240,"len":2,"options":[{"kind":"mss","value":1460},{"kind":"nop"},{"kind":"nop"},{"kind":"fastopen_exp","cookie":"00112233"},{"kind":"eol"}]}
"##;

const OTHER_JSON: &str = r##"
{"t":0.000000,"proto":"arp","op":"request","src":"192.0.2.1","dst":"192.0.2.2"}
{"t":0.000020,"proto":"arp","op":"reply","src":"192.0.2.2","dst":"192.0.2.1"}
{"t":0.000040,"proto":"arp","op":"request","src":"192.0.2.2","dst":"192.0.2.2"}
{"t":0.001000,"proto":"icmp","src":"192.0.2.1","dst":"192.0.2.2","type":8,"code":0}
{"t":0.001100,"proto":"icmp","src":"192.0.2.2","dst":"192.0.2.1","type":0,"code":0}
{"t":0.002000,"proto":"udp","src":"192.0.2.1:5353","dst":"192.0.2.2:53","len":12}
{"t":0.002100,"proto":"icmp","src":"192.0.2.2","dst":"192.0.2.1","type":3,"code":3}
{"t":0.003000,"proto":"udp","src":"192.0.2.1:9","dst":"192.0.2.2:9","len":1}
{"t":0.004000,"proto":"other","info":"IPv6"}
{"t":0.005000,"proto":"other","src":"192.0.2.1","dst":"192.0.2.2","info":"IPv4 protocol 47"}
{"t":0.006000,"proto":"other","info":"ethertype 0x88cc"}
"##;

const ODD_JSON: &str = r##"
{"t":2.000000,"proto":"tcp","src":"192.0.2.1:1234","dst":"192.0.2.2:5678","flags":["FIN","SYN","RST","PSH","ACK","URG","ECE","CWR"],"seq":10,"ack":20,"win":1,"len":4,"options":[{"kind":"unknown","number":76,"len":4},{"kind":"eol"}]}
{"t":2.000001,"proto":"tcp","src":"192.0.2.2:5678","dst":"192.0.2.1:1234","flags":["ACK"],"seq":20,"ack":10,"win":2,"len":0,"options":[{"kind":"nop"},{"kind":"nop"},{"kind":"sack","blocks":[[100,150],[200,250],[300,350],[400,450]]}]}
{"t":2.000002,"proto":"tcp","src":"192.0.2.1:1234","dst":"192.0.2.2:5678","flags":["ACK"],"seq":11,"ack":20,"win":3,"len":0,"options":[{"kind":"nop"},{"kind":"malformed"}]}
{"t":2.000003,"proto":"tcp","src":"192.0.2.1:1234","dst":"192.0.2.2:5678","flags":["ACK"],"seq":11,"ack":20,"win":4,"len":0,"options":[{"kind":"nop"},{"kind":"malformed"}]}
{"t":2.000004,"proto":"other","src":"192.0.2.1","dst":"192.0.2.2","info":"malformed TCP header"}
{"t":2.000005,"proto":"other","src":"192.0.2.1","dst":"192.0.2.2","info":"IPv4 fragment (TCP)"}
"##;

const HANDSHAKE_LADDER: &str = r##"
handshake.pcap: 8 packets (Ethernet), 1 TCP conversation, 0 other packets; time 0 = 1.000000

TCP 192.0.2.1:40000 <-> 192.0.2.2:80: 8 segments

   192.0.2.1:40000                                                                      192.0.2.2:80
          |                                                                                        |
0.000000  |--- S 0:0(0) win 64240 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7> ---------------->|
0.000150  |<-- S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val 900 ecr 100,nop,wscale 7> --------|
0.000300  |--- . 1:1(0) ack 1 win 502 <nop,nop,TS val 101 ecr 900> ------------------------------->|
0.000400  |--- P. 1:101(100) ack 1 win 502 <nop,nop,TS val 101 ecr 900> -------------------------->|
0.040500  |<-- . 1:1(0) ack 101 win 509 <nop,nop,TS val 941 ecr 101> ------------------------------|
0.050000  |--- F. 101:101(0) ack 1 win 502 <nop,nop,TS val 111 ecr 941> -------------------------->|
0.050200  |<-- F. 1:1(0) ack 102 win 509 <nop,nop,TS val 951 ecr 111> -----------------------------|
0.050300  |--- . 102:102(0) ack 2 win 502 <nop,nop,TS val 111 ecr 951> --------------------------->|
"##;

const SACK_LADDER: &str = r##"
sack.pcap: 10 packets (raw IP), 1 TCP conversation, 0 other packets; time 0 = 0.000000

TCP 198.51.100.1:5000 <-> 203.0.113.9:443: 10 segments

  198.51.100.1:5000                              203.0.113.9:443
          │                                                    │
0.000000  │─── . 1001:1101(100) ack 501 win 1000 ─────────────▶│
0.000010  │─── . 1201:1301(100) ack 501 win 1000 ─────────────▶│
0.000020  │◀── . 501:501(0) ack 1101 win 2000 <nop,nop, ───────│
          │    sack 1201:1301>                                 │
0.000030  │─── . 1401:1501(100) ack 501 win 1000 ─────────────▶│
0.000040  │◀── . 501:501(0) ack 1101 win 2000 <nop,nop, ───────│
          │    sack 1401:1501 1201:1301>                       │
0.000050  │─── . 1101:1201(100) ack 501 win 1000 ─────────────▶│
0.000060  │◀── . 501:501(0) ack 1301 win 2000 <nop,nop, ───────│
          │    sack 1401:1501>                                 │
0.000070  │─── . 1101:1201(100) ack 501 win 1000 ─────────────▶│
0.000080  │◀── . 501:501(0) ack 1301 win 2000 <nop,nop, ───────│
          │    sack 1101:1201 1401:1501>                       │
0.000090  │─── R. 1501:1501(0) ack 501 win 0 ─────────────────▶│
"##;

const FASTOPEN_LADDER: &str = r##"
fastopen.pcap: 6 packets (Linux cooked v2), 4 TCP conversations, 0 other packets; time 0 = 5.000000

TCP 192.0.2.1:40001 <-> 192.0.2.2:8080: 2 segments

   192.0.2.1:40001                                                                    192.0.2.2:8080
          |                                                                                        |
0.000000  |--- S 0:0(0) win 64240 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7,tfo cookiereq, ---->|
          |    nop,nop>                                                                            |
0.000100  |<-- S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val 2 ecr 1,nop,wscale 7, ------------|
          |    tfo cookie 0011223344556677,nop,nop>                                                |

TCP 192.0.2.1:40002 <-> 192.0.2.2:8080: 2 segments

   192.0.2.1:40002                                                                    192.0.2.2:8080
          |                                                                                        |
0.100000  |--- S 0:5(5) win 64240 <mss 1460,tfo cookie 0011223344556677,nop,nop> ----------------->|
0.100100  |<-- S. 0:0(0) ack 6 win 65160 <mss 1460> -----------------------------------------------|

TCP 192.0.2.1:40003 <-> 192.0.2.2:8080: 1 segment

   192.0.2.1:40003                                                                    192.0.2.2:8080
          |                                                                                        |
0.200000  |--- S 0:0(0) win 64240 <mss 1460,nop,nop,tfo-exp cookiereq,eol> ----------------------->|

TCP 192.0.2.1:40004 <-> 192.0.2.2:8080: 1 segment

   192.0.2.1:40004                                                                    192.0.2.2:8080
          |                                                                                        |
0.300000  |--- S 0:2(2) win 64240 <mss 1460,nop,nop,tfo-exp cookie 00112233,eol> ----------------->|
"##;

const OTHER_LADDER: &str = r##"
other.pcap: 11 packets (Ethernet), 0 TCP conversations, 11 other packets; time 0 = 0.000000

Other packets:

0.000000  ARP who-has 192.0.2.2 tell 192.0.2.1
0.000020  ARP reply 192.0.2.2 is-at 02:00:00:00:00:02
0.000040  ARP announcement 192.0.2.2 is-at 02:00:00:00:00:02
0.001000  ICMP 192.0.2.1 > 192.0.2.2 echo request id 1 seq 1
0.001100  ICMP 192.0.2.2 > 192.0.2.1 echo reply id 1 seq 1
0.002000  UDP 192.0.2.1:5353 > 192.0.2.2:53 len 12
0.002100  ICMP 192.0.2.2 > 192.0.2.1 port unreachable for UDP 192.0.2.1:5353 > 192.0.2.2:53
0.003000  UDP 192.0.2.1:9 > 192.0.2.2:9 len 1
0.004000  IPv6
0.005000  IP 192.0.2.1 > 192.0.2.2 IPv4 protocol 47
0.006000  ethertype 0x88cc
"##;

const ODD_LADDER: &str = r##"
odd.pcap: 6 packets (raw IP), 1 TCP conversation, 2 other packets; time 0 = 2.000000

TCP 192.0.2.2:5678 <-> 192.0.2.1:1234: 4 segments

   192.0.2.2:5678                                         192.0.2.1:1234
          |                                                            |
0.000000  |<-- FSRP.UEW 0:4(4) ack 1 win 1 urg 3 <opt-76 0xabcd,eol> --|
0.000001  |--- . 1:1(0) ack 0 win 2 <nop,nop,sack 90:140 190:240 ----->|
          |    290:340 390:440>                                        |
0.000002  |<-- . 1:1(0) ack 1 win 3 <nop,bad opt> ---------------------|
0.000003  |<-- . 1:1(0) ack 1 win 4 <nop,bad opt> ---------------------|

Other packets:

0.000004  IP 192.0.2.1 > 192.0.2.2 malformed TCP header
0.000005  IP 192.0.2.1 > 192.0.2.2 IPv4 fragment (TCP)
"##;
