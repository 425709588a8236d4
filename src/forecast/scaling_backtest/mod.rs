//! Scaling backtest: replays a demand series (requests per second) against static provisioning,
//! the Kubernetes HPA ([`super::hpa`]) and pitcrew's predictive planner.
//!
//! **Demand.** The series is put on a regular grid at its median spacing; each grid value is the
//! latest observation at or before its time (carried forward over gaps, negative values read as
//! 0) and holds until the next grid time. The replay steps every 15 s, every sample holding for a
//! full interval. The demand at any time therefore depends only on observations at or before it:
//! no interpolation towards a later sample, so no policy can read a sample before its time. All
//! three policies see this same demand. A pod asked for becomes ready `startup_secs` later;
//! scale-in removes not-yet-ready pods first. Per step the *ready* pods serve the demand, spread
//! evenly:
//! - `replica_hours` counts every existing pod (ready or starting: both are paid for),
//! - a step is *saturated* when ready pods are above 90% utilisation (or there are none),
//! - *unserved* demand is what exceeds the ready capacity (`ready × R`).
//!
//! Policies:
//! - **static**: `ceil(peak demand / (R × U))` pods all the time.
//! - **hpa**: the documented algorithm at target `U`, syncing every 15 s, the metric being the
//!   offered load per ready pod relative to `R` (not capped at 100%, which favours the HPA).
//! - **predictive**: it learns a sample when its time comes. Then it scores its earlier
//!   predictions of that sample and refits three short-horizon forecasters on what it has seen:
//!   the rolling-origin selection of [`super::select`], a seasonal difference (last value plus the
//!   mean change at the same daily phase over the last 14 days) and the last value. Each keeps
//!   its own errors per steps-ahead, scaled by the mean absolute change between consecutive
//!   samples (half the last day's, half the same daily phase's over 14 days). The demand planned
//!   for a future sample is the forecast of the member whose recent errors make planning cheapest
//!   (upper quantile minus mean), plus its conformal margin: the
//!   [`BacktestConfig::margin_quantile`] (0.9, the top of an 80% interval) quantile of its scaled
//!   errors over the last [`BacktestConfig::error_window`] samples, times the current scale. A
//!   surge floor keeps it at least at the last sample with a reactive autoscaler's headroom
//!   (`U_max / U`), so a jump a reactive autoscaler at `U` would absorb is absorbed too. The
//!   planner ([`super::capacity::plan_replicas`]) asks now for the pods needed over the exact
//!   start-up lead time (the next `startup_secs`, rounded up to a step; the scale-in caution,
//!   5 minutes, lies within it) at
//!   [`BacktestConfig::max_planned_utilisation`] (0.9), never below the need of the current
//!   demand at 0.9. The margin is thus paid only while pods for the next sample are starting;
//!   once a sample is seen, pods it does not need are released.
//!
//! Default `R` when not given: `peak demand / 40` (the peak needs 40 replicas at 100%, 58 at
//! U = 0.7): tens of replicas, so rounding to whole pods does not dominate the comparison.

mod predictive;

use super::capacity::{PlannerConfig, plan_replicas, replicas_needed};
use super::hpa::{Hpa, HpaConfig};
use super::{Forecast, ForecastPoint, regularize};
use predictive::Predictive;
use serde::Serialize;
use std::collections::VecDeque;

/// Step of the replay in seconds.
pub(crate) const STEP_SECS: f64 = 15.0;
/// Utilisation above which a ready pod counts as saturated.
pub(crate) const SATURATION: f64 = 0.9;
/// Floor of the predictive policy's error scale, as a fraction of `R`.
const SCALE_FLOOR: f64 = 0.05;

/// Backtest settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestConfig {
    /// Requests per second one replica serves at 100% utilisation (`None`: peak / 40).
    pub capacity_per_replica: Option<f64>,
    /// HPA (and static) target utilisation.
    pub target_utilisation: f64,
    /// Seconds from asking for a pod to its being ready.
    pub startup_secs: f64,
    /// Scale-in caution of the predictive planner, seconds.
    pub scale_in_delay_secs: f64,
    /// Quantile of the predictive policy's own under-predictions used as its margin.
    pub margin_quantile: f64,
    /// Most recent samples the forecaster is fitted on.
    pub forecast_window: usize,
    /// Most recent errors (per steps-ahead) the margin quantile is taken over.
    pub error_window: usize,
    /// Utilisation the predictive policy plans at (its learned margin is added on top of the
    /// demand where the path rests on the forecast).
    pub max_planned_utilisation: f64,
    /// Errors needed (per steps-ahead) before the quantile replaces the warm-up margin.
    pub min_errors: usize,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            capacity_per_replica: None,
            target_utilisation: 0.7,
            startup_secs: 600.0,
            scale_in_delay_secs: 300.0,
            margin_quantile: 0.9,
            forecast_window: 24 * 7 * 6,
            error_window: 24 * 14,
            max_planned_utilisation: SATURATION,
            min_errors: 24,
        }
    }
}

