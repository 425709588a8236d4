//! Resource recommendations in the manner of the Kubernetes Vertical Pod Autoscaler's
//! recommender: a decaying histogram of what a container really uses, read at a percentile,
//! with a safety margin and bounds. Every constant is the VPA recommender's default, not
//! chosen on pitcrew's data:
//!
//! - **buckets**: exponential, the first 0.01 cores (CPU) or 10 MB (memory) wide, each 5 %
//!   wider than the last;
//! - **decay**: a sample's weight doubles every 24 hours of its timestamp (the half-life of
//!   the VPA's `cpu-histogram-decay-half-life`), so a day-old sample counts half as much as
//!   one from now;
//! - **target**: the 90th percentile of CPU use and of the memory working set
//!   (`target-cpu-percentile`, `target-memory-percentile`, both 0.9), plus a **15 % margin**
//!   (`recommendation-margin-fraction`);
//! - **bounds**: the lower bound the 50th percentile, the upper bound the 95th, each with the
//!   margin, widened by the confidence in the history — `upper × (1 + 1/days)`,
//!   `lower × (1 + 0.001/days)^-2`, days the span of the history (at most the number of days
//!   of samples at one a minute); at least 25 millicores and 250 MiB (`pod-recommendation-min-*`).
//!
//! The recommender in the VPA reads memory as the peak of each day; pitcrew's samples are
//! already the working set at each step, so memory is read like CPU (a simplification, said
//! here).

/// The first bucket's width, cores.
const CPU_FIRST: f64 = 0.01;
/// The first bucket's width, bytes.
const MEMORY_FIRST: f64 = 1e7;
/// Each bucket this much wider than the last.
const RATIO: f64 = 1.05;
/// Buckets (to ~1,000 cores, or ~1 TB).
const BUCKETS: usize = 176;
/// A sample's weight doubles every this many seconds of its timestamp.
const HALF_LIFE: f64 = 86_400.0;
/// The target's percentile.
const TARGET: f64 = 0.9;
/// The lower bound's.
const LOWER: f64 = 0.5;
/// The upper bound's.
const UPPER: f64 = 0.95;
/// The safety margin.
const MARGIN: f64 = 0.15;
/// The fewest cores recommended.
pub const MIN_CPU: f64 = 0.025;
/// The fewest bytes recommended.
pub const MIN_MEMORY: f64 = 250.0 * 1024.0 * 1024.0;

/// A decaying histogram of one resource's use.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    first: f64,
    weights: Vec<f64>,
    /// The timestamp weights are relative to (weights are stored as `2^((t - reference) /
    /// HALF_LIFE)` and rescaled when they would grow large).
    reference: f64,
    total: f64,
    first_t: Option<f64>,
    last_t: Option<f64>,
    samples: u64,
}

impl Histogram {
    /// Empty, with the first bucket `first` wide.
    fn new(first: f64) -> Histogram {
        Histogram {
            first,
            weights: vec![0.0; BUCKETS],
            reference: f64::NAN,
            total: 0.0,
            first_t: None,
            last_t: None,
            samples: 0,
        }
    }

    /// For CPU use, cores.
    pub fn cpu() -> Histogram {
        Histogram::new(CPU_FIRST)
    }

    /// For memory, bytes.
    pub fn memory() -> Histogram {
        Histogram::new(MEMORY_FIRST)
    }

    /// The bucket of `v`: bucket k spans `[first·(r^k − 1)/(r − 1), first·(r^(k+1) − 1)/(r − 1))`.
    fn bucket(&self, v: f64) -> usize {
        let k = ((v * (RATIO - 1.0) / self.first) + 1.0).ln() / RATIO.ln();
        (k.floor().max(0.0) as usize).min(BUCKETS - 1)
    }

    /// The start of bucket `k`.
    fn start(&self, k: usize) -> f64 {
        self.first * (RATIO.powi(k as i32) - 1.0) / (RATIO - 1.0)
    }

    /// Add a sample `v` taken at `t` (seconds). A value that is not a finite non-negative
    /// number, or a time that is not finite, is left out (missing data, not zero use).
    pub fn add(&mut self, t: f64, v: f64) {
        if !(v.is_finite() && v >= 0.0 && t.is_finite()) {
            return;
        }
        if self.reference.is_nan() {
            self.reference = t;
        }
        // keep the weights within range: move the reference forward when they grow large
        if (t - self.reference) / HALF_LIFE > 100.0 {
            let shift = ((t - self.reference) / HALF_LIFE).floor();
            let scale = 2f64.powf(-shift);
            for w in &mut self.weights {
                *w *= scale;
            }
            self.total *= scale;
            self.reference += shift * HALF_LIFE;
        }
        let w = 2f64.powf((t - self.reference) / HALF_LIFE);
        let k = self.bucket(v);
        self.weights[k] += w;
        self.total += w;
        self.first_t = Some(self.first_t.map_or(t, |f| f.min(t)));
        self.last_t = Some(self.last_t.map_or(t, |l| l.max(t)));
        self.samples += 1;
    }

