//! Wiring of the console: the source, engine and UI tasks on bounded channels, and shutdown.

use crate::actuators::chain::ServingThenRegistry;
use crate::actuators::lease::LeaseStatus;
use crate::actuators::mlflow::RegistryActuator;
use crate::actuators::{Actuator, DryRunActuator, SimActuator};
use crate::clients::mlflow::Registry;
use crate::config::Paths;
use crate::engine::{Effect, Engine, EngineConfig, Event, Snapshot};
use crate::journal::{EncodedState, Journal, JournalConfig, Record};
use crate::policy::autonomy::Phase;
use crate::policy::{OutcomeStats, playbook};
use crate::sim::{SIM_STEP, SimWorld, scenario};
use crate::sources::mlflow::CandidateWatch;
use crate::sources::sim::{self as simsrc, SimControl, SimSourceConfig};
use crate::tui::keymap::Keymap;
use crate::tui::state::{Capabilities, Ui};
use crate::tui::theme::{ColorMode, Theme};
use crate::tui::{self, Channels, terminal};
use anyhow::Context;
use std::collections::BTreeMap;
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
    /// Use the dry-run actuator (records, changes nothing).
    pub dry_run: bool,
    /// Autonomy phase.
    pub phase: Phase,
    /// Data-driven redraws per second at most.
    pub refresh_hz: f64,
    /// Fleet-wide replica budget.
    pub replica_budget: Option<u32>,
    /// The config file's contents (real systems, per-model settings).
    pub config: crate::config::Config,
    /// History mode: a past window `(from, to)` of the Prometheus data, replayed read-only.
    pub history: Option<(f64, f64)>,
    /// Console or agent (named in the Kubernetes Lease).
    pub role: crate::actuators::lease::Role,
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
    let f = crate::files::open_private(&file, false)
        .map_err(|e| format!("log file {} cannot be opened: {e}", file.display()))?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(crate::redact::OneLine(f)))
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

mod edge;
mod outcomes;
mod replay;

pub use edge::*;
pub use replay::*;

/// The runtime every mode runs on: two worker threads (the engine and the UI never wait on
/// each other), shut down with [`STOP_BLOCKING`] for blocking work.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Run the console on the simulated fleet.
pub fn run_console(opts: ConsoleOptions) -> anyhow::Result<()> {
    let paths = Paths::from_env();
    let (theme, keymap) = load_look(&paths, &opts.theme, &opts.keymap)?;
    let rt = runtime()?;
    let r = rt.block_on(console(opts, paths, theme, keymap));
    rt.shutdown_timeout(STOP_BLOCKING);
    r
}

/// How long the source and actuator tasks get to stop, together.
pub const STOP_TASKS: Duration = Duration::from_millis(2500);

/// How long the engine gets to stop and journal the end, after them.
pub const STOP_ENGINE: Duration = Duration::from_millis(1500);

/// How long blocking work (a checkpoint being encoded) gets when the runtime shuts down.
pub const STOP_BLOCKING: Duration = Duration::from_millis(500);

/// A running session: source, engine and actuator tasks, without a terminal.
pub struct Session {
    /// Snapshots published by the engine.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// What the UI focuses (the engine builds the detail of that model).
    pub focus: watch::Sender<Option<String>>,
    /// Where operator commands go.
    pub commands: mpsc::Sender<Event>,
    /// Simulator control, when the source is the simulator.
    pub sim: Option<mpsc::Sender<SimControl>>,
    /// Pause and speed of a past window, in history mode.
    pub pace: Option<mpsc::Sender<crate::sources::pace::Pace>>,
    /// Cancels every task.
    pub cancel: CancellationToken,
    /// Where the journal is written, when there is one.
    pub journal_path: Option<std::path::PathBuf>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    engine: tokio::task::JoinHandle<Engine>,
}

