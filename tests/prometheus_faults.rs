//! The Prometheus source against a scripted, in-process HTTP server on 127.0.0.1: malformed
//! JSON, 400 and 422 error bodies, a 503 storm (breaker, Down, recovery with the gap
//! backfilled), replies slower than the time-out, partial results with warnings, NaN/±Inf
//! values, and history mode.
#![allow(clippy::unwrap_used)]

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use pitcrew::clients::prometheus::{Guarded, PromClient, PromError};
use pitcrew::config::{PrometheusConfig, SignalQueries};
use pitcrew::domain::Signal;
use pitcrew::engine::{Engine, EngineConfig, Event, SourceState, Status};
use pitcrew::sources::prometheus;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    Malformed,
    BadData,
    Execution,
    Unavailable,
    Slow,
    /// Only the latency query is rejected (400); the others answer.
    PartialBadLatency,
    /// Success with a warning (a partial response).
    Warn,
    /// Ten models instead of two (range answers of several MiB).
    Wide,
    /// A success answer that never ends.
    Endless,
    /// Beta's value is `"abc"`.
    OneBad,
    /// 5,000 series in an instant answer.
    ManySeries,
}

#[derive(Debug)]
struct Script {
    mode: Mode,
    requests: u64,
    range_requests: Vec<(f64, f64)>,
}

type Shared = Arc<Mutex<Script>>;

const RR: &str = "sum by (namespace, model) (rate(req_total[1m]))";
const LAT: &str = "p95_ms";
const ERR: &str = "err_ratio";

fn value(query: &str, model: &str, t: f64) -> String {
    match (query, model) {
        (RR, "alpha") => format!("{}", 10.0 + (t % 7.0)),
        (RR, _) => "20".into(),
        (LAT, "alpha") => "120".into(),
        (LAT, _) => "+Inf".into(),
        (ERR, "alpha") => "NaN".into(),
        (ERR, _) => "-Inf".into(),
        _ => "0".into(),
    }
}

fn metric(model: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "namespace": "shop", "version": "v3"})
}

