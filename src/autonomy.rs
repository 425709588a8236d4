//! Autonomy phases: how much pitcrew may do by itself.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The autonomy phase the console runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Observe only: detections and forecasts; proposals are shown as "would do".
    Foundation,
    /// Every action waits for a human.
    Augmentation,
    /// Well-known fixes run by themselves; others wait.
    Autonomy,
    /// Everything within guardrails runs; playbooks that stop working fall back to approval.
    Evolution,
}

impl Phase {
    /// Every phase in order.
    pub const ALL: [Phase; 4] = [
        Phase::Foundation,
        Phase::Augmentation,
        Phase::Autonomy,
        Phase::Evolution,
    ];

    /// Lower-case name (CLI, journal).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Foundation => "foundation",
            Phase::Augmentation => "augmentation",
            Phase::Autonomy => "autonomy",
            Phase::Evolution => "evolution",
        }
    }

    /// Parse a name (case-insensitive).
    pub fn from_name(s: &str) -> Option<Phase> {
        let s = s.to_ascii_lowercase();
        Phase::ALL.into_iter().find(|p| p.name() == s)
    }

    /// One line on what the phase allows.
    pub fn description(self) -> &'static str {
        match self {
            Phase::Foundation => "observe only: proposals are shown as \"would do\", nothing runs",
            Phase::Augmentation => "every action waits for a human to approve or veto it",
            Phase::Autonomy => "well-known fixes run by themselves, others wait for approval",
            Phase::Evolution => {
                "everything within guardrails runs; failing playbooks need approval"
            }
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.name();
        let mut c = n.chars();
        if let Some(first) = c.next() {
            write!(f, "{}{}", first.to_ascii_uppercase(), c.as_str())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Phase::ALL {
            assert_eq!(Phase::from_name(p.name()), Some(p));
            assert_eq!(Phase::from_name(&p.to_string()), Some(p));
        }
        assert_eq!(Phase::from_name("chaos"), None);
    }
}
