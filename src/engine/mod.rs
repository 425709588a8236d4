//! The deterministic engine: `apply(Event) -> Vec<Effect>`.
//!
//! The engine owns the fleet's state (histories, health, the log) and is a pure reducer: time
//! comes in events, it never reads the wall clock, does no I/O and spawns nothing, so the same
//! events always give the same state (replay, tests and backtests rely on it). The engine task
//! (`crate::app`) owns it, journals events and effects, and publishes [`Snapshot`]s.

pub mod anomaly;
mod decisions;
pub mod event;
pub mod incident;
pub mod plan;
mod proposals;
pub mod remedy;
pub mod snapshot;
mod verification;

pub use event::{Change, Command, Effect, Event, SourceKind, SourceState, SourceStatus};
pub use snapshot::{
    BudgetView, FleetRow, LogEntry, LogKind, ModelDetail, SPARK_LEN, Snapshot, Status, StatusCounts,
};

use crate::autonomy::{ClassOverrides, Phase};
use crate::diagnosis::{Cause, ChangeNote, Context, creep, diagnose};
use crate::fleet::{History, ModelMeta, Resolution, Signal};
use crate::forecast::deploy::{AdviceConfig, DeployRecord, DurationModel};
use crate::remediate::guardrails::{Guardrails, Ledger};
use crate::remediate::playbook::Playbook;
use crate::remediate::{OutcomeStats, Remediation};
use anomaly::{Anomaly, Watch};
use incident::{Incident, REDIAGNOSE_EVERY, RESOLVE_AFTER};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Service-level objectives a model's health is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Objectives {
    /// p95 latency above this (ms) is a warning.
    pub latency_warn_ms: f64,
    /// p95 latency above this (ms) is critical.
    pub latency_crit_ms: f64,
    /// Error rate above this is a warning.
    pub error_warn: f64,
    /// Error rate above this is critical.
    pub error_crit: f64,
    /// Accuracy below this is a warning.
    pub accuracy_warn: f64,
    /// Accuracy below this is critical.
    pub accuracy_crit: f64,
    /// CPU above this is a warning.
    pub cpu_warn: f64,
    /// CPU above this is critical.
    pub cpu_crit: f64,
    /// No sample for this many source steps makes a model stale.
    pub stale_steps: f64,
}

impl Default for Objectives {
    fn default() -> Self {
        Objectives {
            latency_warn_ms: 200.0,
            latency_crit_ms: 500.0,
            error_warn: 0.01,
            error_crit: 0.05,
            accuracy_warn: 0.85,
            accuracy_crit: 0.80,
            cpu_warn: 0.85,
            cpu_crit: 0.95,
            stale_steps: 6.0,
        }
    }
}

/// Settings of an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Starting phase.
    pub phase: Phase,
    /// True when no actuator exists.
    pub read_only: bool,
    /// Health objectives.
    pub objectives: Objectives,
    /// Log entries kept in memory.
    pub log_capacity: usize,
    /// Fleet-wide replica budget shared by priority.
    pub replica_budget: Option<u32>,
    /// Seconds from asking for a pod to its being ready (planning lead time).
    pub pod_startup: f64,
    /// Playbooks.
    pub playbooks: Arc<Vec<Playbook>>,
    /// Guardrails.
    pub guardrails: Guardrails,
    /// Outcomes learnt so far (loaded from the data dir).
    pub stats: OutcomeStats,
    /// Operator overrides of the phase defaults per action class.
    pub overrides: ClassOverrides,
    /// Seconds a proposal waits for a decision before it expires.
    pub approval_timeout: f64,
    /// Name of the actuator (none in a read-only session).
    pub actuator: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            phase: Phase::Foundation,
            read_only: false,
            objectives: Objectives::default(),
            log_capacity: 2000,
            replica_budget: None,
            pod_startup: crate::sim::POD_STARTUP,
            playbooks: Arc::new(crate::remediate::playbook::builtins()),
            guardrails: Guardrails::default(),
            stats: OutcomeStats::default(),
            overrides: ClassOverrides::default(),
            approval_timeout: 1800.0,
            actuator: None,
        }
    }
}

/// Consecutive evaluations a new health must hold before it is reported (hysteresis).
const HEALTH_HOLD: u8 = 3;
/// Consecutive healthy evaluations before a model is ok again (one minute at 5 s).
const RECOVER_HOLD: u8 = 12;
/// An incident resolved this recently is reopened rather than a new one opened (seconds).
const REOPEN_WITHIN: f64 = 1800.0;
/// Smoothing of the values health is judged on (per sample).
const SMOOTH: f32 = 0.3;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ModelState {
    meta: Arc<ModelMeta>,
    history: History,
    smooth: [f32; Signal::COUNT],
    status: Status,
    reason: String,
    candidate: Status,
    candidate_n: u8,
    watch: Watch,
    changes: VecDeque<ChangeNote>,
    logged: [f64; Signal::COUNT],
    incident: Option<u64>,
    creeping: Option<String>,
    plan: plan::PlanState,
    pending_deploy: Option<(String, f64)>,
    /// Registered candidate versions: (number, offline accuracy, registered at).
    candidates: Vec<(u32, f64, f64)>,
}

/// Changes remembered per model for diagnosis.
const CHANGES_KEPT: usize = 16;
/// Seconds an anomaly keeps a model's health at warn.
const ANOMALY_HOLD: f64 = 120.0;
/// Seconds between two detection log entries of one signal of one model.
const DETECTION_LOG_EVERY: f64 = 600.0;
/// Seconds between two checks for resource creep.
const CREEP_CHECK_EVERY: f64 = 60.0;
/// Relative CPU slope per hour (beyond traffic's) that counts as creep.
const CREEP_SLOPE: f64 = 0.25;
/// Fit a creep must have (r²).
const CREEP_R2: f64 = 0.7;
/// Past deployments kept to train the duration predictor.
const DEPLOYS_KEPT: usize = 2000;
/// Incidents kept (open and recently resolved).
const INCIDENTS_KEPT: usize = 200;

impl ModelState {
    fn new(meta: ModelMeta) -> Self {
        ModelState {
            meta: Arc::new(meta),
            history: History::new(),
            smooth: [f32::NAN; Signal::COUNT],
            status: Status::Unknown,
            reason: "no data yet".to_string(),
            candidate: Status::Unknown,
            candidate_n: 0,
            watch: Watch::default(),
            changes: VecDeque::new(),
            logged: [f64::NEG_INFINITY; Signal::COUNT],
            incident: None,
            creeping: None,
            plan: plan::PlanState::Pending,
            pending_deploy: None,
            candidates: Vec::new(),
        }
    }
}

