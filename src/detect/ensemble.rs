//! The ensemble: runs every detector on a series, calibrates each detector's evidence against its
//! own history, combines them into one score in `[0, 1]` and explains it.

use super::calibrate::Calibrator;
use super::changepoint::Cusum;
use super::level::RobustLevel;
use super::novelty::Novelty;
use super::recurrence::Recurrence;
use super::seasonal::{DAY, Seasonal};
use super::{DetectorKind, Direction, Evidence, Explanation, Scored, clamp_value};

/// Tunables of the ensemble. The defaults are meant to be used as they are: every quantity is in
/// samples or in the series' own units of surprise, so nothing depends on the series' scale.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectConfig {
    /// Samples before any score is emitted (scores are 0 during warm-up).
    pub warmup: u32,
    /// Time constant of the fast level, in samples.
    pub level_span: u32,
    /// Time constant of the scales, in samples.
    pub scale_span: u32,
    /// Memory of the calibration histograms, in samples.
    pub calibration_span: u32,
    /// Rarity (as `1/p`) that maps to a score of 1.
    pub full_scale_rarity: f64,
    /// After an alarm, samples during which weaker alarms are suppressed.
    pub suppress_span: u32,
    /// Score from which a sample counts as an alarm for suppression.
    pub alarm_level: f64,
    /// Factor applied to a suppressed score.
    pub suppress_factor: f64,
    /// Weight of the newest sample in the short-term average of surprise (1 = no averaging).
    pub smoothing: f64,
    /// Which detectors take part: level, seasonal, change point, novelty.
    pub enabled: [bool; 4],
    /// Combine detectors by summing their surprises (Fisher) rather than taking the largest.
    pub fisher: bool,
    /// Within `suppress_span` of an alarm, a later alarm escapes suppression only if its score
    /// beats the (decaying) score of that alarm by this margin. In rarity: 0.3 asks the later one
    /// to be about 30 times rarer (`1e5^0.3`) — a stronger sample of the same incident is
    /// not a second page. Picked after scoring 0.2, 0.3, 0.5 and 1 on the benchmark's files; a
    /// leave-one-category-out grid fixed afterwards (0.05, 0.1, 0.2, 0.3, 0.5) agrees, every
    /// fold choosing 0.3 (`examples/detect_sensitivity.rs --nested`; README, detection).
    pub suppress_margin: f64,
    /// Resolution: every detector's sigma is at least this fraction of the series' long-run
    /// range (its extremes over about `calibration_span` samples). Deviations finer than that are
    /// not meaningful, whatever the recent noise (a flat stretch must not turn the next routine
    /// blip into a record).
    pub range_floor: f64,
    /// Days remembered by time of day ([`Recurrence`]): a value seen at about this time (this
    /// bin of the day or the next one either side) on one of them is routine, and each
    /// detector's deviation counts only as far as it goes beyond what that time of day held
    /// (0: none remembered). Defaulted to none when read from a checkpoint written before the
    /// memory existed: the ensemble goes on as it was.
    #[serde(default)]
    pub recurrence_days: u32,
    /// Bins a day is cut into for that memory (never finer than the sampling interval; 0: no
    /// memory).
    #[serde(default)]
    pub recurrence_bins: u32,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            warmup: 32,
            level_span: 16,
            scale_span: 256,
            calibration_span: 4096,
            full_scale_rarity: 1e5,
            suppress_span: 128,
            alarm_level: 0.4,
            suppress_factor: 0.3,
            smoothing: 1.0,
            fisher: false,
            suppress_margin: 0.3,
            range_floor: 0.04,
            recurrence_days: 2,
            recurrence_bins: 24,
            enabled: [true, true, true, false],
        }
    }
}

/// Sampling clock: keeps time monotone and estimates the sampling interval robustly.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Clock {
    first: Option<f64>,
    last: f64,
    dt: Option<f64>,
    steps: u32,
}

