//! `/metrics`: the snapshot in the Prometheus text format (the names are listed in the
//! module above).

use crate::domain::Signal;
use crate::engine::{Snapshot, SourceState, Status};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;
type GaugeF = Gauge<f64, AtomicU64>;

fn status_value(s: Status) -> f64 {
    match s {
        Status::Ok => 0.0,
        Status::Warn => 1.0,
        Status::Crit => 2.0,
        _ => 3.0,
    }
}

/// `pitcrew_vulnerabilities{namespace, model, severity}`: the known vulnerabilities open in
/// what each model runs, by severity (a model with none has no series);
/// `pitcrew_vulnerability_oldest_critical_age_seconds{namespace, model}`: since when the
/// oldest open critical one is known.
fn vulnerability_metrics(reg: &mut Registry, snap: &Snapshot) {
    let count = Family::<Labels, GaugeF>::default();
    let oldest = Family::<Labels, GaugeF>::default();
    for m in snap.vulns.iter() {
        let (namespace, model) = m.key.split_once('/').unwrap_or(("", m.key.as_str()));
        let labels = |extra: Option<&str>| {
            let mut l = vec![
                ("namespace".to_string(), namespace.to_string()),
                ("model".to_string(), model.to_string()),
            ];
            if let Some(s) = extra {
                l.push(("severity".to_string(), s.to_string()));
            }
            l
        };
        for o in m.open.iter() {
            count
                .get_or_create(&labels(Some(o.found.severity.name())))
                .inc_by(1.0);
        }
        let critical = m
            .open
            .iter()
            .filter(|o| o.found.severity == crate::domain::Severity::Critical)
            .map(|o| snap.t - o.since)
            .fold(f64::NAN, f64::max);
        if critical.is_finite() {
            oldest.get_or_create(&labels(None)).set(critical.max(0.0));
        }
    }
    reg.register(
        "pitcrew_vulnerabilities",
        "Known vulnerabilities open in what a model runs, by severity",
        count,
    );
    reg.register(
        "pitcrew_vulnerability_oldest_critical_age_seconds",
        "Since when the oldest open critical vulnerability of a model is known",
        oldest,
    );
}

