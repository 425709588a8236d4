//! The MLflow registry as a source: polling for candidates and registry changes, turned into
//! engine events. The client and the registry rules are in [`crate::clients::mlflow`].

use crate::clients::mlflow::*;
use crate::engine::{Change, Event};
use crate::fleet::ModelMeta;
use std::collections::HashSet;

/// What one [`CandidateWatch::poll`] found.
#[derive(Debug, Default)]
pub struct RegistryPoll {
    /// Events to send to the engine, in order: one `Event::Models` with the models whose
    /// champion differs from their `version` (if any), then `Change::CandidateRegistered`
    /// for each candidate not reported before.
    pub events: Vec<Event>,
    /// Per model (`namespace/name`) that could not be read, why (a model that is not
    /// registered gives an error with [`MlflowError::is_not_found`]).
    pub errors: Vec<(String, MlflowError)>,
}

/// Turns the registry's state into engine events, reporting each candidate once.
#[derive(Debug, Default, Clone)]
pub struct CandidateWatch {
    seen: HashSet<(String, u64)>,
}

impl CandidateWatch {
    /// Nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a candidate of a model (`namespace/name`) has been reported.
    pub fn has_seen(&self, key: &str, version: u64) -> bool {
        self.seen.contains(&(key.to_string(), version))
    }

    /// Read the registry for every model (index = position in `models`, the engine's order) and
    /// return the events for what is new at time `t`. A candidate is reported once its run has
    /// logged an accuracy (until then it is looked at again on the next poll).
    pub async fn poll(
        &mut self,
        registry: &Registry,
        models: &[ModelMeta],
        t: f64,
    ) -> RegistryPoll {
        let mut updated = Vec::new();
        let mut changes = Vec::new();
        let mut errors = Vec::new();
        for (i, meta) in models.iter().enumerate() {
            let Ok(index) = u32::try_from(i) else { break };
            let key = meta.key();
            let name = registry.registered_name(&meta.namespace, &meta.name);
            let state = match registry.state(&name).await {
                Ok(s) => s,
                Err(e) => {
                    errors.push((key, e));
                    continue;
                }
            };
            let (meta_update, new) = self.diff(&key, meta, &state);
            if let Some(m) = meta_update {
                updated.push(m);
            }
            for (version, accuracy) in new {
                changes.push(Event::Change {
                    t,
                    model: index,
                    change: Change::CandidateRegistered {
                        version: engine_version(version),
                        accuracy,
                    },
                });
            }
        }
        let mut events = Vec::new();
        if !updated.is_empty() {
            events.push(Event::Models { t, models: updated });
        }
        events.extend(changes);
        RegistryPoll { events, errors }
    }

    /// Pure part of [`Self::poll`]: the model's meta with the champion's version when it
    /// differs, and the candidates (version, accuracy) to report now (marked seen).
    pub(crate) fn diff(
        &mut self,
        key: &str,
        meta: &ModelMeta,
        state: &RegistryState,
    ) -> (Option<ModelMeta>, Vec<(u64, f64)>) {
        let update = state.champion.map(engine_version).and_then(|v| {
            (v != meta.version).then(|| ModelMeta {
                version: v,
                ..meta.clone()
            })
        });
        let mut new = Vec::new();
        for c in &state.candidates {
            let Some(acc) = c.metrics.accuracy else {
                continue;
            };
            if self.seen.insert((key.to_string(), c.version)) {
                new.push((c.version, acc));
            }
        }
        (update, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(version: &str) -> ModelMeta {
        ModelMeta {
            name: "fraud".into(),
            namespace: "risk".into(),
            version: version.into(),
            priority: 3,
            size_gb: 0.0,
            complexity: 0.0,
            min_replicas: 0,
            max_replicas: 0,
        }
    }

    #[test]
    fn watch_reports_each_candidate_once_and_the_champion_version() {
        let mut w = CandidateWatch::new();
        let mut state = RegistryState {
            model: "fraud".into(),
            champion: Some(3),
            champion_metrics: RunMetrics::default(),
            challenger: None,
            previous_champion: None,
            rollback_to: None,
            candidates: vec![
                Candidate {
                    version: 5,
                    run_id: "r5".into(),
                    metrics: RunMetrics::default(), // no accuracy yet
                    challenger: false,
                    better: false,
                },
                Candidate {
                    version: 4,
                    run_id: "r4".into(),
                    metrics: RunMetrics {
                        accuracy: Some(0.93),
                        ..Default::default()
                    },
                    challenger: false,
                    better: true,
                },
            ],
        };
        let (upd, new) = w.diff("risk/fraud", &meta("v2"), &state);
        assert_eq!(upd.map(|m| m.version), Some("v3".to_string()));
        assert_eq!(new, vec![(4, 0.93)]);
        assert!(w.has_seen("risk/fraud", 4));
        assert!(!w.has_seen("risk/fraud", 5));
        // same state again: nothing new; the meta already says v3
        let (upd, new) = w.diff("risk/fraud", &meta("v3"), &state);
        assert!(upd.is_none());
        assert!(new.is_empty());
        // version 5's run logs its accuracy: reported now
        state.candidates[0].metrics.accuracy = Some(0.95);
        let (_, new) = w.diff("risk/fraud", &meta("v3"), &state);
        assert_eq!(new, vec![(5, 0.95)]);
        // the same version of another model is its own candidate
        let (_, new) = w.diff("risk/other", &meta("v3"), &state);
        assert_eq!(new.len(), 2);
    }
}
