//! The remediation record: one proposal and its lifecycle, kept by the engine (proposed →
//! approved | vetoed | expired → executing → verifying → succeeded | failed → undone), the
//! decisions on it, and the outcome statistics per playbook and per model that the Evolution
//! phase reads (the numbers only: the edge that owns the data dir saves them).

use super::autonomy::{ActionClass, Mode};
use super::guardrails::GuardCheck;
use crate::domain::Action;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fewest words a veto's (or a rejection's) reason must have: the journal must say why to
/// whoever reads it later, and a stray key ("y") is not a reason.
pub(crate) const MIN_REASON_WORDS: usize = 3;

/// Why `reason` cannot stand as a veto's reason, or `None` when it can. One rule for the
/// console (which keeps the field open) and the engine (which refuses the command).
pub(crate) fn reason_problem(reason: &str) -> Option<String> {
    let words = reason
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count();
    (words < MIN_REASON_WORDS).then(|| {
        format!(
            "a reason needs at least {MIN_REASON_WORDS} words (what you saw and why), it is journaled; {words} given"
        )
    })
}

/// Where a remediation is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemState {
    /// Observe mode (Foundation, read-only, or the class set to observe): shown, never run.
    WouldDo,
    /// Waiting for a human.
    Proposed,
    /// Approved (by a human or by the policy); runs when the guardrails pass.
    Approved,
    /// Refused by a human, with a reason.
    Vetoed,
    /// Not decided in time, or no longer needed.
    Expired,
    /// Sent to the actuator.
    Executing,
    /// Done; watching the target signals.
    Verifying,
    /// Verification could not decide: waits for a human.
    Inconclusive,
    /// The signals recovered.
    Succeeded,
    /// The action failed or did not help.
    Failed,
    /// Failed and undone.
    Undone,
    /// A dry-run actuator recorded it; nothing changed.
    Recorded,
}

impl RemState {
    /// Short word.
    pub fn word(self) -> &'static str {
        match self {
            RemState::WouldDo => "would do",
            RemState::Proposed => "PENDING",
            RemState::Approved => "approved",
            RemState::Vetoed => "vetoed",
            RemState::Expired => "expired",
            RemState::Executing => "executing",
            RemState::Verifying => "verifying",
            RemState::Inconclusive => "INCONCLUSIVE",
            RemState::Succeeded => "succeeded",
            RemState::Failed => "FAILED",
            RemState::Undone => "undone",
            RemState::Recorded => "recorded (dry run)",
        }
    }

    /// No further change happens by itself or by a human.
    pub(crate) fn is_final(self) -> bool {
        matches!(
            self,
            RemState::Vetoed
                | RemState::Expired
                | RemState::Succeeded
                | RemState::Failed
                | RemState::Undone
                | RemState::Recorded
        )
    }

    /// An approval means something in this state (a proposal, or an outcome to accept).
    pub(crate) fn approvable(self) -> bool {
        matches!(self, RemState::Proposed | RemState::Inconclusive)
    }

    /// A veto means something in this state (before it runs, or an outcome to reject).
    pub(crate) fn vetoable(self) -> bool {
        matches!(
            self,
            RemState::Proposed | RemState::Approved | RemState::WouldDo | RemState::Inconclusive
        )
    }

    /// Waits for a human decision.
    pub(crate) fn needs_human(self) -> bool {
        matches!(self, RemState::Proposed | RemState::Inconclusive)
    }

    /// Running (approved and not finished).
    pub(crate) fn is_running(self) -> bool {
        matches!(
            self,
            RemState::Approved | RemState::Executing | RemState::Verifying
        )
    }
}

/// Who decided, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The OS user, or `pitcrew` for the policy.
    pub who: String,
    /// When.
    pub t: f64,
    /// What: approve, veto, automate, expire, accept, reject.
    pub what: String,
    /// Reason (required for a veto).
    pub reason: Option<String>,
}

/// The answer to "why?" for a proposal.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Explanation {
    /// Condition met: the diagnosis or the forecast.
    pub trigger: String,
    /// Facts behind it.
    pub evidence: Vec<String>,
    /// The playbook's description.
    pub playbook: String,
    /// Expected effect.
    pub expected: String,
    /// Risk.
    pub risk: String,
    /// How it is verified and undone.
    pub verify: String,
}