/// Render the snapshot as Prometheus / OpenMetrics text.
pub(crate) fn metrics_text(snap: &Snapshot) -> String {
    let mut reg = Registry::default();
    let per_model = [
        (
            "mlops_model_accuracy",
            "Accuracy measured from labels, 0..1",
            Some(Signal::Accuracy),
        ),
        (
            "mlops_model_latency_p95",
            "95th percentile latency, milliseconds",
            Some(Signal::LatencyP95),
        ),
        (
            "mlops_model_request_rate",
            "Requests per second",
            Some(Signal::RequestRate),
        ),
        (
            "mlops_model_error_rate",
            "Share of failed requests, 0..1",
            Some(Signal::ErrorRate),
        ),
        (
            "mlops_model_cpu",
            "CPU utilisation of the serving pods, 0..1",
            Some(Signal::Cpu),
        ),
        (
            "mlops_model_replicas",
            "Ready replicas",
            Some(Signal::Replicas),
        ),
        (
            "mlops_model_status",
            "Health: 0 ok, 1 warn, 2 crit, 3 stale or unknown",
            None,
        ),
    ];
    for (name, help, signal) in per_model {
        let fam = Family::<Labels, GaugeF>::default();
        for row in snap.rows.iter() {
            let labels = vec![
                ("namespace".to_string(), row.meta.namespace.clone()),
                ("model".to_string(), row.meta.name.clone()),
            ];
            let v = match signal {
                Some(s) => f64::from(row.values[s.index()]),
                None => status_value(row.status),
            };
            if v.is_finite() {
                fam.get_or_create(&labels).set(v);
            }
        }
        reg.register(name, help, fam);
    }
    vulnerability_metrics(&mut reg, snap);
    let adaptations = Family::<Labels, Counter<u64>>::default();
    for (book, c) in &snap.stats.playbooks {
        for (outcome, n) in [("success", c.success), ("failure", c.failure)] {
            adaptations
                .get_or_create(&vec![
                    ("playbook".to_string(), book.clone()),
                    ("outcome".to_string(), outcome.to_string()),
                ])
                .inc_by(u64::from(n));
        }
    }
    reg.register(
        "mlops_adaptations",
        "Remediations that finished, by playbook and outcome",
        adaptations,
    );
    let (blocks, run) = snap.counters;
    let executed = Counter::<u64>::default();
    executed.inc_by(run);
    reg.register(
        "pitcrew_actions_executed",
        "Actions sent to the actuator since start",
        executed,
    );
    let blocked = Counter::<u64>::default();
    blocked.inc_by(blocks);
    reg.register(
        "pitcrew_guardrail_blocks",
        "Times a guardrail held an approved action back since start",
        blocked,
    );
    let gauge = |v: f64| {
        let g = GaugeF::default();
        g.set(v);
        g
    };
    let up = matches!(
        snap.source.state,
        SourceState::Live | SourceState::Backfilling { .. } | SourceState::Paused
    );
    reg.register(
        "pitcrew_source_up",
        "1 while the data source answers",
        gauge(if up { 1.0 } else { 0.0 }),
    );
    let loading = matches!(snap.source.state, SourceState::Backfilling { .. });
    reg.register(
        "pitcrew_source_backfilling",
        "1 while the history is being loaded",
        gauge(if loading { 1.0 } else { 0.0 }),
    );
    if let Some(age) = snap.data_age() {
        reg.register(
            "pitcrew_data_age_seconds",
            "Age of the newest sample",
            gauge(age),
        );
    }
    let open = snap.incidents.iter().filter(|i| i.is_open()).count();
    reg.register(
        "pitcrew_open_incidents",
        "Open incidents",
        gauge(open as f64),
    );
    let pending = snap
        .remediations
        .iter()
        .filter(|r| r.state.needs_human())
        .count();
    reg.register(
        "pitcrew_pending_approvals",
        "Remediations waiting for a human",
        gauge(pending as f64),
    );
    reg.register(
        "pitcrew_models",
        "Models known",
        gauge(snap.rows.len() as f64),
    );
    let phase = Family::<Labels, GaugeF>::default();
    phase
        .get_or_create(&vec![("phase".to_string(), snap.phase.name().to_string())])
        .set(1.0);
    reg.register("pitcrew_phase", "The autonomy phase in force", phase);
    let mut out = String::new();
    // writing to a String cannot fail
    let _ = encode(&mut out, &reg);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::harness::{drive, start};

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn metrics_carry_every_model_and_the_seed_names() {
        let (mut w, mut e) = start(3, 4, 1.7e9, EngineConfig::default());
        drive(&mut w, &mut e, 200);
        let snap = e.snapshot(None, 10);
        let text = metrics_text(&snap);
        assert!(text.ends_with("# EOF\n"), "{text}");
        for row in snap.rows.iter() {
            let acc = f64::from(row.values[Signal::Accuracy.index()]);
            let prefix = format!(
                "mlops_model_accuracy{{namespace=\"{}\",model=\"{}\"}} ",
                row.meta.namespace, row.meta.name
            );
            let l = line(&text, &prefix).unwrap_or_else(|| panic!("{prefix} missing:\n{text}"));
            let v: f64 = l[prefix.len()..].trim().parse().unwrap();
            assert!((v - acc).abs() < 1e-6, "{l} vs {acc}");
            assert!(text.contains(&format!(
                "mlops_model_latency_p95{{namespace=\"{}\",model=\"{}\"}}",
                row.meta.namespace, row.meta.name
            )));
        }
        assert!(text.contains("# TYPE mlops_model_status gauge"), "{text}");
        assert!(line(&text, "pitcrew_models 4").is_some(), "{text}");
        assert!(line(&text, "pitcrew_source_up 1").is_some(), "{text}");
        assert!(text.contains("pitcrew_phase{phase=\""), "{text}");
    }

    #[test]
    fn metrics_count_open_vulnerabilities_by_model_and_severity() {
        let (mut w, mut e) = start(3, 15, 1.7e9, EngineConfig::default());
        for ev in crate::sources::sim::findings(&w) {
            e.apply(ev);
        }
        drive(&mut w, &mut e, 20);
        let critical = crate::domain::Vulnerability {
            advisory: "TEST-1".into(),
            cve: None,
            package: "pillow".into(),
            installed: "9.5.0".into(),
            fixed: Some("10.0.1".into()),
            upgrade_to: Some("10.0.1".into()),
            severity: crate::domain::Severity::Critical,
            score: Some(9.8),
            title: "a test".into(),
            source: crate::domain::Source::Requirements,
        };
        let first = w.models[0].meta.key();
        e.apply(crate::engine::Event::Findings {
            t: w.time(),
            model: first.clone(),
            scanner: crate::domain::Scanner::Requirements,
            found: vec![critical],
            bumps: Vec::new(),
        });
        drive(&mut w, &mut e, 12);
        let text = metrics_text(&e.snapshot(None, 10));
        let key = |m: usize| {
            let meta = &w.models[m].meta;
            format!("namespace=\"{}\",model=\"{}\"", meta.namespace, meta.name)
        };
        // bid-shading (model 4): aiohttp, one high and one medium
        for sev in ["high", "medium"] {
            let l = format!("pitcrew_vulnerabilities{{{},severity=\"{sev}\"}} 1", key(4));
            assert!(line(&text, &l).is_some(), "{l} missing:\n{text}");
        }
        // thumbnail-crop (model 14): two advisories of pillow, unknown severity
        let l = format!(
            "pitcrew_vulnerabilities{{{},severity=\"unknown\"}} 2",
            key(14)
        );
        assert!(line(&text, &l).is_some(), "{l} missing:\n{text}");
        // the critical one, 12 samples (60 s) old
        let l = format!(
            "pitcrew_vulnerability_oldest_critical_age_seconds{{{}}} 60",
            key(0)
        );
        assert!(line(&text, &l).is_some(), "{l} missing:\n{text}");
        // spell-correct (model 2) runs nothing known to be vulnerable: no series
        assert!(!text.contains(&format!("pitcrew_vulnerabilities{{{},", key(2))));
        // fixed: its series go
        e.apply(crate::engine::Event::Findings {
            t: w.time(),
            model: first,
            scanner: crate::domain::Scanner::Requirements,
            found: Vec::new(),
            bumps: Vec::new(),
        });
        let text = metrics_text(&e.snapshot(None, 10));
        assert!(!text.contains(&format!("pitcrew_vulnerabilities{{{},", key(0))));
        assert!(!text.contains("oldest_critical_age_seconds{"), "{text}");
    }

    #[test]
    fn adaptations_count_outcomes() {
        let mut stats = crate::policy::OutcomeStats::default();
        stats.record("restart-degraded", "a/b", true);
        stats.record("restart-degraded", "a/b", false);
        stats.record("restart-degraded", "a/c", true);
        let cfg = EngineConfig {
            stats,
            ..EngineConfig::default()
        };
        let (mut w, mut e) = start(3, 2, 1.7e9, cfg);
        drive(&mut w, &mut e, 2);
        let text = metrics_text(&e.snapshot(None, 0));
        assert!(
            text.contains(
                "mlops_adaptations_total{playbook=\"restart-degraded\",outcome=\"success\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "mlops_adaptations_total{playbook=\"restart-degraded\",outcome=\"failure\"} 1"
            ),
            "{text}"
        );
    }
}
