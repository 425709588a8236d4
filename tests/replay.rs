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
        // every checkpoint of the engine's state in it is the re-run's state at its place
        let rec = Recording::open(&f).expect("open");
        assert!(!rec.checkpoints.is_empty(), "{}", f.display());
        assert_eq!(v.checkpoints, rec.checkpoints.len(), "{}", f.display());
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
    for pb in pitcrew::policy::playbook::builtins() {
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
    // read in slices on several threads, the index is the same
    for threads in [2, 3, 7] {
        let sliced = Recording::open_on(&f, threads).expect("opens in slices");
        assert_eq!(
            format!("{sliced:?}"),
            format!("{rec:?}"),
            "{threads} threads"
        );
    }
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
    // past the corrupt line, seeking shows what playing through shows (checkpoints after
    // it, which hold what the line held, are not used, and that is said)
    let mut q = Player::new(rec.clone()).expect("player");
    while q.step() {}
    assert_eq!(format!("{:?}", p.engine()), format!("{:?}", q.engine()));
    if rec.checkpoints.iter().any(|c| c.line > n / 2) {
        assert!(
            p.problems()
                .iter()
                .any(|m| m.contains("after damaged line")),
            "{:?}",
            p.problems()
        );
    }
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

#[test]
fn an_engine_checkpoint_restores_the_whole_state_and_runs_on_identically() {
    for f in fixtures() {
        let rec = Arc::new(Recording::open(&f).expect("open"));
        let n = rec.events.len();
        let mut a = Player::new(rec.clone()).expect("player");
        a.seek_events(n / 2);
        let bytes = a.engine().checkpoint().expect("checkpoint");
        let restored =
            pitcrew::engine::Engine::restore(rec.settings.config(), &bytes).expect("restore");
        // Debug shows every field: nothing was lost on the way
        assert_eq!(
            format!("{restored:?}"),
            format!("{:?}", a.engine()),
            "{}",
            f.display()
        );
        assert_eq!(restored.checkpoint().expect("again"), bytes);
        let mut b = Player::new(rec.clone()).expect("player");
        b.resume(n / 2, restored);
        a.seek_events(n);
        b.seek_events(n);
        assert_eq!(
            format!("{:?}", b.engine()),
            format!("{:?}", a.engine()),
            "{}: the restored engine ran on differently",
            f.display()
        );
    }
}

/// A copy of a fixture with its lines changed by `edit`.
fn edited(name: &str, dir: &Path, edit: impl FnOnce(&mut Vec<String>)) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/incidents")
        .join(name);
    let text = std::fs::read_to_string(&src).expect("read");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    edit(&mut lines);
    let f = dir.join(name);
    std::fs::write(&f, lines.join("\n") + "\n").expect("write");
    f
}

fn is_checkpoint(l: &str) -> bool {
    l.starts_with("{\"record\":\"checkpoint\"")
}

/// The engine's state after seeking to the end by re-running every event.
fn played_through(rec: &Arc<Recording>) -> String {
    let mut p = Player::new(rec.clone()).expect("player");
    p.ignore_journal_checkpoints();
    p.seek_events(usize::MAX);
    assert_eq!(p.applied(), rec.events.len());
    format!("{:?}", p.engine())
}

#[test]
fn seeks_start_from_the_journals_checkpoints_and_reach_the_same_state() {
    for f in fixtures() {
        let rec = Arc::new(Recording::open(&f).expect("open"));
        let last = *rec.checkpoints.last().expect("a checkpoint");
        let mut p = Player::new(rec.clone()).expect("player");
        p.seek_events(usize::MAX);
        // only the events after the last checkpoint were re-run …
        assert_eq!(
            p.applied(),
            rec.events.len() - last.events,
            "{}",
            f.display()
        );
        assert!(p.problems().is_empty(), "{:?}", p.problems());
        // … and the state is the one of playing every event
        assert_eq!(
            format!("{:?}", p.engine()),
            played_through(&rec),
            "{}",
            f.display()
        );
    }
}

