//! The harness: the one effect loop ([`step`], [`carry`]). An event is recorded, applied,
//! and its effects carried out through [`Hands`]: an action's intent is recorded first, then
//! the hands act, then the result goes back to the engine (recorded first). Two kinds of hands
//! exist. The simulated world watched by a [`Witness`] ([`OnSim`]: the recorder in
//! `record.rs` journals what it is shown; the incidents backtest below, the tests, benches
//! and examples keep it in memory) runs in lock-step, as fast as the machine allows
//! ([`feed`], [`drive`], [`start`]). The console's and the agent's edge (`app/edge.rs`) runs
//! the same loop from its engine task, with the journal as the record and an asynchronous
//! actuator whose results come back later as events on the task's channel.
//!
//! It runs `pitcrew backtest incidents`: every simulated incident scenario, run under an autonomy
//! phase with the same simulated physics, reporting detection delay, time to remediation,
//! time to recovery (MTTR), actions, wrong actions and guardrail blocks.
//!
//! The engine, the policy, the guardrails and the simulator are the console's own; only the
//! clock is driven as fast as the machine allows. In phases where proposals wait for a human, a
//! modelled operator approves each one a fixed delay after it appears (default 15 minutes).
//! Every action goes through the same path as in the console: the intent is journaled first
//! (here, in memory), then the simulated actuator carries it out and its result is fed back.

use crate::domain::{Action, IncidentKind};
use crate::engine::incident::RESOLVE_AFTER;
use crate::engine::remedy::Purpose;
use crate::engine::{
    Command, Effect, Engine, EngineConfig, Event, Execution, SourceKind, SourceState, SourceStatus,
};
use crate::policy::RemState;
use crate::policy::autonomy::{ActionClass, Phase};
use crate::sim::{
    LABEL_DELAY, POD_STARTUP, RESTART_TIME, RETRAIN_TIME, ROLLOUT_TIME, SIM_STEP, SimWorld,
    scenario,
};
use crate::sources::sim::step_events;
use serde::Serialize;
use std::convert::Infallible;

/// Settings.
#[derive(Debug, Clone)]
pub struct BacktestConfig {
    /// Phase.
    pub phase: Phase,
    /// Seconds the modelled operator takes to approve a proposal.
    pub operator_delay: f64,
    /// Seed of the simulated fleet.
    pub seed: u64,
    /// Models in the fleet.
    pub models: usize,
    /// Seconds of normal operation before the scenario (detectors and forecasts warm up).
    pub warmup: f64,
    /// Seconds watched after the scenario starts.
    pub horizon: f64,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            phase: Phase::Augmentation,
            operator_delay: 900.0,
            seed: 7,
            models: 15,
            warmup: 6.0 * 3600.0,
            horizon: 8.0 * 3600.0,
        }
    }
}

/// The simulated physics, the same in every phase.
#[derive(Debug, Clone, Serialize)]
pub struct Physics {
    /// Seconds between samples.
    pub sample_step_secs: f64,
    /// Pod start-up (weights load), seconds.
    pub pod_startup_secs: f64,
    /// Rollout of a version, seconds.
    pub rollout_secs: f64,
    /// Rolling restart, seconds.
    pub restart_secs: f64,
    /// Delay of labels (accuracy), seconds.
    pub label_delay_secs: f64,
    /// Retraining job, seconds.
    pub retrain_secs: f64,
}

impl Physics {
    /// The simulator's.
    pub(crate) fn current() -> Physics {
        Physics {
            sample_step_secs: SIM_STEP,
            pod_startup_secs: POD_STARTUP,
            rollout_secs: ROLLOUT_TIME,
            restart_secs: RESTART_TIME,
            label_delay_secs: LABEL_DELAY,
            retrain_secs: RETRAIN_TIME,
        }
    }
}

