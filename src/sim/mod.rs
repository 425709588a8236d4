//! The built-in simulated fleet: a deterministic, seeded model of served ML models.
//!
//! The world is pure: [`SimWorld::step`] advances it by [`SIM_STEP`] seconds and returns one
//! [`Sample`] per model; actions ([`SimWorld::act`]) and incident injections change it. The
//! source task (`sources::sim`) paces it in real time; backtests drive it in lock-step.
//!
//! Physics, chosen to be realistic for model servers:
//! - demand: a per-model base rate × daily and weekly seasonality × AR(1) noise × surges;
//! - each replica serves `capacity` requests/s at 100 % CPU; utilisation `u = demand / capacity`;
//! - p95 latency rises with load per replica, `base × (1 + u³ / (1 − u))` (queueing), capped;
//! - errors: a base rate, plus shed load above capacity, plus incidents;
//! - accuracy is measured from labels that arrive [`LABEL_DELAY`] after the prediction, and drifts
//!   slowly as data changes; a new version resets the drift;
//! - new pods are ready [`POD_STARTUP`] after they are asked for (they load weights); a rollout
//!   or rollback takes [`ROLLOUT_TIME`]; a rolling restart takes [`RESTART_TIME`].

mod model;
mod physics;
mod pins;
pub mod scenario;

use model::{ActiveIncident, BUILTIN, Rollout, version_name};
pub use model::{SimModel, VersionSpec, deploy_secs};

use crate::domain::Signal;
use crate::domain::{Action, IncidentKind};
use crate::fleet::{ModelMeta, Sample};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Seconds between two samples.
pub const SIM_STEP: f64 = 5.0;
/// Seconds from asking for a pod to its being ready.
pub(crate) const POD_STARTUP: f64 = 150.0;
/// Seconds a rollout or rollback of a version takes.
pub(crate) const ROLLOUT_TIME: f64 = 180.0;
/// Seconds a rolling restart takes.
pub(crate) const RESTART_TIME: f64 = 120.0;
/// Seconds between a prediction and its label.
pub(crate) const LABEL_DELAY: f64 = 600.0;
/// Seconds a retraining job takes.
pub(crate) const RETRAIN_TIME: f64 = 1800.0;
/// Seconds a patch build takes to register its candidate (install the new pins, run the
/// model's tests, log the version).
pub(crate) const BUILD_TIME: f64 = 900.0;

/// How long an injected incident lasts unless remediated, seconds (`None`: until fixed).
pub(crate) fn default_duration(kind: IncidentKind) -> Option<f64> {
    match kind {
        IncidentKind::LatencySpike => Some(3.0 * 3600.0),
        IncidentKind::ErrorBurst => Some(2.0 * 3600.0),
        IncidentKind::TrafficSurge => Some(90.0 * 60.0),
        IncidentKind::AccuracyDrift | IncidentKind::MemoryLeak | IncidentKind::BadDeploy => None,
    }
}

/// A scheduled incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    /// When it starts (sim time).
    pub at: f64,
    /// Index of the target model.
    pub model: usize,
    /// What happens.
    pub kind: IncidentKind,
}

/// Something the world did by itself, reported alongside samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum WorldEvent {
    /// A version finished rolling out (deploy, rollback or promotion).
    Deployed {
        /// Model index.
        model: usize,
        /// Previous version.
        from: String,
        /// New version.
        to: String,
        /// Seconds the rollout took.
        duration: f64,
    },
    /// A rollout started.
    RolloutStarted {
        /// Model index.
        model: usize,
        /// Previous version.
        from: String,
        /// New version.
        to: String,
    },
    /// A retraining job finished and registered a new candidate version.
    CandidateRegistered {
        /// Model index.
        model: usize,
        /// Candidate version.
        version: String,
        /// Its offline accuracy.
        accuracy: f64,
    },
    /// An incident was injected (simulation ground truth, shown for training; never used by
    /// detection or diagnosis).
    Injected {
        /// Model index.
        model: usize,
        /// Kind.
        incident: IncidentKind,
    },
    /// A routine deploy of a new version was scheduled.
    DeployPlanned {
        /// Model index.
        model: usize,
        /// Version to deploy.
        version: String,
        /// When it will start.
        at: f64,
    },
    /// A restart finished.
    Restarted {
        /// Model index.
        model: usize,
    },
}

