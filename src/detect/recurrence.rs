//! Recurrence: whether a value was seen at about this time of day on one of the last few days.
//! A daily job's spike at 03:20 is routine the second time it happens, however far it is from
//! the recent level. The day is cut into bins; each remembered day keeps, per bin, the least and
//! the greatest value seen in it (its envelope), and a value's distance to the envelopes of its
//! own bin and the bins either side of it, on the remembered days before today, says how much of
//! its surprise the time of day explains.

use super::seasonal::DAY;

/// Most days a detector may remember (a configuration asking for more gets this many).
pub(crate) const DAYS_MAX: u32 = 7;
/// Most bins a day may be cut into.
pub(crate) const BINS_MAX: u32 = 288;

/// `x` as kept: in f32 (half the bytes; a time-of-day envelope needs no more precision), held
/// to f32's finite range so that a value beyond it is not kept as an infinity (which no other
/// value could be told apart from). NaN is never passed here.
fn narrow(x: f64) -> f32 {
    x.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32
}

/// The last days' envelopes, by time-of-day bin.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Recurrence {
    bins: usize,
    /// Days remembered before today (the ring holds one more: today).
    days: usize,
    /// Which day (since the epoch) each ring slot holds, if any.
    day_of: Vec<i64>,
    lo: Vec<f32>,
    hi: Vec<f32>,
}

impl Recurrence {
    /// Remembers `days` days (1 to [`DAYS_MAX`]) cut into `bins` bins (1 to [`BINS_MAX`]).
    pub fn new(days: u32, bins: u32) -> Self {
        let days = days.clamp(1, DAYS_MAX) as usize;
        let bins = bins.clamp(1, BINS_MAX) as usize;
        Self {
            bins,
            days,
            day_of: vec![i64::MIN; days + 1],
            lo: vec![f32::INFINITY; (days + 1) * bins],
            hi: vec![f32::NEG_INFINITY; (days + 1) * bins],
        }
    }

    /// Its arrays can be indexed as its sizes say (read back from a checkpoint).
    pub(crate) fn consistent(&self) -> bool {
        (1..=BINS_MAX as usize).contains(&self.bins)
            && (1..=DAYS_MAX as usize).contains(&self.days)
            && self.day_of.len() == self.days + 1
            && self.lo.len() == self.day_of.len() * self.bins
            && self.hi.len() == self.day_of.len() * self.bins
    }

