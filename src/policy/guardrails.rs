//! Guardrails: checked for every action, automated or approved, and all reported (passed or
//! not) so that the console can show what was checked.
//!
//! - cooldown per model and action class;
//! - at most N actions per hour per model, and M fleet-wide;
//! - blast radius: the share of the fleet changed within a window;
//! - replica bounds for scaling;
//! - patches: how many roll at once;
//! - minimum traffic: no judgement of accuracy or latency on too few requests;
//! - no action on stale data.

use crate::policy::autonomy::ActionClass;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

/// Limits (TOML-deserialisable; every field has a default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Guardrails {
    /// Seconds between two actions of one class on one model.
    pub cooldown_secs: f64,
    /// Actions per hour on one model.
    pub max_per_model_per_hour: u32,
    /// Actions per hour on the whole fleet.
    pub max_fleet_per_hour: u32,
    /// Window of the blast radius, seconds.
    pub blast_window_secs: f64,
    /// Largest share of the fleet changed within the window (at least one model is allowed).
    pub max_blast_share: f64,
    /// Requests per second below which accuracy and latency are not judged.
    pub min_request_rate: f64,
    /// Oldest data an action may be based on, seconds.
    pub max_data_age_secs: f64,
    /// Patches pending, building or rolling out at once, fleet-wide (0: no patch is proposed).
    pub max_patches_at_once: u32,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            cooldown_secs: 900.0,
            max_per_model_per_hour: 3,
            max_fleet_per_hour: 10,
            blast_window_secs: 3600.0,
            max_blast_share: 0.2,
            min_request_rate: 1.0,
            max_data_age_secs: 60.0,
            max_patches_at_once: 2,
        }
    }
}

impl Guardrails {
    /// What is wrong with the limits (`[guardrails]` in the config): each time and share a
    /// finite number in its range. Each problem with the field it is about.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        [
            ("cooldown_secs", non_negative(self.cooldown_secs), "≥ 0"),
            ("blast_window_secs", positive(self.blast_window_secs), "> 0"),
            (
                "max_blast_share",
                positive(self.max_blast_share) && self.max_blast_share <= 1.0,
                "within (0, 1]",
            ),
            (
                "min_request_rate",
                non_negative(self.min_request_rate),
                "≥ 0",
            ),
            ("max_data_age_secs", positive(self.max_data_age_secs), "> 0"),
        ]
        .into_iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(field, _, range)| (field, format!("guardrails.{field} must be {range}")))
        .collect()
    }
}

/// An action about to be taken.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// `namespace/name`.
    pub model: String,
    /// Class.
    pub class: ActionClass,
    /// Replicas asked for (scaling).
    pub target_replicas: Option<u32>,
    /// The action rests on a judgement of accuracy or latency (needs enough traffic).
    pub judges_quality: bool,
}

/// What is known of the model and the fleet when the action is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facts {
    /// Lowest replicas allowed.
    pub min_replicas: u32,
    /// Highest replicas allowed; `None` when no maximum is configured for the model.
    pub max_replicas: Option<u32>,
    /// Requests per second now.
    pub request_rate: f64,
    /// Seconds since the newest data.
    pub data_age: f64,
    /// Models in the fleet.
    pub fleet_size: usize,
    /// Other patches building or rolling out now, fleet-wide.
    pub patches_rolling: u32,
}

/// One action taken.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LedgerEntry {
    /// When.
    pub t: f64,
    /// Model.
    pub model: String,
    /// Class.
    pub class: ActionClass,
}

/// The actions taken recently (enough for every window).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    entries: VecDeque<LedgerEntry>,
}

impl Ledger {
    /// Record an action that was taken, and forget what no window needs any more.
    pub fn record(&mut self, e: LedgerEntry, g: &Guardrails) {
        let keep = g.cooldown_secs.max(g.blast_window_secs).max(3600.0);
        let now = e.t;
        self.entries.push_back(e);
        while self.entries.front().is_some_and(|f| now - f.t > keep) {
            self.entries.pop_front();
        }
    }

    /// Entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &LedgerEntry> {
        self.entries.iter()
    }
}

/// One guard's verdict.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GuardCheck {
    /// Guard.
    pub name: &'static str,
    /// Passed.
    pub passed: bool,
    /// What was compared.
    pub detail: String,
}

