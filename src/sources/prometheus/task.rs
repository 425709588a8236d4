//! The source task: its state (what it queries, what it last sent), the live mode (backfill,
//! then a round of instant queries every step) and the clock events that keep data age moving.
//! History mode is in `history.rs`.

use super::*;

pub(super) use crate::clock::unix_now;

/// What one round of requests gave.
pub(super) struct Fetched {
    /// Rows of samples, each at its time.
    pub(super) rows: Vec<(f64, Vec<(u32, Sample)>)>,
    /// Warnings the server gave, each once.
    pub(super) notes: Vec<String>,
}

/// One Prometheus source's state, shared by the live and history modes.
pub(super) struct Src {
    /// Seconds between the samples asked for.
    pub(super) step: f64,
    /// Seconds of history fetched before the first live round (or the window).
    pub(super) backfill: f64,
    /// The query of each signal.
    pub(super) queries: Vec<(Signal, String)>,
    /// The client behind its breaker and retries.
    pub(super) g: Guarded,
    /// The models known by their labels.
    pub(super) reg: Registry,
    /// Where events go (the engine).
    pub(super) tx: mpsc::Sender<Event>,
    /// How the source is named in its status and logs.
    pub(super) base_label: String,
    /// Replay speed (1 live).
    pub(super) speed: f64,
    /// Time of the last row sent.
    pub(super) last_t: Option<f64>,
    /// The last status sent (state, label with its notice, speed), so an unchanged one is not
    /// sent again.
    pub(super) sent: Option<(SourceState, String, f64)>,
    /// The console's pause and speed controls (history mode).
    pub(super) pace: Option<mpsc::Receiver<Playback>>,
    /// Seconds between new values, measured from the window fetched in history mode (where all
    /// the data come from range queries; live, the last backfill need not say how fine the
    /// data are now, and `stale_after_seconds` is the knob).
    pub(super) resolution: Option<f64>,
    /// History mode.
    pub(super) history: bool,
}

impl Src {
    pub(super) fn status(&self, state: SourceState, label: String) -> SourceStatus {
        SourceStatus {
            kind: if self.history {
                SourceKind::History
            } else {
                SourceKind::Prometheus
            },
            label,
            state,
            speed: self.speed,
            step: self.sample_step(),
        }
    }

    /// Seconds between samples as the engine should count them: the step, or the data's own
    /// resolution when that is coarser (so staleness is not declared between two new values).
    pub(super) fn sample_step(&self) -> f64 {
        match self.resolution {
            Some(r) if step_warning(self.step, r).is_some() => r,
            _ => self.step,
        }
    }

    /// Learn the data's resolution from fetched rows.
    fn observe_resolution(&mut self, rows: &[(f64, Vec<(u32, Sample)>)]) {
        if !self.history {
            return;
        }
        if let Some(r) = data_resolution(rows) {
            if self.resolution != Some(r)
                && let Some(w) = step_warning(self.step, r)
            {
                tracing::warn!("{}: {w}", self.base_label);
            }
            self.resolution = Some(r);
        }
    }

    pub(super) async fn send(&self, ev: Event) -> bool {
        self.tx.send(ev).await.is_ok()
    }

    /// Send the status when it differs from the last one sent (backfill progress always).
    pub(super) async fn set_status(&mut self, t: f64, state: SourceState, notice: &str) -> bool {
        // the step warning stays for the session, first, whatever else the round says
        let step_note = self.resolution.and_then(|r| step_warning(self.step, r));
        let notice = match (step_note, notice.is_empty()) {
            (Some(w), true) => format!("warning: {w}"),
            (Some(w), false) => format!("warning: {w}; {notice}"),
            (None, _) => notice.to_string(),
        };
        let label = label_with(&self.base_label, &notice);
        let same = self
            .sent
            .as_ref()
            .is_some_and(|(s, l, v)| *s == state && *l == label && *v == self.speed);
        if same {
            return true;
        }
        self.sent = Some((state.clone(), label.clone(), self.speed));
        let st = self.status(state, label);
        self.send(Event::Source { t, status: st }).await
    }

    /// The last status sent said the server is down.
    pub(super) fn is_down(&self) -> bool {
        matches!(self.sent, Some((SourceState::Down { .. }, _, _)))
    }

    /// Announce new models, then one observation event per row (rows after the last data only).
    pub(super) async fn emit(&mut self, rows: Vec<(f64, Vec<(u32, Sample)>)>) -> bool {
        let metas = self.reg.take_announcements();
        if !metas.is_empty() {
            let t = rows.first().map_or_else(unix_now, |r| r.0);
            if !self.send(Event::Models { t, models: metas }).await {
                return false;
            }
        }
        for (t, samples) in rows {
            if self.last_t.is_some_and(|l| t <= l) {
                continue;
            }
            self.last_t = Some(t);
            if !self.send(Event::Observations { t, samples }).await {
                return false;
            }
        }
        true
    }

