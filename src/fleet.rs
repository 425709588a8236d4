//! Models, signals, samples and the bounded multi-resolution history kept for each model.
//!
//! History is stored as `f32` in three fixed-size rings so that memory per model is bounded
//! (about 20 KiB) whatever the session length:
//! - *fine*: every sample (the source's own step, 5 s for the simulator), last [`FINE_LEN`];
//! - *mid*: one-minute means, last [`MID_LEN`] (6 h);
//! - *coarse*: five-minute means, last [`COARSE_LEN`] (24 h).

use crate::chunked::Chunked;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The signals pitcrew watches for every model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Requests per second.
    RequestRate,
    /// 95th percentile latency, milliseconds.
    LatencyP95,
    /// Share of requests that failed, 0..1.
    ErrorRate,
    /// Accuracy measured from delayed labels, 0..1.
    Accuracy,
    /// CPU utilisation of the serving pods, 0..1.
    Cpu,
    /// Ready replicas.
    Replicas,
}

impl Signal {
    /// Every signal, in display order.
    pub const ALL: [Signal; 6] = [
        Signal::RequestRate,
        Signal::LatencyP95,
        Signal::ErrorRate,
        Signal::Accuracy,
        Signal::Cpu,
        Signal::Replicas,
    ];
    /// Number of signals.
    pub const COUNT: usize = 6;

    /// Position in [`Signal::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Machine name (journal, config, CLI).
    pub fn name(self) -> &'static str {
        match self {
            Signal::RequestRate => "request_rate",
            Signal::LatencyP95 => "latency_p95",
            Signal::ErrorRate => "error_rate",
            Signal::Accuracy => "accuracy",
            Signal::Cpu => "cpu",
            Signal::Replicas => "replicas",
        }
    }

    /// Human title.
    pub fn title(self) -> &'static str {
        match self {
            Signal::RequestRate => "request rate",
            Signal::LatencyP95 => "p95 latency",
            Signal::ErrorRate => "error rate",
            Signal::Accuracy => "accuracy",
            Signal::Cpu => "CPU",
            Signal::Replicas => "replicas",
        }
    }

    /// Parse a machine name.
    pub fn from_name(s: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|sig| sig.name() == s)
    }

    /// Format a value of this signal compactly for tables (at most 7 columns).
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "—".to_string();
        }
        match self {
            Signal::RequestRate => format_rate(v),
            Signal::LatencyP95 => {
                if v >= 10_000.0 {
                    format!("{:.0}s", v / 1000.0)
                } else if v >= 1000.0 {
                    format!("{:.1}s", v / 1000.0)
                } else {
                    format!("{v:.0}ms")
                }
            }
            Signal::ErrorRate => {
                let p = v * 100.0;
                if p >= 10.0 {
                    format!("{p:.0}%")
                } else {
                    format!("{p:.1}%")
                }
            }
            Signal::Accuracy => format!("{v:.3}"),
            Signal::Cpu => format!("{:.0}%", (v * 100.0).clamp(0.0, 999.0)),
            Signal::Replicas => format!("{v:.0}"),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

fn format_rate(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M/s", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.0}k/s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k/s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}/s")
    } else {
        format!("{v:.1}/s")
    }
}

/// Static facts about a served model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Model name, unique within its namespace.
    pub name: String,
    /// Kubernetes namespace (or team) the model is served in.
    pub namespace: String,
    /// Version currently serving most traffic.
    pub version: String,
    /// Business priority, 1 (highest) to 5.
    pub priority: u8,
    /// Size of the model's weights, GB (0 when unknown).
    #[serde(default)]
    pub size_gb: f64,
    /// Complexity score in [0, 1] (layers, custom ops, pipeline stages; 0 when unknown).
    #[serde(default)]
    pub complexity: f64,
    /// Fewest replicas allowed (0 when unknown).
    #[serde(default)]
    pub min_replicas: u32,
    /// Most replicas allowed (0 when unknown: no bound known).
    #[serde(default)]
    pub max_replicas: u32,
}

impl ModelMeta {
    /// `namespace/name`, the key used everywhere a model is named.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// True when `key` is this model's `namespace/name` (without allocating).
    pub fn is(&self, key: &str) -> bool {
        key.len() == self.namespace.len() + 1 + self.name.len()
            && key.starts_with(self.namespace.as_str())
            && key.as_bytes()[self.namespace.len()] == b'/'
            && key.ends_with(self.name.as_str())
    }
}

/// One observation of every signal of one model at one instant. Missing values are NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Values indexed by [`Signal::index`] (missing: NaN, written as `null` in JSON).
    #[serde(with = "nan_as_null")]
    pub values: [f32; Signal::COUNT],
}

