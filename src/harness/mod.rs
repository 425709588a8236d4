//! The harness: the one effect loop ([`step`], [`carry`]). An event is recorded, applied,
//! and its effects carried out through [`Hands`]: an action's intent is recorded first, then
//! the hands act, then the result goes back to the engine (recorded first). Two kinds of hands
//! exist. The simulated world watched by a [`Witness`] ([`OnSim`]: the recorder in
//! `record.rs` journals what it is shown; the incidents backtest, the tests, benches
//! and examples keep it in memory) runs in lock-step, as fast as the machine allows
//! ([`feed`], [`drive`], [`start`]). The console's and the agent's edge (`app/edge.rs`) runs
//! the same loop from its engine task, with the journal as the record and an asynchronous
//! actuator whose results come back later as events on the task's channel.
//!
//! `pitcrew backtest incidents` runs on it ([`incidents`], and its patch scenarios,
//! [`patches`]).

use crate::domain::{Action, IncidentKind};
use crate::engine::remedy::Purpose;
use crate::engine::{
    Effect, Engine, EngineConfig, Event, Execution, SourceKind, SourceState, SourceStatus,
};
use crate::sim::{SIM_STEP, SimWorld};
use crate::sources::sim::step_events;
use std::convert::Infallible;

pub mod incidents;
pub use incidents::*;
pub mod patches;
pub use patches::{PatchReport, render_patches, run_patches};

/// An intent journaled (in memory) before the actuator runs, and what the actuator did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    /// Engine time.
    pub t: f64,
    /// Remediation id.
    pub id: u64,
    /// Model index.
    pub model: u32,
    /// Why.
    pub purpose: Purpose,
}

/// Who watches the effect loop on the simulated world: the recorder journals what it is
/// shown, the backtests and the tests keep the intents in memory. An error stops the loop
/// where it is: an intent that could not be recorded is not carried out.
pub trait Witness {
    /// What recording can fail with.
    type Error;
    /// An event, before the engine applies it.
    fn event(&mut self, _ev: &Event) -> Result<(), Self::Error> {
        Ok(())
    }
    /// The engine, just after it applied an event (its new log lines are there to record).
    fn applied(&mut self, _engine: &Engine) -> Result<(), Self::Error> {
        Ok(())
    }
    /// An action, before the actuator carries it out.
    fn intent(&mut self, x: &Execution) -> Result<(), Self::Error>;
}

/// The backtests' and the tests' witness: every intent, in memory.
impl Witness for Vec<Executed> {
    type Error = Infallible;
    fn intent(&mut self, x: &Execution) -> Result<(), Infallible> {
        self.push(Executed {
            t: x.t,
            id: x.id,
            model: x.model,
            purpose: x.purpose,
        });
        Ok(())
    }
}

/// A witness that keeps nothing (tests and benches that only drive the world).
impl Witness for () {
    type Error = Infallible;
    fn intent(&mut self, _: &Execution) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Whether an action may run once its intent has been offered to the record.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The intent is recorded: carry the action out.
    Go,
    /// The action must not run (nothing here can act, or its intent could not be recorded);
    /// the engine is answered with a failed result carrying this reason.
    Refuse(String),
}

/// What the effect loop carries effects out through and records them in: the simulated world
/// with a [`Witness`] ([`OnSim`]: the recorder, the backtests, the tests), or the console's
/// and the agent's edge (`app/edge.rs`: the journal, an asynchronous actuator, the
/// simulator's controls, the outcome statistics file).
pub trait Hands {
    /// What recording can fail with; an error stops the loop where it is.
    type Error;
    /// An event, before the engine applies it.
    fn event(&mut self, ev: &Event) -> Result<(), Self::Error>;
    /// The engine, just after it applied an event (its new log lines are there to record).
    fn applied(&mut self, engine: &Engine) -> Result<(), Self::Error>;
    /// An action's intent, recorded before anything acts.
    fn intent(&mut self, x: &Execution) -> Result<Verdict, Self::Error>;
    /// Carry out an action whose intent is recorded: its result now (the simulator), or
    /// `None` when it comes back later as an event (an asynchronous actuator).
    fn act(&mut self, x: Execution) -> Option<Event>;
    /// Inject an incident (the simulator only; elsewhere nothing).
    fn inject(&mut self, model: u32, incident: IncidentKind);
    /// A remediation's outcome changed the engine's statistics (the edge that owns the data
    /// directory saves them).
    fn outcome(&mut self, _engine: &Engine) {}
    /// What the hands have to tell the operator about themselves (a journal that failed, a
    /// file not saved), taken once: each becomes an [`Event::Notice`] through the same loop.
    fn said(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// The simulated world acting, watched by a witness.
pub struct OnSim<'a, W> {
    /// The world.
    pub world: &'a mut SimWorld,
    /// Its witness.
    pub witness: &'a mut W,
}

impl<W: Witness> Hands for OnSim<'_, W> {
    type Error = W::Error;
    fn event(&mut self, ev: &Event) -> Result<(), W::Error> {
        self.witness.event(ev)
    }
    fn applied(&mut self, engine: &Engine) -> Result<(), W::Error> {
        self.witness.applied(engine)
    }
    fn intent(&mut self, x: &Execution) -> Result<Verdict, W::Error> {
        self.witness.intent(x).map(|()| Verdict::Go)
    }
    fn act(&mut self, x: Execution) -> Option<Event> {
        Some(carry_out(self.world, x.id, x.model, &x.action))
    }
    fn inject(&mut self, model: u32, incident: IncidentKind) {
        self.world.inject(model as usize, incident);
    }
}

