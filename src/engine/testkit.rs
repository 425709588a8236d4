//! Helpers of the remediation stages' unit tests (`proposals.rs`, `decisions.rs`, `remedy.rs`,
//! `verification.rs`): an engine on a small simulated fleet with one incident injected, stepped
//! to a point in a remediation's life — with the world carrying out every action (an honest
//! actuator), or with no effect carried out at all (an actuator that has not answered, or
//! that answers without acting: the test feeds the answer it wants).

#![cfg(test)]

use super::{Effect, Engine, EngineConfig, Event};
use crate::domain::IncidentKind;
use crate::harness::{self, Executed};
use crate::policy::autonomy::Phase;
use crate::policy::{RemState, Remediation};
use crate::sim::SimWorld;
use crate::sources::sim::step_events;

/// Steps at most (10 s each: about 14 simulated hours).
pub(super) const MAX_STEPS: usize = 5000;

/// Six simulated models in `phase`, with `kind` injected on model `model`.
pub(super) fn fleet(phase: Phase, kind: IncidentKind, model: usize) -> (SimWorld, Engine) {
    let cfg = EngineConfig {
        phase,
        ..EngineConfig::default()
    };
    let (mut w, e) = harness::start(7, 6, 1.7e9, cfg);
    w.inject(model, kind);
    (w, e)
}

/// Step world and engine, the world carrying out every action (intents kept in `log`), until
/// `done` holds (`false`: it never did).
pub(super) fn run_until(
    w: &mut SimWorld,
    e: &mut Engine,
    log: &mut Vec<Executed>,
    done: impl Fn(&Engine) -> bool,
) -> bool {
    for _ in 0..MAX_STEPS {
        for ev in step_events(w) {
            let Ok(()) = harness::feed(e, w, ev, log);
        }
        if done(e) {
            return true;
        }
    }
    false
}

/// Step world and engine without carrying out any effect, until `done` holds; every effect
/// the engine asked for is returned (`None`: `done` never held).
pub(super) fn idle_until(
    w: &mut SimWorld,
    e: &mut Engine,
    done: impl Fn(&Engine) -> bool,
) -> Option<Vec<Effect>> {
    let mut fx = Vec::new();
    for _ in 0..MAX_STEPS {
        for ev in step_events(w) {
            fx.extend(e.apply(ev));
        }
        if done(e) {
            return Some(fx);
        }
    }
    None
}

/// The actuator's answer to remediation `id`, now.
pub(super) fn answer(e: &mut Engine, id: u64, ok: bool, dry_run: bool) -> Vec<Effect> {
    e.apply(Event::ActionResult {
        t: e.time(),
        id,
        ok,
        dry_run,
        message: if ok {
            "done".into()
        } else {
            "forbidden".into()
        },
    })
}

/// The first remediation in `state`.
pub(super) fn first_in(e: &Engine, state: RemState) -> Option<&Remediation> {
    e.remediations().find(|r| r.state == state)
}

/// Remediation `id`.
pub(super) fn rem(e: &Engine, id: u64) -> &Remediation {
    e.remediations()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no remediation R{id}"))
}

/// The newest line of the engine's log.
pub(super) fn last_log(e: &Engine) -> String {
    e.log_since(0)
        .last()
        .map(|x| x.text.clone())
        .unwrap_or_default()
}
