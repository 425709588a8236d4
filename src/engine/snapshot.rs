//! What the UI renders: an immutable projection of the engine's state.

use super::event::SourceStatus;
use crate::domain::Signal;
use crate::fleet::{History, ModelMeta};
use crate::policy::autonomy::Phase;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Health of a model. Shown as a symbol and a word, never colour alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Within objectives.
    Ok,
    /// No recent data.
    Unknown,
    /// An objective is close to or just past its limit.
    Warn,
    /// An objective is clearly broken.
    Crit,
}

impl Status {
    /// Lower-case word.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Crit => "crit",
            Status::Unknown => "stale",
        }
    }

    /// Symbol (Unicode or ASCII).
    pub fn symbol(self, ascii: bool) -> &'static str {
        match (self, ascii) {
            (Status::Ok, false) => "✔",
            (Status::Warn, false) => "▲",
            (Status::Crit, false) => "✖",
            (Status::Unknown, false) => "?",
            (Status::Ok, true) => "+",
            (Status::Warn, true) => "!",
            (Status::Crit, true) => "X",
            (Status::Unknown, true) => "?",
        }
    }

    /// Theme scope used to draw it.
    pub fn scope(self) -> &'static str {
        match self {
            Status::Ok => "status.ok",
            Status::Warn => "status.warn",
            Status::Crit => "status.crit",
            Status::Unknown => "status.unknown",
        }
    }

    /// Sort rank: worst first.
    pub(crate) fn severity(self) -> u8 {
        match self {
            Status::Crit => 3,
            Status::Warn => 2,
            Status::Unknown => 1,
            Status::Ok => 0,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Points kept per sparkline (one-minute means).
pub const SPARK_LEN: usize = 30;

/// One row of the Fleet screen.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    /// Model index.
    pub index: u32,
    /// Open incident on this model.
    pub incident: Option<u64>,
    /// Next change of the replica plan: (when, from, to).
    pub next_scale: Option<(f64, u32, u32)>,
    /// Facts (shared with the engine).
    pub meta: Arc<ModelMeta>,
    /// Health.
    pub status: Status,
    /// Why (empty when ok).
    pub reason: String,
    /// Latest values (smoothed over the last half minute), NaN when missing.
    pub values: [f32; Signal::COUNT],
    /// One-minute means of request rate, latency and errors, oldest first (NaN-padded at start).
    pub spark: [[f32; SPARK_LEN]; 3],
    /// Time of the newest sample.
    pub last_seen: Option<f64>,
    /// The most severe known vulnerability open in what it runs.
    pub vuln: Option<crate::domain::Severity>,
}

/// Kind of a journal entry shown on the Events screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// A model's health changed.
    Health,
    /// A detector flagged something.
    Detection,
    /// An incident opened or closed.
    Incident,
    /// A remediation was proposed.
    Proposal,
    /// An operator or the policy decided.
    Decision,
    /// An action ran.
    Action,
    /// The result of an action.
    Outcome,
    /// A deploy, restart or other change seen on a model.
    Change,
    /// The autonomy phase changed.
    Phase,
    /// An operator note.
    Note,
    /// The data source changed state.
    Source,
    /// The simulator injected an incident.
    Injection,
    /// A known vulnerability was found in what a model runs, or is no longer found.
    Vulnerability,
}

impl LogKind {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            LogKind::Health => "health",
            LogKind::Detection => "detect",
            LogKind::Incident => "incident",
            LogKind::Proposal => "propose",
            LogKind::Decision => "decide",
            LogKind::Action => "action",
            LogKind::Outcome => "outcome",
            LogKind::Change => "change",
            LogKind::Phase => "phase",
            LogKind::Note => "note",
            LogKind::Source => "source",
            LogKind::Injection => "inject",
            LogKind::Vulnerability => "vuln",
        }
    }

    /// Theme scope used to draw it.
    pub fn scope(self) -> &'static str {
        match self {
            LogKind::Health | LogKind::Detection | LogKind::Vulnerability => "event.detection",
            LogKind::Incident => "event.incident",
            LogKind::Proposal => "event.proposal",
            LogKind::Decision => "event.decision",
            LogKind::Action | LogKind::Change | LogKind::Injection => "event.action",
            LogKind::Outcome => "event.outcome",
            LogKind::Phase | LogKind::Source => "event.phase",
            LogKind::Note => "event.note",
        }
    }
}

/// One entry of the engine's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Sequence number, increasing.
    pub seq: u64,
    /// Time.
    pub t: f64,
    /// Kind.
    pub kind: LogKind,
    /// `namespace/name`, when about one model.
    pub model: Option<String>,
    /// Severity for display.
    pub status: Status,
    /// Text.
    pub text: String,
}

