//! pitcrew's configuration: where its files are ([`Paths`], in `paths.rs`), the main config file
//! ([`Config`]: real systems, the agent, the models; every section optional) and its
//! diagnostics (`diagnostics.rs`: each problem with its file, line and column).

pub mod diagnostics;
mod paths;
pub mod playbooks;
mod security;

pub use paths::Paths;
pub use security::{DeadlineHours, SecurityConfig};

use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// The main config file: real systems (Prometheus, MLflow, Kubernetes) and the agent.
// ---------------------------------------------------------------------------------------------

use crate::domain::Signal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The main config file (`config.toml`, or `--config PATH`). Every section is optional: with
/// none, the console runs on the simulated fleet. Secrets are never written here: only the
/// name of an environment variable or a file that holds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Theme name or path.
    #[serde(default)]
    pub theme: Option<String>,
    /// Keymap name or path.
    #[serde(default)]
    pub keymap: Option<String>,
    /// Where the signals come from.
    #[serde(default)]
    pub prometheus: Option<PrometheusConfig>,
    /// The model registry.
    #[serde(default)]
    pub mlflow: Option<MlflowConfig>,
    /// Where actions are carried out.
    #[serde(default)]
    pub kubernetes: Option<KubeConfig>,
    /// `pitcrew agent`.
    #[serde(default)]
    pub agent: Option<AgentConfig>,
    /// Per-model settings, keyed `namespace/name`.
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    /// Who decides at this console.
    #[serde(default)]
    pub operator: Option<OperatorConfig>,
    /// How much session journal the data dir keeps.
    #[serde(default)]
    pub journal: Option<JournalRetentionConfig>,
    /// Where advisories come from.
    #[serde(default)]
    pub security: Option<SecurityConfig>,
    /// The guardrails' limits (each left out keeps its default).
    #[serde(default)]
    pub guardrails: Option<crate::policy::guardrails::Guardrails>,
}

/// How much session journal the data dir keeps; the oldest sessions are pruned first at
/// every start, never the one being written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalRetentionConfig {
    /// Total size of every session's journal, MiB.
    #[serde(default = "default_journal_mib")]
    pub max_total_mib: f64,
    /// Sessions older than this are deleted, days.
    #[serde(default = "default_journal_days")]
    pub max_age_days: f64,
}

/// The journal's retention without a `[journal]` section (or with one that leaves a key
/// out): the one place its defaults are declared.
impl Default for JournalRetentionConfig {
    fn default() -> Self {
        JournalRetentionConfig {
            max_total_mib: default_journal_mib(),
            max_age_days: default_journal_days(),
        }
    }
}

fn default_journal_mib() -> f64 {
    1024.0
}

fn default_journal_days() -> f64 {
    30.0
}

/// Who decides at this console (journaled with every decision).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// The name to journal decisions under, instead of the OS account's (a shared account).
    #[serde(default)]
    pub name: Option<String>,
}

/// A secret: read from an environment variable or a file, never from the config itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Name of an environment variable that holds it.
    #[serde(default)]
    pub env: Option<String>,
    /// A file that holds it (trailing white space is trimmed).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl SecretRef {
    /// Read the secret; `Ok(None)` when neither source is set. The error names the variable or
    /// file, never the value.
    pub fn read(&self) -> Result<Option<String>, String> {
        if let Some(var) = &self.env {
            return match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_string())),
                _ => Err(format!("environment variable {var} is not set or empty")),
            };
        }
        if let Some(path) = &self.file {
            return crate::files::read_text(path, crate::files::MAX_SECRET_BYTES)
                .map(|v| Some(v.trim().to_string()))
                .map_err(|e| format!("cannot read secret file {}: {e}", path.display()));
        }
        Ok(None)
    }
}

