//! Read-only replay of recorded sessions: open a journal (an index of its events, not the file
//! in memory), re-run the engine over it, check that the re-run reproduces what was recorded
//! (`--verify`), and summarise it as an incident report (`--summary`).
//!
//! Damaged recordings are read as far as possible: a truncated last line (a crash), corrupt
//! lines and records of kinds from a newer version are reported with their line number and
//! skipped.

use crate::engine::{Command, Effect, Engine, Event, LogEntry, LogKind};
use crate::journal::{FORMAT, Record, Settings};
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Why a recording cannot be replayed at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a pitcrew journal.
    #[error("{0}")]
    Format(String),
}

/// Damaged lines reported one by one (the rest are counted).
const MAX_PROBLEMS: usize = 1000;

/// An event's place in the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Idx {
    /// Byte offset of its line.
    pub offset: u64,
    /// Its time.
    pub t: f64,
    /// Its record's sequence number.
    pub seq: u64,
}

/// A checkpoint of the engine's state in the journal (decoded only when a seek starts there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredCheckpoint {
    /// Byte offset of its line.
    pub offset: u64,
    /// Its line number.
    pub line: usize,
    /// The state is the engine's after the event record with this sequence number …
    pub after: u64,
    /// … that is after this many of the recording's events.
    pub events: usize,
    /// Engine time of the state.
    pub t: f64,
    /// Length of its line.
    pub bytes: u64,
}

/// Something to jump to: an incident opening or an operator decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    /// Time.
    pub t: f64,
    /// Number of events to apply to be just after it.
    pub events: usize,
    /// What.
    pub what: String,
}

/// An opened recording.
#[derive(Debug, Clone)]
pub struct Recording {
    /// File.
    pub path: PathBuf,
    /// Source label recorded.
    pub source: String,
    /// Who recorded it.
    pub user: String,
    /// pitcrew version that wrote it.
    pub pitcrew: String,
    /// Wall-clock start.
    pub start: f64,
    /// Engine settings.
    pub settings: Settings,
    /// Events, in order.
    pub events: Vec<Idx>,
    /// Incident openings and decisions.
    pub marks: Vec<Mark>,
    /// Checkpoints of the engine's state, in order.
    pub checkpoints: Vec<StoredCheckpoint>,
    /// Lines skipped, with why.
    pub problems: Vec<String>,
    /// Line numbers of the lines skipped.
    pub damaged: Vec<usize>,
    /// Part of the session (0: its first file; later parts begin mid-session).
    pub part: u32,
}

fn is_decision(c: &Command) -> Option<String> {
    match c {
        Command::Approve { id } => Some(format!("approve R{id}")),
        Command::Veto { id, reason } => Some(format!("veto R{id}: {reason}")),
        Command::SetPhase { phase } => Some(format!("phase → {phase}")),
        Command::SetClassMode { phase, class, mode } => {
            Some(format!("{} in {phase}: {mode:?}", class.name()))
        }
        Command::Note { text } => Some(format!("note: {text}")),
        Command::Inject { .. } => None,
    }
}

/// Files at least this big are indexed on several threads …
const OPEN_SLICE_MIN: u64 = 8 << 20;
/// … at most this many.
const OPEN_THREADS_MAX: usize = 4;

/// What one slice of a journal holds (line numbers and event counts relative to the slice).
#[derive(Default)]
struct Slice {
    header: Option<Record>,
    events: Vec<Idx>,
    marks: Vec<Mark>,
    checkpoints: Vec<StoredCheckpoint>,
    /// `(line within the slice, what)`.
    problems: Vec<(usize, String)>,
    /// Lines that could not be read.
    damaged: Vec<usize>,
    more: usize,
    lines: usize,
}

/// Offsets cutting the file into `n` slices that begin at the start of a line.
fn slice_bounds(path: &Path, len: u64, n: usize) -> std::io::Result<Vec<u64>> {
    let mut f = BufReader::new(File::open(path)?);
    let mut out = vec![0u64];
    let mut skip = Vec::new();
    for k in 1..n {
        let guess = len * k as u64 / n as u64;
        if guess <= *out.last().unwrap_or(&0) {
            continue;
        }
        f.seek(SeekFrom::Start(guess))?;
        skip.clear();
        // the rest of the line the guess fell in belongs to the slice before
        let got = f.read_until(b'\n', &mut skip)?;
        let at = guess + got as u64;
        if at < len && at > *out.last().unwrap_or(&0) {
            out.push(at);
        }
    }
    out.push(len);
    Ok(out)
}