/// Full data of the model the UI is focused on.
#[derive(Debug, Clone)]
pub struct ModelDetail {
    /// Row data.
    pub row: FleetRow,
    /// Full bounded history.
    pub history: History,
    /// Recent anomalies, oldest first.
    pub anomalies: Vec<super::anomaly::Anomaly>,
    /// Demand forecast and replica plan.
    pub plan: super::plan::PlanState,
    /// The next planned deploy, with the duration predictor's advice.
    pub deploy: Option<DeployView>,
}

/// A planned deploy and what the duration predictor says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployView {
    /// Version to deploy.
    pub version: String,
    /// Planned start.
    pub at: f64,
    /// Past deploys the predictor was trained on.
    pub trained_on: usize,
    /// Advice and the predictor's training RMSE (seconds); `None` until enough deploys were seen.
    pub advice: Option<(crate::forecast::deploy::DeployAdvice, f64)>,
}

/// The fleet-wide replica budget and who it cut.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetView {
    /// Replicas allowed in total.
    pub budget: u32,
    /// Replicas the plans want in total.
    pub wanted: u32,
    /// `(model, wanted, granted)` for models cut, by priority.
    pub cuts: Vec<(String, u32, u32)>,
}

/// Counts of models by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Ok.
    pub ok: usize,
    /// Warn.
    pub warn: usize,
    /// Crit.
    pub crit: usize,
    /// Stale.
    pub unknown: usize,
}

/// The immutable projection the UI draws.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Increases with every publication.
    pub seq: u64,
    /// Engine clock.
    pub t: f64,
    /// Time of the newest sample from the source.
    pub last_data: Option<f64>,
    /// Data source.
    pub source: SourceStatus,
    /// Autonomy phase.
    pub phase: Phase,
    /// True when no actuator exists (read-only or replay).
    pub read_only: bool,
    /// Every model.
    pub rows: Arc<Vec<FleetRow>>,
    /// The focused model, in full.
    pub detail: Option<Arc<ModelDetail>>,
    /// The most recent log entries, oldest first.
    pub log: Arc<Vec<Arc<LogEntry>>>,
    /// Models by status.
    pub counts: StatusCounts,
    /// Problems the console should show (data dir not writable, …).
    pub notices: Arc<Vec<String>>,
    /// Open and recently resolved incidents, oldest first.
    pub incidents: Arc<Vec<super::incident::Incident>>,
    /// The replica budget, when one is set.
    pub budget: Option<BudgetView>,
    /// Remediations (live and recent), oldest first.
    pub remediations: Arc<Vec<crate::policy::Remediation>>,
    /// Audit trail, oldest first.
    pub audit: Arc<Vec<super::remedy::AuditEntry>>,
    /// Outcomes per playbook and model.
    pub stats: Arc<crate::policy::OutcomeStats>,
    /// Operator overrides per phase and class.
    pub overrides: crate::policy::autonomy::ClassOverrides,
    /// Playbooks in use.
    pub playbooks: Arc<Vec<crate::policy::playbook::Playbook>>,
    /// Actuator name (`None`: read-only, none exists).
    pub actuator: Option<String>,
    /// Times the guardrails held an approved action back, and actions sent to the actuator.
    pub counters: (u64, u64),
    /// Who executes actions (the Kubernetes Lease), when more than one pitcrew could, as the
    /// edge last said it ([`super::Event::EdgeStatus`]).
    pub executor: Option<String>,
    /// The model registry's state in a few words, when one is polled (the same way).
    pub registry: Option<String>,
    /// The agents an attached console follows, and how each link stands (empty when the
    /// engine is this process's own).
    pub links: Vec<LinkView>,
    /// Every model with a known vulnerability open, in model order.
    pub vulns: Arc<Vec<super::vulns::ModelVulns>>,
    /// How long a vulnerability may stay open, by severity.
    pub deadlines: crate::domain::Deadlines,
}

/// How an attached console's link to one agent stands, for the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkView {
    /// The agent, as `host:port`.
    pub agent: String,
    /// Following its stream.
    pub live: bool,
    /// Why not, when not (`DISCONNECTED` is drawn in front).
    pub why: Option<String>,
    /// Seconds since the agent last sent anything.
    pub quiet: f64,
    /// Who the agent knows this console's user as (its decisions are journaled so).
    pub you: Option<String>,
    /// The age of the agent's newest data, seconds (`None` before its first base).
    pub age: Option<f64>,
    /// Who executes for the agent (its Kubernetes Leases), as the agent last said it.
    pub executor: Option<String>,
}

impl Snapshot {
    /// Seconds since the newest sample, by the engine clock.
    pub fn data_age(&self) -> Option<f64> {
        self.last_data.map(|d| (self.t - d).max(0.0))
    }
}
