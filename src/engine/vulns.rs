//! Known vulnerabilities of what each model runs ([`Event::Findings`](super::Event)): kept per
//! model with when each was first seen, logged when one opens or closes, listed for the
//! screens. A finding is the same one while its advisory, package and source (the requirements,
//! or one container's image) are: a new scan that still finds it keeps its first-seen time (the
//! age its deadline counts from). Each scanner's findings are replaced only by its own scans.

use super::Engine;
use super::snapshot::{LogKind, Status};
use crate::domain::{Deadlines, Scanner, Severity, Vulnerability};
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
    /// Its business priority, 1 (highest) to 5.
    pub priority: u8,
    /// What is open.
    pub open: Arc<Vec<OpenVuln>>,
}

/// One finding in the queue: the model's key and priority, and the finding.
pub type Queued<'a> = (&'a str, u8, &'a OpenVuln);

/// Seconds left before a finding's deadline under `deadlines` at `now` (negative: overdue);
/// none for a severity without one.
pub fn time_left(o: &OpenVuln, deadlines: &Deadlines, now: f64) -> Option<f64> {
    deadlines.of(o.found.severity).map(|d| o.since + d - now)
}

/// Every open finding in the order they are to be dealt with: the deadline first (the
/// soonest, overdue ones before all), then the model's priority (findings of one scan share
/// their deadline), then severity; findings without a deadline last.
pub fn queue<'a>(vulns: &'a [ModelVulns], deadlines: &Deadlines, now: f64) -> Vec<Queued<'a>> {
    let mut v: Vec<Queued> = vulns
        .iter()
        .flat_map(|m| m.open.iter().map(move |o| (m.key.as_str(), m.priority, o)))
        .collect();
    let order = |s: Severity| Severity::ORDER.iter().position(|o| *o == s);
    v.sort_by(|a, b| {
        let (la, lb) = (
            time_left(a.2, deadlines, now),
            time_left(b.2, deadlines, now),
        );
        la.is_none()
            .cmp(&lb.is_none())
            .then(la.unwrap_or(0.0).total_cmp(&lb.unwrap_or(0.0)))
            .then(a.1.cmp(&b.1))
            .then(order(a.2.found.severity).cmp(&order(b.2.found.severity)))
            .then(a.0.cmp(b.0))
    });
    v
}

/// The most severe of a list, by the order findings are listed in (unknown after high).
pub fn worst(open: &[OpenVuln]) -> Option<Severity> {
    Severity::ORDER
        .into_iter()
        .find(|s| open.iter().any(|o| o.found.severity == *s))
}

fn same(a: &Vulnerability, b: &Vulnerability) -> bool {
    a.advisory == b.advisory && a.package == b.package && a.source == b.source
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
    let image = match &v.source {
        crate::domain::Source::Requirements => String::new(),
        crate::domain::Source::Image { image, .. } => format!(" (image {image})"),
    };
    format!(
        "{}{cve} in {} {}{image}: {}, {fix}",
        v.advisory, v.package, v.installed, v.severity
    )
}

