//! Prometheus as a source: the task that backfills history, polls live and replays a past
//! window (history mode), and how series become models and samples. The client (its errors,
//! the answers' JSON, retries with exponential backoff and jitter, the circuit breaker) is
//! [`crate::clients::prometheus`].
//!
//! How the source behaves (the engine judges data age by itself from [`Event::Clock`]):
//! - **Start**: `Backfilling{progress}` while every configured signal is read with
//!   `query_range` over `backfill_hours` at `step_seconds`, in chunks of at most
//!   [`POINTS_PER_REQUEST`] points per series (Prometheus refuses more than 11,000); then
//!   `Live`.
//! - **Live**: at every step boundary (wall clock, aligned to a multiple of `step_seconds`) each
//!   signal's instant `query` runs at that aligned time and one `Observations` event carries
//!   every model's merged [`Sample`]; an `Event::Clock` goes out every second.
//! - **Failures**: one request is retried at most [`RETRIES`] times with exponential backoff and
//!   jitter when the error is retryable (time-out, connection, 5xx, 429). A round in which every
//!   query failed sends `Down{error}` at once (the first failed round, not only once the breaker
//!   opens: by then the retries have already been spent). The circuit breaker opens after
//!   [`BREAKER_THRESHOLD`] consecutive failed requests; while open no request is sent; after a
//!   cool-down (starting at one step, doubling with jitter up to [`MAX_COOLDOWN`]) one probe
//!   goes out (half-open). On the first good round the gap since the last data is backfilled
//!   with `query_range` and `Live` is sent again.
//! - **Partial results**: a query that fails while others answer, and warnings or infos in the
//!   API's answer, are logged (tracing) and shown in the status label (`… warning: …`), so they
//!   stay visible in the status bar and in the Events screen; the data that did arrive is used.
//! - **Values**: `"NaN"`, `"+Inf"` and `"-Inf"` (and any non-finite value) become NaN (missing)
//!   in the [`Sample`]. A model whose every signal is missing at a time gets no sample then (so
//!   it ages and goes stale rather than looking fresh with nothing in it).
//! - **History mode** (`range = Some((from, to))`): read-only replay of a past window —
//!   `query_range` over `[from - backfill, from]` as backfill, then `[from, to]` emitted paced
//!   at `speed` × real time (clock events carry that replay time), then `Finished`.
//!
//! Models are announced (`Event::Models`) the first time a series names them, in index order;
//! indices are this source's, so it must be the engine's only source of models. A series is
//! mapped to `namespace/name` from `model_label` and `namespace_label` (else
//! `default_namespace`); priority and replica bounds come from the `models` config, the version
//! from a `version` label (else none; with one series per version, the version with the
//! most traffic at the latest time). When several series of one query map to one model (per
//! pod, per version), request rate and replicas are summed; for the other signals the first is
//! kept and a warning says to aggregate `by (namespace, model)`. Models named in the `models`
//! config but absent from the data are not announced.

mod history;
mod series;
mod task;

pub(crate) use history::*;
pub use series::*;
pub use task::*;

