//! The predictive policy of the scaling backtest: three short-horizon forecasters, each scoring
//! its own predictions as their samples arrive, and the demand planned from the member whose
//! recent errors make planning cheapest, plus its conformal margin (see the parent module).

use super::BacktestConfig;
use crate::forecast::capacity::PlannerConfig;
#[cfg(doc)]
use crate::forecast::capacity::plan_replicas;
use crate::forecast::select;
use std::collections::VecDeque;

/// A prediction waiting for its sample: sample index, steps ahead − 1, each forecaster's
/// prediction, and the error scale at the time.
type Pending = (usize, usize, Vec<f64>, f64);

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).ceil() as usize;
    let (_, m, _) = v.select_nth_unstable_by(i, |a, b| a.total_cmp(b));
    *m
}

/// One short-horizon forecaster of the predictive policy, with its own error record.
#[derive(Debug, Clone, Default)]
struct Member {
    /// Forecast means of the samples after the last seen one.
    ahead: Vec<f64>,
    /// Recent scaled errors (actual − predicted) / scale, one pool per steps-ahead.
    errors: Vec<VecDeque<f64>>,
    /// Margin per steps-ahead (the errors' quantile), in units of the scale.
    margins: Vec<f64>,
    /// What planning on this member costs beyond the demand, per steps-ahead: margin − mean
    /// error, in units of the scale (lower is better).
    excess: Vec<f64>,
}

/// Forecasters: 0 = the rolling-origin selection of [`select`], 1 = seasonal difference (the
/// last value plus the mean change at the same phase over the last days), 2 = last value.
const MEMBERS: usize = 3;

/// The predictive policy's state (see the module docs).
pub(super) struct Predictive {
    /// Planner settings handed to [`plan_replicas`].
    pub(super) cfg: PlannerConfig,
    /// Samples whose time has come.
    pub(super) seen: Vec<f64>,
    /// The forecasters.
    members: Vec<Member>,
    /// Predictions to score once their sample is known.
    pending: VecDeque<Pending>,
    /// Samples per day (0 when the step does not divide a day).
    period: usize,
    /// Floor of the error scale.
    floor: f64,
    /// Surge floor: the next samples are planned at least at the last one times this.
    surge: f64,
}

impl Predictive {
    pub(super) fn new(
        cfg: PlannerConfig,
        ahead_n: usize,
        step: f64,
        floor: f64,
        surge: f64,
        n: usize,
    ) -> Predictive {
        let per_day = 86_400.0 / step;
        let period = if per_day >= 2.0 && (per_day - per_day.round()).abs() < 1e-9 {
            per_day.round() as usize
        } else {
            0
        };
        Predictive {
            cfg,
            seen: Vec::with_capacity(n),
            members: vec![
                Member {
                    ahead: Vec::new(),
                    errors: vec![VecDeque::new(); ahead_n],
                    margins: vec![WARMUP_MARGIN; ahead_n],
                    excess: vec![WARMUP_MARGIN; ahead_n],
                };
                MEMBERS
            ],
            pending: VecDeque::new(),
            period,
            floor,
            surge,
        }
    }

    /// Error scale for sample index `j` (after the last seen one): the mean absolute change
    /// between consecutive samples at the same daily phase over the last [`PHASE_DAYS`] days
    /// (or, without a daily period, over the last [`SCALE_SAMPLES`] samples), floored.
    fn scale(&self, j: usize) -> f64 {
        let s = &self.seen;
        let w = &s[s.len().saturating_sub(SCALE_SAMPLES + 1)..];
        let recent = if w.len() < 2 {
            0.0
        } else {
            w.windows(2).map(|p| (p[1] - p[0]).abs()).sum::<f64>() / (w.len() - 1) as f64
        };
        let (mut sum, mut n) = (0.0, 0usize);
        if self.period > 0 {
            let p = self.period;
            for l in 1..=PHASE_DAYS {
                let Some(a) = j.checked_sub(l * p) else { break };
                if a == 0 || a >= s.len() {
                    continue;
                }
                sum += (s[a] - s[a - 1]).abs();
                n += 1;
            }
        }
        let v = if n >= PHASE_DAYS / 2 {
            0.5 * (recent + sum / n as f64)
        } else {
            recent
        };
        v.max(self.floor)
    }

