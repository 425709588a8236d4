//! The deterministic engine: `apply(Event) -> Vec<Effect>`.
//!
//! The engine owns the fleet's state (histories, health, the log) and is a pure reducer: time
//! comes in events, it never reads the wall clock, does no I/O and spawns nothing, so the same
//! events always give the same state (replay, tests and backtests rely on it). The engine task
//! (`crate::app`) owns it, journals events and effects, and publishes [`Snapshot`]s.

pub mod anomaly;
mod change;
mod checkpoint;
mod decisions;
use decisions::Verdict;
pub mod event;
pub mod incident;
mod objectives;
mod observe;
mod patches;
pub mod plan;
mod project;
mod proposals;
pub mod remedy;
pub mod snapshot;
mod testkit;
mod verification;
mod vulns;

pub use event::{
    Change, Command, EdgeKind, Effect, Event, Execution, SourceKind, SourceState, SourceStatus,
};
pub use objectives::Objectives;
use objectives::{judge, objective_breaches};
pub use snapshot::{
    BudgetView, FleetRow, LinkView, LogEntry, LogKind, ModelDetail, SPARK_LEN, Snapshot, Status,
    StatusCounts,
};
pub use vulns::{ModelVulns, OpenVuln, Queued, queue, time_left, worst};

use crate::diagnosis::{ChangeNote, Context, creep, diagnose};
use crate::domain::Cause;
use crate::domain::Signal;
use crate::fleet::{History, ModelMeta, Resolution};
use crate::forecast::deploy::{AdviceConfig, DeployRecord, DurationModel};
use crate::policy::autonomy::{ClassOverrides, Phase};
use crate::policy::guardrails::{Guardrails, Ledger};
use crate::policy::playbook::Playbook;
use crate::policy::{OutcomeStats, Remediation};
use anomaly::{Anomaly, Watch};
use incident::{Incident, REDIAGNOSE_EVERY, RESOLVE_AFTER};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

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
    /// How long a vulnerability may stay open, by severity.
    pub deadlines: crate::domain::Deadlines,
}

/// Seconds from asking for a pod to its serving that the engine assumes when nothing better is
/// configured: a model server loading its weights (the simulated fleet's pods take as long).
pub(crate) const DEFAULT_POD_STARTUP: f64 = 150.0;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            phase: Phase::Foundation,
            read_only: false,
            objectives: Objectives::default(),
            log_capacity: 2000,
            replica_budget: None,
            pod_startup: DEFAULT_POD_STARTUP,
            playbooks: Arc::new(crate::policy::playbook::builtins()),
            guardrails: Guardrails::default(),
            stats: OutcomeStats::default(),
            overrides: ClassOverrides::default(),
            approval_timeout: 1800.0,
            actuator: None,
            deadlines: crate::domain::Deadlines::default(),
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
    /// Known vulnerabilities of what it runs, most severe first.
    #[serde(default)]
    vulns: Arc<Vec<OpenVuln>>,
    /// What a patch would pin instead: the latest requirements scan's bumps, then the latest
    /// image scan's.
    #[serde(default)]
    bumps: Vec<crate::domain::Bump>,
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
            vulns: Arc::default(),
            bumps: Vec::new(),
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
    /// What the edges say of themselves for the status bar ([`Event::EdgeStatus`]).
    #[serde(default)]
    edges: BTreeMap<EdgeKind, String>,
    /// The last [`COMMANDS_REMEMBERED`] command ids applied, with their users.
    #[serde(default)]
    commands: VecDeque<(String, String)>,
    /// When the findings were last looked at for patches to propose.
    #[serde(default = "never")]
    last_patch_check: f64,
}

fn never() -> f64 {
    f64::NEG_INFINITY
}

/// Notices the engine keeps (the newest; all are in the log).
const NOTICES_KEPT: usize = 50;

/// Command ids the engine remembers (the oldest forgotten first), so that a retried command is
/// applied once, across a restart too.
pub const COMMANDS_REMEMBERED: usize = 4096;

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

impl Engine {
    /// True when `user`'s command `id` has been applied (and would not be again).
    pub fn command_applied(&self, user: &str, id: &str) -> bool {
        self.commands.iter().any(|(u, i)| u == user && i == id)
    }

