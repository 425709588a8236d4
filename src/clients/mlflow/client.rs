//! The typed client for MLflow's REST API: requests, retries, pagination, error classification.

use super::*;

/// A typed client for MLflow's REST API.
#[derive(Clone)]
pub struct MlflowClient {
    http: reqwest::Client,
    api: Url,
    health: Url,
    artifact: Url,
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
pub(super) struct Req<'a> {
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    body: Option<Value>,
    what: &'a str,
}

/// A filter string literal for MLflow's search syntax.
pub(super) fn quote(value: &str) -> Result<String, MlflowError> {
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

/// Now, in whole milliseconds since the Unix epoch (how MLflow writes times), as a tag value.
pub(super) fn unix_ms_now() -> String {
    crate::clock::unix_millis().to_string()
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
        let artifact = join("model-versions/get-artifact")?;
        let timeout = Duration::from_secs_f64(timeout_seconds);
        let http = crate::clients::http_builder(timeout)
            .build()
            .map_err(|e| MlflowError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(MlflowClient {
            http,
            api,
            health,
            artifact,
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

    /// One attempt, decoded as JSON.
    async fn once<T: DeserializeOwned>(&self, url: &Url, req: &Req<'_>) -> Result<T, MlflowError> {
        let bytes = self.fetch(url, req).await?;
        let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| MlflowError::Decode {
            method: method_name(&req.method),
            url: crate::redact::url_of(url),
            what: req.what.to_string(),
            detail: e.to_string(),
        })
    }

    /// One attempt: the body of a successful answer, or the error it is.
    async fn fetch(&self, url: &Url, req: &Req<'_>) -> Result<Vec<u8>, MlflowError> {
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
        let limit = if status.is_success() {
            MAX_ANSWER_BYTES
        } else {
            MAX_ERROR_BYTES
        };
        let (bytes, cut) = crate::clients::body::read(resp, limit)
            .await
            .map_err(transport)?;
        if status.is_success() && cut {
            return Err(MlflowError::Decode {
                method,
                url: crate::redact::url_of(url),
                what: req.what.to_string(),
                detail: format!(
                    "the answer is larger than {} MiB, more than any registry page",
                    MAX_ANSWER_BYTES >> 20
                ),
            });
        }
        if status.is_success() {
            return Ok(bytes);
        }
        Err(error_from(method, url, req.what, status, &bytes))
    }

    /// A request with retries, decoded as JSON.
    async fn call<T: DeserializeOwned>(&self, req: Req<'_>) -> Result<T, MlflowError> {
        let url = self.url(req.path, req.query)?;
        self.retried(&url, &req, |url, req| self.once::<T>(url, req))
            .await
    }

    /// A file that a model version logged (`requirements.txt`, `conda.yaml`, …), read through
    /// the tracking server's `GET /model-versions/get-artifact` (the server reads it from the
    /// version's artifact store, proxied or not), with retries. `None` when the version has no
    /// such file; an error when it is not text.
    pub async fn model_version_artifact(
        &self,
        name: &str,
        version: &str,
        path: &str,
    ) -> Result<Option<String>, MlflowError> {
        let mut url = self.artifact.clone();
        url.query_pairs_mut()
            .extend_pairs([("name", name), ("version", version), ("path", path)]);
        let what = format!("{path} of model {name} version {version}");
        let req = Req {
            method: Method::GET,
            path: "",
            query: &[],
            body: None,
            what: &what,
        };
        match self
            .retried(&url, &req, |url, req| self.fetch(url, req))
            .await
        {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| MlflowError::Decode {
                    method: "GET",
                    url: crate::redact::url_of(&url),
                    what,
                    detail: "the file is not UTF-8 text".into(),
                }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `attempt` with retries of what may pass when tried again.
    async fn retried<'a, T, F, Fut>(
        &'a self,
        url: &'a Url,
        req: &'a Req<'a>,
        attempt: F,
    ) -> Result<T, MlflowError>
    where
        F: Fn(&'a Url, &'a Req<'a>) -> Fut,
        Fut: std::future::Future<Output = Result<T, MlflowError>>,
    {
        let attempts = AtomicUsize::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.retries)
            .with_jitter();
        let result = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            attempt(url, req)
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
                let body = crate::clients::body::read(r, MAX_ERROR_BYTES)
                    .await
                    .map_or_else(|_| Vec::new(), |(b, _)| b);
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
        self.all_pages(
            "registered-models/search",
            || "registered models".into(),
            |token| async move {
                self.search_registered_models_page(filter, PAGE_SIZE, token.as_deref())
                    .await
            },
        )
        .await
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
    pub(crate) async fn search_model_versions_page(
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
        let filter = filter.as_str();
        self.all_pages(
            "model-versions/search",
            || format!("versions of model '{name}'"),
            |token| async move {
                self.search_model_versions_page(filter, page_size.max(1), token.as_deref())
                    .await
            },
        )
        .await
    }

    /// Every item of a paged search: `page(token)` fetches one page, following
    /// `next_page_token` until a page has none (or repeats the last one); more than
    /// [`MAX_PAGES`] pages is an error naming the endpoint (`path`) and `what` was searched.
    pub(super) async fn all_pages<T, F, Fut>(
        &self,
        path: &str,
        what: impl FnOnce() -> String,
        mut page: F,
    ) -> Result<Vec<T>, MlflowError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Page<T>, MlflowError>>,
    {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = page(token.clone()).await?;
            out.extend(page.items);
            match page.next_page_token {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => return Ok(out),
            }
        }
        Err(MlflowError::TooManyPages {
            url: self.api.join(path).map_or_else(
                |_| crate::redact::url_of(&self.api),
                |u| crate::redact::url_of(&u),
            ),
            what: what(),
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
    pub(crate) async fn delete_model_version_tag(
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
