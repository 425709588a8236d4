//! Times of a history's entries: the start of each fixed-width bucket (one-minute or
//! five-minute means) and the time of each sample, kept as runs that follow one stride.
//!
//! A source reports on a regular step, so its samples, and the buckets they fill, follow one
//! another at a fixed stride (every bucket at a 15 s step; every sixth one-minute bucket at a
//! 6-minute step); a gap or a change of step starts a new run. A week of five-minute buckets
//! then takes a few runs instead of 2,016 bucket numbers (8 KiB a model).
//!
//! - A time joins a run only when the run's own formula (`first + stride × k`) gives it back
//!   bit for bit, so every time reads back exactly as it was pushed.
//! - Times that follow no stride (at worst a run per two entries) are kept as a plain ring
//!   once runs would take more memory than it: the memory stays bounded by a plain ring's.
//! - Both serialise as the plain rings they replace, so checkpoints read back unchanged, and
//!   the same times are the same bytes however they are held.

use super::ring::{Fill, RingOf};
use std::collections::VecDeque;

/// A time kept in runs: an `i32` bucket number or `f64` seconds.
pub(super) trait Stamp: Fill + std::fmt::Debug {
    /// `b - a`, when it is a stride runs can hold.
    fn stride(a: Self, b: Self) -> Option<Self>;
    /// `first + stride × k`. A time joins a run only when this gives it back exactly
    /// ([`crate::chunked::Value::same`]: the same bits).
    fn at(first: Self, stride: Self, k: u64) -> Self;
}

impl Stamp for i32 {
    fn stride(a: i32, b: i32) -> Option<i32> {
        i32::try_from(i64::from(b) - i64::from(a)).ok()
    }
    fn at(first: i32, stride: i32, k: u64) -> i32 {
        // a value that does not fit is never equal to a pushed one, so never read back
        i64::try_from(k)
            .ok()
            .and_then(|k| i64::from(stride).checked_mul(k))
            .and_then(|d| d.checked_add(i64::from(first)))
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(i32::MIN)
    }
}

impl Stamp for f64 {
    fn stride(a: f64, b: f64) -> Option<f64> {
        Some(b - a).filter(|d| d.is_finite())
    }
    fn at(first: f64, stride: f64, k: u64) -> f64 {
        first + stride * k as f64
    }
}

/// Entries `first + stride × (skip + k)` for `k` in `0..count`.
#[derive(Clone, Copy)]
struct Run<T> {
    /// Position of its first held entry among all entries ever pushed.
    seq: u64,
    first: T,
    stride: T,
    /// Entries of the run already dropped from the front (the formula keeps its origin, so
    /// that what is read is what was checked when pushed).
    skip: u32,
    count: u32,
}

impl<T: Stamp> Run<T> {
    fn at(&self, k: u32) -> T {
        T::at(self.first, self.stride, u64::from(self.skip) + u64::from(k))
    }
}

/// How the times are held.
#[derive(Clone)]
enum Store<T: Stamp> {
    Runs(VecDeque<Run<T>>),
    Flat(RingOf<T>),
}

/// The last `cap` times pushed, oldest first, in runs.
#[derive(Clone)]
pub(super) struct Times<T: Stamp> {
    store: Store<T>,
    /// Entries held.
    len: usize,
    /// Entries ever pushed (the position of the next one).
    pushed: u64,
    cap: usize,
}

/// The entries of [`Times`] from one on, oldest first: each run is found once, not once per
/// entry.
pub(super) struct TimesFrom<'a, T: Stamp> {
    times: &'a Times<T>,
    /// Held in runs: the run read, and the entry of it read next. Held flat: the entry read
    /// next (`k`).
    run: usize,
    k: u64,
}

impl<T: Stamp> Iterator for TimesFrom<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match &self.times.store {
            Store::Flat(ring) => {
                let v = ring.get(usize::try_from(self.k).ok()?)?;
                self.k += 1;
                Some(v)
            }
            Store::Runs(runs) => {
                while u64::from(runs.get(self.run)?.count) <= self.k {
                    self.run += 1;
                    self.k = 0;
                }
                let v = runs[self.run].at(self.k as u32);
                self.k += 1;
                Some(v)
            }
        }
    }
}

impl<T: Stamp> Times<T> {
    pub(super) fn new(cap: usize) -> Self {
        Times {
            store: Store::Runs(VecDeque::new()),
            len: 0,
            pushed: 0,
            cap: cap.max(1),
        }
    }