impl Clock {
    fn tick(&mut self, t: f64) -> f64 {
        let Some(_) = self.first else {
            let t0 = if t.is_finite() { t } else { 0.0 };
            self.first = Some(t0);
            self.last = t0;
            return t0;
        };
        if !t.is_finite() || t <= self.last {
            return self.last;
        }
        let d = t - self.last;
        self.dt = Some(match self.dt {
            None => d,
            Some(dt) => dt + 0.05 * (d.clamp(dt * 0.25, dt * 4.0) - dt),
        });
        self.steps = self.steps.saturating_add(1);
        self.last = t;
        t
    }
}

/// Long-run range of the values: the extremes, relaxing towards each other with time constant
/// `span` samples when not renewed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Range {
    hi: f64,
    lo: f64,
    n: u32,
}

impl Range {
    fn learn(&mut self, x: f64, span: u32) {
        if self.n == 0 {
            self.hi = x;
            self.lo = x;
        } else {
            let shrink = (self.hi - self.lo) / f64::from(span.max(1));
            self.hi = (self.hi - shrink).max(x);
            self.lo = (self.lo + shrink).min(x);
        }
        self.n = self.n.saturating_add(1);
    }

    fn width(&self) -> f64 {
        self.hi - self.lo
    }
}

/// Re-expresses evidence with its sigma raised to at least `floor`.
fn floored(e: Evidence, floor: f64) -> Evidence {
    if floor.is_nan() || e.sigma >= floor {
        return e;
    }
    Evidence {
        z: e.z * (e.sigma / floor),
        sigma: floor,
        ..e
    }
}

/// One series' detectors and calibration. See the module documentation of [`crate::detect`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ensemble {
    cfg: DetectConfig,
    clock: Clock,
    n: u32,
    level: RobustLevel,
    slow: RobustLevel,
    seasonal: Option<Seasonal>,
    cusum: Cusum,
    range: Range,
    /// Present only when the novelty detector is enabled (it holds an 8 KiB set).
    novelty: Option<Novelty>,
    cal: [Calibrator; 4],
    /// Calibration of the short-term average of the combined surprise.
    cal_avg: Calibrator,
    avg: f64,
    /// Score of the last alarm, and samples since it.
    last_alarm: f64,
    since_alarm: u32,
    /// The time-of-day memory, from the moment the sampling interval is known (when enabled and
    /// the series has at least [`RECURRENCE_MIN_PER_DAY`] samples a day). Last, and defaulted:
    /// checkpoints are encoded by position, and one written before the memory existed reads
    /// back without it (and, its configuration defaulted to none, goes on without it).
    #[serde(default)]
    recurrence: Option<Recurrence>,
}

impl Default for Ensemble {
    fn default() -> Self {
        Self::new()
    }
}

/// Number of samples (with a known interval) needed before the seasonal profiles are sized.
const CLOCK_WARMUP: u32 = 8;
/// Fewest samples a day for which the time-of-day memory is kept: below it a bin and the bins
/// either side of it cover more than half a day.
const RECURRENCE_MIN_PER_DAY: u32 = 6;

impl Ensemble {
    /// Its parts can be indexed as they say (an ensemble read back from a checkpoint, which
    /// may have been damaged or forged: refused, rather than a panic at its next sample).
    pub(crate) fn consistent(&self) -> bool {
        self.seasonal.as_ref().is_none_or(Seasonal::consistent)
            && self.novelty.as_ref().is_none_or(Novelty::consistent)
            && self.recurrence.as_ref().is_none_or(Recurrence::consistent)
    }

    /// Give it a seasonal detector whose profile has no bins (as a forged checkpoint could).
    #[cfg(test)]
    pub(crate) fn break_for_test(&mut self) {
        self.seasonal = Some(Seasonal::broken_for_test());
    }

    /// An ensemble with default configuration.
    pub fn new() -> Self {
        Self::with_config(DetectConfig::default())
    }

