//! Forecast evaluation: MASE over rolling origins against the daily and weekly seasonal-naive
//! baselines, and the empirical coverage of the 80% interval.
//!
//! For each series (regularised to its own interval) the origins are either spread evenly over the
//! part of the history that leaves at least a week and a day before the origin (so the weekly
//! baseline exists) and a full horizon after it, or placed at the last midnights (UTC) of the
//! series ([`Origins`]). At each origin, the forecaster sees only the data before the origin,
//! with its gaps (it fills them itself); errors are scaled by the in-sample MAE of the daily
//! seasonal-naive forecast on that same history (MASE), counted over hours where both values
//! were observed. Only observed actuals are scored: a gap is never compared with a forecast.
//! The seasonal-naive baselines read the same (filled) history the forecaster does.

use super::{ForecastConfig, Regular, forecast_regular, naive, regularize};
use serde::Serialize;

/// A series to evaluate and where its origins go.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSeries {
    /// Group (data set).
    pub group: String,
    /// Series name.
    pub name: String,
    /// `(unix seconds, value)`, gaps left out.
    pub points: Vec<(f64, f64)>,
    /// Where its rolling origins are.
    pub origins: Origins,
}

/// Where the rolling origins of a series are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origins {
    /// At most this many, spread evenly over the usable history.
    Spread(usize),
    /// At each of the last this many midnights (UTC) that leave a full horizon after them.
    LastMidnights(usize),
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvalConfig {
    /// Horizon in seconds (one day by default).
    pub horizon_secs: f64,
    /// Where the origins are.
    pub origins: Origins,
    /// Forecaster settings.
    pub forecast: ForecastConfig,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            horizon_secs: 86_400.0,
            origins: Origins::Spread(20),
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
pub(crate) fn evaluate_mase(
    group: &str,
    name: &str,
    history: &[(f64, f64)],
    cfg: &EvalConfig,
) -> Result<SeriesScore, String> {
    let reg = regularize(history).map_err(|e| e.to_string())?;
    let y = &reg.values;
    let n = y.len();
    let observed = observed_slots(&reg, history);
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
    let origins: Vec<usize> = match cfg.origins {
        Origins::Spread(max) => {
            let span = n - h - min_o;
            let k = max.min(span / h + 1).max(1);
            (0..k)
                .map(|j| n - h - if k > 1 { j * span / (k - 1) } else { 0 })
                .collect()
        }
        Origins::LastMidnights(count) => (min_o..=n - h)
            .rev()
            .filter(|&o| (reg.t0 + reg.step_secs * o as f64).rem_euclid(86_400.0) == 0.0)
            .take(count)
            .collect(),
    };
    let (mut sm, mut sd, mut sw, mut cov, mut cnt) = (0.0, 0.0, 0.0, 0.0, 0usize);
    let mut method = String::new();
    for o in origins {
        let hist = &y[..o];
        let actual = &y[o..o + h];
        let seen = &observed[o..o + h];
        let scored = seen.iter().filter(|s| **s).count();
        let Some(scale) = naive::seasonal_naive_mae(hist, &observed[..o], day).filter(|s| *s > 0.0)
        else {
            continue;
        };
        if scored == 0 {
            continue;
        }
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
            p.zip(actual)
                .zip(seen)
                .filter(|(_, s)| **s)
                .map(|((a, b), _)| (a - b).abs())
                .sum::<f64>()
                / scored as f64
        };
        sm += mae(&mut f.points.iter().map(|p| p.mean)) / scale;
        sd += mae(&mut dn.iter().copied()) / scale;
        sw += mae(&mut wn.iter().copied()) / scale;
        cov += f
            .points
            .iter()
            .zip(actual)
            .zip(seen)
            .filter(|((p, a), s)| **s && p.lo80 <= **a && **a <= p.hi80)
            .count() as f64
            / scored as f64;
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

/// Which slots of the grid of `reg` held an observation of `history` (the rest were filled).
fn observed_slots(reg: &Regular, history: &[(f64, f64)]) -> Vec<bool> {
    let mut seen = vec![false; reg.values.len()];
    for &(t, v) in history {
        if !(t.is_finite() && v.is_finite()) {
            continue;
        }
        let i = ((t - reg.t0) / reg.step_secs).round();
        if i >= 0.0 && (i as usize) < seen.len() {
            seen[i as usize] = true;
        }
    }
    seen
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

/// Evaluates many series (each at its own origins; `cfg.origins` is not used) and aggregates per
/// group and overall.
pub(crate) fn evaluate_many(series: &[NamedSeries], cfg: &EvalConfig) -> EvalSummary {
    let mut scores = Vec::new();
    let mut skipped = Vec::new();
    for s in series {
        let cfg = EvalConfig {
            origins: s.origins,
            ..cfg.clone()
        };
        match evaluate_mase(&s.group, &s.name, &s.points, &cfg) {
            Ok(score) => scores.push(score),
            Err(e) => skipped.push((s.name.clone(), e)),
        }
    }
    summarise(scores, skipped)
}

fn summarise(scores: Vec<SeriesScore>, skipped: Vec<(String, String)>) -> EvalSummary {
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

/// One setting of the forecaster's defaults that the cross-validation may choose.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Short label (e.g. `8 weeks`).
    pub label: String,
    /// The settings.
    pub forecast: ForecastConfig,
}

/// The defaults the group cross-validation chooses among: how much history the forecaster keeps.
/// The first is [`ForecastConfig::default`].
pub(crate) fn default_candidates() -> Vec<Candidate> {
    let base = ForecastConfig::default();
    let mut out = vec![Candidate {
        label: format!("{} weeks", base.max_weeks),
        forecast: base.clone(),
    }];
    for weeks in [4.0, 16.0] {
        out.push(Candidate {
            label: format!("{weeks} weeks"),
            forecast: ForecastConfig {
                max_weeks: weeks,
                ..base.clone()
            },
        });
    }
    out
}

/// One group of a leave-one-group-out cross-validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvFold {
    /// The group scored.
    pub group: String,
    /// The setting chosen on the other groups.
    pub chosen: String,
    /// Its score with that setting (cross-validated).
    pub cv: GroupScore,
    /// Its score with the setting chosen on every group (in-sample).
    pub in_sample: GroupScore,
}

/// Result of [`cross_validate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvSummary {
    /// The settings compared.
    pub candidates: Vec<String>,
    /// The setting chosen on every group (what the console should run).
    pub in_sample_choice: String,
    /// One fold per group.
    pub folds: Vec<CvFold>,
    /// Every series at its own fold's setting.
    pub pooled_cv: GroupScore,
    /// Every series at the in-sample setting.
    pub pooled_in_sample: GroupScore,
    /// Series every setting skipped, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Leave-one-group-out cross-validation of the forecaster's defaults: every candidate setting is
/// evaluated on every series; for each group, the setting with the lowest mean over the *other*
/// groups of `MASE / better seasonal-naive MASE` is chosen and the group is scored with it.
pub fn cross_validate(series: &[NamedSeries], candidates: &[Candidate]) -> CvSummary {
    let runs: Vec<EvalSummary> = candidates
        .iter()
        .map(|c| {
            evaluate_many(
                series,
                &EvalConfig {
                    forecast: c.forecast.clone(),
                    ..EvalConfig::default()
                },
            )
        })
        .collect();
    let mut groups: Vec<String> = series.iter().map(|s| s.group.clone()).collect();
    groups.dedup();
    let relative = |run: &EvalSummary, g: &str| {
        run.groups
            .iter()
            .find(|x| x.group == g)
            .map(|x| x.mase / x.mase_daily_naive.min(x.mase_weekly_naive))
    };
    let choose = |left_out: Option<&str>| -> usize {
        let cost = |run: &EvalSummary| {
            let r: Vec<f64> = groups
                .iter()
                .filter(|g| Some(g.as_str()) != left_out)
                .filter_map(|g| relative(run, g))
                .collect();
            r.iter().sum::<f64>() / r.len().max(1) as f64
        };
        (0..runs.len())
            .min_by(|&a, &b| cost(&runs[a]).total_cmp(&cost(&runs[b])))
            .unwrap_or(0)
    };
    let inside = choose(None);
    let group_of = |run: &EvalSummary, g: &str| {
        let s: Vec<&SeriesScore> = run.series.iter().filter(|x| x.group == g).collect();
        aggregate(g, &s)
    };
    let mut pooled = Vec::new();
    let folds = groups
        .iter()
        .map(|g| {
            let c = choose(Some(g));
            pooled.extend(runs[c].series.iter().filter(|x| &x.group == g).cloned());
            CvFold {
                group: g.clone(),
                chosen: candidates[c].label.clone(),
                cv: group_of(&runs[c], g),
                in_sample: group_of(&runs[inside], g),
            }
        })
        .collect();
    CvSummary {
        candidates: candidates.iter().map(|c| c.label.clone()).collect(),
        in_sample_choice: candidates[inside].label.clone(),
        folds,
        pooled_cv: aggregate("all", &pooled.iter().collect::<Vec<_>>()),
        pooled_in_sample: group_of_all(&runs[inside]),
        skipped: runs.first().map(|r| r.skipped.clone()).unwrap_or_default(),
    }
}

fn group_of_all(run: &EvalSummary) -> GroupScore {
    aggregate("all", &run.series.iter().collect::<Vec<_>>())
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

/// Fits and forecasts every series `horizon` steps ahead on every core (for the speed bench);
/// returns how many succeeded.
pub fn forecast_many(series: &[Vec<(f64, f64)>], horizon: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = series.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = series
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter(|s| super::forecast(s, horizon).is_ok())
                        .count()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .sum()
    })
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
        let one = NamedSeries {
            group: "g".into(),
            name: "s".into(),
            points: pts,
            origins: Origins::Spread(20),
        };
        let all = evaluate_many(&[one], &EvalConfig::default());
        assert_eq!(all.groups.len(), 2);
    }
}