    /// Every signal over `[start, end]` (one chunk, within the points limit), merged.
    /// `Err` when every query failed (the most telling error).
    pub(super) async fn fetch_range(&mut self, start: f64, end: f64) -> Result<Fetched, PromError> {
        let mut m = Merger::new();
        let mut notes = Vec::new();
        let mut errors = Vec::new();
        let queries = self.queries.clone();
        for (sig, q) in &queries {
            match self.g.query_range(q, start, end, self.step).await {
                Ok(r) => {
                    note_result(&mut notes, *sig, &r);
                    m.add_result(&mut self.reg, *sig, &r.series);
                }
                Err(e) => errors.push((*sig, e)),
            }
        }
        let f = self.finish(m, notes, errors)?;
        self.observe_resolution(&f.rows);
        Ok(f)
    }

    /// Every signal's instant query at `t`, merged.
    pub(super) async fn fetch_instant(&mut self, t: f64) -> Result<Fetched, PromError> {
        let mut m = Merger::new();
        let mut notes = Vec::new();
        let mut errors = Vec::new();
        let queries = self.queries.clone();
        for (sig, q) in &queries {
            match self.g.query(q, t).await {
                Ok(r) => {
                    note_result(&mut notes, *sig, &r);
                    // an instant vector's points carry the evaluation time
                    let series: Vec<Series> = r
                        .series
                        .into_iter()
                        .map(|mut s| {
                            for p in &mut s.points {
                                p.0 = t;
                            }
                            s
                        })
                        .collect();
                    m.add_result(&mut self.reg, *sig, &series);
                }
                Err(e) => errors.push((*sig, e)),
            }
        }
        self.finish(m, notes, errors)
    }

    fn finish(
        &mut self,
        m: Merger,
        mut notes: Vec<String>,
        errors: Vec<(Signal, PromError)>,
    ) -> Result<Fetched, PromError> {
        if !errors.is_empty() && errors.len() == self.queries.len() {
            let mut errors = errors;
            let i = errors
                .iter()
                .position(|(_, e)| !matches!(e, PromError::CircuitOpen { .. }))
                .unwrap_or(0);
            let (_, e) = errors.swap_remove(i);
            return Err(e);
        }
        for (sig, e) in errors {
            tracing::warn!("{}: {e}", sig.name());
            notes.push(format!("{} failed: {e}", sig.name()));
        }
        m.apply_versions(&mut self.reg);
        if m.duplicates() > 0 {
            notes.push(format!(
                "{} values dropped: a query returns several series per model; aggregate by ({}, {})",
                m.duplicates(),
                self.reg.labels.namespace_label,
                self.reg.labels.model_label
            ));
        }
        if m.unlabelled() > 0 {
            notes.push(format!(
                "{} series without a {} label ignored",
                m.unlabelled(),
                self.reg.labels.model_label
            ));
        }
        Ok(Fetched {
            rows: m.into_rows(self.last_t),
            notes,
        })
    }

    /// Fetch and emit `[start, end]` in chunks; `progress` sends `Backfilling` as it goes.
    pub(super) async fn fill(
        &mut self,
        start: f64,
        end: f64,
        progress: bool,
    ) -> Result<Vec<String>, PromError> {
        let chunks = split_range(start, end, self.step, POINTS_PER_REQUEST);
        let mut notes = Vec::new();
        let n = chunks.len().max(1);
        for (i, (s, e)) in chunks.into_iter().enumerate() {
            if progress {
                let st = SourceState::Backfilling {
                    progress: i as f64 / n as f64,
                };
                let t = self.last_t.unwrap_or(s);
                if !self.set_status(t, st, "").await {
                    return Ok(notes);
                }
            }
            let f = self.fetch_range(s, e).await?;
            for w in f.notes {
                if !notes.contains(&w) {
                    notes.push(w);
                }
            }
            if !self.emit(f.rows).await {
                return Ok(notes);
            }
        }
        Ok(notes)
    }

    /// One live round at the aligned time `t`: backfill any gap, then the instant queries.
    pub(super) async fn round(&mut self, t: f64) -> bool {
        let mut notes = Vec::new();
        let mut result = Ok(());
        if let Some((s, e)) = gap_range(self.last_t, t, self.step, self.backfill)
            && self.last_t.is_some()
        {
            match self.fill(s, e, false).await {
                Ok(n) => notes.extend(n),
                Err(e) => result = Err(e),
            }
        }
        if result.is_ok() {
            match self.fetch_instant(t).await {
                Ok(f) => {
                    notes.extend(f.notes);
                    if !self.emit(f.rows).await {
                        return false;
                    }
                }
                Err(e) => result = Err(e),
            }
        }
        match result {
            Ok(()) => {
                for n in &notes {
                    tracing::warn!("{}: {n}", self.base_label);
                }
                let notes = dedup(notes);
                self.set_status(t, SourceState::Live, &notice(&notes)).await
            }
            Err(e) => {
                if matches!(e, PromError::CircuitOpen { .. }) && self.is_down() {
                    return true;
                }
                tracing::warn!("{}: {e}", self.base_label);
                let error = if self.g.breaker().is_open() {
                    format!("{e} (circuit open: retrying with backoff)")
                } else {
                    e.to_string()
                };
                self.set_status(t, SourceState::Down { error }, "").await
            }
        }
    }
}

