//! The MLflow model registry: a typed client for its REST API (`/api/2.0/mlflow/...`) and the
//! registry logic pitcrew builds on it (champion, rollback target, canary candidates with their
//! logged metrics, promotion and rollback by moving aliases).
//!
//! Stages are deprecated since MLflow 2.9; pitcrew uses **aliases** only:
//!
//! - `champion` (config `champion_alias`): the version that serves;
//! - `challenger` (config `challenger_alias`): the candidate for a canary;
//! - `previous-champion` ([`PREVIOUS_CHAMPION_ALIAS`]): set by [`Registry::promote`] to the
//!   champion it replaced, so that [`Registry::rollback`] goes back exactly there.
//!
//! Tags pitcrew writes on model versions: [`TAG_PROMOTED_AT`] (unix ms, when pitcrew made it the
//! champion) and [`TAG_ROLLED_BACK_AT`] (unix ms, when pitcrew rolled back away from it; such a
//! version is no longer a candidate nor a rollback target).
//!
//! Every request has the configured timeout. Timeouts, connect errors, HTTP 5xx and 429 are
//! retried with exponential backoff and jitter ([`RetryPolicy`], bounded: at most
//! [`MlflowClient::worst_case`] per call); other 4xx and malformed replies are not. Errors name
//! the method, the URL, the model and version, MLflow's `error_code` and `message`, and what to
//! check.

use crate::config::{MlflowConfig, fill_template};
use crate::engine::{Change, Event};
use crate::fleet::ModelMeta;
use crate::remediate::{Action, Actuator};
use backon::{ExponentialBuilder, Retryable};
use futures::future::BoxFuture;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Alias that [`Registry::promote`] points at the champion it replaces.
pub const PREVIOUS_CHAMPION_ALIAS: &str = "previous-champion";
/// Version tag: unix ms when pitcrew made this version the champion.
pub const TAG_PROMOTED_AT: &str = "pitcrew.promoted_at";
/// Version tag: unix ms when pitcrew rolled back away from this version.
pub const TAG_ROLLED_BACK_AT: &str = "pitcrew.rolled_back_at";

/// Run metric keys read as the candidate's offline accuracy (0..1), first present wins.
pub const ACCURACY_KEYS: &[&str] = &["accuracy", "val_accuracy", "test_accuracy", "acc"];
/// Run metric keys read as p95 latency in milliseconds, first present wins.
pub const LATENCY_KEYS: &[&str] = &["latency_p95_ms", "p95_latency_ms", "latency_ms", "latency"];
/// Run metric keys read as error rate (0..1), first present wins.
pub const ERROR_RATE_KEYS: &[&str] = &["error_rate", "errors"];

/// Page size for searches (MLflow allows up to 1000 registered models and 200000 versions).
const PAGE_SIZE: u32 = 200;
/// At most this many pages per search; more is an error rather than an endless loop.
const MAX_PAGES: usize = 500;
/// Longest excerpt of a non-JSON error body kept in an error.
const BODY_EXCERPT: usize = 200;

/// What went wrong talking to MLflow or in the registry logic.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// The `[mlflow]` config cannot be used.
    #[error("mlflow config: {0}")]
    Config(String),
    /// MLflow answered with its error JSON (`error_code`, `message`).
    #[error("MLflow {method} {url} ({what}): {code}: {message} (HTTP {status}){}", hint_for(.code, *.status))]
    Api {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// Model / version / run concerned.
        what: String,
        /// HTTP status.
        status: u16,
        /// MLflow `error_code`, e.g. `RESOURCE_DOES_NOT_EXIST`.
        code: String,
        /// MLflow `message`.
        message: String,
    },
    /// An HTTP error without MLflow's error JSON (a proxy, a different server).
    #[error("MLflow {method} {url} ({what}): HTTP {status}: {body}{}", hint_for("", *.status))]
    Http {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// Model / version / run concerned.
        what: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// No complete answer within the timeout.
    #[error(
        "MLflow {method} {url} ({what}): no answer within {seconds} s; check that the tracking server at mlflow.tracking_uri is up, or raise mlflow.timeout_seconds"
    )]
    Timeout {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// Model / version / run concerned.
        what: String,
        /// The timeout.
        seconds: f64,
    },
    /// Could not connect, or the connection broke.
    #[error(
        "MLflow {method} {url} ({what}): {detail}; check that the tracking server at mlflow.tracking_uri is running and reachable"
    )]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// Model / version / run concerned.
        what: String,
        /// What the HTTP client said.
        detail: String,
    },
    /// A 2xx reply that is not the JSON expected.
    #[error(
        "MLflow {method} {url} ({what}): the reply is not the JSON expected: {detail}; is mlflow.tracking_uri an MLflow tracking server (2.9 or later)?"
    )]
    Decode {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// Model / version / run concerned.
        what: String,
        /// The parse error.
        detail: String,
    },
    /// A search returned more pages than pitcrew reads.
    #[error(
        "MLflow {url} ({what}): more than {pages} pages of results; narrow the search (each page has {PAGE_SIZE})"
    )]
    TooManyPages {
        /// Search URL.
        url: String,
        /// What was searched.
        what: String,
        /// Pages read.
        pages: usize,
    },
    /// A retryable error persisted through every retry.
    #[error("{last} (gave up after {attempts} attempts)")]
    GaveUp {
        /// Attempts made.
        attempts: usize,
        /// The last error.
        #[source]
        last: Box<MlflowError>,
    },
    /// The registered model has no champion alias.
    #[error(
        "MLflow registered model '{model}' has no '{alias}' alias; set it to the serving version (MLflow UI or `MlflowClient::set_alias`)"
    )]
    NoChampion {
        /// Registered model.
        model: String,
        /// The champion alias.
        alias: String,
    },
    /// Nothing to roll back to.
    #[error(
        "MLflow registered model '{model}': no version to roll back to below champion version {champion} (none is READY, not archived and not rolled back)"
    )]
    NoRollbackTarget {
        /// Registered model.
        model: String,
        /// Champion version.
        champion: u64,
    },
    /// A version that cannot be promoted.
    #[error(
        "MLflow registered model '{model}' version {version} is {status}, not READY; it cannot be promoted"
    )]
    NotReady {
        /// Registered model.
        model: String,
        /// Version.
        version: u64,
        /// Its status.
        status: String,
    },
}

impl MlflowError {
    /// Worth trying again: timeouts, connection problems, HTTP 5xx and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            MlflowError::Timeout { .. } | MlflowError::Transport { .. } => true,
            MlflowError::Api { status, .. } | MlflowError::Http { status, .. } => {
                *status >= 500 || *status == 429
            }
            _ => false,
        }
    }

    /// MLflow's `error_code`, if MLflow sent one (looks through [`MlflowError::GaveUp`]).
    pub fn error_code(&self) -> Option<&str> {
        match self {
            MlflowError::Api { code, .. } => Some(code),
            MlflowError::GaveUp { last, .. } => last.error_code(),
            _ => None,
        }
    }

    /// The thing asked for does not exist (`RESOURCE_DOES_NOT_EXIST` or HTTP 404).
    pub fn is_not_found(&self) -> bool {
        match self {
            MlflowError::Api { code, status, .. } => {
                code == "RESOURCE_DOES_NOT_EXIST" || *status == 404
            }
            MlflowError::Http { status, .. } => *status == 404,
            MlflowError::GaveUp { last, .. } => last.is_not_found(),
            _ => false,
        }
    }

    /// The server could not be reached (down, too slow, failing).
    pub fn is_unavailable(&self) -> bool {
        match self {
            MlflowError::GaveUp { .. } => true,
            e => e.is_retryable(),
        }
    }

    /// MLflow's answer for an alias that is not set. MLflow 2.x/3.x answer
    /// `INVALID_PARAMETER_VALUE: Registered model alias X not found.` (HTTP 400); a missing
    /// registered model is a different message and stays an error.
    fn is_alias_missing(&self) -> bool {
        match self {
            MlflowError::Api { code, message, .. } => {
                let m = message.to_ascii_lowercase();
                (code == "INVALID_PARAMETER_VALUE" || code == "RESOURCE_DOES_NOT_EXIST")
                    && m.contains("alias")
                    && m.contains("not found")
            }
            _ => false,
        }
    }
}

