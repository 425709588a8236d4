//! The layers, checked from the source: which top-level module of `src/` may import which, and
//! which may use an I/O or terminal crate. Each failure names the file, the line and the line
//! itself. Only production code is read: a file's `mod tests` (and what follows it) is not.
//!
//! Every rule is enforced outright, the absence of import cycles between top-level modules
//! included (it was a ratchet while cycles remained).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One place a module names another module (or an outside crate).
#[derive(Debug, Clone)]
struct Site {
    file: PathBuf,
    line: usize,
    text: String,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}",
            self.file.display(),
            self.line,
            self.text.trim()
        )
    }
}

/// Outside crates that do I/O or drive a terminal.
const EFFECT_CRATES: [&str; 5] = ["tokio", "reqwest", "kube", "ratatui", "crossterm"];

/// For each top-level module: the other top-level modules it names (`crate::X`, or `super::X`
/// from its root file), and the effect crates it names, each with where.
#[derive(Debug, Default)]
struct Imports {
    modules: BTreeSet<String>,
    uses: BTreeMap<String, BTreeMap<String, Vec<Site>>>,
    crates: BTreeMap<String, BTreeMap<String, Vec<Site>>>,
    /// Where each module reads the wall clock itself (`SystemTime::now`, `Instant::now`,
    /// jiff's `Timestamp::now`, …).
    clock_reads: BTreeMap<String, Vec<Site>>,
}

/// The deterministic core: the same events give the same state, so none of it reads the wall
/// clock (neither itself nor through `clock`, the edges' one reading of it).
const CORE: [&str; 8] = [
    "domain",
    "detect",
    "forecast",
    "diagnosis",
    "policy",
    "engine",
    "fleet",
    "sim",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The production part of a file: its lines without its test modules (`#[cfg(test)]` then
/// `mod NAME {`, to the `}` at that module's indentation, as rustfmt writes it), each with its
/// line number; nothing of a file that is a test module as a whole (an inner `#![cfg(test)]`
/// before any item).
fn production(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let first_code = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| !(l.is_empty() || l.starts_with("//")));
    if first_code == Some("#![cfg(test)]") {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            let m = (i + 1..lines.len()).find(|&k| !lines[k].trim_start().starts_with("#["));
            if let Some(m) = m.filter(|&m| {
                let l = lines[m].trim_start();
                l.starts_with("mod ") && l.ends_with('{')
            }) {
                let indent = &lines[m][..lines[m].len() - lines[m].trim_start().len()];
                let close = format!("{indent}}}");
                i = (m + 1..lines.len())
                    .find(|&k| lines[k] == close)
                    .map_or(lines.len(), |k| k + 1);
                continue;
            }
        }
        out.push((i + 1, lines[i]));
        i += 1;
    }
    out
}

/// The identifiers that follow `prefix` in `line` (`crate::` → `engine` in `crate::engine::X`).
fn after<'a>(line: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        let tail = &rest[i + prefix.len()..];
        let ident: &str = &tail[..tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(tail.len())];
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') && !ident.is_empty()
        {
            out.push(ident);
        }
        rest = tail;
    }
    out
}

fn read(src: &Path) -> Imports {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut imp = Imports::default();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap_or(f);
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let Some(first) = first else { continue };
        let top = first.trim_end_matches(".rs").to_string();
        if top != "lib" && top != "main" {
            imp.modules.insert(top);
        }
    }
    for f in &files {
        let rel = f.strip_prefix(src).unwrap_or(f);
        let parts: Vec<String> = rel
            .components()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .collect();
        let top = parts[0].clone();
        // `super::X` reaches the crate root from a top-level file or a top-level `mod.rs`.
        let root_file = parts.len() == 1 || (parts.len() == 2 && parts[1] == "mod");
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for &(n, raw) in &production(&text) {
            let code = raw.split("//").next().unwrap_or("");
            let mut named: Vec<&str> = after(code, "crate::");
            if root_file {
                named.extend(after(code, "super::"));
            }
            let site = || Site {
                file: Path::new("src").join(rel),
                line: n,
                text: raw.to_string(),
            };
            for m in named {
                if m != top && imp.modules.contains(m) {
                    imp.uses
                        .entry(top.clone())
                        .or_default()
                        .entry(m.to_string())
                        .or_default()
                        .push(site());
                }
            }
            if [
                "SystemTime::now",
                "Instant::now",
                "UNIX_EPOCH.elapsed",
                "Timestamp::now",
                "Zoned::now",
            ]
            .iter()
            .any(|c| code.contains(c))
            {
                imp.clock_reads.entry(top.clone()).or_default().push(site());
            }
            for c in EFFECT_CRATES {
                if !after(code, &format!("{c}::")).is_empty() {
                    imp.crates
                        .entry(top.clone())
                        .or_default()
                        .entry(c.to_string())
                        .or_default()
                        .push(site());
                }
            }
        }
    }
    imp
}

