//! A linfa linear model on lag and Fourier features (an ARX model), forecast recursively.
//!
//! Features at step `t`: sine/cosine pairs of each seasonal period (up to [`MAX_HARMONICS`]
//! harmonics for the shortest period, fewer for longer ones, harmonics shared between periods
//! counted once) and the lags 1 and, for each period `p`, `p` (plus `2p` when only one period is
//! known); with no period, lags 1 and 2. The model is ordinary least squares from
//! `linfa-linear`, fitted on at most [`MAX_ROWS`] rows spread evenly over the history, which keeps
//! a fit to tens of microseconds. Forecasts are recursive: a lag that falls in the future uses the
//! model's own earlier prediction, so the forecast relaxes from the last value towards the
//! seasonal shape as the horizon grows.

use linfa::prelude::*;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};
use std::f64::consts::TAU;

/// Harmonics used for the shortest period.
pub(crate) const MAX_HARMONICS: usize = 4;
/// Most training rows.
pub(crate) const MAX_ROWS: usize = 480;

/// sin/cos of 2πj/p for j in 0..p, for one period p.
type Table = std::rc::Rc<[(f64, f64)]>;

/// Feature layout of a fitted model.
#[derive(Debug, Clone)]
struct Layout {
    /// (period, harmonic) pairs.
    fourier: Vec<(usize, usize)>,
    /// Index in `tables` of each pair's period.
    table_of: Vec<usize>,
    /// sin/cos of 2πj/p for j in 0..p, per period in `fourier` order of first use.
    tables: Vec<(usize, Table)>,
    /// Lags in steps.
    lags: Vec<usize>,
}

