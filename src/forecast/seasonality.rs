//! Finding seasonal periods from the data.
//!
//! The autocorrelation function (ACF) of the demeaned series is computed for every lag with one
//! forward and one inverse FFT (`rustfft`, zero-padded to avoid wrap-around). Candidates are the
//! local maxima of the ACF plus the day and the week at the series' interval; a peak within 3% of
//! a calendar period is snapped to it (calendar periods are exact, peaks are noisy). A candidate
//! is kept when its autocorrelation exceeds [`MIN_ACF`], at least two full cycles are observed,
//! and it is not just a multiple of a kept shorter period that adds nothing (the series minus the
//! shorter period's mean profile must still correlate above [`MIN_ACF`] at the longer lag). The ACF is computed on a copy clipped at the median ± 4 robust standard
//! deviations, so rare bursts cannot create periods. At most [`MAX_PERIODS`] periods are returned, shortest first.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// Autocorrelation a period must exceed to be kept.
pub(crate) const MIN_ACF: f64 = 0.2;
/// Most periods returned.
pub(crate) const MAX_PERIODS: usize = 2;

thread_local! {
    /// FFT plans (and their twiddle factors) are cached per thread: planning costs more than the
    /// transform itself at these sizes.
    static PLANNER: std::cell::RefCell<FftPlanner<f64>> = std::cell::RefCell::new(FftPlanner::new());
}

