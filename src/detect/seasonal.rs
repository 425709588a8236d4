//! Seasonal-baseline detector: additive Holt–Winters with time-of-period bins, for a daily and a
//! weekly period learnt side by side; the period in use is chosen from the data.

use super::level::MAD_TO_SIGMA;
use super::{Evidence, scale_floor};
use crate::chunked::{Chunked, deserialize_with_fill};

/// One day in seconds.
pub(crate) const DAY: f64 = 86_400.0;
/// One week in seconds.
pub(crate) const WEEK: f64 = 604_800.0;

/// Most bins a daily profile may have (5-minute resolution).
const DAILY_BINS_MAX: usize = 288;
/// Most bins a weekly profile may have (15-minute resolution).
const WEEKLY_BINS_MAX: usize = 672;
/// Visits after which a bin's seasonal value is learnt at a fixed rate (1/8) rather than as
/// the mean of its visits so far.
const SEASON_SPAN: u8 = 8;
const _: () = assert!(
    SEASON_SPAN <= Counts::MAX,
    "a bin's count must hold the season span"
);

/// A seasonal model is used only when its mean absolute error is below this fraction of the
/// non-seasonal baseline's error.
const SELECT_RATIO: f64 = 0.75;

/// One candidate period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Profile {
    period: f64,
    #[serde(deserialize_with = "zero_f32")]
    seasonal: Chunked<f32>,
    counts: Counts,
    level: f64,
    mad: f64,
    n: u32,
    /// Mean absolute one-step error of this model, and of the plain level over the same samples.
    err_model: f64,
    err_plain: f64,
    n_err: u32,
}

fn zero_f32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Chunked<f32>, D::Error> {
    deserialize_with_fill(d, 0.0)
}

/// How often each bin has been learnt (0 to the profile's season span, at most 15), two bins to
/// a byte: a week of 15-minute bins takes 336 bytes, not 672. It serialises as one count per
/// bin, as the plain array of counts it replaces.
#[derive(Debug, Clone, PartialEq)]
struct Counts {
    packed: Chunked<u8>,
    bins: usize,
}

impl Counts {
    /// Most a bin's count can hold.
    const MAX: u8 = 15;

    fn new(bins: usize) -> Self {
        Counts {
            packed: Chunked::new(bins.div_ceil(2), 0),
            bins,
        }
    }

    fn len(&self) -> usize {
        self.bins
    }

    /// Count of bin `b` (panics out of bounds, as a slice does).
    fn get(&self, b: usize) -> u8 {
        assert!(b < self.bins, "bin {b} out of {}", self.bins);
        let byte = self.packed.get(b / 2);
        if b.is_multiple_of(2) {
            byte & 0x0f
        } else {
            byte >> 4
        }
    }

    /// Sets bin `b`'s count (at most [`Counts::MAX`]).
    fn set(&mut self, b: usize, c: u8) {
        assert!(b < self.bins, "bin {b} out of {}", self.bins);
        let c = c.min(Self::MAX);
        let byte = self.packed.get(b / 2);
        let byte = if b.is_multiple_of(2) {
            (byte & 0xf0) | c
        } else {
            (byte & 0x0f) | (c << 4)
        };
        self.packed.set(b / 2, byte);
    }

    fn heap_bytes(&self) -> usize {
        self.packed.heap_bytes()
    }
}

impl serde::Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((0..self.bins).map(|b| self.get(b)))
    }
}

impl<'de> serde::Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let plain = Vec::<u8>::deserialize(d)?;
        let mut c = Counts::new(plain.len());
        for (b, &n) in plain.iter().enumerate() {
            c.set(b, n);
        }
        Ok(c)
    }
}

impl Profile {
    fn new(period: f64, dt: f64, max_bins: usize) -> Self {
        let bins = ((period / dt.max(1e-9)).round() as usize).clamp(4, max_bins);
        Self {
            period,
            seasonal: Chunked::new(bins, 0.0),
            counts: Counts::new(bins),
            level: 0.0,
            mad: 0.0,
            n: 0,
            err_model: 0.0,
            err_plain: 0.0,
            n_err: 0,
        }
    }

    fn bin(&self, t: f64) -> usize {
        let cycles = t / self.period;
        let phase = cycles - cycles.floor();
        let b = (phase * self.seasonal.len() as f64) as usize;
        b.min(self.seasonal.len() - 1)
    }

