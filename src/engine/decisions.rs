//! The operator's decisions on remediations: approve (or accept an inconclusive outcome), veto
//! with a reason (or reject an outcome) and what comes after it, and how an action class is
//! handled in a phase. Each is audited and logged; none acts on anything but the id named.

use super::{Effect, Engine, LogKind, Status};
use crate::policy::autonomy::{ActionClass, Mode, Phase};
use crate::policy::{DecisionRecord, RemState, reason_problem};

/// What an operator decides on one remediation.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    /// Approve a proposal, or accept an inconclusive outcome.
    Approve,
    /// Veto a proposal (with its reason), or reject an inconclusive outcome.
    Veto(String),
}

impl Engine {
    /// An operator's decision on remediation `id`: one path for approve and veto. What the
    /// verdict does depends on the state: a proposal is approved (then runs when the guardrails
    /// pass) or vetoed; an inconclusive outcome is accepted as a success or rejected as a
    /// failure; in any other state nothing changes and the log says why. A veto's reason must
    /// stand ([`reason_problem`]) before anything else is looked at.
    pub(super) fn decide(&mut self, t: f64, user: &str, id: u64, verdict: Verdict) -> Vec<Effect> {
        let mut fx = Vec::new();
        let verb = match verdict {
            Verdict::Approve => "approved",
            Verdict::Veto(_) => "vetoed",
        };
        let Some(k) = self.remediations.iter().position(|r| r.id == id) else {
            self.push_log(
                t,
                LogKind::Decision,
                None,
                Status::Warn,
                format!("{user} {verb} R{id}, which does not exist"),
            );
            return fx;
        };
        if let Verdict::Veto(reason) = &verdict
            && let Some(why) = reason_problem(reason)
        {
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
        let r = &self.remediations[k];
        let subject = format!("R{id} {}", r.title());
        // (recorded as, audited as, new state, why, status, the outcome it settles)
        let (what, audited, to, why, status, outcome) = match (&verdict, r.state) {
            (Verdict::Approve, RemState::Proposed) => (
                "approve",
                "approve",
                RemState::Approved,
                format!("approved by {user}"),
                Status::Ok,
                None,
            ),
            (Verdict::Approve, RemState::Inconclusive) => (
                "accept",
                "accept outcome",
                RemState::Succeeded,
                format!("{user} judged the outcome a success"),
                Status::Ok,
                Some(true),
            ),
            (
                Verdict::Veto(reason),
                RemState::Proposed | RemState::Approved | RemState::WouldDo,
            ) => (
                "veto",
                "veto",
                RemState::Vetoed,
                format!("vetoed by {user}: {reason}"),
                Status::Ok,
                None,
            ),
            (Verdict::Veto(reason), RemState::Inconclusive) => (
                "reject",
                "reject outcome",
                RemState::Failed,
                format!("{user} judged the outcome a failure: {reason}"),
                Status::Warn,
                Some(false),
            ),
            (_, s) => {
                let late = match verdict {
                    Verdict::Approve => "nothing to approve",
                    Verdict::Veto(_) => "too late to veto",
                };
                // the one who came late is told who decided, and how
                let before = match r.decisions.last() {
                    Some(d) => format!(" ({} by {})", past(&d.what), d.who),
                    None => String::new(),
                };
                let text = format!(
                    "{user} {verb} R{id}, but it is {}{before} — {late}",
                    s.word()
                );
                let key = r.key.clone();
                self.push_log(t, LogKind::Decision, Some(key), Status::Warn, text);
                return fx;
            }
        };
        let reason = match verdict {
            Verdict::Approve => None,
            Verdict::Veto(reason) => Some(reason),
        };
        let r = &mut self.remediations[k];
        r.decisions.push(DecisionRecord {
            who: user.to_string(),
            t,
            what: what.into(),
            reason: reason.clone(),
        });
        if to == RemState::Approved {
            r.expires = t + self.cfg.approval_timeout;
        }
        self.audit(t, user, audited, subject, reason);
        self.set_state(k, t, to, why, status);
        if to == RemState::Approved {
            self.refresh_checks(k, t);
            self.try_execute(k, t, &mut fx);
        }
        if let Some(ok) = outcome {
            self.outcome(k, ok, &mut fx);
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

/// A recorded decision's verb in the past tense ("approve" → "approved").
fn past(what: &str) -> String {
    match what {
        "approve" => "approved".into(),
        "veto" => "vetoed".into(),
        w if w.ends_with('e') => format!("{w}d"),
        w => format!("{w}ed"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::IncidentKind;
    use crate::engine::EngineConfig;
    use crate::engine::testkit::{last_log, rem};
    use crate::harness::{drive, start};

    /// An engine in Augmentation with one proposal waiting for a human (a memory leak).
    fn with_a_proposal() -> (Engine, u64) {
        let cfg = EngineConfig {
            phase: Phase::Augmentation,
            ..Default::default()
        };
        let (mut w, mut e) = start(7, 6, 1.7e9, cfg);
        w.inject(0, IncidentKind::MemoryLeak);
        for _ in 0..5000 {
            drive(&mut w, &mut e, 1);
            if let Some(r) = e.remediations().find(|r| r.state == RemState::Proposed) {
                return (e.clone(), r.id);
            }
        }
        panic!("the leak was never proposed for");
    }

    #[test]
    fn a_veto_needs_a_reason_and_is_recorded_with_it() {
        let (mut e, id) = with_a_proposal();
        let t = e.time();
        e.decide(t, "ana", id, Verdict::Veto("no".into()));
        assert_eq!(rem(&e, id).state, RemState::Proposed);
        assert!(last_log(&e).contains("ana's veto of R"), "{}", last_log(&e));
        let fx = e.decide(
            t,
            "ana",
            id,
            Verdict::Veto("leak is a known batch job".into()),
        );
        assert!(fx.is_empty());
        assert_eq!(rem(&e, id).state, RemState::Vetoed);
        let r = e.remediations().find(|r| r.id == id).unwrap();
        let d = r.decisions.last().unwrap();
        assert_eq!((d.who.as_str(), d.what.as_str()), ("ana", "veto"));
        assert_eq!(d.reason.as_deref(), Some("leak is a known batch job"));
        // a second decision on a vetoed remediation changes nothing and says why
        e.decide(t, "bo", id, Verdict::Approve);
        assert_eq!(rem(&e, id).state, RemState::Vetoed);
        assert!(
            last_log(&e).contains("bo approved R")
                && last_log(&e).contains("(vetoed by ana)")
                && last_log(&e).contains("nothing to approve"),
            "{}",
            last_log(&e)
        );
    }

    #[test]
    fn an_approval_runs_the_action_and_a_late_veto_changes_nothing() {
        let (mut e, id) = with_a_proposal();
        let t = e.time();
        let fx = e.decide(t, "ana", id, Verdict::Approve);
        assert!(
            fx.iter()
                .any(|f| matches!(f, Effect::Execute(x) if x.id == id && x.who == "ana")),
            "{fx:?}"
        );
        assert_eq!(rem(&e, id).state, RemState::Executing);
        let r = e.remediations().find(|r| r.id == id).unwrap();
        assert_eq!(r.decisions.last().unwrap().what, "approve");
        let fx = e.decide(
            t,
            "bo",
            id,
            Verdict::Veto("changed my mind about it".into()),
        );
        assert!(fx.is_empty());
        assert_eq!(rem(&e, id).state, RemState::Executing);
        assert!(
            last_log(&e).contains("too late to veto"),
            "{}",
            last_log(&e)
        );
    }

    #[test]
    fn a_decision_on_an_unknown_id_is_logged_and_acts_on_nothing() {
        let (mut e, id) = with_a_proposal();
        let t = e.time();
        for v in [
            Verdict::Approve,
            Verdict::Veto("not a real remediation".into()),
        ] {
            assert!(e.decide(t, "ana", id + 100, v).is_empty());
            assert!(
                last_log(&e).contains("which does not exist"),
                "{}",
                last_log(&e)
            );
        }
        assert_eq!(rem(&e, id).state, RemState::Proposed);
    }
}
