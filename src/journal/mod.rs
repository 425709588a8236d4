//! The session journal: versioned JSON Lines, one record per line.
//!
//! The first line of every file is a [`Record::Header`] (format version, pitcrew version,
//! source, config digest, start time, user). Then come, in the order the engine saw them, the
//! events it applied (observations, changes, operator commands with who and when, actuator
//! results) and the execution intents, each written and flushed to disk *before* the actuator
//! is called. Now and then comes a checkpoint of the engine's whole state, so that a replay
//! seeks without re-running everything before it. Files are created readable by their owner
//! only and rotate at a size bound: each part starts with its own header, then a checkpoint,
//! and only the newest parts are kept.

pub mod retention;
mod state;

pub use state::*;

use crate::domain::Action;
use crate::engine::remedy::Purpose;
use crate::engine::{Engine, EngineConfig, Event, Execution, LogEntry};
use crate::policy::OutcomeStats;
use crate::policy::autonomy::{ActionClass, ClassOverrides, Mode, Phase};
use crate::policy::guardrails::Guardrails;
use crate::policy::playbook::Playbook;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Version of the journal format written by this build.
pub const FORMAT: u32 = 1;

/// A checkpoint is due once the journal has grown by this many times the last one's size since
/// it (checkpoints then take at most a fifth of a journal, and a seek re-runs at most that
/// many checkpoints' worth of events) …
pub(crate) const CHECKPOINT_RATIO: u64 = 4;
/// … counting a checkpoint as at least this big (no storm of tiny ones at the start) …
pub(crate) const CHECKPOINT_MIN_BYTES: u64 = 64 << 10;
/// … and at most one per this many seconds of session time.
pub(crate) const CHECKPOINT_MIN_SECS: f64 = 60.0;

/// One line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", content = "data", rename_all = "snake_case")]
pub enum Record {
    /// First line of every file.
    Header {
        /// Journal format version.
        format: u32,
        /// pitcrew version that wrote it.
        pitcrew: String,
        /// Data source (e.g. `sim seed 42 · latency-spike`).
        source: String,
        /// Digest of the settings that shape the engine (phase, guardrails, playbooks).
        config_digest: String,
        /// Session start (unix seconds, wall clock).
        start: f64,
        /// OS user.
        user: String,
        /// Part number (0 for the first file of a session).
        part: u32,
        /// The engine's settings, so that the session can be re-run (`replay --verify`).
        #[serde(default)]
        settings: Option<Box<Settings>>,
        /// The journal this session's engine resumed from (an agent restarted): the session
        /// begins with a checkpoint of the state it resumed, as a later part does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumed: Option<String>,
    },
    /// An entry of the engine's log (detections, incidents, proposals, decisions, actions,
    /// outcomes, phase changes, notes), as it was shown.
    Log {
        /// Sequence number within the session.
        seq: u64,
        /// The entry.
        entry: LogEntry,
    },
    /// An event the engine applied, in order.
    Event {
        /// Sequence number within the session.
        seq: u64,
        /// The event.
        event: Event,
    },
    /// The engine's whole state, so that a replay can start here instead of re-running every
    /// event before it (and a rotated part replays on its own from its first checkpoint).
    Checkpoint {
        /// Sequence number of this record.
        seq: u64,
        /// The state is the engine's just after the event record with this sequence number.
        /// It may be written a few records later: the console encodes it off the engine's
        /// thread.
        after: u64,
        /// Engine time of that state.
        t: f64,
        /// How `state` is encoded: [`CHECKPOINT_ENCODING`].
        encoding: String,
        /// Length of the encoded state before compression.
        len: u64,
        /// The state.
        state: String,
    },
    /// An action about to be carried out: written and flushed before the actuator is called.
    Intent {
        /// Sequence number within the session.
        seq: u64,
        /// Engine time.
        t: f64,
        /// Remediation id.
        id: u64,
        /// `namespace/name`.
        model: String,
        /// What.
        action: Action,
        /// Why.
        purpose: Purpose,
        /// Who approved it.
        who: String,
        /// Actuator that will carry it out.
        actuator: String,
    },
}