/// How failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: usize,
    /// Delay before the first retry (doubling, plus up to 100 % jitter).
    pub min_delay: Duration,
    /// Longest delay between attempts (before jitter).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Longest total wait between attempts (jitter included).
    pub fn max_total_delay(&self) -> Duration {
        let mut d = self.min_delay;
        let mut total = Duration::ZERO;
        for _ in 0..self.retries {
            total = total.saturating_add(d.min(self.max_delay).saturating_mul(2));
            d = d.saturating_mul(2);
        }
        total
    }
}

// ---------------------------------------------------------------------------------------------
// Wire types (MLflow's protobuf JSON: int64 as numbers or strings, missing fields allowed).

fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not an integer"))),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("'{s}' is not an integer"))),
        Some(v) => Err(serde::de::Error::custom(format!("{v} is not an integer"))),
    }
}

fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(f64::NAN),
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => s
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("'{s}' is not a number"))),
        },
        Some(v) => Err(serde::de::Error::custom(format!("{v} is not a number"))),
    }
}

/// A key/value tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// An alias of a registered model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelAlias {
    /// Alias, e.g. `champion`.
    pub alias: String,
    /// Version it points at.
    pub version: String,
}

/// A registered model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    /// Name.
    pub name: String,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub creation_timestamp: i64,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub last_updated_timestamp: i64,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Latest version per stage (MLflow's own summary).
    #[serde(default)]
    pub latest_versions: Vec<ModelVersion>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Aliases.
    #[serde(default)]
    pub aliases: Vec<ModelAlias>,
}

impl RegisteredModel {
    /// The version an alias points at.
    pub fn alias(&self, alias: &str) -> Option<u64> {
        self.aliases
            .iter()
            .find(|a| a.alias == alias)
            .and_then(|a| a.version.parse().ok())
    }
}

/// A model version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// Registered model name.
    pub name: String,
    /// Version (a decimal number as a string).
    pub version: String,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub creation_timestamp: i64,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub last_updated_timestamp: i64,
    /// Deprecated stage (`None`, `Staging`, `Production`, `Archived`).
    #[serde(default)]
    pub current_stage: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Artifact source.
    #[serde(default)]
    pub source: String,
    /// Run that produced it.
    #[serde(default)]
    pub run_id: String,
    /// `PENDING_REGISTRATION`, `FAILED_REGISTRATION` or `READY`.
    #[serde(default)]
    pub status: String,
    /// Status detail.
    #[serde(default)]
    pub status_message: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Aliases pointing here.
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl ModelVersion {
    /// The version number (None when MLflow sent something that is not a number).
    pub fn number(&self) -> Option<u64> {
        self.version.parse().ok()
    }

    /// A tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// Registration finished.
    pub fn is_ready(&self) -> bool {
        self.status.is_empty() || self.status == "READY"
    }

    /// In the (deprecated) `Archived` stage.
    pub fn is_archived(&self) -> bool {
        self.current_stage.eq_ignore_ascii_case("archived")
    }

    /// pitcrew rolled back away from it.
    pub fn is_rolled_back(&self) -> bool {
        self.tag(TAG_ROLLED_BACK_AT).is_some()
    }

    /// pitcrew promoted it at some point (it has served).
    pub fn has_served(&self) -> bool {
        self.tag(TAG_PROMOTED_AT).is_some()
    }

    /// May serve: READY, not archived, not rolled back.
    pub fn is_eligible(&self) -> bool {
        self.is_ready() && !self.is_archived() && !self.is_rolled_back()
    }
}

/// A logged metric (its latest value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Key.
    pub key: String,
    /// Value (NaN when MLflow sent none).
    #[serde(default, deserialize_with = "de_f64")]
    pub value: f64,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub timestamp: i64,
    /// Step.
    #[serde(default, deserialize_with = "de_i64")]
    pub step: i64,
}

/// A run parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// A run's metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run id.
    #[serde(default)]
    pub run_id: String,
    /// Experiment id.
    #[serde(default)]
    pub experiment_id: String,
    /// Run name.
    #[serde(default)]
    pub run_name: String,
    /// `RUNNING`, `FINISHED`, `FAILED`, …
    #[serde(default)]
    pub status: String,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub start_time: i64,
    /// Unix ms (0 while running).
    #[serde(default, deserialize_with = "de_i64")]
    pub end_time: i64,
    /// `active` or `deleted`.
    #[serde(default)]
    pub lifecycle_stage: String,
}

/// What a run logged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    /// Latest value of each metric.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Parameters.
    #[serde(default)]
    pub params: Vec<Param>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A tracking run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Metadata.
    #[serde(default)]
    pub info: RunInfo,
    /// Metrics, params, tags.
    #[serde(default)]
    pub data: RunData,
}

impl Run {
    /// A metric's latest value.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.data
            .metrics
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.value)
            .filter(|v| v.is_finite())
    }
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// Token for the next page (None: last page).
    pub next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ModelsPage {
    #[serde(default)]
    registered_models: Vec<RegisteredModel>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct VersionsPage {
    #[serde(default)]
    model_versions: Vec<ModelVersion>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct OneModel {
    registered_model: RegisteredModel,
}

#[derive(Deserialize)]
struct OneVersion {
    model_version: ModelVersion,
}

#[derive(Deserialize)]
struct OneRun {
    run: Run,
}

#[derive(Deserialize)]
struct Empty {}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: String,
    #[serde(default)]
    message: String,
}

// ---------------------------------------------------------------------------------------------
// The client.

/// A typed client for MLflow's REST API.
#[derive(Clone)]
pub struct MlflowClient {
    http: reqwest::Client,
    api: Url,
    health: Url,
    token: Option<String>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl std::fmt::Debug for MlflowClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowClient")
            .field("api", &self.api.as_str())
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// A request to make.
struct Req<'a> {
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    body: Option<Value>,
    what: &'a str,
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "request",
    }
}

fn hint_for(code: &str, status: u16) -> &'static str {
    match (code, status) {
        ("RESOURCE_DOES_NOT_EXIST", _) | (_, 404) => {
            "; check the registered model name (mlflow.model_name_template), the version and the run in the MLflow registry"
        }
        ("PERMISSION_DENIED" | "UNAUTHENTICATED", _) | (_, 401 | 403) => {
            "; check the token (mlflow.token) and its permissions on this model"
        }
        ("INVALID_PARAMETER_VALUE", _) => "; the server refused the request as invalid",
        (_, 429) => "; the server throttles requests (retried)",
        (_, s) if s >= 500 => "; the tracking server failed (retried); see its log",
        _ => "",
    }
}

