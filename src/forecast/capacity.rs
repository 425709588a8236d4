//! Capacity planning: replicas per forecast step, and a fleet-wide budget.
//!
//! The need at a step is `ceil(demand × (1 + headroom) / (capacity_per_replica × utilisation))`,
//! with demand the forecast mean or its 80% upper bound. A pod asked for now is ready only after
//! the start-up lead time, so the plan at a step is the largest need over the next
//! `startup_secs`; scaling in is cautious: the plan also covers the next `scale_in_delay_secs`,
//! so replicas are only released when the forecast says they stay unneeded. The plan for now is
//! never below what a reactive autoscaler would ask for at the current demand (as AWS predictive
//! scaling and Crane take the max of predicted and reactive). `forecast_only` marks a plan to be
//! shown, not acted on.
//!
//! The capacity per replica is learned from history ([`estimate_capacity_per_replica`]): the
//! median of observed throughput per ready replica divided by its utilisation, at the target
//! utilisation.
//!
//! A fleet budget ([`apply_budget`]) in replicas or cost is shared by business priority: every
//! model first gets its minimum (highest priority first while the budget lasts), then wanted
//! replicas are granted to the highest priority first, sharing proportionally within a priority.
//! The outcome names who was cut and by how much.

use super::Forecast;
use serde::{Deserialize, Serialize};

/// Planner settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PlannerConfig {
    /// Utilisation planned at (0..1].
    pub target_utilisation: f64,
    /// Extra fraction of capacity on top of the need.
    pub headroom: f64,
    /// Lower bound on replicas.
    pub min_replicas: u32,
    /// Upper bound on replicas.
    pub max_replicas: u32,
    /// Seconds from asking for a pod to its being ready.
    pub startup_secs: f64,
    /// Replicas are released only if unneeded for this long in the forecast.
    pub scale_in_delay_secs: f64,
    /// Plan on the 80% upper bound instead of the mean.
    pub plan_on_upper_bound: bool,
    /// Show the plan without acting on it.
    pub forecast_only: bool,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            target_utilisation: 0.7,
            headroom: 0.1,
            min_replicas: 1,
            max_replicas: 1000,
            startup_secs: 600.0,
            scale_in_delay_secs: 300.0,
            plan_on_upper_bound: true,
            forecast_only: false,
        }
    }
}

/// One planned step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    /// Unix seconds.
    pub t: f64,
    /// Demand planned for (mean or upper bound).
    pub demand: f64,
    /// Replicas needed at this step to serve it.
    pub needed: u32,
    /// Replicas to have asked for at this step (covers start-up lead and scale-in caution).
    pub replicas: u32,
}

/// A replica plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaPlan {
    /// Planned steps (same times as the forecast).
    pub steps: Vec<PlanStep>,
    /// Replicas to ask for now.
    pub desired_now: u32,
    /// What a reactive autoscaler would ask for at the current demand.
    pub reactive_floor: u32,
    /// First change from the current count: (unix seconds, from, to).
    pub next_scale_event: Option<(f64, u32, u32)>,
    /// Shown only, not to be acted on.
    pub forecast_only: bool,
    /// Why (human readable).
    pub reason: String,
}

/// Replicas needed to serve `demand` at `utilisation` with `headroom`.
pub(crate) fn replicas_needed(
    demand: f64,
    capacity_per_replica: f64,
    utilisation: f64,
    headroom: f64,
) -> u32 {
    let per = capacity_per_replica * utilisation;
    if per.is_nan() || per <= 0.0 || !demand.is_finite() || demand <= 0.0 {
        return 0;
    }
    let x = (demand * (1.0 + headroom.max(0.0)) / per).ceil();
    if x >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        x as u32
    }
}