/// The settings that shape what the engine does with the events, kept in the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Starting phase.
    pub phase: Phase,
    /// No actuator.
    pub read_only: bool,
    /// Actuator name.
    pub actuator: Option<String>,
    /// Fleet replica budget.
    pub replica_budget: Option<u32>,
    /// Pod start-up lead time.
    pub pod_startup: f64,
    /// Playbooks.
    pub playbooks: Vec<Playbook>,
    /// Guardrails.
    pub guardrails: Guardrails,
    /// Outcome statistics at the start.
    pub stats: OutcomeStats,
    /// Class overrides at the start.
    pub overrides: Vec<(Phase, ActionClass, Mode)>,
    /// Approval timeout, seconds.
    pub approval_timeout: f64,
    /// Health objectives (journals written before they were recorded: the defaults).
    #[serde(default)]
    pub objectives: crate::engine::Objectives,
    /// The findings' deadline policy (journals written before it was configurable: the
    /// default).
    #[serde(default)]
    pub deadlines: crate::domain::Deadlines,
}

impl Settings {
    /// From an engine configuration.
    pub fn of(cfg: &EngineConfig) -> Settings {
        Settings {
            phase: cfg.phase,
            read_only: cfg.read_only,
            actuator: cfg.actuator.clone(),
            replica_budget: cfg.replica_budget,
            pod_startup: cfg.pod_startup,
            playbooks: cfg.playbooks.as_ref().clone(),
            guardrails: cfg.guardrails.clone(),
            stats: cfg.stats.clone(),
            overrides: cfg.overrides.entries(),
            approval_timeout: cfg.approval_timeout,
            objectives: cfg.objectives,
            deadlines: cfg.deadlines,
        }
    }

    /// The engine configuration to re-run with.
    pub fn config(&self) -> EngineConfig {
        EngineConfig {
            phase: self.phase,
            read_only: self.read_only,
            actuator: self.actuator.clone(),
            replica_budget: self.replica_budget,
            pod_startup: self.pod_startup,
            playbooks: Arc::new(self.playbooks.clone()),
            guardrails: self.guardrails.clone(),
            stats: self.stats.clone(),
            overrides: ClassOverrides::from_entries(&self.overrides),
            approval_timeout: self.approval_timeout,
            objectives: self.objectives,
            deadlines: self.deadlines,
            ..EngineConfig::default()
        }
    }
}

use crate::files::open_private;

/// Settings of a journal.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Directory the files go to.
    pub dir: PathBuf,
    /// File name stem (`session-<start>-<pid>`).
    pub stem: String,
    /// Bytes after which a new part starts.
    pub max_part_bytes: u64,
    /// Parts kept per session (the oldest are deleted).
    pub max_parts: u32,
    /// Other sessions' journals in `dir` are pruned to this at creation, at every new part
    /// and at [`Journal::finish`] (none: never).
    pub retention: Option<retention::Retention>,
}

/// A journal being written.
pub struct Journal {
    cfg: JournalConfig,
    header: Record,
    out: BufWriter<File>,
    path: PathBuf,
    part: u32,
    bytes: u64,
    seq: u64,
    /// Sequence number of the last event record.
    last_event: u64,
    /// Bytes written since the last checkpoint.
    since_checkpoint: u64,
    /// Size of the last checkpoint record.
    checkpoint_bytes: u64,
    /// Session time of the last checkpoint.
    checkpoint_t: f64,
    /// A part began and has no checkpoint yet.
    fresh_part: bool,
    /// A checkpoint is being encoded.
    checkpoint_pending: bool,
    /// Sequence number of the first event of this part …
    part_first: u64,
    /// … and of the last event before it.
    part_before: u64,
    /// The engine's log is journaled up to this entry.
    logged: u64,
}