impl Engine {
    /// A scan's findings for one model replace what that scanner found before: new ones are
    /// logged as found, those no longer found as gone; other scanners' findings stay.
    pub(super) fn findings(
        &mut self,
        t: f64,
        key: &str,
        scanner: Scanner,
        found: Vec<Vulnerability>,
        bumps: Vec<crate::domain::Bump>,
    ) {
        let Some(&i) = self.index.get(key) else {
            return;
        };
        let m = &mut self.models[i as usize];
        // this scanner's bumps replace its earlier ones; requirements first, then images
        m.bumps.retain(|b| b.source.scanner() != scanner);
        m.bumps
            .extend(bumps.into_iter().filter(|b| b.source.scanner() == scanner));
        m.bumps.sort_by_key(|b| b.source.scanner());
        let (old, kept): (Vec<OpenVuln>, Vec<OpenVuln>) = std::mem::take(&mut m.vulns)
            .iter()
            .cloned()
            .partition(|o| o.found.source.scanner() == scanner);
        let key = key.to_string();
        let mut open: Vec<OpenVuln> = kept;
        let mut opened = Vec::new();
        for v in found.into_iter().filter(|v| v.source.scanner() == scanner) {
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
    pub(crate) fn vulns(&self) -> Vec<ModelVulns> {
        self.models
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.vulns.is_empty())
            .map(|(i, m)| ModelVulns {
                model: i as u32,
                key: m.meta.key(),
                priority: m.meta.priority,
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
            source: crate::domain::Source::Requirements,
        }
    }

    #[test]
    fn a_finding_keeps_its_first_seen_time_and_opening_and_closing_are_logged() {
        let (_, mut e) = crate::harness::start(7, 3, 1.7e9, EngineConfig::default());
        let key = e.snapshot(None, 0).rows[1].meta.key();
        let found = |t: f64, list: Vec<Vulnerability>| Event::Findings {
            t,
            model: key.clone(),
            scanner: Scanner::Requirements,
            found: list,
            bumps: Vec::new(),
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
            scanner: Scanner::Requirements,
            found: vec![v("D", "x", Severity::High)],
            bumps: Vec::new(),
        });
        // the state survives a checkpoint
        let restored = e
            .checkpoint()
            .and_then(|c| Engine::restore(EngineConfig::default(), &c));
        let restored = restored.expect("checkpoint");
        assert_eq!(restored.snapshot(None, 0).vulns, s.vulns);
    }

    #[test]
    fn each_scanner_replaces_only_its_own_findings() {
        let (_, mut e) = crate::harness::start(7, 3, 1.7e9, EngineConfig::default());
        let key = e.snapshot(None, 0).rows[0].meta.key();
        let image = |id: &str, container: &str| Vulnerability {
            source: crate::domain::Source::Image {
                container: container.into(),
                image: "ghcr.io/m:1".into(),
            },
            ..v(id, "libssl3", Severity::Critical)
        };
        let apply = |e: &mut Engine, t: f64, scanner: Scanner, found: Vec<Vulnerability>| {
            e.apply(Event::Findings {
                t,
                model: key.clone(),
                scanner,
                found,
                bumps: Vec::new(),
            })
        };
        apply(
            &mut e,
            1.7e9 + 1.0,
            Scanner::Requirements,
            vec![v("A", "pillow", Severity::High)],
        );
        // the same CVE in two containers is two findings
        apply(
            &mut e,
            1.7e9 + 2.0,
            Scanner::Images,
            vec![image("CVE-1", "server"), image("CVE-1", "proxy")],
        );
        let open = |e: &Engine| -> Vec<String> {
            e.snapshot(None, 0).vulns[0]
                .open
                .iter()
                .map(|o| format!("{} {:?}", o.found.advisory, o.found.source))
                .collect()
        };
        assert_eq!(open(&e).len(), 3, "{:?}", open(&e));
        // a requirements scan that finds nothing leaves the images' findings open
        apply(&mut e, 1.7e9 + 3.0, Scanner::Requirements, Vec::new());
        let left = open(&e);
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(
            left.iter().all(|l| l.starts_with("CVE-1 Image")),
            "{left:?}"
        );
        // an images scan keeps what it still finds (with its first-seen time)
        apply(
            &mut e,
            1.7e9 + 4.0,
            Scanner::Images,
            vec![image("CVE-1", "proxy")],
        );
        let s = e.snapshot(None, 0);
        assert_eq!(s.vulns[0].open.len(), 1);
        assert_eq!(s.vulns[0].open[0].since, 1.7e9 + 2.0);
        assert_eq!(s.rows[0].vuln, Some(Severity::Critical));
    }

    #[test]
    fn the_queue_goes_by_deadline_then_priority_then_severity() {
        let open = |id: &str, sev: Severity, since: f64| OpenVuln {
            found: v(id, "p", sev),
            since,
        };
        let model = |key: &str, priority: u8, open: Vec<OpenVuln>| ModelVulns {
            model: 0,
            key: key.into(),
            priority,
            open: Arc::new(open),
        };
        let d = Deadlines::default();
        let day = 86_400.0;
        let vulns = vec![
            // low priority, critical found now: 24 h left
            model("a/low", 5, vec![open("C1", Severity::Critical, 10.0 * day)]),
            // high priority, the same critical in the same scan: first of the two
            model("a/top", 1, vec![open("C2", Severity::Critical, 10.0 * day)]),
            // a high finding 6.5 days old: 12 h left, before both
            model("a/mid", 3, vec![open("H1", Severity::High, 3.5 * day)]),
            // a medium one 31 days old: overdue, first of all
            model("a/old", 4, vec![open("M1", Severity::Medium, -21.0 * day)]),
            // none: no deadline, last
            model("a/zero", 1, vec![open("Z", Severity::None, 10.0 * day)]),
        ];
        let ids: Vec<&str> = queue(&vulns, &d, 10.0 * day)
            .iter()
            .map(|q| q.2.found.advisory.as_str())
            .collect();
        assert_eq!(ids, vec!["M1", "H1", "C2", "C1", "Z"]);
        // a policy that gives high findings two weeks puts H1 after the criticals
        let long = Deadlines {
            high: 14.0 * day,
            ..d
        };
        let ids: Vec<&str> = queue(&vulns, &long, 10.0 * day)
            .iter()
            .map(|q| q.2.found.advisory.as_str())
            .collect();
        assert_eq!(ids, vec!["M1", "C2", "C1", "H1", "Z"]);
    }
}