/// A Prometheus server and how to query each signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus.monitoring:9090`.
    pub url: String,
    /// Bearer token (from an env var or a file).
    #[serde(default)]
    pub bearer_token: Option<SecretRef>,
    /// A PEM file with the CA that signs the server's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Request timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Poll interval (the scrape interval), seconds.
    #[serde(default = "default_step")]
    pub step_seconds: f64,
    /// History loaded at start, hours.
    #[serde(default = "default_backfill")]
    pub backfill_hours: f64,
    /// The label whose value names the model.
    #[serde(default = "default_model_label")]
    pub model_label: String,
    /// The label whose value names the namespace (absent: `default_namespace`).
    #[serde(default = "default_namespace_label")]
    pub namespace_label: String,
    /// Namespace for series without a namespace label.
    #[serde(default = "default_namespace")]
    pub default_namespace: String,
    /// Data older than this is stale (no decision is taken on it), seconds.
    #[serde(default = "default_stale")]
    pub stale_after_seconds: f64,
    /// The largest answer read from Prometheus, MiB (a range query whose answer is larger is
    /// asked again in shorter pieces; an instant answer larger is refused with an error).
    #[serde(default = "default_max_answer_mib")]
    pub max_answer_mib: f64,
    /// The most series one query may return (a cardinality limit, well above a 10,000-model
    /// fleet): an answer with more is refused with an error naming the query.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// One PromQL query per signal; each returns one series per model.
    pub queries: SignalQueries,
}

/// Default of [`PrometheusConfig::max_answer_mib`].
pub fn default_max_answer_mib() -> f64 {
    64.0
}

/// Default of [`PrometheusConfig::max_series`].
pub fn default_max_series() -> usize {
    100_000
}

/// PromQL per signal. Request rate is required; the others may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalQueries {
    /// Requests per second.
    pub request_rate: String,
    /// p95 latency in milliseconds.
    #[serde(default)]
    pub latency_p95: Option<String>,
    /// Share of failed requests, 0..1.
    #[serde(default)]
    pub error_rate: Option<String>,
    /// Accuracy, 0..1.
    #[serde(default)]
    pub accuracy: Option<String>,
    /// CPU utilisation of the serving pods, 0..1.
    #[serde(default)]
    pub cpu: Option<String>,
    /// Ready replicas.
    #[serde(default)]
    pub replicas: Option<String>,
}

impl SignalQueries {
    /// The configured queries with their signal.
    pub fn iter(&self) -> impl Iterator<Item = (Signal, &str)> {
        [
            (Signal::RequestRate, Some(self.request_rate.as_str())),
            (Signal::LatencyP95, self.latency_p95.as_deref()),
            (Signal::ErrorRate, self.error_rate.as_deref()),
            (Signal::Accuracy, self.accuracy.as_deref()),
            (Signal::Cpu, self.cpu.as_deref()),
            (Signal::Replicas, self.replicas.as_deref()),
        ]
        .into_iter()
        .filter_map(|(s, q)| q.map(|q| (s, q)))
    }
}

/// The MLflow tracking server that holds the model registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlflowConfig {
    /// Tracking URI, e.g. `http://mlflow.ml:5000`.
    pub tracking_uri: String,
    /// Bearer token (from an env var or a file), when the server wants one.
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// Registered model name for a served model: `{name}` and `{namespace}` are replaced.
    #[serde(default = "default_name_template")]
    pub model_name_template: String,
    /// Alias of the version that serves.
    #[serde(default = "default_champion")]
    pub champion_alias: String,
    /// Alias of the candidate for a canary.
    #[serde(default = "default_challenger")]
    pub challenger_alias: String,
    /// Request timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
}

/// The Kubernetes cluster that serves the models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeConfig {
    /// kubeconfig context (absent: the current one, or in-cluster config).
    #[serde(default)]
    pub context: Option<String>,
    /// Namespace for models whose own namespace is not known.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The Deployment that serves a model: `{name}` and `{namespace}` are replaced.
    #[serde(default = "default_name_template")]
    pub deployment_template: String,
    /// The Deployment of a model's canary (same template rules).
    #[serde(default = "default_canary_template")]
    pub canary_template: String,
    /// The CronJob a model's retraining Job is created from (same template rules).
    #[serde(default = "default_retrain_template")]
    pub retrain_template: String,
    /// The CronJob a model's patch build Job is created from (same template rules): the Job's
    /// containers get the new pins in `PITCREW_PINS`; the build registers the patched version.
    #[serde(default = "default_build_template")]
    pub build_template: String,
    /// Name of the Lease that makes one pitcrew the executor per namespace.
    #[serde(default = "default_lease")]
    pub lease_name: String,
    /// Lease duration, seconds.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u32,
}