/// Index the lines between `from` and `to` (a file of `len` bytes).
fn scan_slice(path: &Path, from: u64, to: u64, len: u64) -> std::io::Result<Slice> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut r = BufReader::with_capacity(1 << 16, f);
    let mut sl = Slice::default();
    let mut line = Vec::new();
    let mut offset = from;
    while offset < to {
        line.clear();
        let got = r.read_until(b'\n', &mut line)?;
        if got == 0 {
            break;
        }
        sl.lines += 1;
        let n = sl.lines;
        let at = offset;
        offset += got as u64;
        let complete = line.last() == Some(&b'\n');
        // valid UTF-8 (the usual case) is borrowed as it is, without the lossy scan
        let text = match std::str::from_utf8(&line) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(&line),
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let rec: Record = match serde_json::from_str(text) {
            Ok(rec) => rec,
            Err(e) => {
                let msg = e.to_string();
                sl.damaged.push(n);
                if sl.problems.len() >= MAX_PROBLEMS {
                    sl.more += 1;
                    continue;
                }
                sl.problems.push((
                    n,
                    if !complete && offset == len {
                        "truncated last line (the session ended abruptly) — skipped".to_string()
                    } else if msg.contains("unknown variant") {
                        format!("a record of a kind this version does not know (written by a newer pitcrew?) — skipped: {msg}")
                    } else {
                        format!("corrupt record — skipped: {msg}")
                    },
                ));
                continue;
            }
        };
        match rec {
            Record::Header { .. } => {
                if sl.header.is_none() {
                    sl.header = Some(rec);
                }
            }
            Record::Event { event, seq } => {
                if let Event::Command { command, t, .. } = &event
                    && let Some(what) = is_decision(command)
                {
                    sl.marks.push(Mark {
                        t: *t,
                        events: sl.events.len() + 1,
                        what,
                    });
                }
                sl.events.push(Idx {
                    offset: at,
                    t: event.time(),
                    seq,
                });
            }
            Record::Checkpoint { after, t, .. } => sl.checkpoints.push(StoredCheckpoint {
                offset: at,
                line: n,
                after,
                events: 0,
                t,
                bytes: got as u64,
            }),
            Record::Log { entry, .. } => {
                if entry.kind == LogKind::Incident
                    && (entry.text.contains(" opened") || entry.text.contains(" reopened"))
                {
                    sl.marks.push(Mark {
                        t: entry.t,
                        events: sl.events.len(),
                        what: format!("{} {}", entry.model.as_deref().unwrap_or(""), entry.text),
                    });
                }
            }
            Record::Intent { .. } => {}
        }
    }
    Ok(sl)
}

