//! The actions a remediation carries out on one model, and how they are described to people.

use serde::{Deserialize, Serialize};

/// What an actuator is asked to do to one model: the same shape for the simulated fleet,
/// Kubernetes and the MLflow registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Set the desired replica count.
    Scale {
        /// Desired replicas.
        replicas: u32,
    },
    /// Roll back to the previous version.
    Rollback,
    /// Shift a share of traffic (0..1) to a candidate version; 1.0 promotes it.
    Canary {
        /// Candidate version number.
        version: u32,
        /// Share of traffic on the candidate.
        share: f64,
    },
    /// Start a retraining job; a new candidate version appears when it finishes.
    Retrain,
    /// Rolling restart of the pods.
    Restart,
    /// Build a patched candidate version of the model with these pins instead of the ones it
    /// runs (a dependency or a serving image's packages); the build registers the candidate,
    /// which then rolls out through the canary's gates.
    Patch {
        /// What the build pins instead.
        bumps: Vec<super::Bump>,
        /// A finding it fixes has no severity score (never patched without approval).
        #[serde(default)]
        unknown_severity: bool,
    },
}

impl Action {
    /// The action in a few words.
    pub(crate) fn describe(&self) -> String {
        match self {
            Action::Scale { replicas } => format!("scale to {replicas} replicas"),
            Action::Rollback => "roll back to the previous version".to_string(),
            Action::Canary { version, share } => {
                if *share <= 0.0 {
                    format!("move all traffic off v{version}")
                } else {
                    format!("canary v{version} at {:.0} %", share * 100.0)
                }
            }
            Action::Retrain => "start a retraining job".to_string(),
            Action::Restart => "rolling restart".to_string(),
            Action::Patch { bumps, .. } => {
                let pins: Vec<String> = bumps.iter().map(super::Bump::describe).collect();
                format!("build a patched version with {}", pins.join(", "))
            }
        }
    }
}
