//! Prometheus as a source: a thin typed client over reqwest for the HTTP API
//! (`/api/v1/query`, `/api/v1/query_range`), retries with exponential backoff and jitter, a
//! circuit breaker, and the source task that backfills history, polls live and replays a past
//! window (history mode).
//!
//! How the source behaves (the engine judges data age by itself from [`Event::Clock`]):
//! - **Start**: `Backfilling{progress}` while every configured signal is read with
//!   `query_range` over `backfill_hours` at `step_seconds`, in chunks of at most
//!   [`POINTS_PER_REQUEST`] points per series (Prometheus refuses more than 11,000); then
//!   `Live`.
//! - **Live**: at every step boundary (wall clock, aligned to a multiple of `step_seconds`) each
//!   signal's instant `query` runs at that aligned time and one `Observations` event carries
//!   every model's merged [`Sample`]; an `Event::Clock` goes out every second.
//! - **Failures**: one request is retried at most [`RETRIES`] times with exponential backoff and
//!   jitter when the error is retryable (time-out, connection, 5xx, 429). A round in which every
//!   query failed sends `Down{error}` at once (the first failed round, not only once the breaker
//!   opens: by then the retries have already been spent). The circuit breaker opens after
//!   [`BREAKER_THRESHOLD`] consecutive failed requests; while open no request is sent; after a
//!   cool-down (starting at one step, doubling with jitter up to [`MAX_COOLDOWN`]) one probe
//!   goes out (half-open). On the first good round the gap since the last data is backfilled
//!   with `query_range` and `Live` is sent again.
//! - **Partial results**: a query that fails while others answer, and warnings or infos in the
//!   API's answer, are logged (tracing) and shown in the status label (`… warning: …`), so they
//!   stay visible in the status bar and in the Events screen; the data that did arrive is used.
//! - **Values**: `"NaN"`, `"+Inf"` and `"-Inf"` (and any non-finite value) become NaN (missing)
//!   in the [`Sample`]. A model whose every signal is missing at a time gets no sample then (so
//!   it ages and goes stale rather than looking fresh with nothing in it).
//! - **History mode** (`range = Some((from, to))`): read-only replay of a past window —
//!   `query_range` over `[from - backfill, from]` as backfill, then `[from, to]` emitted paced
//!   at `speed` × real time (clock events carry that replay time), then `Finished`.
//!
//! Models are announced (`Event::Models`) the first time a series names them, in index order;
//! indices are this source's, so it must be the engine's only source of models. A series is
//! mapped to `namespace/name` from `model_label` and `namespace_label` (else
//! `default_namespace`); priority and replica bounds come from the `models` config, the version
//! from a `version` label (else `unknown`; with one series per version, the version with the
//! most traffic at the latest time). When several series of one query map to one model (per
//! pod, per version), request rate and replicas are summed; for the other signals the first is
//! kept and a warning says to aggregate `by (namespace, model)`. Models named in the `models`
//! config but absent from the data are not announced.

use crate::config::{ModelConfig, PrometheusConfig};
use crate::engine::{Event, SourceKind, SourceState, SourceStatus};
use crate::fleet::{ModelMeta, Sample, Signal};
use crate::sources::pace::{Pace, PacedClock};
use crate::sources::resolution::{data_resolution, step_warning};
use backon::{BackoffBuilder, ExponentialBuilder};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Prometheus's own limit of points per series in one `query_range`.
pub const MAX_POINTS: usize = 11_000;
/// Points per series asked for in one `query_range` (below [`MAX_POINTS`]).
pub const POINTS_PER_REQUEST: usize = 10_000;
/// Retries of one request after its first attempt (retryable errors only).
pub const RETRIES: usize = 2;
/// Consecutive failed requests that open the circuit breaker.
pub const BREAKER_THRESHOLD: u32 = 5;
/// Longest cool-down of the open breaker before jitter, seconds.
pub const MAX_COOLDOWN: f64 = 300.0;
/// Priority of a model the `models` config does not name.
const DEFAULT_PRIORITY: u8 = 3;
/// Longest status label (the status bar is narrow).
const LABEL_MAX: usize = 100;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What went wrong talking to Prometheus. Every message names the URL and the query.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// The client could not be built from the config (token, CA file, URL).
    #[error("Prometheus client for {url}: {detail}")]
    Config {
        /// Base URL.
        url: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// No answer within the time-out (retryable).
    #[error(
        "Prometheus at {url} did not answer within {timeout_s} s (query `{query}`); the server is slow or overloaded: raise prometheus.timeout_seconds or simplify the query"
    )]
    Timeout {
        /// Endpoint.
        url: String,
        /// PromQL.
        query: String,
        /// Time-out, seconds.
        timeout_s: f64,
    },
    /// The connection failed (retryable).
    #[error(
        "cannot reach Prometheus at {url} (query `{query}`): {detail}; check that the server is up and prometheus.url is right"
    )]
    Connect {
        /// Endpoint.
        url: String,
        /// PromQL.
        query: String,
        /// Cause.
        detail: String,
    },
    /// A server-side failure: 5xx, 429, or the API's `timeout`/`canceled`/`unavailable`/
    /// `internal` error types (retryable).
    #[error("Prometheus at {url} failed with HTTP {status} (query `{query}`): {message}")]
    Server {
        /// Endpoint.
        url: String,
        /// PromQL.
        query: String,
        /// HTTP status.
        status: u16,
        /// The API's `errorType: error`, or the start of the body.
        message: String,
    },
    /// 400 `bad_data`: the query or its parameters are wrong (not retryable).
    #[error(
        "Prometheus at {url} rejected query `{query}` as bad data: {message}; fix the query in prometheus.queries"
    )]
    BadData {
        /// Endpoint.
        url: String,
        /// PromQL.
        query: String,
        /// The API's error text.
        message: String,
    },
    /// 422 `execution`: the query could not be evaluated (not retryable).
    #[error("Prometheus at {url} could not execute query `{query}`: {message}")]
    Execution {
        /// Endpoint.
        url: String,
        /// PromQL.
        query: String,
        /// The API's error text.
        message: String,
    },
    /// Another answer that is not success (e.g. 401/403/404; not retryable).
    #[error("Prometheus at {url} answered HTTP {status} to query `{query}`: {message}{hint}")]
    Rejected {
        /// Endpoint.
        url: String,
        /// PromQL.
        query: String,
        /// HTTP status.
        status: u16,
        /// The API's error, or the start of the body.
        message: String,
        /// What to do.
        hint: &'static str,
    },
    /// The answer is not the API's JSON (its own kind; not retried at once, but it counts
    /// against the breaker).
    #[error(
        "Prometheus at {url} sent a malformed answer to query `{query}`: {detail}; is prometheus.url a Prometheus server (not a proxy's error page)?"
    )]
    Malformed {
        /// Endpoint.
        url: String,
        /// PromQL.
        query: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The circuit breaker is open: no request was sent.
    #[error(
        "not asking Prometheus at {url} (query `{query}`): circuit open after repeated failures, next try in {retry_in_s:.0} s"
    )]
    CircuitOpen {
        /// Base URL.
        url: String,
        /// PromQL.
        query: String,
        /// Seconds until the half-open probe.
        retry_in_s: f64,
    },
}

impl PromError {
    /// Worth retrying soon (time-outs, connection failures, 5xx, 429, Prometheus unavailable).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PromError::Timeout { .. } | PromError::Connect { .. } | PromError::Server { .. }
        )
    }

    /// Says the server is not healthy (counts against the circuit breaker): retryable errors and
    /// malformed answers. A 400/422 is a healthy server refusing a bad query.
    pub fn is_server_fault(&self) -> bool {
        self.is_retryable() || matches!(self, PromError::Malformed { .. })
    }
}

// ---------------------------------------------------------------------------------------------
// The API's JSON
// ---------------------------------------------------------------------------------------------

/// `data.resultType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultType {
    /// Instant vector.
    Vector,
    /// Range vector.
    Matrix,
    /// One number.
    Scalar,
    /// One string (no numbers: no series).
    String,
}

/// One series: its labels and its points `(unix seconds, value)`; non-finite values are NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels (`__name__` included when present).
    pub labels: BTreeMap<String, String>,
    /// Points in the order the server sent them.
    pub points: Vec<(f64, f64)>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// What kind of result.
    pub result_type: ResultType,
    /// The series (a scalar is one series without labels).
    pub series: Vec<Series>,
    /// `warnings` (e.g. partial results).
    pub warnings: Vec<String>,
    /// `infos`.
    pub infos: Vec<String>,
}

/// A parsed body: success, or the API's error.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiBody {
    /// `status: success`.
    Success(QueryResult),
    /// `status: error`.
    Error {
        /// `errorType`.
        error_type: String,
        /// `error`.
        error: String,
    },
}

/// Parse a sample value as Prometheus writes it (`"1.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
/// Non-finite values come back as NaN (missing); `None` when it is not a number.
pub fn parse_value(s: &str) -> Option<f64> {
    let v = match s {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" | "-Inf" => f64::NAN,
        _ => s.trim().parse::<f64>().ok()?,
    };
    Some(if v.is_finite() { v } else { f64::NAN })
}

