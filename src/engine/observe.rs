//! From observations to incidents: samples into histories and detectors, scaling plans and
//! budgets, slow creep, symptoms opening and joining incidents, diagnosis, settling and staleness.

use super::*;

impl Engine {
    pub(super) fn observe(&mut self, t: f64, samples: &[(u32, crate::fleet::Sample)]) {
        if !t.is_finite() {
            return;
        }
        let o = self.cfg.objectives;
        let Seen {
            detections,
            transitions,
            symptomatic,
        } = observe_models(&mut self.models, t, samples, &o, threads_for(samples.len()));
        if !samples.is_empty() {
            self.last_data = Some(self.last_data.map_or(t, |d| d.max(t)));
        }
        for (_, (key, a)) in detections {
            self.push_log(
                t,
                LogKind::Detection,
                Some(key),
                Status::Warn,
                format!(
                    "{} anomalous (score {:.2}): {}",
                    a.signal.title(),
                    a.score,
                    a.why
                ),
            );
        }
        for (_, (key, from, to, reason)) in transitions {
            let text = if to == Status::Ok {
                format!("{} → {}: back within objectives", from.word(), to.word())
            } else {
                format!("{} → {}: {reason}", from.word(), to.word())
            };
            self.push_log(t, LogKind::Health, Some(key), to, text);
        }
        for (_, (idx, status, onset)) in symptomatic {
            self.symptom(t, idx, status, onset);
        }
        if t - self.last_creep_check >= CREEP_CHECK_EVERY {
            self.last_creep_check = t;
            self.check_creep(t);
        }
        self.review_incidents(t);
        self.refresh_plans(t);
    }

    /// Forecast and plan the models whose plan is oldest, a bounded number per batch.
    pub(super) fn refresh_plans(&mut self, t: f64) {
        let n = self.models.len();
        if n == 0 {
            return;
        }
        let mut done = 0;
        let mut changed = false;
        for k in 0..n {
            if done >= plan::PER_BATCH {
                break;
            }
            let i = (self.plan_cursor + k) % n;
            let m = &mut self.models[i];
            let due = m
                .plan
                .age_from()
                .is_none_or(|a| t - a >= plan::FORECAST_EVERY);
            if !due || m.history.last_time().is_none() {
                continue;
            }
            done += 1;
            self.plan_cursor = (i + 1) % n;
            let (lo, hi) = (
                m.meta.min_replicas.max(1),
                if m.meta.max_replicas > 0 {
                    m.meta.max_replicas
                } else {
                    1000
                },
            );
            m.plan = match plan::make_plan(&m.history, t, lo, hi, self.cfg.pod_startup) {
                Ok(p) => plan::PlanState::Ready(Arc::new(p)),
                Err(e) => plan::PlanState::Failed(t, e),
            };
            changed = true;
        }
        if changed && let Some(budget) = self.cfg.replica_budget {
            self.apply_budget(budget);
        }
    }

