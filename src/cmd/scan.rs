//! `pitcrew scan`: the known advisories that affect models' Python requirements, for a
//! terminal or a CI pipeline (exit code 1 at or above `--fail-on`).

use pitcrew::security::index::Index;
use pitcrew::security::osv::load_dir;
use pitcrew::security::scan::{Target, scan, table};
use pitcrew::security::severity::Severity;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A directory of OSV records (YAML or JSON, read recursively): the PyPA advisory
    /// database's checkout, or an OSV export of the PyPI ecosystem.
    #[arg(long)]
    pub osv: PathBuf,
    /// A `requirements.txt` to scan (several may be given; each is named by its path).
    #[arg(long = "requirements", required = true)]
    pub requirements: Vec<PathBuf>,
    /// `table` for a terminal, `json` for a program.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Exit with 1 when a finding is at or above this severity (low, medium, high,
    /// critical; an advisory without a CVSS vector counts as high).
    #[arg(long, value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::from_name(s)
        .filter(|v| !matches!(v, Severity::None | Severity::Unknown))
        .ok_or_else(|| format!("unknown severity '{s}': use low, medium, high or critical"))
}

/// Runs the command; the exit code says how it went.
pub fn run(args: Args) -> ExitCode {
    let (records, unread) = match load_dir(&args.osv) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pitcrew scan: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(first) = unread.first() {
        eprintln!(
            "pitcrew scan: {} advisory files not read (the first: {}: {})",
            unread.len(),
            first.path.display(),
            first.reason
        );
    }
    let index = Index::build(&records, "PyPI");
    if let Some((id, text)) = index.unread_ranges.first() {
        eprintln!(
            "pitcrew scan: {} ranges or versions not read as PEP 440, left out (the first: {id}: {text})",
            index.unread_ranges.len()
        );
    }
    if index.is_empty() {
        eprintln!(
            "pitcrew scan: no PyPI advisory in {} ({} records read)",
            args.osv.display(),
            records.len()
        );
        return ExitCode::from(2);
    }
    let mut targets = Vec::new();
    for path in &args.requirements {
        match std::fs::read_to_string(path) {
            Ok(requirements) => targets.push(Target {
                model: path.display().to_string(),
                requirements,
            }),
            Err(e) => {
                eprintln!("pitcrew scan: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let report = scan(&index, &targets);
    let text = if args.format == "json" {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("pitcrew scan: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        table(&report)
    };
    // a reader that went away (`| head`) ends the output, not the process with a panic
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if args.format != "json" {
        eprintln!(
            "{} advisories on {} PyPI packages read from {}",
            index.len(),
            index.packages(),
            args.osv.display()
        );
    }
    match args.fail_on {
        Some(threshold) if report.fails(threshold) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}
