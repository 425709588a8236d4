//! `pitcrew agent`: the engine without a terminal, serving `/metrics` and `/healthz`.

use super::{load_config, parse_phase};
use pitcrew::app::ConsoleOptions;
use pitcrew::policy::autonomy::Phase;
use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address for `/metrics` and `/healthz` (default: the config's `[agent] listen`, else
    /// 127.0.0.1:9184: loopback only; in a cluster give `--listen 0.0.0.0:9184`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The config file (default `<config dir>/config.toml` when it exists).
    #[arg(long, value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
    /// Autonomy phase: foundation, augmentation, autonomy or evolution.
    #[arg(long, default_value = "foundation", value_parser = parse_phase)]
    pub phase: Phase,
    /// Build no actuator.
    #[arg(long)]
    pub read_only: bool,
    /// Record actions without changing anything (server-side dry run on Kubernetes).
    #[arg(long, conflicts_with = "read_only")]
    pub dry_run: bool,
    /// Number of simulated models (when no real source is configured).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub models: u32,
    /// Serve only the simulated models in these namespaces (comma-separated): agents given
    /// disjoint namespaces of one seed share the fleet between them, and `pitcrew attach`
    /// merges it back.
    #[arg(long, value_name = "NS,NS", value_delimiter = ',')]
    pub namespaces: Option<Vec<String>>,
    /// Time acceleration of the simulated fleet, 1 to 1000 (demos and tests; a real source
    /// runs at its own pace).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Scheduled incident scenario of the simulated fleet.
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// Serve the control API (`/v1/stream`, `/v1/commands`) to the holders of the tokens in
    /// this file (hashed tokens, each with a user and a role; see `pitcrew token`).
    #[arg(long, value_name = "FILE", conflicts_with = "kube_auth")]
    pub tokens: Option<std::path::PathBuf>,
    /// Serve the control API to callers the Kubernetes API server vouches for: their token
    /// checked with a TokenReview, each verb with a SubjectAccessReview on
    /// remediations.pitcrew.dev in the config's [kubernetes] namespace (see `pitcrew rbac --users`).
    #[arg(long)]
    pub kube_auth: bool,
    /// Serve the control API over plain HTTP on an address other than loopback (behind a
    /// TLS-terminating proxy or a mesh only).
    #[arg(long)]
    pub allow_plain_http: bool,
    /// Start afresh: do not resume from the newest journal of this source (by default a
    /// restarted agent resumes from it: pending proposals, decisions, the phase and the
    /// guardrails' counters survive).
    #[arg(long)]
    pub fresh: bool,
    /// Serve over TLS with this certificate chain (PEM; with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

/// Runs the command; the exit code says how it went.
pub fn run(args: Args, seed: u64) -> ExitCode {
    let Args {
        listen,
        config,
        phase,
        read_only,
        dry_run,
        models,
        namespaces,
        speed,
        scenario,
        tokens,
        kube_auth,
        allow_plain_http,
        tls_cert,
        tls_key,
        fresh,
    } = args;
    if !(1.0..=1000.0).contains(&speed) {
        eprintln!("pitcrew agent: --speed must be between 1 and 1000");
        return ExitCode::from(2);
    }
    let config = match load_config(config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let listen = listen
        .or_else(|| config.agent.as_ref().map(|a| a.listen.clone()))
        .unwrap_or_else(|| "127.0.0.1:9184".to_string());
    let opts = ConsoleOptions {
        seed,
        models: models as usize,
        namespaces,
        speed,
        scenario,
        backfill_hours: 24.0,
        replica_budget: None,
        start: None,
        theme: "default".into(),
        keymap: "default".into(),
        ascii: true,
        mouse: false,
        read_only,
        dry_run,
        phase,
        refresh_hz: 1.0,
        config,
        history: None,
        role: pitcrew::actuators::lease::Role::Agent,
        fresh,
    };
    let agent = pitcrew::app::AgentOptions {
        listen,
        tokens,
        allow_plain_http,
        tls: tls_cert.zip(tls_key),
        kube_auth,
    };
    match pitcrew::app::run_agent(opts, agent) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pitcrew agent: {e:#}");
            ExitCode::from(1)
        }
    }
}