/// `pitcrew agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Address for `/metrics` and `/healthz`.
    #[serde(default = "default_listen")]
    pub listen: String,
}

/// Per-model settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Business priority, 1 (highest) to 5.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Fewest replicas.
    #[serde(default)]
    pub min_replicas: u32,
    /// Most replicas (0: no bound).
    #[serde(default)]
    pub max_replicas: u32,
}

fn default_timeout() -> f64 {
    10.0
}
fn default_step() -> f64 {
    15.0
}
fn default_backfill() -> f64 {
    24.0
}
fn default_model_label() -> String {
    "model".into()
}
fn default_namespace_label() -> String {
    "namespace".into()
}
fn default_namespace() -> String {
    "default".into()
}
fn default_stale() -> f64 {
    60.0
}
fn default_name_template() -> String {
    "{name}".into()
}
fn default_canary_template() -> String {
    "{name}-canary".into()
}
fn default_retrain_template() -> String {
    "{name}-retrain".into()
}
fn default_build_template() -> String {
    "{name}-build".into()
}
fn default_champion() -> String {
    "champion".into()
}
fn default_challenger() -> String {
    "challenger".into()
}
fn default_lease() -> String {
    "pitcrew-executor".into()
}
fn default_lease_seconds() -> u32 {
    30
}
fn default_listen() -> String {
    "127.0.0.1:9184".into()
}
fn default_priority() -> u8 {
    3
}

/// Replace `{name}` and `{namespace}` in a template.
pub(crate) fn fill_template(template: &str, namespace: &str, name: &str) -> String {
    template
        .replace("{namespace}", namespace)
        .replace("{name}", name)
}

impl Config {
    /// The deadline policy of findings (`[security.deadline_hours]`, validated at load; the
    /// default policy without one).
    pub fn deadlines(&self) -> crate::domain::Deadlines {
        self.security
            .as_ref()
            .and_then(|s| s.deadline_hours.policy().ok())
            .unwrap_or_default()
    }

    /// The namespaces pitcrew works in on the cluster `k`: those of the configured models
    /// (`namespace/name`), and the cluster's default one; sorted, each once. Each holds its
    /// own Lease.
    pub fn namespaces(&self, k: &KubeConfig) -> Vec<String> {
        let mut ns: Vec<String> = self
            .models
            .keys()
            .filter_map(|key| key.split_once('/').map(|(n, _)| n.to_string()))
            .collect();
        ns.push(k.namespace.clone());
        ns.sort();
        ns.dedup();
        ns
    }

