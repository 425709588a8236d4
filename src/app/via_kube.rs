//! `pitcrew attach --kube-context C --namespace N`: the agent found and reached through the
//! Kubernetes API server with the user's kubeconfig, for bastions that reach the API server
//! but not the pod network. The agent's Service (`pitcrew-agent` unless named) gives the
//! selector and the port; a ready pod behind it is chosen; a loopback listener forwards each
//! connection through a port-forward of its own (kube's, a WebSocket to the API server) to
//! that pod, and finds the pod again when it is gone (a restarted agent). The console attaches
//! to the loopback address, and keeps the Service's DNS name for TLS verification.

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// The Service the agent is found by when none is named.
pub const DEFAULT_SERVICE: &str = "pitcrew-agent";

/// Where the agent is, as the API server says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// A ready pod behind the Service.
    pub pod: String,
    /// The pod's port the Service sends to.
    pub port: u16,
    /// The Service's port says TLS (named `https`, or `appProtocol: https`).
    pub tls: bool,
    /// The Service's name in the cluster's DNS (`NAME.NAMESPACE.svc`), the name the agent's
    /// certificate is checked against.
    pub host: String,
}

/// The agent behind the Service `service` of `namespace`.
pub async fn find(client: &kube::Client, namespace: &str, service: &str) -> Result<Found, String> {
    let svc = Api::<Service>::namespaced(client.clone(), namespace)
        .get(service)
        .await
        .map_err(|e| format!("the Service {namespace}/{service}: {}", kube_error(&e)))?;
    let spec = svc.spec.unwrap_or_default();
    let selector = spec
        .selector
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("the Service {namespace}/{service} selects no pods"))?;
    let port = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| format!("the Service {namespace}/{service} has no port"))?;
    let tls =
        port.name.as_deref() == Some("https") || port.app_protocol.as_deref() == Some("https");
    let labels = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&labels))
        .await
        .map_err(|e| format!("the pods of {namespace}/{service}: {}", kube_error(&e)))?;
    let target = port.target_port.clone();
    let (pod, port) = pick(&pods.items, target.as_ref(), port.port).ok_or_else(|| {
        format!("no ready pod behind the Service {namespace}/{service} ({labels})")
    })?;
    Ok(Found {
        pod,
        port,
        tls,
        host: format!("{service}.{namespace}.svc"),
    })
}

/// The first ready pod (by name) and the port the Service's `target` names on it (a number, a
/// container port's name, or the Service's own `port` when none is given).
fn pick(
    pods: &[Pod],
    target: Option<&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
    service_port: i32,
) -> Option<(String, u16)> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let mut ready: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status.as_ref().is_some_and(|s| {
                s.phase.as_deref() == Some("Running")
                    && s.conditions
                        .as_ref()
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
        })
        .collect();
    ready.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let pod = ready.first()?;
    let port = match target {
        None => service_port,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(name)) => {
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name.as_str()))?
                .container_port
        }
    };
    Some((pod.metadata.name.clone()?, u16::try_from(port).ok()?))
}

/// An API error in a few words (the API server's own message when it gave one).
fn kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {} — {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}

