//! Demand forecasting, capacity planning and deployment-duration prediction.
//!
//! # Forecasting ([`forecast`])
//!
//! A series of `(unix seconds, value)` pairs is first put on a regular grid at its own interval
//! (the median spacing); gaps are filled by linear interpolation and duplicates averaged
//! ([`regularize`]). Only a bounded recent window is kept, so a fit costs well under a
//! millisecond for a few thousand points.
//!
//! Seasonal periods are **found from the data** ([`seasonality`]): the autocorrelation function
//! of the series is computed with an FFT, its peaks are candidates, the day and the week at the
//! series' own interval are candidates too (snapped to when a peak is within a few percent), and a
//! period is kept when its autocorrelation is clearly positive and at least two cycles are seen.
//! Several periods may be kept at once (typically daily and weekly); a multiple of a kept period
//! (the week of a day) is kept when what is left after removing the shorter profile still repeats.
//!
//! Candidate forecasters:
//! - **seasonal naive** for each period (the baselines; kept as candidates so that selection can
//!   never do much worse than them),
//! - **multi-seasonal decomposition** ([`decompose`]): one recency-weighted seasonal profile per
//!   period, removed shortest first, then a simple-exponential-smoothing level on what is left,
//!   whose smoothing constant is chosen separately for each horizon band by its in-sample h-step
//!   error (a fast level for minutes ahead, a slow one for a day ahead),
//! - **a linfa linear model on lag and Fourier features** ([`linear`]): ordinary least squares
//!   (`linfa-linear`) on an intercept, Fourier terms of each period and the lags 1, P and 2P/week,
//!   forecast recursively. Linear regression was chosen deliberately over linfa's elastic net and
//!   SVM regression: the features are few and well conditioned (near-collinear ones are dropped),
//!   OLS has a closed-form solution that fits 500 rows in tens of microseconds, and it extrapolates
//!   additive seasonal structure, which kernel SVMs do not; linfa has no regression forests, and
//!   trees could not extrapolate a level anyway,
//! - **a robust multi-seasonal profile** ([`profile`]): on a log scale for non-negative series,
//!   the median of each phase of the longest period (the week) over its last cycles, and the
//!   same smoothed level: built for months of demand with holidays and events.
//!
//! **Selection / combination** ([`select`]) is by rolling-origin validation: each candidate is
//! refitted at the last origins of the history (at least 7 when the history allows) and scored by
//! its mean absolute error over the horizon (capped at one seasonal cycle); the single model, the
//! equal-weight combination of decomposition and linear model, or the mean of the two best, with
//! the lowest error wins, and [`Forecast::method`] says which and why. The **80% prediction
//! interval** comes from the empirical 80% quantile of the winner's absolute validation errors in
//! each horizon band (made non-decreasing with the horizon), so its width is honest about how that
//! model actually erred on this series.
//!
//! # Scaling
//! - [`capacity`]: replica planning from a forecast with headroom, bounds, start-up lead time,
//!   cautious scale-in, a reactive floor and a fleet-wide budget shared by business priority.
//! - [`hpa`]: the Kubernetes HorizontalPodAutoscaler algorithm as documented.
//! - [`scaling_backtest`]: replays demand against static, HPA and predictive policies.
//! - [`deploy`]: a deployment-duration predictor with recommendations.
//! - [`rightsize`]: CPU and memory requests from decaying usage histograms, as the Vertical Pod
//!   Autoscaler's recommender makes them.
//! - [`cli`]: the library side of `pitcrew forecast` and `pitcrew backtest scaling`.

pub mod capacity;
pub mod cli;
pub mod decompose;
pub mod deploy;
pub mod eval;
pub mod hpa;
pub mod linear;
pub mod naive;
pub mod profile;
pub mod rightsize;
pub mod scaling_backtest;
pub mod seasonality;
pub mod select;

use serde::{Deserialize, Serialize};

