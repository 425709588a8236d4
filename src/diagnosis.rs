//! Diagnosis: from the anomalies of a model, the changes made to it, how its signals moved and
//! what happened to its neighbours at the same time, to ranked root-cause hypotheses with the
//! evidence for each. Deterministic and explainable: every hypothesis lists the facts it rests
//! on, in words an operator can check on the charts.
//!
//! The facts are relative moves of each signal (the last five minutes against the hour before
//! the incident began), the order in which signals became anomalous (traffic → latency → errors
//! points at load; latency alone at a sick pod), whether CPU and latency are creeping steadily
//! (a leak) or jumped (a fault), changes to the model shortly before the onset (a deploy), and
//! incidents that began at the same time on other models of the same namespace (shared
//! infrastructure).

use crate::domain::{Cause, Signal};
use serde::{Deserialize, Serialize};

/// One anomalous sample of a model's signal, as the detectors raised it: what diagnosis reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Time.
    pub t: f64,
    /// Signal.
    pub signal: Signal,
    /// Score in [0, 1].
    pub score: f64,
    /// Expected value.
    pub expected: f64,
    /// Observed value.
    pub observed: f64,
    /// Deviation in robust sigmas (signed).
    pub deviation: f64,
    /// Above expectation.
    pub up: bool,
    /// Which detector fired, and why, in one line.
    pub why: String,
}

/// A ranked hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    /// Cause.
    pub cause: Cause,
    /// 0..1, comparable between hypotheses of one incident.
    pub confidence: f64,
    /// The facts it rests on.
    pub evidence: Vec<String>,
}

/// A change made to the model (deploy, restart, scale…), as the engine saw it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChangeNote {
    /// Time.
    pub t: f64,
    /// True for a rollout of a new version.
    pub deploy: bool,
    /// When the rollout finished (deploys only).
    pub finished: Option<f64>,
    /// Description.
    pub text: String,
}

/// Everything the diagnosis looks at for one incident.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// When the incident began.
    pub onset: f64,
    /// Now.
    pub now: f64,
    /// This model's anomalies (any order).
    pub anomalies: &'a [Anomaly],
    /// Changes made to this model recently.
    pub changes: &'a [ChangeNote],
    /// Mean of each signal over the hour before the onset (NaN when unknown).
    pub before: [f64; Signal::COUNT],
    /// Mean of each signal over the last five minutes.
    pub now_mean: [f64; Signal::COUNT],
    /// Steady creep of CPU and latency over the last half hour: (relative slope per hour, r²).
    pub creep: [(f64, f64); 2],
    /// Other models of the same namespace whose incidents began within ten minutes of this one.
    pub peers_same_namespace: Vec<String>,
    /// Signals out of their objectives now.
    pub breaches: Vec<Signal>,
}

/// Relative change of `a` from `b`, when both are known and `b` is not zero.
fn rel(a: f64, b: f64) -> Option<f64> {
    (a.is_finite() && b.is_finite() && b.abs() > 1e-12).then(|| a / b - 1.0)
}

/// A relative change as a signed percentage; a change that rounds to zero is "±0 %" (never
/// "-0 %"), an unknown one "unknown".
fn pct(x: Option<f64>) -> String {
    match x {
        Some(x) if (x * 100.0).round() == 0.0 => "±0 %".to_string(),
        Some(x) => format!("{:+.0} %", x * 100.0),
        None => "unknown".to_string(),
    }
}

/// "traffic steady (+3 %)", or that traffic is not measured.
fn steady_traffic(rate: Option<f64>) -> String {
    match rate {
        Some(_) => format!("traffic steady ({})", pct(rate)),
        None => "traffic not measured".to_string(),
    }
}

/// An error rate before and now: "1.0 % → 1.6 %", "steady at 1.0 %" when both read the same,
/// `None` when either is unknown.
fn errors_move(before: f64, now: f64) -> Option<String> {
    if !(before.is_finite() && now.is_finite()) {
        return None;
    }
    let (b, n) = (
        format!("{:.1} %", before * 100.0),
        format!("{:.1} %", now * 100.0),
    );
    Some(if b == n {
        format!("errors steady at {n}")
    } else {
        format!("errors {b} → {n}")
    })
}

