//! Deployment-duration predictor and deployment advice.
//!
//! A linfa ordinary-least-squares model (`linfa-linear`) learns the duration of past
//! deployments from: the hour of day (two sine/cosine harmonics, so busy hours can cost more),
//! a weekend flag, model size and its square, complexity, their interaction, and recent
//! performance (the p95 latency of the serving model relative to its objective, which reflects
//! cluster pressure). Linear regression is deliberate: the relationships are close to additive
//! with a few interactions spelt out as features, it trains on 1,000 rows in well under a
//! millisecond and predicts with one dot product; linfa has no regression forests, and its SVM
//! regression would cost far more for no gain on this structure.
//!
//! Advice ([`DurationModel::advise`]):
//! - **more resources** when the predicted duration exceeds 5 minutes,
//! - **a later slot** when the demand forecast shows a peak during the deployment window: a
//!   peak is where the forecast mean exceeds [`AdviceConfig::peak_fraction`] of the forecast's own
//!   range (`min + f × (max − min)`), and the advice is the earliest start whose window stays
//!   below it — found from the forecast, not from a fixed list of hours,
//! - **a progressive (canary) rollout** for models of at least [`AdviceConfig::canary_size_gb`].

use super::Forecast;
use linfa::prelude::*;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;

/// One past deployment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// Hour of day (0..24, UTC).
    pub hour: u8,
    /// Day of week (0 = Monday .. 6 = Sunday).
    pub weekday: u8,
    /// Model size in GB.
    pub model_size_gb: f64,
    /// Complexity score in [0, 1] (layers, custom ops, pipeline stages...).
    pub complexity: f64,
    /// Recent performance: p95 latency over its objective (1.0 = at objective).
    pub recent_latency_ratio: f64,
    /// Observed duration in seconds (ignored when predicting).
    pub duration_secs: f64,
}

/// Errors of training.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeployError {
    /// Too few usable rows.
    #[error("need at least {needed} deployments with finite values to train, got {got}")]
    TooFew {
        /// Needed.
        needed: usize,
        /// Got.
        got: usize,
    },
    /// The solver failed (e.g. all rows identical).
    #[error("could not fit the duration model: {0}")]
    Fit(String),
}

const N_FEATURES: usize = 10;

fn features(r: &DeployRecord, out: &mut [f64; N_FEATURES]) {
    let h = TAU * f64::from(r.hour % 24) / 24.0;
    let size = r.model_size_gb.max(0.0);
    *out = [
        h.sin(),
        h.cos(),
        (2.0 * h).sin(),
        (2.0 * h).cos(),
        if r.weekday % 7 >= 5 { 1.0 } else { 0.0 },
        size,
        size * size / 100.0,
        r.complexity,
        size * r.complexity,
        r.recent_latency_ratio,
    ];
}

fn usable(r: &DeployRecord) -> bool {
    r.model_size_gb.is_finite()
        && r.complexity.is_finite()
        && r.recent_latency_ratio.is_finite()
        && r.duration_secs.is_finite()
}

/// A trained duration model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationModel {
    coef: Vec<f64>,
    intercept: f64,
    /// Root-mean-square training error, seconds.
    pub rmse_secs: f64,
}

/// Thresholds of the advice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AdviceConfig {
    /// Above this predicted duration, recommend more resources (default 300 s).
    pub more_resources_above_secs: f64,
    /// Peak threshold as a fraction of the forecast's range (default 0.8).
    pub peak_fraction: f64,
    /// Models at least this large get a canary rollout (default 10 GB).
    pub canary_size_gb: f64,
}

impl Default for AdviceConfig {
    fn default() -> Self {
        AdviceConfig {
            more_resources_above_secs: 300.0,
            peak_fraction: 0.8,
            canary_size_gb: 10.0,
        }
    }
}

/// What to do about a planned deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployAdvice {
    /// Predicted duration, seconds.
    pub predicted_secs: f64,
    /// Give the rollout more resources.
    pub more_resources: bool,
    /// Start later, at this unix time, to avoid a forecast peak.
    pub later_slot: Option<f64>,
    /// Roll out progressively (canary).
    pub canary: bool,
    /// Why, one line per recommendation.
    pub reasons: Vec<String>,
}