/// One forecast step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForecastPoint {
    /// Unix seconds of the step.
    pub t: f64,
    /// Point forecast.
    pub mean: f64,
    /// Lower bound of the 80% prediction interval.
    pub lo80: f64,
    /// Upper bound of the 80% prediction interval.
    pub hi80: f64,
}

/// A multi-step forecast at the series' own interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Seconds between steps (the series' own interval).
    pub step_secs: f64,
    /// One point per step after the last observation.
    pub points: Vec<ForecastPoint>,
    /// Which model won and why (human readable).
    pub method: String,
    /// Seasonal periods found, in steps.
    pub periods: Vec<usize>,
}

/// Why a forecast could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// Fewer usable (finite) observations than needed.
    #[error("need at least {needed} finite observations to forecast, got {got}")]
    TooShort {
        /// Minimum number of observations.
        needed: usize,
        /// Observations given.
        got: usize,
    },
    /// Timestamps do not advance (all equal) or are not finite.
    #[error("timestamps do not advance: cannot infer the series interval")]
    NoInterval,
    /// The gaps are so large that the grid would be mostly invented.
    #[error("series is too sparse: {observed} observed of {slots} slots at interval {step_secs}s")]
    TooSparse {
        /// Slots with an observation.
        observed: usize,
        /// Slots on the regular grid.
        slots: usize,
        /// The inferred interval.
        step_secs: f64,
    },
    /// A horizon of zero steps was asked for.
    #[error("horizon must be at least one step")]
    ZeroHorizon,
    /// A horizon longer than [`MAX_HORIZON_STEPS`] was asked for.
    #[error(
        "a horizon of {0} steps is longer than the {MAX_HORIZON_STEPS} steps a forecast may have"
    )]
    HorizonTooLong(usize),
    /// The forecast's values cannot be represented as finite numbers (inputs near the limits of
    /// a 64-bit float).
    #[error(
        "the forecast is not representable: the values are too close to the largest number a 64-bit float holds (about 1.8e308); rescale the input"
    )]
    Unrepresentable,
}

/// The longest horizon a forecast may have, in steps (a year of one-minute steps, twice).
pub(crate) const MAX_HORIZON_STEPS: usize = 1_051_200;

/// Magnitudes outside `[1/LIMIT, LIMIT]` are scaled (by a power of two, exactly) before any
/// arithmetic, so differences, squares and sums cannot overflow or vanish.
const SCALE_LIMIT: f64 = 1e100;

/// Tunables of [`forecast_with`]. The defaults are what [`forecast`] uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastConfig {
    /// Most recent grid points kept for fitting (older history is dropped).
    pub max_points: usize,
    /// Keep at most this many weeks of history (whichever of the two limits is smaller).
    pub max_weeks: f64,
    /// Number of rolling validation origins (at least).
    pub validation_origins: usize,
    /// More origins (up to 8) are used until this many validation errors are collected.
    pub min_validation_points: usize,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        ForecastConfig {
            max_points: 4096,
            max_weeks: 8.0,
            validation_origins: 7,
            min_validation_points: 120,
        }
    }
}

/// A series on a regular grid.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Regular {
    /// Unix seconds of `values[0]`.
    pub t0: f64,
    /// Grid interval in seconds.
    pub step_secs: f64,
    /// Values, gaps filled by linear interpolation.
    pub values: Vec<f64>,
    /// How many grid slots had no observation and were filled.
    pub filled: usize,
}

impl Regular {
    /// Unix seconds of the last grid point.
    pub(crate) fn t_last(&self) -> f64 {
        self.t0 + self.step_secs * (self.values.len().saturating_sub(1)) as f64
    }
}

/// Largest grid (in slots) [`regularize`] will build.
const MAX_SLOTS: usize = 20_000_000;

