//! The bounded multi-resolution history kept for each model, as `f32` in fixed-capacity
//! rings, so that memory per model is bounded whatever the session length (and, the rings
//! being chunked, grows only with what has been seen):
//! - *fine*: every sample (the source's own step, 5 s for the simulator), last [`FINE_LEN`];
//! - *mid*: one-minute means, last [`MID_LEN`] (6 h), with the detectors' expected band (its
//!   edges kept as `bf16` distances from the minute's mean: half the memory, and a distance
//!   rounded to 0.4 % of itself, a fraction of a character cell on any chart);
//! - *coarse*: five-minute means, last [`COARSE_LEN`] (24 h);
//! - *demand*: five-minute means of the request rate, last [`DEMAND_LEN`] (7 days).

use super::ring::{Ring, RingOf};
use super::times::{BucketTimes, SampleTimes};
use super::{Sample, Signal};
use half::bf16;

/// Running mean over a bucket of samples, ignoring NaN.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Acc {
    sum: f64,
    n: u32,
}

impl Acc {
    /// Add a value (NaN and infinities are ignored).
    pub(crate) fn add(&mut self, v: f32) {
        if v.is_finite() {
            self.sum += f64::from(v);
            self.n += 1;
        }
    }
    /// The mean so far (NaN when empty), and start again.
    pub fn take(&mut self) -> f32 {
        let v = if self.n == 0 {
            f32::NAN
        } else {
            (self.sum / f64::from(self.n)) as f32
        };
        *self = Acc::default();
        v
    }
}

/// Samples kept at the source's step: 15 minutes at 5 s.
pub(crate) const FINE_LEN: usize = 180;
/// One-minute means: 6 hours.
pub(crate) const MID_LEN: usize = 360;
/// Five-minute means: 24 hours.
pub(crate) const COARSE_LEN: usize = 288;
/// Five-minute means of the request rate kept for forecasting: 7 days.
pub(crate) const DEMAND_LEN: usize = 2016;
/// Width of a mid bucket, seconds.
pub(crate) const MID_STEP: f64 = 60.0;
/// Width of a coarse bucket, seconds.
pub(crate) const COARSE_STEP: f64 = 300.0;

/// Samples further than this from 1970 (in seconds, about 4,000 years either way) are not
/// kept: the one-minute bucket numbers of every time kept fit an `i32`.
pub(crate) const MAX_ABS_TIME: f64 = i32::MAX as f64 * MID_STEP;

/// Which resolution a chart window reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Every sample.
    Fine,
    /// One-minute means.
    Mid,
    /// Five-minute means.
    Coarse,
}

/// Bounded history of every signal of one model at three resolutions.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "wire::History", into = "wire::History")]
pub struct History {
    fine: [Ring; Signal::COUNT],
    fine_t: SampleTimes,
    mid: [Ring; Signal::COUNT],
    mid_t: BucketTimes<{ MID_STEP as u32 }>,
    coarse: [Ring; Signal::COUNT],
    coarse_t: BucketTimes<{ COARSE_STEP as u32 }>,
    mid_acc: [Acc; Signal::COUNT],
    coarse_acc: [Acc; Signal::COUNT],
    demand: Ring,
    demand_t: BucketTimes<{ COARSE_STEP as u32 }>,
    /// How far below the minute's mean the band's low edge is.
    band_lo: [RingOf<bf16>; Signal::COUNT],
    /// How far above the minute's mean the band's high edge is.
    band_hi: [RingOf<bf16>; Signal::COUNT],
    band_lo_acc: [Acc; Signal::COUNT],
    band_hi_acc: [Acc; Signal::COUNT],
    mid_bucket: Option<i64>,
    coarse_bucket: Option<i64>,
    last_t: Option<f64>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// Make a ring's head point past its buffer (as a damaged checkpoint could).
    #[cfg(test)]
    pub(crate) fn break_ring_for_test(&mut self) {
        self.fine[0].break_for_test();
    }

