//! `pitcrew backtest incidents`, on the effect loop: every simulated incident scenario, run under an autonomy
//! phase with the same simulated physics, reporting detection delay, time to remediation,
//! time to recovery (MTTR), actions, wrong actions and guardrail blocks.
//!
//! The engine, the policy, the guardrails and the simulator are the console's own; only the
//! clock is driven as fast as the machine allows. In phases where proposals wait for a human, a
//! modelled operator approves each one a fixed delay after it appears (default 15 minutes).
//! Every action goes through the same path as in the console: the intent is journaled first
//! (here, in memory), then the simulated actuator carries it out and its result is fed back.

use super::{Executed, route};
use crate::domain::IncidentKind;
use crate::engine::incident::RESOLVE_AFTER;
use crate::engine::remedy::Purpose;
use crate::engine::{Command, Engine, EngineConfig, Event};
use crate::policy::RemState;
use crate::policy::autonomy::{ActionClass, Phase};
use crate::sim::{
    LABEL_DELAY, POD_STARTUP, RESTART_TIME, RETRAIN_TIME, ROLLOUT_TIME, SIM_STEP, SimWorld,
    scenario,
};
use crate::sources::sim::step_events;
use serde::Serialize;

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
    /// The patch scenarios: per patch.
    pub patches: Vec<super::PatchReport>,
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

/// Run one scenario.
pub(crate) fn run_scenario(cfg: &BacktestConfig, sc: &scenario::Scenario) -> Vec<IncidentReport> {
    trace_scenario(cfg, sc).1
}

/// A backtest's simulated fleet and engine (in `cfg`'s phase, with the simulated actuator)
/// after `cfg.warmup` seconds of normal operation, and what was carried out meanwhile.
pub(super) fn warmed_up(cfg: &BacktestConfig) -> (SimWorld, Engine, Vec<Executed>) {
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
    for _ in 0..(cfg.warmup / SIM_STEP).round() as usize {
        for ev in step_events(&mut world) {
            let fx = engine.apply(ev);
            route(&mut engine, &mut world, fx, &mut log);
        }
    }
    (world, engine, log)
}

/// Who the modelled operator's decisions are journaled as.
pub(super) const OPERATOR: &str = "operator (modelled)";

/// The modelled operator: every proposal waiting for a human for `delay` seconds is approved.
pub(super) fn operator_answers(
    engine: &mut Engine,
    world: &mut SimWorld,
    log: &mut Vec<Executed>,
    delay: f64,
) {
    let t = world.time();
    let due: Vec<u64> = engine
        .remediations()
        .filter(|r| r.state == RemState::Proposed && t - r.proposed >= delay)
        .map(|r| r.id)
        .collect();
    for id in due {
        let fx = engine.apply(Event::Command {
            t,
            user: OPERATOR.into(),
            command: Command::Approve { id },
            id: None,
        });
        route(engine, world, fx, log);
    }
}

/// Run one scenario; also returns the engine at the end (its log and remediations).
pub(crate) fn trace_scenario(
    cfg: &BacktestConfig,
    sc: &scenario::Scenario,
) -> (Engine, Vec<IncidentReport>) {
    let (mut world, mut engine, mut log) = warmed_up(cfg);
    let steps = |secs: f64| (secs / SIM_STEP).round() as usize;
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
        operator_answers(&mut engine, &mut world, &mut log, cfg.operator_delay);
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
        patches: super::run_patches(cfg),
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
    if !r.patches.is_empty() {
        s.push_str("\npatches (the fleet's real findings, scanned after the warm-up):\n");
        s.push_str(&super::render_patches(&r.patches));
    }
    s
}
