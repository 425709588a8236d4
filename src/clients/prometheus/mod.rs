//! Prometheus's HTTP API (`/api/v1/query`, `/api/v1/query_range`): `error` (what a request can
//! end in), `wire` (the answers' JSON), `client` (a thin typed client over reqwest, range
//! queries split to Prometheus's points limit), `breaker` (retries with exponential backoff and
//! jitter, the circuit breaker). What the console does with the answers is
//! [`crate::sources::prometheus`]; the tests of all of these are here.

mod breaker;
mod client;
mod error;
mod wire;

pub use breaker::*;
pub use client::*;
pub use error::*;
pub use wire::*;

use crate::config::PrometheusConfig;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Prometheus's own limit of points per series in one `query_range`.
pub const MAX_POINTS: usize = 11_000;
/// Points per series asked for in one `query_range` (below [`MAX_POINTS`]).
pub(crate) const POINTS_PER_REQUEST: usize = 10_000;
/// Retries of one request after its first attempt (retryable errors only).
pub(crate) const RETRIES: usize = 2;
/// Consecutive failed requests that open the circuit breaker.
pub(crate) const BREAKER_THRESHOLD: u32 = 5;
/// Longest cool-down of the open breaker before jitter, seconds.
pub(crate) const MAX_COOLDOWN: f64 = 300.0;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_as_prometheus_writes_them() {
        assert_eq!(parse_value("1.5"), Some(1.5));
        assert_eq!(parse_value("-2e3"), Some(-2000.0));
        for s in ["NaN", "+Inf", "-Inf", "Inf"] {
            assert!(parse_value(s).unwrap().is_nan(), "{s}");
        }
        assert_eq!(parse_value("twelve"), None);
    }

    #[test]
    fn vector_matrix_scalar_and_warnings_parse() {
        let v = br#"{"status":"success","warnings":["partial response"],"infos":["i"],
            "data":{"resultType":"vector","result":[
              {"metric":{"model":"a","namespace":"n"},"value":[1700000000.5,"3.25"]},
              {"metric":{"model":"b"},"value":[1700000000.5,"+Inf"]}]}}"#;
        let ApiBody::Success(r) = parse_body(v).unwrap() else {
            panic!()
        };
        assert_eq!(r.result_type, ResultType::Vector);
        assert_eq!(r.warnings, vec!["partial response".to_string()]);
        assert_eq!(r.infos, vec!["i".to_string()]);
        assert_eq!(r.series[0].points, vec![(1700000000.5, 3.25)]);
        assert!(r.series[1].points[0].1.is_nan());
        let m = br#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"model":"a"},"values":[[10,"1"],[20,"NaN"],[30,"-Inf"]]}]}}"#;
        let ApiBody::Success(r) = parse_body(m).unwrap() else {
            panic!()
        };
        assert_eq!(r.result_type, ResultType::Matrix);
        assert_eq!(r.series[0].points.len(), 3);
        assert!(r.series[0].points[2].1.is_nan());
        let s = br#"{"status":"success","data":{"resultType":"scalar","result":[5,"7"]}}"#;
        let ApiBody::Success(r) = parse_body(s).unwrap() else {
            panic!()
        };
        assert_eq!(r.series[0].points, vec![(5.0, 7.0)]);
        let e = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#;
        assert_eq!(
            parse_body(e).unwrap(),
            ApiBody::Error {
                error_type: "bad_data".into(),
                error: "parse error at char 4".into()
            }
        );
    }

    #[test]
    fn malformed_answers_are_their_own_kind() {
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            br#"{"status":"success"}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":5}}"#,
            br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":7}]}}"#,
            br#"{"status":"maybe"}"#,
            br#"[1,2]"#,
        ] {
            let e = interpret(200, body, "http://p/api/v1/query", "up").unwrap_err();
            assert!(matches!(e, PromError::Malformed { .. }), "{e}");
            assert!(!e.is_retryable() && e.is_server_fault());
            let msg = e.to_string();
            assert!(msg.contains("http://p/api/v1/query") && msg.contains("`up`"), "{msg}");
        }
    }

    #[test]
    fn a_malformed_series_is_dropped_and_named_not_the_answer() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
              {"metric":{"model":"a"},"value":[1,"2"]},
              {"metric":{"model":"b"},"value":[1,2]},
              {"metric":{"model":7},"value":[1,"3"]},
              {"metric":{"model":"c"}},
              {"metric":{"model":"d\u001b[2J"},"value":[1,"3"]}]}}"#;
        let r = interpret(200, body, "u", "q").unwrap();
        assert_eq!(r.series.len(), 1);
        assert_eq!(r.series[0].labels["model"], "a");
        assert_eq!(r.warnings.len(), 4, "{:?}", r.warnings);
        assert!(r.warnings[3].ends_with("label model holds control characters"));
        assert!(r.warnings[0].contains("model=\"b\"") && r.warnings[0].contains("dropped"));
        assert!(r.warnings[1].starts_with("a series dropped: label model"));
        assert!(r.warnings[2].contains("no \"value\""));
        let many: Vec<String> = (0..10)
            .map(|k| format!(r#"{{"metric":{{"model":"m{k}"}},"value":[1,"x"]}}"#))
            .collect();
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            many.join(",")
        );
        let r = interpret(200, body.as_bytes(), "u", "q").unwrap();
        assert!(r.series.is_empty());
        assert_eq!(r.warnings.len(), MAX_DROPPED_NAMED + 1, "{:?}", r.warnings);
        assert!(r.warnings.last().unwrap().starts_with("6 more"));
    }

    #[test]
    fn the_series_limit_is_an_error_of_its_own_and_warnings_are_bounded() {
        let one = r#"{"metric":{"model":"m"},"value":[1,"1"]}"#;
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{one},{one},{one}]}}}}"#
        );
        assert_eq!(
            interpret_limited(200, body.as_bytes(), "u", "q", 3)
                .unwrap()
                .series
                .len(),
            3
        );
        let e = interpret_limited(200, body.as_bytes(), "u", "up", 2).unwrap_err();
        assert!(
            matches!(
                e,
                PromError::TooLarge {
                    limit: AnswerLimit::Series(2),
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().contains("`up`") && e.to_string().contains("max_series"),
            "{e}"
        );
        let w: Vec<String> = (0..10_000).map(|k| format!("\"w{k}\"")).collect();
        let body = format!(
            r#"{{"status":"success","warnings":[{}],"data":{{"resultType":"string","result":[1,"s"]}}}}"#,
            w.join(",")
        );
        let r = interpret(200, body.as_bytes(), "u", "q").unwrap();
        assert_eq!(r.warnings.len(), 16);
    }

    #[test]
    fn status_codes_map_to_kinds() {
        let bad = br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"}"#;
        let e = interpret(400, bad, "u", "rate(x[").unwrap_err();
        assert!(
            matches!(e, PromError::BadData { .. }) && !e.is_retryable(),
            "{e}"
        );
        assert!(e.to_string().contains("1:5: parse error"), "{e}");
        let ex = br#"{"status":"error","errorType":"execution","error":"many-to-many matching"}"#;
        let e = interpret(422, ex, "u", "a / b").unwrap_err();
        assert!(
            matches!(e, PromError::Execution { .. }) && !e.is_server_fault(),
            "{e}"
        );
        assert!(e.to_string().contains("many-to-many"), "{e}");
        let un = br#"{"status":"error","errorType":"unavailable","error":"not ready"}"#;
        let e = interpret(503, un, "u", "q").unwrap_err();
        assert!(matches!(e, PromError::Server { status: 503, .. }) && e.is_retryable());
        let e = interpret(502, b"<html>bad gateway</html>", "u", "q").unwrap_err();
        assert!(
            e.is_retryable() && e.to_string().contains("bad gateway"),
            "{e}"
        );
        let e = interpret(429, b"slow down", "u", "q").unwrap_err();
        assert!(e.is_retryable());
        let e = interpret(401, b"Unauthorized", "u", "q").unwrap_err();
        assert!(
            !e.is_retryable() && e.to_string().contains("bearer_token"),
            "{e}"
        );
        let to = br#"{"status":"error","errorType":"timeout","error":"query timed out"}"#;
        assert!(interpret(503, to, "u", "q").unwrap_err().is_retryable());
    }

    #[test]
    fn credentials_never_shown() {
        assert_eq!(
            redact_url("https://user:pw@prom.example:9090/sub"),
            "https://prom.example:9090/sub"
        );
        assert_eq!(
            source_label("http://a:b@127.0.0.1:9090/x"),
            "prometheus 127.0.0.1:9090"
        );
    }

    #[test]
    fn long_ranges_are_split_under_the_limit() {
        // 30 h at 5 s is 21,601 points: three requests
        let c = split_range(0.0, 30.0 * 3600.0, 5.0, POINTS_PER_REQUEST);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0], (0.0, 9999.0 * 5.0));
        assert_eq!(c[1].0, 10000.0 * 5.0);
        assert_eq!(c[2].1, 30.0 * 3600.0);
        assert_eq!(split_range(10.0, 10.0, 5.0, 100), vec![(10.0, 10.0)]);
        assert!(split_range(10.0, 5.0, 5.0, 100).is_empty());
        assert!(split_range(0.0, 5.0, 0.0, 100).is_empty());
        assert!(split_range(0.0, f64::NAN, 1.0, 100).is_empty());
    }

    #[test]
    fn breaker_opens_probes_and_closes_on_injected_time() {
        let mut b = CircuitBreaker::new(3, 10.0, 40.0, Some(7));
        for _ in 0..2 {
            assert!(b.allow(0.0));
            b.on_failure(0.0);
        }
        assert_eq!(b.state(), BreakerState::Closed { failures: 2 });
        assert!(b.allow(0.0));
        b.on_failure(1.0);
        let BreakerState::Open { until } = b.state() else {
            panic!("{:?}", b.state())
        };
        // cool-down 10 s plus jitter of up to 10 s
        assert!((11.0..21.0).contains(&until), "{until}");
        assert!(!b.allow(5.0) && !b.allow(until - 0.01));
        assert!(b.retry_in(5.0) > 0.0);
        // the probe
        assert!(b.allow(until));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(until), "one probe at a time");
        b.on_failure(until);
        let BreakerState::Open { until: u2 } = b.state() else {
            panic!()
        };
        // longer: 20 s plus jitter
        assert!(u2 - until >= 20.0 && u2 - until < 40.0, "{}", u2 - until);
        assert_eq!(b.times_opened(), 2);
        assert!(b.allow(u2));
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        assert!(b.allow(u2));
        // after closing, the cool-down starts short again
        for _ in 0..3 {
            b.on_failure(100.0);
        }
        let BreakerState::Open { until: u3 } = b.state() else {
            panic!()
        };
        assert!(u3 - 100.0 < 20.0, "{}", u3 - 100.0);
    }

    #[test]
    fn breaker_cooldown_is_capped() {
        let mut b = CircuitBreaker::new(1, 1.0, 8.0, Some(1));
        let mut now = 0.0;
        let mut last = 0.0;
        for _ in 0..10 {
            b.on_failure(now);
            let BreakerState::Open { until } = b.state() else {
                panic!()
            };
            last = until - now;
            assert!(last <= 16.0, "{last}");
            now = until;
            assert!(b.allow(now));
        }
        assert!(last >= 8.0, "{last}");
        // success in between failures resets the count
        let mut c = CircuitBreaker::new(2, 1.0, 8.0, Some(1));
        c.on_failure(0.0);
        c.on_success();
        c.on_failure(0.0);
        assert!(!c.is_open());
    }

    #[test]
    fn retry_delays_grow_and_stay_in_budget() {
        let d: Vec<f64> = retry_delays(0.5, 10.0).map(|d| d.as_secs_f64()).collect();
        assert_eq!(d.len(), RETRIES);
        assert!((0.5..1.0).contains(&d[0]), "{d:?}");
        assert!((1.0..2.0).contains(&d[1]), "{d:?}");
        let tight: f64 = retry_delays(0.5, 0.6).map(|d| d.as_secs_f64()).sum();
        assert!(tight <= 0.6, "{tight}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parser_never_panics_on_strings(s in ".{0,200}") {
            let _ = parse_body(s.as_bytes());
            let _ = parse_value(&s);
            let _ = interpret(200, s.as_bytes(), "u", "q");
            let _ = redact_url(&s);
            let _ = source_label(&s);
        }

        #[test]
        fn parser_never_panics_on_api_like_json(
            rt in prop::sample::select(vec!["vector", "matrix", "scalar", "string", "x"]),
            st in prop::sample::select(vec!["success", "error", "?"]),
            vals in prop::collection::vec(
                (prop::num::f64::ANY, prop::sample::select(vec!["1", "NaN", "+Inf", "-Inf", "x", "1e999", ""])),
                0..5),
            as_values in any::<bool>(),
        ) {
            let pts: Vec<serde_json::Value> = vals.iter().map(|(t, v)| {
                let t = serde_json::Number::from_f64(*t).map_or(serde_json::Value::Null, serde_json::Value::Number);
                serde_json::json!([t, v])
            }).collect();
            let result = if rt == "scalar" {
                pts.first().cloned().unwrap_or(serde_json::Value::Null)
            } else if as_values {
                serde_json::json!([{"metric": {"model": "m"}, "values": pts}])
            } else {
                serde_json::json!([{"metric": {"model": "m"}, "value": pts.first()}])
            };
            let body = serde_json::json!({"status": st, "data": {"resultType": rt, "result": result}});
            if let Ok(ApiBody::Success(r)) = parse_body(body.to_string().as_bytes()) {
                for s in r.series {
                    for (t, v) in s.points {
                        prop_assert!(t.is_finite());
                        prop_assert!(v.is_finite() || v.is_nan());
                    }
                }
            }
        }

        #[test]
        fn split_covers_every_point_once(start in -1e6f64..1e6, n in 0u64..50_000, step in prop::sample::select(vec![1.0, 5.0, 15.0, 60.0]), max in 1usize..12_000) {
            let end = start + n as f64 * step;
            let chunks = split_range(start, end, step, max);
            let mut count = 0u64;
            let mut next = start;
            for (s, e) in &chunks {
                prop_assert!((s - next).abs() < 1e-6 * step.max(1.0) * 10.0);
                let k = ((e - s) / step).round() as u64 + 1;
                prop_assert!(k as usize <= max);
                count += k;
                next = e + step;
            }
            prop_assert_eq!(count, n + 1);
        }
    }
}