    /// Holds no more entries than its capacity (a plain ring read back is checked on reading).
    pub(super) fn consistent(&self) -> bool {
        self.len <= self.cap
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn push(&mut self, v: T) {
        let seq = self.pushed;
        self.pushed += 1;
        match &mut self.store {
            Store::Flat(ring) => {
                ring.push(v);
                self.len = ring.len();
                return;
            }
            Store::Runs(runs) => {
                extend(runs, seq, v);
                if self.len == self.cap {
                    evict_oldest(runs);
                } else {
                    self.len += 1;
                }
            }
        }
        if let Store::Runs(runs) = &self.store
            && runs.len() * std::mem::size_of::<Run<T>>() > self.cap * std::mem::size_of::<T>()
        {
            self.store = Store::Flat(self.to_ring());
        }
    }

    /// The `i`-th oldest entry.
    pub(super) fn get(&self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        match &self.store {
            Store::Flat(ring) => ring.get(i),
            Store::Runs(runs) => {
                let seq = self.pushed - self.len as u64 + i as u64;
                let r = runs.partition_point(|r| r.seq <= seq).checked_sub(1)?;
                let run = runs[r];
                Some(run.at((seq - run.seq) as u32))
            }
        }
    }

    /// The entries from the `i`-th oldest on.
    pub(super) fn iter_from(&self, i: usize) -> TimesFrom<'_, T> {
        let (run, k) = match &self.store {
            Store::Flat(_) => (0, i as u64),
            Store::Runs(runs) => {
                let from = self.pushed - self.len as u64 + i.min(self.len) as u64;
                let run = runs.partition_point(|r| r.seq <= from).saturating_sub(1);
                let k = runs
                    .get(run)
                    .map_or(0, |r| from.saturating_sub(r.seq).min(u64::from(r.count)));
                (run, k)
            }
        };
        TimesFrom {
            times: self,
            run,
            k,
        }
    }

    /// The plain ring of the same entries, always laid out from its first slot (so that the
    /// same times are the same bytes, however they are held and wherever a ring's head was).
    fn to_ring(&self) -> RingOf<T> {
        let mut ring = RingOf::new(self.cap);
        for v in self.iter_from(0) {
            ring.push(v);
        }
        ring
    }

    /// From a plain ring, refused when it does not fit its buffer (a damaged checkpoint).
    fn from_ring(ring: &RingOf<T>) -> Result<Self, &'static str> {
        if !ring.consistent() {
            return Err("times whose ring does not fit its buffer");
        }
        let mut t = Times::new(ring.capacity());
        for v in ring.iter_from(0) {
            t.push(v);
        }
        Ok(t)
    }
}

/// Shows the times held, however they are held (a restored history shows as the one it was
/// taken from).
impl<T: Stamp> std::fmt::Debug for Times<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter_from(0)).finish()
    }
}

/// Appends `v` (the `seq`-th ever pushed) to the newest run when its formula gives `v` back,
/// or starts a run.
fn extend<T: Stamp>(runs: &mut VecDeque<Run<T>>, seq: u64, v: T) {
    if let Some(last) = runs.back_mut() {
        if last.count == 1
            && let Some(stride) = T::stride(last.first, v)
        {
            let mut two = *last;
            two.stride = stride;
            if T::same(two.at(0), two.first) && T::same(two.at(1), v) {
                two.count = 2;
                *last = two;
                return;
            }
        }
        if last.count > 1 && last.count < u32::MAX && T::same(last.at(last.count), v) {
            last.count += 1;
            return;
        }
    }
    runs.push_back(Run {
        seq,
        first: v,
        stride: v,
        skip: 0,
        count: 1,
    });
}

/// Drops the oldest entry.
fn evict_oldest<T: Stamp>(runs: &mut VecDeque<Run<T>>) {
    if let Some(front) = runs.front_mut() {
        front.seq += 1;
        front.count -= 1;
        if front.count == 0 {
            runs.pop_front();
        } else {
            front.skip += 1;
        }
    }
}

/// Start times of fixed-width buckets, as bucket numbers (`STEP` is the bucket width in
/// seconds). Bucket numbers fit `i32` for every time [`super::History::push`] accepts
/// ([`super::MAX_ABS_TIME`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Plain", into = "Plain")]
pub(super) struct BucketTimes<const STEP: u32>(Times<i32>);

/// The serialised form of bucket times: a plain ring of bucket numbers.
#[derive(serde::Serialize, serde::Deserialize)]
struct Plain {
    idx: RingOf<i32>,
}