/// Autocorrelation of `y` at lags `0..=max_lag` (biased estimator, `acf[0] == 1`). A constant
/// series gives all zeros beyond lag 0.
pub(crate) fn acf(y: &[f64], max_lag: usize) -> Vec<f64> {
    let n = y.len();
    let max_lag = max_lag.min(n.saturating_sub(1));
    if n == 0 {
        return Vec::new();
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let size = (2 * n).next_power_of_two();
    let mut buf: Vec<Complex<f64>> = y.iter().map(|v| Complex::new(v - mean, 0.0)).collect();
    buf.resize(size, Complex::new(0.0, 0.0));
    let (fwd, inv) = PLANNER.with(|p| {
        let mut p = p.borrow_mut();
        (p.plan_fft_forward(size), p.plan_fft_inverse(size))
    });
    fwd.process(&mut buf);
    for c in buf.iter_mut() {
        *c = Complex::new(c.norm_sqr(), 0.0);
    }
    inv.process(&mut buf);
    let c0 = buf[0].re;
    if c0.abs() <= f64::EPSILON * n as f64 * (mean * mean).max(1e-300) || c0 <= 0.0 {
        let mut out = vec![0.0; max_lag + 1];
        out[0] = 1.0;
        return out;
    }
    (0..=max_lag).map(|k| buf[k].re / c0).collect()
}

fn median(v: &mut [f64]) -> f64 {
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

/// Clips `y` at its median ± 4 robust standard deviations (1.4826 × MAD), so rare bursts do not
/// dominate the autocorrelation: periods describe the bulk of the series.
pub(crate) fn winsorize(y: &[f64]) -> Vec<f64> {
    if y.is_empty() {
        return Vec::new();
    }
    let m = median(&mut y.to_vec());
    let mut dev: Vec<f64> = y.iter().map(|v| (v - m).abs()).collect();
    let c = 4.0 * 1.4826 * median(&mut dev);
    y.iter().map(|v| v.clamp(m - c, m + c)).collect()
}

/// How far an ACF peak must rise above the lowest ACF at shorter lags.
const MIN_PROMINENCE: f64 = 0.1;

/// Seasonal periods (in steps) found in `y` sampled every `step_secs`, shortest first.
pub(crate) fn detect_periods(y: &[f64], step_secs: f64) -> Vec<usize> {
    let n = y.len();
    if n < 8 {
        return Vec::new();
    }
    let y = &winsorize(y);
    let max_lag = n / 2;
    // Unbiased scaling, so long lags (a week in two weeks of data) are not penalised.
    let r: Vec<f64> = acf(y, max_lag)
        .iter()
        .enumerate()
        .map(|(k, v)| v * n as f64 / (n - k) as f64)
        .collect();
    let day = (86_400.0 / step_secs).round() as usize;
    let week = day * 7;
    let mut candidates: Vec<(usize, f64)> = Vec::new();
    // Local maxima of the ACF (lag >= 2) that stand out from the dip before them, strongest
    // few. Without the prominence test, noise on the slow decay of a smooth series makes
    // spurious "peaks" at a few lags that then mask the real daily period.
    let mut low = f64::INFINITY;
    let mut peaks: Vec<(usize, f64)> = Vec::new();
    for k in 2..max_lag {
        low = low.min(r[k - 1]);
        if r[k] > r[k - 1] && r[k] >= r[k + 1] && r[k] > MIN_ACF && r[k] - low >= MIN_PROMINENCE {
            peaks.push((k, r[k]));
        }
    }
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    peaks.truncate(3);
    for (k, _) in peaks {
        let snapped = [day, week]
            .into_iter()
            .find(|&c| c >= 2 && (k as f64 - c as f64).abs() <= 0.03 * c as f64)
            .unwrap_or(k);
        candidates.push((snapped, 0.0));
    }
    for c in [day, week] {
        if c >= 2 {
            candidates.push((c, 0.0));
        }
    }
    let mut kept: Vec<(usize, f64)> = Vec::new();
    candidates.sort_by_key(|c| c.0);
    candidates.dedup_by_key(|c| c.0);
    for (p, _) in candidates {
        if p < 2 || 2 * p > n || p > max_lag {
            continue;
        }
        // Best ACF within ±1 lag (tolerates phase jitter of snapped periods).
        let a = (p.saturating_sub(1)..=(p + 1).min(max_lag))
            .map(|k| r[k])
            .fold(f64::MIN, f64::max);
        if a <= MIN_ACF {
            continue;
        }
        let near_multiple = |q: usize| {
            let m = (p as f64 / q as f64).round().max(1.0) as usize;
            m >= 2 && (p as i64 - (m * q) as i64).abs() <= 1
        };
        // A multiple of a kept period is kept only when it holds structure of its own: the
        // autocorrelation at its lag of what is left once the shorter period's mean profile is
        // removed (a week holds weekdays unlike weekends; three weeks hold nothing a week lacks).
        let a = match kept.iter().rev().find(|&&(q, _)| near_multiple(q)) {
            Some(&(q, _)) => residual_acf(y, q, p, max_lag),
            None => a,
        };
        if a <= MIN_ACF {
            continue;
        }
        kept.push((p, a));
    }
    // Keep the strongest MAX_PERIODS, return shortest first.
    kept.sort_by(|a, b| b.1.total_cmp(&a.1));
    kept.truncate(MAX_PERIODS);
    let mut out: Vec<usize> = kept.into_iter().map(|k| k.0).collect();
    out.sort_unstable();
    out
}

/// Best autocorrelation within ±1 lag of `p` of `y` minus its mean profile of period `q`.
fn residual_acf(y: &[f64], q: usize, p: usize, max_lag: usize) -> f64 {
    let n = y.len();
    let mut sum = vec![0.0; q];
    let mut cnt = vec![0usize; q];
    for (i, v) in y.iter().enumerate() {
        sum[i % q] += v;
        cnt[i % q] += 1;
    }
    let prof: Vec<f64> = sum
        .iter()
        .zip(&cnt)
        .map(|(s, c)| s / (*c).max(1) as f64)
        .collect();
    let resid: Vec<f64> = y.iter().enumerate().map(|(i, v)| v - prof[i % q]).collect();
    let mean = resid.iter().sum::<f64>() / n as f64;
    let c0: f64 = resid.iter().map(|v| (v - mean) * (v - mean)).sum();
    if c0 <= 0.0 || !c0.is_finite() {
        return 0.0;
    }
    // Three lags only: summed directly (the same unbiased scaling as the full ACF).
    let hi = (p + 1).min(max_lag).min(n.saturating_sub(1));
    (p.saturating_sub(1)..=hi)
        .map(|k| {
            let c: f64 = resid[k..]
                .iter()
                .zip(&resid)
                .map(|(a, b)| (a - mean) * (b - mean))
                .sum();
            c / c0 * n as f64 / (n - k) as f64
        })
        .fold(f64::MIN, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    #[test]
    fn acf_of_constant_is_safe() {
        let r = acf(&[3.0; 50], 10);
        assert_eq!(r.len(), 11);
        assert_eq!(r[0], 1.0);
        assert!(r[1..].iter().all(|v| *v == 0.0));
        assert!(acf(&[], 3).is_empty());
    }

    #[test]
    fn finds_daily_and_weekly() {
        let y: Vec<f64> = (0..4032)
            .map(|i| {
                let t = i as f64;
                10.0 * (TAU * t / 288.0).sin() + if (i / 288) % 7 >= 5 { -8.0 } else { 0.0 }
            })
            .collect();
        let p = detect_periods(&y, 300.0);
        assert_eq!(p, vec![288, 2016]);
    }

    #[test]
    fn finds_a_non_calendar_period() {
        let y: Vec<f64> = (0..1000).map(|i| (TAU * i as f64 / 37.0).sin()).collect();
        let p = detect_periods(&y, 60.0);
        assert!(p.contains(&37), "{p:?}");
    }

    #[test]
    fn none_in_noise_or_short() {
        let mut s = 7u64;
        let y: Vec<f64> = (0..2000)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect();
        assert!(detect_periods(&y, 300.0).is_empty());
        assert!(detect_periods(&[1.0, 2.0, 3.0], 300.0).is_empty());
    }
}