/// Where `from` imports `to`.
fn imports<'a>(imp: &'a Imports, from: &str, to: &str) -> impl Iterator<Item = &'a Site> {
    imp.uses
        .get(from)
        .and_then(|t| t.get(to))
        .into_iter()
        .flatten()
}

/// Every import of `from` into a module outside `allowed`, as failure lines.
fn only(imp: &Imports, from: &str, allowed: &[&str], why: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (to, sites) in imp.uses.get(from).into_iter().flatten() {
        if !allowed.contains(&to.as_str()) {
            for s in sites {
                bad.push(format!("{from} may not import {to} ({why}): {s}"));
            }
        }
    }
    bad
}

/// Every use of an effect crate in `from`.
fn no_effects(imp: &Imports, from: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (c, sites) in imp.crates.get(from).into_iter().flatten() {
        for s in sites {
            bad.push(format!("{from} may not use {c} (it is pure): {s}"));
        }
    }
    bad
}

/// The top-level edges that lie on a cycle.
fn cycle_edges(imp: &Imports) -> BTreeSet<(String, String)> {
    let reach = |start: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.to_string()];
        while let Some(m) = stack.pop() {
            for next in imp.uses.get(&m).into_iter().flat_map(|t| t.keys()) {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let mut out = BTreeSet::new();
    for (a, tos) in &imp.uses {
        for b in tos.keys() {
            if reach(b).contains(a) {
                out.insert((a.clone(), b.clone()));
            }
        }
    }
    out
}

/// Leaf utilities: they import nothing of ours, and anything may import them.
const UTILITIES: [&str; 4] = ["files", "chunked", "rng", "redact"];

/// The rules that hold, as failure lines (empty: all hold).
fn check(imp: &Imports) -> Vec<String> {
    let mut bad = Vec::new();
    bad.extend(only(
        imp,
        "domain",
        &[],
        "the shared vocabulary imports nothing of ours",
    ));
    for u in UTILITIES {
        bad.extend(only(imp, u, &[], "a leaf utility imports nothing of ours"));
    }
    let judgement = ["domain", "files", "chunked", "rng"];
    for j in ["detect", "forecast", "diagnosis"] {
        bad.extend(only(
            imp,
            j,
            &judgement,
            "judgement imports only domain and utilities",
        ));
    }
    bad.extend(only(
        imp,
        "policy",
        &judgement,
        "policy imports only domain and utilities (it parses text, never reads a file)",
    ));
    bad.extend(only(
        imp,
        "fleet",
        &judgement,
        "the fleet's history imports only domain and utilities",
    ));
    bad.extend(only(
        imp,
        "engine",
        &[
            "domain",
            "detect",
            "forecast",
            "diagnosis",
            "policy",
            "fleet",
            "files",
            "chunked",
            "rng",
        ],
        "the engine imports judgement, policy, the fleet's history and domain: no I/O module",
    ));
    // the core, the utilities it uses, and the file formats: no I/O or terminal crate
    for pure in CORE
        .iter()
        .chain(&["files", "chunked", "rng", "journal", "replay", "config"])
    {
        bad.extend(no_effects(imp, pure));
    }
    for core in CORE {
        for s in imp.clock_reads.get(core).into_iter().flatten() {
            bad.push(format!(
                "{core} may not read the wall clock (time comes in events): {s}"
            ));
        }
        for s in imports(imp, core, "clock") {
            bad.push(format!(
                "{core} may not read the wall clock (time comes in events): {s}"
            ));
        }
    }
    // The edges: sources and actuators never import each other; what both need of a wire is
    // in `clients`, which imports neither.
    for (from, to) in [
        ("sources", "actuators"),
        ("actuators", "sources"),
        ("clients", "sources"),
        ("clients", "actuators"),
    ] {
        for s in imports(imp, from, to) {
            bad.push(format!(
                "{from} may not import {to} (shared wire code goes in clients): {s}"
            ));
        }
    }
    // Headless code imports nothing of the terminal UI; `check` validates the UI's own files
    // (themes, keymaps) with its loaders until the commands move under `cmd/`.
    for m in &imp.modules {
        if !["tui", "app", "check"].contains(&m.as_str()) {
            for s in imports(imp, m, "tui") {
                bad.push(format!("{m} is headless and may not import tui: {s}"));
            }
        }
    }
    bad
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Longest a file in `src/` may be, its tests included: past it, a file holds more than one
/// concept and is split along its seams.
const MAX_FILE_LINES: usize = 800;

#[test]
fn no_file_in_src_is_over_800_lines() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    assert!(files.len() > 50, "read too few files: {}", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).ok()?.lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_FILE_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_layers_hold() {
    let imp = read(&src_dir());
    assert!(
        imp.modules.len() > 15 && imp.uses.contains_key("engine"),
        "the checker read too little of src/: {:?}",
        imp.modules
    );
    let bad = check(&imp);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let imp = read(&src_dir());
    let cycles: Vec<String> = cycle_edges(&imp)
        .iter()
        .map(|(a, b)| format!("{a} -> {b} is on a cycle: {}", imp.uses[a][b][0]))
        .collect();
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

/// The checker itself, on a small tree with wrong imports.
#[test]
fn the_checker_finds_a_wrong_import_and_a_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    let write = |rel: &str, text: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    write(
        "lib.rs",
        "pub mod clock;\npub mod config;\npub mod domain;\npub mod engine;\npub mod policy;\npub mod tui;\npub mod sources;\npub mod actuators;\n",
    );
    write(
        "clock.rs",
        "pub fn unix_now() -> f64 { std::time::SystemTime::now(); 0.0 }\n",
    );
    write(
        "engine/tick.rs",
        "fn now() -> f64 { crate::clock::unix_now() }\n// Instant::now in a comment is no read\nfn later() { let _ = std::time::Instant::now(); }\n",
    );
    write(
        "sources/clock_events.rs",
        "fn wall() -> f64 { crate::clock::unix_now() }\n",
    );
    write("domain/mod.rs", "//! words\nmod action;\nmod time;\n");
    write(
        "domain/action.rs",
        "use crate::engine::Engine; // the wrong one\npub struct A;\n",
    );
    write(
        "engine/mod.rs",
        "use crate::domain::A;\nuse tokio::sync::mpsc;\npub struct Engine;\n#[cfg(test)]\nmod tests {\n    use crate::tui::X;\n}\n",
    );
    write(
        "tui/mod.rs",
        "use crate::engine::Engine;\npub struct X;\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n\nuse crossterm::event::KeyCode;\n",
    );
    write(
        "domain/time.rs",
        "#[cfg(test)]\nmod tests {\n    use crate::tui::X;\n}\n\nfn after_the_tests() { crate::tui::f(); }\n",
    );
    write(
        "sources/mod.rs",
        "use super::tui::X;\nfn f() { crate::sources::g(); }\n",
    );
    write(
        "actuators/mlflow.rs",
        "use crate::sources::mlflow::Registry;\n",
    );
    write(
        "policy/playbook.rs",
        "use crate::config::diagnostics::Problem;\nuse crate::domain::A;\n",
    );
    write("config/diagnostics.rs", "pub struct Problem;\n");
    write(
        "engine/testkit.rs",
        "//! test helpers\n#![cfg(test)]\nuse crate::sources::Sim;\n",
    );
    write(
        "engine/edge.rs",
        "use crate::config::diagnostics::Problem;\n",
    );
    let imp = read(src);
    let bad = check(&imp);
    let joined = bad.join("\n");
    assert!(
        joined.contains("domain may not import engine")
            && joined.contains("domain/action.rs:1: use crate::engine::Engine; // the wrong one"),
        "{joined}"
    );
    assert!(joined.contains("engine may not use tokio"), "{joined}");
    assert!(
        joined.contains("sources is headless and may not import tui")
            && joined.contains("sources/mod.rs:1: use super::tui::X;"),
        "{joined}"
    );
    // the test module's import of tui is not production code; a module naming itself is no edge
    assert!(!joined.contains("engine is headless"), "{joined}");
    // production code after a test module is still read, with its own line number
    assert!(
        joined.contains("domain may not import tui")
            && joined.contains("domain/time.rs:6: fn after_the_tests() { crate::tui::f(); }"),
        "{joined}"
    );
    assert!(!joined.contains("domain/time.rs:3"), "{joined}");
    assert!(
        joined.contains("actuators may not import sources")
            && joined.contains("actuators/mlflow.rs:1: use crate::sources::mlflow::Registry;"),
        "{joined}"
    );
    // the core reads no clock, itself or through `clock`; the edges and `clock` itself may
    assert!(
        joined.contains("engine may not read the wall clock")
            && joined.contains("engine/tick.rs:1: fn now() -> f64 { crate::clock::unix_now() }")
            && joined
                .contains("engine/tick.rs:3: fn later() { let _ = std::time::Instant::now(); }"),
        "{joined}"
    );
    assert!(!joined.contains("engine/tick.rs:2"), "{joined}");
    // policy and the engine: only the pure layers below them
    assert!(
        joined.contains("policy may not import config")
            && joined.contains("policy/playbook.rs:1: use crate::config::diagnostics::Problem;"),
        "{joined}"
    );
    assert!(!joined.contains("policy/playbook.rs:2"), "{joined}");
    // a file that is a test module as a whole is not production code
    assert!(!joined.contains("engine/testkit.rs"), "{joined}");
    assert!(
        joined.contains("engine may not import config")
            && joined.contains("engine/edge.rs:1: use crate::config::diagnostics::Problem;"),
        "{joined}"
    );
    assert!(!joined.contains("sources may not read"), "{joined}");
    assert!(!joined.contains("clock may not read"), "{joined}");
    assert_eq!(bad.len(), 11, "{joined}");
    let cycles = cycle_edges(&imp);
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert!(
        cycles.contains(&pair("domain", "engine")) && cycles.contains(&pair("engine", "domain"))
    );
    assert!(!cycles.contains(&pair("sources", "tui")), "{cycles:?}");
}
