//! The simulated fleet as a source: paces [`SimWorld`] in (accelerated) real time.
//!
//! At start it backfills history as fast as the engine takes it (so charts and detectors have
//! context at once), then produces one batch of samples per [`SIM_STEP`] of sim time, and a
//! clock event every real second so that data age is honest.

use crate::domain::Action;
use crate::domain::Playback;
use crate::engine::{Change, Event, SourceKind, SourceState, SourceStatus};
use crate::sim::{SIM_STEP, SimWorld, WorldEvent};
use futures::future::BoxFuture;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Lowest and highest time acceleration.
pub(crate) const SPEED_RANGE: (f64, f64) = (1.0, 1000.0);

/// Requests to the simulator from the engine's edge (injections) and the simulated actuator.
#[derive(Debug)]
pub enum SimControl {
    /// Inject an incident.
    Inject {
        /// Model index.
        model: usize,
        /// Kind.
        kind: crate::domain::IncidentKind,
    },
    /// Apply an action; the reply says what changed.
    Act {
        /// Model index.
        model: usize,
        /// Action.
        action: Action,
        /// Result.
        reply: oneshot::Sender<Result<String, String>>,
    },
}

/// Actions on the simulated fleet through the simulator task's control channel: what
/// [`crate::actuators::SimActuator`] is made with. Each call sends [`SimControl::Act`] and waits
/// for the task's answer.
pub(crate) fn act_through(
    tx: mpsc::Sender<SimControl>,
) -> impl Fn(u32, Action) -> BoxFuture<'static, Result<String, String>> + Send + Sync {
    move |model, action| {
        let tx = tx.clone();
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            tx.send(SimControl::Act {
                model: model as usize,
                action,
                reply,
            })
            .await
            .map_err(|_| "the simulator has stopped".to_string())?;
            rx.await
                .map_err(|_| "the simulator dropped the request".to_string())?
        })
    }
}

/// Settings of the simulated source.
#[derive(Debug, Clone)]
pub struct SimSourceConfig {
    /// Seconds of history to generate before going live.
    pub backfill: f64,
    /// Initial acceleration.
    pub speed: f64,
    /// Label for the status bar.
    pub label: String,
}

/// Convert a world event into an engine event.
pub(crate) fn world_event(t: f64, e: WorldEvent) -> Event {
    let (model, change) = match e {
        WorldEvent::Deployed {
            model,
            from,
            to,
            duration,
        } => (model, Change::Deployed { from, to, duration }),
        WorldEvent::RolloutStarted { model, from, to } => {
            (model, Change::RolloutStarted { from, to })
        }
        WorldEvent::CandidateRegistered {
            model,
            version,
            accuracy,
        } => (model, Change::CandidateRegistered { version, accuracy }),
        WorldEvent::Injected { model, incident } => (model, Change::Injected { incident }),
        WorldEvent::Restarted { model } => (model, Change::Restarted),
        WorldEvent::DeployPlanned { model, version, at } => {
            (model, Change::DeployPlanned { version, at })
        }
    };
    Event::Change {
        t,
        model: model as u32,
        change,
    }
}

/// Advance the world one step and turn it into events.
pub fn step_events(world: &mut SimWorld) -> Vec<Event> {
    let samples = world.step();
    let t = world.time();
    let mut out = Vec::with_capacity(2);
    out.push(Event::Observations {
        t,
        samples: samples
            .into_iter()
            .enumerate()
            .map(|(i, s)| (i as u32, s))
            .collect(),
    });
    for e in world.drain_events() {
        // a version that now serves is scanned again (a patched one closes what it fixed)
        let deployed = match &e {
            WorldEvent::Deployed { model, .. } if world.rescan => Some(*model),
            _ => None,
        };
        out.push(world_event(t, e));
        out.extend(deployed.and_then(|i| scan_model(world, i)));
    }
    out
}

fn status(cfg: &SimSourceConfig, state: SourceState, speed: f64) -> SourceStatus {
    SourceStatus {
        kind: SourceKind::Simulated,
        label: cfg.label.clone(),
        state,
        speed,
        step: SIM_STEP,
    }
}

/// What each simulated model runs: its key and its pinned requirements, as `pitcrew scan`
/// takes them.
pub fn targets(world: &SimWorld) -> Vec<crate::security::scan::Target> {
    world
        .models
        .iter()
        .map(|m| crate::security::scan::Target {
            model: m.meta.key(),
            requirements: m.requirements().to_string(),
        })
        .collect()
}

/// The real advisories that ship with the simulated fleet, indexed once.
fn builtin_index() -> &'static crate::security::index::Index {
    static INDEX: std::sync::OnceLock<crate::security::index::Index> = std::sync::OnceLock::new();
    INDEX.get_or_init(crate::security::builtin::index)
}

/// One simulated model's serving version scanned against the real advisories that ship with
/// the simulated fleet, with the bumps a patch at the default policy (every finding with a
/// fix) pins.
fn scan_model(world: &SimWorld, idx: usize) -> Option<Event> {
    let m = world.models.get(idx)?;
    let index = builtin_index();
    let requirements = m.requirements();
    let found = crate::security::scan::vulnerabilities(index, requirements);
    let bumps = crate::security::bump::for_findings(
        index,
        requirements,
        &found,
        crate::domain::Severity::Low,
    );
    Some(Event::Findings {
        t: world.time(),
        model: m.meta.key(),
        scanner: crate::domain::Scanner::Requirements,
        found,
        bumps,
    })
}

