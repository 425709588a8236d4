//! Service-level objectives, and judging a model's smoothed signals against them: its health
//! (the worst status and why) and which signals are out of objectives.

use super::Status;
use crate::domain::Signal;
use serde::{Deserialize, Serialize};

/// Service-level objectives a model's health is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Objectives {
    /// p95 latency above this (ms) is a warning.
    pub latency_warn_ms: f64,
    /// p95 latency above this (ms) is critical.
    pub latency_crit_ms: f64,
    /// Error rate above this is a warning.
    pub error_warn: f64,
    /// Error rate above this is critical.
    pub error_crit: f64,
    /// Accuracy below this is a warning.
    pub accuracy_warn: f64,
    /// Accuracy below this is critical.
    pub accuracy_crit: f64,
    /// CPU above this is a warning.
    pub cpu_warn: f64,
    /// CPU above this is critical.
    pub cpu_crit: f64,
    /// No sample for this many source steps makes a model stale.
    pub stale_steps: f64,
}

impl Default for Objectives {
    fn default() -> Self {
        Objectives {
            latency_warn_ms: 200.0,
            latency_crit_ms: 500.0,
            error_warn: 0.01,
            error_crit: 0.05,
            accuracy_warn: 0.85,
            accuracy_crit: 0.80,
            cpu_warn: 0.85,
            cpu_crit: 0.95,
            stale_steps: 6.0,
        }
    }
}

/// The signals with objectives, each with its warning and critical bounds and whether a value
/// above the bound (rather than below it) breaks it; in the order their reasons are preferred.
fn bounds(o: &Objectives) -> [(Signal, f64, f64, bool); 4] {
    [
        (
            Signal::LatencyP95,
            o.latency_warn_ms,
            o.latency_crit_ms,
            true,
        ),
        (Signal::ErrorRate, o.error_warn, o.error_crit, true),
        (Signal::Accuracy, o.accuracy_warn, o.accuracy_crit, false),
        (Signal::Cpu, o.cpu_warn, o.cpu_crit, true),
    ]
}

/// `value` is beyond `bound` on the bad side (never for a missing value).
fn beyond(value: f64, bound: f64, above: bool) -> bool {
    if above { value > bound } else { value < bound }
}

/// Why `value` of `signal` breaks `bound`, in the signal's own units.
fn reason(signal: Signal, value: f64, bound: f64) -> String {
    match signal {
        Signal::LatencyP95 => format!("p95 {value:.0} ms > {bound:.0} ms"),
        Signal::ErrorRate => format!("errors {:.1} % > {:.1} %", value * 100.0, bound * 100.0),
        Signal::Accuracy => format!("accuracy {value:.3} < {bound:.2}"),
        Signal::Cpu => format!("CPU {:.0} % > {:.0} %", value * 100.0, bound * 100.0),
        other => format!("{} {value} beyond {bound}", other.name()),
    }
}

/// Judge smoothed values against objectives: the worst status and its reason (the first signal,
/// in [`bounds`]' order, among those at the worst status).
pub(crate) fn judge(v: &[f32; Signal::COUNT], o: &Objectives) -> (Status, String) {
    let mut worst = Status::Ok;
    let mut why = String::new();
    for (signal, warn, crit, above) in bounds(o) {
        let value = f64::from(v[signal.index()]);
        let (status, bound) = if beyond(value, crit, above) {
            (Status::Crit, crit)
        } else if beyond(value, warn, above) {
            (Status::Warn, warn)
        } else {
            continue;
        };
        if status.severity() > worst.severity() {
            worst = status;
            why = reason(signal, value, bound);
        }
    }
    (worst, why)
}

/// Signals out of objectives (beyond their warning bound).
pub(super) fn objective_breaches(v: &[f32; Signal::COUNT], o: &Objectives) -> Vec<Signal> {
    bounds(o)
        .into_iter()
        .filter(|&(signal, warn, _, above)| beyond(f64::from(v[signal.index()]), warn, above))
        .map(|(signal, ..)| signal)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(lat: f32, err: f32, acc: f32, cpu: f32) -> [f32; Signal::COUNT] {
        let mut v = [f32::NAN; Signal::COUNT];
        v[Signal::LatencyP95.index()] = lat;
        v[Signal::ErrorRate.index()] = err;
        v[Signal::Accuracy.index()] = acc;
        v[Signal::Cpu.index()] = cpu;
        v
    }

    #[test]
    fn the_worst_status_wins_and_the_first_signal_names_it() {
        let o = Objectives::default();
        let healthy = values(100.0, 0.001, 0.95, 0.5);
        assert_eq!(judge(&healthy, &o), (Status::Ok, String::new()));
        assert!(objective_breaches(&healthy, &o).is_empty());
        // Latency warns, accuracy is critical: accuracy names it.
        let v = values(300.0, 0.001, 0.70, 0.5);
        assert_eq!(
            judge(&v, &o),
            (Status::Crit, "accuracy 0.700 < 0.80".to_string())
        );
        assert_eq!(
            objective_breaches(&v, &o),
            vec![Signal::LatencyP95, Signal::Accuracy]
        );
        // Two critical: the first in order (latency) names it.
        let v = values(600.0, 0.10, 0.95, 0.99);
        assert_eq!(
            judge(&v, &o),
            (Status::Crit, "p95 600 ms > 500 ms".to_string())
        );
        let v = values(100.0, 0.02, 0.95, 0.9);
        assert_eq!(
            judge(&v, &o),
            (Status::Warn, "errors 2.0 % > 1.0 %".to_string())
        );
        let v = values(100.0, 0.0, 0.95, 0.97);
        assert_eq!(judge(&v, &o), (Status::Crit, "CPU 97 % > 95 %".to_string()));
    }

    #[test]
    fn missing_values_break_nothing() {
        let o = Objectives::default();
        let v = [f32::NAN; Signal::COUNT];
        assert_eq!(judge(&v, &o).0, Status::Ok);
        assert!(objective_breaches(&v, &o).is_empty());
    }
}
