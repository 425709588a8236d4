//! What goes into the engine ([`Event`]) and what comes out ([`Effect`]).

use crate::domain::Action;
use crate::domain::IncidentKind;
use crate::engine::remedy::Purpose;
use crate::fleet::{ModelMeta, Sample};
use crate::policy::autonomy::{ActionClass, Mode, Phase};
use serde::{Deserialize, Serialize};

/// Everything the engine reacts to. Time is carried by events (`t`, unix seconds of the source's
/// clock); the engine never reads the wall clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// The models a source serves; indices in later events refer to this order (appended).
    Models {
        /// Time.
        t: f64,
        /// Models, appended to the ones already known (known keys are updated).
        models: Vec<ModelMeta>,
    },
    /// One scrape: a sample for some or all models.
    Observations {
        /// Time of the samples.
        t: f64,
        /// `(model index, sample)`.
        samples: Vec<(u32, Sample)>,
    },
    /// Something changed on a model (seen by the source: a deploy, a restart, …).
    Change {
        /// Time.
        t: f64,
        /// Model index.
        model: u32,
        /// What changed.
        change: Change,
    },
    /// The source's state (backfilling, live, paused, down).
    Source {
        /// Time.
        t: f64,
        /// State.
        status: SourceStatus,
    },
    /// Time passes with no data.
    Clock {
        /// Time.
        t: f64,
    },
    /// An actuator answered an [`Effect::Execute`].
    ActionResult {
        /// Time.
        t: f64,
        /// Remediation id.
        id: u64,
        /// It was carried out.
        ok: bool,
        /// The actuator only recorded it.
        #[serde(default)]
        dry_run: bool,
        /// What changed, or why not.
        message: String,
    },
    /// An operator command from the console.
    Command {
        /// Time.
        t: f64,
        /// Who (the OS user).
        user: String,
        /// What.
        command: Command,
        /// The id a client gave it (the control API): the engine applies a command once per
        /// user and id, also when a client retries it after the agent restarted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// What the console says of itself (a journal that failed, a playbook file skipped, no
    /// actuator): a notice for the operator and a line in the log. An event like any other, so
    /// that it is journaled and a replay shows what the operator saw.
    Notice {
        /// Time.
        t: f64,
        /// What.
        text: String,
    },
    /// What a scan found in what one model runs: every known vulnerability of that scanner's
    /// open now (the model's findings of that scanner are replaced; an empty list closes them
    /// all).
    Findings {
        /// Time.
        t: f64,
        /// The model's key, `namespace/name` (a model the engine does not know is ignored).
        model: String,
        /// Which scanner (journals from before images were scanned: requirements).
        #[serde(default)]
        scanner: crate::domain::Scanner,
        /// The vulnerabilities.
        found: Vec<crate::domain::Vulnerability>,
        /// What a patch of them pins instead, at the policy's severity: dependencies the
        /// advisory data names a safe version of; an image's packages trivy names a fix of.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bumps: Vec<crate::domain::Bump>,
    },
    /// How one of the console's edges stands, in a few words for the status bar (who executes
    /// actions; the model registry's poll), or `None` when it has nothing to say. An event,
    /// so that it is journaled and a replay's status bar shows what the operator's showed.
    EdgeStatus {
        /// Time.
        t: f64,
        /// Which edge.
        edge: EdgeKind,
        /// Its state in a few words.
        text: Option<String>,
    },
}

/// An edge whose state the status bar shows ([`Event::EdgeStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Who executes actions (the Kubernetes Lease of each namespace).
    Executor,
    /// The model registry's poll.
    Registry,
}

impl Event {
    /// The time the event carries.
    pub fn time(&self) -> f64 {
        match self {
            Event::Models { t, .. }
            | Event::Observations { t, .. }
            | Event::Change { t, .. }
            | Event::Source { t, .. }
            | Event::Clock { t }
            | Event::ActionResult { t, .. }
            | Event::Command { t, .. }
            | Event::Notice { t, .. }
            | Event::Findings { t, .. }
            | Event::EdgeStatus { t, .. } => *t,
        }
    }
}

