//! The signals pitcrew watches for every model, and how each one's values are written in a
//! table.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The signals pitcrew watches for every model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Requests per second.
    RequestRate,
    /// 95th percentile latency, milliseconds.
    LatencyP95,
    /// Share of requests that failed, 0..1.
    ErrorRate,
    /// Accuracy measured from delayed labels, 0..1.
    Accuracy,
    /// CPU utilisation of the serving pods, 0..1.
    Cpu,
    /// Ready replicas.
    Replicas,
}

impl Signal {
    /// Every signal, in display order.
    pub const ALL: [Signal; 6] = [
        Signal::RequestRate,
        Signal::LatencyP95,
        Signal::ErrorRate,
        Signal::Accuracy,
        Signal::Cpu,
        Signal::Replicas,
    ];
    /// Number of signals.
    pub(crate) const COUNT: usize = 6;

    /// Position in [`Signal::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Machine name (journal, config, CLI).
    pub fn name(self) -> &'static str {
        match self {
            Signal::RequestRate => "request_rate",
            Signal::LatencyP95 => "latency_p95",
            Signal::ErrorRate => "error_rate",
            Signal::Accuracy => "accuracy",
            Signal::Cpu => "cpu",
            Signal::Replicas => "replicas",
        }
    }

    /// Human title.
    pub fn title(self) -> &'static str {
        match self {
            Signal::RequestRate => "request rate",
            Signal::LatencyP95 => "p95 latency",
            Signal::ErrorRate => "error rate",
            Signal::Accuracy => "accuracy",
            Signal::Cpu => "CPU",
            Signal::Replicas => "replicas",
        }
    }

    /// Parse a machine name.
    pub fn from_name(s: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|sig| sig.name() == s)
    }

    /// Format a value of this signal compactly for tables (at most 7 columns).
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "—".to_string();
        }
        match self {
            Signal::RequestRate => format_rate(v),
            Signal::LatencyP95 => {
                if v >= 10_000.0 {
                    format!("{:.0}s", v / 1000.0)
                } else if v >= 1000.0 {
                    format!("{:.1}s", v / 1000.0)
                } else {
                    format!("{v:.0}ms")
                }
            }
            Signal::ErrorRate => {
                let p = v * 100.0;
                if p >= 10.0 {
                    format!("{p:.0}%")
                } else {
                    format!("{p:.1}%")
                }
            }
            Signal::Accuracy => format!("{v:.3}"),
            Signal::Cpu => format!("{:.0}%", (v * 100.0).clamp(0.0, 999.0)),
            Signal::Replicas => format!("{v:.0}"),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

fn format_rate(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M/s", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.0}k/s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k/s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}/s")
    } else {
        format!("{v:.1}/s")
    }
}
