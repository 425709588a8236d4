//! Start times of a history's fixed-width buckets (one-minute or five-minute means), kept as
//! runs of bucket numbers with one stride.
//!
//! A source reports on a regular step, so the buckets it fills follow one another at a fixed
//! stride (every bucket at a 15 s step; every sixth one-minute bucket at a 6-minute step); a
//! gap or a change of step starts a new run. A week of five-minute buckets then takes a few
//! runs instead of 2,016 bucket numbers (8 KiB a model). Times that follow no stride at all
//! (at worst a run per two buckets) are kept as a plain ring of bucket numbers once runs would
//! take more memory than it, so the memory stays bounded by what a plain ring takes.
//!
//! It serialises as the plain ring of bucket numbers it replaces, so checkpoints read back
//! unchanged, and a checkpoint of the same times is the same bytes however they are held.

use super::ring::RingOf;
use std::collections::VecDeque;

/// Consecutive buckets `first, first + stride, …` (`count` of them).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    /// Position of its first bucket among all buckets ever pushed.
    seq: u64,
    first: i32,
    stride: i32,
    count: u32,
}

impl Run {
    fn at(&self, k: u32) -> i32 {
        // fits: every bucket of a run was pushed as an `i32`
        (i64::from(self.first) + i64::from(self.stride) * i64::from(k)) as i32
    }
}

/// How the bucket numbers are held.
#[derive(Debug, Clone)]
enum Store {
    Runs(VecDeque<Run>),
    Flat(RingOf<i32>),
}

/// Bucket numbers of a ring's entries, oldest first (`STEP` is the bucket width in seconds).
/// Bucket numbers fit `i32` for every time [`super::History::push`] accepts
/// ([`super::MAX_ABS_TIME`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Plain", into = "Plain")]
pub(super) struct BucketTimes<const STEP: u32> {
    store: Store,
    /// Entries held.
    len: usize,
    /// Entries ever pushed (the position of the next one).
    pushed: u64,
    cap: usize,
}

/// The serialised form: a plain ring of bucket numbers.
#[derive(serde::Serialize, serde::Deserialize)]
struct Plain {
    idx: RingOf<i32>,
}

/// Bytes a run takes; a plain ring takes 4 a bucket, so past `cap * 4 / RUN_BYTES` runs it is
/// the smaller.
const RUN_BYTES: usize = std::mem::size_of::<Run>();

impl<const STEP: u32> BucketTimes<STEP> {
    pub(super) fn new(cap: usize) -> Self {
        BucketTimes {
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

    pub(super) fn push(&mut self, b: i64) {
        let b = i32::try_from(b).unwrap_or(if b < 0 { i32::MIN } else { i32::MAX });
        let seq = self.pushed;
        self.pushed += 1;
        match &mut self.store {
            Store::Flat(ring) => {
                ring.push(b);
                self.len = ring.len();
                return;
            }
            Store::Runs(runs) => {
                extend(runs, seq, b);
                if self.len == self.cap {
                    evict_oldest(runs);
                } else {
                    self.len += 1;
                }
            }
        }
        if let Store::Runs(runs) = &self.store
            && runs.len() * RUN_BYTES > self.cap * 4
        {
            let mut ring = RingOf::new(self.cap);
            for v in self.buckets() {
                ring.push(v);
            }
            self.store = Store::Flat(ring);
        }
    }

    /// The bucket number of the `i`-th oldest entry.
    fn bucket(&self, i: usize) -> Option<i32> {
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

    /// Every bucket number, oldest first.
    fn buckets(&self) -> Box<dyn Iterator<Item = i32> + '_> {
        self.buckets_from(0)
    }

    fn buckets_from(&self, i: usize) -> Box<dyn Iterator<Item = i32> + '_> {
        match &self.store {
            Store::Flat(ring) => Box::new(ring.iter_from(i)),
            Store::Runs(runs) => {
                let from = self.pushed - self.len as u64 + i.min(self.len) as u64;
                let start = runs.partition_point(|r| r.seq <= from).saturating_sub(1);
                Box::new(runs.range(start..).flat_map(move |r| {
                    let skip = from.saturating_sub(r.seq).min(u64::from(r.count)) as u32;
                    (skip..r.count).map(|k| r.at(k))
                }))
            }
        }
    }

    pub(super) fn get(&self, i: usize) -> Option<f64> {
        self.bucket(i).map(|b| f64::from(b) * f64::from(STEP))
    }

    pub(super) fn iter_from(&self, i: usize) -> impl Iterator<Item = f64> + '_ {
        self.buckets_from(i).map(|b| f64::from(b) * f64::from(STEP))
    }
}

/// Appends bucket `b` (the `seq`-th ever pushed) to the newest run, or starts a run.
fn extend(runs: &mut VecDeque<Run>, seq: u64, b: i32) {
    if let Some(last) = runs.back_mut() {
        let prev = last.at(last.count - 1);
        let step = i64::from(b) - i64::from(prev);
        if last.count == 1
            && let Ok(stride) = i32::try_from(step)
        {
            last.stride = stride;
            last.count = 2;
            return;
        }
        if step == i64::from(last.stride) && last.count < u32::MAX {
            last.count += 1;
            return;
        }
    }
    runs.push_back(Run {
        seq,
        first: b,
        stride: 0,
        count: 1,
    });
}

