//! `[security]`: where the advisories that `pitcrew scan`, the console and the agent match
//! models' dependencies against come from, and how long a finding may stay open.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where advisories come from. With no `[security]` section, the real advisories that ship
/// with the simulated fleet are used (they cover only its pins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// A directory of OSV records, read recursively (YAML or JSON): a checkout of the PyPA
    /// advisory database, or an OSV export of the PyPI ecosystem. A relative path is taken
    /// from the working directory.
    #[serde(default)]
    pub advisories: Option<PathBuf>,
    /// An OSV API to ask instead (`https://api.osv.dev`, or a mirror that speaks it): every
    /// advisory of each package the models require is fetched when they are scanned.
    #[serde(default)]
    pub osv_api: Option<String>,
    /// How long a finding may stay open, hours, by severity (`[security.deadline_hours]`);
    /// a severity left out keeps its default (critical 24, high 168, medium 720, low 2160).
    #[serde(default)]
    pub deadline_hours: DeadlineHours,
    /// The severity a patch is proposed at: a dependency bump pins the smallest version that
    /// leaves no advisory at or above it (`low`, the default: every finding with a fix;
    /// `medium`, `high` or `critical` leave what ranks below alone).
    #[serde(default = "default_patch_at")]
    pub patch_at: crate::domain::Severity,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            advisories: None,
            osv_api: None,
            deadline_hours: DeadlineHours::default(),
            patch_at: default_patch_at(),
        }
    }
}

fn default_patch_at() -> crate::domain::Severity {
    crate::domain::Severity::Low
}

impl SecurityConfig {
    /// What is wrong with `patch_at`: only the four severities a finding is ranked by.
    pub fn patch_at_problem(&self) -> Option<String> {
        use crate::domain::Severity::{Critical, High, Low, Medium};
        (!matches!(self.patch_at, Low | Medium | High | Critical)).then(|| {
            format!(
                "security.patch_at = \"{}\": give low, medium, high or critical",
                self.patch_at.name()
            )
        })
    }
}

/// `[security.deadline_hours]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineHours {
    /// Critical findings.
    #[serde(default)]
    pub critical: Option<f64>,
    /// High ones (and unknown, held to the same).
    #[serde(default)]
    pub high: Option<f64>,
    /// Medium ones.
    #[serde(default)]
    pub medium: Option<f64>,
    /// Low ones.
    #[serde(default)]
    pub low: Option<f64>,
}

impl DeadlineHours {
    /// The policy these hours make, or what is wrong with them: each a positive number of
    /// hours, and a more severe finding's deadline never later than a less severe one's.
    pub fn policy(&self) -> Result<crate::domain::Deadlines, String> {
        let d = crate::domain::Deadlines::default();
        let pick = |name: &str, v: Option<f64>, default: f64| -> Result<f64, String> {
            match v {
                None => Ok(default),
                Some(h) if h.is_finite() && h > 0.0 => Ok(h * 3600.0),
                Some(h) => Err(format!(
                    "security.deadline_hours.{name} = {h}: give a positive number of hours"
                )),
            }
        };
        let p = crate::domain::Deadlines {
            critical: pick("critical", self.critical, d.critical)?,
            high: pick("high", self.high, d.high)?,
            medium: pick("medium", self.medium, d.medium)?,
            low: pick("low", self.low, d.low)?,
        };
        if !(p.critical <= p.high && p.high <= p.medium && p.medium <= p.low) {
            return Err(format!(
                "security.deadline_hours: a more severe finding may not have longer than a less severe one (critical {} h, high {} h, medium {} h, low {} h)",
                p.critical / 3600.0,
                p.high / 3600.0,
                p.medium / 3600.0,
                p.low / 3600.0
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_hours_default_override_and_refuse() {
        let none = DeadlineHours::default().policy().expect("defaults");
        assert_eq!(none, crate::domain::Deadlines::default());
        let some = DeadlineHours {
            critical: Some(12.0),
            high: Some(72.0),
            ..DeadlineHours::default()
        }
        .policy()
        .expect("valid");
        assert_eq!((some.critical, some.high), (12.0 * 3600.0, 72.0 * 3600.0));
        assert_eq!(some.low, none.low);
        for bad in [Some(0.0), Some(-1.0), Some(f64::NAN), Some(f64::INFINITY)] {
            let e = DeadlineHours {
                high: bad,
                ..DeadlineHours::default()
            }
            .policy()
            .expect_err("refused");
            assert!(e.contains("deadline_hours.high"), "{e}");
        }
        let e = DeadlineHours {
            critical: Some(200.0),
            ..DeadlineHours::default()
        }
        .policy()
        .expect_err("critical after high");
        assert!(e.contains("more severe"), "{e}");
    }
}
