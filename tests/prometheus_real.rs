//! The Prometheus source against a real Prometheus (Debian's `prometheus` package, installed by
//! `scripts/test` / `scripts/setup-prometheus.sh`) started here on a free
//! loopback port: known series backfilled with `promtool tsdb create-blocks-from openmetrics`,
//! live data scraped from a small exporter this test serves on 127.0.0.1. The test kills
//! Prometheus mid-session (the source goes down, a real engine marks the models stale and
//! proposes nothing), restarts it and checks the recovery.
//!
//! A missing `prometheus` or `promtool` fails the test, always: CI must install them.
#![allow(clippy::unwrap_used)]

mod common;

use common::prom::{Prom, find_bin, free_port};
use pitcrew::clients::prometheus::PromClient;
use pitcrew::config::{PrometheusConfig, SignalQueries};
use pitcrew::domain::Signal;
use pitcrew::engine::{Engine, EngineConfig, Event, SourceState, Status};
use pitcrew::sources::prometheus;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const MODELS: [&str; 3] = ["fraud", "ranker", "search"];
/// Resolution of the backfilled data, seconds.
const DATA_STEP: i64 = 15;
/// The source's step in this test (the engine calls a model stale after 6 steps).
const STEP: f64 = 2.0;

/// Known backfilled values: model `m`, data index `k` (time = k · DATA_STEP).
fn known(sig: Signal, m: usize, k: i64) -> f64 {
    match sig {
        Signal::RequestRate => 100.0 + 10.0 * m as f64 + (k % 5) as f64,
        Signal::LatencyP95 => 50.0 + m as f64 + (k % 3) as f64,
        Signal::ErrorRate => 0.001 * (m as f64 + 1.0),
        _ => f64::NAN,
    }
}

/// Live values served by the exporter.
fn live(sig: Signal, m: usize) -> f64 {
    match sig {
        Signal::RequestRate => 500.0 + m as f64,
        Signal::LatencyP95 => 60.0,
        Signal::ErrorRate => 0.002,
        _ => f64::NAN,
    }
}

const METRICS: [(Signal, &str); 3] = [
    (Signal::RequestRate, "pitcrew_test_rps"),
    (Signal::LatencyP95, "pitcrew_test_p95_ms"),
    (Signal::ErrorRate, "pitcrew_test_error_ratio"),
];

fn series_labels(m: usize) -> String {
    format!(
        "job=\"pitcrew-test\",instance=\"exporter\",namespace=\"shop\",model=\"{}\",version=\"v1\"",
        MODELS[m]
    )
}

fn openmetrics(first_k: i64, last_k: i64) -> String {
    let mut s = String::new();
    for (sig, name) in METRICS {
        writeln!(s, "# TYPE {name} gauge").unwrap();
        for m in 0..MODELS.len() {
            for k in first_k..=last_k {
                writeln!(
                    s,
                    "{name}{{{}}} {} {}",
                    series_labels(m),
                    known(sig, m, k),
                    k * DATA_STEP
                )
                .unwrap();
            }
        }
    }
    s.push_str("# EOF\n");
    s
}

fn exposition() -> String {
    let mut s = String::new();
    for (sig, name) in METRICS {
        writeln!(s, "# TYPE {name} gauge").unwrap();
        for m in 0..MODELS.len() {
            writeln!(s, "{name}{{{}}} {}", series_labels(m), live(sig, m)).unwrap();
        }
    }
    s
}

fn config(port: u16) -> PrometheusConfig {
    PrometheusConfig {
        url: format!("http://127.0.0.1:{port}"),
        bearer_token: None,
        ca_file: None,
        timeout_seconds: 5.0,
        step_seconds: STEP,
        backfill_hours: 0.25,
        model_label: "model".into(),
        namespace_label: "namespace".into(),
        default_namespace: "default".into(),
        stale_after_seconds: 60.0,
        max_answer_mib: pitcrew::config::default_max_answer_mib(),
        max_series: pitcrew::config::default_max_series(),
        queries: SignalQueries {
            request_rate: "max by (namespace, model, version) (pitcrew_test_rps)".into(),
            latency_p95: Some("max by (namespace, model) (pitcrew_test_p95_ms)".into()),
            error_rate: Some("max by (namespace, model) (pitcrew_test_error_ratio)".into()),
            accuracy: None,
            cpu: None,
            replicas: None,
        },
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Apply events to the engine until `pred` holds for an event, or panic after `secs`.
async fn pump(
    rx: &mut mpsc::Receiver<Event>,
    engine: &mut Engine,
    seen: &mut Vec<Event>,
    secs: f64,
    what: &str,
    pred: impl Fn(&Event, &Engine) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(ev)) => {
                engine.apply(ev.clone());
                seen.push(ev.clone());
                if pred(&ev, engine) {
                    return;
                }
            }
            Ok(None) => panic!("the source stopped before {what}"),
            Err(_) => {
                let st: Vec<String> = seen
                    .iter()
                    .filter_map(|e| match e {
                        Event::Source { status, .. } => Some(format!("{:?}", status.state)),
                        _ => None,
                    })
                    .collect();
                panic!("no {what} within {secs} s; source states: {st:?}")
            }
        }
    }
}