    pub(super) fn apply_budget(&mut self, budget: u32) {
        let wants: Vec<(u32, u32, u8)> = self
            .models
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                m.plan
                    .sizing()
                    .map(|z| (i as u32, z.plan.desired_now, m.meta.priority))
            })
            .collect();
        let cuts = plan::share_budget(&wants, budget);
        for m in &mut self.models {
            if let plan::PlanState::Ready(p) = &mut m.plan
                && p.cut.is_some()
            {
                Arc::make_mut(p).cut = None;
            }
        }
        self.budget_cuts.clear();
        for (i, wanted, granted) in cuts {
            if let Some(m) = self.models.get_mut(i as usize) {
                if let plan::PlanState::Ready(p) = &mut m.plan {
                    Arc::make_mut(p).cut = Some((wanted, granted));
                }
                self.budget_cuts.push((m.meta.key(), wanted, granted));
            }
        }
    }

    /// Slow resource creep that adaptive detectors learn as normal (a leak): CPU rising steadily
    /// over half an hour faster than traffic explains.
    pub(super) fn check_creep(&mut self, t: f64) {
        let mut found = Vec::new();
        for m in &mut self.models {
            let since = t - 1800.0;
            let (cpu_slope, cpu_r2) = creep(&m.history.series(Signal::Cpu, Resolution::Mid, since));
            let (rate_slope, _) = creep(&m.history.series(
                Signal::RequestRate,
                Resolution::Mid,
                since,
            ));
            let creeping = cpu_r2 > CREEP_R2 && cpu_slope - rate_slope.max(0.0) > CREEP_SLOPE;
            let was = m.creeping.is_some();
            m.creeping = creeping.then(|| {
                format!(
                    "CPU creeping {:+.0} %/h for 30 min, traffic {:+.0} %/h",
                    cpu_slope * 100.0,
                    rate_slope * 100.0
                )
            });
            if creeping && !was {
                found.push((m.meta.key(), m.creeping.clone().unwrap_or_default()));
            }
        }
        for (key, text) in found {
            self.push_log(t, LogKind::Detection, Some(key), Status::Warn, text);
        }
    }

    /// A model shows a symptom: open an incident or keep its own open.
    pub(super) fn symptom(&mut self, t: f64, idx: u32, status: Status, onset: f64) {
        let m = &self.models[idx as usize];
        if let Some(id) = m.incident
            && let Some(inc) = self
                .incidents
                .iter_mut()
                .find(|i| i.id == id && i.is_open())
        {
            inc.last_bad = t;
            if status.severity() > inc.severity.severity() {
                inc.severity = status;
            }
            for a in m.watch.recent.iter().rev().take_while(|a| a.t >= inc.onset) {
                if !inc.signals.contains(&a.signal) {
                    inc.signals.push(a.signal);
                }
            }
            return;
        }
        let key = m.meta.key();
        if let Some(inc) = self
            .incidents
            .iter_mut()
            .rev()
            .find(|i| i.model == idx && i.resolved.is_some_and(|r| t - r <= REOPEN_WITHIN))
        {
            inc.resolved = None;
            inc.last_bad = t;
            let id = inc.id;
            self.models[idx as usize].incident = Some(id);
            self.push_log(
                t,
                LogKind::Incident,
                Some(key),
                status,
                format!(
                    "incident #{id} reopened ({})",
                    self.models[idx as usize].reason
                ),
            );
            return;
        }
        self.next_incident += 1;
        let id = self.next_incident;
        let inc = Incident {
            id,
            model: idx,
            key: key.clone(),
            namespace: m.meta.namespace.clone(),
            onset,
            opened: t,
            last_bad: t,
            resolved: None,
            severity: status,
            signals: m
                .watch
                .recent
                .iter()
                .filter(|a| a.t >= onset)
                .map(|a| a.signal)
                .fold(Vec::new(), |mut v, s| {
                    if !v.contains(&s) {
                        v.push(s);
                    }
                    v
                }),
            hypotheses: Vec::new(),
            diagnosed_at: f64::NEG_INFINITY,
            top_since: f64::INFINITY,
            first_cause_since: f64::INFINITY,
        };
        self.models[idx as usize].incident = Some(id);
        self.incidents.push_back(inc);
        while self.incidents.len() > INCIDENTS_KEPT {
            match self.incidents.iter().position(|i| !i.is_open()) {
                Some(p) => {
                    self.incidents.remove(p);
                }
                None => break,
            }
        }
        self.push_log(
            t,
            LogKind::Incident,
            Some(key),
            status,
            format!(
                "incident #{id} opened ({})",
                self.models[idx as usize].reason
            ),
        );
    }

    /// Re-diagnose open incidents and resolve those whose model is healthy again.
    pub(super) fn review_incidents(&mut self, t: f64) {
        let mut logs = Vec::new();
        for k in 0..self.incidents.len() {
            let inc = &self.incidents[k];
            if !inc.is_open() {
                continue;
            }
            let m = &self.models[inc.model as usize];
            if m.status == Status::Ok && t - inc.last_bad >= RESOLVE_AFTER {
                let inc = &mut self.incidents[k];
                inc.resolved = Some(t);
                let took = (t - inc.onset) / 60.0;
                logs.push((
                    t,
                    LogKind::Incident,
                    inc.key.clone(),
                    Status::Ok,
                    format!("incident #{} resolved: signals normal for {:.0} min (lasted {took:.0} min)", inc.id, RESOLVE_AFTER / 60.0),
                ));
                let model = inc.model as usize;
                self.models[model].incident = None;
                continue;
            }
            // re-diagnose while symptoms last; once they stop, the last diagnosis stands
            if t - inc.diagnosed_at < REDIAGNOSE_EVERY || t - inc.last_bad > REDIAGNOSE_EVERY {
                continue;
            }
            let hyps = self.diagnose_incident(k, t);
            let inc = &mut self.incidents[k];
            let before = inc.top().map(|h| h.cause);
            inc.diagnosed_at = t;
            // "unexplained" never replaces an explanation found earlier in the incident
            let unexplained = hyps.first().is_none_or(|h| h.cause == Cause::Unexplained);
            if unexplained && before.is_some_and(|c| c != Cause::Unexplained) {
                continue;
            }
            inc.hypotheses = hyps;
            if inc.top().map(|h| h.cause) != before {
                inc.top_since = t;
                if inc.top().is_some_and(|h| h.cause != Cause::Unexplained)
                    && !inc.first_cause_since.is_finite()
                {
                    inc.first_cause_since = t;
                }
            }
            if let Some(top) = inc.top()
                && Some(top.cause) != before
            {
                logs.push((
                    t,
                    LogKind::Incident,
                    inc.key.clone(),
                    inc.severity,
                    format!(
                        "incident #{} diagnosis: {} ({:.0} %) — {}",
                        inc.id,
                        top.cause,
                        top.confidence * 100.0,
                        top.evidence.first().map(String::as_str).unwrap_or("")
                    ),
                ));
            }
        }
        for (t, kind, key, st, text) in logs {
            self.push_log(t, kind, Some(key), st, text);
        }
    }

    pub(super) fn diagnose_incident(
        &self,
        k: usize,
        now: f64,
    ) -> Vec<crate::diagnosis::Hypothesis> {
        let inc = &self.incidents[k];
        let m = &self.models[inc.model as usize];
        let h = &m.history;
        let mut before = [f64::NAN; Signal::COUNT];
        let mut now_mean = [f64::NAN; Signal::COUNT];
        for s in Signal::ALL {
            before[s.index()] = h.mean_between(s, inc.onset - 3900.0, inc.onset - 300.0);
            now_mean[s.index()] = h.mean_between(s, now - 300.0, now);
        }
        let since = now - 1800.0;
        let creep_of = |s: Signal| creep(&h.series(s, Resolution::Mid, since));
        let anomalies: Vec<Anomaly> = m.watch.recent.iter().cloned().collect();
        let changes: Vec<ChangeNote> = m.changes.iter().cloned().collect();
        let peers: Vec<String> = self
            .incidents
            .iter()
            .filter(|o| {
                o.id != inc.id
                    && o.namespace == inc.namespace
                    && o.key != inc.key
                    && (o.onset - inc.onset).abs() <= 600.0
                    && (o.is_open() || o.resolved.is_some_and(|r| r >= inc.onset))
            })
            .map(|o| o.key.clone())
            .collect();
        let (st, _) = judge(&m.smooth, &self.cfg.objectives);
        let breaches: Vec<Signal> = if st == Status::Ok {
            Vec::new()
        } else {
            objective_breaches(&m.smooth, &self.cfg.objectives)
        };
        diagnose(&Context {
            breaches,
            onset: inc.onset,
            now,
            anomalies: &anomalies,
            changes: &changes,
            before,
            now_mean,
            creep: [creep_of(Signal::Cpu), creep_of(Signal::LatencyP95)],
            peers_same_namespace: peers,
        })
    }

    /// Hysteresis: a new status must hold for [`HEALTH_HOLD`] evaluations (at once from stale).
    pub(super) fn settle(
        m: &mut ModelState,
        status: Status,
        reason: String,
    ) -> Option<(String, Status, Status, String)> {
        if status == m.status {
            m.reason = reason;
            m.candidate_n = 0;
            return None;
        }
        if status == m.candidate {
            m.candidate_n = m.candidate_n.saturating_add(1);
        } else {
            m.candidate = status;
            m.candidate_n = 1;
        }
        let hold = if status == Status::Ok {
            RECOVER_HOLD
        } else {
            HEALTH_HOLD
        };
        if m.candidate_n >= hold || m.status == Status::Unknown {
            let from = m.status;
            m.status = status;
            m.reason = reason.clone();
            m.candidate_n = 0;
            if from == Status::Unknown && status == Status::Ok {
                return None;
            }
            return Some((m.meta.key(), from, status, reason));
        }
        None
    }

    pub(super) fn reassess_staleness(&mut self, t: f64) {
        let limit = self.cfg.objectives.stale_steps * self.source.step.max(1.0);
        let mut stale = Vec::new();
        for m in &mut self.models {
            let age = m.history.last_time().map_or(f64::INFINITY, |l| t - l);
            if age > limit && m.status != Status::Unknown && m.history.last_time().is_some() {
                m.status = Status::Unknown;
                m.reason = format!("no data for {age:.0} s");
                stale.push(m.meta.key());
            }
        }
        for key in stale {
            self.push_log(
                t,
                LogKind::Health,
                Some(key),
                Status::Unknown,
                "no recent data".into(),
            );
        }
    }
}