/// The namespaces of the simulated fleet, each once.
pub fn namespaces() -> Vec<&'static str> {
    let mut v: Vec<&str> = model::BUILTIN.iter().map(|b| b.0).collect();
    v.dedup();
    v
}

/// The whole simulated fleet.
#[derive(Debug, Clone)]
pub struct SimWorld {
    /// Models, indexed as in samples.
    pub models: Vec<SimModel>,
    t: f64,
    rng: Rng,
    schedule: Vec<Scheduled>,
    events: Vec<WorldEvent>,
    /// Scan each version that starts serving against the advisories (as the console's
    /// registry poll does): on in the console and the patch scenarios, off in the incident
    /// backtests and fixtures, which measure incident response alone.
    pub rescan: bool,
}

impl SimWorld {
    /// A fleet of `n` models (at least the 15 built-in ones are named; more get numbered names)
    /// whose clock starts at `t0` (unix seconds).
    pub fn new(seed: u64, n: usize, t0: f64) -> Self {
        Self::shard(seed, n, t0, None)
    }

    /// The fleet of [`SimWorld::new`], keeping only the models in `namespaces` (all when
    /// `None`): each model is made as in the whole fleet (name, size, versions, traffic), so that
    /// agents given disjoint namespaces of the same seed share one fleet between them.
    pub fn shard(seed: u64, n: usize, t0: f64, namespaces: Option<&[String]>) -> Self {
        let mut rng = Rng::new(seed);
        let mut models = Vec::with_capacity(n);
        for i in 0..n {
            let (ns, name, prio) = BUILTIN[i % BUILTIN.len()];
            let name = if i < BUILTIN.len() {
                name.to_string()
            } else {
                format!("{name}-{}", i / BUILTIN.len())
            };
            let base_rate = (rng.range(2.0f64.ln(), 2500.0f64.ln())).exp();
            let capacity = rng.range(15.0, 120.0);
            let daily_amp = rng.range(0.25, 0.6);
            let peak = base_rate * (1.0 + daily_amp) * 1.3;
            let target_u = rng.range(0.45, 0.6);
            let replicas = ((peak / (capacity * target_u)).ceil() as u32).clamp(2, 400);
            let acc = rng.range(0.89, 0.965);
            let vnum = 1 + rng.below(9) as u32;
            let pins: std::sync::Arc<str> = pins::PINS[i % BUILTIN.len()].into();
            let versions = vec![
                VersionSpec {
                    number: vnum.saturating_sub(1).max(1),
                    accuracy: acc - 0.01,
                    latency_mult: 1.0,
                    error_add: 0.0,
                    drift_per_day: rng.range(0.001, 0.004),
                    since: t0 - 30.0 * 86_400.0,
                    requirements: pins.clone(),
                },
                VersionSpec {
                    number: vnum.max(2),
                    accuracy: acc,
                    latency_mult: 1.0,
                    error_add: 0.0,
                    drift_per_day: rng.range(0.001, 0.004),
                    since: t0 - rng.range(1.0, 5.0) * 86_400.0,
                    requirements: pins,
                },
            ];
            let serving = vnum.max(2);
            models.push(SimModel {
                meta: ModelMeta {
                    name,
                    namespace: ns.to_string(),
                    version: version_name(serving),
                    priority: prio,
                    size_gb: rng.range(0.3f64.ln(), 25.0f64.ln()).exp(),
                    complexity: rng.f64(),
                    min_replicas: 2.min(replicas),
                    max_replicas: (replicas * 4).max(8),
                },
                base_rate,
                capacity,
                base_latency: rng.range(18.0, 90.0),
                base_error: rng.range(0.0005, 0.003),
                peak_hour: rng.range(11.0, 21.0),
                daily_amp,
                weekend_dip: rng.range(0.05, 0.3),
                noise: 0.0,
                ready: replicas,
                pending: Vec::new(),
                min_replicas: 2.min(replicas),
                max_replicas: (replicas * 4).max(8),
                versions,
                serving,
                previous: Some(serving - 1),
                canary: None,
                rollout: None,
                incidents: Vec::new(),
                leak_since: None,
                restart_until: None,
                retrain_done: None,
                build: None,
                build_regresses: false,
                labels: VecDeque::new(),
                acc_ewma: f64::NAN,
                next_deploy: t0 + rng.range(2.0, 30.0) * 3600.0,
            });
        }
        if let Some(keep) = namespaces {
            models.retain(|m| keep.contains(&m.meta.namespace));
        }
        let events = models
            .iter()
            .enumerate()
            .map(|(i, m)| WorldEvent::DeployPlanned {
                model: i,
                version: version_name(m.versions.iter().map(|v| v.number).max().unwrap_or(1) + 1),
                at: m.next_deploy,
            })
            .collect();
        SimWorld {
            models,
            t: t0,
            rng,
            schedule: Vec::new(),
            events,
            rescan: false,
        }
    }

