//! A session without a terminal: the source, engine and actuator tasks of the console or the
//! agent, started from the options (playbooks, learnt outcomes, journal, the Lease of each
//! namespace, the registry poll) and stopped within a bound.

use super::registry::poll_registry;
use super::{
    ConsoleOptions, Edge, PollLink, RegistryLink, STOP_ENGINE, STOP_TASKS, backfill_seconds,
    engine_task, init_logging, outcomes,
};
use crate::actuators::chain::ServingThenRegistry;
use crate::actuators::mlflow::RegistryActuator;
use crate::actuators::{Actuator, DryRunActuator, SimActuator};
use crate::clients::mlflow::Registry;
use crate::config::Paths;
use crate::domain::Playback;
use crate::engine::{Engine, EngineConfig, Event, Snapshot};
use crate::journal::{Journal, JournalConfig, Record};
use crate::policy::OutcomeStats;
use crate::sim::{SIM_STEP, SimWorld, scenario};
use crate::sources::sim::{self as simsrc, SimControl, SimSourceConfig};
use anyhow::Context;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Seconds an OSV API request may take.
const OSV_API_TIMEOUT: f64 = 30.0;

/// A running session: source, engine and actuator tasks, without a terminal.
pub struct Session {
    /// Snapshots published by the engine.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// What the UI focuses (the engine builds the detail of that model).
    pub focus: watch::Sender<Option<String>>,
    /// Where operator commands go.
    pub commands: mpsc::Sender<Event>,
    /// The source is the simulator (incidents can be injected).
    pub simulated: bool,
    /// Pause and speed of the source's clock: the simulator's, or a past window's in history
    /// mode (none for a live Prometheus).
    pub playback: Option<mpsc::Sender<Playback>>,
    /// Cancels every task.
    pub cancel: CancellationToken,
    /// Where the journal is written, when there is one.
    pub journal_path: Option<std::path::PathBuf>,
    /// What the control API serves from, in an agent.
    pub control: Option<ControlParts>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    engine: tokio::task::JoinHandle<Engine>,
}

