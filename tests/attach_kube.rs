//! `pitcrew attach --kube-context C --namespace N`, end to end through a fake Kubernetes API
//! server: the console reads the kubeconfig, finds the agent's Service and a ready pod behind
//! it, and reaches a real agent on loopback through the API server's port-forward (a WebSocket
//! speaking `v4.channel.k8s.io`, which the fake carries to the agent). The fake is not a real
//! API server: its answers are those Kubernetes documents, and the same requests' shapes are
//! checked in `src/app/via_kube.rs`.

mod common;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use common::control::{first_model, wait_metric};
use common::pty;
use pitcrew::control::auth::token_hash;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// What the fake API server was asked: the path and query, and the Authorization header.
type Asked = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Carry one port-forward: the agent's port on loopback behind channel 0 (its errors on 1).
async fn carry(mut ws: WebSocket, port: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    // each channel's first frame names the port
    for ch in [0u8, 1] {
        let [lo, hi] = port.to_le_bytes();
        if ws
            .send(Message::Binary(vec![ch, lo, hi].into()))
            .await
            .is_err()
        {
            return;
        }
    }
    let mut buf = vec![0u8; 64 << 10];
    loop {
        tokio::select! {
            n = tcp.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut frame = Vec::with_capacity(n + 1);
                    frame.push(0);
                    frame.extend_from_slice(&buf[..n]);
                    if ws.send(Message::Binary(frame.into())).await.is_err() {
                        break;
                    }
                }
            },
            m = ws.recv() => match m {
                Some(Ok(Message::Binary(b)))
                    if b.len() > 1 && b[0] == 0 && tcp.write_all(&b[1..]).await.is_err() =>
                {
                    break;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
}

/// The fake API server: the Service `pitcrew-agent` in `mlops` (plain HTTP, port `agent`), one
/// ready pod, and its port-forward.
async fn fake_api(agent: u16, asked: Asked) -> std::net::SocketAddr {
    use axum::extract::{Query, Request};
    use axum::routing::get;
    let a1 = asked.clone();
    let log = move |req: &Request| {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        a1.lock().expect("lock").push((req.uri().to_string(), auth));
    };
    let l1 = log.clone();
    let l2 = log.clone();
    let l3 = log;
    let app = axum::Router::new()
        .route(
            "/api/v1/namespaces/mlops/services/pitcrew-agent",
            get(move |req: Request| async move {
                l1(&req);
                axum::Json(json!({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "pitcrew-agent", "namespace": "mlops"},
                    "spec": {"selector": {"app": "pitcrew-agent"},
                             "ports": [{"name": "http", "port": 9184, "targetPort": agent}]}}))
            }),
        )
        .route(
            "/api/v1/namespaces/mlops/pods",
            get(move |req: Request| async move {
                l2(&req);
                axum::Json(json!({
                    "apiVersion": "v1", "kind": "PodList", "metadata": {},
                    "items": [{"metadata": {"name": "pitcrew-agent-0", "namespace": "mlops"},
                               "status": {"phase": "Running",
                                          "conditions": [{"type": "Ready", "status": "True"}]}}]}))
            }),
        )
        .route(
            "/api/v1/namespaces/mlops/pods/pitcrew-agent-0/portforward",
            get(
                move |Query(q): Query<std::collections::HashMap<String, String>>,
                      ws: WebSocketUpgrade,
                      req: Request| async move {
                    l3(&req);
                    let port: u16 = q.get("ports").and_then(|p| p.parse().ok()).unwrap_or(0);
                    ws.protocols(["v4.channel.k8s.io"])
                        .on_upgrade(move |s| carry(s, port))
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[test]
fn a_console_finds_the_agent_through_the_api_server_and_attaches_by_port_forward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = format!("kube-attach-{}", std::process::id());
    std::fs::write(
        dir.path().join("tokens.toml"),
        format!(
            "[[tokens]]\nuser = \"vic\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
            token_hash(&token)
        ),
    )
    .expect("tokens");
    std::fs::write(dir.path().join("vic.token"), &token).expect("token file");
    let port = common::prom::free_port();
    let mut cmd = common::control::agent_command(port, &dir.path().join("tokens.toml"), dir.path());
    cmd.args(["--models", "6", "--speed", "20"]);
    let (mut agent, addr) = common::spawn_agent(&mut cmd);
    let model = first_model(&wait_metric(&addr, "pitcrew_models 6", 30));

    let asked: Asked = Arc::default();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let api = rt.block_on(fake_api(port, asked.clone()));
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{api}\nusers:\n- name: vic\n  user:\n    token: kube-credential-of-vic\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: vic\ncurrent-context: other\n"
        ),
    )
    .expect("kubeconfig");
    let token_file = dir.path().join("vic.token").display().to_string();
    let kc = kubeconfig.display().to_string();
    let mut console = pty::spawn(
        &[
            "attach",
            "--kube-context",
            "fake",
            "--namespace",
            "mlops",
            "--token-file",
            &token_file,
        ],
        &[("KUBECONFIG", &kc)],
        140,
        32,
    );
    // the fleet, live, through the port-forward
    console.wait_for(model.split('/').nth(1).expect("name"), 30);
    console.wait_for("live", 30);
    console.send("q");
    console.wait_exit(10);
    assert!(common::terminate(&mut agent).success());

    let asked = asked.lock().expect("lock").clone();
    let paths: Vec<&str> = asked.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths[0], "/api/v1/namespaces/mlops/services/pitcrew-agent");
    assert_eq!(
        paths[1],
        "/api/v1/namespaces/mlops/pods?&labelSelector=app%3Dpitcrew-agent"
    );
    assert!(
        paths[2..].iter().all(|p| *p
            == format!("/api/v1/namespaces/mlops/pods/pitcrew-agent-0/portforward?&ports={port}")),
        "{paths:?}"
    );
    // the kubeconfig's credential goes to the API server (the context named, not the current
    // one), the agent's token only through the tunnel
    for (p, auth) in &asked {
        assert_eq!(
            auth.as_deref(),
            Some("Bearer kube-credential-of-vic"),
            "{p}"
        );
    }
}
