//! What the operator asks of the clock of what the console shows: the simulator's, a past
//! window's pace, a recording's player — one vocabulary and one channel from the screens, each
//! source doing what applies to it (stepping, marks and seeking only a recording does).

/// A playback control from the screens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Playback {
    /// Pause (true) or play.
    Pause(bool),
    /// Playback speed (the shown time's seconds per wall second).
    Speed(f64),
    /// One event forward (true) or back (a recording).
    Step(bool),
    /// To the next (true) or previous incident or decision, pausing there (a recording).
    Mark(bool),
    /// To a time, pausing there (a recording).
    Seek(f64),
}
