//! `pitcrew check`: every problem of the theme, keymap, config and playbook files, with file:line:column; `--probe` asks every endpoint the config names.

use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Theme to validate (built-in name or path); with no option, everything is checked.
    #[arg(long)]
    pub theme: Option<String>,
    /// Keymap to validate (built-in name or path).
    #[arg(long)]
    pub keymap: Option<String>,
    /// Config file to validate.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Also try every endpoint the config names (read-only requests) and report what
    /// answered.
    #[arg(long, requires = "config")]
    pub probe: bool,
    /// With --probe: ask each signal over the window history mode would read, from this
    /// time (RFC 3339 or unix seconds).
    #[arg(long, value_name = "TIME", requires = "probe")]
    pub from: Option<String>,
    /// With --from: end of the window (default: now).
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,
}

/// Runs the command; the exit code says how it went.
pub fn run(args: Args) -> ExitCode {
    let Args {
        theme,
        keymap,
        config,
        probe,
        from,
        to,
    } = args;
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
        let window = match pitcrew::cli_time::history_window(from.as_deref(), to.as_deref(), &cfg) {
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