/// Outcome of one policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    /// Pod-hours paid for (ready and starting pods).
    pub replica_hours: f64,
    /// Minutes with ready pods above 90% utilisation.
    pub saturated_minutes: f64,
    /// Requests above ready capacity over all requests.
    pub unserved_fraction: f64,
    /// Minutes with some demand unserved.
    pub unserved_minutes: f64,
    /// Mean utilisation of ready pods (demand / ready capacity, time-weighted).
    pub mean_utilisation: f64,
    /// Largest pod count.
    pub peak_replicas: u32,
}

/// The backtest's JSON output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestReport {
    /// Static provisioning at the peak need.
    #[serde(rename = "static")]
    pub static_: PolicyResult,
    /// Kubernetes HPA.
    pub hpa: PolicyResult,
    /// pitcrew's predictive planner.
    pub predictive: PolicyResult,
    /// R used (requests per second per replica at 100%).
    pub capacity_per_replica: f64,
    /// U used.
    pub target_utilisation: f64,
    /// Start-up seconds used.
    pub startup_secs: f64,
    /// Steps replayed.
    pub steps: usize,
    /// `1 - predictive / hpa` replica-hours.
    pub predictive_saving_vs_hpa: f64,
    /// `1 - predictive / static` replica-hours.
    pub predictive_saving_vs_static: f64,
}

/// One row of the trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceRow {
    /// Unix seconds.
    pub t: f64,
    /// Demand (requests per second).
    pub demand: f64,
    /// Ready HPA replicas.
    pub hpa_ready: u32,
    /// Ready predictive replicas.
    pub predictive_ready: u32,
    /// Replicas the predictive planner asked for at this step (ready and starting).
    pub predictive_asked: u32,
}

/// Pods of one policy.
#[derive(Debug, Clone, Default)]
struct Pods {
    ready: u32,
    pending: VecDeque<f64>,
}