/// Names of the guards, in the order they are checked.
pub(crate) const GUARD_NAMES: [&str; 8] = [
    "cooldown",
    "actions per hour (model)",
    "actions per hour (fleet)",
    "blast radius",
    "replica bounds",
    "patches at once",
    "minimum traffic",
    "fresh data",
];

/// A [`GuardCheck`] as read back (from an engine checkpoint), its name not yet the static one.
#[derive(serde::Deserialize)]
struct GuardCheckRead {
    name: String,
    passed: bool,
    detail: String,
}

impl<'de> serde::Deserialize<'de> for GuardCheck {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = GuardCheckRead::deserialize(d)?;
        let name = GUARD_NAMES
            .iter()
            .find(|n| **n == r.name)
            .copied()
            .ok_or_else(|| serde::de::Error::custom(format!("unknown guard {:?}", r.name)))?;
        Ok(GuardCheck {
            name,
            passed: r.passed,
            detail: r.detail,
        })
    }
}

/// True when every guard passed.
pub fn allowed(checks: &[GuardCheck]) -> bool {
    checks.iter().all(|c| c.passed)
}

/// Models the blast radius allows to be changed within the window.
pub fn blast_limit(g: &Guardrails, fleet_size: usize) -> usize {
    ((fleet_size as f64 * g.max_blast_share).floor() as usize).max(1)
}