impl Journal {
    /// Create the first part (and the directory, owner-only).
    pub fn create(cfg: JournalConfig, header: Record) -> std::io::Result<Journal> {
        crate::files::create_private_dir(&cfg.dir)?;
        let path = part_path(&cfg, 0);
        let file = open_private(&path, true)?;
        let mut j = Journal {
            cfg,
            header,
            out: BufWriter::new(file),
            path,
            part: 0,
            bytes: 0,
            seq: 0,
            last_event: 0,
            since_checkpoint: 0,
            checkpoint_bytes: 0,
            checkpoint_t: f64::NEG_INFINITY,
            fresh_part: false,
            checkpoint_pending: false,
            logged: 0,
            part_first: 1,
            part_before: 0,
        };
        j.write_header()?;
        j.prune();
        Ok(j)
    }

    /// Prune the other sessions' journals to the retention (when one is set); problems are
    /// returned, never fatal: a journal that cannot be pruned costs disk, not the session.
    pub(crate) fn prune(&self) -> retention::Pruned {
        let Some(r) = &self.cfg.retention else {
            return retention::Pruned::default();
        };
        let p = retention::prune(
            &self.cfg.dir,
            Some(&self.cfg.stem),
            r,
            std::time::SystemTime::now(),
        );
        if p.sessions > 0 {
            tracing::info!(
                sessions = p.sessions,
                bytes = p.bytes,
                kept = p.kept,
                "old journals pruned"
            );
        }
        for e in &p.errors {
            tracing::warn!(error = %e, "an old journal could not be pruned");
        }
        p
    }

