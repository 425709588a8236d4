//! Wiring of the console: the source, engine and UI tasks on bounded channels, and shutdown.

use crate::autonomy::Phase;
use crate::config::Paths;
use crate::engine::{Effect, Engine, EngineConfig, Event, Snapshot};
use crate::sim::{SIM_STEP, SimWorld, scenario};
use crate::sources::sim::{self as simsrc, SimControl, SimSourceConfig};
use crate::tui::keymap::Keymap;
use crate::tui::state::{Capabilities, Ui};
use crate::tui::theme::{ColorMode, Theme};
use crate::tui::{self, Channels, terminal};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Everything `pitcrew` (the console on the simulated fleet) is started with.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Seed of the simulated fleet.
    pub seed: u64,
    /// Number of simulated models.
    pub models: usize,
    /// Time acceleration.
    pub speed: f64,
    /// Scheduled scenario.
    pub scenario: Option<String>,
    /// Hours of history generated before going live.
    pub backfill_hours: f64,
    /// Sim time at which the console goes live (unix seconds); now when `None`.
    pub start: Option<f64>,
    /// Theme name or path.
    pub theme: String,
    /// Keymap name or path.
    pub keymap: String,
    /// No Unicode.
    pub ascii: bool,
    /// Capture the mouse.
    pub mouse: bool,
    /// Build no actuator.
    pub read_only: bool,
    /// Autonomy phase.
    pub phase: Phase,
    /// Data-driven redraws per second at most.
    pub refresh_hz: f64,
    /// Fleet-wide replica budget.
    pub replica_budget: Option<u32>,
}

/// The OS user, for the journal.
pub fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Load theme and keymap, reporting problems before the terminal is taken.
pub fn load_look(paths: &Paths, theme: &str, keymap: &str) -> anyhow::Result<(Theme, Keymap)> {
    let mode = ColorMode::detect_from_env(|k| std::env::var(k).ok());
    let theme = Theme::load(theme, &[paths.themes_dir()], mode)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot load the theme (see `pitcrew check --theme …`)")?;
    let keymap = Keymap::load(keymap, &[paths.keymaps_dir()])
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot load the keymap (see `pitcrew check --keymap …`)")?;
    Ok((theme, keymap))
}

/// Start file logging in the data dir; returns why not when it cannot.
fn init_logging(paths: &Paths) -> Result<(), String> {
    paths.ensure_data_dir()?;
    let file = paths.data_dir.join("pitcrew.log");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .map_err(|e| format!("log file {} cannot be opened: {e}", file.display()))?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(f))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PITCREW_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    Ok(())
}

/// Seconds of history to backfill for a fleet of `n` models (bounded work at start).
pub fn backfill_seconds(hours: f64, n: usize) -> f64 {
    let budget_model_steps = 1_000_000.0;
    let max_steps = budget_model_steps / n.max(1) as f64;
    (hours * 3600.0).min(max_steps * SIM_STEP).max(0.0)
}

/// Run the engine task: apply events, route effects, publish snapshots at most `hz` per second.
pub async fn engine_task(
    mut engine: Engine,
    mut rx: mpsc::Receiver<Event>,
    snap_tx: watch::Sender<Arc<Snapshot>>,
    mut focus: watch::Receiver<Option<String>>,
    sim: Option<mpsc::Sender<SimControl>>,
    cancel: CancellationToken,
    hz: f64,
) -> Engine {
    let period = Duration::from_secs_f64(1.0 / hz.clamp(0.5, 60.0));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                let mut batch = vec![ev];
                while batch.len() < 512 {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                for ev in batch {
                    for fx in engine.apply(ev) {
                        route(&fx, sim.as_ref());
                    }
                }
                dirty = true;
            }
            r = focus.changed() => {
                if r.is_err() { break; }
                dirty = true;
            }
            _ = tick.tick() => {
                if dirty {
                    let f = focus.borrow().clone();
                    let snap = engine.snapshot(f.as_deref(), 1000);
                    if snap_tx.send(Arc::new(snap)).is_err() {
                        break;
                    }
                    dirty = false;
                }
            }
        }
    }
    engine
}

