//! The sysctls a script's shell lines set.
//!
//! packetdrill runs backquoted lines with `/bin/sh` in the script's
//! directory. synack runs no shell; it reads the lines that configure the
//! stack and turns them into `(name, value)` settings for `Config`:
//!
//! - `sysctl [-q] [-w] a.b.c=V [d.e=W ...]` (Linux and FreeBSD names);
//! - `echo V > /proc/sys/net/ipv4/X`;
//! - `.../set_sysctls.py /proc/sys/net/ipv4/X=V ...` (packetdrill's helper);
//! - `.../defaults.sh`: the file is read (relative to the script) and its own
//!   lines are read the same way;
//! - `/tmp/sysctl_restore_${PPID}.sh` undoes `set_sysctls.py`; each script
//!   gets a fresh configuration, so it needs nothing.
//!
//! Anything else (`ip tcp_metrics flush all`, `tc qdisc ...`, `sockstat`)
//! is reported as skipped with the reason. The splitter understands what
//! those files use: quotes, backslash escapes and line continuations,
//! `$((arithmetic))`, `#` comments, `;` `&&` `||` `|` `&` and redirections.

use std::path::Path;

/// One setting: a dotted sysctl name (`net.ipv4.tcp_timestamps`) and its
/// value as text, quotes removed and `$((...))` evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sysctl {
    pub name: String,
    pub value: String,
}

impl Sysctl {
    /// The name as synack's `Config` spells it: without `net.ipv4.` or
    /// `net.core.` (DESIGN.md §5).
    pub fn config_name(&self) -> &str {
        self.name
            .strip_prefix("net.ipv4.")
            .or_else(|| self.name.strip_prefix("net.core."))
            .unwrap_or(&self.name)
    }
}

/// A command that sets nothing synack understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub command: String,
    pub reason: String,
}

/// What one backquoted line does to the configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShellEffects {
    /// In the order the shell would apply them.
    pub sysctls: Vec<Sysctl>,
    /// `sysctl_restore_*.sh` was run.
    pub restores: bool,
    pub skipped: Vec<Skipped>,
}

/// How deep `defaults.sh` files may source each other.
const MAX_INCLUDE_DEPTH: usize = 4;

/// The effects of `command`; `read_file` returns the contents of a
/// `defaults.sh` path as written in the command (relative to the script).
pub fn effects(command: &str, read_file: &mut dyn FnMut(&str) -> Option<String>) -> ShellEffects {
    let mut out = ShellEffects::default();
    collect(command, read_file, 0, &mut out);
    out
}

