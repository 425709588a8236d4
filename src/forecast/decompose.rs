//! Multi-seasonal decomposition forecaster.
//!
//! For each period (shortest first) a seasonal profile is estimated from the series minus a
//! centred moving average of one period, weighting recent cycles more (half-life
//! [`HALF_LIFE_CYCLES`] cycles, at most [`MAX_CYCLES`] cycles used), centred to mean zero and
//! removed before the next period is estimated. What is left is tracked by simple exponential
//! smoothing; its constant is chosen per horizon band from a grid by the in-sample absolute error at
//! that band's horizon; innovations are clipped at four robust standard deviations
//! (bursts do not drag the level), so short horizons follow the latest level and long horizons a steadier one.

/// Recency half-life of the seasonal profile, in cycles.
pub(crate) const HALF_LIFE_CYCLES: f64 = 3.0;
/// Most cycles used per profile.
pub(crate) const MAX_CYCLES: usize = 10;
/// Most recent points the level is tracked over.
const LEVEL_WINDOW: usize = 2048;
/// Most points at which the smoothing constants' errors are compared.
const EVAL_POINTS: usize = 256;
const ALPHAS: [f64; 7] = [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 0.9];

/// Seasonal profiles removed from a series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decomposition {
    /// Deseasonalised series.
    pub deseasonalised: Vec<f64>,
    /// Sum of the seasonal profiles for each future step `0..h`.
    pub seasonal_future: Vec<f64>,
}

/// Removes a seasonal profile for each period in `periods` from `y` (see the module docs).
pub(crate) fn decompose(y: &[f64], periods: &[usize], h: usize) -> Decomposition {
    let n = y.len();
    let mut x = y.to_vec();
    let mut fut = vec![0.0; h];
    let decay = 0.5f64.powf(1.0 / HALF_LIFE_CYCLES);
    for &p in periods {
        if p < 2 || n < 2 * p {
            continue;
        }
        // Centred moving average over one period via prefix sums.
        let mut pre = vec![0.0; n + 1];
        for i in 0..n {
            pre[i + 1] = pre[i] + x[i];
        }
        let half = p / 2;
        let start = n.saturating_sub(MAX_CYCLES * p + half).max(half);
        let end = n.saturating_sub(p - half);
        let resid: Vec<f64> = (start..end)
            .map(|i| {
                let lo = i - half;
                x[i] - (pre[lo + p] - pre[lo]) / p as f64
            })
            .collect();
        // Clip detrended values at four robust standard deviations so bursts do not become part
        // of the seasonal shape.
        let clip = robust_clip(&resid);
        let weights: Vec<f64> = (0..=MAX_CYCLES + 2).map(|a| decay.powi(a as i32)).collect();
        let mut num = vec![0.0; p];
        let mut den = vec![0.0; p];
        // walked with the phase `i % p` and the age `(n - 1 - i) / p` in cycles kept as
        // counters (no division per point)
        let mut ph = start % p;
        let mut age = (n - 1 - start) / p;
        let mut younger_from = n - age * p;
        for (j, r) in resid.iter().enumerate() {
            if start + j == younger_from {
                age -= 1;
                younger_from += p;
            }
            let w = weights[age.min(weights.len() - 1)];
            num[ph] += w * r.clamp(-clip, clip);
            den[ph] += w;
            ph += 1;
            if ph == p {
                ph = 0;
            }
        }
        let mut prof: Vec<f64> = num
            .iter()
            .zip(&den)
            .map(|(a, b)| if *b > 0.0 { a / b } else { 0.0 })
            .collect();
        let m = prof.iter().sum::<f64>() / p as f64;
        prof.iter_mut().for_each(|v| *v -= m);
        for cycle in x.chunks_mut(p) {
            for (v, q) in cycle.iter_mut().zip(&prof) {
                *v -= q;
            }
        }
        for (k, f) in fut.iter_mut().enumerate() {
            *f += prof[(n + k) % p];
        }
    }
    Decomposition {
        deseasonalised: x,
        seasonal_future: fut,
    }
}

pub(super) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    if v.len() <= SMALL_MEDIAN {
        // the profile's medians of a few cycles: an insertion sort beats a selection's set-up
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && v[j - 1].total_cmp(&v[j]).is_gt() {
                v.swap(j - 1, j);
                j -= 1;
            }
        }
        return v[mid];
    }
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

/// Inputs up to this length are medianed by sorting them outright.
const SMALL_MEDIAN: usize = 16;

/// Four robust standard deviations (1.4826 × median absolute deviation) of `v`; 0 for empty or
/// mostly constant input.
/// Longer inputs are sampled at an even stride down to about this many values: a scale estimate
/// from a thousand values is as good as one from all of them, at a fraction of the cost.
const SCALE_SAMPLE: usize = 1024;

pub(super) fn robust_clip(v: &[f64]) -> f64 {
    let stride = (v.len() / SCALE_SAMPLE).max(1);
    let mut w: Vec<f64> = v.iter().step_by(stride).copied().collect();
    let m = median(&mut w);
    let mut dev: Vec<f64> = v.iter().step_by(stride).map(|x| (x - m).abs()).collect();
    4.0 * 1.4826 * median(&mut dev)
}

/// Horizon bands `[lo, hi]` (1-based steps) used to choose the smoothing constant.
fn bands(h: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut lo = 1;
    while lo <= h {
        let hi = (lo * 4 - 1).min(h);
        out.push((lo, hi));
        lo = hi + 1;
    }
    out
}

