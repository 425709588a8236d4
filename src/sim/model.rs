//! One simulated model: its versions, its replicas and what it serves, the incidents it is
//! going through and the rollout in progress; the names of the built-in fleet; how long a deploy
//! of a model takes.

use crate::domain::IncidentKind;
use crate::fleet::ModelMeta;
use crate::rng::Rng;
use std::collections::VecDeque;
use std::sync::Arc;

/// A version of a simulated model.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSpec {
    /// Version number (shown as `v{n}`).
    pub number: u32,
    /// Accuracy on fresh data.
    pub accuracy: f64,
    /// Latency multiplier.
    pub latency_mult: f64,
    /// Extra error rate.
    pub error_add: f64,
    /// Accuracy lost per day to drift (data ages).
    pub drift_per_day: f64,
    /// Time the version started serving (drift counts from there).
    pub since: f64,
    /// The Python requirements it was built with (a `requirements.txt`).
    pub requirements: Arc<str>,
}

#[derive(Debug, Clone)]
pub(super) struct ActiveIncident {
    pub(super) kind: IncidentKind,
    pub(super) start: f64,
    pub(super) end: Option<f64>,
}

#[derive(Debug, Clone)]
pub(super) struct Rollout {
    pub(super) duration: f64,
    pub(super) from: u32,
    pub(super) to: u32,
    pub(super) start: f64,
    pub(super) share_from: f64,
    pub(super) share_to: f64,
}

impl Rollout {
    /// A rollout from version `from` to `to` that starts at `start` and takes `duration`
    /// seconds, from none of the traffic to all of it.
    pub(super) fn new(from: u32, to: u32, start: f64, duration: f64) -> Rollout {
        Rollout {
            duration,
            from,
            to,
            start,
            share_from: 0.0,
            share_to: 1.0,
        }
    }
}

/// One simulated model.
#[derive(Debug, Clone)]
pub struct SimModel {
    /// Static facts.
    pub meta: ModelMeta,
    pub(super) base_rate: f64,
    pub(super) capacity: f64,
    pub(super) base_latency: f64,
    pub(super) base_error: f64,
    pub(super) peak_hour: f64,
    pub(super) daily_amp: f64,
    pub(super) weekend_dip: f64,
    pub(super) noise: f64,
    pub(super) ready: u32,
    pub(super) pending: Vec<f64>,
    /// Bounds the actuator respects.
    pub min_replicas: u32,
    /// Bounds the actuator respects.
    pub max_replicas: u32,
    pub(super) versions: Vec<VersionSpec>,
    pub(super) serving: u32,
    pub(super) previous: Option<u32>,
    pub(super) canary: Option<(u32, f64)>,
    pub(super) rollout: Option<Rollout>,
    pub(super) incidents: Vec<ActiveIncident>,
    pub(super) leak_since: Option<f64>,
    pub(super) restart_until: Option<f64>,
    pub(super) retrain_done: Option<f64>,
    /// A patch build running: when it registers its candidate, and what it pins.
    pub(super) build: Option<(f64, Vec<crate::domain::Bump>)>,
    /// The next patch build breaks the model (its candidate serves slower and fails more):
    /// what a canary must catch.
    pub(crate) build_regresses: bool,
    pub(super) labels: VecDeque<(f64, f64)>,
    pub(super) acc_ewma: f64,
    pub(super) next_deploy: f64,
}

pub(super) fn version_name(n: u32) -> String {
    format!("v{n}")
}