/// One injected incident's figures.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentReport {
    /// Scenario.
    pub scenario: String,
    /// Incident kind.
    pub kind: String,
    /// Model.
    pub model: String,
    /// Injection to the incident opening, seconds.
    pub detection_delay_secs: Option<f64>,
    /// Injection to the first action on the model, seconds.
    pub time_to_remediation_secs: Option<f64>,
    /// Injection to the signals being back for good (the incident's resolution minus the
    /// quiet period that confirms it), seconds; `None`: not recovered within the horizon.
    pub mttr_secs: Option<f64>,
    /// The incident opening to the signals being back for good, seconds: the part of the
    /// outage that the phase can change (detection is the same in every phase).
    pub recovery_after_detection_secs: Option<f64>,
    /// Actions carried out (every model, this scenario).
    pub actions: u32,
    /// Actions on the wrong model, of the wrong class for the cause, or that failed.
    pub wrong_actions: u32,
    /// Times guardrails held an approved action back.
    pub guardrail_blocks: u32,
    /// Proposals shown as would-do (observe mode).
    pub would_do: u32,
    /// Playbooks that ran, in order.
    pub playbooks: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Phase.
    pub phase: Phase,
    /// Operator delay, seconds (phases where proposals wait for a human).
    pub operator_delay_secs: f64,
    /// Physics.
    pub physics: Physics,
    /// Seed.
    pub seed: u64,
    /// Per incident.
    pub incidents: Vec<IncidentReport>,
    /// Median MTTR over incidents, seconds (unrecovered ones count as the horizon).
    pub median_mttr_secs: f64,
    /// Median recovery after detection over incidents, seconds (unrecovered ones count as
    /// the horizon).
    pub median_recovery_after_detection_secs: f64,
    /// Incidents not recovered within the horizon.
    pub unrecovered: u32,
    /// Actions in total.
    pub actions: u32,
    /// Wrong actions in total.
    pub wrong_actions: u32,
    /// Guardrail blocks in total.
    pub guardrail_blocks: u32,
}

