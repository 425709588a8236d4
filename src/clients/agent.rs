//! A pitcrew agent's control API as a console reaches it: the stream (bytes, for the frames'
//! decoder) and commands (a request with an id, retried with the same id after a dropped
//! connection so that it is applied once). The token is sent as a bearer token and never
//! shown: messages name the agent by its URL without credentials.

use crate::control::wire::{CommandReply, CommandRequest};
use std::time::Duration;

/// Why the agent could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// The agent answered, and refused (401, 403, 404, 400 …): not worth retrying as it is.
    #[error("{url}: {status} — {text}")]
    Refused {
        /// The agent's URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What it said.
        text: String,
    },
    /// Could not reach it, or it dropped the connection, or it is not ready (503): retried.
    #[error("{url}: {why}")]
    Unreachable {
        /// The agent's URL.
        url: String,
        /// Why.
        why: String,
    },
}

impl AgentError {
    /// Worth trying again later.
    pub fn transient(&self) -> bool {
        matches!(self, AgentError::Unreachable { .. })
    }
}

/// How to reach one agent.
#[derive(Debug, Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// How long connecting may take.
const CONNECT: Duration = Duration::from_secs(5);
/// Tries of one command at most, and the pause before each retry (doubling).
const COMMAND_TRIES: usize = 5;
const COMMAND_PAUSE: Duration = Duration::from_millis(300);

impl AgentClient {
    /// A client of the agent at `url` (`http://` or `https://`), sending `token`, trusting
    /// the certificates of `ca` (PEM) besides the system's.
    pub fn new(url: &str, token: Option<String>, ca: Option<&[u8]>) -> Result<AgentClient, String> {
        Self::new_at(url, token, ca, None)
    }

    /// [`AgentClient::new`], connecting to `at` whatever the URL's host resolves to (a
    /// port-forward on loopback), while the certificate is still checked against the URL's
    /// host name.
    pub fn new_at(
        url: &str,
        token: Option<String>,
        ca: Option<&[u8]>,
        at: Option<std::net::SocketAddr>,
    ) -> Result<AgentClient, String> {
        let base = url.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|e| format!("{base}: not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{base}: use http:// or https://"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!(
                "{}: no credentials in the URL; give a token file",
                parsed.host_str().unwrap_or("?")
            ));
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT)
            .user_agent(concat!("pitcrew/", env!("CARGO_PKG_VERSION")));
        if let (Some(at), Some(host)) = (at, parsed.host_str()) {
            b = b.resolve(host, at);
        }
        if let Some(pem) = ca {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| format!("the CA file is not a PEM certificate: {e}"))?;
            b = b.add_root_certificate(cert).tls_built_in_root_certs(false);
        }
        let http = b
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(AgentClient { http, base, token })
    }

    /// The agent's URL, as shown.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn authorized(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> AgentError {
        // reqwest's messages carry the URL; it is said once, in front
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "connection failed"
        };
        // the causes only: reqwest's own text carries the URL, which is said once, in front
        let why = match std::error::Error::source(e) {
            Some(cause) => format!("{what}: {}", super::error_chain(cause)),
            None => what.to_string(),
        };
        AgentError::Unreachable {
            url: self.base.clone(),
            why,
        }
    }

    async fn refused(&self, r: reqwest::Response) -> AgentError {
        let status = r.status().as_u16();
        let text = crate::clients::body::read(r, 4096)
            .await
            .map(|(b, _)| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        let text = crate::redact::text(&text, 300);
        if status == 503 || status == 409 || status == 429 {
            return AgentError::Unreachable {
                url: self.base.clone(),
                why: format!("{status}: {text}"),
            };
        }
        let text = match status {
            404 => format!(
                "no control API here ({text}); is it a pitcrew agent started with --tokens?"
            ),
            _ => text,
        };
        AgentError::Refused {
            url: self.base.clone(),
            status,
            text,
        }
    }

    /// Open the stream: the response whose body is the frames.
    pub async fn stream(&self) -> Result<reqwest::Response, AgentError> {
        let r = self
            .authorized(self.http.get(format!("{}/v1/stream", self.base)))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if r.status().is_success() {
            Ok(r)
        } else {
            Err(self.refused(r).await)
        }
    }

    /// Send a command, retried with the same id while the agent cannot be reached.
    pub async fn command(&self, req: &CommandRequest) -> Result<CommandReply, AgentError> {
        let mut pause = COMMAND_PAUSE;
        let mut last = None;
        for _ in 0..COMMAND_TRIES {
            match self.command_once(req).await {
                Ok(r) => return Ok(r),
                Err(e) if e.transient() => last = Some(e),
                Err(e) => return Err(e),
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        Err(last.unwrap_or(AgentError::Unreachable {
            url: self.base.clone(),
            why: "no answer".into(),
        }))
    }

    async fn command_once(&self, req: &CommandRequest) -> Result<CommandReply, AgentError> {
        let r = self
            .authorized(self.http.post(format!("{}/v1/commands", self.base)))
            .timeout(Duration::from_secs(15))
            .json(req)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if !r.status().is_success() {
            return Err(self.refused(r).await);
        }
        let (body, _) = crate::clients::body::read(r, 1 << 20)
            .await
            .map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&body).map_err(|e| AgentError::Refused {
            url: self.base.clone(),
            status: 200,
            text: format!("an answer that is not a command reply: {e}"),
        })
    }
}
