//! Scaling backtest: replays a demand series (requests per second) against static provisioning,
//! the Kubernetes HPA ([`super::hpa`]) and pitcrew's predictive planner.
//!
//! The demand is stepped every 15 s, linearly interpolated between samples (negative values are
//! read as 0). A pod asked for becomes ready `startup_secs` later; scale-in removes not-yet-ready
//! pods first. Per step the *ready* pods serve the demand, spread evenly:
//! - `replica_hours` counts every existing pod (ready or starting: both are paid for),
//! - a step is *saturated* when ready pods are above 90% utilisation (or there are none),
//! - *unserved* demand is what exceeds the ready capacity (`ready × R`).
//!
//! Policies:
//! - **static**: `ceil(peak demand / (R × U))` pods all the time.
//! - **hpa**: the documented algorithm at target `U`, syncing every 15 s, the metric being the
//!   offered load per ready pod relative to `R` (not capped at 100%, which favours the HPA).
//! - **predictive**: at every new sample the forecaster ([`super::forecast`]) is refitted on the
//!   samples seen so far; between samples its path is corrected by the gap between the observed
//!   demand and the forecast path at the current time (level correction), and the recent observed
//!   trend (last 5 minutes) extrapolated over the lead time is used when it is higher. The
//!   planner ([`super::capacity::plan_replicas`]) then asks now for the pods needed over the next
//!   `startup_secs + 15 s`, plus a 5-minute scale-in caution, never below the reactive need, at
//!   [`BacktestConfig::max_planned_utilisation`] (0.85). Where the path lies beyond the next
//!   sample (it rests on the forecast, not on the observed trend) a margin is added that the
//!   policy learns online: it records its own relative under-prediction at the lead time for
//!   such predictions and uses their [`BacktestConfig::margin_quantile`] (98%) quantile over the
//!   last two days, so it keeps capacity ahead of demand with just the margin its errors need.
//!
//! Default `R` when not given: `peak demand / 40` (the peak needs 40 replicas at 100%, 58 at
//! U = 0.7): tens of replicas, so rounding to whole pods does not dominate the comparison.

use super::capacity::{PlannerConfig, plan_replicas, replicas_needed};
use super::hpa::{Hpa, HpaConfig};
use super::{Forecast, ForecastPoint, regularize, select};
use serde::Serialize;
use std::collections::VecDeque;

/// Step of the replay in seconds.
pub const STEP_SECS: f64 = 15.0;
/// Utilisation above which a ready pod counts as saturated.
pub const SATURATION: f64 = 0.9;

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
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            capacity_per_replica: None,
            target_utilisation: 0.7,
            startup_secs: 600.0,
            scale_in_delay_secs: 300.0,
            margin_quantile: 0.98,
            forecast_window: 24 * 7 * 6,
            error_window: 24 * 14,
            max_planned_utilisation: SATURATION,
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

#[derive(Debug, Default)]
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