impl Recording {
    /// Read the file once, keeping an index of its events and its marks (large files are
    /// read in slices on several threads; the index is the same).
    pub fn open(path: &Path) -> Result<Recording, ReplayError> {
        let io = |e| ReplayError::Io {
            path: path.display().to_string(),
            source: e,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        let threads = if len < OPEN_SLICE_MIN {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .clamp(1, OPEN_THREADS_MAX)
        };
        Recording::open_on(path, threads)
    }

    /// [`Recording::open`] on `threads` threads (the index does not depend on how many).
    pub fn open_on(path: &Path, threads: usize) -> Result<Recording, ReplayError> {
        let io = |e| ReplayError::Io {
            path: path.display().to_string(),
            source: e,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        let threads = threads.max(1);
        let bounds = slice_bounds(path, len, threads).map_err(io)?;
        let slices: Vec<Result<Slice, std::io::Error>> = if bounds.len() == 2 {
            vec![scan_slice(path, bounds[0], bounds[1], len)]
        } else {
            std::thread::scope(|sc| {
                let handles: Vec<_> = bounds
                    .windows(2)
                    .map(|w| {
                        let (from, to) = (w[0], w[1]);
                        sc.spawn(move || scan_slice(path, from, to, len))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(std::io::Error::other("index thread failed")))
                    })
                    .collect()
            })
        };
        let mut header: Option<Record> = None;
        let mut events = Vec::new();
        let mut marks = Vec::new();
        let mut checkpoints = Vec::new();
        let mut problems = Vec::new();
        let mut more = 0usize;
        let mut lines = 0usize;
        let mut damaged = Vec::new();
        for sl in slices {
            let sl = sl.map_err(io)?;
            if header.is_none() {
                header = sl.header;
            }
            let base = events.len();
            events.extend(sl.events);
            marks.extend(sl.marks.into_iter().map(|mut m| {
                m.events += base;
                m
            }));
            checkpoints.extend(sl.checkpoints.into_iter().map(|mut c| {
                c.line += lines;
                c
            }));
            for (n, what) in sl.problems {
                if problems.len() >= MAX_PROBLEMS {
                    more += 1;
                } else {
                    problems.push(format!("line {}: {what}", n + lines));
                }
            }
            more += sl.more;
            damaged.extend(sl.damaged.iter().map(|n| n + lines));
            lines += sl.lines;
        }
        let Some(Record::Header {
            format,
            pitcrew,
            source,
            start,
            user,
            settings,
            part,
            ..
        }) = header
        else {
            return Err(ReplayError::Format(format!(
                "{}: no journal header (is this a pitcrew journal?)",
                path.display()
            )));
        };
        if format > FORMAT {
            return Err(ReplayError::Format(format!(
                "{}: journal format {format} is newer than this pitcrew reads ({FORMAT}); upgrade pitcrew",
                path.display()
            )));
        }
        let Some(settings) = settings else {
            return Err(ReplayError::Format(format!(
                "{}: the header has no engine settings (written before replay existed)",
                path.display()
            )));
        };
        if more > 0 {
            problems.push(format!("… and {more} more damaged lines skipped"));
        }
        marks.sort_by(|a, b| a.t.total_cmp(&b.t));
        // a checkpoint stands after the events up to its sequence number, wherever its line is
        // (the console writes it a few records later); events are in sequence order
        for c in &mut checkpoints {
            c.events = events.partition_point(|e| e.seq <= c.after);
        }
        checkpoints.sort_by_key(|c| (c.events, c.line));
        Ok(Recording {
            path: path.to_path_buf(),
            source,
            user,
            pitcrew,
            start,
            settings: *settings,
            events,
            marks,
            checkpoints,
            problems,
            damaged,
            part,
        })
    }

    /// Time of the first and last event.
    pub fn span(&self) -> (f64, f64) {
        (
            self.events.first().map_or(0.0, |e| e.t),
            self.events.last().map_or(0.0, |e| e.t),
        )
    }
}

/// Reads events of a recording by index.
pub struct Reader {
    file: BufReader<File>,
    pos: u64,
    line: String,
}

impl Reader {
    /// On a recording's file.
    pub fn new(rec: &Recording) -> Result<Reader, ReplayError> {
        let f = File::open(&rec.path).map_err(|e| ReplayError::Io {
            path: rec.path.display().to_string(),
            source: e,
        })?;
        Ok(Reader {
            file: BufReader::with_capacity(1 << 16, f),
            pos: 0,
            line: String::new(),
        })
    }

    /// The event at `idx` (sequential reads need no seek).
    pub fn event(&mut self, idx: &Idx) -> Option<Event> {
        if self.pos != idx.offset {
            self.file.seek(SeekFrom::Start(idx.offset)).ok()?;
            self.pos = idx.offset;
        }
        self.line.clear();
        let n = self.file.read_line(&mut self.line).ok()?;
        self.pos += n as u64;
        match serde_json::from_str::<Record>(self.line.trim()).ok()? {
            Record::Event { event, .. } => Some(event),
            _ => None,
        }
    }

    /// The engine state bytes of the checkpoint `c` ([`Engine::checkpoint`]).
    pub fn checkpoint_state(&mut self, c: &StoredCheckpoint) -> Result<Vec<u8>, String> {
        let at = |e: String| format!("line {}: {e}", c.line);
        self.file
            .seek(SeekFrom::Start(c.offset))
            .map_err(|e| at(e.to_string()))?;
        self.line.clear();
        let n = self
            .file
            .read_line(&mut self.line)
            .map_err(|e| at(e.to_string()))?;
        self.pos = c.offset + n as u64;
        let rec = serde_json::from_str::<Record>(self.line.trim()).map_err(|e| at(e.to_string()));
        // the line's memory is not kept for the next, short, event lines
        self.line = String::new();
        match rec? {
            Record::Checkpoint {
                encoding,
                len,
                state,
                ..
            } => crate::journal::decode_state(&encoding, len, &state).map_err(at),
            _ => Err(at("not a checkpoint any more (the file changed?)".into())),
        }
    }

