//! Policy: what pitcrew may do, decided from data and nothing else. Pure: no clock, no I/O, no
//! async runtime (the architecture test holds it to that).
//!
//! - [`autonomy`]: the phases and, per action class, who decides (observe / approve / auto);
//! - [`playbook`]: the declarative rules (condition → action, verify, undo), built in and the
//!   operator's own;
//! - [`guardrails`]: the limits every action must pass, automated or approved;
//! - [`Remediation`]: one proposal and its lifecycle, with the decisions on it;
//! - [`OutcomeStats`]: success and failure per playbook and per model, used by the Evolution
//!   phase.
//!
//! What carries an action out is in [`crate::actuators`]; the engine applies the policy.

pub mod autonomy;
pub mod guardrails;
pub mod playbook;
mod remediation;

pub use remediation::*;