    /// Parse and validate a config text; every problem is located at `file:line:col`.
    pub fn parse(src: &diagnostics::SourceText) -> Result<Config, Vec<diagnostics::Problem>> {
        use diagnostics::Problem;
        // serde stops at the first problem: blank the line it is on and read again, so that
        // one run reports every problem of the file (bounded; a problem that spans lines or
        // sits on a table header stops the search, as blanking it would invent others)
        let mut problems = Vec::new();
        let mut text = src.text.to_string();
        let cfg: Option<Config> = loop {
            match toml::from_str::<Config>(&text) {
                Ok(c) => break Some(c),
                Err(e) => {
                    let span = e.span().unwrap_or(0..0);
                    let msg = e.message().trim().to_string();
                    problems.push(Problem::at_span(src, span.clone(), msg));
                    if problems.len() >= MAX_SCHEMA_PROBLEMS {
                        break None;
                    }
                    match diagnostics::blank_line(&text, span) {
                        Some(t) => text = t,
                        None => break None,
                    }
                }
            }
        };
        let Some(cfg) = cfg else {
            // in the file's order, as an editor lists them
            diagnostics::sort_problems(&mut problems);
            return Err(problems);
        };
        let at = |key: &str| -> std::ops::Range<usize> {
            // the first occurrence of `key =` (good enough to point at the line)
            src.text
                .find(&format!("{key} ="))
                .or_else(|| src.text.find(&format!("{key}=")))
                .map(|i| i..i)
                .unwrap_or(0..0)
        };
        let url_ok = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        if let Some(p) = &cfg.prometheus {
            if !url_ok(&p.url) {
                problems.push(Problem::at_span(
                    src,
                    at("url"),
                    format!(
                        "prometheus.url '{}' must start with http:// or https://",
                        p.url
                    ),
                ));
            }
            for (k, v, lo, hi) in [
                ("timeout_seconds", p.timeout_seconds, 0.1, 600.0),
                ("step_seconds", p.step_seconds, 1.0, 3600.0),
                ("backfill_hours", p.backfill_hours, 0.0, 168.0),
                ("stale_after_seconds", p.stale_after_seconds, 1.0, 86400.0),
                ("max_answer_mib", p.max_answer_mib, 1.0, 4096.0),
                ("max_series", p.max_series as f64, 1.0, 10_000_000.0),
            ] {
                if !(lo..=hi).contains(&v) {
                    problems.push(Problem::at_span(
                        src,
                        at(k),
                        format!("prometheus.{k} = {v} is out of range: use {lo} to {hi}"),
                    ));
                }
            }
            for (signal, q) in p.queries.iter() {
                if q.trim().is_empty() {
                    problems.push(Problem::at_span(
                        src,
                        at(signal.name()),
                        format!(
                            "prometheus.queries.{} is empty: give a PromQL query or remove the key",
                            signal.name()
                        ),
                    ));
                }
            }
            if let Some(s) = &p.bearer_token {
                check_secret(src, &mut problems, "prometheus.bearer_token", s, &at);
            }
        }
        if let Some(m) = &cfg.mlflow {
            if !url_ok(&m.tracking_uri) {
                problems.push(Problem::at_span(
                    src,
                    at("tracking_uri"),
                    format!(
                        "mlflow.tracking_uri '{}' must start with http:// or https:// (pitcrew talks to the REST API)",
                        m.tracking_uri
                    ),
                ));
            }
            if !m.model_name_template.contains("{name}") {
                problems.push(Problem::at_span(
                    src,
                    at("model_name_template"),
                    "mlflow.model_name_template must contain {name}",
                ));
            }
            if let Some(s) = &m.token {
                check_secret(src, &mut problems, "mlflow.token", s, &at);
            }
        }
        if let Some(k) = &cfg.kubernetes {
            for (key, t) in [
                ("deployment_template", &k.deployment_template),
                ("canary_template", &k.canary_template),
                ("retrain_template", &k.retrain_template),
                ("build_template", &k.build_template),
            ] {
                if !t.contains("{name}") {
                    problems.push(Problem::at_span(
                        src,
                        at(key),
                        format!("kubernetes.{key} must contain {{name}}"),
                    ));
                }
            }
            if k.deployment_template == k.canary_template {
                problems.push(Problem::at_span(
                    src,
                    at("canary_template"),
                    "kubernetes.canary_template must differ from deployment_template",
                ));
            }
            if !(5..=3600).contains(&k.lease_seconds) {
                problems.push(Problem::at_span(
                    src,
                    at("lease_seconds"),
                    "kubernetes.lease_seconds must be between 5 and 3600",
                ));
            }
        }
        if let Some(a) = &cfg.agent
            && a.listen.parse::<std::net::SocketAddr>().is_err()
        {
            problems.push(Problem::at_span(
                src,
                at("listen"),
                format!(
                    "agent.listen '{}' is not an address like 0.0.0.0:9184",
                    a.listen
                ),
            ));
        }
        if let Some(sec) = &cfg.security
            && let Err(msg) = sec.deadline_hours.policy()
        {
            problems.push(Problem::at_span(src, at("deadline_hours"), msg));
        }
        if let Some(msg) = cfg.security.as_ref().and_then(|s| s.patch_at_problem()) {
            problems.push(Problem::at_span(src, at("patch_at"), msg));
        }
        for (field, msg) in cfg.guardrails.iter().flat_map(|g| g.problems()) {
            problems.push(Problem::at_span(src, at(field), msg));
        }
        for (key, m) in &cfg.models {
            if key.split('/').count() != 2 {
                problems.push(Problem::at_span(
                    src,
                    at(&format!("[models.\"{key}\"]")),
                    format!("models.\"{key}\": the key must be namespace/name"),
                ));
            }
            if !(1..=5).contains(&m.priority) {
                problems.push(Problem::at_span(
                    src,
                    at("priority"),
                    format!("models.\"{key}\".priority must be 1 (highest) to 5"),
                ));
            }
            if m.max_replicas != 0 && m.max_replicas < m.min_replicas {
                problems.push(Problem::at_span(
                    src,
                    at("max_replicas"),
                    format!("models.\"{key}\": max_replicas is below min_replicas"),
                ));
            }
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            diagnostics::sort_problems(&mut problems);
            Err(problems)
        }
    }