impl DurationModel {
    /// Trains on past deployments (rows with non-finite values are skipped).
    pub fn train(records: &[DeployRecord]) -> Result<DurationModel, DeployError> {
        let rows: Vec<&DeployRecord> = records.iter().filter(|r| usable(r)).collect();
        let needed = N_FEATURES + 2;
        if rows.len() < needed {
            return Err(DeployError::TooFew {
                needed,
                got: rows.len(),
            });
        }
        let mut x = Array2::<f64>::zeros((rows.len(), N_FEATURES));
        let mut y = Array1::<f64>::zeros(rows.len());
        let mut f = [0.0; N_FEATURES];
        for (i, r) in rows.iter().enumerate() {
            features(r, &mut f);
            for (j, v) in f.iter().enumerate() {
                x[[i, j]] = *v;
            }
            y[i] = r.duration_secs;
        }
        // columns that do not vary (no weekend deploys yet, one model size…) make the least
        // squares problem singular: fit without them, with a zero coefficient
        let keep: Vec<usize> = (0..N_FEATURES)
            .filter(|&j| {
                let col = x.column(j);
                let mean = col.sum() / col.len() as f64;
                col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64 > 1e-12
            })
            .collect();
        let xk = x.select(ndarray::Axis(1), &keep);
        let model = LinearRegression::default()
            .fit(&Dataset::new(xk, y))
            .map_err(|e| DeployError::Fit(e.to_string()))?;
        let mut coef = vec![0.0; N_FEATURES];
        for (c, &j) in model.params().iter().zip(&keep) {
            coef[j] = *c;
        }
        let intercept = model.intercept();
        if !intercept.is_finite() || coef.iter().any(|c| !c.is_finite()) {
            return Err(DeployError::Fit(
                "non-finite coefficients (degenerate data)".into(),
            ));
        }
        let mut m = DurationModel {
            coef,
            intercept,
            rmse_secs: 0.0,
        };
        let sse: f64 = rows
            .iter()
            .map(|r| (m.predict(r) - r.duration_secs).powi(2))
            .sum();
        m.rmse_secs = (sse / rows.len() as f64).sqrt();
        Ok(m)
    }

    /// Predicted duration in seconds (at least 0).
    pub fn predict(&self, r: &DeployRecord) -> f64 {
        let mut f = [0.0; N_FEATURES];
        features(r, &mut f);
        let v = self.intercept + f.iter().zip(&self.coef).map(|(a, b)| a * b).sum::<f64>();
        if v.is_finite() { v.max(0.0) } else { 0.0 }
    }

    /// Advice for deploying `plan` at unix time `now`, given the demand forecast of the model.
    pub(crate) fn advise(
        &self,
        plan: &DeployRecord,
        now: f64,
        demand: Option<&Forecast>,
        cfg: &AdviceConfig,
    ) -> DeployAdvice {
        let predicted = self.predict(plan);
        let mut reasons = Vec::new();
        let more_resources = predicted > cfg.more_resources_above_secs;
        if more_resources {
            reasons.push(format!(
                "predicted {:.0}s exceeds {:.0}s: give the rollout more resources (parallel pulls, larger nodes)",
                predicted, cfg.more_resources_above_secs
            ));
        }
        let canary = plan.model_size_gb >= cfg.canary_size_gb;
        if canary {
            reasons.push(format!(
                "model is {:.1} GB (≥ {:.0} GB): roll out progressively (canary)",
                plan.model_size_gb, cfg.canary_size_gb
            ));
        }
        let later_slot = demand.and_then(|f| later_slot(f, now, predicted, cfg.peak_fraction));
        if let Some(t) = later_slot {
            reasons.push(format!(
                "demand forecast peaks during the deployment window: start at {:02}:{:02} UTC (in {:.0} min) instead",
                (t.rem_euclid(86_400.0) / 3600.0) as u32,
                (t.rem_euclid(3600.0) / 60.0) as u32,
                (t - now) / 60.0
            ));
        }
        DeployAdvice {
            predicted_secs: predicted,
            more_resources,
            later_slot,
            canary,
            reasons,
        }
    }
}