#[test]
fn a_damaged_checkpoint_is_reported_and_the_events_are_re_run_instead() {
    let dir = tempfile::tempdir().expect("tmp");
    let name = "drift-retrain-canary.jsonl";
    let mut line = 0;
    let f = edited(name, dir.path(), |lines| {
        let (i, l) = lines
            .iter_mut()
            .enumerate()
            .rfind(|(_, l)| is_checkpoint(l))
            .expect("a checkpoint");
        line = i + 1;
        // flip characters in the middle of its state: still JSON, no longer the state
        let at = l.len() / 2;
        let flipped: String = l[at..at + 40]
            .chars()
            .map(|c| if c == 'A' { 'B' } else { 'A' })
            .collect();
        l.replace_range(at..at + 40, &flipped);
    });
    let rec = Arc::new(Recording::open(&f).expect("open"));
    assert!(rec.problems.is_empty(), "{:?}", rec.problems);
    let mut p = Player::new(rec.clone()).expect("player");
    p.seek_events(usize::MAX);
    assert_eq!(p.problems().len(), 1, "{:?}", p.problems());
    assert!(
        p.problems()[0].starts_with(&format!("line {line}: ")),
        "{:?}",
        p.problems()
    );
    assert!(p.problems()[0].contains("re-run instead"));
    // it started from the checkpoint before the damaged one
    let before = rec.checkpoints[rec.checkpoints.len() - 2];
    assert_eq!(p.applied(), rec.events.len() - before.events);
    assert_eq!(format!("{:?}", p.engine()), played_through(&rec));
    // --verify says it cannot use it, and finds the rest identical
    let v = verify(&f).expect("verify");
    assert!(v.divergences.is_empty(), "{:?}", v.divergences);
    assert!(
        v.problems
            .iter()
            .any(|p| p.starts_with(&format!("line {line}: ")) && p.contains("not usable")),
        "{:?}",
        v.problems
    );
    assert_eq!(v.checkpoints, rec.checkpoints.len() - 1);
}

#[test]
fn a_checkpoint_bomb_is_refused_with_its_line_and_the_events_are_re_run() {
    use base64::Engine as _;
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("tmp");
    let name = "latency-spike-approved.jsonl";
    // a frame that says, truthfully, it inflates to 512 MiB of zeros
    let len: u64 = 512 << 20;
    let mut z = zstd::stream::write::Encoder::new(Vec::new(), 1).expect("zstd");
    z.set_pledged_src_size(Some(len)).expect("pledge");
    z.include_contentsize(true).expect("size");
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..512 {
        z.write_all(&zeros).expect("write");
    }
    let bomb = base64::engine::general_purpose::STANDARD.encode(z.finish().expect("finish"));
    let mut line = 0;
    let f = edited(name, dir.path(), |lines| {
        let (i, l) = lines
            .iter_mut()
            .enumerate()
            .rfind(|(_, l)| is_checkpoint(l))
            .expect("a checkpoint");
        line = i + 1;
        let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
        v["data"]["len"] = serde_json::json!(len);
        v["data"]["state"] = serde_json::json!(bomb);
        *l = v.to_string();
    });
    let v = verify(&f).expect("verify");
    assert!(v.divergences.is_empty(), "{:?}", v.divergences);
    assert!(
        v.problems
            .iter()
            .any(|p| p.starts_with(&format!("line {line}: ")) && p.contains("decompression bomb")),
        "{:?}",
        v.problems
    );
}

