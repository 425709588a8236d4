//! `pitcrew agent` driven as a process: it serves `/metrics` and `/healthz` on loopback,
//! journals, and stops cleanly on SIGTERM.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

#[test]
fn agent_serves_metrics_and_health_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let (mut child, addr) = common::spawn_agent(
        common::bin()
            .args([
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--models",
                "4",
                "--phase",
                "autonomy",
            ])
            .env("PITCREW_DATA", data.path())
            .env("PITCREW_CONFIG", config.path()),
    );
    // the backfill takes a moment: wait for every model to be exported
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let (code, body) = common::http_get(&addr, "/metrics");
        assert_eq!(code, 200, "{body}");
        if body.contains("pitcrew_models 4") && body.contains("mlops_model_accuracy{") {
            break body;
        }
        assert!(Instant::now() < deadline, "models never appeared:\n{body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    for name in [
        "mlops_model_accuracy",
        "mlops_model_latency_p95",
        "mlops_model_status",
        "pitcrew_source_up",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {name} gauge")),
            "{name}:\n{metrics}"
        );
    }
    assert!(metrics.contains("pitcrew_phase{phase=\"autonomy\"} 1"));
    assert!(metrics.trim_end().ends_with("# EOF"));
    let (code, body) = common::http_get(&addr, "/healthz");
    assert_eq!((code, body.trim()), (200, "ok"));
    let (code, _) = common::http_get(&addr, "/nothing-here");
    assert_eq!(code, 404);

    // the journal takes its first checkpoint once it has grown enough: wait for it (the
    // journal is flushed at every tick) rather than racing the backfill with SIGTERM
    let journal_dir = data.path().join("journal");
    let has_checkpoint = || {
        std::fs::read_dir(&journal_dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path())
                    .is_ok_and(|s| s.contains("{\"record\":\"checkpoint\""))
            })
    };
    while !has_checkpoint() {
        assert!(Instant::now() < deadline, "no checkpoint within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = common::terminate(&mut child);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    // it journaled like the console
    let journals: Vec<_> = std::fs::read_dir(data.path().join("journal"))
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(journals.len(), 1);
    let first = std::fs::read_to_string(journals[0].path()).unwrap();
    assert!(first.lines().count() > 10, "journal too short");
    // with checkpoints of the engine's state, encoded off the engine's task, that are the
    // state a re-run reaches at their place
    assert!(
        first.contains("{\"record\":\"checkpoint\""),
        "no checkpoint"
    );
    let out = common::bin()
        .args(["replay", "--verify"])
        .arg(journals[0].path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("identical"), "{said}");
    assert!(!said.contains(" 0 checkpoints compared"), "{said}");
}

#[test]
fn agent_refuses_a_bad_config_before_serving() {
    let config = tempfile::tempdir().unwrap();
    let bad = config.path().join("bad.toml");
    std::fs::write(&bad, "[prometheus]\nurl = \"nope\"\n").unwrap();
    let out = common::bin()
        .args(["agent", "--listen", "127.0.0.1:0", "--config"])
        .arg(&bad)
        .env("PITCREW_CONFIG", config.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:"), "{err}");
}

/// Bytes of every file under `dir`.
fn tree_bytes(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                tree_bytes(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// Journal retention across 50 starts: with `[journal] max_total_mib` set, the data dir stays
/// under the bound after every session (the oldest sessions are pruned whole), and the newest
/// session is always kept.
#[test]
fn the_data_dir_stays_under_the_journal_bound_across_50_starts() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let bound_mib = 24.0;
    std::fs::write(
        config.path().join("config.toml"),
        format!("[journal]\nmax_total_mib = {bound_mib}\nmax_age_days = 30\n"),
    )
    .unwrap();
    let bound = (bound_mib * 1024.0 * 1024.0) as u64;
    let mut written = 0u64;
    let mut largest_seen = 0u64;
    for i in 0..50 {
        let (mut child, addr) = common::spawn_agent(
            common::bin()
                .args(["agent", "--listen", "127.0.0.1:0", "--models", "4"])
                .env("PITCREW_DATA", data.path())
                .env("PITCREW_CONFIG", config.path()),
        );
        let (code, _) = common::http_get(&addr, "/healthz");
        assert_eq!(code, 200);
        std::thread::sleep(Duration::from_millis(100 + 20 * (i % 5)));
        assert!(common::terminate(&mut child).success());
        let journal = data.path().join("journal");
        let newest = std::fs::read_dir(&journal)
            .unwrap()
            .filter_map(Result::ok)
            .max_by_key(|e| e.metadata().unwrap().modified().unwrap())
            .unwrap();
        let size = newest.metadata().unwrap().len();
        written += size;
        largest_seen = largest_seen.max(size);
        let total = tree_bytes(data.path());
        assert!(
            total <= bound + 1024 * 1024,
            "start {i}: data dir {total} bytes, bound {bound} (+1 MiB of log)"
        );
        assert!(
            tree_bytes(&journal) <= bound,
            "start {i}: journals over the bound"
        );
    }
    // the bound did something: more was written than it keeps
    assert!(
        written > 2 * bound,
        "50 sessions wrote only {written} bytes (largest {largest_seen})"
    );
}
