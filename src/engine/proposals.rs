//! Proposals: the playbook that answers an incident's diagnosis (the next hypothesis when one
//! was vetoed or failed) or a capacity forecast, its concrete action for the model, and the
//! remediation record with its explanation and the policy's first decision.

use super::remedy::{POLICY, REPROPOSE_AFTER, SETTLE, STABLE_DIAGNOSIS, version_number};
use super::{Engine, LogKind, Status};
use crate::domain::Action;
use crate::domain::Signal;
use crate::policy::autonomy::Mode;
use crate::policy::playbook::{ActionTemplate, CandidateNeed, ForecastCondition, Playbook, Undo};
use crate::policy::{DecisionRecord, Explanation, RemState, Remediation};

impl Engine {
    /// Build the concrete action of a playbook for a model; `None` when it does not apply.
    pub(super) fn instantiate(
        &self,
        pb: &Playbook,
        idx: usize,
        forecast_need: Option<u32>,
    ) -> Option<(Action, Option<Action>, String)> {
        let m = &self.models[idx];
        match &pb.action {
            ActionTemplate::Scale { .. } => {
                let (ready, rate, per_replica) = self.capacity_facts(idx)?;
                // demand still rising: size for where it will be when new pods are ready
                let t = self.t;
                let earlier = m
                    .history
                    .mean_between(Signal::RequestRate, t - 360.0, t - 240.0);
                let growth = if earlier.is_finite() && rate.is_finite() {
                    ((rate - earlier) / 300.0).max(0.0)
                } else {
                    0.0
                };
                let lead = self.cfg.pod_startup + 150.0;
                let projected = (rate + growth * lead).min(2.0 * rate);
                let mut target = pb.scale_target(ready, projected, per_replica)?;
                if let Some(need) = forecast_need {
                    target = target.max(need);
                }
                let mut note = format!(
                    "{ready} ready serving {rate:.1} req/s; one replica serves ~{per_replica:.1} req/s at 100 %"
                );
                if projected > rate * 1.01 {
                    note.push_str(&format!(
                        "; demand rising {:.1} req/s per min: sized for {projected:.1} req/s when new pods are ready ({lead:.0} s)",
                        growth * 60.0
                    ));
                }
                let max = m.meta.max_replicas;
                if max > 0 && target > max {
                    note.push_str(&format!(
                        "; capped at the model's maximum of {max} (asked {target})"
                    ));
                    target = max;
                }
                if target <= ready {
                    return None;
                }
                let undo =
                    (pb.undo == Undo::ScaleBack).then_some(Action::Scale { replicas: ready });
                Some((Action::Scale { replicas: target }, undo, note))
            }
            ActionTemplate::Rollback => {
                let undo = (pb.undo == Undo::RollForward)
                    .then(|| {
                        version_number(&m.meta.version).map(|v| Action::Canary {
                            version: v,
                            share: 1.0,
                        })
                    })
                    .flatten();
                Some((
                    Action::Rollback,
                    undo,
                    format!("serving {}", m.meta.version),
                ))
            }
            ActionTemplate::Canary { stages, .. } => {
                let (v, acc) = self.best_candidate(idx)?;
                let first = stages.first().copied().unwrap_or(1.0);
                Some((
                    Action::Canary {
                        version: v,
                        share: first,
                    },
                    Some(Action::Canary {
                        version: v,
                        share: 0.0,
                    }),
                    format!(
                        "candidate v{v} (offline accuracy {acc:.3}) vs {} now",
                        m.meta.version
                    ),
                ))
            }
            ActionTemplate::Retrain => Some((Action::Retrain, None, String::new())),
            ActionTemplate::Restart => Some((Action::Restart, None, String::new())),
            // a patch answers findings (engine::patches), not an incident or a forecast
            ActionTemplate::Patch { .. } => None,
        }
    }