/// A filter string literal for MLflow's search syntax.
fn quote(value: &str) -> Result<String, MlflowError> {
    if !value.contains('\'') {
        Ok(format!("'{value}'"))
    } else if !value.contains('"') {
        Ok(format!("\"{value}\""))
    } else {
        Err(MlflowError::Config(format!(
            "registered model name {value:?} contains both quote characters; MLflow's search cannot express it"
        )))
    }
}

fn unix_ms_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    ms.to_string()
}

impl MlflowClient {
    /// From the `[mlflow]` config: the tracking URI, the token (read now from its env var or
    /// file) and the timeout. Retries follow [`RetryPolicy::default`].
    pub fn new(cfg: &MlflowConfig) -> Result<Self, MlflowError> {
        let token = match &cfg.token {
            Some(s) => s
                .read()
                .map_err(|e| MlflowError::Config(format!("mlflow.token: {e}")))?,
            None => None,
        };
        Self::with_token(&cfg.tracking_uri, token, cfg.timeout_seconds)
    }

    /// From a tracking URI, an optional bearer token and a timeout in seconds.
    pub fn with_token(
        tracking_uri: &str,
        token: Option<String>,
        timeout_seconds: f64,
    ) -> Result<Self, MlflowError> {
        if !(timeout_seconds.is_finite() && timeout_seconds > 0.0 && timeout_seconds <= 3600.0) {
            return Err(MlflowError::Config(format!(
                "mlflow.timeout_seconds is {timeout_seconds}; give a number of seconds between 0 and 3600"
            )));
        }
        let base = tracking_uri.trim().trim_end_matches('/');
        let parsed = Url::parse(base).map_err(|e| {
            MlflowError::Config(format!(
                "mlflow.tracking_uri is not a URL ({e}); give e.g. http://mlflow.ml:5000 (a password in it must be percent-encoded)"
            ))
        })?;
        let shown = crate::redact::url_of(&parsed);
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(MlflowError::Config(format!(
                "mlflow.tracking_uri '{shown}' must be an http:// or https:// URL with a host"
            )));
        }
        let token = token.filter(|t| !t.is_empty());
        if token.is_some() && (!parsed.username().is_empty() || parsed.password().is_some()) {
            return Err(MlflowError::Config(format!(
                "mlflow.tracking_uri '{shown}' carries a user name and password and mlflow.token is set too: give one credential (only one would be sent)"
            )));
        }
        let join = |p: &str| {
            Url::parse(&format!("{base}/{p}"))
                .map_err(|e| MlflowError::Config(format!("mlflow.tracking_uri '{shown}': {e}")))
        };
        let api = join("api/2.0/mlflow/")?;
        let health = join("health")?;
        let timeout = Duration::from_secs_f64(timeout_seconds);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("pitcrew/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MlflowError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(MlflowClient {
            http,
            api,
            health,
            token,
            timeout,
            retry: RetryPolicy::default(),
        })
    }

    /// Use another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Longest a call can take: every attempt timing out, plus the delays between them.
    pub fn worst_case(&self) -> Duration {
        self.timeout
            .saturating_mul(self.retry.retries as u32 + 1)
            .saturating_add(self.retry.max_total_delay())
    }

    /// The API base, `<tracking_uri>/api/2.0/mlflow/`.
    pub fn api_base(&self) -> &str {
        self.api.as_str()
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, MlflowError> {
        let mut url = self.api.join(path).map_err(|e| {
            MlflowError::Config(format!("cannot form the URL {}{path}: {e}", self.api))
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// One attempt.
    async fn once<T: DeserializeOwned>(&self, url: &Url, req: &Req<'_>) -> Result<T, MlflowError> {
        let method = method_name(&req.method);
        let mut rb = self.http.request(req.method.clone(), url.clone());
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = &req.body {
            rb = rb.json(b);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                MlflowError::Timeout {
                    method,
                    url: crate::redact::url_of(url),
                    what: req.what.to_string(),
                    seconds: self.timeout.as_secs_f64(),
                }
            } else {
                let mut detail = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    detail.push_str(": ");
                    detail.push_str(&s.to_string());
                    src = s.source();
                }
                MlflowError::Transport {
                    method,
                    url: crate::redact::url_of(url),
                    what: req.what.to_string(),
                    detail,
                }
            }
        };
        let resp = rb.send().await.map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        if status.is_success() {
            let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
                &b"{}"[..]
            } else {
                &bytes[..]
            };
            return serde_json::from_slice(bytes).map_err(|e| MlflowError::Decode {
                method,
                url: crate::redact::url_of(url),
                what: req.what.to_string(),
                detail: e.to_string(),
            });
        }
        Err(error_from(method, url, req.what, status, &bytes))
    }

    /// A request with retries.
    async fn call<T: DeserializeOwned>(&self, req: Req<'_>) -> Result<T, MlflowError> {
        let url = self.url(req.path, req.query)?;
        let attempts = AtomicUsize::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.retries)
            .with_jitter();
        let result = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.once::<T>(&url, &req)
        })
        .retry(backoff)
        .when(MlflowError::is_retryable)
        .notify(|e, d| tracing::debug!("MLflow: {e}; retrying in {d:?}"))
        .await;
        let n = attempts.load(Ordering::Relaxed);
        result.map_err(|e| {
            if e.is_retryable() && n > 1 {
                MlflowError::GaveUp {
                    attempts: n,
                    last: Box::new(e),
                }
            } else {
                e
            }
        })
    }

    /// `GET /health`: the server answers (one attempt, no retries).
    pub async fn health(&self) -> Result<(), MlflowError> {
        let resp = self.http.get(self.health.clone()).send().await;
        let what = "health check";
        match resp {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let status = r.status();
                let body = r.bytes().await.unwrap_or_default();
                Err(error_from("GET", &self.health, what, status, &body))
            }
            Err(e) if e.is_timeout() => Err(MlflowError::Timeout {
                method: "GET",
                url: crate::redact::url_of(&self.health),
                what: what.into(),
                seconds: self.timeout.as_secs_f64(),
            }),
            Err(e) => Err(MlflowError::Transport {
                method: "GET",
                url: crate::redact::url_of(&self.health),
                what: what.into(),
                detail: e.to_string(),
            }),
        }
    }

    /// One page of `GET registered-models/search`.
    pub async fn search_registered_models_page(
        &self,
        filter: Option<&str>,
        max_results: u32,
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>, MlflowError> {
        let max = max_results.to_string();
        let mut q = vec![("max_results", max.as_str())];
        if let Some(f) = filter {
            q.push(("filter", f));
        }
        if let Some(p) = page_token {
            q.push(("page_token", p));
        }
        let what = match filter {
            Some(f) => format!("registered models matching {f}"),
            None => "registered models".to_string(),
        };
        let page: ModelsPage = self
            .call(Req {
                method: Method::GET,
                path: "registered-models/search",
                query: &q,
                body: None,
                what: &what,
            })
            .await?;
        Ok(Page {
            items: page.registered_models,
            next_page_token: page.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// Every registered model (optionally matching an MLflow filter such as
    /// `name LIKE 'fraud%'`), following `next_page_token`.
    pub async fn search_registered_models(
        &self,
        filter: Option<&str>,
    ) -> Result<Vec<RegisteredModel>, MlflowError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .search_registered_models_page(filter, PAGE_SIZE, token.as_deref())
                .await?;
            out.extend(page.items);
            match page.next_page_token {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => return Ok(out),
            }
        }
        Err(MlflowError::TooManyPages {
            url: self.api.join("registered-models/search").map_or_else(
                |_| crate::redact::url_of(&self.api),
                |u| crate::redact::url_of(&u),
            ),
            what: "registered models".into(),
            pages: MAX_PAGES,
        })
    }

    /// `GET registered-models/get`: with its aliases, tags and latest versions.
    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel, MlflowError> {
        let what = format!("model '{name}'");
        let r: OneModel = self
            .call(Req {
                method: Method::GET,
                path: "registered-models/get",
                query: &[("name", name)],
                body: None,
                what: &what,
            })
            .await?;
        Ok(r.registered_model)
    }

    /// One page of `GET model-versions/search` with an MLflow filter (e.g. `name='fraud'`).
    pub async fn search_model_versions_page(
        &self,
        filter: &str,
        max_results: u32,
        page_token: Option<&str>,
    ) -> Result<Page<ModelVersion>, MlflowError> {
        let max = max_results.to_string();
        let mut q = vec![("filter", filter), ("max_results", max.as_str())];
        if let Some(p) = page_token {
            q.push(("page_token", p));
        }
        let what = format!("model versions matching {filter}");
        let page: VersionsPage = self
            .call(Req {
                method: Method::GET,
                path: "model-versions/search",
                query: &q,
                body: None,
                what: &what,
            })
            .await?;
        Ok(Page {
            items: page.model_versions,
            next_page_token: page.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// Every version of a registered model, following `next_page_token`.
    pub async fn search_model_versions(
        &self,
        name: &str,
    ) -> Result<Vec<ModelVersion>, MlflowError> {
        self.search_model_versions_paged(name, PAGE_SIZE).await
    }

    /// [`Self::search_model_versions`] with a page size (tests use small pages).
    pub async fn search_model_versions_paged(
        &self,
        name: &str,
        page_size: u32,
    ) -> Result<Vec<ModelVersion>, MlflowError> {
        let filter = format!("name={}", quote(name)?);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .search_model_versions_page(&filter, page_size.max(1), token.as_deref())
                .await?;
            out.extend(page.items);
            match page.next_page_token {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => return Ok(out),
            }
        }
        Err(MlflowError::TooManyPages {
            url: self.api.join("model-versions/search").map_or_else(
                |_| crate::redact::url_of(&self.api),
                |u| crate::redact::url_of(&u),
            ),
            what: format!("versions of model '{name}'"),
            pages: MAX_PAGES,
        })
    }

    /// `GET model-versions/get`.
    pub async fn get_model_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<ModelVersion, MlflowError> {
        let what = format!("model '{name}' version {version}");
        let r: OneVersion = self
            .call(Req {
                method: Method::GET,
                path: "model-versions/get",
                query: &[("name", name), ("version", version)],
                body: None,
                what: &what,
            })
            .await?;
        Ok(r.model_version)
    }

    /// `GET registered-models/alias`: the version an alias points at; `None` when the alias is
    /// not set (a missing model is an error).
    pub async fn get_model_version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<Option<ModelVersion>, MlflowError> {
        let what = format!("model '{name}' alias '{alias}'");
        let r: Result<OneVersion, _> = self
            .call(Req {
                method: Method::GET,
                path: "registered-models/alias",
                query: &[("name", name), ("alias", alias)],
                body: None,
                what: &what,
            })
            .await;
        match r {
            Ok(v) => Ok(Some(v.model_version)),
            Err(e) if e.is_alias_missing() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A request that changes the registry and answers nothing (`{}`).
    async fn write(
        &self,
        method: Method,
        path: &str,
        body: Value,
        what: &str,
    ) -> Result<(), MlflowError> {
        let _: Empty = self
            .call(Req {
                method,
                path,
                query: &[],
                body: Some(body),
                what,
            })
            .await?;
        Ok(())
    }

    /// `POST registered-models/alias`: point `alias` at `version`.
    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<(), MlflowError> {
        let what = format!("model '{name}' version {version}, setting alias '{alias}'");
        self.write(
            Method::POST,
            "registered-models/alias",
            json!({ "name": name, "alias": alias, "version": version }),
            &what,
        )
        .await
    }

    /// `DELETE registered-models/alias` (MLflow answers success when it was not set).
    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), MlflowError> {
        let what = format!("model '{name}', deleting alias '{alias}'");
        self.write(
            Method::DELETE,
            "registered-models/alias",
            json!({ "name": name, "alias": alias }),
            &what,
        )
        .await
    }

    /// `POST model-versions/set-tag`.
    pub async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        let what = format!("model '{name}' version {version}, setting tag '{key}'");
        self.write(
            Method::POST,
            "model-versions/set-tag",
            json!({ "name": name, "version": version, "key": key, "value": value }),
            &what,
        )
        .await
    }

    /// `DELETE model-versions/delete-tag`.
    pub async fn delete_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<(), MlflowError> {
        let what = format!("model '{name}' version {version}, deleting tag '{key}'");
        self.write(
            Method::DELETE,
            "model-versions/delete-tag",
            json!({ "name": name, "version": version, "key": key }),
            &what,
        )
        .await
    }

    /// `GET runs/get`: the run with its logged metrics (latest value per key).
    pub async fn get_run(&self, run_id: &str) -> Result<Run, MlflowError> {
        let what = format!("run {run_id}");
        let r: OneRun = self
            .call(Req {
                method: Method::GET,
                path: "runs/get",
                query: &[("run_id", run_id)],
                body: None,
                what: &what,
            })
            .await?;
        Ok(r.run)
    }
}

fn error_from(
    method: &'static str,
    url: &Url,
    what: &str,
    status: StatusCode,
    body: &[u8],
) -> MlflowError {
    let code = status.as_u16();
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => MlflowError::Api {
            method,
            url: crate::redact::url_of(url),
            what: what.to_string(),
            status: code,
            code: e.error_code,
            message: e.message,
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let mut excerpt: String = text.trim().chars().take(BODY_EXCERPT).collect();
            if text.trim().chars().count() > BODY_EXCERPT {
                excerpt.push('…');
            }
            if excerpt.is_empty() {
                excerpt = status.canonical_reason().unwrap_or("no body").to_string();
            }
            MlflowError::Http {
                method,
                url: crate::redact::url_of(url),
                what: what.to_string(),
                status: code,
                body: excerpt,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Registry logic (pure).

/// A run's logged metrics that matter for a canary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Offline accuracy, 0..1 ([`ACCURACY_KEYS`]).
    pub accuracy: Option<f64>,
    /// p95 latency, ms ([`LATENCY_KEYS`]).
    pub latency_p95_ms: Option<f64>,
    /// Error rate, 0..1 ([`ERROR_RATE_KEYS`]).
    pub error_rate: Option<f64>,
}

impl RunMetrics {
    /// Read from a run: for each, the first key present with a finite value.
    pub fn from_run(run: &Run) -> Self {
        let first = |keys: &[&str]| keys.iter().find_map(|k| run.metric(k));
        RunMetrics {
            accuracy: first(ACCURACY_KEYS),
            latency_p95_ms: first(LATENCY_KEYS),
            error_rate: first(ERROR_RATE_KEYS),
        }
    }
}

/// A candidate beats the champion when both logged an accuracy and the candidate's is strictly
/// higher (a tie is not better; no accuracy, no verdict).
pub fn is_better(candidate: Option<f64>, champion: Option<f64>) -> bool {
    match (candidate, champion) {
        (Some(c), Some(ch)) => c.is_finite() && ch.is_finite() && c > ch,
        _ => false,
    }
}

/// The version to roll back to from `champion`:
///
/// 1. the version the `previous-champion` alias names (`previous_alias`), when it is not the
///    champion and still eligible (READY, not archived, not rolled back) — [`Registry::promote`]
///    recorded it, so this is exact (it may even be newer than the champion, when a human
///    promoted an older version);
/// 2. otherwise the highest eligible version below the champion that has served (pitcrew
///    promoted it: tag [`TAG_PROMOTED_AT`]);
/// 3. otherwise the highest eligible version below the champion.
///
/// `None` when no version qualifies.
pub fn rollback_target(
    champion: u64,
    previous_alias: Option<u64>,
    versions: &[ModelVersion],
) -> Option<u64> {
    let find = |n: u64| versions.iter().find(|v| v.number() == Some(n));
    if let Some(p) = previous_alias
        && p != champion
        && find(p).is_some_and(ModelVersion::is_eligible)
    {
        return Some(p);
    }
    let below = || {
        versions
            .iter()
            .filter(|v| v.is_eligible())
            .filter_map(|v| v.number().map(|n| (n, v)))
            .filter(|(n, _)| *n < champion)
    };
    below()
        .filter(|(_, v)| v.has_served())
        .map(|(n, _)| n)
        .max()
        .or_else(|| below().map(|(n, _)| n).max())
}

/// Candidates for a canary, highest first: the `challenger` alias's version and every version
/// newer than the champion, each eligible (READY, not archived, not rolled back) and not the
/// champion. With no champion every eligible version is a candidate.
pub fn candidate_versions(
    champion: Option<u64>,
    challenger: Option<u64>,
    versions: &[ModelVersion],
) -> Vec<u64> {
    let mut out: Vec<u64> = versions
        .iter()
        .filter(|v| v.is_eligible())
        .filter_map(ModelVersion::number)
        .filter(|&n| Some(n) != champion)
        .filter(|&n| Some(n) == challenger || champion.is_none_or(|c| n > c))
        .collect();
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    out
}

/// The version string pitcrew's engine uses for an MLflow version (`v{n}`).
pub fn engine_version(version: u64) -> String {
    format!("v{version}")
}

/// A candidate version with what its run logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Version.
    pub version: u64,
    /// The run that produced it (empty when none).
    pub run_id: String,
    /// Its run's metrics (all `None` when it has no run).
    pub metrics: RunMetrics,
    /// The challenger alias points at it.
    pub challenger: bool,
    /// Its accuracy beats the champion's ([`is_better`]).
    pub better: bool,
}

/// A registered model as the playbooks see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryState {
    /// Registered model name.
    pub model: String,
    /// The champion version (None when the alias is not set).
    pub champion: Option<u64>,
    /// The champion's run metrics.
    pub champion_metrics: RunMetrics,
    /// The challenger alias's version.
    pub challenger: Option<u64>,
    /// The `previous-champion` alias's version.
    pub previous_champion: Option<u64>,
    /// Where [`Registry::rollback`] would go ([`rollback_target`]).
    pub rollback_to: Option<u64>,
    /// Canary candidates, highest version first.
    pub candidates: Vec<Candidate>,
}

impl RegistryState {
    /// The best candidate that beats the champion: the challenger if it is better, else the
    /// better candidate with the highest accuracy (then the highest version).
    pub fn best_candidate(&self) -> Option<&Candidate> {
        let better = || self.candidates.iter().filter(|c| c.better);
        better().find(|c| c.challenger).or_else(|| {
            better().max_by(|a, b| {
                let (x, y) = (a.metrics.accuracy, b.metrics.accuracy);
                x.partial_cmp(&y)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.version.cmp(&b.version))
            })
        })
    }
}

/// What [`Registry::promote`] or [`Registry::rollback`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasMove {
    /// Registered model.
    pub model: String,
    /// Champion before.
    pub from: Option<u64>,
    /// Champion now.
    pub to: u64,
    /// False when it already was the champion.
    pub changed: bool,
}

impl std::fmt::Display for AliasMove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.from, self.changed) {
            (_, false) => write!(f, "{} version {} already champion", self.model, self.to),
            (Some(from), true) => write!(
                f,
                "{} champion moved from version {from} to {}",
                self.model, self.to
            ),
            (None, true) => write!(f, "{} champion set to version {}", self.model, self.to),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Registry (client + aliases).

/// The registry logic on an [`MlflowClient`] with the configured aliases.
#[derive(Debug, Clone)]
pub struct Registry {
    client: MlflowClient,
    template: String,
    champion_alias: String,
    challenger_alias: String,
    previous_alias: String,
}

impl Registry {
    /// From the `[mlflow]` config.
    pub fn new(cfg: &MlflowConfig) -> Result<Self, MlflowError> {
        Ok(Self::with_client(MlflowClient::new(cfg)?, cfg))
    }

