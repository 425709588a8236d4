//! Errors of the MLflow client and the registry logic (with the hint each status gives and how a
//! failing answer becomes one), and the retry policy.

use super::*;

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
    pub(super) fn is_alias_missing(&self) -> bool {
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
    pub(crate) fn max_total_delay(&self) -> Duration {
        let mut d = self.min_delay;
        let mut total = Duration::ZERO;
        for _ in 0..self.retries {
            total = total.saturating_add(d.min(self.max_delay).saturating_mul(2));
            d = d.saturating_mul(2);
        }
        total
    }
}

pub(super) fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "request",
    }
}

pub(super) fn hint_for(code: &str, status: u16) -> &'static str {
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

/// The error of an answer with a failing status: MLflow's error JSON when the body is one, else
/// the status with an excerpt of the body.
pub(super) fn error_from(
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
