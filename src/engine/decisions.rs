//! The operator's decisions on remediations: approve (or accept an inconclusive outcome), veto
//! with a reason (or reject an outcome) and what comes after it, and how an action class is
//! handled in a phase. Each is audited and logged; none acts on anything but the id named.

use super::{Effect, Engine, LogKind, Status};
use crate::policy::autonomy::{ActionClass, Mode, Phase};
use crate::policy::guardrails;
use crate::policy::{DecisionRecord, RemState, reason_problem};

impl Engine {
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
                    r.action.describe(),
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
