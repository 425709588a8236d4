//! Named incident scenarios for the simulated fleet (`--scenario NAME`, `--scenario list`).

use super::Scheduled;
use crate::domain::IncidentKind;

/// A named, scheduled set of incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name given to `--scenario`.
    pub name: &'static str,
    /// What an operator will see.
    pub description: &'static str,
    /// (seconds after the console starts, model index, kind).
    pub items: &'static [(f64, usize, IncidentKind)],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "latency-spike",
        description: "search/ranker-bert: a degraded pod makes p95 latency jump at +2 min",
        items: &[(120.0, 1, IncidentKind::LatencySpike)],
    },
    Scenario {
        name: "error-burst",
        description: "fraud/txn-scorer: a pod in a bad state fails ~12 % of requests at +2 min",
        items: &[(120.0, 6, IncidentKind::ErrorBurst)],
    },
    Scenario {
        name: "accuracy-drift",
        description: "ads/ctr-predictor: input data drifts and accuracy falls from +2 min",
        items: &[(120.0, 3, IncidentKind::AccuracyDrift)],
    },
    Scenario {
        name: "traffic-surge",
        description: "recs/home-feed: demand triples over 10 minutes from +2 min",
        items: &[(120.0, 9, IncidentKind::TrafficSurge)],
    },
    Scenario {
        name: "memory-leak",
        description: "vision/image-moderation: CPU and latency creep up from +2 min",
        items: &[(120.0, 12, IncidentKind::MemoryLeak)],
    },
    Scenario {
        name: "bad-deploy",
        description: "ads/bid-shading: a worse version rolls out at +2 min",
        items: &[(120.0, 4, IncidentKind::BadDeploy)],
    },
    Scenario {
        name: "busy-night",
        description: "one of each, spread over two hours on different models",
        items: &[
            (120.0, 9, IncidentKind::TrafficSurge),
            (900.0, 4, IncidentKind::BadDeploy),
            (1800.0, 1, IncidentKind::LatencySpike),
            (2700.0, 6, IncidentKind::ErrorBurst),
            (3600.0, 12, IncidentKind::MemoryLeak),
            (5400.0, 3, IncidentKind::AccuracyDrift),
        ],
    },
];

/// Every built-in scenario.
pub fn all() -> &'static [Scenario] {
    SCENARIOS
}

/// A scenario by name.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

impl Scenario {
    /// The schedule for a fleet of `n_models` whose console starts at `t_start`. Model indices
    /// wrap for small fleets.
    pub fn schedule(&self, t_start: f64, n_models: usize) -> Vec<Scheduled> {
        self.items
            .iter()
            .map(|&(dt, model, kind)| Scheduled {
                at: t_start + dt,
                model: model % n_models.max(1),
                kind,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_single_scenario_named_after_it() {
        for k in IncidentKind::ALL {
            let s = find(k.name()).expect("scenario for each kind");
            assert_eq!(s.items.len(), 1);
            assert_eq!(s.items[0].2, k);
        }
        assert!(find("nope").is_none());
    }
}