/// The class that fixes an injected incident.
pub(crate) fn right_classes(kind: IncidentKind) -> &'static [ActionClass] {
    match kind {
        IncidentKind::LatencySpike | IncidentKind::ErrorBurst | IncidentKind::MemoryLeak => {
            &[ActionClass::Restart]
        }
        IncidentKind::AccuracyDrift => &[ActionClass::Retrain, ActionClass::Canary],
        IncidentKind::TrafficSurge => &[ActionClass::Scale],
        IncidentKind::BadDeploy => &[ActionClass::Rollback],
    }
}

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
/// carried out in turn, depth first; an action that may not run is answered with a failed
/// result. An injection asks the simulator for the incident; an outcome goes to the hands
/// (the console's edge saves the statistics).
pub fn carry<H: Hands>(
    engine: &mut Engine,
    hands: &mut H,
    fx: Vec<Effect>,
) -> Result<(), H::Error> {
    let mut queue = fx;
    while let Some(f) = queue.pop() {
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
                    queue.extend(engine.apply(ev));
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

/// Run one scenario.
pub(crate) fn run_scenario(cfg: &BacktestConfig, sc: &scenario::Scenario) -> Vec<IncidentReport> {
    trace_scenario(cfg, sc).1
}

/// Run one scenario; also returns the engine at the end (its log and remediations).
pub(crate) fn trace_scenario(
    cfg: &BacktestConfig,
    sc: &scenario::Scenario,
) -> (Engine, Vec<IncidentReport>) {
    let t0 = 1_700_000_000.0;
    let mut world = SimWorld::new(cfg.seed, cfg.models, t0 - cfg.warmup);
    let mut engine = Engine::new(EngineConfig {
        phase: cfg.phase,
        actuator: Some("simulated fleet (backtest)".into()),
        ..EngineConfig::default()
    });
    engine.apply(Event::Models {
        t: world.time(),
        models: world.metas(),
    });
    let mut log = Vec::new();
    let steps = |secs: f64| (secs / SIM_STEP).round() as usize;
    for _ in 0..steps(cfg.warmup) {
        for ev in step_events(&mut world) {
            let fx = engine.apply(ev);
            route(&mut engine, &mut world, fx, &mut log);
        }
    }
    let live = world.time();
    let first_rem = engine.remediations().map(|r| r.id).max().unwrap_or(0);
    let first_exec = log.len();
    let schedule = sc.schedule(live, cfg.models);
    world.schedule(schedule.clone());
    for _ in 0..steps(cfg.horizon) {
        for ev in step_events(&mut world) {
            let fx = engine.apply(ev);
            route(&mut engine, &mut world, fx, &mut log);
        }
        let t = world.time();
        let due: Vec<u64> = engine
            .remediations()
            .filter(|r| r.state == RemState::Proposed && t - r.proposed >= cfg.operator_delay)
            .map(|r| r.id)
            .collect();
        for id in due {
            let fx = engine.apply(Event::Command {
                t,
                user: "operator (modelled)".into(),
                command: Command::Approve { id },
            });
            route(&mut engine, &mut world, fx, &mut log);
        }
    }
    let rems: Vec<_> = engine.remediations().filter(|r| r.id > first_rem).collect();
    let runs: Vec<&Executed> = log[first_exec..]
        .iter()
        .filter(|e| e.purpose == Purpose::Run)
        .collect();
    // each action belongs to the latest injection on its model before it; actions on models
    // with no injection belong to the injection before them in time (and are wrong)
    let owner = |e: &Executed| -> Option<usize> {
        let same = schedule
            .iter()
            .enumerate()
            .filter(|(_, s)| s.model as u32 == e.model && s.at <= e.t)
            .max_by(|a, b| a.1.at.total_cmp(&b.1.at))
            .map(|(k, _)| k);
        same.or_else(|| {
            schedule
                .iter()
                .enumerate()
                .filter(|(_, s)| s.at <= e.t)
                .max_by(|a, b| a.1.at.total_cmp(&b.1.at))
                .map(|(k, _)| k)
        })
    };
    let mut out = Vec::new();
    for (k, s) in schedule.iter().enumerate() {
        let key = world.models[s.model].meta.key();
        let inc = engine
            .incidents()
            .filter(|i| i.model == s.model as u32 && i.opened >= s.at)
            .min_by(|a, b| a.opened.total_cmp(&b.opened));
        let mut wrong = 0;
        let mut actions = 0;
        let mut blocks = 0;
        let mut would_do = 0;
        let mut playbooks = Vec::new();
        let mine_runs: Vec<&&Executed> = runs.iter().filter(|e| owner(e) == Some(k)).collect();
        for e in &mine_runs {
            actions += 1;
            let Some(r) = rems.iter().find(|r| r.id == e.id) else {
                continue;
            };
            playbooks.push(r.playbook.clone());
            let right = e.model == s.model as u32
                && right_classes(s.kind).contains(&r.class)
                && !matches!(r.state, RemState::Failed | RemState::Undone);
            if !right {
                wrong += 1;
            }
        }
        for r in rems
            .iter()
            .filter(|r| r.model == s.model as u32 && r.proposed >= s.at)
        {
            let next_same = schedule
                .iter()
                .filter(|o| o.model == s.model && o.at > s.at)
                .map(|o| o.at)
                .fold(f64::INFINITY, f64::min);
            if r.proposed < next_same {
                blocks += r.blocks;
                if r.mode == crate::policy::autonomy::Mode::Observe {
                    would_do += 1;
                }
            }
        }
        let first_action = mine_runs
            .iter()
            .filter(|e| e.model == s.model as u32)
            .map(|e| e.t)
            .next();
        out.push(IncidentReport {
            scenario: sc.name.to_string(),
            kind: s.kind.name().to_string(),
            model: key,
            detection_delay_secs: inc.map(|i| i.opened - s.at),
            time_to_remediation_secs: first_action.map(|t| t - s.at),
            mttr_secs: inc
                .and_then(|i| i.resolved)
                .map(|r| (r - RESOLVE_AFTER - s.at).max(0.0)),
            recovery_after_detection_secs: inc.and_then(|i| {
                i.resolved
                    .map(|r| (r - RESOLVE_AFTER - i.opened.max(s.at)).max(0.0))
            }),
            actions,
            wrong_actions: wrong,
            guardrail_blocks: blocks,
            would_do,
            playbooks,
        });
    }
    (engine, out)
}

/// Run every scenario.
pub fn run(cfg: &BacktestConfig) -> Report {
    let mut incidents = Vec::new();
    for sc in scenario::all() {
        incidents.extend(run_scenario(cfg, sc));
    }
    let median_of = |f: &dyn Fn(&IncidentReport) -> Option<f64>| {
        let mut v: Vec<f64> = incidents
            .iter()
            .map(|i| f(i).unwrap_or(cfg.horizon))
            .collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        }
    };
    let median = median_of(&|i| i.mttr_secs);
    let median_after = median_of(&|i| i.recovery_after_detection_secs);
    Report {
        phase: cfg.phase,
        operator_delay_secs: cfg.operator_delay,
        physics: Physics::current(),
        seed: cfg.seed,
        median_mttr_secs: median,
        median_recovery_after_detection_secs: median_after,
        unrecovered: incidents.iter().filter(|i| i.mttr_secs.is_none()).count() as u32,
        actions: incidents.iter().map(|i| i.actions).sum(),
        wrong_actions: incidents.iter().map(|i| i.wrong_actions).sum(),
        guardrail_blocks: incidents.iter().map(|i| i.guardrail_blocks).sum(),
        incidents,
    }
}

fn mins(v: Option<f64>) -> String {
    match v {
        Some(s) => format!("{:.1}", s / 60.0),
        None => "—".to_string(),
    }
}

/// The report as text.
pub fn render(r: &Report) -> String {
    let p = &r.physics;
    let mut s = format!(
        "phase {} · operator answers after {:.0} min · seed {}\nphysics: sample every {:.0} s, pod start-up {:.0} s, rollout {:.0} s, restart {:.0} s, label delay {:.0} s, retraining {:.0} s\n\n",
        r.phase,
        r.operator_delay_secs / 60.0,
        r.seed,
        p.sample_step_secs,
        p.pod_startup_secs,
        p.rollout_secs,
        p.restart_secs,
        p.label_delay_secs,
        p.retrain_secs
    );
    s.push_str(&format!(
        "{:<15} {:<15} {:<26} {:>7} {:>7} {:>7} {:>7} {:>4} {:>5} {:>6}  playbooks\n",
        "scenario",
        "incident",
        "model",
        "detect",
        "remedy",
        "MTTR",
        "recover",
        "acts",
        "wrong",
        "blocks"
    ));
    for i in &r.incidents {
        s.push_str(&format!(
            "{:<15} {:<15} {:<26} {:>7} {:>7} {:>7} {:>7} {:>4} {:>5} {:>6}  {}\n",
            i.scenario,
            i.kind,
            i.model,
            mins(i.detection_delay_secs),
            mins(i.time_to_remediation_secs),
            mins(i.mttr_secs),
            mins(i.recovery_after_detection_secs),
            i.actions,
            i.wrong_actions,
            i.guardrail_blocks,
            if i.playbooks.is_empty() {
                if i.would_do > 0 {
                    format!("({} would-do)", i.would_do)
                } else {
                    "—".to_string()
                }
            } else {
                i.playbooks.join(", ")
            }
        ));
    }
    s.push_str(&format!(
        "\n(minutes from the injection: detect, remedy, MTTR; recover = from detection to recovery; — = not recovered within the horizon)\nmedian MTTR {:.1} min · median recovery after detection {:.1} min · unrecovered {} · actions {} · wrong actions {} · guardrail blocks {}\n",
        r.median_mttr_secs / 60.0,
        r.median_recovery_after_detection_secs / 60.0,
        r.unrecovered,
        r.actions,
        r.wrong_actions,
        r.guardrail_blocks
    ));
    s
}
