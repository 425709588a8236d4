//! `pitcrew scan`: the known advisories that affect models' Python requirements, for a
//! terminal or a CI pipeline (exit code 1 at or above `--fail-on`).
//!
//! What is scanned, in this order: the `--requirements` files given; else the config's real
//! systems — every registered model of its `[mlflow]` registry (what its serving version
//! logged) and, with `[kubernetes]`, the serving images of the models its `[models]` names
//! (trivy-operator's reports, followed to each model's Deployment); else the simulated fleet
//! (`--models`), as a console with no configuration would run it. Advisories: `--osv`, else
//! the config's `[security] advisories`, else — for the simulated fleet only — the real
//! advisories that ship with it.

use pitcrew::clients::mlflow::Registry;
use pitcrew::security::index::Index;
use pitcrew::security::osv::load_dir;
use pitcrew::security::requirements::from_logged;
use pitcrew::security::scan::{Target, scan, table};
use pitcrew::security::severity::Severity;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A directory of OSV records (YAML or JSON, read recursively): the PyPA advisory
    /// database's checkout, or an OSV export of the PyPI ecosystem. Default: the config's
    /// `[security] advisories`, else (for the simulated fleet only) the advisories that ship
    /// with it.
    #[arg(long)]
    pub osv: Option<PathBuf>,
    /// An OSV API to ask instead of a directory (`https://api.osv.dev`, or a mirror): every
    /// advisory of each package required is fetched (`POST /v1/querybatch`, then
    /// `GET /v1/vulns/{id}`). Default: the config's `[security] osv_api`.
    #[arg(long, value_name = "URL", conflicts_with = "osv")]
    pub osv_api: Option<String>,
    /// A `requirements.txt` to scan (several may be given; each is named by its path).
    #[arg(long = "requirements")]
    pub requirements: Vec<PathBuf>,
    /// The config file: its `[mlflow]` registry is scanned (every registered model, what its
    /// serving version logged) and, with `[kubernetes]`, the serving images of the models its
    /// `[models]` names (trivy-operator's reports); its `[security]` says where advisories
    /// are. Default `<config dir>/config.toml` when it exists.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Number of simulated models, when the simulated fleet is scanned.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub models: u32,
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

/// What was scanned: the targets, the models that could not be read (with why), those that
/// logged no requirements, and a line saying where they came from.
struct Targets {
    targets: Vec<Target>,
    unreadable: Vec<(String, String)>,
    unlogged: Vec<String>,
    from: String,
    simulated: bool,
}