    /// Current sim time (unix seconds).
    pub fn time(&self) -> f64 {
        self.t
    }

    /// Static facts of every model.
    pub fn metas(&self) -> Vec<ModelMeta> {
        self.models.iter().map(|m| m.meta.clone()).collect()
    }

    /// Index of a model by `namespace/name`.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.models.iter().position(|m| m.meta.key() == key)
    }

    /// Schedule incidents (from a scenario).
    pub fn schedule(&mut self, items: Vec<Scheduled>) {
        self.schedule.extend(items);
        self.schedule.sort_by(|a, b| a.at.total_cmp(&b.at));
    }

    /// Inject an incident on a model now.
    pub fn inject(&mut self, model: usize, kind: IncidentKind) {
        let t = self.t;
        let Some(m) = self.models.get_mut(model) else {
            return;
        };
        match kind {
            IncidentKind::BadDeploy => {
                let next = m.versions.iter().map(|v| v.number).max().unwrap_or(1) + 1;
                let acc = m.version(m.serving).map_or(0.9, |v| v.accuracy);
                m.versions.push(VersionSpec {
                    number: next,
                    accuracy: (acc - 0.13).max(0.5),
                    latency_mult: 1.6,
                    error_add: 0.025,
                    drift_per_day: 0.003,
                    since: t,
                    requirements: m.requirements().into(),
                });
                let from = m.serving;
                m.rollout = Some(Rollout::new(from, next, t, ROLLOUT_TIME));
                self.events.push(WorldEvent::RolloutStarted {
                    model,
                    from: version_name(from),
                    to: version_name(next),
                });
            }
            IncidentKind::MemoryLeak => {
                m.leak_since = Some(t);
            }
            _ => {}
        }
        m.incidents.push(ActiveIncident {
            kind,
            start: t,
            end: default_duration(kind).map(|d| t + d),
        });
        self.events.push(WorldEvent::Injected {
            model,
            incident: kind,
        });
    }

    /// Apply an action to a model. Returns a human description of what changed, or an error.
    pub fn act(&mut self, model: usize, action: &Action) -> Result<String, String> {
        let t = self.t;
        let m = self
            .models
            .get_mut(model)
            .ok_or_else(|| format!("no model #{model}"))?;
        match action {
            Action::Scale { replicas } => {
                let want = (*replicas).clamp(m.min_replicas.max(1), m.max_replicas);
                let have = m.desired_replicas();
                if want > have {
                    for _ in have..want {
                        m.pending.push(t + POD_STARTUP);
                    }
                } else {
                    let mut drop = have - want;
                    while drop > 0 && !m.pending.is_empty() {
                        m.pending.pop();
                        drop -= 1;
                    }
                    m.ready = m.ready.saturating_sub(drop).max(1);
                }
                Ok(format!("replicas {have} → {want}"))
            }
            Action::Rollback => {
                let prev = m.previous.ok_or("no previous version to roll back to")?;
                let from = m.serving;
                m.rollout = Some(Rollout::new(from, prev, t, ROLLOUT_TIME));
                m.canary = None;
                self.events.push(WorldEvent::RolloutStarted {
                    model,
                    from: version_name(from),
                    to: version_name(prev),
                });
                Ok(format!(
                    "rolling back {} → {}",
                    version_name(from),
                    version_name(prev)
                ))
            }
            Action::Canary { version, share } => {
                if m.version(*version).is_none() {
                    return Err(format!("no version v{version}"));
                }
                let share = share.clamp(0.0, 1.0);
                if share >= 1.0 {
                    let from = m.serving;
                    m.rollout = Some(Rollout {
                        share_from: m.canary.map_or(0.0, |c| c.1),
                        ..Rollout::new(from, *version, t, ROLLOUT_TIME)
                    });
                    m.canary = None;
                    Ok(format!("promoting v{version} to 100 %"))
                } else {
                    m.canary = Some((*version, share));
                    Ok(format!("canary v{version} at {:.0} %", share * 100.0))
                }
            }
            Action::Retrain => {
                if m.retrain_done.is_some() {
                    return Err("a retraining job is already running".into());
                }
                m.retrain_done = Some(t + RETRAIN_TIME);
                Ok(format!(
                    "retraining started, candidate expected in {:.0} min",
                    RETRAIN_TIME / 60.0
                ))
            }
            Action::Patch { bumps, .. } => {
                if m.build.is_some() {
                    return Err("a patch build is already running".into());
                }
                if bumps.is_empty() {
                    return Err("a patch pins at least one package".into());
                }
                m.build = Some((t + BUILD_TIME, bumps.clone()));
                Ok(format!(
                    "patch build started, candidate expected in {:.0} min",
                    BUILD_TIME / 60.0
                ))
            }
            Action::Restart => {
                m.restart_until = Some(t + RESTART_TIME);
                Ok(format!("rolling restart of {} pods", m.ready))
            }
        }
    }

    /// Events the world produced since the last call.
    pub(crate) fn drain_events(&mut self) -> Vec<WorldEvent> {
        std::mem::take(&mut self.events)
    }

    /// Advance by [`SIM_STEP`] and return one sample per model, at the new time.
    pub fn step(&mut self) -> Vec<Sample> {
        let mut out = Vec::with_capacity(self.models.len());
        self.step_into(&mut out);
        out
    }

    /// [`SimWorld::step`] into a reused buffer.
    pub(crate) fn step_into(&mut self, out: &mut Vec<Sample>) {
        self.t += SIM_STEP;
        let t = self.t;
        while self.schedule.first().is_some_and(|s| s.at <= t) {
            let s = self.schedule.remove(0);
            self.inject(s.model, s.kind);
        }
        out.clear();
        for idx in 0..self.models.len() {
            let sample = self.step_model(idx, t);
            out.push(sample);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_default_pod_start_up_is_the_simulated_fleets() {
        // the console on the simulated fleet plans with the lead time its pods really take
        assert_eq!(crate::engine::DEFAULT_POD_STARTUP, POD_STARTUP);
    }

    fn run(w: &mut SimWorld, secs: f64) -> Vec<Sample> {
        let mut last = Vec::new();
        let steps = (secs / SIM_STEP) as usize;
        for _ in 0..steps {
            last = w.step();
        }
        last
    }

    fn mean_over(w: &mut SimWorld, model: usize, sig: Signal, secs: f64) -> f64 {
        let steps = (secs / SIM_STEP) as usize;
        let mut sum = 0.0;
        let mut n = 0.0;
        for _ in 0..steps {
            let v = f64::from(w.step()[model].get(sig));
            if v.is_finite() {
                sum += v;
                n += 1.0;
            }
        }
        sum / n
    }

    #[test]
    fn disjoint_shards_make_up_the_fleet() {
        let whole = SimWorld::new(7, 30, 1.7e9).metas();
        let ns = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut a = SimWorld::shard(7, 30, 1.7e9, Some(&ns(&["search", "ads"])));
        let b = SimWorld::shard(7, 30, 1.7e9, Some(&ns(&["fraud", "recs", "vision"])));
        assert_eq!(a.metas().len(), 12);
        let mut both: Vec<_> = a.metas().into_iter().chain(b.metas()).collect();
        let mut whole_sorted = whole.clone();
        both.sort_by_key(|m| m.key());
        whole_sorted.sort_by_key(|m| m.key());
        assert_eq!(format!("{both:?}"), format!("{whole_sorted:?}"));
        // a shard runs on its own (its events name its own models)
        assert_eq!(a.step().len(), 12);
    }

    #[test]
    fn same_seed_same_fleet() {
        let mut a = SimWorld::new(7, 20, 1.7e9);
        let mut b = SimWorld::new(7, 20, 1.7e9);
        for _ in 0..50 {
            assert_eq!(format!("{:?}", a.step()), format!("{:?}", b.step()));
        }
        assert_eq!(a.metas().len(), 20);
        let ns: std::collections::BTreeSet<_> =
            a.metas().into_iter().map(|m| m.namespace).collect();
        assert!(ns.len() >= 3);
    }

    #[test]
    fn values_are_in_range() {
        let mut w = SimWorld::new(1, 15, 1.7e9);
        for s in run(&mut w, 3600.0) {
            assert!(s.get(Signal::RequestRate) >= 0.0);
            assert!((0.0..=1.0).contains(&s.get(Signal::ErrorRate)));
            assert!((0.0..=1.0).contains(&s.get(Signal::Cpu)));
            assert!((0.0..=1.0).contains(&s.get(Signal::Accuracy)));
            assert!(s.get(Signal::LatencyP95) > 0.0);
        }
    }

    #[test]
    fn surge_raises_latency_and_scaling_lowers_it() {
        let mut w = SimWorld::new(3, 15, 1.7e9);
        run(&mut w, 600.0);
        let before = mean_over(&mut w, 0, Signal::LatencyP95, 600.0);
        w.inject(0, IncidentKind::TrafficSurge);
        run(&mut w, 900.0);
        let surged = mean_over(&mut w, 0, Signal::LatencyP95, 300.0);
        assert!(surged > before * 1.3, "surge {surged} vs {before}");
        let r = w.models[0].desired_replicas();
        w.act(0, &Action::Scale { replicas: r * 4 }).unwrap();
        run(&mut w, POD_STARTUP + 30.0);
        let scaled = mean_over(&mut w, 0, Signal::LatencyP95, 300.0);
        assert!(scaled < surged * 0.8, "scaled {scaled} vs surged {surged}");
    }

    #[test]
    fn bad_deploy_then_rollback_restores_accuracy() {
        let mut w = SimWorld::new(5, 15, 1.7e9);
        run(&mut w, LABEL_DELAY + 600.0);
        let good = mean_over(&mut w, 2, Signal::Accuracy, 300.0);
        let v0 = w.models[2].meta.version.clone();
        w.inject(2, IncidentKind::BadDeploy);
        run(&mut w, ROLLOUT_TIME + LABEL_DELAY + 300.0);
        assert_ne!(w.models[2].meta.version, v0);
        let bad = mean_over(&mut w, 2, Signal::Accuracy, 300.0);
        assert!(bad < good - 0.08, "bad {bad} good {good}");
        w.act(2, &Action::Rollback).unwrap();
        run(&mut w, ROLLOUT_TIME + LABEL_DELAY + 300.0);
        assert_eq!(w.models[2].meta.version, v0);
        let back = mean_over(&mut w, 2, Signal::Accuracy, 300.0);
        assert!(back > good - 0.02, "back {back} good {good}");
    }

    #[test]
    fn restart_fixes_latency_spike_and_leak() {
        let mut w = SimWorld::new(9, 15, 1.7e9);
        run(&mut w, 300.0);
        let base = mean_over(&mut w, 4, Signal::LatencyP95, 300.0);
        w.inject(4, IncidentKind::LatencySpike);
        let spiked = mean_over(&mut w, 4, Signal::LatencyP95, 300.0);
        assert!(spiked > base * 2.5);
        w.act(4, &Action::Restart).unwrap();
        run(&mut w, RESTART_TIME + 10.0);
        let after = mean_over(&mut w, 4, Signal::LatencyP95, 300.0);
        assert!(after < base * 1.5, "after {after} base {base}");
        assert!(w.models[4].active_incidents().is_empty());
    }

    #[test]
    fn retrain_registers_a_better_candidate() {
        let mut w = SimWorld::new(11, 15, 1.7e9);
        w.act(1, &Action::Retrain).unwrap();
        assert!(w.act(1, &Action::Retrain).is_err());
        run(&mut w, RETRAIN_TIME + 10.0);
        let ev = w.drain_events();
        assert!(
            ev.iter()
                .any(|e| matches!(e, WorldEvent::CandidateRegistered { model: 1, .. }))
        );
        assert_eq!(w.models[1].candidates().len(), 1);
    }
}
