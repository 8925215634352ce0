//! The public packetdrill corpus (../shared/conformance/packetdrill, see its
//! README and MANIFEST.tsv) run against synack: a measurement, printed as a
//! table with the top failure and skip reasons. The pass count may not drop
//! below [`PASS_FLOOR`] (raise it as synack improves); every skip must name
//! what is missing; the harness self-tests (`public-meta`) must fail.
//!
//! The corpus is test data read at run time, never copied into the
//! repository. Missing corpus: loud, and a failure under CI=true.

use std::collections::BTreeMap;
use std::path::Path;

use synack_sim::script::run::{Report, RunConfig, Verdict, run_file};

mod corpus;
use corpus::corpus_dir;

/// Scripts of the `public` and `public-supp` sets that must pass.
const PASS_FLOOR: usize = 42;

/// The test machine a script was written on, as far as the scripts need
/// it: the google/ scripts set theirs up with `defaults.sh`; the
/// google-historical ones ran on the Linux 3.11 machine their README names,
/// whose `tcp_rmem` maximum (sized from its memory) gave `wscale 6` in every
/// SYN they show. Its other defaults are synack's (rmem default 87380 as
/// 3.11's).
fn run_config(rel: &str) -> RunConfig {
    let mut config = RunConfig::default();
    if rel.starts_with("google-historical/") {
        config.sysctls.push((
            "net.ipv4.tcp_rmem".to_string(),
            "4096 87380 4000000".to_string(),
        ));
    }
    config
}

/// (set, path relative to the corpus) of every MANIFEST row.
fn manifest(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv readable");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let set = cols.next().unwrap_or_default().to_string();
            let path = cols.next().expect("MANIFEST row has a path").to_string();
            (set, path)
        })
        .collect()
}

/// A reason without its file and line, for grouping.
fn reason_key(r: &Report) -> String {
    let reason = r.reason.as_deref().unwrap_or("");
    let first = reason.lines().next().unwrap_or("");
    let without_place = match first.split_once(".pkt:") {
        Some((_, rest)) => rest.split_once(": ").map_or(rest, |(_, m)| m),
        None => first,
    };
    // Numbers vary between scripts; the kind of mismatch does not.
    let mut key = String::new();
    let mut in_number = false;
    for c in without_place.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                key.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            key.push(c);
        }
    }
    key
}

#[test]
fn public_corpus_against_synack() {
    let Some(dir) = corpus_dir() else { return };
    let rows = manifest(&dir);
    assert!(
        rows.len() >= 50,
        "MANIFEST.tsv lists only {} scripts",
        rows.len()
    );
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut fail_reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut skip_reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut passed = 0;
    let mut measured = 0;
    println!("\n{:<6} {:<12} script / reason", "result", "set");
    for (set, rel) in &rows {
        let report = run_file(&dir.join(rel), &run_config(rel));
        let first_line = report
            .reason
            .as_deref()
            .and_then(|r| r.lines().next())
            .unwrap_or("")
            .replace(&format!("{}/", dir.display()), "");
        println!("{:<6} {:<12} {rel}", report.verdict.as_str(), set);
        if !first_line.is_empty() {
            println!("{:<19} {first_line}", "");
        }
        if set == "public-meta" {
            // Harness self-tests: a correct runner reports them as failed.
            if report.verdict != Verdict::Fail {
                problems.push(format!(
                    "{rel}: a harness self-test must fail, got {}",
                    report.verdict.as_str()
                ));
            }
            continue;
        }
        measured += 1;
        *counts.entry(report.verdict.as_str()).or_default() += 1;
        match report.verdict {
            Verdict::Pass => passed += 1,
            Verdict::Fail => fail_reasons
                .entry(reason_key(&report))
                .or_default()
                .push(rel.clone()),
            Verdict::Skip => {
                let reason = report.reason.clone().unwrap_or_default();
                if reason.trim().len() < 10 {
                    problems.push(format!("{rel}: a skip must name what is missing"));
                }
                skip_reasons.entry(reason).or_default().push(rel.clone());
            }
        }
    }
    let top = |m: &BTreeMap<String, Vec<String>>| {
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(8)
            .map(|(k, s)| format!("  {:>2} x {k}", s.len()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    println!(
        "\ncorpus: {measured} scripts (self-tests aside): {} passed, {} failed, {} skipped ({:.0}% pass)",
        counts.get("pass").copied().unwrap_or(0),
        counts.get("fail").copied().unwrap_or(0),
        counts.get("skip").copied().unwrap_or(0),
        100.0 * passed as f64 / measured.max(1) as f64
    );
    println!("top failure reasons:\n{}", top(&fail_reasons));
    println!("top skip reasons:\n{}", top(&skip_reasons));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        passed >= PASS_FLOOR,
        "only {passed} corpus scripts pass; the floor is {PASS_FLOOR}"
    );
}

#[test]
fn harness_self_tests_fail_for_the_reason_their_comments_give() {
    let Some(dir) = corpus_dir() else { return };
    let config = RunConfig::default();
    let check = |rel: &str, line: u32, text: &str| {
        let report = run_file(&dir.join(rel), &config);
        let reason = report.reason.unwrap_or_default();
        assert_eq!(report.verdict, Verdict::Fail, "{rel}");
        assert!(
            reason.contains(&format!(".pkt:{line}: ")) && reason.contains(text),
            "{rel}: {reason}"
        );
    };
    check(
        "google/gtests/net/packetdrill/tests/linux/packetdrill/socket_err.pkt",
        6,
        "runtime error in socket call: Expected non-negative result but got -1 with errno 93 (Protocol not supported)",
    );
    check(
        "google/gtests/net/packetdrill/tests/linux/packetdrill/socket_wrong_err.pkt",
        4,
        "runtime error in socket call: Expected result -99 but got -1 with errno 93 (Protocol not supported)",
    );
    // The script's comment names the third SYN, which never comes (one
    // retransmission with tcp_syn_retries=1). The blocking connect() gives
    // up at 3 s, when that SYN would have been due, and that is what
    // packetdrill reports first on Linux too: its return is 27 s early.
    check(
        "google/gtests/net/packetdrill/tests/packet-timeout.pkt",
        8,
        "connect() return expected at 30.000000s but happened at 3.000000s",
    );
}