    /// The config in force: `explicit` (which must exist), else `<config dir>/config.toml` when
    /// it exists, else the empty config (the simulated fleet). Returns the file used.
    pub fn resolve(
        explicit: Option<&Path>,
        paths: &Paths,
    ) -> Result<(Config, Option<PathBuf>), Vec<diagnostics::Problem>> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = paths.config_file();
                if !p.exists() {
                    return Ok((Config::default(), None));
                }
                p
            }
        };
        Config::load(&path).map(|c| (c, Some(path)))
    }

    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, Vec<diagnostics::Problem>> {
        let text = crate::files::read_text(path, crate::files::MAX_TEXT_BYTES).map_err(|e| {
            vec![diagnostics::Problem::whole_file(
                path.display().to_string(),
                format!("cannot read the config file: {e}; check the path given to --config"),
            )]
        })?;
        let src = diagnostics::SourceText::new(path.display().to_string(), text.into());
        Config::parse(&src)
    }
}

/// Problems of the config's schema reported at most in one run.
const MAX_SCHEMA_PROBLEMS: usize = 100;

fn check_secret(
    src: &diagnostics::SourceText,
    problems: &mut Vec<diagnostics::Problem>,
    what: &str,
    s: &SecretRef,
    at: &dyn Fn(&str) -> std::ops::Range<usize>,
) {
    let n = usize::from(s.env.is_some()) + usize::from(s.file.is_some());
    if n != 1 {
        problems.push(diagnostics::Problem::at_span(
            src,
            at(what.rsplit('.').next().unwrap_or(what)),
            format!("{what}: give exactly one of env = \"VAR\" or file = \"PATH\""),
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/config/config")
            .join(name)
    }

    #[test]
    fn sample_real_config_is_accepted() {
        let cfg = Config::load(&fixture("config_real.toml")).unwrap();
        let p = cfg.prometheus.as_ref().unwrap();
        assert_eq!(p.step_seconds, 15.0);
        assert_eq!(p.queries.iter().count(), 6);
        assert_eq!(
            cfg.kubernetes.as_ref().unwrap().deployment_template,
            "{name}-server"
        );
        assert_eq!(cfg.models["payments/fraud-scorer"].priority, 1);
        // the models' namespaces and the cluster's default one, each once
        let mut k = cfg.kubernetes.clone().unwrap();
        assert_eq!(cfg.namespaces(&k), ["default", "payments"]);
        k.namespace = "payments".into();
        assert_eq!(cfg.namespaces(&k), ["payments"]);
        let simulated = Config::load(&fixture("config_valid.toml")).unwrap();
        assert!(simulated.prometheus.is_none() && simulated.kubernetes.is_none());
    }

    #[test]
    fn schema_problems_are_located() {
        let problems = Config::load(&fixture("config_bad_schema.toml")).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("config_bad_schema.toml:3:") && t.contains("http://")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains(":4:") && t.contains("step_seconds")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("{name}")), "{text:?}");
        let src = diagnostics::SourceText::new(
            "x.toml",
            "[prometheus]\nurl = 'http://p'\nbogus = 1\n".into(),
        );
        let e = Config::parse(&src).unwrap_err();
        assert!(e.iter().all(|p| p.to_string().contains("x.toml:")), "{e:?}");
        // both problems in one run: the unknown key on line 3 and the missing table
        assert!(
            e.iter().any(|p| p.line == 3 && p.message.contains("bogus")),
            "{e:?}"
        );
        assert!(e.iter().any(|p| p.message.contains("queries")), "{e:?}");
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn secrets_come_from_env_or_file_and_are_not_echoed() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("token");
        std::fs::write(&f, "s3cret\n").unwrap();
        let s = SecretRef {
            env: None,
            file: Some(f),
        };
        assert_eq!(s.read().unwrap().as_deref(), Some("s3cret"));
        let missing = SecretRef {
            env: Some("PITCREW_TEST_SURELY_UNSET_VAR".into()),
            file: None,
        };
        let e = missing.read().unwrap_err();
        assert!(e.contains("PITCREW_TEST_SURELY_UNSET_VAR"), "{e}");
        assert_eq!(SecretRef::default().read().unwrap(), None);
        let both = "[mlflow]\ntracking_uri = 'http://m'\ntoken = { env = 'A', file = '/b' }\n";
        let src = diagnostics::SourceText::new("m.toml", both.into());
        let e = Config::parse(&src).unwrap_err();
        assert!(e[0].message.contains("exactly one"), "{e:?}");
    }

    #[test]
    fn templates_fill() {
        assert_eq!(
            fill_template("{namespace}-{name}-canary", "ns", "m"),
            "ns-m-canary"
        );
    }

    #[test]
    fn retrain_template_defaults_and_must_name_the_model() {
        let src = diagnostics::SourceText::new("k.toml", "[kubernetes]\n".into());
        let k = Config::parse(&src).unwrap().kubernetes.unwrap();
        assert_eq!(k.retrain_template, "{name}-retrain");
        let src = diagnostics::SourceText::new(
            "k.toml",
            "[kubernetes]\nretrain_template = \"train\"\n".into(),
        );
        let e = Config::parse(&src).unwrap_err();
        assert!(
            e.iter().any(|p| p
                .message
                .contains("kubernetes.retrain_template must contain {name}")),
            "{e:?}"
        );
    }

    #[test]
    fn guardrails_and_the_patch_severity_are_read_and_checked_where_they_are_written() {
        let src = diagnostics::SourceText::new(
            "g.toml",
            "[guardrails]\nmax_patches_at_once = 0\ncooldown_secs = 60\n".into(),
        );
        let cfg = Config::parse(&src).unwrap();
        let g = cfg.guardrails.unwrap();
        assert_eq!((g.max_patches_at_once, g.cooldown_secs), (0, 60.0));
        assert_eq!(
            g.max_fleet_per_hour, 10,
            "what is left out keeps its default"
        );
        let src = diagnostics::SourceText::new(
            "g.toml",
            "[security]\npatch_at = \"unknown\"\n\n[guardrails]\nmax_blast_share = 2\n".into(),
        );
        let e = Config::parse(&src).unwrap_err();
        let at = |m: &str| {
            e.iter()
                .find(|p| p.message.contains(m))
                .map(|p| (p.line, p.message.clone()))
        };
        assert_eq!(at("patch_at").map(|x| x.0), Some(2), "{e:?}");
        assert_eq!(
            at("max_blast_share"),
            Some((
                5,
                "guardrails.max_blast_share must be within (0, 1]".to_string()
            ))
        );
    }
}