async fn handle(
    state: &Shared,
    form: HashMap<String, String>,
    range: bool,
) -> axum::response::Response {
    let mode = {
        let mut s = state.lock().unwrap();
        s.requests += 1;
        if range && matches!(s.mode, Mode::Ok | Mode::Wide) {
            let start = form
                .get("start")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            let end = form.get("end").and_then(|v| v.parse().ok()).unwrap_or(0.0);
            s.range_requests.push((start, end));
        }
        s.mode
    };
    let query = form.get("query").cloned().unwrap_or_default();
    let err = |code: StatusCode, et: &str, msg: &str| {
        (
            code,
            serde_json::json!({"status": "error", "errorType": et, "error": msg}).to_string(),
        )
            .into_response()
    };
    match mode {
        Mode::Malformed => {
            return (StatusCode::OK, "{\"status\":\"success\",\"data\":{\"resu").into_response();
        }
        Mode::BadData => {
            return err(
                StatusCode::BAD_REQUEST,
                "bad_data",
                "1:12: parse error: unexpected <EOF> (scripted)",
            );
        }
        Mode::Execution => {
            return err(
                StatusCode::UNPROCESSABLE_ENTITY,
                "execution",
                "found duplicate series for the match group (scripted)",
            );
        }
        Mode::Unavailable => {
            return err(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "TSDB not ready (scripted)",
            );
        }
        Mode::PartialBadLatency if query == LAT => {
            return err(
                StatusCode::BAD_REQUEST,
                "bad_data",
                "unknown function p95_ms (scripted)",
            );
        }
        Mode::Slow => tokio::time::sleep(Duration::from_secs(3)).await,
        Mode::Endless => {
            let head = futures::stream::once(async {
                Ok::<_, std::io::Error>(axum::body::Bytes::from_static(
                    b"{\"status\":\"success\",\"warnings\":[\"",
                ))
            });
            let pad = futures::stream::repeat_with(|| {
                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; 64 * 1024]))
            });
            use futures::StreamExt;
            return axum::body::Body::from_stream(head.chain(pad)).into_response();
        }
        Mode::ManySeries if !range => {
            let t: f64 = form.get("time").and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let result: Vec<_> = (0..5_000)
                .map(|k| serde_json::json!({"metric": metric(&format!("m{k}")), "value": [t, "1"]}))
                .collect();
            let body = serde_json::json!({"status": "success",
                "data": {"resultType": "vector", "result": result}});
            return (StatusCode::OK, body.to_string()).into_response();
        }
        _ => {}
    }
    let wide: Vec<String> = (0..10).map(|k| format!("model{k}")).collect();
    let models: Vec<&str> = if mode == Mode::Wide {
        wide.iter().map(|m| m.as_str()).collect()
    } else {
        vec!["alpha", "beta"]
    };
    let value = |q: &str, m: &str, t: f64| {
        if mode == Mode::OneBad && m == "beta" {
            "abc".to_string()
        } else {
            value(q, m, t)
        }
    };
    let data = if range {
        let start: f64 = form
            .get("start")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let end: f64 = form.get("end").and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let step: f64 = form.get("step").and_then(|v| v.parse().ok()).unwrap_or(1.0);
        let n = ((end - start) / step).round() as usize + 1;
        assert!(
            n <= 11_000,
            "the source asked for {n} points in one request"
        );
        let result: Vec<_> = models
            .iter()
            .map(|m| {
                let values: Vec<_> = (0..n)
                    .map(|k| {
                        let t = start + k as f64 * step;
                        serde_json::json!([t, value(&query, m, t)])
                    })
                    .collect();
                serde_json::json!({"metric": metric(m), "values": values})
            })
            .collect();
        serde_json::json!({"resultType": "matrix", "result": result})
    } else {
        let t: f64 = form.get("time").and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let result: Vec<_> = models
            .iter()
            .map(|m| serde_json::json!({"metric": metric(m), "value": [t, value(&query, m, t)]}))
            .collect();
        serde_json::json!({"resultType": "vector", "result": result})
    };
    let mut body = serde_json::json!({"status": "success", "data": data});
    if mode == Mode::Warn {
        body["warnings"] =
            serde_json::json!(["partial response: store eu-1 unreachable (scripted)"]);
    }
    (StatusCode::OK, body.to_string()).into_response()
}

async fn server(mode: Mode) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(Script {
        mode,
        requests: 0,
        range_requests: Vec::new(),
    }));
    let app =
        axum::Router::new()
            .route(
                "/api/v1/query",
                post(
                    |State(s): State<Shared>,
                     axum::Form(f): axum::Form<HashMap<String, String>>| async move {
                        handle(&s, f, false).await
                    },
                ),
            )
            .route(
                "/api/v1/query_range",
                post(
                    |State(s): State<Shared>,
                     axum::Form(f): axum::Form<HashMap<String, String>>| async move {
                        handle(&s, f, true).await
                    },
                ),
            )
            .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), state)
}

fn config(url: &str) -> PrometheusConfig {
    PrometheusConfig {
        url: url.to_string(),
        bearer_token: None,
        ca_file: None,
        timeout_seconds: 1.0,
        step_seconds: 1.0,
        backfill_hours: 0.01, // 36 s
        model_label: "model".into(),
        namespace_label: "namespace".into(),
        default_namespace: "default".into(),
        stale_after_seconds: 60.0,
        max_answer_mib: pitcrew::config::default_max_answer_mib(),
        max_series: pitcrew::config::default_max_series(),
        queries: SignalQueries {
            request_rate: RR.into(),
            latency_p95: Some(LAT.into()),
            error_rate: Some(ERR.into()),
            accuracy: None,
            cpu: None,
            replicas: None,
        },
    }
}

