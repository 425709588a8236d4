//! `pitcrew replay --verify`: re-runs a recording from its start and checks, entry by entry,
//! that the engine reproduces the log and the checkpoints that were recorded.

use super::ReplayError;
use super::player::Player;
use super::recording::{Reader, Recording, StoredCheckpoint};
use crate::engine::{Effect, Engine, LogEntry, LogKind};
use crate::journal::Record;
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// What `replay --verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// Events re-applied.
    pub events: usize,
    /// Log entries compared (detections, incidents, proposals, decisions, actions, outcomes…).
    pub log_entries: usize,
    /// Execution intents compared.
    pub intents: usize,
    /// Differences, in order.
    pub divergences: Vec<String>,
    /// Lines skipped while reading.
    pub problems: Vec<String>,
    /// Entries and intents the re-run produced after the last recorded one.
    pub beyond_end: usize,
    /// Checkpoints of the engine's state found identical to the re-run's.
    pub checkpoints: usize,
}

fn same_entry(a: &LogEntry, b: &LogEntry) -> bool {
    a.kind == b.kind && a.model == b.model && a.text == b.text && (a.t - b.t).abs() < 1e-6
}

fn show(e: &LogEntry) -> String {
    format!(
        "{} {} {} {}",
        crate::domain::time::datetime(e.t),
        e.kind.label(),
        e.model.as_deref().unwrap_or("-"),
        e.text
    )
}

/// Re-run the engine on the recorded events and operator decisions and compare what it
/// produces — log entries and execution intents — with what was recorded.
pub fn verify(path: &Path) -> Result<Verification, ReplayError> {
    let rec = std::sync::Arc::new(Recording::open(path)?);
    // where a player starts: the start, or a later part's first checkpoint
    let start = Player::new(rec.clone())?;
    let mut engine = start.engine().clone();
    let skip_to = start.origin_seq;
    let mut skipping = skip_to > 0;
    let f = File::open(path).map_err(|e| ReplayError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let mut v = Verification {
        problems: rec.problems.clone(),
        ..Verification::default()
    };
    v.problems.extend(start.problems().iter().cloned());
    if let Some(i) = start.origin_cp {
        v.problems.push(match &rec.resumed {
            Some(from) => format!(
                "resumed from {from}: checked from its first checkpoint (line {}) on",
                rec.checkpoints[i].line
            ),
            None => format!(
                "part {} of a session: checked from its first checkpoint (line {}) on",
                rec.part, rec.checkpoints[i].line
            ),
        });
    }
    let mut produced: std::collections::VecDeque<LogEntry> = Default::default();
    let mut intents: std::collections::VecDeque<(u64, String, crate::domain::Action)> =
        Default::default();
    let mut logged = engine.log_seq();
    let push_div = |v: &mut Verification, s: String| {
        if v.divergences.len() < 50 {
            v.divergences.push(s);
        }
    };
    // checkpoints by the event they follow, compared when the re-run has applied that event
    let mut due: std::collections::BTreeMap<u64, Vec<StoredCheckpoint>> = Default::default();
    for (i, c) in rec.checkpoints.iter().enumerate() {
        if Some(i) == start.origin_cp {
            continue;
        }
        if start.checkpoint_usable(i) {
            due.entry(c.after).or_default().push(*c);
        } else if rec.pitcrew == env!("CARGO_PKG_VERSION") {
            v.problems.push(format!(
                "line {}: checkpoint not checked (a damaged line comes before it)",
                c.line
            ));
        }
    }
    let mut reader = Reader::new(&rec)?;
    let mut check = |v: &mut Verification, engine: &Engine, cps: Vec<StoredCheckpoint>| {
        let now = engine.fleet_state();
        for c in cps {
            let stored = reader
                .checkpoint(&c, &rec)
                .and_then(|e| e.fleet_state().map_err(|e| format!("line {}: {e}", c.line)));
            match (stored, &now) {
                (Ok(stored), Ok(now)) if stored == *now => v.checkpoints += 1,
                (Ok(_), Ok(_)) => push_div(
                    v,
                    format!(
                        "line {}: the checkpoint of the engine's state at {} is not the re-run's state there (a replay starting from it would show another)",
                        c.line,
                        crate::domain::time::datetime(c.t)
                    ),
                ),
                (Err(e), _) => v.problems.push(format!("{e} — checkpoint not usable")),
                (_, Err(e)) => v.problems.push(e.clone()),
            }
        }
    };
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let Ok(line) = line else { break };
        let Ok(rec) = serde_json::from_str::<Record>(line.trim()) else {
            continue;
        };
        // a later part: what comes before its first checkpoint's state is not re-run
        if skipping {
            match &rec {
                Record::Event { seq, .. } if *seq > skip_to => skipping = false,
                _ => continue,
            }
        }
        match rec {
            Record::Event { event, seq } => {
                v.events += 1;
                let fx = engine.apply(event);
                if let Some(cps) = due.remove(&seq) {
                    check(&mut v, &engine, cps);
                }
                for fx in fx {
                    if let Effect::Execute(x) = fx {
                        intents.push_back((x.id, x.key, x.action));
                    }
                }
                for e in engine.log_since(logged) {
                    if e.kind != LogKind::Source {
                        produced.push_back(e.as_ref().clone());
                    }
                }
                logged = engine.log_seq();
            }
            Record::Log { entry, .. } => {
                if entry.kind == LogKind::Source {
                    continue;
                }
                v.log_entries += 1;
                match produced.pop_front() {
                    Some(p) if same_entry(&p, &entry) => {}
                    Some(p) => push_div(
                        &mut v,
                        format!(
                            "line {}: recorded  {}\n           re-run    {}",
                            n + 1,
                            show(&entry),
                            show(&p)
                        ),
                    ),
                    None => push_div(
                        &mut v,
                        format!(
                            "line {}: recorded {} — the re-run produced nothing",
                            n + 1,
                            show(&entry)
                        ),
                    ),
                }
            }
            Record::Intent {
                id, model, action, ..
            } => {
                v.intents += 1;
                match intents.pop_front() {
                    Some((pid, pm, pa)) if pid == id && pm == model && pa == action => {}
                    Some((pid, pm, pa)) => push_div(
                        &mut v,
                        format!(
                            "line {}: recorded intent R{id} {} on {model}, re-run R{pid} {} on {pm}",
                            n + 1,
                            action.describe(),
                            pa.describe()
                        ),
                    ),
                    None => push_div(
                        &mut v,
                        format!(
                            "line {}: recorded intent R{id} {} on {model}; the re-run intended nothing",
                            n + 1,
                            action.describe()
                        ),
                    ),
                }
            }
            Record::Header { .. } | Record::Checkpoint { .. } => {}
        }
    }
    for c in due.into_values().flatten() {
        v.problems.push(format!(
            "line {}: checkpoint after event record {} not checked: that event is not in the recording",
            c.line, c.after
        ));
    }
    // what the re-run produced after the last recorded entry is not a divergence: a recording
    // cut short (a crash, SIGKILL) loses the entries of its last event; it is reported
    v.beyond_end = produced.len() + intents.len();
    Ok(v)
}