use crate::clients::prometheus::*;
use crate::config::{ModelConfig, PrometheusConfig};
use crate::domain::Playback;
use crate::domain::Signal;
use crate::engine::{Event, SourceKind, SourceState, SourceStatus};
use crate::fleet::{ModelMeta, Sample};
use crate::sources::pace::PacedClock;
use crate::sources::resolution::{data_resolution, step_warning};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Priority of a model the `models` config does not name.
const DEFAULT_PRIORITY: u8 = 3;
/// Longest status label (the status bar is narrow).
const LABEL_MAX: usize = 100;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn map() -> LabelMap {
        LabelMap {
            model_label: "model".into(),
            namespace_label: "namespace".into(),
            default_namespace: "default".into(),
        }
    }

    #[test]
    fn labels_map_to_models_and_config() {
        let mut cfgs = BTreeMap::new();
        cfgs.insert(
            "pay/fraud".to_string(),
            ModelConfig {
                priority: 1,
                min_replicas: 3,
                max_replicas: 40,
            },
        );
        let mut r = Registry::new(map(), cfgs);
        assert_eq!(
            r.resolve(&labels(&[("model", "fraud"), ("namespace", "pay")])),
            Some(0)
        );
        assert_eq!(r.resolve(&labels(&[("model", "rank")])), Some(1));
        assert_eq!(r.resolve(&labels(&[("job", "x")])), None);
        assert_eq!(r.resolve(&labels(&[("model", "")])), None);
        let a = r.take_announcements();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].key(), "pay/fraud");
        assert_eq!(
            (a[0].priority, a[0].min_replicas, a[0].max_replicas),
            (1, 3, 40)
        );
        assert_eq!(
            a[0].version, "",
            "no version label: no version, not a made-up one"
        );
        assert_eq!(a[1].key(), "default/rank");
        assert_eq!(a[1].priority, DEFAULT_PRIORITY);
        assert!(r.take_announcements().is_empty());
        // a new version is announced again, same index
        r.set_version(0, "v7");
        let a = r.take_announcements();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].version, "v7");
        r.set_version(0, "v7");
        assert!(r.take_announcements().is_empty());
    }

    #[test]
    fn the_version_is_the_one_with_most_traffic() {
        let mut r = Registry::new(map(), BTreeMap::new());
        let s = |v: &str, rate: f64| Series {
            labels: labels(&[("model", "m"), ("version", v)]),
            points: vec![(10.0, rate)],
        };
        // during a rollout both versions have a series: no flapping, the busier one wins
        for _ in 0..3 {
            let mut m = Merger::new();
            m.add_result(&mut r, Signal::RequestRate, &[s("v1", 90.0), s("v2", 10.0)]);
            m.add_result(&mut r, Signal::LatencyP95, &[s("v2", 500.0)]);
            m.apply_versions(&mut r);
        }
        let a = r.take_announcements();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].version, "v1");
        let mut m = Merger::new();
        m.add_result(&mut r, Signal::RequestRate, &[s("v1", 20.0), s("v2", 80.0)]);
        m.apply_versions(&mut r);
        let a = r.take_announcements();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].version, "v2");
        assert_eq!(r.metas().len(), 1);
    }

    #[test]
    fn merging_joins_signals_per_time_and_model() {
        let mut m = Merger::new();
        m.add(20.0, 0, Signal::RequestRate, 5.0);
        m.add(10.0, 0, Signal::RequestRate, 4.0);
        m.add(10.0, 0, Signal::LatencyP95, 120.0);
        m.add(10.0, 1, Signal::RequestRate, f64::NAN);
        m.add(10.0, 0, Signal::RequestRate, 99.0); // duplicate: first kept
        m.add(f64::NAN, 0, Signal::Cpu, 1.0);
        assert_eq!(m.duplicates(), 1);
        let rows = m.clone().into_rows(None);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 10.0);
        // model 1 had only a NaN: no sample
        assert_eq!(rows[0].1.len(), 1);
        let s = rows[0].1[0].1;
        assert_eq!(s.get(Signal::RequestRate), 4.0);
        assert_eq!(s.get(Signal::LatencyP95), 120.0);
        assert!(s.get(Signal::ErrorRate).is_nan());
        assert_eq!(rows[1].0, 20.0);
        assert_eq!(m.into_rows(Some(10.0)).len(), 1);
    }

    #[test]
    fn several_series_per_model_sum_rates_and_keep_the_first_ratio() {
        let mut r = Registry::new(map(), BTreeMap::new());
        let s = |pod: &str, pts: Vec<(f64, f64)>| Series {
            labels: labels(&[("model", "m"), ("pod", pod)]),
            points: pts,
        };
        let mut m = Merger::new();
        // a repeated time within one series counts once
        m.add_result(
            &mut r,
            Signal::RequestRate,
            &[
                s("a", vec![(10.0, 5.0), (10.0, 5.0)]),
                s("b", vec![(10.0, 7.0)]),
                s("c", vec![(10.0, f64::NAN)]),
            ],
        );
        m.add_result(
            &mut r,
            Signal::ErrorRate,
            &[s("a", vec![(10.0, 0.5)]), s("b", vec![(10.0, 0.1)])],
        );
        assert_eq!(m.duplicates(), 1);
        let rows = m.into_rows(None);
        assert_eq!(rows[0].1[0].1.get(Signal::RequestRate), 12.0);
        assert_eq!(rows[0].1[0].1.get(Signal::ErrorRate), 0.5);
    }

    #[test]
    fn gaps() {
        assert_eq!(gap_range(Some(100.0), 115.0, 15.0, 3600.0), None);
        assert_eq!(
            gap_range(Some(100.0), 130.0, 15.0, 3600.0),
            Some((105.0, 115.0))
        );
        assert_eq!(
            gap_range(Some(90.0), 150.0, 15.0, 3600.0),
            Some((105.0, 135.0))
        );
        assert_eq!(gap_range(None, 3600.0, 15.0, 600.0), Some((3000.0, 3585.0)));
        // a gap longer than the backfill starts at the backfill
        assert_eq!(
            gap_range(Some(0.0), 7200.0, 15.0, 600.0),
            Some((6600.0, 7185.0))
        );
        assert_eq!(gap_range(None, 3600.0, 15.0, 0.0), None);
    }

    #[test]
    fn notices_and_labels_are_short() {
        assert_eq!(notice(&[]), "");
        assert_eq!(notice(&["a".into()]), "warning: a");
        assert_eq!(notice(&["a".into(), "b".into()]), "2 warnings: a (+1 more)");
        let l = label_with("prometheus h:1", &"x".repeat(500));
        assert_eq!(l.chars().count(), LABEL_MAX);
        assert_eq!(label_with("p", ""), "p");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn merging_keeps_time_order_and_drops_duplicates(
            points in prop::collection::vec((0u32..50, 0u32..3, 0usize..6, -1e6f64..1e6), 0..200),
            after in prop::option::of(0u32..50),
        ) {
            let mut m = Merger::new();
            for &(t, model, sig, v) in &points {
                m.add(f64::from(t) * 15.0, model, Signal::ALL[sig], v);
            }
            let after = after.map(|a| f64::from(a) * 15.0);
            let rows = m.into_rows(after);
            for w in rows.windows(2) {
                prop_assert!(w[0].0 < w[1].0);
            }
            for (t, samples) in &rows {
                prop_assert!(after.is_none_or(|a| *t > a));
                let mut seen = BTreeSet::new();
                for (i, s) in samples {
                    prop_assert!(seen.insert(*i), "one sample per model and time");
                    // the first value given for (t, model, signal) is the one kept
                    for (k, v) in s.values.iter().enumerate() {
                        let first = points.iter().find(|p| f64::from(p.0) * 15.0 == *t && p.1 == *i && p.2 == k);
                        match first {
                            Some(p) => prop_assert_eq!(*v, p.3 as f32),
                            None => prop_assert!(v.is_nan()),
                        }
                    }
                }
            }
        }

        #[test]
        fn gap_is_within_backfill_and_before_now(last in prop::option::of(0u32..10_000), now in 0u32..10_000, back in 0u32..5000) {
            let step = 15.0;
            let now = f64::from(now) * step;
            let last = last.map(|l| f64::from(l) * step);
            if let Some((s, e)) = gap_range(last, now, step, f64::from(back)) {
                prop_assert!(s <= e + 1e-9);
                prop_assert!(e < now);
                prop_assert!(s >= now - f64::from(back) - step);
                prop_assert!(last.is_none_or(|l| s > l));
            }
        }
    }
}
