//! `pitcrew backtest`: pitcrew's methods against labelled data and simulated incidents —
//! incidents per autonomy phase, detection (NAB scoring, leave-one-category-out), scaling
//! policies against demand, and forecast accuracy.

use super::parse_phase;
use pitcrew::policy::autonomy::Phase;
use std::process::ExitCode;

/// What to backtest.
#[derive(clap::Subcommand, Debug)]
pub enum What {
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
/// Runs the backtest; the exit code says how it went.
pub fn run(what: What) -> ExitCode {
    match what {
        What::Detect {
            data,
            labels,
            profiles,
            profile,
            scores_out,
            cv,
        } => {
            let profiles = profiles.or_else(|| {
                let p = data.join("profiles.json");
                p.exists().then_some(p)
            });
            let report = if cv.is_some() {
                pitcrew::detect::backtest::backtest_cv(
                    &data,
                    &labels,
                    profiles.as_deref(),
                    profile.as_deref(),
                )
                .map(|r| r.to_string())
            } else {
                pitcrew::detect::backtest::backtest(
                    &data,
                    &labels,
                    profiles.as_deref(),
                    profile.as_deref(),
                    scores_out.as_deref(),
                )
                .map(|r| r.to_string())
            };
            super::print_or_fail("backtest detect", report)
        }
        What::Scaling {
            file,
            column,
            capacity,
            target,
            startup,
            trace,
        } => match pitcrew::forecast::cli::run_backtest_scaling(
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
        What::Incidents {
            phase,
            operator_delay,
            seed,
            json,
        } => {
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
                    pitcrew::harness::run(&pitcrew::harness::BacktestConfig {
                        phase: *p,
                        operator_delay: operator_delay * 60.0,
                        seed,
                        ..Default::default()
                    })
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
                    println!("{}", pitcrew::harness::render(r));
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
        What::Forecast { data, json, cv } => {
            let text = if cv.is_some() {
                pitcrew::forecast::cli::run_forecast_cv(&data)
                    .and_then(|r| pitcrew::forecast::cli::render_cv(&r, json))
            } else {
                pitcrew::forecast::cli::run_mase_evaluation(&data)
                    .and_then(|r| pitcrew::forecast::cli::render_evaluation(&r, json))
            };
            super::print_or_fail("backtest forecast", text)
        }
    }
}
