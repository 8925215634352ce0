//! Property tests for the script parser and printer, on fixed seeds:
//! generated scripts survive print → parse unchanged, and no input, however
//! broken, makes the parser panic.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use synack_sim::script::parse_script;

fn config(seed: u64) -> Config {
    Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

fn seconds() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        (0u32..5, 0u32..1_000_000).prop_map(|(s, us)| format!("{s}.{us:06}")),
        (0u32..1000).prop_map(|ms| format!(".{ms:03}")),
        (0u32..100).prop_map(|s| s.to_string()),
    ]
}

/// A time for any event, or (when `outbound`) a range or `*` too.
fn time(outbound: bool) -> BoxedStrategy<String> {
    let simple = prop_oneof![seconds(), seconds().prop_map(|t| format!("+{t}"))];
    if !outbound {
        return simple.boxed();
    }
    prop_oneof![
        4 => simple,
        1 => Just("*".to_string()),
        1 => (0u64..3_000_000, 0u64..1_000_000).prop_map(|(a, d)| {
            let f = |us: u64| format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
            format!("{}~{}", f(a), f(a + d))
        }),
        1 => (0u64..3_000_000, 0u64..1_000_000).prop_map(|(a, d)| {
            let f = |us: u64| format!("+{}.{:06}", us / 1_000_000, us % 1_000_000);
            format!("{}~{}", f(a), f(a + d))
        }),
    ]
    .boxed()
}

fn hex_bytes(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 1..=max)
        .prop_map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
}

/// (text, wire length) of one TCP option.
fn tcp_option() -> impl Strategy<Value = (String, usize)> {
    prop_oneof![
        Just(("nop".to_string(), 1)),
        Just(("eol".to_string(), 1)),
        Just(("sackOK".to_string(), 2)),
        any::<u16>().prop_map(|m| (format!("mss {m}"), 4)),
        any::<u8>().prop_map(|w| (format!("wscale {w}"), 3)),
        (any::<u32>(), any::<u32>()).prop_map(|(v, e)| (format!("TS val {v} ecr {e}"), 10)),
        prop::collection::vec((any::<u32>(), any::<u32>()), 1..=3).prop_map(|b| {
            let blocks: Vec<String> = b.iter().map(|(l, r)| format!("{l}:{r}")).collect();
            (format!("sack {}", blocks.join(" ")), 2 + 8 * b.len())
        }),
        Just(("FO".to_string(), 2)),
        hex_bytes(8).prop_map(|h| {
            let n = h.len() / 2;
            (format!("FO {h}"), 2 + n)
        }),
        hex_bytes(8).prop_map(|h| {
            let n = h.len() / 2;
            (format!("FOEXP {h}"), 4 + n)
        }),
        hex_bytes(16).prop_map(|h| {
            let n = h.len() / 2;
            (format!("md5 {h}"), 2 + n)
        }),
        (0u32..1 << 24, 0u32..1 << 24).prop_map(|(a, b)| (format!("ECN e0b {a} ceb {b}"), 8)),
        (0u32..1 << 24).prop_map(|a| (format!("ECN e1b {a}"), 5)),
    ]
}

/// `<...>` lists padded with nops to a multiple of 4 bytes, at most 40.
fn tcp_options(outbound: bool) -> BoxedStrategy<String> {
    let list = prop::collection::vec(tcp_option(), 0..6).prop_map(|opts| {
        let mut text = Vec::new();
        let mut len = 0;
        for (t, l) in opts {
            if len + l <= 36 {
                text.push(t);
                len += l;
            }
        }
        while len % 4 != 0 {
            text.push("nop".to_string());
            len += 1;
        }
        if text.is_empty() {
            String::new()
        } else {
            format!(" <{}>", text.join(","))
        }
    });
    if outbound {
        prop_oneof![4 => list, 1 => Just(" <...>".to_string())].boxed()
    } else {
        list.boxed()
    }
}