    /// Every ring's head and length fit its buffer (a history read back from a checkpoint).
    pub(crate) fn consistent(&self) -> bool {
        let rings = self
            .fine
            .iter()
            .chain(&self.mid)
            .chain(&self.coarse)
            .chain(std::iter::once(&self.demand));
        let bands = self.band_lo.iter().chain(&self.band_hi);
        let times = [
            self.fine_t.consistent(),
            self.mid_t.consistent(),
            self.coarse_t.consistent(),
            self.demand_t.consistent(),
        ];
        rings.into_iter().all(Ring::consistent)
            && bands.into_iter().all(RingOf::consistent)
            && times.iter().all(|&ok| ok)
    }
    /// An empty history.
    pub fn new() -> Self {
        History {
            fine: std::array::from_fn(|_| Ring::new(FINE_LEN)),
            fine_t: SampleTimes::new(FINE_LEN),
            mid: std::array::from_fn(|_| Ring::new(MID_LEN)),
            mid_t: BucketTimes::new(MID_LEN),
            coarse: std::array::from_fn(|_| Ring::new(COARSE_LEN)),
            coarse_t: BucketTimes::new(COARSE_LEN),
            mid_acc: [Acc::default(); Signal::COUNT],
            coarse_acc: [Acc::default(); Signal::COUNT],
            demand: Ring::new(DEMAND_LEN),
            demand_t: BucketTimes::new(DEMAND_LEN),
            band_lo: std::array::from_fn(|_| RingOf::new(MID_LEN)),
            band_hi: std::array::from_fn(|_| RingOf::new(MID_LEN)),
            band_lo_acc: [Acc::default(); Signal::COUNT],
            band_hi_acc: [Acc::default(); Signal::COUNT],
            mid_bucket: None,
            coarse_bucket: None,
            last_t: None,
        }
    }

    /// Time of the newest sample.
    pub(crate) fn last_time(&self) -> Option<f64> {
        self.last_t
    }

    /// Record a sample taken at `t` (unix seconds). A sample older than the newest one is
    /// dropped (returns false): histories only move forward. So is one whose time is not
    /// finite or beyond [`MAX_ABS_TIME`].
    pub fn push(&mut self, t: f64, s: &Sample) -> bool {
        self.push_with_band(t, s, &[(f32::NAN, f32::NAN); Signal::COUNT])
    }

    /// [`History::push`] with the detectors' expected band `(lo, hi)` per signal (NaN when
    /// none), kept as one-minute means beside the values.
    pub(crate) fn push_with_band(
        &mut self,
        t: f64,
        s: &Sample,
        band: &[(f32, f32); Signal::COUNT],
    ) -> bool {
        if !t.is_finite() || t.abs() > MAX_ABS_TIME || self.last_t.is_some_and(|last| t <= last) {
            return false;
        }
        self.last_t = Some(t);
        self.fine_t.push(t);
        for (i, ring) in self.fine.iter_mut().enumerate() {
            ring.push(s.values[i]);
        }
        let mb = (t / MID_STEP).floor() as i64;
        if let Some(cur) = self.mid_bucket
            && cur != mb
        {
            for i in 0..Signal::COUNT {
                let v = self.mid_acc[i].take();
                self.mid[i].push(v);
                let lo = self.band_lo_acc[i].take();
                self.band_lo[i].push(bf16::from_f32(v - lo));
                let hi = self.band_hi_acc[i].take();
                self.band_hi[i].push(bf16::from_f32(hi - v));
            }
            self.mid_t.push(cur);
        }
        self.mid_bucket = Some(mb);
        let cb = (t / COARSE_STEP).floor() as i64;
        if let Some(cur) = self.coarse_bucket
            && cur != cb
        {
            for i in 0..Signal::COUNT {
                let v = self.coarse_acc[i].take();
                if i == Signal::RequestRate.index() {
                    self.demand.push(v);
                    self.demand_t.push(cur);
                }
                self.coarse[i].push(v);
            }
            self.coarse_t.push(cur);
        }
        self.coarse_bucket = Some(cb);
        for (i, &(lo, hi)) in band.iter().enumerate() {
            self.mid_acc[i].add(s.values[i]);
            self.coarse_acc[i].add(s.values[i]);
            self.band_lo_acc[i].add(lo);
            self.band_hi_acc[i].add(hi);
        }
        true
    }

