//! `pitcrew attach`: the console on an agent that executes (its fleet, every screen; commands
//! go to the agent, which applies them in the caller's name).

use super::Look;
use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The agent's URL, e.g. https://pitcrew-agent.mlops:9184 (or http://127.0.0.1:9184
    /// through a port-forward); several agents (one per shard of namespaces) are drawn as one
    /// fleet.
    #[arg(value_name = "URL", required_unless_present = "namespace")]
    pub urls: Vec<String>,
    /// Find the agent of this namespace through the Kubernetes API server and reach it by a
    /// port-forward (for bastions that reach the API server, not the pod network); repeat it
    /// for the agents of several shards.
    #[arg(long, value_name = "NS")]
    pub namespace: Vec<String>,
    /// The kubeconfig context for --namespace (default: the current one).
    #[arg(long, value_name = "C", requires = "namespace")]
    pub kube_context: Option<String>,
    /// The agent's Service for --namespace.
    #[arg(long, value_name = "NAME", default_value = pitcrew::app::via_kube::DEFAULT_SERVICE, requires = "namespace")]
    pub service: String,
    /// A file holding your bearer token (white space around it is trimmed).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// A CA certificate (PEM) to trust for the agent's TLS (instead of the system's).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
    /// Send no command at all: watch only.
    #[arg(long)]
    pub read_only: bool,
    #[command(flatten)]
    pub look: Look,
    /// Capture the mouse (wheel scrolls).
    #[arg(long)]
    pub mouse: bool,
    /// Data-driven redraws per second at most.
    #[arg(long, default_value_t = 2.0)]
    pub refresh: f64,
}

/// Runs the command; the exit code says how it went.
pub fn run(args: Args) -> ExitCode {
    let opts = pitcrew::app::AttachOptions {
        urls: args.urls,
        kube: (!args.namespace.is_empty()).then_some(pitcrew::app::KubeTarget {
            context: args.kube_context,
            namespaces: {
                // an agent given twice would be followed twice
                let mut ns = args.namespace;
                let mut seen = std::collections::HashSet::new();
                ns.retain(|n| seen.insert(n.clone()));
                ns
            },
            service: args.service,
        }),
        token_file: args.token_file,
        ca: args.ca,
        read_only: args.read_only,
        theme: args.look.theme,
        keymap: args.look.keymap,
        ascii: args.look.ascii,
        mouse: args.mouse,
        refresh_hz: args.refresh,
    };
    match pitcrew::app::run_attach(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pitcrew attach: {e:#}");
            ExitCode::from(1)
        }
    }
}
