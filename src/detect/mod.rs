//! Streaming anomaly detection: causal detectors, an ensemble that turns their evidence into a
//! calibrated score in `[0, 1]`, NAB scoring, and the library side of `pitcrew detect` and
//! `pitcrew backtest detect`.
//!
//! # Method, and why
//!
//! Every series gets one [`Ensemble`]. Each call to [`Ensemble::update`] costs O(1) time and the
//! state is bounded (a few KiB, see [`Ensemble::state_bytes`]); the score of a sample depends only
//! on samples up to it (causality is property-tested).
//!
//! 1. **Robust deviation** ([`level::RobustLevel`]): an exponentially weighted location and mean
//!    absolute deviation, updated with Huber-style clipped residuals so that a spike does not drag
//!    the baseline. The observation is judged in *robust sigmas* against the previous state.
//! 2. **Seasonal baseline** ([`seasonal::Seasonal`]): additive Holt–Winters with the seasonal
//!    profile kept in *time-of-period bins* (so gaps and irregular timestamps land in the right
//!    slot). Daily and weekly profiles are learnt side by side and the period is chosen from the
//!    data: a profile is used only once it has seen two full periods and its one-step errors beat
//!    the non-seasonal baseline clearly. Otherwise the series is treated as non-seasonal.
//! 3. **Change point** ([`changepoint::Cusum`]): a two-sided CUSUM on the clipped, standardised
//!    residuals of the best baseline (seasonal if one is in use, else the level); it catches small
//!    sustained shifts that no single sample reveals, and resets after each alarm. Its tail
//!    probability is never taken below what ordinary noise of the believed size gives
//!    ([`changepoint::Cusum::tail_bound`], Lundberg's bound `2·exp(-2k·s)`): on a series whose
//!    residuals are small against their floored sigma the CUSUM seldom rises, and without the
//!    bound its first clipped spike or small drift was judged a record.
//! 4. **Context novelty** ([`novelty::Novelty`]): values are quantised against a robust running
//!    range and short sequences of levels are hashed into a bounded bit set; a sequence never seen
//!    before is evidence of a new behaviour (the idea behind contextual detectors such as CAD OSE).
//!    It is **off by default** ([`DetectConfig::enabled`]): on the development data it added false
//!    alarms more than detections.
//! 5. **Time of day** ([`recurrence::Recurrence`]): not a detector but an explanation. The last
//!    two days are remembered by hour of day (each hour's least and greatest value); a deviation
//!    counts only as far as it goes beyond what the same hour, or the hour either side, held on
//!    one of them. A nightly job's spike is judged the first time and is routine from the next
//!    night on; a spike at a new hour, or larger than the routine one, is not explained. The
//!    level and seasonal detectors' evidence is explained this way; the change point's is not (a
//!    shift that repeats yesterday's is still a shift). Each detector's calibration learns its
//!    plain evidence, so a small unexplained remainder is judged against the detector's usual
//!    noise, not against a history of explained zeros.
//!
//! The [`ensemble::Ensemble`] judges each detector's evidence against that detector's own
//! long-term distribution on this series (a decayed histogram: the idea behind Numenta's "anomaly
//! likelihood"), giving a tail probability `p`; beyond anything seen recently the tail is
//! extrapolated exponentially (peaks over threshold), so "far beyond the record" still ranks above
//! "just beyond it". The smallest `p` (Bonferroni-corrected) wins, and the score is its rarity
//! `-ln(p) / ln(1e5)` clamped to `[0, 1]`, so scores mean the same thing on every series, which matters because a single global
//! threshold is applied across series. After an alarm, the following alarms of the same incident
//! are suppressed unless they are clearly more extreme (by [`DetectConfig::suppress_margin`]):
//! one incident, one page.
//!
//! Every sigma has a *resolution floor*: a fraction ([`DetectConfig::range_floor`]) of the
//! series' long-run range (its extremes, relaxing over the calibration span). Without it, a series
//! that is flat between routine spikes has a scale shrinking towards zero, so each routine spike
//! sets a new record in sigmas and is judged rarer than anything before; with it, spikes of the
//! usual size look alike and become familiar. (Encoders of other streaming detectors have the
//! same kind of resolution: HTM's about 1/130 of the range, CAD OSE's 1/8.)
//!
//! Warm-up is counted in samples, so it adapts to the sampling interval; the sampling interval
//! itself is estimated robustly to size the seasonal bins.
//!
//! # Defined behaviour on bad input
//!
//! * NaN or infinite value: treated as missing; the score is 0, no state changes.
//! * Non-finite, duplicated or out-of-order timestamp: the sample is scored and learnt from, but
//!   time does not move backwards (it is placed at the last timestamp seen).
//! * Giant values: values are clamped to `±1e100` before any arithmetic, so nothing overflows.
//! * Constant series: the scale has a floor relative to the level (and an absolute floor), so the
//!   first change after a long flat line scores high but finitely.

