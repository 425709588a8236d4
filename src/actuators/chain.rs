//! The actuator of a real deployment: the serving platform (Kubernetes) carries the action out,
//! then the model registry (MLflow) is brought in line — a rollback moves the `champion` alias
//! back, a canary stage points `challenger` at the candidate and the promotion (share 1.0)
//! makes it the champion. Scale, restart and retrain touch the serving platform only.
//!
//! The registry is written only after the serving platform succeeded, so a failed rollout never
//! moves an alias. When the serving change succeeded but the registry could not be written (for
//! example MLflow is down), the action counts as carried out — traffic did change — and the
//! reply says loudly that the registry was not updated, so the operator can fix the alias.
//! In a dry run the registry is not written at all.

use super::mlflow::RegistryActuator;
use super::{Acted, Actuator};
use crate::domain::Action;
use std::sync::Arc;

/// The serving platform, then the registry.
pub(crate) struct ServingThenRegistry {
    serving: Arc<dyn Actuator>,
    registry: Option<RegistryActuator>,
    name: String,
}

impl ServingThenRegistry {
    /// `serving` carries actions out; `registry`, when given, follows rollbacks and canaries.
    pub fn new(serving: Arc<dyn Actuator>, registry: Option<RegistryActuator>) -> Self {
        let name = match &registry {
            Some(_) => format!("{} + mlflow", serving.name()),
            None => serving.name().to_string(),
        };
        ServingThenRegistry {
            serving,
            registry,
            name,
        }
    }
}

/// Does the registry follow this action?
pub(crate) fn registry_follows(action: &Action) -> bool {
    matches!(action, Action::Rollback | Action::Canary { .. })
}

impl Actuator for ServingThenRegistry {
    fn name(&self) -> &str {
        &self.name
    }

    fn dry_run(&self) -> bool {
        self.serving.dry_run()
    }

    fn execute<'a>(&'a self, index: u32, key: &'a str, action: &'a Action) -> Acted<'a> {
        Box::pin(async move {
            let done = self.serving.execute(index, key, action).await?;
            let Some(registry) = &self.registry else {
                return Ok(done);
            };
            if !registry_follows(action) {
                return Ok(done);
            }
            if self.serving.dry_run() {
                return Ok(format!("{done}; registry: dry run, no alias moved"));
            }
            match registry.apply(key, action).await {
                Ok(moved) => Ok(format!("{done}; registry: {moved}")),
                Err(e) => Ok(format!(
                    "{done}; WARNING: the registry was NOT updated ({e}); \
                     move the alias by hand or retry when MLflow answers"
                )),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::actuators::DryRunActuator;
    use crate::config::MlflowConfig;
    use std::sync::Mutex;

    /// Records what it is asked and answers as told.
    struct Fake {
        ok: bool,
        dry: bool,
        calls: Mutex<Vec<String>>,
    }

    impl Actuator for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        fn dry_run(&self) -> bool {
            self.dry
        }
        fn execute<'a>(&'a self, _index: u32, key: &'a str, action: &'a Action) -> Acted<'a> {
            self.calls.lock().unwrap().push(format!("{key} {action:?}"));
            let ok = self.ok;
            Box::pin(async move {
                if ok {
                    Ok("serving changed".into())
                } else {
                    Err("serving refused".into())
                }
            })
        }
    }

    fn unreachable_registry() -> RegistryActuator {
        // nothing listens on port 9 of loopback: every request fails fast
        let cfg = MlflowConfig {
            tracking_uri: "http://127.0.0.1:9".into(),
            token: None,
            model_name_template: "{name}".into(),
            champion_alias: "champion".into(),
            challenger_alias: "challenger".into(),
            timeout_seconds: 0.5,
        };
        RegistryActuator::new(crate::clients::mlflow::Registry::new(&cfg).unwrap())
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn serving_failure_never_touches_the_registry() {
        let serving = Arc::new(Fake {
            ok: false,
            dry: false,
            calls: Mutex::new(Vec::new()),
        });
        let a = ServingThenRegistry::new(serving.clone(), Some(unreachable_registry()));
        assert_eq!(a.name(), "fake + mlflow");
        let r = rt().block_on(a.execute(0, "ns/m", &Action::Rollback));
        assert_eq!(r, Err("serving refused".to_string()));
        assert_eq!(serving.calls.lock().unwrap().len(), 1);
    }

    #[test]
    fn registry_down_after_serving_changed_is_said_not_hidden() {
        let serving = Arc::new(Fake {
            ok: true,
            dry: false,
            calls: Mutex::new(Vec::new()),
        });
        let a = ServingThenRegistry::new(serving, Some(unreachable_registry()));
        let r = rt()
            .block_on(a.execute(0, "ns/m", &Action::Rollback))
            .unwrap();
        assert!(
            r.starts_with("serving changed; WARNING: the registry was NOT updated"),
            "{r}"
        );
        // scale is not a registry action: no warning, no registry call
        let r = rt()
            .block_on(a.execute(0, "ns/m", &Action::Scale { replicas: 3 }))
            .unwrap();
        assert_eq!(r, "serving changed");
    }

    #[test]
    fn dry_run_moves_no_alias() {
        let a = ServingThenRegistry::new(Arc::new(DryRunActuator), Some(unreachable_registry()));
        assert!(a.dry_run());
        let r = rt()
            .block_on(a.execute(
                0,
                "ns/m",
                &Action::Canary {
                    version: 4,
                    share: 1.0,
                },
            ))
            .unwrap();
        assert!(r.ends_with("registry: dry run, no alias moved"), "{r}");
    }
}
