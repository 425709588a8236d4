//! Verification of a remediation that ran: whether the target signals came back to their
//! level before the incident within the playbook's window, the canary's stages, and the undo
//! when they did not.

use super::remedy::{POLICY, Purpose, SETTLE, decider, execute};
use super::{Effect, Engine, Status, objective_breaches};
use crate::domain::Action;
use crate::domain::Signal;
use crate::policy::RemState;
use crate::policy::playbook::{ActionTemplate, Gates, Playbook};

impl Engine {
    pub(super) fn recent_means(&self, model: usize, t: f64) -> [f64; Signal::COUNT] {
        self.means_between(model, t - 300.0, t)
    }

    /// Each signal's mean over `[from, to]` (NaN where nothing was measured).
    pub(super) fn means_between(&self, model: usize, from: f64, to: f64) -> [f64; Signal::COUNT] {
        let h = &self.models[model].history;
        let mut v = [f64::NAN; Signal::COUNT];
        for s in Signal::ALL {
            v[s.index()] = h.mean_between(s, from, to);
        }
        v
    }

    /// The first candidate version registered at or after `since`: its number and offline
    /// accuracy (a retraining job's or a patch build's result).
    pub(super) fn candidate_since(&self, model: usize, since: f64) -> Option<(u32, f64)> {
        self.models[model]
            .candidates
            .iter()
            .find(|c| c.2 >= since)
            .map(|c| (c.0, c.1))
    }

