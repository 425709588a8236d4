//! Incidents: a model misbehaving, from the first anomaly or broken objective until its signals
//! have been normal for a while, with the diagnosis kept up to date.

use super::snapshot::Status;
use crate::diagnosis::Hypothesis;
use crate::domain::Signal;
use serde::{Deserialize, Serialize};

/// Seconds of normal signals before an incident is resolved.
pub(crate) const RESOLVE_AFTER: f64 = 600.0;
/// Seconds between two diagnoses of an open incident.
pub(crate) const REDIAGNOSE_EVERY: f64 = 60.0;

/// One incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Sequence number.
    pub id: u64,
    /// Model index.
    pub model: u32,
    /// `namespace/name`.
    pub key: String,
    /// Namespace.
    pub namespace: String,
    /// When the first symptom was seen.
    pub onset: f64,
    /// When the incident was opened.
    pub opened: f64,
    /// Last time a symptom was seen.
    pub last_bad: f64,
    /// When it was resolved.
    pub resolved: Option<f64>,
    /// Worst status seen.
    pub severity: Status,
    /// Signals that were anomalous or out of objectives.
    pub signals: Vec<Signal>,
    /// Ranked hypotheses, best first.
    pub hypotheses: Vec<Hypothesis>,
    /// When the hypotheses were computed.
    pub diagnosed_at: f64,
    /// Since when the top hypothesis has been the same cause.
    #[serde(default)]
    pub top_since: f64,
    /// When a cause other than "unexplained" first became the top hypothesis.
    #[serde(default)]
    pub first_cause_since: f64,
}

impl Incident {
    /// True while open.
    pub fn is_open(&self) -> bool {
        self.resolved.is_none()
    }

    /// Seconds from onset to resolution (or to `now`).
    pub fn duration(&self, now: f64) -> f64 {
        self.resolved.unwrap_or(now) - self.onset
    }

    /// The best hypothesis.
    pub fn top(&self) -> Option<&Hypothesis> {
        self.hypotheses.first()
    }
}