/// Check an action against every guard.
pub fn check(
    g: &Guardrails,
    req: &ActionRequest,
    ledger: &Ledger,
    facts: &Facts,
    now: f64,
) -> Vec<GuardCheck> {
    let mut out = Vec::with_capacity(8);
    let last_same = ledger
        .entries()
        .filter(|e| e.model == req.model && e.class == req.class)
        .map(|e| e.t)
        .fold(f64::NEG_INFINITY, f64::max);
    let since = now - last_same;
    out.push(GuardCheck {
        name: "cooldown",
        passed: since >= g.cooldown_secs,
        detail: if last_same.is_finite() {
            format!(
                "last {} on this model {:.0} s ago (cooldown {:.0} s)",
                req.class.name(),
                since,
                g.cooldown_secs
            )
        } else {
            format!("no {} on this model recently", req.class.name())
        },
    });
    let hour = |e: &&LedgerEntry| now - e.t < 3600.0;
    let per_model = ledger
        .entries()
        .filter(hour)
        .filter(|e| e.model == req.model)
        .count();
    out.push(GuardCheck {
        name: "actions per hour (model)",
        passed: (per_model as u32) < g.max_per_model_per_hour,
        detail: format!(
            "{per_model} in the last hour (at most {})",
            g.max_per_model_per_hour
        ),
    });
    let fleet = ledger.entries().filter(hour).count();
    out.push(GuardCheck {
        name: "actions per hour (fleet)",
        passed: (fleet as u32) < g.max_fleet_per_hour,
        detail: format!(
            "{fleet} in the last hour (at most {})",
            g.max_fleet_per_hour
        ),
    });
    let mut touched: BTreeSet<&str> = ledger
        .entries()
        .filter(|e| now - e.t < g.blast_window_secs)
        .map(|e| e.model.as_str())
        .collect();
    touched.insert(req.model.as_str());
    let limit = blast_limit(g, facts.fleet_size);
    out.push(GuardCheck {
        name: "blast radius",
        passed: touched.len() <= limit,
        detail: format!(
            "{} of {} models changed within {:.0} min (at most {limit})",
            touched.len(),
            facts.fleet_size,
            g.blast_window_secs / 60.0
        ),
    });
    if let Some(r) = req.target_replicas {
        out.push(GuardCheck {
            name: "replica bounds",
            passed: r >= facts.min_replicas && facts.max_replicas.is_none_or(|max| r <= max),
            detail: match facts.max_replicas {
                Some(max) => format!("{r} replicas asked (bounds {}..={max})", facts.min_replicas),
                None => format!(
                    "{r} replicas asked (at least {}; no maximum configured)",
                    facts.min_replicas
                ),
            },
        });
    }
    if req.class == ActionClass::Patch {
        out.push(GuardCheck {
            name: "patches at once",
            passed: facts.patches_rolling < g.max_patches_at_once,
            detail: format!(
                "{} other patches building or rolling out (at most {} at once)",
                facts.patches_rolling, g.max_patches_at_once
            ),
        });
    }
    if req.judges_quality {
        out.push(GuardCheck {
            name: "minimum traffic",
            passed: facts.request_rate.is_finite() && facts.request_rate >= g.min_request_rate,
            detail: format!(
                "{:.2} req/s (accuracy and latency are judged from {:.2} req/s)",
                facts.request_rate, g.min_request_rate
            ),
        });
    }
    out.push(GuardCheck {
        name: "fresh data",
        passed: facts.data_age.is_finite() && facts.data_age <= g.max_data_age_secs,
        detail: format!(
            "newest data {:.0} s old (at most {:.0} s)",
            facts.data_age, g.max_data_age_secs
        ),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts() -> Facts {
        Facts {
            min_replicas: 1,
            max_replicas: Some(50),
            request_rate: 100.0,
            data_age: 5.0,
            fleet_size: 20,
            patches_rolling: 0,
        }
    }

    fn req(model: &str, class: ActionClass) -> ActionRequest {
        ActionRequest {
            model: model.into(),
            class,
            target_replicas: None,
            judges_quality: false,
        }
    }

    #[test]
    fn each_guard_blocks_what_it_should() {
        let g = Guardrails::default();
        let mut l = Ledger::default();
        let r = req("a/m", ActionClass::Restart);
        assert!(allowed(&check(&g, &r, &l, &facts(), 0.0)));
        l.record(
            LedgerEntry {
                t: 0.0,
                model: "a/m".into(),
                class: ActionClass::Restart,
            },
            &g,
        );
        let c = check(&g, &r, &l, &facts(), 60.0);
        assert!(!c.iter().find(|c| c.name == "cooldown").unwrap().passed);
        assert!(allowed(&check(
            &g,
            &req("a/m", ActionClass::Scale),
            &l,
            &facts(),
            60.0
        )));
        let mut stale = facts();
        stale.data_age = 600.0;
        assert!(!allowed(&check(
            &g,
            &req("b/x", ActionClass::Scale),
            &l,
            &stale,
            60.0
        )));
        let mut quiet = facts();
        quiet.request_rate = 0.1;
        let mut q = req("b/x", ActionClass::Rollback);
        q.judges_quality = true;
        assert!(!allowed(&check(&g, &q, &l, &quiet, 60.0)));
        let mut s = req("b/x", ActionClass::Scale);
        s.target_replicas = Some(500);
        assert!(!allowed(&check(&g, &s, &l, &facts(), 60.0)));
        assert_eq!(blast_limit(&g, 3), 1);
        assert_eq!(blast_limit(&g, 20), 4);
    }

    proptest! {
        /// No sequence of requests, recording only the allowed ones, ever exceeds a guardrail.
        #[test]
        fn no_sequence_exceeds_a_guardrail(
            steps in proptest::collection::vec((0usize..8, 0usize..5, 0.0f64..900.0, 0u32..80), 1..300)
        ) {
            let g = Guardrails::default();
            let f = facts();
            let mut l = Ledger::default();
            let mut t = 0.0;
            let mut taken: Vec<LedgerEntry> = Vec::new();
            for (m, c, dt, reps) in steps {
                t += dt;
                let class = ActionClass::ALL[c];
                let mut r = req(&format!("ns/m{m}"), class);
                if class == ActionClass::Scale {
                    r.target_replicas = Some(reps);
                }
                if allowed(&check(&g, &r, &l, &f, t)) {
                    if let Some(n) = r.target_replicas {
                        prop_assert!(n >= f.min_replicas && f.max_replicas.is_none_or(|max| n <= max));
                    }
                    let e = LedgerEntry { t, model: r.model.clone(), class };
                    l.record(e.clone(), &g);
                    taken.push(e);
                }
            }
            for (i, a) in taken.iter().enumerate() {
                let hour: Vec<&LedgerEntry> = taken[..=i].iter().filter(|e| a.t - e.t < 3600.0).collect();
                prop_assert!(hour.len() as u32 <= g.max_fleet_per_hour);
                prop_assert!(hour.iter().filter(|e| e.model == a.model).count() as u32 <= g.max_per_model_per_hour);
                let models: BTreeSet<&str> = taken[..=i].iter().filter(|e| a.t - e.t < g.blast_window_secs).map(|e| e.model.as_str()).collect();
                prop_assert!(models.len() <= blast_limit(&g, f.fleet_size));
                for b in &taken[..i] {
                    if b.model == a.model && b.class == a.class {
                        prop_assert!(a.t - b.t >= g.cooldown_secs);
                    }
                }
            }
        }
    }
}