    fn sigma(&self) -> f64 {
        (self.mad * MAD_TO_SIGMA).max(scale_floor(self.level))
    }

    fn predict(&self, t: f64) -> Option<f64> {
        let b = self.bin(t);
        (self.counts.get(b) > 0 && self.n > 1).then(|| self.level + f64::from(self.seasonal.get(b)))
    }

    fn learn(&mut self, t: f64, x: f64, plain_pred: Option<f64>, span: u32, season_span: u8) {
        let b = self.bin(t);
        self.n = self.n.saturating_add(1);
        if self.n == 1 {
            self.level = x;
        }
        if self.counts.get(b) == 0 {
            self.seasonal.set(b, (x - self.level) as f32);
            self.counts.set(b, 1);
            return;
        }
        let pred = self.level + f64::from(self.seasonal.get(b));
        let r = x - pred;
        let sigma = self.sigma();
        let warm = self.n_err > 16;
        let lim = 4.0 * sigma;
        let rc = if warm { r.clamp(-lim, lim) } else { r };
        if let Some(pp) = plain_pred {
            let b_err = 1.0 / f64::from(self.n_err.saturating_add(1).min(span.saturating_mul(8)));
            self.n_err = self.n_err.saturating_add(1);
            self.err_model += b_err * (r.abs() - self.err_model);
            self.err_plain += b_err * ((x - pp).abs() - self.err_plain);
        }
        let a = 1.0 / f64::from(self.n.min(span));
        self.level += a * rc;
        let c = self.counts.get(b).saturating_add(1).min(season_span);
        self.counts.set(b, c);
        let g = 1.0 / f64::from(c);
        let s = f64::from(self.seasonal.get(b));
        self.seasonal.set(b, (s + g * (x - self.level - s)) as f32);
        let bm = 1.0 / f64::from(self.n.min(span.saturating_mul(4)));
        let ar = if warm { r.abs().min(lim) } else { r.abs() };
        self.mad += bm * (ar - self.mad);
    }

    /// Its arrays can be indexed as its bins say (a profile read back from a checkpoint).
    fn consistent(&self) -> bool {
        !self.seasonal.is_empty() && self.counts.len() == self.seasonal.len()
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.seasonal.heap_bytes() + self.counts.heap_bytes()
    }
}

/// Seasonal baseline with data-driven period choice (daily, weekly or none).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Seasonal {
    t_start: f64,
    profiles: Vec<Profile>,
    /// Level span in samples (a fraction of a day).
    span: u32,
    active: Option<usize>,
}

impl Seasonal {
    /// A detector for a series sampled every `dt` seconds, starting at `t_start`.
    pub fn new(t_start: f64, dt: f64) -> Self {
        let dt = dt.max(1e-3);
        let per_day = (DAY / dt).max(1.0);
        let span = ((per_day / 8.0).round() as u32).clamp(4, 256);
        Self {
            t_start,
            profiles: vec![
                Profile::new(DAY, dt, DAILY_BINS_MAX),
                Profile::new(WEEK, dt, WEEKLY_BINS_MAX),
            ],
            span,
            active: None,
        }
    }

    /// Its profiles can be indexed as they say, the active one exists and its span is not zero
    /// (a detector read back from a checkpoint, which may have been damaged or forged).
    pub(crate) fn consistent(&self) -> bool {
        self.span >= 1
            && self.profiles.iter().all(Profile::consistent)
            && self.active.is_none_or(|i| i < self.profiles.len())
    }

    /// A detector whose daily profile has no bins (as a forged checkpoint could hold).
    #[cfg(test)]
    pub(crate) fn broken_for_test() -> Self {
        let mut s = Self::new(0.0, 60.0);
        s.profiles[0].seasonal = Chunked::new(0, 0.0);
        s
    }

    /// The period in use, in seconds, if the series is seasonal.
    pub fn period(&self) -> Option<f64> {
        self.active.map(|i| self.profiles[i].period)
    }

    /// Evidence for `x` at time `t` from the active profile (before learning it).
    pub fn evidence(&self, t: f64, x: f64) -> Option<Evidence> {
        let p = &self.profiles[self.active?];
        let expected = p.predict(t)?;
        let sigma = p.sigma();
        Some(Evidence {
            expected,
            z: (x - expected) / sigma,
            sigma,
        })
    }

