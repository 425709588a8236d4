//! `pitcrew`: the command line — what each command accepts, and which runs. Each command
//! lives in its own file under `cmd/`.

mod cmd;

use clap::{Parser, Subcommand};
use pitcrew::policy::autonomy::Phase;
use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: it gives memory freed by a checkpoint's
/// encoding back to the system instead of keeping it resident in per-thread arenas.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A full-screen terminal console for running machine-learning models in production.
///
/// With no arguments it runs on a built-in simulated fleet.
#[derive(Parser, Debug)]
#[command(name = "pitcrew", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,

    /// Seed of the simulated fleet (the same seed gives the same fleet).
    #[arg(long, default_value_t = 42, global = true)]
    seed: u64,
    /// Number of simulated models.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    models: u32,
    /// Time acceleration of the simulation, 1 to 1000.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Scheduled incident scenario; `list` shows them.
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// Hours of simulated history loaded at start (up to a week; large fleets load less).
    #[arg(long, default_value_t = 50.0, value_name = "HOURS")]
    backfill: f64,
    /// Sim time at which the console goes live (RFC 3339 or unix seconds); now by default.
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    #[command(flatten)]
    look: cmd::Look,
    /// Capture the mouse (wheel scrolls).
    #[arg(long)]
    mouse: bool,
    /// Build no actuator: nothing can change the fleet.
    #[arg(long)]
    read_only: bool,
    /// Use the dry-run actuator: approved actions are journaled and recorded, nothing changes.
    #[arg(long, conflicts_with = "read_only")]
    dry_run: bool,
    /// Autonomy phase: foundation, augmentation, autonomy or evolution.
    #[arg(long, default_value = "foundation", value_parser = cmd::parse_phase)]
    phase: Phase,
    /// Fleet-wide replica budget: when the plans want more, capacity goes by priority.
    #[arg(long, value_name = "REPLICAS")]
    replica_budget: Option<u32>,
    /// The config file (Prometheus, MLflow, Kubernetes, per-model settings); default
    /// `<config dir>/config.toml` when it exists.
    #[arg(long, value_name = "PATH")]
    config: Option<std::path::PathBuf>,
    /// History mode: run the console read-only over past Prometheus data from this time
    /// (RFC 3339 or unix seconds); needs `[prometheus]` in the config.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End of the history window (default: now).
    #[arg(long, value_name = "TIME", requires = "from")]
    to: Option<String>,
    /// Data-driven redraws per second at most (keys always redraw at once).
    #[arg(long, default_value_t = 2.0)]
    refresh: f64,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Score CSV files (`timestamp,value`) for anomalies; writes `DIR/<file name>` with
    /// `timestamp,value,anomaly_score` (NAB's format). Exit code 2 on malformed input.
    Detect(cmd::detect::Args),
    /// Forecast CSV series (a timestamp first column and a value column); writes
    /// `timestamp,mean,lo80,hi80` for H steps at the series' own interval.
    Forecast(cmd::forecast::Args),
    /// Check pitcrew's methods against labelled data before trusting them.
    Backtest {
        #[command(subcommand)]
        what: cmd::backtest::What,
    },
    /// Replay a recorded session read-only in the console; or check that a re-run reproduces it
    /// (`--verify`), or print its incident report (`--summary`).
    Replay(cmd::replay::Args),
    /// The engine without a terminal, for running in the cluster: serves `/metrics` and
    /// `/healthz`, journals like the console. On the simulated fleet unless the config names
    /// real systems.
    Agent(cmd::agent::Args),
    /// Print the least-privilege Kubernetes Role (and RoleBinding) that pitcrew's actions,
    /// Leases and retraining Jobs need in a namespace, as YAML for `kubectl apply -f -`.
    Rbac(cmd::rbac::Args),
    /// The full console on an agent that executes: its fleet, every screen; your commands go
    /// to the agent, which applies them once, in your name, if your role allows.
    Attach(cmd::attach::Args),
    /// Make a bearer token for the agent's control API: written to a private file; prints the
    /// tokens-file entry (its SHA-256, user and role), never the token.
    Token(cmd::token::Args),
    /// The known advisories (OSV records) that affect models' Python requirements; exit
    /// code 1 at or above `--fail-on`, for CI pipelines.
    Scan(cmd::scan::Args),
    /// Validate theme, keymap and config files; report every problem with file:line:column.
    Check(cmd::check::Args),
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    match cli.command.take() {
        Some(Cmd::Detect(args)) => cmd::detect::run(args),
        Some(Cmd::Forecast(args)) => cmd::forecast::run(args),
        Some(Cmd::Backtest { what }) => cmd::backtest::run(what),
        Some(Cmd::Replay(args)) => cmd::replay::run(args),
        Some(Cmd::Agent(args)) => cmd::agent::run(args, cli.seed),
        Some(Cmd::Rbac(args)) => cmd::rbac::run(args),
        Some(Cmd::Attach(args)) => cmd::attach::run(args),
        Some(Cmd::Token(args)) => cmd::token::run(args),
        Some(Cmd::Scan(args)) => cmd::scan::run(args, cli.seed),
        Some(Cmd::Check(args)) => cmd::check::run(args),
        None => cmd::console::run(cli),
    }
}