    /// The engine of the checkpoint `c`, with the recording's settings.
    pub fn checkpoint(&mut self, c: &StoredCheckpoint, rec: &Recording) -> Result<Engine, String> {
        let bytes = self.checkpoint_state(c)?;
        Engine::restore(rec.settings.config(), &bytes).map_err(|e| format!("line {}: {e}", c.line))
    }
}

/// Replays a recording into an engine; seeks forwards by applying events and backwards from
/// the nearest checkpoint (clones of the engine taken every so often, bounded in number).
pub struct Player {
    /// The recording.
    pub rec: std::sync::Arc<Recording>,
    reader: Reader,
    engine: Engine,
    next: usize,
    /// First playable position …
    origin: usize,
    /// … the sequence number of the event it follows (0: the start) …
    origin_seq: u64,
    /// … and the checkpoint it is (by index in `rec.checkpoints`).
    origin_cp: Option<usize>,
    checkpoints: Vec<(usize, Engine)>,
    every: f64,
    last_cp: f64,
    /// The journal's checkpoints that could not be read (by index in `rec.checkpoints`).
    bad: Vec<bool>,
    /// Events applied since the player was made (seeks count what they re-ran).
    applied: usize,
    problems: Vec<String>,
}

/// Checkpoints kept at most (the spacing doubles when full) …
const MAX_CHECKPOINTS: usize = 32;
/// … and within this memory budget (an engine clone is about [`MODEL_STATE_BYTES`] per model).
const CHECKPOINT_BUDGET: usize = 128 << 20;
/// Seeking forwards, a checkpoint of the journal is read only to skip more events than this.
const STORED_JUMP_MIN: usize = 256;
/// Seeks over at least this many events read them on a second thread.
const PREFETCH_MIN: usize = 256;
/// Events parsed per message to the engine's thread …
const PREFETCH_CHUNK: usize = 64;
/// … and messages queued at most (bounds the memory read ahead).
const PREFETCH_QUEUE: usize = 8;
/// Rough size of one model's state in the engine (histories, detectors, plan).
const MODEL_STATE_BYTES: usize = 128 << 10;

impl Player {
    /// At the start of the recording.
    pub fn new(rec: std::sync::Arc<Recording>) -> Result<Player, ReplayError> {
        let reader = Reader::new(&rec)?;
        let engine = Engine::new(rec.settings.config());
        let bad = vec![false; rec.checkpoints.len()];
        let mut p = Player {
            bad,
            applied: 0,
            rec,
            reader,
            engine,
            next: 0,
            origin: 0,
            origin_seq: 0,
            origin_cp: None,
            checkpoints: Vec::new(),
            every: 1800.0,
            last_cp: f64::NEG_INFINITY,
            problems: Vec::new(),
        };
        let rec = p.rec.clone();
        let ours = env!("CARGO_PKG_VERSION");
        if !rec.checkpoints.is_empty() && rec.pitcrew != ours {
            p.ignore_journal_checkpoints();
            p.problems.push(format!(
                "checkpoints written by pitcrew {}, this is {ours}: not used, events re-run instead",
                rec.pitcrew
            ));
        }
        // a later part of a session begins mid-session: it plays from its first checkpoint
        let mut start_line = 0;
        if rec.part > 0 {
            for (i, c) in rec.checkpoints.iter().enumerate() {
                if p.bad[i] {
                    continue;
                }
                match p.reader.checkpoint(c, &rec) {
                    Ok(e) => {
                        p.restore(c.events, e);
                        p.origin = c.events;
                        p.origin_seq = c.after;
                        p.origin_cp = Some(i);
                        start_line = c.line;
                        break;
                    }
                    Err(e) => {
                        p.bad[i] = true;
                        p.problems.push(format!("{e} — checkpoint skipped"));
                    }
                }
            }
            if start_line == 0 {
                p.problems.push(format!(
                    "part {} of a session and no usable checkpoint: replayed from an empty state, without what came before this part",
                    rec.part
                ));
            }
        }
        // past a damaged line, playing on lacks what it held and a checkpoint does not: seeks
        // do not use checkpoints after it, so that they show what playing shows
        if let Some(d) = rec.damaged.iter().copied().find(|&d| d > start_line) {
            let mut n = 0;
            for (i, c) in rec.checkpoints.iter().enumerate() {
                if c.line > d && !p.bad[i] {
                    p.bad[i] = true;
                    n += 1;
                }
            }
            if n > 0 {
                p.problems.push(format!(
                    "{n} checkpoints after damaged line {d} not used: seeks re-run the events instead"
                ));
            }
        }
        Ok(p)
    }