thread_local! {
    /// The sin/cos tables of the periods seen lately on this thread: a series' periods are the
    /// same at each of its validation origins, so each table is computed once, not per fit.
    static TABLES: std::cell::RefCell<Vec<(usize, Table)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Most tables kept per thread.
const CACHED_TABLES: usize = 8;

/// sin/cos of 2πj/p for j in 0..p.
fn table(p: usize) -> Table {
    TABLES.with_borrow_mut(|cache| {
        if let Some((_, t)) = cache.iter().find(|(q, _)| *q == p) {
            return t.clone();
        }
        let t: Table = (0..p)
            .map(|j| (TAU * j as f64 / p as f64).sin_cos())
            .collect();
        if cache.len() == CACHED_TABLES {
            cache.remove(0);
        }
        cache.push((p, t.clone()));
        t
    })
}

impl Layout {
    fn new(periods: &[usize], n: usize) -> Layout {
        let mut fourier: Vec<(usize, usize)> = Vec::new();
        for (i, &p) in periods.iter().enumerate() {
            let kmax = (if i == 0 { MAX_HARMONICS } else { 3 }).min((p - 1) / 2);
            for k in 1..=kmax {
                // Skip a frequency k/p already present as j/q.
                if fourier.iter().any(|&(q, j)| j * p == k * q) {
                    continue;
                }
                fourier.push((p, k));
            }
        }
        let mut lags = vec![1];
        match periods {
            [] => lags.push(2),
            [p] => {
                lags.push(*p);
                if 3 * p <= n {
                    lags.push(2 * p);
                }
            }
            ps => lags.extend(ps.iter().copied().filter(|&p| 2 * p <= n)),
        }
        lags.sort_unstable();
        lags.dedup();
        let mut tables: Vec<(usize, Table)> = Vec::new();
        let mut table_of = Vec::with_capacity(fourier.len());
        for &(p, _) in &fourier {
            let i = match tables.iter().position(|(q, _)| *q == p) {
                Some(i) => i,
                None => {
                    tables.push((p, table(p)));
                    tables.len() - 1
                }
            };
            table_of.push(i);
        }
        Layout {
            fourier,
            table_of,
            tables,
            lags,
        }
    }

    fn width(&self) -> usize {
        2 * self.fourier.len() + self.lags.len()
    }

    fn fill(&self, t: usize, series: &[f64], row: &mut [f64]) {
        let mut c = 0;
        // `(k * (t % p)) % p` with one division per period rather than two per harmonic: the
        // pairs of one period are consecutive and `k` is small, so the product is reduced by
        // subtraction.
        let (mut last_p, mut phase) = (0, 0);
        for (&(p, k), &i) in self.fourier.iter().zip(&self.table_of) {
            if p != last_p {
                (last_p, phase) = (p, t % p);
            }
            let mut j = k * phase;
            while j >= p {
                j -= p;
            }
            let (s, co) = self.tables[i].1[j];
            row[c] = s;
            row[c + 1] = co;
            c += 2;
        }
        for &l in &self.lags {
            row[c] = series[t - l];
            c += 1;
        }
    }
}

/// A fitted ARX model.
#[derive(Debug, Clone)]
pub(crate) struct Arx {
    layout: Layout,
    coef: Vec<f64>,
    intercept: f64,
}

impl Arx {
    /// Fits on `y`. `None` when there are too few rows, the target does not vary, or the solve
    /// fails or gives non-finite coefficients.
    pub fn fit(y: &[f64], periods: &[usize]) -> Option<Arx> {
        let n = y.len();
        let layout = Layout::new(periods, n);
        let max_lag = layout.lags.iter().copied().max().unwrap_or(1);
        let w = layout.width();
        if n <= max_lag + w + 4 {
            return None;
        }
        let rows = n - max_lag;
        let m = rows.min(MAX_ROWS);
        let mut x = Array2::<f64>::zeros((m, w));
        let mut t = Array1::<f64>::zeros(m);
        let mut row = vec![0.0; w];
        for r in 0..m {
            // Spread evenly, always including the most recent row.
            let idx = n - 1 - ((m - 1 - r) * (rows - 1)) / (m - 1).max(1);
            layout.fill(idx, y, &mut row);
            for (c, v) in row.iter().enumerate() {
                x[[r, c]] = *v;
            }
            t[r] = y[idx];
        }
        let mean = t.sum() / m as f64;
        let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64;
        if var <= 1e-18 * mean.abs().max(1.0).powi(2) {
            return None;
        }
        let model = LinearRegression::default().fit(&Dataset::new(x, t)).ok()?;
        let coef: Vec<f64> = model.params().iter().copied().collect();
        let intercept = model.intercept();
        if !intercept.is_finite() || coef.iter().any(|c| !c.is_finite()) {
            return None;
        }
        Some(Arx {
            layout,
            coef,
            intercept,
        })
    }

    /// Forecasts `h` steps after the end of `y` (the series it was fitted on or a continuation).
    pub fn forecast(&self, y: &[f64], h: usize) -> Vec<f64> {
        let n = y.len();
        let mut ext = Vec::with_capacity(n + h);
        ext.extend_from_slice(y);
        let mut row = vec![0.0; self.layout.width()];
        for k in 0..h {
            let t = n + k;
            self.layout.fill(t, &ext, &mut row);
            let v = self.intercept + row.iter().zip(&self.coef).map(|(a, b)| a * b).sum::<f64>();
            ext.push(v);
        }
        ext.split_off(n)
    }
}

/// Fits and forecasts in one go; `None` when the model cannot be fitted.
pub fn forecast(y: &[f64], periods: &[usize], h: usize) -> Option<Vec<f64>> {
    let m = Arx::fit(y, periods)?;
    let f = m.forecast(y, h);
    // Reject unstable recursions: a forecast far outside the range seen is not trusted.
    let (lo, hi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let r = hi - lo;
    f.iter()
        .all(|v| v.is_finite() && *v >= lo - r && *v <= hi + r)
        .then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_seasonal_ar_series() {
        let y: Vec<f64> = (0..600)
            .map(|i| 50.0 + 10.0 * (TAU * i as f64 / 24.0).sin())
            .collect();
        let f = forecast(&y, &[24], 48).unwrap();
        for (k, v) in f.iter().enumerate() {
            let truth = 50.0 + 10.0 * (TAU * (600 + k) as f64 / 24.0).sin();
            assert!((v - truth).abs() < 1e-3, "{k}: {v} vs {truth}");
        }
    }

    #[test]
    fn refuses_degenerate_input() {
        assert!(forecast(&[1.0; 500], &[24], 5).is_none());
        assert!(forecast(&[1.0, 2.0, 3.0], &[], 5).is_none());
    }

    #[test]
    fn shared_harmonics_counted_once() {
        let l = Layout::new(&[24, 48], 1000);
        // 48-period harmonic 2 equals 24-period harmonic 1.
        assert!(!l.fourier.contains(&(48, 2)));
        assert!(l.fourier.contains(&(48, 1)));
    }
}