/// Rank the causes of an incident.
pub fn diagnose(ctx: &Context) -> Vec<Hypothesis> {
    let b = &ctx.before;
    let n = &ctx.now_mean;
    let rate = rel(
        n[Signal::RequestRate.index()],
        b[Signal::RequestRate.index()],
    );
    let lat = rel(n[Signal::LatencyP95.index()], b[Signal::LatencyP95.index()]);
    let cpu = rel(n[Signal::Cpu.index()], b[Signal::Cpu.index()]);
    let err_b = b[Signal::ErrorRate.index()];
    let err_n = n[Signal::ErrorRate.index()];
    let err_up =
        err_n.is_finite() && err_b.is_finite() && err_n - err_b > 0.01 && err_n > 2.0 * err_b;
    let acc_drop = b[Signal::Accuracy.index()] - n[Signal::Accuracy.index()];
    let acc_down = acc_drop.is_finite() && acc_drop > 0.025;
    let traffic_up = rate.is_some_and(|r| r > 0.4);
    let lat_up = lat.is_some_and(|l| l > 0.5);
    let cpu_up = cpu.is_some_and(|c| c > 0.15);
    let (cpu_slope, cpu_r2) = ctx.creep[0];
    let (lat_slope, lat_r2) = ctx.creep[1];
    let creeping = cpu_slope > 0.05 && cpu_r2 > 0.6 && !traffic_up;
    let lat_creeping = lat_slope > 0.05 && lat_r2 > 0.6;
    // a bad version hurts latency and errors as traffic moves to it; accuracy shows it only
    // after the label delay: a rollout finished well before the onset explains latency or
    // errors only when accuracy fell too
    let deploy = ctx
        .changes
        .iter()
        .filter(|c| c.deploy && c.t >= ctx.onset - 2700.0 && c.t <= ctx.now)
        .filter(|c| acc_down || c.finished.is_none_or(|f| ctx.onset <= f + 600.0))
        .max_by(|a, b| a.t.total_cmp(&b.t));

    // which signal moved first
    let mut firsts: Vec<(Signal, f64)> = Vec::new();
    for a in ctx.anomalies {
        if a.t < ctx.onset - 1800.0 {
            continue;
        }
        match firsts.iter_mut().find(|(s, _)| *s == a.signal) {
            Some((_, t)) => *t = t.min(a.t),
            None => firsts.push((a.signal, a.t)),
        }
    }
    firsts.sort_by(|x, y| x.1.total_cmp(&y.1));
    let order = if firsts.is_empty() {
        None
    } else {
        Some(format!(
            "anomalous first: {}",
            firsts
                .iter()
                .map(|(s, t)| format!("{} (+{:.0} min)", s.title(), (t - firsts[0].1) / 60.0))
                .collect::<Vec<_>>()
                .join(" → ")
        ))
    };
    let rate_first = firsts
        .first()
        .is_some_and(|(s, _)| *s == Signal::RequestRate);
    // only what was measured: a signal that is not configured is left out, never shown as NaN
    let mut parts: Vec<String> = [("rate", rate), ("p95", lat), ("CPU", cpu)]
        .iter()
        .filter_map(|(name, v)| v.map(|v| format!("{name} {}", pct(Some(v)))))
        .collect();
    parts.extend(errors_move(err_b, err_n));
    let moves = if parts.is_empty() {
        "no signal measured both now and in the hour before".to_string()
    } else {
        format!("vs the hour before: {}", parts.join(", "))
    };

    let mut hs: Vec<Hypothesis> = Vec::new();
    let push =
        |hs: &mut Vec<Hypothesis>, cause: Cause, confidence: f64, mut evidence: Vec<String>| {
            if let Some(o) = &order {
                evidence.push(o.clone());
            }
            hs.push(Hypothesis {
                cause,
                confidence: confidence.clamp(0.0, 1.0),
                evidence,
            });
        };

    if ctx.peers_same_namespace.len() >= 2 {
        push(
            &mut hs,
            Cause::Infrastructure,
            0.95,
            vec![format!(
                "{} other models of this namespace began misbehaving within 10 min: {}",
                ctx.peers_same_namespace.len(),
                ctx.peers_same_namespace.join(", ")
            )],
        );
    }
    if let Some(d) = deploy {
        let harm = acc_down || err_up || lat_up;
        let mut ev = vec![format!(
            "{} {:.0} min before the incident began",
            d.text,
            ((ctx.onset - d.t) / 60.0).max(0.0)
        )];
        if acc_down {
            ev.push(format!("accuracy −{acc_drop:.3} since"));
        }
        if err_up {
            ev.extend(errors_move(err_b, err_n));
        }
        if lat_up {
            ev.push(format!("p95 {}", pct(lat)));
        }
        if !traffic_up {
            ev.push(steady_traffic(rate));
        }
        push(&mut hs, Cause::BadDeploy, if harm { 0.9 } else { 0.4 }, ev);
    }
    if traffic_up {
        let mut c = 0.6;
        if lat_up || cpu_up {
            c += 0.2;
        }
        if rate_first {
            c += 0.1;
        }
        push(
            &mut hs,
            Cause::TrafficSurge,
            c,
            vec![
                format!("request rate {} vs the hour before", pct(rate)),
                moves.clone(),
            ],
        );
    }
    if creeping {
        let mut ev = vec![format!(
            "CPU creeping {:+.0} %/h for the last 30 min (r² {cpu_r2:.2}) with {}",
            cpu_slope * 100.0,
            steady_traffic(rate)
        )];
        let mut c = 0.75;
        if lat_creeping {
            ev.push(format!("p95 creeping too ({:+.0} %/h)", lat_slope * 100.0));
            c += 0.1;
        }
        push(&mut hs, Cause::MemoryLeak, c, ev);
    }
    if lat_up && !traffic_up && !creeping && deploy.is_none() {
        push(
            &mut hs,
            Cause::DegradedPod,
            0.7,
            vec![
                format!(
                    "p95 {} with {} and no deploy",
                    pct(lat),
                    steady_traffic(rate)
                ),
                moves.clone(),
            ],
        );
    }
    if err_up && !traffic_up && deploy.is_none() {
        push(
            &mut hs,
            Cause::PodErrors,
            0.7,
            vec![format!(
                "{} with traffic steady and no deploy",
                errors_move(err_b, err_n).unwrap_or_default()
            )],
        );
    }
    if acc_down && deploy.is_none() {
        push(
            &mut hs,
            Cause::DataDrift,
            0.75,
            vec![format!(
                "accuracy {:.3} → {:.3} with no deploy (labels arrive late: this lags the data)",
                b[Signal::Accuracy.index()],
                n[Signal::Accuracy.index()]
            )],
        );
    }
    if !acc_down && deploy.is_none() && ctx.breaches.contains(&Signal::Accuracy) {
        push(
            &mut hs,
            Cause::DataDrift,
            0.6,
            vec![format!(
                "accuracy fell below its objective with no recent deploy (5-min mean {:.3}): a slow drift of the data",
                n[Signal::Accuracy.index()]
            )],
        );
    }
    if hs.is_empty() {
        push(&mut hs, Cause::Unexplained, 0.2, vec![moves]);
    }
    hs.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    hs
}

