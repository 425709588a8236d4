//! Fault tests of the MLflow client against a tiny in-process axum server on 127.0.0.1:0:
//! malformed JSON, MLflow error JSON, 5xx then success (the retry works), 4xx not retried, a
//! reply slower than the timeout (bounded), a server that is not there.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use pitcrew::clients::mlflow::{MlflowClient, MlflowError, RetryPolicy};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counts {
    runs: AtomicUsize,
    alias: AtomicUsize,
    version: AtomicUsize,
    model: AtomicUsize,
    search: AtomicUsize,
}

const RUN: &str = r#"{"run":{"info":{"run_id":"r1","status":"FINISHED","start_time":1},"data":{"metrics":[{"key":"accuracy","value":0.93,"timestamp":1,"step":0}]}}}"#;

async fn runs(State(c): State<Arc<Counts>>) -> impl IntoResponse {
    // 503 twice (first as MLflow error JSON, then as a bare proxy page), then the run
    match c.runs.fetch_add(1, Ordering::SeqCst) {
        0 => (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error_code":"TEMPORARILY_UNAVAILABLE","message":"db busy"}"#,
        ),
        1 => (StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>"),
        _ => (StatusCode::OK, RUN),
    }
}

async fn slow_alias(State(c): State<Arc<Counts>>) -> impl IntoResponse {
    c.alias.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    (
        StatusCode::OK,
        r#"{"model_version":{"name":"m","version":"1"}}"#,
    )
}

async fn missing_version(State(c): State<Arc<Counts>>) -> impl IntoResponse {
    c.version.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::NOT_FOUND,
        r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Model Version (name=fraud, version=9) not found"}"#,
    )
}

async fn malformed(State(c): State<Arc<Counts>>) -> impl IntoResponse {
    c.model.fetch_add(1, Ordering::SeqCst);
    (StatusCode::OK, r#"{"registered_model": {"name": "fraud", "#)
}

async fn always_500(State(c): State<Arc<Counts>>) -> impl IntoResponse {
    c.search.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"{"error_code":"INTERNAL_ERROR","message":"boom"}"#,
    )
}

async fn serve() -> (String, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let app = Router::new()
        .route("/api/2.0/mlflow/runs/get", get(runs))
        .route("/api/2.0/mlflow/registered-models/alias", get(slow_alias))
        .route("/api/2.0/mlflow/model-versions/get", get(missing_version))
        .route("/api/2.0/mlflow/registered-models/get", get(malformed))
        .route("/api/2.0/mlflow/model-versions/search", get(always_500))
        .with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), counts)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        retries: 3,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let (uri, counts) = serve().await;
    let c = MlflowClient::with_token(&uri, None, 2.0)
        .expect("client")
        .with_retry(fast_retry());
    let run = c.get_run("r1").await.expect("third attempt succeeds");
    assert_eq!(run.metric("accuracy"), Some(0.93));
    assert_eq!(counts.runs.load(Ordering::SeqCst), 3, "two 5xx, then 200");
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_the_retries_with_the_mlflow_error() {
    let (uri, counts) = serve().await;
    let c = MlflowClient::with_token(&uri, None, 2.0)
        .expect("client")
        .with_retry(fast_retry());
    let e = c
        .search_model_versions("fraud")
        .await
        .expect_err("always 500");
    assert_eq!(counts.search.load(Ordering::SeqCst), 4, "1 + 3 retries");
    assert!(
        matches!(e, MlflowError::GaveUp { attempts: 4, .. }),
        "{e:?}"
    );
    assert_eq!(e.error_code(), Some("INTERNAL_ERROR"));
    let s = e.to_string();
    assert!(s.contains("model-versions/search"), "{s}");
    assert!(
        s.contains("name%3D%27fraud%27"),
        "the URL with the filter: {s}"
    );
    assert!(s.contains("boom") && s.contains("HTTP 500"), "{s}");
}

#[tokio::test]
async fn mlflow_error_json_is_a_typed_error_and_4xx_is_not_retried() {
    let (uri, counts) = serve().await;
    let c = MlflowClient::with_token(&uri, None, 2.0)
        .expect("client")
        .with_retry(fast_retry());
    let e = c.get_model_version("fraud", "9").await.expect_err("404");
    assert_eq!(counts.version.load(Ordering::SeqCst), 1, "a 4xx is final");
    assert!(e.is_not_found(), "{e:?}");
    assert!(!e.is_retryable());
    let s = e.to_string();
    assert!(
        s.contains(&format!(
            "{uri}/api/2.0/mlflow/model-versions/get?name=fraud&version=9"
        )),
        "{s}"
    );
    assert!(s.contains("model 'fraud' version 9"), "{s}");
    assert!(
        s.contains("RESOURCE_DOES_NOT_EXIST: Model Version (name=fraud, version=9) not found"),
        "{s}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_decode_error_not_retried() {
    let (uri, counts) = serve().await;
    let c = MlflowClient::with_token(&uri, None, 2.0)
        .expect("client")
        .with_retry(fast_retry());
    let e = c
        .get_registered_model("fraud")
        .await
        .expect_err("truncated");
    assert!(matches!(e, MlflowError::Decode { .. }), "{e:?}");
    assert_eq!(counts.model.load(Ordering::SeqCst), 1);
    let s = e.to_string();
    assert!(s.contains("registered-models/get?name=fraud"), "{s}");
    assert!(
        s.contains("model 'fraud'") && s.contains("not the JSON expected"),
        "{s}"
    );
}

#[tokio::test]
async fn a_reply_slower_than_the_timeout_is_bounded() {
    let (uri, counts) = serve().await;
    let retry = RetryPolicy {
        retries: 2,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(40),
    };
    let c = MlflowClient::with_token(&uri, None, 0.3)
        .expect("client")
        .with_retry(retry);
    let start = Instant::now();
    let e = c
        .get_model_version_by_alias("m", "champion")
        .await
        .expect_err("server sleeps 5 s");
    let took = start.elapsed();
    assert_eq!(counts.alias.load(Ordering::SeqCst), 3, "1 + 2 retries");
    assert!(
        matches!(&e, MlflowError::GaveUp { attempts: 3, last } if matches!(**last, MlflowError::Timeout { .. })),
        "{e:?}"
    );
    assert!(
        took >= Duration::from_millis(900),
        "3 timeouts of 0.3 s: {took:?}"
    );
    assert!(
        took <= c.worst_case() + Duration::from_millis(500),
        "{took:?} > worst case {:?}",
        c.worst_case()
    );
    let s = e.to_string();
    assert!(
        s.contains("no answer within 0.3 s") && s.contains("alias 'champion'"),
        "{s}"
    );
}

#[tokio::test]
async fn nobody_listening_is_a_bounded_transport_error() {
    // a port that was free a moment ago
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let c = MlflowClient::with_token(&format!("http://127.0.0.1:{port}"), None, 1.0)
        .expect("client")
        .with_retry(fast_retry());
    let start = Instant::now();
    let e = c.get_registered_model("fraud").await.expect_err("refused");
    assert!(start.elapsed() < c.worst_case());
    assert!(e.is_unavailable(), "{e:?}");
    assert!(
        matches!(&e, MlflowError::GaveUp { attempts: 4, last } if matches!(**last, MlflowError::Transport { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(c.health().await.is_err());
}