    /// The first event that can be played (a later part of a session starts at its first
    /// checkpoint).
    pub fn origin(&self) -> usize {
        self.origin
    }

    /// True when seeks may start from the journal's checkpoint `i` (it was read or not yet
    /// tried, and no damaged line comes before it).
    pub fn checkpoint_usable(&self, i: usize) -> bool {
        self.bad.get(i).is_some_and(|b| !b)
    }

    /// Continue from a checkpoint.
    fn restore(&mut self, n: usize, e: Engine) {
        self.next = n;
        self.engine = e;
    }

    /// Continue from an engine holding the state after the first `events` events (a
    /// checkpoint restored elsewhere).
    pub fn resume(&mut self, events: usize, engine: Engine) {
        self.restore(events.min(self.rec.events.len()), engine);
    }

    /// The engine (the replayed state).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Events applied so far.
    pub fn position(&self) -> usize {
        self.next
    }

    /// Time of the next event, if any.
    pub fn next_time(&self) -> Option<f64> {
        self.rec.events.get(self.next).map(|e| e.t)
    }

    /// Apply the next event; false at the end. Effects are dropped: nothing is executed.
    pub fn step(&mut self) -> bool {
        let Some(idx) = self.rec.events.get(self.next).copied() else {
            return false;
        };
        let ev = self.reader.event(&idx);
        self.apply_read(idx, ev);
        true
    }

    /// Apply the event at `self.next` (read as `ev`; `None` when its line could not be read)
    /// and take a checkpoint when one is due.
    fn apply_read(&mut self, idx: Idx, ev: Option<Event>) {
        if let Some(ev) = ev {
            let _: Vec<Effect> = self.engine.apply(ev);
        }
        self.next += 1;
        self.applied += 1;
        let newest = self.checkpoints.last().map_or(0, |c| c.0);
        if idx.t - self.last_cp >= self.every && self.next > newest {
            self.last_cp = idx.t;
            self.checkpoints.push((self.next, self.engine.clone()));
            let per = (self.engine.model_count() * MODEL_STATE_BYTES).max(1);
            let max = (CHECKPOINT_BUDGET / per).clamp(4, MAX_CHECKPOINTS);
            if self.checkpoints.len() > max {
                let mut k = 0;
                self.checkpoints.retain(|_| {
                    k += 1;
                    k % 2 == 1
                });
                self.every *= 2.0;
            }
        }
    }