impl Pods {
    fn total(&self) -> u32 {
        self.ready + self.pending.len() as u32
    }
    fn advance(&mut self, t: f64) {
        while self.pending.front().is_some_and(|&r| r <= t + 1e-9) {
            self.pending.pop_front();
            self.ready += 1;
        }
    }
    fn set(&mut self, n: u32, ready_at: f64) {
        let total = self.total();
        if n > total {
            for _ in total..n {
                self.pending.push_back(ready_at);
            }
        } else {
            let mut drop = total - n;
            while drop > 0 && self.pending.pop_back().is_some() {
                drop -= 1;
            }
            self.ready -= drop.min(self.ready);
        }
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Acc {
    cost_secs: f64,
    sat_secs: f64,
    unserved: f64,
    unserved_secs: f64,
    util_sum: f64,
    util_n: f64,
    peak: u32,
}

impl Acc {
    fn record(&mut self, pods: &Pods, demand: f64, r: f64) {
        let cap = f64::from(pods.ready) * r;
        self.cost_secs += f64::from(pods.total()) * STEP_SECS;
        self.peak = self.peak.max(pods.total());
        if demand > 0.0 && (cap <= 0.0 || demand > SATURATION * cap) {
            self.sat_secs += STEP_SECS;
        }
        if demand > cap {
            self.unserved += (demand - cap) * STEP_SECS;
            self.unserved_secs += STEP_SECS;
        }
        if cap > 0.0 {
            self.util_sum += demand / cap;
            self.util_n += 1.0;
        }
    }
    fn result(&self, total_demand: f64) -> PolicyResult {
        PolicyResult {
            replica_hours: self.cost_secs / 3600.0,
            saturated_minutes: self.sat_secs / 60.0,
            unserved_fraction: if total_demand > 0.0 {
                self.unserved / total_demand
            } else {
                0.0
            },
            unserved_minutes: self.unserved_secs / 60.0,
            mean_utilisation: if self.util_n > 0.0 {
                self.util_sum / self.util_n
            } else {
                0.0
            },
            peak_replicas: self.peak,
        }
    }
}

/// The demand series as the replay defines it: a regular grid at the series' median spacing,
/// each grid value the latest observation at or before its time (carried forward over gaps, so
/// no value depends on a later observation), held until the next grid time.
fn causal_grid(points: &[(f64, f64)]) -> Result<(f64, f64, Vec<f64>), String> {
    let reg = regularize(points).map_err(|e| e.to_string())?;
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(t, v)| t.is_finite() && v.is_finite())
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (t0, step) = (reg.t0, reg.step_secs);
    let mut vals = Vec::with_capacity(reg.values.len());
    let mut j = 0;
    let mut last = 0.0;
    for i in 0..reg.values.len() {
        let ti = t0 + i as f64 * step;
        // Slack for timestamps a hair off the grid (regularize rounds to the nearest slot).
        while j < pts.len() && pts[j].0 <= ti + 1e-6 * step {
            last = pts[j].1;
            j += 1;
        }
        vals.push(last.max(0.0));
    }
    Ok((t0, step, vals))
}

/// Runs the backtest on `(unix seconds, requests per second)` points.
pub fn run(
    points: &[(f64, f64)],
    cfg: &BacktestConfig,
) -> Result<(BacktestReport, Vec<TraceRow>), String> {
    let (t0, step, vals) = causal_grid(points)?;
    let peak = vals.iter().copied().fold(0.0, f64::max);
    if peak <= 0.0 {
        return Err("demand is zero throughout: nothing to scale".into());
    }
    let r = cfg.capacity_per_replica.unwrap_or(peak / 40.0);
    let u = cfg.target_utilisation;
    // Sample index in force at time t (held until the next sample's time).
    let index_at = |t: f64| -> usize {
        ((((t - t0) / step) + 1e-9).floor().max(0.0) as usize).min(vals.len() - 1)
    };
    // Every sample holds for one full interval, the last one included.
    let n_steps = ((vals.len() as f64 * step) / STEP_SECS).round().max(1.0) as usize;
    let lead_steps = (cfg.startup_secs / STEP_SECS).ceil() as usize;
    let d0 = vals[0];
    let init = replicas_needed(d0, r, u, 0.0).max(1);
    let static_n = replicas_needed(peak, r, u, 0.0).max(1);
    let mut pods_static = Pods {
        ready: static_n,
        ..Pods::default()
    };
    let mut pods_hpa = Pods {
        ready: init,
        ..Pods::default()
    };
    let mut pods_pred = Pods {
        ready: init,
        ..Pods::default()
    };
    let mut hpa = Hpa::new(HpaConfig {
        target_utilisation: u,
        ..HpaConfig::default()
    });
    let floor = SCALE_FLOOR * r;
    let window_secs = lead_steps as f64 * STEP_SECS;
    let path_steps = ((window_secs.max(cfg.scale_in_delay_secs)) / STEP_SECS).ceil() as usize;
    // Samples the path can reach beyond the last seen one.
    let ahead_n = ((path_steps as f64 * STEP_SECS) / step).ceil() as usize + 1;
    let mut pred = Predictive::new(
        PlannerConfig {
            target_utilisation: cfg.max_planned_utilisation.clamp(0.1, 1.0),
            headroom: 0.0,
            min_replicas: 1,
            max_replicas: u32::MAX / 2,
            startup_secs: window_secs,
            scale_in_delay_secs: cfg.scale_in_delay_secs,
            plan_on_upper_bound: false,
            forecast_only: false,
        },
        ahead_n,
        step,
        floor,
        // The reactive autoscaler's headroom: demand planned at U_max instead of U.
        (cfg.max_planned_utilisation / u.max(1e-9)).max(1.0),
        vals.len(),
    );
    let (mut a_s, mut a_h, mut a_p) = (Acc::default(), Acc::default(), Acc::default());
    let mut total_demand = 0.0;
    let mut trace = Vec::with_capacity(n_steps);
    for s in 0..n_steps {
        let t = t0 + s as f64 * STEP_SECS;
        let i = index_at(t);
        let d = vals[i];
        total_demand += d * STEP_SECS;
        for p in [&mut pods_static, &mut pods_hpa, &mut pods_pred] {
            p.advance(t);
        }
        a_s.record(&pods_static, d, r);
        a_h.record(&pods_hpa, d, r);
        a_p.record(&pods_pred, d, r);
        let (hpa_ready, predictive_ready) = (pods_hpa.ready, pods_pred.ready);

        // HPA.
        let util = if pods_hpa.ready > 0 {
            d / (f64::from(pods_hpa.ready) * r)
        } else {
            f64::INFINITY
        };
        let unready = pods_hpa.pending.len() as u32;
        let want = hpa.sync(t, pods_hpa.total(), pods_hpa.ready, unready, util);
        pods_hpa.set(want, t + cfg.startup_secs);

        // Predictive: it learns a sample when its time comes, never before.
        while pred.seen.len() <= i {
            let v = vals[pred.seen.len()];
            pred.observe(v, step, cfg);
        }
        let path: Vec<ForecastPoint> = (0..=path_steps)
            .map(|k| {
                let tau = t + k as f64 * STEP_SECS;
                let m = ((tau - t0) / step + 1e-9).floor().max(0.0) as usize;
                // Floating-point safety: never plan exactly at the rounding edge.
                let m = pred.planned(m) * (1.0 + 1e-9);
                ForecastPoint {
                    t: tau,
                    mean: m,
                    lo80: m,
                    hi80: m,
                }
            })
            .collect();
        let f = Forecast {
            step_secs: STEP_SECS,
            points: path,
            method: String::new(),
            periods: vec![],
        };
        let plan = plan_replicas(&f, &pred.cfg, pods_pred.total(), d, r);
        pods_pred.set(plan.desired_now, t + cfg.startup_secs);
        trace.push(TraceRow {
            t,
            demand: d,
            hpa_ready,
            predictive_ready,
            predictive_asked: plan.desired_now,
        });
    }
    let static_ = a_s.result(total_demand);
    let hpa_r = a_h.result(total_demand);
    let pred_r = a_p.result(total_demand);
    let report = BacktestReport {
        predictive_saving_vs_hpa: 1.0 - pred_r.replica_hours / hpa_r.replica_hours.max(1e-12),
        predictive_saving_vs_static: 1.0 - pred_r.replica_hours / static_.replica_hours.max(1e-12),
        static_,
        hpa: hpa_r,
        predictive: pred_r,
        capacity_per_replica: r,
        target_utilisation: u,
        startup_secs: cfg.startup_secs,
        steps: n_steps,
    };
    Ok((report, trace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_lifecycle() {
        let mut p = Pods {
            ready: 2,
            ..Pods::default()
        };
        p.set(5, 100.0);
        assert_eq!((p.ready, p.total()), (2, 5));
        p.advance(99.0);
        assert_eq!(p.ready, 2);
        p.advance(100.0);
        assert_eq!(p.ready, 5);
        p.set(7, 200.0);
        p.set(4, 0.0); // drops the 2 starting pods first, then 1 ready
        assert_eq!((p.ready, p.total()), (4, 4));
    }

    #[test]
    fn smooth_daily_demand_backtest() {
        let pts: Vec<(f64, f64)> = (0..24 * 14)
            .map(|i| {
                (
                    i as f64 * 3600.0,
                    100.0 + 60.0 * (std::f64::consts::TAU * i as f64 / 24.0).sin(),
                )
            })
            .collect();
        let (rep, trace) = run(&pts, &BacktestConfig::default()).unwrap();
        assert_eq!(trace.len(), rep.steps);
        assert!(rep.predictive.replica_hours < rep.static_.replica_hours);
        assert!(rep.predictive.unserved_fraction <= rep.hpa.unserved_fraction + 1e-9);
        assert!(rep.static_.saturated_minutes == 0.0);
    }

    fn hourly(v: &[f64]) -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &x)| (1_500_000_000.0 + i as f64 * 3600.0, x))
            .collect()
    }

