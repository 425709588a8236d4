//! The advisories of one ecosystem (PyPI) indexed by package, and the questions asked of
//! them: which advisories affect this version of this package, and which is the smallest
//! version, among those the advisory data knows, that none of them affects.
//!
//! Versions are compared as PEP 440 says (`pep440_rs`, the parser uv and ruff use): `1.0` is
//! `1.0.0`, a pre-release comes before its release (`1.24.3rc1` is inside a range fixed in
//! `1.24.3`), and a local version after its public one (`1.24.2+ubuntu1` is `1.24.2`
//! rebuilt: inside the range; a version listed as affected matches its local builds too).
//! A range's events are read as the OSV schema says: in version order, `introduced` opens,
//! `fixed` closes before itself, `last_affected` closes after itself.

use super::osv::{Record, SeverityVector};
use super::severity::Severity;
use pep440_rs::Version;
use pep508_rs::PackageName;
use std::collections::HashMap;
use std::str::FromStr;

/// An advisory as the index keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    /// Its id.
    pub id: String,
    /// Other ids (CVE first when there is one).
    pub aliases: Vec<String>,
    /// One line on it: the summary, else the first line of the details.
    pub title: String,
    /// Its severity, from its CVSS vector when it has one.
    pub severity: Severity,
    /// The CVSS base score, when a vector was given.
    pub score: Option<f64>,
    /// When it was published.
    pub published: Option<String>,
}

/// Which versions of one package one advisory affects.
#[derive(Debug, Clone)]
struct Span {
    advisory: u32,
    /// Each range's events in version order.
    ranges: Vec<Vec<(Version, Edge)>>,
    /// Versions listed one by one.
    versions: Vec<Version>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Introduced,
    Fixed,
    LastAffected,
}

impl Span {
    fn affects(&self, v: &Version) -> bool {
        self.listed(v) || self.ranges.iter().any(|events| in_range(events, v))
    }

    /// `v` is listed (`versions` is sorted), or its public version is and the listed one has
    /// no local part of its own.
    fn listed(&self, v: &Version) -> bool {
        if self.versions.binary_search(v).is_ok() {
            return true;
        }
        if !v.is_local() {
            return false;
        }
        let public = v.clone().without_local();
        self.versions
            .binary_search(&public)
            .is_ok_and(|i| !self.versions[i].is_local())
    }

    /// Versions this advisory names (where a range starts or ends, and those it lists; not
    /// the schema's `introduced: 0`, which names no version).
    fn known(&self) -> impl Iterator<Item = &Version> {
        self.ranges
            .iter()
            .flatten()
            .filter(|(v, edge)| !(*edge == Edge::Introduced && v.release().iter().all(|&x| x == 0)))
            .map(|(v, _)| v)
            .chain(&self.versions)
    }
}

/// The advisories of one package, with the versions they name in order and, for each of
/// those, which advisories affect it (worked out once, when the index is built).
#[derive(Debug, Default)]
struct PackageAdvisories {
    spans: Vec<Span>,
    /// Every version the advisories name, sorted, without repeats.
    known: Vec<Version>,
    /// `affects[s][k]`: span `s` affects `known[k]`.
    affects: Vec<Vec<bool>>,
    /// For each known version, the highest rank of the advisories affecting it (`None`:
    /// none does).
    worst: Vec<Option<Severity>>,
}

impl PackageAdvisories {
    fn finish(&mut self, advisories: &[Advisory]) {
        let mut known: Vec<Version> = self.spans.iter().flat_map(Span::known).cloned().collect();
        known.sort();
        known.dedup();
        self.affects = self
            .spans
            .iter()
            .map(|s| known.iter().map(|k| s.affects(k)).collect())
            .collect();
        self.worst = (0..known.len())
            .map(|k| {
                self.spans
                    .iter()
                    .zip(&self.affects)
                    .filter(|(_, a)| a[k])
                    .map(|(s, _)| advisories[s.advisory as usize].severity)
                    .reduce(|a, b| {
                        if b.ranks_at_least(a) && !a.ranks_at_least(b) {
                            b
                        } else {
                            a
                        }
                    })
            })
            .collect();
        self.known = known;
    }

    /// Position of the first known version above `v`.
    fn above(&self, v: &Version) -> usize {
        self.known.partition_point(|k| k <= v)
    }
}