fn route(fx: &Effect, sim: Option<&mpsc::Sender<SimControl>>) {
    match fx {
        Effect::Inject { model, incident } => {
            if let Some(sim) = sim {
                let _ = sim.try_send(SimControl::Inject {
                    model: *model as usize,
                    kind: *incident,
                });
            }
        }
    }
}

/// Run the console on the simulated fleet.
pub fn run_console(opts: ConsoleOptions) -> anyhow::Result<()> {
    let paths = Paths::from_env();
    let (theme, keymap) = load_look(&paths, &opts.theme, &opts.keymap)?;
    let scenario = match opts.scenario.as_deref() {
        None => None,
        Some(name) => Some(scenario::find(name).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown scenario '{name}'; `pitcrew --scenario list` lists them: {}",
                scenario::all()
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(console(opts, paths, theme, keymap, scenario))
}

async fn console(
    opts: ConsoleOptions,
    paths: Paths,
    theme: Theme,
    keymap: Keymap,
    scenario: Option<&'static scenario::Scenario>,
) -> anyhow::Result<()> {
    let mut engine = Engine::new(EngineConfig {
        phase: opts.phase,
        read_only: opts.read_only,
        replica_budget: opts.replica_budget,
        ..EngineConfig::default()
    });
    if let Err(why) = init_logging(&paths) {
        engine.add_notice(format!("running without log file and journal: {why}"));
    }
    let now = opts.start.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    });
    let live_start = (now / SIM_STEP).floor() * SIM_STEP;
    let backfill = backfill_seconds(opts.backfill_hours, opts.models);
    let mut world = SimWorld::new(opts.seed, opts.models, live_start - backfill);
    if let Some(s) = scenario {
        world.schedule(s.schedule(live_start, opts.models));
    }
    let label = match scenario {
        Some(s) => format!("sim seed {} · {}", opts.seed, s.name),
        None => format!("sim seed {}", opts.seed),
    };
    let cancel = CancellationToken::new();
    let (ev_tx, ev_rx) = mpsc::channel::<Event>(1024);
    let (sim_tx, sim_rx) = mpsc::channel::<SimControl>(64);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(engine.snapshot(None, 0)));
    let (focus_tx, focus_rx) = watch::channel::<Option<String>>(None);
    let source = tokio::spawn(simsrc::run(
        world,
        SimSourceConfig {
            backfill,
            speed: opts.speed,
            label,
        },
        ev_tx.clone(),
        sim_rx,
        cancel.clone(),
    ));
    let engine_handle = tokio::spawn(engine_task(
        engine,
        ev_rx,
        snap_tx,
        focus_rx,
        Some(sim_tx.clone()),
        cancel.clone(),
        opts.refresh_hz.max(2.0),
    ));
    spawn_signal_watch(cancel.clone());

    let (mut term, guard) = terminal::setup(opts.mouse, theme.mode() == ColorMode::None)
        .context("cannot set up the terminal (is this a TTY?)")?;
    let mut ui = Ui::new(
        opts.ascii,
        opts.mouse,
        Capabilities {
            clock_control: true,
            inject: true,
        },
        os_user(),
    );
    let result = tui::run(
        &mut term,
        &mut ui,
        &theme,
        &keymap,
        Channels {
            snapshots: snap_rx,
            focus: focus_tx,
            commands: ev_tx,
            sim: Some(sim_tx),
        },
        cancel.clone(),
        opts.refresh_hz,
    )
    .await;
    cancel.cancel();
    drop(guard);
    let _ = tokio::time::timeout(Duration::from_secs(2), source).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), engine_handle).await;
    result
}

/// Cancel on SIGTERM, SIGHUP (a dropped SSH session) and SIGINT.
pub fn spawn_signal_watch(cancel: CancellationToken) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = hup.recv() => {}
            _ = int.recv() => {}
            _ = cancel.cancelled() => return,
        }
        tracing::info!("signal received, shutting down");
        cancel.cancel();
    });
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });
}