    fn daily(days: usize) -> Vec<f64> {
        (0..24 * days)
            .map(|i| {
                let ph = std::f64::consts::TAU * i as f64 / 24.0;
                100.0 + 50.0 * ph.sin() + 7.0 * ((i * 7919) % 13) as f64 / 13.0
            })
            .collect()
    }

    #[test]
    fn demand_is_held_causally_between_samples() {
        let (rep, trace) = run(&hourly(&[10.0, 20.0, 5.0]), &BacktestConfig::default()).unwrap();
        // Every sample holds for a full hour (240 steps), never moving towards the next one.
        assert_eq!(rep.steps, 3 * 240);
        for (k, row) in trace.iter().enumerate() {
            assert_eq!(row.demand, [10.0, 20.0, 5.0][k / 240], "step {k}");
        }
        // A gap is carried forward from the last observation, not interpolated.
        let mut pts = hourly(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        pts.remove(2);
        let (_, _, vals) = causal_grid(&pts).unwrap();
        assert_eq!(vals, vec![10.0, 20.0, 20.0, 40.0, 50.0, 60.0]);
    }

    #[test]
    fn plan_at_a_step_does_not_depend_on_later_demand() {
        let base = daily(12);
        let cfg = BacktestConfig {
            capacity_per_replica: Some(5.0),
            ..BacktestConfig::default()
        };
        let (_, a) = run(&hourly(&base), &cfg).unwrap();
        for j in [30, 150, 200, 287] {
            let mut alt = base.clone();
            for (k, x) in alt.iter_mut().enumerate().skip(j) {
                *x = if k % 2 == 0 { 3.0 * *x } else { 0.0 };
            }
            let (_, b) = run(&hourly(&alt), &cfg).unwrap();
            let t_j = 1_500_000_000.0 + j as f64 * 3600.0;
            let before = a.iter().zip(&b).take_while(|(r, _)| r.t < t_j);
            let mut n = 0;
            for (r, s) in before {
                assert_eq!(
                    (
                        r.demand,
                        r.hpa_ready,
                        r.predictive_ready,
                        r.predictive_asked
                    ),
                    (
                        s.demand,
                        s.hpa_ready,
                        s.predictive_ready,
                        s.predictive_asked
                    ),
                    "sample {j} changed, t = {}",
                    r.t
                );
                n += 1;
            }
            assert_eq!(n, j * 240);
            // And the change is seen from its time on.
            assert_ne!(a[j * 240].demand, b[j * 240].demand);
        }
    }

    #[test]
    fn asks_for_the_next_sample_exactly_one_lead_time_ahead() {
        let base = daily(10);
        let cfg = BacktestConfig {
            capacity_per_replica: Some(5.0),
            ..BacktestConfig::default()
        };
        let (_, tr) = run(&hourly(&base), &cfg).unwrap();
        let lead = (cfg.startup_secs / STEP_SECS) as usize;
        for i in 200..239 {
            let next = replicas_needed(base[i + 1], 5.0, 0.9, 0.0);
            let now = replicas_needed(base[i], 5.0, 0.9, 0.0);
            // Pods for the next sample are asked for 600 s before it and are ready at its time
            // (surge floor: at least the reactive autoscaler's count at U = 0.7 for the last).
            let at = (i + 1) * 240 - lead;
            assert!(tr[at].predictive_asked >= replicas_needed(base[i], 5.0, 0.7, 0.0));
            assert!(tr[(i + 1) * 240].predictive_ready >= next.min(tr[at].predictive_asked));
            // Before that, only the current sample's need (at 0.9) is held.
            assert_eq!(tr[at - 1].predictive_asked, now, "hour {i}");
        }
    }

    #[test]
    fn surge_floor_absorbs_what_the_hpa_absorbs() {
        // Flat for three days, then an unforeseeable 20% step: at U = 0.7 the HPA is not
        // saturated (84%), and neither is the predictive planner, though it plans at 90%.
        let mut v = vec![100.0; 72];
        v.extend(vec![120.0; 24]);
        let cfg = BacktestConfig {
            capacity_per_replica: Some(5.0),
            ..BacktestConfig::default()
        };
        let (rep, _) = run(&hourly(&v), &cfg).unwrap();
        assert_eq!(rep.hpa.saturated_minutes, 0.0);
        assert_eq!(rep.predictive.saturated_minutes, 0.0);
        assert!(rep.predictive.replica_hours < rep.hpa.replica_hours);
    }

    #[test]
    fn rejects_empty_demand() {
        assert!(run(&[(0.0, 0.0), (3600.0, 0.0)], &BacktestConfig::default()).is_err());
        assert!(run(&[], &BacktestConfig::default()).is_err());
    }
}