    /// On a client built elsewhere, with the config's template and aliases.
    pub fn with_client(client: MlflowClient, cfg: &MlflowConfig) -> Self {
        Registry {
            client,
            template: cfg.model_name_template.clone(),
            champion_alias: cfg.champion_alias.clone(),
            challenger_alias: cfg.challenger_alias.clone(),
            previous_alias: PREVIOUS_CHAMPION_ALIAS.to_string(),
        }
    }

    /// The client.
    pub fn client(&self) -> &MlflowClient {
        &self.client
    }

    /// The registered model name of a served model (`model_name_template`).
    pub fn registered_name(&self, namespace: &str, name: &str) -> String {
        fill_template(&self.template, namespace, name)
    }

    /// The champion alias.
    pub fn champion_alias(&self) -> &str {
        &self.champion_alias
    }

    /// The challenger alias.
    pub fn challenger_alias(&self) -> &str {
        &self.challenger_alias
    }

    /// The champion version of a registered model (None when the alias is not set).
    pub async fn champion(&self, model: &str) -> Result<Option<ModelVersion>, MlflowError> {
        self.client
            .get_model_version_by_alias(model, &self.champion_alias)
            .await
    }

    async fn run_metrics(&self, run_id: &str) -> Result<RunMetrics, MlflowError> {
        if run_id.is_empty() {
            return Ok(RunMetrics::default());
        }
        match self.client.get_run(run_id).await {
            Ok(run) => Ok(RunMetrics::from_run(&run)),
            // A deleted run: no metrics, not a broken registry.
            Err(e) if e.is_not_found() => Ok(RunMetrics::default()),
            Err(e) => Err(e),
        }
    }