    /// Flush and prune at the end of a session.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.flush()?;
        self.prune();
        Ok(())
    }

    /// Path of the part being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_header(&mut self) -> std::io::Result<()> {
        if let Record::Header { part, .. } = &mut self.header {
            *part = self.part;
        }
        let h = self.header.clone();
        self.write_line(&h)?;
        self.out.flush()
    }

    /// Write a record as one line, straight into the buffered file (a checkpoint's line is
    /// tens of megabytes at 10,000 models: it is never copied into a line of its own).
    fn write_line(&mut self, r: &Record) -> std::io::Result<()> {
        let mut out = Counted {
            inner: &mut self.out,
            n: 0,
        };
        serde_json::to_writer(&mut out, r).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        let n = out.n;
        self.bytes += n;
        self.since_checkpoint += n;
        Ok(())
    }

    fn rotate_if_needed(&mut self) -> std::io::Result<()> {
        // a part holds at least a few checkpoints' worth of events: were checkpoints as big as
        // a part, every event would rotate and the oldest parts would go at once
        if self.bytes
            < self
                .cfg
                .max_part_bytes
                .max(2 * CHECKPOINT_RATIO * self.checkpoint_bytes)
        {
            return Ok(());
        }
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        self.part += 1;
        self.path = part_path(&self.cfg, self.part);
        self.out = BufWriter::new(open_private(&self.path, true)?);
        self.bytes = 0;
        self.fresh_part = true;
        self.part_first = self.seq + 1;
        self.part_before = self.last_event;
        self.write_header()?;
        if self.part >= self.cfg.max_parts {
            let old = part_path(&self.cfg, self.part - self.cfg.max_parts);
            let _ = std::fs::remove_file(old);
        }
        self.prune();
        Ok(())
    }

    /// Append an event (buffered).
    pub fn event(&mut self, event: &Event) -> std::io::Result<()> {
        self.rotate_if_needed()?;
        self.seq += 1;
        self.last_event = self.seq;
        let r = Record::Event {
            seq: self.seq,
            event: event.clone(),
        };
        self.write_line(&r)
    }

    /// The directory the journal writes in (checkpoints are spooled there while encoded).
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// Sequence number of the last event written (0: none yet).
    pub(crate) fn last_event(&self) -> u64 {
        self.last_event
    }

    /// True when a checkpoint of the engine's state should be taken now, at session time `t`:
    /// a new part has none yet, or the journal has grown enough since the last one.
    pub(crate) fn checkpoint_due(&self, t: f64) -> bool {
        if self.checkpoint_pending || self.last_event == 0 {
            return false;
        }
        self.fresh_part
            || (self.since_checkpoint
                >= CHECKPOINT_RATIO * self.checkpoint_bytes.max(CHECKPOINT_MIN_BYTES)
                && t - self.checkpoint_t >= CHECKPOINT_MIN_SECS)
    }

    /// A checkpoint is being encoded and not yet written.
    pub(crate) fn checkpoint_pending(&self) -> bool {
        self.checkpoint_pending
    }

    /// A checkpoint is being encoded (no other is due until it is written or given up).
    pub(crate) fn checkpoint_started(&mut self) {
        self.checkpoint_pending = true;
    }

    /// The checkpoint being encoded failed: try again after as much journal again (a new
    /// part goes without one rather than retrying at every event).
    pub(crate) fn checkpoint_failed(&mut self) {
        self.checkpoint_pending = false;
        self.since_checkpoint = 0;
        self.fresh_part = false;
    }

    /// Write a checkpoint: the engine's state just after event record `after`. One encoded
    /// while the journal moved to a new part is dropped when events between it and the part
    /// are in the part before (replayed alone, the part could not have reached it).
    pub fn checkpoint(&mut self, after: u64, s: EncodedState) -> std::io::Result<()> {
        if after < self.part_before {
            self.checkpoint_pending = false;
            return Ok(());
        }
        self.seq += 1;
        // the record as serde writes it, its state (the last field) copied from the spool:
        // written with an empty state and split there, so that the line is the one
        // `Record::Checkpoint` reads back
        let r = Record::Checkpoint {
            seq: self.seq,
            after,
            t: s.t,
            encoding: CHECKPOINT_ENCODING.to_string(),
            len: s.len,
            state: String::new(),
        };
        let frame = serde_json::to_string(&r).map_err(std::io::Error::other)?;
        let Some(head) = frame.strip_suffix("\"}}") else {
            return Err(std::io::Error::other(format!(
                "checkpoint record does not end with its state: {frame}"
            )));
        };
        let mut out = Counted {
            inner: &mut self.out,
            n: 0,
        };
        out.write_all(head.as_bytes())?;
        s.text.copy_to(&mut out)?;
        out.write_all(b"\"}}\n")?;
        self.bytes += out.n;
        self.checkpoint_bytes = out.n;
        self.since_checkpoint = 0;
        self.checkpoint_t = s.t;
        self.checkpoint_pending = false;
        self.fresh_part = false;
        Ok(())
    }

    /// Begin with the state of an engine resumed from another journal: a checkpoint of it,
    /// before any event (its log is the other journal's, and is not journaled again).
    pub fn begin_from(&mut self, engine: &Engine) -> Result<(), String> {
        let s = encode_state(engine, &self.cfg.dir)?;
        self.checkpoint(0, s)
            .and_then(|()| self.flush())
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.logged = engine.log_seq();
        Ok(())
    }

    /// Append an entry of the engine's log (buffered).
    pub fn log(&mut self, entry: &LogEntry) -> std::io::Result<()> {
        self.seq += 1;
        let r = Record::Log {
            seq: self.seq,
            entry: entry.clone(),
        };
        self.write_line(&r)
    }

    /// Append the engine's log entries not yet journaled (what the operator was shown); on an
    /// error, the journal stays at the last entry written.
    pub(crate) fn log_new(&mut self, engine: &Engine) -> std::io::Result<()> {
        for e in engine.log_since(self.logged) {
            self.log(e)?;
            self.logged = e.seq;
        }
        self.logged = engine.log_seq();
        Ok(())
    }

    /// Append the intent of an execution by `actuator` and make it durable (flush and fsync)
    /// before returning: the caller calls the actuator only after this succeeded.
    pub fn intent(&mut self, x: &Execution, actuator: &str) -> std::io::Result<()> {
        self.seq += 1;
        let r = Record::Intent {
            seq: self.seq,
            t: x.t,
            id: x.id,
            model: x.key.clone(),
            action: x.action.clone(),
            purpose: x.purpose,
            who: x.who.clone(),
            actuator: actuator.to_string(),
        };
        self.write_line(&r)?;
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }

    /// Flush buffered records to the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