    /// Apply the events up to `target` (exclusive), reading and parsing them on a second
    /// thread while the engine applies them on this one (parsing JSON is a third of the work
    /// of a long seek). The events and their order are the same as with [`Player::step`].
    fn run_to(&mut self, target: usize) {
        let target = target.min(self.rec.events.len());
        if target.saturating_sub(self.next) >= PREFETCH_MIN {
            let rec = self.rec.clone();
            let from = self.next;
            std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Option<Event>>>(PREFETCH_QUEUE);
                s.spawn(move || {
                    // a file that cannot be opened again: nothing is sent, the loop below
                    // reads the events itself
                    let Ok(mut reader) = Reader::new(&rec) else {
                        return;
                    };
                    for chunk in rec.events[from..target].chunks(PREFETCH_CHUNK) {
                        let evs = chunk.iter().map(|idx| reader.event(idx)).collect();
                        if tx.send(evs).is_err() {
                            return;
                        }
                    }
                });
                while let Ok(evs) = rx.recv() {
                    for ev in evs {
                        let Some(idx) = self.rec.events.get(self.next).copied() else {
                            return;
                        };
                        self.apply_read(idx, ev);
                    }
                }
            });
        }
        while self.next < target && self.step() {}
    }

    /// Be just after `target` events: start from the latest state known at or before it —
    /// the current one, a checkpoint held in memory, or one of the journal's — and apply the
    /// events from there.
    pub fn seek_events(&mut self, target: usize) {
        let target = target.min(self.rec.events.len()).max(self.origin);
        // going forwards, a starting point must be ahead of where we are to be worth it
        let above = if target >= self.next {
            Some(self.next)
        } else {
            None
        };
        let ok = |n: usize| n <= target && above.is_none_or(|a| n > a);
        loop {
            let memory = self
                .checkpoints
                .iter()
                .enumerate()
                .filter(|(_, (n, _))| ok(*n))
                .max_by_key(|(_, (n, _))| *n)
                .map(|(i, (n, _))| (*n, i));
            let stored = self
                .rec
                .checkpoints
                .iter()
                .enumerate()
                // decoding one costs about as much as re-running a few hundred events
                .filter(|(i, c)| {
                    !self.bad[*i]
                        && ok(c.events)
                        && above.is_none_or(|a| c.events > a + STORED_JUMP_MIN)
                })
                .max_by_key(|(_, c)| c.events)
                .map(|(i, c)| (c.events, i));
            let from_memory = match (memory, stored) {
                (Some((n, _)), Some((m, _))) => n >= m,
                (m, _) => m.is_some(),
            };
            match (memory, stored) {
                (Some((n, i)), _) if from_memory => {
                    let e = self.checkpoints[i].1.clone();
                    self.restore(n, e);
                }
                (_, Some((n, i))) => {
                    let c = self.rec.checkpoints[i];
                    let rec = self.rec.clone();
                    match self.reader.checkpoint(&c, &rec) {
                        Ok(e) => self.restore(n, e),
                        Err(e) => {
                            self.bad[i] = true;
                            self.problems
                                .push(format!("{e} — checkpoint skipped, events re-run instead"));
                            continue;
                        }
                    }
                }
                _ => {
                    if above.is_none() {
                        let fresh = Engine::new(self.rec.settings.config());
                        self.restore(0, fresh);
                    }
                }
            }
            break;
        }
        self.run_to(target);
    }

    /// Events applied since the player was made (what its seeks re-ran).
    pub fn applied(&self) -> usize {
        self.applied
    }

    /// Seek by re-running events only, as if the journal had no checkpoints (to compare).
    pub fn ignore_journal_checkpoints(&mut self) {
        self.bad.iter_mut().for_each(|b| *b = true);
    }

    /// Checkpoints of the journal that could not be read, as they were met.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Run through the whole recording once to take checkpoints (so that later seeks are
    /// quick), and return them; the player's own position does not change.
    pub fn scan_checkpoints(
        rec: std::sync::Arc<Recording>,
    ) -> Result<Vec<(usize, Engine)>, ReplayError> {
        let mut p = Player::new(rec)?;
        p.seek_events(usize::MAX);
        Ok(p.checkpoints)
    }

    /// Take checkpoints made by [`Player::scan_checkpoints`].
    pub fn adopt_checkpoints(&mut self, cps: Vec<(usize, Engine)>, every: f64) {
        if cps.len() >= self.checkpoints.len() {
            self.checkpoints = cps;
            self.every = every;
        }
    }

    /// Checkpoints held.
    pub fn checkpoint_count(&self) -> usize {
        self.checkpoints.len()
    }

    /// Be just after every event at or before `t`.
    pub fn seek_time(&mut self, t: f64) {
        let target = self.rec.events.partition_point(|e| e.t <= t);
        self.seek_events(target);
    }
}

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
        v.problems.push(format!(
            "part {} of a session: checked from its first checkpoint (line {}) on",
            rec.part, rec.checkpoints[i].line
        ));
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
                    if let Effect::Execute {
                        id, key, action, ..
                    } = fx
                    {
                        intents.push_back((id, key, action));
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

/// One incident in the report.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentSummary {
    /// Id.
    pub id: u64,
    /// Model.
    pub model: String,
    /// What was injected on the model before it (simulated fleets), with when.
    pub injected: Option<(String, f64)>,
    /// First symptom.
    pub onset: f64,
    /// Opened.
    pub opened: f64,
    /// Injection (or onset) to opening, seconds.
    pub detection_delay_secs: f64,
    /// Resolved.
    pub resolved: Option<f64>,
    /// Injection (or onset) to the signals being back for good, seconds.
    pub mttr_secs: Option<f64>,
    /// Top diagnosis.
    pub diagnosis: Option<String>,
}