/// Runs the command; the exit code says how it went.
pub fn run(args: Args, seed: u64) -> ExitCode {
    let cfg = if args.requirements.is_empty() || (args.osv.is_none() && args.osv_api.is_none()) {
        match super::load_config(args.config.as_deref()) {
            Ok(c) => c,
            Err(code) => return code,
        }
    } else {
        pitcrew::config::Config::default()
    };
    let found = if !args.requirements.is_empty() {
        match files(&args.requirements) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("pitcrew scan: {e}");
                return ExitCode::from(2);
            }
        }
    } else if let Some(m) = &cfg.mlflow {
        match registry(m) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("pitcrew scan: {e}");
                return ExitCode::from(2);
            }
        }
    } else if cfg.kubernetes.is_some() {
        Targets {
            targets: Vec::new(),
            unreadable: Vec::new(),
            unlogged: Vec::new(),
            from: "no [mlflow] registry".to_string(),
            simulated: false,
        }
    } else {
        simulated(seed, args.models as usize)
    };
    let security = cfg.security.clone().unwrap_or_default();
    let (osv, api) = match (&args.osv, &args.osv_api) {
        (None, None) => (security.advisories, security.osv_api),
        (dir, api) => (dir.clone(), api.clone()),
    };
    let (index, source) = match (&osv, &api) {
        (Some(dir), _) => match advisories(dir) {
            Ok(i) => (i, dir.display().to_string()),
            Err(code) => return code,
        },
        (None, Some(url)) => match from_api(url, &found.targets) {
            Ok(i) => (i, format!("the OSV API at {}", pitcrew::redact::url(url))),
            Err(e) => {
                eprintln!("pitcrew scan: {e}");
                return ExitCode::from(2);
            }
        },
        (None, None) if found.simulated => (
            pitcrew::security::builtin::index(),
            "the advisories that ship with the simulated fleet".to_string(),
        ),
        (None, None) if found.targets.is_empty() => {
            (Index::build(&[], "PyPI"), "no advisories".to_string())
        }
        (None, None) => {
            eprintln!(
                "pitcrew scan: no advisories to match {} against: give --osv DIR (an OSV export or the PyPA advisory database), --osv-api URL, or `advisories` or `osv_api` in the config's [security] (the few that ship with the simulated fleet cover only its pins)",
                found.from
            );
            return ExitCode::from(2);
        }
    };
    let mut report = scan(&index, &found.targets);
    // each model's patch, from the findings the report holds (not a second scan)
    for t in &found.targets {
        let vulns: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.model == t.model)
            .map(pitcrew::security::scan::Finding::vulnerability)
            .collect();
        report.add_patch(
            &t.model,
            pitcrew::security::bump::for_findings(
                &index,
                &t.requirements,
                &vulns,
                security.patch_at,
            ),
        );
    }
    let mut unreadable = found.unreadable.clone();
    if args.requirements.is_empty()
        && let Some(k) = &cfg.kubernetes
    {
        match images(k, &cfg) {
            Ok(scanned) => {
                for (model, found) in &scanned.found {
                    report.add_patch(
                        model,
                        pitcrew::security::bump::for_image(found, security.patch_at),
                    );
                }
                report.add_images(scanned.found);
                for (model, why) in scanned.unscanned {
                    eprintln!("pitcrew scan: the images of {model} not scanned: {why}");
                }
                for e in scanned.unread {
                    eprintln!("pitcrew scan: {e}");
                }
                unreadable.extend(scanned.failed);
            }
            Err(e) => unreadable.push(("the serving images".to_string(), e)),
        }
    }
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
    if args.format != "json" && !found.targets.is_empty() {
        eprintln!(
            "{}: {} advisories on {} PyPI packages, from {source}",
            found.from,
            index.len(),
            index.packages(),
        );
    }
    if let Some(first) = found.unlogged.first() {
        eprintln!(
            "pitcrew scan: {} models not scanned: their serving version logged no requirements.txt, conda.yaml or python_env.yaml (the first: {first})",
            found.unlogged.len()
        );
    }
    for (model, why) in &unreadable {
        eprintln!("pitcrew scan: {model} not scanned: {why}");
    }
    match args.fail_on {
        Some(threshold) if report.fails(threshold) => ExitCode::from(1),
        _ if !unreadable.is_empty() => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    }
}

/// The index of a directory of OSV records, its problems said on stderr; exit code 2 when
/// it cannot be read or holds no PyPI advisory.
fn advisories(dir: &std::path::Path) -> Result<Index, ExitCode> {
    let (records, unread) = load_dir(dir).map_err(|e| {
        eprintln!("pitcrew scan: {e}");
        ExitCode::from(2)
    })?;
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
            dir.display(),
            records.len()
        );
        return Err(ExitCode::from(2));
    }
    Ok(index)
}

/// Run `f` to its end on a runtime of this thread (the command's one wait on the network).
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    Ok(rt.block_on(f))
}

/// Seconds an OSV API request may take.
const OSV_API_TIMEOUT: f64 = 30.0;

/// The index of every advisory an OSV API has for the packages the targets require.
fn from_api(url: &str, targets: &[Target]) -> Result<Index, String> {
    let client = pitcrew::clients::osv::OsvClient::new(url, OSV_API_TIMEOUT)?;
    let packages = pitcrew::security::scan::packages(targets);
    block_on(client.index(&packages))?
}