fn setup(dir: &Path, exporter_port: u16) -> (i64, i64) {
    let promtool = find_bin("promtool", "PITCREW_PROMTOOL_BIN");
    // 4 h 10 min of known data at 15 s, ending a minute ago
    let last_k = (now() as i64 - 60) / DATA_STEP;
    let first_k = last_k - (4 * 3600 + 600) / DATA_STEP;
    let om = dir.join("known.om");
    std::fs::write(&om, openmetrics(first_k, last_k)).unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&data)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", promtool.display()));
    assert!(
        out.status.success(),
        "promtool failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: pitcrew-test\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n"
        ),
    )
    .unwrap();
    (first_k, last_k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_equals_known_values_then_down_stale_and_recovery() {
    let bin = find_bin("prometheus", "PITCREW_PROMETHEUS_BIN");
    let tmp = tempfile::tempdir().unwrap();
    // the exporter for live data
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let exporter_port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/metrics", axum::routing::get(|| async { exposition() }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let (first_k, last_k) = setup(tmp.path(), exporter_port);
    let mut prom = Prom {
        bin,
        dir: tmp.path().to_path_buf(),
        port: free_port(),
        child: None,
        starts: 0,
        retention: "30d",
    };
    prom.start();
    prom.wait_ready().await;
    let cfg = config(prom.port);

    // the client: a 4 h range at 1 s is 14,401 points, more than one request may ask for;
    // every point is the known value of the latest sample at or before it
    let client = PromClient::new(&cfg).unwrap();
    let end = (last_k * DATA_STEP) as f64;
    let start = end - 4.0 * 3600.0;
    let r = client
        .query_range("pitcrew_test_rps", start, end, 1.0)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", prom.logs()));
    assert_eq!(
        r.series.len(),
        MODELS.len(),
        "{:?}",
        r.series.iter().map(|s| &s.labels).collect::<Vec<_>>()
    );
    for s in &r.series {
        let m = MODELS.iter().position(|n| s.labels["model"] == *n).unwrap();
        assert_eq!(s.points.len(), 14_401, "{}", s.labels["model"]);
        for &(t, v) in &s.points {
            let k = (t as i64).div_euclid(DATA_STEP);
            assert_eq!(v, known(Signal::RequestRate, m, k), "model {m} at {t}");
        }
    }
    let bad = client.query("sum(rate(", end).await.unwrap_err();
    assert!(
        bad.to_string().contains("bad data") && bad.to_string().contains("sum(rate("),
        "{bad}"
    );

    // the source, into a real engine
    let (tx, mut rx) = mpsc::channel(8192);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(prometheus::run(
        Vec::new(),
        cfg,
        BTreeMap::new(),
        None,
        1.0,
        None,
        tx,
        cancel.clone(),
    ));
    let mut engine = Engine::new(EngineConfig::default());
    let mut seen = Vec::new();
    pump(
        &mut rx,
        &mut engine,
        &mut seen,
        60.0,
        "live",
        |e, _| matches!(e, Event::Source { status, .. } if status.state == SourceState::Live),
    )
    .await;
    assert!(
        seen.iter().any(|e| matches!(e, Event::Source { status, .. } if matches!(status.state, SourceState::Backfilling { .. }))),
        "backfilling shown first"
    );
    let metas: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Models { models, .. } => Some(models.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let mut keys: Vec<String> = metas.iter().map(|m| m.key()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(metas.iter().all(|m| m.version == "v1"), "{metas:?}");
    // backfilled observations up to the end of the known data equal the known values
    let mut checked = 0;
    for e in &seen {
        if let Event::Observations { t, samples } = e
            && (*t as i64) <= last_k * DATA_STEP
        {
            assert!((*t as i64) >= first_k * DATA_STEP);
            let k = (*t as i64).div_euclid(DATA_STEP);
            assert_eq!(samples.len(), 3, "at {t}");
            for (i, s) in samples {
                let m = MODELS
                    .iter()
                    .position(|n| metas[*i as usize].name == *n)
                    .unwrap();
                for (sig, _) in METRICS {
                    assert_eq!(
                        s.get(sig),
                        known(sig, m, k) as f32,
                        "{} {sig} at {t}",
                        MODELS[m]
                    );
                }
                assert!(s.get(Signal::Cpu).is_nan());
            }
            checked += 1;
        }
    }
    // 0.25 h at 2 s, less the last minute
    assert!(checked >= 400, "{checked} backfilled observations checked");
    // live data from the exporter
    pump(
        &mut rx,
        &mut engine,
        &mut seen,
        30.0,
        "live values from the exporter",
        |e, _| {
            matches!(e, Event::Observations { samples, .. }
            if samples.iter().any(|(_, s)| s.get(Signal::RequestRate) >= 500.0))
        },
    )
    .await;
    let snap = engine.snapshot(None, 10);
    assert!(
        snap.rows.iter().all(|r| r.status != Status::Unknown),
        "fresh before the kill"
    );
    let proposed_before = snap.remediations.len();

    // Prometheus dies mid-session
    prom.kill();
    let killed = now();
    pump(&mut rx, &mut engine, &mut seen, 30.0, "down", |e, _| {
        matches!(e, Event::Source { status, .. } if matches!(status.state, SourceState::Down { .. }))
    })
    .await;
    let Some(Event::Source { status, .. }) = seen.last() else {
        unreachable!()
    };
    let SourceState::Down { error } = &status.state else {
        unreachable!()
    };
    assert!(
        error.contains(&format!("127.0.0.1:{}", prom.port)),
        "{error}"
    );
    // stale after 6 steps without data
    pump(
        &mut rx,
        &mut engine,
        &mut seen,
        60.0,
        "stale models",
        |_, en| {
            let s = en.snapshot(None, 0);
            s.rows.iter().all(|r| r.status == Status::Unknown)
        },
    )
    .await;
    // keep it down a little longer: nothing is proposed from stale data
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            engine.apply(ev.clone());
            seen.push(ev);
        }
    }
    let snap = engine.snapshot(None, 10);
    assert!(matches!(snap.source.state, SourceState::Down { .. }));
    assert!(snap.rows.iter().all(|r| r.status == Status::Unknown));
    assert!(
        snap.data_age().unwrap() >= 6.0 * STEP,
        "{:?}",
        snap.data_age()
    );
    assert_eq!(
        snap.remediations
            .iter()
            .filter(|r| r.proposed >= killed)
            .count(),
        0,
        "proposed from stale data: {:?}",
        snap.remediations
            .iter()
            .map(|r| (&r.key, &r.playbook))
            .collect::<Vec<_>>()
    );
    assert!(snap.remediations.len() <= proposed_before);

    // it comes back: live again, the gap filled, fresh models
    prom.start();
    prom.wait_ready().await;
    let n = seen.len();
    pump(
        &mut rx,
        &mut engine,
        &mut seen,
        90.0,
        "live after the restart",
        |e, _| matches!(e, Event::Source { status, .. } if status.state == SourceState::Live),
    )
    .await;
    pump(
        &mut rx,
        &mut engine,
        &mut seen,
        30.0,
        "fresh models",
        |_, en| {
            en.snapshot(None, 0)
                .rows
                .iter()
                .all(|r| r.status != Status::Unknown)
        },
    )
    .await;
    let times: Vec<f64> = seen[n..]
        .iter()
        .filter_map(|e| match e {
            Event::Observations { t, .. } => Some(*t),
            _ => None,
        })
        .collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]));
    // the gap since the kill was backfilled (steps from before the restart arrived)
    assert!(
        times.first().is_some_and(|&t| t <= killed + 2.0 * STEP),
        "{:?} after the kill at {killed}",
        times.first()
    );
    cancel.cancel();
    let _ = task.await;
}