struct Harness {
    rx: mpsc::Receiver<Event>,
    seen: Vec<Event>,
    cancel: CancellationToken,
    state: Shared,
}

impl Harness {
    async fn start(
        mode: Mode,
        tweak: impl FnOnce(&mut PrometheusConfig),
        range: Option<(f64, f64)>,
        speed: f64,
    ) -> Harness {
        let (url, state) = server(mode).await;
        let mut cfg = config(&url);
        tweak(&mut cfg);
        let (tx, rx) = mpsc::channel(4096);
        let cancel = CancellationToken::new();
        tokio::spawn(prometheus::run(
            Vec::new(),
            cfg,
            BTreeMap::new(),
            range,
            speed,
            None,
            tx,
            cancel.clone(),
        ));
        Harness {
            rx,
            seen: Vec::new(),
            cancel,
            state,
        }
    }

    fn set(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    fn requests(&self) -> u64 {
        self.state.lock().unwrap().requests
    }

    /// Events until one matches (returned), or panic after `secs` listing what was seen.
    async fn until(&mut self, secs: f64, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(ev)) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Ok(None) => panic!(
                    "the source stopped before {what}; seen: {:?}",
                    statuses(&self.seen)
                ),
                Err(_) => panic!(
                    "no {what} within {secs} s; statuses seen: {:?}",
                    statuses(&self.seen)
                ),
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn statuses(evs: &[Event]) -> Vec<String> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Source { status, .. } => Some(format!("{:?} [{}]", status.state, status.label)),
            _ => None,
        })
        .collect()
}

fn is_live(e: &Event) -> bool {
    matches!(e, Event::Source { status, .. } if status.state == SourceState::Live)
}

