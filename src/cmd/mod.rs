//! One file per command of `pitcrew`, each with its arguments and what it runs; the flags and
//! helpers that several commands share are here.

pub mod agent;
pub mod attach;
pub mod backtest;
pub mod check;
pub mod console;
pub mod detect;
pub mod forecast;
pub mod rbac;
pub mod replay;
pub mod scan;
pub mod token;

use pitcrew::policy::autonomy::Phase;
use std::process::ExitCode;

/// How the console looks and reads keys: the same flags for the live console and a replay.
#[derive(clap::Args, Debug)]
pub struct Look {
    /// Theme: a built-in name (default, light, high-contrast, ansi16, monochrome) or a path.
    #[arg(long, default_value = "default")]
    pub theme: String,
    /// Keymap: a built-in name (default, vim, emacs) or a path.
    #[arg(long, default_value = "default")]
    pub keymap: String,
    /// Draw with ASCII only (no Unicode symbols, blocks or braille).
    #[arg(long)]
    pub ascii: bool,
}

/// An autonomy phase by its name.
pub fn parse_phase(s: &str) -> Result<Phase, String> {
    Phase::from_name(s).ok_or_else(|| {
        format!("unknown phase '{s}': use foundation, augmentation, autonomy or evolution")
    })
}

/// The config in force (`--config`, else the config dir's `config.toml` when it exists); every
/// problem is printed as `file:line:col: message` and the exit code is 2.
pub fn load_config(path: Option<&std::path::Path>) -> Result<pitcrew::config::Config, ExitCode> {
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

/// Prints what `command` produced and exits 0, or prints its error, prefixed with the command,
/// and exits 2 (bad input).
pub fn print_or_fail<T: std::fmt::Display, E: std::fmt::Display>(
    command: &str,
    result: Result<T, E>,
) -> ExitCode {
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pitcrew {command}: {e}");
            ExitCode::from(2)
        }
    }
}