fn part_path(cfg: &JournalConfig, part: u32) -> PathBuf {
    if part == 0 {
        cfg.dir.join(format!("{}.jsonl", cfg.stem))
    } else {
        cfg.dir.join(format!("{}.{part}.jsonl", cfg.stem))
    }
}

/// A short, stable digest (FNV-1a, hex) of the settings that shape the engine.
pub(crate) fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A line that could not be read: (1-based line number, why).
pub(crate) type BadLine = (usize, String);

/// Read every record of a journal file; lines that cannot be read are reported with their
/// number and skipped.
pub fn read(path: &Path) -> std::io::Result<(Vec<Record>, Vec<BadLine>)> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.push(r),
            Err(e) => bad.push((i + 1, e.to_string())),
        }
    }
    Ok((out, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Record {
        Record::Header {
            format: FORMAT,
            pitcrew: "test".into(),
            source: "sim".into(),
            config_digest: digest("x"),
            start: 0.0,
            user: "me".into(),
            part: 0,
            settings: None,
            resumed: None,
        }
    }

    /// A journal in `dir/j` (no retention), rotating at `max_part_bytes`, keeping `max_parts`.
    fn journal_in(dir: &Path, max_part_bytes: u64, max_parts: u32) -> Journal {
        let cfg = JournalConfig {
            dir: dir.join("j"),
            stem: "s".into(),
            max_part_bytes,
            max_parts,
            retention: None,
        };
        Journal::create(cfg, header()).unwrap()
    }

    fn state(t: f64, bytes: usize) -> EncodedState {
        EncodedState {
            t,
            len: 1,
            text: Spool::of_text(&std::env::temp_dir(), &"x".repeat(bytes)).unwrap(),
        }
    }

    fn checkpoints_in(path: &Path) -> Vec<u64> {
        read(path)
            .unwrap()
            .0
            .into_iter()
            .filter_map(|r| match r {
                Record::Checkpoint { after, .. } => Some(after),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn checkpoints_are_due_by_growth_and_at_each_new_part() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal_in(dir.path(), 1 << 20, 100);
        // nothing to checkpoint before the first event
        assert!(!j.checkpoint_due(0.0));
        j.event(&Event::Clock { t: 0.0 }).unwrap();
        assert!(!j.checkpoint_due(0.0), "the journal has not grown enough");
        let mut t = 0.0;
        while !j.checkpoint_due(t) {
            t += 5.0;
            j.event(&Event::Clock { t }).unwrap();
        }
        // grown by CHECKPOINT_RATIO x the minimum size, and a minute later at least
        assert!(j.since_checkpoint >= CHECKPOINT_RATIO * CHECKPOINT_MIN_BYTES);
        j.checkpoint_started();
        assert!(!j.checkpoint_due(t), "one at a time");
        let after = j.last_event();
        j.checkpoint(after, state(t, 100_000)).unwrap();
        assert!(!j.checkpoint_due(t + 3600.0));
        // the next is due after 4x the last one's size
        let first_part = j.path().to_path_buf();
        while !j.checkpoint_due(t) {
            t += 5.0;
            j.event(&Event::Clock { t }).unwrap();
        }
        assert!(j.since_checkpoint >= CHECKPOINT_RATIO * 100_000);
        assert_eq!(j.path(), first_part, "no rotation yet");
        j.flush().unwrap();
        assert_eq!(checkpoints_in(&first_part), vec![after]);
        j.checkpoint_failed();
        assert!(
            !j.checkpoint_due(t),
            "a failure waits for as much journal again"
        );
        // a new part wants one at once, after its first event
        while j.path() == first_part {
            t += 5.0;
            j.event(&Event::Clock { t }).unwrap();
        }
        assert!(j.checkpoint_due(t));
        // one started before the part began is dropped, and the part still wants one
        j.checkpoint_started();
        j.checkpoint(after, state(t, 10)).unwrap();
        assert!(j.checkpoint_due(t));
        let first = j.last_event();
        j.checkpoint_started();
        j.checkpoint(first, state(t, 10)).unwrap();
        assert!(!j.checkpoint_due(t));
        let second = j.path().to_path_buf();
        j.flush().unwrap();
        assert_eq!(checkpoints_in(&second), vec![first]);
        // a part is never smaller than a few checkpoints' worth
        j.checkpoint_started();
        j.checkpoint(first, state(t, 1 << 20)).unwrap();
        for _ in 0..100 {
            t += 5.0;
            j.event(&Event::Clock { t }).unwrap();
        }
        assert_eq!(
            j.path(),
            second,
            "a checkpoint as big as a part does not rotate it"
        );
    }

    #[test]
    fn writes_owner_only_rotates_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal_in(dir.path(), 600, 2);
        for i in 0..40 {
            j.event(&Event::Clock { t: f64::from(i) }).unwrap();
        }
        let x = Execution {
            t: 1.0,
            id: 7,
            model: 0,
            key: "a/b".into(),
            action: Action::Restart,
            purpose: Purpose::Run,
            who: "me".into(),
        };
        j.intent(&x, "sim").unwrap();
        let last = j.path().to_path_buf();
        drop(j);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&last).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let files: Vec<_> = std::fs::read_dir(dir.path().join("j")).unwrap().collect();
        assert_eq!(files.len(), 2, "only the newest parts are kept");
        let (recs, bad) = read(&last).unwrap();
        assert!(bad.is_empty());
        assert!(matches!(recs[0], Record::Header { part, .. } if part > 0));
        assert!(matches!(recs.last(), Some(Record::Intent { id: 7, .. })));
    }

    #[test]
    fn a_spooled_checkpoint_is_written_as_the_record_serde_reads_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal_in(dir.path(), 1 << 20, 2);
        j.event(&Event::Clock { t: 1.0 }).unwrap();
        let (_world, engine) =
            crate::harness::start(3, 4, 1000.0, crate::engine::EngineConfig::default());
        let enc = encode_state(&engine, j.dir()).unwrap();
        let text_len = enc.text.len();
        assert!(text_len > 100);
        j.checkpoint(1, enc).unwrap();
        j.event(&Event::Clock { t: 2.0 }).unwrap();
        let path = j.path().to_path_buf();
        drop(j);
        // the spool was unnamed: the journal's directory holds the journal only
        assert_eq!(std::fs::read_dir(dir.path().join("j")).unwrap().count(), 1);
        let (recs, bad) = read(&path).unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        let Some(Record::Checkpoint {
            after,
            len,
            state,
            encoding,
            ..
        }) = recs.get(2)
        else {
            panic!("{recs:?}")
        };
        assert_eq!((*after, state.len() as u64), (1, text_len));
        let raw = decode_state(encoding, *len, state).unwrap();
        assert_eq!(raw, engine.checkpoint().unwrap());
        assert!(matches!(recs.get(3), Some(Record::Event { .. })));
    }

    #[test]
    fn damaged_lines_are_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        let good = serde_json::to_string(&header()).unwrap();
        std::fs::write(
            &p,
            format!("{good}\n{{oops\n{good}\n{{\"record\":\"event\",\"se"),
        )
        .unwrap();
        let (recs, bad) = read(&p).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(bad.iter().map(|b| b.0).collect::<Vec<_>>(), vec![2, 4]);
    }
}
