//! The HTTP client: instant and range queries (range queries split to Prometheus's points limit and joined).

use super::*;

/// A thin typed client for Prometheus's HTTP API.
#[derive(Debug, Clone)]
pub struct PromClient {
    http: reqwest::Client,
    base: String,
    shown: String,
    token: Option<String>,
    timeout_s: f64,
    max_body: u64,
    max_series: usize,
}

/// Bytes of an error answer (HTTP status not 2xx) read: its message is clipped anyway.
const MAX_ERROR_BODY: u64 = 64 * 1024;

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
        let parsed = reqwest::Url::parse(cfg.url.trim()).map_err(|e| {
            err(format!(
                "prometheus.url is not a URL ({e}); a password in it must be percent-encoded"
            ))
        })?;
        if cfg.bearer_token.is_some()
            && (!parsed.username().is_empty() || parsed.password().is_some())
        {
            return Err(err("prometheus.url carries a user name and password and prometheus.bearer_token is set too: give one credential (only one would be sent)".into()));
        }
        if !(cfg.timeout_seconds.is_finite() && cfg.timeout_seconds > 0.0) {
            return Err(err(format!(
                "prometheus.timeout_seconds = {} must be positive",
                cfg.timeout_seconds
            )));
        }
        if !(cfg.max_answer_mib.is_finite() && cfg.max_answer_mib >= 1.0) || cfg.max_series == 0 {
            return Err(err(format!(
                "prometheus.max_answer_mib = {} and prometheus.max_series = {} must be at least 1",
                cfg.max_answer_mib, cfg.max_series
            )));
        }
        let token = match &cfg.bearer_token {
            Some(s) => s.read().map_err(|e| err(format!("bearer token: {e}")))?,
            None => None,
        };
        let timeout = Duration::from_secs_f64(cfg.timeout_seconds);
        let mut b = crate::clients::http_builder(timeout);
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
            max_body: (cfg.max_answer_mib * 1024.0 * 1024.0) as u64,
            max_series: cfg.max_series,
        })
    }

    /// The base URL as shown in messages (no credentials).
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// An instant query at `time` (unix seconds).
    pub async fn query(&self, promql: &str, time: f64) -> Answer {
        self.post(
            "query",
            promql,
            &[("query", promql.to_string()), ("time", fmt_time(time))],
        )
        .await
    }

    /// A range query over `[start, end]` every `step` seconds, split into requests of at most
    /// [`POINTS_PER_REQUEST`] points per series; series are joined by their labels, points in
    /// time order, warnings and infos collected. A piece whose answer passes
    /// `max_answer_mib` is asked again in two halves (down to one point: then the error).
    pub async fn query_range(&self, promql: &str, start: f64, end: f64, step: f64) -> Answer {
        let mut pieces = RangePieces::new(start, end, step);
        while let Some((s, e)) = pieces.next() {
            let r = self.query_range_once(promql, s, e, step).await;
            pieces.answer((s, e), r)?;
        }
        Ok(pieces.joined())
    }

    /// One `query_range` request (no splitting: the caller keeps under [`MAX_POINTS`]).
    pub(crate) async fn query_range_once(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Answer {
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

    async fn post(&self, endpoint: &str, promql: &str, form: &[(&str, String)]) -> Answer {
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
                    detail: crate::clients::error_chain(&e.without_url()),
                }
            }
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let ok = (200..300).contains(&status);
        // an error's message: its start is enough
        let limit = if ok { self.max_body } else { MAX_ERROR_BODY };
        // streamed with a bound: an endless or huge body is never held whole
        let (body, cut) = crate::clients::body::read(resp, limit)
            .await
            .map_err(transport)?;
        if ok && cut {
            return Err(PromError::TooLarge {
                url: shown.clone(),
                query: promql.to_string(),
                limit: AnswerLimit::Bytes(limit),
            });
        }
        interpret_limited(status, &body, &shown, promql, self.max_series)
    }
}

pub(super) fn fmt_time(t: f64) -> String {
    // milliseconds are Prometheus's resolution
    let ms = (t * 1000.0).round() / 1000.0;
    format!("{ms}")
}

/// A range query in pieces: the one place that splits a range ([`split_range`]), asks a piece
/// again in two halves when its answer passes the size bound (down to one point: then the
/// error), and joins the answers (series by their labels, points in time order, warnings and
/// infos once). The client and the breaker both ask the pieces it gives.
pub(super) struct RangePieces {
    step: f64,
    /// Pieces to ask, the earliest last (popped first).
    todo: Vec<(f64, f64)>,
    out: QueryResult,
    by_labels: HashMap<BTreeMap<String, String>, usize>,
}

impl RangePieces {
    pub(super) fn new(start: f64, end: f64, step: f64) -> Self {
        let mut todo = split_range(start, end, step, POINTS_PER_REQUEST);
        todo.reverse();
        RangePieces {
            step,
            todo,
            out: QueryResult {
                result_type: ResultType::Matrix,
                series: Vec::new(),
                warnings: Vec::new(),
                infos: Vec::new(),
            },
            by_labels: HashMap::new(),
        }
    }

    /// The next piece to ask, `(start, end)`.
    pub(super) fn next(&mut self) -> Option<(f64, f64)> {
        self.todo.pop()
    }

    /// The answer to `piece`: joined, or the piece split in two when it was too large, or the
    /// error that ends the query.
    pub(super) fn answer(&mut self, (s, e): (f64, f64), r: Answer) -> Result<(), PromError> {
        let step = self.step;
        match r {
            Ok(r) => join_result(&mut self.out, &mut self.by_labels, r),
            Err(PromError::TooLarge {
                limit: AnswerLimit::Bytes(_),
                ..
            }) if e - s >= step => {
                let n = ((e - s) / step + 1e-9).floor() as u64 + 1;
                let mid = s + ((n / 2) - 1) as f64 * step;
                self.todo.push((mid + step, e));
                self.todo.push((s, mid));
            }
            Err(err) => return Err(err),
        }
        Ok(())
    }

    /// Every piece's answer, joined.
    pub(super) fn joined(self) -> QueryResult {
        self.out
    }
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
pub(crate) fn split_range(start: f64, end: f64, step: f64, max_points: usize) -> Vec<(f64, f64)> {
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
