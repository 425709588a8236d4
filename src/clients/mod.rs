//! Wire clients shared by sources and actuators: what it takes to talk to an outside system
//! (its errors, its JSON, the HTTP client with its retries and limits, and rules that read its
//! answers), and nothing about what pitcrew does with the answers. Sources turn answers into
//! engine events; actuators turn actions into requests; both import from here, never from
//! each other.
//!
//! - [`agent`]: a pitcrew agent's control API (its stream and its commands);
//! - [`body`]: reading an HTTP body up to a limit;
//! - [`kube`]: a Kubernetes client from the kubeconfig or the pod's service account;
//! - [`kube_error`]: what a Kubernetes request fails with, naming the request;
//! - [`mlflow`]: the MLflow model registry;
//! - [`osv`]: an OSV API's advisories;
//! - [`prometheus`]: Prometheus's query API.

pub mod agent;
pub mod body;
pub mod kube;
pub mod kube_error;
pub mod mlflow;
pub mod osv;
pub mod prometheus;

/// An HTTP client builder with pitcrew's user agent and `timeout` on every request and every
/// connection; each client adds what its system needs (a CA, a resolved address).
pub(crate) fn http_builder(timeout: std::time::Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("pitcrew/", env!("CARGO_PKG_VERSION")))
}

/// An error and its causes in one line (a cause already in the text is not repeated).
pub fn error_chain(e: &dyn std::error::Error) -> String {
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
