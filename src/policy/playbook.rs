//! Playbooks: declarative (TOML) rules from a condition — a diagnosis or a forecast — to an
//! action with parameters, with the action class, blast radius, verification and undo.
//!
//! Built-ins ship inside the binary (`builtin_playbooks.toml`); `<config dir>/playbooks/*.toml`
//! add more, and one with the name of a built-in replaces it (read by `config::playbooks`:
//! the policy parses text and never reads a file).

use crate::domain::Action;
use crate::domain::Cause;
use crate::domain::Signal;
use crate::policy::autonomy::ActionClass;
use serde::{Deserialize, Serialize};

/// The built-in playbooks' source.
pub(crate) const BUILTIN: &str = include_str!("builtin_playbooks.toml");

/// What triggers a playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// A diagnosis: the incident's top hypothesis.
    #[serde(default)]
    pub cause: Option<Cause>,
    /// Lowest confidence of the hypothesis.
    #[serde(default = "default_confidence")]
    pub min_confidence: f64,
    /// A forecast condition.
    #[serde(default)]
    pub forecast: Option<ForecastCondition>,
    /// Shortfall (share of ready replicas) that triggers a forecast playbook.
    #[serde(default = "default_shortfall")]
    pub min_shortfall: f64,
    /// Whether a better registered candidate version is needed, excluded, or irrelevant.
    #[serde(default)]
    pub candidate: CandidateNeed,
    /// A condition on what the model runs (its known vulnerabilities).
    #[serde(default)]
    pub finding: Option<FindingCondition>,
}

/// Conditions on a model's known vulnerabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingCondition {
    /// A finding at or above the policy's severity (`[security] patch_at`) that a bump the
    /// advisory data names fixes.
    Fixable,
}

fn default_confidence() -> f64 {
    0.5
}

fn default_shortfall() -> f64 {
    0.25
}

/// Forecast conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastCondition {
    /// The plan needs more replicas within the start-up lead time than are ready.
    CapacityShort,
}

/// A playbook's need for a candidate version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateNeed {
    /// Does not matter.
    #[default]
    Any,
    /// Only when a better candidate is registered.
    Required,
    /// Only when none is.
    None,
}

/// The action a playbook takes, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionTemplate {
    /// Change the replica count: to `to`, or to what the demand seen now needs at
    /// `target_utilisation` plus `headroom`, and at least `factor` × the ready replicas.
    Scale {
        /// Fixed target.
        #[serde(default)]
        to: Option<u32>,
        /// Lowest multiple of the ready replicas.
        #[serde(default = "one")]
        factor: f64,
        /// Utilisation the new replicas should run at.
        #[serde(default = "default_target")]
        target_utilisation: f64,
        /// Extra share on top of the need.
        #[serde(default)]
        headroom: f64,
    },
    /// Roll back to the previous version.
    Rollback,
    /// Progressive rollout of a better candidate.
    Canary {
        /// Traffic shares of the stages, increasing, the last 1.0.
        #[serde(default = "default_stages")]
        stages: Vec<f64>,
        /// Seconds each stage is watched before the next.
        #[serde(default = "default_stage_secs")]
        stage_secs: f64,
        /// Gate: accuracy of the candidate at least this.
        #[serde(default = "default_min_accuracy")]
        min_accuracy: f64,
        /// Gate: p95 latency at most this (ms).
        #[serde(default = "default_max_p95")]
        max_p95_ms: f64,
        /// Gate: error rate at most this.
        #[serde(default = "default_max_errors")]
        max_error_rate: f64,
    },
    /// Start a retraining job.
    Retrain,
    /// Rolling restart.
    Restart,
    /// Build a patched version with the bumps that fix the model's findings (a Job from its
    /// build CronJob), then roll the candidate the build registers out through canary stages
    /// and gates, as `canary` does.
    Patch {
        /// Seconds the build has to register its candidate.
        #[serde(default = "default_build_secs")]
        build_secs: f64,
        /// Traffic shares of the stages, increasing, the last 1.0.
        #[serde(default = "default_stages")]
        stages: Vec<f64>,
        /// Seconds each stage is watched before the next.
        #[serde(default = "default_stage_secs")]
        stage_secs: f64,
        /// Gate: accuracy of the candidate at least this.
        #[serde(default = "default_min_accuracy")]
        min_accuracy: f64,
        /// Gate: p95 latency at most this (ms).
        #[serde(default = "default_max_p95")]
        max_p95_ms: f64,
        /// Gate: error rate at most this.
        #[serde(default = "default_max_errors")]
        max_error_rate: f64,
    },
}

