//! `pitcrew` with no command: the console, on the simulated fleet or the systems the config
//! names, live or over a past window.

use super::load_config;
use pitcrew::app::{ConsoleOptions, run_console};
use pitcrew::sim::scenario;
use std::process::ExitCode;

/// Runs the console with the top-level flags; the exit code says how it went.
pub fn run(cli: crate::Cli) -> ExitCode {
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
    let history =
        match pitcrew::cli_time::history_window(cli.from.as_deref(), cli.to.as_deref(), &config) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("pitcrew: {e}");
                return ExitCode::from(2);
            }
        };
    let opts = ConsoleOptions {
        seed: cli.seed,
        models: cli.models as usize,
        namespaces: None,
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
        role: pitcrew::actuators::lease::Role::Console,
        fresh: false,
    };
    match run_console(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pitcrew: {e:#}");
            ExitCode::from(1)
        }
    }
}
