//! `pitcrew forecast`: forecasts of CSV series with their 80 % intervals.

use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input files.
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// Steps ahead.
    #[arg(long)]
    pub horizon: usize,
    /// Value column (default `value`).
    #[arg(long)]
    pub column: Option<String>,
    /// Use only the first N rows.
    #[arg(long)]
    pub origin: Option<usize>,
    /// Output file (one input) or directory (several).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Runs the command; the exit code says how it went.
pub fn run(args: Args) -> ExitCode {
    let Args {
        files,
        horizon,
        column,
        origin,
        out,
    } = args;
    match pitcrew::forecast::cli::run_forecast(&files, horizon, column.as_deref(), origin, &out) {
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
    }
}
