//! `pitcrew detect`: anomaly scores for CSV files.

use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input files.
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Runs the command; the exit code says how it went.
pub fn run(args: Args) -> ExitCode {
    let Args { files, out } = args;
    super::print_or_fail("detect", pitcrew::detect::detect_files(&files, &out))
}
