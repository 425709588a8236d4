//! The engine's side of remediation: the state machine that steps every remediation (the
//! policy's decision, expiry, guardrails before every execution) and the actuator's answers.
//! Proposals are made in `proposals.rs`, verified in `verification.rs`, and the operator's
//! decisions are in `decisions.rs`.
//!
//! Like the rest of the engine it is a pure function of the events: actions leave as
//! [`Effect::Execute`] and their results come back as [`Event::ActionResult`].

use super::{Effect, Engine, Execution, LogKind, Status};
use crate::domain::Action;
use crate::domain::BumpKind;
use crate::domain::Signal;
use crate::fleet::Resolution;
use crate::policy::autonomy::{ActionClass, Mode, Trust, decide};
use crate::policy::guardrails::{self, ActionRequest, Facts, GuardCheck, LedgerEntry};
use crate::policy::playbook::{ActionTemplate, Playbook};
use crate::policy::{DecisionRecord, MIN_WAIT_WALL, RemState, Remediation};
use serde::{Deserialize, Serialize};

/// Seconds an actuator may take to answer before the action counts as failed.
pub(crate) const ACT_TIMEOUT: f64 = 120.0;
/// Seconds the target signals must hold before a verification succeeds.
pub(crate) const SETTLE: f64 = 120.0;
/// Seconds a diagnosis must stay the top hypothesis before a playbook answers it.
pub(crate) const STABLE_DIAGNOSIS: f64 = 60.0;
/// Seconds after a remediation of an incident ends before another is proposed for it.
pub(crate) const REPROPOSE_AFTER: f64 = 900.0;
/// Remediations kept (live ones are never dropped).
const KEPT: usize = 500;
/// Audit entries kept in memory.
const AUDIT_KEPT: usize = 2000;
/// Who the policy's decisions are journaled as.
pub(crate) const POLICY: &str = "pitcrew policy";

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

/// Who an action of `r` runs for: the last to decide on it (the policy when nobody did).
pub(super) fn decider(r: &Remediation) -> String {
    r.decisions
        .last()
        .map_or_else(|| POLICY.to_string(), |d| d.who.clone())
}