/// What each simulated model runs, scanned: one event per model with a finding.
pub fn findings(world: &SimWorld) -> Vec<Event> {
    (0..world.models.len())
        .filter_map(|i| scan_model(world, i))
        .filter(|e| matches!(e, Event::Findings { found, .. } if !found.is_empty()))
        .collect()
}

/// The next playback control; never, when there is no one to send one (or no longer).
async fn recv_play(play: &mut Option<mpsc::Receiver<Playback>>) -> Playback {
    loop {
        match play {
            Some(rx) => match rx.recv().await {
                Some(p) => return p,
                None => *play = None,
            },
            None => std::future::pending::<()>().await,
        }
    }
}

/// Run the source until cancelled or the engine goes away. `world` starts `cfg.backfill`
/// seconds before the live start.
pub async fn run(
    mut world: SimWorld,
    cfg: SimSourceConfig,
    tx: mpsc::Sender<Event>,
    mut ctl: mpsc::Receiver<SimControl>,
    mut play: Option<mpsc::Receiver<Playback>>,
    cancel: CancellationToken,
) {
    let mut speed = cfg.speed.clamp(SPEED_RANGE.0, SPEED_RANGE.1);
    let send = |ev: Event| {
        let tx = tx.clone();
        async move { tx.send(ev).await.is_ok() }
    };
    if !send(Event::Models {
        t: world.time(),
        models: world.metas(),
    })
    .await
    {
        return;
    }
    // backfill
    let steps = (cfg.backfill / SIM_STEP).max(0.0) as usize;
    let mut last_pct = u32::MAX;
    for i in 0..steps {
        if cancel.is_cancelled() {
            return;
        }
        let pct = (i * 100 / steps.max(1)) as u32;
        if pct != last_pct {
            last_pct = pct;
            let st = status(
                &cfg,
                SourceState::Backfilling {
                    progress: f64::from(pct) / 100.0,
                },
                speed,
            );
            if !send(Event::Source {
                t: world.time(),
                status: st,
            })
            .await
            {
                return;
            }
        }
        for ev in step_events(&mut world) {
            if !send(ev).await {
                return;
            }
        }
    }
    if !send(Event::Source {
        t: world.time(),
        status: status(&cfg, SourceState::Live, speed),
    })
    .await
    {
        return;
    }
    for ev in findings(&world) {
        if !send(ev).await {
            return;
        }
    }
    // from now on, each version that starts serving is scanned (a patched one closes what it
    // fixed)
    world.rescan = true;

    let mut paused = false;
    let mut base_sim = world.time();
    let mut base_real = Instant::now();
    loop {
        // next wake: the next step or the next whole real second, whichever is first
        let sim_target_next = world.time() + SIM_STEP;
        let real_for_step =
            Duration::from_secs_f64(((sim_target_next - base_sim) / speed).max(0.0));
        let wake = if paused {
            Instant::now() + Duration::from_secs(3600)
        } else {
            let to_step = base_real + real_for_step;
            let next_sec = Instant::now() + Duration::from_millis(1000);
            to_step.min(next_sec)
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            play = recv_play(&mut play) => {
                let mut new_status = None;
                match play {
                    Playback::Speed(s) => {
                        let s = s.clamp(SPEED_RANGE.0, SPEED_RANGE.1);
                        base_sim = sim_now(base_sim, base_real, speed, paused);
                        base_real = Instant::now();
                        speed = s;
                        new_status = Some(if paused { SourceState::Paused } else { SourceState::Live });
                    }
                    Playback::Pause(p) => {
                        if p != paused {
                            base_sim = sim_now(base_sim, base_real, speed, paused).max(world.time());
                            base_real = Instant::now();
                            paused = p;
                            new_status = Some(if paused { SourceState::Paused } else { SourceState::Live });
                        }
                    }
                    // a live world has no recorded events to step through or seek
                    Playback::Step(_) | Playback::Mark(_) | Playback::Seek(_) => {}
                }
                if let Some(state) = new_status {
                    let t = sim_now(base_sim, base_real, speed, paused).max(world.time());
                    if !send(Event::Source { t, status: status(&cfg, state, speed) }).await {
                        return;
                    }
                }
            }
            msg = ctl.recv() => {
                let Some(msg) = msg else { return };
                match msg {
                    SimControl::Inject { model, kind } => world.inject(model, kind),
                    SimControl::Act { model, action, reply } => {
                        let r = world.act(model, &action);
                        let _ = reply.send(r);
                    }
                }
                for e in world.drain_events() {
                    if !send(world_event(world.time(), e)).await {
                        return;
                    }
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if paused {
                    continue;
                }
                let target = sim_now(base_sim, base_real, speed, paused);
                let mut n = 0;
                while world.time() + SIM_STEP <= target + 1e-9 {
                    for ev in step_events(&mut world) {
                        if !send(ev).await {
                            return;
                        }
                    }
                    n += 1;
                    if n >= 400 {
                        // the engine cannot keep up: drop the backlog rather than run away
                        base_sim = world.time();
                        base_real = Instant::now();
                        break;
                    }
                }
                if !send(Event::Clock { t: target.max(world.time()) }).await {
                    return;
                }
            }
        }
    }
}

fn sim_now(base_sim: f64, base_real: Instant, speed: f64, paused: bool) -> f64 {
    if paused {
        base_sim
    } else {
        base_sim + base_real.elapsed().as_secs_f64() * speed
    }
}
