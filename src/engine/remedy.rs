//! The engine's side of remediation: proposals from diagnoses and forecasts, the policy's
//! decision, guardrails before every execution, verification, undo and outcomes.
//!
//! Like the rest of the engine it is a pure function of the events: actions leave as
//! [`Effect::Execute`] and their results come back as [`Event::ActionResult`].

use super::{Effect, Engine, LogKind, Status, objective_breaches};
use crate::autonomy::{ActionClass, Mode, Phase, Trust, decide};
use crate::fleet::{Resolution, Signal};
use crate::remediate::guardrails::{self, ActionRequest, Facts, LedgerEntry};
use crate::remediate::playbook::{
    ActionTemplate, CandidateNeed, ForecastCondition, Playbook, Undo,
};
use crate::remediate::{
    Action, DecisionRecord, Explanation, MIN_WAIT_WALL, RemState, Remediation, describe,
    reason_problem,
};
use serde::{Deserialize, Serialize};

/// Seconds an actuator may take to answer before the action counts as failed.
pub const ACT_TIMEOUT: f64 = 120.0;
/// Seconds the target signals must hold before a verification succeeds.
pub const SETTLE: f64 = 120.0;
/// Seconds a diagnosis must stay the top hypothesis before a playbook answers it.
pub const STABLE_DIAGNOSIS: f64 = 60.0;
/// Seconds after a remediation of an incident ends before another is proposed for it.
pub const REPROPOSE_AFTER: f64 = 900.0;
/// Remediations kept (live ones are never dropped).
const KEPT: usize = 500;
/// Audit entries kept in memory.
const AUDIT_KEPT: usize = 2000;
/// Who the policy's decisions are journaled as.
pub const POLICY: &str = "pitcrew policy";

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub t: f64,
    /// Who (OS user, or the policy).
    pub who: String,
    /// What was decided.
    pub what: String,
    /// About what.
    pub subject: String,
    /// Why.
    pub reason: Option<String>,
}

/// Why an action runs: the remediation's first run, a canary stage, or an undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The playbook's action.
    Run,
    /// The next canary stage.
    Stage,
    /// Undoing a failed action.
    Undo,
}

impl Engine {
    pub(super) fn audit(
        &mut self,
        t: f64,
        who: &str,
        what: &str,
        subject: String,
        reason: Option<String>,
    ) {
        self.audit.push_back(AuditEntry {
            t,
            who: who.to_string(),
            what: what.to_string(),
            subject,
            reason,
        });
        while self.audit.len() > AUDIT_KEPT {
            self.audit.pop_front();
        }
    }

    fn trust(&self, pb: &Playbook) -> Trust {
        Trust {
            well_known: pb.well_known,
            success: self.stats.playbook(&pb.name).rate(),
        }
    }

    fn mode_for(&self, pb: &Playbook) -> (Mode, String) {
        if self.cfg.read_only {
            return (
                Mode::Observe,
                "read-only session: no actuator exists, shown as would-do".to_string(),
            );
        }
        let d = decide(self.phase, &self.overrides, pb.class, self.trust(pb));
        (d.mode, d.why)
    }

    fn playbook(&self, name: &str) -> Option<&Playbook> {
        self.cfg.playbooks.iter().find(|p| p.name == name)
    }

    /// Replicas ready, request rate and the rate one replica serves at 100 %.
    fn capacity_facts(&self, idx: usize) -> (u32, f64, f64) {
        let m = &self.models[idx];
        let ready = f64::from(m.smooth[Signal::Replicas.index()]);
        let ready = if ready.is_finite() && ready >= 1.0 {
            ready.round() as u32
        } else {
            1
        };
        let rate = f64::from(m.smooth[Signal::RequestRate.index()]);
        let per_replica = match m.plan.plan() {
            Some(p) if p.capacity.is_finite() && p.capacity > 0.0 => {
                p.capacity / super::plan::TARGET_UTILISATION
            }
            _ => {
                let cpu = f64::from(m.smooth[Signal::Cpu.index()]);
                rate / (f64::from(ready) * cpu.max(0.05))
            }
        };
        (ready, rate, per_replica)
    }