    /// The expected band `(t, lo, hi)` of a signal from `since` on, as one-minute means (the
    /// last six hours are kept).
    pub(crate) fn band(&self, s: Signal, since: f64) -> Vec<(f64, f64, f64)> {
        let n = self.band_lo[s.index()].len();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            if let (Some(t), Some((a, b))) = (self.mid_t.get(i), self.band_at(s.index(), i))
                && t >= since
                && a.is_finite()
                && b.is_finite()
            {
                out.push((t, f64::from(a), f64::from(b)));
            }
        }
        out
    }

    /// The band's edges at the `k`-th oldest minute of signal `i` (NaN where it had none).
    fn band_at(&self, i: usize, k: usize) -> Option<(f32, f32)> {
        let v = self.mid[i].get(k)?;
        let lo = self.band_lo[i].get(k)?;
        let hi = self.band_hi[i].get(k)?;
        Some((v - lo.to_f32(), v + hi.to_f32()))
    }

    /// The newest value of a signal.
    pub fn last(&self, s: Signal) -> f32 {
        self.fine[s.index()].last().unwrap_or(f32::NAN)
    }

    /// Number of completed one-minute buckets.
    pub(crate) fn mid_len(&self) -> usize {
        self.mid_t.len()
    }

    /// The last `n` completed one-minute means of a signal, oldest first.
    pub(crate) fn minute_tail(&self, s: Signal, n: usize) -> impl Iterator<Item = f32> + '_ {
        self.mid[s.index()].tail(n)
    }

    /// Points `(t, v)` of a signal from `since` on, read at resolution `r`.
    pub fn series(&self, s: Signal, r: Resolution, since: f64) -> Vec<(f64, f64)> {
        let i = s.index();
        match r {
            Resolution::Fine => points(
                &self.fine[i],
                |k| self.fine_t.get(k),
                |k| self.fine_t.iter_from(k),
                since,
            ),
            Resolution::Mid => points(
                &self.mid[i],
                |k| self.mid_t.get(k),
                |k| self.mid_t.iter_from(k),
                since,
            ),
            Resolution::Coarse => points(
                &self.coarse[i],
                |k| self.coarse_t.get(k),
                |k| self.coarse_t.iter_from(k),
                since,
            ),
        }
    }

    /// Five-minute means of the request rate `(t, v)`, up to seven days, oldest first (for
    /// forecasting demand).
    pub fn demand(&self) -> Vec<(f64, f64)> {
        let n = self.demand.len().min(self.demand_t.len());
        let mut out = Vec::with_capacity(n);
        for (t, v) in self
            .demand_t
            .iter_from(0)
            .zip(self.demand.iter_from(0))
            .take(n)
        {
            if v.is_finite() {
                out.push((t, f64::from(v)));
            }
        }
        out
    }

    /// Mean of a signal over `[from, to]`, read from the finest resolution that covers `from`
    /// (NaN when nothing is there).
    pub(crate) fn mean_between(&self, s: Signal, from: f64, to: f64) -> f64 {
        let fine_start = self.fine_t.get(0).unwrap_or(f64::INFINITY);
        let mid_start = self.mid_t.get(0).unwrap_or(f64::INFINITY);
        let r = if from >= fine_start {
            Resolution::Fine
        } else if from >= mid_start {
            Resolution::Mid
        } else {
            Resolution::Coarse
        };
        let (mut sum, mut n) = (0.0, 0.0);
        for (t, v) in self.series(s, r, from) {
            if t <= to && v.is_finite() {
                sum += v;
                n += 1.0;
            }
        }
        if n > 0.0 { sum / n } else { f64::NAN }
    }
}

