//! The OSV API (osv.dev's, or a mirror that speaks it): which advisories concern a package
//! (`POST /v1/querybatch`, every page of every query) and each advisory's record
//! (`GET /v1/vulns/{id}`), as the JSON text the API gives; what the records say is read by
//! `security`. Timeouts, connection errors, HTTP 5xx and 429 are retried with backoff;
//! answers are read up to a bound.

use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;
use reqwest::{StatusCode, Url};
use std::time::Duration;

/// Queries in one `querybatch` request (the API's limit).
pub const BATCH: usize = 1000;
/// Records fetched at once.
const PARALLEL: usize = 8;
/// Pages followed for one batch before giving up (a server that never stops paging).
const MAX_PAGES: usize = 100;
/// The largest answer read: a record is a few KiB, a batch of ids a few hundred.
const MAX_ANSWER: u64 = 16 << 20;

/// A client of one OSV API.
#[derive(Debug, Clone)]
pub struct OsvClient {
    http: reqwest::Client,
    base: Url,
    retries: usize,
}

/// What went wrong, in words that name the request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("OSV API {what}: {detail}")]
pub struct OsvError {
    /// The request (method and URL, credentials removed).
    pub what: String,
    /// What happened.
    pub detail: String,
    /// Worth trying again.
    retry: bool,
}