    /// A registered candidate newer than the serving version whose offline accuracy beats
    /// what is measured now by at least 0.02.
    pub(super) fn best_candidate(&self, idx: usize) -> Option<(u32, f64)> {
        let m = &self.models[idx];
        let serving = version_number(&m.meta.version).unwrap_or(0);
        let now = f64::from(m.smooth[Signal::Accuracy.index()]);
        m.candidates
            .iter()
            .filter(|(v, acc, _)| *v > serving && (!now.is_finite() || *acc >= now + 0.02))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(v, a, _)| (*v, *a))
    }

    pub(super) fn propose_from_incidents(&mut self, t: f64) {
        let mut new = Vec::new();
        for inc in self.incidents.iter().filter(|i| i.is_open()) {
            // a diagnosis must hold a minute before a playbook answers it, unless it is the
            // first explanation found (it replaced "unexplained", not another cause)
            if inc.top().is_none()
                || (t - inc.top_since < STABLE_DIAGNOSIS && inc.first_cause_since > inc.top_since)
            {
                continue;
            }
            if self.live_on_model(inc.model) {
                continue;
            }
            let mine: Vec<&Remediation> = self
                .remediations
                .iter()
                .filter(|r| r.incident == Some(inc.id))
                .collect();
            // after a success, a follow-up only when symptoms outlast it (a retraining job's
            // candidate still to roll out); after anything else, a pause before trying again
            let last = mine.iter().max_by(|a, b| a.updated.total_cmp(&b.updated));
            let follow_up = last.is_some_and(|r| r.state == RemState::Succeeded);
            let symptoms_now = t - inc.last_bad <= 60.0;
            if let Some(r) = last {
                if follow_up && !(symptoms_now && inc.last_bad > r.updated + SETTLE) {
                    continue;
                }
                // a veto says "not this": the next hypothesis is proposed at once; after a
                // failure or an expiry, a pause before trying again
                if !follow_up && r.state != RemState::Vetoed && t - r.updated < REPROPOSE_AFTER {
                    continue;
                }
            }
            let recent_success = |p: &Playbook| {
                mine.iter().any(|r| {
                    r.playbook == p.name
                        && r.state == RemState::Succeeded
                        && t - r.updated < REPROPOSE_AFTER
                })
            };
            let idx = inc.model as usize;
            let candidate = self.best_candidate(idx).is_some();
            // a playbook that failed or was vetoed in this incident is not tried again; its
            // hypothesis gives way to the next one
            let tried = |p: &Playbook| {
                mine.iter().any(|r| {
                    r.playbook == p.name
                        && matches!(
                            r.state,
                            RemState::Vetoed | RemState::Failed | RemState::Undone
                        )
                })
            };
            let mut chosen = None;
            for h in &inc.hypotheses {
                let books: Vec<&Playbook> = self
                    .cfg
                    .playbooks
                    .iter()
                    .filter(|p| p.when.cause == Some(h.cause))
                    .collect();
                if !books.is_empty() && books.iter().all(|p| tried(p)) {
                    continue;
                }
                chosen = books
                    .into_iter()
                    .find(|p| {
                        h.confidence >= p.when.min_confidence
                            && !tried(p)
                            && !recent_success(p)
                            && match p.when.candidate {
                                CandidateNeed::Any => true,
                                CandidateNeed::Required => candidate,
                                CandidateNeed::None => !candidate,
                            }
                    })
                    .map(|p| (p, h));
                break;
            }
            let Some((pb, top)) = chosen else {
                continue;
            };
            let Some((action, undo, note)) = self.instantiate(pb, idx, None) else {
                continue;
            };
            let mut evidence = top.evidence.clone();
            if !note.is_empty() {
                evidence.push(note);
            }
            new.push((
                Some(inc.id),
                inc.model,
                pb.clone(),
                action,
                undo,
                format!(
                    "incident #{} diagnosed as {} ({:.0} %)",
                    inc.id,
                    top.cause,
                    top.confidence * 100.0
                ),
                evidence,
            ));
        }
        for (inc, model, pb, action, undo, trigger, evidence) in new {
            self.propose(t, inc, model, &pb, action, undo, trigger, evidence);
        }
    }

    pub(super) fn propose_from_forecasts(&mut self, t: f64) {
        let books: Vec<Playbook> = self
            .cfg
            .playbooks
            .iter()
            .filter(|p| p.when.forecast == Some(ForecastCondition::CapacityShort))
            .cloned()
            .collect();
        if books.is_empty() {
            return;
        }
        // one pass over the remediations, not one per model
        let mut busy = vec![false; self.models.len()];
        for r in &self.remediations {
            let live = super::remedy::holds_model(r);
            let recent = r.incident.is_none() && t - r.updated < REPROPOSE_AFTER;
            if (live || recent)
                && let Some(b) = busy.get_mut(r.model as usize)
            {
                *b = true;
            }
        }
        let mut new = Vec::new();
        for (idx, m) in self.models.iter().enumerate() {
            if m.incident.is_some() || busy[idx] {
                continue;
            }
            let Some(p) = m.plan.plan() else { continue };
            let Some(z) = p.sizing() else { continue };
            if t - p.made_at > super::plan::FORECAST_EVERY * 2.0 {
                continue;
            }
            let Some((ready, _, _)) = self.capacity_facts(idx) else {
                continue;
            };
            let need = z.plan.desired_now;
            for pb in &books {
                let short = f64::from(need) / f64::from(ready.max(1)) - 1.0;
                if short < pb.when.min_shortfall {
                    continue;
                }
                if let Some((action, undo, note)) = self.instantiate(pb, idx, Some(need)) {
                    new.push((
                        idx as u32,
                        pb.clone(),
                        action,
                        undo,
                        format!(
                            "forecast: {need} replicas needed within the start-up lead time, {ready} ready ({:.0} % short)",
                            short * 100.0
                        ),
                        vec![z.plan.reason.clone(), note],
                    ));
                    break;
                }
            }
        }
        for (model, pb, action, undo, trigger, evidence) in new {
            self.propose(t, None, model, &pb, action, undo, trigger, evidence);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn propose(
        &mut self,
        t: f64,
        incident: Option<u64>,
        model: u32,
        pb: &Playbook,
        action: Action,
        undo: Option<Action>,
        trigger: String,
        evidence: Vec<String>,
    ) {
        self.next_remediation += 1;
        let id = self.next_remediation;
        let key = self.models[model as usize].meta.key();
        let (mode, policy) = self.mode_for(pb, &action);
        let verify = pb.verification_summary(undo.as_ref());
        let mut r = Remediation {
            id,
            incident,
            model,
            key: key.clone(),
            playbook: pb.name.clone(),
            class: pb.class,
            action: action.clone(),
            undo,
            state: RemState::Proposed,
            mode,
            policy: policy.clone(),
            proposed: t,
            expires: t + self.cfg.approval_timeout,
            updated: t,
            why: Explanation {
                trigger,
                evidence,
                playbook: format!("{}: {}", pb.name, pb.description),
                expected: pb.expected.clone(),
                risk: format!("{} (blast radius: {:?})", pb.risk, pb.blast_radius).to_lowercase(),
                verify,
            },
            checks: Vec::new(),
            blocks: 0,
            decisions: Vec::new(),
            executed: None,
            verify_until: None,
            stage: 0,
            baseline: [f64::NAN; Signal::COUNT],
            before: [f64::NAN; Signal::COUNT],
            stage_started: f64::NAN,
            trend: 0.0,
            ok_since: None,
            blocked: None,
            undoing: false,
            timeline: vec![(t, format!("proposed by playbook {}", pb.name))],
            dry_run: false,
            wall_since: self.wall,
            next: None,
            bumps: match &action {
                Action::Patch { bumps, .. } => bumps.clone(),
                _ => Vec::new(),
            },
        };
        r.checks = self.checks_for(&r, t);
        if let Some(inc) = incident.and_then(|id| self.incidents.iter().find(|i| i.id == id)) {
            let h = &self.models[model as usize].history;
            for s in Signal::ALL {
                r.before[s.index()] = h.mean_between(s, inc.onset - 3900.0, inc.onset - 300.0);
            }
        } else if r.class == crate::policy::autonomy::ActionClass::Patch {
            // what a patch must not regress from: the hour before it is proposed
            r.before = self.means_between(model as usize, t - 3600.0, t);
        }
        let title = r.title();
        let (state, word) = match mode {
            Mode::Observe => (RemState::WouldDo, "would do"),
            Mode::Approve => (RemState::Proposed, "proposed, waiting for approval"),
            Mode::Auto => (RemState::Approved, "runs by itself"),
        };
        r.state = state;
        if mode == Mode::Auto {
            r.decisions.push(DecisionRecord {
                who: POLICY.to_string(),
                t,
                what: "auto".into(),
                reason: Some(policy.clone()),
            });
            r.timeline
                .push((t, format!("approved by the policy: {policy}")));
        }
        self.push_log(
            t,
            LogKind::Proposal,
            Some(key.clone()),
            if mode == Mode::Approve {
                Status::Warn
            } else {
                Status::Ok
            },
            format!("R{id} {word}: {} — {}", r.action.describe(), r.why.trigger),
        );
        if mode == Mode::Auto {
            self.audit(
                t,
                POLICY,
                "auto-approve",
                format!("R{id} {title}"),
                Some(policy),
            );
        }
        self.remediations.push_back(r);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testkit::{fleet, run_until};
    use crate::domain::{Action, IncidentKind};
    use crate::policy::RemState;
    use crate::policy::autonomy::{ActionClass, Mode, Phase};

    #[test]
    fn an_incident_is_answered_by_its_playbook_on_that_model_alone_and_waits_for_a_human() {
        let (mut w, mut e) = fleet(Phase::Augmentation, IncidentKind::MemoryLeak, 2);
        let mut log = Vec::new();
        assert!(run_until(&mut w, &mut e, &mut log, |e| e
            .remediations()
            .next()
            .is_some()));
        assert_eq!(e.remediations().count(), 1);
        let r = e.remediations().next().unwrap();
        assert_eq!((r.model, r.class), (2, ActionClass::Restart), "{r:?}");
        assert_eq!(r.action, Action::Restart);
        assert!(r.incident.is_some(), "it answers the incident");
        assert_eq!((r.state, r.mode), (RemState::Proposed, Mode::Approve));
        let timeout = e.cfg.approval_timeout;
        assert!((r.expires - r.proposed - timeout).abs() < 1e-6, "{r:?}");
        assert!(!r.why.trigger.is_empty(), "a proposal says why");
        assert!(
            log.is_empty(),
            "nothing runs before a human decides: {log:?}"
        );
    }

    #[test]
    fn in_foundation_a_proposal_is_shown_as_would_do_and_nothing_runs() {
        let (mut w, mut e) = fleet(Phase::Foundation, IncidentKind::MemoryLeak, 0);
        let mut log = Vec::new();
        assert!(run_until(&mut w, &mut e, &mut log, |e| e
            .remediations()
            .any(|r| r.state == RemState::WouldDo)));
        let start = e.time();
        run_until(&mut w, &mut e, &mut log, |e| e.time() > start + 3600.0);
        assert!(log.is_empty(), "observe mode runs nothing: {log:?}");
        assert!(
            e.remediations()
                .all(|r| matches!(r.state, RemState::WouldDo | RemState::Expired)),
            "{:?}",
            e.remediations().map(|r| r.state).collect::<Vec<_>>()
        );
    }
}