/// One remediation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Remediation {
    /// Sequence number.
    pub id: u64,
    /// The incident it answers (none for a forecast).
    pub incident: Option<u64>,
    /// Model index.
    pub model: u32,
    /// `namespace/name`.
    pub key: String,
    /// Playbook name.
    pub playbook: String,
    /// Class.
    pub class: ActionClass,
    /// The action.
    pub action: Action,
    /// Undo action, when the playbook has a safe one.
    pub undo: Option<Action>,
    /// State.
    pub state: RemState,
    /// The policy's mode and why.
    pub mode: Mode,
    /// Why this mode.
    pub policy: String,
    /// Proposed at.
    pub proposed: f64,
    /// Expires at (pending approval).
    pub expires: f64,
    /// Last change.
    pub updated: f64,
    /// Why.
    pub why: Explanation,
    /// Latest guardrail checks.
    pub checks: Vec<GuardCheck>,
    /// Times the guardrails held it back.
    pub blocks: u32,
    /// Decisions, oldest first.
    pub decisions: Vec<DecisionRecord>,
    /// Time it was sent to the actuator.
    pub executed: Option<f64>,
    /// End of the verification window.
    pub verify_until: Option<f64>,
    /// Canary: index of the stage running.
    pub stage: usize,
    /// Canary: signal means before the canary (to estimate the candidate's own values).
    pub baseline: [f64; crate::domain::Signal::COUNT],
    /// Signal means over the hour before the incident (what "recovered" means).
    pub before: [f64; crate::domain::Signal::COUNT],
    /// When the current stage (or the verification) started.
    pub stage_started: f64,
    /// Accuracy trend before the stage, per hour (the canary estimate corrects for it).
    pub trend: f64,
    /// Since when the target signals have been back.
    pub ok_since: Option<f64>,
    /// The guard that holds it back now.
    pub blocked: Option<String>,
    /// The undo action is running.
    pub undoing: bool,
    /// Timeline `(t, text)`.
    pub timeline: Vec<(f64, String)>,
    /// Dry run: the actuator records only.
    pub dry_run: bool,
    /// The source's wall-clock seconds (see `Engine`) when it began waiting for a human: a
    /// proposal never expires before it has waited [`MIN_WAIT_WALL`] of them, whatever the
    /// speed of the source's clock.
    #[serde(default)]
    pub wall_since: f64,
    /// What comes after a veto: the next proposal, or what to do by hand.
    #[serde(default)]
    pub next: Option<String>,
    /// A patch's bumps (its action becomes the canary of the candidate once built).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bumps: Vec<crate::domain::Bump>,
}

/// Seconds of wall-clock time a proposal waits for a human at least before it may expire
/// (at ×100 the source's 30-minute timeout would otherwise pass in 18 s).
pub(crate) const MIN_WAIT_WALL: f64 = 30.0;

impl Remediation {
    /// The playbook's action in words, with the model.
    pub fn title(&self) -> String {
        format!("{} {}", self.action.describe(), self.key)
    }
}

/// Success and failure counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Verified successes.
    pub success: u32,
    /// Failures (failed verification or execution).
    pub failure: u32,
}

impl Counts {
    /// Success rate and the number of outcomes.
    pub fn rate(&self) -> Option<(f64, u32)> {
        let n = self.success + self.failure;
        (n > 0).then(|| (f64::from(self.success) / f64::from(n), n))
    }
}

/// Outcomes per playbook and per (playbook, model); persisted as JSON in the data dir.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutcomeStats {
    /// Format version.
    #[serde(default = "stats_version")]
    pub version: u32,
    /// Per playbook.
    pub playbooks: BTreeMap<String, Counts>,
    /// Per `playbook@namespace/model`.
    pub models: BTreeMap<String, Counts>,
}

fn stats_version() -> u32 {
    1
}

impl OutcomeStats {
    /// Record an outcome.
    pub fn record(&mut self, playbook: &str, model: &str, success: bool) {
        self.version = 1;
        for c in [
            self.playbooks.entry(playbook.to_string()).or_default(),
            self.models
                .entry(format!("{playbook}@{model}"))
                .or_default(),
        ] {
            if success {
                c.success += 1;
            } else {
                c.failure += 1;
            }
        }
    }

    /// Counts of a playbook.
    pub fn playbook(&self, name: &str) -> Counts {
        self.playbooks.get(name).copied().unwrap_or_default()
    }

    /// Counts of a playbook on one model.
    pub fn model(&self, playbook: &str, model: &str) -> Counts {
        self.models
            .get(&format!("{playbook}@{model}"))
            .copied()
            .unwrap_or_default()
    }
}