/// [`effects`] reading `defaults.sh` relative to `script_path`'s directory,
/// as packetdrill's working directory is. When that file is missing, the
/// nearest `common/defaults.sh` in an ancestor directory is read instead:
/// upstream, `gtests/net/tcp/common/defaults.sh` is a symlink to
/// `gtests/net/common/defaults.sh`, and copies of the tree may drop it.
pub fn effects_for_script(command: &str, script_path: &Path) -> ShellEffects {
    let dir = script_path.parent().unwrap_or(Path::new("."));
    effects(command, &mut |p: &str| {
        std::fs::read_to_string(dir.join(p)).ok().or_else(|| {
            dir.ancestors()
                .find_map(|a| std::fs::read_to_string(a.join("common").join(basename(p))).ok())
        })
    })
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn collect(
    command: &str,
    read_file: &mut dyn FnMut(&str) -> Option<String>,
    depth: usize,
    out: &mut ShellEffects,
) {
    for cmd in split_commands(command) {
        let Some(program) = cmd.argv.first() else {
            continue;
        };
        let skip = |out: &mut ShellEffects, reason: String| {
            out.skipped.push(Skipped {
                command: cmd.text.clone(),
                reason,
            })
        };
        match basename(program) {
            "sysctl" => {
                for arg in cmd.argv[1..].iter().filter(|a| !a.starts_with('-')) {
                    match arg.split_once('=') {
                        Some((name, value)) => out.sysctls.push(Sysctl {
                            name: name.trim().replace('/', "."),
                            value: value.to_string(),
                        }),
                        None => skip(out, format!("sysctl reads `{arg}` without setting it")),
                    }
                }
            }
            "set_sysctls.py" => {
                for arg in &cmd.argv[1..] {
                    match arg
                        .split_once('=')
                        .and_then(|(p, v)| Some((proc_sys_name(p)?, v)))
                    {
                        Some((name, value)) => out.sysctls.push(Sysctl {
                            name,
                            value: value.to_string(),
                        }),
                        None => skip(out, format!("`{arg}` is not /proc/sys/NAME=VALUE")),
                    }
                }
            }
            "echo" => match cmd.stdout.as_deref().and_then(proc_sys_name) {
                Some(name) => {
                    let words: Vec<&str> = cmd.argv[1..]
                        .iter()
                        .map(String::as_str)
                        .skip_while(|a| *a == "-n" || *a == "-e")
                        .collect();
                    out.sysctls.push(Sysctl {
                        name,
                        value: words.join(" "),
                    });
                }
                None => skip(out, "echo that writes no /proc/sys file".into()),
            },
            "defaults.sh" => {
                if depth >= MAX_INCLUDE_DEPTH {
                    skip(out, "defaults.sh nested too deeply".into());
                } else if let Some(text) = read_file(program) {
                    collect(&text, read_file, depth + 1, out);
                } else {
                    skip(out, format!("cannot read {program}"));
                }
            }
            name if name.starts_with("sysctl_restore_") => out.restores = true,
            "true" | ":" => {}
            name => skip(out, format!("`{name}` does not set sysctls")),
        }
    }
}

/// `/proc/sys/net/ipv4/tcp_x` → `net.ipv4.tcp_x`.
fn proc_sys_name(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/proc/sys/")?;
    (!rest.is_empty()).then(|| rest.replace('/', "."))
}

/// One simple command: its words after expansion and where stdout goes.
#[derive(Debug, Default)]
struct SimpleCommand {
    argv: Vec<String>,
    /// The target of `>` / `>>` / `&>` (the last one wins, as in sh).
    stdout: Option<String>,
    /// The source text, for messages.
    text: String,
}

/// Splits shell text into simple commands (at newlines, `;`, `&&`, `||`,
/// `|`, `&`), expanding words and noting redirections.
fn split_commands(src: &str) -> Vec<SimpleCommand> {
    let mut cmds = Vec::new();
    let mut cur = SimpleCommand::default();
    let mut text_start = None::<usize>;
    let b = src.as_bytes();
    let mut i = 0;
    let finish = |cur: &mut SimpleCommand,
                  cmds: &mut Vec<SimpleCommand>,
                  start: &mut Option<usize>,
                  end: usize| {
        if let Some(s) = start.take() {
            cur.text = src[s..end].trim().to_string();
        }
        let done = std::mem::take(cur);
        if !done.argv.is_empty() {
            cmds.push(done);
        }
    };
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\r' => i += 1,
            b'\\' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\n' | b';' => {
                finish(&mut cur, &mut cmds, &mut text_start, i);
                i += 1;
            }
            b'&' | b'|' if b.get(i + 1) != Some(&b'>') => {
                finish(&mut cur, &mut cmds, &mut text_start, i);
                i += if b.get(i + 1) == Some(&b[i]) { 2 } else { 1 };
            }
            _ => {
                text_start.get_or_insert(i);
                if let Some(len) = redirect_len(&b[i..]) {
                    let op = &src[i..i + len];
                    i += len;
                    // `2>&1`-style duplications have no file.
                    if op.ends_with('&') {
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                        continue;
                    }
                    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                        i += 1;
                    }
                    let (target, next) = read_word(src, i);
                    i = next;
                    let to_stdout =
                        op.contains('>') && !op.starts_with('2') && !op.starts_with('<');
                    if to_stdout {
                        cur.stdout = Some(target);
                    }
                } else {
                    let (word, next) = read_word(src, i);
                    i = next;
                    cur.argv.push(word);
                }
            }
        }
    }
    finish(&mut cur, &mut cmds, &mut text_start, src.len());
    cmds
}