/// Least-squares slope (per hour, relative to the mean) and r² of `(t, v)` points.
pub(crate) fn creep(points: &[(f64, f64)]) -> (f64, f64) {
    let pts: Vec<(f64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    if pts.len() < 10 {
        return (0.0, 0.0);
    }
    let n = pts.len() as f64;
    let mt = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let mv = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (t, v) in &pts {
        sxy += (t - mt) * (v - mv);
        sxx += (t - mt) * (t - mt);
        syy += (v - mv) * (v - mv);
    }
    if sxx <= 0.0 || syy <= 0.0 || mv.abs() < 1e-12 {
        return (0.0, 0.0);
    }
    let slope = sxy / sxx;
    let r2 = (sxy * sxy) / (sxx * syy);
    (slope * 3600.0 / mv, r2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(before: [f64; 6], now: [f64; 6], changes: &'a [ChangeNote]) -> Context<'a> {
        Context {
            onset: 10_000.0,
            now: 10_600.0,
            anomalies: &[],
            changes,
            before,
            now_mean: now,
            creep: [(0.0, 0.0); 2],
            peers_same_namespace: vec![],
            breaches: vec![],
        }
    }

    const BASE: [f64; 6] = [100.0, 50.0, 0.002, 0.93, 0.4, 4.0];

    #[test]
    fn surge_deploy_drift_and_unexplained() {
        let mut surge = BASE;
        surge[0] = 300.0;
        surge[1] = 400.0;
        let h = diagnose(&ctx(BASE, surge, &[]));
        assert_eq!(h[0].cause, Cause::TrafficSurge);

        let mut bad = BASE;
        bad[3] = 0.8;
        bad[2] = 0.03;
        let d = [ChangeNote {
            t: 9_900.0,
            deploy: true,
            finished: None,
            text: "rollout v3 → v4".into(),
        }];
        let h = diagnose(&ctx(BASE, bad, &d));
        assert_eq!(h[0].cause, Cause::BadDeploy);
        assert!(h[0].evidence[0].contains("v3 → v4"));

        let mut drift = BASE;
        drift[3] = 0.88;
        assert_eq!(diagnose(&ctx(BASE, drift, &[]))[0].cause, Cause::DataDrift);

        assert_eq!(diagnose(&ctx(BASE, BASE, &[]))[0].cause, Cause::Unexplained);
        let mut nan = BASE;
        nan[3] = f64::NAN;
        assert_eq!(diagnose(&ctx(nan, BASE, &[]))[0].cause, Cause::Unexplained);
    }

    #[test]
    fn a_fleet_with_only_request_rate_is_diagnosed_without_invented_values() {
        let only_rate = |r: f64| {
            let mut v = [f64::NAN; 6];
            v[0] = r;
            v
        };
        let h = diagnose(&ctx(only_rate(100.0), only_rate(326.0), &[]));
        assert_eq!(h[0].cause, Cause::TrafficSurge);
        let text = h[0].evidence.join(" | ");
        assert!(text.contains("rate +226 %"), "{text}");
        for bad in ["NaN", "inf", "p95", "CPU", "errors"] {
            assert!(!text.contains(bad), "{bad} in {text}");
        }
        // a change that rounds to nothing is ±0 %, and equal error rates read as steady
        assert_eq!(pct(Some(-0.003)), "±0 %");
        assert_eq!(
            errors_move(0.0101, 0.0099).as_deref(),
            Some("errors steady at 1.0 %")
        );
        assert_eq!(errors_move(f64::NAN, 0.01), None);
    }

    #[test]
    fn creep_finds_steady_rise_not_noise() {
        let rising: Vec<(f64, f64)> = (0..30)
            .map(|i| (f64::from(i) * 60.0, 0.5 + 0.002 * f64::from(i)))
            .collect();
        let (s, r2) = creep(&rising);
        assert!(s > 0.1 && r2 > 0.99, "{s} {r2}");
        let flat: Vec<(f64, f64)> = (0..30)
            .map(|i| {
                (
                    f64::from(i) * 60.0,
                    0.5 + if i % 2 == 0 { 0.01 } else { -0.01 },
                )
            })
            .collect();
        assert!(creep(&flat).1 < 0.2);
        assert_eq!(creep(&[(0.0, 1.0)]), (0.0, 0.0));
    }
}