/// The serialised form of a [`History`]: its band edges as `f32` values, as they were before
/// they were kept as distances from the minute's mean, so that every checkpoint reads back and
/// the same history is the same bytes however it was held.
mod wire {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct History {
        fine: [Ring; Signal::COUNT],
        fine_t: SampleTimes,
        mid: [Ring; Signal::COUNT],
        mid_t: BucketTimes<{ MID_STEP as u32 }>,
        coarse: [Ring; Signal::COUNT],
        coarse_t: BucketTimes<{ COARSE_STEP as u32 }>,
        mid_acc: [Acc; Signal::COUNT],
        coarse_acc: [Acc; Signal::COUNT],
        demand: Ring,
        demand_t: BucketTimes<{ COARSE_STEP as u32 }>,
        band_lo: [Ring; Signal::COUNT],
        band_hi: [Ring; Signal::COUNT],
        band_lo_acc: [Acc; Signal::COUNT],
        band_hi_acc: [Acc; Signal::COUNT],
        mid_bucket: Option<i64>,
        coarse_bucket: Option<i64>,
        last_t: Option<f64>,
    }

    impl From<super::History> for History {
        fn from(h: super::History) -> History {
            let edges = |pick: fn((f32, f32)) -> f32| {
                std::array::from_fn(|i| {
                    let mut r = Ring::new(h.band_lo[i].capacity());
                    for k in 0..h.band_lo[i].len() {
                        r.push(h.band_at(i, k).map_or(f32::NAN, pick));
                    }
                    r
                })
            };
            let band_lo = edges(|(lo, _)| lo);
            let band_hi = edges(|(_, hi)| hi);
            History {
                band_lo,
                band_hi,
                fine: h.fine,
                fine_t: h.fine_t,
                mid: h.mid,
                mid_t: h.mid_t,
                coarse: h.coarse,
                coarse_t: h.coarse_t,
                mid_acc: h.mid_acc,
                coarse_acc: h.coarse_acc,
                demand: h.demand,
                demand_t: h.demand_t,
                band_lo_acc: h.band_lo_acc,
                band_hi_acc: h.band_hi_acc,
                mid_bucket: h.mid_bucket,
                coarse_bucket: h.coarse_bucket,
                last_t: h.last_t,
            }
        }
    }

    impl TryFrom<History> for super::History {
        type Error = &'static str;

        fn try_from(w: History) -> Result<Self, Self::Error> {
            let fits = w
                .mid
                .iter()
                .chain(&w.band_lo)
                .chain(&w.band_hi)
                .all(Ring::consistent);
            if !fits {
                return Err("a history ring that does not fit its buffer");
            }
            // the distance of each edge from the minute's mean
            let distances = |edges: &[Ring; Signal::COUNT], below: bool| {
                std::array::from_fn(|i| {
                    let mut r = RingOf::new(edges[i].capacity());
                    for k in 0..edges[i].len() {
                        let v = w.mid[i].get(k).unwrap_or(f32::NAN);
                        let e = edges[i].get(k).unwrap_or(f32::NAN);
                        r.push(bf16::from_f32(if below { v - e } else { e - v }));
                    }
                    r
                })
            };
            let band_lo = distances(&w.band_lo, true);
            let band_hi = distances(&w.band_hi, false);
            Ok(super::History {
                band_lo,
                band_hi,
                fine: w.fine,
                fine_t: w.fine_t,
                mid: w.mid,
                mid_t: w.mid_t,
                coarse: w.coarse,
                coarse_t: w.coarse_t,
                mid_acc: w.mid_acc,
                coarse_acc: w.coarse_acc,
                demand: w.demand,
                demand_t: w.demand_t,
                band_lo_acc: w.band_lo_acc,
                band_hi_acc: w.band_hi_acc,
                mid_bucket: w.mid_bucket,
                coarse_bucket: w.coarse_bucket,
                last_t: w.last_t,
            })
        }
    }
}

