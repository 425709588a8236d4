//! Actuators: what carries an approved action out — the trait, a dry run, the simulated fleet,
//! Kubernetes ([`kube`], with the executor [`lease`]), the MLflow registry ([`mlflow`]) and the
//! [`chain`] of a real deployment (serving platform, then registry).
//!
//! The engine never calls one: it emits [`crate::engine::Effect::Execute`], the edge journals
//! the intent (flushed to disk) and only then calls the actuator; the result comes back to the
//! engine as an event. A read-only session constructs no actuator at all. Actuators do not
//! import sources (nor sources actuators): what both need of a wire is in `clients`.

pub mod chain;
pub mod kube;
pub mod lease;
pub mod mlflow;

use crate::domain::Action;
use futures::future::BoxFuture;

/// Carries out actions on one model.
pub trait Actuator: Send + Sync {
    /// Short name for the status bar and the journal.
    fn name(&self) -> &str;
    /// True when it records actions without changing anything.
    fn dry_run(&self) -> bool {
        false
    }
    /// Carry out `action` on model `index` (`key` = `namespace/name`).
    fn execute<'a>(&'a self, index: u32, key: &'a str, action: &'a Action) -> Acted<'a>;
}

/// An actuator's answer, once it has acted: what changed, or why nothing did.
pub type Acted<'a> = BoxFuture<'a, Result<String, String>>;

/// How the simulated fleet is asked to carry out an action on a model (by index); the answer
/// says what changed. The composition root makes it from the simulator task's control channel
/// (`sources::sim::act_through`), so this module does not import the source.
pub(crate) type SimAct = Box<dyn Fn(u32, Action) -> Acted<'static> + Send + Sync>;

/// Longest wait for the simulator's answer.
const SIM_ANSWER: std::time::Duration = std::time::Duration::from_secs(10);

/// Changes the simulated fleet (through the simulator task).
pub(crate) struct SimActuator {
    act: SimAct,
}

impl SimActuator {
    /// Acting through `act`.
    pub fn new(act: SimAct) -> Self {
        SimActuator { act }
    }
}

impl Actuator for SimActuator {
    fn name(&self) -> &str {
        "simulated fleet"
    }
    fn execute<'a>(&'a self, index: u32, _key: &'a str, action: &'a Action) -> Acted<'a> {
        let answer = (self.act)(index, action.clone());
        Box::pin(async move {
            match tokio::time::timeout(SIM_ANSWER, answer).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "the simulator did not answer within {} s",
                    SIM_ANSWER.as_secs()
                )),
            }
        })
    }
}

/// Changes nothing: says what it would have done (the journal keeps it, like every action).
pub struct DryRunActuator;

impl Actuator for DryRunActuator {
    fn name(&self) -> &str {
        "dry run"
    }

    fn dry_run(&self) -> bool {
        true
    }

    fn execute<'a>(&'a self, _index: u32, key: &'a str, action: &'a Action) -> Acted<'a> {
        let text = format!("dry run: would {} on {key}", action.describe());
        Box::pin(async move { Ok(text) })
    }
}
