//! Change-point detector: two-sided CUSUM on standardised residuals.

/// Two-sided CUSUM (Page 1954) on residuals already expressed in robust sigmas.
///
/// Residuals are clipped to `±clip` so that one spike cannot trigger it alone: it answers "has
/// the mean shifted?" rather than "is this sample odd?". After the statistic crosses `h` it
/// resets, so a shift raises one alarm, not one per sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Cusum {
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

    /// How often, at most, a CUSUM fed independent standard normal residuals stands at `s` or
    /// beyond (either side) at a given time: each side is a random walk with drift `-k`
    /// reflected at 0, whose stationary tail Lundberg's inequality bounds by `exp(-2k|s|)` (the
    /// rate that makes `E[exp(θ(z - k))] = 1`). A value that residuals of the size the
    /// detectors believe would reach this often is not a rare shift, however rarely this
    /// series' own residuals have reached it.
    pub(crate) fn tail_bound(&self, s: f64) -> f64 {
        (2.0 * (-2.0 * self.k * s.abs()).exp()).min(1.0)
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

    /// The bound holds for standard normal residuals, and is close: in a long simulated run the
    /// share of time the statistic stands at or beyond each level is between 0.5 and 0.62 of
    /// the bound (Lundberg's inequality leaves out a constant factor; a bound halved or doubled
    /// fails).
    #[test]
    fn the_tail_bound_holds_for_normal_residuals() {
        let mut c = Cusum::new(0.5, 1e9);
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let levels = [1.0, 2.0, 4.0, 6.0];
        let mut at = [0u32; 4];
        let n = 400_000;
        for _ in 0..n {
            // Box–Muller
            let z = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
            let s = c.update(z).abs();
            for (a, l) in at.iter_mut().zip(levels) {
                *a += u32::from(s >= l);
            }
        }
        for (a, l) in at.iter().zip(levels) {
            let share = f64::from(*a) / f64::from(n);
            let bound = c.tail_bound(l);
            assert!(
                (0.5 * bound..=0.62 * bound).contains(&share),
                "at {l}: {share} is not between 0.5 and 0.62 of {bound}"
            );
        }
    }

    #[test]
    fn ignores_nan() {
        let mut c = Cusum::default();
        assert_eq!(c.update(f64::NAN), 0.0);
    }
}
