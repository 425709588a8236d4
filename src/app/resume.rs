//! An agent that restarts resumes from its journal: the engine is rebuilt from the newest
//! journal of the same source (its last checkpoint, then the events after it, as a replay
//! seeks), so that pending proposals, decisions, guardrail counters, the phase and the command
//! ids already applied survive a crash or a rolling update. The new session's journal begins
//! with a checkpoint of that state and names the journal it resumed ([`Record::Header`]'s
//! `resumed`), so that it re-runs on its own (`replay --verify`).
//!
//! An action whose intent was journaled but whose result was not (the agent stopped while the
//! actuator worked) has an unknown outcome: it is failed, with that said, for a human to look
//! at — never run again by itself.

use crate::engine::{Engine, EngineConfig, Event};
use crate::journal::Record;
use crate::policy::RemState;
use crate::replay::{Player, Recording};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An engine rebuilt from a journal.
pub struct Resumed {
    /// The engine, with this session's settings.
    pub engine: Engine,
    /// Events to apply first (and journal): the results of actions the agent stopped during.
    pub interrupted: Vec<Event>,
    /// What to say of it (a line per fact).
    pub said: Vec<String>,
}

/// The newest journal file (by modification time) in `dir` whose header names `source`.
pub fn newest_journal(dir: &Path, source: &str) -> Option<PathBuf> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort();
    files
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .find(|p| header_source(p).as_deref() == Some(source))
}

/// The source a journal's header names (its first line only is read).
fn header_source(path: &Path) -> Option<String> {
    use std::io::{BufRead, Read};
    let f = std::fs::File::open(path).ok()?;
    let mut line = String::new();
    // a header is small; a first line past this is not one
    std::io::BufReader::new(f.take(1 << 20))
        .read_line(&mut line)
        .ok()?;
    match serde_json::from_str::<Record>(line.trim()).ok()? {
        Record::Header { source, .. } => Some(source),
        _ => None,
    }
}

/// The engine as the journal at `path` left it, with this session's settings `cfg` (the
/// phase, overrides and counters are the journal's: what the team decided stands).
pub fn resume(path: &Path, cfg: EngineConfig) -> Result<Resumed, String> {
    let rec = Arc::new(Recording::open(path).map_err(|e| e.to_string())?);
    let mut player = Player::new(rec.clone()).map_err(|e| e.to_string())?;
    player.seek_events(rec.events.len());
    let mut said = Vec::new();
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    // a clone shares the histories' chunks: no copy of the state is made
    let engine = player.engine().clone().with_config(cfg);
    let t = engine.time();
    let snap = engine.snapshot(None, 0);
    let interrupted: Vec<Event> = snap
        .remediations
        .iter()
        .filter(|r| r.state == RemState::Executing)
        .map(|r| Event::ActionResult {
            t,
            id: r.id,
            ok: false,
            dry_run: false,
            message: "the agent stopped before the actuator answered: the outcome is not known, look at the workload".into(),
        })
        .collect();
    let pending = snap
        .remediations
        .iter()
        .filter(|r| r.state == RemState::Proposed)
        .count();
    said.push(format!(
        "resumed from the journal {name} ({} events): {pending} proposals waiting, phase {}",
        rec.events.len(),
        snap.phase
    ));
    if !interrupted.is_empty() {
        said.push(format!(
            "{} actions were running when the agent stopped: failed, their outcome unknown",
            interrupted.len()
        ));
    }
    said.extend(player.problems().iter().map(|p| format!("{name}: {p}")));
    Ok(Resumed {
        engine,
        interrupted,
        said,
    })
}