/// Length of a redirection operator at the start of `b` (`>`, `>>`, `<`,
/// `&>`, `2>`, `2>&`, `>&`), if there is one.
fn redirect_len(b: &[u8]) -> Option<usize> {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = digits;
    if digits == 0 && b.starts_with(b"&>") {
        i = 2;
    } else {
        match b.get(i) {
            Some(b'>') | Some(b'<') => i += 1,
            _ => return None,
        }
        if b.get(i) == Some(&b'>') {
            i += 1;
        }
    }
    if b.get(i) == Some(&b'&') {
        i += 1;
    }
    Some(i)
}

/// Reads one word from `i`: quotes removed, escapes applied, `$((...))`
/// evaluated; `$NAME` and `${NAME}` kept as written (synack has no
/// environment for them). Returns the word and the index after it.
fn read_word(src: &str, mut i: usize) -> (String, usize) {
    let b = src.as_bytes();
    let mut out = String::new();
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            None if matches!(
                c,
                b' ' | b'\t' | b'\n' | b'\r' | b';' | b'&' | b'|' | b'<' | b'>'
            ) =>
            {
                break;
            }
            None if c == b'\\' => {
                if let Some(ch) = src[i + 1..].chars().next() {
                    if ch != '\n' {
                        out.push(ch);
                    }
                    i += 1 + ch.len_utf8();
                } else {
                    i += 1;
                }
                continue;
            }
            Some(b'"')
                if c == b'\\' && matches!(b.get(i + 1), Some(b'"' | b'\\' | b'$' | b'`')) =>
            {
                out.push(char::from(b[i + 1]));
                i += 2;
                continue;
            }
            None if c == b'\'' || c == b'"' => {
                quote = Some(c);
                i += 1;
                continue;
            }
            Some(q) if c == q => {
                quote = None;
                i += 1;
                continue;
            }
            Some(b'\'') => {}
            _ if src[i..].starts_with("$((") => {
                if let Some(end) = src[i + 3..].find("))") {
                    let expr = &src[i + 3..i + 3 + end];
                    match arith(expr) {
                        Some(v) => out.push_str(&v.to_string()),
                        None => out.push_str(&src[i..i + 3 + end + 2]),
                    }
                    i += 3 + end + 2;
                    continue;
                }
            }
            _ => {}
        }
        let ch = src[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    (out, i)
}

/// Shell arithmetic on integers: `+ - * / %`, unary minus, parentheses.
fn arith(expr: &str) -> Option<i64> {
    let toks: Vec<char> = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let mut pos = 0;
    let v = arith_sum(&toks, &mut pos)?;
    (pos == toks.len()).then_some(v)
}

fn arith_sum(t: &[char], pos: &mut usize) -> Option<i64> {
    let mut v = arith_product(t, pos)?;
    while let Some(&op) = t.get(*pos).filter(|c| matches!(c, '+' | '-')) {
        *pos += 1;
        let r = arith_product(t, pos)?;
        v = if op == '+' {
            v.checked_add(r)?
        } else {
            v.checked_sub(r)?
        };
    }
    Some(v)
}

fn arith_product(t: &[char], pos: &mut usize) -> Option<i64> {
    let mut v = arith_unary(t, pos)?;
    while let Some(&op) = t.get(*pos).filter(|c| matches!(c, '*' | '/' | '%')) {
        *pos += 1;
        let r = arith_unary(t, pos)?;
        v = match op {
            '*' => v.checked_mul(r)?,
            '/' => v.checked_div(r)?,
            _ => v.checked_rem(r)?,
        };
    }
    Some(v)
}