/// Forward a loopback port to the agent: each connection through a port-forward of its own.
/// The first port-forward is opened here, so that a refusal (no `create` on
/// `pods/portforward`, an unreachable API server) is said at once; later failures find the
/// pod again (the agent restarted elsewhere) and the console sees the link drop and retry.
pub async fn forward(
    client: kube::Client,
    namespace: String,
    service: String,
    found: Found,
    cancel: CancellationToken,
) -> Result<SocketAddr, String> {
    let pods = Api::<Pod>::namespaced(client.clone(), &namespace);
    let first = pods
        .portforward(&found.pod, &[found.port])
        .await
        .map_err(|e| {
            let why = kube_error(&e);
            // the API server's reason is not passed on by a failed upgrade: say what a 403 means
            let hint = if why.contains("403") {
                format!(
                    " (your user may not create pods/portforward in {namespace}: ask for it, or attach by URL)"
                )
            } else {
                String::new()
            };
            format!(
                "cannot port-forward to {namespace}/{} port {}: {why}{hint}",
                found.pod, found.port
            )
        })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("no loopback port for the port-forward: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("no loopback port for the port-forward: {e}"))?;
    tokio::spawn(async move {
        let mut first = Some(first);
        let mut at = found;
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => break,
                a = listener.accept() => a,
            };
            let Ok((mut sock, _)) = accepted else {
                continue;
            };
            let pf = match first.take() {
                Some(pf) => Ok(pf),
                None => match pods.portforward(&at.pod, &[at.port]).await {
                    Ok(pf) => Ok(pf),
                    // the pod may be gone: find the agent again, once
                    Err(_) => match find(&client, &namespace, &service).await {
                        Ok(f) => {
                            at = f;
                            pods.portforward(&at.pod, &[at.port])
                                .await
                                .map_err(|e| kube_error(&e))
                        }
                        Err(e) => Err(e),
                    },
                },
            };
            match pf {
                Ok(mut pf) => {
                    let port = at.port;
                    tokio::spawn(async move {
                        if let Some(mut up) = pf.take_stream(port) {
                            let _ = tokio::io::copy_bidirectional(&mut sock, &mut up).await;
                        }
                        drop(sock);
                        let _ = pf.join().await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "port-forward to the agent failed");
                }
            }
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    /// What the fake API server was asked: method, path and query, and the headers that make
    /// a port-forward.
    type Asked = Arc<Mutex<Vec<(String, String, Vec<(String, String)>)>>>;

    /// A fake API server: the Service `pitcrew-agent` in `mlops` (port named https, to the
    /// container port named https), two pods behind it (one not ready), and a port-forward
    /// refused as RBAC refuses it.
    async fn fake() -> (kube::Client, Asked) {
        use axum::extract::Request;
        let asked: Asked = Arc::default();
        let a = asked.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let a = a.clone();
            async move {
                let uri = req.uri().to_string();
                let headers = ["upgrade", "connection", "sec-websocket-protocol", "sec-websocket-version"]
                    .iter()
                    .filter_map(|h| {
                        let v = req.headers().get(*h)?.to_str().ok()?;
                        Some((h.to_string(), v.to_string()))
                    })
                    .collect();
                a.lock().unwrap().push((req.method().to_string(), uri.clone(), headers));
                let path = req.uri().path().to_string();
                let pod = |name: &str, ready: &str| {
                    json!({"metadata": {"name": name, "namespace": "mlops", "labels": {"app": "pitcrew-agent"}},
                           "spec": {"containers": [{"name": "agent", "ports": [{"name": "https", "containerPort": 9184}]}]},
                           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}})
                };
                let (code, body): (u16, Value) = match path.as_str() {
                    "/api/v1/namespaces/mlops/services/pitcrew-agent" => (200, json!({
                        "apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": "pitcrew-agent", "namespace": "mlops"},
                        "spec": {"selector": {"app": "pitcrew-agent"},
                                 "ports": [{"name": "https", "port": 443, "targetPort": "https"}]}})),
                    "/api/v1/namespaces/mlops/pods" => (200, json!({
                        "apiVersion": "v1", "kind": "PodList", "metadata": {},
                        "items": [pod("pitcrew-agent-a", "False"), pod("pitcrew-agent-b", "True")]})),
                    p if p.ends_with("/portforward") => (403, json!({
                        "kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": "pods \"pitcrew-agent-b\" is forbidden: User \"vic\" cannot create resource \"pods/portforward\"",
                        "reason": "Forbidden", "code": 403})),
                    _ => (404, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "message": "not found", "reason": "NotFound", "code": 404})),
                };
                (axum::http::StatusCode::from_u16(code).unwrap(), axum::Json(body))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let cfg = kube::Config::new(format!("http://{addr}").parse().unwrap());
        (kube::Client::try_from(cfg).unwrap(), asked)
    }

    #[tokio::test]
    async fn the_agent_is_found_by_its_service_and_reached_by_a_port_forward_as_kubernetes_defines()
    {
        let (client, asked) = fake().await;
        let found = find(&client, "mlops", DEFAULT_SERVICE).await.unwrap();
        // the ready pod, the container port the Service's named target port names, TLS from
        // the port's name, and the name the certificate is checked against
        assert_eq!(
            found,
            Found {
                pod: "pitcrew-agent-b".into(),
                port: 9184,
                tls: true,
                host: "pitcrew-agent.mlops.svc".into(),
            }
        );
        // refused by RBAC: said at once, with the API server's reason
        let e = forward(
            client.clone(),
            "mlops".into(),
            DEFAULT_SERVICE.into(),
            found,
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(e.contains("403") && e.contains("pods/portforward"), "{e}");
        let asked = asked.lock().unwrap().clone();
        let shapes: Vec<(&str, &str)> = asked
            .iter()
            .map(|(m, u, _)| (m.as_str(), u.as_str()))
            .collect();
        assert_eq!(
            shapes,
            [
                ("GET", "/api/v1/namespaces/mlops/services/pitcrew-agent"),
                (
                    "GET",
                    "/api/v1/namespaces/mlops/pods?&labelSelector=app%3Dpitcrew-agent"
                ),
                (
                    "GET",
                    "/api/v1/namespaces/mlops/pods/pitcrew-agent-b/portforward?&ports=9184"
                ),
            ]
        );
        // the port-forward is a WebSocket upgrade with Kubernetes' channel protocol
        let h: std::collections::BTreeMap<_, _> = asked[2].2.iter().cloned().collect();
        assert_eq!(h.get("upgrade").map(String::as_str), Some("websocket"));
        assert_eq!(
            h.get("sec-websocket-version").map(String::as_str),
            Some("13")
        );
        assert!(
            h.get("sec-websocket-protocol")
                .is_some_and(|p| p.contains("channel.k8s.io")),
            "{h:?}"
        );
    }

    #[tokio::test]
    async fn no_ready_pod_and_no_service_are_said() {
        let (client, _) = fake().await;
        let e = find(&client, "mlops", "other").await.unwrap_err();
        assert!(e.contains("mlops/other") && e.contains("404"), "{e}");
        let p = |ready: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "x"},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}}))
            .unwrap()
        };
        assert_eq!(pick(&[p("False")], None, 9184), None);
        assert_eq!(pick(&[p("True")], None, 9184), Some(("x".into(), 9184)));
    }
}