    fn facts(&self, idx: usize, t: f64) -> Facts {
        let m = &self.models[idx];
        Facts {
            min_replicas: m.meta.min_replicas.max(1),
            max_replicas: if m.meta.max_replicas == 0 {
                u32::MAX
            } else {
                m.meta.max_replicas
            },
            request_rate: f64::from(m.smooth[Signal::RequestRate.index()]),
            data_age: m.history.last_time().map_or(f64::INFINITY, |l| t - l),
            fleet_size: self.models.len(),
        }
    }

    fn request(&self, r: &Remediation) -> ActionRequest {
        ActionRequest {
            model: r.key.clone(),
            class: r.class,
            target_replicas: match r.action {
                Action::Scale { replicas } => Some(replicas),
                _ => None,
            },
            judges_quality: r.class != ActionClass::Scale,
        }
    }

    /// Build the concrete action of a playbook for a model; `None` when it does not apply.
    fn instantiate(
        &self,
        pb: &Playbook,
        idx: usize,
        forecast_need: Option<u32>,
    ) -> Option<(Action, Option<Action>, String)> {
        let m = &self.models[idx];
        match &pb.action {
            ActionTemplate::Scale { .. } => {
                let (ready, rate, per_replica) = self.capacity_facts(idx);
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
        }
    }

    /// A registered candidate newer than the serving version whose offline accuracy beats
    /// what is measured now by at least 0.02.
    fn best_candidate(&self, idx: usize) -> Option<(u32, f64)> {
        let m = &self.models[idx];
        let serving = version_number(&m.meta.version).unwrap_or(0);
        let now = f64::from(m.smooth[Signal::Accuracy.index()]);
        m.candidates
            .iter()
            .filter(|(v, acc, _)| *v > serving && (!now.is_finite() || *acc >= now + 0.02))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(v, a, _)| (*v, *a))
    }

    fn live_on_model(&self, idx: u32) -> bool {
        self.remediations
            .iter()
            .any(|r| r.model == idx && !r.state.is_final())
    }

    /// Propose, decide, guard, execute and verify. Called after every batch of observations
    /// and on clock ticks.
    pub(super) fn remediate(&mut self, t: f64) -> Vec<Effect> {
        self.propose_from_incidents(t);
        self.propose_from_forecasts(t);
        let mut fx = Vec::new();
        for k in 0..self.remediations.len() {
            if !self.remediations[k].state.is_final() {
                self.step_remediation(k, t, &mut fx);
            }
        }
        while self.remediations.len() > KEPT {
            match self.remediations.iter().position(|r| r.state.is_final()) {
                Some(p) => {
                    self.remediations.remove(p);
                }
                None => break,
            }
        }
        fx
    }