/// A staged rollout's stages and gates (a canary's, or a patch's after its build).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gates<'a> {
    /// Traffic shares of the stages.
    pub stages: &'a [f64],
    /// Seconds each stage is watched.
    pub stage_secs: f64,
    /// Lowest accuracy.
    pub min_accuracy: f64,
    /// Highest p95 latency, ms.
    pub max_p95_ms: f64,
    /// Highest error rate.
    pub max_error_rate: f64,
}

fn default_build_secs() -> f64 {
    3600.0
}

fn one() -> f64 {
    1.0
}
fn default_target() -> f64 {
    0.6
}
fn default_stages() -> Vec<f64> {
    vec![0.1, 0.5, 1.0]
}
fn default_stage_secs() -> f64 {
    900.0
}
fn default_min_accuracy() -> f64 {
    0.85
}
fn default_max_p95() -> f64 {
    200.0
}
fn default_max_errors() -> f64 {
    0.01
}

impl ActionTemplate {
    /// The class this action belongs to.
    pub fn class(&self) -> ActionClass {
        match self {
            ActionTemplate::Scale { .. } => ActionClass::Scale,
            ActionTemplate::Rollback => ActionClass::Rollback,
            ActionTemplate::Canary { .. } => ActionClass::Canary,
            ActionTemplate::Retrain => ActionClass::Retrain,
            ActionTemplate::Restart => ActionClass::Restart,
            ActionTemplate::Patch { .. } => ActionClass::Patch,
        }
    }

    /// Its staged rollout, when it has one.
    pub fn gates(&self) -> Option<Gates<'_>> {
        match self {
            ActionTemplate::Canary {
                stages,
                stage_secs,
                min_accuracy,
                max_p95_ms,
                max_error_rate,
            }
            | ActionTemplate::Patch {
                stages,
                stage_secs,
                min_accuracy,
                max_p95_ms,
                max_error_rate,
                ..
            } => Some(Gates {
                stages,
                stage_secs: *stage_secs,
                min_accuracy: *min_accuracy,
                max_p95_ms: *max_p95_ms,
                max_error_rate: *max_error_rate,
            }),
            _ => None,
        }
    }
}

/// How an action is verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// Signals that must be back within objectives (none: the action's own result decides).
    #[serde(default)]
    pub signals: Vec<Signal>,
    /// Seconds after execution within which they must be.
    #[serde(default = "default_window")]
    pub window_secs: f64,
}

fn default_window() -> f64 {
    900.0
}

/// How an action is undone when its verification fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Undo {
    /// Not undone automatically (raised to the operator).
    None,
    /// Back to the replica count before.
    ScaleBack,
    /// Back to the version before.
    RollForward,
    /// Traffic back to the serving version.
    AbortCanary,
}

/// How much of the fleet an action touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlastRadius {
    /// One model.
    Model,
    /// Every model of its namespace.
    Namespace,
}

/// A playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Action class (what the operator grants autonomy to).
    pub class: ActionClass,
    /// Runs by itself in the Autonomy phase.
    #[serde(default)]
    pub well_known: bool,
    /// What it touches.
    pub blast_radius: BlastRadius,
    /// Condition.
    pub when: When,
    /// Action.
    pub action: ActionTemplate,
    /// Verification.
    pub verify: Verify,
    /// Undo.
    pub undo: Undo,
    /// Expected effect, in words.
    pub expected: String,
    /// Risk, in words.
    pub risk: String,
    /// What an operator does by hand when this playbook is vetoed and nothing else answers
    /// (manual steps, commands, who to call).
    #[serde(default)]
    pub runbook: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaybookFile {
    #[serde(default)]
    playbook: Vec<Playbook>,
}