/// Reads an experiment knob from the environment (temporary).
fn knob(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A prediction waiting for its sample: (sample index, steps ahead − 1, predicted value, scale).
type Pending = (usize, usize, f64, f64);

/// The predictive policy's state (see the module docs).
struct Predictive {
    /// Planner settings handed to [`plan_replicas`].
    cfg: PlannerConfig,
    /// Sample values as the policy knows them: observed, plus the next one once the observed
    /// slope determines it.
    seen: Vec<f64>,
    /// Forecast means of the samples after the last one in `seen`.
    ahead: Vec<f64>,
    /// Predictions to score once their sample is known.
    pending: VecDeque<Pending>,
    /// Recent scaled errors (actual − predicted) / scale, one pool per steps-ahead.
    errors: Vec<VecDeque<f64>>,
    /// Margin per steps-ahead, in units of the scale.
    margins: Vec<f64>,
    /// Demand observed at the previous step.
    prev_demand: Option<f64>,
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    let (_, m, _) = v.select_nth_unstable_by(i, |a, b| a.total_cmp(b));
    *m
}

impl Predictive {
    /// The error scale at the end of `seen`: the mean absolute change between consecutive
    /// samples over the last `n`, floored at `floor`.
    fn scale(&self, mode: usize, n: usize, floor: f64) -> f64 {
        let s = &self.seen;
        let from = s.len().saturating_sub(n + 1);
        let w = &s[from..];
        let v = match mode {
            0 => 1.0,
            1 => {
                if w.len() < 2 {
                    0.0
                } else {
                    w.windows(2).map(|p| (p[1] - p[0]).abs()).sum::<f64>() / (w.len() - 1) as f64
                }
            }
            _ => {
                if w.is_empty() {
                    0.0
                } else {
                    w.iter().sum::<f64>() / w.len() as f64
                }
            }
        };
        v.max(floor)
    }
}

/// Runs the backtest on `(unix seconds, requests per second)` points.
pub fn run(
    points: &[(f64, f64)],
    cfg: &BacktestConfig,
) -> Result<(BacktestReport, Vec<TraceRow>), String> {
    let reg = regularize(points).map_err(|e| e.to_string())?;
    let vals: Vec<f64> = reg.values.iter().map(|v| v.max(0.0)).collect();
    let peak = vals.iter().copied().fold(0.0, f64::max);
    if peak <= 0.0 {
        return Err("demand is zero throughout: nothing to scale".into());
    }
    let r = cfg.capacity_per_replica.unwrap_or(peak / 40.0);
    let u = cfg.target_utilisation;
    let step = reg.step_secs;
    let demand_at = |t: f64| {
        let x = ((t - reg.t0) / step).max(0.0);
        let i = (x.floor() as usize).min(vals.len() - 1);
        let j = (i + 1).min(vals.len() - 1);
        vals[i] + (vals[j] - vals[i]) * (x - i as f64).min(1.0)
    };
    let n_steps = ((reg.t_last() - reg.t0) / STEP_SECS).floor() as usize + 1;
    let lead_steps = (cfg.startup_secs / STEP_SECS).ceil() as usize;
    let d0 = demand_at(reg.t0);
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
    let k_q = knob("PC_Q", cfg.margin_quantile);
    let k_win = knob("PC_WIN", cfg.error_window as f64) as usize;
    let k_mode = knob("PC_SCALE", 1.0) as usize;
    let k_sn = knob("PC_SN", 24.0) as usize;
    let k_floor = knob("PC_FLOOR", 0.05) * r;
    let k_u = knob("PC_U", cfg.max_planned_utilisation);
    let k_mult = knob("PC_MULT", 1.0);
    let k_min = knob("PC_MINN", 24.0) as usize;
    let window_secs = lead_steps as f64 * STEP_SECS;
    let path_steps = ((window_secs.max(cfg.scale_in_delay_secs)) / STEP_SECS).ceil() as usize;
    // Sample steps the path can reach beyond the last known sample.
    let ahead_n = ((path_steps as f64 * STEP_SECS) / step).ceil() as usize + 1;
    let mut pred = Predictive {
        cfg: PlannerConfig {
            target_utilisation: k_u.clamp(0.1, 1.0),
            headroom: 0.0,
            min_replicas: 1,
            max_replicas: u32::MAX / 2,
            startup_secs: window_secs,
            scale_in_delay_secs: cfg.scale_in_delay_secs,
            plan_on_upper_bound: false,
            forecast_only: false,
        },
        seen: Vec::with_capacity(vals.len()),
        ahead: Vec::new(),
        pending: VecDeque::new(),
        errors: vec![VecDeque::new(); ahead_n],
        margins: vec![1.0; ahead_n],
        prev_demand: None,
    };
    let (mut a_s, mut a_h, mut a_p) = (Acc::default(), Acc::default(), Acc::default());
    let mut total_demand = 0.0;
    let mut trace = Vec::with_capacity(n_steps);
    for s in 0..n_steps {
        let t = reg.t0 + s as f64 * STEP_SECS;
        let d = demand_at(t);
        total_demand += d * STEP_SECS;
        for p in [&mut pods_static, &mut pods_hpa, &mut pods_pred] {
            p.advance(t);
        }
        a_s.record(&pods_static, d, r);
        a_h.record(&pods_hpa, d, r);
        a_p.record(&pods_pred, d, r);
        trace.push(TraceRow {
            t,
            demand: d,
            hpa_ready: pods_hpa.ready,
            predictive_ready: pods_pred.ready,
        });

        // HPA.
        let util = if pods_hpa.ready > 0 {
            d / (f64::from(pods_hpa.ready) * r)
        } else {
            f64::INFINITY
        };
        let unready = pods_hpa.pending.len() as u32;
        let want = hpa.sync(t, pods_hpa.total(), pods_hpa.ready, unready, util);
        pods_hpa.set(want, t + cfg.startup_secs);

        // Predictive. The sample interval we are in, and the slope seen over the last step.
        let i = (((t - reg.t0) / step).floor().max(0.0) as usize).min(vals.len() - 1);
        let seg_t = reg.t0 + i as f64 * step;
        let slope = pred
            .prev_demand
            .filter(|_| t - STEP_SECS >= seg_t - 1e-6)
            .map(|p| (d - p) / STEP_SECS);
        pred.prev_demand = Some(d);
        let mut new_value = false;
        while pred.seen.len() <= i {
            pred.seen.push(vals[pred.seen.len()]);
            new_value = true;
        }
        pred.seen[i] = vals[i];
        if let Some(sl) = slope
            && pred.seen.len() == i + 1
            && i + 1 < vals.len()
        {
            // Linear between samples: the observed slope determines the next sample.
            pred.seen.push((d + sl * (seg_t + step - t)).max(0.0));
            new_value = true;
        }
        if new_value {
            let h = pred.seen.len() - 1;
            // Score the predictions whose sample is now known.
            while let Some(&(j, k, p, sc)) = pred.pending.front() {
                if j > h {
                    break;
                }
                pred.pending.pop_front();
                if let Some(&actual) = pred.seen.get(j) {
                    let pool = &mut pred.errors[k];
                    pool.push_back((actual - p) / sc);
                    if pool.len() > k_win {
                        pool.pop_front();
                    }
                }
            }
            for (k, pool) in pred.errors.iter().enumerate() {
                let mut e: Vec<f64> = pool.iter().copied().collect();
                pred.margins[k] = if e.len() >= k_min {
                    quantile(&mut e, k_q).max(0.0) * k_mult
                } else {
                    e.iter().copied().fold(1.0, f64::max)
                };
            }
            let from = pred.seen.len().saturating_sub(cfg.forecast_window);
            pred.ahead = select::forecast_values(&pred.seen[from..], step, ahead_n, 3, 0)
                .map(|f| f.mean)
                .unwrap_or_default();
            let sc = pred.scale(k_mode, k_sn, k_floor);
            for k in 0..ahead_n {
                let p = pred.ahead.get(k).copied().unwrap_or(pred.seen[h]);
                pred.pending.push_back((h + 1 + k, k, p, sc));
            }
        }
        // The path: the observed trend up to the last determined sample, then the forecast
        // with its learned margin.
        let h = pred.seen.len() - 1;
        let t_h = reg.t0 + h as f64 * step;
        let sc = pred.scale(k_mode, k_sn, k_floor);
        let last = pred.seen[h];
        let beyond = |k: usize| -> f64 {
            if k == 0 {
                return last;
            }
            let p = pred.ahead.get(k - 1).copied().unwrap_or(last);
            (p + pred.margins.get(k - 1).copied().unwrap_or(0.0) * sc).max(0.0)
        };
        let path: Vec<ForecastPoint> = (0..=path_steps)
            .map(|k| {
                let tau = t + k as f64 * STEP_SECS;
                let m = if tau <= t_h {
                    (d + slope.unwrap_or(0.0) * (tau - t)).max(0.0)
                } else {
                    let x = (tau - t_h) / step;
                    let j = x.floor() as usize;
                    beyond(j) + (beyond(j + 1) - beyond(j)) * (x - j as f64)
                };
                // Floating-point safety: never plan exactly at the rounding edge.
                let m = m * (1.0 + 1e-9);
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

    #[test]
    fn rejects_empty_demand() {
        assert!(run(&[(0.0, 0.0), (3600.0, 0.0)], &BacktestConfig::default()).is_err());
        assert!(run(&[], &BacktestConfig::default()).is_err());
    }
}
