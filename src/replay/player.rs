//! The player: re-runs the engine over a recording from the nearest checkpoint, steps, seeks and
//! jumps between marks, and answers the console's [`Control`]s.

use super::ReplayError;
use super::recording::{Idx, Reader, Recording};
use crate::domain::Playback;
use crate::engine::{Effect, Engine, Event};

/// Replays a recording into an engine; seeks forwards by applying events and backwards from
/// the nearest checkpoint (clones of the engine taken every so often, bounded in number).
pub struct Player {
    /// The recording.
    pub rec: std::sync::Arc<Recording>,
    pub(super) reader: Reader,
    pub(super) engine: Engine,
    pub(super) next: usize,
    /// First playable position …
    origin: usize,
    /// … the sequence number of the event it follows (0: the start) …
    pub(super) origin_seq: u64,
    /// … and the checkpoint it is (by index in `rec.checkpoints`).
    pub(super) origin_cp: Option<usize>,
    checkpoints: Vec<(usize, Engine)>,
    every: f64,
    last_cp: f64,
    /// The journal's checkpoints that could not be read (by index in `rec.checkpoints`).
    bad: Vec<bool>,
    /// Events applied since the player was made (seeks count what they re-ran).
    applied: usize,
    pub(super) problems: Vec<String>,
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
        if rec.begins_midway() {
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
                p.problems.push(match &rec.resumed {
                    Some(from) => format!(
                        "a session resumed from {from} and no usable checkpoint: replayed from an empty state, without what it resumed"
                    ),
                    None => format!(
                        "part {} of a session and no usable checkpoint: replayed from an empty state, without what came before this part",
                        rec.part
                    ),
                });
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
    pub(crate) fn checkpoint_usable(&self, i: usize) -> bool {
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
    pub(crate) fn next_time(&self) -> Option<f64> {
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
    pub(super) fn apply_read(&mut self, idx: Idx, ev: Option<Event>) {
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
    pub fn control(&mut self, c: Playback, st: &mut PlayState) -> Option<String> {
        match c {
            Playback::Pause(p) => st.playing = !p && self.next < self.rec.events.len(),
            Playback::Speed(s) => st.speed = s.clamp(1.0, 1000.0),
            Playback::Step(fwd) => {
                st.playing = false;
                if fwd {
                    self.step();
                } else {
                    self.seek_events(self.next.saturating_sub(1));
                }
                st.cursor = self.engine.time();
            }
            Playback::Mark(next) => {
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
            Playback::Seek(t) => {
                st.playing = false;
                self.seek_time(t);
                st.cursor = self.engine.time();
            }
        }
        None
    }

    /// Advance playback to the cursor (at most `budget` events); false at the end.
    pub(crate) fn advance(&mut self, st: &mut PlayState, budget: usize) -> bool {
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