/// The incident report of a recording.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// File.
    pub file: String,
    /// Source.
    pub source: String,
    /// Recorded by.
    pub user: String,
    /// First and last event time.
    pub from: f64,
    /// Last event time.
    pub to: f64,
    /// Incidents.
    pub incidents: Vec<IncidentSummary>,
    /// Decisions (who, when, what, why).
    pub decisions: Vec<crate::engine::remedy::AuditEntry>,
    /// Remediations: (id, model, playbook, final state, action).
    pub remediations: Vec<(u64, String, String, String, String)>,
    /// Timeline: the log entries that matter (incidents, proposals, decisions, actions,
    /// outcomes, phase changes, notes).
    pub timeline: Vec<(f64, String, String)>,
    /// Lines skipped while reading.
    pub problems: Vec<String>,
}

/// Build the incident report by re-running the recording.
pub fn summary(path: &Path) -> Result<Summary, ReplayError> {
    let rec = std::sync::Arc::new(Recording::open(path)?);
    let mut p = Player::new(rec.clone())?;
    let mut injected: Vec<(u32, String, f64)> = Vec::new();
    let mut timeline = Vec::new();
    let mut logged = 0;
    while p.next < rec.events.len() {
        let idx = rec.events[p.next];
        let ev = p.reader.event(&idx);
        if let Some(Event::Change {
            t,
            model,
            change: crate::engine::Change::Injected { incident },
        }) = &ev
        {
            injected.push((*model, incident.name().to_string(), *t));
        }
        // the event read once, applied as `step` would
        p.apply_read(idx, ev);
        for e in p.engine.log_since(logged) {
            if matches!(
                e.kind,
                LogKind::Incident
                    | LogKind::Proposal
                    | LogKind::Decision
                    | LogKind::Action
                    | LogKind::Outcome
                    | LogKind::Phase
                    | LogKind::Note
                    | LogKind::Injection
            ) {
                timeline.push((
                    e.t,
                    e.model.clone().unwrap_or_default(),
                    format!("{}: {}", e.kind.label(), e.text),
                ));
            }
        }
        logged = p.engine.log_seq();
    }
    let e = p.engine();
    let incidents = e
        .incidents()
        .map(|i| {
            let inj = injected
                .iter()
                .filter(|(m, _, t)| *m == i.model && *t <= i.opened)
                .max_by(|a, b| a.2.total_cmp(&b.2))
                .map(|(_, k, t)| (k.clone(), *t));
            let start = inj.as_ref().map_or(i.onset, |x| x.1.min(i.onset));
            IncidentSummary {
                id: i.id,
                model: i.key.clone(),
                injected: inj,
                onset: i.onset,
                opened: i.opened,
                detection_delay_secs: i.opened - start,
                resolved: i.resolved,
                mttr_secs: i
                    .resolved
                    .map(|r| (r - crate::engine::incident::RESOLVE_AFTER - start).max(0.0)),
                diagnosis: i
                    .top()
                    .map(|h| format!("{} ({:.0} %)", h.cause, h.confidence * 100.0)),
            }
        })
        .collect();
    let snap = e.snapshot(None, 0);
    let (from, to) = rec.span();
    Ok(Summary {
        file: path.display().to_string(),
        source: rec.source.clone(),
        user: rec.user.clone(),
        from,
        to,
        incidents,
        decisions: snap.audit.as_ref().clone(),
        remediations: snap
            .remediations
            .iter()
            .map(|r| {
                (
                    r.id,
                    r.key.clone(),
                    r.playbook.clone(),
                    r.state.word().to_string(),
                    r.action.describe(),
                )
            })
            .collect(),
        timeline,
        problems: rec.problems.clone(),
    })
}

fn mins(s: Option<f64>) -> String {
    s.map_or_else(|| "—".to_string(), |v| format!("{:.1} min", v / 60.0))
}

