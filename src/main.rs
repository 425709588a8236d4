//! `pitcrew`: the command line.

use clap::{Parser, Subcommand};
use pitcrew::app::{ConsoleOptions, run_console};
use pitcrew::autonomy::Phase;
use pitcrew::sim::scenario;
use std::process::ExitCode;

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
    /// Hours of simulated history loaded at start.
    #[arg(long, default_value_t = 24.0, value_name = "HOURS")]
    backfill: f64,
    /// Sim time at which the console goes live (RFC 3339 or unix seconds); now by default.
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// Theme: a built-in name (default, light, high-contrast, ansi16, monochrome) or a path.
    #[arg(long, default_value = "default")]
    theme: String,
    /// Keymap: a built-in name (default, vim, emacs) or a path.
    #[arg(long, default_value = "default")]
    keymap: String,
    /// Draw with ASCII only (no Unicode symbols, blocks or braille).
    #[arg(long)]
    ascii: bool,
    /// Capture the mouse (wheel scrolls).
    #[arg(long)]
    mouse: bool,
    /// Build no actuator: nothing can change the fleet.
    #[arg(long)]
    read_only: bool,
    /// Autonomy phase: foundation, augmentation, autonomy or evolution.
    #[arg(long, default_value = "foundation", value_parser = parse_phase)]
    phase: Phase,
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
    /// Check pitcrew's methods against labelled data before trusting them.
    Backtest {
        #[command(subcommand)]
        what: BacktestCmd,
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
    },
}

#[derive(Subcommand, Debug)]
enum BacktestCmd {
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
        #[arg(long, value_name = "DIR")]
        scores_out: Option<std::path::PathBuf>,
    },
}

fn parse_phase(s: &str) -> Result<Phase, String> {
    Phase::from_name(s).ok_or_else(|| {
        format!("unknown phase '{s}': use foundation, augmentation, autonomy or evolution")
    })
}

fn parse_time(s: &str) -> Result<f64, String> {
    if let Ok(x) = s.parse::<f64>() {
        return Ok(x);
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second() as f64)
        .map_err(|e| format!("--start: '{s}' is neither unix seconds nor RFC 3339 ({e})"))
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
                },
        }) => {
            let profiles = profiles.or_else(|| {
                let p = data.join("profiles.json");
                p.exists().then_some(p)
            });
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
        Some(Cmd::Check {
            theme,
            keymap,
            config,
        }) => {
            let paths = pitcrew::config::Paths::from_env();
            let search = pitcrew::check::Search {
                theme_dirs: vec![paths.themes_dir()],
                keymap_dirs: vec![paths.keymaps_dir()],
            };
            let report = pitcrew::check::check_files(
                theme.as_deref(),
                keymap.as_deref(),
                config.as_deref(),
                &search,
            );
            println!("{report}");
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
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
            let start = match cli.start.as_deref().map(parse_time).transpose() {
                Ok(s) => s,
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
                backfill_hours: cli.backfill.clamp(0.0, 24.0),
                start,
                theme: cli.theme,
                keymap: cli.keymap,
                ascii: cli.ascii,
                mouse: cli.mouse,
                read_only: cli.read_only,
                phase: cli.phase,
                refresh_hz: cli.refresh,
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