/// Drops the oldest bucket.
fn evict_oldest(runs: &mut VecDeque<Run>) {
    if let Some(front) = runs.front_mut() {
        if front.count > 1 {
            front.first = front.at(1);
        }
        front.seq += 1;
        front.count -= 1;
        if front.count == 0 {
            runs.pop_front();
        }
    }
}

impl<const STEP: u32> From<BucketTimes<STEP>> for Plain {
    fn from(t: BucketTimes<STEP>) -> Plain {
        match t.store {
            Store::Flat(idx) => Plain { idx },
            Store::Runs(_) => {
                let mut idx = RingOf::new(t.cap);
                for b in t.buckets() {
                    idx.push(b);
                }
                Plain { idx }
            }
        }
    }
}

impl<const STEP: u32> TryFrom<Plain> for BucketTimes<STEP> {
    type Error = &'static str;

    fn try_from(p: Plain) -> Result<Self, Self::Error> {
        if !p.idx.consistent() {
            return Err("bucket times whose ring does not fit its buffer");
        }
        let mut t = BucketTimes::new(p.idx.capacity());
        for b in p.idx.iter_from(0) {
            t.push(i64::from(b));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The times as a plain ring holds them, for comparison.
    fn plain(cap: usize, pushed: &[i64]) -> Vec<i32> {
        let mut r = RingOf::<i32>::new(cap);
        for &b in pushed {
            r.push(i32::try_from(b).unwrap_or(if b < 0 { i32::MIN } else { i32::MAX }));
        }
        r.iter_from(0).collect()
    }

    fn check(cap: usize, pushed: &[i64]) -> BucketTimes<60> {
        let mut t = BucketTimes::<60>::new(cap);
        for (n, &b) in pushed.iter().enumerate() {
            t.push(b);
            let want = plain(cap, &pushed[..=n]);
            assert_eq!(t.len(), want.len());
            let got: Vec<i32> = (0..t.len()).map(|i| t.bucket(i).unwrap()).collect();
            assert_eq!(got, want, "by index after {} pushes", n + 1);
            for i in 0..=t.len() {
                let from: Vec<i32> = t.buckets_from(i).collect();
                assert_eq!(from, want[i.min(want.len())..], "from {i}");
            }
            assert_eq!(t.bucket(t.len()), None);
            assert!(t.consistent());
        }
        t
    }

    #[test]
    fn regular_buckets_take_one_run_whatever_the_length() {
        let pushed: Vec<i64> = (100..3000).collect();
        let t = check(2016, &pushed);
        assert!(matches!(&t.store, Store::Runs(r) if r.len() == 1));
        let sparse: Vec<i64> = (0..500).map(|k| 7 + 30 * k).collect();
        let t = check(360, &sparse);
        assert!(matches!(&t.store, Store::Runs(r) if r.len() == 1));
    }

    #[test]
    fn gaps_and_changes_of_step_start_runs_and_read_back_exactly() {
        let mut pushed: Vec<i64> = (0..50).collect();
        pushed.extend((60..200).step_by(5));
        pushed.extend([205, 900, 901, 1_000_000, i64::from(i32::MAX) + 9]);
        pushed.extend((-40..-30).rev());
        for cap in [1, 2, 7, 60, 300] {
            check(cap, &pushed);
        }
    }

    #[test]
    fn times_that_follow_no_stride_fall_back_to_a_plain_ring() {
        // strides 1, 2, 1, 2 …: a run per two buckets
        let pushed: Vec<i64> = (0..400).map(|k| k * 3 / 2).collect();
        let t = check(120, &pushed);
        assert!(matches!(t.store, Store::Flat(_)));
    }

    #[test]
    fn it_serialises_as_the_plain_ring_and_reads_back() {
        let pushed: Vec<i64> = (0..700).map(|k| k + k / 100 * 7).collect();
        let t = check(360, &pushed);
        let bytes = rmp_serde::to_vec(&t).unwrap();
        // what the plain ring it replaces wrote reads back as the same times
        let mut ring = RingOf::<i32>::new(360);
        for &b in &pushed {
            ring.push(b as i32);
        }
        let old = rmp_serde::to_vec(&Plain { idx: ring }).unwrap();
        let from_old: BucketTimes<60> = rmp_serde::from_slice(&old).unwrap();
        let back: BucketTimes<60> = rmp_serde::from_slice(&bytes).unwrap();
        let want: Vec<i32> = t.buckets().collect();
        assert_eq!(want, plain(360, &pushed));
        assert_eq!(back.buckets().collect::<Vec<_>>(), want);
        assert_eq!(from_old.buckets().collect::<Vec<_>>(), want);
        // the same times are the same bytes, however they were held
        assert_eq!(rmp_serde::to_vec(&back).unwrap(), bytes);
        assert_eq!(rmp_serde::to_vec(&from_old).unwrap(), bytes);
    }

    #[test]
    fn a_ring_that_does_not_fit_its_buffer_is_refused() {
        let mut ring = RingOf::<i32>::new(4);
        ring.push(1);
        ring.break_for_test();
        let bytes = rmp_serde::to_vec(&Plain { idx: ring }).unwrap();
        assert!(rmp_serde::from_slice::<BucketTimes<60>>(&bytes).is_err());
    }
}