/// The engine.
///
/// Its whole state but the settings (which a journal's header carries) serialises, so that a
/// journal can hold checkpoints of it ([`Engine::checkpoint`], [`Engine::restore`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Engine {
    #[serde(skip)]
    cfg: EngineConfig,
    models: Vec<ModelState>,
    index: BTreeMap<String, u32>,
    log: VecDeque<Arc<LogEntry>>,
    seq: u64,
    t: f64,
    last_data: Option<f64>,
    source: SourceStatus,
    phase: Phase,
    notices: Vec<String>,
    /// Log sequence numbers of the notices (left out of checkpoints).
    #[serde(skip)]
    notice_seqs: Vec<u64>,
    incidents: VecDeque<Incident>,
    next_incident: u64,
    last_creep_check: f64,
    plan_cursor: usize,
    budget_cuts: Vec<(String, u32, u32)>,
    deploys: VecDeque<DeployRecord>,
    deploy_model: Option<DurationModel>,
    remediations: VecDeque<Remediation>,
    next_remediation: u64,
    ledger: Ledger,
    overrides: ClassOverrides,
    stats: OutcomeStats,
    audit: VecDeque<remedy::AuditEntry>,
    guard_blocks: u64,
    actions_run: u64,
    /// Wall-clock seconds the source's clock has covered: its time divided by its speed,
    /// counted while it delivers (live or down), so that a human's time to decide is
    /// measured in human seconds, from the events alone.
    #[serde(default)]
    wall: f64,
}

/// Judge smoothed values against objectives: the worst status and its reason.
pub fn judge(v: &[f32; Signal::COUNT], o: &Objectives) -> (Status, String) {
    let mut worst = Status::Ok;
    let mut reason = String::new();
    let mut consider = |s: Status, why: String| {
        if s.severity() > worst.severity() {
            worst = s;
            reason = why;
        }
    };
    let lat = f64::from(v[Signal::LatencyP95.index()]);
    if lat > o.latency_crit_ms {
        consider(
            Status::Crit,
            format!("p95 {lat:.0} ms > {:.0} ms", o.latency_crit_ms),
        );
    } else if lat > o.latency_warn_ms {
        consider(
            Status::Warn,
            format!("p95 {lat:.0} ms > {:.0} ms", o.latency_warn_ms),
        );
    }
    let err = f64::from(v[Signal::ErrorRate.index()]);
    if err > o.error_crit {
        consider(
            Status::Crit,
            format!(
                "errors {:.1} % > {:.1} %",
                err * 100.0,
                o.error_crit * 100.0
            ),
        );
    } else if err > o.error_warn {
        consider(
            Status::Warn,
            format!(
                "errors {:.1} % > {:.1} %",
                err * 100.0,
                o.error_warn * 100.0
            ),
        );
    }
    let acc = f64::from(v[Signal::Accuracy.index()]);
    if acc < o.accuracy_crit {
        consider(
            Status::Crit,
            format!("accuracy {acc:.3} < {:.2}", o.accuracy_crit),
        );
    } else if acc < o.accuracy_warn {
        consider(
            Status::Warn,
            format!("accuracy {acc:.3} < {:.2}", o.accuracy_warn),
        );
    }
    let cpu = f64::from(v[Signal::Cpu.index()]);
    if cpu > o.cpu_crit {
        consider(
            Status::Crit,
            format!("CPU {:.0} % > {:.0} %", cpu * 100.0, o.cpu_crit * 100.0),
        );
    } else if cpu > o.cpu_warn {
        consider(
            Status::Warn,
            format!("CPU {:.0} % > {:.0} %", cpu * 100.0, o.cpu_warn * 100.0),
        );
    }
    (worst, reason)
}

/// What the duration predictor knows of a deploy of `m` starting at `start`.
fn deploy_record(m: &ModelState, o: &Objectives, start: f64, duration: f64) -> DeployRecord {
    let lat = f64::from(m.smooth[Signal::LatencyP95.index()]);
    DeployRecord {
        hour: (start.rem_euclid(86_400.0) / 3600.0) as u8,
        weekday: ((start / 86_400.0).floor() as i64 + 3).rem_euclid(7) as u8,
        model_size_gb: m.meta.size_gb,
        complexity: m.meta.complexity,
        recent_latency_ratio: if lat.is_finite() {
            lat / o.latency_warn_ms
        } else {
            1.0
        },
        duration_secs: duration,
    }
}

