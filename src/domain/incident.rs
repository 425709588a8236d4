//! The kinds of incident a fleet can be given on purpose: injected into the simulated fleet,
//! journaled as events, named on the command line and in the console's injection menu.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Kinds of incident that can be injected into a fleet (by the simulator, or named in a
/// recorded session's injection events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentKind {
    /// A degraded pod (noisy neighbour, bad node) makes p95 latency jump; a restart fixes it.
    LatencySpike,
    /// A pod in a bad state fails a share of requests; a restart fixes it.
    ErrorBurst,
    /// The input data drifts and accuracy falls over hours; retraining or a better version fixes it.
    AccuracyDrift,
    /// Demand rises to several times normal for an hour or two; more replicas absorb it.
    TrafficSurge,
    /// Memory grows since the last restart: CPU and latency creep up; a restart fixes it.
    MemoryLeak,
    /// A new version is deployed that is worse (accuracy, latency, errors); a rollback fixes it.
    BadDeploy,
}

impl IncidentKind {
    /// Every kind, in menu order.
    pub const ALL: [IncidentKind; 6] = [
        IncidentKind::LatencySpike,
        IncidentKind::ErrorBurst,
        IncidentKind::AccuracyDrift,
        IncidentKind::TrafficSurge,
        IncidentKind::MemoryLeak,
        IncidentKind::BadDeploy,
    ];

    /// Kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            IncidentKind::LatencySpike => "latency-spike",
            IncidentKind::ErrorBurst => "error-burst",
            IncidentKind::AccuracyDrift => "accuracy-drift",
            IncidentKind::TrafficSurge => "traffic-surge",
            IncidentKind::MemoryLeak => "memory-leak",
            IncidentKind::BadDeploy => "bad-deploy",
        }
    }

    /// One line saying what it does.
    pub fn description(self) -> &'static str {
        match self {
            IncidentKind::LatencySpike => {
                "a degraded pod makes p95 latency jump (restart fixes it)"
            }
            IncidentKind::ErrorBurst => "a pod in a bad state fails requests (restart fixes it)",
            IncidentKind::AccuracyDrift => {
                "input data drifts, accuracy falls over hours (retrain or a better version)"
            }
            IncidentKind::TrafficSurge => "demand rises ×3 for 90 minutes (scale out)",
            IncidentKind::MemoryLeak => "CPU and latency creep up until a restart",
            IncidentKind::BadDeploy => "a worse version is deployed (roll back)",
        }
    }

    /// Parse a kebab-case name.
    pub fn from_name(s: &str) -> Option<IncidentKind> {
        IncidentKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
