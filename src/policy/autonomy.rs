//! Autonomy phases: how much pitcrew may do by itself.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The autonomy phase the console runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Observe only: detections and forecasts; proposals are shown as "would do".
    Foundation,
    /// Every action waits for a human.
    Augmentation,
    /// Well-known fixes run by themselves; others wait.
    Autonomy,
    /// Everything within guardrails runs; playbooks that stop working fall back to approval.
    Evolution,
}

impl Phase {
    /// Every phase in order.
    pub const ALL: [Phase; 4] = [
        Phase::Foundation,
        Phase::Augmentation,
        Phase::Autonomy,
        Phase::Evolution,
    ];

    /// Lower-case name (CLI, journal).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Foundation => "foundation",
            Phase::Augmentation => "augmentation",
            Phase::Autonomy => "autonomy",
            Phase::Evolution => "evolution",
        }
    }

    /// Parse a name (case-insensitive).
    pub fn from_name(s: &str) -> Option<Phase> {
        let s = s.to_ascii_lowercase();
        Phase::ALL.into_iter().find(|p| p.name() == s)
    }

    /// One line on what the phase allows.
    pub fn description(self) -> &'static str {
        match self {
            Phase::Foundation => "observe only: proposals are shown as \"would do\", nothing runs",
            Phase::Augmentation => "every action waits for a human to approve or veto it",
            Phase::Autonomy => "well-known fixes run by themselves, others wait for approval",
            Phase::Evolution => {
                "everything within guardrails runs; failing playbooks need approval"
            }
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.name();
        let mut c = n.chars();
        if let Some(first) = c.next() {
            write!(f, "{}{}", first.to_ascii_uppercase(), c.as_str())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Phase::ALL {
            assert_eq!(Phase::from_name(p.name()), Some(p));
            assert_eq!(Phase::from_name(&p.to_string()), Some(p));
        }
        assert_eq!(Phase::from_name("chaos"), None);
    }
}

/// The classes of remediation the operator grants autonomy to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Change the replica count.
    Scale,
    /// Roll back to the previous version.
    Rollback,
    /// Progressive rollout of a candidate version.
    Canary,
    /// Start a retraining job.
    Retrain,
    /// Rolling restart.
    Restart,
    /// Build and roll out a patched version (dependency or image bump).
    Patch,
}

impl ActionClass {
    /// Every class.
    pub const ALL: [ActionClass; 6] = [
        ActionClass::Scale,
        ActionClass::Rollback,
        ActionClass::Canary,
        ActionClass::Retrain,
        ActionClass::Restart,
        ActionClass::Patch,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ActionClass::Scale => "scale",
            ActionClass::Rollback => "rollback",
            ActionClass::Canary => "canary",
            ActionClass::Retrain => "retrain",
            ActionClass::Restart => "restart",
            ActionClass::Patch => "patch",
        }
    }
}

/// What happens to a proposal of some class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Shown as "would do"; nothing runs.
    Observe,
    /// Waits for a human to approve or veto it.
    Approve,
    /// Runs by itself (within guardrails).
    Auto,
}

/// Operator overrides of the phase default, per phase and action class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassOverrides {
    map: std::collections::BTreeMap<(Phase, ActionClass), Mode>,
}

impl ClassOverrides {
    /// Set (or with `None` clear) the mode of a class in a phase.
    pub fn set(&mut self, phase: Phase, class: ActionClass, mode: Option<Mode>) {
        match mode {
            Some(m) => {
                self.map.insert((phase, class), m);
            }
            None => {
                self.map.remove(&(phase, class));
            }
        }
    }

    /// The override of a class in a phase.
    pub fn get(&self, phase: Phase, class: ActionClass) -> Option<Mode> {
        self.map.get(&(phase, class)).copied()
    }

    /// Every override.
    pub fn entries(&self) -> Vec<(Phase, ActionClass, Mode)> {
        self.map.iter().map(|(&(p, c), &m)| (p, c, m)).collect()
    }

    /// From a list of overrides.
    pub fn from_entries(list: &[(Phase, ActionClass, Mode)]) -> Self {
        let mut o = ClassOverrides::default();
        for &(p, c, m) in list {
            o.set(p, c, Some(m));
        }
        o
    }
}

/// What the policy knows of a playbook.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trust {
    /// Marked well-known by its author (runs by itself in the Autonomy phase).
    pub well_known: bool,
    /// Measured success rate and the number of outcomes it rests on.
    pub success: Option<(f64, u32)>,
}

/// Below this success rate (over at least [`MIN_OUTCOMES`] outcomes) a playbook needs approval
/// whatever the phase says.
pub const MIN_SUCCESS_RATE: f64 = 0.7;
/// Outcomes needed before a success rate counts.
pub const MIN_OUTCOMES: u32 = 5;

/// The policy's decision for one proposal, with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Mode.
    pub mode: Mode,
    /// Why, in one line.
    pub why: String,
}

