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
    /// Scheduled incident scenario of the simulated fleet.
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
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
        scenario,
    } = args;
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
        speed: 1.0,
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
    };
    match pitcrew::app::run_agent(opts, pitcrew::app::AgentOptions { listen }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pitcrew agent: {e:#}");
            ExitCode::from(1)
        }
    }
}
