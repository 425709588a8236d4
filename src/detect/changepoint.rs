//! Change-point detector: two-sided CUSUM on standardised residuals.

/// Two-sided CUSUM (Page 1954) on residuals already expressed in robust sigmas.
///
/// Residuals are clipped to `±clip` so that one spike cannot trigger it alone: it answers "has
/// the mean shifted?" rather than "is this sample odd?". After the statistic crosses `h` it
/// resets, so a shift raises one alarm, not one per sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cusum {
    k: f64,
    h: f64,
    clip: f64,
    up: f64,
    down: f64,
}

impl Default for Cusum {
    fn default() -> Self {
        Self::new(0.5, 12.0)
    }
}

impl Cusum {
    /// A CUSUM with allowance `k` and decision interval `h` (both in sigmas).
    pub fn new(k: f64, h: f64) -> Self {
        Self {
            k,
            h: h.max(1e-9),
            clip: 4.0,
            up: 0.0,
            down: 0.0,
        }
    }

    /// Decision interval.
    pub fn threshold(&self) -> f64 {
        self.h
    }

    /// Feeds a standardised residual; returns the signed statistic (positive: upward shift) before
    /// any reset. Crossing `±h` means a change point.
    pub fn update(&mut self, z: f64) -> f64 {
        if !z.is_finite() {
            return 0.0;
        }
        let z = z.clamp(-self.clip, self.clip);
        self.up = (self.up + z - self.k).max(0.0);
        self.down = (self.down - z - self.k).max(0.0);
        let s = if self.up >= self.down {
            self.up
        } else {
            -self.down
        };
        if self.up > self.h || self.down > self.h {
            self.up = 0.0;
            self.down = 0.0;
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn detects_sustained_shift_not_single_spike() {
        let mut c = Cusum::default();
        for _ in 0..100 {
            assert!(c.update(0.3).abs() < c.threshold());
        }
        assert!(c.update(50.0).abs() < c.threshold());
        let mut fired = false;
        for _ in 0..20 {
            if c.update(1.5) > c.threshold() {
                fired = true;
                break;
            }
        }
        assert!(fired);
    }

    #[test]
    fn ignores_nan() {
        let mut c = Cusum::default();
        assert_eq!(c.update(f64::NAN), 0.0);
    }
}
