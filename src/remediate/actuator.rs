//! Actuators: what carries an approved action out.
//!
//! The engine never calls one: it emits [`crate::engine::Effect::Execute`], the edge journals
//! the intent (flushed to disk) and only then calls the actuator; the result comes back to the
//! engine as an event. A read-only session constructs no actuator at all.

use super::Action;
use crate::sources::sim::SimControl;
use futures::future::BoxFuture;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// Carries out actions on one model.
pub trait Actuator: Send + Sync {
    /// Short name for the status bar and the journal.
    fn name(&self) -> &str;
    /// True when it records actions without changing anything.
    fn dry_run(&self) -> bool;
    /// Carry out `action` on model `index` (`key` = `namespace/name`). The reply says what
    /// changed, or why nothing did.
    fn execute<'a>(
        &'a self,
        index: u32,
        key: &'a str,
        action: &'a Action,
    ) -> BoxFuture<'a, Result<String, String>>;
}

/// Changes the simulated fleet (through the simulator task).
pub struct SimActuator {
    tx: mpsc::Sender<SimControl>,
}

impl SimActuator {
    /// On the simulator's control channel.
    pub fn new(tx: mpsc::Sender<SimControl>) -> Self {
        SimActuator { tx }
    }
}

impl Actuator for SimActuator {
    fn name(&self) -> &str {
        "simulated fleet"
    }

    fn dry_run(&self) -> bool {
        false
    }

    fn execute<'a>(
        &'a self,
        index: u32,
        _key: &'a str,
        action: &'a Action,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.tx
                .send(SimControl::Act {
                    model: index as usize,
                    action: action.clone(),
                    reply,
                })
                .await
                .map_err(|_| "the simulator has stopped".to_string())?;
            match tokio::time::timeout(std::time::Duration::from_secs(10), rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err("the simulator dropped the request".to_string()),
                Err(_) => Err("the simulator did not answer within 10 s".to_string()),
            }
        })
    }
}

/// Records actions and changes nothing.
#[derive(Default)]
pub struct DryRunActuator {
    recorded: Mutex<Vec<String>>,
}

impl DryRunActuator {
    /// What was recorded, oldest first.
    pub fn recorded(&self) -> Vec<String> {
        self.recorded.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Actuator for DryRunActuator {
    fn name(&self) -> &str {
        "dry run"
    }

    fn dry_run(&self) -> bool {
        true
    }

    fn execute<'a>(
        &'a self,
        _index: u32,
        key: &'a str,
        action: &'a Action,
    ) -> BoxFuture<'a, Result<String, String>> {
        let text = format!("dry run: would {} on {key}", action.describe());
        if let Ok(mut v) = self.recorded.lock() {
            v.push(text.clone());
        }
        Box::pin(async move { Ok(text) })
    }
}