/// Decide how a proposal of `class` is handled in `phase`.
///
/// Foundation observes whatever the overrides say (nothing runs in it). Elsewhere an operator
/// override of the class wins over the phase default (Augmentation: approve; Autonomy: auto for
/// well-known playbooks, else approve; Evolution: auto). A playbook whose measured success rate
/// fell below [`MIN_SUCCESS_RATE`] never runs by itself: it falls back to approval.
pub fn decide(
    phase: Phase,
    overrides: &ClassOverrides,
    class: ActionClass,
    trust: Trust,
) -> Decision {
    if phase == Phase::Foundation {
        return Decision {
            mode: Mode::Observe,
            why: "Foundation phase: observe only, nothing runs".into(),
        };
    }
    let (mode, mut why) = match overrides.get(phase, class) {
        Some(m) => (
            m,
            format!(
                "operator set {} to {m:?} in the {phase} phase",
                class.name()
            ),
        ),
        None => match phase {
            Phase::Foundation | Phase::Augmentation => (
                Mode::Approve,
                format!("{phase} phase: every action waits for approval"),
            ),
            Phase::Autonomy if trust.well_known => (
                Mode::Auto,
                "Autonomy phase: a well-known playbook runs by itself".to_string(),
            ),
            Phase::Autonomy => (
                Mode::Approve,
                "Autonomy phase: not a well-known playbook, waits for approval".to_string(),
            ),
            Phase::Evolution => (
                Mode::Auto,
                "Evolution phase: runs by itself within guardrails".to_string(),
            ),
        },
    };
    if mode == Mode::Auto
        && let Some((rate, n)) = trust.success
        && n >= MIN_OUTCOMES
        && rate < MIN_SUCCESS_RATE
    {
        why = format!(
            "{why}, but its success rate {:.0} % over {n} outcomes is below {:.0} %: needs approval",
            rate * 100.0,
            MIN_SUCCESS_RATE * 100.0
        );
        return Decision {
            mode: Mode::Approve,
            why,
        };
    }
    Decision { mode, why }
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    /// The whole table: every phase × override × action class × playbook trust.
    #[test]
    fn every_phase_override_and_class() {
        let trusts = [
            (
                "plain",
                Trust {
                    well_known: false,
                    success: None,
                },
            ),
            (
                "well-known",
                Trust {
                    well_known: true,
                    success: None,
                },
            ),
            (
                "proven",
                Trust {
                    well_known: true,
                    success: Some((0.95, 20)),
                },
            ),
            (
                "failing",
                Trust {
                    well_known: true,
                    success: Some((0.5, 10)),
                },
            ),
            (
                "too-few",
                Trust {
                    well_known: false,
                    success: Some((0.0, 4)),
                },
            ),
        ];
        let overrides = [
            None,
            Some(Mode::Observe),
            Some(Mode::Approve),
            Some(Mode::Auto),
        ];
        let mut checked = 0;
        for phase in Phase::ALL {
            for class in ActionClass::ALL {
                for ov in overrides {
                    for (name, trust) in trusts {
                        let mut o = ClassOverrides::default();
                        o.set(phase, class, ov);
                        // an override of another class or phase must not matter
                        o.set(
                            Phase::Evolution,
                            if class == ActionClass::Scale {
                                ActionClass::Restart
                            } else {
                                ActionClass::Scale
                            },
                            Some(Mode::Observe),
                        );
                        let failing = name == "failing";
                        let expected = match (phase, ov) {
                            (Phase::Foundation, _) => Mode::Observe,
                            (_, Some(Mode::Auto)) if failing => Mode::Approve,
                            (_, Some(m)) => m,
                            (Phase::Augmentation, None) => Mode::Approve,
                            (Phase::Autonomy, None) if trust.well_known && !failing => Mode::Auto,
                            (Phase::Autonomy, None) => Mode::Approve,
                            (Phase::Evolution, None) if failing => Mode::Approve,
                            (Phase::Evolution, None) => Mode::Auto,
                        };
                        let d = decide(phase, &o, class, trust);
                        assert_eq!(
                            d.mode, expected,
                            "{phase} {class:?} override {ov:?} {name}: {}",
                            d.why
                        );
                        assert!(!d.why.is_empty());
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 4 * ActionClass::ALL.len() * 4 * 5);
    }

    #[test]
    fn overrides_set_and_clear() {
        let mut o = ClassOverrides::default();
        o.set(Phase::Autonomy, ActionClass::Rollback, Some(Mode::Auto));
        assert_eq!(
            o.get(Phase::Autonomy, ActionClass::Rollback),
            Some(Mode::Auto)
        );
        assert_eq!(o.get(Phase::Evolution, ActionClass::Rollback), None);
        o.set(Phase::Autonomy, ActionClass::Rollback, None);
        assert_eq!(o.get(Phase::Autonomy, ActionClass::Rollback), None);
    }
}