/// `HH:MM` UTC.
fn hhmm(t: f64) -> String {
    let s = t.rem_euclid(86_400.0) as i64;
    format!("{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

/// Signals out of objectives.
fn objective_breaches(v: &[f32; Signal::COUNT], o: &Objectives) -> Vec<Signal> {
    let g = |s: Signal| f64::from(v[s.index()]);
    let mut out = Vec::new();
    if g(Signal::LatencyP95) > o.latency_warn_ms {
        out.push(Signal::LatencyP95);
    }
    if g(Signal::ErrorRate) > o.error_warn {
        out.push(Signal::ErrorRate);
    }
    if g(Signal::Accuracy) < o.accuracy_warn {
        out.push(Signal::Accuracy);
    }
    if g(Signal::Cpu) > o.cpu_warn {
        out.push(Signal::Cpu);
    }
    out
}

impl Engine {
    /// A new engine with no models.
    pub fn new(cfg: EngineConfig) -> Self {
        let phase = cfg.phase;
        let overrides = cfg.overrides.clone();
        let stats = cfg.stats.clone();
        Engine {
            cfg,
            models: Vec::new(),
            index: BTreeMap::new(),
            log: VecDeque::new(),
            seq: 0,
            t: 0.0,
            last_data: None,
            source: SourceStatus {
                kind: SourceKind::Simulated,
                label: String::new(),
                state: SourceState::Live,
                speed: 1.0,
                step: 5.0,
            },
            phase,
            notices: Vec::new(),
            notice_seqs: Vec::new(),
            incidents: VecDeque::new(),
            next_incident: 0,
            last_creep_check: f64::NEG_INFINITY,
            plan_cursor: 0,
            budget_cuts: Vec::new(),
            deploys: VecDeque::new(),
            deploy_model: None,
            remediations: VecDeque::new(),
            next_remediation: 0,
            ledger: Ledger::default(),
            overrides,
            stats,
            audit: VecDeque::new(),
            guard_blocks: 0,
            actions_run: 0,
            wall: 0.0,
        }
    }

    /// Remediations, oldest first.
    pub fn remediations(&self) -> impl Iterator<Item = &Remediation> {
        self.remediations.iter()
    }

    /// Incidents kept, oldest first.
    pub fn incidents(&self) -> impl Iterator<Item = &incident::Incident> {
        self.incidents.iter()
    }

    /// Log entries newer than `seq`, oldest first (for the journal).
    pub fn log_since(&self, seq: u64) -> impl Iterator<Item = &Arc<LogEntry>> {
        let skip = self.log.partition_point(|e| e.seq <= seq);
        self.log.iter().skip(skip)
    }

    /// Sequence number of the newest log entry.
    pub fn log_seq(&self) -> u64 {
        self.seq
    }

    /// Outcome statistics.
    pub fn stats(&self) -> &OutcomeStats {
        &self.stats
    }

    /// Times the guardrails held an approved action back, and actions sent to the actuator.
    pub fn counters(&self) -> (u64, u64) {
        (self.guard_blocks, self.actions_run)
    }

    /// The engine clock.
    pub fn time(&self) -> f64 {
        self.t
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The engine's state (all but its settings) as bytes, for a journal checkpoint: a
    /// compact binary encoding that keeps every value exactly (NaN and infinities included).
    ///
    /// What the console said of itself ([`Engine::add_notice`]) is left out, and the log
    /// renumbered without it: a replay starting here shows what playing through shows.
    pub fn checkpoint(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.write_checkpoint(&mut out)?;
        Ok(out)
    }

    /// [`Engine::checkpoint`] written to `w` as it is encoded (no copy of the state is built
    /// when there are no notices to leave out: see [`Engine::forget_notices`]).
    pub fn write_checkpoint(&self, w: &mut impl std::io::Write) -> Result<(), String> {
        if !(self.notice_seqs.is_empty() && self.notices.is_empty()) {
            let mut e = self.clone();
            e.forget_notices();
            return e.write_checkpoint(w);
        }
        rmp_serde::encode::write(w, self).map_err(|e| format!("engine checkpoint: {e}"))
    }

    /// Leave out what the console said of itself ([`Engine::add_notice`]) and renumber the
    /// log without it, as a checkpoint records the state (for a copy that is about to be
    /// checkpointed: the notices are gone from it).
    pub fn forget_notices(&mut self) {
        if self.notice_seqs.is_empty() && self.notices.is_empty() {
            return;
        }
        let ns = std::mem::take(&mut self.notice_seqs);
        self.notices.clear();
        self.seq = self.seq.saturating_sub(ns.len() as u64);
        let log = std::mem::take(&mut self.log);
        self.log = log
            .into_iter()
            .filter(|x| ns.binary_search(&x.seq).is_err())
            .map(|x| match ns.partition_point(|&s| s < x.seq) as u64 {
                0 => x,
                shift => Arc::new(LogEntry {
                    seq: x.seq - shift,
                    ..(*x).clone()
                }),
            })
            .collect();
    }

    /// The state that the events determine, as bytes: [`Engine::checkpoint`] without the log
    /// and the notices, which also hold what the console said of itself ([`Engine::add_notice`]:
    /// a journal that failed, a missing actuator), which no re-run can know.
    pub fn fleet_state(&self) -> Result<Vec<u8>, String> {
        let mut e = self.clone();
        e.log.clear();
        e.seq = 0;
        e.notices.clear();
        e.notice_seqs.clear();
        e.checkpoint()
    }

    /// An engine from a [`Engine::checkpoint`] and the settings it ran with.
    pub fn restore(cfg: EngineConfig, bytes: &[u8]) -> Result<Engine, String> {
        let mut e: Engine =
            rmp_serde::from_slice(bytes).map_err(|e| format!("engine checkpoint: {e}"))?;
        e.consistent()
            .map_err(|why| format!("engine checkpoint is inconsistent: {why}"))?;
        e.cfg = cfg;
        Ok(e)
    }

    /// The cross-references a restored state relies on hold: indices of models in range,
    /// rings that fit their buffers.
    fn consistent(&self) -> Result<(), String> {
        let n = self.models.len();
        if self.index.len() != n {
            return Err(format!("{} models, {} in the index", n, self.index.len()));
        }
        for (key, &i) in &self.index {
            if self
                .models
                .get(i as usize)
                .is_none_or(|m| m.meta.key() != *key)
            {
                return Err(format!("index entry {key} → {i}"));
            }
        }
        if let Some(m) = self.models.iter().find(|m| !m.history.consistent()) {
            return Err(format!("history of {}", m.meta.key()));
        }
        if let Some(i) = self.incidents.iter().find(|i| i.model as usize >= n) {
            return Err(format!("incident #{} on model {}", i.id, i.model));
        }
        if let Some(r) = self.remediations.iter().find(|r| r.model as usize >= n) {
            return Err(format!("remediation R{} on model {}", r.id, r.model));
        }
        Ok(())
    }

    /// Number of models.
    pub fn model_count(&self) -> usize {
        self.models.len()
    }

    /// Index of a model by `namespace/name`.
    pub fn model_index(&self, key: &str) -> Option<u32> {
        self.index.get(key).copied()
    }

    /// Add a notice shown in the UI (not an event: it describes the console, not the fleet).
    pub fn add_notice(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.push_log(self.t, LogKind::Source, None, Status::Warn, text.clone());
        self.notice_seqs.push(self.seq);
        self.notices.push(text);
    }

    fn push_log(
        &mut self,
        t: f64,
        kind: LogKind,
        model: Option<String>,
        status: Status,
        text: String,
    ) {
        self.seq += 1;
        self.log.push_back(Arc::new(LogEntry {
            seq: self.seq,
            t,
            kind,
            model,
            status,
            text,
        }));
        while self.log.len() > self.cfg.log_capacity {
            self.log.pop_front();
        }
    }

    /// Apply one event; returns what the edges should do.
    pub fn apply(&mut self, event: Event) -> Vec<Effect> {
        let t = event.time();
        if t.is_finite() && t > self.t {
            if matches!(
                self.source.state,
                SourceState::Live | SourceState::Down { .. }
            ) {
                let speed = if self.source.speed.is_finite() {
                    self.source.speed.max(1e-3)
                } else {
                    1.0
                };
                self.wall += (t - self.t) / speed;
            }
            self.t = t;
        }
        let mut effects = Vec::new();
        match event {
            Event::Models { models, .. } => {
                for meta in models {
                    let key = meta.key();
                    if let Some(&i) = self.index.get(&key) {
                        self.models[i as usize].meta = Arc::new(meta);
                    } else {
                        self.index.insert(key, self.models.len() as u32);
                        self.models.push(ModelState::new(meta));
                    }
                }
            }
            Event::Observations { t, samples } => {
                self.observe(t, &samples);
                if t.is_finite() {
                    effects.extend(self.remediate(t));
                }
            }
            Event::ActionResult {
                t,
                id,
                ok,
                dry_run,
                message,
            } => effects.extend(self.action_result(t.max(self.t), id, ok, dry_run, message)),
            Event::Change { t, model, change } => self.change(t, model, change),
            Event::Source { t, status } => {
                if status.state != self.source.state || status.label != self.source.label {
                    let (sev, text) = match &status.state {
                        SourceState::Backfilling { .. } => {
                            (Status::Ok, format!("{}: loading history", status.label))
                        }
                        SourceState::Live => (Status::Ok, format!("{}: live", status.label)),
                        SourceState::Paused => (Status::Ok, format!("{}: paused", status.label)),
                        SourceState::Down { error } => {
                            (Status::Crit, format!("{}: down — {error}", status.label))
                        }
                        SourceState::Finished => {
                            (Status::Ok, format!("{}: end of data", status.label))
                        }
                    };
                    let backfill_progress = matches!(
                        (&self.source.state, &status.state),
                        (
                            SourceState::Backfilling { .. },
                            SourceState::Backfilling { .. }
                        )
                    );
                    if !backfill_progress {
                        self.push_log(t, LogKind::Source, None, sev, text);
                    }
                }
                self.source = status;
            }
            Event::Clock { t } => {
                self.reassess_staleness(t);
                if t.is_finite() {
                    effects.extend(self.remediate(t.max(self.t)));
                }
            }
            Event::Command { t, user, command } => match command {
                Command::Inject { model, incident } => {
                    if let Some(&i) = self.index.get(&model) {
                        self.push_log(
                            t,
                            LogKind::Injection,
                            Some(model.clone()),
                            Status::Warn,
                            format!("{user} injected {incident} (simulation)"),
                        );
                        effects.push(Effect::Inject { model: i, incident });
                    }
                }
                Command::SetPhase { phase } => {
                    if phase != self.phase {
                        let from = self.phase;
                        self.phase = phase;
                        self.audit(t, &user, "change phase", format!("{from} → {phase}"), None);
                        self.push_log(
                            t,
                            LogKind::Phase,
                            None,
                            Status::Ok,
                            format!("{user} changed phase {from} → {phase}"),
                        );
                        effects.extend(self.remediate(self.t));
                    }
                }
                Command::Approve { id } => effects.extend(self.approve(self.t, &user, id)),
                Command::Veto { id, reason } => {
                    effects.extend(self.veto(self.t, &user, id, reason));
                    effects.extend(self.after_veto(self.t, id));
                }
                Command::SetClassMode { phase, class, mode } => {
                    self.set_class_mode(t, &user, phase, class, mode);
                    effects.extend(self.remediate(self.t));
                }
                Command::Note { text } => {
                    self.audit(t, &user, "note", String::new(), Some(text.clone()));
                    self.push_log(
                        t,
                        LogKind::Note,
                        None,
                        Status::Ok,
                        format!("{user}: {text}"),
                    );
                }
            },
        }
        effects
    }

    fn observe(&mut self, t: f64, samples: &[(u32, crate::fleet::Sample)]) {
        if !t.is_finite() {
            return;
        }
        let mut transitions = Vec::new();
        let mut detections: Vec<(String, Anomaly)> = Vec::new();
        let mut symptomatic: Vec<(u32, Status, f64)> = Vec::new();
        let o = self.cfg.objectives;
        for (idx, sample) in samples {
            let Some(m) = self.models.get_mut(*idx as usize) else {
                continue;
            };
            if m.history.last_time().is_some_and(|l| t <= l) {
                continue;
            }
            let (band, raised) = m.watch.observe(t, sample);
            m.history.push_with_band(t, sample, &band);
            for (i, s) in m.smooth.iter_mut().enumerate() {
                let v = sample.values[i];
                if v.is_finite() {
                    *s = if s.is_finite() {
                        *s + SMOOTH * (v - *s)
                    } else {
                        v
                    };
                }
            }
            let (mut status, mut reason) = judge(&m.smooth, &o);
            let recent = m.watch.latest_symptom_since(t - ANOMALY_HOLD, &m.smooth);
            if let Some(a) = recent
                && status == Status::Ok
            {
                status = Status::Warn;
                reason = format!("anomaly in {}: {}", a.signal.title(), a.why);
            }
            if let Some(c) = &m.creeping
                && status == Status::Ok
            {
                status = Status::Warn;
                reason = c.clone();
            }
            let first_anomaly = recent.map(|a| a.t);
            for a in raised {
                let i = a.signal.index();
                if t - m.logged[i] >= DETECTION_LOG_EVERY {
                    m.logged[i] = t;
                    detections.push((m.meta.key(), a));
                }
            }
            if let Some(tr) = Self::settle(m, status, reason) {
                transitions.push(tr);
            }
            if matches!(m.status, Status::Warn | Status::Crit) {
                let onset = first_anomaly.map_or(t, |f| f.min(t));
                symptomatic.push((*idx, m.status, onset));
            }
        }
        if !samples.is_empty() {
            self.last_data = Some(self.last_data.map_or(t, |d| d.max(t)));
        }
        for (key, a) in detections {
            self.push_log(
                t,
                LogKind::Detection,
                Some(key),
                Status::Warn,
                format!(
                    "{} anomalous (score {:.2}): {}",
                    a.signal.title(),
                    a.score,
                    a.why
                ),
            );
        }
        for (key, from, to, reason) in transitions {
            let text = if to == Status::Ok {
                format!("{} → {}: back within objectives", from.word(), to.word())
            } else {
                format!("{} → {}: {reason}", from.word(), to.word())
            };
            self.push_log(t, LogKind::Health, Some(key), to, text);
        }
        for (idx, status, onset) in symptomatic {
            self.symptom(t, idx, status, onset);
        }
        if t - self.last_creep_check >= CREEP_CHECK_EVERY {
            self.last_creep_check = t;
            self.check_creep(t);
        }
        self.review_incidents(t);
        self.refresh_plans(t);
    }

    /// Forecast and plan the models whose plan is oldest, a bounded number per batch.
    fn refresh_plans(&mut self, t: f64) {
        let n = self.models.len();
        if n == 0 {
            return;
        }
        let mut done = 0;
        let mut changed = false;
        for k in 0..n {
            if done >= plan::PER_BATCH {
                break;
            }
            let i = (self.plan_cursor + k) % n;
            let m = &mut self.models[i];
            let due = m
                .plan
                .age_from()
                .is_none_or(|a| t - a >= plan::FORECAST_EVERY);
            if !due || m.history.last_time().is_none() {
                continue;
            }
            done += 1;
            self.plan_cursor = (i + 1) % n;
            let (lo, hi) = (
                m.meta.min_replicas.max(1),
                if m.meta.max_replicas > 0 {
                    m.meta.max_replicas
                } else {
                    1000
                },
            );
            m.plan = match plan::make_plan(&m.history, t, lo, hi, self.cfg.pod_startup) {
                Ok(p) => plan::PlanState::Ready(Arc::new(p)),
                Err(e) => plan::PlanState::Failed(t, e),
            };
            changed = true;
        }
        if changed && let Some(budget) = self.cfg.replica_budget {
            self.apply_budget(budget);
        }
    }

    fn apply_budget(&mut self, budget: u32) {
        let wants: Vec<(u32, u32, u8)> = self
            .models
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                m.plan
                    .sizing()
                    .map(|z| (i as u32, z.plan.desired_now, m.meta.priority))
            })
            .collect();
        let cuts = plan::share_budget(&wants, budget);
        for m in &mut self.models {
            if let plan::PlanState::Ready(p) = &mut m.plan
                && p.cut.is_some()
            {
                Arc::make_mut(p).cut = None;
            }
        }
        self.budget_cuts.clear();
        for (i, wanted, granted) in cuts {
            if let Some(m) = self.models.get_mut(i as usize) {
                if let plan::PlanState::Ready(p) = &mut m.plan {
                    Arc::make_mut(p).cut = Some((wanted, granted));
                }
                self.budget_cuts.push((m.meta.key(), wanted, granted));
            }
        }
    }

    /// Slow resource creep that adaptive detectors learn as normal (a leak): CPU rising steadily
    /// over half an hour faster than traffic explains.
    fn check_creep(&mut self, t: f64) {
        let mut found = Vec::new();
        for m in &mut self.models {
            let since = t - 1800.0;
            let (cpu_slope, cpu_r2) = creep(&m.history.series(Signal::Cpu, Resolution::Mid, since));
            let (rate_slope, _) = creep(&m.history.series(
                Signal::RequestRate,
                Resolution::Mid,
                since,
            ));
            let creeping = cpu_r2 > CREEP_R2 && cpu_slope - rate_slope.max(0.0) > CREEP_SLOPE;
            let was = m.creeping.is_some();
            m.creeping = creeping.then(|| {
                format!(
                    "CPU creeping {:+.0} %/h for 30 min, traffic {:+.0} %/h",
                    cpu_slope * 100.0,
                    rate_slope * 100.0
                )
            });
            if creeping && !was {
                found.push((m.meta.key(), m.creeping.clone().unwrap_or_default()));
            }
        }
        for (key, text) in found {
            self.push_log(t, LogKind::Detection, Some(key), Status::Warn, text);
        }
    }

    /// A model shows a symptom: open an incident or keep its own open.
    fn symptom(&mut self, t: f64, idx: u32, status: Status, onset: f64) {
        let m = &self.models[idx as usize];
        if let Some(id) = m.incident
            && let Some(inc) = self
                .incidents
                .iter_mut()
                .find(|i| i.id == id && i.is_open())
        {
            inc.last_bad = t;
            if status.severity() > inc.severity.severity() {
                inc.severity = status;
            }
            for a in m.watch.recent.iter().rev().take_while(|a| a.t >= inc.onset) {
                if !inc.signals.contains(&a.signal) {
                    inc.signals.push(a.signal);
                }
            }
            return;
        }
        let key = m.meta.key();
        if let Some(inc) = self
            .incidents
            .iter_mut()
            .rev()
            .find(|i| i.model == idx && i.resolved.is_some_and(|r| t - r <= REOPEN_WITHIN))
        {
            inc.resolved = None;
            inc.last_bad = t;
            let id = inc.id;
            self.models[idx as usize].incident = Some(id);
            self.push_log(
                t,
                LogKind::Incident,
                Some(key),
                status,
                format!(
                    "incident #{id} reopened ({})",
                    self.models[idx as usize].reason
                ),
            );
            return;
        }
        self.next_incident += 1;
        let id = self.next_incident;
        let inc = Incident {
            id,
            model: idx,
            key: key.clone(),
            namespace: m.meta.namespace.clone(),
            onset,
            opened: t,
            last_bad: t,
            resolved: None,
            severity: status,
            signals: m
                .watch
                .recent
                .iter()
                .filter(|a| a.t >= onset)
                .map(|a| a.signal)
                .fold(Vec::new(), |mut v, s| {
                    if !v.contains(&s) {
                        v.push(s);
                    }
                    v
                }),
            hypotheses: Vec::new(),
            diagnosed_at: f64::NEG_INFINITY,
            top_since: f64::INFINITY,
            first_cause_since: f64::INFINITY,
        };
        self.models[idx as usize].incident = Some(id);
        self.incidents.push_back(inc);
        while self.incidents.len() > INCIDENTS_KEPT {
            match self.incidents.iter().position(|i| !i.is_open()) {
                Some(p) => {
                    self.incidents.remove(p);
                }
                None => break,
            }
        }
        self.push_log(
            t,
            LogKind::Incident,
            Some(key),
            status,
            format!(
                "incident #{id} opened ({})",
                self.models[idx as usize].reason
            ),
        );
    }

    /// Re-diagnose open incidents and resolve those whose model is healthy again.
    fn review_incidents(&mut self, t: f64) {
        let mut logs = Vec::new();
        for k in 0..self.incidents.len() {
            let inc = &self.incidents[k];
            if !inc.is_open() {
                continue;
            }
            let m = &self.models[inc.model as usize];
            if m.status == Status::Ok && t - inc.last_bad >= RESOLVE_AFTER {
                let inc = &mut self.incidents[k];
                inc.resolved = Some(t);
                let took = (t - inc.onset) / 60.0;
                logs.push((
                    t,
                    LogKind::Incident,
                    inc.key.clone(),
                    Status::Ok,
                    format!("incident #{} resolved: signals normal for {:.0} min (lasted {took:.0} min)", inc.id, RESOLVE_AFTER / 60.0),
                ));
                let model = inc.model as usize;
                self.models[model].incident = None;
                continue;
            }
            // re-diagnose while symptoms last; once they stop, the last diagnosis stands
            if t - inc.diagnosed_at < REDIAGNOSE_EVERY || t - inc.last_bad > REDIAGNOSE_EVERY {
                continue;
            }
            let hyps = self.diagnose_incident(k, t);
            let inc = &mut self.incidents[k];
            let before = inc.top().map(|h| h.cause);
            inc.diagnosed_at = t;
            // "unexplained" never replaces an explanation found earlier in the incident
            let unexplained = hyps.first().is_none_or(|h| h.cause == Cause::Unexplained);
            if unexplained && before.is_some_and(|c| c != Cause::Unexplained) {
                continue;
            }
            inc.hypotheses = hyps;
            if inc.top().map(|h| h.cause) != before {
                inc.top_since = t;
                if inc.top().is_some_and(|h| h.cause != Cause::Unexplained)
                    && !inc.first_cause_since.is_finite()
                {
                    inc.first_cause_since = t;
                }
            }
            if let Some(top) = inc.top()
                && Some(top.cause) != before
            {
                logs.push((
                    t,
                    LogKind::Incident,
                    inc.key.clone(),
                    inc.severity,
                    format!(
                        "incident #{} diagnosis: {} ({:.0} %) — {}",
                        inc.id,
                        top.cause,
                        top.confidence * 100.0,
                        top.evidence.first().map(String::as_str).unwrap_or("")
                    ),
                ));
            }
        }
        for (t, kind, key, st, text) in logs {
            self.push_log(t, kind, Some(key), st, text);
        }
    }

    fn diagnose_incident(&self, k: usize, now: f64) -> Vec<crate::diagnosis::Hypothesis> {
        let inc = &self.incidents[k];
        let m = &self.models[inc.model as usize];
        let h = &m.history;
        let mut before = [f64::NAN; Signal::COUNT];
        let mut now_mean = [f64::NAN; Signal::COUNT];
        for s in Signal::ALL {
            before[s.index()] = h.mean_between(s, inc.onset - 3900.0, inc.onset - 300.0);
            now_mean[s.index()] = h.mean_between(s, now - 300.0, now);
        }
        let since = now - 1800.0;
        let creep_of = |s: Signal| creep(&h.series(s, Resolution::Mid, since));
        let anomalies: Vec<Anomaly> = m.watch.recent.iter().cloned().collect();
        let changes: Vec<ChangeNote> = m.changes.iter().cloned().collect();
        let peers: Vec<String> = self
            .incidents
            .iter()
            .filter(|o| {
                o.id != inc.id
                    && o.namespace == inc.namespace
                    && o.key != inc.key
                    && (o.onset - inc.onset).abs() <= 600.0
                    && (o.is_open() || o.resolved.is_some_and(|r| r >= inc.onset))
            })
            .map(|o| o.key.clone())
            .collect();
        let (st, _) = judge(&m.smooth, &self.cfg.objectives);
        let breaches: Vec<Signal> = if st == Status::Ok {
            Vec::new()
        } else {
            objective_breaches(&m.smooth, &self.cfg.objectives)
        };
        diagnose(&Context {
            breaches,
            onset: inc.onset,
            now,
            anomalies: &anomalies,
            changes: &changes,
            before,
            now_mean,
            creep: [creep_of(Signal::Cpu), creep_of(Signal::LatencyP95)],
            peers_same_namespace: peers,
        })
    }

    /// Hysteresis: a new status must hold for [`HEALTH_HOLD`] evaluations (at once from stale).
    fn settle(
        m: &mut ModelState,
        status: Status,
        reason: String,
    ) -> Option<(String, Status, Status, String)> {
        if status == m.status {
            m.reason = reason;
            m.candidate_n = 0;
            return None;
        }
        if status == m.candidate {
            m.candidate_n = m.candidate_n.saturating_add(1);
        } else {
            m.candidate = status;
            m.candidate_n = 1;
        }
        let hold = if status == Status::Ok {
            RECOVER_HOLD
        } else {
            HEALTH_HOLD
        };
        if m.candidate_n >= hold || m.status == Status::Unknown {
            let from = m.status;
            m.status = status;
            m.reason = reason.clone();
            m.candidate_n = 0;
            if from == Status::Unknown && status == Status::Ok {
                return None;
            }
            return Some((m.meta.key(), from, status, reason));
        }
        None
    }

    fn reassess_staleness(&mut self, t: f64) {
        let limit = self.cfg.objectives.stale_steps * self.source.step.max(1.0);
        let mut stale = Vec::new();
        for m in &mut self.models {
            let age = m.history.last_time().map_or(f64::INFINITY, |l| t - l);
            if age > limit && m.status != Status::Unknown && m.history.last_time().is_some() {
                m.status = Status::Unknown;
                m.reason = format!("no data for {age:.0} s");
                stale.push(m.meta.key());
            }
        }
        for key in stale {
            self.push_log(
                t,
                LogKind::Health,
                Some(key),
                Status::Unknown,
                "no recent data".into(),
            );
        }
    }

    fn change(&mut self, t: f64, model: u32, change: Change) {
        let Some(m) = self.models.get_mut(model as usize) else {
            return;
        };
        let key = m.meta.key();
        let (kind, text) = match change {
            Change::RolloutStarted { from, to } => {
                // a rollout pitcrew started itself (rollback, canary) is not evidence of a
                // bad deploy
                let ours = self.remediations.iter().find(|r| {
                    r.model == model
                        && matches!(
                            r.state,
                            crate::remediate::RemState::Executing
                                | crate::remediate::RemState::Verifying
                        )
                        && matches!(
                            r.class,
                            crate::autonomy::ActionClass::Rollback
                                | crate::autonomy::ActionClass::Canary
                        )
                });
                let text = match ours {
                    Some(r) => format!("rollout {from} → {to} started by pitcrew (R{})", r.id),
                    None => format!("rollout {from} → {to} started"),
                };
                m.changes.push_back(ChangeNote {
                    t,
                    deploy: ours.is_none(),
                    finished: None,
                    text: text.clone(),
                });
                (LogKind::Change, text)
            }
            Change::Deployed { from, to, duration } => {
                Arc::make_mut(&mut m.meta).version = to.clone();
                if let Some(v) = remedy::version_number(&to) {
                    m.candidates.retain(|c| c.0 > v);
                }
                if let Some(c) = m
                    .changes
                    .iter_mut()
                    .rev()
                    .find(|c| c.deploy && c.finished.is_none())
                {
                    c.finished = Some(t);
                }
                let rec = deploy_record(m, &self.cfg.objectives, t - duration, duration);
                if m.pending_deploy.as_ref().is_some_and(|(v, _)| *v == to) {
                    m.pending_deploy = None;
                }
                self.deploys.push_back(rec);
                while self.deploys.len() > DEPLOYS_KEPT {
                    self.deploys.pop_front();
                }
                if self.deploys.len() >= 12 {
                    let rows: Vec<DeployRecord> = self.deploys.iter().copied().collect();
                    self.deploy_model = DurationModel::train(&rows).ok();
                }
                (
                    LogKind::Change,
                    format!("now serving {to} (was {from}; rollout took {duration:.0} s)"),
                )
            }
            Change::DeployPlanned { version, at } => {
                m.pending_deploy = Some((version.clone(), at));
                (
                    LogKind::Change,
                    format!("deploy of {version} planned at {}", hhmm(at)),
                )
            }
            Change::Restarted => {
                m.changes.push_back(ChangeNote {
                    t,
                    deploy: false,
                    finished: None,
                    text: "pods restarted".into(),
                });
                (LogKind::Change, "pods restarted".to_string())
            }
            Change::CandidateRegistered { version, accuracy } => {
                if let Some(v) = remedy::version_number(&version) {
                    m.candidates.push((v, accuracy, t));
                    if m.candidates.len() > 8 {
                        m.candidates.remove(0);
                    }
                }
                (
                    LogKind::Change,
                    format!("candidate {version} registered (offline accuracy {accuracy:.3})"),
                )
            }
            Change::Injected { incident } => (
                LogKind::Injection,
                format!("simulation: {incident} — {}", incident.description()),
            ),
        };
        while m.changes.len() > CHANGES_KEPT {
            m.changes.pop_front();
        }
        let sev = if kind == LogKind::Injection {
            Status::Warn
        } else {
            Status::Ok
        };
        self.push_log(t, kind, Some(key), sev, text);
    }

    fn deploy_view(&self, m: &ModelState, version: &str, at: f64) -> snapshot::DeployView {
        let rec = deploy_record(m, &self.cfg.objectives, at, f64::NAN);
        let advice = self.deploy_model.as_ref().map(|dm| {
            let f = m.plan.plan().map(|p| &p.forecast);
            (
                dm.advise(&rec, at.max(self.t), f, &AdviceConfig::default()),
                dm.rmse_secs,
            )
        });
        snapshot::DeployView {
            version: version.to_string(),
            at,
            trained_on: self.deploys.len(),
            advice,
        }
    }

    fn row(&self, i: usize) -> FleetRow {
        let m = &self.models[i];
        let mut spark = [[f32::NAN; SPARK_LEN]; 3];
        for (k, sig) in [Signal::RequestRate, Signal::LatencyP95, Signal::ErrorRate]
            .into_iter()
            .enumerate()
        {
            let n = m.history.mid_len().min(SPARK_LEN);
            for (j, v) in m.history.minute_tail(sig, SPARK_LEN).enumerate() {
                spark[k][SPARK_LEN - n + j] = v;
            }
        }
        FleetRow {
            index: i as u32,
            incident: m.incident,
            next_scale: m.plan.sizing().and_then(|z| z.plan.next_scale_event),
            meta: m.meta.clone(),
            status: m.status,
            reason: m.reason.clone(),
            values: m.smooth,
            spark,
            last_seen: m.history.last_time(),
        }
    }

    /// Build the projection the UI draws; `focus` names the model whose detail is included.
    pub fn snapshot(&self, focus: Option<&str>, log_tail: usize) -> Snapshot {
        let rows: Vec<FleetRow> = (0..self.models.len()).map(|i| self.row(i)).collect();
        let mut counts = StatusCounts::default();
        for r in &rows {
            match r.status {
                Status::Ok => counts.ok += 1,
                Status::Warn => counts.warn += 1,
                Status::Crit => counts.crit += 1,
                Status::Unknown => counts.unknown += 1,
            }
        }
        let detail = focus.and_then(|k| self.index.get(k)).map(|&i| {
            let m = &self.models[i as usize];
            Arc::new(ModelDetail {
                row: rows[i as usize].clone(),
                history: m.history.clone(),
                anomalies: m.watch.recent.iter().cloned().collect(),
                plan: m.plan.clone(),
                deploy: m
                    .pending_deploy
                    .as_ref()
                    .map(|(version, at)| self.deploy_view(m, version, *at)),
            })
        });
        let skip = self.log.len().saturating_sub(log_tail);
        Snapshot {
            seq: self.seq,
            t: self.t,
            last_data: self.last_data,
            source: self.source.clone(),
            phase: self.phase,
            read_only: self.cfg.read_only,
            rows: Arc::new(rows),
            detail,
            log: Arc::new(self.log.iter().skip(skip).cloned().collect()),
            counts,
            notices: Arc::new(self.notices.clone()),
            incidents: Arc::new(self.incidents.iter().cloned().collect()),
            budget: self.cfg.replica_budget.map(|b| BudgetView {
                budget: b,
                wanted: self
                    .models
                    .iter()
                    .filter_map(|m| m.plan.sizing().map(|z| z.plan.desired_now))
                    .sum(),
                cuts: self.budget_cuts.clone(),
            }),
            remediations: Arc::new(self.remediations.iter().cloned().collect()),
            audit: Arc::new(self.audit.iter().cloned().collect()),
            stats: Arc::new(self.stats.clone()),
            overrides: self.overrides.clone(),
            playbooks: self.cfg.playbooks.clone(),
            actuator: if self.cfg.read_only {
                None
            } else {
                self.cfg.actuator.clone()
            },
            counters: self.counters(),
            executor: None,
            registry: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Sample;
    use crate::sim::{IncidentKind, SimWorld};

    fn drive(seed: u64, steps: usize) -> Engine {
        let w = SimWorld::new(seed, 15, 1.7e9);
        let mut e = Engine::new(EngineConfig::default());
        e.apply(Event::Models {
            t: w.time(),
            models: w.metas(),
        });
        drive_on(&mut e, seed, 0, steps);
        e
    }

    /// Apply the observations of steps `from..to` of a world (a latency spike on model 1 at
    /// step 100); the world is re-made, so a session can be driven in pieces.
    fn drive_on(e: &mut Engine, seed: u64, from: usize, to: usize) {
        let mut w = SimWorld::new(seed, 15, 1.7e9);
        for i in 0..to {
            let s = w.step();
            if i == 100 {
                w.inject(1, IncidentKind::LatencySpike);
            }
            if i >= from {
                e.apply(Event::Observations {
                    t: w.time(),
                    samples: s
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| (i as u32, s))
                        .collect(),
                });
            }
        }
    }

    fn fingerprint(s: &Snapshot) -> String {
        let mut out = String::new();
        for r in s.rows.iter() {
            out.push_str(&format!(
                "{} {:?} {:?} {}\n",
                r.meta.key(),
                r.status,
                r.values,
                r.reason
            ));
        }
        for l in s.log.iter() {
            out.push_str(&format!("{l:?}\n"));
        }
        out
    }

    #[test]
    fn a_checkpoint_leaves_out_the_consoles_notices_and_renumbers_the_log() {
        let mut live = drive(3, 150);
        live.add_notice("journal write failed");
        drive_on(&mut live, 3, 150, 300);
        live.add_notice("playbook file skipped");
        let quiet = drive(3, 300);
        assert_ne!(format!("{live:?}"), format!("{quiet:?}"));
        // the live session's checkpoint is the state of a session without the notices
        let restored =
            Engine::restore(EngineConfig::default(), &live.checkpoint().unwrap()).unwrap();
        assert_eq!(format!("{restored:?}"), format!("{quiet:?}"));
        assert_eq!(live.fleet_state().unwrap(), quiet.fleet_state().unwrap());
    }

    #[test]
    fn an_inconsistent_checkpoint_is_refused_not_run() {
        let e = drive(3, 50);
        let mut bad = e.clone();
        bad.index.insert("ghost/model".into(), 99);
        let err = Engine::restore(EngineConfig::default(), &bad.checkpoint().unwrap()).unwrap_err();
        assert!(err.contains("index"), "{err}");
        let mut bad = e.clone();
        bad.models[2].history = History::new();
        bad.models[2].history.break_ring_for_test();
        let err = Engine::restore(EngineConfig::default(), &bad.checkpoint().unwrap()).unwrap_err();
        assert!(err.contains("history of"), "{err}");
        assert!(Engine::restore(EngineConfig::default(), &e.checkpoint().unwrap()).is_ok());
        assert!(Engine::restore(EngineConfig::default(), b"\x93\x01").is_err());
    }

    #[test]
    fn same_events_same_snapshot() {
        let a = drive(3, 400).snapshot(Some("search/ranker-bert"), 100);
        let b = drive(3, 400).snapshot(Some("search/ranker-bert"), 100);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c = drive(4, 400).snapshot(None, 100);
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn latency_spike_turns_model_critical_and_is_logged() {
        let e = drive(3, 400);
        let s = e.snapshot(None, 100);
        let r = &s.rows[1];
        assert!(
            r.status.severity() >= Status::Warn.severity(),
            "{}",
            r.reason
        );
        assert!(r.reason.contains("p95"));
        assert!(
            s.log
                .iter()
                .any(|l| l.kind == LogKind::Health
                    && l.model.as_deref() == Some("search/ranker-bert"))
        );
    }

    #[test]
    fn out_of_order_and_nan_samples_are_ignored() {
        let mut e = Engine::new(EngineConfig::default());
        e.apply(Event::Models {
            t: 0.0,
            models: vec![ModelMeta {
                name: "m".into(),
                namespace: "n".into(),
                version: "v1".into(),
                priority: 1,
                size_gb: 1.0,
                complexity: 0.5,
                min_replicas: 1,
                max_replicas: 10,
            }],
        });
        let mut s = Sample::MISSING;
        s.values[Signal::LatencyP95.index()] = 50.0;
        e.apply(Event::Observations {
            t: 10.0,
            samples: vec![(0, s), (7, s)],
        });
        e.apply(Event::Observations {
            t: 5.0,
            samples: vec![(0, Sample::MISSING)],
        });
        e.apply(Event::Observations {
            t: f64::NAN,
            samples: vec![(0, s)],
        });
        let snap = e.snapshot(Some("n/m"), 10);
        assert_eq!(snap.rows[0].values[Signal::LatencyP95.index()], 50.0);
        assert_eq!(snap.rows[0].last_seen, Some(10.0));
        assert_eq!(snap.t, 10.0);
        // stale after six steps without data
        e.apply(Event::Clock { t: 100.0 });
        assert_eq!(e.snapshot(None, 10).rows[0].status, Status::Unknown);
    }

    #[test]
    fn inject_command_becomes_effect_only_for_known_models() {
        let mut e = drive(1, 1);
        let fx = e.apply(Event::Command {
            t: 1.0,
            user: "op".into(),
            command: Command::Inject {
                model: "ads/bid-shading".into(),
                incident: IncidentKind::BadDeploy,
            },
        });
        assert_eq!(
            fx,
            vec![Effect::Inject {
                model: 4,
                incident: IncidentKind::BadDeploy
            }]
        );
        let fx = e.apply(Event::Command {
            t: 1.0,
            user: "op".into(),
            command: Command::Inject {
                model: "x/y".into(),
                incident: IncidentKind::BadDeploy,
            },
        });
        assert!(fx.is_empty());
    }
}