    /// The registered model's champion, challenger, rollback target and candidates with their
    /// run metrics.
    pub async fn state(&self, model: &str) -> Result<RegistryState, MlflowError> {
        let rm = self.client.get_registered_model(model).await?;
        let versions = self.client.search_model_versions(model).await?;
        let champion = rm.alias(&self.champion_alias);
        let challenger = rm.alias(&self.challenger_alias);
        let previous = rm.alias(&self.previous_alias);
        let run_of = |n: u64| {
            versions
                .iter()
                .find(|v| v.number() == Some(n))
                .map(|v| v.run_id.clone())
                .unwrap_or_default()
        };
        let champion_metrics = match champion {
            Some(c) => self.run_metrics(&run_of(c)).await?,
            None => RunMetrics::default(),
        };
        let mut candidates = Vec::new();
        for n in candidate_versions(champion, challenger, &versions) {
            let run_id = run_of(n);
            let metrics = self.run_metrics(&run_id).await?;
            candidates.push(Candidate {
                version: n,
                run_id,
                better: is_better(metrics.accuracy, champion_metrics.accuracy),
                metrics,
                challenger: Some(n) == challenger,
            });
        }
        Ok(RegistryState {
            model: model.to_string(),
            champion,
            champion_metrics,
            challenger,
            previous_champion: previous,
            rollback_to: champion.and_then(|c| rollback_target(c, previous, &versions)),
            candidates,
        })
    }

