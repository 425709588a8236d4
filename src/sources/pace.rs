//! Playing a past window in wall time: the clock that turns wall time into the window's time across
//! pauses and speed changes.

use crate::domain::Playback;
use std::time::Instant;

/// The window's time as wall time passes: continuous across pauses and speed changes.
#[derive(Debug, Clone)]
pub(crate) struct PacedClock {
    /// Window time at `at`.
    t: f64,
    at: Instant,
    speed: f64,
    paused: bool,
    range: (f64, f64),
}

impl PacedClock {
    /// Start at `t`, playing at `speed` (clamped to `range`; 1 when not finite).
    pub fn new(t: f64, speed: f64, range: (f64, f64)) -> PacedClock {
        PacedClock {
            t,
            at: Instant::now(),
            speed: clamp_speed(speed, range),
            paused: false,
            range,
        }
    }

    /// The window's time now.
    pub fn now(&self) -> f64 {
        if self.paused {
            self.t
        } else {
            self.t + self.at.elapsed().as_secs_f64() * self.speed
        }
    }

    /// Speed.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Paused.
    pub(crate) fn paused(&self) -> bool {
        self.paused
    }

    /// Apply a control (pause and speed; a past window has no events to step through);
    /// true when it changed anything.
    pub fn apply(&mut self, c: Playback) -> bool {
        let (speed, paused) = match c {
            Playback::Pause(p) => (self.speed, p),
            Playback::Speed(s) => (clamp_speed(s, self.range), self.paused),
            Playback::Step(_) | Playback::Mark(_) | Playback::Seek(_) => return false,
        };
        if speed == self.speed && paused == self.paused {
            return false;
        }
        self.t = self.now();
        self.at = Instant::now();
        self.speed = speed;
        self.paused = paused;
        true
    }

    /// Wall seconds until the window reaches `target` (infinite while paused).
    pub(crate) fn wall_until(&self, target: f64) -> f64 {
        if self.paused {
            f64::INFINITY
        } else {
            ((target - self.now()) / self.speed).max(0.0)
        }
    }
}

fn clamp_speed(s: f64, (lo, hi): (f64, f64)) -> f64 {
    if s.is_finite() { s.clamp(lo, hi) } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_stops_when_paused_and_stays_continuous_across_speed_changes() {
        let mut c = PacedClock::new(1000.0, 10.0, (0.1, 1000.0));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(c.now() > 1000.0);
        assert!(c.apply(Playback::Pause(true)));
        let frozen = c.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(c.now(), frozen);
        assert!(c.wall_until(frozen + 1.0).is_infinite());
        assert!(
            !c.apply(Playback::Pause(true)),
            "pausing twice changes nothing"
        );
        assert!(c.apply(Playback::Speed(5000.0)));
        assert_eq!(c.speed(), 1000.0, "clamped to the range");
        assert_eq!(
            c.now(),
            frozen,
            "a speed change does not move a paused clock"
        );
        assert!(c.apply(Playback::Pause(false)));
        assert!(c.now() >= frozen);
        assert!((c.wall_until(c.now() + 1000.0) - 1.0).abs() < 0.05);
        assert_eq!(PacedClock::new(0.0, f64::NAN, (0.1, 10.0)).speed(), 1.0);
    }
}