fn parse_point(v: &serde_json::Value) -> Result<(f64, f64), String> {
    let arr = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("a point is not [time, \"value\"]: {}", clip(&v.to_string())))?;
    let t = match &arr[0] {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    }
    .filter(|t| t.is_finite())
    .ok_or_else(|| {
        format!(
            "a point's time is not a number: {}",
            clip(&arr[0].to_string())
        )
    })?;
    let val = match &arr[1] {
        serde_json::Value::String(s) => parse_value(s),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "a point's value is not a number in a string: {}",
            clip(&arr[1].to_string())
        )
    })?;
    Ok((t, val))
}

fn parse_labels(v: Option<&serde_json::Value>) -> Result<BTreeMap<String, String>, String> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| "a series' \"metric\" is not an object".to_string())?;
    obj.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_string()))
                .ok_or_else(|| format!("label {k} is not a string"))
        })
        .collect()
}

fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Parse an API answer body. `Err` says why it is not the API's JSON.
pub fn parse_body(body: &[u8]) -> Result<ApiBody, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "the answer is not a JSON object".to_string())?;
    let status = obj
        .get("status")
        .and_then(|s| s.as_str())
        .ok_or_else(|| "no \"status\" in the answer".to_string())?;
    match status {
        "success" => {}
        "error" => {
            return Ok(ApiBody::Error {
                error_type: obj
                    .get("errorType")
                    .and_then(|s| s.as_str())
                    .unwrap_or("unknown")
                    .to_string(),
                error: obj
                    .get("error")
                    .and_then(|s| s.as_str())
                    .unwrap_or("(no error message)")
                    .to_string(),
            });
        }
        other => return Err(format!("unknown status {:?}", clip(other))),
    }
    let warnings = strings(obj.get("warnings"));
    let infos = strings(obj.get("infos"));
    let data = obj
        .get("data")
        .and_then(|d| d.as_object())
        .ok_or_else(|| "no \"data\" object in a success answer".to_string())?;
    let rt = data
        .get("resultType")
        .and_then(|s| s.as_str())
        .ok_or_else(|| "no data.resultType".to_string())?;
    let result = data
        .get("result")
        .ok_or_else(|| "no data.result".to_string())?;
    let (result_type, series) = match rt {
        "vector" | "matrix" => {
            let is_vector = rt == "vector";
            let items = result
                .as_array()
                .ok_or_else(|| format!("data.result of a {rt} is not an array"))?;
            let mut series = Vec::with_capacity(items.len());
            for it in items {
                let labels = parse_labels(it.get("metric"))?;
                let points = if is_vector {
                    match it.get("value") {
                        Some(p) => vec![parse_point(p)?],
                        // a native histogram sample ("histogram"): no float value
                        None if it.get("histogram").is_some() => Vec::new(),
                        None => return Err("a vector sample has no \"value\"".into()),
                    }
                } else {
                    match it.get("values") {
                        Some(ps) => ps
                            .as_array()
                            .ok_or_else(|| "a series' \"values\" is not an array".to_string())?
                            .iter()
                            .map(parse_point)
                            .collect::<Result<Vec<_>, _>>()?,
                        None if it.get("histograms").is_some() => Vec::new(),
                        None => return Err("a matrix series has no \"values\"".into()),
                    }
                };
                series.push(Series { labels, points });
            }
            let t = if is_vector {
                ResultType::Vector
            } else {
                ResultType::Matrix
            };
            (t, series)
        }
        "scalar" => (
            ResultType::Scalar,
            vec![Series {
                labels: BTreeMap::new(),
                points: vec![parse_point(result)?],
            }],
        ),
        "string" => (ResultType::String, Vec::new()),
        other => return Err(format!("unknown resultType {:?}", clip(other))),
    };
    Ok(ApiBody::Success(QueryResult {
        result_type,
        series,
        warnings,
        infos,
    }))
}

fn clip(s: &str) -> String {
    const N: usize = 160;
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= N {
        one_line
    } else {
        let mut t: String = one_line.chars().take(N).collect();
        t.push('…');
        t
    }
}

/// Turn an HTTP status and body into a result (pure; `url` and `query` go into the errors).
pub fn interpret(
    status: u16,
    body: &[u8],
    url: &str,
    query: &str,
) -> Result<QueryResult, PromError> {
    let parsed = parse_body(body);
    let q = || query.to_string();
    let u = || url.to_string();
    match parsed {
        Ok(ApiBody::Success(r)) if (200..300).contains(&status) => Ok(r),
        Ok(ApiBody::Success(_)) | Ok(ApiBody::Error { .. }) | Err(_)
            if status >= 500 || status == 429 =>
        {
            let message = match parsed {
                Ok(ApiBody::Error { error_type, error }) => format!("{error_type}: {error}"),
                _ => clip(&String::from_utf8_lossy(body)),
            };
            Err(PromError::Server {
                url: u(),
                query: q(),
                status,
                message,
            })
        }
        Ok(ApiBody::Error { error_type, error }) => match error_type.as_str() {
            "bad_data" => Err(PromError::BadData {
                url: u(),
                query: q(),
                message: error,
            }),
            "execution" => Err(PromError::Execution {
                url: u(),
                query: q(),
                message: error,
            }),
            "timeout" | "canceled" | "unavailable" | "internal" => Err(PromError::Server {
                url: u(),
                query: q(),
                status,
                message: format!("{error_type}: {error}"),
            }),
            _ => Err(PromError::Rejected {
                url: u(),
                query: q(),
                status,
                message: format!("{error_type}: {error}"),
                hint: hint(status),
            }),
        },
        Err(detail) if (200..300).contains(&status) => Err(PromError::Malformed {
            url: u(),
            query: q(),
            detail,
        }),
        Ok(ApiBody::Success(_)) | Err(_) => Err(PromError::Rejected {
            url: u(),
            query: q(),
            status,
            message: clip(&String::from_utf8_lossy(body)),
            hint: hint(status),
        }),
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "; check prometheus.bearer_token",
        404 => "; check prometheus.url (it is the server's base URL, without /api/v1)",
        _ => "",
    }
}

/// `url` without user name and password (they never go into messages).
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