    /// Make `version` the champion: `previous-champion` is pointed at the old champion first,
    /// then `champion` at `version`, and the version is tagged [`TAG_PROMOTED_AT`] (and loses
    /// [`TAG_ROLLED_BACK_AT`]). The version must exist and be READY. Promoting the champion
    /// changes nothing. Should a step fail, the ones before it stay done; each is safe alone
    /// (`previous-champion` pointing at the still-serving champion is ignored by rollback).
    pub async fn promote(&self, model: &str, version: u64) -> Result<AliasMove, MlflowError> {
        let v = version.to_string();
        let target = self.client.get_model_version(model, &v).await?;
        if !target.is_ready() {
            return Err(MlflowError::NotReady {
                model: model.to_string(),
                version,
                status: target.status,
            });
        }
        let from = self.champion(model).await?.and_then(|c| c.number());
        if from == Some(version) {
            return Ok(AliasMove {
                model: model.to_string(),
                from,
                to: version,
                changed: false,
            });
        }
        if let Some(old) = from {
            self.client
                .set_alias(model, &self.previous_alias, &old.to_string())
                .await?;
        }
        self.client
            .set_alias(model, &self.champion_alias, &v)
            .await?;
        self.client
            .set_model_version_tag(model, &v, TAG_PROMOTED_AT, &unix_ms_now())
            .await?;
        if target.is_rolled_back() {
            // promoted again on purpose (e.g. the undo of a rollback): it may serve again
            self.client
                .delete_model_version_tag(model, &v, TAG_ROLLED_BACK_AT)
                .await?;
        }
        Ok(AliasMove {
            model: model.to_string(),
            from,
            to: version,
            changed: true,
        })
    }

    /// Move `champion` back ([`rollback_target`]): the old champion is tagged
    /// [`TAG_ROLLED_BACK_AT`] (no longer a candidate), `champion` points at the target and
    /// `previous-champion` is removed (it was used up).
    pub async fn rollback(&self, model: &str) -> Result<AliasMove, MlflowError> {
        let champion = self
            .champion(model)
            .await?
            .and_then(|c| c.number())
            .ok_or_else(|| MlflowError::NoChampion {
                model: model.to_string(),
                alias: self.champion_alias.clone(),
            })?;
        let previous = self
            .client
            .get_model_version_by_alias(model, &self.previous_alias)
            .await?
            .and_then(|v| v.number());
        let versions = self.client.search_model_versions(model).await?;
        let to = rollback_target(champion, previous, &versions).ok_or_else(|| {
            MlflowError::NoRollbackTarget {
                model: model.to_string(),
                champion,
            }
        })?;
        self.client
            .set_model_version_tag(
                model,
                &champion.to_string(),
                TAG_ROLLED_BACK_AT,
                &unix_ms_now(),
            )
            .await?;
        self.client
            .set_alias(model, &self.champion_alias, &to.to_string())
            .await?;
        self.client
            .delete_alias(model, &self.previous_alias)
            .await?;
        Ok(AliasMove {
            model: model.to_string(),
            from: Some(champion),
            to,
            changed: true,
        })
    }

    /// Point the challenger alias at `version` (a canary started on it).
    pub async fn set_challenger(&self, model: &str, version: u64) -> Result<(), MlflowError> {
        self.client
            .set_alias(model, &self.challenger_alias, &version.to_string())
            .await
    }
}

// ---------------------------------------------------------------------------------------------
// Engine events.

/// What one [`CandidateWatch::poll`] found.
#[derive(Debug, Default)]
pub struct RegistryPoll {
    /// Events to send to the engine, in order: one `Event::Models` with the models whose
    /// champion differs from their `version` (if any), then `Change::CandidateRegistered`
    /// for each candidate not reported before.
    pub events: Vec<Event>,
    /// Per model (`namespace/name`) that could not be read, why (a model that is not
    /// registered gives an error with [`MlflowError::is_not_found`]).
    pub errors: Vec<(String, MlflowError)>,
}

/// Turns the registry's state into engine events, reporting each candidate once.
#[derive(Debug, Default, Clone)]
pub struct CandidateWatch {
    seen: HashSet<(String, u64)>,
}

impl CandidateWatch {
    /// Nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a candidate of a model (`namespace/name`) has been reported.
    pub fn has_seen(&self, key: &str, version: u64) -> bool {
        self.seen.contains(&(key.to_string(), version))
    }

    /// Read the registry for every model (index = position in `models`, the engine's order) and
    /// return the events for what is new at time `t`. A candidate is reported once its run has
    /// logged an accuracy (until then it is looked at again on the next poll).
    pub async fn poll(
        &mut self,
        registry: &Registry,
        models: &[ModelMeta],
        t: f64,
    ) -> RegistryPoll {
        let mut updated = Vec::new();
        let mut changes = Vec::new();
        let mut errors = Vec::new();
        for (i, meta) in models.iter().enumerate() {
            let Ok(index) = u32::try_from(i) else { break };
            let key = meta.key();
            let name = registry.registered_name(&meta.namespace, &meta.name);
            let state = match registry.state(&name).await {
                Ok(s) => s,
                Err(e) => {
                    errors.push((key, e));
                    continue;
                }
            };
            let (meta_update, new) = self.diff(&key, meta, &state);
            if let Some(m) = meta_update {
                updated.push(m);
            }
            for (version, accuracy) in new {
                changes.push(Event::Change {
                    t,
                    model: index,
                    change: Change::CandidateRegistered {
                        version: engine_version(version),
                        accuracy,
                    },
                });
            }
        }
        let mut events = Vec::new();
        if !updated.is_empty() {
            events.push(Event::Models { t, models: updated });
        }
        events.extend(changes);
        RegistryPoll { events, errors }
    }

