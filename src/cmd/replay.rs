//! `pitcrew replay`: a recording played read-only in the console, verified (`--verify`) or told as an incident report (`--summary`).

use super::Look;
use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The journal (`<data dir>/journal/session-*.jsonl`, or a fixture).
    pub file: std::path::PathBuf,
    /// Re-run the engine on the recording and list every divergence (exit 1 when any).
    #[arg(long, conflicts_with = "summary")]
    pub verify: bool,
    /// Print the incident report: timeline, detection delay, decisions and who made them, MTTR.
    #[arg(long)]
    pub summary: bool,
    /// Report format for `--summary` and `--verify`: md or json.
    #[arg(long, default_value = "md", value_parser = ["md", "json"])]
    pub format: String,
    /// Playback speed, 1 to 1000 (the console).
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,
    #[command(flatten)]
    pub look: Look,
}

/// Runs the command; the exit code says how it went.
/// Says on stderr which lines of `file` were skipped and why (the first 20, then how many more).
fn say_skipped(file: &std::path::Path, problems: &[String]) {
    for p in problems.iter().take(20) {
        eprintln!("{}: {p}", file.display());
    }
    if problems.len() > 20 {
        eprintln!(
            "{}: … and {} more lines skipped",
            file.display(),
            problems.len() - 20
        );
    }
}

pub fn run(args: Args) -> ExitCode {
    let Args {
        file,
        verify,
        summary,
        format,
        speed,
        look: Look {
            theme,
            keymap,
            ascii,
        },
    } = args;
    if verify {
        return match pitcrew::replay::verify(&file) {
            Ok(v) => {
                if format == "json" {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                } else {
                    say_skipped(&file, &v.problems);
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
                say_skipped(&file, &s.problems);
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