/// The short label of a source at `url`: `prometheus host:port`.
pub fn source_label(url: &str) -> String {
    let r = redact_url(url);
    let rest = r.split_once("://").map_or(r.as_str(), |(_, x)| x);
    let host = rest.split('/').next().unwrap_or(rest);
    format!("prometheus {host}")
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// A thin typed client for Prometheus's HTTP API.
#[derive(Debug, Clone)]
pub struct PromClient {
    http: reqwest::Client,
    base: String,
    shown: String,
    token: Option<String>,
    timeout_s: f64,
}

impl PromClient {
    /// A client for `cfg.url` with its bearer token, CA and time-out.
    pub fn new(cfg: &PrometheusConfig) -> Result<PromClient, PromError> {
        let shown = redact_url(cfg.url.trim_end_matches('/'));
        let err = |detail: String| PromError::Config {
            url: shown.clone(),
            detail,
        };
        if !(cfg.url.starts_with("http://") || cfg.url.starts_with("https://")) {
            return Err(err(
                "prometheus.url must start with http:// or https://".into()
            ));
        }
        if !(cfg.timeout_seconds.is_finite() && cfg.timeout_seconds > 0.0) {
            return Err(err(format!(
                "prometheus.timeout_seconds = {} must be positive",
                cfg.timeout_seconds
            )));
        }
        let token = match &cfg.bearer_token {
            Some(s) => s.read().map_err(|e| err(format!("bearer token: {e}")))?,
            None => None,
        };
        let timeout = Duration::from_secs_f64(cfg.timeout_seconds);
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("pitcrew/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                err(format!(
                    "cannot read prometheus.ca_file {}: {e}",
                    ca.display()
                ))
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                err(format!(
                    "prometheus.ca_file {} is not a PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            b = b.add_root_certificate(cert);
        }
        let http = b
            .build()
            .map_err(|e| err(format!("cannot build the HTTP client: {e}")))?;
        Ok(PromClient {
            http,
            base: cfg.url.trim_end_matches('/').to_string(),
            shown,
            token,
            timeout_s: cfg.timeout_seconds,
        })
    }

    /// The base URL as shown in messages (no credentials).
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// An instant query at `time` (unix seconds).
    pub async fn query(&self, promql: &str, time: f64) -> Result<QueryResult, PromError> {
        self.post(
            "query",
            promql,
            &[("query", promql.to_string()), ("time", fmt_time(time))],
        )
        .await
    }

    /// A range query over `[start, end]` every `step` seconds, split into requests of at most
    /// [`POINTS_PER_REQUEST`] points per series; series are joined by their labels, points in
    /// time order, warnings and infos collected.
    pub async fn query_range(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<QueryResult, PromError> {
        let mut out = QueryResult {
            result_type: ResultType::Matrix,
            series: Vec::new(),
            warnings: Vec::new(),
            infos: Vec::new(),
        };
        let mut by_labels: HashMap<BTreeMap<String, String>, usize> = HashMap::new();
        for (s, e) in split_range(start, end, step, POINTS_PER_REQUEST) {
            let r = self.query_range_once(promql, s, e, step).await?;
            join_result(&mut out, &mut by_labels, r);
        }
        Ok(out)
    }

    /// One `query_range` request (no splitting: the caller keeps under [`MAX_POINTS`]).
    pub async fn query_range_once(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<QueryResult, PromError> {
        self.post(
            "query_range",
            promql,
            &[
                ("query", promql.to_string()),
                ("start", fmt_time(start)),
                ("end", fmt_time(end)),
                ("step", fmt_time(step)),
            ],
        )
        .await
    }

    async fn post(
        &self,
        endpoint: &str,
        promql: &str,
        form: &[(&str, String)],
    ) -> Result<QueryResult, PromError> {
        let url = format!("{}/api/v1/{endpoint}", self.base);
        let shown = format!("{}/api/v1/{endpoint}", self.shown);
        let mut req = self.http.post(&url).form(form);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                PromError::Timeout {
                    url: shown.clone(),
                    query: promql.to_string(),
                    timeout_s: self.timeout_s,
                }
            } else {
                PromError::Connect {
                    url: shown.clone(),
                    query: promql.to_string(),
                    detail: error_chain(&e.without_url()),
                }
            }
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport)?;
        interpret(status, &body, &shown, promql)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn fmt_time(t: f64) -> String {
    // milliseconds are Prometheus's resolution
    let ms = (t * 1000.0).round() / 1000.0;
    format!("{ms}")
}

fn join_result(
    out: &mut QueryResult,
    by_labels: &mut HashMap<BTreeMap<String, String>, usize>,
    r: QueryResult,
) {
    for w in r.warnings {
        if !out.warnings.contains(&w) {
            out.warnings.push(w);
        }
    }
    for w in r.infos {
        if !out.infos.contains(&w) {
            out.infos.push(w);
        }
    }
    for s in r.series {
        match by_labels.get(&s.labels) {
            Some(&i) => out.series[i].points.extend(s.points),
            None => {
                by_labels.insert(s.labels.clone(), out.series.len());
                out.series.push(s);
            }
        }
    }
}

/// Split `[start, end]` at `step` into ranges of at most `max_points` evaluation points each
/// (`start + k·step`); together they hold every point exactly once. Empty for a bad range.
pub fn split_range(start: f64, end: f64, step: f64, max_points: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    if !(start.is_finite() && end.is_finite() && step.is_finite() && step > 0.0 && end >= start)
        || max_points == 0
    {
        return out;
    }
    let total = ((end - start) / step + 1e-9).floor() as u64 + 1;
    let per = max_points as u64;
    let mut k = 0u64;
    while k < total {
        let last = (k + per).min(total) - 1;
        out.push((start + k as f64 * step, start + last as f64 * step));
        k = last + 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Retries and the circuit breaker
// ---------------------------------------------------------------------------------------------

/// State of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BreakerState {
    /// Requests go out; counting consecutive failures.
    Closed {
        /// Consecutive failures so far.
        failures: u32,
    },
    /// No request goes out until `until` (seconds on the breaker's clock).
    Open {
        /// End of the cool-down.
        until: f64,
    },
    /// One probe is out; its result closes or re-opens the breaker.
    HalfOpen,
}

/// A circuit breaker on an injected clock (seconds, any monotonic origin): opens after
/// `threshold` consecutive failures; while open nothing is allowed; after the cool-down one
/// probe is allowed (half-open); a success closes it, a failure opens it again with a longer
/// cool-down (exponential with jitter, from backon).
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    state: BreakerState,
    builder: ExponentialBuilder,
    cooldowns: <ExponentialBuilder as BackoffBuilder>::Backoff,
    opened: u32,
}

impl CircuitBreaker {
    /// Opens after `threshold` (≥ 1) consecutive failures; cool-downs start at `base` seconds
    /// and double up to `max` (each plus a random jitter of up to itself). `seed` fixes the
    /// jitter (tests).
    pub fn new(threshold: u32, base: f64, max: f64, seed: Option<u64>) -> CircuitBreaker {
        let base = if base.is_finite() && base > 0.0 {
            base
        } else {
            1.0
        };
        let max = if max.is_finite() && max >= base {
            max
        } else {
            base
        };
        let mut builder = ExponentialBuilder::new()
            .with_min_delay(Duration::from_secs_f64(base))
            .with_max_delay(Duration::from_secs_f64(max))
            .with_factor(2.0)
            .without_max_times()
            .with_jitter();
        if let Some(s) = seed {
            builder = builder.with_jitter_seed(s);
        }
        CircuitBreaker {
            threshold: threshold.max(1),
            state: BreakerState::Closed { failures: 0 },
            builder,
            cooldowns: builder.build(),
            opened: 0,
        }
    }

    /// The state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// True when open or half-open.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, BreakerState::Closed { .. })
    }

    /// How many times it opened since it was last closed.
    pub fn times_opened(&self) -> u32 {
        self.opened
    }

    /// May a request go out at `now`? Moves an open breaker past its cool-down to half-open
    /// (this request is the probe).
    pub fn allow(&mut self, now: f64) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => false,
        }
    }

    /// Seconds until a request is allowed (0 when closed; infinite while a probe is out).
    pub fn retry_in(&self, now: f64) -> f64 {
        match self.state {
            BreakerState::Closed { .. } => 0.0,
            BreakerState::Open { until } => (until - now).max(0.0),
            BreakerState::HalfOpen => f64::INFINITY,
        }
    }

    /// A request succeeded (or the server answered sanely): close.
    pub fn on_success(&mut self) {
        if self.is_open() {
            self.cooldowns = self.builder.build();
        }
        self.opened = 0;
        self.state = BreakerState::Closed { failures: 0 };
    }

    /// A request failed at `now`.
    pub fn on_failure(&mut self, now: f64) {
        match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                self.state = BreakerState::Closed {
                    failures: failures + 1,
                };
            }
            BreakerState::Closed { .. } | BreakerState::HalfOpen => self.open(now),
            // a failure reported while open (a request that was already out): stay open
            BreakerState::Open { .. } => {}
        }
    }

    fn open(&mut self, now: f64) {
        let d = self
            .cooldowns
            .next()
            .map_or(MAX_COOLDOWN, |d| d.as_secs_f64());
        self.opened += 1;
        self.state = BreakerState::Open { until: now + d };
    }
}

/// Delays between the attempts of one request: exponential from `min_delay` with jitter, at
/// most [`RETRIES`], and in total at most `budget` seconds.
pub fn retry_delays(min_delay: f64, budget: f64) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_secs_f64(min_delay.max(0.001)))
        .with_max_delay(Duration::from_secs_f64(budget.max(0.001)))
        .with_factor(2.0)
        .with_max_times(RETRIES)
        .with_total_delay(Some(Duration::from_secs_f64(budget.max(0.0))))
        .with_jitter()
        .build()
}

/// A client behind the breaker, with retries: what the source uses.
#[derive(Debug)]
pub struct Guarded {
    client: PromClient,
    breaker: CircuitBreaker,
    origin: tokio::time::Instant,
    min_delay: f64,
    budget: f64,
    requests: u64,
}

#[derive(Clone, Copy)]
enum Call {
    Instant(f64),
    Range(f64, f64, f64),
}

impl Guarded {
    /// Wrap `client`; the breaker's cool-down starts at `step` seconds; retries of one
    /// request wait at most `step / 2` in total.
    pub fn new(client: PromClient, step: f64) -> Guarded {
        let step = if step.is_finite() && step > 0.0 {
            step
        } else {
            15.0
        };
        Guarded {
            client,
            breaker: CircuitBreaker::new(BREAKER_THRESHOLD, step, MAX_COOLDOWN.max(step), None),
            origin: tokio::time::Instant::now(),
            min_delay: (step / 10.0).clamp(0.05, 1.0),
            budget: step / 2.0,
            requests: 0,
        }
    }