    /// Pure part of [`Self::poll`]: the model's meta with the champion's version when it
    /// differs, and the candidates (version, accuracy) to report now (marked seen).
    pub fn diff(
        &mut self,
        key: &str,
        meta: &ModelMeta,
        state: &RegistryState,
    ) -> (Option<ModelMeta>, Vec<(u64, f64)>) {
        let update = state.champion.map(engine_version).and_then(|v| {
            (v != meta.version).then(|| ModelMeta {
                version: v,
                ..meta.clone()
            })
        });
        let mut new = Vec::new();
        for c in &state.candidates {
            let Some(acc) = c.metrics.accuracy else {
                continue;
            };
            if self.seen.insert((key.to_string(), c.version)) {
                new.push((c.version, acc));
            }
        }
        (update, new)
    }
}

// ---------------------------------------------------------------------------------------------
// Actuator.

/// Carries out the registry side of actions by moving aliases: `Rollback` →
/// [`Registry::rollback`]; `Canary { version, share: 1.0 }` → [`Registry::promote`]; a canary
/// stage below 1.0 points the challenger alias at the version; `share: 0` (traffic off) changes
/// nothing in the registry. Traffic itself is the serving platform's (Kubernetes) job; scale,
/// restart and retrain are not registry actions and are refused.
#[derive(Debug, Clone)]
pub struct RegistryActuator {
    registry: Registry,
}

impl RegistryActuator {
    /// On a registry.
    pub fn new(registry: Registry) -> Self {
        RegistryActuator { registry }
    }

    /// Carry out `action` on the served model `key` (`namespace/name`).
    pub async fn apply(&self, key: &str, action: &Action) -> Result<String, MlflowError> {
        let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
        let model = self.registry.registered_name(namespace, name);
        match action {
            Action::Rollback => Ok(self.registry.rollback(&model).await?.to_string()),
            Action::Canary { version, share } if *share >= 1.0 => Ok(self
                .registry
                .promote(&model, u64::from(*version))
                .await?
                .to_string()),
            Action::Canary { version, share } if *share > 0.0 => {
                self.registry
                    .set_challenger(&model, u64::from(*version))
                    .await?;
                Ok(format!(
                    "{model} alias '{}' set to version {version}",
                    self.registry.challenger_alias()
                ))
            }
            Action::Canary { .. } => Ok(format!("{model}: registry unchanged (traffic off)")),
            other => Err(MlflowError::Config(format!(
                "{other:?} is not a registry action; the MLflow actuator only moves aliases (rollback, canary, promote)"
            ))),
        }
    }
}

impl Actuator for RegistryActuator {
    fn name(&self) -> &str {
        "mlflow registry"
    }

    fn dry_run(&self) -> bool {
        false
    }

    fn execute<'a>(
        &'a self,
        _index: u32,
        key: &'a str,
        action: &'a Action,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { self.apply(key, action).await.map_err(|e| e.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> ModelVersion {
        ModelVersion {
            name: "m".into(),
            version: n.to_string(),
            status: "READY".into(),
            current_stage: "None".into(),
            run_id: format!("run{n}"),
            ..Default::default()
        }
    }

    fn tagged(n: u64, key: &str) -> ModelVersion {
        let mut x = v(n);
        x.tags.push(Tag {
            key: key.into(),
            value: "1".into(),
        });
        x
    }

    fn archived(n: u64) -> ModelVersion {
        let mut x = v(n);
        x.current_stage = "Archived".into();
        x
    }

    #[test]
    fn rollback_prefers_the_recorded_previous_champion() {
        let vs = vec![v(1), v(2), v(3), v(4), v(5)];
        assert_eq!(rollback_target(5, Some(2), &vs), Some(2));
        // the alias pointing at the champion itself is ignored
        assert_eq!(rollback_target(5, Some(5), &vs), Some(4));
        // a recorded previous that was archived or rolled back since is not used
        let vs2 = vec![v(1), archived(2), v(3), v(5)];
        assert_eq!(rollback_target(5, Some(2), &vs2), Some(3));
        let vs3 = vec![v(1), tagged(2, TAG_ROLLED_BACK_AT), v(5)];
        assert_eq!(rollback_target(5, Some(2), &vs3), Some(1));
        // an alias to a version that no longer exists
        assert_eq!(rollback_target(5, Some(9), &vs), Some(4));
    }

    #[test]
    fn rollback_without_alias_prefers_versions_that_served() {
        let vs = vec![
            tagged(1, TAG_PROMOTED_AT),
            tagged(2, TAG_PROMOTED_AT),
            v(3), // registered, never served
            v(4),
            tagged(5, TAG_PROMOTED_AT),
        ];
        assert_eq!(rollback_target(5, None, &vs), Some(2));
        // nothing served: the highest eligible below
        let vs = vec![v(1), archived(3), v(2), v(6)];
        assert_eq!(rollback_target(6, None, &vs), Some(2));
        // not READY does not count
        let mut pending = v(4);
        pending.status = "PENDING_REGISTRATION".into();
        assert_eq!(rollback_target(6, None, &[v(1), pending.clone()]), Some(1));
        // nothing below
        assert_eq!(rollback_target(1, None, &[v(1), v(2)]), None);
        assert_eq!(rollback_target(3, None, &[]), None);
        // newer versions are never rollback targets
        assert_eq!(rollback_target(2, None, &[v(2), v(3), v(4)]), None);
    }

    #[test]
    fn candidates_are_challenger_and_newer_eligible_versions() {
        let vs = vec![
            v(1),
            v(2),
            v(3),
            v(4),
            archived(5),
            tagged(6, TAG_ROLLED_BACK_AT),
            v(7),
        ];
        assert_eq!(candidate_versions(Some(3), None, &vs), vec![7, 4]);
        // an older challenger is a candidate too
        assert_eq!(candidate_versions(Some(3), Some(2), &vs), vec![7, 4, 2]);
        // the challenger on the champion is not
        assert_eq!(candidate_versions(Some(3), Some(3), &vs), vec![7, 4]);
        // an archived challenger is not
        assert_eq!(candidate_versions(Some(3), Some(5), &vs), vec![7, 4]);
        // no champion: every eligible version
        assert_eq!(candidate_versions(None, None, &vs), vec![7, 4, 3, 2, 1]);
        // champion is the newest: none
        assert!(candidate_versions(Some(7), None, &vs).is_empty());
    }

    #[test]
    fn better_means_strictly_higher_logged_accuracy() {
        assert!(is_better(Some(0.91), Some(0.90)));
        assert!(!is_better(Some(0.90), Some(0.90)));
        assert!(!is_better(Some(0.89), Some(0.90)));
        assert!(!is_better(None, Some(0.5)));
        assert!(!is_better(Some(0.9), None));
        assert!(!is_better(Some(f64::NAN), Some(0.5)));
    }

    #[test]
    fn run_metrics_take_the_first_key_present() {
        let run: Run = serde_json::from_value(json!({
            "info": {"run_id": "r", "start_time": "1700000000000"},
            "data": {"metrics": [
                {"key": "val_accuracy", "value": 0.8, "timestamp": 1, "step": 0},
                {"key": "accuracy", "value": 0.93, "timestamp": 1, "step": 0},
                {"key": "latency_ms", "value": 120.0},
                {"key": "error_rate", "value": "NaN"}
            ]}
        }))
        .expect("run json");
        assert_eq!(run.info.start_time, 1_700_000_000_000);
        let m = RunMetrics::from_run(&run);
        assert_eq!(m.accuracy, Some(0.93));
        assert_eq!(m.latency_p95_ms, Some(120.0));
        assert_eq!(m.error_rate, None, "NaN is no value");
    }

