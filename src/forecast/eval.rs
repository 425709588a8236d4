//! Forecast evaluation: MASE over rolling origins against the daily and weekly seasonal-naive
//! baselines, and the empirical coverage of the 80% interval.
//!
//! For each series (regularised to its own interval) the origins are spread evenly over the part
//! of the history that leaves at least a week and a day before the origin (so the weekly
//! baseline exists) and a full horizon after it. At each origin, the forecaster sees only the
//! data before the origin; errors are scaled by the in-sample MAE of the daily seasonal-naive
//! forecast on that same history (MASE). Gaps are filled before evaluation, as the forecaster
//! would see them.

use super::{ForecastConfig, Regular, forecast_regular, naive, regularize};
use serde::Serialize;

/// `(group, name, points)` of a series to evaluate.
pub type NamedSeries = (String, String, Vec<(f64, f64)>);

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Horizon in seconds (one day by default).
    pub horizon_secs: f64,
    /// Most origins per series.
    pub max_origins: usize,
    /// Forecaster settings.
    pub forecast: ForecastConfig,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            horizon_secs: 86_400.0,
            max_origins: 20,
            forecast: ForecastConfig::default(),
        }
    }
}

/// Scores of one series (means over its origins).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesScore {
    /// Group (data set).
    pub group: String,
    /// Series name.
    pub name: String,
    /// Origins evaluated.
    pub origins: usize,
    /// MASE of pitcrew's forecast.
    pub mase: f64,
    /// MASE of the daily seasonal-naive forecast.
    pub mase_daily_naive: f64,
    /// MASE of the weekly seasonal-naive forecast.
    pub mase_weekly_naive: f64,
    /// Fraction of actuals inside the 80% interval.
    pub coverage80: f64,
    /// Methods chosen (first origin's, for orientation).
    pub method: String,
}

/// Aggregate of a group of series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupScore {
    /// Group name (or `all`).
    pub group: String,
    /// Series evaluated.
    pub series: usize,
    /// Mean MASE of pitcrew.
    pub mase: f64,
    /// Mean daily seasonal-naive MASE.
    pub mase_daily_naive: f64,
    /// Mean weekly seasonal-naive MASE.
    pub mase_weekly_naive: f64,
    /// Mean over series of the better baseline per series.
    pub mase_best_naive: f64,
    /// `1 - mase / min(daily, weekly)` (aggregate means): the improvement.
    pub improvement_vs_better_naive: f64,
    /// `1 - mase / mase_best_naive` (per-series best baseline, stricter).
    pub improvement_vs_per_series_best: f64,
    /// Mean coverage of the 80% interval.
    pub coverage80: f64,
}

/// Full evaluation result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalSummary {
    /// Per group and `all`.
    pub groups: Vec<GroupScore>,
    /// Per series.
    pub series: Vec<SeriesScore>,
    /// Series that could not be evaluated, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Evaluates one series. `Err` explains why it could not be evaluated (too short, constant...).
pub fn evaluate_mase(
    group: &str,
    name: &str,
    history: &[(f64, f64)],
    cfg: &EvalConfig,
) -> Result<SeriesScore, String> {
    let reg = regularize(history).map_err(|e| e.to_string())?;
    let y = &reg.values;
    let n = y.len();
    let day = (86_400.0 / reg.step_secs).round() as usize;
    let h = (cfg.horizon_secs / reg.step_secs).round() as usize;
    if day < 2 || h == 0 {
        return Err("interval too long for daily seasonality".into());
    }
    let week = 7 * day;
    let min_o = week + day;
    if n < min_o + h {
        return Err(format!("too short: {n} points, need {}", min_o + h));
    }
    let span = n - h - min_o;
    let k = cfg.max_origins.min(span / h + 1).max(1);
    let (mut sm, mut sd, mut sw, mut cov, mut cnt) = (0.0, 0.0, 0.0, 0.0, 0usize);
    let mut method = String::new();
    for j in 0..k {
        let o = n - h - if k > 1 { j * span / (k - 1) } else { 0 };
        let hist = &y[..o];
        let actual = &y[o..o + h];
        let Some(scale) = naive::seasonal_naive_mae(hist, day).filter(|s| *s > 0.0) else {
            continue;
        };
        let sub = Regular {
            t0: reg.t0,
            step_secs: reg.step_secs,
            values: hist.to_vec(),
            filled: 0,
        };
        let Ok(f) = forecast_regular(&sub, h, &cfg.forecast) else {
            continue;
        };
        let (Some(dn), Some(wn)) = (
            naive::seasonal_naive(hist, day, h),
            naive::seasonal_naive(hist, week, h),
        ) else {
            continue;
        };
        let mae = |p: &mut dyn Iterator<Item = f64>| {
            p.zip(actual).map(|(a, b)| (a - b).abs()).sum::<f64>() / h as f64
        };
        sm += mae(&mut f.points.iter().map(|p| p.mean)) / scale;
        sd += mae(&mut dn.iter().copied()) / scale;
        sw += mae(&mut wn.iter().copied()) / scale;
        cov += f
            .points
            .iter()
            .zip(actual)
            .filter(|(p, a)| p.lo80 <= **a && **a <= p.hi80)
            .count() as f64
            / h as f64;
        cnt += 1;
        if method.is_empty() {
            method = f.method.split(" — ").next().unwrap_or("").to_string();
        }
    }
    if cnt == 0 {
        return Err("no origin could be scored (constant history?)".into());
    }
    let c = cnt as f64;
    Ok(SeriesScore {
        group: group.into(),
        name: name.into(),
        origins: cnt,
        mase: sm / c,
        mase_daily_naive: sd / c,
        mase_weekly_naive: sw / c,
        coverage80: cov / c,
        method,
    })
}