/// The report as Markdown.
pub fn summary_markdown(s: &Summary) -> String {
    use crate::domain::time::datetime;
    let mut o = format!(
        "# Incident report: {}\n\nSource: {} · recorded by {} · {} → {} UTC\n\n## Incidents\n\n",
        s.file,
        s.source,
        s.user,
        datetime(s.from),
        datetime(s.to)
    );
    if s.incidents.is_empty() {
        o.push_str("None.\n");
    } else {
        o.push_str("| # | model | injected | opened | detection delay | diagnosis | resolved | MTTR |\n|---|---|---|---|---|---|---|---|\n");
        for i in &s.incidents {
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                i.id,
                i.model,
                i.injected.as_ref().map_or("—".into(), |x| x.0.clone()),
                datetime(i.opened),
                mins(Some(i.detection_delay_secs)),
                i.diagnosis.clone().unwrap_or_else(|| "—".into()),
                i.resolved.map_or("open".into(), datetime),
                mins(i.mttr_secs)
            ));
        }
    }
    o.push_str("\n## Decisions\n\n");
    if s.decisions.is_empty() {
        o.push_str("None.\n");
    }
    for d in &s.decisions {
        o.push_str(&format!(
            "- {} **{}** {} {}{}\n",
            datetime(d.t),
            d.who,
            d.what,
            d.subject,
            d.reason
                .as_ref()
                .map(|r| format!(" — “{r}”"))
                .unwrap_or_default()
        ));
    }
    o.push_str("\n## Remediations\n\n");
    if s.remediations.is_empty() {
        o.push_str("None.\n");
    }
    for (id, model, pb, state, action) in &s.remediations {
        o.push_str(&format!("- R{id} {action} on {model} ({pb}): {state}\n"));
    }
    o.push_str("\n## Timeline\n\n");
    for (t, model, text) in &s.timeline {
        o.push_str(&format!("- {} {model} {text}\n", datetime(*t)));
    }
    if !s.problems.is_empty() {
        o.push_str("\n## Lines skipped\n\n");
        for p in &s.problems {
            o.push_str(&format!("- {p}\n"));
        }
    }
    o
}

/// What the console asks of the player.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
    /// Pause (true) or play.
    Pause(bool),
    /// Playback speed.
    Speed(f64),
    /// One event forward (true) or back.
    Step(bool),
    /// To the next (true) or previous incident or decision; pauses there.
    Mark(bool),
    /// To a time; pauses there.
    Seek(f64),
}

/// The player's state as the status bar shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayState {
    /// Playing.
    pub playing: bool,
    /// Speed.
    pub speed: f64,
    /// Virtual time of the playback cursor.
    pub cursor: f64,
}

impl Player {
    /// Apply a control; returns a message for the operator when there is one.
    pub fn control(&mut self, c: Control, st: &mut PlayState) -> Option<String> {
        match c {
            Control::Pause(p) => st.playing = !p && self.next < self.rec.events.len(),
            Control::Speed(s) => st.speed = s.clamp(1.0, 1000.0),
            Control::Step(fwd) => {
                st.playing = false;
                if fwd {
                    self.step();
                } else {
                    self.seek_events(self.next.saturating_sub(1));
                }
                st.cursor = self.engine.time();
            }
            Control::Mark(next) => {
                st.playing = false;
                let pos = self.next;
                let m = if next {
                    self.rec.marks.iter().find(|m| m.events > pos).cloned()
                } else {
                    self.rec
                        .marks
                        .iter()
                        .rev()
                        .find(|m| m.events < pos)
                        .cloned()
                };
                match m {
                    Some(m) => {
                        self.seek_events(m.events);
                        st.cursor = self.engine.time();
                        return Some(format!("at {}", m.what));
                    }
                    None => {
                        return Some(if next {
                            "no later incident or decision".to_string()
                        } else {
                            "no earlier incident or decision".to_string()
                        });
                    }
                }
            }
            Control::Seek(t) => {
                st.playing = false;
                self.seek_time(t);
                st.cursor = self.engine.time();
            }
        }
        None
    }

    /// Advance playback to the cursor (at most `budget` events); false at the end.
    pub fn advance(&mut self, st: &mut PlayState, budget: usize) -> bool {
        let mut n = 0;
        while n < budget {
            match self.next_time() {
                Some(t) if t <= st.cursor => {
                    self.step();
                    n += 1;
                }
                Some(_) => return true,
                None => return false,
            }
        }
        true
    }
}