/// Plans replicas from a forecast (see the module docs).
pub(crate) fn plan_replicas(
    forecast: &Forecast,
    cfg: &PlannerConfig,
    current_replicas: u32,
    current_demand: f64,
    capacity_per_replica: f64,
) -> ReplicaPlan {
    let bound = |r: u32| r.clamp(cfg.min_replicas, cfg.max_replicas.max(cfg.min_replicas));
    let need = |d: f64| {
        replicas_needed(
            d,
            capacity_per_replica,
            cfg.target_utilisation,
            cfg.headroom,
        )
    };
    let reactive_floor = bound(need(current_demand));
    let pts = &forecast.points;
    let demand: Vec<f64> = pts
        .iter()
        .map(|p| {
            if cfg.plan_on_upper_bound {
                p.hi80.max(p.mean)
            } else {
                p.mean
            }
        })
        .collect();
    let needed: Vec<u32> = demand.iter().map(|d| need(*d)).collect();
    let window = cfg.startup_secs.max(cfg.scale_in_delay_secs).max(0.0);
    let mut steps = Vec::with_capacity(pts.len());
    // Sliding maximum over [t_i, t_i + window] (two pointers; forecast times increase).
    let mut j = 0;
    let mut dq: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    for i in 0..pts.len() {
        while j < pts.len() && pts[j].t <= pts[i].t + window {
            while dq.back().is_some_and(|&b| needed[b] <= needed[j]) {
                dq.pop_back();
            }
            dq.push_back(j);
            j += 1;
        }
        while dq.front().is_some_and(|&f| f < i) {
            dq.pop_front();
        }
        let m = dq.front().map_or(needed[i], |&f| needed[f]);
        steps.push(PlanStep {
            t: pts[i].t,
            demand: demand[i],
            needed: needed[i],
            replicas: bound(m),
        });
    }
    // Now: cover everything needed until pods asked for now are ready, never below reactive.
    let lead_max = pts
        .iter()
        .zip(&needed)
        .take_while(|(p, _)| pts.first().is_some_and(|f| p.t <= f.t + window))
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    let desired_now = bound(lead_max).max(reactive_floor);
    let next_scale_event = std::iter::once((
        pts.first().map_or(0.0, |p| p.t - forecast.step_secs),
        desired_now,
    ))
    .chain(steps.iter().map(|s| (s.t, s.replicas)))
    .find(|(_, r)| *r != current_replicas)
    .map(|(t, r)| (t, current_replicas, r));
    let reason = format!(
        "plan at {:.0}% utilisation{} with {:.0}% headroom, {}s start-up lead, {}s scale-in caution; reactive floor {}{}",
        cfg.target_utilisation * 100.0,
        if cfg.plan_on_upper_bound {
            " on the 80% upper bound"
        } else {
            " on the mean"
        },
        cfg.headroom * 100.0,
        cfg.startup_secs,
        cfg.scale_in_delay_secs,
        reactive_floor,
        if cfg.forecast_only {
            " (forecast-only: not acted on)"
        } else {
            ""
        }
    );
    ReplicaPlan {
        steps,
        desired_now,
        reactive_floor,
        next_scale_event,
        forecast_only: cfg.forecast_only,
        reason,
    }
}

/// Learns the throughput one replica serves at `target_utilisation` from history samples of
/// `(throughput, ready_replicas, utilisation)` (utilisation as a fraction). The median of
/// per-replica throughput / utilisation is robust to outliers. `None` without usable samples.
pub(crate) fn estimate_capacity_per_replica(
    samples: &[(f64, f64, f64)],
    target_utilisation: f64,
) -> Option<f64> {
    let mut v: Vec<f64> = samples
        .iter()
        .filter(|(d, r, u)| d.is_finite() && *d > 0.0 && *r > 0.0 && *u > 0.01 && u.is_finite())
        .map(|(d, r, u)| d / r / u)
        .collect();
    if v.is_empty() || target_utilisation.is_nan() || target_utilisation <= 0.0 {
        return None;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    Some(*m * target_utilisation)
}

/// A fleet-wide budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) enum Budget {
    /// At most this many replicas in total.
    Replicas(u32),
    /// At most this total cost (sum of replicas × cost per replica).
    Cost(f64),
}

/// One model's request to the budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BudgetRequest {
    /// Model id.
    pub model: String,
    /// Replicas its plan wants.
    pub wanted: u32,
    /// Replicas it must keep if at all possible.
    pub min: u32,
    /// Business priority: higher is served first.
    pub priority: u32,
    /// Cost of one replica (used with [`Budget::Cost`]; 1.0 for replica budgets).
    pub cost_per_replica: f64,
}

