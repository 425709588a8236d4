//! The MLflow model registry: a typed client for its REST API (`/api/2.0/mlflow/...`) and the
//! registry logic pitcrew builds on it (champion, rollback target, canary candidates with their
//! logged metrics, promotion and rollback by moving aliases).
//!
//! Stages are deprecated since MLflow 2.9; pitcrew uses **aliases** only:
//!
//! - `champion` (config `champion_alias`): the version that serves;
//! - `challenger` (config `challenger_alias`): the candidate for a canary;
//! - `previous-champion` ([`PREVIOUS_CHAMPION_ALIAS`]): set by [`Registry::promote`] to the
//!   champion it replaced, so that [`Registry::rollback`] goes back exactly there.
//!
//! Tags pitcrew writes on model versions: [`TAG_PROMOTED_AT`] (unix ms, when pitcrew made it the
//! champion) and [`TAG_ROLLED_BACK_AT`] (unix ms, when pitcrew rolled back away from it; such a
//! version is no longer a candidate nor a rollback target).
//!
//! Every request has the configured timeout. Timeouts, connect errors, HTTP 5xx and 429 are
//! retried with exponential backoff and jitter ([`RetryPolicy`], bounded: at most
//! [`MlflowClient::worst_case`] per call); other 4xx and malformed replies are not. Errors name
//! the method, the URL, the model and version, MLflow's `error_code` and `message`, and what to
//! check.
//!
//! Split by concern: `error` (errors, retry policy), `wire` (the API's JSON), `client` (HTTP),
//! `rules` (pure registry rules), `registry` (rules on a client); the tests of all of them are
//! here. The poller that turns the registry into engine events is [`crate::sources::mlflow`];
//! the actuator that moves aliases is [`crate::actuators::mlflow`].

mod client;
mod error;
mod registry;
mod rules;
mod wire;

pub use client::*;
pub use error::*;
pub use registry::*;
pub use rules::*;
pub use wire::*;

/// The largest MLflow answer read (a page of registry results is a few hundred KiB).
pub(crate) const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// Bytes of an MLflow error answer read: its message is clipped anyway.
pub(crate) const MAX_ERROR_BYTES: u64 = 64 << 10;

use crate::config::{MlflowConfig, fill_template};
use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Alias that [`Registry::promote`] points at the champion it replaces.
pub const PREVIOUS_CHAMPION_ALIAS: &str = "previous-champion";
/// Version tag: unix ms when pitcrew made this version the champion.
pub const TAG_PROMOTED_AT: &str = "pitcrew.promoted_at";
/// Version tag: unix ms when pitcrew rolled back away from this version.
pub const TAG_ROLLED_BACK_AT: &str = "pitcrew.rolled_back_at";

/// Run metric keys read as the candidate's offline accuracy (0..1), first present wins.
pub(crate) const ACCURACY_KEYS: &[&str] = &["accuracy", "val_accuracy", "test_accuracy", "acc"];
/// Run metric keys read as p95 latency in milliseconds, first present wins.
pub(crate) const LATENCY_KEYS: &[&str] =
    &["latency_p95_ms", "p95_latency_ms", "latency_ms", "latency"];
/// Run metric keys read as error rate (0..1), first present wins.
pub(crate) const ERROR_RATE_KEYS: &[&str] = &["error_rate", "errors"];

