//! `pitcrew`: the command line.

use clap::{Parser, Subcommand};
use pitcrew::app::{ConsoleOptions, run_console};
use pitcrew::autonomy::Phase;
use pitcrew::sim::scenario;
use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: it gives memory freed by a checkpoint's
/// encoding back to the system instead of keeping it resident in per-thread arenas.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A full-screen terminal console for running machine-learning models in production.
///
/// With no arguments it runs on a built-in simulated fleet.
/// How the console looks and reads keys: the same flags for the live console and a replay.
#[derive(clap::Args, Debug)]
struct Look {
    /// Theme: a built-in name (default, light, high-contrast, ansi16, monochrome) or a path.
    #[arg(long, default_value = "default")]
    theme: String,
    /// Keymap: a built-in name (default, vim, emacs) or a path.
    #[arg(long, default_value = "default")]
    keymap: String,
    /// Draw with ASCII only (no Unicode symbols, blocks or braille).
    #[arg(long)]
    ascii: bool,
}

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
    look: Look,
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
    #[arg(long, default_value = "foundation", value_parser = parse_phase)]
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
    Detect {
        /// Input files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Forecast CSV series (a timestamp first column and a value column); writes
    /// `timestamp,mean,lo80,hi80` for H steps at the series' own interval.
    Forecast {
        /// Input files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Steps ahead.
        #[arg(long)]
        horizon: usize,
        /// Value column (default `value`).
        #[arg(long)]
        column: Option<String>,
        /// Use only the first N rows.
        #[arg(long)]
        origin: Option<usize>,
        /// Output file (one input) or directory (several).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Check pitcrew's methods against labelled data before trusting them.
    Backtest {
        #[command(subcommand)]
        what: BacktestCmd,
    },
    /// Replay a recorded session read-only in the console; or check that a re-run reproduces it
    /// (`--verify`), or print its incident report (`--summary`).
    Replay {
        /// The journal (`<data dir>/journal/session-*.jsonl`, or a fixture).
        file: std::path::PathBuf,
        /// Re-run the engine on the recording and list every divergence (exit 1 when any).
        #[arg(long, conflicts_with = "summary")]
        verify: bool,
        /// Print the incident report: timeline, detection delay, decisions and who made them, MTTR.
        #[arg(long)]
        summary: bool,
        /// Report format for `--summary` and `--verify`: md or json.
        #[arg(long, default_value = "md", value_parser = ["md", "json"])]
        format: String,
        /// Playback speed, 1 to 1000 (the console).
        #[arg(long, default_value_t = 10.0)]
        speed: f64,
        #[command(flatten)]
        look: Look,
    },
    /// The engine without a terminal, for running in the cluster: serves `/metrics` and
    /// `/healthz`, journals like the console. On the simulated fleet unless the config names
    /// real systems.
    Agent {
        /// Address for `/metrics` and `/healthz` (default: the config's `[agent] listen`, else
        /// 127.0.0.1:9184: loopback only; in a cluster give `--listen 0.0.0.0:9184`).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// The config file (default `<config dir>/config.toml` when it exists).
        #[arg(long, value_name = "PATH")]
        config: Option<std::path::PathBuf>,
        /// Autonomy phase: foundation, augmentation, autonomy or evolution.
        #[arg(long, default_value = "foundation", value_parser = parse_phase)]
        phase: Phase,
        /// Build no actuator.
        #[arg(long)]
        read_only: bool,
        /// Record actions without changing anything (server-side dry run on Kubernetes).
        #[arg(long, conflicts_with = "read_only")]
        dry_run: bool,
        /// Number of simulated models (when no real source is configured).
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        models: u32,
        /// Scheduled incident scenario of the simulated fleet.
        #[arg(long, value_name = "NAME")]
        scenario: Option<String>,
    },
    /// Print the least-privilege Kubernetes Role (and RoleBinding) that pitcrew's actions,
    /// Leases and retraining Jobs need in a namespace, as YAML for `kubectl apply -f -`.
    Rbac {
        /// Namespace of the Role (default: the config's `[kubernetes] namespace`, else
        /// `default`).
        #[arg(long)]
        namespace: Option<String>,
        /// The config file.
        #[arg(long, value_name = "PATH")]
        config: Option<std::path::PathBuf>,
    },
    /// Validate theme, keymap and config files; report every problem with file:line:column.
    Check {
        /// Theme to validate (built-in name or path); with no option, everything is checked.
        #[arg(long)]
        theme: Option<String>,
        /// Keymap to validate (built-in name or path).
        #[arg(long)]
        keymap: Option<String>,
        /// Config file to validate.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// Also try every endpoint the config names (read-only requests) and report what
        /// answered.
        #[arg(long, requires = "config")]
        probe: bool,
        /// With --probe: ask each signal over the window history mode would read, from this
        /// time (RFC 3339 or unix seconds).
        #[arg(long, value_name = "TIME", requires = "probe")]
        from: Option<String>,
        /// With --from: end of the window (default: now).
        #[arg(long, value_name = "TIME", requires = "from")]
        to: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum BacktestCmd {
    /// Run every simulated incident scenario under an autonomy phase (all four when none is
    /// given) and report detection delay, time to remediation, MTTR, actions, wrong actions
    /// and guardrail blocks.
    Incidents {
        /// Phase: foundation, augmentation, autonomy or evolution (default: all four).
        #[arg(long, value_parser = parse_phase)]
        phase: Option<Phase>,
        /// Minutes the modelled operator takes to answer a proposal.
        #[arg(long, default_value_t = 15.0, value_name = "MINUTES")]
        operator_delay: f64,
        /// Seed of the simulated fleet.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Score the detectors on labelled data with NAB's scoring (windows, scaled sigmoid,
    /// probationary period, threshold optimisation, normalisation).
    Detect {
        /// Data directory holding `<category>/<file>.csv` (or `data/<category>/…`).
        #[arg(long)]
        data: std::path::PathBuf,
        /// Labelled windows (NAB `combined_windows.json` format).
        #[arg(long)]
        labels: std::path::PathBuf,
        /// Cost profiles (NAB `profiles.json`); NAB's three standard profiles when omitted.
        #[arg(long)]
        profiles: Option<std::path::PathBuf>,
        /// Only this profile: standard, reward_low_FP_rate or reward_low_FN_rate.
        #[arg(long)]
        profile: Option<String>,
        /// Also write the score files here (`<category>/<file>.csv`).
        #[arg(long, value_name = "DIR", conflicts_with = "cv")]
        scores_out: Option<std::path::PathBuf>,
        /// Cross-validate: `category` leaves each category out in turn, its alarm threshold
        /// chosen on the others, and prints per fold, pooled, and the in-sample figure beside.
        #[arg(long, value_parser = ["category"])]
        cv: Option<String>,
    },
    /// Replay demand (requests per second) against static provisioning, the Kubernetes HPA and
    /// pitcrew's predictive planner, stepped every 15 s; prints JSON per policy.
    Scaling {
        /// Demand CSV (timestamp first column).
        file: std::path::PathBuf,
        /// Demand column (default `value`).
        #[arg(long)]
        column: Option<String>,
        /// What one replica serves at 100 % utilisation (default: peak demand / 40).
        #[arg(long, value_name = "R")]
        capacity: Option<f64>,
        /// Target utilisation of the HPA (default 0.7).
        #[arg(long, value_name = "U")]
        target: Option<f64>,
        /// Seconds from asking for a pod to its being ready (default 600).
        #[arg(long, value_name = "SECONDS")]
        startup: Option<f64>,
        /// Write `timestamp,demand,hpa_replicas,predictive_replicas` per step.
        #[arg(long, value_name = "OUT.csv")]
        trace: Option<std::path::PathBuf>,
    },
    /// Forecast accuracy (MASE against daily and weekly seasonal-naive at a one-day horizon over
    /// rolling origins, and 80 % interval coverage) on the shared traces.
    Forecast {
        /// Data root holding `traces/` and `nab-dev/` (default `../shared/data`).
        #[arg(long, default_value = "../shared/data")]
        data: std::path::PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Cross-validate the defaults: `group` leaves each data set out in turn (its defaults
        /// chosen on the others) and prints the cross-validated figures beside the in-sample ones.
        #[arg(long, value_parser = ["group"])]
        cv: Option<String>,
    },
}

fn parse_phase(s: &str) -> Result<Phase, String> {
    Phase::from_name(s).ok_or_else(|| {
        format!("unknown phase '{s}': use foundation, augmentation, autonomy or evolution")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Detect { files, out }) => match pitcrew::detect::detect_files(&files, &out) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pitcrew detect: {e}");
                ExitCode::from(2)
            }
        },
        Some(Cmd::Backtest {
            what:
                BacktestCmd::Detect {
                    data,
                    labels,
                    profiles,
                    profile,
                    scores_out,
                    cv,
                },
        }) => {
            let profiles = profiles.or_else(|| {
                let p = data.join("profiles.json");
                p.exists().then_some(p)
            });
            if cv.is_some() {
                return match pitcrew::detect::cli::backtest_cv(
                    &data,
                    &labels,
                    profiles.as_deref(),
                    profile.as_deref(),
                ) {
                    Ok(report) => {
                        println!("{report}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("pitcrew backtest detect: {e}");
                        ExitCode::from(2)
                    }
                };
            }
            match pitcrew::detect::cli::backtest_to(
                &data,
                &labels,
                profiles.as_deref(),
                profile.as_deref(),
                scores_out.as_deref(),
            ) {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("pitcrew backtest detect: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Some(Cmd::Forecast {
            files,
            horizon,
            column,
            origin,
            out,
        }) => match pitcrew::forecast::cli::run_forecast(
            &files,
            horizon,
            column.as_deref(),
            origin,
            &out,
        ) {
            Ok(written) => {
                for (path, f) in written {
                    println!(
                        "{}: {} steps ({})",
                        path.display(),
                        f.points.len(),
                        f.method
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pitcrew forecast: {e}");
                ExitCode::from(2)
            }
        },
        Some(Cmd::Backtest {
            what:
                BacktestCmd::Scaling {
                    file,
                    column,
                    capacity,
                    target,
                    startup,
                    trace,
                },
        }) => match pitcrew::forecast::cli::run_backtest_scaling(
            &file,
            column.as_deref(),
            capacity,
            target,
            startup,
            trace.as_deref(),
        ) {
            Ok(report) => match serde_json::to_string_pretty(&report) {
                Ok(j) => {
                    println!("{j}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("pitcrew backtest scaling: {e}");
                    ExitCode::from(1)
                }
            },
            Err(e) => {
                eprintln!("pitcrew backtest scaling: {e}");
                ExitCode::from(2)
            }
        },
        Some(Cmd::Backtest {
            what:
                BacktestCmd::Incidents {
                    phase,
                    operator_delay,
                    seed,
                    json,
                },
        }) => {
            if !(operator_delay.is_finite() && operator_delay >= 0.0) {
                eprintln!("pitcrew backtest incidents: --operator-delay must be ≥ 0 minutes");
                return ExitCode::from(2);
            }
            let phases = match phase {
                Some(p) => vec![p],
                None => Phase::ALL.to_vec(),
            };
            let reports: Vec<_> = phases
                .iter()
                .map(|p| {
                    pitcrew::remediate::backtest::run(
                        &pitcrew::remediate::backtest::BacktestConfig {
                            phase: *p,
                            operator_delay: operator_delay * 60.0,
                            seed,
                            ..Default::default()
                        },
                    )
                })
                .collect();
            if json {
                let out = if reports.len() == 1 {
                    serde_json::to_string_pretty(&reports[0])
                } else {
                    serde_json::to_string_pretty(&reports)
                };
                match out {
                    Ok(j) => println!("{j}"),
                    Err(e) => {
                        eprintln!("pitcrew backtest incidents: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                for r in &reports {
                    println!("{}", pitcrew::remediate::backtest::render(r));
                }
                let find = |p: Phase| reports.iter().find(|r| r.phase == p);
                if let (Some(aug), Some(auto)) = (find(Phase::Augmentation), find(Phase::Autonomy))
                {
                    for (what, a, b) in [
                        (
                            "median MTTR (from the injection)",
                            auto.median_mttr_secs,
                            aug.median_mttr_secs,
                        ),
                        (
                            "median recovery after detection",
                            auto.median_recovery_after_detection_secs,
                            aug.median_recovery_after_detection_secs,
                        ),
                    ] {
                        println!(
                            "Autonomy {what} {:.1} min = {:.0} % of Augmentation's {:.1} min",
                            a / 60.0,
                            a / b * 100.0,
                            b / 60.0
                        );
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Some(Cmd::Backtest {
            what: BacktestCmd::Forecast { data, json, cv },
        }) => {
            let text = if cv.is_some() {
                pitcrew::forecast::cli::run_forecast_cv(&data)
                    .and_then(|r| pitcrew::forecast::cli::render_cv(&r, json))
            } else {
                pitcrew::forecast::cli::run_mase_evaluation(&data)
                    .and_then(|r| pitcrew::forecast::cli::render_evaluation(&r, json))
            };
            match text {
                Ok(t) => {
                    println!("{t}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("pitcrew backtest forecast: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Some(Cmd::Replay {
            file,
            verify,
            summary,
            format,
            speed,
            look:
                Look {
                    theme,
                    keymap,
                    ascii,
                },
        }) => {
            if verify {
                return match pitcrew::replay::verify(&file) {
                    Ok(v) => {
                        if format == "json" {
                            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                        } else {
                            for p in v.problems.iter().take(20) {
                                eprintln!("{}: {p}", file.display());
                            }
                            if v.problems.len() > 20 {
                                eprintln!(
                                    "{}: … and {} more lines skipped",
                                    file.display(),
                                    v.problems.len() - 20
                                );
                            }
                            for d in &v.divergences {
                                println!("{d}");
                            }
                            println!(
                                "{}: {} events re-run; {} log entries, {} intents and {} checkpoints compared; {}",
                                file.display(),
                                v.events,
                                v.log_entries,
                                v.intents,
                                v.checkpoints,
                                if v.divergences.is_empty() {
                                    "identical".to_string()
                                } else {
                                    format!("{} divergences", v.divergences.len())
                                }
                            );
                        }
                        if v.divergences.is_empty() {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::from(1)
                        }
                    }
                    Err(e) => {
                        eprintln!("pitcrew replay: {e}");
                        ExitCode::from(2)
                    }
                };
            }
            if summary {
                return match pitcrew::replay::summary(&file) {
                    Ok(s) => {
                        for p in s.problems.iter().take(20) {
                            eprintln!("{}: {p}", file.display());
                        }
                        if s.problems.len() > 20 {
                            eprintln!(
                                "{}: … and {} more lines skipped",
                                file.display(),
                                s.problems.len() - 20
                            );
                        }
                        if format == "json" {
                            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
                        } else {
                            print!("{}", pitcrew::replay::summary_markdown(&s));
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("pitcrew replay: {e}");
                        ExitCode::from(2)
                    }
                };
            }
            if !(1.0..=1000.0).contains(&speed) {
                eprintln!("pitcrew replay: --speed must be between 1 and 1000 (got {speed})");
                return ExitCode::from(2);
            }
            match pitcrew::app::run_replay(&file, speed, &theme, &keymap, ascii) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pitcrew replay: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Cmd::Agent {
            listen,
            config,
            phase,
            read_only,
            dry_run,
            models,
            scenario,
        }) => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let listen = listen
                .or_else(|| config.agent.as_ref().map(|a| a.listen.clone()))
                .unwrap_or_else(|| "127.0.0.1:9184".to_string());
            let opts = ConsoleOptions {
                seed: cli.seed,
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
                role: pitcrew::remediate::lease::Role::Agent,
            };
            match pitcrew::app::run_agent(opts, pitcrew::app::AgentOptions { listen }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pitcrew agent: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Cmd::Rbac { namespace, config }) => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let ns = namespace
                .or_else(|| config.kubernetes.as_ref().map(|k| k.namespace.clone()))
                .unwrap_or_else(|| "default".to_string());
            print!("{}", pitcrew::remediate::kube::rbac_role(&ns));
            ExitCode::SUCCESS
        }
        Some(Cmd::Check {
            theme,
            keymap,
            config,
            probe,
            from,
            to,
        }) => {
            let paths = pitcrew::config::Paths::from_env();
            let search = pitcrew::check::Search {
                theme_dirs: vec![paths.themes_dir()],
                keymap_dirs: vec![paths.keymaps_dir()],
                playbook_dir: Some(paths.config_dir.join("playbooks")),
            };
            let report = pitcrew::check::check_files(
                theme.as_deref(),
                keymap.as_deref(),
                config.as_deref(),
                &search,
            );
            println!("{report}");
            if !report.ok() {
                return ExitCode::from(1);
            }
            if probe && let Some(path) = config.as_deref() {
                let Ok(cfg) = pitcrew::config::Config::load(path) else {
                    return ExitCode::from(1);
                };
                let window =
                    match pitcrew::cli_time::history_window(from.as_deref(), to.as_deref(), &cfg) {
                        Ok(w) => w,
                        Err(e) => {
                            eprintln!("pitcrew check: {e}");
                            return ExitCode::from(2);
                        }
                    };
                if !pitcrew::probe::run_and_print(&cfg, window) {
                    return ExitCode::from(1);
                }
            }
            ExitCode::SUCCESS
        }
        None => {
            if cli.scenario.as_deref() == Some("list") {
                println!("Scenarios for --scenario (incidents start after the console goes live):");
                for s in scenario::all() {
                    println!("  {:<16} {}", s.name, s.description);
                }
                return ExitCode::SUCCESS;
            }
            if !(1.0..=1000.0).contains(&cli.speed) {
                eprintln!(
                    "pitcrew: --speed must be between 1 and 1000 (got {})",
                    cli.speed
                );
                return ExitCode::from(2);
            }
            let start = match cli
                .start
                .as_deref()
                .map(|t| pitcrew::cli_time::parse_time_for("--start", t))
                .transpose()
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("pitcrew: {e}");
                    return ExitCode::from(2);
                }
            };
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let history = match pitcrew::cli_time::history_window(
                cli.from.as_deref(),
                cli.to.as_deref(),
                &config,
            ) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("pitcrew: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = ConsoleOptions {
                seed: cli.seed,
                models: cli.models as usize,
                speed: cli.speed,
                scenario: cli.scenario,
                backfill_hours: cli.backfill.clamp(0.0, 168.0),
                replica_budget: cli.replica_budget,
                start,
                theme: cli.look.theme,
                keymap: cli.look.keymap,
                ascii: cli.look.ascii,
                mouse: cli.mouse,
                read_only: cli.read_only || history.is_some(),
                dry_run: cli.dry_run && history.is_none(),
                phase: cli.phase,
                refresh_hz: cli.refresh,
                config,
                history,
                role: pitcrew::remediate::lease::Role::Console,
            };
            match run_console(opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pitcrew: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The config in force (`--config`, else the config dir's `config.toml` when it exists); every
/// problem is printed as `file:line:col: message` and the exit code is 2.
fn load_config(path: Option<&std::path::Path>) -> Result<pitcrew::config::Config, ExitCode> {
    let paths = pitcrew::config::Paths::from_env();
    match pitcrew::config::Config::resolve(path, &paths) {
        Ok((c, _)) => Ok(c),
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "pitcrew: the config is not valid (`pitcrew check --config FILE` lists the same)"
            );
            Err(ExitCode::from(2))
        }
    }
}
