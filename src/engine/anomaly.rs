//! Anomaly detection inside the engine: one detector ensemble per watched signal of a model,
//! the expected band for charts, and the recent anomalies of the model.

use crate::detect::{Direction, Ensemble};
use crate::domain::Signal;
use crate::fleet::{Acc, Sample};
use std::collections::VecDeque;

/// Signals with a detector (replicas change by decision, not by accident).
pub(crate) const WATCHED: [Signal; 5] = [
    Signal::RequestRate,
    Signal::LatencyP95,
    Signal::ErrorRate,
    Signal::Accuracy,
    Signal::Cpu,
];

/// Score at or above which a sample is an anomaly for the console. Measured on the quiet
/// simulated fleet (`cargo run --release --example sim_scores`): no alarm at 0.8 in 45
/// model-days, about 1.5 per signal and model-day at 0.7.
pub(crate) const ANOMALY_THRESHOLD: f64 = 0.8;

/// Detectors see one-minute means (or each sample, when samples are a minute or more apart):
/// it smooths scrape noise and costs a twelfth of per-sample detection at a 5 s step, for at most
/// a minute of extra delay.
pub(crate) const DETECT_STEP: f64 = 60.0;

/// One-minute means this many robust sigmas from the expected value are an anomaly whatever
/// the ensemble's (suppressed) score …
pub(crate) const PERSISTENT_SIGMAS: f64 = 6.0;
/// … for this many consecutive minutes.
pub(crate) const PERSISTENT_MINUTES: u8 = 2;

/// Anomalies kept per model.
const RECENT: usize = 64;

/// Is a move in this direction bad for this signal?
pub(crate) fn bad_direction(sig: Signal, up: bool) -> bool {
    match sig {
        Signal::RequestRate => true,
        Signal::LatencyP95 | Signal::ErrorRate | Signal::Cpu => up,
        Signal::Accuracy => !up,
        Signal::Replicas => false,
    }
}

pub use crate::diagnosis::Anomaly;

/// The detectors and recent anomalies of one model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Watch {
    dets: Vec<Ensemble>,
    acc: [Acc; WATCHED.len()],
    bucket: Option<i64>,
    band: [(f32, f32); Signal::COUNT],
    /// Most recent anomalies, oldest first.
    pub recent: VecDeque<Anomaly>,
    /// Latest score per signal (NaN for unwatched).
    pub scores: [f32; Signal::COUNT],
    far: [u8; WATCHED.len()],
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            dets: WATCHED.iter().map(|_| Ensemble::new()).collect(),
            acc: [Acc::default(); WATCHED.len()],
            bucket: None,
            band: [(f32::NAN, f32::NAN); Signal::COUNT],
            recent: VecDeque::new(),
            scores: [f32::NAN; Signal::COUNT],
            far: [0; WATCHED.len()],
        }
    }
}

impl Watch {
    /// Every detector can be indexed as it says (a watch read back from a checkpoint).
    pub(crate) fn consistent(&self) -> bool {
        self.dets.iter().all(Ensemble::consistent)
    }

    /// Break one detector as a forged checkpoint could.
    #[cfg(test)]
    pub(crate) fn break_for_test(&mut self) {
        if let Some(d) = self.dets.first_mut() {
            d.break_for_test();
        }
    }

    /// Take a sample; when it starts a new minute, the detectors score the minute before.
    /// Returns the current expected band per signal and the anomalies raised.
    pub(crate) fn observe(
        &mut self,
        t: f64,
        s: &Sample,
    ) -> ([(f32, f32); Signal::COUNT], Vec<Anomaly>) {
        let b = (t / DETECT_STEP).floor() as i64;
        let mut raised = Vec::new();
        match self.bucket {
            Some(cur) if cur != b => {
                let mut means = Sample::MISSING;
                for (acc, sig) in self.acc.iter_mut().zip(WATCHED) {
                    means.values[sig.index()] = acc.take();
                }
                raised = self.score((cur + 1) as f64 * DETECT_STEP, &means);
            }
            _ => {}
        }
        self.bucket = Some(b);
        for (acc, sig) in self.acc.iter_mut().zip(WATCHED) {
            acc.add(s.get(sig));
        }
        (self.band, raised)
    }

