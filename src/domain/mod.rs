//! The vocabulary every layer shares — engine, policy, edges and screens: the actions a
//! remediation carries out, the kinds of incident a fleet can be given, the root causes a diagnosis names, the signals watched
//! for every model, the known vulnerabilities of what it runs, and how a time is written for people. It imports nothing
//! of ours, so that none of those layers has to reach into another (the simulator, an
//! actuator) for a word.

mod action;
mod cause;
mod incident;
mod playback;
mod signal;
pub mod time;
mod vulnerability;

pub use action::Action;
pub use cause::Cause;
pub use incident::IncidentKind;
pub use playback::Playback;
pub use signal::Signal;
pub use vulnerability::{Bump, BumpKind, Deadlines, Scanner, Severity, Source, Vulnerability};