/// Forecasts `h` steps of `y` with the decomposition + smoothed level model. Always returns `h`
/// values (for an empty `y`, zeros).
pub fn forecast(y: &[f64], periods: &[usize], h: usize) -> Vec<f64> {
    if y.is_empty() {
        return vec![0.0; h];
    }
    let dec = decompose(y, periods, h);
    let init_len = periods.first().copied().unwrap_or(10);
    smoothed_level(&dec.deseasonalised, init_len, h)
        .into_iter()
        .zip(&dec.seasonal_future)
        .map(|(l, s)| l + s)
        .collect()
}

/// The level of a deseasonalised series `d` for each of the next `h` steps: robust simple
/// exponential smoothing over the last [`LEVEL_WINDOW`] points, started at the median of the first
/// `init_len`, whose constant is chosen separately for each horizon band by the in-sample
/// absolute error at that band's horizon. Always returns `h` values (zeros for an empty `d`).
pub(crate) fn smoothed_level(d: &[f64], init_len: usize, h: usize) -> Vec<f64> {
    if d.is_empty() {
        return vec![0.0; h];
    }
    // The level is tracked over the most recent LEVEL_WINDOW points only (the slowest smoothing
    // constant forgets faster than that), all constants in one pass.
    let start = d.len().saturating_sub(LEVEL_WINDOW);
    let d = &d[start..];
    let n = d.len();
    let init_len = n.min(init_len.max(1));
    let init = median(&mut d[..init_len].to_vec());
    // Robust levels for each alpha: innovations are clipped at four robust standard deviations
    // of the one-step changes (or of the values when the changes are mostly zero), so isolated
    // spikes (common in cloud metrics) barely move the level.
    let diffs: Vec<f64> = d.windows(2).map(|w| w[1] - w[0]).collect();
    let mut clip = robust_clip(&diffs);
    if clip == 0.0 {
        clip = robust_clip(d);
    }
    if clip == 0.0 {
        // Mostly constant: fall back to the mean absolute deviation (still small next to bursts,
        // but lets a level shift through).
        clip = d.iter().map(|v| (v - init).abs()).sum::<f64>() / n as f64;
    }
    // a clamp with a NaN or negative bound panics: an unusable clip clips nothing
    let clip = if clip.is_nan() {
        f64::INFINITY
    } else {
        clip.abs()
    };
    const M: usize = ALPHAS.len();
    // The levels are kept only at the evaluation points: every `stride`-th step from the first
    // quarter on (at most EVAL_POINTS of them; a few hundred errors tell the constants apart).
    let from = n / 4;
    let stride = ((n - from) / EVAL_POINTS).max(1);
    let mut kept: Vec<(usize, [f64; M])> = Vec::with_capacity(EVAL_POINTS + 2);
    let mut cur = [init; M];
    for (t, &v) in d.iter().enumerate() {
        for (c, a) in cur.iter_mut().zip(ALPHAS) {
            *c += a * (v - *c).clamp(-clip, clip);
        }
        if t >= from && (t - from).is_multiple_of(stride) {
            kept.push((t, cur));
        }
    }
    let mut out = vec![0.0; h];
    for (lo, hi) in bands(h) {
        let rep = ((lo * hi) as f64).sqrt().round().max(1.0) as usize;
        let mut sae = [0.0; M];
        let mut scored = 0;
        for (t, levels) in &kept {
            let Some(&target) = d.get(t + rep) else {
                break;
            };
            for (e, l) in sae.iter_mut().zip(levels) {
                *e += (target - l).abs();
            }
            scored += 1;
        }
        let best = if scored > 0 {
            (0..M)
                .min_by(|&x, &y| sae[x].total_cmp(&sae[y]))
                .unwrap_or(M - 1)
        } else {
            M - 1
        };
        for slot in &mut out[lo - 1..hi] {
            *slot = cur[best];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_whose_changes_overflow_do_not_panic() {
        // -1e308 then 1e308: the one-step changes are infinite and their spread NaN (a clamp
        // with a NaN bound panicked)
        let y: Vec<f64> = (0..50)
            .map(|i| if i % 2 == 0 { -1e308 } else { 1e308 })
            .collect();
        assert_eq!(forecast(&y, &[], 12).len(), 12);
        assert_eq!(forecast(&[-1e308, 1e308], &[], 48).len(), 48);
    }

    #[test]
    fn bands_cover_horizon() {
        assert_eq!(bands(1), vec![(1, 1)]);
        assert_eq!(bands(20), vec![(1, 3), (4, 15), (16, 20)]);
    }

    #[test]
    fn recovers_a_profile() {
        let prof = [5.0, -2.0, 1.0, -4.0];
        let y: Vec<f64> = (0..80).map(|i| 100.0 + prof[i % 4]).collect();
        let f = forecast(&y, &[4], 8);
        for (k, v) in f.iter().enumerate() {
            assert!((v - (100.0 + prof[(80 + k) % 4])).abs() < 1e-6, "{k} {v}");
        }
    }

    #[test]
    fn tiny_inputs() {
        assert_eq!(forecast(&[], &[], 2), vec![0.0, 0.0]);
        assert_eq!(forecast(&[3.0], &[5], 2), vec![3.0, 3.0]);
    }
}
