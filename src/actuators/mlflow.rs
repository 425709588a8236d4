//! The registry side of actions: rollback, canary and promotion by moving aliases of the MLflow
//! registry ([`crate::clients::mlflow::Registry`]).

use super::{Acted, Actuator};
use crate::clients::mlflow::{MlflowError, Registry};
use crate::domain::Action;

/// Carries out the registry side of actions by moving aliases: `Rollback` →
/// [`Registry::rollback`]; `Canary { version, share: 1.0 }` → [`Registry::promote`]; a canary
/// stage below 1.0 points the challenger alias at the version; `share: 0` (traffic off) changes
/// nothing in the registry. Traffic itself is the serving platform's (Kubernetes) job; scale,
/// restart and retrain are not registry actions and are refused.
#[derive(Debug, Clone)]
pub struct RegistryActuator {
    registry: Registry,
}

impl RegistryActuator {
    /// On a registry.
    pub fn new(registry: Registry) -> Self {
        RegistryActuator { registry }
    }

    /// Carry out `action` on the served model `key` (`namespace/name`).
    pub async fn apply(&self, key: &str, action: &Action) -> Result<String, MlflowError> {
        let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
        let model = self.registry.registered_name(namespace, name);
        match action {
            Action::Rollback => Ok(self.registry.rollback(&model).await?.to_string()),
            Action::Canary { version, share } if *share >= 1.0 => Ok(self
                .registry
                .promote(&model, u64::from(*version))
                .await?
                .to_string()),
            Action::Canary { version, share } if *share > 0.0 => {
                self.registry
                    .set_challenger(&model, u64::from(*version))
                    .await?;
                Ok(format!(
                    "{model} alias '{}' set to version {version}",
                    self.registry.challenger_alias()
                ))
            }
            Action::Canary { .. } => Ok(format!("{model}: registry unchanged (traffic off)")),
            other => Err(MlflowError::Config(format!(
                "{other:?} is not a registry action; the MLflow actuator only moves aliases (rollback, canary, promote)"
            ))),
        }
    }
}

impl Actuator for RegistryActuator {
    fn name(&self) -> &str {
        "mlflow registry"
    }
    fn execute<'a>(&'a self, _index: u32, key: &'a str, action: &'a Action) -> Acted<'a> {
        Box::pin(async move { self.apply(key, action).await.map_err(|e| e.to_string()) })
    }
}
