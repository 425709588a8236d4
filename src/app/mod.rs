//! Wiring of the console: the source, engine and UI tasks on bounded channels, and shutdown.

use crate::actuators::Actuator;
use crate::actuators::lease::LeaseStatus;
use crate::config::Paths;
use crate::engine::{Engine, Event, Snapshot, SourceState};
use crate::journal::{EncodedState, Journal};
use crate::policy::autonomy::Phase;
use crate::sim::SIM_STEP;
use crate::sources::sim::SimControl;
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
    /// Keep only the simulated models in these namespaces (an agent's shard of the fleet).
    pub namespaces: Option<Vec<String>>,
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
    /// An agent starts afresh instead of resuming from its newest journal.
    pub fresh: bool,
}

/// Load theme and keymap, reporting problems before the terminal is taken.
pub(crate) fn load_look(
    paths: &Paths,
    theme: &str,
    keymap: &str,
) -> anyhow::Result<(Theme, Keymap)> {
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
pub(crate) fn backfill_seconds(hours: f64, n: usize) -> f64 {
    let budget_model_steps = 1_000_000.0;
    let max_steps = budget_model_steps / n.max(1) as f64;
    (hours * 3600.0).min(max_steps * SIM_STEP).max(0.0)
}

mod attach;
mod edge;
mod images;
mod merge;
mod outcomes;
mod registry;
pub use registry::{Advisories, scan_vulnerabilities};
mod replay;
mod resume;
mod session;
pub mod via_kube;

pub use attach::{AttachOptions, KubeTarget, Link, run_attach};
pub use edge::*;
pub use replay::*;
pub use session::{ControlParts, Session, start_session};

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
pub(crate) const STOP_TASKS: Duration = Duration::from_millis(2500);

/// How long the engine gets to stop and journal the end, after them.
pub(crate) const STOP_ENGINE: Duration = Duration::from_millis(1500);

/// How long blocking work (a checkpoint being encoded) gets when the runtime shuts down.
pub(crate) const STOP_BLOCKING: Duration = Duration::from_millis(500);

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
            clock_control: session.playback.is_some(),
            inject: session.simulated,
            replay: false,
        },
        crate::operator::operator_name(&opts.config),
    );
    let channels = Channels {
        snapshots: session.snapshots.clone(),
        focus: session.focus.clone(),
        commands: session.commands.clone(),
        playback: session.playback.clone(),
    };
    let (cancel, hz) = (session.cancel.clone(), opts.refresh_hz);
    let result = tui::run(&mut term, &mut ui, &theme, &keymap, channels, cancel, hz).await;
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
    /// The tokens file of the control API (none: the control API is not served).
    pub tokens: Option<std::path::PathBuf>,
    /// Serve the control API over plain HTTP on an address other than loopback.
    pub allow_plain_http: bool,
    /// Serve over TLS with this certificate chain and key (PEM files).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Check callers with the Kubernetes API server (TokenReview, SubjectAccessReview)
    /// instead of a tokens file.
    pub kube_auth: bool,
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
    let tokens = match &agent.tokens {
        Some(p) => Some(crate::control::auth::Tokens::load(p).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    let tls = match &agent.tls {
        Some((cert, key)) => {
            Some(crate::agent::tls_acceptor(cert, key).map_err(|e| anyhow::anyhow!(e))?)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let controlled = tokens.is_some() || agent.kube_auth;
    if controlled && tls.is_none() && !listen.ip().is_loopback() && !agent.allow_plain_http {
        anyhow::bail!(
            "the control API would take tokens over plain HTTP on {listen}: give --tls-cert and --tls-key, or listen on loopback (and reach it through a port-forward), or say --allow-plain-http (behind a TLS-terminating proxy or a service mesh)"
        );
    }
    let rt = runtime()?;
    let r = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let bound = listener.local_addr().unwrap_or(listen);
        let mut session = start_session(&opts, &paths).await?;
        spawn_signal_watch(session.cancel.clone());
        let authority = match tokens {
            Some(t) => Some(crate::control::auth::Authority::new(t)),
            None if agent.kube_auth => {
                let context = opts.config.kubernetes.as_ref().and_then(|k| k.context.clone());
                let namespace = opts
                    .config
                    .kubernetes
                    .as_ref()
                    .map_or_else(|| "default".to_string(), |k| k.namespace.clone());
                let client = crate::actuators::kube::client_for(context.as_deref())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("--kube-auth: cannot reach the Kubernetes API server")?;
                Some(crate::control::auth::Authority::kube(
                    crate::control::kube_auth::KubeReview::new(client, &namespace),
                ))
            }
            None => None,
        };
        let control = match (authority, session.control.take()) {
            (Some(authority), Some(parts)) => Some(crate::control::server::routes(Arc::new(
                crate::control::server::Control::new(
                    authority,
                    parts.feed,
                    parts.asks,
                    parts.source,
                    parts.settings,
                ),
            ))),
            _ => None,
        };
        // stdout is not a terminal the agent owns: say where it serves and journals, once;
        // a closed stdout (its reader gone) must not stop the agent
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "pitcrew agent: serving {scheme}://{bound}/metrics and /healthz"
            );
            let _ = if control.is_some() {
                writeln!(
                    out,
                    "pitcrew agent: control API on {scheme}://{bound}/v1/stream and /v1/commands"
                )
            } else {
                writeln!(
                    out,
                    "pitcrew agent: no control API (no --tokens or --kube-auth): consoles cannot attach"
                )
            };
            let _ = match &session.journal_path {
                Some(p) => writeln!(out, "pitcrew agent: journal {}", p.display()),
                None => writeln!(
                    out,
                    "pitcrew agent: no journal (actions are disabled); see the log"
                ),
            };
            let _ = out.flush();
        }
        let served = crate::agent::serve(
            listener,
            session.snapshots.clone(),
            control,
            tls,
            session.cancel.clone(),
        )
        .await;
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
pub(crate) fn spawn_signal_watch(cancel: CancellationToken) {
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