/// The session's side of the control API (an agent's): the feed of its engine's events, where
/// commands go, and what a console must know to re-run the engine.
pub struct ControlParts {
    /// The stream's source.
    pub feed: Arc<crate::control::feed::Feed>,
    /// Commands for the engine task.
    pub asks: mpsc::Sender<crate::control::server::Ask>,
    /// The engine's settings.
    pub settings: crate::journal::Settings,
    /// The data source, in a few words.
    pub source: String,
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
    let (books, book_problems) =
        crate::config::playbooks::load(&paths.config_dir.join("playbooks"));
    let stats_path = paths.data_dir.join("outcomes.json");
    let (stats, stats_problem) = match outcomes::load(&stats_path) {
        Ok(s) => (s, None),
        Err(e) => (OutcomeStats::default(), Some(e)),
    };
    let real = opts.config.prometheus.clone();
    if real.is_some() && opts.namespaces.is_some() {
        anyhow::bail!(
            "--namespaces shards the simulated fleet; a real fleet's shard is the models of its config file"
        );
    }
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
    if let Some(g) = &opts.config.guardrails {
        base.guardrails = g.clone();
    }
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
        deadlines: opts.config.deadlines(),
        ..base
    };
    let settings = crate::journal::Settings::of(&cfg);
    let agent_settings = settings.clone();
    let digest = crate::journal::digest(&format!(
        "{:?}|{:?}|{:?}|{}",
        cfg.phase, cfg.guardrails, cfg.playbooks, cfg.approval_timeout
    ));
    let fresh_cfg = cfg.clone();
    let mut engine = Engine::new(cfg);
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
    let shard = match &opts.namespaces {
        Some(ns) => format!(" {}", ns.join(",")),
        None => String::new(),
    };
    let label = match (&real, scenario) {
        (Some(p), _) => match opts.history {
            Some(_) => format!(
                "{} (history)",
                crate::clients::prometheus::source_label(&p.url)
            ),
            None => crate::clients::prometheus::source_label(&p.url),
        },
        (None, Some(s)) => format!("sim seed {}{shard} · {}", opts.seed, s.name),
        (None, None) => format!("sim seed {}{shard}", opts.seed),
    };
    if real.is_some() && read_only && !opts.read_only && opts.history.is_none() {
        said.push(
            "no [kubernetes] section in the config: no actuator, proposals are shown as would-do"
                .into(),
        );
    }
    // an agent (the executor) resumes from its journal: what the team decided stands
    let mut resumed = None;
    if opts.role == crate::actuators::lease::Role::Agent && !opts.fresh && logging.is_ok() {
        let dir = paths.data_dir.join("journal");
        if let Some(path) = super::resume::newest_journal(&dir, &label) {
            match super::resume::resume(&path, fresh_cfg) {
                Ok(r) if r.engine.metas().is_empty() => {}
                Ok(r) => resumed = Some((path, r)),
                Err(e) => said.push(format!(
                    "not resumed from {}: {e}; started afresh",
                    path.display()
                )),
            }
        }
    }
    let now = opts.start.unwrap_or_else(crate::clock::unix_now);
    let mut live_start = (now / SIM_STEP).floor() * SIM_STEP;
    // a simulated world's clock (which ran at its speed) goes on from the resumed engine's: an
    // older one would send samples the engine has passed
    if let Some((_, r)) = &resumed
        && real.is_none()
    {
        live_start = live_start.max((r.engine.time() / SIM_STEP).ceil() * SIM_STEP);
    }
    let backfill = backfill_seconds(opts.backfill_hours, opts.models);
    let mut world = SimWorld::shard(
        opts.seed,
        opts.models,
        live_start - backfill,
        opts.namespaces.as_deref(),
    );
    if world.models.is_empty() {
        anyhow::bail!(
            "no simulated model is in the namespaces {}: the fleet's are {}",
            opts.namespaces.as_deref().unwrap_or_default().join(", "),
            crate::sim::namespaces().join(", ")
        );
    }
    if let Some(s) = scenario {
        world.schedule(s.schedule(live_start, world.models.len()));
    }
    let mut interrupted = Vec::new();
    let mut resumed_from = None;
    let mut known = Vec::new();
    if let Some((path, r)) = resumed {
        let keys = |m: &[crate::fleet::ModelMeta]| m.iter().map(|m| m.key()).collect::<Vec<_>>();
        // the source announces its models by index: the simulated fleet's must be the
        // journal's, a real source is told them in that order
        if real.is_none() && keys(&r.engine.metas()) != keys(&world.metas()) {
            said.push(format!(
                "not resumed from {}: its fleet is not this one (other models or namespaces); started afresh",
                path.display()
            ));
        } else {
            known = r.engine.metas();
            engine = r.engine;
            interrupted = r.interrupted;
            said.extend(r.said);
            resumed_from = path.file_name().map(|n| n.to_string_lossy().into_owned());
        }
    }
    let label_for_control = label.clone();
    let journal = if logging.is_ok() {
        open_journal(
            paths,
            &label,
            digest,
            settings,
            crate::operator::operator_name(&opts.config),
            crate::journal::retention::Retention::of(&opts.config),
            resumed_from.clone(),
        )
        .map_err(|why| said.push(why))
        .ok()
    } else {
        None
    };
    let journal = match (journal, &resumed_from) {
        (Some(mut j), Some(_)) => match j.begin_from(&engine) {
            Ok(()) => Some(j),
            Err(e) => {
                // a resumed session journaled without its starting state would not re-run
                said.push(format!(
                    "no journal (actions are disabled): its first checkpoint failed: {e}"
                ));
                None
            }
        },
        (j, _) => j,
    };
    let journal_path = journal.as_ref().map(|j| j.path().to_path_buf());
    let cancel = CancellationToken::new();
    let (ev_tx, ev_rx) = mpsc::channel::<Event>(1024);
    // the results of actions the agent stopped during come first, journaled like any event
    for ev in interrupted {
        let _ = ev_tx.try_send(ev);
    }
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
                let namespaces = opts.config.namespaces(k);
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
            None => Some(Arc::new(DryRunActuator)),
        }
    } else if opts.dry_run {
        Some(Arc::new(DryRunActuator))
    } else {
        Some(Arc::new(SimActuator::new(Box::new(simsrc::act_through(
            sim_tx.clone(),
        )))))
    };
    let (snap_tx, snap_rx) = watch::channel(Arc::new(engine.snapshot(None, 0)));
    let (focus_tx, focus_rx) = watch::channel::<Option<String>>(None);
    let is_sim = real.is_none();
    let (play_tx, play_rx) = if is_sim || opts.history.is_some() {
        let (tx, rx) = mpsc::channel(16);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let source = match real {
        Some(p) => tokio::spawn(crate::sources::prometheus::run(
            known,
            p,
            opts.config.models.clone(),
            opts.history,
            opts.speed,
            play_rx,
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
            play_rx,
            cancel.clone(),
        )),
    };
    tasks.insert(0, source);
    // what the models run is matched against these: a directory read once at the start, or
    // an OSV API asked at each scan
    let security = opts.config.security.clone().unwrap_or_default();
    let advisories = match (&registry, &security.advisories, &security.osv_api) {
        (Some(_), Some(dir), _) => {
            let (records, unread) = crate::security::osv::load_dir(dir)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("[security] advisories cannot be read")?;
            if let Some(u) = unread.first() {
                tracing::warn!(
                    "{} advisory files not read (the first: {}: {})",
                    unread.len(),
                    u.path.display(),
                    u.reason
                );
            }
            Some(super::registry::Advisories::Index(Arc::new(
                crate::security::index::Index::build(&records, "PyPI"),
            )))
        }
        (Some(_), None, Some(url)) => Some(super::registry::Advisories::Api(Arc::new(
            crate::clients::osv::OsvClient::new(url, OSV_API_TIMEOUT)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("[security] osv_api cannot be used")?,
        ))),
        _ => None,
    }
    .map(|a| (a, security.patch_at));
    let mut registry_link = None;
    if let Some(r) = registry {
        let (status_tx, status) = watch::channel(Some("registry: first poll…".to_string()));
        let (poll, asks) = PollLink::new(std::time::Duration::from_secs(
            super::registry::REGISTRY_POLL_SECS,
        ));
        let busy = poll.busy.clone();
        registry_link = Some(RegistryLink { poll, status });
        tasks.push(tokio::spawn(poll_registry(
            r,
            asks,
            busy,
            advisories,
            ev_tx.clone(),
            status_tx,
            cancel.clone(),
        )));
    }
    // the serving images' findings, when the cluster is known (a read: read-only too; not in
    // history mode)
    let mut images_link = None;
    if let (Some(k), true) = (&opts.config.kubernetes, !is_sim && opts.history.is_none()) {
        match crate::clients::kube::client(k.context.as_deref()).await {
            Ok(client) => {
                let (poll, asks) = PollLink::new(std::time::Duration::from_secs_f64(
                    super::registry::VULN_SCAN_SECS,
                ));
                tasks.push(tokio::spawn(super::images::poll_images(
                    client,
                    k.clone(),
                    security.patch_at,
                    asks,
                    poll.busy.clone(),
                    ev_tx.clone(),
                    cancel.clone(),
                )));
                images_link = Some(poll);
            }
            Err(e) => said.push(format!("the serving images are not scanned: {e}")),
        }
    }
    // an agent serves the control API: its engine's events feed the attached consoles, and
    // their commands come back to the engine task
    let (control, link) = if opts.role == crate::actuators::lease::Role::Agent {
        let feed = Arc::new(crate::control::feed::Feed::default());
        let (asks_tx, asks) = mpsc::channel(64);
        (
            Some(ControlParts {
                feed: feed.clone(),
                asks: asks_tx,
                settings: agent_settings,
                source: label_for_control,
            }),
            Some(super::ControlLink { feed, asks }),
        )
    } else {
        (None, None)
    };
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
            registry: registry_link,
            images: images_link,
            said,
            control: link,
        },
        cancel.clone(),
        opts.refresh_hz.max(2.0),
    ));
    Ok(Session {
        snapshots: snap_rx,
        focus: focus_tx,
        commands: ev_tx,
        simulated: is_sim,
        playback: play_tx,
        cancel,
        journal_path,
        control,
        tasks,
        engine: engine_handle,
    })
}

/// Open the session journal in the data dir; on failure, what to tell the operator.
fn open_journal(
    paths: &Paths,
    label: &str,
    digest: String,
    settings: crate::journal::Settings,
    user: String,
    retention: crate::journal::retention::Retention,
    resumed: Option<String>,
) -> Result<Journal, String> {
    let wall = crate::clock::unix_now();
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
            resumed,
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
