//! A recording opened for replay: an index of its events, checkpoints and marks (incidents,
//! decisions) built by scanning the file in slices on several threads, and the [`Reader`] that
//! fetches events by index — the file itself is never held in memory.

use super::{MAX_PROBLEMS, ReplayError};
use crate::engine::{Command, Engine, Event, LogKind};
use crate::journal::{FORMAT, Record, Settings};
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

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
    /// The journal the session resumed from (it begins with the checkpoint of that state).
    pub resumed: Option<String>,
}

impl Recording {
    /// True when the file begins mid-way (a later part, or a resumed session): it plays from
    /// its first checkpoint.
    pub fn begins_midway(&self) -> bool {
        self.part > 0 || self.resumed.is_some()
    }
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
            resumed,
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
            resumed,
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
    pub(crate) fn checkpoint_state(&mut self, c: &StoredCheckpoint) -> Result<Vec<u8>, String> {
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