impl OsvClient {
    /// For the API at `base` (e.g. `https://api.osv.dev`), each request bounded by
    /// `timeout_seconds`.
    pub fn new(base: &str, timeout_seconds: f64) -> Result<OsvClient, String> {
        if !(timeout_seconds.is_finite() && timeout_seconds > 0.0 && timeout_seconds <= 600.0) {
            return Err(format!(
                "the OSV API timeout is {timeout_seconds}; give seconds between 0 and 600"
            ));
        }
        let mut base = Url::parse(base.trim()).map_err(|e| {
            format!("the OSV API address is not a URL ({e}): give e.g. https://api.osv.dev")
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(format!(
                "the OSV API address {} must be an http:// or https:// URL with a host",
                crate::redact::url(base.as_str())
            ));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let timeout = Duration::from_secs_f64(timeout_seconds);
        let http = super::http_builder(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(OsvClient {
            http,
            base,
            retries: 3,
        })
    }

    /// Retry at most `n` times (tests use 0).
    pub fn with_retries(mut self, n: usize) -> Self {
        self.retries = n;
        self
    }

    fn url(&self, path: &str) -> Result<Url, OsvError> {
        self.base.join(path).map_err(|e| OsvError {
            what: format!("{}{path}", crate::redact::url(self.base.as_str())),
            detail: e.to_string(),
            retry: false,
        })
    }

    /// One request with retries; the body of a successful answer.
    async fn call(&self, url: &Url, body: Option<&serde_json::Value>) -> Result<Vec<u8>, OsvError> {
        let what = format!(
            "{} {}",
            if body.is_some() { "POST" } else { "GET" },
            crate::redact::url(url.as_str())
        );
        let once = || async {
            let rb = match body {
                Some(b) => self.http.post(url.clone()).json(b),
                None => self.http.get(url.clone()),
            };
            let fail = |detail: String, retry: bool| OsvError {
                what: what.clone(),
                detail,
                retry,
            };
            let resp = rb
                .send()
                .await
                .map_err(|e| fail(super::error_chain(&e), true))?;
            let status = resp.status();
            let (bytes, cut) = super::body::read(resp, MAX_ANSWER)
                .await
                .map_err(|e| fail(super::error_chain(&e), true))?;
            if status.is_success() && cut {
                return Err(fail(
                    format!("the answer is larger than {} MiB", MAX_ANSWER >> 20),
                    false,
                ));
            }
            if !status.is_success() {
                let text = crate::redact::text(&String::from_utf8_lossy(&bytes), 200);
                let retry = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                return Err(fail(format!("HTTP {status}: {text}"), retry));
            }
            Ok(bytes)
        };
        once.retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_max_times(self.retries)
                .with_jitter(),
        )
        .when(|e: &OsvError| e.retry)
        .await
    }

    /// The ids of every advisory the API has for each package (any version) of `ecosystem`,
    /// sorted and each once: every page of every query, in batches of [`BATCH`].
    pub async fn ids(&self, packages: &[String], ecosystem: &str) -> Result<Vec<String>, OsvError> {
        let url = self.url("v1/querybatch")?;
        let mut ids = Vec::new();
        for batch in packages.chunks(BATCH) {
            // (package, page token) still to ask for
            let mut pending: Vec<(&String, Option<String>)> =
                batch.iter().map(|p| (p, None)).collect();
            let mut pages = 0;
            while !pending.is_empty() {
                pages += 1;
                if pages > MAX_PAGES {
                    return Err(OsvError {
                        what: format!("POST {}", crate::redact::url(url.as_str())),
                        detail: format!("still paging after {MAX_PAGES} pages"),
                        retry: false,
                    });
                }
                let queries: Vec<serde_json::Value> = pending
                    .iter()
                    .map(|(p, token)| {
                        let mut q =
                            serde_json::json!({"package": {"name": p, "ecosystem": ecosystem}});
                        if let Some(t) = token {
                            q["page_token"] = serde_json::Value::String(t.clone());
                        }
                        q
                    })
                    .collect();
                let body = serde_json::json!({ "queries": queries });
                let bytes = self.call(&url, Some(&body)).await?;
                let answer: wire::Batch = serde_json::from_slice(&bytes).map_err(|e| OsvError {
                    what: format!("POST {}", crate::redact::url(url.as_str())),
                    detail: format!("not a querybatch answer: {e}"),
                    retry: false,
                })?;
                if answer.results.len() != pending.len() {
                    return Err(OsvError {
                        what: format!("POST {}", crate::redact::url(url.as_str())),
                        detail: format!(
                            "{} results for {} queries",
                            answer.results.len(),
                            pending.len()
                        ),
                        retry: false,
                    });
                }
                let mut next = Vec::new();
                for ((p, _), r) in pending.into_iter().zip(answer.results) {
                    ids.extend(r.vulns.into_iter().map(|v| v.id));
                    if let Some(t) = r.next_page_token.filter(|t| !t.is_empty()) {
                        next.push((p, Some(t)));
                    }
                }
                pending = next;
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// One advisory's record, as the API's JSON text.
    pub async fn record(&self, id: &str) -> Result<String, OsvError> {
        // an id is one path segment, whatever it holds
        let mut url = self.url("v1/vulns/")?;
        url.path_segments_mut()
            .map_err(|()| OsvError {
                what: format!("GET {}", crate::redact::url(self.base.as_str())),
                detail: "the address cannot take a path".into(),
                retry: false,
            })?
            .pop_if_empty()
            .push(id);
        let bytes = self.call(&url, None).await?;
        String::from_utf8(bytes).map_err(|_| OsvError {
            what: format!("GET {}", crate::redact::url(url.as_str())),
            detail: "the record is not UTF-8 text".into(),
            retry: false,
        })
    }

    /// Every record the API has for these packages: the ids, then each record,
    /// [`PARALLEL`] at a time. The first error stops it.
    pub async fn records(
        &self,
        packages: &[String],
        ecosystem: &str,
    ) -> Result<Vec<String>, OsvError> {
        let ids = self.ids(packages, ecosystem).await?;
        futures::stream::iter(ids)
            .map(|id| async move { self.record(&id).await })
            .buffered(PARALLEL)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }
}

impl OsvClient {
    /// The index of every advisory the API has for these packages (PyPI), each record read
    /// as the OSV schema says; a record that does not parse fails the whole (a scan never
    /// reports clean on what it could not read).
    pub async fn index(
        &self,
        packages: &[String],
    ) -> Result<crate::security::index::Index, String> {
        let texts = self
            .records(packages, "PyPI")
            .await
            .map_err(|e| e.to_string())?;
        let mut records = Vec::with_capacity(texts.len());
        for text in texts {
            records.push(crate::security::osv::parse_record(&text, true)?);
        }
        Ok(crate::security::index::Index::build(&records, "PyPI"))
    }
}

/// The API's JSON, as much of it as is read.
mod wire {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub(super) struct Batch {
        #[serde(default)]
        pub results: Vec<Answer>,
    }

    #[derive(Deserialize)]
    pub(super) struct Answer {
        #[serde(default)]
        pub vulns: Vec<Vuln>,
        #[serde(default)]
        pub next_page_token: Option<String>,
    }

    #[derive(Deserialize)]
    pub(super) struct Vuln {
        pub id: String,
    }
}