impl Playbook {
    /// Problems with a parsed playbook's values (not its syntax).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push("a playbook needs a name".to_string());
        }
        if self.class != self.action.class() {
            out.push(format!(
                "playbook '{}': class {} does not match its action ({})",
                self.name,
                self.class.name(),
                self.action.class().name()
            ));
        }
        let conditions = usize::from(self.when.cause.is_some())
            + usize::from(self.when.forecast.is_some())
            + usize::from(self.when.finding.is_some());
        match conditions {
            0 => out.push(format!(
                "playbook '{}': `when` needs a cause, a forecast or a finding",
                self.name
            )),
            1 => {}
            _ => out.push(format!(
                "playbook '{}': `when` has more than one of a cause, a forecast and a finding; use one playbook each",
                self.name
            )),
        }
        if self.when.finding.is_some() != matches!(self.action, ActionTemplate::Patch { .. }) {
            out.push(format!(
                "playbook '{}': a patch answers a finding, and a finding is answered by a patch",
                self.name
            ));
        }
        if matches!(
            self.when.cause,
            Some(Cause::Infrastructure | Cause::Unexplained)
        ) {
            out.push(format!(
                "playbook '{}': causes 'infrastructure' and 'unexplained' are for humans, not playbooks",
                self.name
            ));
        }
        if !(0.0..=1.0).contains(&self.when.min_confidence) {
            out.push(format!(
                "playbook '{}': min_confidence must be within 0..1",
                self.name
            ));
        }
        if !(self.when.min_shortfall.is_finite() && self.when.min_shortfall >= 0.0) {
            out.push(format!(
                "playbook '{}': min_shortfall must be ≥ 0",
                self.name
            ));
        }
        if !(self.verify.window_secs.is_finite() && self.verify.window_secs >= 60.0) {
            out.push(format!(
                "playbook '{}': verify.window_secs must be at least 60",
                self.name
            ));
        }
        match &self.action {
            ActionTemplate::Scale {
                to,
                factor,
                target_utilisation,
                headroom,
            } => {
                if to == &Some(0) {
                    out.push(format!(
                        "playbook '{}': scale to 0 is not allowed",
                        self.name
                    ));
                }
                if !(factor.is_finite() && (0.1..=10.0).contains(factor)) {
                    out.push(format!(
                        "playbook '{}': factor must be within 0.1..10",
                        self.name
                    ));
                }
                if !(target_utilisation.is_finite()
                    && *target_utilisation > 0.05
                    && *target_utilisation <= 1.0)
                {
                    out.push(format!(
                        "playbook '{}': target_utilisation must be within 0.05..1",
                        self.name
                    ));
                }
                if !(headroom.is_finite() && (0.0..=5.0).contains(headroom)) {
                    out.push(format!(
                        "playbook '{}': headroom must be within 0..5",
                        self.name
                    ));
                }
                if matches!(self.undo, Undo::RollForward | Undo::AbortCanary) {
                    out.push(format!(
                        "playbook '{}': a scale is undone with scale_back or none",
                        self.name
                    ));
                }
            }
            ActionTemplate::Patch { build_secs, .. } => {
                if !(build_secs.is_finite() && *build_secs >= 60.0) {
                    out.push(format!(
                        "playbook '{}': build_secs must be at least 60",
                        self.name
                    ));
                }
                if self.undo != Undo::AbortCanary {
                    out.push(format!(
                        "playbook '{}': a patch is undone with abort_canary (traffic back off the candidate; rolled back after its promotion)",
                        self.name
                    ));
                }
            }
            _ => {}
        }
        if let Some(Gates {
            stages,
            stage_secs,
            min_accuracy,
            max_p95_ms,
            max_error_rate,
        }) = self.action.gates()
        {
            let increasing = stages.windows(2).all(|w| w[0] < w[1]);
            let in_range = stages.iter().all(|s| *s > 0.0 && *s <= 1.0);
            if stages.is_empty() || !increasing || !in_range || stages.last() != Some(&1.0) {
                out.push(format!(
                    "playbook '{}': stages must increase within (0, 1] and end at 1.0, e.g. [0.1, 0.5, 1.0]",
                    self.name
                ));
            }
            if !(stage_secs.is_finite() && stage_secs >= 60.0) {
                out.push(format!(
                    "playbook '{}': stage_secs must be at least 60",
                    self.name
                ));
            }
            if !((0.0..=1.0).contains(&min_accuracy)
                && max_p95_ms.is_finite()
                && max_p95_ms > 0.0
                && (0.0..=1.0).contains(&max_error_rate))
            {
                out.push(format!(
                    "playbook '{}': gates need min_accuracy and max_error_rate in 0..1 and max_p95_ms > 0",
                    self.name
                ));
            }
        }
        out
    }

    /// What proves the action worked, within what time, through which canary gates, and how it
    /// is undone (`undo`, the action that reverses it, if any): the proposal's "verify" line.
    pub(crate) fn verification_summary(&self, undo: Option<&Action>) -> String {
        let signals = if self.verify.signals.is_empty() {
            "the action's own result".to_string()
        } else {
            let names: Vec<&str> = self.verify.signals.iter().map(|s| s.title()).collect();
            format!("{} back within objectives", names.join(", "))
        };
        let gates = match self.action.gates() {
            Some(Gates {
                stages,
                stage_secs,
                min_accuracy: accuracy,
                max_p95_ms: p95,
                max_error_rate: errors,
            }) => {
                let shares: Vec<String> = stages
                    .iter()
                    .map(|s| format!("{:.0} %", s * 100.0))
                    .collect();
                format!(
                    "; stages {} of {:.0} min each, promoted only while the candidate's accuracy ≥ {accuracy:.2}, p95 ≤ {p95:.0} ms, errors ≤ {:.1} %",
                    shares.join(" → "),
                    stage_secs / 60.0,
                    errors * 100.0
                )
            }
            None => String::new(),
        };
        let build = match &self.action {
            ActionTemplate::Patch { build_secs, .. } => format!(
                "the build registers a candidate within {:.0} min; then ",
                build_secs / 60.0
            ),
            _ => String::new(),
        };
        let undo = undo.map_or_else(
            || "none (raised to the operator)".to_string(),
            Action::describe,
        );
        format!(
            "{build}{signals} within {:.0} min{gates}; undo: {undo}",
            self.verify.window_secs / 60.0
        )
    }

    /// The scale target for a model that has `ready` replicas serving `rate` req/s, one
    /// replica serving `per_replica` req/s at 100 %.
    pub(crate) fn scale_target(&self, ready: u32, rate: f64, per_replica: f64) -> Option<u32> {
        let ActionTemplate::Scale {
            to,
            factor,
            target_utilisation,
            headroom,
        } = &self.action
        else {
            return None;
        };
        if let Some(n) = to {
            return Some(*n);
        }
        let by_factor = (f64::from(ready.max(1)) * factor).ceil();
        let by_demand = if rate.is_finite() && per_replica.is_finite() && per_replica > 0.0 {
            (rate * (1.0 + headroom) / (per_replica * target_utilisation)).ceil()
        } else {
            0.0
        };
        Some(by_factor.max(by_demand).clamp(1.0, 100_000.0) as u32)
    }
}

