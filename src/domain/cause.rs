//! The probable root causes a diagnosis names and a playbook answers, each with what usually
//! fixes it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A probable root cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A recent deploy made the model worse.
    BadDeploy,
    /// More demand than the replicas can serve.
    TrafficSurge,
    /// Resource use creeping up since the last restart.
    MemoryLeak,
    /// Latency up with no more load: a degraded pod, node or dependency.
    DegradedPod,
    /// Requests failing with no more load and no deploy: pods in a bad state.
    PodErrors,
    /// Accuracy falling with no deploy: the input data changed.
    DataDrift,
    /// Several models of one namespace at once: shared infrastructure.
    Infrastructure,
    /// Something moved, and no rule explains it.
    Unexplained,
}

impl Cause {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Cause::BadDeploy => "bad deploy",
            Cause::TrafficSurge => "traffic surge",
            Cause::MemoryLeak => "memory leak",
            Cause::DegradedPod => "degraded pod",
            Cause::PodErrors => "pods failing",
            Cause::DataDrift => "data drift",
            Cause::Infrastructure => "shared infrastructure",
            Cause::Unexplained => "unexplained",
        }
    }

    /// What usually fixes it.
    pub fn remedy(self) -> &'static str {
        match self {
            Cause::BadDeploy => "roll back to the previous version",
            Cause::TrafficSurge => "scale out",
            Cause::MemoryLeak => "rolling restart",
            Cause::DegradedPod => "rolling restart (reschedules the pods)",
            Cause::PodErrors => "rolling restart",
            Cause::DataDrift => "retrain, or canary a better registered version",
            Cause::Infrastructure => "escalate to the platform team; do not act per model",
            Cause::Unexplained => "look at the charts; no automatic action",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