    /// Learns `x` at time `t`; `plain_pred` is the non-seasonal baseline's prediction, used to
    /// decide whether seasonality is real.
    pub(crate) fn learn(&mut self, t: f64, x: f64, plain_pred: Option<f64>) {
        for p in &mut self.profiles {
            p.learn(t, x, plain_pred, self.span, SEASON_SPAN);
        }
        let elapsed = t - self.t_start;
        let mut best: Option<(usize, f64)> = None;
        for (i, p) in self.profiles.iter().enumerate() {
            if elapsed < 2.0 * p.period || p.n_err < 32 {
                continue;
            }
            let ratio = p.err_model / p.err_plain.max(f64::MIN_POSITIVE);
            // Hysteresis: keep the active profile until it is clearly worse.
            let need = if self.active == Some(i) {
                SELECT_RATIO + 0.1
            } else {
                SELECT_RATIO
            };
            if ratio < need && best.is_none_or(|(_, r)| ratio < r * 0.9) {
                best = Some((i, ratio));
            }
        }
        self.active = best.map(|(i, _)| i);
    }

    /// Bytes of state including the profiles.
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.profiles.iter().map(Profile::bytes).sum::<usize>()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_two_to_a_byte_read_and_serialise_as_one_a_bin() {
        let mut c = Counts::new(7);
        let want = [3u8, 0, 8, 15, 1, 0, 15];
        for (b, &n) in want.iter().enumerate() {
            c.set(b, n);
        }
        c.set(6, 200); // more than a count holds: the most it holds
        assert_eq!((0..7).map(|b| c.get(b)).collect::<Vec<_>>(), want);
        let bytes = rmp_serde::to_vec(&c).unwrap();
        assert_eq!(bytes, rmp_serde::to_vec(&want.to_vec()).unwrap());
        assert_eq!(rmp_serde::from_slice::<Counts>(&bytes).unwrap(), c);
        assert_eq!(c.packed.len(), 4);
    }

    fn daily(t: f64) -> f64 {
        50.0 + 20.0 * (2.0 * std::f64::consts::PI * t / DAY).sin()
    }

    #[test]
    fn finds_daily_period_and_flags_break() {
        let dt = 300.0;
        let mut s = Seasonal::new(0.0, dt);
        let mut plain = super::super::level::RobustLevel::new(32, 256);
        let mut rng = 1u64;
        for i in 0..(5 * 288) {
            let t = i as f64 * dt;
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((rng >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 2.0;
            let x = daily(t) + noise;
            s.learn(t, x, plain.evidence(x).map(|e| e.expected));
            plain.learn(x);
        }
        assert_eq!(s.period(), Some(DAY));
        let t = 5.0 * DAY + 6.0 * 3600.0;
        let e = s.evidence(t, daily(t)).unwrap();
        assert!(e.z.abs() < 3.0, "{e:?}");
        let e = s.evidence(t, daily(t) + 30.0).unwrap();
        assert!(e.z > 5.0, "{e:?}");
    }

    #[test]
    fn white_noise_is_not_seasonal() {
        let dt = 300.0;
        let mut s = Seasonal::new(0.0, dt);
        let mut plain = super::super::level::RobustLevel::new(32, 256);
        let mut rng = 7u64;
        for i in 0..(5 * 288) {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let x = (rng >> 33) as f64 / (1u64 << 31) as f64;
            s.learn(i as f64 * dt, x, plain.evidence(x).map(|e| e.expected));
            plain.learn(x);
        }
        assert_eq!(s.period(), None);
    }

    #[test]
    fn a_profile_without_bins_or_a_missing_active_one_is_inconsistent() {
        assert!(Seasonal::new(0.0, 60.0).consistent());
        assert!(!Seasonal::broken_for_test().consistent());
        let mut s = Seasonal::new(0.0, 60.0);
        s.active = Some(2);
        assert!(!s.consistent());
        let mut s = Seasonal::new(0.0, 60.0);
        s.profiles[1].counts = Counts::new(3);
        assert!(!s.consistent());
        let mut s = Seasonal::new(0.0, 60.0);
        s.span = 0;
        assert!(!s.consistent());
    }

    #[test]
    fn state_is_small() {
        let s = Seasonal::new(0.0, 1.0);
        assert!(s.state_bytes() < 16 * 1024, "{}", s.state_bytes());
    }
}
