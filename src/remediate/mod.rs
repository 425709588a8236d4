//! Remediation: turning diagnoses and forecasts into actions under guardrails.
//!
//! So far: the guardrails every action must pass, automated or approved ([`guardrails`]).
//! Playbooks, the proposal lifecycle and the actuators build on them.

pub mod guardrails;