/// Page size for searches (MLflow allows up to 1000 registered models and 200000 versions).
const PAGE_SIZE: u32 = 200;
/// At most this many pages per search; more is an error rather than an endless loop.
const MAX_PAGES: usize = 500;
/// Longest excerpt of a non-JSON error body kept in an error.
const BODY_EXCERPT: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> ModelVersion {
        ModelVersion {
            name: "m".into(),
            version: n.to_string(),
            status: "READY".into(),
            current_stage: "None".into(),
            run_id: format!("run{n}"),
            ..Default::default()
        }
    }

    fn tagged(n: u64, key: &str) -> ModelVersion {
        let mut x = v(n);
        x.tags.push(Tag {
            key: key.into(),
            value: "1".into(),
        });
        x
    }

    fn archived(n: u64) -> ModelVersion {
        let mut x = v(n);
        x.current_stage = "Archived".into();
        x
    }

    #[test]
    fn rollback_prefers_the_recorded_previous_champion() {
        let vs = vec![v(1), v(2), v(3), v(4), v(5)];
        assert_eq!(rollback_target(5, Some(2), &vs), Some(2));
        // the alias pointing at the champion itself is ignored
        assert_eq!(rollback_target(5, Some(5), &vs), Some(4));
        // a recorded previous that was archived or rolled back since is not used
        let vs2 = vec![v(1), archived(2), v(3), v(5)];
        assert_eq!(rollback_target(5, Some(2), &vs2), Some(3));
        let vs3 = vec![v(1), tagged(2, TAG_ROLLED_BACK_AT), v(5)];
        assert_eq!(rollback_target(5, Some(2), &vs3), Some(1));
        // an alias to a version that no longer exists
        assert_eq!(rollback_target(5, Some(9), &vs), Some(4));
    }

    #[test]
    fn rollback_without_alias_prefers_versions_that_served() {
        let vs = vec![
            tagged(1, TAG_PROMOTED_AT),
            tagged(2, TAG_PROMOTED_AT),
            v(3), // registered, never served
            v(4),
            tagged(5, TAG_PROMOTED_AT),
        ];
        assert_eq!(rollback_target(5, None, &vs), Some(2));
        // nothing served: the highest eligible below
        let vs = vec![v(1), archived(3), v(2), v(6)];
        assert_eq!(rollback_target(6, None, &vs), Some(2));
        // not READY does not count
        let mut pending = v(4);
        pending.status = "PENDING_REGISTRATION".into();
        assert_eq!(rollback_target(6, None, &[v(1), pending.clone()]), Some(1));
        // nothing below
        assert_eq!(rollback_target(1, None, &[v(1), v(2)]), None);
        assert_eq!(rollback_target(3, None, &[]), None);
        // newer versions are never rollback targets
        assert_eq!(rollback_target(2, None, &[v(2), v(3), v(4)]), None);
    }

    #[test]
    fn candidates_are_challenger_and_newer_eligible_versions() {
        let vs = vec![
            v(1),
            v(2),
            v(3),
            v(4),
            archived(5),
            tagged(6, TAG_ROLLED_BACK_AT),
            v(7),
        ];
        assert_eq!(candidate_versions(Some(3), None, &vs), vec![7, 4]);
        // an older challenger is a candidate too
        assert_eq!(candidate_versions(Some(3), Some(2), &vs), vec![7, 4, 2]);
        // the challenger on the champion is not
        assert_eq!(candidate_versions(Some(3), Some(3), &vs), vec![7, 4]);
        // an archived challenger is not
        assert_eq!(candidate_versions(Some(3), Some(5), &vs), vec![7, 4]);
        // no champion: every eligible version
        assert_eq!(candidate_versions(None, None, &vs), vec![7, 4, 3, 2, 1]);
        // champion is the newest: none
        assert!(candidate_versions(Some(7), None, &vs).is_empty());
    }

    #[test]
    fn better_means_strictly_higher_logged_accuracy() {
        assert!(is_better(Some(0.91), Some(0.90)));
        assert!(!is_better(Some(0.90), Some(0.90)));
        assert!(!is_better(Some(0.89), Some(0.90)));
        assert!(!is_better(None, Some(0.5)));
        assert!(!is_better(Some(0.9), None));
        assert!(!is_better(Some(f64::NAN), Some(0.5)));
    }

    #[test]
    fn run_metrics_take_the_first_key_present() {
        let run: Run = serde_json::from_value(json!({
            "info": {"run_id": "r", "start_time": "1700000000000"},
            "data": {"metrics": [
                {"key": "val_accuracy", "value": 0.8, "timestamp": 1, "step": 0},
                {"key": "accuracy", "value": 0.93, "timestamp": 1, "step": 0},
                {"key": "latency_ms", "value": 120.0},
                {"key": "error_rate", "value": "NaN"}
            ]}
        }))
        .expect("run json");
        assert_eq!(run.info.start_time, 1_700_000_000_000);
        let m = RunMetrics::from_run(&run);
        assert_eq!(m.accuracy, Some(0.93));
        assert_eq!(m.latency_p95_ms, Some(120.0));
        assert_eq!(m.error_rate, None, "NaN is no value");
    }

    #[test]
    fn best_candidate_prefers_a_better_challenger() {
        let cand = |version, acc, challenger, better| Candidate {
            version,
            run_id: String::new(),
            metrics: RunMetrics {
                accuracy: Some(acc),
                ..Default::default()
            },
            challenger,
            better,
        };
        let mut s = RegistryState {
            model: "m".into(),
            champion: Some(3),
            champion_metrics: RunMetrics {
                accuracy: Some(0.9),
                ..Default::default()
            },
            challenger: Some(4),
            previous_champion: None,
            rollback_to: None,
            candidates: vec![
                cand(6, 0.95, false, true),
                cand(5, 0.97, false, true),
                cand(4, 0.92, true, true),
            ],
        };
        assert_eq!(s.best_candidate().map(|c| c.version), Some(4));
        s.candidates[2].better = false;
        assert_eq!(s.best_candidate().map(|c| c.version), Some(5));
        s.candidates.iter_mut().for_each(|c| c.better = false);
        assert_eq!(s.best_candidate(), None);
    }

    #[test]
    fn errors_classify_and_name_url_and_model() {
        let url =
            Url::parse("http://127.0.0.1:1/api/2.0/mlflow/model-versions/get?name=m&version=9")
                .expect("url");
        let body = br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Model Version (name=m, version=9) not found"}"#;
        let e = error_from(
            "GET",
            &url,
            "model 'm' version 9",
            StatusCode::NOT_FOUND,
            body,
        );
        assert!(e.is_not_found());
        assert!(!e.is_retryable());
        assert_eq!(e.error_code(), Some("RESOURCE_DOES_NOT_EXIST"));
        let s = e.to_string();
        assert!(s.contains(url.as_str()), "{s}");
        assert!(s.contains("model 'm' version 9"), "{s}");
        assert!(s.contains("RESOURCE_DOES_NOT_EXIST"), "{s}");
        assert!(s.contains("model_name_template"), "{s}");

        let e = error_from(
            "GET",
            &url,
            "x",
            StatusCode::BAD_GATEWAY,
            b"<html>bad gateway</html>",
        );
        assert!(e.is_retryable());
        assert!(matches!(e, MlflowError::Http { status: 502, .. }));
        let e = error_from("GET", &url, "x", StatusCode::UNAUTHORIZED, b"");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("mlflow.token"), "{e}");

        let alias = error_from(
            "GET",
            &url,
            "x",
            StatusCode::BAD_REQUEST,
            br#"{"error_code":"INVALID_PARAMETER_VALUE","message":"Registered model alias champion not found."}"#,
        );
        assert!(alias.is_alias_missing());
        let model = error_from(
            "GET",
            &url,
            "x",
            StatusCode::NOT_FOUND,
            br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registered Model with name=x not found"}"#,
        );
        assert!(!model.is_alias_missing());
        let wrapped = MlflowError::GaveUp {
            attempts: 4,
            last: Box::new(model),
        };
        assert!(wrapped.is_not_found() && wrapped.is_unavailable());
        assert!(wrapped.to_string().ends_with("(gave up after 4 attempts)"));
    }

    #[test]
    fn config_problems_are_errors_not_panics() {
        for t in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e12] {
            let e = MlflowClient::with_token("http://127.0.0.1:5000", None, t)
                .expect_err("bad timeout");
            assert!(e.to_string().contains("timeout_seconds"), "{e}");
        }
        for u in ["", "mlflow:5000", "ftp://x", "http://"] {
            assert!(MlflowClient::with_token(u, None, 1.0).is_err(), "{u}");
        }
        let c =
            MlflowClient::with_token("http://127.0.0.1:5000/prefix/", Some("s3cret".into()), 2.0)
                .expect("client");
        assert_eq!(c.api_base(), "http://127.0.0.1:5000/prefix/api/2.0/mlflow/");
        assert!(!format!("{c:?}").contains("s3cret"));
        let cfg = MlflowConfig {
            tracking_uri: "http://127.0.0.1:5000".into(),
            token: Some(crate::config::SecretRef {
                env: Some("PITCREW_TEST_MLFLOW_TOKEN_THAT_IS_NOT_SET".into()),
                file: None,
            }),
            model_name_template: "{namespace}-{name}".into(),
            champion_alias: "champion".into(),
            challenger_alias: "challenger".into(),
            timeout_seconds: 1.0,
        };
        let e = MlflowClient::new(&cfg).expect_err("token env missing");
        assert!(
            e.to_string()
                .contains("PITCREW_TEST_MLFLOW_TOKEN_THAT_IS_NOT_SET"),
            "{e}"
        );
        assert!(quote("it's").expect("quote") == "\"it's\"");
        assert!(quote("a'b\"c").is_err());
    }

    #[tokio::test]
    async fn paging_follows_tokens_stops_on_a_repeat_and_bounds_the_pages() {
        let c = MlflowClient::with_token("http://127.0.0.1:5000", None, 1.0).expect("client");
        let page = |items: Vec<u32>, next: Option<&str>| Page {
            items,
            next_page_token: next.map(str::to_string),
        };
        // three pages, the last without a token
        let all = c
            .all_pages(
                "p",
                || "things".into(),
                |token| async move {
                    Ok(match token.as_deref() {
                        None => page(vec![1, 2], Some("a")),
                        Some("a") => page(vec![3], Some("b")),
                        _ => page(vec![4], None),
                    })
                },
            )
            .await
            .expect("pages");
        assert_eq!(all, vec![1, 2, 3, 4]);
        // a server that hands back the token it was given: stop, do not loop
        let all = c
            .all_pages(
                "p",
                || "things".into(),
                |token| async move {
                    Ok(page(
                        vec![token.map_or(0, |t| t.len() as u32)],
                        Some("same"),
                    ))
                },
            )
            .await
            .expect("pages");
        assert_eq!(all, vec![0, 4]);
        // a new token on every page: an error after MAX_PAGES, naming the endpoint
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let e = c
            .all_pages(
                "registered-models/search",
                || "things".into(),
                |_| {
                    let n = calls.fetch_add(1, Ordering::Relaxed);
                    async move { Ok(page(vec![], Some(&n.to_string()))) }
                },
            )
            .await
            .expect_err("endless");
        assert_eq!(calls.load(Ordering::Relaxed), MAX_PAGES);
        let text = e.to_string();
        assert!(
            text.contains("registered-models/search") && text.contains("things"),
            "{text}"
        );
    }

    #[test]
    fn worst_case_is_bounded_by_timeout_times_attempts_plus_delays() {
        let c = MlflowClient::with_token("http://127.0.0.1:5000", None, 2.0)
            .expect("client")
            .with_retry(RetryPolicy {
                retries: 2,
                min_delay: Duration::from_millis(100),
                max_delay: Duration::from_millis(150),
            });
        // 3 attempts × 2 s + (100 + 150) ms × 2 jitter
        assert_eq!(c.worst_case(), Duration::from_millis(6500));
    }
}