/// The entries of `ring` from the first whose time is at or after `since`, with their times:
/// `time(k)` is the `k`-th oldest entry's time (for the bisection), `times_from(k)` the times from
/// the `k`-th on (read in one pass, not looked up one by one).
fn points<I: Iterator<Item = f64>>(
    ring: &Ring,
    time: impl Fn(usize) -> Option<f64>,
    times_from: impl FnOnce(usize) -> I,
    since: f64,
) -> Vec<(f64, f64)> {
    // times increase along the ring: find the first one at or after `since` by bisection
    let n = ring.len();
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if time(mid).is_some_and(|t| t >= since) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    times_from(lo)
        .zip(ring.iter_from(lo))
        .filter(|&(t, _)| t >= since)
        .map(|(t, v)| (t, f64::from(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(v: f32) -> Sample {
        Sample {
            values: [v; Signal::COUNT],
        }
    }

    #[test]
    fn times_beyond_the_bucket_range_are_dropped_and_memory_grows_with_data() {
        let mut h = History::new();
        let empty = h.fine[0].heap_bytes();
        assert!(!h.push(MAX_ABS_TIME * 2.0, &sample(1.0)));
        assert!(!h.push(f64::NAN, &sample(1.0)));
        assert!(h.push(-MAX_ABS_TIME, &sample(1.0)));
        assert!(h.push(-MAX_ABS_TIME + 600.0, &sample(2.0)));
        let mid = h.series(Signal::Cpu, Resolution::Mid, f64::NEG_INFINITY);
        assert_eq!(mid.len(), 1);
        assert_eq!(mid[0].0, (-MAX_ABS_TIME / MID_STEP).floor() * MID_STEP);
        assert!(h.fine[0].heap_bytes() > empty);
        // a week of five-minute demand is held only once seen: here one chunk, under a
        // quarter of the full ring (4 bytes a value)
        assert!(h.demand.heap_bytes() < DEMAND_LEN);
    }

    #[test]
    fn series_and_demand_after_the_rings_wrap() {
        let mut h = History::new();
        // 30 h at 60 s: every ring has wrapped
        for i in 0..1800 {
            h.push(i as f64 * 60.0, &sample((i % 97) as f32));
        }
        let mid = h.series(Signal::Cpu, Resolution::Mid, 0.0);
        assert_eq!(mid.len(), MID_LEN);
        assert!(mid.windows(2).all(|w| w[1].0 - w[0].0 == MID_STEP));
        assert_eq!(
            mid.last(),
            Some(&(1798.0 * 60.0, f64::from((1798 % 97) as f32)))
        );
        let since = h.series(Signal::Cpu, Resolution::Mid, 1700.0 * 60.0);
        assert_eq!(since.len(), 99);
        assert_eq!(since[0].0, 1700.0 * 60.0);
        let d = h.demand();
        assert_eq!(d.len(), 1799 * 60 / 300);
        assert!(d.windows(2).all(|w| w[1].0 - w[0].0 == COARSE_STEP));
    }

    #[test]
    fn history_drops_out_of_order_and_aggregates_minutes() {
        let mut h = History::new();
        for i in 0..30 {
            assert!(h.push(i as f64 * 5.0, &sample(i as f32)));
        }
        assert!(!h.push(10.0, &sample(99.0)), "older sample is dropped");
        assert!(!h.push(f64::NAN, &sample(99.0)));
        // 0..60 s → first minute holds samples 0..11, mean 5.5
        let m: Vec<f32> = h.minute_tail(Signal::Cpu, 5).collect();
        assert_eq!(m, vec![5.5, 17.5]);
        let pts = h.series(Signal::Cpu, Resolution::Fine, 100.0);
        assert_eq!(pts.first().map(|p| p.0), Some(100.0));
    }

    #[test]
    fn history_means_ignore_nan() {
        let mut h = History::new();
        h.push(0.0, &sample(1.0));
        h.push(5.0, &Sample::MISSING);
        h.push(60.0, &sample(3.0));
        assert_eq!(
            h.minute_tail(Signal::Accuracy, 1).collect::<Vec<_>>(),
            vec![1.0]
        );
    }
}