fn tcp_flags() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop::sample::select(vec!['F', 'S', 'R', 'P', 'U', 'E', 'W', 'A']),
            0..4,
        ),
        any::<bool>(),
        prop::option::of(0u8..8),
    )
        .prop_map(|(mut letters, ack, ace)| {
            if ace.is_some() {
                letters.retain(|c| !matches!(c, 'E' | 'W' | 'A'));
            }
            letters.sort();
            letters.dedup();
            let mut s: String = letters.into_iter().collect();
            // ACE digits need a word or a `.` in front of them.
            let ace = ace.filter(|_| ack || !s.is_empty());
            if ack {
                s.push('.');
            }
            if let Some(a) = ace {
                s.push(char::from(b'0' + a));
            }
            if s.is_empty() { "-".to_string() } else { s }
        })
}

fn ip_info(outbound: bool) -> impl Strategy<Value = String> {
    let ecn = if outbound {
        vec!["ect0", "ect1", "ce", "noecn", "ect01"]
    } else {
        vec!["ect0", "ect1", "ce", "noecn"]
    };
    prop_oneof![
        3 => Just(String::new()),
        1 => prop::sample::select(ecn).prop_map(|e| format!(" ({e})")),
        1 => any::<u8>().prop_map(|t| format!(" (tos {t:#x})")),
        1 => any::<u8>().prop_map(|t| format!(" [ttl {t}]")),
        1 => (0u32..1 << 20).prop_map(|f| format!(" (ect1, flowlabel {f:#x})")),
    ]
}

fn tcp_packet() -> impl Strategy<Value = String> {
    any::<bool>().prop_flat_map(|outbound| {
        (
            time(outbound),
            ip_info(outbound),
            tcp_flags(),
            0u32..u32::MAX / 2,
            any::<u16>(),
            prop::option::of(any::<u32>()),
            if outbound {
                prop::option::of(any::<u16>()).boxed()
            } else {
                any::<u16>().prop_map(Some).boxed()
            },
            prop::option::of(any::<u16>()),
            tcp_options(outbound),
        )
            .prop_map(move |(t, ip, flags, seq, len, ack, win, urg, opts)| {
                let mut s = format!(
                    "{t} {}{ip} {flags} {seq}:{}({len})",
                    if outbound { ">" } else { "<" },
                    seq + u32::from(len)
                );
                if let Some(a) = ack {
                    s += &format!(" ack {a}");
                }
                if let Some(w) = win {
                    s += &format!(" win {w}");
                }
                if let Some(u) = urg {
                    s += &format!(" urg {u}");
                }
                s + &opts
            })
    })
}

fn other_packet() -> impl Strategy<Value = String> {
    prop_oneof![
        (time(false), any::<u16>()).prop_map(|(t, l)| format!("{t} < udp ({l})")),
        (time(true), any::<u16>(), any::<u16>(), any::<u16>())
            .prop_map(|(t, a, b, l)| format!("{t} > udp {a}>{b} ({l})")),
        (time(false), 0u16..1500).prop_map(|(t, m)| format!(
            "{t} < icmp unreachable frag_needed mtu {m} [1:1001(1000)]"
        )),
        time(false).prop_map(|t| format!("{t} < icmp echo_request id 7 [udp (10)]")),
    ]
}

fn word() -> impl Strategy<Value = String> {
    "[A-Z][A-Z_]{0,8}"
}

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("...".to_string()),
        any::<i32>().prop_map(|i| i.to_string()),
        any::<u32>().prop_map(|i| format!("{i:#x}")),
        word(),
        "[a-z ]{0,8}".prop_map(|s| format!("\"{s}\"")),
        "[a-z]{1,5}".prop_map(|s| format!("\"{s}\"...")),
        prop::collection::vec(word(), 2..4).prop_map(|w| w.join("|")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_]{1,6}", inner.clone()), 1..3).prop_map(|v| {
                let fields: Vec<String> = v.into_iter().map(|(n, e)| format!("{n}={e}")).collect();
                format!("{{{}}}", fields.join(", "))
            }),
            (any::<u16>()).prop_map(|p| format!("htons({p})")),
        ]
    })
}