    pub(super) fn verify(&mut self, k: usize, t: f64, pb: &Playbook, fx: &mut Vec<Effect>) {
        let model = self.remediations[k].model as usize;
        let until = self.remediations[k].verify_until.unwrap_or(t);
        // a patch's build: its candidate goes on to the canary stages
        if self.verify_build(k, t, pb, fx) {
            return;
        }
        // canary stages before the last: gates at the end of the stage
        if let (
            Some(Gates {
                stages,
                min_accuracy,
                max_p95_ms,
                max_error_rate,
                ..
            }),
            Action::Canary { version, share },
        ) = (pb.action.gates(), self.remediations[k].action.clone())
            && share < 1.0
        {
            if t < until {
                return;
            }
            let r = &self.remediations[k];
            let now = self.recent_means(model, t);
            let est = |s: Signal, trend: f64| {
                let b = r.baseline[s.index()] + trend * (t - r.stage_started) / 3600.0;
                b + (now[s.index()] - b) / share.max(0.01)
            };
            let acc = est(Signal::Accuracy, r.trend);
            let p95 = est(Signal::LatencyP95, 0.0);
            let err = est(Signal::ErrorRate, 0.0);
            let gates = format!(
                "candidate estimated at accuracy {acc:.3} (≥ {min_accuracy:.2}), p95 {p95:.0} ms (≤ {max_p95_ms:.0}), errors {:.2} % (≤ {:.1} %)",
                err * 100.0,
                max_error_rate * 100.0
            );
            if !(acc.is_finite() && p95.is_finite() && err.is_finite()) {
                self.set_state(
                    k,
                    t,
                    RemState::Inconclusive,
                    format!(
                        "stage {:.0} %: no data to judge the gates — waiting for a human",
                        share * 100.0
                    ),
                    Status::Warn,
                );
                return;
            }
            let pass = acc >= min_accuracy && p95 <= max_p95_ms && err <= max_error_rate;
            if pass {
                let next = stages
                    .iter()
                    .copied()
                    .find(|s| *s > share + 1e-9)
                    .unwrap_or(1.0);
                let r = &mut self.remediations[k];
                r.stage += 1;
                r.action = Action::Canary {
                    version,
                    share: next,
                };
                // a promoted patch is undone by rolling back to the version it replaced
                if next >= 1.0 && matches!(pb.action, ActionTemplate::Patch { .. }) {
                    r.undo = Some(Action::Rollback);
                }
                r.executed = Some(t);
                let text = format!(
                    "stage {:.0} % passed ({gates}); moving to {:.0} %",
                    share * 100.0,
                    next * 100.0
                );
                let who = decider(r);
                fx.push(execute(r, t, r.action.clone(), Purpose::Stage, who));
                self.set_state(k, t, RemState::Executing, text, Status::Ok);
            } else {
                self.fail_and_undo(
                    k,
                    t,
                    format!("stage {:.0} % failed its gates: {gates}", share * 100.0),
                    fx,
                );
            }
            return;
        }
        // the action's own result: a retraining job registers a candidate
        if pb.verify.signals.is_empty() {
            let since = self.remediations[k].executed.unwrap_or(t);
            let got = self.candidate_since(model, since);
            if let Some((v, acc)) = got {
                self.set_state(
                    k,
                    t,
                    RemState::Succeeded,
                    format!("candidate v{v} registered (offline accuracy {acc:.3})"),
                    Status::Ok,
                );
                self.outcome(k, true, fx);
            } else if t >= until {
                self.fail_and_undo(k, t, "no result within the verification window".into(), fx);
            }
            return;
        }
        let m = &self.models[model];
        let o = self.cfg.objectives;
        let breaches = objective_breaches(&m.smooth, &o);
        let r = &self.remediations[k];
        let mut ok = true;
        let mut improving = true;
        let mut detail = Vec::new();
        for s in &pb.verify.signals {
            let i = s.index();
            let now = f64::from(m.smooth[i]);
            let before = r.before[i];
            let at = r.baseline[i];
            let within = !breaches.contains(s) && now.is_finite();
            // better than before the incident counts as back
            let worse = if *s == Signal::Accuracy {
                before - now
            } else {
                now - before
            };
            let back = !before.is_finite()
                || !at.is_finite()
                || worse <= ((at - before).abs() * 0.5).max(tolerance(*s, before));
            if !(within && back) {
                ok = false;
            }
            if !(at.is_finite() && now.is_finite() && (now - before).abs() < (at - before).abs()) {
                improving = false;
            }
            detail.push(format!(
                "{} {} (was {} at execution, {} before the incident)",
                s.title(),
                fmt_signal(*s, now),
                fmt_signal(*s, at),
                fmt_signal(*s, before)
            ));
        }
        let mut detail = detail.join("; ");
        if matches!(pb.action, ActionTemplate::Patch { .. }) {
            detail = detail.replace("before the incident", "before it was proposed");
        }
        let exec = r.executed.unwrap_or(t);
        // a promoted patch counts once its version is the one serving (the rollout done)
        if let (ActionTemplate::Patch { .. }, Action::Canary { version, .. }) =
            (&pb.action, &r.action)
            && super::remedy::version_number(&m.meta.version) != Some(*version)
        {
            ok = false;
            detail = format!(
                "v{version} not serving yet ({} serves); {detail}",
                m.meta.version
            );
        }
        if ok {
            let since = *self.remediations[k].ok_since.get_or_insert(t);
            if t - since >= SETTLE && t - exec >= SETTLE {
                self.set_state(
                    k,
                    t,
                    RemState::Succeeded,
                    format!("verified: {detail}"),
                    Status::Ok,
                );
                self.outcome(k, true, fx);
            }
            return;
        }
        self.remediations[k].ok_since = None;
        if t < until {
            return;
        }
        let facts = self.facts(model, t);
        let quality = pb
            .verify
            .signals
            .iter()
            .any(|s| matches!(s, Signal::Accuracy | Signal::LatencyP95));
        if facts.data_age > self.cfg.guardrails.max_data_age_secs {
            self.set_state(
                k,
                t,
                RemState::Inconclusive,
                format!(
                    "data {:.0} s old at the end of the window: cannot judge — waiting for a human",
                    facts.data_age
                ),
                Status::Warn,
            );
        } else if quality
            && (facts.request_rate.is_nan()
                || facts.request_rate < self.cfg.guardrails.min_request_rate)
        {
            self.set_state(
                k,
                t,
                RemState::Inconclusive,
                format!(
                    "too little traffic ({:.2} req/s) to judge: waiting for a human",
                    facts.request_rate
                ),
                Status::Warn,
            );
        } else if improving {
            self.set_state(
                k,
                t,
                RemState::Inconclusive,
                format!("improving but not back within objectives: {detail} — waiting for a human"),
                Status::Warn,
            );
        } else {
            self.fail_and_undo(k, t, format!("did not help: {detail}"), fx);
        }
    }

    pub(super) fn fail_and_undo(&mut self, k: usize, t: f64, why: String, fx: &mut Vec<Effect>) {
        self.outcome(k, false, fx);
        let r = &mut self.remediations[k];
        // a canary promoted to all traffic is undone by rolling back to the version before
        if let Action::Canary { share, .. } = r.action
            && share >= 1.0
            && r.undo.is_some()
        {
            r.undo = Some(Action::Rollback);
        }
        match r.undo.clone() {
            Some(undo) => {
                r.undoing = true;
                r.executed = Some(t);
                fx.push(execute(
                    r,
                    t,
                    undo.clone(),
                    Purpose::Undo,
                    POLICY.to_string(),
                ));
                let text = format!("{why}; undoing: {}", undo.describe());
                self.set_state(k, t, RemState::Executing, text, Status::Crit);
            }
            None => self.set_state(
                k,
                t,
                RemState::Failed,
                format!("{why}; no safe undo — raised to the operator"),
                Status::Crit,
            ),
        }
    }
}

/// How close to its level before the incident a signal must come back to count as recovered.
fn tolerance(s: Signal, before: f64) -> f64 {
    let b = before.abs();
    match s {
        Signal::Accuracy => 0.01,
        Signal::ErrorRate => (0.5 * b).max(0.002),
        Signal::Cpu => 0.05 + 0.1 * b,
        _ => 0.25 * b + 1e-3,
    }
}