#[test]
fn a_checkpoint_that_is_not_the_state_at_its_place_is_a_divergence() {
    let dir = tempfile::tempdir().expect("tmp");
    let name = "surge-scale-fails-undone.jsonl";
    let mut line = 0;
    let f = edited(name, dir.path(), |lines| {
        let (i, l) = lines
            .iter_mut()
            .enumerate()
            .find(|(_, l)| is_checkpoint(l))
            .expect("a checkpoint");
        line = i + 1;
        let _ = l;
    });
    // say it is the state after an event 40 events earlier
    let text = std::fs::read_to_string(&f).expect("read");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let seq_of = |l: &str| -> u64 {
        let at = l.find("\"seq\":").expect("seq") + 6;
        let end = at + l[at..].find(|c: char| !c.is_ascii_digit()).expect("end");
        l[at..end].parse().expect("number")
    };
    let earlier = lines[..line - 1]
        .iter()
        .filter(|l| l.starts_with("{\"record\":\"event\""))
        .rev()
        .nth(40)
        .map(|l| seq_of(l))
        .expect("40 events before it");
    let l = &mut lines[line - 1];
    let at = l.find("\"after\":").expect("after") + 8;
    let end = at + l[at..].find(',').expect(",");
    l.replace_range(at..end, &earlier.to_string());
    std::fs::write(&f, lines.join("\n") + "\n").expect("write");
    let v = verify(&f).expect("verify");
    assert_eq!(v.divergences.len(), 1, "{:?}", v.divergences);
    assert!(v.divergences[0].starts_with(&format!("line {line}: the checkpoint")));
    let out = common::bin()
        .args(["replay", "--verify"])
        .arg(&f)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_journal_without_checkpoints_replays_the_same() {
    let dir = tempfile::tempdir().expect("tmp");
    let name = "leak-and-errors-evolution.jsonl";
    let f = edited(name, dir.path(), |lines| {
        lines.retain(|l| !is_checkpoint(l))
    });
    let rec = Arc::new(Recording::open(&f).expect("open"));
    assert!(rec.checkpoints.is_empty());
    let v = verify(&f).expect("verify");
    assert!(v.divergences.is_empty() && v.problems.is_empty(), "{v:?}");
    let mut p = Player::new(rec.clone()).expect("player");
    p.seek_events(usize::MAX);
    assert_eq!(p.applied(), rec.events.len());
    let full = Arc::new(
        Recording::open(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/incidents")
                .join(name),
        )
        .expect("open"),
    );
    assert_eq!(format!("{:?}", p.engine()), played_through(&full));
}

#[test]
fn every_rotated_part_starts_with_a_checkpoint_and_replays_on_its_own() {
    use pitcrew::domain::IncidentKind;
    use pitcrew::policy::autonomy::Phase;
    use pitcrew::record::{Act, Session, record, record_parts};
    let dir = tempfile::tempdir().expect("tmp");
    let s = Session {
        seed: 5,
        models: 3,
        backfill: 3600.0,
        duration: 3.0 * 3600.0,
        phase: Phase::Autonomy,
        user: "test".into(),
        script: vec![(1800.0, Act::Inject(1, IncidentKind::ErrorBurst))],
    };
    let whole = dir.path().join("whole.jsonl");
    record(&whole, &s).expect("record");
    let split = dir.path().join("split.jsonl");
    record_parts(&split, &s, 300 << 10, 100).expect("record in parts");
    let whole = Arc::new(Recording::open(&whole).expect("open"));
    let mut parts = vec![split.clone()];
    for k in 1.. {
        let p = dir.path().join(format!("split.{k}.jsonl"));
        if !p.exists() {
            break;
        }
        parts.push(p);
    }
    assert!(parts.len() >= 3, "{parts:?}");
    let mut before = 0;
    for (k, part) in parts.iter().enumerate() {
        let rec = Arc::new(Recording::open(part).expect("open part"));
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
        let n = rec.events.len();
        assert_eq!(rec.part, k as u32);
        let mut w = Player::new(whole.clone()).expect("player");
        w.ignore_journal_checkpoints();
        if k > 0 {
            // the part's first checkpoint is the state after its first event (and the
            // actuator's answers to it, when it had effects) …
            let first = rec.checkpoints.first().map_or(usize::MAX, |c| c.events);
            assert!(
                (1..=3).contains(&first),
                "part {k}: first checkpoint after {first}"
            );
            // … and a player of the part starts there, in the state of the whole session
            let p = Player::new(rec.clone()).expect("player");
            assert_eq!(p.origin(), first);
            assert_eq!(p.position(), first);
            w.seek_events(before + first);
            assert_eq!(
                p.engine().fleet_state().expect("state"),
                w.engine().fleet_state().expect("state"),
                "part {k} at its start"
            );
        }
        // played (not sought) to its end, the part reaches the whole session's state
        let mut p = Player::new(rec.clone()).expect("player");
        while p.step() {}
        w.seek_events(before + n);
        assert_eq!(
            p.engine().fleet_state().expect("state"),
            w.engine().fleet_state().expect("state"),
            "part {k} replayed alone"
        );
        // and --verify checks the part from its first checkpoint
        let v = verify(part).expect("verify");
        assert!(v.divergences.is_empty(), "part {k}: {:?}", v.divergences);
        assert_eq!(v.beyond_end, 0, "part {k}");
        assert_eq!(
            v.checkpoints,
            rec.checkpoints.len() - usize::from(k > 0),
            "part {k}"
        );
        before += n;
    }
    assert_eq!(before, whole.events.len());
}