/// The one effect loop: `ev` is recorded, applied, and its effects carried out ([`carry`]);
/// then whatever the hands have to say is told the same way.
pub fn step<H: Hands>(engine: &mut Engine, hands: &mut H, ev: Event) -> Result<(), H::Error> {
    let mut pending = vec![ev];
    while let Some(ev) = pending.pop() {
        apply(engine, hands, ev)?;
        let t = engine.time();
        pending.extend(
            hands
                .said()
                .into_iter()
                .rev()
                .map(|text| Event::Notice { t, text }),
        );
    }
    Ok(())
}

/// One event recorded, applied, and its effects carried out.
fn apply<H: Hands>(engine: &mut Engine, hands: &mut H, ev: Event) -> Result<(), H::Error> {
    hands.event(&ev)?;
    let fx = engine.apply(ev);
    hands.applied(engine)?;
    carry(engine, hands, fx)
}

/// Carries out effects: for an action, its intent is recorded first, then the hands act, then
/// a result known now goes back to the engine (recorded first) and the effects of that are
/// carried out in turn, depth first. Effects are carried out in the order the engine gave
/// them (the order `replay --verify` re-runs their intents in); an action that may not run is answered with a failed
/// result. An injection asks the simulator for the incident; an outcome goes to the hands
/// (the console's edge saves the statistics).
pub fn carry<H: Hands>(
    engine: &mut Engine,
    hands: &mut H,
    fx: Vec<Effect>,
) -> Result<(), H::Error> {
    // a stack, the next effect on top: in order, and depth first
    let mut stack: Vec<Effect> = fx.into_iter().rev().collect();
    while let Some(f) = stack.pop() {
        match f {
            Effect::Execute(x) => {
                let result = match hands.intent(&x)? {
                    Verdict::Go => hands.act(x),
                    Verdict::Refuse(message) => Some(Event::ActionResult {
                        t: x.t,
                        id: x.id,
                        ok: false,
                        dry_run: false,
                        message,
                    }),
                };
                if let Some(ev) = result {
                    hands.event(&ev)?;
                    stack.extend(engine.apply(ev).into_iter().rev());
                    hands.applied(engine)?;
                }
            }
            Effect::Inject { model, incident } => hands.inject(model, incident),
            Effect::Outcome { .. } => hands.outcome(engine),
        }
    }
    Ok(())
}

/// [`step`] on the simulated world watched by `witness`.
pub fn feed<W: Witness>(
    engine: &mut Engine,
    world: &mut SimWorld,
    ev: Event,
    witness: &mut W,
) -> Result<(), W::Error> {
    step(engine, &mut OnSim { world, witness }, ev)
}

/// [`carry`] on the simulated world with the intents kept in `log`.
pub fn route(engine: &mut Engine, world: &mut SimWorld, fx: Vec<Effect>, log: &mut Vec<Executed>) {
    let Ok(()) = carry(
        engine,
        &mut OnSim {
            world,
            witness: log,
        },
        fx,
    );
}

/// Drive a world and an engine in lock-step for `steps` steps (tests, benches): the events
/// the live source would send, without pacing, and their effects carried out on the world.
pub fn drive(world: &mut SimWorld, engine: &mut Engine, steps: usize) {
    for _ in 0..steps {
        for ev in step_events(world) {
            let Ok(()) = feed(engine, world, ev, &mut ());
        }
    }
}

/// A world and an engine that knows its models, both at the world's start.
pub fn start(seed: u64, models: usize, t0: f64, engine_cfg: EngineConfig) -> (SimWorld, Engine) {
    let world = SimWorld::new(seed, models, t0);
    let mut engine = Engine::new(engine_cfg);
    engine.apply(Event::Models {
        t: world.time(),
        models: world.metas(),
    });
    engine.apply(Event::Source {
        t: world.time(),
        status: SourceStatus {
            kind: SourceKind::Simulated,
            label: format!("sim seed {seed}"),
            state: SourceState::Live,
            speed: 1.0,
            step: SIM_STEP,
        },
    });
    (world, engine)
}

/// Carries `action` out on model `model` of the simulated world and returns the outcome as the
/// engine's event: the one place the backtests and the recorder act on the simulator.
pub(crate) fn carry_out(world: &mut SimWorld, id: u64, model: u32, action: &Action) -> Event {
    let (ok, message) = match world.act(model as usize, action) {
        Ok(m) => (true, m),
        Err(e) => (false, e),
    };
    Event::ActionResult {
        t: world.time(),
        id,
        ok,
        dry_run: false,
        message,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn effects_are_carried_out_in_the_engines_order() {
        let (mut world, mut engine) = start(3, 4, 1.7e9, EngineConfig::default());
        let x = |id: u64, model: u32| {
            Effect::Execute(Execution {
                t: world.time(),
                id,
                model,
                key: format!("ns/m{model}"),
                action: Action::Restart,
                purpose: Purpose::Run,
                who: "t".into(),
            })
        };
        let fx = vec![x(4, 0), x(5, 1), x(6, 2)];
        let mut log = Vec::new();
        route(&mut engine, &mut world, fx, &mut log);
        let ids: Vec<u64> = log.iter().map(|e| e.id).collect();
        assert_eq!(ids, [4, 5, 6], "intents in the order the engine asked");
    }
}