/// A change observed on a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A rollout of a new version started.
    RolloutStarted {
        /// Previous version.
        from: String,
        /// New version.
        to: String,
    },
    /// A version finished rolling out.
    Deployed {
        /// Previous version.
        from: String,
        /// New version.
        to: String,
        /// Seconds the rollout took.
        duration: f64,
    },
    /// Pods were restarted.
    Restarted,
    /// A deploy of a new version is planned.
    DeployPlanned {
        /// Version.
        version: String,
        /// When it will start.
        at: f64,
    },
    /// A new candidate version was registered (e.g. by retraining).
    CandidateRegistered {
        /// Version.
        version: String,
        /// Offline accuracy.
        accuracy: f64,
    },
    /// The simulator injected an incident (ground truth for training; never read by detection).
    Injected {
        /// Kind.
        incident: IncidentKind,
    },
}

/// What kind of source feeds the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The built-in simulated fleet.
    Simulated,
    /// A Prometheus server.
    Prometheus,
    /// A past window of a Prometheus server (history mode), read-only.
    History,
    /// A recorded journal.
    Replay,
}

/// State of the data source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SourceState {
    /// Loading history before going live.
    Backfilling {
        /// 0..1.
        progress: f64,
    },
    /// Delivering data.
    Live,
    /// Paused by the operator.
    Paused,
    /// Not answering.
    Down {
        /// Why.
        error: String,
    },
    /// A finite source (a replay) reached its end.
    Finished,
}

/// The source's status as shown in the status bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// Kind.
    pub kind: SourceKind,
    /// Short label (e.g. `sim seed 42`, a URL's host).
    pub label: String,
    /// State.
    pub state: SourceState,
    /// Time acceleration (1 = real time).
    pub speed: f64,
    /// Seconds between samples.
    pub step: f64,
}

/// A command from the operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Inject an incident into the simulated fleet.
    Inject {
        /// `namespace/name`.
        model: String,
        /// Kind.
        incident: IncidentKind,
    },
    /// Change the autonomy phase.
    SetPhase {
        /// New phase.
        phase: Phase,
    },
    /// A free-text note for the journal.
    Note {
        /// Text.
        text: String,
    },
    /// Approve a proposal (or accept an inconclusive outcome).
    Approve {
        /// Remediation id.
        id: u64,
    },
    /// Veto a proposal (or reject an inconclusive outcome), with a reason.
    Veto {
        /// Remediation id.
        id: u64,
        /// Why (required).
        reason: String,
    },
    /// Set how an action class is handled in a phase (`None`: the phase default).
    SetClassMode {
        /// Phase.
        phase: Phase,
        /// Class.
        class: ActionClass,
        /// Mode.
        mode: Option<Mode>,
    },
}

/// What the engine asks the edges to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Ask the simulator to inject an incident.
    Inject {
        /// Model index.
        model: u32,
        /// Kind.
        incident: IncidentKind,
    },
    /// Carry out an action. The edge journals this intent (flushed to disk) before it calls
    /// the actuator, and answers with [`Event::ActionResult`].
    Execute(Execution),
    /// A remediation's outcome (for the persisted statistics).
    Outcome {
        /// Playbook.
        playbook: String,
        /// Model.
        model: String,
        /// Verified success.
        success: bool,
    },
}

/// An action the engine asks the edge to carry out ([`Effect::Execute`]): what the journal's
/// intent records before the actuator is called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Time.
    pub t: f64,
    /// Remediation id.
    pub id: u64,
    /// Model index.
    pub model: u32,
    /// `namespace/name`.
    pub key: String,
    /// What.
    pub action: Action,
    /// Why.
    pub purpose: Purpose,
    /// Who decided it (the OS user, or the policy).
    pub who: String,
}