fn aggregate(group: &str, s: &[&SeriesScore]) -> GroupScore {
    let n = s.len().max(1) as f64;
    let mean = |f: &dyn Fn(&SeriesScore) -> f64| s.iter().map(|x| f(x)).sum::<f64>() / n;
    let mase = mean(&|x| x.mase);
    let d = mean(&|x| x.mase_daily_naive);
    let w = mean(&|x| x.mase_weekly_naive);
    let b = mean(&|x| x.mase_daily_naive.min(x.mase_weekly_naive));
    GroupScore {
        group: group.into(),
        series: s.len(),
        mase,
        mase_daily_naive: d,
        mase_weekly_naive: w,
        mase_best_naive: b,
        improvement_vs_better_naive: 1.0 - mase / d.min(w),
        improvement_vs_per_series_best: 1.0 - mase / b,
        coverage80: mean(&|x| x.coverage80),
    }
}

/// Evaluates many `(group, name, points)` series and aggregates per group and overall.
pub fn evaluate_many(series: &[NamedSeries], cfg: &EvalConfig) -> EvalSummary {
    let mut scores = Vec::new();
    let mut skipped = Vec::new();
    for (g, name, pts) in series {
        match evaluate_mase(g, name, pts, cfg) {
            Ok(s) => scores.push(s),
            Err(e) => skipped.push((name.clone(), e)),
        }
    }
    let mut groups: Vec<String> = scores.iter().map(|s| s.group.clone()).collect();
    groups.dedup();
    let mut out: Vec<GroupScore> = groups
        .iter()
        .map(|g| {
            aggregate(
                g,
                &scores.iter().filter(|s| &s.group == g).collect::<Vec<_>>(),
            )
        })
        .collect();
    out.push(aggregate("all", &scores.iter().collect::<Vec<_>>()));
    EvalSummary {
        groups: out,
        series: scores,
        skipped,
    }
}

/// Deterministic synthetic demand for benches: `count` series of `points` 5-minute samples with
/// daily and weekly shapes of varying strength, a slow trend, noise and occasional bursts.
pub fn synthetic_5min_series(count: usize, points: usize, seed: u64) -> Vec<Vec<(f64, f64)>> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..count)
        .map(|_| {
            let level = 50.0 + 500.0 * next();
            let daily = next() * 0.5;
            let weekly = next() * 0.2;
            let noise = 0.02 + 0.1 * next();
            let phase = next() * 288.0;
            (0..points)
                .map(|i| {
                    let x = i as f64 + phase;
                    let d = (std::f64::consts::TAU * x / 288.0).sin();
                    let w = if ((x / 288.0) as usize) % 7 >= 5 {
                        -1.0
                    } else {
                        0.0
                    };
                    let burst = if next() < 0.002 { 1.5 } else { 0.0 };
                    let v = level
                        * (1.0
                            + daily * d
                            + weekly * w
                            + noise * (next() - 0.5)
                            + burst
                            + 1e-5 * i as f64);
                    (1.4e9 + 300.0 * i as f64, v)
                })
                .collect()
        })
        .collect()
}

/// Fits and forecasts every series `horizon` steps ahead (for the speed bench); returns how
/// many succeeded.
pub fn forecast_many(series: &[Vec<(f64, f64)>], horizon: usize) -> usize {
    series
        .iter()
        .filter(|s| super::forecast(s, horizon).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_a_synthetic_series() {
        let pts: Vec<(f64, f64)> = (0..24 * 7 * 4)
            .map(|i| {
                let noise = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
                (
                    i as f64 * 3600.0,
                    10.0 + ((i % 24) as f64 - 12.0).abs() + noise,
                )
            })
            .collect();
        let s = evaluate_mase("g", "s", &pts, &EvalConfig::default()).unwrap();
        assert!(s.origins > 1);
        assert!(s.mase.is_finite() && s.coverage80 >= 0.0 && s.coverage80 <= 1.0);
        assert!(evaluate_mase("g", "short", &pts[..100], &EvalConfig::default()).is_err());
        let all = evaluate_many(&[("g".into(), "s".into(), pts)], &EvalConfig::default());
        assert_eq!(all.groups.len(), 2);
    }
}