    #[test]
    fn best_candidate_prefers_a_better_challenger() {
        let cand = |version, acc, challenger, better| Candidate {
            version,
            run_id: String::new(),
            metrics: RunMetrics {
                accuracy: Some(acc),
                ..Default::default()
            },
            challenger,
            better,
        };
        let mut s = RegistryState {
            model: "m".into(),
            champion: Some(3),
            champion_metrics: RunMetrics {
                accuracy: Some(0.9),
                ..Default::default()
            },
            challenger: Some(4),
            previous_champion: None,
            rollback_to: None,
            candidates: vec![
                cand(6, 0.95, false, true),
                cand(5, 0.97, false, true),
                cand(4, 0.92, true, true),
            ],
        };
        assert_eq!(s.best_candidate().map(|c| c.version), Some(4));
        s.candidates[2].better = false;
        assert_eq!(s.best_candidate().map(|c| c.version), Some(5));
        s.candidates.iter_mut().for_each(|c| c.better = false);
        assert_eq!(s.best_candidate(), None);
    }

    fn meta(version: &str) -> ModelMeta {
        ModelMeta {
            name: "fraud".into(),
            namespace: "risk".into(),
            version: version.into(),
            priority: 3,
            size_gb: 0.0,
            complexity: 0.0,
            min_replicas: 0,
            max_replicas: 0,
        }
    }

    #[test]
    fn watch_reports_each_candidate_once_and_the_champion_version() {
        let mut w = CandidateWatch::new();
        let mut state = RegistryState {
            model: "fraud".into(),
            champion: Some(3),
            champion_metrics: RunMetrics::default(),
            challenger: None,
            previous_champion: None,
            rollback_to: None,
            candidates: vec![
                Candidate {
                    version: 5,
                    run_id: "r5".into(),
                    metrics: RunMetrics::default(), // no accuracy yet
                    challenger: false,
                    better: false,
                },
                Candidate {
                    version: 4,
                    run_id: "r4".into(),
                    metrics: RunMetrics {
                        accuracy: Some(0.93),
                        ..Default::default()
                    },
                    challenger: false,
                    better: true,
                },
            ],
        };
        let (upd, new) = w.diff("risk/fraud", &meta("v2"), &state);
        assert_eq!(upd.map(|m| m.version), Some("v3".to_string()));
        assert_eq!(new, vec![(4, 0.93)]);
        assert!(w.has_seen("risk/fraud", 4));
        assert!(!w.has_seen("risk/fraud", 5));
        // same state again: nothing new; the meta already says v3
        let (upd, new) = w.diff("risk/fraud", &meta("v3"), &state);
        assert!(upd.is_none());
        assert!(new.is_empty());
        // version 5's run logs its accuracy: reported now
        state.candidates[0].metrics.accuracy = Some(0.95);
        let (_, new) = w.diff("risk/fraud", &meta("v3"), &state);
        assert_eq!(new, vec![(5, 0.95)]);
        // the same version of another model is its own candidate
        let (_, new) = w.diff("risk/other", &meta("v3"), &state);
        assert_eq!(new.len(), 2);
    }

    #[test]
    fn errors_classify_and_name_url_and_model() {
        let url =
            Url::parse("http://127.0.0.1:1/api/2.0/mlflow/model-versions/get?name=m&version=9")
                .expect("url");
        let body = br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Model Version (name=m, version=9) not found"}"#;
        let e = error_from(
            "GET",
            &url,
            "model 'm' version 9",
            StatusCode::NOT_FOUND,
            body,
        );
        assert!(e.is_not_found());
        assert!(!e.is_retryable());
        assert_eq!(e.error_code(), Some("RESOURCE_DOES_NOT_EXIST"));
        let s = e.to_string();
        assert!(s.contains(url.as_str()), "{s}");
        assert!(s.contains("model 'm' version 9"), "{s}");
        assert!(s.contains("RESOURCE_DOES_NOT_EXIST"), "{s}");
        assert!(s.contains("model_name_template"), "{s}");

        let e = error_from(
            "GET",
            &url,
            "x",
            StatusCode::BAD_GATEWAY,
            b"<html>bad gateway</html>",
        );
        assert!(e.is_retryable());
        assert!(matches!(e, MlflowError::Http { status: 502, .. }));
        let e = error_from("GET", &url, "x", StatusCode::UNAUTHORIZED, b"");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("mlflow.token"), "{e}");

        let alias = error_from(
            "GET",
            &url,
            "x",
            StatusCode::BAD_REQUEST,
            br#"{"error_code":"INVALID_PARAMETER_VALUE","message":"Registered model alias champion not found."}"#,
        );
        assert!(alias.is_alias_missing());
        let model = error_from(
            "GET",
            &url,
            "x",
            StatusCode::NOT_FOUND,
            br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registered Model with name=x not found"}"#,
        );
        assert!(!model.is_alias_missing());
        let wrapped = MlflowError::GaveUp {
            attempts: 4,
            last: Box::new(model),
        };
        assert!(wrapped.is_not_found() && wrapped.is_unavailable());
        assert!(wrapped.to_string().ends_with("(gave up after 4 attempts)"));
    }

    #[test]
    fn config_problems_are_errors_not_panics() {
        for t in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e12] {
            let e = MlflowClient::with_token("http://127.0.0.1:5000", None, t)
                .expect_err("bad timeout");
            assert!(e.to_string().contains("timeout_seconds"), "{e}");
        }
        for u in ["", "mlflow:5000", "ftp://x", "http://"] {
            assert!(MlflowClient::with_token(u, None, 1.0).is_err(), "{u}");
        }
        let c =
            MlflowClient::with_token("http://127.0.0.1:5000/prefix/", Some("s3cret".into()), 2.0)
                .expect("client");
        assert_eq!(c.api_base(), "http://127.0.0.1:5000/prefix/api/2.0/mlflow/");
        assert!(!format!("{c:?}").contains("s3cret"));
        let cfg = MlflowConfig {
            tracking_uri: "http://127.0.0.1:5000".into(),
            token: Some(crate::config::SecretRef {
                env: Some("PITCREW_TEST_MLFLOW_TOKEN_THAT_IS_NOT_SET".into()),
                file: None,
            }),
            model_name_template: "{namespace}-{name}".into(),
            champion_alias: "champion".into(),
            challenger_alias: "challenger".into(),
            timeout_seconds: 1.0,
        };
        let e = MlflowClient::new(&cfg).expect_err("token env missing");
        assert!(
            e.to_string()
                .contains("PITCREW_TEST_MLFLOW_TOKEN_THAT_IS_NOT_SET"),
            "{e}"
        );
        assert!(quote("it's").expect("quote") == "\"it's\"");
        assert!(quote("a'b\"c").is_err());
    }

    #[test]
    fn worst_case_is_bounded_by_timeout_times_attempts_plus_delays() {
        let c = MlflowClient::with_token("http://127.0.0.1:5000", None, 2.0)
            .expect("client")
            .with_retry(RetryPolicy {
                retries: 2,
                min_delay: Duration::from_millis(100),
                max_delay: Duration::from_millis(150),
            });
        // 3 attempts × 2 s + (100 + 150) ms × 2 jitter
        assert_eq!(c.worst_case(), Duration::from_millis(6500));
    }
}
