//! Robust deviation detector: exponentially weighted location and mean absolute deviation with
//! Huber-clipped updates.

use super::{Evidence, scale_floor};

/// Mean absolute deviation to standard deviation for a Gaussian (`sqrt(pi/2)`).
pub(crate) const MAD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;

/// Robust exponentially weighted level and scale.
///
/// The first `span` samples are averaged with equal weight (so warm-up needs no tuning), then the
/// weights decay with time constant `span` samples. Residuals are clipped to `±clip` sigmas before
/// they update the state, so a single spike moves the baseline by at most `clip/span` sigmas.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RobustLevel {
    n: u32,
    span: u32,
    scale_span: u32,
    clip: f64,
    mean: f64,
    mad: f64,
}

impl RobustLevel {
    /// A detector with level time constant `span` and scale time constant `scale_span` samples.
    pub fn new(span: u32, scale_span: u32) -> Self {
        Self {
            n: 0,
            span: span.max(1),
            scale_span: scale_span.max(1),
            clip: 3.0,
            mean: 0.0,
            mad: 0.0,
        }
    }

    /// Current location.
    #[cfg(test)]
    fn mean(&self) -> f64 {
        self.mean
    }

    /// Current robust sigma (with floor).
    pub(crate) fn sigma(&self) -> f64 {
        (self.mad * MAD_TO_SIGMA).max(scale_floor(self.mean))
    }

    /// Evidence for `x` against the current state (before learning `x`); `None` until the first
    /// sample has been seen.
    pub fn evidence(&self, x: f64) -> Option<Evidence> {
        if self.n < 2 {
            return None;
        }
        let sigma = self.sigma();
        Some(Evidence {
            expected: self.mean,
            z: (x - self.mean) / sigma,
            sigma,
        })
    }

    /// Learns `x` (finite, clamped).
    pub(crate) fn learn(&mut self, x: f64) {
        self.n = self.n.saturating_add(1);
        if self.n == 1 {
            self.mean = x;
            self.mad = 0.0;
            return;
        }
        let a = 1.0 / f64::from(self.n.min(self.span));
        let b = 1.0 / f64::from(self.n.min(self.scale_span));
        let sigma = self.sigma();
        let lim = self.clip * sigma;
        let r = x - self.mean;
        // While the scale is still being learnt (first few samples) do not clip.
        let rc = if self.n > 8 { r.clamp(-lim, lim) } else { r };
        self.mean += a * rc;
        let ar = if self.n > 8 {
            r.abs().min(lim * 1.5)
        } else {
            r.abs()
        };
        self.mad += b * (ar - self.mad);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn learns_level_and_scale() {
        let mut d = RobustLevel::new(32, 128);
        for i in 0..2000 {
            let x = 10.0 + if i % 2 == 0 { 1.0 } else { -1.0 };
            d.learn(x);
        }
        assert!((d.mean() - 10.0).abs() < 0.2);
        assert!((d.sigma() - MAD_TO_SIGMA).abs() < 0.2);
        let e = d.evidence(20.0).unwrap();
        assert!(e.z > 5.0);
    }

    #[test]
    fn spike_barely_moves_baseline() {
        let mut d = RobustLevel::new(32, 128);
        for i in 0..500 {
            d.learn(5.0 + (i % 3) as f64 * 0.1);
        }
        let before = d.mean();
        d.learn(1e6);
        assert!((d.mean() - before).abs() < 0.1);
    }

    #[test]
    fn constant_series_has_finite_sigma() {
        let mut d = RobustLevel::new(32, 128);
        for _ in 0..100 {
            d.learn(0.0);
        }
        let e = d.evidence(1.0).unwrap();
        assert!(e.z.is_finite() && e.z > 0.0);
    }
}