pub mod backtest;
mod calibrate;
pub mod changepoint;
pub mod cli;
pub mod ensemble;
pub mod level;
pub mod nab;
pub mod novelty;
pub mod recurrence;
pub mod seasonal;

use std::fmt;

pub use backtest::{BacktestReport, backtest};
pub use cli::{DetectError, DetectSummary, detect_files, parse_timestamp};
pub use ensemble::{DetectConfig, Ensemble};

/// Values beyond this magnitude are clamped so that no arithmetic overflows.
pub(crate) const VALUE_LIMIT: f64 = 1e100;

/// Which detector is responsible for an explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DetectorKind {
    /// Robust deviation from the recent level.
    Level,
    /// Deviation from the seasonal (daily or weekly) profile.
    Seasonal,
    /// A sustained shift found by CUSUM.
    ChangePoint,
    /// A sequence of levels never seen before.
    Novelty,
}

impl fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DetectorKind::Level => "level",
            DetectorKind::Seasonal => "seasonal",
            DetectorKind::ChangePoint => "change-point",
            DetectorKind::Novelty => "novelty",
        })
    }
}

/// Direction of a deviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    /// Observed above expected.
    Up,
    /// Observed below expected.
    Down,
}

/// Why a sample scored as it did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Explanation {
    /// The detector with the strongest evidence.
    pub detector: DetectorKind,
    /// What that detector expected.
    pub expected: f64,
    /// What was observed.
    pub observed: f64,
    /// How far off, in robust sigmas (for change points: the CUSUM statistic in sigmas).
    pub deviation: f64,
    /// Whether the observation is above or below the expectation.
    pub direction: Direction,
    /// The seasonal period in use, in seconds, if any.
    pub period_secs: Option<f64>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.direction {
            Direction::Up => "above",
            Direction::Down => "below",
        };
        write!(
            f,
            "{}: observed {} vs expected {} ({:.1}σ {dir})",
            self.detector,
            fmt_num(self.observed),
            fmt_num(self.expected),
            self.deviation.abs()
        )?;
        if let Some(p) = self.period_secs {
            let label = if (p - 86_400.0).abs() < 1.0 {
                "daily".to_string()
            } else if (p - 604_800.0).abs() < 1.0 {
                "weekly".to_string()
            } else {
                format!("{p:.0}s")
            };
            write!(f, " [{label} profile]")?;
        }
        Ok(())
    }
}

fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else {
        format!("{x:.3}")
    }
}

/// The result of scoring one sample.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scored {
    /// Anomaly score in `[0, 1]`.
    pub score: f64,
    /// The baseline's expectation for this sample, once warmed up.
    pub expected: Option<f64>,
    /// Expected band (about ±3 robust sigmas) for charts, once warmed up.
    pub band: Option<(f64, f64)>,
    /// Present when the score is notable (≥ [`Scored::NOTABLE`]).
    pub explanation: Option<Explanation>,
}

impl Scored {
    /// Scores at or above this carry an explanation.
    pub(crate) const NOTABLE: f64 = 0.5;
}

/// Evidence of one detector for one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Expected value.
    pub expected: f64,
    /// Signed deviation in robust sigmas.
    pub z: f64,
    /// Robust sigma used.
    pub sigma: f64,
}

/// Clamps a finite value into `±VALUE_LIMIT`.
#[inline]
pub(crate) fn clamp_value(x: f64) -> f64 {
    x.clamp(-VALUE_LIMIT, VALUE_LIMIT)
}

/// Minimum scale for a level `m`: relative and absolute floors so constant series stay finite.
#[inline]
pub(crate) fn scale_floor(m: f64) -> f64 {
    (m.abs() * 1e-3).max(1e-9)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn explanation_displays_one_line() {
        let e = Explanation {
            detector: DetectorKind::Seasonal,
            expected: 10.0,
            observed: 25.0,
            deviation: 5.2,
            direction: Direction::Up,
            period_secs: Some(86_400.0),
        };
        let s = e.to_string();
        assert!(s.contains("seasonal"));
        assert!(s.contains("5.2σ above"));
        assert!(s.contains("daily"));
        assert!(!s.contains('\n'));
    }
}