/// `v` is affected by a range whose events are in version order.
fn in_range(events: &[(Version, Edge)], v: &Version) -> bool {
    let mut affected = false;
    for (at, edge) in events {
        match edge {
            Edge::Introduced if at <= v => affected = true,
            Edge::Fixed if at <= v => affected = false,
            Edge::LastAffected if at < v => affected = false,
            _ => break,
        }
    }
    affected
}

/// The advisories of one ecosystem, by package.
#[derive(Debug, Default)]
pub struct Index {
    advisories: Vec<Advisory>,
    by_package: HashMap<PackageName, PackageAdvisories>,
    /// Versions that did not parse, as `(advisory, version)`: left out of the ranges.
    pub skipped_versions: Vec<(String, String)>,
}

/// One advisory that affects a version.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    /// The advisory.
    pub advisory: &'a Advisory,
    /// The smallest version after the one asked about that this advisory does not affect,
    /// among those it names; `None` when it names no fix.
    pub fixed: Option<Version>,
}

impl Index {
    /// The index of the records' affected packages of `ecosystem` (`PyPI`). Withdrawn records
    /// are left out.
    pub fn build(records: &[Record], ecosystem: &str) -> Index {
        let mut index = Index::default();
        for r in records.iter().filter(|r| r.withdrawn.is_none()) {
            let mut spans: Vec<(PackageName, Span)> = Vec::new();
            let mut vectors: Vec<&SeverityVector> = r.severity.iter().collect();
            for a in &r.affected {
                if !a.package.ecosystem.eq_ignore_ascii_case(ecosystem) {
                    continue;
                }
                let Ok(name) = PackageName::from_str(&a.package.name) else {
                    index
                        .skipped_versions
                        .push((r.id.clone(), format!("package {}", a.package.name)));
                    continue;
                };
                vectors.extend(&a.severity);
                let mut parse = |s: &str| match Version::from_str(s) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        index.skipped_versions.push((r.id.clone(), s.to_string()));
                        None
                    }
                };
                let mut ranges = Vec::new();
                for range in a.ranges.iter().filter(|g| g.kind == "ECOSYSTEM") {
                    let mut events: Vec<(Version, Edge)> = Vec::new();
                    for e in &range.events {
                        let (text, edge) = match (&e.introduced, &e.fixed, &e.last_affected) {
                            (Some(t), ..) => (t, Edge::Introduced),
                            (_, Some(t), _) => (t, Edge::Fixed),
                            (.., Some(t)) => (t, Edge::LastAffected),
                            _ => continue,
                        };
                        // `0` is the schema's "from the first version"
                        let version = if text == "0" {
                            Some(Version::new([0]))
                        } else {
                            parse(text)
                        };
                        if let Some(v) = version {
                            events.push((v, edge));
                        }
                    }
                    events.sort_by(|a, b| a.0.cmp(&b.0));
                    ranges.push(events);
                }
                let mut versions: Vec<Version> =
                    a.versions.iter().filter_map(|s| parse(s)).collect();
                versions.sort();
                versions.dedup();
                spans.push((
                    name,
                    Span {
                        advisory: index.advisories.len() as u32,
                        ranges,
                        versions,
                    },
                ));
            }
            if spans.is_empty() {
                continue;
            }
            let (severity, score) = Severity::of_vectors(&vectors);
            let title = r
                .summary
                .clone()
                .or_else(|| {
                    r.details
                        .as_deref()
                        .and_then(|d| d.lines().next())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let mut aliases = r.aliases.clone();
            aliases.sort_by_key(|a| !a.starts_with("CVE-"));
            index.advisories.push(Advisory {
                id: r.id.clone(),
                aliases,
                title,
                severity,
                score,
                published: r.published.clone(),
            });
            for (name, span) in spans {
                index.by_package.entry(name).or_default().spans.push(span);
            }
        }
        for p in index.by_package.values_mut() {
            p.finish(&index.advisories);
        }
        index
    }

    /// Number of advisories kept.
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// True when no advisory was kept.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// Number of packages some advisory affects.
    pub fn packages(&self) -> usize {
        self.by_package.len()
    }

