//! Rolling-origin selection and combination of the candidate forecasters, and the 80% interval.
//!
//! The last origins of the history (at least the configured number, 7 by default, spaced by the
//! validation horizon: the requested horizon capped at one seasonal cycle and at a quarter of the
//! data) are replayed: every candidate is fit
//! on the data before the origin and scored by its mean absolute error on the steps after it.
//! The candidate (a single model, the equal-weight combination of the decomposition and linear
//! models, or the mean of the two best when that validates better than either) with the lowest
//! error is refitted on all the data. Its absolute validation errors give
//! the 80% interval half-width per horizon band (empirical 80% quantile, non-decreasing with the
//! horizon; beyond the validated horizon the last band's width is kept).

use super::{ForecastError, decompose, linear, naive, profile, seasonality};

/// Result of [`forecast_values`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValuesForecast {
    /// Point forecasts.
    pub mean: Vec<f64>,
    /// Lower 80% bounds.
    pub lo: Vec<f64>,
    /// Upper 80% bounds.
    pub hi: Vec<f64>,
    /// Which model won and why.
    pub method: String,
    /// Periods found, in steps.
    pub periods: Vec<usize>,
}

/// A candidate forecaster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// Last value.
    Naive,
    /// Seasonal naive at a period (steps).
    SeasonalNaive(usize),
    /// Multi-seasonal decomposition with a smoothed level.
    Decomposition,
    /// linfa OLS on lag and Fourier features.
    Linear,
    /// Equal-weight mean of decomposition and linear.
    Combination,
    /// Robust seasonal profile on a log scale with a smoothed level.
    Profile,
}

impl Candidate {
    /// Short human-readable name.
    pub fn name(&self) -> String {
        match self {
            Candidate::Naive => "naive (last value)".into(),
            Candidate::SeasonalNaive(p) => format!("seasonal naive (period {p})"),
            Candidate::Decomposition => "multi-seasonal decomposition".into(),
            Candidate::Linear => "linfa linear model on lag+Fourier features".into(),
            Candidate::Combination => "mean of decomposition and linfa linear model".into(),
            Candidate::Profile => "robust multi-seasonal profile".into(),
        }
    }
}

/// Forecasts of every candidate that could be fitted on `y`, for `h` steps.
fn run_all(y: &[f64], periods: &[usize], h: usize, cands: &[Candidate]) -> Vec<Option<Vec<f64>>> {
    let usable: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|&p| y.len() >= 2 * p)
        .collect();
    let want = |f: fn(&Candidate) -> bool| cands.iter().any(f);
    let dec = if want(|c| matches!(c, Candidate::Decomposition | Candidate::Combination)) {
        decompose::forecast(y, &usable, h)
    } else {
        Vec::new()
    };
    let lin = if want(|c| matches!(c, Candidate::Linear | Candidate::Combination)) {
        linear::forecast(y, &usable, h)
    } else {
        None
    };
    cands
        .iter()
        .map(|c| match c {
            Candidate::Naive => naive::seasonal_naive(y, 1, h),
            Candidate::SeasonalNaive(p) => naive::seasonal_naive(y, *p, h),
            Candidate::Decomposition => Some(dec.clone()),
            Candidate::Linear => lin.clone(),
            Candidate::Combination => lin
                .as_ref()
                .map(|l| l.iter().zip(&dec).map(|(a, b)| 0.5 * (a + b)).collect()),
            Candidate::Profile => profile::forecast(y, &usable, h),
        })
        .collect()
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let pos = q * (v.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(v.len() - 1);
    v[i] + (v[j] - v[i]) * (pos - i as f64)
}

