//! Recorded incidents: every fixture re-runs identically, together they cover every playbook
//! (with a vetoed false alarm and an action undone after failing verification), the report
//! says who decided what, and damaged recordings replay as far as they can.

mod common;

use pitcrew::replay::{Player, Recording, summary, verify};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incidents");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/incidents")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_fixture_passes_verify() {
    let all = fixtures();
    assert!(all.len() >= 6, "at least six recorded incidents");
    for f in all {
        let v = verify(&f).expect("readable");
        assert!(v.problems.is_empty(), "{}: {:?}", f.display(), v.problems);
        assert!(
            v.log_entries > 10 && v.events > 1000,
            "{}: {v:?}",
            f.display()
        );
        assert!(
            v.divergences.is_empty(),
            "{}:\n{}",
            f.display(),
            v.divergences.join("\n")
        );
        assert_eq!(v.beyond_end, 0, "{}", f.display());
        // and through the binary, with its exit code
        let out = common::bin()
            .args(["replay", "--verify"])
            .arg(&f)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("identical"));
    }
}

#[test]
fn fixtures_cover_every_playbook_a_veto_and_an_undo() {
    let mut ran = std::collections::BTreeSet::new();
    let mut vetoed = false;
    let mut undone = false;
    for f in fixtures() {
        let s = summary(&f).expect("summary");
        for (_, _, pb, state, _) in &s.remediations {
            if !matches!(
                state.as_str(),
                "would do" | "PENDING" | "expired" | "vetoed"
            ) {
                ran.insert(pb.clone());
            }
            vetoed |= state == "vetoed";
            undone |= state == "undone";
        }
        if s.decisions.iter().any(|d| d.what == "veto") {
            assert!(
                s.decisions
                    .iter()
                    .any(|d| d.what == "veto" && d.who == "oncall-ann" && d.reason.is_some()),
                "a veto says who and why"
            );
        }
    }
    for pb in pitcrew::remediate::playbook::builtins() {
        assert!(
            ran.contains(&pb.name),
            "no fixture runs {}: {ran:?}",
            pb.name
        );
    }
    assert!(vetoed, "a vetoed false alarm");
    assert!(undone, "an action undone after failing verification");
}

#[test]
fn summary_reports_detection_delay_decisions_and_mttr() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/incidents/latency-spike-approved.jsonl");
    let s = summary(&f).expect("summary");
    let inc = &s.incidents[0];
    assert_eq!(
        inc.injected.as_ref().map(|x| x.0.as_str()),
        Some("latency-spike")
    );
    assert!(inc.detection_delay_secs >= 0.0 && inc.detection_delay_secs < 300.0);
    assert!(inc.mttr_secs.is_some_and(|m| m > inc.detection_delay_secs));
    assert!(
        s.decisions
            .iter()
            .any(|d| d.what == "approve" && d.who == "oncall-ann")
    );
    let md = pitcrew::replay::summary_markdown(&s);
    assert!(md.contains("## Incidents") && md.contains("degraded pod") && md.contains("MTTR"));
    let out = common::bin()
        .args(["replay", "--summary", "--format", "json"])
        .arg(&f)
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["incidents"][0]["model"], "search/ranker-bert");
}

#[test]
fn damaged_recordings_are_reported_and_the_rest_replays() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/incidents/bad-deploy-rollback-autonomy.jsonl");
    let text = std::fs::read_to_string(&src).expect("read");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let n = lines.len();
    // a corrupt line in the middle, a record kind from a newer version, a truncated last line
    lines[n / 2] = "{\"record\":\"event\",\"seq\":1,\"event\":{\"type\":\"observ".to_string();
    lines.insert(
        n / 3,
        "{\"record\":\"hologram\",\"seq\":9,\"payload\":[1,2,3]}".to_string(),
    );
    let last = lines.pop().expect("last");
    let mut out = lines.join("\n");
    out.push('\n');
    out.push_str(&last[..last.len() / 2]);
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("damaged.jsonl");
    std::fs::write(&f, out).expect("write");
    let rec = Recording::open(&f).expect("opens despite damage");
    assert_eq!(rec.problems.len(), 3, "{:?}", rec.problems);
    assert!(rec.problems.iter().any(|p| p.contains("newer")));
    assert!(rec.problems.iter().any(|p| p.contains("corrupt")));
    assert!(
        rec.problems
            .iter()
            .any(|p| p.contains("truncated last line"))
    );
    assert!(rec.problems.iter().all(|p| p.starts_with("line ")));
    // the rest replays to the end
    let rec = Arc::new(rec);
    let mut p = Player::new(rec.clone()).expect("player");
    p.seek_events(usize::MAX);
    assert_eq!(p.position(), rec.events.len());
    assert!(p.engine().incidents().count() >= 1);
    let s = summary(&f).expect("summary");
    assert_eq!(s.problems.len(), 3);
    // not a journal at all: a clear error
    let g = dir.path().join("x.jsonl");
    std::fs::write(&g, "hello\n").expect("write");
    let err = Recording::open(&g).unwrap_err().to_string();
    assert!(err.contains("no journal header"), "{err}");
}

#[test]
fn seeking_back_and_forth_gives_the_state_of_playing_through() {
    let f =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incidents/drift-retrain-canary.jsonl");
    let rec = Arc::new(Recording::open(&f).expect("open"));
    let n = rec.events.len();
    let fp = |p: &Player| {
        let s = p.engine().snapshot(None, 50);
        format!(
            "{:?} {:?}",
            s.log,
            s.rows
                .iter()
                .map(|r| (r.status, r.values))
                .collect::<Vec<_>>()
        )
    };
    let mut a = Player::new(rec.clone()).expect("player");
    a.seek_events(n * 3 / 4);
    let want = fp(&a);
    let mut b = Player::new(rec.clone()).expect("player");
    b.seek_events(n);
    b.seek_events(n / 4);
    b.seek_events(n * 3 / 4);
    assert_eq!(fp(&b), want);
    let (t0, t1) = rec.span();
    b.seek_time(t0 + (t1 - t0) / 2.0);
    assert!(b.position() < n * 3 / 4);
}