/// A health transition: model key, from, to, why.
type Transition = (String, Status, Status, String);

/// What observing some models gives, each item tagged with the position of its sample in the
/// batch (so that what several threads saw is put back in the batch's order).
#[derive(Debug, Default)]
struct Seen {
    detections: Vec<(usize, (String, Anomaly))>,
    transitions: Vec<(usize, Transition)>,
    symptomatic: Vec<(usize, (u32, Status, f64))>,
}

impl Seen {
    fn extend(&mut self, other: Seen) {
        self.detections.extend(other.detections);
        self.transitions.extend(other.transitions);
        self.symptomatic.extend(other.symptomatic);
    }

    /// In the batch's order (the sort is stable: a sample's items keep theirs).
    fn in_order(mut self) -> Seen {
        self.detections.sort_by_key(|x| x.0);
        self.transitions.sort_by_key(|x| x.0);
        self.symptomatic.sort_by_key(|x| x.0);
        self
    }
}

/// Below this many samples a batch is observed on the engine's thread alone.
const PARALLEL_FROM: usize = 2048;
/// Threads a large batch is shared among at most.
const PARALLEL_MAX: usize = 4;

/// Threads for a batch of `n` samples: the cores (a few at most) for a large one.
fn threads_for(n: usize) -> usize {
    if n >= PARALLEL_FROM {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(PARALLEL_MAX)
    } else {
        1
    }
}

