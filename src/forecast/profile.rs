//! Robust seasonal-profile forecaster for long, multi-seasonal history.
//!
//! Demand after a few months in production has a daily and a weekly cycle whose amplitude grows
//! and shrinks with the level (a busy week has bigger peaks), days unlike their season (a holiday,
//! a storm, an outage) and long stretches to learn from. This model is built for that:
//!
//! 1. **Scale.** A non-negative series is modelled on a log scale, `ln(y + c)` with `c` 1 % of
//!    its mean (a scale-free `log1p`), so seasonal swings are proportional to the level; a series
//!    with negative values stays on its own scale.
//! 2. **Profile.** The series minus its centred moving average over the longest period is the
//!    seasonal part; the profile of the longest period (the week, which holds the daily shape and
//!    each weekday's own level) is, at each phase, the **median** of that phase over the last
//!    [`MAX_CYCLES`] cycles. A median is what makes it robust: one unusual day changes no phase
//!    of next week's forecast unless it recurs.
//! 3. **Level.** What is left after removing the profile is tracked by the robust exponential
//!    smoothing of [`super::decompose::smoothed_level`] (its constant chosen per horizon band by
//!    the in-sample error at that horizon), so tomorrow starts from today's level.
//!
//! Nothing here is tuned to a data set: the median, the log scale and the per-band smoothing are
//! the choices; [`MAX_CYCLES`] bounds the cost and the memory of the past.

use super::decompose::{median, smoothed_level};

/// Most cycles of the longest period whose phases are medianed.
pub(crate) const MAX_CYCLES: usize = 8;

/// Offset of the log scale, as a fraction of the series' mean.
const LOG_OFFSET: f64 = 0.01;

/// How the model maps values to its working scale and back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    /// `ln(y + c)`.
    Log(f64),
    /// The values themselves.
    Linear,
}

impl Scale {
    fn of(y: &[f64]) -> Scale {
        let n = y.len().max(1) as f64;
        let mean = y.iter().sum::<f64>() / n;
        if y.iter().all(|v| *v >= 0.0) && mean > 0.0 && mean.is_finite() {
            Scale::Log(LOG_OFFSET * mean)
        } else {
            Scale::Linear
        }
    }
    fn to(self, v: f64) -> f64 {
        match self {
            Scale::Log(c) => (v + c).ln(),
            Scale::Linear => v,
        }
    }
    fn back(self, z: f64) -> f64 {
        match self {
            Scale::Log(c) => (z.exp() - c).max(0.0),
            Scale::Linear => z,
        }
    }
}

/// Forecasts `h` steps of the regular series `y` with the profile model. `periods` are the
/// seasonal periods found in the data (any order); `None` when no period has two full cycles.
pub fn forecast(y: &[f64], periods: &[usize], h: usize) -> Option<Vec<f64>> {
    let n = y.len();
    let usable: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|&p| p >= 2 && n >= 2 * p)
        .collect();
    let short = *usable.iter().min()?;
    let long = *usable.iter().max()?;
    let scale = Scale::of(y);
    let z: Vec<f64> = y.iter().map(|v| scale.to(*v)).collect();
    if z.iter().any(|v| !v.is_finite()) {
        return None;
    }
    // Seasonal part: z minus its centred moving average over the long period (prefix sums), so
    // the profile holds the shorter cycles and each long phase's own level.
    let mut pre = vec![0.0; n + 1];
    for i in 0..n {
        pre[i + 1] = pre[i] + z[i];
    }
    let half = long / 2;
    let first = half;
    let last = n - (long - half); // exclusive
    let seasonal = |i: usize| z[i] - (pre[i - half + long] - pre[i - half]) / long as f64;
    // Profile of the long period: the median of each phase over the last MAX_CYCLES cycles.
    // One flat buffer of MAX_CYCLES slots per phase (the newest cycles, filled backwards).
    let from = last.saturating_sub(MAX_CYCLES * long).max(first);
    let mut slots = vec![0.0; MAX_CYCLES * long];
    let mut filled = vec![0usize; long];
    for i in (from..last).rev() {
        let ph = i % long;
        if filled[ph] < MAX_CYCLES {
            slots[ph * MAX_CYCLES + filled[ph]] = seasonal(i);
            filled[ph] += 1;
        }
    }
    let mut profile: Vec<f64> = slots
        .chunks_mut(MAX_CYCLES)
        .zip(&filled)
        .map(|(v, &k)| if k == 0 { 0.0 } else { median(&mut v[..k]) })
        .collect();
    let centre = profile.iter().sum::<f64>() / long as f64;
    profile.iter_mut().for_each(|v| *v -= centre);
    let mut d = z;
    for cycle in d.chunks_mut(long) {
        for (v, q) in cycle.iter_mut().zip(&profile) {
            *v -= q;
        }
    }
    let level = smoothed_level(&d, short, h);
    let out: Vec<f64> = level
        .iter()
        .enumerate()
        .map(|(k, l)| scale.back(l + profile[(n + k) % long]))
        .collect();
    out.iter().all(|v| v.is_finite()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A week of 24-step days whose weekend is quiet, with a level that doubles over the history:
    /// the profile model follows the level and keeps the weekday shape.
    fn weekly(n: usize, level: impl Fn(usize) -> f64) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let hour = i % 24;
                let day = (i / 24) % 7;
                let shape = if day >= 5 { 0.5 } else { 1.0 }
                    * (1.0 + (hour as f64 / 24.0 * std::f64::consts::TAU).sin().max(0.0));
                level(i) * shape
            })
            .collect()
    }

    #[test]
    fn follows_a_multiplicative_week() {
        let n = 24 * 7 * 10;
        let y = weekly(n + 48, |i| 100.0 * (1.0 + i as f64 / n as f64));
        let f = forecast(&y[..n], &[24, 168], 48).unwrap();
        for (k, v) in f.iter().enumerate() {
            let want = y[n + k];
            assert!(
                (v - want).abs() <= 0.05 * want + 1.0,
                "step {k}: {v} vs {want}"
            );
        }
    }

    #[test]
    fn one_unusual_day_does_not_poison_next_week() {
        let n = 24 * 7 * 10;
        let clean = weekly(n + 24, |_| 100.0);
        let mut y = clean.clone();
        // the same weekday one week before the forecast: a holiday at a tenth of its usual level
        for v in &mut y[n - 7 * 24..n - 6 * 24] {
            *v *= 0.1;
        }
        let f = forecast(&y[..n], &[24, 168], 24).unwrap();
        for (k, v) in f.iter().enumerate() {
            let want = clean[n + k];
            assert!(
                (v - want).abs() <= 0.1 * want + 1.0,
                "step {k}: {v} vs {want}"
            );
        }
    }

    #[test]
    fn needs_two_cycles_and_keeps_signs() {
        assert!(forecast(&[1.0; 30], &[24], 5).is_none());
        assert!(forecast(&[1.0; 100], &[], 5).is_none());
        let y: Vec<f64> = (0..200).map(|i| (i % 10) as f64 - 5.0).collect();
        let f = forecast(&y, &[10], 10).unwrap();
        assert!(f.iter().any(|v| *v < 0.0), "{f:?}");
        let zeros = forecast(&[0.0; 100], &[10], 3).unwrap();
        assert_eq!(zeros, vec![0.0; 3]);
    }
}