/// The files given, each named by its path.
fn files(paths: &[PathBuf]) -> Result<Targets, String> {
    let mut targets = Vec::new();
    for path in paths {
        let requirements = pitcrew::files::read_text(path, pitcrew::files::MAX_TEXT_BYTES)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        targets.push(Target {
            model: path.display().to_string(),
            requirements,
        });
    }
    Ok(Targets {
        from: format!("{} requirements files", targets.len()),
        targets,
        unreadable: Vec::new(),
        unlogged: Vec::new(),
        simulated: false,
    })
}

/// The simulated fleet's models and their pins.
fn simulated(seed: u64, n: usize) -> Targets {
    let targets = pitcrew::sources::sim::targets(&pitcrew::sim::SimWorld::new(seed, n, 0.0));
    Targets {
        from: format!("the simulated fleet ({} models)", targets.len()),
        targets,
        unreadable: Vec::new(),
        unlogged: Vec::new(),
        simulated: true,
    }
}

/// Every registered model of the registry: what its serving version logged.
fn registry(cfg: &pitcrew::config::MlflowConfig) -> Result<Targets, String> {
    let registry = Registry::new(cfg).map_err(|e| e.to_string())?;
    block_on(async {
        let models = registry
            .client()
            .search_registered_models(None)
            .await
            .map_err(|e| e.to_string())?;
        let read = registry
            .logged_requirements_of(models.into_iter().map(|m| m.name).collect())
            .await;
        let mut out = Targets {
            from: format!(
                "the MLflow registry at {}",
                pitcrew::redact::url(&cfg.tracking_uri)
            ),
            targets: Vec::new(),
            unreadable: Vec::new(),
            unlogged: Vec::new(),
            simulated: false,
        };
        for (name, logged) in read {
            match logged {
                Ok(Some(f)) => match from_logged(f.file, &f.text) {
                    Ok(requirements) => out.targets.push(Target {
                        model: format!("{name} v{} ({})", f.version, f.file),
                        requirements,
                    }),
                    Err(e) => out.unreadable.push((name, e)),
                },
                Ok(None) => out.unlogged.push(name),
                Err(e) => out.unreadable.push((name, e.to_string())),
            }
        }
        Ok(out)
    })?
}

/// What the serving images' scan read.
struct Images {
    /// Findings per model whose current ReplicaSet has reports.
    found: Vec<(String, Vec<pitcrew::domain::Vulnerability>)>,
    /// Models not scanned, and why (no Deployment, no report yet).
    unscanned: Vec<(String, String)>,
    /// Models whose namespace could not be read (an error: exit 2).
    failed: Vec<(String, String)>,
    /// Reports that could not be read.
    unread: Vec<String>,
}

/// trivy-operator's reports of the serving images of the models the config names.
fn images(
    k: &pitcrew::config::KubeConfig,
    cfg: &pitcrew::config::Config,
) -> Result<Images, String> {
    let keys: Vec<String> = cfg.models.keys().cloned().collect();
    if keys.is_empty() {
        eprintln!(
            "pitcrew scan: no serving image scanned: [kubernetes] is set but [models] names no model (namespace/name) whose Deployment to follow"
        );
    }
    block_on(async {
        let client = pitcrew::clients::kube::client(k.context.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let scan = pitcrew::sources::images::scan(&client, k, &keys).await;
        let mut out = Images {
            found: Vec::new(),
            unscanned: Vec::new(),
            failed: Vec::new(),
            unread: scan.unread,
        };
        for (key, r) in scan.models {
            match r {
                Ok(m) => match m.found {
                    Some(found) => out.found.push((key, found)),
                    None => out.unscanned.push((
                        key,
                        format!(
                            "trivy-operator has no report of the current ReplicaSet of Deployment {} yet",
                            m.deployment
                        ),
                    )),
                },
                Err(pitcrew::sources::images::NotScanned::Failed(e)) => {
                    out.failed.push((key, e.to_string()))
                }
                Err(e) => out.unscanned.push((key, e.to_string())),
            }
        }
        Ok(out)
    })?
}
