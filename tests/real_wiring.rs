//! The binary wired to real systems: `pitcrew agent --config` reads its models and signals
//! from a Prometheus HTTP API (a scripted server on 127.0.0.1 that speaks the real JSON) and
//! exports them; with no `[kubernetes]` section no actuator exists.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

#[test]
fn agent_on_prometheus_exports_its_models_and_builds_no_actuator() {
    let prom = common::fake_prom::fake_prometheus();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        common::fake_prom::config(&prom, "[models.\"shop/alpha\"]\npriority = 1\n"),
    )
    .unwrap();
    let check = common::bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let (mut child, addr) = common::spawn_agent(
        common::bin()
            .args([
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--phase",
                "autonomy",
                "--config",
            ])
            .arg(&cfg)
            .env("PITCREW_DATA", dir.path().join("data"))
            .env("PITCREW_CONFIG", dir.path()),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (_, body) = common::http_get(&addr, "/metrics");
        if body.contains("mlops_model_latency_p95{namespace=\"shop\",model=\"alpha\"} 120") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus data never arrived:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(metrics.contains("pitcrew_models 2"), "{metrics}");
    assert!(
        metrics.contains("mlops_model_request_rate{namespace=\"shop\",model=\"beta\"} 7"),
        "{metrics}"
    );
    assert!(metrics.contains("pitcrew_source_up 1"), "{metrics}");
    let (code, body) = common::http_get(&addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    common::terminate(&mut child);
    // the journal says where the data came from and that no actuator existed
    let journal = std::fs::read_dir(dir.path().join("data/journal"))
        .unwrap()
        .filter_map(Result::ok)
        .next()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(journal).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.contains(&format!("prometheus {prom}")), "{header}");
    assert!(
        text.contains("no [kubernetes] section in the config"),
        "the missing actuator is said"
    );
}

#[test]
fn check_probe_says_what_answered() {
    let prom = common::fake_prom::fake_prometheus();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[prometheus]\nurl = \"http://{prom}\"\n[prometheus.queries]\n\
             request_rate = \"rate_q\"\nlatency_p95 = \"p95_q\"\n"
        ),
    )
    .unwrap();
    let out = common::bin()
        .args(["check", "--probe", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok    prometheus  query request_rate: 2 series"),
        "{text}"
    );
    assert!(text.contains("probe: all 2 answered"), "{text}");
    // nothing listens on port 9 of loopback
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[prometheus]\nurl = \"http://127.0.0.1:9\"\ntimeout_seconds = 1\n\
         [prometheus.queries]\nrequest_rate = \"rate_q\"\n\
         [mlflow]\ntracking_uri = \"http://127.0.0.1:9\"\ntimeout_seconds = 1\n",
    )
    .unwrap();
    let out = common::bin()
        .args(["check", "--probe", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  prometheus  query request_rate"),
        "{text}"
    );
    assert!(text.contains("FAIL  mlflow"), "{text}");
    assert!(text.contains("127.0.0.1:9"), "{text}");
}