    /// An ensemble with the given configuration.
    pub(crate) fn with_config(cfg: DetectConfig) -> Self {
        let novelty = cfg.enabled[3].then(Novelty::new);
        Self {
            level: RobustLevel::new(cfg.level_span, cfg.scale_span),
            slow: RobustLevel::new(cfg.scale_span, cfg.scale_span),
            cfg,
            clock: Clock {
                first: None,
                last: 0.0,
                dt: None,
                steps: 0,
            },
            n: 0,
            seasonal: None,
            cusum: Cusum::default(),
            range: Range {
                hi: 0.0,
                lo: 0.0,
                n: 0,
            },
            novelty,
            recurrence: None,
            cal: [
                Calibrator::new(),
                Calibrator::new(),
                Calibrator::new(),
                Calibrator::new(),
            ],
            cal_avg: Calibrator::new(),
            avg: 0.0,
            last_alarm: 0.0,
            since_alarm: u32::MAX,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &DetectConfig {
        &self.cfg
    }

    /// The estimated sampling interval in seconds, once known.
    pub fn interval(&self) -> Option<f64> {
        self.clock.dt
    }

    /// The seasonal period in use, in seconds, if any.
    pub fn period(&self) -> Option<f64> {
        self.seasonal.as_ref().and_then(Seasonal::period)
    }

    /// Bytes of state held for this series (including heap allocations).
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .cal
                .iter()
                .chain([&self.cal_avg])
                .map(Calibrator::heap_bytes)
                .sum::<usize>()
            + self.seasonal.as_ref().map_or(0, Seasonal::state_bytes)
            + self
                .novelty
                .as_ref()
                .map_or(0, |n| n.state_bytes() - std::mem::size_of::<Novelty>())
            + self
                .recurrence
                .as_ref()
                .map_or(0, |r| r.state_bytes() - std::mem::size_of::<Recurrence>())
    }

    /// Scores `value` observed at `t_unix_secs`, then learns it. See the module documentation for
    /// the behaviour on NaN, infinities and out-of-order timestamps.
    pub fn update(&mut self, t_unix_secs: f64, value: f64) -> Scored {
        let t = self.clock.tick(t_unix_secs);
        if !value.is_finite() {
            return Scored::default();
        }
        let x = clamp_value(value);
        if self.seasonal.is_none()
            && self.clock.steps >= CLOCK_WARMUP
            && let (Some(dt), Some(t0)) = (self.clock.dt, self.clock.first)
        {
            self.seasonal = Some(Seasonal::new(t0, dt));
            // No finer than the sampling: a bin must be able to hold a sample. With fewer than
            // a few samples a day, a bin and its neighbours span most of the day and "about
            // this time" would mean "today": no memory then.
            let per_day = (DAY / dt.max(1e-3)).round().clamp(1.0, f64::from(u32::MAX)) as u32;
            if self.cfg.recurrence_days > 0
                && self.cfg.recurrence_bins > 0
                && per_day >= RECURRENCE_MIN_PER_DAY
            {
                self.recurrence = Some(Recurrence::new(
                    self.cfg.recurrence_days,
                    self.cfg.recurrence_bins.min(per_day),
                ));
            }
        }

        // Evidence against the state before this sample.
        let floor = self.cfg.range_floor * self.range.width();
        let lev = self.level.evidence(x).map(|e| floored(e, floor));
        let sea = self
            .seasonal
            .as_ref()
            .and_then(|s| s.evidence(t, x))
            .map(|e| floored(e, floor));
        let slow = self.slow.evidence(x).map(|e| floored(e, floor));
        let primary = sea.or(lev);
        // A deviation counts only as far as it goes beyond what this time of day held on the
        // remembered days.
        let rec = self.recurrence.as_ref().and_then(|r| r.distance(t, x));
        let explained = |e: Evidence| match rec {
            Some(d) => e.z.abs().min(d / e.sigma),
            None => e.z.abs(),
        };
        // The change point keeps the plain deviation: a shift that repeats yesterday's is still a shift.
        let cus = primary.map_or(0.0, |e| self.cusum.update(e.z));
        let q = Novelty::quantise(slow.map_or(0.0, |e| e.z));
        let nov = self.novelty.as_ref().map_or(0.0, |n| n.evidence(q));

        // Each detector's statistic as it is (what its calibration learns: how surprised this
        // detector usually is on this series) and as the time of day leaves it (what is judged).
        let raw = [
            lev.map_or(0.0, |e| e.z.abs()),
            sea.map_or(0.0, |e| e.z.abs()),
            cus.abs() / self.cusum.threshold() * 4.0,
            nov * 4.0,
        ];
        let stats = [
            lev.map_or(0.0, explained),
            sea.map_or(0.0, explained),
            cus.abs() / self.cusum.threshold() * 4.0,
            nov * 4.0,
        ];
        // The least tail probability each detector's statistic may be given: the change point
        // is never rarer than ordinary noise of the believed size would make it
        // ([`Cusum::tail_bound`]), so a CUSUM that seldom rises on this series does not make
        // its first small rise a record; the others have no such bound.
        let floor_p = [0.0, 0.0, self.cusum.tail_bound(cus), 0.0];
        let mut active = [
            lev.is_some(),
            sea.is_some(),
            primary.is_some(),
            slow.is_some() && self.novelty.is_some(),
        ];
        for (a, e) in active.iter_mut().zip(self.cfg.enabled) {
            *a &= e;
        }
        let mut best: Option<(usize, f64)> = None;
        let mut n_active = 0.0;
        let mut fisher = 0.0;
        for i in 0..4 {
            if !active[i] || self.cal[i].n < self.cfg.warmup {
                continue;
            }
            n_active += 1.0;
            let p = self.cal[i].tail(stats[i]).max(floor_p[i]);
            fisher -= p.ln();
            if best.is_none_or(|(_, bp)| p < bp) {
                best = Some((i, p));
            }
        }
        // Combined surprise (in nats), then its short-term average judged against its own history.
        let surprise = match best {
            None => 0.0,
            Some(_) if self.cfg.fisher => fisher,
            Some((_, p)) => -(p * n_active).min(1.0).ln(),
        };
        self.avg += self.cfg.smoothing * (surprise - self.avg);
        let avg_p = self.cal_avg.tail(self.avg);
        let use_avg = self.cfg.smoothing < 1.0 || self.cfg.fisher;
        if self.n >= self.cfg.warmup {
            self.cal_avg.learn(self.avg, self.cfg.calibration_span);
        }

        let mut out = Scored::default();
        if let Some(e) = primary {
            out.expected = Some(e.expected);
            out.band = Some((e.expected - 3.0 * e.sigma, e.expected + 3.0 * e.sigma));
        }
        if self.n >= self.cfg.warmup
            && let Some((i, p)) = best
        {
            let p = if use_avg && self.cal_avg.n >= self.cfg.warmup {
                avg_p
            } else {
                (p * n_active).min(1.0)
            };
            let rarity = -p.ln() / self.cfg.full_scale_rarity.ln();
            let mut score = rarity.clamp(0.0, 1.0);
            // Suppression of the weaker alarms that follow an alarm.
            if self.since_alarm < self.cfg.suppress_span {
                let frac = f64::from(self.since_alarm) / f64::from(self.cfg.suppress_span);
                let reference = self.last_alarm * (1.0 - frac);
                if score <= reference + self.cfg.suppress_margin {
                    score *= self.cfg.suppress_factor;
                }
            }
            if score >= self.cfg.alarm_level {
                self.last_alarm = score;
                self.since_alarm = 0;
            }
            out.score = score;
            if score >= Scored::NOTABLE {
                out.explanation = Some(self.explain(i, x, lev, sea, primary, cus, nov));
            }
        }
        self.since_alarm = self.since_alarm.saturating_add(1);

        // Learn.
        for (i, c) in self.cal.iter_mut().enumerate() {
            if active[i] {
                c.learn(raw[i], self.cfg.calibration_span);
            }
        }
        let plain = lev.map(|e| e.expected);
        if let Some(s) = self.seasonal.as_mut() {
            s.learn(t, x, plain);
        }
        self.level.learn(x);
        self.slow.learn(x);
        self.range.learn(x, self.cfg.calibration_span);
        if let Some(r) = self.recurrence.as_mut() {
            r.learn(t, x);
        }
        if let Some(n) = self.novelty.as_mut() {
            n.learn(q);
        }
        self.n = self.n.saturating_add(1);
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn explain(
        &self,
        which: usize,
        x: f64,
        lev: Option<Evidence>,
        sea: Option<Evidence>,
        primary: Option<Evidence>,
        cus: f64,
        nov: f64,
    ) -> Explanation {
        let (detector, ev) = match which {
            0 => (DetectorKind::Level, lev),
            1 => (DetectorKind::Seasonal, sea),
            2 => (DetectorKind::ChangePoint, primary),
            _ => (DetectorKind::Novelty, primary),
        };
        let ev = ev.unwrap_or(Evidence {
            expected: x,
            z: 0.0,
            sigma: 0.0,
        });
        let deviation = match which {
            2 => cus,
            3 if ev.z == 0.0 => nov,
            _ => ev.z,
        };
        Explanation {
            detector,
            expected: ev.expected,
            observed: x,
            deviation,
            direction: if x >= ev.expected {
                Direction::Up
            } else {
                Direction::Down
            },
            period_secs: if sea.is_some() { self.period() } else { None },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn series(n: usize, seed: u64) -> Vec<(f64, f64)> {
        let mut rng = seed;
        (0..n)
            .map(|i| {
                rng = rng
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let noise = (rng >> 40) as f64 / (1u64 << 24) as f64;
                let t = 1.4e9 + i as f64 * 300.0;
                (
                    t,
                    50.0 + 10.0 * (t / 86_400.0 * std::f64::consts::TAU).sin() + noise,
                )
            })
            .collect()
    }

    #[test]
    fn scores_are_in_unit_interval_and_spike_is_flagged() {
        let mut e = Ensemble::new();
        let s = series(3000, 3);
        for &(t, x) in &s[..2999] {
            let r = e.update(t, x);
            assert!((0.0..=1.0).contains(&r.score));
        }
        let (t, x) = s[2999];
        let r = e.update(t, x + 200.0);
        assert!(r.score > 0.7, "{r:?}");
        let ex = r.explanation.unwrap();
        assert_eq!(ex.direction, Direction::Up);
        assert!(ex.deviation > 5.0, "{ex}");
        assert!(r.band.is_some() && r.expected.is_some());
    }

    #[test]
    fn finds_daily_period() {
        let mut e = Ensemble::new();
        for (t, x) in series(5 * 288, 9) {
            e.update(t, x);
        }
        assert_eq!(e.period(), Some(86_400.0));
        assert!((e.interval().unwrap() - 300.0).abs() < 1.0);
    }

    /// Uniform noise in `[-0.5, 0.5)` from a xorshift state.
    fn uniform(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    /// A spike at the same time every day keeps alarming the level detector without the
    /// time-of-day memory and is routine to it with the memory; a larger spike at a new time of
    /// day alarms either way. (One of the routine size at a new time is judged as before the
    /// memory: against how often spikes of that size come, about daily here.)
    #[test]
    fn a_daily_spike_becomes_routine_and_a_new_one_does_not() {
        let run = |cfg: DetectConfig| {
            let mut e = Ensemble::with_config(cfg);
            let (mut routine, mut new_spike) = (0.0_f64, 0.0);
            let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
            for i in 0..(12 * 288) {
                let noise = uniform(&mut rng);
                let t = 1.7e9 + f64::from(i) * 300.0;
                let (bin, day) = (i % 288, i / 288);
                let x = if bin == 40 {
                    30.0 + f64::from(day % 3) * 0.2
                } else if day == 11 && bin == 150 {
                    45.0
                } else {
                    10.0 + noise
                };
                let s = e.update(t, x).score;
                if bin == 40 && day >= 2 {
                    routine = routine.max(s);
                }
                if day == 11 && bin == 150 {
                    new_spike = s;
                }
            }
            (routine, new_spike)
        };
        let level_only = DetectConfig {
            enabled: [true, false, false, false],
            ..DetectConfig::default()
        };
        let (routine, new_spike) = run(level_only.clone());
        assert!(routine < 0.2, "the routine daily spike scored {routine}");
        assert!(new_spike > 0.6, "a spike at a new time scored {new_spike}");
        let (forgetful, _) = run(DetectConfig {
            recurrence_days: 0,
            ..level_only
        });
        assert!(
            forgetful > 0.4,
            "without the memory the daily spike scored {forgetful}"
        );
        let (_, new_spike) = run(DetectConfig::default());
        assert!(
            new_spike > 0.6,
            "a spike at a new time scored {new_spike} (all detectors)"
        );
    }

    /// The memory of the time of day does not explain away a day unlike its season: on a
    /// strongly daily series (half-hourly, a steep morning ramp), eight hours 20 % below the
    /// usual still score well above the quiet days before them — the evidence itself, measured
    /// with suppression off — and page once with it on.
    #[test]
    fn a_day_unlike_its_season_is_not_explained_away() {
        let run = |cfg: DetectConfig| {
            let mut e = Ensemble::with_config(cfg);
            let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
            let (mut dip, mut quiet) = (0.0_f64, 0.0_f64);
            for i in 0..(40 * 48) {
                let noise = uniform(&mut rng);
                let t = 1_699_920_000.0 + f64::from(i) * 1800.0;
                let hour = f64::from(i % 48) / 2.0;
                let shape = 1000.0
                    + 800.0
                        * ((hour - 6.0) / 24.0 * std::f64::consts::TAU)
                            .sin()
                            .max(-0.9);
                let (day, slot) = (i / 48, i % 48);
                let low = day == 35 && (14..30).contains(&slot);
                let s = e
                    .update(t, shape * if low { 0.8 } else { 1.0 } + 60.0 * noise)
                    .score;
                if low {
                    dip = dip.max(s);
                } else if (30..35).contains(&day) {
                    quiet = quiet.max(s);
                }
            }
            (dip, quiet)
        };
        let (dip, quiet) = run(DetectConfig {
            suppress_factor: 1.0,
            ..DetectConfig::default()
        });
        assert!(
            dip > 0.5 && dip > quiet + 0.2,
            "evidence: dip {dip}, quiet days {quiet}"
        );
        let cfg = DetectConfig::default();
        let level = cfg.alarm_level;
        let (dip, quiet) = run(cfg);
        assert!(
            dip >= level && dip > quiet + 0.2,
            "paged: dip {dip}, quiet days {quiet}"
        );
    }

    /// A checkpoint written before the time-of-day memory existed (no memory in the ensemble, no
    /// memory settings at the end of its configuration) reads back and goes on as it was.
    #[test]
    fn a_checkpoint_from_before_the_memory_reads_back() {
        let cfg = DetectConfig {
            recurrence_days: 0,
            recurrence_bins: 0,
            ..DetectConfig::default()
        };
        let mut e = Ensemble::with_config(cfg);
        let data = series(3000, 2);
        for &(t, x) in &data[..2000] {
            e.update(t, x);
        }
        let bytes = rmp_serde::to_vec(&e).unwrap();
        // The same state in the old layout: the last field of each removed.
        let mut v: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
        let fields = v.as_array_mut().unwrap();
        assert!(fields.pop().unwrap().is_null(), "the memory is last");
        let cfg = fields[0].as_array_mut().unwrap();
        assert_eq!(cfg.pop(), Some(0.into()));
        assert_eq!(cfg.pop(), Some(0.into()));
        let old = rmp_serde::to_vec(&v).unwrap();
        let mut back: Ensemble = rmp_serde::from_slice(&old).unwrap();
        assert!(back.consistent() && back.recurrence.is_none());
        assert_eq!(back.cfg, e.cfg);
        for &(t, x) in &data[2000..] {
            assert_eq!(back.update(t, x), e.update(t, x));
        }
    }

    /// The memory is kept only when a day holds enough samples for "about this time" to mean
    /// less than half of it, and not when asked for no bins.
    #[test]
    fn no_memory_for_sparse_series_or_no_bins() {
        let memory = |dt: f64, cfg: DetectConfig| {
            let mut e = Ensemble::with_config(cfg);
            for i in 0..40 {
                e.update(1e9 + f64::from(i) * dt, f64::from(i % 3));
            }
            e.recurrence.as_ref().map(|r| r.state_bytes())
        };
        let d = DetectConfig::default;
        assert!(memory(DAY / 6.0, d()).is_some());
        assert!(memory(DAY / 5.0, d()).is_none());
        assert!(memory(DAY, d()).is_none());
        let no_bins = DetectConfig {
            recurrence_bins: 0,
            ..d()
        };
        assert!(memory(300.0, no_bins).is_none());
        assert!(memory(300.0, d()).is_some());
    }

    #[test]
    fn state_is_bounded() {
        let mut e = Ensemble::new();
        for (t, x) in series(20_000, 1) {
            e.update(t, x);
        }
        assert!(e.state_bytes() < 64 * 1024, "{}", e.state_bytes());
        // Even with a 1-second interval and the novelty detector on.
        let cfg = DetectConfig {
            enabled: [true; 4],
            ..DetectConfig::default()
        };
        let mut e = Ensemble::with_config(cfg);
        for i in 0..5000 {
            e.update(f64::from(i), f64::from(i % 17));
        }
        assert!(e.state_bytes() < 64 * 1024, "{}", e.state_bytes());
    }

    /// Defined behaviour on hostile input: no panic, scores always in [0, 1]; a non-finite value
    /// scores 0 and changes nothing.
    #[test]
    fn hostile_input_is_handled() {
        let mut e = Ensemble::new();
        let mut t = 1e9;
        for i in 0..2000 {
            t += 60.0;
            let v = match i % 50 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => 1e308,
                4 => -1e308,
                5 => f64::MAX,
                _ => f64::from(i % 7),
            };
            let ts = match i % 37 {
                0 => f64::NAN,
                1 => t - 1e6,  // out of order
                2 => t - 60.0, // duplicate
                _ => t,
            };
            let r = e.update(ts, v);
            assert!((0.0..=1.0).contains(&r.score), "{r:?}");
            if !v.is_finite() {
                assert_eq!(r, Scored::default());
            }
            if let Some(x) = r.explanation {
                assert!(x.expected.is_finite() && x.deviation.is_finite());
                let _ = x.to_string();
            }
        }
        let before = e.clone();
        e.update(t + 60.0, f64::NAN);
        assert_eq!(before.n, e.n);
    }

    #[test]
    fn constant_series_scores_zero_then_flags_change() {
        let mut e = Ensemble::new();
        for i in 0..1000 {
            let r = e.update(f64::from(i) * 60.0, 42.0);
            assert_eq!(r.score, 0.0);
        }
        let r = e.update(1000.0 * 60.0, 43.0);
        assert!(r.score > 0.5, "{r:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Causality: the scores of a prefix equal the first scores of the whole series.
        #[test]
        fn detection_is_causal(
            values in prop::collection::vec(prop_oneof![
                8 => -1e3f64..1e3,
                1 => Just(f64::NAN),
                1 => Just(1e12),
            ], 50..600),
            dts in prop::collection::vec(prop_oneof![8 => Just(60.0f64), 1 => 0.0f64..600.0, 1 => -100.0f64..0.0], 600),
            cut in 0usize..600,
        ) {
            let mut t = 1.4e9;
            let pts: Vec<(f64, f64)> = values.iter().zip(&dts).map(|(&v, &d)| { t += d; (t, v) }).collect();
            let cut = cut.min(pts.len());
            let mut whole = Ensemble::new();
            let all: Vec<Scored> = pts.iter().map(|&(t, v)| whole.update(t, v)).collect();
            let mut prefix = Ensemble::new();
            for (i, &(t, v)) in pts[..cut].iter().enumerate() {
                prop_assert_eq!(&prefix.update(t, v), &all[i]);
            }
        }
    }
}