/// Each sample into its model's detectors, history and status. Every model's work touches that
/// model alone, so a large batch is shared among threads by ranges of models; what they saw is
/// put back in the batch's order, so the result is the same on any number of threads (a
/// replay re-runs it exactly).
fn observe_models(
    models: &mut [ModelState],
    t: f64,
    samples: &[(u32, crate::fleet::Sample)],
    o: &Objectives,
    threads: usize,
) -> Seen {
    if threads <= 1 {
        return observe_range(models, 0, t, samples, o);
    }
    let per = models.len().div_ceil(threads).max(1);
    let mut seen = Seen::default();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (k, part) in models.chunks_mut(per).enumerate() {
            let first = k * per;
            handles.push(scope.spawn(move || observe_range(part, first, t, samples, o)));
        }
        for h in handles {
            match h.join() {
                Ok(s) => seen.extend(s),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
    });
    seen.in_order()
}

/// [`observe_models`] for the models `first..first + part.len()` (the samples of others are
/// passed over).
fn observe_range(
    part: &mut [ModelState],
    first: usize,
    t: f64,
    samples: &[(u32, crate::fleet::Sample)],
    o: &Objectives,
) -> Seen {
    let mut seen = Seen::default();
    for (pos, (idx, sample)) in samples.iter().enumerate() {
        let Some(m) = (*idx as usize)
            .checked_sub(first)
            .and_then(|i| part.get_mut(i))
        else {
            continue;
        };
        if m.history.last_time().is_some_and(|l| t <= l) {
            continue;
        }
        let (band, raised) = m.watch.observe(t, sample);
        m.history.push_with_band(t, sample, &band);
        for (i, s) in m.smooth.iter_mut().enumerate() {
            let v = sample.values[i];
            if v.is_finite() {
                *s = if s.is_finite() {
                    *s + SMOOTH * (v - *s)
                } else {
                    v
                };
            }
        }
        let (mut status, mut reason) = judge(&m.smooth, o);
        let recent = m.watch.latest_symptom_since(t - ANOMALY_HOLD, &m.smooth);
        if let Some(a) = recent
            && status == Status::Ok
        {
            status = Status::Warn;
            reason = format!("anomaly in {}: {}", a.signal.title(), a.why);
        }
        if let Some(c) = &m.creeping
            && status == Status::Ok
        {
            status = Status::Warn;
            reason = c.clone();
        }
        let first_anomaly = recent.map(|a| a.t);
        for a in raised {
            let i = a.signal.index();
            if t - m.logged[i] >= DETECTION_LOG_EVERY {
                m.logged[i] = t;
                seen.detections.push((pos, (m.meta.key(), a)));
            }
        }
        if let Some(tr) = Engine::settle(m, status, reason) {
            seen.transitions.push((pos, tr));
        }
        if matches!(m.status, Status::Warn | Status::Crit) {
            let onset = first_anomaly.map_or(t, |f| f.min(t));
            seen.symptomatic.push((pos, (*idx, m.status, onset)));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IncidentKind;
    use crate::sim::SimWorld;

    #[test]
    fn a_batch_is_observed_alike_on_one_thread_and_on_several() {
        let mut w = SimWorld::new(4, 300, 1.7e9);
        let mut e = Engine::new(EngineConfig::default());
        e.apply(Event::Models {
            t: w.time(),
            models: w.metas(),
        });
        let o = e.cfg.objectives;
        let mut one = e.models.clone();
        let mut three = e.models.clone();
        let mut said = 0;
        for step in 0..200 {
            if step == 120 {
                for m in [3, 150, 151, 299] {
                    w.inject(m, IncidentKind::LatencySpike);
                }
                w.inject(7, IncidentKind::ErrorBurst);
            }
            // the samples in a shuffled order, a duplicate and an unknown model among them
            let mut samples: Vec<(u32, crate::fleet::Sample)> = w
                .step()
                .into_iter()
                .enumerate()
                .map(|(i, s)| (i as u32, s))
                .collect();
            samples.reverse();
            samples.swap(10, 200);
            samples.push(samples[5]);
            samples.push((9999, samples[0].1));
            let t = w.time();
            let a = observe_models(&mut one, t, &samples, &o, 1);
            let b = observe_models(&mut three, t, &samples, &o, 3);
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "step {step}");
            said += a.detections.len() + a.transitions.len() + a.symptomatic.len();
        }
        assert!(
            said > 0,
            "the incidents were seen (the comparison is not of nothing)"
        );
        let bytes = |m: &Vec<ModelState>| rmp_serde::to_vec(m).expect("encode");
        assert_eq!(bytes(&one), bytes(&three));
    }
}