/// Puts `history` on a regular grid at its median spacing, averaging points that fall in the same
/// slot and filling empty slots by linear interpolation. Non-finite values are treated as missing.
pub(crate) fn regularize(history: &[(f64, f64)]) -> Result<Regular, ForecastError> {
    let mut pts: Vec<(f64, f64)> = history
        .iter()
        .copied()
        .filter(|(t, v)| t.is_finite() && v.is_finite())
        .collect();
    if pts.len() < 2 {
        return Err(ForecastError::TooShort {
            needed: 2,
            got: pts.len(),
        });
    }
    if !pts.windows(2).all(|w| w[0].0 <= w[1].0) {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let mut diffs: Vec<f64> = pts
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|d| *d > 0.0)
        .collect();
    if diffs.is_empty() {
        return Err(ForecastError::NoInterval);
    }
    let mid = diffs.len() / 2;
    let (_, median, _) = diffs.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let step = *median;
    let t0 = pts[0].0;
    let span = (pts[pts.len() - 1].0 - t0) / step;
    if !span.is_finite() || span + 1.0 > MAX_SLOTS as f64 {
        return Err(ForecastError::TooSparse {
            observed: pts.len(),
            slots: MAX_SLOTS,
            step_secs: step,
        });
    }
    let slots = span.round() as usize + 1;
    let mut sum = vec![0.0; slots];
    let mut cnt = vec![0u32; slots];
    for &(t, v) in &pts {
        let i = (((t - t0) / step).round() as usize).min(slots - 1);
        sum[i] += v;
        cnt[i] += 1;
    }
    let observed = cnt.iter().filter(|c| **c > 0).count();
    if observed * 10 < slots {
        return Err(ForecastError::TooSparse {
            observed,
            slots,
            step_secs: step,
        });
    }
    let mut values = vec![f64::NAN; slots];
    for i in 0..slots {
        if cnt[i] > 0 {
            values[i] = sum[i] / f64::from(cnt[i]);
        }
    }
    // Linear interpolation across gaps (ends are always observed).
    let mut last = 0usize;
    for i in 1..slots {
        if cnt[i] > 0 {
            if i > last + 1 {
                let (a, b) = (values[last], values[i]);
                let len = (i - last) as f64;
                for (k, slot) in values.iter_mut().enumerate().take(i).skip(last + 1) {
                    *slot = a + (b - a) * (k - last) as f64 / len;
                }
            }
            last = i;
        }
    }
    Ok(Regular {
        t0,
        step_secs: step,
        values,
        filled: slots - observed,
    })
}

/// Forecasts `horizon_steps` steps after the last observation of `history` (unix seconds, value)
/// at the series' own interval, with an 80% prediction interval. See the module docs.
pub fn forecast(history: &[(f64, f64)], horizon_steps: usize) -> Result<Forecast, ForecastError> {
    forecast_with(history, horizon_steps, &ForecastConfig::default())
}

/// [`forecast`] with explicit tunables.
pub(crate) fn forecast_with(
    history: &[(f64, f64)],
    horizon_steps: usize,
    config: &ForecastConfig,
) -> Result<Forecast, ForecastError> {
    if horizon_steps == 0 {
        return Err(ForecastError::ZeroHorizon);
    }
    let reg = regularize(history)?;
    forecast_regular(&reg, horizon_steps, config)
}

