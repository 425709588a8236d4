//! A scripted Prometheus HTTP API on 127.0.0.1 for the binary-driven tests: every query
//! answers one series per model (alpha and beta in namespace shop) in the real JSON, for
//! instant queries and ranges alike.
#![allow(dead_code, clippy::unwrap_used)]

use axum::routing::any;
use std::collections::HashMap;

/// Every query answers one series per model: alpha and beta in namespace shop.
fn answer(query: &str, range: Option<(f64, f64, f64)>, now: f64) -> serde_json::Value {
    let v = |model: &str| -> f64 {
        match (query, model) {
            ("rate_q", "alpha") => 42.0,
            ("rate_q", _) => 7.0,
            ("p95_q", "alpha") => 120.0,
            ("p95_q", _) => 80.0,
            _ => 0.0,
        }
    };
    let result: Vec<serde_json::Value> = ["alpha", "beta"]
        .iter()
        .map(|m| {
            let metric = serde_json::json!({"model": m, "namespace": "shop"});
            match range {
                Some((start, end, step)) => {
                    let mut values = Vec::new();
                    let mut t = start;
                    while t <= end {
                        values.push(serde_json::json!([t, format!("{}", v(m))]));
                        t += step;
                    }
                    serde_json::json!({"metric": metric, "values": values})
                }
                None => serde_json::json!({"metric": metric, "value": [now, format!("{}", v(m))]}),
            }
        })
        .collect();
    let kind = if range.is_some() { "matrix" } else { "vector" };
    serde_json::json!({"status": "success", "data": {"resultType": kind, "result": result}})
}

fn params(uri: &axum::http::Uri, body: &[u8]) -> HashMap<String, String> {
    let mut all = String::from_utf8_lossy(body).to_string();
    if let Some(q) = uri.query() {
        all.push('&');
        all.push_str(q);
    }
    all.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = v.replace('+', " ");
            let v = percent_decode(&v);
            (k.to_string(), v)
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// Start the scripted Prometheus on a thread of its own; returns its address.
pub fn fake_prometheus() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/api/v1/{kind}",
                any(
                    |axum::extract::Path(kind): axum::extract::Path<String>,
                     uri: axum::http::Uri,
                     body: axum::body::Bytes| async move {
                        let p = params(&uri, &body);
                        let q = p.get("query").cloned().unwrap_or_default();
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_secs_f64();
                        let range = (kind == "query_range").then(|| {
                            let f = |k: &str| -> f64 {
                                p.get(k).and_then(|v| v.parse().ok()).unwrap_or(0.0)
                            };
                            (f("start"), f("end"), f("step").max(1.0))
                        });
                        axum::Json(answer(&q, range, now))
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

/// A config for `pitcrew` against the fake at `prom` (5 s steps, an hour of backfill, the rate
/// and p95 queries), with `extra` sections after it.
pub fn config(prom: &str, extra: &str) -> String {
    format!(
        "[prometheus]\nurl = \"http://{prom}\"\nstep_seconds = 5\nbackfill_hours = 1\n\
         [prometheus.queries]\nrequest_rate = \"rate_q\"\nlatency_p95 = \"p95_q\"\n{extra}"
    )
}
