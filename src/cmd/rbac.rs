//! `pitcrew rbac`: the least-privilege Role pitcrew needs in a namespace, as YAML.

use super::load_config;
use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Namespace of the Role (default: the config's `[kubernetes] namespace`, else
    /// `default`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// The config file.
    #[arg(long, value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
    /// Print the user roles of the agent's control API (viewer, approver, admin) instead.
    #[arg(long)]
    pub users: bool,
}

/// Runs the command; the exit code says how it went.
pub fn run(args: Args) -> ExitCode {
    let Args {
        namespace,
        config,
        users,
    } = args;
    let config = match load_config(config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let ns = namespace
        .or_else(|| config.kubernetes.as_ref().map(|k| k.namespace.clone()))
        .unwrap_or_else(|| "default".to_string());
    if users {
        print!("{}", pitcrew::control::user_roles_yaml(&ns));
    } else {
        print!("{}", pitcrew::actuators::kube::rbac_role(&ns));
    }
    ExitCode::SUCCESS
}