fn fmt_signal(s: Signal, v: f64) -> String {
    if !v.is_finite() {
        return "unknown".to_string();
    }
    match s {
        Signal::LatencyP95 => format!("{v:.0} ms"),
        Signal::ErrorRate => format!("{:.2} %", v * 100.0),
        Signal::Accuracy => format!("{v:.3}"),
        Signal::Cpu => format!("{:.0} %", v * 100.0),
        Signal::RequestRate => format!("{v:.1} req/s"),
        Signal::Replicas => format!("{v:.0}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testkit::{answer, first_in, fleet, idle_until, rem, run_until};
    use super::*;
    use crate::domain::IncidentKind;
    use crate::harness::Executed;
    use crate::policy::autonomy::{ActionClass, Phase};

    /// An engine in Autonomy whose fix of class `class` for `kind` on model 0 the actuator says
    /// it carried out — without acting: the world goes on as before.
    fn claimed(kind: IncidentKind, class: ActionClass) -> (crate::sim::SimWorld, Engine, u64) {
        let (mut w, mut e) = fleet(Phase::Autonomy, kind, 0);
        let running = |e: &Engine| {
            e.remediations()
                .find(|r| r.state == RemState::Executing && r.class == class)
                .map(|r| r.id)
        };
        idle_until(&mut w, &mut e, |e| running(e).is_some()).unwrap();
        let id = running(&e).unwrap();
        assert!(answer(&mut e, id, true, false).is_empty());
        assert_eq!(rem(&e, id).state, RemState::Verifying);
        (w, e, id)
    }

    #[test]
    fn a_fix_that_brings_the_signals_back_succeeds_once_they_have_settled() {
        let (mut w, mut e) = fleet(Phase::Autonomy, IncidentKind::MemoryLeak, 0);
        let mut log: Vec<Executed> = Vec::new();
        assert!(run_until(&mut w, &mut e, &mut log, |e| first_in(
            e,
            RemState::Succeeded
        )
        .is_some()));
        let r = first_in(&e, RemState::Succeeded).unwrap();
        assert_eq!(r.class, ActionClass::Restart);
        assert!(r.updated - r.executed.unwrap() >= SETTLE, "{r:?}");
        assert!(
            r.timeline.last().unwrap().1.starts_with("verified:"),
            "{:?}",
            r.timeline
        );
        assert_eq!(e.stats().playbook(&r.playbook).success, 1);
        assert_eq!(log.len(), 1, "one action, no undo: {log:?}");
    }

    #[test]
    fn a_scale_out_that_did_not_help_is_undone_with_the_playbooks_undo() {
        let (mut w, mut e, id) = claimed(IncidentKind::TrafficSurge, ActionClass::Scale);
        let fx = idle_until(&mut w, &mut e, |e| rem(e, id).state != RemState::Verifying).unwrap();
        let r = rem(&e, id);
        assert_eq!(r.state, RemState::Executing, "{:?}", r.timeline);
        assert!(r.undoing);
        assert!(
            r.timeline.last().unwrap().1.contains("did not help"),
            "{:?}",
            r.timeline
        );
        let undo: Vec<_> = fx
            .iter()
            .filter_map(|f| match f {
                Effect::Execute(x) => Some(x),
                _ => None,
            })
            .collect();
        assert_eq!(undo.len(), 1, "{undo:?}");
        assert_eq!(
            (undo[0].purpose, undo[0].who.as_str()),
            (Purpose::Undo, POLICY)
        );
        assert_eq!(Some(&undo[0].action), r.undo.as_ref());
        assert!(
            fx.iter()
                .any(|f| matches!(f, Effect::Outcome { success: false, .. })),
            "{fx:?}"
        );
        assert!(answer(&mut e, id, true, false).is_empty());
        assert_eq!(rem(&e, id).state, RemState::Undone);
    }

    #[test]
    fn a_fix_without_a_safe_undo_that_did_not_help_is_raised_to_the_operator() {
        let (mut w, mut e, id) = claimed(IncidentKind::MemoryLeak, ActionClass::Restart);
        assert!(rem(&e, id).undo.is_none());
        let fx = idle_until(&mut w, &mut e, |e| rem(e, id).state != RemState::Verifying).unwrap();
        let r = rem(&e, id);
        assert_eq!(r.state, RemState::Failed, "{:?}", r.timeline);
        assert!(
            r.timeline.last().unwrap().1.contains("no safe undo"),
            "{:?}",
            r.timeline
        );
        assert!(
            !fx.iter().any(|f| matches!(f, Effect::Execute(_))),
            "{fx:?}"
        );
        let end = r.verify_until.unwrap();
        assert!(
            r.updated >= end,
            "judged at the end of its window, not before"
        );
    }
}