fn down_error(e: &Event) -> Option<String> {
    match e {
        Event::Source { status, .. } => match &status.state {
            SourceState::Down { error } => Some(error.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn is_obs(e: &Event) -> bool {
    matches!(e, Event::Observations { .. })
}

#[tokio::test]
async fn backfill_then_live_with_non_finite_values_as_missing() {
    let mut h = Harness::start(Mode::Ok, |_| {}, None, 1.0).await;
    let first = h
        .until(10.0, "a backfilling status", |e| {
            matches!(e, Event::Source { .. })
        })
        .await;
    let Event::Source { status, .. } = &first else {
        unreachable!()
    };
    assert!(
        matches!(status.state, SourceState::Backfilling { .. }),
        "{status:?}"
    );
    assert_eq!(status.kind, pitcrew::engine::SourceKind::Prometheus);
    assert!(
        status.label.starts_with("prometheus 127.0.0.1:"),
        "{}",
        status.label
    );
    h.until(15.0, "live", is_live).await;
    // a live observation after going live
    h.until(5.0, "a live observation", is_obs).await;
    let models: Vec<_> = h
        .seen
        .iter()
        .filter_map(|e| match e {
            Event::Models { models, .. } => Some(models.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(models.len(), 2, "{models:?}");
    assert_eq!(models[0].key(), "shop/alpha");
    assert_eq!(models[0].version, "v3");
    let obs: Vec<(f64, Vec<(u32, pitcrew::fleet::Sample)>)> = h
        .seen
        .iter()
        .filter_map(|e| match e {
            Event::Observations { t, samples } => Some((*t, samples.clone())),
            _ => None,
        })
        .collect();
    // ~36 backfilled steps, in strictly increasing time, one sample per model
    assert!(obs.len() >= 30, "{}", obs.len());
    for w in obs.windows(2) {
        assert!(w[0].0 < w[1].0, "time order: {} then {}", w[0].0, w[1].0);
    }
    for (t, samples) in &obs {
        assert_eq!(samples.len(), 2);
        let a = samples.iter().find(|s| s.0 == 0).unwrap().1;
        let b = samples.iter().find(|s| s.0 == 1).unwrap().1;
        assert_eq!(a.get(Signal::RequestRate), (10.0 + (t % 7.0)) as f32);
        assert_eq!(a.get(Signal::LatencyP95), 120.0);
        assert!(a.get(Signal::ErrorRate).is_nan(), "NaN is missing");
        assert_eq!(b.get(Signal::RequestRate), 20.0);
        assert!(b.get(Signal::LatencyP95).is_nan(), "+Inf is missing");
        assert!(b.get(Signal::ErrorRate).is_nan(), "-Inf is missing");
        assert!(a.get(Signal::Cpu).is_nan());
    }
    // times are aligned to the step
    assert!(obs.iter().all(|(t, _)| (t - t.round()).abs() < 1e-9));
    // clock events every second
    h.until(3.0, "a clock event", |e| matches!(e, Event::Clock { .. }))
        .await;
}

#[tokio::test]
async fn malformed_json_is_shown_then_recovers() {
    let mut h = Harness::start(Mode::Malformed, |_| {}, None, 1.0).await;
    let e = h.until(15.0, "down", |e| down_error(e).is_some()).await;
    let msg = down_error(&e).unwrap();
    assert!(
        msg.contains("malformed") && msg.contains("/api/v1/query"),
        "{msg}"
    );
    assert!(h.seen.iter().all(|e| !is_obs(e)), "no data from garbage");
    h.set(Mode::Ok);
    h.until(30.0, "live after recovery", is_live).await;
    h.until(5.0, "data", is_obs).await;
}

#[tokio::test]
async fn bad_data_and_execution_errors_show_the_servers_message() {
    let mut h = Harness::start(Mode::BadData, |_| {}, None, 1.0).await;
    let e = h
        .until(15.0, "down with bad_data", |e| down_error(e).is_some())
        .await;
    let msg = down_error(&e).unwrap();
    assert!(
        msg.contains("parse error: unexpected <EOF> (scripted)"),
        "{msg}"
    );
    assert!(
        msg.contains("bad data") && msg.contains("prometheus.queries"),
        "{msg}"
    );
    // a healthy server refusing a query does not open the breaker: requests keep going out
    let before = h.requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(h.requests() > before + 3, "{} → {}", before, h.requests());
    h.set(Mode::Execution);
    let e = h
        .until(15.0, "down with execution", |e| {
            down_error(e).is_some_and(|m| m.contains("execute"))
        })
        .await;
    let msg = down_error(&e).unwrap();
    assert!(
        msg.contains("found duplicate series for the match group (scripted)"),
        "{msg}"
    );
    // one query refused while the others answer: live, with the failure in the label
    h.set(Mode::PartialBadLatency);
    let e = h.until(15.0, "live with a warning", is_live).await;
    let Event::Source { status, .. } = e else {
        unreachable!()
    };
    assert!(
        status.label.contains("latency_p95 failed"),
        "{}",
        status.label
    );
    let e = h.until(5.0, "data", is_obs).await;
    let Event::Observations { samples, .. } = e else {
        unreachable!()
    };
    let a = samples.iter().find(|s| s.0 == 0).unwrap().1;
    assert!(a.get(Signal::RequestRate).is_finite() && a.get(Signal::LatencyP95).is_nan());
}

#[tokio::test]
async fn warnings_of_a_partial_response_are_visible() {
    let mut h = Harness::start(Mode::Warn, |_| {}, None, 1.0).await;
    let e = h.until(20.0, "live", is_live).await;
    let Event::Source { status, .. } = e else {
        unreachable!()
    };
    assert!(
        status.label.contains("store eu-1 unreachable (scripted)"),
        "{}",
        status.label
    );
    assert!(status.label.contains("warning"), "{}", status.label);
    h.until(5.0, "data", is_obs).await;
    // the warning goes away with the next clean answer
    h.set(Mode::Ok);
    let e = h
        .until(
            10.0,
            "a clean label",
            |e| matches!(e, Event::Source { status, .. } if !status.label.contains("warning")),
        )
        .await;
    assert!(is_live(&e));
}

#[tokio::test]
async fn slow_replies_time_out() {
    let mut h = Harness::start(Mode::Slow, |c| c.timeout_seconds = 0.3, None, 1.0).await;
    let e = h
        .until(20.0, "down on time-out", |e| down_error(e).is_some())
        .await;
    let msg = down_error(&e).unwrap();
    assert!(
        msg.contains("did not answer within 0.3 s") && msg.contains("timeout_seconds"),
        "{msg}"
    );
    // clock events kept coming while the requests hung
    assert!(
        h.seen.iter().any(|e| matches!(e, Event::Clock { .. })),
        "{:?}",
        h.seen
    );
    // the client says so too, and that it is retryable
    let (url, _s) = server(Mode::Slow).await;
    let mut cfg = config(&url);
    cfg.timeout_seconds = 0.2;
    let err = PromClient::new(&cfg)
        .unwrap()
        .query(RR, 0.0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PromError::Timeout { .. }) && err.is_retryable(),
        "{err}"
    );
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test]
async fn a_503_storm_opens_the_breaker_goes_down_and_recovers_with_the_gap_filled() {
    let mut h = Harness::start(Mode::Ok, |_| {}, None, 1.0).await;
    let mut engine = Engine::new(EngineConfig::default());
    h.until(20.0, "live", is_live).await;
    h.until(5.0, "data", is_obs).await;
    h.set(Mode::Unavailable);
    let storm_start = h.requests();
    let e = h.until(10.0, "down", |e| down_error(e).is_some()).await;
    // the last data before the storm (everything before Down in the stream)
    let last_before = h
        .seen
        .iter()
        .filter_map(|e| match e {
            Event::Observations { t, .. } => Some(*t),
            _ => None,
        })
        .fold(f64::MIN, f64::max);
    let msg = down_error(&e).unwrap();
    assert!(
        msg.contains("HTTP 503") && msg.contains("TSDB not ready (scripted)"),
        "{msg}"
    );
    // let the storm last 9 s (the engine calls a model stale after 6 steps of 1 s)
    let storm = Instant::now();
    while storm.elapsed() < Duration::from_secs(9) {
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), h.rx.recv()).await {
            h.seen.push(ev);
        }
    }
    let storm_requests = h.requests() - storm_start;
    // without the breaker: 9 rounds × 3 queries × 3 attempts = 81; with it a handful of probes
    assert!(
        storm_requests <= 16,
        "{storm_requests} requests during the storm"
    );
    assert!(
        storm_requests >= 5,
        "the breaker opened too early: {storm_requests}"
    );
    assert!(
        h.seen
            .iter()
            .any(|e| down_error(e).is_some_and(|m| m.contains("circuit open"))),
        "{:?}",
        statuses(&h.seen)
    );
    // the engine, fed everything so far, shows stale models and proposes nothing
    for ev in h.seen.clone() {
        engine.apply(ev);
    }
    let snap = engine.snapshot(None, 50);
    assert!(
        matches!(snap.source.state, SourceState::Down { .. }),
        "{:?}",
        snap.source
    );
    assert_eq!(snap.rows.len(), 2);
    assert!(
        snap.rows.iter().all(|r| r.status == Status::Unknown),
        "{:?}",
        snap.rows.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(snap.remediations.is_empty());
    assert!(snap.data_age().unwrap() >= 6.0, "{:?}", snap.data_age());
    // recovery: live again, the gap backfilled with query_range
    h.set(Mode::Ok);
    let n_seen = h.seen.len();
    h.until(30.0, "live after the storm", is_live).await;
    h.until(5.0, "data", is_obs).await;
    let after: Vec<f64> = h.seen[n_seen..]
        .iter()
        .filter_map(|e| match e {
            Event::Observations { t, .. } => Some(*t),
            _ => None,
        })
        .collect();
    let ranges = h.state.lock().unwrap().range_requests.clone();
    assert!(
        ranges
            .iter()
            .any(|&(s, _)| s > last_before && s <= last_before + 1.5),
        "a gap query from {last_before}: {ranges:?}"
    );
    // every step of the gap arrived, in order
    for w in after.windows(2) {
        assert!(w[1] > w[0]);
    }
    assert!(
        after
            .first()
            .is_some_and(|&t| t <= last_before + 1.0 + 1e-9),
        "{after:?} after {last_before}"
    );
    for ev in h.seen[n_seen..].iter().cloned() {
        engine.apply(ev);
    }
    let snap = engine.snapshot(None, 50);
    assert_eq!(snap.source.state, SourceState::Live);
    assert!(snap.rows.iter().all(|r| r.status != Status::Unknown));
}

#[tokio::test]
async fn history_mode_replays_a_window_then_finishes() {
    let now = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64())
    .floor();
    let (from, to) = (now - 3600.0, now - 3000.0);
    let mut h = Harness::start(
        Mode::Ok,
        |c| c.backfill_hours = 0.05,
        Some((from, to)),
        600.0,
    )
    .await;
    let t0 = Instant::now();
    h.until(
        20.0,
        "finished",
        |e| matches!(e, Event::Source { status, .. } if status.state == SourceState::Finished),
    )
    .await;
    let took = t0.elapsed().as_secs_f64();
    // 600 s of window at 600× is about a second (plus the backfill)
    assert!((0.8..10.0).contains(&took), "{took}");
    let obs: Vec<f64> = h
        .seen
        .iter()
        .filter_map(|e| match e {
            Event::Observations { t, .. } => Some(*t),
            _ => None,
        })
        .collect();
    assert_eq!(
        obs.first().copied(),
        Some(from - 180.0),
        "backfill of 0.05 h before the window"
    );
    assert_eq!(obs.last().copied(), Some(to));
    assert_eq!(obs.len(), 781);
    for w in obs.windows(2) {
        assert!(w[1] > w[0]);
    }
    let labels = statuses(&h.seen);
    assert!(labels.iter().any(|l| l.contains("(history)")), "{labels:?}");
    assert!(labels.iter().any(|l| l.starts_with("Live")), "{labels:?}");
    // clock events carry replay time within the window, never the wall clock
    assert!(h.seen.iter().any(|e| matches!(e, Event::Clock { .. })));
    for e in &h.seen {
        if let Event::Clock { t } = e {
            assert!(
                *t >= from - 1.0 && *t <= to + 1.0,
                "clock {t} outside {from}..{to}"
            );
        }
    }
}

#[tokio::test]
async fn long_backfill_is_split_under_the_points_limit() {
    let (url, state) = server(Mode::Ok).await;
    let mut cfg = config(&url);
    cfg.step_seconds = 1.0;
    let client = PromClient::new(&cfg).unwrap();
    // 25,000 s at 1 s: three requests (the server asserts ≤ 11,000 points each)
    let r = client
        .query_range(RR, 1_000_000.0, 1_025_000.0, 1.0)
        .await
        .unwrap();
    assert_eq!(r.series.len(), 2);
    assert_eq!(r.series[0].points.len(), 25_001);
    assert!(
        r.series[0]
            .points
            .windows(2)
            .all(|w| w[1].0 == w[0].0 + 1.0)
    );
    assert_eq!(state.lock().unwrap().range_requests.len(), 3);
}

#[tokio::test]
async fn an_endless_answer_is_cut_at_the_size_limit() {
    let (url, _s) = server(Mode::Endless).await;
    let mut cfg = config(&url);
    cfg.timeout_seconds = 20.0;
    cfg.max_answer_mib = 1.0;
    let client = PromClient::new(&cfg).unwrap();
    let t0 = Instant::now();
    let err = client.query(RR, 0.0).await.unwrap_err();
    assert!(
        matches!(err, PromError::TooLarge { .. }) && !err.is_retryable() && !err.is_server_fault(),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("max_answer_mib") && msg.contains(RR) && msg.contains(&url),
        "{msg}"
    );
    // refused at the limit, not at the time-out
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let err = client.query_range(RR, 0.0, 10.0, 1.0).await.unwrap_err();
    assert!(matches!(err, PromError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn a_range_answer_over_the_size_limit_is_asked_again_in_pieces() {
    let (url, state) = server(Mode::Wide).await;
    let mut cfg = config(&url);
    cfg.max_answer_mib = 1.0;
    let client = PromClient::new(&cfg).unwrap();
    let r = client
        .query_range(RR, 1_000_000.0, 1_025_000.0, 1.0)
        .await
        .unwrap();
    assert_eq!(r.series.len(), 10);
    for s in &r.series {
        assert_eq!(s.points.len(), 25_001);
        assert!(s.points.windows(2).all(|w| w[1].0 == w[0].0 + 1.0));
    }
    // three pieces under the points limit were too large and were split
    let asked = state.lock().unwrap().range_requests.len();
    assert!(asked > 3, "{asked}");
    // through the breaker, as the source asks: the same pieces, the same answer
    let mut guarded = Guarded::new(PromClient::new(&cfg).unwrap(), 1.0);
    let g = guarded
        .query_range(RR, 1_000_000.0, 1_025_000.0, 1.0)
        .await
        .unwrap();
    assert_eq!(g.series.len(), 10);
    assert!(g.series.iter().all(|s| s.points.len() == 25_001));
    assert_eq!(state.lock().unwrap().range_requests.len(), 2 * asked);
}

#[tokio::test]
async fn too_many_series_are_refused_naming_the_query() {
    let (url, _s) = server(Mode::ManySeries).await;
    let mut cfg = config(&url);
    let r = PromClient::new(&cfg).unwrap().query(RR, 5.0).await.unwrap();
    assert_eq!(
        r.series.len(),
        5_000,
        "the default limit is well above a fleet"
    );
    cfg.max_series = 1_000;
    let err = PromClient::new(&cfg)
        .unwrap()
        .query(RR, 5.0)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, PromError::TooLarge { .. })
            && msg.contains("1000 series")
            && msg.contains(RR),
        "{msg}"
    );
}

#[tokio::test]
async fn one_bad_series_is_dropped_and_said_the_others_kept() {
    let (url, _s) = server(Mode::OneBad).await;
    let r = PromClient::new(&config(&url))
        .unwrap()
        .query(RR, 5.0)
        .await
        .unwrap();
    assert_eq!(r.series.len(), 1);
    assert_eq!(r.series[0].labels["model"], "alpha");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("model=\"beta\"") && w.contains("dropped") && w.contains("abc")),
        "{:?}",
        r.warnings
    );
}

#[tokio::test]
async fn bad_client_config_is_reported() {
    let mut cfg = config("http://127.0.0.1:9");
    cfg.ca_file = Some("/nonexistent/ca.pem".into());
    let e = PromClient::new(&cfg).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    let mut cfg = config("http://127.0.0.1:9");
    cfg.bearer_token = Some(pitcrew::config::SecretRef {
        env: Some("PITCREW_TEST_SURELY_UNSET_TOKEN".into()),
        file: None,
    });
    let e = PromClient::new(&cfg).unwrap_err();
    assert!(
        e.to_string().contains("PITCREW_TEST_SURELY_UNSET_TOKEN"),
        "{e}"
    );
    // the source reports it as down rather than dying silently
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    tokio::spawn(prometheus::run(
        Vec::new(),
        cfg,
        BTreeMap::new(),
        None,
        1.0,
        None,
        tx,
        cancel.clone(),
    ));
    let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let msg = down_error(&ev).unwrap();
    assert!(msg.contains("PITCREW_TEST_SURELY_UNSET_TOKEN"), "{msg}");
    cancel.cancel();
}