    /// `command`, its id (when it has one) remembered with its user.
    fn remembered(&mut self, user: &str, id: Option<String>, command: Command) -> Command {
        if let Some(id) = id {
            self.commands.push_back((user.to_string(), id));
            while self.commands.len() > COMMANDS_REMEMBERED {
                self.commands.pop_front();
            }
        }
        command
    }

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
            incidents: VecDeque::new(),
            next_incident: 0,
            last_creep_check: f64::NEG_INFINITY,
            last_patch_check: f64::NEG_INFINITY,
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
            edges: BTreeMap::new(),
            commands: VecDeque::new(),
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
    pub(crate) fn log_since(&self, seq: u64) -> impl Iterator<Item = &Arc<LogEntry>> {
        let skip = self.log.partition_point(|e| e.seq <= seq);
        self.log.iter().skip(skip)
    }

    /// Sequence number of the newest log entry.
    pub(crate) fn log_seq(&self) -> u64 {
        self.seq
    }

    /// What edge `edge` last said of itself ([`Event::EdgeStatus`]).
    pub fn edge_status(&self, edge: EdgeKind) -> Option<&str> {
        self.edges.get(&edge).map(String::as_str)
    }

    /// Outcome statistics.
    pub(crate) fn stats(&self) -> &OutcomeStats {
        &self.stats
    }

    /// Times the guardrails held an approved action back, and actions sent to the actuator.
    pub(crate) fn counters(&self) -> (u64, u64) {
        (self.guard_blocks, self.actions_run)
    }

    /// Every model the engine knows, in its order (the index of each is its position).
    pub fn metas(&self) -> Vec<ModelMeta> {
        self.models.iter().map(|m| (*m.meta).clone()).collect()
    }

    /// The engine clock.
    pub fn time(&self) -> f64 {
        self.t
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Number of models.
    pub(crate) fn model_count(&self) -> usize {
        self.models.len()
    }

    /// Index of a model by `namespace/name`.
    pub fn model_index(&self, key: &str) -> Option<u32> {
        self.index.get(key).copied()
    }

    /// What the console said of itself ([`Event::Notice`]): shown in the UI and logged.
    fn notice(&mut self, t: f64, text: String) {
        self.push_log(t, LogKind::Source, None, Status::Warn, text.clone());
        self.notices.push(text);
        // kept across an agent's restarts: the newest only
        let keep = self.notices.len().saturating_sub(NOTICES_KEPT);
        self.notices.drain(..keep);
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
            Event::Notice { text, .. } => self.notice(self.t, text),
            Event::Findings {
                t,
                model,
                scanner,
                found,
                bumps,
            } => self.findings(t.max(self.t), &model, scanner, found, bumps),
            Event::EdgeStatus { edge, text, .. } => match text {
                Some(text) => {
                    self.edges.insert(edge, text);
                }
                None => {
                    self.edges.remove(&edge);
                }
            },
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
            Event::Command {
                id: Some(id),
                t,
                user,
                ..
            } if self.command_applied(&user, &id) => {
                self.push_log(
                    t,
                    LogKind::Decision,
                    None,
                    Status::Ok,
                    format!("{user}'s command {id} was applied before: not applied again"),
                );
            }
            Event::Command {
                t,
                user,
                command,
                id,
            } => match self.remembered(&user, id, command) {
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
                Command::Approve { id } => {
                    effects.extend(self.decide(self.t, &user, id, Verdict::Approve))
                }
                Command::Veto { id, reason } => {
                    effects.extend(self.decide(self.t, &user, id, Verdict::Veto(reason)));
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IncidentKind;
    use crate::fleet::Sample;
    use crate::sim::SimWorld;

    pub(super) fn drive(seed: u64, steps: usize) -> Engine {
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
    pub(super) fn drive_on(e: &mut Engine, seed: u64, from: usize, to: usize) {
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
            id: None,
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
            id: None,
        });
        assert!(fx.is_empty());
    }

    #[test]
    fn a_command_id_is_applied_once_per_user_across_a_restart() {
        let mut e = drive(1, 1);
        let inject = |user: &str| Event::Command {
            t: 1.0,
            user: user.into(),
            command: Command::Inject {
                model: "ads/bid-shading".into(),
                incident: IncidentKind::BadDeploy,
            },
            id: Some("c-1".into()),
        };
        assert_eq!(e.apply(inject("alice")).len(), 1);
        assert!(e.command_applied("alice", "c-1"));
        assert!(e.apply(inject("alice")).is_empty(), "applied once");
        assert!(e.log_since(0).any(|l| l.text.contains("applied before")));
        // another user's id is theirs
        assert_eq!(e.apply(inject("bob")).len(), 1);
        // the ids survive a checkpoint (an agent restarted from its journal)
        let mut back = Engine::restore(EngineConfig::default(), &e.checkpoint().unwrap()).unwrap();
        assert!(back.apply(inject("alice")).is_empty());
        assert!(back.apply(inject("bob")).is_empty());
    }
}