/// JSON has no NaN: missing values are written as `null` and read back as NaN.
mod nan_as_null {
    use super::Signal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[f32; Signal::COUNT], s: S) -> Result<S::Ok, S::Error> {
        let o: [Option<f32>; Signal::COUNT] = v.map(|x| x.is_finite().then_some(x));
        o.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[f32; Signal::COUNT], D::Error> {
        let o = <[Option<f32>; Signal::COUNT]>::deserialize(d)?;
        Ok(o.map(|x| x.unwrap_or(f32::NAN)))
    }
}

impl Sample {
    /// A sample with every value missing.
    pub const MISSING: Sample = Sample {
        values: [f32::NAN; Signal::COUNT],
    };

    /// The value of one signal.
    pub fn get(&self, s: Signal) -> f32 {
        self.values[s.index()]
    }
}

/// A fixed-capacity ring of values, stored in copy-on-write chunks ([`Chunked`]): a clone
/// (a checkpoint) shares them, and a ring holds memory only for the values pushed so far.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RingOf<T: Copy + PartialEq> {
    #[serde(bound(deserialize = "T: Fill + serde::Deserialize<'de>"))]
    #[serde(deserialize_with = "deserialize_fill")]
    buf: Chunked<T>,
    head: usize,
    len: usize,
}

/// A ring of `f32` values (NaN where never written).
pub type Ring = RingOf<f32>;
/// A ring of timestamps, `f64` seconds (0 where never written).
type Ring64 = RingOf<f64>;

/// The value a ring's slots hold before they are written.
pub trait Fill: Copy + PartialEq {
    /// The fill value.
    const FILL: Self;
}

impl Fill for f32 {
    const FILL: f32 = f32::NAN;
}

impl Fill for f64 {
    const FILL: f64 = 0.0;
}

impl Fill for i32 {
    const FILL: i32 = 0;
}

/// Start times of fixed-width buckets (one-minute or five-minute means), kept as bucket
/// numbers (`i32`, half the memory of `f64` seconds); `STEP` is the bucket width in seconds.
/// Bucket numbers fit `i32` for every time [`History::push`] accepts ([`MAX_ABS_TIME`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct BucketTimes<const STEP: u32> {
    idx: RingOf<i32>,
}

impl<const STEP: u32> BucketTimes<STEP> {
    fn new(cap: usize) -> Self {
        BucketTimes {
            idx: RingOf::new(cap),
        }
    }
    fn consistent(&self) -> bool {
        self.idx.consistent()
    }
    fn len(&self) -> usize {
        self.idx.len()
    }
    /// Record the bucket numbered `b` (its start is `b * STEP` seconds).
    fn push(&mut self, b: i64) {
        self.idx
            .push(i32::try_from(b).unwrap_or(if b < 0 { i32::MIN } else { i32::MAX }));
    }
    fn get(&self, i: usize) -> Option<f64> {
        self.idx.get(i).map(|b| f64::from(b) * f64::from(STEP))
    }
    fn iter_from(&self, i: usize) -> impl Iterator<Item = f64> + '_ {
        self.idx
            .iter_from(i)
            .map(|b| f64::from(b) * f64::from(STEP))
    }
}

fn deserialize_fill<'de, D, T>(d: D) -> Result<Chunked<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Fill + serde::Deserialize<'de>,
{
    crate::chunked::deserialize_with_fill(d, T::FILL)
}

impl<T: Fill> RingOf<T> {
    /// An empty ring holding at most `cap` values (`cap` ≥ 1).
    pub fn new(cap: usize) -> Self {
        RingOf {
            buf: Chunked::new(cap.max(1), T::FILL),
            head: 0,
            len: 0,
        }
    }

    /// True when its head and length fit its buffer (a ring read back from a checkpoint).
    fn consistent(&self) -> bool {
        !self.buf.is_empty() && self.head < self.buf.len() && self.len <= self.buf.len()
    }