    /// Bytes held, its arrays included.
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.day_of.len() * std::mem::size_of::<i64>()
            + (self.lo.len() + self.hi.len()) * std::mem::size_of::<f32>()
    }

    /// Bins since the epoch at time `t` (seconds since the epoch; the day is UTC's), held to
    /// ±10^15 (some thirty billion years of 5-minute bins) so that stepping back a few days from
    /// any time, however absurd, cannot overflow.
    fn index(&self, t: f64) -> i64 {
        const LIMIT: f64 = 1e15;
        let b = (t / DAY * self.bins as f64).floor();
        if b.is_nan() {
            0
        } else {
            b.clamp(-LIMIT, LIMIT) as i64
        }
    }

    /// Where bin `abs_bin` (since the epoch) is kept, if its day is remembered.
    fn slot(&self, abs_bin: i64) -> Option<usize> {
        let bins = self.bins as i64;
        let day = abs_bin.div_euclid(bins);
        let s = day.rem_euclid(self.day_of.len() as i64) as usize;
        (self.day_of[s] == day).then(|| s * self.bins + abs_bin.rem_euclid(bins) as usize)
    }

    /// Closest distance from `x` to what the same time of day (its bin and the bins either side)
    /// held on the remembered days before today, or `None` when none of them holds anything.
    pub(crate) fn distance(&self, t: f64, x: f64) -> Option<f64> {
        let now = self.index(t);
        let bins = self.bins as i64;
        // compared as kept, and measured in f64 (the distance between two f32s may not fit one)
        let x = f64::from(narrow(x));
        let mut best: Option<f64> = None;
        for k in 1..=self.days as i64 {
            for j in -1..=1 {
                let Some(i) = self.slot(now - k * bins + j) else {
                    continue;
                };
                let (lo, hi) = (self.lo[i], self.hi[i]);
                if lo > hi {
                    continue;
                }
                let d = (f64::from(lo) - x).max(x - f64::from(hi)).max(0.0);
                if best.is_none_or(|b| d < b) {
                    best = Some(d);
                }
            }
        }
        best
    }

    /// Remembers `x` at time `t`.
    pub(crate) fn learn(&mut self, t: f64, x: f64) {
        let now = self.index(t);
        let bins = self.bins as i64;
        let day = now.div_euclid(bins);
        let s = day.rem_euclid(self.day_of.len() as i64) as usize;
        let span = s * self.bins..(s + 1) * self.bins;
        if self.day_of[s] != day {
            self.day_of[s] = day;
            self.lo[span.clone()].fill(f32::INFINITY);
            self.hi[span].fill(f32::NEG_INFINITY);
        }
        let i = s * self.bins + now.rem_euclid(bins) as usize;
        let x = narrow(x);
        self.lo[i] = self.lo[i].min(x);
        self.hi[i] = self.hi[i].max(x);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HOUR: f64 = 3600.0;

    #[test]
    fn nothing_is_explained_before_a_day_is_remembered() {
        let mut r = Recurrence::new(1, 24);
        for h in 0..23 {
            let t = f64::from(h) * HOUR;
            assert_eq!(r.distance(t, 1.0), None, "hour {h}");
            r.learn(t, 1.0);
        }
        // At 23:00, 00:00 is 23 hours back: about a day ago, one bin early.
        assert_eq!(r.distance(23.0 * HOUR, 4.0), Some(3.0));
        r.learn(23.0 * HOUR, 1.0);
        // The next day: yesterday's same hour (and the hours either side) answer.
        assert_eq!(r.distance(DAY + 5.0 * HOUR, 1.0), Some(0.0));
        assert_eq!(r.distance(DAY + 5.0 * HOUR, 3.5), Some(2.5));
        assert_eq!(r.distance(DAY + 5.0 * HOUR, -1.0), Some(2.0));
    }

    #[test]
    fn about_this_time_is_the_bin_and_its_neighbours_on_remembered_days() {
        let mut r = Recurrence::new(1, 24);
        // Yesterday a spike at 03:20; otherwise 0.
        for m in (0..24 * 60).step_by(10) {
            let t = f64::from(m) * 60.0;
            r.learn(t, if m == 200 { 10.0 } else { 0.0 });
        }
        // Today at 04:10 (the next bin): yesterday's spike explains it; at 06:10 it does not.
        assert_eq!(r.distance(DAY + 250.0 * 60.0, 10.0), Some(0.0));
        assert_eq!(r.distance(DAY + 370.0 * 60.0, 10.0), Some(10.0));
        // Two days on, with one day remembered, yesterday (all zeros) is all there is.
        for m in (0..24 * 60).step_by(10) {
            r.learn(DAY + f64::from(m) * 60.0, 0.0);
        }
        assert_eq!(r.distance(2.0 * DAY + 200.0 * 60.0, 10.0), Some(10.0));
    }

    #[test]
    fn a_gap_of_days_forgets_and_sizes_are_bounded() {
        let mut r = Recurrence::new(2, 1000);
        assert!(r.consistent());
        assert_eq!(r.bins, BINS_MAX as usize);
        r.learn(0.0, 5.0);
        // A week later nothing remembered is from the last two days.
        assert_eq!(r.distance(7.0 * DAY, 5.0), None);
        let forged = Recurrence {
            lo: vec![],
            ..Recurrence::new(1, 24)
        };
        assert!(!forged.consistent());
        // Times before the epoch and far in the future (any finite time, however absurd) index
        // without overflowing.
        // (Release builds wrap on overflow instead of panicking, so the bound is checked
        // directly: the furthest step back from any index stays representable.)
        let back = (DAYS_MAX as i64 + 1) * BINS_MAX as i64 + 1;
        for t in [-1e12, 1e15, -1e300, 1e300, f64::MIN, f64::MAX] {
            assert!(r.index(t).checked_sub(back).is_some(), "{t}");
            assert!(r.index(t).checked_add(back).is_some(), "{t}");
            r.learn(t, 1.0);
            let _ = r.distance(t, 1.0);
        }
    }

    #[test]
    fn values_beyond_f32_are_kept_as_its_extremes_not_infinities() {
        let mut r = Recurrence::new(1, 24);
        r.learn(0.0, 1e100);
        r.learn(HOUR, -1e100);
        let top = f64::from(f32::MAX);
        // the same huge value the next day is routine; another huge value, as far as f32 tells
        assert_eq!(r.distance(DAY, 1e100), Some(0.0));
        assert_eq!(r.distance(DAY, 1e90), Some(0.0));
        // a small value is not explained by them: the distance is to the nearer extreme,
        // finite (an infinity kept at 00:00 would have made every value's distance 0 or NaN)
        let d = r.distance(DAY + 1.0, 0.0).unwrap();
        assert_eq!(d, top);
        assert!(r.distance(DAY, -1e100).unwrap() == 0.0);
        // from one extreme to the other: measured in f64, not overflowed to infinity
        let mut r = Recurrence::new(1, 24);
        r.learn(0.0, 1e100);
        assert_eq!(r.distance(DAY, -1e100), Some(2.0 * top));
    }
}