impl<const STEP: u32> BucketTimes<STEP> {
    pub(super) fn new(cap: usize) -> Self {
        BucketTimes(Times::new(cap))
    }
    pub(super) fn consistent(&self) -> bool {
        self.0.consistent()
    }
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
    pub(super) fn push(&mut self, b: i64) {
        self.0
            .push(i32::try_from(b).unwrap_or(if b < 0 { i32::MIN } else { i32::MAX }));
    }
    pub(super) fn get(&self, i: usize) -> Option<f64> {
        self.0.get(i).map(|b| f64::from(b) * f64::from(STEP))
    }
    pub(super) fn iter_from(&self, i: usize) -> impl Iterator<Item = f64> + '_ {
        self.0.iter_from(i).map(|b| f64::from(b) * f64::from(STEP))
    }
}

impl<const STEP: u32> From<BucketTimes<STEP>> for Plain {
    fn from(t: BucketTimes<STEP>) -> Plain {
        Plain { idx: t.0.to_ring() }
    }
}

impl<const STEP: u32> TryFrom<Plain> for BucketTimes<STEP> {
    type Error = &'static str;

    fn try_from(p: Plain) -> Result<Self, Self::Error> {
        Times::from_ring(&p.idx).map(BucketTimes)
    }
}

/// Times of samples, in seconds; serialised as the plain ring of `f64` it replaces.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RingOf<f64>", into = "RingOf<f64>")]
pub(super) struct SampleTimes(Times<f64>);

impl SampleTimes {
    pub(super) fn new(cap: usize) -> Self {
        SampleTimes(Times::new(cap))
    }
    pub(super) fn consistent(&self) -> bool {
        self.0.consistent()
    }
    pub(super) fn push(&mut self, t: f64) {
        self.0.push(t);
    }
    pub(super) fn get(&self, i: usize) -> Option<f64> {
        self.0.get(i)
    }
    pub(super) fn iter_from(&self, i: usize) -> impl Iterator<Item = f64> + '_ {
        self.0.iter_from(i)
    }
}

impl From<SampleTimes> for RingOf<f64> {
    fn from(t: SampleTimes) -> RingOf<f64> {
        t.0.to_ring()
    }
}

impl TryFrom<RingOf<f64>> for SampleTimes {
    type Error = &'static str;

