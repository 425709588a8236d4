//! The errors a Prometheus request can end in, each saying what to do.

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
    /// The answer is larger than the limits allow (not retryable, not a server fault).
    #[error("Prometheus at {url} answered query `{query}` with {limit}")]
    TooLarge {
        /// Endpoint.
        url: String,
        /// PromQL.
        query: String,
        /// Which limit it passed.
        limit: AnswerLimit,
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

/// A limit on what one answer may hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnswerLimit {
    /// Bytes of body.
    Bytes(u64),
    /// Series.
    Series(usize),
}

impl std::fmt::Display for AnswerLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnswerLimit::Bytes(b) => write!(
                f,
                "more than {:.0} MiB (prometheus.max_answer_mib): aggregate the query by (namespace, model), or raise the limit",
                *b as f64 / (1024.0 * 1024.0)
            ),
            AnswerLimit::Series(n) => write!(
                f,
                "more than {n} series (prometheus.max_series): aggregate the query by (namespace, model), or raise the limit"
            ),
        }
    }
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