fn syscall() -> impl Strategy<Value = String> {
    (
        time(false),
        prop::option::of(seconds()),
        "[a-z]{1,8}",
        prop::collection::vec(expr(), 0..4),
        any::<i16>(),
        prop::option::of((
            word(),
            prop::option::of("[A-Za-z][a-z]{0,6}( [a-z]{1,6}){0,3}"),
        )),
    )
        .prop_map(|(t, end, name, args, ret, err)| {
            let end = end.map(|e| format!("...{e}")).unwrap_or_default();
            let mut s = format!("{t}{end} {name}({}) = {ret}", args.join(", "));
            if let Some((errno, note)) = err {
                s += &format!(" {errno}");
                if let Some(n) = note {
                    s += &format!(" ({n})");
                }
            }
            s
        })
}

fn event() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => tcp_packet(),
        1 => other_packet(),
        3 => syscall(),
        1 => time(false).prop_map(|t| format!("{t} `sysctl -q net.ipv4.tcp_sack=1`")),
        1 => (time(false), any::<u16>()).prop_map(|(t, n)| format!("{t} %{{ assert tcpi_snd_cwnd == {n}, tcpi_snd_cwnd }}%")),
    ]
}

fn script() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop_oneof![
                (1u32..100_000).prop_map(|n| format!("--tolerance_usecs={n}")),
                Just("--tcp_ts_ecr_scaled".to_string()),
                (word(), 0u32..100).prop_map(|(w, n)| format!("--define={w}_X={n}")),
            ],
            0..3,
        ),
        any::<bool>(),
        prop::collection::vec(event(), 1..12),
        any::<bool>(),
    )
        .prop_map(|(opts, init, events, cleanup)| {
            let mut s = opts.join("\n");
            s.push('\n');
            if init {
                s += "`../common/defaults.sh`\n";
            }
            s += &events.join("\n");
            if cleanup {
                s += "\n`/tmp/sysctl_restore_${PPID}.sh`";
            }
            s
        })
}

proptest! {
    #![proptest_config(config(0x5ca1_ab1e))]

    #[test]
    fn generated_scripts_round_trip_through_the_printer(src in script()) {
        let ast = parse_script(&src, "gen.pkt").map_err(|e| TestCaseError::fail(format!("{e}\n{src}")))?;
        let printed = ast.to_string();
        let again = parse_script(&printed, "printed.pkt")
            .map_err(|e| TestCaseError::fail(format!("{e}\n--- printed ---\n{printed}\n--- source ---\n{src}")))?;
        prop_assert_eq!(&again, &ast, "source:\n{}\nprinted:\n{}", src, printed);
        prop_assert_eq!(again.to_string(), printed);
    }
}

/// Characters that make up scripts, plus some that never should.
fn script_chars() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(vec![
                "0", "1", "+", ".", "...", "~", "*", "<", ">", ":", "(", ")", "[", "]", "{", "}", ",",
                "=", "|", "-", "--x=", "-D ", "\"", "`", "%{", "}%", "//", "/*", "*/", " ", "\n",
                "S", "F.", "ack", "win", "mss", "FO", "sack", "TS val", "ecr", "ipv4", "gre", "mpls",
                "icmp", "udp", "socket", "0x1f", "1.2.3.4", "::1", "#", "\\", "é",
            ]).prop_map(str::to_string),
            1 => any::<char>().prop_map(|c| c.to_string()),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(config(0xdead_beef))]

    #[test]
    fn arbitrary_input_never_panics(src in script_chars()) {
        // Errors are fine; a panic or a hang is not.
        let _ = parse_script(&src, "junk.pkt");
    }

    #[test]
    fn damaged_valid_scripts_never_panic(src in script(), cut in any::<prop::sample::Index>(), junk in script_chars()) {
        let at = cut.index(src.len() + 1);
        let at = (0..=at).rev().find(|i| src.is_char_boundary(*i)).unwrap_or(0);
        let damaged = format!("{}{}{}", &src[..at], junk, &src[at..]);
        if let Ok(ast) = parse_script(&damaged, "damaged.pkt") {
            // Whatever parses must still round-trip.
            let again = parse_script(&ast.to_string(), "printed.pkt");
            prop_assert_eq!(again.as_ref().ok(), Some(&ast), "{}", damaged);
        }
    }
}
