//! The public packetdrill corpus (../shared/conformance/packetdrill, see its
//! README and MANIFEST.tsv) must parse completely, and print back to a
//! script that parses to the same tree. The corpus is test data read at run
//! time, never copied into the repository.

use std::path::{Path, PathBuf};

use synack_sim::script::parse_script;

mod corpus;
use corpus::corpus_dir;

/// Every script row of MANIFEST.tsv: (set, path).
fn manifest(dir: &Path) -> Vec<(String, PathBuf)> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv readable");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let set = cols.next().unwrap_or_default().to_string();
            let path = cols.next().expect("MANIFEST row has a path");
            (set, dir.join(path))
        })
        .collect()
}

#[test]
fn every_corpus_script_parses() {
    let Some(dir) = corpus_dir() else { return };
    let rows = manifest(&dir);
    assert!(
        rows.len() >= 50,
        "MANIFEST.tsv lists only {} scripts",
        rows.len()
    );
    let mut failures = Vec::new();
    let mut events = 0;
    for (_, path) in &rows {
        let src =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match parse_script(&src, &path.display().to_string()) {
            Ok(s) => events += s.events.len(),
            Err(e) => failures.push(e.to_string()),
        }
    }
    eprintln!(
        "corpus: {} scripts, {} parsed, {} events",
        rows.len(),
        rows.len() - failures.len(),
        events
    );
    assert!(
        failures.is_empty(),
        "scripts that did not parse:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_corpus_script_round_trips_through_the_printer() {
    let Some(dir) = corpus_dir() else { return };
    for (_, path) in manifest(&dir) {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(&path).expect("readable");
        let ast = parse_script(&src, &name).expect("parses");
        let printed = ast.to_string();
        let again = parse_script(&printed, &format!("{name} (printed)"))
            .unwrap_or_else(|e| panic!("printed form does not parse: {e}\n{printed}"));
        assert_eq!(again, ast, "{name}: round trip changed the tree\n{printed}");
        // Canonical: printing is a fixed point.
        assert_eq!(again.to_string(), printed, "{name}: printing is not stable");
    }
}

/// Every corpus script through the runner's helpers: timing options and
/// order, packet meanings, shell effects (with the corpus's own
/// defaults.sh), and the asserts in its code blocks.
#[test]
fn corpus_scripts_through_the_semantic_helpers() {
    use std::collections::BTreeMap;
    use synack_sim::script::code::{StatementKind, statements};
    use synack_sim::script::meaning::SegmentMeaning;
    use synack_sim::script::shell::effects_for_script;
    use synack_sim::script::timing::{TimingConfig, check_order};
    use synack_sim::script::{Action, PacketBody};

    let Some(dir) = corpus_dir() else { return };
    let (mut packets, mut asserts, mut sysctls) = (0, 0, 0);
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut defaults_seen = 0;
    for (_, path) in manifest(&dir) {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(&path).expect("readable");
        let script = parse_script(&src, &name).expect("parses");
        TimingConfig::from_script(&script).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_order(&script).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (_, cmd) in script.commands() {
            let fx = effects_for_script(&cmd.text, &path);
            if cmd.text.contains("defaults.sh") {
                defaults_seen += 1;
                assert!(
                    fx.sysctls.iter().any(|s| s.name == "net.ipv4.tcp_rmem" && s.value == "4096 540000 15728640"),
                    "{name}: defaults.sh not read: {fx:?}"
                );
            }
            sysctls += fx.sysctls.len();
            for s in fx.skipped {
                *skipped.entry(s.reason).or_default() += 1;
            }
        }
        for e in &script.events {
            match &e.action {
                Action::Packet(p) => {
                    packets += 1;
                    let is_tcp = matches!(p.body, PacketBody::Tcp(_));
                    assert_eq!(
                        SegmentMeaning::of(p).is_some(),
                        is_tcp,
                        "{name}:{}",
                        e.span.line
                    );
                }
                Action::Code(c) => {
                    for st in statements(c) {
                        match st.kind {
                            StatementKind::Assert { .. } => asserts += 1,
                            StatementKind::Unsupported { text, reason } => {
                                panic!("{name}:{}: unsupported `{text}`: {reason}", st.span.line)
                            }
                        }
                        // Record the names each assert needs.
                        let text = &src[st.span.start..st.span.end];
                        for w in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                            if w.starts_with("tcpi_") || w.starts_with("TCP") {
                                *names.entry(w.to_string()).or_default() += 1;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert!(defaults_seen > 30, "only {defaults_seen} defaults.sh lines");
    eprintln!("corpus: {packets} packets, {asserts} asserts, {sysctls} sysctl settings");
    eprintln!("corpus: skipped shell commands by reason: {skipped:#?}");
    eprintln!("corpus: names used in asserts: {names:?}");
}
