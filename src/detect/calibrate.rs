//! Calibration: a decayed histogram of a detector's statistic on this series, giving the
//! probability of a value at least as surprising (Numenta's "anomaly likelihood" idea, with an
//! exponential tail beyond the record).

const HIST_BINS: usize = 96;
const HIST_WIDTH: f64 = 0.1;
/// Mass above which the tail is modelled as exponential.
const TAIL_FRACTION: f64 = 0.05;
/// Smallest tail scale (on the `ln(1+v)` axis).
const TAIL_BETA_MIN: f64 = 0.3;

/// A monotone, piecewise-linear approximation of `ln(1 + v)` for `v ≥ 0` (exponent plus
/// mantissa; within 0.06 of the true value), several times cheaper than `ln_1p`. Histogram bins
/// only need a monotone map, not an exact one.
#[inline]
fn fast_ln1p(v: f64) -> f64 {
    let x = 1.0 + if v.is_nan() { 0.0 } else { v.clamp(0.0, 1e300) };
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mant = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    (exp as f64 + (mant - 1.0)) * std::f64::consts::LN_2
}

/// The calibrator's bins (serde's arrays stop at 32) as a sequence, checked for length; bins
/// never counted in serialise as zeros and read back as not held.
mod bins {
    use super::HIST_BINS;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        a: &Option<Box<[f32; HIST_BINS]>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        a.as_deref()
            .unwrap_or(&[0.0; HIST_BINS])
            .as_slice()
            .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Box<[f32; HIST_BINS]>>, D::Error> {
        let v = Vec::<f32>::deserialize(d)?;
        let n = v.len();
        let a: [f32; HIST_BINS] = v.try_into().map_err(|_| {
            serde::de::Error::custom(format!("{n} calibration bins, expected {HIST_BINS}"))
        })?;
        Ok(a.iter().any(|&c| c != 0.0).then(|| Box::new(a)))
    }
}

/// Decayed histogram of a non-negative statistic on a `ln(1+v)` grid, giving an empirical tail
/// probability: how often, in the recent past, this detector has been at least this surprised.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Calibrator {
    /// Held from the first count on: a detector that never takes part (novelty when disabled,
    /// the seasonal one on a series with no season) holds none.
    #[serde(with = "bins")]
    counts: Option<Box<[f32; HIST_BINS]>>,
    total: f64,
    /// Weight of the next count (grows instead of decaying the old counts).
    weight: f64,
    pub(super) n: u32,
}

impl Calibrator {
    pub(super) fn new() -> Self {
        Self {
            counts: None,
            total: 0.0,
            weight: 1.0,
            n: 0,
        }
    }

    /// Bytes of its bins, once held.
    pub(super) fn heap_bytes(&self) -> usize {
        self.counts
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<[f32; HIST_BINS]>())
    }

    fn bin(v: f64) -> usize {
        let b = (fast_ln1p(v) / HIST_WIDTH) as usize;
        b.min(HIST_BINS - 1)
    }

    /// Tail probability of `v`. The body is the empirical (Laplace-smoothed) tail; beyond the
    /// top `TAIL_FRACTION` of the mass an exponential tail fitted to the excesses on the log scale
    /// takes over (peaks over threshold), so that rarer-than-ever values keep being ranked by how
    /// far beyond the record they are instead of all sharing the smallest empirical probability.
    pub(super) fn tail(&self, v: f64) -> f64 {
        let counts = self.counts.as_deref().unwrap_or(&[0.0; HIST_BINS]);
        let l = fast_ln1p(v);
        let b = Self::bin(v);
        // Sum whichever side of the bin is shorter.
        let above: f64 = if b < HIST_BINS / 2 {
            let below: f64 = counts[..b].iter().map(|&c| f64::from(c)).sum();
            (self.total - below).max(0.0)
        } else {
            counts[b..].iter().map(|&c| f64::from(c)).sum()
        };
        let p = (above + 0.5 * self.weight) / (self.total + self.weight);
        if above >= 0.5 * self.weight {
            return p;
        }
        // Beyond everything seen recently: extrapolate.
        let want = TAIL_FRACTION * self.total;
        let (mut mass, mut moment, mut q_bin, mut top) = (0.0, 0.0, 0, None);
        for (i, &c) in counts.iter().enumerate().rev() {
            let c = f64::from(c);
            if c > 0.0 && top.is_none() {
                top = Some(i);
            }
            mass += c;
            moment += c * (i as f64 + 0.5);
            q_bin = i;
            if mass >= want {
                break;
            }
        }
        let Some(top) = top else { return p };
        let lq = q_bin as f64 * HIST_WIDTH;
        let beta = (moment / mass.max(f64::MIN_POSITIVE) * HIST_WIDTH - lq).max(TAIL_BETA_MIN);
        let l_top = (top + 1) as f64 * HIST_WIDTH;
        p * (-(l - l_top).max(0.0) / beta).exp()
    }

    /// Adds `v`, forgetting the past with time constant `span` samples. Decay is applied lazily:
    /// new counts get a growing weight and everything is rescaled only when that weight grows
    /// large, so learning is O(1).
    pub(super) fn learn(&mut self, v: f64, span: u32) {
        self.n = self.n.saturating_add(1);
        let keep = 1.0 - 1.0 / f64::from(self.n.min(span.max(1)));
        if keep > 0.0 && keep < 1.0 {
            self.weight /= keep;
        }
        let counts = self
            .counts
            .get_or_insert_with(|| Box::new([0.0; HIST_BINS]));
        counts[Self::bin(v)] += self.weight as f32;
        self.total += self.weight;
        if self.weight > 1e12 {
            let k = 1.0 / self.weight;
            for c in counts.iter_mut() {
                *c = (f64::from(*c) * k) as f32;
            }
            self.total *= k;
            self.weight = 1.0;
        }
    }
}