/// A hostile Prometheus: request rate answers 5,000 series (one with a namespace holding
/// control characters); latency answers HTTP 400 with 5 MB
/// of escape codes; after the first minute of answers, every instant query hangs.
fn hostile_prometheus() -> String {
    use axum::routing::any;
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app =
                axum::Router::new().route(
                    "/api/v1/{kind}",
                    any(
                        move |axum::extract::Path(kind): axum::extract::Path<String>,
                              body: axum::body::Bytes| async move {
                            use axum::response::IntoResponse;
                            let form = String::from_utf8_lossy(&body).to_string();
                            let get = |k: &str| -> f64 {
                                form.split('&')
                                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                                    .and_then(|v| v.parse().ok())
                                    .unwrap_or(0.0)
                            };
                            if form.contains("query=p95_q") {
                                let junk = "\x1b[2J\x1b]0;owned\x07\nforged line\r".repeat(200_000);
                                let body = serde_json::json!({"status": "error",
                                "errorType": "bad_data", "error": junk});
                                return (axum::http::StatusCode::BAD_REQUEST, body.to_string())
                                    .into_response();
                            }
                            if kind == "query" && started.elapsed() > Duration::from_secs(20) {
                                // upstream hangs: shutdown must not wait for it
                                tokio::time::sleep(Duration::from_secs(600)).await;
                            }
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_secs_f64();
                            let times: Vec<f64> = if kind == "query_range" {
                                let (s, e, st) = (get("start"), get("end"), get("step").max(1.0));
                                let n = (((e - s) / st).floor() as usize + 1).min(11_000);
                                (0..n).map(|k| s + k as f64 * st).collect()
                            } else {
                                vec![now]
                            };
                            let result: Vec<serde_json::Value> = (0..5_000)
                            .map(|m| {
                                // one series' namespace carries a newline and an escape code
                                let ns = if m == 0 { "shop\n\x1b[31mforged" } else { "shop" };
                                let metric =
                                    serde_json::json!({"model": format!("m{m}"), "namespace": ns});
                                if kind == "query_range" {
                                    let v: Vec<_> =
                                        times.iter().map(|t| serde_json::json!([t, "5"])).collect();
                                    serde_json::json!({"metric": metric, "values": v})
                                } else {
                                    serde_json::json!({"metric": metric, "value": [now, "5"]})
                                }
                            })
                            .collect();
                            let rt = if kind == "query_range" {
                                "matrix"
                            } else {
                                "vector"
                            };
                            serde_json::json!({"status": "success",
                            "data": {"resultType": rt, "result": result}})
                            .to_string()
                            .into_response()
                        },
                    ),
                );
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap().to_string()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

#[test]
fn a_hostile_prometheus_neither_starves_health_nor_forges_logs_nor_delays_shutdown() {
    let prom = hostile_prometheus();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[prometheus]\nurl = \"http://{prom}\"\nstep_seconds = 5\nbackfill_hours = 0.25\n\
             timeout_seconds = 300\n\
             [prometheus.queries]\nrequest_rate = \"rate_q\"\nlatency_p95 = \"p95_q\"\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = common::spawn_agent(
        common::bin()
            .args(["agent", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .env("PITCREW_DATA", &data)
            .env("PITCREW_CONFIG", dir.path()),
    );
    // 4,999 models arrive (the one with control characters in its name is dropped);
    // /healthz answers promptly throughout
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut slowest = Duration::ZERO;
    loop {
        let t0 = Instant::now();
        let (code, body) = common::http_get(&addr, "/healthz");
        slowest = slowest.max(t0.elapsed());
        assert!(code == 200 || code == 503, "{code} {body}");
        assert!(!body.contains('\x1b'), "escape codes in /healthz: {body:?}");
        let (_, metrics) = common::http_get(&addr, "/metrics");
        if metrics.contains("pitcrew_models 4999") {
            break;
        }
        assert!(Instant::now() < deadline, "the models never arrived");
        std::thread::sleep(Duration::from_millis(200));
    }
    // into the time when upstream hangs
    std::thread::sleep(Duration::from_secs(25));
    let t0 = Instant::now();
    let (code, _) = common::http_get(&addr, "/healthz");
    slowest = slowest.max(t0.elapsed());
    assert!(code == 200 || code == 503);
    assert!(
        slowest < Duration::from_secs(1),
        "/healthz took {slowest:?}"
    );
    let t0 = Instant::now();
    let status = common::terminate(&mut child);
    assert!(status.success(), "{status:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t0.elapsed()
    );
    // the log: one event per line, no escape code, no forged line, the upstream text clipped
    let log = std::fs::read(data.join("pitcrew.log")).unwrap();
    assert!(!log.contains(&0x1b), "escape codes in the log");
    let log = String::from_utf8_lossy(&log);
    assert!(
        !log.lines().any(|l| l.starts_with("forged")),
        "a forged line in the log"
    );
    assert!(log.len() < 4 << 20, "the log grew to {} bytes", log.len());
    // the journal: no raw escape bytes, and far from 5 MB per error
    let mut journal_bytes = 0;
    for e in std::fs::read_dir(data.join("journal")).unwrap() {
        let b = std::fs::read(e.unwrap().path()).unwrap();
        assert!(!b.contains(&0x1b), "escape codes in the journal");
        // nor escaped ones: upstream text and names are stripped of control characters
        let text = String::from_utf8_lossy(&b);
        assert!(!text.contains("\\u001b"), "escape codes in the journal");
        journal_bytes += b.len();
    }
    assert!(journal_bytes < 64 << 20, "journal {journal_bytes} bytes");
}