fn arith_unary(t: &[char], pos: &mut usize) -> Option<i64> {
    match t.get(*pos)? {
        '-' => {
            *pos += 1;
            arith_unary(t, pos)?.checked_neg()
        }
        '+' => {
            *pos += 1;
            arith_unary(t, pos)
        }
        '(' => {
            *pos += 1;
            let v = arith_sum(t, pos)?;
            (t.get(*pos) == Some(&')')).then(|| *pos += 1)?;
            Some(v)
        }
        c if c.is_ascii_digit() => {
            let start = *pos;
            while t.get(*pos).is_some_and(char::is_ascii_digit) {
                *pos += 1;
            }
            t[start..*pos].iter().collect::<String>().parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_files(_: &str) -> Option<String> {
        None
    }

    fn sysctls(cmd: &str) -> Vec<(String, String)> {
        effects(cmd, &mut no_files)
            .sysctls
            .into_iter()
            .map(|s| (s.name, s.value))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn sysctl_commands_set_each_pair() {
        assert_eq!(
            sysctls("sysctl -q net.ipv4.tcp_fastopen=0x1"),
            pairs(&[("net.ipv4.tcp_fastopen", "0x1")])
        );
        assert_eq!(
            sysctls("sysctl -q net.ipv4.tcp_early_retrans=4 net.ipv4.tcp_recovery=1"),
            pairs(&[
                ("net.ipv4.tcp_early_retrans", "4"),
                ("net.ipv4.tcp_recovery", "1")
            ])
        );
        assert_eq!(
            sysctls("sysctl -w net.inet.tcp.rfc1323=1"),
            pairs(&[("net.inet.tcp.rfc1323", "1")])
        );
        assert_eq!(
            sysctls("/sbin/sysctl net/ipv4/tcp_sack=0"),
            pairs(&[("net.ipv4.tcp_sack", "0")])
        );
    }

    #[test]
    fn quoted_values_and_arithmetic_expand_like_sh() {
        assert_eq!(
            sysctls("sysctl -q net.ipv4.tcp_rmem=\"4096 540000 $((15*1024*1024))\""),
            pairs(&[("net.ipv4.tcp_rmem", "4096 540000 15728640")])
        );
        assert_eq!(
            sysctls("sysctl -q net.ipv4.tcp_wmem='4096 $((256*1024)) 4194304'"),
            pairs(&[("net.ipv4.tcp_wmem", "4096 $((256*1024)) 4194304")])
        );
        assert_eq!(
            sysctls("sysctl -q a=$(( (1+2)*-3 % 5 ))"),
            pairs(&[("a", "-4")])
        );
        assert_eq!(sysctls("sysctl -q a=$((1/0))"), pairs(&[("a", "$((1/0))")]));
        assert_eq!(sysctls("sysctl -q a=x\\ y"), pairs(&[("a", "x y")]));
    }

    #[test]
    fn echo_into_proc_sys_is_a_sysctl() {
        assert_eq!(
            sysctls("echo 0 > /proc/sys/net/ipv4/tcp_timestamps"),
            pairs(&[("net.ipv4.tcp_timestamps", "0")])
        );
        assert_eq!(
            sysctls("echo \"4096 8192\" >/proc/sys/net/ipv4/tcp_rmem"),
            pairs(&[("net.ipv4.tcp_rmem", "4096 8192")])
        );
        let e = effects("echo hello", &mut no_files);
        assert_eq!(e.sysctls, []);
        assert_eq!(e.skipped[0].reason, "echo that writes no /proc/sys file");
    }

    #[test]
    fn set_sysctls_py_arguments_are_proc_paths() {
        assert_eq!(
            sysctls(
                "../common/set_sysctls.py /proc/sys/net/ipv4/tcp_slow_start_after_idle=1 \\\n\t\t\t /proc/sys/net/ipv4/tcp_min_tso_segs=10"
            ),
            pairs(&[
                ("net.ipv4.tcp_slow_start_after_idle", "1"),
                ("net.ipv4.tcp_min_tso_segs", "10")
            ])
        );
        assert_eq!(
            sysctls(
                "../../common/set_sysctls.py  /proc/sys/net/ipv4/tcp_fastopen_key=a0bf63f7-ed803d81-cd641d30-cebc4a90"
            ),
            pairs(&[(
                "net.ipv4.tcp_fastopen_key",
                "a0bf63f7-ed803d81-cd641d30-cebc4a90"
            )])
        );
        let e = effects("set_sysctls.py tcp_sack=1", &mut no_files);
        assert!(e.skipped[0].reason.contains("not /proc/sys/NAME=VALUE"));
    }

    #[test]
    fn defaults_sh_is_read_and_its_lines_extracted() {
        let defaults = "#!/bin/bash\n# comment\nip tcp_metrics flush all > /dev/null 2>&1\n\
                        sysctl -q net.ipv4.tcp_timestamps=1\n\
                        sysctl -q net.ipv4.tcp_notsent_lowat=4294967295 > /dev/null 2>&1\n\
                        tc qdisc add dev tun0 root pfifo\n";
        let mut asked = Vec::new();
        let e = effects(
            "../common/defaults.sh\n ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0",
            &mut |p: &str| {
                asked.push(p.to_string());
                Some(defaults.to_string())
            },
        );
        assert_eq!(asked, ["../common/defaults.sh"]);
        let got: Vec<(&str, &str)> = e
            .sysctls
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("net.ipv4.tcp_timestamps", "1"),
                ("net.ipv4.tcp_notsent_lowat", "4294967295"),
                ("net.ipv4.tcp_timestamps", "0"),
            ]
        );
        let skipped: Vec<&str> = e.skipped.iter().map(|s| s.command.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "ip tcp_metrics flush all > /dev/null 2>&1",
                "tc qdisc add dev tun0 root pfifo"
            ]
        );
        let e = effects("../common/defaults.sh", &mut no_files);
        assert_eq!(e.skipped[0].reason, "cannot read ../common/defaults.sh");
        // A defaults.sh that runs itself stops at the depth limit.
        let e = effects("defaults.sh", &mut |_: &str| {
            Some("defaults.sh\nsysctl -q a=1".into())
        });
        assert_eq!(e.sysctls.len(), MAX_INCLUDE_DEPTH);
        assert!(e.skipped[0].reason.contains("too deeply"));
    }

    #[test]
    fn operators_split_commands_and_others_are_skipped() {
        let e = effects(
            "sysctl -q net.ipv4.tcp_timestamps=1\n       sysctl -q net.ipv4.tcp_fastopen_cookies=0 net.ipv4.tcp_fastopen_cookies=10 &> /dev/null ||\\\n       ip tcp_metrics flush all &> /dev/null",
            &mut no_files,
        );
        assert_eq!(e.sysctls.len(), 3);
        assert_eq!(e.skipped.len(), 1);
        assert_eq!(e.skipped[0].reason, "`ip` does not set sysctls");
        let e = effects(
            "sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1",
            &mut no_files,
        );
        assert_eq!(e.skipped.len(), 4);
        let e = effects("sysctl -q a=1; sysctl -q b=2 && true", &mut no_files);
        assert_eq!(e.sysctls.len(), 2);
        assert!(e.skipped.is_empty());
        let e = effects("sysctl net.ipv4.tcp_sack", &mut no_files);
        assert!(e.skipped[0].reason.contains("without setting it"));
    }

    #[test]
    fn restore_script_is_recognised() {
        let e = effects("/tmp/sysctl_restore_${PPID}.sh", &mut no_files);
        assert!(e.restores);
        assert!(e.sysctls.is_empty() && e.skipped.is_empty());
    }

    #[test]
    fn config_names_drop_the_ipv4_and_core_prefixes() {
        let s = |n: &str| Sysctl {
            name: n.into(),
            value: "1".into(),
        };
        assert_eq!(s("net.ipv4.tcp_sack").config_name(), "tcp_sack");
        assert_eq!(s("net.core.somaxconn").config_name(), "somaxconn");
        assert_eq!(
            s("net.inet.tcp.rfc1323").config_name(),
            "net.inet.tcp.rfc1323"
        );
    }

    #[test]
    fn reads_defaults_sh_next_to_the_script() {
        let dir = std::env::temp_dir().join(format!("synack-shell-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("common")).unwrap();
        std::fs::write(
            dir.join("common/defaults.sh"),
            "sysctl -q net.ipv4.tcp_sack=0\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("tcp/blocking")).unwrap();
        let direct = effects_for_script("common/defaults.sh", &dir.join("x.pkt"));
        // `tcp/common/defaults.sh` is missing (a dropped symlink): found in an ancestor.
        let via_ancestor =
            effects_for_script("../common/defaults.sh", &dir.join("tcp/blocking/y.pkt"));
        let missing = effects_for_script("../common/other.sh", &dir.join("tcp/blocking/y.pkt"));
        std::fs::remove_dir_all(&dir).unwrap();
        let want = [Sysctl {
            name: "net.ipv4.tcp_sack".into(),
            value: "0".into(),
        }];
        assert_eq!(direct.sysctls, want);
        assert_eq!(via_ancestor.sysctls, want);
        assert_eq!(missing.sysctls, []);
    }
}