impl Session {
    /// Stop every task and return the engine's final state when it stopped in time. Bounded
    /// whatever upstream does: [`STOP_TASKS`] for the source and actuator tasks together, then
    /// [`STOP_ENGINE`] for the engine (which journals the end); what has not stopped by then
    /// is dropped with the runtime.
    pub async fn stop(self) -> Option<Engine> {
        self.cancel.cancel();
        let deadline = tokio::time::Instant::now() + STOP_TASKS;
        for t in self.tasks {
            let _ = tokio::time::timeout_at(deadline, t).await;
        }
        match tokio::time::timeout(STOP_ENGINE, self.engine).await {
            Ok(Ok(e)) => Some(e),
            _ => None,
        }
    }
}

/// Start the source, engine and actuator of a session (console or agent): playbooks, learnt
/// outcomes, journal, and the simulated fleet.
pub async fn start_session(opts: &ConsoleOptions, paths: &Paths) -> anyhow::Result<Session> {
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
    let (books, book_problems) = playbook::load(&paths.config_dir.join("playbooks"));
    let stats_path = paths.data_dir.join("outcomes.json");
    let (stats, stats_problem) = match outcomes::load(&stats_path) {
        Ok(s) => (s, None),
        Err(e) => (OutcomeStats::default(), Some(e)),
    };
    let real = opts.config.prometheus.clone();
    // what carries actions out: nothing at all when read-only (or in history mode); on real
    // systems only Kubernetes can (a dry run records), on the simulator the simulator
    let read_only = opts.read_only
        || opts.history.is_some()
        || (real.is_some() && opts.config.kubernetes.is_none() && !opts.dry_run);
    let actuator_name = if read_only {
        None
    } else if opts.dry_run && (real.is_none() || opts.config.kubernetes.is_none()) {
        Some("dry run".to_string())
    } else if real.is_some() {
        Some(if opts.dry_run {
            "kubernetes (server-side dry run)".to_string()
        } else {
            "kubernetes".to_string()
        })
    } else {
        Some("simulated fleet".to_string())
    };
    let mut base = EngineConfig::default();
    if let Some(p) = &real {
        // judge data age by the real source's own scrape interval and staleness bound
        base.guardrails.max_data_age_secs = p.stale_after_seconds;
        base.objectives.stale_steps = (p.stale_after_seconds / p.step_seconds).max(2.0);
    }
    let cfg = EngineConfig {
        phase: opts.phase,
        read_only,
        replica_budget: opts.replica_budget,
        playbooks: Arc::new(books),
        stats,
        actuator: actuator_name,
        ..base
    };
    let settings = crate::journal::Settings::of(&cfg);
    let digest = crate::journal::digest(&format!(
        "{:?}|{:?}|{:?}|{}",
        cfg.phase, cfg.guardrails, cfg.playbooks, cfg.approval_timeout
    ));
    let engine = Engine::new(cfg);
    // what the console has to say of itself, said by the engine task (journaled) once the source
    // has set the clock
    let mut said: Vec<String> = book_problems
        .iter()
        .map(|p| format!("playbook file skipped: {p}"))
        .collect();
    said.extend(stats_problem);
    let logging = init_logging(paths);
    if let Err(why) = &logging {
        said.push(format!("running without log file and journal: {why}"));
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
    let label = match (&real, scenario) {
        (Some(p), _) => match opts.history {
            Some(_) => format!(
                "{} (history)",
                crate::clients::prometheus::source_label(&p.url)
            ),
            None => crate::clients::prometheus::source_label(&p.url),
        },
        (None, Some(s)) => format!("sim seed {} · {}", opts.seed, s.name),
        (None, None) => format!("sim seed {}", opts.seed),
    };
    if real.is_some() && read_only && !opts.read_only && opts.history.is_none() {
        said.push(
            "no [kubernetes] section in the config: no actuator, proposals are shown as would-do"
                .into(),
        );
    }
    let journal = if logging.is_ok() {
        open_journal(
            paths,
            &label,
            digest,
            settings,
            crate::operator::operator_name(&opts.config),
            crate::config::retention_of(&opts.config),
        )
        .map_err(|why| said.push(why))
        .ok()
    } else {
        None
    };
    let journal_path = journal.as_ref().map(|j| j.path().to_path_buf());
    let cancel = CancellationToken::new();
    let (ev_tx, ev_rx) = mpsc::channel::<Event>(1024);
    let (sim_tx, sim_rx) = mpsc::channel::<SimControl>(64);
    let mut tasks = Vec::new();
    let mut lease = None;
    // the model registry: followed by rollbacks and canaries, polled for candidates (not in
    // history mode: today's registry says nothing about the past)
    let registry = match (
        &opts.config.mlflow,
        real.is_some() && opts.history.is_none(),
    ) {
        (Some(m), true) => Some(
            Registry::new(m)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("the [mlflow] section cannot be used")?,
        ),
        _ => None,
    };
    // read-only: no actuator is constructed at all
    let actuator: Option<Arc<dyn Actuator>> = if read_only {
        None
    } else if real.is_some() {
        match &opts.config.kubernetes {
            Some(k) => {
                let kube = crate::actuators::kube::KubeActuator::new(k, opts.dry_run, opts.role)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("cannot reach the Kubernetes cluster named in the config")?;
                let kube = Arc::new(kube);
                lease = Some(kube.lease_status());
                let namespaces = namespaces_of(&opts.config, k);
                let keeper = kube.clone();
                let c = cancel.clone();
                // acquires and renews; gives the Leases up when cancelled
                tasks.push(tokio::spawn(async move {
                    keeper.keep_leases(&namespaces, c).await;
                }));
                let serving: Arc<dyn Actuator> = kube;
                match registry.clone() {
                    Some(r) => Some(Arc::new(ServingThenRegistry::new(
                        serving,
                        Some(RegistryActuator::new(r)),
                    ))),
                    None => Some(serving),
                }
            }
            None => Some(Arc::new(DryRunActuator::default())),
        }
    } else if opts.dry_run {
        Some(Arc::new(DryRunActuator::default()))
    } else {
        Some(Arc::new(SimActuator::new(Box::new(simsrc::act_through(
            sim_tx.clone(),
        )))))
    };
    let (snap_tx, snap_rx) = watch::channel(Arc::new(engine.snapshot(None, 0)));
    let (focus_tx, focus_rx) = watch::channel::<Option<String>>(None);
    let is_sim = real.is_none();
    let (pace_tx, pace_rx) = match opts.history {
        Some(_) => {
            let (tx, rx) = mpsc::channel(16);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let source = match real {
        Some(p) => tokio::spawn(crate::sources::prometheus::run(
            p,
            opts.config.models.clone(),
            opts.history,
            opts.speed,
            pace_rx,
            ev_tx.clone(),
            cancel.clone(),
        )),
        None => tokio::spawn(simsrc::run(
            world,
            SimSourceConfig {
                backfill,
                speed: opts.speed,
                label,
            },
            ev_tx.clone(),
            sim_rx,
            cancel.clone(),
        )),
    };
    tasks.insert(0, source);
    let mut registry_status = None;
    if let Some(r) = registry {
        let (tx, rx) = watch::channel(Some("registry: first poll…".to_string()));
        registry_status = Some(rx);
        tasks.push(tokio::spawn(poll_registry(
            r,
            snap_rx.clone(),
            ev_tx.clone(),
            tx,
            cancel.clone(),
        )));
    }
    let engine_handle = tokio::spawn(engine_task(
        engine,
        ev_rx,
        snap_tx,
        focus_rx,
        Edge {
            sim: is_sim.then(|| sim_tx.clone()),
            actuator,
            journal,
            results: ev_tx.clone(),
            stats_path: logging.is_ok().then_some(stats_path),
            lease,
            registry: registry_status,
            said,
        },
        cancel.clone(),
        opts.refresh_hz.max(2.0),
    ));
    Ok(Session {
        snapshots: snap_rx,
        focus: focus_tx,
        commands: ev_tx,
        sim: is_sim.then_some(sim_tx),
        pace: pace_tx,
        cancel,
        journal_path,
        tasks,
        engine: engine_handle,
    })
}

/// Seconds between two reads of the model registry.
pub const REGISTRY_POLL_SECS: u64 = 60;

/// Read the registry for every model the engine knows, now and every
/// [`REGISTRY_POLL_SECS`]: champion versions and new candidates go to the engine as events;
/// how it went goes to `status` (shown in the status bar).
async fn poll_registry(
    registry: Registry,
    snaps: watch::Receiver<Arc<Snapshot>>,
    tx: mpsc::Sender<Event>,
    status: watch::Sender<Option<String>>,
    cancel: CancellationToken,
) {
    let mut watch = CandidateWatch::new();
    loop {
        let (metas, t) = {
            let snap = snaps.borrow();
            let mut rows: Vec<_> = snap.rows.iter().collect();
            rows.sort_by_key(|r| r.index);
            // the poll names models by their position: only when the rows are the whole fleet
            let whole = rows.iter().enumerate().all(|(i, r)| r.index as usize == i);
            let metas: Vec<crate::fleet::ModelMeta> = if whole {
                rows.iter().map(|r| (*r.meta).clone()).collect()
            } else {
                Vec::new()
            };
            (metas, snap.t)
        };
        if !metas.is_empty() {
            let poll = tokio::select! {
                _ = cancel.cancelled() => return,
                p = watch.poll(&registry, &metas, t) => p,
            };
            for ev in poll.events {
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
            let unregistered = poll.errors.iter().filter(|(_, e)| e.is_not_found()).count();
            let failed: Vec<_> = poll
                .errors
                .iter()
                .filter(|(_, e)| !e.is_not_found())
                .collect();
            for (key, e) in &failed {
                tracing::warn!("registry read for {key}: {e}");
            }
            let text = match failed.first() {
                Some((key, e)) if failed.len() == metas.len() => {
                    format!("registry DOWN ({key}: {e})")
                }
                Some((key, _)) => format!(
                    "registry: {} of {} models unreadable (first {key}; see the log)",
                    failed.len(),
                    metas.len()
                ),
                None if unregistered > 0 => format!(
                    "registry ok, {unregistered} of {} models not registered",
                    metas.len()
                ),
                None => "registry ok".to_string(),
            };
            let _ = status.send(Some(text));
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(if metas.is_empty() { 2 } else { REGISTRY_POLL_SECS })) => {}
        }
    }
}

/// The namespaces whose Lease this pitcrew holds: those of the configured models, and the
/// cluster's default one.
fn namespaces_of(cfg: &crate::config::Config, k: &crate::config::KubeConfig) -> Vec<String> {
    let mut ns: Vec<String> = cfg
        .models
        .keys()
        .filter_map(|key| key.split_once('/').map(|(n, _)| n.to_string()))
        .collect();
    ns.push(k.namespace.clone());
    ns.sort();
    ns.dedup();
    ns
}

/// Open the session journal in the data dir; on failure, what to tell the operator.
fn open_journal(
    paths: &Paths,
    label: &str,
    digest: String,
    settings: crate::journal::Settings,
    user: String,
    retention: crate::journal::retention::Retention,
) -> Result<Journal, String> {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let stamp = jiff::Timestamp::from_second(wall as i64)
        .map(|ts| ts.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| format!("{wall:.0}"));
    match Journal::create(
        JournalConfig {
            dir: paths.data_dir.join("journal"),
            stem: format!("session-{stamp}-{}", std::process::id()),
            max_part_bytes: 256 * 1024 * 1024,
            max_parts: 8,
            retention: Some(retention),
        },
        Record::Header {
            format: crate::journal::FORMAT,
            pitcrew: env!("CARGO_PKG_VERSION").to_string(),
            source: label.to_string(),
            config_digest: digest,
            start: wall,
            user,
            part: 0,
            settings: Some(Box::new(settings)),
        },
    ) {
        Ok(j) => {
            tracing::info!(path = %j.path().display(), "journal");
            Ok(j)
        }
        Err(e) => Err(format!(
            "no journal (actions are disabled): {} cannot be written: {e}",
            paths.data_dir.join("journal").display()
        )),
    }
}

async fn console(
    opts: ConsoleOptions,
    paths: Paths,
    theme: Theme,
    keymap: Keymap,
) -> anyhow::Result<()> {
    let session = start_session(&opts, &paths).await?;
    spawn_signal_watch(session.cancel.clone());
    let (mut term, guard) = match terminal::setup(opts.mouse, theme.mode() == ColorMode::None) {
        Ok(t) => t,
        Err(e) => {
            session.stop().await;
            return Err(e).context("cannot set up the terminal (is this a TTY?)");
        }
    };
    let mut ui = Ui::new(
        opts.ascii,
        opts.mouse,
        Capabilities {
            clock_control: session.sim.is_some() || session.pace.is_some(),
            inject: session.sim.is_some(),
            replay: false,
        },
        crate::operator::operator_name(&opts.config),
    );
    let result = tui::run(
        &mut term,
        &mut ui,
        &theme,
        &keymap,
        Channels {
            snapshots: session.snapshots.clone(),
            focus: session.focus.clone(),
            commands: session.commands.clone(),
            sim: session.sim.clone(),
            pace: session.pace.clone(),
            replay: None,
        },
        session.cancel.clone(),
        opts.refresh_hz,
    )
    .await;
    session.cancel.cancel();
    drop(guard);
    session.stop().await;
    result
}

/// Options of `pitcrew agent` beyond the session's.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Where `/metrics` and `/healthz` are served.
    pub listen: String,
}

/// Run the agent: a session without a terminal, serving `/metrics` and `/healthz`, until
/// SIGTERM, SIGINT or SIGHUP.
pub fn run_agent(opts: ConsoleOptions, agent: AgentOptions) -> anyhow::Result<()> {
    let paths = Paths::from_env();
    let listen: std::net::SocketAddr = agent.listen.parse().with_context(|| {
        format!(
            "--listen '{}' is not an address like 0.0.0.0:9184",
            agent.listen
        )
    })?;
    let rt = runtime()?;
    let r = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let bound = listener.local_addr().unwrap_or(listen);
        let session = start_session(&opts, &paths).await?;
        spawn_signal_watch(session.cancel.clone());
        // stdout is not a terminal the agent owns: say where it serves and journals, once;
        // a closed stdout (its reader gone) must not stop the agent
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "pitcrew agent: serving http://{bound}/metrics and /healthz"
            );
            let _ = match &session.journal_path {
                Some(p) => writeln!(out, "pitcrew agent: journal {}", p.display()),
                None => writeln!(
                    out,
                    "pitcrew agent: no journal (actions are disabled); see the log"
                ),
            };
            let _ = out.flush();
        }
        let served =
            crate::agent::serve(listener, session.snapshots.clone(), session.cancel.clone()).await;
        session.stop().await;
        served.with_context(|| format!("the HTTP server on {bound} failed"))
    });
    rt.shutdown_timeout(STOP_BLOCKING);
    r
}

