//! Registry rules, pure: which version is better, the rollback target, canary candidates, alias moves.

use super::*;

/// A run's logged metrics that matter for a canary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Offline accuracy, 0..1 ([`ACCURACY_KEYS`]).
    pub accuracy: Option<f64>,
    /// p95 latency, ms ([`LATENCY_KEYS`]).
    pub latency_p95_ms: Option<f64>,
    /// Error rate, 0..1 ([`ERROR_RATE_KEYS`]).
    pub error_rate: Option<f64>,
}

impl RunMetrics {
    /// Read from a run: for each, the first key present with a finite value.
    pub(crate) fn from_run(run: &Run) -> Self {
        let first = |keys: &[&str]| keys.iter().find_map(|k| run.metric(k));
        RunMetrics {
            accuracy: first(ACCURACY_KEYS),
            latency_p95_ms: first(LATENCY_KEYS),
            error_rate: first(ERROR_RATE_KEYS),
        }
    }
}

/// A candidate beats the champion when both logged an accuracy and the candidate's is strictly
/// higher (a tie is not better; no accuracy, no verdict).
pub(crate) fn is_better(candidate: Option<f64>, champion: Option<f64>) -> bool {
    match (candidate, champion) {
        (Some(c), Some(ch)) => c.is_finite() && ch.is_finite() && c > ch,
        _ => false,
    }
}

/// The version to roll back to from `champion`:
///
/// 1. the version the `previous-champion` alias names (`previous_alias`), when it is not the
///    champion and still eligible (READY, not archived, not rolled back) — [`Registry::promote`]
///    recorded it, so this is exact (it may even be newer than the champion, when a human
///    promoted an older version);
/// 2. otherwise the highest eligible version below the champion that has served (pitcrew
///    promoted it: tag [`TAG_PROMOTED_AT`]);
/// 3. otherwise the highest eligible version below the champion.
///
/// `None` when no version qualifies.
pub(crate) fn rollback_target(
    champion: u64,
    previous_alias: Option<u64>,
    versions: &[ModelVersion],
) -> Option<u64> {
    let find = |n: u64| versions.iter().find(|v| v.number() == Some(n));
    if let Some(p) = previous_alias
        && p != champion
        && find(p).is_some_and(ModelVersion::is_eligible)
    {
        return Some(p);
    }
    let below = || {
        versions
            .iter()
            .filter(|v| v.is_eligible())
            .filter_map(|v| v.number().map(|n| (n, v)))
            .filter(|(n, _)| *n < champion)
    };
    below()
        .filter(|(_, v)| v.has_served())
        .map(|(n, _)| n)
        .max()
        .or_else(|| below().map(|(n, _)| n).max())
}

/// Candidates for a canary, highest first: the `challenger` alias's version and every version
/// newer than the champion, each eligible (READY, not archived, not rolled back) and not the
/// champion. With no champion every eligible version is a candidate.
pub(crate) fn candidate_versions(
    champion: Option<u64>,
    challenger: Option<u64>,
    versions: &[ModelVersion],
) -> Vec<u64> {
    let mut out: Vec<u64> = versions
        .iter()
        .filter(|v| v.is_eligible())
        .filter_map(ModelVersion::number)
        .filter(|&n| Some(n) != champion)
        .filter(|&n| Some(n) == challenger || champion.is_none_or(|c| n > c))
        .collect();
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    out
}

/// The version string pitcrew's engine uses for an MLflow version (`v{n}`).
pub(crate) fn engine_version(version: u64) -> String {
    format!("v{version}")
}

/// A candidate version with what its run logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Version.
    pub version: u64,
    /// The run that produced it (empty when none).
    pub run_id: String,
    /// Its run's metrics (all `None` when it has no run).
    pub metrics: RunMetrics,
    /// The challenger alias points at it.
    pub challenger: bool,
    /// Its accuracy beats the champion's ([`is_better`]).
    pub better: bool,
}

/// A registered model as the playbooks see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryState {
    /// Registered model name.
    pub model: String,
    /// The champion version (None when the alias is not set).
    pub champion: Option<u64>,
    /// The champion's run metrics.
    pub champion_metrics: RunMetrics,
    /// The challenger alias's version.
    pub challenger: Option<u64>,
    /// The `previous-champion` alias's version.
    pub previous_champion: Option<u64>,
    /// Where [`Registry::rollback`] would go ([`rollback_target`]).
    pub rollback_to: Option<u64>,
    /// Canary candidates, highest version first.
    pub candidates: Vec<Candidate>,
}

impl RegistryState {
    /// The best candidate that beats the champion: the challenger if it is better, else the
    /// better candidate with the highest accuracy (then the highest version).
    pub fn best_candidate(&self) -> Option<&Candidate> {
        let better = || self.candidates.iter().filter(|c| c.better);
        better().find(|c| c.challenger).or_else(|| {
            better().max_by(|a, b| {
                let (x, y) = (a.metrics.accuracy, b.metrics.accuracy);
                x.partial_cmp(&y)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.version.cmp(&b.version))
            })
        })
    }
}

/// What [`Registry::promote`] or [`Registry::rollback`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasMove {
    /// Registered model.
    pub model: String,
    /// Champion before.
    pub from: Option<u64>,
    /// Champion now.
    pub to: u64,
    /// False when it already was the champion.
    pub changed: bool,
}

impl std::fmt::Display for AliasMove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.from, self.changed) {
            (_, false) => write!(f, "{} version {} already champion", self.model, self.to),
            (Some(from), true) => write!(
                f,
                "{} champion moved from version {from} to {}",
                self.model, self.to
            ),
            (None, true) => write!(f, "{} champion set to version {}", self.model, self.to),
        }
    }
}