    /// Seasonal-difference forecast of `h` samples.
    fn seasonal_difference(&self, h: usize) -> Option<Vec<f64>> {
        let p = self.period;
        let s = &self.seen;
        if p == 0 || s.len() < 2 * p + 2 {
            return None;
        }
        let n = s.len();
        let mut level = s[n - 1];
        let mut out = Vec::with_capacity(h);
        for k in 1..=h {
            let j = n - 1 + k;
            let (mut sum, mut cnt) = (0.0, 0usize);
            for l in 1..=PHASE_DAYS {
                let Some(a) = j.checked_sub(l * p) else { break };
                if a == 0 || a >= n {
                    continue;
                }
                sum += s[a] - s[a - 1];
                cnt += 1;
            }
            if cnt > 0 {
                level += sum / cnt as f64;
            }
            out.push(level.max(0.0));
        }
        Some(out)
    }

    /// A new sample `v` has arrived: score the predictions it settles, update the margins and
    /// refit the forecasters on what has been seen.
    pub(super) fn observe(&mut self, v: f64, step: f64, bc: &BacktestConfig) {
        self.seen.push(v);
        let h = self.seen.len() - 1;
        while let Some((j, _, _, _)) = self.pending.front() {
            if *j > h {
                break;
            }
            let (j, k, preds, sc) = self.pending.pop_front().expect("front exists");
            for (m, p) in self.members.iter_mut().zip(&preds) {
                let pool = &mut m.errors[k];
                pool.push_back((self.seen[j] - p) / sc);
                if pool.len() > bc.error_window {
                    pool.pop_front();
                }
            }
        }
        for m in &mut self.members {
            for k in 0..m.errors.len() {
                let mut e: Vec<f64> = m.errors[k].iter().copied().collect();
                if e.len() >= bc.min_errors {
                    let mean = e.iter().sum::<f64>() / e.len() as f64;
                    m.margins[k] = quantile(&mut e, bc.margin_quantile).max(0.0);
                    m.excess[k] = m.margins[k] - mean;
                } else {
                    // Too few errors yet: be generous.
                    m.margins[k] = e.iter().copied().fold(WARMUP_MARGIN, f64::max);
                    m.excess[k] = f64::INFINITY;
                }
            }
        }
        let n = self.members[0].errors.len();
        let from = self.seen.len().saturating_sub(bc.forecast_window);
        let last = self.seen[h];
        let fallback = vec![last; n];
        self.members[0].ahead = select::forecast_values(&self.seen[from..], step, n, 3, 0)
            .map(|f| f.mean)
            .unwrap_or_else(|_| fallback.clone());
        self.members[1].ahead = self
            .seasonal_difference(n)
            .unwrap_or_else(|| fallback.clone());
        self.members[2].ahead = fallback;
        for k in 0..n {
            let preds = self.members.iter().map(|m| m.ahead[k]).collect();
            self.pending
                .push_back((h + 1 + k, k, preds, self.scale(h + 1 + k)));
        }
    }

    /// Demand the policy plans for at sample index `j`: the sample once seen, else the
    /// forecast plus its learned margin of the member whose recent errors cost least there.
    pub(super) fn planned(&self, j: usize) -> f64 {
        let h = self.seen.len() - 1;
        if j <= h {
            return self.seen[j];
        }
        let k = j - h - 1;
        let sc = self.scale(j);
        let best = self
            .members
            .iter()
            .filter(|m| k < m.ahead.len())
            .min_by(|a, b| a.excess[k].total_cmp(&b.excess[k]));
        let f = match best {
            Some(m) => (m.ahead[k] + m.margins[k] * sc).max(0.0),
            None => self.seen[h] + WARMUP_MARGIN * sc,
        };
        // Surge floor: never less than the current demand with a reactive autoscaler's headroom.
        f.max(self.seen[h] * self.surge)
    }
}

/// Margin (in units of the error scale) before enough errors are collected.
const WARMUP_MARGIN: f64 = 3.0;
/// Samples the fallback error scale is taken over.
const SCALE_SAMPLES: usize = 24;
/// Days the phase statistics (error scale, seasonal difference) are taken over.
const PHASE_DAYS: usize = 14;