/// Cancel on every signal whose default would end the process and that can be caught:
/// SIGTERM, SIGHUP (a dropped SSH session), SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,
/// SIGVTALRM, SIGPROF, SIGXCPU and SIGXFSZ, so that the terminal is always put back and the
/// journal closed. (SIGPIPE is ignored by the runtime; SIGTSTP and SIGCONT are job control,
/// handled by the console; SIGWINCH redraws; SIGCHLD is ignored.)
pub fn spawn_signal_watch(cancel: CancellationToken) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use nix::libc;
        use tokio::signal::unix::{SignalKind, signal};
        let mut streams = Vec::new();
        for sig in [
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
            libc::SIGVTALRM,
            libc::SIGPROF,
            libc::SIGXCPU,
            libc::SIGXFSZ,
        ] {
            match signal(SignalKind::from_raw(sig)) {
                Ok(s) => streams.push((sig, s)),
                Err(e) => tracing::warn!("cannot listen to signal {sig}: {e}"),
            }
        }
        let any = futures::future::select_all(
            streams
                .iter_mut()
                .map(|(sig, s)| Box::pin(async move { s.recv().await.map(|_| *sig) })),
        );
        tokio::select! {
            (sig, _, _) = any => {
                tracing::info!("signal {} received, shutting down", sig.unwrap_or(0));
            }
            _ = cancel.cancelled() => return,
        }
        cancel.cancel();
    });
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });
}