    /// The advisories that affect `version` of `package`, each with the smallest later
    /// version it names and does not affect.
    pub fn affecting(&self, package: &PackageName, version: &Version) -> Vec<Hit<'_>> {
        let Some(p) = self.by_package.get(package) else {
            return Vec::new();
        };
        let from = p.above(version);
        // a version the data names was matched when the index was built
        let named =
            (from > 0 && !version.is_local() && p.known[from - 1] == *version).then(|| from - 1);
        p.spans
            .iter()
            .zip(&p.affects)
            .filter(|(s, affects)| named.map_or_else(|| s.affects(version), |k| affects[k]))
            .map(|(s, affects)| Hit {
                advisory: &self.advisories[s.advisory as usize],
                fixed: (from..p.known.len())
                    .find(|&k| !affects[k])
                    .map(|k| p.known[k].clone()),
            })
            .collect()
    }

    /// The packages some advisory affects, in no particular order.
    pub fn package_names(&self) -> impl Iterator<Item = &PackageName> {
        self.by_package.keys()
    }

    /// Every version of `package` the advisory data names, in order.
    pub fn known_versions(&self, package: &PackageName) -> &[Version] {
        self.by_package.get(package).map_or(&[], |p| &p.known)
    }

    /// The smallest version after `version` (a release, or a pre-release only when `version`
    /// is one) that the advisory data names and that no advisory of `package` at or above
    /// `at_least` affects: the smallest upgrade that leaves no known advisory of that
    /// severity. `None` when the data names none.
    pub fn smallest_safe(
        &self,
        package: &PackageName,
        version: &Version,
        at_least: Severity,
    ) -> Option<Version> {
        let p = self.by_package.get(package)?;
        let pre = version.any_prerelease();
        (p.above(version)..p.known.len())
            .find(|&k| {
                (pre || !p.known[k].any_prerelease())
                    && p.worst[k].is_none_or(|w| !w.ranks_at_least(at_least))
            })
            .map(|k| p.known[k].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::osv::parse_record;

    fn index(yaml: &[&str]) -> Index {
        let records: Vec<Record> = yaml
            .iter()
            .map(|y| parse_record(y, false).expect("a valid test input"))
            .collect();
        Index::build(&records, "PyPI")
    }

    fn v(s: &str) -> Version {
        Version::from_str(s).expect("a valid test input")
    }

    fn pkg(s: &str) -> PackageName {
        PackageName::from_str(s).expect("a valid test input")
    }

    const RANGE: &str = "id: A\naffected:\n- package: {name: Demo_Pkg, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.2\"\n    - fixed: 1.4.1\n    - introduced: \"2.0\"\n    - last_affected: 2.1.0\n";

    #[test]
    fn ranges_open_at_introduced_and_close_at_fixed_or_after_last_affected() {
        let i = index(&[RANGE]);
        let p = pkg("demo-pkg");
        for (version, affected) in [
            ("1.1.9", false),
            ("1.2", true),
            ("1.2.0", true),
            ("1.4.1rc1", true),
            ("1.4.0+local.1", true),
            ("1.4.1", false),
            ("1.4.1+local", false),
            ("1.9", false),
            ("2.0a1", false),
            ("2.0", true),
            ("2.1.0", true),
            ("2.1.0.post1", false),
        ] {
            assert_eq!(
                !i.affecting(&p, &v(version)).is_empty(),
                affected,
                "{version}"
            );
        }
        let hit = &i.affecting(&p, &v("1.3"))[0];
        assert_eq!(hit.fixed, Some(v("1.4.1")));
        // past the last affected version the record names no fix
        assert_eq!(i.affecting(&p, &v("2.0.5"))[0].fixed, None);
    }

    #[test]
    fn listed_versions_match_their_local_builds_and_a_withdrawn_record_nothing() {
        let i = index(&[
            "id: B\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  versions: [\"1.0\"]\n",
            "id: C\nwithdrawn: \"2024-01-01T00:00:00Z\"\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  versions: [\"3.0\"]\n",
        ]);
        let p = pkg("demo");
        assert_eq!(i.affecting(&p, &v("1.0.0")).len(), 1);
        assert_eq!(i.affecting(&p, &v("1.0+build7")).len(), 1);
        assert!(i.affecting(&p, &v("1.0.1")).is_empty());
        assert!(i.affecting(&p, &v("3.0")).is_empty());
        assert_eq!(i.len(), 1);
    }

    #[test]
    fn the_smallest_safe_version_skips_what_another_advisory_affects() {
        let i = index(&[
            RANGE,
            "id: D\naffected:\n- package: {name: demo-pkg, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.4\"\n    - fixed: \"1.5\"\n",
        ]);
        let p = pkg("demo-pkg");
        assert_eq!(
            i.smallest_safe(&p, &v("1.3"), Severity::Low),
            Some(v("1.5"))
        );
        assert_eq!(
            i.smallest_safe(&pkg("other"), &v("1.3"), Severity::Low),
            None
        );
    }
}