/// What is wrong with playbook text: the message, and where in the text (a byte span) when the
/// TOML parser knows; `config::playbooks` turns it into a file:line:col problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Flaw {
    /// Byte span in the text (`None`: the whole file).
    pub span: Option<std::ops::Range<usize>>,
    /// What is wrong.
    pub message: String,
}

impl Flaw {
    fn whole(message: String) -> Flaw {
        Flaw {
            span: None,
            message,
        }
    }
}

/// Parse playbooks from TOML text.
pub fn parse(text: &str) -> Result<Vec<Playbook>, Vec<Flaw>> {
    let file: PlaybookFile = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            return Err(vec![Flaw {
                span: e.span(),
                message: e.message().to_string(),
            }]);
        }
    };
    let mut flaws = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in &file.playbook {
        flaws.extend(p.problems().into_iter().map(Flaw::whole));
        if !seen.insert(p.name.clone()) {
            flaws.push(Flaw::whole(format!(
                "playbook '{}' is defined twice in this file",
                p.name
            )));
        }
    }
    if flaws.is_empty() {
        Ok(file.playbook)
    } else {
        Err(flaws)
    }
}

/// The built-in playbooks.
pub fn builtins() -> Vec<Playbook> {
    parse(BUILTIN).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_cover_every_action_class() {
        let b = parse(BUILTIN).expect("built-ins are valid");
        for class in ActionClass::ALL {
            assert!(
                b.iter().any(|p| p.class == class),
                "no built-in playbook for {}",
                class.name()
            );
        }
        for cause in [
            Cause::BadDeploy,
            Cause::TrafficSurge,
            Cause::MemoryLeak,
            Cause::DegradedPod,
            Cause::PodErrors,
            Cause::DataDrift,
        ] {
            assert!(b.iter().any(|p| p.when.cause == Some(cause)), "{cause}");
        }
        assert!(
            b.iter()
                .any(|p| p.when.forecast == Some(ForecastCondition::CapacityShort))
        );
    }

    #[test]
    fn scale_target_uses_demand_factor_and_fixed() {
        let b = builtins();
        let p = b.iter().find(|p| p.name == "scale-out-surge").unwrap();
        // 10 ready, 900 req/s, 100 req/s per replica: 900*1.3/(100*0.6) = 19.5 → 20
        assert_eq!(p.scale_target(10, 900.0, 100.0), Some(20));
        // little demand: at least 1.5 × ready
        assert_eq!(p.scale_target(10, 10.0, 100.0), Some(15));
        // unknown capacity: the factor
        assert_eq!(p.scale_target(10, 900.0, f64::NAN), Some(15));
    }
}