    fn score(&mut self, t: f64, s: &Sample) -> Vec<Anomaly> {
        let band = &mut self.band;
        let mut raised = Vec::new();
        for (k, (det, sig)) in self.dets.iter_mut().zip(WATCHED).enumerate() {
            let v = f64::from(s.get(sig));
            let sc = det.update(t, v);
            self.scores[sig.index()] = sc.score as f32;
            if let Some((lo, hi)) = sc.band {
                band[sig.index()] = (lo as f32, hi as f32);
            }
            if !v.is_finite() {
                continue;
            }
            // how far outside the expected band, in robust sigmas (the band is ±3σ)
            let sigmas = match (sc.expected, sc.band) {
                (Some(e), Some((lo, hi))) if hi > lo => (v - e) / ((hi - lo) / 6.0),
                _ => 0.0,
            };
            self.far[k] = if sigmas.abs() >= PERSISTENT_SIGMAS {
                self.far[k].saturating_add(1)
            } else {
                0
            };
            let a = match sc.explanation {
                Some(ex) if sc.score >= ANOMALY_THRESHOLD => Anomaly {
                    t,
                    signal: sig,
                    score: sc.score,
                    expected: ex.expected,
                    observed: ex.observed,
                    deviation: ex.deviation,
                    up: ex.direction == Direction::Up,
                    why: ex.to_string(),
                },
                // the ensemble calls an incident once (suppressing what follows, as NAB
                // rewards); the console also wants to know that a signal stays far off
                _ if self.far[k] >= PERSISTENT_MINUTES => Anomaly {
                    t,
                    signal: sig,
                    score: sc.score.max(ANOMALY_THRESHOLD),
                    expected: sc.expected.unwrap_or(f64::NAN),
                    observed: v,
                    deviation: sigmas,
                    up: sigmas > 0.0,
                    why: format!(
                        "still far off: observed {} vs expected {} ({:.1}σ {})",
                        sig.format(v),
                        sig.format(sc.expected.unwrap_or(f64::NAN)),
                        sigmas.abs(),
                        if sigmas > 0.0 { "above" } else { "below" }
                    ),
                },
                _ => continue,
            };
            if !bad_direction(sig, a.up) {
                continue;
            }
            self.recent.push_back(a.clone());
            while self.recent.len() > RECENT {
                self.recent.pop_front();
            }
            raised.push(a);
        }
        raised
    }

    /// The newest anomaly at or after `since` that is a symptom: more demand than usual is
    /// information (it explains other moves, and diagnosis uses it) but not, by itself, a
    /// sign that the model serves badly; a drop in demand is (clients failing upstream).
    ///
    /// An anomaly stops being a symptom once its signal is back inside the expected band
    /// (`now` holds the current smoothed values): what it flagged is over.
    pub(crate) fn latest_symptom_since(
        &self,
        since: f64,
        now: &[f32; Signal::COUNT],
    ) -> Option<&Anomaly> {
        self.recent
            .iter()
            .rev()
            .take_while(|a| a.t >= since)
            .find(|a| {
                let more_demand = a.signal == Signal::RequestRate && a.up;
                !(more_demand || self.back_in_band(a.signal, now))
            })
    }

    fn back_in_band(&self, sig: Signal, now: &[f32; Signal::COUNT]) -> bool {
        let (lo, hi) = self.band[sig.index()];
        let v = now[sig.index()];
        lo.is_finite() && hi.is_finite() && v.is_finite() && v >= lo && v <= hi
    }

    /// Approximate bytes of detector state.
    pub fn state_bytes(&self) -> usize {
        self.dets.iter().map(Ensemble::state_bytes).sum::<usize>()
            + self.recent.len() * std::mem::size_of::<Anomaly>()
    }
}
