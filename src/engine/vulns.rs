//! Known vulnerabilities of what each model runs ([`Event::Findings`](super::Event)): kept per
//! model with when each was first seen, logged when one opens or closes, listed for the
//! screens. A finding is the same one while its advisory and package are: a new scan that
//! still finds it keeps its first-seen time (the age its deadline counts from).

use super::Engine;
use super::snapshot::{LogKind, Status};
use crate::domain::{Severity, Vulnerability};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One open vulnerability of a model, and since when it is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenVuln {
    /// What was found.
    pub found: Vulnerability,
    /// When it was first found (the source's clock).
    pub since: f64,
}

/// One model's open vulnerabilities, most severe first.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVulns {
    /// Model index.
    pub model: u32,
    /// Its key, `namespace/name`.
    pub key: String,
    /// What is open.
    pub open: Arc<Vec<OpenVuln>>,
}

/// The most severe of a list, by the order findings are listed in (unknown after high).
pub fn worst(open: &[OpenVuln]) -> Option<Severity> {
    Severity::ORDER
        .into_iter()
        .find(|s| open.iter().any(|o| o.found.severity == *s))
}

fn same(a: &Vulnerability, b: &Vulnerability) -> bool {
    a.advisory == b.advisory && a.package == b.package
}

fn describe(v: &Vulnerability) -> String {
    let cve = v
        .cve
        .as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let fix = v
        .fixed
        .as_deref()
        .map_or_else(|| "no fix known".to_string(), |f| format!("fixed in {f}"));
    format!(
        "{}{cve} in {} {}: {}, {fix}",
        v.advisory, v.package, v.installed, v.severity
    )
}

impl Engine {
    /// A scan's findings for one model replace what was open: new ones are logged as found,
    /// those no longer found as gone.
    pub(super) fn findings(&mut self, t: f64, key: &str, found: Vec<Vulnerability>) {
        let Some(&i) = self.index.get(key) else {
            return;
        };
        let m = &mut self.models[i as usize];
        let old = std::mem::take(&mut m.vulns);
        let key = key.to_string();
        let mut open: Vec<OpenVuln> = Vec::with_capacity(found.len());
        let mut opened = Vec::new();
        for v in found {
            if open.iter().any(|o| same(&o.found, &v)) {
                continue;
            }
            let since = match old.iter().find(|o| same(&o.found, &v)) {
                Some(o) => o.since,
                None => {
                    opened.push(v.clone());
                    t
                }
            };
            open.push(OpenVuln { found: v, since });
        }
        open.sort_by_key(|o| {
            (
                Severity::ORDER.iter().position(|s| *s == o.found.severity),
                o.found.package.clone(),
                o.found.advisory.clone(),
            )
        });
        let closed: Vec<Vulnerability> = old
            .iter()
            .filter(|o| !open.iter().any(|n| same(&n.found, &o.found)))
            .map(|o| o.found.clone())
            .collect();
        m.vulns = Arc::new(open);
        for v in opened {
            let status = if v.severity.ranks_at_least(Severity::High) {
                Status::Crit
            } else {
                Status::Warn
            };
            let text = format!("vulnerable: {}", describe(&v));
            self.push_log(t, LogKind::Vulnerability, Some(key.clone()), status, text);
        }
        for v in closed {
            let text = format!("no longer found: {} {} in {}", v.advisory, v.package, key);
            self.push_log(
                t,
                LogKind::Vulnerability,
                Some(key.clone()),
                Status::Ok,
                text,
            );
        }
    }

    /// Every model with an open vulnerability, in model order.
    pub(super) fn vulns(&self) -> Vec<ModelVulns> {
        self.models
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.vulns.is_empty())
            .map(|(i, m)| ModelVulns {
                model: i as u32,
                key: m.meta.key(),
                open: m.vulns.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineConfig, Event};

    fn v(advisory: &str, package: &str, severity: Severity) -> Vulnerability {
        Vulnerability {
            advisory: advisory.into(),
            cve: None,
            package: package.into(),
            installed: "1.0".into(),
            fixed: Some("1.1".into()),
            upgrade_to: Some("1.1".into()),
            severity,
            score: None,
            title: "t".into(),
        }
    }

    #[test]
    fn a_finding_keeps_its_first_seen_time_and_opening_and_closing_are_logged() {
        let (_, mut e) = crate::harness::start(7, 3, 1.7e9, EngineConfig::default());
        let key = e.snapshot(None, 0).rows[1].meta.key();
        let found = |t: f64, list: Vec<Vulnerability>| Event::Findings {
            t,
            model: key.clone(),
            found: list,
        };
        e.apply(found(
            1.7e9 + 10.0,
            vec![
                v("A", "pillow", Severity::Medium),
                v("B", "py", Severity::Critical),
            ],
        ));
        // a second scan: A still open (and named twice: once), B fixed, C new
        e.apply(found(
            1.7e9 + 500.0,
            vec![
                v("C", "numpy", Severity::Low),
                v("A", "pillow", Severity::Medium),
                v("A", "pillow", Severity::Medium),
            ],
        ));
        let s = e.snapshot(None, 100);
        assert_eq!(s.vulns.len(), 1);
        let open: Vec<(&str, f64)> = s.vulns[0]
            .open
            .iter()
            .map(|o| (o.found.advisory.as_str(), o.since))
            .collect();
        // most severe first; A since the first scan, C since the second
        assert_eq!(open, vec![("A", 1.7e9 + 10.0), ("C", 1.7e9 + 500.0)]);
        assert_eq!(s.rows[1].vuln, Some(Severity::Medium));
        assert_eq!(s.rows[0].vuln, None);
        let logged: Vec<(&str, Status)> = s
            .log
            .iter()
            .filter(|l| l.kind == LogKind::Vulnerability)
            .map(|l| (l.text.as_str(), l.status))
            .collect();
        assert_eq!(logged.len(), 4, "{logged:?}");
        assert!(logged[1].0.starts_with("vulnerable: B in py 1.0: critical"));
        assert_eq!(logged[1].1, Status::Crit);
        assert!(
            logged[3].0.starts_with("no longer found: B py"),
            "{logged:?}"
        );
        // a model the engine does not know is ignored, not a panic
        e.apply(Event::Findings {
            t: 1.7e9 + 600.0,
            model: "no/such-model".into(),
            found: vec![v("D", "x", Severity::High)],
        });
        // the state survives a checkpoint
        let restored = e
            .checkpoint()
            .and_then(|c| Engine::restore(EngineConfig::default(), &c));
        let restored = restored.expect("checkpoint");
        assert_eq!(restored.snapshot(None, 0).vulns, s.vulns);
    }
}