    /// Append a value, dropping the oldest when full.
    pub fn push(&mut self, v: T) {
        let cap = self.buf.len();
        self.buf.set(self.head, v);
        self.head = (self.head + 1) % cap;
        self.len = (self.len + 1).min(cap);
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes held (see [`Chunked::heap_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        self.buf.heap_bytes()
    }

    /// The `i`-th oldest value held.
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        let cap = self.buf.len();
        let start = (self.head + cap - self.len) % cap;
        Some(self.buf.get((start + i) % cap))
    }

    /// The most recent value.
    pub fn last(&self) -> Option<T> {
        if self.len == 0 {
            None
        } else {
            self.get(self.len - 1)
        }
    }

    /// Iterate from oldest to newest over the last `n` values (or all, when fewer).
    pub fn tail(&self, n: usize) -> impl Iterator<Item = T> + '_ {
        let n = n.min(self.len);
        self.iter_from(self.len - n)
    }

    /// The values held from the `i`-th oldest on, oldest first (the two contiguous parts of
    /// the ring: no wrapping arithmetic per value).
    fn iter_from(&self, i: usize) -> impl Iterator<Item = T> + '_ {
        let cap = self.buf.len();
        let start = (self.head + cap - self.len) % cap;
        // the held values are [start, start + len) modulo cap: a first part up to the end of
        // the buffer, then the rest from its beginning
        let first = self.len.min(cap - start);
        let second = self.len - first;
        let (a_from, b_from) = if i <= first {
            (start + i, 0)
        } else {
            (cap, (i - first).min(second))
        };
        self.buf
            .range(a_from, (start + first).saturating_sub(a_from))
            .chain(self.buf.range(b_from, second - b_from))
    }
}

/// Running mean over a bucket of samples, ignoring NaN.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Acc {
    sum: f64,
    n: u32,
}

impl Acc {
    /// Add a value (NaN and infinities are ignored).
    pub fn add(&mut self, v: f32) {
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
pub const FINE_LEN: usize = 180;
/// One-minute means: 6 hours.
pub const MID_LEN: usize = 360;
/// Five-minute means: 24 hours.
pub const COARSE_LEN: usize = 288;
/// Five-minute means of the request rate kept for forecasting: 7 days.
pub const DEMAND_LEN: usize = 2016;
/// Width of a mid bucket, seconds.
pub const MID_STEP: f64 = 60.0;
/// Width of a coarse bucket, seconds.
pub const COARSE_STEP: f64 = 300.0;

/// Samples further than this from 1970 (in seconds, about 4,000 years either way) are not
/// kept: the one-minute bucket numbers of every time kept fit an `i32`.
pub const MAX_ABS_TIME: f64 = i32::MAX as f64 * MID_STEP;

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
pub struct History {
    fine: [Ring; Signal::COUNT],
    fine_t: Ring64,
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

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// Make a ring's head point past its buffer (as a damaged checkpoint could).
    #[cfg(test)]
    pub(crate) fn break_ring_for_test(&mut self) {
        self.fine[0].head = usize::MAX;
    }

    /// Every ring's head and length fit its buffer (a history read back from a checkpoint).
    pub fn consistent(&self) -> bool {
        let rings = self
            .fine
            .iter()
            .chain(&self.mid)
            .chain(&self.coarse)
            .chain(&self.band_lo)
            .chain(&self.band_hi)
            .chain(std::iter::once(&self.demand));
        let times = [
            self.fine_t.consistent(),
            self.mid_t.consistent(),
            self.coarse_t.consistent(),
            self.demand_t.consistent(),
        ];
        rings.into_iter().all(Ring::consistent) && times.iter().all(|&ok| ok)
    }
    /// An empty history.
    pub fn new() -> Self {
        History {
            fine: std::array::from_fn(|_| Ring::new(FINE_LEN)),
            fine_t: Ring64::new(FINE_LEN),
            mid: std::array::from_fn(|_| Ring::new(MID_LEN)),
            mid_t: BucketTimes::new(MID_LEN),
            coarse: std::array::from_fn(|_| Ring::new(COARSE_LEN)),
            coarse_t: BucketTimes::new(COARSE_LEN),
            mid_acc: [Acc::default(); Signal::COUNT],
            coarse_acc: [Acc::default(); Signal::COUNT],
            demand: Ring::new(DEMAND_LEN),
            demand_t: BucketTimes::new(DEMAND_LEN),
            band_lo: std::array::from_fn(|_| Ring::new(MID_LEN)),
            band_hi: std::array::from_fn(|_| Ring::new(MID_LEN)),
            band_lo_acc: [Acc::default(); Signal::COUNT],
            band_hi_acc: [Acc::default(); Signal::COUNT],
            mid_bucket: None,
            coarse_bucket: None,
            last_t: None,
        }
    }

    /// Time of the newest sample.
    pub fn last_time(&self) -> Option<f64> {
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
    pub fn push_with_band(
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
                self.band_lo[i].push(lo);
                let hi = self.band_hi_acc[i].take();
                self.band_hi[i].push(hi);
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
    pub fn band(&self, s: Signal, since: f64) -> Vec<(f64, f64, f64)> {
        let (lo, hi) = (&self.band_lo[s.index()], &self.band_hi[s.index()]);
        let mut out = Vec::with_capacity(lo.len());
        for i in 0..lo.len() {
            if let (Some(t), Some(a), Some(b)) = (self.mid_t.get(i), lo.get(i), hi.get(i))
                && t >= since
                && a.is_finite()
                && b.is_finite()
            {
                out.push((t, f64::from(a), f64::from(b)));
            }
        }
        out
    }

    /// The newest value of a signal.
    pub fn last(&self, s: Signal) -> f32 {
        self.fine[s.index()].last().unwrap_or(f32::NAN)
    }

    /// Number of completed one-minute buckets.
    pub fn mid_len(&self) -> usize {
        self.mid_t.len()
    }

    /// The last `n` completed one-minute means of a signal, oldest first.
    pub fn minute_tail(&self, s: Signal, n: usize) -> impl Iterator<Item = f32> + '_ {
        self.mid[s.index()].tail(n)
    }

    /// Points `(t, v)` of a signal from `since` on, read at resolution `r`.
    pub fn series(&self, s: Signal, r: Resolution, since: f64) -> Vec<(f64, f64)> {
        let i = s.index();
        match r {
            Resolution::Fine => points(
                &self.fine[i],
                self.fine_t.len(),
                |k| self.fine_t.get(k),
                |k| self.fine_t.iter_from(k),
                since,
            ),
            Resolution::Mid => points(
                &self.mid[i],
                self.mid_t.len(),
                |k| self.mid_t.get(k),
                |k| self.mid_t.iter_from(k),
                since,
            ),
            Resolution::Coarse => points(
                &self.coarse[i],
                self.coarse_t.len(),
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
    pub fn mean_between(&self, s: Signal, from: f64, to: f64) -> f64 {
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

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        Signal::COUNT * (FINE_LEN + MID_LEN + COARSE_LEN) * 4
            + (FINE_LEN + MID_LEN + COARSE_LEN) * 8
    }
}

/// Points `(t, v)` of a ring of values from `since` on, with the ring of their times (`get`
/// reads one time, `times_from` the times from an index on).
fn points<I: Iterator<Item = f64>>(
    ring: &Ring,
    times: usize,
    get: impl Fn(usize) -> Option<f64>,
    times_from: impl Fn(usize) -> I,
    since: f64,
) -> Vec<(f64, f64)> {
    // times increase along the ring: find the first one at or after `since` by bisection
    let n = ring.len().min(times);
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if get(mid).is_some_and(|t| t >= since) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let mut out = Vec::with_capacity(n - lo);
    for (t, v) in times_from(lo).zip(ring.iter_from(lo)).take(n - lo) {
        if t >= since {
            out.push((t, f64::from(v)));
        }
    }
    out
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
    fn ring_wraps_and_keeps_order() {
        let mut r = Ring::new(3);
        for v in 1..=5 {
            r.push(v as f32);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.tail(10).collect::<Vec<_>>(), vec![3.0, 4.0, 5.0]);
        assert_eq!(r.last(), Some(5.0));
        assert_eq!(r.get(3), None);
    }

    #[test]
    fn ring_iteration_from_any_start_matches_indexing() {
        for cap in [1, 3, 7] {
            let mut r = Ring::new(cap);
            let mut t = Ring64::new(cap);
            for v in 0..20 {
                for i in 0..=r.len() + 1 {
                    let by_index: Vec<f32> = (i..r.len()).filter_map(|k| r.get(k)).collect();
                    assert_eq!(
                        r.iter_from(i).collect::<Vec<_>>(),
                        by_index,
                        "cap {cap} at {i}"
                    );
                    let by_index: Vec<f64> = (i..t.len()).filter_map(|k| t.get(k)).collect();
                    assert_eq!(
                        t.iter_from(i).collect::<Vec<_>>(),
                        by_index,
                        "cap {cap} at {i}"
                    );
                }
                r.push(v as f32);
                t.push(f64::from(v));
            }
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

    #[test]
    fn formats_are_compact() {
        assert_eq!(Signal::RequestRate.format(1234.0), "1.2k/s");
        assert_eq!(Signal::LatencyP95.format(87.4), "87ms");
        assert_eq!(Signal::LatencyP95.format(2500.0), "2.5s");
        assert_eq!(Signal::ErrorRate.format(0.0123), "1.2%");
        assert_eq!(Signal::Accuracy.format(0.9312), "0.931");
        assert_eq!(Signal::Cpu.format(f64::NAN), "—");
    }
}