    fn try_from(r: RingOf<f64>) -> Result<Self, Self::Error> {
        Times::from_ring(&r).map(SampleTimes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entries a plain ring holds after the same pushes, for comparison.
    fn plain<T: Stamp>(cap: usize, pushed: &[T]) -> Vec<T> {
        let mut r = RingOf::<T>::new(cap);
        for &v in pushed {
            r.push(v);
        }
        r.iter_from(0).collect()
    }

    /// Pushes one at a time and checks, after each, every entry by index and from every start.
    fn check<T: Stamp>(cap: usize, pushed: &[T]) -> Times<T> {
        let mut t = Times::<T>::new(cap);
        let same =
            |a: &[T], b: &[T]| a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| T::same(x, y));
        for (n, &v) in pushed.iter().enumerate() {
            t.push(v);
            let want = plain(cap, &pushed[..=n]);
            assert_eq!(t.len(), want.len());
            let got: Vec<T> = (0..t.len()).map(|i| t.get(i).unwrap()).collect();
            assert!(
                same(&got, &want),
                "by index after {} pushes: {got:?} {want:?}",
                n + 1
            );
            for i in 0..=t.len() {
                let from: Vec<T> = t.iter_from(i).collect();
                assert!(same(&from, &want[i.min(want.len())..]), "from {i}");
            }
            assert!(t.get(t.len()).is_none());
            assert!(t.consistent());
        }
        t
    }

    fn runs<T: Stamp>(t: &Times<T>) -> Option<usize> {
        match &t.store {
            Store::Runs(r) => Some(r.len()),
            Store::Flat(_) => None,
        }
    }

    #[test]
    fn regular_times_take_one_run_whatever_the_length() {
        let buckets: Vec<i32> = (100..3000).collect();
        assert_eq!(runs(&check(2016, &buckets)), Some(1));
        let sparse: Vec<i32> = (0..500).map(|k| 7 + 30 * k).collect();
        assert_eq!(runs(&check(360, &sparse)), Some(1));
        // samples every 5 s from a start with a fraction, as the simulator and Prometheus give
        let mut t = 1_764_000_000.25;
        let mut samples = Vec::new();
        for _ in 0..400 {
            samples.push(t);
            t += 5.0;
        }
        assert_eq!(runs(&check(180, &samples)), Some(1));
    }

    #[test]
    fn gaps_and_changes_of_step_start_runs_and_read_back_exactly() {
        let mut pushed: Vec<i32> = (0..50).collect();
        pushed.extend((60..200).step_by(5));
        pushed.extend([205, 900, 901, 1_000_000, i32::MAX]);
        pushed.extend((-40..-30).rev());
        pushed.extend([i32::MIN, 0, i32::MAX]);
        for cap in [1, 2, 7, 60, 300] {
            check(cap, &pushed);
        }
        // seconds whose differences do not give them back under `first + stride × k`
        let secs: Vec<f64> = (0..300)
            .map(|k| 0.1 * f64::from(k) + if k > 200 { 1e9 } else { 0.0 })
            .collect();
        for cap in [1, 3, 180] {
            check(cap, &secs);
        }
    }

    #[test]
    fn times_that_follow_no_stride_fall_back_to_a_plain_ring() {
        // strides 1, 2, 1, 2 …: a run per two entries
        let pushed: Vec<i32> = (0..400).map(|k| k * 3 / 2).collect();
        assert_eq!(runs(&check(120, &pushed)), None);
    }

    #[test]
    fn they_serialise_as_the_plain_rings_and_read_back() {
        let pushed: Vec<i64> = (0..700).map(|k| k + k / 100 * 7).collect();
        let mut t = BucketTimes::<60>::new(360);
        let mut ring = RingOf::<i32>::new(360);
        for &b in &pushed {
            t.push(b);
            ring.push(b as i32);
        }
        let bytes = rmp_serde::to_vec(&t).unwrap();
        // what the plain ring it replaces wrote reads back as the same times
        let old = rmp_serde::to_vec(&Plain { idx: ring }).unwrap();
        let from_old: BucketTimes<60> = rmp_serde::from_slice(&old).unwrap();
        let back: BucketTimes<60> = rmp_serde::from_slice(&bytes).unwrap();
        let want: Vec<f64> = t.iter_from(0).collect();
        assert_eq!(want.len(), 360);
        assert_eq!(back.iter_from(0).collect::<Vec<_>>(), want);
        assert_eq!(from_old.iter_from(0).collect::<Vec<_>>(), want);
        // the same times are the same bytes, however they were held
        assert_eq!(rmp_serde::to_vec(&back).unwrap(), bytes);
        assert_eq!(rmp_serde::to_vec(&from_old).unwrap(), bytes);

        let mut s = SampleTimes::new(180);
        let mut ring = RingOf::<f64>::new(180);
        for k in 0..500 {
            let v = 1e9 + 5.0 * f64::from(k) + if k % 97 == 0 { 0.5 } else { 0.0 };
            s.push(v);
            ring.push(v);
        }
        let bytes = rmp_serde::to_vec(&s).unwrap();
        let from_old: SampleTimes =
            rmp_serde::from_slice(&rmp_serde::to_vec(&ring).unwrap()).unwrap();
        assert!((0..180).all(|i| from_old.get(i) == ring.get(i) && s.get(i) == ring.get(i)));
        assert_eq!(rmp_serde::to_vec(&from_old).unwrap(), bytes);
    }

    #[test]
    fn times_held_in_a_plain_ring_are_the_same_bytes_after_reading_back() {
        // irregular steps: the times fall back to a plain ring, which then wraps
        let mut s = SampleTimes::new(180);
        let mut t = 1e9;
        for k in 0..400 {
            t += 5.0 + f64::from(k % 7) * 0.001;
            s.push(t);
        }
        assert_eq!(runs(&s.0), None);
        let bytes = rmp_serde::to_vec(&s).unwrap();
        let back: SampleTimes = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(rmp_serde::to_vec(&back).unwrap(), bytes);
        assert!((0..180).all(|i| back.get(i) == s.get(i)));
    }

    #[test]
    fn a_negative_zero_time_reads_back_as_itself() {
        let mut s = SampleTimes::new(4);
        s.push(-0.0);
        s.push(5.0);
        assert!(s.get(0).unwrap().is_sign_negative());
        assert_eq!(s.get(1), Some(5.0));
    }

    #[test]
    fn a_ring_that_does_not_fit_its_buffer_is_refused() {
        let mut ring = RingOf::<i32>::new(4);
        ring.push(1);
        ring.break_for_test();
        let bytes = rmp_serde::to_vec(&Plain { idx: ring }).unwrap();
        assert!(rmp_serde::from_slice::<BucketTimes<60>>(&bytes).is_err());
        let mut ring = RingOf::<f64>::new(4);
        ring.push(1.0);
        ring.break_for_test();
        let bytes = rmp_serde::to_vec(&ring).unwrap();
        assert!(rmp_serde::from_slice::<SampleTimes>(&bytes).is_err());
    }
}
