//! One simulated model's step: the physics the module documentation of [`super`] describes —
//! pods becoming ready, incidents starting and ending, demand, load, latency, errors, accuracy
//! and CPU — advanced by [`SIM_STEP`] at time `t`.

use super::*;

impl SimWorld {
    /// Advance model `idx` to time `t` and measure it.
    pub(super) fn step_model(&mut self, idx: usize, t: f64) -> Sample {
        let rng = &mut self.rng;
        let events = &mut self.events;
        let m = &mut self.models[idx];
        // pods becoming ready
        let before = m.pending.len();
        m.pending.retain(|&r| r > t);
        m.ready += (before - m.pending.len()) as u32;
        // incidents ending
        m.incidents.retain(|i| i.end.is_none_or(|e| e > t));
        // restart finishing clears pod-state problems
        if m.restart_until.is_some_and(|r| r <= t) {
            m.restart_until = None;
            m.leak_since = None;
            m.incidents.retain(|i| {
                !matches!(
                    i.kind,
                    IncidentKind::LatencySpike
                        | IncidentKind::ErrorBurst
                        | IncidentKind::MemoryLeak
                )
            });
            events.push(WorldEvent::Restarted { model: idx });
        }
        // rollout finishing
        if let Some(r) = m.rollout.clone()
            && t - r.start >= r.duration
        {
            m.rollout = None;
            if r.to != m.serving {
                m.previous = Some(m.serving);
                m.serving = r.to;
                m.meta.version = version_name(r.to);
                if let Some(v) = m.versions.iter_mut().find(|v| v.number == r.to) {
                    v.since = t;
                }
                // a good version replaces a bad deploy or drifted data
                m.incidents.retain(|i| {
                    !matches!(
                        i.kind,
                        IncidentKind::BadDeploy | IncidentKind::AccuracyDrift
                    ) || (i.kind == IncidentKind::BadDeploy && r.to > r.from)
                });
                events.push(WorldEvent::Deployed {
                    model: idx,
                    from: version_name(r.from),
                    to: version_name(r.to),
                    duration: r.duration,
                });
            }
        }
        // routine deploy of a new version, when due and nothing else is rolling out
        if t >= m.next_deploy && m.rollout.is_none() {
            let next = m.versions.iter().map(|v| v.number).max().unwrap_or(1) + 1;
            let acc = m.version(m.serving).map_or(0.9, |v| v.accuracy);
            m.versions.push(VersionSpec {
                number: next,
                accuracy: (acc + rng.range(-0.004, 0.008)).min(0.99),
                latency_mult: 1.0,
                error_add: 0.0,
                drift_per_day: rng.range(0.001, 0.004),
                since: t,
                requirements: m.requirements().into(),
            });
            let duration = deploy_secs(&m.meta, t, rng);
            let from = m.serving;
            m.rollout = Some(Rollout::new(from, next, t, duration));
            events.push(WorldEvent::RolloutStarted {
                model: idx,
                from: version_name(from),
                to: version_name(next),
            });
            m.next_deploy = t + rng.range(12.0, 48.0) * 3600.0;
            events.push(WorldEvent::DeployPlanned {
                model: idx,
                version: version_name(next + 1),
                at: m.next_deploy,
            });
        }
        // retraining finishing
        if m.retrain_done.is_some_and(|d| d <= t) {
            m.retrain_done = None;
            let next = m.versions.iter().map(|v| v.number).max().unwrap_or(1) + 1;
            let best = m.versions.iter().map(|v| v.accuracy).fold(0.0, f64::max);
            let accuracy = (best + rng.range(0.0, 0.01)).min(0.99);
            m.versions.push(VersionSpec {
                number: next,
                accuracy,
                latency_mult: 1.0,
                error_add: 0.0,
                drift_per_day: 0.002,
                since: t,
                requirements: m.requirements().into(),
            });
            events.push(WorldEvent::CandidateRegistered {
                model: idx,
                version: version_name(next),
                accuracy,
            });
        }

        // a patch build finishing: the serving version rebuilt with the new pins
        if m.build.as_ref().is_some_and(|(d, _)| *d <= t)
            && let Some((_, bumps)) = m.build.take()
        {
            let next = m.versions.iter().map(|v| v.number).max().unwrap_or(1) + 1;
            let base = m.version(m.serving).or(m.versions.first()).cloned();
            let (accuracy, latency_mult, error_add, drift_per_day) = base
                .map_or((0.9, 1.0, 0.0, 0.002), |v| {
                    (v.accuracy, v.latency_mult, v.error_add, v.drift_per_day)
                });
            let broken = std::mem::take(&mut m.build_regresses);
            m.versions.push(VersionSpec {
                number: next,
                accuracy,
                latency_mult: if broken {
                    latency_mult * 1.8
                } else {
                    latency_mult
                },
                error_add: if broken { error_add + 0.03 } else { error_add },
                drift_per_day,
                since: t,
                requirements: super::model::patched(m.requirements(), &bumps).into(),
            });
            events.push(WorldEvent::CandidateRegistered {
                model: idx,
                version: version_name(next),
                accuracy,
            });
        }

        // demand
        m.noise = 0.9 * m.noise + 0.05 * rng.normal();
        let surge = if m
            .incidents
            .iter()
            .any(|i| i.kind == IncidentKind::TrafficSurge)
        {
            let start = m
                .incidents
                .iter()
                .find(|i| i.kind == IncidentKind::TrafficSurge)
                .map_or(t, |i| i.start);
            1.0 + 2.0 * ((t - start) / 600.0).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let demand = m.demand(t, surge) * (1.0 + 0.02 * rng.normal()).max(0.5);

        // capacity
        let leak = m
            .leak_since
            .map_or(0.0, |s| ((t - s) / 3600.0 * 0.4).min(0.9));
        let restarting = m.restart_until.is_some();
        let serving_pods = if restarting {
            m.ready.saturating_sub(1).max(1)
        } else {
            m.ready
        };
        let capacity = f64::from(serving_pods) * m.capacity * (1.0 - leak * 0.5);
        let u = demand / capacity.max(1e-9);

        // versions in service
        let shares = m.share_of(t);
        let mut acc = 0.0;
        let mut lat_mult = 0.0;
        let mut err_add = 0.0;
        for (v, s) in &shares {
            if let Some(spec) = m.version(*v) {
                let age_days = ((t - spec.since) / 86_400.0).max(0.0);
                let mut a = spec.accuracy - spec.drift_per_day * age_days;
                // drifted input data hurts the versions trained before the drift began; a
                // version trained since has learnt the new data
                for i in &m.incidents {
                    if i.kind == IncidentKind::AccuracyDrift && spec.since < i.start {
                        a -= ((t - i.start) / 3600.0 * 0.04).min(0.2);
                    }
                }
                acc += s * a;
                lat_mult += s * spec.latency_mult;
                err_add += s * spec.error_add;
            }
        }

        let uq = u.min(0.97);
        let mut latency = m.base_latency * lat_mult * (1.0 + uq.powi(3) / (1.0 - uq));
        latency *= 1.0 + leak * 1.5;
        if m.incidents
            .iter()
            .any(|i| i.kind == IncidentKind::LatencySpike)
        {
            latency = latency * 2.0 + 250.0;
        }
        if u > 1.0 {
            latency += 800.0 * (u - 1.0).min(4.0);
        }
        latency *= (1.0 + 0.06 * rng.normal()).max(0.5);
        latency = latency.min(30_000.0);

        let mut errors = m.base_error + err_add;
        if u > 1.0 {
            errors += (u - 1.0) / u;
        }
        if m.incidents
            .iter()
            .any(|i| i.kind == IncidentKind::ErrorBurst)
        {
            errors += 0.12;
        }
        errors = (errors * (1.0 + 0.15 * rng.normal()).max(0.2)).clamp(0.0, 1.0);

        let cpu =
            ((u.min(1.0) * 0.92 + 0.05 + leak * 0.4) * (1.0 + 0.03 * rng.normal())).clamp(0.0, 1.0);

        // labels arrive later: record the true accuracy now, observe the one from LABEL_DELAY ago
        m.labels.push_back((t, acc.clamp(0.0, 1.0)));
        let mut observed = f64::NAN;
        while m
            .labels
            .front()
            .is_some_and(|(lt, _)| *lt <= t - LABEL_DELAY)
        {
            if let Some((_, a)) = m.labels.pop_front() {
                observed = a;
            }
        }
        if observed.is_finite() {
            // accuracy is measured over the labels of the last five minutes (10 % of requests
            // get a label): its noise shrinks as 1/sqrt(n) with traffic
            let n = (demand * 300.0 * 0.1).max(1.0);
            let noisy = observed + rng.normal() * (observed * (1.0 - observed) / n).sqrt();
            m.acc_ewma = if m.acc_ewma.is_finite() {
                0.7 * m.acc_ewma + 0.3 * noisy
            } else {
                noisy
            };
        }

        let mut values = [f32::NAN; Signal::COUNT];
        values[Signal::RequestRate.index()] = demand as f32;
        values[Signal::LatencyP95.index()] = latency as f32;
        values[Signal::ErrorRate.index()] = errors as f32;
        values[Signal::Accuracy.index()] = m.acc_ewma.clamp(0.0, 1.0) as f32;
        values[Signal::Cpu.index()] = cpu as f32;
        values[Signal::Replicas.index()] = m.ready as f32;
        Sample { values }
    }
}