/// Forecasts `h` steps of the regular series `y` (interval `step_secs`) with rolling-origin
/// selection over at least `origins` validation origins (more, up to 8, until
/// `min_validation_points` errors are collected).
pub(crate) fn forecast_values(
    y: &[f64],
    step_secs: f64,
    h: usize,
    origins: usize,
    min_validation_points: usize,
) -> Result<ValuesForecast, ForecastError> {
    let n = y.len();
    if n < 2 {
        return Err(ForecastError::TooShort { needed: 2, got: n });
    }
    if h == 0 {
        return Err(ForecastError::ZeroHorizon);
    }
    let periods = seasonality::detect_periods(y, step_secs);
    let mut cands = if periods.is_empty() {
        vec![Candidate::Naive]
    } else {
        Vec::new()
    };
    cands.extend(periods.iter().map(|&p| Candidate::SeasonalNaive(p)));
    cands.extend([
        Candidate::Decomposition,
        Candidate::Linear,
        Candidate::Combination,
        Candidate::Profile,
    ]);

    let hv = h.min(n / 4).max(1);
    let k = origins.max((min_validation_points / hv).min(8)).max(1);
    let min_train = periods.first().map_or(4, |p| 2 * p).max(4);
    let mut errs: Vec<Vec<Vec<f64>>> = vec![Vec::new(); cands.len()]; // [cand][origin][step]
    let mut used = 0;
    for j in 1..=k {
        let Some(o) = n.checked_sub(j * hv) else {
            break;
        };
        if o < min_train.min(n / 2).max(2) {
            break;
        }
        let fc = run_all(&y[..o], &periods, hv, &cands);
        for (ci, f) in fc.into_iter().enumerate() {
            if let Some(f) = f {
                errs[ci].push(f.iter().zip(&y[o..o + hv]).map(|(a, b)| b - a).collect());
            }
        }
        used += 1;
    }
    // Choose: lowest MAE among candidates scored at every origin.
    let mut scores: Vec<(Candidate, f64)> = Vec::new();
    for (ci, e) in errs.iter().enumerate() {
        if used > 0 && e.len() == used {
            let mae = e.iter().flatten().map(|v| v.abs()).sum::<f64>() / (used * hv) as f64;
            scores.push((cands[ci], mae));
        }
    }
    // The two best singles, and their equal-weight mean when it validates better than either
    // (combining the leaders is steadier than flipping between two near-equal models).
    let mut ranked: Vec<(usize, f64)> = scores
        .iter()
        .filter(|s| s.1.is_finite())
        .map(|(c, s)| (cands.iter().position(|x| x == c).unwrap_or(0), *s))
        .collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut picked: Vec<usize> = ranked.first().map(|r| vec![r.0]).unwrap_or_default();
    let mut picked_mae = ranked.first().map(|r| r.1);
    let mut picked_errs: Option<Vec<Vec<f64>>> = ranked.first().map(|r| errs[r.0].clone());
    if let [(a, _), (b, _), ..] = ranked[..] {
        let pair: Vec<Vec<f64>> = errs[a]
            .iter()
            .zip(&errs[b])
            .map(|(x, y)| x.iter().zip(y).map(|(u, v)| 0.5 * (u + v)).collect())
            .collect();
        let mae = pair.iter().flatten().map(|v| v.abs()).sum::<f64>() / (used * hv) as f64;
        if picked_mae.is_some_and(|m| mae < m) {
            picked = vec![a, b];
            picked_mae = Some(mae);
            picked_errs = Some(pair);
        }
    }
    let want: Vec<Candidate> = picked.iter().map(|&i| cands[i]).collect();
    let fits: Vec<Vec<f64>> = run_all(y, &periods, h, &want)
        .into_iter()
        .flatten()
        .collect();
    let validated = !want.is_empty() && fits.len() == want.len();
    let mean = if validated {
        (0..h)
            .map(|k| fits.iter().map(|f| f[k]).sum::<f64>() / fits.len() as f64)
            .collect()
    } else {
        decompose::forecast(y, &periods, h)
    };
    let chosen_name = if validated {
        want.iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(" + ")
    } else {
        Candidate::Decomposition.name()
    };
    // Interval half-widths per band from the chosen candidate's validation errors.
    let nb = hv.clamp(1, 4);
    let mut width = vec![0.0; nb];
    let chosen_errs = picked_errs.as_ref().filter(|e| validated && !e.is_empty());
    match chosen_errs {
        Some(e) => {
            for (b, w) in width.iter_mut().enumerate() {
                let (lo, hi) = (b * hv / nb, ((b + 1) * hv / nb).max(b * hv / nb + 1));
                let mut a: Vec<f64> = e
                    .iter()
                    .flat_map(|o| o[lo..hi.min(hv)].iter().map(|v| v.abs()))
                    .collect();
                *w = quantile(&mut a, 0.8);
            }
        }
        None => {
            // No validation possible: one-step changes, scaled like a random walk.
            let mut d: Vec<f64> = y.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
            let q = quantile(&mut d, 0.8);
            width.iter_mut().for_each(|w| *w = q);
        }
    }
    for b in 1..nb {
        width[b] = width[b].max(width[b - 1]);
    }
    let no_validation = chosen_errs.is_none();
    let (mut lo, mut hi) = (Vec::with_capacity(h), Vec::with_capacity(h));
    for (s, m) in mean.iter().enumerate() {
        let b = (s * nb / hv).min(nb - 1);
        let mut w = width[b];
        if no_validation {
            w *= ((s + 1) as f64).sqrt();
        }
        lo.push(m - w);
        hi.push(m + w);
    }
    let others: Vec<String> = scores
        .iter()
        .map(|(c, s)| format!("{}: {:.4}", c.name(), s))
        .collect();
    let method = match picked_mae {
        Some(m) if validated => format!(
            "{}{} — lowest rolling-origin MAE {:.4} over {} origins × {} steps (all: {}); periods {:?}",
            if want.len() > 1 { "mean of " } else { "" },
            chosen_name,
            m,
            used,
            hv,
            others.join(", "),
            periods
        ),
        _ => format!(
            "{chosen_name} — too little history for rolling-origin validation; periods {periods:?}"
        ),
    };
    Ok(ValuesForecast {
        mean,
        lo,
        hi,
        method,
        periods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&mut [], 0.8), 0.0);
        assert_eq!(quantile(&mut [3.0, 1.0, 2.0], 0.5), 2.0);
        assert!((quantile(&mut [0.0, 10.0], 0.8) - 8.0).abs() < 1e-12);
    }

    #[test]
    fn picks_seasonal_model_for_seasonal_data() {
        let y: Vec<f64> = (0..800)
            .map(|i| 10.0 + ((i % 24) as f64 - 12.0).abs() + 0.01 * (i % 7) as f64)
            .collect();
        let f = forecast_values(&y, 3600.0, 24, 3, 120).unwrap();
        assert_eq!(f.periods.first(), Some(&24));
        assert!(!f.method.starts_with("naive"), "{}", f.method);
        assert_eq!(f.mean.len(), 24);
    }
}