/// `requirements` with each bumped package pinned at its new version (a `name==version` line
/// of the package, its name compared as PEP 503 normalises it, is replaced; the others kept).
pub(super) fn patched(requirements: &str, bumps: &[crate::domain::Bump]) -> String {
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace(['_', '.'], "-");
    let mut out = String::with_capacity(requirements.len());
    for line in requirements.lines() {
        let name = line.split_once("==").map(|(n, _)| norm(n));
        match bumps.iter().find(|b| {
            b.source.is_requirements() && name.as_deref() == Some(norm(&b.package).as_str())
        }) {
            Some(b) => out.push_str(&format!("{}=={}", b.package, b.to)),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

impl SimModel {
    pub(super) fn version(&self, n: u32) -> Option<&VersionSpec> {
        self.versions.iter().find(|v| v.number == n)
    }

    /// The Python requirements of the version serving most traffic.
    pub fn requirements(&self) -> &str {
        self.version(self.serving)
            .or(self.versions.first())
            .map_or("", |v| &v.requirements)
    }

    /// Version number serving most traffic.
    pub fn serving_version(&self) -> u32 {
        self.serving
    }

    /// Ready replicas now.
    pub fn ready_replicas(&self) -> u32 {
        self.ready
    }

    /// Ready plus starting replicas.
    pub(crate) fn desired_replicas(&self) -> u32 {
        self.ready + self.pending.len() as u32
    }

    /// Capacity of one replica at 100 % CPU, requests/s.
    pub fn capacity_per_replica(&self) -> f64 {
        self.capacity
    }

    /// Candidate versions newer than the serving one, with their offline accuracy.
    pub fn candidates(&self) -> Vec<(u32, f64)> {
        self.versions
            .iter()
            .filter(|v| v.number > self.serving)
            .map(|v| (v.number, v.accuracy))
            .collect()
    }

    /// Incident kinds active now (ground truth, for backtests and tests only).
    pub fn active_incidents(&self) -> Vec<IncidentKind> {
        self.incidents.iter().map(|i| i.kind).collect()
    }

    pub(super) fn demand(&self, t: f64, surge: f64) -> f64 {
        let hour = (t.rem_euclid(86_400.0)) / 3600.0;
        let day = ((t / 86_400.0).floor() as i64 + 3).rem_euclid(7); // 0 = Monday; 1970-01-01 was a Thursday
        let daily =
            1.0 + self.daily_amp * ((hour - self.peak_hour) / 24.0 * std::f64::consts::TAU).cos();
        let weekly = if day >= 5 {
            1.0 - self.weekend_dip
        } else {
            1.0
        };
        (self.base_rate * daily * weekly * (1.0 + self.noise) * surge).max(0.0)
    }

    pub(super) fn share_of(&self, t: f64) -> Vec<(u32, f64)> {
        if let Some(r) = &self.rollout {
            let f = ((t - r.start) / r.duration.max(1.0)).clamp(0.0, 1.0);
            let to_share = r.share_from + (r.share_to - r.share_from) * f;
            if r.from == r.to {
                return vec![(r.to, 1.0)];
            }
            return vec![(r.from, 1.0 - to_share), (r.to, to_share)];
        }
        match self.canary {
            Some((v, s)) if v != self.serving => vec![(self.serving, 1.0 - s), (v, s)],
            _ => vec![(self.serving, 1.0)],
        }
    }
}

/// Names used for the built-in fleet: (namespace, model, business priority).
pub(super) const BUILTIN: [(&str, &str, u8); 15] = [
    ("search", "query-intent", 1),
    ("search", "ranker-bert", 1),
    ("search", "spell-correct", 3),
    ("ads", "ctr-predictor", 1),
    ("ads", "bid-shading", 2),
    ("ads", "budget-pacer", 3),
    ("fraud", "txn-scorer", 1),
    ("fraud", "chargeback-risk", 2),
    ("fraud", "kyc-doc-ocr", 3),
    ("recs", "home-feed", 2),
    ("recs", "similar-items", 3),
    ("recs", "email-digest", 4),
    ("vision", "image-moderation", 1),
    ("vision", "face-blur", 2),
    ("vision", "thumbnail-crop", 5),
];

/// How long a routine deploy of a model takes, seconds: pulling and loading its weights (grows
/// with size and complexity), slower during busy weekday hours, with noise. The deployment
/// predictor learns this from the recorded deploys.
pub fn deploy_secs(meta: &ModelMeta, t: f64, rng: &mut Rng) -> f64 {
    let hour = (t.rem_euclid(86_400.0) / 3600.0).floor();
    let day = ((t / 86_400.0).floor() as i64 + 3).rem_euclid(7); // 0 = Monday
    let busy = if day < 5 && (9.0..18.0).contains(&hour) {
        1.4
    } else {
        1.0
    };
    let base = 45.0 + 18.0 * meta.size_gb * (0.6 + 0.8 * meta.complexity);
    (base * busy * (1.0 + 0.08 * rng.normal())).max(20.0)
}