pub(super) fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

pub(super) fn note_result(notes: &mut Vec<String>, sig: Signal, r: &QueryResult) {
    for w in &r.warnings {
        tracing::warn!("prometheus {}: {w}", sig.name());
        // the same warning from several queries is shown once
        if !notes.contains(w) {
            notes.push(w.clone());
        }
    }
    for w in &r.infos {
        tracing::info!("prometheus {}: {w}", sig.name());
    }
}

/// Run the Prometheus source until cancelled or the engine goes away (see the module docs).
/// `known`: the models an engine already knows (resumed from its journal), which keep their
/// indices, in that order, new models coming after them (empty for a fresh engine).
/// `range = Some((from, to))` replays that past window (history mode) at `speed`, paused and
/// sped up by `pace`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    known: Vec<ModelMeta>,
    cfg: PrometheusConfig,
    models: BTreeMap<String, ModelConfig>,
    range: Option<(f64, f64)>,
    speed: f64,
    pace: Option<mpsc::Receiver<Playback>>,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let step = if cfg.step_seconds.is_finite() && cfg.step_seconds > 0.0 {
        cfg.step_seconds
    } else {
        15.0
    };
    let speed = if range.is_some() {
        if speed.is_finite() {
            speed.clamp(HISTORY_SPEED_RANGE.0, HISTORY_SPEED_RANGE.1)
        } else {
            1.0
        }
    } else {
        1.0
    };
    let base_label = if range.is_some() {
        format!("{} (history)", source_label(&cfg.url))
    } else {
        source_label(&cfg.url)
    };
    let client = match PromClient::new(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            let status = SourceStatus {
                kind: if range.is_some() {
                    SourceKind::History
                } else {
                    SourceKind::Prometheus
                },
                label: base_label,
                state: SourceState::Down {
                    error: e.to_string(),
                },
                speed,
                step,
            };
            if tx
                .send(Event::Source {
                    t: unix_now(),
                    status,
                })
                .await
                .is_ok()
                && range.is_none()
            {
                clock_until_cancelled(&tx, &cancel).await;
            }
            return;
        }
    };
    let mut src = Src {
        step,
        backfill: (cfg.backfill_hours * 3600.0).max(0.0),
        queries: cfg
            .queries
            .iter()
            .map(|(s, q)| (s, q.to_string()))
            .collect(),
        g: Guarded::new(client, step),
        reg: Registry::knowing(LabelMap::from_config(&cfg), models, known),
        tx: tx.clone(),
        base_label,
        speed,
        last_t: None,
        sent: None,
        pace,
        resolution: None,
        history: range.is_some(),
    };
    let task = async {
        match range {
            Some((from, to)) => history(&mut src, from, to).await,
            None => live(&mut src).await,
        }
    };
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = task => {}
    }
}

pub(super) async fn clock_until_cancelled(tx: &mpsc::Sender<Event>, cancel: &CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if tx.send(Event::Clock { t: unix_now() }).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Run `fut` while sending a clock event every second (so data age moves during slow requests).
pub(super) async fn with_clock<F: std::future::Future>(
    tx: &mpsc::Sender<Event>,
    fut: F,
) -> Option<F::Output> {
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            r = &mut fut => return Some(r),
            _ = tick.tick() => {
                if tx.send(Event::Clock { t: unix_now() }).await.is_err() {
                    return None;
                }
            }
        }
    }
}

pub(super) async fn live(src: &mut Src) {
    let tx = src.tx.clone();
    let step = src.step;
    // backfill up to the step before now, then the first live round at once
    let now_aligned = align_down(unix_now(), step);
    if let Some((s, e)) = gap_range(None, now_aligned, step, src.backfill) {
        let filled = with_clock(&tx, src.fill(s, e, true)).await;
        match filled {
            None => return,
            Some(Ok(notes)) => {
                for n in &notes {
                    tracing::warn!("{}: backfill: {n}", src.base_label);
                }
            }
            Some(Err(e)) => {
                tracing::warn!("{}: backfill failed: {e}", src.base_label);
                // the gap is filled again when the server answers
                if src.last_t.is_none() {
                    src.last_t = Some(s - step);
                }
                let st = SourceState::Down {
                    error: format!("backfill failed: {e}"),
                };
                if !src.set_status(unix_now(), st, "").await {
                    return;
                }
            }
        }
    }
    let mut next_round = now_aligned;
    let mut next_clock = unix_now() + 1.0;
    loop {
        let now = unix_now();
        if now >= next_round {
            let t = align_down(now, step);
            match with_clock(&tx, src.round(t)).await {
                Some(true) => {}
                _ => return,
            }
            next_round = align_down(unix_now(), step) + step;
            continue;
        }
        if now >= next_clock {
            if tx.send(Event::Clock { t: now }).await.is_err() {
                return;
            }
            next_clock = now + 1.0;
        }
        let wake = next_round.min(next_clock);
        tokio::time::sleep(Duration::from_secs_f64((wake - unix_now()).clamp(0.0, 1.0))).await;
    }
}