    /// The client.
    pub fn client(&self) -> &PromClient {
        &self.client
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Requests sent so far (attempts, retries included).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    /// An instant query through the breaker, with retries.
    pub async fn query(&mut self, promql: &str, time: f64) -> Result<QueryResult, PromError> {
        self.call(promql, Call::Instant(time)).await
    }

    /// A range query (split) through the breaker, with retries for each part.
    pub async fn query_range(
        &mut self,
        promql: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<QueryResult, PromError> {
        let mut out = QueryResult {
            result_type: ResultType::Matrix,
            series: Vec::new(),
            warnings: Vec::new(),
            infos: Vec::new(),
        };
        let mut by_labels = HashMap::new();
        for (s, e) in split_range(start, end, step, POINTS_PER_REQUEST) {
            let r = self.call(promql, Call::Range(s, e, step)).await?;
            join_result(&mut out, &mut by_labels, r);
        }
        Ok(out)
    }

    async fn call(&mut self, promql: &str, what: Call) -> Result<QueryResult, PromError> {
        let mut delays = retry_delays(self.min_delay, self.budget);
        loop {
            let now = self.now();
            if !self.breaker.allow(now) {
                return Err(PromError::CircuitOpen {
                    url: self.client.url().to_string(),
                    query: promql.to_string(),
                    retry_in_s: self.breaker.retry_in(now),
                });
            }
            self.requests += 1;
            let r = match what {
                Call::Instant(t) => self.client.query(promql, t).await,
                Call::Range(s, e, step) => self.client.query_range_once(promql, s, e, step).await,
            };
            match r {
                Ok(v) => {
                    self.breaker.on_success();
                    return Ok(v);
                }
                Err(e) => {
                    if e.is_server_fault() {
                        self.breaker.on_failure(self.now());
                    } else {
                        self.breaker.on_success();
                    }
                    if !e.is_retryable() || self.breaker.is_open() {
                        return Err(e);
                    }
                    match delays.next() {
                        Some(d) => {
                            tracing::debug!("retrying in {d:?}: {e}");
                            tokio::time::sleep(d).await;
                        }
                        None => return Err(e),
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Series → models → samples (pure)
// ---------------------------------------------------------------------------------------------

/// Which labels name a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    /// Label with the model's name.
    pub model_label: String,
    /// Label with the namespace.
    pub namespace_label: String,
    /// Namespace of series without one.
    pub default_namespace: String,
}

impl LabelMap {
    /// From the config.
    pub fn from_config(cfg: &PrometheusConfig) -> LabelMap {
        LabelMap {
            model_label: cfg.model_label.clone(),
            namespace_label: cfg.namespace_label.clone(),
            default_namespace: cfg.default_namespace.clone(),
        }
    }

    /// `(namespace, name, version)` of a series; `None` without a (non-empty) model label.
    pub fn identify(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Option<(String, String, Option<String>)> {
        let name = labels.get(&self.model_label).filter(|s| !s.is_empty())?;
        let ns = labels
            .get(&self.namespace_label)
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.default_namespace);
        let version = labels.get("version").filter(|s| !s.is_empty()).cloned();
        Some((ns.clone(), name.clone(), version))
    }
}

/// Models seen so far, in the order they were announced (the engine's indices).
#[derive(Debug, Clone)]
pub struct Registry {
    labels: LabelMap,
    configs: BTreeMap<String, ModelConfig>,
    index: HashMap<String, u32>,
    metas: Vec<ModelMeta>,
    pending: BTreeSet<u32>,
}

impl Registry {
    /// Empty; `configs` gives priority and replica bounds by `namespace/name`.
    pub fn new(labels: LabelMap, configs: BTreeMap<String, ModelConfig>) -> Registry {
        Registry {
            labels,
            configs,
            index: HashMap::new(),
            metas: Vec::new(),
            pending: BTreeSet::new(),
        }
    }

    /// The index of the model a series belongs to (new models get the next index and are
    /// announced by [`Registry::take_announcements`]); `None` without a model label.
    pub fn resolve(&mut self, labels: &BTreeMap<String, String>) -> Option<u32> {
        let (ns, name, version) = self.labels.identify(labels)?;
        let key = format!("{ns}/{name}");
        if let Some(&i) = self.index.get(&key) {
            return Some(i);
        }
        let cfg = self.configs.get(&key);
        let i = self.metas.len() as u32;
        self.metas.push(ModelMeta {
            name,
            namespace: ns,
            version: version.unwrap_or_default(),
            priority: cfg.map_or(DEFAULT_PRIORITY, |c| c.priority),
            size_gb: 0.0,
            complexity: 0.0,
            min_replicas: cfg.map_or(0, |c| c.min_replicas),
            max_replicas: cfg.map_or(0, |c| c.max_replicas),
        });
        self.index.insert(key, i);
        self.pending.insert(i);
        Some(i)
    }

    /// Set the version a model serves (announced again when it changed).
    pub fn set_version(&mut self, model: u32, version: &str) {
        if let Some(m) = self.metas.get_mut(model as usize)
            && m.version != version
        {
            m.version = version.to_string();
            self.pending.insert(model);
        }
    }

    /// New or changed models since the last call, in index order (for `Event::Models`).
    pub fn take_announcements(&mut self) -> Vec<ModelMeta> {
        let p = std::mem::take(&mut self.pending);
        p.into_iter()
            .map(|i| self.metas[i as usize].clone())
            .collect()
    }

    /// Every model, in index order.
    pub fn metas(&self) -> &[ModelMeta] {
        &self.metas
    }
}

/// Points of several signals and models merged into one sample per model and time.
#[derive(Debug, Clone, Default)]
pub struct Merger {
    rows: BTreeMap<i64, BTreeMap<u32, Sample>>,
    duplicates: usize,
    unlabelled: usize,
    /// Per model the version seen with most weight: (from request rate, time, value, version).
    versions: HashMap<u32, (bool, f64, f64, String)>,
}

fn time_key(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

impl Merger {
    /// Empty.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// One point. Non-finite times are dropped; non-finite values are missing (NaN). A second
    /// value for the same model, signal and time is dropped (the first is kept).
    pub fn add(&mut self, t: f64, model: u32, signal: Signal, v: f64) {
        let Some(slot) = self.slot(t, model, signal) else {
            return;
        };
        if slot.is_finite() {
            self.duplicates += 1;
        } else if v.is_finite() {
            *slot = v as f32;
        }
    }

    /// The value of `signal` for `model` at `t` (created missing); none for a non-finite time.
    fn slot(&mut self, t: f64, model: u32, signal: Signal) -> Option<&mut f32> {
        if !t.is_finite() {
            return None;
        }
        let s = self
            .rows
            .entry(time_key(t))
            .or_default()
            .entry(model)
            .or_insert(Sample::MISSING);
        Some(&mut s.values[signal.index()])
    }

    /// A point of one more series of an additive signal (request rate, replicas): summed with
    /// what other series gave for the same model and time.
    pub fn add_summed(&mut self, t: f64, model: u32, signal: Signal, v: f64) {
        let Some(slot) = self.slot(t, model, signal) else {
            return;
        };
        if v.is_finite() {
            *slot = if slot.is_finite() {
                *slot + v as f32
            } else {
                v as f32
            };
        }
    }

    /// Every point of every series of one signal's answer. Several series of one model (per
    /// version, per pod) are summed for request rate and replicas; for the other signals the
    /// first is kept (see [`Merger::duplicates`]). A time repeated within one series counts once.
    pub fn add_result(&mut self, reg: &mut Registry, signal: Signal, series: &[Series]) {
        let additive = matches!(signal, Signal::RequestRate | Signal::Replicas);
        for s in series {
            let Some(m) = reg.resolve(&s.labels) else {
                self.unlabelled += 1;
                continue;
            };
            let mut seen = std::collections::HashSet::with_capacity(s.points.len());
            for &(t, v) in &s.points {
                if !t.is_finite() || !seen.insert(time_key(t)) {
                    continue;
                }
                if additive {
                    self.add_summed(t, m, signal, v);
                } else {
                    self.add(t, m, signal, v);
                }
            }
            if let Some(version) = s.labels.get("version").filter(|v| !v.is_empty())
                && let Some(&(t, v)) = s.points.iter().rev().find(|p| p.0.is_finite())
            {
                let cand = (
                    signal == Signal::RequestRate,
                    t,
                    if v.is_finite() { v } else { f64::MIN },
                );
                let better = self.versions.get(&m).is_none_or(|o| {
                    (cand.0, cand.1, cand.2)
                        .partial_cmp(&(o.0, o.1, o.2))
                        .is_some_and(|c| c == std::cmp::Ordering::Greater)
                });
                if better {
                    self.versions
                        .insert(m, (cand.0, cand.1, cand.2, version.clone()));
                }
            }
        }
    }

    /// Give each model the version of its series with the most traffic at the latest time (a
    /// query `by (namespace, model, version)` during a rollout has one series per version).
    pub fn apply_versions(&self, reg: &mut Registry) {
        for (m, (_, _, _, v)) in &self.versions {
            reg.set_version(*m, v);
        }
    }

    /// Values dropped because another series already gave one (several series per model).
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Series dropped because they have no model label.
    pub fn unlabelled(&self) -> usize {
        self.unlabelled
    }

    /// Rows in increasing time, strictly after `after`: `(t, samples by model index)`; samples
    /// with every value missing are left out, and so are rows left empty.
    pub fn into_rows(self, after: Option<f64>) -> Vec<(f64, Vec<(u32, Sample)>)> {
        let min = after.map(time_key);
        self.rows
            .into_iter()
            .filter(|(k, _)| min.is_none_or(|m| *k > m))
            .filter_map(|(k, models)| {
                let samples: Vec<(u32, Sample)> = models
                    .into_iter()
                    .filter(|(_, s)| s.values.iter().any(|v| v.is_finite()))
                    .collect();
                (!samples.is_empty()).then_some((k as f64 / 1000.0, samples))
            })
            .collect()
    }
}

/// `t` rounded down to a multiple of `step`.
pub fn align_down(t: f64, step: f64) -> f64 {
    (t / step).floor() * step
}

/// The range to backfill before live data at `now_aligned`: from the step after the last data
/// (or `max_back` seconds back when there is none, or when the gap is longer), up to the step
/// before `now_aligned`; `None` when there is no gap.
pub fn gap_range(
    last: Option<f64>,
    now_aligned: f64,
    step: f64,
    max_back: f64,
) -> Option<(f64, f64)> {
    let earliest = align_down(now_aligned - max_back.max(0.0), step);
    let start = match last {
        Some(l) => (align_down(l, step) + step).max(earliest),
        None => earliest,
    };
    let end = now_aligned - step;
    (end >= start - 1e-9 && end.is_finite() && start.is_finite()).then_some((start, end))
}

/// A one-line summary of warnings and failures for the status label (or empty).
pub fn notice(warnings: &[String]) -> String {
    match warnings {
        [] => String::new(),
        [w] => format!("warning: {w}"),
        [w, rest @ ..] => format!("{} warnings: {w} (+{} more)", rest.len() + 1, rest.len()),
    }
}

fn label_with(base: &str, notice: &str) -> String {
    if notice.is_empty() {
        return base.to_string();
    }
    let full = format!("{base} — {notice}");
    if full.chars().count() <= LABEL_MAX {
        full
    } else {
        let mut s: String = full.chars().take(LABEL_MAX - 1).collect();
        s.push('…');
        s
    }
}

// ---------------------------------------------------------------------------------------------
// The source task
// ---------------------------------------------------------------------------------------------

/// Lowest and highest replay speed in history mode.
pub const HISTORY_SPEED_RANGE: (f64, f64) = (0.1, 1_000_000.0);
/// Attempts at one chunk of history before history mode gives up.
const HISTORY_ATTEMPTS: usize = 20;

fn wall() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What one round of requests gave.
struct Fetched {
    rows: Vec<(f64, Vec<(u32, Sample)>)>,
    notes: Vec<String>,
}

struct Src {
    step: f64,
    backfill: f64,
    queries: Vec<(Signal, String)>,
    g: Guarded,
    reg: Registry,
    tx: mpsc::Sender<Event>,
    base_label: String,
    speed: f64,
    last_t: Option<f64>,
    sent: Option<(SourceState, String, f64)>,
    /// The console's pause and speed controls (history mode).
    pace: Option<mpsc::Receiver<Pace>>,
    /// Seconds between new values, measured from the window fetched in history mode (where all
    /// the data come from range queries; live, the last backfill need not say how fine the
    /// data are now, and `stale_after_seconds` is the knob).
    resolution: Option<f64>,
    /// History mode.
    history: bool,
}

impl Src {
    fn status(&self, state: SourceState, label: String) -> SourceStatus {
        SourceStatus {
            kind: SourceKind::Prometheus,
            label,
            state,
            speed: self.speed,
            step: self.sample_step(),
        }
    }

    /// Seconds between samples as the engine should count them: the step, or the data's own
    /// resolution when that is coarser (so staleness is not declared between two new values).
    fn sample_step(&self) -> f64 {
        match self.resolution {
            Some(r) if step_warning(self.step, r).is_some() => r,
            _ => self.step,
        }
    }

    /// Learn the data's resolution from fetched rows.
    fn observe_resolution(&mut self, rows: &[(f64, Vec<(u32, Sample)>)]) {
        if !self.history {
            return;
        }
        if let Some(r) = data_resolution(rows) {
            if self.resolution != Some(r)
                && let Some(w) = step_warning(self.step, r)
            {
                tracing::warn!("{}: {w}", self.base_label);
            }
            self.resolution = Some(r);
        }
    }

    async fn send(&self, ev: Event) -> bool {
        self.tx.send(ev).await.is_ok()
    }

    /// Send the status when it differs from the last one sent (backfill progress always).
    async fn set_status(&mut self, t: f64, state: SourceState, notice: &str) -> bool {
        // the step warning stays for the session, first, whatever else the round says
        let step_note = self.resolution.and_then(|r| step_warning(self.step, r));
        let notice = match (step_note, notice.is_empty()) {
            (Some(w), true) => format!("warning: {w}"),
            (Some(w), false) => format!("warning: {w}; {notice}"),
            (None, _) => notice.to_string(),
        };
        let label = label_with(&self.base_label, &notice);
        let same = self
            .sent
            .as_ref()
            .is_some_and(|(s, l, v)| *s == state && *l == label && *v == self.speed);
        if same {
            return true;
        }
        self.sent = Some((state.clone(), label.clone(), self.speed));
        let st = self.status(state, label);
        self.send(Event::Source { t, status: st }).await
    }

    fn is_down(&self) -> bool {
        matches!(self.sent, Some((SourceState::Down { .. }, _, _)))
    }

    /// Announce new models, then one observation event per row (rows after the last data only).
    async fn emit(&mut self, rows: Vec<(f64, Vec<(u32, Sample)>)>) -> bool {
        let metas = self.reg.take_announcements();
        if !metas.is_empty() {
            let t = rows.first().map_or_else(wall, |r| r.0);
            if !self.send(Event::Models { t, models: metas }).await {
                return false;
            }
        }
        for (t, samples) in rows {
            if self.last_t.is_some_and(|l| t <= l) {
                continue;
            }
            self.last_t = Some(t);
            if !self.send(Event::Observations { t, samples }).await {
                return false;
            }
        }
        true
    }

    /// Every signal over `[start, end]` (one chunk, within the points limit), merged.
    /// `Err` when every query failed (the most telling error).
    async fn fetch_range(&mut self, start: f64, end: f64) -> Result<Fetched, PromError> {
        let mut m = Merger::new();
        let mut notes = Vec::new();
        let mut errors = Vec::new();
        let queries = self.queries.clone();
        for (sig, q) in &queries {
            match self.g.query_range(q, start, end, self.step).await {
                Ok(r) => {
                    note_result(&mut notes, *sig, &r);
                    m.add_result(&mut self.reg, *sig, &r.series);
                }
                Err(e) => errors.push((*sig, e)),
            }
        }
        let f = self.finish(m, notes, errors)?;
        self.observe_resolution(&f.rows);
        Ok(f)
    }

    /// Every signal's instant query at `t`, merged.
    async fn fetch_instant(&mut self, t: f64) -> Result<Fetched, PromError> {
        let mut m = Merger::new();
        let mut notes = Vec::new();
        let mut errors = Vec::new();
        let queries = self.queries.clone();
        for (sig, q) in &queries {
            match self.g.query(q, t).await {
                Ok(r) => {
                    note_result(&mut notes, *sig, &r);
                    // an instant vector's points carry the evaluation time
                    let series: Vec<Series> = r
                        .series
                        .into_iter()
                        .map(|mut s| {
                            for p in &mut s.points {
                                p.0 = t;
                            }
                            s
                        })
                        .collect();
                    m.add_result(&mut self.reg, *sig, &series);
                }
                Err(e) => errors.push((*sig, e)),
            }
        }
        self.finish(m, notes, errors)
    }

    fn finish(
        &mut self,
        m: Merger,
        mut notes: Vec<String>,
        errors: Vec<(Signal, PromError)>,
    ) -> Result<Fetched, PromError> {
        if !errors.is_empty() && errors.len() == self.queries.len() {
            let mut errors = errors;
            let i = errors
                .iter()
                .position(|(_, e)| !matches!(e, PromError::CircuitOpen { .. }))
                .unwrap_or(0);
            let (_, e) = errors.swap_remove(i);
            return Err(e);
        }
        for (sig, e) in errors {
            tracing::warn!("{}: {e}", sig.name());
            notes.push(format!("{} failed: {e}", sig.name()));
        }
        m.apply_versions(&mut self.reg);
        if m.duplicates() > 0 {
            notes.push(format!(
                "{} values dropped: a query returns several series per model; aggregate by ({}, {})",
                m.duplicates(),
                self.reg.labels.namespace_label,
                self.reg.labels.model_label
            ));
        }
        if m.unlabelled() > 0 {
            notes.push(format!(
                "{} series without a {} label ignored",
                m.unlabelled(),
                self.reg.labels.model_label
            ));
        }
        Ok(Fetched {
            rows: m.into_rows(self.last_t),
            notes,
        })
    }

    /// Fetch and emit `[start, end]` in chunks; `progress` sends `Backfilling` as it goes.
    async fn fill(
        &mut self,
        start: f64,
        end: f64,
        progress: bool,
    ) -> Result<Vec<String>, PromError> {
        let chunks = split_range(start, end, self.step, POINTS_PER_REQUEST);
        let mut notes = Vec::new();
        let n = chunks.len().max(1);
        for (i, (s, e)) in chunks.into_iter().enumerate() {
            if progress {
                let st = SourceState::Backfilling {
                    progress: i as f64 / n as f64,
                };
                let t = self.last_t.unwrap_or(s);
                if !self.set_status(t, st, "").await {
                    return Ok(notes);
                }
            }
            let f = self.fetch_range(s, e).await?;
            for w in f.notes {
                if !notes.contains(&w) {
                    notes.push(w);
                }
            }
            if !self.emit(f.rows).await {
                return Ok(notes);
            }
        }
        Ok(notes)
    }

    /// One live round at the aligned time `t`: backfill any gap, then the instant queries.
    async fn round(&mut self, t: f64) -> bool {
        let mut notes = Vec::new();
        let mut result = Ok(());
        if let Some((s, e)) = gap_range(self.last_t, t, self.step, self.backfill)
            && self.last_t.is_some()
        {
            match self.fill(s, e, false).await {
                Ok(n) => notes.extend(n),
                Err(e) => result = Err(e),
            }
        }
        if result.is_ok() {
            match self.fetch_instant(t).await {
                Ok(f) => {
                    notes.extend(f.notes);
                    if !self.emit(f.rows).await {
                        return false;
                    }
                }
                Err(e) => result = Err(e),
            }
        }
        match result {
            Ok(()) => {
                for n in &notes {
                    tracing::warn!("{}: {n}", self.base_label);
                }
                let notes = dedup(notes);
                self.set_status(t, SourceState::Live, &notice(&notes)).await
            }
            Err(e) => {
                if matches!(e, PromError::CircuitOpen { .. }) && self.is_down() {
                    return true;
                }
                tracing::warn!("{}: {e}", self.base_label);
                let error = if self.g.breaker().is_open() {
                    format!("{e} (circuit open: retrying with backoff)")
                } else {
                    e.to_string()
                };
                self.set_status(t, SourceState::Down { error }, "").await
            }
        }
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn note_result(notes: &mut Vec<String>, sig: Signal, r: &QueryResult) {
    for w in &r.warnings {
        tracing::warn!("prometheus {}: {w}", sig.name());
        // the same warning from several queries is shown once
        if !notes.contains(w) {
            notes.push(w.clone());
        }
    }
    for w in &r.infos {
        tracing::info!("prometheus {}: {w}", sig.name());
    }
}

/// Run the Prometheus source until cancelled or the engine goes away (see the module docs).
/// `range = Some((from, to))` replays that past window (history mode) at `speed`, paused and
/// sped up by `pace`.
pub async fn run(
    cfg: PrometheusConfig,
    models: BTreeMap<String, ModelConfig>,
    range: Option<(f64, f64)>,
    speed: f64,
    pace: Option<mpsc::Receiver<Pace>>,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let step = if cfg.step_seconds.is_finite() && cfg.step_seconds > 0.0 {
        cfg.step_seconds
    } else {
        15.0
    };
    let speed = if range.is_some() {
        if speed.is_finite() {
            speed.clamp(HISTORY_SPEED_RANGE.0, HISTORY_SPEED_RANGE.1)
        } else {
            1.0
        }
    } else {
        1.0
    };
    let base_label = if range.is_some() {
        format!("{} (history)", source_label(&cfg.url))
    } else {
        source_label(&cfg.url)
    };
    let client = match PromClient::new(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            let status = SourceStatus {
                kind: SourceKind::Prometheus,
                label: base_label,
                state: SourceState::Down {
                    error: e.to_string(),
                },
                speed,
                step,
            };
            if tx.send(Event::Source { t: wall(), status }).await.is_ok() && range.is_none() {
                clock_until_cancelled(&tx, &cancel).await;
            }
            return;
        }
    };
    let mut src = Src {
        step,
        backfill: (cfg.backfill_hours * 3600.0).max(0.0),
        queries: cfg
            .queries
            .iter()
            .map(|(s, q)| (s, q.to_string()))
            .collect(),
        g: Guarded::new(client, step),
        reg: Registry::new(LabelMap::from_config(&cfg), models),
        tx: tx.clone(),
        base_label,
        speed,
        last_t: None,
        sent: None,
        pace,
        resolution: None,
        history: range.is_some(),
    };
    let task = async {
        match range {
            Some((from, to)) => history(&mut src, from, to).await,
            None => live(&mut src).await,
        }
    };
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = task => {}
    }
}

async fn clock_until_cancelled(tx: &mpsc::Sender<Event>, cancel: &CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if tx.send(Event::Clock { t: wall() }).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Run `fut` while sending a clock event every second (so data age moves during slow requests).
async fn with_clock<F: std::future::Future>(tx: &mpsc::Sender<Event>, fut: F) -> Option<F::Output> {
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            r = &mut fut => return Some(r),
            _ = tick.tick() => {
                if tx.send(Event::Clock { t: wall() }).await.is_err() {
                    return None;
                }
            }
        }
    }
}

async fn live(src: &mut Src) {
    let tx = src.tx.clone();
    let step = src.step;
    // backfill up to the step before now, then the first live round at once
    let now_aligned = align_down(wall(), step);
    if let Some((s, e)) = gap_range(None, now_aligned, step, src.backfill) {
        let filled = with_clock(&tx, src.fill(s, e, true)).await;
        match filled {
            None => return,
            Some(Ok(notes)) => {
                for n in &notes {
                    tracing::warn!("{}: backfill: {n}", src.base_label);
                }
            }
            Some(Err(e)) => {
                tracing::warn!("{}: backfill failed: {e}", src.base_label);
                // the gap is filled again when the server answers
                if src.last_t.is_none() {
                    src.last_t = Some(s - step);
                }
                let st = SourceState::Down {
                    error: format!("backfill failed: {e}"),
                };
                if !src.set_status(wall(), st, "").await {
                    return;
                }
            }
        }
    }
    let mut next_round = now_aligned;
    let mut next_clock = wall() + 1.0;
    loop {
        let now = wall();
        if now >= next_round {
            let t = align_down(now, step);
            match with_clock(&tx, src.round(t)).await {
                Some(true) => {}
                _ => return,
            }
            next_round = align_down(wall(), step) + step;
            continue;
        }
        if now >= next_clock {
            if tx.send(Event::Clock { t: now }).await.is_err() {
                return;
            }
            next_clock = now + 1.0;
        }
        let wake = next_round.min(next_clock);
        tokio::time::sleep(Duration::from_secs_f64((wake - wall()).clamp(0.0, 1.0))).await;
    }
}

async fn history(src: &mut Src, from: f64, to: f64) {
    let step = src.step;
    if !(from.is_finite() && to.is_finite() && from < to) {
        let st = SourceState::Down {
            error: format!("history window {from} .. {to} is empty: give --from before --to"),
        };
        src.set_status(wall(), st, "").await;
        return;
    }
    let start = align_down(from - src.backfill, step);
    let from_a = align_down(from, step);
    let chunks = split_range(start, to, step, POINTS_PER_REQUEST);
    let n = chunks.len().max(1);
    let mut notes: Vec<String> = Vec::new();
    let mut live_sent = false;
    let mut clock = PacedClock::new(from_a, src.speed, HISTORY_SPEED_RANGE);
    let mut last_clock = tokio::time::Instant::now();
    for (i, (s, e)) in chunks.into_iter().enumerate() {
        let paced = e > from_a;
        if !paced
            && !src
                .set_status(
                    s,
                    SourceState::Backfilling {
                        progress: i as f64 / n as f64,
                    },
                    "",
                )
                .await
        {
            return;
        }
        // fetch, retrying through the breaker (bounded)
        let mut attempt = 0;
        let f = loop {
            match src.fetch_range(s, e).await {
                Ok(f) => break f,
                Err(err) => {
                    attempt += 1;
                    tracing::warn!("{}: {err}", src.base_label);
                    let give_up = attempt >= HISTORY_ATTEMPTS
                        || !err.is_server_fault() && !matches!(err, PromError::CircuitOpen { .. });
                    let error = if give_up {
                        format!("{err} (history stopped)")
                    } else {
                        err.to_string()
                    };
                    if !src.set_status(s, SourceState::Down { error }, "").await || give_up {
                        return;
                    }
                    let wait = src
                        .g
                        .breaker()
                        .retry_in(src.g.now())
                        .clamp(step.min(1.0), 60.0);
                    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                }
            }
        };
        for w in f.notes {
            if !notes.contains(&w) {
                tracing::warn!("{}: {w}", src.base_label);
                notes.push(w);
            }
        }
        if src.is_down() {
            let st = if paced {
                SourceState::Live
            } else {
                SourceState::Backfilling {
                    progress: i as f64 / n as f64,
                }
            };
            if !src.set_status(s, st, &notice(&notes)).await {
                return;
            }
        }
        let mut rows = f.rows.into_iter().peekable();
        // the backfill part at once
        let mut head = Vec::new();
        while let Some(r) = rows.next_if(|r| r.0 <= from_a) {
            head.push(r);
        }
        if !src.emit(head).await {
            return;
        }
        if !paced {
            continue;
        }
        if !live_sent {
            live_sent = true;
            clock = PacedClock::new(from_a, clock.speed(), HISTORY_SPEED_RANGE);
            if !src
                .set_status(from_a, SourceState::Live, &notice(&notes))
                .await
            {
                return;
            }
        }
        // the window, paced
        for row in rows {
            if !wait_until(src, &mut clock, row.0, &mut last_clock, &notice(&notes)).await {
                return;
            }
            if !src.emit(vec![row]).await {
                return;
            }
        }
    }
    // let the clock reach the end of the window, then finish
    let end = align_down(to, step);
    if !live_sent {
        clock = PacedClock::new(from_a, clock.speed(), HISTORY_SPEED_RANGE);
    }
    if !wait_until(src, &mut clock, end, &mut last_clock, &notice(&notes)).await {
        return;
    }
    if !src.send(Event::Clock { t: end }).await {
        return;
    }
    src.set_status(end, SourceState::Finished, &notice(&notes))
        .await;
}

/// Wait until the window's clock reaches `target`, applying the console's pause and speed
/// controls as they come and sending a clock event at most every wall second (so data age
/// moves between sparse rows). False when the engine went away.
async fn wait_until(
    src: &mut Src,
    clock: &mut PacedClock,
    target: f64,
    last_clock: &mut tokio::time::Instant,
    notes: &str,
) -> bool {
    loop {
        if clock.now() >= target {
            return true;
        }
        let wait = Duration::from_secs_f64(clock.wall_until(target).min(1.0));
        let control = match src.pace.as_mut() {
            Some(rx) => tokio::select! {
                c = rx.recv() => Some(c),
                _ = tokio::time::sleep(wait) => None,
            },
            None => {
                tokio::time::sleep(wait).await;
                None
            }
        };
        match control {
            Some(Some(c)) if clock.apply(c) => {
                src.speed = clock.speed();
                let st = if clock.paused() {
                    SourceState::Paused
                } else {
                    SourceState::Live
                };
                if !src.set_status(clock.now().min(target), st, notes).await {
                    return false;
                }
            }
            Some(Some(_)) => {}
            // the console is gone: play on
            Some(None) => src.pace = None,
            None => {}
        }
        if last_clock.elapsed() >= Duration::from_secs(1) {
            *last_clock = tokio::time::Instant::now();
            if !src
                .send(Event::Clock {
                    t: clock.now().min(target),
                })
                .await
            {
                return false;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn map() -> LabelMap {
        LabelMap {
            model_label: "model".into(),
            namespace_label: "namespace".into(),
            default_namespace: "default".into(),
        }
    }

    #[test]
    fn values_as_prometheus_writes_them() {
        assert_eq!(parse_value("1.5"), Some(1.5));
        assert_eq!(parse_value("-2e3"), Some(-2000.0));
        for s in ["NaN", "+Inf", "-Inf", "Inf"] {
            assert!(parse_value(s).unwrap().is_nan(), "{s}");
        }
        assert_eq!(parse_value("twelve"), None);
    }

    #[test]
    fn vector_matrix_scalar_and_warnings_parse() {
        let v = br#"{"status":"success","warnings":["partial response"],"infos":["i"],
            "data":{"resultType":"vector","result":[
              {"metric":{"model":"a","namespace":"n"},"value":[1700000000.5,"3.25"]},
              {"metric":{"model":"b"},"value":[1700000000.5,"+Inf"]}]}}"#;
        let ApiBody::Success(r) = parse_body(v).unwrap() else {
            panic!()
        };
        assert_eq!(r.result_type, ResultType::Vector);
        assert_eq!(r.warnings, vec!["partial response".to_string()]);
        assert_eq!(r.infos, vec!["i".to_string()]);
        assert_eq!(r.series[0].points, vec![(1700000000.5, 3.25)]);
        assert!(r.series[1].points[0].1.is_nan());
        let m = br#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"model":"a"},"values":[[10,"1"],[20,"NaN"],[30,"-Inf"]]}]}}"#;
        let ApiBody::Success(r) = parse_body(m).unwrap() else {
            panic!()
        };
        assert_eq!(r.result_type, ResultType::Matrix);
        assert_eq!(r.series[0].points.len(), 3);
        assert!(r.series[0].points[2].1.is_nan());
        let s = br#"{"status":"success","data":{"resultType":"scalar","result":[5,"7"]}}"#;
        let ApiBody::Success(r) = parse_body(s).unwrap() else {
            panic!()
        };
        assert_eq!(r.series[0].points, vec![(5.0, 7.0)]);
        let e = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#;
        assert_eq!(
            parse_body(e).unwrap(),
            ApiBody::Error {
                error_type: "bad_data".into(),
                error: "parse error at char 4".into()
            }
        );
    }

    #[test]
    fn malformed_answers_are_their_own_kind() {
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            br#"{"status":"success"}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}"#,
            br#"{"status":"maybe"}"#,
            br#"[1,2]"#,
        ] {
            let e = interpret(200, body, "http://p/api/v1/query", "up").unwrap_err();
            assert!(matches!(e, PromError::Malformed { .. }), "{e}");
            assert!(!e.is_retryable() && e.is_server_fault());
            let msg = e.to_string();
            assert!(msg.contains("http://p/api/v1/query") && msg.contains("`up`"), "{msg}");
        }
    }

    #[test]
    fn status_codes_map_to_kinds() {
        let bad = br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"}"#;
        let e = interpret(400, bad, "u", "rate(x[").unwrap_err();
        assert!(
            matches!(e, PromError::BadData { .. }) && !e.is_retryable(),
            "{e}"
        );
        assert!(e.to_string().contains("1:5: parse error"), "{e}");
        let ex = br#"{"status":"error","errorType":"execution","error":"many-to-many matching"}"#;
        let e = interpret(422, ex, "u", "a / b").unwrap_err();
        assert!(
            matches!(e, PromError::Execution { .. }) && !e.is_server_fault(),
            "{e}"
        );
        assert!(e.to_string().contains("many-to-many"), "{e}");
        let un = br#"{"status":"error","errorType":"unavailable","error":"not ready"}"#;
        let e = interpret(503, un, "u", "q").unwrap_err();
        assert!(matches!(e, PromError::Server { status: 503, .. }) && e.is_retryable());
        let e = interpret(502, b"<html>bad gateway</html>", "u", "q").unwrap_err();
        assert!(
            e.is_retryable() && e.to_string().contains("bad gateway"),
            "{e}"
        );
        let e = interpret(429, b"slow down", "u", "q").unwrap_err();
        assert!(e.is_retryable());
        let e = interpret(401, b"Unauthorized", "u", "q").unwrap_err();
        assert!(
            !e.is_retryable() && e.to_string().contains("bearer_token"),
            "{e}"
        );
        let to = br#"{"status":"error","errorType":"timeout","error":"query timed out"}"#;
        assert!(interpret(503, to, "u", "q").unwrap_err().is_retryable());
    }

    #[test]
    fn credentials_never_shown() {
        assert_eq!(
            redact_url("https://user:pw@prom.example:9090/sub"),
            "https://prom.example:9090/sub"
        );
        assert_eq!(
            source_label("http://a:b@127.0.0.1:9090/x"),
            "prometheus 127.0.0.1:9090"
        );
    }

    #[test]
    fn long_ranges_are_split_under_the_limit() {
        // 30 h at 5 s is 21,601 points: three requests
        let c = split_range(0.0, 30.0 * 3600.0, 5.0, POINTS_PER_REQUEST);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0], (0.0, 9999.0 * 5.0));
        assert_eq!(c[1].0, 10000.0 * 5.0);
        assert_eq!(c[2].1, 30.0 * 3600.0);
        assert_eq!(split_range(10.0, 10.0, 5.0, 100), vec![(10.0, 10.0)]);
        assert!(split_range(10.0, 5.0, 5.0, 100).is_empty());
        assert!(split_range(0.0, 5.0, 0.0, 100).is_empty());
        assert!(split_range(0.0, f64::NAN, 1.0, 100).is_empty());
    }

    #[test]
    fn labels_map_to_models_and_config() {
        let mut cfgs = BTreeMap::new();
        cfgs.insert(
            "pay/fraud".to_string(),
            ModelConfig {
                priority: 1,
                min_replicas: 3,
                max_replicas: 40,
            },
        );
        let mut r = Registry::new(map(), cfgs);
        assert_eq!(
            r.resolve(&labels(&[("model", "fraud"), ("namespace", "pay")])),
            Some(0)
        );
        assert_eq!(r.resolve(&labels(&[("model", "rank")])), Some(1));
        assert_eq!(r.resolve(&labels(&[("job", "x")])), None);
        assert_eq!(r.resolve(&labels(&[("model", "")])), None);
        let a = r.take_announcements();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].key(), "pay/fraud");
        assert_eq!(
            (a[0].priority, a[0].min_replicas, a[0].max_replicas),
            (1, 3, 40)
        );
        assert_eq!(
            a[0].version, "",
            "no version label: no version, not a made-up one"
        );
        assert_eq!(a[1].key(), "default/rank");
        assert_eq!(a[1].priority, DEFAULT_PRIORITY);
        assert!(r.take_announcements().is_empty());
        // a new version is announced again, same index
        r.set_version(0, "v7");
        let a = r.take_announcements();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].version, "v7");
        r.set_version(0, "v7");
        assert!(r.take_announcements().is_empty());
    }

    #[test]
    fn the_version_is_the_one_with_most_traffic() {
        let mut r = Registry::new(map(), BTreeMap::new());
        let s = |v: &str, rate: f64| Series {
            labels: labels(&[("model", "m"), ("version", v)]),
            points: vec![(10.0, rate)],
        };
        // during a rollout both versions have a series: no flapping, the busier one wins
        for _ in 0..3 {
            let mut m = Merger::new();
            m.add_result(&mut r, Signal::RequestRate, &[s("v1", 90.0), s("v2", 10.0)]);
            m.add_result(&mut r, Signal::LatencyP95, &[s("v2", 500.0)]);
            m.apply_versions(&mut r);
        }
        let a = r.take_announcements();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].version, "v1");
        let mut m = Merger::new();
        m.add_result(&mut r, Signal::RequestRate, &[s("v1", 20.0), s("v2", 80.0)]);
        m.apply_versions(&mut r);
        let a = r.take_announcements();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].version, "v2");
        assert_eq!(r.metas().len(), 1);
    }

    #[test]
    fn merging_joins_signals_per_time_and_model() {
        let mut m = Merger::new();
        m.add(20.0, 0, Signal::RequestRate, 5.0);
        m.add(10.0, 0, Signal::RequestRate, 4.0);
        m.add(10.0, 0, Signal::LatencyP95, 120.0);
        m.add(10.0, 1, Signal::RequestRate, f64::NAN);
        m.add(10.0, 0, Signal::RequestRate, 99.0); // duplicate: first kept
        m.add(f64::NAN, 0, Signal::Cpu, 1.0);
        assert_eq!(m.duplicates(), 1);
        let rows = m.clone().into_rows(None);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 10.0);
        // model 1 had only a NaN: no sample
        assert_eq!(rows[0].1.len(), 1);
        let s = rows[0].1[0].1;
        assert_eq!(s.get(Signal::RequestRate), 4.0);
        assert_eq!(s.get(Signal::LatencyP95), 120.0);
        assert!(s.get(Signal::ErrorRate).is_nan());
        assert_eq!(rows[1].0, 20.0);
        assert_eq!(m.into_rows(Some(10.0)).len(), 1);
    }

    #[test]
    fn several_series_per_model_sum_rates_and_keep_the_first_ratio() {
        let mut r = Registry::new(map(), BTreeMap::new());
        let s = |pod: &str, pts: Vec<(f64, f64)>| Series {
            labels: labels(&[("model", "m"), ("pod", pod)]),
            points: pts,
        };
        let mut m = Merger::new();
        // a repeated time within one series counts once
        m.add_result(
            &mut r,
            Signal::RequestRate,
            &[
                s("a", vec![(10.0, 5.0), (10.0, 5.0)]),
                s("b", vec![(10.0, 7.0)]),
                s("c", vec![(10.0, f64::NAN)]),
            ],
        );
        m.add_result(
            &mut r,
            Signal::ErrorRate,
            &[s("a", vec![(10.0, 0.5)]), s("b", vec![(10.0, 0.1)])],
        );
        assert_eq!(m.duplicates(), 1);
        let rows = m.into_rows(None);
        assert_eq!(rows[0].1[0].1.get(Signal::RequestRate), 12.0);
        assert_eq!(rows[0].1[0].1.get(Signal::ErrorRate), 0.5);
    }

    #[test]
    fn gaps() {
        assert_eq!(gap_range(Some(100.0), 115.0, 15.0, 3600.0), None);
        assert_eq!(
            gap_range(Some(100.0), 130.0, 15.0, 3600.0),
            Some((105.0, 115.0))
        );
        assert_eq!(
            gap_range(Some(90.0), 150.0, 15.0, 3600.0),
            Some((105.0, 135.0))
        );
        assert_eq!(gap_range(None, 3600.0, 15.0, 600.0), Some((3000.0, 3585.0)));
        // a gap longer than the backfill starts at the backfill
        assert_eq!(
            gap_range(Some(0.0), 7200.0, 15.0, 600.0),
            Some((6600.0, 7185.0))
        );
        assert_eq!(gap_range(None, 3600.0, 15.0, 0.0), None);
    }

    #[test]
    fn notices_and_labels_are_short() {
        assert_eq!(notice(&[]), "");
        assert_eq!(notice(&["a".into()]), "warning: a");
        assert_eq!(notice(&["a".into(), "b".into()]), "2 warnings: a (+1 more)");
        let l = label_with("prometheus h:1", &"x".repeat(500));
        assert_eq!(l.chars().count(), LABEL_MAX);
        assert_eq!(label_with("p", ""), "p");
    }

    #[test]
    fn breaker_opens_probes_and_closes_on_injected_time() {
        let mut b = CircuitBreaker::new(3, 10.0, 40.0, Some(7));
        for _ in 0..2 {
            assert!(b.allow(0.0));
            b.on_failure(0.0);
        }
        assert_eq!(b.state(), BreakerState::Closed { failures: 2 });
        assert!(b.allow(0.0));
        b.on_failure(1.0);
        let BreakerState::Open { until } = b.state() else {
            panic!("{:?}", b.state())
        };
        // cool-down 10 s plus jitter of up to 10 s
        assert!((11.0..21.0).contains(&until), "{until}");
        assert!(!b.allow(5.0) && !b.allow(until - 0.01));
        assert!(b.retry_in(5.0) > 0.0);
        // the probe
        assert!(b.allow(until));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(until), "one probe at a time");
        b.on_failure(until);
        let BreakerState::Open { until: u2 } = b.state() else {
            panic!()
        };
        // longer: 20 s plus jitter
        assert!(u2 - until >= 20.0 && u2 - until < 40.0, "{}", u2 - until);
        assert_eq!(b.times_opened(), 2);
        assert!(b.allow(u2));
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        assert!(b.allow(u2));
        // after closing, the cool-down starts short again
        for _ in 0..3 {
            b.on_failure(100.0);
        }
        let BreakerState::Open { until: u3 } = b.state() else {
            panic!()
        };
        assert!(u3 - 100.0 < 20.0, "{}", u3 - 100.0);
    }

    #[test]
    fn breaker_cooldown_is_capped() {
        let mut b = CircuitBreaker::new(1, 1.0, 8.0, Some(1));
        let mut now = 0.0;
        let mut last = 0.0;
        for _ in 0..10 {
            b.on_failure(now);
            let BreakerState::Open { until } = b.state() else {
                panic!()
            };
            last = until - now;
            assert!(last <= 16.0, "{last}");
            now = until;
            assert!(b.allow(now));
        }
        assert!(last >= 8.0, "{last}");
        // success in between failures resets the count
        let mut c = CircuitBreaker::new(2, 1.0, 8.0, Some(1));
        c.on_failure(0.0);
        c.on_success();
        c.on_failure(0.0);
        assert!(!c.is_open());
    }

    #[test]
    fn retry_delays_grow_and_stay_in_budget() {
        let d: Vec<f64> = retry_delays(0.5, 10.0).map(|d| d.as_secs_f64()).collect();
        assert_eq!(d.len(), RETRIES);
        assert!((0.5..1.0).contains(&d[0]), "{d:?}");
        assert!((1.0..2.0).contains(&d[1]), "{d:?}");
        let tight: f64 = retry_delays(0.5, 0.6).map(|d| d.as_secs_f64()).sum();
        assert!(tight <= 0.6, "{tight}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parser_never_panics_on_strings(s in ".{0,200}") {
            let _ = parse_body(s.as_bytes());
            let _ = parse_value(&s);
            let _ = interpret(200, s.as_bytes(), "u", "q");
            let _ = redact_url(&s);
            let _ = source_label(&s);
        }

        #[test]
        fn parser_never_panics_on_api_like_json(
            rt in prop::sample::select(vec!["vector", "matrix", "scalar", "string", "x"]),
            st in prop::sample::select(vec!["success", "error", "?"]),
            vals in prop::collection::vec(
                (prop::num::f64::ANY, prop::sample::select(vec!["1", "NaN", "+Inf", "-Inf", "x", "1e999", ""])),
                0..5),
            as_values in any::<bool>(),
        ) {
            let pts: Vec<serde_json::Value> = vals.iter().map(|(t, v)| {
                let t = serde_json::Number::from_f64(*t).map_or(serde_json::Value::Null, serde_json::Value::Number);
                serde_json::json!([t, v])
            }).collect();
            let result = if rt == "scalar" {
                pts.first().cloned().unwrap_or(serde_json::Value::Null)
            } else if as_values {
                serde_json::json!([{"metric": {"model": "m"}, "values": pts}])
            } else {
                serde_json::json!([{"metric": {"model": "m"}, "value": pts.first()}])
            };
            let body = serde_json::json!({"status": st, "data": {"resultType": rt, "result": result}});
            if let Ok(ApiBody::Success(r)) = parse_body(body.to_string().as_bytes()) {
                for s in r.series {
                    for (t, v) in s.points {
                        prop_assert!(t.is_finite());
                        prop_assert!(v.is_finite() || v.is_nan());
                    }
                }
            }
        }

        #[test]
        fn merging_keeps_time_order_and_drops_duplicates(
            points in prop::collection::vec((0u32..50, 0u32..3, 0usize..6, -1e6f64..1e6), 0..200),
            after in prop::option::of(0u32..50),
        ) {
            let mut m = Merger::new();
            for &(t, model, sig, v) in &points {
                m.add(f64::from(t) * 15.0, model, Signal::ALL[sig], v);
            }
            let after = after.map(|a| f64::from(a) * 15.0);
            let rows = m.into_rows(after);
            for w in rows.windows(2) {
                prop_assert!(w[0].0 < w[1].0);
            }
            for (t, samples) in &rows {
                prop_assert!(after.is_none_or(|a| *t > a));
                let mut seen = BTreeSet::new();
                for (i, s) in samples {
                    prop_assert!(seen.insert(*i), "one sample per model and time");
                    // the first value given for (t, model, signal) is the one kept
                    for (k, v) in s.values.iter().enumerate() {
                        let first = points.iter().find(|p| f64::from(p.0) * 15.0 == *t && p.1 == *i && p.2 == k);
                        match first {
                            Some(p) => prop_assert_eq!(*v, p.3 as f32),
                            None => prop_assert!(v.is_nan()),
                        }
                    }
                }
            }
        }

        #[test]
        fn split_covers_every_point_once(start in -1e6f64..1e6, n in 0u64..50_000, step in prop::sample::select(vec![1.0, 5.0, 15.0, 60.0]), max in 1usize..12_000) {
            let end = start + n as f64 * step;
            let chunks = split_range(start, end, step, max);
            let mut count = 0u64;
            let mut next = start;
            for (s, e) in &chunks {
                prop_assert!((s - next).abs() < 1e-6 * step.max(1.0) * 10.0);
                let k = ((e - s) / step).round() as u64 + 1;
                prop_assert!(k as usize <= max);
                count += k;
                next = e + step;
            }
            prop_assert_eq!(count, n + 1);
        }

        #[test]
        fn gap_is_within_backfill_and_before_now(last in prop::option::of(0u32..10_000), now in 0u32..10_000, back in 0u32..5000) {
            let step = 15.0;
            let now = f64::from(now) * step;
            let last = last.map(|l| f64::from(l) * step);
            if let Some((s, e)) = gap_range(last, now, step, f64::from(back)) {
                prop_assert!(s <= e + 1e-9);
                prop_assert!(e < now);
                prop_assert!(s >= now - f64::from(back) - step);
                prop_assert!(last.is_none_or(|l| s > l));
            }
        }
    }
}