/// The earliest start at or after `now` whose window `[start, start + duration]` stays below the
/// peak threshold, when the window starting now does not. `None` when now is fine or no window
/// in the forecast is.
pub(crate) fn later_slot(f: &Forecast, now: f64, duration: f64, peak_fraction: f64) -> Option<f64> {
    let pts: Vec<(f64, f64)> = f
        .points
        .iter()
        .filter(|p| p.t >= now - f.step_secs && p.mean.is_finite())
        .map(|p| (p.t, p.mean))
        .collect();
    if pts.is_empty() {
        return None;
    }
    let (lo, hi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    if hi.is_nan() || lo.is_nan() || hi <= lo {
        return None;
    }
    let threshold = lo + peak_fraction.clamp(0.0, 1.0) * (hi - lo);
    let window_ok = |start: f64| {
        pts.iter()
            .filter(|p| p.0 >= start && p.0 <= start + duration.max(f.step_secs))
            .all(|p| p.1 < threshold)
    };
    if window_ok(now) {
        return None;
    }
    let last = pts[pts.len() - 1].0;
    pts.iter()
        .map(|p| p.0)
        .filter(|&s| s > now && s + duration <= last + f.step_secs)
        .find(|&s| window_ok(s))
}

/// Deterministic synthetic deployments for tests and benches: duration grows with size,
/// complexity (and their product), busy weekday hours and poor recent performance, plus noise.
pub fn synthetic_records(n: usize, seed: u64) -> Vec<DeployRecord> {
    let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let hour = (next() * 24.0) as u8 % 24;
            let weekday = (next() * 7.0) as u8 % 7;
            let size = 0.2 + next() * 30.0;
            let complexity = next();
            let latency = 0.6 + next() * 1.2;
            let busy = weekday < 5 && (9..18).contains(&hour);
            let noise = (next() - 0.5) * 30.0;
            let duration = 45.0
                + 12.0 * size
                + 90.0 * complexity
                + 6.0 * size * complexity
                + if busy { 60.0 } else { 0.0 }
                + 50.0 * (latency - 1.0)
                + noise;
            DeployRecord {
                hour,
                weekday,
                model_size_gb: size,
                complexity,
                recent_latency_ratio: latency,
                duration_secs: duration.max(5.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::ForecastPoint;

    #[test]
    fn learns_synthetic_durations() {
        let train = synthetic_records(1000, 1);
        let test = synthetic_records(300, 2);
        let m = DurationModel::train(&train).unwrap();
        let mae: f64 = test
            .iter()
            .map(|r| (m.predict(r) - r.duration_secs).abs())
            .sum::<f64>()
            / test.len() as f64;
        // Noise is uniform ±15 s (MAE 7.5); busy hours are a step the harmonics approximate.
        assert!(mae < 20.0, "mae {mae}");
    }

    #[test]
    fn too_few_or_degenerate() {
        assert!(matches!(
            DurationModel::train(&[]),
            Err(DeployError::TooFew { .. })
        ));
        let mut r = synthetic_records(20, 3);
        r.iter_mut().for_each(|x| x.duration_secs = f64::NAN);
        assert!(DurationModel::train(&r).is_err());
    }

    fn forecast_with_peak_at(hours: std::ops::Range<usize>) -> Forecast {
        Forecast {
            step_secs: 600.0,
            points: (1..=36)
                .map(|i| {
                    let m = if hours.contains(&i) { 100.0 } else { 20.0 };
                    ForecastPoint {
                        t: 600.0 * i as f64,
                        mean: m,
                        lo80: m,
                        hi80: m,
                    }
                })
                .collect(),
            method: String::new(),
            periods: vec![],
        }
    }

    #[test]
    fn advice() {
        let m = DurationModel::train(&synthetic_records(1000, 4)).unwrap();
        let big = DeployRecord {
            hour: 3,
            weekday: 6,
            model_size_gb: 25.0,
            complexity: 0.9,
            recent_latency_ratio: 1.0,
            duration_secs: 0.0,
        };
        let a = m.advise(&big, 0.0, None, &AdviceConfig::default());
        assert!(a.more_resources && a.canary && a.later_slot.is_none());
        let small = DeployRecord {
            model_size_gb: 1.0,
            complexity: 0.1,
            ..big
        };
        let a = m.advise(
            &small,
            0.0,
            Some(&forecast_with_peak_at(1..6)),
            &AdviceConfig::default(),
        );
        assert!(!a.more_resources && !a.canary);
        // Peak at steps 1..6 (t=600..3000): the first clear window starts at t=3600.
        assert_eq!(a.later_slot, Some(3600.0), "{a:?}");
        let a = m.advise(
            &small,
            0.0,
            Some(&forecast_with_peak_at(30..33)),
            &AdviceConfig::default(),
        );
        assert_eq!(a.later_slot, None);
    }
}