/// The effect that asks the edge to carry `action` out for remediation `r`.
pub(super) fn execute(
    r: &Remediation,
    t: f64,
    action: Action,
    purpose: Purpose,
    who: String,
) -> Effect {
    Effect::Execute(Execution {
        t,
        id: r.id,
        model: r.model,
        key: r.key.clone(),
        action,
        purpose,
        who,
    })
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

    pub(super) fn trust(&self, pb: &Playbook) -> Trust {
        Trust {
            well_known: pb.well_known,
            success: self.stats.playbook(&pb.name).rate(),
        }
    }

    /// What happens to a proposal of `pb` that carries `action`. A patch is well known only
    /// when each of its bumps is a patch release; one with a major bump or fixing a finding of
    /// unknown severity never runs without a human, whatever the phase or the overrides.
    pub(super) fn mode_for(&self, pb: &Playbook, action: &Action) -> (Mode, String) {
        if self.cfg.read_only {
            return (
                Mode::Observe,
                "read-only session: no actuator exists, shown as would-do".to_string(),
            );
        }
        let mut trust = self.trust(pb);
        let mut needs_human = None;
        if let Action::Patch {
            bumps,
            unknown_severity,
        } = action
        {
            let biggest = bumps.iter().map(|b| b.kind).max();
            trust.well_known &= biggest == Some(BumpKind::Patch);
            if biggest == Some(BumpKind::Major) {
                needs_human = Some("a major version bump always waits for a human");
            } else if *unknown_severity {
                needs_human =
                    Some("a finding of unknown severity is never patched without a human");
            }
        }
        let d = decide(self.phase, &self.overrides, pb.class, trust);
        match needs_human {
            Some(why) if d.mode == Mode::Auto => (Mode::Approve, format!("{}, but {why}", d.why)),
            _ => (d.mode, d.why),
        }
    }

    pub(super) fn playbook(&self, name: &str) -> Option<&Playbook> {
        self.cfg.playbooks.iter().find(|p| p.name == name)
    }

    /// Replicas ready, request rate and the rate one replica serves at 100 %; `None` when the
    /// model's replicas, request rate or (without a learnt capacity) CPU are not measured, so
    /// that no scaling is sized from invented values.
    pub(super) fn capacity_facts(&self, idx: usize) -> Option<(u32, f64, f64)> {
        let m = &self.models[idx];
        let ready = f64::from(m.smooth[Signal::Replicas.index()]);
        let rate = f64::from(m.smooth[Signal::RequestRate.index()]);
        if !ready.is_finite() || !rate.is_finite() {
            return None;
        }
        let ready = (ready.round() as u32).max(1);
        let per_replica = match m.plan.sizing() {
            Some(z) if z.capacity.is_finite() && z.capacity > 0.0 => {
                z.capacity / super::plan::TARGET_UTILISATION
            }
            _ => {
                let cpu = f64::from(m.smooth[Signal::Cpu.index()]);
                if !cpu.is_finite() {
                    return None;
                }
                rate / (f64::from(ready) * cpu.max(0.05))
            }
        };
        Some((ready, rate, per_replica))
    }

    pub(super) fn facts(&self, idx: usize, t: f64) -> Facts {
        let m = &self.models[idx];
        Facts {
            min_replicas: m.meta.min_replicas.max(1),
            max_replicas: (m.meta.max_replicas > 0).then_some(m.meta.max_replicas),
            request_rate: f64::from(m.smooth[Signal::RequestRate.index()]),
            data_age: m.history.last_time().map_or(f64::INFINITY, |l| t - l),
            fleet_size: self.models.len(),
            patches_rolling: 0,
        }
    }

    pub(super) fn request(&self, r: &Remediation) -> ActionRequest {
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

    /// Whether a remediation on model `idx` is going on that another one must wait for.
    pub(super) fn live_on_model(&self, idx: u32) -> bool {
        self.remediations
            .iter()
            .any(|r| r.model == idx && holds_model(r))
    }

    /// Propose, decide, guard, execute and verify. Called after every batch of observations
    /// and on clock ticks.
    pub(super) fn remediate(&mut self, t: f64) -> Vec<Effect> {
        self.propose_from_incidents(t);
        self.propose_from_forecasts(t);
        self.propose_from_findings(t);
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

    pub(super) fn set_state(
        &mut self,
        k: usize,
        t: f64,
        state: RemState,
        text: String,
        status: Status,
    ) {
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
            // "R3 undone: undone: …" says it twice
            match text.strip_prefix(state.word()) {
                Some(rest) if rest.starts_with(':') => format!("R{id} {text}"),
                _ => format!("R{id} {}: {text}", state.word()),
            },
        );
    }

    pub(super) fn outcome(&mut self, k: usize, success: bool, fx: &mut Vec<Effect>) {
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

    /// The guardrail checks of remediation `r`, as they stand at `t`.
    pub(super) fn checks_for(&self, r: &Remediation, t: f64) -> Vec<GuardCheck> {
        let mut facts = self.facts(r.model as usize, t);
        if r.class == ActionClass::Patch {
            facts.patches_rolling = self
                .remediations
                .iter()
                .filter(|o| {
                    o.id != r.id
                        && o.class == ActionClass::Patch
                        && matches!(o.state, RemState::Executing | RemState::Verifying)
                })
                .count() as u32;
        }
        guardrails::check(
            &self.cfg.guardrails,
            &self.request(r),
            &self.ledger,
            &facts,
            t,
        )
    }

    /// Brings the guardrail checks of remediation `k` up to `t`.
    pub(super) fn refresh_checks(&mut self, k: usize, t: f64) {
        self.remediations[k].checks = self.checks_for(&self.remediations[k], t);
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
        match state {
            RemState::WouldDo | RemState::Proposed | RemState::Approved => {
                // the safety checks keep running while a decision is pending
                self.refresh_checks(k, t);
                if let Err(why) = self.patch_still_needed(&self.remediations[k]) {
                    self.set_state(k, t, RemState::Expired, why.into(), Status::Ok);
                    return;
                }
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
                        let (mode, why) = self.mode_for(pb, &self.remediations[k].action);
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

    pub(super) fn try_execute(&mut self, k: usize, t: f64, fx: &mut Vec<Effect>) {
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
        let who = decider(r);
        fx.push(execute(r, t, r.action.clone(), Purpose::Run, who));
        let entry = LedgerEntry {
            t,
            model: r.key.clone(),
            class: r.class,
        };
        let text = r.action.describe();
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
        let window = match (&pb.action, pb.action.gates(), &r.action) {
            (_, Some(g), Action::Canary { share, .. }) if *share < 1.0 => g.stage_secs,
            (ActionTemplate::Patch { build_secs, .. }, _, Action::Patch { .. }) => *build_secs,
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
}

fn kind_of(s: RemState) -> LogKind {
    match s {
        RemState::WouldDo | RemState::Proposed => LogKind::Proposal,
        RemState::Approved | RemState::Vetoed | RemState::Expired => LogKind::Decision,
        RemState::Executing => LogKind::Action,
        _ => LogKind::Outcome,
    }
}

/// Whether `r` keeps other remediations off its model: anything not final, except a patch
/// that is waiting for a decision or still building (nothing serving has changed yet): an
/// incident's or a forecast's answer never waits for a patch (a pending patch gives way to an
/// incident; a build's candidate waits for the incident to close before its canary).
pub(super) fn holds_model(r: &Remediation) -> bool {
    if r.state.is_final() {
        return false;
    }
    let waiting = matches!(
        r.state,
        RemState::WouldDo | RemState::Proposed | RemState::Approved
    );
    !(r.class == ActionClass::Patch && (waiting || matches!(r.action, Action::Patch { .. })))
}

/// Version number of `v12` (or `12`).
pub(crate) fn version_number(v: &str) -> Option<u32> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testkit::{answer, first_in, fleet, idle_until, rem};
    use super::*;
    use crate::domain::IncidentKind;
    use crate::policy::autonomy::Phase;

    /// The actions asked for in `fx`.
    fn runs(fx: &[Effect]) -> Vec<&crate::engine::Execution> {
        fx.iter()
            .filter_map(|f| match f {
                Effect::Execute(x) => Some(x),
                _ => None,
            })
            .collect()
    }

    /// The outcomes reported in `fx`.
    fn outcomes(fx: &[Effect]) -> Vec<bool> {
        fx.iter()
            .filter_map(|f| match f {
                Effect::Outcome { success, .. } => Some(*success),
                _ => None,
            })
            .collect()
    }

    /// An engine in Autonomy whose fix for a leak on model 1 was sent to the actuator, and
    /// the remediation's id.
    fn executing() -> (crate::sim::SimWorld, Engine, u64, Vec<Effect>) {
        let (mut w, mut e) = fleet(Phase::Autonomy, IncidentKind::MemoryLeak, 1);
        let fx = idle_until(&mut w, &mut e, |e| {
            first_in(e, RemState::Executing).is_some()
        })
        .unwrap();
        let id = first_in(&e, RemState::Executing).unwrap().id;
        (w, e, id, fx)
    }

    #[test]
    fn in_autonomy_a_well_known_fix_runs_by_itself_in_the_policys_name() {
        let (_, e, id, fx) = executing();
        let r = rem(&e, id);
        let runs = runs(&fx);
        assert_eq!(runs.len(), 1, "{runs:?}");
        let x = runs[0];
        assert_eq!((x.id, x.model, x.purpose), (id, 1, Purpose::Run));
        assert_eq!((x.who.as_str(), &x.action), (POLICY, &r.action));
        let d = r.decisions.last().unwrap();
        assert_eq!((d.who.as_str(), d.what.as_str()), (POLICY, "auto"));
        assert_eq!(r.executed, Some(x.t));
        assert!(
            e.audit
                .iter()
                .any(|a| a.who == POLICY && a.what == "auto-approve"),
            "an automatic decision is audited"
        );
    }

    #[test]
    fn an_actuator_that_never_answers_fails_the_action_after_its_timeout() {
        let (mut w, mut e, id, _) = executing();
        let fx = idle_until(&mut w, &mut e, |e| rem(e, id).state != RemState::Executing).unwrap();
        let r = rem(&e, id);
        assert_eq!(r.state, RemState::Failed);
        let waited = r.updated - r.executed.unwrap();
        assert!(
            waited > ACT_TIMEOUT && waited <= ACT_TIMEOUT + 2.0 * crate::sim::SIM_STEP,
            "{waited}"
        );
        assert!(
            r.timeline.last().unwrap().1.contains("did not answer"),
            "{:?}",
            r.timeline
        );
        assert_eq!(
            outcomes(&fx),
            [false],
            "a failure counts against the playbook"
        );
        assert!(runs(&fx).is_empty(), "nothing is retried by itself");
    }

    #[test]
    fn a_refusal_fails_the_action_and_a_dry_run_is_recorded_without_verification() {
        let (_, mut e, id, _) = executing();
        let mut dry = e.clone();
        let fx = answer(&mut e, id, false, false);
        let r = rem(&e, id);
        assert_eq!(r.state, RemState::Failed);
        assert!(
            r.timeline
                .last()
                .unwrap()
                .1
                .contains("actuator refused: forbidden"),
            "{:?}",
            r.timeline
        );
        assert_eq!(outcomes(&fx), [false]);
        // a late second answer changes nothing
        assert!(answer(&mut e, id, true, false).is_empty());
        assert_eq!(rem(&e, id).state, RemState::Failed);

        let fx = answer(&mut dry, id, true, true);
        let r = rem(&dry, id);
        assert_eq!(r.state, RemState::Recorded);
        assert!(r.dry_run && r.verify_until.is_none(), "{r:?}");
        assert!(fx.is_empty(), "a dry run is no outcome: {fx:?}");
    }

    #[test]
    fn guardrails_hold_an_approved_action_say_why_and_let_it_expire() {
        let mut cfg = crate::engine::EngineConfig {
            phase: Phase::Autonomy,
            ..Default::default()
        };
        cfg.guardrails.max_fleet_per_hour = 0;
        let (mut w, mut e) = crate::harness::start(7, 6, 1.7e9, cfg);
        w.inject(1, IncidentKind::MemoryLeak);
        let fx = idle_until(&mut w, &mut e, |e| {
            e.remediations().any(|r| r.blocked.is_some())
        })
        .unwrap();
        assert!(runs(&fx).is_empty(), "{fx:?}");
        let r = e.remediations().find(|r| r.blocked.is_some()).unwrap();
        let id = r.id;
        assert_eq!((r.state, r.blocks), (RemState::Approved, 1));
        assert!(
            r.timeline
                .last()
                .unwrap()
                .1
                .starts_with("held by guardrails"),
            "{:?}",
            r.timeline
        );
        let fx = idle_until(&mut w, &mut e, |e| rem(e, id).state != RemState::Approved).unwrap();
        let r = rem(&e, id);
        assert!(runs(&fx).is_empty(), "{fx:?}");
        assert_eq!(
            (r.state, r.blocks),
            (RemState::Expired, 1),
            "held once, said once"
        );
        assert!(
            r.timeline.last().unwrap().1.contains("guardrails held it"),
            "{:?}",
            r.timeline
        );
    }
}
