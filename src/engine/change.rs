//! Changes reported by the serving platform and the registry (deploys, versions, replicas),
//! noted on the model and its open incidents.

use super::*;

impl Engine {
    pub(super) fn change(&mut self, t: f64, model: u32, change: Change) {
        let Some(m) = self.models.get_mut(model as usize) else {
            return;
        };
        let key = m.meta.key();
        let (kind, text) = match change {
            Change::RolloutStarted { from, to } => {
                // a rollout pitcrew started itself (rollback, canary) is not evidence of a
                // bad deploy
                let ours = self.remediations.iter().find(|r| {
                    r.model == model
                        && matches!(
                            r.state,
                            crate::policy::RemState::Executing | crate::policy::RemState::Verifying
                        )
                        && matches!(
                            r.class,
                            crate::policy::autonomy::ActionClass::Rollback
                                | crate::policy::autonomy::ActionClass::Canary
                        )
                });
                let text = match ours {
                    Some(r) => format!("rollout {from} → {to} started by pitcrew (R{})", r.id),
                    None => format!("rollout {from} → {to} started"),
                };
                m.changes.push_back(ChangeNote {
                    t,
                    deploy: ours.is_none(),
                    finished: None,
                    text: text.clone(),
                });
                (LogKind::Change, text)
            }
            Change::Deployed { from, to, duration } => {
                Arc::make_mut(&mut m.meta).version = to.clone();
                if let Some(v) = remedy::version_number(&to) {
                    m.candidates.retain(|c| c.0 > v);
                }
                if let Some(c) = m
                    .changes
                    .iter_mut()
                    .rev()
                    .find(|c| c.deploy && c.finished.is_none())
                {
                    c.finished = Some(t);
                }
                let rec = deploy_record(m, &self.cfg.objectives, t - duration, duration);
                if m.pending_deploy.as_ref().is_some_and(|(v, _)| *v == to) {
                    m.pending_deploy = None;
                }
                self.deploys.push_back(rec);
                while self.deploys.len() > DEPLOYS_KEPT {
                    self.deploys.pop_front();
                }
                if self.deploys.len() >= 12 {
                    let rows: Vec<DeployRecord> = self.deploys.iter().copied().collect();
                    self.deploy_model = DurationModel::train(&rows).ok();
                }
                (
                    LogKind::Change,
                    format!("now serving {to} (was {from}; rollout took {duration:.0} s)"),
                )
            }
            Change::DeployPlanned { version, at } => {
                m.pending_deploy = Some((version.clone(), at));
                (
                    LogKind::Change,
                    format!("deploy of {version} planned at {}", hhmm(at)),
                )
            }
            Change::Restarted => {
                m.changes.push_back(ChangeNote {
                    t,
                    deploy: false,
                    finished: None,
                    text: "pods restarted".into(),
                });
                (LogKind::Change, "pods restarted".to_string())
            }
            Change::CandidateRegistered { version, accuracy } => {
                if let Some(v) = remedy::version_number(&version) {
                    m.candidates.push((v, accuracy, t));
                    if m.candidates.len() > 8 {
                        m.candidates.remove(0);
                    }
                }
                (
                    LogKind::Change,
                    format!("candidate {version} registered (offline accuracy {accuracy:.3})"),
                )
            }
            Change::Injected { incident } => (
                LogKind::Injection,
                format!("simulation: {incident} — {}", incident.description()),
            ),
        };
        while m.changes.len() > CHANGES_KEPT {
            m.changes.pop_front();
        }
        let sev = if kind == LogKind::Injection {
            Status::Warn
        } else {
            Status::Ok
        };
        self.push_log(t, kind, Some(key), sev, text);
    }
}