/// Forecasts a series that is already on a regular grid.
pub(crate) fn forecast_regular(
    reg: &Regular,
    horizon_steps: usize,
    config: &ForecastConfig,
) -> Result<Forecast, ForecastError> {
    if horizon_steps == 0 {
        return Err(ForecastError::ZeroHorizon);
    }
    if horizon_steps > MAX_HORIZON_STEPS {
        return Err(ForecastError::HorizonTooLong(horizon_steps));
    }
    let week_steps = (config.max_weeks * 7.0 * 86_400.0 / reg.step_secs).max(0.0) as usize;
    let keep = config
        .max_points
        .min(week_steps)
        .max(64)
        .min(reg.values.len());
    let y = &reg.values[reg.values.len() - keep..];
    let big = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if big.is_finite() && (big > SCALE_LIMIT || (big > 0.0 && big < 1.0 / SCALE_LIMIT))
    {
        2f64.powi(big.log2().floor() as i32)
    } else {
        1.0
    };
    let scaled: Vec<f64>;
    let y = if scale == 1.0 {
        y
    } else {
        scaled = y.iter().map(|v| v / scale).collect();
        &scaled
    };
    let mut out = select::forecast_values(
        y,
        reg.step_secs,
        horizon_steps,
        config.validation_origins,
        config.min_validation_points,
    )?;
    for v in out.mean.iter_mut().chain(&mut out.lo).chain(&mut out.hi) {
        *v *= scale;
    }
    if out
        .mean
        .iter()
        .chain(&out.lo)
        .chain(&out.hi)
        .any(|v| !v.is_finite())
    {
        return Err(ForecastError::Unrepresentable);
    }
    let t_last = reg.t_last();
    let points = (0..horizon_steps)
        .map(|h| ForecastPoint {
            t: t_last + reg.step_secs * (h + 1) as f64,
            mean: out.mean[h],
            lo80: out.lo[h],
            hi80: out.hi[h],
        })
        .collect();
    Ok(Forecast {
        step_secs: reg.step_secs,
        points,
        method: out.method,
        periods: out.periods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize, step: f64, f: impl Fn(usize) -> f64) -> Vec<(f64, f64)> {
        (0..n).map(|i| (1.0e9 + step * i as f64, f(i))).collect()
    }

    #[test]
    fn regularize_fills_gaps_and_sorts() {
        let mut h = series(10, 60.0, |i| i as f64);
        h.remove(4);
        h.swap(0, 1);
        let r = regularize(&h).unwrap();
        assert_eq!(r.values.len(), 10);
        assert_eq!(r.filled, 1);
        assert!((r.values[4] - 4.0).abs() < 1e-9);
        assert_eq!(r.step_secs, 60.0);
    }

    #[test]
    fn values_at_the_limits_of_a_float_are_forecast_or_refused_never_garbage() {
        // found by hand: values near 1.7e308 gave rows of NaN with exit 0; scaled, the
        // forecast is made, and what it cannot represent is refused
        let h = series(200, 3600.0, |i| {
            1.7e308 * if i % 2 == 0 { 1.0 } else { -1.0 }
        });
        let f = forecast(&h, 48).unwrap();
        assert!(
            f.points
                .iter()
                .all(|p| p.mean.abs() > 1e308 && p.hi80.is_finite()),
            "{:?}",
            f.points[0]
        );
        let h = series(200, 3600.0, |i| 1e300 * (1.0 + (i % 24) as f64));
        let f = forecast(&h, 24).unwrap();
        assert!(
            f.points
                .iter()
                .all(|p| p.mean > 5e299 && p.lo80.is_finite() && p.hi80.is_finite()),
            "{:?}",
            f.points[0]
        );
        let tiny = series(200, 3600.0, |i| 1e-300 * (1.0 + (i % 24) as f64));
        let f = forecast(&tiny, 24).unwrap();
        assert!(
            f.points.iter().all(|p| p.mean > 0.0 && p.mean < 1e-298),
            "{:?}",
            f.points[0]
        );
        let ok = series(200, 3600.0, |i| (i % 24) as f64);
        assert_eq!(
            forecast(&ok, usize::MAX).unwrap_err(),
            ForecastError::HorizonTooLong(usize::MAX)
        );
    }

    #[test]
    fn errors_are_clear_not_panics() {
        assert!(matches!(
            forecast(&[], 5),
            Err(ForecastError::TooShort { .. })
        ));
        assert!(matches!(
            forecast(&[(1.0, 2.0)], 5),
            Err(ForecastError::TooShort { .. })
        ));
        assert!(matches!(
            forecast(&[(1.0, 2.0), (1.0, 3.0)], 5),
            Err(ForecastError::NoInterval)
        ));
        assert!(matches!(
            forecast(&series(10, 60.0, |_| 1.0), 0),
            Err(ForecastError::ZeroHorizon)
        ));
        let sparse = vec![(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (5000.0, 1.0)];
        assert!(matches!(
            forecast(&sparse, 3),
            Err(ForecastError::TooSparse { .. })
        ));
        let nan = vec![(0.0, f64::NAN), (1.0, f64::INFINITY), (f64::NAN, 1.0)];
        assert!(forecast(&nan, 3).is_err());
    }

    #[test]
    fn short_series_gives_a_sensible_forecast() {
        for n in 2..12 {
            let h = series(n, 300.0, |i| 10.0 + i as f64 * 0.1);
            let f = forecast(&h, 6).unwrap();
            assert_eq!(f.points.len(), 6);
            for p in &f.points {
                assert!(
                    p.mean.is_finite() && p.lo80 <= p.mean && p.mean <= p.hi80,
                    "{n} {p:?}"
                );
                assert!(p.mean > 5.0 && p.mean < 15.0);
            }
            assert!((f.points[0].t - (h[n - 1].0 + 300.0)).abs() < 1e-6);
        }
    }

    #[test]
    fn constant_series_forecasts_the_constant() {
        let f = forecast(&series(3000, 300.0, |_| 7.5), 288).unwrap();
        for p in &f.points {
            assert!((p.mean - 7.5).abs() < 1e-6, "{p:?}");
            assert!(p.lo80 <= p.mean && p.hi80 >= p.mean);
        }
    }

    #[test]
    fn daily_pattern_is_found_and_followed() {
        let day = 288.0;
        let f_true = |i: usize| 100.0 + 30.0 * (std::f64::consts::TAU * i as f64 / day).sin();
        let mut state = 12345u64;
        let mut noise = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        let h: Vec<(f64, f64)> = (0..4032)
            .map(|i| (1.0e9 + 300.0 * i as f64, f_true(i) + 4.0 * noise()))
            .collect();
        let f = forecast(&h, 288).unwrap();
        assert!(f.periods.contains(&288), "{:?}", f.periods);
        let mae: f64 = f
            .points
            .iter()
            .enumerate()
            .map(|(k, p)| (p.mean - f_true(4032 + k)).abs())
            .sum::<f64>()
            / 288.0;
        assert!(mae < 3.0, "mae {mae} method {}", f.method);
    }

    #[test]
    fn no_seasonality_random_walk_is_fine() {
        let mut x = 50.0;
        let mut state = 99u64;
        let h: Vec<(f64, f64)> = (0..2000)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                x += ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
                (i as f64 * 60.0, x)
            })
            .collect();
        let f = forecast(&h, 100).unwrap();
        assert!(
            (f.points[0].mean - x).abs() < 3.0,
            "{:?} vs {x}",
            f.points[0]
        );
        for p in &f.points {
            assert!(p.mean.is_finite() && p.lo80 <= p.hi80);
        }
    }

    #[test]
    fn gaps_are_tolerated() {
        let h: Vec<(f64, f64)> = (0..3000)
            .filter(|i| !(1000..1100).contains(i) && i % 7 != 3)
            .map(|i| {
                (
                    i as f64 * 300.0,
                    10.0 + (i as f64 * std::f64::consts::TAU / 288.0).cos(),
                )
            })
            .collect();
        let f = forecast(&h, 50).unwrap();
        assert_eq!(f.points.len(), 50);
        assert!(f.points.iter().all(|p| p.mean.is_finite()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics_on_arbitrary_input(
            pts in proptest::collection::vec((-1e6f64..1e10, -1e12f64..1e12), 0..300),
            h in 0usize..50,
        ) {
            if let Ok(f) = forecast(&pts, h) {
                proptest::prop_assert_eq!(f.points.len(), h);
                for p in &f.points {
                    proptest::prop_assert!(p.lo80 <= p.hi80 || !p.mean.is_finite());
                }
            }
        }
    }
}