    fn propose_from_incidents(&mut self, t: f64) {
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

    fn propose_from_forecasts(&mut self, t: f64) {
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
            let live = !r.state.is_final();
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
            if t - p.made_at > super::plan::FORECAST_EVERY * 2.0 {
                continue;
            }
            let (ready, _, _) = self.capacity_facts(idx);
            let need = p.plan.desired_now;
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
                        vec![p.plan.reason.clone(), note],
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
    fn propose(
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
        let (mode, policy) = self.mode_for(pb);
        let verify = format!(
            "{} within {:.0} min{}; undo: {}",
            if pb.verify.signals.is_empty() {
                "the action's own result".to_string()
            } else {
                format!(
                    "{} back within objectives",
                    pb.verify
                        .signals
                        .iter()
                        .map(|s| s.title())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            pb.verify.window_secs / 60.0,
            match &pb.action {
                ActionTemplate::Canary {
                    stages,
                    stage_secs,
                    min_accuracy,
                    max_p95_ms,
                    max_error_rate,
                } => format!(
                    "; stages {} of {:.0} min each, promoted only while the candidate's accuracy ≥ {min_accuracy:.2}, p95 ≤ {max_p95_ms:.0} ms, errors ≤ {:.1} %",
                    stages
                        .iter()
                        .map(|s| format!("{:.0} %", s * 100.0))
                        .collect::<Vec<_>>()
                        .join(" → "),
                    stage_secs / 60.0,
                    max_error_rate * 100.0
                ),
                _ => String::new(),
            },
            match &undo {
                Some(a) => describe(a),
                None => "none (raised to the operator)".to_string(),
            }
        );
        let mut r = Remediation {
            id,
            incident,
            model,
            key: key.clone(),
            playbook: pb.name.clone(),
            class: pb.class,
            action,
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
        };
        r.checks = guardrails::check(
            &self.cfg.guardrails,
            &self.request(&r),
            &self.ledger,
            &self.facts(model as usize, t),
            t,
        );
        if let Some(inc) = incident.and_then(|id| self.incidents.iter().find(|i| i.id == id)) {
            let h = &self.models[model as usize].history;
            for s in Signal::ALL {
                r.before[s.index()] = h.mean_between(s, inc.onset - 3900.0, inc.onset - 300.0);
            }
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
            format!("R{id} {word}: {} — {}", describe(&r.action), r.why.trigger),
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

    fn set_state(&mut self, k: usize, t: f64, state: RemState, text: String, status: Status) {
        let r = &mut self.remediations[k];
        r.state = state;
        r.updated = t;
        r.timeline.push((t, text.clone()));
        let (id, key) = (r.id, r.key.clone());
        self.push_log(
            t,
            kind_of(state),
            Some(key),
            status,
            format!("R{id} {}: {text}", state.word()),
        );
    }

    fn outcome(&mut self, k: usize, success: bool, fx: &mut Vec<Effect>) {
        let r = &self.remediations[k];
        if r.dry_run {
            return;
        }
        let (pb, key) = (r.playbook.clone(), r.key.clone());
        self.stats.record(&pb, &key, success);
        fx.push(Effect::Outcome {
            playbook: pb,
            model: key,
            success,
        });
    }

    fn incident_open(&self, r: &Remediation) -> bool {
        match r.incident {
            Some(id) => self.incidents.iter().any(|i| i.id == id && i.is_open()),
            None => true,
        }
    }

    fn step_remediation(&mut self, k: usize, t: f64, fx: &mut Vec<Effect>) {
        let state = self.remediations[k].state;
        let pb = self.playbook(&self.remediations[k].playbook).cloned();
        let model = self.remediations[k].model as usize;
        match state {
            RemState::WouldDo | RemState::Proposed | RemState::Approved => {
                // the safety checks keep running while a decision is pending
                let checks = guardrails::check(
                    &self.cfg.guardrails,
                    &self.request(&self.remediations[k]),
                    &self.ledger,
                    &self.facts(model, t),
                    t,
                );
                self.remediations[k].checks = checks;
                if !self.incident_open(&self.remediations[k]) {
                    self.set_state(
                        k,
                        t,
                        RemState::Expired,
                        "no longer needed: the incident resolved".into(),
                        Status::Ok,
                    );
                    return;
                }
                if state != RemState::Approved
                    || self.remediations[k]
                        .decisions
                        .iter()
                        .all(|d| d.who == POLICY)
                {
                    // phase or overrides may have changed: decide again (never undoes a human approval)
                    if let Some(pb) = &pb {
                        let (mode, why) = self.mode_for(pb);
                        let r = &mut self.remediations[k];
                        if mode != r.mode {
                            r.mode = mode;
                            r.policy = why.clone();
                            let (ns, text) = match mode {
                                Mode::Observe => {
                                    (RemState::WouldDo, format!("now observe only: {why}"))
                                }
                                Mode::Approve => {
                                    (RemState::Proposed, format!("now waits for approval: {why}"))
                                }
                                Mode::Auto => {
                                    (RemState::Approved, format!("now runs by itself: {why}"))
                                }
                            };
                            if mode == Mode::Auto {
                                r.decisions.push(DecisionRecord {
                                    who: POLICY.into(),
                                    t,
                                    what: "auto".into(),
                                    reason: Some(why.clone()),
                                });
                                let title = format!("R{} {}", r.id, r.title());
                                self.audit(t, POLICY, "auto-approve", title, Some(why));
                            }
                            if mode == Mode::Approve {
                                self.remediations[k].expires = t + self.cfg.approval_timeout;
                                self.remediations[k].wall_since = self.wall;
                            }
                            self.set_state(k, t, ns, text, Status::Ok);
                        }
                    }
                }
                let r = &self.remediations[k];
                match r.state {
                    RemState::Proposed
                        if t >= r.expires && self.wall - r.wall_since >= MIN_WAIT_WALL =>
                    {
                        let mins = self.cfg.approval_timeout / 60.0;
                        let subject = format!("R{} {}", r.id, r.title());
                        self.audit(
                            t,
                            POLICY,
                            "expire",
                            subject,
                            Some(format!("no decision within {mins:.0} min")),
                        );
                        self.set_state(
                            k,
                            t,
                            RemState::Expired,
                            format!("no decision within {mins:.0} min: nothing done; the incident stays open and is still watched"),
                            Status::Warn,
                        );
                    }
                    RemState::Approved => self.try_execute(k, t, fx),
                    _ => {}
                }
            }
            RemState::Executing => {
                let since = self.remediations[k].executed.unwrap_or(t);
                if t - since > ACT_TIMEOUT {
                    self.set_state(
                        k,
                        t,
                        RemState::Failed,
                        format!("the actuator did not answer within {ACT_TIMEOUT:.0} s"),
                        Status::Crit,
                    );
                    self.outcome(k, false, fx);
                }
            }
            RemState::Verifying => {
                if let Some(pb) = pb {
                    self.verify(k, t, &pb, fx);
                }
            }
            _ => {}
        }
    }

    fn try_execute(&mut self, k: usize, t: f64, fx: &mut Vec<Effect>) {
        let r = &self.remediations[k];
        let first_blocked = r
            .checks
            .iter()
            .find(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.detail));
        if let Some(why) = first_blocked {
            let was = r.blocked.clone();
            let expires = r
                .expires
                .max(r.decisions.last().map_or(r.proposed, |d| d.t) + self.cfg.approval_timeout);
            if was.is_none() {
                let r = &mut self.remediations[k];
                r.blocks += 1;
                r.blocked = Some(why.clone());
                let (id, key) = (r.id, r.key.clone());
                r.timeline.push((t, format!("held by guardrails — {why}")));
                self.guard_blocks += 1;
                self.push_log(
                    t,
                    LogKind::Decision,
                    Some(key),
                    Status::Warn,
                    format!("R{id} held by guardrails — {why}"),
                );
            }
            if t >= expires {
                self.set_state(
                    k,
                    t,
                    RemState::Expired,
                    format!("guardrails held it until it expired ({why})"),
                    Status::Warn,
                );
            }
            return;
        }
        let r = &mut self.remediations[k];
        r.blocked = None;
        r.executed = Some(t);
        let who = r
            .decisions
            .last()
            .map_or_else(|| POLICY.to_string(), |d| d.who.clone());
        fx.push(Effect::Execute {
            t,
            id: r.id,
            model: r.model,
            key: r.key.clone(),
            action: r.action.clone(),
            purpose: Purpose::Run,
            who,
        });
        let entry = LedgerEntry {
            t,
            model: r.key.clone(),
            class: r.class,
        };
        let text = describe(&r.action);
        self.ledger.record(entry, &self.cfg.guardrails);
        self.actions_run += 1;
        self.set_state(k, t, RemState::Executing, text, Status::Ok);
    }

    /// The actuator answered.
    pub(super) fn action_result(
        &mut self,
        t: f64,
        id: u64,
        ok: bool,
        dry_run: bool,
        message: String,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(k) = self.remediations.iter().position(|r| r.id == id) else {
            return fx;
        };
        if self.remediations[k].state != RemState::Executing {
            return fx;
        }
        let undoing = self.remediations[k].undoing;
        if !ok {
            let text = if undoing {
                format!("undo failed: {message} — needs a human")
            } else {
                format!("actuator refused: {message}")
            };
            self.set_state(k, t, RemState::Failed, text, Status::Crit);
            if !undoing {
                self.outcome(k, false, &mut fx);
            }
            return fx;
        }
        if dry_run {
            self.remediations[k].dry_run = true;
            self.set_state(
                k,
                t,
                RemState::Recorded,
                format!("{message} (nothing changed, nothing to verify)"),
                Status::Ok,
            );
            return fx;
        }
        if undoing {
            self.set_state(
                k,
                t,
                RemState::Undone,
                format!("undone: {message}"),
                Status::Warn,
            );
            return fx;
        }
        let Some(pb) = self.playbook(&self.remediations[k].playbook).cloned() else {
            self.set_state(
                k,
                t,
                RemState::Inconclusive,
                format!("{message}; its playbook is gone, so it cannot be verified"),
                Status::Warn,
            );
            return fx;
        };
        let model = self.remediations[k].model as usize;
        let now_vals = self.recent_means(model, t);
        let h = &self.models[model].history;
        let acc_trend = slope(&h.series(Signal::Accuracy, Resolution::Mid, t - 1800.0));
        let r = &mut self.remediations[k];
        r.baseline = now_vals;
        r.stage_started = t;
        r.trend = acc_trend;
        r.ok_since = None;
        let window = match (&pb.action, &r.action) {
            (ActionTemplate::Canary { stage_secs, .. }, Action::Canary { share, .. })
                if *share < 1.0 =>
            {
                *stage_secs
            }
            _ => pb.verify.window_secs,
        };
        r.verify_until = Some(t + window);
        self.set_state(
            k,
            t,
            RemState::Verifying,
            format!("{message}; verifying for {:.0} min", window / 60.0),
            Status::Ok,
        );
        fx
    }

    fn recent_means(&self, model: usize, t: f64) -> [f64; Signal::COUNT] {
        let h = &self.models[model].history;
        let mut v = [f64::NAN; Signal::COUNT];
        for s in Signal::ALL {
            v[s.index()] = h.mean_between(s, t - 300.0, t);
        }
        v
    }

    fn verify(&mut self, k: usize, t: f64, pb: &Playbook, fx: &mut Vec<Effect>) {
        let model = self.remediations[k].model as usize;
        let until = self.remediations[k].verify_until.unwrap_or(t);
        // canary stages before the last: gates at the end of the stage
        if let (
            ActionTemplate::Canary {
                stages,
                min_accuracy,
                max_p95_ms,
                max_error_rate,
                ..
            },
            Action::Canary { version, share },
        ) = (&pb.action, self.remediations[k].action.clone())
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
            let pass = acc >= *min_accuracy && p95 <= *max_p95_ms && err <= *max_error_rate;
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
                r.executed = Some(t);
                let text = format!(
                    "stage {:.0} % passed ({gates}); moving to {:.0} %",
                    share * 100.0,
                    next * 100.0
                );
                fx.push(Effect::Execute {
                    t,
                    id: r.id,
                    model: r.model,
                    key: r.key.clone(),
                    action: r.action.clone(),
                    purpose: Purpose::Stage,
                    who: r
                        .decisions
                        .last()
                        .map_or_else(|| POLICY.to_string(), |d| d.who.clone()),
                });
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
            let got = self.models[model]
                .candidates
                .iter()
                .find(|c| c.2 >= since)
                .map(|c| (c.0, c.1));
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
        let detail = detail.join("; ");
        let exec = r.executed.unwrap_or(t);
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

    fn fail_and_undo(&mut self, k: usize, t: f64, why: String, fx: &mut Vec<Effect>) {
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
                fx.push(Effect::Execute {
                    t,
                    id: r.id,
                    model: r.model,
                    key: r.key.clone(),
                    action: undo.clone(),
                    purpose: Purpose::Undo,
                    who: POLICY.to_string(),
                });
                let text = format!("{why}; undoing: {}", describe(&undo));
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

    /// An operator approves (a proposal) or accepts (an inconclusive verification).
    pub(super) fn approve(&mut self, t: f64, user: &str, id: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(k) = self.remediations.iter().position(|r| r.id == id) else {
            self.push_log(
                t,
                LogKind::Decision,
                None,
                Status::Warn,
                format!("{user} approved R{id}, which does not exist"),
            );
            return fx;
        };
        let r = &mut self.remediations[k];
        let subject = format!("R{id} {}", r.title());
        match r.state {
            RemState::Proposed => {
                r.decisions.push(DecisionRecord {
                    who: user.to_string(),
                    t,
                    what: "approve".into(),
                    reason: None,
                });
                r.expires = t + self.cfg.approval_timeout;
                self.audit(t, user, "approve", subject, None);
                self.set_state(
                    k,
                    t,
                    RemState::Approved,
                    format!("approved by {user}"),
                    Status::Ok,
                );
                let model = self.remediations[k].model as usize;
                let checks = guardrails::check(
                    &self.cfg.guardrails,
                    &self.request(&self.remediations[k]),
                    &self.ledger,
                    &self.facts(model, t),
                    t,
                );
                self.remediations[k].checks = checks;
                self.try_execute(k, t, &mut fx);
            }
            RemState::Inconclusive => {
                r.decisions.push(DecisionRecord {
                    who: user.to_string(),
                    t,
                    what: "accept".into(),
                    reason: None,
                });
                self.audit(t, user, "accept outcome", subject, None);
                self.set_state(
                    k,
                    t,
                    RemState::Succeeded,
                    format!("{user} judged the outcome a success"),
                    Status::Ok,
                );
                self.outcome(k, true, &mut fx);
            }
            s => {
                let text = format!(
                    "{user} approved R{id}, but it is {} — nothing to approve",
                    s.word()
                );
                let key = r.key.clone();
                self.push_log(t, LogKind::Decision, Some(key), Status::Warn, text);
            }
        }
        fx
    }

    /// An operator vetoes a proposal (or rejects an inconclusive outcome), with a reason.
    pub(super) fn veto(&mut self, t: f64, user: &str, id: u64, reason: String) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(k) = self.remediations.iter().position(|r| r.id == id) else {
            return fx;
        };
        if let Some(why) = reason_problem(&reason) {
            let key = self.remediations[k].key.clone();
            self.push_log(
                t,
                LogKind::Decision,
                Some(key),
                Status::Warn,
                format!("{user}'s veto of R{id} refused: {why}"),
            );
            return fx;
        }
        let r = &mut self.remediations[k];
        let subject = format!("R{id} {}", r.title());
        match r.state {
            RemState::Proposed | RemState::Approved | RemState::WouldDo => {
                r.decisions.push(DecisionRecord {
                    who: user.to_string(),
                    t,
                    what: "veto".into(),
                    reason: Some(reason.clone()),
                });
                self.audit(t, user, "veto", subject, Some(reason.clone()));
                self.set_state(
                    k,
                    t,
                    RemState::Vetoed,
                    format!("vetoed by {user}: {reason}"),
                    Status::Ok,
                );
            }
            RemState::Inconclusive => {
                r.decisions.push(DecisionRecord {
                    who: user.to_string(),
                    t,
                    what: "reject".into(),
                    reason: Some(reason.clone()),
                });
                self.audit(t, user, "reject outcome", subject, Some(reason.clone()));
                self.set_state(
                    k,
                    t,
                    RemState::Failed,
                    format!("{user} judged the outcome a failure: {reason}"),
                    Status::Warn,
                );
                self.outcome(k, false, &mut fx);
            }
            s => {
                let text = format!(
                    "{user} vetoed R{id}, but it is {} — too late to veto",
                    s.word()
                );
                let key = r.key.clone();
                self.push_log(t, LogKind::Decision, Some(key), Status::Warn, text);
            }
        }
        fx
    }

    /// What comes after a veto: the next hypothesis's playbook is proposed at once when one
    /// answers the incident; otherwise the operator is told to act by hand, with the vetoed
    /// playbook's runbook. Said on the vetoed remediation and in the log.
    pub(super) fn after_veto(&mut self, t: f64, id: u64) -> Vec<Effect> {
        let Some(k) = self.remediations.iter().position(|r| r.id == id) else {
            return Vec::new();
        };
        if self.remediations[k].state != RemState::Vetoed || self.remediations[k].next.is_some() {
            return Vec::new();
        }
        let newest_before = self.remediations.iter().map(|r| r.id).max().unwrap_or(0);
        let fx = self.remediate(t);
        let Some(k) = self.remediations.iter().position(|r| r.id == id) else {
            return fx;
        };
        let (incident, key, playbook) = {
            let r = &self.remediations[k];
            (r.incident, r.key.clone(), r.playbook.clone())
        };
        let successor = self
            .remediations
            .iter()
            .find(|r| r.id > newest_before && r.incident.is_some() && r.incident == incident)
            .map(|r| {
                format!(
                    "R{} {} ({}: {})",
                    r.id,
                    describe(&r.action),
                    r.playbook,
                    r.why.trigger
                )
            });
        let text = match successor {
            Some(s) => format!("next: {s}"),
            None => {
                let runbook = self
                    .playbook(&playbook)
                    .and_then(|p| p.runbook.clone())
                    .unwrap_or_else(|| {
                        "check the model's recent deploys, pods and upstream dependencies; note what you do (n) so the journal has it".to_string()
                    });
                let what = match incident {
                    Some(inc) => format!("no other playbook answers incident #{inc}"),
                    None => "the forecast is re-checked on every plan".to_string(),
                };
                format!("{what}: act by hand — {runbook}")
            }
        };
        let r = &mut self.remediations[k];
        r.next = Some(text.clone());
        r.timeline.push((t, format!("after the veto, {text}")));
        self.push_log(
            t,
            LogKind::Decision,
            Some(key),
            Status::Warn,
            format!("R{id} vetoed; {text}"),
        );
        fx
    }

    /// An operator sets how a class is handled in a phase.
    pub(super) fn set_class_mode(
        &mut self,
        t: f64,
        user: &str,
        phase: Phase,
        class: ActionClass,
        mode: Option<Mode>,
    ) {
        self.overrides.set(phase, class, mode);
        let what = match mode {
            Some(m) => format!("{} in {phase}: {m:?}", class.name()),
            None => format!("{} in {phase}: phase default", class.name()),
        };
        self.audit(t, user, "set class mode", what.clone(), None);
        self.push_log(
            t,
            LogKind::Phase,
            None,
            Status::Ok,
            format!("{user} set {what}"),
        );
    }
}

fn kind_of(s: RemState) -> LogKind {
    match s {
        RemState::WouldDo | RemState::Proposed => LogKind::Proposal,
        RemState::Approved | RemState::Vetoed | RemState::Expired => LogKind::Decision,
        RemState::Executing => LogKind::Action,
        _ => LogKind::Outcome,
    }
}

/// Version number of `v12` (or `12`).
pub fn version_number(v: &str) -> Option<u32> {
    v.trim_start_matches(['v', 'V']).parse().ok()
}

/// Least-squares slope per hour of `(t, value)` points.
fn slope(points: &[(f64, f64)]) -> f64 {
    let pts: Vec<&(f64, f64)> = points.iter().filter(|p| p.1.is_finite()).collect();
    if pts.len() < 3 {
        return 0.0;
    }
    let n = pts.len() as f64;
    let mt = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let mv = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for p in pts {
        sxy += (p.0 - mt) * (p.1 - mv);
        sxx += (p.0 - mt) * (p.0 - mt);
    }
    if sxx > 0.0 { sxy / sxx * 3600.0 } else { 0.0 }
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