    /// The value at percentile `p` (0..1): the end of the bucket where the cumulative weight
    /// reaches it, as the VPA reads its histograms. `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.total <= 0.0 {
            return None;
        }
        let want = p.clamp(0.0, 1.0) * self.total;
        let mut sum = 0.0;
        for (k, w) in self.weights.iter().enumerate() {
            sum += w;
            if sum >= want && *w > 0.0 {
                return Some(self.start(k + 1));
            }
        }
        Some(self.start(BUCKETS))
    }

    /// Days of history it rests on: its span, at most the days of samples at one a minute.
    pub fn confidence_days(&self) -> f64 {
        match (self.first_t, self.last_t) {
            (Some(a), Some(b)) => ((b - a) / 86_400.0).min(self.samples as f64 / 1440.0),
            _ => 0.0,
        }
    }
}

/// What one resource should be set to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    /// The request to set.
    pub target: f64,
    /// Below this the container is starved.
    pub lower: f64,
    /// Above this it is wasted.
    pub upper: f64,
}

/// The recommendation of a histogram, at least `min`; `None` with no samples.
pub fn recommend(h: &Histogram, min: f64) -> Option<Recommendation> {
    let with_margin = |p: f64| h.percentile(p).map(|v| (v * (1.0 + MARGIN)).max(min));
    let (target, lower, upper) = (
        with_margin(TARGET)?,
        with_margin(LOWER)?,
        with_margin(UPPER)?,
    );
    let days = h.confidence_days().max(1e-6);
    let upper = (upper * (1.0 + 1.0 / days)).max(target);
    let lower = (lower * (1.0 + 0.001 / days).powi(-2)).min(target).max(min);
    Some(Recommendation {
        target,
        lower,
        upper,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_five_percent_and_hold_their_values() {
        let h = Histogram::cpu();
        for v in [0.0, 0.004, 0.02, 0.5, 1.0, 3.7, 64.0] {
            let k = h.bucket(v);
            assert!(h.start(k) <= v + 1e-12 && v < h.start(k + 1), "{v} in {k}");
        }
        let widths: Vec<f64> = (0..3).map(|k| h.start(k + 1) - h.start(k)).collect();
        assert!((widths[1] / widths[0] - RATIO).abs() < 1e-9);
        // far beyond the last bucket: the last one
        assert_eq!(h.bucket(1e12), BUCKETS - 1);
    }

    #[test]
    fn the_target_is_the_ninetieth_percentile_plus_the_margin() {
        let mut h = Histogram::cpu();
        // a week at one sample a minute: 0.2 cores 80 % of the time, 0.6 cores 20 %
        for i in 0..7 * 1440 {
            let v = if i % 5 == 0 { 0.6 } else { 0.2 };
            h.add(f64::from(i) * 60.0, v);
        }
        let r = recommend(&h, MIN_CPU).expect("samples");
        let end = |v: f64| h.start(h.bucket(v) + 1);
        // p90 lies in the 0.6 bucket: its end, with the 15 % margin
        assert!((r.target - end(0.6) * 1.15).abs() < 1e-12, "{r:?}");
        assert!(end(0.6) < 0.6 * 1.05, "buckets are narrow: {}", end(0.6));
        // the median in the 0.2 bucket (the lower bound barely below it after a week)
        assert!((r.lower - end(0.2) * 1.15).abs() < 1e-4, "{r:?}");
        // p95 in the 0.6 bucket too; a week of history: 1/7 above it
        let want = end(0.6) * 1.15 * (1.0 + 1.0 / h.confidence_days());
        assert!((r.upper - want).abs() < 1e-12, "{r:?}");
        assert!((h.confidence_days() - 7.0).abs() < 0.01);
    }

    #[test]
    fn old_use_fades_new_use_counts() {
        let mut h = Histogram::memory();
        let gib = 1024.0 * 1024.0 * 1024.0;
        // four days at 4 GiB, then ten at 1 GiB: a sample weighs half of one a day newer, so
        // the 4 GiB days weigh under 0.1 % of the whole and p90 is the 1 GiB use
        for i in 0..4 * 1440 {
            h.add(f64::from(i) * 60.0, 4.0 * gib);
        }
        for i in 4 * 1440..14 * 1440 {
            h.add(f64::from(i) * 60.0, gib);
        }
        let r = recommend(&h, MIN_MEMORY).expect("samples");
        assert!(r.target < 1.25 * gib, "{}", r.target / gib);
        // missing data is not zero use
        let before = h.clone();
        h.add(1e6, f64::NAN);
        h.add(f64::NAN, 1.0);
        h.add(1e6, -1.0);
        assert_eq!(h, before);
    }

    #[test]
    fn little_history_widens_the_bounds_and_the_floor_holds() {
        let mut h = Histogram::cpu();
        for i in 0..60 {
            h.add(f64::from(i) * 60.0, 0.001);
        }
        let r = recommend(&h, MIN_CPU).expect("samples");
        // an hour of idle: the floor, and an upper bound far above it (1/24 of a day)
        assert_eq!(r.target, MIN_CPU);
        assert!(r.upper > 10.0 * MIN_CPU, "{r:?}");
        assert_eq!(recommend(&Histogram::cpu(), MIN_CPU), None);
    }
}