/// Result of [`apply_budget`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BudgetOutcome {
    /// Replicas granted per model (request order).
    pub granted: Vec<(String, u32)>,
    /// Models cut: (model, wanted, granted).
    pub cuts: Vec<(String, u32, u32)>,
    /// Budget used (replicas or cost).
    pub used: f64,
    /// Whether everything wanted fitted.
    pub fits: bool,
    /// Whether even the minimums did not fit (some model got less than its minimum).
    pub below_minimum: bool,
}

/// Shares `budget` among the requests by priority (see the module docs).
pub(crate) fn apply_budget(requests: &[BudgetRequest], budget: Budget) -> BudgetOutcome {
    let (limit, by_cost) = match budget {
        Budget::Replicas(r) => (f64::from(r), false),
        Budget::Cost(c) => (c.max(0.0), true),
    };
    let unit = |r: &BudgetRequest| {
        if by_cost && r.cost_per_replica.is_finite() {
            r.cost_per_replica.max(0.0)
        } else {
            1.0
        }
    };
    let mut granted: Vec<u32> = vec![0; requests.len()];
    let mut left = limit;
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| requests[b].priority.cmp(&requests[a].priority));
    // Pass 1: minimums, by priority.
    for &i in &order {
        let r = &requests[i];
        let m = r.min.min(r.wanted);
        let u = unit(r);
        let g = if u > 0.0 {
            ((left / u).floor().max(0.0) as u32).min(m)
        } else {
            m
        };
        granted[i] = g;
        left -= f64::from(g) * u;
    }
    let below_minimum = requests
        .iter()
        .zip(&granted)
        .any(|(r, g)| *g < r.min.min(r.wanted));
    // Pass 2: the rest, priority tiers from the top, proportional within a tier.
    let mut k = 0;
    while k < order.len() {
        let p = requests[order[k]].priority;
        let tier: Vec<usize> = order[k..]
            .iter()
            .copied()
            .take_while(|&i| requests[i].priority == p)
            .collect();
        k += tier.len();
        let extra: f64 = tier
            .iter()
            .map(|&i| f64::from(requests[i].wanted - granted[i]) * unit(&requests[i]))
            .sum();
        if extra <= 0.0 {
            continue;
        }
        let share = (left / extra).min(1.0);
        for &i in &tier {
            let r = &requests[i];
            let want = r.wanted - granted[i];
            let g = (f64::from(want) * share).floor() as u32;
            granted[i] += g;
            left -= f64::from(g) * unit(r);
        }
        // Hand out what rounding left, one replica at a time, in order.
        for &i in &tier {
            let u = unit(&requests[i]);
            while granted[i] < requests[i].wanted && left >= u && u > 0.0 {
                granted[i] += 1;
                left -= u;
            }
        }
    }
    let cuts = requests
        .iter()
        .zip(&granted)
        .filter(|(r, g)| **g < r.wanted)
        .map(|(r, g)| (r.model.clone(), r.wanted, *g))
        .collect::<Vec<_>>();
    BudgetOutcome {
        granted: requests
            .iter()
            .zip(&granted)
            .map(|(r, g)| (r.model.clone(), *g))
            .collect(),
        fits: cuts.is_empty(),
        cuts,
        used: limit - left,
        below_minimum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::ForecastPoint;

    fn fc(demand: &[f64]) -> Forecast {
        Forecast {
            step_secs: 300.0,
            points: demand
                .iter()
                .enumerate()
                .map(|(i, d)| ForecastPoint {
                    t: 300.0 * (i + 1) as f64,
                    mean: *d,
                    lo80: d * 0.9,
                    hi80: d * 1.1,
                })
                .collect(),
            method: String::new(),
            periods: vec![],
        }
    }

    fn cfg() -> PlannerConfig {
        PlannerConfig {
            target_utilisation: 0.5,
            headroom: 0.0,
            plan_on_upper_bound: false,
            startup_secs: 600.0,
            scale_in_delay_secs: 0.0,
            ..PlannerConfig::default()
        }
    }

    #[test]
    fn needs_and_lead_time() {
        assert_eq!(replicas_needed(100.0, 10.0, 0.5, 0.0), 20);
        assert_eq!(replicas_needed(0.0, 10.0, 0.5, 0.0), 0);
        assert_eq!(replicas_needed(1.0, 0.0, 0.5, 0.0), 0);
        // Demand rises at step 3 (t=900): with 600 s lead, ask at t=300 already.
        let p = plan_replicas(&fc(&[10.0, 10.0, 40.0, 40.0]), &cfg(), 2, 10.0, 10.0);
        assert_eq!(
            p.steps.iter().map(|s| s.replicas).collect::<Vec<_>>(),
            vec![8, 8, 8, 8]
        );
        assert_eq!(p.desired_now, 8);
        assert_eq!(p.next_scale_event, Some((0.0, 2, 8)));
    }

    #[test]
    fn reactive_floor_and_cautious_scale_in() {
        // Forecast says demand drops, but current demand is high: keep the reactive need.
        let p = plan_replicas(&fc(&[5.0, 5.0]), &cfg(), 20, 100.0, 10.0);
        assert_eq!(p.reactive_floor, 20);
        assert_eq!(p.desired_now, 20);
        // Scale-in caution: a dip shorter than the delay does not release replicas.
        let c = PlannerConfig {
            startup_secs: 0.0,
            scale_in_delay_secs: 600.0,
            ..cfg()
        };
        let p = plan_replicas(
            &fc(&[40.0, 10.0, 40.0, 10.0, 10.0, 10.0]),
            &c,
            8,
            40.0,
            10.0,
        );
        assert_eq!(
            p.steps.iter().map(|s| s.replicas).collect::<Vec<_>>(),
            vec![8, 8, 8, 2, 2, 2]
        );
    }

    #[test]
    fn bounds_and_forecast_only() {
        let c = PlannerConfig {
            min_replicas: 3,
            max_replicas: 5,
            forecast_only: true,
            ..cfg()
        };
        let p = plan_replicas(&fc(&[0.0, 1000.0]), &c, 3, 0.0, 10.0);
        assert!(p.steps.iter().all(|s| (3..=5).contains(&s.replicas)));
        assert!(p.forecast_only && p.reason.contains("forecast-only"));
        let empty = plan_replicas(&fc(&[]), &cfg(), 4, 10.0, 10.0);
        assert_eq!(empty.desired_now, 2);
    }

    #[test]
    fn learns_capacity() {
        // 10 replicas serving 300 rps at 60% -> 50 rps per replica at 100%, 35 at 70%.
        let s = vec![
            (300.0, 10.0, 0.6),
            (150.0, 5.0, 0.6),
            (1.0, 0.0, 0.5),
            (600.0, 10.0, 1.2),
        ];
        assert!((estimate_capacity_per_replica(&s, 0.7).unwrap() - 35.0).abs() < 1e-9);
        assert!(estimate_capacity_per_replica(&[], 0.7).is_none());
    }

    fn req(m: &str, wanted: u32, min: u32, priority: u32) -> BudgetRequest {
        BudgetRequest {
            model: m.into(),
            wanted,
            min,
            priority,
            cost_per_replica: 1.0,
        }
    }

    #[test]
    fn budget_by_priority() {
        let r = vec![req("a", 10, 2, 1), req("b", 10, 2, 5), req("c", 4, 1, 5)];
        let o = apply_budget(&r, Budget::Replicas(30));
        assert!(o.fits && o.cuts.is_empty());
        let o = apply_budget(&r, Budget::Replicas(16));
        // Minimums 2+2+1, then b and c (priority 5) get all they want (11 more), a keeps 2.
        assert_eq!(
            o.granted,
            vec![("a".into(), 2), ("b".into(), 10), ("c".into(), 4)]
        );
        assert_eq!(o.cuts, vec![("a".into(), 10, 2)]);
        let o = apply_budget(&r, Budget::Replicas(3));
        assert!(o.below_minimum);
        assert_eq!(
            o.granted,
            vec![("a".into(), 0), ("b".into(), 2), ("c".into(), 1)]
        );
        // Cost budget: b costs 2 per replica.
        let mut r2 = r.clone();
        r2[1].cost_per_replica = 2.0;
        let o = apply_budget(&r2, Budget::Cost(20.0));
        assert!(o.used <= 20.0 + 1e-9);
        assert!(!o.fits);
    }
}
